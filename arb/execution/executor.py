"""The executor: one plan's legs out at once, tracked to a known end, and any imbalance repaired.

`Executor.execute(plan, component, books, context)`:
1. Gates: the full `RiskGate.check(context)` when a `PlanContext` is given, else the gates that
   need none (kill switch, loss halts, an open incident on the set, breakers and partitions of the
   plan's venues). Any refusal: nothing is journaled or sent. The partial-fill bound (pure Decimal
   work, several ms a plan) is computed in a worker thread; the stateful gates are read on the loop.
2. Journal: the intent (its orders from `orders.plan_orders`) goes into the ledger and the write
   returns before any order leaves; client order ids and Polymarket salts come from the journal, so
   every id an order will carry is on file first (Polymarket announces the order hash to the sink,
   PENDING, before its POST: recorded as it arrives).
3. Send: every order at once (one task each, `asyncio.gather`). The kill switch and the partition
   flags are read in the same event-loop turn that starts each send; a refused send is recorded
   REJECTED and never leaves.
4. Track: order state only from the venues' answers, events (`on_event`, wired as the clients'
   sink) and queries. An UNKNOWN order (a send that timed out, was cancelled or failed
   ambiguously) is reconciled (`reconcile_order`) until known, never sent again. Fills count only
   from fill events and fill queries (`fills`): an order final with more filled than its fills
   show is asked for its fills; a Polymarket FAK answered "live" is waited on (it may fill later)
   and cancelled when it still rests; a fill that later FAILS is reversed in the ledger and in the
   execution's holdings.
5. Imbalance (the legs did not fill in the plan's proportions): an incident is opened on the set
   (ledger + the risk gate's `Incidents`, so no new entry takes it until it is reconciled), what
   rests is cancelled, and the repair planner is asked, round after round, for a plan that
   completes or exits with priced limit orders, each executed the same way, until the set is hedged
   or flat; otherwise the set stays halted and the report says why. The planner and the final
   hedged/flat judgement see everything the set's instruments hold (`set_position`): the ledger's
   positions and per-market cash flows when trading started (mapped through the component's
   listings: the ledger keeps positions per (venue, market, outcome), fills restated to the
   instrument the plan traded) plus every fill of ours since, whichever plan made it. A run's own
   fills alone would hide inventory from earlier plans.

Loss halts: before each plan, after its entry orders settle and after every repair round,
`equity_usd()` (cash plus each traded set's holdings at their worst case over the set's outcomes)
goes to `RiskGate.observe_equity`; a daily-loss or drawdown breach then refuses new plans and
notifies once. Repairs are not stopped by it.

Ledger writes go through a `LedgerWriter` (`writer=`; by default one that writes at once on the
caller's connection; the daemon's commits off the loop): the journal and a Polymarket order's hash
(through the client's `set_before_post` hook) are awaited before the send, order states, fills and
incidents are handed over in order. While the writer's writes fail (a failing disk: they are kept
in memory and retried) every plan is refused (gate "ledger": nothing journaled or sent), and a
Polymarket order whose hash cannot be written is refused unsent.

Trading starts only after recovery: `execute` refuses every plan (REFUSED, gate "recovery":
nothing journaled or sent) until `allow_trading(report)` is given a clean `RecoveryReport`
(`require_recovery=False` at construction for a fresh ledger and venues, e.g. tests, benchmarks).

Latency: per order, send start -> the venue's answer (`LegLatency`); per plan, the call ->
every order answered (`ExecutionReport.plan_latency_ms`). Signing is inside both.

The kill switch: `kill(reason)` engages it (no order starts after this turn) and cancels what
rests (`cancel_resting`). A venue that stops answering (sends UNKNOWN and lookups failing
`unreachable_after_failures` times in a row) is marked unreachable in the circuit breakers: the
partition gate then refuses every plan touching it, and its unresolved orders are reconciled by
`reconcile_unresolved` once it answers again (resting ones cancelled: nothing left orphaned).
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

from arb.book import BinaryBook
from arb.domain import Action, Fill, FillStatus, OrderRequest, OrderStatus, OrderUpdate, Side, TimeInForce, Venue
from arb.errors import ArbError, ConfigError
from arb.execution.context import plan_context
from arb.execution.orders import (
    ExecutionOrderConfig,
    PlannedOrder,
    RoutedFill,
    plan_orders,
    route_fill,
    time_in_force_for,
)
from arb.execution.recovery import RecoveryReport
from arb.execution.repair import RepairDecision, RepairStatus, exposure
from arb.fixed import from_micro
from arb.graph import Component
from arb.ledger.store import Intent, JournaledLeg, Ledger, LedgerUnavailableError
from arb.ledger.writer import LedgerWrite, LedgerWriter
from arb.risk.gates import PlanContext, Refusal, RiskGate, partial_fill_risk
from arb.venues.base import Deadline, OrderSends, Sleep, VenueClient
from solvers.plan import SetPlan
from solvers.problem import Capital

__all__ = [
    "ExecutionReport",
    "ExecutionStatus",
    "Executor",
    "ExecutorConfig",
    "LegLatency",
    "OrderReport",
    "RepairDecisionLike",
    "RepairPlanning",
    "TrackedOrder",
]

_MICRO = Decimal(1_000_000)
_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED})
_NS_PER_MS = 1_000_000
_UNSETTLED = (OrderStatus.UNKNOWN, OrderStatus.PENDING)
_EARLY_KEPT = 4096  # order ids whose events wait for the id to be learned


RepairDecisionLike = RepairDecision  # the name the first executor commit exported


class RepairPlanning(Protocol):
    """`RepairPlanner`'s shape (what the executor calls): a repair of one set given what is held."""

    def plan(
        self,
        component: Component,
        books: Mapping[tuple[Venue, str], BinaryBook],
        holdings: Mapping[str, Decimal],
        cash_flow_usd: Decimal,
        capital: Capital,
    ) -> RepairDecision: ...


