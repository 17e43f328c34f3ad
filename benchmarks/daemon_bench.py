"""`arb bench daemon`: the real daemon (`arb.daemon.core.Daemon`, the objects `arb run` builds) on
the default scenario, with the simulated venues' market makers driving `--rate` book changes a
second (1,000 by default), measured with the live view drawing and without, side by side in one run.

    arb bench daemon [--duration S] [--warmup S] [--rate R] [--views none,process,thread]
                     [--synchronous FULL NORMAL] [--json FILE] [--log FILE] [--profile DIR] [--strict]

Each mode is one full daemon run: the configuration `arb run` reads (config/default.toml) with the
scenario's rate set to `--rate`, its simulators and participants in a child process (so their load
is not on the daemon's loop), a fresh ledger in a temporary directory (SQLite synchronous as configured,
FULL by default; `--synchronous FULL NORMAL` runs every view with each), the metrics recorded (not served: no port is bound) and JSON logs written to a file.
After the daemon started trading and `--warmup` seconds passed (35 by default: the arbitrage
script has then opened every kind once, so each component has been in the allocator and comes back
as a book update, the daemon's steady state; a shorter warm-up measures first forwards, which add a
set to the allocator), the daemon's own histograms are emptied and `--duration` seconds are measured:

- delivered_per_s: book events (snapshots and level changes) the daemon's clients handed to it per
  second of the window, beside the rate the market makers were asked for and the rate they made
  (a Polymarket change is two book events: the YES token and its NO mirror);
- loop lag: the daemon's `LoopLagMonitor` (a 10 ms timer's lateness) p50/p95/p99/max, beside the
  same monitor on an idle event loop in a process of its own over the same window (idle-loop lag:
  what the machine's load alone does to a timer, the part no change to the daemon can remove);
- stages as the telemetry records them: feed_to_book (frame received -> its book event reached
  the daemon), book_to_scan, scan_to_plan, tick_to_plan (first book event of a solver pass -> the
  verified plan), plan_to_ack, tick_to_ack;
- the machine: load average before and after, cores, CPU seconds per second of the daemon process
  and of its children (simulators, view).

View modes: `none` (no view: `arb run` with output not a terminal, or `live_view.enabled = false`),
`process` (what `arb run` draws on a terminal: `ProcessView`, a child process drawing each frame, here
on a pseudo-terminal this process drains) and `thread` (the in-process `LiveView` on rich's refresh
thread). Targets (docs/daemon.md): loop lag p99 <= 5 ms and tick_to_plan p99 <= 10 ms. The machine
is shared and noisy: the load is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import multiprocessing
import os
import resource
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from arb.config import AppConfig, Credentials, load_config
from arb.daemon.core import Daemon, DaemonResult
from arb.daemon.simulated import SimulatedSource
from arb.domain import BookChange, BookSnapshot
from arb.ops.logs import configure_logging
from arb.ops.metrics import STAGES, Metrics
from arb.ops.summary import LatencyHistogram, StagePercentiles
from arb.ops.view import LiveView, ProcessView, View

__all__ = ["DaemonBenchReport", "ModeResult", "ViewMode", "run_daemon_bench"]

ViewMode = Literal["none", "process", "thread"]
VIEW_MODES: tuple[ViewMode, ...] = ("none", "process", "thread")
LOOP_LAG_P99_TARGET_MS = 5.0
TICK_TO_PLAN_P99_TARGET_MS = 10.0
_VIEW_WIDTH = 160


@dataclass(frozen=True, slots=True)
class Percentiles:
    """One stage's latency over the measured window (ms); None when it has no sample."""

    count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass(frozen=True, slots=True)
