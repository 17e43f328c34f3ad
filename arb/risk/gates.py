"""Pre-trade gates. Each answers a typed `Refusal` (or None / an empty list) and never raises on a
plan it refuses; the executor sends nothing while `RiskGate.check` returns any refusal.

Pure and synchronous: time comes from an injected clock (seconds), so tests drive it directly.
`monotonic_s` measures ages and windows; `wall_s` (UTC seconds) only decides the trading day.
"""

from __future__ import annotations

import logging
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Literal

from arb.errors import ConfigError
from arb.risk.errors import RiskInputError
from arb.risk.limits import RiskLimits
from arb.risk.partial_fill import FillableLeg, Holdings, PartialFillRisk, worst_partial_fill_loss
from solvers.plan import Action
from solvers.problem import Side

if TYPE_CHECKING:
    from arb.book import BinaryBook, OrderBook

__all__ = [
    "BookGate",
    "BookStatus",
    "BreakerStatus",
    "CircuitBreakers",
    "HaltEvent",
    "Incidents",
    "KillSwitch",
    "LinkExposure",
    "LossHalts",
    "Notification",
    "Notifier",
    "PlanContext",
    "RateBudget",
    "Refusal",
    "RiskGate",
    "check_limits",
    "check_partial_fill",
    "kelly_cap",
    "partial_fill_risk",
]

