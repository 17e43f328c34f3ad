"""`arb scenario from-series` and `arb scenario series-csv`: a CSV of best bid/ask -> a scenario.

The CSV's validation names the line of every bad cell; the scenario's initial books, events, virtual
times and duration follow the rows (checked against this test's own reading of the rows, and, for
random series, by replaying the events on plain dicts); generated links are current against the
metadata the real clients read from simulators built from the scenario's own [venues]; the
converters read the venues' candlesticks and prices-history shapes (the Kalshi historical
candlestick fixture from tests/fixtures, and documents of the documented shapes)."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.cli import main
from arb.errors import ConfigError
from arb.links import link_is_current, parse_links
from arb.replay.scenario import parse_scenario
from arb.replay.series import (
    kalshi_candles_to_rows,
    parse_series_csv,
    parse_timestamp_ms,
    polymarket_history_to_rows,
    scenario_from_series,
    series_csv_text,
)
from arb.venues.sim.spec import SimSpec
from tests.replay.series_support import served_markets

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "venues"
CONDITION = "0x" + "ab" * 32
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"

SERIES = f"""timestamp,market,bid,ask,bid_size,ask_size
2024-12-01T10:00:00Z,kalshi:KXFEDDECISION-24DEC-H0,0.42,0.45,10,20
2024-12-01T10:00:00Z,polymarket:{CONDITION},0.55,0.58,,
1733047260,kalshi:KXFEDDECISION-24DEC-H0,0.43,0.46,,
1733047320000,polymarket:{CONDITION},0.505,0.52,5.5,
2024-12-01T11:00:00+00:00,polymarket:{TOKEN},0.1,0.2,,
"""


def test_rows_read_every_timestamp_format_exactly() -> None:
    rows = parse_series_csv(SERIES, source="s.csv")
    assert [(r.line, r.t_ms, r.venue) for r in rows] == [
        (2, 1_733_047_200_000, "kalshi"),
        (3, 1_733_047_200_000, "polymarket"),
        (4, 1_733_047_260_000, "kalshi"),
        (5, 1_733_047_320_000, "polymarket"),
        (6, 1_733_050_800_000, "polymarket"),
    ]
    assert (rows[0].bid_micro, rows[0].ask_micro, rows[0].bid_size_micro, rows[0].ask_size_micro) == (
        420_000,
        450_000,
        10_000_000,
        20_000_000,
    )
    assert (rows[1].bid_size_micro, rows[3].bid_micro, rows[3].bid_size_micro) == (100_000_000, 505_000, 5_500_000)
    assert parse_timestamp_ms("1733047200.125", "x") == 1_733_047_200_125
    assert parse_timestamp_ms("2024-12-01T11:00:00.250+01:00", "x") == 1_733_047_200_250


HEADER = "timestamp,market,bid,ask\n"
GOOD = "1733047200,kalshi:A-B-C,0.40,0.45\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (HEADER + "1733047200,kalshi:A-B-C,NaN,0.45\n", 2, "NaN"),
        (HEADER + "1733047200,kalshi:A-B-C,0.40,inf\n", 2, "infinite"),
        (HEADER + GOOD + "1733047201,kalshi:A-B-C,-0.10,0.45\n", 3, "negative"),
        (HEADER + GOOD + "1733047201,kalshi:A-B-C,0.40,1.2\n", 3, "below 1"),
        (HEADER + GOOD + "1733047201,kalshi:A-B-C,0.40,1\n", 3, "below 1"),
        (HEADER + GOOD + "1733047201,kalshi:A-B-C,0,0.45\n", 3, "above 0"),
        (HEADER + GOOD + "1733047201,kalshi:A-B-C,0.45,0.45\n", 3, "crossed"),
        (HEADER + GOOD + "1733047201,kalshi:A-B-C,0.50,0.45\n", 3, "crossed"),
        (HEADER + GOOD + "1733047200,kalshi:A-B-C,0.41,0.45\n", 3, "repeats the one on line 2"),
        (HEADER + GOOD + "1733047100,kalshi:A-B-C,0.41,0.45\n", 3, "goes back from the one on line 2"),
        ("timestamp,market,bid,ask,spread\n" + GOOD, 1, "unknown column 'spread'"),
        ("timestamp,market,bid\n" + GOOD, 1, "lacks the 'ask' column"),
        (HEADER + GOOD + "1733047201,kalshi:A-B-C,0.40\n", 3, "3 cells"),
        (HEADER + "1733047200,nasdaq:A,0.40,0.45\n", 2, "market must be"),
        (HEADER + "1733047200,kalshi:,0.40,0.45\n", 2, "market must be"),
        (HEADER + "2024-12-01T10:00:00,kalshi:A,0.40,0.45\n", 2, "no UTC offset"),
        (HEADER + "yesterday,kalshi:A,0.40,0.45\n", 2, "neither ISO-8601"),
        (HEADER + "1733047200000.5,kalshi:A,0.40,0.45\n", 2, "milliseconds but has a fraction"),
        (HEADER + "1733047200,kalshi:A,0.4000001,0.45\n", 2, "more than 6 decimals"),
        (HEADER + "1733047200,kalshi:A,forty,0.45\n", 2, "decimal number"),
        ("timestamp,market,bid,ask,bid_size\n1733047200,kalshi:A,0.40,0.45,-3\n", 2, "positive"),
    ],
)
def test_bad_rows_are_refused_naming_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_series_csv(text, source="prices.csv")
    assert f"prices.csv:{line}:" in str(caught.value)
    assert words in str(caught.value)


def test_an_empty_series_and_off_lot_sizes_are_refused() -> None:
    with pytest.raises(ConfigError, match="no header"):
        parse_series_csv("\n\n", source="e.csv")
    with pytest.raises(ConfigError, match="no rows"):
        parse_series_csv(HEADER, source="e.csv")
    rows = parse_series_csv("timestamp,market,bid,ask,bid_size\n1733047200,kalshi:A-B,0.4,0.5,2.5\n", source="k.csv")
    with pytest.raises(ConfigError, match=r"k\.csv:2: kalshi:A-B sizes must be multiples of 1"):
        scenario_from_series(rows, name="x", source="k.csv")
    rows = parse_series_csv("timestamp,market,bid,ask\n1733047200,kalshi:A-B,0.4005,0.5\n", source="k.csv")
    with pytest.raises(ConfigError, match=r"off Kalshi's 0\.001 grid"):
        scenario_from_series(rows, name="x", source="k.csv")


def _reread(toml_text: str) -> dict[str, Any]:
    return tomllib.loads(toml_text)


def test_the_scenario_follows_the_rows() -> None:
    rows = parse_series_csv(SERIES, source="s.csv")
    built = scenario_from_series(rows, name="fed", source="s.csv", max_gap_ms=1000, margin_ms=5000)
    tree = _reread(built.toml())
    assert tree["scenario"]["name"] == "fed"
    assert tree["scenario"]["start_wall_ms"] == 1_733_047_200_000
    # timestamps 10:00, 10:01, 10:02, 11:00 -> 0, 1000, 2000, 3000 ms (gaps over 1 s shortened)
    assert tree["scenario"]["duration_s"] == 8  # last event at 3 s + 5 s margin
    venues = tree["venues"]
    spec = SimSpec.from_dict(venues)  # a valid simulator spec
    assert spec.kalshi is not None and spec.polymarket is not None
    (kalshi,) = spec.kalshi.markets
    assert kalshi.ticker == "KXFEDDECISION-24DEC-H0" and kalshi.event_ticker == "KXFEDDECISION-24DEC"
    assert kalshi.book.bids == ((420_000, 10_000_000),) and kalshi.book.asks == ((450_000, 20_000_000),)
    assert spec.kalshi.series[0].ticker == "KXFEDDECISION" and spec.kalshi.series[0].fee_type == "quadratic"
    first, late = sorted(spec.polymarket.markets, key=lambda m: m.condition_id != CONDITION)
    assert first.condition_id == CONDITION and first.tick_micro == 1_000  # 0.505 needs the 0.001 grid
    assert first.yes_book.bids == ((550_000, 100_000_000),) and first.yes_book.asks == ((580_000, 100_000_000),)
    assert first.no_book.bids == ((420_000, 100_000_000),) and first.no_book.asks == ((450_000, 100_000_000),)
    assert late.yes_token == TOKEN and late.tick_micro == 10_000  # 0.01: the 0.1 tick is never chosen
    assert late.yes_book.bids == () and late.no_book.asks == ()  # starts after the series: no look-ahead
    events = tree["events"]
    assert [(e["at_ms"], e["venue"], e["market"]) for e in events] == [
        (1000, "kalshi", "KXFEDDECISION-24DEC-H0"),
        (2000, "polymarket", first.yes_token),
        (2000, "polymarket", first.no_token),
        (3000, "polymarket", late.yes_token),
        (3000, "polymarket", late.no_token),
    ]
    assert all(e["kind"] == "book" for e in events)
    assert events[0]["bids"] == [["0.43", "100"]] and events[0]["asks"] == [["0.46", "100"]]
    assert events[1]["bids"] == [["0.505", "5.5"]] and events[2]["asks"] == [["0.495", "5.5"]]
    assert events[2]["bids"] == [["0.48", "100"]]
    assert "2024-12-01T10:01:00Z (s.csv line 4)" in built.toml()
    real = scenario_from_series(rows, name="fed", source="s.csv", max_gap_ms=0)
    assert [e["at_ms"] for e in real.tree["events"]][::2] == [60_000, 120_000, 3_600_000]
    assert built.toml() == scenario_from_series(rows, name="fed", source="s.csv").toml()  # same bytes
    parsed = parse_scenario(built.toml(), "fed.toml")  # what `arb replay` reads
    assert (parsed.duration_ms, len(parsed.events), parsed.start_wall_ms) == (8000, 5, 1_733_047_200_000)


def test_polymarket_tick_is_the_coarsest_grid_the_prices_fit() -> None:
    rows = parse_series_csv(HEADER + f"1733047200,polymarket:{TOKEN},0.1,0.2\n", source="t.csv")
    tree = scenario_from_series(rows, name="t").tree
    assert tree["venues"]["polymarket"]["markets"][0]["tick"] == "0.01"  # 0.1 is never chosen


@st.composite
def series_rows(draw: st.DrawFn) -> tuple[str, dict[str, tuple[int, int]]]:
    markets = draw(st.lists(st.sampled_from(["kalshi:K-E-A", "kalshi:K-E-B", f"polymarket:{CONDITION}"]), min_size=1))
    times = draw(st.lists(st.integers(0, 10_000), min_size=len(markets), max_size=len(markets)))
    lines, last, seen = [HEADER.strip()], {}, set()
    for market, t in sorted(zip(markets, times, strict=True), key=lambda x: x[1]):
        if (market, t) in seen:
            continue
        seen.add((market, t))
        bid = draw(st.integers(1, 97))
        ask = draw(st.integers(bid + 1, 99))
        lines.append(f"{1_733_047_200 + t},{market},{bid / 100},{ask / 100}")
        last[market] = (bid * 10_000, ask * 10_000)
    return "\n".join(lines) + "\n", last


@given(series_rows())
@settings(max_examples=60, deadline=None)
def test_replaying_the_events_ends_on_each_markets_last_quote(case: tuple[str, dict[str, tuple[int, int]]]) -> None:
    text, last = case
    rows = parse_series_csv(text, source="h.csv")
    tree = _reread(scenario_from_series(rows, name="h", max_gap_ms=0).toml())
    books: dict[str, tuple[list[list[str]], list[list[str]]]] = {}
    for venue, markets in tree["venues"].items():
        if venue == "seed":
            continue
        for m in markets["markets"]:
            if venue == "kalshi":
                books[m["ticker"]] = (m.get("book", {}).get("bids", []), m.get("book", {}).get("asks", []))
            else:
                books[m["yes_token"]] = (m.get("yes_book", {}).get("bids", []), m.get("yes_book", {}).get("asks", []))
                books[m["no_token"]] = (m.get("no_book", {}).get("bids", []), m.get("no_book", {}).get("asks", []))
    previous = -1
    for event in tree["events"]:
        assert event["at_ms"] >= previous
        previous = event["at_ms"]
        books[event["market"]] = (event["bids"], event["asks"])
    yes_of = {
        m["condition_id"]: (m["yes_token"], m["no_token"])
        for m in tree["venues"].get("polymarket", {}).get("markets", [])
    }
    for market, (bid, ask) in last.items():
        venue, ident = market.split(":", 1)
        if venue == "kalshi":
            bids, asks = books[ident]
        else:
            yes, no = yes_of[ident]
            bids, asks = books[yes]
            no_bids, no_asks = books[no]
            assert Decimal(no_bids[0][0]) == 1 - Decimal(asks[0][0]) and Decimal(no_asks[0][0]) == 1 - Decimal(
                bids[0][0]
            )
        assert (int(Decimal(bids[0][0]) * 1_000_000), int(Decimal(asks[0][0]) * 1_000_000)) == (bid, ask)


# -- links ----------------------------------------------------------------------------------------


def _links_of(tree: dict[str, Any]) -> Iterator[Any]:
    import tomlkit

    document = tomlkit.document()
    document["version"] = 1
    document["link"] = tree["links"]
    yield from parse_links(tomlkit.dumps(document))


@pytest.mark.asyncio
async def test_a_pair_links_minimal_markets_and_the_link_is_current_where_they_are_served() -> None:
    rows = parse_series_csv(SERIES, source="s.csv")
    built = scenario_from_series(rows, name="pair", pairs=[("KXFEDDECISION-24DEC-H0", CONDITION, "inverted")])
    tree = _reread(built.toml())
    (link,) = _links_of(tree)
    assert link.inverted and link.polymarket_condition_id == CONDITION
    kalshi, poly = await served_markets(tree["venues"])
    assert link_is_current(link, kalshi["KXFEDDECISION-24DEC-H0"], poly[CONDITION]) is None


@pytest.mark.asyncio
async def test_a_links_file_passes_through_when_current_and_is_refused_when_stale(tmp_path: Path) -> None:
    metadata: dict[str, Any] = {
        "kalshi": {
            "series": [{"ticker": "KXFEDDECISION", "fee_type": "quadratic"}],
            "events": [{"event_ticker": "KXFEDDECISION-24DEC", "series_ticker": "KXFEDDECISION"}],
            "markets": [
                {
                    "ticker": "KXFEDDECISION-24DEC-H0",
                    "event_ticker": "KXFEDDECISION-24DEC",
                    "rules_primary": "If the Fed holds in December 2024, YES.",
                    "rules_secondary": "Source: the FOMC statement.",
                    "close_time_ms": 1_734_548_100_000,
                }
            ],
        },
        "polymarket": {
            "markets": [
                {
                    "condition_id": CONDITION,
                    "question": "Fed holds in December?",
                    "yes_token": "11",
                    "no_token": "12",
                    "gamma_id": "504586",
                    "description": "Resolves Yes if the FOMC holds.",
                    "end_date_ms": 1_734_480_000_000,
                    "fee_schedule": {"rate": "0.05"},
                }
            ]
        },
    }
    rows = parse_series_csv(SERIES.rsplit("\n", 2)[0] + "\n", source="s.csv")  # without the late token
    # the links file a reviewer would have written from these markets as the venues serve them
    kalshi, poly = await served_markets(
        scenario_from_series(
            rows, name="m", metadata=metadata, pairs=[("KXFEDDECISION-24DEC-H0", "504586", "same")]
        ).tree["venues"]
    )
    from arb.links import Orientation, SettlementRisk, approve_link, link_from_markets

    reviewed = link_from_markets(
        kalshi["KXFEDDECISION-24DEC-H0"],
        poly[CONDITION],
        orientation=Orientation.SAME,
        settlement_risk=SettlementRisk.MINOR_DIFFERENCES,
        approved_by="reviewer",
        approved_at=dt.date(2024, 11, 30),
    )
    approve_link(tmp_path / "links.toml", reviewed)
    links_text = (tmp_path / "links.toml").read_text()
    built = scenario_from_series(rows, name="m", metadata=metadata, links_text=links_text, links_source="l.toml")
    assert built.tree["links"][0]["settlement_risk"] == "minor_differences"
    assert built.tree["links"][0]["approved_by"] == "reviewer"
    stale = dict(
        metadata, kalshi=dict(metadata["kalshi"], markets=[dict(metadata["kalshi"]["markets"][0], rules_secondary="")])
    )
    with pytest.raises(ConfigError, match=r"l\.toml: link\[0\].*stale.*the Kalshi rules text"):
        scenario_from_series(rows, name="m", metadata=stale, links_text=links_text, links_source="l.toml")
    with pytest.raises(ConfigError, match="does not list"):
        scenario_from_series(rows[:1], name="m", links_text=links_text, links_source="l.toml")
    with pytest.raises(ConfigError, match="books come from the series"):
        scenario_from_series(
            rows,
            name="m",
            metadata={"polymarket": {"markets": [dict(metadata["polymarket"]["markets"][0], yes_book={})]}},
        )


# -- the venues' history shapes ---------------------------------------------------------------------


def test_kalshi_historical_candlesticks_fixture() -> None:
    doc = orjson.loads(
        (FIXTURES / "kalshi" / "format_examples" / "nautilus_pr3659_http_candlesticks.json").read_bytes()
    )
    with pytest.raises(ConfigError, match="names no ticker"):
        kalshi_candles_to_rows(doc)
    rows = kalshi_candles_to_rows(doc, "KXFEDDECISION-25MAR-H0")
    assert rows == [
        {"timestamp": "1741046400", "market": "kalshi:KXFEDDECISION-25MAR-H0", "bid": "0.42", "ask": "0.45"}
    ]


def _candle(end: int, bid: str | None, ask: str | None) -> dict[str, Any]:
    def dist(close: str | None) -> dict[str, Any] | None:
        if close is None:
            return None
        return {"open_dollars": close, "low_dollars": close, "high_dollars": close, "close_dollars": close}

    return {
        "end_period_ts": end,
        "yes_bid": dist(bid),
        "yes_ask": dist(ask),
        "price": {"close_dollars": None},
        "volume_fp": "0.00",
        "open_interest_fp": "10.00",
    }


def test_kalshi_candlesticks_current_and_batch_shapes() -> None:
    doc = {
        "ticker": "KXETHD-26FEB1317-T1539.99",
        "candlesticks": [
            _candle(1_770_998_400, "0.3100", "0.3300"),
            _candle(1_771_002_000, None, "0.3300"),  # no bid quoted that hour
            _candle(1_771_005_600, "0.0000", "0.3300"),
            _candle(1_771_009_200, "0.3200", "1.0000"),
            _candle(1_771_012_800, "0.3250", "0.3400"),
        ],
    }
    rows = kalshi_candles_to_rows(doc)
    assert [(r["timestamp"], r["bid"], r["ask"]) for r in rows] == [
        ("1770998400", "0.31", "0.33"),
        ("1771012800", "0.325", "0.34"),
    ]
    with pytest.raises(ConfigError, match="not 'OTHER'"):
        kalshi_candles_to_rows(doc, "OTHER")
    batch = {"markets": [{"market_ticker": "A-B-C", "candlesticks": doc["candlesticks"][:1]}]}
    assert kalshi_candles_to_rows(batch)[0]["market"] == "kalshi:A-B-C"
    bad = {"ticker": "A", "candlesticks": [_candle(1, "0.1", "0.2") | {"yes_bid": {"close_dollars": 0.1}}]}
    with pytest.raises(ConfigError, match=r"candlesticks\[0\]\.yes_bid\.close_dollars: must be dollar text"):
        kalshi_candles_to_rows(bad)
    with pytest.raises(ConfigError, match="end_period_ts"):
        kalshi_candles_to_rows({"ticker": "A", "candlesticks": [{"end_period_ts": "x"}]})


def test_polymarket_prices_history_gets_a_spread_on_the_tick() -> None:
    doc = {
        "history": [{"t": 1_733_047_200, "p": 0.505}, {"t": 1_733_047_260, "p": 0.5}, {"t": 1_733_047_320, "p": 0.004}]
    }
    rows = polymarket_history_to_rows(doc, TOKEN)
    assert [(r["timestamp"], r["bid"], r["ask"]) for r in rows] == [
        ("1733047200", "0.49", "0.52"),
        ("1733047260", "0.49", "0.51"),
    ]  # 0.004 - 0.01 leaves (0, 1): skipped
    fine = polymarket_history_to_rows(doc, TOKEN, half_spread=Decimal("0.002"), tick=Decimal("0.001"))
    assert (fine[0]["bid"], fine[0]["ask"]) == ("0.503", "0.507")
    for bad, words in [
        ({"history": [{"t": 1, "p": "nan"}]}, "NaN"),
        ({"history": [{"t": 1, "p": 1.5}]}, "within"),
        ({"prices": []}, "history list"),
        ({"history": [{"t": 1, "p": 0.5, "x": 1}]}, "{t, p}"),
    ]:
        with pytest.raises(ConfigError, match=words):
            polymarket_history_to_rows(bad, TOKEN)


def test_history_to_csv_to_scenario(tmp_path: Path) -> None:
    kalshi = tmp_path / "kalshi.json"
    kalshi.write_bytes(
        orjson.dumps(
            {
                "ticker": "KXFEDDECISION-24DEC-H0",
                "candlesticks": [
                    _candle(1_733_047_200, "0.4200", "0.4500"),
                    _candle(1_733_050_800, "0.4400", "0.4600"),
                ],
            }
        )
    )
    poly = tmp_path / "poly.json"
    poly.write_bytes(orjson.dumps({"history": [{"t": 1_733_047_200, "p": 0.565}, {"t": 1_733_050_800, "p": 0.55}]}))
    csv_path, out = tmp_path / "series.csv", tmp_path / "backtest.toml"
    assert (
        main(
            [
                "scenario",
                "series-csv",
                "--kalshi",
                str(kalshi),
                "--polymarket",
                f"{TOKEN}={poly}",
                "--out",
                str(csv_path),
            ]
        )
        == 0
    )
    assert csv_path.read_text().splitlines() == [
        "timestamp,market,bid,ask",
        "1733047200,kalshi:KXFEDDECISION-24DEC-H0,0.42,0.45",
        f"1733047200,polymarket:{TOKEN},0.55,0.58",
        "1733050800,kalshi:KXFEDDECISION-24DEC-H0,0.44,0.46",
        f"1733050800,polymarket:{TOKEN},0.54,0.56",
    ]
    code = main(
        [
            "scenario",
            "from-series",
            str(csv_path),
            "--out",
            str(out),
            "--pair",
            f"KXFEDDECISION-24DEC-H0={TOKEN}:inverted",
        ]
    )
    assert code == 0
    tree = _reread(out.read_text())
    assert tree["scenario"]["name"] == "series" and len(tree["events"]) == 3 and len(tree["links"]) == 1
    assert series_csv_text([]) == "timestamp,market,bid,ask\n"


def test_the_command_exits_2_naming_the_bad_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + GOOD + "1733047201,kalshi:A-B-C,0.50,0.45\n")
    with pytest.raises(SystemExit) as caught:
        main(["scenario", "from-series", str(bad), "--out", str(tmp_path / "x.toml")])
    assert caught.value.code == 2
    assert f"{bad}:3: crossed quote" in capsys.readouterr().err
    assert not (tmp_path / "x.toml").exists()


@pytest.mark.asyncio
async def test_metadata_from_the_venues_saved_files_keeps_approved_links_current(tmp_path: Path) -> None:
    """Real captures: Kalshi GET /markets (multivariate parlays, deci-cent, fractional) and Gamma
    markets with their taker fee schedule. A link approved from those files (as `arb links approve`
    does) passes through and is current where simulators built from the scenario serve the markets."""
    from arb.links import Orientation, SettlementRisk, approve_link, link_from_markets
    from arb.venues.metadata_files import load_kalshi_markets_file, load_polymarket_markets_file

    kalshi_file = FIXTURES / "kalshi" / "rest" / "drmanhattan_markets_mve_2026-06.json"
    gamma_file = FIXTURES / "polymarket" / "rest" / "drmanhattan_gamma_markets_feeSchedule_2026.json"
    k_market = load_kalshi_markets_file(kalshi_file)[0]
    p_market = load_polymarket_markets_file(gamma_file)[0]
    assert p_market.token_ids is not None
    approve_link(
        tmp_path / "links.toml",
        link_from_markets(
            k_market,
            p_market,
            orientation=Orientation.INVERTED,
            settlement_risk=SettlementRisk.MINOR_DIFFERENCES,
            approved_by="reviewer",
            approved_at=dt.date(2026, 6, 1),
        ),
    )
    csv_path = tmp_path / "s.csv"
    csv_path.write_text(
        "timestamp,market,bid,ask,bid_size\n"
        f"2026-06-01T12:00:00Z,kalshi:{k_market.market_id},0.123,0.131,2.5\n"
        f"2026-06-01T12:00:00Z,polymarket:{p_market.token_ids[1]},0.86,0.88,\n"
        f"2026-06-01T12:05:00Z,kalshi:{k_market.market_id},0.125,0.131,\n"
    )
    out = tmp_path / "b.toml"
    args = [
        "scenario",
        "from-series",
        str(csv_path),
        "--out",
        str(out),
        "--kalshi-markets",
        str(kalshi_file),
        "--polymarket-markets",
        str(gamma_file),
        "--links",
        str(tmp_path / "links.toml"),
    ]
    assert main(args) == 0
    tree = _reread(out.read_text())
    scenario = parse_scenario(out.read_text(), str(out))
    (link,) = scenario.links
    assert link.approved_by == "reviewer" and link.inverted
    assert len(tree["venues"]["kalshi"]["markets"]) == 5 and len(tree["venues"]["polymarket"]["markets"]) == 5
    served_k, served_p = await served_markets(tree["venues"])
    assert link_is_current(link, served_k[k_market.market_id], served_p[p_market.market_id]) is None
    again = served_p[p_market.market_id]
    assert again.taker_fee is not None and again.taker_fee.coefficient == Decimal("0.05")
    assert served_k[k_market.market_id].price_bands == k_market.price_bands  # deci-cent
    assert served_k[k_market.market_id].strike == k_market.strike  # the parlay's legs
    # the NO token was quoted: its book is the row, the YES token's the mirror
    (poly,) = [m for m in tree["venues"]["polymarket"]["markets"] if m["condition_id"] == p_market.market_id]
    assert poly["no_book"] == {"bids": [["0.86", "100"]], "asks": [["0.88", "100"]]}
    assert poly["yes_book"] == {"bids": [["0.12", "100"]], "asks": [["0.14", "100"]]}


BACKTEST = f"""timestamp,market,bid,ask
2024-12-01T10:00:00Z,kalshi:KXDEMO-24DEC-Y,0.48,0.50
2024-12-01T10:00:00Z,polymarket:{CONDITION},0.48,0.51
2024-12-01T10:01:00Z,polymarket:{CONDITION},0.58,0.60
2024-12-01T10:02:00Z,polymarket:{CONDITION},0.48,0.51
2024-12-01T10:03:00Z,kalshi:KXDEMO-24DEC-Y,0.47,0.49
"""


def test_a_backtest_replays_to_the_same_bytes_and_trades_the_one_opening(tmp_path: Path) -> None:
    """Coherent quotes, then one minute where Kalshi YES at 0.50 and Polymarket NO at 0.42 cost
    less than $1 with Kalshi's fee, then coherent again: the replay trades that row once (Kalshi
    YES + Polymarket NO), at its virtual time, and two replays give the same bytes."""
    from arb.replay.runner import run_scenario

    rows = parse_series_csv(BACKTEST, source="bt.csv")
    built = scenario_from_series(rows, name="bt", source="bt.csv", pairs=[("KXDEMO-24DEC-Y", CONDITION, "same")])
    path = tmp_path / "bt.toml"
    path.write_text(built.toml())
    first, second = run_scenario(path), run_scenario(path)
    assert first.passed and first.to_json_bytes() == second.to_json_bytes()
    document = orjson.loads(first.to_json_bytes())
    (plan,) = document["plans"]
    assert (plan["t_ms"], plan["kind"], plan["status"]) == (1000, "pair", "complete")  # the 10:01 row
    legs = {(leg["venue"], leg["side"], leg["action"], leg["limit_price"]) for leg in plan["legs"]}
    assert legs == {("kalshi", "yes", "buy", "0.5"), ("polymarket", "no", "buy", "0.42")}
    assert Decimal(plan["guaranteed_profit_usd"]) > 0
    assert {(o["venue"], o["status"]) for o in document["orders"]} == {("kalshi", "filled"), ("polymarket", "filled")}


@given(st.integers(min_value=100_000_000_000, max_value=4_102_444_800_000))  # 1973 .. 2100, in ms
def test_every_timestamp_form_of_one_instant_reads_the_same(ms: int) -> None:
    from arb.links import format_close_time

    seconds, millis = divmod(ms, 1000)
    forms = [str(ms), f"{seconds}.{millis:03d}", format_close_time(ms), format_close_time(ms).replace("Z", "+00:00")]
    if not millis:
        forms.append(str(seconds))
    assert {parse_timestamp_ms(form, "t") for form in forms} == {ms}


QUIET_KALSHI = f"""timestamp,market,bid,ask
2024-12-01T10:00:00Z,kalshi:KXDEMO-24DEC-Y,0.48,0.50
2024-12-01T10:00:00Z,polymarket:{CONDITION},0.48,0.51
2024-12-01T10:01:00Z,polymarket:{CONDITION},0.47,0.51
2024-12-01T10:02:00Z,polymarket:{CONDITION},0.48,0.51
2024-12-01T10:03:00Z,polymarket:{CONDITION},0.47,0.51
2024-12-01T10:04:00Z,polymarket:{CONDITION},0.58,0.60
2024-12-01T10:05:00Z,polymarket:{CONDITION},0.48,0.51
"""


def test_a_quote_holds_until_the_next_row_however_long_the_gap(tmp_path: Path) -> None:
    """History says the Kalshi quote of 10:00 stood all along; at the opening (10:04, 4 s of virtual
    time later) its book has had no change for longer than the risk gates' default age limit
    (2 s). The scenario raises the limits to the longest time a market goes without a row, so the
    opening trades (before, every plan on it was refused as stale)."""
    from arb.replay.runner import run_scenario

    rows = parse_series_csv(QUIET_KALSHI, source="q.csv")
    built = scenario_from_series(rows, name="quiet", pairs=[("KXDEMO-24DEC-Y", CONDITION, "same")], margin_ms=2000)
    assert built.tree["config"]["risk"]["max_book_age_ms"] == 7000 + 1000  # Kalshi: no row from 0 to the end (7 s)
    path = tmp_path / "quiet.toml"
    path.write_text(built.toml())
    document = orjson.loads(run_scenario(path).to_json_bytes())
    assert [(p["t_ms"], p["status"]) for p in document["plans"]] == [(4000, "complete")]
