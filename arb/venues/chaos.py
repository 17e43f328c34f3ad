"""Seeded chaos episodes: each venue adapter against its simulator under combined faults, checked
against the simulator's own records (`arb chaos`, tests/venues/test_chaos.py).

One episode, for one venue and one seed:
1. A simulator (`KalshiSimulator` / `PolymarketSimulator`) starts on loopback with a `FaultInjector`
   and scripted participants (market makers quoting, takers trading); the project's real client
   (`KalshiClient` / `PolymarketClient`) connects with a recording sink, subscribes every book and
   the private stream, and waits until its books are trusted and equal to the venue's.
2. Chaos: `steps` actions drawn from `random.Random(seed)`. The client places orders (GTC, IOC/FAK,
   FOK; resting or crossing, sometimes against its own resting orders), cancels them and queries
   fills, each call a task of its own so an unanswered request does not stop the episode; the
   participants trade (against our orders too); time moves; and faults fire: socket drops and
   silent freezes, sequence gaps (Kalshi) and book hash mismatches (Polymarket), 429/500 bursts,
   latency, order and cancel requests processed and then answered 500 or never answered, answers
   held (slow `/book`), time moved past the order timeout while answers are outstanding, partial
   fills, FAK orders acknowledged "live" and filled later (Polymarket).
3. The faults stop (a frozen socket stays frozen until the client's watchdog replaces it, as a real
   one would), time moves past every timeout, every client call is awaited, the participants act a
   few more rounds (so a lost change shows as a gap or a best-price mismatch), and the client is
   given time to recover: every wait is on a condition with a bounded, injected deadline.
4. Invariants, against the simulator's records (each check counted, each failure recorded with the
   seed; nothing asserts and stops):
   - fills_exactly_once: every fill the venue made for our account reached the sink exactly once
     (Polymarket: once per settlement status, the last one the venue's), with the venue's size and
     order; no fill the venue did not make.
   - order_state: every final state the client reported (call results and sink events) is the
     venue's final state of that order (open or not, size filled); every order whose last report
     is not final is reconciled through the client's own API, as the engine would, and must then
     agree; the client's own order table (Polymarket) agrees with what it reported.
   - book_trusted_equal: once the venue is quiet, no book is trusted while it differs from the
     venue's book.
   - no_exception: no exception escaped a client call, a client task or the sink, no socket loop
     recorded a bug, no frame was rejected, no simulator handler failed.
   - connected: the client is connected again, every book trusted again, every call returned.

Time is a `FakeTime`: the client's clock, sleeps (backoff, retries: recorded and skipped) and
request deadlines, and both sides' wall clock; only the episode moves it, so a timeout fires
exactly when the episode moves time past it. The seed fixes the faults, the actions and their
order; the interleaving of socket frames with the actions is the event loop's (two runs of one seed
can differ in detail; a violation is reported with its seed and what was seen).

`Sabotage` breaks the client side on purpose (a lost or duplicated fill, a wrong final state, a
book changed behind the client's back, a raising sink, a dead client): each must be caught by its
invariant, which shows the checks can fail.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import enum
import gc
import hashlib
import json
import random
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric import rsa

from arb.book import OrderBook
from arb.domain import (
    Action,
    BookSide,
    ChangeMode,
    Fill,
    LevelList,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Side,
    TimeInForce,
)
from arb.errors import ArbError, ConfigError
from arb.fixed import SCALE
from arb.venues.base import SendText
from arb.venues.kalshi.auth import KalshiSigner
from arb.venues.kalshi.client import KalshiClient, KalshiConfig
from arb.venues.polymarket.client import PolymarketClient, PolymarketConfig
from arb.venues.polymarket.orders import PolymarketCredentials
from arb.venues.sim.faults import AnswerFault, FaultInjector, FaultPlan
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.participants import MarketMaker, Taker
from arb.venues.sim.polymarket import PolymarketMarketSpec, PolymarketSimulator

__all__ = [
    "INVARIANTS",
    "VENUES",
    "ChaosConfig",
    "ChaosReport",
    "EpisodeResult",
    "FakeTime",
    "Sabotage",
    "Violation",
    "print_report",
    "run_chaos",
    "run_episode",
    "run_episodes",
]

INVARIANTS = ("fills_exactly_once", "order_state", "book_trusted_equal", "no_exception", "connected")
VENUES = ("kalshi", "polymarket")
_S = 1_000_000_000
_TERMINAL = frozenset({OrderStatus.CANCELED, OrderStatus.FILLED, OrderStatus.REJECTED})


class Sabotage(enum.Enum):
    """A deliberately broken client side, to show each invariant can fail."""

    DROP_FILL = "drop_fill"  # the sink loses every event of the first fill
    DUPLICATE_FILL = "duplicate_fill"  # the sink receives the first fill event twice
    WRONG_FINAL_STATE = "wrong_final_state"  # the first final order report overstates its fill
    CORRUPT_BOOK = "corrupt_book"  # a trusted book changes behind the client's back
    SINK_RAISES = "sink_raises"  # the sink raises on one event
    DEAD_CLIENT = "dead_client"  # the client is closed before the checks


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    """How long episodes are. `steps`: chaos actions per episode; `wait_s`: the bounded real-time
    wait for each recovery condition (a healthy client meets them in milliseconds; only a
    violation waits this long); `sabotage`: break the client side on purpose."""

    steps: int = 30
    wait_s: float = 2.0
    sabotage: Sabotage | None = None

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ConfigError(f"chaos steps must be an integer >= 0, was {self.steps!r}")
        if isinstance(self.wait_s, bool) or not isinstance(self.wait_s, (int, float)) or not self.wait_s > 0:
            raise ConfigError(f"chaos wait_s must be positive, was {self.wait_s!r}")


@dataclass(frozen=True, slots=True)
class Violation:
    venue: str
    seed: int
    invariant: str
    detail: str


@dataclass(slots=True)
class EpisodeResult:
    venue: str
    seed: int
    checks: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    venue_fills: int = 0
    orders: int = 0
    waits_timed_out: Counter[str] = field(default_factory=Counter)  # bounded waits that ran out, by what
    sabotaged: str = ""  # what a `Sabotage` did, when it did anything
    timeline: list[str] = field(default_factory=list)  # the actions and faults in order, for diagnosis

    def check(self, invariant: str, ok: bool, detail: str = "") -> bool:
        """Count one check of `invariant`; record a violation when it failed."""
        self.checks[invariant] += 1
        if not ok:
            self.violations.append(Violation(self.venue, self.seed, invariant, detail))
        return ok


@dataclass(slots=True)
class ChaosReport:
    episodes: list[EpisodeResult] = field(default_factory=list)

    @property
    def checks(self) -> Counter[str]:
        total: Counter[str] = Counter(dict.fromkeys(INVARIANTS, 0))
        for episode in self.episodes:
            total.update(episode.checks)
        return total

    @property
    def violation_counts(self) -> Counter[str]:
        total: Counter[str] = Counter(dict.fromkeys(INVARIANTS, 0))
        for episode in self.episodes:
            total.update(v.invariant for v in episode.violations)
        return total

    @property
    def violations(self) -> list[Violation]:
        return [v for episode in self.episodes for v in episode.violations]

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_json(self) -> dict[str, Any]:
        return {
            "episodes": [
                {
                    "venue": e.venue,
                    "seed": e.seed,
                    "checks": dict(e.checks),
                    "violations": [dataclasses.asdict(v) for v in e.violations],
                    "actions": dict(e.actions),
                    "faults": dict(e.faults),
                    "venue_fills": e.venue_fills,
                    "orders": e.orders,
                    "timeline": e.timeline,
                }
                for e in self.episodes
            ],
            "checks": dict(self.checks),
            "violation_counts": dict(self.violation_counts),
            "ok": self.ok,
        }


# -- time ------------------------------------------------------------------------------------------


class FakeTime:
    """The client's monotonic clock, sleep and request deadline, and the wall clock both sides read.
    Sleeping records the delay and moves the clock (no real wait); a deadline expires when
    `advance` moves the clock past it, never by itself."""

    def __init__(self, start_wall_ms: int = 1_767_225_600_000) -> None:
        self.now_ns = 1_000 * _S
        self._start_ns = self.now_ns
        self._start_wall_ms = start_wall_ms
        self.slept_s = 0.0
        self._deadlines: list[tuple[int, asyncio.Timeout]] = []

    def clock(self) -> int:
        return self.now_ns

    def wall_ms(self) -> int:
        return self._start_wall_ms + (self.now_ns - self._start_ns) // 1_000_000

    async def sleep(self, seconds: float) -> None:
        self.slept_s += seconds
        self.now_ns += int(seconds * 1e9)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1e9)
        loop_now = asyncio.get_running_loop().time()
        for entry in list(self._deadlines):
            if entry[0] <= self.now_ns:
                self._deadlines.remove(entry)  # fired once: an expiring timeout cannot be moved again
                entry[1].reschedule(loop_now)  # due: the request it guards times out now

    @asynccontextmanager
    async def deadline(self, seconds: float) -> AsyncIterator[None]:
        async with asyncio.timeout(None) as timeout:
            entry = (self.now_ns + int(seconds * 1e9), timeout)
            self._deadlines.append(entry)
            try:
                yield
            finally:
                if entry in self._deadlines:
                    self._deadlines.remove(entry)


# -- one episode -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Order:
    """One order the client sent, and everything the client said about it."""

    request: OrderRequest
    order_id: str = ""
    reports: list[tuple[str, OrderUpdate]] = field(default_factory=list)  # (source, update), arrival order

    def final_report(self) -> tuple[str, OrderUpdate] | None:
        finals = [r for r in self.reports if r[1].status in _TERMINAL]
        return finals[-1] if finals else None


def _state_of(update: OrderUpdate) -> tuple[bool, int | None]:
    """(still open, size filled or None when the update does not say) of a final or open update."""
    if update.status is OrderStatus.REJECTED:
        return False, 0
    if update.status is OrderStatus.FILLED:
        return False, update.filled_size_micro if update.filled_size_micro is not None else update.initial_size_micro
    return update.status is OrderStatus.OPEN, update.filled_size_micro


def _differs(reported: tuple[bool, int | None], venue: tuple[bool, int]) -> bool:
    return reported[0] != venue[0] or (reported[1] is not None and reported[1] != venue[1])


def _micro(text: str) -> int:
    """A decimal count or price text as micro-units (the checker's own parsing, not the adapter's)."""
    return int(Decimal(text) * SCALE)


class _Episode:
    """What both venues share: the sink, the order records, the actions, recovery and checks.
    Subclasses bring the venue: simulator, client, books, orders and fault kinds."""

    venue = ""
    stream_names: tuple[str, ...] = ()  # the sockets a freeze can hit
    book_stream_names: tuple[str, ...] = ()  # those carrying books (a quiet check waits for these)
    order_path_prefix = "/"  # where the lost and held order answers are scripted
    order_timeout_s = 2.0
    request_timeout_s = 2.0
    feed_silence_s = 5.0
    order_settle_s = 3.0
    client: KalshiClient | PolymarketClient  # both set by `start`
    sim: KalshiSimulator | PolymarketSimulator

    def __init__(self, seed: int, config: ChaosConfig) -> None:
        self.seed = seed
        self.config = config
        self.rng = random.Random(f"chaos:{seed}")
        self.time = FakeTime()
        self.result = EpisodeResult(self.venue, seed)
        self.changed = asyncio.Event()
        self.orders: dict[str, _Order] = {}
        self._cid_by_order_id: dict[str, str] = {}
        self.fill_events: dict[str, list[Fill]] = {}
        self.escaped: list[str] = []  # exceptions that escaped a client call
        self.calls: set[asyncio.Task[Any]] = set()
        self._next_cid = 0
        self._sabotaged = False
        self._chaos_started = False
        self._dropped_fill = ""
        self._latency_steps = 0
        self.faults = FaultInjector(self._plan())

    # -- the same on both venues -----------------------------------------------------------------

    def _plan(self) -> FaultPlan:
        rng = random.Random(f"chaos-plan:{self.seed}")
        return FaultPlan(seed=self.seed, partial_fill_fraction=rng.choice((0.0, 0.2, 0.5)), partial_fill_ratio=0.5)

    async def close(self) -> None:
        await self.client.close()
        await self.sim.close()

    async def kill_client(self) -> None:
        await self.client.close()

    def client_book(self, book_id: str) -> OrderBook | None:
        return self.client.books.get(book_id)

    async def place(self, request: OrderRequest) -> OrderUpdate:
        return await self.client.place_order(request)

    async def cancel(self, order: _Order) -> OrderUpdate:
        return await self.client.cancel_order(order.order_id, order.request.market_id)

    async def query_fills(self) -> None:
        await self.client.fills()

    def activity(self) -> None:
        self.sim.step(self.rng.randint(1, 2))

    def probe(self) -> None:
        """Before a quiet check: what the venue must send so the client can know its book is
        complete (nothing by default)."""

    def stop_venue_faults(self) -> None:
        """End the venue's own faults that outlast the chaos (none by default)."""

    def order_table_problems(self) -> list[str]:
        return []

    # -- to be provided by each venue ------------------------------------------------------------

    async def start(self) -> None:
        raise NotImplementedError

    def book_ids(self) -> list[str]:
        raise NotImplementedError

    def venue_levels(self, book_id: str) -> tuple[LevelList, LevelList]:
        raise NotImplementedError

    def venue_fills(self) -> dict[str, tuple[str, int, str, str]]:
        """fill id -> (order id, size, settlement status, a note) of every fill the venue made for us."""
        raise NotImplementedError

    def venue_order(self, order: _Order) -> tuple[bool, int] | None:
        """(still open, size filled) of the order at the venue, or None when it has no such order."""
        raise NotImplementedError

    def new_request(self) -> OrderRequest | None:
        raise NotImplementedError

    def crossing_request(self) -> OrderRequest | None:
        """An IOC that meets one of our own resting orders (None when none rests)."""
        raise NotImplementedError

    async def reconcile(self, order: _Order) -> OrderUpdate | None:
        raise NotImplementedError

    def take_against_us(self) -> str:
        """An outside participant trades against one of our resting orders; returns its venue
        order id ("" when none rests)."""
        raise NotImplementedError

    async def venue_fault(self) -> str:
        """Fire one venue-specific fault; returns its name."""
        raise NotImplementedError

    async def watchdog(self) -> None:
        """Move time past the feed's silence limit and let the client's health check act."""
        raise NotImplementedError

    def end_unnoticeable_freezes(self) -> None:
        """At recovery, end the freezes the client is right not to notice (none by default)."""

    def connected(self) -> bool:
        raise NotImplementedError

    def client_errors(self) -> list[tuple[str, list[str]]]:
        """(source, problems) for every place the client records errors it survived."""
        raise NotImplementedError

    # -- the sink --------------------------------------------------------------------------------

    def sink(self, event: Any) -> None:
        sabotage = self.config.sabotage
        if sabotage is Sabotage.SINK_RAISES and not self._sabotaged and self._chaos_started:
            self._sabotaged = True
            self.result.sabotaged = f"the sink raised on a {type(event).__name__}"
            raise RuntimeError("sabotaged sink")
        if isinstance(event, Fill):
            if sabotage is Sabotage.DROP_FILL and self._chaos_started:
                if not self._sabotaged:
                    self._sabotaged, self._dropped_fill = True, event.fill_id
                    self.result.sabotaged = f"dropped fill {event.fill_id}"
                if event.fill_id == self._dropped_fill:
                    return
            self.fill_events.setdefault(event.fill_id, []).append(event)
            if sabotage is Sabotage.DUPLICATE_FILL and not self._sabotaged and self._chaos_started:
                self._sabotaged = True
                self.result.sabotaged = f"duplicated fill {event.fill_id}"
                self.fill_events[event.fill_id].append(event)
        elif isinstance(event, OrderUpdate):
            cid = event.client_order_id or self._cid_by_order_id.get(event.order_id)
            order = self.orders.get(cid) if cid else None
            if order is not None:  # an update not (yet) tied to an order sent here is not checked
                self._report(order, event, "event")
        self.changed.set()

    def _report(self, order: _Order, update: OrderUpdate, source: str) -> None:
        if update.order_id and not order.order_id:
            order.order_id = update.order_id
            self._cid_by_order_id[update.order_id] = order.request.client_order_id
        if (
            self.config.sabotage is Sabotage.WRONG_FINAL_STATE
            and not self._sabotaged
            and update.status in (OrderStatus.CANCELED, OrderStatus.FILLED)
            and update.filled_size_micro is not None
        ):
            self._sabotaged = True
            self.result.sabotaged = f"overstated the {source} report of order {order.request.client_order_id}"
            update = dataclasses.replace(update, filled_size_micro=update.filled_size_micro + SCALE)
        order.reports.append((source, update))

    # -- waiting ---------------------------------------------------------------------------------

    async def until(self, what: str, predicate: Callable[[], bool], timeout_s: float | None = None) -> bool:
        """Wait until `predicate()` holds (re-checked on every sink event and every 10 ms),
        at most `timeout_s` real seconds; returns whether it held (a wait that ran out is counted
        under `what`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.wait_s if timeout_s is None else timeout_s)
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                self.result.waits_timed_out[what] += 1
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(0.01, remaining))
        return True

    @staticmethod
    async def pass_turns(turns: int) -> None:
        """Let the event loop run `turns` rounds (frames and answers move meanwhile)."""
        for _ in range(turns):
            await asyncio.sleep(0)

    def book_ok(self, book_id: str) -> bool:
        book = self.client_book(book_id)
        if book is None or not book.trusted:
            return False
        bids, asks = self.venue_levels(book_id)
        return book.bids() == bids and book.asks() == asks

    def synced(self) -> bool:
        return all(self.book_ok(b) for b in self.book_ids())

    # -- client calls ----------------------------------------------------------------------------

    def next_cid(self) -> str:
        self._next_cid += 1
        return f"chaos-{self.seed}-{self._next_cid}"

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.calls.add(task)
        task.add_done_callback(self.calls.discard)
        return task

    async def _place(self, request: OrderRequest) -> None:
        order = self.orders[request.client_order_id] = _Order(request)
        try:
            update = await self.place(request)
        except Exception as exc:  # noqa: BLE001 - a place_order that raises is itself the finding
            self.escaped.append(f"place_order({request.client_order_id}) raised {type(exc).__name__}: {exc}")
            return
        self._report(order, update, "place")

    async def _cancel(self, order: _Order) -> None:
        try:
            update = await self.cancel(order)
        except ArbError:  # documented: unknown order, venue unavailable after retries
            return
        except Exception as exc:  # noqa: BLE001 - anything else escaping is the finding
            self.escaped.append(f"cancel_order({order.order_id}) raised {type(exc).__name__}: {exc}")
            return
        self._report(order, update, "cancel")

    async def _query_fills(self) -> None:
        try:
            await self.query_fills()
        except ArbError:  # documented: venue unavailable after retries
            pass
        except Exception as exc:  # noqa: BLE001 - anything else escaping is the finding
            self.escaped.append(f"fills() raised {type(exc).__name__}: {exc}")

    # -- the episode -----------------------------------------------------------------------------

    async def run(self) -> EpisodeResult:
        loop = asyncio.get_running_loop()
        previous_handler = loop.get_exception_handler()
        loop_errors: list[str] = []

        def on_loop_error(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            loop_errors.append(f"{context.get('message', '')}: {type(exc).__name__}: {exc}" if exc else str(context))

        loop.set_exception_handler(on_loop_error)
        try:
            await self.start()
            try:
                if not await self.until(
                    "first sync", lambda: self.synced() and self.connected(), self.config.wait_s * 5
                ):
                    self.result.check("connected", False, "the client never synced before the faults began")
                    return self.result
                self._chaos_started = True
                await self._chaos()
                await self._recover()
                await self._check(loop_errors)
            finally:
                for task in list(self.calls):
                    task.cancel()
                await asyncio.gather(*self.calls, return_exceptions=True)
                await self.close()
            gc.collect()  # a client task that died unobserved reports itself when collected
            await self.pass_turns(2)
            self.result.check("no_exception", not loop_errors, "; ".join(loop_errors[:3]))
        finally:
            loop.set_exception_handler(previous_handler)
        self.result.faults.update(self.faults.counts)
        return self.result

    async def _chaos(self) -> None:
        actions: list[tuple[str, float]] = [
            ("activity", 6),
            ("place", 6),
            ("cancel", 2.5),
            ("self_cross", 1),
            ("take", 2),
            ("query_fills", 0.4),
            ("advance", 2),
            ("fault", 5),
            ("watchdog", 1),
            ("timeout", 1),
            ("checkpoint", 1.5),
        ]
        names = [a for a, _ in actions]
        weights = [w for _, w in actions]
        for _ in range(self.config.steps):
            action = self.rng.choices(names, weights)[0]
            self.result.actions[action] += 1
            self.result.timeline.append(action)
            await self._act(action)
            if self._latency_steps:
                self._latency_steps -= 1
                if not self._latency_steps:
                    self.faults.latency_s = 0.0
            await self.pass_turns(self.rng.randint(1, 12))

    async def _act(self, action: str) -> None:
        rng = self.rng
        if action == "activity":
            self.activity()
        elif action in ("place", "self_cross"):
            request = self.new_request() if action == "place" else self.crossing_request()
            if request is not None:
                task = self._spawn(self._place(request))
                # half the time the engine waits for the answer, up to its timeout
                if rng.random() < 0.5 and not await self.until("order answer", task.done, 0.2):
                    self.time.advance(self.order_timeout_s + 0.5)
                    await self.until("order answer after its timeout", task.done)
        elif action == "cancel":
            known = [o for o in self.orders.values() if o.order_id]
            if known:
                self._spawn(self._cancel(rng.choice(known)))
        elif action == "take":
            hit = self.take_against_us()
            order = self.orders.get(self._cid_by_order_id.get(hit, "")) if hit else None
            if order is not None and rng.random() < 0.4:  # cancel it before its fill is seen
                self._spawn(self._cancel(order))
        elif action == "checkpoint":
            await self.quiet_check()
        elif action == "query_fills":
            self._spawn(self._query_fills())
        elif action == "advance":
            self.time.advance(rng.uniform(0.05, 1.0))
        elif action == "watchdog":
            await self.watchdog()
        elif action == "timeout":
            self.time.advance(self.order_timeout_s + 0.5)  # every answer still outstanding is now too late
        else:
            fault = await self._fault()
            self.result.actions[f"fault:{fault}"] += 1
            self.result.timeline[-1] = f"fault:{fault}"

    async def _fault(self) -> str:
        """One fault at a random moment: shared kinds here, the venue's own in `venue_fault`."""
        rng = self.rng
        kind = rng.choice(("http_burst", "latency", "lost_answer", "venue", "venue", "venue"))
        if kind == "http_burst":
            status = rng.choice((429, 500))
            self.faults.fail_next_http(status, rng.randint(1, 4))
            return f"http_{status}_burst"
        if kind == "latency":
            self.faults.latency_s = rng.uniform(0.0005, 0.003)
            self._latency_steps = rng.randint(1, 4)
            return "latency"
        if kind == "lost_answer":
            mode = rng.choice((AnswerFault.ANSWER_500, AnswerFault.NO_ANSWER))
            self.faults.lose_next_answers(mode, 1, self.order_path_prefix)
            return mode.value
        return await self.venue_fault()

    async def quiet_check(self) -> None:
        """Mid-episode, with the venue quiet: once every change has arrived, no book may be
        trusted while it differs from the venue's. Skipped while a socket is frozen (its client
        cannot know yet: its watchdog has not run)."""
        if any(self.faults.frozen(s) for s in self.book_stream_names):
            self.result.actions["checkpoint skipped (frozen)"] += 1
            return
        self.probe()

        def settled() -> bool:
            return all(self.book_ok(b) or not self._trusted(b) for b in self.book_ids())

        await self.until("quiet check", settled, 0.3)
        for book_id in self.book_ids():
            book = self.client_book(book_id)
            trusted_wrong = book is not None and book.trusted and not self.book_ok(book_id)
            self.result.check("book_trusted_equal", not trusted_wrong, self._book_detail(book_id, "mid-episode"))

    def _trusted(self, book_id: str) -> bool:
        book = self.client_book(book_id)
        return book is not None and book.trusted

    def _book_detail(self, book_id: str, when: str) -> str:
        book = self.client_book(book_id)
        if book is None:
            return f"book {book_id}: no book ({when})"
        bids, asks = self.venue_levels(book_id)
        return (
            f"book {book_id} trusted but differs ({when}): client {book.bids()} / {book.asks()}, venue {bids} / {asks}"
        )

    async def _recover(self) -> None:
        """Stop the faults and give the client every chance to recover, on bounded waits."""
        self.faults.clear_scripted()
        self.faults.latency_s = 0.0
        self.faults.slow_answers((), 0.0)
        self.stop_venue_faults()
        self.time.advance(max(self.order_timeout_s, self.request_timeout_s) + 1)  # outstanding answers time out
        for _ in range(4):  # a frozen socket ends when the client's watchdog replaces it
            if not any(self.faults.frozen(s) for s in self.stream_names):
                break
            await self.watchdog()
            self.end_unnoticeable_freezes()
            await self.until("freeze replaced", lambda: not any(self.faults.frozen(s) for s in self.stream_names), 0.3)
        if self.calls:
            await self.until("calls returned", lambda: all(t.done() for t in self.calls))
        for _ in range(3):  # fresh changes: a lost one shows as a gap or a best-price mismatch
            self.activity()
            await self.pass_turns(5)
        self.time.advance(self.order_settle_s + 1)  # sends still unanswered are settled by now

    async def _check(self, loop_errors: list[str]) -> None:
        result = self.result
        # connected, and every call returned
        pending = [t for t in self.calls if not t.done()]
        result.check("connected", not pending, f"{len(pending)} client call(s) never returned")
        # books: wait for the venue's books; a trusted book that still differs is the violation
        if self.config.sabotage is Sabotage.CORRUPT_BOOK:
            await self.until("sync before sabotage", self.synced)
            self._corrupt_a_book()
        if self.config.sabotage is Sabotage.DEAD_CLIENT:
            await self.kill_client()
            self.result.sabotaged = "closed the client"
        wrong: set[str] = set()
        if not await self.until("books synced", lambda: self.synced() and self.connected()):
            for book_id in self.book_ids():
                book = self.client_book(book_id)
                if book is not None and book.trusted and not self.book_ok(book_id):
                    wrong.add(book_id)
                    result.check("book_trusted_equal", False, self._book_detail(book_id, "after recovery"))
            await self.watchdog()  # liveness: the client's own health check may still fix it
            await self.until("books synced after watchdog", lambda: self.synced() and self.connected())
        for book_id in self.book_ids():
            if book_id not in wrong:
                result.check("book_trusted_equal", True)
            result.check("connected", self.book_ok(book_id), f"book {book_id} not trusted and equal again")
        result.check("connected", self.connected(), "the client is not connected")
        # fills: each of the venue's fills reaches the sink once; wait (bounded) for stragglers
        venue = self.venue_fills()
        result.venue_fills = len(venue)
        await self.until("fills delivered", lambda: all(f in self.fill_events for f in venue))
        self._check_fills(venue)
        # orders
        await self._check_orders()
        # exceptions
        result.check("no_exception", not self.escaped, "; ".join(self.escaped[:3]))
        for source, problems in self.client_errors():
            result.check("no_exception", not problems, f"{source}: {'; '.join(problems[:3])}")

    def _corrupt_a_book(self) -> None:
        for book_id in self.book_ids():
            book = self.client_book(book_id)
            bids = book.bids() if book is not None else ()
            if book is not None and book.trusted and bids:
                price, _ = bids[-1]  # one more contract at the deepest bid: still trusted, no longer the venue's
                book.apply_level(BookSide.BID, price, SCALE, ChangeMode.ADD, self.time.clock())
                self.result.sabotaged = f"changed book {book_id} behind the client's back"
                return

    def _check_fills(self, venue: dict[str, tuple[str, int, str, str]]) -> None:
        result = self.result
        for fill_id, (order_id, size, status, note) in venue.items():
            seen = self.fill_events.get(fill_id, [])
            if not seen:
                result.check(
                    "fills_exactly_once", False, f"fill {fill_id} ({note}, order {order_id}, {size}) never delivered"
                )
                continue
            statuses = [f.status.name for f in seen]
            problems = []
            if len(statuses) != len(set(statuses)):
                problems.append(f"delivered {len(seen)} times ({', '.join(statuses)})")
            first = seen[0]
            if first.size_micro != size or first.order_id != order_id:
                problems.append(f"size/order {first.size_micro}/{first.order_id} vs venue {size}/{order_id}")
            if status and statuses[-1] != status:
                problems.append(f"last status {statuses[-1]} vs venue {status}")
            result.check("fills_exactly_once", not problems, f"fill {fill_id}: {'; '.join(problems)}")
        for fill_id in self.fill_events:
            if fill_id not in venue:
                result.check("fills_exactly_once", False, f"fill {fill_id} delivered but the venue made no such fill")

    async def _check_orders(self) -> None:
        result = self.result
        result.orders = len(self.orders)
        for cid, order in self.orders.items():
            venue = self.venue_order(order)
            venue_state = venue if venue is not None else (False, 0)
            for source, update in order.reports:
                if update.status in _TERMINAL:
                    reported = _state_of(update)
                    result.check(
                        "order_state",
                        not _differs(reported, venue_state),
                        f"order {cid} ({order.order_id}): {source} reported {update.status.name} filled "
                        f"{update.filled_size_micro}, venue {'open' if venue_state[0] else 'done'} filled "
                        f"{venue_state[1]}" + ("" if venue is not None else " (venue has no such order)"),
                    )
            if order.final_report() is not None:
                continue
            # The last word was not final: the engine reconciles through the client's API.
            try:
                found = await self.reconcile(order)
            except ArbError as exc:
                result.check("order_state", False, f"order {cid}: reconcile failed: {type(exc).__name__}: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - an exception escaping reconcile is a finding
                self.escaped.append(f"reconcile({cid}) raised {type(exc).__name__}: {exc}")
                continue
            if found is None:
                continue
            if found.status not in _TERMINAL and found.status is not OrderStatus.OPEN:
                result.check(
                    "order_state", False, f"order {cid}: still {found.status.name} after reconciling ({found.reason})"
                )
                continue
            reported = _state_of(found)
            result.check(
                "order_state",
                not _differs(reported, venue_state),
                f"order {cid} ({order.order_id}): reconciled {found.status.name} filled {found.filled_size_micro}, "
                f"venue {'open' if venue_state[0] else 'done'} filled {venue_state[1]}",
            )
        for problem in self.order_table_problems():
            result.check("order_state", False, problem)


# -- Kalshi ----------------------------------------------------------------------------------------

_KALSHI_KEY_ID = "chaos-key"
_KALSHI_TICKERS = ("KXCHAOS-26-A", "KXCHAOS-26-B")
_kalshi_key: list[rsa.RSAPrivateKey] = []


def _kalshi_private_key() -> rsa.RSAPrivateKey:
    """One RSA key per process (generating one costs more than an episode's signing)."""
    if not _kalshi_key:
        _kalshi_key.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _kalshi_key[0]


class _KalshiEpisode(_Episode):
    venue = "kalshi"
    stream_names = ("market",)
    book_stream_names = ("market",)
    order_path_prefix = "/trade-api/v2/portfolio/"
    client: KalshiClient
    sim: KalshiSimulator

    async def start(self) -> None:
        key = _kalshi_private_key()
        self.sim = KalshiSimulator(
            api_keys={_KALSHI_KEY_ID: key.public_key()}, faults=self.faults, seed=self.seed, clock_ms=self.time.wall_ms
        )
        self.sim.add_series("KXCHAOS", "Chaos series", "quadratic", 1.0)
        self.sim.add_event("KXCHAOS-26", "KXCHAOS", "Which one", mutually_exclusive=True)
        participants = random.Random(f"chaos-participants:{self.seed}")
        for ticker in _KALSHI_TICKERS:
            engine = self.sim.add_market(ticker, "KXCHAOS-26", yes_sub_title=ticker[-1])
            mid = participants.randrange(30, 71) * 10_000
            maker = MarketMaker(
                "mm", engine, participants, mid_micro=mid, spread_ticks=2, levels=3, size_micro=8 * SCALE
            )
            maker.requote()
            self.sim.add_participant(maker)
            self.sim.add_participant(Taker("taker", engine, participants, max_lots=3))
        await self.sim.start()
        self.client = KalshiClient(
            KalshiConfig(
                rest_base_url=self.sim.rest_base_url,
                ws_url=self.sim.ws_url,
                check_interval_s=None,  # the episode runs the health check (`watchdog`)
                ping_interval_s=None,
                trust_env=False,
                feed_silence_s=self.feed_silence_s,
                snapshot_timeout_s=self.feed_silence_s,
                request_timeout_s=self.request_timeout_s,
                order_timeout_s=self.order_timeout_s,
                order_settle_s=self.order_settle_s,
                reconnect_base_s=0.05,
                reconnect_cap_s=1.0,
                reconnect_reset_s=5.0,
                retry_base_s=0.05,
                retry_cap_s=0.5,
            ),
            clock=self.time.clock,
            sleep=self.time.sleep,
            rng=random.Random(f"chaos-client:{self.seed}"),
            sink=self.sink,
            signer=KalshiSigner(_KALSHI_KEY_ID, key),
            wall_clock_ms=self.time.wall_ms,
            deadline=self.time.deadline,
        )
        await self.client.start()
        await self.client.subscribe(list(_KALSHI_TICKERS))

    def book_ids(self) -> list[str]:
        return list(_KALSHI_TICKERS)

    def venue_levels(self, book_id: str) -> tuple[LevelList, LevelList]:
        engine = self.sim.engines[book_id]
        return tuple(engine.levels(BookSide.BID)), tuple(engine.levels(BookSide.ASK))

    def venue_fills(self) -> dict[str, tuple[str, int, str, str]]:
        return {
            record["fill_id"]: (
                record["order_id"],
                _micro(record["count_fp"]),
                "",
                "taker" if record["is_taker"] else "maker",
            )
            for record in self.sim.fills_of(_KALSHI_KEY_ID)
        }

    def venue_order(self, order: _Order) -> tuple[bool, int] | None:
        for meta in self.sim.orders_of(_KALSHI_KEY_ID):
            if meta.order.client_order_id == order.request.client_order_id:
                return meta.order.is_open, meta.order.filled_micro
        return None

    def _price_request(
        self, ticker: str, outcome: Side, action: Action, yes_price: int, tif: TimeInForce
    ) -> OrderRequest:
        yes_price = min(990_000, max(10_000, yes_price))
        price = yes_price if outcome is Side.YES else SCALE - yes_price
        size = self.rng.randint(1, 4) * SCALE
        return OrderRequest(self.next_cid(), ticker, outcome, action, price, size, tif)

    def new_request(self) -> OrderRequest | None:
        rng = self.rng
        ticker = rng.choice(_KALSHI_TICKERS)
        engine = self.sim.engines[ticker]
        outcome = rng.choice((Side.YES, Side.NO))
        action = rng.choice((Action.BUY, Action.SELL))
        buys_yes = (outcome is Side.YES) is (action is Action.BUY)
        best = engine.best_ask() if buys_yes else engine.best_bid()
        if best is None:
            return None
        tif = rng.choices((TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK), (5, 3, 2))[0]
        # crossing (take) or up to two ticks short of the opposite best (rest, to be hit later)
        ticks = rng.choice((0, 0, 1, 2)) if tif is TimeInForce.GTC else rng.choice((0, 0, 1))
        yes_price = best[0] - ticks * 10_000 if buys_yes else best[0] + ticks * 10_000
        return self._price_request(ticker, outcome, action, yes_price, tif)

    def crossing_request(self) -> OrderRequest | None:
        resting = [m for m in self.sim.orders_of(_KALSHI_KEY_ID) if m.order.is_open]
        if not resting:
            return None
        meta = self.rng.choice(resting)
        # the opposite side of the same YES ladder, at the resting order's price
        if meta.order.side is BookSide.BID:
            return self._price_request(meta.ticker, Side.YES, Action.SELL, meta.order.price_micro_usd, TimeInForce.IOC)
        return self._price_request(meta.ticker, Side.YES, Action.BUY, meta.order.price_micro_usd, TimeInForce.IOC)

    async def reconcile(self, order: _Order) -> OrderUpdate | None:
        return await self.client.reconcile_order(order.request.client_order_id, order.request.market_id)

    def take_against_us(self) -> str:
        resting = [m for m in self.sim.orders_of(_KALSHI_KEY_ID) if m.order.is_open]
        if not resting:
            return ""
        meta = self.rng.choice(resting)
        taker_side = Action.SELL if meta.order.side is BookSide.BID else Action.BUY
        size = self.rng.randint(1, 3) * SCALE
        self.sim.submit(
            "outsider", meta.ticker, Side.YES, taker_side, meta.order.price_micro_usd, size, TimeInForce.IOC
        )
        return meta.order.order_id

    def probe(self) -> None:
        # Kalshi numbers its messages: fresh changes reveal a lost one (a gap) to the client.
        self.sim.step(2)

    async def venue_fault(self) -> str:
        kind = self.rng.choice(("freeze", "drop", "gap", "gap", "slow_answers"))
        if kind == "freeze":
            self.faults.freeze(self.sim.stream)
        elif kind == "drop":
            self.faults.drop_next(self.sim.stream)
        elif kind == "gap":
            self.faults.gap_next(self.sim.stream)
        else:
            self.faults.slow_answers((self.order_path_prefix,), self.rng.uniform(0.002, 0.01))
        return kind

    async def watchdog(self) -> None:
        self.time.advance(self.feed_silence_s + 0.5)
        commands = await self.client.check_staleness()
        renewed = any(isinstance(c, SendText) for c in commands)
        if renewed and self.faults.frozen(self.sim.stream) and self.rng.random() < 0.5:
            # The stall was the subscriptions': the venue serves the renewed ones again (what it
            # did not send meanwhile, fills included, is gone from the socket for good).
            self.faults.thaw(self.sim.stream)
            self.result.faults["stall_ended_by_resubscribe"] += 1
            self.result.timeline.append("stall ended by the resubscribe")

    def connected(self) -> bool:
        return self.client.connected

    def client_errors(self) -> list[tuple[str, list[str]]]:
        diagnostics = self.client.diagnostics
        session = self.client.session
        return [
            (
                "socket loop",
                [f"{type(e).__name__}: {e}" for e in diagnostics.loop_errors if not isinstance(e, ArbError)],
            ),
            ("sink", [f"{type(e).__name__}: {e}" for e in diagnostics.sink_errors]),
            ("rejected frames", [f"{r.error_type}: {r.message} ({r.frame[:80]})" for r in session.recent_errors]),
            ("simulator handlers", [f"{type(e).__name__}: {e}" for e in self.sim.http.handler_errors]),
        ]


# -- Polymarket ------------------------------------------------------------------------------------

_PM_CONDITION = "0x" + "c4" * 32
_PM_YES, _PM_NO = "9101", "9102"
_PM_KEY = "0x" + hashlib.sha256(b"arb chaos suite throwaway key").hexdigest()
_PM_CREDS = PolymarketCredentials(
    _PM_KEY, "chaos-api-key", base64.urlsafe_b64encode(b"chaos-secret-32-bytes-long-00000").decode(), "chaos-pass"
)


class _PolymarketEpisode(_Episode):
    venue = "polymarket"
    stream_names = ("market", "user")
    book_stream_names = ("market",)
    order_path_prefix = "/order"
    client: PolymarketClient
    sim: PolymarketSimulator

    _user_freeze_trips: int | None  # the client's user watchdog trips when the current user freeze began

    async def start(self) -> None:
        self._user_freeze_trips = None
        mid = random.Random(f"chaos-participants:{self.seed}").randrange(30, 71) * 10_000
        spec = PolymarketMarketSpec(_PM_CONDITION, "Will the chaos suite pass?", _PM_YES, _PM_NO, yes_mid_micro=mid)
        self.sim = PolymarketSimulator(
            [spec], clock_ms=self.time.wall_ms, faults=self.faults, seed=self.seed, maker_size_micro=20 * SCALE
        )
        await self.sim.start()
        self.account = self.sim.add_account(
            _PM_CREDS.api_key,
            _PM_CREDS.api_secret,
            _PM_CREDS.api_passphrase,
            _PM_CREDS.signer_address,
            cash_micro=10_000 * SCALE,
            positions={_PM_YES: 500 * SCALE, _PM_NO: 500 * SCALE},
        )
        self.client = PolymarketClient(
            PolymarketConfig(
                gamma_base_url=self.sim.gamma_url,
                clob_base_url=self.sim.clob_url,
                data_api_base_url=self.sim.gamma_url,
                market_ws_url=self.sim.market_ws_url,
                user_ws_url=self.sim.user_ws_url,
                check_interval_s=0.01,
                ping_interval_s=self.feed_silence_s / 2,
                pong_timeout_s=self.feed_silence_s * 2,
                feed_silence_s=self.feed_silence_s,
                request_timeout_s=self.request_timeout_s,
                order_timeout_s=self.order_timeout_s,
                order_settle_s=self.order_settle_s,
                reconnect_base_s=0.05,
                reconnect_cap_s=1.0,
                retry_base_s=0.05,
                retry_cap_s=0.5,
            ),
            clock=self.time.clock,
            sleep=self.time.sleep,
            rng=random.Random(f"chaos-client:{self.seed}"),
            sink=self.sink,
            credentials=_PM_CREDS,
            wall_clock_ms=self.time.wall_ms,
            deadline=self.time.deadline,
        )
        await self.client.start()
        await self.client.subscribe(await self.client.markets())  # no fault is armed yet

    def book_ids(self) -> list[str]:
        return [_PM_YES, _PM_NO]

    def venue_levels(self, book_id: str) -> tuple[LevelList, LevelList]:
        return self.sim.engines[book_id].snapshot()

    def venue_fills(self) -> dict[str, tuple[str, int, str, str]]:
        ours = self.account.api_key
        out: dict[str, tuple[str, int, str, str]] = {}
        for trade in self.sim.trades.values():
            fill = trade.fill
            self_trade = fill.taker_owner == fill.maker_owner
            for owner, order_id, role in (
                (fill.taker_owner, fill.taker_order_id, "taker"),
                (fill.maker_owner, fill.maker_order_id, "maker"),
            ):
                if owner == ours:
                    note = f"{role} leg{' of a trade against our own order' if self_trade else ''}"
                    out[f"{trade.trade_id}:{order_id}"] = (order_id, fill.size_micro, trade.status, note)
        return out

    def venue_order(self, order: _Order) -> tuple[bool, int] | None:
        meta = self.account.orders.get(order.order_id) if order.order_id else None
        if meta is None:
            return None
        if meta.order is None:  # acknowledged, not matched yet
            return True, 0
        return meta.order.is_open, meta.order.filled_micro

    def _token(self, outcome: Side) -> str:
        return _PM_YES if outcome is Side.YES else _PM_NO

    def new_request(self) -> OrderRequest | None:
        rng = self.rng
        outcome = rng.choice((Side.YES, Side.NO))
        action = rng.choice((Action.BUY, Action.SELL))
        engine = self.sim.engines[self._token(outcome)]
        best = engine.best_ask() if action is Action.BUY else engine.best_bid()
        if best is None:
            return None
        tif = rng.choices((TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK), (5, 3, 2))[0]
        ticks = rng.choice((0, 0, 1, 2)) if tif is TimeInForce.GTC else rng.choice((0, 0, 1))
        price = best[0] - ticks * 10_000 if action is Action.BUY else best[0] + ticks * 10_000
        return self._request(outcome, action, price, tif)

    def _request(self, outcome: Side, action: Action, price: int, tif: TimeInForce) -> OrderRequest:
        price = min(990_000, max(10_000, price))
        size = self.rng.randint(5, 9) * SCALE  # whole shares: every FOK/FAK amount is signable
        return OrderRequest(self.next_cid(), _PM_CONDITION, outcome, action, price, size, tif)

    def crossing_request(self) -> OrderRequest | None:
        resting = [m for m in self.account.resting.values() if m.order is not None and m.order.is_open]
        if not resting:
            return None
        meta = self.rng.choice(resting)
        outcome = Side.YES if meta.token == _PM_YES else Side.NO
        action = Action.SELL if meta.side is BookSide.BID else Action.BUY
        return self._request(outcome, action, meta.price_micro, TimeInForce.IOC)

    async def reconcile(self, order: _Order) -> OrderUpdate | None:
        if not order.order_id:
            return None  # refused before it was signed: nothing to reconcile
        return await self.client.reconcile_order(order.order_id)

    def take_against_us(self) -> str:
        resting = [m for m in self.account.resting.values() if m.order is not None and m.order.is_open]
        if not resting:
            return ""
        meta = self.rng.choice(resting)
        if self.rng.random() < 0.3:
            self.faults.drop_next("user")  # the fill's messages are lost with the socket
            self.result.timeline.append("fault:drop_user")
        side = BookSide.ASK if meta.side is BookSide.BID else BookSide.BID
        self.sim.take(meta.token, side, meta.price_micro, self.rng.randint(1, 6) * SCALE)
        return meta.order_id

    def _republish_book(self, token: str) -> None:
        """The venue sends a fresh `book` frame (the house ladder unchanged: none is set)."""
        self.sim.set_book(token, [], [], publish="snapshot")

    async def venue_fault(self) -> str:
        rng = self.rng
        kind = rng.choice(
            (
                "freeze",
                "freeze_user",
                "drop_market",
                "drop_user",
                "hash",
                "hash_twice",
                "hash_twice",
                "slow_book",
                "ack_then_fill",
            )
        )
        token = rng.choice((_PM_YES, _PM_NO))
        if kind == "freeze":
            self.faults.freeze("market")
        elif kind == "freeze_user":
            # PONGs still answered, no data: the client's watchdog replaces the socket once silence
            # counts (an order of ours open or a fill unsettled), and its catch-up finds what was missed.
            self._settle_user_freeze()
            if not self.faults.frozen("user"):
                self._user_freeze_trips = self.client.user_session.stats.watchdog_trips
            self.faults.freeze("user")
        elif kind == "drop_market":
            self.faults.drop_next("market")
        elif kind == "drop_user":
            self.faults.drop_next("user")
        elif kind == "hash":
            self.faults.corrupt_next_hash("market")
            self._republish_book(token)
        elif kind == "hash_twice":
            # A second mismatch while the first resync's (slow) /book answer is outstanding, the
            # book moving in between; then a quiet check of what the resyncs left.
            self.faults.slow_answers(("/book",), rng.uniform(0.005, 0.03))
            held = self.faults.counts["slow_answer"]
            self.faults.corrupt_next_hash("market")
            self._republish_book(token)
            # the first resync's /book answer is computed (and held) before the book moves
            await self.until("first /book answer computed", lambda: self.faults.counts["slow_answer"] > held, 0.3)
            self.sim.step()
            self.faults.corrupt_next_hash("market")
            self._republish_book(token)
            await self.pass_turns(rng.randint(0, 8))
            await self.quiet_check()
        elif kind == "slow_book":
            self.faults.slow_answers(("/book",), rng.uniform(0.002, 0.02))
        elif self.faults.ack_then_fill:
            self.sim.release_delayed()
            self.faults.ack_then_fill = rng.random() < 0.5
            kind = "release_delayed"
        else:
            self.faults.ack_then_fill = True
        return kind

    async def watchdog(self) -> None:
        stats = self.client.user_session.stats
        trips = stats.watchdog_trips
        due = self.faults.frozen("user") and self.client.user_session.awaiting()
        self.time.advance(self.feed_silence_s + 0.5)  # the client's own ticker notices within its interval
        await asyncio.sleep(self.client.config.check_interval_s * 2)
        if due:  # on a loaded machine the ticker can run late: wait for its trip, not a fixed time
            await self.until(
                "user watchdog replaced the frozen socket",
                lambda: stats.watchdog_trips > trips and not self.faults.frozen("user"),
            )
        self._settle_user_freeze()

    def _settle_user_freeze(self) -> None:
        """Count how an ended user freeze ended: the client's watchdog replaced the socket (its
        trip count moved since the freeze began), or another fault's reconnect (a drop) did."""
        if self._user_freeze_trips is None or self.faults.frozen("user"):
            return
        replaced = self.client.user_session.stats.watchdog_trips > self._user_freeze_trips
        self.result.actions["user freeze replaced by the watchdog" if replaced else "user freeze ended by a drop"] += 1
        self._user_freeze_trips = None

    def end_unnoticeable_freezes(self) -> None:
        """A frozen user socket while the client has no order open and no fill unsettled hides
        nothing, and the venue's user channel is silent then anyway: the client is right to keep it
        (replacing it would churn a quiet account's socket). The harness ends it."""
        if self.faults.frozen("user") and not self.client.user_session.awaiting():
            self.faults.thaw("user")
            self.result.actions["user freeze idle (thawed: nothing to miss)"] += 1
            self._user_freeze_trips = None

    def stop_venue_faults(self) -> None:
        self.faults.ack_then_fill = False
        self.sim.release_delayed()
        self._settle_user_freeze()

    def connected(self) -> bool:
        return self.client.connected["market"].is_set() and self.client.connected["user"].is_set()

    def client_errors(self) -> list[tuple[str, list[str]]]:
        diagnostics = self.client.diagnostics
        rejected = [*self.client.market_session.recent_errors, *self.client.user_session.recent_errors]
        handler_errors = [f"{type(e).__name__}: {e}" for e in self.sim.handler_errors]
        return [
            (
                "socket loop",
                [f"{type(e).__name__}: {e}" for e in diagnostics.loop_errors if not isinstance(e, ArbError)],
            ),
            ("sink", [f"{type(e).__name__}: {e}" for e in diagnostics.sink_errors]),
            ("rejected frames", [f"{r.error_type}: {r.message} ({r.frame[:80]})" for r in rejected]),
            ("simulator handlers", handler_errors),
        ]

    def order_table_problems(self) -> list[str]:
        """The client's own order table must not say OPEN for an order it reported final."""
        problems = []
        table = self.client.user_session.orders
        for cid, order in self.orders.items():
            final = order.final_report()
            row = table.get(order.order_id) if order.order_id else None
            if final is not None and row is not None and row.status not in _TERMINAL:
                problems.append(
                    f"order {cid} ({order.order_id}): the client reported {final[1].status.name} ({final[0]}) "
                    f"but its order table still says {row.status.name}"
                )
        return problems


# -- running ---------------------------------------------------------------------------------------

_EPISODES: dict[str, type[_Episode]] = {"kalshi": _KalshiEpisode, "polymarket": _PolymarketEpisode}


async def run_episode(venue: str, seed: int, config: ChaosConfig | None = None) -> EpisodeResult:
    """One seeded episode against one venue; never raises for what it finds (see the report)."""
    if venue not in _EPISODES:
        raise ConfigError(f"chaos venue must be one of {VENUES}, was {venue!r}")
    episode = _EPISODES[venue](seed, config or ChaosConfig())
    try:
        return await episode.run()
    except Exception as exc:  # noqa: BLE001 - the runner reports, never stops: an escape is a finding
        episode.result.check("no_exception", False, f"the episode itself failed: {type(exc).__name__}: {exc}")
        return episode.result


async def run_episodes(
    venues: Sequence[str],
    episodes: int,
    seed: int = 1,
    config: ChaosConfig | None = None,
    on_episode: Callable[[EpisodeResult], None] | None = None,
) -> ChaosReport:
    """`episodes` episodes per venue, seeds `seed`, `seed + 1`, ..."""
    report = ChaosReport()
    for venue in venues:
        for n in range(episodes):
            result = await run_episode(venue, seed + n, config)
            report.episodes.append(result)
            if on_episode is not None:
                on_episode(result)
    return report


def _episode_line(e: EpisodeResult) -> str:
    faults = sum(v for k, v in e.faults.items() if k != "frozen_frames")
    checks = sum(e.checks.values())
    return (
        f"{e.venue:<11} {e.seed:>8} {sum(e.actions.values()):>7} {faults:>6} {e.orders:>6} {e.venue_fills:>6} "
        f"{checks:>7} {len(e.violations):>10}"
    )


def print_report(report: ChaosReport, out: TextIO | None = None) -> None:
    """Invariant totals and the violations (with seeds) as a table (to stdout by default)."""
    out = sys.stdout if out is None else out
    checks, violations = report.checks, report.violation_counts
    print(f"\n{'invariant':<20} {'checks':>8} {'violations':>10}", file=out)
    for name in INVARIANTS:
        print(f"{name:<20} {checks[name]:>8} {violations[name]:>10}", file=out)
    venues = sorted({e.venue for e in report.episodes})
    for venue in venues:
        mine = [e for e in report.episodes if e.venue == venue]
        bad = [e for e in mine if e.violations]
        print(f"{venue}: {len(mine)} episodes, {len(bad)} with violations", file=out)
    for v in report.violations:
        print(f"  [{v.venue} seed {v.seed}] {v.invariant}: {v.detail}", file=out)


def run_chaos(
    venues: Sequence[str],
    episodes: int,
    seed: int = 1,
    json_path: Path | None = None,
    steps: int = 30,
    sabotage: Sabotage | None = None,
    wait_s: float = 2.0,
) -> ChaosReport:
    """`arb chaos`: run, print a table of episodes and invariant counts, optionally write JSON."""
    if episodes < 0:
        raise ConfigError(f"chaos episodes must be >= 0, was {episodes!r}")
    config = ChaosConfig(steps=steps, wait_s=wait_s, sabotage=sabotage)  # bad settings fail before any output
    header = f"{'venue':<11} {'seed':>8} {'actions':>7} {'faults':>6} {'orders':>6} {'fills':>6} {'checks':>7} {'violations':>10}"
    print(header)

    def show(result: EpisodeResult) -> None:
        print(_episode_line(result), flush=True)

    report = asyncio.run(run_episodes(venues, episodes, seed, config, show))
    print_report(report)
    if json_path is not None:
        json_path.write_text(json.dumps(report.as_json(), indent=2))
    return report
