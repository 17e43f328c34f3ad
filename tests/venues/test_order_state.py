"""Order state at the client boundary, both venues, with scripted HTTP answers (no network, no
waiting): a lookup during a send in flight, a send cancelled by its caller, REST fills counted with
the stream's, lookups by client order id that never page through history, bounded diagnostics
(the order-state defects 3.1, 3.2, 3.3 and 3.5 of the hardening list)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
import orjson
import pytest

from arb.domain import Action, Fill, OrderRequest, OrderStatus, OrderUpdate, Side, TimeInForce
from arb.venues.base import DIAGNOSTICS_KEPT, ClientDiagnostics, GuardedSink
from arb.venues.kalshi.client import KalshiClient, KalshiConfig
from arb.venues.polymarket.client import PolymarketClient, PolymarketConfig
from tests.venues.test_polymarket_integration import CREDS
from tests.venues.test_polymarket_session import market

pytestmark = pytest.mark.asyncio
S = 1_000_000_000
Handler = Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]


async def _park(_seconds: float) -> None:
    await asyncio.Event().wait()  # the socket loops park here (no venue socket); close() cancels them


class Clock:
    def __init__(self) -> None:
        self.ns = 1_000 * S

    def __call__(self) -> int:
        return self.ns


def _kalshi(handler: Handler, clock: Clock, events: list[Any], **config: Any) -> KalshiClient:
    settings: dict[str, Any] = {
        "ws_url": "ws://127.0.0.1:9/trade-api/ws/v2",
        "check_interval_s": None,
        "ping_interval_s": None,
        "trust_env": False,
        **config,
    }
    return KalshiClient(
        KalshiConfig(**settings),
        clock=clock,
        sleep=_park,
        rng=random.Random(1),
        sink=events.append,
        transport=httpx.MockTransport(handler),
        wall_clock_ms=lambda: 1_767_225_600_000 + clock.ns // 1_000_000,
    )


def _polymarket(handler: Handler, clock: Clock, events: list[Any]) -> tuple[PolymarketClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = PolymarketClient(
        PolymarketConfig(private_stream=False),
        clock=clock,
        sleep=_park,
        rng=random.Random(2),
        sink=events.append,
        credentials=CREDS,
        http=http,
        wall_clock_ms=lambda: 1_767_225_600_000 + clock.ns // 1_000_000,
    )
    return client, http


def _request(cid: str, market_id: str = "KX-A") -> OrderRequest:
    return OrderRequest(cid, market_id, Side.YES, Action.BUY, 400_000, 5_000_000, TimeInForce.GTC)


def _kalshi_order(cid: str, order_id: str = "ord-1", status: str = "resting") -> dict[str, Any]:
    return {
        "order_id": order_id,
        "client_order_id": cid,
        "ticker": "KX-A",
        "side": "yes",
        "action": "buy",
        "status": status,
        "yes_price_dollars": "0.4000",
        "fill_count_fp": "0.00",
        "remaining_count_fp": "5.00",
        "initial_count_fp": "5.00",
        "created_time": "2026-01-01T00:16:40Z",
    }


def _kalshi_created(cid: str, order_id: str = "ord-1") -> dict[str, Any]:
    """The V2 create answer (POST /portfolio/events/orders) for a 5-contract order that rests."""
    return {"order_id": order_id, "client_order_id": cid, "fill_count": "0.00", "remaining_count": "5.00", "ts_ms": 1}


def _kalshi_fill(fill_id: str = "f-1") -> dict[str, Any]:
    return {
        "fill_id": fill_id,
        "trade_id": fill_id,
        "order_id": "ord-1",
        "ticker": "KX-A",
        "side": "yes",
        "action": "buy",
        "count_fp": "2.00",
        "yes_price_dollars": "0.4000",
        "is_taker": True,
        "fee_cost": "0.0200",
        "created_time": "2026-01-01T00:16:41Z",
    }


# -- 3.1 ----------------------------------------------------------------------------------------


async def test_3_1_kalshi_lookup_during_a_send_in_flight_is_unknown_not_rejected() -> None:
    clock = Clock()
    events: list[Any] = []
    posted, release = asyncio.Event(), asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posted.set()
            await release.wait()
            return httpx.Response(201, json=_kalshi_created("c-1"))
        if request.url.path.endswith("/portfolio/orders"):
            return httpx.Response(200, json={"orders": [], "cursor": ""})  # the venue has not got it yet
        return httpx.Response(200, json={"order": _kalshi_order("c-1")})

    client = _kalshi(handler, clock, events)
    await client.start()
    try:
        send = asyncio.create_task(client.place_order(_request("c-1")))
        await posted.wait()
        pending = await client.reconcile_order("c-1")
        assert pending.status is OrderStatus.UNKNOWN and "in flight" in pending.reason
        release.set()
        placed = await send
        assert placed.status is OrderStatus.OPEN and placed.order_id == "ord-1"
        assert (await client.reconcile_order("c-1")).status is OrderStatus.OPEN  # by venue id now
        # A send that timed out stays UNKNOWN for order_settle_s; a miss after that is REJECTED.
        lost = await client.reconcile_order("never-sent", "KX-A")
        assert lost.status is OrderStatus.REJECTED and lost.reason == "unknown to the venue"
    finally:
        await client.close()


async def test_3_1_polymarket_404_during_a_send_in_flight_is_unknown_not_rejected() -> None:
    clock = Clock()
    events: list[Any] = []
    posted, release = asyncio.Event(), asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posted.set()
            await release.wait()
            return httpx.Response(500, json={"error": "gateway"})  # no answer about the order
        return httpx.Response(404, json={"error": "order not found"})

    client, http = _polymarket(handler, clock, events)
    async with http:
        await client.subscribe([market()])
        send = asyncio.create_task(client.place_order(_request("p-1", "0xm")))
        await posted.wait()
        [order_hash] = [h for h, cid in client.user_session.client_ids.items() if cid == "p-1"]
        during = await client.reconcile_order(order_hash)
        assert during.status is OrderStatus.UNKNOWN, "a 404 while the POST is in flight proves nothing"
        release.set()
        assert (await send).status is OrderStatus.UNKNOWN  # a 5xx: the venue may still process it
        assert (await client.reconcile_order(order_hash)).status is OrderStatus.UNKNOWN
        clock.ns += int((client.config.order_settle_s + 1) * S)
        after = await client.reconcile_order(order_hash)
        assert after.status is OrderStatus.REJECTED and after.client_order_id == "p-1"


async def _cancel_mid_send(place: Awaitable[object], posted: asyncio.Event) -> None:
    send = asyncio.ensure_future(place)
    await posted.wait()
    send.cancel()  # the kill switch, a shutdown, or asyncio.wait_for around the call
    with pytest.raises(asyncio.CancelledError):
        await send


async def test_3_1_a_cancelled_send_is_recorded_unknown_and_the_cancellation_propagates() -> None:
    clock = Clock()
    events: list[Any] = []
    posted = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posted.set()
            await asyncio.Event().wait()
        return httpx.Response(200, json={"orders": [_kalshi_order("c-2", "ord-2")], "cursor": ""})

    kalshi = _kalshi(hang, clock, events)
    await kalshi.start()
    try:
        await _cancel_mid_send(kalshi.place_order(_request("c-2")), posted)
        [recorded] = [e for e in events if isinstance(e, OrderUpdate)]
        assert recorded.status is OrderStatus.UNKNOWN and recorded.client_order_id == "c-2"
        assert kalshi.sends.unknown() == [recorded]
        settled = await kalshi.reconcile_order("c-2")  # the venue did take it
        assert settled.status is OrderStatus.OPEN and settled.order_id == "ord-2"
        assert kalshi.sends.unknown() == []
        posted.clear()
        await _cancel_mid_send(kalshi.place_orders([_request("c-3"), _request("c-4")]), posted)
        assert {e.client_order_id for e in events if isinstance(e, OrderUpdate)} == {"c-2", "c-3", "c-4"}
    finally:
        await kalshi.close()

    posted.clear()
    pm_events: list[Any] = []
    polymarket, http = _polymarket(hang, clock, pm_events)
    async with http:
        await polymarket.subscribe([market()])
        await _cancel_mid_send(polymarket.place_order(_request("p-2", "0xm")), posted)
    # the order's hash is announced (PENDING) before the POST leaves, then the cancelled send is UNKNOWN
    announced, recorded = [e for e in pm_events if isinstance(e, OrderUpdate)]
    assert announced.status is OrderStatus.PENDING and announced.order_id == recorded.order_id
    assert recorded.status is OrderStatus.UNKNOWN and recorded.client_order_id == "p-2" and recorded.order_id
    assert polymarket.sends.in_flight(recorded.order_id, clock.ns)


# -- 3.2 ----------------------------------------------------------------------------------------


async def test_3_2_kalshi_rest_fills_go_through_the_stream_dedupe() -> None:
    """A fill first seen by a REST query reaches the sink once, and the same fill arriving later on
    the socket is a duplicate (before: REST fills bypassed the stream's dedupe set entirely)."""
    clock = Clock()
    events: list[Any] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"fills": [_kalshi_fill()], "cursor": ""})

    client = _kalshi(handler, clock, events)
    await client.start()
    try:
        for _ in range(2):
            [queried] = await client.fills()
            assert queried.fill_id == "f-1"
        assert [e.fill_id for e in events if isinstance(e, Fill)] == ["f-1"]
        ws_frame = orjson.dumps({"type": "fill", "sid": 7, "msg": {**_kalshi_fill(), "market_ticker": "KX-A"}})
        assert client.session.receive(ws_frame, clock.ns) == []
        assert client.session.stats.duplicate_fills == 2
    finally:
        await client.close()


