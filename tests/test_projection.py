"""KL projection onto the marginal polytope: closed form, Frank-Wolfe, stops, settling, validation.

References share no code with `solvers.projection`: outcomes are enumerated semantically
(tests.support.semantic_outcomes or an explicit list) and the projection over their convex hull is
solved by cvxpy with Clarabel (exponential cone: rel_entr terms of the binary KL); for the n = 50
benchmark instances, whose outcomes are too many to list, Clarabel solves over the relations'
LP relaxation written here from their meaning (exact exactly when that relaxation is integral).

What the projection promises, item by item (docs/optimization.md#projection):
- a Frank-Wolfe gap of at most 1e-6 on n = 50 group/ladder instances:
  test_gap_at_most_1e6_on_n50_group_ladder_instances
- equal to an exponential-cone reference (cvxpy with Clarabel) within 1e-6:
  test_n50_group_and_ladder_equal_clarabel_reference,
  test_n50_benchmark_instances_equal_clarabel_reference
- equal to brute-force enumeration on small non-TU instances:
  test_non_tu_parlays_equal_brute_force_enumeration (and
  test_parlay_instances_are_really_not_totally_unimodular, so that this is not vacuous)
- the alpha-extraction and time-budget stops: test_alpha_extraction_stop, test_time_budget_*
- total time at most 3x (oracle calls x median oracle time) on the benchmark family: a benchmark
  figure (`arb bench solvers`, projection family, with a --strict check), not a timed unit test;
  test_oracle_calls_count_real_solves_with_their_times checks the numbers it is computed from.
"""

from __future__ import annotations

import itertools
import warnings
from decimal import Decimal
from typing import Any

import cvxpy as cp
import numpy as np
import pytest

# cvxpy re-exports its atoms by star import, which its typed package does not export to a type
# checker: the two atoms used here come from their own modules
from cvxpy.atoms.affine.sum import sum as cvx_sum
from cvxpy.atoms.elementwise.rel_entr import rel_entr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import solvers.projection as projection_module
from benchmarks.instances import projection_instance
from solvers import (
    AtMostOne,
    CandidateSet,
    Conjunction,
    Contract,
    DataError,
    Equivalent,
    ExactlyOne,
    Implies,
    ProjectionResult,
    Relation,
    project_prices,
)
from solvers.outcomes import OutcomeSystem
from solvers.projection import binary_kl
from solvers.separation import OutcomeOracle
from tests.support import semantic_outcomes

# mu errs like sqrt(objective error) near the optimum, so 1e-6 on mu needs a very tight reference;
# at these tolerances Clarabel sometimes reports "optimal_inaccurate" (its reduced-accuracy check),
# which is still far inside 1e-6 (the FW gap certificate cross-checks the value independently)
_CLARABEL = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10, "max_iter": 500}


def _set(ids, relations) -> CandidateSet:
    return CandidateSet("s", tuple(Contract(i) for i in ids), (), tuple(relations))


def _vertices(candidate: CandidateSet) -> np.ndarray:
    ids = [c.id for c in candidate.contracts]
    return np.array([[o[i] for i in ids] for o in semantic_outcomes(candidate)], dtype=float)


