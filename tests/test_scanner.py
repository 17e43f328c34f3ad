"""The incremental scanner: dirty marking, coalescing, exclusions, ranking, and soundness of the
cheap bounds against the exact allocator (a cleared component never holds a riskless profit)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arb.book import BinaryBook, OrderBook
from arb.domain import BookSide, BookSnapshot, ChangeMode, MarketStatus, SeriesInfo, Venue
from arb.errors import ConfigError
from arb.exhaustive_series import load_exhaustive_series
from arb.graph import Component, GraphConfig, Listing, build_graph, contract_id
from arb.scanner import Scanner, ScannerConfig, build_candidate_set, unit_cost_floor_micro_usd
from arb.venues.kalshi import wire as kalshi_wire
from arb.venues.polymarket import wire as polymarket_wire
from solvers import (
    AllocationProblem,
    Allocator,
    AtMostOne,
    Capital,
    Conjunction,
    Equivalent,
    ExactlyOne,
    FeeRule,
    Implies,
    Relation,
    Rounding,
    SetLimits,
    Side,
    SolverError,
    kalshi_fee,
    polymarket_fee,
)
from tests.fixtures.cross_venue import fomc_2024

D = Decimal
Books = dict[tuple[Venue, str], BinaryBook]
K, P = Venue.KALSHI, Venue.POLYMARKET
CENT = 10_000
CONTRACT = 1_000_000
ZERO_FEE_POLY = polymarket_fee(rate=D(0))


# -- builders -------------------------------------------------------------------------------------------
def kalshi_book(
    market: str, yes_asks: list[tuple[int, int]], yes_bids: list[tuple[int, int]], now_ns: int = 0
) -> BinaryBook:
    """Prices in cents, sizes in contracts; NO asks are the mirrored YES bids."""
    ladder = OrderBook(market, market, "kalshi")
    ladder.apply_snapshot(
        BookSnapshot(
            K,
            market,
            market,
            tuple((c * CENT, s * CONTRACT) for c, s in yes_bids),
            tuple((c * CENT, s * CONTRACT) for c, s in yes_asks),
        ),
        now_ns,
    )
    return BinaryBook(market, ladder)


def poly_book(
    market: str, yes_asks: list[tuple[int, int]], no_asks: list[tuple[int, int]], now_ns: int = 0
) -> BinaryBook:
    """Two token ladders (asks only), prices in cents, sizes in shares."""
    yes, no = OrderBook(f"{market}-yes", market, "polymarket"), OrderBook(f"{market}-no", market, "polymarket")
    yes.apply_snapshot(
        BookSnapshot(P, f"{market}-yes", market, (), tuple((c * CENT, s * CONTRACT) for c, s in yes_asks)), now_ns
    )
    no.apply_snapshot(
        BookSnapshot(P, f"{market}-no", market, (), tuple((c * CENT, s * CONTRACT) for c, s in no_asks)), now_ns
    )
    return BinaryBook(market, yes, no)


def no_ladder(book: BinaryBook) -> OrderBook:
    """The NO token ladder of a Polymarket book (Kalshi books have none)."""
    assert book.no is not None
    return book.no


def listings(venue: Venue, market: str, fee: FeeRule | None = None) -> tuple[Listing, ...]:
    cid = contract_id(venue, market)
    if venue is K:
        fee = fee or kalshi_fee()
        lot, minimum = CONTRACT, 0
    else:
        fee = fee or ZERO_FEE_POLY
        lot, minimum = CENT, 5 * CONTRACT
    return tuple(
        Listing(f"{cid}:{side.value}", venue, market, cid, side, fee, lot, CENT, minimum)
        for side in (Side.YES, Side.NO)
    )


def group(
    component_id: str, venue: Venue, markets: list[str], exactly: bool = True, fee: FeeRule | None = None
) -> Component:
    contracts = tuple(contract_id(venue, m) for m in markets)
    relation = ExactlyOne(contracts) if exactly else AtMostOne(contracts)
    return Component(component_id, contracts, (relation,), tuple(li for m in markets for li in listings(venue, m, fee)))


def poly_group_books(markets: list[str], yes_cents: list[int], no_cents: list[int] | None = None) -> Books:
    no_cents = no_cents or [99] * len(markets)
    return {(P, m): poly_book(m, [(y, 100)], [(n, 100)]) for m, y, n in zip(markets, yes_cents, no_cents)}


class Clock:
    def __init__(self, now_ns: int = 0) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


def lp_profit(candidate) -> float:
    """The exact allocator's LP optimum (guaranteed profit over the baseline) on these books."""
    if not candidate.instruments:
        return 0.0
    allocator = Allocator(AllocationProblem((candidate,), Capital({"kalshi": D(100_000), "polymarket": D(100_000)})))
    return allocator.solve_lp().objective - sum(float(sm.baseline) for sm in allocator.sets)


# -- dirty marking, coalescing, ranking ---------------------------------------------------------------------
def test_a_book_change_marks_only_its_component_dirty() -> None:
    books = {**poly_group_books(["a1", "a2"], [50, 52]), **poly_group_books(["b1", "b2"], [40, 62])}
    scanner = Scanner([group("A", P, ["a1", "a2"]), group("B", P, ["b1", "b2"])], books, now_ns=Clock())
    # (as lists: a type checker would keep an asserted tuple's length across the drains)
    assert list(scanner.dirty_ids) == ["A", "B"]  # never evaluated yet
    assert scanner.drain() == []
    assert list(scanner.dirty_ids) == [] and scanner.stats.evaluations == 2
    assert scanner.on_book_change(P, "b2") is True
    assert list(scanner.dirty_ids) == ["B"]
    assert not scanner.is_dirty("A")
    scanner.drain()
    assert scanner.stats.evaluations == 3  # only B was looked at again


