"""The exact lot-integral optimum of an `AllocationProblem`: an independent reference for the allocator.

Built from the problem's data alone: it shares no code with the allocator (no formulation, planning,
outcome system, separation oracle or fee function of `solvers`; only the problem's frozen input types
are read). Feasible outcomes come from `benchmarks.outcomes_enum` (relations checked by their
meaning), fees from each `FeeRule`'s data fields with this module's own arithmetic, and the MIP is
solved by HiGHS through highspy to a relative gap of 1e-9.

The model (objective `riskless`: the new trades alone pay the profit in every outcome; inventory
only allows netting):

  x[i, j]   integer lots bought at ask level j of instrument i (0 <= x <= size // lot), every level
  q_i       = lot_i x sum_j x[i, j], contracts bought from instrument i's pool
  m_h       integer lots of held instrument h sold at the bid, which *is* buying its complement o
            (same venue and contract, other side) from the same pool: lot_h m_h <= held_h and
            lot_h m_h <= q_o; each unit sold nets a (held, bought) pair into $1 of cash now, so it
            changes no payoff and releases $1 of capital
  t_k       guaranteed payoff of set k's purchases: t_k <= sum_i pays_i(z) q_i for every feasible z
  spend_k   = sum (price x lot + fee of a one-lot fill) x x[i, j] over set k's levels, plus each
            buy order's rounding: c_i x increment - sum of its one-lot fees, with c_i an integer
            number of the fee rule's order increments (a Kalshi cent) at least the sum
  profit_k  = t_k - spend_k; the objective maximises sum_k profit_k

Fees are priced exactly as the venue can charge at worst (the figure a verified plan carries): the
fee of a one-lot fill is coefficient x multiplier x lot x (p (1 - p)) ** exponent + flat x lot,
rounded to the fill increment where the rule rounds fills up (Kalshi: $0.0001; one lot per fill is
the worst split); where fills round down (Polymarket) the unrounded rate, an upper bound; and each
buy order's total rounded up to the order increment by the integer c_i. So the optimum is the best
exact profit any lot-integral plan has, and a verified plan's ratio to it says what the allocator's
rounding left. And

  settlement risk   spend_k - sum_i pays_i(z) q_i <= settlement_loss_limit_usd for every z feasible
                    when the risky equivalences may disagree (only for sets that have them)
  capital           per venue: sum of its spend - its netted units <= cash (exact, no reserve);
                    in total <= total_usd; per set: spend_k - netted_k <= max_cost_usd
  positions         per contract and side, summed over venues: bought <= max_position - held
  minimum orders    each order is empty or at least the venue minimum: the buy order of
                    instrument i (q_i minus what was netted against held inventory) and the sale of
                    held h (lot_h m_h) are each semi-continuous (a binary per order)
  minimum profit    a set trades nothing (binary y_k = 0) or profit_k >= min_profit_usd; also
                    profit_k >= min_profit_per_payout_usd x t_k, profit_k >= min_return_on_capital x
                    spend_k

Sets with at most `row_limit` feasible outcomes get every outcome row up front; larger sets start
from a spread of outcomes and add the violated ones (checked against the full enumeration by a matrix
product), first on the LP relaxation, then re-solving the MIP until none is violated. When the time
limit (or a node limit) stops the search, the dual bound is an upper bound on the optimum (a model with fewer outcome rows can only
bound it from above), and `optimum_usd` returns it: a ratio against it is conservative.

Not modelled (each only shrinks the feasible plans or raises their cost, so the optimum here is an
upper bound on what a plan honouring them could earn): the amount increments a venue accepts for a
quantity at a price (`buy_amount_increment_usd` / `sell_amount_increment_usd`), and the per-order
rounding of a netted sale's fee. `exact_profit_usd` re-prices the MIP's own plan order by order
(each fill and order rounded as the fee rule says, implemented here independently).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import highspy
import numpy as np

from benchmarks.outcomes_enum import set_outcomes
from solvers.problem import AllocationProblem, CandidateSet, Equivalent, Instrument, Side

__all__ = ["ExactResult", "exact_fee_usd", "linear_fee_rate", "one_lot_fee_usd", "solve_exact"]

_ZERO = Decimal(0)
_INF = math.inf
_TOL = 1e-7  # violation tolerance of an outcome row in the cut loop ($)
_FINISHED = (  # statuses with a valid dual bound: optimal, or stopped by the time or node limit
    highspy.HighsModelStatus.kOptimal,
    highspy.HighsModelStatus.kTimeLimit,
    highspy.HighsModelStatus.kSolutionLimit,
)


def linear_fee_rate(instrument: Instrument, price: Decimal) -> Decimal:
    """Fee per contract at `price` with no rounding, from the fee rule's data fields."""
    rule = instrument.fee
    curve = (price * (1 - price)) ** rule.exponent
    return rule.coefficient * rule.multiplier * curve + rule.flat_per_contract_usd


