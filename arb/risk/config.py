"""The `[risk]` section of the engine's TOML config, read into frozen settings and built into gates.

Money, contract counts, fractions and probabilities are exact: written as decimal strings
(`"0.10"`) or integers (`100`), never TOML floats (0.1 is not a decimal number once parsed), and
refused by key when they are. Rates and durations that never become money (sends per second, a
breaker's window) may be integers or floats. Every error names the file, the key and what was
expected.

The section loader (`load_risk_section`) takes an already parsed table, so the daemon's whole-file
loader can call it for `[risk]` next to its other sections; `load_risk_config` reads just that
section from a file and leaves the other top-level tables to their own loaders.
"""

from __future__ import annotations

import math
import signal
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from arb.errors import ConfigError
from arb.links import SettlementRisk
from arb.risk.gates import (
    BookGate,
    CircuitBreakers,
    Clock,
    Incidents,
    KillSwitch,
    LossHalts,
    Notifier,
    RateBudget,
    RiskGate,
)
from arb.risk.limits import RiskLimits

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "BreakerSettings",
    "ConfigTable",
    "RateBudgetSettings",
    "RiskSettings",
    "build_risk_gate",
    "load_risk_config",
    "load_risk_section",
    "read_toml",
]

DEFAULT_CONFIG_PATH = Path("config/default.toml")
LINK_CLASSES = tuple(risk.value for risk in SettlementRisk)


@dataclass(frozen=True, slots=True)
class RateBudgetSettings:
    """Order sends allowed: `sends_per_s` refill, up to `burst` at once."""

    sends_per_s: float
    burst: int


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """Per-venue circuit breaker (see `CircuitBreakers`)."""

    window_s: float
    max_error_rate: float
    min_calls: int
    max_consecutive_failures: int
    cooldown_s: float


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """Everything `[risk]` configures.

    kill_switch_file: the file whose existence stops trading (`arb kill` creates it); None: none
    kill_switch_signal: the signal that engages the kill switch; None: none
    repair_loss_cap_usd: a repair plan may leave at most this loss in any outcome (hedged means
        the worst value is at least minus this)
    """

    limits: RiskLimits
    kill_switch_file: Path | None
    kill_switch_signal: signal.Signals | None
    rate_budget: RateBudgetSettings
    circuit_breaker: BreakerSettings
    repair_loss_cap_usd: Decimal


class _Table:
    """One TOML table being read: each read marks its key as known; `finish` refuses the rest."""

    def __init__(self, raw: object, source: str, name: str) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{source}: [{name}] must be a table, was {type(raw).__name__}")
        self.raw: Mapping[str, Any] = raw
        self.source, self.name = source, name
        self.seen: set[str] = set()

    def fail(self, key: str, expected: str, value: object) -> ConfigError:
        return ConfigError(f"{self.source}: {self.name}.{key} must be {expected}, was {value!r}")

    def get(self, key: str, required: bool = True) -> object:
        self.seen.add(key)
        if key not in self.raw:
            if required:
                raise ConfigError(f"{self.source}: {self.name}.{key} is missing")
            return None
        return self.raw[key]

    def exact(self, key: str) -> Decimal:
        """A non-negative exact number: a decimal string or an integer."""
        value = self.get(key)
        if isinstance(value, float):
            raise self.fail(
                key, f'an exact decimal written as a string (e.g. "{value}") or an integer, not a float', value
            )
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.fail(key, "a decimal string or an integer", value)
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self.fail(key, "a decimal number", value) from None
        if not number.is_finite():
            raise self.fail(key, "a finite decimal number", value)
        if number < 0:
            raise self.fail(key, "zero or more", value)
        return number

    def integer(self, key: str, least: int) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise self.fail(key, f"an integer of at least {least}", value)
        return value

    def rate(self, key: str, *, positive: bool = True) -> float:
        """A rate or duration (never money): an integer or a float, finite, positive (or >= 0)."""
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, "a finite number", value)
        if value < 0 or (positive and value == 0):
            raise self.fail(key, "positive" if positive else "zero or more", value)
        return float(value)

    def per_key(self, key: str, allowed: Iterable[str] | None = None, *, required: bool = True) -> dict[str, Decimal]:
        value = self.get(key, required)
        if value is None:
            return {}
        table = _Table(value, self.source, f"{self.name}.{key}")
        known = None if allowed is None else tuple(allowed)
        out = {}
        for name in table.raw:
            if known is not None and name not in known:
                raise ConfigError(
                    f"{self.source}: {self.name}.{key}.{name} is not a link class (known: {', '.join(known)})"
                )
            out[name] = table.exact(name)
        return out

    def finish(self) -> None:
        unknown = sorted(str(key) for key in self.raw if key not in self.seen)
        if unknown:
            raise ConfigError(
                f"{self.source}: unknown key(s) in [{self.name}]: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(self.seen))})"
            )


# The section reader other loaders (arb.config) share, so every section reports errors one way.
ConfigTable = _Table


