"""What every venue adapter offers the engine, and the sans-I/O pieces both share.

`VenueClient` is the one interface both adapters implement. Callers consult `capabilities` instead of
checking which venue they hold (which order types exist, whether batches exist, whether fills stream).

Shared, pure helpers (no sockets, no sleeping; time is always passed in):
- `TokenBucket`: a request budget; `delay_ns(now_ns, cost)` says how long to wait before sending.
- `Backoff`: jittered exponential reconnect/retry delays from an injected `random.Random`.
- `FeedWatchdog`: a feed that still answers pings but sends no data for `silence_ns` is stale: the
  books it feeds are marked untrusted (Polymarket's socket is known to freeze that way for hours).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from arb.book import OrderBook
from arb.domain import Balance, Fill, MarketInfo, OrderRequest, OrderUpdate, Position, TimeInForce, Venue
from arb.errors import ConfigError

__all__ = [
    "Backoff",
    "Capabilities",
    "Clock",
    "EventSink",
    "FeedWatchdog",
    "TokenBucket",
    "VenueClient",
]

Clock = Callable[[], int]
"""Monotonic time in nanoseconds (inject a fake in tests; `time.monotonic_ns` live)."""

EventSink = Callable[[Any], None]
"""Receives every decoded domain event (books already applied) in arrival order."""


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
        ceiling = min(self.cap_s, self.base_s * (2 ** min(self.attempt, 30)))
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


Sleeper = Callable[[float], Awaitable[None]]
"""`asyncio.sleep` live; tests inject a recorder so backoff is asserted without waiting."""
