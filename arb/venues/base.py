"""What every venue adapter offers the engine, and the sans-I/O pieces both share.

`VenueClient` is the one interface both adapters implement. Callers consult `capabilities` instead of
checking which venue they hold (which order types exist, whether batches exist, whether fills stream).

Shared, pure helpers (no sockets, no sleeping; time is always passed in):
- `TokenBucket`: a request budget; `delay_ns(now_ns, cost)` says how long to wait before sending.
- `Backoff`: jittered exponential reconnect/retry delays from an injected `random.Random`.
- `FeedWatchdog`: a feed that still answers pings but sends no data for `silence_ns` is stale: the
  books it feeds are marked untrusted (Polymarket's socket is known to freeze that way for hours).
- `SendText`, `Reconnect`: the typed commands every session returns for its client to perform.
- `FeedStats`, `ErrorRecord`: the diagnostics every session keeps under the same names.
- `ClientDiagnostics`, `GuardedSink`: bounded records of what a client's loops survived; a sink
  that raises is recorded, never allowed to drop a socket or lose the events after it.
- `RecentIds`: the newest ids seen, bounded (dedupe memory for fills and evicted entries).
- `OrderSends`: order sends whose outcome the venue has not told yet (in flight, or unanswered
  after a timeout or cancellation), so a lookup that does not find such an order says UNKNOWN
  (`not_found`: the one verdict both clients' `reconcile_order` give for a miss).
"""

from __future__ import annotations

import random
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import orjson

from arb.book import OrderBook
from arb.domain import (
    Balance,
    Fill,
    MarketInfo,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    TimeInForce,
    Venue,
)
from arb.errors import ConfigError

__all__ = [
    "DIAGNOSTICS_KEPT",
    "Backoff",
    "Capabilities",
    "ClientDiagnostics",
    "Clock",
    "Deadline",
    "ErrorRecord",
    "EventSink",
    "FeedStats",
    "FeedWatchdog",
    "GuardedSink",
    "OrderSends",
    "RecentIds",
    "Reconnect",
    "SendText",
    "Sleep",
    "TokenBucket",
    "VenueClient",
    "check_numbers",
]

Clock = Callable[[], int]
"""Monotonic time in nanoseconds (inject a fake in tests; `time.monotonic_ns` live)."""

EventSink = Callable[[Any], None]
"""Receives every decoded domain event (books already applied) in arrival order."""

Sleep = Callable[[float], Awaitable[None]]
"""`asyncio.sleep` live; tests inject a recorder so backoff is asserted without waiting."""

Deadline = Callable[[float], AbstractAsyncContextManager[Any]]
"""`asyncio.timeout` live: `async with deadline(seconds)` raises TimeoutError when the block runs
longer. Tests inject one driven by their fake clock, so a timeout happens without waiting for it."""

DIAGNOSTICS_KEPT = 100
"""How many recent errors, delays and reasons a client or session keeps (older ones are counted
only): a feed that fails for weeks must not grow a list without bound."""


def check_numbers(
    venue: str, config: object, *, positive: Sequence[str] = (), non_negative: Sequence[str] = ()
) -> None:
    """The client configs' shared check: each named field is a finite number (not a bool), above
    zero (`positive`) or at least zero (`non_negative`); else a `ConfigError` naming the field."""
    for names, kind, lowest_ok in ((positive, "positive", False), (non_negative, "non-negative", True)):
        for name in names:
            value = getattr(config, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (value >= 0 if lowest_ok else value > 0)
                or not value < float("inf")
            ):
                raise ConfigError(f"{venue} {name} must be a {kind} number, was {value!r}")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a venue supports; callers branch on these, never on the venue's name."""

    order_types: frozenset[TimeInForce]
    batch_orders: bool
    max_batch_size: int
    fill_stream: bool  # fills arrive on a private socket (else poll `fills`)
    fills_can_fail: bool  # fills pass through settlement stages and may be reversed (Polymarket)
    ack_may_precede_fill: bool  # an IOC ack can say "live" and fill later (Polymarket FAK)
    post_only: bool
    amend: bool
    fractional_sizes: bool
    book_sequence: bool  # messages carry sequence numbers (Kalshi) vs hashes only (Polymarket)


