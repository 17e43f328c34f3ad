"""Order execution: start-up recovery (`recovery`)."""

from arb.execution.recovery import Difference, RecoveryConfig, RecoveryError, RecoveryReport, normalise_fill, recover

__all__ = ["Difference", "RecoveryConfig", "RecoveryError", "RecoveryReport", "normalise_fill", "recover"]