def _reference(vertices: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, float]:
    """cvxpy/Clarabel: min binary KL(mu||theta) over mu = V' w, w in the simplex."""
    w = cp.Variable(len(vertices), nonneg=True)
    mu = vertices.T @ w
    objective = cvx_sum(rel_entr(mu, theta) + rel_entr(1 - mu, 1 - theta))
    problem = cp.Problem(cp.Minimize(objective), [cvx_sum(w) == 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Solution may be inaccurate"
        problem.solve(solver=cp.CLARABEL, **_CLARABEL)
    assert problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
    return np.clip(vertices.T @ w.value, 0.0, 1.0), float(problem.value)


def _relaxed_reference(candidate: CandidateSet, theta: np.ndarray) -> tuple[np.ndarray, float]:
    """cvxpy/Clarabel: min binary KL(mu||theta) over the LP relaxation of the relations, each
    written from its meaning: sum = 1, sum <= 1, mu_a <= mu_b, AND by its three linear bounds."""
    ids = [c.id for c in candidate.contracts]
    index = {c: i for i, c in enumerate(ids)}
    mu = cp.Variable(len(ids))
    constraints = [mu >= 0, mu <= 1]
    for relation in candidate.relations:
        if isinstance(relation, ExactlyOne):
            constraints.append(sum(mu[index[c]] for c in relation.contracts) == 1)
        elif isinstance(relation, AtMostOne):
            constraints.append(sum(mu[index[c]] for c in relation.contracts) <= 1)
        elif isinstance(relation, Implies):
            constraints.append(mu[index[relation.antecedent]] <= mu[index[relation.consequent]])
        elif isinstance(relation, Conjunction):
            result, operands = mu[index[relation.result]], [mu[index[c]] for c in relation.operands]
            constraints += [result <= a for a in operands]
            constraints.append(result >= sum(operands) - (len(operands) - 1))
        else:  # pragma: no cover - the instances here use only the relations above
            raise TypeError(relation)
    objective = cvx_sum(rel_entr(mu, theta) + rel_entr(1 - mu, 1 - theta))
    problem = cp.Problem(cp.Minimize(objective), constraints)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        problem.solve(solver=cp.CLARABEL, **_CLARABEL)
    assert problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and mu.value is not None
    return np.clip(mu.value, 0.0, 1.0), float(problem.value)


def _group_vertices(n: int) -> np.ndarray:
    return np.eye(n)


def _ladder_vertices(n: int) -> np.ndarray:
    """Implies(c[i+1], c[i]): outcomes are prefixes of ones (mu_1 >= mu_2 >= ...)."""
    return np.array([[1.0] * k + [0.0] * (n - k) for k in range(n + 1)])


def _assert_consistent(result: ProjectionResult, candidate: CandidateSet) -> None:
    """Vertices are feasible 0/1 outcomes; weights >= 0, sum 1, reproduce mu; divergence matches."""
    feasible = {tuple(int(v) for v in row) for row in _vertices(candidate)} if len(candidate.contracts) <= 12 else None
    assert result.vertices.dtype == np.uint8 and set(np.unique(result.vertices)) <= {0, 1}
    if feasible is not None:
        assert all(tuple(int(v) for v in row) in feasible for row in result.vertices)
    assert np.all(result.weights >= 0)
    assert abs(result.weights.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(result.weights @ result.vertices, result.mu, atol=1e-12)
    assert abs(result.divergence - binary_kl(result.mu, result.prices)) < 1e-12
    assert result.gap >= 0


def test_clarabel_is_installed_first() -> None:
    assert cp.installed_solvers()[0] == "CLARABEL"


# -- closed form ----------------------------------------------------------------------------------
def test_closed_form_matches_doc_example_and_reference_and_frank_wolfe() -> None:
    ids = ("a", "b", "c")
    candidate = _set(ids, [ExactlyOne(ids)])
    theta = np.array([0.40, 0.35, 0.20])
    closed = project_prices(candidate, theta)
    assert closed.stop_reason == "closed_form" and closed.oracle_calls == 0
    # the worked example of docs/optimization.md#projection
    np.testing.assert_allclose(closed.mu, [0.419, 0.368, 0.213], atol=5e-4)
    # a common log-odds shift
    shift = np.log(theta / (1 - theta)) - np.log(closed.mu / (1 - closed.mu))
    assert np.ptp(shift) < 1e-12
    mu_ref, value_ref = _reference(_group_vertices(3), theta)
    np.testing.assert_allclose(closed.mu, mu_ref, atol=1e-6)
    assert abs(closed.divergence - value_ref) < 1e-6
    fw = project_prices(candidate, theta, method="frank_wolfe", tol=1e-10)
    assert fw.stop_reason == "gap"
    np.testing.assert_allclose(fw.mu, closed.mu, atol=1e-6)
    assert abs(fw.divergence - closed.divergence) < 1e-9
    _assert_consistent(closed, candidate)
    _assert_consistent(fw, candidate)


@pytest.mark.parametrize("seed", range(4))
def test_closed_form_random_groups_with_at_most_one_and_free_contracts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"c{i}" for i in range(9)]
    relations = [ExactlyOne(tuple(ids[:4])), AtMostOne(tuple(ids[4:7]))]  # c7, c8 unconstrained
    candidate = _set(ids, relations)
    theta = rng.uniform(0.05, 0.95, len(ids))
    closed = project_prices(candidate, theta)
    assert closed.stop_reason == "closed_form"
    mu_ref, value_ref = _reference(_vertices(candidate), theta)
    np.testing.assert_allclose(closed.mu, mu_ref, atol=1e-6)
    assert abs(closed.divergence - value_ref) < 1e-6
    np.testing.assert_allclose(closed.mu[7:], theta[7:], atol=1e-15)
    assert closed.gap < 1e-12
    fw = project_prices(candidate, theta, method="frank_wolfe", tol=1e-10)
    np.testing.assert_allclose(fw.mu, closed.mu, atol=1e-6)
    _assert_consistent(closed, candidate)
    _assert_consistent(fw, candidate)


# -- Frank-Wolfe at n = 50 -----------------------------------------------------------------------------
def _n50(structure: str, seed: int) -> tuple[CandidateSet, np.ndarray, np.ndarray]:
    n = 50
    rng = np.random.default_rng(100 + seed)
    ids = [f"c{i:02d}" for i in range(n)]
    if structure == "group":
        theta = rng.uniform(0.005, 0.1, n)
        return _set(ids, [ExactlyOne(tuple(ids))]), theta, _group_vertices(n)
    theta = np.clip(np.sort(rng.uniform(0.05, 0.95, n))[::-1] + rng.normal(0, 0.08, n), 0.01, 0.99)
    return _set(ids, [Implies(ids[i + 1], ids[i]) for i in range(n - 1)]), theta, _ladder_vertices(n)


# seeds of the benchmark family at n = 50 (groups and ladders of 5 plus cross implications): with
# seeds 1 and 2 the LP relaxation is integral, with seed 0 the cross implications settle two
# contracts that the relaxation leaves fractional
_TU_SEEDS = (1, 2)
_NON_TU_SEED = 0


@pytest.mark.parametrize(
    ("kind", "seed"),
    [("group", 0), ("group", 1), ("ladder", 0), ("ladder", 1), *(("benchmark", s) for s in (*_TU_SEEDS, _NON_TU_SEED))],
)
def test_gap_at_most_1e6_on_n50_group_ladder_instances(kind: str, seed: int) -> None:
    if kind == "benchmark":
        instance = projection_instance(50, seed)
        candidate, theta = instance.candidate, instance.prices
    else:
        candidate, theta, _ = _n50(kind, seed)
    result = project_prices(candidate, theta, tol=1e-6, method="frank_wolfe")
    assert result.stop_reason == "gap"
    assert 0 <= result.gap <= 1e-6
    assert result.oracle_calls == result.init_oracle_calls + result.iterations + 1  # one LMO per check
    _assert_consistent(result, candidate)


@pytest.mark.parametrize("structure", ["group", "ladder"])
@pytest.mark.parametrize("seed", range(2))
def test_n50_group_and_ladder_equal_clarabel_reference(structure: str, seed: int) -> None:
    """Divergence within 1e-6 at the default tolerance; mu within 1e-6 once the gap is 1e-12 (mu
    errs like sqrt(gap / curvature), so a gap of 1e-6 alone does not pin mu to 1e-6)."""
    candidate, theta, vertices = _n50(structure, seed)
    mu_ref, value_ref = _reference(vertices, theta)
    loose = project_prices(candidate, theta, tol=1e-6, method="frank_wolfe")
    assert loose.gap <= 1e-6
    assert abs(loose.divergence - value_ref) < 1e-6
    assert loose.divergence - loose.gap <= value_ref + 1e-8  # the gap certifies the optimum
    result = project_prices(candidate, theta, tol=1e-12, method="frank_wolfe")
    assert result.stop_reason == "gap"
    np.testing.assert_allclose(result.mu, mu_ref, atol=1e-6)
    assert abs(result.divergence - value_ref) < 1e-6
    assert np.all(result.weights >= 0) and abs(result.weights.sum() - 1) < 1e-12
    np.testing.assert_allclose(result.weights @ result.vertices, result.mu, atol=1e-12)
    if structure == "ladder":
        assert np.all(np.diff(result.mu) <= 1e-12)
    else:
        assert abs(result.mu.sum() - 1) < 1e-9


@pytest.mark.parametrize("seed", _TU_SEEDS)
def test_n50_benchmark_instances_equal_clarabel_reference(seed: int) -> None:
    instance = projection_instance(50, seed)
    mu_ref, value_ref = _relaxed_reference(instance.candidate, instance.prices)
    loose = project_prices(instance.candidate, instance.prices, tol=1e-6)
    assert loose.stop_reason == "gap" and loose.gap <= 1e-6
    assert abs(loose.divergence - value_ref) < 1e-6
    tight = project_prices(instance.candidate, instance.prices, tol=1e-12)
    np.testing.assert_allclose(tight.mu, mu_ref, atol=1e-6)
    assert abs(tight.divergence - value_ref) < 1e-6
    _assert_consistent(tight, instance.candidate)


def test_relaxation_reference_is_loose_where_cross_implications_settle_contracts() -> None:
    """Why the oracle is a MIP (docs/optimization.md#projection): on this benchmark instance the LP
    relaxation leaves the settled contracts fractional, and its projection is far below the true
    one. The certificate's lower bound D - gap sits above the relaxation's optimum."""
    instance = projection_instance(50, _NON_TU_SEED)
    _, value_relaxed = _relaxed_reference(instance.candidate, instance.prices)
    result = project_prices(instance.candidate, instance.prices, tol=1e-9)
    assert result.settled
    assert result.divergence - result.gap > value_relaxed + 1e-3


# -- non-TU instances (parlays) vs brute force -------------------------------------------------------
def _parlay_set(rng: np.random.Generator, games: int, parlays: int, exclusive: bool) -> CandidateSet:
    ids = [f"g{i}" for i in range(games)] + [f"p{k}" for k in range(parlays)]
    relations: list[Relation] = []
    pairs = list(itertools.combinations(range(games), 2))
    for k in range(parlays):
        size = 2 if k % 2 == 0 else 3
        operands = tuple(f"g{i}" for i in sorted(rng.choice(games, size=size, replace=False)))
        relations.append(Conjunction(f"p{k}", operands))
    if exclusive:  # may force parlays on both games to 0 (settled); without it nothing is settled
        a, b = pairs[int(rng.integers(len(pairs)))]
        relations.append(AtMostOne((f"g{a}", f"g{b}")))
    return _set(ids, relations)


def _parlay_case(seed: int) -> tuple[CandidateSet, np.ndarray]:
    rng = np.random.default_rng(seed)
    candidate = _parlay_set(rng, games=5, parlays=4, exclusive=seed % 2 == 0)
    return candidate, rng.uniform(0.05, 0.95, len(candidate.contracts))


@pytest.mark.parametrize("seed", range(6))
def test_non_tu_parlays_equal_brute_force_enumeration(seed: int) -> None:
    """The reference enumerates all 2^9 assignments, keeps those satisfying the relations by their
    meaning, and projects onto their convex hull with Clarabel."""
    candidate, theta = _parlay_case(seed)
    result = project_prices(candidate, theta, tol=1e-10)
    assert result.stop_reason == "gap"
    mu_ref, value_ref = _reference(_vertices(candidate), theta)
    np.testing.assert_allclose(result.mu, mu_ref, atol=1e-6)
    assert abs(result.divergence - value_ref) < 1e-6
    _assert_consistent(result, candidate)


def test_parlay_instances_are_really_not_totally_unimodular() -> None:
    """On most of the parlay cases above the LP relaxation's projection differs from the true one,
    so matching brute force there takes the integer oracle."""
    loose = 0
    for seed in range(6):
        candidate, theta = _parlay_case(seed)
        _, value_hull = _reference(_vertices(candidate), theta)
        _, value_relaxed = _relaxed_reference(candidate, theta)
        assert value_relaxed <= value_hull + 1e-8  # the relaxation contains the hull
        loose += value_relaxed < value_hull - 1e-4
    assert loose >= 3


@st.composite
def _small_sets(draw) -> tuple[CandidateSet, np.ndarray]:
    """Up to 8 contracts under random groups, implications and conjunctions (any mix, TU or not),
    with prices anywhere in (0.02, 0.98)."""
    n = draw(st.integers(3, 8))
    ids = [f"c{i}" for i in range(n)]
    relations: list[Relation] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["exactly", "at_most", "implies", "and"]))
        members = draw(st.lists(st.sampled_from(ids), min_size=2, max_size=min(4, n), unique=True))
        if kind == "exactly":
            relations.append(ExactlyOne(tuple(members)))
        elif kind == "at_most":
            relations.append(AtMostOne(tuple(members)))
        elif kind == "implies":
            relations.append(Implies(members[0], members[1]))
        elif len(members) >= 3:
            relations.append(Conjunction(members[0], tuple(members[1:])))
    candidate = _set(ids, relations)
    theta = np.array(draw(st.lists(st.floats(0.02, 0.98), min_size=n, max_size=n)))
    return candidate, theta


