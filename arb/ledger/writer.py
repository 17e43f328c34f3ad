"""Ledger writes off the event loop, in order, and kept through a failing disk.

A commit with `synchronous=FULL` is an fsync (milliseconds, tens at the tail), and `Ledger.pnl()`
replays every fill: on the event loop both stall every feed and every send. `LedgerWriter` runs them
elsewhere and keeps the ledger's rules:

- Order: writes are committed one at a time in the order they were submitted (one queue, one
  writer connection), so fills and order states reach the file as they were heard.
- Durable before it matters: `commit()` returns only after the write's commit (the executor awaits
  the intent's journal before any order leaves, and a Polymarket order's hash before its POST).
- A failing disk (`LedgerUnavailableError`: I/O error, database locked, disk full) loses nothing:
  the write that failed stays at the head of the queue, everything submitted after it waits behind
  it in memory, and the head is retried (backoff `retry_s` doubling up to `max_retry_s`) until it
  commits. The writer is `failing` from the first failure until that backlog is written; listeners
  hear `on_failing(error)` once at the start (entries halt) and `on_healed(kept)` once at the end
  (entries may resume). A write refused for what it says (`ConfigError`, a constraint) is not
  retried: its error goes to the write's `on_error`. A process that dies with a backlog loses only
  records that start-up recovery rebuilds from the venues (order states and fills).

Where the work runs. `offload=True` (the daemon): each commit runs through
`loop.run_in_executor(None, ...)` on a connection of its own (`Ledger.connect_again`), and
`pnl()` on a third one, so the loop's own reads never wait on an fsync (WAL: readers do not block
the writer). The replay's virtual loop runs `run_in_executor` inline, so there it is synchronous
and deterministic with no change. `offload=False`: each write runs at once on the caller's
connection when nothing waits before it (what a plain `Ledger` did; tests and tools), and only
a backlog is retried from a task.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from arb.errors import ArbError, ConfigError
from arb.ledger.store import Ledger, LedgerUnavailableError, PnL

__all__ = ["LedgerWrite", "LedgerWriter"]

log = logging.getLogger("arb.ledger")
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True, eq=False)
class LedgerWrite(Generic[T]):
    """One submitted write: `call(ledger)` runs it (one transaction) on the writer's connection."""

    call: Callable[[Ledger], T]
    what: str
    on_error: Callable[[ArbError], None] | None = None
    retry: bool = True  # False: a storage failure drops it (the caller is told and gives up)
    done: bool = False
    result: T | None = None
    error: ArbError | None = None
    started: bool = False
    withdrawn: bool = False
    attempts: int = 0