@runtime_checkable
class VenueClient(Protocol):
    """One venue: market data into `OrderBook`s and events, orders out, account state queries."""

    venue: Venue
    capabilities: Capabilities
    books: dict[str, OrderBook]

    async def start(self) -> None:
        """Open the multiplexed market-data socket (and the private one when credentials exist)."""

    async def close(self) -> None: ...

    async def subscribe(self, markets: Sequence[MarketInfo]) -> None:
        """Stream these markets' books; books stay untrusted until their snapshots arrive."""

    async def markets(self, **filters: Any) -> list[MarketInfo]: ...

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        """Send one order. A send whose outcome is unknown returns status UNKNOWN, never raises
        as if rejected; fills are counted only from fill events or queries."""

    async def cancel_order(self, order_id: str, market_id: str = "") -> OrderUpdate: ...

    async def open_orders(self, market_id: str | None = None) -> list[OrderUpdate]: ...

    async def fills(self, market_id: str | None = None, order_id: str | None = None) -> list[Fill]: ...

    async def positions(self) -> list[Position]: ...

    async def balance(self) -> Balance: ...


class TokenBucket:
    """`rate_per_s` tokens per second up to `burst`. Pure: the caller sleeps for `delay_ns`."""

    __slots__ = ("_last_ns", "_tokens", "burst", "rate_per_s")

    def __init__(self, rate_per_s: float, burst: float | None = None) -> None:
        if not rate_per_s > 0:
            raise ConfigError(f"rate limit rate_per_s must be positive, was {rate_per_s!r}")
        self.rate_per_s = float(rate_per_s)
        self.burst = float(burst if burst is not None else rate_per_s)
        if not self.burst >= 1:
            raise ConfigError(f"rate limit burst must be at least 1, was {burst!r}")
        self._tokens = self.burst
        self._last_ns: int | None = None

    def _refill(self, now_ns: int) -> None:
        if self._last_ns is not None and now_ns > self._last_ns:
            self._tokens = min(self.burst, self._tokens + (now_ns - self._last_ns) * self.rate_per_s / 1e9)
        if self._last_ns is None or now_ns > self._last_ns:
            self._last_ns = now_ns

    def delay_ns(self, now_ns: int, cost: float = 1.0) -> int:
        """Reserve `cost` tokens; returns how long to wait before the request may go (0: now).
        Reservations queue: the bucket goes negative and later callers wait longer."""
        self._refill(now_ns)
        self._tokens -= cost
        if self._tokens >= 0:
            return 0
        return int(-self._tokens / self.rate_per_s * 1e9) + 1

    def penalise(self, now_ns: int, seconds: float) -> None:
        """After a 429: empty the bucket so the next request waits at least `seconds`."""
        self._refill(now_ns)
        self._tokens = min(self._tokens, -seconds * self.rate_per_s)


@dataclass(slots=True)
class Backoff:
    """Jittered exponential delays: attempt n waits uniform(0.5, 1.0) x min(cap, base x 2**n)
    ("equal jitter"), so reconnecting clients spread out but never retry instantly."""

    base_s: float = 0.25
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    attempt: int = 0

    def __post_init__(self) -> None:
        if not (self.base_s > 0 and self.cap_s >= self.base_s):
            raise ConfigError(f"backoff needs 0 < base_s <= cap_s, was {self.base_s!r}, {self.cap_s!r}")

    def next_delay_s(self, at_least_s: float = 0.0) -> float:
        ceiling = min(self.cap_s, self.base_s * float(1 << min(self.attempt, 30)))
        self.attempt += 1
        return max(at_least_s, ceiling * (0.5 + 0.5 * self.rng.random()))

    def reset(self) -> None:
        self.attempt = 0


class FeedWatchdog:
    """Tracks data and keep-alive arrivals of one feed. `stale(now_ns)` is True when no data came
    for `silence_ns` (pings alone do not count as life: that is exactly the silent-freeze failure)."""

    __slots__ = ("_tripped", "last_data_ns", "last_pong_ns", "silence_ns")

    def __init__(self, silence_ns: int) -> None:
        if silence_ns <= 0:
            raise ConfigError(f"watchdog silence must be positive, was {silence_ns!r}")
        self.silence_ns = silence_ns
        self.last_data_ns: int | None = None
        self.last_pong_ns: int | None = None
        self._tripped = False

    def data(self, now_ns: int) -> None:
        self.last_data_ns = now_ns
        self._tripped = False

    def pong(self, now_ns: int) -> None:
        self.last_pong_ns = now_ns

    def stale(self, now_ns: int) -> bool:
        return self.last_data_ns is not None and now_ns - self.last_data_ns > self.silence_ns

    def trip(self, now_ns: int) -> bool:
        """True exactly once per silence (the moment to mark books untrusted and resubscribe)."""
        if self.stale(now_ns) and not self._tripped:
            self._tripped = True
            return True
        return False


