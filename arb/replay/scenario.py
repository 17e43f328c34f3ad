"""Scenario files: what `arb replay` plays (docs/replay.md).

One TOML file (UTF-8) per scenario: `[scenario]` (name, provenance, virtual duration, wall clock
at t=0, seed), `[config]` (overrides of config/default.toml, checked by the same code), `[venues]`
(a simulator spec, `arb.venues.sim.spec`, without accounts: the replay opens the daemon's),
`[[links]]` and `[[exhaustive_series]]` (the graph's curated lists), `[[events]]` (timed changes
to the venues: books, trades, faults, settlements, a crash) and `[expect]` (what the run must
show). Everything is validated before anything runs; every error is a `ConfigError` naming the
file and the key path (`events[3].bids[0][0]: price must be strictly within (0, 1)`).

Prices and sizes are exact (decimal text or integers, kept as micro units); Kalshi prices are YES
prices. A Polymarket book is a token's.
"""

from __future__ import annotations

import functools
import hashlib
import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar, Literal

import orjson

from arb.config import AppConfig, config_from_document
from arb.domain import Side, Venue
from arb.errors import ConfigError
from arb.exhaustive_series import ExhaustiveSeries, series_from_tables
from arb.links import CuratedLink, links_from_tables
from arb.venues.sim.spec import (
    KalshiMarketSpec,
    PolymarketMarketSpec,
    SimSpec,
    _book,
    _bool,
    _id,
    _int,
    _list,
    _micro,
    _string,
    _Table,
    kalshi_on_tick,
)

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "REPLAY_SET_KEYS",
    "BookEvent",
    "ClearPartialFillsEvent",
    "CrashEvent",
    "DisconnectEvent",
    "Expectations",
    "FreezeEvent",
    "HealEvent",
    "HttpErrorsEvent",
    "KillEvent",
    "LatencyEvent",
    "LedgerFaultEvent",
    "LedgerHealEvent",
    "LevelEvent",
    "LoseAnswersEvent",
    "PartialFillsEvent",
    "PartitionEvent",
    "PositionKey",
    "ReleaseEvent",
    "Scenario",
    "ScenarioEvent",
    "SettleEvent",
    "ThawEvent",
    "TradeEvent",
    "apply_overrides",
    "load_scenario",
    "parse_scenario",
]

_SCALE = 1_000_000
Level = tuple[int, int]  # (price micro-USD, size micro-contracts)
DEFAULT_CONFIG_FILE = Path(__file__).resolve().parents[2] / "config" / "default.toml"
_MAX_DURATION_MS = 7 * 24 * 3_600_000  # a week of virtual time: more is a mistake, not a scenario

# Config keys the replay sets itself (a scenario or an override may not): where the ledger and the
# kill-switch file live, which venues and mode, the run's length, what is served or drawn.
REPLAY_SET_KEYS: tuple[str, ...] = (
    "run.mode",
    "run.venues",
    "run.duration_s",
    "run.scenario",
    "venues.enabled",
    "venues.kalshi",
    "venues.polymarket",
    "ledger.path",
    "metrics",
    "notifications",
    "live_view",
    "graph.links_file",
    "graph.exhaustive_series_file",
    "risk.kill_switch_file",
    "risk.kill_switch_signal",
)
# `risk.limits.X` is how the code names `risk.X` (RiskSettings.limits): accepted as the same key.
_RISK_LIMITS_PREFIX = "risk.limits."


# -- events -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookEvent:
    """The house's ladder of one book becomes exactly these levels (other owners' orders stay)."""

    kind: ClassVar[str] = "book"
    at_ms: int
    venue: Venue
    market: str  # Kalshi ticker | Polymarket token id
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class LevelEvent:
    """The house's size at one price of one side becomes `size_micro` (0 empties the level)."""

    kind: ClassVar[str] = "level"
    at_ms: int
    venue: Venue
    market: str
    side: Literal["bid", "ask"]
    price_micro: int
    size_micro: int


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """Another participant takes liquidity: buys up to `size_micro` at `price_micro` or better
    (the asks) or sells (the bids), immediate-or-cancel."""

    kind: ClassVar[str] = "trade"
    at_ms: int
    venue: Venue
    market: str
    action: Literal["buy", "sell"]
    price_micro: int
    size_micro: int


@dataclass(frozen=True, slots=True)
class PartialFillsEvent:
    """From now on every order of the daemon on this book matches only `ratio_micro` / 1e6 of
    its size at once (the rest of an IOC order is cancelled)."""

    kind: ClassVar[str] = "partial_fills"
    at_ms: int
    venue: Venue
    market: str
    ratio_micro: int


@dataclass(frozen=True, slots=True)
class ClearPartialFillsEvent:
    kind: ClassVar[str] = "clear_partial_fills"
    at_ms: int
    venue: Venue
    market: str | None  # None: every book of the venue


