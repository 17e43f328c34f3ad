"""Worst loss over every reachable partial-fill vector of a plan, in exact arithmetic.

A plan's legs go out together and each may fill anywhere from 0 to its quantity in whole lots
(an all-or-nothing leg, FOK, fills 0 or all), at any prices at or better than its limit and in any
split into fills the venue chooses.

The bound per leg and lot count k starts from k lots filled at the limit price L with the venue's
exact fee at the worst split (`FeeRule.worst_order_fee`, as the planner prices full fills), and adds
`rounding_slack`, a proven cap on what fee rounding can take back when lots fill at better prices
(`FeeRule.better_price_slack`, where the proof is: solvers/fees.py; the planner adds the same cap to
every leg it prices, so a full fill's figure here equals the plan's `Leg.fee_usd` for a one-level
leg). Where a better price moves away from 1/2 (a BUY with L <= 1/2, a SELL with L >= 1/2) the cap
is zero; otherwise it is inc_o - gcd(lot x tick, inc_o) for the order increment inc_o ($0.009 on a
deci-cent Kalshi market, zero on whole-cent ticks of whole contracts), and looser when the tick is
unknown.

The slack does not fall as k grows (so the fee bound is non-decreasing in k), which the search below
relies on. For a fixed outcome the legs' contributions add, so the worst vector is each leg at its
own worst lot count. A leg's value at k lots is a*k - fee(k) with a = lot x (payoff - price) for a
buy (lot x (price - payoff) for a sell) and fee(k) >= 0 non-decreasing in k. If a <= 0 the value is
non-increasing, so k = all is the worst. If a > 0 then a*k - fee(k) >= a*k - fee(all) >= 0 =
value(0) for every k >= fee(all)/a, so only k < fee(all)/a can beat k = 0: those are enumerated
exactly. The leg's value depends on the outcome only through its payoff (0 or 1), so each leg is
minimised twice, not once per outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING

from arb.risk.errors import RiskInputError
from solvers.errors import DataError
from solvers.fees import FeeRule
from solvers.outcomes import OutcomeSystem
from solvers.plan import Action, Leg
from solvers.problem import Side

if TYPE_CHECKING:
    from arb.graph import Listing

__all__ = [
    "FillableLeg",
    "PartialFillRisk",
    "fill_vector_value",
    "fillable_legs",
    "outcome_assignments",
    "worst_partial_fill_loss",
]

_ZERO = Decimal(0)

Holdings = Mapping[tuple[str, Side], Decimal]
"""Held quantity per (contract id, side), in contracts."""


@dataclass(frozen=True, slots=True)
class FillableLeg:
    """A plan leg with what its partial fills depend on: the instrument's fee rule, its lot size
    (contracts), whether the order fills all or nothing (FOK) and the price grid every fill price
    lies on (`tick_usd`: the market's finest tick; None when unknown, which costs a looser bound)."""

    leg: Leg
    fee: FeeRule
    lot_size: Decimal
    all_or_none: bool = False
    tick_usd: Decimal | None = None

    @classmethod
    def from_listing(
        cls, leg: Leg, listing: Listing, *, all_or_none: bool = False, tick_usd: Decimal | None = None
    ) -> FillableLeg:
        """The leg as the venue will trade it: the listing's taker fee, lot size and tick (the
        finest of the market's price bands). Pass `tick_usd` when the venue has since announced a
        finer tick (a Polymarket `tick_size_change`): the bound needs the finest grid a fill may
        land on."""
        micro = Decimal(1_000_000)
        return cls(
            leg,
            listing.taker_fee,
            Decimal(listing.lot_size_micro) / micro,
            all_or_none=all_or_none,
            tick_usd=Decimal(listing.tick_size_micro) / micro if tick_usd is None else tick_usd,
        )

    def __post_init__(self) -> None:
        if not isinstance(self.lot_size, Decimal) or not self.lot_size.is_finite() or self.lot_size <= 0:
            raise RiskInputError(
                f"leg {self.leg.instrument_id}: lot_size must be a positive Decimal, was {self.lot_size!r}"
            )
        lots = self.leg.quantity / self.lot_size
        if self.leg.quantity <= 0 or lots != lots.to_integral_value():
            raise RiskInputError(
                f"leg {self.leg.instrument_id}: quantity {self.leg.quantity} is not a positive whole number of lots of {self.lot_size}"
            )
        if not (0 <= self.leg.limit_price <= 1):
            raise RiskInputError(
                f"leg {self.leg.instrument_id}: limit price must be within [0, 1], was {self.leg.limit_price}"
            )
        if self.tick_usd is not None:
            if not isinstance(self.tick_usd, Decimal) or not self.tick_usd.is_finite() or self.tick_usd <= 0:
                raise RiskInputError(
                    f"leg {self.leg.instrument_id}: tick_usd must be a positive Decimal or None, was {self.tick_usd!r}"
                )
            if self.leg.limit_price % self.tick_usd:
                raise RiskInputError(
                    f"leg {self.leg.instrument_id}: limit price {self.leg.limit_price} is off the tick {self.tick_usd}"
                )

    @property
    def lots(self) -> int:
        return int(self.leg.quantity / self.lot_size)

    def fee_of(self, lots: int) -> Decimal:
        """Most that `lots` can cost beyond their price at the limit: the exact fee at the limit price
        (worst split of the fills) plus `rounding_slack` (fills at better prices). Non-decreasing in
        `lots`."""
        if lots == 0:
            return _ZERO
        at_limit = self.fee.worst_order_fee([(self.leg.limit_price, self.lot_size * lots)], self.lot_size)
        return at_limit + self.rounding_slack(lots)

    def fee_can_rise(self) -> bool:
        """Whether a fill at a better price can pay a larger fee than at the limit: only when the
        better prices lie towards 1/2, where P(1 - P) peaks."""
        return FeeRule.fee_can_rise(self.leg.limit_price, buy=self.leg.action is Action.BUY)

    def rounding_slack(self, lots: int) -> Decimal:
        """Proven cap on how much more `lots` can cost, fee rounding included, when they fill at
        prices better than the limit than when they fill at it (`FeeRule.better_price_slack`)."""
        try:
            return self.fee.better_price_slack(
                self.leg.limit_price,
                buy=self.leg.action is Action.BUY,
                lot=self.lot_size,
                lots=lots,
                tick=self.tick_usd,
            )
        except DataError as error:
            raise RiskInputError(f"leg {self.leg.instrument_id}: {error}") from None

    def value(self, lots: int, payoff: int) -> Decimal:
        """Least value change of `lots` filled (at the limit or better, in any split) when the leg's
        instrument pays `payoff` (0 or 1) per contract."""
        quantity = self.lot_size * lots
        if self.leg.action is Action.BUY:
            return quantity * (payoff - self.leg.limit_price) - self.fee_of(lots)
        return quantity * (self.leg.limit_price - payoff) - self.fee_of(lots)

    def worst(self, payoff: int) -> tuple[Decimal, int]:
        """(least value, lot count reaching it) over the reachable lot counts; ties go to fewer lots."""
        full = self.lots
        candidates: range | tuple[int, ...]
        per_lot = self.value(1, payoff) + self.fee_of(1)  # a: the lot's value before fees
        if self.all_or_none or per_lot <= 0:
            candidates = (0, full)
        else:
            below = (self.fee_of(full) / per_lot).to_integral_value(rounding=ROUND_CEILING)
            candidates = range(min(full + 1, int(below)))  # exactly the k < fee(all) / a (k = 0 is the start)
        best_value, best_lots = _ZERO, 0
        for lots in candidates:
            value = self.value(lots, payoff)
            if value < best_value:
                best_value, best_lots = value, lots
        return best_value, best_lots


@dataclass(frozen=True, slots=True)
class PartialFillRisk:
    """worst_value_change_usd: the least, over outcomes and reachable fill vectors, of the
    portfolio's worst-case value change (without holdings: of the filled trades' value);
    loss_usd: max(0, -worst_value_change_usd); worst_outcome / worst_fill_lots: where it happens
    (lots per leg, in the plan's leg order)."""

    worst_value_change_usd: Decimal
    loss_usd: Decimal
    worst_outcome: Mapping[str, int]
    worst_fill_lots: tuple[int, ...]


def _pays(assignment: Mapping[str, int], contract: str, side: Side) -> int:
    try:
        yes = assignment[contract]
    except KeyError:
        raise RiskInputError(f"outcome does not say how contract {contract!r} resolves") from None
    if yes not in (0, 1):
        raise RiskInputError(f"outcome value of {contract!r} must be 0 or 1, was {yes!r}")
    return yes if side is Side.YES else 1 - yes


def worst_partial_fill_loss(
    legs: Sequence[FillableLeg],
    outcomes: Sequence[Mapping[str, int]],
    holdings: Holdings | None = None,
) -> PartialFillRisk:
    """The worst value change over every reachable partial-fill vector of `legs` in every outcome
    (contract id -> 1 if it resolves YES). With `holdings`, the change of the portfolio's worst-case
    value: min over outcomes of (holdings + fills) minus min over outcomes of holdings."""
    if not outcomes:
        raise RiskInputError("worst_partial_fill_loss needs at least one outcome")
    held = dict(holdings or {})
    for (contract, _), quantity in held.items():
        if not isinstance(quantity, Decimal) or not quantity.is_finite():
            raise RiskInputError(f"holding of {contract!r} must be a finite Decimal, was {quantity!r}")
    per_leg = [(leg.worst(0), leg.worst(1)) for leg in legs]
    held_values = [sum((q * _pays(o, contract, side) for (contract, side), q in held.items()), _ZERO) for o in outcomes]
    baseline = min(held_values) if held else _ZERO
    worst: tuple[Decimal, int, tuple[int, ...]] | None = None
    for index, outcome in enumerate(outcomes):
        total = held_values[index] - baseline
        lots = []
        for leg, by_payoff in zip(legs, per_leg):
            value, count = by_payoff[_pays(outcome, leg.leg.contract, leg.leg.side)]
            total += value
            lots.append(count)
        if worst is None or total < worst[0]:
            worst = (total, index, tuple(lots))
    assert worst is not None
    value, index, lots_vector = worst
    return PartialFillRisk(value, max(_ZERO, -value), dict(outcomes[index]), lots_vector)


def fillable_legs(
    legs: Sequence[Leg], listings: Iterable[Listing], *, all_or_none: bool | Callable[[Leg], bool] = False
) -> tuple[FillableLeg, ...]:
    """A plan's legs as the venues will trade them, through the component's listings (matched by
    instrument id; a leg without a listing is an error, never guessed). `all_or_none`: whether a
    leg goes out FOK, for all legs or per leg."""
    by_instrument = {listing.instrument_id: listing for listing in listings}
    out = []
    for leg in legs:
        listing = by_instrument.get(leg.instrument_id)
        if listing is None:
            raise RiskInputError(f"leg {leg.instrument_id}: no listing for the instrument")
        fok = all_or_none(leg) if callable(all_or_none) else all_or_none
        out.append(FillableLeg.from_listing(leg, listing, all_or_none=fok))
    return tuple(out)


def fill_vector_value(
    legs: Sequence[FillableLeg], lots: Sequence[int], outcome: Mapping[str, int], holdings: Holdings | None = None
) -> Decimal:
    """Value change of one fill vector (lots per leg) in one outcome, plus the holdings' payoff
    there (the realised figure the executor compares with the pre-trade bound)."""
    if len(lots) != len(legs):
        raise RiskInputError(f"fill vector has {len(lots)} entries for {len(legs)} legs")
    total = sum((q * _pays(outcome, contract, side) for (contract, side), q in (holdings or {}).items()), _ZERO)
    for leg, count in zip(legs, lots):
        if not 0 <= count <= leg.lots or (leg.all_or_none and count not in (0, leg.lots)):
            raise RiskInputError(f"leg {leg.leg.instrument_id} cannot fill {count} lots")
        total += leg.value(count, _pays(outcome, leg.leg.contract, leg.leg.side))
    return total


def outcome_assignments(system: OutcomeSystem, contracts: Sequence[str], limit: int) -> list[dict[str, int]]:
    """Every feasible outcome of `system` as contract id -> 1 if YES; an error when there are more
    than `limit` (the bound must then be checked another way, never skipped)."""
    found = system.enumerate(limit)
    if found is None:
        raise RiskInputError(f"more than {limit} feasible outcomes: too many to enumerate for the partial-fill bound")
    return [{c: system.contract_value(row.tolist(), c) for c in contracts} for row in found]
