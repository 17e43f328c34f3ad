"""A plan's exact money holds when its orders fill at better prices than planned.

An IOC/FOK order with limit L may fill at any price at or better than L, in any split the venue
chooses; where the better prices lie towards 1/2 the quadratic fee rises and its rounding can take
back more than the price saved. The allocator's exact check must price every leg at the worst of
those fills. Checked here against a brute force with its own Fraction arithmetic (not solvers.fees):
every lot of every leg at its planned price or up to `WINDOW_TICKS` ticks better, every split of the
lots into fills, in every feasible outcome.

Fee arithmetic written from the venues' rules (docs/venues.md, docs/money-model.md):
("kalshi", m): each fill ceil(0.07 x m x C x P x (1 - P)) to $0.0001, the order total up to $0.01;
("poly", rate, e): each fill floor(rate x C x (P (1 - P))^e) to $0.00001, no order rounding.
"""

from __future__ import annotations

import collections
import functools
import itertools
import math
from collections.abc import Iterator, Sequence
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from solvers import (
    Action,
    AllocationProblem,
    Allocator,
    AllocatorConfig,
    CandidateSet,
    Capital,
    Contract,
    Equivalent,
    ExactlyOne,
    FeeRule,
    Instrument,
    Level,
    Rounding,
    SetLimits,
    SetPlan,
    Side,
    kalshi_fee,
    polymarket_fee,
)
from solvers.greedy import greedy_allocate
from tests.support import semantic_outcomes

D = Decimal
WINDOW_TICKS = 3  # prices tried per lot: the planned one and up to this many ticks better

FeeSpec = tuple[str, Fraction, int]
KALSHI: FeeSpec = ("kalshi", Fraction(1), 1)


def _decimal(value: Fraction) -> Decimal:
    return D(value.numerator) / D(value.denominator)


def _rule(spec: FeeSpec) -> FeeRule:
    kind, number, exponent = spec
    if kind == "kalshi":
        return kalshi_fee(multiplier=_decimal(number))
    return polymarket_fee(rate=_decimal(number), exponent=exponent)


def _order_fee(spec: FeeSpec, fills: Sequence[tuple[Fraction, Fraction]]) -> Fraction:
    """What the venue charges one order filled as (price, quantity) fills."""
    kind, number, exponent = spec
    if kind == "kalshi":
        per_fill = [Fraction(math.ceil(Fraction(7, 100) * number * q * p * (1 - p) * 10_000), 10_000) for p, q in fills]
        return Fraction(math.ceil(sum(per_fill, Fraction(0)) * 100), 100)
    return sum(
        (Fraction(math.floor(number * q * (p * (1 - p)) ** exponent * 100_000), 100_000) for p, q in fills), Fraction(0)
    )


def _splits(n: int, largest: int | None = None) -> Iterator[tuple[int, ...]]:
    """Every way to cut n lots into fills (integer partitions)."""
    if n == 0:
        yield ()
        return
    for first in range(min(n, largest or n), 0, -1):
        for rest in _splits(n - first, first):
            yield (first, *rest)


@functools.cache
def _worst_cash(
    spec: FeeSpec, buy: bool, planned: tuple[tuple[Fraction, int], ...], lot: Fraction, tick: Fraction
) -> Fraction:
    """Least cash flow of an order planned as (price, lots) per level when each lot fills at its
    planned price or up to WINDOW_TICKS ticks better, in every split into fills."""
    step = -tick if buy else tick  # a buy's better prices are lower, a sale's higher
    per_level = []
    for price, lots in planned:
        prices = [price + i * step for i in range(WINDOW_TICKS + 1) if 0 < price + i * step < 1]
        per_level.append(list(itertools.combinations_with_replacement(prices, lots)))
    worst = None
    for choice in itertools.product(*per_level):
        counts = collections.Counter(price for level in choice for price in level)
        for cuts in itertools.product(*(list(_splits(n)) for n in counts.values())):
            fills = [(price, lot * n) for price, cut in zip(counts, cuts) for n in cut]
            notional = sum((p * q for p, q in fills), Fraction(0))
            fee = _order_fee(spec, fills)
            cash = -(notional + fee) if buy else notional - fee
            worst = cash if worst is None else min(worst, cash)
    assert worst is not None
    return worst


