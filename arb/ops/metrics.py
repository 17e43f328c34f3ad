"""Prometheus metrics of the engine, on a registry of their own.

Every metric is declared once in `METRICS` (name as scraped, type, help text, labels); `Metrics`
builds them on its own `CollectorRegistry`, never the process-global one, so several instances
(tests, a replay beside the daemon) do not collide. `Metrics.serve` exposes the registry over HTTP on
loopback. Recording is cheap (a dict lookup and a lock inside prometheus_client), so the event loop
may call it directly.

Money gauges are floats: they are for watching, the ledger keeps the exact figures.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from arb.errors import ConfigError

__all__ = [
    "LATENCY_BUCKETS_MS",
    "METRICS",
    "STAGES",
    "MetricSpec",
    "Metrics",
    "MetricsServer",
]

STAGES = ("feed_to_book", "book_to_scan", "scan_to_plan", "tick_to_plan", "plan_to_ack", "tick_to_ack")
"""Pipeline stages timed by `arb_stage_latency_ms`: a venue frame received -> book updated ->
scanner pass done -> verified plan -> first order acknowledged; tick_to_plan spans the frame to the
verified plan (the daemon's latency target), tick_to_ack the frame to the acknowledgement."""

LATENCY_BUCKETS_MS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0)
"""Upper bounds (ms) of the latency histograms: 0.1 ms (a book update) to 1 s (a slow venue ack);
anything slower lands in +Inf."""

PNL_KINDS = ("guaranteed", "realised", "marked")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One documented metric: `name` exactly as a scrape shows it (counters end in `_total`)."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    labels: tuple[str, ...] = ()


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "arb_feed_lag_ms",
        "gauge",
        "Venue timestamp of the latest book frame to its receipt, milliseconds",
        ("venue",),
    ),
    MetricSpec(
        "arb_book_staleness_s",
        "gauge",
        "Age of the stalest trusted book of a venue (time since it last changed), seconds",
        ("venue",),
    ),
    MetricSpec("arb_books_untrusted", "gauge", "Books marked untrusted (out of sync, awaiting resync)", ("venue",)),
    MetricSpec(
        "arb_event_loop_lag_ms",
        "histogram",
        "Delay of a periodic event-loop probe past its scheduled time, milliseconds",
    ),
    MetricSpec(
        "arb_opportunities_total",
        "counter",
        "Candidate sets the scanner forwarded with a positive edge, by relation kind",
        ("kind",),
    ),
    MetricSpec(
        "arb_plans_total",
        "counter",
        "Allocator plans by outcome (verified, refused, executed, failed)",
        ("status",),
    ),
    MetricSpec(
        "arb_orders_total",
        "counter",
        "Orders by venue and final or current state (sent, acked, filled, cancelled, rejected, unknown)",
        ("venue", "status"),
    ),
    MetricSpec("arb_fills_total", "counter", "Fills received, by venue", ("venue",)),
    MetricSpec("arb_filled_contracts_total", "counter", "Contracts filled, by venue", ("venue",)),
    MetricSpec(
        "arb_incidents_total",
        "counter",
        "Incidents opened (partial fill, unknown order, repair failed, halt), by kind",
        ("kind",),
    ),
    MetricSpec(
        "arb_pnl_usd",
        "gauge",
        "Profit and loss in USD: guaranteed by executed plans, realised by settlements and sales, marked positions",
        ("kind",),
    ),
    MetricSpec(
        "arb_stage_latency_ms",
        "histogram",
        "Latency of one pipeline stage (feed_to_book, book_to_scan, scan_to_plan, tick_to_plan, plan_to_ack, tick_to_ack), milliseconds",
        ("stage",),
    ),
)


def _family_name(spec: MetricSpec) -> str:
    # prometheus_client appends `_total` to counters itself
    return spec.name.removesuffix("_total") if spec.kind == "counter" else spec.name


