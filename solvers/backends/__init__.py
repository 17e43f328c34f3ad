"""LP backends behind the solver-neutral `LinearProgram`, by name."""

from __future__ import annotations

from collections.abc import Callable

from solvers.backends.base import Backend
from solvers.backends.highs import HighsColdBackend, HighsWarmBackend
from solvers.backends.references import CvxpyBackend, PulpCbcBackend, ScipyBackend
from solvers.errors import DataError

__all__ = ["BACKENDS", "LP_BACKEND_NAMES", "Backend", "make_backend"]

BACKENDS: dict[str, Callable[[], Backend]] = {
    "highs-warm": HighsWarmBackend,
    "highs-cold": HighsColdBackend,
    "scipy": ScipyBackend,
    "cvxpy": CvxpyBackend,
    "pulp-cbc": PulpCbcBackend,
}
LP_BACKEND_NAMES = tuple(BACKENDS)


def make_backend(name: str) -> Backend:
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise DataError(f"unknown backend, was {name!r}; one of {', '.join(BACKENDS)}") from None
    return factory()
