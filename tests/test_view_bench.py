"""The live-view benchmark runs and reports what it says (a tiny run; figures are not judged)."""

from __future__ import annotations

import io
import time

from rich.console import Console

from arb.ops.view import render_snapshot
from benchmarks.view_bench import frame_cost, full_snapshot, snapshot_cost


def test_frame_cost_reports_build_and_draw() -> None:
    cost = frame_cost(2)
    assert cost.frames == 2
    assert 0 < cost.build_p50_ms <= cost.build_p99_ms
    assert 0 < cost.draw_p50_ms <= cost.draw_p99_ms


def test_full_snapshot_fills_every_section() -> None:
    out = io.StringIO()
    Console(file=out, width=200, force_terminal=False).print(render_snapshot(full_snapshot(time.time())))
    text = out.getvalue()
    for title in ("Opportunities (10)", "Positions (10)", "Linked markets (37)", "Open incidents (5)", "Venues"):
        assert title in text, title


def test_snapshot_cost_reports_the_daemons_snapshot_and_the_former_percentile_scan() -> None:
    cost = snapshot_cost(2, samples=1_000)
    assert cost.snapshots == 2
    # timed separately, so only their order within one measurement is certain: the latency rows are
    # part of a snapshot but measured in another loop (under load either can be the larger)
    assert cost.latencies_p50_ms > 0 and 0 < cost.build_p50_ms <= cost.build_p99_ms
    assert cost.sorted_scan_p50_ms > 0
