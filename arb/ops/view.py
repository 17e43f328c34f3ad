"""The live terminal view of `arb run`: linked markets, current opportunities, positions, P&L,
stage latency and venue health, redrawn in place with `rich` when the output is a terminal, or one
plain line per refresh (and per event) when it is not (a pipe, a file, CI).

The daemon builds a frozen `ViewSnapshot` and hands it to `update`; the view never reads engine
state itself, so rendering is a pure function of the snapshot (`render_snapshot`, `plain_line`)
and tests need no daemon. Refreshes are bounded by an injected clock: `update` draws at most
`refresh_per_second` times a second (`LiveView`) or once per `interval_s` (`PlainView`) and
returns whether it drew; `due()` tells the daemon whether building a snapshot is worth it now.
The live view does not start rich's refresh thread (auto_refresh=False): it draws only when the
daemon calls, on the daemon's schedule. Money is printed exactly (see `arb.ops.summary.format_usd`).
"""

from __future__ import annotations

import enum
import logging
import multiprocessing
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import IO, Protocol

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from arb.domain import Venue
from arb.errors import ConfigError
from arb.ledger.store import Incident, PnL, PositionPnL
from arb.links import Orientation, SettlementRisk
from arb.ops.summary import (
    StagePercentiles,
    add_text_row,
    format_contracts,
    format_ms,
    format_price,
    format_usd,
    latency_table,
)

__all__ = [
    "BreakerState",
    "LinkRow",
    "LiveView",
    "OpportunityKind",
    "OpportunityRow",
    "PlainView",
    "ProcessView",
    "VenueHealthRow",
    "View",
    "ViewLimits",
    "ViewSnapshot",
    "make_view",
    "plain_line",
    "render_snapshot",
    "summarise_kinds",
]

Clock = Callable[[], float]
_log = logging.getLogger(__name__)


class OpportunityKind(str, enum.Enum):
    """The shapes of arbitrage the market graph knows."""

    PAIR = "pair"  # the same contract on both venues
    INVERTED = "inverted"  # a contract and its inverse (YES here is NO there)
    EXACTLY_ONE = "exactly_one"  # a group of which exactly one settles YES
    LADDER = "ladder"  # threshold contracts that imply one another
    PARLAY = "parlay"  # a conjunction against its legs
    OTHER = "other"  # a component mixing several relations


class BreakerState(str, enum.Enum):
    """A venue's circuit breaker as `arb.risk.gates.CircuitBreakers.check` sees it."""

    CLOSED = "closed"  # calls go through
    OPEN = "open"  # tripped by errors: plans touching the venue are refused until the cooldown ends
    UNREACHABLE = "unreachable"  # a partition: refused until marked reachable


@dataclass(frozen=True, slots=True)
class LinkRow:
    """One curated cross-venue link (`arb.links.CuratedLink`)."""

    kalshi_ticker: str
    polymarket_market_id: str
    orientation: Orientation
    settlement_risk: SettlementRisk


@dataclass(frozen=True, slots=True)
class OpportunityRow:
    """A candidate set the scanner forwards now.

    edge_micro_usd: the scanner's incoherence score per contract (`ScanCandidate.score_micro_usd`)
    size_micro: contracts the allocator's plan trades (0 before it sized one)
    guaranteed_profit_usd: the plan's worst case over outcomes (None before it sized one)
    """

    set_id: str
    kind: OpportunityKind
    edge_micro_usd: int
    size_micro: int = 0
    guaranteed_profit_usd: Decimal | None = None
    legs: int = 0


@dataclass(frozen=True, slots=True)
class VenueHealthRow:
    """connected: the market-data feed is up; feed_lag_ms: venue timestamp to receipt of the last
    message (None: the venue sends no timestamp); last_message_age_ms: since the last message;
    books / stale_books: books subscribed / older than the scanner's max_book_age_ms."""

    venue: Venue
    connected: bool
    feed_lag_ms: float | None
    last_message_age_ms: float | None
    breaker: BreakerState = BreakerState.CLOSED
    breaker_reason: str = ""
    books: int = 0
    stale_books: int = 0


