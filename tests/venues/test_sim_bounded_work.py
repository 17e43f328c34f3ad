"""No work per order or per message grows with history in the simulated venues.

Counted, not timed: `lines_run` counts the Python lines the simulator's own modules execute for one
operation (a scan over history shows up as lines executed per item scanned; dict, heap and bisect
look-ups do not), and the same operation is counted after a short and after a long history. The
counts must be equal. Typical scans this catches: GTD expiry over every order, finding an order or
its trades by walking lists, a full book frame after every trade."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from arb.domain import Action, BookSide, OrderRequest, Side, TimeInForce
from arb.venues.polymarket.orders import OrderSigner, PolymarketCredentials
from arb.venues.sim.http import HttpRequest
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.kalshi import _iso_ms as _kalshi_iso_ms
from arb.venues.sim.polymarket import PolymarketMarketSpec, PolymarketSimulator
from arb.venues.sim.polymarket import _text as _polymarket_text

U = 1_000_000
SIM_DIR = str(Path(__file__).resolve().parents[2] / "arb" / "venues" / "sim")


def lines_run(operation: Callable[[], Any]) -> int:
    """Lines executed inside `arb/venues/sim` while `operation()` runs (the text-formatting caches are
    emptied first, so each measurement starts from the same state)."""
    _kalshi_iso_ms.cache_clear()
    _polymarket_text.cache_clear()
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def global_(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename.startswith(SIM_DIR) else None

    sys.settrace(global_)
    try:
        operation()
    finally:
        sys.settrace(None)
    return count


# -- Kalshi --------------------------------------------------------------------------------------------


def kalshi_with_history(orders: int) -> KalshiSimulator:
    """A venue where the account has placed `orders` orders before: half filled, a quarter cancelled,
    a quarter still resting with an expiration far away, on another market."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    sim = KalshiSimulator(api_keys={"acct": key}, seed=1, clock_ms=lambda: 1_000_000)
    sim.add_series("KXB")
    sim.add_event("KXB-1", "KXB")
    for ticker in ("KXB-1-HISTORY", "KXB-1-NOW"):
        sim.add_market(ticker, "KXB-1")
    sim.set_book("KXB-1-NOW", [(400_000, 50 * U)], [(600_000, 50 * U)])
    for i in range(orders):
        kind = i % 4
        if kind < 2:
            sim.set_level("KXB-1-HISTORY", BookSide.ASK, 700_000, 2 * U)
            sim.submit("acct", "KXB-1-HISTORY", Side.YES, Action.BUY, 700_000, U, TimeInForce.IOC, f"h{i}")
        elif kind == 2:
            meta, _ = sim.submit("acct", "KXB-1-HISTORY", Side.YES, Action.BUY, 100_000, U, client_order_id=f"h{i}")
            sim.cancel(meta.order.order_id)
        else:
            sim.submit(
                "acct", "KXB-1-HISTORY", Side.YES, Action.BUY, 50_000, U, client_order_id=f"h{i}", expiration_ms=9 << 40
            )
    return sim


def kalshi_order_round(sim: KalshiSimulator, tag: str) -> Callable[[], None]:
    def run() -> None:
        # A GTD order that rests, one that takes liquidity, look-ups, a cancel, an expiry check.
        resting, _ = sim.submit(
            "acct", "KXB-1-NOW", Side.YES, Action.BUY, 300_000, U, client_order_id=f"{tag}-1", expiration_ms=2_000_000
        )
        sim.submit("acct", "KXB-1-NOW", Side.YES, Action.BUY, 600_000, U, TimeInForce.IOC, f"{tag}-2")
        sim.order_meta(resting.order.order_id)
        sim.cancel(resting.order.order_id)
        sim.expire_orders(1_500_000)

    return run


def test_kalshi_per_order_work_does_not_grow_with_the_order_history() -> None:
    short, long = kalshi_with_history(40), kalshi_with_history(4_000)
    assert len(long.accounts["acct"].orders) == 4_000 and len(long._expiry) == 1_000
    counts = [lines_run(kalshi_order_round(sim, "x")) for sim in (short, long)]
    assert counts[0] == counts[1] and counts[0] > 100, counts


def test_kalshi_fills_and_orders_queries_are_indexed() -> None:
    sim = kalshi_with_history(4_000)
    order_id = next(iter(sim.accounts["acct"].orders))
    fills = sim.accounts["acct"].fills_by_order[order_id]
    assert len(fills) == 1 and fills[0]["order_id"] == order_id
    assert len(sim.accounts["acct"].fills_by_ticker["KXB-1-HISTORY"]) == 2_000


