"""The greedy baseline: verified like every plan, never above the LP optimum, and beaten by the LP
where capital binds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from solvers import (
    ZERO_FEE,
    AllocationProblem,
    Allocator,
    CandidateSet,
    Capital,
    Contract,
    Equivalent,
    ExactlyOne,
    Instrument,
    Level,
    Rounding,
    Side,
)
from solvers.greedy import RANKINGS, Ranking, greedy_allocate
from tests.support import random_problem, replay_plan

D = Decimal


@pytest.mark.parametrize("ranking", RANKINGS)
@pytest.mark.parametrize("block", range(3))
def test_greedy_plans_verify_and_never_beat_the_lp(block: int, ranking: Ranking) -> None:
    """On 20 random instances per block: every greedy plan replays exactly and clears the minimum
    profit, and the greedy total never beats the LP. Counted: at least 8 plans replayed per block."""
    replayed = 0
    for seed in range(20 * block, 20 * block + 20):
        problem = random_problem(seed, sets=1 + seed % 3)
        allocator = Allocator(problem)
        lp_profit = allocator.solve_lp().objective - sum(float(sm.baseline) for sm in allocator.sets)
        greedy = greedy_allocate(allocator.form, ranking)
        floor_gain = D(0)  # fees floored per fill (Polymarket) can undercut the LP's linear fee by < 1 increment
        instruments = {i.id: i for s in problem.sets for i in s.instruments}
        for plan in greedy.plans:
            assert replay_plan(problem, plan) == plan.guaranteed_profit_usd >= D("0.01")
            replayed += 1
            for leg in plan.legs:
                fee = instruments[leg.instrument_id].fee
                if fee.fill_rounding is Rounding.DOWN and fee.fill_increment_usd:
                    floor_gain += fee.fill_increment_usd * len(leg.levels)
        assert float(greedy.guaranteed_profit_usd) <= lp_profit + float(floor_gain) + 1e-9, seed
    assert replayed >= 8, replayed


def _pair(set_id: str, yes: str, no: str, size: int) -> CandidateSet:
    a, b = f"{set_id}-a", f"{set_id}-b"
    instruments = (
        Instrument(f"{set_id}-y", "kalshi", a, Side.YES, (Level(D(yes), D(size)),), ZERO_FEE),
        Instrument(f"{set_id}-n", "kalshi", b, Side.NO, (Level(D(no), D(size)),), ZERO_FEE),
    )
    return CandidateSet(set_id, (Contract(a), Contract(b)), instruments, (Equivalent(a, b),))


def _group(set_id: str, no: str, size: int) -> CandidateSet:
    names = [f"{set_id}-{k}" for k in range(3)]
    instruments = tuple(
        Instrument(
            f"{name}-{side.value}",
            "kalshi",
            name,
            side,
            (Level(D(no) if side is Side.NO else D("0.45"), D(size)),),
            ZERO_FEE,
        )
        for name in names
        for side in Side
    )
    return CandidateSet(set_id, tuple(Contract(n) for n in names), instruments, (ExactlyOne(tuple(names)),))


def test_lp_puts_scarce_capital_where_it_earns_most_per_dollar() -> None:
    # group: buying all three NOs costs $1.80 and pays $2: edge $0.20 per basket, 11% on capital.
    # pair: YES + NO costs $0.85 and pays $1: edge $0.15 per basket, 17.6% on capital.
    # With $85, greedy takes the bigger edge first (47 group baskets, $9.40); the LP fills the pair ($15).
    problem = AllocationProblem(
        (_group("group", "0.60", 100), _pair("pair", "0.40", "0.45", 100)), Capital({"kalshi": D(85)})
    )
    allocator = Allocator(problem)
    result = allocator.solve()
    greedy = greedy_allocate(allocator.form)
    assert {p.set_id: p.guaranteed_profit_usd for p in greedy.plans} == {"group": D("9.40")}
    assert {p.set_id: p.guaranteed_profit_usd for p in result.plans} == {"pair": D("15.00")}
    # the pair is exhausted at exactly $85: a further dollar earns between the two returns (less the
    # LP's tie-breaking cost of a few micro-dollars per contract)
    assert 0.2 / 1.8 - 1e-5 <= result.capital_shadow_prices["kalshi"] <= 0.15 / 0.85 + 1e-9


def test_return_ranking_puts_scarce_capital_where_edge_ranking_does_not() -> None:
    """Same books as above: ranked by edge per dollar (0.15 / 0.85 = 17.6% beats 0.20 / 1.80 = 11%),
    the greedy fills the pair first and, with $85, matches the LP's $15; ranked by edge it earns $9.40."""
    problem = AllocationProblem(
        (_group("group", "0.60", 100), _pair("pair", "0.40", "0.45", 100)), Capital({"kalshi": D(85)})
    )
    form = Allocator(problem).form
    by_edge = greedy_allocate(form, "edge")
    by_return = greedy_allocate(form, "return")
    assert {p.set_id: p.guaranteed_profit_usd for p in by_edge.plans} == {"group": D("9.40")}
    assert {p.set_id: p.guaranteed_profit_usd for p in by_return.plans} == {"pair": D("15.00")}


def test_return_ranking_with_ample_capital_takes_every_basket_the_edge_ranking_takes() -> None:
    """Without a binding budget the order does not matter: both rankings exhaust every profitable
    basket and earn the same."""
    problem = AllocationProblem(
        (_group("group", "0.60", 100), _pair("pair", "0.40", "0.45", 100)), Capital({"kalshi": D(10_000)})
    )
    form = Allocator(problem).form
    profits = {ranking: greedy_allocate(form, ranking).guaranteed_profit_usd for ranking in RANKINGS}
    assert profits == {"edge": D("35.00"), "return": D("35.00")}


def test_unknown_ranking_is_an_error() -> None:
    problem = AllocationProblem((_pair("pair", "0.40", "0.45", 10),), Capital({"kalshi": D(100)}))
    with pytest.raises(ValueError, match="ranking"):
        greedy_allocate(Allocator(problem).form, "profit")  # type: ignore[arg-type]