class MetricsServer:
    """A running `/metrics` endpoint; `stop` shuts it down and frees the port."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server, self._thread = server, thread
        self.host: str = str(server.server_address[0])
        self.port: int = int(server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Metrics:
    """The engine's metrics on a private registry; one method per thing the daemon records."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._specs = {spec.name: spec for spec in METRICS}
        built: dict[str, Counter | Gauge | Histogram] = {}
        for spec in METRICS:
            name, labels = _family_name(spec), spec.labels
            if spec.kind == "counter":
                built[spec.name] = Counter(name, spec.help, labels, registry=self.registry)
            elif spec.kind == "gauge":
                built[spec.name] = Gauge(name, spec.help, labels, registry=self.registry)
            else:
                built[spec.name] = Histogram(
                    name, spec.help, labels, registry=self.registry, buckets=LATENCY_BUCKETS_MS
                )
        self._built = built
        self._feed_lag = self._gauge("arb_feed_lag_ms")
        self._staleness = self._gauge("arb_book_staleness_s")
        self._untrusted = self._gauge("arb_books_untrusted")
        self._loop_lag = self._histogram("arb_event_loop_lag_ms")
        self._opportunities = self._counter("arb_opportunities_total")
        self._plans = self._counter("arb_plans_total")
        self._orders = self._counter("arb_orders_total")
        self._fills = self._counter("arb_fills_total")
        self._filled = self._counter("arb_filled_contracts_total")
        self._incidents = self._counter("arb_incidents_total")
        self._pnl = self._gauge("arb_pnl_usd")
        self._stage = self._histogram("arb_stage_latency_ms")
        # the labelled children of the per-event metrics, looked up once: `labels()` takes a lock
        # and validates its arguments on every call, thousands of times a second on the event loop
        self._stage_by_name: dict[str, Histogram] = {}
        self._feed_lag_by_venue: dict[str, Gauge] = {}

    def _gauge(self, name: str) -> Gauge:
        metric = self._built[name]
        assert isinstance(metric, Gauge)
        return metric

    def _counter(self, name: str) -> Counter:
        metric = self._built[name]
        assert isinstance(metric, Counter)
        return metric

    def _histogram(self, name: str) -> Histogram:
        metric = self._built[name]
        assert isinstance(metric, Histogram)
        return metric

    # -- recording ------------------------------------------------------------------------------
    def feed_lag(self, venue: str, lag_ms: float) -> None:
        gauge = self._feed_lag_by_venue.get(venue)
        if gauge is None:
            gauge = self._feed_lag_by_venue[venue] = self._feed_lag.labels(venue=venue)
        gauge.set(_finite("feed lag", lag_ms))

    def book_staleness(self, venue: str, age_s: float) -> None:
        self._staleness.labels(venue=venue).set(_finite("book staleness", age_s))

    def books_untrusted(self, venue: str, count: int) -> None:
        self._untrusted.labels(venue=venue).set(count)

    def event_loop_lag(self, lag_ms: float) -> None:
        self._loop_lag.observe(_non_negative("event-loop lag", lag_ms))

    def opportunity(self, kind: str, count: int = 1) -> None:
        self._opportunities.labels(kind=kind).inc(count)

    def plan(self, status: str) -> None:
        self._plans.labels(status=status).inc()

    def order(self, venue: str, status: str) -> None:
        self._orders.labels(venue=venue, status=status).inc()

    def fill(self, venue: str, contracts: Decimal | int) -> None:
        self._fills.labels(venue=venue).inc()
        self._filled.labels(venue=venue).inc(float(contracts))

    def incident(self, kind: str) -> None:
        self._incidents.labels(kind=kind).inc()

    def pnl(self, kind: str, usd: Decimal) -> None:
        if kind not in PNL_KINDS:
            raise ConfigError(f"P&L kind must be one of {PNL_KINDS}, was {kind!r}")
        self._pnl.labels(kind=kind).set(float(usd))

    def stage_latency(self, stage: str, ms: float) -> None:
        histogram = self._stage_by_name.get(stage)
        if histogram is None:
            if stage not in STAGES:
                raise ConfigError(f"stage must be one of {STAGES}, was {stage!r}")
            histogram = self._stage_by_name[stage] = self._stage.labels(stage=stage)
        histogram.observe(_non_negative("stage latency", ms))

    # -- exposition -----------------------------------------------------------------------------
    def exposed_names(self) -> list[str]:
        """The metric names a scrape shows, read back from the registry (for the docs check)."""
        names = []
        for family in self.registry.collect():
            names.append(family.name + "_total" if family.type == "counter" else family.name)
        return names

    def serve(self, port: int, host: str = "127.0.0.1") -> MetricsServer:
        """Serve `/metrics` on `host:port` in a daemon thread (port 0 picks a free one)."""
        if not 0 <= port <= 65535:
            raise ConfigError(f"metrics port must be in 0..65535, was {port}")
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc}") from exc
        return MetricsServer(server, thread)


def _finite(what: str, value: float) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{what} must be finite, was {value!r}")
    return value


def _non_negative(what: str, value: float) -> float:
    if _finite(what, value) < 0:
        raise ConfigError(f"{what} must be >= 0, was {value!r}")
    return value
