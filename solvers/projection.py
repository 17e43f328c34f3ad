"""KL (Bregman) projection of quoted prices onto the marginal polytope (docs/optimization.md#projection).

    M = conv{z in {0,1}^n : z satisfies the candidate set's relations}   (contract coordinates)
    mu* = argmin_{mu in M} D(mu || theta),
    D(mu || theta) = sum_i mu_i ln(mu_i/theta_i) + (1 - mu_i) ln((1 - mu_i)/(1 - theta_i))

the sum of Bernoulli KLs (independent binary books, docs/optimization.md#projection), with gradient
logit(mu) - logit(theta). `mu*` are coherent prices, `D(mu*||theta)` an incoherence score.

Two paths:

* Closed form (`stop_reason == "closed_form"`): the relations are disjoint ExactlyOne / AtMostOne
  groups of at least two contracts (in particular one exactly-one market), every other contract is
  unconstrained. D is separable over the blocks. A free contract projects onto itself. For a group G
  the KKT conditions of min sum_G kl(mu_i, theta_i) s.t. sum_G mu_i = 1 are
      logit mu_i - logit theta_i + lambda = 0   =>   mu_i = sigmoid(logit theta_i - lambda),
  a common log-odds shift, with lambda the unique root of h(lambda) = sum_G sigmoid(logit theta_i -
  lambda) - 1 (h is strictly decreasing from |G| - 1 > 0 to -1). The root is bracketed by
  [min_i logit theta_i + ln(|G|-1), max_i logit theta_i + ln(|G|-1)] (at the lower end every term is
  >= 1/|G|, at the upper end <= 1/|G|) and found by Brent's method. For AtMostOne the constraint is
  sum <= 1 with multiplier lambda >= 0: lambda = 0 (mu = theta) if sum theta <= 1, else the same root.
  The result's vertices are a convex decomposition of mu built by aligning each block's distribution
  on [0, 1) and cutting at every breakpoint (at most sum of block sizes + 1 vertices).

* Fully-corrective Frank-Wolfe with adaptive contraction (Kroer et al. 2016, Krishnan et al. 2015),
  docs/optimization.md#projection:
  - InitFW (covering): the MIP oracle is asked, again and again, for the outcome showing the most
    (variable, value) pairs not seen yet, until a call shows none; the pairs left are impossible.
    Variables that cannot take both values are *settled* (fixed in every feasible outcome); their
    contracts are fixed at 0/1 and dropped from the log terms. u = mean of the distinct vertices
    found (every free coordinate strictly inside (0, 1)). This takes 5-8 oracle calls at n = 50 to
    500 on the benchmark family, where asking per variable and value took ~0.7 n.
  - The iterate lives in M_eps = (1 - eps) M + eps u: mu = (1 - eps) sum_k w_k v_k + eps u, so every
    free coordinate stays in [eps u_i, 1 - eps (1 - u_i)] and gradients stay bounded. eps starts at
    0.1 and shrinks by the Krishnan rule: with g_u = grad.(mu - u), if g_u < 0 and
    gap / (-4 g_u) < eps then eps = min(gap / (-4 g_u), eps / 2).
  - LMO: z = argmin_{z in Z} grad.z by `OutcomeOracle.minimize_bounded` (one persistent HiGHS
    MIP; each call only changes the objective with changeColsCost), which also proves a lower bound
    grad.z - slack on the minimum: the gradient is rounded onto an integer grid (~2^-48 of sum
    |grad|) and that integer problem solved exactly. Gap = grad.(mu - z) + slack >= D(mu) - D(mu*)
    (a valid certificate over M at every iteration, since mu is in M). A float MIP answer alone did
    not certify: HiGHS ignores cost components below its tolerances (1e-7), and the gap built on it
    undercut D(mu) - D(mu*) (by 2e-10 at tol 1e-6 on a 15-contract set; tests pin it).
  - Each iteration: an exact line-search FW step towards (1 - eps) z + eps u, then the fully-corrective
    phase: the weights over the active vertices are re-optimised without oracle calls by a
    vectorised active-set Newton method over the simplex (one Cholesky factorisation of a k x k
    matrix per step, k active vertices; at most _NEWTON_STEPS steps, warm-started); vertices whose
    weight reaches 0 are dropped. Replacing the bordered least-squares solve by the ridge Cholesky
    cut the corrective phase several-fold at n = 500 (the projection bench reports the ratio of the
    total time to oracle calls x median oracle time).
  - Stops: gap <= tol ("gap"); alpha-extraction gap <= (1 - alpha) D(mu) ("alpha_extraction": the
    guaranteed-profit bound D - gap of Kroer Prop. 4.1 is at least alpha D); the time budget on the
    injected clock ("time_budget", checked inside InitFW and the corrective phase too);
    `max_iterations` ("iterations"). Early stops are safe for marks: mu is always in M.

The reported active set merges the contraction into plain convex weights: mu = sum_k weight_k
vertex_k exactly, weights >= 0 summing to 1, vertices 0/1 outcome vectors in contract order.
"""

