"""Rebalancing against a brute-force reference that shares no code with it: the sale of a held
cross-venue basket (Kalshi YES + Polymarket NO of one event) judged by enumerating every number of
baskets sold, with proceeds swept from the bid ladders and fees from the venues' published rules
(Kalshi: each contract's fee up to $0.0001, the order up to the cent; Polymarket: rate x q x p(1-p)
per level, floored to $0.00001), in integer micro-dollar arithmetic of its own.

The end-to-end acceptance (a sale through the real executor on the loopback venues and its capital
reused by another set's plan) is in tests/execution/test_rebalance_loopback.py.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arb.book import BinaryBook, OrderBook
from arb.domain import BookSnapshot, Venue
from arb.errors import ConfigError
from arb.execution.repair import RepairPlanner
from arb.graph import Component, Listing
from arb.ledger.store import Ledger
from arb.rebalance import HeldSet, RebalanceAction, RebalanceConfig, RebalanceInputError, Rebalancer
from solvers import Action, Capital, Equivalent, ExactlyOne, Side, kalshi_fee, polymarket_fee

D = Decimal
K, P = Venue.KALSHI, Venue.POLYMARKET
MICRO = 1_000_000
CENT_MICRO = 10_000
POLY_RATE = D("0.04")
CASH = Capital({"kalshi": D(1000), "polymarket": D(1000)})
NOW_NS = 10**12
YES_K, NO_K = "kalshi:K:yes", "kalshi:K:no"
YES_P, NO_P = "polymarket:P:yes", "polymarket:P:no"


# -- the component and its books ---------------------------------------------------------------------------
def _kalshi_listings(market: str) -> tuple[Listing, ...]:
    return tuple(
        Listing(
            f"kalshi:{market}:{side.value}", K, market, f"kalshi:{market}", side, kalshi_fee(), MICRO, CENT_MICRO, MICRO
        )
        for side in (Side.YES, Side.NO)
    )


def _poly_listings(market: str) -> tuple[Listing, ...]:
    return tuple(
        Listing(
            f"polymarket:{market}:{side.value}",
            P,
            market,
            f"polymarket:{market}",
            side,
            polymarket_fee(rate=POLY_RATE),
            CENT_MICRO,
            CENT_MICRO,
            5 * MICRO,
            buy_amount_increment_micro_usd=CENT_MICRO,
            sell_amount_increment_micro_usd=100,
        )
        for side in (Side.YES, Side.NO)
    )


PAIR = Component(
    "pair",
    ("kalshi:K", "polymarket:P"),
    (Equivalent("kalshi:K", "polymarket:P"),),
    (*_kalshi_listings("K"), *_poly_listings("P")),
)


def _levels(pairs: Sequence[tuple[str, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((int(D(price) * MICRO), size * MICRO) for price, size in pairs)


def kalshi_book(market: str, bids: Sequence[tuple[str, int]], asks: Sequence[tuple[str, int]]) -> BinaryBook:
    """Kalshi's one ladder: YES bids (= NO asks at 1 - bid) and YES asks."""
    ladder = OrderBook(market, market, "kalshi")
    ladder.apply_snapshot(BookSnapshot(K, market, market, _levels(bids), _levels(asks)), NOW_NS)
    return BinaryBook(market, ladder)


def poly_book(market: str, yes_asks: Sequence[tuple[str, int]], no_asks: Sequence[tuple[str, int]]) -> BinaryBook:
    """Polymarket's two token books; a YES ask at q is a NO bid at 1 - q (one pool)."""
    yes, no = OrderBook(f"{market}-yes", market, "polymarket"), OrderBook(f"{market}-no", market, "polymarket")
    mirror = lambda asks: tuple((MICRO - p, s) for p, s in _levels(asks))  # noqa: E731
    yes.apply_snapshot(BookSnapshot(P, f"{market}-yes", market, mirror(no_asks), _levels(yes_asks)), NOW_NS)
    no.apply_snapshot(BookSnapshot(P, f"{market}-no", market, mirror(yes_asks), _levels(no_asks)), NOW_NS)
    return BinaryBook(market, yes, no)


