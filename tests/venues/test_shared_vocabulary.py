"""One vocabulary for both venues: the same error for bad JSON, the same ISO
time reading, and one request path that treats 429 (with Retry-After in either form), 5xx,
timeouts and empty 2xx bodies alike on both clients. Scripted HTTP answers, no network."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from arb.domain import Action, OrderRequest, OrderStatus, Side, TimeInForce
from arb.errors import FieldError, VenueUnavailableError
from arb.venues import fields
from arb.venues.kalshi import wire as kalshi_wire
from arb.venues.kalshi.client import KalshiClient, KalshiConfig
from arb.venues.kalshi.session import KalshiSession
from arb.venues.polymarket import wire as polymarket_wire
from arb.venues.polymarket.client import PolymarketClient, PolymarketConfig
from arb.venues.polymarket.session import PolymarketMarketSession, PolymarketUserSession
from arb.venues.polymarket.wire import UserContext
from tests.venues.test_polymarket_integration import CREDS
from tests.venues.test_polymarket_session import YES, market

WALL_MS = 1_767_225_600_000


def test_bad_json_is_the_same_error_on_both_venues() -> None:
    for loads in (kalshi_wire.loads, polymarket_wire.loads):
        for raw in (b"{", b"", b"\xff", "not json"):
            with pytest.raises(FieldError) as caught:
                loads(raw)
            assert caught.value.field == "frame" and caught.value.problem == "is not valid JSON"
    kalshi, market_feed, user_feed = KalshiSession(), PolymarketMarketSession(), PolymarketUserSession(UserContext())
    for session in (kalshi, market_feed, user_feed):
        session.receive(b"{", 1)
        assert session.stats.rejected == {"FieldError": 1}
        assert session.recent_errors[-1].field == "frame" and "not valid JSON" in session.recent_errors[-1].message


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-01-01T00:00:00Z", WALL_MS),
        ("2026-01-01T00:00:00.999999Z", WALL_MS + 999),  # truncated, exactly: no float rounding
        ("2026-01-01T01:00:00+01:00", WALL_MS),
        ("2026-01-01 00:00:00+00", WALL_MS),
        ("2026-01-01", WALL_MS),
        ("2026-01-01T00:00:00.5", WALL_MS + 500),  # no zone: UTC
    ],
)
def test_iso_times_read_the_same_on_both_venues(text: str, ms: int) -> None:
    assert fields.iso_ms(text, "t", venue="x") == ms
    assert kalshi_wire._iso_ms(text, "t") == ms
    assert polymarket_wire._iso_ms({"t": text}, "t", "d") == ms
    for bad in ("yesterday", "2026-13-01", 20260101, "2" * 41):
        for read in (lambda v: kalshi_wire._iso_ms(v, "t"), lambda v: polymarket_wire._iso_ms({"t": v}, "t", "d")):
            with pytest.raises(FieldError):
                read(bad)


# -- one request path ----------------------------------------------------------------------------

Answer = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Fake clock and sleep (sleeping moves the clock); the Kalshi socket loop (no venue socket
    here) parks instead."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.now_ns = 0

    def clock(self) -> int:
        return self.now_ns

    async def sleep(self, seconds: float) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name() == "kalshi-ws":
            await asyncio.Event().wait()
        self.sleeps.append(seconds)
        self.now_ns += int(seconds * 1e9)


async def _kalshi_read(answer: Answer, recorder: Recorder) -> tuple[Any, KalshiClient]:
    config = KalshiConfig(ws_url="ws://127.0.0.1:9/ws", check_interval_s=None, ping_interval_s=None, trust_env=False)
    client = KalshiClient(
        config,
        clock=recorder.clock,
        sleep=recorder.sleep,
        rng=random.Random(1),
        transport=httpx.MockTransport(answer),
        wall_clock_ms=lambda: WALL_MS,
    )
    await client.start()
    try:
        return await client.balance(), client
    finally:
        await client.close()


async def _polymarket_read(answer: Answer, recorder: Recorder) -> tuple[Any, PolymarketClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = PolymarketClient(
            PolymarketConfig(),
            clock=recorder.clock,
            sleep=recorder.sleep,
            rng=random.Random(1),
            http=http,
            wall_clock_ms=lambda: WALL_MS,
        )
        return await client.fetch_book(YES), client


Read = Callable[[Answer, Recorder], Awaitable[tuple[Any, KalshiClient | PolymarketClient]]]
READS: dict[str, Read] = {"kalshi": _kalshi_read, "polymarket": _polymarket_read}
BODY = b'{"balance": 100, "balance_dollars": "1.00", "asset_id": "1001"}'


def _script(*answers: httpx.Response | Exception) -> Answer:
    pending = list(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        item = pending.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return answer


@pytest.mark.asyncio
@pytest.mark.parametrize("venue", sorted(READS))
async def test_429_with_retry_after_in_either_form_waits_at_least_that_long(venue: str) -> None:
    later = format_datetime(datetime.fromtimestamp(WALL_MS / 1000 + 7, tz=UTC), usegmt=True)
    recorder = Recorder()
    answer = _script(
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(429, headers={"Retry-After": later}),
        httpx.Response(200, content=BODY),
    )
    _, client = await READS[venue](answer, recorder)
    first, second = (delay for _, delay in client.diagnostics.retry_delays)
    assert 3 <= first < 3.1 and 7 <= second < 7.1  # the venue's hint, seconds or an HTTP date
    assert first in recorder.sleeps and second in recorder.sleeps


@pytest.mark.asyncio
@pytest.mark.parametrize("venue", sorted(READS))
async def test_5xx_and_timeouts_are_retried_alike(venue: str) -> None:
    recorder = Recorder()
    answer = _script(
        httpx.Response(503, content=b"busy"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.Response(200, content=BODY),
    )
    await READS[venue](answer, recorder)
    assert len(recorder.sleeps) == 3


@pytest.mark.asyncio
@pytest.mark.parametrize("venue", sorted(READS))
async def test_an_empty_2xx_body_is_the_same_error_on_both_venues(venue: str) -> None:
    with pytest.raises(FieldError) as caught:
        await READS[venue](_script(httpx.Response(200, content=b"")), Recorder())
    assert caught.value.problem == "is empty"
    with pytest.raises(VenueUnavailableError, match="timed out"):
        await READS[venue](_script(*[httpx.ReadTimeout("slow")] * 10), Recorder())


@pytest.mark.asyncio
async def test_an_empty_2xx_answer_to_an_order_is_unknown_on_both_venues() -> None:
    request = OrderRequest("e-1", "KX-A", Side.YES, Action.BUY, 400_000, 5_000_000, TimeInForce.GTC)
    recorder = Recorder()
    config = KalshiConfig(ws_url="ws://127.0.0.1:9/ws", check_interval_s=None, ping_interval_s=None, trust_env=False)
    kalshi = KalshiClient(
        config,
        clock=recorder.clock,
        sleep=recorder.sleep,
        rng=random.Random(1),
        transport=httpx.MockTransport(_script(httpx.Response(201, content=b""))),
    )
    await kalshi.start()
    try:
        assert (await kalshi.place_order(request)).status is OrderStatus.UNKNOWN
    finally:
        await kalshi.close()
    async with httpx.AsyncClient(transport=httpx.MockTransport(_script(httpx.Response(200, content=b"")))) as http:
        polymarket = PolymarketClient(
            PolymarketConfig(),
            clock=lambda: 0,
            sleep=recorder.sleep,
            rng=random.Random(1),
            http=http,
            credentials=CREDS,
        )
        await polymarket.subscribe([market()])
        placed = await polymarket.place_order(
            OrderRequest("e-2", "0xm", Side.YES, Action.BUY, 400_000, 5_000_000, TimeInForce.GTC)
        )
        assert placed.status is OrderStatus.UNKNOWN and placed.order_id
    assert recorder.sleeps == []  # an order POST is never retried on an ambiguous answer
