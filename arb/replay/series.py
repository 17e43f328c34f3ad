"""Backtests from price history: a CSV of best bid/ask per market over time -> a scenario file.

`arb scenario from-series SERIES.csv --out SCENARIO.toml` (docs/replay.md, "Backtests from price
history"). The CSV has a header row and these columns, in any order:

    timestamp   ISO-8601 with a UTC offset ("2024-12-01T10:00:00Z"), or unix seconds ("1733047200",
                up to 3 decimals) or unix milliseconds (13 digits and more)
    market      kalshi:TICKER (YES prices) | polymarket:TOKEN_ID | polymarket:0xCONDITION_ID (the
                market's YES token)
    bid, ask    best bid and best ask, decimal dollars, 0 < bid < ask < 1, at most 6 decimals
    bid_size, ask_size   optional: contracts at the best bid / ask (an empty cell or no column: the
                `default_size`)

Every bad cell is a `ConfigError` naming the line: an unknown column, NaN or infinite numbers,
negative prices, prices at or above 1, a crossed or locked quote (bid >= ask), sizes off the
venue's lot, and, per market, timestamps that repeat or go backwards.

The scenario: `[venues]` lists each market (from `metadata`, a SimSpec tree of the markets without
books, or else a minimal valid market: a Kalshi market with its own series and event and Kalshi's
standard quadratic fee, a Polymarket market without fees whose tick is the coarsest grid the
series' prices sit on). A market whose history starts at the series' first timestamp starts with
that row as its book; every later row is a `book` event (a Polymarket row sets the token's book and
the mirror book of its other token: NO bid = 1 - YES ask). A market whose history starts later has
no book until its first row (no look-ahead). Gaps between successive timestamps longer than
`max_gap_ms` are shortened to it (0: real spacing), so a day of hourly candles replays in seconds of
virtual time and books never grow older than the risk gates' age limit between two rows; each
event carries its source timestamp and CSV line in a comment.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson
import tomlkit

from arb.errors import ConfigError
from arb.links import format_close_time, parse_links, rules_fingerprint
from arb.venues.sim.spec import SimSpec

__all__ = [
    "COLUMNS",
    "SeriesRow",
    "SeriesScenario",
    "kalshi_candles_to_rows",
    "metadata_from_venue_files",
    "parse_series_csv",
    "polymarket_history_to_rows",
    "read_series_csv",
    "scenario_from_series",
    "series_csv_text",
    "write_series_scenario",
]

SCALE = 1_000_000
COLUMNS = ("timestamp", "market", "bid", "ask", "bid_size", "ask_size")
_REQUIRED = ("timestamp", "market", "bid", "ask")
_MS_DIGITS = 11  # a unix timestamp with this many integer digits or more is in milliseconds
_POLYMARKET_TICKS = (10_000, 1_000, 100)  # 0.01, 0.001, 0.0001 (0.1 is never a better fit)
_KALSHI_TICKS = ((10_000, "linear_cent"), (1_000, "deci_cent"))
_DAY_MS = 86_400_000
# config/default.toml's book age limits: risk gates (risk.max_book_age_ms), scanner and repair
_RISK_BOOK_AGE_MS = 2_000
_SCANNER_BOOK_AGE_MS = 60_000
_AGE_MARGIN_MS = 1_000
_POLYMARKET_END_DEFAULT_MS = 1_798_675_200_000  # the simulator's endDate when none is given (2026-12-31)


@dataclass(frozen=True, slots=True)
class SeriesRow:
    """One quote: `venue` "kalshi" | "polymarket", prices and sizes in micro units."""

    line: int
    t_ms: int
    venue: str
    market: str
    bid_micro: int
    ask_micro: int
    bid_size_micro: int
    ask_size_micro: int


# -- reading the CSV --------------------------------------------------------------------------------


def _exact(text: str, what: str, where: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ConfigError(f"{where}: {what} must be a decimal number, was {text!r}") from None
    if value.is_nan():
        raise ConfigError(f"{where}: {what} is NaN")
    if value.is_infinite():
        raise ConfigError(f"{where}: {what} is infinite")
    return value


def _micro(value: Decimal, what: str, where: str, text: str) -> int:
    scaled = value * SCALE
    if scaled != scaled.to_integral_value():
        raise ConfigError(f"{where}: {what} has more than 6 decimals, was {text!r}")
    return int(scaled)


def _price(text: str, what: str, where: str) -> int:
    value = _exact(text, what, where)
    if value < 0:
        raise ConfigError(f"{where}: {what} is negative ({text!r})")
    if value >= 1:
        raise ConfigError(f"{where}: {what} must be below 1, was {text!r}")
    if value == 0:
        raise ConfigError(f"{where}: {what} must be above 0, was {text!r} (a side without quotes has no row)")
    return _micro(value, what, where, text)


def _size(text: str, what: str, where: str) -> int:
    value = _exact(text, what, where)
    if value <= 0:
        raise ConfigError(f"{where}: {what} must be positive, was {text!r}")
    return _micro(value, what, where, text)


def parse_timestamp_ms(text: str, where: str) -> int:
    """ISO-8601 with an offset, unix seconds (up to 3 decimals) or unix milliseconds -> ms."""
    raw = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        whole, _, frac = raw.partition(".")
        if len(whole) >= _MS_DIGITS:
            if frac.strip("0"):
                raise ConfigError(f"{where}: timestamp {raw!r} reads as milliseconds but has a fraction")
            return int(whole)
        if len(frac.rstrip("0")) > 3:
            raise ConfigError(f"{where}: timestamp {raw!r} has more than millisecond precision")
        return int(whole) * 1000 + int((frac + "000")[:3])
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{where}: timestamp {raw!r} is neither ISO-8601 nor unix seconds/milliseconds") from None
    if when.tzinfo is None:
        raise ConfigError(f"{where}: timestamp {raw!r} has no UTC offset (add 'Z' or '+00:00')")
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    if delta.microseconds % 1000:
        raise ConfigError(f"{where}: timestamp {raw!r} has more than millisecond precision")
    return delta // dt.timedelta(milliseconds=1)


def _market(text: str, where: str) -> tuple[str, str]:
    venue, sep, market = text.strip().partition(":")
    if not sep or venue not in ("kalshi", "polymarket") or not market or market != market.strip():
        raise ConfigError(f"{where}: market must be kalshi:TICKER or polymarket:TOKEN_ID/CONDITION_ID, was {text!r}")
    return venue, market


def parse_series_csv(text: str, *, source: str = "<series>", default_size: Decimal = Decimal(100)) -> list[SeriesRow]:
    """Every row of a series CSV, validated (module docstring); in file order."""
    default_micro = _size(str(default_size), "default size", source)
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    rows: list[SeriesRow] = []
    last: dict[tuple[str, str], tuple[int, int]] = {}
    for cells in reader:
        line = reader.line_num
        where = f"{source}:{line}"
        if not cells or all(not c.strip() for c in cells):
            continue
        if header is None:
            header = [c.strip() for c in cells]
            for name in header:
                if name not in COLUMNS:
                    raise ConfigError(f"{where}: unknown column {name!r} (known: {', '.join(COLUMNS)})")
            for name in _REQUIRED:
                if name not in header:
                    raise ConfigError(f"{where}: the header lacks the {name!r} column")
            if len(set(header)) != len(header):
                raise ConfigError(f"{where}: a column is named twice in the header")
            continue
        if len(cells) != len(header):
            raise ConfigError(f"{where}: {len(cells)} cells, the header has {len(header)} columns")
        cell = dict(zip(header, cells, strict=True))
        t_ms = parse_timestamp_ms(cell["timestamp"], where)
        venue, market = _market(cell["market"], where)
        bid = _price(cell["bid"], "bid", where)
        ask = _price(cell["ask"], "ask", where)
        if bid >= ask:
            raise ConfigError(
                f"{where}: crossed quote, bid {cell['bid'].strip()} is not below ask {cell['ask'].strip()}"
            )
        sizes = []
        for name in ("bid_size", "ask_size"):
            raw = cell.get(name, "").strip()
            sizes.append(_size(raw, name, where) if raw else default_micro)
        key = (venue, market)
        previous = last.get(key)
        if previous is not None and t_ms <= previous[0]:
            problem = "repeats" if t_ms == previous[0] else "goes back from"
            raise ConfigError(
                f"{where}: timestamp {cell['timestamp'].strip()} of {venue}:{market} {problem} "
                f"the one on line {previous[1]}"
            )
        last[key] = (t_ms, line)
        rows.append(SeriesRow(line, t_ms, venue, market, bid, ask, sizes[0], sizes[1]))
    if header is None:
        raise ConfigError(f"{source}: empty series (no header row)")
    if not rows:
        raise ConfigError(f"{source}: the series has a header but no rows")
    return rows


def read_series_csv(path: Path | str, *, default_size: Decimal = Decimal(100)) -> list[SeriesRow]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the series ({exc})") from None
    return parse_series_csv(text, source=str(path), default_size=default_size)


# -- the scenario ----------------------------------------------------------------------------------


def _text(micro: int) -> str:
    return str(Decimal(micro) / SCALE)


def _side(price: int, size: int) -> list[list[str]]:
    return [[_text(price), _text(size)]]


def _digest(*parts: str) -> bytes:
    return hashlib.sha256(":".join(("arb-series", *parts)).encode()).digest()


def _derived_token(condition: str, outcome: str) -> str:
    return str(int.from_bytes(_digest(condition, outcome)[:16]))


def _derived_condition(token: str) -> str:
    return "0x" + _digest("condition", token).hex()


def _derived_gamma_id(condition: str) -> str:
    return str(int.from_bytes(_digest("gamma", condition)[:4]) % 900_000_000 + 100_000_000)


@dataclass(slots=True)
class _PolyMarket:
    table: dict[str, Any]
    generated: bool

    @property
    def tokens(self) -> tuple[str, str]:
        return (self.table["yes_token"], self.table["no_token"])


@dataclass(slots=True)
class _Catalogue:
    """The [venues] tree being built: metadata given, plus minimal markets for the rest."""

    kalshi: dict[str, Any] = field(default_factory=dict)
    polymarket: dict[str, Any] = field(default_factory=dict)
    kalshi_markets: dict[str, dict[str, Any]] = field(default_factory=dict)
    kalshi_generated: set[str] = field(default_factory=set)
    poly_by_condition: dict[str, _PolyMarket] = field(default_factory=dict)
    poly_by_token: dict[str, tuple[_PolyMarket, int]] = field(default_factory=dict)  # token -> (market, 0 yes / 1 no)
    open_ms: int = 0  # a generated market opens a day before the series and closes a year after it
    close_ms: int = 0

    @classmethod
    def of(cls, metadata: Mapping[str, Any] | None, source: str, first_ms: int, last_ms: int) -> _Catalogue:
        cat = cls(open_ms=first_ms - _DAY_MS, close_ms=(last_ms + 365 * _DAY_MS) // 1000 * 1000)
        if metadata is None:
            return cat
        unknown = sorted(set(metadata) - {"kalshi", "polymarket", "seed"})
        if unknown:
            raise ConfigError(f"{source}: {unknown[0]}: unknown key (metadata holds [kalshi] and [polymarket] markets)")
        for venue in ("kalshi", "polymarket"):
            tree = metadata.get(venue)
            if tree is None:
                continue
            if not isinstance(tree, Mapping):
                raise ConfigError(f"{source}: {venue} must be a table")
            if "accounts" in tree:
                raise ConfigError(
                    f"{source}: {venue}.accounts: a scenario's accounts are the replay's, not the metadata's"
                )
            copy = orjson.loads(orjson.dumps(tree))  # a deep copy of plain data
            setattr(cat, venue, copy)
        for i, market in enumerate(cat.kalshi.get("markets", [])):
            if "book" in market:
                raise ConfigError(f"{source}: kalshi.markets[{i}].book: books come from the series, not the metadata")
            cat.kalshi_markets[str(market.get("ticker"))] = market
        for i, market in enumerate(cat.polymarket.get("markets", [])):
            for key in ("yes_book", "no_book"):
                if key in market:
                    raise ConfigError(f"{source}: polymarket.markets[{i}].{key}: books come from the series")
            entry = _PolyMarket(market, generated=False)
            cat.poly_by_condition[str(market.get("condition_id"))] = entry
            for k, token in enumerate(entry.tokens):
                cat.poly_by_token[str(token)] = (entry, k)
        return cat

    def kalshi_market(self, ticker: str) -> dict[str, Any]:
        market = self.kalshi_markets.get(ticker)
        if market is not None:
            return market
        event = ticker.rsplit("-", 1)[0] if "-" in ticker else ticker
        series = ticker.split("-", 1)[0]
        series_list = self.kalshi.setdefault("series", [])
        if not any(s.get("ticker") == series for s in series_list):
            series_list.append({"ticker": series, "fee_type": "quadratic", "fee_multiplier": "1"})
        events = self.kalshi.setdefault("events", [])
        if not any(e.get("event_ticker") == event for e in events):
            events.append({"event_ticker": event, "series_ticker": series, "title": event})
        market = {
            "ticker": ticker,
            "event_ticker": event,
            "title": ticker,
            "yes_sub_title": ticker,
            "rules_primary": f"Resolves as Kalshi market {ticker} (a backtest from its price history).",
            "open_time_ms": self.open_ms,
            "close_time_ms": self.close_ms,
        }
        self.kalshi.setdefault("markets", []).append(market)
        self.kalshi_markets[ticker] = market
        self.kalshi_generated.add(ticker)
        return market

    def polymarket_market(self, ident: str) -> tuple[_PolyMarket, int]:
        """The market a CSV id names and which token the quotes are of (0: YES, 1: NO)."""
        if ident in self.poly_by_token:
            return self.poly_by_token[ident]
        if ident in self.poly_by_condition:
            return self.poly_by_condition[ident], 0
        if ident.startswith("0x"):
            condition, yes = ident, _derived_token(ident, "yes")
        else:
            condition, yes = _derived_condition(ident), ident
        table = {
            "condition_id": condition,
            "question": f"Series market {ident}",
            "yes_token": yes,
            "no_token": _derived_token(condition, "no"),
            "gamma_id": _derived_gamma_id(condition),
            "description": f"Resolves as Polymarket market {condition} (a backtest from its price history).",
            "end_date_ms": self.close_ms,
        }
        entry = _PolyMarket(table, generated=True)
        self.polymarket.setdefault("markets", []).append(table)
        self.poly_by_condition[condition] = entry
        for k, token in enumerate(entry.tokens):
            self.poly_by_token[token] = (entry, k)
        return entry, 0


def _grid(prices: Iterable[int], ticks: Sequence[int]) -> int | None:
    """The coarsest tick all prices sit on (and within [tick, 1 - tick]), or None."""
    values = list(prices)
    for tick in ticks:
        if all(p % tick == 0 and tick <= p <= SCALE - tick for p in values):
            return tick
    return None


@dataclass(frozen=True, slots=True)
class SeriesScenario:
    """The built scenario: `tree` (plain data, written by `write_series_scenario`) and counts."""

    tree: dict[str, Any]
    rows: int
    markets: int
    events: int
    first_ms: int
    last_ms: int
    comments: tuple[str, ...]  # per event, the source timestamp and CSV line

    def toml(self) -> str:
        return _to_toml(self.tree, self.comments)


def _iso(ms: int) -> str:
    return format_close_time(ms)


def scenario_from_series(
    rows: Sequence[SeriesRow],
    *,
    name: str,
    source: str = "<series>",
    metadata: Mapping[str, Any] | None = None,
    metadata_source: str = "<metadata>",
    links_text: str | None = None,
    links_source: str = "<links>",
    pairs: Sequence[tuple[str, str, str]] = (),
    max_gap_ms: int = 1000,
    margin_ms: int = 5000,
    seed: int = 1,
    provenance: str | None = None,
    description: str | None = None,
) -> SeriesScenario:
    """The scenario tree of `rows` (module docstring). `pairs`: (Kalshi ticker, Polymarket id as in
    the CSV, "same"|"inverted") to link, fingerprinted against the scenario's own metadata (for
    markets without metadata); `links_text`: a links file whose links are passed through, each
    checked current against the scenario's markets."""
    if not rows:
        raise ConfigError(f"{source}: no rows")
    if max_gap_ms < 0 or margin_ms < 0:
        raise ConfigError("max_gap_ms and margin_ms must be zero or more")
    cat = _Catalogue.of(metadata, metadata_source, min(r.t_ms for r in rows), max(r.t_ms for r in rows))
    # which book each row sets, and the whole history of each market (to pick its tick grid)
    by_market: dict[tuple[str, str], list[SeriesRow]] = {}
    for row in rows:
        by_market.setdefault((row.venue, row.market), []).append(row)
    poly_seen: dict[str, str] = {}  # condition -> the CSV id quoting it
    for (venue, ident), history in by_market.items():
        where = f"{source}:{history[0].line}"
        prices = [p for r in history for p in (r.bid_micro, r.ask_micro)]
        if venue == "kalshi":
            market = cat.kalshi_market(ident)
            if ident in cat.kalshi_generated:
                tick = _grid(prices, [t for t, _ in _KALSHI_TICKS])
                if tick is None:
                    raise ConfigError(f"{where}: kalshi:{ident} prices are off Kalshi's 0.001 grid")
                market["price_level_structure"] = dict(_KALSHI_TICKS)[tick]
            lot = 10_000 if market.get("fractional") else SCALE
            for r in history:
                if r.bid_size_micro % lot or r.ask_size_micro % lot:
                    raise ConfigError(f"{source}:{r.line}: kalshi:{ident} sizes must be multiples of {lot / SCALE:g}")
        else:
            entry, _ = cat.polymarket_market(ident)
            condition = entry.table["condition_id"]
            if condition in poly_seen and poly_seen[condition] != ident:
                raise ConfigError(
                    f"{where}: polymarket:{ident} and polymarket:{poly_seen[condition]} are the same market "
                    "(its two tokens mirror each other: give one series per market)"
                )
            poly_seen[condition] = ident
            if entry.generated:
                tick = _grid(prices, _POLYMARKET_TICKS)
                if tick is None:
                    raise ConfigError(f"{where}: polymarket:{ident} prices are off the 0.0001 grid")
                entry.table["tick"] = _text(tick)
            for r in history:
                if r.bid_size_micro % 10_000 or r.ask_size_micro % 10_000:
                    raise ConfigError(f"{source}:{r.line}: polymarket:{ident} sizes must be multiples of 0.01")
    # virtual time: the first timestamp is 0; gaps longer than max_gap_ms shrink to it
    stamps = sorted({r.t_ms for r in rows})
    virtual: dict[int, int] = {}
    now = 0
    for i, t in enumerate(stamps):
        if i:
            gap = t - stamps[i - 1]
            now += min(gap, max_gap_ms) if max_gap_ms else gap
        virtual[t] = now
    first_ms = stamps[0]
    events: list[tuple[int, int, dict[str, Any], str]] = []
    for (venue, _), history in by_market.items():
        for k, row in enumerate(history):
            books = _books(cat, row)
            if k == 0 and row.t_ms == first_ms:
                for book_id, (bids, asks) in books:
                    _set_initial(cat, venue, book_id, bids, asks)
                continue
            for book_id, (bids, asks) in books:
                event = {
                    "at_ms": virtual[row.t_ms],
                    "kind": "book",
                    "venue": venue,
                    "market": book_id,
                    "bids": bids,
                    "asks": asks,
                }
                events.append((virtual[row.t_ms], row.line, event, f"{_iso(row.t_ms)} ({source} line {row.line})"))
    events.sort(key=lambda e: (e[0], e[1]))
    venues: dict[str, Any] = {}
    if cat.kalshi:
        venues["kalshi"] = cat.kalshi
    if cat.polymarket:
        venues["polymarket"] = cat.polymarket
    try:
        SimSpec.from_dict(venues)
    except ConfigError as exc:
        raise ConfigError(f"the scenario's [venues] do not validate: {exc}") from None
    links = _links(cat, links_text, links_source, pairs, first_ms)
    last_virtual = virtual[stamps[-1]]
    # the replay runs events at 0 <= at_ms < duration: at least 1 ms after the last one
    duration_s = max(1, math.ceil((last_virtual + max(margin_ms, 1)) / 1000))
    # a quote stands until the market's next row: the books' age limits must cover the longest
    # time a market goes without one (to the end of the run), or the gates refuse them as stale
    quiet_ms = 0
    for history in by_market.values():
        times = [virtual[r.t_ms] for r in history] + [duration_s * 1000]
        quiet_ms = max(quiet_ms, *(b - a for a, b in itertools.pairwise(times)))
    age_ms = quiet_ms + _AGE_MARGIN_MS
    config: dict[str, Any] = {}
    if age_ms > _RISK_BOOK_AGE_MS:
        config["risk"] = {"max_book_age_ms": age_ms}
    if age_ms > _SCANNER_BOOK_AGE_MS:
        config["scanner"] = {"max_book_age_ms": age_ms}
        config["repair"] = {"max_book_age_ms": age_ms}
    markets = len(by_market)
    header: dict[str, Any] = {
        "name": name,
        "description": description
        or (
            f"Backtest built by `arb scenario from-series` from {Path(source).name}: {len(rows)} quotes on "
            f"{markets} market(s), {_iso(first_ms)} to {_iso(stamps[-1])}"
            + (f", gaps over {max_gap_ms} ms shortened to {max_gap_ms} ms" if max_gap_ms else "")
        ),
        "provenance": provenance or f"price history {Path(source).name}",
        "duration_s": duration_s,
        "start_wall_ms": first_ms,
        "seed": seed,
    }
    tree: dict[str, Any] = {"scenario": header}
    if config:
        tree["config"] = config
    tree["venues"] = venues
    if links:
        tree["links"] = links
    tree["events"] = [e[2] for e in events]
    return SeriesScenario(
        tree=tree,
        rows=len(rows),
        markets=markets,
        events=len(events),
        first_ms=first_ms,
        last_ms=stamps[-1],
        comments=tuple(e[3] for e in events),
    )