_ZERO = Decimal(0)
Clock = Callable[[], float]
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a plan may not go out: `gate` names the gate, `reason` says what and by how much."""

    gate: str
    reason: str


@dataclass(frozen=True, slots=True)
class BookStatus:
    """What the gate needs of one book a plan reads: trusted (in sync with the venue) and when it
    last changed (monotonic seconds, the same clock the gate reads)."""

    book_id: str
    venue: str
    trusted: bool
    updated_at_s: float

    @classmethod
    def of_ladder(cls, ladder: OrderBook) -> BookStatus:
        """A ladder's status; its `last_update_ns` must come from the clock the gate's
        `monotonic_s` reads (in seconds). A ladder never updated is infinitely old."""
        updated = float("-inf") if ladder.last_update_ns is None else ladder.last_update_ns / 1e9
        return cls(ladder.book_id, ladder.venue, ladder.trusted, updated)

    @classmethod
    def of_book(cls, book: BinaryBook) -> tuple[BookStatus, ...]:
        """Every ladder of a binary market (one for Kalshi, YES and NO tokens for Polymarket)."""
        return tuple(cls.of_ladder(ladder) for ladder in (book.yes, book.no) if ladder is not None)


@dataclass(frozen=True, slots=True)
class LinkExposure:
    """A link the plan leans on: its settlement-risk class (the curated link's `settlement_risk`,
    "identical_rules" for risk-free links), the notional the plan puts on it, and for risky links
    the profit per $1 at risk when the linked contracts settle alike (`edge`) and the probability
    that they do not (the gate uses the larger of this and the class's configured probability)."""

    link_id: str
    risk_class: str
    notional_usd: Decimal
    edge: Decimal = _ZERO
    disagreement_probability: Decimal = _ZERO


@dataclass(frozen=True, slots=True)
class PlanContext:
    """A verified plan about to be sent, and the state the gates judge it against.

    holdings: what is held on the set's contracts now (contracts per (contract, side))
    committed_cash_usd: cash already committed per venue (open orders and positions)
    link_notional_usd: notional already on links per settlement-risk class
    bankroll_usd: the capital the Kelly cap is a fraction of
    """

    set_id: str
    legs: tuple[FillableLeg, ...]
    outcomes: tuple[Mapping[str, int], ...]
    guaranteed_profit_usd: Decimal
    books: tuple[BookStatus, ...]
    holdings: Holdings = field(default_factory=dict)
    committed_cash_usd: Mapping[str, Decimal] = field(default_factory=dict)
    open_plans: int = 0
    links: tuple[LinkExposure, ...] = ()
    link_notional_usd: Mapping[str, Decimal] = field(default_factory=dict)
    bankroll_usd: Decimal = _ZERO

    @property
    def venues(self) -> frozenset[str]:
        return frozenset(leg.leg.venue for leg in self.legs) | frozenset(book.venue for book in self.books)


# -- kill switch --------------------------------------------------------------------------------
class KillSwitch:
    """Engaged by a flag (a signal handler, the CLI, the executor) or by a file that exists. Once the
    flag is set it stays set until `release`; the file engages for as long as it exists."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        # one stat() per check (about a microsecond): cheap enough to ask before every plan, and a
        # file created by `arb kill` stops the very next plan
        self._path_str = None if path is None else os.fspath(path)
        self._reason: str | None = None

    def engage(self, reason: str) -> None:
        self._reason = reason

    def release(self) -> None:
        self._reason = None

    def install_signal(self, signum: int = signal.SIGUSR1) -> None:
        """Engage on `signum` (the handler only sets the flag: safe inside a signal handler)."""

        def handler(received: int, frame: FrameType | None) -> None:
            self.engage(f"signal {signal.Signals(received).name}")

        signal.signal(signum, handler)

    def engaged(self) -> bool:
        return self._reason is not None or (self._path_str is not None and os.path.lexists(self._path_str))

    def check(self) -> Refusal | None:
        if self._reason is not None:
            return Refusal("kill_switch", f"kill switch engaged: {self._reason}")
        if self._path_str is not None and os.path.lexists(self._path_str):
            return Refusal("kill_switch", f"kill switch engaged: file {self.path} exists")
        return None


# -- books --------------------------------------------------------------------------------------
class BookGate:
    """Refuses a plan reading an untrusted book or one older than `max_age_ms`."""

    def __init__(self, max_age_ms: int, monotonic_s: Clock) -> None:
        if isinstance(max_age_ms, bool) or not isinstance(max_age_ms, int) or max_age_ms < 1:
            raise ConfigError(f"book gate max_age_ms must be a positive integer, was {max_age_ms!r}")
        self.max_age_ms = max_age_ms
        self._now = monotonic_s

    def check(self, books: Iterable[BookStatus]) -> list[Refusal]:
        now = self._now()
        refusals = []
        for book in books:
            age_ms = (now - book.updated_at_s) * 1000
            if not book.trusted:
                refusals.append(Refusal("books", f"book {book.book_id} on {book.venue} is not trusted"))
            elif age_ms > self.max_age_ms:
                refusals.append(
                    Refusal(
                        "books",
                        f"book {book.book_id} on {book.venue} is {age_ms:.0f} ms old, limit {self.max_age_ms} ms",
                    )
                )
        return refusals


# -- rate budget --------------------------------------------------------------------------------
class RateBudget:
    """Token bucket of order sends: `rate_per_s` tokens a second up to `burst`. Unlike the venue
    clients' pacing bucket it never queues: a plan that would overdraw it is refused whole."""

    def __init__(self, rate_per_s: float, burst: int, monotonic_s: Clock) -> None:
        if not rate_per_s > 0:
            raise ConfigError(f"rate budget rate_per_s must be positive, was {rate_per_s!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ConfigError(f"rate budget burst must be an integer of at least 1, was {burst!r}")
        self.rate_per_s = float(rate_per_s)
        self.burst = burst
        self._now = monotonic_s
        self._tokens = float(burst)
        self._last = monotonic_s()

    def available(self) -> float:
        now = self._now()
        if now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate_per_s)
            self._last = now
        return self._tokens

    def check(self, sends: int) -> Refusal | None:
        tokens = self.available()
        if sends > tokens:
            return Refusal("rate_budget", f"{sends} sends exceed the rate budget ({tokens:.2f} left)")
        return None

    def take(self, sends: int) -> None:
        if self.check(sends) is not None:
            raise RiskInputError(f"rate budget cannot cover {sends} sends")
        self._tokens -= sends


# -- circuit breakers ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """One venue's breaker as `CircuitBreakers.check` would judge it now: "closed" (calls go
    through), "open" (tripped by errors until `open_until_s`, monotonic) or "unreachable" (a
    partition, until marked reachable); `reason` says why it is not closed."""

    state: Literal["closed", "open", "unreachable"]
    reason: str = ""
    open_until_s: float | None = None


@dataclass(slots=True)
class _VenueHealth:
    calls: deque[tuple[float, bool]] = field(default_factory=deque)
    consecutive_failures: int = 0
    open_until_s: float | None = None
    open_reason: str = ""
    unreachable: str | None = None


class CircuitBreakers:
    """Per venue: trips when the error rate over `window_s` reaches `max_error_rate` (with at least
    `min_calls` calls in the window) or after `max_consecutive_failures` failures in a row, and
    stays open `cooldown_s`. A venue marked unreachable is a partition: every plan touching it is
    refused until it is marked reachable again."""

    def __init__(
        self,
        *,
        window_s: float,
        max_error_rate: float,
        min_calls: int,
        max_consecutive_failures: int,
        cooldown_s: float,
        monotonic_s: Clock,
    ) -> None:
        if not window_s > 0:
            raise ConfigError(f"circuit breaker window_s must be positive, was {window_s!r}")
        if not 0 < max_error_rate <= 1:
            raise ConfigError(f"circuit breaker max_error_rate must be in (0, 1], was {max_error_rate!r}")
        for name, value in (("min_calls", min_calls), ("max_consecutive_failures", max_consecutive_failures)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"circuit breaker {name} must be an integer of at least 1, was {value!r}")
        if not cooldown_s >= 0:
            raise ConfigError(f"circuit breaker cooldown_s must be zero or more, was {cooldown_s!r}")
        self.window_s, self.max_error_rate, self.min_calls = window_s, max_error_rate, min_calls
        self.max_consecutive_failures, self.cooldown_s = max_consecutive_failures, cooldown_s
        self._now = monotonic_s
        self._venues: dict[str, _VenueHealth] = {}

    def _health(self, venue: str) -> _VenueHealth:
        return self._venues.setdefault(venue, _VenueHealth())

    def record(self, venue: str, ok: bool) -> None:
        """One venue call's result (an order send, cancel or query)."""
        now = self._now()
        health = self._health(venue)
        health.calls.append((now, ok))
        while health.calls and health.calls[0][0] <= now - self.window_s:
            health.calls.popleft()
        health.consecutive_failures = 0 if ok else health.consecutive_failures + 1
        failures = sum(1 for _, good in health.calls if not good)
        if health.consecutive_failures >= self.max_consecutive_failures:
            health.open_until_s = now + self.cooldown_s
            health.open_reason = f"{health.consecutive_failures} consecutive failures"
        elif len(health.calls) >= self.min_calls and failures / len(health.calls) >= self.max_error_rate:
            health.open_until_s = now + self.cooldown_s
            health.open_reason = f"error rate {failures}/{len(health.calls)} over {self.window_s} s"

    def mark_unreachable(self, venue: str, reason: str) -> None:
        self._health(venue).unreachable = reason

    def mark_reachable(self, venue: str) -> None:
        self._health(venue).unreachable = None

    def state(self, venue: str) -> BreakerStatus:
        """The venue's breaker now, by the same rules `check` applies (for the live view)."""
        health = self._venues.get(venue)
        if health is None:
            return BreakerStatus("closed")
        if health.unreachable is not None:
            return BreakerStatus("unreachable", health.unreachable)
        if health.open_until_s is not None and self._now() < health.open_until_s:
            return BreakerStatus("open", health.open_reason, health.open_until_s)
        return BreakerStatus("closed")

    def check(self, venues: Iterable[str]) -> list[Refusal]:
        now = self._now()
        refusals = []
        for venue in sorted(venues):
            health = self._venues.get(venue)
            if health is None:
                continue
            if health.unreachable is not None:
                refusals.append(Refusal("partition", f"venue {venue} unreachable: {health.unreachable}"))
            elif health.open_until_s is not None and now < health.open_until_s:
                refusals.append(Refusal("circuit_breaker", f"venue {venue} breaker open: {health.open_reason}"))
        return refusals


