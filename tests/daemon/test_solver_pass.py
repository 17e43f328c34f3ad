"""One solver pass is one worker-thread call (the scanner's drain, then the allocator changes and the
solve), and every pass records its `book_to_scan` sample. Two hops per pass each waited for a core
under load (`arb bench stress`), and `book_to_scan` was sampled only on the passes that solved."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from arb.config import Credentials
from arb.daemon.allocation import LiveAllocator
from arb.daemon.core import Daemon
from arb.daemon.simulated import SimulatedSource
from arb.scanner import Scanner
from tests.daemon.support import in_process_config


def test_each_pass_drains_and_solves_in_one_worker_call_and_records_book_to_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, int]] = []  # (drain | solve, worker-call id)
    current = threading.local()
    original_to_thread = asyncio.to_thread
    call_ids = iter(range(1, 1_000_000))

    async def to_thread(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        call_id = next(call_ids)

        def marked() -> Any:
            current.call_id = call_id
            try:
                return func(*args, **kwargs)
            finally:
                current.call_id = None

        return await original_to_thread(marked)

    original_drain, original_solve = Scanner.drain, LiveAllocator.solve

    def drain(self: Scanner, *args: Any, **kwargs: Any) -> Any:
        calls.append(("drain", getattr(current, "call_id", None) or 0))
        return original_drain(self, *args, **kwargs)

    def solve(self: LiveAllocator) -> Any:
        calls.append(("solve", getattr(current, "call_id", None) or 0))
        return original_solve(self)

    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    monkeypatch.setattr(Scanner, "drain", drain)
    monkeypatch.setattr(LiveAllocator, "solve", solve)

    base = in_process_config(tmp_path)
    config = replace(base, rebalance=replace(base.rebalance, enabled=False))
    source = SimulatedSource(config.run.scenario, order_timeout_s=2.0, order_settle_s=2.0)
    daemon = Daemon(config, Credentials(), source, stream=io.StringIO(), install_signals=False)

    async def run() -> tuple[int, int]:
        task = asyncio.create_task(daemon.run())
        deadline = time.monotonic() + 60.0
        while sum(1 for name, _ in calls if name == "solve") < 3 or len(calls) < 30:
            assert not task.done(), task.result()
            assert time.monotonic() < deadline, f"too few passes within 60 s: {calls[-5:]}"
            await asyncio.sleep(0.05)
        daemon.request_stop("test done")
        drains_before_stop = sum(1 for name, _ in calls if name == "drain")
        result = await task
        histogram = daemon.tally.histograms.get("book_to_scan")
        # every pass records one sample (a pass still draining at the stop may record or not)
        assert histogram is not None and histogram.count >= drains_before_stop - 1
        return result.exit_code, histogram.count

    exit_code, samples = asyncio.run(run())
    assert exit_code == 0
    drains = [call_id for name, call_id in calls if name == "drain"]
    solves = [call_id for name, call_id in calls if name == "solve"]
    assert samples <= len(drains)
    assert all(drains) and all(solves)  # both in worker threads, never on the loop
    # a solve runs in the very worker call whose drain began its pass: one hop per pass
    assert set(solves) <= set(drains), "a solve ran in a worker call of its own"