def _books(cat: _Catalogue, row: SeriesRow) -> list[tuple[str, tuple[list[list[str]], list[list[str]]]]]:
    """(book id, (bids, asks)) the row sets: a Kalshi ladder; a Polymarket token and its mirror."""
    quoted = (_side(row.bid_micro, row.bid_size_micro), _side(row.ask_micro, row.ask_size_micro))
    if row.venue == "kalshi":
        return [(row.market, quoted)]
    entry, k = cat.polymarket_market(row.market)
    mirror = (_side(SCALE - row.ask_micro, row.ask_size_micro), _side(SCALE - row.bid_micro, row.bid_size_micro))
    tokens = entry.tokens
    return [(tokens[k], quoted), (tokens[1 - k], mirror)]


def _set_initial(cat: _Catalogue, venue: str, book_id: str, bids: list[list[str]], asks: list[list[str]]) -> None:
    if venue == "kalshi":
        cat.kalshi_markets[book_id]["book"] = {"bids": bids, "asks": asks}
        return
    entry, k = cat.poly_by_token[book_id]
    entry.table["yes_book" if k == 0 else "no_book"] = {"bids": bids, "asks": asks}


def _kalshi_rules(market: Mapping[str, Any]) -> str:
    # as the venue serves it and the client joins it (rules_primary, a blank line, rules_secondary)
    primary, secondary = str(market.get("rules_primary", "")), str(market.get("rules_secondary", ""))
    return f"{primary}\n\n{secondary}" if primary and secondary else primary or secondary


