"""Errors of the risk layer, inside the engine's error tree."""

from __future__ import annotations

from arb.errors import ArbError

__all__ = ["RiskInputError"]


class RiskInputError(ArbError, ValueError):
    """A plan, outcome set or holding handed to the risk layer is malformed; the message says which."""
