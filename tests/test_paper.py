"""Paper venue on crafted books: what fills, at what price and fee, what is refused, and (hypothesis)
that paper fills never take more than the displayed size between book changes and that cash and
positions are exactly the sum of the fills (recomputed here by the venues' own arithmetic, not the
module's)."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.book import OrderBook
from arb.domain import (
    Action,
    Balance,
    BookChange,
    BookSide,
    BookSnapshot,
    ChangeMode,
    Fill,
    Liquidity,
    MarketInfo,
    MarketLifecycle,
    MarketStatus,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    PriceBand,
    Side,
    TimeInForce,
    Trade,
    Venue,
)
from arb.errors import ConfigError, OrderRejectedError
from arb.execution.paper import PaperConfig, PaperVenue
from arb.venues.base import VenueClient
from arb.venues.kalshi import wire as kalshi_wire
from arb.venues.kalshi.client import CAPABILITIES as KALSHI_CAPABILITIES
from arb.venues.polymarket.client import CAPABILITIES as POLYMARKET_CAPABILITIES
from solvers.fees import kalshi_fee, polymarket_fee

D = Decimal
M = 1_000_000
TICKER = "KXPAPER-26-A"
CONDITION = "0x" + "ab" * 32
YES_TOKEN, NO_TOKEN = "7001", "7002"


class FakeFeed:
    """A client's market-data side: books applied first, then the event to the sink (as the real
    clients do), plus a private-account event to show it is not passed on."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.capabilities = KALSHI_CAPABILITIES if venue is Venue.KALSHI else POLYMARKET_CAPABILITIES
        self.books: dict[str, OrderBook] = {}
        self.sink: Any = None
        self.subscribed: list[MarketInfo] = []
        self.now_ns = 0

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def subscribe(self, markets: Any) -> None:
        self.subscribed.extend(markets)

    async def markets(self, **filters: Any) -> list[MarketInfo]:
        return list(self.subscribed)

    def snapshot(self, book_id: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        self.now_ns += 1
        book = self.books.setdefault(book_id, OrderBook(book_id, venue=self.venue.value))
        event = BookSnapshot(self.venue, book_id, book_id, tuple(bids), tuple(asks))
        book.apply_snapshot(event, self.now_ns)
        self.sink(event)

    def level(self, book_id: str, side: BookSide, price: int, size: int) -> None:
        self.now_ns += 1
        event = BookChange(self.venue, book_id, book_id, side, price, size, ChangeMode.SET)
        self.books[book_id].apply_change(event, self.now_ns)
        self.sink(event)


def kalshi_market(**overrides: Any) -> MarketInfo:
    fields: dict[str, Any] = {
        "venue": Venue.KALSHI,
        "market_id": TICKER,
        "event_id": "KXPAPER-26",
        "title": "Paper",
        "subtitle": "A",
        "rules_text": "",
        "status": MarketStatus.OPEN,
        "open_time_ms": None,
        "close_time_ms": None,
        "expiration_time_ms": None,
        "price_bands": (PriceBand(10_000, 990_000, 10_000),),
        "min_order_size_micro": M,
        "fractional": False,
        "lot_size_micro": M,
        "taker_fee": kalshi_fee(),
        "maker_fee": kalshi_fee(fee_type="quadratic_with_maker_fees", maker=True),
    }
    fields.update(overrides)
    return MarketInfo(**fields)


def polymarket_market(**overrides: Any) -> MarketInfo:
    fields: dict[str, Any] = {
        "venue": Venue.POLYMARKET,
        "market_id": CONDITION,
        "event_id": "1",
        "title": "Paper?",
        "subtitle": "",
        "rules_text": "",
        "status": MarketStatus.OPEN,
        "open_time_ms": None,
        "close_time_ms": None,
        "expiration_time_ms": None,
        "price_bands": (PriceBand(10_000, 990_000, 10_000),),
        "min_order_size_micro": 0,
        "fractional": True,
        "lot_size_micro": 10_000,
        "taker_fee": polymarket_fee(rate=D("0.04")),
        "maker_fee": polymarket_fee(rate=D("0.04"), maker=True),
        "token_ids": (YES_TOKEN, NO_TOKEN),
    }
    fields.update(overrides)
    return MarketInfo(**fields)


class Harness:
    def __init__(self, venue: Venue, cash: str = "1000", market: MarketInfo | None = None) -> None:
        self.feed = FakeFeed(venue)
        self.wall_ms = 1_000
        self.events: list[Any] = []
        ids = itertools.count(1)
        self.paper = PaperVenue(
            self.feed,
            PaperConfig(D(cash)),
            wall_clock_ms=lambda: self.wall_ms,
            ids=lambda: f"o{next(ids)}",
            sink=self.events.append,
        )
        self.market = market or (kalshi_market() if venue is Venue.KALSHI else polymarket_market())
        self.paper.remember_markets([self.market])
        self.cids = itertools.count(1)

    def request(
        self,
        outcome: Side,
        action: Action,
        price: int,
        size: int,
        tif: TimeInForce = TimeInForce.IOC,
        **kw: Any,
    ) -> OrderRequest:
        return OrderRequest(f"c{next(self.cids)}", self.market.market_id, outcome, action, price, size, tif, **kw)

    async def place(self, *args: Any, **kw: Any) -> OrderUpdate:
        return await self.paper.place_order(self.request(*args, **kw))

    def fills(self) -> list[Fill]:
        return [e for e in self.events if isinstance(e, Fill)]


def c(cents: int) -> int:
    return cents * 10_000


# -- Kalshi ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_kalshi_ioc_takes_only_displayed_size_at_or_better_and_it_stays_gone_until_the_book_changes() -> None:
    h = Harness(Venue.KALSHI)
    h.feed.snapshot(TICKER, [(c(40), 5 * M)], [(c(45), 3 * M), (c(46), 4 * M), (c(50), 9 * M)])
    update = await h.place(Side.YES, Action.BUY, c(46), 10 * M)
    assert update.status is OrderStatus.CANCELED and update.filled_size_micro == 7 * M
    assert [(f.price_micro_usd, f.size_micro, f.liquidity) for f in h.fills()] == [
        (c(45), 3 * M, Liquidity.TAKER),
        (c(46), 4 * M, Liquidity.TAKER),
    ]
    # the same book state: what was taken is gone, a second order finds nothing at or below 46
    again = await h.place(Side.YES, Action.BUY, c(46), 2 * M)
    assert again.status is OrderStatus.CANCELED and again.filled_size_micro == 0
    # a snapshot repeating the same ladder (a resync) is no change: the taken size stays gone
    h.feed.snapshot(TICKER, [(c(40), 5 * M)], [(c(45), 3 * M), (c(46), 4 * M), (c(50), 9 * M)])
    assert (await h.place(Side.YES, Action.BUY, c(46), 2 * M)).filled_size_micro == 0
    # the book changes (elsewhere): the displayed size counts again
    h.feed.level(TICKER, BookSide.BID, c(39), M)
    third = await h.place(Side.YES, Action.BUY, c(45), 2 * M)
    assert third.filled_size_micro == 2 * M
    # the fee: round up to the cent per order of the per-fill fees (0.07 x 3 x .45 x .55 = 0.051975 -> 0.0520;
    # 0.07 x 4 x .46 x .54 = 0.069552 -> 0.0696; sum 0.1216 -> $0.13)
    assert update.fees_micro_usd == 130_000
    assert [f.fee_micro_usd for f in h.fills()[:2]] == [60_000, 70_000]  # the order's rounded total rises
    assert h.paper.cash_usd == D(1000) - D("0.45") * 3 - D("0.46") * 4 - D("0.13") - D("0.90") - D("0.04")
    assert [(p.market_id, p.position_micro) for p in await h.paper.positions()] == [(TICKER, 9 * M)]


@pytest.mark.asyncio
async def test_kalshi_buy_no_is_a_sale_of_yes_against_the_yes_bids_stated_on_the_yes_contract() -> None:
    h = Harness(Venue.KALSHI)
    h.feed.snapshot(TICKER, [(c(60), 2 * M), (c(58), 5 * M)], [(c(63), 5 * M)])
    request = h.request(Side.NO, Action.BUY, c(42), 4 * M)  # NO at 42 = YES at 58 or better
    update = await h.paper.place_order(request)
    assert (update.outcome, update.action, update.price_micro_usd) == (Side.YES, Action.SELL, c(58))
    stated = kalshi_wire.sent_order_update(request, OrderStatus.FILLED)  # as the real client states it
    assert (update.outcome, update.action, update.price_micro_usd) == (
        stated.outcome,
        stated.action,
        stated.price_micro_usd,
    )
    assert update.status is OrderStatus.CANCELED or update.status is OrderStatus.FILLED
    assert update.filled_size_micro == 4 * M
    fills = h.fills()
    assert [(f.outcome, f.action, f.price_micro_usd, f.size_micro) for f in fills] == [
        (Side.YES, Action.SELL, c(60), 2 * M),
        (Side.YES, Action.SELL, c(58), 2 * M),
    ]
    assert [p.position_micro for p in await h.paper.positions()] == [-4 * M]  # 4 NO
    fee = D("0.04")  # 0.07 x 2 x .6 x .4 = 0.0336 + 0.07 x 2 x .58 x .42 = 0.034104 -> 0.0342; 0.0678 -> 0.07
    assert update.fees_micro_usd == 70_000
    assert h.paper.cash_usd == D(1000) - 2 * D("0.40") - 2 * D("0.42") - D("0.07")
    assert fee  # NO costs 1 - YES price each
    # selling the NO back (buying YES) closes the pairs: each pays back $1 - the NO price paid
    h.feed.level(TICKER, BookSide.ASK, c(63), 5 * M)
    close = await h.place(Side.YES, Action.BUY, c(63), 4 * M)
    assert close.status is OrderStatus.FILLED
    assert await h.paper.positions() == []
    cash = D(1000) - D("0.80") - D("0.84") - D("0.07") + 4 * (1 - D("0.63")) - D("0.07")
    assert h.paper.cash_usd == cash


@pytest.mark.asyncio
async def test_kalshi_fok_is_all_or_nothing_and_a_killed_fok_takes_nothing() -> None:
    h = Harness(Venue.KALSHI)
    h.feed.snapshot(TICKER, [], [(c(30), 2 * M), (c(31), 2 * M)])
    killed = await h.place(Side.YES, Action.BUY, c(31), 5 * M, TimeInForce.FOK)
    assert killed.status is OrderStatus.REJECTED and killed.error_code == "fill_or_kill_insufficient_resting_volume"
    assert h.fills() == []
    done = await h.place(Side.YES, Action.BUY, c(31), 4 * M, TimeInForce.FOK)
    assert done.status is OrderStatus.FILLED and sum(f.size_micro for f in h.fills()) == 4 * M


@pytest.mark.asyncio
async def test_gtc_rests_and_fills_only_against_new_displayed_size_as_a_maker_at_its_limit() -> None:
    h = Harness(Venue.KALSHI)
    h.feed.snapshot(TICKER, [(c(40), 5 * M)], [(c(45), 3 * M)])
    taker = await h.place(Side.YES, Action.BUY, c(45), 3 * M)  # takes the 3 at 45
    assert taker.filled_size_micro == 3 * M
    h.feed.level(TICKER, BookSide.BID, c(41), M)  # the book changes: the 3 at 45 are displayed again
    resting = await h.place(Side.YES, Action.BUY, c(44), 2 * M, TimeInForce.GTC)
    assert resting.status is OrderStatus.OPEN and resting.filled_size_micro == 0
    before = len(h.fills())
    h.feed.level(TICKER, BookSide.ASK, c(47), 2 * M)  # new size, but not at or below 44
    assert len(h.fills()) == before
    h.feed.level(TICKER, BookSide.ASK, c(44), M)  # 1 new at 44: crosses the resting bid
    maker = h.fills()[-1]
    assert (maker.liquidity, maker.price_micro_usd, maker.size_micro) == (Liquidity.MAKER, c(44), M)
    # maker fee: 0.0175 x 1 x .44 x .56 = 0.004312 -> 0.0044 -> $0.01
    assert maker.fee_micro_usd == 10_000
    last = h.events[-1]
    assert isinstance(last, OrderUpdate) and last.status is OrderStatus.OPEN and last.filled_size_micro == M
    h.feed.level(TICKER, BookSide.ASK, c(44), M)  # the same size again: nothing new
    assert len(h.fills()) == before + 1
    h.feed.level(TICKER, BookSide.ASK, c(43), 5 * M)  # 5 new at 43: fills the remaining 1
    assert h.fills()[-1].size_micro == M
    assert (await h.paper.reconcile_order(resting.client_order_id or "")).status is OrderStatus.FILLED
    assert await h.paper.open_orders() == []


@pytest.mark.asyncio
async def test_post_only_is_refused_when_it_would_cross_and_rests_otherwise() -> None:
    h = Harness(Venue.KALSHI)
    h.feed.snapshot(TICKER, [(c(40), 5 * M)], [(c(45), 3 * M)])
    crossing = await h.place(Side.YES, Action.BUY, c(45), M, TimeInForce.GTC, post_only=True)
    assert crossing.status is OrderStatus.REJECTED and crossing.error_code == "post_only_cross"
    no_crossing = await h.place(Side.NO, Action.BUY, c(62), M, TimeInForce.GTC, post_only=True)  # YES ask at 38
    assert no_crossing.status is OrderStatus.REJECTED and no_crossing.error_code == "post_only_cross"
    rests = await h.place(Side.NO, Action.BUY, c(55), M, TimeInForce.GTC, post_only=True)  # YES ask at 45
    assert rests.status is OrderStatus.OPEN and rests.price_micro_usd == c(45)
    assert h.fills() == []


@pytest.mark.asyncio
async def test_invalid_requests_are_refused_with_reasons_and_nothing_fills() -> None:
    h = Harness(Venue.KALSHI)
    h.feed.snapshot(TICKER, [(c(40), 5 * M)], [(c(45), 3 * M)])
    cases = {
        "tick": h.request(Side.YES, Action.BUY, 455_000, M),
        "lot": h.request(Side.YES, Action.BUY, c(45), M // 2),
        "zero price": h.request(Side.YES, Action.BUY, 0, M),
        "one": h.request(Side.YES, Action.BUY, M, M),
        "size": h.request(Side.YES, Action.BUY, c(45), 0),
        "negative": h.request(Side.YES, Action.BUY, c(45), -M),
        "gtd": h.request(Side.YES, Action.BUY, c(45), M, TimeInForce.GTD),
        "gtd past": h.request(Side.YES, Action.BUY, c(45), M, TimeInForce.GTD, expiration_ms=999),
    }
    unknown = OrderRequest("cx", "KXNOPE", Side.YES, Action.BUY, c(45), M, TimeInForce.IOC)
    answers = {name: await h.paper.place_order(r) for name, r in cases.items()}
    answers["unknown"] = await h.paper.place_order(unknown)
    for name, answer in answers.items():
        assert answer.status is OrderStatus.REJECTED, name
        assert answer.reason and answer.filled_size_micro == 0, name
    assert "tick" in answers["tick"].reason and "lot" in answers["lot"].reason
    assert "outside (0, 1)" in answers["zero price"].reason and "outside (0, 1)" in answers["one"].reason
    assert "positive" in answers["size"].reason and "unknown market" in answers["unknown"].reason
    assert "expiration" in answers["gtd"].reason and "expiration" in answers["gtd past"].reason
    assert h.fills() == [] and h.events[1:] == []  # only the snapshot reached the sink
    no_fee = Harness(Venue.KALSHI, market=kalshi_market(taker_fee=None))
    no_fee.feed.snapshot(TICKER, [], [(c(45), 3 * M)])
    assert "fee" in (await no_fee.place(Side.YES, Action.BUY, c(45), M)).reason
    untrusted = Harness(Venue.KALSHI)
    untrusted.feed.books[TICKER] = OrderBook(TICKER)
    assert "cannot be traded" in (await untrusted.place(Side.YES, Action.BUY, c(45), M)).reason


@pytest.mark.asyncio
async def test_a_resent_client_order_id_is_refused_as_duplicate_and_never_fills_twice() -> None:
    h = Harness(Venue.KALSHI)
    h.feed.snapshot(TICKER, [], [(c(45), 3 * M)])
    request = h.request(Side.YES, Action.BUY, c(45), M)
    first = await h.paper.place_order(request)
    h.feed.level(TICKER, BookSide.ASK, c(45), 3 * M)  # fresh book: the resend could fill if accepted
    second = await h.paper.place_order(request)
    assert first.status is OrderStatus.FILLED
    assert second.status is OrderStatus.REJECTED and second.error_code == "order_already_exists"
    assert first.order_id in second.reason
    assert sum(f.size_micro for f in h.fills()) == M
    assert (await h.paper.reconcile_order(request.client_order_id)).order_id == first.order_id


@pytest.mark.asyncio
async def test_balance_reserves_open_orders_and_refuses_what_it_cannot_pay() -> None:
    h = Harness(Venue.KALSHI, cash="10")
    h.feed.snapshot(TICKER, [(c(40), 5 * M)], [(c(60), 3 * M)])
    resting = await h.place(Side.YES, Action.BUY, c(50), 10 * M, TimeInForce.GTC)
    # 10 x 0.50 + the worst fee at 0.50: 0.07 x 10 x 0.25 = 0.175 -> $0.18
    assert resting.status is OrderStatus.OPEN
    assert await h.paper.balance() == Balance(Venue.KALSHI, 10 * M - 5_180_000, 10 * M)
    with pytest.raises(ConfigError, match="needs MarketInfo"):
        await h.paper.subscribe([TICKER])  # type: ignore[list-item]
    refused = await h.place(Side.YES, Action.BUY, c(50), 10 * M, TimeInForce.GTC)
    assert refused.status is OrderStatus.REJECTED and refused.error_code == "insufficient_balance"
    cancelled = await h.paper.cancel_order(resting.order_id)
    assert cancelled.status is OrderStatus.CANCELED and cancelled.remaining_size_micro == 0
    assert await h.paper.balance() == Balance(Venue.KALSHI, 10 * M, 10 * M)
    assert (await h.paper.cancel_order(resting.order_id)).status is OrderStatus.CANCELED  # over: its final state
    with pytest.raises(OrderRejectedError, match="no such order"):
        await h.paper.cancel_order("nope")
    assert [u.status for u in await h.paper.cancel_orders([("nope", TICKER)])] == [OrderStatus.REJECTED]


@pytest.mark.asyncio
async def test_gtd_ends_at_its_expiration() -> None:
    h = Harness(Venue.KALSHI)
    h.feed.snapshot(TICKER, [(c(40), 5 * M)], [(c(60), 3 * M)])
    order = await h.place(Side.YES, Action.BUY, c(50), M, TimeInForce.GTD, expiration_ms=2_000)
    assert order.status is OrderStatus.OPEN
    h.wall_ms = 2_000
    h.feed.level(TICKER, BookSide.ASK, c(50), 5 * M)  # would cross it, but it has expired first
    assert h.fills() == []
    assert (await h.paper.reconcile_order(order.order_id)).status is OrderStatus.CANCELED


@pytest.mark.asyncio
async def test_feed_events_pass_through_in_order_and_the_real_accounts_do_not() -> None:
    h = Harness(Venue.KALSHI)
    h.feed.snapshot(TICKER, [(c(40), 5 * M)], [(c(60), 3 * M)])
    trade = Trade(Venue.KALSHI, TICKER, TICKER, "t1", c(50), M, None, Side.YES)
    h.feed.sink(trade)
    real_fill = Fill(Venue.KALSHI, "f", "o", None, TICKER, TICKER, Side.YES, Action.BUY, c(50), M, 0, None)
    h.feed.sink(real_fill)
    assert [type(e) for e in h.events] == [BookSnapshot, Trade]
    assert h.paper.dropped_account_events == 1
    assert h.paper.books is h.feed.books
    client: VenueClient = h.paper  # the engine's interface (checked by mypy and at run time)
    assert isinstance(client, VenueClient)


@pytest.mark.asyncio
async def test_a_raising_sink_is_recorded_and_the_order_is_still_booked_whole() -> None:
    h = Harness(Venue.KALSHI)
    h.feed.snapshot(TICKER, [], [(c(45), 3 * M)])

    def broken(event: Any) -> None:
        raise RuntimeError("consumer bug")

    h.paper.sink = broken
    update = await h.place(Side.YES, Action.BUY, c(45), 2 * M)
    assert update.status is OrderStatus.FILLED
    assert h.paper.diagnostics.sink_error_count == 2  # the fill and the order's state
    assert [p.position_micro for p in await h.paper.positions()] == [2 * M]
    assert len(await h.paper.fills(order_id=update.order_id)) == 1


# -- Polymarket ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_polymarket_trades_per_token_books_announces_the_order_first_and_needs_tokens_to_sell() -> None:
    h = Harness(Venue.POLYMARKET)
    h.feed.snapshot(YES_TOKEN, [(c(40), 50 * M)], [(c(45), 30 * M)])
    h.feed.snapshot(NO_TOKEN, [(c(54), 20 * M)], [(c(58), 10 * M), (c(60), 10 * M)])
    start = len(h.events)
    update = await h.place(Side.NO, Action.BUY, c(60), 15 * M)
    kinds = [(type(e).__name__, getattr(e, "status", None)) for e in h.events[start:]]
    assert kinds == [
        ("OrderUpdate", OrderStatus.PENDING),
        ("Fill", h.fills()[0].status),
        ("Fill", h.fills()[1].status),
        ("OrderUpdate", OrderStatus.FILLED),
    ]
    assert update.book_id == NO_TOKEN and update.order_id == h.events[start].order_id
    fills = h.fills()
    assert [(f.book_id, f.outcome, f.action, f.price_micro_usd, f.size_micro) for f in fills] == [
        (NO_TOKEN, Side.NO, Action.BUY, c(58), 10 * M),
        (NO_TOKEN, Side.NO, Action.BUY, c(60), 5 * M),
    ]
    # 0.04 x 10 x .58 x .42 = 0.09744; 0.04 x 5 x .6 x .4 = 0.048 (floored to $0.00001)
    assert [f.fee_micro_usd for f in fills] == [97_440, 48_000]
    assert h.paper.cash_usd == D(1000) - D("5.80") - D("3.00") - D("0.09744") - D("0.048")
    sell_unheld = await h.place(Side.YES, Action.SELL, c(40), 5 * M)
    assert sell_unheld.status is OrderStatus.REJECTED and "balance" in sell_unheld.reason
    sold = await h.place(Side.NO, Action.SELL, c(54), 5 * M)
    assert sold.status is OrderStatus.FILLED
    assert [(p.book_id, p.position_micro) for p in await h.paper.positions()] == [(NO_TOKEN, 10 * M)]


@pytest.mark.asyncio
async def test_polymarket_fak_that_matches_nothing_is_refused_like_the_venue_refuses_it() -> None:
    h = Harness(Venue.POLYMARKET)
    h.feed.snapshot(YES_TOKEN, [(c(40), 50 * M)], [(c(45), 30 * M)])
    nothing = await h.place(Side.YES, Action.BUY, c(44), 5 * M)
    assert nothing.status is OrderStatus.REJECTED and "no orders found to match" in nothing.reason
    off_amount = await h.place(Side.YES, Action.BUY, c(45), 5_010_000)  # 5.01 x 0.45: not whole cents
    assert (off_amount.status is OrderStatus.REJECTED and "not representable" in off_amount.reason) or "steps" in (
        off_amount.reason
    )
    post_fak = await h.place(Side.YES, Action.BUY, c(30), 5 * M, post_only=True)
    assert post_fak.status is OrderStatus.REJECTED and "postOnly" in post_fak.reason
    assert h.fills() == []


def test_config_is_checked() -> None:
    assert PaperConfig.from_mapping({"starting_cash_usd": "12.5"}).starting_cash_usd == D("12.5")
    for bad in ({}, {"starting_cash_usd": "x"}, {"starting_cash_usd": "-1"}, {"starting_cash_usd": 1.5}):
        with pytest.raises(ConfigError):
            PaperConfig.from_mapping(bad)
    with pytest.raises(ConfigError, match="unknown paper config keys: cash"):
        PaperConfig.from_mapping({"starting_cash_usd": "1", "cash": "2"})


# -- properties ------------------------------------------------------------------------------------

_PRICES = st.integers(min_value=30, max_value=70)
_LEVELS = st.lists(st.tuples(_PRICES, st.integers(min_value=1, max_value=6)), max_size=4)


def _book_levels(draw_bids: list[tuple[int, int]], draw_asks: list[tuple[int, int]]) -> tuple[Any, Any]:
    """Uncrossed ladders from drawn levels (asks moved above the best bid)."""
    bids = {c(p): s * M for p, s in draw_bids}
    top = max(bids, default=c(29))
    asks = {max(c(p), top + c(1)) if c(p) <= top else c(p): s * M for p, s in draw_asks}
    asks = {p: s for p, s in asks.items() if p < c(99)}
    return sorted(bids.items(), reverse=True), sorted(asks.items())


_ORDER = st.tuples(
    st.just("order"),
    st.sampled_from(list(Side)),
    st.sampled_from(list(Action)),
    st.integers(min_value=25, max_value=75),
    st.integers(min_value=1, max_value=8),
    st.sampled_from([TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTC, TimeInForce.GTD]),
    st.booleans(),  # post-only (resting orders only)
)
_ACTIONS = st.lists(
    st.one_of(
        _ORDER,
        _ORDER,
        st.tuples(st.just("book"), _LEVELS, _LEVELS),
        st.tuples(st.just("level"), st.sampled_from(list(BookSide)), _PRICES, st.integers(min_value=0, max_value=6)),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=20)),
        st.tuples(st.just("time"), st.integers(min_value=1, max_value=3_000)),
    ),
    min_size=15,
    max_size=50,
)


