"""The simulator core: matching engine (against a brute-force reference), fault injection, participants."""

from __future__ import annotations

import ast
import dataclasses
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from arb.book import OrderBook
from arb.domain import BookSide, ChangeMode, LevelList, OrderStatus, TimeInForce
from arb.errors import ConfigError, FieldError
from arb.venues.sim.engine import (
    CancelReason,
    LevelDelta,
    MatchingEngine,
    SelfTradePolicy,
    SimFill,
    sequential_ids,
)
from arb.venues.sim.faults import Fault, FaultInjector, FaultPlan
from arb.venues.sim.liquidity import HOUSE, set_book, set_level
from arb.venues.sim.participants import MarketMaker, Taker

BID, ASK = BookSide.BID, BookSide.ASK
GTC, GTD, IOC, FOK = TimeInForce.GTC, TimeInForce.GTD, TimeInForce.IOC, TimeInForce.FOK
C = 10_000  # one cent in micro-USD
U = 1_000_000  # one contract in micro-units


def engine(policy: SelfTradePolicy = SelfTradePolicy.ALLOW) -> MatchingEngine:
    return MatchingEngine("BOOK", sequential_ids(), self_trade=policy)


RefFill = tuple[str, str, int, int]  # taker order id, maker order id, price, size


def fill_tuples(fills: list[SimFill]) -> list[RefFill]:
    return [(f.taker_order_id, f.maker_order_id, f.price_micro_usd, f.size_micro) for f in fills]


# -- matching rules -------------------------------------------------------------------------------


def test_price_time_priority_earlier_order_at_same_price_fills_first() -> None:
    e = engine()
    first = e.submit("m1", ASK, 50 * C, 2 * U, GTC).order
    second = e.submit("m2", ASK, 50 * C, 2 * U, GTC).order
    better = e.submit("m3", ASK, 49 * C, 1 * U, GTC).order

    result = e.submit("t", BID, 50 * C, 2 * U, GTC)

    # Best price first (49c), then the older of the two 50c orders; fills print at the maker's price.
    assert fill_tuples(result.fills) == [
        (result.order.order_id, better.order_id, 49 * C, 1 * U),
        (result.order.order_id, first.order_id, 50 * C, 1 * U),
    ]
    assert result.order.status is OrderStatus.FILLED
    assert (first.filled_micro, first.remaining_micro, first.status) == (1 * U, 1 * U, OrderStatus.OPEN)
    assert (second.filled_micro, second.status) == (0, OrderStatus.OPEN)
    assert better.status is OrderStatus.FILLED
    assert result.deltas == [
        LevelDelta("BOOK", ASK, 49 * C, 0, -1 * U),
        LevelDelta("BOOK", ASK, 50 * C, 3 * U, -1 * U),
    ]
    assert e.levels(ASK) == [(50 * C, 3 * U)]
    assert [f.seq for f in result.fills] == [1, 2]
    assert [f.taker_side for f in result.fills] == [BID, BID]


def test_partial_fill_then_rest_and_bids_best_first() -> None:
    e = engine()
    e.submit("m", ASK, 60 * C, 3 * U, GTC)
    e.submit("b1", BID, 40 * C, 1 * U, GTC)
    result = e.submit("t", BID, 61 * C, 5 * U, GTC)

    assert fill_tuples(result.fills) == [(result.order.order_id, "order-1", 60 * C, 3 * U)]
    order = result.order
    assert (order.status, order.filled_micro, order.remaining_micro) == (OrderStatus.OPEN, 3 * U, 2 * U)
    assert result.deltas == [LevelDelta("BOOK", ASK, 60 * C, 0, -3 * U), LevelDelta("BOOK", BID, 61 * C, 2 * U, 2 * U)]
    assert e.snapshot() == (((61 * C, 2 * U), (40 * C, 1 * U)), ())
    assert e.best_bid() == (61 * C, 2 * U) and e.best_ask() is None
    assert e.orders_of("t") == [order]


def test_sell_side_sweeps_bids_from_the_highest() -> None:
    e = engine()
    e.submit("m", BID, 30 * C, 1 * U, GTC)
    e.submit("m", BID, 32 * C, 1 * U, GTC)
    e.submit("m", BID, 31 * C, 1 * U, GTC)
    result = e.submit("t", ASK, 31 * C, 5 * U, IOC)
    assert [f.price_micro_usd for f in result.fills] == [32 * C, 31 * C]
    assert result.order.status is OrderStatus.CANCELED
    assert result.order.cancel_reason is CancelReason.IOC_REMAINDER
    assert (result.order.filled_micro, result.order.canceled_micro) == (2 * U, 3 * U)
    assert e.levels(BID) == [(30 * C, 1 * U)]


