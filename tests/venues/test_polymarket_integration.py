"""The Polymarket adapter against the simulated venue over loopback, one test per fault knob plus a
full order round trip. Time is a fake clock the test advances; backoff sleeps are recorded, not
waited; waiting for effects is on conditions with a timeout guard. Every test also checks that
nothing crashed and that fills were neither duplicated nor lost."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2
from websockets.asyncio.client import connect as websockets_connect

from arb.domain import (
    Action,
    BookSide,
    BookSnapshot,
    Fill,
    FillStatus,
    Liquidity,
    MarketInfo,
    MarketLifecycle,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Side,
    TimeInForce,
    VenueNotice,
)
from arb.errors import AuthError, ConfigError
from arb.venues.base import VenueClient
from arb.venues.polymarket.client import PolymarketClient, PolymarketConfig
from arb.venues.polymarket.orders import OrderSigner, PolymarketCredentials, serialize_body
from arb.venues.polymarket.session import FetchBook
from arb.venues.sim.faults import FaultPlan
from arb.venues.sim.polymarket import PolymarketMarketSpec, PolymarketSimulator
from tests.venues.test_polymarket_session import YES as TOKEN
from tests.venues.test_polymarket_session import book_bytes, change_bytes, hash_mismatch_book
from tests.venues.test_polymarket_session import market as session_market

S = 1_000_000_000
CONDITION = "0x" + "c0" * 32
YES, NO = "7001", "7002"
SPEC = PolymarketMarketSpec(CONDITION, "Will the simulated event happen?", YES, NO, yes_mid_micro=500_000)
KEY = "0x" + hashlib.sha256(b"arb polymarket integration throwaway key").hexdigest()
SECRET = base64.urlsafe_b64encode(b"integration-secret-32-bytes-long").decode()
CREDS = PolymarketCredentials(KEY, "api-key-int", SECRET, "pass-int")


class FakeClock:
    """Monotonic ns for the client and wall ms for both sides; moves only when the test says."""

    def __init__(self) -> None:
        self.ns = 1_000 * S

    def __call__(self) -> int:
        return self.ns

    def wall_ms(self) -> int:
        return 1_767_225_600_000 + self.ns // 1_000_000

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * S)


@dataclass
class Harness:
    sim: PolymarketSimulator
    client: PolymarketClient
    clock: FakeClock
    events: list[Any]
    sleeps: list[float]
    changed: asyncio.Event
    market: MarketInfo | None = None
    observations: list[tuple[str, bool]] = field(default_factory=list)

    async def until(self, predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        """Wait (bounded) until `predicate()` holds; re-checked on every event and every 10 ms."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            self.changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 0.01)

    def trusted(self) -> bool:
        return all(book.trusted for book in self.client.books.values()) and len(self.client.books) == 2

    async def ready(self) -> None:
        markets = await self.client.markets()
        assert [m.market_id for m in markets] == [CONDITION]
        self.market = markets[0]
        await self.client.subscribe(markets)
        await self.until(self.trusted, "books trusted after subscribing")
        await self.until(self.client.connected["user"].is_set, "user socket")

    def fills_of(self, order_id: str) -> list[Any]:
        return self.client.user_session.fills_of(order_id)

    def assert_healthy(self) -> None:
        assert list(self.client.diagnostics.loop_errors) == []
        assert self.sim._clob is not None and self.sim._clob.handler_errors == []
        assert self.sim._gamma is not None and self.sim._gamma.handler_errors == []
        fills = self.client.user_session.fills
        assert len(fills) == self.client.user_session.stats.new_fills  # each fill counted once
        assert len({f.fill_id for f in fills.values()}) == len(fills)


@asynccontextmanager
async def running(
    plan: FaultPlan | None = None,
    *,
    register: bool = True,
    credentials: PolymarketCredentials = CREDS,
    auto_settle: bool = True,
    specs: tuple[PolymarketMarketSpec, ...] = (SPEC,),
    cash_micro: int = 1_000 * 1_000_000,
    positions: dict[str, int] | None = None,
    sim_options: dict[str, Any] | None = None,
    **config: Any,
) -> AsyncIterator[Harness]:
    clock = FakeClock()
    sim = PolymarketSimulator(
        list(specs), clock_ms=clock.wall_ms, faults=plan, seed=11, auto_settle=auto_settle, **(sim_options or {})
    )
    await sim.start()
    if register:
        sim.add_account(
            CREDS.api_key,
            CREDS.api_secret,
            CREDS.api_passphrase,
            CREDS.signer_address,
            cash_micro=cash_micro,
            positions=positions,
        )
    changed = asyncio.Event()
    events: list[Any] = []
    sleeps: list[float] = []
    harness_ref: list[Harness] = []

    def sink(event: Any) -> None:
        events.append(event)
        if isinstance(event, VenueNotice) and event.kind in ("connected", "disconnected") and harness_ref:
            books = harness_ref[0].client.books.values()
            harness_ref[0].observations.append(
                (f"{event.kind}:{event.message}", all(b.trusted for b in books) and bool(books))
            )
        changed.set()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        changed.set()
        await asyncio.sleep(0)

    settings: dict[str, Any] = {
        "gamma_base_url": sim.gamma_url,
        "clob_base_url": sim.clob_url,
        "data_api_base_url": sim.gamma_url,
        "market_ws_url": sim.market_ws_url,
        "user_ws_url": sim.user_ws_url,
        "check_interval_s": 0.005,
        "feed_silence_s": 25.0,
        "pong_timeout_s": 30.0,
        "reconnect_base_s": 0.25,
        "reconnect_cap_s": 4.0,
        "retry_base_s": 0.1,
        "retry_cap_s": 1.0,
    }
    settings.update(config)
    client = PolymarketClient(
        PolymarketConfig(**settings),
        clock=clock,
        sleep=sleep,
        rng=random.Random(5),
        sink=sink,
        credentials=credentials,
        wall_clock_ms=clock.wall_ms,
    )
    harness = Harness(sim, client, clock, events, sleeps, changed)
    harness_ref.append(harness)
    await client.start()
    try:
        yield harness
    finally:
        await client.close()
        await sim.close()


def order(
    cid: str, action: Action, price: int, size: int, tif: TimeInForce, outcome: Side = Side.YES, **kw: Any
) -> OrderRequest:
    return OrderRequest(cid, CONDITION, outcome, action, price, size, tif, **kw)