@dataclass(frozen=True, slots=True)
class ViewSnapshot:
    """Everything one refresh shows. `pnl` is the ledger's (`Ledger.pnl()`): its open positions are
    the positions section; `guaranteed_usd` is what executed plans locked in (`RunTally`).

    at_wall_s: wall-clock time of the snapshot (shown as UTC); uptime_s: since the daemon started
    linked_markets: markets in the graph with at least one link; links: a few of them to show
    halted: why entries are stopped (kill switch, loss halt), "" while trading
    """

    at_wall_s: float
    mode: str
    uptime_s: float
    linked_markets: int
    links: tuple[LinkRow, ...]
    opportunities: tuple[OpportunityRow, ...]
    pnl: PnL
    guaranteed_usd: Decimal
    latencies: tuple[StagePercentiles, ...]
    venues: tuple[VenueHealthRow, ...]
    incidents: tuple[Incident, ...] = ()
    plans_executed: int = 0
    fills: int = 0
    halted: str = ""

    def __post_init__(self) -> None:
        for name, value in (
            ("guaranteed_usd", self.guaranteed_usd),
            ("pnl.realised_usd", self.pnl.realised_usd),
            ("pnl.unrealised_usd", self.pnl.unrealised_usd),
        ):
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ConfigError(f"view snapshot {name} must be a finite Decimal, was {value!r}")
        if self.linked_markets < 0:
            raise ConfigError(f"view snapshot linked_markets must be zero or more, was {self.linked_markets}")

    @property
    def open_positions(self) -> tuple[PositionPnL, ...]:
        return tuple(p for p in self.pnl.positions if p.size_micro != 0)


