"""The Kalshi client against the simulated Kalshi over loopback, one test per fault knob.

Every test ends with the same checks: the client is still running, its books are trusted again and
equal the venue's, and a full order round trip works (place, partial fill, cancel, fills query)
with no fill duplicated or lost. Time is injected: reconnect and retry delays are recorded by the
fake `sleep` (which advances the fake clock) instead of being waited for."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from arb.domain import (
    Action,
    BookSide,
    Fill,
    MarketLifecycle,
    MarketStatus,
    OrderRequest,
    OrderStatus,
    Side,
    TimeInForce,
    VenueNotice,
)
from arb.errors import AuthError, ConfigError, OrderRejectedError
from arb.venues.base import Reconnect, SendText, VenueClient
from arb.venues.chaos import FakeTime as ChaosFakeTime
from arb.venues.kalshi.auth import KalshiSigner, signing_path
from arb.venues.kalshi.client import KalshiClient, KalshiConfig
from arb.venues.kalshi.wire import create_order_body
from arb.venues.sim.faults import FaultInjector, FaultPlan
from arb.venues.sim.kalshi import CreateOrder, KalshiRefusal, KalshiSimulator, parse_create_order
from arb.venues.sim.participants import MarketMaker

WAIT_S = 15.0  # generous: conditions are awaited, never slept for, so only a failure waits this long

KEY_ID = "sim-key-0001"
TICKERS = ("KXSIM-26-A", "KXSIM-26-B")
S = 1_000_000_000
pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeTime(ChaosFakeTime):
    """The chaos suite's injected clock, sleep and request deadline (a deadline expires when the
    clock is moved past it by `advance`, never by itself), with a record of each sleep, a hook on
    sleeping, and a wall clock that moves 1 ms per reading like the simulator's own default."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[float], None] | None = None
        self._wall = itertools.count(1_767_225_600_000)  # one wall clock for venue and client

    def wall_ms(self) -> int:
        return next(self._wall)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        await super().sleep(seconds)


@dataclass
class Harness:
    sim: KalshiSimulator
    client: KalshiClient
    time: FakeTime
    faults: FaultInjector
    events: list[Any] = field(default_factory=list)
    makers: dict[str, MarketMaker] = field(default_factory=dict)

    def stream_fills(self) -> list[Fill]:
        return [e for e in self.events if isinstance(e, Fill)]

    def books_match(self, ticker: str) -> bool:
        book = self.client.books[ticker]
        engine = self.sim.engines[ticker]
        return (
            book.trusted
            and book.bids() == tuple(engine.levels(BookSide.BID))
            and book.asks() == tuple(engine.levels(BookSide.ASK))
        )

    async def synced(self, timeout_s: float = WAIT_S) -> None:
        await self.client.wait_until(lambda: all(self.books_match(t) for t in TICKERS), timeout_s)


_client_ids = itertools.count(1)


@asynccontextmanager
async def running(
    private_key: rsa.RSAPrivateKey,
    plan: FaultPlan | None = None,
    *,
    wait_synced: bool = True,
    fractional: bool = False,
    sim_options: dict[str, Any] | None = None,
    fake_deadlines: bool = False,
    **config: Any,
) -> AsyncIterator[Harness]:
    faults = FaultInjector(plan or FaultPlan(seed=11))
    fake = FakeTime()
    sim = KalshiSimulator(
        api_keys={KEY_ID: private_key.public_key()}, faults=faults, seed=5, clock_ms=fake.wall_ms, **(sim_options or {})
    )
    sim.add_series("KXSIM", "Sim series", "quadratic", 1.0)
    sim.add_event("KXSIM-26", "KXSIM", "Which one", mutually_exclusive=True)
    makers = {}
    for i, ticker in enumerate(TICKERS):
        engine = sim.add_market(ticker, "KXSIM-26", yes_sub_title=ticker[-1], fractional=fractional)
        makers[ticker] = MarketMaker(
            "mm", engine, random.Random(i), mid_micro=500_000, spread_ticks=2, levels=3, size_micro=10_000_000
        )
        makers[ticker].requote()
        sim.add_participant(makers[ticker])
    await sim.start()
    harness_events: list[Any] = []
    settings: dict[str, Any] = {
        "rest_base_url": sim.rest_base_url,
        "ws_url": sim.ws_url,
        "check_interval_s": None,
        "ping_interval_s": None,
        "trust_env": False,
        "request_timeout_s": 5.0,
    }
    settings.update(config)
    deadline: dict[str, Any] = {"deadline": fake.deadline} if fake_deadlines else {}
    client = KalshiClient(
        KalshiConfig(**settings),
        clock=fake.clock,
        sleep=fake.sleep,
        rng=random.Random(3),
        sink=harness_events.append,
        signer=KalshiSigner(KEY_ID, private_key),
        wall_clock_ms=fake.wall_ms,
        **deadline,
    )
    harness = Harness(sim, client, fake, faults, harness_events, makers)
    try:
        await client.start()
        await client.subscribe(list(TICKERS))
        if wait_synced:
            await harness.synced()
        yield harness
    finally:
        await client.close()
        await sim.close()


def _request(
    ticker: str, outcome: Side, action: Action, price: int, size: int, tif: TimeInForce = TimeInForce.GTC
) -> OrderRequest:
    return OrderRequest(f"cid-{next(_client_ids)}", ticker, outcome, action, price, size, tif)