# -- round trip --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_order_round_trip_place_partial_fill_cancel_and_query() -> None:
    async with running() as h:
        assert isinstance(h.client, VenueClient) and h.client.capabilities.fills_can_fail
        await h.ready()
        off_tick = await h.client.place_order(order("rt-0", Action.BUY, 505_000, 10_000_000, TimeInForce.GTC))
        assert (
            off_tick.status is OrderStatus.REJECTED
            and off_tick.reason == "price off tick"
            and h.sim.stats["orders"] == 0
        )
        # A bid inside the spread (0.49 / 0.51) rests at the top of the book.
        placed = await h.client.place_order(order("rt-1", Action.BUY, 500_000, 10_000_000, TimeInForce.GTC))
        assert placed.status is OrderStatus.OPEN and placed.client_order_id == "rt-1"
        await h.until(lambda: h.client.books[YES].best_bid() == (500_000, 10_000_000), "our order on the feed")
        assert h.trusted()
        # Someone sells 4 shares into our bid: a maker fill for us.
        h.sim.take(YES, BookSide.ASK, 500_000, 4_000_000, TimeInForce.IOC)
        await h.until(
            lambda: [f.status for f in h.fills_of(placed.order_id)] == [FillStatus.CONFIRMED], "maker fill confirmed"
        )
        (fill,) = h.fills_of(placed.order_id)
        assert (fill.size_micro, fill.price_micro_usd, fill.liquidity, fill.action, fill.outcome) == (
            4_000_000,
            500_000,
            Liquidity.MAKER,
            Action.BUY,
            Side.YES,
        )
        assert fill.client_order_id == "rt-1"
        await h.until(
            lambda: h.client.user_session.orders[placed.order_id].filled_size_micro == 4_000_000, "order update"
        )
        canceled = await h.client.cancel_order(placed.order_id)
        assert canceled.status is OrderStatus.CANCELED and canceled.remaining_size_micro == 0
        queried = await h.client.fills(order_id=placed.order_id)
        assert [f.fill_id for f in queried] == [fill.fill_id] and h.client.user_session.stats.new_fills == 1
        assert await h.client.open_orders() == []
        (position,) = await h.client.positions()
        assert (position.book_id, position.position_micro) == (YES, 4_000_000)
        assert (await h.client.balance()).available_micro_usd == 1_000_000_000 - 2_000_000
        assert h.trusted()
        h.assert_healthy()


@pytest.mark.asyncio
async def test_ioc_fill_and_fok_kill() -> None:
    async with running() as h:
        await h.ready()
        fak = await h.client.place_order(order("ioc-1", Action.BUY, 520_000, 10_000_000, TimeInForce.IOC))
        assert fak.status is OrderStatus.UNKNOWN  # "matched": how much is for the trade events to say
        await h.until(lambda: h.client.user_session.net_filled_micro(fak.order_id) == 10_000_000, "FAK fill")
        fok = await h.client.place_order(order("fok-1", Action.BUY, 520_000, 500_000_000, TimeInForce.FOK))
        assert fok.status is OrderStatus.REJECTED and "fully filled" in fok.reason
        assert h.fills_of(fok.order_id) == []
        h.assert_healthy()