@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=_small_sets())
def test_frank_wolfe_matches_brute_force_on_random_small_sets(case) -> None:
    """Any mix of relations: the certified optimum equals the projection onto the hull of the
    enumerated outcomes, mu is a convex combination of feasible outcomes, and the certificate
    brackets the reference value."""
    candidate, theta = case
    vertices = _vertices(candidate)
    assume(len(vertices) > 0)
    result = project_prices(candidate, theta, tol=1e-10, method="frank_wolfe")
    assert result.stop_reason == "gap"
    mu_ref, value_ref = _reference(vertices, theta)
    assert result.divergence - result.gap <= value_ref + 1e-8 <= result.divergence + 2e-8
    np.testing.assert_allclose(result.mu, mu_ref, atol=1e-5)
    _assert_consistent(result, candidate)


# -- stops ----------------------------------------------------------------------------------------
def _incoherent_ladder(n: int = 30) -> tuple[CandidateSet, np.ndarray]:
    ids = [f"c{i}" for i in range(n)]
    rng = np.random.default_rng(7)
    theta = rng.uniform(0.05, 0.95, n)  # unordered: far from coherent
    return _set(ids, [Implies(ids[i + 1], ids[i]) for i in range(n - 1)]), theta


def test_alpha_extraction_stop() -> None:
    candidate, theta = _incoherent_ladder()
    full = project_prices(candidate, theta, tol=1e-12)
    alpha = 0.5
    early = project_prices(candidate, theta, tol=1e-12, alpha=alpha)
    assert early.stop_reason == "alpha_extraction"
    assert early.gap > 1e-12
    assert early.gap <= (1 - alpha) * early.divergence
    assert early.profit_bound >= alpha * early.divergence
    assert early.iterations < full.iterations
    # the certificate brackets the true optimum
    assert early.divergence - early.gap <= full.divergence + 1e-9 <= early.divergence + 1e-9
    _assert_consistent(early, candidate)


