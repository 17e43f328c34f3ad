"""The scenario library (`scenarios/*.toml`): every file the issue asks for is there, parses, says
where its markets come from (and the copied metadata still matches those files), its `[expect]`
agrees with an independent reference, and it replays twice to the same bytes and passes.

The reference shares no code with the engine: its own `Fraction` fee arithmetic per venue, written
from docs/money-model.md (Kalshi: 0.07 x C x P x (1 - P) per fill rounded up to $0.0001, the order
rounded up to the cent, the worst split being one lot per fill, plus the better-price cap; Polymarket:
rate x C x (P x (1 - P))^exponent floored to $0.00001), its own reading of the books from the raw
TOML, and its own model of what each scenario must end with.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd
from pathlib import Path
from typing import Any

import pytest

from arb.replay.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "scenarios"
DATA = ROOT / "arb" / "scenario" / "data"
FILES = sorted(LIBRARY.glob("*.toml"))

# The issue's list, one file each.
REQUIRED = {
    "kalshi-yes-no-under-1",
    "polymarket-negrisk-buy-all-yes",
    "polymarket-negrisk-buy-all-no",
    "cross-venue-pair",
    "inverted-link",
    "implication-ladder",
    "parlay-vs-legs",
    "capital-bound-ten",
    "partial-fill-repair-completes",
    "partial-fill-repair-exits",
    "ws-disconnect-reconnect",
    "ledger-write-failure",
    "http-429-500-storm",
    "venue-partition",
    "daily-loss-halt",
    "settlement-divergence",
    "fees-erase-edge",
    "kalshi-person-name-not-exhaustive",
    "crash-recovery",
}

F = Fraction
ZERO = F(0)
ONE = F(1)
HALF = F(1, 2)
CENT = F(1, 100)
KALSHI_FILL_INCREMENT = F(1, 10_000)
POLY_FILL_INCREMENT = F(1, 100_000)
KALSHI_TAKER = F(7, 100)
POLY_LOT = F(1, 100)


# -- fee arithmetic (docs/money-model.md#fees) -------------------------------------------------------------------
def ceil_to(amount: Fraction, increment: Fraction) -> Fraction:
    return -((-amount) // increment) * increment


def floor_to(amount: Fraction, increment: Fraction) -> Fraction:
    return (amount // increment) * increment


def fraction_gcd(a: Fraction, b: Fraction) -> Fraction:
    denominator = a.denominator * b.denominator
    return F(gcd(int(a * denominator), int(b * denominator)), denominator)


@dataclass(frozen=True)
class KalshiRule:
    multiplier: Fraction = ONE
    lot: Fraction = ONE  # 0.01 where fractional trading is enabled
    tick: Fraction = CENT  # 0.001 on deci-cent markets

    def fill_fee(self, price: Fraction, quantity: Fraction) -> Fraction:
        return ceil_to(KALSHI_TAKER * self.multiplier * quantity * price * (1 - price), KALSHI_FILL_INCREMENT)

    def one_fill(self, price: Fraction, quantity: Fraction) -> Fraction:
        """What one fill of the whole order pays."""
        return ceil_to(self.fill_fee(price, quantity), CENT)

    def worst(self, price: Fraction, quantity: Fraction, *, buy: bool = True) -> Fraction:
        """The most the venue can charge: one lot per fill, and the cap for fills at better prices
        (the order increment less gcd(lot x tick, increment); plus one fill increment a lot where
        lot x tick is off the fill grid), which applies only where a better price lies nearer 1/2."""
        lots = quantity / self.lot
        assert lots.denominator == 1, (quantity, self.lot)
        fee = ceil_to(self.fill_fee(price, self.lot) * lots, CENT)
        if not (price > HALF if buy else price < HALF):
            return fee
        step = self.lot * self.tick
        extra = KALSHI_FILL_INCREMENT * lots if step % KALSHI_FILL_INCREMENT else ZERO
        return fee + ceil_to(extra, CENT) + CENT - fraction_gcd(step, CENT)


@dataclass(frozen=True)
class PolyRule:
    rate: Fraction = ZERO
    exponent: int = 1
    lot: Fraction = POLY_LOT

    def fill_fee(self, price: Fraction, quantity: Fraction) -> Fraction:
        return floor_to(self.rate * quantity * (price * (1 - price)) ** self.exponent, POLY_FILL_INCREMENT)

    def one_fill(self, price: Fraction, quantity: Fraction) -> Fraction:
        return self.fill_fee(price, quantity)

    def worst(self, price: Fraction, quantity: Fraction, *, buy: bool = True) -> Fraction:
        return self.fill_fee(price, quantity)  # flooring: one fill is the most


FeeRule = KalshiRule | PolyRule


def test_fee_reference_matches_the_documented_examples() -> None:
    k = KalshiRule()
    # docs/money-model.md: 1 at 0.50 pays 0.02, 10 at 0.50 pay 0.18, 100 at 0.37 pay 1.64
    assert k.one_fill(HALF, F(1)) == F(2, 100)
    assert k.one_fill(HALF, F(10)) == F(18, 100)
    assert k.one_fill(F(37, 100), F(100)) == F(164, 100)
    # 57 at 0.45: 0.99 in one fill, 1.00 in 57 fills of one
    assert k.one_fill(F(45, 100), F(57)) == F(99, 100)
    assert k.worst(F(45, 100), F(57)) == ONE
    # the better-price cap: 0.009 on deci-cent ticks, 0.0099 for 0.01 lots on cent ticks, none otherwise
    deci = KalshiRule(tick=F(1, 1000))
    assert deci.worst(F(69, 100), F(2)) == k.worst(F(69, 100), F(2)) + F(9, 1000)
    assert KalshiRule(lot=F(1, 100)).worst(F(69, 100), F(1)) - KalshiRule(lot=F(1, 100)).worst(
        F(69, 100), F(1), buy=False
    ) == F(99, 10_000)
    assert deci.worst(F(40, 100), F(2)) == k.worst(F(40, 100), F(2))
    # Polymarket: rate 0.05, 40 at 0.50 pay 0.5 exactly; flooring to 0.00001
    p = PolyRule(F(5, 100))
    assert p.worst(HALF, F(40)) == HALF
    assert p.worst(F(41, 100), F(40)) == F(48380, 100_000)
    assert p.worst(F(33, 100), F(7)) == F(7738, 100_000)  # 0.0773850 floored


# -- reading a scenario file ---------------------------------------------------------------------------------------
Level = tuple[Fraction, Fraction]


def _levels(raw: list[list[str]]) -> list[Level]:
    return [(F(p), F(s)) for p, s in raw]


@dataclass
class Books:
    """The house's ladders of one scenario file at a time (initial books, then book/level/trade events)."""

    doc: Mapping[str, Any]
    ladders: dict[tuple[str, str], tuple[dict[Fraction, Fraction], dict[Fraction, Fraction]]] = field(
        default_factory=dict
    )

    @classmethod
    def at(cls, doc: Mapping[str, Any], t_ms: int) -> Books:
        books = cls(doc)
        venues = doc["venues"]
        for m in venues.get("kalshi", {}).get("markets", []):
            book = m.get("book", {})
            books.ladders[("kalshi", m["ticker"])] = (
                dict(_levels(book.get("bids", []))),
                dict(_levels(book.get("asks", []))),
            )
        for m in venues.get("polymarket", {}).get("markets", []):
            for token, key in ((m["yes_token"], "yes_book"), (m["no_token"], "no_book")):
                book = m.get(key, {})
                books.ladders[("polymarket", token)] = (
                    dict(_levels(book.get("bids", []))),
                    dict(_levels(book.get("asks", []))),
                )
        for event in sorted(doc.get("events", []), key=lambda e: e["at_ms"]):  # stable: file order kept
            if event["at_ms"] > t_ms:
                break
            book_key = (event.get("venue", ""), event.get("market", ""))
            if event["kind"] == "book":
                books.ladders[book_key] = (dict(_levels(event.get("bids", []))), dict(_levels(event.get("asks", []))))
            elif event["kind"] == "level":
                side = books.ladders[book_key][0 if event["side"] == "bid" else 1]
                side.pop(F(event["price"]), None)
                if F(event["size"]):
                    side[F(event["price"])] = F(event["size"])
        return books

    def best_ask(self, venue: str, market: str) -> Level:
        asks = self.ladders[(venue, market)][1]
        price = min(asks)
        return price, asks[price]

    def best_bid(self, venue: str, market: str) -> Level:
        bids = self.ladders[(venue, market)][0]
        price = max(bids)
        return price, bids[price]

    def buy(self, venue: str, market: str, side: str = "yes") -> Level:
        """Best price and size to buy: Kalshi NO is the mirror of the YES bids; a Polymarket token
        is its own book (`market` is the token)."""
        if venue == "kalshi" and side == "no":
            price, size = self.best_bid(venue, market)
            return 1 - price, size
        return self.best_ask(venue, market)

    def rule(self, venue: str, market: str) -> FeeRule:
        venues = self.doc["venues"]
        if venue == "kalshi":
            m = next(m for m in venues["kalshi"]["markets"] if m["ticker"] == market)
            event = next(e for e in venues["kalshi"]["events"] if e["event_ticker"] == m["event_ticker"])
            series = next(s for s in venues["kalshi"]["series"] if s["ticker"] == event["series_ticker"])
            assert series.get("fee_type", "quadratic") == "quadratic"
            return KalshiRule(
                multiplier=F(series.get("fee_multiplier", "1")),
                lot=F(1, 100) if m.get("fractional") else ONE,
                tick=F(1, 1000) if m.get("price_level_structure") == "deci_cent" else CENT,
            )
        p = next(p for p in venues["polymarket"]["markets"] if market in (p["yes_token"], p["no_token"]))
        schedule = p.get("fee_schedule")
        if schedule is None:
            return PolyRule()
        return PolyRule(F(schedule["rate"]), schedule.get("exponent", 1))


