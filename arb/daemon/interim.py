"""Run telemetry until the full `arb.daemon.telemetry.Telemetry` is wired: the run tally behind the
summary, the Prometheus metrics, the live view's snapshot and the component -> kind classifier.
Same hook names as `Telemetry`, so swapping it in changes no call site."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal

from arb.domain import Fill, OrderUpdate, Venue
from arb.execution.executor import ExecutionReport
from arb.graph import Component
from arb.ledger.store import PnL
from arb.ops.metrics import Metrics
from arb.ops.summary import RunTally
from arb.ops.view import OpportunityKind, OpportunityRow, VenueHealthRow, View, ViewSnapshot
from arb.scanner import ScanCandidate
from solvers.problem import AtMostOne, Conjunction, Equivalent, ExactlyOne, Implies

__all__ = ["RunTelemetry", "classify_component"]

_PRIORITY = (
    OpportunityKind.PARLAY,
    OpportunityKind.LADDER,
    OpportunityKind.EXACTLY_ONE,
    OpportunityKind.INVERTED,
    OpportunityKind.PAIR,
)


def classify_component(component: Component) -> OpportunityKind:
    """The component's shape from its relations: a conjunction makes it a parlay, implications a
    ladder, an exactly-one group a group, a cross-venue link a pair (inverted when it is)."""
    kinds: set[OpportunityKind] = set()
    for relation in component.relations:
        if isinstance(relation, Conjunction):
            kinds.add(OpportunityKind.PARLAY)
        elif isinstance(relation, Implies):
            kinds.add(OpportunityKind.LADDER)
        elif isinstance(relation, ExactlyOne):
            kinds.add(OpportunityKind.EXACTLY_ONE)
        elif isinstance(relation, Equivalent):
            kinds.add(OpportunityKind.INVERTED if relation.inverted else OpportunityKind.PAIR)
        elif isinstance(relation, AtMostOne):
            kinds.add(OpportunityKind.OTHER)
    for kind in _PRIORITY:
        if kind in kinds:
            return kind
    return OpportunityKind.OTHER


class RunTelemetry:
    def __init__(
        self,
        *,
        metrics: Metrics | None,
        tally: RunTally,
        view: View | None,
        classify: Callable[[str], OpportunityKind],
        wall_s: Callable[[], float] = time.time,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.tally = tally
        self.view = view
        self._classify = classify
        self._wall_s = wall_s
        self._monotonic_s = monotonic_s
        self._started_s = monotonic_s()
        self._open: dict[str, OpportunityRow] = {}
        self._feed_lag_ms: dict[Venue, float] = {}
        self._last_message_s: dict[Venue, float] = {}
        self.fills = 0
        self.halted = ""

    # -- hooks ------------------------------------------------------------------------------------
    def book_event(self, venue: Venue, market_id: str, feed_lag_s: float | None) -> None:
        self._last_message_s[venue] = self._monotonic_s()
        if feed_lag_s is not None:
            self._feed_lag_ms[venue] = feed_lag_s * 1000.0
            if self.metrics is not None:
                self.metrics.feed_lag(venue.value, max(0.0, feed_lag_s * 1000.0))

    def candidates(self, forwarded: Sequence[ScanCandidate], withdrawn: Iterable[str]) -> None:
        for candidate in forwarded:
            kind = self._classify(candidate.component_id)
            if candidate.component_id not in self._open and self.metrics is not None:
                self.metrics.opportunity(kind.value)
            self.tally.opportunity_opened(candidate.component_id, kind.value)
            self._open[candidate.component_id] = OpportunityRow(candidate.component_id, kind, candidate.score_micro_usd)
        for set_id in withdrawn:
            self.tally.opportunity_closed(set_id)
            self._open.pop(set_id, None)

    def plan(self, report: ExecutionReport, guaranteed_usd: Decimal, timings_ms: Mapping[str, float]) -> None:
        self.tally.plan_reported(report, guaranteed_usd)
        if self.metrics is not None:
            self.metrics.plan(report.status.value)
            if report.incident_id is not None:
                self.metrics.incident("partial_fill")
        for stage, ms in timings_ms.items():
            self.stage(stage, ms)
        if self.view is not None:
            self.view.event(f"plan {report.set_id}: {report.status.value} {report.reason}".strip())

    def stage(self, stage: str, ms: float) -> None:
        self.tally.latency(stage, ms)
        if self.metrics is not None:
            self.metrics.stage_latency(stage, max(0.0, ms))

    def order(self, update: OrderUpdate) -> None:
        if self.metrics is not None:
            self.metrics.order(update.venue.value, update.status.value)

    def fill(self, fill: Fill) -> None:
        self.fills += 1
        if self.metrics is not None:
            self.metrics.fill(fill.venue.value, Decimal(fill.size_micro) / 1_000_000)

    def loop_lag(self, lag_ms: float) -> None:
        self.tally.latency("event_loop_lag", lag_ms)
        if self.metrics is not None:
            self.metrics.event_loop_lag(max(0.0, lag_ms))

    def halt(self, reason: str) -> None:
        self.halted = reason
        if self.view is not None:
            self.view.event(f"halted: {reason}")

    def event(self, message: str) -> None:
        if self.view is not None:
            self.view.event(message)

    def pnl(self, pnl: PnL) -> None:
        if self.metrics is not None:
            self.metrics.pnl("realised", pnl.realised_usd)
            self.metrics.pnl("unrealised", pnl.unrealised_usd)
            self.metrics.pnl("guaranteed", self.tally.guaranteed_usd)

    # -- the view ---------------------------------------------------------------------------------
    def snapshot(
        self, *, pnl: PnL, linked_markets: int, venues: Sequence[VenueHealthRow], plans_executed: int
    ) -> ViewSnapshot:
        return ViewSnapshot(
            at_wall_s=self._wall_s(),
            mode=self.tally.mode,
            uptime_s=self._monotonic_s() - self._started_s,
            linked_markets=linked_markets,
            links=(),
            opportunities=tuple(self._open.values()),
            pnl=pnl,
            guaranteed_usd=self.tally.guaranteed_usd,
            latencies=self.tally.stage_percentiles(),
            venues=tuple(venues),
            plans_executed=plans_executed,
            fills=self.fills,
            halted=self.halted,
        )

    def venue_row(self, venue: Venue, *, connected: bool, books: int, stale_books: int) -> VenueHealthRow:
        last = self._last_message_s.get(venue)
        return VenueHealthRow(
            venue=venue,
            connected=connected,
            feed_lag_ms=self._feed_lag_ms.get(venue),
            last_message_age_ms=None if last is None else (self._monotonic_s() - last) * 1000.0,
            books=books,
            stale_books=stale_books,
        )