async def round_trip(h: Harness, ticker: str = TICKERS[0]) -> None:
    """Place an order bigger than the best ask, see it partly fill, cancel the rest, and check the
    fills three ways (stream, REST query, the venue's own record)."""
    client = h.client
    assert client._ws_task is not None and not client._ws_task.done(), "the socket loop died"
    best_ask = h.sim.engines[ticker].best_ask()
    assert best_ask is not None
    request = _request(ticker, Side.YES, Action.BUY, best_ask[0], best_ask[1] + 5_000_000)
    placed = await client.place_order(request)
    assert placed.client_order_id == request.client_order_id and placed.order_id
    hint = placed.fill_hint_micro  # the V2 answer's fill_count: a hint, never counted as a fill
    assert placed.filled_size_micro is None and hint is not None and 0 < hint < request.size_micro
    if placed.status is OrderStatus.OPEN:
        canceled = await client.cancel_order(placed.order_id, ticker)
        assert canceled.status is OrderStatus.CANCELED and canceled.remaining_size_micro == 0
        assert canceled.filled_size_micro == hint  # the venue's record, looked up after the cancel
    else:  # a capped partial fill whose rest would have crossed is cancelled by the venue
        assert placed.status is OrderStatus.CANCELED
    assert (await client.open_orders(ticker)) == []
    await client.wait_until(
        lambda: sum(f.size_micro for f in h.stream_fills() if f.order_id == placed.order_id) == hint,
        WAIT_S,
    )
    queried = await client.fills(order_id=placed.order_id)
    assert sum(f.size_micro for f in queried) == hint
    assert all(f.price_micro_usd == best_ask[0] and f.outcome is Side.YES for f in queried)
    check_fills(h, reconnected=False)
    await h.synced()


def check_fills(h: Harness, *, reconnected: bool) -> None:
    """No fill duplicated on the stream; every venue fill is in the stream (or, when the socket
    was down while it happened, at least in the REST query the caller made)."""
    ids = [f.fill_id for f in h.stream_fills()]
    assert len(ids) == len(set(ids)), "a fill was delivered twice"
    venue_ids = {record["fill_id"] for record in h.sim.fills_of(KEY_ID)}
    assert set(ids) <= venue_ids
    if not reconnected:
        assert set(ids) == venue_ids, "a fill never reached the stream"


async def test_client_implements_the_venue_interface_and_metadata(private_key: rsa.RSAPrivateKey) -> None:
    async with running(private_key) as h:
        assert isinstance(h.client, VenueClient)
        markets = await h.client.markets()
        assert [m.market_id for m in markets] == list(TICKERS)
        assert all(m.series_id == "KXSIM" and m.taker_fee and m.taker_fee.multiplier == 1 for m in markets)
        [event] = await h.client.events()
        assert event.group is not None and not event.group.exhaustive and event.market_ids == TICKERS
        snapshot = await h.client.orderbook(TICKERS[0])
        assert snapshot.bids == tuple(sorted(h.sim.engines[TICKERS[0]].levels(BookSide.BID)))
        balance = await h.client.balance()
        assert balance.available_micro_usd == 10_000 * 1_000_000
        await round_trip(h)
        [position] = await h.client.positions()
        assert position.market_id == TICKERS[0] and position.position_micro > 0
        # Buying NO is the mirror order: it takes the YES bids.
        best_bid = h.sim.engines[TICKERS[1]].best_bid()
        assert best_bid is not None
        no = await h.client.place_order(
            _request(TICKERS[1], Side.NO, Action.BUY, 1_000_000 - best_bid[0], 2_000_000, TimeInForce.IOC)
        )
        # stated as the venue records the V2 order (an ask on the YES book), as its fill is below
        assert no.status is OrderStatus.FILLED
        assert (no.outcome, no.action, no.price_micro_usd) == (Side.YES, Action.SELL, best_bid[0])
        await h.client.wait_until(lambda: any(f.order_id == no.order_id for f in h.stream_fills()), WAIT_S)
        fill = next(f for f in h.stream_fills() if f.order_id == no.order_id)
        # the V2 order is an ask on the YES book: its fill is stated as selling YES at the YES price
        assert (
            (fill.outcome, fill.action) == (Side.YES, Action.SELL)
            and fill.price_micro_usd == best_bid[0]
            and fill.fee_micro_usd
            and fill.fee_micro_usd > 0
        )
        batch = await h.client.place_orders(
            [
                _request(TICKERS[1], Side.YES, Action.BUY, 100_000, 1_000_000),
                _request(TICKERS[1], Side.YES, Action.BUY, 123_400, 1_000_000),  # off the cent grid
            ]
        )
        assert (
            batch[0].status is OrderStatus.OPEN
            and batch[1].status is OrderStatus.REJECTED
            and "tick" in batch[1].reason
            and batch[1].error_code  # the venue's own code travels with the refusal
        )
        await h.synced()
        check_fills(h, reconnected=False)