from __future__ import annotations

import itertools
import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit, xlogy

from solvers.errors import DataError
from solvers.outcomes import OutcomeSystem
from solvers.problem import CandidateSet
from solvers.separation import OutcomeOracle

__all__ = ["ProjectionResult", "StopReason", "binary_kl", "project_prices"]

StopReason = Literal["gap", "alpha_extraction", "time_budget", "closed_form", "iterations"]

_INITIAL_EPSILON = 0.1
_SMALLEST_PRICE = float(np.finfo(float).tiny)  # ~2.2e-308; mu / theta stays finite for mu <= 1
_DROP_WEIGHT = 1e-13  # active vertices lighter than this (after the corrective phase) are dropped
_NEWTON_STEPS = 50  # cap of the corrective phase per FW iteration
_LINE_STEPS = 100  # cap of the safeguarded Newton line searches (they take ~5)
_INNER_FRACTION = 1e-2  # corrective phase precision, relative to the FW gap
_INNER_FLOOR = 1e-13  # ... and never finer than rounding in its gradient allows


@dataclass(frozen=True, slots=True)
class ProjectionResult:
    """KL projection of `prices` (theta) onto the marginal polytope of one candidate set.

    contracts: contract ids, the order of every vector below
    prices: the quoted prices theta
    mu: coherent prices, in M
    divergence: D(mu || theta) (binary KL, docs/optimization.md#projection)
    gap: Frank-Wolfe gap at mu: D(mu||theta) - gap <= D(mu*||theta) <= D(mu||theta); inf when a
        time budget ran out inside InitFW (mu is then the mean of the outcomes found: in M, uncertified)
    vertices: (k, n) uint8 feasible outcome vectors with `weights` (k,) >= 0, sum 1, mu = weights @ vertices
    iterations: FW steps taken, each after one LMO call (a last LMO call certifies the result,
        so oracle_calls = init_oracle_calls + iterations + 1 after InitFW); 0 for the closed form
    oracle_calls: oracle solves (MIP runs), InitFW included; answers the oracle remembered are not calls
    init_oracle_calls: of which InitFW's
    oracle_call_times_s: the time of each oracle solve, in call order (len == oracle_calls)
    oracle_time_s: their sum; total_time_s: the whole projection (both on the injected clock)
    stop_reason: "gap" | "alpha_extraction" | "time_budget" | "closed_form" | "iterations"
    settled: contract -> 0/1 for contracts fixed in every feasible outcome (found by InitFW)
    epsilon: final contraction parameter (0 for the closed form)
    """

    contracts: tuple[str, ...]
    prices: np.ndarray
    mu: np.ndarray
    divergence: float
    gap: float
    vertices: np.ndarray
    weights: np.ndarray
    iterations: int
    oracle_calls: int
    init_oracle_calls: int
    oracle_call_times_s: tuple[float, ...]
    oracle_time_s: float
    total_time_s: float
    stop_reason: StopReason
    settled: Mapping[str, int]
    epsilon: float

    @property
    def median_oracle_time_s(self) -> float:
        """Median time of one oracle solve (0 without any)."""
        return float(np.median(self.oracle_call_times_s)) if self.oracle_call_times_s else 0.0

    @property
    def profit_bound(self) -> float:
        """Kroer Prop. 4.1 guaranteed-profit bound D(mu||theta) - gap (LMSR terms; may be < 0)."""
        return self.divergence - self.gap

    def price(self, contract: str) -> float:
        return float(self.mu[self.contracts.index(contract)])


def binary_kl(mu: np.ndarray, theta: np.ndarray) -> float:
    """sum_i mu_i ln(mu_i/theta_i) + (1-mu_i) ln((1-mu_i)/(1-theta_i)), with 0 ln 0 = 0."""
    mu = np.asarray(mu, dtype=float)
    theta = np.asarray(theta, dtype=float)
    return float(np.sum(xlogy(mu, mu) - xlogy(mu, theta) + xlogy(1 - mu, 1 - mu) - xlogy(1 - mu, 1 - theta)))


