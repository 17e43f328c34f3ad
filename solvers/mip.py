"""The lot-integral MIP fallback, for the sets whose rounding lost too much, under a wall-clock limit.

The LP is copied with the other sets fixed at their verified plans; each instrument of the target sets
gets an integer count m of its rounding lots (its slots must add up to m x rounding lot, so a hedge
can still take 0.21 of a share from the next level), and an instrument with a venue minimum above
one rounding lot a binary y with max(min, low x lot) y <= m x lot <= high x lot x y (a
semi-continuous quantity: zero or at least the minimum). Slots stay continuous: they fill best first, so whole totals give whole
lots.

Each count ranges over a window [low, high] of `_WINDOW_LOTS` rounding lots either side of the LP's quantity
(the fallback recovers what rounding lost near the LP optimum; it does not re-plan from scratch),
and a semi-continuous instrument may always drop to zero. The window is what keeps the limit: HiGHS's
root reduced-cost fixing walks every value of every integer range and does not look at the clock
(measured: counts ranging over 500-2,500 lots on a 462-column parlay MIP held its root for 110 ms
against a 30 ms limit; a 0.01-share Polymarket leg 500 shares deep made a 400-column MIP overrun a
50 ms limit to 140 ms).

The limit holds with the model build included: the build is timed, HiGHS gets the time left, and a
callback interrupts it at the deadline wherever it checks (MIP and simplex loops). Restarts are off
(a restart re-presolves without looking at the clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import highspy
import numpy as np

from solvers.backends.highs import new_highs, pass_model
from solvers.formulation import Formulation
from solvers.lp import LinearProgram, RowBlock

__all__ = ["lot_integral_mip"]

_MS = highspy.HighsModelStatus
_WINDOW_LOTS = 64
_EARLY_STOP = 0.1


def lot_integral_mip(
    form: Formulation,
    targets: set[int],
    fixed: np.ndarray,
    center: np.ndarray,
    *,
    time_limit_ms: float,
    clock: Callable[[], float] = time.perf_counter,
) -> np.ndarray | None:
    """Contracts per column of the best lot-integral plan found for the set indices `targets` (other
    sets' level columns fixed at `fixed` contracts, the targets' counts within a window around
    `center`, the LP's contracts per column), or None when nothing feasible was found in time.
    `clock` is in seconds (injectable for tests)."""
    started = clock()
    # HiGHS notices an interrupt within a few milliseconds and then cleans up: stop it a little early
    deadline = started + time_limit_ms / 1000.0 * (1.0 - _EARLY_STOP)
    lp = form.lp
    n = lp.num_col
    col_lo, col_hi = lp.col_lo.copy(), lp.col_hi.copy()
    target_rows = np.flatnonzero(np.isin(form.row_set, sorted(targets)))
    in_target = np.zeros(n, dtype=bool)
    in_target[form.slot_matrix[target_rows]] = True
    others = form.level_cols[~in_target[form.level_cols]]
    col_lo[others] = col_hi[others] = np.minimum(fixed[others], col_hi[others])
    matrix = form.slot_matrix[target_rows]
    depth = (col_hi[matrix]).sum(axis=1)
    lot = form.rounding_lot[target_rows]
    minimum = form.min_order[target_rows]
    counts = np.floor(depth / lot + 1e-9)
    middle = np.maximum(center[matrix], 0.0).sum(axis=1) / lot
    high = np.minimum(np.ceil(middle - 1e-9) + _WINDOW_LOTS, counts)
    low = np.minimum(np.maximum(np.floor(middle + 1e-9) - _WINDOW_LOTS, 0.0), high)
    k = len(target_rows)
    semi = np.flatnonzero(minimum > lot + 1e-9)
    new_cols = k + len(semi)
    rows: list[tuple[np.ndarray, np.ndarray, float, float]] = []
    for j in range(k):  # sum of slots - lot x m = 0
        cols = np.concatenate([matrix[j], [n + j]]).astype(np.int32)
        values = np.concatenate([np.ones(matrix.shape[1]), [-lot[j]]])
        rows.append((cols, values, 0.0, 0.0))
    count_lo = low.copy()
    for s, j in enumerate(semi.tolist()):  # max(min, lot low) y <= lot m <= lot high y: zero stays allowed
        y = n + k + s
        count_lo[j] = 0.0
        least_contracts = max(minimum[j], lot[j] * low[j])
        rows.append((np.array([n + j, y], np.int32), np.array([lot[j], -least_contracts]), 0.0, np.inf))
        rows.append((np.array([n + j, y], np.int32), np.array([lot[j], -lot[j] * high[j]]), -np.inf, 0.0))
    block = RowBlock.from_rows(rows)
    model = LinearProgram(
        cost=np.concatenate([lp.cost, np.zeros(new_cols)]),
        col_lo=np.concatenate([col_lo, count_lo, np.zeros(len(semi))]),
        col_hi=np.concatenate([col_hi, high, np.ones(len(semi))]),
        row_lo=np.concatenate([lp.row_lo, block.lo]),
        row_hi=np.concatenate([lp.row_hi, block.hi]),
        start=np.concatenate([lp.start, block.start[1:] + lp.start[-1]]).astype(np.int32),
        index=np.concatenate([lp.index, block.index]).astype(np.int32),
        value=np.concatenate([lp.value, block.value]),
    )
    integer = np.zeros(n + new_cols, dtype=bool)
    integer[n:] = True
    left_s = deadline - clock()
    if left_s <= 0:
        return None
    h = new_highs(
        time_limit=left_s,
        mip_rel_gap=1e-6,
        mip_allow_restart=False,
        # sub-MIP heuristics, the feasibility jump and symmetry detection cost more than they find on
        # these small models: measured 31 -> 11 ms on a two-set instance, the same optimum
        mip_heuristic_run_rins=False,
        mip_heuristic_run_rens=False,
        mip_heuristic_run_feasibility_jump=False,
        mip_detect_symmetry=False,
        # a node budget, so that a fallback that finishes does so the same way every time (the
        # wall-clock limit is the guard; a solve it cuts short may depend on the machine's load)
        mip_max_nodes=2_000,
    )
    pass_model(h, model, integer=integer)

    def stop_at_deadline(event: highspy.HighsCallbackEvent) -> None:
        if clock() >= deadline:
            event.interrupt()

    h.cbMipInterrupt.subscribe(stop_at_deadline)
    h.cbSimplexInterrupt.subscribe(stop_at_deadline)
    h.run()
    status = h.getModelStatus()
    if status in (_MS.kInfeasible, _MS.kUnbounded, _MS.kUnboundedOrInfeasible):
        return None
    if h.getInfo().primal_solution_status != 2:  # 2 = feasible
        return None
    x = np.asarray(h.getSolution().col_value)[:n]
    return np.where(np.isfinite(x), x, 0.0)
