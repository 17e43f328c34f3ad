"""Start-up recovery against both simulated venues in-process (loopback, FakeTime): the cases one
at a time. The crash runs with real processes are tests/test_recovery_crash.py."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from arb.domain import Action, Fill, OrderRequest, OrderStatus, Side, TimeInForce, Venue
from arb.errors import ConfigError
from arb.execution import ExecutionStatus
from arb.execution.loopback import LoopbackConfig, LoopbackVenues, kalshi_ticker, polymarket_condition
from arb.execution.recovery import RecoveryConfig, RecoveryError, RecoveryReport, normalise_fill, recover
from arb.fixed import SCALE
from arb.ledger import Intent, IntentLeg, JournaledLeg, Ledger
from arb.venues.chaos import FakeTime
from arb.venues.sim.spec import FeeScheduleSpec
from tests.execution.stage import stage

K, P = Venue.KALSHI, Venue.POLYMARKET


async def _recover(venues: LoopbackVenues, ledger: Ledger, fake: FakeTime, settle_waits: int = 1) -> RecoveryReport:
    return await recover(
        ledger,
        venues.clients,
        wall_ms=fake.wall_ms,
        clock=fake.clock,
        sleep=fake.sleep,
        config=RecoveryConfig(settle_waits=settle_waits),
    )


def _kalshi_leg(price: int = 430_000, tif: TimeInForce = TimeInForce.GTC) -> IntentLeg:
    return IntentLeg(K, kalshi_ticker(0), Side.YES, Action.BUY, price, 2 * SCALE, tif)


@pytest.mark.asyncio
async def test_first_start_adopts_the_balances_and_a_second_start_finds_nothing(tmp_path: Path) -> None:
    fake = FakeTime()
    async with LoopbackVenues(LoopbackConfig(markets=1), fake) as venues:
        with Ledger(tmp_path / "l.db") as ledger:
            first = await _recover(venues, ledger, fake)
            assert first.clean, first
            assert dict(first.opening_cash) == {K: Decimal(100_000), P: Decimal(100_000)}
            assert ledger.cash() == {K: Decimal(100_000), P: Decimal(100_000)}
            second = await _recover(venues, ledger, fake)
            assert second.clean and second.opening_cash == () and second.resolved == ()


@pytest.mark.asyncio
async def test_a_journaled_order_the_venue_never_got_is_rejected_only_after_the_settle_window(
    tmp_path: Path,
) -> None:
    """Kalshi: looked up by client id; not found, it stays UNKNOWN while a send from the dead
    process could still arrive (the client's order_settle_s), and the report is not clean;
    REJECTED after. Polymarket without a journaled hash: never sent (the hash is journaled first)."""
    fake = FakeTime()
    async with LoopbackVenues(LoopbackConfig(markets=1, order_settle_s=3.0), fake) as venues:
        with Ledger(tmp_path / "l.db") as ledger:
            assert (await _recover(venues, ledger, fake)).clean
            pm_leg = IntentLeg(P, polymarket_condition(0), Side.YES, Action.BUY, 500_000, 5 * SCALE, TimeInForce.FOK)
            kalshi_cid, pm_cid = Intent("i1", "s", fake.wall_ms(), (_kalshi_leg(), pm_leg)).client_order_ids()
            ledger.journal_intent(Intent("i1", "s", fake.wall_ms(), (_kalshi_leg(), pm_leg)))
            early = await _recover(venues, ledger, fake, settle_waits=0)
            assert [(d.kind, d.key) for d in early.differences] == [("order_unknown", kalshi_cid)]
            with pytest.raises(RecoveryError, match="order_unknown"):
                early.require_clean()
            kalshi_order = ledger.order(kalshi_cid)
            assert kalshi_order is not None and kalshi_order.status is OrderStatus.PENDING
            pm_order = ledger.order(pm_cid)
            assert pm_order is not None and pm_order.status is OrderStatus.REJECTED
            late = await _recover(venues, ledger, fake, settle_waits=1)
            assert late.clean, late
            assert late.waited_s == 3.001
            assert late.resolved == ((kalshi_cid, OrderStatus.PENDING, OrderStatus.REJECTED),)


@pytest.mark.asyncio
async def test_resting_orders_are_cancelled_and_one_the_ledger_does_not_know_keeps_it_unclean(
    tmp_path: Path,
) -> None:
    fake = FakeTime()
    async with LoopbackVenues(LoopbackConfig(markets=1), fake) as venues:
        with Ledger(tmp_path / "l.db") as ledger:
            assert (await _recover(venues, ledger, fake)).clean
            (journaled,) = ledger.journal_intent(Intent("i1", "s", fake.wall_ms(), (_kalshi_leg(),)))
            kalshi = venues.clients[K]
            # sent, and the process died before recording the answer: PENDING in the ledger
            sent = await kalshi.place_order(
                OrderRequest(journaled.client_order_id, kalshi_ticker(0), Side.YES, Action.BUY, 430_000, 2 * SCALE, TimeInForce.GTC)
            )  # fmt: skip
            assert sent.status is OrderStatus.OPEN
            stranger = await kalshi.place_order(
                OrderRequest("not-in-the-journal", kalshi_ticker(0), Side.YES, Action.BUY, 420_000, SCALE, TimeInForce.GTC)
            )  # fmt: skip
            report = await _recover(venues, ledger, fake)
            assert set(report.cancelled) == {sent.order_id, stranger.order_id}
            assert [(d.kind, d.key) for d in report.differences] == [("unknown_order", stranger.order_id)]
            cid = journaled.client_order_id
            assert report.resolved == (
                (cid, OrderStatus.PENDING, OrderStatus.OPEN),  # found resting
                (cid, OrderStatus.OPEN, OrderStatus.CANCELED),  # then cancelled
            )
            assert await kalshi.open_orders() == []
            # the stranger is gone from the venue: the next start is clean (nothing differs)
            assert (await _recover(venues, ledger, fake)).clean


@pytest.mark.asyncio
async def test_an_order_recorded_filled_without_its_fills_gets_them(tmp_path: Path) -> None:
    """The answer said "filled" without the size (the ledger stores 0) and the process died before
    any fill event: the order looks final and consistent (0 filled, 0 in fills), yet the venue
    filled it. Recovery fetches every fill of the journal's markets, so the fill is found."""
    fake = FakeTime()
    async with LoopbackVenues(LoopbackConfig(markets=1), fake) as venues:
        with Ledger(tmp_path / "l.db") as ledger:
            assert (await _recover(venues, ledger, fake)).clean
            leg = _kalshi_leg(460_000, TimeInForce.IOC)  # crosses the ask
            (journaled,) = ledger.journal_intent(Intent("i1", "s", fake.wall_ms(), (leg,)))
            answer = await venues.clients[K].place_order(
                OrderRequest(journaled.client_order_id, leg.market_id, Side.YES, Action.BUY, 460_000, 2 * SCALE, TimeInForce.IOC)
            )  # fmt: skip
            assert answer.status is OrderStatus.FILLED
            ledger.record_order(dataclasses.replace(answer, filled_size_micro=None), now_ms=fake.wall_ms())
            assert ledger.fill_count() == 0
            report = await _recover(venues, ledger, fake)
            assert report.clean, report
            assert report.fills_applied == 1
            order = ledger.order(journaled.client_order_id)
            assert order is not None and order.filled_micro == 2 * SCALE
            assert ledger.positions() == {(K, kalshi_ticker(0), Side.YES): 2 * SCALE}


@pytest.mark.asyncio
async def test_a_cash_difference_is_listed(tmp_path: Path) -> None:
    fake = FakeTime()
    async with LoopbackVenues(LoopbackConfig(markets=1), fake) as venues:
        with Ledger(tmp_path / "l.db") as ledger:
            assert (await _recover(venues, ledger, fake)).clean
            ledger.set_cash(K, Decimal("99999.99"))  # a withdrawal the ledger was told of, not the venue
            report = await _recover(venues, ledger, fake)
            assert [(d.venue, d.kind, d.ledger, d.venue_value) for d in report.differences] == [
                (K, "cash", "99999.99", "100000")
            ]


@pytest.mark.asyncio
async def test_a_pooled_order_filled_by_the_executor_is_recovered_clean(tmp_path: Path) -> None:
    """The executor sends a Kalshi SELL YES and BUY NO of one ticker as ONE order and records its
    fill in shares per plan leg (`<id>`, `<id>/1`): recovery counts those shares as the venue's
    one fill (before: `fill_refused`, "reported again with other terms")."""
    async with stage(tmp_path) as s:
        assert (await _recover(s.venues, s.ledger, s.time)).clean  # the first start: opening cash
        report = await s.run(
            [
                s.leg(K, 0, Side.YES, Action.SELL, "2", "0.44"),
                s.leg(K, 0, Side.NO, Action.BUY, "3", "0.56"),
            ]
        )
        assert report.status is ExecutionStatus.COMPLETE, report
        assert len(report.orders) == 1  # pooled
        fills = s.ledger.fill_count()
        recovered = await _recover(s.venues, s.ledger, s.time)
        assert recovered.clean, recovered
        assert recovered.fills_applied == 0 and s.ledger.fill_count() == fills


def test_normalise_fill_restates_kalshi_fills_on_the_traded_instrument() -> None:
    leg = JournaledLeg(0, IntentLeg(K, "T", Side.NO, Action.BUY, 560_000, 3 * SCALE, TimeInForce.FOK), "c", 1)
    fill = Fill(K, "f", "o", None, "T", "T", Side.YES, Action.SELL, 440_000, 3 * SCALE, 20_000, None)
    normal = normalise_fill(fill, leg)
    assert (normal.outcome, normal.action, normal.price_micro_usd, normal.client_order_id) == (
        Side.NO,
        Action.BUY,
        560_000,
        "c",
    )
    assert (normal.size_micro, normal.fee_micro_usd) == (3 * SCALE, 20_000)
    pm_leg = JournaledLeg(0, IntentLeg(P, "C", Side.NO, Action.BUY, 560_000, 3 * SCALE, TimeInForce.FOK), "c", 1)
    with pytest.raises(ConfigError, match="is on yes"):  # Polymarket tokens are separate books
        normalise_fill(Fill(P, "f", "o", None, "C", "t", Side.YES, Action.BUY, 440_000, SCALE, 0, None), pm_leg)
    with pytest.raises(ConfigError, match="is in"):
        normalise_fill(Fill(K, "f", "o", None, "U", "U", Side.NO, Action.BUY, 440_000, SCALE, 0, None), leg)


def test_recovery_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="settle_waits"):
        RecoveryConfig(settle_waits=-1)
    with pytest.raises(ConfigError, match="lookback_ms"):
        RecoveryConfig(lookback_ms=True)


