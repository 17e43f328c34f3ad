"""Venue fee schedules as data: one `FeeRule` expresses both venues' taker and maker fees.

A fill of C contracts at price P costs

    fee_fill  = round_fill( coefficient x multiplier x C x (P x (1 - P)) ** exponent
                            + flat_per_contract x C )
    fee_order = round_order( sum of fee_fill over the order's fills )

Kalshi (docs/venues.md#kalshi-fees, docs/money-model.md#kalshi-fees): coefficient 0.07 for takers (0.0175 maker on series with maker fees),
the series/event `fee_multiplier`, each fill rounded up to $0.0001, and the order total rounded up
to the member's precision ($0.01 for most API users, $0.0001 for direct members). For a single
fill this is the familiar round_up(0.07 x C x P x (1 - P)) to the cent.

Polymarket (docs/venues.md#polymarket-fees, docs/money-model.md#polymarket-fees): coefficient = the market's `feeSchedule.rate`, `exponent` from the
same schedule, takers only, floored to 5 decimals of collateral.

At a fixed price the fee is linear in quantity, so `unit_rate` (no rounding) is what the LP uses;
exact money always goes through `order_fee`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from solvers.errors import DataError

__all__ = [
    "ZERO_FEE",
    "FeeRule",
    "Rounding",
    "kalshi_fee",
    "polymarket_fee",
]

_ZERO = Decimal(0)
_ONE = Decimal(1)


class Rounding(enum.Enum):
    """How an amount is brought onto its increment."""

    UP = ROUND_CEILING  # towards +inf: the trader pays the fraction
    DOWN = ROUND_FLOOR  # towards -inf: the venue absorbs the fraction
    NEAREST = ROUND_HALF_EVEN  # banker's rounding


def _quantize(amount: Decimal, increment: Decimal | None, rounding: Rounding) -> Decimal:
    if increment is None:
        return amount
    units = (amount / increment).to_integral_value(rounding=rounding.value)
    return units * increment


@dataclass(frozen=True, slots=True)
class FeeRule:
    """Fee schedule of one instrument for one liquidity role (taker or maker).

    coefficient: fee coefficient (Kalshi 0.07 taker, 0.0175 maker; Polymarket feeSchedule.rate)
    multiplier: Kalshi series/event fee multiplier (1 elsewhere)
    exponent: power applied to P(1-P) (Polymarket feeSchedule.exponent; 1 for Kalshi)
    flat_per_contract_usd: fixed fee per contract (Kalshi legacy flat maker fee), usually 0
    fill_increment_usd / fill_rounding: rounding of each fill's fee (Kalshi: up to $0.0001)
    order_increment_usd / order_rounding: rounding of the order total (Kalshi: up to $0.01)
    """

    coefficient: Decimal
    multiplier: Decimal = _ONE
    exponent: int = 1
    flat_per_contract_usd: Decimal = _ZERO
    fill_increment_usd: Decimal | None = None
    fill_rounding: Rounding = Rounding.UP
    order_increment_usd: Decimal | None = None
    order_rounding: Rounding = Rounding.UP

    def __post_init__(self) -> None:
        for name in ("coefficient", "multiplier", "flat_per_contract_usd"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise DataError(f"fee rule {name} must be a finite non-negative Decimal, was {value!r}")
        if not isinstance(self.exponent, int) or isinstance(self.exponent, bool) or self.exponent < 1:
            raise DataError(f"fee rule exponent must be a positive integer, was {self.exponent!r}")
        for name in ("fill_increment_usd", "order_increment_usd"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, Decimal) or not value.is_finite() or value <= 0):
                raise DataError(f"fee rule {name} must be a positive Decimal or None, was {value!r}")

    def unit_rate(self, price: float) -> float:
        """Fee per contract at `price`, unrounded, in float: the LP's linear fee coefficient."""
        coefficient = float(self.coefficient * self.multiplier)
        return coefficient * (price * (1.0 - price)) ** self.exponent + float(self.flat_per_contract_usd)

    def fill_fee(self, price: Decimal, quantity: Decimal) -> Decimal:
        """Exact fee of one fill, after the per-fill rounding."""
        curve = (price * (_ONE - price)) ** self.exponent
        raw = self.coefficient * self.multiplier * quantity * curve + self.flat_per_contract_usd * quantity
        return _quantize(raw, self.fill_increment_usd, self.fill_rounding)

    def order_fee(self, fills: Iterable[tuple[Decimal, Decimal]]) -> Decimal:
        """Exact fee of one order made of (price, quantity) fills, after per-order rounding."""
        total = sum((self.fill_fee(price, quantity) for price, quantity in fills if quantity), _ZERO)
        return _quantize(total, self.order_increment_usd, self.order_rounding)

    def worst_order_fee(self, levels: Iterable[tuple[Decimal, Decimal]], lot: Decimal) -> Decimal:
        """The most the venue can charge an order that takes (price, quantity) per level, over every
        way the levels can fill in pieces of whole lots. Per-fill rounding up is subadditive
        (ceil(a) + ceil(b) >= ceil(a + b)), so the finest split, one lot per fill, is the worst;
        rounding down only shrinks with splitting, so one fill per level is the worst there. A plan
        priced this way is never overstated by how the venue happens to fill it."""
        levels = [(price, quantity) for price, quantity in levels if quantity]
        if self.fill_increment_usd is None or self.fill_rounding is Rounding.DOWN:
            return self.order_fee(levels)
        if lot <= 0:
            raise DataError(f"worst_order_fee needs a positive lot, was {lot}")
        by_lots = _ZERO
        for price, quantity in levels:
            pieces = quantity / lot
            if pieces != pieces.to_integral_value():
                raise DataError(f"worst_order_fee: quantity {quantity} is not a whole number of lots of {lot}")
            by_lots += self.fill_fee(price, lot) * pieces
        if self.fill_rounding is Rounding.NEAREST:  # either extreme split can be the larger
            by_lots = max(by_lots, sum((self.fill_fee(price, quantity) for price, quantity in levels), _ZERO))
        return _quantize(by_lots, self.order_increment_usd, self.order_rounding)


