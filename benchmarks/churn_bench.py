"""`arb bench churn`: what it costs one persistent allocator to gain and lose a candidate set, against
rebuilding the model on every set and solving it cold.

Instances: N seeded candidate sets of the solver suite's portfolio mix (cross-venue pairs, exactly-one
groups of 3-6 outcomes, implication ladders of 3-5 strikes, each listed on both venues with 5-level
books; benchmarks/instances.py), with venue cash at 30% of what the unconstrained LP would deploy, so
the shared capital rows bind and a new set competes for the same cash. Plus `repeats` extra sets of
the same mix, one per cycle.

One cycle, on the allocator holding the N sets (built once, solved once before timing):
  steady    `solve()` with nothing changed (the warm baseline)
  add       `add_set(extra)`, then the first warm `solve()`
  cold      a new `Allocator` on the same N + 1 sets (model build and HiGHS load), then its `solve()`:
            what a rebuild-on-change design pays; its plans must equal the warm ones
  remove    `remove_set(extra)`, then the first warm `solve()`
Medians over the cycles are reported side by side, with the ratios add / cold build and
(add + first solve) / (cold build + cold solve), the same for remove, and the simplex iterations of
the first warm solve against the cold one (the retained basis at work; the rest of `solve()`, rounding
and exact checks, costs the same warm or cold). `remove_set` compacts when
the retired space outgrows the live model (`AllocatorConfig.compact_retired_ratio`, default 1); the
cycles that compacted are counted, and one explicit `compact()` of the N-set model is timed apart.
`time.perf_counter_ns`, gc paused around each timed call, the machine's load average printed with the
figures. `solve()` includes rounding, the exact checks and the MIP fallback (50 ms budget by default)
as in the daemon, so its time varies with the plans found.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from benchmarks.instances import _binding, _Books, group_set, ladder_set, pair_set
from benchmarks.timing import gc_paused
from solvers import AllocationProblem, AllocationResult, Allocator, CandidateSet

__all__ = ["DEFAULT_SIZES", "ChurnBenchReport", "ChurnRow", "churn_sets", "run_churn_bench"]

DEFAULT_SIZES = (10, 100, 400)
_T = TypeVar("_T")


@dataclass(frozen=True)
class ChurnRow:
    """Medians over `cycles` in milliseconds; ratios of medians."""

    sets: int
    columns: int
    rows: int
    cycles: int
    steady_solve_ms: float
    add_ms: float
    add_solve_ms: float
    remove_ms: float
    remove_solve_ms: float
    cold_build_ms: float
    cold_solve_ms: float
    compact_ms: float
    add_solve_iterations: float  # simplex iterations of the first warm solve after add_set
    cold_solve_iterations: float  # ... of the cold rebuild's solve
    compactions: int  # cycles whose remove_set compacted
    matches: int  # cycles whose warm plans equal the cold ones (set, legs, guaranteed profit)
    add_vs_cold_build: float
    add_cycle_vs_cold: float  # (add + first solve) / (cold build + cold solve)
    remove_vs_cold_build: float
    remove_cycle_vs_cold: float


@dataclass(frozen=True)
class ChurnBenchReport:
    rows: tuple[ChurnRow, ...]
    load_average: tuple[float, float, float]

    @property
    def valid(self) -> bool:
        """Every cycle's warm plans equalled the cold rebuild's."""
        return all(row.matches == row.cycles for row in self.rows)


def churn_sets(count: int, seed: int, prefix: str = "s") -> tuple[CandidateSet, ...]:
    """`count` seeded sets of the portfolio mix (60% pairs, 20% groups, 20% ladders)."""
    rng = np.random.default_rng(seed)
    books = _Books(rng)
    sets = []
    for k in range(count):
        roll = rng.random()
        if roll < 0.6:
            sets.append(pair_set(books, f"{prefix}{k}"))
        elif roll < 0.8:
            sets.append(group_set(books, f"{prefix}{k}", int(rng.integers(3, 7))))
        else:
            sets.append(ladder_set(books, f"{prefix}{k}", int(rng.integers(3, 6))))
    return tuple(sets)


def _timed(call: Callable[[], _T]) -> tuple[_T, float]:
    with gc_paused():
        start = time.perf_counter_ns()
        value = call()
        elapsed = time.perf_counter_ns() - start
    return value, elapsed / 1e6


def _same_plans(warm: AllocationResult, cold: AllocationResult) -> bool:
    def key(result: AllocationResult) -> list[tuple[object, ...]]:
        return [(p.set_id, p.legs, p.guaranteed_profit_usd) for p in result.plans]

    return key(warm) == key(cold)


def _measure(size: int, cycles: int, seed: int) -> ChurnRow:
    base = churn_sets(size, seed)
    extras = churn_sets(cycles, seed + 1, prefix="x")
    problem = _binding(base, fraction=0.3)
    allocator = Allocator(problem)
    allocator.solve()
    columns, rows = allocator.form.lp.num_col, allocator.form.lp.num_row
    times: dict[str, list[float]] = {
        k: [] for k in ("steady", "add", "add_solve", "remove", "remove_solve", "cold_build", "cold_solve")
    }
    compactions = matches = 0
    iterations: dict[str, list[int]] = {"warm": [], "cold": []}
    for extra in extras:
        _, ms = _timed(allocator.solve)
        times["steady"].append(ms)
        _, ms = _timed(lambda: allocator.add_set(extra))  # noqa: B023 - called at once
        times["add"].append(ms)
        warm, ms = _timed(allocator.solve)
        times["add_solve"].append(ms)
        iterations["warm"].append(warm.iterations)
        grown = AllocationProblem((*base, extra), problem.capital)
        cold, ms = _timed(lambda: Allocator(grown))  # noqa: B023
        times["cold_build"].append(ms)
        cold_result, ms = _timed(cold.solve)
        times["cold_solve"].append(ms)
        iterations["cold"].append(cold_result.iterations)
        matches += _same_plans(warm, cold_result)
        before = allocator.stats.compactions
        _, ms = _timed(lambda: allocator.remove_set(extra.id))  # noqa: B023
        times["remove"].append(ms)
        compactions += allocator.stats.compactions - before
        _, ms = _timed(allocator.solve)
        times["remove_solve"].append(ms)
    _, compact_ms = _timed(allocator.compact)
    med = {k: statistics.median(v) for k, v in times.items()}
    cold_total = med["cold_build"] + med["cold_solve"]
    return ChurnRow(
        sets=size,
        columns=columns,
        rows=rows,
        cycles=len(extras),
        steady_solve_ms=med["steady"],
        add_ms=med["add"],
        add_solve_ms=med["add_solve"],
        remove_ms=med["remove"],
        remove_solve_ms=med["remove_solve"],
        cold_build_ms=med["cold_build"],
        cold_solve_ms=med["cold_solve"],
        compact_ms=compact_ms,
        add_solve_iterations=statistics.median(iterations["warm"]),
        cold_solve_iterations=statistics.median(iterations["cold"]),
        compactions=compactions,
        matches=matches,
        add_vs_cold_build=med["add"] / med["cold_build"],
        add_cycle_vs_cold=(med["add"] + med["add_solve"]) / cold_total,
        remove_vs_cold_build=med["remove"] / med["cold_build"],
        remove_cycle_vs_cold=(med["remove"] + med["remove_solve"]) / cold_total,
    )


def run_churn_bench(
    sizes: Sequence[int] = DEFAULT_SIZES, *, cycles: int = 7, seed: int = 0, json_path: Path | None = None
) -> ChurnBenchReport:
    rows = tuple(_measure(size, cycles, seed) for size in sizes)
    load = os.getloadavg()
    report = ChurnBenchReport(rows, (round(load[0], 2), round(load[1], 2), round(load[2], 2)))
    _print(report)
    if json_path is not None:
        payload = {
            "results": [asdict(r) for r in rows],
            "load_average": list(report.load_average),
            "valid": report.valid,
        }
        json_path.write_text(json.dumps(payload, indent=2) + "\n")
    return report


def _print(report: ChurnBenchReport) -> None:
    print("allocator churn: one set added / removed on a live model vs a cold rebuild of all sets (medians, ms)")
    header = (
        f"{'sets':>5} {'cols':>6} {'rows':>6} | {'steady':>7} | {'add':>7} {'+solve':>7} | {'remove':>7} {'+solve':>7}"
        f" | {'cold build':>10} {'+solve':>7} | {'add/build':>9} {'add+s/cold':>10} {'rm/build':>8} {'rm+s/cold':>9}"
        f" | {'iters warm':>10} {'cold':>6} | {'compact':>7} {'compacted':>9} {'equal':>5}"
    )
    print(header)
    for r in report.rows:
        print(
            f"{r.sets:>5} {r.columns:>6} {r.rows:>6} | {r.steady_solve_ms:>7.2f} | {r.add_ms:>7.2f} {r.add_solve_ms:>7.2f}"
            f" | {r.remove_ms:>7.2f} {r.remove_solve_ms:>7.2f} | {r.cold_build_ms:>10.2f} {r.cold_solve_ms:>7.2f}"
            f" | {r.add_vs_cold_build:>9.4f} {r.add_cycle_vs_cold:>10.3f} {r.remove_vs_cold_build:>8.4f}"
            f" {r.remove_cycle_vs_cold:>9.3f} | {r.add_solve_iterations:>10.0f} {r.cold_solve_iterations:>6.0f}"
            f" | {r.compact_ms:>7.2f} {r.compactions:>4}/{r.cycles:<4} {r.matches:>2}/{r.cycles}"
        )
    load = report.load_average
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 shared cores: figures move with it)")
    if not report.valid:
        print("WARNING: a warm solve after add_set differed from the cold rebuild's plans")
