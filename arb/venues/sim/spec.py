"""Declarative descriptions of simulated venues: plain data in (a dict, e.g. parsed TOML or JSON),
frozen and validated specs out, from which `KalshiSimulator.from_spec` and
`PolymarketSimulator.from_spec` build a ready venue (markets with metadata and fee schedules,
initial books, accounts with balances and positions, faults, seed). Scenario files use this.

The format (TOML shown; JSON is the same tree). Money and sizes are decimal text, ints, or floats
whose shortest repr is the intended decimal ("0.42", 42, 0.42), exact to 6 decimals:

    seed = 7

    [kalshi]
    default_balance_usd = "10000"           # accounts not listed below start with this
    [[kalshi.series]]
    ticker = "KXFED"
    fee_type = "quadratic"                  # quadratic | quadratic_with_maker_fees | flat
    fee_multiplier = "1"
    [[kalshi.events]]
    event_ticker = "KXFED-26DEC"
    series_ticker = "KXFED"
    mutually_exclusive = true
    [[kalshi.markets]]
    ticker = "KXFED-26DEC-H0"
    event_ticker = "KXFED-26DEC"
    yes_sub_title = "Hold"
    book = { bids = [["0.42", "100"]], asks = [["0.45", "50"]] }    # YES prices
    strike_type = "greater"                 # optional; floor_strike / cap_strike decimal text,
    floor_strike = "4.5"                    # custom_strike a table of strings (Kalshi's fields)
    [[kalshi.accounts]]
    key_id = "key-1"
    balance_usd = "500"
    positions = { "KXFED-26DEC-H0" = { count = "-10", cost_usd = "5.70" } }   # negative: NO
    [kalshi.faults]                         # any `FaultPlan` field; its seed defaults to `seed`
    latency_s = 0.01

    [polymarket]
    [[polymarket.markets]]
    condition_id = "0xc0..."
    question = "Will it happen?"
    yes_token = "7001"
    no_token = "7002"
    tick = "0.01"
    min_order_size = "5"
    fee_schedule = { rate = "0.05", exponent = 1 }
    yes_book = { bids = [["0.49", "50"]], asks = [["0.51", "50"]] }
    description = "Resolves Yes if ..."     # optional: the rules text (else a generated one)
    end_date_ms = 1790000000000             # optional: Gamma's endDate
    [[polymarket.accounts]]
    api_key = "k"
    secret = "c2VjcmV0"
    passphrase = "p"
    signer_address = "0x..."
    cash_usd = "1000"
    positions = { "7001" = "10" }

Validation is strict and names what is wrong with its path: unknown keys (`kalshi.markets[0].boook:
unknown key`), missing required keys, wrong types, prices off the market's tick grid or outside
(0, 1), sizes off the lot, crossed books, duplicate or dangling ids (a market's event, a position's
ticker). Every error is a `ConfigError`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

from arb.errors import ConfigError
from arb.venues.sim.faults import FaultPlan
from arb.venues.sim.fees import KALSHI_FEE_TYPES, exact_fraction

__all__ = [
    "BookSpec",
    "FeeScheduleSpec",
    "KalshiAccountSpec",
    "KalshiEventSpec",
    "KalshiMarketSpec",
    "KalshiPositionSpec",
    "KalshiSeriesSpec",
    "KalshiSpec",
    "PolymarketAccountSpec",
    "PolymarketMarketSpec",
    "PolymarketSpec",
    "SimSpec",
    "kalshi_on_tick",
    "kalshi_tick_bands",
    "load_sim_spec",
]

_SCALE = 1_000_000
Level = tuple[int, int]  # (price micro-USD, size micro-units)

# Kalshi tick structures by `price_level_structure` (start, end, step in micro-USD).
_KALSHI_BANDS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "linear_cent": ((0, _SCALE, 10_000),),
    "deci_cent": ((0, _SCALE, 1_000),),
    "tapered_deci_cent": ((0, 100_000, 1_000), (100_000, 900_000, 10_000), (900_000, _SCALE, 1_000)),
}
_KALSHI_STATUSES = frozenset({"initialized", "inactive", "active", "closed"})


def kalshi_tick_bands(structure: str) -> tuple[tuple[int, int, int], ...]:
    """(start, end, step) bands of a Kalshi `price_level_structure`, in micro-USD."""
    try:
        return _KALSHI_BANDS[structure]
    except KeyError:
        raise ConfigError(f"price_level_structure must be one of {sorted(_KALSHI_BANDS)}, was {structure!r}") from None


def kalshi_on_tick(structure: str, yes_price_micro: int) -> bool:
    return any(
        lo <= yes_price_micro <= hi and yes_price_micro % step == 0 for lo, hi, step in kalshi_tick_bands(structure)
    )


# -- frozen specs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookSpec:
    """One ladder: bids and asks as (price micro-USD, size micro-units), any order, prices unique per
    side, every bid below every ask."""

    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()


@dataclass(frozen=True, slots=True)
class KalshiSeriesSpec:
    ticker: str
    title: str = ""
    fee_type: str = "quadratic"
    fee_multiplier: str = "1"  # decimal text, exact


@dataclass(frozen=True, slots=True)
class KalshiEventSpec:
    event_ticker: str
    series_ticker: str
    title: str = ""
    mutually_exclusive: bool = False


@dataclass(frozen=True, slots=True)
class KalshiMarketSpec:
    ticker: str
    event_ticker: str
    title: str = ""
    yes_sub_title: str = ""
    status: str = "active"
    price_level_structure: str = "linear_cent"
    fractional: bool = False
    rules_primary: str = ""
    rules_secondary: str = ""
    open_time_ms: int = 1_700_000_000_000
    close_time_ms: int = 1_900_000_000_000
    book: BookSpec = BookSpec()  # the YES ladder: bids = YES bids, asks = YES asks (= 1 - NO bids)
    # strike metadata as the venue serves it: "custom" with `custom_strike` (default: the event
    # title), or "greater"/"less"/"between"/... with floor and cap as decimal text
    strike_type: str = "custom"
    floor_strike: str | None = None
    cap_strike: str | None = None
    custom_strike: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class KalshiPositionSpec:
    count_micro: int  # signed: positive YES contracts, negative NO contracts
    cost_micro_usd: int = 0  # what the position cost (returned if the market is voided)


@dataclass(frozen=True, slots=True)
class KalshiAccountSpec:
    key_id: str
    balance_micro_usd: int
    positions: tuple[tuple[str, KalshiPositionSpec], ...] = ()
    public_key_pem: str | None = None  # else the key comes from `from_spec(api_keys=...)`


@dataclass(frozen=True, slots=True)
class KalshiSpec:
    series: tuple[KalshiSeriesSpec, ...] = ()
    events: tuple[KalshiEventSpec, ...] = ()
    markets: tuple[KalshiMarketSpec, ...] = ()
    accounts: tuple[KalshiAccountSpec, ...] = ()
    faults: FaultPlan = field(default_factory=FaultPlan)
    default_balance_micro_usd: int = 10_000 * _SCALE


@dataclass(frozen=True, slots=True)
class FeeScheduleSpec:
    """A Polymarket market's `feeSchedule` (Gamma): fee = C x rate x (P(1-P))^exponent."""

    rate: str  # decimal text, "0.05"
    exponent: int = 1
    taker_only: bool = True
    rebate_rate: str = "0"


