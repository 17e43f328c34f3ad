"""One persistent allocator that gains and loses candidate sets (`add_set`, `remove_set`,
`replace_set`): after any sequence of those and the per-tick edits, `solve()` equals a fresh
`Allocator` built on the live sets with the same books, inventory, capital and objective."""

from __future__ import annotations

import dataclasses
import math
import random
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solvers import (
    AllocationProblem,
    AllocationResult,
    Allocator,
    AllocatorConfig,
    CandidateSet,
    Capital,
    Contract,
    DataError,
    Equivalent,
    ExactlyOne,
    Instrument,
    Level,
    Side,
    kalshi_fee,
    polymarket_fee,
)
from solvers.backends.highs import HighsWarmBackend
from solvers.problem import Objective
from tests.support import KINDS, random_set, replay_plan

D = Decimal
SLOTS = 3
VENUES = ("kalshi", "polymarket")


def _frozen() -> float:
    """A clock that never moves: the MIP fallback's wall-clock budget is then the same for the
    persistent and the fresh allocator, whatever the machine's load."""
    return 0.0


def _config(**changes: Any) -> AllocatorConfig:
    # a budget the small instances never exhaust, so the fallback finishes alike in both models
    base = AllocatorConfig(slots_per_side=SLOTS, mip_time_limit_ms=60_000.0)
    return dataclasses.replace(base, **changes)


def _live_problem(allocator: Allocator, candidates: dict[str, CandidateSet]) -> AllocationProblem:
    """The problem a fresh build needs to reproduce the allocator's live sets: their current books
    (read back slot by slot), in `set_ids` order, with its inventory and capital."""
    form = allocator.form
    sets = []
    for set_id in allocator.set_ids:
        candidate = candidates[set_id]
        instruments = []
        for instrument in candidate.instruments:
            cols = allocator.slot_columns(instrument.id).tolist()
            asks = tuple(Level(price, form.size_at(c)) for c in cols if (price := form.price_at(c)) is not None)
            instruments.append(dataclasses.replace(instrument, asks=asks))
        sets.append(dataclasses.replace(candidate, instruments=tuple(instruments)))
    return AllocationProblem(tuple(sets), form.capital, dict(form.inventory))


def _fresh(allocator: Allocator, candidates: dict[str, CandidateSet]) -> tuple[Allocator, AllocationProblem]:
    problem = _live_problem(allocator, candidates)
    config = dataclasses.replace(allocator.config, objective=allocator.form.objective)
    return Allocator(problem, config=config, clock=_frozen), problem


def _assert_same(warm: AllocationResult, fresh: AllocationResult, where: object) -> None:
    assert [p.set_id for p in warm.plans] == [p.set_id for p in fresh.plans], where
    for mine, theirs in zip(warm.plans, fresh.plans, strict=True):
        assert mine.legs == theirs.legs, (where, mine.set_id)
        assert mine.guaranteed_profit_usd == theirs.guaranteed_profit_usd, (where, mine.set_id)
    assert warm.guaranteed_profit_usd == fresh.guaranteed_profit_usd, where
    assert warm.lp_profit_usd == pytest.approx(fresh.lp_profit_usd, rel=1e-6, abs=1e-6), where
    assert sorted(d.set_id for d in warm.dropped) == sorted(d.set_id for d in fresh.dropped), where
    for venue in VENUES:
        assert warm.capital_shadow_prices.get(venue, 0.0) == pytest.approx(
            fresh.capital_shadow_prices.get(venue, 0.0), rel=1e-6, abs=1e-7
        ), where


def _check_against_fresh(allocator: Allocator, candidates: dict[str, CandidateSet], where: object) -> AllocationResult:
    warm = allocator.solve()
    fresh, problem = _fresh(allocator, candidates)
    _assert_same(warm, fresh.solve(), where)
    assert {p.set_id for p in warm.plans} <= set(allocator.set_ids)
    objective = allocator.form.objective
    for plan in warm.plans:  # the money is right, not only equal
        assert replay_plan(problem, plan, objective) == plan.guaranteed_profit_usd
    return warm


def _capital(rng: random.Random) -> Capital:
    tight = rng.random() < 0.6
    cash = {v: D(rng.randint(2, 40)) if tight else D(10_000) for v in VENUES}
    return Capital(cash, D(rng.randint(5, 60)) if rng.random() < 0.3 else None)


def _holdings(rng: random.Random, allocator: Allocator) -> dict[str, Decimal]:
    instruments = [i for sm in allocator.sets for i in sm.instruments]
    chosen = rng.sample(instruments, k=min(3, len(instruments)))
    return {i.id: D(rng.randint(0, 9)) if i.lot_size == 1 else D(rng.randint(0, 900)) / 100 for i in chosen}


