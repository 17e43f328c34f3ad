"""`arb bench exec` smoke test: a few plans per leg count complete and the JSON has the issue's
shape. Latencies are the benchmark's to report, never asserted here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arb.cli import main


def test_bench_exec_runs_plans_and_writes_the_json_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "exec.json"
    assert (
        main(
            [
                "bench",
                "exec",
                "--plans",
                "3",
                "--legs",
                "2",
                "5",
                "--synchronous",
                "NORMAL",
                "--ledger-writes",
                "both",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    payload = json.loads(out.read_text())
    assert [(r["legs"], r["ledger_writes"]) for r in payload["results"]] == [
        (2, "deferred"),
        (2, "inline"),
        (5, "deferred"),
        (5, "inline"),
    ]
    for row in payload["results"]:
        assert {"legs", "plans", "p50_ms", "p95_ms", "p99_ms"} <= set(row) and row["plans"] == 3
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
    assert 0 < payload["signing_share"] < 1 and 0 < payload["ledger_share"] < 1
    assert {"journal_intent", "record_order_pending", "record_order", "record_fill"} == set(payload["ledger_writes"])
    assert 0 < payload["ledger_share_before_send"] <= payload["ledger_share"]
    assert "plan -> all legs acknowledged" in capsys.readouterr().out
