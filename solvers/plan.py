"""What the allocator returns: verified plans with exact money, plus the LP's duals as prices."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from solvers.problem import Side

__all__ = ["Action", "AllocationResult", "DroppedSet", "Leg", "LevelTake", "Outcome", "SetPlan"]


class Action(enum.Enum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class LevelTake:
    """Planned take of `quantity` at one book level, at that level's `price`."""

    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class Leg:
    """One order: `action` `quantity` of (venue, contract, side) sweeping `levels`, never beyond
    `limit_price`. `fee_usd` is the most the venue can charge when every lot fills at its level's
    price or better, in any split (`FeeRule.worst_fee_at_or_better`). `cash_flow_usd` is exact:
    negative for a buy (cost plus fee), positive for a sell (proceeds minus fee)."""

    instrument_id: str
    venue: str
    contract: str
    side: Side
    action: Action
    quantity: Decimal
    limit_price: Decimal
    levels: tuple[LevelTake, ...]
    fee_usd: Decimal
    cash_flow_usd: Decimal


@dataclass(frozen=True, slots=True)
class Outcome:
    """A joint outcome (contract id -> 1 if it resolves YES) and its dual weight."""

    assignment: Mapping[str, int]
    weight: float


@dataclass(frozen=True, slots=True)
class SetPlan:
    """A verified plan for one candidate set.

    guaranteed_profit_usd: exact guaranteed gain after rounding and worst-case exact fees, in the
        plan's objective: `riskless`, the least the new trades pay in any feasible outcome plus their
        cash flow (on top of whatever is held); `worst_case`, the rise of the portfolio's worst-case
        value
    guaranteed_payout_usd: the new trades' least payoff over the outcomes (riskless; worst_case:
        the rise of the holdings' least payoff), the "$1 of payout" that per-payout limits refer to
    lp_profit_usd: the LP's continuous figure with linear fees, before rounding
    worst_outcome: the exact minimiser of the plan's payoff
    settlement_worst_usd: worst value change over outcomes where risky links disagree (None when
        the set has no risky links)
    capital_by_venue_usd: cash committed per venue (buys minus sale proceeds, fees included)
    binding_outcomes / coherent_prices: from the LP duals (the worst cases that price the plan,
        and the outcome-probability vector at which no further trade pays)
    """

    set_id: str
    legs: tuple[Leg, ...]
    guaranteed_profit_usd: Decimal
    lp_profit_usd: float
    worst_outcome: Mapping[str, int]
    settlement_worst_usd: Decimal | None
    capital_by_venue_usd: Mapping[str, Decimal]
    binding_outcomes: tuple[Outcome, ...]
    coherent_prices: Mapping[str, float]
    method: str
    objective: str = "riskless"
    guaranteed_payout_usd: Decimal = Decimal(0)

    @property
    def capital_usd(self) -> Decimal:
        """Cash committed over all venues (buys minus sale proceeds, fees included)."""
        return sum(self.capital_by_venue_usd.values(), Decimal(0))

    @property
    def return_on_capital(self) -> Decimal | None:
        """Guaranteed profit per dollar committed (None when the plan commits no capital)."""
        capital = self.capital_usd
        return self.guaranteed_profit_usd / capital if capital > 0 else None


@dataclass(frozen=True, slots=True)
class DroppedSet:
    """A set the LP traded that produced no plan, and why (never a silent drop)."""

    set_id: str
    reason: str
    lp_profit_usd: float
    exact_profit_usd: Decimal | None


@dataclass(frozen=True, slots=True)
class AllocationResult:
    plans: tuple[SetPlan, ...]
    dropped: tuple[DroppedSet, ...]
    lp_profit_usd: float
    guaranteed_profit_usd: Decimal
    capital_shadow_prices: Mapping[str, float] = field(default_factory=dict)
    cg_rounds: int = 0
    iterations: int = 0
    used_mip: bool = False
    objective: str = "riskless"
    repair_rounds: int = 0  # re-solves after exact checks (reserves raised, failed sets dropped)
