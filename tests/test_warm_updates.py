"""The warm update path (in-place edits of one persistent model) gives what a rebuild gives."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from solvers import AllocationProblem, Allocator, AllocatorConfig, CandidateSet, Capital, DataError, Instrument, Level
from solvers.backends.highs import HighsWarmBackend
from solvers.problem import Method
from tests.support import random_problem, replay_plan

D = Decimal
SLOTS = 3


def _current_problem(allocator: Allocator, original: AllocationProblem) -> AllocationProblem:
    """The problem a fresh build would need to reproduce the allocator's current state."""
    form = allocator.form
    sets = []
    for candidate in original.sets:
        instruments = []
        for instrument in candidate.instruments:
            cols = form.slot_columns(instrument.id)
            priced = [(form.price_at(c), form.size_at(c)) for c in cols.tolist()]
            asks = tuple(Level(price, size) for price, size in priced if price is not None)
            instruments.append(_with_asks(instrument, asks))
        sets.append(
            CandidateSet(candidate.id, candidate.contracts, tuple(instruments), candidate.relations, candidate.limits)
        )
    return AllocationProblem(tuple(sets), form.capital, dict(form.inventory))


def _with_asks(instrument: Instrument, asks: tuple[Level, ...]) -> Instrument:
    return Instrument(
        instrument.id,
        instrument.venue,
        instrument.contract,
        instrument.side,
        asks,
        instrument.fee,
        instrument.lot_size,
        instrument.tick_size,
        instrument.min_order_size,
    )


def _eager(allocator: Allocator) -> np.ndarray:
    """The persistent HiGHS backend's capital rows kept current (they bind)."""
    assert isinstance(allocator.backend, HighsWarmBackend)
    return allocator.backend._eager


def _tick(rng: random.Random, allocator: Allocator, problem: AllocationProblem) -> None:
    """Move ~20% of the non-empty slots by one tick or change their size, keeping ladders valid."""
    form = allocator.form
    cols, prices, sizes = [], [], []
    for candidate in problem.sets:
        for instrument in candidate.instruments:
            slot_cols = form.slot_columns(instrument.id).tolist()
            taken = {form.price_at(c) for c in slot_cols}
            for col in slot_cols:
                price = form.price_at(col)
                if price is None or rng.random() > 0.2:
                    continue
                new_price = price + rng.choice((-1, 1)) * instrument.tick_size
                if not D(0) < new_price < D(1) or new_price in taken:
                    new_price = price
                taken.add(new_price)
                cols.append(col)
                prices.append(new_price)
                sizes.append(D(rng.randint(0, 40)) if instrument.lot_size == 1 else D(rng.randint(0, 4000)) / 100)
    allocator.update_levels(np.array(cols), prices, sizes)


