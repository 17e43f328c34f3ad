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
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from solvers.formulation import Formulation, SetModel
from solvers.problem import Side

__all__ = ["Basket", "TopUp", "integer_caps", "shrunk"]

_TOLERANCE = 1e-7
_ZERO = Decimal(0)


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
    outcomes where those links disagree)."""

    set_index: int
    legs: tuple[tuple[int, ...], ...]  # per literal: instrument rows that pay on it
    payoff: float


def set_baskets(form: Formulation, sm: SetModel) -> list[Basket]:
    row_of = {inst.id: r for r, inst in enumerate(form.row_instruments)}
    payers: dict[tuple[int, bool], list[int]] = {}
    for instrument in sm.instruments:
        var, _ = sm.system.literal[instrument.contract]
        payers.setdefault((var, sm.pays_if_true(instrument)), []).append(row_of[instrument.id])
    found: dict[tuple[tuple[tuple[int, ...], ...], float], Basket] = {}

    def add(groups: list[list[int] | None], payoff: float) -> None:
        if payoff >= 1 and all(groups):
            legs = tuple(sorted(tuple(sorted(g)) for g in groups if g))
            found.setdefault((legs, payoff), Basket(sm.index, legs, payoff))

    for u in range(sm.system.n):
        add([payers.get((u, True)), payers.get((u, False))], 1.0)
    safe_rows = sm.system_err.rows if sm.system_err is not None else sm.system.rows
    for row in safe_rows:
        if any(abs(c) != 1 for _, c in row.coefs):
            continue
        negatives = sum(1 for _, c in row.coefs if c < 0)
        literals = [(var, coef > 0) for var, coef in row.coefs]
        if row.lo is not None:  # sum of literals >= lo + negatives: one contract on each pays that much
            add([payers.get((var, positive)) for var, positive in literals], float(row.lo + negatives))
        if row.hi is not None:  # at most hi + negatives literals hold: one against each pays the rest
            add(
                [payers.get((var, not positive)) for var, positive in literals],
                float(len(literals) - row.hi - negatives),
            )
    return sorted(found.values(), key=lambda b: (b.legs, b.payoff))


def _lcm(steps: list[float]) -> float:
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
        self.baskets = [b for sm in form.sets for b in set_baskets(form, sm)]
        matrix = form.slot_matrix
        self._venue_of_row = [i.venue for i in form.row_instruments]
        self._position_key = [(i.contract, i.side) for i in form.row_instruments]
        self._limited = {
            (c.id, side): c.max_position
            for sm in form.sets
            for c in sm.candidate.contracts
            if c.max_position is not None
            for side in Side
        }
        self._matrix = matrix

    def run(self, contracts: np.ndarray, suppressed: set[int]) -> np.ndarray:
        """`contracts` per column (integral per instrument) plus whatever baskets still pay."""
        form = self.form
        matrix = self._matrix
        book = form._lots[matrix] * form._lot_f[matrix]
        price = form._price_u[matrix]
        book = np.where(price > 0, book, 0.0)
        filled = np.maximum(contracts[matrix], 0.0).copy()
        unit = form._unit_cost[matrix]
        total = filled.sum(axis=1)
        order = np.argsort(np.where(price > 0, price, np.iinfo(np.int64).max), axis=1, kind="stable")
        spend_row = (filled * unit).sum(axis=1)
        cash = {
            venue: float(form.capital.cash_by_venue_usd[venue] - form.cash_reserve.get(venue, _ZERO))
            for venue in form.venues
        }
        for row, venue in enumerate(self._venue_of_row):
            cash[venue] -= spend_row[row]
        credit = self._netting_credit(total)
        for venue, amount in credit.items():
            cash[venue] += amount
        total_left = math.inf
        if form.capital.total_usd is not None:
            total_left = (
                float(form.capital.total_usd - form.total_reserve) - float(spend_row.sum()) + sum(credit.values())
            )
        set_left: dict[int, float] = {}
        for sm in form.sets:
            cap = sm.candidate.limits.max_cost_usd
            if cap is not None:
                rows = np.flatnonzero(form.row_set == sm.index)
                set_left[sm.index] = (
                    float(cap - sm.cap_reserve)
                    - float(spend_row[rows].sum())
                    + sum(self._netting_credit_of_set(sm, total).values())
                )
        position_left: dict[tuple[str, Side], float] = {}
        for key, limit in self._limited.items():
            held = sum(float(form.held(i.id)) for i in form.row_instruments if (i.contract, i.side) == key)
            bought = sum(total[r] for r, k in enumerate(self._position_key) if k == key)
            position_left[key] = float(limit) - held - bought
        tie = self.form.config.tie_break_usd_per_contract

        def cost_of(row: int, quantity: float) -> float:
            """Cost of `quantity` more contracts of instrument row `row` at its remaining depth."""
            need = quantity
            cost = 0.0
            for slot in order[row]:
                room = book[row, slot] - filled[row, slot]
                if room <= 1e-9:
                    continue
                take = min(room, need)
                cost += take * unit[row, slot]
                need -= take
                if need <= 1e-9:
                    return cost
            return math.inf

        def take(row: int, quantity: float) -> None:
            need = quantity
            for slot in order[row]:
                room = book[row, slot] - filled[row, slot]
                if room <= 1e-9:
                    continue
                amount = min(room, need)
                filled[row, slot] += amount
                need -= amount
                if need <= 1e-9:
                    break
            total[row] += quantity

        def eligible(row: int, quantity: float) -> bool:
            lot = form.rounding_lot[row]
            if abs(quantity / lot - round(quantity / lot)) > 1e-7:
                return False
            if total[row] <= 1e-9 and quantity < form.min_order[row] - 1e-9:
                return False
            key = self._position_key[row]
            return key not in position_left or position_left[key] >= quantity - 1e-9

        def quote(basket: Basket) -> tuple[float, float, list[tuple[int, float]]] | None:
            """(edge, size, [(row, cost)]) of the best size to add, or None."""
            steps = [float(form.rounding_lot[r]) for leg in basket.legs for r in leg]
            base = _lcm(steps)
            sizes = [base]
            for leg in basket.legs:  # an untraded instrument must start at its minimum
                best = min(leg, key=lambda r: unit[r, order[r][0]] if book[r].any() else math.inf)
                if total[best] <= 1e-9 and form.min_order[best] > base:
                    sizes.append(math.ceil(form.min_order[best] / base - 1e-9) * base)
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
        for k, basket in enumerate(self.baskets):
            if basket.set_index in suppressed:
                continue
            quoted = quote(basket)
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
                by_venue[self._venue_of_row[row]] = by_venue.get(self._venue_of_row[row], 0.0) + cost
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
        out[matrix] = filled
        return out

    def _netting_credit(self, total: np.ndarray) -> dict[str, float]:
        credit: dict[str, float] = {}
        for sm in self.form.sets:
            for venue, amount in self._netting_credit_of_set(sm, total).items():
                credit[venue] = credit.get(venue, 0.0) + amount
        return credit

    def _netting_credit_of_set(self, sm: SetModel, total: np.ndarray) -> dict[str, float]:
        """$1 per held contract the plan nets against a purchase of its complement (an estimate:
        the exact plan decides, and the exact capital check guards)."""
        form = self.form
        credit: dict[str, float] = {}
        row_of = {inst.id: r for r, inst in enumerate(form.row_instruments)}
        for netting in sm.netting:
            held = float(form.held(netting.held.id))
            if held <= 0:
                continue
            sold = min(held, float(total[row_of[netting.other.id]]))
            if sold >= float(netting.held.min_order_size):
                credit[netting.held.venue] = credit.get(netting.held.venue, 0.0) + sold
        return credit


def shrunk(form: Formulation, sm: SetModel, lots: np.ndarray, steps: int) -> list[np.ndarray]:
    """Up to `steps` smaller versions of the set's plan (lots per column): every instrument's total
    scaled down by d/N for d = 1.., N the plan's size in its largest rounding-lot count, floored to
    its rounding lot (zero under the minimum) and spread best first."""
    rows = np.flatnonzero(form.row_set == sm.index)
    matrix = form.slot_matrix[rows]
    totals = (lots[matrix] * form._lot_f[matrix]).sum(axis=1)
    units = totals / form.rounding_lot[rows]
    size = int(np.rint(units.max())) if len(units) else 0
    if size <= 1:
        return []
    book = np.zeros((len(form.row_instruments), matrix.shape[1]))
    book[rows] = form._lots[matrix] * form._lot_f[matrix]
    out = []
    previous = totals
    for d in range(1, min(steps, size - 1) + 1):
        scaled = np.floor(units * (size - d) / size + 1e-9) * form.rounding_lot[rows]
        scaled = np.where(scaled < form.min_order[rows] - 1e-9, 0.0, scaled)
        if np.allclose(scaled, previous):
            continue
        previous = scaled
        full = np.zeros(len(form.row_instruments))
        full[rows] = scaled
        spread = best_first(form, full, book)
        contracts = np.zeros(form.lp.num_col)
        contracts[form.slot_matrix[rows]] = spread[rows]
        out.append(lots_of(form, contracts))
    return out
