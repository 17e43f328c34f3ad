"""The default scenario over loopback: both simulators started by `SimulatedVenues`, read and
subscribed by the project's real clients. The market graph built from the metadata the clients fetch
holds every kind of component; at rest the scanner clears everything (the quotes are coherent);
each scripted opening is forwarded by the real `Scanner` on the clients' live books and sized by the
real `Allocator` into a plan whose guaranteed profit, re-derived leg by leg in exact arithmetic by
tests.support.replay_plan, is positive; a contested opening fills the daemon's orders partly.

Time: the participants are stepped by the test on its own clock (`runtime.step(now_s)`); the only
waits are for the clients' books to match the simulators' (loopback frames in flight)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

import pytest
import pytest_asyncio

from arb.book import BinaryBook
from arb.domain import Action, OrderRequest, OrderStatus, Side, TimeInForce, Venue
from arb.errors import ConfigError
from arb.fixed import SCALE
from arb.graph import Component, MarketGraph, contract_id
from arb.ops.view import OpportunityKind
from arb.scanner import Scanner
from arb.scenario.build_links import render_links
from arb.scenario.markets import ScenarioMarket, data_text, scenario_catalogue
from arb.scenario.metadata import ScenarioMetadata, client_books, fetch_metadata, open_clients
from arb.scenario.participants import quote_ladder
from arb.scenario.venues import ScenarioConfig, ScenarioRuntime, SimulatedVenues
from arb.venues.kalshi.client import KalshiClient
from arb.venues.polymarket.client import PolymarketClient
from solvers import AllocationProblem, Allocator, Capital, Conjunction, Equivalent, ExactlyOne, Implies
from solvers.problem import AtMostOne, Instrument
from tests.support import replay_plan, semantic_outcomes

pytestmark = pytest.mark.asyncio

K, P = Venue.KALSHI, Venue.POLYMARKET


def kind_of(component: Component) -> OpportunityKind | None:
    """The opportunity kind a component's relations make (this test's own reading, written from
    the kinds' meaning): None for a component without relations."""
    types = {type(r) for r in component.relations}
    if not types:
        return None
    if types == {Equivalent}:
        inverted = {r.inverted for r in component.relations if isinstance(r, Equivalent)}
        if inverted == {False}:
            return OpportunityKind.PAIR
        if inverted == {True}:
            return OpportunityKind.INVERTED
    if types == {ExactlyOne}:
        return OpportunityKind.EXACTLY_ONE
    if types <= {Implies, AtMostOne} and Implies in types:
        return OpportunityKind.LADDER
    if types == {Conjunction}:
        return OpportunityKind.PARLAY
    return OpportunityKind.OTHER


@dataclass
class Stage:
    venues: SimulatedVenues
    runtime: ScenarioRuntime
    metadata: ScenarioMetadata
    graph: MarketGraph
    kalshi: KalshiClient
    polymarket: PolymarketClient
    books: Callable[[Venue, str], BinaryBook | None]
    now_s: float


async def _in_sync(stage: Stage, timeout_s: float = 10.0) -> None:
    """Wait until every client book equals its simulator book (frames in flight on loopback)."""
    runtime = stage.runtime

    def synced() -> bool:
        for ticker in runtime.kalshi.markets:
            book = stage.kalshi.books.get(ticker)
            bids, no_bids = runtime.kalshi.book(ticker)
            asks = [(SCALE - p, s) for p, s in no_bids]  # the simulator keeps YES and NO bids
            if book is None or not book.trusted or (book.bids(), book.asks()) != (_desc(bids), _asc(asks)):
                return False
        for token, engine in runtime.polymarket.engines.items():
            book = stage.polymarket.books.get(token)
            poly_bids, poly_asks = engine.snapshot()
            bids, asks = list(poly_bids), list(poly_asks)
            if book is None or not book.trusted or (book.bids(), book.asks()) != (_desc(bids), _asc(asks)):
                return False
        return True

    deadline = time.monotonic() + timeout_s
    while not synced():
        assert time.monotonic() < deadline, "the clients' books never matched the simulators'"
        await asyncio.sleep(0.005)  # loopback frames in flight


