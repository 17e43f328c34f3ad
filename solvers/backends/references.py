"""Reference backends for conformance and benchmarks: scipy, cvxpy and PuLP with CBC.

Each re-solves in its own fastest documented form (docs/optimization.md#backends):
- scipy: `scipy.optimize.milp` on the current arrays (no warm start exists; it runs bundled HiGHS).
- cvxpy: compiled once with DPP Parameters for the price-dependent coefficients, the row and
  column bounds and the costs; a tick sets parameter values and solves with `warm_start=True`
  (solver HIGHS). New rows, or a bound turning finite or infinite, recompile the problem (column
  bounds as parameters: ticks that change book sizes cost 4-5 ms on 300 columns instead of a
  40 ms recompile).
- PuLP + CBC: the model is built once; a tick edits coefficients, bounds and right-hand sides in
  place and calls CBC again (PuLP writes the model to a file and spawns `cbc` on every solve).
Libraries are imported lazily so the hot path never pays for them.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.backends.base import Backend
from solvers.errors import BackendUnavailableError, InfeasibleError, NumericalError, UnboundedError
from solvers.lp import LinearProgram, LPSolution, LPUpdate

__all__ = ["CvxpyBackend", "PulpCbcBackend", "ScipyBackend"]


class ScipyBackend(Backend):
    name = "scipy"

    def solve(self, *, duals: bool = True) -> LPSolution:
        from scipy.optimize import Bounds, LinearConstraint, milp

        lp = self.lp
        assert lp is not None
        constraints = LinearConstraint(lp.matrix(), lp.row_lo, lp.row_hi) if lp.num_row else None
        result = milp(
            lp.cost,
            constraints=constraints,
            bounds=Bounds(lp.col_lo, lp.col_hi),
            integrality=np.zeros(lp.num_col),
        )
        match result.status:
            case 0:
                pass
            case 2:
                raise InfeasibleError(f"scipy: {result.message}", backend=self.name, status="infeasible")
            case 3:
                raise UnboundedError(f"scipy: {result.message}", backend=self.name, status="unbounded")
            case _:
                raise NumericalError(f"scipy: {result.message}", backend=self.name, status=str(result.status))
        return LPSolution(float(result.fun) + lp.objective_offset, np.asarray(result.x), None, 0, self.name)


class CvxpyBackend(Backend):
    name = "cvxpy"

    def __init__(self, solver: str = "HIGHS") -> None:
        super().__init__()
        self.solver = solver
        self._stale = True

    def load(self, lp: LinearProgram) -> None:
        super().load(lp)
        try:
            import cvxpy  # noqa: F401
        except ImportError as exc:  # pragma: no cover - dependency of the project
            raise BackendUnavailableError("cvxpy is not installed") from exc
        self._stale = True

    def _compile(self) -> None:
        import cvxpy as cp

        lp = self.lp
        assert lp is not None
        n, m = lp.num_col, lp.num_row
        # column bounds are parameters too (book sizes move them on a tick): finite ones only, a
        # change between finite and infinite recompiles
        self.x = x = cp.Variable(n)
        lo_cols, hi_cols = np.flatnonzero(np.isfinite(lp.col_lo)), np.flatnonzero(np.isfinite(lp.col_hi))
        self._col_pattern = (np.isfinite(lp.col_lo), np.isfinite(lp.col_hi))
        self._bound_cols = {"lo": lo_cols, "hi": hi_cols}
        self.col_bounds = {
            "lo": cp.Parameter(len(lo_cols), value=lp.col_lo[lo_cols]),
            "hi": cp.Parameter(len(hi_cols), value=lp.col_hi[hi_cols]),
        }
        constraints = [x[lo_cols] >= self.col_bounds["lo"], x[hi_cols] <= self.col_bounds["hi"]]
        self.cost = cp.Parameter(n, value=lp.cost.copy())
        positions = lp.param_positions
        values = lp.value.copy()
        values[positions] = 0.0
        static = sp.csr_array((values, lp.index, lp.start), shape=(m, n))
        expression = static @ x
        if len(positions):
            rows = lp.row_of_position()[positions]
            self.coefs = cp.Parameter(len(positions), value=lp.value[positions])
            spread = sp.csr_array(
                (np.ones(len(positions)), (rows, np.arange(len(positions)))), shape=(m, len(positions))
            )
            expression = expression + spread @ cp.multiply(self.coefs, x[lp.index[positions]])
        else:
            self.coefs = None
        lo_finite, hi_finite = np.isfinite(lp.row_lo), np.isfinite(lp.row_hi)
        equal = lo_finite & hi_finite & (lp.row_lo == lp.row_hi)
        self._groups = {
            "eq": np.flatnonzero(equal),
            "lo": np.flatnonzero(lo_finite & ~equal),
            "hi": np.flatnonzero(hi_finite & ~equal),
        }
        self._pattern = (lo_finite.copy(), hi_finite.copy(), equal.copy())
        self.bounds: dict[str, cp.Parameter] = {}
        for group, rows in self._groups.items():
            if not len(rows):
                continue
            source = lp.row_hi if group == "hi" else lp.row_lo
            parameter = self.bounds[group] = cp.Parameter(len(rows), value=source[rows])
            part = expression[rows]
            constraints.append(
                part == parameter if group == "eq" else part >= parameter if group == "lo" else part <= parameter
            )
        self.problem = cp.Problem(cp.Minimize(self.cost @ x), constraints)
        self._stale = False

    def apply(self, update: LPUpdate) -> None:
        if self._stale:
            return
        lp = self.lp
        assert lp is not None
        if len(update.bound_index):
            lo_finite, hi_finite = np.isfinite(lp.col_lo), np.isfinite(lp.col_hi)
            if not (
                np.array_equal(lo_finite, self._col_pattern[0]) and np.array_equal(hi_finite, self._col_pattern[1])
            ):
                self._stale = True
                return
            self.col_bounds["lo"].value = lp.col_lo[self._bound_cols["lo"]]
            self.col_bounds["hi"].value = lp.col_hi[self._bound_cols["hi"]]
        if len(update.cost_index):
            self.cost.value = lp.cost.copy()
        if len(update.coef_row):
            assert self.coefs is not None
            self.coefs.value = lp.value[lp.param_positions]
        if len(update.row_index):
            lo_finite, hi_finite = np.isfinite(lp.row_lo), np.isfinite(lp.row_hi)
            equal = lo_finite & hi_finite & (lp.row_lo == lp.row_hi)
            old = self._pattern
            if not (
                np.array_equal(lo_finite, old[0])
                and np.array_equal(hi_finite, old[1])
                and np.array_equal(equal, old[2])
            ):
                self._stale = True
                return
            for group, parameter in self.bounds.items():
                source = lp.row_hi if group == "hi" else lp.row_lo
                parameter.value = source[self._groups[group]]

    def rows_appended(self, first_row: int) -> None:
        self._stale = True

    def solve(self, *, duals: bool = True) -> LPSolution:
        import cvxpy as cp

        if self._stale:
            self._compile()
        try:
            self.problem.solve(solver=self.solver, warm_start=True)
        except cp.SolverError as exc:
            raise NumericalError(f"cvxpy: {exc}", backend=self.name, status="solver_error") from exc
        status = self.problem.status
        if status == cp.OPTIMAL:
            assert self.lp is not None
            return LPSolution(
                float(self.problem.value) + self.lp.objective_offset, np.asarray(self.x.value), None, 0, self.name
            )
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            raise InfeasibleError(f"cvxpy: {status}", backend=self.name, status=status)
        if status in (cp.UNBOUNDED, cp.UNBOUNDED_INACCURATE):
            raise UnboundedError(f"cvxpy: {status}", backend=self.name, status=status)
        raise NumericalError(f"cvxpy: {status}", backend=self.name, status=str(status))


class PulpCbcBackend(Backend):
    name = "pulp-cbc"

    def load(self, lp: LinearProgram) -> None:
        super().load(lp)
        import pulp
        from pulp.apis.coin_api import pulp_cbc_path

        self._pulp = pulp
        # the CBC binary bundled with PuLP 3.x, driven through COIN_CMD (PULP_CBC_CMD is deprecated)
        # tight tolerances: a reference must not stop 1e-4 short of the optimum on large models
        self._solver = _cbc_command_class()(
            msg=False, path=pulp_cbc_path, options=["primalTolerance 1e-9", "dualTolerance 1e-9"]
        )
        if not self._solver.available():
            raise BackendUnavailableError(f"CBC binary not found at {pulp_cbc_path}")
        self.problem = pulp.LpProblem("allocation", pulp.LpMinimize)
        self.vars = [
            self.problem.add_variable(f"x{j}", _finite(lp.col_lo[j]), _finite(lp.col_hi[j])) for j in range(lp.num_col)
        ]
        self.problem.setObjective(pulp.LpAffineExpression([(self.vars[j], c) for j, c in enumerate(lp.cost) if c]))
        self.rows: list[list[Any]] = []
        self._add_rows(0)

    def _add_rows(self, first_row: int) -> None:
        pulp = self._pulp
        lp = self.lp
        assert lp is not None
        for r in range(first_row, lp.num_row):
            a, b = lp.start[r], lp.start[r + 1]
            terms = [(self.vars[j], v) for j, v in zip(lp.index[a:b].tolist(), lp.value[a:b].tolist())]
            lo, hi = lp.row_lo[r], lp.row_hi[r]
            constraints = []
            if np.isfinite(lo) and lo == hi:
                constraints.append(pulp.LpConstraint(pulp.LpAffineExpression(terms), pulp.LpConstraintEQ, f"e{r}", lo))
            else:
                if np.isfinite(lo):
                    constraints.append(
                        pulp.LpConstraint(pulp.LpAffineExpression(terms), pulp.LpConstraintGE, f"l{r}", lo)
                    )
                if np.isfinite(hi):
                    constraints.append(
                        pulp.LpConstraint(pulp.LpAffineExpression(terms), pulp.LpConstraintLE, f"u{r}", hi)
                    )
            for constraint in constraints:
                self.problem.addConstraint(constraint)
            self.rows.append(constraints)

    def apply(self, update: LPUpdate) -> None:
        lp = self.lp
        assert lp is not None
        for r in update.row_index.tolist():
            if any(
                not np.isfinite(lp.row_hi[r] if c.sense == self._pulp.LpConstraintLE else lp.row_lo[r])
                for c in self.rows[r]
            ):
                # a row freed (a retired set) or changing which bounds are finite: the in-place model
                # cannot say it, so rebuild from `lp`, which already holds the edit
                self.load(lp)
                return
            lo, hi = lp.row_lo[r], lp.row_hi[r]
            wanted = 1 if np.isfinite(lo) and lo == hi else int(np.isfinite(lo)) + int(np.isfinite(hi))
            if wanted != len(self.rows[r]):
                self.load(lp)
                return
        objective = self.problem.objective
        for j, cost in zip(update.cost_index.tolist(), update.cost_value.tolist()):
            objective[self.vars[j]] = cost
        for j, lo, hi in zip(update.bound_index.tolist(), update.bound_lo.tolist(), update.bound_hi.tolist()):
            self.vars[j].lowBound, self.vars[j].upBound = _finite(lo), _finite(hi)
        for r, c, value in zip(update.coef_row.tolist(), update.coef_col.tolist(), update.coef_value.tolist()):
            for constraint in self.rows[r]:
                constraint.expr[self.vars[c]] = value
        for r, lo, hi in zip(update.row_index.tolist(), update.row_lo.tolist(), update.row_hi.tolist()):
            for constraint in self.rows[r]:
                sense = constraint.sense
                constraint.changeRHS(hi if sense == self._pulp.LpConstraintLE else lo)

    def rows_appended(self, first_row: int) -> None:
        self._add_rows(first_row)

    def solve(self, *, duals: bool = True) -> LPSolution:
        pulp = self._pulp
        status = self.problem.solve(self._solver)
        text = pulp.LpStatus[status]
        if status == pulp.LpStatusOptimal:
            x = np.array([v.varValue if v.varValue is not None else 0.0 for v in self.vars])
            assert self.lp is not None
            # CBC prints variable values to 8 significant digits but the objective to 8 decimals:
            # c.x from the printed values would be off by ~1e-6, so take CBC's own objective
            objective = self._solver.objective + self.lp.objective_offset
            return LPSolution(objective, x, None, 0, self.name)
        if status == pulp.LpStatusInfeasible:
            raise InfeasibleError(f"pulp-cbc: {text}", backend=self.name, status=text)
        if status == pulp.LpStatusUnbounded:
            raise UnboundedError(f"pulp-cbc: {text}", backend=self.name, status=text)
        raise NumericalError(f"pulp-cbc: {text}", backend=self.name, status=text)


@functools.cache
def _cbc_command_class() -> type:
    """Built on first use so PuLP is only imported when this backend is."""
    import pulp

    class CbcWithObjective(pulp.COIN_CMD):  # type: ignore[misc]  # PuLP is read untyped (pyproject)
        """COIN_CMD that also keeps the objective from the header of CBC's solution file."""

        objective = float("nan")

        def readsol_MPS(self, filename: str, *args: Any, **kwargs: Any) -> Any:
            with open(filename) as handle:
                header = handle.readline()
            self.objective = (
                float(header.rsplit("objective value", 1)[1]) if "objective value" in header else float("nan")
            )
            return super().readsol_MPS(filename, *args, **kwargs)

    return CbcWithObjective


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
