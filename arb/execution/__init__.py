"""Execution: sending plans, repairing partial fills."""

from arb.execution.repair import (
    Exposure,
    RepairConfig,
    RepairDecision,
    RepairInputError,
    RepairPlanner,
    RepairStatus,
    exposure,
    is_hedged,
)

__all__ = ["Exposure", "RepairConfig", "RepairDecision", "RepairInputError", "RepairPlanner", "RepairStatus"]
__all__ += ["exposure", "is_hedged"]
