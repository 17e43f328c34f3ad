"""Configured risk limits: one frozen record, units in the field names, validated on construction."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from arb.errors import ConfigError

__all__ = ["RiskLimits"]


def _decimal(name: str, value: object) -> Decimal:
    """Money and quantities are exact: a Decimal, an int or a decimal string; never a float."""
    if isinstance(value, (bool, float)):
        raise ConfigError(f"risk limit {name} must be exact (a decimal string or an integer), was {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except InvalidOperation:
            raise ConfigError(f"risk limit {name} must be a decimal number, was {value!r}") from None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ConfigError(f"risk limit {name} must be a finite decimal number, was {value!r}")
    return value


def _non_negative(name: str, value: object) -> Decimal:
    number = _decimal(name, value)
    if number < 0:
        raise ConfigError(f"risk limit {name} must be zero or more, was {number}")
    return number


def _per_key(name: str, value: object) -> Mapping[str, Decimal]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"risk limit {name} must be a table of name -> number, was {type(value).__name__}")
    out = {}
    for key, amount in value.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"risk limit {name} keys must be non-empty strings, was {key!r}")
        out[key] = _non_negative(f"{name}.{key}", amount)
    return MappingProxyType(out)


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits every entry must respect.

    cash_per_venue_usd: most cash committed on each venue (a venue not listed may not be traded)
    max_contracts_per_contract: most contracts held on one contract and side after a plan
    max_contracts_per_set: most contracts held over one candidate set after a plan
    max_open_plans: most plans executing or being repaired at once
    notional_per_link_class_usd: most notional per settlement-risk class of link (the curated
        link's `settlement_risk`, "identical_rules" for risk-free links; a class not listed may not
        be traded)
    daily_loss_halt_usd: trading halts once the day's loss reaches this
    drawdown_halt_usd: trading halts once equity falls this far below its peak
    min_profit_usd: least guaranteed profit of a plan worth sending
    max_partial_fill_loss_usd: bound on the worst loss over every reachable partial-fill vector
    kelly_fraction: fraction of the Kelly stake allowed on settlement-risk links, in (0, 1]
    max_book_age_ms: a book older than this is stale
    disagreement_probability_per_link_class: configured probability that a link of the class
        settles its two sides differently, in [0, 1); the Kelly cap uses the larger of it and the
        probability a plan states for the link
    """

    cash_per_venue_usd: Mapping[str, Decimal]
    max_contracts_per_contract: Decimal
    max_contracts_per_set: Decimal
    max_open_plans: int
    notional_per_link_class_usd: Mapping[str, Decimal]
    daily_loss_halt_usd: Decimal
    drawdown_halt_usd: Decimal
    min_profit_usd: Decimal
    max_partial_fill_loss_usd: Decimal
    kelly_fraction: Decimal = Decimal("0.25")
    max_book_age_ms: int = 2000
    disagreement_probability_per_link_class: Mapping[str, Decimal] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "cash_per_venue_usd", _per_key("cash_per_venue_usd", self.cash_per_venue_usd))
        set_(
            self,
            "notional_per_link_class_usd",
            _per_key("notional_per_link_class_usd", self.notional_per_link_class_usd),
        )
        for name in (
            "max_contracts_per_contract",
            "max_contracts_per_set",
            "daily_loss_halt_usd",
            "drawdown_halt_usd",
            "min_profit_usd",
            "max_partial_fill_loss_usd",
        ):
            set_(self, name, _non_negative(name, getattr(self, name)))
        for name in ("daily_loss_halt_usd", "drawdown_halt_usd"):
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"risk limit {name} must be positive (a zero halt stops every trade), was {getattr(self, name)}"
                )
        probabilities = _per_key(
            "disagreement_probability_per_link_class", self.disagreement_probability_per_link_class
        )
        for key, probability in probabilities.items():
            if probability >= 1:
                raise ConfigError(
                    f"risk limit disagreement_probability_per_link_class.{key} must be below 1, was {probability}"
                )
        set_(self, "disagreement_probability_per_link_class", probabilities)
        kelly = _decimal("kelly_fraction", self.kelly_fraction)
        if not 0 < kelly <= 1:
            raise ConfigError(f"risk limit kelly_fraction must be in (0, 1], was {kelly}")
        set_(self, "kelly_fraction", kelly)
        for name, least in (("max_open_plans", 1), ("max_book_age_ms", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"risk limit {name} must be an integer of at least {least}, was {value!r}")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> RiskLimits:
        """From a parsed config table (e.g. TOML `[risk]`): unknown keys are refused by name,
        missing required keys are named."""
        if not isinstance(raw, Mapping):
            raise ConfigError(f"risk limits must be a table, was {type(raw).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(str(k) for k in raw if k not in fields)
        if unknown:
            raise ConfigError(f"unknown risk limit keys: {', '.join(unknown)} (known: {', '.join(sorted(fields))})")
        required = [
            name
            for name, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in raw]
        if missing:
            raise ConfigError(f"missing risk limit keys: {', '.join(missing)}")
        return cls(**dict(raw))