def config_value(doc: Mapping[str, Any], dotted: str, default: str) -> str:
    node: Any = doc.get("config", {})
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return str(node)


# -- baskets -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Leg:
    venue: str
    market: str  # Kalshi ticker | Polymarket token
    side: str  # Kalshi "yes"/"no"; Polymarket: the token's side, for naming positions
    price: Fraction
    size: Fraction
    rule: FeeRule


def leg(books: Books, venue: str, market: str, side: str = "yes") -> Leg:
    price, size = books.buy(venue, market, side)
    return Leg(venue, market, side, price, size, books.rule(venue, market))


@dataclass(frozen=True)
class Reference:
    """What the engine must show: the guaranteed profit's bounds (the plan's own figure prices the
    worst fee split; a fill the venue makes in one piece can only pay less) and the positions."""

    profit_low: Fraction
    profit_high: Fraction
    positions: dict[str, Fraction]
    plans: tuple[int, int] | None = (1, 1)


def basket(legs: list[Leg], n: Fraction, payout: Fraction) -> tuple[Fraction, Fraction, Fraction]:
    """(worst-fee profit, one-fill profit, worst cost) of n baskets at the legs' best prices."""
    notional = sum((lg.price * n for lg in legs), ZERO)
    worst = sum((lg.rule.worst(lg.price, n) for lg in legs), ZERO)
    best = sum((lg.rule.one_fill(lg.price, n) for lg in legs), ZERO)
    return payout * n - notional - worst, payout * n - notional - best, notional + worst