def test_many_changes_coalesce_into_one_evaluation_of_the_latest_state() -> None:
    books = poly_group_books(["m1", "m2", "m3"], [30, 35, 40])
    scanner = Scanner([group("G", P, ["m1", "m2", "m3"])], books, now_ns=Clock())
    scanner.drain()
    yes = books[(P, "m1")].yes
    price = 30
    for step in range(100):
        yes.apply_level(BookSide.ASK, price * CENT, 0, ChangeMode.SET, 0)  # remove the old best
        price = 30 + (step % 7) if step < 99 else 20  # the last change makes 20 + 35 + 40 < 100
        yes.apply_level(BookSide.ASK, price * CENT, 100 * CONTRACT, ChangeMode.SET, 0)
        scanner.on_book_change(P, "m1")
    assert scanner.stats.coalesced == 99 and scanner.stats.book_changes == 100
    [candidate] = scanner.drain()
    assert scanner.stats.evaluations == 2  # the initial one and exactly one for the 100 changes
    instrument = next(i for i in candidate.candidate_set.instruments if i.id == "polymarket:m1:yes")
    assert instrument.asks[0].price == D("0.20")  # the latest state, not an intermediate one
    assert candidate.score_micro_usd == (100 - 95) * CENT // 3 + 1  # $0.05 spread over 3 contracts, rounded up


def test_max_components_returns_the_best_and_keeps_the_rest_dirty() -> None:
    books = {}
    comps = []
    for name, prices in (("low", [30, 30, 35]), ("high", [25, 25, 30]), ("mid", [28, 30, 32])):
        markets = [f"{name}{k}" for k in range(3)]
        books.update(poly_group_books(markets, prices))
        comps.append(group(name, P, markets))
    scanner = Scanner(comps, books, now_ns=Clock())
    [first] = scanner.drain(max_components=1)
    assert first.component_id == "high"
    assert set(scanner.dirty_ids) == {"low", "mid"}
    rest = scanner.drain()
    assert [c.component_id for c in rest] == ["mid", "low"]  # sums 0.90 > 0.95 missing 0.10, 0.05
    assert rest[0].score_micro_usd > rest[1].score_micro_usd > 0
    assert scanner.dirty_ids == () and scanner.stats.forwarded == 3
    bad_limits: tuple[Any, ...] = (-1, 1.5, "2")
    for bad in bad_limits:
        with pytest.raises(ConfigError, match="max_components must be a non-negative int or None"):
            scanner.drain(max_components=bad)
    with pytest.raises(ConfigError, match="unknown component 'nope'"):
        scanner.candidate_set("nope")


def test_ranking_is_by_score_then_id() -> None:
    books, comps = {}, []
    for name, prices in (("b", [45, 45]), ("a", [45, 45]), ("c", [40, 45]), ("d", [60, 60])):
        markets = [f"{name}{k}" for k in range(2)]
        books.update(poly_group_books(markets, prices))
        comps.append(group(name, P, markets))
    scanner = Scanner(comps, books, now_ns=Clock())
    out = scanner.drain()
    assert [c.component_id for c in out] == ["c", "a", "b"]  # d (sum 1.20) is coherent: cleared
    assert out[0].score_micro_usd == 75_000 and out[1].score_micro_usd == out[2].score_micro_usd == 50_000
    assert all(c.stage == "row" for c in out)


# -- exclusions and bad input ---------------------------------------------------------------------------------
def _cross_venue_pair(kalshi_yes: int, poly_no: int) -> tuple[Component, Books]:
    a, b = contract_id(K, "KX"), contract_id(P, "pm")
    component = Component("pair", (a, b), (Equivalent(a, b),), listings(K, "KX") + listings(P, "pm"))
    books = {
        (K, "KX"): kalshi_book("KX", [(kalshi_yes, 50)], [(kalshi_yes - 3, 50)]),
        (P, "pm"): poly_book("pm", [(100 - poly_no + 2, 50)], [(poly_no, 50)]),
    }
    return component, books


def test_cross_venue_pair_arbitrage_is_forwarded() -> None:
    component, books = _cross_venue_pair(kalshi_yes=40, poly_no=50)  # 0.40 + fee 0.0168 + 0.50 < 1
    [candidate] = Scanner([component], books, now_ns=Clock()).drain()
    assert candidate.stage == "crossed" and candidate.score_micro_usd > 0
    assert lp_profit(candidate.candidate_set) > 0


def test_untrusted_book_excludes_its_listings() -> None:
    component, books = _cross_venue_pair(kalshi_yes=40, poly_no=50)
    no_ladder(books[(P, "pm")]).mark_untrusted("sequence gap")
    scanner = Scanner([component], books, now_ns=Clock())
    assert scanner.drain() == []  # the arbitrage needs the untrusted NO: nothing left to trade on
    assert scanner.stats.excluded_listings == Counter({"untrusted": 2})
    candidate, excluded = scanner.candidate_set("pair")
    assert {i.id for i in candidate.instruments} == {"kalshi:KX:yes", "kalshi:KX:no"}
    assert {(e.instrument_id, e.reason) for e in excluded} == {
        ("polymarket:pm:yes", "untrusted"),
        ("polymarket:pm:no", "untrusted"),
    }


def test_stale_books_are_excluded_on_the_injected_clock() -> None:
    component, books = _cross_venue_pair(kalshi_yes=40, poly_no=50)
    clock = Clock(0)
    scanner = Scanner([component], books, now_ns=clock, config=ScannerConfig(max_book_age_ms=1_000))
    clock.now_ns = 1_000_000_000  # exactly the limit: still fresh
    assert len(scanner.drain()) == 1
    clock.now_ns = 1_000_000_001
    books[(K, "KX")].yes.touch(clock.now_ns)  # only the Kalshi feed is alive
    scanner.mark_all_dirty()
    assert scanner.drain() == []
    assert scanner.stats.excluded_listings == Counter({"stale": 2})
    books[(P, "pm")].yes.touch(clock.now_ns)
    no_ladder(books[(P, "pm")]).touch(clock.now_ns)
    scanner.on_book_change(P, "pm")
    [candidate] = scanner.drain()
    assert candidate.excluded == ()


