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

Fills at better prices. An IOC/FOK order with limit L may fill at any price at or better than L, in
any split the venue chooses, and where better prices lie towards 1/2 (a BUY with L > 1/2, a SELL with
L < 1/2) the fee rises and its rounding can take back more than the price saved (2 lots bought at
limit 0.69 on a deci-cent Kalshi market cost $1.41 at the limit, $1.418 with one at 0.688).
`better_price_slack` is a proven cap on that excess over the worst split at the planned prices
(`worst_order_fee`); `worst_fee_at_or_better` is the two together, the most an order can cost beyond
its planned notional. Proof sketch (BUY; a SELL is the mirror image, with prices at or above the
planned ones):

* Let y(p) = c x lot x g(p) + flat x lot be one lot's unrounded fee, g(p) = (p (1 - p))^e. As long
  as c x max|g'| <= 1 (checked: max|g'| <= e / 4^(e-1)), lot x p + y(p) never falls as p rises, so a
  lot filled d = lot x (P - p) better than its planned price P has y(p) <= y(P) + d: the fee can
  rise by at most what the price saves.
* Where the fee cannot rise at all (a BUY with L <= 1/2, a SELL with L >= 1/2: every planned price
  lies on that side too, and g only falls moving away from 1/2), rounding is monotone and the figure
  at the planned prices is already the worst: no slack.
* Otherwise, with per-fill rounding up (Kalshi) the finest split is the worst (ceil is subadditive)
  and ceil(y(P) + d) = ceil(y(P)) + d when d is on the fill increment's grid, so the fills' fees sum
  to at most B + D, with B the finest-split sum at the planned prices and D the total price saving;
  rounding down (Polymarket) gives floor(Y(P) + D) = floor(Y(P)) + D the same way (floor is
  superadditive). With the order total rounded up, the excess over the planned figure is
  ceil_o(B + D) - D - ceil_o(B) <= ceil_o(D) - D, and D lies on the grid of u = lot x tick, so the
  excess is at most inc_o - gcd(u, inc_o): $0.009 for a deci-cent Kalshi market, zero for whole-cent
  ticks of whole contracts. Without order rounding it is zero.
* When the tick is unknown, the limit is off its grid or u is off the fill increment's grid, the
  fill rounding may add up to one more increment beyond the saving (per lot rounding up: k of them;
  one in all rounding down), X in all, and ceil_o(B + X + D) - D - ceil_o(B) <= ceil_o(X) +
  (ceil_o(D) - D): the slack is ceil_o(X) + inc_o - gcd(u, inc_o), or ceil_o(X) + inc_o with the
  tick unknown. Order rounding down (no venue) is bounded the same way by a whole increment;
  rounding to nearest is refused.

The slack does not fall as the lot count k grows, so a fee bounded this way is non-decreasing in k.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from math import gcd

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
_HALF = Decimal("0.5")
_FOUR = Decimal(4)


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

    @staticmethod
    def fee_can_rise(limit_price: Decimal, *, buy: bool) -> bool:
        """Whether a fill at a better price than `limit_price` can pay a larger fee than at it: only
        when the better prices lie towards 1/2, where P(1 - P) peaks."""
        return limit_price > _HALF if buy else limit_price < _HALF

    def better_price_bound_failure(self) -> str | None:
        """Why fills at better prices cannot be bounded under this rule (None when they can): a fee
        curve so steep that a better price can lower price plus fee, or rounding to nearest."""
        steepness = self.coefficient * self.multiplier * self.exponent / _FOUR ** (self.exponent - 1)
        if steepness > 1:
            return f"fee curve too steep to bound at better prices (c x max|g'| = {steepness} > 1)"
        if Rounding.NEAREST in (self.fill_rounding, self.order_rounding):
            return "fees rounded to nearest cannot be bounded at better prices"
        return None

    def better_price_slack(
        self, limit_price: Decimal, *, buy: bool, lot: Decimal, lots: int, tick: Decimal | None
    ) -> Decimal:
        """Proven cap on how much more an order of `lots` lots of `lot` can pay, fee rounding
        included, when its lots fill at prices better than planned (at most `limit_price`, the
        worst planned price, for a buy; at least it for a sell) in any split, than `worst_order_fee`
        at the planned prices (module docstring). `tick`: the price grid every fill lies on (None when
        unknown, which costs a looser cap). Raises DataError where the rule cannot be bounded
        (`better_price_bound_failure`)."""
        fill_inc, order_inc = self.fill_increment_usd, self.order_increment_usd
        if lots == 0 or not self.fee_can_rise(limit_price, buy=buy) or (fill_inc is None and order_inc is None):
            return _ZERO
        failure = self.better_price_bound_failure()
        if failure is not None:
            raise DataError(failure)
        if lots < 0 or lot <= 0:
            raise DataError(f"better_price_slack needs a positive lot and lot count, was {lots} x {lot}")
        if tick is not None and (tick <= 0 or limit_price % tick):
            tick = None  # off its grid the saving is not on the grid either: the unknown-tick cap holds
        step = None if tick is None else lot * tick
        extra = _ZERO  # fill rounding the price saving does not pay for
        if fill_inc is not None and (step is None or step % fill_inc):
            extra = fill_inc * lots if self.fill_rounding is Rounding.UP else fill_inc
        if order_inc is None:
            return extra
        extra_units = (extra / order_inc).to_integral_value(rounding=ROUND_CEILING)
        if self.order_rounding is Rounding.UP and step is not None:
            grid = order_inc - _decimal_gcd(step, order_inc)
        else:
            grid = order_inc
        return extra_units * order_inc + grid

    def worst_fee_at_or_better(
        self, levels: Iterable[tuple[Decimal, Decimal]], *, buy: bool, lot: Decimal, tick: Decimal | None
    ) -> Decimal:
        """The most the venue can charge an order planned as (price, quantity) per level when each
        lot fills at its planned price or better, in any split: `worst_order_fee` at the planned
        prices plus `better_price_slack` at the order's limit (its worst planned price)."""
        levels = [(price, quantity) for price, quantity in levels if quantity]
        if not levels:
            return _ZERO
        at_levels = self.worst_order_fee(levels, lot)
        limit = max(price for price, _ in levels) if buy else min(price for price, _ in levels)
        lots = sum((quantity for _, quantity in levels), _ZERO) / lot
        if lots != lots.to_integral_value():
            raise DataError(f"worst_fee_at_or_better: quantity {lots * lot} is not a whole number of lots of {lot}")
        return at_levels + self.better_price_slack(limit, buy=buy, lot=lot, lots=int(lots), tick=tick)


def _decimal_gcd(a: Decimal, b: Decimal) -> Decimal:
    """Greatest d with a and b both whole multiples of d (a, b positive and finite)."""
    fa, fb = Fraction(a), Fraction(b)
    denominator = fa.denominator * fb.denominator // gcd(fa.denominator, fb.denominator)
    return Decimal(gcd(int(fa * denominator), int(fb * denominator))) / Decimal(denominator)


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
