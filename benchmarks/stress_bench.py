"""`arb bench stress`: book operations driven at a set rate through the simulated venues (a process
of their own) over loopback into the real daemon, measured stage by stage, with every event counted.

    arb bench stress --rate R --duration S [--warmup S] [--opportunities N] [--ramp [--step R]
                     [--max-rate R]] [--json OUT] [--png FILE]

The daemon is the one `arb run` builds (`arb.daemon.core.Daemon`, config/default.toml, paper trading
on the simulated venues, a fresh ledger, no view, metrics recorded but not served); the simulators
and their participants (the scenario's market makers at `--rate` book changes a second, and the
arbitrage script opening opportunities: the configured period by default, `--opportunities N` a
second when asked) run in a spawned process that also answers this benchmark's commands (set the
rate, pause, resume, count). After `--warmup` seconds of trading (60 by default: with the configured
period every opening of the scenario has opened once, so the allocator holds every set it will and
the memory for them is there) the daemon's histograms are emptied and `--duration` seconds are
measured:

- detection: `feed_to_book` (a frame's receipt to its book event in the daemon) and `book_to_scan`
  (the scanner pass); optimisation: `scan_to_plan` (allocator changes and the solve to verified
  plans); execution: `plan_to_ack` (every entry order of a plan answered; each plan ends complete,
  unfilled or repaired, or the run says so in its plans by status); end to end: `tick_to_plan`
  (the first book event of a solver pass to its verified plans) and `tick_to_ack`;
- achieved rate: book events the daemon applied per second of the window;
- CPU seconds per second of the daemon process and of the simulator process; resident memory of
  both sampled every half second, and the daemon's growth over the window (the median of its first
  tenth of samples against the median of its last tenth);
- lost events, counted exactly: the simulators count the book events they publish per book (each
  Kalshi `orderbook_snapshot`/`orderbook_delta`, each Polymarket `book` and `price_change` entry) when
  they queue them, before any overflow or fault could drop them; the daemon counts the book events it
  applied per book. At the end the participants pause, the daemon's executions finish, the
  simulators empty their queues and report; the daemon waits until it has applied as many per book
  (5 s at most). Lost = events published and never applied + events applied and never published
  (a resync's REST snapshot) + every feed incident (a Kalshi sequence gap, resubscription or
  disconnect; a Polymarket resync or disconnect; a simulator queue overflow): zero only when every
  published event reached the daemon, once, in order. Counted over the whole run, warm-up included.

`--ramp` measures one window per step (`--rate`, then `--step` more each time, up to `--max-rate`),
each after a few seconds at the new rate, counting events after each, and stops at the first step
that breaks a bound (`BOUNDS`: the issue's stage targets, acceptance 2's end-to-end ones, no lost
event, at least 90% of the rate achieved; `--ramp-bounds events`: only the last two, the feed's
capacity whatever the latencies). It reports the highest step that held every bound
(`max_sustainable_rate`) and the bound that broke first (`bottleneck`: the stage furthest over its
bound, or `lost_events`, or `throughput`).

Output: a table, a PNG (`benchmarks/results/stress.png`, or `stress-ramp.png`) and with `--json`
exactly the issue's keys: `rate`, `duration_s`, `achieved_rate`, `lost_events`, `latency_ms`
{stage: {p50, p95, p99}}, `rss_growth_pct` (and with `--ramp` `max_sustainable_rate`, `bottleneck`;
`rate`, `achieved_rate` and `latency_ms` are then the figures of the highest sustainable step, or the
first step if none held). The machine is shared and noisy: the load average is printed with every
figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import math
import multiprocessing
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from arb.config import AppConfig, Credentials, load_config
from arb.daemon.core import Daemon
from arb.daemon.simulated import SimulatedSource, scenario_config
from arb.domain import BookChange, BookSnapshot, Venue
from arb.errors import ConfigError
from arb.ops.logs import configure_logging
from arb.ops.metrics import Metrics
from arb.ops.summary import LatencyHistogram
from arb.scenario.venues import (
    ScenarioConfig,
    ScenarioRuntime,
    ScenarioStats,
    SimulatedVenues,
    ThrowawayAccounts,
    VenueEndpoints,
)
from arb.venues.kalshi.client import KalshiClient
from arb.venues.polymarket.client import PolymarketClient
from benchmarks.daemon_bench import (
    Percentiles,
    _children_cpu_s,
    _IdleProbe,
    _percentiles,
    _self_cpu_s,
    bench_config,
    start_trading,
)

__all__ = [
    "BOUNDS",
    "REPORTED_STAGES",
    "EventCount",
    "StepResult",
    "StressReport",
    "compare_counts",
    "run_stress_bench",
]

REPORTED_STAGES = ("feed_to_book", "book_to_scan", "scan_to_plan", "tick_to_plan", "plan_to_ack", "tick_to_ack")
# (stage, percentile, bound ms): the issue's stage targets and acceptance 2's end-to-end ones
BOUNDS: tuple[tuple[str, str, float], ...] = (
    ("feed_to_book", "p95", 5.0),
    ("book_to_scan", "p95", 5.0),
    ("scan_to_plan", "p95", 50.0),
    ("tick_to_plan", "p99", 10.0),
    ("plan_to_ack", "p95", 30.0),
    ("tick_to_ack", "p99", 50.0),
)
MIN_ACHIEVED_FRACTION = 0.9
RSS_GROWTH_TARGET_PCT = 5.0
_SAMPLE_S = 0.5
_RAMP_SETTLE_S = 3.0
_CATCH_UP_S = 5.0
_QUIET_S = 0.3
_PAGE = os.sysconf("SC_PAGE_SIZE")


# -- counting ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventCount:
    """Book events published by the simulators and applied by the daemon (whole run so far)."""

    published: int
    applied: int
    missing: int  # published, never applied
    extra: int  # applied, never published (a REST resync snapshot, a duplicate)
    incidents: dict[str, int]  # feed incidents by kind (gaps, resyncs, disconnects, overflows)

    @property
    def lost(self) -> int:
        return self.missing + self.extra + sum(self.incidents.values())


def compare_counts(published: Mapping[Any, int], applied: Mapping[Any, int]) -> tuple[int, int]:
    """(missing, extra): per book, events published and never applied, and applied beyond what was
    published, summed over books (a book's surplus never hides another's shortfall)."""
    missing = sum(max(0, n - applied.get(book, 0)) for book, n in published.items())
    extra = sum(max(0, n - published.get(book, 0)) for book, n in applied.items())
    return missing, extra


@dataclass(frozen=True, slots=True)
class _SimCounts:
    """The simulator process's answer to "counts": published book events per (venue, book), its own
    incidents, and the participants' figures."""

    published: dict[tuple[Venue, str], int]
    incidents: dict[str, int]
    stats: ScenarioStats


