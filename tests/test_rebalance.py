"""Rebalancing against a brute-force reference that shares no code with it: the sale of a held
cross-venue basket (Kalshi YES + Polymarket NO of one event) judged by enumerating every number of
baskets sold, with proceeds swept from the bid ladders and fees from the venues' published rules
(Kalshi: each contract's fee up to $0.0001, the order up to the cent; Polymarket: rate x q x p(1-p)
per level, floored to $0.00001), in integer micro-dollar arithmetic of its own.

The end-to-end acceptance (a sale through the real executor on the loopback venues and its capital
reused by another set's plan) is in tests/execution/test_rebalance_loopback.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arb.book import BinaryBook
from arb.domain import Venue
from arb.errors import ConfigError
from arb.execution import ExecutionStatus
from arb.execution.loopback import KALSHI_KEY_ID, LoopbackConfig, kalshi_ticker, polymarket_condition
from arb.execution.recovery import recover
from arb.execution.repair import RepairPlanner
from arb.graph import Component
from arb.ledger.store import Ledger
from arb.rebalance import HeldSet, RebalanceAction, RebalanceConfig, RebalanceInputError, Rebalancer
from arb.scanner import ScannerConfig, build_candidate_set
from solvers import (
    Action,
    AllocationProblem,
    Allocator,
    Capital,
    Equivalent,
    ExactlyOne,
    SetLimits,
    Side,
)
from tests.execution.stage import Stage, stage
from tests.support import kalshi_book, kalshi_listings, poly_book, polymarket_listings

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
PAIR = Component(
    "pair",
    ("kalshi:K", "polymarket:P"),
    (Equivalent("kalshi:K", "polymarket:P"),),
    (*kalshi_listings("K"), *polymarket_listings("P", POLY_RATE)),
)


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


def ref_polymarket_fee(fills: Sequence[tuple[Fraction, int]], rate: Fraction) -> Fraction:
    """Polymarket's taker fee rate x q x p(1-p) floored to $0.00001 per fill: the most is one fill
    per price level (flooring a split only lowers it)."""
    return sum((_floor(rate * n * p * (1 - p), Fraction(1, 100_000)) for p, n in fills), Fraction(0))


def ref_edge(
    sold: int,
    kalshi_yes_bids: Sequence[tuple[str, int]],
    poly_no_bids: Sequence[tuple[str, int]],
    poly_rate: Fraction = Fraction(POLY_RATE),
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
    return proceeds - ref_kalshi_fee(kalshi) - ref_polymarket_fee(poly, poly_rate) - sold


def ref_best(
    held: int,
    kalshi_yes_bids: Sequence[tuple[str, int]],
    poly_no_bids: Sequence[tuple[str, int]],
    poly_rate: Fraction = Fraction(POLY_RATE),
) -> tuple[Fraction, int]:
    """The best edge over every number of baskets sold, and that number (0: hold)."""
    edges = [
        (e, n) for n in range(held + 1) if (e := ref_edge(n, kalshi_yes_bids, poly_no_bids, poly_rate)) is not None
    ]
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


GROUP = Component(
    "group",
    ("kalshi:A", "kalshi:B", "kalshi:C"),
    (ExactlyOne(("kalshi:A", "kalshi:B", "kalshi:C")),),
    tuple(listing for m in "ABC" for listing in kalshi_listings(m)),
)


@pytest.mark.parametrize(("a_bid", "sold"), [("0.40", False), ("0.42", True)])
def test_an_exactly_one_group_is_sold_only_when_its_bids_beat_its_dollar_after_fees(a_bid: str, sold: bool) -> None:
    """Five YES of each of A, B, C (exactly one wins) pay $5 whatever happens; YES bids a_bid, 0.35
    and 0.30 sum to $1.05 (or $1.07), less Kalshi's fee on each order of five."""
    bids = {"A": a_bid, "B": "0.35", "C": "0.30"}
    group_books = {(K, m): kalshi_book(m, [(bid, 20)], [(str(D(bid) + D("0.02")), 20)]) for m, bid in bids.items()}
    fills = {m: [(Fraction(bid), 5)] for m, bid in bids.items()}
    edge = sum((5 * Fraction(bid) - ref_kalshi_fee(fills[m]) for m, bid in bids.items()), Fraction(0)) - 5
    assert edge == (Fraction("0.10") if sold else Fraction(0))  # at 0.40 the fees eat the whole nickel
    held = HeldSet(GROUP, {f"kalshi:{m}:yes": D(5) for m in "ABC"})
    decision = rebalancer().decide(held, group_books, CASH)
    if not sold:
        assert decision.action is RebalanceAction.HOLD, decision.reason
        return
    assert decision.sale is not None, decision.reason
    assert Fraction(decision.sale.edge_usd) == edge
    assert {(leg.instrument_id, leg.action, leg.quantity) for leg in decision.sale.plan.legs} == {
        (f"kalshi:{m}:yes", Action.SELL, D(5)) for m in "ABC"
    }


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