def best_basket(legs: list[Leg], *, payout: Fraction, cost_cap: Fraction, min_profit: Fraction) -> Fraction:
    """The basket count a riskless plan takes: the most profitable whole count (ties: the larger)
    within the depth of every leg's best level and the cost cap; 0 when none clears `min_profit`."""
    depth = min(lg.size for lg in legs)
    best_n, best_profit = ZERO, ZERO
    for n in range(1, int(depth) + 1):
        low, _high, cost = basket(legs, F(n), payout)
        if cost <= cost_cap and low >= min_profit and low >= best_profit:
            best_n, best_profit = F(n), low
    return best_n


def position_key(lg: Leg, doc: Mapping[str, Any]) -> str:
    if lg.venue == "kalshi":
        return f"kalshi:{lg.market}:{lg.side}"
    for p in doc["venues"]["polymarket"]["markets"]:
        if lg.market in (p["yes_token"], p["no_token"]):
            return f"polymarket:{p['condition_id']}:{'yes' if lg.market == p['yes_token'] else 'no'}"
    raise KeyError(lg.market)


def basket_reference(doc: Mapping[str, Any], legs: list[Leg], *, payout: Fraction = ONE) -> Reference:
    cost_cap = F(config_value(doc, "risk.max_partial_fill_loss_usd", "50.00"))
    min_profit = F(config_value(doc, "risk.min_profit_usd", "0.05"))
    n = best_basket(legs, payout=payout, cost_cap=cost_cap, min_profit=min_profit)
    assert n > 0, "the scenario's basket never clears the minimum profit"
    # the next level of every leg must not pay: n is the whole plan
    low, high, _cost = basket(legs, n, payout)
    return Reference(low, high, {position_key(lg, doc): n for lg in legs})


