"""The daemon's one place that reports what it does: Prometheus metrics (`arb.ops.metrics`), the run
tally behind the end-of-run summary (`arb.ops.summary.RunTally`), the live view's snapshot
(`arb.ops.view`), structured log events (`arb.ops.logs`) and webhook alerts (`arb.ops.notify`).

The daemon calls one `Telemetry` hook per thing that happened (a book event, candidates forwarded
or withdrawn, a verified plan, an execution report, an order update, a fill, an incident, a halt,
the ledger's P&L, venue health) and `refresh()` on its own schedule; each hook updates every sink
concerned, so a figure on the endpoint, in the view and in the summary comes from the same call.

Also here, pure and tested on their own:
- `classify_relations` / `classify_component`: the `OpportunityKind` of a market-graph component;
- `feed_health`: a venue client's feed state (connected, last message, stale and untrusted books);
- `LoopLagMonitor`: an asyncio task measuring event-loop lag on an injected clock.

Cost on the event loop: `book_event` runs per book change (a clock read, a dict store and one gauge
set); `snapshot()` reuses what did not change since the last one (opportunity rows and links are
kept as tuples, rebuilt only when their hook ran) and reads the latency percentiles in one pass per
stage; `refresh()` builds no snapshot unless the view is due to draw. Rendering is the view's
business (`LiveView` draws on rich's thread).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from arb.domain import Fill, FillStatus, OrderStatus, OrderUpdate, Venue
from arb.errors import ConfigError
from arb.execution.executor import ExecutionReport, ExecutionStatus
from arb.graph import Component
from arb.ledger.store import Incident as LedgerIncident
from arb.ledger.store import PnL
from arb.links import CuratedLink
from arb.ops.logs import log_event
from arb.ops.metrics import STAGES, Metrics
from arb.ops.notify import Alert, DailySummary, Incident
from arb.ops.summary import LatencyHistogram, RunSummary, RunTally, StagePercentiles
from arb.ops.view import (
    BreakerState,
    LinkRow,
    OpportunityKind,
    OpportunityRow,
    VenueHealthRow,
    View,
    ViewSnapshot,
)
from arb.risk.gates import CircuitBreakers, Notification
from arb.scanner import ScanCandidate
from solvers.plan import AllocationResult, SetPlan
from solvers.problem import AtMostOne, Conjunction, Equivalent, ExactlyOne, Implies, Relation

__all__ = [
    "LOOP_LAG_STAGE",
    "AlertSink",
    "FeedHealth",
    "LoopLagMonitor",
    "Telemetry",
    "classify_component",
    "classify_relations",
    "feed_health",
]

Clock = Callable[[], float]
LOOP_LAG_STAGE = "event_loop_lag"
"""The name event-loop lag has among the tally's latency rows (view and summary)."""

_ZERO = Decimal(0)
_MICRO = Decimal(1_000_000)
_EMPTY_PNL = PnL(_ZERO, _ZERO, _ZERO, (), (), ())
_RECENT_IDS = 100_000  # orders and fills remembered to count each state or fill once


# -- the kind of a component -------------------------------------------------------------------
def classify_relations(relations: Iterable[Relation]) -> OpportunityKind:
    """The shape of arbitrage a set of relations offers, by what defines it:

    1. a conjunction (a parlay against its legs) -> PARLAY, whatever else the legs carry;
    2. an exactly-one group -> EXACTLY_ONE, implications (a ladder) -> LADDER, both -> OTHER;
    3. only equivalences (cross-venue links): any inverted -> INVERTED, else PAIR;
    4. nothing of the above (at-most-one groups alone, no relation) -> OTHER.

    Equivalences next to a group or ladder only copy it onto the other venue, and at-most-one
    groups only bound a structure defined elsewhere, so neither changes the kind."""
    conjunction = exactly_one = implies = equivalent = inverted = False
    for relation in relations:
        if isinstance(relation, Conjunction):
            conjunction = True
        elif isinstance(relation, ExactlyOne):
            exactly_one = True
        elif isinstance(relation, Implies):
            implies = True
        elif isinstance(relation, Equivalent):
            equivalent = True
            inverted = inverted or relation.inverted
        elif not isinstance(relation, AtMostOne):
            raise ConfigError(f"unknown relation {relation!r}")
    if conjunction:
        return OpportunityKind.PARLAY
    if exactly_one or implies:
        if exactly_one and implies:
            return OpportunityKind.OTHER
        return OpportunityKind.EXACTLY_ONE if exactly_one else OpportunityKind.LADDER
    if equivalent:
        return OpportunityKind.INVERTED if inverted else OpportunityKind.PAIR
    return OpportunityKind.OTHER