def test_ioc_without_crossing_liquidity_is_cancelled_and_leaves_no_trace() -> None:
    e = engine()
    e.submit("m", ASK, 60 * C, 3 * U, GTC)
    result = e.submit("t", BID, 59 * C, 1 * U, IOC)
    assert result.fills == [] and result.deltas == []
    assert result.order.status is OrderStatus.CANCELED and result.order.canceled_micro == 1 * U
    assert e.orders_of("t") == []
    assert e.snapshot() == ((), ((60 * C, 3 * U),))


def test_fok_kill_leaves_the_book_untouched() -> None:
    e = engine()
    m1 = e.submit("m", ASK, 50 * C, 2 * U, GTC).order
    m2 = e.submit("m", ASK, 51 * C, 2 * U, GTC).order
    before = e.snapshot()

    killed = e.submit("t", BID, 51 * C, 5 * U, FOK)

    assert killed.fills == [] and killed.deltas == []
    assert killed.order.status is OrderStatus.CANCELED
    assert killed.order.cancel_reason is CancelReason.FOK_NOT_FILLABLE
    assert (killed.order.filled_micro, killed.order.canceled_micro) == (0, 5 * U)
    assert e.snapshot() == before
    assert (m1.filled_micro, m2.filled_micro) == (0, 0)
    assert e.last_fill_seq == 0

    # Exactly the available size fills completely, across both levels.
    done = e.submit("t", BID, 51 * C, 4 * U, FOK)
    assert done.order.status is OrderStatus.FILLED
    assert sum(f.size_micro for f in done.fills) == 4 * U
    assert e.snapshot() == ((), ())


def test_fill_limit_caps_the_immediate_match() -> None:
    e = engine()
    e.submit("m", ASK, 50 * C, 3 * U, GTC)
    # GTC: 1 matches; the rest (2) would still cross the 50c ask, so it is cancelled, not rested.
    capped = e.submit("t", BID, 50 * C, 3 * U, GTC, fill_limit_micro=1 * U)
    assert fill_tuples(capped.fills) == [(capped.order.order_id, "order-1", 50 * C, 1 * U)]
    assert capped.order.status is OrderStatus.CANCELED and capped.order.cancel_reason is CancelReason.FILL_LIMIT
    assert e.levels(ASK) == [(50 * C, 2 * U)] and e.levels(BID) == []

    # GTC whose cap takes the whole crossing level: the rest no longer crosses and rests.
    rested = e.submit("t", BID, 50 * C, 5 * U, GTC, fill_limit_micro=2 * U)
    assert rested.order.status is OrderStatus.OPEN and rested.order.remaining_micro == 3 * U
    assert e.snapshot() == (((50 * C, 3 * U),), ())

    # IOC: capped, the rest cancelled.
    ioc = e.submit("s", ASK, 50 * C, 3 * U, IOC, fill_limit_micro=1 * U)
    assert (ioc.order.filled_micro, ioc.order.canceled_micro, ioc.order.status) == (1 * U, 2 * U, OrderStatus.CANCELED)

    # FOK with a cap below its size is killed even though the liquidity is there.
    before = e.snapshot()
    fok = e.submit("s", ASK, 50 * C, 2 * U, FOK, fill_limit_micro=1 * U)
    assert fok.fills == [] and fok.order.cancel_reason is CancelReason.FOK_NOT_FILLABLE
    assert e.snapshot() == before
    # ... and a cap of at least the size changes nothing.
    fok = e.submit("s", ASK, 50 * C, 2 * U, FOK, fill_limit_micro=2 * U)
    assert fok.order.status is OrderStatus.FILLED

    # A zero cap on a non-crossing GTC just rests it.
    zero = e.submit("s", ASK, 70 * C, 1 * U, GTC, fill_limit_micro=0)
    assert zero.order.status is OrderStatus.OPEN


def test_cancel_and_cancel_all() -> None:
    e = engine()
    a = e.submit("m", BID, 40 * C, 2 * U, GTC, client_order_id="c1").order
    b = e.submit("m", BID, 40 * C, 3 * U, GTC).order
    c = e.submit("m", ASK, 60 * C, 1 * U, GTC).order
    other = e.submit("x", ASK, 61 * C, 1 * U, GTC).order
    e.submit("t", ASK, 40 * C, 1 * U, IOC)  # a is now 1 filled, 1 resting

    result = e.cancel(a.order_id)
    assert result.canceled and result.order is a
    assert result.deltas == [LevelDelta("BOOK", BID, 40 * C, 3 * U, -1 * U)]
    assert (a.status, a.filled_micro, a.remaining_micro, a.canceled_micro) == (OrderStatus.CANCELED, 1 * U, 0, 1 * U)
    assert a.cancel_reason is CancelReason.REQUESTED
    again = e.cancel(a.order_id)
    assert not again.canceled and again.deltas == [] and again.order is a
    unknown = e.cancel("nope")
    assert unknown.order is None and not unknown.canceled
    assert e.order_by_client_id("m", "c1") is a and e.order("nope") is None

    assert e.orders_of("m") == [b, c]
    results = e.cancel_all("m")
    assert [r.order for r in results] == [b, c]
    assert [d for r in results for d in r.deltas] == [
        LevelDelta("BOOK", BID, 40 * C, 0, -3 * U),
        LevelDelta("BOOK", ASK, 60 * C, 0, -1 * U),
    ]
    assert e.orders_of("m") == [] and e.open_orders() == [other]
    assert e.snapshot() == ((), ((61 * C, 1 * U),))


