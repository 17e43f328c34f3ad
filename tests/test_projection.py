"""KL projection onto the marginal polytope: closed form, Frank-Wolfe, stops, settling, validation.

References share no code with `solvers.projection`: outcomes are enumerated semantically
(tests.support.semantic_outcomes or an explicit list) and the projection over their convex hull is
solved by cvxpy with Clarabel (exponential cone: rel_entr terms of the binary KL).
"""

from __future__ import annotations

import itertools
import warnings

import cvxpy as cp
import numpy as np
import pytest

from solvers import AtMostOne, CandidateSet, Conjunction, Contract, DataError, ExactlyOne, Implies
from solvers.projection import ProjectionResult, binary_kl, project_prices
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
    objective = cp.sum(cp.rel_entr(mu, theta) + cp.rel_entr(1 - mu, 1 - theta))
    problem = cp.Problem(cp.Minimize(objective), [cp.sum(w) == 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Solution may be inaccurate"
        problem.solve(solver=cp.CLARABEL, **_CLARABEL)
    assert problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
    return np.clip(vertices.T @ w.value, 0.0, 1.0), float(problem.value)


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
    np.testing.assert_allclose(closed.mu, [0.419, 0.368, 0.213], atol=5e-4)  # optimization.md 4.1
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


# -- Frank-Wolfe at n = 50 --------------------------------------------------------------------------
@pytest.mark.parametrize("structure", ["group", "ladder"])
@pytest.mark.parametrize("seed", range(2))
def test_frank_wolfe_n50_matches_clarabel(structure: str, seed: int) -> None:
    n = 50
    rng = np.random.default_rng(100 + seed)
    ids = [f"c{i:02d}" for i in range(n)]
    if structure == "group":
        candidate = _set(ids, [ExactlyOne(tuple(ids))])
        theta = rng.uniform(0.005, 0.1, n)
        vertices = _group_vertices(n)
    else:
        candidate = _set(ids, [Implies(ids[i + 1], ids[i]) for i in range(n - 1)])
        theta = np.clip(np.sort(rng.uniform(0.05, 0.95, n))[::-1] + rng.normal(0, 0.08, n), 0.01, 0.99)
        vertices = _ladder_vertices(n)
    result = project_prices(candidate, theta, method="frank_wolfe", tol=1e-9)
    assert result.stop_reason == "gap"
    assert result.gap <= 1e-6
    mu_ref, value_ref = _reference(vertices, theta)
    np.testing.assert_allclose(result.mu, mu_ref, atol=1e-6)
    assert abs(result.divergence - value_ref) < 1e-6
    assert result.divergence - result.gap <= value_ref + 1e-8  # the gap certifies the optimum
    assert np.all(result.weights >= 0) and abs(result.weights.sum() - 1) < 1e-12
    np.testing.assert_allclose(result.weights @ result.vertices, result.mu, atol=1e-12)
    if structure == "ladder":
        assert np.all(np.diff(result.mu) <= 1e-12)
    else:
        assert abs(result.mu.sum() - 1) < 1e-9


# -- non-TU instances (parlays) vs brute force -------------------------------------------------------
def _parlay_set(rng: np.random.Generator, games: int, parlays: int, exclusive: bool) -> CandidateSet:
    ids = [f"g{i}" for i in range(games)] + [f"p{k}" for k in range(parlays)]
    relations = []
    pairs = list(itertools.combinations(range(games), 2))
    for k in range(parlays):
        size = 2 if k % 2 == 0 else 3
        operands = tuple(f"g{i}" for i in sorted(rng.choice(games, size=size, replace=False)))
        relations.append(Conjunction(f"p{k}", operands))
    if exclusive:  # may force parlays on both games to 0 (settled); without it nothing is settled
        a, b = pairs[int(rng.integers(len(pairs)))]
        relations.append(AtMostOne((f"g{a}", f"g{b}")))
    return _set(ids, relations)


@pytest.mark.parametrize("seed", range(6))
def test_non_totally_unimodular_parlays_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    candidate = _parlay_set(rng, games=5, parlays=4, exclusive=seed % 2 == 0)
    theta = rng.uniform(0.05, 0.95, len(candidate.contracts))
    result = project_prices(candidate, theta, tol=1e-10)
    assert result.stop_reason == "gap"
    mu_ref, value_ref = _reference(_vertices(candidate), theta)
    np.testing.assert_allclose(result.mu, mu_ref, atol=1e-6)
    assert abs(result.divergence - value_ref) < 1e-6
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
    assert early.iterations <= full.iterations
    # the certificate brackets the true optimum
    assert early.divergence - early.gap <= full.divergence + 1e-9 <= early.divergence + 1e-9
    _assert_consistent(early, candidate)


def test_time_budget_stop_with_injected_clock() -> None:
    candidate, theta = _incoherent_ladder()
    ticks = itertools.count()
    result = project_prices(candidate, theta, tol=1e-12, time_budget_s=0.5, clock=lambda: float(next(ticks)))
    assert result.stop_reason == "time_budget"
    assert result.iterations == 0  # the first check after InitFW already sees the budget spent
    assert result.oracle_calls >= 1 and result.total_time_s > result.oracle_time_s > 0
    assert np.all(result.weights >= 0) and abs(result.weights.sum() - 1) < 1e-12
    np.testing.assert_allclose(result.weights @ result.vertices, result.mu, atol=1e-12)
    full = project_prices(candidate, theta, tol=1e-12)
    assert result.divergence - result.gap <= full.divergence + 1e-9 <= result.divergence + 1e-9
    # a larger budget on the same fake clock runs some iterations, deterministically
    runs = []
    for _ in range(2):
        ticks2 = itertools.count()
        runs.append(project_prices(candidate, theta, tol=1e-12, time_budget_s=float(result.oracle_calls * 2 + 20), clock=lambda: float(next(ticks2))))
    assert runs[0].stop_reason == runs[1].stop_reason
    assert runs[0].iterations == runs[1].iterations
    np.testing.assert_array_equal(runs[0].mu, runs[1].mu)


def test_iteration_cap_stop() -> None:
    candidate, theta = _incoherent_ladder()
    result = project_prices(candidate, theta, tol=1e-14, max_iterations=1)
    assert result.stop_reason in ("iterations", "gap")
    assert result.iterations <= 1


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
    ],
)
def test_invalid_prices_raise_data_error(prices, field: str) -> None:
    candidate = _set(("a", "b", "c"), [ExactlyOne(("a", "b", "c"))])
    with pytest.raises(DataError, match=field.replace("[", r"\[").replace("]", r"\]")):
        project_prices(candidate, prices)


@pytest.mark.parametrize(("option", "value"), [("tol", 0.0), ("alpha", 1.0), ("time_budget_s", -1.0), ("max_iterations", -1)])
def test_invalid_options_raise_data_error(option: str, value: float) -> None:
    candidate = _set(("a", "b"), [Implies("a", "b")])
    with pytest.raises(DataError, match=option):
        project_prices(candidate, [0.3, 0.4], **{option: value})


def test_mapping_prices_and_result_is_frozen() -> None:
    candidate = _set(("a", "b", "c"), [ExactlyOne(("a", "b", "c"))])
    result = project_prices(candidate, {"c": 0.2, "a": 0.4, "b": 0.35})
    assert result.contracts == ("a", "b", "c")
    assert abs(result.price("a") - 0.419) < 5e-4
    with pytest.raises(ValueError):
        result.mu[0] = 0.5
    with pytest.raises(AttributeError):
        result.gap = 1.0  # type: ignore[misc]
