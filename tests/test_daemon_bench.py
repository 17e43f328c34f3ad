"""`arb bench daemon` runs the real daemon and reports what it says: a tiny run (figures are not
judged, only that each mode took samples and the report has its shape)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arb.cli import build_parser
from arb.ops.metrics import STAGES
from benchmarks.daemon_bench import render, run_daemon_bench, view_modes


def test_daemon_bench_reports_both_view_modes_side_by_side(tmp_path: Path) -> None:
    out = tmp_path / "daemon.json"
    report = run_daemon_bench(
        duration_s=1.0,
        warmup_s=0.3,
        rate=200.0,
        views=("none", "process"),
        venues_process=False,  # the simulators in this process: no second interpreter to start
        json_path=out,
        echo=False,
    )
    assert [m.view for m in report.modes] == ["none", "process"]
    for mode in report.modes:
        assert mode.window_s > 0
        assert mode.book_events > 0 and mode.delivered_per_s > 0
        assert mode.loop_lag.count > 0 and mode.loop_lag.p99_ms is not None
        assert set(mode.stages) == set(STAGES)
        feed = mode.stages["feed_to_book"]
        assert feed.count > 0 and feed.p50_ms is not None and feed.p50_ms <= (feed.p99_ms or 0)
        assert mode.daemon_cpu_per_s > 0
        assert len(mode.load_before) == 3
    assert report.modes[0].view_frames == 0
    assert report.modes[1].view_frames > 0 and report.modes[1].view_bytes > 0  # the child drew on the terminal
    document = json.loads(out.read_text())
    assert document["targets"] == {"loop_lag_p99_ms": 5.0, "tick_to_plan_p99_ms": 10.0}
    assert [m["view"] for m in document["modes"]] == ["none", "process"]
    assert {"loop_lag", "stages", "delivered_per_s", "loop_lag_ok", "tick_to_plan_ok"} <= set(document["modes"][0])
    text = render(report)
    assert "none/FULL" in text and "process/FULL" in text and "tick_to_plan p99" in text
    assert {m.ledger_synchronous for m in report.modes} == {"FULL"}  # the configured mode


def test_view_modes_parse_and_refuse() -> None:
    assert view_modes("none,process,thread") == ("none", "process", "thread")
    with pytest.raises(Exception, match="view modes are"):
        view_modes("none,fancy")


def test_cli_wires_bench_daemon() -> None:
    args = build_parser().parse_args(["bench", "daemon", "--duration", "2", "--rate", "500", "--json", "x.json"])
    assert (args.duration, args.rate, args.views, args.json, args.synchronous) == (
        2.0,
        500.0,
        "none,process",
        Path("x.json"),
        (),
    )