async def _run(venue: Venue, actions: list[Any]) -> None:
    h = Harness(venue, cash="200")
    books = [TICKER] if venue is Venue.KALSHI else [YES_TOKEN, NO_TOKEN]
    state: dict[str, int] = {}  # book id -> the test's own count of book states sent
    for book_id in books:
        h.feed.snapshot(book_id, [(c(40), 3 * M)], [(c(60), 3 * M)])
        state[book_id] = 0
    displayed: dict[tuple[str, int], dict[BookSide, dict[int, int]]] = {}

    def remember(book_id: str) -> None:
        state[book_id] += 1
        book = h.feed.books[book_id]
        displayed[(book_id, state[book_id])] = {BookSide.BID: dict(book.bids()), BookSide.ASK: dict(book.asks())}

    for book_id in books:
        remember(book_id)
    fill_state: dict[str, tuple[str, int]] = {}  # fill id -> (book, state) it was made in
    seen = 0
    placed: list[OrderUpdate] = []
    expiries: dict[str, int] = {}

    def note_fills() -> None:
        nonlocal seen
        for fill in h.fills()[seen:]:
            fill_state[fill.fill_id] = (fill.book_id, state[fill.book_id])
        seen = len(h.fills())

    for index, action in enumerate(actions):
        book_id = books[index % len(books)]
        if action[0] == "book":
            bids, asks = _book_levels(action[1], action[2])
            h.feed.snapshot(book_id, bids, asks)
        elif action[0] == "level":
            _, side, price, size = action
            book = h.feed.books[book_id]
            best_other = book.best_ask() if side is BookSide.BID else book.best_bid()
            if best_other is not None and (
                c(price) >= best_other[0] if side is BookSide.BID else c(price) <= best_other[0]
            ):
                continue  # would cross: a venue never shows that
            h.feed.level(book_id, side, c(price), size * M)
        elif action[0] == "order":
            _, outcome, side_action, price, size, tif, post_only = action
            resting = {"post_only": post_only} if tif in (TimeInForce.GTC, TimeInForce.GTD) else {}
            if tif is TimeInForce.GTD:
                resting["expiration_ms"] = h.wall_ms + 500
            if venue is Venue.POLYMARKET and side_action is Action.SELL:
                token = YES_TOKEN if outcome is Side.YES else NO_TOKEN
                if not any(p.book_id == token for p in await h.paper.positions()):
                    side_action = Action.BUY  # a sale needs tokens: buy some first (refusals are tested elsewhere)
            placed.append(await h.place(outcome, side_action, c(price), size * M, tif, **resting))
            if "expiration_ms" in resting:
                expiries[placed[-1].client_order_id or ""] = resting["expiration_ms"]
            note_fills()
            continue
        elif action[0] == "time":
            h.wall_ms += action[1]  # GTD orders expire as time passes
            continue
        else:
            open_now = await h.paper.open_orders()
            if open_now:
                await h.paper.cancel_order(open_now[action[1] % len(open_now)].order_id)
            continue
        # fills made by resting orders happen while the new state is applied
        remember(book_id)
        note_fills()

    fills = h.fills()
    assert len({f.fill_id for f in fills}) == len(fills)
    # 1. between book changes, paper fills never take more than the displayed size at or better
    taken: dict[tuple[str, int], dict[BookSide, int]] = defaultdict(lambda: defaultdict(int))
    by_order = {u.order_id: u for u in placed if u.order_id}
    for fill in fills:
        key = fill_state[fill.fill_id]
        order = by_order.get(fill.order_id)
        bid = fill.action is Action.BUY  # Kalshi states fills on YES: BUY is a bid there too
        opposite = BookSide.ASK if bid else BookSide.BID
        levels = displayed[key][opposite]
        if fill.liquidity is Liquidity.TAKER:
            assert fill.price_micro_usd in levels
        if order is not None and order.price_micro_usd is not None:
            limit = order.price_micro_usd
            assert fill.price_micro_usd <= limit if bid else fill.price_micro_usd >= limit
        taken[key][opposite] += fill.size_micro
    for key, sides in taken.items():
        for side, size in sides.items():
            assert size <= sum(displayed[key][side].values()), (key, side)
    # 2. cash and positions are exactly the sum of the fills
    fees = sum((D(f.fee_micro_usd or 0) / M for f in fills), D(0))
    if venue is Venue.KALSHI:
        position = sum(f.size_micro if f.action is Action.BUY else -f.size_micro for f in fills)
        flow = sum(
            (D(f.price_micro_usd) / M * D(f.size_micro) / M * (1 if f.action is Action.BUY else -1) for f in fills),
            D(0),
        )
        # Kalshi nets: each NO held is $1 of collateral beyond the YES-price flow
        expected_cash = D(200) - flow - D(max(0, -position)) / M - fees
        expected_positions = {TICKER: position} if position else {}
    else:
        held: dict[str, int] = defaultdict(int)
        flow = D(0)
        for f in fills:
            sign = 1 if f.action is Action.BUY else -1
            held[f.book_id] += sign * f.size_micro
            flow += sign * D(f.price_micro_usd) / M * D(f.size_micro) / M
        expected_cash = D(200) - flow - fees
        expected_positions = {b: q for b, q in held.items() if q}
        assert all(q >= 0 for q in held.values())
    assert h.paper.cash_usd == expected_cash
    assert {p.book_id: p.position_micro for p in await h.paper.positions()} == expected_positions
    # 3. every order's fills add up to what its final state says, never beyond its size
    for update in placed:
        final = await h.paper.reconcile_order(update.client_order_id or "")
        mine = sum(
            f.size_micro for f in fills if f.client_order_id == update.client_order_id and f.order_id == final.order_id
        )
        if final.order_id:
            assert final.filled_size_micro is not None and final.initial_size_micro is not None
            assert mine == final.filled_size_micro <= final.initial_size_micro
    balance = await h.paper.balance()
    assert balance.available_micro_usd >= 0
    # 4. no GTD order outlives its expiration
    for order in await h.paper.open_orders():
        assert expiries.get(order.client_order_id or "", h.wall_ms + 1) > h.wall_ms


