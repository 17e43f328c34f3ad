"""Greedy baseline: what the open-source bots do, generalised from pairs to every relation.

Each relation row of a set's outcome system, written over literals l (z or 1 - z), yields hedged
baskets with a guaranteed payoff per unit:
  sum l >= L   buy one contract paying on each literal     -> pays at least L
  sum l <= H   buy one contract paying against each literal -> pays at least (n - H)
plus, per outcome variable, the YES/NO (or cross-venue) pair that pays exactly 1. A basket's edge is
its payoff minus the cheapest remaining level (price + linear fee) of each leg. Baskets are filled in
descending order of their rank, best levels first, until capital or limits bind:

  ranking "edge"    edge per basket (what the open-source bots do)
  ranking "return"  edge per dollar of capital, edge / basket cost (the stronger baseline when
                    capital binds: a dollar goes where it earns most)

Taking liquidity only makes prices worse, so both ranks never rise and a lazy max-heap finds the
best basket.

Risky links are not used (their payoff guarantee fails when the venues disagree). The resulting
quantities go through the same rounding-free exact verification as the LP's plans.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import numpy as np

from solvers.formulation import Formulation, SetModel
from solvers.plan import AllocationResult, DroppedSet, SetPlan
from solvers.planning import build_plan
from solvers.rounding import hedges

__all__ = ["RANKINGS", "Ranking", "greedy_allocate", "greedy_quantities", "verify_greedy"]

_ZERO = Decimal(0)
Ranking = Literal["edge", "return"]
RANKINGS: tuple[Ranking, ...] = ("edge", "return")


@dataclass(slots=True)
class _Basket:
    sm: SetModel
    groups: list[list[int]]  # per leg: candidate level columns (any venue) paying on the literal
    payoff: float


def _literal_payers(form: Formulation, sm: SetModel) -> dict[tuple[int, bool], list[int]]:
    """(variable, pays-if-true) -> level columns of instruments paying on that literal."""
    payers: dict[tuple[int, bool], list[int]] = {}
    for instrument in sm.instruments:
        var, _ = sm.system.literal[instrument.contract]
        payers.setdefault((var, sm.pays_if_true(instrument)), []).extend(sm.slot_cols[instrument.id].tolist())
    return payers


def _baskets(form: Formulation, sm: SetModel) -> list[_Basket]:
    payers = _literal_payers(form, sm)
    baskets = []
    for literals, payoff in hedges(sm):
        groups = [payers.get(literal) for literal in literals]
        if all(groups):
            baskets.append(_Basket(sm, groups, payoff))  # type: ignore[arg-type]
    return baskets


def _clears_limits(basket: _Basket, edge: float, spend: float) -> bool:
    """A basket's edge against the set's profit limits per $1 of payout and per dollar of capital."""
    limits = basket.sm.candidate.limits
    per_payout = float(limits.min_profit_per_payout_usd)
    on_capital = float(limits.min_return_on_capital)
    return edge >= per_payout * basket.payoff and edge >= on_capital * spend


def greedy_allocate(form: Formulation, ranking: Ranking = "edge") -> AllocationResult:
    """Greedy plans for the formulation's current books, inventory and capital, verified exactly."""
    return verify_greedy(form, *greedy_quantities(form, ranking))


