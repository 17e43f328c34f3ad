"""The daemon's whole configuration: one TOML file read and checked before anything starts.

`load_config(path)` reads every top-level table into frozen settings (the engine's own config
dataclasses where one exists: `ScannerConfig`, `AllocatorConfig`, `ExecutorConfig`, `RepairConfig`,
the `[risk]` section through `arb.risk.config.load_risk_section`). Unknown tables or keys, wrong
types, NaN, infinities, negative values and TOML floats where money must be exact are a
`ConfigError` whose message names the file, `section.key` and what was expected. Keys left out take
the defaults documented in docs/configuration.md.

The file never holds a secret: credentials are named by environment variable (`*_env`) or by key
file path (`*_file`) and read by `resolve_credentials` at start. Its errors name the variable or
the path, never the value. A live run needs `--live` on the command line and every credential of
every enabled venue; `start_config` does those checks and `exit_on_config_error` turns a
`ConfigError` into exit code 2 with the message on stderr.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal, NoReturn, TypeVar, cast
from urllib.parse import urlsplit

from arb.domain import TimeInForce
from arb.errors import ConfigError
from arb.execution.executor import ExecutorConfig
from arb.execution.orders import ExecutionOrderConfig
from arb.execution.repair import RepairConfig
from arb.risk.config import DEFAULT_CONFIG_PATH, ConfigTable, RiskSettings, load_risk_section, read_toml
from arb.scanner import ScannerConfig
from arb.venues.kalshi.auth import load_private_key
from arb.venues.polymarket.orders import PolymarketCredentials
from solvers.backends import LP_BACKEND_NAMES
from solvers.errors import DataError
from solvers.problem import AllocatorConfig, SetLimits

__all__ = [
    "CONFIG_EXIT_CODE",
    "DEFAULT_CONFIG_PATH",
    "AllocatorSettings",
    "AppConfig",
    "Credentials",
    "GraphSettings",
    "KalshiCredentials",
    "KalshiVenueSettings",
    "LedgerSettings",
    "LiveViewSettings",
    "MetricsSettings",
    "NotificationSettings",
    "PolymarketVenueSettings",
    "RebalanceSettings",
    "RunMode",
    "RunSettings",
    "ScenarioSettings",
    "SecretRef",
    "VenueSettings",
    "config_from_document",
    "exit_on_config_error",
    "load_config",
    "resolve_credentials",
    "start_config",
]

CONFIG_EXIT_CODE = 2
RunMode = Literal["paper", "live"]
RUN_MODES: tuple[RunMode, ...] = ("paper", "live")
VenueSource = Literal["simulated", "configured"]
VENUE_SOURCES: tuple[VenueSource, ...] = ("simulated", "configured")
VENUE_NAMES = ("kalshi", "polymarket")
TOP_LEVEL_SECTIONS = (
    "run",
    "venues",
    "scanner",
    "allocator",
    "executor",
    "repair",
    "risk",
    "ledger",
    "metrics",
    "notifications",
    "live_view",
    "graph",
    "rebalance",
)
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*\Z")
_T = TypeVar("_T")


# -- settings -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ScenarioSettings:
    """The default scenario `arb run` plays on the simulated venues (`run.venues = "simulated"`).

    seed: every scripted participant's randomness; book_changes_per_s: the background market
    makers' book changes per second (both venues together); arbitrage_period_s / arbitrage_hold_s:
    how often the arbitrage script opens an opportunity (cycling through the graph's kinds) and how
    long it keeps it open; first_opening_s: the first opening this long after start;
    contest_every: every n-th opening lets the daemon's orders on its books fill only partly (0:
    never), so repairs happen; separate_process: run the simulators in a child process, so their
    work does not share the daemon's event loop."""

    seed: int = 1
    book_changes_per_s: float = 50.0
    arbitrage_period_s: float = 6.0
    arbitrage_hold_s: float = 3.0
    first_opening_s: float = 2.0
    contest_every: int = 2
    separate_process: bool = True


@dataclass(frozen=True, slots=True)
class RunSettings:
    """mode: paper (no real order: simulated venues, or `PaperVenue` fills against configured
    venues' books) or live (real orders; needs --live and configured venues); venues: simulated
    (the daemon starts both simulated venues on loopback with the default scenario) or configured
    (`[venues]`); duration_s: run time, then a summary (None: until a signal); sweep_interval_s:
    how often the scanner re-checks book staleness; max_sets_per_solve: forwarded sets taken per
    solver pass (the best first)."""

    mode: RunMode = "paper"
    venues: VenueSource = "simulated"
    duration_s: float | None = 90.0
    sweep_interval_s: float = 0.5
    max_sets_per_solve: int = 64
    scenario: ScenarioSettings = field(default_factory=ScenarioSettings)


