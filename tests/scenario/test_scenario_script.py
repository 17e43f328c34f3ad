"""The scenario without sockets: its data files, its config, and the participants stepped on the
test's clock (the simulators are built but never started; their books are read directly)."""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import random
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.domain import BookSide, Venue
from arb.errors import ConfigError
from arb.fixed import SCALE
from arb.ops.view import OpportunityKind
from arb.scenario.markets import CENT, ScenarioMarket, scenario_catalogue
from arb.scenario.participants import MarketMakers, VenueQuotes
from arb.scenario.venues import ScenarioConfig, ScenarioRuntime, ThrowawayAccounts, make_throwaway_accounts
from arb.venues.sim.faults import FaultInjector

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "arb" / "scenario" / "data"
FOMC = ROOT / "tests" / "fixtures" / "cross_venue" / "fomc_2024"


@pytest.fixture(scope="module")
def accounts() -> ThrowawayAccounts:
    return make_throwaway_accounts()[0]


def _faults(runtime: ScenarioRuntime, venue: Venue) -> FaultInjector:
    faults = runtime.kalshi.faults if venue is Venue.KALSHI else runtime.polymarket.faults
    assert faults is not None
    return faults


def test_the_fomc_copies_equal_the_fixtures_and_every_capture_matches_its_recorded_sha256() -> None:
    for name in ("kalshi_events.json", "kalshi_series.json", "polymarket_events.json", "expected_pairs.json"):
        assert (DATA / f"fomc_2024_{name}").read_bytes() == (FOMC / name).read_bytes(), name
    readme = (DATA / "README.md").read_text()
    recorded = dict(re.findall(r"\| `([^`]+)` \|[^\n]*?`([0-9a-f]{64})`", readme))
    shipped = {p.name for p in DATA.iterdir() if p.suffix in (".json", ".jsonl")}
    assert set(recorded) == shipped
    for name, digest in recorded.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def test_pyproject_ships_every_scenario_data_file_with_the_package() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "arb.scenario.data"
    ]
    for path in DATA.iterdir():
        if path.is_file() and path.name != "__init__.py":
            assert any(fnmatch.fnmatch(path.name, p) for p in patterns), path.name


def test_the_catalogue_has_openings_of_every_kind_on_coherent_fair_values() -> None:
    catalogue = scenario_catalogue()
    kinds = Counter(o.kind for o in catalogue.openings)
    assert set(kinds) == set(OpportunityKind) - {OpportunityKind.OTHER}
    assert [o.kind for o in catalogue.openings[:5]] == [
        OpportunityKind.PAIR,
        OpportunityKind.INVERTED,
        OpportunityKind.EXACTLY_ONE,
        OpportunityKind.LADDER,
        OpportunityKind.PARLAY,
    ]
    # linked markets carry the same (or the complementary) fair value
    for kalshi, condition, inverted in catalogue.link_pairs:
        k = catalogue.markets[(Venue.KALSHI, kalshi)].fair_micro
        p = catalogue.markets[(Venue.POLYMARKET, condition)].fair_micro
        assert k == (SCALE - p if inverted else p), kalshi
    # every FOMC meeting's buckets sum to $1 on each venue
    sums: Counter[tuple[Venue, str]] = Counter()
    for (venue, market_id), market in catalogue.markets.items():
        if market_id.startswith(("FEDDECISION", "KXFEDDECISION")):
            sums[(venue, market_id.rsplit("-", 1)[0])] += market.fair_micro
    for item in catalogue.spec["polymarket"]["markets"]:
        if item["slug"].startswith("fed-interest-rates"):
            sums[(Venue.POLYMARKET, item["event_id"])] += catalogue.markets[
                (Venue.POLYMARKET, item["condition_id"])
            ].fair_micro
    assert len(sums) == 12 and set(sums.values()) == {SCALE}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("book_changes_per_s", -1.0, "book_changes_per_s"),
        ("book_changes_per_s", float("nan"), "book_changes_per_s"),
        ("period_s", 0.0, "period_s"),
        ("hold_s", 9.0, "hold_s"),
        ("contest_every", -1, "contest_every"),
        ("partial_fill_ratio", 1.0, "partial_fill_ratio"),
        ("opening_size", 0, "opening_size"),
        ("seed", True, "seed"),
        ("venues_process", 1, "venues_process"),
    ],
)
def test_a_bad_scenario_config_is_refused_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ScenarioConfig(**{field: value})  # type: ignore[arg-type]