def test_cancel_in_the_middle_of_a_queue_keeps_the_others_order() -> None:
    e = engine()
    orders = [e.submit(f"m{i}", ASK, 50 * C, 1 * U, GTC).order for i in range(4)]
    e.cancel(orders[1].order_id)
    e.cancel(orders[3].order_id)
    result = e.submit("t", BID, 50 * C, 2 * U, IOC)
    assert [f.maker_order_id for f in result.fills] == [orders[0].order_id, orders[2].order_id]
    assert e.snapshot() == ((), ())


def test_gtd_rests_like_gtc() -> None:
    e = engine()
    order = e.submit("m", BID, 40 * C, 1 * U, GTD).order
    assert order.status is OrderStatus.OPEN and e.levels(BID) == [(40 * C, 1 * U)]


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("price_micro_usd", {"price_micro_usd": 0}),
        ("price_micro_usd", {"price_micro_usd": 1_000_000}),
        ("price_micro_usd", {"price_micro_usd": -5}),
        ("price_micro_usd", {"price_micro_usd": 0.5}),
        ("price_micro_usd", {"price_micro_usd": True}),
        ("size_micro", {"size_micro": 0}),
        ("size_micro", {"size_micro": -1}),
        ("size_micro", {"size_micro": 1.0}),
        ("side", {"side": "bid"}),
        ("tif", {"tif": "gtc"}),
        ("fill_limit_micro", {"fill_limit_micro": -1}),
    ],
)
def test_invalid_orders_are_rejected_naming_the_field_and_change_nothing(field: str, kwargs: dict[str, Any]) -> None:
    e = engine()
    e.submit("m", ASK, 50 * C, 1 * U, GTC)
    args: dict[str, Any] = {
        "owner": "t",
        "side": BID,
        "price_micro_usd": 50 * C,
        "size_micro": 1 * U,
        "tif": GTC,
    } | kwargs
    with pytest.raises(FieldError) as info:
        e.submit(**args)
    assert info.value.field == field
    assert e.snapshot() == ((), ((50 * C, 1 * U),))
    assert e.submit("t2", BID, 40 * C, 1 * U, GTC).order.order_id == "order-2"  # no id consumed


def test_self_trade_allowed_by_default_and_cancel_taker_when_chosen() -> None:
    allow = engine()
    allow.submit("me", ASK, 50 * C, 1 * U, GTC)
    assert allow.submit("me", BID, 50 * C, 1 * U, GTC).order.status is OrderStatus.FILLED

    e = engine(SelfTradePolicy.CANCEL_TAKER)
    other = e.submit("x", ASK, 49 * C, 1 * U, GTC).order
    mine = e.submit("me", ASK, 50 * C, 1 * U, GTC).order
    e.submit("x", ASK, 51 * C, 1 * U, GTC)
    result = e.submit("me", BID, 51 * C, 3 * U, GTC)
    # Matches the other owner's 49c, stops at its own 50c order and cancels the rest.
    assert fill_tuples(result.fills) == [(result.order.order_id, other.order_id, 49 * C, 1 * U)]
    assert result.order.status is OrderStatus.CANCELED and result.order.cancel_reason is CancelReason.SELF_TRADE
    assert mine.status is OrderStatus.OPEN
    # A FOK counts liquidity only up to its own order: killed.
    before = e.snapshot()
    fok = e.submit("me", BID, 51 * C, 1 * U, FOK)
    assert fok.fills == [] and e.snapshot() == before


def test_ids_are_deterministic_and_terminal_orders_are_forgotten_beyond_retention() -> None:
    e = MatchingEngine("B", sequential_ids(":"), terminal_retention=2)
    ids = [e.submit("m", BID, 10 * C, 1 * U, IOC, client_order_id=f"c{i}").order.order_id for i in range(3)]
    assert ids == ["order:1", "order:2", "order:3"]
    assert e.order("order:1") is None and e.order_by_client_id("m", "c0") is None
    assert e.order("order:3") is not None and e.order_by_client_id("m", "c2") is not None
    e.submit("m", ASK, 10 * C, 1 * U, GTC)
    fills = e.submit("t", BID, 10 * C, 1 * U, IOC).fills
    assert [f.fill_id for f in fills] == ["fill:1"]


# -- reference model ------------------------------------------------------------------------------


@dataclasses.dataclass
class _RefOrder:
    order_id: str
    owner: str
    side: BookSide
    price: int
    size: int
    filled: int = 0
    remaining: int = 0
    canceled: int = 0
    status: OrderStatus = OrderStatus.OPEN