# -- incidents ----------------------------------------------------------------------------------
class Incidents:
    """Open incidents per candidate set; a set with one takes no new entries until it is resolved."""

    def __init__(self) -> None:
        self._open: dict[str, str] = {}

    def open(self, set_id: str, reason: str) -> None:
        self._open[set_id] = reason

    def resolve(self, set_id: str) -> None:
        self._open.pop(set_id, None)

    def check(self, set_id: str) -> Refusal | None:
        reason = self._open.get(set_id)
        return None if reason is None else Refusal("incident", f"set {set_id} has an open incident: {reason}")


# -- loss halts ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class HaltEvent:
    """Notification that trading halted: `kind` is "daily_loss" or "drawdown"."""

    kind: Literal["daily_loss", "drawdown"]
    at_wall_s: float
    loss_usd: Decimal
    limit_usd: Decimal

    @property
    def message(self) -> str:
        return (
            f"trading halted: {self.kind.replace('_', ' ')} {self.loss_usd} USD reached the limit {self.limit_usd} USD"
        )


@dataclass(frozen=True, slots=True)
class Notification:
    """An event a person must hear about, handed to the injected notifier (which may post it to a
    webhook; it should queue, not block). `kind` "halt": trading stopped, `halt` says why."""

    kind: Literal["halt"]
    message: str
    at_wall_s: float
    halt: HaltEvent | None = None