@dataclass(frozen=True, slots=True)
class PolymarketMarketSpec:
    """One binary market (two tokens)."""

    condition_id: str
    question: str
    yes_token: str
    no_token: str
    tick_micro: int = 10_000
    min_order_size_micro: int = 5_000_000
    neg_risk: bool = False
    fee_schedule: FeeScheduleSpec | None = None  # None: fees disabled on this market
    event_id: str = "1"
    gamma_id: str = "1"
    group_item_title: str = ""
    yes_mid_micro: int = 500_000  # where scripted participants quote (when enabled)
    slug: str = ""
    yes_book: BookSpec = BookSpec()
    no_book: BookSpec = BookSpec()
    description: str = ""  # the rules text Gamma serves (empty: a generated one)
    end_date_ms: int | None = None  # Gamma's endDate (None: 2026-12-31)

    @property
    def tokens(self) -> tuple[str, str]:
        return (self.yes_token, self.no_token)


@dataclass(frozen=True, slots=True)
class PolymarketAccountSpec:
    api_key: str
    secret: str
    passphrase: str
    signer_address: str
    funder_address: str = ""  # empty: the signer's address
    cash_micro_usd: int = 1_000_000 * _SCALE
    positions: tuple[tuple[str, int], ...] = ()  # token -> shares (micro), never negative


