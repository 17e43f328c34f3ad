"""The backend seam: translate a `LinearProgram`, keep it in step with updates, solve it."""

from __future__ import annotations

import abc
from typing import ClassVar

from solvers.lp import LinearProgram, LPGrowth, LPSolution, LPUpdate

__all__ = ["Backend"]


class Backend(abc.ABC):
    """One LP solver behind the neutral problem.

    The formulation edits `lp` in place and then calls `apply` with the same edit, so a backend
    that rebuilds from `lp` at every solve can ignore `apply`, while a persistent one forwards it.
    """

    name: ClassVar[str]
    # solves each call from scratch: constraint generation restarts from its seed working set too
    from_scratch: ClassVar[bool] = False

    def __init__(self) -> None:
        self.lp: LinearProgram | None = None

    def load(self, lp: LinearProgram) -> None:
        lp.validate()
        self.lp = lp

    def apply(self, update: LPUpdate) -> None:  # noqa: B027 - optional hook
        """Forward an in-place edit of `lp` (already applied) to the solver's own model."""

    def rows_appended(self, first_row: int) -> None:  # noqa: B027 - optional hook
        """Rows `first_row..` were appended to `lp` (constraint generation)."""

    def grown(self, growth: LPGrowth) -> None:
        """Columns, rows and coefficients in existing rows were added to `lp` (a candidate set
        joined the model). By default the solver's model is rebuilt from `lp`; a persistent
        backend appends instead."""
        assert self.lp is not None
        self.load(self.lp)

    @abc.abstractmethod
    def solve(self, *, duals: bool = True) -> LPSolution:
        """Solve the current `lp` to optimality or raise a `ModelStatusError`; row duals are
        returned when asked for and the backend provides them."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release solver resources."""