Notifier = Callable[[Notification], None]


class LossHalts:
    """Watches equity (cash plus positions marked, exact): the day's loss from the first equity seen
    on each UTC day, and the drawdown from the peak. A breach halts until `reset` (a person's call),
    is reported once as a `HaltEvent` and is sent once to `notify` as a `Notification(kind="halt")`.
    The halt holds even if the notifier fails (its error is logged)."""

    def __init__(
        self,
        daily_loss_halt_usd: Decimal,
        drawdown_halt_usd: Decimal,
        wall_s: Clock,
        notify: Notifier | None = None,
    ) -> None:
        for name, value in (("daily_loss_halt_usd", daily_loss_halt_usd), ("drawdown_halt_usd", drawdown_halt_usd)):
            if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
                raise ConfigError(f"loss halt {name} must be a positive Decimal, was {value!r}")
        self.daily_loss_halt_usd, self.drawdown_halt_usd = daily_loss_halt_usd, drawdown_halt_usd
        self._wall = wall_s
        self._notify = notify
        self._day: str | None = None
        self._day_start_usd = _ZERO
        self._peak_usd: Decimal | None = None
        self.halt: HaltEvent | None = None

    def observe(self, equity_usd: Decimal) -> HaltEvent | None:
        """Record current equity; returns the halt event the first time a limit is reached."""
        if not isinstance(equity_usd, Decimal) or not equity_usd.is_finite():
            raise RiskInputError(f"equity must be a finite Decimal, was {equity_usd!r}")
        now = self._wall()
        day = datetime.fromtimestamp(now, UTC).date().isoformat()
        if day != self._day:
            self._day, self._day_start_usd = day, equity_usd
        self._peak_usd = equity_usd if self._peak_usd is None else max(self._peak_usd, equity_usd)
        if self.halt is not None:
            return None
        daily = self._day_start_usd - equity_usd
        drawdown = self._peak_usd - equity_usd
        if daily >= self.daily_loss_halt_usd:
            self.halt = HaltEvent("daily_loss", now, daily, self.daily_loss_halt_usd)
        elif drawdown >= self.drawdown_halt_usd:
            self.halt = HaltEvent("drawdown", now, drawdown, self.drawdown_halt_usd)
        if self.halt is not None and self._notify is not None:
            try:
                self._notify(Notification("halt", self.halt.message, now, self.halt))
            except Exception:  # noqa: BLE001 - a broken notifier must not lift or break the halt
                _log.exception("notifier failed on %s", self.halt.message)
        return self.halt

    def reset(self) -> None:
        self.halt = None

    def check(self) -> Refusal | None:
        return None if self.halt is None else Refusal(self.halt.kind, self.halt.message)


