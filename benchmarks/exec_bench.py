"""`arb bench exec`: plan-to-all-legs-acknowledged latency of the executor, 2 to 5 legs, against both
simulated venues over loopback, with the real clients (signing included) and a real SQLite ledger.
The simulators run in a process of their own (as a venue would: their matching, signature checks
and publishing are not on the executor's event loop).

One plan of n legs alternates venues over n markets (Kalshi BUY YES at the ask, Polymarket BUY NO
at the ask), FOK, one contract on Kalshi and Polymarket's minimum (5 shares). A plan's latency is
`ExecutionReport.plan_latency_ms`: from the `execute` call (gates, orders, the journal write
included) to the venue's answer to its last order. Plans run one after another; each also waits
for its fills (not timed).

Beside the percentiles it reports, from the same run:
- signing_share: the time inside order signing (Kalshi RSA-PSS request signature, Polymarket
  EIP-712 order signature and HMAC headers) that started inside a plan's window, over the sum of
  the windows;
- ledger: the synchronous SQLite writes (journal, order updates, fills) per kind, their p50/p99,
  and the share of the windows spent inside them: what moving them off the event loop could save.

The machine is shared and noisy: the load average is printed with the figures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from arb.domain import Action, OrderStatus, OrderUpdate, Side, Venue
from arb.execution.executor import ExecutionStatus, Executor, ExecutorConfig
from arb.execution.loopback import LoopbackConfig, LoopbackVenues
from arb.fixed import SCALE
from arb.ledger.store import Ledger
from arb.risk.gates import BookGate, CircuitBreakers, Incidents, KillSwitch, LossHalts, RateBudget, RiskGate
from arb.risk.limits import RiskLimits
from benchmarks.timing import gc_paused
from solvers.plan import Leg, SetPlan

__all__ = ["ExecBenchResult", "LegCountResult", "run_exec_bench"]

TARGET_P95_MS = 30.0
_DEEP = 10_000_000 * SCALE  # book depth no benchmark run can exhaust
# Kalshi's top (Prime) tier write budget: at the Basic tier's 10 writes/s the client's own pacing,
# not the executor, sets the pace of back-to-back plans (about 100 ms per Kalshi order).
KALSHI_WRITES_PER_S = 400.0


@dataclass(frozen=True, slots=True)
class LegCountResult:
    legs: int
    plans: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    signing_share: float
    ledger_writes: str  # "deferred" (the executor's default) or "inline": see ExecutorConfig.defer_ledger_writes
    ledger_share: float


@dataclass(frozen=True, slots=True)
class ExecBenchResult:
    results: tuple[LegCountResult, ...]
    signing_share: float
    ledger_share: float
    ledger_writes: dict[str, dict[str, float]]
    ledger_share_before_send: float = 0.0  # journal + PENDING hash records: must commit before the send
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.p95_ms <= TARGET_P95_MS for r in self.results)

    def as_json(self) -> dict[str, Any]:
        return {
            "results": [asdict(r) for r in self.results],
            "signing_share": self.signing_share,
            "ledger_share": self.ledger_share,
            "ledger_share_before_send": self.ledger_share_before_send,
            "ledger_writes": self.ledger_writes,
            "target_p95_ms": TARGET_P95_MS,
            "ok": self.ok,
            "machine": self.machine,
        }


class _Meter:
    """Intervals (start_ns, duration_ns) spent inside wrapped calls, per kind."""

    def __init__(self) -> None:
        self.intervals: dict[str, list[tuple[int, int]]] = {}

    def wrap(self, kind: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                self.intervals.setdefault(kind, []).append((start, time.perf_counter_ns() - start))

        return timed

    def inside(self, windows: Sequence[tuple[int, int]], kinds: Sequence[str] | None = None) -> int:
        """Total duration of the intervals that start inside any window."""
        total = 0
        spans = sorted(windows)
        for kind, intervals in self.intervals.items():
            if kinds is not None and kind not in kinds:
                continue
            for start, duration in intervals:
                if any(a <= start <= b for a, b in spans):
                    total += duration
        return total


class _SignerProxy:
    """Delegates to a signer, timing the signing calls (the signers use __slots__: no patching)."""

    def __init__(self, inner: Any, meter: _Meter, kind: str, names: Sequence[str]) -> None:
        self._inner = inner
        for name in names:
            setattr(self, name, meter.wrap(kind, getattr(inner, name)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _TimedLedger(Ledger):
    meter: _Meter

    def journal_intent(self, *args: Any, **kwargs: Any) -> Any:
        return self.meter.wrap("journal_intent", super().journal_intent)(*args, **kwargs)

    def record_order(self, update: OrderUpdate, *, now_ms: int) -> bool:
        # a PENDING record carries the Polymarket order hash before its POST leaves: it must be
        # durable first (recovery finds the order by it), unlike later answers and events
        kind = "record_order_pending" if update.status is OrderStatus.PENDING else "record_order"
        done: bool = self.meter.wrap(kind, super().record_order)(update, now_ms=now_ms)
        return done

    def record_fill(self, *args: Any, **kwargs: Any) -> Any:
        return self.meter.wrap("record_fill", super().record_fill)(*args, **kwargs)


def _gate() -> RiskGate:
    limits = RiskLimits.from_mapping(
        {
            "cash_per_venue_usd": {"kalshi": "1000000", "polymarket": "1000000"},
            "max_contracts_per_contract": 10_000_000,
            "max_contracts_per_set": "10000000",
            "max_open_plans": 100,
            "notional_per_link_class_usd": {"none": "100000000"},
            "daily_loss_halt_usd": "1000000",
            "drawdown_halt_usd": "1000000",
            "min_profit_usd": "0",
            "max_partial_fill_loss_usd": "1000000",
            "kelly_fraction": "0.25",
            # the bench's books are set once and never change: their age is not what is measured
            "max_book_age_ms": 86_400_000,
        }
    )

    def now_s() -> float:
        return time.monotonic()

    breakers = CircuitBreakers(
        window_s=60.0,
        max_error_rate=1.0,
        min_calls=1_000_000,
        max_consecutive_failures=1_000_000,
        cooldown_s=1.0,
        monotonic_s=now_s,
    )
    return RiskGate(
        limits=limits,
        kill_switch=KillSwitch(None),
        books=BookGate(limits.max_book_age_ms, now_s),
        rate=RateBudget(1e9, 1_000_000_000, now_s),
        breakers=breakers,
        incidents=Incidents(),
        halts=LossHalts(limits.daily_loss_halt_usd, limits.drawdown_halt_usd, time.time),
    )


def _plan(venues: LoopbackVenues, legs: int, set_id: str) -> SetPlan:
    out = []
    for i in range(legs):
        if i % 2 == 0:
            venue, side, price, size = Venue.KALSHI, Side.YES, Decimal("0.46"), Decimal(1)
        else:
            venue, side, price, size = Venue.POLYMARKET, Side.NO, Decimal("0.52"), Decimal(5)
        instrument = venues.instrument(venue, i, side)
        out.append(
            Leg(
                instrument,
                venue.value,
                instrument.rsplit(":", 1)[0],
                side,
                Action.BUY,
                size,
                price,
                (),
                Decimal(0),
                -price * size,
            )
        )
    return SetPlan(set_id, tuple(out), Decimal(0), 0.0, {}, None, {}, (), {}, "bench")


_MODES: dict[str, tuple[bool, ...]] = {"deferred": (True,), "inline": (False,), "both": (True, False)}
_SIGNING = ("sign_kalshi", "sign_polymarket")
_LEDGER = ("journal_intent", "record_order_pending", "record_order", "record_fill")


def _share(part_ns: int, total_ns: int) -> float:
    return round(part_ns / total_ns, 4) if total_ns else 0.0


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _run(
    plans: int,
    leg_counts: Sequence[int],
    directory: Path,
    warmup: int,
    synchronous: Literal["FULL", "NORMAL"],
    modes: Sequence[bool],
) -> ExecBenchResult:
    meter = _Meter()
    config = LoopbackConfig(
        markets=max(leg_counts),
        kalshi_bids=((440_000, _DEEP),),
        kalshi_asks=((460_000, _DEEP),),
        polymarket_bids=((480_000, _DEEP),),
        polymarket_asks=((500_000, _DEEP),),
        kalshi_cash_micro_usd=100_000_000 * SCALE,
        polymarket_cash_micro_usd=100_000_000 * SCALE,
        kalshi_write_rate_per_s=KALSHI_WRITES_PER_S,
    )
    ledger = _TimedLedger(directory / "bench-ledger.sqlite", synchronous=synchronous)
    ledger.meter = meter
    try:
        async with LoopbackVenues(config, venues_process=True) as venues:
            kalshi: Any = venues.kalshi
            polymarket: Any = venues.polymarket
            kalshi._signer = _SignerProxy(kalshi._signer, meter, "sign_kalshi", ("headers",))
            polymarket._signer = _SignerProxy(
                polymarket._signer, meter, "sign_polymarket", ("prepare", "unsigned", "sign", "headers")
            )
            component = venues.component()
            books = venues.books()
            results = []
            all_windows: list[tuple[int, int]] = []
            for legs in leg_counts:
                for defer in modes:
                    executor = Executor(
                        ledger,
                        venues.clients,
                        _gate(),
                        config=ExecutorConfig(defer_ledger_writes=defer),
                        require_recovery=False,  # fresh simulated venues and a new ledger: nothing to recover
                    )
                    venues.sink = executor.on_event
                    latencies: list[float] = []
                    windows: list[tuple[int, int]] = []
                    for number in range(warmup + plans):
                        start = time.perf_counter_ns()
                        report = await executor.execute(_plan(venues, legs, component.id), component, books)
                        if report.status is not ExecutionStatus.COMPLETE or report.plan_latency_ms is None:
                            raise RuntimeError(f"bench plan did not complete: {report.status.value} {report.reason}")
                        if number >= warmup:
                            latencies.append(report.plan_latency_ms)
                            windows.append((start, start + int(report.plan_latency_ms * 1e6)))
                    total = sum(b - a for a, b in windows)
                    results.append(
                        LegCountResult(
                            legs=legs,
                            plans=plans,
                            p50_ms=round(statistics.median(latencies), 3),
                            p95_ms=round(_percentile(latencies, 0.95), 3),
                            p99_ms=round(_percentile(latencies, 0.99), 3),
                            max_ms=round(max(latencies), 3),
                            signing_share=_share(meter.inside(windows, _SIGNING), total),
                            ledger_writes="deferred" if defer else "inline",
                            ledger_share=_share(meter.inside(windows, _LEDGER), total),
                        )
                    )
                    all_windows += windows
            total = sum(b - a for a, b in all_windows)
            signing = meter.inside(all_windows, _SIGNING)
            in_ledger = meter.inside(all_windows, _LEDGER)
            required = meter.inside(all_windows, _LEDGER[:2])
            writes = {}
            for kind in _LEDGER:
                durations = [d / 1e6 for _, d in meter.intervals.get(kind, [])]
                if durations:
                    writes[kind] = {
                        "count": float(len(durations)),
                        "p50_ms": round(statistics.median(durations), 4),
                        "p99_ms": round(_percentile(durations, 0.99), 4),
                    }
            return ExecBenchResult(
                tuple(results),
                round(signing / total, 4) if total else 0.0,
                round(in_ledger / total, 4) if total else 0.0,
                writes,
                round(required / total, 4) if total else 0.0,
            )
    finally:
        ledger.close()


def run_exec_bench(
    *,
    plans: int = 200,
    leg_counts: Sequence[int] = (2, 3, 4, 5),
    warmup: int = 10,
    json_path: Path | None = None,
    synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ledger_writes: Literal["deferred", "inline", "both"] = "deferred",
    directory: Path | None = None,
    printer: Callable[[str], None] = print,
) -> ExecBenchResult:
    if plans < 1 or warmup < 0 or not leg_counts or not all(1 <= n <= 20 for n in leg_counts):
        raise ValueError("plans must be >= 1, warmup >= 0, leg counts in [1, 20]")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(dir=directory) as tmp, gc_paused():
        result = asyncio.run(_run(plans, leg_counts, Path(tmp), warmup, synchronous, _MODES[ledger_writes]))
    load_after = os.getloadavg()
    machine: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    machine["ledger_synchronous"] = synchronous
    result = dataclasses.replace(result, machine=machine)
    printer(f"executor plan -> all legs acknowledged, loopback sims, target p95 <= {TARGET_P95_MS:g} ms")
    printer(
        f"{'legs':>4} {'plans':>6} {'ledger':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'signing':>8} {'ledger':>8}"
    )
    for r in result.results:
        printer(
            f"{r.legs:>4} {r.plans:>6} {r.ledger_writes:>9} {r.p50_ms:>8.2f} {r.p95_ms:>8.2f} {r.p99_ms:>8.2f} "
            f"{r.max_ms:>8.2f} {r.signing_share:>8.1%} {r.ledger_share:>8.1%}"
        )
    printer(f"ledger synchronous={synchronous}")
    printer(
        f"signing share {result.signing_share:.1%}, ledger writes share {result.ledger_share:.1%} of plan time "
        f"({result.ledger_share_before_send:.1%} the writes that must commit before a send)"
    )
    for kind, figures in result.ledger_writes.items():
        printer(f"  {kind}: {int(figures['count'])} writes, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms")
    printer(f"load average {load_before[0]:.2f} -> {load_after[0]:.2f} on {machine['cpus']} cpus")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.as_json(), indent=2) + "\n")
    return result
