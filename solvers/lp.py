"""The solver-neutral linear program every backend translates, and the updates applied to it.

    minimise    cost . x
    subject to  row_lo <= A x <= row_hi      (A row-wise: start / index / value, CSR)
                col_lo <= x <= col_hi        (+-inf where open; integrality 1 marks integer columns)

The formulation owns one `LinearProgram` and edits it in place on every book tick; the same edit
is handed to the backend as an `LPUpdate` so a persistent solver can apply it without a rebuild.
Rows are only ever appended (constraint generation, netting, a new set's rows), so a coefficient
update is a write into `value`. The one structural edit inside existing rows is a new candidate
set's columns entering the shared capital rows (`LPGrowth`); the formulation then shifts the CSR
positions it keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from solvers.errors import DataError

__all__ = ["LPGrowth", "LPSolution", "LPUpdate", "LinearProgram", "RowBlock"]

_EMPTY_I = np.zeros(0, dtype=np.int32)
_EMPTY_F = np.zeros(0)
_EMPTY_B = np.zeros(0, dtype=bool)
for _array in (_EMPTY_I, _EMPTY_F, _EMPTY_B):
    _array.setflags(write=False)  # shared defaults: never written


@dataclass(slots=True)
class RowBlock:
    """Rows to append, in CSR form relative to the block."""

    lo: np.ndarray
    hi: np.ndarray
    start: np.ndarray  # len(lo) + 1 offsets into index/value
    index: np.ndarray
    value: np.ndarray

    @classmethod
    def from_rows(cls, rows: list[tuple[np.ndarray, np.ndarray, float, float]]) -> RowBlock:
        """Build from [(cols, values, lo, hi), ...]."""
        starts = np.zeros(len(rows) + 1, dtype=np.int32)
        for k, (cols, _, _, _) in enumerate(rows):
            starts[k + 1] = starts[k] + len(cols)
        index = np.concatenate([r[0] for r in rows]).astype(np.int32) if rows else _EMPTY_I
        value = np.concatenate([r[1] for r in rows]).astype(float) if rows else _EMPTY_F
        lo = np.array([r[2] for r in rows], dtype=float)
        hi = np.array([r[3] for r in rows], dtype=float)
        return cls(lo, hi, starts, index, value)

    @property
    def count(self) -> int:
        return len(self.lo)


@dataclass(slots=True)
class LinearProgram:
    cost: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray
    integrality: np.ndarray | None = None
    # CSR positions of coefficients that book ticks rewrite (price-dependent rows)
    param_positions: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    # upper-bounded capital rows whose price coefficients a persistent backend may defer while the
    # row cannot bind; `value` always holds their current coefficients
    lazy_rows: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    # for lazy rows: an upper bound on the row's activity over the columns' book bounds
    row_reach: dict[int, float] = field(default_factory=dict)
    objective_offset: float = 0.0

    @property
    def num_col(self) -> int:
        return len(self.cost)

    @property
    def num_row(self) -> int:
        return len(self.row_lo)

    @property
    def num_nz(self) -> int:
        return int(self.start[-1])

    def matrix(self) -> sp.csr_array:
        return sp.csr_array((self.value, self.index, self.start), shape=(self.num_row, self.num_col))

    def row_of_position(self) -> np.ndarray:
        """Row index of every stored coefficient."""
        return np.repeat(np.arange(self.num_row, dtype=np.int32), np.diff(self.start))

    def append(self, block: RowBlock) -> int:
        """Append rows; returns the index of the first new row."""
        first = self.num_row
        self.row_lo = np.concatenate([self.row_lo, block.lo])
        self.row_hi = np.concatenate([self.row_hi, block.hi])
        self.start = np.concatenate([self.start, block.start[1:] + self.start[-1]]).astype(np.int32)
        self.index = np.concatenate([self.index, block.index]).astype(np.int32)
        self.value = np.concatenate([self.value, block.value])
        return first

    def validate(self) -> None:
        """Reject NaN anywhere and infinities where they make no sense, before any backend runs."""
        for name in ("cost", "value"):
            array = getattr(self, name)
            if not np.all(np.isfinite(array)):
                bad = int(np.flatnonzero(~np.isfinite(array))[0])
                raise DataError(f"LP {name}[{bad}] is not finite, was {array[bad]}")
        for name in ("col_lo", "col_hi", "row_lo", "row_hi"):
            array = getattr(self, name)
            if np.isnan(array).any():
                raise DataError(f"LP {name} contains NaN at {int(np.flatnonzero(np.isnan(array))[0])}")
        if np.any(self.col_lo > self.col_hi) or np.any(self.row_lo > self.row_hi):
            raise DataError("LP has a lower bound above its upper bound")
        if np.any(self.col_lo == np.inf) or np.any(self.col_hi == -np.inf):
            raise DataError("LP has a column bound at the wrong infinity")


def _empty_i() -> np.ndarray:
    return _EMPTY_I


def _empty_f() -> np.ndarray:
    return _EMPTY_F


def _empty_b() -> np.ndarray:
    return _EMPTY_B


@dataclass(slots=True)
class LPUpdate:
    """One batch of in-place edits (already applied to the formulation's LinearProgram)."""

    cost_index: np.ndarray = field(default_factory=_empty_i)
    cost_value: np.ndarray = field(default_factory=_empty_f)
    bound_index: np.ndarray = field(default_factory=_empty_i)
    bound_lo: np.ndarray = field(default_factory=_empty_f)
    bound_hi: np.ndarray = field(default_factory=_empty_f)
    coef_row: np.ndarray = field(default_factory=_empty_i)
    coef_col: np.ndarray = field(default_factory=_empty_i)
    coef_value: np.ndarray = field(default_factory=_empty_f)
    coef_lazy: np.ndarray = field(default_factory=_empty_b)  # deferrable entries
    row_index: np.ndarray = field(default_factory=_empty_i)
    row_lo: np.ndarray = field(default_factory=_empty_f)
    row_hi: np.ndarray = field(default_factory=_empty_f)

    @property
    def empty(self) -> bool:
        return not (len(self.cost_index) or len(self.bound_index) or len(self.coef_row) or len(self.row_index))


class LPSolution:
    """What a backend returns for an optimal solve (other statuses raise). Primal values and row
    duals may be read lazily from a snapshot the backend took at solve time: a hot-path tick that
    only needs the objective does not pay for converting them."""

    __slots__ = ("_dual_source", "_row_dual", "_x", "_x_source", "backend", "iterations", "objective")

    def __init__(
        self,
        objective: float,
        x: np.ndarray | None,
        row_dual: np.ndarray | None,
        iterations: int,
        backend: str,
        *,
        x_source: Callable[[], Sequence[float]] | None = None,
        dual_source: Callable[[], Sequence[float]] | None = None,
    ) -> None:
        self.objective = objective
        self.iterations = iterations
        self.backend = backend
        self._x, self._x_source = x, x_source
        self._row_dual, self._dual_source = row_dual, dual_source

    @property
    def x(self) -> np.ndarray:
        if self._x is None:
            assert self._x_source is not None
            self._x, self._x_source = np.array(self._x_source()), None
        return self._x

    @property
    def row_dual(self) -> np.ndarray | None:
        if self._row_dual is None and self._dual_source is not None:
            self._row_dual, self._dual_source = np.array(self._dual_source()), None
        return self._row_dual


@dataclass(frozen=True, slots=True)
class LPGrowth:
    """A structural change the formulation already made to its `LinearProgram`: columns
    `first_col..` and rows `first_row..` appended (with their current bounds, costs and
    coefficients), and coefficients inserted into rows that existed before (the shared capital
    rows gaining a new set's columns; their current values)."""

    first_col: int
    first_row: int
    entry_row: np.ndarray
    entry_col: np.ndarray
    entry_value: np.ndarray
