"""The scenario format (arb.replay.scenario): a valid file becomes frozen, typed, time-ordered
data; every kind of bad input is a ConfigError naming the file and the key path."""

from __future__ import annotations

import dataclasses
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.domain import Side, Venue
from arb.errors import ConfigError
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
    Scenario,
    SettleEvent,
    ThawEvent,
    TradeEvent,
    load_scenario,
    parse_scenario,
    scenario_from_dict,
)
from tests.replay.scenario_text import BASE, with_event


def parse(text: str) -> Scenario:
    return parse_scenario(text, "s.toml")


def test_a_valid_file_becomes_typed_time_ordered_data() -> None:
    s = parse(BASE)
    assert (s.name, s.provenance, s.duration_ms, s.start_wall_ms, s.seed) == (
        "base",
        "synthetic",
        10_000,
        1733500000000,
        3,
    )
    # time order; the two events at 1500 ms keep their file order (book before trade)
    assert [type(e) for e in s.events] == [LevelEvent, BookEvent, TradeEvent, SettleEvent]
    level, book, trade, settle = s.events
    assert level == LevelEvent(500, Venue.POLYMARKET, "7001", "bid", 500_000, 5_000_000)
    assert book == BookEvent(1500, Venue.KALSHI, "KXA-1-Y", ((300_000, 10_000_000),), ((350_000, 10_000_000),))
    assert trade == TradeEvent(1500, Venue.POLYMARKET, "7001", "buy", 510_000, 20_000_000)
    assert settle == SettleEvent(2000, Venue.POLYMARKET, "0xc1", "yes")
    assert s.enabled_venues == (Venue.KALSHI, Venue.POLYMARKET)
    # cash: Kalshi from [config] (no default_balance_usd given), Polymarket from its cash_usd
    assert dict(s.daemon_cash_micro_usd) == {Venue.KALSHI: 500_000_000, Venue.POLYMARKET: 300_000_000}
    e = s.expect
    assert (e.plans_min, e.plans_max, e.orders_sent_min, e.orders_sent_max) == (1, 3, 2, 6)
    assert (e.guaranteed_profit_usd_min, e.guaranteed_profit_usd_max) == (Decimal("0.50"), Decimal(2))
    positions = {(k.venue, k.market, k.side): v for k, v in e.final_positions}
    assert positions == {
        (Venue.KALSHI, "KXA-1-Y", Side.YES): Decimal(10),
        (Venue.POLYMARKET, "0xc1", Side.YES): Decimal(0),  # the token 7001 is the YES of 0xc1
        (Venue.POLYMARKET, "0xc1", Side.NO): Decimal(5),
    }
    assert (e.halts, e.alerts, e.recovery_clean, e.lost_events) == (("daily loss",), ("halt",), True, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "other"  # type: ignore[misc]


def test_config_is_the_default_file_with_the_scenarios_keys_and_the_replays_own(tmp_path: Path) -> None:
    s = parse(BASE)
    config = s.app_config(tmp_path)
    assert config.risk.limits.min_profit_usd == Decimal("0.10")
    assert config.risk.limits.cash_per_venue_usd == {"kalshi": Decimal(500), "polymarket": Decimal("1000.00")}
    assert config.risk.limits.daily_loss_halt_usd == Decimal("200.00")  # the default file's
    assert (config.run.mode, config.run.venues, config.run.duration_s) == ("paper", "simulated", 10.0)
    assert config.ledger.path == tmp_path / "ledger.sqlite3"
    assert config.risk.kill_switch_file == tmp_path / "arb.kill"
    assert config.risk.kill_switch_signal is None
    assert not (config.metrics.enabled or config.live_view.enabled or config.notifications.enabled)
    assert config.venues.enabled == ("kalshi", "polymarket")


def test_overrides_go_on_top_and_are_checked_the_same_way(tmp_path: Path) -> None:
    s = parse(BASE)
    config = s.app_config(tmp_path, {"risk.min_profit_usd": "0.25", "risk.limits.cash_per_venue_usd.kalshi": "50"})
    assert config.risk.limits.min_profit_usd == Decimal("0.25")
    assert config.risk.limits.cash_per_venue_usd["kalshi"] == Decimal(50)
    with pytest.raises(ConfigError, match=r"risk.min_profit_usd must be an exact decimal"):
        s.app_config(tmp_path, {"risk.min_profit_usd": 0.25})  # a float is never money
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in \[scanner\]: bogus"):
        s.app_config(tmp_path, {"scanner.bogus": 1})
    with pytest.raises(ConfigError, match=r"ledger.path is set by the replay itself"):
        s.app_config(tmp_path, {"ledger.path": "/tmp/x"})
    with pytest.raises(ConfigError, match=r"'risk..x' is not a dotted configuration key"):
        s.app_config(tmp_path, {"risk..x": 1})


def test_sha256_is_of_the_file_bytes(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(BASE, encoding="utf-8")
    first = load_scenario(path)
    assert first.sha256 == load_scenario(path).sha256 == parse(BASE).sha256
    assert parse(BASE + "\n# a comment\n").sha256 != first.sha256
    tree = tomllib.loads(BASE)
    assert scenario_from_dict(tree).events == first.events


def test_every_event_kind_parses() -> None:
    text = BASE
    kinds: list[dict[str, object]] = [
        {"kind": "partial_fills", "venue": "kalshi", "market": "KXA-1-Y", "ratio": "0.5"},
        {"kind": "clear_partial_fills", "venue": "kalshi"},
        {"kind": "clear_partial_fills", "venue": "polymarket", "market": "7002"},
        {"kind": "disconnect", "venue": "polymarket", "stream": "user"},
        {"kind": "freeze", "venue": "kalshi", "stream": "market"},
        {"kind": "thaw", "venue": "kalshi"},
        {"kind": "http_errors", "venue": "kalshi", "status": 429, "count": 5},
        {"kind": "lose_answers", "venue": "polymarket", "count": 1, "path_prefix": "/order", "mode": "no_answer"},
        {"kind": "latency", "venue": "kalshi", "seconds": 0.25},
        {"kind": "partition", "venue": "kalshi"},
        {"kind": "heal", "venue": "kalshi"},
        {"kind": "ledger_fault"},
        {"kind": "ledger_heal"},
        {"kind": "settle", "venue": "kalshi", "market": "KXA-1-Y", "result": "void"},
        {"kind": "crash"},
        {"kind": "kill"},
        {"kind": "release"},
    ]
    for i, keys in enumerate(kinds):
        text = with_event(text, at_ms=3000 + i, **keys)
    events = parse(text).events[4:]
    assert events == (
        PartialFillsEvent(3000, Venue.KALSHI, "KXA-1-Y", 500_000),
        ClearPartialFillsEvent(3001, Venue.KALSHI, None),
        ClearPartialFillsEvent(3002, Venue.POLYMARKET, "7002"),
        DisconnectEvent(3003, Venue.POLYMARKET, "user"),
        FreezeEvent(3004, Venue.KALSHI, "market"),
        ThawEvent(3005, Venue.KALSHI, "*"),
        HttpErrorsEvent(3006, Venue.KALSHI, 429, 5),
        LoseAnswersEvent(3007, Venue.POLYMARKET, 1, "/order", "no_answer"),
        LatencyEvent(3008, Venue.KALSHI, 0.25),
        PartitionEvent(3009, Venue.KALSHI),
        HealEvent(3010, Venue.KALSHI),
        LedgerFaultEvent(3011),
        LedgerHealEvent(3012),
        SettleEvent(3013, Venue.KALSHI, "KXA-1-Y", "void"),
        CrashEvent(3014),
        KillEvent(3015),
        ReleaseEvent(3016),
    )


def _edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


BAD = [
    # (what, file text, the error's text)
    ("not TOML", BASE + "\n[[[", "s.toml: not valid TOML"),
    ("unknown top-level table", BASE + "\n[extra]\nx = 1\n", "s.toml: extra: unknown key"),
    ("unknown [scenario] key", _edit("seed = 3", "seed = 3\nsede = 4"), "s.toml: scenario.sede: unknown key"),
    ("no name", _edit('name = "base"\n', ""), "s.toml: scenario.name: required key is missing"),
    ("no provenance", _edit('provenance = "synthetic"', 'provenance = " "'), "scenario.provenance: say where"),
    ("duration a word", _edit("duration_s = 10", 'duration_s = "ten"'), "scenario.duration_s: must be a number"),
    ("duration NaN", _edit("duration_s = 10", "duration_s = nan"), "scenario.duration_s: must be a finite number"),
    ("duration zero", _edit("duration_s = 10", "duration_s = 0"), "scenario.duration_s: must be more than 0"),
    ("duration sub-ms", _edit("duration_s = 10", "duration_s = 1.0005"), "exact to the millisecond"),
    ("seed a string", _edit("seed = 3", 'seed = "3"'), "scenario.seed: must be an integer"),
    ("negative seed", _edit("seed = 3", "seed = -1"), "scenario.seed: must be >= 0"),
    (
        "config float money",
        _edit('min_profit_usd = "0.10"', "min_profit_usd = 0.1"),
        "s.toml [config]: risk.min_profit_usd must be an exact decimal",
    ),
    ("config unknown key", _edit('min_profit_usd = "0.10"', 'min_profit_usd = "0.10"\nbogus = 1'), "in [risk]: bogus"),
    ("config unknown table", _edit("[config.risk]", "[config.nope]\nx = 1\n[config.risk]"), "unknown section(s): nope"),
    ("config negative", _edit('min_profit_usd = "0.10"', 'min_profit_usd = "-1"'), "risk.min_profit_usd"),
    (
        "config reserved",
        _edit("[config.risk]", '[config.ledger]\npath = "x"\n[config.risk]'),
        "config: ledger.path is set",
    ),
    (
        "venue unknown",
        _edit("[venues.polymarket]", "[venues.nasdaq]\n[venues.polymarket]"),
        "venues.nasdaq: unknown key",
    ),
    (
        "venues spec key",
        _edit('event_ticker = "KXA-1"\nbook', 'event_ticker = "KXA-1"\nboook = 1\nbook'),
        "venues.kalshi.markets[0].boook: unknown key",
    ),
    (
        "accounts",
        _edit('cash_usd = "300"', 'cash_usd = "300"\naccounts = []'),
        "venues.polymarket.accounts: the replay opens",
    ),
    (
        "participants",
        _edit('cash_usd = "300"', 'cash_usd = "300"\nparticipants = true'),
        "venues.polymarket.participants",
    ),
    (
        "crossed initial book",
        _edit('asks = [["0.45", "100"]]', 'asks = [["0.40", "100"]]'),
        "venues.kalshi.markets[0].book: crossed book",
    ),
    ("NaN cash", _edit('cash_usd = "300"', "cash_usd = nan"), "venues.polymarket.cash_usd must be finite"),
    ("NaN price", _edit('price = "0.50"', "price = nan"), "events[1].price must be finite"),
    ("negative price", _edit('price = "0.50"', 'price = "-0.5"'), "events[1].price must not be negative"),
    ("price of 1", _edit('price = "0.50"', 'price = "1"'), "events[1].price: price must be strictly within (0, 1)"),
    (
        "off tick",
        _edit('price = "0.50"', 'price = "0.505"'),
        "events[1].price: price 0.505 is off the 0.01 tick grid of token 7001",
    ),
    ("NaN book price", _edit('bids = [["0.30", "10"]]', 'bids = [[nan, "10"]]'), "events[0].bids[0][0] must be finite"),
    ("crossed event book", _edit('bids = [["0.30", "10"]]', 'bids = [["0.35", "10"]]'), "events[0]: crossed book"),
    (
        "level crosses house book",
        _edit('side = "bid"\nprice = "0.50"', 'side = "bid"\nprice = "0.52"'),
        "events[1]: leaves the house's book of 7001 crossed",
    ),
    ("size off lot", _edit('size = "5"', 'size = "5.001"'), "events[1].size: must be a multiple of 0.01"),
    ("trade of nothing", _edit('size = "20"', 'size = "0"'), "events[2].size: must be a positive multiple"),
    (
        "event at the end",
        _edit("at_ms = 2000", "at_ms = 10000"),
        "events[3].at_ms: must be within the run, 0 <= at_ms < 10000",
    ),
    ("event before start", _edit("at_ms = 2000", "at_ms = -1"), "events[3].at_ms: must be within the run"),
    ("event time a float", _edit("at_ms = 2000", "at_ms = 2000.0"), "events[3].at_ms: must be an integer"),
    ("unknown kind", _edit('kind = "settle"', 'kind = "explode"'), "events[3].kind: unknown event kind 'explode'"),
    ("unknown event key", _edit('result = "yes"', 'result = "yes"\nwhy = 1'), "events[3].why: unknown key"),
    ("missing event key", _edit('result = "yes"\n', ""), "events[3].result: required key is missing"),
    (
        "unknown market",
        _edit('market = "KXA-1-Y"\nbids', 'market = "NOPE"\nbids'),
        "events[0].market: unknown Kalshi market 'NOPE'",
    ),
    (
        "condition for a book",
        _edit('market = "7001"\nside', 'market = "0xc1"\nside'),
        "(a condition id: books are per token)",
    ),
    (
        "token for settle",
        _edit('market = "0xc1"', 'market = "7001"'),
        "(a token id: settle names the market's condition id)",
    ),
    ("bad result", _edit('result = "yes"', 'result = "maybe"'), "events[3].result: must be one of 'yes', 'no', 'void'"),
    ("bad venue", _edit('venue = "kalshi"', 'venue = "betfair"'), "events[0].venue: must be 'kalshi' or 'polymarket'"),
    ("expect unknown key", _edit("plans_min = 1", "plans_min = 1\nprofit = 3"), "expect.profit: unknown key"),
    (
        "expect float money",
        _edit('guaranteed_profit_usd_min = "0.50"', "guaranteed_profit_usd_min = 0.5"),
        "expect.guaranteed_profit_usd_min: must be exact decimal text",
    ),
    (
        "expect NaN money",
        _edit('guaranteed_profit_usd_min = "0.50"', 'guaranteed_profit_usd_min = "NaN"'),
        "must be a finite amount",
    ),
    ("expect negative count", _edit("plans_min = 1", "plans_min = -1"), "expect.plans_min: must be >= 0"),
    ("expect impossible", _edit("plans_max = 3", "plans_max = 0"), "expect.plans_min: is above plans_max"),
    (
        "expect bool",
        _edit("recovery_clean = true", 'recovery_clean = "yes"'),
        "expect.recovery_clean: must be true or false",
    ),
    (
        "expect position market",
        _edit('"polymarket:7001"', '"polymarket:7009"'),
        "expect.final_positions.polymarket:7009: unknown Polymarket token",
    ),
    ("expect position form", _edit('"kalshi:KXA-1-Y:yes"', '"kalshi:KXA-1-Y"'), "must be 'kalshi:TICKER:yes|no'"),
    (
        "expect position twice",
        _edit('"polymarket:7001"', '"polymarket:0xc1:yes" = "1", "polymarket:7001"'),
        "the same contract as",
    ),
    (
        "expect negative position",
        _edit('"polymarket:0xc1:no" = "5"', '"polymarket:0xc1:no" = "-5"'),
        "contracts held are never negative",
    ),
    ("expect empty halt", _edit('halts = ["daily loss"]', 'halts = [""]'), "expect.halts[0]: must not be empty"),
]


@pytest.mark.parametrize(("text", "message"), [(t, m) for _, t, m in BAD], ids=[w for w, _, _ in BAD])
def test_bad_input_is_a_config_error_naming_the_path(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert str(caught.value).startswith("s.toml")


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"kind": "heal", "venue": "kalshi"}, "heal of kalshi at 3000 ms without a partition before it"),
        ({"kind": "ledger_heal"}, "ledger_heal at 3000 ms without a ledger_fault"),
        (
            {"kind": "disconnect", "venue": "kalshi", "stream": "user"},
            "Kalshi serves market data and the account on one socket",
        ),
        ({"kind": "freeze", "venue": "kalshi", "stream": "all"}, "stream: must be one of 'market', 'user', '*'"),
        ({"kind": "http_errors", "venue": "kalshi", "status": 404, "count": 1}, "status: must be one of 429, 500"),
        ({"kind": "http_errors", "venue": "kalshi", "status": 500, "count": 0}, "count: must be a count from 1"),
        (
            {"kind": "lose_answers", "venue": "kalshi", "count": 1, "path_prefix": "orders"},
            "path_prefix: must start with '/'",
        ),
        ({"kind": "latency", "venue": "kalshi", "seconds": -1}, "seconds: must be within [0, 60]"),
        ({"kind": "latency", "venue": "kalshi", "seconds": "inf"}, "seconds: must be a finite number"),
        (
            {"kind": "partial_fills", "venue": "kalshi", "market": "KXA-1-Y", "ratio": "1"},
            "ratio: must be within [0, 1)",
        ),
        ({"kind": "partial_fills", "venue": "kalshi", "market": "KXA-1-Y", "ratio": "nan"}, "ratio must be finite"),
        ({"kind": "crash", "venue": "kalshi"}, "events[4].venue: unknown key"),
    ],
)
def test_bad_events(keys: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(with_event(BASE, at_ms=3000, **keys))
    assert message in str(caught.value)


def test_an_event_on_a_venue_not_listed_is_refused() -> None:
    start = BASE.index("[venues.polymarket]")
    end = BASE.index("[[events]]")
    text = BASE[:start] + BASE[end:]
    text = text.replace('"polymarket:7001" = "0", "polymarket:0xc1:no" = "5"', '"kalshi:KXA-1-Y:no" = "0"')
    with pytest.raises(ConfigError, match=r"events\[1\].venue: polymarket is not in \[venues\]"):
        parse(text)


def test_a_venue_without_cash_anywhere_is_refused() -> None:
    text = _edit('[config.risk.cash_per_venue_usd]\nkalshi = "500"', "").replace('cash_usd = "300"\n', "")
    # both venues fall back on the default file's cash: fine
    assert dict(parse(text).daemon_cash_micro_usd)[Venue.POLYMARKET] == 1_000_000_000


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=9_999), min_size=1, max_size=12))
def test_events_run_in_time_order_then_file_order(times: list[int]) -> None:
    text = BASE
    for i, at_ms in enumerate(times):
        text = with_event(text, at_ms=at_ms, kind="latency", venue="kalshi", seconds=i)
    latencies = [e for e in parse(text).events if isinstance(e, LatencyEvent)]
    assert [(e.at_ms, e.seconds) for e in latencies] == sorted((t, float(i)) for i, t in enumerate(times))
