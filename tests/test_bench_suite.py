"""The solver benchmark runs end to end at toy size and writes its documented outputs."""

from __future__ import annotations

import json

from arb.cli import build_parser, main
from benchmarks.solver_suite import BACKENDS, run_suite


def test_suite_writes_table_csv_markdown_plot_and_json(tmp_path) -> None:
    lines: list[str] = []
    out = tmp_path / "results"
    report = run_suite(
        out_dir=out,
        json_path=tmp_path / "solvers.json",
        say=lines.append,
        families={"pairs": (2,), "combinatorial": (5,), "portfolio": (3,)},
        ticks=3,
        warm_update_ticks=5,
    )
    payload = json.loads((tmp_path / "solvers.json").read_text())
    rows = payload["results"]
    assert set(payload) == {"results"}
    assert all(set(r) == {"family", "instance", "columns", "rows", "backend", "median_ms", "p99_ms", "objective"} for r in rows)
    for instance in {r["instance"] for r in rows if r["family"] != "warm-update"}:
        assert {r["backend"] for r in rows if r["instance"] == instance} == set(BACKENDS)
    assert {r["backend"] for r in rows if r["family"] == "warm-update"} == {"highs-warm"}
    for name in ("solvers.csv", "solvers.md", "solvers.png"):
        assert (out / name).stat().st_size > 0
    assert any("checks:" in line for line in lines)
    assert all(s.max_rel_deviation <= 1e-6 for s in report.summaries)  # backends agree on every tick
    assert report.greedy_comparison and report.greedy_comparison[0]["states"] == 4


def test_cli_parses_the_bench_command() -> None:
    args = build_parser().parse_args(["bench", "solvers", "--quick", "--json", "x.json"])
    assert args.quick and str(args.json) == "x.json" and not args.strict


def test_cli_rejects_unknown_commands(capsys) -> None:
    import pytest

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "nothing"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