@pytest.mark.asyncio
async def test_kalshi_per_message_work_does_not_grow_with_the_trade_history() -> None:
    short, long = kalshi_with_history(40), kalshi_with_history(4_000)
    counts = []
    for sim in (short, long):
        sim._now_ms = lambda: 1_000_000
        async with sim:
            # A subscribed connection, so the publish path is really taken.
            from websockets.asyncio.client import connect

            from arb.venues.kalshi.auth import KalshiSigner

            key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
            sim.api_keys["acct"] = key.public_key()
            headers = KalshiSigner("acct", key).headers("GET", "/trade-api/ws/v2", 1)
            async with connect(sim.ws_url, additional_headers=headers, proxy=None) as ws:
                command = {
                    "id": 1,
                    "cmd": "subscribe",
                    "params": {"channels": ["orderbook_delta", "trade"], "market_tickers": ["KXB-1-NOW"]},
                }
                await ws.send(orjson.dumps(command).decode())
                for _ in range(3):  # two subscribed replies and the snapshot
                    await asyncio.wait_for(ws.recv(), 5)

                def publish(sim: KalshiSimulator = sim) -> None:
                    sim.set_level("KXB-1-NOW", BookSide.BID, 410_000, 3 * U)  # a book change
                    sim.submit("taker", "KXB-1-NOW", Side.YES, Action.SELL, 410_000, U, TimeInForce.IOC)  # a trade

                counts.append(lines_run(publish))
    assert counts[0] == counts[1], counts


# -- Polymarket ----------------------------------------------------------------------------------------

KEY = "0x" + hashlib.sha256(b"bounded work throwaway key").hexdigest()
CREDS = PolymarketCredentials(
    KEY, "api-key-b", base64.urlsafe_b64encode(b"bounded-work-secret-32-bytes-ok!").decode(), "pass-b"
)
HISTORY, NOW = ("0x" + "a1" * 32, "0x" + "b2" * 32)
SPECS = [
    PolymarketMarketSpec(HISTORY, "History", "8001", "8002"),
    PolymarketMarketSpec(NOW, "Now", "8101", "8102"),
]


def polymarket_with_history(trades: int) -> PolymarketSimulator:
    sim = PolymarketSimulator(SPECS, participants=False, seed=1, clock_ms=lambda: 1_767_225_600_000)
    sim.add_account(CREDS.api_key, CREDS.api_secret, CREDS.api_passphrase, CREDS.signer_address, cash_micro=10**6 * U)
    sim.set_book("8101", [(400_000, 500 * U)], [(600_000, 500 * U)])
    for i in range(trades):
        sim.set_level("8001", BookSide.ASK, 700_000, 10 * U)
        sim.place(CREDS.api_key, "8001", BookSide.BID, 700_000, 5 * U, "FAK")
        if i % 2:
            sim.place(CREDS.api_key, "8001", BookSide.BID, 100_000, 5 * U)
    return sim


def signed_post(sim: PolymarketSimulator, request: OrderRequest, token: str, seed: int) -> HttpRequest:
    signer = OrderSigner(CREDS, rng=random.Random(seed))
    prepared = signer.prepare(request, token_id=token, tick_micro=10_000, neg_risk=False, now_ms=1_767_225_600_000)
    headers = {k.lower(): v for k, v in signer.headers("POST", "/order", prepared.body_text, 1_767_225_600).items()}
    body = prepared.body_text.encode()
    return HttpRequest("POST", "/order", {}, headers, body, "/order")


def test_polymarket_per_order_work_does_not_grow_with_the_trade_history() -> None:
    counts = []
    for sim in (polymarket_with_history(20), polymarket_with_history(2_000)):
        resting = signed_post(
            sim, OrderRequest("b-1", NOW, Side.YES, Action.BUY, 300_000, 5 * U, TimeInForce.GTC), "8101", 1
        )
        taking = signed_post(
            sim, OrderRequest("b-2", NOW, Side.YES, Action.BUY, 600_000, 5 * U, TimeInForce.IOC), "8101", 2
        )

        def run(sim: PolymarketSimulator = sim, resting: HttpRequest = resting, taking: HttpRequest = taking) -> None:
            answers = [asyncio.run(sim._clob_handler(r)) for r in (resting, taking)]
            order_id = orjson.loads(answers[0].body)["orderID"]
            sim.order_json(sim._metas[order_id].order)  # type: ignore[arg-type]
            account = sim.accounts[CREDS.api_key]
            sim._cancel(account, "/order", HttpRequest("DELETE", "/order", {}, {}, orjson.dumps({"orderID": order_id})))

        counts.append(lines_run(run))
    assert counts[0] == counts[1] and counts[0] > 100, counts


@pytest.mark.asyncio
async def test_polymarket_per_message_work_does_not_grow_with_the_trade_history() -> None:
    from websockets.asyncio.client import connect

    counts = []
    for sim in (polymarket_with_history(20), polymarket_with_history(2_000)):
        async with sim, connect(sim.market_ws_url) as ws:
            await ws.send(orjson.dumps({"assets_ids": ["8101"], "type": "market"}).decode())
            await asyncio.wait_for(ws.recv(), 5)  # the initial book

            def publish(sim: PolymarketSimulator = sim) -> None:
                sim.set_level("8101", BookSide.BID, 410_000, 3 * U)  # a book change
                sim.take("8101", BookSide.ASK, 410_000, U)  # a trade against it
                sim.place(CREDS.api_key, "8101", BookSide.BID, 600_000, 5 * U, "FAK")  # the account trades

            counts.append(lines_run(publish))
    assert counts[0] == counts[1], counts