class _FakeClock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_time_budget_stop_at_the_iteration_check() -> None:
    """A clock that ticks one second per reading: the budget runs out after a known number of
    readings, deterministically, and the stop comes at the check after an LMO call."""
    candidate, theta = _incoherent_ladder()
    readings = itertools.count()
    full = project_prices(candidate, theta, tol=1e-12, clock=lambda: float(next(readings)))
    budget = next(readings) / 2  # half the clock readings of the complete run
    runs = []
    for _ in range(2):
        runs.append(project_prices(candidate, theta, tol=1e-12, time_budget_s=budget, clock=itertools.count().__next__))
    result = runs[0]
    assert result.stop_reason == "time_budget"
    assert 0 < result.iterations < full.iterations
    assert runs[1].iterations == result.iterations and runs[1].oracle_calls == result.oracle_calls
    np.testing.assert_array_equal(runs[1].mu, result.mu)
    assert result.total_time_s > result.oracle_time_s > 0
    assert 0 < result.gap < np.inf
    assert result.divergence - result.gap <= full.divergence + 1e-9 <= result.divergence + 1e-9
    _assert_consistent(result, candidate)


def test_time_budget_inside_init_fw_returns_an_uncertified_point_of_m(monkeypatch) -> None:
    """The budget runs out during InitFW (each MIP run takes 'one second'): the projection stops
    right after the oracle call that used it up, with the mean of the outcomes found (in M), no
    certificate (gap = inf) and no settled contract claimed."""
    instance = projection_instance(50, _NON_TU_SEED)
    candidate, theta = instance.candidate, instance.prices
    complete = project_prices(candidate, theta, tol=1e-11)
    assert complete.init_oracle_calls >= 3 and complete.settled
    clock = _FakeClock()
    run = OutcomeOracle._run

    def slow_run(self, weights):
        clock.now += 1.0
        return run(self, weights)

    monkeypatch.setattr(OutcomeOracle, "_run", slow_run)
    # 'one second' for the oracle's feasibility solve at construction, then one per InitFW call
    result = project_prices(candidate, theta, tol=1e-11, time_budget_s=2.5, clock=clock)
    assert result.stop_reason == "time_budget"
    assert result.oracle_calls == result.init_oracle_calls == 2  # stopped by the second call
    assert result.iterations == 0 and result.gap == np.inf and dict(result.settled) == {}
    _assert_consistent(result, candidate)


