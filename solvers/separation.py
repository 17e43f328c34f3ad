"""Separation over the outcome set: min_z w.z for z in Z, with one persistent HiGHS MIP per system.

Three uses:
- constraint generation: float weights from the current LP point; the minimiser is the next cut;
- a certified lower bound (`minimize_bounded`, the projection's linear-minimisation oracle): float
  weights rounded onto a power-of-two integer grid and solved exactly as below, the rounding
  residual's worst case subtracted. A float MIP is not enough there: HiGHS treats cost components
  below its tolerances (dual feasibility 1e-7, MIP gaps 1e-9) as zero, so its minimiser can miss
  the minimum by ~1e-8 per such component while reporting itself optimal;
- the exact check of a plan: weights are exact Decimals, scaled to integers, the MIP is run with an
  absolute gap below one unit (so, the objective being integral, the incumbent is the minimum), the
  minimiser is re-checked against the relations in integer arithmetic and its value is recomputed
  exactly. Anything short of that raises NumericalError and the plan is never sent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import highspy
import numpy as np

from solvers.backends.highs import checked_run, new_highs
from solvers.errors import DataError, InfeasibleError, NumericalError
from solvers.outcomes import OutcomeSystem

__all__ = ["OutcomeOracle"]

_EXACT_LIMIT = 2**50  # integer objective coefficients stay exact in float64 well past this sum
_GRID_EXPONENT = 48  # minimize_bounded scales sum |w| to at most 2**48 (plus rounding, < _EXACT_LIMIT)
_ENUMERATION_BYTES = 32 * 2**20  # largest outcome matrix an oracle keeps
# an enumerated outcome set this small (outcomes x variables) also answers exact calls: an int64
# product over it takes ~0.04 ms for 1,024 x 20 against ~1 ms for the MIP (65,536 x 32 takes 3 ms
# and stays with the MIP)
_EXACT_ENUMERATION_ENTRIES = 2**18


class OutcomeOracle:
    """min over the feasible outcomes of one `OutcomeSystem` of a linear function."""

    def __init__(
        self, system: OutcomeSystem, *, enumeration_limit: int = 0, exact_outcomes: np.ndarray | None = None
    ) -> None:
        """enumeration_limit: enumerate up to this many outcomes for the float oracle;
        exact_outcomes: the system's feasible outcomes when the caller has enumerated them already:
        exact minimisation is then an integer matrix product over them (no MIP)."""
        self.system = system
        self.calls = 0
        n = system.n
        self._exact = None if exact_outcomes is None else np.asarray(exact_outcomes, dtype=np.int64)
        self._all = np.arange(n, dtype=np.int32)
        self._h: highspy.Highs | None = None
        self._relaxed: highspy.Highs | None = None
        self._last: tuple[np.ndarray, float, np.ndarray] | None = None  # memo of the last float call
        self._last_bounded: tuple[np.ndarray, np.ndarray, float] | None = None  # ... of minimize_bounded
        # small outcome sets: the float oracle is one matrix-vector product over all of Z (exact in
        # float64; capped in memory)
        self._outcomes: np.ndarray | None = None
        limit = min(enumeration_limit, _ENUMERATION_BYTES // (4 * max(n, 1)))
        if limit and system.rows:
            outcomes = system.enumerate(limit)
            # float32 holds 0/1 exactly and halves the memory traffic of each product
            self._outcomes = None if outcomes is None else outcomes.astype(np.float32)
            if self._exact is None and outcomes is not None and outcomes.size <= _EXACT_ENUMERATION_ENTRIES:
                self._exact = np.asarray(outcomes, dtype=np.int64)
        if not system.rows:
            self._feasible = np.zeros(n, dtype=np.int64)
            return  # separable: solved in closed form
        # HiGHS's feasibility-jump heuristic is pure overhead on these small binary systems (their
        # LP relaxations are nearly always integral): measured on the projection benchmark it cost
        # ~10 ms on some n = 50 calls and made n = 200 calls 5x slower (8 -> 1.5 ms median), and
        # Allocator.solve() on parlays-16 went from 11.8 to 7.2 ms without it, answers identical.
        # It can only find incumbents, never change the optimum or its bound.
        h = new_highs(mip_heuristic_run_feasibility_jump=False)
        matrix, lo, hi = system.dense()
        self._rows = (matrix, lo, hi)  # for the vectorised feasibility check of minimize_bounded
        h.addVars(n, np.zeros(n), np.ones(n))
        h.changeColsIntegrality(n, self._all, np.full(n, highspy.HighsVarType.kInteger))
        for r in range(matrix.shape[0]):
            cols = np.flatnonzero(matrix[r]).astype(np.int32)
            h.addRow(lo[r], hi[r], len(cols), cols, matrix[r, cols])
        self._h = h
        self._mode = ""
        try:
            self._feasible = self._run(np.zeros(n))  # any outcome: the minimiser of zero weights
        except InfeasibleError as exc:
            raise DataError("the relations admit no outcome at all") from exc

    def _set_mode(self, mode: str) -> None:
        if self._mode == mode:
            return
        assert self._h is not None
        if mode == "exact":
            self._h.setOptionValue("mip_rel_gap", 0.0)
            self._h.setOptionValue("mip_abs_gap", 0.5)
        else:
            self._h.setOptionValue("mip_rel_gap", 1e-9)
            self._h.setOptionValue("mip_abs_gap", 1e-9)
        self._mode = mode

    def _run(self, weights: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self._h is None:
            return (weights < 0).astype(np.int64)
        h = self._h
        h.changeColsCost(self.system.n, self._all, weights)
        checked_run(h, "outcome-oracle")
        return np.rint(np.asarray(h.getSolution().col_value)).astype(np.int64)

    def minimize(self, weights: np.ndarray) -> tuple[float, np.ndarray]:
        """Float mode (constraint generation): (min value, minimiser). Identical weights give the
        identical answer, so the last call is remembered (between book ticks the LP point often
        does not move)."""
        weights = np.asarray(weights, dtype=float)
        if self._last is not None and np.array_equal(weights, self._last[0]):
            return self._last[1], self._last[2]
        if not weights.any():  # all zero: every outcome is worth 0
            value, z = 0.0, self._feasible
        elif self._outcomes is not None:
            self.calls += 1
            value, z = self._enumerated_minimum(weights)
        else:
            if self._h is not None:
                self._set_mode("float")
            z = self._run(weights)
            value = float(np.dot(weights, z))
        self._last = (weights.copy(), value, z)
        return value, z

    def _enumerated_minimum(self, weights: np.ndarray) -> tuple[float, np.ndarray]:
        """Screen all outcomes in float32, then choose among those within the float32 rounding
        margin of the best exactly in float64. Each screened value errs by at most
        (n + 1) x 2^-24 x sum|w| (the weights' own rounding plus n additions), so the true
        minimiser is within twice that of the screened minimum and is always a candidate."""
        assert self._outcomes is not None
        screened = self._outcomes @ weights.astype(np.float32)
        margin = 2.0 * (self.system.n + 1) * 2.0**-24 * float(np.abs(weights).sum()) * 1.01
        candidates = np.flatnonzero(screened <= screened.min() + margin)
        exact = self._outcomes[candidates].astype(np.float64) @ weights
        best = int(candidates[int(np.argmin(exact))])
        return float(np.min(exact)), self._outcomes[best].astype(np.int64)

    def minimize_bounded(self, weights: np.ndarray) -> tuple[np.ndarray, float]:
        """(z, bound): a feasible outcome z and a proven lower bound on min over Z of weights.z (up
        to the float rounding of the two sums below, ~1e-16 sum |w|), with weights.z - bound at most
        sum_i |residual_i| <= n 2**-(48 + 1) sum |w|. The weights are scaled by a power of two so that
        sum |w| <= 2**48 and rounded to integers w'; the integer problem is solved exactly (MIP gap
        below one unit, minimiser checked against the rows, incumbent checked against the dual
        bound, else NumericalError), so min w'.z is known exactly; the residual r = w - w'/scale
        adds at least sum_i min(r_i, 0) to any outcome's value. The last call is remembered."""
        weights = np.asarray(weights, dtype=float)
        if self._last_bounded is not None and np.array_equal(weights, self._last_bounded[0]):
            return self._last_bounded[1], self._last_bounded[2]
        total = float(np.abs(weights).sum())
        if not math.isfinite(total):
            raise NumericalError(f"bounded separation: weights must be finite, sum |w| was {total}")
        if total == 0.0:
            z, bound = self._feasible, 0.0
        elif self._h is None:  # no rows: separable, exact per variable
            self.calls += 1
            z = (weights < 0).astype(np.int64)
            bound = float(np.minimum(weights, 0.0).sum())
        else:
            exponent = _GRID_EXPONENT - math.frexp(total)[1]  # sum |w| 2**exponent <= 2**48
            units = np.rint(np.ldexp(weights, exponent))
            self._set_mode("exact")
            z = self._run(units)
            matrix, lo, hi = self._rows
            activity = matrix @ z
            if not (np.all(activity >= lo) and np.all(activity <= hi) and np.all((z == 0) | (z == 1))):
                raise NumericalError(f"bounded separation returned an outcome that breaks the relations: {z.tolist()}")
            value_units = float(units @ z)  # integers below 2**50: exact
            dual_bound = self._h.getInfo().mip_dual_bound
            if not value_units - dual_bound < 1.0:
                raise NumericalError(f"bounded separation not certified: incumbent {value_units}, bound {dual_bound}")
            residual = weights - np.ldexp(units, -exponent)
            bound = math.ldexp(value_units, -exponent) + float(np.minimum(residual, 0.0).sum())
        self._last_bounded = (weights.copy(), z, bound)
        return z, bound

    def minimize_exact(self, weights: Sequence[Decimal]) -> tuple[Decimal, tuple[int, ...]]:
        """Exact mode: (min value as Decimal, minimiser). Raises NumericalError if exactness
        cannot be certified."""
        if len(weights) != self.system.n:
            raise NumericalError(f"oracle expected {self.system.n} weights, was given {len(weights)}")
        exponent = min((w.as_tuple().exponent for w in weights), default=0)
        scale = Decimal(10) ** max(0, -int(exponent))
        integers = [int(w * scale) for w in weights]
        if sum(abs(i) for i in integers) >= _EXACT_LIMIT:
            raise NumericalError("exact separation: weights too large to stay exact in float64")
        if self._exact is not None and len(self._exact):  # enumerated: exact in int64 (|sum| < 2**50)
            self.calls += 1
            values = self._exact @ np.array(integers, dtype=np.int64)
            best = int(np.argmin(values))  # the first minimiser in the enumeration's fixed order
            return Decimal(int(values[best])) / scale, tuple(int(v) for v in self._exact[best])
        if self._h is not None:
            self._set_mode("exact")
        z = self._run(np.array(integers, dtype=float))
        z_tuple = tuple(int(v) for v in z)
        if not self.system.is_feasible(z_tuple):
            raise NumericalError(f"exact separation returned an outcome that breaks the relations: {z_tuple}")
        value_units = sum(i * v for i, v in zip(integers, z_tuple))
        if self._h is not None:
            bound = self._h.getInfo().mip_dual_bound
            if not value_units - bound < 1.0:
                raise NumericalError(f"exact separation not certified: incumbent {value_units}, bound {bound}")
        return Decimal(value_units) / scale, z_tuple

    def minimize_relaxed(self, weights: np.ndarray) -> float:
        """min of w.mu over the LP relaxation (0 <= mu <= 1, same rows): what a compact-dual model
        can certify. Equal to `minimize` when the relaxation is integral."""
        weights = np.asarray(weights, dtype=float)
        if self._h is None:
            return float(np.minimum(weights, 0.0).sum())
        if self._relaxed is None:
            n = self.system.n
            h = new_highs()
            matrix, lo, hi = self.system.dense()
            h.addVars(n, np.zeros(n), np.ones(n))
            for r in range(matrix.shape[0]):
                cols = np.flatnonzero(matrix[r]).astype(np.int32)
                h.addRow(lo[r], hi[r], len(cols), cols, matrix[r, cols])
            self._relaxed = h
        self._relaxed.changeColsCost(self.system.n, self._all, weights)
        checked_run(self._relaxed, "outcome-relaxation")
        return float(self._relaxed.getInfo().objective_function_value)

    def seed_vertices(self) -> list[np.ndarray]:
        """Outcomes with each variable at 0 and at 1 where possible (InitFW-style): a spread of
        vertices to start constraint generation from."""
        n = self.system.n
        seen: dict[bytes, np.ndarray] = {}
        for var in range(n):
            for sign in (1.0, -1.0):
                weights = np.zeros(n)
                weights[var] = sign
                _, z = self.minimize(weights)
                seen.setdefault(z.astype(np.uint8).tobytes(), z.astype(np.uint8))
        if not seen:
            _, z = self.minimize(np.zeros(n))
            seen[z.astype(np.uint8).tobytes()] = z.astype(np.uint8)
        return list(seen.values())