class ReferenceMatcher:
    """A naive matcher: scan every resting order per submit. Shares no code with the engine."""

    def __init__(self, cancel_taker: bool) -> None:
        self.cancel_taker = cancel_taker
        self.resting: list[_RefOrder] = []  # arrival order
        self.orders: dict[str, _RefOrder] = {}

    def _crosses(self, side: BookSide, limit: int, maker: _RefOrder) -> bool:
        return maker.side is not side and (maker.price <= limit if side is BID else maker.price >= limit)

    def submit(
        self, order_id: str, owner: str, side: BookSide, price: int, size: int, tif: TimeInForce, fill_limit: int | None
    ) -> list[RefFill]:
        order = _RefOrder(order_id, owner, side, price, size)
        self.orders[order_id] = order
        candidates = [m for m in self.resting if self._crosses(side, price, m)]
        # Best price first; Python's sort is stable, so arrival order breaks ties (time priority).
        candidates.sort(key=lambda m: m.price if side is BID else -m.price)
        stopped = False
        if self.cancel_taker:
            for i, m in enumerate(candidates):
                if m.owner == owner:
                    candidates, stopped = candidates[:i], True
                    break
        budget = size if fill_limit is None else min(size, fill_limit)
        fills: list[RefFill] = []
        if tif is FOK and (budget < size or sum(m.remaining for m in candidates) < size):
            order.canceled, order.status = size, OrderStatus.CANCELED
            return fills
        for m in candidates:
            if budget == 0:
                break
            take = min(budget, m.remaining)
            budget -= take
            m.remaining -= take
            m.filled += take
            order.filled += take
            fills.append((order_id, m.order_id, m.price, take))
            if m.remaining == 0:
                m.status = OrderStatus.FILLED
        self.resting = [m for m in self.resting if m.remaining]
        rest = size - order.filled
        if rest == 0:
            order.status = OrderStatus.FILLED
        elif stopped or tif in (IOC, FOK) or any(self._crosses(side, price, m) for m in self.resting):
            order.canceled, order.status = rest, OrderStatus.CANCELED
        else:
            order.remaining = rest
            self.resting.append(order)
        return fills

    def cancel(self, order_id: str) -> None:
        order = self.orders.get(order_id)
        if order is not None and order.status is OrderStatus.OPEN:
            order.canceled += order.remaining
            order.remaining = 0
            order.status = OrderStatus.CANCELED
            self.resting.remove(order)

    def levels(self, side: BookSide) -> list[tuple[int, int]]:
        totals: dict[int, int] = {}
        for m in self.resting:
            if m.side is side:
                totals[m.price] = totals.get(m.price, 0) + m.remaining
        return sorted(totals.items(), reverse=side is BID)


_submit = st.tuples(
    st.just("submit"),
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from([BID, ASK]),
    st.sampled_from([40 * C, 45 * C, 50 * C, 55 * C, 60 * C]),
    st.integers(1, 8),
    st.sampled_from([GTC, GTD, IOC, FOK]),
    st.none() | st.integers(0, 8),
)
_cancel = st.tuples(st.just("cancel"), st.integers(0, 10_000))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_submit | _cancel, max_size=60), cancel_taker=st.booleans())
def test_engine_matches_the_reference_and_its_deltas_replay_its_book(
    ops: list[tuple[Any, ...]], cancel_taker: bool
) -> None:
    e = engine(SelfTradePolicy.CANCEL_TAKER if cancel_taker else SelfTradePolicy.ALLOW)
    ref = ReferenceMatcher(cancel_taker)
    added, totals = OrderBook("BOOK"), OrderBook("BOOK")
    submitted: list[str] = []
    seqs: list[int] = []
    for op in ops:
        if op[0] == "submit":
            _, owner, side, price, size, tif, fill_limit = op
            result = e.submit(owner, side, price, size, tif, fill_limit_micro=fill_limit)
            submitted.append(result.order.order_id)
            expected = ref.submit(result.order.order_id, owner, side, price, size, tif, fill_limit)
            assert fill_tuples(result.fills) == expected
            assert all(f.taker_owner == owner and f.taker_side is side for f in result.fills)
            seqs.extend(f.seq for f in result.fills)
            deltas = result.deltas
        else:
            if not submitted:
                continue
            order_id = submitted[op[1] % len(submitted)]
            deltas = e.cancel(order_id).deltas
            ref.cancel(order_id)
        for d in deltas:
            assert d.book_id == "BOOK" and d.delta_micro != 0 and d.size_micro >= 0
            added.apply_level(d.side, d.price_micro_usd, d.delta_micro, ChangeMode.ADD, 0)
            totals.apply_level(d.side, d.price_micro_usd, d.size_micro, ChangeMode.SET, 0)
        snapshot = e.snapshot()
        assert added.snapshot_levels() == snapshot == totals.snapshot_levels()
        assert snapshot == (tuple(ref.levels(BID)), tuple(ref.levels(ASK)))
        assert not added.is_crossed()

    assert seqs == list(range(1, len(seqs) + 1))
    size_total = filled_total = remaining_total = canceled_total = 0
    for order_id in submitted:
        order, ref_order = e.order(order_id), ref.orders[order_id]
        assert order is not None
        assert (order.status, order.filled_micro, order.remaining_micro, order.canceled_micro) == (
            ref_order.status,
            ref_order.filled,
            ref_order.remaining,
            ref_order.canceled,
        )
        assert order.size_micro == order.filled_micro + order.remaining_micro + order.canceled_micro
        size_total += order.size_micro
        filled_total += order.filled_micro
        remaining_total += order.remaining_micro
        canceled_total += order.canceled_micro
    resting_in_book = sum(size for side in (BID, ASK) for _, size in e.levels(side))
    assert size_total == filled_total + remaining_total + canceled_total
    assert remaining_total == resting_in_book
    assert filled_total == 2 * e.volume_micro  # every fill fills a taker and a maker