# -- limits -------------------------------------------------------------------------------------
def kelly_cap(edge: Decimal, disagreement_probability: Decimal, fraction: Decimal, bankroll: Decimal) -> Decimal:
    """Most notional on a settlement-risk link: `fraction` of the Kelly stake on a bet that returns
    `edge` per $1 staked when the linked contracts settle alike (probability 1 - p) and loses the
    stake when they disagree (p): f* = (1 - p) - p / edge, capped at zero."""
    if edge <= 0:
        return _ZERO
    if not 0 <= disagreement_probability <= 1:
        raise RiskInputError(f"disagreement probability must be in [0, 1], was {disagreement_probability}")
    if not 0 < fraction <= 1 or bankroll < 0:
        raise RiskInputError(f"kelly fraction must be in (0, 1] and bankroll >= 0, were {fraction}, {bankroll}")
    kelly = (1 - disagreement_probability) - disagreement_probability / edge
    return max(_ZERO, fraction * kelly * bankroll)


def _signed(leg: FillableLeg) -> Decimal:
    return leg.leg.quantity if leg.leg.action is Action.BUY else -leg.leg.quantity


def _keyed_limits(
    gate: str,
    added: Mapping[str, Decimal],
    committed: Mapping[str, Decimal],
    limits: Mapping[str, Decimal],
    *,
    missing: Callable[[str], str],
    over: Callable[[str, Decimal, Decimal], str],
) -> list[Refusal]:
    """Per key (a venue, a link class): what is committed plus what the plan adds, against that
    key's configured limit; a key with no limit is refused (never traded unconfigured)."""
    refusals = []
    for key, amount in sorted(added.items()):
        limit = limits.get(key)
        total = committed.get(key, _ZERO) + amount
        if limit is None:
            refusals.append(Refusal(gate, missing(key)))
        elif total > limit:
            refusals.append(Refusal(gate, over(key, total, limit)))
    return refusals


def check_limits(limits: RiskLimits, ctx: PlanContext) -> list[Refusal]:
    """Cash per venue, positions per contract and per set, open plans, link notional per class and
    the Kelly cap of risky links, and the minimum profit."""
    refusals = []
    spend: dict[str, Decimal] = {}
    for leg in ctx.legs:
        spend[leg.leg.venue] = spend.get(leg.leg.venue, _ZERO) - leg.leg.cash_flow_usd
    refusals += _keyed_limits(
        "cash",
        spend,
        ctx.committed_cash_usd,
        limits.cash_per_venue_usd,
        missing=lambda venue: f"no cash limit configured for venue {venue}",
        over=lambda venue, total, limit: f"cash on {venue} would be {total} USD, limit {limit} USD",
    )
    after: dict[tuple[str, Side], Decimal] = dict(ctx.holdings)
    for leg in ctx.legs:
        key = (leg.leg.contract, leg.leg.side)
        after[key] = after.get(key, _ZERO) + _signed(leg)
    touched = {(leg.leg.contract, leg.leg.side) for leg in ctx.legs}
    for (contract, side), quantity in sorted(after.items(), key=lambda kv: (kv[0][0], kv[0][1].value)):
        if (contract, side) in touched and abs(quantity) > limits.max_contracts_per_contract:
            refusals.append(
                Refusal(
                    "position",
                    f"{contract} {side.value} would hold {quantity}, limit {limits.max_contracts_per_contract}",
                )
            )
    in_set = sum((abs(q) for q in after.values()), _ZERO)
    if in_set > limits.max_contracts_per_set:
        refusals.append(
            Refusal("set_position", f"set {ctx.set_id} would hold {in_set}, limit {limits.max_contracts_per_set}")
        )
    if ctx.open_plans + 1 > limits.max_open_plans:
        refusals.append(Refusal("open_plans", f"{ctx.open_plans} plans open, limit {limits.max_open_plans}"))
    by_class: dict[str, Decimal] = {}
    for link in ctx.links:
        by_class[link.risk_class] = by_class.get(link.risk_class, _ZERO) + link.notional_usd
        configured = limits.disagreement_probability_per_link_class.get(link.risk_class, _ZERO)
        probability = max(link.disagreement_probability, configured)
        if probability > 0:
            cap = kelly_cap(link.edge, probability, limits.kelly_fraction, ctx.bankroll_usd)
            if link.notional_usd > cap:
                refusals.append(
                    Refusal("kelly", f"link {link.link_id} notional {link.notional_usd} USD above Kelly cap {cap} USD")
                )
    refusals += _keyed_limits(
        "link_notional",
        by_class,
        ctx.link_notional_usd,
        limits.notional_per_link_class_usd,
        missing=lambda risk_class: f"no notional limit configured for link class {risk_class!r}",
        over=lambda risk_class, total, limit: f"class {risk_class!r} notional would be {total} USD, limit {limit} USD",
    )
    if ctx.guaranteed_profit_usd < limits.min_profit_usd:
        refusals.append(
            Refusal("min_profit", f"profit {ctx.guaranteed_profit_usd} USD below {limits.min_profit_usd} USD")
        )
    return refusals