def _new_ladder(rng: random.Random, instrument: Instrument) -> list[Level]:
    best = rng.randint(3, 90)
    cents = sorted(set(range(best, min(best + 6, 99))), key=lambda c: c)[: rng.randint(0, SLOTS + 1)]
    size = (lambda: D(rng.randint(1, 40))) if instrument.lot_size == 1 else (lambda: D(rng.randint(100, 4000)) / 100)
    return [Level(D(c) / 100, size()) for c in cents]


OPS = ("add", "add", "remove", "replace", "book", "inventory", "capital", "objective", "solve")


@settings(max_examples=80)
@given(
    seed=st.integers(0, 10**6),
    ops=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 10**6)), min_size=1, max_size=12),
    initial=st.integers(0, 4),
    ratio=st.sampled_from([0.0, 0.5, 1.0, math.inf]),
)
def test_any_sequence_of_changes_solves_like_a_fresh_build(
    seed: int, ops: list[tuple[str, int]], initial: int, ratio: float
) -> None:
    rng = random.Random(seed)
    candidates = {f"s{k}": random_set(rng, rng.choice(KINDS), f"s{k}") for k in range(initial)}
    problem = AllocationProblem(tuple(candidates.values()), _capital(rng))
    allocator = Allocator(problem, config=_config(compact_retired_ratio=ratio), clock=_frozen)
    counter = initial
    for step, (op, draw) in enumerate(ops):
        op_rng = random.Random(draw)
        live = allocator.set_ids
        if op == "add" or (not live and op in ("remove", "replace", "book", "inventory")):
            set_id = f"s{counter}"
            counter += 1
            candidates[set_id] = random_set(op_rng, op_rng.choice(KINDS), set_id)
            allocator.add_set(candidates[set_id])
        elif op == "remove":
            allocator.remove_set(op_rng.choice(live))
        elif op == "replace":  # same id, new structure (its instrument ids may or may not recur)
            set_id = op_rng.choice(live)
            candidates[set_id] = random_set(op_rng, op_rng.choice(KINDS), set_id)
            allocator.replace_set(candidates[set_id])
        elif op == "book":
            instrument = op_rng.choice([i for sm in allocator.sets for i in sm.instruments])
            allocator.set_book(instrument.id, _new_ladder(op_rng, instrument))
        elif op == "inventory":
            allocator.set_inventory(_holdings(op_rng, allocator))
        elif op == "capital":
            allocator.set_capital(_capital(op_rng))
        elif op == "objective":
            objective: Objective = "worst_case" if allocator.form.objective == "riskless" else "riskless"
            allocator.set_objective(objective)
        else:
            _check_against_fresh(allocator, candidates, (step, op))
        assert allocator.set_ids == tuple(sm.id for sm in allocator.sets)
    _check_against_fresh(allocator, candidates, "end")
    stats = allocator.stats
    assert stats.live_columns + stats.retired_columns == allocator.form.lp.num_col
    assert stats.live_rows + stats.retired_rows == allocator.form.lp.num_row
    if ratio == 0.0:
        assert stats.retired_columns == stats.retired_rows == 0  # every removal compacted
    if ratio == math.inf:
        assert stats.compactions == 0


# -- capital coupling -------------------------------------------------------------------------------------------
def _pair(set_id: str, yes: str, no: str, *, size: int = 50) -> CandidateSet:
    """A cross-venue pair: YES on Kalshi at `yes`, NO on Polymarket at `no` (both books `size`
    deep, one level); buying both pays $1 whatever happens."""
    a, b = f"{set_id}.k", f"{set_id}.p"
    instruments = (
        Instrument(f"{set_id}:k:yes", "kalshi", a, Side.YES, (Level(D(yes), D(size)),), kalshi_fee()),
        Instrument(
            f"{set_id}:p:no",
            "polymarket",
            b,
            Side.NO,
            (Level(D(no), D(size)),),
            polymarket_fee(rate=D(0)),
            lot_size=D("0.01"),
        ),
    )
    return CandidateSet(set_id, (Contract(a), Contract(b)), instruments, (Equivalent(a, b),))