# -- the simulator process ----------------------------------------------------------------------
class _Control:
    """The simulator process's loop: steps the participants every `tick_s` unless paused, and answers
    the parent's commands on the pipe (one answer per command, in order)."""

    def __init__(self, runtime: ScenarioRuntime, pipe: Connection) -> None:
        self.runtime = runtime
        self.pipe = pipe
        self.paused = False
        self.stopped = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def on_readable(self) -> None:
        try:
            while self.pipe.poll():
                self._handle(self.pipe.recv())
        except (EOFError, OSError):  # the parent went away
            self.stopped.set()

    def _handle(self, message: Any) -> None:
        runtime = self.runtime
        now = time.monotonic()
        if message == "stop":
            self.stopped.set()
            return
        kind = message[0]
        if kind == "rate":
            runtime.makers.set_rate(float(message[1]), now)
        elif kind == "pause":
            self.paused = True
        elif kind == "resume":
            runtime.makers.set_rate(runtime.makers.rate, now)  # nothing owed for the pause
            self.paused = False
        elif kind == "gap":  # an injected loss: the next Kalshi orderbook_delta never leaves
            faults = runtime.kalshi.faults
            if faults is None:
                raise ConfigError("the Kalshi simulator has no fault injector")
            faults.gap_next()
        elif kind == "counts":
            task = asyncio.get_running_loop().create_task(self._counts())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        else:
            raise ConfigError(f"stress simulator: unknown command {message!r}")
        self.pipe.send("ok")

    async def _counts(self) -> None:
        """Once both simulators' writer queues are empty (every queued frame written to its socket):
        what was published per book."""
        kalshi, polymarket = self.runtime.kalshi, self.runtime.polymarket
        deadline = time.monotonic() + 10.0
        while kalshi.queued_frames + polymarket.queued_frames and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        published = {(Venue.KALSHI, book): n for book, n in kalshi.book_events_published.items()}
        published.update({(Venue.POLYMARKET, book): n for book, n in polymarket.book_events_published.items()})
        incidents = {
            "kalshi_sim_overflows": kalshi.overflows,
            "polymarket_sim_slow_consumer_disconnects": polymarket.stats["slow_consumer_disconnects"],
            "frames_left_queued": kalshi.queued_frames + polymarket.queued_frames,
        }
        self.pipe.send(_SimCounts(published, incidents, self.runtime.stats()))

    async def run(self) -> None:
        tick = self.runtime.config.tick_s
        while not self.stopped.is_set():
            if not self.paused:
                self.runtime.step(time.monotonic())
            await asyncio.sleep(tick)