def test_time_budget_inside_the_corrective_phase_returns_the_certified_iterate(monkeypatch) -> None:
    """The budget runs out in the middle of a corrective phase (a Newton step that, unhurried, would
    be followed by another): no further Newton step, line search or oracle call happens, and the
    result is the last iterate the LMO certified (finite gap whose bound holds), not the
    half-corrected one."""
    candidate, theta = _incoherent_ladder()
    full = project_prices(candidate, theta, tol=1e-12)
    clock = _FakeClock()
    events: list[str] = []
    gradients: list[np.ndarray] = []
    trigger = {"at": -1}
    direction = projection_module._newton_direction
    lmo = projection_module._FrankWolfe.lmo

    def counted_direction(H, g):
        events.append("newton")
        if events.count("newton") == trigger["at"]:
            clock.now = 100.0  # this Newton step is where the budget runs out
        return direction(H, g)

    def counted_lmo(self, grad):
        events.append("lmo")
        gradients.append(grad.copy())
        return lmo(self, grad)

    monkeypatch.setattr(projection_module, "_newton_direction", counted_direction)
    monkeypatch.setattr(projection_module._FrankWolfe, "lmo", counted_lmo)
    project_prices(candidate, theta, tol=1e-12)  # unhurried: where do corrective phases take 2+ steps?
    newtons = [k for k, event in enumerate(events) if event == "newton"]
    followed = [
        n
        for n, k in enumerate(newtons, start=1)
        if k + 1 < len(events) and events[k + 1] == "newton" and events[:k].count("lmo") > 3
    ]
    assert followed
    trigger["at"] = followed[0]
    events.clear()
    gradients.clear()
    result = project_prices(candidate, theta, tol=1e-12, time_budget_s=50.0, clock=clock)
    assert result.stop_reason == "time_budget"
    assert events[-1] == "newton" and events.count("newton") == trigger["at"]  # prompt: nothing after it
    # the iterate returned is the one the last LMO call was made at (grad = logit mu - logit theta)
    np.testing.assert_allclose(result.mu, 1 / (1 + np.exp(-(gradients[-1] + np.log(theta / (1 - theta))))), atol=1e-12)
    assert result.iterations == events.count("lmo") - 1  # the interrupted iteration is dropped
    assert result.oracle_calls == result.init_oracle_calls + result.iterations + 1
    assert 0 < result.gap < np.inf
    assert result.divergence - result.gap <= full.divergence + 1e-9 <= result.divergence + 1e-9
    _assert_consistent(result, candidate)


