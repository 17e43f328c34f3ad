"""`arb bench churn` smoke test: the instance mix, the row's figures are consistent (ratios are the
ratios of the medians shown, the warm plans equal the cold rebuild's) and the JSON has the documented
shape. The costs themselves are reported by the benchmark, never asserted here."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from arb.cli import main
from benchmarks.churn_bench import ChurnBenchReport, churn_sets, run_churn_bench
from solvers import Equivalent, ExactlyOne, Implies


def test_sets_are_seeded_and_of_the_portfolio_mix() -> None:
    sets = churn_sets(40, seed=3)
    assert [s.id for s in sets] == [f"s{k}" for k in range(40)]
    again = churn_sets(40, seed=3)
    assert [s.instruments for s in sets] == [s.instruments for s in again]
    kinds = Counter(
        "ladder"
        if any(isinstance(r, Implies) for r in s.relations)
        else "group"
        if any(isinstance(r, ExactlyOne) for r in s.relations)
        else "pair"
        for s in sets
    )
    assert set(kinds) == {"pair", "group", "ladder"} and kinds["pair"] > kinds["group"]
    assert all(any(isinstance(r, Equivalent) for r in s.relations) for s in sets)  # listed on both venues


def test_rows_are_consistent_and_json_has_the_documented_shape(tmp_path, capsys) -> None:
    out = tmp_path / "churn.json"
    report = run_churn_bench((3, 6), cycles=2, seed=1, json_path=out)
    assert isinstance(report, ChurnBenchReport) and report.valid
    assert [r.sets for r in report.rows] == [3, 6]
    for row in report.rows:
        assert row.cycles == 2 and row.matches == 2 and 0 <= row.compactions <= 2
        assert min(row.add_ms, row.remove_ms, row.cold_build_ms, row.cold_solve_ms, row.compact_ms) > 0
        assert row.add_vs_cold_build == pytest.approx(row.add_ms / row.cold_build_ms)
        cold = row.cold_build_ms + row.cold_solve_ms
        assert row.add_cycle_vs_cold == pytest.approx((row.add_ms + row.add_solve_ms) / cold)
        assert row.remove_cycle_vs_cold == pytest.approx((row.remove_ms + row.remove_solve_ms) / cold)
    assert report.rows[1].columns > report.rows[0].columns
    payload = json.loads(out.read_text())
    assert set(payload) == {"results", "load_average", "valid"}
    assert {
        "sets",
        "add_ms",
        "add_solve_ms",
        "remove_ms",
        "remove_solve_ms",
        "cold_build_ms",
        "cold_solve_ms",
        "add_vs_cold_build",
        "add_cycle_vs_cold",
        "compactions",
    } <= set(payload["results"][0])
    printed = capsys.readouterr().out
    assert "cold build" in printed and "add/build" in printed and "load average" in printed


def test_cli_runs_the_churn_bench(tmp_path) -> None:
    out = tmp_path / "c.json"
    assert main(["bench", "churn", "--sets", "2,4", "--cycles", "1", "--json", str(out)]) == 0
    assert [r["sets"] for r in json.loads(out.read_text())["results"]] == [2, 4]


def test_cli_refuses_bad_set_counts(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "churn", "--sets", "10,x"])
    assert exit_info.value.code == 2
    assert "comma-separated set counts" in capsys.readouterr().err