class LedgerWriter:
    """The one writer of a ledger while the engine runs (module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        offload: bool = True,
        retry_s: float = 0.05,
        max_retry_s: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not 0 < retry_s <= max_retry_s:
            raise ConfigError(f"ledger writer retry_s must be in (0, max_retry_s], was {retry_s!r} / {max_retry_s!r}")
        self.ledger = ledger
        self.offload = offload
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self._sleep = sleep
        self._conn = ledger.connect_again() if offload else ledger
        self._reader: Ledger | None = ledger.connect_again() if offload else None
        self._reader_lock = threading.Lock()
        self._backlog: deque[LedgerWrite[Any]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Future[LedgerUnavailableError | None] | None = None  # a write in a worker thread
        self._progress = asyncio.Event()
        self.failure: LedgerUnavailableError | None = None  # set from the first failure until the backlog is written
        self._failing_listeners: list[Callable[[LedgerUnavailableError], None]] = []
        self._healed_listeners: list[Callable[[int], None]] = []
        self.committed = 0
        self.failures = 0  # failure episodes
        self.retries = 0  # failed attempts
        self.kept_peak = 0  # the largest backlog held while failing
        self._kept_in_episode = 0
        self._closed = False

    # -- listeners and state ----------------------------------------------------------------------

    def listen(
        self,
        *,
        on_failing: Callable[[LedgerUnavailableError], None] | None = None,
        on_healed: Callable[[int], None] | None = None,
    ) -> None:
        """`on_failing(error)` once when writes start failing; `on_healed(kept)` once when every
        write kept meanwhile (`kept` of them) is committed. Called on the event loop."""
        if on_failing is not None:
            self._failing_listeners.append(on_failing)
        if on_healed is not None:
            self._healed_listeners.append(on_healed)

    @property
    def failing(self) -> bool:
        return self.failure is not None

    @property
    def pending(self) -> int:
        """Writes submitted and not committed yet (kept in memory while failing)."""
        return len(self._backlog)

    @property
    def revision(self) -> int:
        return self.ledger.revision

    def refusal(self) -> str | None:
        """Why entries must halt now (writes failing, or their backlog not written yet), or None."""
        if self.failure is None:
            return None
        return f"ledger writes failing ({self.failure}); {len(self._backlog)} write(s) kept in memory, retried"

    # -- submitting --------------------------------------------------------------------------------

    def submit(
        self,
        call: Callable[[Ledger], T],
        what: str,
        *,
        on_error: Callable[[ArbError], None] | None = None,
        retry: bool = True,
    ) -> LedgerWrite[T]:
        """Queue one write (a transaction of `call(ledger)`) after every write before it."""
        if self._closed:
            raise ConfigError(f"ledger writer closed; {what} not written")
        job: LedgerWrite[T] = LedgerWrite(call, what, on_error, retry)
        self._backlog.append(job)
        if self.failure is not None:
            self._kept_in_episode += 1
            self.kept_peak = max(self.kept_peak, len(self._backlog))
        if not self.offload and len(self._backlog) == 1 and self._task is None:
            self._run_inline()
        else:
            self._ensure_pump()
        return job

    async def commit(self, call: Callable[[Ledger], T], what: str) -> T:
        """One write, returned once committed. Fails fast (`LedgerUnavailableError`, nothing
        written, nothing kept) when writes are failing: for a write whose caller would rather give
        up than wait (the journal of a plan about to be sent)."""
        if self.failure is not None:
            raise LedgerUnavailableError(f"{what} not written: {self.refusal()}")
        job = self.submit(call, what, retry=False)
        await self._until(lambda: job.done or (self.failure is not None and not job.started))
        if not job.done:  # a write before it failed: take it back before it starts
            job.withdrawn = True
            self._backlog.remove(job)
            raise LedgerUnavailableError(f"{what} not written: {self.refusal()}")
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]  # done without error: the call's value

    async def settled(self, job: LedgerWrite[T]) -> bool:
        """Wait until `job` is committed (True) or writes are failing with it kept (False)."""
        await self._until(lambda: job.done or self.failure is not None)
        return job.done and job.error is None

    async def drained(self) -> bool:
        """Wait until every write submitted is committed (True), or writes are failing (False)."""
        await self._until(lambda: not self._backlog or self.failure is not None)
        return not self._backlog

    async def drain(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` for every write to commit (retrying through failures); returns
        how many are still not written."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._until(lambda: not self._backlog)
        except TimeoutError:
            pass
        return len(self._backlog)

    # -- reading ------------------------------------------------------------------------------------

    async def pnl(self) -> PnL:
        """`Ledger.pnl()` off the loop (its own connection; inline on a virtual loop)."""
        reader = self._reader
        if reader is None:
            return self.ledger.pnl()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._read_pnl, reader)

    def _read_pnl(self, reader: Ledger) -> PnL:
        with self._reader_lock:
            return reader.pnl()

    # -- running ------------------------------------------------------------------------------------

    def _attempt(self, job: LedgerWrite[Any], ledger: Ledger) -> LedgerUnavailableError | None:
        """Run the write once (in the worker thread when offloaded). A storage failure is returned;
        anything else ends the write (its value or its error)."""
        try:
            job.result = job.call(ledger)
        except LedgerUnavailableError as exc:
            job.attempts += 1
            return exc
        except ArbError as exc:
            job.error = exc
        except Exception as exc:  # noqa: BLE001 - a bug in one write must not stop every later one
            job.error = ConfigError(f"{job.what} failed: {type(exc).__name__}: {exc}")
        return None

    def _finished(self, job: LedgerWrite[Any]) -> None:
        self._backlog.popleft()
        job.done = True
        if job.error is None:
            self.committed += 1
            if self.offload:
                self.ledger.external_writes += 1
        else:
            log.error("ledger write refused: %s: %s", job.what, job.error)
            if job.on_error is not None:
                job.on_error(job.error)

    def _failed(self, job: LedgerWrite[Any], error: LedgerUnavailableError) -> bool:
        """A storage failure of the head write: keep it (True) or, for a write that must not be
        retried, drop it with the error (False). Starts a failure episode."""
        self.retries += 1
        if self.failure is None:
            self.failure = error
            self.failures += 1
            self._kept_in_episode = len(self._backlog)
            self.kept_peak = max(self.kept_peak, len(self._backlog))
            log.error("ledger writes failing: %s (%d write(s) kept, retried)", error, len(self._backlog))
            for listener in self._failing_listeners:
                listener(error)
        else:
            self.failure = error
        if job.retry:
            return True
        job.error = error
        self._finished(job)
        if not self._backlog:  # nothing kept to retry: a write probe tells when the disk works again
            self._backlog.append(LedgerWrite(Ledger.check_writable, "write probe"))
        return False

    def _healed(self) -> None:
        kept, self._kept_in_episode = self._kept_in_episode, 0
        self.failure = None
        log.warning("ledger writes work again: %d write(s) kept while failing are written", kept)
        for listener in self._healed_listeners:
            listener(kept)

    def _run_inline(self) -> None:
        while self._backlog:
            job = self._backlog[0]
            job.started = True
            error = self._attempt(job, self._conn)
            if error is not None:
                if self._failed(job, error):
                    self._ensure_pump()
                    self._notify()
                    return
                continue
            self._finished(job)
        if self.failure is not None:
            self._healed()
        self._notify()

    def _ensure_pump(self) -> None:
        if self._task is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): `retry()` writes the backlog
        self._task = loop.create_task(self._pump(), name="ledger writer")

    def retry(self) -> int:
        """Synchronous callers without a loop: try the backlog now (offload=False only); returns
        how many writes are still not written."""
        if self.offload or self._task is not None:
            return len(self._backlog)
        self._run_inline()
        return len(self._backlog)

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.retry_s
        try:
            while self._backlog:
                job = self._backlog[0]
                if job.withdrawn:
                    self._backlog.popleft()
                    continue
                if self.failure is not None and job.attempts:
                    await self._sleep(delay)
                    delay = min(delay * 2, self.max_retry_s)
                job.started = True
                if self.offload:
                    self._inflight = loop.run_in_executor(None, self._attempt, job, self._conn)
                    error = await asyncio.shield(self._inflight)  # a cancel must not orphan the thread's write
                else:
                    error = self._attempt(job, self._conn)
                if error is not None:
                    self._failed(job, error)
                    self._notify()
                    continue
                self._finished(job)
                if self.failure is not None and not self._backlog:
                    self._healed()
                self._notify()
        finally:
            self._task = None
            self._notify()

    def _notify(self) -> None:
        event, self._progress = self._progress, asyncio.Event()
        event.set()

    async def _until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._progress.wait()

    # -- closing ------------------------------------------------------------------------------------

    async def aclose(self, timeout_s: float = 5.0) -> int:
        """Write what is queued (up to `timeout_s`), stop, close the extra connections. Returns how
        many writes were left unwritten (the next start's recovery rebuilds them from the venues)."""
        left = await self.drain(timeout_s) if self._backlog else 0
        if left:
            log.error("ledger writer stopped with %d write(s) not written: %s", left, self.refusal())
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._inflight is not None and not self._inflight.done():  # its thread still uses the connection
            await asyncio.wait([self._inflight])
        self.close()
        return left

    def abandon(self) -> int:
        """A crash, for tests and the replay's `crash` event: stop at once, writing nothing more
        (the queued writes are dropped, as a dead process loses them); returns how many."""
        lost = len(self._backlog)
        self._backlog.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        self.close()
        return lost

    def close(self) -> None:
        """Close the writer's own connections (not the ledger it was given)."""
        self._closed = True
        if self.offload:
            self._conn.close()
            if self._reader is not None:
                with self._reader_lock:
                    self._reader.close()