# -- input handling ---------------------------------------------------------------------------------
def _system_of(source: CandidateSet | OutcomeSystem) -> tuple[OutcomeSystem, tuple[str, ...], CandidateSet | None]:
    if isinstance(source, CandidateSet):
        ids = tuple(c.id for c in source.contracts)
        return OutcomeSystem(ids, source.relations, with_risky_links=True), ids, source
    if isinstance(source, OutcomeSystem):
        return source, tuple(source.literal), None
    raise DataError(f"source must be a CandidateSet or an OutcomeSystem, was {type(source).__name__}")


def _prices(prices: object, contracts: tuple[str, ...]) -> np.ndarray:
    if isinstance(prices, Mapping):
        missing = [c for c in contracts if c not in prices]
        extra = [c for c in prices if c not in contracts]
        if missing or extra:
            raise DataError(f"prices must name exactly the contracts {contracts}; missing {missing}, unknown {extra}")
        values: object = [prices[c] for c in contracts]
    else:
        values = prices
    # real numbers only: numpy would read "0.5" as 0.5, and 0.5+1j as 0.5 (with a warning)
    raw = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if raw.dtype.kind not in "fiu" and not all(
        isinstance(v, numbers.Real | Decimal) and not isinstance(v, bool | np.bool_) for v in np.ravel(raw)
    ):
        raise DataError(f"prices must be real numbers, was {prices!r}")
    try:
        theta = np.array(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"prices must be numbers, was {prices!r}") from exc
    if theta.ndim != 1 or theta.shape[0] != len(contracts):
        raise DataError(f"prices must have one entry per contract ({len(contracts)}), had shape {theta.shape}")
    for i, value in enumerate(theta):
        if not math.isfinite(value):
            raise DataError(f"prices[{i}] (contract {contracts[i]}) must be finite, was {value}")
        if not 0.0 < value < 1.0:
            raise DataError(f"prices[{i}] (contract {contracts[i]}) must be inside (0, 1), was {value}")
        if value < _SMALLEST_PRICE:  # subnormal: mu / theta overflows in the objective
            raise DataError(
                f"prices[{i}] (contract {contracts[i]}) must be at least {_SMALLEST_PRICE:.3g} (a normal float), was {value}"
            )
    return theta


def _check_options(tol: float, alpha: float | None, time_budget_s: float | None, max_iterations: int) -> None:
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol > 0):
        raise DataError(f"tol must be a positive finite number, was {tol!r}")
    if alpha is not None and not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise DataError(f"alpha must be inside (0, 1) or None, was {alpha!r}")
    if time_budget_s is not None and not (
        isinstance(time_budget_s, int | float) and time_budget_s >= 0 and not math.isnan(time_budget_s)
    ):
        raise DataError(f"time_budget_s must be a non-negative number or None, was {time_budget_s!r}")
    if not isinstance(max_iterations, int) or max_iterations < 0:
        raise DataError(f"max_iterations must be a non-negative int, was {max_iterations!r}")


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


# -- public entry point ----------------------------------------------------------------------------
def project_prices(
    source: CandidateSet | OutcomeSystem,
    prices: Sequence[float | Decimal] | np.ndarray | Mapping[str, float | Decimal],
    *,
    tol: float = 1e-6,
    alpha: float | None = None,
    time_budget_s: float | None = None,
    max_iterations: int = 1000,
    method: Literal["auto", "frank_wolfe"] = "auto",
    clock: Callable[[], float] = time.perf_counter,
) -> ProjectionResult:
    """KL projection of `prices` onto the marginal polytope of `source`'s relations.

    prices: one per contract, in the order of `source.contracts` (or `source.literal` for an
        OutcomeSystem), or a mapping contract id -> price; each a real number (float, int, Decimal)
        strictly inside (0, 1) and not subnormal
    tol: stop when the FW gap is at most this
    alpha: if given (0 < alpha < 1), stop as soon as gap <= (1 - alpha) D(mu||theta)
    time_budget_s: stop (with a coherent mu) once this much time has passed on `clock`; checked after
        every InitFW oracle call, every FW iteration and every corrective Newton step. A stop inside
        an iteration returns the last iterate the LMO certified; a stop inside InitFW returns the
        mean of the outcomes found with gap = inf and only the settled contracts proven so far
    method: "auto" uses the closed form when it applies; "frank_wolfe" forces the FW path
    """
    start = clock()
    system, contracts, _ = _system_of(source)
    theta = _prices(prices, contracts)
    _check_options(tol, alpha, time_budget_s, max_iterations)
    if method not in ("auto", "frank_wolfe"):
        raise DataError(f"method must be 'auto' or 'frank_wolfe', was {method!r}")
    if method == "auto":
        groups = _closed_form_groups(system, contracts)
        if groups is not None:
            return _closed_form(theta, contracts, groups, start, clock)
    return _FrankWolfe(system, contracts, theta, clock, start).run(tol, alpha, time_budget_s, max_iterations)


