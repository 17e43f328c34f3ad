"""The executor on paper venues: a 2-leg plan through two `PaperVenue`s wrapping the real clients on the
loopback stage fills against the live books locally. The plan completes, the ledger's positions
and cash equal the paper accounts' (a recovery against the paper venues finds nothing to report),
and the simulators, whose books the paper venues read, never get an order."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arb.domain import Action, Side, Venue
from arb.execution import ExecutionStatus, Executor
from arb.execution.loopback import KALSHI_KEY_ID, kalshi_ticker, polymarket_condition
from arb.execution.paper import PaperConfig, PaperVenue
from arb.execution.recovery import RecoveryConfig, recover
from arb.fixed import SCALE
from arb.venues.base import VenueClient
from tests.execution.stage import gate, stage

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET
START_USD = Decimal(1000)


async def test_a_two_leg_plan_on_paper_venues_completes_and_the_ledger_matches_the_paper_accounts(
    tmp_path: Path,
) -> None:
    async with stage(tmp_path) as s:
        ids = itertools.count(1)
        events: list[Any] = []

        def sink(event: Any) -> None:  # the paper venues' events (their feeds' and their own)
            events.append(event)
            executor.on_event(event)

        paper: dict[Venue, PaperVenue] = {
            venue: PaperVenue(
                client,
                PaperConfig(START_USD),
                wall_clock_ms=s.time.wall_ms,
                ids=lambda: f"paper-{next(ids)}",
                sink=sink,
            )
            for venue, client in ((K, s.venues.kalshi), (P, s.venues.polymarket))
        }
        for venue, venue_paper in paper.items():
            venue_paper.remember_markets(s.venues.markets[venue])
        clients: dict[Venue, VenueClient] = dict(paper)
        executor = Executor(
            s.ledger,
            clients,
            gate(tmp_path, lambda: s.time.clock() / 1e9, lambda: s.time.wall_ms() / 1e3),
            capital=s.executor.capital,
            clock=s.time.clock,
            wall_ms=s.time.wall_ms,
            sleep=s.time.sleep,
            deadline=s.time.deadline,
            intent_ids=lambda: f"paper-intent-{next(ids)}",
        )
        recovery = RecoveryConfig(settle_waits=0)
        opening = await recover(s.ledger, clients, wall_ms=s.time.wall_ms, clock=s.time.clock, config=recovery)
        assert opening.clean and dict(opening.opening_cash) == {K: START_USD, P: START_USD}, opening
        executor.allow_trading(opening)

        plan = s.plan([s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")])
        report = await executor.execute(plan, s.venues.component(), s.venues.books())
        assert report.status is ExecutionStatus.COMPLETE, report
        assert [o.filled_micro for o in report.orders] == [5 * SCALE, 5 * SCALE]

        # the ledger's positions are the paper accounts' (Kalshi: one signed count per ticker)
        ledger = s.ledger.positions()
        assert ledger == {(K, kalshi_ticker(0), Side.YES): 5 * SCALE, (P, polymarket_condition(0), Side.NO): 5 * SCALE}
        kalshi_held = {p.market_id: p.position_micro for p in await paper[K].positions()}
        assert kalshi_held == {kalshi_ticker(0): 5 * SCALE}
        polymarket_held = {p.book_id: p.position_micro for p in await paper[P].positions()}
        assert polymarket_held == {s.venues.token(0, Side.NO): 5 * SCALE}
        for venue in (K, P):  # cash: what the fills cost, fees included, to the micro-dollar
            balance = await paper[venue].balance()
            assert Decimal(balance.available_micro_usd) / SCALE == s.ledger.cash()[venue], venue
        assert s.ledger.cash()[K] < START_USD - Decimal("2.30") and s.ledger.cash()[P] <= START_USD - Decimal("2.60")
        again = await recover(s.ledger, clients, wall_ms=s.time.wall_ms, clock=s.time.clock, config=recovery)
        assert again.clean, again.differences

        # the simulators only fed the books: no order, no trade of ours there
        assert s.venues.kalshi_sim.orders_of(KALSHI_KEY_ID) == []
        assert all(not account.orders for account in s.venues.polymarket_sim.accounts.values())
        assert not s.venues.polymarket_sim.trades
        assert any(getattr(e, "order_id", "").startswith("paper-") for e in events)
