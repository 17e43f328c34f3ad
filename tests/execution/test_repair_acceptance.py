"""Acceptance 1: scripted partial fills of 2-, 3- and 5-leg plans against both simulated venues over
loopback, repaired by the executor with the real repair planner.

Each run must end hedged (worst value at least minus the loss cap in every outcome) or flat, with
the realised worst value no lower than the plan's pre-trade bound (`worst_partial_fill_loss`), an
incident in the ledger, and no new entry on the set until the incident is closed. The final
position is read from the venues' own records (the simulators' positions and cash), not from the
executor, and valued by `exposure`; it must equal what the executor reports.

Scripts: liquidity taken away from some legs right before the plan goes out (the venue fills what
is left, IOC/FAK); a Polymarket FAK answered "live" and filled afterwards; a Polymarket fill that
FAILS on chain after it matched.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Coroutine, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arb.domain import Action, Fill, FillStatus, OrderStatus, Side, TimeInForce, Venue
from arb.execution import ExecutionOrderConfig, ExecutionReport, ExecutionStatus, ExecutorConfig
from arb.execution.loopback import KALSHI_KEY_ID, LoopbackConfig, LoopbackVenues, kalshi_ticker
from arb.execution.repair import Exposure, RepairConfig, RepairDecision, RepairPlanner, exposure
from arb.fixed import SCALE
from arb.graph import Component
from arb.risk.partial_fill import FillableLeg, PartialFillRisk, outcome_assignments, worst_partial_fill_loss
from solvers.outcomes import OutcomeSystem
from solvers.plan import Leg, SetPlan
from solvers.problem import ExactlyOne
from tests.execution.stage import Stage, stage

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET
D = Decimal
# the loss a repair may lock in: unwinding ten contracts here costs the spread (2 cents) plus two fees
# per leg, so a 5-leg group partly filled cannot be put right for less than about $1
LOSS_CAP = D("1.50")
PM_KEY = "exec-api-key"
# IOC / FAK everywhere: a leg may fill in part (FOK, the default, would kill the scripted partial fills)
IOC = ExecutorConfig(orders=ExecutionOrderConfig(time_in_force=(TimeInForce.IOC,)))


def group_books(ask_micro: int) -> dict[str, Any]:
    """Ladders for a group where exactly one contract wins: YES asks at `ask_micro` (then a cent
    above) on both venues, bids two cents below; n x ask < $1, so buying every YES pays."""
    return {
        "kalshi_bids": ((ask_micro - 20_000, 50 * SCALE),),
        "kalshi_asks": ((ask_micro, 50 * SCALE), (ask_micro + 10_000, 50 * SCALE)),
        "polymarket_bids": ((ask_micro - 20_000, 50 * SCALE),),
        "polymarket_asks": ((ask_micro, 50 * SCALE), (ask_micro + 10_000, 50 * SCALE)),
    }


THREE_BOOKS, FIVE_BOOKS = group_books(300_000), group_books(180_000)


def _tokens(index: int) -> tuple[str, str]:
    return str(7000 + 2 * index), str(7001 + 2 * index)


def exactly_one(component: Component) -> Component:
    """The loopback component with its Kalshi contracts declared an exactly-one group (with the
    equivalences, so are the Polymarket ones)."""
    group = tuple(c for c in component.contracts if c.startswith("kalshi:"))
    return dataclasses.replace(
        component, id=component.id + "-group", relations=(*component.relations, ExactlyOne(group))
    )


def pre_trade_bound(plan: SetPlan, component: Component) -> PartialFillRisk:
    listings = {listing.instrument_id: listing for listing in component.listings}
    legs = [
        FillableLeg(
            leg,
            listings[leg.instrument_id].taker_fee,
            D(listings[leg.instrument_id].lot_size_micro) / SCALE,
        )
        for leg in plan.legs
    ]
    system = OutcomeSystem(component.contracts, component.relations, with_risky_links=True)
    return worst_partial_fill_loss(legs, outcome_assignments(system, component.contracts, 4096))


def venue_position(venues: LoopbackVenues, component: Component) -> tuple[dict[str, Decimal], Decimal]:
    """Holdings per instrument and the cash moved, from the simulators' own account records."""
    holdings: dict[str, Decimal] = {}
    kalshi_cash = venues.kalshi_sim.account(KALSHI_KEY_ID).cash_micro - venues.config.kalshi_cash_micro_usd
    account = venues.polymarket_sim.accounts[PM_KEY]
    poly_cash = account.cash_micro - venues.config.polymarket_cash_micro_usd
    for index in range(venues.config.markets):
        signed = venues.kalshi_sim.position(KALSHI_KEY_ID, kalshi_ticker(index)).position_micro
        if signed:
            side = Side.YES if signed > 0 else Side.NO
            holdings[venues.instrument(K, index, side)] = D(abs(signed)) / SCALE
        for side, token in zip((Side.YES, Side.NO), _tokens(index)):
            held = account.positions.get(token, 0) - venues.config.polymarket_positions.get(token, 0)
            if held:
                holdings[venues.instrument(P, index, side)] = D(held) / SCALE
    known = {listing.instrument_id for listing in component.listings}
    return {k: v for k, v in holdings.items() if k in known}, D(kalshi_cash + poly_cash) / SCALE