async def test_3_2_lookup_by_client_order_id_does_not_page_through_history() -> None:
    clock = Clock()
    events: list[Any] = []
    gets: list[dict[str, str]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json=_kalshi_created("c-5", "ord-5"))
        params = dict(request.url.params)
        gets.append(params)
        if request.url.path.endswith("/portfolio/orders/ord-5"):
            return httpx.Response(200, json={"order": _kalshi_order("c-5", "ord-5")})
        if "min_ts" in params and params.get("ticker") == "KX-A":
            return httpx.Response(200, json={"orders": [_kalshi_order("c-9", "ord-9")], "cursor": ""})
        page = int(params.get("cursor") or 0)  # the whole history: 50 pages
        return httpx.Response(200, json={"orders": [_kalshi_order(f"old-{page}")], "cursor": str(page + 1)})

    client = _kalshi(handler, clock, events, max_pages=60)
    await client.start()
    try:
        found = await client.get_order(client_order_id="c-9", market_id="KX-A")  # not sent by this client
        assert found is not None and found.order_id == "ord-9"
        assert len(gets) == 1 and gets[0]["ticker"] == "KX-A" and int(gets[0]["min_ts"]) > 0
        await client.place_order(_request("c-5"))
        gets.clear()
        mine = await client.get_order(client_order_id="c-5")  # sent by this client: by venue id
        assert mine is not None and mine.order_id == "ord-5" and len(gets) == 1
    finally:
        await client.close()


