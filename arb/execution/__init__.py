"""Execution: plans to venue orders (`orders`), the executor that sends, tracks, reconciles and
repairs them (`executor`), start-up recovery of the ledger against the venues (`recovery`), the
loopback stage of simulated venues it is tested on (`loopback`), and the paper venue that fills
orders against live books without sending anything (`paper`)."""

from arb.execution.executor import (
    ExecutionReport,
    ExecutionStatus,
    Executor,
    ExecutorConfig,
    LegLatency,
    OrderReport,
    RepairDecisionLike,
    RepairPlanning,
    TrackedOrder,
)
from arb.execution.orders import (
    ExecutionOrderConfig,
    LegPart,
    PlannedOrder,
    RoutedFill,
    leg_micro,
    part_totals,
    plan_orders,
    route_fill,
)
from arb.execution.recovery import Difference, RecoveryConfig, RecoveryError, RecoveryReport, normalise_fill, recover
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

__all__ = [
    "ExecutionOrderConfig",
    "ExecutionReport",
    "ExecutionStatus",
    "Executor",
    "ExecutorConfig",
    "LegLatency",
    "LegPart",
    "OrderReport",
    "PlannedOrder",
    "RepairDecisionLike",
    "RepairPlanning",
    "RoutedFill",
    "TrackedOrder",
    "leg_micro",
    "part_totals",
    "plan_orders",
    "route_fill",
]
__all__ += ["Exposure", "RepairConfig", "RepairDecision", "RepairInputError", "RepairPlanner", "RepairStatus"]
__all__ += ["exposure", "is_hedged"]
__all__ += ["Difference", "RecoveryConfig", "RecoveryError", "RecoveryReport", "normalise_fill", "recover"]