async def test_unsigned_or_wrongly_signed_requests_are_refused(private_key: rsa.RSAPrivateKey) -> None:
    async with running(private_key) as h:
        async with httpx.AsyncClient(trust_env=False) as raw:
            answer = await raw.get(h.sim.rest_base_url + "/portfolio/balance")
            assert answer.status_code == 401
        impostor = KalshiClient(
            KalshiConfig(
                rest_base_url=h.sim.rest_base_url,
                ws_url=h.sim.ws_url,
                check_interval_s=None,
                trust_env=False,
                private_stream=False,
            ),
            clock=h.time.clock,
            sleep=h.time.sleep,
            rng=random.Random(1),
            signer=KalshiSigner(KEY_ID, rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        )
        await impostor.start()
        try:
            with pytest.raises(AuthError):
                await impostor.balance()
            await impostor.wait_until(
                lambda: any("401" in reason for _, reason in impostor.diagnostics.disconnect_reasons), WAIT_S
            )
            assert not impostor.connected
        finally:
            await impostor.close()
        assert h.sim.auth_failures >= 2


async def test_connection_drop_reconnects_with_growing_jittered_backoff(private_key: rsa.RSAPrivateKey) -> None:
    plan = FaultPlan(seed=2, drop_connection_after_frames=4, drop_connection_limit=3)
    async with running(private_key, plan, wait_synced=False) as h:
        trusted_while_down: list[bool] = []
        h.time.on_sleep = lambda _s: trusted_while_down.append(any(b.trusted for b in h.client.books.values()))
        await h.synced()
        assert h.sim.drops_injected == 3 and h.client.connects == 4
        delays = [d for _, d in h.client.diagnostics.reconnect_delays]
        assert len(delays) == 3 and delays == h.time.sleeps[:3]
        base = h.client.config.reconnect_base_s
        for attempt, delay in enumerate(delays):  # equal jitter: within [0.5, 1] x base x 2^n
            assert base * 2**attempt * 0.5 <= delay <= base * 2**attempt
        assert delays == sorted(delays) and len(set(delays)) == 3
        assert trusted_while_down and not any(trusted_while_down), "a book stayed trusted while disconnected"
        assert h.client.session.stats.disconnects == 3
        await round_trip(h)


async def test_silent_freeze_is_caught_by_the_watchdog_then_recovers(private_key: rsa.RSAPrivateKey) -> None:
    async with running(private_key, feed_silence_s=30.0) as h:
        h.faults.freeze(h.sim.stream)
        h.sim.step(5)  # the venue's books move, the frozen socket says nothing
        assert await h.sim.ping_all() == 1
        await h.client.wait_until(lambda: h.client.session.stats.pings >= 1, WAIT_S)
        h.time.advance(31)
        renewed = await h.client.check_staleness()  # the order book subscription is renewed
        assert [c.json()["cmd"] for c in renewed if isinstance(c, SendText)] == ["unsubscribe", "subscribe"]
        assert not any(b.trusted for b in h.client.books.values())
        h.time.advance(31)
        assert any(isinstance(c, Reconnect) for c in await h.client.check_staleness())
        await h.synced()  # a fresh connection is not frozen: snapshots re-trust the books
        assert h.client.connects == 2 and h.sim.frames_frozen > 0
        await round_trip(h)


async def test_sequence_gap_distrusts_then_resnapshots(private_key: rsa.RSAPrivateKey) -> None:
    async with running(private_key) as h:
        at_gap: list[dict[str, bool]] = []
        sink_events = h.events

        def watch(event: Any) -> None:
            sink_events.append(event)
            if isinstance(event, VenueNotice) and event.kind == "sequence_gap":
                at_gap.append({t: h.client.books[t].trusted for t in TICKERS})

        h.client.sink = watch
        h.faults.gap_next(h.sim.stream)
        h.sim.submit("mm", TICKERS[0], Side.YES, Action.BUY, 300_000, 4_000_000)  # this change is lost
        h.sim.submit("mm", TICKERS[1], Side.YES, Action.BUY, 310_000, 2_000_000)  # the next seq reveals it
        await h.client.wait_until(lambda: bool(at_gap), WAIT_S)
        assert at_gap[0] == dict.fromkeys(TICKERS, False), "every book of the sid is distrusted"
        assert h.sim.gaps_injected == 1 and h.client.session.stats.gaps == 1
        await h.synced()
        assert h.client.books[TICKERS[0]].bids()[-1] == (300_000, 4_000_000)  # the lost change is back
        assert h.client.connects == 1 and h.client.session.stats.resnapshots == len(TICKERS)
        await round_trip(h)


async def test_http_429_honours_retry_after_then_succeeds(private_key: rsa.RSAPrivateKey) -> None:
    plan = FaultPlan(seed=4, http_429_retry_after_s=1.5)
    async with running(private_key, plan) as h:
        h.faults.fail_next_http(429, 2)
        before = len(h.time.sleeps)
        markets = await h.client.markets(with_series_fees=False)
        assert len(markets) == len(TICKERS)
        waits = h.time.sleeps[before:]
        assert len([w for w in waits if w >= 1.5]) >= 2, waits
        assert h.faults.counts["http_429"] == 2
        h.faults.fail_next_http(429, 1)  # a 429 means the order was not taken: it is sent again
        placed = await h.client.place_order(_request(TICKERS[0], Side.YES, Action.BUY, 100_000, 1_000_000))
        assert placed.status is OrderStatus.OPEN
        assert len([m for m in h.sim.orders_of(KEY_ID) if m.order.client_order_id == placed.client_order_id]) == 1
        await h.client.cancel_order(placed.order_id)
        await round_trip(h)


async def test_http_500_on_reads_is_retried(private_key: rsa.RSAPrivateKey) -> None:
    plan = FaultPlan(seed=9, http_500_fraction=0.4, http_fault_path_prefixes=("/trade-api/v2/markets",))
    async with running(private_key, plan) as h:
        for ticker in TICKERS * 3:
            snapshot = await h.client.orderbook(ticker)
            assert snapshot.book_id == ticker
        markets = await h.client.markets(with_series_fees=False)
        assert len(markets) == len(TICKERS)
        assert h.faults.counts["http_500"] >= 2
        h.faults.fail_next_http(500, 2)
        before = len(h.time.sleeps)
        assert (await h.client.balance()).available_micro_usd > 0
        retry_waits = h.time.sleeps[before:]
        assert len(retry_waits) == 2 and retry_waits[0] < retry_waits[1]
        await round_trip(h)


async def test_order_post_500_or_timeout_is_unknown_until_a_query_settles_it(private_key: rsa.RSAPrivateKey) -> None:
    """The timeout is injected: the request deadline runs on the fake clock, so the order POST the
    venue never answers times out exactly when the test moves the clock, with no real waiting."""
    async with running(private_key, fake_deadlines=True) as h:
        ticker = TICKERS[0]
        best_ask = h.sim.engines[ticker].best_ask()
        assert best_ask is not None
        # 1. The 500 came before the venue took the order: the query finds nothing.
        h.faults.fail_next_http(500, 1)
        lost = await h.client.place_order(_request(ticker, Side.YES, Action.BUY, best_ask[0], 1_000_000))
        assert lost.status is OrderStatus.UNKNOWN and lost.order_id == ""
        assert await h.client.get_order(client_order_id=lost.client_order_id, market_id=ticker) is None
        # 2. Processed, then answered 500: the order exists and has filled.
        h.sim.fail_next_order_response("500")
        ambiguous = await h.client.place_order(_request(ticker, Side.YES, Action.BUY, best_ask[0], 1_000_000))
        assert ambiguous.status is OrderStatus.UNKNOWN
        settled = await h.client.get_order(client_order_id=ambiguous.client_order_id, market_id=ticker)
        assert settled is not None and settled.status is OrderStatus.FILLED and settled.filled_size_micro == 1_000_000
        # 3. Processed, never answered: the client times out, the query settles it.
        h.sim.fail_next_order_response("timeout")
        hung = _request(ticker, Side.YES, Action.BUY, 200_000, 1_000_000)
        send = asyncio.create_task(h.client.place_order(hung))
        await h.client.wait_until(
            lambda: any(m.order.client_order_id == hung.client_order_id for m in h.sim.orders_of(KEY_ID)), WAIT_S
        )
        assert not send.done()  # the venue has the order; the answer never comes
        h.time.advance(h.client.config.order_timeout_s)
        timed_out = await send
        assert timed_out.status is OrderStatus.UNKNOWN and "timed out" in timed_out.reason
        timed_out_id, ambiguous_id = timed_out.client_order_id, ambiguous.client_order_id
        assert timed_out_id is not None and ambiguous_id is not None
        settled = await h.client.get_order(client_order_id=timed_out.client_order_id, market_id=ticker)
        assert settled is not None and settled.status is OrderStatus.OPEN
        # Never sent twice: one venue order per client id, and a resend is settled through the 409.
        for request_id in (ambiguous_id, timed_out_id):
            assert len([m for m in h.sim.orders_of(KEY_ID) if m.order.client_order_id == request_id]) == 1
        again = await h.client.place_order(
            OrderRequest(timed_out_id, ticker, Side.YES, Action.BUY, 200_000, 1_000_000, TimeInForce.GTC)
        )
        assert again.order_id == settled.order_id and again.status is OrderStatus.OPEN
        await h.client.cancel_order(settled.order_id)
        await h.client.wait_until(
            lambda: any(f.order_id == settled_order_id(h, ambiguous_id) for f in h.stream_fills()), WAIT_S
        )
        await round_trip(h)


def settled_order_id(h: Harness, client_order_id: str) -> str:
    return next(m.order.order_id for m in h.sim.orders_of(KEY_ID) if m.order.client_order_id == client_order_id)


async def test_partial_fills_are_reported_exactly(private_key: rsa.RSAPrivateKey) -> None:
    plan = FaultPlan(seed=6, partial_fill_fraction=1.0, partial_fill_ratio=0.5)
    async with running(private_key, plan, fractional=True) as h:
        ticker = TICKERS[1]
        best_ask = h.sim.engines[ticker].best_ask()
        assert best_ask is not None
        ioc = await h.client.place_order(
            _request(ticker, Side.YES, Action.BUY, best_ask[0], 3_330_000, TimeInForce.IOC)
        )
        # half, in whole lots of 0.01: the answer's hint; the fill itself comes as a Fill event
        assert ioc.status is OrderStatus.CANCELED and ioc.fill_hint_micro == 1_660_000
        await h.client.wait_until(
            lambda: sum(f.size_micro for f in h.stream_fills() if f.order_id == ioc.order_id) == 1_660_000, WAIT_S
        )
        assert h.faults.counts["partial_fill"] >= 1
        await round_trip(h)


async def test_latency_on_every_answer_and_frame(private_key: rsa.RSAPrivateKey) -> None:
    plan = FaultPlan(seed=8, latency_s=0.02)
    async with running(private_key, plan) as h:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await h.client.balance()
        assert loop.time() - started >= 0.01  # latency x (1 - jitter) at least
        h.sim.step(3)
        await h.synced()
        await round_trip(h)


async def test_simulator_speaks_the_command_protocol(private_key: rsa.RSAPrivateKey) -> None:
    """The simulator's own socket protocol, driven by hand: replies, error codes, per-sid seq."""
    async with running(private_key) as h:
        signer = KalshiSigner(KEY_ID, private_key)
        with pytest.raises(InvalidStatus) as refused:
            await connect(h.sim.ws_url, proxy=None)
        assert refused.value.response.status_code == 401
        headers = signer.headers("GET", signing_path(h.sim.ws_url), 1)
        async with connect(h.sim.ws_url, additional_headers=headers, proxy=None) as ws:

            async def ask(command: dict[str, Any], replies: int = 1) -> list[dict[str, Any]]:
                await ws.send(orjson.dumps(command).decode())
                return [orjson.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(replies)]

            assert (await ask({"id": 1, "cmd": "subscribe", "params": {}}))[0]["msg"]["code"] == 3
            assert (await ask({"id": 2, "cmd": "explode"}))[0]["msg"]["code"] == 5
            assert (await ask({"id": 3, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}))[0]["msg"][
                "code"
            ] == 14
            subscribed, snapshot = await ask(
                {"id": 4, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"], "market_ticker": TICKERS[0]}},
                2,
            )
            sid = subscribed["msg"]["sid"]
            assert (
                subscribed["type"] == "subscribed" and snapshot["type"] == "orderbook_snapshot" and snapshot["seq"] == 1
            )
            assert snapshot["msg"]["yes_dollars_fp"][-1] == ["0.4900", "10.00"] and snapshot["msg"]["no_dollars_fp"][
                -1
            ] == ["0.4900", "10.00"]
            ok, again = await ask(
                {
                    "id": 5,
                    "cmd": "update_subscription",
                    "params": {"sid": sid, "market_tickers": [TICKERS[0]], "action": "get_snapshot"},
                },
                2,
            )
            assert (ok["type"], ok["seq"], again["seq"]) == ("ok", 2, 3)
            assert (
                await ask(
                    {
                        "id": 6,
                        "cmd": "update_subscription",
                        "params": {"sids": [sid], "market_tickers": ["X"], "action": "shrink"},
                    }
                )
            )[0]["msg"]["code"] == 13
            [listing] = await ask({"id": 7, "cmd": "list_subscriptions"})
            assert listing["msg"] == [{"channel": "orderbook_delta", "sid": sid}]
            [gone] = await ask({"id": 8, "cmd": "unsubscribe", "params": {"sids": [sid]}})
            assert (gone["type"], gone["sid"], gone["seq"]) == ("unsubscribed", sid, 4)
            assert (await ask({"id": 9, "cmd": "unsubscribe", "params": {"sids": [sid]}}))[0]["msg"]["code"] == 7


async def test_rate_budget_spaces_requests_and_pages_follow_the_cursor(private_key: rsa.RSAPrivateKey) -> None:
    async with running(private_key, read_rate_per_s=2.0, page_size=1) as h:
        before = len(h.time.sleeps)
        markets = await h.client.markets(with_series_fees=False)  # two pages of one market
        assert [m.market_id for m in markets] == list(TICKERS)
        for _ in range(3):
            await h.client.balance()
        waits = h.time.sleeps[before:]
        # Burst of 2, then one request per 0.5 s: the three later reads each waited about 0.5 s.
        assert len(waits) == 3 and all(0.49 < w < 0.51 for w in waits), waits
        await round_trip(h)


# -- accounts, settlement, set_book, slow consumers, the simulator's own order reader ----------------


async def _signed_post(h: Harness, private_key: rsa.RSAPrivateKey, path: str, body: Any) -> httpx.Response:
    full = "/trade-api/v2" + path
    headers = KalshiSigner(KEY_ID, private_key).headers("POST", full, 1_767_225_600_000)
    async with httpx.AsyncClient(trust_env=False) as http:
        return await http.post(h.sim.http.base_url + full, content=orjson.dumps(body), headers=headers)


async def test_order_beyond_the_balance_is_refused_with_kalshi_error_and_the_balance_reflects_reservations(
    private_key: rsa.RSAPrivateKey,
) -> None:
    async with running(private_key, sim_options={"default_balance_micro_usd": 5_000_000}) as h:
        ticker = TICKERS[0]
        refused = await h.client.place_order(_request(ticker, Side.YES, Action.BUY, 400_000, 20_000_000))
        assert refused.status is OrderStatus.REJECTED and "insufficient_balance" in refused.reason
        body = {
            "ticker": ticker,
            "side": "yes",
            "action": "buy",
            "count_fp": "20.00",
            "yes_price_dollars": "0.4000",
            "client_order_id": "raw-1",
        }
        answer = await _signed_post(h, private_key, "/portfolio/orders", body)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "insufficient_balance"
        placed = await h.client.place_order(_request(ticker, Side.YES, Action.BUY, 400_000, 5_000_000))
        assert placed.status is OrderStatus.OPEN
        # 2.00 for the contracts and ceil_cent(0.07 x 5 x 0.4 x 0.6) = 0.09 for the fee are reserved.
        assert (await h.client.balance()).available_micro_usd == 5_000_000 - 2_090_000
        await h.client.cancel_order(placed.order_id)
        assert (await h.client.balance()).available_micro_usd == 5_000_000
        assert h.sim.http.handler_errors == []


async def test_settlement_reaches_the_client_as_lifecycle_messages_and_pays_out(private_key: rsa.RSAPrivateKey) -> None:
    async with running(private_key) as h:
        await h.client.subscribe(list(TICKERS), channels=("market_lifecycle_v2",))
        ticker = TICKERS[0]
        best_ask = h.sim.engines[ticker].best_ask()
        assert best_ask is not None
        bought = await h.client.place_order(
            _request(ticker, Side.YES, Action.BUY, best_ask[0], 3_000_000, TimeInForce.IOC)
        )
        assert bought.status is OrderStatus.FILLED
        resting = await h.client.place_order(_request(ticker, Side.YES, Action.BUY, 100_000, 2_000_000))
        before = (await h.client.balance()).available_micro_usd
        h.sim.settle(ticker, "yes")

        def lifecycle() -> list[tuple[str, str]]:
            return [(e.kind, e.result) for e in h.events if isinstance(e, MarketLifecycle) and e.market_id == ticker]

        await h.client.wait_until(lambda: lifecycle() == [("determined", "yes"), ("settled", "yes")], WAIT_S)
        # Paid $1 per contract; the resting order was cancelled, so its reservation came back too.
        assert (await h.client.balance()).available_micro_usd == before + 3_000_000 + 200_000 + 20_000
        assert [p.market_id for p in await h.client.positions()] == []
        assert (await h.client.get_order(resting.order_id)).status is OrderStatus.CANCELED  # type: ignore[union-attr]
        [market] = [m for m in await h.client.markets(with_series_fees=False) if m.market_id == ticker]
        assert market.status is MarketStatus.SETTLED
        h.sim.step(3)  # the market maker of a settled market quotes no more
        assert h.sim.engines[ticker].snapshot() == ((), ())
        await h.synced()  # every resting order left the book, and the client saw it go


async def test_set_book_keeps_subscribed_clients_consistent(private_key: rsa.RSAPrivateKey) -> None:
    async with running(private_key) as h:
        ticker = TICKERS[0]
        h.sim.set_book(ticker, [(300_000, 5_000_000), (320_000, 2_000_000)], [(700_000, 4_000_000)])
        await h.synced()
        assert (300_000, 5_000_000) in h.client.books[ticker].bids()
        h.sim.set_book(ticker, [(310_000, 1_000_000)], [], publish="snapshot")
        await h.synced()
        assert (300_000, 5_000_000) not in h.client.books[ticker].bids()
        # New house liquidity that crosses an account's resting order fills it, as on the venue.
        placed = await h.client.place_order(_request(ticker, Side.YES, Action.BUY, 500_000, 2_000_000))
        assert placed.status is OrderStatus.OPEN
        h.sim.set_book(ticker, [], [(500_000, 1_000_000)])
        await h.client.wait_until(
            lambda: sum(f.size_micro for f in h.stream_fills() if f.order_id == placed.order_id) == 1_000_000, WAIT_S
        )
        await h.synced()
        with pytest.raises(ConfigError, match="tick grid"):
            h.sim.set_book(ticker, [(305_000, 1_000_000)], [])
        await h.client.cancel_order(placed.order_id)
        await round_trip(h)


async def test_slow_consumer_gets_error_25_and_its_subscription_is_dropped(private_key: rsa.RSAPrivateKey) -> None:
    async with running(private_key, sim_options={"max_queued_frames": 12}) as h:
        ticker = TICKERS[1]
        headers = KalshiSigner(KEY_ID, private_key).headers("GET", signing_path(h.sim.ws_url), 1)
        async with connect(h.sim.ws_url, additional_headers=headers, proxy=None) as ws:

            async def ask(command: dict[str, Any], replies: int = 1) -> list[dict[str, Any]]:
                await ws.send(orjson.dumps(command).decode())
                return [orjson.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(replies)]

            subscribe = {
                "id": 1,
                "cmd": "subscribe",
                "params": {"channels": ["orderbook_delta"], "market_ticker": ticker},
            }
            subscribed, _ = await ask(subscribe, 2)
            sid = subscribed["msg"]["sid"]
            for i in range(40):  # published in one go: far more than the writer queue holds
                h.sim.set_level(ticker, BookSide.BID, 200_000 + (i % 10) * 10_000, (i + 1) * 1_000_000)
            overflow = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert overflow["type"] == "error" and overflow["msg"]["code"] == 25 and overflow["sid"] == sid
            [listing] = await ask({"id": 2, "cmd": "list_subscriptions"})
            assert listing["msg"] == []
            _, snapshot = await ask(subscribe | {"id": 3}, 2)  # resubscribing gives a fresh snapshot
            yes, _ = h.sim.book(ticker)
            assert snapshot["msg"]["yes_dollars_fp"] == [[f"{p / 1e6:.4f}", f"{s / 1e6:.2f}"] for p, s in sorted(yes)]
        assert h.sim.overflows == 2  # the adapter's subscription overflowed as well...
        await h.synced()  # ...and it resubscribed by itself
        assert h.client.session.stats.venue_errors[25] == 1
        await round_trip(h)


@pytest.mark.parametrize(
    ("change", "field_name"),
    [
        ({"ticker": ""}, "ticker"),
        ({"side": "maybe"}, "side"),
        ({"action": "hold"}, "action"),
        ({"count_fp": "1.234"}, "count_fp"),
        ({"count": 3}, "count"),
        ({"count_fp": "0.00"}, "count_fp"),
        ({"no_price_dollars": "0.5000"}, "no_price_dollars"),
        ({"yes_price_dollars": "1.0000"}, "yes_price_dollars"),
        ({"yes_price_dollars": 0.4}, "yes_price_dollars"),
        ({"time_in_force": "good_till_date"}, "time_in_force"),
        ({"post_only": "yes"}, "post_only"),
        ({"type": "market"}, "type"),
        ({"expiration_ts": -5}, "expiration_ts"),
    ],
)
async def test_the_simulator_reads_create_order_requests_with_its_own_parser(
    change: dict[str, Any], field_name: str
) -> None:
    body = {"ticker": "T", "side": "yes", "action": "buy", "count_fp": "2.00", "yes_price_dollars": "0.4000"}
    assert parse_create_order(body) == CreateOrder(
        "T", Side.YES, Action.BUY, 400_000, 2_000_000, TimeInForce.GTC, None, None, False, False
    )
    with pytest.raises(KalshiRefusal) as refused:
        parse_create_order(body | change)
    assert refused.value.code == "invalid_parameters" and refused.value.message.startswith(field_name)


async def test_the_simulator_reads_what_the_adapter_writes() -> None:
    for request in (
        OrderRequest("c-1", "T", Side.NO, Action.SELL, 370_000, 1_250_000, TimeInForce.IOC),
        OrderRequest(
            "c-2", "T", Side.YES, Action.BUY, 4_500, 3_000_000, TimeInForce.GTD, expiration_ms=1_800_000_000_500
        ),
        OrderRequest("c-3", "T", Side.YES, Action.BUY, 990_000, 1_000_000, TimeInForce.FOK, post_only=False),
    ):
        order = parse_create_order(create_order_body(request))
        assert (order.ticker, order.outcome, order.action, order.price_micro_usd, order.size_micro, order.tif) == (
            request.market_id,
            request.outcome,
            request.action,
            request.price_micro_usd,
            request.size_micro,
            request.time_in_force,
        )
        assert order.client_order_id == request.client_order_id
    assert (
        parse_create_order(
            create_order_body(
                OrderRequest(
                    "c-2", "T", Side.YES, Action.BUY, 4_500, 1_000_000, TimeInForce.GTD, expiration_ms=1_800_000_000_500
                )
            )
        ).expiration_ms
        == 1_800_000_001_000
    )


async def test_3_1_cancelling_a_filled_or_cancelled_order_returns_its_final_state(
    private_key: rsa.RSAPrivateKey,
) -> None:
    """The venue answers 404 to a cancel of an order that no longer rests; the client looks the
    order up and returns its final state (before: the 404 was raised as a refused order)."""
    async with running(private_key) as h:
        ticker = TICKERS[0]
        best_ask = h.sim.engines[ticker].best_ask()
        assert best_ask is not None
        filled = await h.client.place_order(_request(ticker, Side.YES, Action.BUY, best_ask[0], 1_000_000))
        assert filled.status is OrderStatus.FILLED
        again = await h.client.cancel_order(filled.order_id, ticker)
        assert again.status is OrderStatus.FILLED and again.filled_size_micro == 1_000_000
        resting = await h.client.place_order(_request(ticker, Side.YES, Action.BUY, 100_000, 1_000_000))
        first = await h.client.cancel_order(resting.order_id, ticker)
        second = await h.client.cancel_order(resting.order_id, ticker)
        assert first.status is second.status is OrderStatus.CANCELED and second.order_id == resting.order_id
        with pytest.raises(OrderRejectedError, match="no such order"):
            await h.client.cancel_order("no-such-order", ticker)
        await round_trip(h)


async def test_3_2_a_duplicate_client_order_id_in_a_batch_is_settled_by_a_lookup(
    private_key: rsa.RSAPrivateKey,
) -> None:
    """A resend (after an UNKNOWN) of an order the venue already has, inside a batch: the item's
    "already exists" error is settled by a lookup into that order, not reported REJECTED."""
    async with running(private_key) as h:
        ticker = TICKERS[1]
        first = await h.client.place_order(_request(ticker, Side.YES, Action.BUY, 100_000, 1_000_000))
        assert first.status is OrderStatus.OPEN and first.client_order_id is not None
        resend = OrderRequest(first.client_order_id, ticker, Side.YES, Action.BUY, 100_000, 1_000_000, TimeInForce.GTC)
        fresh = _request(ticker, Side.YES, Action.BUY, 110_000, 1_000_000)
        settled, placed = await h.client.place_orders([resend, fresh])
        assert settled.status is OrderStatus.OPEN and settled.order_id == first.order_id
        assert placed.status is OrderStatus.OPEN and placed.order_id != first.order_id
        assert len([m for m in h.sim.orders_of(KEY_ID) if m.order.client_order_id == first.client_order_id]) == 1
        for order_id in (first.order_id, placed.order_id):
            await h.client.cancel_order(order_id, ticker)
        await round_trip(h)


async def test_3_2_fills_missed_while_disconnected_are_caught_up_exactly_once(
    private_key: rsa.RSAPrivateKey,
) -> None:
    """Our resting order fills while the socket is down (the fill frame is lost with the old
    connection). After reconnecting, the client asks for the fills since the newest it saw: the
    missed fill reaches the sink exactly once, and later queries do not repeat it."""
    async with running(private_key) as h:
        ticker = TICKERS[0]
        resting = await h.client.place_order(_request(ticker, Side.YES, Action.BUY, 500_000, 2_000_000))
        assert resting.status is OrderStatus.OPEN
        taken: list[bool] = []

        def fill_while_down(_seconds: float) -> None:
            if not taken:  # the reconnect pause: nothing is connected now
                taken.append(True)
                h.sim.submit("taker", ticker, Side.YES, Action.SELL, 500_000, 2_000_000, TimeInForce.IOC)

        h.time.on_sleep = fill_while_down
        await h.sim.drop_all()
        await h.client.wait_until(lambda: any(f.order_id == resting.order_id for f in h.stream_fills()), WAIT_S)
        h.time.on_sleep = None
        assert taken and h.client.connects == 2 and h.client.fill_catch_ups == 1
        await h.client.fills()  # a later query finds it again: still one
        assert [f.order_id for f in h.stream_fills()].count(resting.order_id) == 1
        check_fills(h, reconnected=False)  # every venue fill reached the sink, none twice
        await h.synced()
        await round_trip(h)


# -- the V2 event-order routes on the wire ------------------------------------------------------------


async def _signed(
    h: Harness, private_key: rsa.RSAPrivateKey, method: str, path: str, body: Any = None, raw: bytes | None = None
) -> httpx.Response:
    full = "/trade-api/v2" + path
    headers = KalshiSigner(KEY_ID, private_key).headers(method, full, 1_767_225_600_000)
    content = raw if raw is not None else (None if body is None else orjson.dumps(body))
    async with httpx.AsyncClient(trust_env=False) as http:
        return await http.request(method, h.sim.http.base_url + full, content=content, headers=headers)


def _v2_body(
    ticker: str, side: str, count: str, price: str, tif: str = "good_till_canceled", **extra: Any
) -> dict[str, Any]:
    body = {"ticker": ticker, "side": side, "count": count, "price": price, "time_in_force": tif}
    return {"self_trade_prevention_type": "taker_at_cross", **body, **extra}


@pytest.mark.parametrize("fractional", [True, False])
async def test_v2_fractional_counts_are_accepted_only_on_fractional_markets(
    private_key: rsa.RSAPrivateKey, fractional: bool
) -> None:
    async with running(private_key, fractional=fractional, wait_synced=False) as h:
        ticker = TICKERS[0]
        answer = await _signed(
            h, private_key, "POST", "/portfolio/events/orders", _v2_body(ticker, "bid", "1.5", "0.10")
        )
        if fractional:
            assert answer.status_code == 201 and answer.json()["remaining_count"] == "1.50"
            assert h.sim.order_meta(answer.json()["order_id"]) is not None
        else:
            assert answer.status_code == 400
            assert answer.json() == {
                "error": {
                    "code": "invalid_order",
                    "message": "invalid order",
                    "details": f"fractional contracts are not enabled on market {ticker}",
                }
            }
            assert h.sim.orders_of(KEY_ID) == []
        assert h.sim.http.handler_errors == []


async def test_v2_fok_that_cannot_fill_is_killed_with_a_409_in_the_venues_payload(
    private_key: rsa.RSAPrivateKey,
) -> None:
    async with running(private_key) as h:
        ticker = TICKERS[0]
        before = h.sim.book(ticker)
        available = h.sim.accounts[KEY_ID].available_micro
        body = _v2_body(ticker, "bid", "500", "0.99", "fill_or_kill", client_order_id="fok-1")
        answer = await _signed(h, private_key, "POST", "/portfolio/events/orders", body)
        assert answer.status_code == 409
        assert answer.json() == {
            "error": {
                "code": "fill_or_kill_insufficient_resting_volume",
                "message": "fill or kill insufficient resting volume",
            }
        }
        assert h.sim.book(ticker) == before and h.sim.accounts[KEY_ID].available_micro == available
        (killed,) = h.sim.orders_of(KEY_ID)  # on record, cancelled, holding its client order id
        assert killed.order.status is OrderStatus.CANCELED and killed.order.filled_micro == 0
        again = await _signed(h, private_key, "POST", "/portfolio/events/orders", body)
        assert again.status_code == 409 and again.json()["error"]["code"] == "order_already_exists"
        await round_trip(h)


async def test_v2_batch_answers_each_item_with_its_own_error(private_key: rsa.RSAPrivateKey) -> None:
    async with running(private_key) as h:
        ticker = TICKERS[1]
        orders = [
            _v2_body(ticker, "bid", "1", "0.10", client_order_id="b-1"),
            _v2_body(ticker, "bid", "1", "0.105", client_order_id="b-2"),  # off the cent grid
            _v2_body(ticker, "sideways", "1", "0.10", client_order_id="b-3"),
            _v2_body(ticker, "ask", "2", "0.95", client_order_id="b-4"),
        ]
        answer = await _signed(h, private_key, "POST", "/portfolio/events/orders/batched", {"orders": orders})
        assert answer.status_code == 201
        first, off_tick, bad_side, last = answer.json()["orders"]
        assert first["error"] is None and first["remaining_count"] == "1.00" and first["client_order_id"] == "b-1"
        assert last["error"] is None and last["remaining_count"] == "2.00"
        assert off_tick == {
            "client_order_id": "b-2",
            "error": {"code": "invalid_order", "message": "invalid order", "details": off_tick["error"]["details"]},
        }
        assert "tick grid" in off_tick["error"]["details"]
        assert bad_side["error"] == {
            "code": "invalid_order",
            "message": "invalid order",
            "details": "side must be 'bid' or 'ask'",
        }
        assert sorted(m.order.client_order_id or "" for m in h.sim.orders_of(KEY_ID)) == ["b-1", "b-4"]
        cancel = {"orders": [{"order_id": first["order_id"]}, {"order_id": "no-such-order"}]}
        canceled = await _signed(h, private_key, "DELETE", "/portfolio/events/orders/batched", cancel)
        ok, missing = canceled.json()["orders"]
        assert (ok["reduced_by"], ok["error"]) == ("1.00", None)
        assert missing == {
            "order_id": "no-such-order",
            "reduced_by": "0.00",
            "error": {"code": "not_found", "message": "not found", "details": "order not found"},
        }
        everything = await _signed(h, private_key, "DELETE", "/portfolio/events/orders")
        assert everything.status_code == 204 and everything.content == b""
        assert all(not m.order.is_open for m in h.sim.orders_of(KEY_ID))
        await round_trip(h)


async def test_v2_unparsable_bodies_answer_at_the_top_level(private_key: rsa.RSAPrivateKey) -> None:
    async with running(private_key, wait_synced=False) as h:
        path = "/portfolio/events/orders"
        malformed = await _signed(h, private_key, "POST", path, raw=b"{not json")
        wrong_type = await _signed(
            h, private_key, "POST", path, _v2_body(TICKERS[0], "bid", "1", "0.10") | {"count": 1}
        )
        missing = await _signed(h, private_key, "POST", path, {"side": "bid"})
        assert malformed.status_code == wrong_type.status_code == missing.status_code == 400
        assert malformed.json() == {
            "code": "bad_request",
            "message": "bad request",
            "details": "request body is not valid JSON",
        }
        assert wrong_type.json() == {
            "code": "bad_request",
            "message": "bad request",
            "details": "count must be of type str",
        }
        bad_query = await _signed(h, private_key, "GET", "/portfolio/fills?min_ts=yesterday")
        assert bad_query.status_code == 400 and bad_query.json()["error"]["code"] == "invalid_parameters"
        assert h.sim.http.handler_errors == []
        assert missing.json()["error"] == {
            "code": "missing_parameters",
            "message": "missing parameters",
            "details": "ticker is required",
        }


async def test_v2_orders_trade_through_the_same_books_fills_and_socket_as_legacy_ones(
    private_key: rsa.RSAPrivateKey,
) -> None:
    async with running(private_key) as h:
        ticker = TICKERS[0]
        best_ask = h.sim.engines[ticker].best_ask()
        assert best_ask is not None
        price = f"{best_ask[0] / 1_000_000:.4f}"
        body = _v2_body(ticker, "bid", "2", price, "immediate_or_cancel", client_order_id="v2-ioc")
        answer = (await _signed(h, private_key, "POST", "/portfolio/events/orders", body)).json()
        assert answer["fill_count"] == "2.00" and answer["average_fill_price"] == price
        order_id = answer["order_id"]
        await h.client.wait_until(
            lambda: sum(f.size_micro for f in h.stream_fills() if f.order_id == order_id) == 2_000_000, WAIT_S
        )
        rest = await h.client.fills()
        assert sum(f.size_micro for f in rest if f.order_id == order_id) == 2_000_000
        assert h.sim.position(KEY_ID, ticker).position_micro == 2_000_000
        trades = await _signed(h, private_key, "GET", f"/markets/trades?ticker={ticker}&limit=1")
        (trade,) = trades.json()["trades"]  # a route of its own, not the market "trades"
        assert (trade["ticker"], trade["taker_book_side"], trade["count_fp"]) == (ticker, "bid", "2.00")
        legacy = await h.client.place_order(_request(ticker, Side.YES, Action.BUY, 100_000, 1_000_000))
        batch = await _signed(h, private_key, "DELETE", "/portfolio/orders/batched", {"ids": [legacy.order_id, "nope"]})
        done, unknown = batch.json()["orders"]
        assert done["order"]["status"] == "canceled" and done["reduced_by_fp"] == "1.00"
        assert unknown["error"]["code"] == "not_found"
        await h.synced()
        await round_trip(h)
