"""A long run's executor forgets orders that can change no more (`Executor.prune_finished`), and
keeps any whose fills may still fail on chain until they are old enough."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from arb.domain import Action, Side, Venue
from arb.execution import ExecutionStatus
from tests.execution.stage import stage

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET


async def test_settled_orders_are_forgotten_and_holdings_stay(tmp_path: Path) -> None:
    async with stage(tmp_path) as s:
        report = await s.run(
            [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")]
        )
        assert report.status is ExecutionStatus.COMPLETE
        executor = s.executor
        component = s.venues.component()
        before = executor.set_position(component)
        assert len(executor.orders) == 2
        # Polymarket fills can still fail on chain: its order is kept until answered long enough ago
        assert executor.prune_finished(older_than_ns=10**18) == 1
        assert [t.venue for t in executor.orders.values()] == [P]
        s.time.advance(60.0)
        assert executor.prune_finished(older_than_ns=30 * 10**9) == 1
        assert executor.orders == {}
        assert executor.set_position(component) == before
        assert before[0] and all(v == Decimal(5) for v in before[0].values())
        # nothing rests, nothing is left to cancel
        assert await executor.cancel_resting() == []