class ModeResult:
    view: ViewMode
    ledger_synchronous: str  # the ledger's SQLite synchronous mode: FULL fsyncs every commit, on the loop
    window_s: float
    requested_per_s: float
    made_per_s: float  # the market makers' book changes a second over their whole run (openings included)
    skipped_changes: int
    book_events: int
    delivered_per_s: float  # book events handed to the daemon a second over the window
    loop_lag: Percentiles
    idle_loop_lag: Percentiles  # an idle event loop in another process over the same window: the machine's share
    stages: dict[str, Percentiles]
    opportunities: int
    plans_by_status: dict[str, int]
    fills: int
    view_frames: int  # frames the view drew (process: snapshots sent to the child) during the run
    view_bytes: int  # bytes the view wrote to its terminal (process mode; 0 otherwise)
    daemon_cpu_per_s: float  # CPU seconds per second of the daemon process (all its threads)
    children_cpu_per_s: float | None  # of its child processes (simulators, view); None off Linux
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    @property
    def loop_lag_ok(self) -> bool:
        p99 = self.loop_lag.p99_ms
        return p99 is not None and p99 <= LOOP_LAG_P99_TARGET_MS

    @property
    def tick_to_plan_ok(self) -> bool:
        p99 = self.stages["tick_to_plan"].p99_ms
        return p99 is not None and p99 <= TICK_TO_PLAN_P99_TARGET_MS


@dataclass(frozen=True, slots=True)
class DaemonBenchReport:
    rate_per_s: float
    duration_s: float
    warmup_s: float
    cores: int
    modes: tuple[ModeResult, ...]

    @property
    def ok(self) -> bool:
        return all(m.loop_lag_ok and m.tick_to_plan_ok for m in self.modes)

    def to_json(self) -> dict[str, Any]:
        return {
            "rate_per_s": self.rate_per_s,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "cores": self.cores,
            "targets": {
                "loop_lag_p99_ms": LOOP_LAG_P99_TARGET_MS,
                "tick_to_plan_p99_ms": TICK_TO_PLAN_P99_TARGET_MS,
            },
            "modes": [
                {**asdict(m), "loop_lag_ok": m.loop_lag_ok, "tick_to_plan_ok": m.tick_to_plan_ok} for m in self.modes
            ],
        }


def _percentiles(histogram: LatencyHistogram | None) -> Percentiles:
    if histogram is None or histogram.count == 0:
        return Percentiles(0, None, None, None, None)
    p: StagePercentiles = histogram.percentiles()

    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return Percentiles(p.count, r(p.p50_ms), r(histogram.percentile(0.95)), r(p.p99_ms), r(p.max_ms))


def _idle_probe(duration_s: float, conn: Any) -> None:
    """A child process: an otherwise idle uvloop with the daemon's `LoopLagMonitor` for
    `duration_s`; sends back its lag histogram. What the machine alone does to a 10 ms timer."""
    import uvloop

    from arb.daemon.telemetry import LoopLagMonitor

    async def probe() -> LatencyHistogram:
        monitor = LoopLagMonitor(clock=time.monotonic, interval_s=0.01)
        conn.send("ready")
        task = asyncio.create_task(monitor.run())
        await asyncio.sleep(duration_s)
        task.cancel()
        return monitor.histogram

    conn.send(uvloop.run(probe()))
    conn.close()


class _IdleProbe:
    """Runs `_idle_probe` in a spawned process beside the daemon's window."""

    def __init__(self, duration_s: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_idle_probe, args=(duration_s, child), name="bench-idle-probe", daemon=True
        )
        self._process.start()
        child.close()

    async def ready(self, timeout_s: float = 60.0) -> None:
        if not await asyncio.to_thread(self._conn.poll, timeout_s):
            raise RuntimeError("the idle-loop probe did not start")
        self._conn.recv()

    async def result(self, timeout_s: float = 30.0) -> Percentiles:
        if not await asyncio.to_thread(self._conn.poll, timeout_s):
            self._process.kill()
            raise RuntimeError("the idle-loop probe did not answer")
        histogram = self._conn.recv()
        await asyncio.to_thread(self._process.join, 5.0)
        return _percentiles(histogram)