def _serve_stress(config: ScenarioConfig, accounts: ThrowawayAccounts, pipe: Connection) -> None:
    """The simulator process (`arb.scenario.venues._serve` plus the benchmark's commands)."""

    async def serve() -> None:
        try:
            runtime = ScenarioRuntime(config, accounts, start_s=time.monotonic())
            await runtime.start()
        except (ConfigError, OSError) as exc:
            pipe.send(f"{type(exc).__name__}: {exc}")
            return
        control = _Control(runtime, pipe)
        try:
            pipe.send(runtime.endpoints())
            asyncio.get_running_loop().add_reader(pipe.fileno(), control.on_readable)
            await control.run()
            with contextlib.suppress(OSError, BrokenPipeError):
                pipe.send(runtime.stats())
        finally:
            await runtime.close()

    import uvloop

    uvloop.run(serve())


class _StressVenues(SimulatedVenues):
    """`SimulatedVenues` in their own process, serving `_serve_stress` (commands on the pipe)."""

    async def _start_process(self, accounts: ThrowawayAccounts) -> VenueEndpoints:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._pipe = parent
        process = context.Process(target=_serve_stress, args=(self.config, accounts, child), daemon=True)
        process.start()
        self._process = process
        if not await asyncio.to_thread(parent.poll, 60.0):
            raise ConfigError("stress: the simulator process did not start within 60 s")
        answer = parent.recv()
        if not isinstance(answer, VenueEndpoints):
            raise ConfigError(f"stress: the simulator process failed to start: {answer}")
        return answer

    @property
    def pid(self) -> int:
        if self._process is None or self._process.pid is None:
            raise ConfigError("stress: the simulator process is not running")
        pid: int = self._process.pid
        return pid

    async def command(self, message: Any, timeout_s: float = 30.0) -> Any:
        pipe = self._pipe
        if pipe is None:
            raise ConfigError("stress: the simulator process is not running")
        pipe.send(message)
        if not await asyncio.to_thread(pipe.poll, timeout_s):
            raise ConfigError(f"stress: the simulator process did not answer {message!r}")
        return pipe.recv()


class _StressSource(SimulatedSource):
    def __init__(self, config: AppConfig) -> None:
        super().__init__(
            config.run.scenario,
            order_timeout_s=config.venues.order_timeout_s,
            order_settle_s=config.venues.order_settle_s,
        )
        self.venues = self.stress = _StressVenues(scenario_config(config.run.scenario))


