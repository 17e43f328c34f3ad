"""`arb bench sim` smoke test: a short run per venue delivers every published change to the client
process with no loss and writes the JSON shape. Rates are reported by the benchmark, never asserted
here."""

from __future__ import annotations

import json
from pathlib import Path

from arb.cli import main
from benchmarks.sim_bench import run_sim_bench


def test_a_short_run_delivers_every_change_and_reports_windows(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sim.json"
    results = run_sim_bench(duration_s=1.0, windows=4, json_path=out)
    assert [r.venue for r in results] == ["kalshi", "polymarket"]
    for r in results:
        assert r.published > 0 and r.delivered == r.published and (r.lost, r.dropped, r.seq_gaps) == (0, 0, 0)
        assert len(r.windows) == 4 and all(w.changes > 0 and w.cpu_us_per_change > 0 for w in r.windows)
        assert r.rss_mb_end > 0 and any("not 60 s" in failure for failure in r.failures)  # too short to pass
    payload = json.loads(out.read_text())
    row = payload["results"][0]
    assert {"venue", "changes_per_second", "lost", "dropped", "windows", "cost_ratio", "rss_mb_mid", "ok"} <= set(row)
    assert set(payload["machine"]) == {"cpus", "load_average_before", "load_average_after"}
    assert "changes/s" in capsys.readouterr().out


def test_cli_paces_to_a_target_rate(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    assert main(["bench", "sim", "--duration", "0.5", "--rate", "2000", "--venue", "kalshi", "--json", str(out)]) == 0
    [row] = json.loads(out.read_text())["results"]
    assert row["target_rate"] == 2000 and 500 <= row["published"] <= 1_300 and row["lost"] == 0
    assert main(["bench", "sim", "--duration", "0.3", "--venue", "polymarket", "--strict"]) == 1  # too short