@pytest.mark.asyncio
async def test_a_polymarket_taker_fill_on_a_fee_charging_market_leaves_ledger_cash_equal_to_the_venues(
    tmp_path: Path,
) -> None:
    """The executor buys 57 Yes at limit 0.51 against asks 50 @ 0.50 and 50 @ 0.51 on a market
    charging takers 5% x P(1-P): two trades, each fee floored to $0.00001 by the venue. The ledger's
    cash moves exactly as the simulator's balance (before: by the notional only, the fees missing,
    and recovery listed a cash difference)."""
    config = LoopbackConfig(markets=1, polymarket_fee_schedule=FeeScheduleSpec("0.05"))
    async with stage(tmp_path, config=config) as s:
        assert (await _recover(s.venues, s.ledger, s.time)).clean
        (account,) = s.venues.polymarket_sim.accounts.values()
        venue_before, ledger_before = account.cash_micro, s.ledger.cash()[P]
        report = await s.run([s.leg(P, 0, Side.YES, Action.BUY, "57", "0.51")])
        assert report.status is ExecutionStatus.COMPLETE, report
        assert s.ledger.positions() == {(P, polymarket_condition(0), Side.YES): 57 * SCALE}
        # this test's own arithmetic: 50 x 0.05 x 0.25 = 0.625; 7 x 0.05 x 0.51 x 0.49 = 0.087465 -> 0.08746
        fees = Decimal("0.625") + Decimal("0.08746")
        spent = Decimal(50) * Decimal("0.50") + Decimal(7) * Decimal("0.51") + fees
        assert Decimal(account.cash_micro - venue_before) / SCALE == -spent
        assert s.ledger.cash()[P] - ledger_before == -spent
        balance = await s.venues.clients[P].balance()
        assert s.ledger.cash()[P] == Decimal(balance.available_micro_usd) / SCALE
        recovered = await _recover(s.venues, s.ledger, s.time)
        assert recovered.clean, recovered