def load_risk_section(raw: object, *, source: str = "<config>", base_dir: Path | None = None) -> RiskSettings:
    """The `[risk]` table (already parsed) as settings. `source` names the file in errors; a
    relative `kill_switch_file` is resolved against `base_dir` (the config file's directory), so the
    daemon and `arb kill` agree whatever their working directories."""
    risk = _Table(raw, source, "risk")
    cash = risk.per_key("cash_per_venue_usd")
    notional = risk.per_key("notional_per_link_class_usd", LINK_CLASSES)
    probabilities = risk.per_key("disagreement_probability_per_link_class", LINK_CLASSES, required=False)
    for link_class in notional:
        if link_class != SettlementRisk.IDENTICAL_RULES.value and link_class not in probabilities:
            raise ConfigError(
                f"{source}: risk.disagreement_probability_per_link_class.{link_class} is missing: a settlement-risk "
                "class that may be traded needs its disagreement probability for the Kelly cap"
            )
    identical = probabilities.get(SettlementRisk.IDENTICAL_RULES.value)
    if identical is not None and identical != 0:
        raise ConfigError(
            f"{source}: risk.disagreement_probability_per_link_class.identical_rules must be 0 (such links are "
            f"risk-free by review), was {identical}"
        )
    limit_values: dict[str, Any] = {
        "cash_per_venue_usd": cash,
        "notional_per_link_class_usd": notional,
        "disagreement_probability_per_link_class": probabilities,
        "max_open_plans": risk.integer("max_open_plans", 1),
        "max_book_age_ms": risk.integer("max_book_age_ms", 1),
    }
    for key in (
        "max_contracts_per_contract",
        "max_contracts_per_set",
        "daily_loss_halt_usd",
        "drawdown_halt_usd",
        "min_profit_usd",
        "max_partial_fill_loss_usd",
        "kelly_fraction",
    ):
        limit_values[key] = risk.exact(key)
    try:
        limits = RiskLimits(**limit_values)
    except ConfigError as exc:  # ranges RiskLimits itself checks (a zero halt, kelly in (0, 1])
        raise ConfigError(f"{source}: [risk] {exc}") from None

    kill_file = risk.get("kill_switch_file", required=False)
    kill_path: Path | None = None
    if kill_file is not None:
        if not isinstance(kill_file, str) or not kill_file.strip():
            raise risk.fail("kill_switch_file", "a non-empty path string", kill_file)
        kill_path = Path(kill_file).expanduser()
        if not kill_path.is_absolute() and base_dir is not None:
            kill_path = (base_dir / kill_path).resolve()
    kill_signal_name = risk.get("kill_switch_signal", required=False)
    kill_signal: signal.Signals | None = None
    if kill_signal_name is not None:
        allowed = ("SIGUSR1", "SIGUSR2", "SIGHUP")
        if kill_signal_name not in allowed:
            raise risk.fail("kill_switch_signal", f"one of {', '.join(allowed)}", kill_signal_name)
        kill_signal = signal.Signals[str(kill_signal_name)]
    repair_cap = risk.exact("repair_loss_cap_usd")

    rate = _Table(risk.get("rate_budget"), source, "risk.rate_budget")
    rate_settings = RateBudgetSettings(rate.rate("sends_per_s"), rate.integer("burst", 1))
    rate.finish()
    breaker = _Table(risk.get("circuit_breaker"), source, "risk.circuit_breaker")
    error_rate = breaker.rate("max_error_rate")
    if error_rate > 1:
        raise breaker.fail("max_error_rate", "in (0, 1]", error_rate)
    breaker_settings = BreakerSettings(
        window_s=breaker.rate("window_s"),
        max_error_rate=error_rate,
        min_calls=breaker.integer("min_calls", 1),
        max_consecutive_failures=breaker.integer("max_consecutive_failures", 1),
        cooldown_s=breaker.rate("cooldown_s", positive=False),
    )
    breaker.finish()
    risk.finish()
    return RiskSettings(limits, kill_path, kill_signal, rate_settings, breaker_settings, repair_cap)


def read_toml(path: Path | str) -> dict[str, Any]:
    """A TOML file as a table; unreadable or malformed files are a `ConfigError` naming the file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_risk_config(path: Path | str = DEFAULT_CONFIG_PATH) -> RiskSettings:
    """The `[risk]` section of the TOML file at `path` (other top-level tables are left alone)."""
    path = Path(path)
    document = read_toml(path)
    if "risk" not in document:
        raise ConfigError(f"{path}: the [risk] section is missing")
    return load_risk_section(document["risk"], source=str(path), base_dir=path.parent)


def build_risk_gate(
    settings: RiskSettings,
    *,
    monotonic_s: Clock,
    wall_s: Clock,
    notify: Notifier | None = None,
    install_signal: bool = False,
) -> RiskGate:
    """Every gate from the settings: `monotonic_s` times book ages, the rate budget and breakers,
    `wall_s` (UTC seconds) decides the trading day of the loss halts, `notify` hears halts. The
    kill-switch signal handler is installed only when asked (main thread, one per process)."""
    kill_switch = KillSwitch(settings.kill_switch_file)
    if install_signal and settings.kill_switch_signal is not None:
        kill_switch.install_signal(settings.kill_switch_signal)
    limits = settings.limits
    breaker = settings.circuit_breaker
    return RiskGate(
        limits=limits,
        kill_switch=kill_switch,
        books=BookGate(limits.max_book_age_ms, monotonic_s),
        rate=RateBudget(settings.rate_budget.sends_per_s, settings.rate_budget.burst, monotonic_s),
        breakers=CircuitBreakers(
            window_s=breaker.window_s,
            max_error_rate=breaker.max_error_rate,
            min_calls=breaker.min_calls,
            max_consecutive_failures=breaker.max_consecutive_failures,
            cooldown_s=breaker.cooldown_s,
            monotonic_s=monotonic_s,
        ),
        incidents=Incidents(),
        halts=LossHalts(limits.daily_loss_halt_usd, limits.drawdown_halt_usd, wall_s, notify),
    )
