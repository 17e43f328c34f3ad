"""`arb bench solvers`: every backend on the same instances and the same tick sequences, in one run.

Per instance: each LP backend solves the base instance, then every tick (20% of the levels moved by
one tick) is applied through the allocator's update API and re-solved, and the update + solve time
is recorded. `highs-warm` re-solves its persistent model; `highs-cold` passes the tick's model to a
new HiGHS object and solves it from scratch (constraint generation restarting from its seed
outcomes); `scipy` re-solves with `milp` (no warm start exists);
`cvxpy` sets DPP parameters and solves with warm_start=True; `pulp-cbc` edits its built model and
re-runs CBC. `greedy` is timed on its fill and reports its exactly verified guaranteed profit.

The objective reported is the guaranteed profit of the base instance (LP backends: the LP optimum;
greedy: its verified plans). Every tick's objective is compared across the five LP backends.
Absolute times depend on the machine; the ratios are measured side by side in one run.
"""

from __future__ import annotations

import csv
import json
import statistics
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.instances import FAMILIES, Instance, Tick, build_family, warm_update_instance
from solvers import Allocator
from solvers.backends import LP_BACKEND_NAMES
from solvers.greedy import greedy_quantities, verify_greedy

__all__ = ["SuiteReport", "ResultRow", "run_suite"]

BACKENDS = (*LP_BACKEND_NAMES, "greedy")
RATIO_TARGETS = {"highs-cold": 5.0, "cvxpy": 5.0, "pulp-cbc": 10.0}
RATIO_MIN_COLUMNS = 300
AGREEMENT = ("highs-warm", "highs-cold", "scipy", "cvxpy", "pulp-cbc")


@dataclass
class ResultRow:
    family: str
    instance: str
    columns: int
    rows: int
    backend: str
    median_ms: float
    p99_ms: float
    objective: float


@dataclass
class InstanceSummary:
    family: str
    instance: str
    columns: int
    ticks: int
    max_rel_deviation: float  # worst objective disagreement among LP backends over base + ticks
    ratios: dict[str, float]  # backend median / highs-warm median
    warm_iterations: float  # median simplex iterations per warm tick
    cg_rounds: float  # median constraint-generation rounds per warm tick


@dataclass
class SuiteReport:
    rows: list[ResultRow] = field(default_factory=list)
    summaries: list[InstanceSummary] = field(default_factory=list)
    warm_update: dict[str, float] = field(default_factory=dict)
    greedy_comparison: list[dict[str, float | str]] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    seconds: float = 0.0


def _ms(samples: list[float]) -> tuple[float, float]:
    array = np.array(samples) * 1e3
    return float(np.median(array)), float(np.percentile(array, 99))


PreparedTick = tuple[np.ndarray, np.ndarray, np.ndarray]


def _prepare(allocator: Allocator, ticks: tuple[Tick, ...], handles: dict[tuple[str, int], int]) -> list[PreparedTick]:
    """Ticks as (slot handles, price micros, lots), converted exactly before timing: the venue
    boundary parses each level once and the daemon holds the handles."""
    prepared = []
    for tick in ticks:
        cols = np.fromiter((handles[(i, k)] for i, k, _, _ in tick.changes), dtype=np.int32, count=len(tick.changes))
        prepared.append(allocator.form.scale_levels(cols, [c[2] for c in tick.changes], [c[3] for c in tick.changes]))
    return prepared


def _apply(allocator: Allocator, tick: PreparedTick) -> None:
    allocator.update_levels_scaled(*tick)


def _handles(allocator: Allocator, instance: Instance) -> dict[tuple[str, int], int]:
    table = {}
    for candidate in instance.problem.sets:
        for instrument in candidate.instruments:
            for k, col in enumerate(allocator.slot_columns(instrument.id).tolist()):
                table[(instrument.id, k)] = col
    return table


def _profit(allocator: Allocator, objective: float) -> float:
    return objective - sum(float(sm.baseline) for sm in allocator.sets)


