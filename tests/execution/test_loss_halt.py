"""The executor feeds the loss halts: after every plan (and repair round) it values equity (cash
plus each set's holdings at their worst case over the set's outcomes) and hands it to the risk
gate. A plan that ends with a loss beyond the daily limit halts trading (the next plan is
refused by gate `daily_loss`) and the injected notifier hears it once; a riskless basket counts
at its guaranteed payoff and halts nothing.

The expected equity is computed here from the ledger's own positions and cash (contract i on
Kalshi and on Polymarket resolve alike), not with the executor's valuation."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from arb.domain import Action, Side, Venue
from arb.execution import ExecutionStatus
from arb.execution.loopback import LoopbackConfig, kalshi_ticker, polymarket_condition
from arb.fixed import SCALE
from arb.risk.gates import LossHalts, Notification
from arb.venues.sim.faults import AnswerFault
from tests.execution.stage import Stage, stage

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET
MICRO = Decimal(SCALE)
# Polymarket's NO asks hold only 3 at 0.52: a 5-lot FOK NO leg there is killed, the Kalshi leg fills
THIN_NO = LoopbackConfig(markets=2, polymarket_bids=((480_000, 3 * SCALE), (470_000, 50 * SCALE)))


def _worst_equity_usd(s: Stage, markets: int) -> Decimal:
    """Ledger cash plus the positions' least payoff over every outcome (brute force)."""
    positions = s.ledger.positions()
    worst: Decimal | None = None
    for bits in range(2**markets):
        value = Decimal(0)
        for (_venue, market_id, side), size in positions.items():
            index = next(i for i in range(markets) if market_id in (kalshi_ticker(i), polymarket_condition(i)))
            if (side is Side.YES) is bool(bits >> index & 1):
                value += Decimal(size) / MICRO
        worst = value if worst is None else min(worst, value)
    assert worst is not None
    return sum(s.ledger.cash().values(), Decimal(0)) + worst


def _halts(s: Stage, daily_loss_usd: str, heard: list[Notification]) -> LossHalts:
    halts = LossHalts(Decimal(daily_loss_usd), Decimal(800), lambda: s.time.wall_ms() / 1e3, notify=heard.append)
    s.executor.gate.halts = halts
    return halts


async def test_a_plan_that_loses_beyond_the_daily_limit_halts_trading_and_notifies_once(tmp_path: Path) -> None:
    heard: list[Notification] = []
    async with stage(tmp_path, config=THIN_NO) as s:
        halts = _halts(s, "2", heard)
        opening = s.executor.equity_usd()
        report = await s.run(
            [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")]
        )
        # no repair planner: the Kalshi leg stays unhedged, worth nothing if market 0 says NO
        assert report.status is ExecutionStatus.HALTED, report
        assert s.ledger.positions() == {(K, kalshi_ticker(0), Side.YES): 5 * SCALE}
        equity = s.executor.equity_usd()
        assert equity == _worst_equity_usd(s, 2)
        assert opening - equity >= Decimal("2.30")  # 5 x 0.46 paid (plus the fee), worth 0 at worst
        assert halts.halt is not None and halts.halt.kind == "daily_loss"
        assert halts.halt.loss_usd == opening - equity
        assert [n.kind for n in heard] == ["halt"] and heard[0].halt == halts.halt

        other = s.venues.component([1])
        plan = s.plan([s.leg(K, 1, Side.YES, Action.BUY, "1", "0.46")], set_id=other.id)
        refused = await s.executor.execute(plan, other, s.venues.books())
        assert refused.status is ExecutionStatus.REFUSED
        assert [r.gate for r in refused.refusals] == ["daily_loss"]
        assert len(heard) == 1  # reported once, however often equity is seen after


async def test_a_riskless_basket_counts_at_its_guaranteed_payoff_and_halts_nothing(tmp_path: Path) -> None:
    heard: list[Notification] = []
    async with stage(tmp_path) as s:
        halts = _halts(s, "2", heard)
        opening = s.executor.equity_usd()
        report = await s.run(
            [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")]
        )
        assert report.status is ExecutionStatus.COMPLETE, report
        # 4.90 and fees paid for a basket that pays 5 whatever happens: cash alone would show a
        # loss of about 4.99, beyond the 2 USD limit
        cash = sum(s.ledger.cash().values(), Decimal(0))
        assert cash < opening - 2
        assert s.executor.equity_usd() == _worst_equity_usd(s, 2) == cash + 5
        assert halts.halt is None and heard == []
        again = await s.run([s.leg(K, 1, Side.YES, Action.BUY, "1", "0.46")])
        assert again.status is ExecutionStatus.COMPLETE


async def test_a_plan_under_way_is_no_loss_until_its_entry_settles(tmp_path: Path) -> None:
    """A basket whose Kalshi leg has filled while its Polymarket leg is still unanswered is a plan
    under way: another plan starting meanwhile observes equity, and the paid-for leg must not read
    as a 2.30 USD loss (several such plans under way summed to a spurious daily-loss halt). Once
    the entry settles the basket counts at its guaranteed payoff."""
    heard: list[Notification] = []
    async with stage(tmp_path) as s:
        halts = _halts(s, "2", heard)
        opening = s.executor.equity_usd()
        basket_set = s.venues.component([0])
        basket = s.plan(
            [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")],
            set_id=basket_set.id,
        )
        s.venues.polymarket_faults.lose_next_answers(AnswerFault.NO_ANSWER, 1, "/order", ("POST",))
        task = asyncio.create_task(s.executor.execute(basket, basket_set, s.venues.books()))
        kalshi_yes = s.venues.instrument(K, 0, Side.YES)
        for _ in range(2000):
            if s.executor.set_position(basket_set)[0].get(kalshi_yes) == Decimal(5):
                break
            await asyncio.sleep(0.001)
        else:
            raise AssertionError("the Kalshi leg never filled")
        assert not task.done()  # the Polymarket POST is still unanswered
        assert s.executor.equity_usd() == opening

        other_set = s.venues.component([1])
        other = s.plan([s.leg(K, 1, Side.YES, Action.BUY, "1", "0.46")], set_id=other_set.id)
        report = await s.executor.execute(other, other_set, s.venues.books())
        assert report.status is ExecutionStatus.COMPLETE, report
        assert halts.halt is None and heard == []

        s.time.advance(s.venues.config.order_timeout_s + 0.1)  # the client's deadline: reconciled
        settled = await asyncio.wait_for(task, 10)
        assert settled.status is ExecutionStatus.COMPLETE, settled
        assert s.executor.equity_usd() == _worst_equity_usd(s, 2)
        assert halts.halt is None and heard == []