def _polymarket_rules(market: Mapping[str, Any]) -> str:
    return str(market.get("description") or f"Simulated market: {market.get('question', '')}")


def _polymarket_close_ms(market: Mapping[str, Any]) -> int:
    end = market.get("end_date_ms")
    return int(end) // 1000 * 1000 if isinstance(end, int) else _POLYMARKET_END_DEFAULT_MS


def _links(
    cat: _Catalogue, links_text: str | None, links_source: str, pairs: Sequence[tuple[str, str, str]], first_ms: int
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    by_gamma = {str(e.table.get("gamma_id", "1")): e for e in cat.poly_by_condition.values()}
    if links_text is not None:
        parsed = parse_links(links_text, links_source)
        raw = tomlkit.parse(links_text).unwrap().get("link", [])
        for i, (link, table) in enumerate(zip(parsed, raw, strict=True)):
            where = f"{links_source}: link[{i}] ({link.kalshi_ticker} / {link.polymarket_market_id})"
            kalshi = cat.kalshi_markets.get(link.kalshi_ticker)
            poly = by_gamma.get(link.polymarket_market_id)
            if link.polymarket_condition_id:
                poly = cat.poly_by_condition.get(link.polymarket_condition_id, poly)
            if kalshi is None or poly is None:
                raise ConfigError(
                    f"{where}: names a market the scenario does not list (add it to the series or metadata)"
                )
            problems = []
            if rules_fingerprint(_kalshi_rules(kalshi)) != link.kalshi_rules_sha256:
                problems.append("the Kalshi rules text")
            if rules_fingerprint(_polymarket_rules(poly.table)) != link.polymarket_rules_sha256:
                problems.append("the Polymarket rules text")
            if int(kalshi.get("close_time_ms", 1_900_000_000_000)) != link.kalshi_close_time_ms:
                problems.append("the Kalshi close time")
            if _polymarket_close_ms(poly.table) != link.polymarket_close_time_ms:
                problems.append("the Polymarket close time")
            if problems:
                raise ConfigError(
                    f"{where}: stale against the scenario's markets ({', '.join(problems)} differ): give those "
                    "markets' metadata (--markets) as the link was reviewed, or link them with --pair"
                )
            out.append(dict(table))
    for ticker, ident, orientation in pairs:
        where = f"--pair {ticker}={ident}"
        kalshi = cat.kalshi_markets.get(ticker)
        if kalshi is None:
            raise ConfigError(f"{where}: kalshi:{ticker} is not in the series or metadata")
        if ident in cat.poly_by_token:
            poly = cat.poly_by_token[ident][0]
        elif ident in cat.poly_by_condition:
            poly = cat.poly_by_condition[ident]
        elif ident in by_gamma:
            poly = by_gamma[ident]
        else:
            raise ConfigError(f"{where}: polymarket:{ident} is not in the series or metadata")
        if orientation not in ("same", "inverted"):
            raise ConfigError(f"{where}: orientation must be same or inverted, was {orientation!r}")
        out.append(
            {
                "kalshi": ticker,
                "polymarket": str(poly.table.get("gamma_id", "1")),
                "polymarket_condition": poly.table["condition_id"],
                "orientation": orientation,
                "settlement_risk": "identical_rules",
                "kalshi_rules_sha256": rules_fingerprint(_kalshi_rules(kalshi)),
                "polymarket_rules_sha256": rules_fingerprint(_polymarket_rules(poly.table)),
                "kalshi_close_time": format_close_time(int(kalshi.get("close_time_ms", 1_900_000_000_000))),
                "polymarket_close_time": format_close_time(_polymarket_close_ms(poly.table)),
                "approved_by": "arb scenario from-series --pair",
                "approved_at": dt.datetime.fromtimestamp(first_ms // 1000, dt.UTC).date(),
                "note": "asserted by whoever built this backtest",
            }
        )
    if out:
        # the generated links must read back as a links file would (condition ids need 0x + 64 hex)
        document = tomlkit.document()
        document["version"] = 1
        document["link"] = out
        parse_links(tomlkit.dumps(document), "the scenario's links")
    return out


def _to_toml(tree: Mapping[str, Any], comments: Sequence[str]) -> str:
    document = tomlkit.document()
    document.add(tomlkit.comment("Generated by `arb scenario from-series` (docs/replay.md); times are virtual ms."))
    for key, value in tree.items():
        if key == "events":
            array = tomlkit.aot()
            for event, note in zip(value, comments, strict=True):
                table = tomlkit.table()
                for k, v in event.items():
                    table.add(k, tomlkit.integer(v).comment(note) if k == "at_ms" else v)
                array.append(table)
            document.add("events", array)
        else:
            document.add(key, value)
    return tomlkit.dumps(document)


def write_series_scenario(scenario: SeriesScenario, out: Path | str) -> None:
    from arb.files import write_text_atomically

    write_text_atomically(Path(out), scenario.toml(), what="the scenario", create_parents=True)


# -- the venues' own history shapes -> series rows ------------------------------------------------


def _dollars(obj: object, where: str) -> Decimal | None:
    """A candle's close quote: `close_dollars` (the current API), or `close` as dollar text; None
    when the period had no quote on that side."""
    if obj is None:
        return None
    if not isinstance(obj, Mapping):
        raise ConfigError(f"{where}: must be an object with close_dollars, was {type(obj).__name__}")
    for key in ("close_dollars", "close"):
        if key in obj:
            raw = obj[key]
            if raw is None:
                return None
            if not isinstance(raw, str):
                raise ConfigError(f'{where}.{key}: must be dollar text like "0.4200", was {raw!r}')
            return _exact(raw, key, where)
    return None


def kalshi_candles_to_rows(
    doc: object, ticker: str | None = None, *, source: str = "<candlesticks>"
) -> list[dict[str, str]]:
    """CSV rows (timestamp, market, bid, ask) from a Kalshi candlesticks response: each candle's
    closing YES bid and ask at its `end_period_ts` (candles are labelled by period end). Accepted:
    `GET /series/{s}/markets/{t}/candlesticks` (`close_dollars`), `GET /historical/markets/{t}/
    candlesticks` (`close`) and the batch `GET /markets/candlesticks` (`markets[]` with
    `market_ticker`). Candles without a two-sided quote (no bid, bid 0, no ask, ask 1) are skipped."""
    if isinstance(doc, Mapping) and isinstance(doc.get("markets"), list) and "candlesticks" not in doc:
        if ticker is not None:
            raise ConfigError(f"{source}: a batch response names its markets itself: give no ticker")
        rows: list[dict[str, str]] = []
        for i, item in enumerate(doc["markets"]):
            if not isinstance(item, Mapping) or not isinstance(item.get("market_ticker"), str):
                raise ConfigError(f"{source}: markets[{i}]: must be an object with market_ticker and candlesticks")
            inner = {"ticker": item["market_ticker"], "candlesticks": item.get("candlesticks")}
            rows.extend(kalshi_candles_to_rows(inner, source=f"{source}: markets[{i}]"))
        return rows
    if not isinstance(doc, Mapping) or not isinstance(doc.get("candlesticks"), list):
        raise ConfigError(f"{source}: a Kalshi candlesticks response is an object with a candlesticks list")
    named = doc.get("ticker")
    if ticker is None:
        if not isinstance(named, str) or not named:
            raise ConfigError(f"{source}: the response names no ticker: give it (TICKER=FILE)")
        ticker = named
    elif isinstance(named, str) and named and named != ticker:
        raise ConfigError(f"{source}: the response is for {named!r}, not {ticker!r}")
    out: list[dict[str, str]] = []
    for i, candle in enumerate(doc["candlesticks"]):
        where = f"{source}: candlesticks[{i}]"
        if not isinstance(candle, Mapping):
            raise ConfigError(f"{where}: must be an object")
        end = candle.get("end_period_ts")
        if isinstance(end, bool) or not isinstance(end, int) or end < 0:
            raise ConfigError(f"{where}.end_period_ts: must be unix seconds, was {end!r}")
        bid = _dollars(candle.get("yes_bid"), f"{where}.yes_bid")
        ask = _dollars(candle.get("yes_ask"), f"{where}.yes_ask")
        if bid is None or ask is None or bid <= 0 or ask >= 1:
            continue
        out.append({"timestamp": str(end), "market": f"kalshi:{ticker}", "bid": _plain(bid), "ask": _plain(ask)})
    return out


def polymarket_history_to_rows(
    doc: object,
    token: str,
    *,
    half_spread: Decimal = Decimal("0.01"),
    tick: Decimal = Decimal("0.01"),
    source: str = "<prices-history>",
) -> list[dict[str, str]]:
    """CSV rows from a Polymarket `GET /prices-history` response `{"history": [{"t", "p"}]}`. The
    history holds one price per point, not quotes: the row's bid is p - half_spread rounded down to
    the tick and its ask p + half_spread rounded up (a synthetic spread; say so in the backtest's
    provenance). Points whose bid or ask would leave (0, 1) are skipped."""
    if isinstance(doc, Mapping):
        history = doc.get("history")
    else:
        history = None
    if not isinstance(history, list):
        raise ConfigError(f"{source}: a prices-history response is an object with a history list")
    if tick <= 0 or half_spread <= 0:
        raise ConfigError("tick and half_spread must be positive")
    rows: list[dict[str, str]] = []
    for i, point in enumerate(history):
        where = f"{source}: history[{i}]"
        if not isinstance(point, Mapping) or set(point) - {"t", "p"}:
            raise ConfigError(f"{where}: must be an object {{t, p}}, was {point!r}")
        t, p = point.get("t"), point.get("p")
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise ConfigError(f"{where}.t: must be unix seconds, was {t!r}")
        if isinstance(p, bool) or not isinstance(p, (int, float, str)):
            raise ConfigError(f"{where}.p: must be a number, was {p!r}")
        price = _exact(repr(p) if isinstance(p, float) else str(p), "p", where)
        if not 0 <= price <= 1:
            raise ConfigError(f"{where}.p: must be within [0, 1], was {p!r}")
        bid = ((price - half_spread) / tick).to_integral_value(rounding="ROUND_FLOOR") * tick
        ask = ((price + half_spread) / tick).to_integral_value(rounding="ROUND_CEILING") * tick
        if bid <= 0 or ask >= 1:
            continue
        rows.append({"timestamp": str(t), "market": f"polymarket:{token}", "bid": _plain(bid), "ask": _plain(ask)})
    return rows


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")  # "0.4200" -> "0.42", never "4.2E-1"


def series_csv_text(rows: Iterable[Mapping[str, str]]) -> str:
    """Rows (from the converters, any markets) as one series CSV, ordered by time then market."""
    ordered = sorted(rows, key=lambda r: (parse_timestamp_ms(r["timestamp"], "row"), r["market"]))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS[:4]), lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    writer.writerows(ordered)
    return out.getvalue()


# -- the command line ------------------------------------------------------------------------------


def _read_json(path: Path) -> object:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None


def _split_pair(text: str, what: str) -> tuple[str, str]:
    left, sep, right = text.partition("=")
    if not sep or not left or not right:
        raise ConfigError(f"{what} must be ID=FILE, was {text!r}")
    return left, right


def run_series_csv(args: Any) -> int:
    """`arb scenario series-csv`: the venues' history responses -> one series CSV."""
    rows: list[dict[str, str]] = []
    for item in args.kalshi or ():
        ticker, _, path = item.partition("=") if "=" in item else ("", "", item)
        rows.extend(kalshi_candles_to_rows(_read_json(Path(path)), ticker or None, source=path))
    for item in args.polymarket or ():
        token, path = _split_pair(item, "--polymarket")
        rows.extend(
            polymarket_history_to_rows(
                _read_json(Path(path)), token, half_spread=args.half_spread, tick=args.tick, source=path
            )
        )
    if not rows:
        raise ConfigError("no quotes: give --kalshi and/or --polymarket history files with two-sided quotes")
    from arb.files import write_text_atomically

    write_text_atomically(args.out, series_csv_text(rows), what="the series CSV", create_parents=True)
    print(f"{args.out}: {len(rows)} quotes")
    return 0


def _pair(text: str) -> tuple[str, str, str]:
    left, sep, right = text.partition("=")
    orientation = "same"
    if ":" in right and right.rsplit(":", 1)[1] in ("same", "inverted"):
        right, orientation = right.rsplit(":", 1)
    if not sep or not left or not right:
        raise ConfigError(f"--pair must be KALSHI_TICKER=POLYMARKET_ID[:same|:inverted], was {text!r}")
    return left, right, orientation


def metadata_from_venue_files(
    kalshi_files: Sequence[Path | str] = (), polymarket_files: Sequence[Path | str] = ()
) -> dict[str, Any]:
    """A metadata tree (SimSpec markets, no books) from the venues' saved market files: Kalshi
    `GET /markets` or `GET /events?with_nested_markets=true` responses, Polymarket Gamma `GET
    /markets` or `GET /events` arrays (`arb.venues.metadata_files`, the files `arb links approve`
    reads, so links approved from them stay current). A backtest trades its markets, so each is
    listed active whatever its status was; a Kalshi file carries no series fee type: Kalshi's
    standard quadratic fee is assumed (give the series in a --markets TOML to change it)."""
    from arb.replay.record import metadata_spec
    from arb.venues.metadata_files import load_kalshi_markets_file, load_polymarket_markets_file

    markets = [m for path in kalshi_files for m in load_kalshi_markets_file(path)]
    markets += [m for path in polymarket_files for m in load_polymarket_markets_file(path)]
    tree = metadata_spec(markets, [], [])
    for market in tree.get("kalshi", {}).get("markets", []):
        market["status"] = "active"
    return tree


def _merge_metadata(trees: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for tree in trees:
        for venue, tables in tree.items():
            if not isinstance(tables, Mapping):
                merged[venue] = tables
                continue
            into = merged.setdefault(venue, {})
            for key, value in tables.items():
                if isinstance(value, list) and isinstance(into.get(key), list):
                    known = {orjson.dumps(item, option=orjson.OPT_SORT_KEYS) for item in into[key]}
                    into[key].extend(v for v in value if orjson.dumps(v, option=orjson.OPT_SORT_KEYS) not in known)
                else:
                    into[key] = value
    return merged


def run_from_series(args: Any) -> int:
    """`arb scenario from-series`."""
    import tomllib

    from arb.errors import WireError

    rows = read_series_csv(args.csv, default_size=args.default_size)
    trees: list[Mapping[str, Any]] = []
    if args.markets is not None:
        try:
            trees.append(tomllib.loads(Path(args.markets).read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigError(f"{args.markets}: cannot read the metadata ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{args.markets}: not valid TOML ({exc})") from None
    if args.kalshi_markets or args.polymarket_markets:
        try:
            trees.append(metadata_from_venue_files(args.kalshi_markets or (), args.polymarket_markets or ()))
        except WireError as exc:
            raise ConfigError(f"a markets file does not decode: {exc}") from None
    metadata = _merge_metadata(trees) if trees else None
    links_text = None
    if args.links is not None:
        from arb.files import read_text

        links_text = read_text(args.links, what="the links file")
    scenario = scenario_from_series(
        rows,
        name=args.name or Path(args.csv).stem,
        source=str(args.csv),
        metadata=metadata,
        metadata_source=str(args.markets or "the markets files"),
        links_text=links_text,
        links_source=str(args.links),
        pairs=[_pair(p) for p in args.pair or ()],
        max_gap_ms=round(args.max_gap_s * 1000),
        margin_ms=round(args.margin_s * 1000),
        seed=args.seed,
        provenance=args.provenance,
    )
    write_series_scenario(scenario, args.out)
    print(
        f"{args.out}: {scenario.markets} market(s), {scenario.rows} quotes, {scenario.events} book events, "
        f"{scenario.tree['scenario']['duration_s']} s"
    )
    return 0