def _desc(levels: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted(levels, reverse=True))


def _asc(levels: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted(levels))


@pytest_asyncio.fixture
async def stage(request: pytest.FixtureRequest) -> AsyncIterator[Stage]:
    config: ScenarioConfig = getattr(request, "param", ScenarioConfig(book_changes_per_s=0))
    clock = [1000.0]
    async with SimulatedVenues(config, run_participants=False, clock=lambda: clock[0]) as venues:
        assert venues.runtime is not None
        metadata = await fetch_metadata(venues)
        kalshi, polymarket = open_clients(venues)
        await kalshi.start()
        await polymarket.start()
        try:
            await kalshi.subscribe(list(metadata.kalshi_markets))
            await polymarket.subscribe(list(metadata.polymarket_markets))
            s = Stage(
                venues,
                venues.runtime,
                metadata,
                metadata.graph(venues),
                kalshi,
                polymarket,
                client_books(kalshi, polymarket, metadata.polymarket_markets),
                clock[0],
            )
            await _in_sync(s)
            yield s
        finally:
            await kalshi.close()
            await polymarket.close()


async def test_the_graph_of_the_sims_metadata_holds_every_kind_and_the_shipped_links_are_current(stage: Stage) -> None:
    graph = stage.graph
    assert graph.excluded == ()  # every link current, every group exactly-one where the scenario says so
    kinds = Counter(kind_of(c) for c in graph.components)
    assert kinds == {
        OpportunityKind.PAIR: 2,
        OpportunityKind.INVERTED: 2,
        OpportunityKind.EXACTLY_ONE: 10,  # the five unlinked FOMC meetings on each venue
        OpportunityKind.LADDER: 2,
        OpportunityKind.PARLAY: 2,
        OpportunityKind.OTHER: 1,  # the linked December meeting: both venues' groups and three links
        None: 1,  # "Will Jesus Christ return before GTA VI?": listed, linked to nothing
    }, kinds
    # every listed market is a node with listings (fees known, books tradable)
    assert sum(len(c.listings) for c in graph.components) == 2 * (
        len(stage.metadata.kalshi_markets) + len(stage.metadata.polymarket_markets)
    )
    # the shipped links file is what approving the catalogue's pairs against these simulators writes
    assert render_links(stage.metadata, scenario_catalogue().link_pairs) == data_text("links.toml")


async def test_each_opening_is_forwarded_by_the_scanner_and_sized_riskless_by_the_allocator(stage: Stage) -> None:
    scanner = Scanner(stage.graph.components, stage.books, now_ns=time.monotonic_ns)
    assert scanner.drain() == []  # at rest the fair quotes are coherent: nothing to forward
    script = stage.runtime.script
    now = stage.now_s
    seen: set[OpportunityKind] = set()
    for opening in script.openings:
        now += script.period_s
        record = script.open_next(now)
        assert record.opening is opening
        await _in_sync(stage)
        for move in opening.moves:
            scanner.on_book_change(move.venue, move.market_id)
        forwarded = scanner.drain()
        anchor = stage.graph.component_of(*opening.anchor)
        assert anchor is not None
        assert [c.component_id for c in forwarded] == [anchor], opening.name
        component = stage.graph.component(anchor)
        assert kind_of(component) is opening.kind, opening.name
        seen.add(opening.kind)

        candidate = forwarded[0].candidate_set
        problem = AllocationProblem((candidate,), Capital({"kalshi": Decimal(1000), "polymarket": Decimal(1000)}))
        result = Allocator(problem).solve()
        assert len(result.plans) == 1, opening.name
        plan = result.plans[0]
        assert plan.guaranteed_profit_usd > Decimal("0.5"), (opening.name, plan.guaranteed_profit_usd)
        # Brute force over every joint outcome the relations allow (enumerated from their meaning): the
        # payoff minus the cost, fees included, never falls below the guaranteed profit and reaches it.
        cost = -sum((leg.cash_flow_usd for leg in plan.legs), Decimal(0))
        values = [
            sum(
                (leg.quantity for leg in plan.legs if outcome[leg.contract] == (1 if leg.side is Side.YES else 0)),
                Decimal(0),
            )
            - cost
            for outcome in semantic_outcomes(candidate)
        ]
        assert min(values) == plan.guaranteed_profit_usd, opening.name
        if all(_replayable(i) for i in candidate.instruments):
            assert replay_plan(problem, plan) == plan.guaranteed_profit_usd  # fees re-derived leg by leg
        moved = {contract_id(m.venue, m.market_id) for m in opening.moves}
        assert moved & {leg.contract for leg in plan.legs}, "the plan trades the moved market"

        script.close(now + script.hold_s)
        await _in_sync(stage)
        for move in opening.moves:
            scanner.on_book_change(move.venue, move.market_id)
        assert scanner.drain() == []  # closed again
        assert scanner.take_withdrawn() == (anchor,)
    assert seen == set(OpportunityKind) - {OpportunityKind.OTHER}