@settings(max_examples=60, deadline=None)
@given(actions=_ACTIONS)
def test_kalshi_paper_fills_stay_within_displayed_size_and_money_adds_up(actions: list[Any]) -> None:
    asyncio.run(_run(Venue.KALSHI, actions))


@settings(max_examples=60, deadline=None)
@given(actions=_ACTIONS)
def test_polymarket_paper_fills_stay_within_displayed_size_and_money_adds_up(actions: list[Any]) -> None:
    asyncio.run(_run(Venue.POLYMARKET, actions))


@pytest.mark.asyncio
async def test_kalshi_resting_close_that_another_fill_netted_reserves_cash_to_open_instead() -> None:
    h = Harness(Venue.KALSHI)
    h.feed.snapshot(TICKER, [(c(40), 5 * M)], [(c(60), 9 * M)])
    assert (await h.place(Side.YES, Action.SELL, c(40), 5 * M)).filled_size_micro == 5 * M  # 5 NO held
    cash = h.paper.cash_usd
    resting = await h.place(Side.YES, Action.BUY, c(50), 5 * M, TimeInForce.GTC)  # would close the 5 NO
    # closing needs no cash: only the fee bound is held back (0.07 x 5 x 0.25 = 0.0875 -> $0.09)
    assert cash - D((await h.paper.balance()).available_micro_usd) / M == D("0.09")
    taken = await h.place(Side.YES, Action.BUY, c(60), 5 * M)  # closes the 5 NO first
    assert taken.filled_size_micro == 5 * M and await h.paper.positions() == []
    # the resting bid now opens 5 YES at up to 0.50: that cash is reserved too
    assert h.paper.cash_usd - D((await h.paper.balance()).available_micro_usd) / M == D("2.59")
    assert (await h.paper.reconcile_order(resting.order_id)).status is OrderStatus.OPEN


