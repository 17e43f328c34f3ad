"""HiGHS through highspy's array API: the persistent warm backend (the hot path) and a cold one.

`highs-warm` keeps one `Highs` object for the life of the model. A book tick becomes
changeColsBounds / changeCoeff / changeRowsBounds and `run()`, which hot-starts from the retained
basis without presolve (docs/optimization.md#warm-start). `highs-cold` builds a new object, passes the whole
model and solves from scratch, as a freshly started process would.
"""

from __future__ import annotations

import highspy
import numpy as np

from solvers.backends.base import Backend
from solvers.errors import (
    InfeasibleError,
    ModelStatusError,
    NumericalError,
    SolveTimeLimitError,
    UnboundedError,
)
from solvers.lp import LinearProgram, LPGrowth, LPSolution, LPUpdate

__all__ = ["HighsColdBackend", "HighsWarmBackend", "checked_run", "new_highs", "pass_model"]

_MS = highspy.HighsModelStatus


def new_highs(**options: object) -> highspy.Highs:
    """A silent single-threaded Highs object (threads is process-global in HiGHS; always 1 here)."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    for key, value in options.items():
        if h.setOptionValue(key, value) != highspy.HighsStatus.kOk:
            raise ModelStatusError(f"HiGHS rejected option {key}={value!r}")  # a misspelt option must not pass silently
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


def checked_run(h: highspy.Highs, backend: str) -> highspy.HighsModelStatus:
    """run() and check both the call status and the model status (they are different things)."""
    run_status = h.run()
    model_status = h.getModelStatus()
    if model_status == _MS.kOptimal and run_status != highspy.HighsStatus.kError:
        return model_status
    if model_status == _MS.kModelEmpty and run_status != highspy.HighsStatus.kError:
        return model_status  # no columns (an allocator without sets): trading nothing, objective 0
    text = h.modelStatusToString(model_status)
    if model_status == _MS.kOptimal:
        raise NumericalError(f"{backend}: run() failed although the model reads optimal", backend=backend, status=text)
    if model_status == _MS.kInfeasible:
        raise InfeasibleError(
            f"{backend}: model infeasible; relax capital, limits or relations", backend=backend, status=text
        )
    if model_status in (_MS.kUnbounded, _MS.kUnboundedOrInfeasible):
        raise UnboundedError(
            f"{backend}: model unbounded ({text}); a guaranteed profit cannot be", backend=backend, status=text
        )
    if model_status in (_MS.kTimeLimit, _MS.kInterrupt):
        raise SolveTimeLimitError(f"{backend}: time limit before optimality ({text})")
    raise NumericalError(
        f"{backend}: solver stopped with {text} (run status {run_status})", backend=backend, status=text
    )


def _solution(h: highspy.Highs, backend: str, duals: bool) -> LPSolution:
    solution = h.getSolution()  # a copy: later runs do not change it, so values can be read lazily
    return LPSolution(
        objective=h.getObjectiveValue(),
        x=None,
        row_dual=None,
        iterations=int(h.getInfoValue("simplex_iteration_count")[1]),
        backend=backend,
        x_source=lambda: solution.col_value,
        dual_source=(lambda: solution.row_dual) if duals and solution.dual_valid else None,
    )


_DUAL_SIMPLEX, _PRIMAL_SIMPLEX = 1, 4
_SLACK_SOLVES = 16


class HighsWarmBackend(Backend):
    """Persistent HiGHS model; updates are forwarded, `run()` hot-starts from the last basis.

    Simplex variant: a price tick changes objective costs (and coefficients of free spend rows), so
    the retained basis stays primal feasible and the primal simplex finishes it (about 20% faster
    here than the dual). Bound, right-hand-side and row changes can break primal feasibility: the
    dual simplex takes those.

    Lazy capital rows: price coefficients of the rows in `lp.lazy_rows` are not sent while the row
    cannot bind; the row is only marked stale. After each run every stale row with a finite bound is
    checked exactly: if the optimum leaves HiGHS's (stale) row strictly slack, dropping the row would
    not change the optimum, and if the point also satisfies the row with current prices it is
    optimal for the current LP. Otherwise the whole row is sent and the model re-solved; a row that
    binds is kept current until it has been slack for `_SLACK_SOLVES` solves in a row (sending a
    12,000-entry row costs ~12 ms, and a capital-bound portfolio's rows go slack only briefly, e.g.
    while the allocator's rounding passes shrink its plan).
    """

    name = "highs-warm"

    def load(self, lp: LinearProgram) -> None:
        super().load(lp)
        self.h = new_highs()
        pass_model(self.h, lp)
        self._primal_feasible = False  # the first solve is cold
        self._strategy = 0
        self._eager = np.zeros(lp.num_row, dtype=bool)  # capital rows kept current (they bind)
        self._slack_solves = np.zeros(lp.num_row, dtype=np.int64)  # eager rows: solves slack in a row
        self._any_eager = False
        self._stale: set[int] = set()  # capital rows whose HiGHS coefficients lag `lp.value`

    def apply(self, update: LPUpdate) -> None:
        h = self.h
        if len(update.cost_index):
            h.changeColsCost(len(update.cost_index), update.cost_index, update.cost_value)
        if len(update.bound_index):
            h.changeColsBounds(len(update.bound_index), update.bound_index, update.bound_lo, update.bound_hi)
            self._primal_feasible = False
        if len(update.coef_row):
            rows, cols, values = update.coef_row, update.coef_col, update.coef_value
            if len(update.coef_lazy):
                defer = update.coef_lazy & ~self._eager[rows] if self._any_eager else update.coef_lazy
                if defer.any():
                    assert self.lp is not None  # loaded before any update
                    self._stale.update(self.lp.lazy_rows.tolist())  # at most the capital rows: cheap to check all
                    if defer.all():
                        return self._bounds_and_rows(update)
                    send = ~defer
                    rows, cols, values = rows[send], cols[send], values[send]
            if len(rows):  # HiGHS has no batch coefficient change; map keeps the loop in C
                list(map(h.changeCoeff, rows.tolist(), cols.tolist(), values.tolist()))
        self._bounds_and_rows(update)

    def _bounds_and_rows(self, update: LPUpdate) -> None:
        if len(update.row_index):
            self.h.changeRowsBounds(len(update.row_index), update.row_index, update.row_lo, update.row_hi)
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
        self._eager = np.concatenate([self._eager, np.zeros(lp.num_row - len(self._eager), dtype=bool)])
        self._slack_solves = np.concatenate(
            [self._slack_solves, np.zeros(lp.num_row - len(self._slack_solves), dtype=np.int64)]
        )
        self._primal_feasible = False  # (appended rows are sent with current coefficients)

    def grown(self, growth: LPGrowth) -> None:
        """A set joined: its columns (no coefficients yet), then its rows, then its coefficients in
        the capital rows. The retained basis extends (new columns nonbasic, new rows' slacks basic),
        so the next run still hot-starts."""
        lp = self.lp
        assert lp is not None
        first = growth.first_col
        count = lp.num_col - first
        if count:
            none_i = np.zeros(0, dtype=np.int32)
            self.h.addCols(count, lp.cost[first:], lp.col_lo[first:], lp.col_hi[first:], 0, none_i, none_i, np.zeros(0))
        if lp.num_row > growth.first_row:
            self.rows_appended(growth.first_row)
        if len(growth.entry_row):  # sent current even in a stale capital row: its other entries stay stale
            list(
                map(
                    self.h.changeCoeff,
                    growth.entry_row.tolist(),
                    growth.entry_col.tolist(),
                    growth.entry_value.tolist(),
                )
            )
        self._primal_feasible = False

    def _send_row(self, row: int) -> None:
        """Send a capital row's current coefficients and keep it current from now on."""
        lp = self.lp
        assert lp is not None
        a, b = int(lp.start[row]), int(lp.start[row + 1])
        list(map(self.h.changeCoeff, [row] * (b - a), lp.index[a:b].tolist(), lp.value[a:b].tolist()))
        self._stale.discard(row)
        self._eager[row] = True
        self._slack_solves[row] = 0
        self._any_eager = True
        self._primal_feasible = False

    def solve(self, *, duals: bool = True) -> LPSolution:
        lp = self.lp
        assert lp is not None
        h = self.h
        x: np.ndarray | None = None
        while True:
            strategy = _PRIMAL_SIMPLEX if self._primal_feasible else _DUAL_SIMPLEX
            if strategy != self._strategy:
                h.setOptionValue("simplex_strategy", strategy)
                self._strategy = strategy
            checked_run(h, self.name)
            self._primal_feasible = True
            solution = h.getSolution()
            x = None
            checks = [r for r in self._stale if lp.row_hi[r] < np.inf]  # an unbounded row never binds
            if not checks and not self._any_eager:
                break
            activity = solution.row_value
            resend = []
            for row in checks:
                bound = lp.row_hi[row]
                slack = 1e-9 * max(1.0, abs(bound))
                if activity[row] >= bound - slack:
                    resend.append(row)  # the stale row binds: it must be current
                elif lp.row_reach.get(row, np.inf) > bound - slack:  # it might bind: check exactly
                    if x is None:
                        x = np.array(solution.col_value)
                    a, b = lp.start[row], lp.start[row + 1]
                    if float(np.dot(lp.value[a:b], x[lp.index[a:b]])) > bound + 1e-7 * max(1.0, abs(bound)):
                        resend.append(row)
            if resend:
                for row in resend:
                    self._send_row(row)
                continue
            if self._any_eager:
                for row in np.flatnonzero(self._eager).tolist():  # rows that stopped binding may lag again
                    if activity[row] < lp.row_hi[row] - 1e-6 * max(1.0, abs(lp.row_hi[row])):
                        self._slack_solves[row] += 1
                        if self._slack_solves[row] >= _SLACK_SOLVES:
                            self._eager[row] = False
                    else:
                        self._slack_solves[row] = 0
                self._any_eager = bool(self._eager.any())
            break
        return LPSolution(
            objective=h.getObjectiveValue(),
            x=x,
            row_dual=None,
            iterations=int(h.getInfoValue("simplex_iteration_count")[1]),
            backend=self.name,
            x_source=lambda: solution.col_value,
            dual_source=(lambda: solution.row_dual) if duals and solution.dual_valid else None,
        )


class HighsColdBackend(Backend):
    """A new HiGHS object, the whole model passed and solved from scratch at every solve."""

    name = "highs-cold"
    from_scratch = True

    def solve(self, *, duals: bool = True) -> LPSolution:
        assert self.lp is not None
        h = new_highs()
        pass_model(h, self.lp)
        checked_run(h, self.name)
        return _solution(h, self.name, duals)