# -- 3.5 ----------------------------------------------------------------------------------------


async def test_3_5_diagnostics_stay_bounded_however_long_a_feed_fails() -> None:
    diagnostics = ClientDiagnostics()

    def raising(_event: Any) -> None:
        raise RuntimeError("consumer bug")

    sink = GuardedSink(raising, diagnostics)
    for i in range(3 * DIAGNOSTICS_KEPT):
        sink(i)
    assert diagnostics.sink_error_count == 3 * DIAGNOSTICS_KEPT and len(diagnostics.sink_errors) == DIAGNOSTICS_KEPT

    attempts = 0
    enough = asyncio.Event()

    async def count(_seconds: float) -> None:
        nonlocal attempts
        attempts += 1
        if attempts >= 3 * DIAGNOSTICS_KEPT:
            enough.set()
            await asyncio.Event().wait()
        await asyncio.sleep(0)

    client = KalshiClient(  # nothing listens on port 9: every connect fails at once
        KalshiConfig(ws_url="ws://127.0.0.1:9/ws", check_interval_s=None, ping_interval_s=None, trust_env=False),
        clock=Clock(),
        sleep=count,
        rng=random.Random(3),
    )
    await client.start()
    try:
        await asyncio.wait_for(enough.wait(), 30)
    finally:
        await client.close()
    assert len(client.diagnostics.reconnect_delays) == DIAGNOSTICS_KEPT
    assert len(client.diagnostics.disconnect_reasons) == DIAGNOSTICS_KEPT
    assert client.session.recent_errors.maxlen == DIAGNOSTICS_KEPT


async def test_polymarket_order_hash_is_announced_before_the_post_and_fixed_by_the_salt() -> None:
    """The journal must know a Polymarket order's id (its hash) before the POST leaves, so that an
    order sent by a process killed mid-send can be found; and the request's salt (derived from the
    journaled intent) fixes it: the same request at the same time signs to the same hash."""
    clock = Clock()
    events: list[Any] = []
    seen_at_post: list[list[Any]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen_at_post.append([e for e in events if isinstance(e, OrderUpdate)])
        order_id = orjson.loads(request.content)["order"]["salt"]  # any id: the answer is not the point
        return httpx.Response(400, json={"error": f"not enough balance / allowance ({order_id})"})

    polymarket, http = _polymarket(handler, clock, events)
    async with http:
        await polymarket.subscribe([market()])
        request = OrderRequest("p-1", "0xm", Side.YES, Action.BUY, 400_000, 5_000_000, TimeInForce.GTC, salt=12345)
        first = await polymarket.place_order(request)
        second = await polymarket.place_order(request)
        other = await polymarket.place_order(OrderRequest(**{**_fields(request), "salt": 12346}))
    [announced] = seen_at_post[0]
    assert announced.status is OrderStatus.PENDING and announced.order_id == first.order_id
    assert announced.client_order_id == "p-1"
    assert first.status is OrderStatus.REJECTED and first.order_id == second.order_id != other.order_id


def _fields(request: OrderRequest) -> dict[str, Any]:
    return {name: getattr(request, name) for name in OrderRequest.__dataclass_fields__}