def _replayable(instrument: Instrument) -> bool:
    """tests.support.replay_plan re-derives fees for instruments whose lot x tick lies on the fee's
    fill grid; the captured parlay trades 0.01 contracts on a 0.001 grid (the brute force covers it)."""
    grid = instrument.fee.fill_increment_usd
    return grid is None or (instrument.lot_size * instrument.tick_size) % grid == 0


def _order(client_id: str, market_id: str, side: Side, price_micro: int, contracts: int) -> OrderRequest:
    return OrderRequest(client_id, market_id, side, Action.BUY, price_micro, contracts * SCALE, TimeInForce.IOC)


@pytest.mark.parametrize("stage", [ScenarioConfig(book_changes_per_s=0, contest_every=2)], indirect=True)
async def test_a_contested_opening_fills_orders_on_its_moved_book_only_partly(stage: Stage) -> None:
    script = stage.runtime.script
    pair = script.open_next(stage.now_s + 1)  # opening 0: not contested
    assert not pair.contested
    move = pair.opening.moves[0]
    assert move.venue is K
    await _in_sync(stage)
    ask = stage.books(K, move.market_id)
    assert ask is not None
    best = ask.best_ask(Side.YES)
    assert best is not None
    await stage.kalshi.place_order(_order("scen-full", move.market_id, Side.YES, best[0], 10))
    kalshi_position = stage.runtime.kalshi.position(stage.venues.kalshi_key_id, move.market_id)
    assert kalshi_position.position_micro == 10 * SCALE  # the venue's own ledger: all 10 bought

    inverted = script.open_next(stage.now_s + 2)  # opening 1: contested (every second one)
    assert inverted.contested
    poly_move = inverted.opening.moves[0]
    assert poly_move.venue is P
    await _in_sync(stage)
    book = stage.books(P, poly_move.market_id)
    assert book is not None
    best = book.best_ask(Side.YES)
    assert best is not None and best[1] >= 10 * SCALE
    token = _token(stage, poly_move.market_id, Side.YES)
    partial = await stage.polymarket.place_order(_order("scen-partial", poly_move.market_id, Side.YES, best[0], 10))
    assert partial.status is not OrderStatus.FILLED, partial
    assert _shares(stage, token) == 5 * SCALE  # half, the scripted ratio; the rest cancelled (FAK)
    assert stage.runtime.polymarket.faults.counts["partial_fill"] == 1

    script.close(stage.now_s + 3)  # the contest ends with the opening
    await _in_sync(stage)
    book = stage.books(P, poly_move.market_id)
    assert book is not None
    best = book.best_ask(Side.YES)
    assert best is not None
    await stage.polymarket.place_order(_order("scen-after", poly_move.market_id, Side.YES, best[0], 10))
    assert _shares(stage, token) == 15 * SCALE  # uncontested again: all 10 more
    assert stage.runtime.polymarket.faults.counts["partial_fill"] == 1


def _shares(stage: Stage, token: str) -> int:
    account = stage.runtime.polymarket.accounts[stage.venues.polymarket_credentials.api_key]
    return account.positions.get(token, 0)


def _token(stage: Stage, condition_id: str, side: Side) -> str:
    market = next(m for m in stage.metadata.polymarket_markets if m.market_id == condition_id)
    assert market.token_ids is not None
    return market.token_ids[0 if side is Side.YES else 1]


