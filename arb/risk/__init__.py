"""The pure risk layer: configured limits, pre-trade gates and the worst partial-fill loss."""

from arb.risk.errors import RiskInputError
from arb.risk.gates import (
    BookGate,
    BookStatus,
    CircuitBreakers,
    HaltEvent,
    Incidents,
    KillSwitch,
    LinkExposure,
    LossHalts,
    Notification,
    Notifier,
    PlanContext,
    RateBudget,
    Refusal,
    RiskGate,
    check_limits,
    check_partial_fill,
    kelly_cap,
)
from arb.risk.limits import RiskLimits
from arb.risk.partial_fill import (
    FillableLeg,
    PartialFillRisk,
    fill_vector_value,
    fillable_legs,
    outcome_assignments,
    worst_partial_fill_loss,
)

__all__ = [
    "BookGate",
    "BookStatus",
    "CircuitBreakers",
    "FillableLeg",
    "HaltEvent",
    "Incidents",
    "KillSwitch",
    "LinkExposure",
    "LossHalts",
    "Notification",
    "Notifier",
    "PartialFillRisk",
    "PlanContext",
    "RateBudget",
    "Refusal",
    "RiskGate",
    "RiskInputError",
    "RiskLimits",
    "check_limits",
    "check_partial_fill",
    "fill_vector_value",
    "fillable_legs",
    "kelly_cap",
    "outcome_assignments",
    "worst_partial_fill_loss",
]
