"""Constraint generation seeded with outcome vertices (docs/optimization.md#projection-uses).

`Allocator(..., outcome_hints={set id: vertices})` starts a constraint-generation set's master from
the given outcomes (0/1 vectors over the set's contracts, e.g. a projection's active vertices)
instead of the default spread of seed outcomes. Certification still goes through the exact oracle,
so hints may change the number of rounds, never the optimum.

Constraint generation seeded with the active vertices needs no more rounds than unseeded on the
benchmark's combinatorial family: test_seeded_cg_needs_no_more_rounds
here at small sizes, and the `arb bench solvers` cg-seeding rows and check at sizes 6, 10, 16.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.instances import build_family, mid_prices
from benchmarks.solver_suite import _apply, _handles, _prepare
from solvers import (
    AllocationProblem,
    Allocator,
    AllocatorConfig,
    CandidateSet,
    Capital,
    Contract,
    DataError,
    Equivalent,
    ExactlyOne,
    Implies,
    Instrument,
    Level,
    Side,
    kalshi_fee,
    project_prices,
)
from tests.support import semantic_outcomes

CG = AllocatorConfig(method="cg")


def _parlays(size: int, seed: int):
    instance = build_family("combinatorial", size, seed, 0)
    (candidate,) = instance.problem.sets
    return instance.problem, candidate


def _contract_vectors(candidate: CandidateSet, outcomes: list[dict[str, int]]) -> np.ndarray:
    ids = [c.id for c in candidate.contracts]
    return np.array([[o[c] for c in ids] for o in outcomes], dtype=np.uint8)


def _solve(problem: AllocationProblem, hints=None):
    allocator = Allocator(problem, config=CG, outcome_hints=hints)
    seeds = [z.copy() for z in allocator.sets[0].scenario_z]
    run = allocator.solve_lp(duals=True)
    return allocator, seeds, run


# -- seeded rounds -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "seed"), [(4, 11), (5, 12), (6, 13)])
def test_seeded_cg_needs_no_more_rounds(size: int, seed: int) -> None:
    problem, candidate = _parlays(size, seed)
    projection = project_prices(candidate, mid_prices(candidate))
    _, _, unseeded = _solve(problem)
    _, seeds, seeded = _solve(problem, {candidate.id: projection.vertices})
    assert len(seeds) == len({z.tobytes() for z in seeds}) <= len(projection.vertices)
    assert seeded.cg_rounds <= unseeded.cg_rounds
    assert unseeded.cg_rounds > 0  # the comparison is not between two trivial runs
    assert seeded.objective == pytest.approx(unseeded.objective, rel=1e-9, abs=1e-9)


def test_seeding_with_the_optimal_active_vertices_reaches_the_same_objective() -> None:
    """The outcomes binding at the optimum (positive duals) already define it: a master started
    from them is optimal at once and the oracle certifies it without a cut."""
    problem, candidate = _parlays(6, 13)
    allocator, _, unseeded = _solve(problem)
    sm = allocator.sets[0]
    _, binding = allocator.form.coherent_prices(sm, unseeded.solution)
    assert binding
    ids = [c.id for c in candidate.contracts]
    vertices = np.array(
        [[sm.system.contract_value(tuple(int(v) for v in z), c) for c in ids] for z, _ in binding], dtype=np.uint8
    )
    _, seeds, seeded = _solve(problem, {candidate.id: vertices})
    assert len(seeds) == len(binding)
    assert seeded.objective == pytest.approx(unseeded.objective, rel=1e-9, abs=1e-9)
    assert seeded.cg_rounds == 0


_SMALL, _SMALL_SET = _parlays(4, 11)
_FEASIBLE = _contract_vectors(_SMALL_SET, semantic_outcomes(_SMALL_SET))
_OPTIMUM = _solve(_SMALL)[2].objective


@settings(max_examples=25, deadline=None, derandomize=True)
@given(chosen=st.lists(st.integers(0, len(_FEASIBLE) - 1), min_size=1, max_size=6))
def test_any_feasible_hints_give_the_same_optimum(chosen: list[int]) -> None:
    """Bad-but-feasible hints (arbitrary outcomes, one to six of them) change the rounds, never the
    optimum: the oracle adds whatever the master misses."""
    _, seeds, run = _solve(_SMALL, {_SMALL_SET.id: _FEASIBLE[chosen]})
    assert len(seeds) == len(set(chosen))
    assert run.objective == pytest.approx(_OPTIMUM, rel=1e-9, abs=1e-9)


def test_a_single_poor_hint_takes_more_rounds_to_the_same_optimum() -> None:
    nothing_happens = _FEASIBLE[np.flatnonzero(_FEASIBLE.sum(axis=1) == 0)]
    _, seeds, run = _solve(_SMALL, {_SMALL_SET.id: nothing_happens})
    _, _, unseeded = _solve(_SMALL)
    assert len(seeds) == 1
    assert run.cg_rounds > unseeded.cg_rounds
    assert run.objective == pytest.approx(_OPTIMUM, rel=1e-9, abs=1e-9)


def test_the_default_path_is_unchanged_without_hints() -> None:
    """No hints (or an empty list) keeps the default seed outcomes: every variable at 0 and at 1."""
    problem, candidate = _parlays(5, 12)
    allocator, seeds, _ = _solve(problem)
    expected = allocator.sets[0].oracle.seed_vertices()
    assert sorted(z.tobytes() for z in seeds) == sorted(z.tobytes() for z in expected)
    _, empty_seeds, _ = _solve(problem, {candidate.id: []})
    assert sorted(z.tobytes() for z in empty_seeds) == sorted(z.tobytes() for z in expected)


def test_hints_are_ignored_by_enumerated_sets_but_still_validated() -> None:
    problem, candidate = _parlays(4, 11)
    allocator = Allocator(problem, outcome_hints={candidate.id: _FEASIBLE[:1]})  # auto: small, enumerated
    assert allocator.sets[0].method == "enumerate"
    assert len(allocator.sets[0].scenario_z) == len(_FEASIBLE)
    parlay_without_legs = np.array(
        [[int("&" in c.id and c.id == candidate.contracts[-1].id) for c in candidate.contracts]]
    )
    with pytest.raises(DataError, match="breaks the set's relations"):
        Allocator(problem, outcome_hints={candidate.id: parlay_without_legs})


# -- mapping and validation ---------------------------------------------------------------------------
def _linked_set() -> CandidateSet:
    """k:a and p:a are the same event on two venues; p:not-a is its complement (inverted link);
    b implies a; exactly one of a, c."""
    contracts = tuple(Contract(c) for c in ("k:a", "p:a", "p:not-a", "b", "c"))
    instruments = tuple(
        Instrument(f"{c}:{side.value}", "kalshi", c, side, (Level(D("0.40"), D(10)),), kalshi_fee())
        for c in ("k:a", "b", "c")
        for side in Side
    )
    relations = (
        Equivalent("k:a", "p:a"),
        Equivalent("k:a", "p:not-a", inverted=True),
        Implies("b", "k:a"),
        ExactlyOne(("k:a", "c")),
    )
    return CandidateSet("linked", contracts, instruments, relations)


def _linked_problem() -> AllocationProblem:
    return AllocationProblem((_linked_set(),), Capital({"kalshi": D(100)}))


def test_hints_in_contract_order_map_onto_the_outcome_variables() -> None:
    problem = _linked_problem()
    hints = np.array([[1, 1, 0, 1, 0], [0, 0, 1, 0, 1]], dtype=np.uint8)  # (k:a, p:a, p:not-a, b, c)
    allocator = Allocator(problem, config=CG, outcome_hints={"linked": hints})
    sm = allocator.sets[0]
    assert sm.system.n == 3  # {k:a, p:a, p:not-a}, b, c
    ids = [c.id for c in sm.candidate.contracts]
    seeded = sorted(tuple(sm.system.contract_value(tuple(int(v) for v in z), c) for c in ids) for z in sm.scenario_z)
    assert seeded == sorted(tuple(int(v) for v in row) for row in hints)
    unseeded = Allocator(problem, config=CG).solve_lp().objective
    assert allocator.solve_lp().objective == pytest.approx(unseeded, abs=1e-9)


@pytest.mark.parametrize(
    ("hints", "message"),
    [
        ({"linked": [[1, 0, 0, 1, 0]]}, "settles equivalent contracts differently"),  # k:a = 1 but p:a = 0
        ({"linked": [[1, 1, 1, 0, 0]]}, "settles equivalent contracts differently"),  # p:not-a must be 1 - k:a
        ({"linked": [[0, 0, 1, 1, 1]]}, "breaks the set's relations"),  # b without a
        ({"linked": [[1, 1, 0, 0, 1]]}, "breaks the set's relations"),  # a and c both
        ({"linked": [[1, 1, 0, 0]]}, "had shape"),
        ({"linked": [1, 1, 0, 0, 0]}, "had shape"),  # one vector, not a list of vectors
        ({"linked": [[1, 1, 0, 0.5, 0]]}, "only 0 and 1"),
        ({"linked": [["x", 1, 0, 0, 0]]}, "0/1 vectors"),
        ({"other": [[1, 1, 0, 0, 0]]}, "unknown sets"),
    ],
)
def test_infeasible_or_malformed_hints_are_data_errors(hints, message: str) -> None:
    with pytest.raises(DataError, match=message):
        Allocator(_linked_problem(), config=CG, outcome_hints=hints)


# -- review: risky links, cold re-solves and ticks ------------------------------------------------------
def test_hints_seed_the_risk_free_system_and_survive_cold_resets_and_ticks() -> None:
    """With settlement-risk links the set has two outcome systems; the projection's vertices (all
    relations, risky links included) seed the main one only, the settlement-risk rows keep their
    default seeds. A from-scratch backend resets to the seeded working set before every solve
    (the hint rows are part of the build, not cuts), and every tick's optimum equals the unseeded
    one."""
    instance = build_family("combinatorial", 4, 11, 3)
    (candidate,) = instance.problem.sets
    relations = tuple(
        dataclasses.replace(r, settlement_risk=True) if isinstance(r, Equivalent) and k % 2 == 0 else r
        for k, r in enumerate(candidate.relations)
    )
    risky = dataclasses.replace(
        candidate, relations=relations, limits=dataclasses.replace(candidate.limits, settlement_loss_limit_usd=D(5))
    )
    problem = dataclasses.replace(instance.problem, sets=(risky,))
    vertices = project_prices(risky, mid_prices(risky)).vertices
    objectives = {}
    for name, hints in (("unseeded", None), ("seeded", {risky.id: vertices})):
        allocator = Allocator(problem, backend="highs-cold", config=CG, outcome_hints=hints)
        sm = allocator.sets[0]
        assert sm.system_err is not None and sm.method == "cg"
        seeds = [z.tobytes() for z in sm.scenario_z]
        assert sm.oracle_err is not None
        assert [z.tobytes() for z in sm.err_z] == [z.tobytes() for z in sm.oracle_err.seed_vertices()]
        if hints:
            assert sorted(seeds) == sorted({z.tobytes() for z in _variable_vectors(sm, vertices)})
        runs = [allocator.solve_lp().objective]
        for tick in _prepare(allocator, instance.ticks, _handles(allocator, instance)):
            _apply(allocator, tick)
            runs.append(allocator.solve_lp().objective)
            assert [z.tobytes() for z in sm.scenario_z[: len(seeds)]] == seeds  # the seeds survive every reset
        objectives[name] = runs
    np.testing.assert_allclose(objectives["seeded"], objectives["unseeded"], rtol=1e-9, atol=1e-9)


def _variable_vectors(sm, vertices: np.ndarray) -> list[np.ndarray]:
    ids = [c.id for c in sm.candidate.contracts]
    out = []
    for row in vertices:
        z = np.zeros(sm.system.n, dtype=np.uint8)
        for c, value in zip(ids, row):
            var, parity = sm.system.literal[c]
            z[var] = int(value) ^ parity
        out.append(z)
    return out
