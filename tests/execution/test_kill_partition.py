"""Acceptance 4, executor side: the kill switch stops new orders within one event-loop turn and
cancels resting ones; an unreachable venue (a partition) halts entries touching it and leaves no
orphaned order. Against both simulated venues over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from arb.domain import Action, OrderStatus, Side, TimeInForce, Venue
from arb.execution import ExecutionOrderConfig, ExecutionStatus, ExecutorConfig
from arb.venues.sim.faults import AnswerFault
from tests.execution.stage import resting_at_venues, spy_sends, stage

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET
RESTING = ExecutorConfig(orders=ExecutionOrderConfig(time_in_force=(TimeInForce.GTC,)))
_NOT_FINAL = (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.UNKNOWN)


async def _until(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(3000):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


async def test_kill_switch_engaged_after_journaling_stops_every_send_in_the_next_turn(tmp_path: Path) -> None:
    async with stage(tmp_path) as s:
        sent = spy_sends(s)
        legs = [
            s.leg(K, 0, Side.YES, Action.BUY, "3", "0.46"),
            s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52"),
            s.leg(K, 1, Side.YES, Action.BUY, "3", "0.46"),
        ]
        task = asyncio.create_task(s.run(legs))
        # turn by turn until the intent is journaled (after the gates, whose partial-fill bound is
        # computed in a worker thread): the sends are then scheduled, none has started
        for _ in range(1_000_000):
            if s.ledger.intent_ids():
                break
            await asyncio.sleep(0)
        assert len(s.ledger.intent_ids()) == 1 and sent == []
        s.executor.gate.kill_switch.engage("operator")  # e.g. the signal handler
        report = await task
        assert sent == []  # not one order left
        assert report.status is ExecutionStatus.UNFILLED
        assert all(o.status is OrderStatus.REJECTED and "kill switch" in o.reason for o in report.orders)
        assert all(r.status is OrderStatus.REJECTED for r in s.ledger.orders())
        refused = await s.run([s.leg(K, 2, Side.YES, Action.BUY, "1", "0.46")])
        assert refused.status is ExecutionStatus.REFUSED and refused.refusals[0].gate == "kill_switch"
        assert sent == [] and resting_at_venues(s) == []


async def test_kill_cancels_resting_orders_on_both_venues(tmp_path: Path) -> None:
    async with stage(tmp_path, executor_config=RESTING) as s:
        # bids below the asks: both rest
        legs = [s.leg(K, 0, Side.YES, Action.BUY, "3", "0.41"), s.leg(P, 0, Side.YES, Action.BUY, "5", "0.45")]
        task = asyncio.create_task(s.run(legs))
        await _until(lambda: len(resting_at_venues(s)) == 2, "both orders rest at the venues")
        await _until(
            lambda: sum(t.status is OrderStatus.OPEN for t in s.executor.orders.values()) == 2, "both acknowledged"
        )
        left = await s.executor.kill("operator")
        assert left == [] and resting_at_venues(s) == []
        report = await asyncio.wait_for(task, 10)
        assert report.status is ExecutionStatus.UNFILLED
        assert [o.status for o in report.orders] == [OrderStatus.CANCELED, OrderStatus.CANCELED]
        assert not s.ledger.orders(statuses=_NOT_FINAL)


async def test_unreachable_venue_halts_entries_touching_it_and_leaves_no_orphan(tmp_path: Path) -> None:
    async with stage(tmp_path, executor_config=RESTING) as s:
        sent = spy_sends(s)
        pm = s.venues.polymarket_faults
        pm.lose_next_answers(AnswerFault.NO_ANSWER, 1, "/order", ("POST",))  # it rests, nobody hears so
        legs = [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.YES, Action.BUY, "5", "0.45")]
        task = asyncio.create_task(s.run(legs))
        await _until(lambda: len(resting_at_venues(s)) == 1, "the Polymarket order rests at the venue")
        pm.fail_next_http(503, 100_000)  # the partition: every request to Polymarket fails from now on
        s.time.advance(s.venues.config.order_timeout_s + 0.1)
        report = await asyncio.wait_for(task, 20)
        assert report.status is ExecutionStatus.HALTED and report.incident_id is not None
        assert "not resolved" in report.reason
        refusals = s.executor.gate.breakers.check(["polymarket"])
        assert [r.gate for r in refusals] == ["partition"]
        # entries touching the venue are refused, on this set and on any other
        other = s.venues.component([1])
        again = await s.executor.execute(
            s.plan([s.leg(P, 1, Side.YES, Action.BUY, "5", "0.50")], set_id=other.id), other, s.venues.books()
        )
        assert again.status is ExecutionStatus.REFUSED and "partition" in [r.gate for r in again.refusals]
        assert len(sent) == 2  # nothing more left
        # the venue answers again: the unresolved order is found resting and cancelled
        pm.clear_scripted()
        still_open = await s.executor.reconcile_unresolved()
        assert still_open == []
        assert resting_at_venues(s) == []
        assert not s.ledger.orders(statuses=_NOT_FINAL)
        assert len(sent) == 2  # reconciled, not re-sent
