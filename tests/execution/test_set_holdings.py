"""Repairs judge everything the set holds, not only the run's own fills: inventory from earlier plans
(in this executor's memory, or in the ledger of an earlier process) counts.

The set first buys a basket (5 pairs K0 YES + P0 NO, a hedge) and one K1 YES alone (its loss in the
K1-NO outcome is within the loss cap). A new plan then half-fills: its K0 YES fills, its P0 NO finds
no size at its limit. That leg alone (-$0.46 at worst) is within the cap, but on top of the earlier
K1 YES the set can lose about $0.92: the executor must repair it, leave the basket in place, and end
with the whole set hedged. Hedged is checked by a brute force written here, over every outcome of
the two markets, from the simulators' own account records (Kalshi nets YES against NO; Polymarket
keeps tokens), sharing no code with the executor or the planner."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arb.domain import Action, Side, Venue
from arb.execution import ExecutionStatus, Executor
from arb.execution.loopback import KALSHI_KEY_ID, LoopbackConfig, LoopbackVenues, kalshi_ticker
from arb.execution.recovery import recover
from arb.execution.repair import RepairConfig, RepairPlanner
from arb.fixed import SCALE
from tests.execution.stage import Stage, gate, stage

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET
LOSS_CAP = Decimal("0.50")
MICRO = Decimal(SCALE)
MARKETS = 2
# Polymarket YES bids 5 at 0.48 (so 5 NO at 0.52), then 50 at 0.47 (NO at 0.53)
CONFIG = LoopbackConfig(markets=MARKETS, polymarket_bids=((480_000, 5 * SCALE), (470_000, 50 * SCALE)))


def _venue_values_usd(venues: LoopbackVenues) -> list[Decimal]:
    """What our accounts on both simulators are worth in each outcome (market i resolves alike on
    both venues), relative to the opening cash: the simulators' cash, Kalshi's signed positions
    (YES > 0, NO < 0) and Polymarket's token balances."""
    kalshi = venues.kalshi_sim.account(KALSHI_KEY_ID).cash_micro - venues.config.kalshi_cash_micro_usd
    values: list[Decimal] = []
    for bits in range(2**MARKETS):
        value_micro = kalshi + _polymarket_cash(venues)
        for index in range(MARKETS):
            yes = bool(bits >> index & 1)
            signed = venues.kalshi_sim.position(KALSHI_KEY_ID, kalshi_ticker(index)).position_micro
            if (signed > 0 and yes) or (signed < 0 and not yes):
                value_micro += abs(signed)
            value_micro += _polymarket_tokens(venues, index, Side.YES if yes else Side.NO)
        values.append(Decimal(value_micro) / MICRO)
    return values


def _polymarket_account(venues: LoopbackVenues) -> Any:
    (account,) = venues.polymarket_sim.accounts.values()
    return account


def _polymarket_cash(venues: LoopbackVenues) -> int:
    return int(_polymarket_account(venues).cash_micro) - venues.config.polymarket_cash_micro_usd


def _polymarket_tokens(venues: LoopbackVenues, index: int, side: Side) -> int:
    return int(_polymarket_account(venues).positions.get(venues.token(index, side), 0))


