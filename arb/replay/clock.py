"""A virtual-time asyncio loop: the engine's own code, run on a clock that only moves when nothing
else can happen, so a replay is as fast as the machine and the same every time.

`VirtualTimeLoop` is an ordinary `asyncio.SelectorEventLoop` with two changes:

- `time()` is virtual. The loop polls its selector without waiting (timeout 0); when no socket
  is ready and no callback is waiting, instead of sleeping for the timeout asyncio asked for (the
  time to the next timer) it moves the clock forward by that much. Sockets stay real: on Unix-domain
  sockets a write is in the peer's receive buffer when the write returns, so a message sent is
  readable at the very next poll and the order of events is fixed by the program alone (TCP on
  loopback gives no such promise, so replays use Unix sockets only). Ready sockets are handled in
  the order they were registered, not in the kernel's order.
- `run_in_executor` (what `asyncio.to_thread` calls) runs the function at once on the loop's thread
  and returns a done future: no worker threads, so no thread scheduling decides an outcome, and the
  work takes no virtual time.

If nothing is ready, no timer is set and no socket becomes readable within `stall_timeout_s` of
real time, the program waits for something that can never come: `VirtualLoopStalled` is raised.

`VirtualClock` reads the loop's time for injection (`monotonic_ns()`, `wall_ms()`), and
`run_virtual(main, start_wall_ms=...)` runs a coroutine function on a fresh loop, like `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import selectors
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar, TypeVarTuple

from arb.errors import ArbError

__all__ = ["VirtualClock", "VirtualLoopStalled", "VirtualTimeLoop", "current_clock", "run_virtual"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Virtual monotonic time starts here rather than at zero, so no code can take a real reading for
# "never" (a zero timestamp) or see a negative age.
_EPOCH_NS = 1_000 * 10**9


class VirtualLoopStalled(ArbError):
    """The virtual loop has nothing to run, no timer and no socket ready: a deadlock."""


class VirtualClock:
    """The loop's virtual time for injection: `monotonic_ns()` (nanoseconds, starting at a fixed
    offset) and `wall_ms()` (`start_wall_ms` plus the virtual time elapsed, UTC milliseconds)."""

    __slots__ = ("_loop", "start_wall_ms")

    def __init__(self, loop: VirtualTimeLoop, start_wall_ms: int) -> None:
        self._loop = loop
        self.start_wall_ms = start_wall_ms

    def monotonic_ns(self) -> int:
        return self._loop.now_ns

    def monotonic_s(self) -> float:
        return self._loop.now_ns / 1e9

    def elapsed_ns(self) -> int:
        return self._loop.now_ns - _EPOCH_NS

    def wall_ms(self) -> int:
        return self.start_wall_ms + (self._loop.now_ns - _EPOCH_NS) // 1_000_000


class _VirtualSelector(selectors.DefaultSelector):
    """Polls without waiting; an empty poll with a timeout moves the loop's clock instead.
    Events come back in registration order (the kernel's order of ready descriptors is its own)."""

    def __init__(self, advance: Callable[[float], None], stall_timeout_s: float) -> None:
        super().__init__()
        self._advance = advance
        self._stall_timeout_s = stall_timeout_s
        self._order: dict[int, int] = {}  # fd -> registration sequence
        self._next = 0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = super().register(fileobj, events, data)
        self._order[key.fd] = self._next
        self._next += 1
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        key = super().unregister(fileobj)
        self._order.pop(key.fd, None)
        return key

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if not ready and timeout is None:
            # nothing to run and no timer: only a socket can wake the loop now (real time)
            ready = super().select(self._stall_timeout_s)
            if not ready:
                raise VirtualLoopStalled(
                    f"virtual loop stalled: no callback, no timer and no socket ready for {self._stall_timeout_s:g} s"
                )
        if ready:
            order = self._order
            ready.sort(key=lambda item: order.get(item[0].fd, -1))
            return ready
        if timeout:
            self._advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time (module docstring). `clock` reads it."""

    def __init__(self, *, start_wall_ms: int = 0, stall_timeout_s: float = 30.0) -> None:
        if isinstance(start_wall_ms, bool) or not isinstance(start_wall_ms, int) or start_wall_ms < 0:
            raise ValueError(f"start_wall_ms must be a non-negative integer, was {start_wall_ms!r}")
        if not stall_timeout_s > 0:
            raise ValueError(f"stall_timeout_s must be positive, was {stall_timeout_s!r}")
        self.now_ns = _EPOCH_NS
        super().__init__(selector=_VirtualSelector(self._advance, stall_timeout_s))
        self.clock = VirtualClock(self, start_wall_ms)
        self.inline_calls = 0  # run_in_executor calls run inline

    def time(self) -> float:
        return self.now_ns / 1e9

    def _advance(self, seconds: float) -> None:
        # rounded up: the timer asyncio waited for is due at the new time (its resolution absorbs
        # the float error of `when - time()`)
        self.now_ns += max(1, math.ceil(seconds * 1e9))

    def run_in_executor(self, executor: Executor | None, func: Callable[[*Ts], T], *args: *Ts) -> asyncio.Future[T]:
        """`func(*args)` now, on this thread; a done future with its result or exception."""
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
        future: asyncio.Future[T] = self.create_future()
        self.inline_calls += 1
        try:
            # in a context of its own, like a worker thread's (to_thread passes the caller's copy)
            result = contextvars.Context().run(func, *args)
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting caller, like a worker thread's
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future


def current_clock() -> VirtualClock:
    """The running `VirtualTimeLoop`'s clock (RuntimeError on any other loop)."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualTimeLoop):
        raise RuntimeError("not running on a VirtualTimeLoop")
    return loop.clock


def run_virtual(main: Callable[[], Awaitable[T]], *, start_wall_ms: int, stall_timeout_s: float = 30.0) -> T:
    """`main()` on a fresh `VirtualTimeLoop` until it returns (like `asyncio.run`); the loop's
    clock is `current_clock()` inside it. Returns what `main` returns."""

    async def entry() -> T:
        return await main()

    loop = VirtualTimeLoop(start_wall_ms=start_wall_ms, stall_timeout_s=stall_timeout_s)
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        return runner.run(entry())