def test_missing_book_and_off_tick_best_ask_are_excluded() -> None:
    component, books = _cross_venue_pair(kalshi_yes=40, poly_no=50)
    del books[(K, "KX")]
    no_ladder(books[(P, "pm")]).apply_level(BookSide.ASK, 495_000, 10 * CONTRACT, ChangeMode.SET, 0)  # half a cent
    scanner = Scanner([component], books, now_ns=Clock())
    assert scanner.drain() == []
    assert scanner.stats.excluded_listings == Counter({"missing": 2, "off_tick": 1})
    assert scanner.stats.cleared_by == Counter({"structure": 1})
    candidate, excluded = scanner.candidate_set("pair")
    assert [i.id for i in candidate.instruments] == ["polymarket:pm:yes"]
    assert [e.reason for e in excluded] == ["missing", "missing", "off_tick"]


def test_unknown_market_is_counted_and_ignored() -> None:
    books = poly_group_books(["m1", "m2"], [50, 52])
    scanner = Scanner([group("G", P, ["m1", "m2"])], books, now_ns=Clock())
    scanner.drain()
    assert scanner.on_book_change(P, "nope") is False
    assert scanner.on_book_change(K, "m1") is False  # same id, other venue
    assert scanner.stats.unknown_markets == 2 and scanner.dirty_ids == ()
    assert scanner.drain() == []


def test_a_callable_book_lookup_works_like_a_mapping() -> None:
    books = poly_group_books(["m1", "m2"], [40, 45])
    scanner = Scanner([group("G", P, ["m1", "m2"])], lambda venue, market: books.get((venue, market)), now_ns=Clock())
    [candidate] = scanner.drain()
    assert candidate.score_micro_usd == 75_000


def test_invalid_components_raise_config_errors() -> None:
    good = group("G", P, ["m1", "m2"])
    with pytest.raises(ConfigError, match="unknown contract"):
        Scanner([Component("bad", good.contracts[:1], good.relations, good.listings)], {}, now_ns=Clock())
    with pytest.raises(ConfigError, match="twice"):
        Scanner([good, good], {}, now_ns=Clock())
    a, b = good.contracts
    contradictory = Component("c", good.contracts, (Implies(a, b), Implies(b, a), ExactlyOne((a, b))), good.listings)
    with pytest.raises(ConfigError, match="no outcome"):
        Scanner([contradictory], {}, now_ns=Clock())
    bad_lot = Listing("x:yes", P, "x", contract_id(P, "x"), Side.YES, ZERO_FEE_POLY, 0, CENT, 0)
    with pytest.raises(ConfigError, match="lot_size_micro"):
        Scanner([Component("x", (contract_id(P, "x"),), (), (bad_lot,))], {}, now_ns=Clock())
    with pytest.raises(ConfigError, match="slots_per_side"):
        ScannerConfig(slots_per_side=0)
    with pytest.raises(ConfigError, match="max_book_age_ms"):
        ScannerConfig(max_book_age_ms=-1)


def test_replace_components_keeps_state_of_unchanged_components() -> None:
    books = {
        **poly_group_books(["a1", "a2"], [50, 52]),
        **poly_group_books(["b1", "b2"], [50, 52]),
        **poly_group_books(["c1", "c2"], [50, 52]),
    }
    a, b = group("A", P, ["a1", "a2"]), group("B", P, ["b1", "b2"])
    scanner = Scanner([a, b], books, now_ns=Clock())
    scanner.drain()
    scanner.on_book_change(P, "a1")
    b_changed = group("B", P, ["b1", "b2"], exactly=False)
    scanner.replace_components([a, b_changed, group("C", P, ["c1", "c2"])])
    assert set(scanner.dirty_ids) == {"A", "B", "C"}  # A still dirty; B changed; C new
    scanner.drain()
    scanner.replace_components([a])
    assert scanner.component_ids == ("A",)
    assert scanner.on_book_change(P, "b1") is False
    scanner.on_book_change(P, "a2")
    scanner.drain()
    assert scanner.stats.cleared_by["cached_point"] >= 1  # A's witness survived the rebuilds


def test_cached_witness_clears_without_solving_again() -> None:
    books = poly_group_books(["m1", "m2", "m3"], [30, 35, 40])
    scanner = Scanner([group("G", P, ["m1", "m2", "m3"])], books, now_ns=Clock())
    scanner.drain()
    assert scanner.stats.cleared_by == Counter({"structure": 1})
    books[(P, "m2")].yes.apply_level(BookSide.ASK, 35 * CENT, 7 * CONTRACT, ChangeMode.SET, 0)  # size only
    scanner.on_book_change(P, "m2")
    scanner.drain()
    assert scanner.stats.cleared_by == Counter({"structure": 1, "cached_point": 1})


def test_min_edge_clears_thin_incoherence_only() -> None:
    books = poly_group_books(["m1", "m2"], [49, 50])  # $0.01 under: delta = 0.005 per contract
    comp = group("G", P, ["m1", "m2"])
    assert Scanner([comp], books, now_ns=Clock(), config=ScannerConfig(min_edge_micro_usd=5_001)).drain() == []
    [candidate] = Scanner([comp], books, now_ns=Clock(), config=ScannerConfig(min_edge_micro_usd=5_000)).drain()
    assert candidate.score_micro_usd == 5_000


def test_min_edge_equal_to_the_allocators_per_payout_minimum_stays_sound() -> None:
    """The allocator accepts a plan earning exactly min_profit_per_payout_usd per $1 of payout: a
    component whose delta (per contract) times the basket's contracts per $1 of payout equals it
    must be forwarded, not cleared."""
    books = poly_group_books(["m1", "m2"], [49, 50])  # buy both YES: $0.01 per $1 of payout, 2 contracts
    comp = group("G", P, ["m1", "m2"])
    limits = SetLimits(min_profit_per_payout_usd=D("0.01"))
    [candidate] = Scanner(
        [comp], books, now_ns=Clock(), config=ScannerConfig(min_edge_micro_usd=5_000, set_limits=limits)
    ).drain()
    result = Allocator(AllocationProblem((candidate.candidate_set,), Capital({"polymarket": D(1000)}))).solve()
    assert [plan.guaranteed_profit_usd for plan in result.plans] == [D(1)]