def _bench_lp_backend(instance: Instance, backend: str) -> tuple[ResultRow, list[float], list[int], list[int]]:
    allocator = Allocator(instance.problem, backend=backend)
    built = (allocator.form.lp.num_col, allocator.form.lp.num_row)  # as built, before any cuts
    ticks = _prepare(allocator, instance.ticks, _handles(allocator, instance))
    profits = [_profit(allocator, allocator.solve_lp().objective)]
    times, iterations, rounds = [], [], []
    for tick in ticks:
        start = time.perf_counter()
        _apply(allocator, tick)
        run = allocator.solve_lp()
        times.append(time.perf_counter() - start)
        profits.append(_profit(allocator, run.objective))
        iterations.append(run.iterations)
        rounds.append(run.cg_rounds)
    median, p99 = _ms(times)
    row = ResultRow(instance.family, instance.name, built[0], built[1], backend, median, p99, profits[0])
    allocator.backend.close()
    return row, profits, iterations, rounds


def _bench_greedy(instance: Instance) -> tuple[ResultRow, list[float]]:
    allocator = Allocator(instance.problem)
    built = (allocator.form.lp.num_col, allocator.form.lp.num_row)
    ticks = _prepare(allocator, instance.ticks, _handles(allocator, instance))
    profits = [float(verify_greedy(allocator.form, *greedy_quantities(allocator.form)).guaranteed_profit_usd)]
    times = []
    for tick in ticks:
        _apply(allocator, tick)
        start = time.perf_counter()
        fill = greedy_quantities(allocator.form)
        times.append(time.perf_counter() - start)
        profits.append(float(verify_greedy(allocator.form, *fill).guaranteed_profit_usd))
    median, p99 = _ms(times)
    return ResultRow(instance.family, instance.name, built[0], built[1], "greedy", median, p99, profits[0]), profits


def _compare_with_greedy(instance: Instance, greedy_profits: list[float]) -> dict[str, float | str]:
    """Verified (rounded, exact) LP plans against verified greedy plans, base + every tick."""
    allocator = Allocator(instance.problem)
    ticks = _prepare(allocator, instance.ticks, _handles(allocator, instance))
    lp_profits = [float(allocator.solve().guaranteed_profit_usd)]
    for tick in ticks:
        _apply(allocator, tick)
        lp_profits.append(float(allocator.solve().guaranteed_profit_usd))
    pairs = list(zip(lp_profits, greedy_profits))
    uplifts = [(lp / g - 1.0) for lp, g in pairs if g > 0]
    return {
        "instance": instance.name,
        "states": len(pairs),
        "lp_mean_usd": statistics.fmean(lp_profits),
        "greedy_mean_usd": statistics.fmean(greedy_profits),
        "mean_uplift": statistics.fmean(uplifts) if uplifts else float("nan"),
        "min_lp_minus_greedy_usd": min(lp - g for lp, g in pairs),
    }


def _bench_instance(instance: Instance, report: SuiteReport, say: Callable[[str], None]) -> None:
    profits: dict[str, list[float]] = {}
    rows: dict[str, ResultRow] = {}
    warm_iterations: list[int] = []
    warm_rounds: list[int] = []
    for backend in LP_BACKEND_NAMES:
        row, backend_profits, iterations, rounds = _bench_lp_backend(instance, backend)
        rows[backend], profits[backend] = row, backend_profits
        if backend == "highs-warm":
            warm_iterations, warm_rounds = iterations, rounds
    rows["greedy"], greedy_profits = _bench_greedy(instance)
    report.rows.extend(rows[b] for b in BACKENDS)
    deviation = 0.0
    for values in zip(*(profits[b] for b in AGREEMENT)):
        scale = max(1.0, max(abs(v) for v in values))
        deviation = max(deviation, (max(values) - min(values)) / scale)
    warm = rows["highs-warm"].median_ms
    ratios = {b: rows[b].median_ms / warm for b in LP_BACKEND_NAMES if b != "highs-warm"}
    summary = InstanceSummary(
        instance.family, instance.name, rows["highs-warm"].columns, len(instance.ticks), deviation, ratios,
        float(np.median(warm_iterations)) if warm_iterations else 0.0,
        float(np.median(warm_rounds)) if warm_rounds else 0.0,
    )
    report.summaries.append(summary)
    say(
        f"  {instance.name:<16} {summary.columns:>6} cols  warm {warm:7.3f} ms  "
        + "  ".join(f"{b} x{r:.1f}" for b, r in ratios.items())
        + f"  max dev {deviation:.1e}"
    )
    if instance.capital_binding:
        report.greedy_comparison.append(_compare_with_greedy(instance, greedy_profits))