def test_a_new_set_competes_for_the_same_venue_cash() -> None:
    """Kalshi cash buys 20 YES of one pair at most. The better pair added later takes that cash from
    the set already there (the shared cash row couples them), exactly as a fresh build would."""
    cash = Capital({"kalshi": D(10), "polymarket": D(1_000)})
    candidates = {"old": _pair("old", "0.45", "0.50")}
    allocator = Allocator(AllocationProblem((candidates["old"],), cash), config=_config(), clock=_frozen)
    before = _check_against_fresh(allocator, candidates, "one set")
    assert [p.set_id for p in before.plans] == ["old"]
    assert before.capital_shadow_prices["kalshi"] > 0  # the cash binds

    candidates["new"] = _pair("new", "0.30", "0.50")  # 20 cents an arbitrage against 5
    allocator.add_set(candidates["new"])
    after = _check_against_fresh(allocator, candidates, "two sets")
    by_set = {p.set_id: p for p in after.plans}
    assert "new" in by_set
    kalshi_used = sum((p.capital_by_venue_usd.get("kalshi", D(0)) for p in after.plans), D(0))
    assert kalshi_used <= D(10)
    assert by_set["new"].capital_by_venue_usd["kalshi"] > D(9)  # the better set took (nearly) all of it
    assert "old" not in by_set or by_set["old"].guaranteed_profit_usd < before.plans[0].guaranteed_profit_usd

    allocator.remove_set("new")  # and the cash goes back
    again = _check_against_fresh(allocator, candidates, "removed")
    assert [(p.set_id, p.legs) for p in again.plans] == [(p.set_id, p.legs) for p in before.plans]


def test_a_total_cap_couples_sets_across_venues() -> None:
    cash = Capital({"kalshi": D(1_000), "polymarket": D(1_000)}, total_usd=D(20))
    candidates = {"a": _pair("a", "0.40", "0.50")}
    allocator = Allocator(AllocationProblem((candidates["a"],), cash), config=_config(), clock=_frozen)
    _check_against_fresh(allocator, candidates, "one")
    candidates["b"] = _pair("b", "0.20", "0.50")
    allocator.add_set(candidates["b"])
    result = _check_against_fresh(allocator, candidates, "two")
    used = sum((sum(p.capital_by_venue_usd.values(), D(0)) for p in result.plans), D(0))
    assert used <= D(20) and result.capital_shadow_prices["total"] > 0


# -- construction, validation, handles ----------------------------------------------------------------------
def test_zero_sets_solve_to_nothing_and_grow() -> None:
    allocator = Allocator(AllocationProblem((), Capital({"kalshi": D(50), "polymarket": D(50)})), config=_config())
    empty = allocator.solve()
    assert empty.plans == () and empty.guaranteed_profit_usd == 0 and not allocator.set_ids
    candidates = {"p": _pair("p", "0.40", "0.50")}
    allocator.add_set(candidates["p"])
    assert allocator.set_ids == ("p",)
    assert _check_against_fresh(allocator, candidates, "added").plans
    allocator.remove_set("p")
    assert allocator.solve().plans == () and not allocator.set_ids


def test_bad_changes_are_refused_and_change_nothing() -> None:
    candidates = {"p": _pair("p", "0.40", "0.50")}
    allocator = Allocator(
        AllocationProblem((candidates["p"],), Capital({"kalshi": D(50), "polymarket": D(50)})),
        config=_config(),
        clock=_frozen,
    )
    lp = allocator.form.lp
    before = (lp.num_col, lp.num_row, lp.value.copy(), lp.col_hi.copy())
    with pytest.raises(DataError, match="already"):
        allocator.add_set(_pair("p", "0.30", "0.50"))
    clash = _pair("q", "0.30", "0.50")
    clash = dataclasses.replace(
        clash, instruments=(dataclasses.replace(clash.instruments[0], id="p:k:yes"), clash.instruments[1])
    )
    with pytest.raises(DataError, match="is in sets p and q"):
        allocator.add_set(clash)
    elsewhere = _pair("e", "0.30", "0.50")
    elsewhere = dataclasses.replace(
        elsewhere,
        instruments=(dataclasses.replace(elsewhere.instruments[0], venue="betfair"), elsewhere.instruments[1]),
    )
    with pytest.raises(DataError, match="no cash row for venue 'betfair'"):
        allocator.add_set(elsewhere)
    with pytest.raises(DataError, match="outcome hint"):
        allocator.add_set(_pair("h", "0.30", "0.50"), outcome_hints=[[1, 0]])  # breaks the equivalence
    with pytest.raises(DataError, match="does not trade"):
        allocator.add_set(_pair("i", "0.30", "0.50"), inventory={"p:k:yes": D(1)})
    with pytest.raises(DataError, match="no live candidate set 'nope'"):
        allocator.remove_set("nope")
    with pytest.raises(DataError, match="no live candidate set 'nope'"):
        allocator.replace_set(_pair("nope", "0.30", "0.50"))
    assert allocator.set_ids == ("p",)
    assert (lp.num_col, lp.num_row) == before[:2]
    assert np.array_equal(lp.value, before[2]) and np.array_equal(lp.col_hi, before[3])
    assert allocator.stats.sets_added == allocator.stats.sets_removed == 0
    _check_against_fresh(allocator, candidates, "after refusals")