@dataclass(frozen=True, slots=True)
class PolymarketSpec:
    markets: tuple[PolymarketMarketSpec, ...] = ()
    accounts: tuple[PolymarketAccountSpec, ...] = ()
    faults: FaultPlan = field(default_factory=FaultPlan)
    participants: bool = False  # scripted market makers and takers on every token


@dataclass(frozen=True, slots=True)
class SimSpec:
    """Both venues (either may be absent) under one seed."""

    seed: int = 0
    kalshi: KalshiSpec | None = None
    polymarket: PolymarketSpec | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimSpec:
        """Validate a plain description; raises `ConfigError` naming the offending key path."""
        return _parse_sim(data)


def load_sim_spec(path: str | Path) -> SimSpec:
    """A `SimSpec` from a TOML file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"simulator spec {str(path)!r} cannot be read ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"simulator spec {str(path)!r} is not valid TOML: {exc}") from None
    return SimSpec.from_dict(data)


# -- parsing ---------------------------------------------------------------------------------------

T = TypeVar("T")
D = TypeVar("D")


class _Table:
    """A mapping being read at `path`; `done()` rejects every key nobody asked for."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: must be a table, was {type(data).__name__}")
        for key in data:
            if not isinstance(key, str):
                raise ConfigError(f"{path}: keys must be strings, found {key!r}")
        self.data: Mapping[str, Any] = data
        self.path = path
        self.used: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, kind: Callable[[object, str], T], default: D) -> T | D:
        self.used.add(key)
        if key not in self.data:
            return default
        return kind(self.data[key], self.at(key))

    def need(self, key: str, kind: Callable[[object, str], T]) -> T:
        self.used.add(key)
        if key not in self.data:
            raise ConfigError(f"{self.at(key)}: required key is missing")
        return kind(self.data[key], self.at(key))

    def done(self) -> None:
        for key in self.data:
            if key not in self.used:
                raise ConfigError(f"{self.at(key)}: unknown key")


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{path}: must be a string, was {value!r}")
    return value


def _id(value: object, path: str) -> str:
    text = _string(value, path)
    if not text or text != text.strip():
        raise ConfigError(f"{path}: must be a non-empty id without surrounding spaces, was {value!r}")
    return text


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: must be true or false, was {value!r}")
    return value


def _int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{path}: must be an integer, was {value!r}")
    return value


def _list(value: object, path: str) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigError(f"{path}: must be a list, was {type(value).__name__}")
    return value


def _exact(value: object, path: str, *, signed: bool = False) -> Fraction:
    negative = False
    if signed and isinstance(value, str) and value.strip().startswith("-"):
        negative, value = True, value.strip()[1:]
    elif signed and isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        negative, value = True, -value
    number = exact_fraction(value, path)
    return -number if negative else number


def _micro(value: object, path: str, *, signed: bool = False) -> int:
    """Exact decimal -> micro units; more than 6 decimals is an error, not a rounding."""
    scaled = _exact(value, path, signed=signed) * _SCALE
    if scaled.denominator != 1:
        raise ConfigError(f"{path}: has more than 6 decimals, was {value!r}")
    return int(scaled)


def _decimal_text(value: object, path: str) -> str:
    """A non-negative exact number kept as canonical decimal text (fee rates and multipliers)."""
    number = _exact(value, path)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float):
        return repr(value)
    return str(number.numerator) if number.denominator == 1 else str(value)


def _string_table(value: object, path: str) -> tuple[tuple[str, str], ...]:
    table = _Table(value, path)
    out = tuple((key, table.need(key, _string)) for key in table.data)
    table.done()
    return out