@pytest.mark.asyncio
async def test_refusals_in_the_venues_400_error_shape_come_back_rejected_with_its_message() -> None:
    """The simulator refuses as the venue does, 400 `{"error": ...}` (a FOK that cannot fill and a
    FAK with nothing to match included, not 200 success:false): each order comes back REJECTED with
    the venue's own text, nothing filled, and later orders trade normally."""
    async with running() as h:
        await h.ready()
        refused = {
            "fok": order("rj-fok", Action.BUY, 520_000, 500_000_000, TimeInForce.FOK),
            "fak": order("rj-fak", Action.BUY, 300_000, 5_000_000, TimeInForce.IOC),
            "post-only": order("rj-po", Action.BUY, 510_000, 5_000_000, TimeInForce.GTC, post_only=True),
            "balance": order("rj-bal", Action.BUY, 400_000, 5_000_000_000, TimeInForce.GTC),
        }
        reasons = {}
        for name, request in refused.items():
            update = await h.client.place_order(request)
            assert update.status is OrderStatus.REJECTED and update.client_order_id == request.client_order_id
            assert update.order_id and h.fills_of(update.order_id) == []
            reasons[name] = update.reason
        assert reasons == {
            "fok": "order couldn't be fully filled. FOK orders are fully filled or killed.",
            "fak": "no orders found to match with FAK order. FAK orders are partially filled or killed if no match "
            "is found.",
            "post-only": "invalid post-only order: order crosses book",
            "balance": "not enough balance / allowance",
        }
        # The raw FOK answer is the venue's shape.
        signer = OrderSigner(CREDS, rng=random.Random(9))
        prepared = signer.prepare(
            refused["fok"], token_id=YES, tick_micro=10_000, neg_risk=False, now_ms=h.clock.wall_ms()
        )
        headers = signer.headers("POST", "/order", prepared.body_text, h.clock.wall_ms() // 1000)
        async with httpx.AsyncClient(base_url=h.sim.clob_url) as http:
            answer = await http.post("/order", content=prepared.body_text.encode(), headers=headers)
        assert answer.status_code == 400 and answer.json()["error"] == reasons["fok"]
        ok = await h.client.place_order(order("rj-ok", Action.BUY, 520_000, 5_000_000, TimeInForce.FOK))
        assert ok.status is OrderStatus.FILLED
        h.assert_healthy()


# -- fault knobs ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_connection_drop_reconnects_with_jittered_backoff_and_resnapshots() -> None:
    async with running(FaultPlan(seed=1, drop_connection_after_frames=3)) as h:
        await h.ready()
        h.sim.step(4)  # frame 3 on the market socket closes it instead of being sent
        await h.until(lambda: bool(h.client.diagnostics.reconnect_delays), "a reconnect")
        await h.until(
            lambda: h.client.market_session.stats.connects == 2 and h.trusted(), "books trusted on the new socket"
        )
        (stream, delay), *_ = h.client.diagnostics.reconnect_delays
        assert stream == "market" and 0.125 <= delay <= 0.25 and delay in h.sleeps  # equal jitter on the 0.25 s base
        assert ("disconnected:market", False) in h.observations  # untrusted while down
        assert h.client.market_session.stats.disconnects == 1
        # Trading after the reconnect. The user socket's frame 3 (this fill's CONFIRMED) is dropped
        # too: the fill is seen once from the socket and its final status comes from the query.
        fak = await h.client.place_order(order("after-drop", Action.BUY, 990_000, 5_000_000, TimeInForce.IOC))
        await h.until(lambda: len(h.fills_of(fak.order_id)) == 1, "fill after reconnect")
        await h.until(
            lambda: ("user", h.client.diagnostics.reconnect_delays[-1][1]) == h.client.diagnostics.reconnect_delays[-1],
            "user socket reconnect",
        )
        (settled,) = await h.client.fills(order_id=fak.order_id)
        assert settled.status is FillStatus.CONFIRMED and h.client.user_session.stats.new_fills == 1
        h.assert_healthy()


@pytest.mark.asyncio
async def test_silent_freeze_is_caught_by_the_watchdog_while_pongs_flow() -> None:
    async with running() as h:
        await h.ready()
        session = h.client.market_session
        h.sim.faults.freeze("market")
        h.sim.step(3)  # swallowed: the feed is silent from here
        for n in (1, 2):
            h.clock.advance(10.0)

            def answered(count: int = n) -> bool:
                return session.stats.pongs >= count

            await h.until(answered, f"PONG #{n} while frozen")
            assert h.trusted()  # 10 or 20 s of silence is below the 25 s limit
        assert session.stats.watchdog_trips == 0
        h.clock.advance(6.0)  # 26 s without data
        await h.until(lambda: session.stats.watchdog_trips == 1, "watchdog trip")
        await h.until(lambda: session.stats.connects == 2 and h.trusted(), "recovered on a fresh socket")
        assert ("market", "feed silent") in h.client.diagnostics.disconnect_reasons
        assert ("disconnected:market", False) in h.observations
        h.assert_healthy()


@pytest.mark.asyncio
async def test_hash_mismatch_untrusts_then_resyncs_over_rest() -> None:
    async with running(FaultPlan(hash_mismatch_at_frames=(0,))) as h:
        markets = await h.client.markets()
        await h.client.subscribe(markets)
        session = h.client.market_session
        await h.until(lambda: session.stats.rest_snapshots == 1 and h.trusted(), "REST resync")
        assert session.stats.hash_mismatches == 1 and session.stats.connects == 1  # fixed without reconnecting
        snapshots = [e for e in h.events if isinstance(e, BookSnapshot)]
        assert [s.hash_ok for s in snapshots[:3]] == [False, True, True]
        # The resynced book equals the venue's.
        for token in (YES, NO):
            bids, asks = h.sim.engines[token].snapshot()
            assert h.client.books[token].bids() == bids and h.client.books[token].asks() == asks
        h.assert_healthy()


@pytest.mark.asyncio
async def test_http_429_backoff_honours_retry_after() -> None:
    async with running(FaultPlan(http_429_retry_after_s=1.5)) as h:
        h.sim.faults.fail_next_http(429, 2)
        markets = await h.client.markets()
        assert len(markets) == 1
        delays = [d for path, d in h.client.diagnostics.retry_delays if path == "/markets"]
        assert len(delays) == 2 and all(d >= 1.5 for d in delays) and all(d in h.sleeps for d in delays)
        h.assert_healthy()


@pytest.mark.asyncio
async def test_http_500_retries_reads_and_makes_order_posts_unknown_until_settled() -> None:
    async with running() as h:
        await h.ready()
        h.sim.faults.fail_next_http(500, 1)
        book = await h.client.fetch_book(YES)
        assert book["asset_id"] == YES and [p for p, _ in h.client.diagnostics.retry_delays] == ["/book"]
        # A 500 before the venue processed the order: unknown, then the query says it never existed.
        h.sim.faults.fail_next_http(500, 1)
        lost = await h.client.place_order(order("u-1", Action.BUY, 400_000, 5_000_000, TimeInForce.GTC))
        assert lost.status is OrderStatus.UNKNOWN and lost.order_id.startswith("0x")
        assert [p for p, _ in h.client.diagnostics.retry_delays].count("/order") == 0  # never resent blindly
        # A 5xx may come from a gateway while the venue still processes the order: a 404 now is
        # not proof, so the order stays UNKNOWN until `order_settle_s` after the send ended.
        pending = await h.client.reconcile_order(lost.order_id)
        assert pending.status is OrderStatus.UNKNOWN and "in flight" in pending.reason
        h.clock.advance(h.client.config.order_settle_s + 1)
        settled = await h.client.reconcile_order(lost.order_id)
        assert settled.status is OrderStatus.REJECTED and settled.client_order_id == "u-1"
        # A 500 after the venue processed it: unknown, then the user channel and a query settle it.
        h.sim.answer_500_after_processing = 1
        ghost = await h.client.place_order(order("u-2", Action.BUY, 520_000, 5_000_000, TimeInForce.IOC))
        assert ghost.status is OrderStatus.UNKNOWN
        await h.until(
            lambda: h.client.user_session.net_filled_micro(ghost.order_id) == 5_000_000, "fill of the ambiguous order"
        )
        assert (await h.client.reconcile_order(ghost.order_id)).status is OrderStatus.FILLED
        assert len(h.fills_of(ghost.order_id)) == 1
        h.assert_healthy()


@pytest.mark.asyncio
async def test_fak_acknowledged_live_fills_later_and_counts_once() -> None:
    async with running(FaultPlan(ack_then_fill=True)) as h:
        await h.ready()
        ack = await h.client.place_order(order("fak-live", Action.BUY, 520_000, 8_000_000, TimeInForce.IOC))
        assert ack.status is OrderStatus.UNKNOWN and ack.filled_size_micro is None  # "live" is not a fill
        assert h.fills_of(ack.order_id) == []
        assert h.sim.release_delayed() == 1
        await h.until(lambda: [f.status for f in h.fills_of(ack.order_id)] == [FillStatus.CONFIRMED], "late fill")
        (fill,) = h.fills_of(ack.order_id)
        assert fill.size_micro == 8_000_000 and fill.client_order_id == "fak-live"
        assert [f.fill_id for f in await h.client.fills()] == [fill.fill_id]
        assert h.client.user_session.stats.fill_status_changes == 2  # MINED and CONFIRMED, same fill
        h.assert_healthy()


@pytest.mark.asyncio
async def test_partial_fill_of_an_ioc_order() -> None:
    async with running(FaultPlan(partial_fill_fraction=1.0, partial_fill_ratio=0.5)) as h:
        await h.ready()
        fak = await h.client.place_order(order("part-1", Action.BUY, 520_000, 10_000_000, TimeInForce.IOC))
        await h.until(
            lambda: (
                h.client.user_session.orders.get(fak.order_id) is not None
                and h.client.user_session.orders[fak.order_id].status is OrderStatus.CANCELED
            ),
            "the unfilled rest cancelled",
        )
        update = h.client.user_session.orders[fak.order_id]
        assert update.filled_size_micro == 5_000_000
        await h.until(lambda: h.client.user_session.net_filled_micro(fak.order_id) == 5_000_000, "half filled")
        assert len(await h.client.fills(order_id=fak.order_id)) == 1
        h.assert_healthy()


@pytest.mark.asyncio
async def test_latency_times_out_the_post_and_the_user_channel_settles_it() -> None:
    async with running(FaultPlan(latency_s=0.2), order_timeout_s=0.05) as h:
        await h.ready()
        slow = await h.client.place_order(order("slow-1", Action.BUY, 400_000, 5_000_000, TimeInForce.GTC))
        assert slow.status is OrderStatus.UNKNOWN and "timed out" in slow.reason
        await h.until(
            lambda: slow.order_id in h.client.user_session.orders, "placement on the user channel", timeout=20
        )
        placed = h.client.user_session.orders[slow.order_id]
        assert placed.status is OrderStatus.OPEN and placed.client_order_id == "slow-1"
        assert h.trusted()
        h.assert_healthy()


@pytest.mark.asyncio
async def test_failed_settlement_reverses_the_fill() -> None:
    async with running(auto_settle=False) as h:  # trades stay MATCHED until the test moves them
        await h.ready()
        fak = await h.client.place_order(order("fail-1", Action.BUY, 520_000, 5_000_000, TimeInForce.IOC))
        await h.until(lambda: h.client.user_session.net_filled_micro(fak.order_id) == 5_000_000, "fill")
        (trade_id,) = [t for t, trade in h.sim.trades.items() if trade.fill.taker_order_id == fak.order_id]
        h.sim.fail_trade(trade_id)  # RETRYING, then FAILED
        await h.until(lambda: h.client.user_session.net_filled_micro(fak.order_id) == 0, "reversal")
        (fill,) = h.fills_of(fak.order_id)
        assert fill.status is FillStatus.FAILED and h.client.user_session.stats.reversals == 1
        (after,) = await h.client.fills(order_id=fak.order_id)  # the query agrees, nothing new counted
        assert after.status is FillStatus.FAILED and h.client.user_session.stats.new_fills == 1
        assert await h.client.positions() == []
        h.assert_healthy()


@pytest.mark.asyncio
async def test_bad_credentials_are_refused() -> None:
    async with running(register=False, private_stream=False) as h:  # the venue does not know this api key
        await h.client.subscribe(await h.client.markets())
        with pytest.raises(AuthError):
            await h.client.place_order(order("auth-1", Action.BUY, 400_000, 5_000_000, TimeInForce.GTC))
        assert h.sim.stats["rejected_auth"] == 1 and h.sim.stats["orders"] == 0
    wrong_secret = PolymarketCredentials(
        KEY, CREDS.api_key, base64.urlsafe_b64encode(b"another secret").decode(), CREDS.api_passphrase
    )
    async with running(credentials=wrong_secret, private_stream=False) as h:  # HMAC does not verify
        await h.client.subscribe(await h.client.markets())
        with pytest.raises(AuthError):
            await h.client.open_orders()
        assert h.sim.stats["rejected_auth"] == 1
    foreign_funder = PolymarketCredentials(KEY, CREDS.api_key, SECRET, CREDS.api_passphrase, funder="0x" + "ab" * 20)
    async with running(
        credentials=foreign_funder, private_stream=False
    ) as h:  # signed, but not for this account's wallet
        await h.client.subscribe(await h.client.markets())
        refused = await h.client.place_order(order("auth-2", Action.BUY, 400_000, 5_000_000, TimeInForce.GTC))
        assert refused.status is OrderStatus.REJECTED and "maker address" in refused.reason
        assert h.sim.stats["bad_signature"] == 1 and h.client.user_session.orders == {}


def test_config_defaults_point_at_polymarket_and_bad_settings_are_refused() -> None:
    config = PolymarketConfig()
    assert (
        config.clob_base_url == "https://clob.polymarket.com"
        and config.gamma_base_url == "https://gamma-api.polymarket.com"
    )
    assert (
        config.market_ws_url == "wss://ws-subscriptions-clob.polymarket.com/ws/market"
        and config.ping_interval_s == 10.0
    )
    for bad in (
        {"ping_interval_s": 0},
        {"clob_base_url": "ftp://x"},
        {"user_ws_url": "http://x"},
        {"read_retries": -1},
        {"reconnect_base_s": 5.0, "reconnect_cap_s": 1.0},
        {"feed_silence_s": float("nan")},
    ):
        with pytest.raises(ConfigError):
            PolymarketConfig(**bad)
    client = PolymarketClient(config, clock=FakeClock(), sleep=asyncio.sleep, rng=random.Random(0), credentials=CREDS)
    shown = repr(client) + repr(client.user_session) + repr(CREDS)
    assert SECRET not in shown and KEY[2:] not in shown and CREDS.api_passphrase not in shown


@pytest.mark.asyncio
async def test_sim_refuses_orders_whose_signature_does_not_recover() -> None:
    clock = FakeClock()
    async with PolymarketSimulator([SPEC], clock_ms=clock.wall_ms, seed=3) as sim:
        sim.add_account(CREDS.api_key, CREDS.api_secret, CREDS.api_passphrase, CREDS.signer_address)
        signer = OrderSigner(CREDS, rng=random.Random(1))
        async with httpx.AsyncClient(base_url=sim.clob_url) as http:

            async def post(body_text: str) -> httpx.Response:
                headers = signer.headers("POST", "/order", body_text, clock.wall_ms() // 1000)
                return await http.post("/order", content=body_text.encode(), headers=headers)

            good = signer.prepare(
                order("sig-1", Action.BUY, 400_000, 5_000_000, TimeInForce.GTC),
                token_id=YES,
                tick_micro=10_000,
                neg_risk=False,
                now_ms=clock.wall_ms(),
            )
            tampered = json.loads(good.body_text)
            tampered["order"]["takerAmount"] = "50000000"  # ten times the shares for the same money
            answer = await post(serialize_body(tampered))
            assert answer.status_code == 400 and answer.json() == {"error": "invalid signature"}
            wrong_exchange = signer.prepare(
                order("sig-2", Action.BUY, 400_000, 5_000_000, TimeInForce.GTC),
                token_id=YES,
                tick_micro=10_000,
                neg_risk=True,
                now_ms=clock.wall_ms(),
            )
            assert (await post(wrong_exchange.body_text)).json() == {"error": "invalid signature"}
            accepted = await post(good.body_text)
            assert accepted.status_code == 200 and accepted.json() == {
                "success": True,
                "errorMsg": "",
                "orderID": good.order_hash,
                "status": "live",
                "takingAmount": "",
                "makingAmount": "",
            }
            assert sim.stats["bad_signature"] == 2


def test_sim_is_deterministic_under_a_seed() -> None:
    def run(seed: int) -> tuple[Any, ...]:
        clock = FakeClock()
        sim = PolymarketSimulator([SPEC], clock_ms=clock.wall_ms, seed=seed)
        sim.step(30)
        return tuple(sim.engines[t].snapshot() for t in (YES, NO)) + tuple(sorted(sim.trades))

    assert run(4) == run(4)
    assert run(4) != run(5)


# -- accounts, resolution, set_book, slow consumers, per-message work ---------------------------------


def books_equal(h: Harness) -> bool:
    return all(
        h.client.books[t].trusted
        and (h.client.books[t].bids(), h.client.books[t].asks()) == h.sim.engines[t].snapshot()
        for t in (YES, NO)
    )


@pytest.mark.asyncio
async def test_buy_beyond_the_cash_and_a_sale_of_tokens_not_held_are_refused_with_the_venue_error() -> None:
    async with running(cash_micro=10_000_000, positions={YES: 6_000_000}) as h:
        await h.ready()
        too_big = await h.client.place_order(order("bal-1", Action.BUY, 400_000, 30_000_000, TimeInForce.GTC))
        assert too_big.status is OrderStatus.REJECTED and too_big.reason == "not enough balance / allowance"
        resting = await h.client.place_order(order("bal-2", Action.BUY, 400_000, 20_000_000, TimeInForce.GTC))
        assert resting.status is OrderStatus.OPEN
        # The resting order holds 8.00 of the 10: a 2.40 order no longer fits, though the wallet
        # balance (what /balance-allowance reports, as on the venue) is still 10.
        again = await h.client.place_order(order("bal-3", Action.BUY, 400_000, 6_000_000, TimeInForce.GTC, Side.NO))
        assert again.status is OrderStatus.REJECTED and "not enough balance" in again.reason
        assert (await h.client.balance()).available_micro_usd == 10_000_000
        not_held = await h.client.place_order(order("bal-4", Action.SELL, 600_000, 5_000_000, TimeInForce.GTC, Side.NO))
        assert not_held.status is OrderStatus.REJECTED and "not enough balance" in not_held.reason
        held = await h.client.place_order(order("bal-5", Action.SELL, 600_000, 6_000_000, TimeInForce.GTC))
        assert held.status is OrderStatus.OPEN
        # The raw answer has the venue's shape.
        signer = OrderSigner(CREDS, rng=random.Random(9))
        prepared = signer.prepare(
            order("bal-6", Action.SELL, 600_000, 5_000_000, TimeInForce.GTC),
            token_id=YES,
            tick_micro=10_000,
            neg_risk=False,
            now_ms=h.clock.wall_ms(),
        )
        headers = signer.headers("POST", "/order", prepared.body_text, h.clock.wall_ms() // 1000)
        async with httpx.AsyncClient(base_url=h.sim.clob_url) as http:
            answer = await http.post("/order", content=prepared.body_text.encode(), headers=headers)
        assert answer.status_code == 400 and answer.json() == {"error": "not enough balance / allowance"}
        assert h.sim.stats["no_balance"] == 4
        h.assert_healthy()


@pytest.mark.asyncio
async def test_resolution_reaches_the_client_and_redeems_the_winning_tokens() -> None:
    async with running(positions={YES: 7_000_000, NO: 2_000_000}) as h:
        await h.ready()
        resting = await h.client.place_order(order("res-1", Action.BUY, 300_000, 10_000_000, TimeInForce.GTC))
        assert resting.status is OrderStatus.OPEN
        before = (await h.client.balance()).available_micro_usd
        h.sim.settle(CONDITION, "yes")

        def resolved() -> list[MarketLifecycle]:
            return [e for e in h.events if isinstance(e, MarketLifecycle) and e.kind == "market_resolved"]

        await h.until(lambda: len(resolved()) == 1, "market_resolved on the market socket")
        (event,) = resolved()
        assert event.market_id == CONDITION and event.result == "Yes" and ("winning_asset_id", YES) in event.detail
        assert (await h.client.balance()).available_micro_usd == before + 7_000_000
        assert await h.client.positions() == [] and await h.client.open_orders() == []
        await h.until(lambda: books_equal(h), "books emptied on the feed")
        assert h.sim.engines[YES].snapshot() == ((), ())
        refused = await h.client.place_order(order("res-2", Action.BUY, 300_000, 5_000_000, TimeInForce.GTC))
        assert refused.status is OrderStatus.REJECTED and "closed" in refused.reason
        h.assert_healthy()


@pytest.mark.asyncio
async def test_set_book_keeps_subscribed_clients_consistent() -> None:
    async with running() as h:
        await h.ready()
        h.sim.set_book(YES, [(300_000, 5_000_000), (320_000, 2_000_000)], [(700_000, 4_000_000)])
        await h.until(lambda: books_equal(h) and (300_000, 5_000_000) in h.client.books[YES].bids(), "deltas")
        h.sim.set_book(YES, [(310_000, 1_000_000)], [], publish="snapshot")
        await h.until(lambda: books_equal(h) and (310_000, 1_000_000) in h.client.books[YES].bids(), "snapshot")
        assert h.client.market_session.stats.hash_mismatches == 0
        with pytest.raises(ConfigError, match="tick grid"):
            h.sim.set_book(YES, [(305_000, 1_000_000)], [])
        h.assert_healthy()


@pytest.mark.asyncio
async def test_3_1_cancelling_a_filled_or_cancelled_order_returns_its_final_state() -> None:
    """The venue answers `not_canceled` for an order that already filled or was cancelled; the
    client looks it up and returns that final state (before: UNKNOWN)."""
    async with running() as h:
        await h.ready()
        filled = await h.client.place_order(order("fc-1", Action.BUY, 510_000, 10_000_000, TimeInForce.FOK))
        assert filled.order_id and filled.status is not OrderStatus.REJECTED, filled.reason
        await h.until(lambda: h.client.user_session.net_filled_micro(filled.order_id) == 10_000_000, "FOK fill")
        after = await h.client.cancel_order(filled.order_id)
        assert after.status is OrderStatus.FILLED and after.order_id == filled.order_id
        resting = await h.client.place_order(order("fc-2", Action.BUY, 450_000, 5_000_000, TimeInForce.GTC))
        first = await h.client.cancel_order(resting.order_id)
        second = await h.client.cancel_order(resting.order_id)
        assert first.status is second.status is OrderStatus.CANCELED and second.order_id == resting.order_id
        h.assert_healthy()


@pytest.mark.asyncio
async def test_a_trade_publishes_price_changes_and_no_book_frame() -> None:
    """The venue sends `price_change` (and `last_trade_price`) for a trade; a full `book` frame
    after every trade would make each message cost as much as the whole book."""
    clock = FakeClock()
    sim = PolymarketSimulator([SPEC], clock_ms=clock.wall_ms, seed=3)
    async with sim, websockets_connect(sim.market_ws_url) as ws:
        await ws.send(json.dumps({"assets_ids": [YES], "type": "market"}))
        dump = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert [b["event_type"] for b in dump] == ["book"]
        best_ask = sim.engines[YES].best_ask()
        assert best_ask is not None
        sim.take(YES, BookSide.BID, best_ask[0], 3_000_000)
        sim.set_level(YES, BookSide.BID, 100_000, 1_000_000)  # a marker after the trade's frames
        kinds = []
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            kinds.append(frame["event_type"])
            if frame["event_type"] == "price_change" and frame["price_changes"][0]["price"] == "0.1":
                break
        assert kinds == ["price_change", "last_trade_price", "price_change"]


@pytest.mark.asyncio
async def test_slow_consumer_is_disconnected_and_the_client_recovers() -> None:
    async with running(sim_options={"max_queued_frames": 10}) as h:
        await h.ready()
        connects = h.client.market_session.stats.connects
        for i in range(40):  # published in one go: far more than the writer queue holds
            h.sim.set_level(YES, BookSide.BID, 100_000 + (i % 10) * 10_000, (i + 1) * 1_000_000)
        assert h.sim.stats["slow_consumer_disconnects"] == 1
        await h.until(
            lambda: h.client.market_session.stats.connects == connects + 1 and books_equal(h), "reconnected and equal"
        )
        h.assert_healthy()


@pytest.mark.asyncio
async def test_3_3_a_sink_exception_never_drops_the_socket_nor_loses_a_fill() -> None:
    """The engine's sink raises on every fill: the exception is recorded, the user socket stays up
    (before: the loop caught it as an internal error and reconnected), the fill is stored, and the
    events after it still arrive."""
    async with running() as h:
        await h.ready()
        delivered = h.client.sink
        assert delivered is not None

        def buggy(event: Any) -> None:
            delivered(event)
            if isinstance(event, Fill):
                raise RuntimeError("consumer bug")

        h.client.sink = buggy
        connects = h.client.diagnostics.connects
        fak = await h.client.place_order(order("sx-1", Action.BUY, 520_000, 10_000_000, TimeInForce.IOC))
        await h.until(lambda: h.client.user_session.net_filled_micro(fak.order_id) == 10_000_000, "fill stored")
        await h.until(
            lambda: {f.status for f in h.fills_of(fak.order_id)} == {FillStatus.CONFIRMED}, "later status updates"
        )
        assert h.client.diagnostics.sink_error_count >= 2  # the new fill and its later statuses
        assert h.client.diagnostics.connects == connects and h.client.connected["user"].is_set()
        assert list(h.client.diagnostics.disconnect_reasons) == []
        assert any(isinstance(e, Fill) and e.status is FillStatus.CONFIRMED for e in h.events)
        h.assert_healthy()


# -- combined faults -----------------------------------------------------------------------------------


def sink_fills(h: Harness, order_id: str) -> dict[str, Fill]:
    """The fills the sink was given for `order_id`, by id (latest status)."""
    return {e.fill_id: e for e in h.events if isinstance(e, Fill) and e.order_id == order_id}


@pytest.mark.asyncio
async def test_combined_faults_cancel_after_a_missed_partial_fill_reports_the_venues_fill() -> None:
    """A resting order fills 3 of 10 while the user socket is frozen, then is cancelled: the answer
    and the order table carry the venue's final state (CANCELED, 3 filled), and the missed fill
    reaches the sink once (before: CANCELED with the cached 0 filled, and the table stayed OPEN)."""
    async with running() as h:
        await h.ready()
        resting = await h.client.place_order(order("cx-1", Action.BUY, 500_000, 10_000_000, TimeInForce.GTC))
        assert resting.status is OrderStatus.OPEN
        table = h.client.user_session.orders
        await h.until(lambda: resting.order_id in table, "the placement on the user channel")
        assert (table[resting.order_id].status, table[resting.order_id].filled_size_micro) == (OrderStatus.OPEN, 0)
        h.sim.faults.freeze("user")
        h.sim.take(YES, BookSide.ASK, 500_000, 3_000_000, TimeInForce.IOC)
        assert h.sim.accounts[CREDS.api_key].positions == {YES: 3_000_000}
        canceled = await h.client.cancel_order(resting.order_id)
        assert (canceled.status, canceled.filled_size_micro, canceled.remaining_size_micro) == (
            OrderStatus.CANCELED,
            3_000_000,
            0,
        )
        recorded = table[resting.order_id]
        assert (recorded.status, recorded.filled_size_micro) == (OrderStatus.CANCELED, 3_000_000)
        assert recorded.client_order_id == "cx-1"
        (fill,) = sink_fills(h, resting.order_id).values()
        assert (fill.size_micro, fill.liquidity) == (3_000_000, Liquidity.MAKER)
        assert h.client.user_session.net_filled_micro(resting.order_id) == 3_000_000
        h.sim.faults.thaw("user")
        assert await h.client.open_orders() == []
        h.assert_healthy()


@pytest.mark.asyncio
async def test_cancel_all_fetches_the_missed_fills_of_a_market_once_for_all_its_orders() -> None:
    """Two resting orders of one market fill in part while the user socket is frozen, then
    cancel_all: each answer carries the venue's fill, each missed fill reaches the sink once, and
    the market's trades are queried once for the batch, not once per order looked up."""
    async with running() as h:
        await h.ready()
        yes = await h.client.place_order(order("ca-yes", Action.BUY, 500_000, 10_000_000, TimeInForce.GTC))
        no = await h.client.place_order(order("ca-no", Action.BUY, 500_000, 10_000_000, TimeInForce.GTC, Side.NO))
        table = h.client.user_session.orders
        await h.until(lambda: yes.order_id in table and no.order_id in table, "both placements")
        h.sim.faults.freeze("user")
        h.sim.take(YES, BookSide.ASK, 500_000, 3_000_000, TimeInForce.IOC)
        h.sim.take(NO, BookSide.ASK, 500_000, 4_000_000, TimeInForce.IOC)
        trade_queries: list[dict[str, Any]] = []
        query_fills, request = h.client._query_fills, h.client._request
        both_answered = asyncio.Barrier(2)  # the two lookups' answers in hand before either goes on

        async def counting(params: dict[str, Any]) -> list[Fill]:
            trade_queries.append(params)
            return await query_fills(params)

        async def lookup_together(method: str, base: str, path: str, **kw: Any) -> Any:
            answer = await request(method, base, path, **kw)
            if path.startswith("/data/order/"):
                await asyncio.wait_for(both_answered.wait(), 10)
            return answer

        h.client._query_fills = counting  # type: ignore[method-assign]
        h.client._request = lookup_together  # type: ignore[method-assign]
        answers = {u.order_id: u for u in await h.client.cancel_all()}
        assert {i: (u.status, u.filled_size_micro) for i, u in answers.items()} == {
            yes.order_id: (OrderStatus.CANCELED, 3_000_000),
            no.order_id: (OrderStatus.CANCELED, 4_000_000),
        }
        assert [len(sink_fills(h, i)) for i in (yes.order_id, no.order_id)] == [1, 1]
        assert trade_queries == [{"market": CONDITION}]
        h.sim.faults.thaw("user")
        h.assert_healthy()


@pytest.mark.asyncio
async def test_fills_and_order_ends_missed_while_the_user_socket_was_down_are_caught_up_once() -> None:
    """The user socket drops on the first frame about a fill (the venue does not replay): after
    the reconnect the client fetches the trades and order states it missed, so the partial fill of
    one order and the complete fill of another each reach the sink once and the order table holds
    the venue's states (before: neither fill was delivered and the filled order stayed OPEN)."""
    async with running() as h:
        await h.ready()
        whole = await h.client.place_order(order("gap-1", Action.BUY, 500_000, 6_000_000, TimeInForce.GTC))
        partial = await h.client.place_order(order("gap-2", Action.BUY, 500_000, 10_000_000, TimeInForce.GTC))
        assert whole.status is partial.status is OrderStatus.OPEN
        table = h.client.user_session.orders
        await h.until(lambda: partial.order_id in table and whole.order_id in table, "both placements")
        h.sim.faults.drop_next("user")
        h.sim.take(YES, BookSide.ASK, 500_000, 9_000_000, TimeInForce.IOC)  # 6 of the first, 3 of the second
        await h.until(lambda: h.client.user_session.stats.connects == 2, "the user socket back")
        net = h.client.user_session.net_filled_micro
        await h.until(lambda: (net(whole.order_id), net(partial.order_id)) == (6_000_000, 3_000_000), "missed fills")
        await h.until(lambda: table[whole.order_id].status is OrderStatus.FILLED, "the filled order's final state")
        await h.until(lambda: table[partial.order_id].filled_size_micro == 3_000_000, "the partial order's state")
        assert table[partial.order_id].status is OrderStatus.OPEN
        assert len(sink_fills(h, partial.order_id)) == len(sink_fills(h, whole.order_id)) == 1
        assert h.client.user_session.stats.new_fills == len(h.client.user_session.fills) == 2
        h.assert_healthy()


@pytest.mark.asyncio
async def test_open_orders_showing_more_filled_than_the_fills_held_fetch_the_missing_fills() -> None:
    """A resting order fills 3 while the user socket is frozen: listing open orders reports the
    venue's 3 filled and delivers that fill once (before: the order said 3 filled, the fills 0)."""
    async with running() as h:
        await h.ready()
        resting = await h.client.place_order(order("oo-1", Action.BUY, 500_000, 10_000_000, TimeInForce.GTC))
        await h.until(lambda: resting.order_id in h.client.user_session.orders, "the placement")
        h.sim.faults.freeze("user")
        h.sim.take(YES, BookSide.ASK, 500_000, 3_000_000, TimeInForce.IOC)
        (listed,) = await h.client.open_orders()
        assert (listed.order_id, listed.status, listed.filled_size_micro) == (
            resting.order_id,
            OrderStatus.OPEN,
            3_000_000,
        )
        (fill,) = sink_fills(h, resting.order_id).values()
        assert fill.size_micro == 3_000_000 and h.client.user_session.net_filled_micro(resting.order_id) == 3_000_000
        await h.client.open_orders()
        assert h.client.user_session.stats.new_fills == 1
        h.sim.faults.thaw("user")
        h.assert_healthy()


@pytest.mark.asyncio
async def test_combined_faults_a_frozen_user_socket_is_replaced_and_its_missed_fill_caught_up_once() -> None:
    """The user socket freezes (PONGs still answered, no data) and an outsider fills our resting
    order: past the silence limit the watchdog replaces the user socket, and the catch-up from the
    socket's last frame delivers the fill once, with no lookup by the test (before: the frozen
    user socket was never noticed and the fill never arrived)."""
    async with running() as h:
        await h.ready()
        resting = await h.client.place_order(order("fz-1", Action.BUY, 500_000, 10_000_000, TimeInForce.GTC))
        session = h.client.user_session
        await h.until(lambda: resting.order_id in session.orders, "the placement on the user channel")
        last_frame_s = h.clock.wall_ms() // 1000
        catch_ups: list[dict[str, Any]] = []
        query_fills = h.client._query_fills

        async def recording(params: dict[str, Any]) -> list[Fill]:
            if "after" in params:
                catch_ups.append(params)
            return await query_fills(params)

        h.client._query_fills = recording  # type: ignore[method-assign]
        h.sim.faults.freeze("user")
        h.sim.take(YES, BookSide.ASK, 500_000, 3_000_000, TimeInForce.IOC)
        assert h.sim.accounts[CREDS.api_key].positions == {YES: 3_000_000}
        h.clock.advance(10.0)
        await h.until(lambda: session.stats.pongs >= 1, "a PONG while frozen", timeout=3.0)
        assert session.stats.watchdog_trips == 0 and session.connected  # 10 s is below the 25 s limit
        h.clock.advance(16.0)  # 26 s since the user socket's last frame
        await h.until(lambda: session.stats.watchdog_trips == 1, "the user watchdog trip", timeout=3.0)
        await h.until(lambda: session.net_filled_micro(resting.order_id) == 3_000_000, "the missed fill", timeout=3.0)
        assert ("user", "feed silent") in h.client.diagnostics.disconnect_reasons
        assert session.stats.connects == 2
        fills = [e for e in h.events if isinstance(e, Fill) and e.order_id == resting.order_id]
        assert len({f.fill_id for f in fills}) == 1 and session.stats.new_fills == 1
        assert len({(f.fill_id, f.status) for f in fills}) == len(fills)  # no status delivered twice
        assert fills[0].size_micro == 3_000_000 and fills[0].liquidity is Liquidity.MAKER
        # the window starts a margin before the last frame, not before the (26 s later) disconnect
        assert catch_ups[0] == {"after": str(last_frame_s - 60)}
        h.assert_healthy()


@pytest.mark.asyncio
async def test_an_idle_account_keeps_its_quiet_user_socket_through_five_minutes() -> None:
    """The venue's user channel sends nothing while the account's orders and trades do not change:
    with no order of ours open and no fill settling, five minutes of silence (PONGs answered) are no
    fault: the user socket stays, with no disconnect notice and no catch-up query (before: replaced
    every `feed_silence_s`, each time with a REST catch-up)."""
    async with running() as h:
        await h.ready()
        session = h.client.user_session
        queries: list[dict[str, Any]] = []
        query_fills = h.client._query_fills

        async def recording(params: dict[str, Any]) -> list[Fill]:
            queries.append(params)
            return await query_fills(params)

        h.client._query_fills = recording  # type: ignore[method-assign]
        assert not session.awaiting()
        for n in range(1, 31):  # 300 s of fake time, a PING and its PONG every 10 s
            h.sim.step()  # the market moves (its own socket stays fed); nothing of ours changes
            h.clock.advance(10.0)

            def answered(count: int = n) -> bool:
                return session.stats.pongs >= count

            await h.until(answered, f"user PONG #{n}", timeout=3.0)
        assert session.stats.watchdog_trips == 0 and session.stats.pong_timeouts == 0
        assert session.stats.connects == 1 and session.connected
        assert [r for r in h.client.diagnostics.disconnect_reasons if r[0] == "user"] == []
        assert not any(o[0] == "disconnected:user" for o in h.observations)
        assert queries == []  # no catch-up
        h.assert_healthy()


@pytest.mark.asyncio
async def test_the_user_sockets_watch_follows_our_sends_to_their_final_states() -> None:
    """Silence on the user socket counts from our own sends, not only from what the socket told:
    a send the venue refuses never arms it; a FOK is watched until its order and fills are final
    (FILLED, CONFIRMED); a resting order until its cancel is recorded; and a send the venue never
    got (a 500 before processing) until the catch-up after the watchdog's trip finds it unknown to
    the venue past `order_settle_s` (then quiet again, the socket is kept)."""
    async with running(order_settle_s=20.0) as h:
        await h.ready()
        session = h.client.user_session
        refused = await h.client.place_order(order("w-0", Action.SELL, 510_000, 10_000_000, TimeInForce.GTC))
        assert refused.status is OrderStatus.REJECTED and refused.order_id
        assert not session.awaiting()
        fok = await h.client.place_order(order("w-1", Action.BUY, 510_000, 10_000_000, TimeInForce.FOK))
        assert fok.status is OrderStatus.FILLED and session.awaiting()  # its fills are still to come
        await h.until(lambda: not session.awaiting(), "the FOK's order and fills final")
        assert [f.status for f in h.fills_of(fok.order_id)] == [FillStatus.CONFIRMED]
        resting = await h.client.place_order(order("w-2", Action.BUY, 480_000, 10_000_000, TimeInForce.GTC))
        assert resting.status is OrderStatus.OPEN and session.awaiting()
        canceled = await h.client.cancel_order(resting.order_id)
        assert canceled.status is OrderStatus.CANCELED and not session.awaiting()
        h.sim.faults.fail_next_http(500, 1)
        lost = await h.client.place_order(order("w-3", Action.BUY, 480_000, 10_000_000, TimeInForce.GTC))
        assert lost.status is OrderStatus.UNKNOWN and session.awaited_orders() == [lost.order_id]
        h.clock.advance(26.0)  # silence counts: the send may yet show up on the socket
        await h.until(lambda: session.stats.watchdog_trips == 1, "the user watchdog trip")
        await h.until(lambda: not session.awaiting(), "the catch-up's lookup: unknown to the venue")
        pongs = session.stats.pongs
        for n in range(1, 7):  # a minute of quiet after that: the socket stays
            h.clock.advance(10.0)

            def answered(count: int = pongs + n) -> bool:
                return session.stats.pongs >= count

            await h.until(answered, f"PONG #{n} of the quiet minute")
        assert session.stats.watchdog_trips == 1 and session.stats.connects == 2
        h.assert_healthy()


@pytest.mark.asyncio
async def test_combined_faults_self_match_delivers_our_maker_leg_once() -> None:
    """Our BUY takes our own resting SELL: the venue's position is unchanged (+6 -6), and the client
    gets both legs, each once (before: only the taker leg, +6 at the client against 0 at the venue)."""
    async with running(positions={YES: 6_000_000}) as h:
        await h.ready()
        ask = await h.client.place_order(order("sm-ask", Action.SELL, 500_000, 6_000_000, TimeInForce.GTC))
        assert ask.status is OrderStatus.OPEN
        await h.until(lambda: h.client.books[YES].best_ask() == (500_000, 6_000_000), "our ask on the feed")
        take = await h.client.place_order(order("sm-bid", Action.BUY, 500_000, 6_000_000, TimeInForce.IOC))
        assert take.status is not OrderStatus.REJECTED, take.reason
        assert [(t.fill.taker_order_id, t.fill.maker_order_id) for t in h.sim.trades.values()] == [
            (take.order_id, ask.order_id)
        ]
        net = h.client.user_session.net_filled_micro

        def legs_confirmed() -> bool:
            fills = [*sink_fills(h, take.order_id).values(), *sink_fills(h, ask.order_id).values()]
            return len(fills) == 2 and all(f.status is FillStatus.CONFIRMED for f in fills)

        await h.until(legs_confirmed, "both legs of the self-match, confirmed")
        assert net(take.order_id) == net(ask.order_id) == 6_000_000
        (maker,) = sink_fills(h, ask.order_id).values()
        assert (maker.liquidity, maker.action, maker.client_order_id) == (Liquidity.MAKER, Action.SELL, "sm-ask")
        queried = await h.client.fills()
        assert sorted(f.order_id for f in queried) == sorted([take.order_id, ask.order_id])
        assert h.client.user_session.stats.new_fills == 2
        (position,) = await h.client.positions()
        assert position.position_micro == 6_000_000  # the venue: as before the self-match
        h.assert_healthy()


@pytest.mark.asyncio
async def test_an_acknowledged_fak_is_looked_up_as_the_venue_has_it_then_filled() -> None:
    """A FAK acknowledged "live" fills later: each lookup reports the venue's record (live, then
    filled), never REJECTED, and the fill reaches the sink once."""
    async with running(FaultPlan(ack_then_fill=True)) as h:
        await h.ready()
        ack = await h.client.place_order(order("fl-1", Action.BUY, 520_000, 8_000_000, TimeInForce.IOC))
        assert ack.status is OrderStatus.UNKNOWN
        h.clock.advance(h.client.config.order_settle_s + 1)  # long past any in-flight window
        early = await h.client.reconcile_order(ack.order_id)
        assert early.status is not OrderStatus.REJECTED, early
        assert h.sim.release_delayed() == 1
        later = await h.client.reconcile_order(ack.order_id)
        assert (later.status, later.filled_size_micro) == (OrderStatus.FILLED, 8_000_000), later
        await h.until(lambda: h.client.user_session.net_filled_micro(ack.order_id) == 8_000_000, "the late fill")
        assert h.client.user_session.stats.new_fills == 1
        h.assert_healthy()


@pytest.mark.asyncio
async def test_an_acknowledged_order_the_venue_cannot_find_yet_is_unknown_not_rejected() -> None:
    """A venue that acknowledged a FAK as "live" and then answers 404 to its lookup (a lagging read,
    as the simulator once did): the order is UNKNOWN, not REJECTED, however long after the send
    (before: REJECTED with 0 filled once the send was answered)."""
    posted: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/order":
            order_id = "0x" + "ab" * 32
            posted.append(order_id)
            return httpx.Response(200, json={"success": True, "errorMsg": "", "orderID": order_id, "status": "live"})
        if request.url.path.startswith("/data/order/"):
            return httpx.Response(404, json={"error": "order not found"})
        return httpx.Response(500)

    clock = FakeClock()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = PolymarketClient(
            PolymarketConfig(),
            clock=clock,
            sleep=asyncio.sleep,
            rng=random.Random(4),
            credentials=CREDS,
            http=http,
            wall_clock_ms=clock.wall_ms,
        )
        await client.subscribe([session_market()])
        request = OrderRequest("ak-1", "0xm", Side.YES, Action.BUY, 520_000, 8_000_000, TimeInForce.IOC)
        ack = await client.place_order(request)
        assert ack.status is OrderStatus.UNKNOWN and posted == [ack.order_id]
        clock.advance(client.config.order_settle_s + 1)
        found = await client.reconcile_order(ack.order_id)
        assert found.status is OrderStatus.UNKNOWN and found.filled_size_micro is None, found
        assert found.client_order_id == "ak-1"
        # An order id the venue never acknowledged is still settled as REJECTED.
        assert (await client.reconcile_order("0x" + "cd" * 32)).status is OrderStatus.REJECTED
        await client.close()


@pytest.mark.asyncio
async def test_combined_faults_slow_book_answers_complete_only_their_own_resync() -> None:
    """The client with scripted, slow `/book` answers: the first resync's answer arrives after a
    second hash mismatch restarted the resync; it is ignored, and the second answer (plus the
    changes buffered since it was asked for) makes the book the venue's (before: the old answer
    completed the new resync, the book was trusted without the level added in between)."""
    gates = [asyncio.Event(), asyncio.Event()]
    answers = [
        book_bytes(TOKEN, {490_000: 1_000_000}, {510_000: 1_000_000}, ts=11, rest=True),
        book_bytes(TOKEN, {490_000: 1_000_000, 480_000: 2_000_000}, {510_000: 1_000_000}, ts=13, rest=True),
    ]
    asked: list[int] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/book" and request.url.params["token_id"] == TOKEN
        n = len(asked)
        asked.append(n)
        await gates[n].wait()
        return httpx.Response(200, content=answers[n])

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = PolymarketClient(
            PolymarketConfig(), clock=lambda: 0, sleep=asyncio.sleep, rng=random.Random(3), http=http
        )
        await client.subscribe([session_market()])
        session = client.market_session
        session.on_connect(0)
        for token in session_market().book_ids():
            session.receive(book_bytes(token, {490_000: 10_000_000}, {510_000: 10_000_000}, ts=1), 1)
        (first,) = session.receive(hash_mismatch_book(TOKEN, {490_000: 1_000_000}, {510_000: 1_000_000}, ts=10), 10)
        assert isinstance(first, FetchBook)
        slow = asyncio.create_task(client._resync(first))
        session.receive(change_bytes(TOKEN, "BUY", 480_000, 2_000_000, (490_000, 510_000), ts=12), 12)
        (second,) = session.receive(
            hash_mismatch_book(TOKEN, {490_000: 1_000_000, 480_000: 2_000_000}, {510_000: 1_000_000}, ts=13), 13
        )
        assert isinstance(second, FetchBook)
        fast = asyncio.create_task(client._resync(second))
        for _ in range(1_000):  # both requests reach the venue (a bounded wait on the condition)
            if len(asked) == 2:
                break
            await asyncio.sleep(0)
        assert asked == [0, 1]
        gates[0].set()
        await slow
        assert not session.trusted(TOKEN) and TOKEN in session.resyncing
        session.receive(change_bytes(TOKEN, "SELL", 520_000, 4_000_000, (490_000, 510_000), ts=14), 14)
        gates[1].set()
        await fast
        book = session.books[TOKEN]
        assert book.trusted and book.bids() == ((490_000, 1_000_000), (480_000, 2_000_000))
        assert book.asks() == ((510_000, 1_000_000), (520_000, 4_000_000))
        assert session.stats.stale_rest_snapshots == 1 and session.stats.rest_snapshots == 1
        await client.close()


# -- signing off the event loop ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_orders_are_signed_in_a_worker_thread_not_on_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The EIP-712 signature (several ms of Python crypto) must not stall feed handling."""
    threads: list[int] = []
    original = ExchangeOrderBuilderV2.build_order_signature

    def recording(self: ExchangeOrderBuilderV2, typed_data: Any) -> Any:
        threads.append(threading.get_ident())
        return original(self, typed_data)

    monkeypatch.setattr(ExchangeOrderBuilderV2, "build_order_signature", recording)
    async with running() as h:
        await h.ready()
        placed = await h.client.place_order(order("thr-1", Action.BUY, 500_000, 10_000_000, TimeInForce.GTC))
        assert placed.status is OrderStatus.OPEN
        assert threads and threading.get_ident() not in threads, threads


@pytest.mark.asyncio
async def test_a_send_cancelled_while_its_order_is_signed_is_unknown_and_never_posted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cancellation (timeout, kill, shutdown) that lands while the worker thread signs: the
    signature is finished, the order's id reported, and the send ends UNKNOWN like one cancelled
    during its POST; nothing reaches the venue."""
    started, release = threading.Event(), threading.Event()
    original = ExchangeOrderBuilderV2.build_order_signature

    def held(self: ExchangeOrderBuilderV2, typed_data: Any) -> Any:
        started.set()
        release.wait(timeout=2.0)  # bounded: signed on the loop (the old way) this would block it
        return original(self, typed_data)

    monkeypatch.setattr(ExchangeOrderBuilderV2, "build_order_signature", held)
    async with running() as h:
        await h.ready()
        task = asyncio.create_task(
            h.client.place_order(order("cx-1", Action.BUY, 500_000, 10_000_000, TimeInForce.GTC))
        )
        await h.until(started.is_set, "signing under way")
        task.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        updates = [e for e in h.events if isinstance(e, OrderUpdate) and e.client_order_id == "cx-1"]
        assert [u.status for u in updates] == [OrderStatus.PENDING, OrderStatus.UNKNOWN], updates
        assert "cancelled" in updates[-1].reason and updates[-1].order_id
        assert h.sim.stats["orders"] == 0
