"""`arb bench stress` runs the real daemon against the simulators in their own process and counts
every book event on both sides: a tiny run (figures are not judged) with two injected losses, which
the count must find exactly."""

from __future__ import annotations

import json
from pathlib import Path

from arb.cli import build_parser
from benchmarks.daemon_bench import Percentiles
from benchmarks.stress_bench import REPORTED_STAGES, EventCount, StepResult, compare_counts, run_stress_bench


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


def _step(**changes: object) -> StepResult:
    none = Percentiles(0, None, None, None, None)
    stages = dict.fromkeys(REPORTED_STAGES, none)
    fields: dict[str, object] = {
        "rate": 1000.0,
        "window_s": 10.0,
        "book_events": 10_000,
        "achieved_per_s": 1000.0,
        "stages": stages,
        "loop_lag": none,
        "idle_loop_lag": none,
        "opportunities": 0,
        "plans": 0,
        "daemon_cpu_per_s": 0.2,
        "sims_cpu_per_s": 0.1,
        "skipped_changes": 0,
        "lost_events": 0,
        "count": EventCount(10, 10, 0, 0, {}),
        "load_before": (0.0, 0.0, 0.0),
        "load_after": (0.0, 0.0, 0.0),
        "rss_growth_pct": 0.0,
    }
    fields.update(changes)
    return StepResult(**fields)  # type: ignore[arg-type]


def test_a_step_names_the_bound_it_broke_worst_first() -> None:
    assert _step().broken() == []
    slow = dict.fromkeys(REPORTED_STAGES, Percentiles(5, 1.0, 20.0, 30.0, 30.0))  # p95 20, p99 30 ms
    broken = [name for name, _ in _step(stages=slow).broken()]
    # tick_to_plan p99 30 > 10 (x3) first; feed/book p95 20 > 5 (x4) are worse: ordered by ratio
    assert broken[:2] == ["feed_to_book", "book_to_scan"] and "tick_to_plan" in broken
    assert "scan_to_plan" not in broken  # p95 20 <= 50
    assert _step(lost_events=1).broken()[0][0] == "lost_events"
    assert _step(achieved_per_s=500.0).broken()[0][0] == "throughput"
    behind = _step(achieved_per_s=500.0, skipped_changes=5_000).broken()
    assert behind[0][0] == "throughput (simulators behind)"
    assert _step(stages=slow, latency_bounds=False).broken() == []  # --ramp-bounds events
