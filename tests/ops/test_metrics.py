"""The metrics endpoint serves every documented metric with the values recorded (scraped over HTTP
on loopback and parsed by the test's own exposition reader), and the docs list exactly the
registry's metrics."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from arb.errors import ConfigError
from arb.ops.metrics import LATENCY_BUCKETS_MS, METRICS, STAGES, Metrics

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _parse(text: str) -> tuple[dict[tuple[str, frozenset[tuple[str, str]]], float], dict[str, str]]:
    """Samples keyed by (name, labels) and each family's TYPE, read from the text format."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"unparseable exposition line {line!r}"
        name, labels, value = match.groups()
        samples[name, frozenset(_LABEL.findall(labels or ""))] = float(value)
    return samples, types


def _record(metrics: Metrics) -> None:
    metrics.feed_lag("kalshi", 12.5)
    metrics.book_staleness("polymarket", 3.25)
    metrics.books_untrusted("kalshi", 2)
    metrics.event_loop_lag(0.3)
    metrics.event_loop_lag(7.0)
    metrics.opportunity("cross_venue_pair", 3)
    metrics.opportunity("ladder")
    metrics.plan("executed")
    metrics.plan("executed")
    metrics.plan("refused")
    metrics.order("kalshi", "acked")
    metrics.fill("polymarket", Decimal("12.5"))
    metrics.fill("polymarket", 4)
    metrics.incident("partial_fill")
    metrics.pnl("guaranteed", Decimal("1.75"))
    metrics.pnl("realised", Decimal("-0.25"))
    for stage, ms in zip(STAGES, (0.05, 0.4, 3.0, 7.5, 40.0, 2000.0), strict=True):
        metrics.stage_latency(stage, ms)


def test_endpoint_serves_every_documented_metric_with_recorded_values() -> None:
    metrics = Metrics()
    _record(metrics)
    server = metrics.serve(port=0)
    try:
        assert server.host == "127.0.0.1" and server.port > 0
        response = httpx.get(server.url, timeout=5)
    finally:
        server.stop()
    assert response.status_code == 200
    samples, types = _parse(response.text)

    def value(name: str, **labels: str) -> float:
        return samples[name, frozenset(labels.items())]

    for spec in METRICS:
        assert types.get(spec.name) == spec.kind, spec.name
    assert value("arb_feed_lag_ms", venue="kalshi") == 12.5
    assert value("arb_book_staleness_s", venue="polymarket") == 3.25
    assert value("arb_books_untrusted", venue="kalshi") == 2
    assert value("arb_event_loop_lag_ms_count") == 2
    assert value("arb_event_loop_lag_ms_sum") == pytest.approx(7.3)
    assert value("arb_event_loop_lag_ms_bucket", le="0.5") == 1
    assert value("arb_event_loop_lag_ms_bucket", le="10.0") == 2
    assert value("arb_opportunities_total", kind="cross_venue_pair") == 3
    assert value("arb_opportunities_total", kind="ladder") == 1
    assert value("arb_plans_total", status="executed") == 2
    assert value("arb_plans_total", status="refused") == 1
    assert value("arb_orders_total", venue="kalshi", status="acked") == 1
    assert value("arb_fills_total", venue="polymarket") == 2
    assert value("arb_filled_contracts_total", venue="polymarket") == 16.5
    assert value("arb_incidents_total", kind="partial_fill") == 1
    assert value("arb_pnl_usd", kind="guaranteed") == 1.75
    assert value("arb_pnl_usd", kind="realised") == -0.25
    for stage, ms in zip(STAGES, (0.05, 0.4, 3.0, 7.5, 40.0, 2000.0), strict=True):
        assert value("arb_stage_latency_ms_count", stage=stage) == 1
        assert value("arb_stage_latency_ms_sum", stage=stage) == ms
        # the sample sits in the first bucket whose bound holds it (+Inf past 1000 ms)
        first = next((b for b in LATENCY_BUCKETS_MS if ms <= b), None)
        for bound in LATENCY_BUCKETS_MS:
            assert value("arb_stage_latency_ms_bucket", stage=stage, le=str(bound)) == (
                1 if first is not None and bound >= first else 0
            )
        assert value("arb_stage_latency_ms_bucket", stage=stage, le="+Inf") == 1
    # every documented metric carries at least one sample with the value recorded above
    names = {name for name, _ in samples}
    for spec in METRICS:
        assert any(n == spec.name or n.startswith(spec.name + "_") for n in names), spec.name


def test_server_stops_and_frees_its_port() -> None:
    metrics = Metrics()
    server = metrics.serve(port=0)
    url = server.url
    server.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)


def test_instances_do_not_share_a_registry() -> None:
    first, second = Metrics(), Metrics()  # a second set of the same names on the global registry would raise
    first.plan("executed")
    assert first.registry.get_sample_value("arb_plans_total", {"status": "executed"}) == 1
    assert second.registry.get_sample_value("arb_plans_total", {"status": "executed"}) is None


def test_docs_list_exactly_the_registry_metrics() -> None:
    documented = re.findall(r"^\| `(arb_[a-z0-9_]+)` \|", DOCS.read_text(), flags=re.MULTILINE)
    assert len(documented) == len(set(documented)), "a metric is documented twice"
    assert sorted(documented) == sorted(Metrics().exposed_names())
    assert sorted(documented) == sorted(spec.name for spec in METRICS)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.stage_latency("book_to_moon", 1.0),
        lambda m: m.stage_latency("feed_to_book", -1.0),
        lambda m: m.feed_lag("kalshi", float("nan")),
        lambda m: m.pnl("imagined", Decimal(1)),
        lambda m: m.serve(port=70000),
    ],
)
def test_bad_values_are_refused_with_a_config_error(call) -> None:
    with pytest.raises(ConfigError):
        call(Metrics())