class _CountingDaemon(Daemon):
    """The daemon as `arb run` builds it; counts the book events its clients applied, per book."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.applied: Counter[tuple[Venue, str]] = Counter()
        self.book_events = 0
        self.drop_next_applied = 0  # the test's injected loss on the daemon's side

    def _on_event(self, event: Any) -> None:
        if isinstance(event, BookSnapshot | BookChange):
            if self.drop_next_applied:
                self.drop_next_applied -= 1
            else:
                self.applied[(event.venue, event.book_id)] += 1
            self.book_events += 1
        super()._on_event(event)


def _client_incidents(daemon: Daemon) -> dict[str, int]:
    out: dict[str, int] = {}
    for client in daemon.clients.values():
        if isinstance(client, KalshiClient):
            stats = client.session.stats
            out["kalshi_sequence_gaps"] = stats.gaps
            out["kalshi_resubscribes"] = stats.resubscribes
            out["kalshi_disconnects"] = stats.disconnects
        elif isinstance(client, PolymarketClient):
            market = client.market_session.stats
            out["polymarket_resyncs"] = market.resyncs
            out["polymarket_disconnects"] = market.disconnects
    return out


# -- sampling ------------------------------------------------------------------------------------
def _rss_mb(pid: int | None = None) -> float | None:
    try:
        text = Path(f"/proc/{'self' if pid is None else pid}/statm").read_text()
    except OSError:
        return None
    return int(text.split()[1]) * _PAGE / 2**20


@dataclass(slots=True)
class _Samples:
    t_s: list[float] = field(default_factory=list)  # since the daemon started trading
    daemon_rss_mb: list[float] = field(default_factory=list)
    sims_rss_mb: list[float] = field(default_factory=list)
    events_per_s: list[float] = field(default_factory=list)
    requested_per_s: list[float] = field(default_factory=list)


async def _sample(daemon: _CountingDaemon, sims_pid: int, samples: _Samples, rate: list[float]) -> None:
    t0 = time.monotonic()
    last_t, last_events = t0, daemon.book_events
    while True:
        await asyncio.sleep(_SAMPLE_S)
        now = time.monotonic()
        samples.t_s.append(round(now - t0, 3))
        samples.daemon_rss_mb.append(_rss_mb() or math.nan)
        samples.sims_rss_mb.append(_rss_mb(sims_pid) or math.nan)
        samples.events_per_s.append((daemon.book_events - last_events) / (now - last_t))
        samples.requested_per_s.append(rate[0])
        last_t, last_events = now, daemon.book_events


def _growth_pct(values: Sequence[float]) -> float | None:
    """The median of the last tenth of `values` against the median of the first tenth, in %."""
    values = [v for v in values if not math.isnan(v)]
    if len(values) < 4:
        return None
    k = max(2, len(values) // 10)
    first, last = statistics.median(values[:k]), statistics.median(values[-k:])
    return round((last - first) / first * 100.0, 2)


# -- results -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StepResult:
    """One measured window at `rate` requested book changes a second."""

    rate: float
    window_s: float
    book_events: int
    achieved_per_s: float  # book events the daemon applied a second
    stages: dict[str, Percentiles]
    loop_lag: Percentiles
    idle_loop_lag: Percentiles  # an idle event loop in a process of its own, same window: the machine's share
    opportunities: int  # sets the scanner forwarded while not already open
    plans: int  # plans executed or refused in the window (tick_to_plan samples are the verified ones)
    daemon_cpu_per_s: float
    sims_cpu_per_s: float | None
    skipped_changes: int  # changes the market makers owed and could not make (their loop fell behind)
    lost_events: int  # counted after this window (and since the previous count)
    count: EventCount
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    rss_growth_pct: float | None
    latency_bounds: bool = True  # False: only lost events and throughput bound the step

    def broken(self) -> list[tuple[str, float]]:
        """The bounds this step broke: (name, measured / bound), worst first."""
        out: list[tuple[str, float]] = []
        for stage, q, bound in BOUNDS if self.latency_bounds else ():
            value = getattr(self.stages[stage], f"{q}_ms")
            if value is not None and value > bound:
                out.append((stage, value / bound))
        if self.lost_events:
            out.append(("lost_events", math.inf))
        if self.achieved_per_s < MIN_ACHIEVED_FRACTION * self.rate:
            # the market makers skip what their loop could not make in time: then the simulators
            # (or the machine under them) fell behind, not the daemon
            behind = self.skipped_changes > (1 - MIN_ACHIEVED_FRACTION) * self.rate * self.window_s
            name = "throughput (simulators behind)" if behind else "throughput"
            out.append((name, self.rate / max(self.achieved_per_s, 1e-9)))
        return sorted(out, key=lambda item: -item[1])


@dataclass(frozen=True, slots=True)
class StressReport:
    rate: float
    duration_s: float
    warmup_s: float
    opportunities_per_s: float | None
    steps: tuple[StepResult, ...]
    lost_events: int  # whole run
    count: EventCount  # whole run
    rss_growth_pct: float | None  # the daemon's, over the measured windows
    ramp: bool
    samples: _Samples
    warm_t_s: float  # when the first window began (seconds since trading started)
    cores: int
    summary_plans: dict[str, int]
    fills: int

    @property
    def reported(self) -> StepResult:
        """The step whose figures the JSON gives: the highest sustainable one (ramp), else the one."""
        if not self.ramp:
            return self.steps[0]
        held = [s for s in self.steps if not s.broken()]
        return held[-1] if held else self.steps[0]

    @property
    def max_sustainable_rate(self) -> float | None:
        held = [s.rate for s in self.steps if not s.broken()]
        return max(held) if held else None

    @property
    def bottleneck(self) -> str:
        for step in self.steps:
            broken = step.broken()
            if broken:
                return broken[0][0]
        return "none (the ramp's last step held every bound)"

    def to_json(self) -> dict[str, Any]:
        step = self.reported
        document: dict[str, Any] = {
            "rate": step.rate,
            "duration_s": self.duration_s,
            "achieved_rate": round(step.achieved_per_s, 1),
            "lost_events": self.lost_events,
            "latency_ms": {
                stage: {"p50": p.p50_ms, "p95": p.p95_ms, "p99": p.p99_ms}
                for stage, p in ((s, step.stages[s]) for s in REPORTED_STAGES)
            },
            "rss_growth_pct": self.rss_growth_pct,
        }
        if self.ramp:
            document["max_sustainable_rate"] = self.max_sustainable_rate
            document["bottleneck"] = self.bottleneck
        return document


# -- the run -------------------------------------------------------------------------------------
def stress_config(
    base: AppConfig, *, rate: float, ledger_dir: Path, seed: int, opportunities_per_s: float | None
) -> AppConfig:
    """`arb bench daemon`'s configuration (`arb run`'s, paper on the simulated venues in their own
    process), with the arbitrage script opening `opportunities_per_s` a second when given (each open
    for half its period)."""
    config = bench_config(base, rate=rate, ledger_dir=ledger_dir, seed=seed, venues_process=True)
    if opportunities_per_s is None:
        return config
    if not 0 < opportunities_per_s <= 250:
        raise ConfigError(f"opportunities per second must be in (0, 250], was {opportunities_per_s!r}")
    period = 1.0 / opportunities_per_s
    scenario = replace(config.run.scenario, arbitrage_period_s=period, arbitrage_hold_s=period / 2, first_opening_s=0.0)
    return replace(config, run=replace(config.run, scenario=scenario))


class _Run:
    """One daemon on the stress venues; windows measured one after another."""

    def __init__(self, daemon: _CountingDaemon, venues: _StressVenues, rate: list[float], latency_bounds: bool) -> None:
        self.latency_bounds = latency_bounds
        self.daemon = daemon
        self.venues = venues
        self.rate = rate
        self.last_lost = 0
        self.last_stats: ScenarioStats | None = None
        self.window_end = 0.0  # monotonic end of the last measured window (the count follows it)

    async def set_rate(self, rate: float) -> None:
        self.rate[0] = rate
        await self.venues.command(("rate", rate))

    async def count(self) -> tuple[EventCount, ScenarioStats]:
        """Pause, let the daemon finish what it does, count both sides exactly, resume."""
        daemon = self.daemon
        await self.venues.command(("pause",))
        deadline = time.monotonic() + 60.0
        quiet_since: float | None = None
        while time.monotonic() < deadline:  # no execution for _QUIET_S: nothing more it will send
            if daemon._executions:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= _QUIET_S:
                break
            await asyncio.sleep(0.02)
        sims: _SimCounts = await self.venues.command(("counts",))
        deadline = time.monotonic() + _CATCH_UP_S
        while time.monotonic() < deadline:
            if all(daemon.applied.get(book, 0) >= n for book, n in sims.published.items()):
                break
            await asyncio.sleep(0.01)
        missing, extra = compare_counts(sims.published, daemon.applied)
        incidents = {**_client_incidents(daemon), **sims.incidents}
        count = EventCount(sum(sims.published.values()), sum(daemon.applied.values()), missing, extra, incidents)
        await self.venues.command(("resume",))
        return count, sims.stats

    async def window(self, rate: float, duration_s: float) -> StepResult:
        daemon = self.daemon
        probe = _IdleProbe(duration_s)
        await probe.ready()
        daemon.tally.histograms.clear()
        daemon.loop_lag.histogram = LatencyHistogram(daemon.loop_lag.histogram.stage)
        load_before = os.getloadavg()
        events0, cpu0, children0 = daemon.book_events, _self_cpu_s(), _children_cpu_s()
        opportunities0 = sum(daemon.tally.opportunities_by_kind.values())
        plans0 = sum(daemon.tally.plans_by_status.values())
        rss: list[float] = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < duration_s:
            await asyncio.sleep(min(_SAMPLE_S, max(0.0, duration_s - (time.monotonic() - t0))))
            rss.append(_rss_mb() or math.nan)
        self.window_end = time.monotonic()
        window = self.window_end - t0
        events, cpu, children = daemon.book_events - events0, _self_cpu_s() - cpu0, _children_cpu_s()
        load_after = os.getloadavg()
        histograms = dict(daemon.tally.histograms)
        lag = _percentiles(daemon.loop_lag.histogram)
        opportunities = sum(daemon.tally.opportunities_by_kind.values()) - opportunities0
        plans = sum(daemon.tally.plans_by_status.values()) - plans0
        skipped0 = self.last_stats.skipped_changes if self.last_stats is not None else 0
        idle_lag = await probe.result()
        count, stats = await self.count()
        lost, self.last_lost = count.lost - self.last_lost, count.lost
        self.last_stats = stats
        return StepResult(
            rate=rate,
            window_s=round(window, 3),
            book_events=events,
            achieved_per_s=round(events / window, 1),
            stages={stage: _percentiles(histograms.get(stage)) for stage in REPORTED_STAGES},
            loop_lag=lag,
            idle_loop_lag=idle_lag,
            opportunities=opportunities,
            plans=plans,
            daemon_cpu_per_s=round(cpu / window, 3),
            sims_cpu_per_s=None if children is None or children0 is None else round((children - children0) / window, 3),
            skipped_changes=stats.skipped_changes - skipped0,
            lost_events=lost,
            count=count,
            load_before=load_before,
            load_after=load_after,
            rss_growth_pct=_growth_pct(rss),
            latency_bounds=self.latency_bounds,
        )


async def _stress(
    config: AppConfig,
    *,
    duration_s: float,
    warmup_s: float,
    ramp_rates: Sequence[float],
    inject: Sequence[str],
    start_timeout_s: float,
    echo: bool,
    latency_bounds: bool,
) -> tuple[list[StepResult], EventCount, _Samples, tuple[float, float], _CountingDaemon]:
    source = _StressSource(config)
    daemon = _CountingDaemon(
        config, Credentials(), source, stream=io.StringIO(), view=None, metrics=Metrics(), install_signals=False
    )
    task, failed = await start_trading(daemon, start_timeout_s)
    if failed is not None:
        raise ConfigError(f"stress: the daemon did not start trading: {failed}")
    rate = [config.run.scenario.book_changes_per_s]
    samples = _Samples()
    sampler = asyncio.create_task(_sample(daemon, source.stress.pid, samples, rate), name="stress-sampler")
    run = _Run(daemon, source.stress, rate, latency_bounds)
    steps: list[StepResult] = []
    t_trading = time.monotonic()
    try:
        await asyncio.sleep(warmup_s)
        warm_t = time.monotonic() - t_trading
        for kind in inject:
            if kind == "gap":
                await source.stress.command(("gap",))
            elif kind == "daemon_drop":
                daemon.drop_next_applied += 1
        if not ramp_rates:
            steps.append(await run.window(rate[0], duration_s))
        for i, step_rate in enumerate(ramp_rates):
            await run.set_rate(step_rate)
            if i:
                await asyncio.sleep(_RAMP_SETTLE_S)
            step = await run.window(step_rate, duration_s)
            steps.append(step)
            if echo:
                print(_step_line(step), flush=True)
            if step.broken():
                break
        final = steps[-1].count
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        daemon.request_stop("stress benchmark done")
        result = await task
    if result.exit_code != 0:
        raise ConfigError(f"stress: the daemon exited {result.exit_code}: {result.reason}")
    return steps, final, samples, (warm_t, run.window_end - t_trading), daemon


def run_stress_bench(
    *,
    rate: float = 1000.0,
    duration_s: float = 60.0,
    warmup_s: float = 60.0,
    opportunities_per_s: float | None = None,
    ramp: bool = False,
    ramp_bounds: str = "all",
    step: float | None = None,
    max_rate: float = 10_000.0,
    seed: int = 1,
    config_path: Path | None = None,
    json_path: Path | None = None,
    png_path: Path | None = None,
    log_path: Path | None = None,
    inject: Sequence[str] = (),
    start_timeout_s: float = 120.0,
    echo: bool = True,
) -> StressReport:
    """Run the daemon under the stress venues (module docstring); `inject` ("gap": the Kalshi
    simulator loses one delta; "daemon_drop": the daemon's count misses one event) proves the count
    finds a loss."""
    if rate <= 0 or duration_s <= 0 or warmup_s < 0:
        raise ConfigError("stress: rate and duration must be > 0 and warm-up >= 0")
    if ramp_bounds not in ("all", "events"):
        raise ConfigError(f"stress: ramp bounds are 'all' or 'events', was {ramp_bounds!r}")
    ramp_rates: list[float] = []
    if ramp:
        increment = step or rate
        r = rate
        while r <= max_rate + 1e-9:
            ramp_rates.append(r)
            r += increment
    base = load_config(config_path) if config_path is not None else load_config()
    with tempfile.TemporaryDirectory(prefix="arb-bench-stress-") as tmp:
        config = stress_config(
            base, rate=rate, ledger_dir=Path(tmp), seed=seed, opportunities_per_s=opportunities_per_s
        )
        logs = log_path or Path(tmp) / "daemon.log"
        with logs.open("a", encoding="utf-8") as log_stream:
            handler = configure_logging(log_stream, wall_s=time.time)
            try:
                steps, final, samples, (warm_t, end_t), daemon = _run_loop(
                    _stress(
                        config,
                        duration_s=duration_s,
                        warmup_s=warmup_s,
                        ramp_rates=ramp_rates,
                        inject=inject,
                        start_timeout_s=start_timeout_s,
                        echo=echo and ramp,
                        latency_bounds=ramp_bounds == "all",
                    )
                )
            finally:
                logging.getLogger("arb").removeHandler(handler)
    # the measured windows only (with --ramp, the settling between them too), not the count after
    measured = [v for t, v in zip(samples.t_s, samples.daemon_rss_mb, strict=True) if warm_t <= t <= end_t]
    summary = daemon.tally
    report = StressReport(
        rate=rate,
        duration_s=duration_s,
        warmup_s=warmup_s,
        opportunities_per_s=opportunities_per_s,
        steps=tuple(steps),
        lost_events=final.lost,
        count=final,
        rss_growth_pct=_growth_pct(measured),
        ramp=ramp,
        samples=samples,
        warm_t_s=warm_t,
        cores=os.cpu_count() or 0,
        summary_plans=dict(summary.plans_by_status),
        fills=daemon.telemetry.fills,
    )
    if echo:
        print(render(report))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    png = png_path or Path("benchmarks/results") / ("stress-ramp.png" if ramp else "stress.png")
    plot(report, png)
    if echo:
        print(f"plot: {png}")
    return report


def _run_loop(coro: Any) -> Any:
    import uvloop

    return uvloop.run(coro)


# -- output --------------------------------------------------------------------------------------
def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _step_line(step: StepResult) -> str:
    broken = ", ".join(f"{name} x{ratio:.1f}" for name, ratio in step.broken()) or "every bound held"
    return (
        f"rate {step.rate:.0f}/s: {step.achieved_per_s:.0f} events/s applied, lost {step.lost_events}, "
        f"tick_to_plan p99 {_ms(step.stages['tick_to_plan'].p99_ms)} ms, tick_to_ack p99 "
        f"{_ms(step.stages['tick_to_ack'].p99_ms)} ms, load {step.load_after[0]:.1f}: {broken}"
    )


def render(report: StressReport) -> str:
    """The steps side by side, one column each, then the run's counts."""
    steps = report.steps
    width = 12
    opp = "" if report.opportunities_per_s is None else f", {report.opportunities_per_s:g} opportunities/s asked"
    lines = [
        f"arb bench stress: {report.duration_s:g} s window(s) after {report.warmup_s:g} s warm-up{opp}, "
        f"{report.cores} cores",
        f"{'requested book changes/s':34}" + "".join(f"{s.rate:>{width}.0f}" for s in steps),
    ]

    def row(label: str, values: Sequence[str]) -> None:
        lines.append(f"{label:34}" + "".join(f"{v:>{width}}" if len(v) < width else f" {v}" for v in values))

    row("book events/s applied", [f"{s.achieved_per_s:.0f}" for s in steps])
    row("changes skipped (sims behind)", [str(s.skipped_changes) for s in steps])
    for stage in REPORTED_STAGES:
        row(f"{stage} n", [str(s.stages[stage].count) for s in steps])
        for q in ("p50", "p95", "p99"):
            row(f"{stage} {q} (ms)", [_ms(getattr(s.stages[stage], f"{q}_ms")) for s in steps])
    row("loop lag p99 / max (ms)", [f"{_ms(s.loop_lag.p99_ms)}/{_ms(s.loop_lag.max_ms)}" for s in steps])
    row(
        "idle-loop lag p99 / max (ms)",
        [f"{_ms(s.idle_loop_lag.p99_ms)}/{_ms(s.idle_loop_lag.max_ms)}" for s in steps],
    )
    row("opportunities / plans", [f"{s.opportunities}/{s.plans}" for s in steps])
    row("lost events (this window)", [str(s.lost_events) for s in steps])
    row("daemon CPU s/s", [f"{s.daemon_cpu_per_s:.2f}" for s in steps])
    row("simulators CPU s/s", ["-" if s.sims_cpu_per_s is None else f"{s.sims_cpu_per_s:.2f}" for s in steps])
    row(
        "daemon RSS growth in window %", ["-" if s.rss_growth_pct is None else f"{s.rss_growth_pct:.1f}" for s in steps]
    )
    row("load avg 1m before/after", [f"{s.load_before[0]:.1f}/{s.load_after[0]:.1f}" for s in steps])
    row("bounds", ["held" if not s.broken() else s.broken()[0][0] for s in steps])
    count = report.count
    incidents = ", ".join(f"{k} {v}" for k, v in sorted(count.incidents.items()) if v) or "none"
    lines += [
        f"book events (whole run): published {count.published}, applied {count.applied}, missing "
        f"{count.missing}, extra {count.extra}; feed incidents: {incidents}",
        f"lost events: {report.lost_events}; daemon RSS growth after warm-up: "
        f"{'-' if report.rss_growth_pct is None else f'{report.rss_growth_pct:.2f} %'} (target < {RSS_GROWTH_TARGET_PCT:g} %)",
        "plans by status (whole run): "
        + (", ".join(f"{k} {v}" for k, v in sorted(report.summary_plans.items())) or "none")
        + f"; fills {report.fills}",
    ]
    if report.ramp:
        lines.append(
            f"max sustainable rate: {report.max_sustainable_rate if report.max_sustainable_rate is not None else '-'}"
            f" book changes/s; bottleneck: {report.bottleneck}"
        )
    return "\n".join(lines)


def plot(report: StressReport, path: Path) -> None:
    """Stage percentiles against their bounds (per step when ramping), resident memory and applied
    events over the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    latency, memory, rate_ax = axes
    if report.ramp and len(report.steps) > 1:
        rates = [s.rate for s in report.steps]
        for stage in REPORTED_STAGES:
            q = next((q for name, q, _ in BOUNDS if name == stage), "p99")
            values = [getattr(s.stages[stage], f"{q}_ms") for s in report.steps]
            latency.plot(rates, [math.nan if v is None else v for v in values], marker="o", label=f"{stage} {q}")
        latency.set_xlabel("requested book changes/s")
        latency.set_title("stage latency by step (bounded percentile)")
    else:
        step = report.reported
        xs = range(len(REPORTED_STAGES))
        for offset, q in ((-0.25, "p50"), (0.0, "p95"), (0.25, "p99")):
            values = [getattr(step.stages[s], f"{q}_ms") for s in REPORTED_STAGES]
            latency.bar([x + offset for x in xs], [0 if v is None else v for v in values], width=0.25, label=q)
        for i, stage in enumerate(REPORTED_STAGES):
            bound = next((b for name, _, b in BOUNDS if name == stage), None)
            if bound is not None:
                latency.hlines(bound, i - 0.4, i + 0.4, colors="red", linestyles="dashed")
        latency.set_xticks(list(xs), REPORTED_STAGES, rotation=30, ha="right")
        latency.set_title(f"stage latency at {step.rate:.0f}/s (red: bound)")
    latency.set_yscale("log")
    latency.set_ylabel("ms")
    latency.legend(fontsize=7)
    samples = report.samples
    memory.plot(samples.t_s, samples.daemon_rss_mb, label="daemon")
    memory.plot(samples.t_s, samples.sims_rss_mb, label="simulators")
    memory.axvline(report.warm_t_s, color="grey", linestyle="dotted", label="warm-up ends")
    memory.set_xlabel("s since trading started")
    memory.set_ylabel("resident MB")
    growth = "-" if report.rss_growth_pct is None else f"{report.rss_growth_pct:.1f}%"
    memory.set_title(f"resident memory (daemon growth after warm-up {growth})")
    memory.legend(fontsize=7)
    rate_ax.plot(samples.t_s, samples.events_per_s, label="book events/s applied")
    rate_ax.plot(samples.t_s, samples.requested_per_s, label="requested", linestyle="dashed")
    rate_ax.set_xlabel("s since trading started")
    rate_ax.set_title(f"throughput; lost events {report.lost_events}")
    rate_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