def test_a_set_that_cannot_be_judged_does_not_stop_the_others() -> None:
    r = rebalancer()
    bad = HeldSet(PAIR, {"kalshi:X:yes": D(1)})
    (sale,) = r.propose([bad, basket(10)], books([("0.60", 50)], [("0.64", 50)]), CASH)
    assert sale.set_id == "pair" and sale.edge_usd == D("2.13784")
    first, second = r.last_decisions
    assert first.action is RebalanceAction.HOLD and first.reason.startswith("cannot judge: set pair:"), first.reason
    assert "unknown instrument" in first.reason
    assert second.action is RebalanceAction.SELL and second.sale == sale


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
    quoted = {
        (K, "A"): kalshi_book("A", [("0.49", 5)], [("0.51", 5)]),
        (K, "B"): kalshi_book("B", [("0.29", 5)], [("0.31", 5)]),
    }
    marks = rebalancer().marks(GROUP, quoted)
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


# -- acceptance: through the real executor on both simulated venues over loopback ----------------------------
# Set A (market 0) holds a basket bought earlier: 10 Kalshi YES at 0.46 and 10 Polymarket NO at 0.52,
# paying $10 at settlement whichever way the event goes. Set B (market 1) has an arbitrage of its
# own (Kalshi YES asks moved down to 0.40: a basket for about $0.94) that the cash left after A's
# basket cannot fund: $6 a venue to start with, Polymarket's minimum order is 5 shares.
LOOP_CASH_MICRO = 6 * MICRO
LOOPBACK = LoopbackConfig(markets=2, kalshi_cash_micro_usd=LOOP_CASH_MICRO, polymarket_cash_micro_usd=LOOP_CASH_MICRO)
PM_KEY = "exec-api-key"
ENTRY_LIMITS = SetLimits(min_profit_usd=D("0.01"))


async def _until(s: Stage, predicate: Callable[[], bool], what: str) -> None:
    """Wait (on the real sockets of the real clients) until the clients have heard the venues."""
    for _ in range(5000):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


def _sim_cash_usd(s: Stage) -> dict[str, Fraction]:
    """Our cash on each simulator, read from its own account records."""
    (poly,) = s.venues.polymarket_sim.accounts.values()
    kalshi = s.venues.kalshi_sim.account(KALSHI_KEY_ID).cash_micro
    return {"kalshi": Fraction(kalshi, MICRO), "polymarket": Fraction(poly.cash_micro, MICRO)}


def _sim_holdings(s: Stage, index: int) -> tuple[int, int]:
    """(Kalshi YES contracts, Polymarket NO shares) of market `index` on the simulators, whole units."""
    (poly,) = s.venues.polymarket_sim.accounts.values()
    kalshi = s.venues.kalshi_sim.position(KALSHI_KEY_ID, kalshi_ticker(index)).position_micro
    return kalshi // MICRO, poly.positions.get(s.venues.token(index, Side.NO), 0) // MICRO