# ---------------------------------------------------------------------------------------------
# Commands sessions return for their clients to perform


@dataclass(frozen=True, slots=True)
class SendText:
    """Write `text` as a text frame. `secret` texts (credentials inside) never show in repr."""

    text: str
    secret: bool = False

    def __repr__(self) -> str:
        return "SendText(<secret>)" if self.secret else f"SendText({self.text[:80]!r})"

    def json(self) -> Any:
        """The frame's JSON value (for inspection; the text is what goes out)."""
        return orjson.loads(self.text)


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Close this socket and open a new one (after the client's backoff)."""

    reason: str


# ---------------------------------------------------------------------------------------------
# Diagnostics with the same names on both venues


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """One rejected frame or event: when, what, which field, and its first bytes."""

    now_ns: int
    error_type: str
    message: str
    field: str
    frame: str


def error_record(error: BaseException, raw: Any, now_ns: int) -> ErrorRecord:
    """Describe a rejected input without ever raising (inputs can be huge or hostile)."""
    try:
        if isinstance(raw, (bytes, bytearray, memoryview)):
            shown = bytes(raw[:200]).decode("utf-8", "replace")
        else:
            shown = str(raw)[:200] if isinstance(raw, str) else f"<{type(raw).__name__}>"
    except Exception:  # noqa: BLE001 - diagnostics must never raise
        shown = "<unprintable>"
    return ErrorRecord(now_ns, type(error).__name__, str(error)[:300], getattr(error, "field", ""), shown)


@dataclass(slots=True)
class FeedStats:
    """Counters every feed session keeps (venue sessions add their own). `rejected` counts dropped
    frames or events by error type; `recent_errors` of the session holds the last few in full."""

    frames: int = 0  # frames received (keep-alive answers excluded)
    events: int = 0  # domain events produced
    rejected: Counter[str] = field(default_factory=Counter)
    snapshots: int = 0
    changes: int = 0
    unknown_book: int = 0  # book data for a book not tracked, dropped
    pings: int = 0
    pongs: int = 0
    watchdog_trips: int = 0
    connects: int = 0
    disconnects: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass(slots=True)
class ClientDiagnostics:
    """What a client's loops did and survived, newest last, each bounded to `DIAGNOSTICS_KEPT`.

    reconnect_delays: (stream, seconds) slept before each reconnect.
    retry_delays: (path, seconds) slept before each REST retry.
    disconnect_reasons: (stream, reason) for every socket that closed or failed to open.
    loop_errors: unexpected exceptions a socket loop survived (a bug; the loop reconnects).
    sink_errors: exceptions the event sink raised (recorded, the feed goes on).
    """

    connects: int = 0
    sink_error_count: int = 0
    reconnect_delays: deque[tuple[str, float]] = field(default_factory=lambda: deque(maxlen=DIAGNOSTICS_KEPT))
    retry_delays: deque[tuple[str, float]] = field(default_factory=lambda: deque(maxlen=DIAGNOSTICS_KEPT))
    disconnect_reasons: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=DIAGNOSTICS_KEPT))
    loop_errors: deque[BaseException] = field(default_factory=lambda: deque(maxlen=DIAGNOSTICS_KEPT))
    sink_errors: deque[BaseException] = field(default_factory=lambda: deque(maxlen=DIAGNOSTICS_KEPT))


class GuardedSink:
    """Calls the engine's sink and records (never propagates) what it raises: a consumer bug must
    not drop a socket, abort the rest of a frame, or lose an event already stored."""

    __slots__ = ("_diagnostics", "sink")

    def __init__(self, sink: EventSink | None, diagnostics: ClientDiagnostics) -> None:
        self.sink = sink
        self._diagnostics = diagnostics

    def __call__(self, event: Any) -> None:
        sink = self.sink
        if sink is None:
            return
        try:
            sink(event)
        except Exception as exc:  # noqa: BLE001 - recorded for the operator; the feed goes on
            self._diagnostics.sink_error_count += 1
            self._diagnostics.sink_errors.append(exc)


