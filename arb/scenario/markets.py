"""The default scenario's markets: what both simulated venues list, their fair values, the quotes the
background market makers keep around them, and the arbitrage openings the script cycles through.

Sources (arb/scenario/data/README.md names each file's origin and licence):
- FOMC 2024 (six meetings): Kalshi events of five decision buckets (series FEDDECISION and
  KXFEDDECISION, curated exhaustive in `exhaustive_series.toml`) and Polymarket negRisk events of four
  buckets, with the market ids, questions, tickers, rules and close times of the project's FOMC
  fixtures (derived from a hand-verified public list of pairs). The December meeting is linked across
  the venues (a component mixing both groups and three links); the other meetings stand alone.
- "... before GTA VI?" (five captured Polymarket Gamma markets of 2026, with their fee schedule,
  descriptions and token ids), with Kalshi twins written for the scenario (series KXGTAVI): two
  linked the same way (pairs), two inverted (the Kalshi market is the negation), one unlinked.
- Ether above a strike (captured Kalshi ticker frames of KXETHD, February 2026): the tickers name the
  strikes; the scenario lists them as `greater` strike markets, so each event is an implication ladder.
- Kalshi multivariate parlays (two captured KXMVESPORTSMULTIGAMEEXTENDED markets with their legs in
  `custom_strike`): the parlay plus its leg markets (written for the scenario, one per leg) form a
  conjunction.

Fair values are coherent (some joint distribution has them as marginals): near the captured quotes
where a capture has them, adjusted where the captured snapshot was itself incoherent (quotes of
different moments). Every market quotes one cent either side of its fair value, two levels deep, so
at rest no component holds a riskless basket even before fees (the fair values are a witness).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from arb.domain import Venue
from arb.errors import ConfigError
from arb.fixed import SCALE
from arb.ops.view import OpportunityKind

__all__ = [
    "CENT",
    "KALSHI_ACCOUNT_BALANCE_USD",
    "Catalogue",
    "Opening",
    "QuoteMove",
    "ScenarioMarket",
    "data_text",
    "scenario_catalogue",
]

CENT = 10_000  # micro-USD
KALSHI_ACCOUNT_BALANCE_USD = 10_000
_DATA = "arb.scenario.data"


def data_text(name: str) -> str:
    """A file shipped in arb/scenario/data (package data: found from a wheel or an editable install)."""
    try:
        return resources.files(_DATA).joinpath(name).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise ConfigError(f"scenario data file {name!r} is missing from the arb package ({exc})") from None


def _json(name: str) -> Any:
    return json.loads(data_text(name))


def _ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class ScenarioMarket:
    """One listed market. book_ids: the books its quotes live in (Kalshi: the ticker; Polymarket: the
    YES then the NO token). fair_micro: its YES fair value; tick_micro: its price grid."""

    venue: Venue
    market_id: str
    book_ids: tuple[str, ...]
    fair_micro: int
    tick_micro: int
    lot_micro: int


@dataclass(frozen=True, slots=True)
class QuoteMove:
    """Quote `market_id` around `fair_micro` instead of its fair value (best ask size: the opening's)."""

    venue: Venue
    market_id: str
    fair_micro: int


@dataclass(frozen=True, slots=True)
class Opening:
    """An arbitrage of `kind` on the component holding `anchor` ((venue, market id)): the quote moves
    that open it (the close puts the fair quotes back)."""

    kind: OpportunityKind
    name: str
    anchor: tuple[Venue, str]
    moves: tuple[QuoteMove, ...]


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The scenario as plain data: `spec` is a simulator spec tree (`SimSpec.from_dict` input) without
    accounts; `markets` by (venue, market id); `openings` in the order the script cycles them."""

    spec: Mapping[str, Any]
    markets: Mapping[tuple[Venue, str], ScenarioMarket]
    openings: tuple[Opening, ...]
    # the curated links the scenario ships: (kalshi ticker, polymarket condition id, inverted)
    link_pairs: tuple[tuple[str, str, bool], ...]


# -- FOMC 2024 -----------------------------------------------------------------------------------------

# The decision each meeting took (the favourite) and the runner-up, as Kalshi bucket suffixes.
_FOMC_FAVOURITES = {
    "24MAY": ("H0", "C25"),
    "24JUN": ("H0", "C25"),
    "24JUL": ("H0", "C25"),
    "24SEP": ("C26", "C25"),
    "24NOV": ("C25", "H0"),
    "24DEC": ("C25", "H0"),
}
_POLY_BUCKETS = {"50+ bps decrease": ("C26",), "25 bps decrease": ("C25",), "No change": ("H0",)}
_POLY_REST = ("H25", "H26")  # "25+ bps increase" = Kalshi's hike 25 or hike more
_LINKED_MEETING = "24DEC"


def _fomc_fairs(meeting: str) -> dict[str, int]:
    favourite, runner_up = _FOMC_FAVOURITES[meeting]
    fairs = dict.fromkeys(("C26", "C25", "H0", "H25", "H26"), 3 * CENT)
    fairs[favourite], fairs[runner_up] = 81 * CENT, 10 * CENT
    return fairs


def _meeting_of(event_ticker: str) -> str:
    return event_ticker.rsplit("-", 1)[1]


def _fomc(spec: dict[str, Any], markets: dict[tuple[Venue, str], ScenarioMarket]) -> list[tuple[str, str, bool]]:
    series = _json("fomc_2024_kalshi_series.json")["series"]
    for s in series:
        spec["kalshi"]["series"].append(
            {"ticker": s["ticker"], "title": s["title"], "fee_type": s["fee_type"], "fee_multiplier": "1"}
        )
    kalshi_by_meeting: dict[str, dict[str, str]] = {}
    for event in _json("fomc_2024_kalshi_events.json")["events"]:
        meeting = _meeting_of(event["event_ticker"])
        fairs = _fomc_fairs(meeting)
        spec["kalshi"]["events"].append(
            {
                "event_ticker": event["event_ticker"],
                "series_ticker": event["series_ticker"],
                "title": event["title"],
                "mutually_exclusive": event["mutually_exclusive"],
            }
        )
        for m in event["markets"]:
            bucket = m["ticker"].rsplit("-", 1)[1]
            kalshi_by_meeting.setdefault(meeting, {})[bucket] = m["ticker"]
            _kalshi_market(
                spec,
                markets,
                {
                    "ticker": m["ticker"],
                    "event_ticker": m["event_ticker"],
                    "title": m["title"],
                    "yes_sub_title": m["yes_sub_title"],
                    "rules_primary": m["rules_primary"],
                    "rules_secondary": m["rules_secondary"],
                    "open_time_ms": _ms(m["open_time"]),
                    "close_time_ms": _ms(m["close_time"]),
                },
                fairs[bucket],
            )
    links: list[tuple[str, str, bool]] = []
    gamma_to_condition: dict[str, str] = {}
    for event in _json("fomc_2024_polymarket_events.json"):
        meeting = next(
            key for key in _FOMC_FAVOURITES if _MONTHS[key[2:]] in event["slug"] and key[:2] in event["slug"]
        )
        fairs = _fomc_fairs(meeting)
        for m in event["markets"]:
            buckets = _POLY_BUCKETS.get(m["groupItemTitle"], _POLY_REST)
            gamma_to_condition[m["id"]] = m["conditionId"]
            _polymarket_market(spec, markets, m, event_id=event["id"], fair=sum(fairs[b] for b in buckets))
    for pair in _json("fomc_2024_expected_pairs.json")["pairs"]:
        if _meeting_of(pair["kalshi"].rsplit("-", 1)[0]) == _LINKED_MEETING:
            links.append((pair["kalshi"], gamma_to_condition[pair["polymarket"]], pair["orientation"] == "inverted"))
    return links


_MONTHS = {"MAY": "may", "JUN": "june", "JUL": "july", "SEP": "september", "NOV": "november", "DEC": "december"}


# -- "before GTA VI" ------------------------------------------------------------------------------------

# Polymarket Gamma id -> (Kalshi twin ticker suffix, twin title, inverted, twin rules); None: unlinked.
_GTA_TWINS: dict[str, tuple[str, str, bool, str] | None] = {
    "540817": (
        "RIHANNA",
        "Will Rihanna release a new album before GTA VI?",
        False,
        "If Rihanna officially releases a new album before Grand Theft Auto VI is officially released in the US, "
        "then the market resolves to Yes.",
    ),
    "540818": (
        "CARTI",
        "Will Playboi Carti release a new album before GTA VI?",
        False,
        "If Playboi Carti officially releases a new album before Grand Theft Auto VI is officially released in "
        "the US, then the market resolves to Yes.",
    ),
    "540819": None,
    "540820": (
        "TRUMPSTAYS",
        "Will Trump still be President when GTA VI is released?",
        True,
        "If Donald Trump is still President of the United States when Grand Theft Auto VI is officially released "
        "in the US, then the market resolves to Yes.",
    ),
    "540843": (
        "NOTAIWAN",
        "Will GTA VI be released before any Chinese invasion of Taiwan?",
        True,
        "If Grand Theft Auto VI is officially released in the US before China invades Taiwan, then the market "
        "resolves to Yes.",
    ),
}
_GTA_EVENT = "KXGTAVI-26JUL31"
_GTA_SECONDARY = (
    "If neither event occurs by July 31, 2026, 11:59 PM ET, the market settles at the midpoint, like its "
    "Polymarket counterpart's 50-50 resolution."
)


def _gta(spec: dict[str, Any], markets: dict[tuple[Venue, str], ScenarioMarket]) -> list[tuple[str, str, bool]]:
    spec["kalshi"]["series"].append({"ticker": "KXGTAVI", "title": "Before GTA VI", "fee_type": "quadratic"})
    spec["kalshi"]["events"].append(
        {"event_ticker": _GTA_EVENT, "series_ticker": "KXGTAVI", "title": "Before GTA VI", "mutually_exclusive": False}
    )
    links = []
    for m in _json("drmanhattan_gamma_markets_feeSchedule_2026.json"):
        # the captured best bid and ask, their midpoint floored onto the cent grid
        fair = (round(m["bestBid"] * 100) + round(m["bestAsk"] * 100)) // 2 * CENT
        _polymarket_market(spec, markets, m, event_id=str(m["events"][0]["id"]), fair=fair)
        twin = _GTA_TWINS[m["id"]]
        if twin is None:
            continue
        suffix, title, inverted, rules = twin
        ticker = f"{_GTA_EVENT}-{suffix}"
        _kalshi_market(
            spec,
            markets,
            {
                "ticker": ticker,
                "event_ticker": _GTA_EVENT,
                "title": title,
                "yes_sub_title": title,
                "rules_primary": rules,
                "rules_secondary": _GTA_SECONDARY,
                "open_time_ms": _ms(m["startDate"]) // 1000 * 1000,
                "close_time_ms": _ms(m["endDate"]),
            },
            SCALE - fair if inverted else fair,
        )
        links.append((ticker, m["conditionId"], inverted))
    return links


# -- Ether ladders ---------------------------------------------------------------------------------------

# Fair values near the captured quotes (KXETHD-26FEB1317-T1899.99 was quoted 0.80/0.86; the lower
# strikes at 0.98/1.00 and 0.18/1.00), made monotone in the strike.
_ETH_FAIRS = {
    "KXETHD-26FEB1317-T1539.99": 97 * CENT,
    "KXETHD-26FEB1317-T1579.99": 94 * CENT,
    "KXETHD-26FEB1317-T1619.99": 91 * CENT,
    "KXETHD-26FEB1317-T1899.99": 83 * CENT,
    "KXETHD-26FEB1217-T1779.99": 96 * CENT,
    "KXETHD-26FEB1217-T1819.99": 93 * CENT,
}
_ETH_CLOSE = {"26FEB1217": "2026-02-12T22:00:00Z", "26FEB1317": "2026-02-13T22:00:00Z"}


def _eth(spec: dict[str, Any], markets: dict[tuple[Venue, str], ScenarioMarket]) -> None:
    captured = {json.loads(line)["msg"]["market_ticker"] for line in data_text("ssmd_ticker_2026-02-12.jsonl").split()}
    spec["kalshi"]["series"].append({"ticker": "KXETHD", "title": "Ethereum price above", "fee_type": "quadratic"})
    for event in sorted({t.rsplit("-", 1)[0] for t in _ETH_FAIRS}):
        day = event.split("-")[1]
        spec["kalshi"]["events"].append(
            {"event_ticker": event, "series_ticker": "KXETHD", "title": f"Ethereum price on {day}"}
        )
    for ticker, fair in _ETH_FAIRS.items():
        if ticker not in captured:
            raise ConfigError(f"scenario ladder market {ticker} is not in the captured ticker frames")
        event, strike = ticker.rsplit("-", 1)
        floor = strike.removeprefix("T")
        day = event.split("-")[1]
        _kalshi_market(
            spec,
            markets,
            {
                "ticker": ticker,
                "event_ticker": event,
                "title": f"Ethereum price on {day} at 5pm EST?",
                "yes_sub_title": f"${floor} or above",
                "rules_primary": f"If the Ethereum price is above {floor} at 5pm EST on {day}, then the market "
                "resolves to Yes.",
                "open_time_ms": _ms(_ETH_CLOSE[day]) - 86_400_000,
                "close_time_ms": _ms(_ETH_CLOSE[day]),
                "strike_type": "greater",
                "floor_strike": floor,
            },
            fair,
        )


# -- parlays ------------------------------------------------------------------------------------------------

# Captured parlay ticker -> its legs' fair values (in leg order) and the parlay's (at most the
# smallest leg, at least the legs' sum minus their count plus one: some joint distribution exists).
_PARLAYS = {
    "KXMVESPORTSMULTIGAMEEXTENDED-S202668B6522D873-0DF0229E9FB": ((25 * CENT, 22 * CENT, 20 * CENT), 2 * CENT),
    "KXMVESPORTSMULTIGAMEEXTENDED-S2026580AE0009CF-1C1B8E35250": (
        (62 * CENT, 58 * CENT, 66 * CENT, 60 * CENT),
        13 * CENT,
    ),
}


def _parlays(spec: dict[str, Any], markets: dict[tuple[Venue, str], ScenarioMarket]) -> None:
    captured = {m["ticker"]: m for m in _json("drmanhattan_markets_mve_2026-06.json")}
    series_seen: set[str] = set()
    events_seen: set[str] = set()
    for ticker, (leg_fairs, fair) in _PARLAYS.items():
        m = captured[ticker]
        series = m["mve_collection_ticker"].rsplit("-", 1)[0]
        if series not in series_seen:
            series_seen.add(series)
            spec["kalshi"]["series"].append({"ticker": series, "title": "Multi-game parlays", "fee_type": "quadratic"})
        spec["kalshi"]["events"].append({"event_ticker": m["event_ticker"], "series_ticker": series, "title": "Parlay"})
        legs = m["mve_selected_legs"]
        if len(legs) != len(leg_fairs):
            raise ConfigError(f"scenario parlay {ticker}: {len(legs)} captured legs, {len(leg_fairs)} fair values")
        for leg, leg_fair in zip(legs, leg_fairs, strict=True):
            leg_series = leg["event_ticker"].split("-", 1)[0]
            if leg_series not in series_seen:
                series_seen.add(leg_series)
                spec["kalshi"]["series"].append({"ticker": leg_series, "title": leg_series, "fee_type": "quadratic"})
            if leg["event_ticker"] not in events_seen:
                events_seen.add(leg["event_ticker"])
                spec["kalshi"]["events"].append(
                    {"event_ticker": leg["event_ticker"], "series_ticker": leg_series, "title": leg["event_ticker"]}
                )
            player = m["title"].split(",")[legs.index(leg)].removeprefix("yes ")
            _kalshi_market(
                spec,
                markets,
                {
                    "ticker": leg["market_ticker"],
                    "event_ticker": leg["event_ticker"],
                    "title": player,
                    "yes_sub_title": player,
                    "rules_primary": f"If {player} happens in game {leg['event_ticker']}, then the market resolves to Yes.",
                    "open_time_ms": _ms(m["open_time"]),
                    "close_time_ms": _ms(m["close_time"]),
                },
                leg_fair,
            )
        _kalshi_market(
            spec,
            markets,
            {
                "ticker": ticker,
                "event_ticker": m["event_ticker"],
                "title": m["title"],
                "yes_sub_title": m["yes_sub_title"],
                "rules_primary": m["rules_primary"],
                "open_time_ms": _ms(m["open_time"]),
                "close_time_ms": _ms(m["close_time"]),
                "price_level_structure": m["price_level_structure"],
                "fractional": m["fractional_trading_enabled"],
                "strike_type": m["strike_type"],
                "custom_strike": dict(m["custom_strike"]),
            },
            fair,
        )


# -- assembling -------------------------------------------------------------------------------------------

_LOT = {Venue.KALSHI: SCALE, Venue.POLYMARKET: 10_000}


def _kalshi_market(
    spec: dict[str, Any], markets: dict[tuple[Venue, str], ScenarioMarket], fields: dict[str, Any], fair: int
) -> None:
    fields = {"status": "active", **fields}
    spec["kalshi"]["markets"].append(fields)
    tick = 1_000 if fields.get("price_level_structure") == "deci_cent" else CENT
    lot = 10_000 if fields.get("fractional") else SCALE
    markets[(Venue.KALSHI, fields["ticker"])] = ScenarioMarket(
        Venue.KALSHI, fields["ticker"], (fields["ticker"],), fair, tick, lot
    )


def _polymarket_market(
    spec: dict[str, Any],
    markets: dict[tuple[Venue, str], ScenarioMarket],
    m: Mapping[str, Any],
    *,
    event_id: str,
    fair: int,
) -> None:
    yes, no = json.loads(m["clobTokenIds"])
    tick = round(m["orderPriceMinTickSize"] * SCALE)
    fields: dict[str, Any] = {
        "condition_id": m["conditionId"],
        "question": m["question"],
        "yes_token": yes,
        "no_token": no,
        "tick": str(m["orderPriceMinTickSize"]),
        "min_order_size": str(m["orderMinSize"]),
        "neg_risk": m["negRisk"],
        "event_id": event_id,
        "gamma_id": m["id"],
        "group_item_title": m.get("groupItemTitle", ""),
        "yes_mid": str(fair / SCALE),
        "slug": m["slug"],
        "description": m["description"],
        "end_date_ms": _ms(m["endDate"]),
    }
    schedule = m.get("feeSchedule")
    if m.get("feesEnabled") and schedule:
        fields["fee_schedule"] = {"rate": str(schedule["rate"]), "exponent": schedule["exponent"]}
    spec["polymarket"]["markets"].append(fields)
    markets[(Venue.POLYMARKET, m["conditionId"])] = ScenarioMarket(
        Venue.POLYMARKET, m["conditionId"], (yes, no), fair, tick, _LOT[Venue.POLYMARKET]
    )


def _openings(
    markets: Mapping[tuple[Venue, str], ScenarioMarket], slugs: Mapping[str, tuple[str, str]]
) -> tuple[Opening, ...]:
    """One opening per kind, in the order the script cycles them; each moves one market's quotes far
    enough that the riskless basket clears both venues' taker fees by several cents a contract."""
    k, p = Venue.KALSHI, Venue.POLYMARKET

    def shifted(venue: Venue, market_id: str, cents: int) -> QuoteMove:
        market = markets[(venue, market_id)]
        return QuoteMove(venue, market_id, market.fair_micro + cents * CENT)

    poly_fomc_jun = _poly_condition(slugs, "fed-interest-rates-june-2024", "No change")
    taiwan = _poly_condition(slugs, "will-china-invades-taiwan-before-gta-vi", None)
    carti = _poly_condition(slugs, "new-playboi-carti-album-before-gta-vi", None)
    return (
        # pair: Kalshi sells "Rihanna album first" 10 cents under Polymarket (buy Kalshi YES + Polymarket NO)
        Opening(
            OpportunityKind.PAIR,
            "pair: Rihanna album before GTA VI",
            (k, f"{_GTA_EVENT}-RIHANNA"),
            (shifted(k, f"{_GTA_EVENT}-RIHANNA", -10),),
        ),
        # inverted: Polymarket's "China invades Taiwan first" drops 10 cents (buy both YES)
        Opening(OpportunityKind.INVERTED, "inverted: Taiwan before GTA VI", (p, taiwan), (shifted(p, taiwan, -10),)),
        # exactly-one: Polymarket's June "No change" drops 10 cents (the four YES asks sum to $0.94)
        Opening(
            OpportunityKind.EXACTLY_ONE,
            "exactly-one: FOMC June 2024 on Polymarket",
            (p, poly_fomc_jun),
            (shifted(p, poly_fomc_jun, -10),),
        ),
        # ladder: "above 1539.99" drops under "above 1579.99"'s bid (buy the lower strike's YES + the higher's NO)
        Opening(
            OpportunityKind.LADDER,
            "ladder: Ether above 1539.99 / 1579.99",
            (k, "KXETHD-26FEB1317-T1539.99"),
            (shifted(k, "KXETHD-26FEB1317-T1539.99", -12),),
        ),
        # parlay: the parlay's bid rises above a leg's ask (buy the parlay's NO + that leg's YES)
        Opening(
            OpportunityKind.PARLAY,
            "parlay: three home runs",
            (k, "KXMVESPORTSMULTIGAMEEXTENDED-S202668B6522D873-0DF0229E9FB"),
            (shifted(k, "KXMVESPORTSMULTIGAMEEXTENDED-S202668B6522D873-0DF0229E9FB", 26),),
        ),
        # second round, other venues and sets: exactly-one on Kalshi (fees), ladder and parlay twins
        Opening(
            OpportunityKind.PAIR,
            "pair: Playboi Carti album before GTA VI",
            (p, carti),
            (shifted(p, carti, 10),),
        ),
        Opening(
            OpportunityKind.INVERTED,
            "inverted: Trump still President at GTA VI",
            (k, f"{_GTA_EVENT}-TRUMPSTAYS"),
            (shifted(k, f"{_GTA_EVENT}-TRUMPSTAYS", -10),),
        ),
        Opening(
            OpportunityKind.EXACTLY_ONE,
            "exactly-one: FOMC May 2024 on Kalshi",
            (k, "FEDDECISION-24MAY-H0"),
            (shifted(k, "FEDDECISION-24MAY-H0", -12),),
        ),
        Opening(
            OpportunityKind.LADDER,
            "ladder: Ether above 1779.99 / 1819.99",
            (k, "KXETHD-26FEB1217-T1779.99"),
            (shifted(k, "KXETHD-26FEB1217-T1779.99", -10),),
        ),
        Opening(
            OpportunityKind.PARLAY,
            "parlay: four hits-runs-RBIs",
            (k, "KXMVESPORTSMULTIGAMEEXTENDED-S2026580AE0009CF-1C1B8E35250"),
            (shifted(k, "KXMVESPORTSMULTIGAMEEXTENDED-S2026580AE0009CF-1C1B8E35250", 56),),
        ),
    )


def _poly_condition(slugs: Mapping[str, tuple[str, str]], slug_prefix: str, label: str | None) -> str:
    for cid, (slug, item) in sorted(slugs.items()):
        if slug.startswith(slug_prefix) and (label is None or item == label):
            return cid
    raise ConfigError(f"scenario: no Polymarket market {slug_prefix!r} {label or ''}")


def scenario_catalogue() -> Catalogue:
    """The default scenario, built from the package's data files (deterministic)."""
    spec: dict[str, Any] = {
        "kalshi": {"series": [], "events": [], "markets": []},
        "polymarket": {"markets": []},
    }
    markets: dict[tuple[Venue, str], ScenarioMarket] = {}
    links = _fomc(spec, markets)
    links += _gta(spec, markets)
    _eth(spec, markets)
    _parlays(spec, markets)
    slugs = {m["condition_id"]: (m["slug"], m["group_item_title"]) for m in spec["polymarket"]["markets"]}
    for event in _json("fomc_2024_polymarket_events.json"):
        for m in event["markets"]:
            slugs[m["conditionId"]] = (event["slug"], m["groupItemTitle"])
    _check_fairs(list(markets.values()))
    return Catalogue(spec, markets, _openings(markets, slugs), tuple(links))


def _check_fairs(markets: Sequence[ScenarioMarket]) -> None:
    for market in markets:
        if not 2 * CENT <= market.fair_micro <= SCALE - 2 * CENT or market.fair_micro % market.tick_micro:
            raise ConfigError(f"scenario market {market.market_id}: fair value {market.fair_micro} off its grid")