class _CountingDaemon(Daemon):
    """The daemon as `arb run` builds it; only counts the book events its clients hand it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.book_events = 0

    def _on_event(self, event: Any) -> None:
        if isinstance(event, BookSnapshot | BookChange):
            self.book_events += 1
        super()._on_event(event)


async def start_trading(daemon: Daemon, timeout_s: float) -> tuple[asyncio.Task[DaemonResult], str | None]:
    """Run `daemon` in a task and wait until it trades: (the task, None); or, when it ended or
    did not trade within `timeout_s`, stop it and return (its task, why)."""
    task = asyncio.create_task(daemon.run(), name="daemon")
    started = asyncio.create_task(daemon.started.wait())
    await asyncio.wait({task, started}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    if daemon.started.is_set():
        return task, None
    started.cancel()
    daemon.request_stop("benchmark: start failed")
    result = await asyncio.wait_for(task, 60.0) if not task.done() else task.result()
    return task, result.reason or "timed out"


def bench_config(
    base: AppConfig,
    *,
    rate: float,
    ledger_dir: Path,
    seed: int,
    venues_process: bool = True,
    synchronous: Literal["FULL", "NORMAL"] | None = None,
) -> AppConfig:
    """`arb run`'s configuration for one benchmark run: the scenario at `rate`, no duration (the
    benchmark stops it), a ledger under `ledger_dir`, metrics recorded but not served."""
    scenario = replace(base.run.scenario, book_changes_per_s=float(rate), seed=seed, separate_process=venues_process)
    return replace(
        base,
        run=replace(base.run, venues="simulated", mode="paper", duration_s=None, scenario=scenario),
        ledger=replace(
            base.ledger, path=ledger_dir / "ledger.sqlite3", synchronous=synchronous or base.ledger.synchronous
        ),
        metrics=replace(base.metrics, enabled=False),
        notifications=replace(base.notifications, enabled=False),
        live_view=replace(base.live_view, enabled=True),
    )


def _children_cpu_s() -> float | None:
    """CPU seconds (user + system) of this process's live child processes, from /proc."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for child in multiprocessing.active_children():
        try:
            text = Path(f"/proc/{child.pid}/stat").read_text()
        except OSError:
            return None
        fields = text.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)
    return total


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Terminal:
    """A pseudo-terminal for the view to draw on; a thread drains (and counts) what it shows."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.bytes = 0
        self._thread = threading.Thread(target=self._drain, name="bench-terminal", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO once every writer closed the slave
                return
            if not chunk:
                return
            self.bytes += len(chunk)

    def close(self) -> None:
        os.close(self.slave)
        self._thread.join(2.0)
        os.close(self.master)


@contextlib.contextmanager
def _view(mode: ViewMode, refresh_per_s: float) -> Iterator[tuple[View | None, _Terminal | None]]:
    if mode == "none":
        yield None, None
        return
    terminal = _Terminal()
    stream: Any = None
    try:
        if mode == "process":
            yield (
                ProcessView(terminal.path, clock=time.monotonic, refresh_per_second=refresh_per_s, width=_VIEW_WIDTH),
                terminal,
            )
        else:
            from rich.console import Console

            stream = open(terminal.path, "w")  # noqa: SIM115 - closed below, after the view
            console = Console(file=stream, width=_VIEW_WIDTH, force_terminal=True)
            yield LiveView(console, clock=time.monotonic, refresh_per_second=refresh_per_s, threaded=True), terminal
    finally:
        if stream is not None:
            stream.close()
        terminal.close()


async def _measure(
    config: AppConfig,
    mode: ViewMode,
    *,
    duration_s: float,
    warmup_s: float,
    start_timeout_s: float,
    profile_path: Path | None = None,
) -> ModeResult:
    with _view(mode, config.live_view.refresh_per_s) as (view, terminal):
        source = SimulatedSource(
            config.run.scenario,
            order_timeout_s=config.venues.order_timeout_s,
            order_settle_s=config.venues.order_settle_s,
        )
        daemon = _CountingDaemon(
            config, Credentials(), source, stream=io.StringIO(), view=view, metrics=Metrics(), install_signals=False
        )
        task, failed = await start_trading(daemon, start_timeout_s)
        if failed is not None:
            raise RuntimeError(f"the daemon did not start trading: {failed}")
        probe = _IdleProbe(duration_s)
        await asyncio.gather(asyncio.sleep(warmup_s), probe.ready())
        # the window: the daemon's own histograms start empty here
        daemon.tally.histograms.clear()
        daemon.loop_lag.histogram = LatencyHistogram(daemon.loop_lag.histogram.stage)
        load_before = os.getloadavg()
        events0, cpu0, children0 = daemon.book_events, _self_cpu_s(), _children_cpu_s()
        profiler = cProfile.Profile() if profile_path is not None else None
        if profiler is not None:
            profiler.enable()  # the event loop's thread only (the solver's worker thread is not in it)
        t0 = time.monotonic()
        await asyncio.sleep(duration_s)
        window = time.monotonic() - t0
        if profiler is not None and profile_path is not None:
            profiler.disable()
            profiler.dump_stats(profile_path)
        events, cpu, children = daemon.book_events - events0, _self_cpu_s() - cpu0, _children_cpu_s()
        load_after = os.getloadavg()
        histograms = dict(daemon.tally.histograms)
        lag = _percentiles(daemon.loop_lag.histogram)
        daemon.request_stop("benchmark window done")
        idle_lag = await probe.result()
        result = await task
        if result.exit_code != 0:
            raise RuntimeError(f"the daemon exited {result.exit_code}: {result.reason}")
        stats = source.stats()
        frames = view.draws if isinstance(view, ProcessView | LiveView) else 0
        summary = result.summary
        return ModeResult(
            view=mode,
            ledger_synchronous=config.ledger.synchronous,
            window_s=round(window, 3),
            requested_per_s=config.run.scenario.book_changes_per_s,
            made_per_s=round(stats.achieved_book_changes_per_s, 1) if stats is not None else 0.0,
            skipped_changes=stats.skipped_changes if stats is not None else 0,
            book_events=events,
            delivered_per_s=round(events / window, 1),
            loop_lag=lag,
            idle_loop_lag=idle_lag,
            stages={stage: _percentiles(histograms.get(stage)) for stage in STAGES},
            opportunities=sum(summary.opportunities_by_kind.values()) if summary is not None else 0,
            plans_by_status=dict(summary.plans_by_status) if summary is not None else {},
            fills=summary.fills if summary is not None else 0,
            view_frames=frames,
            view_bytes=terminal.bytes if terminal is not None else 0,
            daemon_cpu_per_s=round(cpu / window, 3),
            children_cpu_per_s=None
            if children is None or children0 is None
            else round((children - children0) / window, 3),
            load_before=load_before,
            load_after=load_after,
        )


def run_daemon_bench(
    *,
    duration_s: float = 30.0,
    warmup_s: float = 35.0,
    rate: float = 1000.0,
    views: Sequence[ViewMode] = ("none", "process"),
    synchronous: Sequence[Literal["FULL", "NORMAL"]] = (),
    seed: int = 1,
    config_path: Path | None = None,
    venues_process: bool = True,
    json_path: Path | None = None,
    log_path: Path | None = None,
    profile_dir: Path | None = None,
    start_timeout_s: float = 120.0,
    echo: bool = True,
) -> DaemonBenchReport:
    """Run the daemon once per view mode (one after another, same settings) and report them side by
    side; with `synchronous` (ledger modes), once per mode and view (default: the configured mode). `log_path`: where the daemon's JSON logs go (default: a file in the run's temporary
    directory, removed after); `profile_dir`: cProfile the event loop's thread over each window."""
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    base = load_config(config_path) if config_path is not None else load_config()
    results: list[ModeResult] = []
    with tempfile.TemporaryDirectory(prefix="arb-bench-daemon-") as tmp:
        logs = log_path or Path(tmp) / "daemon.log"
        with logs.open("a", encoding="utf-8") as log_stream:
            handler = configure_logging(log_stream, wall_s=time.time)
            try:
                runs = [(sync, mode) for sync in (synchronous or (base.ledger.synchronous,)) for mode in views]
                for i, (sync, mode) in enumerate(runs):
                    ledger_dir = Path(tmp) / f"run-{i}-{mode}-{sync}"
                    ledger_dir.mkdir()
                    config = bench_config(
                        base,
                        rate=rate,
                        ledger_dir=ledger_dir,
                        seed=seed,
                        venues_process=venues_process,
                        synchronous=sync,
                    )
                    profile = None if profile_dir is None else profile_dir / f"daemon-{mode}-{sync}.prof"
                    result = _run_loop(
                        _measure(
                            config,
                            mode,
                            duration_s=duration_s,
                            warmup_s=warmup_s,
                            start_timeout_s=start_timeout_s,
                            profile_path=profile,
                        )
                    )
                    results.append(result)
                    if echo:
                        print(_row(result), flush=True)
            finally:
                logging.getLogger("arb").removeHandler(handler)
    report = DaemonBenchReport(rate, duration_s, warmup_s, os.cpu_count() or 0, tuple(results))
    if echo:
        print(render(report))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report