def classify_component(component: Component) -> OpportunityKind:
    return classify_relations(component.relations)


# -- feed health -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FeedHealth:
    """One venue's market-data feed at `now_ns` (the clients' clock).

    books / untrusted_books / stale_books: ladders subscribed / out of sync / trusted but unchanged
        for longer than the age limit given to `feed_health`
    stalest_age_s: age of the stalest trusted ladder (None: no trusted ladder)
    last_message_age_s: since the feed last delivered data (None: it never did, or unknown)
    """

    venue: Venue
    connected: bool
    books: int
    untrusted_books: int
    stale_books: int
    stalest_age_s: float | None
    last_message_age_s: float | None


def _feed_state(client: Any) -> tuple[bool, int | None]:
    """(connected, last data ns) of a Kalshi or Polymarket client, or of a wrapper around one
    (`PaperVenue.inner`)."""
    inner = getattr(client, "inner", None)
    if inner is not None and getattr(client, "books", None) is getattr(inner, "books", None):
        client = inner
    connected = getattr(client, "connected", False)
    if isinstance(connected, Mapping):  # Polymarket: one asyncio.Event per socket; books come on "market"
        event = connected.get("market")
        connected = bool(event is not None and event.is_set())
    session = getattr(client, "market_session", None) or getattr(client, "session", None)
    watchdog = getattr(session, "watchdog", None)
    last_ns = getattr(watchdog, "last_data_ns", None)
    return bool(connected), last_ns if isinstance(last_ns, int) else None


def feed_health(client: Any, *, now_ns: int, max_book_age_ns: int) -> FeedHealth:
    """Read a venue client's feed state: its `venue`, `books` (ladders by id), whether the book
    socket is up, and when it last delivered data (its session's watchdog)."""
    if isinstance(max_book_age_ns, bool) or not isinstance(max_book_age_ns, int) or max_book_age_ns < 1:
        raise ConfigError(f"max_book_age_ns must be a positive integer, was {max_book_age_ns!r}")
    connected, last_ns = _feed_state(client)
    untrusted = stale = 0
    oldest_ns: int | None = None
    books = client.books
    for book in books.values():
        if not book.trusted or book.last_update_ns is None:
            untrusted += 1
            continue
        age = now_ns - book.last_update_ns
        if oldest_ns is None or age > oldest_ns:
            oldest_ns = age
        if age > max_book_age_ns:
            stale += 1
    return FeedHealth(
        venue=Venue(client.venue),
        connected=connected,
        books=len(books),
        untrusted_books=untrusted,
        stale_books=stale,
        stalest_age_s=None if oldest_ns is None else max(0.0, oldest_ns / 1e9),
        last_message_age_s=None if last_ns is None else max(0.0, (now_ns - last_ns) / 1e9),
    )