def _assert_holds_at_better_prices(problem: AllocationProblem, plan: SetPlan, specs: dict[str, FeeSpec]) -> Fraction:
    """Every leg's exact cash flow is at most what any fill at its planned prices or better yields,
    and the guaranteed profit holds in every outcome for every such fill. Returns the worst profit
    any such fill reaches."""
    (candidate,) = (s for s in problem.sets if s.id == plan.set_id)
    instruments = {i.id: i for i in candidate.instruments}
    worst_cash: dict[str, Fraction] = {}
    for leg in plan.legs:
        instrument = instruments[leg.instrument_id]
        lot, tick = Fraction(instrument.lot_size), Fraction(instrument.tick_size)
        planned = tuple((Fraction(t.price), int(Fraction(t.quantity) / lot)) for t in leg.levels)
        worst = _worst_cash(specs[leg.instrument_id], leg.action is Action.BUY, planned, lot, tick)
        assert Fraction(leg.cash_flow_usd) <= worst, (leg, worst)
        worst_cash[leg.instrument_id + leg.action.value] = worst
    cash = sum(worst_cash.values(), Fraction(0))
    least = None
    for outcome in semantic_outcomes(candidate):
        payoff = Fraction(0)
        for leg in plan.legs:
            instrument = instruments[leg.instrument_id]
            pays = outcome[instrument.contract] if instrument.side is Side.YES else 1 - outcome[instrument.contract]
            payoff += Fraction(leg.quantity) * pays * (1 if leg.action is Action.BUY else -1)
        least = payoff + cash if least is None else min(least, payoff + cash)
    assert least is not None
    assert Fraction(plan.guaranteed_profit_usd) <= least, (plan.guaranteed_profit_usd, least)
    assert least >= Fraction(candidate.limits.min_profit_usd)
    return least


def _group(yes_a: str, yes_b: str, *, tick: str, min_profit: str) -> tuple[AllocationProblem, dict[str, FeeSpec]]:
    """Two Kalshi markets of which exactly one resolves YES, 2 lots of YES asked on each."""
    instruments = tuple(
        Instrument(
            f"k-{name}",
            "kalshi",
            name,
            Side.YES,
            (Level(D(price), D(2)),),
            _rule(KALSHI),
            tick_size=D(tick),
        )
        for name, price in (("a", yes_a), ("b", yes_b))
    )
    limits = SetLimits(min_profit_usd=D(min_profit))
    candidate = CandidateSet("s", (Contract("a"), Contract("b")), instruments, (ExactlyOne(("a", "b")),), limits)
    problem = AllocationProblem((candidate,), Capital({"kalshi": D(100)}))
    return problem, dict.fromkeys(("k-a", "k-b"), KALSHI)


def test_a_leg_filled_at_a_better_price_cannot_cost_more_than_the_plan_says() -> None:
    """YES at 0.690 and YES at 0.250 of two exactly-one deci-cent Kalshi markets, 2 each: at the
    planned prices 1.38 + $0.03 and 0.50 + $0.03 (0.0264), a $0.06 profit on the $2 payout. One YES
    lot filled two ticks better, at 0.688, pays 0.0150 + 0.0151 -> $0.04: $1.418 for that leg, so
    the most the plan can be sure of is $0.052. The exact check adds the proven cap ($0.01 less
    gcd(0.001, 0.01)) to that leg: $0.051."""
    problem, specs = _group("0.69", "0.25", tick="0.001", min_profit="0.01")
    assert _worst_cash(KALSHI, True, ((Fraction(69, 100), 2),), Fraction(1), Fraction(1, 1000)) == -Fraction(1418, 1000)
    result = Allocator(problem).solve()
    (plan,) = result.plans
    assert _assert_holds_at_better_prices(problem, plan, specs) == Fraction(52, 1000)
    assert [leg.quantity for leg in plan.legs] == [D(2), D(2)]
    assert [leg.fee_usd for leg in plan.legs] == [D("0.039"), D("0.03")]
    assert plan.guaranteed_profit_usd == D("0.051")
    # whole-cent ticks: a better price saves at least the cent its rounding can add
    cents, _ = _group("0.69", "0.25", tick="0.01", min_profit="0.01")
    (plan,) = Allocator(cents).solve().plans
    assert plan.guaranteed_profit_usd == D("0.06")
    assert _assert_holds_at_better_prices(cents, plan, specs) == Fraction(6, 100)