def books(
    kalshi_yes_bids: Sequence[tuple[str, int]], poly_no_bids: Sequence[tuple[str, int]]
) -> dict[tuple[Venue, str], BinaryBook]:
    """Bid ladders for the held sides (Kalshi YES, Polymarket NO); the asks sit a cent above the
    best bid on each side (no arbitrage of their own: YES ask + NO ask > $1)."""
    k_best = max(D(p) for p, _ in kalshi_yes_bids)
    p_best = max(D(p) for p, _ in poly_no_bids)
    kalshi = kalshi_book("K", kalshi_yes_bids, [(str(k_best + D("0.01")), 100)])
    # NO bids at b are YES asks at 1 - b; the NO asks a cent above the best NO bid
    poly = poly_book("P", [(str(1 - D(p)), s) for p, s in poly_no_bids], [(str(p_best + D("0.01")), 100)])
    return {(K, "K"): kalshi, (P, "P"): poly}


def rebalancer(min_edge: str = "0.01") -> Rebalancer:
    return Rebalancer(RebalanceConfig(min_edge_usd=D(min_edge)), now_ns=lambda: NOW_NS, clock=lambda: 0.0)


def basket(quantity: int) -> HeldSet:
    return HeldSet(PAIR, {YES_K: D(quantity), NO_P: D(quantity)})


