"""End to end on the FOMC 2024 fixtures: suggest links, approve them through the CLI, build the market
graph, feed books to the scanner, and size the one forwarded component with the allocator. Checks
the pieces agree with each other: the scanner forwards exactly the meeting whose books hold a
cross-venue arbitrage, and the allocator's plan on it is riskless in every joint outcome, checked
here by brute force in exact arithmetic. And the same path on a Kalshi event of names with no
"Other": exclusive but not exhaustive, so buying every YES is never offered as riskless."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from arb.book import BinaryBook, OrderBook
from arb.cli import main
from arb.domain import BookSnapshot, EventInfo, SeriesInfo, Venue
from arb.exhaustive_series import load_exhaustive_series
from arb.graph import ExclusionKind, GraphConfig, build_graph, contract_id
from arb.links import load_links
from arb.scanner import Scanner
from arb.venues.kalshi import wire as kalshi_wire
from solvers import Action, AllocationProblem, Allocator, AtMostOne, Capital, Side
from tests.fixtures.cross_venue import fomc_2024
from tests.support import semantic_outcomes

FOMC = Path(__file__).parent / "fixtures" / "cross_venue" / "fomc_2024"
CURATED = GraphConfig(
    exhaustive_kalshi_series=load_exhaustive_series(Path(__file__).parent.parent / "config" / "exhaustive_series.toml")
)
K, P = Venue.KALSHI, Venue.POLYMARKET
CENT, CONTRACT = 10_000, 1_000_000

# Coherent YES prices in cents per bucket (Kalshi's five, Polymarket's four: "25+ increase" is
# Kalshi's H25 + H26). Asks sit one cent above, bids one cent below.
KALSHI_CENTS = {"C26": 3, "C25": 20, "H0": 70, "H25": 5, "H26": 2}
POLY_CENTS = {"50+ bps decrease": 3, "25 bps decrease": 20, "No change": 70, "25+ bps increase": 7}
ARB_MEETING = "FEDDECISION-24JUL"


def _kalshi_book(market: str, cents: int) -> BinaryBook:
    ladder = OrderBook(market, market, "kalshi")
    ladder.apply_snapshot(
        BookSnapshot(
            K, market, market, (((cents - 1) * CENT, 500 * CONTRACT),), (((cents + 1) * CENT, 500 * CONTRACT),)
        ),
        0,
    )
    return BinaryBook(market, ladder)


def _poly_book(market: str, yes_ask_cents: int, no_ask_cents: int) -> BinaryBook:
    yes, no = OrderBook(f"{market}-yes", market, "polymarket"), OrderBook(f"{market}-no", market, "polymarket")
    yes.apply_snapshot(BookSnapshot(P, f"{market}-yes", market, (), ((yes_ask_cents * CENT, 500 * CONTRACT),)), 0)
    no.apply_snapshot(BookSnapshot(P, f"{market}-no", market, (), ((no_ask_cents * CENT, 500 * CONTRACT),)), 0)
    return BinaryBook(market, yes, no)


def _books(kalshi_events: list[EventInfo], poly_events: list[EventInfo]) -> dict[tuple[Venue, str], BinaryBook]:
    books: dict[tuple[Venue, str], BinaryBook] = {}
    for event in kalshi_events:
        for market in event.markets:
            cents = KALSHI_CENTS[market.market_id.rsplit("-", 1)[1]]
            if event.event_id == ARB_MEETING and market.market_id.endswith("-H0"):
                cents = 70  # Kalshi still prices a hold at 69/71 ...
            books[(K, market.market_id)] = _kalshi_book(market.market_id, cents)
    for event in poly_events:
        july = "july" in event.markets[0].slug
        for market in event.markets:
            cents = POLY_CENTS[market.subtitle]
            yes_ask, no_ask = cents + 1, 100 - cents + 1
            if july and market.subtitle == "No change":
                yes_ask, no_ask = 61, 41  # ... while Polymarket sells it at 61: YES here + NO there < $1
            if july and market.subtitle == "50+ bps decrease":
                yes_ask = 12  # keeps Polymarket's own group coherent (YES asks sum to $1.02)
            books[(P, market.market_id)] = _poly_book(market.market_id, yes_ask, no_ask)
    return books


def test_fomc_suggest_approve_graph_scan_allocate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kalshi_file, poly_file = FOMC / "kalshi_markets.json", FOMC / "polymarket_markets.json"
    suggested_path, links_path = tmp_path / "pairs.json", tmp_path / "links.toml"
    assert (
        main(
            [
                "links",
                "suggest",
                "--kalshi",
                str(kalshi_file),
                "--polymarket",
                str(poly_file),
                "--json",
                str(suggested_path),
            ]
        )
        == 0
    )
    suggested = [p for p in json.loads(suggested_path.read_text())["pairs"] if p["suggested"]]
    assert len(suggested) == 18
    for pair in suggested:
        argv = [
            "links",
            "approve",
            "--kalshi",
            pair["kalshi"],
            "--polymarket",
            pair["polymarket"],
            "--kalshi-file",
            str(kalshi_file),
            "--polymarket-file",
            str(poly_file),
            "--orientation",
            pair["orientation"],
            "--settlement-risk",
            "identical_rules",
            "--approved-by",
            "pipeline-test",
            "--date",
            "2024-04-30",
            "--links",
            str(links_path),
        ]
        assert main(argv) == 0
    capsys.readouterr()
    links = load_links(links_path)
    assert len(links) == 18

    kalshi_events, poly_events = fomc_2024.kalshi_events(), fomc_2024.polymarket_events()
    graph = build_graph((), [*kalshi_events, *poly_events], links, config=CURATED)
    assert graph.excluded == ()
    assert sorted(len(c.contracts) for c in graph.components) == [9] * 6  # one candidate set per meeting

    now = [0]
    scanner = Scanner(graph.components, _books(kalshi_events, poly_events), now_ns=lambda: now[0])
    forwarded = scanner.drain()
    arb_component = graph.component_of(K, f"{ARB_MEETING}-H0")
    assert [c.component_id for c in forwarded] == [arb_component]
    assert scanner.stats.evaluations == 6 and forwarded[0].score_micro_usd > 0

    candidate = forwarded[0].candidate_set
    result = Allocator(
        AllocationProblem((candidate,), Capital({"kalshi": Decimal(1000), "polymarket": Decimal(1000)}))
    ).solve()
    assert len(result.plans) == 1
    plan = result.plans[0]
    assert plan.guaranteed_profit_usd > 0
    assert {leg.venue for leg in plan.legs} == {"kalshi", "polymarket"}

    # Brute force over every joint outcome the relations allow (enumerated from the relations'
    # meaning, independently of the allocator's outcome system): the plan's payoff minus its cost
    # (fees included) never falls below the guaranteed profit it claims, and reaches it in one.
    assert all(leg.action is Action.BUY for leg in plan.legs)  # no inventory: nothing to sell
    cost = -sum(leg.cash_flow_usd for leg in plan.legs)
    outcomes = semantic_outcomes(candidate)
    assert len(outcomes) == 5  # one per FOMC decision bucket (Polymarket's "25+" is Kalshi's H25 or H26)
    values = []
    for outcome in outcomes:
        payoff = sum(
            (leg.quantity for leg in plan.legs if outcome[leg.contract] == (1 if leg.side is Side.YES else 0)),
            Decimal(0),
        )
        values.append(payoff - cost)
    assert min(values) == plan.guaranteed_profit_usd


AWARD_NOMINEES = [
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Donald Knuth",
    "Frances Allen",
    "John Backus",
]


def test_a_kalshi_event_of_names_without_other_never_yields_a_buy_every_yes_plan() -> None:
    """A Kalshi exclusive event is not exhaustive: "Who will win the X award?", 8 named markets, no "Other", every YES ask $0.11.
    Kalshi resolves every market NO when an unlisted candidate wins, so the 8 x $0.11 = $0.88 basket
    (plus fees) can lose it all: the graph must not call the event exactly-one, and neither the
    scanner nor the allocator may offer buying every YES as riskless."""
    ticker = "KXXAWARD-26"
    body = {
        "event_ticker": ticker,
        "series_ticker": "KXXAWARD",
        "title": "Who will win the X award?",
        "mutually_exclusive": True,
        "markets": [
            {
                "ticker": f"{ticker}-{i}",
                "event_ticker": ticker,
                "title": "Who will win the X award?",
                "yes_sub_title": name,
                "status": "active",
                "close_time": "2026-12-31T00:00:00Z",
                "rules_primary": f"If {name} wins the X award, the market resolves to Yes.",
            }
            for i, name in enumerate(AWARD_NOMINEES)
        ],
    }
    event = kalshi_wire.decode_event(body, series=SeriesInfo("KXXAWARD", "X award", "quadratic", Decimal(1)))
    graph = build_graph((), [event], config=CURATED)  # the repository's curated list does not name it
    (group,) = graph.relations
    assert isinstance(group, AtMostOne) and len(group.contracts) == 8
    assert graph.exclusions(ExclusionKind.GROUP_UNPROVEN)

    # YES asks $0.11 (NO bids $0.89), YES bids $0.10 (NO asks $0.90), 500 contracts each side
    books = {
        (K, m): _kalshi_book_at(m, yes_bid_cents=10, yes_ask_cents=11) for m in (mk.market_id for mk in event.markets)
    }
    scanner = Scanner(graph.components, books, now_ns=lambda: 0)
    assert scanner.drain() == []  # cleared: no riskless basket at these prices
    (component,) = graph.components
    candidate, excluded = scanner.candidate_set(component.id)
    assert excluded == () and len(candidate.instruments) == 16
    result = Allocator(AllocationProblem((candidate,), Capital({"kalshi": Decimal(1000)}))).solve()
    every_yes = {contract_id(K, m.market_id) for m in event.markets}
    for plan in result.plans:
        bought_yes = {leg.contract for leg in plan.legs if leg.side is Side.YES and leg.quantity > 0}
        assert bought_yes != every_yes
    assert result.plans == ()


def _kalshi_book_at(market: str, *, yes_bid_cents: int, yes_ask_cents: int) -> BinaryBook:
    ladder = OrderBook(market, market, "kalshi")
    snapshot = BookSnapshot(
        K, market, market, ((yes_bid_cents * CENT, 500 * CONTRACT),), ((yes_ask_cents * CENT, 500 * CONTRACT),)
    )
    ladder.apply_snapshot(snapshot, 0)
    return BinaryBook(market, ladder)