ZERO_FEE = FeeRule(coefficient=_ZERO)

# Kalshi maker fee as a fraction of the taker coefficient, by series `fee_type`.
_KALSHI_MAKER_FRACTION = {
    "quadratic": _ZERO,
    "quadratic_with_maker_fees": Decimal("0.25"),
    "quadratic_with_combo_maker_fees": Decimal("0.5"),
}
_KALSHI_TAKER_COEFFICIENT = Decimal("0.07")


def kalshi_fee(
    *,
    multiplier: Decimal = _ONE,
    fee_type: str = "quadratic",
    maker: bool = False,
    balance_precision_usd: Decimal = Decimal("0.01"),
) -> FeeRule:
    """Kalshi fee rule. `fee_type` and `multiplier` come from the series (or the event override);
    `balance_precision_usd` is $0.01 for most API members and $0.0001 for direct members."""
    if maker:
        try:
            fraction = _KALSHI_MAKER_FRACTION[fee_type]
        except KeyError:
            raise DataError(f"unknown Kalshi fee_type for maker fees, was {fee_type!r}") from None
    elif fee_type in _KALSHI_MAKER_FRACTION:
        fraction = _ONE
    else:
        raise DataError(f"unknown Kalshi fee_type, was {fee_type!r}")
    return FeeRule(
        coefficient=_KALSHI_TAKER_COEFFICIENT * fraction,
        multiplier=multiplier,
        fill_increment_usd=Decimal("0.0001"),
        fill_rounding=Rounding.UP,
        order_increment_usd=balance_precision_usd,
        order_rounding=Rounding.UP,
    )


def polymarket_fee(*, rate: Decimal, exponent: int = 1, maker: bool = False) -> FeeRule:
    """Polymarket fee rule from a market's `feeSchedule` (rate, exponent). Makers pay nothing
    (their rebate is paid out later and is not counted as income here)."""
    return FeeRule(
        coefficient=_ZERO if maker else rate,
        exponent=exponent,
        fill_increment_usd=Decimal("0.00001"),
        fill_rounding=Rounding.DOWN,
    )