@pytest.mark.parametrize("stage", [ScenarioConfig(book_changes_per_s=400, seed=3)], indirect=True)
async def test_market_makers_move_books_at_the_configured_rate_and_never_open_an_arbitrage(stage: Stage) -> None:
    runtime = stage.runtime
    scanner = Scanner(stage.graph.components, stage.books, now_ns=time.monotonic_ns)
    assert scanner.drain() == []
    start = runtime.makers.start_s
    for step in range(1, 11):  # 2.5 s of the scenario's clock in 0.25 s steps, before the first opening
        runtime.makers.step(start + 0.25 * step)
    assert 1000 <= runtime.makers.book_changes <= 1001  # 400/s x 2.5 s (a Polymarket pair may end one over)
    assert runtime.makers.skipped == 0
    await _in_sync(stage)
    scanner.mark_all_dirty()
    assert scanner.drain() == []  # thinner or wider books than the fair quotes: still coherent
    changed = sum(
        1
        for market in runtime.catalogue.markets.values()
        for book_id in market.book_ids
        if _ladder(runtime, market.venue, book_id) != _fair_ladder(runtime, market, book_id)
    )
    assert changed > 40  # most books moved away from the fair quotes


def _ladder(runtime: ScenarioRuntime, venue: Venue, book_id: str) -> tuple[list[tuple[int, int]], ...]:
    if venue is K:
        bids, no_bids = runtime.kalshi.book(book_id)
        return sorted(bids), sorted((SCALE - p, s) for p, s in no_bids)
    poly_bids, poly_asks = runtime.polymarket.engines[book_id].snapshot()
    return sorted(poly_bids), sorted(poly_asks)


def _fair_ladder(runtime: ScenarioRuntime, market: ScenarioMarket, book_id: str) -> tuple[list[tuple[int, int]], ...]:
    bids, asks = quote_ladder(market, market.fair_micro, runtime.makers.size_micro)
    if market.venue is P and book_id == market.book_ids[1]:  # the NO token mirrors the YES ladder
        bids, asks = tuple((SCALE - p, s) for p, s in asks), tuple((SCALE - p, s) for p, s in bids)
    return sorted(bids), sorted(asks)


async def test_in_a_process_of_their_own_the_venues_serve_the_scenario_and_report_their_figures() -> None:
    config = ScenarioConfig(venues_process=True, book_changes_per_s=200, first_opening_s=0.0)
    async with SimulatedVenues(config) as venues:
        assert venues.runtime is None  # nothing of the simulators lives here
        key = venues.kalshi_private_key_path
        assert key.stat().st_mode & 0o777 == 0o600
        metadata = await fetch_metadata(venues)  # signed requests with the throwaway key: accepted
        assert (len(metadata.kalshi_markets), len(metadata.polymarket_markets)) == (49, 29)
        graph = metadata.graph(venues)
        assert graph.excluded == ()
        assert {kind_of(c) for c in graph.components} >= set(OpportunityKind)
    assert not key.exists()  # the throwaway key is gone with the venues
    stats = venues.stats()
    assert stats is not None  # sent back by the simulator process when it stopped
    assert stats.openings[0] == ("pair", "pair: Rihanna album before GTA VI", False)  # opened on the first step
    assert stats.book_changes >= 1 and stats.skipped_changes == 0


async def test_in_process_the_participants_task_runs_until_close_and_close_is_safe_twice() -> None:
    venues = SimulatedVenues(ScenarioConfig(book_changes_per_s=0, first_opening_s=0.0))
    await venues.start()
    runtime = venues.runtime
    assert runtime is not None
    deadline = time.monotonic() + 10.0
    while runtime.script.current is None:  # the background task's first step opens the first opening
        assert time.monotonic() < deadline, "the participants' task never stepped"
        await asyncio.sleep(0.002)
    await venues.close()
    await venues.close()
    stats = venues.stats()
    assert stats is not None and stats.openings[0][0] == "pair"
    with pytest.raises(ConfigError, match="not started"):
        SimulatedVenues().endpoints  # noqa: B018 - the property raises before start