@pytest.mark.asyncio
async def test_a_kalshi_batch_beyond_the_venues_size_is_refused() -> None:
    h = Harness(Venue.KALSHI)
    requests = [h.request(Side.YES, Action.BUY, c(45), M) for _ in range(21)]
    with pytest.raises(OrderRejectedError, match="at most 20"):
        await h.paper.place_orders(requests)


@pytest.mark.asyncio
async def test_kalshi_lifecycle_pauses_ends_and_settles_the_paper_position_once() -> None:
    h = Harness(Venue.KALSHI)
    h.feed.snapshot(TICKER, [(c(40), 5 * M)], [(c(45), 3 * M)])
    assert (await h.place(Side.YES, Action.BUY, c(45), 3 * M)).filled_size_micro == 3 * M
    resting = await h.place(Side.YES, Action.BUY, c(41), M, TimeInForce.GTC)
    cash = h.paper.cash_usd
    h.feed.sink(MarketLifecycle(Venue.KALSHI, TICKER, "deactivated"))
    paused = await h.place(Side.YES, Action.BUY, c(41), M, TimeInForce.GTC)
    assert paused.status is OrderStatus.REJECTED and "not open" in paused.reason
    assert (await h.paper.reconcile_order(resting.order_id)).status is OrderStatus.OPEN  # a pause keeps it
    h.feed.sink(MarketLifecycle(Venue.KALSHI, TICKER, "activated"))
    assert (await h.place(Side.YES, Action.BUY, c(41), M, TimeInForce.GTC)).status is OrderStatus.OPEN
    h.feed.sink(MarketLifecycle(Venue.KALSHI, TICKER, "determined", result="yes"))
    assert await h.paper.open_orders() == []
    ended = [e for e in h.events if isinstance(e, OrderUpdate) and e.status is OrderStatus.CANCELED]
    assert len(ended) == 2 and all("market closed" in e.reason for e in ended)
    assert h.paper.cash_usd == cash + 3  # 3 YES pay $1 each
    assert await h.paper.positions() == []
    h.feed.sink(MarketLifecycle(Venue.KALSHI, TICKER, "settled", result="yes"))
    assert h.paper.cash_usd == cash + 3  # paid once
    h.feed.sink(MarketLifecycle(Venue.KALSHI, TICKER, "activated"))
    assert (await h.place(Side.YES, Action.BUY, c(41), M)).status is OrderStatus.REJECTED  # over for good