def _capital(s: Stage) -> Capital:
    """What the entry allocator may spend: the ledger's cash per venue (recovery adopted the
    venues' balances; every fill since moved it)."""
    return Capital({venue.value: usd for venue, usd in s.ledger.cash().items()})


async def _holding_a_basket(s: Stage) -> tuple[Component, Component]:
    report = await recover(s.ledger, s.venues.clients, wall_ms=s.time.wall_ms, clock=s.time.clock, sleep=s.time.sleep)
    assert report.clean, report  # a first start: the ledger adopts the venues' $6 each
    a, b = s.venues.component([0]), s.venues.component([1])
    bought = await s.executor.execute(
        s.plan([s.leg(K, 0, Side.YES, Action.BUY, "10", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "10", "0.52")], a.id),
        a,
        s.venues.books(),
    )
    assert bought.status is ExecutionStatus.COMPLETE, bought
    assert _sim_holdings(s, 0) == (10, 10)
    # B's arbitrage: Kalshi YES asks at 0.40 on market 1
    s.venues.kalshi_sim.set_book(kalshi_ticker(1), ((380_000, 50 * MICRO),), ((400_000, 50 * MICRO),))
    await _until(s, lambda: s.venues.kalshi.books[kalshi_ticker(1)].best_ask() == (400_000, 50 * MICRO), "B's asks")
    return a, b


def _entry_allocator(s: Stage, b: Component) -> Allocator:
    """The entry allocator (riskless objective) on set B alone, on the ledger's cash."""
    candidate, _ = build_candidate_set(
        b, s.venues.books(), now_ns=s.time.clock(), config=ScannerConfig(set_limits=ENTRY_LIMITS)
    )
    return Allocator(AllocationProblem((candidate,), _capital(s)), clock=lambda: 0.0)


def _loop_rebalancer(s: Stage, min_edge: str = "0.05") -> Rebalancer:
    return Rebalancer(RebalanceConfig(min_edge_usd=D(min_edge)), now_ns=s.time.clock, clock=lambda: 0.0)