def no_trade_reference(legs_sets: list[tuple[list[Leg], Fraction]], doc: Mapping[str, Any]) -> Reference:
    """None of the baskets clears the minimum profit at any size."""
    min_profit = F(config_value(doc, "risk.min_profit_usd", "0.05"))
    for legs, payout in legs_sets:
        depth = min(lg.size for lg in legs)
        for n in range(1, int(depth) + 1):
            low, _high, _cost = basket(legs, F(n), payout)
            assert low < min_profit, (legs, n, low)
    return Reference(ZERO, ZERO, {}, plans=(0, 0))


# -- per scenario -------------------------------------------------------------------------------------------------
def _poly(doc: Mapping[str, Any], gamma_id: str) -> Mapping[str, Any]:
    return next(p for p in doc["venues"]["polymarket"]["markets"] if p["gamma_id"] == gamma_id)


def _opening_ms(doc: Mapping[str, Any]) -> int:
    return max((e["at_ms"] for e in doc.get("events", []) if e["kind"] in ("book", "level")), default=0)


def ref_kalshi_yes_no(doc: Mapping[str, Any]) -> Reference:
    books = Books.at(doc, _opening_ms(doc))
    above, below = (m["ticker"] for m in doc["venues"]["kalshi"]["markets"])
    return basket_reference(doc, [leg(books, "kalshi", above), leg(books, "kalshi", below)])


def ref_negrisk_yes(doc: Mapping[str, Any]) -> Reference:
    books = Books.at(doc, _opening_ms(doc))
    legs = [leg(books, "polymarket", p["yes_token"]) for p in doc["venues"]["polymarket"]["markets"]]
    return basket_reference(doc, legs)


def ref_negrisk_no(doc: Mapping[str, Any]) -> Reference:
    books = Books.at(doc, _opening_ms(doc))
    markets = doc["venues"]["polymarket"]["markets"]
    legs = [leg(books, "polymarket", p["no_token"], "no") for p in markets]
    # every YES and every NO basket: only the NO one pays (n - 1 of n NOs win)
    no_trade_reference([([leg(books, "polymarket", p["yes_token"]) for p in markets], ONE)], doc)
    return basket_reference(doc, legs, payout=F(len(markets) - 1))


def _pair(doc: Mapping[str, Any], *, kalshi_side: str, poly_side: str) -> list[Leg]:
    books = Books.at(doc, _opening_ms(doc))
    ticker = doc["venues"]["kalshi"]["markets"][0]["ticker"]
    p = doc["venues"]["polymarket"]["markets"][0]
    token = p["yes_token"] if poly_side == "yes" else p["no_token"]
    return [leg(books, "kalshi", ticker, kalshi_side), leg(books, "polymarket", token, poly_side)]


def ref_pair(doc: Mapping[str, Any]) -> Reference:
    return basket_reference(doc, _pair(doc, kalshi_side="yes", poly_side="no"))


def ref_inverted(doc: Mapping[str, Any]) -> Reference:
    # Kalshi YES is Polymarket NO's twin: Kalshi YES + Polymarket YES pay exactly $1
    return basket_reference(doc, _pair(doc, kalshi_side="yes", poly_side="yes"))


