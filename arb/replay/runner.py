"""`run_scenario`: one scenario file through the daemon on a virtual clock (docs/replay.md).

The real `Daemon` (graph, scanner, allocator, risk gates, executor, repair, ledger, recovery) runs
on `arb.replay.clock.VirtualTimeLoop` against `ReplayVenues` (both simulators in this process, on
Unix sockets, reached by the real clients), paper mode, with a fresh ledger in the run's directory,
no metrics endpoint, no view, and its alerts recorded. The scenario's events are played at their
virtual times (`arb.replay.events`); at `duration_s` the daemon is stopped through its own
shutdown path. A `crash` event abandons the running daemon (every task it started is cancelled at
once: nothing is cancelled at the venues, nothing reconciled) and starts a new one on the same
ledger and venues, whose start-up recovery must put things right.

What the run showed is gathered from the daemon (its run tallies, its plans as the allocator made
them, its alerts), from the ledger (`arb.ledger.export.export_ledger`) and from the venues (their
own records of the daemon's orders, and their books against the daemon's), checked against
`[expect]` (`arb.replay.expect`), and written as one JSON document whose bytes depend on nothing
but the file, the overrides and the code: no real time, no temporary path.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import io
import itertools
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from arb.config import AppConfig, Credentials
from arb.daemon.core import Daemon, DaemonResult
from arb.daemon.telemetry import classify_component
from arb.daemon.venues import VenueEndpoints
from arb.domain import BookSide, MarketInfo, Side, Venue
from arb.errors import ConfigError
from arb.execution.executor import ExecutionReport
from arb.graph import GraphConfig
from arb.ledger.export import decimal_text, export_ledger
from arb.ledger.store import Ledger
from arb.links import CuratedLink
from arb.ops.notify import Alert, DailySummary, Incident
from arb.ops.summary import RunSummary
from arb.replay.clock import VirtualClock, current_clock, run_virtual
from arb.replay.events import AppliedEvent, play_events
from arb.replay.expect import Check, RunFacts, check_expectations
from arb.replay.scenario import Scenario, load_scenario
from arb.replay.venues import ReplayVenues
from arb.risk.gates import Notification
from solvers.plan import AllocationResult, Leg, SetPlan

__all__ = ["ReplayResult", "run_scenario", "to_json_list"]

_MICRO = Decimal(1_000_000)
_ZERO = Decimal(0)
# the daemon a task belongs to: set in the context each daemon's task runs in, which every task it
# starts inherits (server-side tasks of the simulators were started from the runner's context)
_DAEMON: contextvars.ContextVar[int] = contextvars.ContextVar("arb_replay_daemon", default=0)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """One replay: `passed` when every check passed; `document` is the JSON tree
    (`to_json_bytes()`: sorted keys, indented, byte-identical across runs)."""

    name: str
    checks: tuple[Check, ...]
    document: Mapping[str, Any]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.passed)

    def to_json_bytes(self) -> bytes:
        return orjson.dumps(self.document, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def to_json_list(results: Sequence[ReplayResult]) -> bytes:
    """Several results as one JSON list, formatted like `ReplayResult.to_json_bytes`."""
    return orjson.dumps([r.document for r in results], option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def run_scenario(
    source: Path | str | Scenario,
    *,
    overrides: Mapping[str, Any] | None = None,
    workdir: Path | None = None,
) -> ReplayResult:
    """Replay one scenario (a file, or one already loaded) with `overrides` (dotted config keys)
    on top of its `[config]`; the ledger and sockets live in `workdir` (a temporary directory,
    removed after, when None). A bad file or override is a `ConfigError` before anything runs."""
    scenario = source if isinstance(source, Scenario) else load_scenario(source)
    given = dict(overrides or {})
    with _workdir(workdir) as directory, tempfile.TemporaryDirectory(prefix="arb-s-") as sockets:
        # the sockets in a short directory of their own: a Unix socket path holds about 100 bytes
        config = scenario.app_config(directory, given)
        observed = run_virtual(
            lambda: _Session(scenario, config, Path(sockets)).run(), start_wall_ms=scenario.start_wall_ms
        )
    return _result(scenario, given, observed)


@contextmanager
def _workdir(workdir: Path | None) -> Iterator[Path]:
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="arb-replay-") as name:
        yield Path(name)


# -- observing the daemon ---------------------------------------------------------------------------


@dataclass(slots=True)
class _PlanRecord:
    t_ms: int
    plan: SetPlan
    kind: str
    daemon: int
    status: str = "not_executed"
    reason: str = ""
    repairs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        cost = sum((-leg.cash_flow_usd for leg in self.plan.legs), _ZERO)
        return {
            "t_ms": self.t_ms,
            "daemon": self.daemon,
            "set_id": self.plan.set_id,
            "kind": self.kind,
            "legs": [_leg_json(leg) for leg in self.plan.legs],
            "guaranteed_profit_usd": decimal_text(self.plan.guaranteed_profit_usd),
            "cost_usd": decimal_text(cost),
            "status": self.status,
            "reason": self.reason,
            "repairs": list(self.repairs),
        }


def _leg_json(leg: Leg) -> dict[str, Any]:
    return {
        "venue": leg.venue,
        "contract": leg.contract,
        "side": leg.side.value,
        "action": leg.action.value,
        "quantity": decimal_text(leg.quantity),
        "limit_price": decimal_text(leg.limit_price),
        "fee_usd": decimal_text(leg.fee_usd),
        "cash_flow_usd": decimal_text(leg.cash_flow_usd),
    }


class _AlertRecorder:
    """The daemons' alert sink: every alert, in order, with its virtual time."""

    def __init__(self, start_wall_ms: int) -> None:
        self.start_wall_ms = start_wall_ms
        self.alerts: list[Alert] = []

    def submit(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def kinds(self) -> tuple[str, ...]:
        return tuple(_alert_kind(a) for a in self.alerts)

    def halts(self) -> tuple[str, ...]:
        return tuple(a.message for a in self.alerts if isinstance(a, Notification) and a.kind == "halt")

    def to_json(self) -> list[dict[str, Any]]:
        out = []
        for alert in self.alerts:
            entry: dict[str, Any] = {
                "kind": _alert_kind(alert),
                "t_ms": round(alert.at_wall_s * 1000) - self.start_wall_ms,
            }
            if isinstance(alert, Notification):
                entry["message"] = alert.message
            elif isinstance(alert, Incident):
                entry.update(
                    message=alert.message, severity=alert.severity, set_id=alert.set_id, details=dict(alert.details)
                )
            else:
                entry.update(
                    day=alert.day,
                    plans_executed=alert.plans_executed,
                    fills=alert.fills,
                    incidents=alert.incidents,
                    guaranteed_pnl_usd=decimal_text(alert.guaranteed_pnl_usd),
                    realised_pnl_usd=decimal_text(alert.realised_pnl_usd),
                )
            out.append(entry)
        return out


def _alert_kind(alert: Alert) -> str:
    return "daily_summary" if isinstance(alert, DailySummary) else alert.kind


class _TaskOwners:
    """Which daemon started each task: a task factory reads the daemon number from the context
    the task will run in (a daemon's task runs in a context holding its number, and every task it
    starts inherits it). A crash cancels exactly the crashed daemon's tasks."""

    def __init__(self) -> None:
        self._by_owner: dict[int, dict[asyncio.Task[Any], None]] = {}  # in creation order

    def tasks(self, owner: int) -> list[asyncio.Task[Any]]:
        return list(self._by_owner.get(owner, ()))

    def _factory(
        self, loop: asyncio.AbstractEventLoop, coro: Any, *, context: contextvars.Context | None = None, **kw: Any
    ) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, context=context, **kw)
        owner = context.get(_DAEMON, 0) if context is not None else _DAEMON.get()
        if owner:
            owned = self._by_owner.setdefault(owner, {})
            owned[task] = None
            task.add_done_callback(lambda done: owned.pop(done, None))
        return task

    @contextmanager
    def installed(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        previous = loop.get_task_factory()
        loop.set_task_factory(self._factory)
        try:
            yield
        finally:
            loop.set_task_factory(previous)


class _BorrowedVenues:
    """The replay's venues as a daemon's `VenueSource`, entered and left by the runner: a crashed
    daemon's exit must not close them under its successor."""

    name = "replay"

    def __init__(self, venues: ReplayVenues) -> None:
        self._venues = venues

    async def __aenter__(self) -> _BorrowedVenues:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @property
    def endpoints(self) -> VenueEndpoints:
        return self._venues.endpoints

    def links(self, markets: Sequence[MarketInfo]) -> tuple[CuratedLink, ...]:
        return self._venues.links(markets)

    @property
    def graph_config(self) -> GraphConfig:
        return self._venues.graph_config


@dataclass(slots=True)
class _DaemonRun:
    number: int
    daemon: Daemon
    task: asyncio.Task[DaemonResult]
    started_ms: int
    ended_ms: int | None = None
    crashed: bool = False
    result: DaemonResult | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        result = self.result
        check = result.shutdown_check if result is not None else None
        return {
            "daemon": self.number,
            "started_ms": self.started_ms,
            "ended_ms": self.ended_ms,
            "crashed": self.crashed,
            "exit_code": None if result is None else result.exit_code,
            "reason": "" if result is None else result.reason,
            "error": self.error,
            "shutdown_recovery_clean": None if check is None else check.clean,
        }


@dataclass(slots=True)
class _Observed:
    """Everything the session saw, plain enough to leave the virtual loop."""

    runs: list[dict[str, Any]]
    summaries: list[RunSummary]
    tallies: list[dict[str, Any]]
    plans: list[_PlanRecord]
    events: list[AppliedEvent]
    alerts: _AlertRecorder
    orders: list[dict[str, Any]]
    lost_books: list[str]
    recovery_clean: bool | None
    exit_ok: bool
    ledger: dict[str, Any]
    positions: dict[tuple[Venue, str, Side], int]
    unhedged_sets: int
    extra_checks: list[Check] = field(default_factory=list)


class _Session:
    """One replay on the running virtual loop: venues, daemons, events, then what was seen."""

    def __init__(self, scenario: Scenario, config: AppConfig, socket_dir: Path) -> None:
        self.scenario = scenario
        self.config = config
        self.socket_dir = socket_dir
        self.clock: VirtualClock | None = None
        self.venues: ReplayVenues | None = None
        self.alerts = _AlertRecorder(scenario.start_wall_ms)
        self.runs: list[_DaemonRun] = []
        self.plans: list[_PlanRecord] = []
        self.pending: dict[tuple[int, str], _PlanRecord] = {}
        self.events: list[AppliedEvent] = []
        self.ledger_failing = False
        self.start_ns = 0
        self._numbers = itertools.count(1)
        self._owners = _TaskOwners()

    # -- DaemonControl ------------------------------------------------------------------------------
    @property
    def kill_switch_file(self) -> Path:
        path = self.config.risk.kill_switch_file
        assert path is not None
        return path

    async def crash(self) -> None:
        run = self.runs[-1]
        if run.task.done():
            raise ConfigError("crash: the daemon is not running")
        owned = [t for t in self._owners.tasks(run.number) if not t.done()]
        for task in owned:
            task.cancel()
        await asyncio.gather(*owned, return_exceptions=True)
        run.crashed = True
        run.ended_ms = self.elapsed_ms()
        self._start_daemon()
        await self._apply_ledger_state()

    def fail_ledger_writes(self, failing: bool) -> None:
        self.ledger_failing = failing
        ledger = self.runs[-1].daemon.ledger if self.runs else None
        if ledger is not None:
            _set_failing(ledger, failing)

    async def _apply_ledger_state(self) -> None:
        if not self.ledger_failing:
            return
        daemon = self.runs[-1].daemon
        for _ in range(1000):  # the daemon opens its ledger before its first await
            if daemon.ledger is not None:
                _set_failing(daemon.ledger, True)
                return
            await asyncio.sleep(0)

    # -- the run ------------------------------------------------------------------------------------
    def elapsed_ms(self) -> int:
        assert self.clock is not None
        return (self.clock.monotonic_ns() - self.start_ns) // 1_000_000

    async def run(self) -> _Observed:
        self.clock = current_clock()
        self.start_ns = self.clock.monotonic_ns()
        scenario, config = self.scenario, self.config
        cash = dict(scenario.daemon_cash_micro_usd)
        self.venues = ReplayVenues(
            scenario.venues,
            links=scenario.links,
            exhaustive_series=scenario.exhaustive_series,
            seed=scenario.seed,
            socket_dir=self.socket_dir,
            clock_ms=self.clock.wall_ms,
            kalshi_cash_usd=_usd(cash[Venue.KALSHI]) if Venue.KALSHI in cash else None,
            polymarket_cash_usd=_usd(cash[Venue.POLYMARKET]) if Venue.POLYMARKET in cash else None,
            allow_different_resolution_source=config.graph.allow_different_resolution_source,
            order_timeout_s=config.venues.order_timeout_s,
            order_settle_s=config.venues.order_settle_s,
        )
        with self._owners.installed(asyncio.get_running_loop()):
            async with self.venues:
                return await self._play()

    async def _play(self) -> _Observed:
        """The daemon and the events until the end, the daemon's stop, then what was seen (the
        venues still up: their records are read here)."""
        scenario, venues = self.scenario, self.venues
        assert venues is not None
        self._start_daemon()
        events = asyncio.get_running_loop().create_task(
            play_events(scenario.events, venues, self, elapsed_ms=self.elapsed_ms, record=self.events.append),
            name="replay events",
        )
        await asyncio.sleep(max(0, scenario.duration_ms - self.elapsed_ms()) / 1000)
        if not events.done():  # every event is before the end: only a crash's restart is left
            await events
        lost = self._lost_books()
        self.runs[-1].daemon.request_stop(f"replay duration {scenario.duration_ms / 1000:g} s reached")
        await asyncio.gather(*(r.task for r in self.runs), return_exceptions=True)
        for run in self.runs:
            self._finish(run)
        return self._observe(lost, self._venue_orders())

    def _start_daemon(self) -> None:
        assert self.clock is not None and self.venues is not None
        number = next(self._numbers)
        daemon = Daemon(
            self.config,
            Credentials(),
            _BorrowedVenues(self.venues),
            stream=io.StringIO(),
            view=None,
            metrics=None,
            install_signals=False,
            clock=self.clock.monotonic_ns,
            wall_ms=self.clock.wall_ms,
            alerts=self.alerts,
        )
        self._observe_plans(daemon, number)
        context = contextvars.copy_context()
        context.run(_DAEMON.set, number)
        task = asyncio.get_running_loop().create_task(daemon.run(), name=f"daemon {number}", context=context)
        self.runs.append(_DaemonRun(number, daemon, task, self.elapsed_ms()))

    def _observe_plans(self, daemon: Daemon, number: int) -> None:
        """Record each plan as the allocator hands it over, and its execution's end."""
        telemetry = daemon.telemetry
        on_plan, on_execution = telemetry.plan, telemetry.execution

        def plan(result: AllocationResult | SetPlan, timings_ms: Mapping[str, float] | None = None) -> None:
            on_plan(result, timings_ms)
            plans = result.plans if isinstance(result, AllocationResult) else (result,)
            for set_plan in plans:
                if not set_plan.legs or (number, set_plan.set_id) in self.pending:
                    continue  # nothing to trade, or the set is trading now (the daemon skips it)
                kind = "other"
                if daemon.graph is not None:
                    with suppress(KeyError):
                        kind = classify_component(daemon.graph.component(set_plan.set_id)).value
                record = _PlanRecord(self.elapsed_ms(), set_plan, kind, number)
                self.pending[(number, set_plan.set_id)] = record
                self.plans.append(record)

        def execution(report: ExecutionReport, guaranteed_usd: Decimal = _ZERO) -> None:
            on_execution(report, guaranteed_usd)
            record = self.pending.pop((number, report.set_id), None)
            if record is not None:
                record.status, record.reason, record.repairs = report.status.value, report.reason, report.repairs

        setattr(telemetry, "plan", plan)  # noqa: B010 - an instance's hook, wrapped for this run only
        setattr(telemetry, "execution", execution)  # noqa: B010

    def _finish(self, run: _DaemonRun) -> None:
        if run.ended_ms is None:
            run.ended_ms = self.elapsed_ms()
        if run.crashed:
            return
        try:
            run.result = run.task.result()
        except (asyncio.CancelledError, Exception) as exc:  # noqa: BLE001 - an engine failure is the run's finding
            run.error = f"{type(exc).__name__}: {exc}"

    def _lost_books(self) -> list[str]:
        """Books whose state at the daemon's client differs from the venue's now: a book event
        lost (or misapplied) on the way leaves one."""
        assert self.venues is not None
        daemon = self.runs[-1].daemon
        lost: list[str] = []
        sims: list[tuple[Venue, Any]] = [(Venue.KALSHI, self.venues.kalshi), (Venue.POLYMARKET, self.venues.polymarket)]
        for venue, sim in sims:
            client = daemon.clients.get(venue)
            if sim is None or client is None:
                continue
            for book_id, ladder in sorted(getattr(client, "books", {}).items()):
                engine = sim.engines.get(book_id)
                if engine is None:
                    continue
                venue_levels = (tuple(engine.levels(BookSide.BID)), tuple(engine.levels(BookSide.ASK)))
                if not ladder.trusted or (tuple(ladder.bids()), tuple(ladder.asks())) != venue_levels:
                    lost.append(f"{venue.value}:{book_id}")
        return lost

    def _venue_orders(self) -> list[dict[str, Any]]:
        """The daemon's orders as the venues recorded them, in their order of arrival."""
        assert self.venues is not None
        start = self.scenario.start_wall_ms
        out: list[dict[str, Any]] = []
        kalshi = self.venues.kalshi
        if kalshi is not None:
            for meta in kalshi.orders_of(self.venues.kalshi_key_id):
                order = meta.order
                yes_price = order.price_micro_usd
                price = yes_price if meta.outcome is Side.YES else 1_000_000 - yes_price
                out.append(
                    {
                        "t_ms": meta.created_ms - start,
                        "venue": "kalshi",
                        "market": meta.ticker,
                        "side": meta.outcome.value,
                        "action": meta.action.value,
                        "price": _text(price),
                        "size": _text(order.size_micro),
                        "tif": order.tif.value,
                        "status": order.status.value,
                        "filled": _text(order.filled_micro),
                    }
                )
        polymarket = self.venues.polymarket
        if polymarket is not None:
            for pmeta in polymarket.orders_of(self.venues.polymarket_credentials.api_key):
                spec = polymarket.token_spec[pmeta.token]
                sim_order = pmeta.order
                out.append(
                    {
                        "t_ms": pmeta.created_s * 1000 - start,
                        "venue": "polymarket",
                        "market": pmeta.token,
                        "side": "yes" if pmeta.token == spec.yes_token else "no",
                        "action": "buy" if pmeta.side is BookSide.BID else "sell",
                        "price": _text(pmeta.price_micro),
                        "size": _text(pmeta.size_micro),
                        "tif": pmeta.order_type.lower(),
                        "status": "delayed" if sim_order is None else sim_order.status.value,
                        "filled": _text(0 if sim_order is None else sim_order.filled_micro),
                    }
                )
        return out

    def _observe(self, lost: list[str], orders: list[dict[str, Any]]) -> _Observed:
        summaries = [r.result.summary for r in self.runs if r.result is not None and r.result.summary is not None]
        tallies = [_tally(r.daemon) for r in self.runs]
        ledger = Ledger(self.config.ledger.path)
        try:
            exported = export_ledger(ledger)
            positions = dict(ledger.positions())
        finally:
            ledger.close()
        checks = [r.result.shutdown_check for r in self.runs if r.result is not None]
        starts_ok = all(r.result.exit_code != 3 for r in self.runs if r.result is not None)
        recovery_clean: bool | None = None
        if checks or self.runs:
            recovery_clean = starts_ok and all(c is not None and c.clean for c in checks) and bool(checks)
        exit_ok = all(r.crashed or (r.result is not None and r.result.exit_code == 0) for r in self.runs)
        final = summaries[-1] if summaries and self.runs[-1].result is not None else None
        unhedged = len(final.unhedged_sets) if final is not None else 0
        return _Observed(
            runs=[r.to_json() for r in self.runs],
            summaries=summaries,
            tallies=tallies,
            plans=self.plans,
            events=self.events,
            alerts=self.alerts,
            orders=orders,
            lost_books=lost,
            recovery_clean=recovery_clean,
            exit_ok=exit_ok,
            ledger=exported,
            positions=positions,
            unhedged_sets=unhedged,
        )


def _set_failing(ledger: Ledger, failing: bool) -> None:
    """The ledger's write-failure hook (`Ledger.fail_writes`)."""
    hook: Callable[[bool], None] | None = getattr(ledger, "fail_writes", None)
    if hook is None:
        raise ConfigError("this ledger offers no write-failure hook (Ledger.fail_writes)")
    hook(failing)


def _tally(daemon: Daemon) -> dict[str, Any]:
    tally = daemon.tally
    return {
        "plans_by_status": dict(sorted(tally.plans_by_status.items())),
        "guaranteed_usd": tally.guaranteed_usd,
        "repairs": tally.repairs,
        "incidents_opened": tally.incidents_opened,
    }


def _usd(micro: int) -> Decimal:
    return Decimal(micro) / _MICRO


def _text(micro: int) -> str:
    return decimal_text(Decimal(micro) / _MICRO)


# -- the result ---------------------------------------------------------------------------------------


def _summary_json(summary: RunSummary | None, observed: _Observed, duration_ms: int) -> dict[str, Any] | None:
    """The final daemon's summary without its latencies (compute time: the virtual clock stands
    still while code runs, so they say nothing here), with the run's virtual duration, and the
    counts of every daemon of the run added up."""
    if summary is None:
        return None
    plans: dict[str, int] = {}
    for tally in observed.tallies:
        for status, count in tally["plans_by_status"].items():
            plans[status] = plans.get(status, 0) + count
    out: dict[str, Any] = {}
    for item in dataclasses.fields(summary):
        if item.name == "latencies":
            continue
        value = getattr(summary, item.name)
        if isinstance(value, Decimal):
            value = decimal_text(value)
        elif isinstance(value, Mapping):
            value = {str(k): v for k, v in sorted(value.items())}
        elif isinstance(value, tuple):
            value = list(value)
        out[item.name] = value
    out["duration_s"] = duration_ms / 1000
    out["plans_by_status"] = dict(sorted(plans.items()))
    out["guaranteed_usd"] = decimal_text(sum((t["guaranteed_usd"] for t in observed.tallies), _ZERO))
    out["repairs"] = sum(t["repairs"] for t in observed.tallies)
    out["incidents_opened"] = sum(t["incidents_opened"] for t in observed.tallies)
    out["daemons"] = len(observed.tallies)
    return out


def _result(scenario: Scenario, overrides: Mapping[str, Any], observed: _Observed) -> ReplayResult:
    plans_made = sum(sum(t["plans_by_status"].values()) for t in observed.tallies)
    facts = RunFacts(
        plans=plans_made,
        guaranteed_profit_usd=sum((t["guaranteed_usd"] for t in observed.tallies), _ZERO),
        orders_sent=len(observed.ledger["orders"]),
        positions=observed.positions,
        unhedged_sets=observed.unhedged_sets,
        incidents=len(observed.ledger["incidents"]),
        halts=observed.alerts.halts(),
        alerts=observed.alerts.kinds(),
        recovery_clean=observed.recovery_clean,
        repairs=sum(t["repairs"] for t in observed.tallies),
        lost_events=len(observed.lost_books),
    )
    refused = [e for e in observed.events if not e.applied]
    checks = (
        Check("events_applied", len(observed.events), len(observed.events) - len(refused), not refused),
        Check(
            "daemon_exit",
            "0 (crashed daemons excepted)",
            [r["exit_code"] if not r["error"] else r["error"] for r in observed.runs],
            observed.exit_ok,
        ),
        *check_expectations(scenario.expect, facts),
    )
    final = observed.summaries[-1] if observed.summaries else None
    positions = {
        f"{venue.value}:{market}:{side.value}": _text(size)
        for (venue, market, side), size in sorted(
            observed.positions.items(), key=lambda kv: (kv[0][0].value, kv[0][1], kv[0][2].value)
        )
        if size
    }
    document: dict[str, Any] = {
        "scenario": {
            "name": scenario.name,
            "sha256": scenario.sha256,
            "seed": scenario.seed,
            "duration_s": scenario.duration_ms / 1000,
            "start_wall_ms": scenario.start_wall_ms,
        },
        "overrides": {key: _plain(value) for key, value in sorted(overrides.items())},
        "passed": all(c.passed for c in checks),
        "checks": [c.to_json() for c in checks],
        "summary": _summary_json(final, observed, scenario.duration_ms),
        "daemons": observed.runs,
        "plans": [p.to_json() for p in observed.plans],
        "orders": observed.orders,
        "events": [e.to_json() for e in observed.events],
        "incidents": observed.ledger["incidents"],
        "alerts": observed.alerts.to_json(),
        "positions": positions,
        "lost_books": observed.lost_books,
        "ledger": observed.ledger,
    }
    return ReplayResult(scenario.name, checks, document)


def _plain(value: Any) -> Any:
    """An override's value as JSON (TOML gives str, int, float, bool, lists, tables, dates)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
