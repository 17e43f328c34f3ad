"""The venue process of the crash-recovery test (tests/test_recovery_crash.py).

Run as `python -m tests.recovery_venue_server <kalshi public key PEM path> <seed>`: both simulated
venues on loopback in this process, so killing the trading process leaves them running with
whatever it sent. First line out: the URLs as JSON. Then one JSON answer per stdin line:

- `state`: the simulators' own records of our accounts (not the adapters' view): orders with
  their client ids, open flags and filled sizes, every fill of ours, positions and cash.
- `lose <kalshi|polymarket> <n>`: the next `n` order POSTs on that venue are processed and never
  answered (the ambiguous send).
- `clear`: drop scripted answer faults not yet used.
- `quiet` / `busy`: stop or restart the outside activity (takers hitting our resting orders).

While busy, an outside taker now and then hits one of our resting orders (a fill that arrives
while nobody may be listening), and the house ladders are refilled to their levels.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arb.domain import Action, BookSide, Side, TimeInForce
from arb.fixed import SCALE
from arb.venues.sim.faults import AnswerFault, FaultInjector
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.polymarket import PolymarketMarketSpec, PolymarketSimulator
from arb.venues.sim.spec import FeeScheduleSpec
from tests.recovery_venues import (
    KALSHI_ASKS,
    KALSHI_BIDS,
    KALSHI_EVENT,
    KALSHI_KEY_ID,
    KALSHI_SERIES,
    KALSHI_TICKERS,
    PM_BOOKS,
    PM_CONDITION,
    PM_CREDS,
    PM_FEE_RATE,
    PM_NO,
    PM_YES,
    STARTING_CASH_MICRO,
    wall_ms,
)


class Venues:
    def __init__(self, public_key: rsa.RSAPublicKey, seed: int) -> None:
        self.rng = random.Random(f"venue-activity:{seed}")
        self.kalshi_faults = FaultInjector()
        self.pm_faults = FaultInjector()
        self.kalshi = KalshiSimulator(faults=self.kalshi_faults, seed=seed, clock_ms=wall_ms)
        self.kalshi.add_account(KALSHI_KEY_ID, public_key, balance_micro_usd=STARTING_CASH_MICRO)
        self.kalshi.add_series(KALSHI_SERIES, "Recovery series", "quadratic", "1")
        self.kalshi.add_event(KALSHI_EVENT, KALSHI_SERIES, "Which one", mutually_exclusive=True)
        for ticker in KALSHI_TICKERS:
            self.kalshi.add_market(ticker, KALSHI_EVENT, yes_sub_title=ticker[-1])
        # fee-charging (takers pay 5% x P(1-P)): the ledger's cash must match the venue's fees too
        spec = PolymarketMarketSpec(
            PM_CONDITION, "Will recovery hold?", PM_YES, PM_NO, fee_schedule=FeeScheduleSpec(PM_FEE_RATE)
        )
        self.pm = PolymarketSimulator([spec], clock_ms=wall_ms, faults=self.pm_faults, seed=seed, participants=False)
        self.account = self.pm.add_account(
            PM_CREDS.api_key,
            PM_CREDS.api_secret,
            PM_CREDS.api_passphrase,
            PM_CREDS.signer_address,
            cash_micro=STARTING_CASH_MICRO,
        )
        self.busy = True

    async def start(self) -> dict[str, str]:
        await self.kalshi.start()
        await self.pm.start()
        self.refill()
        return {
            "kalshi_rest": self.kalshi.rest_base_url,
            "kalshi_ws": self.kalshi.ws_url,
            "pm_gamma": self.pm.gamma_url,
            "pm_clob": self.pm.clob_url,
            "pm_market_ws": self.pm.market_ws_url,
            "pm_user_ws": self.pm.user_ws_url,
        }

    def refill(self) -> None:
        for ticker in KALSHI_TICKERS:
            self.kalshi.set_book(ticker, KALSHI_BIDS, KALSHI_ASKS)
        for token, (bids, asks) in PM_BOOKS.items():
            self.pm.set_book(token, bids, asks)

    def hit_one_resting_order(self) -> None:
        resting = [m for m in self.kalshi.orders_of(KALSHI_KEY_ID) if m.order.is_open]
        if resting and self.rng.random() < 0.5:
            meta = self.rng.choice(resting)
            action = Action.SELL if meta.order.side is BookSide.BID else Action.BUY
            size = self.rng.randint(1, 2) * SCALE
            self.kalshi.submit(
                "outsider", meta.ticker, Side.YES, action, meta.order.price_micro_usd, size, TimeInForce.IOC
            )
            return
        pm_resting = [m for m in self.account.resting.values() if m.order is not None and m.order.is_open]
        if pm_resting:
            pm_meta = self.rng.choice(pm_resting)
            side = BookSide.ASK if pm_meta.side is BookSide.BID else BookSide.BID
            self.pm.take(pm_meta.token, side, pm_meta.price_micro, self.rng.randint(1, 3) * SCALE)

    async def activity(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            if not self.busy:
                continue
            if self.rng.random() < 0.3:
                self.hit_one_resting_order()
            self.refill()

    def state(self) -> dict[str, Any]:
        k_account = self.kalshi.accounts[KALSHI_KEY_ID]
        kalshi = {
            "orders": [
                {
                    "order_id": m.order.order_id,
                    "client_order_id": m.order.client_order_id,
                    "open": m.order.is_open,
                    "filled": m.order.filled_micro,
                }
                for m in self.kalshi.orders_of(KALSHI_KEY_ID)
            ],
            "fills": [
                {"fill_id": f["fill_id"], "order_id": f["order_id"], "count_fp": f["count_fp"]}
                for f in self.kalshi.fills_of(KALSHI_KEY_ID)
            ],
            "positions": {t: p.position_micro for t, p in k_account.positions.items() if p.position_micro},
            "cash_micro": k_account.cash_micro,
            "reserved_micro": k_account.reserved_micro,
        }
        ours = self.account.api_key
        pm_fills = []
        for trade in self.pm.trades.values():
            fill = trade.fill
            for owner, order_id in ((fill.taker_owner, fill.taker_order_id), (fill.maker_owner, fill.maker_order_id)):
                if owner == ours:
                    pm_fills.append(
                        {
                            "fill_id": f"{trade.trade_id}:{order_id}",
                            "order_id": order_id,
                            "size": fill.size_micro,
                            "status": trade.status,
                        }
                    )
        pm_orders = []
        for order_id, meta in self.account.orders.items():
            order = meta.order
            pm_orders.append(
                {
                    "order_id": order_id,
                    "open": True if order is None else order.is_open,
                    "filled": 0 if order is None else order.filled_micro,
                }
            )
        polymarket = {
            "orders": pm_orders,
            "fills": pm_fills,
            "positions": {t: n for t, n in self.account.positions.items() if n},
            "cash_micro": self.account.cash_micro,
            "reserved_micro": self.account.reserved_cash_micro,
        }
        return {"kalshi": kalshi, "polymarket": polymarket}

    def command(self, line: str) -> dict[str, Any]:
        words = line.split()
        if words == ["state"]:
            return self.state()
        if len(words) == 3 and words[0] == "lose":
            faults, prefix = (
                (self.kalshi_faults, "/trade-api/v2/portfolio/") if words[1] == "kalshi" else (self.pm_faults, "/order")
            )
            faults.lose_next_answers(AnswerFault.NO_ANSWER, int(words[2]), prefix)
            return {"ok": True}
        if words == ["clear"]:
            self.kalshi_faults.clear_scripted()
            self.pm_faults.clear_scripted()
            return {"ok": True}
        if words in (["quiet"], ["busy"]):
            self.busy = words == ["busy"]
            return {"ok": True}
        return {"error": f"unknown command {line!r}"}


async def main(key_path: str, seed: int) -> None:
    with open(key_path, "rb") as f:
        public_key = serialization.load_pem_public_key(f.read())
    assert isinstance(public_key, rsa.RSAPublicKey)
    venues = Venues(public_key, seed)
    urls = await venues.start()
    print(json.dumps(urls), flush=True)
    activity = asyncio.create_task(venues.activity())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := (await reader.readline()).decode():
            if line.strip() == "quit":
                break
            print(json.dumps(venues.command(line.strip())), flush=True)
    finally:
        activity.cancel()
        await venues.kalshi.close()
        await venues.pm.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