class RecordingPlanner(RepairPlanner):
    """The real planner, keeping every decision it handed the executor."""

    def __init__(self, config: RepairConfig, now_ns: Callable[[], int]) -> None:
        super().__init__(config, now_ns=now_ns, clock=lambda: 0.0)
        self.decisions: list[RepairDecision] = []

    def plan(self, *args: Any, **kwargs: Any) -> RepairDecision:
        decision = super().plan(*args, **kwargs)
        self.decisions.append(decision)
        return decision


def with_planner(s: Stage, loss_cap_usd: Decimal = LOSS_CAP) -> RecordingPlanner:
    planner = RecordingPlanner(RepairConfig(loss_cap_usd=loss_cap_usd), s.time.clock)
    s.executor.repair = planner
    s.in_flight = count_in_flight(s)  # type: ignore[attr-defined]
    return planner


async def until(predicate: Callable[[], bool], what: str, turns: int = 3000) -> None:
    for _ in range(turns):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


def count_in_flight(s: Stage) -> Callable[[], int]:
    """Wrap the clients' calls the executor makes, to know when none is outstanding."""
    outstanding = [0]
    for client in s.venues.clients.values():
        for name in ("place_order", "cancel_order", "reconcile_order", "fills"):
            original = getattr(client, name)

            async def call(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                outstanding[0] += 1
                try:
                    return await _original(*args, **kwargs)
                finally:
                    outstanding[0] -= 1

            setattr(client, name, call)
    return lambda: outstanding[0]


async def driven(
    s: Stage, run: Coroutine[Any, Any, ExecutionReport] | asyncio.Task[ExecutionReport], advance_s: float = 0.5
) -> ExecutionReport:
    """Run the executor; whenever no venue call of it is outstanding and no event came for a few
    turns (it waits on its own deadlines: settling, a FAK answered "live"), move the fake time on."""
    task = run if isinstance(run, asyncio.Task) else asyncio.create_task(run)
    in_flight = s.in_flight  # type: ignore[attr-defined]
    quiet, seen = 0, len(s.events)
    for _ in range(4000):
        done, _ = await asyncio.wait({task}, timeout=0.001)
        if done:
            return task.result()
        quiet = quiet + 1 if len(s.events) == seen and not in_flight() else 0
        seen = len(s.events)
        if quiet >= 5:
            s.time.advance(advance_s)
            quiet = 0
    task.cancel()
    raise AssertionError("the executor never finished")


async def until_driven(s: Stage, predicate: Callable[[], bool], what: str) -> None:
    """Wait for `predicate` while moving the fake time on whenever the executor only waits on it."""
    in_flight = s.in_flight  # type: ignore[attr-defined]
    quiet, seen = 0, len(s.events)
    for _ in range(4000):
        if predicate():
            return
        await asyncio.sleep(0.001)
        quiet = quiet + 1 if len(s.events) == seen and not in_flight() else 0
        seen = len(s.events)
        if quiet >= 5:
            s.time.advance(0.5)
            quiet = 0
    raise AssertionError(f"never happened: {what}")


async def wait_books(s: Stage, check: Callable[[], bool]) -> None:
    await until(check, "the clients' books show the venue's change")


def kalshi_asks(s: Stage, index: int, asks: Sequence[tuple[int, int]]) -> None:
    bids = s.venues.config.kalshi_bids
    s.venues.kalshi_sim.set_book(kalshi_ticker(index), bids, tuple(asks))


def poly_asks(s: Stage, index: int, side: Side, asks: Sequence[tuple[int, int]]) -> None:
    """Set the asks of one Polymarket token (its bids stay)."""
    yes, no = _tokens(index)
    token = yes if side is Side.YES else no
    config = s.venues.config
    bids = config.polymarket_bids if side is Side.YES else tuple((SCALE - p, q) for p, q in config.polymarket_asks)
    s.venues.polymarket_sim.set_book(token, bids, tuple(asks))


def best_ask(s: Stage, venue: Venue, book_id: str) -> tuple[int, int] | None:
    client = s.venues.kalshi if venue is K else s.venues.polymarket
    return client.books[book_id].best_ask()


async def check_run(
    s: Stage,
    report: ExecutionReport,
    plan: SetPlan,
    component: Component,
    *,
    neutral: bool = False,
    needs_repair: bool = True,
) -> Exposure:
    """The acceptance checks common to every scripted run."""
    assert isinstance(s.executor.repair, RepairPlanner)
    loss_cap = s.executor.repair.config.loss_cap_usd
    assert report.status is ExecutionStatus.REPAIRED, "\n".join((report.status.value, report.reason, *report.repairs))
    if needs_repair:  # the imbalance was beyond the loss cap: a repair plan went out
        assert report.repairs[0].startswith("repair:"), report.repairs
    held, cash = venue_position(s.venues, component)
    final = exposure(component, held, cash)
    reported = exposure(component, report.holdings, report.cash_flow_usd)
    assert final.values_usd == reported.values_usd, (held, cash, dict(report.holdings), report.cash_flow_usd)
    assert final.flat or final.hedged(loss_cap), (final.worst_value_usd, held)
    if neutral:  # net exposure 0: worth the same whatever happens (flat, or long every outcome alike)
        assert len(set(final.values_usd)) == 1, (held, final.values_usd)
    bound = pre_trade_bound(plan, component)
    assert final.worst_value_usd >= -bound.loss_usd, (final.worst_value_usd, bound)
    # nothing of ours rests on either venue
    assert not [m for m in s.venues.kalshi_sim.orders_of(KALSHI_KEY_ID) if m.order.is_open]
    assert not s.venues.polymarket_sim.accounts[PM_KEY].resting
    # an incident is on file, and the set takes no new entry until it is closed
    (incident,) = s.ledger.open_incidents(plan.set_id)
    assert incident.set_id == plan.set_id
    again = await s.executor.execute(plan, component, s.venues.books())
    assert again.status is ExecutionStatus.REFUSED and any(r.gate == "incident" for r in again.refusals), again
    s.executor.close_incident(plan.set_id, "reconciled by the test")
    assert not s.ledger.open_incidents(plan.set_id)
    assert s.executor.gate.incidents.check(plan.set_id) is None
    return final


def _leg(s: Stage, venue: Venue, index: int, side: Side, quantity: str, limit: str) -> Leg:
    return s.leg(venue, index, side, Action.BUY, quantity, limit)


# -- two legs ------------------------------------------------------------------------------------------------
async def test_two_legs_the_polymarket_leg_fills_4_of_10_and_the_set_is_repaired(tmp_path: Path) -> None:
    async with stage(tmp_path, config=LoopbackConfig(markets=1), executor_config=IOC) as s:
        with_planner(s)
        component = s.venues.component()
        plan = s.plan([_leg(s, K, 0, Side.YES, "10", "0.46"), _leg(s, P, 0, Side.NO, "10", "0.52")], component.id)
        # someone takes the NO side first: 4 left at 0.52, then 0.55
        poly_asks(s, 0, Side.NO, ((520_000, 4 * SCALE), (550_000, 50 * SCALE)))
        await wait_books(s, lambda: best_ask(s, P, _tokens(0)[1]) == (520_000, 4 * SCALE))
        report = await driven(s, s.executor.execute(plan, component, s.venues.books()))
        assert [o.filled_micro for o in report.orders[:2]] == [10 * SCALE, 4 * SCALE], report
        assert len(report.repairs) >= 2 and report.repairs[-1].startswith(("hedged", "flat"))
        await check_run(s, report, plan, component)


async def test_two_legs_a_fak_answered_live_fills_afterwards_then_the_rest_is_repaired(tmp_path: Path) -> None:
    async with stage(tmp_path, config=LoopbackConfig(markets=1), executor_config=IOC) as s:
        with_planner(s)
        component = s.venues.component()
        plan = s.plan([_leg(s, K, 0, Side.YES, "10", "0.46"), _leg(s, P, 0, Side.NO, "10", "0.52")], component.id)
        faults = s.venues.polymarket_faults
        faults.ack_then_fill = True
        task = asyncio.create_task(s.executor.execute(plan, component, s.venues.books()))
        poly = lambda: [t for t in s.executor.orders.values() if t.venue is P]  # noqa: E731
        # "live": the client cannot tell how much a FAK will fill, so the order is UNKNOWN for now
        await until(
            lambda: (
                bool(poly()) and poly()[0].status is OrderStatus.UNKNOWN and len(s.venues.polymarket_sim.delayed) == 1
            ),
            "Polymarket answers 'live'",
        )
        # the book changes while the order waits: 6 left when it finally matches
        poly_asks(s, 0, Side.NO, ((520_000, 6 * SCALE), (540_000, 50 * SCALE)))
        faults.ack_then_fill = False
        assert s.venues.polymarket_sim.release_delayed() == 1
        report = await driven(s, task)
        entry = report.orders[:2]
        assert [o.filled_micro for o in entry] == [10 * SCALE, 6 * SCALE]
        assert any(isinstance(e, Fill) and e.venue is P for e in s.events)
        await check_run(s, report, plan, component)


async def test_two_legs_a_polymarket_fill_that_fails_on_chain_is_reversed_and_repaired(tmp_path: Path) -> None:
    config = LoopbackConfig(markets=1, polymarket_auto_settle=False)  # trades stay MATCHED until told
    async with stage(tmp_path, config=config, executor_config=IOC) as s:
        with_planner(s)
        sim = s.venues.polymarket_sim
        component = s.venues.component()
        plan = s.plan([_leg(s, K, 0, Side.YES, "10", "0.46"), _leg(s, P, 0, Side.NO, "10", "0.52")], component.id)
        failed: list[str] = []
        inner = s.venues.sink

        def tee(event: Any) -> None:
            inner(event)
            if isinstance(event, Fill) and event.venue is P and event.status is FillStatus.MATCHED and not failed:
                trade_id = event.fill_id.split(":", 1)[0]
                failed.append(trade_id)
                asyncio.get_running_loop().call_soon(sim.fail_trade, trade_id)  # as soon as it matched

        s.venues.sink = tee
        report = await final_report(s, await driven(s, s.executor.execute(plan, component, s.venues.books())))
        assert failed, "the Polymarket leg matched"
        assert any(isinstance(e, Fill) and e.status is FillStatus.FAILED for e in s.events)
        assert s.ledger.reversal_count() == 1
        await check_run(s, report, plan, component)


async def final_report(s: Stage, report: ExecutionReport) -> ExecutionReport:
    """The run's last word: a failure that arrives after the plan settled is repaired in the
    background (`late_reports`); one that arrives before is repaired in the run itself."""
    if report.status is ExecutionStatus.COMPLETE:
        await until(lambda: bool(s.executor.late_reports), "the late repair ran")
    await s.executor.idle()
    return s.executor.late_reports[-1] if s.executor.late_reports else report


# -- three legs: one fills, the rest is cancelled, then complete or exit -----------------------------------------
async def test_three_legs_one_fills_the_rest_is_cancelled_and_the_set_ends_with_no_net_exposure(tmp_path: Path) -> None:
    async with stage(tmp_path, config=LoopbackConfig(markets=3, **THREE_BOOKS), executor_config=IOC) as s:
        with_planner(s)
        component = exactly_one(s.venues.component())
        plan = s.plan(
            [
                _leg(s, K, 0, Side.YES, "10", "0.30"),
                _leg(s, K, 1, Side.YES, "10", "0.30"),
                _leg(s, P, 2, Side.YES, "10", "0.30"),
            ],
            component.id,
        )
        kalshi_asks(s, 1, ((400_000, 50 * SCALE),))  # K1's asks moved away: its IOC fills nothing
        await wait_books(s, lambda: best_ask(s, K, kalshi_ticker(1)) == (400_000, 50 * SCALE))
        sim = s.venues.polymarket_sim
        s.venues.polymarket_faults.ack_then_fill = True  # P2's FAK is answered "live" and waits to be matched
        task = asyncio.create_task(s.executor.execute(plan, component, s.venues.books()))
        poly = lambda: next((t for t in s.executor.orders.values() if t.venue is P), None)  # noqa: E731

        def cancel_refused() -> bool:
            order = poly()
            return order is not None and "being matched" in order.reason

        # the executor waits for the FAK, then tries to cancel it: the venue is still matching it
        await until_driven(s, cancel_refused, "the executor's cancel of the live FAK is refused")
        s.venues.polymarket_faults.ack_then_fill = False
        poly_asks(s, 2, Side.YES, ((400_000, 50 * SCALE),))  # meanwhile P2's asks moved away too
        assert sim.release_delayed() == 1  # the FAK is matched now: nothing at its price, killed
        report = await driven(s, task)
        entry = {o.market_id: o for o in report.orders[:3]}
        assert entry[kalshi_ticker(0)].filled_micro == 10 * SCALE
        assert entry[kalshi_ticker(1)].filled_micro == 0
        poly_order = next(o for o in report.orders[:3] if o.venue is P)
        assert poly_order.filled_micro == 0 and poly_order.status is OrderStatus.CANCELED, report
        # completing needs two legs that can fill one without the other: refused; K0 is exited or
        # hedged with its complement instead
        assert any("refused, a partial fill" in r for r in report.repairs), report.repairs
        await check_run(s, report, plan, component, neutral=True)


# -- five legs: two fill, one partly ----------------------------------------------------------------------------
async def test_five_legs_partial_fills_end_hedged_or_flat(tmp_path: Path) -> None:
    async with stage(tmp_path, config=LoopbackConfig(markets=5, **FIVE_BOOKS), executor_config=IOC) as s:
        with_planner(s)
        component = exactly_one(s.venues.component())
        plan = s.plan(
            [
                _leg(s, K, 0, Side.YES, "10", "0.18"),
                _leg(s, P, 1, Side.YES, "10", "0.18"),
                _leg(s, K, 2, Side.YES, "10", "0.18"),
                _leg(s, P, 3, Side.YES, "10", "0.18"),
                _leg(s, K, 4, Side.YES, "10", "0.18"),
            ],
            component.id,
        )
        kalshi_asks(s, 2, ((180_000, 3 * SCALE), (450_000, 50 * SCALE)))  # K2: 3 of 10
        poly_asks(s, 3, Side.YES, ((450_000, 50 * SCALE),))  # P3: nothing at 0.18
        kalshi_asks(s, 4, ((450_000, 50 * SCALE),))  # K4: nothing at 0.18
        await wait_books(
            s,
            lambda: (
                best_ask(s, K, kalshi_ticker(2)) == (180_000, 3 * SCALE)
                and best_ask(s, P, _tokens(3)[0]) == (450_000, 50 * SCALE)
                and best_ask(s, K, kalshi_ticker(4)) == (450_000, 50 * SCALE)
            ),
        )
        report = await driven(s, s.executor.execute(plan, component, s.venues.books()))
        filled = [o.filled_micro // SCALE for o in report.orders[:5]]
        assert sorted(filled) == [0, 0, 3, 10, 10], filled
        await check_run(s, report, plan, component)


async def test_five_legs_all_fill_then_a_polymarket_fill_fails_on_chain_and_the_set_is_repaired(tmp_path: Path) -> None:
    config = LoopbackConfig(markets=5, polymarket_auto_settle=False, **FIVE_BOOKS)
    async with stage(tmp_path, config=config, executor_config=IOC) as s:
        with_planner(s)
        component = exactly_one(s.venues.component())
        legs = [_leg(s, P if i % 2 else K, i, Side.YES, "10", "0.18") for i in range(5)]
        plan = s.plan(legs, component.id)
        report = await driven(s, s.executor.execute(plan, component, s.venues.books()))
        assert report.status is ExecutionStatus.COMPLETE, report
        assert exposure(component, report.holdings, report.cash_flow_usd).worst_value_usd > 0  # bought below $1
        sim = s.venues.polymarket_sim
        ours = [t for t in sim.trades.values() if t.fill.taker_owner == PM_KEY]
        assert len(ours) == 2
        sim.fail_trade(ours[0].trade_id)  # one of the two Polymarket legs fails on chain after all
        report = await final_report(s, report)
        assert "failed on chain" in report.reason, report
        await check_run(s, report, plan, component)


# -- seeded: random venues and random liquidity left per leg ------------------------------------------------------
@pytest.mark.parametrize("seed", range(9))
async def test_seeded_partial_fills_end_hedged_or_flat(tmp_path: Path, seed: int) -> None:
    rng = random.Random(f"repair-acceptance:{seed}")
    legs_n = (2, 3, 5)[seed % 3]
    ask = 180_000 if legs_n == 5 else 300_000
    async with stage(tmp_path, config=LoopbackConfig(markets=legs_n, **group_books(ask)), executor_config=IOC) as s:
        planner = with_planner(s, LOSS_CAP if legs_n == 5 else D("0.50"))
        component = exactly_one(s.venues.component())
        venues = [rng.choice((K, P)) for _ in range(legs_n)]
        left = [rng.choice((0, rng.randint(1, 9), 10)) for _ in range(legs_n)]
        if len(set(left)) == 1:  # an imbalance for sure: one leg full, another short
            left[0], left[1] = 10, rng.randint(0, 9)
        price = str(Decimal(ask) / SCALE)
        plan = s.plan([_leg(s, v, i, Side.YES, "10", price) for i, v in enumerate(venues)], component.id)
        expected: list[tuple[Venue, str, tuple[int, int]]] = []
        for i, (venue, size) in enumerate(zip(venues, left, strict=True)):
            ladder = ((ask, size * SCALE), (ask + 10_000, 50 * SCALE)) if size else ((ask + 10_000, 50 * SCALE),)
            if venue is K:
                kalshi_asks(s, i, ladder)
                expected.append((K, kalshi_ticker(i), ladder[0]))
            else:
                poly_asks(s, i, Side.YES, ladder)
                expected.append((P, _tokens(i)[0], ladder[0]))
        await wait_books(s, lambda: all(best_ask(s, v, book) == top for v, book, top in expected))
        report = await driven(s, s.executor.execute(plan, component, s.venues.books()))
        assert [o.filled_micro // SCALE for o in report.orders[:legs_n]] == left, (venues, left)
        # the first decision was taken on the entry's fills alone
        entry = planner.decisions[0].before
        assert dict(entry.holdings) == {leg.instrument_id: D(n) for leg, n in zip(plan.legs, left, strict=True) if n}, (
            entry.holdings
        )
        await check_run(s, report, plan, component, needs_repair=not entry.hedged(planner.config.loss_cap_usd))


async def test_fak_answers_that_leave_fills_unknown_do_not_make_polymarket_unreachable(tmp_path: Path) -> None:
    """Polymarket answers a FAK "matched" without saying how much (UNKNOWN until the trades come):
    the venue answered, so three such legs are not three calls without an answer (a partition
    that would block the repair)."""
    async with stage(tmp_path, config=LoopbackConfig(markets=3, **THREE_BOOKS), executor_config=IOC) as s:
        with_planner(s, D("0.50"))
        component = exactly_one(s.venues.component())
        plan = s.plan([_leg(s, P, i, Side.YES, "10", "0.30") for i in range(3)], component.id)
        for index, left in enumerate((10, 6, 3)):
            ladder = ((300_000, left * SCALE), (310_000, 50 * SCALE)) if left else ((310_000, 50 * SCALE),)
            poly_asks(s, index, Side.YES, ladder)
        await wait_books(s, lambda: best_ask(s, P, _tokens(2)[0]) == (300_000, 3 * SCALE))
        report = await driven(s, s.executor.execute(plan, component, s.venues.books()))
        assert s.executor.gate.breakers.check(["polymarket"]) == []
        assert [o.filled_micro // SCALE for o in report.orders[:3]] == [10, 6, 3]
        await check_run(s, report, plan, component)
