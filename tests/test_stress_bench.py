"""`arb bench stress` runs the real daemon against the simulators in their own process and counts
every book event on both sides: a tiny run (figures are not judged) with two injected losses, which
the count must find exactly."""

from __future__ import annotations

import json
from pathlib import Path

from arb.cli import build_parser
from benchmarks.stress_bench import REPORTED_STAGES, compare_counts, run_stress_bench


def test_compare_counts_is_per_book() -> None:
    published = {"a": 5, "b": 3, "c": 1}
    applied = {"a": 5, "b": 4, "c": 0, "d": 2}
    # b's surplus does not hide c's shortfall; d was never published
    assert compare_counts(published, applied) == (1, 3)
    assert compare_counts(published, dict(published)) == (0, 0)


def test_tiny_stress_run_has_the_issue_keys_and_counts_injected_losses(tmp_path: Path) -> None:
    out, png = tmp_path / "stress.json", tmp_path / "stress.png"
    report = run_stress_bench(
        rate=50.0,
        duration_s=2.0,
        warmup_s=1.0,
        json_path=out,
        png_path=png,
        inject=("gap", "daemon_drop"),  # the Kalshi simulator loses a delta; the daemon misses one event
        echo=False,
    )
    document = json.loads(out.read_text())
    assert set(document) == {"rate", "duration_s", "achieved_rate", "lost_events", "latency_ms", "rss_growth_pct"}
    assert document["rate"] == 50.0 and document["duration_s"] == 2.0
    assert set(document["latency_ms"]) == set(REPORTED_STAGES)
    assert all(set(p) == {"p50", "p95", "p99"} for p in document["latency_ms"].values())
    feed = document["latency_ms"]["feed_to_book"]
    assert feed["p50"] is not None and feed["p50"] <= feed["p99"]
    assert document["achieved_rate"] > 0
    count = report.count
    assert count.published > 0 and count.applied == count.published - 2  # the gap's delta and the dropped event
    # exactly the two injected losses, and the gap the Kalshi client saw; nothing else
    assert (count.missing, count.extra) == (2, 0)
    assert {k: v for k, v in count.incidents.items() if v} == {"kalshi_sequence_gaps": 1}
    assert document["lost_events"] == report.lost_events == 3
    assert png.stat().st_size > 0


def test_cli_wires_bench_stress() -> None:
    args = build_parser().parse_args(["bench", "stress", "--rate", "500", "--duration", "3", "--ramp", "--json", "x"])
    assert (args.rate, args.duration, args.ramp, args.json, args.step, args.max_rate) == (
        500.0,
        3.0,
        True,
        Path("x"),
        None,
        10_000.0,
    )