def _book(value: object, path: str, check_price: Callable[[int, str], None], lot: int) -> BookSpec:
    table = _Table(value, path)
    sides: list[tuple[Level, ...]] = []
    for key in ("bids", "asks"):
        raw = table.get(key, _list, ())
        levels: list[Level] = []
        seen: set[int] = set()
        for i, item in enumerate(raw):
            where = f"{table.at(key)}[{i}]"
            pair = _list(item, where)
            if len(pair) != 2:
                raise ConfigError(f"{where}: must be [price, size], was {item!r}")
            price = _micro(pair[0], f"{where}[0]")
            size = _micro(pair[1], f"{where}[1]")
            if not 0 < price < _SCALE:
                raise ConfigError(f"{where}[0]: price must be strictly within (0, 1), was {pair[0]!r}")
            check_price(price, f"{where}[0]")
            if size <= 0 or size % lot:
                raise ConfigError(f"{where}[1]: size must be a positive multiple of {lot / _SCALE:g}, was {pair[1]!r}")
            if price in seen:
                raise ConfigError(f"{where}[0]: price {pair[0]!r} is listed twice")
            seen.add(price)
            levels.append((price, size))
        sides.append(tuple(levels))
    table.done()
    bids, asks = sides
    if bids and asks and max(p for p, _ in bids) >= min(p for p, _ in asks):
        raise ConfigError(f"{path}: crossed book (best bid at or above best ask)")
    return BookSpec(bids, asks)