_FEW_PRICES = st.sampled_from([45 * C, 50 * C, 55 * C])  # few levels: amended orders share queues
_submit_few = st.tuples(
    st.just("submit"),
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from([BID, ASK]),
    _FEW_PRICES,
    st.integers(1, 8),
    st.sampled_from([GTC, GTC, IOC, FOK]),
    st.none(),
)
_amend = st.tuples(st.just("amend"), st.integers(0, 10_000), _FEW_PRICES, st.integers(1, 8))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_submit_few | _cancel | _amend, max_size=50), cancel_taker=st.booleans())
@example(  # an amended order goes behind the order already at its new level
    ops=[
        ("submit", "a", BID, 50 * C, 2, GTC, None),
        ("submit", "b", BID, 55 * C, 2, GTC, None),
        ("amend", 0, 55 * C, 2),
        ("submit", "c", ASK, 55 * C, 1, IOC, None),
    ],
    cancel_taker=False,
)
def test_amend_trades_like_cancel_and_resubmit_but_keeps_the_order(
    ops: list[tuple[Any, ...]], cancel_taker: bool
) -> None:
    """`amend` against a second engine where the amendment is a cancel plus a fresh GTC order at
    the new terms: the same fills (prices, sizes, makers) and the same book after every step; the
    amended order keeps its id and what it filled, with size = filled + remaining + canceled."""
    policy = SelfTradePolicy.CANCEL_TAKER if cancel_taker else SelfTradePolicy.ALLOW
    amending, replacing = engine(policy), engine(policy)
    ids: list[str] = []  # orders of the amending engine
    twin: dict[str, str] = {}  # amending engine's id -> the replacing engine's current order
    replay = OrderBook("BOOK")
    for op in ops:
        if op[0] == "submit":
            _, owner, side, price, size, tif, _ = op
            result = amending.submit(owner, side, price, size, tif)
            other = replacing.submit(owner, side, price, size, tif)
            ids.append(result.order.order_id)
            twin[result.order.order_id] = other.order.order_id
            fills, other_fills, deltas = result.fills, other.fills, result.deltas
        elif not ids:
            continue
        elif op[0] == "cancel":
            order_id = ids[op[1] % len(ids)]
            fills, other_fills, deltas = [], [], amending.cancel(order_id).deltas
            replacing.cancel(twin[order_id])
        else:
            order_id = ids[op[1] % len(ids)]
            order = amending.order(order_id)
            assert order is not None
            if not order.is_open:
                continue
            filled_before = order.filled_micro
            result = amending.amend(order_id, op[2], op[3] * C)
            replacing.cancel(twin[order_id])
            other = replacing.submit(order.owner, order.side, op[2], op[3] * C, GTC)
            twin[order_id] = other.order.order_id
            assert result.order is order and order.filled_micro == filled_before + sum(
                f.size_micro for f in result.fills
            )
            fills, other_fills, deltas = result.fills, other.fills, result.deltas
        back = {v: k for k, v in twin.items()}
        assert [(back.get(f.maker_order_id), f.price_micro_usd, f.size_micro) for f in other_fills] == [
            (f.maker_order_id, f.price_micro_usd, f.size_micro) for f in fills
        ]
        for d in deltas:
            replay.apply_level(d.side, d.price_micro_usd, d.delta_micro, ChangeMode.ADD, 0)
        assert amending.snapshot() == replacing.snapshot() == replay.snapshot_levels()
    for order_id in ids:
        order = amending.order(order_id)
        assert (
            order is not None and order.size_micro == order.filled_micro + order.remaining_micro + order.canceled_micro
        )