@dataclass(frozen=True, slots=True)
class DisconnectEvent:
    """The venue drops its sockets of `stream` at once (the clients reconnect and resync)."""

    kind: ClassVar[str] = "disconnect"
    at_ms: int
    venue: Venue
    stream: str  # "market" | "user" | "*"


@dataclass(frozen=True, slots=True)
class FreezeEvent:
    """The venue goes silent on `stream` (pings still answered) until a thaw or a new connection."""

    kind: ClassVar[str] = "freeze"
    at_ms: int
    venue: Venue
    stream: str


@dataclass(frozen=True, slots=True)
class ThawEvent:
    kind: ClassVar[str] = "thaw"
    at_ms: int
    venue: Venue
    stream: str


@dataclass(frozen=True, slots=True)
class HttpErrorsEvent:
    """The venue answers its next `count` HTTP requests (any path) with `status`, unprocessed."""

    kind: ClassVar[str] = "http_errors"
    at_ms: int
    venue: Venue
    status: int
    count: int


@dataclass(frozen=True, slots=True)
class LoseAnswersEvent:
    """The venue processes its next `count` POST/DELETE requests on paths starting with
    `path_prefix`, then answers 500 (`mode` "500") or never ("no_answer")."""

    kind: ClassVar[str] = "lose_answers"
    at_ms: int
    venue: Venue
    count: int
    path_prefix: str
    mode: Literal["500", "no_answer"]


@dataclass(frozen=True, slots=True)
class LatencyEvent:
    """Every HTTP answer and socket frame of the venue is delayed this long (0 ends it)."""

    kind: ClassVar[str] = "latency"
    at_ms: int
    venue: Venue
    seconds: float


@dataclass(frozen=True, slots=True)
class PartitionEvent:
    """The venue becomes unreachable: every connection refused or dropped until healed."""

    kind: ClassVar[str] = "partition"
    at_ms: int
    venue: Venue


@dataclass(frozen=True, slots=True)
class HealEvent:
    kind: ClassVar[str] = "heal"
    at_ms: int
    venue: Venue


@dataclass(frozen=True, slots=True)
class LedgerFaultEvent:
    """The ledger's writes fail (a disk I/O error) until healed."""

    kind: ClassVar[str] = "ledger_fault"
    at_ms: int


@dataclass(frozen=True, slots=True)
class LedgerHealEvent:
    kind: ClassVar[str] = "ledger_heal"
    at_ms: int


@dataclass(frozen=True, slots=True)
class SettleEvent:
    """The market resolves and pays: `result` "yes", "no" or "void"."""

    kind: ClassVar[str] = "settle"
    at_ms: int
    venue: Venue
    market: str  # Kalshi ticker | Polymarket condition id
    result: Literal["yes", "no", "void"]


@dataclass(frozen=True, slots=True)
class CrashEvent:
    """The daemon is abandoned at once (no shutdown path) and a new one starts on the same ledger
    and venues: its start-up recovery reconciles what was in flight."""

    kind: ClassVar[str] = "crash"
    at_ms: int


@dataclass(frozen=True, slots=True)
class KillEvent:
    """The kill switch is engaged (its file created, as `arb kill` does)."""

    kind: ClassVar[str] = "kill"
    at_ms: int


@dataclass(frozen=True, slots=True)
class ReleaseEvent:
    kind: ClassVar[str] = "release"
    at_ms: int


ScenarioEvent = (
    BookEvent
    | LevelEvent
    | TradeEvent
    | PartialFillsEvent
    | ClearPartialFillsEvent
    | DisconnectEvent
    | FreezeEvent
    | ThawEvent
    | HttpErrorsEvent
    | LoseAnswersEvent
    | LatencyEvent
    | PartitionEvent
    | HealEvent
    | LedgerFaultEvent
    | LedgerHealEvent
    | SettleEvent
    | CrashEvent
    | KillEvent
    | ReleaseEvent
)


# -- expectations -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class PositionKey:
    """A contract as the ledger holds it: venue, market (Kalshi ticker | Polymarket condition id)
    and side. `text` is how the scenario wrote it."""

    venue: Venue
    market: str
    side: Side
    text: str = field(compare=False)


@dataclass(frozen=True, slots=True)
class Expectations:
    """`[expect]`: every field None (or empty) is not checked. Money exact; sizes in contracts."""

    plans_min: int | None = None
    plans_max: int | None = None
    guaranteed_profit_usd_min: Decimal | None = None
    guaranteed_profit_usd_max: Decimal | None = None
    orders_sent_min: int | None = None
    orders_sent_max: int | None = None
    final_positions: tuple[tuple[PositionKey, Decimal], ...] = ()
    unhedged_sets: int | None = None
    incidents_min: int | None = None
    incidents_max: int | None = None
    halts: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    recovery_clean: bool | None = None
    repairs_min: int | None = None
    repairs_max: int | None = None
    lost_events: int | None = None