@pytest.mark.asyncio
async def test_acceptance_a_basket_whose_bids_rise_is_sold_and_its_capital_funds_another_set(tmp_path: Path) -> None:
    async with stage(tmp_path, config=LOOPBACK) as s:
        a, b = await _holding_a_basket(s)
        entry = _entry_allocator(s, b)
        before_sale = _capital(s).cash_by_venue_usd
        assert before_sale["polymarket"] == D("0.80") and before_sale["kalshi"] == D("1.22")  # 6 - 4.60 - 0.18 fee
        starved = entry.solve()
        assert not starved.plans, starved  # 5 Polymarket NO cost $2.60: B cannot be funded

        # A's bids rise: Kalshi YES bid 0.60, Polymarket NO bid 0.64 (its YES asks at 0.36)
        s.venues.kalshi_sim.set_book(kalshi_ticker(0), ((600_000, 50 * MICRO),), ((610_000, 50 * MICRO),))
        s.venues.polymarket_sim.set_book(  # one pool: YES asks 0.36 are NO bids 0.64, YES bids 0.35 NO asks 0.65
            s.venues.token(0, Side.YES), ((350_000, 50 * MICRO),), ((360_000, 50 * MICRO),)
        )
        s.venues.polymarket_sim.set_book(s.venues.token(0, Side.NO), ((640_000, 50 * MICRO),), ((650_000, 50 * MICRO),))
        await _until(
            s,
            lambda: (
                s.venues.books()[(K, kalshi_ticker(0))].best_bid(Side.YES) == (600_000, 50 * MICRO)
                and s.venues.books()[(P, polymarket_condition(0))].best_bid(Side.NO) == (640_000, 50 * MICRO)
            ),
            "A's bids risen",
        )
        held = HeldSet(a, s.executor.set_position(a)[0])
        assert dict(held.holdings) == {
            f"kalshi:{kalshi_ticker(0)}:yes": 10,
            f"polymarket:{polymarket_condition(0)}:no": 10,
        }
        (sale,) = _loop_rebalancer(s).propose([held, HeldSet(b, {})], s.venues.books(), _capital(s))

        # the reference: ten baskets at 0.60 + 0.64 less Kalshi's fee on ten at 0.60 (the loopback
        # Polymarket markets charge none), against $10 at settlement
        assert ref_kalshi_fee([(Fraction(60, 100), 10)]) == Fraction(17, 100)
        expected_edge, baskets = ref_best(10, [("0.60", 50)], [("0.64", 50)], poly_rate=Fraction(0))
        assert baskets == 10 and expected_edge == Fraction("2.23")
        assert Fraction(sale.edge_usd) == expected_edge
        cash_before = _sim_cash_usd(s)
        sold = await s.executor.execute(sale.plan, sale.component, s.venues.books())
        assert sold.status is ExecutionStatus.COMPLETE, sold
        assert _sim_holdings(s, 0) == (0, 0)  # the basket is gone from both venues' own records
        cash_after = _sim_cash_usd(s)
        released = {venue: cash_after[venue] - cash_before[venue] for venue in cash_after}
        assert released == {"kalshi": Fraction("5.83"), "polymarket": Fraction("6.40")}
        assert {k: Fraction(v) for k, v in sale.released_by_venue_usd.items()} == released
        assert sum(released.values()) - 10 == expected_edge  # locked in, beyond holding to settlement

        # the released cash reaches the entry allocator: B's plan now spends more than was there
        entry.set_capital(_capital(s))
        funded = entry.solve()
        (plan,) = funded.plans
        assert plan.set_id == b.id
        assert plan.capital_by_venue_usd["polymarket"] > before_sale["polymarket"], plan.capital_by_venue_usd
        entered = await s.executor.execute(plan, b, s.venues.books())
        assert entered.status is ExecutionStatus.COMPLETE, entered
        k_held, p_held = _sim_holdings(s, 1)
        assert k_held == p_held >= 5  # a hedged basket of B on the venues' records
        assert not s.venues.polymarket_sim.accounts[PM_KEY].resting


@pytest.mark.asyncio
async def test_acceptance_a_basket_whose_bids_do_not_rise_is_held(tmp_path: Path) -> None:
    async with stage(tmp_path, config=LOOPBACK) as s:
        a, _ = await _holding_a_basket(s)
        # the books as they were: Kalshi YES bid 0.44, Polymarket NO bid 0.50: $9.40 for what pays $10
        books_now = s.venues.books()
        assert books_now[(K, kalshi_ticker(0))].best_bid(Side.YES) == (440_000, 50 * MICRO)
        assert books_now[(P, polymarket_condition(0))].best_bid(Side.NO) == (500_000, 50 * MICRO)
        assert ref_best(10, [("0.44", 50)], [("0.50", 50)]) == (Fraction(0), 0)
        held = HeldSet(a, s.executor.set_position(a)[0])
        rebalancer_ = _loop_rebalancer(s)
        orders = len(s.executor.orders)
        assert rebalancer_.propose([held], books_now, _capital(s)) == []
        decision = rebalancer_.decide(held, books_now, _capital(s))
        assert decision.action is RebalanceAction.HOLD and "no sale locks in $0.05 more" in decision.reason
        assert len(s.executor.orders) == orders  # nothing sent
        assert _sim_holdings(s, 0) == (10, 10)

        # the held basket marked at coherent prices: one price for the linked contracts, so YES
        # there and NO here are worth $1 a pair, and the ledger's unrealised P&L is $10 less the
        # $9.80 the contracts cost (fees are expensed, not in the cost)
        marks = rebalancer_.marks(a, books_now)
        assert Rebalancer.record_marks(s.ledger, a, marks, held.holdings, now_ms=s.time.wall_ms()) == 2
        pnl = s.ledger.pnl()
        assert pnl.unmarked == () and pnl.unrealised_usd == D("0.20"), pnl
        assert marks.value_usd(held.holdings) == 10