@pytest.mark.parametrize(
    ("method", "backend", "seeds"),
    [
        ("enumerate", "highs-warm", 30),
        ("compact", "highs-warm", 30),
        ("cg", "highs-warm", 30),
        # the references' in-place update paths (bounds, coefficients, right-hand sides, new rows)
        ("cg", "cvxpy", 6),
        ("cg", "pulp-cbc", 6),
        ("enumerate", "scipy", 6),
        ("cg", "highs-cold", 6),
    ],
)
def test_warm_updates_match_a_fresh_build(method: Method, backend: str, seeds: int) -> None:
    config = AllocatorConfig(slots_per_side=SLOTS, method=method)
    checked = replayed = 0
    for seed in range(seeds):
        rng = random.Random(seed)
        problem = random_problem(seed, sets=2)
        warm = Allocator(problem, backend=backend, config=config)
        warm.solve_lp()
        for step in range(4):
            if step == 1:  # replace a whole ladder
                candidate = rng.choice(problem.sets)
                instrument = rng.choice(candidate.instruments)
                best = rng.randint(5, 90)
                warm.set_book(instrument.id, [Level(D(best + k) / 100, D(7 + k)) for k in range(rng.randint(0, 4))])
            elif step == 2:  # inventory moves (a fill, a partial fill)
                instruments = [i for s in problem.sets for i in s.instruments]
                holdings = {
                    i.id: (D(rng.randint(0, 9)) if i.lot_size == 1 else D(rng.randint(0, 900)) / 100)
                    for i in rng.sample(instruments, 3)
                }
                warm.set_inventory(holdings)
            elif step == 3:  # capital moves
                venues = warm.form.capital.cash_by_venue_usd
                warm.set_capital(Capital({v: D(rng.randint(2, 60)) for v in venues}, D(rng.randint(5, 90))))
            else:
                _tick(rng, warm, problem)
            current = _current_problem(warm, problem)
            fresh = Allocator(current, config=config)
            warm_profit = warm.solve_lp().objective - sum(float(sm.baseline) for sm in warm.sets)
            fresh_profit = fresh.solve_lp().objective - sum(float(sm.baseline) for sm in fresh.sets)
            assert warm_profit == pytest.approx(fresh_profit, rel=1e-6, abs=1e-6), (seed, step)
            for plan in warm.solve().plans:
                assert replay_plan(current, plan) == plan.guaranteed_profit_usd
                replayed += 1
            checked += 1
    assert checked == 4 * seeds
    assert replayed >= 3 * seeds, replayed  # the warm plans were replayed, not just the LP optimum compared


def test_a_rejected_update_changes_nothing() -> None:
    problem = random_problem(7, "group", sets=1)
    allocator = Allocator(problem)
    before = allocator.solve_lp().objective
    instrument = problem.sets[0].instruments[0]
    cols = allocator.slot_columns(instrument.id)
    snapshot = (allocator.form.lp.value.copy(), allocator.form.lp.col_hi.copy(), allocator.form._price_u.copy())
    bad_inputs: list[tuple[Any, Any, Any]] = [  # deliberately ill-typed inputs too
        (cols[:2], [D("0.40"), D("NaN")], [D(5), D(5)]),
        (cols[:1], [D("0.40")], [D(-1)]),
        (cols[:1], [D("1.00")], [D(5)]),
        (cols[:1], [D("0.405")], [D(5)]),  # off the 0.01 tick
        (cols[:1], [0.4], [D(5)]),  # a float is not money
        (np.array([allocator.sets[0].t_col]), [D("0.40")], [D(5)]),  # not a level slot
    ]
    for handles, prices, sizes in bad_inputs:
        with pytest.raises(DataError):
            allocator.update_levels(handles, prices, sizes)
    with pytest.raises(DataError, match="twice"):
        allocator.set_book(instrument.id, [Level(D("0.30"), D(1)), Level(D("0.30"), D(2))])
    with pytest.raises(DataError):
        allocator.set_inventory({instrument.id: D(-3)})
    with pytest.raises(DataError):
        allocator.set_inventory({"nope": D(3)})
    with pytest.raises(DataError, match="no cash"):
        allocator.set_capital(Capital({"elsewhere": D(5)}))
    assert np.array_equal(snapshot[0], allocator.form.lp.value)
    assert np.array_equal(snapshot[1], allocator.form.lp.col_hi)
    assert np.array_equal(snapshot[2], allocator.form._price_u)
    assert allocator.solve_lp().objective == pytest.approx(before)


def test_deeper_levels_than_the_slots_are_ignored_conservatively() -> None:
    problem = random_problem(3, "equivalence", sets=1)
    instrument = problem.sets[0].instruments[0]
    allocator = Allocator(problem, config=AllocatorConfig(slots_per_side=2))
    allocator.set_book(instrument.id, [Level(D(c) / 100, D(3)) for c in range(10, 20)])
    cols = allocator.slot_columns(instrument.id).tolist()
    assert [allocator.form.price_at(c) for c in cols] == [D("0.10"), D("0.11")]