def ref_ladder(doc: Mapping[str, Any]) -> Reference:
    books = Books.at(doc, _opening_ms(doc))
    low_strike, high_strike = (m["ticker"] for m in doc["venues"]["kalshi"]["markets"])
    return basket_reference(doc, [leg(books, "kalshi", low_strike), leg(books, "kalshi", high_strike, "no")])


def ref_parlay(doc: Mapping[str, Any]) -> Reference:
    books = Books.at(doc, _opening_ms(doc))
    markets = doc["venues"]["kalshi"]["markets"]
    parlay = next(m for m in markets if m.get("custom_strike"))
    legs = [m for m in markets if m is not parlay]
    cheapest = min(legs, key=lambda m: books.buy("kalshi", m["ticker"])[0])
    return basket_reference(
        doc, [leg(books, "kalshi", parlay["ticker"], "no"), leg(books, "kalshi", cheapest["ticker"])]
    )


def ref_fees_erase(doc: Mapping[str, Any]) -> Reference:
    return no_trade_reference([(_pair(doc, kalshi_side="yes", poly_side="no"), ONE)], doc)


def ref_person_name(doc: Mapping[str, Any]) -> Reference:
    books = Books.at(doc, _opening_ms(doc))
    tickers = [m["ticker"] for m in doc["venues"]["kalshi"]["markets"]]
    # at most one person wins (someone unlisted may): every YES pays nothing in that outcome, so
    # the riskless payout of buying every YES is $0; every NO pays n - 1
    all_yes = [leg(books, "kalshi", t) for t in tickers]
    all_no = [leg(books, "kalshi", t, "no") for t in tickers]
    assert sum(lg.price for lg in all_yes) < ONE  # it looks like an arbitrage ...
    return no_trade_reference([(all_yes, ZERO), (all_no, F(len(tickers) - 1))], doc)


def ref_capital_bound(doc: Mapping[str, Any]) -> Reference:
    """Ten independent exactly-one groups, each one basket line at its best asks; per venue one
    budget. The allocator's optimum is the fractional knapsack by profit per dollar: its value is an
    upper bound on any plan's profit (fees at their per-lot worst are linear, rounding only costs).
    A lower bound: whole baskets greedily in the same order with every order's cent rounding paid,
    less one basket of the group the budget cuts."""
    books = Books.at(doc, 0)
    venues = doc["venues"]
    groups: list[tuple[str, list[Leg]]] = []
    for event in venues["kalshi"]["events"]:
        tickers = [m["ticker"] for m in venues["kalshi"]["markets"] if m["event_ticker"] == event["event_ticker"]]
        groups.append(("kalshi", [leg(books, "kalshi", t) for t in tickers]))
    poly_events: dict[str, list[Mapping[str, Any]]] = {}
    for p in venues["polymarket"]["markets"]:
        poly_events.setdefault(p["event_id"], []).append(p)
    for markets in poly_events.values():
        groups.append(("polymarket", [leg(books, "polymarket", p["yes_token"]) for p in markets]))
    assert len(groups) == 10
    upper = lower = ZERO
    positions: dict[str, Fraction] = {}
    funded = touched = 0
    for venue in ("kalshi", "polymarket"):
        budget = F(config_value(doc, f"risk.cash_per_venue_usd.{venue}", "1000"))
        lines = []
        for v, legs in groups:
            if v != venue:
                continue
            # a basket at the fee of one lot per fill, no order rounding: no plan pays less
            unit_cost = sum((lg.price + lg.rule.fill_fee(lg.price, lg.rule.lot) / lg.rule.lot for lg in legs), ZERO)
            depth = min(lg.size for lg in legs)
            if unit_cost < 1:
                lines.append(((1 - unit_cost) / unit_cost, unit_cost, depth, legs))
        lines.sort(key=lambda line: line[0], reverse=True)
        left_upper = left_lower = budget
        for _ratio, unit_cost, depth, legs in lines:
            take = min(depth, left_upper / unit_cost)
            upper += take * (1 - unit_cost)
            left_upper -= take * unit_cost
            n = F(min(int(depth), int(left_lower / unit_cost)))
            while n > 0 and basket(legs, n, ONE)[2] > left_lower:
                n -= 1
            if n > 0:
                low, _high, cost = basket(legs, n, ONE)
                lower += low
                left_lower -= cost
                touched += 1
                if n == depth:
                    funded += 1
                    positions.update({position_key(lg, doc): n for lg in legs})
                else:
                    lower -= basket(legs, ONE, ONE)[0]  # the cut group may end a basket short
            else:
                positions.update({position_key(lg, doc): ZERO for lg in legs})
    assert 0 < funded < 10 and touched < 10, "capital must bind: some groups funded, some not"
    return Reference(floor_to(lower, CENT), ceil_to(upper, CENT), positions, plans=(funded, touched))


