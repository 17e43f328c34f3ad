"""Trading starts only after a clean start-up recovery: until `Executor.allow_trading` gets a clean
`RecoveryReport` every plan is REFUSED (gate "recovery") and nothing is journaled or sent."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from arb.domain import Action, Side, Venue
from arb.errors import ConfigError
from arb.execution import ExecutionStatus
from arb.execution.loopback import KALSHI_KEY_ID, LoopbackConfig, kalshi_ticker
from arb.execution.recovery import Difference, RecoveryError, RecoveryReport, recover
from arb.fixed import SCALE
from tests.execution.stage import Stage, stage

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET


async def _recover(s: Stage) -> RecoveryReport:
    return await recover(s.ledger, s.venues.clients, wall_ms=s.time.wall_ms, clock=s.time.clock, sleep=s.time.sleep)


def _allowed(s: Stage) -> bool:
    return s.executor.trading_allowed


def _nothing_sent(s: Stage) -> bool:
    return (
        s.ledger.intent_ids() == []
        and s.ledger.orders() == []
        and s.venues.kalshi_sim.orders_of(KALSHI_KEY_ID) == []
        and not s.venues.polymarket_sim.trades
    )


async def test_plans_are_refused_before_recovery_and_after_an_unclean_one_then_trade_after_a_clean_one(
    tmp_path: Path,
) -> None:
    async with stage(tmp_path, require_recovery=True) as s:
        legs = [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")]
        assert not _allowed(s)
        before = await s.run(legs)
        assert before.status is ExecutionStatus.REFUSED, before
        assert [r.gate for r in before.refusals] == ["recovery"] and "allow_trading" in before.refusals[0].reason
        assert _nothing_sent(s)

        clean = await _recover(s)
        assert clean.clean, clean
        unclean = dataclasses.replace(
            clean, differences=(Difference(K, "position", kalshi_ticker(0), "0", "3000000", "micro-contracts"),)
        )
        with pytest.raises(RecoveryError, match="position"):
            s.executor.allow_trading(unclean)
        refused = await s.run(legs)
        assert refused.status is ExecutionStatus.REFUSED and "not clean" in refused.refusals[0].reason, refused
        assert _nothing_sent(s)
        with pytest.raises(ConfigError):
            s.executor.allow_trading(object())  # type: ignore[arg-type]

        s.executor.allow_trading(clean)
        assert _allowed(s)
        report = await s.run(legs)
        assert report.status is ExecutionStatus.COMPLETE, (report.reason, report.orders)
        assert [o.filled_micro for o in report.orders] == [5 * SCALE, 5 * SCALE]

        # a later unclean recovery stops trading again
        with pytest.raises(RecoveryError):
            s.executor.allow_trading(unclean)
        again = await s.run(legs)
        assert again.status is ExecutionStatus.REFUSED and [r.gate for r in again.refusals] == ["recovery"]
        assert len(s.ledger.intent_ids()) == 1


async def test_a_real_unclean_recovery_keeps_the_executor_refusing(tmp_path: Path) -> None:
    """The venue holds a position the ledger has no record of: recovery lists it, and the
    executor stays refusing."""
    config = LoopbackConfig(markets=1, kalshi_positions={kalshi_ticker(0): (3 * SCALE, 1_380_000)})
    async with stage(tmp_path, config=config, require_recovery=True) as s:
        report = await _recover(s)
        assert not report.clean and any(d.kind == "position" for d in report.differences), report
        with pytest.raises(RecoveryError):
            s.executor.allow_trading(report)
        refused = await s.run([s.leg(K, 0, Side.YES, Action.BUY, "1", "0.46")])
        assert refused.status is ExecutionStatus.REFUSED and [r.gate for r in refused.refusals] == ["recovery"]
        assert _nothing_sent(s)