def _utc(at_wall_s: float) -> str:
    return datetime.fromtimestamp(at_wall_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _optional_usd(value: Decimal | None) -> str:
    return "-" if value is None else format_usd(value)


def _more(table: Table, shown: int, total: int) -> None:
    if total > shown:
        table.caption = f"{total - shown} more not shown"


@dataclass(frozen=True, slots=True)
class ViewLimits:
    """Rows per section; the live view stays within a screen however much the daemon holds."""

    links: int = 5
    opportunities: int = 10
    positions: int = 10
    incidents: int = 5

    def __post_init__(self) -> None:
        for name in ("links", "opportunities", "positions", "incidents"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"view limit {name} must be an integer of at least 0, was {value!r}")


def render_snapshot(snapshot: ViewSnapshot, limits: ViewLimits = ViewLimits()) -> RenderableType:
    """The snapshot as `rich` renderables: a status line, P&L, opportunities, positions, venue
    health, latency, links and open incidents."""
    status = Text(
        f"arb {snapshot.mode}  {_utc(snapshot.at_wall_s)}  up {snapshot.uptime_s:.0f} s  "
        f"plans {snapshot.plans_executed}  fills {snapshot.fills}",
        style="bold",
    )
    if snapshot.halted:
        status.append(f"  HALTED: {snapshot.halted}", style="bold red")

    pnl = Table(title="P&L", title_justify="left")
    for name in ("guaranteed", "realised", "unrealised", "fees", "unmarked"):
        pnl.add_column(name, justify="right")
    add_text_row(
        pnl,
        format_usd(snapshot.guaranteed_usd),
        format_usd(snapshot.pnl.realised_usd),
        format_usd(snapshot.pnl.unrealised_usd),
        format_usd(snapshot.pnl.fees_usd),
        str(len(snapshot.pnl.unmarked)),
    )

    opps = Table(title=f"Opportunities ({len(snapshot.opportunities)})", title_justify="left")
    for name, justify in (("set", "left"), ("kind", "left"), ("edge/contract", "right"), ("size", "right")):
        opps.add_column(name, justify=justify)  # type: ignore[arg-type]
    opps.add_column("guaranteed", justify="right")
    ranked = sorted(snapshot.opportunities, key=lambda o: (-o.edge_micro_usd, o.set_id))
    for o in ranked[: limits.opportunities]:
        add_text_row(
            opps,
            o.set_id,
            o.kind.value,
            format_price(o.edge_micro_usd),
            format_contracts(o.size_micro),
            _optional_usd(o.guaranteed_profit_usd),
        )
    _more(opps, min(len(ranked), limits.opportunities), len(ranked))

    open_positions = snapshot.open_positions
    positions = Table(title=f"Positions ({len(open_positions)})", title_justify="left")
    positions.add_column("venue")
    positions.add_column("market")
    positions.add_column("side")
    for name in ("size", "cost", "mark", "unrealised", "realised"):
        positions.add_column(name, justify="right")
    for p in open_positions[: limits.positions]:
        add_text_row(
            positions,
            p.venue.value,
            p.market_id,
            p.outcome.value,
            format_contracts(p.size_micro),
            format_usd(p.cost_usd),
            "-" if p.mark_micro_usd is None else format_price(p.mark_micro_usd),
            _optional_usd(p.unrealised_usd),
            format_usd(p.realised_usd),
        )
    _more(positions, min(len(open_positions), limits.positions), len(open_positions))

    venues = Table(title="Venues", title_justify="left")
    venues.add_column("venue")
    venues.add_column("feed")
    for name in ("lag ms", "last msg ms", "books", "stale"):
        venues.add_column(name, justify="right")
    venues.add_column("breaker")
    for v in snapshot.venues:
        breaker = v.breaker.value + (f" ({v.breaker_reason})" if v.breaker_reason else "")
        add_text_row(
            venues,
            v.venue.value,
            Text("up", style="green") if v.connected else Text("DOWN", style="bold red"),
            format_ms(v.feed_lag_ms),
            format_ms(v.last_message_age_ms),
            str(v.books),
            str(v.stale_books),
            Text(breaker, style="green" if v.breaker is BreakerState.CLOSED else "bold red"),
        )

    links = Table(title=f"Linked markets ({snapshot.linked_markets})", title_justify="left")
    for name in ("kalshi", "polymarket", "orientation", "settlement risk"):
        links.add_column(name)
    for link in snapshot.links[: limits.links]:
        add_text_row(
            links, link.kalshi_ticker, link.polymarket_market_id, link.orientation.value, link.settlement_risk.value
        )
    _more(links, min(len(snapshot.links), limits.links), len(snapshot.links))

    incidents = Table(title=f"Open incidents ({len(snapshot.incidents)})", title_justify="left")
    for name in ("id", "set", "reason", "opened"):
        incidents.add_column(name)
    for i in snapshot.incidents[: limits.incidents]:
        add_text_row(incidents, str(i.incident_id), i.set_id, i.reason, _utc(i.opened_ms / 1000))
    _more(incidents, min(len(snapshot.incidents), limits.incidents), len(snapshot.incidents))

    for table in (pnl, opps, positions):
        _keep_money_whole(table)
    return Group(
        status,
        _Columns(Group(pnl, opps, positions), Group(venues, latency_table(snapshot.latencies), links, incidents)),
    )


def _keep_money_whole(table: Table) -> None:
    """Right-justified columns hold money, sizes and prices: never elide their digits when the
    terminal is narrow (other columns shrink, or the line is cropped at the edge, instead)."""
    for column in table.columns:
        if column.justify == "right":
            cells = [str(c) for c in column.cells]
            column.min_width = max([len(str(column.header)), *map(len, cells)])
            column.no_wrap = True


@dataclass(frozen=True, slots=True)
class _Columns:
    """Two groups side by side where the terminal is wide enough for both, else one above the other."""

    left: RenderableType
    right: RenderableType

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        gap = 2
        left = Measurement.get(console, options, self.left).maximum
        right = Measurement.get(console, options, self.right).maximum
        if left + gap + right <= options.max_width:
            grid = Table.grid(padding=(0, gap))
            grid.add_column(width=left)
            grid.add_column(width=right)
            grid.add_row(self.left, self.right)
            yield grid
        else:
            yield self.left
            yield self.right


def plain_line(snapshot: ViewSnapshot) -> str:
    """One log line with the snapshot's headline numbers (no colour, no layout)."""
    kinds = summarise_kinds(snapshot.opportunities)
    by_kind = ",".join(f"{k.value}:{n}" for k, n in sorted(kinds.items(), key=lambda kv: kv[0].value))
    parts = [
        _utc(snapshot.at_wall_s),
        f"mode={snapshot.mode}",
        f"links={snapshot.linked_markets}",
        f"opportunities={len(snapshot.opportunities)}" + (f"({by_kind})" if by_kind else ""),
        f"positions={len(snapshot.open_positions)}",
        f"plans={snapshot.plans_executed}",
        f"fills={snapshot.fills}",
        f"guaranteed={format_usd(snapshot.guaranteed_usd)}",
        f"realised={format_usd(snapshot.pnl.realised_usd)}",
        f"unrealised={format_usd(snapshot.pnl.unrealised_usd)}",
        f"incidents={len(snapshot.incidents)}",
    ]
    for v in snapshot.venues:
        state = "up" if v.connected else "down"
        parts.append(
            f"{v.venue.value}={state},lag_ms={format_ms(v.feed_lag_ms)},breaker={v.breaker.value},stale={v.stale_books}"
        )
    for s in snapshot.latencies:
        parts.append(f"{s.stage}_p99_ms={format_ms(s.p99_ms)}")
    if snapshot.halted:
        parts.append(f"halted={snapshot.halted!r}")
    return " ".join(parts)


class View(Protocol):
    def due(self) -> bool: ...

    def update(self, snapshot: ViewSnapshot) -> bool: ...

    def event(self, message: str) -> None: ...

    def close(self, snapshot: ViewSnapshot | None = None) -> None: ...


@dataclass(slots=True)
class _Throttle:
    interval_s: float
    clock: Clock
    last_s: float | None = None

    def due(self) -> bool:
        return self.last_s is None or self.clock() - self.last_s >= self.interval_s

    def mark(self) -> None:
        self.last_s = self.clock()


def _interval(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"view {name} must be a positive number, was {value!r}")
    return float(value)


class _Frame:
    """What rich's refresh thread draws: the latest snapshot, rendered when drawn. `update` swaps
    the snapshot by one attribute store, so the event loop never waits on Live's lock while the
    thread draws (Live.update would take that lock)."""

    def __init__(self, limits: ViewLimits) -> None:
        self.limits = limits
        self.snapshot: ViewSnapshot | None = None

    def __rich__(self) -> RenderableType:
        snapshot = self.snapshot
        return Text("starting") if snapshot is None else render_snapshot(snapshot, self.limits)


class LiveView:
    """Redraws the snapshot in place on a terminal, at most `refresh_per_second` times a second.
    `event` prints a line above the live area (incidents, halts), which stays in the scrollback.

    Drawing a full frame costs tens of milliseconds on a loaded machine (benchmarks/view_bench.py),
    far more than the event loop may stall. So by default (`threaded=True`) `update` only hands the
    snapshot over and rich's refresh thread builds and draws the frame; the loop then loses only
    the interpreter's switch interval to it now and then. `threaded=False` draws inside `update`
    (deterministic: for tests, and for callers that run the view off the loop themselves). `event`
    prints through the console, which waits for a draw in progress: keep events rare.

    The refresh thread holds the GIL while it draws, and CPython hands the GIL back to a waiting
    thread only every switch interval (5 ms by default), so each wake-up of the event loop during
    a draw could wait that long: measured, a 1 ms ticker's lag p99 went from 0.3 ms (no view) to
    9-11 ms at 4 draws/s, and back to 1.3 ms with a 1 ms interval (benchmarks/view_bench.py). So
    while the threaded view runs it lowers the interpreter's switch interval to
    `switch_interval_s` (process-wide; restored by `close`); None leaves it alone."""

    def __init__(
        self,
        console: Console,
        *,
        clock: Clock,
        refresh_per_second: float = 2.0,
        limits: ViewLimits = ViewLimits(),
        threaded: bool = True,
        switch_interval_s: float | None = 0.001,
    ) -> None:
        if switch_interval_s is not None:
            _interval("switch_interval_s", switch_interval_s)
        self.console = console
        self.limits = limits
        rate = _interval("refresh_per_second", refresh_per_second)
        self._throttle = _Throttle(1.0 / rate, clock)
        self._threaded = threaded
        self._frame = _Frame(limits)
        self._live = Live(
            self._frame,
            console=console,
            auto_refresh=threaded,
            refresh_per_second=rate,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._started = False
        self._switch_interval_s = switch_interval_s if threaded else None
        self._saved_switch_interval_s: float | None = None
        self.draws = 0  # snapshots handed over (inline: frames drawn)

    def due(self) -> bool:
        return self._throttle.due()

    def update(self, snapshot: ViewSnapshot) -> bool:
        if not self._throttle.due():
            return False
        self._draw(snapshot)
        return True

    def _draw(self, snapshot: ViewSnapshot) -> None:
        if self._threaded:
            if not self._started:
                if self._switch_interval_s is not None:
                    self._saved_switch_interval_s = sys.getswitchinterval()
                    sys.setswitchinterval(min(self._switch_interval_s, self._saved_switch_interval_s))
                self._live.start()  # draws the cheap placeholder here; the refresh thread draws the rest
                self._started = True
            self._frame.snapshot = snapshot
        else:
            self._frame.snapshot = snapshot
            if not self._started:
                self._live.start()  # draws once, here
                self._started = True
            else:
                self._live.refresh()
        self._throttle.mark()
        self.draws += 1

    def event(self, message: str) -> None:
        self.console.print(Text(message), highlight=False)  # Live keeps its area below printed lines

    def close(self, snapshot: ViewSnapshot | None = None) -> None:
        """Draw the last snapshot (if given) whatever the throttle says, and leave it on screen
        (stopping Live joins its refresh thread and draws once more, in this thread)."""
        if snapshot is not None:
            self._draw(snapshot)
        if self._started:
            self._live.stop()
            self._started = False
            if self._saved_switch_interval_s is not None:
                sys.setswitchinterval(self._saved_switch_interval_s)
                self._saved_switch_interval_s = None


class ProcessView:
    """A `LiveView` drawn by a child process, so no drawing ever holds this process's GIL: the
    event loop pays only for pickling the snapshot and writing it to a pipe.

    At most one frame is in flight: `update` sends a snapshot only when the child has finished
    drawing the previous one (else it skips the frame and returns False), so a slow terminal never
    blocks the loop or piles frames up. The child draws to `output`: 1 (stdout) or 2 (stderr),
    which it inherits, or a file path (tests). It ignores SIGINT (the daemon's shutdown decides when
    the view ends) and exits when the pipe closes. If it dies, frames and events are dropped,
    never raised: a broken view must not stop trading (`failed` says why)."""

    def __init__(
        self,
        output: int | str,
        *,
        clock: Clock,
        refresh_per_second: float = 2.0,
        limits: ViewLimits = ViewLimits(),
        width: int | None = None,
        start_timeout_s: float = 30.0,
    ) -> None:
        if isinstance(output, int) and output not in (1, 2):
            raise ConfigError(f"process view output must be 1 (stdout), 2 (stderr) or a path, was {output!r}")
        rate = _interval("refresh_per_second", refresh_per_second)
        self._throttle = _Throttle(1.0 / rate, clock)
        self._start_timeout_s = _interval("start_timeout_s", start_timeout_s)
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_draw_in_child, args=(child, output, limits, width), name="arb-live-view", daemon=True
        )
        self._process.start()
        child.close()
        self._in_flight = False
        self.draws = 0  # snapshots sent
        self.skipped = 0  # due frames not sent because the child was still drawing
        self.failed = ""

    def due(self) -> bool:
        return self._throttle.due()

    def _child_ready(self) -> bool:
        if self._in_flight:
            try:
                while self._conn.poll():
                    self._conn.recv()
                    self._in_flight = False
            except (EOFError, OSError) as exc:
                self._fail(exc)
        return not self._in_flight

    def _send(self, message: tuple[str, object]) -> bool:
        if self.failed:
            return False
        try:
            self._conn.send(message)
        except (OSError, ValueError) as exc:  # the child is gone: drop the view, keep trading
            self._fail(exc)
            return False
        return True

    def _fail(self, exc: BaseException) -> None:
        if not self.failed:
            self.failed = f"live view process ended: {type(exc).__name__}: {exc}"
            _log.warning("%s", self.failed)

    def update(self, snapshot: ViewSnapshot) -> bool:
        if not self._throttle.due():
            return False
        self._throttle.mark()
        if not self._child_ready() or self.failed:
            self.skipped += 1
            return False
        if self._send(("frame", snapshot)):
            self._in_flight = True
            self.draws += 1
            return True
        return False

    def wait_drawn(self, timeout_s: float) -> bool:
        """Block until the child has drawn the frame in flight (for tests and benchmarks: the
        daemon never waits on the view). False when it did not answer in time or is gone."""
        if self._in_flight and not self.failed:
            try:
                self._conn.poll(timeout_s)
            except OSError as exc:
                self._fail(exc)
        return self._child_ready() and not self.failed

    def event(self, message: str) -> None:
        self._send(("event", message))

    def close(self, snapshot: ViewSnapshot | None = None) -> None:
        """Draw the last snapshot (if given), wait for the child to finish, and reap it."""
        if self._send(("close", snapshot)):
            self._process.join(self._start_timeout_s)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5.0)
        self._conn.close()