def _carti_partial(doc: Mapping[str, Any]) -> tuple[list[Leg], Fraction, Fraction]:
    legs = _pair(doc, kalshi_side="yes", poly_side="no")
    ratio = F(next(e["ratio"] for e in doc["events"] if e["kind"] == "partial_fills"))
    cap = F(config_value(doc, "risk.repair_loss_cap_usd", "5.00"))
    return legs, ratio, cap


def ref_repair_completes(doc: Mapping[str, Any]) -> Reference:
    """The entry fills every Kalshi contract and `ratio` of the Polymarket NO; each repair round
    buys the missing NO at the same price and again fills `ratio` of it, until the set's worst
    outcome (the least of the two legs' payouts, less the cash spent at the fees the venues charge)
    is within the loss cap. Three rounds at most (executor.max_repair_rounds)."""
    (k, p), ratio, cap = _carti_partial(doc)
    n = best_basket([k, p], payout=ONE, cost_cap=F("50"), min_profit=F("0.05"))
    held_k, held_p = n, floor_to(n * ratio, p.rule.lot)
    spent = n * k.price + k.rule.one_fill(k.price, n) + held_p * p.price + p.rule.one_fill(p.price, held_p)
    entry_low, entry_high, _ = basket([k, p], n, ONE)
    rounds = 0
    while min(held_k, held_p) - spent < -cap and rounds < 3:
        want = held_k - held_p
        got = floor_to(want * ratio, p.rule.lot)
        spent += got * p.price + p.rule.one_fill(p.price, got)
        held_p += got
        rounds += 1
    assert min(held_k, held_p) - spent >= -cap
    assert rounds >= 1 and held_p > floor_to(n * ratio, p.rule.lot)  # it completed, not exited
    positions = {position_key(k, doc): held_k, position_key(p, doc): held_p}
    # the entry plan did not fill as planned: the summary's guaranteed profit counts none of it
    del entry_low, entry_high
    return Reference(ZERO, ZERO, positions)


def ref_repair_exits(doc: Mapping[str, Any]) -> Reference:
    """The entry fills every Kalshi contract and `ratio` of the Polymarket NO; the missing NO is
    under Polymarket's minimum order (and one minimum order would outgrow the Kalshi leg), so the
    only repair sells the Kalshi surplus at its bid: both legs end equal."""
    (k, p), ratio, cap = _carti_partial(doc)
    n = best_basket([k, p], payout=ONE, cost_cap=F("50"), min_profit=F("0.05"))
    filled = floor_to(n * ratio, p.rule.lot)
    poly = _poly(doc, doc["links"][0]["polymarket"])
    minimum = F(poly.get("min_order_size", "5"))
    # completing is impossible: the missing NO is under the venue's minimum, and one minimum order
    # would leave more NO than the Kalshi leg holds
    assert n - filled < minimum and filled + minimum > n
    spent = n * k.price + k.rule.one_fill(k.price, n) + filled * p.price + p.rule.one_fill(p.price, filled)
    assert filled - spent < -cap  # the partial fill alone is not within the cap: a repair must run
    books = Books.at(doc, _opening_ms(doc))
    bid, _size = books.best_bid("kalshi", k.market)
    surplus = n - filled
    spent -= surplus * bid - k.rule.one_fill(bid, surplus)
    assert filled - spent >= -cap  # the exit hedges it
    return Reference(ZERO, ZERO, {position_key(k, doc): filled, position_key(p, doc): filled})


