"""Test support: seeded random small instances and references that share no code with the allocator.

- `semantic_outcomes` enumerates contract assignments and checks each relation by its meaning.
- `reference_lp_profit` builds the scenario LP from scratch over contract-level quantities (one row
  per enumerated outcome, dense) and solves it with scipy's linprog.
- `replay_plan` re-derives a plan's exact money from its legs with the fee rules (fills at better
  prices than planned included) and checks every outcome in Decimal arithmetic.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from typing import Any

import numpy as np
from scipy.optimize import linprog

from arb.book import BinaryBook, OrderBook
from arb.domain import BookSnapshot, Venue
from arb.graph import Listing
from arb.links import CuratedLink, Orientation, SettlementRisk
from solvers import (
    Action,
    AllocationProblem,
    AtMostOne,
    CandidateSet,
    Capital,
    Conjunction,
    Contract,
    Equivalent,
    ExactlyOne,
    Implies,
    Instrument,
    Level,
    Relation,
    SetLimits,
    SetPlan,
    Side,
    kalshi_fee,
    polymarket_fee,
)

D = Decimal
KINDS_EXACT = ("group", "ladder", "equivalence")
KINDS = (*KINDS_EXACT, "mixed")


# -- random instances ---------------------------------------------------------------------------------
def _price(value: float) -> Decimal:
    return D(min(99, max(1, round(value * 100)))) / 100


def _ladder(rng: random.Random, best: float, kalshi: bool, depth: int) -> tuple[Level, ...]:
    levels = []
    cents = int(_price(best) * 100)
    for _ in range(depth):
        if cents > 99:
            break
        size = D(rng.randint(1, 40)) if kalshi else D(rng.randint(500, 4000)) / 100
        levels.append(Level(D(cents) / 100, size))
        cents += rng.choice((1, 1, 2))
    return tuple(levels)


def _instruments(
    rng: random.Random, set_id: str, contract: str, truth: float, venues: Sequence[str], depth: int
) -> list[Instrument]:
    out = []
    for venue in venues:
        kalshi = venue == "kalshi"
        if kalshi:
            fee = kalshi_fee(multiplier=rng.choice((D(1), D("0.5"))))
        elif rng.random() < 0.2:
            fee = polymarket_fee(rate=D("0.25"), exponent=2)  # short-horizon crypto schedule
        else:
            fee = polymarket_fee(rate=rng.choice((D(0), D("0.03"), D("0.04"))))
        lot = D(1) if kalshi else D("0.01")
        # half the Kalshi markets have deci-cent bands (prices stay on cents here): fills may then land
        # between the cents, which the plan's fees must cover; drawn apart from `rng` so that the
        # instances' other draws stay as they were
        tick = D("0.001") if kalshi and random.Random(f"{set_id}:{contract}").random() < 0.5 else D("0.01")
        # Polymarket FOK/FAK orders sign buys in whole cents and sales in $0.0001
        increments = (None, None) if kalshi else (D("0.01"), D("0.0001"))
        mid = min(0.95, max(0.05, truth + rng.gauss(0, 0.06)))
        minimum = D(0) if kalshi else rng.choice((D(0), D(5)))
        spread = rng.choice((0.0, 0.01, 0.02))
        for side, fair in ((Side.YES, mid), (Side.NO, 1 - mid)):
            out.append(
                Instrument(
                    id=f"{set_id}:{venue}:{contract}:{side.value}",
                    venue=venue,
                    contract=f"{contract}@{venue}",
                    side=side,
                    asks=_ladder(rng, fair + spread / 2, kalshi, depth),
                    fee=fee,
                    lot_size=lot,
                    tick_size=tick,
                    min_order_size=minimum,
                    buy_amount_increment_usd=increments[0],
                    sell_amount_increment_usd=increments[1],
                )
            )
    return out


def random_set(rng: random.Random, kind: str, set_id: str = "s0") -> CandidateSet:
    """A small candidate set of the given structural kind (contracts listed on 1 or 2 venues)."""
    venues = rng.choice((("kalshi",), ("polymarket",), ("kalshi", "polymarket")))
    depth = rng.randint(1, 3)
    relations: list[Relation] = []
    names: list[str] = []
    truths: dict[str, float] = {}
    if kind == "group":
        n = rng.randint(2, 4)
        weights = [rng.random() + 0.1 for _ in range(n)]
        names = [f"g{i}" for i in range(n)]
        truths = {name: w / sum(weights) for name, w in zip(names, weights)}
    elif kind == "ladder":
        n = rng.randint(2, 4)
        names = [f"t{i}" for i in range(n)]
        level = 0.9
        for name in names:
            truths[name] = level
            level *= rng.uniform(0.4, 0.9)
    elif kind == "equivalence":
        names = ["a"]
        truths = {"a": rng.uniform(0.1, 0.9)}
    else:
        names = ["a", "b", "c", "d"]
        truths = {name: rng.uniform(0.2, 0.8) for name in names}
    contracts: list[Contract] = []
    instruments: list[Instrument] = []
    for name in names:
        for venue in venues:
            cap = D(rng.randint(5, 60)) if rng.random() < 0.15 else None
            contracts.append(Contract(f"{name}@{venue}", cap))
        instruments += _instruments(rng, set_id, name, truths[name], venues, depth)
    risky = rng.random() < 0.3
    if len(venues) == 2:
        for name in names:
            relations.append(Equivalent(f"{name}@kalshi", f"{name}@polymarket", settlement_risk=risky))
    first = venues[0]
    if kind == "group":
        exhaustive = rng.random() < 0.8
        members = tuple(f"{n}@{first}" for n in names)
        relations.append(ExactlyOne(members) if exhaustive else AtMostOne(members))
    elif kind == "ladder":
        for hi, lo in zip(names[1:], names[:-1]):
            relations.append(Implies(f"{hi}@{first}", f"{lo}@{first}"))
    elif kind == "equivalence":
        # an inverted cross-listing: contract "not a" on a third listing
        contracts.append(Contract("na@kalshi"))
        instruments += _instruments(rng, set_id, "na", 1 - truths["a"], ("kalshi",), depth)
        relations.append(Equivalent(f"a@{first}", "na@kalshi", inverted=True, settlement_risk=rng.random() < 0.3))
    else:
        a, b, c, d = (f"{n}@{first}" for n in names)
        choice = rng.randrange(3)
        if choice == 0:
            relations += [Conjunction(c, (a, b)), AtMostOne((c, d))]
        elif choice == 1:
            relations += [AtMostOne((a, b)), AtMostOne((b, c)), AtMostOne((a, c)), Implies(d, a)]
        else:
            relations += [ExactlyOne((a, b, c)), Implies(d, a), Implies(d, b)]
    limits = SetLimits(
        max_cost_usd=D(rng.randint(5, 80)) if rng.random() < 0.2 else None,
        min_profit_usd=D("0.01"),
        min_profit_per_payout_usd=D("0.004") if rng.random() < 0.15 else D(0),
        min_return_on_capital=D("0.005") if rng.random() < 0.15 else D(0),
        settlement_loss_limit_usd=D(rng.randint(0, 20)),
    )
    return CandidateSet(set_id, tuple(contracts), tuple(instruments), tuple(relations), limits)


def random_problem(seed: int, kind: str | None = None, sets: int = 1) -> AllocationProblem:
    rng = random.Random(seed)
    candidates = tuple(random_set(rng, kind or rng.choice(KINDS), f"s{k}") for k in range(sets))
    venues = sorted({i.venue for s in candidates for i in s.instruments})
    tight = rng.random() < 0.4
    cash = {v: D(rng.randint(3, 40)) if tight else D(10_000) for v in venues}
    total = D(rng.randint(5, 60)) if rng.random() < 0.2 else None
    inventory = {}
    if rng.random() < 0.3:
        for candidate in candidates:
            for instrument in rng.sample(candidate.instruments, k=min(2, len(candidate.instruments))):
                inventory[instrument.id] = (
                    D(rng.randint(1, 20)) if instrument.venue == "kalshi" else D(rng.randint(100, 2000)) / 100
                )
    return AllocationProblem(candidates, Capital(cash, total), inventory)


# -- references -----------------------------------------------------------------------------------------
def _holds(relation, value: dict[str, int], with_risky: bool) -> bool:
    match relation:
        case ExactlyOne(contracts):
            return sum(value[c] for c in contracts) == 1
        case AtMostOne(contracts):
            return sum(value[c] for c in contracts) <= 1
        case Implies(a, b):
            return not value[a] or bool(value[b])
        case Equivalent(a, b, inverted, risky):
            if risky and not with_risky:
                return True
            return (value[a] != value[b]) if inverted else (value[a] == value[b])
        case Conjunction(result, operands):
            return value[result] == int(all(value[o] for o in operands))
    raise AssertionError(relation)


def semantic_outcomes(candidate: CandidateSet, *, with_risky: bool = True) -> list[dict[str, int]]:
    ids = [c.id for c in candidate.contracts]
    outcomes = []
    for bits in itertools.product((0, 1), repeat=len(ids)):
        value = dict(zip(ids, bits))
        if all(_holds(r, value, with_risky) for r in candidate.relations):
            outcomes.append(value)
    return outcomes


def pays(instrument: Instrument, outcome: dict[str, int]) -> int:
    happened = outcome[instrument.contract]
    return happened if instrument.side is Side.YES else 1 - happened


def reference_unit_cost(instrument: Instrument, price: Decimal) -> Decimal:
    """Price plus fee per contract written from the venues' rules, sharing no code with solvers.fees:
    Kalshi rounds each fill's fee up to $0.0001, and the worst a level can fill is one lot per fill,
    so its cost per contract is ceil4(fee of one lot) / lot; Polymarket floors fills, so its linear
    rate (never below the exact fee) is what a plan can be charged at most before per-order rounding."""
    rule = instrument.fee
    lot = instrument.lot_size
    rate = rule.coefficient * rule.multiplier
    one_lot = rate * lot * (price * (1 - price)) ** rule.exponent + rule.flat_per_contract_usd * lot
    if rule.fill_increment_usd is not None and rule.fill_rounding.name == "UP":
        one_lot = _ceiling(one_lot, rule.fill_increment_usd)
    return price + one_lot / lot


def reference_lp_profit(problem: AllocationProblem, slots: int, objective: str = "riskless") -> float:
    """The allocator's LP written independently from the problem alone: contract quantities per
    level, dense scenario rows over semantically enumerated outcomes, capital exactly as given (the
    allocator's LP holds no reserve), fees from `reference_unit_cost`. `riskless`: only the new
    trades count in the payoff (holdings just lend their netting credit); `worst_case`: the rise of
    the holdings' worst-case value."""
    columns: list[tuple[str, int, Any]] = []  # (kind, set index, payload)
    for k, candidate in enumerate(problem.sets):
        for instrument in candidate.instruments:
            for level in sorted(instrument.asks, key=lambda lv: lv.price)[:slots]:
                columns.append(("x", k, (instrument, level)))
        columns.append(("t", k, None))
        by_listing = {(i.venue, i.contract, i.side): i for i in candidate.instruments}
        for (venue, contract, side), listed in by_listing.items():
            other = by_listing.get((venue, contract, Side.NO if side is Side.YES else Side.YES))
            if other is not None:
                columns.append(("s", k, (listed, other)))
    n = len(columns)
    c = np.zeros(n)
    bounds: list[tuple[float | None, float | None]] = []
    unit = np.zeros(n)
    for j, (kind, _, payload) in enumerate(columns):
        if kind == "x":
            instrument, level = payload
            lots = int(level.size / instrument.lot_size)
            bounds.append((0, float(lots * instrument.lot_size)))
            unit[j] = float(reference_unit_cost(instrument, level.price))
            c[j] = unit[j]
        elif kind == "t":
            bounds.append((None, None))
            c[j] = -1
        else:
            held_instrument, _ = payload
            bounds.append((0, float(problem.inventory.get(held_instrument.id, D(0)))))
    rows: list[np.ndarray] = []
    rhs: list[float] = []

    def add(row: np.ndarray, value: float) -> None:
        rows.append(row)
        rhs.append(value)

    held: Mapping[str, Decimal] = problem.inventory if objective == "worst_case" else {}
    baseline_total = 0.0
    for k, candidate in enumerate(problem.sets):
        xs = [j for j, col in enumerate(columns) if col[0] == "x" and col[1] == k]
        t = next(j for j, col in enumerate(columns) if col[0] == "t" and col[1] == k)
        sells = [j for j, col in enumerate(columns) if col[0] == "s" and col[1] == k]

        def value_of(outcome, candidate=candidate):
            return sum(float(held.get(i.id, D(0))) * pays(i, outcome) for i in candidate.instruments)

        outcomes = semantic_outcomes(candidate)
        baseline = min(value_of(o) for o in outcomes)
        baseline_total += baseline
        for outcome in outcomes:  # t <= held payoff + bought payoff
            row = np.zeros(n)
            row[t] = 1
            for j in xs:
                row[j] = -pays(columns[j][2][0], outcome)
            add(row, value_of(outcome))
        limits = candidate.limits
        if any(isinstance(r, Equivalent) and r.settlement_risk for r in candidate.relations):
            err_outcomes = semantic_outcomes(candidate, with_risky=False)
            err_base = min(value_of(o) for o in err_outcomes)
            for outcome in err_outcomes:  # cost - payoff <= L - (err baseline - held payoff)
                row = np.zeros(n)
                for j in xs:
                    row[j] = unit[j] - pays(columns[j][2][0], outcome)
                add(row, float(limits.settlement_loss_limit_usd) - err_base + value_of(outcome))
        if limits.min_profit_per_payout_usd > 0 and objective == "riskless":  # t - cost >= rho t
            row = np.zeros(n)
            row[t] = -(1 - float(limits.min_profit_per_payout_usd))
            row[xs] = unit[xs]
            add(row, 0.0)
        if limits.min_return_on_capital > 0:  # t - cost - baseline >= r cost
            row = np.zeros(n)
            row[t] = -1
            row[xs] = unit[xs] * (1 + float(limits.min_return_on_capital))
            add(row, -baseline)
        for j in sells:  # sold <= complement bought
            _, other = columns[j][2]
            row = np.zeros(n)
            row[j] = 1
            for i in xs:
                if columns[i][2][0] is other:
                    row[i] = -1
            add(row, 0.0)
        if limits.max_cost_usd is not None:  # cost - sales credit <= cap
            row = np.zeros(n)
            row[xs] = unit[xs]
            row[sells] = -1
            add(row, float(limits.max_cost_usd))
        for limited in candidate.contracts:
            if limited.max_position is None:
                continue
            for side in Side:
                members = [i for i in candidate.instruments if i.contract == limited.id and i.side is side]
                if not members:
                    continue
                row = np.zeros(n)
                for j in xs:
                    if columns[j][2][0] in members:
                        row[j] = 1
                already = sum((problem.inventory.get(i.id, D(0)) for i in members), D(0))
                add(row, float(max(limited.max_position - already, D(0))))
    for venue, cash in sorted(problem.capital.cash_by_venue_usd.items()):
        row = np.zeros(n)
        for j, (kind, _, payload) in enumerate(columns):
            if kind == "x" and payload[0].venue == venue:
                row[j] = unit[j]
            if kind == "s" and payload[0].venue == venue:
                row[j] = -1
        add(row, float(cash))
    if problem.capital.total_usd is not None:
        row = np.zeros(n)
        for j, (kind, _, _) in enumerate(columns):
            row[j] = unit[j] if kind == "x" else (-1 if kind == "s" else 0)
        add(row, float(problem.capital.total_usd))
    result = linprog(c, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
    assert result.status == 0, result.message
    return -float(result.fun) - baseline_total


def reference_order_fee(instrument: Instrument, levels: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    """The most a venue can charge one order taking (price, quantity) per level, from the rules and
    not from solvers.fees: Kalshi one-lot fills each rounded up to $0.0001, the order up to the
    member's precision; Polymarket one fill per level floored to 5 decimals."""
    rule = instrument.fee
    lot = instrument.lot_size
    rate = rule.coefficient * rule.multiplier
    total = D(0)
    for price, quantity in levels:
        curve = (price * (1 - price)) ** rule.exponent
        if rule.fill_rounding.name == "UP" and rule.fill_increment_usd is not None:
            one_lot = rate * lot * curve + rule.flat_per_contract_usd * lot
            total += _ceiling(one_lot, rule.fill_increment_usd) * (quantity / lot)
        else:
            fill = rate * quantity * curve + rule.flat_per_contract_usd * quantity
            if rule.fill_increment_usd is not None:
                fill = (fill // rule.fill_increment_usd) * rule.fill_increment_usd
            total += fill
    if rule.order_increment_usd is not None:
        total = _ceiling(total, rule.order_increment_usd)
    return total


def reference_plan_fee(instrument: Instrument, levels: Sequence[tuple[Decimal, Decimal]], action: Action) -> Decimal:
    """The fee a plan must carry for one order: `reference_order_fee` at the planned prices plus the
    documented cap on what the order's rounding can take back when lots fill at better prices
    (docs/money-model.md), written here from that text: nothing where every better price moves away
    from 1/2 (a buy whose dearest price is at most 1/2, a sale whose cheapest is at least 1/2) or the
    venue does not round the order total; else the order increment less the largest amount that
    divides both it and one lot's tick value (lot x tick must sit on the fill increment's grid in
    these instances)."""
    fee = reference_order_fee(instrument, levels)
    rule = instrument.fee
    prices = [price for price, quantity in levels if quantity]
    rises = max(prices) > D("0.5") if action is Action.BUY else min(prices) < D("0.5")
    if not rises or rule.order_increment_usd is None:
        return fee
    tick_value = Fraction(instrument.lot_size) * Fraction(instrument.tick_size)
    assert rule.fill_increment_usd is None or (tick_value / Fraction(rule.fill_increment_usd)).denominator == 1
    increment = Fraction(rule.order_increment_usd)
    scale = math.lcm(tick_value.denominator, increment.denominator)
    common = Fraction(math.gcd(int(tick_value * scale), int(increment * scale)), scale)
    slack = increment - common
    return fee + D(slack.numerator) / D(slack.denominator)


def _ceiling(amount: Decimal, increment: Decimal) -> Decimal:
    return (amount / increment).to_integral_value(rounding=ROUND_CEILING) * increment


def replay_plan(problem: AllocationProblem, plan: SetPlan, objective: str = "riskless") -> Decimal:
    """Exact guaranteed profit of a plan in `objective`, re-derived from its legs; asserts leg-level
    invariants (lots, minimums, signable amounts, fees, levels, holdings)."""
    candidate = next(s for s in problem.sets if s.id == plan.set_id)
    instruments = {i.id: i for i in candidate.instruments}
    holdings = {i: problem.inventory.get(i, D(0)) for i in instruments}
    cash = D(0)
    for leg in plan.legs:
        instrument = instruments[leg.instrument_id]
        assert leg.quantity > 0 and leg.quantity % instrument.lot_size == 0, leg
        assert leg.quantity >= instrument.min_order_size
        assert sum(t.quantity for t in leg.levels) == leg.quantity
        fee = reference_plan_fee(instrument, [(t.price, t.quantity) for t in leg.levels], leg.action)
        assert fee == leg.fee_usd, (fee, leg)
        increment = (
            instrument.buy_amount_increment_usd if leg.action is Action.BUY else instrument.sell_amount_increment_usd
        )
        if increment is not None:
            assert (leg.quantity * leg.limit_price) % increment == 0, f"{leg} cannot be signed"
        notional = sum(t.price * t.quantity for t in leg.levels)
        for take in leg.levels:
            assert take.price % instrument.tick_size == 0
        if leg.action is Action.BUY:
            assert leg.limit_price == max(t.price for t in leg.levels)
            asks = {lv.price: lv.size for lv in instrument.asks}
            for take in leg.levels:
                assert take.quantity <= asks[take.price], "bought more than the level offers"
            cash -= notional + fee
            holdings[leg.instrument_id] += leg.quantity
        else:
            assert leg.quantity <= problem.inventory.get(leg.instrument_id, D(0)), "sold what is not held"
            cash += notional - fee
            holdings[leg.instrument_id] -= leg.quantity
        assert leg.cash_flow_usd == (-(notional + fee) if leg.action is Action.BUY else notional - fee)
    outcomes = semantic_outcomes(candidate)

    def value(h, outcome):
        return sum(q * pays(instruments[i], outcome) for i, q in h.items())

    if objective == "riskless":  # what the trades alone pay at worst, plus their cash flow
        delta = {i: holdings[i] - problem.inventory.get(i, D(0)) for i in instruments}
        return min(value(delta, o) for o in outcomes) + cash
    before = min(value({i: problem.inventory.get(i, D(0)) for i in instruments}, o) for o in outcomes)
    return min(value(holdings, o) for o in outcomes) + cash - before


# -- graph listings of one Kalshi and one Polymarket market (repair and rebalancing tests) ---------------------
def kalshi_listings(market: str) -> tuple[Listing, ...]:
    """The YES and NO listings of a whole-cent Kalshi market with the quadratic taker fee."""
    return tuple(
        Listing(
            f"kalshi:{market}:{side.value}",
            Venue.KALSHI,
            market,
            f"kalshi:{market}",
            side,
            kalshi_fee(),
            1_000_000,
            10_000,
            1_000_000,
        )
        for side in (Side.YES, Side.NO)
    )


def polymarket_listings(market: str, rate: Decimal) -> tuple[Listing, ...]:
    """The YES and NO listings of a whole-cent Polymarket market charging `rate`, 5-share minimum."""
    return tuple(
        Listing(
            f"polymarket:{market}:{side.value}",
            Venue.POLYMARKET,
            market,
            f"polymarket:{market}",
            side,
            polymarket_fee(rate=rate),
            10_000,
            10_000,
            5_000_000,
            buy_amount_increment_micro_usd=10_000,
            sell_amount_increment_micro_usd=100,
        )
        for side in (Side.YES, Side.NO)
    )


# -- exact books from decimal-text levels (repair and rebalancing tests) ---------------------------------------
BOOK_NOW_NS = 10**12  # the books' receipt time


def _book_levels(pairs: Sequence[tuple[str, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((int(Decimal(price) * 1_000_000), size * 1_000_000) for price, size in pairs)


def kalshi_book(market: str, bids: Sequence[tuple[str, int]], asks: Sequence[tuple[str, int]]) -> BinaryBook:
    """Kalshi's one ladder: YES bids (= NO asks at 1 - bid) and YES asks, prices as decimal text, sizes in contracts."""
    ladder = OrderBook(market, market, "kalshi")
    ladder.apply_snapshot(
        BookSnapshot(Venue.KALSHI, market, market, _book_levels(bids), _book_levels(asks)), BOOK_NOW_NS
    )
    return BinaryBook(market, ladder)


def poly_book(market: str, yes_asks: Sequence[tuple[str, int]], no_asks: Sequence[tuple[str, int]]) -> BinaryBook:
    """Polymarket's two token books; a YES ask at q is a NO bid at 1 - q (one pool)."""
    yes, no = OrderBook(f"{market}-yes", market, "polymarket"), OrderBook(f"{market}-no", market, "polymarket")

    def mirror(asks: Sequence[tuple[str, int]]) -> tuple[tuple[int, int], ...]:
        return tuple((1_000_000 - p, s) for p, s in _book_levels(asks))

    for book, bids, asks in ((yes, no_asks, yes_asks), (no, yes_asks, no_asks)):
        snapshot = BookSnapshot(Venue.POLYMARKET, book.book_id, market, mirror(bids), _book_levels(asks))
        book.apply_snapshot(snapshot, BOOK_NOW_NS)
    return BinaryBook(market, yes, no)


# -- TOML edits for configuration tests -------------------------------------------------------------------------
def with_value(text: str, dotted: str, value: str) -> str:
    """`text` (a TOML document) with `dotted` set to the TOML literal `value`: the key's line in its
    table is replaced, or the key is added right under the table's header."""
    table, _, key = dotted.rpartition(".")
    lines = text.splitlines()
    header = lines.index(f"[{table}]")
    end = next((i for i in range(header + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    for i in range(header + 1, end):
        if re.match(rf"{re.escape(key)}\s*=", lines[i]):
            lines[i] = f"{key} = {value}"
            break
    else:
        lines.insert(header + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


def approved_link(
    *, orientation: Orientation = Orientation.SAME, settlement_risk: SettlementRisk = SettlementRisk.MINOR_DIFFERENCES
) -> CuratedLink:
    """An approved link of Kalshi KX-1 and Polymarket market 501 (condition 0xabc), for tests that
    need the daemon to know one; fingerprints and close times are placeholders."""
    return CuratedLink(
        kalshi_ticker="KX-1",
        polymarket_market_id="501",
        orientation=orientation,
        settlement_risk=settlement_risk,
        kalshi_rules_sha256="0" * 64,
        polymarket_rules_sha256="0" * 64,
        kalshi_close_time_ms=0,
        polymarket_close_time_ms=0,
        approved_by="test",
        approved_at=dt.date(2026, 1, 1),
        polymarket_condition_id="0xabc",
    )