def test_handles_of_other_sets_survive_additions_and_removals() -> None:
    candidates = {k: _pair(k, "0.40", "0.50") for k in ("a", "b")}
    allocator = Allocator(
        AllocationProblem(tuple(candidates.values()), Capital({"kalshi": D(500), "polymarket": D(500)})),
        config=_config(compact_retired_ratio=math.inf),
        clock=_frozen,
    )
    handle = allocator.slot_columns("b:k:yes").copy()
    retired = allocator.slot_columns("a:k:yes").copy()
    candidates["c"] = _pair("c", "0.45", "0.50")
    allocator.add_set(candidates["c"])
    allocator.remove_set("a")
    assert allocator.stats.compactions == 0
    assert np.array_equal(allocator.slot_columns("b:k:yes"), handle)
    allocator.update_levels(handle[:1], [D("0.35")], [D(30)])
    assert allocator.form.price_at(int(handle[0])) == D("0.35")
    with pytest.raises(DataError, match="not a level slot"):  # a retired set's handles are refused
        allocator.update_levels(retired[:1], [D("0.35")], [D(30)])
    with pytest.raises(DataError, match="unknown instrument"):
        allocator.set_book("a:k:yes", [])
    _check_against_fresh(allocator, candidates, "after the tick")


def test_compaction_rebuilds_once_when_retired_space_outgrows_the_live_model() -> None:
    candidates = {f"s{k}": _pair(f"s{k}", "0.40", "0.50") for k in range(4)}
    allocator = Allocator(
        AllocationProblem(tuple(candidates.values()), Capital({"kalshi": D(60), "polymarket": D(60)})),
        config=_config(compact_retired_ratio=1.0),
        clock=_frozen,
    )
    allocator.solve()
    allocator.set_book("s3:k:yes", [Level(D("0.31"), D(7)), Level(D("0.33"), D(9))])  # books carry over
    allocator.set_inventory({"s3:p:no": D("2.5")})
    for gone in ("s0", "s1"):  # retired space: one set, then two; live: three, then two, and the cash rows
        allocator.remove_set(gone)
        stats = allocator.stats
        assert stats.compactions == 0 and stats.retired_columns > 0 and stats.retired_rows > 0
        assert stats.retired_columns + stats.retired_rows <= stats.live_columns + stats.live_rows
    allocator.remove_set("s2")  # three sets retired against one live: rebuilt
    stats = allocator.stats
    assert stats.compactions == 1 and stats.sets_removed == 3
    assert stats.retired_columns == stats.retired_rows == 0
    assert allocator.set_ids == ("s3",)
    assert allocator.form.inventory == {"s3:p:no": D("2.5")}
    cols = allocator.slot_columns("s3:k:yes").tolist()
    assert [allocator.form.price_at(c) for c in cols] == [D("0.31"), D("0.33"), None]
    _check_against_fresh(allocator, candidates, "compacted")


def test_replace_keeps_holdings_of_instruments_that_remain() -> None:
    candidates = {"g": _group("g", 3)}
    allocator = Allocator(
        AllocationProblem(tuple(candidates.values()), Capital({"kalshi": D(100), "polymarket": D(100)})),
        config=_config(),
        clock=_frozen,
    )
    allocator.set_inventory({"g:o0": D(4), "g:o2": D(3)})
    candidates["g"] = _group("g", 2)  # o2 is gone: its holding goes with it
    allocator.replace_set(candidates["g"])
    assert allocator.form.inventory == {"g:o0": D(4)}
    assert allocator.stats.sets_added == allocator.stats.sets_removed == 1
    _check_against_fresh(allocator, candidates, "replaced")


def _group(set_id: str, n: int) -> CandidateSet:
    contracts = tuple(Contract(f"{set_id}.o{k}") for k in range(n))
    instruments = tuple(
        Instrument(f"{set_id}:o{k}", "kalshi", c.id, Side.YES, (Level(D("0.30"), D(20)),), kalshi_fee())
        for k, c in enumerate(contracts)
    )
    return CandidateSet(set_id, contracts, instruments, (ExactlyOne(tuple(c.id for c in contracts)),))