# -- faults ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"http_429_fraction": 1.5},
        {"http_500_fraction": -0.1},
        {"http_429_fraction": 0.6, "http_500_fraction": 0.5},
        {"partial_fill_fraction": float("nan")},
        {"partial_fill_ratio": 2},
        {"drop_connection_after_frames": -1},
        {"freeze_limit": -1},
        {"sequence_gap_at_frames": (3, -1)},
        {"hash_mismatch_at_frames": [1, 2]},
        {"http_fault_path_prefixes": ("orders",)},
        {"latency_s": -0.5},
        {"fill_later_s": float("inf")},
        {"seed": "x"},
        {"ack_then_fill": 1},
    ],
)
def test_fault_plan_rejects_bad_knobs(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        FaultPlan(**kwargs)


def test_http_faults_are_seeded_and_restricted_to_path_prefixes() -> None:
    plan = FaultPlan(seed=7, http_429_fraction=0.1, http_500_fraction=0.05, http_fault_path_prefixes=("/orders",))
    one, two = FaultInjector(plan), FaultInjector(plan)
    answers = [one.http_status("/orders/abc") for _ in range(2000)]
    assert answers == [two.http_status("/orders/abc") for _ in range(2000)]
    # Exact counts for this seed (about 10% and 5% of 2000).
    assert (answers.count(429), answers.count(500)) == (one.counts["http_429"], one.counts["http_500"]) == (203, 97)
    assert all(one.http_status("/markets") is None for _ in range(200))
    other = FaultInjector(dataclasses.replace(plan, seed=8))
    assert [other.http_status("/orders") for _ in range(2000)] != answers
    # Scripted failures come first and hit any path.
    quiet = FaultInjector()
    quiet.fail_next_http(503, count=2)
    assert [quiet.http_status("/x") for _ in range(3)] == [503, 503, None]
    assert quiet.should_fail_http("/x") is None


def test_planned_frame_faults_fire_at_their_frames_within_their_limits() -> None:
    inj = FaultInjector(
        FaultPlan(drop_connection_after_frames=3, sequence_gap_at_frames=(1,), hash_mismatch_at_frames=(2,))
    )
    first = [inj.frame_fault("market", i) for i in range(5)]
    assert first == [None, Fault.SEQUENCE_GAP, Fault.HASH_MISMATCH, Fault.DROP_CONNECTION, None]
    # The client reconnects and the server counts frames from 0 again: nothing repeats.
    inj.connection_opened("market")
    assert [inj.frame_fault("market", i) for i in range(5)] == [None] * 5
    # Another stream has its own budget; the single-argument form means stream "default".
    assert inj.frame_fault("user", 3) is Fault.DROP_CONNECTION
    assert inj.frame_fault(1) is Fault.SEQUENCE_GAP
    assert inj.counts[Fault.DROP_CONNECTION.value] == 2

    every = FaultInjector(FaultPlan(drop_connection_after_frames=0, drop_connection_limit=None))
    assert [every.frame_fault("m", 0) for _ in range(3)] == [Fault.DROP_CONNECTION] * 3


def test_planned_freeze_lasts_until_thaw_or_a_new_connection() -> None:
    inj = FaultInjector(FaultPlan(freeze_after_frames=2))
    assert [inj.frame_fault("m", i) for i in range(5)] == [None, None, Fault.FREEZE, Fault.FREEZE, Fault.FREEZE]
    assert inj.frozen("m") and inj.counts["freeze"] == 1 and inj.counts["frozen_frames"] == 2
    inj.connection_opened("m")
    assert [inj.frame_fault("m", i) for i in range(5)] == [None] * 5  # freeze_limit=1 used up


def test_scripted_frame_faults() -> None:
    inj = FaultInjector()
    assert inj.frame_fault("m", 0) is None
    inj.freeze("m")
    assert inj.frame_fault("m", 1) is Fault.FREEZE and inj.frame_fault("u", 1) is None
    inj.gap_next("m")
    inj.drop_next("m")
    assert inj.frame_fault("m", 2) is Fault.FREEZE  # the gap waits for the thaw
    inj.thaw("m")
    assert [inj.frame_fault("m", i) for i in range(3, 6)] == [Fault.SEQUENCE_GAP, Fault.DROP_CONNECTION, None]
    inj.freeze()  # every stream
    assert inj.frame_fault("u", 0) is Fault.FREEZE and inj.frame_fault("m", 0) is Fault.FREEZE
    inj.drop_next()
    assert inj.frame_fault("u", 1) is Fault.DROP_CONNECTION  # a drop closes even a frozen socket
    inj.thaw()
    inj.corrupt_next_hash()
    assert [inj.frame_fault("u", 2), inj.frame_fault("m", 2)] == [Fault.HASH_MISMATCH, None]


def test_partial_fill_limits_are_seeded_exact_and_independent_of_http_draws() -> None:
    plan = FaultPlan(seed=3, partial_fill_fraction=0.25, partial_fill_ratio=0.4, http_500_fraction=0.5)
    one, two = FaultInjector(plan), FaultInjector(plan)
    for _ in range(50):
        two.http_status("/x")  # a different amount of HTTP traffic must not shift fill decisions
    caps = [one.partial_fill_limit(10 * U, lot_micro=U) for _ in range(400)]
    assert caps == [two.partial_fill_limit(10 * U, lot_micro=U) for _ in range(400)]
    assert set(caps) == {None, 4 * U}
    assert sum(c is not None for c in caps) == one.counts["partial_fill"] == 106
    always = FaultInjector(FaultPlan(partial_fill_fraction=1.0, partial_fill_ratio=1.0))
    assert always.partial_fill_limit(3 * U, lot_micro=U) == 2 * U  # always strictly partial
    assert always.partial_fill_limit(1 * U, lot_micro=U) == 0
    assert always.partial_fill_limit(2_500_000, lot_micro=U) == 2 * U
    assert FaultInjector().partial_fill_limit(5 * U) is None


def test_latency_and_ack_then_fill_knobs() -> None:
    inj = FaultInjector(FaultPlan(seed=1, latency_s=0.2, ack_then_fill=True, fill_later_s=1.5))
    assert inj.latency_s == 0.2 and inj.ack_then_fill and inj.fill_later_s == 1.5
    samples = [inj.jittered_latency_s() for _ in range(100)]
    assert all(0.1 <= s <= 0.3 for s in samples) and len(set(samples)) > 50
    again = FaultInjector(inj.plan)
    assert samples == [again.jittered_latency_s() for _ in range(100)]
    inj.latency_s = 0
    assert inj.jittered_latency_s() == 0.0
    with pytest.raises(ConfigError):
        inj.latency_s = -1


# -- participants ---------------------------------------------------------------------------------


def _run_market(
    seed: int, steps: int
) -> tuple[list[tuple[str, str, int, int, int]], list[tuple[str, int, int, int]], tuple[LevelList, LevelList]]:
    rng = random.Random(seed)
    e = engine()
    makers = [
        MarketMaker("mm1", e, random.Random(rng.random()), 500_000, spread_ticks=2, levels=3, size_micro=10 * U),
        MarketMaker("mm2", e, random.Random(rng.random()), 520_000, spread_ticks=4, levels=2, size_micro=5 * U),
    ]
    taker = Taker("taker", e, random.Random(rng.random()), max_lots=8, through_ticks=2)
    book = OrderBook("BOOK")
    participants: list[MarketMaker | Taker] = [*makers, taker]
    fills: list[tuple[str, str, int, int, int]] = []
    deltas: list[tuple[str, int, int, int]] = []
    for _ in range(steps):
        for participant in participants:
            result = participant.step()
            fills.extend((f.maker_owner, f.taker_owner, f.price_micro_usd, f.size_micro, f.seq) for f in result.fills)
            for d in result.deltas:
                deltas.append((d.side.value, d.price_micro_usd, d.size_micro, d.delta_micro))
                book.apply_level(d.side, d.price_micro_usd, d.delta_micro, ChangeMode.ADD, 0)
            assert not book.is_crossed()
    assert book.snapshot_levels() == e.snapshot()
    return fills, deltas, e.snapshot()


def test_participants_are_deterministic_under_a_seed_and_really_trade() -> None:
    first = _run_market(11, 300)
    assert first == _run_market(11, 300)
    assert first != _run_market(12, 300)
    fills, deltas, _ = first
    assert fills and all(maker in ("mm1", "mm2") and taker == "taker" for maker, taker, *_ in fills)
    assert len({price for _, _, price, _, _ in fills}) > 3  # the mids really moved
    assert any(delta < 0 for *_, delta in deltas) and any(delta > 0 for *_, delta in deltas)


def test_market_maker_quotes_a_ladder_and_keeps_queue_position_when_unchanged() -> None:
    e = engine()
    mm = MarketMaker("mm", e, random.Random(0), 500_000, spread_ticks=2, tick_micro=C, levels=2, size_micro=U)
    first = mm.requote()
    assert e.snapshot() == (((49 * C, U), (48 * C, U)), ((51 * C, U), (52 * C, U)))
    assert [d.delta_micro for d in first.deltas] == [U] * 4
    kept = {o.order_id for o in e.orders_of("mm")}
    assert mm.requote().deltas == []  # nothing changed: nothing re-posted
    assert {o.order_id for o in e.orders_of("mm")} == kept
    # Near the edge of the price range only the levels inside (0, 1) are quoted.
    edge = MarketMaker("edge", engine(), random.Random(0), C, spread_ticks=2, tick_micro=C, levels=3, size_micro=U)
    edge.requote()
    assert edge.engine.snapshot() == ((), ((2 * C, U), (3 * C, U), (4 * C, U)))


# -- decrease, grow, forgetting, house liquidity ----------------------------------------------------


def test_decrease_keeps_the_queue_place_and_a_decrease_to_nothing_cancels() -> None:
    e = engine()
    first = e.submit("m1", ASK, 50 * C, 5 * U, GTC).order
    second = e.submit("m2", ASK, 50 * C, 5 * U, GTC).order
    result = e.decrease(first.order_id, 3 * U)
    assert result.canceled and result.deltas == [LevelDelta("BOOK", ASK, 50 * C, 7 * U, -3 * U)]
    fills = e.submit("t", BID, 50 * C, 3 * U, IOC).fills
    # The decreased order kept its place: it fills first, and its rest (2) is matched before m2's.
    assert fill_tuples(fills)[0][1:] == (first.order_id, 50 * C, 2 * U) and fills[1].maker_order_id == second.order_id
    assert first.status is OrderStatus.FILLED and (first.filled_micro, first.canceled_micro) == (2 * U, 3 * U)
    assert first.size_micro == first.filled_micro + first.remaining_micro + first.canceled_micro
    gone = e.decrease(second.order_id, 10 * U)  # more than rests: the order is cancelled
    assert gone.order is not None and gone.order.status is OrderStatus.CANCELED and e.levels(ASK) == []
    with pytest.raises(FieldError):
        e.decrease(second.order_id, 0)


def test_grow_adds_to_the_last_order_of_a_level_only() -> None:
    e = engine()
    first = e.submit("house", BID, 40 * C, 1 * U, GTC).order
    delta = e.grow(first.order_id, 2 * U)
    assert delta == LevelDelta("BOOK", BID, 40 * C, 3 * U, 2 * U) and first.size_micro == 3 * U
    e.submit("other", BID, 40 * C, 1 * U, GTC)
    with pytest.raises(FieldError, match="last order"):
        e.grow(first.order_id, U)  # someone queued behind it: growing would jump the queue


def test_orders_submitted_without_keep_are_forgotten_once_terminal() -> None:
    e = engine()
    kept = e.submit("a", ASK, 50 * C, U, GTC).order
    house = e.submit("house", ASK, 51 * C, U, GTC, client_order_id="h1", keep=False).order
    assert e.order(house.order_id) is house  # resting: still found
    e.submit("t", BID, 51 * C, 2 * U, IOC)
    assert e.order(house.order_id) is None and e.order_by_client_id("house", "h1") is None
    assert e.order(kept.order_id) is kept  # terminal, but kept for queries


def test_set_level_and_set_book_move_only_house_liquidity() -> None:
    e = engine()
    mine = e.submit("acct", BID, 45 * C, 2 * U, GTC).order
    fills, deltas = set_level(e, BID, 45 * C, 3 * U)
    assert fills == [] and deltas == [LevelDelta("BOOK", BID, 45 * C, 5 * U, 3 * U)]
    fills, deltas = set_level(e, BID, 45 * C, 7 * U)  # the house order is last: it grows in place
    assert deltas == [LevelDelta("BOOK", BID, 45 * C, 9 * U, 4 * U)] and len(e.orders_of(HOUSE)) == 1
    fills, deltas = set_level(e, BID, 45 * C, 1 * U)
    assert deltas == [LevelDelta("BOOK", BID, 45 * C, 3 * U, -6 * U)] and mine.remaining_micro == 2 * U
    fills, deltas = set_book(e, [(44 * C, U), (43 * C, 2 * U)], [(47 * C, 5 * U)])
    assert e.snapshot() == (((45 * C, 2 * U), (44 * C, U), (43 * C, 2 * U)), ((47 * C, 5 * U),))
    assert set_book(e, [(44 * C, U), (43 * C, 2 * U)], [(47 * C, 5 * U)]) == ([], [])  # nothing to change
    # New house liquidity that crosses an account's order trades with it, like any order.
    fills, deltas = set_book(e, [], [(45 * C, U)])
    assert [(f.maker_order_id, f.price_micro_usd, f.size_micro) for f in fills] == [(mine.order_id, 45 * C, U)]
    assert e.snapshot() == (((45 * C, U),), ())
    # ...but the house never trades with itself.
    set_book(e, [(40 * C, U)], [])
    with pytest.raises(ConfigError, match="house's own"):
        set_level(e, ASK, 40 * C, U)


@pytest.mark.parametrize(
    ("bids", "asks", "message"),
    [
        ([(50 * C, U)], [(50 * C, U)], "crossed"),
        ([(0, U)], [], "strictly within"),
        ([(40 * C, -U)], [], "non-negative"),
        ([(40 * C, U), (40 * C, U)], [], "twice"),
        ([(40 * C, 1.5)], [], "non-negative int"),
    ],
)
def test_set_book_refuses_bad_ladders_and_changes_nothing(
    bids: list[tuple[int, Any]], asks: list[tuple[int, Any]], message: str
) -> None:
    e = engine()
    set_book(e, [(30 * C, U)], [(70 * C, U)])
    before = e.snapshot()
    with pytest.raises(ConfigError, match=message):
        set_book(e, bids, asks)
    assert e.snapshot() == before


def test_simulators_share_no_code_with_what_they_check() -> None:
    """A reference that checks the adapters and the allocator must not reuse their code: the
    simulators never import the venue adapters or the solver package."""
    sim_dir = Path(__file__).resolve().parents[2] / "arb" / "venues" / "sim"
    for path in sorted(sim_dir.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("arb.venues.kalshi", "arb.venues.polymarket", "solvers")), (
                    f"{path.name} imports {name}"
                )