def test_obvious_arbitrages_are_forwarded_with_a_positive_score() -> None:
    clock = Clock()
    # exactly-one group whose YES asks sum to 0.90 (Kalshi fees included: 5 x ~0.0088 < 0.10)
    markets = [f"g{k}" for k in range(5)]
    books = {(K, m): kalshi_book(m, [(18, 10)], [(10, 10)]) for m in markets}
    [candidate] = Scanner([group("G", K, markets)], books, now_ns=clock).drain()
    assert candidate.stage == "row" and candidate.score_micro_usd > 0
    assert lp_profit(candidate.candidate_set) > 0
    # ladder 50 <= 60 <= 70: "above 70" priced above "above 50" -> buy YES above 50 and NO above 70
    t50, t60, t70 = (contract_id(K, m) for m in ("T50", "T60", "T70"))
    ladder = Component(
        "L",
        (t50, t60, t70),
        (Implies(t70, t60), Implies(t60, t50)),
        listings(K, "T50") + listings(K, "T60") + listings(K, "T70"),
    )
    books = {
        (K, "T50"): kalshi_book("T50", [(40, 10)], [(38, 10)]),
        (K, "T60"): kalshi_book("T60", [(47, 10)], [(30, 10)]),
        (K, "T70"): kalshi_book("T70", [(52, 10)], [(50, 10)]),
    }
    [candidate] = Scanner([ladder], books, now_ns=clock).drain()
    assert candidate.stage == "difference" and candidate.score_micro_usd > 0
    assert candidate.reasons == ("kalshi:T50 vs kalshi:T70: a hedged basket costs 0.065700 less than it surely pays",)
    assert lp_profit(candidate.candidate_set) > 0
    # conjunction C = A and B priced above A: not TU-simple, decided by the vertex LP
    a, b, c = (contract_id(P, m) for m in ("A", "B", "C"))
    conj = Component("C", (a, b, c), (Conjunction(c, (a, b)),), listings(P, "A") + listings(P, "B") + listings(P, "C"))
    books = {
        (P, "A"): poly_book("A", [(60, 50)], [(42, 50)]),
        (P, "B"): poly_book("B", [(70, 50)], [(32, 50)]),
        (P, "C"): poly_book("C", [(80, 50)], [(22, 50)]),
    }
    [candidate] = Scanner([conj], books, now_ns=clock).drain()
    assert candidate.stage == "vertex_lp" and candidate.score_micro_usd > 0
    assert lp_profit(candidate.candidate_set) > 0


def test_real_graph_components_from_the_fomc_fixtures() -> None:
    """The graph builder's components (one exactly-one group per meeting and venue) register as they
    are; coherent books clear every one, a cheap YES ask forwards exactly its meeting."""
    curated = load_exhaustive_series(Path(__file__).resolve().parent.parent / "config" / "exhaustive_series.toml")
    graph = build_graph(
        (),
        [*fomc_2024.kalshi_events(), *fomc_2024.polymarket_events()],
        config=GraphConfig(exhaustive_kalshi_series=curated),
    )
    books = {}
    for component in graph.components:
        fair = 100 // len(component.contracts)
        for listing in component.listings:
            if listing.venue is K:
                books[(K, listing.market_id)] = kalshi_book(listing.market_id, [(fair + 2, 100)], [(fair - 2, 100)])
            else:
                books[(P, listing.market_id)] = poly_book(listing.market_id, [(fair + 2, 100)], [(100 - fair + 2, 100)])
    scanner = Scanner(graph.components, books, now_ns=Clock())
    assert scanner.drain() == [] and scanner.stats.cleared_by == Counter(
        {"structure": len(graph.components)}
    ) == Counter({"structure": 12})
    target = graph.components[0].listings[0]
    fair = 100 // len(graph.components[0].contracts)
    book = books[(target.venue, target.market_id)]
    if book.no is None:  # Kalshi: NO asks mirror the YES bids; pull the bid before the ask moves down
        book.yes.apply_level(BookSide.BID, (fair - 2) * CENT, 0, ChangeMode.SET, 0)
    else:
        no_ladder(book).apply_level(BookSide.ASK, 99 * CENT, 100 * CONTRACT, ChangeMode.SET, 0)
        no_ladder(book).apply_level(BookSide.ASK, (100 - fair + 2) * CENT, 0, ChangeMode.SET, 0)
    book.yes.apply_level(
        BookSide.ASK, (fair - 10) * CENT, 100 * CONTRACT, ChangeMode.SET, 0
    )  # the YES basket now costs < $1
    assert book.trusted and scanner.on_book_change(target.venue, target.market_id)
    [candidate] = scanner.drain()
    assert candidate.component_id == graph.components[0].id and candidate.stage == "row"


def test_scanner_built_instruments_carry_the_venues_order_amount_increments() -> None:
    """From real Gamma and Kalshi market objects through the graph: a Polymarket instrument states that
    its FOK/FAK buys sign whole cents and its sells 0.0001 of USDC; a Kalshi one has no such constraint."""
    fixtures = Path(__file__).resolve().parent / "fixtures" / "venues"
    raw = json.loads(
        (fixtures / "polymarket" / "rest" / "drmanhattan_gamma_markets_feeSchedule_2026.json").read_bytes()
    )
    poly = polymarket_wire.decode_gamma_markets(raw)[0]
    [kalshi], _ = kalshi_wire.decode_markets_page(
        {
            "markets": [
                json.loads((fixtures / "kalshi" / "rest" / "drmanhattan_markets_mve_2026-06.json").read_bytes())[0]
            ]
        }
    )
    kalshi = kalshi_wire.apply_series(kalshi, SeriesInfo(kalshi.series_id, "", "quadratic", D(1)))
    kalshi = dataclasses.replace(kalshi, status=MarketStatus.OPEN, accepting_orders=True)
    graph = build_graph([poly, kalshi])
    books = {
        (P, poly.market_id): poly_book(poly.market_id, [(40, 100)], [(62, 100)]),
        (K, kalshi.market_id): kalshi_book(kalshi.market_id, [(40, 100)], [(38, 100)]),
    }
    instruments = {}
    for component in graph.components:
        candidate, excluded = build_candidate_set(component, books, now_ns=0)
        assert excluded == ()
        instruments.update({i.id: i for i in candidate.instruments})
    for side in (Side.YES, Side.NO):
        p = instruments[f"{contract_id(P, poly.market_id)}:{side.value}"]
        assert (p.buy_amount_increment_usd, p.sell_amount_increment_usd) == (D("0.01"), D("0.0001"))
        k = instruments[f"{contract_id(K, kalshi.market_id)}:{side.value}"]
        assert (k.buy_amount_increment_usd, k.sell_amount_increment_usd) == (None, None)
    scanner = Scanner(graph.components, books, now_ns=Clock())
    component_id = graph.component_of(P, poly.market_id)
    assert component_id is not None
    candidate, _ = scanner.candidate_set(component_id)
    assert {i.buy_amount_increment_usd for i in candidate.instruments} == {D("0.01")}