def test_the_script_cycles_the_kinds_on_the_injected_clock_and_contests_every_second_opening(
    accounts: ThrowawayAccounts,
) -> None:
    config = ScenarioConfig(book_changes_per_s=0, period_s=5.0, hold_s=2.0, first_opening_s=1.0, contest_every=2)
    runtime = ScenarioRuntime(config, accounts, start_s=100.0)
    script = runtime.script
    opened: list[tuple[float, str, bool]] = []
    closed: list[float] = []
    contested_caps: list[int | None] = []
    t = 100.0
    while t <= 154.0:  # eleven openings (at 101, 106, ..., 151) and their closes, in 0.25 s steps
        before = script.current
        runtime.step(t)
        if script.current is not None and script.current is not before:
            record = script.current
            opened.append((t, record.opening.kind.value, record.contested))
            market = runtime.catalogue.markets[(record.opening.moves[0].venue, record.opening.moves[0].market_id)]
            contested_caps.append(
                _faults(runtime, market.venue).partial_fill_limit(10 * SCALE, 10_000, market.book_ids[0])
            )
        if before is not None and script.current is None:
            closed.append(t)
        t += 0.25
    assert [when for when, _, _ in opened] == [101.0 + 5.0 * i for i in range(11)]
    assert closed == [103.0 + 5.0 * i for i in range(11)]
    kinds = [kind for _, kind, _ in opened]
    assert kinds[:5] == ["pair", "inverted", "exactly_one", "ladder", "parlay"]
    assert kinds[5:10] == kinds[:5] and kinds[10] == "pair"  # the second round cycles the kinds again
    assert [c for _, _, c in opened] == [i % 2 == 1 for i in range(11)]
    assert contested_caps == [None if i % 2 == 0 else 5 * SCALE for i in range(11)]
    for history in script.history:  # every contest ended with its opening
        for move in history.opening.moves:
            market = runtime.catalogue.markets[(move.venue, move.market_id)]
            assert _faults(runtime, move.venue).partial_fill_limit(10 * SCALE, 10_000, market.book_ids[0]) is None


def test_an_opening_moves_its_market_and_the_close_restores_the_fair_quotes(accounts: ThrowawayAccounts) -> None:
    runtime = ScenarioRuntime(ScenarioConfig(book_changes_per_s=0, opening_size=40), accounts, start_s=0.0)
    opening = runtime.catalogue.openings[0]  # the pair: Kalshi's Rihanna YES drops 10 cents
    (move,) = opening.moves
    market = runtime.catalogue.markets[(move.venue, move.market_id)]
    before = runtime.kalshi.book(move.market_id)
    runtime.script.open_next(0.0)
    bids, no_bids = runtime.kalshi.book(move.market_id)
    asks = sorted((SCALE - p, s) for p, s in no_bids)
    assert asks[0] == (market.fair_micro - 9 * CENT, 40 * SCALE)  # the cheap level, opening-sized
    assert max(p for p, _ in bids) == market.fair_micro - 11 * CENT
    assert (move.venue, move.market_id) in runtime.makers.held
    opened = runtime.kalshi.book(move.market_id)
    runtime.step(1.0)  # a refresh: the second bid level loses a lot, the best levels stay
    refreshed_bids, refreshed_no_bids = runtime.kalshi.book(move.market_id)
    assert refreshed_no_bids == opened[1]
    assert sorted(refreshed_bids) == sorted(
        [(p, s - SCALE) if p == market.fair_micro - 12 * CENT else (p, s) for p, s in opened[0]]
    )
    runtime.step(2.0)  # and regains it
    assert runtime.kalshi.book(move.market_id) == opened
    runtime.script.close(3.0)
    assert runtime.kalshi.book(move.market_id) == before
    assert not runtime.makers.held