# -- closed form ------------------------------------------------------------------------------------
def _closed_form_groups(system: OutcomeSystem, contracts: tuple[str, ...]) -> list[tuple[list[int], bool]] | None:
    """[(contract indices, exactly)] when every row is a disjoint ExactlyOne (exactly=True) or
    AtMostOne group of >= 2 contracts over distinct, un-negated variables; else None."""
    var_to_contract: dict[int, int] = {}
    for index, contract in enumerate(contracts):
        var, parity = system.literal[contract]
        if parity or var in var_to_contract:
            return None  # equivalences present
        var_to_contract[var] = index
    if not system.rows:
        return None  # nothing to project (mu = theta); FW handles it trivially
    used: set[int] = set()
    groups = []
    for row in system.rows:
        if any(coef != 1 for _, coef in row.coefs) or len(row.coefs) < 2 or (row.lo, row.hi) not in ((1, 1), (None, 1)):
            return None
        members = [var for var, _ in row.coefs]
        if used & set(members):
            return None
        used |= set(members)
        groups.append(([var_to_contract[v] for v in members], row.lo == 1))
    return groups


def _shift_root(a: np.ndarray) -> float:
    """lambda with sum sigmoid(a - lambda) = 1 (len(a) >= 2)."""
    k = len(a)
    offset = math.log(k - 1)
    lo, hi = float(a.min()) + offset, float(a.max()) + offset
    if hi - lo < 1e-15:
        return lo
    return brentq(
        lambda lam: float(expit(a - lam).sum()) - 1.0, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500
    )


def _closed_form(
    theta: np.ndarray,
    contracts: tuple[str, ...],
    groups: list[tuple[list[int], bool]],
    start: float,
    clock: Callable[[], float],
) -> ProjectionResult:
    n = len(theta)
    mu = theta.copy()
    grad = np.zeros(n)
    lmo_value = 0.0  # min over Z of grad . z (the blocks are independent)
    for members, exactly in groups:
        idx = np.array(members)
        a = logit(theta[idx])
        if exactly or theta[idx].sum() > 1.0:
            lam = _shift_root(a)
            mu[idx] = expit(a - lam)
            grad[idx] = -lam
            lmo_value += -lam if exactly else min(0.0, -lam)
    gap = max(0.0, float(grad @ mu) - lmo_value)
    # convex decomposition: each block's distribution laid out on [0, 1), cut at every breakpoint
    cuts = {0.0, 1.0}
    layouts = []
    covered = set()
    for members, exactly in groups:
        ends = np.cumsum(mu[members])
        if exactly:
            ends[-1] = 1.0  # sum mu = 1 up to rounding: no gap left for an infeasible empty outcome
        cuts.update(float(e) for e in ends if e < 1.0)
        layouts.append((members, ends))
        covered.update(members)
    free = [i for i in range(n) if i not in covered]
    cuts.update(float(mu[i]) for i in free)
    points = np.array(sorted(c for c in cuts if 0.0 <= c <= 1.0))
    vertices, weights = [], []
    for left, right in itertools.pairwise(points):
        if right - left <= 0:
            continue
        mid = 0.5 * (left + right)
        z = np.zeros(n, dtype=np.uint8)
        for members, ends in layouts:
            pos = int(np.searchsorted(ends, mid, side="right"))
            if pos < len(members):
                z[members[pos]] = 1
        for i in free:
            z[i] = int(mid < mu[i])
        vertices.append(z)
        weights.append(right - left)
    w = np.array(weights)
    w = w / w.sum()
    vertex_array = np.array(vertices, dtype=np.uint8).reshape(len(vertices), n)
    mu = w @ vertex_array  # the root's point up to rounding; exactly the combination reported
    total = clock() - start
    return ProjectionResult(
        contracts=contracts,
        prices=_frozen(theta.copy()),
        mu=_frozen(mu),
        divergence=binary_kl(mu, theta),
        gap=gap,
        vertices=_frozen(vertex_array),
        weights=_frozen(w),
        iterations=0,
        oracle_calls=0,
        init_oracle_calls=0,
        oracle_call_times_s=(),
        oracle_time_s=0.0,
        total_time_s=total,
        stop_reason="closed_form",
        settled=MappingProxyType({}),
        epsilon=0.0,
    )


