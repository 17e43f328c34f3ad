"""Plan legs to orders (listing lookup, exact sizes, time in force by capability, pools on one
mirrored ladder) and fills back to the legs' instruments (Kalshi's YES-stated fills restated, a
pooled order's fills split in plan order). Pure; plus the pool against the Kalshi simulator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.book import BinaryBook, OrderBook
from arb.domain import Action, Fill, Liquidity, OrderStatus, Side, TimeInForce, Venue
from arb.errors import ConfigError
from arb.execution import ExecutionOrderConfig, ExecutionStatus, PlannedOrder, plan_orders, route_fill
from arb.execution.loopback import KALSHI_KEY_ID, LoopbackConfig, kalshi_ticker
from arb.execution.orders import LegPart, part_totals
from arb.fixed import SCALE
from arb.graph import Component, Listing
from arb.venues.kalshi.client import CAPABILITIES as KALSHI
from arb.venues.polymarket.client import CAPABILITIES as POLYMARKET
from solvers.fees import FeeRule
from solvers.plan import Leg, SetPlan
from tests.execution.stage import stage

K, P = Venue.KALSHI, Venue.POLYMARKET
CAPS = {K: KALSHI, P: POLYMARKET}
FEE = FeeRule(Decimal("0.07"))


def _listing(venue: Venue, market: str, side: Side) -> Listing:
    cid = f"{venue.value}:{market}"
    return Listing(f"{cid}:{side.value}", venue, market, cid, side, FEE, 10_000, 10_000, 10_000)


COMPONENT = Component(
    "set-1",
    ("kalshi:T1", "polymarket:C1"),
    (),
    tuple(_listing(v, m, s) for v, m in ((K, "T1"), (P, "C1")) for s in (Side.YES, Side.NO)),
)
BOOKS = {
    (K, "T1"): BinaryBook("T1", OrderBook("T1", "T1", "kalshi")),
    (P, "C1"): BinaryBook("C1", OrderBook("y", "C1", "polymarket"), OrderBook("n", "C1", "polymarket")),
}


def _leg(venue: Venue, market: str, side: Side, action: Action, quantity: str, price: str) -> Leg:
    cid = f"{venue.value}:{market}"
    return Leg(
        f"{cid}:{side.value}",
        venue.value,
        cid,
        side,
        action,
        Decimal(quantity),
        Decimal(price),
        (),
        Decimal(0),
        Decimal(0),
    )


def _plan(*legs: Leg) -> SetPlan:
    return SetPlan("set-1", legs, Decimal(0), 0.0, {}, None, {}, (), {}, "test")


def test_each_leg_is_one_order_with_exact_terms_and_fok_first() -> None:
    orders = plan_orders(
        _plan(_leg(K, "T1", Side.YES, Action.BUY, "3", "0.46"), _leg(P, "C1", Side.NO, Action.BUY, "5.5", "0.52")),
        COMPONENT,
        BOOKS,
        CAPS,
    )
    assert [
        (o.venue, o.market_id, o.outcome, o.action, o.price_micro_usd, o.size_micro, o.time_in_force) for o in orders
    ] == [
        (K, "T1", Side.YES, Action.BUY, 460_000, 3 * SCALE, TimeInForce.FOK),
        (P, "C1", Side.NO, Action.BUY, 520_000, 5_500_000, TimeInForce.FOK),
    ]
    ioc = plan_orders(
        _plan(_leg(K, "T1", Side.YES, Action.BUY, "3", "0.46")),
        COMPONENT,
        BOOKS,
        CAPS,
        ExecutionOrderConfig((TimeInForce.IOC,)),
    )
    assert ioc[0].time_in_force is TimeInForce.IOC


@pytest.mark.parametrize(
    ("leg", "match"),
    [
        (_leg(K, "T9", Side.YES, Action.BUY, "1", "0.5"), "not listed"),
        (_leg(K, "T1", Side.YES, Action.BUY, "0.0000001", "0.5"), "micro-units"),
        (_leg(K, "T1", Side.YES, Action.BUY, "1", "1.2"), "outside"),
        (_leg(K, "T1", Side.YES, Action.BUY, "-1", "0.5"), "positive"),
    ],
)
def test_bad_legs_are_refused_before_anything_is_journaled(leg: Leg, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        plan_orders(_plan(leg), COMPONENT, BOOKS, CAPS)


def test_sell_yes_and_buy_no_on_one_mirrored_ladder_are_one_order_but_not_on_two_ladders() -> None:
    (pool,) = plan_orders(
        _plan(_leg(K, "T1", Side.YES, Action.SELL, "3", "0.45"), _leg(K, "T1", Side.NO, Action.BUY, "2", "0.57")),
        COMPONENT,
        BOOKS,
        CAPS,
    )
    # both take the YES bids: one SELL YES of 5 down to the lower YES limit (1 - 0.57 = 0.43)
    assert (pool.outcome, pool.action, pool.size_micro, pool.price_micro_usd) == (
        Side.YES,
        Action.SELL,
        5 * SCALE,
        430_000,
    )
    assert [(p.plan_leg, p.outcome, p.action, p.size_micro) for p in pool.parts] == [
        (0, Side.YES, Action.SELL, 3 * SCALE),
        (1, Side.NO, Action.BUY, 2 * SCALE),
    ]
    (reordered,) = plan_orders(
        _plan(_leg(K, "T1", Side.NO, Action.BUY, "2", "0.57"), _leg(K, "T1", Side.YES, Action.SELL, "3", "0.45")),
        COMPONENT,
        BOOKS,
        CAPS,
    )
    assert [(p.plan_leg, p.action) for p in reordered.parts] == [(1, Action.SELL), (0, Action.BUY)]  # sale first
    two = plan_orders(
        _plan(_leg(P, "C1", Side.YES, Action.SELL, "3", "0.45"), _leg(P, "C1", Side.NO, Action.BUY, "2", "0.57")),
        COMPONENT,
        BOOKS,
        CAPS,
    )
    assert len(two) == 2  # Polymarket: two token ladders, two books


def _fill(fill_id: str, outcome: Side, action: Action, price: int, size: int, fee: int = 100) -> Fill:
    return Fill(K, fill_id, "o1", "c1", "T1", "T1", outcome, action, price, size, fee, Liquidity.TAKER)


def test_a_kalshi_yes_stated_fill_is_restated_as_the_no_bought() -> None:
    order = PlannedOrder(
        K,
        "T1",
        Side.NO,
        Action.BUY,
        570_000,
        2 * SCALE,
        TimeInForce.FOK,
        (LegPart(0, "kalshi:T1:no", Side.NO, Action.BUY, 2 * SCALE, 570_000),),
    )
    (routed,) = route_fill(order, _fill("f1", Side.YES, Action.SELL, 440_000, 2 * SCALE), 0)
    assert (routed.fill.outcome, routed.fill.action, routed.fill.price_micro_usd, routed.fill.size_micro) == (
        Side.NO,
        Action.BUY,
        560_000,
        2 * SCALE,
    )
    with pytest.raises(ConfigError, match="not a trade of"):
        route_fill(order, _fill("f2", Side.YES, Action.BUY, 440_000, SCALE), 0)


def test_a_pooled_fill_spanning_two_legs_is_split_with_distinct_ids() -> None:
    order = PlannedOrder(
        K,
        "T1",
        Side.YES,
        Action.SELL,
        430_000,
        5 * SCALE,
        TimeInForce.FOK,
        (
            LegPart(0, "kalshi:T1:yes", Side.YES, Action.SELL, 3 * SCALE, 450_000),
            LegPart(1, "kalshi:T1:no", Side.NO, Action.BUY, 2 * SCALE, 570_000),
        ),
    )
    first, second = route_fill(order, _fill("f1", Side.YES, Action.SELL, 440_000, 4 * SCALE), SCALE)
    assert (first.part, first.fill.fill_id, first.fill.size_micro, first.fill.fee_micro_usd) == (
        0,
        "f1",
        2 * SCALE,
        100,
    )
    assert (second.part, second.fill.fill_id, second.fill.size_micro, second.fill.fee_micro_usd) == (
        1,
        "f1/1",
        2 * SCALE,
        0,
    )
    assert (second.fill.outcome, second.fill.action, second.fill.price_micro_usd) == (Side.NO, Action.BUY, 560_000)


@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.lists(st.integers(1, 6), min_size=1, max_size=6))
def test_routing_conserves_size_and_fills_parts_in_order(parts: list[int], fills: list[int]) -> None:
    order = PlannedOrder(
        K,
        "T1",
        Side.YES,
        Action.SELL,
        430_000,
        sum(parts),
        TimeInForce.IOC,
        tuple(LegPart(i, f"i{i}", Side.YES, Action.SELL, size, 430_000) for i, size in enumerate(parts)),
    )
    got = [0] * len(parts)
    before = 0
    for n, size in enumerate(fills):
        shares = route_fill(order, _fill(f"f{n}", Side.YES, Action.SELL, 440_000, size), before)
        assert sum(s.fill.size_micro for s in shares) == size and len({s.fill.fill_id for s in shares}) == len(shares)
        for share in shares:
            got[share.part] += share.fill.size_micro
        before += size
    assert tuple(got) == part_totals(order, before)
    assert all(g <= p for g, p in zip(got[:-1], parts[:-1], strict=True))  # only the last part takes an overfill


@pytest.mark.asyncio
async def test_pooled_kalshi_order_goes_out_once_and_each_leg_gets_its_instrument(tmp_path: Path) -> None:
    ticker = kalshi_ticker(0)
    config = LoopbackConfig(markets=1, kalshi_positions={ticker: (3 * SCALE, 1_200_000)})
    async with stage(tmp_path, config=config) as s:
        report = await s.run(
            [s.leg(K, 0, Side.YES, Action.SELL, "3", "0.44"), s.leg(K, 0, Side.NO, Action.BUY, "2", "0.57")]
        )
        assert report.status is ExecutionStatus.COMPLETE, report
        (order,) = report.orders  # one order for both legs
        assert order.status is OrderStatus.FILLED and order.filled_micro == 5 * SCALE
        (meta,) = s.venues.kalshi_sim.orders_of(KALSHI_KEY_ID)
        assert meta.order.filled_micro == 5 * SCALE
        assert (
            s.venues.kalshi_sim.position(KALSHI_KEY_ID, ticker).position_micro == -2 * SCALE
        )  # 3 YES sold, 2 NO bought
        held = s.ledger.positions()
        assert held[(K, ticker, Side.YES)] == -3 * SCALE and held[(K, ticker, Side.NO)] == 2 * SCALE
        assert report.holdings == {
            s.venues.instrument(K, 0, Side.YES): Decimal(-3),
            s.venues.instrument(K, 0, Side.NO): Decimal(2),
        }
