"""The executor against both simulated venues over loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from arb.domain import Action, OrderRequest, OrderStatus, OrderUpdate, Side, Venue
from arb.execution import ExecutionStatus
from arb.execution.loopback import KALSHI_KEY_ID, kalshi_ticker
from arb.fixed import SCALE
from arb.risk import gates as gates_module
from arb.risk.partial_fill import FillableLeg, Holdings, PartialFillRisk, worst_partial_fill_loss
from arb.venues.sim.faults import AnswerFault
from tests.execution.stage import stage

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET


async def test_two_leg_plan_fills_on_both_venues_and_the_ledger_follows(tmp_path: Path) -> None:
    async with stage(tmp_path) as s:
        report = await s.run(
            [
                s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"),
                s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52"),
            ]
        )
        assert report.status is ExecutionStatus.COMPLETE, report
        assert [o.filled_micro for o in report.orders] == [5 * SCALE, 5 * SCALE]
        assert all(o.status is OrderStatus.FILLED for o in report.orders)
        positions = s.ledger.positions()
        assert positions[(K, kalshi_ticker(0), Side.YES)] == 5 * SCALE
        assert sum(v for (venue, _, side), v in positions.items() if venue is P and side is Side.NO) == 5 * SCALE
        assert s.venues.kalshi_sim.position(KALSHI_KEY_ID, kalshi_ticker(0)).position_micro == 5 * SCALE
        assert report.plan_latency_ms is not None and len(report.legs) == 2
        intent = s.ledger.intent(report.intent_ids[0])
        assert intent is not None  # journaled with the ladder each order trades (Polymarket: the token)
        assert [leg.book_id for leg in intent.legs] == [kalshi_ticker(0), s.venues.token(0, Side.NO)]


def _count_sends(client: object) -> dict[str, int]:
    """Wrap a client's place_order to count sends per client order id (a re-send would show)."""
    sends: dict[str, int] = {}
    original = client.place_order  # type: ignore[attr-defined]

    async def counting(request: OrderRequest) -> OrderUpdate:
        sends[request.client_order_id] = sends.get(request.client_order_id, 0) + 1
        return await original(request)

    client.place_order = counting  # type: ignore[attr-defined]
    return sends


async def _until(predicate: Callable[[], bool], what: str, turns: int = 2000) -> None:
    for _ in range(turns):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


@pytest.mark.parametrize("venue", [K, P])
async def test_post_timed_out_although_executed_is_filled_after_reconciliation_not_resent(
    tmp_path: Path, venue: Venue
) -> None:
    """Acceptance 3: the venue executes the order and never answers the POST; the client's
    deadline passes (UNKNOWN); the executor reconciles it to FILLED, counts its fills once, and
    never sends it again."""
    async with stage(tmp_path) as s:
        sends = _count_sends(s.venues.clients[venue])
        if venue is K:
            s.venues.kalshi_faults.lose_next_answers(AnswerFault.NO_ANSWER, 1, "/trade-api/v2/portfolio/", ("POST",))
            leg = s.leg(K, 1, Side.YES, Action.BUY, "4", "0.46")

            def executed() -> bool:
                return any(m.order.filled_micro == 4 * SCALE for m in s.venues.kalshi_sim.orders_of(KALSHI_KEY_ID))
        else:
            s.venues.polymarket_faults.lose_next_answers(AnswerFault.NO_ANSWER, 1, "/order", ("POST",))
            leg = s.leg(P, 1, Side.YES, Action.BUY, "6", "0.50")
            account = s.venues.polymarket_sim.accounts["exec-api-key"]

            def executed() -> bool:
                return any(m.order is not None and m.order.filled_micro == 6 * SCALE for m in account.orders.values())

        task = asyncio.create_task(s.run([leg]))
        await _until(executed, "the venue executed the order")
        assert not task.done()  # the POST is still unanswered
        s.time.advance(s.venues.config.order_timeout_s + 0.1)  # the client's deadline fires
        report = await asyncio.wait_for(task, 10)
        assert report.status is ExecutionStatus.COMPLETE, report
        (order,) = report.orders
        assert order.status is OrderStatus.FILLED and order.filled_micro == leg.quantity * SCALE
        assert sends == {order.client_order_id: 1}  # reconciled, never sent again
        assert report.legs[0].latency_ms is None  # the send itself was never answered
        record = s.ledger.order(order.client_order_id)
        assert record is not None and record.status is OrderStatus.FILLED
        held = s.ledger.positions()
        assert sum(v for (v_, _, side), v in held.items() if v_ is venue and side is Side.YES) == leg.quantity * SCALE
        assert OrderStatus.UNKNOWN in s.executor.orders[order.client_order_id].statuses  # the send's outcome


async def test_a_plans_orders_to_one_venue_go_in_one_batch_request(tmp_path: Path) -> None:
    async with stage(tmp_path) as s:
        batches: list[int] = []
        original = s.venues.kalshi.place_orders

        async def spy(requests: Sequence[OrderRequest]) -> list[OrderUpdate]:
            batches.append(len(requests))
            return await original(requests)

        s.venues.kalshi.place_orders = spy  # type: ignore[method-assign]
        sends = _count_sends(s.venues.kalshi)
        legs = [s.leg(K, i, Side.YES, Action.BUY, "2", "0.46") for i in range(3)]
        report = await s.run([*legs, s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")])
        assert report.status is ExecutionStatus.COMPLETE, report
        assert batches == [3] and sends == {}  # one batched POST for the three Kalshi legs
        assert all(leg.latency_ms is not None for leg in report.legs)
        assert all(o.filled_micro == o.size_micro for o in report.orders)


async def test_the_partial_fill_bound_is_computed_off_the_event_loop_and_still_judges_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound (several ms of Decimal work a plan) must not stall feed handling: it runs in a
    worker thread, and its result still reaches the gate (a bound above the limit refuses)."""
    threads: list[int] = []

    def recording(
        legs: Sequence[FillableLeg], outcomes: Sequence[Mapping[str, int]], holdings: Holdings | None = None
    ) -> PartialFillRisk:
        threads.append(threading.get_ident())
        return worst_partial_fill_loss(legs, outcomes, holdings)

    monkeypatch.setattr(gates_module, "worst_partial_fill_loss", recording)
    loop_thread = threading.get_ident()
    async with stage(tmp_path) as s:
        legs = [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")]
        report = await s.run(legs)
        assert report.status is ExecutionStatus.COMPLETE, report
        assert threads and all(t != loop_thread for t in threads), threads
        s.executor.gate.limits = dataclasses.replace(s.executor.gate.limits, max_partial_fill_loss_usd=Decimal(0))
        refused = await s.run(legs)
        assert refused.status is ExecutionStatus.REFUSED
        assert "partial_fill" in [r.gate for r in refused.refusals], refused.refusals
