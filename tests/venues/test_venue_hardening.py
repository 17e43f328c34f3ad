"""Regressions from the venue-layer review: frames nested ~1000 deep (orjson accepts 1024 levels,
but describing such a value in a FieldError overflows the stack), 2xx order answers that are not
JSON (the order may have been taken: UNKNOWN, never an exception), and unusable REST books during
a Polymarket resync (the book must not wait, untrusted, for its buffer to overflow)."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from arb.domain import Action, OrderRequest, OrderStatus, Side, TimeInForce
from arb.errors import FieldError
from arb.venues.kalshi import wire as kalshi_wire
from arb.venues.kalshi.client import KalshiClient, KalshiConfig
from arb.venues.kalshi.session import KalshiSession
from arb.venues.polymarket.client import PolymarketClient, PolymarketConfig
from arb.venues.polymarket.session import FetchBook, PolymarketMarketSession, PolymarketUserSession
from tests.venues.test_polymarket_integration import CREDS
from tests.venues.test_polymarket_session import NO, YES, connected_session, market
from tests.venues.test_polymarket_wire import USER

DEEP = b"[" * 1000 + b"]" * 1000


def _deep_frames(prefix: bytes, suffix: bytes = b"}") -> bytes:
    return prefix + DEEP + suffix


@pytest.fixture
def default_recursion_limit() -> Iterator[None]:
    """py_ecc (imported with py-clob-client-v2) raises the interpreter's limit to 100000 at import;
    a process without it keeps Python's 1000, where these frames overflow the stack."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def test_deeply_nested_values_are_rejected_not_raised_by_every_session(default_recursion_limit: None) -> None:
    assert orjson.loads(DEEP) is not None  # orjson accepts it: the sessions must cope
    kalshi = KalshiSession()
    for raw in (
        _deep_frames(b'{"type":'),
        _deep_frames(b'{"type":"orderbook_delta","sid":1,"seq":1,"msg":{"market_ticker":', b"}}"),
        _deep_frames(b'{"type":"trade","sid":1,"seq":1,"msg":'),
    ):
        assert kalshi.receive(raw, 1) == []
    assert kalshi.stats.rejected_total == 3

    user = PolymarketUserSession(USER)
    for raw in (_deep_frames(b'{"event_type":'), _deep_frames(b'{"event_type":"trade","id":'), b"[" + DEEP + b"]"):
        assert user.receive(raw, 1) == []
    assert user.stats.rejected_total == 3 and user.fills == {}

    books = connected_session()
    assert books.trusted(YES) and books.trusted(NO)
    change = _deep_frames(
        b'{"event_type":"price_change","market":"0xm","price_changes":[{"asset_id":"'
        + YES.encode()
        + b'","side":"BUY","size":"1","price":',
        b"}]}",
    )
    commands = books.receive(change, 2)
    assert books.stats.rejected_total == 1
    assert not books.trusted(YES), "a dropped book change must untrust its book"
    assert FetchBook in {type(c) for c in commands}
    books.receive(_deep_frames(b'{"event_type":"book","asset_id":'), 3)
    books.receive(b"[" + DEEP + b"]", 4)
    assert books.stats.rejected_total == 3
    assert books.apply_rest_book(_deep_frames(b'{"asset_id":'), 5) == ()
    assert books.stats.rejected_total == 4


def test_kalshi_custom_strike_too_deep_to_keep_is_a_field_error() -> None:
    body = {"ticker": "T", "strike_type": "custom", "custom_strike": {"k": orjson.loads(b"[" * 300 + b"]" * 300)}}
    with pytest.raises(FieldError) as caught:
        kalshi_wire._strike(body, "market")
    assert caught.value.field == "market.custom_strike"


def _order(cid: str, market_id: str) -> OrderRequest:
    return OrderRequest(cid, market_id, Side.YES, Action.BUY, 400_000, 5_000_000, TimeInForce.GTC)


async def _block_forever(_seconds: float) -> None:
    await asyncio.Event().wait()  # the socket loop parks here; close() cancels it


@pytest.mark.asyncio
async def test_kalshi_order_answers_that_are_not_json_leave_the_order_unknown() -> None:
    answers: list[httpx.Response] = [
        httpx.Response(201, content=b"<html>proxy</html>"),
        httpx.Response(201, content=b"{not json"),
        httpx.Response(400, content=b'{"error": {"code": "bad", "details": ' + b"[" * 1000 + b"]" * 1000 + b"}}"),
    ]
    posted: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(request.url.path)
        return answers.pop(0)

    config = KalshiConfig(
        ws_url="ws://127.0.0.1:9/trade-api/ws/v2", check_interval_s=None, ping_interval_s=None, trust_env=False
    )
    client = KalshiClient(
        config, clock=lambda: 0, sleep=_block_forever, rng=random.Random(1), transport=httpx.MockTransport(handler)
    )
    await client.start()
    try:
        single = await client.place_order(_order("c-1", "KX-A"))
        assert single.status is OrderStatus.UNKNOWN and single.client_order_id == "c-1"
        [batched] = await client.place_orders([_order("c-2", "KX-A")])
        assert batched.status is OrderStatus.UNKNOWN
        refused = await client.place_order(_order("c-3", "KX-A"))
        assert refused.status is OrderStatus.REJECTED and refused.reason.startswith("bad")
    finally:
        await client.close()
    assert posted == [
        "/trade-api/v2/portfolio/events/orders",
        "/trade-api/v2/portfolio/events/orders/batched",
        "/trade-api/v2/portfolio/events/orders",
    ]


def _pm_client(handler: Any) -> tuple[PolymarketClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = PolymarketClient(
        PolymarketConfig(),
        clock=lambda: 0,
        sleep=_block_forever,
        rng=random.Random(2),
        credentials=CREDS,
        http=http,
        wall_clock_ms=lambda: 1_700_000_000_000,
    )
    return client, http


@pytest.mark.asyncio
async def test_polymarket_order_answer_that_is_not_json_leaves_the_order_unknown() -> None:
    posted: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(request.url.path)
        return httpx.Response(200, content=b"<html>gateway</html>")

    client, http = _pm_client(handler)
    async with http:
        await client.subscribe([market()])
        update = await client.place_order(_order("p-1", "0xm"))
    assert posted == ["/order"]
    assert update.status is OrderStatus.UNKNOWN and update.order_id and update.client_order_id == "p-1"


@pytest.mark.asyncio
async def test_polymarket_unusable_rest_book_during_a_resync_fails_the_resync() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"asset_id": "' + YES.encode() + b'", "bids": "nonsense"}')

    client, http = _pm_client(handler)
    async with http:
        await client.subscribe([market()])
        session: PolymarketMarketSession = client.market_session
        session.on_connect(0)
        commands = session.receive(
            b'{"event_type":"price_change","market":"0xm","price_changes":[{"asset_id":"'
            + YES.encode()
            + b'","side":"BUY","price":"2","size":"1"}]}',
            1,
        )
        (request,) = commands
        assert type(request) is FetchBook and YES in session.resyncing
        await client._resync(request)
    assert YES not in session.resyncing, "an unusable answer must end the resync (reconnect), not leave it pending"
    assert session.stats.rejected_total == 2