def greedy_quantities(form: Formulation, ranking: Ranking = "edge") -> tuple[np.ndarray, dict[int, float]]:
    """The greedy fill: contracts taken per column, and the linear-fee profit estimate per set.
    `ranking`: fill baskets by edge ("edge") or by edge per dollar of basket cost ("return")."""
    if ranking not in RANKINGS:
        raise ValueError(f"ranking must be one of {RANKINGS}, was {ranking!r}")
    lp = form.lp
    cost = form._unit_cost  # $ per contract incl. fee, per level column
    left = form._lots * form._lot_f  # contracts left per level column
    cash = {v: float(lp.row_hi[row]) for v, row in form._cash_rows.items()}
    total = form.capital_in_force()[1]
    set_cap = {sm.index: float(lp.row_hi[sm.cap_row]) if sm.cap_row is not None else np.inf for sm in form.sets}
    taken = np.zeros(lp.num_col)  # contracts taken per level column
    estimate = {sm.index: 0.0 for sm in form.sets}  # linear-fee guaranteed profit per set
    venue_of = {col: inst.venue for col, inst in form.col_instrument.items()}

    def best_level(group: list[int]) -> int | None:
        live = [c for c in group if left[c] >= form._lot_f[c] - 1e-12]
        return min(live, key=lambda c: cost[c]) if live else None

    def quote(basket: _Basket) -> tuple[float, float, list[int]] | None:
        """(rank, edge, legs) at the basket's best remaining levels."""
        legs = []
        for group in basket.groups:
            col = best_level(group)
            if col is None:
                return None
            legs.append(col)
        spend = sum(cost[c] for c in legs)
        edge = basket.payoff - spend
        return (edge / spend if ranking == "return" and spend > 0 else edge), edge, legs

    heap: list[tuple[float, int]] = []
    baskets = [b for sm in form.sets for b in _baskets(form, sm)]
    for k, basket in enumerate(baskets):
        quoted = quote(basket)
        if quoted is not None and quoted[1] > 0:
            heap.append((-quoted[0], k))
    heapq.heapify(heap)
    while heap:
        _, k = heapq.heappop(heap)
        basket = baskets[k]
        quoted = quote(basket)
        if quoted is None or quoted[1] <= 0:
            continue
        rank, edge, legs = quoted
        if heap and rank < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-rank, k))  # stale: someone else is now better
            continue
        if not _clears_limits(basket, edge, basket.payoff - edge):
            continue
        lot = max(form._lot_f[c] for c in legs)
        quantity = min(left[c] for c in legs)
        spend_by_venue: dict[str, float] = {}
        for c in legs:
            spend_by_venue[venue_of[c]] = spend_by_venue.get(venue_of[c], 0.0) + cost[c]
        for venue, per_unit in spend_by_venue.items():
            quantity = min(quantity, cash[venue] / per_unit)
        per_unit_total = sum(spend_by_venue.values())
        quantity = min(quantity, total / per_unit_total, set_cap[basket.sm.index] / per_unit_total)
        quantity = np.floor(quantity / lot + 1e-9) * lot
        if quantity <= 0:
            if min(left[c] for c in legs) >= lot:
                continue  # capital binds for this basket; others may still fit
            for c in legs:  # a dust level no lot fits into: retire it
                if left[c] < lot:
                    left[c] = 0.0
            heapq.heappush(heap, (-rank, k))
            continue
        for c in legs:
            left[c] -= quantity
            taken[c] += quantity
        for venue, per_unit in spend_by_venue.items():
            cash[venue] -= quantity * per_unit
        total -= quantity * per_unit_total
        set_cap[basket.sm.index] -= quantity * per_unit_total
        estimate[basket.sm.index] += quantity * edge
        heapq.heappush(heap, (-rank, k))
    return taken, estimate


def verify_greedy(form: Formulation, taken: np.ndarray, estimate: dict[int, float]) -> AllocationResult:
    """Round and verify the greedy fill exactly, like any plan."""
    plans: list[SetPlan] = []
    dropped: list[DroppedSet] = []
    for sm in form.sets:
        lots = np.rint(taken[sm.level_cols] / form._lot_f[sm.level_cols]).astype(np.int64)
        lots = np.minimum(lots, form._lots[sm.level_cols])
        plan, drop = build_plan(form, sm, lots, lp_profit=estimate[sm.index])
        if plan is not None:
            plans.append(plan)
        elif drop is not None:
            dropped.append(drop)
    return AllocationResult(
        plans=tuple(plans),
        dropped=tuple(dropped),
        lp_profit_usd=sum(estimate.values()),
        guaranteed_profit_usd=sum((p.guaranteed_profit_usd for p in plans), _ZERO),
    )
