"""The simulated venues' own fee arithmetic, exact on scaled integers.

This is the reference the adapters and the allocator are checked against, so it shares no code with
them (not `solvers.fees`, not the venue wires): a fee rule copied from the code under test would
agree with that code's bugs.

Kalshi (per fill, then per order):
- trade fee of one fill = coefficient x fee_multiplier x C x P x (1 - P), rounded UP to $0.0001,
  with C contracts and P the fill's YES price in dollars. The coefficient is 0.07 for takers; makers
  pay 0.0175 on `quadratic_with_maker_fees` series and nothing otherwise. A `flat` series is charged
  like `quadratic` here (its specific table is not published in machine-readable form).
- the balance is charged in whole cents: the order keeps an accumulator of its trade fees (one per
  role, taker and maker), and each fill charges the rise of the accumulator rounded UP to the cent.
  So one fill costs ceil_cent(fee) and many small fills of one order cost ceil_cent(sum of fees),
  about the single-fill price (the venue's "rounding fee" with its refund of overpaid cents).

Polymarket: fee = C x rate x (P x (1 - P)) ** exponent from the market's `feeSchedule`, floored to
5 decimals of collateral ($0.00001), charged to takers only (`takerOnly`), makers pay nothing.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction

from arb.errors import ConfigError

__all__ = [
    "KALSHI_MAKER_COEFFICIENT",
    "KALSHI_TAKER_COEFFICIENT",
    "KalshiFeeAccumulator",
    "exact_fraction",
    "kalshi_coefficient",
    "kalshi_trade_fee_micro",
    "kalshi_worst_order_fee_micro",
    "polymarket_fee_micro",
    "polymarket_worst_fee_micro",
]

_SCALE = 1_000_000
_TEN_THOUSANDTH = 100  # $0.0001 in micro-USD
_CENT = 10_000
_FIVE_DECIMALS = 10  # $0.00001 in micro-USD
KALSHI_TAKER_COEFFICIENT = Fraction(7, 100)
KALSHI_MAKER_COEFFICIENT = Fraction(175, 10_000)
KALSHI_FEE_TYPES = frozenset({"quadratic", "quadratic_with_maker_fees", "flat"})


def exact_fraction(value: object, name: str) -> Fraction:
    """A non-negative exact number from decimal text, an int or a float's shortest repr (as TOML
    and JSON give them). Raises ConfigError naming `name` otherwise."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, was {value!r}")
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, Decimal):
        value = str(value)
    if isinstance(value, int):
        out = Fraction(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ConfigError(f"{name} must be a decimal number, was {value!r}") from None
        if not number.is_finite():
            raise ConfigError(f"{name} must be finite, was {value!r}")
        out = Fraction(number)
    else:
        raise ConfigError(f"{name} must be a number, was {value!r}")
    if out < 0:
        raise ConfigError(f"{name} must not be negative, was {value!r}")
    return out


def _ceil(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _ceil_to(value: Fraction, unit: int) -> int:
    """`value` (micro-USD, exact) rounded up to a multiple of `unit` micro-USD."""
    return _ceil(value.numerator, value.denominator * unit) * unit


def kalshi_coefficient(fee_type: str, multiplier: Fraction, *, maker: bool) -> Fraction:
    """The fee coefficient of one fill: 0.07 x multiplier for takers, 0.0175 x multiplier for makers
    on `quadratic_with_maker_fees`, 0 for other makers."""
    if fee_type not in KALSHI_FEE_TYPES:
        raise ConfigError(f"Kalshi fee_type must be one of {sorted(KALSHI_FEE_TYPES)}, was {fee_type!r}")
    if not maker:
        return KALSHI_TAKER_COEFFICIENT * multiplier
    if fee_type == "quadratic_with_maker_fees":
        return KALSHI_MAKER_COEFFICIENT * multiplier
    return Fraction(0)


def kalshi_trade_fee_micro(coefficient: Fraction, yes_price_micro: int, count_micro: int) -> int:
    """One fill's trade fee in micro-USD, rounded up to $0.0001."""
    exact = coefficient * count_micro * yes_price_micro * (_SCALE - yes_price_micro) / (_SCALE * _SCALE)
    return _ceil_to(exact, _TEN_THOUSANDTH)


def _worst_variance_micro2(limit_micro: int, *, buying_yes: bool) -> int:
    """The largest P(1-P) (scaled by 1e12) at which an order with this YES limit can fill: a YES
    bid fills at or below its limit, an ask at or above."""
    half = _SCALE // 2
    reachable_half = limit_micro >= half if buying_yes else limit_micro <= half
    price = half if reachable_half else limit_micro
    return price * (_SCALE - price)


def kalshi_worst_order_fee_micro(
    coefficient: Fraction, yes_limit_micro: int, count_micro: int, *, buying_yes: bool
) -> int:
    """The most the taker fee of a whole order can be charged at any fill price its limit allows
    (one fill; several fills cost at most a few $0.0001 more before the cent rounding)."""
    variance = _worst_variance_micro2(yes_limit_micro, buying_yes=buying_yes)
    exact = coefficient * count_micro * variance / (_SCALE * _SCALE)
    return _ceil_to(Fraction(_ceil_to(exact, _TEN_THOUSANDTH)), _CENT)


class KalshiFeeAccumulator:
    """One order's fee accumulator for one role: `charge(trade_fee)` returns what the balance pays
    for this fill (the rise of ceil_cent(sum of trade fees))."""

    __slots__ = ("charged_micro", "trade_fees_micro")

    def __init__(self) -> None:
        self.trade_fees_micro = 0
        self.charged_micro = 0

    def charge(self, trade_fee_micro: int) -> int:
        self.trade_fees_micro += trade_fee_micro
        target = _ceil(self.trade_fees_micro, _CENT) * _CENT
        charge = target - self.charged_micro
        self.charged_micro = target
        return charge


def polymarket_fee_micro(rate: Fraction, exponent: int, price_micro: int, size_micro: int) -> int:
    """C x rate x (P(1-P))^exponent in micro-USD, floored to $0.00001."""
    variance = Fraction(price_micro * (_SCALE - price_micro), _SCALE * _SCALE)
    exact = Fraction(size_micro) * rate * variance**exponent
    return exact.numerator // (exact.denominator * _FIVE_DECIMALS) * _FIVE_DECIMALS


def polymarket_worst_fee_micro(
    rate: Fraction, exponent: int, limit_micro: int, size_micro: int, *, buying: bool
) -> int:
    """The most `polymarket_fee_micro` can be at any fill price the limit allows."""
    variance = _worst_variance_micro2(limit_micro, buying_yes=buying)
    exact = Fraction(size_micro) * rate * Fraction(variance, _SCALE * _SCALE) ** exponent
    return exact.numerator // (exact.denominator * _FIVE_DECIMALS) * _FIVE_DECIMALS