# -- Frank-Wolfe --------------------------------------------------------------------------------------
class _Deadline:
    """The time budget on the injected clock; never expires without a budget."""

    def __init__(self, clock: Callable[[], float], start: float, budget_s: float | None) -> None:
        self.clock = clock
        self.start = start
        self.budget_s = budget_s

    def expired(self) -> bool:
        return self.budget_s is not None and self.clock() - self.start >= self.budget_s


@dataclass(frozen=True, slots=True)
class _Certified:
    """The last iterate at which the LMO was called: its gap certifies it. A budget stop in the
    middle of an iteration returns this point rather than an uncertified one."""

    active: np.ndarray
    weights: np.ndarray
    epsilon: float
    gap: float


class _FrankWolfe:
    def __init__(
        self,
        system: OutcomeSystem,
        contracts: tuple[str, ...],
        theta: np.ndarray,
        clock: Callable[[], float],
        start: float,
    ) -> None:
        self.system = system
        self.contracts = contracts
        self.theta = theta
        self.clock = clock
        self.start = start
        self.n = len(contracts)
        literals = [system.literal[c] for c in contracts]
        self.var = np.array([v for v, _ in literals], dtype=np.int64)
        self.parity = np.array([p for _, p in literals], dtype=np.int64)
        self.oracle = OutcomeOracle(system)  # persistent HiGHS MIP; only costs change per call
        self.call_times: list[float] = []  # one per real oracle solve (memo hits excluded)

    # contract-space LMO ------------------------------------------------------------------------
    def _to_contracts(self, z_vars: np.ndarray) -> np.ndarray:
        return (np.asarray(z_vars, dtype=np.int64)[self.var] ^ self.parity).astype(np.uint8)

    def _timed(self, call: Callable[[], tuple[Any, ...]]) -> tuple[Any, ...]:
        solves = self.oracle.calls
        t0 = self.clock()
        answer = call()
        elapsed = self.clock() - t0
        if self.oracle.calls > solves:  # a remembered or trivial answer is not an oracle call
            self.call_times.append(elapsed)
        return answer

    def _lmo_vars(self, weights: np.ndarray) -> np.ndarray:
        """A float-mode minimiser: exact for InitFW's integer weights (integral objective, MIP gap < 1)."""
        return self._timed(lambda: self.oracle.minimize(weights))[1]

    def lmo(self, grad: np.ndarray) -> tuple[np.ndarray, float]:
        """(z, slack): z in Z (contract coordinates, z_c = z_var(c) XOR parity(c)) nearly minimising
        grad . z, and slack >= 0 with min over Z of grad . z >= grad . z - slack (proven by the
        oracle's bounded mode; ~1e-13 relative). A float MIP would not do: below its tolerances
        HiGHS ignores cost components, and the gap built on its answer would not certify."""
        signed = grad * (1 - 2 * self.parity)
        weights = np.bincount(self.var, weights=signed, minlength=self.system.n).astype(float)
        z_vars, bound = self._timed(lambda: self.oracle.minimize_bounded(weights))
        slack = max(0.0, float(weights @ z_vars) - bound)
        return self._to_contracts(z_vars), slack

    # InitFW -------------------------------------------------------------------------------------
    def init_fw(self, deadline: _Deadline) -> tuple[list[np.ndarray], dict[int, int], bool]:
        """(distinct vertices, settled variables -> value, completed).

        Covering InitFW: every call asks for the outcome that shows the most (variable, value)
        pairs not seen yet (cost -1 on a variable not yet seen at 1, +1 on one not yet seen at 0,
        so the minimum is minus the number of new pairs, up to a constant). A call that shows no
        new pair proves the pairs left impossible: those variables are settled. Far fewer calls
        than one per variable and value (Kroer et al.'s InitFW), each as exact. Interrupted by
        the deadline, nothing is proven settled."""
        nv = self.system.n
        seen = np.zeros((nv, 2), dtype=bool)
        found: dict[bytes, np.ndarray] = {}
        while True:
            weights = np.where(seen[:, 1], 0.0, -1.0) + np.where(seen[:, 0], 0.0, 1.0)
            z = np.asarray(self._lmo_vars(weights), dtype=np.int64)
            before = int(seen.sum())
            seen[np.arange(nv), z] = True
            found.setdefault(z.astype(np.uint8).tobytes(), z)
            if int(seen.sum()) == before or seen.all():
                break
            if deadline.expired():
                return [self._to_contracts(v) for v in found.values()], {}, False
        settled_vars = {v: int(seen[v, 1]) for v in range(nv) if not (seen[v, 0] and seen[v, 1])}
        return [self._to_contracts(v) for v in found.values()], settled_vars, True

    # the loop -----------------------------------------------------------------------------------
    def run(self, tol: float, alpha: float | None, budget: float | None, max_iterations: int) -> ProjectionResult:
        deadline = _Deadline(self.clock, self.start, budget)
        vertices, settled_vars, completed = self.init_fw(deadline)
        init_calls = len(self.call_times)
        V0 = np.array(vertices, dtype=np.uint8)
        settled_mask = np.isin(self.var, list(settled_vars)) if settled_vars else np.zeros(self.n, dtype=bool)
        settled = {c: int(V0[0, i]) for i, c in enumerate(self.contracts) if settled_mask[i]}
        free = ~settled_mask
        theta = self.theta
        th_f = theta[free]
        logit_th = logit(th_f)
        u = V0.mean(axis=0)
        uf = u[free]

        def objective(mu_f: np.ndarray) -> float:
            return float(np.sum(xlogy(mu_f, mu_f / th_f) + xlogy(1 - mu_f, (1 - mu_f) / (1 - th_f))))

        def gradient(mu_f: np.ndarray) -> np.ndarray:
            return logit(mu_f) - logit_th

        base = np.where(settled_mask, V0[0].astype(float), 0.0)
        settled_divergence = binary_kl(base[settled_mask], theta[settled_mask])

        active = V0.astype(float)  # (k, n) active vertices
        weights = np.full(len(active), 1.0 / len(active))
        eps = _INITIAL_EPSILON
        iterations = 0
        stop: StopReason
        if not completed:
            # no gradient was ever checked against Z: mu = u (the mean of the vertices found) is
            # in M but carries no certificate
            gap, eps, stop = math.inf, 0.0, "time_budget"
        elif not free.any():
            gap, eps, stop = 0.0, 0.0, "gap"
            active, weights = V0[:1].astype(float), np.ones(1)
        else:
            weights = self._corrective(active[:, free], weights, eps, uf, objective, logit_th, deadline, _INNER_FLOOR)
            active, weights = _drop_light(active, weights)
            while True:
                x = weights @ active
                mu_f = (1 - eps) * x[free] + eps * uf
                grad = np.zeros(self.n)
                grad[free] = gradient(mu_f)
                z, slack = self.lmo(grad)
                z = z.astype(float)
                gap = max(0.0, float(grad[free] @ (mu_f - z[free])) + slack)
                certified = _Certified(active, weights, eps, gap)
                if gap <= tol:
                    stop = "gap"
                    break
                if alpha is not None and gap <= (1.0 - alpha) * (objective(mu_f) + settled_divergence):
                    stop = "alpha_extraction"
                    break
                if deadline.expired():
                    stop = "time_budget"
                    break
                if iterations >= max_iterations:
                    stop = "iterations"
                    break
                iterations += 1
                g_u = float(grad[free] @ (mu_f - uf))
                if g_u < 0 and gap / (-4.0 * g_u) < eps:
                    eps = min(gap / (-4.0 * g_u), eps / 2.0)
                matches = np.flatnonzero(np.all(active == z, axis=1))
                if len(matches):
                    j = int(matches[0])
                else:
                    active = np.vstack([active, z])
                    weights = np.append(weights, 0.0)
                    j = len(active) - 1
                weights = self._line_search(active[:, free], weights, j, eps, uf, logit_th)
                # the corrective subproblem is solved to a fraction of the current FW gap (the gap
                # over M at the next iterate is at least the subproblem's, so a looser solve would
                # stall the outer loop; a tighter one early on buys nothing)
                inner_tol = max(_INNER_FRACTION * gap, _INNER_FLOOR)
                weights = self._corrective(active[:, free], weights, eps, uf, objective, logit_th, deadline, inner_tol)
                active, weights = _drop_light(active, weights)
                if deadline.expired():  # mid-iteration: fall back to the last certified iterate
                    active, weights, eps, gap = certified.active, certified.weights, certified.epsilon, certified.gap
                    iterations -= 1  # this one is not returned
                    stop = "time_budget"
                    break

        # merge the contraction into the vertex list: mu = (1-eps) w.A + eps mean(V0)
        all_vertices = np.vstack([active, V0.astype(float)])
        all_weights = np.concatenate([(1 - eps) * weights, np.full(len(V0), eps / len(V0))])
        if not completed:
            all_vertices, all_weights = V0.astype(float), np.full(len(V0), 1.0 / len(V0))
        merged: dict[bytes, list[Any]] = {}
        for vertex, weight in zip(all_vertices.astype(np.uint8), all_weights):
            if weight <= 0:
                continue
            entry = merged.setdefault(vertex.tobytes(), [vertex, 0.0])
            entry[1] += float(weight)
        out_vertices = np.array([e[0] for e in merged.values()], dtype=np.uint8).reshape(len(merged), self.n)
        out_weights = np.array([e[1] for e in merged.values()])
        out_weights = out_weights / out_weights.sum()
        mu = out_weights @ out_vertices  # identical to the iterate up to rounding; exactly in M
        total = self.clock() - self.start
        return ProjectionResult(
            contracts=self.contracts,
            prices=_frozen(theta.copy()),
            mu=_frozen(mu),
            divergence=binary_kl(mu, theta),
            gap=float(gap),
            vertices=_frozen(out_vertices),
            weights=_frozen(out_weights),
            iterations=iterations,
            oracle_calls=len(self.call_times),
            init_oracle_calls=init_calls,
            oracle_call_times_s=tuple(self.call_times),
            oracle_time_s=float(sum(self.call_times)),
            total_time_s=total,
            stop_reason=stop,
            settled=MappingProxyType(settled),
            epsilon=float(eps),
        )

    @staticmethod
    def _line_search(
        A: np.ndarray, w: np.ndarray, j: int, eps: float, uf: np.ndarray, logit_th: np.ndarray
    ) -> np.ndarray:
        """Exact line search from w towards vertex j."""
        x = w @ A
        mu0 = (1 - eps) * x + eps * uf
        d = (1 - eps) * (A[j] - x)
        residual = logit(mu0) - logit_th
        slope0 = float(d @ residual)
        if slope0 >= 0:
            return w
        gamma = _exact_step(mu0, d, residual, logit_th, 1.0, slope0, first_newton=True)
        out = (1 - gamma) * w
        out[j] += gamma
        return out

    @staticmethod
    def _corrective(
        A: np.ndarray,
        w0: np.ndarray,
        eps: float,
        uf: np.ndarray,
        objective: Callable[[np.ndarray], float],
        logit_th: np.ndarray,
        deadline: _Deadline,
        inner_tol: float,
    ) -> np.ndarray:
        """min over the simplex of Phi(w) = F((1-eps) w.A + eps u), warm-started at w0 (fully corrective).

        A primal active-set Newton method, vectorised: on the support S = {w > 0} take the
        equality-constrained Newton step (`_newton_direction`), then an exact line search along it
        capped where a weight reaches 0 (that vertex leaves S), and repeat, at most _NEWTON_STEPS
        times, until the deadline passes or Phi is within `inner_tol` of its minimum over the
        support: Phi(w) - min <= g.w - min_S g <= max_S g - min_S g (the FW gap of the subproblem,
        g = dPhi/dw), a test that costs no factorisation, so the last step is not a solve that only
        confirms optimality. Weights at 0 stay out; the outer FW loop re-adds any vertex the LMO
        still wants. Never increases Phi."""
        B = (1 - eps) * A
        shift = eps * uf
        w = w0.copy()
        support = np.flatnonzero(w > 0)
        Bs = B[support]
        for _ in range(_NEWTON_STEPS):
            if len(support) <= 1 or deadline.expired():
                break
            ws = w[support]
            mu = ws @ Bs + shift
            residual = logit(mu) - logit_th
            g = Bs @ residual
            if float(g.max() - g.min()) <= inner_tol:
                break
            scaled = Bs * (1.0 / np.sqrt(mu * (1.0 - mu)))
            d = _newton_direction(scaled @ scaled.T, g)
            slope0 = float(g @ d)
            if not slope0 < 0.0:
                break
            shrinking = d < 0
            ratios = np.full(len(d), np.inf)
            ratios[shrinking] = -ws[shrinking] / d[shrinking]
            leaving = int(np.argmin(ratios))
            cap = float(ratios[leaving])
            gamma = _exact_step(mu, d @ Bs, residual, logit_th, min(cap, 1.0), slope0)
            if gamma <= 0:
                break
            step = ws + gamma * d
            if gamma == cap:
                step[leaving] = 0.0
            w[support] = np.clip(step, 0.0, None)
            w /= w.sum()
            if gamma == cap:  # a vertex left the support
                support = np.flatnonzero(w > 0)
                Bs = B[support]
        return w if objective(w @ B + shift) <= objective(w0 @ B + shift) else w0