def _draw_in_child(conn: Connection, output: int | str, limits: ViewLimits, width: int | None) -> None:
    """The child's side of `ProcessView`: draw each frame inline, answer "drawn", end on close/EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stream: IO[str] = sys.stdout if output == 1 else sys.stderr if output == 2 else open(output, "w")  # noqa: SIM115
    console = Console(file=stream, width=width, force_terminal=True if isinstance(output, str) else None)
    view = LiveView(console, clock=_never_throttled, limits=limits, threaded=False, switch_interval_s=None)
    try:
        while True:
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                break
            if kind == "frame":
                view._draw(payload)
                conn.send("drawn")
            elif kind == "event":
                view.event(payload)
            else:
                view.close(payload)
                break
    finally:
        view.close()
        stream.flush()
        if isinstance(output, str):
            stream.close()
        conn.close()


def _never_throttled() -> float:
    return 0.0


@dataclass(slots=True)
class PlainView:
    """One plain line per refresh (at most one per `interval_s`) and per event, for logs and pipes."""

    stream: IO[str]
    clock: Clock
    interval_s: float = 5.0
    lines: int = field(default=0, init=False)  # lines written
    _throttle: _Throttle = field(init=False)

    def __post_init__(self) -> None:
        self._throttle = _Throttle(_interval("interval_s", self.interval_s), self.clock)

    def due(self) -> bool:
        return self._throttle.due()

    def update(self, snapshot: ViewSnapshot) -> bool:
        if not self._throttle.due():
            return False
        self._write(plain_line(snapshot))
        self._throttle.mark()
        return True

    def event(self, message: str) -> None:
        self._write(f"event {message}")

    def _write(self, line: str) -> None:
        self.stream.write(line.replace("\n", " ") + "\n")
        self.stream.flush()
        self.lines += 1

    def close(self, snapshot: ViewSnapshot | None = None) -> None:
        if snapshot is not None:
            self._write(plain_line(snapshot))
            self._throttle.mark()


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (OSError, ValueError):  # a closed or detached stream is not a terminal
        return False


def make_view(
    stream: IO[str],
    *,
    clock: Clock,
    refresh_per_second: float = 2.0,
    plain_interval_s: float = 5.0,
    limits: ViewLimits = ViewLimits(),
    threaded: bool = True,
    switch_interval_s: float | None = 0.001,
    process: bool = True,
) -> LiveView | PlainView | ProcessView:
    """A live view when `stream` is a terminal, else a `PlainView` on it. On the process's own
    stdout or stderr the live view is drawn by a child process (`ProcessView`, unless `process` is
    False): measured, it kept a 1 ms ticker's lag p99 lowest (benchmarks/view_bench.py); any other
    terminal stream gets a `LiveView` in this process."""
    if _is_terminal(stream):
        fd = _fileno(stream)
        if process and fd is not None and fd in (1, 2):
            return ProcessView(fd, clock=clock, refresh_per_second=refresh_per_second, limits=limits)
        return LiveView(
            Console(file=stream),
            clock=clock,
            refresh_per_second=refresh_per_second,
            limits=limits,
            threaded=threaded,
            switch_interval_s=switch_interval_s,
        )
    return PlainView(stream, clock, plain_interval_s)


def _fileno(stream: IO[str]) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError):  # io.UnsupportedOperation is both
        return None


def summarise_kinds(opportunities: Iterable[OpportunityRow]) -> dict[OpportunityKind, int]:
    """Opportunities per kind (for headers and metrics)."""
    counts: dict[OpportunityKind, int] = {}
    for o in opportunities:
        counts[o.kind] = counts.get(o.kind, 0) + 1
    return counts
