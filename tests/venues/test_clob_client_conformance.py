"""The official py-clob-client-v2 (`ClobClient`, sync) against the simulated Polymarket over
loopback: its ordinary flows (create_and_post_order GTC/FOK/FAK buys and sells, a neg-risk market,
order book, tick size, neg risk, orders with filters, order, cancel, cancel all, trades with
filters, balance-allowance per asset) must be accepted, and every answer is checked field by field
against what the simulator's own records say. The simulator runs on its own event loop in a
background thread; the client calls it from the test thread, as a user's script would."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from eth_account import Account
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    ApiCreds,
    OpenOrderParams,
    OrderArgsV2,
    OrderType,
    TradeParams,
)
from websockets.sync.client import connect as ws_connect

from arb.fixed import SCALE
from arb.venues.sim.faults import FaultPlan
from arb.venues.sim.polymarket import PolymarketMarketSpec, PolymarketSimulator
from arb.venues.sim.spec import FeeScheduleSpec

T = TypeVar("T")
U = SCALE  # one share / one pUSD in 6-decimal units
NOW_MS = 1_767_225_600_000
KEY = "0x" + hashlib.sha256(b"arb clob-client conformance throwaway key").hexdigest()
ADDRESS = Account.from_key(KEY).address
CREDS = ApiCreds("api-key-conf", base64.urlsafe_b64encode(b"conformance-secret-32-bytes-long").decode(), "pass-conf")
PLAIN = PolymarketMarketSpec(
    "0x" + "d1" * 32,
    "Will the conformance market resolve Yes?",
    "8001",
    "8002",
    fee_schedule=FeeScheduleSpec("0.05", 1),
    gamma_id="501",
)
NEG_RISK = PolymarketMarketSpec(
    "0x" + "d2" * 32,
    "Will candidate A win?",
    "8101",
    "8102",
    tick_micro=1_000,
    neg_risk=True,
    event_id="conformance-event",
    group_item_title="Candidate A",
    gamma_id="502",
)
START_CASH = 1_000 * U
START_NO = 100 * U  # NO tokens of the plain market, to sell


class Venue:
    """The simulator on an event loop in a daemon thread; `do(fn)` runs `fn` on that loop (every
    touch of simulator state goes through it, so the test thread never races the servers)."""

    def __init__(self, sim: PolymarketSimulator) -> None:
        self.sim = sim
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="polymarket-sim", daemon=True)
        self.thread.start()
        self.run(sim.start())

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def do(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()

        result: T = self.run(call())
        return result

    def close(self) -> None:
        self.run(self.sim.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class Setup:
    venue: Venue
    client: ClobClient

    @property
    def sim(self) -> PolymarketSimulator:
        return self.venue.sim

    def record(self, order_id: str) -> dict[str, Any]:
        """The simulator's own view of an account order (its `/data/order` body, built from its
        records, not from the wire)."""
        return self.venue.do(lambda: self.sim.meta_json(self.sim._metas[order_id]))


@contextmanager
def venue(plan: FaultPlan | None = None) -> Iterator[Setup]:
    sim = PolymarketSimulator([PLAIN, NEG_RISK], participants=False, seed=7, clock_ms=lambda: NOW_MS, faults=plan)
    sim.add_account(
        CREDS.api_key,
        CREDS.api_secret,
        CREDS.api_passphrase,
        ADDRESS,
        cash_micro=START_CASH,
        positions={PLAIN.no_token: START_NO},
    )
    v = Venue(sim)
    try:
        # House liquidity: YES asks 0.55 x 20 and 0.56 x 30, YES bids 0.45 x 20 and 0.44 x 40;
        # NO bids 0.40 x 50; the neg-risk YES book around 0.300-0.310 on its 0.001 tick.
        v.do(
            lambda: sim.set_book(
                PLAIN.yes_token, [(450_000, 20 * U), (440_000, 40 * U)], [(550_000, 20 * U), (560_000, 30 * U)]
            )
        )
        v.do(lambda: sim.set_book(PLAIN.no_token, [(400_000, 50 * U)], []))
        v.do(lambda: sim.set_book(NEG_RISK.yes_token, [(300_000, 25 * U)], [(310_000, 25 * U)]))
        client = ClobClient(sim.clob_url, 137, key=KEY, creds=CREDS, signature_type=0)
        yield Setup(v, client)
    finally:
        v.close()


def amount(text: str) -> int:
    return int(Decimal(text) * U)


# -- simulator findings (combined faults) -----------------------------------------------------------


def test_fak_acknowledged_live_is_found_by_get_order_at_once() -> None:
    """A venue can always look up an order it acknowledged: a FAK answered "live" (matched later)
    is LIVE to GET /data/order (and listed by /data/orders) until it matches, then MATCHED."""
    with venue(FaultPlan(ack_then_fill=True)) as s:
        answer = s.client.create_and_post_order(
            OrderArgsV2(token_id=PLAIN.yes_token, price=0.55, size=10, side="BUY"), order_type=OrderType.FAK
        )
        assert answer["success"] and answer["status"] == "live"
        order_id = answer["orderID"]
        found = s.client.get_order(order_id)
        assert found == s.record(order_id)
        assert (found["id"], found["status"], found["size_matched"], found["original_size"]) == (
            order_id,
            "LIVE",
            "0",
            "10",
        )
        assert (found["order_type"], found["side"], found["price"], found["asset_id"]) == (
            "FAK",
            "BUY",
            "0.55",
            PLAIN.yes_token,
        )
        assert [o["id"] for o in s.client.get_open_orders(OpenOrderParams(id=order_id))] == [order_id]
        assert s.venue.do(s.sim.release_delayed) == 1
        matched = s.client.get_order(order_id)
        assert (matched["status"], matched["size_matched"]) == ("MATCHED", "10")
        assert len(matched["associate_trades"]) == 1


def test_self_match_trades_and_reports_our_maker_leg() -> None:
    """Our FAK buy crosses our own resting sell: the venue matches them (no self-trade prevention
    on the CLOB) and reports one trade seen from the taker side whose `maker_orders` carries our
    own resting order, in /data/trades and on the user channel; the ledger nets to zero."""
    with venue() as s:
        s.venue.do(lambda: s.sim.set_book(PLAIN.no_token, [], []))
        sell = s.client.create_and_post_order(OrderArgsV2(token_id=PLAIN.no_token, price=0.42, size=10, side="SELL"))
        assert sell["status"] == "live"
        with ws_connect(s.sim.user_ws_url, open_timeout=5) as ws:
            ws.send(
                json.dumps(
                    {
                        "auth": {
                            "apiKey": CREDS.api_key,
                            "secret": CREDS.api_secret,
                            "passphrase": CREDS.api_passphrase,
                        },
                        "type": "user",
                    }
                )
            )
            buy = s.client.create_and_post_order(
                OrderArgsV2(token_id=PLAIN.no_token, price=0.42, size=6, side="BUY"), order_type=OrderType.FAK
            )
            assert (buy["status"], buy["takingAmount"], buy["makingAmount"]) == ("matched", "6", "2.52")
            events: list[dict[str, Any]] = []
            while not any(e.get("event_type") == "trade" for e in events):
                events.append(json.loads(ws.recv(timeout=5)))
        (trade,) = s.client.get_trades(TradeParams(asset_id=PLAIN.no_token))
        (event,) = [e for e in events if e.get("event_type") == "trade"]
        for seen in (trade, event):
            assert (seen["taker_order_id"], seen["trader_side"], seen["side"], seen["size"], seen["price"]) == (
                buy["orderID"],
                "TAKER",
                "BUY",
                "6",
                "0.42",
            )
            (maker,) = seen["maker_orders"]
            assert (maker["order_id"], maker["owner"], maker["maker_address"], maker["side"]) == (
                sell["orderID"],
                CREDS.api_key,
                ADDRESS,
                "SELL",
            )
            assert (maker["matched_amount"], maker["price"], maker["asset_id"]) == ("6", "0.42", PLAIN.no_token)
        assert trade["id"] == event["id"] and event["owner"] == CREDS.api_key
        assert s.client.get_order(sell["orderID"])["size_matched"] == "6"
        account = s.sim.accounts[CREDS.api_key]
        assert account.positions == {PLAIN.no_token: START_NO}  # bought 6 from ourselves
        fee = Decimal(6) * Decimal("0.05") * Decimal("0.42") * Decimal("0.58")  # the taker's, 5 decimals
        assert account.cash_micro == START_CASH - int(fee * U)  # paid 2.52 to ourselves, and the fee
        assert account.reserved_tokens[PLAIN.no_token] == 4 * U  # the sell's unfilled 4 stay reserved