def _pairs(count: int, cash: Decimal, total: Decimal | None = None) -> AllocationProblem:
    from solvers import Contract, Equivalent, Side, kalshi_fee

    sets = []
    for k in range(count):
        a, b = f"a{k}", f"b{k}"
        instruments = (
            Instrument(
                f"y{k}", "kalshi", a, Side.YES, (Level(D("0.40"), D(50)), Level(D("0.42"), D(50))), kalshi_fee()
            ),
            Instrument(f"n{k}", "kalshi", b, Side.NO, (Level(D("0.50"), D(50)), Level(D("0.52"), D(50))), kalshi_fee()),
        )
        sets.append(CandidateSet(f"s{k}", (Contract(a), Contract(b)), instruments, (Equivalent(a, b),)))
    return AllocationProblem(tuple(sets), Capital({"kalshi": cash}, total))


def _profit(allocator: Allocator) -> float:
    return allocator.solve_lp().objective - sum(float(sm.baseline) for sm in allocator.sets)


def test_lazy_capital_rows_follow_prices_into_and_out_of_binding() -> None:
    """Capital-row coefficients are deferred while the row cannot bind; when cheaper prices make
    the cash bind (or dearer prices free it again), the warm model must still be exact."""
    problem = _pairs(4, D(120))
    warm = Allocator(problem)
    baseline = _profit(warm)
    for prices in ((D("0.30"), D("0.40")), (D("0.10"), D("0.20")), (D("0.45"), D("0.50")), (D("0.40"), D("0.50"))):
        for k in range(4):
            warm.set_book(f"y{k}", [Level(prices[0], D(50)), Level(prices[0] + D("0.02"), D(50))])
            warm.set_book(f"n{k}", [Level(prices[1], D(50)), Level(prices[1] + D("0.02"), D(50))])
        fresh = Allocator(_current_problem(warm, problem))
        assert _profit(warm) == pytest.approx(_profit(fresh), rel=1e-9, abs=1e-9)
        used = warm.form.spent_by_venue(warm.solve_lp().solution.x)["kalshi"]
        cash = warm.form.capital_in_force()[0]["kalshi"]
        assert used <= cash + 1e-7  # never over cash with current prices
        if prices[0] == D("0.10"):  # cheap books: the cash binds and the row had to be refreshed
            assert used == pytest.approx(cash, rel=1e-9)
            assert _eager(warm).any()
    assert _profit(warm) == pytest.approx(baseline, rel=1e-9)


def test_a_stale_capital_row_that_current_prices_would_break_is_refreshed() -> None:
    """HiGHS's capital row still holds old prices and looks slack, but at current prices the same
    purchase would overspend: the exact check must catch it and re-solve."""
    problem = _pairs(1, D(95))
    warm = Allocator(problem)
    warm.set_book("y0", [Level(D("0.40"), D(100))])
    warm.set_book("n0", [Level(D("0.50"), D(100))])
    x = warm.solve_lp().solution.x
    assert warm.form.spent_by_venue(x)["kalshi"] == pytest.approx(100 * (0.90 + 0.07 * (0.24 + 0.25)))  # 93.43 < 95
    assert not _eager(warm).any()
    warm.set_book("n0", [Level(D("0.52"), D(100))])  # the same 100 pairs would now cost 95.43
    run = warm.solve_lp()
    cash = warm.form.capital_in_force()[0]["kalshi"]
    assert warm.form.spent_by_venue(run.solution.x)["kalshi"] == pytest.approx(cash, rel=1e-9)  # now it binds
    assert _eager(warm).any()
    assert _profit(warm) == pytest.approx(_profit(Allocator(_current_problem(warm, problem))), rel=1e-9)