REFERENCES: dict[str, Callable[[Mapping[str, Any]], Reference]] = {
    "kalshi-yes-no-under-1": ref_kalshi_yes_no,
    "polymarket-negrisk-buy-all-yes": ref_negrisk_yes,
    "polymarket-negrisk-buy-all-no": ref_negrisk_no,
    "cross-venue-pair": ref_pair,
    "ws-disconnect-reconnect": ref_pair,
    "crash-recovery": ref_pair,
    "inverted-link": ref_inverted,
    "ledger-write-failure": ref_inverted,
    "implication-ladder": ref_ladder,
    "parlay-vs-legs": ref_parlay,
    "fees-erase-edge": ref_fees_erase,
    "kalshi-person-name-not-exhaustive": ref_person_name,
    "capital-bound-ten": ref_capital_bound,
    "partial-fill-repair-completes": ref_repair_completes,
    "partial-fill-repair-exits": ref_repair_exits,
}


# -- tests -----------------------------------------------------------------------------------------------------------
def _doc(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_the_library_holds_every_scenario_the_issue_lists() -> None:
    names = {path.stem for path in FILES}
    assert names >= REQUIRED, sorted(REQUIRED - names)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_file_parses_and_says_where_it_comes_from(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.provenance.strip() and scenario.description.strip()
    assert scenario.duration_ms <= 6_000, "keep replays short in virtual time"
    readme = (LIBRARY / "README.md").read_text(encoding="utf-8")
    assert f"`{path.stem}`" in readme, "every scenario has a row in scenarios/README.md"


def _captured_gamma() -> dict[str, dict[str, Any]]:
    markets = json.loads((DATA / "drmanhattan_gamma_markets_feeSchedule_2026.json").read_text(encoding="utf-8"))
    out = {m["conditionId"]: m for m in markets}
    for event in json.loads((DATA / "fomc_2024_polymarket_events.json").read_text(encoding="utf-8")):
        for m in event["markets"]:
            out[m["conditionId"]] = {**m, "event": event}
    return out


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_copied_metadata_still_matches_its_source(path: Path) -> None:
    """Every Polymarket market and every Kalshi FOMC, Ether or parlay market a file takes from the
    captures carries the captured fields unchanged (the provenance it claims is true)."""
    doc = _doc(path)
    gamma = _captured_gamma()
    for p in doc["venues"].get("polymarket", {}).get("markets", []):
        captured = gamma.get(p["condition_id"])
        assert captured is not None, f"{p['condition_id']} is in no capture"
        assert p["question"] == captured["question"]
        assert [p["yes_token"], p["no_token"]] == json.loads(captured["clobTokenIds"])
        assert p["description"] == captured["description"]
        assert p["gamma_id"] == captured["id"]
        assert F(p["tick"]) == F(str(captured["orderPriceMinTickSize"]))
        assert F(p["min_order_size"]) == F(str(captured["orderMinSize"]))
        assert p["neg_risk"] == captured["negRisk"]
        schedule = captured.get("feeSchedule") if captured.get("feesEnabled") else None
        if schedule is None:
            assert "fee_schedule" not in p
        else:
            assert F(p["fee_schedule"]["rate"]) == F(str(schedule["rate"]))
            assert p["fee_schedule"]["exponent"] == schedule["exponent"]
    kalshi_events = json.loads((DATA / "fomc_2024_kalshi_events.json").read_text(encoding="utf-8"))["events"]
    fomc = {m["ticker"]: m for e in kalshi_events for m in e["markets"]}
    tickers = {
        json.loads(line)["msg"]["market_ticker"]
        for line in (DATA / "ssmd_ticker_2026-02-12.jsonl").read_text(encoding="utf-8").split()
    }
    parlays = {
        m["ticker"]: m for m in json.loads((DATA / "drmanhattan_markets_mve_2026-06.json").read_text(encoding="utf-8"))
    }
    for m in doc["venues"].get("kalshi", {}).get("markets", []):
        ticker = m["ticker"]
        if ticker in fomc:
            assert (m["title"], m["rules_primary"], m["event_ticker"]) == (
                fomc[ticker]["title"],
                fomc[ticker]["rules_primary"],
                fomc[ticker]["event_ticker"],
            )
        elif ticker in parlays:
            captured = parlays[ticker]
            assert m["title"] == captured["title"]
            assert m["price_level_structure"] == captured["price_level_structure"]
            assert m["fractional"] == captured["fractional_trading_enabled"]
            legs = [leg["market_ticker"] for leg in captured["mve_selected_legs"]]
            assert m["custom_strike"]["Associated Markets"].split(",") == legs
        elif ticker.startswith("KXETHD-") and "-T" in ticker:
            assert ticker in tickers


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_expectations_agree_with_the_reference(path: Path) -> None:
    doc = _doc(path)
    compute = REFERENCES.get(path.stem)
    if compute is None:
        pytest.skip("a fault scenario: its expectations are behaviour, not money (checked by the replay)")
    ref = compute(doc)
    expect = doc["expect"]
    if ref.plans is not None and ref.plans == (0, 0):
        assert expect["plans_max"] == 0 and expect["orders_sent_max"] == 0
        return
    if ref.profit_high > 0:
        assert F(expect["guaranteed_profit_usd_min"]) == ref.profit_low, float(ref.profit_low)
        assert F(expect["guaranteed_profit_usd_max"]) == ref.profit_high, float(ref.profit_high)
    if ref.plans is not None and path.stem == "capital-bound-ten":
        assert (expect["plans_min"], expect["plans_max"]) == ref.plans
    positions = {key: F(value) for key, value in expect.get("final_positions", {}).items()}
    assert positions == ref.positions


# -- replays --------------------------------------------------------------------------------------------------------
def _kelly_cap_bound(doc: Mapping[str, Any]) -> Fraction:
    """The most a settlement-risk link may stake (docs: kelly_fraction x ((1 - p) - p / edge) x
    bankroll), at the largest edge the opening offers: its price gap before fees."""
    legs = _pair(doc, kalshi_side="yes", poly_side="no")
    edge = 1 - sum((lg.price for lg in legs), ZERO)
    p = F(config_value(doc, "risk.disagreement_probability_per_link_class.minor_differences", "0.02"))
    fraction = F(config_value(doc, "risk.kelly_fraction", "0.25"))
    bankroll = sum(
        (F(config_value(doc, f"risk.cash_per_venue_usd.{venue}", "1000.00")) for venue in ("kalshi", "polymarket")),
        ZERO,
    )
    return fraction * ((1 - p) - p / edge) * bankroll


def _extra_checks(name: str, doc: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """What a scenario proves beyond its [expect] keys, read from the replay's JSON."""
    plans = result["plans"]
    if name == "ws-disconnect-reconnect":
        opening = _opening_ms(doc)
        traded = [p for p in plans if p["status"] != "refused"]
        assert traded and traded[0]["t_ms"] <= opening + 5_000, "the opening is traded within 5 s of the reconnect"
    if name == "settlement-divergence":
        cap = _kelly_cap_bound(doc)
        assert plans and all(F(p["cost_usd"]) <= cap for p in plans), (cap, [p["cost_usd"] for p in plans])
        default_depth = 40 * (F("0.42") + F("0.50"))
        assert F(plans[0]["cost_usd"]) < default_depth, "the Kelly cap, not the book, sized the plan"
        assert any("settlement divergence" in json.dumps(i) for i in result["incidents"])
    if name == "capital-bound-ten":
        spent = sum((F(p["cost_usd"]) for p in plans if p["status"] != "refused"), ZERO)
        assert spent <= F("10000"), spent


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_replays_twice_to_the_same_bytes_and_passes(path: Path) -> None:
    from arb.replay.runner import run_scenario

    first = run_scenario(path)
    second = run_scenario(path)
    assert first.to_json_bytes() == second.to_json_bytes()
    result = json.loads(first.to_json_bytes())
    failed = [c for c in result["checks"] if not c["passed"]]
    assert first.passed and not failed, failed
    _extra_checks(path.stem, _doc(path), result)