@pytest.mark.asyncio
async def test_a_cash_difference_names_the_fills_whose_fee_is_unknown(tmp_path: Path) -> None:
    """The client does not know the market's fee schedule: its fill is on file with fee 0, so the
    ledger's cash exceeds the venue's by the fee, and the cash difference says which fill."""
    config = LoopbackConfig(markets=1, polymarket_fee_schedule=FeeScheduleSpec("0.05"))
    async with stage(tmp_path, config=config) as s:
        assert (await _recover(s.venues, s.ledger, s.time)).clean
        s.venues.polymarket.user_session.fee_rules.clear()  # as if loaded from the CLOB alone
        report = await s.run([s.leg(P, 0, Side.YES, Action.BUY, "7", "0.50")])
        assert report.status is ExecutionStatus.COMPLETE, report
        (fill_id,) = s.venues.polymarket.user_session.fills
        recovered = await _recover(s.venues, s.ledger, s.time)
        ((venue, kind, ledger_cash, venue_cash, detail),) = [
            (d.venue, d.kind, Decimal(d.ledger), Decimal(d.venue_value), d.detail) for d in recovered.differences
        ]
        assert (venue, kind) == (P, "cash")
        assert ledger_cash - venue_cash == Decimal("0.0875")  # 7 x 0.05 x 0.25, the fee not on file
        assert detail == f"USD; 1 fill(s) with the fee unknown, counted as 0: {fill_id}"
