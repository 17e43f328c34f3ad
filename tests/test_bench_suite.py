"""The solver benchmark runs end to end at toy size and writes its documented outputs."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from arb.cli import build_parser, main
from benchmarks.instances import FAMILIES, PROJECTION_SIZES, SEEDING_SIZES, apply_ticks, build_family
from benchmarks.solver_suite import (
    BACKENDS,
    PROJECTION_RATIO_TARGET,
    FullSolveRow,
    ProjectionRow,
    RoundingRow,
    SeedingRow,
    SuiteReport,
    _checks,
    _ratio,
    run_suite,
)
from solvers import Allocator, Side


def test_suite_writes_table_csv_markdown_plot_and_json(tmp_path: Path) -> None:
    lines: list[str] = []
    out = tmp_path / "results"
    report = run_suite(
        out_dir=out,
        json_path=tmp_path / "solvers.json",
        say=lines.append,
        families={"pairs": (2,), "combinatorial": (5,), "portfolio": (3,)},
        ticks=3,
        warm_update_ticks=5,
        projection_sizes=(20,),
        seeding_sizes=(4,),
    )
    payload = json.loads((tmp_path / "solvers.json").read_text())
    rows = payload["results"]
    assert set(payload) == {"results", "projection", "cg_seeding", "rounding", "full_solve", "greedy_comparison"}
    assert all(
        set(r) == {"family", "instance", "columns", "rows", "backend", "median_ms", "p99_ms", "objective"} for r in rows
    )
    for instance in {r["instance"] for r in rows if r["family"] != "warm-update"}:
        assert {r["backend"] for r in rows if r["instance"] == instance} == set(BACKENDS)
    assert {r["backend"] for r in rows if r["family"] == "warm-update"} == {"highs-warm"}
    for name in ("solvers.csv", "solvers.md", "solvers.png", "rounding.csv", "full_solve.csv"):
        assert (out / name).stat().st_size > 0
    assert any("checks:" in line for line in lines)
    assert all(s.max_rel_deviation <= 1e-6 for s in report.summaries)  # backends agree on every tick
    # both greedy baselines on the capital-bound portfolio, base + 3 ticks
    assert [(c["instance"], c["baseline"], c["states"]) for c in payload["greedy_comparison"]] == [
        ("portfolio-3", "greedy", 4),
        ("portfolio-3", "greedy-roc", 4),
    ]
    # full solves per tick and the rounding ratio (base and last tick) on every instance
    assert [f["instance"] for f in payload["full_solve"]] == ["pairs-2", "parlays-5", "portfolio-3"]
    assert all(f["ticks"] == 3 and 0 < f["median_ms"] <= f["p99_ms"] <= f["max_ms"] for f in payload["full_solve"])
    rounding = payload["rounding"]
    assert [(r["instance"], r["state"]) for r in rounding] == [
        (name, state) for name in ("pairs-2", "parlays-5", "portfolio-3") for state in (0, 3)
    ]
    assert all({"instance", "verified_profit", "integer_optimum", "ratio"} <= set(r) for r in rounding)
    for r in rounding:
        assert r["mip_optimal"] and r["integer_optimum"] >= r["verified_profit"] - 1e-3
        assert r["ratio"] == (r["verified_profit"] / r["integer_optimum"] if r["integer_optimum"] > 1e-9 else 1.0)
    assert any(r["integer_optimum"] > 0 for r in rounding)
    names = [name for name, _, _ in report.checks]
    assert "verified profit / exact lot-integral optimum: mean >= 0.999" in names
    assert "verified profit / exact lot-integral optimum: min >= 0.99" in names
    assert "portfolio-3: full solve p99 <= MIP limit + 5 ms (55 ms)" in names
    assert "portfolio-3: LP never below greedy-roc" in names
    # projection family: one row per size with every reported figure, in the table, CSV and JSON
    (projection,) = payload["projection"]
    assert set(projection) == set(ProjectionRow.__dataclass_fields__)
    assert projection["instance"] == "projection-20" and projection["contracts"] == 20
    assert projection["stop_reason"] == "gap" and projection["gap"] <= 1e-6
    assert projection["oracle_calls"] >= projection["init_oracle_calls"] > 0
    assert projection["total_ms"] > projection["oracle_ms"] > 0
    assert math.isclose(
        projection["ratio"],
        projection["total_ms"] / (projection["oracle_calls"] * projection["median_oracle_ms"]),
        rel_tol=1e-9,
    )
    with open(out / "projection.csv") as handle:
        assert [r["instance"] for r in csv.DictReader(handle)] == ["projection-20"]
    # constraint-generation seeding: both variants side by side
    (seeding,) = payload["cg_seeding"]
    assert set(seeding) == set(SeedingRow.__dataclass_fields__)
    assert seeding["instance"] == "parlays-4" and seeding["price_basis"] == "mid"
    assert seeding["seeded_seeds"] <= seeding["active_vertices"]
    assert math.isclose(seeding["seeded_objective"], seeding["unseeded_objective"], rel_tol=1e-9, abs_tol=1e-9)
    with open(out / "cg_seeding.csv") as handle:
        assert [r["instance"] for r in csv.DictReader(handle)] == ["parlays-4"]
    table = "\n".join(lines)
    assert "projection (Frank-Wolfe" in table and "unseeded (default seed outcomes) vs seeded" in table
    assert f"projection-20: total time <= {PROJECTION_RATIO_TARGET:g}x oracle calls x median oracle time" in names
    assert "parlays-4: CG seeded with the projection's active vertices needs no more rounds than unseeded" in names
    assert (out / "solvers.md").read_text().count("projection-20") >= 2


def test_ticks_change_sizes_prices_or_both_and_keep_books_valid() -> None:
    """Every tick leaves valid books (ladders on the grid and strictly increasing, checked by
    rebuilding the instruments; no venue's book crossed; sizes whole lots of at least one lot); the
    changes mix size-only, price-only and both; the warm allocator fed the ticks agrees with a fresh
    one built on the ticked books."""
    instance = build_family("portfolio", 6, 5, 40)
    problem = instance.problem
    allocator = Allocator(problem)
    handles = {
        (i.id, k): int(col)
        for s in problem.sets
        for i in s.instruments
        for k, col in enumerate(allocator.slot_columns(i.id).tolist())
    }
    kinds: Counter[str] = Counter()
    compared = 0
    for number, tick in enumerate(instance.ticks, start=1):
        before = {i.id: i.asks for s in problem.sets for i in s.instruments}
        problem = apply_ticks(problem, [tick])  # raises DataError on an invalid ladder
        for instrument_id, slot, price, size in tick.changes:
            old = before[instrument_id][slot]
            kinds[("price" if price != old.price else "") + ("size" if size != old.size else "")] += 1
        best: dict[tuple[str, str, Side], Decimal] = {}
        for candidate in problem.sets:
            for instrument in candidate.instruments:
                best[(instrument.venue, instrument.contract, instrument.side)] = instrument.asks[0].price
                for level in instrument.asks:
                    assert level.size >= instrument.lot_size and level.size % instrument.lot_size == 0
        books = [(venue, contract) for venue, contract, side in best if side is Side.YES]
        for venue, contract in books:
            assert best[(venue, contract, Side.YES)] + best[(venue, contract, Side.NO)] >= Decimal("1.01")
        assert len(books) == len(best) // 2  # every listing has both sides: each book was checked
        cols = [handles[(i, k)] for i, k, _, _ in tick.changes]
        allocator.update_levels(cols, [c[2] for c in tick.changes], [c[3] for c in tick.changes])
        if number % 10 == 0:
            warm, fresh = allocator.solve_lp().objective, Allocator(problem).solve_lp().objective
            assert warm == pytest.approx(fresh, rel=1e-9, abs=1e-9)
            compared += 1
    assert compared == 4
    assert set(kinds) == {"price", "size", "pricesize"}
    assert min(kinds.values()) >= 0.2 * sum(kinds.values()), kinds


def test_projection_and_seeding_sizes() -> None:
    """Full runs: n = 50, 200, 500 and the combinatorial family's sizes; quick runs (make run) keep
    n = 50 and the quick combinatorial size."""
    assert PROJECTION_SIZES == ((50, 200, 500), (50,))
    assert SEEDING_SIZES == FAMILIES["combinatorial"] == ((6, 10, 16), (10,))


def _projection_row(ratio: float, stop: str = "gap", gap: float = 1e-7) -> ProjectionRow:
    return ProjectionRow("projection-50", 50, 60, 5, 60, 6, 0.5, 35.0, ratio * 30.0, ratio, 53, gap, stop, 0.05, 0, 40)


def _seeding_row(unseeded: int, seeded: int, objective: float = 1.0) -> SeedingRow:
    return SeedingRow(
        "parlays-6", 18, 12, "mid", 15.0, 12, 13, 12, unseeded, seeded, 0, 0, 7.0, 6.0, 4.0, 1.0, 1.0, objective
    )


def test_checks_fail_when_the_projection_ratio_or_the_seeded_rounds_miss_their_targets() -> None:
    """`arb bench solvers --strict` exits 1 on any failed check: these are the ones it adds."""
    report = SuiteReport(
        projection=[_projection_row(2.0), _projection_row(3.4), _projection_row(1.5, "time_budget", 0.01)],
        seeding=[_seeding_row(7, 0), _seeding_row(3, 4), _seeding_row(3, 3, objective=1.1)],
    )
    _checks(report)
    outcomes = [(name.split(": ", 1)[1], ok) for name, ok, _ in report.checks]
    ratio = [ok for name, ok in outcomes if name.startswith("total time <=")]
    gap = [ok for name, ok in outcomes if name.startswith("projection gap")]
    rounds = [ok for name, ok in outcomes if name.startswith("CG seeded")]
    optimum = [ok for name, ok in outcomes if name.startswith("seeded and unseeded")]
    assert ratio == [True, False, True]
    assert gap == [True, True, False]
    assert rounds == [True, False, True]
    assert optimum == [True, True, False]


def _rounding_row(ratio: float) -> RoundingRow:
    return RoundingRow("pairs-12", 0, ratio, 1.0, ratio, 1.0, 1.0, True, 1.0, ratio, 5.0, 0.1, 24)


def _check(report: SuiteReport, prefix: str) -> list[bool]:
    _checks(report)
    return [ok for name, ok, _ in report.checks if name.startswith(prefix)]


def test_rounding_checks_hold_the_acceptance_targets() -> None:
    """Mean ratio >= 0.999 and every ratio >= 0.99; a full solve's p99 within the MIP limit + 5 ms."""
    prefix = "verified profit / exact lot-integral optimum"
    assert _check(SuiteReport(rounding=[_rounding_row(1.0), _rounding_row(0.999)]), prefix) == [True, True]
    assert _check(SuiteReport(rounding=[_rounding_row(1.0), _rounding_row(0.997)]), prefix) == [False, True]
    assert _check(SuiteReport(rounding=[_rounding_row(1.02), _rounding_row(0.985)]), prefix) == [True, False]
    full = [FullSolveRow("a", 300, 60, 3.0, 55.0, 70.0, 1), FullSolveRow("b", 300, 60, 3.0, 55.5, 60.0, 0)]
    assert _check(SuiteReport(full_solve=full), "a: full solve") == [True]
    assert _check(SuiteReport(full_solve=full), "b: full solve") == [False]


def test_ratio_is_one_when_both_profits_are_zero() -> None:
    assert _ratio(0.0, 0.0) == 1.0
    assert _ratio(1e-12, -1e-12) == 1.0  # solver noise around zero
    assert _ratio(0.99, 1.0) == 0.99
    assert _ratio(0.0, 0.5) == 0.0
    assert _ratio(0.01, 0.0) == float("inf")


def test_cli_parses_the_bench_command() -> None:
    args = build_parser().parse_args(["bench", "solvers", "--quick", "--json", "x.json"])
    assert args.quick and str(args.json) == "x.json" and not args.strict


def test_cli_rejects_unknown_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "nothing"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
