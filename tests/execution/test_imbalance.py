"""Imbalances against both simulated venues: a leg that does not fill is repaired by the real
repair planner (re-solve of that set with the inventory, worst_case objective) until the set is
hedged; a Polymarket FAK answered "live" fills later and counts; a fill that FAILS on chain after
the plan settled is reversed in the ledger and in the executor's holdings, and the set repaired.

Hedged is checked here by brute force over the set's outcomes with the ledger's own positions and
cash (contract i on Kalshi and on Polymarket resolve alike): no code shared with the planner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from arb.domain import Action, OrderStatus, Side, TimeInForce, Venue
from arb.execution import ExecutionOrderConfig, ExecutionStatus, ExecutorConfig
from arb.execution.loopback import LoopbackConfig, kalshi_ticker, polymarket_condition
from arb.execution.repair import RepairConfig, RepairPlanner
from arb.fixed import SCALE
from tests.execution.stage import Stage, stage

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET
LOSS_CAP = Decimal("0.50")
MICRO = Decimal(SCALE)


async def _until(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(3000):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


def _worst_value_usd(s: Stage, markets: int) -> Decimal:
    """The least the ledger's holdings plus cash are worth over every outcome of the set: each
    market index resolves YES or NO on both venues alike (the loopback set's equivalences)."""
    positions = s.ledger.positions()
    cash = sum(s.ledger.cash().values(), Decimal(0))
    worst: Decimal | None = None
    for bits in range(2**markets):
        value = cash
        for (_venue, market_id, side), size in positions.items():
            index = next(i for i in range(markets) if market_id in (kalshi_ticker(i), polymarket_condition(i)))
            yes = bool(bits >> index & 1)
            if (side is Side.YES) is yes:
                value += Decimal(size) / MICRO
        worst = value if worst is None else min(worst, value)
    assert worst is not None
    return worst


def _planner(s: Stage) -> RepairPlanner:
    return RepairPlanner(RepairConfig(loss_cap_usd=LOSS_CAP), now_ns=s.time.clock)


async def test_a_leg_that_does_not_fill_is_repaired_until_hedged_and_the_set_is_blocked(tmp_path: Path) -> None:
    # Polymarket's NO asks hold only 3 at 0.52 (then 50 at 0.53): the 5-lot FOK leg is killed
    config = LoopbackConfig(markets=2, polymarket_bids=((480_000, 3 * SCALE), (470_000, 50 * SCALE)))
    async with stage(tmp_path, config=config) as s:
        s.executor.repair = _planner(s)
        report = await s.run(
            [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")]
        )
        assert report.status is ExecutionStatus.REPAIRED, report
        assert report.incident_id is not None and len(report.intent_ids) >= 2  # the entry and a repair
        assert report.repairs[0].startswith("repair") and report.repairs[-1].startswith(("hedged", "flat"))
        assert _worst_value_usd(s, 2) >= -LOSS_CAP
        (incident,) = s.ledger.open_incidents(report.set_id)
        assert "imbalance" in incident.reason
        assert not s.ledger.orders(statuses=(OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.UNKNOWN))
        again = await s.run([s.leg(K, 1, Side.YES, Action.BUY, "1", "0.46")])
        assert again.status is ExecutionStatus.REFUSED and [r.gate for r in again.refusals] == ["incident"]
        s.executor.close_incident(report.set_id, "reconciled by the operator")
        assert not s.ledger.open_incidents()


async def test_without_a_planner_the_set_is_halted_with_an_incident(tmp_path: Path) -> None:
    config = LoopbackConfig(markets=2, polymarket_bids=((480_000, 3 * SCALE),))
    async with stage(tmp_path, config=config) as s:
        report = await s.run(
            [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")]
        )
        assert report.status is ExecutionStatus.HALTED and "no repair planner" in report.reason
        assert report.holdings == {s.venues.instrument(K, 0, Side.YES): Decimal(5)}
        assert s.executor.gate.incidents.check(report.set_id) is not None
        assert len(s.ledger.open_incidents(report.set_id)) == 1


async def test_polymarket_fak_answered_live_fills_later_and_counts(tmp_path: Path) -> None:
    ioc = ExecutorConfig(orders=ExecutionOrderConfig(time_in_force=(TimeInForce.IOC,)))
    async with stage(tmp_path, executor_config=ioc) as s:
        s.venues.polymarket_faults.ack_then_fill = True
        task = asyncio.create_task(s.run([s.leg(P, 0, Side.YES, Action.BUY, "6", "0.50")]))
        await _until(lambda: any(t.status is OrderStatus.OPEN for t in s.executor.orders.values()), "acked live")
        assert not task.done()  # an IOC acknowledged "live" is not over: it may still fill
        assert s.venues.polymarket_sim.release_delayed() == 1
        report = await asyncio.wait_for(task, 10)
        assert report.status is ExecutionStatus.COMPLETE, report
        assert report.orders[0].filled_micro == 6 * SCALE
        held = s.ledger.positions()
        assert held[(P, polymarket_condition(0), Side.YES)] == 6 * SCALE


async def test_a_fill_that_fails_after_the_plan_settled_is_reversed_and_the_set_repaired(tmp_path: Path) -> None:
    config = LoopbackConfig(markets=2, polymarket_auto_settle=False)
    async with stage(tmp_path, config=config) as s:
        s.executor.repair = _planner(s)
        legs = [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")]
        report = await s.run(legs)
        assert report.status is ExecutionStatus.COMPLETE, report
        worst_before = _worst_value_usd(s, 2)
        assert worst_before > 0  # a hedged pair bought below $1
        (trade_id,) = list(s.venues.polymarket_sim.trades)
        s.venues.polymarket_sim.fail_trade(trade_id)  # RETRYING, then FAILED, on the user channel
        await _until(lambda: s.ledger.reversal_count() == 1, "the failed fill reversed in the ledger")
        await _until(lambda: bool(s.executor.late_reports), "the late repair ran")
        await s.executor.idle()
        (late,) = s.executor.late_reports
        assert late.status is ExecutionStatus.REPAIRED, late
        assert "failed on chain" in late.reason and late.incident_id is not None
        entry_po = next(t for t in s.executor.orders.values() if t.venue is P)
        assert entry_po.filled_micro == 0 and entry_po.reversed  # the executor's holdings follow
        assert _worst_value_usd(s, 2) >= -LOSS_CAP


async def test_polymarket_fak_live_past_the_deadline_halts_the_set_and_its_late_fill_still_counts(
    tmp_path: Path,
) -> None:
    """The venue keeps a FAK "live" past the executor's patience and will not cancel it: the order
    is not guessed final; the set halts with an incident; the fill that comes later is counted and
    `reconcile_unresolved` then settles the order."""
    ioc = ExecutorConfig(orders=ExecutionOrderConfig(time_in_force=(TimeInForce.IOC,)))
    async with stage(tmp_path, executor_config=ioc) as s:
        s.venues.polymarket_faults.ack_then_fill = True
        task = asyncio.create_task(s.run([s.leg(P, 0, Side.YES, Action.BUY, "6", "0.50")]))
        await _until(lambda: any(t.status is OrderStatus.OPEN for t in s.executor.orders.values()), "acked live")
        for _ in range(200):  # move time until the executor's settle deadline has passed (nothing came)
            if task.done():
                break
            s.time.advance(s.executor.config.settle_timeout_s + 0.1)
            await asyncio.sleep(0.005)
        report = await asyncio.wait_for(task, 10)
        assert report.status is ExecutionStatus.HALTED and "not resolved" in report.reason, report
        assert report.incident_id is not None and report.orders[0].filled_micro == 0
        assert s.venues.polymarket_sim.release_delayed() == 1  # the venue matches it after all
        tracked = s.executor.orders[report.orders[0].client_order_id]
        await _until(lambda: tracked.filled_micro == 6 * SCALE, "the late fill heard")
        assert await s.executor.reconcile_unresolved() == []
        assert tracked.status is OrderStatus.FILLED
        assert s.ledger.positions()[(P, polymarket_condition(0), Side.YES)] == 6 * SCALE