def one_lot_fee_usd(instrument: Instrument, price: Decimal) -> Decimal:
    """The fee of a one-lot fill at `price` as the venue can charge it at worst: rounded to the fill
    increment where the rule rounds fills up; where fills round down, the unrounded rate (splitting
    a level into fills can only lower that fee)."""
    rule = instrument.fee
    raw = linear_fee_rate(instrument, price) * instrument.lot_size
    if rule.fill_increment_usd is not None and rule.fill_rounding.name == "UP":
        return _quantize(raw, rule.fill_increment_usd, rule.fill_rounding.value)
    return raw


def _quantize(amount: Decimal, increment: Decimal | None, rounding: object) -> Decimal:
    if increment is None:
        return amount
    return (amount / increment).to_integral_value(rounding=str(rounding)) * increment


def exact_fee_usd(instrument: Instrument, fills: Iterable[tuple[Decimal, Decimal]]) -> Decimal:
    """Exact fee of one order made of (price, quantity) fills: each fill's fee rounded to the fill
    increment, the sum rounded to the order increment, in the directions the rule names."""
    rule = instrument.fee
    total = _ZERO
    for price, quantity in fills:
        if quantity:
            raw = quantity * linear_fee_rate(instrument, price)
            total += _quantize(raw, rule.fill_increment_usd, rule.fill_rounding.value)
    return _quantize(total, rule.order_increment_usd, rule.order_rounding.value)


@dataclass(frozen=True)
class ExactResult:
    """The exact lot-integral optimum (fees as the venue can charge them at worst) and how it was reached.

    objective_usd: profit of the best integer plan found, recomputed from its rounded lots over every
        feasible outcome (one-lot fill fees, each buy order rounded to its increment)
    bound_usd: the solver's dual bound (an upper bound on the optimum)
    optimal: the search closed the gap (relative 1e-9); else it hit the time limit
    exact_profit_usd: that plan re-priced with exact fees (rounded fills and orders), in Decimal
    """

    objective_usd: float
    bound_usd: float
    optimal: bool
    seconds: float
    lots: dict[tuple[str, Decimal], int] = field(default_factory=dict)  # (instrument id, level price) -> lots
    sold: dict[str, Decimal] = field(default_factory=dict)  # held instrument id -> quantity sold
    profit_by_set_usd: dict[str, float] = field(default_factory=dict)
    exact_profit_usd: Decimal = _ZERO
    columns: int = 0
    outcome_rows: int = 0
    cut_rounds: int = 0

    @property
    def gap(self) -> float:
        return max(0.0, self.bound_usd - self.objective_usd) / max(1e-9, abs(self.bound_usd))

    @property
    def optimum_usd(self) -> float:
        """The optimum when proven, else the dual bound (conservative for ratios against it)."""
        return self.objective_usd if self.optimal else max(self.objective_usd, self.bound_usd)