@pytest.mark.asyncio
async def test_kalshi_void_returns_cost_and_a_no_position_is_paid_on_no() -> None:
    for result, expected in (("void", D("1.20")), ("no", D(2)), ("yes", D(0))):  # void: the cost back
        h = Harness(Venue.KALSHI)
        h.feed.snapshot(TICKER, [(c(40), 5 * M)], [(c(45), 3 * M)])
        assert (await h.place(Side.NO, Action.BUY, c(60), 2 * M)).filled_size_micro == 2 * M  # 2 NO at 0.60
        cash = h.paper.cash_usd
        h.feed.sink(MarketLifecycle(Venue.KALSHI, TICKER, "determined", result=result))
        assert h.paper.cash_usd - cash == expected, result


@pytest.mark.asyncio
async def test_polymarket_resolution_pays_the_winning_token() -> None:
    h = Harness(Venue.POLYMARKET)
    h.feed.snapshot(YES_TOKEN, [(c(40), 50 * M)], [(c(45), 30 * M)])
    h.feed.snapshot(NO_TOKEN, [(c(54), 20 * M)], [(c(58), 10 * M)])
    await h.place(Side.YES, Action.BUY, c(45), 4 * M)
    await h.place(Side.NO, Action.BUY, c(58), 6 * M)
    cash = h.paper.cash_usd
    h.feed.sink(
        MarketLifecycle(Venue.POLYMARKET, CONDITION, "market_resolved", detail=(("winning_asset_id", NO_TOKEN),))
    )
    assert h.paper.cash_usd == cash + 6
    assert await h.paper.positions() == []
    refused = await h.place(Side.YES, Action.BUY, c(45), 4 * M)
    assert refused.status is OrderStatus.REJECTED and "not open" in refused.reason