@dataclass(frozen=True, slots=True)
class GraphSettings:
    """The market graph of configured venues (simulated venues bring their own links and series).

    links_file / exhaustive_series_file: curated links (`arb links approve`) and the reviewed
    exhaustive Kalshi series; metadata_refresh_s: how often venue metadata is fetched again (the
    graph is rebuilt when it changed: new or closed markets, stale links); 0: never;
    allow_different_resolution_source: use links of that settlement-risk class."""

    links_file: Path
    exhaustive_series_file: Path
    metadata_refresh_s: float = 60.0
    allow_different_resolution_source: bool = False


@dataclass(frozen=True, slots=True)
class RebalanceSettings:
    """enabled: re-solve held sets periodically and sell what locks in more than holding;
    min_edge_usd: the least extra a sale must lock in over holding to settlement (exact, after
    fees); interval_s: seconds between rebalancing passes."""

    enabled: bool = True
    min_edge_usd: Decimal = Decimal("0.01")
    interval_s: float = 5.0


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where one secret comes from: an environment variable NAME or a key file PATH (never the
    value). `key` is the config key that named it, for errors."""

    key: str
    env: str | None = None
    file: Path | None = None

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env is not None else f"key file {self.file}"


@dataclass(frozen=True, slots=True)
class KalshiVenueSettings:
    rest_base_url: str
    ws_url: str
    api_key_id: SecretRef
    private_key: SecretRef  # env: a variable holding the PEM file's path; file: the PEM file itself


@dataclass(frozen=True, slots=True)
class PolymarketVenueSettings:
    gamma_base_url: str
    clob_base_url: str
    data_api_base_url: str
    market_ws_url: str
    user_ws_url: str
    chain_id: int
    signature_type: int
    private_key: SecretRef
    api_key: SecretRef
    api_secret: SecretRef
    api_passphrase: SecretRef
    funder: SecretRef | None  # optional: the proxy wallet address (not secret, but per-account)


@dataclass(frozen=True, slots=True)
class VenueSettings:
    """order_timeout_s: how long an order POST may take before it counts as unanswered (UNKNOWN);
    order_settle_s: how long after an unanswered send a lookup that does not find the order still
    says UNKNOWN (it may be queued at the venue): also what start-up recovery waits out after a
    crash mid-send."""

    enabled: tuple[str, ...]
    kalshi: KalshiVenueSettings
    polymarket: PolymarketVenueSettings
    order_timeout_s: float = 10.0
    order_settle_s: float = 30.0


@dataclass(frozen=True, slots=True)
class AllocatorSettings:
    """The allocator's settings and LP backend (`solvers.backends.BACKENDS`)."""

    config: AllocatorConfig
    backend: str


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    path: Path
    synchronous: Literal["FULL", "NORMAL"] = "FULL"


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    """enabled: send incident, halt and daily-summary notifications; webhook_url_env: the
    environment variable holding the webhook URL (a secret: Discord and Slack URLs carry a token)."""

    enabled: bool = False
    webhook_url_env: str = "ARB_WEBHOOK_URL"
    format: Literal["discord", "slack"] = "discord"
    timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class LiveViewSettings:
    """enabled: draw the terminal view when stdout is a terminal (plain log lines otherwise);
    refresh_per_s: redraws per second."""

    enabled: bool = True
    refresh_per_s: float = 4.0


@dataclass(frozen=True, slots=True)
class AppConfig:
    """The whole file, checked. `repair` is built with `risk.repair_loss_cap_usd` as its loss cap and
    `executor.max_repair_rounds` as its round limit, so each value is configured once."""

    source: Path
    run: RunSettings
    venues: VenueSettings
    scanner: ScannerConfig
    allocator: AllocatorSettings
    executor: ExecutorConfig
    repair: RepairConfig
    risk: RiskSettings
    ledger: LedgerSettings
    metrics: MetricsSettings
    notifications: NotificationSettings
    live_view: LiveViewSettings
    graph: GraphSettings
    rebalance: RebalanceSettings