# -- model building ------------------------------------------------------------------------------------------
class _Model:
    """Columns with bounds, costs and integrality; rows as sparse triplets."""

    def __init__(self) -> None:
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.cost: list[float] = []
        self.integer: list[bool] = []
        self.row_lo: list[float] = []
        self.row_hi: list[float] = []
        self.r: list[int] = []
        self.c: list[int] = []
        self.v: list[float] = []

    def col(self, lo: float, hi: float, cost: float = 0.0, *, integer: bool = False) -> int:
        self.lo.append(lo)
        self.hi.append(hi)
        self.cost.append(cost)
        self.integer.append(integer)
        return len(self.lo) - 1

    def row(self, terms: Iterable[tuple[int, float]], lo: float, hi: float) -> int:
        index = len(self.row_lo)
        merged: dict[int, float] = {}
        for col, value in terms:  # a column named twice in one row is one coefficient
            merged[col] = merged.get(col, 0.0) + value
        for col, value in merged.items():
            if value:
                self.r.append(index)
                self.c.append(col)
                self.v.append(value)
        self.row_lo.append(lo)
        self.row_hi.append(hi)
        return index

    def highs(
        self, time_limit_s: float, mip_rel_gap: float, *, relaxed: bool = False, node_limit: int | None = None
    ) -> highspy.Highs:
        n, m = len(self.lo), len(self.row_lo)
        order = np.lexsort((np.array(self.r, dtype=np.int64), np.array(self.c, dtype=np.int64)))
        columns = np.array(self.c, dtype=np.int64)[order]
        start = np.searchsorted(columns, np.arange(n + 1)).astype(np.int32)
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, m
        lp.col_cost_ = np.array(self.cost)
        lp.col_lower_ = np.array(self.lo)
        lp.col_upper_ = np.array(self.hi)
        lp.row_lower_ = np.array(self.row_lo)
        lp.row_upper_ = np.array(self.row_hi)
        lp.sense_ = highspy.ObjSense.kMaximize
        a = lp.a_matrix_
        a.format_ = highspy.MatrixFormat.kColwise
        a.num_col_, a.num_row_ = n, m
        a.start_ = start
        a.index_ = np.array(self.r, dtype=np.int32)[order]
        a.value_ = np.array(self.v, dtype=np.float64)[order]
        if not relaxed:
            lp.integrality_ = [
                highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous for flag in self.integer
            ]
        h = highspy.Highs()
        for key, value in (
            ("output_flag", False),
            ("threads", 1),
            ("time_limit", max(0.01, time_limit_s)),
            ("mip_rel_gap", mip_rel_gap),
            ("mip_abs_gap", 1e-9),
            # restarts re-run the root's sub-MIP heuristics, which dominated on the 50-outcome groups
            ("mip_allow_restart", False),
            *((("mip_max_nodes", node_limit),) if node_limit is not None else ()),
        ):
            if h.setOptionValue(key, value) != highspy.HighsStatus.kOk:
                raise RuntimeError(f"HiGHS rejected option {key}={value!r}")
        if h.passModel(lp) == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS rejected the exact MIP")
        return h


@dataclass
class _Level:
    """One ask level: lots taken = sum of mult x column over `parts` (a wide integer range is split
    into a high and a low digit: HiGHS's reduced-cost fixing walks every value of an integer's
    domain, and a 0.01 lot on a 500-contract level has 50,000 of them)."""

    price: Decimal
    lots: int  # most lots the level offers
    unit: float  # $ per lot: price x lot plus the fee of a one-lot fill
    parts: list[tuple[int, int]]  # (column, lots per unit of the column)
    fee: float = 0.0  # the one-lot fill fee alone (the part the order's rounding replaces)

    def terms(self, scale: float) -> list[tuple[int, float]]:
        return [(col, scale * mult) for col, mult in self.parts]

    def value(self, x: np.ndarray) -> int:
        return sum(mult * round(float(x[col])) for col, mult in self.parts)


