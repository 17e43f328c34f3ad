"""A shutdown stops entries but lets the executions under way repair: with the kill switch (what the
daemon engaged at shutdown before) a repair due at that moment was refused and the half-filled set
stayed unhedged. Against both simulated venues over loopback, with the real repair planner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arb.domain import Side, Venue
from arb.execution import ExecutionStatus
from arb.execution.loopback import LoopbackConfig
from arb.execution.repair import exposure
from arb.fixed import SCALE
from tests.execution.stage import stage
from tests.execution.test_repair_acceptance import (
    IOC,
    LOSS_CAP,
    _leg,
    _tokens,
    best_ask,
    driven,
    poly_asks,
    until,
    venue_position,
    wait_books,
    with_planner,
)

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET


async def test_entries_stopped_mid_plan_still_let_its_repair_hedge_the_set(tmp_path: Path) -> None:
    async with stage(tmp_path, config=LoopbackConfig(markets=1), executor_config=IOC) as s:
        with_planner(s)
        component = s.venues.component()
        plan = s.plan([_leg(s, K, 0, Side.YES, "10", "0.46"), _leg(s, P, 0, Side.NO, "10", "0.52")], component.id)
        poly_asks(s, 0, Side.NO, ((520_000, 4 * SCALE), (550_000, 50 * SCALE)))  # only 4 at 0.52
        await wait_books(s, lambda: best_ask(s, P, _tokens(0)[1]) == (520_000, 4 * SCALE))
        task = asyncio.create_task(s.executor.execute(plan, component, s.venues.books()))
        await until(lambda: any(t.sent for t in s.executor.orders.values()), "the entry orders are out")
        s.executor.stop_entries("shutting down (test)")  # what the daemon's shutdown does now
        report = await driven(s, task)
        assert [o.filled_micro for o in report.orders[:2]] == [10 * SCALE, 4 * SCALE], report
        assert report.repairs and report.repairs[-1].startswith(("hedged", "flat")), report.repairs
        assert report.status is ExecutionStatus.REPAIRED and report.repairs[0].startswith("repair:"), report.repairs
        held, cash = venue_position(s.venues, component)  # the venues' own records
        final = exposure(component, held, cash)
        assert final.flat or final.hedged(LOSS_CAP), (final.worst_value_usd, held)
        again = await s.executor.execute(plan, component, s.venues.books())
        assert again.status is ExecutionStatus.REFUSED and [r.gate for r in again.refusals] == ["stopping"]