# -- exact unit costs ---------------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    price=st.integers(1, 999_999),
    rule=st.sampled_from(
        [
            kalshi_fee(),
            kalshi_fee(multiplier=D("0.5")),
            polymarket_fee(rate=D("0.04")),
            polymarket_fee(rate=D("0.25"), exponent=2),
            FeeRule(coefficient=D("0.013"), flat_per_contract_usd=D("0.0001234")),
        ]
    ),
)
def test_unit_cost_is_a_tight_lower_bound_of_the_fee(price: int, rule: FeeRule) -> None:
    floor = unit_cost_floor_micro_usd(rule, price)
    assert 0 <= price + rule.unit_rate(price / 1e6) * 1e6 - floor < 1.0 + 1e-6  # the LP's unit cost, floored
    quantity = D(3)
    exact_per_contract = (
        Decimal(price) / 1_000_000 + rule.order_fee([(Decimal(price) / 1_000_000, quantity)]) / quantity
    )
    credit = D(0)
    if rule.fill_rounding is Rounding.DOWN:  # Polymarket floors
        assert rule.fill_increment_usd is not None
        credit = rule.fill_increment_usd / quantity
    assert floor <= (exact_per_contract + credit) * 1_000_000


# -- soundness against the exact allocator --------------------------------------------------------------------------
_FEES_K = (kalshi_fee(), kalshi_fee(multiplier=D("0.5")))
_FEES_P = (ZERO_FEE_POLY, polymarket_fee(rate=D("0.04")), polymarket_fee(rate=D("0.25"), exponent=2))
KINDS = ("single", "pair", "group", "linked_group", "ladder", "linked_ladder", "conjunction", "mixed")


def _random_case(seed: int) -> tuple[Component, Books, ScannerConfig, str]:
    """A small component of a random kind with coherent 'truth' prices, noisy books on one or two
    venues (sometimes missing, untrusted, empty or deep), and a scanner configuration."""
    rng = random.Random(seed)
    kind = KINDS[seed % len(KINDS)]
    venue = rng.choice((K, P))
    other = P if venue is K else K
    names: list[str] = []
    truth: dict[str, float] = {}
    relations: list[Relation] = []

    def cid(v: Venue, name: str) -> str:
        return contract_id(v, name)

    if kind == "single":
        names, truth = ["s"], {"s": rng.uniform(0.1, 0.9)}
    elif kind == "pair":
        names, truth = ["x"], {"x": rng.uniform(0.1, 0.9)}
    elif kind in ("group", "linked_group"):
        n = rng.randint(2, 4)
        weights = [rng.random() + 0.2 for _ in range(n)]
        names = [f"g{i}" for i in range(n)]
        truth = {name: w / sum(weights) for name, w in zip(names, weights)}
        members = tuple(cid(venue, name) for name in names)
        relations.append(ExactlyOne(members) if rng.random() < 0.7 else AtMostOne(members))
    elif kind in ("ladder", "linked_ladder"):
        n = rng.randint(2, 4)
        names = [f"t{i}" for i in range(n)]
        level = rng.uniform(0.6, 0.95)
        for name in names:
            truth[name] = level
            level *= rng.uniform(0.4, 0.9)
        relations += [Implies(cid(venue, hi), cid(venue, lo)) for lo, hi in itertools.pairwise(names)]
    elif kind == "conjunction":
        names = ["a", "b", "c"]
        pa, pb = rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.9)
        truth = {"a": pa, "b": pb, "c": pa * pb}
        relations.append(Conjunction(cid(venue, "c"), (cid(venue, "a"), cid(venue, "b"))))
    else:  # a group with two implications into it: neither one row nor a difference system
        names = ["a", "b", "c", "d"]
        pa = rng.uniform(0.2, 0.5)
        truth = {"a": pa, "b": rng.uniform(0.1, 0.4), "d": pa * rng.uniform(0.2, 0.9)}
        truth["c"] = max(0.05, 1 - truth["a"] - truth["b"])
        relations += [
            ExactlyOne(tuple(cid(venue, m) for m in "abc")),
            Implies(cid(venue, "d"), cid(venue, "a")),
            AtMostOne((cid(venue, "d"), cid(venue, "b"))),
        ]
    contracts = [cid(venue, name) for name in names]
    linked = kind in ("pair", "linked_group", "linked_ladder")
    markets = [(venue, name, truth[name]) for name in names]
    if linked:
        for name in names:
            inverted = rng.random() < 0.3
            twin = f"{name}_twin"
            contracts.append(cid(other, twin))
            markets.append((other, twin, 1 - truth[name] if inverted else truth[name]))
            relations.append(
                Equivalent(cid(venue, name), cid(other, twin), inverted=inverted, settlement_risk=rng.random() < 0.4)
            )
    books: Books = {}
    all_listings: list[Listing] = []
    noise = rng.choice((0.0, 0.03, 0.08))
    for v, name, fair in markets:
        fee = rng.choice(_FEES_K if v is K else _FEES_P)
        all_listings += listings(v, name, fee)
        roll = rng.random()
        if roll < 0.05:
            continue  # no book at all
        # each market quotes its own view of the fair price (YES and NO asks around it, so one
        # market alone is rarely crossed); the views disagree across markets by `noise`
        view = fair + rng.gauss(0, noise)
        own = rng.gauss(0, noise) if rng.random() < 0.1 else 0.0  # sometimes YES and NO disagree too
        yes = min(99, max(1, round(100 * (view + own)) + rng.choice((0, 1, 2))))
        no = min(99, max(1, round(100 * (1 - view)) + rng.choice((0, 1, 2))))
        depth = rng.randint(1, 3)
        sizes = (lambda: rng.randint(1, 40)) if v is K else (lambda: rng.randint(5, 300))
        yes_levels = [(c, sizes()) for c in range(yes, min(100, yes + depth))]
        no_levels = [(c, sizes()) for c in range(no, min(100, no + depth))]
        if rng.random() < 0.1:
            yes_levels = []
        if v is K:
            bids = [(100 - c, s) for c, s in no_levels if yes_levels == [] or 100 - c < yes_levels[0][0]]
            book = kalshi_book(name, yes_levels, bids)
        else:
            book = poly_book(name, yes_levels, no_levels)
        if rng.random() < 0.08:
            book.yes.mark_untrusted("test")
        books[(v, name)] = book
    component = Component(f"c{seed}", tuple(contracts), tuple(relations), tuple(all_listings))
    config = ScannerConfig(
        set_limits=SetLimits(settlement_loss_limit_usd=D(10**6)),  # so the allocator may take risky links
        max_enumerated_outcomes=1 if rng.random() < 0.15 else 512,  # sometimes force the projection path
    )
    return component, books, config, kind


