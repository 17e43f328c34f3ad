"""The one error tree of the optimization layer, arranged by what the caller should do next.

    SolverError                      anything raised by `solvers`
    ├── DataError (ValueError)       the input is wrong: NaN/Inf, negative size, price outside (0, 1),
    │                                unknown id, contradictory relations. Fix the data; never retried.
    ├── ModelStatusError             the solver ran and the model has no usable optimum
    │   ├── InfeasibleError          constraints contradict each other (relax limits or relations)
    │   ├── UnboundedError           a modelling bug: guaranteed profit can never be unbounded
    │   └── NumericalError           the solver gave up or disagrees with itself; re-solve cold
    ├── SolveTimeLimitError          a time limit hit before any usable incumbent
    └── BackendUnavailableError      a reference backend's library or binary is missing

Library errors (highspy, cvxpy, PuLP, scipy) are translated at the backend boundary with
`raise OurError(...) from exc`, so callers only ever catch these types.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "DataError",
    "InfeasibleError",
    "ModelStatusError",
    "NumericalError",
    "SolveTimeLimitError",
    "SolverError",
    "UnboundedError",
]


class SolverError(Exception):
    """Base class of every error raised by the optimization layer."""


class DataError(SolverError, ValueError):
    """Input data is invalid; the message names the offending field and value."""


class ModelStatusError(SolverError):
    """The solver finished without an optimal solution."""

    def __init__(self, message: str, *, backend: str = "", status: str = "") -> None:
        super().__init__(message)
        self.backend = backend
        self.status = status


class InfeasibleError(ModelStatusError):
    """The model is infeasible."""


class UnboundedError(ModelStatusError):
    """The model is unbounded (for the allocator this always signals a modelling bug)."""


class NumericalError(ModelStatusError):
    """Numerical trouble, an unexpected status, or an inconsistent answer."""


class SolveTimeLimitError(SolverError):
    """A time limit was reached with no usable solution."""


class BackendUnavailableError(SolverError):
    """A backend's library or executable is not installed."""
