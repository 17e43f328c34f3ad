"""`arb run`: venues, books, market graph, scanner, allocator, risk, executor and ledger in one
asyncio (uvloop) process (docs/daemon.md).

Start, in this order (any failure stops the start; nothing trades before recovery is clean):
config (checked by the caller: exit 2 before anything starts) -> ledger -> clients (started; the
Polymarket markets loaded, which its order lookups need) -> `recover()` ->
`Executor.allow_trading(report)` -> metadata (markets and events of every venue) -> graph ->
scanner + allocator -> subscribe -> trade.

Data flow: every client event reaches `_on_event` on the loop: the executor hears it first (order
and fill events of its plans), then a book change marks its component dirty in the scanner (O(1))
and wakes the solver task; nothing else runs on the feed path. The solver task hands one worker
thread call the whole pass: the scanner's drain, the forwarded sets into the one `LiveAllocator`
(withdrawn ones leave it) and the solve (HiGHS releases the GIL; the loop keeps reading sockets
meanwhile); back on the loop it starts one execution task per
plan whose set is not already trading: risk (`plan_context` + the full `RiskGate`) then
`Executor.execute`. A set just traded leaves the allocator until the scanner forwards it again
(its books have moved), so the same stale books are never planned twice. Fills come back as
inventory (the executor's set holdings -> `LiveAllocator.set_inventory`) and committed cash
(ledger cash flows -> the allocator's capital).

Stop: SIGINT/SIGTERM (or the configured duration) stop entries at once (`Executor.stop_entries`, in
memory, so the next start is not blocked; repairs still go out), let the executions under way settle and repair, cancel what
rests, reconcile what is unknown, flush and close the ledger, print the summary and return 0. A
second SIGINT/SIGTERM exits at once (the next start's recovery puts the ledger right).

Kill switch: the `risk.kill_switch_file` (made by `arb kill`) and the `risk.kill_switch_signal`
both stop new plans (the gate checks before every plan) and cancel every resting order; a
watcher notices the file within `_KILL_POLL_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, Decimal
from typing import IO, Any

from arb.book import BinaryBook, OrderBook
from arb.config import AppConfig, Credentials
from arb.daemon.allocation import LiveAllocator
from arb.daemon.settlement import SettlementDivergence, divergences, held_payout_usd, link_id
from arb.daemon.telemetry import AlertSink, LoopLagMonitor, Telemetry, feed_health
from arb.daemon.venues import VenueSource, build_clients
from arb.domain import BookChange, BookSnapshot, EventInfo, Fill, MarketInfo, MarketLifecycle, OrderUpdate, Side, Venue
from arb.errors import ArbError, ConfigError
from arb.execution.context import plan_context
from arb.execution.executor import ExecutionStatus, Executor
from arb.execution.orders import time_in_force_for
from arb.execution.recovery import RecoveryConfig, RecoveryReport, recover
from arb.execution.repair import RepairPlanner, exposure
from arb.graph import Component, MarketGraph, build_graph, contract_id
from arb.ledger.store import Ledger, LedgerUnavailableError, Payout, SettlementResult
from arb.ledger.writer import LedgerWrite, LedgerWriter
from arb.links import CuratedLink
from arb.ops.logs import log_event
from arb.ops.metrics import Metrics, MetricsServer
from arb.ops.notify import WebhookConfig, WebhookNotifier
from arb.ops.summary import RunSummary, RunTally
from arb.ops.view import View
from arb.rebalance import HeldSet, RebalanceConfig, RebalanceInputError, RebalancePlan, Rebalancer, SetMarks
from arb.risk.config import build_risk_gate
from arb.risk.gates import LinkExposure, RiskGate, kelly_cap
from arb.scanner import ScanCandidate, Scanner
from arb.venues.base import VenueClient
from arb.venues.kalshi.client import KalshiClient
from solvers.plan import AllocationResult, SetPlan
from solvers.problem import CandidateSet, Capital, Equivalent

__all__ = ["Daemon", "DaemonResult", "settlement_result"]

log = logging.getLogger("arb.daemon")
_ZERO = Decimal(0)
_CENT = Decimal("0.01")
_KILL_POLL_S = 0.2
_LOOP_LAG_INTERVAL_S = 0.1
_SHUTDOWN_WAIT_S = 30.0
_PRUNE_EVERY_S = 10.0
_KALSHI_LIFECYCLE = "market_lifecycle_v2"  # its resolutions (determined, settled)
_SETTLEMENT_RECHECK_S = 0.1  # a settlement kept while ledger writes fail: how often to look again
_PROBE_UNREACHABLE_S = 1.0  # how often a venue the breakers marked unreachable is probed
_FEED_UNREACHABLE_S = 5.0  # a book socket down this long marks its venue unreachable (a reconnect takes less)
_NO_WALL_LIMIT_MS = 3_600_000.0  # "no limit" for HiGHS: an hour, never reached (its node budget binds first)
_PRUNE_AFTER_NS = (
    600 * 10**9
)  # orders whose fills may fail on chain are kept this long after their answer  # executions under way get this long to settle and repair at shutdown


_RESOLVED_KINDS = frozenset({"determined", "settled", "market_resolved", "resolved"})


def settlement_result(event: MarketLifecycle, market: MarketInfo | None) -> Side | None:
    """The winning side a lifecycle event announces, or None when it announces none or says it
    ambiguously (never guessed): Kalshi's result is "yes"/"no"; Polymarket's is the winning token
    id or outcome label of the market."""
    if event.kind not in _RESOLVED_KINDS or not event.result:
        return None
    result = event.result.strip()
    if event.venue is Venue.KALSHI:
        return {"yes": Side.YES, "no": Side.NO}.get(result.lower())
    if market is None:
        return None
    if market.token_ids is not None and result in market.token_ids:
        return Side.YES if result == market.token_ids[0] else Side.NO
    labels = [label.lower() for label in market.outcome_labels]
    if labels[0] != labels[1] and result.lower() in labels:
        return Side.YES if result.lower() == labels[0] else Side.NO
    return None


def _without_wall_clock_limits(config: AppConfig) -> AppConfig:
    """The configuration with the MIP fallbacks' HiGHS time limits lifted (`Daemon`)."""
    allocator = replace(config.allocator, config=replace(config.allocator.config, mip_time_limit_ms=_NO_WALL_LIMIT_MS))
    return replace(config, allocator=allocator, repair=replace(config.repair, mip_time_limit_ms=_NO_WALL_LIMIT_MS))


def _apply_and_solve(
    allocator: LiveAllocator, ops: list[Callable[[], object]], capital: Capital
) -> AllocationResult | None:
    """The solver task's worker-thread call: the queued allocator changes in order, then the solve."""
    for op in ops:
        op()
    allocator.set_capital(capital)
    return allocator.solve()


@dataclass(slots=True)
class _PassWork:
    """What one solver pass did in its worker thread."""

    forwarded: list[ScanCandidate]
    withdrawn: tuple[str, ...]
    scan_ms: float  # the drain (book_to_scan)
    result: AllocationResult | None = None  # None: nothing to solve
    error: ArbError | None = None  # the solve failed
    solve_ms: float = 0.0  # the allocator changes and the solve (scan_to_plan)


@dataclass(slots=True)
class _RebalanceWork:
    marks: list[SetMarks | ArbError]  # per held set, in order
    sales: list[RebalancePlan]
    error: ArbError | None = None


