"""Each kind of timed event applied to simulators built from a scenario's venues, checked on the
simulators' own state (books, fault injector, settlement) and on the daemon control's calls."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from arb.domain import BookSide, Venue
from arb.replay.events import AppliedEvent, apply_event, play_events
from arb.replay.scenario import (
    BookEvent,
    ClearPartialFillsEvent,
    CrashEvent,
    DisconnectEvent,
    FreezeEvent,
    HealEvent,
    HttpErrorsEvent,
    KillEvent,
    LatencyEvent,
    LedgerFaultEvent,
    LedgerHealEvent,
    LevelEvent,
    LoseAnswersEvent,
    PartialFillsEvent,
    PartitionEvent,
    ReleaseEvent,
    ScenarioEvent,
    SettleEvent,
    ThawEvent,
    TradeEvent,
    parse_scenario,
)
from arb.venues.sim.faults import AnswerFault
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.polymarket import PolymarketSimulator
from tests.replay.scenario_text import BASE

SCENARIO = parse_scenario(BASE, "s.toml")
K, P = Venue.KALSHI, Venue.POLYMARKET


@dataclass
class Venues:
    kalshi: KalshiSimulator | None
    polymarket: PolymarketSimulator | None


@dataclass
class Control:
    kill_switch_file: Path
    crashes: int = 0
    ledger: list[bool] = field(default_factory=list)

    async def crash(self) -> None:
        self.crashes += 1

    def fail_ledger_writes(self, failing: bool) -> None:
        self.ledger.append(failing)


@pytest.fixture
def venues() -> Venues:
    spec = SCENARIO.venues
    assert spec.kalshi is not None and spec.polymarket is not None
    return Venues(
        KalshiSimulator.from_spec(spec.kalshi, seed=spec.seed),
        PolymarketSimulator.from_spec(spec.polymarket, seed=spec.seed),
    )


@pytest.fixture
def control(tmp_path: Path) -> Control:
    return Control(tmp_path / "run" / "arb.kill")


def apply(event: ScenarioEvent, venues: Venues, control: Control) -> AppliedEvent:
    return asyncio.run(apply_event(event, venues, control))


def poly_levels(venues: Venues, token: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    assert venues.polymarket is not None
    engine = venues.polymarket.engines[token]
    return engine.levels(BookSide.BID), engine.levels(BookSide.ASK)


def test_book_replaces_the_house_ladder(venues: Venues, control: Control) -> None:
    assert venues.kalshi is not None
    done = apply(BookEvent(0, K, "KXA-1-Y", ((300_000, 10_000_000),), ((350_000, 7_000_000),)), venues, control)
    assert done.applied and done.to_json()["market"] == "KXA-1-Y"
    # Kalshi's view: YES bids and NO bids (a YES ask at 0.35 is a NO bid at 0.65)
    assert venues.kalshi.book("KXA-1-Y") == ([(300_000, 10_000_000)], [(650_000, 7_000_000)])
    apply(BookEvent(0, P, "7002", ((200_000, 1_000_000),), ()), venues, control)
    assert poly_levels(venues, "7002") == ([(200_000, 1_000_000)], [])


def test_level_sets_and_empties_one_price(venues: Venues, control: Control) -> None:
    apply(LevelEvent(0, P, "7001", "bid", 480_000, 3_000_000), venues, control)
    assert poly_levels(venues, "7001")[0] == [(490_000, 50_000_000), (480_000, 3_000_000)]
    apply(LevelEvent(0, P, "7001", "bid", 490_000, 0), venues, control)
    assert poly_levels(venues, "7001")[0] == [(480_000, 3_000_000)]
    assert venues.kalshi is not None
    apply(LevelEvent(0, K, "KXA-1-Y", "ask", 440_000, 2_000_000), venues, control)
    assert venues.kalshi.book("KXA-1-Y")[1][0] == (560_000, 2_000_000)


def test_trade_takes_the_house_liquidity(venues: Venues, control: Control) -> None:
    assert apply(TradeEvent(0, P, "7001", "buy", 510_000, 20_000_000), venues, control).applied
    assert poly_levels(venues, "7001")[1] == [(510_000, 30_000_000)]
    assert venues.kalshi is not None
    assert apply(TradeEvent(0, K, "KXA-1-Y", "sell", 400_000, 30_000_000), venues, control).applied
    assert venues.kalshi.book("KXA-1-Y")[0] == [(400_000, 70_000_000)]
    # a buy below the best ask takes nothing (immediate or cancel)
    apply(TradeEvent(0, K, "KXA-1-Y", "buy", 440_000, 5_000_000), venues, control)
    assert venues.kalshi.book("KXA-1-Y")[1] == [(550_000, 100_000_000)]


def test_partial_fills_on_and_off(venues: Venues, control: Control) -> None:
    assert venues.kalshi is not None and venues.kalshi.faults is not None
    faults = venues.kalshi.faults
    apply(PartialFillsEvent(0, K, "KXA-1-Y", 250_000), venues, control)
    assert faults.partial_fill_limit(40_000_000, 1_000_000, "KXA-1-Y") == 10_000_000
    apply(ClearPartialFillsEvent(0, K, None), venues, control)
    assert faults.partial_fill_limit(40_000_000, 1_000_000, "KXA-1-Y") is None


def test_faults_reach_the_injector(venues: Venues, control: Control) -> None:
    assert venues.polymarket is not None
    faults = venues.polymarket.faults
    apply(FreezeEvent(0, P, "user"), venues, control)
    assert faults.frozen("user") and not faults.frozen("market")
    apply(ThawEvent(0, P, "user"), venues, control)
    assert not faults.frozen("user")
    apply(HttpErrorsEvent(0, P, 429, 2), venues, control)
    assert [faults.http_status("/book"), faults.http_status("/order"), faults.http_status("/x")] == [429, 429, None]
    apply(LoseAnswersEvent(0, P, 1, "/order", "no_answer"), venues, control)
    assert faults.answer_fault("POST", "/book") is None  # another path
    assert faults.answer_fault("POST", "/order") is AnswerFault.NO_ANSWER
    assert faults.answer_fault("POST", "/order") is None  # once
    apply(LatencyEvent(0, P, 0.5), venues, control)
    assert faults.latency_s == 0.5


def test_disconnect_drops_the_sockets_of_the_stream(venues: Venues, control: Control) -> None:
    async def main() -> tuple[int, int]:
        assert venues.polymarket is not None
        sim = venues.polymarket
        await sim.start()
        try:
            async with connect(sim.market_ws_url) as market, connect(sim.user_ws_url):
                await market.send('{"assets_ids": ["7001"], "type": "market"}')
                while sim.connections("market") + sim.connections("user") < 2:
                    await asyncio.sleep(0)
                done = await apply_event(DisconnectEvent(0, P, "market"), venues, control)
                assert done.applied
                return sim.connections("market"), sim.connections("user")
        finally:
            await sim.close()

    assert asyncio.run(main()) == (0, 1)


def test_settle_pays_and_closes_the_market(venues: Venues, control: Control) -> None:
    assert venues.kalshi is not None and venues.polymarket is not None
    assert apply(SettleEvent(0, K, "KXA-1-Y", "no"), venues, control).applied
    market = venues.kalshi.markets["KXA-1-Y"]
    assert (market.status, market.result) == ("finalized", "no")
    assert apply(SettleEvent(0, P, "0xc1", "yes"), venues, control).applied
    assert venues.polymarket.market_state["0xc1"].closed


def test_a_refused_event_is_recorded_not_raised(venues: Venues, control: Control) -> None:
    apply(SettleEvent(0, K, "KXA-1-Y", "yes"), venues, control)
    done = apply(TradeEvent(1200, K, "KXA-1-Y", "buy", 450_000, 1_000_000), venues, control)
    assert not done.applied
    assert done.to_json() == {
        "at_ms": 1200,
        "kind": "trade",
        "venue": "kalshi",
        "market": "KXA-1-Y",
        "applied": False,
        "error": "KalshiRefusal: kalshi: market KXA-1-Y is not open for trading",
    }
    absent = Venues(venues.kalshi, None)
    refused = apply(LevelEvent(0, P, "7001", "bid", 480_000, 1_000_000), absent, control)
    assert refused.error == "EventRefused: polymarket is not running"


def test_partition_cuts_the_venue_off_until_healed(venues: Venues, control: Control) -> None:
    async def main() -> list[object]:
        assert venues.polymarket is not None
        sim = venues.polymarket
        await sim.start()
        seen: list[object] = []
        try:
            async with connect(sim.market_ws_url) as market:
                await market.send('{"assets_ids": ["7001"], "type": "market"}')
                while sim.connections("market") < 1:
                    await asyncio.sleep(0)
                assert (await apply_event(PartitionEvent(0, P), venues, control)).applied
                seen.append(sim.connections("market"))
            try:
                async with connect(sim.market_ws_url, open_timeout=2):
                    seen.append("connected")
            except Exception as exc:  # refused: the handshake is aborted
                seen.append(type(exc).__name__)
            assert (await apply_event(HealEvent(1, P), venues, control)).applied
            async with connect(sim.market_ws_url):
                seen.append("connected")
        finally:
            await sim.close()
        return seen

    seen = asyncio.run(main())
    assert seen[0] == 0 and seen[1] != "connected" and seen[2] == "connected"


def test_daemon_events_reach_the_control(venues: Venues, control: Control) -> None:
    for event in (LedgerFaultEvent(0), LedgerHealEvent(1), CrashEvent(2)):
        assert apply(event, venues, control).applied
    assert (control.ledger, control.crashes) == ([True, False], 1)
    apply(KillEvent(3), venues, control)
    assert control.kill_switch_file.exists()
    apply(ReleaseEvent(4), venues, control)
    assert not control.kill_switch_file.exists()
    assert apply(ReleaseEvent(5), venues, control).applied  # nothing to release: still fine


def test_play_events_in_order(venues: Venues, control: Control) -> None:
    played: list[AppliedEvent] = []
    asyncio.run(play_events(SCENARIO.events, venues, control, elapsed_ms=lambda: 10_000, record=played.append))
    assert [(e.at_ms, e.kind) for e in played] == [(500, "level"), (1500, "book"), (1500, "trade"), (2000, "settle")]
    assert all(e.applied for e in played)