async def _earlier_inventory(s: Stage) -> None:
    """The basket and the lone K1 YES, each a plan that completes."""
    basket = await s.run(
        [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")]
    )
    assert basket.status is ExecutionStatus.COMPLETE, basket
    lone = await s.run([s.leg(K, 1, Side.YES, Action.BUY, "1", "0.46")])
    assert lone.status is ExecutionStatus.COMPLETE, lone
    worst = min(_venue_values_usd(s.venues))
    assert -LOSS_CAP <= worst < 0, worst  # exposed, within the cap


def _planner(s: Stage) -> RepairPlanner:
    return RepairPlanner(RepairConfig(loss_cap_usd=LOSS_CAP), now_ns=s.time.clock, clock=lambda: 0.0)


async def _restarted(s: Stage, tmp_path: Path) -> Executor:
    """A new executor on the same ledger, as after a restart: recovery first, then trading."""
    report = await recover(s.ledger, s.venues.clients, wall_ms=s.time.wall_ms, clock=s.time.clock, sleep=s.time.sleep)
    executor = Executor(
        s.ledger,
        s.venues.clients,
        gate(tmp_path / "restart", lambda: s.time.clock() / 1e9, lambda: s.time.wall_ms() / 1e3),
        repair=_planner(s),
        capital=s.executor.capital,
        clock=s.time.clock,
        wall_ms=s.time.wall_ms,
        sleep=s.time.sleep,
        deadline=s.time.deadline,
        intent_ids=iter(f"restart-{n}" for n in range(1, 100)).__next__,
    )
    executor.allow_trading(report)
    s.venues.sink = executor.on_event
    return executor


@pytest.mark.parametrize("restart", [False, True], ids=["same-executor", "restarted-from-ledger"])
async def test_a_half_filled_plan_is_repaired_on_the_sets_total_holdings(tmp_path: Path, restart: bool) -> None:
    async with stage(tmp_path, config=CONFIG) as s:
        first = await recover(
            s.ledger, s.venues.clients, wall_ms=s.time.wall_ms, clock=s.time.clock, sleep=s.time.sleep
        )
        assert first.clean, first  # a first start: the ledger adopts the venues' balances
        opening_usd = sum((usd for _, usd in first.opening_cash), Decimal(0))
        await _earlier_inventory(s)
        before = s.ledger.positions()
        executor = s.executor
        if restart:
            (tmp_path / "restart").mkdir()
            executor = await _restarted(s, tmp_path)
        else:
            executor.repair = _planner(s)
        component = s.venues.component()
        plan = s.plan([s.leg(K, 0, Side.YES, Action.BUY, "1", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "1", "0.52")])
        report = await executor.execute(plan, component, s.venues.books())
        assert [o.filled_micro for o in report.orders[:2]] == [SCALE, 0], report  # the half fill
        assert report.status is ExecutionStatus.REPAIRED, report
        assert report.repairs[0].startswith("repair"), report.repairs  # not judged hedged on the run alone
        assert report.repairs[-1].startswith("hedged"), report.repairs
        assert len(report.intent_ids) >= 2  # the entry and at least one repair
        values = _venue_values_usd(s.venues)
        assert min(values) >= -LOSS_CAP, values
        # the basket is neither unwound nor doubled: its two sides are still held, at most once more
        after = s.ledger.positions()
        for key in ((K, kalshi_ticker(0), Side.YES), next(k for k in before if k[0] is P)):
            assert 5 * SCALE <= after.get(key, 0) <= 6 * SCALE, (key, before, after)
        # the executor's total is the venues' truth: the same value in every outcome
        held, cash = executor.set_position(component)
        assert dict(report.set_holdings) == held and report.set_cash_flow_usd == cash
        ledger_cash = sum(s.ledger.cash().values(), Decimal(0))
        assert cash == ledger_cash - opening_usd  # every fill of the stage is in this set's markets


async def test_a_fill_of_an_earlier_plan_that_fails_later_is_repaired_on_the_sets_total(tmp_path: Path) -> None:
    """Two plans on one set complete; then the first plan's Polymarket fill fails on chain. The late
    repair must see that reversal although a later plan ran on the set since."""
    config = LoopbackConfig(markets=MARKETS, polymarket_auto_settle=False)
    async with stage(tmp_path, config=config) as s:
        s.executor.repair = _planner(s)
        first = await s.run(
            [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")]
        )
        assert first.status is ExecutionStatus.COMPLETE, first
        (trade_id,) = list(s.venues.polymarket_sim.trades)
        second = await s.run(
            [s.leg(K, 1, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 1, Side.NO, Action.BUY, "5", "0.52")]
        )
        assert second.status is ExecutionStatus.COMPLETE, second
        assert min(_venue_values_usd(s.venues)) > 0  # two hedged baskets bought below $1
        s.venues.polymarket_sim.fail_trade(trade_id)  # the first plan's P0 NO never happened
        for _ in range(3000):
            if s.executor.late_reports:
                break
            await asyncio.sleep(0.001)
        await s.executor.idle()
        (late,) = s.executor.late_reports
        assert late.status is ExecutionStatus.REPAIRED and "failed on chain" in late.reason, late
        assert late.repairs[0].startswith("repair"), late.repairs
        assert min(_venue_values_usd(s.venues)) >= -LOSS_CAP, _venue_values_usd(s.venues)