def test_oracle_calls_count_real_solves_with_their_times(monkeypatch) -> None:
    """oracle_calls counts MIP runs (not remembered answers), with one time per run; the bench's
    ratio total / (calls x median oracle time) is computed from these."""
    instance = projection_instance(50, _TU_SEEDS[0])
    runs = 0
    run = OutcomeOracle._run

    def counting_run(self, weights):
        nonlocal runs
        runs += 1
        return run(self, weights)

    monkeypatch.setattr(OutcomeOracle, "_run", counting_run)
    result = project_prices(instance.candidate, instance.prices)
    assert result.oracle_calls == runs - 1  # the oracle's own feasibility solve at construction
    assert len(result.oracle_call_times_s) == result.oracle_calls
    assert result.oracle_time_s == pytest.approx(sum(result.oracle_call_times_s))
    assert result.median_oracle_time_s == pytest.approx(float(np.median(result.oracle_call_times_s)))
    assert result.total_time_s > result.oracle_time_s
    # covering InitFW: a handful of calls, each showing as many unseen (variable, value) pairs as
    # possible, instead of one or two per contract
    assert 0 < result.init_oracle_calls <= 15


def test_remembered_oracle_answers_are_not_oracle_calls() -> None:
    candidate, theta = _incoherent_ladder(6)
    frank_wolfe = projection_module._FrankWolfe(
        OutcomeSystem([c.id for c in candidate.contracts], candidate.relations, with_risky_links=True),
        tuple(c.id for c in candidate.contracts),
        theta,
        itertools.count().__next__,
        0.0,
    )
    grad = np.linspace(-1.0, 1.0, 6)
    first, _ = frank_wolfe.lmo(grad)
    again, _ = frank_wolfe.lmo(grad)  # the oracle remembers its last answer
    np.testing.assert_array_equal(first, again)
    assert len(frank_wolfe.call_times) == 1


def test_iteration_cap_stop() -> None:
    candidate, theta = _incoherent_ladder()
    result = project_prices(candidate, theta, tol=1e-14, max_iterations=1)
    assert result.stop_reason in ("iterations", "gap")
    assert result.iterations <= 1


# -- the certificate (review) ---------------------------------------------------------------------------
def _frank_wolfe(candidate: CandidateSet, theta: np.ndarray) -> projection_module._FrankWolfe:
    ids = tuple(c.id for c in candidate.contracts)
    system = OutcomeSystem(list(ids), candidate.relations, with_risky_links=True)
    return projection_module._FrankWolfe(system, ids, np.asarray(theta, dtype=float), itertools.count().__next__, 0.0)