def _check_case(seed: int) -> str:
    component, books, config, _ = _random_case(seed)
    clock = Clock(5)
    scanner = Scanner([component], books, now_ns=clock, config=config)
    out = scanner.drain()
    candidate, _ = build_candidate_set(component, books, now_ns=clock.now_ns, config=config)
    profit = lp_profit(candidate)
    if not out:
        [(stage, _)] = scanner.stats.cleared_by.items()
        assert profit <= 1e-7, f"seed {seed}: cleared by {stage} but the allocator's LP earns {profit}"
        return f"cleared:{stage}"
    [forwarded] = out
    assert forwarded.candidate_set == candidate
    if forwarded.stage in ("crossed", "row", "difference", "vertex_lp", "column_lp") and forwarded.score_micro_usd >= 2:
        # an exact proof that the best asks admit a basket: every best level holds at least a lot
        assert profit > 1e-8, (
            f"seed {seed}: forwarded by {forwarded.stage} (score {forwarded.score_micro_usd}) but LP profit {profit}"
        )
    return f"forwarded:{forwarded.stage}"


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**9))
def test_cleared_components_hold_no_riskless_profit(seed: int) -> None:
    _check_case(seed)


def test_soundness_sweep_reaches_every_stage() -> None:
    """The same check on a fixed sweep, which must exercise every clearing and forwarding path
    (else the property above could pass vacuously)."""
    seen = Counter(_check_case(seed) for seed in range(240))
    for stage in (
        "cleared:structure",
        "cleared:vertex_lp",
        "cleared:projection",
        "cleared:column_lp",
        "cleared:no_listings",
        "forwarded:crossed",
        "forwarded:row",
        "forwarded:difference",
        "forwarded:vertex_lp",
        "forwarded:column_lp",
    ):
        assert seen[stage] > 0, (stage, seen)


# -- review regressions ---------------------------------------------------------------------------------------------
def test_rows_over_the_same_pair_with_open_and_closed_bounds_build() -> None:
    """A two-outcome Kalshi event that is only at-most-one, linked risk-free to a two-outcome
    Polymarket negRisk event: both groups become rows over the same two variables, one with an
    open lower bound (sum <= 1) and one closed (sum = 1). Building the scanner must not crash
    comparing None with an int, and the stricter row must decide."""
    k1, k2, p1, p2 = contract_id(K, "k1"), contract_id(K, "k2"), contract_id(P, "p1"), contract_id(P, "p2")
    relations = (AtMostOne((k1, k2)), ExactlyOne((p1, p2)), Equivalent(k1, p1), Equivalent(k2, p2))
    component = Component(
        "two",
        (k1, k2, p1, p2),
        relations,
        listings(K, "k1") + listings(K, "k2") + listings(P, "p1") + listings(P, "p2"),
    )
    coherent = {
        (K, "k1"): kalshi_book("k1", [(62, 10)], [(58, 10)]),
        (K, "k2"): kalshi_book("k2", [(42, 10)], [(38, 10)]),
        (P, "p1"): poly_book("p1", [(61, 100)], [(41, 100)]),
        (P, "p2"): poly_book("p2", [(41, 100)], [(61, 100)]),
    }
    assert Scanner([component], coherent, now_ns=Clock()).drain() == []
    cheap = dict(coherent)
    cheap[(P, "p2")] = poly_book("p2", [(30, 100)], [(71, 100)])  # YES k1-or-p1 at 0.61 + YES p2 at 0.30 < $1
    [candidate] = Scanner([component], cheap, now_ns=Clock()).drain()
    assert candidate.score_micro_usd > 0 and lp_profit(candidate.candidate_set) > 0


