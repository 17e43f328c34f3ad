"""The repair planner against a brute-force reference that shares no code with it: outcomes
enumerated from what the relations mean, payoffs counted by hand, venue fees from the venues'
published rules (Kalshi: each fill's fee up to $0.0001, the order up to the cent; Polymarket:
rate x q x p(1-p) floored to $0.00001), every alternative repair on a whole-lot grid.

Scenarios: YES bought on Kalshi with the Polymarket NO leg missing (the repair completes or exits,
whichever leaves the higher worst case), an exactly-one group of three with one leg filled (the
completion is refused: one missing leg may fill without the other), nothing to do when hedged or
flat, no liquidity, and a property: a repair never leaves the worst case below where it was, for
any of its partial fills.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arb.book import BinaryBook
from arb.domain import Venue
from arb.errors import ConfigError
from arb.execution.repair import (
    RepairConfig,
    RepairDecision,
    RepairInputError,
    RepairPlanner,
    RepairStatus,
    exposure,
)
from arb.graph import Component
from solvers import Action, Capital, Equivalent, ExactlyOne, Leg
from tests.support import kalshi_book, kalshi_listings, poly_book, polymarket_listings

D = Decimal
K, P = Venue.KALSHI, Venue.POLYMARKET
MICRO = 1_000_000
CENT_MICRO = 10_000
KALSHI_RATE = D("0.07")
POLY_RATE = D("0.04")
CASH = Capital({"kalshi": D(1000), "polymarket": D(1000)})
NOW_NS = 10**12


# -- the component and its books ---------------------------------------------------------------------------
PAIR = Component(
    "pair",
    ("kalshi:K", "polymarket:P"),
    (Equivalent("kalshi:K", "polymarket:P"),),
    (*kalshi_listings("K"), *polymarket_listings("P", POLY_RATE)),
)
GROUP = Component(
    "group",
    ("kalshi:A", "kalshi:B", "kalshi:C"),
    (ExactlyOne(("kalshi:A", "kalshi:B", "kalshi:C")),),
    tuple(listing for m in "ABC" for listing in kalshi_listings(m)),
)


def planner(loss_cap: str = "0.05") -> RepairPlanner:
    return RepairPlanner(RepairConfig(loss_cap_usd=D(loss_cap)), now_ns=lambda: NOW_NS, clock=lambda: 0.0)


# -- the reference (no code shared with arb.execution.repair, arb.risk or solvers) -------------------------------
def ref_outcomes(component: Component) -> list[dict[str, int]]:
    found = []
    for bits in itertools.product((0, 1), repeat=len(component.contracts)):
        value = dict(zip(component.contracts, bits))
        ok = True
        for relation in component.relations:
            if isinstance(relation, ExactlyOne):
                ok &= sum(value[c] for c in relation.contracts) == 1
            elif isinstance(relation, Equivalent):
                ok &= (
                    (value[relation.a] != value[relation.b])
                    if relation.inverted
                    else value[relation.a] == value[relation.b]
                )
            else:
                raise AssertionError(f"reference does not know {relation}")
        if ok:
            found.append(value)
    return found


def ref_pays(instrument_id: str, outcome: Mapping[str, int]) -> int:
    contract, side = instrument_id.rsplit(":", 1)
    return outcome[contract] if side == "yes" else 1 - outcome[contract]


def ref_values(component: Component, holdings: Mapping[str, Decimal], cash: Decimal) -> list[Decimal]:
    return [cash + sum((q * ref_pays(i, o) for i, q in holdings.items()), D(0)) for o in ref_outcomes(component)]


def _up(amount: Decimal, step: str) -> Decimal:
    return (amount / D(step)).to_integral_value(rounding=ROUND_CEILING) * D(step)


def ref_fee(venue: str, fills: Sequence[tuple[Decimal, Decimal]], lot: Decimal) -> Decimal:
    """The most a venue can charge an order made of these (price, quantity) fills, however it
    splits them: Kalshi rounds each fill up to $0.0001 (so one lot per fill is the worst) and the
    order up to the cent; Polymarket floors each fill to $0.00001 (one fill is the worst)."""
    if venue == "kalshi":
        per_fill = sum((_up(KALSHI_RATE * lot * p * (1 - p), "0.0001") * (q / lot) for p, q in fills), D(0))
        return _up(per_fill, "0.01")
    total = D(0)
    for p, q in fills:
        raw = POLY_RATE * q * p * (1 - p)
        total += (raw / D("0.00001")).to_integral_value(rounding=ROUND_FLOOR) * D("0.00001")
    return total


def ref_leg_cash(leg: Leg, lots: int, lot: Decimal, at_limit: bool) -> Decimal:
    """Cash of `lots` of a leg: at its limit price (the worst a partial fill can cost), or, full,
    at its planned levels. Negative when spent."""
    quantity = lot * lots
    fills = [(leg.limit_price, quantity)] if at_limit else [(t.price, t.quantity) for t in leg.levels]
    fee = ref_fee(leg.venue, fills, lot) if quantity else D(0)
    if leg.action is Action.BUY:
        return -sum((p * q for p, q in fills), D(0)) - fee
    # a SELL of held X at bid b is the purchase of X's complement at 1 - b from the same pool
    # (Kalshi states it on the YES ladder; the fee is charged at the traded price)
    return sum((p * q for p, q in fills), D(0)) - fee


LOTS = {"kalshi": D(1), "polymarket": D("0.01")}


def ref_after(
    component: Component, holdings: Mapping[str, Decimal], cash: Decimal, legs: Sequence[Leg], lots: Sequence[int]
) -> list[Decimal]:
    held = dict(holdings)
    for leg, n in zip(legs, lots):
        lot = LOTS[leg.venue]
        cash += ref_leg_cash(leg, n, lot, at_limit=True)
        held[leg.instrument_id] = held.get(leg.instrument_id, D(0)) + (1 if leg.action is Action.BUY else -1) * lot * n
    return ref_values(component, held, cash)


def check_against_reference(
    component: Component, holdings: Mapping[str, Decimal], cash: Decimal, decision: RepairDecision
) -> None:
    before = ref_values(component, holdings, cash)
    assert list(decision.before.values_usd) == before
    assert decision.before.worst_value_usd == min(before)
    plan = decision.plan
    if plan is None:
        return
    assert decision.after is not None
    held = dict(holdings)
    total = cash
    for leg in plan.legs:
        lot = LOTS[leg.venue]
        assert leg.cash_flow_usd == ref_leg_cash(leg, int(leg.quantity / lot), lot, at_limit=False)
        total += leg.cash_flow_usd
        held[leg.instrument_id] = held.get(leg.instrument_id, D(0)) + (
            leg.quantity if leg.action is Action.BUY else -leg.quantity
        )
        assert held[leg.instrument_id] >= 0, "a repair never sells what is not held"
    after = ref_values(component, held, total)
    assert list(decision.after.values_usd) == after
    assert min(after) > min(before)


# -- exposure -----------------------------------------------------------------------------------------------
def test_exposure_values_every_feasible_outcome_exactly() -> None:
    holdings = {"kalshi:A:yes": D(10), "kalshi:B:no": D(3), "kalshi:C:yes": D("2")}
    found = exposure(GROUP, holdings, D("-4.17"))
    assert sorted(map(dict, found.outcomes), key=str) == sorted(ref_outcomes(GROUP), key=str)
    by_outcome = {tuple(sorted(o.items())): v for o, v in zip(found.outcomes, found.values_usd)}
    for outcome, value in zip(ref_outcomes(GROUP), ref_values(GROUP, holdings, D("-4.17"))):
        assert by_outcome[tuple(sorted(outcome.items()))] == value
    assert found.worst_value_usd == D("-4.17")  # B wins: A:yes, B:no and C:yes all pay nothing
    assert dict(found.worst_outcome) == {"kalshi:A": 0, "kalshi:B": 1, "kalshi:C": 0}
    assert not found.flat and not found.hedged(D(4)) and found.hedged(D("4.17"))
    assert exposure(GROUP, {"kalshi:A:yes": D(0)}, D("-0.5")).flat


def test_exposure_refuses_bad_holdings() -> None:
    with pytest.raises(RepairInputError, match="unknown instrument"):
        exposure(GROUP, {"kalshi:Z:yes": D(1)}, D(0))
    with pytest.raises(RepairInputError, match="non-negative"):
        exposure(GROUP, {"kalshi:A:yes": D(-1)}, D(0))
    with pytest.raises(RepairInputError, match="finite"):
        exposure(GROUP, {"kalshi:A:yes": D(1)}, D("NaN"))
    with pytest.raises(RepairInputError, match="outcomes"):
        exposure(GROUP, {}, D(0), max_outcomes=2)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("loss_cap_usd", D(-1), "loss_cap_usd"),
        ("loss_cap_usd", 0.5, "loss_cap_usd"),
        ("min_improvement_usd", D(0), "min_improvement_usd must be a finite positive"),
        ("max_rounds", 0, "max_rounds"),
        ("slots_per_side", True, "slots_per_side"),
        ("mip_time_limit_ms", float("nan"), "mip_time_limit_ms"),
    ],
)
def test_config_errors_name_the_field(field: str, value: object, message: str) -> None:
    arguments: dict[str, object] = {"loss_cap_usd": D(1), field: value}
    with pytest.raises(ConfigError, match=message):
        RepairConfig(**arguments)  # type: ignore[arg-type]


# -- two legs: YES filled on Kalshi, the Polymarket NO missing ----------------------------------------------------
HELD_PAIR = {"kalshi:K:yes": D(10)}
PAIR_CASH = -(D("4.00") + D("0.17"))  # 10 YES at 0.40, fee round_up(0.07 x 10 x 0.24) = 0.17


def _best_mix(poly_no_ask: Decimal, kalshi_bid: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """Brute force over every whole-lot repair: buy n Polymarket NO at the ask, sell s Kalshi YES
    at the bid; the best (worst value, n, s)."""
    best = None
    for s in range(11):
        for cents in range(1001):
            n = D(cents) / 100
            if 0 < n < 5:  # Polymarket's 5-share minimum order
                continue
            if n and (n * poly_no_ask) % D("0.01"):  # a buy's amount is whole cents
                continue
            cash = PAIR_CASH
            if n:
                cash -= n * poly_no_ask + ref_fee("polymarket", [(poly_no_ask, n)], D("0.01"))
            if s:
                cash += s * kalshi_bid - ref_fee("kalshi", [(1 - kalshi_bid, D(s))], D(1))
            value = min(ref_values(PAIR, {"kalshi:K:yes": D(10 - s), "polymarket:P:no": n}, cash))
            if best is None or value > best[0]:
                best = (value, n, D(s))
    assert best is not None
    return best


@pytest.mark.parametrize(
    ("no_ask", "bid", "expected"),
    [("0.55", "0.38", "complete"), ("0.75", "0.38", "exit")],
)
def test_missing_leg_completes_or_exits_whichever_leaves_the_higher_worst_case(
    no_ask: str, bid: str, expected: str
) -> None:
    books = {
        (K, "K"): kalshi_book("K", [(bid, 100)], [("0.42", 100)]),
        (P, "P"): poly_book("P", [("0.47", 100)], [(no_ask, 100)]),
    }
    decision = planner().plan(PAIR, books, HELD_PAIR, PAIR_CASH, CASH)
    assert decision.status is RepairStatus.REPAIR and decision.plan is not None, decision.reason
    check_against_reference(PAIR, HELD_PAIR, PAIR_CASH, decision)
    legs = {(leg.action, leg.instrument_id): leg.quantity for leg in decision.plan.legs}
    if expected == "complete":
        assert legs == {(Action.BUY, "polymarket:P:no"): D(10)}
    else:
        assert legs == {(Action.SELL, "kalshi:K:yes"): D(10)}
        assert decision.plan.legs[0].limit_price == D(bid)
    best, n, s = _best_mix(D(no_ask), D(bid))
    assert decision.after is not None and decision.after.worst_value_usd == best, (n, s)
    # the decision's pre-trade bound: no partial fill lowers the worst case (checked by brute force)
    assert decision.partial_fill is not None and decision.partial_fill.worst_value_change_usd >= 0
    (leg,) = decision.plan.legs
    lots = int(leg.quantity / LOTS[leg.venue])
    for k in range(lots + 1):
        assert min(ref_after(PAIR, HELD_PAIR, PAIR_CASH, [leg], [k])) >= decision.before.worst_value_usd


# -- three legs of an exactly-one group, one filled ----------------------------------------------------------------
HELD_GROUP = {"kalshi:A:yes": D(10)}
GROUP_CASH = -(D("3.00") + D("0.15"))  # 10 YES A at 0.30, fee round_up(0.07 x 10 x 0.21) = 0.15


def _group_books(b_ask: str, c_ask: str, a_bid: str | None) -> dict[tuple[Venue, str], BinaryBook]:
    return {
        (K, "A"): kalshi_book("A", [(a_bid, 100)] if a_bid else [], [("0.33", 100)]),
        (K, "B"): kalshi_book("B", [("0.25", 100)], [(b_ask, 100)]),
        (K, "C"): kalshi_book("C", [("0.25", 100)], [(c_ask, 100)]),
    }


def test_group_of_three_one_filled_refuses_a_completion_that_can_half_fill_and_exits() -> None:
    books = _group_books("0.30", "0.30", "0.28")
    decision = planner().plan(GROUP, books, HELD_GROUP, GROUP_CASH, CASH)
    assert decision.plan is not None, decision.reason
    check_against_reference(GROUP, HELD_GROUP, GROUP_CASH, decision)
    # completing (buy B and C) would earn more when both fill, but B alone leaves C naked
    assert "re-solve: refused, a partial fill" in decision.reason
    assert [(leg.action, leg.instrument_id, leg.quantity) for leg in decision.plan.legs] == [
        (Action.SELL, "kalshi:A:yes", D(10))
    ]
    # reference: the completion's worst partial fill (B all, C none) is below the current worst
    b_only = min(ref_values(GROUP, {"kalshi:A:yes": D(10), "kalshi:B:yes": D(10)}, GROUP_CASH - 3 - D("0.15")))
    assert b_only < decision.before.worst_value_usd
    sold = GROUP_CASH + D("2.80") - ref_fee("kalshi", [(D("0.72"), D(10))], D(1))
    assert decision.after is not None and decision.after.worst_value_usd == sold == min(ref_values(GROUP, {}, sold))
    assert decision.after.flat


def test_group_with_no_bid_has_no_safe_repair() -> None:
    decision = planner().plan(GROUP, _group_books("0.30", "0.30", None), HELD_GROUP, GROUP_CASH, CASH)
    assert decision.plan is None and decision.status is RepairStatus.NO_REPAIR
    assert "refused, a partial fill" in decision.reason


def test_one_leg_of_a_refused_repair_goes_alone_when_it_cannot_hurt() -> None:
    books = {
        (K, "A"): kalshi_book("A", [], [("0.79", 1)]),
        (K, "B"): kalshi_book("B", [], [("0.43", 6)]),
        (K, "C"): kalshi_book("C", [], [("0.26", 1)]),
    }
    held, cash = {"kalshi:B:no": D(2), "kalshi:C:no": D(1)}, D("-6.45")
    decision = planner("0").plan(GROUP, books, held, cash, CASH)
    assert decision.plan is not None, decision.reason
    check_against_reference(GROUP, held, cash, decision)
    # both NO sold back together can half-fill badly; selling B's NO (buying B's YES at 0.43) alone cannot
    assert "re-solve: refused, a partial fill" in decision.reason and "leg 1 alone" in decision.reason
    (leg,) = decision.plan.legs
    assert (leg.action, leg.instrument_id, leg.quantity, leg.limit_price) == (
        Action.SELL,
        "kalshi:B:no",
        D(2),
        D("0.57"),
    )
    for k in range(3):
        assert min(ref_after(GROUP, held, cash, [leg], [k])) >= min(ref_values(GROUP, held, cash))


LINKED_GROUP = Component(
    "linked-group",
    ("kalshi:A", "kalshi:B", "kalshi:C", "polymarket:P"),
    (ExactlyOne(("kalshi:A", "kalshi:B", "kalshi:C")), Equivalent("kalshi:C", "polymarket:P")),
    (*GROUP.listings, *polymarket_listings("P", POLY_RATE)),
)


def test_a_holding_too_small_to_sell_is_hedged_with_its_complement_on_the_other_venue() -> None:
    # 3 Polymarket YES of C held (its 5-share minimum forbids selling them); completing the group
    # (A and B at 0.30) earns more when both fill, but one can fill alone; Kalshi's NO of C pays
    # exactly when the held YES does not: one leg, and every outcome is worth the same
    books = {
        (K, "A"): kalshi_book("A", [("0.28", 50)], [("0.30", 50)]),
        (K, "B"): kalshi_book("B", [("0.28", 50)], [("0.30", 50)]),
        (K, "C"): kalshi_book("C", [("0.28", 50)], [("0.30", 50)]),
        (P, "P"): poly_book("P", [("0.30", 50)], [("0.72", 50)]),
    }
    held, cash = {"polymarket:P:yes": D(3)}, D("-0.92")
    decision = planner().plan(LINKED_GROUP, books, held, cash, CASH)
    assert decision.plan is not None, decision.reason
    check_against_reference(LINKED_GROUP, held, cash, decision)
    assert "re-solve: refused, a partial fill" in decision.reason
    assert decision.reason.startswith(("hedge:", "exit:"))
    (leg,) = decision.plan.legs
    assert (leg.action, leg.instrument_id, leg.quantity) == (Action.BUY, "kalshi:C:no", D(3))
    assert decision.after is not None and len(set(decision.after.values_usd)) == 1


# -- nothing to do, or nothing possible ------------------------------------------------------------------------
def test_nothing_to_do_when_hedged_or_flat() -> None:
    books = {(K, "K"): kalshi_book("K", [("0.38", 100)], [("0.42", 100)]), (P, "P"): poly_book("P", [], [])}
    held = {"kalshi:K:yes": D(10), "polymarket:P:no": D(10)}
    decision = planner().plan(PAIR, books, held, D("-9.80"), CASH)
    assert (decision.plan, decision.status, decision.before.worst_value_usd) == (None, RepairStatus.HEDGED, D("0.20"))
    flat = planner().plan(PAIR, books, {}, D("-0.31"), CASH)
    assert (flat.plan, flat.status) == (None, RepairStatus.FLAT)
    # hedged is relative to the loss cap: $0.03 under water is within a $0.05 cap, not a $0.01 one
    assert planner("0.05").plan(PAIR, books, held, D("-10.03"), CASH).status is RepairStatus.HEDGED
    assert planner("0.01").plan(PAIR, books, held, D("-10.03"), CASH).status is not RepairStatus.HEDGED


def test_no_liquidity_gives_no_plan_and_says_why() -> None:
    books = {(K, "K"): kalshi_book("K", [], [("0.42", 100)]), (P, "P"): poly_book("P", [("0.47", 100)], [])}
    decision = planner().plan(PAIR, books, HELD_PAIR, PAIR_CASH, CASH)
    assert decision.plan is None and decision.status is RepairStatus.NO_REPAIR and decision.after is None
    assert decision.reason.startswith("no repair: worst value $-4.17")


def test_a_held_listing_without_a_book_is_still_valued_and_the_rest_repairs() -> None:
    books = {(P, "P"): poly_book("P", [("0.47", 100)], [("0.55", 100)])}  # Kalshi's book is missing
    decision = planner().plan(PAIR, books, HELD_PAIR, PAIR_CASH, CASH)
    assert decision.plan is not None, decision.reason
    check_against_reference(PAIR, HELD_PAIR, PAIR_CASH, decision)
    assert {leg.instrument_id for leg in decision.plan.legs} == {"polymarket:P:no"}


# -- property: a repair never leaves the worst case lower, whichever way it fills ---------------------------------
def _sampled_vectors(legs: Sequence[Leg], draw: st.DrawFn) -> list[tuple[int, ...]]:
    per_leg = []
    for leg in legs:
        lots = int(leg.quantity / LOTS[leg.venue])
        per_leg.append(sorted({0, 1, lots - 1, lots, lots // 2, draw(st.integers(0, lots))} & set(range(lots + 1))))
    return list(itertools.product(*per_leg))


PRICES = st.integers(5, 95).map(lambda c: D(c) / 100)


@st.composite
def repair_case(draw: st.DrawFn) -> tuple[dict[tuple[Venue, str], BinaryBook], dict[str, Decimal], Decimal]:
    books = {}
    for market in "ABC":
        ask = draw(PRICES)
        bid = draw(st.one_of(st.none(), st.integers(1, int(ask * 100) - 1).map(lambda c: D(c) / 100)))
        books[(K, market)] = kalshi_book(
            market, [(str(bid), draw(st.integers(1, 8)))] if bid else [], [(str(ask), draw(st.integers(0, 8)) or 1)]
        )
    holdings = {}
    for market in "ABC":
        side = draw(st.sampled_from(("yes", "no")))
        quantity = draw(st.integers(0, 6))
        if quantity:
            holdings[f"kalshi:{market}:{side}"] = D(quantity)
    cash = -D(draw(st.integers(0, 900))) / 100
    return books, holdings, cash


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=repair_case(), data=st.data())
def test_property_a_repair_never_lowers_the_worst_case(case, data) -> None:
    books, holdings, cash = case
    decision = planner("0").plan(GROUP, books, holdings, cash, CASH)
    check_against_reference(GROUP, holdings, cash, decision)
    if decision.plan is None:
        return
    before = min(ref_values(GROUP, holdings, cash))
    legs = decision.plan.legs
    vectors = (
        list(itertools.product(*(range(int(leg.quantity) + 1) for leg in legs)))
        if len(legs) <= 3
        else _sampled_vectors(legs, data.draw)
    )
    for lots in vectors:
        assert min(ref_after(GROUP, holdings, cash, legs, lots)) >= before, lots