def test_lmo_bound_holds_for_gradient_components_below_highs_tolerances() -> None:
    """Cost components below HiGHS's tolerances (dual feasibility 1e-7, MIP gaps 1e-9) are noise to
    a float MIP, whose answer then misses the minimum by ~1e-8 (here: z_c2 = 1 with z_c3 = 1 is
    worth -3e-8, a float solve leaves both at 0). The LMO's answer must come with a proven lower
    bound on the true minimum (min <= grad.z - slack is what the gap needs), tight to ~1e-12."""
    ids = [f"c{i}" for i in range(8)]
    candidate = _set(ids, [ExactlyOne(("c0", "c1")), Implies("c2", "c3")])
    frank_wolfe = _frank_wolfe(candidate, np.full(8, 0.5))
    grad = np.array([-1.0, 0.5, -1e-8, -2e-8, -3e-8, -1e-9, 4e-8, -5e-8])
    z, slack = frank_wolfe.lmo(grad)
    true_minimum = float(np.min(_vertices(candidate) @ grad))
    assert slack >= 0
    assert grad @ z - slack <= true_minimum + 1e-15
    assert grad @ z - true_minimum < 1e-12 or slack >= grad @ z - true_minimum


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    case=_small_sets(),
    magnitudes=st.lists(st.sampled_from([1.0, 1e-3, 1e-8, 1e-12, 0.0]), min_size=8, max_size=8),
    seed=st.integers(0, 2**16),
)
def test_bounded_separation_brackets_the_minimum(case, magnitudes: list[float], seed: int) -> None:
    """OutcomeOracle.minimize_bounded against enumeration, weights of mixed magnitudes (those
    HiGHS's tolerances would ignore included): bound <= min over Z of w.z <= w.z, within ~1e-13."""
    candidate, _ = case
    vertices = _vertices(candidate)
    assume(len(vertices) > 0)
    ids = [c.id for c in candidate.contracts]
    system = OutcomeSystem(ids, candidate.relations, with_risky_links=True)
    oracle = OutcomeOracle(system)
    rng = np.random.default_rng(seed)
    weights = rng.uniform(-1.0, 1.0, system.n) * np.array(magnitudes[: system.n])
    z, bound = oracle.minimize_bounded(weights)
    assert system.is_feasible(tuple(int(v) for v in z))
    outcomes = np.array([[o[names] for names in system.names] for o in semantic_outcomes(candidate)], dtype=float)
    minimum = float(np.min(outcomes @ weights))
    scale = max(float(np.abs(weights).sum()), 1e-300)
    assert bound <= minimum + 1e-15 * scale
    assert float(weights @ z) - bound <= 1e-13 * scale


def test_closed_form_weights_reproduce_mu_exactly() -> None:
    """mu is the convex combination it reports, bit for bit, on both paths (a caller recomputing
    weights @ vertices gets the same point)."""
    ids = [f"c{i}" for i in range(9)]
    candidate = _set(ids, [ExactlyOne(tuple(ids[:4])), AtMostOne(tuple(ids[4:7]))])
    theta = np.array([0.31, 0.27, 0.2, 0.41, 0.5, 0.45, 0.3, 0.123456789, 0.987654321])
    for method in ("auto", "frank_wolfe"):
        result = project_prices(candidate, theta, method=method)
        np.testing.assert_array_equal(result.weights @ result.vertices, result.mu)


@pytest.mark.parametrize(
    ("relations", "theta", "tol"),
    [
        # moderate prices, default tolerance: the float-MIP gap undercut the optimum by 2e-10
        (
            [
                Implies("c13", "c2"),
                ExactlyOne(("c5", "c13", "c3", "c12")),
                ExactlyOne(("c7", "c10")),
                AtMostOne(("c10", "c0", "c11")),
                ExactlyOne(("c8", "c1", "c13")),
                ExactlyOne(("c9", "c14")),
            ],
            [
                0.5116573751606333,
                0.16902204880567373,
                0.7786669777961637,
                0.9164494316411216,
                0.32859127587186826,
                0.9479521145900395,
                0.6602422499449346,
                0.7398984910510062,
                0.7775992440650175,
                0.9440424417432665,
                0.6619294846722376,
                0.6700615668535193,
                0.2660057597668313,
                0.9086415180707815,
                0.7622613211683454,
            ],
            1e-6,
        ),
        # extreme prices and a risky link: undercut by 5e-10
        ([Equivalent("c3", "c4", settlement_risk=True), Implies("c1", "c0")], [0.3, 1e-9, 1 - 1e-12, 1e-9, 0.9], 1e-9),
    ],
)
def test_gap_certifies_the_optimum(relations, theta, tol: float) -> None:
    """D(mu) - gap <= D(mu*): checked against a tighter run's divergence, which is D at a point of
    M (its vertices are checked feasible) and so an upper bound on D(mu*) whatever its own gap."""
    candidate = _set([f"c{i}" for i in range(len(theta))], relations)
    tight = project_prices(candidate, theta, tol=1e-11, max_iterations=300)
    _assert_consistent(tight, candidate)
    result = project_prices(candidate, theta, tol=tol)
    assert result.stop_reason == "gap"
    assert result.divergence - result.gap <= tight.divergence + 1e-13