def _bench_warm_update(seed: int, ticks: int, report: SuiteReport) -> None:
    """Acceptance: update of ~20% of the levels plus warm re-solve of a ~300-column set."""
    instance = warm_update_instance(seed, ticks)
    allocator = Allocator(instance.problem)
    ticks = _prepare(allocator, instance.ticks, _handles(allocator, instance))
    objective = _profit(allocator, allocator.solve_lp().objective)
    update_s, solve_s, total_s = [], [], []
    for tick in ticks:
        start = time.perf_counter()
        _apply(allocator, tick)
        middle = time.perf_counter()
        allocator.solve_lp()
        end = time.perf_counter()
        update_s.append(middle - start)
        solve_s.append(end - middle)
        total_s.append(end - start)
    lp = allocator.form.lp
    p50, p99 = _ms(total_s)
    report.warm_update = {
        "columns": lp.num_col,
        "rows": lp.num_row,
        "ticks": len(total_s),
        "levels_changed_per_tick": statistics.fmean(len(t.changes) for t in instance.ticks),
        "p50_ms": p50,
        "p99_ms": p99,
        "update_p50_ms": _ms(update_s)[0],
        "solve_p50_ms": _ms(solve_s)[0],
    }
    report.rows.append(ResultRow("warm-update", instance.name, lp.num_col, lp.num_row, "highs-warm", p50, p99, objective))


def _checks(report: SuiteReport) -> None:
    for summary in report.summaries:
        report.checks.append(
            (f"{summary.instance}: objectives agree within 1e-6", summary.max_rel_deviation <= 1e-6, f"{summary.max_rel_deviation:.1e}")
        )
        if summary.columns < RATIO_MIN_COLUMNS:
            continue
        for backend, target in RATIO_TARGETS.items():
            ratio = summary.ratios[backend]
            report.checks.append((f"{summary.instance}: highs-warm >= {target:g}x faster than {backend}", ratio >= target, f"x{ratio:.1f}"))
    if report.warm_update:
        p50 = report.warm_update["p50_ms"]
        report.checks.append(("warm update + re-solve of ~300 columns: median <= 1 ms", p50 <= 1.0, f"{p50:.3f} ms"))
    for comparison in report.greedy_comparison:
        never_below = comparison["min_lp_minus_greedy_usd"] >= 0  # type: ignore[operator]
        report.checks.append((f"{comparison['instance']}: LP never below greedy", never_below, f"min diff ${comparison['min_lp_minus_greedy_usd']:.4f}"))
    uplifts = [c["mean_uplift"] for c in report.greedy_comparison if c["mean_uplift"] == c["mean_uplift"]]
    if uplifts:
        mean = statistics.fmean(uplifts)  # type: ignore[arg-type]
        report.checks.append(("capital-bound portfolios: LP >= 10% above greedy on average", mean >= 0.10, f"+{100 * mean:.1f}%"))