def _exact_step(
    mu: np.ndarray,
    direction: np.ndarray,
    residual: np.ndarray,
    logit_th: np.ndarray,
    top: float,
    slope0: float,
    *,
    first_newton: bool = False,
) -> float:
    """argmin over [0, top] of phi(t) = F(mu + t direction), given residual = logit(mu) - logit_th
    and phi'(0) = slope0 < 0 (phi is convex): Newton on phi' (phi'' = sum direction^2 /
    (m (1 - m))) inside a bracket, bisecting whenever Newton leaves the bracket or fails to halve
    |phi'| (near a face of the box phi'' blows up and Newton steps shrink without converging, so a
    small step is no sign of convergence). Stops when |phi'| is at the level of its rounding, or
    the bracket is exhausted: a handful of evaluations instead of ~60 for plain bisection. The
    first point is `top` (a Newton direction's natural step) or, with `first_newton`, the Newton
    point from 0 (a Frank-Wolfe step towards a vertex, whose far end is near a face)."""
    squared = direction * direction
    # phi' sums terms of size |direction_i| |residual_i|: below ~1e-13 of that it is rounding
    target = 1e-12 * -slope0 + 1e-13 * float(np.abs(direction) @ np.abs(residual))

    def derivatives(t: float) -> tuple[float, float]:
        m = mu + t * direction
        return float(direction @ (logit(m) - logit_th)), float(squared @ (1.0 / (m * (1.0 - m))))

    if first_newton:  # from t = 0, where phi' is known: the first Newton point (usually close)
        t = min(top, -slope0 / float(squared @ (1.0 / (mu * (1.0 - mu)))))
    else:
        t = top
    slope, curvature = derivatives(t)
    if slope <= 0 and t == top:
        return top
    lo, hi = 0.0, top
    previous = math.inf
    for _ in range(_LINE_STEPS):
        if abs(slope) <= target:
            return t
        if slope > 0:
            hi = t
        else:
            lo = t
        if hi - lo <= 1e-15 * top:
            break
        following = t - slope / curvature
        if not lo < following < hi or abs(slope) > 0.5 * previous:
            following = 0.5 * (lo + hi)
        previous = abs(slope)
        t = following
        slope, curvature = derivatives(t)
    return lo