def test_market_makers_catch_up_at_most_a_burst_and_count_what_they_skip(accounts: ThrowawayAccounts) -> None:
    runtime = ScenarioRuntime(ScenarioConfig(book_changes_per_s=1000), accounts, start_s=0.0)
    makers = runtime.makers
    assert makers.step(0.5) in (500, 501)
    made = makers.step(10.5)  # a stalled loop: 10,000 owed at once
    assert made in (makers.max_burst, makers.max_burst + 1)
    assert makers.skipped == 10_000 - makers.max_burst
    assert makers.step(10.5) == 0  # nothing owed twice


class _Recorder(VenueQuotes):
    """Records which market each change touched instead of setting a simulator's book."""

    def __init__(self) -> None:
        self.touched: list[tuple[Venue, str]] = []

    def set_level(self, market: ScenarioMarket, side: BookSide, price: int, size: int) -> int:
        self.touched.append((market.venue, market.market_id))
        return 1 if market.venue is Venue.KALSHI else 2


def test_market_makers_go_round_every_market_so_no_book_waits_longer_than_a_round() -> None:
    catalogue = scenario_catalogue()
    markets = list(catalogue.markets.values())
    books = sum(len(m.book_ids) for m in markets)  # 49 Kalshi + 2 x 29 Polymarket = 107
    assert books == 107
    recorder = _Recorder()
    makers = MarketMakers(
        recorder, markets, random.Random(5), book_changes_per_s=2 * books, size_micro=200 * SCALE, start_s=0.0
    )
    held = (markets[0].venue, markets[0].market_id)
    makers.held.add(held)
    last_seen: dict[tuple[Venue, str], float] = {}
    longest_wait = 0.0
    for step in range(1, 61):  # 3 s in 0.05 s steps: two rounds a second
        now = 0.05 * step
        before = len(recorder.touched)
        makers.step(now)
        for key in set(recorder.touched[before:]):
            longest_wait = max(longest_wait, now - last_seen.get(key, 0.0))
            last_seen[key] = now
    assert held not in last_seen  # an opening's market is left to the opening
    assert set(last_seen) == {(m.venue, m.market_id) for m in markets} - {held}
    assert longest_wait <= 0.5 + 0.05 + 1e-9  # one round (plus a step) at most
    assert all(3.0 - seen <= 0.55 for seen in last_seen.values())


@functools.cache
def _shared_runtime() -> ScenarioRuntime:
    return ScenarioRuntime(ScenarioConfig(book_changes_per_s=0), make_throwaway_accounts()[0], start_s=0.0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), steps=st.lists(st.floats(0.001, 0.5), min_size=1, max_size=8))
def test_market_makers_never_quote_inside_the_fair_quotes_whatever_they_draw(seed: int, steps: list[float]) -> None:
    """The makers' invariant, on the simulators' own books: every best bid at or below its market's
    fair value less a cent, every best ask at or above it plus a cent, each Polymarket NO token the
    mirror of its YES token. (With coherent fair values that is what keeps the scanner clear.)"""
    runtime = _shared_runtime()
    quotes = VenueQuotes(runtime.kalshi, runtime.polymarket)
    markets = list(runtime.catalogue.markets.values())
    makers = MarketMakers(
        quotes, markets, random.Random(seed), book_changes_per_s=400, size_micro=200 * SCALE, start_s=0.0
    )
    now = 0.0
    for step in steps:
        now += step
        makers.step(now)
    for market in markets:
        if market.venue is Venue.KALSHI:
            bids, no_bids = runtime.kalshi.book(market.market_id)
            asks = [(SCALE - p, s) for p, s in no_bids]
        else:
            yes, no = (runtime.polymarket.engines[token].snapshot() for token in market.book_ids)
            bids, asks = list(yes[0]), list(yes[1])
            assert sorted(no[0]) == sorted((SCALE - p, s) for p, s in asks)  # NO bids mirror YES asks
            assert sorted(no[1]) == sorted((SCALE - p, s) for p, s in bids)
        assert all(p <= market.fair_micro - CENT for p, _ in bids), market.market_id
        assert all(p >= market.fair_micro + CENT for p, _ in asks), market.market_id