# Repair decisions that mean the set needs nothing more.
_SETTLED_REPAIR = frozenset({RepairStatus.FLAT, RepairStatus.HEDGED})


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    """Timing and patience of the executor (seconds on the injected clock / deadline).

    settle_timeout_s: after the answers, how long to wait for the fills and final states the venues
        announced (events) before asking for them (queries)
    reconcile_interval_s: pause between lookups of an order that is still UNKNOWN
    max_reconcile_attempts: lookups of one UNKNOWN order per pass before it is left unresolved
        (the set is halted; `reconcile_unresolved` goes on later). Attempts x interval should exceed
        the clients' `order_settle_s` (30 s by default): until then a lookup that misses a send
        says UNKNOWN (it may still be in flight), after it REJECTED
    unreachable_after_failures: failed calls in a row after which a venue is marked unreachable
    max_repair_rounds: repair plans tried on one imbalance before the set is halted
    batch_orders: a plan's orders to one venue go in that venue's batch request when it has one
        (`Capabilities.batch_orders`, up to `max_batch_size` each)
    defer_ledger_writes: order answers, events and fills heard while a plan's sends are out are
        written to the ledger right after its last answer, not in between (the intent and a
        Polymarket order's hash are always written before the send). A crash in that window loses
        only records recovery rebuilds from the venues (order states and fills).
    """

    orders: ExecutionOrderConfig = field(default_factory=ExecutionOrderConfig)
    settle_timeout_s: float = 2.0
    reconcile_interval_s: float = 0.5
    max_reconcile_attempts: int = 80
    unreachable_after_failures: int = 3
    max_repair_rounds: int = 3
    defer_ledger_writes: bool = True
    batch_orders: bool = True

    def __post_init__(self) -> None:
        for name in ("settle_timeout_s", "reconcile_interval_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ConfigError(f"executor {name} must be a positive number of seconds, was {value!r}")
        for name in ("max_reconcile_attempts", "unreachable_after_failures", "max_repair_rounds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"executor {name} must be an integer of at least 1, was {value!r}")


class ExecutionStatus(enum.Enum):
    REFUSED = "refused"  # a gate refused the plan: nothing sent
    COMPLETE = "complete"  # every leg filled as planned
    UNFILLED = "unfilled"  # nothing filled: flat, nothing to repair
    REPAIRED = "repaired"  # an imbalance, then repaired to hedged or flat (the incident stays open)
    HALTED = "halted"  # an imbalance or an unresolved order the executor could not settle: set halted


@dataclass(frozen=True, slots=True)
class LegLatency:
    client_order_id: str
    venue: Venue
    latency_ms: float | None  # send start -> the venue's answer (None: never answered)


@dataclass(frozen=True, slots=True)
class OrderReport:
    client_order_id: str
    order_id: str | None
    venue: Venue
    market_id: str
    status: OrderStatus
    size_micro: int
    filled_micro: int  # from fills (net of reversals)
    reason: str


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    set_id: str
    status: ExecutionStatus
    refusals: tuple[Refusal, ...] = ()
    intent_ids: tuple[str, ...] = ()
    orders: tuple[OrderReport, ...] = ()
    legs: tuple[LegLatency, ...] = ()
    plan_latency_ms: float | None = None  # call -> every entry order answered (None: some never answered)
    holdings: Mapping[str, Decimal] = field(default_factory=dict)  # instrument -> contracts this run moved
    cash_flow_usd: Decimal = Decimal(0)  # the run's fills: proceeds minus costs and fees
    # everything the set's instruments hold after the run (earlier plans and the ledger's opening
    # positions included) and the cash all their fills moved: what repairs and the final check judge
    set_holdings: Mapping[str, Decimal] = field(default_factory=dict)
    set_cash_flow_usd: Decimal = Decimal(0)
    repairs: tuple[str, ...] = ()  # each repair round's decision, in order
    incident_id: int | None = None
    reason: str = ""


@dataclass(slots=True)
class TrackedOrder:
    """One order of ours: what was planned and journaled, and what the venue has said of it."""

    planned: PlannedOrder
    intent_id: str
    set_id: str
    request: OrderRequest
    venue: Venue
    order_id: str | None = None
    status: OrderStatus = OrderStatus.PENDING
    venue_filled_micro: int | None = None  # the venue's cumulative filled size, when it said
    fill_hint_micro: int | None = None
    reason: str = ""
    sent_ns: int | None = None
    answered_ns: int | None = None
    sent: bool = False
    # raw venue fill id -> its routed shares (kept to reverse exactly what was applied)
    fills: dict[str, tuple[RoutedFill, ...]] = field(default_factory=dict)
    reversed: set[str] = field(default_factory=set)
    filled_micro: int = 0  # net of reversals, from fills only
    statuses: list[OrderStatus] = field(default_factory=list)  # every state heard of it, in order

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def final(self) -> bool:
        return self.status in _FINAL

    def expected_micro(self) -> int | None:
        """How much the venue says filled (its record, else its answer's hint on a final order)."""
        if self.venue_filled_micro is not None:
            return self.venue_filled_micro
        if self.status is OrderStatus.REJECTED:
            return 0
        if self.final and self.fill_hint_micro is not None:
            return self.fill_hint_micro
        return None

    def settled(self) -> bool:
        """Final, and every fill the venue reports is here."""
        expected = self.expected_micro()
        return self.final and expected is not None and self.filled_micro >= expected


@dataclass(slots=True)
class _SetRun:
    """One execution of a set (its entry and its repairs): what its report and a later repair of
    it need (the set, its books, the run's orders)."""

    component: Component
    books: Mapping[tuple[Venue, str], BinaryBook]
    orders: list[TrackedOrder]
    intent_ids: list[str]


_PositionKey = tuple[Venue, str, Side]  # (venue, market, outcome): how the ledger keeps positions
_MarketKey = tuple[Venue, str]


@dataclass(frozen=True, slots=True)
class _Opening:
    """The ledger's positions and cash flows per market when this executor started trading."""

    positions_micro: Mapping[_PositionKey, int]
    cash_usd: Mapping[_MarketKey, Decimal]
    ledger_cash_usd: Decimal = Decimal(0)  # every venue's cash on file (balances included)


def _fill_cash_usd(fill: Fill) -> Decimal:
    notional = Decimal(fill.price_micro_usd * fill.size_micro) / (_MICRO * _MICRO)
    fee = Decimal(fill.fee_micro_usd or 0) / _MICRO
    return (-notional if fill.action is Action.BUY else notional) - fee


def _ms(start_ns: int | None, end_ns: int | None) -> float | None:
    return None if start_ns is None or end_ns is None else (end_ns - start_ns) / _NS_PER_MS


class Executor:
    """Sends, tracks, reconciles and repairs plans (module docstring). Wire every client's sink to
    `on_event` (or call it from the engine's sink) so the orders' events reach it."""

    def __init__(
        self,
        ledger: Ledger,
        clients: Mapping[Venue, VenueClient],
        gate: RiskGate,
        *,
        repair: RepairPlanning | None = None,
        capital: Capital | None = None,
        config: ExecutorConfig | None = None,
        clock: Callable[[], int] = time.monotonic_ns,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        sleep: Sleep = asyncio.sleep,
        deadline: Deadline = asyncio.timeout,
        intent_ids: Callable[[], str] | None = None,
        require_recovery: bool = True,
        writer: LedgerWriter | None = None,
    ) -> None:
        self.ledger = ledger
        # Every ledger write goes through the writer, in order: the daemon's offloads the commits
        # from the loop and keeps writes a failing disk refused; by default each runs at once.
        self.writes = writer or LedgerWriter(ledger, offload=False)
        # A write that must be durable before a send (a Polymarket order's hash), by order id.
        self._durable: dict[str, LedgerWrite[Any]] = {}
        self._hooked: set[Venue] = set()  # venues whose client awaits `_before_post` before a POST
        for venue, client in clients.items():
            hook = getattr(client, "set_before_post", None)
            if callable(hook):
                hook(self._before_post)
                self._hooked.add(venue)
        self.clients = dict(clients)
        self.gate = gate
        self.repair = repair
        self.capital = capital
        self.config = config or ExecutorConfig()
        self._clock = clock
        self._wall_ms = wall_ms
        self._sleep = sleep
        self._deadline = deadline
        counter = itertools.count(1)
        self._intent_ids = intent_ids or (lambda: f"intent-{wall_ms()}-{next(counter)}")
        self.orders: dict[str, TrackedOrder] = {}  # by client order id
        self._by_order_id: dict[str, TrackedOrder] = {}
        # events for an order id not known yet (an answer still on its way), the newest ids kept
        self._early: OrderedDict[str, list[OrderUpdate | Fill]] = OrderedDict()
        self._changed = asyncio.Event()
        self._failures: dict[Venue, int] = {}
        self.unmatched_events = 0  # events heard for orders this executor does not track (not ours, or older)
        self._run_of: dict[str, _SetRun] = {}  # client order id -> the execution it belongs to
        self._active: dict[str, _SetRun] = {}  # per set, the execution or repair under way
        # per set, an entry whose orders have not all settled: the loss halts do not value it yet
        self._entering: dict[str, _SetRun] = {}
        self._late: dict[str, tuple[_SetRun, str]] = {}  # reversals heard while their set was busy
        self._components: dict[str, Component] = {}  # every set traded, by id: whose holdings equity values
        self.equity_errors: list[ArbError] = []  # equity that could not be valued (the halts did not see it)
        # What the instruments hold: the ledger's positions when trading started plus every fill of
        # ours since (reversals undone), per (venue, market, outcome); cash per (venue, market).
        self._opening: _Opening | None = None
        self._held_micro: dict[_PositionKey, int] = {}
        self._cash_usd: dict[_MarketKey, Decimal] = {}
        self._recovery_refusal: str | None = (
            "no clean recovery yet: trading starts after Executor.allow_trading(report)" if require_recovery else None
        )
        self._entries_stopped: str | None = None  # `stop_entries`: why no new plan is taken
        self._send_windows = 0  # plans between their first send and their last answer
        self._deferred: list[tuple[str, OrderUpdate | Fill, int]] = []
        self._background: set[asyncio.Task[None]] = set()
        self.late_reports: list[ExecutionReport] = []  # repairs after fills reversed late
        self.ledger_errors: list[ArbError] = []
        self.send_errors: list[Exception] = []  # what a client's place_order raised (it should not)

    # -- start -----------------------------------------------------------------------------------------

    def allow_trading(self, report: RecoveryReport) -> None:
        """Start-up recovery said the ledger and the venues agree: trading may start. An unclean
        report keeps (or puts) the executor refusing every plan and raises `RecoveryError`
        listing the differences."""
        if not isinstance(report, RecoveryReport):
            raise ConfigError(f"allow_trading needs a RecoveryReport, was {type(report).__name__}")
        if not report.clean:
            self._recovery_refusal = f"the last recovery was not clean ({len(report.differences)} difference(s))"
            report.require_clean()
        self._recovery_refusal = None

    @property
    def trading_allowed(self) -> bool:
        return self._recovery_refusal is None

    def stop_entries(self, reason: str) -> None:
        """No new plan from now on (refused, gate "stopping"), while executions under way settle
        and their repairs are still sent: a shutdown, unlike the kill switch (which refuses every
        order, repairs included), must not leave a half-filled set unhedged."""
        self._entries_stopped = reason

    # -- events --------------------------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        """The clients' sink (or a tee of it): order updates and fills of our orders are recorded;
        everything else is ignored. Never raises on a bad event (recorded in `ledger_errors`)."""
        if isinstance(event, OrderUpdate):
            tracked = self._find(event.client_order_id, event.order_id)
            if tracked is None:
                self._stash(event.order_id, event)
            else:
                self._apply_update(tracked, event)
        elif isinstance(event, Fill):
            tracked = self._find(event.client_order_id, event.order_id)
            if tracked is None:
                self._stash(event.order_id, event)
            else:
                self._apply_fill(tracked, event)

    def _find(self, client_order_id: str | None, order_id: str | None) -> TrackedOrder | None:
        if client_order_id and client_order_id in self.orders:
            return self.orders[client_order_id]
        if order_id:
            return self._by_order_id.get(order_id)
        return None

    def _stash(self, order_id: str | None, event: OrderUpdate | Fill) -> None:
        """Keep an event for an order id we may learn soon (a fill can beat the send's answer).
        Bounded: events of orders that are not ours (other processes on the account) age out."""
        self.unmatched_events += 1
        if not order_id:
            return
        self._early.setdefault(order_id, []).append(event)
        self._early.move_to_end(order_id)
        while len(self._early) > _EARLY_KEPT:
            self._early.popitem(last=False)

    def _learn_order_id(self, tracked: TrackedOrder, order_id: str) -> None:
        if not order_id or tracked.order_id == order_id:
            return
        tracked.order_id = order_id
        self._by_order_id[order_id] = tracked
        for event in self._early.pop(order_id, []):
            self.unmatched_events -= 1
            self.on_event(event)

    def _apply_update(self, tracked: TrackedOrder, update: OrderUpdate) -> None:
        if update.order_id:
            self._learn_order_id(tracked, update.order_id)
        if not tracked.statuses or tracked.statuses[-1] is not update.status:
            tracked.statuses.append(update.status)
        if not tracked.final:
            if update.status is OrderStatus.PENDING and tracked.status is not OrderStatus.PENDING:
                pass  # a late PENDING (Polymarket's pre-send announcement) never undoes an answer
            else:
                tracked.status = update.status
                tracked.reason = update.reason
        if update.filled_size_micro is not None:
            tracked.venue_filled_micro = max(tracked.venue_filled_micro or 0, update.filled_size_micro)
        if update.fill_hint_micro is not None:
            tracked.fill_hint_micro = max(tracked.fill_hint_micro or 0, update.fill_hint_micro)
        stored = replace(update, client_order_id=tracked.client_order_id, order_id=tracked.order_id or "")
        job = self._write("record_order", stored, now=update.status is OrderStatus.PENDING)
        pending_hash = update.status is OrderStatus.PENDING and stored.order_id and tracked.venue in self._hooked
        if pending_hash and job is not None and not job.done:
            self._durable[stored.order_id] = job  # its POST waits for this commit (`_before_post`)
        self._changed.set()

    def _apply_fill(self, tracked: TrackedOrder, fill: Fill) -> None:
        if fill.order_id:
            self._learn_order_id(tracked, fill.order_id)
        fill = replace(fill, client_order_id=tracked.client_order_id)
        shares = tracked.fills.get(fill.fill_id)
        first = shares is None
        if shares is None:
            shares = route_fill(tracked.planned, fill, tracked.filled_micro)
            tracked.fills[fill.fill_id] = shares
        # The effect on this order follows from its own fill memory (ids, reversals), not from the
        # ledger's answer: the ledger write may be deferred (see `_write`); the ledger dedupes too.
        failed = fill.status is FillStatus.FAILED
        reversing = failed and not first and fill.fill_id not in tracked.reversed
        if failed:
            tracked.reversed.add(fill.fill_id)
        for share in shares:
            self._write("record_fill", replace(share.fill, status=fill.status))
            if first and not failed:
                tracked.filled_micro += share.fill.size_micro
                self._hold(share.fill, 1)
            elif reversing:
                tracked.filled_micro -= share.fill.size_micro
                self._hold(share.fill, -1)
        if reversing:
            self._after_reversal(tracked, fill.fill_id)
        self._changed.set()

    def _hold(self, share: Fill, sign: int) -> None:
        """Count a routed fill share in (sign 1) or out of (-1) what the instruments hold; the
        share is stated on the instrument its plan leg traded, as the ledger records it."""
        if share.outcome is None or share.action is None:
            return  # route_fill states every share on its leg's instrument; the ledger refuses such a fill too
        key = (share.venue, share.market_id, share.outcome)
        signed = share.size_micro if share.action is Action.BUY else -share.size_micro
        self._held_micro[key] = self._held_micro.get(key, 0) + sign * signed
        market = (share.venue, share.market_id)
        self._cash_usd[market] = self._cash_usd.get(market, Decimal(0)) + sign * _fill_cash_usd(share)

    def _write(self, write: str, record: OrderUpdate | Fill, *, now: bool = False) -> LedgerWrite[Any] | None:
        """A ledger write (`write`: "record_order" | "record_fill") of an order state or a fill,
        handed to the writer (in order; kept and retried while the disk fails) at once, or while
        some plan is between its first send and its last answer (and `defer_ledger_writes`) held
        and handed over right after, so the commits stay out of the send window. A Polymarket
        order's hash (`now`) is handed over at once: its POST waits for it (`_before_post`)."""
        if self._send_windows and self.config.defer_ledger_writes and not now:
            self._deferred.append((write, record, self._wall_ms()))
            return None
        return self._submit(write, record, self._wall_ms())

    def _submit(self, write: str, record: OrderUpdate | Fill, now_ms: int) -> LedgerWrite[Any]:
        what = f"{write} {record.venue.value}/{getattr(record, 'fill_id', '') or record.client_order_id}"

        def call(ledger: Ledger) -> object:
            return getattr(ledger, write)(record, now_ms=now_ms)

        return self.writes.submit(call, what, on_error=self.ledger_errors.append)

    def _flush_writes(self) -> None:
        deferred, self._deferred = self._deferred, []
        for write, record, now_ms in deferred:
            self._submit(write, record, now_ms)

    async def _before_post(self, update: OrderUpdate) -> None:
        """The Polymarket client's hook between announcing an order's hash and its POST: the hash
        must be on file first (so recovery can find the order). Raises `LedgerUnavailableError`
        when writes are failing (the client then refuses the order: it never leaves; the record
        stays queued and is written later)."""
        job = self._durable.pop(update.order_id, None)
        if job is None or await self.writes.settled(job):
            return
        if job.error is not None and not isinstance(job.error, LedgerUnavailableError):
            return  # refused for what it says (already in ledger_errors): waiting will not help
        raise LedgerUnavailableError(
            f"order {update.order_id} not sent: its hash is not on file: {self.writes.refusal()}"
        )

    async def _until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait (on events, no polling) until `predicate` holds or `timeout_s` passes."""
        if predicate():
            return True
        with suppress(TimeoutError):
            async with self._deadline(timeout_s):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        return predicate()

    # -- gates ---------------------------------------------------------------------------------------

    async def _refusals(
        self,
        plan: SetPlan,
        component: Component,
        books: Mapping[tuple[Venue, str], BinaryBook],
        context: PlanContext | None,
    ) -> list[Refusal]:
        """Every gate, always: without a caller's context one is built from the plan, its component
        and books (partial-fill bound, book trust and age, limits), so no gate is skipped. The
        partial-fill bound (pure Decimal work, several ms a plan) is computed in a worker thread;
        every stateful gate is then read, and the rate budget taken, on the loop in one turn."""
        if not plan.legs:
            return [Refusal("empty", "the plan has no legs")]
        halted = self.writes.refusal()
        if halted is not None:  # nothing may be journaled: entries halt until the backlog is written
            return [Refusal("ledger", halted)]
        if context is None:
            holdings = self.set_position(component)[0]  # everything the set holds, not this run alone
            try:
                context = plan_context(
                    plan,
                    component,
                    books,
                    time_in_force=self._time_in_force,
                    holdings_by_instrument=holdings,
                    open_plans=len(self._active),  # plans and repairs under way
                )
            except ConfigError as exc:
                return [Refusal("plan", str(exc))]
        if context.set_id != plan.set_id:
            raise ConfigError(f"plan context is for set {context.set_id}, the plan for {plan.set_id}")
        risk = await asyncio.to_thread(partial_fill_risk, context)
        return self.gate.check(context, partial_fill=risk)

    def _time_in_force(self, venue: Venue) -> TimeInForce:
        return time_in_force_for(self.clients[venue].capabilities, self.config.orders, venue)

    def _send_refusal(self, venue: Venue) -> str | None:
        """Why an order to `venue` may not start now (read in the turn that would start it)."""
        refused = self.gate.kill_switch.check()
        if refused is not None:
            return refused.reason
        blocked = self.gate.breakers.check([venue.value])
        return blocked[0].reason if blocked else None

    # -- execute -------------------------------------------------------------------------------------

    async def execute(
        self,
        plan: SetPlan,
        component: Component,
        books: Mapping[tuple[Venue, str], BinaryBook],
        context: PlanContext | None = None,
    ) -> ExecutionReport:
        if self._recovery_refusal is not None:
            refusal = Refusal("recovery", f"trading not allowed: {self._recovery_refusal}")
            return ExecutionReport(plan.set_id, ExecutionStatus.REFUSED, refusals=(refusal,), reason="refused")
        if self._entries_stopped is not None:
            refusal = Refusal("stopping", f"no new plan: {self._entries_stopped}")
            return ExecutionReport(plan.set_id, ExecutionStatus.REFUSED, refusals=(refusal,), reason="refused")
        if self._opening is None and not await self.writes.drained():
            # the opening positions are read from a ledger with every queued write on file
            refusal = Refusal("ledger", f"opening positions not read: {self.writes.refusal()}")
            return ExecutionReport(plan.set_id, ExecutionStatus.REFUSED, refusals=(refusal,), reason="refused")
        self._observe_equity()  # before the loss-halt gate reads it (and outside the plan's latency)
        start_ns = self._clock()
        refusals = await self._refusals(plan, component, books, context)
        if refusals:
            return ExecutionReport(plan.set_id, ExecutionStatus.REFUSED, refusals=tuple(refusals), reason="refused")
        capabilities = {venue: client.capabilities for venue, client in self.clients.items()}
        planned = plan_orders(plan, component, books, capabilities, self.config.orders)
        self._opening_position()  # taken before this executor's first order
        try:
            entry = await self._journal(plan.set_id, planned)
        except LedgerUnavailableError as exc:
            refusal = Refusal("ledger", f"intent not journaled, nothing sent: {exc}")
            return ExecutionReport(plan.set_id, ExecutionStatus.REFUSED, refusals=(refusal,), reason="refused")
        self._components[plan.set_id] = component
        run = _SetRun(component, books, list(entry), [entry[0].intent_id])
        self._adopt(run, entry)
        self._active[plan.set_id] = run
        self._entering[plan.set_id] = run
        try:
            await self._send_all(entry)
            answered = [t.answered_ns for t in entry]
            plan_latency = None if None in answered else _ms(start_ns, max(a for a in answered if a is not None))
            unresolved = await self._settle(entry)
            self._entering.pop(plan.set_id, None)
            self._observe_equity()
            status, reason, repairs, incident = self._judge_entry(entry, unresolved)
            if status is ExecutionStatus.HALTED and not unresolved:
                status, reason, repairs, incident = await self._repair_loop(plan.set_id, run, reason)
            elif status is ExecutionStatus.HALTED:
                incident = await self._open_incident(plan.set_id, reason)
        finally:
            self._entering.pop(plan.set_id, None)
            self._release(plan.set_id)
        legs = tuple(LegLatency(t.client_order_id, t.venue, _ms(t.sent_ns, t.answered_ns)) for t in entry)
        return self._report(plan.set_id, run, status, reason, repairs, incident, legs, plan_latency)

    def _report(
        self,
        set_id: str,
        run: _SetRun,
        status: ExecutionStatus,
        reason: str,
        repairs: Sequence[str],
        incident: int | None,
        legs: tuple[LegLatency, ...] = (),
        plan_latency: float | None = None,
    ) -> ExecutionReport:
        holdings, cash = self._position(run.orders)
        set_holdings, set_cash = self.set_position(run.component)
        return ExecutionReport(
            set_id=set_id,
            status=status,
            intent_ids=tuple(run.intent_ids),
            orders=tuple(self._order_report(t) for t in run.orders),
            legs=legs,
            plan_latency_ms=plan_latency,
            holdings=holdings,
            cash_flow_usd=cash,
            set_holdings=set_holdings,
            set_cash_flow_usd=set_cash,
            repairs=tuple(repairs),
            incident_id=incident,
            reason=reason,
        )

    def _after_reversal(self, tracked: TrackedOrder, fill_id: str) -> None:
        """A fill was reversed after its plan's execution ended: the set may be exposed again, so
        it is repaired like any imbalance (in the background; `idle()` waits for it). While the set
        is busy (an execution or repair under way) the repair waits until it is done."""
        run = self._run_of.get(tracked.client_order_id)
        if run is None:
            return
        reason = f"fill {fill_id} of {tracked.client_order_id} failed on chain after the plan settled"
        active = self._active.get(tracked.set_id)
        if active is run:
            return  # the run under way judges its own fills when it settles
        if active is not None:
            self._late.setdefault(tracked.set_id, (run, reason))  # repaired when the set is free
            return
        self._start_late_repair(tracked.set_id, run, reason)

    def _start_late_repair(self, set_id: str, run: _SetRun, reason: str) -> None:
        self._active[set_id] = run
        task = asyncio.get_running_loop().create_task(self._late_repair(set_id, run, reason))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _release(self, set_id: str) -> None:
        self._active.pop(set_id, None)
        pending = self._late.pop(set_id, None)
        if pending is not None:
            self._start_late_repair(set_id, *pending)

    async def _late_repair(self, set_id: str, run: _SetRun, reason: str) -> None:
        try:
            status, why, repairs, incident = await self._repair_loop(set_id, run, reason)
            self.late_reports.append(self._report(set_id, run, status, why, repairs, incident))
        finally:
            self._release(set_id)

    async def idle(self) -> None:
        """Wait until the background repairs (after late fill reversals) are done."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def cancel_background(self) -> None:
        """Cancel the background repairs (the engine is going away without its shutdown path; the
        journal holds what they sent, for the next start's recovery)."""
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _journal(
        self, set_id: str, planned: Sequence[PlannedOrder], repair_of_incident: int | None = None
    ) -> list[TrackedOrder]:
        """Journal the orders' intent and track them; returns once the journal is committed (before
        anything leaves). Raises `LedgerUnavailableError` (nothing journaled) while writes fail."""
        intent_id = self._intent_ids()
        legs = tuple(order.intent_leg() for order in planned)
        intent = Intent(intent_id, set_id, self._wall_ms(), legs, repair_of_incident)

        def journal(ledger: Ledger) -> tuple[JournaledLeg, ...]:
            return ledger.journal_intent(intent)

        journaled = await self.writes.commit(journal, f"journal_intent {intent_id}")
        tracked: list[TrackedOrder] = []
        for order, leg in zip(planned, journaled, strict=True):
            salt = leg.salt if order.venue is Venue.POLYMARKET else None
            entry = TrackedOrder(order, intent_id, set_id, order.request(leg.client_order_id, salt), order.venue)
            self.orders[leg.client_order_id] = entry
            tracked.append(entry)
        return tracked

    async def _send_all(self, orders: Sequence[TrackedOrder]) -> None:
        self._send_windows += 1
        try:
            sends: list[Awaitable[None]] = []
            by_venue: dict[Venue, list[TrackedOrder]] = {}
            for tracked in orders:
                by_venue.setdefault(tracked.venue, []).append(tracked)
            for venue, group in by_venue.items():
                capabilities = self.clients[venue].capabilities
                if self.config.batch_orders and capabilities.batch_orders and len(group) > 1:
                    size = max(1, capabilities.max_batch_size)
                    sends += [self._send_batch(venue, group[i : i + size]) for i in range(0, len(group), size)]
                else:
                    sends += [self._send(t) for t in group]
            await asyncio.gather(*sends)
        finally:
            self._send_windows -= 1
            if not self._send_windows:
                self._flush_writes()

    async def _send(self, tracked: TrackedOrder) -> None:
        refused = self._send_refusal(tracked.venue)
        if refused is not None:
            self._apply_update(tracked, self._local_update(tracked, OrderStatus.REJECTED, f"not sent: {refused}"))
            tracked.venue_filled_micro = 0
            return
        client = self.clients[tracked.venue]
        tracked.sent = True
        tracked.sent_ns = self._clock()
        try:
            update = await client.place_order(tracked.request)
        except Exception as exc:  # noqa: BLE001 - raised before or while sending: the outcome is not known
            self.send_errors.append(exc)
            update = self._local_update(tracked, OrderStatus.UNKNOWN, f"send failed: {type(exc).__name__}: {exc}")
        if update.status is OrderStatus.UNKNOWN and not self._answered(client, update):
            self._venue_call(tracked.venue, ok=False)
        else:
            tracked.answered_ns = self._clock()
            self._venue_call(tracked.venue, ok=True)
        self._apply_update(tracked, update)

    @staticmethod
    def _answered(client: VenueClient, update: OrderUpdate) -> bool:
        """Whether the venue answered the send although the state is UNKNOWN (Polymarket: a FAK
        answered "matched" or "live" says nothing of its fills yet). Such an answer is not a call
        without an answer: it must not count towards marking the venue unreachable."""
        sends = getattr(client, "sends", None)
        if not isinstance(sends, OrderSends):
            return False
        for key in (update.order_id, update.client_order_id):
            sent = sends.get(key) if key else None
            if sent is not None:
                return sent.answered
        return False

    async def _send_batch(self, venue: Venue, batch: Sequence[TrackedOrder]) -> None:
        """Several orders to one venue in one batch request (one signature, one round trip where the
        venue has a batch endpoint); each answer applies to its own order, a lost one is UNKNOWN."""
        refused = self._send_refusal(venue)
        if refused is not None:
            for tracked in batch:
                self._apply_update(tracked, self._local_update(tracked, OrderStatus.REJECTED, f"not sent: {refused}"))
                tracked.venue_filled_micro = 0
            return
        client: Any = self.clients[venue]
        now = self._clock()
        for tracked in batch:
            tracked.sent, tracked.sent_ns = True, now
        try:
            answers: Sequence[OrderUpdate] = await client.place_orders([t.request for t in batch])
        except Exception as exc:  # noqa: BLE001 - raised before or while sending: the outcome is not known
            self.send_errors.append(exc)
            answers = []
        answered = self._clock()
        by_cid = {a.client_order_id: a for a in answers if a.client_order_id}
        for position, tracked in enumerate(batch):
            update = by_cid.get(tracked.client_order_id) or (
                answers[position] if position < len(answers) and not answers[position].client_order_id else None
            )
            if update is None:
                update = self._local_update(tracked, OrderStatus.UNKNOWN, "no answer for this order in the batch")
            heard = update.status is not OrderStatus.UNKNOWN or self._answered(client, update)
            if heard:
                tracked.answered_ns = answered
            self._venue_call(venue, ok=heard)
            self._apply_update(tracked, update)

    def _local_update(self, tracked: TrackedOrder, status: OrderStatus, reason: str) -> OrderUpdate:
        request = tracked.request
        done = status is OrderStatus.REJECTED
        return OrderUpdate(
            venue=tracked.venue,
            order_id=tracked.order_id or "",
            client_order_id=request.client_order_id,
            market_id=request.market_id,
            book_id="",
            outcome=request.outcome,
            action=request.action,
            status=status,
            price_micro_usd=request.price_micro_usd,
            initial_size_micro=request.size_micro,
            filled_size_micro=0 if done else None,
            remaining_size_micro=0 if done else None,
            reason=reason,
        )

    def _venue_call(self, venue: Venue, *, ok: bool, reason: str = "") -> None:
        self.gate.breakers.record(venue.value, ok)
        if ok:
            self._failures[venue] = 0
            return
        self._failures[venue] = self._failures.get(venue, 0) + 1
        if self._failures[venue] >= self.config.unreachable_after_failures:
            why = reason or f"{self._failures[venue]} calls in a row without an answer"
            self.gate.breakers.mark_unreachable(venue.value, why)

    # -- settling ------------------------------------------------------------------------------------

    async def _settle(self, orders: Sequence[TrackedOrder]) -> list[TrackedOrder]:
        """Bring every order to a known end with all its fills; returns those left unresolved."""
        unknown = [t for t in orders if t.sent and t.status in _UNSETTLED]
        await asyncio.gather(*(self.reconcile(t) for t in unknown))  # lookups at once: no event will tell

        def heard_enough() -> bool:  # an order still unknown after its lookups will not settle by events
            return all(t.settled() or t.status in _UNSETTLED for t in orders)

        await self._until(heard_enough, self.config.settle_timeout_s)
        results = await asyncio.gather(*(self._settle_one(t) for t in orders))
        return [t for t, ok in zip(orders, results, strict=True) if not ok]

    async def _settle_one(self, tracked: TrackedOrder) -> bool:
        if tracked.settled():
            return True
        if not tracked.final and tracked.sent:
            if not await self.reconcile(tracked):
                return False
            if tracked.status is OrderStatus.OPEN:  # rests (a FAK answered "live", or a GTC): cancel it
                await self._cancel(tracked)
                if not tracked.final and tracked.request.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                    # an immediate order cannot rest: a refused cancel means the venue is still
                    # matching it (Polymarket "being matched"); it ends by itself, so wait for that
                    await self._until(lambda: tracked.final, self.config.settle_timeout_s)
                    if not tracked.final:
                        await self._lookup(tracked)
                if not tracked.final and not await self.reconcile(tracked):
                    return False
        if not tracked.final:
            return False
        if tracked.expected_micro() is None:  # final, but how much filled is not said: ask
            await self._lookup(tracked)
        expected = tracked.expected_micro()
        if expected is not None and tracked.filled_micro < expected:
            await self._query_fills(tracked)
            await self._until(tracked.settled, self.config.settle_timeout_s)
        return tracked.settled()

    async def reconcile(self, tracked: TrackedOrder) -> bool:
        """Ask the venue until the order is not UNKNOWN/PENDING (never re-sent). False when it stays
        unknown after `max_reconcile_attempts` lookups (or the venue stops answering)."""
        for _ in range(self.config.max_reconcile_attempts):
            if tracked.status not in (OrderStatus.UNKNOWN, OrderStatus.PENDING):
                return True
            if not await self._lookup(tracked) and self._unreachable(tracked.venue):
                return False
            if tracked.status in (OrderStatus.UNKNOWN, OrderStatus.PENDING):
                await self._sleep(self.config.reconcile_interval_s)
        return tracked.status not in (OrderStatus.UNKNOWN, OrderStatus.PENDING)

    def _unreachable(self, venue: Venue) -> bool:
        return any(r.gate == "partition" for r in self.gate.breakers.check([venue.value]))

    async def _lookup(self, tracked: TrackedOrder) -> bool:
        """One `reconcile_order` lookup, applied. Kalshi finds orders by client order id,
        Polymarket by order id (the hash: known before the POST left)."""
        client: Any = self.clients[tracked.venue]
        try:
            if tracked.venue is Venue.KALSHI:
                update = await client.reconcile_order(tracked.client_order_id, tracked.request.market_id)
            else:
                if not tracked.order_id:
                    # The client announces the hash (PENDING) before its POST starts; none heard: the
                    # order was never signed, so never sent.
                    local = self._local_update(tracked, OrderStatus.REJECTED, "never signed, so never sent")
                    self._apply_update(tracked, local)
                    tracked.venue_filled_micro = 0
                    return True
                update = await client.reconcile_order(tracked.order_id)
        except ArbError as exc:
            self._venue_call(tracked.venue, ok=False, reason=f"lookup failed: {exc}")
            return False
        self._venue_call(tracked.venue, ok=True)
        if not isinstance(update, OrderUpdate):
            return False
        self._apply_update(tracked, update)
        return True

    async def _query_fills(self, tracked: TrackedOrder) -> None:
        """Fill query for one order: the clients pass fills the sink has not had to it (so here)."""
        try:
            found = await self.clients[tracked.venue].fills(tracked.request.market_id, tracked.order_id)
        except ArbError as exc:
            self._venue_call(tracked.venue, ok=False, reason=f"fill query failed: {exc}")
            return
        self._venue_call(tracked.venue, ok=True)
        for fill in found:
            if fill.order_id == tracked.order_id and fill.fill_id not in tracked.fills:
                self._apply_fill(tracked, fill)

    async def _cancel(self, tracked: TrackedOrder) -> None:
        if not tracked.order_id:
            return
        try:
            update = await self.clients[tracked.venue].cancel_order(tracked.order_id, tracked.request.market_id)
        except ArbError as exc:
            self._venue_call(tracked.venue, ok=False, reason=f"cancel failed: {exc}")
            return
        self._venue_call(tracked.venue, ok=update.status is not OrderStatus.UNKNOWN)
        self._apply_update(tracked, update)

    # -- kill switch and partitions ------------------------------------------------------------------

    def kill(self, reason: str) -> asyncio.Task[list[TrackedOrder]]:
        """Engage the kill switch (no order starts after this turn) and cancel what rests."""
        self.gate.kill_switch.engage(reason)
        return asyncio.get_running_loop().create_task(self.cancel_resting())

    async def cancel_resting(self) -> list[TrackedOrder]:
        """Cancel every order of ours that rests or may rest (UNKNOWN ones are looked up first);
        returns the orders still not known to be off the book (an unreachable venue's)."""
        pending = [t for t in self.orders.values() if t.sent and not t.final]
        await asyncio.gather(*(self._off_book(t) for t in pending))
        return [t for t in pending if not t.final]

    async def _off_book(self, tracked: TrackedOrder) -> None:
        if tracked.status in (OrderStatus.UNKNOWN, OrderStatus.PENDING) and not await self._lookup(tracked):
            return
        if tracked.status is OrderStatus.OPEN:
            await self._cancel(tracked)
        elif tracked.status in (OrderStatus.UNKNOWN, OrderStatus.PENDING):
            await self.reconcile(tracked)
            if _status(tracked) is OrderStatus.OPEN:
                await self._cancel(tracked)

    async def reconcile_unresolved(self, venues: Sequence[Venue] | None = None) -> list[TrackedOrder]:
        """After a partition: settle every order not known final (on `venues`, default all),
        cancelling what rests, and fetch missing fills; marks a venue reachable again once it
        answers. Returns what is still open."""
        pending = [
            t for t in self.orders.values() if t.sent and not t.settled() and (venues is None or t.venue in venues)
        ]
        for venue in {t.venue for t in pending}:
            self._failures[venue] = 0
            self.gate.breakers.mark_reachable(venue.value)
        await asyncio.gather(*(self._settle_one(t) for t in pending))
        return [t for t in pending if not t.settled()]

    async def probe_unreachable(self) -> list[Venue]:
        """For every venue marked unreachable, one cheap call (its open orders): a venue that
        answers is marked reachable and its unresolved orders are reconciled (what rests is
        cancelled, missing fills fetched; nothing re-sent), so a partition leaves no order behind
        once it heals. Returns the venues still unreachable (the engine calls this periodically)."""
        answered: list[Venue] = []
        for venue, client in self.clients.items():
            if not self._unreachable(venue):
                continue
            try:
                await client.open_orders()
            except ArbError:
                continue  # still cut off: the partition gate goes on refusing its plans
            self._failures[venue] = 0
            self.gate.breakers.mark_reachable(venue.value)
            answered.append(venue)
        if answered:
            await self.reconcile_unresolved(answered)
        return [venue for venue in self.clients if self._unreachable(venue)]

    # -- imbalance and repair ------------------------------------------------------------------------

    def prune_finished(self, *, older_than_ns: int) -> int:
        """Forget orders that can change no more, so a long run's memory stays bounded (the ledger
        keeps them): settled (final, every fill heard), not in an execution or repair under way,
        and, on a venue whose fills can still fail on chain, answered at least `older_than_ns`
        ago. Returns how many were forgotten. Holdings and equity do not read these records."""
        now = self._clock()
        busy = {id(run) for run in self._active.values()}
        dropped = 0
        for cid, tracked in list(self.orders.items()):
            if not tracked.settled():
                continue
            run = self._run_of.get(cid)
            if run is not None and id(run) in busy:
                continue
            if self.clients[tracked.venue].capabilities.fills_can_fail and (
                tracked.answered_ns is None or now - tracked.answered_ns < older_than_ns
            ):
                continue
            del self.orders[cid]
            self._run_of.pop(cid, None)
            if tracked.order_id:
                self._by_order_id.pop(tracked.order_id, None)
            dropped += 1
        return dropped

    def _judge_entry(
        self, entry: Sequence[TrackedOrder], unresolved: Sequence[TrackedOrder]
    ) -> tuple[ExecutionStatus, str, list[str], int | None]:
        if unresolved:
            names = ", ".join(f"{t.client_order_id} ({t.status.value})" for t in unresolved)
            return ExecutionStatus.HALTED, f"orders not resolved: {names}", [], None
        parts = [(t, part) for t in entry for part in t.planned.parts]
        filled = {id(part): share for t in entry for part, share in zip(t.planned.parts, _shares(t), strict=True)}
        if all(filled[id(part)] == part.size_micro for _, part in parts):
            return ExecutionStatus.COMPLETE, "every leg filled", [], None
        if all(filled[id(part)] == 0 for _, part in parts):
            return ExecutionStatus.UNFILLED, "nothing filled", [], None
        detail = ", ".join(
            f"{part.instrument_id} {_contracts(filled[id(part)])}/{_contracts(part.size_micro)}" for _, part in parts
        )
        return ExecutionStatus.HALTED, f"imbalance: {detail} (contracts filled/planned)", [], None

    async def _open_incident(self, set_id: str, reason: str) -> int | None:
        """The gate's incident at once (no entry takes the set); the ledger's through the writer:
        its id, or None while writes fail (the incident is kept and written later)."""
        self.gate.incidents.open(set_id, reason)
        now_ms = self._wall_ms()

        def write(ledger: Ledger) -> int:
            return ledger.open_incident(set_id, reason, now_ms=now_ms)

        job = self.writes.submit(write, f"open_incident {set_id}", on_error=self.ledger_errors.append)
        return job.result if await self.writes.settled(job) else None

    async def _repair_loop(
        self, set_id: str, run: _SetRun, reason: str
    ) -> tuple[ExecutionStatus, str, list[str], int | None]:
        component, books, orders, intent_ids = run.component, run.books, run.orders, run.intent_ids
        incident = await self._open_incident(set_id, reason)
        rounds: list[str] = []
        if self.repair is None or self.capital is None:
            return ExecutionStatus.HALTED, f"{reason}; no repair planner configured", rounds, incident
        for _ in range(self.config.max_repair_rounds):
            decision = self._plan_repair(component, books)
            if isinstance(decision, str):
                return ExecutionStatus.HALTED, f"{reason}; {decision}", rounds, incident
            rounds.append(f"{decision.status.value}: {decision.reason}")
            if decision.plan is None:
                if decision.status in _SETTLED_REPAIR:
                    return ExecutionStatus.REPAIRED, f"{reason}; repaired: {decision.reason}", rounds, incident
                return ExecutionStatus.HALTED, f"{reason}; no repair: {decision.reason}", rounds, incident
            refused = self.gate.kill_switch.check() or next(
                iter(self.gate.breakers.check({leg.venue for leg in decision.plan.legs})), None
            )
            if refused is not None:
                return ExecutionStatus.HALTED, f"{reason}; repair not sent: {refused.reason}", rounds, incident
            capabilities = {venue: client.capabilities for venue, client in self.clients.items()}
            planned = plan_orders(decision.plan, component, books, capabilities, self.config.orders)
            try:
                repair_orders = await self._journal(set_id, planned, repair_of_incident=incident)
            except LedgerUnavailableError as exc:
                return ExecutionStatus.HALTED, f"{reason}; repair not journaled, not sent: {exc}", rounds, incident
            intent_ids.append(repair_orders[0].intent_id)
            orders.extend(repair_orders)
            self._adopt(run, repair_orders)
            await self._send_all(repair_orders)
            unresolved = await self._settle(repair_orders)
            self._observe_equity()
            if unresolved:
                names = ", ".join(t.client_order_id for t in unresolved)
                return ExecutionStatus.HALTED, f"{reason}; repair orders not resolved: {names}", rounds, incident
        final = self._plan_repair(component, books)
        if isinstance(final, str):
            return ExecutionStatus.HALTED, f"{reason}; {final}", rounds, incident
        rounds.append(f"{final.status.value}: {final.reason}")
        if final.plan is None and final.status in _SETTLED_REPAIR:
            return ExecutionStatus.REPAIRED, f"{reason}; repaired: {final.reason}", rounds, incident
        return (
            ExecutionStatus.HALTED,
            f"{reason}; still exposed after {len(rounds) - 1} repair rounds",
            rounds,
            incident,
        )

    def _plan_repair(self, component: Component, books: Mapping[tuple[Venue, str], BinaryBook]) -> RepairDecision | str:
        """The repair planner's decision on everything the set holds (not only this run's fills:
        inventory from earlier plans counts), or why it could not judge it."""
        assert self.repair is not None and self.capital is not None
        holdings, cash = self.set_position(component)
        try:
            return self.repair.plan(component, books, holdings, cash, self.capital)
        except ArbError as exc:
            return f"repair planner refused the set's holdings {_shown(holdings)}: {exc}"

    # -- holdings ------------------------------------------------------------------------------------

    def _opening_position(self) -> _Opening:
        """The ledger's positions and per-market cash flows, read once when trading starts (after
        recovery, before this executor's first order); later fills of ours are counted as they are
        heard (`_hold`), so the executor assumes it is the ledger's only writer while it trades."""
        if self._opening is None:
            self._flush_writes()
            self._opening = _Opening(
                self.ledger.positions(), self.ledger.market_cash_flows(), sum(self.ledger.cash().values(), Decimal(0))
            )
        return self._opening

    def set_position(self, component: Component) -> tuple[dict[str, Decimal], Decimal]:
        """What the set's instruments hold in total (instrument id -> contracts: the ledger's
        positions when trading started plus every fill of ours since, whichever plan made it) and
        the cash all fills in the set's markets moved. Positions are per (venue, market, outcome),
        as the ledger keeps them, mapped through the component's listings."""
        opening = self._opening_position()
        holdings: dict[str, Decimal] = {}
        markets: set[_MarketKey] = set()
        for listing in component.listings:
            key = (listing.venue, listing.market_id, listing.side)
            micro = opening.positions_micro.get(key, 0) + self._held_micro.get(key, 0)
            if micro:
                holdings[listing.instrument_id] = Decimal(micro) / _MICRO
            markets.add((listing.venue, listing.market_id))
        cash = sum(
            (opening.cash_usd.get(m, Decimal(0)) + self._cash_usd.get(m, Decimal(0)) for m in markets),
            Decimal(0),
        )
        return holdings, cash

    def equity_usd(self) -> Decimal:
        """What the account is worth for the loss halts, exact: the ledger's cash when trading
        started plus every fill's cash since, plus, per set traded, the worst value of what its
        instruments hold over the set's feasible outcomes (`repair.exposure`): a riskless basket
        counts at its guaranteed payoff, an unhedged leg at its worst (usually nothing). Holdings
        in markets of no set this executor has traded are not valued (their cost stays in cash).
        An entry whose orders have not all settled counts at nothing gained or lost (its fills'
        cash and contracts left out): its first leg paid for and its second still in flight is a
        plan under way, not a loss, and with several plans under way those half-filled legs added
        up to a spurious daily-loss halt. Once its orders settle it is valued like any holdings,
        so an imbalance counts from the first observation after the entry (and each repair round).
        Raises `ArbError` when a set's holdings cannot be valued."""
        if self._recovery_refusal is not None:
            raise ConfigError(f"equity is not known before trading may start: {self._recovery_refusal}")
        equity = self._opening_position().ledger_cash_usd + sum(self._cash_usd.values(), Decimal(0))
        for set_id, component in self._components.items():
            holdings = self.set_position(component)[0]
            entering = self._entering.get(set_id)
            if entering is not None:
                in_flight, in_flight_cash = self._position(entering.orders)
                equity -= in_flight_cash
                for instrument, size in in_flight.items():
                    holdings[instrument] = holdings.get(instrument, Decimal(0)) - size
                holdings = {k: v for k, v in holdings.items() if v != 0}
            if holdings:
                equity += exposure(component, holdings, Decimal(0)).worst_value_usd
        return equity

    def _observe_equity(self) -> None:
        """Hand equity to the risk gate's loss halts (a breach halts new entries and notifies once).
        Called before each plan (so each UTC day's first figure precedes its trades), after its
        entry orders settle and after every repair round. Equity that cannot be valued is recorded
        in `equity_errors` and not observed: a guess could hide a loss or invent one."""
        try:
            equity = self.equity_usd()
        except ArbError as exc:
            self.equity_errors.append(exc)
            return
        self.gate.observe_equity(equity)

    def _adopt(self, run: _SetRun, orders: Sequence[TrackedOrder]) -> None:
        for tracked in orders:
            self._run_of[tracked.client_order_id] = run

    # -- reporting -----------------------------------------------------------------------------------

    def _position(self, orders: Sequence[TrackedOrder]) -> tuple[dict[str, Decimal], Decimal]:
        """Contracts per instrument and cash these orders' fills moved (reversed fills excluded)."""
        holdings: dict[str, Decimal] = {}
        cash = Decimal(0)
        for tracked in orders:
            for fill_id, shares in tracked.fills.items():
                if fill_id in tracked.reversed:
                    continue
                for share in shares:
                    part = tracked.planned.parts[share.part]
                    size = Decimal(share.fill.size_micro) / _MICRO
                    signed = size if share.fill.action is Action.BUY else -size
                    holdings[part.instrument_id] = holdings.get(part.instrument_id, Decimal(0)) + signed
                    cash += _fill_cash_usd(share.fill)
        return {k: v for k, v in holdings.items() if v != 0}, cash

    def _order_report(self, tracked: TrackedOrder) -> OrderReport:
        return OrderReport(
            tracked.client_order_id,
            tracked.order_id,
            tracked.venue,
            tracked.request.market_id,
            tracked.status,
            tracked.request.size_micro,
            tracked.filled_micro,
            tracked.reason,
        )

    def close_incident(self, set_id: str, resolution: str) -> None:
        """The set was reconciled: close its open incidents (ledger, through the writer: after any
        incident of it still queued) and let entries take it again."""
        now_ms = self._wall_ms()

        def write(ledger: Ledger) -> None:
            for incident in ledger.open_incidents(set_id):
                ledger.close_incident(incident.incident_id, resolution, now_ms=now_ms)

        self.writes.submit(write, f"close_incidents {set_id}", on_error=self.ledger_errors.append)
        self.gate.incidents.resolve(set_id)


def _shown(holdings: Mapping[str, Decimal]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(holdings.items())) + "}"


def _status(tracked: TrackedOrder) -> OrderStatus:
    """The order's status now (read through a call: awaits in between may have changed it)."""
    return tracked.status


def _shares(tracked: TrackedOrder) -> tuple[int, ...]:
    """How much each part of the order got, from its (non-reversed) fills."""
    got = [0] * len(tracked.planned.parts)
    for fill_id, shares in tracked.fills.items():
        if fill_id in tracked.reversed:
            continue
        for share in shares:
            got[share.part] += share.fill.size_micro
    return tuple(got)


def _contracts(micro: int) -> str:
    """Contracts as exact decimal text without trailing zeros (3000000 -> "3", 2500000 -> "2.5")."""
    text = f"{from_micro(micro):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