def test_a_set_that_only_clears_its_minimum_at_the_planned_prices_is_dropped() -> None:
    """The same set with a $0.055 minimum: $0.06 at the planned prices, but a fill at 0.688 leaves
    $0.052, so the set is dropped with the exact figure and the reason, never sent; the greedy
    baseline's plans go through the same check."""
    problem, _ = _group("0.69", "0.25", tick="0.001", min_profit="0.055")
    for result in (Allocator(problem).solve(), greedy_allocate(Allocator(problem).form)):
        assert result.plans == ()
        (dropped,) = result.dropped
        assert dropped.exact_profit_usd == D("0.051")
        assert "below the minimum 0.055" in dropped.reason


def test_a_fee_rule_whose_better_prices_cannot_be_bounded_drops_its_set_with_the_reason() -> None:
    """A fee curve so steep (2.5 x (P (1 - P))^2) that a better price could lower price plus fee:
    the cap's proof does not hold, so the set is never planned, and says why."""
    steep = FeeRule(coefficient=D("2.5"), exponent=2, fill_increment_usd=D("0.00001"), fill_rounding=Rounding.DOWN)
    instruments = (
        Instrument("p-a", "polymarket", "a", Side.YES, (Level(D("0.05"), D(3)),), steep),
        Instrument("p-b", "polymarket", "b", Side.YES, (Level(D("0.90"), D(3)),), polymarket_fee(rate=D(0))),
    )
    candidate = CandidateSet("s", (Contract("a"), Contract("b")), instruments, (ExactlyOne(("a", "b")),), SetLimits())
    problem = AllocationProblem((candidate,), Capital({"polymarket": D(100)}))
    result = Allocator(problem).solve()
    assert result.plans == ()
    (dropped,) = result.dropped
    assert dropped.reason.startswith("fee of p-a: fee curve too steep to bound at better prices")
    assert dropped.lp_profit_usd > 0


# -- random small sets -----------------------------------------------------------------------------------------
fee_specs = st.one_of(
    st.sampled_from([Fraction(1), Fraction(1, 2)]).map(lambda m: ("kalshi", m, 1)),
    st.sampled_from([(Fraction(0), 1), (Fraction(4, 100), 1), (Fraction(1, 4), 2)]).map(lambda t: ("poly", *t)),
)
ticks = st.sampled_from([Fraction(1, 100), Fraction(1, 1000)])


# (price in thousandths, lots) where a deci-cent Kalshi buy of that many lots can cost more filled up to
# WINDOW_TICKS ticks better than at the price (found by `_worst_cash`; checked below); a sale at
# 1 - price is the mirror image
HAZARDS = [(614, 3), (615, 3), (616, 3), (689, 2), (690, 2), (691, 2), (745, 3), (746, 3), (747, 3), (828, 2)]
HAZARDS += [(829, 3), (830, 3), (895, 3), (896, 3), (897, 3), (923, 2), (924, 2), (925, 2), (951, 3), (953, 3)]


def test_the_hazards_are_prices_where_a_better_fill_costs_more() -> None:
    for milli, lots in HAZARDS:
        price = Fraction(milli, 1000)
        at_price = -(price * lots + _order_fee(KALSHI, [(price, Fraction(1))] * lots))
        assert _worst_cash(KALSHI, True, ((price, lots),), Fraction(1), Fraction(1, 1000)) < at_price