# -- the reference (integers in micro-dollars and Fractions; nothing from solvers or arb.execution) ----------
def _ceil(value: Fraction, step: Fraction) -> Fraction:
    return -((-value) // step) * step


def _floor(value: Fraction, step: Fraction) -> Fraction:
    return (value // step) * step


def _sweep(ladder: Sequence[tuple[str, int]], quantity: int) -> list[tuple[Fraction, int]] | None:
    """(price, contracts) taken from a bid ladder, best first; None when it is too thin."""
    taken, left = [], quantity
    for price, size in sorted(ladder, key=lambda level: -Fraction(level[0]))[:5]:  # five slots a side
        if left == 0:
            break
        take = min(size, left)
        taken.append((Fraction(price), take))
        left -= take
    return taken if left == 0 else None


def ref_kalshi_fee(fills: Sequence[tuple[Fraction, int]]) -> Fraction:
    """The most Kalshi can charge a taker order: every contract its own fill (each fill's fee rounded
    up to $0.0001 is worst one contract at a time), the order total rounded up to the cent."""
    per_fill = sum((_ceil(Fraction(7, 100) * p * (1 - p), Fraction(1, 10_000)) * n for p, n in fills), Fraction(0))
    return _ceil(per_fill, Fraction(1, 100))


def ref_polymarket_fee(fills: Sequence[tuple[Fraction, int]]) -> Fraction:
    """Polymarket's taker fee rate x q x p(1-p) floored to $0.00001 per fill: the most is one fill
    per price level (flooring a split only lowers it)."""
    rate = Fraction(POLY_RATE)
    return sum((_floor(rate * n * p * (1 - p), Fraction(1, 100_000)) for p, n in fills), Fraction(0))


def ref_edge(
    sold: int, kalshi_yes_bids: Sequence[tuple[str, int]], poly_no_bids: Sequence[tuple[str, int]]
) -> Fraction | None:
    """What selling `sold` baskets locks in beyond holding them (each pays $1 at settlement in
    either outcome), or None when that sale is not possible."""
    if sold == 0:
        return Fraction(0)
    if sold < 5:  # below Polymarket's minimum order of 5 shares
        return None
    kalshi, poly = _sweep(kalshi_yes_bids, sold), _sweep(poly_no_bids, sold)
    if kalshi is None or poly is None:
        return None
    proceeds = sum((p * n for p, n in kalshi + poly), Fraction(0))
    return proceeds - ref_kalshi_fee(kalshi) - ref_polymarket_fee(poly) - sold


def ref_best(
    held: int, kalshi_yes_bids: Sequence[tuple[str, int]], poly_no_bids: Sequence[tuple[str, int]]
) -> tuple[Fraction, int]:
    """The best edge over every number of baskets sold, and that number (0: hold)."""
    edges = [(e, n) for n in range(held + 1) if (e := ref_edge(n, kalshi_yes_bids, poly_no_bids)) is not None]
    return max(edges)


# -- sales ---------------------------------------------------------------------------------------------------
def test_a_basket_whose_bids_rise_above_its_settlement_value_is_sold() -> None:
    k_bids, p_bids = [("0.60", 50)], [("0.64", 50)]
    decision = rebalancer().decide(basket(10), books(k_bids, p_bids), CASH)
    assert decision.action is RebalanceAction.SELL, decision.reason
    sale = decision.sale
    assert sale is not None
    legs = {(leg.instrument_id, leg.action, leg.quantity) for leg in sale.plan.legs}
    assert legs == {(YES_K, Action.SELL, D(10)), (NO_P, Action.SELL, D(10))}
    # 10 x 0.60 + 10 x 0.64 = 12.40; Kalshi 10 x 0.0168 -> 0.17; Polymarket 0.04 x 10 x 0.64 x 0.36 = 0.09216
    assert sale.edge_usd == D("12.40") - D("0.17") - D("0.09216") - 10 == D("2.13784")
    assert Fraction(sale.edge_usd) == ref_best(10, k_bids, p_bids)[0]
    assert sale.hold_value_usd == 10 and sale.sell_value_usd == D("12.13784")
    assert sale.released_by_venue_usd == {"kalshi": D("5.83"), "polymarket": D("6.30784")}
    assert rebalancer().propose([basket(10)], books(k_bids, p_bids), CASH) == [sale]


def test_a_basket_whose_bids_do_not_rise_is_held() -> None:
    # 0.44 + 0.50 = 0.94 a basket, worth $1 at settlement: selling would lock in a loss
    decision = rebalancer().decide(basket(10), books([("0.44", 50)], [("0.50", 50)]), CASH)
    assert decision.action is RebalanceAction.HOLD and decision.sale is None
    assert "no sale locks in $0.01 more" in decision.reason, decision.reason
    assert rebalancer().propose([basket(10)], books([("0.44", 50)], [("0.50", 50)]), CASH) == []


def test_bids_above_settlement_by_less_than_the_fees_and_the_minimum_edge_are_held() -> None:
    # 0.51 + 0.50 = 1.01 a basket: 10 cents over $10, but Kalshi takes 0.18 and Polymarket 0.1
    k_bids, p_bids = [("0.51", 50)], [("0.50", 50)]
    assert ref_best(10, k_bids, p_bids) == (Fraction(0), 0)
    assert rebalancer().decide(basket(10), books(k_bids, p_bids), CASH).action is RebalanceAction.HOLD
    # 0.60 + 0.50: an edge of about $0.73 for ten baskets: sold at a $0.50 minimum, held at $1
    k_bids = [("0.60", 50)]
    best, sold = ref_best(10, k_bids, p_bids)
    assert sold == 10 and Fraction("0.5") < best < 1
    assert rebalancer("0.50").decide(basket(10), books(k_bids, p_bids), CASH).action is RebalanceAction.SELL
    held = rebalancer("1.00").decide(basket(10), books(k_bids, p_bids), CASH)
    assert held.action is RebalanceAction.HOLD and held.sale is None, held.reason


def test_only_the_part_of_the_basket_the_bids_pay_for_is_sold() -> None:
    # 6 Kalshi bids at 0.70, then 0.30: the seventh basket would sell for 0.94 and is kept
    k_bids, p_bids = [("0.70", 6), ("0.30", 50)], [("0.64", 50)]
    best, sold = ref_best(10, k_bids, p_bids)
    assert sold == 6
    sale = rebalancer().decide(basket(10), books(k_bids, p_bids), CASH).sale
    assert sale is not None
    assert {leg.quantity for leg in sale.plan.legs} == {D(6)}
    assert Fraction(sale.edge_usd) == best


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"action": Action.BUY}, "refused: the plan buys 10 kalshi:K:yes"),
        ({"quantity": D(11)}, "refused: the plan sells 11 kalshi:K:yes, more than is held"),
        ({"cash_flow_usd": D("3.60")}, "locks in $9.90784 at worst, an edge of $-0.09216 below $0.01"),
    ],
)
def test_the_exact_check_refuses_a_plan_that_is_not_a_sale_worth_the_edge(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, object], refusal: str
) -> None:
    """The guard after the allocator: a plan it should never return is held, with the reason."""
    k_bids, p_bids = [("0.60", 50)], [("0.64", 50)]
    sale = rebalancer().decide(basket(10), books(k_bids, p_bids), CASH).sale
    assert sale is not None
    legs = [dataclasses.replace(leg, **change) if leg.instrument_id == YES_K else leg for leg in sale.plan.legs]  # type: ignore[arg-type]
    altered = dataclasses.replace(sale.plan, legs=tuple(legs))
    monkeypatch.setattr(RepairPlanner, "resolve", lambda self, candidate, capital, held: (altered, ""))
    decision = rebalancer().decide(basket(10), books(k_bids, p_bids), CASH)
    assert decision.action is RebalanceAction.HOLD and decision.sale is None
    assert refusal in decision.reason, decision.reason


