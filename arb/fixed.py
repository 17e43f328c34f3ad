"""Exact fixed-point values at the venue boundary.

Every price and size on both venues has at most 6 decimals (Kalshi `_dollars` up to 6, `_fp` 2;
Polymarket prices up to 4 and sizes up to 6, its on-chain amounts are 6-decimal integers), so the
engine carries them as integers scaled by 10**6: `price_micro_usd` (millionths of a dollar) and
`size_micro` (millionths of a contract or share). Integers are exact, hash fast and are what the
allocator's hot path takes. `Decimal` appears only where money leaves the book (fees, ledger).

Parsing is strict: a plain decimal string (optional leading '-' only where a field may be signed),
no exponent, no whitespace, no underscores, no more than 6 decimals; NaN and infinities are
rejected. JSON numbers are accepted only where a venue really sends them (legacy Kalshi cents,
Gamma metadata), and floats go through their shortest repr so 0.01 stays 0.01.
"""

from __future__ import annotations

import re
from decimal import Decimal

from arb.errors import ConfigError, FieldError

__all__ = [
    "SCALE",
    "from_micro",
    "micro_to_str",
    "parse_cents",
    "parse_micro",
    "parse_price",
    "parse_signed_micro",
    "to_micro",
]

SCALE = 1_000_000
_DECIMALS = 6
_PLAIN = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
# Price and size strings repeat endlessly on a feed; caching the parse keeps the hot path to one
# dict lookup. Bounded: cleared when it grows past the limit (strings are tiny).
_CACHE: dict[str, int] = {}
_CACHE_LIMIT = 200_000


def _parse_str(text: str, field: str, venue: str) -> int:
    cached = _CACHE.get(text)
    if cached is not None:
        return cached
    if not _PLAIN.fullmatch(text):
        raise FieldError(field, "is not a plain decimal number", text, venue=venue)
    negative = text.startswith("-")
    body = text[1:] if negative else text
    whole, _, frac = body.partition(".")
    frac = frac.rstrip("0")
    if len(frac) > _DECIMALS:
        raise FieldError(field, f"has more than {_DECIMALS} decimals", text, venue=venue)
    if len(whole) > 15:
        raise FieldError(field, "is out of range", text, venue=venue)
    value = int(whole or "0") * SCALE + (int(frac.ljust(_DECIMALS, "0")) if frac else 0)
    if negative:
        value = -value
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[text] = value
    return value


def to_micro(value: object, field: str, *, venue: str = "", allow_number: bool = False) -> int:
    """Any exact value (decimal string; int/float only with `allow_number`) as a scaled integer.
    The sign is not checked here."""
    if type(value) is str:
        return _parse_str(value, field, venue)
    if allow_number:
        if type(value) is int:
            if abs(value) > 10**15:
                raise FieldError(field, "is out of range", value, venue=venue)
            return value * SCALE
        if type(value) is float:
            if value != value or value in (float("inf"), float("-inf")):
                raise FieldError(field, "is not finite", value, venue=venue)
            return (
                _parse_str(repr(value), field, venue)
                if "e" not in repr(value)
                else _from_decimal(Decimal(repr(value)), field, venue)
            )
    if value is None:
        raise FieldError(field, "is missing", value, venue=venue)
    raise FieldError(field, "must be a decimal string" + (" or number" if allow_number else ""), value, venue=venue)


def _from_decimal(value: Decimal, field: str, venue: str) -> int:
    scaled = value * SCALE
    if scaled != scaled.to_integral_value():
        raise FieldError(field, f"has more than {_DECIMALS} decimals", str(value), venue=venue)
    return int(scaled)


def parse_micro(value: object, field: str, *, venue: str = "", allow_number: bool = False) -> int:
    """A non-negative size or amount."""
    micro = to_micro(value, field, venue=venue, allow_number=allow_number)
    if micro < 0:
        raise FieldError(field, "must not be negative", value, venue=venue)
    return micro


def parse_signed_micro(value: object, field: str, *, venue: str = "", allow_number: bool = False) -> int:
    """A signed change (Kalshi `delta_fp`)."""
    return to_micro(value, field, venue=venue, allow_number=allow_number)


def parse_price(
    value: object, field: str, *, venue: str = "", allow_number: bool = False, inclusive: bool = True
) -> int:
    """A probability price in dollars: within [0, 1] (inclusive) or (0, 1) when `inclusive` is False."""
    micro = to_micro(value, field, venue=venue, allow_number=allow_number)
    if inclusive:
        if not 0 <= micro <= SCALE:
            raise FieldError(field, "must be a price within [0, 1]", value, venue=venue)
    elif not 0 < micro < SCALE:
        raise FieldError(field, "must be a price strictly within (0, 1)", value, venue=venue)
    return micro


def parse_cents(value: object, field: str, *, venue: str = "") -> int:
    """A legacy Kalshi integer-cents price as micro-dollars."""
    if type(value) is not int:
        raise FieldError(field, "must be an integer number of cents", value, venue=venue)
    if not 0 <= value <= 100:
        raise FieldError(field, "must be within [0, 100] cents", value, venue=venue)
    return value * 10_000


def from_micro(micro: int) -> Decimal:
    """The exact Decimal of a scaled integer."""
    return Decimal(micro).scaleb(-_DECIMALS)


def micro_to_str(micro: int, decimals: int = 6, *, field: str = "value") -> str:
    """Fixed-point text with exactly `decimals` decimals; refuses to lose digits (`FieldError`)."""
    if decimals > _DECIMALS or decimals < 0:
        raise ConfigError(f"decimals must be within [0, {_DECIMALS}], was {decimals}")
    unit = 10 ** (_DECIMALS - decimals)
    if micro % unit:
        raise FieldError(field, f"does not fit {decimals} decimals", micro)
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), SCALE)
    if decimals == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac // unit:0{decimals}d}"
