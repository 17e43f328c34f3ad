"""`arb record`: the simulated default scenario's feeds, heard by the real clients, written as a
scenario file.

The participants are stepped by the test (no background task) and the recorder's clock is the
test's, so the events' times are exact. Checks, each against something the recorder did not make:
the initial books plus the recorded events, applied by this test's own code, give exactly the
simulators' books at the end (read from the simulators' matching engines); the metadata, served
again by simulators built from the recorded [venues], reads back through the real clients as the
original venues served it, and every recorded link is current there; the file parses as a replay
scenario. The command itself records the in-process default scenario for 0.3 s of real time."""

from __future__ import annotations

import asyncio
import time
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arb.cli import main
from arb.config import ScenarioSettings
from arb.daemon.simulated import SimulatedSource, scenario_config
from arb.domain import BookSide, Venue
from arb.links import link_is_current
from arb.replay.record import FeedRecorder, scenario_toml
from arb.replay.scenario import parse_scenario
from arb.scenario.venues import ScenarioRuntime, SimulatedVenues, scenario_exhaustive_series, scenario_links
from tests.replay.series_support import served_markets
from tests.support import with_value

pytestmark = pytest.mark.asyncio
SCALE = 1_000_000
ROOT = Path(__file__).resolve().parents[2]


def _engine_books(runtime: ScenarioRuntime) -> dict[str, tuple[dict[int, int], dict[int, int]]]:
    """Every book as the simulators hold it: Kalshi YES ladders, Polymarket token ladders."""
    out = {}
    for sim in (runtime.kalshi, runtime.polymarket):
        for book_id, engine in sim.engines.items():
            out[book_id] = (dict(engine.levels(BookSide.BID)), dict(engine.levels(BookSide.ASK)))
    return out


def _micro(text: str) -> int:
    return int(Decimal(text) * SCALE)


def _replayed(tree: dict[str, Any]) -> dict[str, tuple[dict[int, int], dict[int, int]]]:
    """The initial books with every recorded event applied in order (this test's own reading)."""

    def ladder(book: dict[str, Any] | None) -> tuple[dict[int, int], dict[int, int]]:
        book = book or {}
        return (
            {_micro(p): _micro(s) for p, s in book.get("bids", [])},
            {_micro(p): _micro(s) for p, s in book.get("asks", [])},
        )

    books = {}
    for market in tree["venues"].get("kalshi", {}).get("markets", []):
        books[market["ticker"]] = ladder(market.get("book"))
    for market in tree["venues"].get("polymarket", {}).get("markets", []):
        books[market["yes_token"]] = ladder(market.get("yes_book"))
        books[market["no_token"]] = ladder(market.get("no_book"))
    for event in tree["events"]:
        if event["kind"] == "book":
            books[event["market"]] = ladder(event)
        else:
            assert event["kind"] == "level"
            side = books[event["market"]][0 if event["side"] == "bid" else 1]
            price, size = _micro(event["price"]), _micro(event["size"])
            if size:
                side[price] = size
            else:
                side.pop(price, None)
    return books


class FakeClock:
    def __init__(self) -> None:
        self.ns = 5_000_000_000

    def __call__(self) -> int:
        return self.ns


async def _until(condition: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


async def test_recording_the_simulated_venues_replays_to_their_books() -> None:
    settings = ScenarioSettings(seed=3, book_changes_per_s=200.0, separate_process=False, first_opening_s=0.0)
    source = SimulatedSource(settings)
    source.venues = SimulatedVenues(scenario_config(settings), run_participants=False)
    clock = FakeClock()
    async with source:
        runtime = source.venues.runtime
        assert runtime is not None
        at_start = _engine_books(runtime)
        recorder = FeedRecorder(source, clock=clock, wall_ms=lambda: 1_790_000_000_000, settle_s=30.0)
        await recorder.start()
        try:
            assert len(recorder.initial) == len(recorder.ladders)  # every book's snapshot came first
            mine = {b: (ladder.bids, ladder.asks) for b, ladder in recorder.ladders.items()}
            assert mine == {b: at_start[b] for b in mine}
            for step, at_ns in ((0.25, 5_000_000_000), (0.5, 6_500_000_000), (4.0, 6_750_000_000)):
                clock.ns = at_ns
                runtime.step(runtime.start_s + step)  # market makers, and the first opening at 0 s
                now = _engine_books(runtime)
                await _until(lambda now=now: all((lad.bids, lad.asks) == now[b] for b, lad in recorder.ladders.items()))
        finally:
            await recorder.stop()
        tree = recorder.scenario("recorded")
        final = _engine_books(runtime)
    assert {e["at_ms"] for e in tree["events"]} == {0, 1500, 1750}
    assert tree["scenario"]["duration_s"] == 2 and tree["scenario"]["start_wall_ms"] == 1_790_000_000_000
    assert len(tree["events"]) > 100
    replayed = _replayed(tree)
    assert replayed == {b: final[b] for b in replayed}
    assert len(replayed) == len(recorder.ladders)
    # links and curated series as the source gave them to the graph
    assert len(tree["links"]) == len(scenario_links()) == 7
    assert [s["ticker"] for s in tree["exhaustive_series"]] == [s.ticker for s in scenario_exhaustive_series()]
    text = scenario_toml(tree)
    assert tomllib.loads(text)["events"] == tree["events"]
    parsed = parse_scenario(text, "recorded.toml")
    assert len(parsed.events) == len(tree["events"]) and len(parsed.links) == 7
    # the metadata, served again, reads back as the venues served it; the links stay current
    kalshi, poly = await served_markets(tree["venues"])
    originals = {(m.venue, m.market_id): m for m in recorder.markets}
    for (venue, market_id), original in originals.items():
        again = (kalshi if venue is Venue.KALSHI else poly)[market_id]
        for name in (
            "title",
            "subtitle",
            "rules_text",
            "status",
            "close_time_ms",
            "price_bands",
            "taker_fee",
            "token_ids",
            "strike",
            "fractional",
            "min_order_size_micro",
            "event_id",
        ):
            assert getattr(again, name) == getattr(original, name), (market_id, name)
        assert (again.group is None) == (original.group is None), market_id
    for link in parsed.links:
        condition = link.polymarket_condition_id
        assert link_is_current(link, kalshi[link.kalshi_ticker], poly[condition]) is None


async def test_the_command_records_the_simulated_venues(tmp_path: Path) -> None:
    config = (ROOT / "config" / "default.toml").read_text()
    config = with_value(config, "run.scenario.separate_process", "false")
    path = tmp_path / "config.toml"
    path.write_text(config)
    out = tmp_path / "rec.toml"
    code = await asyncio.to_thread(
        main, ["record", "--duration", "0.3", "--simulated", "--config", str(path), "--out", str(out)]
    )
    assert code == 0
    scenario = parse_scenario(out.read_text(), str(out))
    assert scenario.name == "rec" and scenario.venues.kalshi is not None and scenario.venues.polymarket is not None
    assert len(scenario.links) == 7