def partial_fill_risk(ctx: PlanContext) -> PartialFillRisk:
    """The plan's worst partial-fill loss (`worst_partial_fill_loss` over its legs, outcomes and
    holdings): pure and several ms of Decimal work a plan, so a caller on an event loop may compute
    it in a worker thread and hand it to `RiskGate.check`."""
    return worst_partial_fill_loss(ctx.legs, ctx.outcomes, ctx.holdings)


def check_partial_fill(limits: RiskLimits, ctx: PlanContext, risk: PartialFillRisk | None = None) -> Refusal | None:
    """The worst loss over every reachable partial-fill vector must stay within the bound.
    `risk`: `partial_fill_risk(ctx)` computed already (e.g. off the event loop); None computes it."""
    if risk is None:
        risk = partial_fill_risk(ctx)
    if risk.loss_usd > limits.max_partial_fill_loss_usd:
        return Refusal(
            "partial_fill",
            f"worst partial-fill loss {risk.loss_usd} USD (lots {list(risk.worst_fill_lots)}) above {limits.max_partial_fill_loss_usd} USD",
        )
    return None


# -- all together -------------------------------------------------------------------------------
@dataclass(slots=True)
class RiskGate:
    """Every gate over one plan. `check` returns all refusals (empty: the plan may go); a plan that
    passes has its sends taken from the rate budget, so check once per send."""

    limits: RiskLimits
    kill_switch: KillSwitch
    books: BookGate
    rate: RateBudget
    breakers: CircuitBreakers
    incidents: Incidents
    halts: LossHalts

    def observe_equity(self, equity_usd: Decimal) -> HaltEvent | None:
        """Feed current equity to the loss halts (which notify on a breach); see `LossHalts.observe`."""
        return self.halts.observe(equity_usd)

    def check(self, ctx: PlanContext, *, partial_fill: PartialFillRisk | None = None) -> list[Refusal]:
        """`partial_fill`: `partial_fill_risk(ctx)` when the caller computed it already (the
        executor does, in a worker thread); the stateful gates (rate budget, breakers, incidents,
        halts) are always read here, in the caller's thread."""
        refusals: list[Refusal] = []
        single: Sequence[Refusal | None] = (
            self.kill_switch.check(),
            self.halts.check(),
            self.incidents.check(ctx.set_id),
            self.rate.check(len(ctx.legs)),
        )
        refusals += [r for r in single if r is not None]
        refusals += self.breakers.check(ctx.venues)
        refusals += self.books.check(ctx.books)
        refusals += check_limits(self.limits, ctx)
        partial = check_partial_fill(self.limits, ctx, partial_fill)
        if partial is not None:
            refusals.append(partial)
        if not ctx.legs:
            refusals.append(Refusal("empty", "the plan has no legs"))
        if not refusals:
            self.rate.take(len(ctx.legs))
        return refusals