def test_a_failing_evaluation_is_forwarded_and_counted_without_stopping_the_drain(monkeypatch) -> None:
    """An exception inside one component's evaluation (here the vertex LP of a conjunction) must not
    stop the drain, lose the other components, or poison the next drain: that component is
    forwarded undecided (the allocator decides), with the error counted by type."""
    a, b, c = (contract_id(P, m) for m in ("A", "B", "C"))
    conj = Component(
        "conj", (a, b, c), (Conjunction(c, (a, b)),), listings(P, "A") + listings(P, "B") + listings(P, "C")
    )
    books = {
        (P, "A"): poly_book("A", [(60, 50)], [(42, 50)]),
        (P, "B"): poly_book("B", [(70, 50)], [(32, 50)]),
        (P, "C"): poly_book("C", [(40, 50)], [(62, 50)]),
    }
    books.update(poly_group_books(["g1", "g2"], [40, 45]))
    scanner = Scanner([conj, group("G", P, ["g1", "g2"])], books, now_ns=Clock())

    def broken(*args, **kwargs):
        raise ValueError("solver blew up")

    monkeypatch.setattr("arb.scanner.linprog", broken)
    out = scanner.drain()
    assert [(o.component_id, o.stage) for o in out] == [("G", "row"), ("conj", "error")]
    assert "ValueError: solver blew up" in out[1].reasons[0] and out[1].candidate_set.instruments
    assert scanner.stats.errors == Counter({"evaluate:ValueError": 1}) and scanner.dirty_ids == ()
    scanner.on_book_change(P, "A")
    assert [o.stage for o in scanner.drain()] == ["error"]  # every drain still completes
    monkeypatch.undo()
    scanner.on_book_change(P, "A")
    assert scanner.drain() == [] and scanner.stats.cleared_by["vertex_lp"] == 1  # healthy again


def test_sweep_re_evaluates_components_whose_books_revive_or_go_stale_without_a_change() -> None:
    """Staleness changes with no book change event: a feed that comes back with an unchanged
    snapshot only touches its book, and a silent feed sends nothing. `sweep` marks dirty the
    components whose exclusions differ from their last evaluation, so an arbitrage that needs the
    revived book is not lost and a forwarded set is re-issued without the stale book."""
    component, books = _cross_venue_pair(kalshi_yes=40, poly_no=50)
    other_books = poly_group_books(["q1", "q2"], [50, 52])
    clock = Clock(0)
    scanner = Scanner(
        [component, group("Q", P, ["q1", "q2"])],
        {**books, **other_books},
        now_ns=clock,
        config=ScannerConfig(max_book_age_ms=1_000),
    )
    assert [c.component_id for c in scanner.drain()] == ["pair"]
    clock.now_ns = 2_000_000_000  # the Polymarket feed of the pair fell silent; Kalshi still ticks
    books[(K, "KX")].yes.touch(clock.now_ns)
    for book in other_books.values():
        book.yes.touch(clock.now_ns)
        no_ladder(book).touch(clock.now_ns)
    assert scanner.sweep() == 1 and scanner.dirty_ids == ("pair",)  # forwarded set has a stale book
    assert scanner.drain() == [] and scanner.stats.excluded_listings == Counter({"stale": 2})
    assert scanner.take_withdrawn() == ("pair",) and scanner.take_withdrawn() == ()  # drop its set
    assert scanner.sweep() == 0  # nothing changed since
    clock.now_ns = 2_500_000_000  # the feed is back with an unchanged snapshot: a touch, no event
    books[(K, "KX")].yes.touch(clock.now_ns)
    books[(P, "pm")].yes.touch(clock.now_ns)
    no_ladder(books[(P, "pm")]).touch(clock.now_ns)
    assert scanner.sweep() == 1
    [candidate] = scanner.drain()
    assert candidate.component_id == "pair" and candidate.excluded == ()
    scanner.replace_components([group("Q", P, ["q1", "q2"])])  # the pair left the graph
    assert scanner.take_withdrawn() == ("pair",)


def test_sets_leaving_with_a_graph_rebuild_are_withdrawn_in_the_order_they_were_forwarded() -> None:
    """The withdrawn ids go to the allocator in this order (parked, the oldest evicted first): it
    must not be a set's iteration order, which follows string hashes and changes with
    PYTHONHASHSEED (a replay's ledger would then differ from process to process)."""
    books, comps = {}, []
    for k, name in enumerate(("m", "c", "x", "a", "q", "f", "z", "k")):
        markets = [f"{name}{i}" for i in range(2)]
        books.update(poly_group_books(markets, [40 + k, 45]))
        comps.append(group(name, P, markets))
    scanner = Scanner(comps, books, now_ns=Clock())
    forwarded = [c.component_id for c in scanner.drain()]
    assert forwarded == ["m", "c", "x", "a", "q", "f", "z", "k"]  # best first: by score
    scanner.replace_components([])
    assert scanner.take_withdrawn() == tuple(forwarded)


def test_a_box_that_only_touches_the_polytope_is_cleared_with_an_exact_witness() -> None:
    """Zero-fee asks that pin C = A and B to the single coherent point (0.6, 0.5, 0.1): the vertex
    LP's float weights round to a point a hair outside the box, their exact rationals do not."""
    a, b, c = (contract_id(P, m) for m in ("A", "B", "C"))
    conj = Component(
        "conj", (a, b, c), (Conjunction(c, (a, b)),), listings(P, "A") + listings(P, "B") + listings(P, "C")
    )
    books = {
        (P, "A"): poly_book("A", [(60, 50)], [(40, 50)]),
        (P, "B"): poly_book("B", [(50, 50)], [(50, 50)]),
        (P, "C"): poly_book("C", [(10, 50)], [(90, 50)]),
    }
    scanner = Scanner([conj], books, now_ns=Clock())
    assert scanner.drain() == [] and scanner.stats.cleared_by == Counter({"vertex_lp": 1})
    assert lp_profit(scanner.candidate_set("conj")[0]) <= 1e-7
    books[(P, "C")] = poly_book("C", [(9, 50)], [(91, 50)])  # C below A + B - 1: a riskless basket
    scanner.on_book_change(P, "C")
    [candidate] = scanner.drain()
    assert candidate.stage == "vertex_lp" and candidate.score_micro_usd > 0 and lp_profit(candidate.candidate_set) > 0