def _run_loop(coro: Any) -> ModeResult:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every platform we run on
        result: ModeResult = asyncio.run(coro)
        return result
    measured: ModeResult = uvloop.run(coro)
    return measured


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _row(m: ModeResult) -> str:
    lag = m.loop_lag
    return (
        f"view={m.view} ledger={m.ledger_synchronous}: {m.delivered_per_s:.0f} book events/s delivered ({m.requested_per_s:.0f} requested, "
        f"{m.made_per_s:.0f} made), loop lag p99 {_ms(lag.p99_ms)} ms, tick_to_plan p99 "
        f"{_ms(m.stages['tick_to_plan'].p99_ms)} ms (n={m.stages['tick_to_plan'].count})"
    )


def render(report: DaemonBenchReport) -> str:
    """The modes side by side: one column each."""
    names = [f"{m.view}/{m.ledger_synchronous}" for m in report.modes]
    width = max(14, *(len(n) + 2 for n in names))
    lines = [
        f"arb bench daemon: {report.rate_per_s:.0f} book changes/s requested, {report.duration_s:g} s window "
        f"after {report.warmup_s:g} s warm-up, {report.cores} cores",
        f"{'view/ledger sync':32}" + "".join(f"{n:>{width}}" for n in names),
    ]

    def row(label: str, values: Sequence[str]) -> None:
        # a value wider than the column still gets a space before it (the plans-by-status row)
        lines.append(f"{label:32}" + "".join(f"{v:>{width}}" if len(v) < width else f" {v}" for v in values))

    modes = report.modes
    row("book events/s delivered", [f"{m.delivered_per_s:.0f}" for m in modes])
    row("book changes/s made (sims)", [f"{m.made_per_s:.0f}" for m in modes])
    row("changes skipped (sims)", [str(m.skipped_changes) for m in modes])
    for q in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
        row(f"loop lag {q[:-3]} (ms)", [_ms(getattr(m.loop_lag, q)) for m in modes])
    for stage in STAGES:
        row(f"{stage} n", [str(m.stages[stage].count) for m in modes])
        for q in ("p50_ms", "p95_ms", "p99_ms"):
            row(f"{stage} {q[:-3]} (ms)", [_ms(getattr(m.stages[stage], q)) for m in modes])
    for q in ("p50_ms", "p99_ms", "max_ms"):
        row(f"idle-loop lag {q[:-3]} (ms)", [_ms(getattr(m.idle_loop_lag, q)) for m in modes])
    row("opportunities", [str(m.opportunities) for m in modes])
    row("plans (by status)", [",".join(f"{k}:{v}" for k, v in sorted(m.plans_by_status.items())) or "-" for m in modes])
    row("fills", [str(m.fills) for m in modes])
    row("view frames", [str(m.view_frames) for m in modes])
    row("daemon CPU s/s", [f"{m.daemon_cpu_per_s:.2f}" for m in modes])
    row("children CPU s/s", ["-" if m.children_cpu_per_s is None else f"{m.children_cpu_per_s:.2f}" for m in modes])
    row("load avg 1m before/after", [f"{m.load_before[0]:.1f}/{m.load_after[0]:.1f}" for m in modes])
    row(
        f"lag p99 <= {LOOP_LAG_P99_TARGET_MS:g} ms",
        ["yes" if m.loop_lag_ok else "NO" for m in modes],
    )
    row(
        f"tick_to_plan p99 <= {TICK_TO_PLAN_P99_TARGET_MS:g} ms",
        ["yes" if m.tick_to_plan_ok else "NO" for m in modes],
    )
    return "\n".join(lines)


def view_modes(text: str) -> tuple[ViewMode, ...]:
    """`none,process` -> ("none", "process"); argparse type for `--views`."""
    modes: list[ViewMode] = []
    for part in text.split(","):
        name = part.strip()
        if name not in VIEW_MODES:
            raise argparse.ArgumentTypeError(f"view modes are {', '.join(VIEW_MODES)}; got {name!r}")
        modes.append(name)
    if not modes:
        raise argparse.ArgumentTypeError("at least one view mode")
    return tuple(modes)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m benchmarks.daemon_bench ...` is `arb bench daemon ...`."""
    import sys

    from arb.cli import main as cli_main

    return cli_main(["bench", "daemon", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