# -- the scenario -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    """One validated scenario file.

    config_settings: `[config]` flattened to (dotted key, value) in file order, applied on top of
    config/default.toml; `config` is the checked result with the replay's own keys at their
    placeholders (`Scenario.app_config` gives the run's). daemon_cash_micro_usd: the daemon's
    account on each venue of `venues`."""

    name: str
    description: str
    provenance: str
    duration_ms: int
    start_wall_ms: int
    seed: int
    venues: SimSpec
    daemon_cash_micro_usd: tuple[tuple[Venue, int], ...]
    links: tuple[CuratedLink, ...]
    exhaustive_series: tuple[ExhaustiveSeries, ...]
    config_settings: tuple[tuple[str, Any], ...]
    config: AppConfig
    events: tuple[ScenarioEvent, ...]
    expect: Expectations
    source: str
    sha256: str

    @property
    def enabled_venues(self) -> tuple[Venue, ...]:
        return tuple(
            v for v, spec in ((Venue.KALSHI, self.venues.kalshi), (Venue.POLYMARKET, self.venues.polymarket)) if spec
        )

    def app_config(self, workdir: Path, overrides: Mapping[str, Any] | None = None) -> AppConfig:
        """The daemon's configuration for a run in `workdir` (its ledger and kill-switch file
        there), with `overrides` (dotted keys, as `[config]`) on top of the scenario's."""
        settings = list(self.config_settings)
        for key, value in (overrides or {}).items():
            settings.append((_check_override_key(key, "overrides"), value))
        return _build_config(
            settings,
            source=f"{self.source} [config]" + (" + overrides" if overrides else ""),
            workdir=workdir,
            venues=self.enabled_venues,
            duration_ms=self.duration_ms,
        )


def load_scenario(path: str | Path) -> Scenario:
    """The scenario in a TOML file (`ConfigError` naming the file and the key path)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the scenario ({exc.strerror or exc})") from None
    return parse_scenario(raw, str(path))


def parse_scenario(text: str | bytes, source: str = "<scenario>") -> Scenario:
    """A scenario from TOML text; `source` names it in errors."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: a scenario file must be UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: not a scenario (arrays or inline tables nested too deeply)") from None
    return _parse(data, source, hashlib.sha256(raw).hexdigest())