@dataclass(frozen=True, slots=True)
class KalshiCredentials:
    api_key_id: str = field(repr=False)
    private_key_path: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Resolved secrets (repr hides every value). A venue is None when its credentials are not
    configured in the environment or key files (market data only). `polymarket` is the adapter's
    own `PolymarketCredentials` (checked: key hex, base64url secret, chain); the Kalshi key file has
    been loaded once as an RSA PEM key, so a bad key fails at start, not at the first order."""

    kalshi: KalshiCredentials | None = None
    polymarket: PolymarketCredentials | None = None
    webhook_url: str | None = field(default=None, repr=False)


# -- reading values -----------------------------------------------------------------------------------
class _Section(ConfigTable):
    """A table whose keys may be left out (then the documented default applies)."""

    def has(self, key: str) -> bool:
        self.seen.add(key)
        return key in self.raw

    def opt_int(self, key: str, default: int, least: int, most: int | None = None) -> int:
        if not self.has(key):
            return default
        value = self.raw[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < least
            or (most is not None and value > most)
        ):
            bound = f"from {least} to {most}" if most is not None else f"of at least {least}"
            raise self.fail(key, f"an integer {bound}", value)
        return value

    def opt_number(self, key: str, default: float, *, positive: bool = False) -> float:
        """A duration, rate or solver tolerance (never money): int or float, finite, >= 0 (> 0)."""
        if not self.has(key):
            return default
        return self.rate(key, positive=positive)

    def opt_exact(self, key: str, default: Decimal) -> Decimal:
        if not self.has(key):
            return default
        return self.exact(key)

    def opt_bool(self, key: str, default: bool) -> bool:
        if not self.has(key):
            return default
        value = self.raw[key]
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def opt_choice(self, key: str, default: _T, choices: tuple[_T, ...]) -> _T:
        if not self.has(key):
            return default
        value = self.raw[key]
        if value not in choices:
            raise self.fail(key, f"one of {', '.join(map(str, choices))}", value)
        return cast(_T, value)

    def opt_url(self, key: str, default: str, schemes: tuple[str, ...]) -> str:
        if not self.has(key):
            return default
        value = self.raw[key]
        expected = f"a {' or '.join(schemes)} URL with a host"
        if not isinstance(value, str):
            raise self.fail(key, expected, value)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise self.fail(key, expected, value)
        return value

    def opt_path(self, key: str, default: str, base_dir: Path) -> Path:
        value = self.raw[key] if self.has(key) else default
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "a non-empty path string", value)
        path = Path(value).expanduser()
        return path if path.is_absolute() else (base_dir / path).resolve()

    def env_name(self, key: str, default: str | None) -> str | None:
        if not self.has(key):
            return default
        value = self.raw[key]
        if not isinstance(value, str) or not _ENV_NAME.match(value):
            # Never echo it: a value that is not a variable name may be a pasted secret.
            raise ConfigError(
                f"{self.source}: {self.name}.{key} must be the NAME of an environment variable (upper-case "
                "letters, digits and _), not a secret value; the value is not shown"
            )
        return value

    def secret(self, stem: str, default_env: str | None, base_dir: Path, *, file_key: str | None = None) -> SecretRef:
        """`<stem>_env` (a variable name) or `<file_key>` (a path), exactly one; neither given: the
        default variable."""
        env_key, path_key = f"{stem}_env", file_key or f"{stem}_file"
        has_env, has_file = self.has(env_key), self.has(path_key)
        if has_env and has_file:
            raise ConfigError(
                f"{self.source}: {self.name}.{env_key} and {self.name}.{path_key} are both set; give one of them"
            )
        if has_file:
            path = self.opt_path(path_key, "", base_dir)
            return SecretRef(f"{self.name}.{path_key}", file=path)
        env = self.env_name(env_key, default_env)
        return SecretRef(f"{self.name}.{env_key}", env=env)


@contextmanager
def _engine_check(source: Path, section: str) -> Iterator[None]:
    """The engine's own dataclass checks (`scanner slots_per_side must be ...`) with the file and
    section in front, as one `ConfigError`."""
    try:
        yield
    except (ConfigError, DataError) as exc:
        raise ConfigError(f"{source}: [{section}] {exc}") from None


# -- sections -----------------------------------------------------------------------------------------
def _scenario(raw: object, source: str) -> ScenarioSettings:
    scen = _Section(raw, source, "run.scenario")
    d = ScenarioSettings()
    period = scen.opt_number("arbitrage_period_s", d.arbitrage_period_s, positive=True)
    hold = scen.opt_number("arbitrage_hold_s", d.arbitrage_hold_s, positive=True)
    if hold >= period:
        raise scen.fail("arbitrage_hold_s", f"less than arbitrage_period_s ({period})", hold)
    result = ScenarioSettings(
        seed=scen.opt_int("seed", d.seed, 0),
        book_changes_per_s=scen.opt_number("book_changes_per_s", d.book_changes_per_s),
        arbitrage_period_s=period,
        arbitrage_hold_s=hold,
        first_opening_s=scen.opt_number("first_opening_s", d.first_opening_s),
        contest_every=scen.opt_int("contest_every", d.contest_every, 0),
        separate_process=scen.opt_bool("separate_process", d.separate_process),
    )
    scen.finish()
    return result


def _run(raw: object, source: str) -> RunSettings:
    run = _Section(raw, source, "run")
    d = RunSettings()
    mode = run.opt_choice("mode", d.mode, RUN_MODES)
    venues = run.opt_choice("venues", d.venues, VENUE_SOURCES)
    duration: float | None = run.opt_number("duration_s", 90.0)
    if duration == 0:
        duration = None  # 0: run until a signal
    scenario = _scenario(run.raw.get("scenario", {}), source)
    run.seen.add("scenario")
    result = RunSettings(
        mode=mode,
        venues=venues,
        duration_s=duration,
        sweep_interval_s=run.opt_number("sweep_interval_s", d.sweep_interval_s, positive=True),
        max_sets_per_solve=run.opt_int("max_sets_per_solve", d.max_sets_per_solve, 1),
        scenario=scenario,
    )
    run.finish()
    return result


def _graph(raw: object, source: str, base_dir: Path) -> GraphSettings:
    graph = _Section(raw, source, "graph")
    result = GraphSettings(
        links_file=graph.opt_path("links_file", "links.toml", base_dir),
        exhaustive_series_file=graph.opt_path("exhaustive_series_file", "exhaustive_series.toml", base_dir),
        metadata_refresh_s=graph.opt_number("metadata_refresh_s", 60.0),
        allow_different_resolution_source=graph.opt_bool("allow_different_resolution_source", False),
    )
    graph.finish()
    return result


def _rebalance(raw: object, source: str) -> RebalanceSettings:
    reb = _Section(raw, source, "rebalance")
    d = RebalanceSettings()
    min_edge = reb.opt_exact("min_edge_usd", d.min_edge_usd)
    if min_edge == 0:
        raise reb.fail("min_edge_usd", "positive", str(min_edge))
    result = RebalanceSettings(
        enabled=reb.opt_bool("enabled", d.enabled),
        min_edge_usd=min_edge,
        interval_s=reb.opt_number("interval_s", d.interval_s, positive=True),
    )
    reb.finish()
    return result


def _venues(raw: object, source: str, base_dir: Path) -> VenueSettings:
    venues = _Section(raw, source, "venues")
    enabled: tuple[str, ...] = VENUE_NAMES
    if venues.has("enabled"):
        value = venues.raw["enabled"]
        if (
            not isinstance(value, list)
            or not value
            or any(name not in VENUE_NAMES for name in value)
            or len(set(value)) != len(value)
        ):
            raise venues.fail("enabled", f"a non-empty list of distinct venues from {', '.join(VENUE_NAMES)}", value)
        enabled = tuple(value)
    kalshi = _Section(venues.raw.get("kalshi", {}), source, "venues.kalshi")
    venues.seen.add("kalshi")
    kalshi_settings = KalshiVenueSettings(
        rest_base_url=kalshi.opt_url("rest_base_url", "http://127.0.0.1:8701/trade-api/v2", ("http", "https")),
        ws_url=kalshi.opt_url("ws_url", "ws://127.0.0.1:8701/trade-api/ws/v2", ("ws", "wss")),
        api_key_id=kalshi.secret("api_key_id", "KALSHI_API_KEY_ID", base_dir),
        private_key=kalshi.secret("private_key_path", "KALSHI_PRIVATE_KEY_PATH", base_dir, file_key="private_key_file"),
    )
    kalshi.finish()
    poly = _Section(venues.raw.get("polymarket", {}), source, "venues.polymarket")
    venues.seen.add("polymarket")
    http = ("http", "https")
    poly_settings = PolymarketVenueSettings(
        gamma_base_url=poly.opt_url("gamma_base_url", "http://127.0.0.1:8702", http),
        clob_base_url=poly.opt_url("clob_base_url", "http://127.0.0.1:8702", http),
        data_api_base_url=poly.opt_url("data_api_base_url", "http://127.0.0.1:8702", http),
        market_ws_url=poly.opt_url("market_ws_url", "ws://127.0.0.1:8703/ws/market", ("ws", "wss")),
        user_ws_url=poly.opt_url("user_ws_url", "ws://127.0.0.1:8703/ws/user", ("ws", "wss")),
        chain_id=poly.opt_int("chain_id", 137, 1),
        signature_type=poly.opt_int("signature_type", 0, 0, 3),
        private_key=poly.secret("private_key", "POLYMARKET_PRIVATE_KEY", base_dir),
        api_key=poly.secret("api_key", "POLYMARKET_API_KEY", base_dir),
        api_secret=poly.secret("api_secret", "POLYMARKET_API_SECRET", base_dir),
        api_passphrase=poly.secret("api_passphrase", "POLYMARKET_API_PASSPHRASE", base_dir),
        funder=poly.secret("funder", "POLYMARKET_FUNDER", base_dir),
    )
    poly.finish()
    order_timeout = venues.opt_number("order_timeout_s", 10.0, positive=True)
    order_settle = venues.opt_number("order_settle_s", 30.0)
    if order_settle < order_timeout:
        raise venues.fail("order_settle_s", f"at least order_timeout_s ({order_timeout})", order_settle)
    venues.finish()
    return VenueSettings(enabled, kalshi_settings, poly_settings, order_timeout, order_settle)


def _set_limits(raw: object, source: str) -> SetLimits:
    limits = _Section(raw, source, "scanner.set_limits")
    defaults = SetLimits()
    max_cost = limits.opt_exact("max_cost_usd", Decimal(-1))
    with _engine_check(Path(source), "scanner.set_limits"):
        result = SetLimits(
            max_cost_usd=None if max_cost < 0 else max_cost,
            min_profit_usd=limits.opt_exact("min_profit_usd", defaults.min_profit_usd),
            min_profit_per_payout_usd=limits.opt_exact("min_profit_per_payout_usd", defaults.min_profit_per_payout_usd),
            min_return_on_capital=limits.opt_exact("min_return_on_capital", defaults.min_return_on_capital),
            settlement_loss_limit_usd=limits.opt_exact("settlement_loss_limit_usd", defaults.settlement_loss_limit_usd),
        )
    limits.finish()
    return result


def _scanner(raw: object, source: str) -> ScannerConfig:
    scanner = _Section(raw, source, "scanner")
    d = ScannerConfig()
    set_limits = _set_limits(scanner.raw.get("set_limits", {}), source)
    scanner.seen.add("set_limits")
    with _engine_check(Path(source), "scanner"):
        result = ScannerConfig(
            max_book_age_ms=scanner.opt_int("max_book_age_ms", d.max_book_age_ms, 1),
            slots_per_side=scanner.opt_int("slots_per_side", d.slots_per_side, 1),
            min_edge_micro_usd=scanner.opt_int("min_edge_micro_usd", d.min_edge_micro_usd, 0),
            max_enumerated_outcomes=scanner.opt_int("max_enumerated_outcomes", d.max_enumerated_outcomes, 1),
            projection_time_budget_ms=scanner.opt_number("projection_time_budget_ms", d.projection_time_budget_ms),
            projection_max_iterations=scanner.opt_int("projection_max_iterations", d.projection_max_iterations, 1),
            set_limits=set_limits,
        )
    scanner.finish()
    return result


def _allocator(raw: object, source: str) -> AllocatorSettings:
    alloc = _Section(raw, source, "allocator")
    d = AllocatorConfig()
    with _engine_check(Path(source), "allocator"):
        config = AllocatorConfig(
            objective=alloc.opt_choice("objective", d.objective, ("riskless", "worst_case")),
            slots_per_side=alloc.opt_int("slots_per_side", d.slots_per_side, 1),
            method=alloc.opt_choice("method", d.method, ("auto", "enumerate", "compact", "cg")),
            max_enumerated_outcomes=alloc.opt_int("max_enumerated_outcomes", d.max_enumerated_outcomes, 1),
            cg_max_rounds=alloc.opt_int("cg_max_rounds", d.cg_max_rounds, 1),
            cg_oracle_enumeration_limit=alloc.opt_int("cg_oracle_enumeration_limit", d.cg_oracle_enumeration_limit, 0),
            cg_tolerance_usd=alloc.opt_number("cg_tolerance_usd", d.cg_tolerance_usd),
            tie_break_usd_per_contract=alloc.opt_number("tie_break_usd_per_contract", d.tie_break_usd_per_contract),
            mip_fallback=alloc.opt_bool("mip_fallback", d.mip_fallback),
            mip_time_limit_ms=alloc.opt_number("mip_time_limit_ms", d.mip_time_limit_ms),
            rounding_passes=alloc.opt_int("rounding_passes", d.rounding_passes, 0),
            nearby_sizes=alloc.opt_int("nearby_sizes", d.nearby_sizes, 0),
            rounding_loss_fraction=alloc.opt_number("rounding_loss_fraction", d.rounding_loss_fraction),
            max_repair_rounds=alloc.opt_int("max_repair_rounds", d.max_repair_rounds, 0),
        )
    backend = alloc.opt_choice("backend", "highs-warm", LP_BACKEND_NAMES)
    alloc.finish()
    return AllocatorSettings(config, backend)


def _executor(raw: object, source: str) -> ExecutorConfig:
    ex = _Section(raw, source, "executor")
    d = ExecutorConfig()
    # IOC first: a leg the book can only partly fill fills partly and the repair completes or
    # exits it; a FOK leg would die whole, leaving the plan's other legs unhedged all the same
    tifs: tuple[TimeInForce, ...] = (TimeInForce.IOC, TimeInForce.FOK)
    if ex.has("time_in_force"):
        value = ex.raw["time_in_force"]
        names = tuple(t.value for t in TimeInForce)
        if (
            not isinstance(value, list)
            or not value
            or any(v not in names for v in value)
            or len(set(value)) != len(value)
        ):
            raise ex.fail("time_in_force", f"a non-empty list of distinct values from {', '.join(names)}", value)
        tifs = tuple(TimeInForce(v) for v in value)
    with _engine_check(Path(source), "executor"):
        result = ExecutorConfig(
            orders=ExecutionOrderConfig(time_in_force=tifs),
            settle_timeout_s=ex.opt_number("settle_timeout_s", d.settle_timeout_s, positive=True),
            reconcile_interval_s=ex.opt_number("reconcile_interval_s", d.reconcile_interval_s, positive=True),
            max_reconcile_attempts=ex.opt_int("max_reconcile_attempts", d.max_reconcile_attempts, 1),
            unreachable_after_failures=ex.opt_int("unreachable_after_failures", d.unreachable_after_failures, 1),
            max_repair_rounds=ex.opt_int("max_repair_rounds", d.max_repair_rounds, 1),
            defer_ledger_writes=ex.opt_bool("defer_ledger_writes", d.defer_ledger_writes),
            batch_orders=ex.opt_bool("batch_orders", d.batch_orders),
        )
    ex.finish()
    return result


def _repair(raw: object, source: str, risk: RiskSettings, executor: ExecutorConfig) -> RepairConfig:
    rep = _Section(raw, source, "repair")
    d = RepairConfig(loss_cap_usd=Decimal(0))
    min_improvement = rep.opt_exact("min_improvement_usd", d.min_improvement_usd)
    if min_improvement == 0:
        raise rep.fail("min_improvement_usd", "positive", str(min_improvement))
    with _engine_check(Path(source), "repair"):
        result = RepairConfig(
            loss_cap_usd=risk.repair_loss_cap_usd,
            max_rounds=executor.max_repair_rounds,
            min_improvement_usd=min_improvement,
            slots_per_side=rep.opt_int("slots_per_side", d.slots_per_side, 1),
            max_book_age_ms=rep.opt_int("max_book_age_ms", d.max_book_age_ms, 0),
            max_outcomes=rep.opt_int("max_outcomes", d.max_outcomes, 1),
            mip_time_limit_ms=rep.opt_number("mip_time_limit_ms", d.mip_time_limit_ms),
            backend=rep.opt_choice("backend", d.backend, LP_BACKEND_NAMES),
        )
    rep.finish()
    return result


def _ledger(raw: object, source: str, base_dir: Path) -> LedgerSettings:
    led = _Section(raw, source, "ledger")
    result = LedgerSettings(
        path=led.opt_path("path", "../run/ledger.sqlite3", base_dir),
        synchronous=led.opt_choice("synchronous", "FULL", ("FULL", "NORMAL")),
    )
    led.finish()
    return result


def _metrics(raw: object, source: str) -> MetricsSettings:
    met = _Section(raw, source, "metrics")
    enabled = met.opt_bool("enabled", True)
    host = "127.0.0.1"
    if met.has("host"):
        host = met.raw["host"]
        try:
            ipaddress.ip_address(host if isinstance(host, str) else "")
        except ValueError:
            if host != "localhost":
                raise met.fail("host", 'an IP address or "localhost"', host) from None
    result = MetricsSettings(enabled=enabled, host=host, port=met.opt_int("port", 9464, 0, 65535))
    met.finish()
    return result


def _notifications(raw: object, source: str) -> NotificationSettings:
    note = _Section(raw, source, "notifications")
    d = NotificationSettings()
    result = NotificationSettings(
        enabled=note.opt_bool("enabled", d.enabled),
        webhook_url_env=note.env_name("webhook_url_env", d.webhook_url_env) or d.webhook_url_env,
        format=note.opt_choice("format", d.format, ("discord", "slack")),
        timeout_s=note.opt_number("timeout_s", d.timeout_s, positive=True),
    )
    note.finish()
    return result


def _live_view(raw: object, source: str) -> LiveViewSettings:
    view = _Section(raw, source, "live_view")
    d = LiveViewSettings()
    result = LiveViewSettings(
        enabled=view.opt_bool("enabled", d.enabled),
        refresh_per_s=view.opt_number("refresh_per_s", d.refresh_per_s, positive=True),
    )
    view.finish()
    return result


def load_config(path: Path | str = DEFAULT_CONFIG_PATH) -> AppConfig:
    """The checked configuration in the TOML file at `path` (`ConfigError` naming the file and key)."""
    path = Path(path)
    return config_from_document(read_toml(path), source=path, base_dir=path.parent)


def config_from_document(document: Mapping[str, Any], *, source: Path, base_dir: Path) -> AppConfig:
    """The checked configuration of an already parsed TOML document (`load_config`'s checks;
    a scenario's `[config]` merged onto the default file goes through here). `source` names the
    document in errors; relative paths are resolved against `base_dir`."""
    source_name = str(source)
    unknown = sorted(name for name in document if name not in TOP_LEVEL_SECTIONS)
    if unknown:
        raise ConfigError(
            f"{source_name}: unknown section(s): {', '.join(unknown)} (known: {', '.join(TOP_LEVEL_SECTIONS)})"
        )
    if "risk" not in document:
        raise ConfigError(f"{source_name}: the [risk] section is missing")
    risk = load_risk_section(document["risk"], source=source_name, base_dir=base_dir)
    executor = _executor(document.get("executor", {}), source_name)
    return AppConfig(
        source=source,
        run=_run(document.get("run", {}), source_name),
        venues=_venues(document.get("venues", {}), source_name, base_dir),
        scanner=_scanner(document.get("scanner", {}), source_name),
        allocator=_allocator(document.get("allocator", {}), source_name),
        executor=executor,
        repair=_repair(document.get("repair", {}), source_name, risk, executor),
        risk=risk,
        ledger=_ledger(document.get("ledger", {}), source_name, base_dir),
        metrics=_metrics(document.get("metrics", {}), source_name),
        notifications=_notifications(document.get("notifications", {}), source_name),
        live_view=_live_view(document.get("live_view", {}), source_name),
        graph=_graph(document.get("graph", {}), source_name, base_dir),
        rebalance=_rebalance(document.get("rebalance", {}), source_name),
    )


# -- credentials --------------------------------------------------------------------------------------
def _read_secret(ref: SecretRef, environ: Mapping[str, str]) -> str | None:
    """The secret's value, None when its variable is unset or empty. A key file that is named but
    missing, unreadable or empty is an error naming the path (never its contents)."""
    if ref.env is not None:
        return environ.get(ref.env) or None
    assert ref.file is not None
    try:
        text = ref.file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{ref.key}: cannot read key file {ref.file}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{ref.key}: key file {ref.file} is not UTF-8 text") from None
    if not text:
        raise ConfigError(f"{ref.key}: key file {ref.file} is empty")
    return text


def _kalshi_credentials(settings: KalshiVenueSettings, environ: Mapping[str, str]) -> KalshiCredentials | None:
    key_id = _read_secret(settings.api_key_id, environ)
    key_ref = settings.private_key
    key_path = str(key_ref.file) if key_ref.file is not None else _read_secret(key_ref, environ)
    if key_id is None and key_path is None:
        return None
    if key_id is None or key_path is None:
        missing = settings.api_key_id if key_id is None else key_ref
        raise ConfigError(f"kalshi credentials are incomplete: {missing.describe()} ({missing.key}) is not set")
    try:
        load_private_key(key_path)
    except ConfigError as exc:  # names the path, never the content
        raise ConfigError(f"{key_ref.key}: {exc}") from None
    return KalshiCredentials(api_key_id=key_id, private_key_path=key_path)


def _polymarket_credentials(
    settings: PolymarketVenueSettings, environ: Mapping[str, str]
) -> PolymarketCredentials | None:
    refs = {
        "private_key": settings.private_key,
        "api_key": settings.api_key,
        "api_secret": settings.api_secret,
        "api_passphrase": settings.api_passphrase,
    }
    values = {name: _read_secret(ref, environ) for name, ref in refs.items()}
    if all(value is None for value in values.values()):
        return None
    missing = [refs[name] for name, value in values.items() if value is None]
    if missing:
        named = ", ".join(f"{ref.describe()} ({ref.key})" for ref in missing)
        raise ConfigError(f"polymarket credentials are incomplete: {named} not set")
    funder = _read_secret(settings.funder, environ) if settings.funder is not None else None
    named = ", ".join(f"{ref.describe()} ({ref.key})" for ref in (*refs.values(), settings.funder) if ref is not None)
    try:  # the adapter's own checks; their messages never hold a value
        return PolymarketCredentials(
            private_key=cast(str, values["private_key"]),
            api_key=cast(str, values["api_key"]),
            api_secret=cast(str, values["api_secret"]),
            api_passphrase=cast(str, values["api_passphrase"]),
            funder=funder,
            signature_type=settings.signature_type,
            chain_id=settings.chain_id,
        )
    except ConfigError as exc:
        raise ConfigError(f"{exc} (read from {named})") from None


def resolve_credentials(config: AppConfig, environ: Mapping[str, str] | None = None) -> Credentials:
    """Every secret the configuration names, read from the environment and key files now. An
    incomplete set (some of a venue's secrets present, some not) or an unreadable key file is a
    `ConfigError` naming the variable or path; a venue with none configured resolves to None."""
    env = os.environ if environ is None else environ
    venues = config.venues
    # simulated venues get throwaway credentials generated at start; none are read
    configured = config.run.venues == "configured"
    kalshi = _kalshi_credentials(venues.kalshi, env) if configured and "kalshi" in venues.enabled else None
    poly = _polymarket_credentials(venues.polymarket, env) if configured and "polymarket" in venues.enabled else None
    webhook: str | None = None
    notes = config.notifications
    if notes.enabled:
        webhook = env.get(notes.webhook_url_env) or None
        if webhook is None:
            raise ConfigError(
                f"notifications are enabled but environment variable {notes.webhook_url_env} "
                "(notifications.webhook_url_env) is not set"
            )
        parts = urlsplit(webhook)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"environment variable {notes.webhook_url_env} must hold an http(s) URL (the value is not shown)"
            )
    return Credentials(kalshi=kalshi, polymarket=poly, webhook_url=webhook)


# -- start --------------------------------------------------------------------------------------------
def start_config(
    path: Path | str = DEFAULT_CONFIG_PATH,
    *,
    mode: RunMode | None = None,
    live_flag: bool = False,
    duration_s: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[AppConfig, Credentials]:
    """What `arb run` checks before it starts anything: the file, the mode (`mode` from --paper or
    --live overrides `run.mode`), the duration (--duration) and the credentials. Live trading needs
    `live_flag` (--live) even when the file says `mode = "live"`, and every enabled venue's
    credentials."""
    config = load_config(path)
    if duration_s is not None and (not math.isfinite(duration_s) or duration_s < 0):
        raise ConfigError(f"--duration must be a finite number of seconds, zero or more, was {duration_s!r}")
    effective = mode or config.run.mode
    if effective == "live" and not live_flag:
        raise ConfigError(f"{config.source}: run.mode is live, but real orders need --live on the command line")
    if effective == "live" and config.run.venues == "simulated":
        raise ConfigError(
            f'{config.source}: --live trades real venues, but run.venues is simulated (set run.venues = "configured")'
        )
    run = replace(
        config.run,
        mode=effective,
        duration_s=config.run.duration_s if duration_s is None else (duration_s or None),
    )
    config = replace(config, run=run)
    credentials = resolve_credentials(config, environ)
    if effective == "live":
        absent = [
            venue
            for venue, creds in (("kalshi", credentials.kalshi), ("polymarket", credentials.polymarket))
            if venue in config.venues.enabled and creds is None
        ]
        if absent:
            refs = []
            for venue in absent:
                settings: Any = getattr(config.venues, venue)
                first = settings.api_key_id if venue == "kalshi" else settings.private_key
                refs.append(f"{venue} (set {first.describe()} and the rest listed in docs/configuration.md)")
            raise ConfigError(f"--live refused: no credentials for {'; '.join(refs)}")
    return config, credentials


def exit_on_config_error(action: Callable[[], _T], *, stderr: IO[str] | None = None) -> _T:
    """`action()`, or exit 2 with the `ConfigError`'s message on stderr (the CLI's start-up path)."""
    try:
        return action()
    except ConfigError as exc:
        _fail(exc, stderr or sys.stderr)


def _fail(exc: ConfigError, stream: IO[str]) -> NoReturn:
    print(f"arb: configuration error: {exc}", file=stream)
    raise SystemExit(CONFIG_EXIT_CODE)