@dataclass
class _Order:
    """One instrument's columns in the model."""

    instrument: Instrument
    levels: list[_Level]
    lot: float
    sale: _Level | None = None  # lots of this held instrument sold (netted), when its complement is in the set
    rounding: list[tuple[int, float]] = field(default_factory=list)  # the order's fee rounding, as terms

    def quantity_terms(self, scale: float = 1.0) -> list[tuple[int, float]]:
        """Contracts bought (times `scale`) as terms over the level columns."""
        return [t for level in self.levels for t in level.terms(scale * self.lot)]

    def spend_terms(self, scale: float = 1.0) -> list[tuple[int, float]]:
        levels = [t for level in self.levels for t in level.terms(scale * level.unit)]
        return levels + [(col, scale * value) for col, value in self.rounding]

    def sale_terms(self, scale: float = 1.0) -> list[tuple[int, float]]:
        return self.sale.terms(scale * self.lot) if self.sale is not None else []

    @property
    def max_quantity(self) -> float:
        return self.lot * sum(level.lots for level in self.levels)


_SPLIT_ABOVE = 256  # integer ranges wider than this become two digits


def _integer(model: _Model, lots: int, cost_per_lot: float) -> list[tuple[int, int]]:
    """Columns whose weighted sum is an integer in [0, lots] (see `_Level`)."""
    if lots <= _SPLIT_ABOVE:
        return [(model.col(0.0, float(lots), cost_per_lot, integer=True), 1)]
    base = math.isqrt(lots) + 1
    high = model.col(0.0, float(lots // base), cost_per_lot * base, integer=True)
    low = model.col(0.0, float(base - 1), cost_per_lot, integer=True)
    if (lots // base) * base + base - 1 > lots:
        model.row([(high, float(base)), (low, 1.0)], -_INF, float(lots))
    return [(high, base), (low, 1)]


def _pays_yes(instrument: Instrument) -> bool:
    return instrument.side is Side.YES


@dataclass
class _SetLayout:
    candidate: CandidateSet
    orders: list[_Order]
    t_col: int
    spend_col: int
    base_col: int  # payoff if every contract resolves NO
    diff_cols: list[int]  # per contract: payoff if YES minus payoff if NO
    outcomes: np.ndarray
    outcomes_err: np.ndarray | None
    rows_in: set[int] = field(default_factory=set)
    rows_err_in: set[int] = field(default_factory=set)


def _lots(size: Decimal, lot: Decimal) -> int:
    return int(size // lot)


def _held(problem: AllocationProblem, instrument_id: str) -> Decimal:
    return problem.inventory.get(instrument_id, _ZERO)


class _Builder:
    def __init__(self, problem: AllocationProblem, outcome_limit: int) -> None:
        self.problem = problem
        self.model = _Model()
        self.layouts: list[_SetLayout] = []
        for candidate in problem.sets:
            self.layouts.append(self._set(candidate, outcome_limit))
        self._capital()

    def _set(self, candidate: CandidateSet, outcome_limit: int) -> _SetLayout:
        model, problem = self.model, self.problem
        limits = candidate.limits
        outcomes = set_outcomes(candidate, limit=outcome_limit)
        if not len(outcomes):
            raise ValueError(f"set {candidate.id}: the relations admit no outcome")
        risky = any(isinstance(r, Equivalent) and r.settlement_risk for r in candidate.relations)
        outcomes_err = set_outcomes(candidate, with_risky=False, limit=outcome_limit) if risky else None
        orders: list[_Order] = []
        for instrument in candidate.instruments:
            lot = instrument.lot_size
            levels = []
            for level in instrument.asks:
                lots = _lots(level.size, lot)
                if lots <= 0:
                    continue
                fee = one_lot_fee_usd(instrument, level.price)
                unit = float(level.price * lot + fee)
                levels.append(_Level(level.price, lots, unit, _integer(model, lots, 0.0), float(fee)))
            order = _Order(instrument, levels, float(lot))
            increment = instrument.fee.order_increment_usd
            if increment is not None and levels and instrument.fee.order_rounding.name == "UP":
                # the order's fee is c x increment >= sum of its one-lot fees (c an integer): spend
                # counts c x increment in place of that sum
                per_lot = [t for level in levels for t in level.terms(level.fee)]
                most = math.ceil(sum(level.fee * level.lots for level in levels) / float(increment)) + 1
                c_col = model.col(0.0, float(most), integer=True)
                model.row([(c_col, float(increment)), *((col, -v) for col, v in per_lot)], 0.0, _INF)
                order.rounding = [(c_col, float(increment)), *((col, -v) for col, v in per_lot)]
            orders.append(order)
        by_listing = {(o.instrument.venue, o.instrument.contract, o.instrument.side): o for o in orders}
        complement: dict[int, _Order] = {}  # id(bought order) -> held order it nets against
        for order in orders:
            instrument = order.instrument
            held = _held(problem, instrument.id)
            other_side = Side.NO if instrument.side is Side.YES else Side.YES
            other = by_listing.get((instrument.venue, instrument.contract, other_side))
            cap = _lots(held, instrument.lot_size)
            if other is None or cap <= 0 or other.instrument.lot_size != instrument.lot_size or not other.levels:
                continue
            # netting changes no payoff (a held + bought pair becomes $1 now): no objective term
            order.sale = _Level(_ZERO, cap, 0.0, _integer(model, cap, 0.0))
            complement[id(other)] = order
        t_col = model.col(-_INF, _INF, 1.0)
        spend_col = model.col(0.0, _INF, -1.0)
        # spend_k = sum unit cost x lots + each order's fee rounding; the objective is t_k - spend_k
        model.row([(spend_col, 1.0)] + [t for o in orders for t in o.spend_terms(-1.0)], 0.0, 0.0)
        # payoff(z) = base + sum_c z_c diff_c
        contract_ids = [c.id for c in candidate.contracts]
        base_col = model.col(-_INF, _INF)
        diff_cols = [model.col(-_INF, _INF) for _ in contract_ids]
        model.row(
            [(base_col, 1.0)] + [t for o in orders if not _pays_yes(o.instrument) for t in o.quantity_terms(-1.0)],
            0.0,
            0.0,
        )
        for k, contract_id in enumerate(contract_ids):
            terms = [(diff_cols[k], 1.0)]
            for o in orders:
                if o.instrument.contract == contract_id:
                    terms += o.quantity_terms(-1.0 if _pays_yes(o.instrument) else 1.0)
            model.row(terms, 0.0, 0.0)
        # the set trades or not; when it does, its profit reaches the minimum
        y_col = model.col(0.0, 1.0, integer=True)
        for o in orders:
            if o.levels:
                model.row([*o.quantity_terms(), (y_col, -o.max_quantity)], -_INF, 0.0)
        model.row([(t_col, 1.0), (spend_col, -1.0), (y_col, -float(limits.min_profit_usd))], 0.0, _INF)
        rho = float(limits.min_profit_per_payout_usd)
        if rho > 0:  # t - spend >= rho t
            model.row([(t_col, 1.0 - rho), (spend_col, -1.0)], 0.0, _INF)
        roc = float(limits.min_return_on_capital)
        if roc > 0:  # t - spend >= r spend
            model.row([(t_col, 1.0), (spend_col, -(1.0 + roc))], 0.0, _INF)
        # netting: sold <= complement bought; minimum orders on the buy and the sale separately
        for o in orders:
            held_order = complement.get(id(o))
            netted = held_order.sale_terms(-1.0) if held_order is not None else []
            if held_order is not None:
                model.row(o.quantity_terms() + netted, 0.0, _INF)
            minimum = float(o.instrument.min_order_size)
            if minimum > 0 and o.levels:
                active = model.col(0.0, 1.0, integer=True)
                model.row(o.quantity_terms() + netted + [(active, -o.max_quantity)], -_INF, 0.0)
                model.row(o.quantity_terms() + netted + [(active, -minimum)], 0.0, _INF)
            if o.sale is not None and float(o.instrument.min_order_size) > 0:
                active = model.col(0.0, 1.0, integer=True)
                model.row([*o.sale_terms(), (active, -o.sale.lots * o.lot)], -_INF, 0.0)
                model.row([*o.sale_terms(), (active, -float(o.instrument.min_order_size))], 0.0, _INF)
        # positions per contract and side over venues
        for contract in candidate.contracts:
            if contract.max_position is None:
                continue
            for side in Side:
                members = [o for o in orders if o.instrument.contract == contract.id and o.instrument.side is side]
                if not members:
                    continue
                already = sum((_held(problem, o.instrument.id) for o in members), _ZERO)
                room = float(max(contract.max_position - already, _ZERO))
                model.row([t for o in members for t in o.quantity_terms()], -_INF, room)
        if limits.max_cost_usd is not None:
            sales = [t for o in orders for t in o.sale_terms(-1.0)]
            model.row([(spend_col, 1.0), *sales], -_INF, float(limits.max_cost_usd))
        return _SetLayout(candidate, orders, t_col, spend_col, base_col, diff_cols, outcomes, outcomes_err)

    def _capital(self) -> None:
        model, capital = self.model, self.problem.capital
        by_venue: dict[str, list[tuple[int, float]]] = {}
        for layout in self.layouts:
            for o in layout.orders:
                terms = by_venue.setdefault(o.instrument.venue, [])
                terms += o.spend_terms() + o.sale_terms(-1.0)
        for venue, terms in by_venue.items():
            model.row(terms, -_INF, float(capital.cash_by_venue_usd[venue]))
        if capital.total_usd is not None:
            model.row([t for terms in by_venue.values() for t in terms], -_INF, float(capital.total_usd))

    def outcome_row(self, layout: _SetLayout, z: np.ndarray, *, err: bool) -> None:
        """t - payoff(z) <= 0, or for settlement risk spend - payoff(z) <= L."""
        ones = [(layout.diff_cols[k], -1.0) for k in np.flatnonzero(z).tolist()]
        if err:
            limit = float(layout.candidate.limits.settlement_loss_limit_usd)
            self.model.row([(layout.spend_col, 1.0), (layout.base_col, -1.0), *ones], -_INF, limit)
        else:
            self.model.row([(layout.t_col, 1.0), (layout.base_col, -1.0), *ones], -_INF, 0.0)


def _seed_rows(outcomes: np.ndarray) -> set[int]:
    """A spread to start the cut loop from: per contract, an outcome where it resolves NO and one
    where it resolves YES (when there is one)."""
    chosen: set[int] = set()
    for k in range(outcomes.shape[1]):
        for bit in (0, 1):
            hits = np.flatnonzero(outcomes[:, k] == bit)
            if len(hits):
                chosen.add(int(hits[0]))
    return chosen


def _payoffs(layout: _SetLayout, x: np.ndarray, outcomes: np.ndarray) -> np.ndarray:
    diffs = x[layout.diff_cols]
    payoffs: np.ndarray = float(x[layout.base_col]) + outcomes.astype(np.float64) @ diffs
    return payoffs


def solve_exact(
    problem: AllocationProblem,
    *,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-9,
    outcome_limit: int = 1 << 16,
    row_limit: int = 4096,
    node_limit: int | None = None,
) -> ExactResult:
    """The exact lot-integral optimum of `problem` with linear fees (see the module docstring).
    `node_limit` stops the branch and bound like the time limit does, deterministically (tests).
    Raises OutcomeLimitError when a set has more than `outcome_limit` feasible outcomes."""
    started = time.perf_counter()
    builder = _Builder(problem, outcome_limit)
    for layout in builder.layouts:
        for err, outcomes in ((False, layout.outcomes), (True, layout.outcomes_err)):
            if outcomes is None:
                continue
            rows = set(range(len(outcomes))) if len(outcomes) <= row_limit else _seed_rows(outcomes)
            (layout.rows_err_in if err else layout.rows_in).update(rows)
            for k in sorted(rows):
                builder.outcome_row(layout, outcomes[k], err=err)
    rounds = 0
    if any(len(layout.rows_in) < len(layout.outcomes) for layout in builder.layouts):
        rounds += _relaxed_rounds(builder, started + time_limit_s)
    while True:
        remaining = time_limit_s - (time.perf_counter() - started)
        h = builder.model.highs(remaining, mip_rel_gap, node_limit=node_limit)
        h.run()
        status = h.getModelStatus()
        info = h.getInfo()
        solution = np.array(h.getSolution().col_value) if info.primal_solution_status else None
        bound = float(info.mip_dual_bound)
        optimal = status == highspy.HighsModelStatus.kOptimal
        if status not in _FINISHED:
            raise RuntimeError(f"exact MIP ended {h.modelStatusToString(status)}")
        if solution is None:  # the time limit struck before any incumbent: trading nothing
            solution = np.zeros(len(builder.model.lo))
        added = 0
        if optimal:
            for layout in builder.layouts:
                added += _add_violated(builder, layout, solution)
        if added == 0 or not optimal:
            break
        rounds += 1
    return _result(builder, solution, bound, optimal and added == 0, time.perf_counter() - started, rounds)


def _relaxed_rounds(builder: _Builder, deadline: float) -> int:
    """Outcome rows the LP relaxation needs, added before the first MIP: each MIP round is a
    solve from scratch, an LP round is cheap, and the MIP mostly binds the same outcomes."""
    rounds = 0
    while time.perf_counter() < deadline:
        h = builder.model.highs(deadline - time.perf_counter(), 0.0, relaxed=True)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break  # the MIP rounds decide; this phase only seeds rows
        x = np.array(h.getSolution().col_value)
        if not sum(_add_violated(builder, layout, x) for layout in builder.layouts):
            break
        rounds += 1
    return rounds


def _add_violated(builder: _Builder, layout: _SetLayout, x: np.ndarray, per_round: int = 64) -> int:
    added = 0
    for err, outcomes, present in (
        (False, layout.outcomes, layout.rows_in),
        (True, layout.outcomes_err, layout.rows_err_in),
    ):
        if outcomes is None or len(present) == len(outcomes):
            continue
        payoff = _payoffs(layout, x, outcomes)
        lhs = (
            float(x[layout.spend_col]) - float(layout.candidate.limits.settlement_loss_limit_usd)
            if err
            else float(x[layout.t_col])
        )
        violation = lhs - payoff
        for k in np.argsort(-violation)[:per_round].tolist():
            if violation[k] <= _TOL:
                break
            if k not in present:
                present.add(k)
                builder.outcome_row(layout, outcomes[k], err=err)
                added += 1
    return added


def _result(builder: _Builder, x: np.ndarray, bound: float, optimal: bool, seconds: float, rounds: int) -> ExactResult:
    lots: dict[tuple[str, Decimal], int] = {}
    sold: dict[str, Decimal] = {}
    profits: dict[str, float] = {}
    exact_total = _ZERO
    rows = 0
    for layout in builder.layouts:
        rows += len(layout.rows_in) + len(layout.rows_err_in)
        bought: dict[str, list[tuple[Decimal, int]]] = {}
        spend = 0.0
        quantity: dict[int, float] = {}
        for o in layout.orders:
            taken = []
            for level in o.levels:
                n = level.value(x)
                if n:
                    lots[(o.instrument.id, level.price)] = n
                    taken.append((level.price, n))
                    spend += n * level.unit
            bought[o.instrument.id] = taken
            if o.rounding and taken:  # the order's fee rounded up to its increment, exactly
                per_lot = sum((one_lot_fee_usd(o.instrument, price) * n for price, n in taken), _ZERO)
                rule = o.instrument.fee
                spend += float(_quantize(per_lot, rule.order_increment_usd, rule.order_rounding.value) - per_lot)
            quantity[id(o)] = o.lot * sum(n for _, n in taken)
            if o.sale is not None:
                m = o.sale.value(x)
                if m:
                    sold[o.instrument.id] = m * o.instrument.lot_size
        pays = _pay_matrix(layout)
        q = np.array([quantity[id(o)] for o in layout.orders])
        worst = float((pays @ q).min()) if len(q) else 0.0
        profit = worst - spend
        profits[layout.candidate.id] = profit
        exact_total += _exact_profit(layout, bought, sold, pays)
    objective = sum(profits.values())
    return ExactResult(
        objective_usd=objective,
        bound_usd=bound,
        optimal=optimal,
        seconds=seconds,
        lots=lots,
        sold=sold,
        profit_by_set_usd=profits,
        exact_profit_usd=exact_total,
        columns=len(builder.model.lo),
        outcome_rows=rows,
        cut_rounds=rounds,
    )


def _pay_matrix(layout: _SetLayout) -> np.ndarray:
    """(outcomes x orders): 1 where the order's instrument pays in the outcome."""
    position = {c.id: k for k, c in enumerate(layout.candidate.contracts)}
    columns = []
    for o in layout.orders:
        z = layout.outcomes[:, position[o.instrument.contract]].astype(np.float64)
        columns.append(z if _pays_yes(o.instrument) else 1.0 - z)
    return np.stack(columns, axis=1) if columns else np.zeros((len(layout.outcomes), 0))


def _exact_profit(
    layout: _SetLayout,
    bought: dict[str, list[tuple[Decimal, int]]],
    sold: dict[str, Decimal],
    pays: np.ndarray,
) -> Decimal:
    """The set's MIP plan as orders with exact fees: per held instrument, the netted units are sold
    at the bids the complement's cheapest bought levels stand for (bid = 1 - ask); the rest of each
    instrument's levels is its buy order. Worst case over feasible outcomes of (payoff change + cash)."""
    by_listing = {(o.instrument.venue, o.instrument.contract, o.instrument.side): o for o in layout.orders}
    remaining = {
        o.instrument.id: [(p, n * o.instrument.lot_size) for p, n in bought[o.instrument.id]] for o in layout.orders
    }
    cash = _ZERO
    change = {o.instrument.id: _ZERO for o in layout.orders}
    for o in layout.orders:
        quantity = sold.get(o.instrument.id, _ZERO)
        if not quantity:
            continue
        other_side = Side.NO if o.instrument.side is Side.YES else Side.YES
        other = by_listing[(o.instrument.venue, o.instrument.contract, other_side)]
        fills = []
        levels = remaining[other.instrument.id]
        kept = []
        for price, size in sorted(levels):
            take = min(size, quantity)
            if take:
                fills.append((1 - price, take))
                quantity -= take
            if size - take:
                kept.append((price, size - take))
        remaining[other.instrument.id] = kept
        proceeds = sum((p * q for p, q in fills), _ZERO)
        cash += proceeds - exact_fee_usd(o.instrument, fills)
        change[o.instrument.id] -= sum((q for _, q in fills), _ZERO)
    for o in layout.orders:
        fills = remaining[o.instrument.id]
        if not fills:
            continue
        cash -= sum((p * q for p, q in fills), _ZERO) + exact_fee_usd(o.instrument, fills)
        change[o.instrument.id] += sum((q for _, q in fills), _ZERO)
    if not any(change.values()) and not cash:
        return _ZERO
    worst: Decimal | None = None
    for row in pays.astype(np.int8).tolist():
        value = sum((change[o.instrument.id] for o, paid in zip(layout.orders, row) if paid), _ZERO)
        worst = value if worst is None or value < worst else worst
    assert worst is not None
    return worst + cash
