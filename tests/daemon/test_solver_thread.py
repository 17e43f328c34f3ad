"""The live allocator is touched by one thread at a time, never the event loop's: its changes
(add/replace/remove a set, books, capital, inventory after fills) are queued by the loop and applied
in the solver's worker thread just before the solve. On the loop, an `add_set` cost 5-6 ms
(benchmarks/daemon_bench.py), and an inventory change made by an execution task while a solve ran
in the thread was a data race on the HiGHS model. The rebalancing pass's marks and re-solves run in
a worker thread too, on copies of the books."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from arb.book import OrderBook
from arb.config import Credentials
from arb.daemon.allocation import LiveAllocator
from arb.daemon.core import Daemon
from arb.daemon.simulated import SimulatedSource
from arb.domain import BookChange, BookSide, BookSnapshot, ChangeMode, Venue
from arb.rebalance import Rebalancer
from tests.daemon.support import in_process_config

_TOUCHING = ("upsert", "remove", "set_capital", "set_inventory", "solve")


def test_allocator_changes_solves_and_rebalancing_run_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, int]] = []
    for name in _TOUCHING:
        original: Callable[..., Any] = getattr(LiveAllocator, name)

        def spy(self: LiveAllocator, *args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls.append((_name, threading.get_ident()))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(LiveAllocator, name, spy)
    for name in ("marks", "propose"):
        original_rebalancer: Callable[..., Any] = getattr(Rebalancer, name)

        def rebalancer_spy(
            self: Rebalancer, *args: Any, _name: str = name, _original: Any = original_rebalancer
        ) -> Any:
            calls.append((_name, threading.get_ident()))
            return _original(self, *args)

        monkeypatch.setattr(Rebalancer, name, rebalancer_spy)

    base = in_process_config(tmp_path)
    config = replace(base, rebalance=replace(base.rebalance, interval_s=0.2))
    source = SimulatedSource(config.run.scenario, order_timeout_s=2.0, order_settle_s=2.0)
    daemon = Daemon(config, Credentials(), source, stream=io.StringIO(), install_signals=False)

    async def run() -> tuple[int, int]:
        loop_thread = threading.get_ident()
        task = asyncio.create_task(daemon.run())
        deadline = time.monotonic() + 60.0
        # until a plan was traded and its inventory reached the allocator (a later solve applied it)
        while not {"set_inventory", "propose"} <= {name for name, _ in calls}:
            assert not task.done(), task.result()
            assert time.monotonic() < deadline, f"no traded plan within 60 s: {[n for n, _ in calls][-5:]}"
            await asyncio.sleep(0.05)
        daemon.request_stop("test done")
        result = await task
        return loop_thread, result.exit_code

    loop_thread, exit_code = asyncio.run(run())
    assert exit_code == 0
    names = {name for name, _ in calls}
    assert {"upsert", "solve", "set_capital", "set_inventory", "marks", "propose"} <= names
    on_loop = sorted({name for name, ident in calls if ident == loop_thread})
    assert on_loop == [], f"allocator or rebalancer work on the event loop: {on_loop}"


def test_a_copied_ladder_keeps_levels_trust_and_age_and_stays_put() -> None:
    live = OrderBook("T-1", "T-1", "kalshi")
    live.apply_snapshot(
        BookSnapshot(Venue.KALSHI, "T-1", "T-1", ((400_000, 5_000_000),), ((450_000, 7_000_000),)), 1_000
    )
    live.apply_change(BookChange(Venue.KALSHI, "T-1", "T-1", BookSide.BID, 410_000, 2_000_000, ChangeMode.SET), 2_000)
    copy = live.copy()
    assert copy == live and copy.trusted and copy.last_update_ns == 2_000
    live.apply_change(BookChange(Venue.KALSHI, "T-1", "T-1", BookSide.ASK, 440_000, 1_000_000, ChangeMode.SET), 3_000)
    live.mark_untrusted("gap in sequence")
    assert copy.asks() == ((450_000, 7_000_000),) and copy.trusted and copy.last_update_ns == 2_000
    untrusted = live.copy()
    assert untrusted == live and not untrusted.trusted and untrusted.untrusted_reason == "gap in sequence"
    assert untrusted.last_update_ns == 3_000