def test_trading_nothing_stays_feasible_when_the_reserve_exceeds_the_cash() -> None:
    problem = _pairs(3, D("0.50"))
    holdings = {"y0": D(5), "n1": D(5)}
    allocator = Allocator(AllocationProblem(problem.sets, problem.capital, holdings))
    assert allocator.form.capital_in_force()[0]["kalshi"] == 0.5  # the exact LP holds nothing back
    allocator._apply(allocator.form.add_reserve(venue="kalshi", total=D(1)))  # a repair's reserve above the cash
    assert allocator.form.capital_in_force()[0]["kalshi"] == 0.0
    assert allocator.solve_lp().objective == pytest.approx(0.0, abs=1e-9)  # feasible: nothing is traded
    allocator._apply(allocator.form.clear_reserves())
    result = allocator.solve()  # no InfeasibleError, whatever the repair rounds try
    for plan in result.plans:
        assert sum(plan.capital_by_venue_usd.values()) <= D("0.50")


def test_a_total_cap_set_after_build_is_honoured() -> None:
    problem = _pairs(3, D(10_000))
    warm = Allocator(problem)
    unconstrained = _profit(warm)
    warm.set_capital(Capital({"kalshi": D(10_000)}, D(30)))
    capped = _profit(warm)
    fresh = Allocator(_pairs(3, D(10_000), D(30)))
    assert capped == pytest.approx(_profit(fresh), rel=1e-9)
    assert capped < unconstrained
    warm.set_capital(Capital({"kalshi": D(10_000)}))  # and lifted again
    assert _profit(warm) == pytest.approx(unconstrained, rel=1e-9)


def test_cold_backend_restarts_constraint_generation_from_the_seeds() -> None:
    problem = random_problem(11, "mixed", sets=2)
    holdings = {problem.sets[0].instruments[0].id: D(4)}  # a netting row appended after the seeds
    problem = AllocationProblem(problem.sets, problem.capital, holdings)
    config = AllocatorConfig(method="cg", cg_oracle_enumeration_limit=0)
    cold = Allocator(problem, backend="highs-cold", config=config)
    warm = Allocator(problem, config=config)
    seeds = cold.form.lp.num_row
    for _ in range(3):
        run = cold.solve_lp()
        assert run.objective == pytest.approx(warm.solve_lp().objective, rel=1e-9, abs=1e-9)
        # every solve starts from the seed rows again (any cuts were found within this solve)
        assert cold.form.lp.num_row - seeds == run.cg_rounds and run.cg_rounds <= len(cold.form._cut_rows)
        assert len(cold.form._cut_rows) == cold.form.lp.num_row - seeds


def test_scaled_updates_validate_before_anything_changes() -> None:
    problem = random_problem(5, "group", sets=1)
    allocator = Allocator(problem)
    cols = allocator.slot_columns(problem.sets[0].instruments[0].id)[:2]
    before = allocator.form.lp.value.copy()
    bad = [
        (np.array([400_000, 0]), np.array([3, 3])),  # price 0
        (np.array([400_000, 1_000_000]), np.array([3, 3])),  # price 1
        (np.array([400_000, 400_500]), np.array([3, 3])),  # off the tick (0.01 or 0.001)
        (np.array([400_000, 410_000]), np.array([3, -1])),  # negative size
        (np.array([0.4, 0.41]), np.array([3, 3])),  # floats are not scaled integers
        (np.array([400_000]), np.array([3])),  # shape mismatch
    ]
    for prices, lots in bad:
        with pytest.raises(DataError):
            allocator.update_levels_scaled(cols, prices, lots)
    with pytest.raises(DataError, match="not a level slot"):
        allocator.update_levels_scaled(np.array([-1]), np.array([400_000]), np.array([1]))
    assert np.array_equal(before, allocator.form.lp.value)
    good_cols, micros, lots = allocator.form.scale_levels(cols, [D("0.40"), D("0.41")], [D(3), D("3.7")])
    assert micros.tolist() == [400_000, 410_000] and lots.tolist() == [3, 3]  # 3.7 contracts = 3 whole lots
    allocator.update_levels_scaled(good_cols, micros, lots)
    assert [allocator.form.price_at(c) for c in cols.tolist()] == [D("0.4"), D("0.41")]
