"""L2 books: snapshot/change application, continuity, depth walks, slots; exact fixed-point parsing."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.book import BinaryBook, Continuity, OrderBook, walk_levels
from arb.domain import BookChange, BookSide, BookSnapshot, ChangeMode, Side, Venue
from arb.errors import BookError, ConfigError, FieldError
from arb.fixed import (
    SCALE,
    from_micro,
    micro_to_str,
    parse_cents,
    parse_micro,
    parse_price,
    parse_signed_micro,
    to_micro,
)
from solvers import (
    AllocationProblem,
    Allocator,
    AllocatorConfig,
    CandidateSet,
    Capital,
    Contract,
    Equivalent,
    Instrument,
    Level,
    SetLimits,
    kalshi_fee,
    polymarket_fee,
)
from solvers import Side as SolverSide

D = Decimal


def snap(bids, asks, **kw) -> BookSnapshot:
    return BookSnapshot(Venue.KALSHI, "T", "T", tuple(bids), tuple(asks), **kw)


def change(side, price, size, mode=ChangeMode.ADD) -> BookChange:
    return BookChange(Venue.KALSHI, "T", "T", side, price, size, mode)


def test_snapshot_sorts_and_trusts() -> None:
    book = OrderBook("T")
    assert not book.trusted and book.untrusted_reason == "no snapshot yet"
    assert book.apply_snapshot(snap([(420_000, 5), (350_000, 7)], [(600_000, 3), (550_000, 1)]), now_ns=10)
    assert book.bids() == ((420_000, 5), (350_000, 7))
    assert book.asks() == ((550_000, 1), (600_000, 3))
    assert book.best_bid() == (420_000, 5) and book.best_ask() == (550_000, 1)
    assert book.last_update_ns == 10 and book.continuity is Continuity.TRUSTED


def test_add_mode_removes_level_at_zero_and_distrusts_below_zero() -> None:
    book = OrderBook("T")
    book.apply_snapshot(snap([(400_000, 10)], [(600_000, 10)]), 0)
    assert book.apply_change(change(BookSide.BID, 400_000, -10), 1)
    assert book.bids() == ()
    assert not book.apply_change(change(BookSide.ASK, 600_000, -11), 2)
    assert book.asks() == () and "below zero" in book.untrusted_reason


def test_set_mode_replaces_total_and_rejects_negative() -> None:
    book = OrderBook("T")
    book.apply_snapshot(snap([(400_000, 10)], []), 0)
    book.apply_change(change(BookSide.BID, 400_000, 3, ChangeMode.SET), 1)
    assert book.bids() == ((400_000, 3),)
    book.apply_change(change(BookSide.BID, 400_000, 0, ChangeMode.SET), 2)
    assert book.bids() == ()
    with pytest.raises(BookError):
        book.apply_change(change(BookSide.BID, 400_000, -1, ChangeMode.SET), 3)
    assert not book.trusted


def test_crossing_change_marks_untrusted_and_snapshot_recovers() -> None:
    book = OrderBook("T")
    book.apply_snapshot(snap([(400_000, 10)], [(600_000, 10)]), 0)
    assert not book.apply_change(change(BookSide.BID, 600_000, 1), 1)
    assert book.is_crossed() and book.untrusted_reason.startswith("crossed")
    assert book.apply_snapshot(snap([(400_000, 10)], [(600_000, 10)]), 2)


def test_crossed_or_hash_mismatched_snapshot_is_untrusted() -> None:
    book = OrderBook("T")
    assert not book.apply_snapshot(snap([(600_000, 1)], [(600_000, 1)]), 0)
    assert book.untrusted_reason == "crossed snapshot"
    assert not book.apply_snapshot(snap([(400_000, 1)], [(600_000, 1)], hash_ok=False), 1)
    assert book.untrusted_reason == "snapshot hash mismatch"


def test_prices_outside_unit_interval_are_rejected() -> None:
    book = OrderBook("T")
    with pytest.raises(BookError):
        book.apply_snapshot(snap([(0, 1)], []), 0)
    book.apply_snapshot(snap([], []), 0)
    with pytest.raises(BookError):
        book.apply_change(change(BookSide.ASK, SCALE, 1), 1)
    assert not book.trusted


def test_staleness_uses_the_injected_clock() -> None:
    book = OrderBook("T")
    assert book.is_stale(0, 5)
    book.apply_snapshot(snap([], []), 100)
    assert not book.is_stale(105, 5) and book.is_stale(106, 5)


def test_kalshi_no_side_is_the_mirror_of_the_yes_ladder() -> None:
    yes = OrderBook("T")
    # YES bids 0.35 and 0.42; NO bids 0.54 and 0.56 arrive normalised as YES asks at 0.46 and 0.44
    yes.apply_snapshot(snap([(350_000, 200), (420_000, 13)], [(460_000, 400), (440_000, 17)]), 0)
    market = BinaryBook("T", yes)
    assert market.best_ask(Side.YES) == (440_000, 17)
    assert market.asks(Side.NO) == ((580_000, 13), (650_000, 200))  # 1 - YES bids
    assert market.bids(Side.NO) == ((560_000, 17), (540_000, 400))  # 1 - YES asks


def test_polymarket_tokens_keep_their_own_ladders() -> None:
    yes, no = OrderBook("y"), OrderBook("n")
    yes.apply_snapshot(snap([(480_000, 5)], [(520_000, 6)]), 0)
    no.apply_snapshot(snap([(470_000, 7)], [(530_000, 8)]), 0)
    market = BinaryBook("m", yes, no)
    assert market.best_ask(Side.NO) == (530_000, 8) and market.best_bid(Side.NO) == (470_000, 7)
    no.mark_untrusted("test")
    assert not market.trusted


def test_depth_walk_is_exact() -> None:
    walk = walk_levels(((440_000, 3 * SCALE), (450_000, 10 * SCALE)), 5 * SCALE)
    assert walk.complete and walk.levels_used == 2 and walk.worst_price_micro_usd == 450_000
    assert walk.cost_usd == Decimal("2.22")  # 3 x 0.44 + 2 x 0.45
    assert walk.average_price_usd == Decimal("0.444")
    short = walk_levels(((440_000, SCALE),), 2 * SCALE)
    assert not short.complete and short.filled_micro == SCALE


def test_allocator_slots_are_fixed_width_whole_lots() -> None:
    yes = OrderBook("T")
    yes.apply_snapshot(snap([], [(440_000, 2_500_000), (450_000, 1_000_000)]), 0)
    prices, sizes = BinaryBook("T", yes).ask_slots(Side.YES, 4, lot_micro=SCALE, tick_micro=10_000)
    assert prices == [440_000, 450_000, 990_000, 990_000] and sizes == [2, 1, 0, 0]  # empty: 0 lots at 1 - tick
    with pytest.raises(ConfigError, match="tick"):
        BinaryBook("T", yes).ask_slots(Side.YES, 4, lot_micro=SCALE)  # no live tick and none given


def _pair_problem(kalshi_asks: tuple[Level, ...], poly_asks: tuple[Level, ...]) -> AllocationProblem:
    """YES on Kalshi and NO of the same event on Polymarket: a riskless pair when the asks sum < $1."""
    kalshi = Instrument("k:yes", "kalshi", "e@kalshi", SolverSide.YES, kalshi_asks, kalshi_fee())
    poly = Instrument(
        "p:no", "polymarket", "e@polymarket", SolverSide.NO, poly_asks, polymarket_fee(rate=D(0)), lot_size=D("0.01")
    )
    candidate = CandidateSet(
        "pair",
        (Contract("e@kalshi"), Contract("e@polymarket")),
        (kalshi, poly),
        (Equivalent("e@kalshi", "e@polymarket"),),
        SetLimits(),
    )
    return AllocationProblem((candidate,), Capital({"kalshi": D(1_000), "polymarket": D(1_000)}))


def test_3_4_a_short_ladder_updates_the_allocator_in_place() -> None:
    """Book -> allocator end to end: a ladder that shrinks below the slot count goes through the
    allocator's fast path (`update_levels_scaled`) instead of being refused (the padding used to
    be price $1, which the fast path rejects), and the result equals a fresh model of that ladder."""
    config = AllocatorConfig(slots_per_side=4)
    deep = (Level(D("0.40"), D(10)), Level(D("0.41"), D(10)), Level(D("0.42"), D(10)))
    poly_asks = (Level(D("0.55"), D(30)),)
    allocator = Allocator(_pair_problem(deep, poly_asks), config=config)
    # The Kalshi YES ladder shrinks to two levels (Kalshi YES asks are the mirrored NO bids).
    kalshi_book = OrderBook("KX", "KX", "kalshi")
    kalshi_book.apply_snapshot(
        BookSnapshot(Venue.KALSHI, "KX", "KX", ((100_000, SCALE),), ((400_000, 4 * SCALE), (410_000, 6 * SCALE))), 0
    )
    prices, lots = BinaryBook("KX", kalshi_book).ask_slots(Side.YES, 4, lot_micro=SCALE, tick_micro=10_000)
    allocator.update_levels_scaled(allocator.slot_columns("k:yes"), np.array(prices), np.array(lots))
    fresh = Allocator(_pair_problem((Level(D("0.40"), D(4)), Level(D("0.41"), D(6))), poly_asks), config=config)
    warm_plan, fresh_plan = allocator.solve(), fresh.solve()
    assert warm_plan.guaranteed_profit_usd == fresh_plan.guaranteed_profit_usd > 0
    # ... and the ladder can grow back into the emptied slots in place too.
    prices, lots = BinaryBook("KX", kalshi_book).ask_slots(Side.YES, 1, lot_micro=SCALE, tick_micro=10_000)
    assert prices == [400_000] and lots == [4]


def test_3_4_ask_slots_follow_a_live_tick_change() -> None:
    """After the venue moves a market to the 0.001 grid, slots come on that grid (the ladder's live
    tick is the default), so an allocator instrument built on it accepts them."""
    book = OrderBook("PM", "PM", "polymarket")
    book.apply_snapshot(snap([], [(995_000, 3 * SCALE)], tick_size_micro_usd=10_000), 0)
    book.tick_size_micro_usd = 1_000  # tick_size_change 0.01 -> 0.001
    book.apply_change(change(BookSide.ASK, 994_000, 2 * SCALE, ChangeMode.SET), 1)
    prices, lots = BinaryBook("PM", book, OrderBook("PM-NO")).ask_slots(Side.YES, 3, lot_micro=10_000)
    assert prices == [994_000, 995_000, 999_000] and lots == [200, 300, 0]
    assert all(p % 1_000 == 0 for p in prices)


levels = st.dictionaries(st.integers(1, SCALE - 1), st.integers(1, 10**9), max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    bids=levels,
    asks=levels,
    ops=st.lists(st.tuples(st.booleans(), st.integers(1, SCALE - 1), st.integers(-(10**9), 10**9)), max_size=60),
)
def test_set_changes_match_a_plain_dict_model(bids, asks, ops) -> None:
    book = OrderBook("T")
    book.apply_snapshot(snap(bids.items(), asks.items()), 0)
    model = {BookSide.BID: dict(bids), BookSide.ASK: dict(asks)}
    for is_bid, price, size in ops:
        side = BookSide.BID if is_bid else BookSide.ASK
        size = abs(size)
        book.apply_change(change(side, price, size, ChangeMode.SET), 1)
        if size:
            model[side][price] = size
        else:
            model[side].pop(price, None)
    assert book.bids() == tuple(sorted(model[BookSide.BID].items(), reverse=True))
    assert book.asks() == tuple(sorted(model[BookSide.ASK].items()))
    best_bid = max(model[BookSide.BID], default=None)
    best_ask = min(model[BookSide.ASK], default=None)
    if best_bid is not None and best_ask is not None and best_bid >= best_ask:
        assert not book.trusted


# -- fixed point ------------------------------------------------------------------------------


def test_fixed_point_parsing_is_exact_and_strict() -> None:
    assert parse_price("0.5600", "p") == 560_000
    assert parse_price("1", "p") == SCALE
    assert parse_micro("26.66", "s") == 26_660_000
    assert parse_signed_micro("-54.00", "d") == -54_000_000
    assert to_micro(0.01, "t", allow_number=True) == 10_000
    assert to_micro(1e-05, "t", allow_number=True) == 10
    assert to_micro(5, "m", allow_number=True) == 5 * SCALE
    assert parse_cents(56, "c") == 560_000
    assert from_micro(560_000) == Decimal("0.56")
    assert micro_to_str(560_000, 4) == "0.5600" and micro_to_str(-54_000_000, 2) == "-54.00"
    with pytest.raises(ValueError):
        micro_to_str(560_001, 4)


@pytest.mark.parametrize(
    "text,problem",
    [
        ("nan", "plain decimal"),
        ("inf", "plain decimal"),
        ("1e5", "plain decimal"),
        (" 1", "plain decimal"),
        ("1_0", "plain decimal"),
        ("0.1234567", "6 decimals"),
        ("-0.1", "within [0, 1]"),
        ("1.01", "within [0, 1]"),
        ("", "plain decimal"),
    ],
)
def test_bad_prices_name_the_field(text: str, problem: str) -> None:
    with pytest.raises(FieldError) as info:
        parse_price(text, "msg.price_dollars", venue="kalshi")
    assert info.value.field == "msg.price_dollars" and problem in str(info.value)


@pytest.mark.parametrize("value", [None, True, 0.5, [1], {"a": 1}])
def test_non_strings_are_rejected_unless_numbers_are_allowed(value) -> None:
    with pytest.raises(FieldError) as info:
        parse_micro(value, "size")
    assert info.value.field == "size"


def test_non_finite_numbers_are_rejected() -> None:
    for value in (float("nan"), float("inf")):
        with pytest.raises(FieldError):
            to_micro(value, "rate", allow_number=True)
    with pytest.raises(FieldError):
        parse_cents(101, "yes_bid")
    with pytest.raises(FieldError):
        parse_cents(True, "yes_bid")


def test_a_copied_ladder_does_not_move_with_the_original() -> None:
    from arb.book import BinaryBook, OrderBook
    from arb.domain import BookSnapshot, Side, Venue

    book = OrderBook("t", "m", "polymarket")
    book.apply_snapshot(BookSnapshot(Venue.POLYMARKET, "t", "m", ((400_000, 5),), ((420_000, 7),)), 10)
    pair = BinaryBook("m", book)
    copied = pair.copy()
    book.apply_snapshot(BookSnapshot(Venue.POLYMARKET, "t", "m", ((300_000, 1),), ((310_000, 2),)), 20)
    book.mark_untrusted("gap")
    assert copied.asks(Side.YES) == ((420_000, 7),) and copied.yes.last_update_ns == 10 and copied.trusted
    assert pair.asks(Side.YES) == ((310_000, 2),) and not pair.trusted