def test_blocks_too_large_to_enumerate_are_decided_exactly_by_column_generation(monkeypatch) -> None:
    """With enumeration ruled out and the projection failing (so no seed outcomes), column
    generation over the MIP outcome oracle reaches the same verdicts and scores as the LP over
    every enumerated outcome: coherent books clear, incoherent ones forward with the same delta."""
    a, b, c, d = (contract_id(K, m) for m in "abcd")
    relations = (ExactlyOne((a, b, c)), Implies(d, a), AtMostOne((d, b)))
    component = Component(
        "mix", (a, b, c, d), relations, listings(K, "a") + listings(K, "b") + listings(K, "c") + listings(K, "d")
    )

    def books(d_yes_ask: int, d_yes_bid: int) -> Books:
        quotes = {"a": (33, 29), "b": (28, 24), "c": (46, 42), "d": (d_yes_ask, d_yes_bid)}
        return {(K, m): kalshi_book(m, [(ask, 20)], [(bid, 20)]) for m, (ask, bid) in quotes.items()}

    def failing_projection(*args, **kwargs):
        raise SolverError("no projection today")

    exact = ScannerConfig()
    large = ScannerConfig(max_enumerated_outcomes=1)
    for d_quotes, cleared in (((12, 8), True), ((50, 45), False)):  # d bid 0.45 > a ask 0.33: buy a, buy NO d
        reference = Scanner([component], books(*d_quotes), now_ns=Clock(), config=exact).drain()
        monkeypatch.setattr("arb.scanner.project_prices", failing_projection)
        scanner = Scanner([component], books(*d_quotes), now_ns=Clock(), config=large)
        assert [b.kind for b in scanner._plans["mix"].blocks] == ["projection"]
        out = scanner.drain()
        monkeypatch.undo()
        assert (out == []) == (reference == []) == cleared
        if cleared:
            assert scanner.stats.cleared_by == Counter({"column_lp": 1})
        else:
            assert [(o.stage, o.score_micro_usd) for o in out] == [("column_lp", reference[0].score_micro_usd)]
            assert reference[0].stage == "vertex_lp" and reference[0].score_micro_usd > 0


def test_scores_count_only_the_bounds_that_an_ask_rise_can_move() -> None:
    """delta is the smallest uniform rise of the asks that leaves no riskless basket. A bound with
    no ask behind it, or one that reaches 0 or $1, does not move, so dividing a shortfall by every
    member of the row or pair understates it."""
    a, b, c = (contract_id(P, m) for m in "abc")
    at_most = Component(
        "amo", (a, b, c), (AtMostOne((a, b, c)),), listings(P, "a") + listings(P, "b") + listings(P, "c")
    )
    books = {
        (P, "a"): poly_book("a", [(62, 50)], [(40, 50)]),
        (P, "b"): poly_book("b", [(57, 50)], [(45, 50)]),
        (P, "c"): poly_book("c", [(10, 50)], []),
    }
    [candidate] = Scanner([at_most], books, now_ns=Clock()).drain()
    assert (candidate.stage, candidate.score_micro_usd) == ("row", 75_000)  # NO a + NO b: $0.15 on 2 contracts

    # b and c inverted (risk-free) turn the group into z_a + z_d <= 0: NO a alone pays $1 surely,
    # $0.05 on one contract (the NO d bound reaches 0 after $0.01)
    d, e = contract_id(P, "d"), contract_id(P, "e")
    relations = (AtMostOne((a, d, b, c)), Equivalent(b, c, inverted=True))
    books = {
        (P, "a"): poly_book("a", [(6, 50)], [(95, 50)]),
        (P, "d"): poly_book("d", [(2, 50)], [(99, 50)]),
        (P, "e"): poly_book("e", [(2, 50)], [(99, 50)]),
        (P, "b"): poly_book("b", [(50, 50)], [(52, 50)]),
        (P, "c"): poly_book("c", [(50, 50)], [(52, 50)]),
    }
    for extra, stage in (((), "row"), ((Implies(e, a),), "difference")):
        contracts = (a, d, b, c, e) if extra else (a, d, b, c)
        forced = Component(
            "forced", contracts, relations + extra, tuple(li for m in contracts for li in listings(P, m.split(":")[1]))
        )
        [candidate] = Scanner([forced], books, now_ns=Clock()).drain()
        assert (candidate.stage, candidate.score_micro_usd) == (stage, 50_000)
        assert lp_profit(candidate.candidate_set) > 0


def test_a_live_tick_size_change_overrides_the_listing_tick() -> None:
    """Polymarket moves a market to a $0.001 tick near 0 and 1 (tick_size_change; the session sets
    the ladder's tick_size_micro_usd). Asks on the new grid are real liquidity: the listing's
    metadata tick ($0.01, from when the graph was built) must not exclude them, else a negRisk
    group with a long-shot member could never be forwarded."""
    markets = ["m1", "m2", "m3"]
    books = poly_group_books(markets, [30, 65, 1])
    long_shot = books[(P, "m3")]
    for ladder in (long_shot.yes, no_ladder(long_shot)):
        ladder.tick_size_micro_usd = 1_000  # TickSizeChange 0.01 -> 0.001
    long_shot.yes.apply_level(BookSide.ASK, 4_000, 500 * CONTRACT, ChangeMode.SET, 0)  # $0.004 < $0.01
    long_shot.yes.apply_level(BookSide.ASK, CENT, 0, ChangeMode.SET, 0)
    no_ladder(long_shot).apply_level(BookSide.ASK, 997_000, 500 * CONTRACT, ChangeMode.SET, 0)
    no_ladder(long_shot).apply_level(BookSide.ASK, 99 * CENT, 0, ChangeMode.SET, 0)
    scanner = Scanner([group("G", P, markets)], books, now_ns=Clock())
    [candidate] = scanner.drain()  # 0.30 + 0.65 + 0.004 < $1
    assert (
        candidate.excluded == () and candidate.stage == "row" and candidate.score_micro_usd == 15_334
    )  # $0.046 over 3, rounded up
    instrument = next(i for i in candidate.candidate_set.instruments if i.id == "polymarket:m3:yes")
    assert instrument.tick_size == D("0.001") and instrument.asks[0].price == D("0.004")
    assert lp_profit(candidate.candidate_set) > 0
    long_shot.yes.apply_level(BookSide.ASK, 4_500, 10 * CONTRACT, ChangeMode.SET, 0)  # off even the new grid
    long_shot.yes.apply_level(BookSide.ASK, 4_000, 0, ChangeMode.SET, 0)
    scanner.on_book_change(P, "m3")
    assert scanner.drain() == [] and scanner.stats.excluded_listings == Counter({"off_tick": 1})