class RecentIds:
    """The newest `limit` ids, O(1) membership: dedupe memory that stays bounded on a feed that
    runs for weeks (an id older than the newest `limit` is forgotten)."""

    __slots__ = ("_ids", "_limit")

    def __init__(self, limit: int) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, key: str) -> None:
        self._ids[key] = None
        self._ids.move_to_end(key)
        if len(self._ids) > self._limit:
            self._ids.popitem(last=False)


# ---------------------------------------------------------------------------------------------
# Order sends whose outcome is not known yet


@dataclass(slots=True)
class SentOrder:
    """One order send we made: by our key (Kalshi: client order id; Polymarket: order hash)."""

    key: str
    market_id: str
    sent_wall_ms: int  # when it was first sent (venue time filters use it)
    started_ns: int
    ended_ns: int | None = None  # when the send ended without a definite answer
    answered: bool = False  # the venue answered 2xx/4xx: it has taken or refused it
    order_id: str = ""
    unknown: OrderUpdate | None = None  # the UNKNOWN update recorded when the send ended unanswered


class OrderSends:
    """The orders we sent, bounded to the newest `max_kept`, for reconciliation.

    A send is in flight from `begin` until the venue answers it (`answered`: 2xx or 4xx). A send
    that ended without an answer (timeout, 5xx, transport failure, cancelled by a kill switch or
    shutdown: `unanswered`) may still reach the venue's matching engine, so it counts as in flight
    for `settle_ns` more; a lookup that does not find it meanwhile must say UNKNOWN, not REJECTED.
    Sans-I/O: time is passed in."""

    def __init__(self, settle_ns: int, max_kept: int = 10_000) -> None:
        if settle_ns < 0 or max_kept <= 0:
            raise ConfigError(f"order sends need settle_ns >= 0 and max_kept > 0, was {settle_ns}, {max_kept}")
        self.settle_ns = settle_ns
        self.max_kept = max_kept
        self._sends: OrderedDict[str, SentOrder] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sends)

    def get(self, key: str) -> SentOrder | None:
        return self._sends.get(key)

    def begin(self, key: str, market_id: str, *, now_ns: int, wall_ms: int) -> SentOrder:
        """A send starts (again, for a resend of the same key: the first send time is kept)."""
        sent = self._sends.get(key)
        if sent is None:
            sent = self._sends[key] = SentOrder(key, market_id, wall_ms, now_ns)
            while len(self._sends) > self.max_kept:
                self._sends.popitem(last=False)
        else:
            sent.started_ns, sent.ended_ns, sent.answered = now_ns, None, False
        return sent

    def answered(self, key: str, order_id: str = "") -> None:
        sent = self._sends.get(key)
        if sent is not None:
            sent.answered, sent.ended_ns, sent.unknown = True, None, None
            if order_id:
                sent.order_id = order_id

    def unanswered(self, key: str, now_ns: int, update: OrderUpdate) -> None:
        sent = self._sends.get(key)
        if sent is not None:
            sent.ended_ns, sent.unknown = now_ns, update

    def found(self, key: str, order_id: str) -> None:
        """A lookup found the order at the venue: its outcome is known from now on."""
        self.answered(key, order_id)

    def in_flight(self, key: str, now_ns: int) -> bool:
        sent = self._sends.get(key)
        if sent is None or sent.answered:
            return False
        return sent.ended_ns is None or now_ns - sent.ended_ns <= self.settle_ns

    def unknown(self) -> list[OrderUpdate]:
        """The sends recorded UNKNOWN and not settled since (oldest first): reconcile these."""
        return [s.unknown for s in self._sends.values() if s.unknown is not None]

    def not_found(self, key: str, now_ns: int, template: OrderUpdate) -> OrderUpdate:
        """The venue has no order for `key`: UNKNOWN while the send may still be in flight (not
        answered, or unanswered less than `settle_ns` ago), REJECTED with nothing filled after
        that. Built on the UNKNOWN update recorded for the send, else on `template`."""
        sent = self._sends.get(key)
        base = (sent.unknown if sent is not None else None) or template
        if self.in_flight(key, now_ns):
            return replace(base, status=OrderStatus.UNKNOWN, reason="not found yet: the send may still be in flight")
        return replace(
            base,
            status=OrderStatus.REJECTED,
            filled_size_micro=0,
            remaining_size_micro=0,
            reason="unknown to the venue",
        )