def run_suite(
    *,
    quick: bool = False,
    seed: int = 20261121,
    out_dir: Path = Path("benchmarks/results"),
    json_path: Path | None = None,
    say: Callable[[str], None] = print,
    families: dict[str, tuple[int, ...]] | None = None,
    ticks: int | None = None,
    warm_update_ticks: int | None = None,
) -> SuiteReport:
    """Run the suite; `families`, `ticks` and `warm_update_ticks` override the sizes (tests)."""
    started = time.perf_counter()
    report = SuiteReport()
    ticks = ticks if ticks is not None else (15 if quick else 60)
    chosen = families if families is not None else {f: (q if quick else full) for f, (full, q) in FAMILIES.items()}
    say(f"solver benchmark ({'quick' if quick else 'full'}): {ticks} ticks per instance, seed {seed}")
    for family, sizes in chosen.items():
        for size in sizes:
            family_ticks = ticks if size * (4 if family == "portfolio" else 1) < 400 else max(10, ticks // 3)
            instance = build_family(family, size, seed + zlib.crc32(f"{family}-{size}".encode()) % 100_003, family_ticks)
            _bench_instance(instance, report, say)
    _bench_warm_update(seed, warm_update_ticks if warm_update_ticks is not None else (200 if quick else 1000), report)
    _checks(report)
    report.seconds = time.perf_counter() - started
    write_outputs(report, out_dir, json_path)
    say(render_table(report))
    return report


# -- outputs ---------------------------------------------------------------------------------------------
def render_table(report: SuiteReport) -> str:
    lines = [
        f"{'family':<13} {'instance':<15} {'cols':>6} {'rows':>5}  {'backend':<10} {'median ms':>10} {'p99 ms':>9} {'objective $':>12}",
        "-" * 88,
    ]
    for row in report.rows:
        lines.append(
            f"{row.family:<13} {row.instance:<15} {row.columns:>6} {row.rows:>5}  {row.backend:<10} "
            f"{row.median_ms:>10.3f} {row.p99_ms:>9.3f} {_display(row.objective):>12.4f}"
        )
    lines.append("")
    lines.append("ratios to highs-warm (median), objective agreement, warm ticks:")
    for s in report.summaries:
        ratios = "  ".join(f"{b} x{r:.1f}" for b, r in s.ratios.items())
        lines.append(f"  {s.instance:<15} {s.columns:>6} cols  {ratios}  max dev {s.max_rel_deviation:.1e}  iters {s.warm_iterations:.0f}  cg rounds {s.cg_rounds:.0f}")
    if report.warm_update:
        w = report.warm_update
        lines.append(
            f"warm update + re-solve, {w['columns']:.0f} cols, {w['levels_changed_per_tick']:.0f} levels per tick over {w['ticks']:.0f} ticks: "
            f"p50 {w['p50_ms']:.3f} ms, p99 {w['p99_ms']:.3f} ms (update {w['update_p50_ms']:.3f} + solve {w['solve_p50_ms']:.3f})"
        )
    for c in report.greedy_comparison:
        lines.append(
            f"LP vs greedy, {c['instance']} ({c['states']} states): LP ${c['lp_mean_usd']:.2f} vs greedy ${c['greedy_mean_usd']:.2f} "
            f"mean uplift +{100 * c['mean_uplift']:.1f}%  worst LP-greedy ${c['min_lp_minus_greedy_usd']:.4f}"  # type: ignore[operator]
        )
    lines.append("")
    lines.append("checks:")
    for name, ok, detail in report.checks:
        lines.append(f"  [{'PASS' if ok else 'FAIL'}] {name} ({detail})")
    lines.append(f"({report.seconds:.0f} s; absolute times are machine-dependent, ratios are measured side by side)")
    return "\n".join(lines)


def _display(value: float) -> float:
    """Solver noise around zero (e.g. -1e-12) prints as 0.0000, not -0.0000."""
    return 0.0 if abs(value) < 5e-9 else value


def write_outputs(report: SuiteReport, out_dir: Path, json_path: Path | None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = list(ResultRow.__dataclass_fields__)
    with open(out_dir / "solvers.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(asdict(row) for row in report.rows)
    (out_dir / "solvers.md").write_text(_markdown(report))
    _plot(report, out_dir / "solvers.png")
    if json_path is not None:
        payload = {"results": [asdict(row) for row in report.rows]}
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(payload, indent=2))


def _markdown(report: SuiteReport) -> str:
    lines = ["# Solver benchmark", "", "| family | instance | cols | rows | backend | median ms | p99 ms | objective $ |", "|---|---|---:|---:|---|---:|---:|---:|"]
    for r in report.rows:
        lines.append(f"| {r.family} | {r.instance} | {r.columns} | {r.rows} | {r.backend} | {r.median_ms:.3f} | {r.p99_ms:.3f} | {_display(r.objective):.4f} |")
    lines += ["", "```", render_table(report), "```", ""]
    return "\n".join(lines)


def _plot(report: SuiteReport, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots come with the dev extra
        return
    instances = [s.instance for s in report.summaries]
    fig, ax = plt.subplots(figsize=(max(8, 1.2 * len(instances)), 5))
    width = 0.8 / len(BACKENDS)
    for k, backend in enumerate(BACKENDS):
        medians = [next(r.median_ms for r in report.rows if r.instance == name and r.backend == backend) for name in instances]
        ax.bar(np.arange(len(instances)) + k * width, medians, width, label=backend)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(instances)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{s.instance}\n{s.columns} cols" for s in report.summaries], fontsize=8)
    ax.set_ylabel("median update + re-solve per tick (ms, log)")
    ax.set_title("Solver backends on the same instances and ticks")
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