@st.composite
def small_sets(draw: st.DrawFn) -> tuple[AllocationProblem, dict[str, FeeSpec]]:
    """A pair of equivalent contracts (YES on one, NO on the other) or an exactly-one group of two or
    three, on deci-cent or cent ticks, 1-2 levels of 1-3 lots, often one
    instrument at a hazard, the pair sometimes holding the complement of the NO it buys (a sale leg:
    at 1 - ask, so a hazard there is a sale's)."""
    structure = draw(st.sampled_from(["pair", "group"]))
    n = 2 if structure == "pair" else draw(st.integers(2, 3))
    hazard = draw(st.sampled_from([None, *range(n)]))
    total = draw(st.integers(850, 980))  # the best asks' sum, in thousandths
    hazard_milli, hazard_lots = draw(st.sampled_from(HAZARDS)) if hazard is not None else (0, 0)
    total = max(total, hazard_milli + 20 * (n - 1))
    parts = n - (hazard is not None)
    left = total - hazard_milli
    cuts = (
        sorted(draw(st.lists(st.integers(20, left - 20), min_size=parts - 1, max_size=parts - 1))) if parts > 1 else []
    )
    free = [b - a for a, b in itertools.pairwise([0, *cuts, left])]
    if min(free) < 20:
        free = [left // parts] * (parts - 1) + [left - (left // parts) * (parts - 1)]
    instruments = []
    specs: dict[str, FeeSpec] = {}
    for k in range(n):
        if k == hazard:
            spec, lot, tick = KALSHI, D(1), Fraction(1, 1000)
            levels = [Level(D(hazard_milli) / 1000, D(hazard_lots))]
        else:
            spec = draw(fee_specs)
            lot = D(1)  # whole lots on both venues keep the enumeration small; the cap's formula covers any lot
            tick = draw(ticks)
            milli = free.pop()
            milli -= milli % 10 if tick == Fraction(1, 100) else 0
            levels = [Level(D(milli) / 1000, lot * draw(st.integers(1, 3)))]
            if draw(st.booleans()):
                gap = draw(st.sampled_from([1, 10])) if tick == Fraction(1, 1000) else 10
                levels.append(Level(D(milli + gap) / 1000, lot * draw(st.integers(1, 2))))
        side = Side.NO if structure == "pair" and k == 1 else Side.YES
        iid = f"i{k}"
        venue = "kalshi" if spec[0] == "kalshi" else "polymarket"
        instruments.append(Instrument(iid, venue, f"c{k}", side, tuple(levels), _rule(spec), lot, _decimal(tick)))
        specs[iid] = spec
    inventory: dict[str, Decimal] = {}
    if structure == "pair" and draw(st.booleans()):
        # hold the NO's complement (YES of c1): buying that NO nets into selling the YES at its bid
        bought = instruments[1]
        held = Instrument("h1", bought.venue, "c1", Side.YES, (), bought.fee, bought.lot_size, bought.tick_size)
        instruments.append(held)
        specs["h1"] = specs["i1"]
        inventory["h1"] = bought.lot_size * draw(st.integers(1, 3))
    contracts = tuple(Contract(f"c{k}") for k in range(n))
    relation = Equivalent("c0", "c1") if structure == "pair" else ExactlyOne(tuple(c.id for c in contracts))
    candidate = CandidateSet("s", contracts, tuple(instruments), (relation,), SetLimits(min_profit_usd=D("0.001")))
    capital = Capital({"kalshi": D(100), "polymarket": D(100)})
    return AllocationProblem((candidate,), capital, inventory), specs


@settings(max_examples=100)
@given(instance=small_sets())
def test_every_plan_holds_at_better_fill_prices_in_every_outcome(
    instance: tuple[AllocationProblem, dict[str, FeeSpec]],
) -> None:
    problem, specs = instance
    allocator = Allocator(problem, config=AllocatorConfig(mip_fallback=False))
    for result in (allocator.solve(), greedy_allocate(allocator.form)):
        for plan in result.plans:
            _assert_holds_at_better_prices(problem, plan, specs)
