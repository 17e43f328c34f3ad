"""`arb sweep`: the grid file's strict validation and its points, the table from replay documents,
and a 3x3 grid replayed as Ray tasks on a local Ray (9 rows), through the CLI."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from arb.errors import ConfigError
from arb.sweep import load_grid, row_from_document, table_csv, table_markdown

D = Decimal
ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "kalshi-yes-no-under-1.toml"


def grid_file(tmp_path: Path, body: str, scenarios: tuple[str, ...] = ("a.toml",)) -> Path:
    for name in scenarios:
        (tmp_path / name).write_text("# a scenario\n")
    path = tmp_path / "grid.toml"
    path.write_text(body)
    return path


def test_grid_points_are_the_cartesian_product_in_order(tmp_path: Path) -> None:
    # a quoted dotted key and a TOML dotted key (nested tables) mean the same
    path = grid_file(
        tmp_path,
        'scenarios = ["a.toml", "b.toml"]\n[axes]\n"risk.min_profit_usd" = ["0.01", "0.05"]\nrisk.kelly_fraction = [0.1, 0.25, 0.5]\n',
        ("a.toml", "b.toml"),
    )
    grid = load_grid(path)
    assert grid.axes == (("risk.min_profit_usd", ("0.01", "0.05")), ("risk.kelly_fraction", (0.1, 0.25, 0.5)))
    points = grid.points()
    assert len(points) == 12 and [p.index for p in points] == list(range(12))
    assert [p.scenario.name for p in points] == ["a.toml"] * 6 + ["b.toml"] * 6
    assert [dict(p.overrides) for p in points[:3]] == [
        {"risk.min_profit_usd": "0.01", "risk.kelly_fraction": 0.1},
        {"risk.min_profit_usd": "0.01", "risk.kelly_fraction": 0.25},
        {"risk.min_profit_usd": "0.01", "risk.kelly_fraction": 0.5},
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('scenarios = ["a.toml"]\naxes = {}\n', r"\[axes\]` must be a table"),
        ('scenarios = ["a.toml"]\nname = "x"\n[axes]\nk = [1]\n', r"unknown key\(s\) \['name'\]"),
        ("scenarios = []\n[axes]\nk = [1]\n", "non-empty list of scenario file paths"),
        ('scenarios = ["a.toml", "a.toml"]\n[axes]\nk = [1]\n', "lists a file twice"),
        ('scenarios = ["missing.toml"]\n[axes]\nk = [1]\n', "scenario 'missing.toml' not found"),
        (
            'scenarios = ["a.toml"]\n[axes]\n"risk.min_profit_usd" = "0.01"\n',
            "axes.risk.min_profit_usd: must be a non-empty list",
        ),
        ('scenarios = ["a.toml"]\n[axes]\n"risk.x" = []\n', "axes.risk.x: must be a non-empty list"),
        ('scenarios = ["a.toml"]\n[axes]\n"risk.x" = ["1", "1"]\n', "listed twice"),
        ('scenarios = ["a.toml"]\n[axes]\n"risk.x" = [[1], [2]]\n', "strings, numbers or booleans"),
        ('scenarios = ["a.toml"]\n[axes]\n"risk..x" = [1]\n', "not a dotted config key"),
        ('scenarios = ["a.toml"\n', "not valid TOML"),
    ],
)
def test_bad_grids_are_refused_naming_the_problem(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_grid(grid_file(tmp_path, body))


def test_a_grid_too_large_is_refused(tmp_path: Path) -> None:
    values = ", ".join(str(i) for i in range(101))
    with pytest.raises(ConfigError, match="10201 runs; at most 10000"):
        load_grid(grid_file(tmp_path, f'scenarios = ["a.toml"]\n[axes]\na = [{values}]\nb = [{values}]\n'))


def document(name: str, *, passed: bool, plans: int, guaranteed: str) -> dict[str, Any]:
    return {
        "scenario": {"name": name},
        "passed": passed,
        "checks": [{"name": "plans_min", "passed": passed}, {"name": "lost_events", "passed": True}],
        "summary": {"guaranteed_usd": guaranteed},
        "plans": [{"status": "complete"}] * plans + [{"status": "refused"}],
        "ledger": {"orders": [{}] * (2 * plans), "pnl": {"realised_usd": "-0.12", "fees_usd": "0.12"}},
    }


def test_table_rows_from_replay_documents(tmp_path: Path) -> None:
    path = grid_file(tmp_path, 'scenarios = ["a.toml"]\n[axes]\n"risk.min_profit_usd" = ["0.01", "5"]\n')
    grid = load_grid(path)
    first, second = grid.points()
    rows = [
        row_from_document(first, document("pair", passed=True, plans=1, guaranteed="1.0400")),
        row_from_document(second, document("pair", passed=False, plans=0, guaranteed="0")),
    ]
    assert (rows[0].plans, rows[0].executed, rows[0].orders) == (2, 1, 2)
    assert (rows[0].guaranteed_usd, rows[0].fees_usd) == (D("1.04"), D("0.12"))
    assert rows[1].failed_checks == ("plans_min",)
    parsed = list(csv.reader(io.StringIO(table_csv(grid, rows))))
    assert parsed == [
        [
            "scenario",
            "risk.min_profit_usd",
            "plans",
            "executed",
            "orders",
            "guaranteed_usd",
            "realised_usd",
            "fees_usd",
            "passed",
            "failed_checks",
        ],
        ["pair", "0.01", "2", "1", "2", "1.04", "-0.12", "0.12", "yes", ""],
        ["pair", "5", "1", "0", "0", "0", "-0.12", "0.12", "no", "plans_min"],
    ]
    assert table_markdown(grid, rows).splitlines()[2] == "| pair | 0.01 | 2 | 1 | 2 | 1.04 | -0.12 | 0.12 | yes |  |"


def test_overrides_the_scenario_refuses_are_named_before_any_task(tmp_path: Path) -> None:
    pytest.importorskip("arb.replay.runner")
    from arb.sweep import check_grid

    path = tmp_path / "grid.toml"
    path.write_text(f'scenarios = ["{SCENARIO}"]\n[axes]\n"risk.no_such_limit" = ["1"]\n')
    with pytest.raises(ConfigError, match=r"axes.risk.no_such_limit = '1' for kalshi-yes-no-under-1.toml"):
        check_grid(load_grid(path))
    path.write_text(f'scenarios = ["{SCENARIO}"]\n[axes]\n"risk.min_profit_usd" = ["-1"]\n')
    with pytest.raises(ConfigError, match=r"risk\.min_profit_usd"):
        check_grid(load_grid(path))


def test_a_3x3_grid_on_a_local_ray_returns_9_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("arb.replay.runner")
    pytest.importorskip("ray")
    from arb.cli import main

    # the pair pays about a dollar on 40 baskets: the risk gate refuses it under $5 of minimum
    # profit, and the cash on Kalshi bounds how many baskets it buys
    path = tmp_path / "grid.toml"
    path.write_text(
        f'scenarios = ["{SCENARIO}"]\n[axes]\n'
        '"risk.min_profit_usd" = ["0.01", "0.10", "5.00"]\n'
        '"risk.cash_per_venue_usd.kalshi" = ["10.00", "20.00", "1000.00"]\n'
    )
    out = tmp_path / "out"
    code = main(["sweep", str(path), "--out", str(out), "--num-cpus", "2"])
    printed = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO((out / "sweep.csv").read_text())))
    assert len(rows) == 9, printed
    assert [(r["risk.min_profit_usd"], r["risk.cash_per_venue_usd.kalshi"]) for r in rows] == [
        (p, c) for p in ("0.01", "0.10", "5.00") for c in ("10.00", "20.00", "1000.00")
    ]
    assert all(r["scenario"] == "kalshi-yes-no-under-1" for r in rows)
    by_point = {(r["risk.min_profit_usd"], r["risk.cash_per_venue_usd.kalshi"]): r for r in rows}
    for cash in ("10.00", "20.00", "1000.00"):
        refused = by_point[("5.00", cash)]
        assert (refused["plans"], refused["executed"], refused["orders"]) == ("1", "0", "0")
        assert by_point[("0.01", cash)]["executed"] == by_point[("0.10", cash)]["executed"] == "1"
    profits = [D(by_point[("0.01", cash)]["guaranteed_usd"]) for cash in ("10.00", "20.00", "1000.00")]
    assert D(0) < profits[0] < profits[1] < profits[2], profits  # more cash, more baskets
    assert by_point[("0.01", "1000.00")]["passed"] == "yes"  # the scenario as written passes
    runs = sorted((out / "runs").glob("*.json"))
    assert len(runs) == 9
    # each run's JSON is the replay's own document: the overrides it ran with are in it
    assert orjson.loads(runs[8].read_bytes())["overrides"] == {
        "risk.cash_per_venue_usd.kalshi": "1000.00",
        "risk.min_profit_usd": "5.00",
    }
    assert (out / "sweep.png").read_bytes().startswith(b"\x89PNG")
    assert "| kalshi-yes-no-under-1 | 0.01 | 10.00 | 1 | 1 | 2 |" in (out / "sweep.md").read_text()
    assert code == (0 if all(r["passed"] == "yes" for r in rows) else 1)