# -- settled contracts --------------------------------------------------------------------------------
def test_settled_contract_is_detected_and_projection_is_exact() -> None:
    # a => b while exactly one of a, b, c: a can never happen; d => a makes d impossible too
    ids = ("a", "b", "c", "d", "e")
    candidate = _set(ids, [ExactlyOne(("a", "b", "c")), Implies("a", "b"), Implies("d", "a"), Implies("e", "c")])
    theta = np.array([0.3, 0.4, 0.35, 0.2, 0.25])
    result = project_prices(candidate, theta, tol=1e-11)
    assert dict(result.settled) == {"a": 0, "d": 0}
    assert result.mu[0] == 0.0 and result.mu[3] == 0.0
    mu_ref, value_ref = _reference(_vertices(candidate), theta)
    np.testing.assert_allclose(result.mu, mu_ref, atol=1e-6)
    assert abs(result.divergence - value_ref) < 1e-6
    _assert_consistent(result, candidate)


def test_everything_settled() -> None:
    candidate = _set(("a", "b"), [ExactlyOne(("a",)), Implies("a", "b")])
    result = project_prices(candidate, [0.6, 0.7])
    assert dict(result.settled) == {"a": 1, "b": 1}
    np.testing.assert_array_equal(result.mu, [1.0, 1.0])
    assert abs(result.divergence - (np.log(1 / 0.6) + np.log(1 / 0.7))) < 1e-12
    assert result.gap == 0.0


def test_coherent_prices_project_onto_themselves() -> None:
    ids = ("a", "b", "c")
    candidate = _set(ids, [Implies("b", "a"), Implies("c", "b")])
    theta = np.array([0.7, 0.5, 0.2])
    result = project_prices(candidate, theta, tol=1e-12)
    np.testing.assert_allclose(result.mu, theta, atol=1e-6)
    assert result.divergence < 1e-10


# -- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prices", "field"),
    [
        ([0.2, float("nan"), 0.3], "prices[1]"),
        ([0.2, 1.0, 0.3], "prices[1]"),
        ([0.0, 0.5, 0.3], "prices[0]"),
        ([0.2, 0.5], "one entry per contract"),
        ({"a": 0.2, "b": 0.3}, "missing"),
        ([0.2, float("inf"), 0.3], "prices[1]"),
        ([-0.1, 0.5, 0.3], "prices[0]"),
        ([0.2, 0.5 + 1j, 0.3], "real numbers"),  # numpy would drop the imaginary part
        (np.array([0.2, 0.5, 0.3], dtype=complex), "real numbers"),
        ([0.2, "0.5", 0.3], "real numbers"),
        ([0.2, True, 0.3], "real numbers"),
        ([5e-324, 0.5, 0.3], "prices[0]"),  # subnormal: mu / theta overflowed in the objective
    ],
)
def test_invalid_prices_raise_data_error(prices, field: str) -> None:
    candidate = _set(("a", "b", "c"), [ExactlyOne(("a", "b", "c"))])
    with pytest.raises(DataError, match=field.replace("[", r"\[").replace("]", r"\]")):
        project_prices(candidate, prices)


@pytest.mark.parametrize(
    ("option", "value"), [("tol", 0.0), ("alpha", 1.0), ("time_budget_s", -1.0), ("max_iterations", -1)]
)
def test_invalid_options_raise_data_error(option: str, value: float) -> None:
    candidate = _set(("a", "b"), [Implies("a", "b")])
    options: dict[str, Any] = {option: value}
    with pytest.raises(DataError, match=option):
        project_prices(candidate, [0.3, 0.4], **options)


def test_decimal_and_numpy_prices_are_accepted() -> None:
    candidate = _set(("a", "b", "c"), [ExactlyOne(("a", "b", "c"))])
    exact = project_prices(candidate, [0.4, 0.35, 0.2])
    # documented as accepted, though project_prices' annotation names floats only
    decimals: list[Any] = [Decimal("0.4"), Decimal("0.35"), Decimal("0.2")]
    np.testing.assert_array_equal(project_prices(candidate, decimals).mu, exact.mu)
    np.testing.assert_array_equal(project_prices(candidate, [np.float64(0.4), 0.35, 0.2]).mu, exact.mu)


def test_mapping_prices_and_result_is_frozen() -> None:
    candidate = _set(("a", "b", "c"), [ExactlyOne(("a", "b", "c"))])
    result = project_prices(candidate, {"c": 0.2, "a": 0.4, "b": 0.35})
    assert result.contracts == ("a", "b", "c")
    assert abs(result.price("a") - 0.419) < 5e-4
    with pytest.raises(ValueError):
        result.mu[0] = 0.5
    with pytest.raises(AttributeError):
        result.gap = 1.0  # type: ignore[misc]  # the write to a frozen result under test
