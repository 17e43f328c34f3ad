"""Cost of the live terminal view: building the daemon's snapshot (`Telemetry.snapshot`, on the
event loop), building a frame vs drawing it, and the event-loop lag a 1 ms ticker sees while the
view refreshes, with no view, drawing inline (`threaded=False`), drawing on rich's refresh thread at
the interpreter's default 5 ms switch interval (`threaded-5ms`), on the thread with the view's 1 ms
switch interval (`threaded`, the default) and in a child process (`process`, `ProcessView`) side by
side in one run.

The snapshot is built from a Telemetry holding 7 latency rows of 100,000 samples each and 300 open
opportunities; its latency percentiles are compared with the per-percentile sorted scan the
histogram used before (`sorted_scan_ms`).

    python -m benchmarks.view_bench [--frames N] [--seconds S] [--rate R] [--json FILE]

The frame is a full screen (10 opportunities, 10 positions, 5 links, 2 venues, 3 stages, 5
incidents) drawn at 200 columns to an in-memory terminal. Absolute figures depend on the machine's
load (printed); the lag of the three modes, measured in the same run, is the comparable figure.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import math
import os
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from arb.daemon.telemetry import Telemetry
from arb.domain import Side, Venue
from arb.ledger.store import Incident, PnL, PositionPnL
from arb.links import Orientation, SettlementRisk
from arb.ops.summary import LatencyHistogram, RunTally, StagePercentiles
from arb.ops.view import (
    BreakerState,
    LinkRow,
    LiveView,
    OpportunityKind,
    OpportunityRow,
    ProcessView,
    VenueHealthRow,
    ViewSnapshot,
    render_snapshot,
)
from arb.scanner import ScanCandidate
from solvers import CandidateSet


def full_snapshot(at_wall_s: float) -> ViewSnapshot:
    kinds = list(OpportunityKind)
    positions = tuple(
        PositionPnL(
            venue=Venue.KALSHI if i % 2 else Venue.POLYMARKET,
            market_id=f"KXFED-26DEC-T{i}",
            outcome=Side.YES if i % 3 else Side.NO,
            size_micro=(i + 1) * 1_500_000,
            cost_usd=Decimal(i + 1) * Decimal("0.4375"),
            realised_usd=Decimal("-0.0123"),
            fees_usd=Decimal("0.0123"),
            settled=False,
            mark_micro_usd=450_000,
            unrealised_usd=Decimal("0.012345"),
        )
        for i in range(10)
    )
    pnl = PnL(Decimal("-0.123"), Decimal("0.12345"), Decimal("0.123"), (), (), positions)
    return ViewSnapshot(
        at_wall_s=at_wall_s,
        mode="paper",
        uptime_s=120.0,
        linked_markets=37,
        links=tuple(
            LinkRow(f"KXFED-26DEC-T{i}", str(512_300 + i), Orientation.SAME, SettlementRisk.IDENTICAL_RULES)
            for i in range(5)
        ),
        opportunities=tuple(
            OpportunityRow(f"set-{i}", kinds[i % len(kinds)], 1_000 * (i + 1), 5_000_000, Decimal("0.05"), 3)
            for i in range(10)
        ),
        pnl=pnl,
        guaranteed_usd=Decimal("1.234567"),
        latencies=tuple(StagePercentiles(s, 1000, 1.2, 2.5, 4.75, 9.5) for s in ("tick_to_plan", "plan", "send")),
        venues=(
            VenueHealthRow(Venue.KALSHI, True, 3.5, 12.0, BreakerState.CLOSED, "", 20, 0),
            VenueHealthRow(Venue.POLYMARKET, True, 4.5, 8.0, BreakerState.CLOSED, "", 18, 0),
        ),
        incidents=tuple(Incident(i, f"set-{i}", "leg partially filled", 1_796_558_390_000, None, "") for i in range(5)),
        plans_executed=12,
        fills=30,
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass(frozen=True, slots=True)
class FrameCost:
    frames: int
    build_p50_ms: float
    build_p99_ms: float
    draw_p50_ms: float
    draw_p99_ms: float


@dataclass(frozen=True, slots=True)
class SnapshotCost:
    snapshots: int
    build_p50_ms: float
    build_p99_ms: float
    latencies_p50_ms: float  # the snapshot's percentile rows alone
    sorted_scan_p50_ms: float  # the same rows by a sorted scan per percentile (the former way)


@dataclass(frozen=True, slots=True)
class LoopLag:
    mode: str
    ticks: int
    draws: int
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float


def frame_cost(frames: int) -> FrameCost:
    snapshot = full_snapshot(time.time())
    console = Console(file=io.StringIO(), width=200, force_terminal=True)
    build, draw = [], []
    for _ in range(frames):
        t0 = time.perf_counter()
        renderable = render_snapshot(snapshot)
        t1 = time.perf_counter()
        console.print(renderable)
        t2 = time.perf_counter()
        build.append((t1 - t0) * 1e3)
        draw.append((t2 - t1) * 1e3)
    return FrameCost(frames, _pct(build, 0.5), _pct(build, 0.99), _pct(draw, 0.5), _pct(draw, 0.99))


_STAGE_ROWS = ("feed_to_book", "book_to_scan", "scan_to_plan", "tick_to_plan", "plan_to_ack", "tick_to_ack", "loop")


def loaded_telemetry(samples: int = 100_000, opportunities: int = 300) -> Telemetry:
    """A Telemetry as a long run leaves it: full latency histograms and many open opportunities."""
    rng = random.Random(7)
    tally = RunTally("paper", started_s=0.0)
    for stage in _STAGE_ROWS:
        for _ in range(samples):
            tally.latency(stage, rng.lognormvariate(0.0, 1.5))
    telemetry = Telemetry(
        metrics=None,
        tally=tally,
        view=None,
        notifier=None,
        logger=logging.getLogger("arb.bench"),
        monotonic_s=time.monotonic,
        wall_s=time.time,
    )
    telemetry.candidates(
        ScanCandidate(f"set-{i}", 1_000 + i, "row", (), CandidateSet(f"set-{i}", (), ()), (), 0)
        for i in range(opportunities)
    )
    return telemetry


def _sorted_scan(counts: Counter[int], count: int, max_ms: float) -> tuple[float, ...]:
    out = []
    for q in (0.5, 0.9, 0.99):
        rank, seen = math.ceil(q * count), 0
        for index in sorted(counts):
            seen += counts[index]
            if seen >= rank:
                out.append(min(0.001 * 1.01**index, max_ms))
                break
    return tuple(out)


def snapshot_cost(snapshots: int, samples: int = 100_000) -> SnapshotCost:
    telemetry = loaded_telemetry(samples)
    histograms: list[LatencyHistogram] = list(telemetry.tally.histograms.values())
    counters = [Counter({i: n for i, n in enumerate(h._counts) if n}) for h in histograms]
    build, rows, scan = [], [], []
    for _ in range(snapshots):
        t0 = time.perf_counter()
        telemetry.snapshot()
        t1 = time.perf_counter()
        telemetry.tally.stage_percentiles()
        t2 = time.perf_counter()
        for h, c in zip(histograms, counters, strict=True):
            _sorted_scan(c, h.count, h.max_ms)
        t3 = time.perf_counter()
        build.append((t1 - t0) * 1e3)
        rows.append((t2 - t1) * 1e3)
        scan.append((t3 - t2) * 1e3)
    return SnapshotCost(snapshots, _pct(build, 0.5), _pct(build, 0.99), _pct(rows, 0.5), _pct(scan, 0.5))


async def _lag(mode: str, seconds: float, rate: float) -> LoopLag:
    view: LiveView | ProcessView | None = None
    if mode == "process":
        view = ProcessView(os.devnull, clock=time.monotonic, refresh_per_second=rate, width=200)
        view.update(full_snapshot(time.time()))
        view.wait_drawn(60)  # the child interpreter has started and drawn once: measure the steady state
    elif mode != "none":
        console = Console(file=io.StringIO(), width=200, force_terminal=True)
        view = LiveView(
            console,
            clock=time.monotonic,
            refresh_per_second=rate,
            threaded=mode != "inline",
            switch_interval_s=None if mode == "threaded-5ms" else 0.001,
        )
    lags: list[float] = []
    end = time.perf_counter() + seconds
    while (now := time.perf_counter()) < end:
        if view is not None and view.due():
            view.update(full_snapshot(time.time()))
        await asyncio.sleep(0.001)
        lags.append((time.perf_counter() - now - 0.001) * 1e3)
    draws = 0
    if view is not None:
        view.close()
        draws = view.draws
    return LoopLag(mode, len(lags), draws, _pct(lags, 0.5), _pct(lags, 0.99), max(lags))


def run(
    frames: int, seconds: float, rate: float, json_path: Path | None
) -> tuple[SnapshotCost, FrameCost, list[LoopLag]]:
    load_before = os.getloadavg()
    snap = snapshot_cost(frames)
    cost = frame_cost(frames)
    modes = ("none", "inline", "threaded-5ms", "threaded", "process")
    lags = [asyncio.run(_lag(mode, seconds, rate)) for mode in modes]
    load_after = os.getloadavg()
    print(f"live view, 200 columns; load average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print(
        f"snapshot (Telemetry, 7 x 100k latency samples, 300 opportunities): build p50 {snap.build_p50_ms:.3f} ms "
        f"p99 {snap.build_p99_ms:.3f} ms; its latency rows {snap.latencies_p50_ms:.3f} ms vs sorted scan "
        f"{snap.sorted_scan_p50_ms:.3f} ms (x{snap.sorted_scan_p50_ms / snap.latencies_p50_ms:.1f})"
    )
    print(
        f"frame: build p50 {cost.build_p50_ms:.2f} ms p99 {cost.build_p99_ms:.2f} ms; "
        f"draw p50 {cost.draw_p50_ms:.2f} ms p99 {cost.draw_p99_ms:.2f} ms ({frames} frames)"
    )
    print(f"event-loop lag of a 1 ms ticker over {seconds:.0f} s, view at {rate:g} draws/s:")
    print(f"{'mode':<14}{'ticks':>8}{'draws':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for lag in lags:
        print(
            f"{lag.mode:<14}{lag.ticks:>8}{lag.draws:>7}{lag.lag_p50_ms:>9.3f}{lag.lag_p99_ms:>9.3f}{lag.lag_max_ms:>9.3f}"
        )
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "snapshot": asdict(snap),
            "frame": asdict(cost),
            "loop_lag": [asdict(lag) for lag in lags],
            "machine": {"cpus": os.cpu_count(), "load_average_before": load_before, "load_average_after": load_after},
        }
        json_path.write_text(json.dumps(payload, indent=1) + "\n")
    return snap, cost, lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=2.0, help="live view draws per second")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    run(args.frames, args.seconds, args.rate, args.json)


if __name__ == "__main__":
    main()