def test_nothing_held_is_held_and_bad_holdings_are_refused() -> None:
    decision = rebalancer().decide(HeldSet(PAIR, {}), books([("0.60", 50)], [("0.64", 50)]), CASH)
    assert decision.action is RebalanceAction.HOLD and decision.reason == "nothing held"
    with pytest.raises(RebalanceInputError, match="unknown instrument"):
        rebalancer().decide(HeldSet(PAIR, {"kalshi:X:yes": D(1)}), {}, CASH)
    with pytest.raises(RebalanceInputError, match="non-negative"):
        rebalancer().decide(HeldSet(PAIR, {YES_K: D(-1)}), {}, CASH)


def test_a_held_set_without_usable_books_is_held() -> None:
    stale = Rebalancer(RebalanceConfig(min_edge_usd=D("0.01")), now_ns=lambda: NOW_NS + 60 * 10**9, clock=lambda: 0.0)
    decision = stale.decide(basket(10), books([("0.90", 50)], [("0.90", 50)]), CASH)
    assert decision.action is RebalanceAction.HOLD and "no usable bid" in decision.reason, decision.reason


bid_ladder = st.lists(
    st.tuples(st.integers(30, 75).map(lambda cents: f"0.{cents:02d}"), st.integers(1, 15)),
    min_size=1,
    max_size=3,
    unique_by=lambda level: level[0],
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    held=st.integers(1, 20),
    k_bids=bid_ladder,
    p_bids=bid_ladder,
    min_edge=st.sampled_from(["0.01", "0.25", "1"]),
)
def test_the_sell_decision_agrees_with_the_brute_force_reference(
    held: int, k_bids: list[tuple[str, int]], p_bids: list[tuple[str, int]], min_edge: str
) -> None:
    decision = rebalancer(min_edge).decide(basket(held), books(k_bids, p_bids), CASH)
    best, _ = ref_best(held, k_bids, p_bids)
    if decision.sale is None:
        # held: no sale the reference knows locks in the minimum, up to the fee rounding the LP
        # cannot see (Kalshi's order total rounded up to the cent)
        assert best < Fraction(min_edge) + Fraction(1, 100), (decision.reason, best)
        return
    sold = {leg.instrument_id: leg.quantity for leg in decision.sale.plan.legs}
    assert set(sold) == {YES_K, NO_P} and sold[YES_K] == sold[NO_P], sold
    assert all(leg.action is Action.SELL for leg in decision.sale.plan.legs)
    edge = ref_edge(int(sold[YES_K]), k_bids, p_bids)
    assert edge is not None and Fraction(decision.sale.edge_usd) == edge  # exact, to the last digit
    assert edge >= Fraction(min_edge)
    assert edge >= best - Fraction(1, 100), (edge, best)


