"""HiGHS through highspy's array API: the persistent warm backend (the hot path) and a cold one.

`highs-warm` keeps one `Highs` object for the life of the model. A book tick becomes
changeColsBounds / changeCoeff / changeRowsBounds and `run()`, which hot-starts from the retained
basis without presolve (optimization.md 3.1). `highs-cold` builds a new object, passes the whole
model and solves from scratch, as a freshly started process would.
"""

from __future__ import annotations

import highspy
import numpy as np

from solvers.backends.base import Backend
from solvers.errors import (
    InfeasibleError,
    NumericalError,
    SolveTimeLimitError,
    UnboundedError,
)
from solvers.lp import LinearProgram, LPSolution, LPUpdate

__all__ = ["HighsColdBackend", "HighsWarmBackend", "checked_run", "new_highs", "pass_model", "solve_mip"]

_MS = highspy.HighsModelStatus


def new_highs(**options: object) -> highspy.Highs:
    """A silent single-threaded Highs object (threads is process-global in HiGHS; always 1 here)."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    for key, value in options.items():
        h.setOptionValue(key, value)
    return h


def pass_model(h: highspy.Highs, lp: LinearProgram, *, integer: np.ndarray | None = None) -> None:
    model = highspy.HighsLp()
    model.num_col_ = lp.num_col
    model.num_row_ = lp.num_row
    model.col_cost_ = lp.cost
    model.col_lower_ = lp.col_lo
    model.col_upper_ = lp.col_hi
    model.row_lower_ = lp.row_lo
    model.row_upper_ = lp.row_hi
    model.offset_ = lp.objective_offset
    matrix = model.a_matrix_
    matrix.format_ = highspy.MatrixFormat.kRowwise
    matrix.num_col_ = lp.num_col
    matrix.num_row_ = lp.num_row
    matrix.start_ = lp.start
    matrix.index_ = lp.index
    matrix.value_ = lp.value
    if integer is not None:
        kinds = [highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous for flag in integer]
        model.integrality_ = kinds
    status = h.passModel(model)
    if status == highspy.HighsStatus.kError:
        raise NumericalError("HiGHS rejected the model", backend="highs", status=str(status))


def checked_run(h: highspy.Highs, backend: str, *, accept_time_limit: bool = False) -> highspy.HighsModelStatus:
    """run() and check both the call status and the model status (they are different things)."""
    run_status = h.run()
    model_status = h.getModelStatus()
    if model_status == _MS.kOptimal and run_status != highspy.HighsStatus.kError:
        return model_status
    text = h.modelStatusToString(model_status)
    if model_status == _MS.kOptimal:
        raise NumericalError(f"{backend}: run() failed although the model reads optimal", backend=backend, status=text)
    if model_status == _MS.kInfeasible:
        raise InfeasibleError(f"{backend}: model infeasible; relax capital, limits or relations", backend=backend, status=text)
    if model_status in (_MS.kUnbounded, _MS.kUnboundedOrInfeasible):
        raise UnboundedError(f"{backend}: model unbounded ({text}); a guaranteed profit cannot be", backend=backend, status=text)
    if model_status in (_MS.kTimeLimit, _MS.kInterrupt):
        if accept_time_limit:
            return model_status
        raise SolveTimeLimitError(f"{backend}: time limit before optimality ({text})")
    raise NumericalError(f"{backend}: solver stopped with {text} (run status {run_status})", backend=backend, status=text)


def _solution(h: highspy.Highs, backend: str, duals: bool) -> LPSolution:
    solution = h.getSolution()
    return LPSolution(
        objective=h.getObjectiveValue(),
        x=np.array(solution.col_value),
        row_dual=np.array(solution.row_dual) if duals and solution.dual_valid else None,
        iterations=int(h.getInfoValue("simplex_iteration_count")[1]),
        backend=backend,
    )


_DUAL_SIMPLEX, _PRIMAL_SIMPLEX = 1, 4


class HighsWarmBackend(Backend):
    """Persistent HiGHS model; updates are forwarded, `run()` hot-starts from the last basis.

    The simplex variant follows what changed since the last solve. A price tick only rewrites
    coefficients of the cost-definition rows, whose row variable is free: the retained basis stays
    primal feasible, so the primal simplex finishes it (about 20% faster here than the dual). Bound,
    right-hand-side and row changes can break primal feasibility: the dual simplex takes those.
    """

    name = "highs-warm"
    provides_duals = True

    def load(self, lp: LinearProgram) -> None:
        super().load(lp)
        self.h = new_highs()
        pass_model(self.h, lp)
        self._primal_feasible = False  # the first solve is cold
        self._strategy = 0

    def apply(self, update: LPUpdate) -> None:
        h = self.h
        if len(update.cost_index):
            h.changeColsCost(len(update.cost_index), update.cost_index, update.cost_value)
        if len(update.bound_index):
            h.changeColsBounds(len(update.bound_index), update.bound_index, update.bound_lo, update.bound_hi)
            self._primal_feasible = False
        if len(update.coef_row):
            change = h.changeCoeff
            for row, col, value in zip(update.coef_row.tolist(), update.coef_col.tolist(), update.coef_value.tolist()):
                change(row, col, value)
        if len(update.row_index):
            h.changeRowsBounds(len(update.row_index), update.row_index, update.row_lo, update.row_hi)
            self._primal_feasible = False

    def rows_appended(self, first_row: int) -> None:
        lp = self.lp
        assert lp is not None
        start = lp.start[first_row:]
        base = int(start[0])
        self.h.addRows(
            lp.num_row - first_row,
            lp.row_lo[first_row:],
            lp.row_hi[first_row:],
            int(start[-1]) - base,
            (start[:-1] - base).astype(np.int32),
            lp.index[base:],
            lp.value[base:],
        )
        self._primal_feasible = False

    def solve(self, *, duals: bool = True) -> LPSolution:
        strategy = _PRIMAL_SIMPLEX if self._primal_feasible else _DUAL_SIMPLEX
        if strategy != self._strategy:
            self.h.setOptionValue("simplex_strategy", strategy)
            self._strategy = strategy
        checked_run(self.h, self.name)
        self._primal_feasible = True
        return _solution(self.h, self.name, duals)

    def solve_cold(self) -> LPSolution:
        """Forget the basis and solve from scratch on the same object (periodic safety re-solve,
        and the mitigation for HiGHS issue #3194)."""
        self.h.clearSolver()
        self._primal_feasible = False
        return self.solve()


class HighsColdBackend(Backend):
    """A new HiGHS object, the whole model passed and solved from scratch at every solve."""

    name = "highs-cold"
    provides_duals = True

    def solve(self, *, duals: bool = True) -> LPSolution:
        assert self.lp is not None
        h = new_highs()
        pass_model(h, self.lp)
        checked_run(h, self.name)
        return _solution(h, self.name, duals)


def solve_mip(lp: LinearProgram, integer: np.ndarray, *, time_limit_ms: float) -> np.ndarray | None:
    """Solve `lp` with the flagged columns integral under a time limit; the incumbent's x, or None
    when no feasible point was found in time (a fallback may fail; it never raises on the limit)."""
    h = new_highs(time_limit=max(time_limit_ms, 1.0) / 1000.0, mip_rel_gap=1e-6)
    pass_model(h, lp, integer=integer)
    status = checked_run(h, "highs-mip", accept_time_limit=True)
    if status != _MS.kOptimal and h.getInfo().primal_solution_status != 2:  # 2 = feasible
        return None
    return np.asarray(h.getSolution().col_value)
