"""Outcome systems, enumeration, the integral-relaxation recogniser and the separation oracles."""

from __future__ import annotations

import random
from decimal import Decimal

import numpy as np
import pytest

from solvers import AtMostOne, CandidateSet, Conjunction, DataError, Equivalent, ExactlyOne, Implies, Relation
from solvers.outcomes import OutcomeSystem
from solvers.separation import OutcomeOracle
from tests.support import KINDS, KINDS_EXACT, random_set, semantic_outcomes

D = Decimal


def _system(candidate: CandidateSet, *, risky: bool = True) -> OutcomeSystem:
    return OutcomeSystem([c.id for c in candidate.contracts], candidate.relations, with_risky_links=risky)


def _enumerated(system: OutcomeSystem, limit: int) -> np.ndarray:
    outcomes = system.enumerate(limit)
    assert outcomes is not None, f"more than {limit} outcomes"
    return outcomes


@pytest.mark.parametrize("seed", range(120))
def test_enumeration_equals_semantic_brute_force(seed: int) -> None:
    candidate = random_set(random.Random(seed), KINDS[seed % len(KINDS)])
    ids = [c.id for c in candidate.contracts]
    for risky in (True, False):
        system = _system(candidate, risky=risky)
        outcomes = _enumerated(system, 100_000)
        got = {tuple(system.contract_value(z, c) for c in ids) for z in outcomes.tolist()}
        want = {tuple(o[c] for c in ids) for o in semantic_outcomes(candidate, with_risky=risky)}
        assert got == want
        assert len(got) == len(outcomes)  # no duplicates
        assert all(system.is_feasible(z) for z in outcomes.tolist())


def test_enumeration_limit_and_empty_sets() -> None:
    free = OutcomeSystem([f"c{i}" for i in range(12)], [AtMostOne(("c0", "c1"))], with_risky_links=True)
    assert free.enumerate(100) is None  # 3 x 2^10 outcomes
    assert _enumerated(free, 4096).shape == (3 * 2**10, 12)
    with pytest.raises(DataError, match="no outcome"):
        OutcomeSystem(
            ["a", "b"], [ExactlyOne(("a", "b")), Implies("a", "b"), Implies("b", "a")], with_risky_links=True
        ).enumerate(10)


@pytest.mark.parametrize(
    ("relations", "integral"),
    [
        ([ExactlyOne(("a", "b", "c", "d"))], True),
        ([Implies("b", "a"), Implies("c", "b"), Implies("d", "c")], True),
        ([Equivalent("a", "b", inverted=True, settlement_risk=True), Implies("c", "a")], True),  # balanced: flip b
        ([ExactlyOne(("a", "b", "c")), Implies("a", "b")], False),  # (1/2, 1/2, 0) is a vertex
        ([AtMostOne(("a", "b")), AtMostOne(("b", "c")), AtMostOne(("a", "c"))], False),  # odd cycle
        ([Conjunction("d", ("a", "b"))], False),
        ([ExactlyOne(("a", "b")), ExactlyOne(("c", "d"))], True),  # independent groups
    ],
)
def test_integral_relaxation_recognition(relations: list[Relation], integral: bool) -> None:
    system = OutcomeSystem(["a", "b", "c", "d"], relations, with_risky_links=True)
    assert system.has_integral_relaxation() is integral


_RECOGNISED_AT_LEAST = {"group": 70, "ladder": 80, "equivalence": 8}


@pytest.mark.parametrize("kind", KINDS_EXACT)
def test_recognised_structures_really_have_integral_relaxations(kind: str) -> None:
    """Soundness of the recogniser: where it says integral, the relaxed minimum of random linear
    objectives equals the integer minimum (else the compact dual would not be exact). Counted: the
    structures the allocator solves by the compact dual (groups, ladders, equivalences, with and
    without their risky links) are recognised in at least 3 of 4 draws, and each recognised system
    is checked on 10 objectives."""
    systems = checked = 0
    for seed in range(40):
        candidate = random_set(random.Random(seed), kind)
        for risky in (True, False):
            system = _system(candidate, risky=risky)
            systems += 1
            if not system.rows or not system.has_integral_relaxation():
                continue
            oracle = OutcomeOracle(system)
            rng = np.random.default_rng(seed)
            for _ in range(10):
                weights = rng.normal(0, 1, system.n)
                integer, _ = oracle.minimize(weights)
                assert oracle.minimize_relaxed(weights) == pytest.approx(integer, abs=1e-9)
                checked += 1
    assert systems == 80 and checked >= 10 * _RECOGNISED_AT_LEAST[kind], (kind, checked)


@pytest.mark.parametrize("enumeration_limit", [0, 100_000], ids=["mip", "enumerated"])
@pytest.mark.parametrize("seed", range(60))
def test_exact_separation_equals_enumeration(seed: int, enumeration_limit: int) -> None:
    """Exact minima against a Decimal brute force, from the HiGHS MIP and, for outcome sets small
    enough to enumerate, from the oracle's int64 product over its own enumeration."""
    candidate = random_set(random.Random(seed), KINDS[seed % len(KINDS)])
    system = _system(candidate)
    outcomes = _enumerated(system, 100_000)
    oracle = OutcomeOracle(system, enumeration_limit=enumeration_limit)
    if enumeration_limit and system.rows:
        assert oracle._exact is not None  # the enumerated path is the one under test
    rng = random.Random(seed)
    for _ in range(5):
        weights = [D(rng.randint(-50_000, 50_000)) / D(rng.choice((1, 100))) for _ in range(system.n)]
        value, z = oracle.minimize_exact(weights)
        expected = min(sum(w * int(v) for w, v in zip(weights, row)) for row in outcomes.tolist())
        assert value == expected
        assert system.is_feasible(z)
        assert sum(w * v for w, v in zip(weights, z)) == expected


def test_enumerated_oracle_screen_is_exact_with_ties() -> None:
    """Float32 screening plus an exact choice within the rounding margin finds the float64 minimum."""
    games = [f"g{k}" for k in range(8)]
    parlays = [Conjunction(f"p{k}", (games[k], games[(k + 1) % 8])) for k in range(8)]
    system = OutcomeSystem(games + [f"p{k}" for k in range(8)], parlays, with_risky_links=True)
    oracle = OutcomeOracle(system, enumeration_limit=10_000)
    everything = _enumerated(system, 10_000).astype(np.float64)
    rng = np.random.default_rng(7)
    for k in range(300):
        weights = rng.normal(0, 10.0 ** rng.uniform(-4, 5), system.n)
        if k % 3 == 0:
            weights = np.round(weights, 1)  # ties
        value, z = oracle.minimize(weights)
        best = (everything @ weights).min()
        assert abs(value - best) <= 1e-12 * max(1.0, abs(best))
        assert abs(float(z @ weights) - best) <= 1e-12 * max(1.0, abs(best))
    mip = OutcomeOracle(system)  # the HiGHS MIP answers the same
    weights = rng.normal(0, 3, system.n)
    assert mip.minimize(weights)[0] == pytest.approx(oracle.minimize(weights)[0], abs=1e-9)


def test_a_misspelt_highs_option_is_an_error_not_ignored() -> None:
    from solvers.backends.highs import new_highs
    from solvers.errors import ModelStatusError

    new_highs(mip_heuristic_run_feasibility_jump=False)  # a real option passes
    with pytest.raises(ModelStatusError, match="mip_heuristic_run_feasibility_jmp"):
        new_highs(mip_heuristic_run_feasibility_jmp=False)