# -- marks ---------------------------------------------------------------------------------------------------
def test_marks_are_coherent_prices_of_the_mids_and_reach_the_ledger(tmp_path: Path) -> None:
    # Kalshi mid 0.55, Polymarket mid 0.45 for the same event: the coherent price lies between and
    # is the same for both; NO is marked at one minus it
    k = kalshi_book("K", [("0.54", 10)], [("0.56", 10)])
    p = poly_book("P", [("0.46", 10)], [("0.56", 10)])  # YES bid 0.44, ask 0.46: mid 0.45
    marks = rebalancer().marks(PAIR, {(K, "K"): k, (P, "P"): p})
    yes_k, yes_p = marks.by_instrument_micro[YES_K], marks.by_instrument_micro[YES_P]
    assert yes_k == yes_p and 450_000 < yes_k < 550_000
    assert abs(yes_k - 500_000) <= 1  # symmetric mids: the KL projection meets in the middle
    assert marks.by_instrument_micro[NO_P] == MICRO - yes_p and marks.by_instrument_micro[NO_K] == MICRO - yes_k
    assert marks.unquoted == () and marks.divergence > 0
    holdings = {YES_K: D(10), NO_P: D(10)}
    assert marks.value_usd(holdings) == 10  # a hedged basket is worth $1 at any coherent price
    with Ledger(tmp_path / "ledger.sqlite", synchronous="NORMAL") as ledger:
        assert Rebalancer.record_marks(ledger, PAIR, marks, holdings, now_ms=1) == 2
    with closing(sqlite3.connect(tmp_path / "ledger.sqlite")) as conn:  # the file, not the ledger's reader
        rows = {
            (v, m, o): p for v, m, o, p in conn.execute("SELECT venue, market_id, outcome, price_micro_usd FROM marks")
        }
    assert rows == {("kalshi", "K", "yes"): yes_k, ("polymarket", "P", "no"): MICRO - yes_p}


def test_marks_of_an_exactly_one_group_sum_to_one_and_fill_in_an_unquoted_member() -> None:
    listings = tuple(listing for m in "ABC" for listing in _kalshi_listings(m))
    group = Component(
        "group", ("kalshi:A", "kalshi:B", "kalshi:C"), (ExactlyOne(("kalshi:A", "kalshi:B", "kalshi:C")),), listings
    )
    quoted = {
        (K, "A"): kalshi_book("A", [("0.49", 5)], [("0.51", 5)]),
        (K, "B"): kalshi_book("B", [("0.29", 5)], [("0.31", 5)]),
    }
    marks = rebalancer().marks(group, quoted)
    assert marks.unquoted == ("kalshi:C",)
    total = sum(marks.by_instrument_micro[f"kalshi:{m}:yes"] for m in "ABC")
    assert abs(total - MICRO) <= 3  # coherent: exactly one wins (to the micro-dollar rounding of each)
    assert marks.by_instrument_micro["kalshi:A:yes"] > marks.by_instrument_micro["kalshi:B:yes"]


# -- configuration -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"min_edge_usd": D(0)}, "min_edge_usd"),
        ({"min_edge_usd": D("NaN")}, "min_edge_usd"),
        ({"min_edge_usd": 0.01}, "min_edge_usd"),
        ({"interval_s": 0}, "interval_s"),
        ({"interval_s": float("inf")}, "interval_s"),
        ({"slots_per_side": 0}, "slots_per_side"),
        ({"max_book_age_ms": True}, "max_book_age_ms"),
        ({"mip_time_limit_ms": -1.0}, "mip_time_limit_ms"),
        ({"mark_time_budget_ms": float("nan")}, "mark_time_budget_ms"),
        ({"backend": ""}, "backend"),
    ],
)
def test_bad_configuration_is_refused_naming_the_key(changes: dict[str, object], match: str) -> None:
    values: dict[str, object] = {"min_edge_usd": D("0.01"), **changes}
    with pytest.raises(ConfigError, match=match):
        RebalanceConfig(**values)  # type: ignore[arg-type]