def _newton_direction(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    """d minimising g.d + d'(H + rI)d / 2 subject to sum d = 0, for H = B diag(1/(mu(1-mu))) B'.

    H is singular when the vertices are affinely dependent, so a ridge r = 1e-10 max diag(H) is
    added (far above the rounding in H, far below its useful eigenvalues): (H + rI) is positive
    definite and one factorisation gives a = (H + rI)^-1 g and b = (H + rI)^-1 1, then
    d = (sum(a)/sum(b)) b - a, so that sum d = 0. On null directions of H, g has no component
    (g = B grad), so the ridge only damps nearly flat directions; the line search makes any
    descent direction safe. Least squares on the bordered KKT system is the fallback. This is
    ~5x cheaper than least squares on the bordered system; numpy's LU is used rather than scipy's
    Cholesky because scipy links a second OpenBLAS whose thread pool contends with numpy's (3x
    slower at n = 500 on two cores)."""
    m = len(g)
    H.flat[:: m + 1] += 1e-10 * max(float(H.diagonal().max()), 1e-300)  # in place: H is ours
    rhs = np.empty((m, 2))
    rhs[:, 0] = g
    rhs[:, 1] = 1.0
    try:
        solved = np.linalg.solve(H, rhs)
        a, b = solved[:, 0], solved[:, 1]
        d = (a.sum() / b.sum()) * b - a
    except np.linalg.LinAlgError:
        kkt = np.zeros((m + 1, m + 1))
        kkt[:m, :m] = H  # with the ridge: still the minimiser, up to the damping
        kkt[:m, m] = 1.0
        kkt[m, :m] = 1.0
        d = np.linalg.lstsq(kkt, np.concatenate([-g, [0.0]]), rcond=None)[0][:m]
    return d - d.mean()  # on sum w = 1 exactly


def _drop_light(active: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = weights > _DROP_WEIGHT
    if not keep.any():
        keep[int(np.argmax(weights))] = True
    w = weights[keep]
    return active[keep], w / w.sum()