def _rebalance_work(
    rebalancer: Rebalancer, held: list[HeldSet], books: Mapping[tuple[Venue, str], BinaryBook], capital: Capital
) -> _RebalanceWork:
    """The rebalancing pass's worker-thread part: every held set's marks, then the sales."""
    marks: list[SetMarks | ArbError] = []
    for h in held:
        try:
            marks.append(rebalancer.marks(h.component, books))
        except (RebalanceInputError, ConfigError) as exc:
            marks.append(exc)
    try:
        return _RebalanceWork(marks, rebalancer.propose(held, books, capital))
    except ArbError as exc:
        return _RebalanceWork(marks, [], exc)


@dataclass(slots=True)
class DaemonResult:
    exit_code: int
    summary: RunSummary | None = None
    shutdown_check: RecoveryReport | None = None
    reason: str = ""
    notes: list[str] = field(default_factory=list)


class _BookMap:
    """(venue, market id) -> `BinaryBook` over the clients' own ladders (Kalshi: one ladder per
    ticker; Polymarket: the YES and NO token books of a condition), rebuilt when a client replaced
    a ladder object."""

    def __init__(self, clients: Mapping[Venue, VenueClient]) -> None:
        self._clients = clients
        self._tokens: dict[str, tuple[str, str]] = {}  # Polymarket condition -> (YES token, NO token)
        self._cache: dict[tuple[Venue, str], tuple[OrderBook, OrderBook | None, BinaryBook]] = {}

    def learn(self, markets: list[MarketInfo]) -> None:
        for market in markets:
            if market.venue is Venue.POLYMARKET and market.token_ids is not None:
                self._tokens[market.market_id] = market.token_ids

    def _ladders(self, venue: Venue) -> Mapping[str, OrderBook]:
        client = self._clients.get(venue)
        return getattr(client, "books", {}) if client is not None else {}

    def ladder(self, venue: Venue, book_id: str) -> OrderBook | None:
        return self._ladders(venue).get(book_id)

    def __call__(self, venue: Venue, market_id: str) -> BinaryBook | None:
        ladders = self._ladders(venue)
        if venue is Venue.POLYMARKET:
            tokens = self._tokens.get(market_id)
            if tokens is None:
                return None
            yes, no = ladders.get(tokens[0]), ladders.get(tokens[1])
            if yes is None or no is None:
                return None
        else:
            yes, no = ladders.get(market_id), None
            if yes is None:
                return None
        key = (venue, market_id)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is yes and cached[1] is no:
            return cached[2]
        book = BinaryBook(market_id, yes, no) if no is not None else BinaryBook(market_id, yes)
        self._cache[key] = (yes, no, book)
        return book

    def frozen(self, components: Iterable[Component]) -> dict[tuple[Venue, str], BinaryBook]:
        """Copies of the components' books as they are now, for a worker thread."""
        out: dict[tuple[Venue, str], BinaryBook] = {}
        for component in components:
            for key, book in self.for_component(component).items():
                if key not in out:
                    out[key] = book.copy()
        return out

    def for_component(self, component: Component) -> dict[tuple[Venue, str], BinaryBook]:
        out: dict[tuple[Venue, str], BinaryBook] = {}
        for listing in component.listings:
            key = (listing.venue, listing.market_id)
            if key not in out:
                book = self(*key)
                if book is not None:
                    out[key] = book
        return out


class _ScanBooks:
    """The scanner's book lookup: the live books, or while it drains in a worker thread, the
    copies taken for that drain."""

    def __init__(self, live: _BookMap) -> None:
        self.live = live
        self.frozen: dict[tuple[Venue, str], BinaryBook] | None = None

    def __call__(self, venue: Venue, market_id: str) -> BinaryBook | None:
        frozen = self.frozen
        if frozen is not None:
            return frozen.get((venue, market_id))
        return self.live(venue, market_id)