@pytest.mark.parametrize("backend", ["highs-cold", "cvxpy", "pulp-cbc"])
def test_sets_added_after_constraint_generation_cuts_on_other_backends(backend: str) -> None:
    """Rows of a set added after cuts sit behind them; a backend that solves from scratch drops the
    cuts and renumbers every row after them. The reference backends rebuild from the grown LP."""
    config = _config(method="cg")
    rng = random.Random(11)
    candidates = {"s0": random_set(rng, "mixed", "s0")}
    allocator = Allocator(
        AllocationProblem(tuple(candidates.values()), Capital({v: D(30) for v in VENUES})),
        backend=backend,
        config=config,
        clock=_frozen,
    )
    allocator.solve()
    for k in range(1, 3):
        candidates[f"s{k}"] = random_set(rng, rng.choice(KINDS), f"s{k}")
        allocator.add_set(candidates[f"s{k}"])
        allocator.solve()
    allocator.set_capital(Capital({v: D(30) for v in VENUES}, D(25)))  # the total row, appended after cuts
    allocator.remove_set("s1")
    warm = allocator.solve()
    fresh, _ = _fresh(allocator, candidates)
    assert warm.guaranteed_profit_usd == fresh.solve().guaranteed_profit_usd


def test_a_total_cap_set_after_cuts_on_a_cold_backend_stays_in_its_row() -> None:
    """A cold backend drops constraint-generation cuts before every solve; rows appended after them
    (here the total-capital row) must be renumbered with them, or the cap lands on another row."""
    config = _config(method="cg")
    problem = AllocationProblem(
        (random_set(random.Random(27), "mixed", "s0"), random_set(random.Random(127), "group", "s1")),
        Capital({v: D(1_000) for v in VENUES}),
    )
    cold = Allocator(problem, backend="highs-cold", config=config, clock=_frozen)
    cold.solve_lp()
    assert cold.form._cut_rows, "the instance should need cuts"
    capped = Capital({v: D(1_000) for v in VENUES}, D(10))
    cold.set_capital(capped)
    result = cold.solve()
    warm = Allocator(dataclasses.replace(problem, capital=capped), config=config, clock=_frozen).solve()
    assert result.guaranteed_profit_usd == warm.guaranteed_profit_usd
    assert sum((sum(p.capital_by_venue_usd.values(), D(0)) for p in result.plans), D(0)) <= D(10)


def test_an_addition_keeps_the_solver_model_and_a_compaction_replaces_it() -> None:
    """No rebuild on add_set or a small remove_set: the same HiGHS object, hot-started; the
    compaction is the one rebuild. Outcome hints given to add_set survive the compaction."""
    config = _config(method="cg", compact_retired_ratio=1.0)
    candidates = {"a": _group("a", 3), "b": _pair("b", "0.40", "0.50")}
    allocator = Allocator(
        AllocationProblem(tuple(candidates.values()), Capital({"kalshi": D(40), "polymarket": D(40)})),
        config=config,
        clock=_frozen,
    )
    allocator.solve()
    backend = allocator.backend
    assert isinstance(backend, HighsWarmBackend)
    highs = backend.h
    candidates["c"] = _group("c", 4)
    allocator.add_set(candidates["c"], outcome_hints=[[0, 0, 1, 0], [1, 0, 0, 0]])
    assert backend.h is highs
    assert allocator.form._hints["c"]  # the hints seed its working set
    _check_against_fresh(allocator, candidates, "added with hints")
    allocator.remove_set("b")
    assert backend.h is highs and allocator.stats.compactions == 0
    allocator.remove_set("a")  # retired space now outgrows the live model: rebuilt once
    assert allocator.stats.compactions == 1 and backend.h is not highs
    assert allocator.form._raw_hints == {"c": [[0, 0, 1, 0], [1, 0, 0, 0]]}
    _check_against_fresh(allocator, candidates, "compacted with hints")


def test_capital_must_name_every_venue_a_set_may_join_on() -> None:
    """The venues are fixed at construction (one cash row each). New capital without one of them is
    refused with a DataError and changes nothing, even while no live set trades there; before, the
    capital update failed half-way with a KeyError."""
    both = Capital({"kalshi": D(50), "polymarket": D(50)})
    allocator = Allocator(AllocationProblem((), both), config=_config(), clock=_frozen)
    with pytest.raises(DataError, match=r"no cash given for venues \['polymarket'\]"):
        allocator.set_capital(Capital({"kalshi": D(80)}))
    assert allocator.form.capital is both
    candidates = {"p": _pair("p", "0.40", "0.50")}
    allocator.add_set(candidates["p"])
    _check_against_fresh(allocator, candidates, "capital kept")
