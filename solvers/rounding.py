"""From the LP's continuous optimum to whole lots the venues accept, without leaving profit behind.

The LP fills each instrument's levels best first, so integrality is a per-instrument matter: its
total must be a whole number of *rounding lots* (the smallest quantity every price on its grid can
sign: a lot, or for Polymarket FOK/FAK buys at cent ticks a whole share) and either zero or at least
the venue minimum. Three steps, all deterministic given the LP point:

1. `integer_caps` / the floor passes: each instrument's total is floored to its rounding lot (zero
   under the minimum) and spread over its levels best first; those become upper bounds and the LP is
   re-solved warm, so the hedges re-balance downwards instead of breaking. Repeated until the LP
   point is integral (usually one or two passes).
2. `TopUp`: flooring can leave a whole basket on the table (the LP took 43.79 shares; the hedge can
   be completed at 44 by taking 0.21 from the next level at break-even). Baskets are the set's
   hedged combinations (a YES/NO pair of one outcome, one contract per literal of an exactly-one or
   implication row), each paying a fixed amount in every outcome. They are added greedily, whole
   rounding lots at a time (or the venue minimum, for an instrument not traded yet), while the next
   unit's edge at the remaining depth is positive and the capital, cap, position and return limits
   allow. Since each basket pays at least its payoff in every outcome, adding one raises the set's
   guaranteed payoff by at least that much: the exact check can only find more.
3. `shrunk`: when the exact check of a plan fails a profit limit only because of the venue's
   per-order fee rounding (a Kalshi order rounds up to the cent), slightly smaller sizes of the same
   plan are tried (37 lots may round to $0.0075 of profit where 34 lots clear $0.015).
4. `fee_swaps`: a few units moved between instruments paying on the same literal (the same
   contract on two venues) where the exact cost falls - the payoff is unchanged in every outcome,
   so the profit rises by what the per-order rounding no longer takes.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from solvers.fees import FeeRule
from solvers.formulation import Formulation, SetModel
from solvers.problem import Instrument, Side

__all__ = ["Basket", "TopUp", "fee_swaps", "hedges", "integer_caps", "shrunk"]

_TOLERANCE = 1e-7
_ZERO = Decimal(0)
_ONE = Decimal(1)


def integer_caps(form: Formulation, x: np.ndarray) -> np.ndarray:
    """Contracts per column (level columns only; 0 elsewhere): per instrument the LP total floored to
    its rounding lot, zero when under the venue minimum, spread over its levels best first."""
    matrix = form.slot_matrix
    taken = np.maximum(x[matrix], 0.0)
    book = form._lots[matrix] * form._lot_f[matrix]
    units = taken.sum(axis=1) / form.rounding_lot
    total = np.floor(units + _TOLERANCE * np.maximum(1.0, units)) * form.rounding_lot
    total = np.where(total < form.min_order - 1e-9, 0.0, total)
    caps = np.zeros(form.lp.num_col)
    caps[matrix] = best_first(form, total, book)
    return caps


def best_first(form: Formulation, total: np.ndarray, book: np.ndarray) -> np.ndarray:
    """`total` contracts per instrument row spread over its slots in price order."""
    matrix = form.slot_matrix
    price = form._price_u[matrix]
    order = np.argsort(np.where(price > 0, price, np.iinfo(np.int64).max), axis=1, kind="stable")
    ordered_book = np.take_along_axis(book, order, axis=1)
    before = np.cumsum(ordered_book, axis=1) - ordered_book
    ordered = np.clip(total[:, None] - before, 0.0, ordered_book)
    spread = np.empty_like(ordered)
    np.put_along_axis(spread, order, ordered, axis=1)
    return spread


def lots_of(form: Formulation, contracts: np.ndarray) -> np.ndarray:
    """Whole lots per column from contracts that sit on the lot grid (up to float noise)."""
    lots = np.zeros(form.lp.num_col, dtype=np.int64)
    cols = form.level_cols
    lots[cols] = np.minimum(np.rint(np.maximum(contracts[cols], 0.0) / form._lot_f[cols]), form._lots[cols])
    return lots


@dataclass(frozen=True, slots=True)
class Basket:
    """Instruments paying on each literal of a hedge; one contract of any of them per literal pays
    at least `payoff` in every outcome the set allows (for sets with risky links: also in the
    outcomes where those links disagree). `unit`: the smallest size every leg can trade (the least
    common multiple of the legs' rounding lots)."""

    set_index: int
    legs: tuple[tuple[int, ...], ...]  # per literal: instrument rows that pay on it
    payoff: float
    unit: float = 1.0


def hedges(sm: SetModel) -> Iterator[tuple[list[tuple[int, bool]], float]]:
    """The set's hedged combinations of literals, as ([(outcome variable, pays if true)], payoff):
    one contract paying on each literal pays at least `payoff` (>= 1) in every outcome the set allows
    (for sets with risky links: also in the outcomes where those links disagree). Per variable its
    YES/NO pair (pays 1); per relation row with unit coefficients, over its literals l:
      sum l >= L   one contract on each literal pays at least L
      sum l <= H   one contract against each literal pays at least (n - H)"""
    for u in range(sm.system.n):
        yield [(u, True), (u, False)], 1.0
    safe_rows = sm.system_err.rows if sm.system_err is not None else sm.system.rows
    for row in safe_rows:
        if any(abs(c) != 1 for _, c in row.coefs):
            continue
        negatives = sum(1 for _, c in row.coefs if c < 0)
        literals = [(var, coef > 0) for var, coef in row.coefs]  # (var, literal is z itself)
        if row.lo is not None and row.lo + negatives >= 1:
            yield literals, float(row.lo + negatives)
        if row.hi is not None and len(literals) - (row.hi + negatives) >= 1:
            yield [(var, not positive) for var, positive in literals], float(len(literals) - (row.hi + negatives))


def set_baskets(form: Formulation, sm: SetModel, row_of: Mapping[str, int] | None = None) -> list[Basket]:
    """row_of: instrument id -> its row in `form.row_instruments` (built here when not given; pass it
    when listing every set's baskets, or that is quadratic in the number of sets)."""
    if row_of is None:
        row_of = {inst.id: r for r, inst in enumerate(form.row_instruments)}
    payers: dict[tuple[int, bool], list[int]] = {}
    for instrument in sm.instruments:
        var, _ = sm.system.literal[instrument.contract]
        payers.setdefault((var, sm.pays_if_true(instrument)), []).append(row_of[instrument.id])
    found: dict[tuple[tuple[tuple[int, ...], ...], float], Basket] = {}
    for literals, payoff in hedges(sm):
        groups = [payers.get(literal) for literal in literals]
        if all(groups):
            legs = tuple(sorted(tuple(sorted(g)) for g in groups if g))
            unit = _lcm([float(form.rounding_lot[r]) for leg in legs for r in leg])
            found.setdefault((legs, payoff), Basket(sm.index, legs, payoff, unit))
    return sorted(found.values(), key=lambda b: (b.legs, b.payoff))


def _lcm(steps: list[float]) -> float:
    return _lcm_of(tuple(sorted(set(steps))))


@functools.lru_cache(maxsize=1024)
def _lcm_of(steps: tuple[float, ...]) -> float:
    """Least common multiple of lot sizes given as floats (read back as decimal fractions)."""
    value = Fraction(0)
    for step in steps:
        fraction = Fraction(step).limit_denominator(10**6)
        value = fraction if value == 0 else _fraction_lcm(value, fraction)
    return float(value)


def _fraction_lcm(a: Fraction, b: Fraction) -> Fraction:
    numerator = a.numerator * b.numerator // math.gcd(a.numerator, b.numerator)
    return Fraction(numerator, math.gcd(a.denominator, b.denominator))


class TopUp:
    """Adds whole baskets to an integral plan while they pay (module docstring, step 2)."""

    def __init__(self, form: Formulation) -> None:
        self.form = form
        row_of = {inst.id: r for r, inst in enumerate(form.row_instruments)}
        self.baskets = [b for sm in form.sets for b in set_baskets(form, sm, row_of)]
        self._venue_of_row = [i.venue for i in form.row_instruments]
        self._position_key = [(i.contract, i.side) for i in form.row_instruments]
        self._rows_of_set = {sm.index: np.flatnonzero(form.row_set == sm.index) for sm in form.sets}
        # netting pairs (held instrument row, complement row) per set, for the capital credit
        self._netting = {
            sm.index: [(netting.held, row_of[netting.other.id]) for netting in sm.netting] for sm in form.sets
        }
        self._limited: dict[tuple[str, Side], tuple[Decimal, list[int]]] = {}
        for sm in form.sets:
            for contract in sm.candidate.contracts:
                if contract.max_position is None:
                    continue
                for side in Side:
                    rows = [r for r, key in enumerate(self._position_key) if key == (contract.id, side)]
                    self._limited[(contract.id, side)] = (contract.max_position, rows)
        # the baskets flattened for a vectorised screen: every basket's legs, every leg's rows
        leg_rows: list[int] = []
        leg_starts: list[int] = []
        basket_starts: list[int] = []
        for basket in self.baskets:
            basket_starts.append(len(leg_starts))
            for leg in basket.legs:
                leg_starts.append(len(leg_rows))
                leg_rows.extend(leg)
        self._leg_rows = np.array(leg_rows, dtype=np.int64)
        self._leg_starts = np.array(leg_starts, dtype=np.int64)
        self._basket_starts = np.array(basket_starts, dtype=np.int64)
        self._payoff = np.array([b.payoff for b in self.baskets])
        self._legs = np.array([len(b.legs) for b in self.baskets], dtype=np.int64)
        self._basket_set = np.array([b.set_index for b in self.baskets], dtype=np.int64)
        # what the venue's per-order rounding can add to an order on top of its per-lot fees
        # (Kalshi: up to a cent, and up to a cent more for fills at better prices than planned),
        # held back from the cash the baskets may use
        self._order_rounding = [_order_rounding_usd(i) for i in form.row_instruments]

    def run(self, contracts: np.ndarray, suppressed: set[int]) -> np.ndarray:
        """`contracts` per column (integral per instrument) plus whatever baskets still pay."""
        form = self.form
        matrix = form.slot_matrix
        price = form._price_u[matrix]
        live = price > 0
        book = np.where(live, form._lots[matrix] * form._lot_f[matrix], 0.0)
        filled = np.maximum(contracts[matrix], 0.0)
        unit = form._unit_cost[matrix]
        tie = form.config.tie_break_usd_per_contract
        # screen: the cheapest remaining contract per row bounds every further unit's cost from
        # below, so a basket whose legs' cheapest contracts already cost its payoff never pays
        marginal = np.where(book - filled > 1e-9, unit, np.inf).min(axis=1)
        if not len(self.baskets):
            return contracts
        leg_min = np.minimum.reduceat(marginal[self._leg_rows], self._leg_starts)
        estimate = self._payoff - np.add.reduceat(leg_min, self._basket_starts) - 2.0 * tie * self._legs
        promising = np.flatnonzero(estimate > 1e-9)
        if suppressed:
            promising = promising[~np.isin(self._basket_set[promising], sorted(suppressed))]
        if not len(promising):
            return contracts
        order = np.argsort(np.where(live, price, np.iinfo(np.int64).max), axis=1, kind="stable").tolist()
        book_l, filled_l, unit_l = book.tolist(), filled.tolist(), unit.tolist()
        total = filled.sum(axis=1).tolist()
        spend_row = (filled * unit).sum(axis=1)
        cash = {
            venue: float(form.capital.cash_by_venue_usd[venue] - form.cash_reserve.get(venue, _ZERO))
            for venue in form.venues
        }
        for venue, amount, rounding, bought in zip(self._venue_of_row, spend_row.tolist(), self._order_rounding, total):
            cash[venue] -= amount + (rounding if bought > 1e-9 else 0.0)
        credit_total = 0.0
        set_credit: dict[int, float] = {}
        for index, pairs in self._netting.items():
            for held, other_row in pairs:
                holding = float(form.held(held.id))
                sold = min(holding, total[other_row])
                if holding > 0 and sold >= float(held.min_order_size):  # an estimate: the exact plan decides
                    cash[held.venue] += sold
                    credit_total += sold
                    set_credit[index] = set_credit.get(index, 0.0) + sold
        total_left = math.inf
        if form.capital.total_usd is not None:
            total_left = float(form.capital.total_usd - form.total_reserve) - float(spend_row.sum()) + credit_total
        set_left: dict[int, float] = {}
        for sm in form.sets:
            cap = sm.candidate.limits.max_cost_usd
            if cap is not None:
                set_rows = self._rows_of_set[sm.index]
                set_left[sm.index] = (
                    float(cap - sm.cap_reserve) - float(spend_row[set_rows].sum()) + set_credit.get(sm.index, 0.0)
                )
        position_left: dict[tuple[str, Side], float] = {}
        for position, (limit, member_rows) in self._limited.items():
            held_units = sum(float(form.held(form.row_instruments[r].id)) for r in member_rows)
            position_left[position] = float(limit) - held_units - sum(total[r] for r in member_rows)
        rounding_lot = form.rounding_lot.tolist()
        min_order = form.min_order.tolist()
        best_unit = [
            min((unit_l[r][s] for s in order[r] if book_l[r][s] > 0), default=math.inf) for r in range(len(total))
        ]

        def cost_of(row: int, quantity: float) -> float:
            """Cost of `quantity` more contracts of instrument row `row` at its remaining depth."""
            need, cost = quantity, 0.0
            books, fills, units = book_l[row], filled_l[row], unit_l[row]
            for slot in order[row]:
                room = books[slot] - fills[slot]
                if room <= 1e-9:
                    continue
                amount = min(need, room)
                cost += amount * units[slot]
                need -= amount
                if need <= 1e-9:
                    return cost
            return math.inf

        def take(row: int, quantity: float) -> None:
            need = quantity
            books, fills = book_l[row], filled_l[row]
            for slot in order[row]:
                room = books[slot] - fills[slot]
                if room <= 1e-9:
                    continue
                amount = min(need, room)
                fills[slot] += amount
                need -= amount
                if need <= 1e-9:
                    break
            total[row] += quantity

        def eligible(row: int, quantity: float) -> bool:
            units = quantity / rounding_lot[row]
            if abs(units - round(units)) > 1e-7:
                return False
            if total[row] <= 1e-9 and quantity < min_order[row] - 1e-9:
                return False
            key = self._position_key[row]
            return key not in position_left or position_left[key] >= quantity - 1e-9

        def quote(basket: Basket) -> tuple[float, float, list[tuple[int, float]]] | None:
            """(edge, size, [(row, cost)]) of the best size to add, or None."""
            base = basket.unit
            sizes = [base]
            for leg in basket.legs:  # an untraded instrument must start at its minimum
                best = min(leg, key=best_unit.__getitem__)
                if total[best] <= 1e-9 and min_order[best] > base:
                    sizes.append(math.ceil(min_order[best] / base - 1e-9) * base)
            best_quote = None
            for size in sorted(set(sizes)):
                legs = []
                for leg in basket.legs:
                    options = [(cost_of(r, size), r) for r in leg if eligible(r, size)]
                    options = [o for o in options if o[0] < math.inf]
                    if not options:
                        break
                    cost, row = min(options)
                    legs.append((row, cost))
                else:
                    cost_total = sum(c for _, c in legs)
                    edge = basket.payoff * size - cost_total - tie * 2.0 * size * len(legs)
                    if edge > 1e-9 and (best_quote is None or edge / size > best_quote[0] / best_quote[1]):
                        best_quote = (edge, size, legs)
            return best_quote

        heap: list[tuple[float, int]] = []
        for k in promising.tolist():
            quoted = quote(self.baskets[k])
            if quoted is not None:
                heap.append((-quoted[0] / quoted[1], k))
        heapq.heapify(heap)
        while heap:
            _, k = heapq.heappop(heap)
            basket = self.baskets[k]
            quoted = quote(basket)
            if quoted is None:
                continue
            edge, size, legs = quoted
            if heap and edge / size < -heap[0][0] - 1e-12:
                heapq.heappush(heap, (-edge / size, k))  # stale: another basket is now better
                continue
            sm = form.sets[basket.set_index]
            limits = sm.candidate.limits
            cost_total = sum(c for _, c in legs)
            if edge < float(limits.min_return_on_capital) * cost_total:
                continue
            if form.objective == "riskless" and edge < float(limits.min_profit_per_payout_usd) * basket.payoff * size:
                continue
            by_venue: dict[str, float] = {}
            for row, cost in legs:
                new_order = self._order_rounding[row] if total[row] <= 1e-9 else 0.0
                by_venue[self._venue_of_row[row]] = by_venue.get(self._venue_of_row[row], 0.0) + cost + new_order
            if any(cash[v] < amount - 1e-9 for v, amount in by_venue.items()):
                continue
            if cost_total > total_left + 1e-9 or cost_total > set_left.get(sm.index, math.inf) + 1e-9:
                continue
            for row, _ in legs:
                take(row, size)
                key = self._position_key[row]
                if key in position_left:
                    position_left[key] -= size
            for venue, amount in by_venue.items():
                cash[venue] -= amount
            total_left -= cost_total
            if sm.index in set_left:
                set_left[sm.index] -= cost_total
            heapq.heappush(heap, (-edge / size, k))
        out = contracts.copy()
        out[matrix] = np.array(filled_l)
        return out


def shrunk(form: Formulation, sm: SetModel, lots: np.ndarray, steps: int) -> list[np.ndarray]:
    """Up to `steps` smaller versions of the set's plan (lots per column): every instrument's total
    scaled down by d/N for d = 1.., N the plan's size in baskets (its largest total over the
    coarsest rounding lot it trades: a whole Kalshi contract beside 0.01-share legs), floored to
    its rounding lot (zero under the minimum) and spread best first."""
    rows = np.flatnonzero(form.row_set == sm.index)
    matrix = form.slot_matrix[rows]
    lot_f = form._lot_f[matrix]
    totals = (lots[matrix] * lot_f).sum(axis=1)
    units = totals / form.rounding_lot[rows]
    traded = totals > 0
    coarse = float(form.rounding_lot[rows][traded].max()) if traded.any() else 1.0
    size = int(np.rint(totals.max() / coarse)) if len(units) else 0
    if size <= 1:
        return []
    book = form._lots[matrix] * lot_f
    price = form._price_u[matrix]
    order = np.argsort(np.where(price > 0, price, np.iinfo(np.int64).max), axis=1, kind="stable")
    ordered_book = np.take_along_axis(book, order, axis=1)
    before = np.cumsum(ordered_book, axis=1) - ordered_book
    out = []
    previous = totals
    for d in range(1, min(steps, size - 1) + 1):
        scaled = np.floor(units * (size - d) / size + 1e-7) * form.rounding_lot[rows]
        scaled = np.where(scaled < form.min_order[rows] - 1e-9, 0.0, scaled)
        if np.array_equal(scaled, previous):
            continue
        previous = scaled
        spread = np.empty_like(ordered_book)
        np.put_along_axis(spread, order, np.clip(scaled[:, None] - before, 0.0, ordered_book), axis=1)
        candidate = lots.copy()
        candidate[matrix] = np.minimum(np.rint(spread / lot_f), form._lots[matrix])
        out.append(candidate)
    return out


def _order_rounding_usd(instrument: Instrument) -> float:
    """Most the exact check adds to one buy order of `instrument` above its per-lot fees: the order
    rounding, plus the better-price cap at a limit where the fee can rise (the highest price on the
    grid; one lot: a larger order off the fill grid may need more, which the repairs measure)."""
    return _order_rounding_of(instrument.fee, instrument.tick_size, instrument.lot_size)


@functools.lru_cache(maxsize=256)
def _order_rounding_of(rule: FeeRule, tick: Decimal, lot: Decimal) -> float:
    # a few fee schedules serve every instrument: cached, so a TopUp rebuilt after a set joins the
    # allocator does not re-derive them per instrument
    if rule.order_increment_usd is None:
        return 0.0
    slack = _ZERO
    if rule.better_price_bound_failure() is None:
        slack = rule.better_price_slack(_ONE - tick, buy=True, lot=lot, lots=1, tick=tick)
    return float(rule.order_increment_usd + slack)


@functools.lru_cache(maxsize=4096)
def _buy_cost(rule: FeeRule, lot: Decimal, tick: Decimal | None, takes: tuple[tuple[Decimal, Decimal], ...]) -> Decimal:
    """Exact cost of a buy order planned as `takes` ((price, quantity) per level), as the exact check
    prices it (solvers/planning.py): notional plus the worst fee at or better than those prices.
    Pure in its arguments and asked again for the same orders solve after solve (the same ladders
    while the books stand still): cached."""
    notional = sum((price * quantity for price, quantity in takes), _ZERO)
    return notional + rule.worst_fee_at_or_better(takes, buy=True, lot=lot, tick=tick)


@functools.lru_cache(maxsize=1024)
def _move_lots(rounding_lot_a: float, rounding_lot_b: float, lot_a: Decimal, lot_b: Decimal) -> tuple[int, int] | None:
    """Lots of each side one unit moved between two instruments paying alike takes (None: no whole
    unit fits both rounding lots)."""
    unit = Fraction(_lcm([rounding_lot_a, rounding_lot_b])).limit_denominator(10**6)
    lots_a, lots_b = unit / Fraction(lot_a), unit / Fraction(lot_b)
    if lots_a.denominator == 1 and lots_b.denominator == 1:
        return int(lots_a), int(lots_b)
    return None


def fee_swaps(
    form: Formulation, sm: SetModel, lots: np.ndarray, slack_by_venue: dict[str, Decimal], *, max_units: int = 3
) -> np.ndarray:
    """Move a few units between instruments that pay on the same literal (the same contract on two
    venues, say) where that lowers the exact cost: the payoff in every outcome is unchanged, so the
    guaranteed profit rises by exactly what is saved. This is how a plan sheds the venues' per-order
    fee rounding (a Kalshi order rounds up to the cent: one contract fewer there and one more on the
    other venue can save most of a cent). Each move keeps every order whole in rounding lots, at zero
    or at least its minimum, within its book and within the receiving venue's cash slack. Returns the
    new lots."""
    rows = np.flatnonzero(form.row_set == sm.index)
    if len(rows) < 2:
        return lots
    held_rows = {
        inst_row
        for netting in sm.netting
        if form.held(netting.held.id)
        for inst_row in (int(r) for r in rows if form.row_instruments[r].id in (netting.held.id, netting.other.id))
    }
    groups: dict[tuple[int, bool], list[int]] = {}
    for r in rows.tolist():
        instrument = form.row_instruments[r]
        if r in held_rows or any(
            c.id == instrument.contract and c.max_position is not None for c in sm.candidate.contracts
        ):
            continue
        var, _ = sm.system.literal[instrument.contract]
        groups.setdefault((var, sm.pays_if_true(instrument)), []).append(r)
    groups = {key: members for key, members in groups.items() if len(members) > 1}
    if not groups:
        return lots
    matrix = form.slot_matrix
    members_all = sorted({r for members in groups.values() for r in members})
    totals = {r: int(lots[matrix[r]].sum()) for r in members_all}  # in lots
    # per row: its levels best first as (price, lots), and the step (in lots) every order keeps
    ladders: dict[int, list[tuple[Decimal, int]]] = {}
    steps: dict[int, int] = {}
    for r in members_all:
        instrument = form.row_instruments[r]
        levels = sorted((int(form._price_u[c]), int(form._lots[c])) for c in matrix[r].tolist() if form._price_u[c] > 0)
        ladders[r] = [(Decimal(price_u) / 1_000_000, size) for price_u, size in levels if size > 0]
        steps[r] = int(Decimal(str(form.rounding_lot[r])) / instrument.lot_size)
    costs: dict[tuple[int, int], Decimal | None] = {}

    def cost(r: int, count: int) -> Decimal | None:
        """Exact cost of buying `count` lots of row r best first (None: not a valid order)."""
        key = (r, count)
        if key in costs:
            return costs[key]
        instrument = form.row_instruments[r]
        value: Decimal | None = None
        if count == 0:
            value = _ZERO
        elif count % steps[r] == 0 and instrument.lot_size * count >= instrument.min_order_size:
            left, takes = count, []
            for price, size in ladders[r]:
                take = min(size, left)
                takes.append((price, instrument.lot_size * take))
                left -= take
                if left <= 0:
                    break
            if left <= 0:
                value = _buy_cost(instrument.fee, instrument.lot_size, instrument.tick_size, tuple(takes))
        costs[key] = value
        return value

    # per group, per ordered pair of instruments paying alike: the lots of each side one unit moves
    moves: list[list[tuple[int, int, int, int]]] = []
    for members in groups.values():
        group_moves = []
        for a in members:
            for b in members:
                if a == b:
                    continue
                inst_a, inst_b = form.row_instruments[a], form.row_instruments[b]
                unit_lots = _move_lots(
                    float(form.rounding_lot[a]), float(form.rounding_lot[b]), inst_a.lot_size, inst_b.lot_size
                )
                if unit_lots is not None:
                    group_moves.append((a, b, *unit_lots))
        moves.append(group_moves)
    slack = dict(slack_by_venue)
    # groups share no instrument, so each round takes the best move of every group at once
    for _ in range(4 * max_units):
        moved = False
        for group_moves in moves:
            best: tuple[Decimal, int, int, int, int, Decimal, Decimal] | None = None
            for a, b, unit_a, unit_b in group_moves:
                if totals[a] == 0:
                    continue
                before_a, before_b = cost(a, totals[a]), cost(b, totals[b])
                if before_a is None or before_b is None:
                    continue
                venue_a, venue_b = form.row_instruments[a].venue, form.row_instruments[b].venue
                for k in range(1, max_units + 1):
                    if unit_a * k > totals[a]:
                        break
                    after_a, after_b = cost(a, totals[a] - unit_a * k), cost(b, totals[b] + unit_b * k)
                    if after_a is None or after_b is None:
                        continue
                    if venue_a != venue_b and after_b - before_b > slack.get(venue_b, _ZERO):
                        continue
                    saving = before_a + before_b - after_a - after_b
                    if saving > 0 and (best is None or saving > best[0]):
                        best = (saving, a, b, unit_a * k, unit_b * k, after_a - before_a, after_b - before_b)
            if best is None:
                continue
            _, a, b, da, db, change_a, change_b = best
            venue_a, venue_b = form.row_instruments[a].venue, form.row_instruments[b].venue
            if venue_a != venue_b and change_b > slack.get(venue_b, _ZERO):
                continue  # another group's move used the slack this round
            slack[venue_a] = slack.get(venue_a, _ZERO) - change_a
            slack[venue_b] = slack.get(venue_b, _ZERO) - change_b
            totals[a] -= da
            totals[b] += db
            moved = True
        if not moved:
            break
    out = lots.copy()
    for r in members_all:
        cols = matrix[r]
        order = sorted(cols.tolist(), key=lambda c: (form._price_u[c] <= 0, int(form._price_u[c])))
        left = totals[r]
        for c in order:
            take = min(int(form._lots[c]), left) if form._price_u[c] > 0 else 0
            out[c] = take
            left -= take
    return out