# -- event-loop lag ----------------------------------------------------------------------------
class LoopLagMonitor:
    """Measures how late the event loop runs a timer: every `interval_s` it sleeps and records how
    much longer than `interval_s` the sleep took, in ms, into `histogram` and `record` (normally
    `Telemetry.loop_lag`, which feeds the metric and the tally). A stalled loop shows as lag;
    the probe itself costs one wake-up per interval."""

    def __init__(
        self,
        record: Callable[[float], None] | None = None,
        *,
        clock: Clock,
        interval_s: float = 0.01,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if isinstance(interval_s, bool) or not isinstance(interval_s, int | float) or not 0 < interval_s <= 60:
            raise ConfigError(f"loop-lag interval_s must be in (0, 60], was {interval_s!r}")
        self.interval_s = float(interval_s)
        self._record = record
        self._clock = clock
        self._sleep = sleep
        self.histogram = LatencyHistogram(LOOP_LAG_STAGE)

    def sample(self, lag_ms: float) -> None:
        self.histogram.record(lag_ms)
        if self._record is not None:
            self._record(lag_ms)

    async def run(self) -> None:
        """Probe until cancelled."""
        while True:
            started = self._clock()
            await self._sleep(self.interval_s)
            self.sample(max(0.0, (self._clock() - started - self.interval_s) * 1000))

    def percentiles(self) -> StagePercentiles:
        return self.histogram.percentiles()


# -- telemetry ---------------------------------------------------------------------------------
class AlertSink(Protocol):
    """Where alerts go: `WebhookNotifier.submit` queues for its delivery task."""

    def submit(self, alert: Alert) -> None: ...


@dataclass(slots=True)
class _Day:
    """Figures of one UTC day, for its daily summary."""

    day: str
    opportunities: int = 0
    plans_executed: int = 0
    fills: int = 0
    incidents: int = 0
    guaranteed_usd: Decimal = _ZERO
    capital_peak_usd: Decimal = _ZERO


@dataclass(slots=True)
class _Feed:
    lag_ms: float | None = None
    last_message_s: float | None = None


@dataclass(slots=True)
class _Venue:
    health: FeedHealth
    breaker: BreakerState = BreakerState.CLOSED
    breaker_reason: str = ""


_ORDER_STATE = {
    OrderStatus.PENDING: "sent",
    OrderStatus.OPEN: "acked",
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELED: "cancelled",
    OrderStatus.REJECTED: "rejected",
    OrderStatus.UNKNOWN: "unknown",
}
_PLAN_STATUS = {
    ExecutionStatus.REFUSED: "refused",
    ExecutionStatus.COMPLETE: "executed",
    ExecutionStatus.UNFILLED: "executed",
    ExecutionStatus.REPAIRED: "executed",
    ExecutionStatus.HALTED: "failed",
}


def _utc_day(wall_s: float) -> str:
    return datetime.fromtimestamp(wall_s, UTC).date().isoformat()


@dataclass(slots=True)
class _Remembered:
    """Keys seen lately (insertion order; the oldest forgotten past `limit`)."""

    limit: int = _RECENT_IDS
    keys: OrderedDict[Any, set[str]] = field(default_factory=OrderedDict)

    def get(self, key: Any) -> set[str] | None:
        return self.keys.get(key)

    def add(self, key: Any) -> set[str]:
        states: set[str] = set()
        self.keys[key] = states
        if len(self.keys) > self.limit:
            self.keys.popitem(last=False)
        return states


class Telemetry:
    """Every report the daemon makes, from one set of hooks (module docstring).

    metrics: None runs without an endpoint; view: None runs without a live view; notifier: None
    sends no alerts (they are still logged). `monotonic_s` times ages and the run; `wall_s`
    (UTC seconds) stamps the view and alerts and decides the day of the daily summary.
    """

    def __init__(
        self,
        *,
        metrics: Metrics | None,
        tally: RunTally,
        view: View | None,
        notifier: AlertSink | None,
        logger: logging.Logger,
        monotonic_s: Clock,
        wall_s: Clock,
    ) -> None:
        self.metrics = metrics
        self.tally = tally
        self.view = view
        self.notifier = notifier
        self.log = logger
        self._now = monotonic_s
        self._wall = wall_s
        self._started_s = monotonic_s()
        self._kinds: dict[str, OpportunityKind] = {}
        self._links: tuple[LinkRow, ...] = ()
        self._linked_markets = 0
        self._opportunities: dict[str, OpportunityRow] = {}
        self._opportunity_rows: tuple[OpportunityRow, ...] | None = ()
        self._feeds: dict[Venue, _Feed] = {}
        self._venues: dict[Venue, _Venue] = {}
        self._pnl = _EMPTY_PNL
        self._open_incidents: tuple[LedgerIncident, ...] = ()
        self._halted = ""
        self._orders = _Remembered()
        self._fill_ids = _Remembered()
        self.fills = 0
        self._day = _Day(_utc_day(wall_s()))
        self.daily_summaries: list[DailySummary] = []

    # -- graph and market data ------------------------------------------------------------------
    def graph(self, components: Iterable[Component], links: Iterable[CuratedLink] = ()) -> None:
        """The market graph was (re)built: each component's kind, and the links to show."""
        components = tuple(components)
        self._kinds = {c.id: classify_component(c) for c in components}
        linked: set[str] = set()
        for component in components:
            for relation in component.relations:
                if isinstance(relation, Equivalent):
                    linked.update((relation.a, relation.b))
        self._linked_markets = len(linked)
        self._links = tuple(
            LinkRow(link.kalshi_ticker, link.polymarket_market_id, link.orientation, link.settlement_risk)
            for link in links
        )
        log_event(
            self.log,
            logging.INFO,
            "graph_built",
            components=len(components),
            linked_markets=self._linked_markets,
            kinds={k.value: n for k, n in _count(self._kinds.values()).items()},
        )

    def book_event(self, venue: Venue, market_id: str, feed_lag_s: float | None = None) -> None:
        """A book changed (called per change: keep it cheap). `feed_lag_s`: the frame's venue
        timestamp to its receipt, when the venue stamps its frames."""
        feed = self._feeds.get(venue)
        if feed is None:
            feed = self._feeds[venue] = _Feed()
        feed.last_message_s = self._now()
        if feed_lag_s is not None:
            lag_ms = feed_lag_s * 1000
            feed.lag_ms = lag_ms
            if self.metrics is not None:
                self.metrics.feed_lag(venue.value, lag_ms)

    def venue_health(self, feeds: Iterable[FeedHealth], breakers: CircuitBreakers | None = None) -> None:
        """Each venue's feed (`feed_health` of its client) and breaker: staleness and untrusted
        books to the metrics, a row to the view; a feed going down is an incident."""
        for health in feeds:
            venue = health.venue
            status = None if breakers is None else breakers.state(venue.value)
            breaker = BreakerState.CLOSED if status is None else BreakerState(status.state)
            previous = self._venues.get(venue)
            self._venues[venue] = _Venue(health, breaker, "" if status is None else status.reason)
            if self.metrics is not None:
                self.metrics.book_staleness(venue.value, health.stalest_age_s or 0.0)
                self.metrics.books_untrusted(venue.value, health.untrusted_books)
            was_up = previous is not None and previous.health.connected
            if was_up and not health.connected:
                self.incident("venue_down", f"{venue.value} market-data feed disconnected", severity="critical")
            elif previous is not None and not was_up and health.connected:
                log_event(self.log, logging.INFO, "venue_up", venue=venue.value)
            if previous is not None and previous.breaker is not breaker:
                log_event(
                    self.log,
                    logging.WARNING if breaker is not BreakerState.CLOSED else logging.INFO,
                    "venue_breaker",
                    venue=venue.value,
                    state=breaker.value,
                    reason=self._venues[venue].breaker_reason,
                )

    # -- scanner, allocator, executor -----------------------------------------------------------
    def kind_of(self, set_id: str, relations: Iterable[Relation] = ()) -> OpportunityKind:
        kind = self._kinds.get(set_id)
        if kind is None:
            kind = self._kinds[set_id] = classify_relations(relations)
        return kind

    def candidates(self, forwarded: Iterable[ScanCandidate], withdrawn: Iterable[str] = ()) -> None:
        """The scanner's drain (forwarded candidates) and `take_withdrawn()`. A set forwarded while
        not already open is one opportunity of its kind (counted again after it was withdrawn)."""
        for candidate in forwarded:
            set_id = candidate.component_id
            row = self._opportunities.get(set_id)
            if row is None:
                kind = self.kind_of(set_id, candidate.candidate_set.relations)
                self._opportunities[set_id] = OpportunityRow(set_id, kind, candidate.score_micro_usd)
                self.tally.opportunity_opened(set_id, kind.value)
                if self.metrics is not None:
                    self.metrics.opportunity(kind.value)
                self._day.opportunities += 1
            elif row.edge_micro_usd != candidate.score_micro_usd:
                self._opportunities[set_id] = replace(row, edge_micro_usd=candidate.score_micro_usd)
            self._opportunity_rows = None
        for set_id in withdrawn:
            if self._opportunities.pop(set_id, None) is not None:
                self._opportunity_rows = None
            self.tally.opportunity_closed(set_id)

    def plan(self, result: AllocationResult | SetPlan, timings_ms: Mapping[str, float] | None = None) -> None:
        """Verified plans from the allocator (each counts as "verified"), and the stage latencies
        measured on the way to them (`timings_ms`: stage -> ms, e.g. book_to_scan, scan_to_plan)."""
        plans = result.plans if isinstance(result, AllocationResult) else (result,)
        for set_plan in plans:
            if self.metrics is not None:
                self.metrics.plan("verified")
            row = self._opportunities.get(set_plan.set_id)
            if row is not None:
                size = max((leg.quantity for leg in set_plan.legs), default=_ZERO)
                self._opportunities[set_plan.set_id] = replace(
                    row,
                    size_micro=int(size * _MICRO),
                    guaranteed_profit_usd=set_plan.guaranteed_profit_usd,
                    legs=len(set_plan.legs),
                )
                self._opportunity_rows = None
        for stage, ms in (timings_ms or {}).items():
            self.stage(stage, ms)

    def stage(self, stage: str, latency_ms: float) -> None:
        """One stage latency sample: the metric (for the stages it documents) and the tally."""
        if self.metrics is not None and stage in STAGES:
            self.metrics.stage_latency(stage, latency_ms)
        self.tally.latency(stage, latency_ms)

    def loop_lag(self, lag_ms: float) -> None:
        """One event-loop lag sample (`LoopLagMonitor` calls this)."""
        if self.metrics is not None:
            self.metrics.event_loop_lag(lag_ms)
        self.tally.latency(LOOP_LAG_STAGE, lag_ms)

    def execution(self, report: ExecutionReport, guaranteed_usd: Decimal = _ZERO) -> None:
        """What `Executor.execute` reported for a plan whose guaranteed profit was
        `guaranteed_usd`: the plan's outcome, its orders, its plan-to-ack latency, and an incident
        when the executor opened one (a partial fill repaired, or a set it had to halt)."""
        self.tally.plan_reported(report, guaranteed_usd)
        status = _PLAN_STATUS[report.status]
        if self.metrics is not None:
            self.metrics.plan(status)
            self.metrics.pnl("guaranteed", self.tally.guaranteed_usd)
        if report.status is not ExecutionStatus.REFUSED:
            self._day.plans_executed += 1
        if report.status is ExecutionStatus.COMPLETE:
            self._day.guaranteed_usd += guaranteed_usd
        for order in report.orders:
            self._order_state(order.venue, order.client_order_id, order.status)
        if report.plan_latency_ms is not None:
            self.stage("plan_to_ack", report.plan_latency_ms)
        log_event(
            self.log,
            logging.INFO if report.status is not ExecutionStatus.HALTED else logging.ERROR,
            "plan_" + status,
            set_id=report.set_id,
            status=report.status.value,
            orders=len(report.orders),
            cash_flow_usd=report.cash_flow_usd,
            refusals=[f"{r.gate}: {r.reason}" for r in report.refusals],
            reason=report.reason,
        )
        if report.incident_id is not None or report.status is ExecutionStatus.HALTED:
            partial = any(0 < o.filled_micro < o.size_micro for o in report.orders)
            unknown = any(o.status is OrderStatus.UNKNOWN for o in report.orders)
            if report.status is ExecutionStatus.HALTED:
                kind = "repair_failed"
            else:
                kind = "partial_fill" if partial else "unknown_order" if unknown else "imbalance"
            details = {"status": report.status.value, "repair rounds": str(len(report.repairs))}
            if report.incident_id is not None:
                details["incident"] = str(report.incident_id)
            self.incident(
                kind,
                report.reason or f"set {report.set_id} ended {report.status.value}",
                set_id=report.set_id,
                severity="critical" if report.status is ExecutionStatus.HALTED else "warning",
                details=details,
            )

    def order(self, update: OrderUpdate) -> None:
        """A venue's word on one of our orders (streamed or queried); each state an order reaches
        is counted once, however often the venue repeats it."""
        key = update.client_order_id or f"{update.venue.value}:{update.order_id}"
        self._order_state(update.venue, key, update.status)

    def _order_state(self, venue: Venue, key: str, status: OrderStatus) -> None:
        states = self._orders.get(key)
        if states is None:
            states = self._orders.add(key)
            states.add("sent")
            if self.metrics is not None:
                self.metrics.order(venue.value, "sent")
        label = _ORDER_STATE[status]
        if label not in states:
            states.add(label)
            if self.metrics is not None:
                self.metrics.order(venue.value, label)

    def fill(self, fill: Fill) -> None:
        """A fill of ours; each venue fill id counts once (a Polymarket trade repeats it as it
        settles, and a reversal names the same id)."""
        key = (fill.venue, fill.fill_id)
        if self._fill_ids.get(key) is not None or fill.status is FillStatus.FAILED:
            return
        self._fill_ids.add(key)
        self.fills += 1
        self._day.fills += 1
        if self.metrics is not None:
            self.metrics.fill(fill.venue.value, Decimal(fill.size_micro) / _MICRO)

    # -- incidents, halts, money ----------------------------------------------------------------
    def incident(
        self,
        kind: str,
        message: str,
        *,
        set_id: str | None = None,
        severity: Literal["info", "warning", "critical"] = "warning",
        details: Mapping[str, str] | None = None,
    ) -> None:
        """Something a person should look at: counted, logged, shown, and sent to the webhook."""
        self._day.incidents += 1
        if self.metrics is not None:
            self.metrics.incident(kind)
        fields = dict(details or {})
        log_event(
            self.log,
            logging.ERROR if severity == "critical" else logging.WARNING,
            "incident",
            kind=kind,
            message=message,
            set_id=set_id,
            severity=severity,
            details=fields,
        )
        if self.view is not None:
            self.view.event(f"incident {kind}: {message}" + (f" (set {set_id})" if set_id else ""))
        self._alert(Incident(kind, message, self._wall(), severity, set_id, fields))

    def halt(self, reason: Notification | str) -> None:
        """Entries stopped: a loss halt (`LossHalts` takes this method as its notifier), the kill
        switch or a shutdown. Shown until `resume`, counted as incident "halt", and sent."""
        note = reason if isinstance(reason, Notification) else Notification("halt", reason, self._wall())
        self._halted = note.message
        self._day.incidents += 1
        if self.metrics is not None:
            self.metrics.incident("halt")
        log_event(self.log, logging.ERROR, "halt", message=note.message)
        if self.view is not None:
            self.view.event(f"HALT: {note.message}")
        self._alert(note)

    def resume(self) -> None:
        """Entries allowed again (a person released the halt)."""
        if self._halted:
            log_event(self.log, logging.INFO, "resume", halted=self._halted)
        self._halted = ""

    @property
    def halted(self) -> str:
        return self._halted

    def pnl(self, pnl: PnL, *, open_incidents: Sequence[LedgerIncident] | None = None) -> None:
        """The ledger's P&L (`Ledger.pnl()`; its positions are the view's) and, when given, its
        open incidents. Also where a new UTC day is noticed: the day before is summarised."""
        self._pnl = pnl
        if open_incidents is not None:
            self._open_incidents = tuple(open_incidents)
        if self.metrics is not None:
            self.metrics.pnl("realised", pnl.realised_usd)
            self.metrics.pnl("marked", pnl.unrealised_usd)
            self.metrics.pnl("guaranteed", self.tally.guaranteed_usd)
        self._check_day()

    def capital(self, committed_usd: Decimal) -> None:
        """Capital committed now (open orders and positions), for the summary's peak and use."""
        self.tally.capital(committed_usd)
        self._day.capital_peak_usd = max(self._day.capital_peak_usd, committed_usd)

    def _alert(self, alert: Alert) -> None:
        if self.notifier is not None:
            self.notifier.submit(alert)

    def _check_day(self) -> None:
        now = self._wall()
        today = _utc_day(now)
        if today == self._day.day:
            return
        day = self._day
        realised = dict(self._pnl.realised_by_day).get(day.day, _ZERO)
        summary = DailySummary(
            day=day.day,
            at_wall_s=now,
            opportunities=day.opportunities,
            plans_executed=day.plans_executed,
            fills=day.fills,
            incidents=day.incidents,
            guaranteed_pnl_usd=day.guaranteed_usd,
            realised_pnl_usd=realised,
            capital_used_usd=day.capital_peak_usd,
        )
        self.daily_summaries.append(summary)
        log_event(
            self.log,
            logging.INFO,
            "daily_summary",
            day=day.day,
            opportunities=day.opportunities,
            plans_executed=day.plans_executed,
            fills=day.fills,
            incidents=day.incidents,
            guaranteed_usd=day.guaranteed_usd,
            realised_usd=realised,
        )
        self._alert(summary)
        self._day = _Day(today, capital_peak_usd=self.tally.capital_end_usd)

    # -- view and summary -----------------------------------------------------------------------
    def snapshot(self) -> ViewSnapshot:
        """What the view shows now; parts whose hooks did not run since the last call are reused."""
        if self._opportunity_rows is None:
            self._opportunity_rows = tuple(self._opportunities.values())
        now = self._now()
        return ViewSnapshot(
            at_wall_s=self._wall(),
            mode=self.tally.mode,
            uptime_s=max(0.0, now - self._started_s),
            linked_markets=self._linked_markets,
            links=self._links,
            opportunities=self._opportunity_rows,
            pnl=self._pnl,
            guaranteed_usd=self.tally.guaranteed_usd,
            latencies=self.tally.stage_percentiles(),
            venues=tuple(self._venue_row(v, s) for v, s in sorted(self._venues.items())),
            incidents=self._open_incidents,
            plans_executed=sum(n for s, n in self.tally.plans_by_status.items() if s != "refused"),
            fills=self.fills,
            halted=self._halted,
        )

    def _venue_row(self, venue: Venue, state: _Venue) -> VenueHealthRow:
        health = state.health
        feed = self._feeds.get(venue)
        return VenueHealthRow(
            venue=venue,
            connected=health.connected,
            feed_lag_ms=None if feed is None else feed.lag_ms,
            last_message_age_ms=None if health.last_message_age_s is None else health.last_message_age_s * 1000,
            breaker=state.breaker,
            breaker_reason=state.breaker_reason,
            books=health.books,
            stale_books=health.stale_books,
        )

    def refresh(self) -> bool:
        """Call on the daemon's schedule: notices a new UTC day, and hands the view a snapshot
        when it is due to draw (building none when it is not). Returns whether it did."""
        self._check_day()
        if self.view is None or not self.view.due():
            return False
        return self.view.update(self.snapshot())

    def close(self) -> None:
        """Draw the last snapshot and leave it on screen."""
        if self.view is not None:
            self.view.close(self.snapshot())

    def summary(self, *, fills: int, incidents_open_at_end: int, unhedged_sets: Iterable[str] = ()) -> RunSummary:
        """The run's summary with the latest P&L given to `pnl` (give the final one first)."""
        return self.tally.summary(
            self._pnl,
            fills=fills,
            incidents_open_at_end=incidents_open_at_end,
            ended_s=self._now(),
            unhedged_sets=unhedged_sets,
        )


def _count(kinds: Iterable[OpportunityKind]) -> dict[OpportunityKind, int]:
    counts: dict[OpportunityKind, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    return counts