def _faults(value: object, path: str, seed: int) -> FaultPlan:
    table = _Table(value, path)
    known = {f.name for f in fields(FaultPlan)}
    kwargs: dict[str, Any] = {}
    for key, raw in table.data.items():
        if key not in known:
            raise ConfigError(f"{table.at(key)}: unknown key")
        kwargs[key] = tuple(_list(raw, table.at(key))) if key.endswith(("_at_frames", "_prefixes")) else raw
    kwargs.setdefault("seed", seed)
    try:
        return FaultPlan(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _tables(value: object, path: str) -> list[_Table]:
    return [_Table(item, f"{path}[{i}]") for i, item in enumerate(_list(value, path))]


def _unique(items: Sequence[T], key: Callable[[T], str], path: str, what: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        k = key(item)
        if k in seen:
            raise ConfigError(f"{path}[{i}]: duplicate {what} {k!r}")
        seen.add(k)


def _parse_sim(data: Mapping[str, Any]) -> SimSpec:
    top = _Table(data, "")
    seed = top.get("seed", _int, 0)
    kalshi = top.get("kalshi", lambda v, p: _parse_kalshi(v, p, seed), None)
    polymarket = top.get("polymarket", lambda v, p: _parse_polymarket(v, p, seed), None)
    top.done()
    if kalshi is None and polymarket is None:
        raise ConfigError("a simulator spec needs a [kalshi] or a [polymarket] table")
    return SimSpec(seed, kalshi, polymarket)


def _parse_kalshi(value: object, path: str, seed: int) -> KalshiSpec:
    top = _Table(value, path)
    series: list[KalshiSeriesSpec] = []
    for t in top.get("series", _tables, []):
        fee_type = t.get("fee_type", _string, "quadratic")
        if fee_type not in KALSHI_FEE_TYPES:
            raise ConfigError(f"{t.at('fee_type')}: must be one of {sorted(KALSHI_FEE_TYPES)}, was {fee_type!r}")
        series.append(
            KalshiSeriesSpec(
                t.need("ticker", _id),
                t.get("title", _string, ""),
                fee_type,
                t.get("fee_multiplier", _decimal_text, "1"),
            )
        )
        t.done()
    _unique(series, lambda s: s.ticker, top.at("series"), "series ticker")
    known_series = {s.ticker for s in series}
    events: list[KalshiEventSpec] = []
    for t in top.get("events", _tables, []):
        event = KalshiEventSpec(
            t.need("event_ticker", _id),
            t.need("series_ticker", _id),
            t.get("title", _string, ""),
            t.get("mutually_exclusive", _bool, False),
        )
        if event.series_ticker not in known_series:
            raise ConfigError(f"{t.at('series_ticker')}: unknown series {event.series_ticker!r}")
        events.append(event)
        t.done()
    _unique(events, lambda e: e.event_ticker, top.at("events"), "event ticker")
    known_events = {e.event_ticker for e in events}
    markets: list[KalshiMarketSpec] = []
    for t in top.get("markets", _tables, []):
        ticker = t.need("ticker", _id)
        event_ticker = t.need("event_ticker", _id)
        if event_ticker not in known_events:
            raise ConfigError(f"{t.at('event_ticker')}: unknown event {event_ticker!r}")
        structure = t.get("price_level_structure", _string, "linear_cent")
        try:
            kalshi_tick_bands(structure)
        except ConfigError as exc:
            raise ConfigError(f"{t.at('price_level_structure')}: {exc}") from None
        status = t.get("status", _string, "active")
        if status not in _KALSHI_STATUSES:
            raise ConfigError(f"{t.at('status')}: must be one of {sorted(_KALSHI_STATUSES)}, was {status!r}")
        fractional = t.get("fractional", _bool, False)

        def on_tick(price: int, where: str, structure: str = structure) -> None:
            if not kalshi_on_tick(structure, price):
                raise ConfigError(f"{where}: price {price / _SCALE:g} is off the {structure} tick grid")

        def book_of(
            v: object, p: str, on_tick: Callable[[int, str], None] = on_tick, fractional: bool = fractional
        ) -> BookSpec:
            return _book(v, p, on_tick, 10_000 if fractional else _SCALE)

        book = t.get("book", book_of, BookSpec())
        markets.append(
            KalshiMarketSpec(
                ticker,
                event_ticker,
                t.get("title", _string, ""),
                t.get("yes_sub_title", _string, ""),
                status,
                structure,
                fractional,
                t.get("rules_primary", _string, ""),
                t.get("rules_secondary", _string, ""),
                t.get("open_time_ms", _int, 1_700_000_000_000),
                t.get("close_time_ms", _int, 1_900_000_000_000),
                book,
                t.get("strike_type", _id, "custom"),
                t.get("floor_strike", _decimal_text, None),
                t.get("cap_strike", _decimal_text, None),
                t.get("custom_strike", _string_table, ()),
            )
        )
        t.done()
    _unique(markets, lambda m: m.ticker, top.at("markets"), "market ticker")
    by_ticker = {m.ticker: m for m in markets}
    accounts: list[KalshiAccountSpec] = []
    for t in top.get("accounts", _tables, []):
        positions: list[tuple[str, KalshiPositionSpec]] = []
        table = t.get("positions", _Table, None)
        if table is not None:
            for ticker, raw in table.data.items():
                where = table.at(ticker)
                table.used.add(ticker)
                market = by_ticker.get(ticker)
                if market is None:
                    raise ConfigError(f"{where}: unknown market {ticker!r}")
                if isinstance(raw, Mapping):
                    p = _Table(raw, where)
                    count = p.need("count", lambda v, w: _micro(v, w, signed=True))
                    cost = p.get("cost_usd", _micro, 0)
                    p.done()
                else:
                    count, cost = _micro(raw, where, signed=True), 0
                lot = 10_000 if market.fractional else _SCALE
                if count == 0 or count % lot:
                    raise ConfigError(f"{where}: count must be a non-zero multiple of {lot / _SCALE:g}")
                positions.append((ticker, KalshiPositionSpec(count, cost)))
        pem = t.get("public_key_pem", _string, None)
        accounts.append(KalshiAccountSpec(t.need("key_id", _id), t.need("balance_usd", _micro), tuple(positions), pem))
        t.done()
    _unique(accounts, lambda a: a.key_id, top.at("accounts"), "account key_id")
    faults = top.get("faults", lambda v, p: _faults(v, p, seed), FaultPlan(seed=seed))
    default_balance = top.get("default_balance_usd", _micro, 10_000 * _SCALE)
    top.done()
    return KalshiSpec(tuple(series), tuple(events), tuple(markets), tuple(accounts), faults, default_balance)


def _fee_schedule(value: object, path: str) -> FeeScheduleSpec:
    t = _Table(value, path)
    exponent = t.get("exponent", _int, 1)
    if not 1 <= exponent <= 8:
        raise ConfigError(f"{t.at('exponent')}: must be an integer within [1, 8], was {exponent!r}")
    rate = t.need("rate", _decimal_text)
    if exact_fraction(rate, path) > 1:
        raise ConfigError(f"{t.at('rate')}: must be a fraction within [0, 1], was {rate!r}")
    spec = FeeScheduleSpec(rate, exponent, t.get("taker_only", _bool, True), t.get("rebate_rate", _decimal_text, "0"))
    if not spec.taker_only:
        raise ConfigError(f"{t.at('taker_only')}: only taker-only fee schedules are simulated")
    t.done()
    return spec


def _parse_polymarket(value: object, path: str, seed: int) -> PolymarketSpec:
    top = _Table(value, path)
    markets: list[PolymarketMarketSpec] = []
    for t in top.get("markets", _tables, []):
        tick = t.get("tick", _micro, 10_000)
        if tick not in (100, 1_000, 10_000, 100_000):
            raise ConfigError(f"{t.at('tick')}: must be 0.1, 0.01, 0.001 or 0.0001, was {tick / _SCALE:g}")

        def on_tick(price: int, where: str, tick: int = tick) -> None:
            if price % tick or not tick <= price <= _SCALE - tick:
                raise ConfigError(f"{where}: price {price / _SCALE:g} is off the {tick / _SCALE:g} tick grid")

        def book(v: object, p: str) -> BookSpec:
            return _book(v, p, on_tick, 10_000)

        yes_mid = t.get("yes_mid", _micro, 500_000)
        if not 0 < yes_mid < _SCALE:
            raise ConfigError(f"{t.at('yes_mid')}: must be strictly within (0, 1)")
        spec = PolymarketMarketSpec(
            t.need("condition_id", _id),
            t.get("question", _string, ""),
            t.need("yes_token", _id),
            t.need("no_token", _id),
            tick,
            t.get("min_order_size", _micro, 5_000_000),
            t.get("neg_risk", _bool, False),
            t.get("fee_schedule", _fee_schedule, None),
            t.get("event_id", _id, "1"),
            t.get("gamma_id", _id, "1"),
            t.get("group_item_title", _string, ""),
            yes_mid,
            t.get("slug", _string, ""),
            t.get("yes_book", book, BookSpec()),
            t.get("no_book", book, BookSpec()),
            t.get("description", _string, ""),
            t.get("end_date_ms", _int, None),
        )
        if spec.yes_token == spec.no_token:
            raise ConfigError(f"{t.at('no_token')}: must differ from yes_token")
        markets.append(spec)
        t.done()
    _unique(markets, lambda m: m.condition_id, top.at("markets"), "condition_id")
    tokens: dict[str, PolymarketMarketSpec] = {}
    for i, m in enumerate(markets):
        for token in m.tokens:
            if token in tokens:
                raise ConfigError(f"{top.at('markets')}[{i}]: token {token!r} belongs to two markets")
            tokens[token] = m
    accounts: list[PolymarketAccountSpec] = []
    for t in top.get("accounts", _tables, []):
        positions: list[tuple[str, int]] = []
        table = t.get("positions", _Table, None)
        if table is not None:
            for token, raw in table.data.items():
                where = table.at(token)
                table.used.add(token)
                if token not in tokens:
                    raise ConfigError(f"{where}: unknown token {token!r}")
                shares = _micro(raw, where)
                if shares <= 0 or shares % 10_000:
                    raise ConfigError(f"{where}: shares must be a positive multiple of 0.01")
                positions.append((token, shares))
        accounts.append(
            PolymarketAccountSpec(
                t.need("api_key", _id),
                t.need("secret", _id),
                t.need("passphrase", _id),
                t.need("signer_address", _id),
                t.get("funder_address", _id, ""),
                t.get("cash_usd", _micro, 1_000_000 * _SCALE),
                tuple(positions),
            )
        )
        t.done()
    _unique(accounts, lambda a: a.api_key, top.at("accounts"), "account api_key")
    faults = top.get("faults", lambda v, p: _faults(v, p, seed), FaultPlan(seed=seed))
    participants = top.get("participants", _bool, False)
    top.done()
    return PolymarketSpec(tuple(markets), tuple(accounts), faults, participants)
