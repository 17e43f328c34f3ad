"""A 429/500 storm against both simulated venues over loopback, with the real clients and the
executor: reads back off for at least the venue's Retry-After and get through; an order POST is
either placed (a 429 means the venue did not take it: sent again, placed once) or its failure is on
record (a 500 before the venue took it: UNKNOWN, looked up, then REJECTED with the reason), and
one the venue took before answering 500 stays UNKNOWN until reconciled (found filled). No order is
ever re-sent blindly: each client order id reaches the venue at most once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from arb.domain import Action, OrderRequest, OrderStatus, OrderUpdate, Side, Venue
from arb.execution import ExecutionReport, ExecutionStatus
from arb.execution.loopback import KALSHI_KEY_ID
from arb.fixed import SCALE
from arb.venues.sim.faults import AnswerFault, FaultPlan
from tests.execution.stage import Stage, stage

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET


def count_sends(s: Stage) -> Counter[str]:
    sends: Counter[str] = Counter()
    for client in s.venues.clients.values():
        original = client.place_order

        async def counting(request: OrderRequest, original: Callable[..., object] = original) -> OrderUpdate:
            sends[request.client_order_id] += 1
            return await original(request)  # type: ignore[misc]

        client.place_order = counting  # type: ignore[method-assign]
    return sends


def venue_orders(s: Stage) -> Counter[str]:
    """Orders the venues took, per client order id (Kalshi) or order hash (Polymarket)."""
    taken: Counter[str] = Counter(str(m.order.client_order_id) for m in s.venues.kalshi_sim.orders_of(KALSHI_KEY_ID))
    account = s.venues.polymarket_sim.accounts["exec-api-key"]
    taken.update(list(account.orders))
    return taken


async def run_moving_time(s: Stage, coro: Awaitable[ExecutionReport], step_s: float = 0.5) -> ExecutionReport:
    """Run an execution while time moves on (lookups wait out the client's order_settle_s)."""
    task = asyncio.ensure_future(coro)
    for _ in range(400):
        if task.done():
            break
        await asyncio.sleep(0.002)
        if not task.done():
            s.time.advance(step_s)
    return await asyncio.wait_for(task, 10)


async def test_reads_back_off_for_at_least_the_retry_after_then_get_through(tmp_path: Path) -> None:
    async with stage(tmp_path) as s:
        for faults in (s.venues.kalshi_faults, s.venues.polymarket_faults):
            faults.plan = FaultPlan(http_429_retry_after_s=1.5)
            faults.fail_next_http(429, 2)
            faults.fail_next_http(500, 1)  # within both clients' read retries (Polymarket: 3)
        for client in (s.venues.kalshi, s.venues.polymarket):
            before = len(client.diagnostics.retry_delays)
            slept = s.time.slept_s
            assert isinstance(await client.open_orders(), list)  # got through after the storm
            delays = [d for _, d in list(client.diagnostics.retry_delays)[before:]]
            assert len(delays) == 3, delays
            assert all(d >= 1.5 for d in delays[:2]), delays  # the venue's Retry-After honoured
            assert s.time.slept_s - slept >= sum(delays)  # waited, on the injected clock


async def test_order_posts_in_a_storm_are_placed_once_or_their_failure_is_on_record(tmp_path: Path) -> None:
    async with stage(tmp_path) as s:
        sends = count_sends(s)
        # Kalshi: the POST is rate limited twice, then taken. Polymarket: taken, then answered 500.
        s.venues.kalshi_faults.plan = FaultPlan(http_429_retry_after_s=0.5)
        s.venues.kalshi_faults.fail_next_http(429, 2)
        s.venues.polymarket_faults.lose_next_answers(AnswerFault.ANSWER_500, 1, "/order", ("POST",))
        report = await s.run(
            [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")]
        )
        assert report.status is ExecutionStatus.COMPLETE, report
        orders = {o.venue: o for o in report.orders}
        assert all(o.status is OrderStatus.FILLED and o.filled_micro == 5 * SCALE for o in orders.values())
        polymarket = s.executor.orders[orders[P].client_order_id]
        assert OrderStatus.UNKNOWN in polymarket.statuses  # the 500 after processing: unknown until reconciled
        assert set(sends.values()) == {1}
        assert set(venue_orders(s).values()) == {1}  # each taken once by its venue

        # Both venues answer 500 before taking the POST: nothing placed, the failure on record
        # (the lookups say UNKNOWN until the clients' order_settle_s has passed, so time moves)
        s.venues.kalshi_faults.fail_next_http(500, 1)
        s.venues.polymarket_faults.fail_next_http(500, 1)
        taken_before = sum(venue_orders(s).values())
        failed = await run_moving_time(
            s, s.run([s.leg(K, 1, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 1, Side.NO, Action.BUY, "5", "0.52")])
        )
        assert failed.status is ExecutionStatus.UNFILLED, failed
        for order in failed.orders:
            assert order.status is OrderStatus.REJECTED and order.filled_micro == 0
            tracked = s.executor.orders[order.client_order_id]
            assert tracked.statuses[0] in (OrderStatus.PENDING, OrderStatus.UNKNOWN)
            assert OrderStatus.UNKNOWN in tracked.statuses  # never assumed rejected before the lookups
            record = s.ledger.order(order.client_order_id)
            assert record is not None and record.status is OrderStatus.REJECTED and record.reason
        assert sum(venue_orders(s).values()) == taken_before  # nothing reached a book
        assert set(sends.values()) == {1}  # and nothing was sent again
        assert len(s.executor.send_errors) == 0  # the clients answered UNKNOWN; nothing raised