class Daemon:
    """One run of the engine (module docstring). `run()` returns a `DaemonResult`.

    `clock` (monotonic ns) and `wall_ms` are the only clocks that steer it (ages, timers, solver
    time limits, the stage timings); a replay injects its virtual clock and runs `run()` on a
    `arb.replay.clock.VirtualTimeLoop` with `install_signals=False` and `wall_clock_limits=False`:
    the MIP fallbacks (allocator, repairs, rebalancing) then get no real-time limit from HiGHS
    (`_NO_WALL_LIMIT_MS`), so their node budgets bind and no plan depends on the machine's load (on
    the virtual clock their own deadline never passes). `alerts` receives every alert instead of
    the configured webhook (a replay records them)."""

    def __init__(
        self,
        config: AppConfig,
        credentials: Credentials,
        source: VenueSource,
        *,
        stream: IO[str] | None = None,
        view: View | None = None,
        metrics: Metrics | None = None,
        install_signals: bool = True,
        clock: Callable[[], int] = time.monotonic_ns,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        alerts: AlertSink | None = None,
        wall_clock_limits: bool = True,
    ) -> None:
        if not wall_clock_limits:
            config = _without_wall_clock_limits(config)
        self.wall_clock_limits = wall_clock_limits
        self.config = config
        self.credentials = credentials
        self.source = source
        self.stream = stream or sys.stdout
        self.install_signals = install_signals
        self._clock = clock
        self._wall_ms = wall_ms
        self._view = view
        self._metrics = metrics
        self._metrics_server: MetricsServer | None = None
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._signals = 0
        self._stopping = False
        self._wake = asyncio.Event()
        self._first_event_ns: int | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._allocator_ops: list[Callable[[], object]] = []  # for the solver task's worker thread
        self._executions: dict[str, asyncio.Task[None]] = {}
        self._link_notional: dict[str, Decimal] = {}
        self._links_by_pair: dict[tuple[str, str], CuratedLink] = {}
        self._links: tuple[CuratedLink, ...] = ()
        self._settled_paid: dict[tuple[Venue, str], Decimal] = {}  # what each settlement paid our positions
        self._settlements: set[asyncio.Task[None]] = set()  # settlements waiting for the writer
        self._traded: dict[str, Component] = {}  # every set this run sent orders for
        self.sales = 0
        self._markets: dict[Venue, list[MarketInfo]] = {}
        self._events: dict[Venue, list[EventInfo]] = {}
        self._subscribed: set[tuple[Venue, str]] = set()
        self.ledger: Ledger | None = None
        self.ledger_writer: LedgerWriter | None = None  # every write while trading: off the loop, in order
        self._pnl_task: asyncio.Task[None] | None = None
        self.clients: dict[Venue, VenueClient] = {}
        self.books = _BookMap(self.clients)
        self._scan_books = _ScanBooks(self.books)
        self._draining = False  # the scanner is draining in a worker thread
        self._pending_changes: list[tuple[Venue, str]] = []
        # committed cash at a ledger revision: every solver pass and plan reads it, and the fills
        # scan behind it grows with the run, so it is recomputed only after a ledger write
        self._committed_at: tuple[int, dict[str, Decimal]] | None = None
        self._reserved_usd: dict[str, dict[str, Decimal]] = {}  # set id -> cash its execution may spend
        self._unbooked: list[tuple[dict[str, Decimal], dict[str, int]]] = []  # (reserved, filled per order)
        self._booked_at: tuple[int, dict[str, int]] | None = None  # ledger revision, filled per order
        self.gate: RiskGate | None = None
        self.executor: Executor | None = None
        self.graph: MarketGraph | None = None
        self.scanner: Scanner | None = None
        self.allocator: LiveAllocator | None = None
        self.tally = RunTally(
            mode=f"{config.run.mode}/{config.run.venues}",
            started_s=self._seconds(),
            bankroll_usd=sum(config.risk.limits.cash_per_venue_usd.values(), _ZERO),
        )
        self.notifier: WebhookNotifier | None = None
        if alerts is None and config.notifications.enabled and credentials.webhook_url is not None:
            notes = config.notifications
            self.notifier = WebhookNotifier(
                WebhookConfig(credentials.webhook_url, notes.format, timeout_s=notes.timeout_s),
                wall_s=lambda: self._wall_ms() / 1000.0,
            )
        self.telemetry = Telemetry(
            metrics=metrics,
            tally=self.tally,
            view=view,
            notifier=alerts if alerts is not None else self.notifier,
            logger=log,
            monotonic_s=lambda: self._clock() / 1e9,
            wall_s=lambda: self._wall_ms() / 1000.0,
        )
        self.loop_lag = LoopLagMonitor(self.telemetry.loop_lag, clock=self._seconds, interval_s=0.01)
        self.kill_cancels = 0
        self.started = asyncio.Event()  # trading has started (tests wait on it)

    def _seconds(self) -> float:
        """The injected monotonic clock in seconds."""
        return self._clock() / 1e9

    # -- signals --------------------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals > 1:
            # a second signal: leave now; the next start's recovery reconciles what was in flight
            os.write(2, f"arb: second {name}: exiting at once\n".encode())
            os._exit(128 + signum)
        log_event(log, logging.INFO, "shutdown_requested", signal=name)
        self.request_stop(f"signal {name}")

    def _on_kill_signal(self, signum: int) -> None:
        if self.executor is None:  # before trading: the gate refuses from the first plan on
            if self.gate is not None:
                self.gate.kill_switch.engage(f"signal {signal.Signals(signum).name}")
            return
        log_event(log, logging.WARNING, "kill_switch", source="signal", signal=signal.Signals(signum).name)
        self.telemetry.halt(f"kill switch: signal {signal.Signals(signum).name}")
        self.executor.kill(f"signal {signal.Signals(signum).name}")

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        installed: list[int] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)
            installed.append(signum)
        kill_signal = self.config.risk.kill_switch_signal
        if kill_signal is not None:
            loop.add_signal_handler(kill_signal, self._on_kill_signal, kill_signal)
            installed.append(kill_signal)
        return installed

    # -- run ------------------------------------------------------------------------------------------
    async def run(self) -> DaemonResult:
        loop = asyncio.get_running_loop()
        installed = self._install_signals(loop) if self.install_signals else []
        result = DaemonResult(0)
        try:
            result = await self._run()
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
        return result

    async def _run(self) -> DaemonResult:
        config = self.config
        settings = config.risk
        self.gate = build_risk_gate(
            settings,
            monotonic_s=lambda: self._clock() / 1e9,
            wall_s=lambda: self._wall_ms() / 1000.0,
            notify=self.telemetry.halt,
        )
        config.ledger.path.parent.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(config.ledger.path, synchronous=config.ledger.synchronous)
        log_event(log, logging.INFO, "ledger_open", path=str(config.ledger.path))
        result = DaemonResult(0)
        try:
            self.ledger_writer = LedgerWriter(self.ledger)
            self.ledger_writer.listen(on_failing=self._ledger_failing, on_healed=self._ledger_healed)
            async with self.source as source:
                result = await self._with_venues(source)
        finally:
            if self.ledger_writer is not None:
                await self.ledger_writer.aclose(timeout_s=5.0)
            self.ledger.close()
        return result

    def _ledger_failing(self, error: LedgerUnavailableError) -> None:
        """Writes fail (the disk): entries halt (the executor refuses every plan while the writer is
        failing), one halt alert; the writes are kept in memory and retried."""
        self.telemetry.halt(f"ledger writes failing: {error}; entries halt, writes kept and retried")

    def _ledger_healed(self, kept: int) -> None:
        log_event(log, logging.WARNING, "ledger_healed", written=kept)
        if self.telemetry.halted.startswith("ledger writes failing"):
            self.telemetry.resume()

    async def _with_venues(self, source: VenueSource) -> DaemonResult:
        config = self.config
        assert self.ledger is not None and self.gate is not None
        paper_cash = None
        if config.run.venues == "configured" and config.run.mode == "paper":
            paper_cash = dict(config.risk.limits.cash_per_venue_usd)
        self.clients.update(
            build_clients(
                source.endpoints,
                self._on_event,
                paper_cash_usd=paper_cash,
                seed=config.run.scenario.seed,
                clock=self._clock,
                wall_ms=self._wall_ms,
            )
        )
        try:
            return await self._with_clients(source)
        finally:
            # executions (and sales) are tasks of their own: abandoned (this task cancelled, a
            # crash within the process) they would go on sending and writing through closed
            # clients and a closed ledger; the journal and the next start's recovery settle them
            executions = list(self._executions.values())
            for task in [*self._tasks, *executions]:
                task.cancel()
            await asyncio.gather(*self._tasks, *executions, return_exceptions=True)
            if self.executor is not None:
                await self.executor.cancel_background()
            for client in self.clients.values():
                with contextlib.suppress(Exception):
                    await client.close()
            if self._metrics_server is not None:
                self._metrics_server.stop()

    async def _with_clients(self, source: VenueSource) -> DaemonResult:
        config = self.config
        assert self.ledger is not None and self.gate is not None
        for client in self.clients.values():
            await client.start()
        if Venue.POLYMARKET in self.clients:  # its order lookups need the markets (recovery)
            self._markets[Venue.POLYMARKET] = await self.clients[Venue.POLYMARKET].markets()
        report = await recover(
            self.ledger, self.clients, wall_ms=self._wall_ms, clock=self._clock, config=RecoveryConfig()
        )
        log_event(
            log,
            logging.INFO if report.clean else logging.ERROR,
            "recovery",
            clean=report.clean,
            differences=len(report.differences),
            resolved=len(report.resolved),
            cancelled=len(report.cancelled),
            fills_applied=report.fills_applied,
        )
        repair = RepairPlanner(config.repair, now_ns=self._clock, clock=self._seconds)
        cash = dict(config.risk.limits.cash_per_venue_usd)
        ids = itertools.count(1)
        run_tag = f"r{self._wall_ms()}"
        self.executor = Executor(
            self.ledger,
            self.clients,
            self.gate,
            repair=repair,
            capital=Capital(cash),
            config=config.executor,
            clock=self._clock,
            wall_ms=self._wall_ms,
            intent_ids=lambda: f"{run_tag}-{next(ids)}",
            writer=self.ledger_writer,
        )
        try:
            self.executor.allow_trading(report)
        except ArbError as exc:
            log_event(log, logging.ERROR, "recovery_not_clean", error=str(exc))
            return DaemonResult(3, reason=f"recovery found differences: {exc}")
        if self._stop.is_set():
            return await self._shutdown()
        await self._load_metadata()
        self.graph = self._build_graph(source)
        self.telemetry.graph(self.graph.components, links=self._links)
        self.scanner = Scanner(self.graph.components, self._scan_books, now_ns=self._clock, config=config.scanner)
        self.allocator = LiveAllocator(
            self._capital(), config=config.allocator.config, backend=config.allocator.backend, clock=self._seconds
        )
        await self._subscribe()
        if config.metrics.enabled and self._metrics is not None:
            self._metrics_server = self._metrics.serve(config.metrics.port, config.metrics.host)
            log_event(log, logging.INFO, "metrics_serving", url=self._metrics_server.url)
        log_event(
            log,
            logging.INFO,
            "trading",
            components=len(self.graph.components),
            markets=sum(len(m) for m in self._markets.values()),
            links=len(self._links),
        )
        self._spawn(self._solver_loop(), "solver")
        self._spawn(self._sweep_loop(), "sweep")
        self._spawn(self._kill_watch(), "kill-watch")
        self._spawn(self._partition_watch(), "partition-watch")
        self._spawn(self.loop_lag.run(), "loop-lag")
        self._spawn(self._view_loop(), "view")
        if self.notifier is not None:
            self._spawn(self.notifier.run(), "notifier")
        if config.rebalance.enabled:
            self._spawn(self._rebalance_loop(), "rebalance")
        if config.graph.metadata_refresh_s > 0:
            self._spawn(self._refresh_loop(source), "metadata-refresh")
        if config.run.duration_s is not None:
            self._spawn(self._duration(config.run.duration_s), "duration")
        self.started.set()
        self._wake.set()
        await self._stop.wait()
        return await self._shutdown()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:  # a loop died: stop cleanly rather than trade half-wired
            log_event(log, logging.ERROR, "task_failed", task=task.get_name(), error=f"{type(exc).__name__}: {exc}")
            self.request_stop(f"task {task.get_name()} failed: {type(exc).__name__}: {exc}")

    async def _duration(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.request_stop(f"duration {seconds:g} s reached")

    # -- metadata and graph ---------------------------------------------------------------------------
    async def _load_metadata(self) -> None:
        for venue, client in self.clients.items():
            markets = await client.markets()
            events_call = getattr(client, "events", None)
            if events_call is None:  # a PaperVenue: the inner client knows the events
                inner = getattr(client, "inner", None)
                events_call = getattr(inner, "events", None)
            events = await events_call() if events_call is not None else []
            self._markets[venue] = markets
            self._events[venue] = events
            self.books.learn(markets)
            for event in events:
                self.books.learn(list(event.markets))

    def _build_graph(self, source: VenueSource) -> MarketGraph:
        markets = [m for ms in self._markets.values() for m in ms]
        events = [e for es in self._events.values() for e in es]
        every_market = markets + [m for e in events for m in e.markets]
        self._links = source.links(every_market)
        graph = build_graph(markets, events, self._links, config=source.graph_config)
        by_gamma = {m.venue_market_id: m.market_id for m in every_market if m.venue is Venue.POLYMARKET}
        self._links_by_pair = {}
        for link in self._links:  # a link file may name only the Gamma id: key by condition id
            condition = link.polymarket_condition_id or by_gamma.get(link.polymarket_market_id, "")
            self._links_by_pair[(contract_id(Venue.KALSHI, link.kalshi_ticker), condition)] = link
        return graph

    async def _subscribe(self) -> None:
        assert self.graph is not None
        wanted: dict[Venue, list[MarketInfo]] = {}
        for market in self.graph.markets.values():
            key = (market.venue, market.market_id)
            if key not in self._subscribed:
                wanted.setdefault(market.venue, []).append(market)
                self._subscribed.add(key)
        for venue, markets in wanted.items():
            client = self.clients.get(venue)
            if client is not None and markets:
                await client.subscribe(markets)
                # Kalshi announces a market's resolution on its lifecycle channel, which a book
                # subscription does not include (Polymarket's market socket carries it already)
                kalshi = getattr(client, "inner", client)  # a PaperVenue's inner client
                if isinstance(kalshi, KalshiClient):
                    await kalshi.subscribe(markets, channels=(_KALSHI_LIFECYCLE,))

    async def _refresh_loop(self, source: VenueSource) -> None:
        interval = self.config.graph.metadata_refresh_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self._load_metadata()
            except ArbError as exc:
                log_event(log, logging.WARNING, "metadata_refresh_failed", error=str(exc))
                continue
            graph = self._build_graph(source)
            assert self.graph is not None and self.scanner is not None
            if graph.components == self.graph.components:
                continue
            while self._draining:  # the scanner is in the solver's thread: wait for its turn
                await asyncio.sleep(0.01)
            self.scanner.replace_components(graph.components)
            self.graph = graph
            self.telemetry.graph(graph.components, links=self._links)
            await self._subscribe()
            log_event(log, logging.INFO, "graph_rebuilt", components=len(graph.components))
            self._wake.set()

    # -- events (the feed path: O(1) work, nothing awaits) ----------------------------------------------
    def _on_event(self, event: Any) -> None:
        executor = self.executor
        if executor is not None:
            executor.on_event(event)
        if isinstance(event, BookSnapshot | BookChange):
            # feed_to_book: the frame's receipt (the client stamps its ladder with it) to its event here
            ladder = self.books.ladder(event.venue, event.book_id)
            if ladder is not None and ladder.last_update_ns is not None:
                self.telemetry.stage("feed_to_book", (self._clock() - ladder.last_update_ns) / 1e6)
            lag = None
            if event.exchange_ts_ms is not None:
                lag = (self._wall_ms() - event.exchange_ts_ms) / 1000.0
            self.telemetry.book_event(event.venue, event.market_id, lag)
            scanner = self.scanner
            if scanner is None:
                return
            if self._draining:  # the scanner is busy in the solver's thread: its turn comes after
                self._pending_changes.append((event.venue, event.market_id))
            elif not scanner.on_book_change(event.venue, event.market_id):
                return  # a market of no component
            if self._first_event_ns is None:
                self._first_event_ns = self._clock()
            self._wake.set()
        elif isinstance(event, MarketLifecycle):
            self._on_lifecycle(event)
        elif isinstance(event, OrderUpdate):
            self.telemetry.order(event)
        elif isinstance(event, Fill):
            self.telemetry.fill(event)

    def _on_lifecycle(self, event: MarketLifecycle) -> None:
        """A market resolved: the ledger pays what is held in it (once; a repeat is a duplicate)."""
        market = next((m for m in self._markets.get(event.venue, ()) if m.market_id == event.market_id), None)
        side = settlement_result(event, market)
        if side is None:
            if event.kind in _RESOLVED_KINDS:
                log_event(log, logging.WARNING, "settlement_unclear", venue=event.venue.value, market=event.market_id)
            return
        assert self.ledger_writer is not None
        now_ms = self._wall_ms()
        key = (event.venue, event.market_id)
        Found = list[tuple[SettlementDivergence, list[tuple[str, int]]]]

        def settle(ledger: Ledger) -> Found:  # in order with the fills before it, off the loop
            paid = held_payout_usd(ledger, event.venue, event.market_id, Payout.won(side))
            outcome = ledger.record_settlement(event.venue, event.market_id, side, now_ms=now_ms)
            log_event(
                log,
                logging.INFO,
                "settlement",
                venue=event.venue.value,
                market=event.market_id,
                won=side.value,
                result=outcome.value,
            )
            if outcome is not SettlementResult.APPLIED:
                return []
            self._settled_paid[key] = paid
            found: Found = []
            for divergence in divergences(
                ledger, self._links_by_pair, event.venue, event.market_id, self._settled_paid
            ):
                incidents = [
                    (set_id, ledger.open_incident(set_id, divergence.message, now_ms=now_ms))
                    for set_id in self._divergence_sets(divergence)
                ]
                found.append((divergence, incidents))
            return found

        def refused(exc: ArbError) -> None:
            log_event(log, logging.ERROR, "settlement_refused", market=event.market_id, error=str(exc))

        job = self.ledger_writer.submit(settle, f"settlement {event.venue.value}/{event.market_id}", on_error=refused)
        if job.done:
            self._after_settlement(job)
        else:  # the gate and the alert follow on the loop once the settlement is on file
            task = asyncio.get_running_loop().create_task(self._settled(job), name="settlement")
            self._settlements.add(task)
            task.add_done_callback(self._settlements.discard)

    async def _settled(self, job: LedgerWrite[list[tuple[SettlementDivergence, list[tuple[str, int]]]]]) -> None:
        assert self.ledger_writer is not None
        while not job.done and not job.withdrawn:
            await self.ledger_writer.settled(job)  # False while writes fail: the job is kept, retried
            if not job.done:
                await asyncio.sleep(_SETTLEMENT_RECHECK_S)
        self._after_settlement(job)

    def _after_settlement(self, job: LedgerWrite[list[tuple[SettlementDivergence, list[tuple[str, int]]]]]) -> None:
        if job.error is not None or not job.result:
            return
        for divergence, incidents in job.result:
            self._on_divergence(divergence, incidents)

    def _divergence_sets(self, divergence: SettlementDivergence) -> list[str]:
        """The sets holding the link's contracts (the graph's components), else the link itself."""
        link = divergence.link
        contracts = {
            contract_id(Venue.KALSHI, link.kalshi_ticker),
            contract_id(Venue.POLYMARKET, divergence.polymarket_condition_id),
        }
        components = self.graph.components if self.graph is not None else ()
        return sorted(c.id for c in components if contracts & set(c.contracts)) or [link_id(link)]

    def _on_divergence(self, divergence: SettlementDivergence, incidents: list[tuple[str, int]]) -> None:
        """Linked markets resolved differently: both results are booked as the venues paid them;
        every set holding the link's contracts has an incident on file (opened with the
        settlement), the gate takes no new entry on it, and the alert goes out."""
        assert self.gate is not None
        link = divergence.link
        message = divergence.message
        for set_id, incident in incidents:
            self.gate.incidents.open(set_id, message)
            self.telemetry.incident(
                "settlement_divergence",
                message,
                set_id=set_id,
                severity="critical",
                details={
                    "incident": str(incident),
                    "link": link_id(link),
                    "settlement_risk": link.settlement_risk.value,
                    "result_usd": str(divergence.result_usd),
                },
            )

    # -- solving and trading ---------------------------------------------------------------------------
    def _capital(self) -> Capital:
        """Per venue: the configured cash minus what positions already hold (ledger cash flows)
        and what executions under way may still spend."""
        committed = self._committed_and_reserved()
        limits = self.config.risk.limits.cash_per_venue_usd
        return Capital({venue: max(_ZERO, cap - committed.get(venue, _ZERO)) for venue, cap in limits.items()})

    def _committed_cash(self) -> dict[str, Decimal]:
        assert self.ledger is not None
        revision = self.ledger.revision
        if self._committed_at is not None and self._committed_at[0] == revision:
            return dict(self._committed_at[1])
        spent: dict[str, Decimal] = {}
        for (venue, _market), flow in self.ledger.market_cash_flows().items():
            spent[venue.value] = spent.get(venue.value, _ZERO) - flow
        committed = {venue: max(_ZERO, amount) for venue, amount in spent.items()}
        self._committed_at = (revision, committed)
        return dict(committed)

    def _committed_and_reserved(self, excluding: str | None = None) -> dict[str, Decimal]:
        """Committed cash plus, per venue, the cash each plan under way (but `excluding`) may
        spend: its fills reach the ledger only after its last answer, and a solver pass or a
        risk check meanwhile must not hand the same cash to another plan (the venue would refuse
        that plan's orders for want of balance, leaving its other legs unhedged)."""
        committed = self._committed_cash()
        held = [r for set_id, r in self._reserved_usd.items() if set_id != excluding]
        if self._unbooked:
            # fills the executor heard may reach the ledger later (its writes wait while any
            # plan's sends are out): a finished plan holds its cash until they are booked
            assert self.ledger is not None
            revision = self.ledger.revision
            if self._booked_at is None or self._booked_at[0] != revision:
                self._booked_at = (revision, self.ledger.filled_by_order())
            booked = self._booked_at[1]
            self._unbooked = [
                (r, f) for r, f in self._unbooked if any(booked.get(cid, 0) < size for cid, size in f.items())
            ]
            held.extend(r for r, _ in self._unbooked)
        for reserved in held:
            for venue, amount in reserved.items():
                committed[venue] = committed.get(venue, _ZERO) + amount
        return committed

    def _limited(self, candidate: CandidateSet, score_micro_usd: int) -> CandidateSet | None:
        """The set with its risk limits: its cost at most the risk gate's partial-fill loss bound;
        a set leaning on a settlement-risk link may commit at most
        the Kelly cap of that link (fraction x Kelly stake x bankroll, the scanner's edge per
        contract as the edge); None when the cap is zero (the link's class is not traded)."""
        limits = self.config.risk.limits
        # a buy-only plan can lose at most its cost when only some legs fill: capping the cost at
        # the gate's partial-fill loss bound sizes plans the gate can pass
        current = candidate.limits.max_cost_usd
        bound = limits.max_partial_fill_loss_usd
        if current is None or current > bound:
            candidate = replace(candidate, limits=replace(candidate.limits, max_cost_usd=bound))
        risky = [r for r in candidate.relations if isinstance(r, Equivalent) and r.settlement_risk]
        if not risky:
            return candidate
        edge = Decimal(max(score_micro_usd, 1)) / Decimal(1_000_000)
        cap: Decimal | None = None
        for relation in risky:
            link = self._link_of(relation)
            risk_class = link.settlement_risk.value if link is not None else "unknown"
            probability = limits.disagreement_probability_per_link_class.get(risk_class)
            if probability is None:
                return None
            link_cap = kelly_cap(edge, probability, limits.kelly_fraction, self.tally.bankroll_usd)
            cap = link_cap if cap is None else min(cap, link_cap)
        if cap is None or cap <= 0:
            return None
        current = candidate.limits.max_cost_usd
        new_cap = cap if current is None else min(current, cap)
        return replace(
            candidate, limits=replace(candidate.limits, max_cost_usd=new_cap.quantize(_CENT, rounding=ROUND_FLOOR))
        )

    def _link_of(self, relation: Equivalent) -> CuratedLink | None:
        for a, b in ((relation.a, relation.b), (relation.b, relation.a)):
            if a.startswith("kalshi:") and b.startswith("polymarket:"):
                return self._links_by_pair.get((a, b.split(":", 1)[1]))
        return None

    async def _solver_loop(self) -> None:
        assert self.scanner is not None and self.allocator is not None
        scanner, allocator = self.scanner, self.allocator
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            tick_ns, self._first_event_ns = self._first_event_ns, None
            # allocator changes queued by other tasks (inventory after fills, traded sets parked)
            # go first; the pass adds the scanner's and applies them all just before its solve
            ops = self._allocator_ops
            self._allocator_ops = []
            work = await self._pass_off_loop(scanner, allocator, ops)
            if scanner.dirty_ids:
                self._wake.set()  # more than one pass's worth: the rest next turn
            self.telemetry.candidates(work.forwarded, work.withdrawn)
            self.telemetry.stage("book_to_scan", work.scan_ms)
            if work.error is not None:
                log_event(log, logging.WARNING, "solve_failed", error=str(work.error))
                continue
            result = work.result
            if result is None or self._stopping:
                continue
            timings = {"scan_to_plan": work.solve_ms}
            if tick_ns is not None and result.plans:
                timings["tick_to_plan"] = (self._clock() - tick_ns) / 1e6
            self.telemetry.plan(result, timings)
            for plan in result.plans:
                if not plan.legs or plan.set_id in self._executions:
                    continue
                # traded: parked (no books) before the next solve, planned again only when the
                # scanner forwards it with fresh books
                self._allocator_ops.append(functools.partial(allocator.park, plan.set_id))
                self._start_execution(plan, tick_ns)

    def _allocator_changes(
        self, forwarded: list[ScanCandidate], withdrawn: Iterable[str], trading: frozenset[str]
    ) -> list[Callable[[], object]]:
        """What the scanner's pass changes in the allocator: withdrawn sets parked (back with a book
        update if forwarded again), each forwarded set in with its risk limits, a set with an open
        incident out (the gate refuses its plans), a set trading now left alone (its next forward
        brings fresh books). Runs in the pass's worker thread: reads only configuration, links and
        the incidents map (one dict lookup a set)."""
        allocator = self.allocator
        assert allocator is not None
        ops: list[Callable[[], object]] = [functools.partial(allocator.park, set_id) for set_id in withdrawn]
        incidents = self.gate.incidents if self.gate is not None else None
        for candidate in forwarded:
            set_id = candidate.component_id
            if set_id in trading:
                continue
            limited = None
            if incidents is None or incidents.check(set_id) is None:
                limited = self._limited(candidate.candidate_set, candidate.score_micro_usd)
            if limited is None:
                ops.append(functools.partial(allocator.remove, set_id))
                continue
            ops.append(functools.partial(allocator.upsert, limited))
        return ops

    def _scan_and_solve(
        self,
        scanner: Scanner,
        allocator: LiveAllocator,
        ops: list[Callable[[], object]],
        capital: Capital,
        trading: frozenset[str],
    ) -> _PassWork:
        """The solver pass's worker-thread part, one hop off the loop: the scanner's drain on the
        copied books, the allocator changes it implies, then (when the allocator has anything)
        the queued changes applied and the solve. One hop rather than two: under load every hop
        waits for a core and for the GIL, and the tick-to-plan latency paid for each."""
        # the injected clock: a replay's virtual one keeps reported timings reproducible
        t0 = self._clock()
        forwarded = scanner.drain(self.config.run.max_sets_per_solve)
        withdrawn = scanner.take_withdrawn()
        t1 = self._clock()
        work = _PassWork(forwarded, withdrawn, (t1 - t0) / 1e6)
        ops.extend(self._allocator_changes(forwarded, withdrawn, trading))
        if not ops and not allocator.active_ids:
            return work
        try:
            work.result = _apply_and_solve(allocator, ops, capital)
        except ArbError as exc:
            work.error = exc
        work.solve_ms = (self._clock() - t1) / 1e6
        return work

    async def _pass_off_loop(
        self, scanner: Scanner, allocator: LiveAllocator, ops: list[Callable[[], object]]
    ) -> _PassWork:
        """`_scan_and_solve` in a worker thread, the scanner on copies of the dirty components' books
        (taken on the loop, microseconds per ladder): its bounds, LPs and the solve never stall the
        feed. Meanwhile book events are queued, not given to the scanner, and replayed after (the
        scanner has one owner at a time), and the sweep and a graph refresh wait for the next turn;
        the allocator is only ever touched from this call."""
        assert self.graph is not None
        frozen: dict[tuple[Venue, str], BinaryBook] = {}
        for component_id in scanner.dirty_ids:
            try:
                component = self.graph.component(component_id)
            except KeyError:
                continue
            for listing in component.listings:
                key = (listing.venue, listing.market_id)
                if key not in frozen:
                    book = self.books(*key)
                    if book is not None:
                        frozen[key] = book.copy()
        capital = self._capital()
        trading = frozenset(self._executions)
        self._scan_books.frozen = frozen
        self._draining = True
        try:
            work = await asyncio.to_thread(self._scan_and_solve, scanner, allocator, ops, capital, trading)
        except asyncio.CancelledError:
            raise  # shutting down: the thread may still be draining, so the scanner stays its own
        except BaseException:
            self._end_drain(scanner)
            raise
        self._end_drain(scanner)
        return work

    def _end_drain(self, scanner: Scanner) -> None:
        self._scan_books.frozen = None
        self._draining = False
        pending, self._pending_changes = self._pending_changes, []
        for venue, market_id in pending:
            if scanner.on_book_change(venue, market_id):
                self._wake.set()

    def _start_execution(self, plan: SetPlan, tick_ns: int | None = None) -> None:
        task = asyncio.get_running_loop().create_task(self._execute(plan, tick_ns), name=f"execute {plan.set_id}")
        self._executions[plan.set_id] = task
        set_id = plan.set_id
        # held until the execution ends (its fills are in the ledger by then)
        self._reserved_usd[set_id] = {v: c for v, c in plan.capital_by_venue_usd.items() if c > 0}

        def finished(_task: asyncio.Task[None]) -> None:
            self._executions.pop(set_id, None)
            self._reserved_usd.pop(set_id, None)

        task.add_done_callback(finished)

    async def _execute(self, plan: SetPlan, tick_ns: int | None = None) -> None:
        assert self.executor is not None and self.graph is not None and self.allocator is not None
        executor = self.executor
        try:
            component = self.graph.component(plan.set_id)
        except KeyError:
            return
        books = self.books.for_component(component)
        try:
            context = plan_context(
                plan,
                component,
                books,
                time_in_force=lambda venue: time_in_force_for(
                    executor.clients[venue].capabilities, executor.config.orders, venue
                ),
                holdings_by_instrument=executor.set_position(component)[0],
                committed_cash_usd=self._committed_and_reserved(excluding=plan.set_id),
                open_plans=len(self._executions) - 1,
                links=self._link_exposures(plan, component),
                link_notional_usd=dict(self._link_notional),
                bankroll_usd=self.tally.bankroll_usd,
            )
        except ConfigError as exc:
            log_event(log, logging.WARNING, "plan_context_failed", set_id=plan.set_id, error=str(exc))
            return
        called_ns = self._clock()
        log_event(log, logging.INFO, "executing", set_id=plan.set_id, legs=len(plan.legs))
        try:
            report = await executor.execute(plan, component, books, context)
        except ArbError as exc:
            log_event(log, logging.ERROR, "execute_failed", set_id=plan.set_id, error=str(exc))
            return
        filled = {o.client_order_id: o.filled_micro for o in report.orders if o.filled_micro}
        reserved = self._reserved_usd.get(plan.set_id)
        if filled and reserved:  # held until the ledger has booked what the plan's orders filled
            self._unbooked.append((reserved, filled))
        self.telemetry.stage("execute", (self._clock() - called_ns) / 1e6)
        self.telemetry.execution(report, plan.guaranteed_profit_usd)
        if tick_ns is not None and report.plan_latency_ms is not None:
            # tick_to_ack: the pass's first book event to the execute call, plus its plan_to_ack
            self.telemetry.stage("tick_to_ack", (called_ns - tick_ns) / 1e6 + report.plan_latency_ms)
        log_event(
            log,
            logging.INFO,
            "plan",
            set_id=plan.set_id,
            status=report.status.value,
            reason=report.reason,
            legs=len(plan.legs),
            guaranteed_usd=str(plan.guaranteed_profit_usd),
            repairs=list(report.repairs),
            refusals=[f"{r.gate}: {r.reason}" for r in report.refusals],
        )
        if report.status in (ExecutionStatus.COMPLETE, ExecutionStatus.REPAIRED):
            for link in context.links:
                self._link_notional[link.risk_class] = (
                    self._link_notional.get(link.risk_class, _ZERO) + link.notional_usd
                )
        if report.status is not ExecutionStatus.REFUSED:
            self._traded[plan.set_id] = component
            self._after_fills()

    def _link_exposures(self, plan: SetPlan, component: Component) -> tuple[LinkExposure, ...]:
        exposures = []
        for relation in component.relations:
            if not isinstance(relation, Equivalent):
                continue
            link = self._link_of(relation)
            if link is None:
                continue
            notional = sum(
                (abs(leg.cash_flow_usd) for leg in plan.legs if leg.contract in (relation.a, relation.b)), _ZERO
            )
            if notional <= 0:
                continue
            edge = plan.guaranteed_profit_usd / notional if plan.guaranteed_profit_usd > 0 else _ZERO
            exposures.append(
                LinkExposure(
                    f"{link.kalshi_ticker}~{link.polymarket_market_id}",
                    link.settlement_risk.value,
                    notional,
                    edge=edge if relation.settlement_risk else _ZERO,
                )
            )
        return tuple(exposures)

    def _after_fills(self) -> None:
        """Fills are inventory: the executor's set holdings go to the allocator, the ledger's cash
        flows to its capital; the P&L metric follows."""
        assert self.executor is not None and self.allocator is not None and self.graph is not None
        inventory: dict[str, Decimal] = {}
        for component in self._traded.values():
            holdings, _ = self.executor.set_position(component)
            inventory.update({k: v for k, v in holdings.items() if v})
        # applied by the solver task before its next solve (never while a solve runs in its thread)
        self._allocator_ops.append(functools.partial(self.allocator.set_inventory, inventory))
        self._wake.set()
        self._refresh_pnl()
        self.telemetry.capital(sum(self._committed_cash().values(), _ZERO))

    def _refresh_pnl(self) -> None:
        """The P&L metric, replayed from every fill in a worker thread (`LedgerWriter.pnl`); one
        refresh at a time (a refresh asked meanwhile is covered by the next view tick)."""
        if self._pnl_task is None or self._pnl_task.done():
            self._pnl_task = asyncio.get_running_loop().create_task(self._publish_pnl(), name="pnl")

    async def _publish_pnl(self) -> None:
        assert self.ledger is not None and self.ledger_writer is not None
        try:
            pnl = await self.ledger_writer.pnl()
        except ArbError as exc:
            log_event(log, logging.ERROR, "pnl_failed", error=str(exc))
            return
        self.telemetry.pnl(pnl, open_incidents=self.ledger.open_incidents())

    # -- rebalancing ---------------------------------------------------------------------------------
    async def _rebalance_loop(self) -> None:
        """Every `rebalance.interval_s`: held sets marked at the projection's coherent prices (the
        ledger's unrealised P&L) and re-solved with their inventory; a basket whose bids lock in at
        least `rebalance.min_edge_usd` more than holding it is sold, and the released cash goes
        back to the entry allocator's capital."""
        settings = self.config.rebalance
        rebalancer = Rebalancer(
            self.rebalance_config(),
            now_ns=self._clock,
            clock=self._seconds,
        )
        while True:
            await asyncio.sleep(settings.interval_s)
            await self._rebalance_pass(rebalancer)

    def rebalance_config(self) -> RebalanceConfig:
        settings = self.config.rebalance
        config = RebalanceConfig(
            min_edge_usd=settings.min_edge_usd,
            interval_s=settings.interval_s,
            max_book_age_ms=self.config.scanner.max_book_age_ms,
        )
        return config if self.wall_clock_limits else replace(config, mip_time_limit_ms=_NO_WALL_LIMIT_MS)

    async def _rebalance_pass(self, rebalancer: Rebalancer) -> None:
        """The marks and the re-solves (projections, HiGHS: 10-20 ms a pass measured on the loop)
        run in a worker thread on copies of the held sets' books (the loop keeps changing the live
        ones); the marks are written and the sales started back on the loop."""
        assert self.executor is not None and self.ledger is not None
        held: list[HeldSet] = []
        incidents = self.gate.incidents if self.gate is not None else None
        for set_id, component in self._traded.items():
            if set_id in self._executions:
                continue  # trading or repairing now: judged next pass
            if incidents is not None and incidents.check(set_id) is not None:
                continue  # an open incident: the gate refuses its plans until it is resolved
            holdings = {k: v for k, v in self.executor.set_position(component)[0].items() if v}
            if holdings:
                held.append(HeldSet(component, holdings))
        if not held:
            return
        books = self.books.frozen(h.component for h in held)
        work = await asyncio.to_thread(_rebalance_work, rebalancer, held, books, self._capital())
        assert self.ledger_writer is not None
        for h, marks in zip(held, work.marks, strict=True):
            if isinstance(marks, ArbError):
                log_event(log, logging.WARNING, "marks_failed", set_id=h.component.id, error=str(marks))
                continue

            def write(ledger: Ledger, h: HeldSet = h, marks: SetMarks = marks, now_ms: int = self._wall_ms()) -> int:
                return Rebalancer.record_marks(ledger, h.component, marks, h.holdings, now_ms=now_ms)

            def refused(exc: ArbError, set_id: str = h.component.id) -> None:
                log_event(log, logging.WARNING, "marks_failed", set_id=set_id, error=str(exc))

            self.ledger_writer.submit(write, f"marks {h.component.id}", on_error=refused)
        if work.error is not None:
            log_event(log, logging.WARNING, "rebalance_failed", error=str(work.error))
            return
        judged = {h.component.id: h.holdings for h in held}
        for sale in work.sales:
            if sale.set_id in self._executions or self._stopping:
                continue
            now = {k: v for k, v in self.executor.set_position(sale.component)[0].items() if v}
            if now != judged.get(sale.set_id):
                continue  # a fill moved it while the thread judged it: judged again next pass
            task = asyncio.get_running_loop().create_task(self._sell(sale), name=f"sell {sale.set_id}")
            self._executions[sale.set_id] = task
            set_id = sale.set_id

            def finished(_task: asyncio.Task[None], set_id: str = set_id) -> None:
                self._executions.pop(set_id, None)

            task.add_done_callback(finished)

    async def _sell(self, sale: RebalancePlan) -> None:
        assert self.executor is not None
        log_event(
            log,
            logging.INFO,
            "rebalance_sell",
            set_id=sale.set_id,
            edge_usd=str(sale.edge_usd),
            hold_value_usd=str(sale.hold_value_usd),
            sell_value_usd=str(sale.sell_value_usd),
        )
        books = self.books.for_component(sale.component)
        try:
            report = await self.executor.execute(sale.plan, sale.component, books)
        except ArbError as exc:
            log_event(log, logging.ERROR, "rebalance_sell_failed", set_id=sale.set_id, error=str(exc))
            return
        self.telemetry.execution(report, _ZERO)
        if report.status is not ExecutionStatus.REFUSED:
            self.sales += 1
            self._after_fills()  # the released cash is the entry allocator's again

    # -- periodic ------------------------------------------------------------------------------------
    async def _sweep_loop(self) -> None:
        """Book staleness (no event announces it) and, every `_PRUNE_EVERY_S`, the executor's
        finished orders forgotten (the ledger keeps them)."""
        assert self.scanner is not None and self.executor is not None
        next_prune = self._seconds() + _PRUNE_EVERY_S
        while True:
            await asyncio.sleep(self.config.run.sweep_interval_s)
            if not self._draining and self.scanner.sweep():
                self._wake.set()
            if self._seconds() >= next_prune:
                self.executor.prune_finished(older_than_ns=_PRUNE_AFTER_NS)
                next_prune = self._seconds() + _PRUNE_EVERY_S

    async def _kill_watch(self) -> None:
        """The file (or a signal's flag) engages the gate by itself; this cancels what rests."""
        assert self.gate is not None and self.executor is not None
        engaged = False
        while True:
            now = self.gate.kill_switch.engaged() and not self._stopping
            if now and not engaged:
                refusal = self.gate.kill_switch.check()
                reason = refusal.reason if refusal is not None else "kill switch"
                log_event(log, logging.WARNING, "kill_switch", reason=reason)
                self.telemetry.halt(reason)
                self.kill_cancels += 1
                await self.executor.cancel_resting()
            elif engaged and not now and not self._stopping:
                self.telemetry.resume()
                log_event(log, logging.INFO, "kill_switch_released")
            engaged = now
            await asyncio.sleep(_KILL_POLL_S)

    async def _partition_watch(self) -> None:
        """Partitions. A venue is unreachable when the breakers say so (sends and lookups without
        an answer, counted by the executor) or when its book socket has been down for
        `_FEED_UNREACHABLE_S` (longer than a reconnect takes: the venue answers nothing, even with
        no order out); it is marked so once per outage. An unreachable venue is announced once (an
        incident alert) and probed every `_PROBE_UNREACHABLE_S`; once it answers, its unresolved
        orders are reconciled and what rests there cancelled (`Executor.probe_unreachable`:
        nothing is left orphaned, nothing re-sent) and entries may touch it again. Meanwhile the
        partition gate refuses every plan touching it."""
        assert self.gate is not None and self.executor is not None
        breakers = self.gate.breakers
        cut: set[Venue] = set()
        down_since: dict[Venue, int] = {}  # book socket down since (clock ns), this outage
        marked: set[Venue] = set()  # marked unreachable for this outage already
        max_age_ns = self.config.scanner.max_book_age_ms * 1_000_000
        while True:
            await asyncio.sleep(_PROBE_UNREACHABLE_S)
            now_ns = self._clock()
            for venue, client in self.clients.items():
                if feed_health(client, now_ns=now_ns, max_book_age_ns=max_age_ns).connected:
                    down_since.pop(venue, None)
                    marked.discard(venue)
                    continue
                since = down_since.setdefault(venue, now_ns)
                if venue not in marked and now_ns - since >= _FEED_UNREACHABLE_S * 1e9:
                    marked.add(venue)
                    breakers.mark_unreachable(venue.value, f"book socket down for {(now_ns - since) / 1e9:.1f} s")
            now = {v for v in self.clients if breakers.state(v.value).state == "unreachable"}
            for venue in sorted(now - cut, key=lambda v: v.value):
                self.telemetry.incident(
                    "venue_unreachable",
                    f"venue {venue.value} unreachable: {breakers.state(venue.value).reason}; "
                    "entries touching it are refused",
                    severity="critical",
                    details={"venue": venue.value},
                )
            if not now:
                cut = set()
                continue
            try:
                still = set(await self.executor.probe_unreachable())
            except ArbError as exc:
                log_event(log, logging.WARNING, "partition_probe_failed", error=str(exc))
                still = now
            for venue in sorted(now - still, key=lambda v: v.value):
                log_event(log, logging.WARNING, "venue_reachable", venue=venue.value)
            cut = still

    async def _view_loop(self) -> None:
        """Venue health every second; the view redraws when it is due (it throttles itself)."""
        refresh_s = min(0.1, 1.0 / self.config.live_view.refresh_per_s)
        max_age_ns = self.config.scanner.max_book_age_ms * 1_000_000
        next_health = 0.0
        while True:
            now = self._seconds()
            if now >= next_health:
                assert self.gate is not None and self.ledger is not None
                feeds = [
                    feed_health(client, now_ns=self._clock(), max_book_age_ns=max_age_ns)
                    for client in self.clients.values()
                ]
                self.telemetry.venue_health(feeds, self.gate.breakers)
                self._refresh_pnl()
                next_health = now + 1.0
            self.telemetry.refresh()
            await asyncio.sleep(refresh_s)

    # -- shutdown --------------------------------------------------------------------------------------
    async def _shutdown(self) -> DaemonResult:
        assert self.ledger is not None and self.gate is not None
        self._stopping = True
        reason = self._stop_reason or "stopped"
        log_event(log, logging.INFO, "shutdown", reason=reason)
        if self.executor is not None:
            # entries stop; executions under way may still repair (the kill switch would refuse
            # their repairs and leave a half-filled set unhedged)
            self.executor.stop_entries(f"shutting down ({reason})")
        else:
            self.gate.kill_switch.engage(f"shutting down ({reason})")  # in memory: the next start is free
        self._wake.set()
        for task in self._tasks:
            if task.get_name() != "view":
                task.cancel()
        if self._executions:
            _done, pending = await asyncio.wait(list(self._executions.values()), timeout=_SHUTDOWN_WAIT_S)
            for task in pending:
                log_event(log, logging.ERROR, "shutdown_execution_stuck", task=task.get_name())
        shutdown_check: RecoveryReport | None = None
        executor = self.executor
        if executor is not None:
            still_open = await executor.cancel_resting()
            unresolved = await executor.reconcile_unresolved()
            await executor.idle()
            log_event(
                log,
                logging.INFO if not still_open and not unresolved else logging.ERROR,
                "shutdown_orders",
                still_resting=len(still_open),
                unresolved=len(unresolved),
            )
            for venue, client in self.clients.items():
                try:
                    resting = await client.open_orders()
                except ArbError as exc:
                    log_event(log, logging.ERROR, "shutdown_open_orders_failed", venue=venue.value, error=str(exc))
                    continue
                log_event(
                    log,
                    logging.INFO if not resting else logging.ERROR,
                    "shutdown_venue_open_orders",
                    venue=venue.value,
                    count=len(resting),
                )
            shutdown_check = await self._shutdown_recovery_check()
        if self.allocator is not None:
            stats = self.allocator.stats
            log_event(
                log,
                logging.INFO,
                "allocator_stats",
                sets_added=stats.sets_added,
                sets_removed=stats.sets_removed,
                compactions=stats.compactions,
                book_updates=self.allocator.book_updates,
                replaced=self.allocator.replaced,
            )
        summary = self._summary()
        with contextlib.suppress(Exception):
            self.telemetry.close()
        if self.notifier is not None:
            with contextlib.suppress(Exception):
                await self.notifier.aclose()
        return DaemonResult(0, summary=summary, shutdown_check=shutdown_check, reason=reason)

    async def _shutdown_recovery_check(self) -> RecoveryReport | None:
        """Recovery against the venues once every queued ledger write is on file. Writes that still
        fail are left to the next start's recovery (it rebuilds them from the venues)."""
        assert self.ledger is not None and self.ledger_writer is not None
        left = await self.ledger_writer.drain(_SHUTDOWN_WAIT_S)
        if left:
            log_event(log, logging.ERROR, "shutdown_ledger_unwritten", writes=left, reason=self.ledger_writer.refusal())
            return None
        try:
            report = await recover(
                self.ledger, self.clients, wall_ms=self._wall_ms, clock=self._clock, config=RecoveryConfig()
            )
        except ArbError as exc:  # the ledger failed again meanwhile: the next start recovers
            log_event(log, logging.ERROR, "shutdown_recovery_failed", error=str(exc))
            return None
        log_event(
            log,
            logging.INFO if report.clean else logging.ERROR,
            "shutdown_recovery_check",
            clean=report.clean,
            differences=[d.kind for d in report.differences],
            cancelled=len(report.cancelled),
            resolved=len(report.resolved),
            fills_applied=report.fills_applied,
        )
        return report

    def _summary(self) -> RunSummary:
        assert self.ledger is not None
        unhedged: list[str] = []
        if self.executor is not None and self.graph is not None:
            for set_id, component in sorted(self._traded.items()):
                holdings, cash = self.executor.set_position(component)
                if any(holdings.values()) and not self._hedged(component, holdings, cash):
                    unhedged.append(set_id)
        self.telemetry.pnl(self.ledger.pnl(), open_incidents=self.ledger.open_incidents())
        self.telemetry.capital(sum(self._committed_cash().values(), _ZERO))
        return self.telemetry.summary(
            fills=self.ledger.fill_count(),
            incidents_open_at_end=len(self.ledger.open_incidents()),
            unhedged_sets=unhedged,
        )

    def _hedged(self, component: Component, holdings: Mapping[str, Decimal], cash: Decimal) -> bool:
        """Hedged: the set's worst outcome loses at most the repair loss cap (what the executor
        calls hedged after a repair)."""
        value = exposure(component, holdings, cash, max_outcomes=self.config.repair.max_outcomes)
        return value.worst_value_usd >= -self.config.risk.repair_loss_cap_usd