def scenario_from_dict(data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
    """A scenario from an already parsed tree (its sha256 is that of the tree's canonical JSON)."""
    try:
        canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        raise ConfigError(f"{source}: not a scenario tree ({exc})") from None
    return _parse(data, source, hashlib.sha256(canonical).hexdigest())


# -- parsing ------------------------------------------------------------------------------------------


def _parse(data: Mapping[str, Any], source: str, sha256: str) -> Scenario:
    try:
        return _parse_tree(data, source, sha256)
    except ConfigError as exc:
        text = str(exc)
        raise (exc if text.startswith(source) else ConfigError(f"{source}: {text}")) from None


def _parse_tree(data: Mapping[str, Any], source: str, sha256: str) -> Scenario:
    top = _Table(data, "")
    head = top.need("scenario", _Table)
    name = head.need("name", _id)
    description = head.get("description", _string, "")
    provenance = head.need("provenance", _string)
    if not provenance.strip():
        raise ConfigError(f"{head.at('provenance')}: say where the markets and books come from (or 'synthetic')")
    duration_ms = head.need("duration_s", _duration_ms)
    start_wall_ms = head.need("start_wall_ms", _int)
    if not 0 <= start_wall_ms < 10**14:
        raise ConfigError(f"{head.at('start_wall_ms')}: must be a UTC time in ms since 1970, was {start_wall_ms!r}")
    seed = head.get("seed", _int, 0)
    if seed < 0:
        raise ConfigError(f"{head.at('seed')}: must be >= 0, was {seed!r}")
    head.done()

    raw_config = top.get("config", _Table, None)
    settings: list[tuple[str, Any]] = []
    if raw_config is not None:
        _flatten(raw_config.data, "", settings)
        for key, _value in settings:
            _check_override_key(key, "config")

    raw_venues = top.need("venues", _Table)
    venues, cash = _venues(raw_venues.data, seed)
    enabled = tuple(v for v, spec in ((Venue.KALSHI, venues.kalshi), (Venue.POLYMARKET, venues.polymarket)) if spec)
    config = _build_config(
        settings,
        source=f"{source} [config]",
        workdir=Path("/nonexistent-replay-workdir"),
        venues=enabled,
        duration_ms=duration_ms,
    )
    daemon_cash: list[tuple[Venue, int]] = []
    limits = config.risk.limits.cash_per_venue_usd
    for venue in enabled:
        given = cash.get(venue)
        if given is None:
            configured = limits.get(venue.value)
            if configured is None:
                raise ConfigError(
                    f"venues.{venue.value}: the daemon's cash on it is not given: set [config] "
                    f"risk.cash_per_venue_usd.{venue.value} or venues.{venue.value}."
                    + ("default_balance_usd" if venue is Venue.KALSHI else "cash_usd")
                )
            given = int(configured * _SCALE)
        daemon_cash.append((venue, given))

    links = links_from_tables(top.get("links", _list, []), "", table="links") if top.has("links") else ()
    top.used.add("links")
    series: tuple[ExhaustiveSeries, ...] = ()
    if top.has("exhaustive_series"):
        series = series_from_tables(top.get("exhaustive_series", _list, []), "", table="exhaustive_series")
    top.used.add("exhaustive_series")
    books = _Books(venues)
    events = _events(top.get("events", _list, []), books, duration_ms)
    expect = top.get("expect", lambda v, p: _expect(v, p, books), Expectations())
    top.done()
    return Scenario(
        name=name,
        description=description,
        provenance=provenance,
        duration_ms=duration_ms,
        start_wall_ms=start_wall_ms,
        seed=seed,
        venues=venues,
        daemon_cash_micro_usd=tuple(daemon_cash),
        links=tuple(links),
        exhaustive_series=series,
        config_settings=tuple(settings),
        config=config,
        events=events,
        expect=expect,
        source=source,
        sha256=sha256,
    )


def _duration_ms(value: object, path: str) -> int:
    """Virtual seconds, positive, at most a week, exact to the millisecond."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{path}: must be a number of seconds, was {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path}: must be a finite number of seconds, was {value!r}")
    try:
        seconds = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        raise ConfigError(f"{path}: must be a number of seconds, was {value!r}") from None
    if not seconds.is_finite():
        raise ConfigError(f"{path}: must be a finite number of seconds, was {value!r}")
    ms = seconds * 1000
    if ms != ms.to_integral_value():
        raise ConfigError(f"{path}: must be exact to the millisecond, was {value!r}")
    if not 0 < ms <= _MAX_DURATION_MS:
        raise ConfigError(f"{path}: must be more than 0 and at most {_MAX_DURATION_MS // 1000} s, was {value!r}")
    return int(ms)


# -- configuration ------------------------------------------------------------------------------------


def _flatten(table: Mapping[str, Any], prefix: str, out: list[tuple[str, Any]]) -> None:
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if not value:
                out.append((dotted, {}))
            _flatten(value, dotted + ".", out)
        else:
            out.append((dotted, value))


def _check_override_key(key: object, where: str) -> str:
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"{where}: {key!r} is not a dotted configuration key like 'risk.min_profit_usd'")
    if key.startswith(_RISK_LIMITS_PREFIX):
        key = "risk." + key[len(_RISK_LIMITS_PREFIX) :]
    for reserved in REPLAY_SET_KEYS:
        if key == reserved or key.startswith(reserved + "."):
            raise ConfigError(
                f"{where}: {key} is set by the replay itself (it runs paper trading on the scenario's "
                "venues, with its own ledger, kill-switch file and duration); leave it out"
            )
    return key


def apply_overrides(document: dict[str, Any], settings: Sequence[tuple[str, Any]], where: str) -> None:
    """Set each dotted key of `settings` in `document` (a parsed config file), in order."""
    for key, value in settings:
        parts = key.split(".")
        node: Any = document
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"{where}: {key}: {'.'.join(parts[: i + 1])} is a value, not a table")
            node = child
        last = parts[-1]
        if isinstance(value, Mapping):
            existing = node.get(last)
            if existing is not None and not isinstance(existing, dict):
                raise ConfigError(f"{where}: {key}: is a value in the configuration, not a table")
            node.setdefault(last, {})
        else:
            if isinstance(node.get(last), dict):
                raise ConfigError(f"{where}: {key}: is a table in the configuration, not a value")
            node[last] = value


@functools.cache
def _default_config_text() -> bytes:
    try:
        return DEFAULT_CONFIG_FILE.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{DEFAULT_CONFIG_FILE}: cannot read the default configuration ({exc.strerror})") from None


def _default_config_document() -> dict[str, Any]:
    """config/default.toml, parsed afresh (each run edits its own copy)."""
    try:
        return tomllib.loads(_default_config_text().decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{DEFAULT_CONFIG_FILE}: not valid TOML: {exc}") from None


def _build_config(
    settings: Sequence[tuple[str, Any]],
    *,
    source: str,
    workdir: Path,
    venues: tuple[Venue, ...],
    duration_ms: int,
) -> AppConfig:
    document = _default_config_document()
    apply_overrides(document, settings, source)
    run = document.setdefault("run", {})
    run.update(mode="paper", venues="simulated", duration_s=duration_ms / 1000)
    document.setdefault("venues", {})["enabled"] = [v.value for v in venues]
    document.setdefault("ledger", {})["path"] = str(workdir / "ledger.sqlite3")
    document["metrics"] = {"enabled": False}
    document["live_view"] = {"enabled": False}
    document["notifications"] = {"enabled": False}
    risk = document.setdefault("risk", {})
    cash = risk.get("cash_per_venue_usd")
    if isinstance(cash, dict):  # a venue the scenario does not list holds no capital (the bankroll)
        for name in [name for name in cash if name not in {v.value for v in venues}]:
            del cash[name]
    risk["kill_switch_file"] = str(workdir / "arb.kill")
    risk.pop("kill_switch_signal", None)  # a replay installs no signal handler
    return config_from_document(document, source=Path(source), base_dir=workdir)


# -- venues -------------------------------------------------------------------------------------------


def _venues(value: Mapping[str, Any], seed: int) -> tuple[SimSpec, dict[Venue, int]]:
    """`[venues]` as a `SimSpec` under the scenario's seed; the daemon's cash per venue where
    the file gives it (`venues.kalshi.default_balance_usd`, `venues.polymarket.cash_usd`)."""
    tree: dict[str, Any] = {"seed": seed}
    cash: dict[Venue, int] = {}
    for key, item in value.items():
        where = f"venues.{key}"
        if key not in ("kalshi", "polymarket"):
            raise ConfigError(f"{where}: unknown key (known: kalshi, polymarket)")
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: must be a table, was {type(item).__name__}")
        if "accounts" in item:
            raise ConfigError(
                f"{where}.accounts: the replay opens the daemon's account itself (its cash: "
                + ("default_balance_usd" if key == "kalshi" else "cash_usd")
                + " here, or [config] risk.cash_per_venue_usd); other traders act through trade events"
            )
        if "participants" in item and item["participants"] is not False:
            raise ConfigError(
                f"{where}.participants: scripted participants would move books outside the scenario's events"
            )
        item = dict(item)
        if key == "polymarket" and "cash_usd" in item:
            cash[Venue.POLYMARKET] = _micro(item.pop("cash_usd"), f"{where}.cash_usd")
        if key == "kalshi" and "default_balance_usd" in item:
            cash[Venue.KALSHI] = _micro(item["default_balance_usd"], f"{where}.default_balance_usd")
        tree[key] = item
    try:
        spec = SimSpec.from_dict(tree)
    except ConfigError as exc:  # the spec's paths start at its own top: under [venues] here
        text = str(exc)
        raise ConfigError(
            f"venues.{text}" if text.startswith(("kalshi", "polymarket")) else f"venues: {text}"
        ) from None
    return spec, cash


class _Books:
    """The venues' markets and the house's ladders as the events leave them, to check each event
    against the book it changes."""

    def __init__(self, venues: SimSpec) -> None:
        self.kalshi: dict[str, KalshiMarketSpec] = {}
        self.tokens: dict[str, tuple[PolymarketMarketSpec, Side]] = {}
        self.conditions: dict[str, PolymarketMarketSpec] = {}
        self.ladders: dict[tuple[Venue, str], tuple[dict[int, int], dict[int, int]]] = {}
        if venues.kalshi is not None:
            for m in venues.kalshi.markets:
                self.kalshi[m.ticker] = m
                self.ladders[(Venue.KALSHI, m.ticker)] = (dict(m.book.bids), dict(m.book.asks))
        if venues.polymarket is not None:
            for p in venues.polymarket.markets:
                self.conditions[p.condition_id] = p
                for token, side, book in ((p.yes_token, Side.YES, p.yes_book), (p.no_token, Side.NO, p.no_book)):
                    self.tokens[token] = (p, side)
                    self.ladders[(Venue.POLYMARKET, token)] = (dict(book.bids), dict(book.asks))

    def book_id(self, venue: Venue, market: str, path: str) -> str:
        """A book the event may change: a Kalshi ticker or a Polymarket token."""
        if venue is Venue.KALSHI:
            if market not in self.kalshi:
                raise ConfigError(f"{path}: unknown Kalshi market {market!r} (not in [venues.kalshi])")
        elif market not in self.tokens:
            hint = " (a condition id: books are per token)" if market in self.conditions else ""
            raise ConfigError(f"{path}: unknown Polymarket token {market!r}{hint}")
        return market

    def check_price(self, venue: Venue, book: str) -> Callable[[int, str], None]:
        if venue is Venue.KALSHI:
            structure = self.kalshi[book].price_level_structure

            def on_kalshi_tick(price: int, where: str) -> None:
                if not kalshi_on_tick(structure, price):
                    raise ConfigError(f"{where}: price {_text(price)} is off the {structure} tick grid of {book}")

            return on_kalshi_tick
        tick = self.tokens[book][0].tick_micro

        def on_poly_tick(price: int, where: str) -> None:
            if price % tick or not tick <= price <= _SCALE - tick:
                raise ConfigError(f"{where}: price {_text(price)} is off the {_text(tick)} tick grid of token {book}")

        return on_poly_tick

    def lot(self, venue: Venue, book: str) -> int:
        if venue is Venue.KALSHI:
            return 10_000 if self.kalshi[book].fractional else _SCALE
        return 10_000

    def replace(self, venue: Venue, book: str, bids: Sequence[Level], asks: Sequence[Level]) -> None:
        self.ladders[(venue, book)] = (dict(bids), dict(asks))

    def set_level(self, venue: Venue, book: str, side: str, price: int, size: int, path: str) -> None:
        bids, asks = self.ladders[(venue, book)]
        levels = bids if side == "bid" else asks
        if size:
            levels[price] = size
        else:
            levels.pop(price, None)
        if bids and asks and max(bids) >= min(asks):
            raise ConfigError(
                f"{path}: leaves the house's book of {book} crossed (best bid {_text(max(bids))} at or above "
                f"best ask {_text(min(asks))}): empty the other side's level first"
            )

    def trade(self, venue: Venue, book: str, action: str, price: int, size: int) -> None:
        """The house's levels a taker at `price` consumes, best first."""
        bids, asks = self.ladders[(venue, book)]
        buying = action == "buy"
        levels = asks if buying else bids
        for level in sorted(levels, reverse=not buying):
            if size <= 0 or (level > price if buying else level < price):
                break
            taken = min(size, levels[level])
            size -= taken
            levels[level] -= taken
            if not levels[level]:
                del levels[level]


def _text(micro: int) -> str:
    return str(Decimal(micro) / _SCALE)


# -- events -------------------------------------------------------------------------------------------

_VENUE_EVENTS = frozenset(
    {
        "book",
        "level",
        "trade",
        "partial_fills",
        "clear_partial_fills",
        "disconnect",
        "freeze",
        "thaw",
        "http_errors",
        "lose_answers",
        "latency",
        "partition",
        "heal",
        "settle",
    }
)
_PLAIN_EVENTS: dict[str, Callable[[int], ScenarioEvent]] = {
    "ledger_fault": LedgerFaultEvent,
    "ledger_heal": LedgerHealEvent,
    "crash": CrashEvent,
    "kill": KillEvent,
    "release": ReleaseEvent,
}
EVENT_KINDS: tuple[str, ...] = tuple(sorted(_VENUE_EVENTS | set(_PLAIN_EVENTS)))
_STREAMS = ("market", "user", "*")
_HTTP_STATUSES = (429, 500, 502, 503, 504)


def _venue(value: object, path: str) -> Venue:
    text = _string(value, path)
    try:
        return Venue(text)
    except ValueError:
        raise ConfigError(f"{path}: must be 'kalshi' or 'polymarket', was {value!r}") from None


def _choice(*choices: str) -> Callable[[object, str], str]:
    def read(value: object, path: str) -> str:
        if value not in choices:
            raise ConfigError(f"{path}: must be one of {', '.join(repr(c) for c in choices)}, was {value!r}")
        return str(value)

    return read


def _count(value: object, path: str) -> int:
    number = _int(value, path)
    if not 1 <= number <= 1_000_000:
        raise ConfigError(f"{path}: must be a count from 1 to 1000000, was {value!r}")
    return number


def _price(value: object, path: str) -> int:
    price = _micro(value, path)
    if not 0 < price < _SCALE:
        raise ConfigError(f"{path}: price must be strictly within (0, 1), was {value!r}")
    return price


def _events(raw: Sequence[Any], books: _Books, duration_ms: int) -> tuple[ScenarioEvent, ...]:
    parsed: list[tuple[int, int, ScenarioEvent]] = []
    enabled = {Venue.KALSHI} if books.kalshi else set()
    if books.tokens:
        enabled.add(Venue.POLYMARKET)
    for index, item in enumerate(raw):
        t = _Table(item, f"events[{index}]")
        at_ms = t.need("at_ms", _int)
        if not 0 <= at_ms < duration_ms:
            raise ConfigError(
                f"{t.at('at_ms')}: must be within the run, 0 <= at_ms < {duration_ms} (duration_s), was {at_ms!r}"
            )
        kind = t.need("kind", _string)
        if kind in _PLAIN_EVENTS:
            event: ScenarioEvent = _PLAIN_EVENTS[kind](at_ms)
        elif kind in _VENUE_EVENTS:
            venue = t.need("venue", _venue)
            if venue not in enabled:
                raise ConfigError(f"{t.at('venue')}: {venue.value} is not in [venues]")
            event = _venue_event(t, kind, at_ms, venue, books)
        else:
            raise ConfigError(f"{t.at('kind')}: unknown event kind {kind!r} (known: {', '.join(EVENT_KINDS)})")
        t.done()
        parsed.append((at_ms, index, event))
    parsed.sort(key=lambda item: (item[0], item[1]))
    _check_pairs([e for _, _, e in parsed])
    return tuple(e for _, _, e in parsed)


def _check_pairs(events: Sequence[ScenarioEvent]) -> None:
    """Book-keeping errors a reader would not see in a long file: healing what is not broken."""
    partitioned: set[Venue] = set()
    ledger_failing = False
    for event in events:
        if isinstance(event, PartitionEvent):
            partitioned.add(event.venue)
        elif isinstance(event, HealEvent):
            if event.venue not in partitioned:
                raise ConfigError(
                    f"events: heal of {event.venue.value} at {event.at_ms} ms without a partition before it"
                )
            partitioned.discard(event.venue)
        elif isinstance(event, LedgerFaultEvent):
            ledger_failing = True
        elif isinstance(event, LedgerHealEvent):
            if not ledger_failing:
                raise ConfigError(f"events: ledger_heal at {event.at_ms} ms without a ledger_fault before it")
            ledger_failing = False


def _venue_event(t: _Table, kind: str, at_ms: int, venue: Venue, books: _Books) -> ScenarioEvent:
    if kind in ("book", "level", "trade", "partial_fills"):
        book = books.book_id(venue, t.need("market", _id), t.at("market"))
        check = books.check_price(venue, book)
        lot = books.lot(venue, book)
        if kind == "book":
            spec = _book({k: t.data[k] for k in ("bids", "asks") if k in t.data}, t.path, check, lot)
            t.used.update(("bids", "asks"))
            books.replace(venue, book, spec.bids, spec.asks)
            return BookEvent(at_ms, venue, book, spec.bids, spec.asks)
        if kind == "level":
            side = t.need("side", _choice("bid", "ask"))
            price = t.need("price", _price)
            check(price, t.at("price"))
            size = t.need("size", _micro)
            if size % lot:
                raise ConfigError(f'{t.at("size")}: must be a multiple of {_text(lot)} ("0" empties the level)')
            books.set_level(venue, book, side, price, size, t.path)
            return LevelEvent(at_ms, venue, book, "bid" if side == "bid" else "ask", price, size)
        if kind == "trade":
            action = t.need("action", _choice("buy", "sell"))
            price = t.need("price", _price)
            check(price, t.at("price"))
            size = t.need("size", _micro)
            if size <= 0 or size % lot:
                raise ConfigError(
                    f"{t.at('size')}: must be a positive multiple of {_text(lot)}, was {t.data['size']!r}"
                )
            books.trade(venue, book, action, price, size)
            return TradeEvent(at_ms, venue, book, "buy" if action == "buy" else "sell", price, size)
        ratio = t.need("ratio", _micro)
        if not 0 <= ratio < _SCALE:
            raise ConfigError(f"{t.at('ratio')}: must be within [0, 1), was {t.data['ratio']!r}")
        return PartialFillsEvent(at_ms, venue, book, ratio)
    if kind == "clear_partial_fills":
        market = t.get("market", _id, None)
        if market is not None:
            books.book_id(venue, market, t.at("market"))
        return ClearPartialFillsEvent(at_ms, venue, market)
    if kind in ("disconnect", "freeze", "thaw"):
        stream = t.get("stream", _choice(*_STREAMS), "*")
        if venue is Venue.KALSHI and stream == "user":
            raise ConfigError(
                f"{t.at('stream')}: Kalshi serves market data and the account on one socket: use 'market' or '*'"
            )
        if kind == "disconnect":
            return DisconnectEvent(at_ms, venue, stream)
        return FreezeEvent(at_ms, venue, stream) if kind == "freeze" else ThawEvent(at_ms, venue, stream)
    if kind == "http_errors":
        status = t.need("status", _int)
        if status not in _HTTP_STATUSES:
            raise ConfigError(f"{t.at('status')}: must be one of {', '.join(map(str, _HTTP_STATUSES))}, was {status!r}")
        return HttpErrorsEvent(at_ms, venue, status, t.need("count", _count))
    if kind == "lose_answers":
        prefix = t.get("path_prefix", _string, "/")
        if not prefix.startswith("/"):
            raise ConfigError(f"{t.at('path_prefix')}: must start with '/', was {prefix!r}")
        mode = t.get("mode", _choice("500", "no_answer"), "500")
        return LoseAnswersEvent(at_ms, venue, t.need("count", _count), prefix, "500" if mode == "500" else "no_answer")
    if kind == "latency":
        seconds = t.need("seconds", _seconds)
        return LatencyEvent(at_ms, venue, seconds)
    if kind == "partition":
        return PartitionEvent(at_ms, venue)
    if kind == "heal":
        return HealEvent(at_ms, venue)
    assert kind == "settle"
    market = t.need("market", _id)
    if venue is Venue.KALSHI:
        books.book_id(venue, market, t.at("market"))
    elif market not in books.conditions:
        hint = " (a token id: settle names the market's condition id)" if market in books.tokens else ""
        raise ConfigError(f"{t.at('market')}: unknown Polymarket condition id {market!r}{hint}")
    result = t.need("result", _choice("yes", "no", "void"))
    return SettleEvent(at_ms, venue, market, "yes" if result == "yes" else "no" if result == "no" else "void")


def _seconds(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{path}: must be a finite number of seconds, was {value!r}")
    if not 0 <= value <= 60:
        raise ConfigError(f"{path}: must be within [0, 60] seconds, was {value!r}")
    return float(value)


# -- expectations -------------------------------------------------------------------------------------


def _usd(value: object, path: str) -> Decimal:
    """Exact money: decimal text or an integer (a TOML float is refused: it is not exact)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigError(f'{path}: must be exact decimal text ("0.50") or an integer, was {value!r}')
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ConfigError(f'{path}: must be exact decimal text ("0.50"), was {value!r}') from None
    if not number.is_finite():
        raise ConfigError(f"{path}: must be a finite amount, was {value!r}")
    return number


def _nonnegative(value: object, path: str) -> int:
    number = _int(value, path)
    if number < 0:
        raise ConfigError(f"{path}: must be >= 0, was {value!r}")
    return number


def _strings(value: object, path: str) -> tuple[str, ...]:
    items = _list(value, path)
    out = tuple(_string(item, f"{path}[{i}]") for i, item in enumerate(items))
    for i, item in enumerate(out):
        if not item.strip():
            raise ConfigError(f"{path}[{i}]: must not be empty")
    return out


def _position_key(text: str, path: str, books: _Books) -> PositionKey:
    parts = text.split(":")
    venue_text = parts[0]
    if venue_text == "kalshi" and len(parts) == 3:
        ticker, side = parts[1], parts[2]
        if ticker not in books.kalshi:
            raise ConfigError(f"{path}: unknown Kalshi market {ticker!r}")
        if side not in ("yes", "no"):
            raise ConfigError(f"{path}: the side must be 'yes' or 'no', was {side!r}")
        return PositionKey(Venue.KALSHI, ticker, Side(side), text)
    if venue_text == "polymarket" and len(parts) == 2:
        found = books.tokens.get(parts[1])
        if found is None:
            raise ConfigError(f"{path}: unknown Polymarket token {parts[1]!r}")
        return PositionKey(Venue.POLYMARKET, found[0].condition_id, found[1], text)
    if venue_text == "polymarket" and len(parts) == 3:
        market = books.conditions.get(parts[1])
        if market is None:
            raise ConfigError(f"{path}: unknown Polymarket condition id {parts[1]!r}")
        if parts[2] not in ("yes", "no"):
            raise ConfigError(f"{path}: the side must be 'yes' or 'no', was {parts[2]!r}")
        return PositionKey(Venue.POLYMARKET, market.condition_id, Side(parts[2]), text)
    raise ConfigError(
        f"{path}: must be 'kalshi:TICKER:yes|no', 'polymarket:TOKEN' or 'polymarket:CONDITION:yes|no', was {text!r}"
    )


def _expect(value: object, path: str, books: _Books) -> Expectations:
    t = _Table(value, path)
    positions: list[tuple[PositionKey, Decimal]] = []
    table = t.get("final_positions", _Table, None)
    if table is not None:
        seen: dict[PositionKey, str] = {}
        for key, raw in table.data.items():
            where = table.at(key)
            table.used.add(key)
            position = _position_key(key, where, books)
            if position in seen:
                raise ConfigError(f"{where}: the same contract as {seen[position]!r}")
            seen[position] = key
            count = _usd(raw, where)
            if count < 0:
                raise ConfigError(f"{where}: contracts held are never negative, was {raw!r}")
            positions.append((position, count))
    expect = Expectations(
        plans_min=t.get("plans_min", _nonnegative, None),
        plans_max=t.get("plans_max", _nonnegative, None),
        guaranteed_profit_usd_min=t.get("guaranteed_profit_usd_min", _usd, None),
        guaranteed_profit_usd_max=t.get("guaranteed_profit_usd_max", _usd, None),
        orders_sent_min=t.get("orders_sent_min", _nonnegative, None),
        orders_sent_max=t.get("orders_sent_max", _nonnegative, None),
        final_positions=tuple(positions),
        unhedged_sets=t.get("unhedged_sets", _nonnegative, None),
        incidents_min=t.get("incidents_min", _nonnegative, None),
        incidents_max=t.get("incidents_max", _nonnegative, None),
        halts=t.get("halts", _strings, ()),
        alerts=t.get("alerts", _strings, ()),
        recovery_clean=t.get("recovery_clean", _bool, None),
        repairs_min=t.get("repairs_min", _nonnegative, None),
        repairs_max=t.get("repairs_max", _nonnegative, None),
        lost_events=t.get("lost_events", _nonnegative, None),
    )
    t.done()
    for low, high in (
        ("plans_min", "plans_max"),
        ("guaranteed_profit_usd_min", "guaranteed_profit_usd_max"),
        ("orders_sent_min", "orders_sent_max"),
        ("incidents_min", "incidents_max"),
        ("repairs_min", "repairs_max"),
    ):
        a, b = getattr(expect, low), getattr(expect, high)
        if a is not None and b is not None and a > b:
            raise ConfigError(f"{t.at(low)}: is above {high} ({a} > {b}): no run can pass")
    return expect
