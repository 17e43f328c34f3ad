"""The repair planner's solve leaves the event loop: it runs in a worker thread on copies of the
books taken on the loop, so the feed and other executions keep running while it solves (the
stress bench saw the loop stall for hundreds of milliseconds while repairs solved on it)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from arb.book import BinaryBook
from arb.domain import Side, Venue
from arb.execution.loopback import LoopbackConfig
from arb.execution.repair import RepairConfig, RepairDecision
from tests.execution.stage import stage
from tests.execution.test_repair_acceptance import (
    IOC,
    LOSS_CAP,
    RecordingPlanner,
    _leg,
    _tokens,
    best_ask,
    check_run,
    count_in_flight,
    driven,
    poly_asks,
    wait_books,
)

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET
SCALE = 1_000_000


class ThreadRecordingPlanner(RecordingPlanner):
    """The real planner, noting the thread each call ran on and the books it was handed."""

    def __init__(self, config: RepairConfig, now_ns: Callable[[], int]) -> None:
        super().__init__(config, now_ns)
        self.threads: list[int] = []
        self.books_seen: list[Mapping[tuple[Venue, str], BinaryBook]] = []

    def plan(self, *args: Any, **kwargs: Any) -> RepairDecision:
        self.threads.append(threading.get_ident())
        self.books_seen.append(args[1])
        return super().plan(*args, **kwargs)


async def test_the_repair_solve_runs_in_a_worker_thread_on_copies_of_the_books(tmp_path: Path) -> None:
    async with stage(tmp_path, config=LoopbackConfig(markets=1), executor_config=IOC) as s:
        planner = ThreadRecordingPlanner(RepairConfig(loss_cap_usd=LOSS_CAP), s.time.clock)
        s.executor.repair = planner
        s.in_flight = count_in_flight(s)  # type: ignore[attr-defined]
        component = s.venues.component()
        plan = s.plan([_leg(s, K, 0, Side.YES, "10", "0.46"), _leg(s, P, 0, Side.NO, "10", "0.52")], component.id)
        poly_asks(s, 0, Side.NO, ((520_000, 4 * SCALE), (550_000, 50 * SCALE)))
        await wait_books(s, lambda: best_ask(s, P, _tokens(0)[1]) == (520_000, 4 * SCALE))
        live = s.venues.books()
        report = await driven(s, s.executor.execute(plan, component, live))
        # the run needed a repair plan and then a check that it held: at least two planner calls
        assert len(planner.threads) >= 2, report.repairs
        loop_thread = threading.get_ident()
        assert all(thread != loop_thread for thread in planner.threads), "a repair solve ran on the event loop"
        for seen in planner.books_seen:
            assert set(seen) == set(live)
            for key, book in seen.items():
                assert book.yes is not live[key].yes, f"the planner read the live book {key} from its thread"
        await check_run(s, report, plan, component)
