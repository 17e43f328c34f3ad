"""The worst-case-profit LP over every candidate set (docs/optimization.md#worst-case-lp), with fixed
level slots.

Sets come and go in place (`add_set` / `remove_set`): the LP starts as the capital rows alone, and
each set appends its own columns and rows and enters its level and sale columns in the capital rows
(the only coefficients inserted into existing rows; stored positions are shifted). A removed set's
columns are fixed at zero and its rows freed; the space stays until a compacting rebuild
(solvers/allocator.py). A construction is one `_grow` of all its sets.

Columns, per candidate set k:
  x[l, j]   contracts bought at ask slot j of instrument l (0 <= x <= its whole lots x lot size; 0 for
            an empty slot). Columns are in contracts, not lots, so that every column is scaled alike
            and the solver's absolute tolerances mean the same thing on both venues
  T_k       guaranteed payoff over the set's outcomes (free): of the new trades alone under the
            `riskless` objective, of holdings plus new trades under `worst_case`
  C_k       cash the set spends, fees included (free), defined by C_k - sum c x = 0, where
            c = price + linear fee per contract; only for sets whose rows need their spend
            (settlement risk, profit-per-payout or return-on-capital limits, a cost cap)
  D_u, S    payoff differences and base: with P_u / F_u the contracts paying if outcome variable u
            is true / false, D_u = P_u - F_u and S = sum F_u (free, defined by rows), so an
            outcome's payoff is S + sum of D_u over the variables true in it
  s         held contracts sold back: buying the complement of a held contract from the same pool and
            netting the pair releases $1 (the sale at the bid; see problem.py); 0 <= s <= held
  duals     lambda / kappa / nu of the compact dual, when that method is used

Objectives (AllocatorConfig.objective, switchable in place with `set_objective`):
  riskless    maximise sum_k (T_k - spend_k) where T_k counts only what the new trades pay: in every
              outcome the trades pay at least the reported profit on top of whatever is held. Held
              inventory only lends its netting credit (a sale at the bid is the purchase of the
              complement from the same pool, which is payoff-neutral against holding) and uses up
              position limits.
  worst_case  maximise the rise of the portfolio's worst-case value: T_k counts holdings plus new
              trades and the set's profit is T_k - spend_k - V0_k, V0_k = min_z payoff of the
              holdings alone. For repairs after partial fills and for rebalancing.
Every level column also carries a tie-breaking cost of about `tie_break_usd_per_contract` (scaled
by a fixed hash of its instrument id): trades that earn nothing are never taken, and otherwise
equally good optima are ordered, so that the optimum is unique and a warm model and a fresh one
reach the same point (and the same rounded plan). Reported LP profits leave it out.

Prices appear in the objective, in C_k rows and in the capital rows. A book tick is one vectorised
cost change plus the coefficient changes; capital-row coefficients are flagged lazy, so a persistent
backend may defer them while the row cannot bind (backends/highs.py). Measured on the benchmark's
1,250-column pairs instance this cut a warm tick from 0.69 to 0.46 ms against keeping every price in
per-(set, venue) cost rows; on ~300-column sets the two are within noise.

Outcome rows (per set, by method):
  enumerate / cg   T_k <= S + sum_{u: z_u = 1} D_u             for each z in Z (cg: a working set)
  compact          the LP dual of min over the relaxation of Z (exact when it is integral)
Settlement risk (risky links): for z in Z_err the value may fall at most L_k below its current worst:
  C_k - payoff(z) <= L_k - B_k - r_k,  B_k = min over Z_err of the (objective's) inventory payoff.

Capital rows: per venue and (once a cap is set) in total, sum c x - sum s <= max(cash - r, 0), and
per capped set C_k - sum s <= max(cap - r_k, 0). The reserves r start at zero: the LP is the exact
continuous problem. Exact fees can only exceed the linear ones by the venue's rounding, so when a
rounded plan's exact money overshoots a row, the allocator raises that row's reserve by the
overshoot and solves again (`add_reserve`, `clear_reserves`): capital is held back only where a
plan actually needs it, never per instrument or per position. The floor at zero keeps trading
nothing feasible. Optional per-contract position limits, a minimum profit per $1 of payout
(riskless: T_k - C_k >= rho T_k) and a minimum return on capital (T_k - C_k - V0_k >= r C_k).
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from solvers.errors import DataError
from solvers.fees import FeeRule, Rounding
from solvers.lp import LinearProgram, LPGrowth, LPSolution, LPUpdate, RowBlock
from solvers.outcomes import OutcomeSystem
from solvers.problem import (
    OBJECTIVES,
    PRICE_SCALE,
    AllocationProblem,
    AllocatorConfig,
    CandidateSet,
    Capital,
    Instrument,
    Level,
    Objective,
    Side,
    check_ladder,
    check_level,
    check_money,
    representable_step,
)
from solvers.separation import OutcomeOracle

__all__ = ["Formulation", "Netting", "SetModel", "tie_break_weights"]

_INF = math.inf
_ZERO = Decimal(0)
_ENUMERATION_HARD_LIMIT = 100_000


@dataclass(eq=False)
class Netting:
    """Selling held `held` by buying `other` (its complement on the same venue and contract) from
    the shared pool. The column is the quantity sold (<= held); its row (sold <= complement bought)
    is appended the first time `held` holds inventory, so a book with no inventory keeps the model
    lean."""

    held: Instrument
    other: Instrument
    column: int
    row: int = -1


@dataclass(eq=False)
class SetModel:
    """Layout and state of one candidate set inside the LP."""

    index: int
    candidate: CandidateSet
    system: OutcomeSystem
    system_err: OutcomeSystem | None
    oracle: OutcomeOracle
    oracle_err: OutcomeOracle | None
    method: str
    instruments: tuple[Instrument, ...]
    slot_cols: dict[str, np.ndarray]  # instrument id -> its slot columns
    level_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    t_col: int = -1
    spend_col: int = -1  # C_k, when the set's rows need its spend
    spend_row: int = -1
    diff_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))  # D_u
    diff_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    base_col: int = -1  # S
    base_row: int = -1
    # small enumerated sets write payoffs straight into their few outcome rows (no P/F columns)
    substituted: bool = False
    payers: dict[tuple[int, bool], list[int]] = field(default_factory=dict)  # (u, pays if true) -> columns
    netting: list[Netting] = field(default_factory=list)
    position_rows: dict[tuple[str, Side], int] = field(default_factory=dict)
    cap_row: int | None = None
    payout_row: int | None = None  # riskless: (1 - rho) T_k - C_k >= 0
    roc_row: int | None = None  # T_k - (1 + r) C_k >= V0_k
    scenario_rows: list[int] = field(default_factory=list)  # main family scenario rows
    scenario_z: list[np.ndarray] = field(default_factory=list)
    err_rows: list[int] = field(default_factory=list)  # rows whose bound is L - B_err
    err_z: list[np.ndarray] = field(default_factory=list)
    mu_rows: np.ndarray | None = None  # compact: per outcome variable
    t_row: int | None = None  # compact: the row bounding T_k
    outcomes: dict[bool, np.ndarray] = field(default_factory=dict)  # enumerated Z / Z_err by `err`
    baseline: Decimal = _ZERO  # V0: guaranteed payoff of the inventory alone (exact)
    baseline_err: Decimal = _ZERO  # B: same over the settlement-risk outcomes (exact)
    # the same minima as the LP can certify them (the relaxation's, for the compact dual); LP rows
    # use these so that trading nothing is always feasible
    baseline_lp: float = 0.0
    baseline_err_lp: float = 0.0
    # reserve (see the module docstring): the set's cost cap is lowered by this when a rounded
    # plan's exact fees overshot it
    cap_reserve: Decimal = _ZERO
    # what the set owns in the LP: every column (levels, T, C, D, S, sales, a compact dual's), and
    # the rows it was built with (later netting and cut rows are listed in their own fields)
    columns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    row_first: int = -1
    row_end: int = -1
    # per instrument: the quantity step every price on its grid can sign, and its minimum order
    rounding_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    min_orders: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def id(self) -> str:
        return self.candidate.id

    def pays_if_true(self, instrument: Instrument) -> bool:
        _, parity = self.system.literal[instrument.contract]
        return (instrument.side is Side.YES) != bool(parity)


class _Rows:
    """Accumulates rows as (cols, values, lo, hi)."""

    def __init__(self, first_row: int = 0) -> None:
        self.rows: list[tuple[np.ndarray, np.ndarray, float, float]] = []
        self.first_row = first_row  # the LP row the first accumulated row becomes

    @property
    def next_row(self) -> int:
        return self.first_row + len(self.rows)

    def add(self, cols: Sequence[int], values: Sequence[float], lo: float, hi: float) -> int:
        self.rows.append((np.asarray(cols, dtype=np.int32), np.asarray(values, dtype=float), lo, hi))
        return self.first_row + len(self.rows) - 1


class Formulation:
    """Builds the LP once and turns every later change into an in-place `LPUpdate`."""

    def __init__(
        self,
        problem: AllocationProblem,
        config: AllocatorConfig,
        outcome_hints: Mapping[str, Sequence[Sequence[int]] | np.ndarray] | None = None,
    ) -> None:
        self.config = config
        self.objective: Objective = config.objective
        self.capital: Capital = problem.capital
        self.inventory: dict[str, Decimal] = dict(problem.inventory)
        # capital held back per venue and in total (see the module docstring); zero until a
        # rounded plan's exact money needs it
        self.cash_reserve: dict[str, Decimal] = {}
        self.total_reserve = _ZERO
        self.venues = tuple(sorted(problem.capital.cash_by_venue_usd))
        self.instrument_by_id: dict[str, Instrument] = {}
        self.set_of_instrument: dict[str, SetModel] = {}
        self.sets: list[SetModel] = []
        self._cg_sets: list[SetModel] = []
        self._suppressed: set[int] = set()
        self._unsynced_from: int | None = None
        self._cut_rows: set[int] = set()  # rows added by constraint generation (after the build)
        # the caller's outcome hints per set id: as given (for a compacting rebuild) and validated
        self._raw_hints: dict[str, Sequence[Sequence[int]] | np.ndarray] = {}
        self._hints: dict[str, list[np.ndarray]] = {}
        models = [self._set_model(k, s) for k, s in enumerate(problem.sets)]
        hints = dict(outcome_hints or {})
        unknown = sorted(set(hints) - {sm.id for sm in models})
        if unknown:
            raise DataError(f"outcome hints name unknown sets {unknown}")
        for sm in models:
            if sm.id in hints:
                self._remember_hints(sm, hints[sm.id])
        self._build_empty()
        self._grow(models)
        self.set_capital(self.capital)  # bounds of the capital rows (appends the total row once capped)
        self.lp.validate()
        self._unsynced_from = None  # the backend loads the LP as built

    # -- construction ----------------------------------------------------------------------------
    def _col(self, lo: float, hi: float, cost: float = 0.0) -> int:
        """A new column (appended to the LP at the end of `_grow`)."""
        self._costs.append(cost)
        self._col_lo.append(lo)
        self._col_hi.append(hi)
        return self._col_base + len(self._costs) - 1

    def _set_model(self, index: int, candidate: CandidateSet) -> SetModel:
        contracts = [c.id for c in candidate.contracts]
        system = OutcomeSystem(contracts, candidate.relations, with_risky_links=True)
        system_err = None
        if system.has_risky_links:
            system_err = OutcomeSystem(contracts, candidate.relations, with_risky_links=False)
        method, outcomes = self._choose_method(candidate, system, system_err)
        limit = self.config.cg_oracle_enumeration_limit if method == "cg" else 0
        oracle = OutcomeOracle(system, enumeration_limit=limit, exact_outcomes=outcomes.get(False))
        model = SetModel(
            index=index,
            candidate=candidate,
            system=system,
            system_err=system_err,
            oracle=oracle,
            oracle_err=(
                OutcomeOracle(system_err, enumeration_limit=limit, exact_outcomes=outcomes.get(True))
                if system_err is not None
                else None
            ),
            method=method,
            instruments=candidate.instruments,
            slot_cols={},
            outcomes=outcomes,
        )
        return model  # registered (instruments, columns, rows) by `_grow`

    def _remember_hints(self, sm: SetModel, vertices: Sequence[Sequence[int]] | np.ndarray) -> None:
        seeds = self._validated_hints(sm, vertices)
        self._raw_hints[sm.id] = vertices
        if seeds:
            self._hints[sm.id] = seeds

    def _validated_hints(self, sm: SetModel, vertices: Sequence[Sequence[int]] | np.ndarray) -> list[np.ndarray]:
        """Validated seed outcomes of one set, in outcome-variable space. A hint is a 0/1 vector
        over the set's contracts in `candidate.contracts` order (as `ProjectionResult.vertices`);
        contracts sharing an outcome variable (risk-free equivalences) must agree, and the outcome
        must satisfy every relation, or the hint is a DataError."""
        set_id = sm.id
        contracts = [c.id for c in sm.candidate.contracts]
        try:
            rows = np.asarray(vertices, dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"set {set_id}: outcome hints must be 0/1 vectors over its {len(contracts)} contracts"
            ) from exc
        if rows.size == 0:
            return []  # no hint: the default seeds
        if rows.ndim != 2 or rows.shape[1] != len(contracts):
            raise DataError(
                f"set {set_id}: outcome hints must be 0/1 vectors over its {len(contracts)} contracts, had shape {rows.shape}"
            )
        if not np.isin(rows, (0.0, 1.0)).all():
            raise DataError(f"set {set_id}: outcome hints must hold only 0 and 1")
        literals = [sm.system.literal[c] for c in contracts]
        var = np.array([v for v, _ in literals], dtype=np.int64)
        parity = np.array([p for _, p in literals], dtype=np.int64)
        unique: dict[bytes, np.ndarray] = {}
        for k, row in enumerate(rows.astype(np.int64)):
            values = row ^ parity  # each contract's claim on its variable
            z = np.zeros(sm.system.n, dtype=np.int64)
            z[var] = values
            if not np.array_equal(z[var], values):
                raise DataError(f"set {set_id}: outcome hint {k} settles equivalent contracts differently")
            if not sm.system.is_feasible(tuple(int(v) for v in z)):
                raise DataError(f"set {set_id}: outcome hint {k} breaks the set's relations")
            unique.setdefault(z.astype(np.uint8).tobytes(), z.astype(np.uint8))
        return list(unique.values())

    def _choose_method(
        self, candidate: CandidateSet, system: OutcomeSystem, system_err: OutcomeSystem | None
    ) -> tuple[str, dict[bool, np.ndarray]]:
        systems = {False: system} if system_err is None else {False: system, True: system_err}
        method = self.config.method
        if method in ("compact", "cg"):
            return method, {}
        limit = _ENUMERATION_HARD_LIMIT if method == "enumerate" else self.config.max_enumerated_outcomes
        outcomes = {err: s.enumerate(limit) for err, s in systems.items()}
        if all(o is not None for o in outcomes.values()):
            return "enumerate", outcomes  # type: ignore[return-value]
        if method == "enumerate":
            raise DataError(f"set {candidate.id}: too many outcomes to enumerate; use cg or auto")
        if all(s.has_integral_relaxation() for s in systems.values()):
            return "compact", {}
        return "cg", {}

    def _build_empty(self) -> None:
        """The LP before any set: one capital row per venue (sum c x - sum s <= cash), no columns."""
        venues = len(self.venues)
        self.lp = LinearProgram(
            cost=np.zeros(0),
            col_lo=np.zeros(0),
            col_hi=np.zeros(0),
            row_lo=np.full(venues, -_INF),
            row_hi=np.zeros(venues),
            start=np.zeros(venues + 1, dtype=np.int32),
            index=np.zeros(0, dtype=np.int32),
            value=np.zeros(0),
        )
        # capital rows: sum c x - sum s; their price coefficients are the lazy ones
        self._cash_rows: dict[str, int] = {venue: k for k, venue in enumerate(self.venues)}
        self._total_row = -1  # appended the first time a total capital cap is set
        self.lp.lazy_rows = np.array(list(self._cash_rows.values()), dtype=np.int32)
        self._venue_index = {venue: k for k, venue in enumerate(self.venues)}
        self._writes = 0
        # per column (grown with the LP, see `_extend_columns`): where each level column's price
        # sits: C_k row (eager), its venue's cash row and the total row (lazy); the objective for
        # sets without C_k
        self._spend_row = np.zeros(0, dtype=np.int32)
        self._spend_pos = np.zeros(0, dtype=np.int32)
        self._cash_row_of = np.zeros(0, dtype=np.int32)
        self._cash_pos = np.zeros(0, dtype=np.int32)
        self._total_pos = np.zeros(0, dtype=np.int32)
        self._in_objective = np.zeros(0, dtype=bool)
        self._is_level = np.zeros(0, dtype=bool)
        self._venue_of_col = np.zeros(0, dtype=np.int64)
        self._lot_f = np.zeros(0)
        self._tick_u = np.zeros(0, dtype=np.int64)
        self._unit_cost = np.zeros(0)  # current price + fee per contract (see unit_cost_table), per level column
        # per level column: where its instrument's unit-cost table starts in one flat array, indexed
        # by price / tick; and the highest unit cost any price allows (for the capital rows' reach)
        self._table_start = np.zeros(0, dtype=np.int64)
        self._max_unit = np.zeros(0)
        # extra cost per contract in a set's spend row, raised for a set whose rounded plan's exact fees
        # overshot its settlement-loss limit (see add_spend_margin)
        self._spend_margin = np.zeros(0)
        # the tie-breaking cost per contract (module docstring): constant, so set once per column
        self._tie = np.zeros(0)
        # level data as exact scaled integers: price in micro-dollars (-1 = empty slot), size in lots
        self._price_u = np.zeros(0, dtype=np.int64)
        self._lots = np.zeros(0, dtype=np.int64)
        self._tables: dict[tuple[FeeRule, Decimal, Decimal], int] = {}  # fee key -> start in _unit_table
        self._unit_table = np.zeros(0)
        self.col_instrument: dict[int, Instrument] = {}
        self.col_slot: dict[int, int] = {}
        self._costs: list[float] = []
        self._col_lo: list[float] = []
        self._col_hi: list[float] = []
        self._col_base = 0
        self._relayout()

    # per-column arrays and the value a new column starts with
    _COLUMN_ARRAYS: tuple[tuple[str, float], ...] = (
        ("_spend_row", -1),
        ("_spend_pos", -1),
        ("_cash_row_of", -1),
        ("_cash_pos", -1),
        ("_total_pos", -1),
        ("_in_objective", False),
        ("_is_level", False),
        ("_venue_of_col", 0),
        ("_lot_f", 1.0),
        ("_tick_u", 1),
        ("_unit_cost", 0.0),
        ("_table_start", 0),
        ("_max_unit", 0.0),
        ("_spend_margin", 0.0),
        ("_tie", 0.0),
        ("_price_u", -1),
        ("_lots", 0),
    )

    def _extend_columns(self, count: int) -> None:
        for name, fill in self._COLUMN_ARRAYS:
            array = getattr(self, name)
            setattr(self, name, np.concatenate([array, np.full(count, fill, dtype=array.dtype)]))

    def _grow(self, models: list[SetModel]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Append the columns and rows of new sets, enter their columns in the shared capital rows,
        and write their books and inventory. Every other set's columns, rows and coefficients stay
        as they are (positions in `lp.value` are remapped where capital rows grew). Returns the
        (rows, cols, positions) of the coefficients inserted into rows that existed before."""
        lp = self.lp
        self._col_base = lp.num_col
        self._costs, self._col_lo, self._col_hi = [], [], []
        rows = _Rows(lp.num_row)
        slots = self.config.slots_per_side
        spend_slot: dict[int, tuple[int, int]] = {}  # level column -> (its C_k row, index in the row)
        for sm in models:
            sm.rounding_steps = np.array(
                [float(representable_step(i.tick_size, i.lot_size, i.buy_amount_increment_usd)) for i in sm.instruments]
            )
            sm.min_orders = np.array([float(i.min_order_size) for i in sm.instruments])
            first_col = self._col_base + len(self._costs)
            for instrument in sm.instruments:
                sm.slot_cols[instrument.id] = np.array([self._col(0.0, 0.0) for _ in range(slots)], dtype=np.int32)
            sm.level_cols = np.concatenate(list(sm.slot_cols.values())) if sm.slot_cols else np.zeros(0, np.int32)
            sm.t_col = self._col(-_INF, _INF, cost=-1.0)
            limits = sm.candidate.limits
            if (
                sm.system_err is not None
                or limits.min_profit_per_payout_usd > 0
                or limits.min_return_on_capital > 0
                or limits.max_cost_usd is not None
            ):
                sm.spend_col = self._col(-_INF, _INF, cost=1.0)
            for instrument in sm.instruments:
                var, _ = sm.system.literal[instrument.contract]
                key = (var, sm.pays_if_true(instrument))
                sm.payers.setdefault(key, []).extend(sm.slot_cols[instrument.id].tolist())
            sm.substituted = self._substitution_is_smaller(sm)
            if not sm.substituted:
                sm.diff_cols = np.array([self._col(-_INF, _INF) for _ in range(sm.system.n)], dtype=np.int32)
                sm.base_col = self._col(-_INF, _INF)
            by_listing = {(i.venue, i.contract, i.side): i for i in sm.instruments}
            for (venue, contract, side), held in by_listing.items():
                other = by_listing.get((venue, contract, Side.NO if side is Side.YES else Side.YES))
                if other is not None:
                    sm.netting.append(Netting(held, other, self._col(0.0, 0.0)))
            sm.row_first = rows.next_row
            self._rows_of_set(sm, rows, spend_slot)  # (a compact dual adds its columns here)
            sm.row_end = rows.next_row
            sm.columns = np.arange(first_col, self._col_base + len(self._costs), dtype=np.int32)
        lp.cost = np.concatenate([lp.cost, self._costs])
        lp.col_lo = np.concatenate([lp.col_lo, self._col_lo])
        lp.col_hi = np.concatenate([lp.col_hi, self._col_hi])
        self._extend_columns(len(self._costs))
        self._costs, self._col_lo, self._col_hi = [], [], []
        if rows.rows:
            lp.append(RowBlock.from_rows(rows.rows))
        for col, (spend_row, _) in spend_slot.items():
            self._spend_row[col] = spend_row  # positions once the capital rows have grown (below)

        # the shared rows gain the new columns: per venue its levels (price coefficients, written
        # with the books below) and the sales of held contracts; the total row, once it exists, all
        entry_rows: list[np.ndarray] = []
        entry_cols: list[np.ndarray] = []
        entry_values: list[np.ndarray] = []
        targets: list[tuple[int, str | None]] = [(row, venue) for venue, row in self._cash_rows.items()]
        if self._total_row >= 0:
            targets.append((self._total_row, None))
        for row, on_venue in targets:
            levels = [
                c
                for sm in models
                for i in sm.instruments
                if on_venue is None or i.venue == on_venue
                for c in sm.slot_cols[i.id].tolist()
            ]
            sells = [n.column for sm in models for n in sm.netting if on_venue is None or n.held.venue == on_venue]
            entry_rows.append(np.full(len(levels) + len(sells), row, dtype=np.int32))
            entry_cols.append(np.array(levels + sells, dtype=np.int32))
            entry_values.append(np.array([1.0] * len(levels) + [-1.0] * len(sells)))
        ins_rows = np.concatenate(entry_rows) if entry_rows else np.zeros(0, np.int32)
        ins_cols = np.concatenate(entry_cols) if entry_cols else np.zeros(0, np.int32)
        positions = self._insert_entries(
            ins_rows, ins_cols, np.concatenate(entry_values) if entry_values else np.zeros(0)
        )
        level_entry = self._is_new_level(ins_cols, models)
        cash_entry = level_entry & (ins_rows != self._total_row)
        self._cash_row_of[ins_cols[cash_entry]] = ins_rows[cash_entry]
        self._cash_pos[ins_cols[cash_entry]] = positions[cash_entry]
        total_entry = level_entry & (ins_rows == self._total_row)
        self._total_pos[ins_cols[total_entry]] = positions[total_entry]
        for col, (spend_row, k) in spend_slot.items():
            self._spend_pos[col] = lp.start[spend_row] + k

        # the new instruments and their level columns
        new_levels: list[int] = []
        for sm in models:
            for instrument in sm.instruments:
                self.instrument_by_id[instrument.id] = instrument
                self.set_of_instrument[instrument.id] = sm
                fee_key = (instrument.fee, instrument.lot_size, instrument.tick_size)
                if fee_key not in self._tables:
                    self._tables[fee_key] = len(self._unit_table)
                    self._unit_table = np.concatenate([self._unit_table, unit_cost_table(*fee_key)])
                table_start = self._tables[fee_key]
                max_unit = float(unit_cost_table(*fee_key).max())
                for j, col in enumerate(sm.slot_cols[instrument.id].tolist()):
                    self.col_instrument[col] = instrument
                    self.col_slot[col] = j
                    self._lot_f[col] = float(instrument.lot_size)
                    self._tick_u[col] = int(instrument.tick_size * PRICE_SCALE)
                    self._table_start[col] = table_start
                    self._max_unit[col] = max_unit
                    self._venue_of_col[col] = self._venue_index[instrument.venue]
                    new_levels.append(col)
            if sm.spend_col < 0:
                self._in_objective[sm.level_cols] = True
        new_cols = np.array(new_levels, dtype=np.int32)
        self._is_level[new_cols] = True
        self._tie[new_cols] = tie_break_weights(
            [self.col_instrument[c].id for c in new_levels], self.config.tie_break_usd_per_contract
        )
        lp.cost[new_cols] = self._tie[new_cols]
        self.sets.extend(models)
        self._relayout()
        if len(new_cols):  # every book in one vectorised write
            ladders = [self._scaled_ladder(i, i.asks) for sm in models for i in sm.instruments]
            self._write_levels(
                new_cols, np.concatenate([p for p, _ in ladders]), np.concatenate([n for _, n in ladders])
            )
        for sm in models:
            self._refresh_inventory(sm)  # (the LP holds its edits; the backend reads the grown part)
        self._recompute_reach()
        return ins_rows, ins_cols, positions

    @staticmethod
    def _is_new_level(cols: np.ndarray, models: list[SetModel]) -> np.ndarray:
        levels = [sm.level_cols for sm in models]
        return np.isin(cols, np.concatenate(levels) if levels else np.zeros(0, np.int32))

    def _insert_entries(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Insert coefficients at the end of existing rows; returns their positions in `lp.value`
        (in the order given) and shifts every stored position behind them."""
        lp = self.lp
        if not len(rows):
            return np.zeros(0, dtype=np.int32)
        order = np.argsort(rows, kind="stable")  # np.insert needs ascending insertion points
        points = lp.start[rows[order] + 1].astype(np.int64)
        lp.index = np.insert(lp.index, points, cols[order]).astype(np.int32)
        lp.value = np.insert(lp.value, points, values[order])
        counts = np.bincount(rows, minlength=lp.num_row)
        lp.start = (lp.start + np.concatenate([[0], np.cumsum(counts)])).astype(np.int32)
        for name in ("_spend_pos", "_cash_pos", "_total_pos"):
            stored = getattr(self, name)
            held = stored >= 0
            stored[held] += np.searchsorted(points, stored[held], side="right").astype(stored.dtype)
        positions = np.empty(len(rows), dtype=np.int32)
        positions[order] = points + np.arange(len(points))  # entry k of the sorted run lands k later
        return positions

    def _relayout(self) -> None:
        """Everything derived from the list of live sets, in their order: set indices, the level
        columns and the per-instrument rows of the vectorised rounding, the tick-path positions."""
        for k, sm in enumerate(self.sets):
            sm.index = k
        self._cg_sets = [sm for sm in self.sets if sm.method == "cg"]
        self._any_spend_cols = any(sm.spend_col >= 0 for sm in self.sets)
        parts = [sm.level_cols for sm in self.sets]
        self.level_cols = np.concatenate(parts).astype(np.int32) if parts else np.zeros(0, dtype=np.int32)
        self._all_lazy = np.ones(len(self.level_cols), dtype=bool)  # a shared read-only mask
        # one row per instrument over its slot columns (slots of an instrument are consecutive), for
        # the vectorised rounding: the quantity step every price on its grid can sign, its minimum
        self.slot_matrix = self.level_cols.reshape(-1, self.config.slots_per_side)
        self.row_instruments: list[Instrument] = [i for sm in self.sets for i in sm.instruments]
        counts = [len(sm.instruments) for sm in self.sets]
        self.row_set = np.repeat(np.arange(len(self.sets), dtype=np.int64), counts)
        steps = [sm.rounding_steps for sm in self.sets]
        self.rounding_lot = np.concatenate(steps) if steps else np.zeros(0)
        minima = [sm.min_orders for sm in self.sets]
        self.min_order = np.concatenate(minima) if minima else np.zeros(0)
        levels = self.level_cols
        spend = self._spend_pos[levels]
        parts = [spend[spend >= 0], self._cash_pos[levels]]
        if self._total_row >= 0:
            parts.append(self._total_pos[levels])
        self.lp.param_positions = np.sort(np.concatenate(parts)).astype(np.int32)

    def _rows_of_set(self, sm: SetModel, rows: _Rows, spend_slot: dict[int, tuple[int, int]]) -> None:
        limits = sm.candidate.limits
        if sm.spend_col >= 0:  # C_k - sum (price + fee) * lot * x = 0
            levels = sm.level_cols.tolist()
            sm.spend_row = rows.add([sm.spend_col, *levels], [1.0] + [-1.0] * len(levels), 0.0, 0.0)
            spend_slot.update((col, (sm.spend_row, k)) for k, col in enumerate(levels, start=1))
        if not sm.substituted:  # D_u - (bought paying if u) + (bought paying if not u) = held difference
            diff_rows = []
            for u in range(sm.system.n):
                true_side, false_side = sm.payers.get((u, True), []), sm.payers.get((u, False), [])
                cols = [int(sm.diff_cols[u]), *true_side, *false_side]
                values = [1.0, *([-1.0] * len(true_side)), *([1.0] * len(false_side))]
                diff_rows.append(rows.add(cols, values, 0.0, 0.0))
            sm.diff_rows = np.array(diff_rows, dtype=np.int32)
            false_side = [col for u in range(sm.system.n) for col in sm.payers.get((u, False), [])]
            cols = [sm.base_col, *false_side]  # S - everything bought paying if false = held
            sm.base_row = rows.add(cols, [1.0, *([-1.0] * len(false_side))], 0.0, 0.0)
        for netting in sm.netting:
            if self.held(netting.held.id):
                netting.row = rows.add(*self._netting_row(sm, netting))
        # position limits per (contract, side), across venues
        for contract in sm.candidate.contracts:
            if contract.max_position is None:
                continue
            for side in Side:
                cols, values = [], []
                for instrument in sm.instruments:
                    if instrument.contract == contract.id and instrument.side is side:
                        cols += sm.slot_cols[instrument.id].tolist()
                        values += [1.0] * len(sm.slot_cols[instrument.id])
                if cols:
                    sm.position_rows[(contract.id, side)] = rows.add(cols, values, -_INF, 0.0)
        sells = [netting.column for netting in sm.netting]
        if limits.max_cost_usd is not None:
            sm.cap_row = rows.add([sm.spend_col, *sells], [1.0] + [-1.0] * len(sells), -_INF, 0.0)
        if limits.min_profit_per_payout_usd > 0:  # riskless: (1 - rho) T - C >= 0 (worst_case: free)
            rho = float(limits.min_profit_per_payout_usd)
            sm.payout_row = rows.add([sm.t_col, sm.spend_col], [1.0 - rho, -1.0], 0.0, _INF)
        if limits.min_return_on_capital > 0:  # T - (1 + r) C >= V0
            r = float(limits.min_return_on_capital)
            sm.roc_row = rows.add([sm.t_col, sm.spend_col], [1.0, -(1.0 + r)], 0.0, _INF)
        self._outcome_rows(sm, rows, err=False)
        if sm.system_err is not None:
            self._outcome_rows(sm, rows, err=True)

    def _netting_row(self, sm: SetModel, netting: Netting) -> tuple[list[int], list[float], float, float]:
        """sold - complement bought <= 0."""
        slots = sm.slot_cols[netting.other.id].tolist()
        return [netting.column, *slots], [1.0] + [-1.0] * len(slots), -_INF, 0.0

    def _append(self, rows: list[tuple[list[int], list[float], float, float]]) -> int:
        """Append rows to the LP (constraint generation, netting); the allocator forwards them to
        the backend before the next solve."""
        block = RowBlock.from_rows([(np.asarray(c, np.int32), np.asarray(v, float), lo, hi) for c, v, lo, hi in rows])
        first = self.lp.append(block)
        if self._unsynced_from is None:
            self._unsynced_from = first
        return first

    def take_appended(self) -> int | None:
        """First row appended since the last call (None if none): for `Backend.rows_appended`."""
        first, self._unsynced_from = self._unsynced_from, None
        return first

    def _outcome_rows(self, sm: SetModel, rows: _Rows, *, err: bool) -> None:
        system = sm.system_err if err else sm.system
        assert system is not None
        if sm.method == "compact":
            self._compact_block(sm, system, rows, err=err)
            return
        if sm.method == "enumerate":
            vertices = list(sm.outcomes[err])
        elif not err and self._hints.get(sm.id):
            # the caller's outcomes (e.g. a projection's active vertices) replace the spread of
            # seed outcomes; constraint generation still certifies the optimum with the oracle
            vertices = self._hints[sm.id]
        else:
            oracle = sm.oracle_err if err else sm.oracle
            assert oracle is not None
            vertices = oracle.seed_vertices()
        for z in vertices:
            self._scenario_row(sm, z, rows.add, err=err)

    def _scenario_row(
        self, sm: SetModel, z: np.ndarray, add: Callable[[list[int], list[float], float, float], int], *, err: bool
    ) -> int:
        """T_k (or the set's spend, for a settlement-risk row) minus the payoff in outcome z <= 0;
        bounds are set by `_refresh_inventory` where the payoff includes held inventory."""
        z = np.asarray(z, dtype=np.uint8)
        if sm.substituted:
            pay_cols = [col for u, value in enumerate(z.tolist()) for col in sm.payers.get((u, bool(value)), ())]
            pay_values = [-1.0] * len(pay_cols)
        else:
            pay_cols = [sm.base_col, *sm.diff_cols[z == 1].tolist()]
            pay_values = [-1.0] * len(pay_cols)
        if err:
            row = add([sm.spend_col, *pay_cols], [1.0, *pay_values], -_INF, 0.0)
            sm.err_rows.append(row)
            sm.err_z.append(z)
        else:
            row = add([sm.t_col, *pay_cols], [1.0, *pay_values], -_INF, 0.0)
            sm.scenario_rows.append(row)
            sm.scenario_z.append(z)
        return row

    def _substitution_is_smaller(self, sm: SetModel) -> bool:
        """Write payoffs into the outcome rows directly when that needs no more nonzeros than the
        P/F columns and their definition rows (cross-venue pairs, small groups; not wide ones)."""
        if sm.method != "enumerate":
            return False
        count = {key: len(entries) for key, entries in sm.payers.items()}
        n = sm.system.n
        with_aux = sum(1 + count.get((u, True), 0) + count.get((u, False), 0) for u in range(n))
        with_aux += 1 + sum(count.get((u, False), 0) for u in range(n))
        with_aux += sum(2 + int(z.sum()) for z_all in sm.outcomes.values() for z in z_all)
        direct = sum(
            1 + sum(count.get((u, bool(v)), 0) for u, v in enumerate(z))
            for z_all in sm.outcomes.values()
            for z in z_all.tolist()
        )
        return direct <= with_aux

    def _compact_block(self, sm: SetModel, system: OutcomeSystem, rows: _Rows, *, err: bool) -> None:
        """Rows and columns of  max b.lambda + g.kappa - 1.nu  s.t.  A'lambda + G'kappa - nu <= P - F."""
        n = system.n
        per_var: list[tuple[list[int], list[float]]] = [([], []) for _ in range(n)]
        bound_cols: list[int] = []
        bound_values: list[float] = []
        for row in system.rows:
            parts = []
            if row.lo is not None and row.lo == row.hi:
                parts.append((self._col(-_INF, _INF), 1, row.lo))
            else:
                if row.lo is not None:
                    parts.append((self._col(0.0, _INF), 1, row.lo))
                if row.hi is not None:
                    parts.append((self._col(0.0, _INF), -1, -row.hi))
            for col, sign, rhs in parts:
                for var, coef in row.coefs:
                    per_var[var][0].append(col)
                    per_var[var][1].append(float(sign * coef))
                if rhs:
                    bound_cols.append(col)
                    bound_values.append(-float(rhs))
        nu = [self._col(0.0, _INF) for _ in range(n)]
        mu_rows = []
        for u in range(n):
            cols = per_var[u][0] + [nu[u], int(sm.diff_cols[u])]
            values = per_var[u][1] + [-1.0, -1.0]
            mu_rows.append(rows.add(cols, values, -_INF, 0.0))
        cols = [*bound_cols, *nu, sm.base_col]
        values = [*bound_values, *([1.0] * n), -1.0]
        if err:
            sm.err_rows.append(rows.add([sm.spend_col, *cols], [1.0, *values], -_INF, 0.0))
        else:
            sm.t_row = rows.add([sm.t_col, *cols], [1.0, *values], -_INF, 0.0)
            sm.mu_rows = np.array(mu_rows, dtype=np.int32)

    # -- gaining and losing sets (docs/architecture.md#allocator) ---------------------------------------------
    def add_set(
        self,
        candidate: CandidateSet,
        outcome_hints: Sequence[Sequence[int]] | np.ndarray | None = None,
        inventory: Mapping[str, Decimal] | None = None,
        *,
        replacing: str | None = None,
    ) -> tuple[LPUpdate, LPGrowth]:
        """Append a candidate set's columns and rows, and its columns in the shared capital rows;
        nothing else in the model moves. Validated before anything changes (DataError): a new id
        (or, with `replacing`, the id of the live set it replaces, which is retired first), no
        instrument another live set trades, venues with a cash row, valid hints, inventory of its
        own instruments (default: none; when replacing, what its instruments held). Returns the
        retirement's update (empty unless replacing) and what a persistent backend must append."""
        self._check_addable(candidate, replacing)
        model = self._set_model(len(self.sets), candidate)
        seeds = self._validated_hints(model, outcome_hints) if outcome_hints is not None else []
        if inventory is None:
            ids = {i.id for i in candidate.instruments}
            inventory = {i: q for i, q in self.inventory.items() if i in ids} if replacing is not None else {}
        held = {}
        for instrument_id, quantity in inventory.items():
            if not any(i.id == instrument_id for i in candidate.instruments):
                raise DataError(f"set {candidate.id}: inventory names instrument {instrument_id!r} it does not trade")
            held[instrument_id] = check_money(quantity, f"inventory of {instrument_id}")
        retired = self.remove_set(replacing) if replacing is not None else LPUpdate()
        pending = self.take_appended()
        lp = self.lp
        first_col, first_row = lp.num_col, lp.num_row if pending is None else pending
        if outcome_hints is not None:
            self._raw_hints[candidate.id] = outcome_hints
            if seeds:
                self._hints[candidate.id] = seeds
        self.inventory.update({i: q for i, q in held.items() if q})
        rows, cols, positions = self._grow([model])
        self.take_appended()  # every appended row is in the growth
        return retired, LPGrowth(first_col, first_row, rows, cols, self.lp.value[positions])

    def _check_addable(self, candidate: CandidateSet, replacing: str | None) -> None:
        if not isinstance(candidate, CandidateSet):
            raise DataError(f"add_set needs a CandidateSet, was {type(candidate).__name__}")
        live = {sm.id: sm for sm in self.sets}
        if replacing is not None:
            if replacing not in live:
                raise DataError(f"no live candidate set {replacing!r} to replace")
            if candidate.id != replacing:
                raise DataError(f"replace_set keeps the id: {candidate.id!r} is not {replacing!r}")
        elif candidate.id in live:
            raise DataError(f"candidate set {candidate.id!r} is already in the allocator")
        for instrument in candidate.instruments:
            owner = self.set_of_instrument.get(instrument.id)
            if owner is not None and owner.id != replacing:
                raise DataError(f"instrument {instrument.id} is in sets {owner.id} and {candidate.id}")
            if instrument.venue not in self._cash_rows:
                raise DataError(
                    f"no cash row for venue {instrument.venue!r} of instrument {instrument.id}: the allocator's "
                    f"venues are fixed by the capital it was built with ({', '.join(self.venues) or 'none'})"
                )

    def remove_set(self, set_id: str) -> LPUpdate:
        """Retire a live set: its columns fixed at zero, its rows freed, its instruments (and their
        inventory) forgotten. The space stays in the model until a compacting rebuild."""
        sm = next((s for s in self.sets if s.id == set_id), None)
        if sm is None:
            raise DataError(f"no live candidate set {set_id!r}")
        lp = self.lp
        cols = sm.columns
        rows = self._owned_rows(sm)
        lp.col_lo[cols] = 0.0
        lp.col_hi[cols] = 0.0
        lp.row_lo[rows] = -_INF
        lp.row_hi[rows] = _INF
        levels = sm.level_cols
        self._is_level[levels] = False
        self._in_objective[levels] = False
        self._lots[levels] = 0
        self._price_u[levels] = -1
        for instrument in sm.instruments:
            del self.instrument_by_id[instrument.id]
            del self.set_of_instrument[instrument.id]
            self.inventory.pop(instrument.id, None)
        for col in levels.tolist():
            del self.col_instrument[col]
            del self.col_slot[col]
        self._raw_hints.pop(set_id, None)
        self._hints.pop(set_id, None)
        self.sets.remove(sm)
        self._relayout()
        self._recompute_reach()
        return LPUpdate(
            bound_index=cols.copy(),
            bound_lo=np.zeros(len(cols)),
            bound_hi=np.zeros(len(cols)),
            row_index=rows,
            row_lo=np.full(len(rows), -_INF),
            row_hi=np.full(len(rows), _INF),
        )

    def _owned_rows(self, sm: SetModel) -> np.ndarray:
        rows = set(range(sm.row_first, sm.row_end))
        rows.update(sm.scenario_rows)
        rows.update(sm.err_rows)
        rows.update(n.row for n in sm.netting if n.row >= 0)
        return np.array(sorted(rows), dtype=np.int32)

    def live_size(self) -> tuple[int, int]:
        """(columns, rows) the live sets and the capital rows use; the rest of the LP is retired."""
        columns = sum(len(sm.columns) for sm in self.sets)
        rows = len(self._cash_rows) + (self._total_row >= 0)
        for sm in self.sets:
            rows += sm.row_end - sm.row_first
            rows += sum(1 for r in sm.scenario_rows if not sm.row_first <= r < sm.row_end)
            rows += sum(1 for r in sm.err_rows if not sm.row_first <= r < sm.row_end)
            rows += sum(1 for n in sm.netting if n.row >= sm.row_end)
        return columns, rows

    # -- books -------------------------------------------------------------------------------------
    def _scaled_ladder(self, instrument: Instrument, levels: Iterable[Level]) -> tuple[np.ndarray, np.ndarray]:
        """A validated ladder as (price micros, lots) per slot, best first, empty slots (-1, 0)."""
        ordered = sorted(levels, key=lambda lv: lv.price)[: self.config.slots_per_side]
        price_u = np.full(self.config.slots_per_side, -1, dtype=np.int64)
        lots = np.zeros(self.config.slots_per_side, dtype=np.int64)
        for k, level in enumerate(ordered):
            price_u[k] = int(level.price * PRICE_SCALE)
            lots[k] = int((level.size / instrument.lot_size).to_integral_value(rounding=ROUND_FLOOR))
        return price_u, lots

    def slot_columns(self, instrument_id: str) -> np.ndarray:
        """The columns of an instrument's ask slots (best first): handles for `update_levels`."""
        try:
            return self.set_of_instrument[instrument_id].slot_cols[instrument_id]
        except KeyError:
            raise DataError(f"unknown instrument, was {instrument_id!r}") from None

    def price_at(self, col: int) -> Decimal | None:
        """Exact price of a level slot (None when empty)."""
        micros = int(self._price_u[col])
        return None if micros < 0 else Decimal(micros) / PRICE_SCALE

    def size_at(self, col: int) -> Decimal:
        """Usable size of a level slot: its whole lots."""
        return self.col_instrument[col].lot_size * int(self._lots[col])

    def set_book(self, instrument_id: str, asks: Sequence[Level]) -> LPUpdate:
        """Replace an instrument's ask ladder (validated; deeper than the slots is ignored)."""
        instrument = self.instrument_by_id.get(instrument_id)
        if instrument is None:
            raise DataError(f"unknown instrument, was {instrument_id!r}")
        ladder = check_ladder(instrument, tuple(asks))
        return self._write_levels(self.slot_columns(instrument_id), *self._scaled_ladder(instrument, ladder))

    def scale_levels(
        self, cols: Sequence[int] | np.ndarray, prices: Sequence[Decimal], sizes: Sequence[Decimal]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact conversion of Decimal levels to (cols, price micros, lots), validating each level
        (the venue boundary does this once per parsed level)."""
        cols = self._check_cols(cols)
        if len(cols) != len(prices) or len(cols) != len(sizes):
            raise DataError("update_levels: cols, prices and sizes differ in length")
        price_u = np.empty(len(cols), dtype=np.int64)
        lots = np.empty(len(cols), dtype=np.int64)
        for k, (col, price, size) in enumerate(zip(cols.tolist(), prices, sizes)):
            instrument = self.col_instrument[col]
            check_level(instrument, price, size, f"slot {self.col_slot[col]}")
            price_u[k] = int(price * PRICE_SCALE)
            lots[k] = int((size / instrument.lot_size).to_integral_value(rounding=ROUND_FLOOR))
        return cols, price_u, lots

    def update_levels(
        self, cols: Sequence[int] | np.ndarray, prices: Sequence[Decimal], sizes: Sequence[Decimal]
    ) -> LPUpdate:
        """New (price, size) for individual slots, as Decimals (exact; converted per level)."""
        return self._write_levels(*self.scale_levels(cols, prices, sizes))

    def update_levels_scaled(
        self, cols: Sequence[int] | np.ndarray, price_micros: np.ndarray, size_lots: np.ndarray
    ) -> LPUpdate:
        """Hot path: new levels as exact scaled integers (price in micro-dollars, size in whole
        lots), validated and applied with vectorised integer arithmetic before anything changes.
        The ladder as a whole is not re-checked (two slots may briefly share a price mid-update)."""
        cols = self._check_cols(cols)
        price_u = np.asarray(price_micros)
        lots = np.asarray(size_lots)
        if price_u.shape != cols.shape or lots.shape != cols.shape:
            raise DataError("update_levels_scaled: cols, price_micros and size_lots differ in shape")
        if price_u.dtype.kind not in "iu" or lots.dtype.kind not in "iu":
            raise DataError(f"update_levels_scaled needs integer arrays, was {price_u.dtype} and {lots.dtype}")
        # (price - 1) as unsigned catches price <= 0 and price >= PRICE_SCALE in one comparison
        bad = ((price_u - 1).astype(np.uint64) >= PRICE_SCALE - 1) | (price_u % self._tick_u[cols] != 0) | (lots < 0)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            col = int(cols[k])
            raise DataError(
                f"instrument {self.col_instrument[col].id} slot {self.col_slot[col]}: price_micros {int(price_u[k])} must be "
                f"inside (0, {PRICE_SCALE}) on the tick {int(self._tick_u[col])} and size_lots {int(lots[k])} non-negative"
            )
        return self._write_levels(cols, price_u.astype(np.int64), lots.astype(np.int64))

    def _check_cols(self, cols: Sequence[int] | np.ndarray) -> np.ndarray:
        cols = np.asarray(cols, dtype=np.int32)
        try:  # seen unsigned, a negative handle is out of range too
            valid = bool(np.take(self._is_level, cols.view(np.uint32), mode="raise").all())
        except IndexError:
            valid = False
        if not valid:
            raise DataError("update_levels: a handle is not a level slot column")
        return cols

    def _write_levels(self, cols: np.ndarray, price_u: np.ndarray, lots: np.ndarray) -> LPUpdate:
        old_lots = self._lots[cols]
        self._price_u[cols] = price_u
        self._lots[cols] = lots
        empty = price_u <= 0
        # empty slots: any cost will do, they have no size (1.0: the most a contract can cost)
        unit = np.where(
            empty, 1.0, self._unit_table[self._table_start[cols] + np.maximum(price_u, 0) // self._tick_u[cols]]
        )
        self._unit_cost[cols] = unit
        if self._any_spend_cols:
            direct = self._in_objective[cols]
            cost_index, cost_value = cols[direct], unit[direct] + self._tie[cols[direct]]
            has_spend = ~direct
            spend_cols = cols[has_spend]
        else:
            cost_index, cost_value = cols, unit + self._tie[cols]
            has_spend, spend_cols = np.zeros(len(cols), dtype=bool), cols[:0]
        self.lp.cost[cost_index] = cost_value
        if not self._any_spend_cols and self._total_row < 0:  # the common case: one capital entry per level
            coef_row, coef_col, positions, coef = self._cash_row_of[cols], cols, self._cash_pos[cols], unit
            lazy = self._all_lazy[: len(cols)] if len(cols) <= len(self._all_lazy) else np.ones(len(cols), dtype=bool)
        else:
            rows_part = [self._spend_row[spend_cols], self._cash_row_of[cols]]
            cols_part = [spend_cols, cols]
            pos_part = [self._spend_pos[spend_cols], self._cash_pos[cols]]
            coef_part = [-(unit[has_spend] + self._spend_margin[spend_cols]), unit]
            if self._total_row >= 0:
                rows_part.append(np.full(len(cols), self._total_row, np.int32))
                cols_part.append(cols)
                pos_part.append(self._total_pos[cols])
                coef_part.append(unit)
            coef_row, coef_col = np.concatenate(rows_part), np.concatenate(cols_part)
            positions, coef = np.concatenate(pos_part), np.concatenate(coef_part)
            lazy = np.zeros(len(coef), dtype=bool)
            lazy[len(spend_cols) :] = True  # capital rows
        self.lp.value[positions] = coef
        moved = lots != old_lots
        bounds = {}
        if moved.any() or self._suppressed:  # a price-only tick changes no bound
            self._track_reach(cols, (lots - old_lots) * self._lot_f[cols] * self._max_unit[cols])
            upper = self._book_upper(cols)
            moved |= upper != self.lp.col_hi[cols]
            self.lp.col_hi[cols] = upper
            if moved.any():
                bounds = {"bound_index": cols[moved], "bound_lo": np.zeros(int(moved.sum())), "bound_hi": upper[moved]}
        return LPUpdate(
            cost_index=cost_index,
            cost_value=cost_value,
            coef_row=coef_row,
            coef_col=coef_col,
            coef_value=coef,
            coef_lazy=lazy,
            **bounds,
        )

    # -- inventory and capital -----------------------------------------------------------------------
    def set_inventory(self, inventory: Mapping[str, Decimal]) -> LPUpdate:
        """Replace held quantities (instrument id -> contracts); instruments not named hold none."""
        new = {}
        for instrument_id, quantity in inventory.items():
            if instrument_id not in self.instrument_by_id:
                raise DataError(f"inventory names unknown instrument {instrument_id!r}")
            new[instrument_id] = check_money(quantity, f"inventory of {instrument_id}")
        changed = {i for i in set(new) | set(self.inventory) if new.get(i, _ZERO) != self.inventory.get(i, _ZERO)}
        self.inventory = new
        updates = [self._refresh_inventory(sm) for sm in self.sets if any(i in changed for i in sm.slot_cols)]
        return _merge([*updates, self._capital_update()])

    @property
    def tie_costs(self) -> np.ndarray:
        """The tie-breaking cost per column (zero off the level columns), as built."""
        return self._tie

    def held(self, instrument_id: str) -> Decimal:
        return self.inventory.get(instrument_id, _ZERO)

    def inventory_payoffs(
        self, sm: SetModel, holdings: Mapping[str, Decimal] | None = None
    ) -> tuple[list[Decimal], list[Decimal]]:
        """Exact (pays-if-true, pays-if-false) totals per outcome variable for given holdings."""
        holdings = self.inventory if holdings is None else holdings
        true = [_ZERO] * sm.system.n
        false = [_ZERO] * sm.system.n
        for instrument in sm.instruments:
            quantity = holdings.get(instrument.id, _ZERO)
            if quantity:
                var, _ = sm.system.literal[instrument.contract]
                if sm.pays_if_true(instrument):
                    true[var] += quantity
                else:
                    false[var] += quantity
        return true, false

    def worst_case(
        self, sm: SetModel, true: Sequence[Decimal], false: Sequence[Decimal], *, err: bool = False
    ) -> tuple[Decimal, tuple[int, ...]]:
        """Exact min over outcomes of sum_u z_u true_u + (1 - z_u) false_u (one exact MIP call)."""
        oracle = sm.oracle_err if err else sm.oracle
        assert oracle is not None
        value, z = oracle.minimize_exact([t - f for t, f in zip(true, false)])
        return sum(false, _ZERO) + value, z

    def payoff_holdings(self) -> Mapping[str, Decimal]:
        """Holdings that count in the outcome rows and the baselines: the inventory under the
        `worst_case` objective, nothing under `riskless` (whose profit is what the new trades pay on
        top of holding)."""
        return self.inventory if self.objective == "worst_case" else {}

    def set_objective(self, objective: Objective) -> LPUpdate:
        """Switch between the `riskless` and `worst_case` objectives in place (row bounds only)."""
        if objective not in OBJECTIVES:
            raise DataError(f"objective must be one of {OBJECTIVES}, was {objective!r}")
        if objective == self.objective:
            return LPUpdate()
        self.objective = objective
        return _merge([self._refresh_inventory(sm) for sm in self.sets])

    def _refresh_inventory(self, sm: SetModel) -> LPUpdate:
        true, false = self.inventory_payoffs(sm, self.payoff_holdings())
        sm.baseline, _ = self.worst_case(sm, true, false)
        sm.baseline_lp = self._certified(sm, true, false, sm.baseline, err=False)
        if sm.system_err is not None:
            sm.baseline_err, _ = self.worst_case(sm, true, false, err=True)
            sm.baseline_err_lp = self._certified(sm, true, false, sm.baseline_err, err=True)
        rows: dict[int, tuple[float, float]] = {}
        for u, row in enumerate(sm.diff_rows.tolist()):
            rows[row] = (float(true[u] - false[u]), float(true[u] - false[u]))
        if sm.base_row >= 0:
            base = float(sum(false, _ZERO))
            rows[sm.base_row] = (base, base)
        loss_bound = float(sm.candidate.limits.settlement_loss_limit_usd) - sm.baseline_err_lp
        if sm.substituted:  # the held payoff of each outcome moves into its row's bound
            true_f, false_f = np.array([float(v) for v in true]), np.array([float(v) for v in false])
            for row, z in zip(sm.scenario_rows, sm.scenario_z):
                rows[row] = (-_INF, float(np.where(z == 1, true_f, false_f).sum()))
            for row, z in zip(sm.err_rows, sm.err_z):
                rows[row] = (-_INF, loss_bound + float(np.where(z == 1, true_f, false_f).sum()))
        else:
            for row in sm.err_rows:
                rows[row] = (-_INF, loss_bound)
        if sm.payout_row is not None:  # a payout-based edge is meaningful for new entries only
            rows[sm.payout_row] = (0.0, _INF) if self.objective == "riskless" else (-_INF, _INF)
        if sm.roc_row is not None:
            rows[sm.roc_row] = (sm.baseline_lp, _INF)
        for (contract_id, side), row in sm.position_rows.items():
            contract = next(c for c in sm.candidate.contracts if c.id == contract_id)
            assert contract.max_position is not None
            held = sum((self.held(i.id) for i in sm.instruments if i.contract == contract_id and i.side is side), _ZERO)
            rows[row] = (-_INF, float(max(contract.max_position - held, _ZERO)))
        for netting in sm.netting:
            if netting.row < 0 and self.held(netting.held.id):
                netting.row = self._append([self._netting_row(sm, netting)])
        bound_cols = np.array([netting.column for netting in sm.netting], dtype=np.int32)
        bound_hi = np.array([float(self.held(netting.held.id)) for netting in sm.netting])
        self.lp.col_hi[bound_cols] = bound_hi
        update = self._row_update(rows)
        update.bound_index, update.bound_lo, update.bound_hi = bound_cols, np.zeros(len(bound_cols)), bound_hi
        if sm.cap_row is not None:
            assert sm.candidate.limits.max_cost_usd is not None
            cap = float(max(sm.candidate.limits.max_cost_usd - sm.cap_reserve, _ZERO))
            update = _merge([update, self._row_update({sm.cap_row: (-_INF, cap)})])
        return update

    def _certified(
        self, sm: SetModel, true: Sequence[Decimal], false: Sequence[Decimal], exact: Decimal, *, err: bool
    ) -> float:
        """The minimum payoff as the set's LP rows certify it: the relaxation's for the compact dual
        (it can be below the exact minimum when the relaxation is not integral), else the exact one."""
        if sm.method != "compact":
            return float(exact)
        oracle = sm.oracle_err if err else sm.oracle
        assert oracle is not None
        weights = np.array([float(t - f) for t, f in zip(true, false)])
        return min(float(exact), float(sum(false, _ZERO)) + oracle.minimize_relaxed(weights))

    # -- reserves (module docstring): raised where a rounded plan's exact money overshot a row -----------
    def add_reserve(
        self,
        *,
        venue: str | None = None,
        total: Decimal = _ZERO,
        cap: Mapping[int, Decimal] | None = None,
    ) -> LPUpdate:
        """Raise reserves by exact amounts: one venue's cash (`venue` with `total`), else the total
        capital (`total`), and per set index its cost cap (`cap`). Returns the row-bound update.
        (A settlement-loss limit gets a per-contract margin instead: `add_spend_margin`.)"""
        if venue is not None:
            self.cash_reserve[venue] = self.cash_reserve.get(venue, _ZERO) + total
        else:
            self.total_reserve += total
        updates = [self._capital_update()]
        for index, amount in sorted((cap or {}).items()):
            self.sets[index].cap_reserve += amount
            updates.append(self._refresh_inventory(self.sets[index]))
        return _merge(updates)

    def clear_reserves(self) -> LPUpdate:
        """Back to the exact continuous LP: every reserve zero."""
        touched = [sm for sm in self.sets if sm.cap_reserve]
        margins = [sm for sm in self.sets if sm.spend_col >= 0 and self._spend_margin[sm.level_cols].any()]
        if not (touched or margins or self.total_reserve or any(self.cash_reserve.values())):
            return LPUpdate()
        self.cash_reserve.clear()
        self.total_reserve = _ZERO
        for sm in touched:
            sm.cap_reserve = _ZERO
        updates = [self._capital_update(), *(self._refresh_inventory(sm) for sm in touched)]
        for sm in margins:
            margin = float(self._spend_margin[sm.level_cols].max())
            updates.append(self.add_spend_margin(sm.index, -margin))
            self._spend_margin[sm.level_cols] = 0.0  # exactly, not up to float cancellation
        return _merge(updates)

    def add_spend_margin(self, set_index: int, usd_per_contract: float) -> LPUpdate:
        """Count `usd_per_contract` more per contract bought in a set's spend C_k (and so in its
        settlement-loss rows, cost cap and profit limits): the reserve for a set whose plan's exact
        fees overshot its settlement-loss limit. Unlike a constant it vanishes when nothing is
        traded, so a zero limit stays feasible. Cleared by `clear_reserves`."""
        sm = self.sets[set_index]
        if sm.spend_col < 0:
            return LPUpdate()
        cols = sm.level_cols
        self._spend_margin[cols] += usd_per_contract
        positions = self._spend_pos[cols]
        values = -(self._unit_cost[cols] + self._spend_margin[cols])
        self.lp.value[positions] = values
        return LPUpdate(
            coef_row=np.full(len(cols), sm.spend_row, dtype=np.int32),
            coef_col=cols.astype(np.int32),
            coef_value=values,
            coef_lazy=np.zeros(len(cols), dtype=bool),
        )

    def set_capital(self, capital: Capital) -> LPUpdate:
        """New cash per venue (and total cap). Every venue with a cash row needs an amount, traded
        by a live set or not: a set added later may trade it (zero is fine)."""
        if not isinstance(capital, Capital):
            raise DataError(f"capital must be a Capital, was {type(capital).__name__}")
        missing = ({i.venue for i in self.instrument_by_id.values()} | set(self.venues)) - set(
            capital.cash_by_venue_usd
        )
        if missing:
            raise DataError(f"no cash given for venues {sorted(missing)}")
        self.capital = capital
        return self._capital_update()

    def _capital_update(self) -> LPUpdate:
        capital = self.capital
        rows = {}
        for venue, row in self._cash_rows.items():
            reserve = self.cash_reserve.get(venue, _ZERO)
            # never below zero: trading nothing must stay feasible even when the reserve exceeds
            # the cash (the exact capital check still guards every plan)
            rows[row] = (-_INF, float(max(capital.cash_by_venue_usd[venue] - reserve, _ZERO)))
        if capital.total_usd is not None:
            if self._total_row < 0:
                self._append_total_row()
            rows[self._total_row] = (-_INF, float(max(capital.total_usd - self.total_reserve, _ZERO)))
        elif self._total_row >= 0:
            rows[self._total_row] = (-_INF, _INF)
        return self._row_update(rows)

    def _append_total_row(self) -> None:
        """sum c x - sum s over everything: only needed once a total cap exists."""
        levels = self.level_cols.tolist()
        sells = [n.column for sm in self.sets for n in sm.netting]
        values = [float(v) for v in self._unit_cost[self.level_cols]] + [-1.0] * len(sells)
        self._total_row = self._append([(levels + sells, values, -_INF, _INF)])
        self._total_pos[self.level_cols] = self.lp.start[self._total_row] + np.arange(len(levels))
        self.lp.param_positions = np.sort(
            np.concatenate([self.lp.param_positions, self._total_pos[self.level_cols]])
        ).astype(np.int32)
        self.lp.lazy_rows = np.append(self.lp.lazy_rows, self._total_row).astype(np.int32)
        self._recompute_reach()

    def _track_reach(self, cols: np.ndarray, delta: np.ndarray) -> None:
        """Keep, per capital row, the most it could ever spend: every level bought in full at the
        highest unit cost any price allows (p + fee <= 1 + a / 4^e + flat per contract). An upper
        bound on the row's activity that only moves when sizes do, valid while rounding tightens
        bounds; backends use it to see that a row cannot bind without reading the solution.
        Recomputed from scratch now and then so float drift never accumulates."""
        self._writes += 1
        if self._writes % 4096 == 0 or not self.lp.row_reach:
            self._recompute_reach()
            return
        by_venue = np.bincount(self._venue_of_col[cols], weights=delta, minlength=len(self.venues))
        reach = self.lp.row_reach
        for venue, row in self._cash_rows.items():
            reach[row] += float(by_venue[self._venue_index[venue]])
        if self._total_row >= 0:
            reach[self._total_row] += float(delta.sum())

    def _recompute_reach(self) -> None:
        spend = self._max_unit[self.level_cols] * self._lots[self.level_cols] * self._lot_f[self.level_cols]
        by_venue = np.bincount(self._venue_of_col[self.level_cols], weights=spend, minlength=len(self.venues))
        reach = {row: float(by_venue[self._venue_index[venue]]) for venue, row in self._cash_rows.items()}
        if self._total_row >= 0:
            reach[self._total_row] = float(spend.sum())
        self.lp.row_reach = reach

    def capital_in_force(self) -> tuple[dict[str, float], float, dict[str, float]]:
        """The capital the LP may commit after reserves: per venue, in total, per capped set."""
        venues = {venue: float(self.lp.row_hi[row]) for venue, row in self._cash_rows.items()}
        caps = {sm.id: float(self.lp.row_hi[sm.cap_row]) for sm in self.sets if sm.cap_row is not None}
        total = float(self.lp.row_hi[self._total_row]) if self._total_row >= 0 else _INF
        return venues, total, caps

    def _row_update(self, rows: Mapping[int, tuple[float, float]]) -> LPUpdate:
        index = np.fromiter(rows.keys(), dtype=np.int32, count=len(rows))
        lo = np.array([b[0] for b in rows.values()])
        hi = np.array([b[1] for b in rows.values()])
        self.lp.row_lo[index] = lo
        self.lp.row_hi[index] = hi
        return LPUpdate(row_index=index, row_lo=lo, row_hi=hi)

    # -- suppressing sets (capital redistribution) ---------------------------------------------------------
    def suppress(self, set_indices: Iterable[int]) -> LPUpdate:
        """Force the named sets to trade nothing (until `restore`)."""
        new = set(set_indices) - self._suppressed
        self._suppressed |= new
        cols = np.concatenate([self.sets[k].level_cols for k in sorted(new)]) if new else np.zeros(0, np.int32)
        self.lp.col_hi[cols] = 0.0
        return LPUpdate(bound_index=cols, bound_lo=np.zeros(len(cols)), bound_hi=np.zeros(len(cols)))

    def restore(self) -> LPUpdate:
        cols = (
            np.concatenate([self.sets[k].level_cols for k in sorted(self._suppressed)])
            if self._suppressed
            else np.zeros(0, np.int32)
        )
        self._suppressed.clear()
        upper = self._book_upper(cols)
        self.lp.col_hi[cols] = upper
        return LPUpdate(bound_index=cols, bound_lo=np.zeros(len(cols)), bound_hi=upper.copy())

    # -- rounding -----------------------------------------------------------------------------------------------
    def bound_levels(self, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> LPUpdate:
        """Temporary bounds on level columns within their book sizes (rounding passes); undone by
        `release`."""
        cols = np.asarray(cols, dtype=np.int32)
        upper = np.minimum(
            np.asarray(upper, dtype=float), self._book_upper(cols)
        )  # not the current, possibly tightened, bound
        lower = np.minimum(np.asarray(lower, dtype=float), upper)
        self.lp.col_lo[cols] = lower
        self.lp.col_hi[cols] = upper
        return LPUpdate(bound_index=cols, bound_lo=lower, bound_hi=upper)

    def release(self, cols: np.ndarray) -> LPUpdate:
        """Give level columns back their book sizes (zero for suppressed sets)."""
        cols = np.asarray(cols, dtype=np.int32)
        upper = self._book_upper(cols)
        self.lp.col_lo[cols] = 0.0
        self.lp.col_hi[cols] = upper
        return LPUpdate(bound_index=cols, bound_lo=np.zeros(len(cols)), bound_hi=upper)

    def _book_upper(self, cols: np.ndarray) -> np.ndarray:
        """Upper bounds the book allows: whole lots per slot (in contracts), zero for suppressed sets."""
        upper = self._lots[cols] * self._lot_f[cols]
        if self._suppressed:
            for k, col in enumerate(cols.tolist()):
                if self.set_of_instrument[self.col_instrument[col].id].index in self._suppressed:
                    upper[k] = 0.0
        return upper

    # -- constraint generation -------------------------------------------------------------------------------
    def add_cuts(self, solution: LPSolution) -> int:
        """Append the violated outcome rows of every constraint-generation set at the LP point;
        returns how many were added."""
        if not self._cg_sets:
            return 0
        x = solution.x
        pending: list[tuple[list[int], list[float], float, float]] = []
        tolerance = self.config.cg_tolerance_usd

        def add(cols: list[int], values: list[float], lo: float, hi: float) -> int:
            pending.append((cols, values, lo, hi))
            return self.lp.num_row + len(pending) - 1

        for sm in self._cg_sets:
            weights, base = x[sm.diff_cols], float(x[sm.base_col])
            value, z = sm.oracle.minimize(weights)
            worst = base + value
            # an outcome already in the working set cannot really be violated: a backend that
            # reports rounded values (CBC prints 8 digits) would otherwise add it forever
            if x[sm.t_col] - worst > tolerance * max(1.0, abs(worst)) and not _known(sm.scenario_z, z):
                self._scenario_row(sm, z, add, err=False)
            if sm.oracle_err is not None:
                value, z = sm.oracle_err.minimize(weights)
                spent = float(x[sm.spend_col])
                bound = float(sm.candidate.limits.settlement_loss_limit_usd) - sm.baseline_err_lp
                excess = spent - (base + value) - bound
                if excess > tolerance * max(1.0, abs(bound)) and not _known(sm.err_z, z):
                    self._scenario_row(sm, z, add, err=True)
                    cols, values, _, _ = pending[-1]
                    pending[-1] = (cols, values, -_INF, bound)
        if pending:
            first = self._append(pending)
            self._cut_rows.update(range(first, first + len(pending)))
        return len(pending)

    def reset_cuts(self) -> None:
        """Drop every row constraint generation added, back to the seed working set: what a solve
        from scratch starts from. Only for backends that rebuild from `lp` at every solve. Rows
        appended after the cuts (later sets, netting rows, the total row) are renumbered, and the
        stored coefficient positions with them."""
        if not self._cut_rows:
            return
        lp = self.lp
        keep = np.ones(lp.num_row, dtype=bool)
        keep[sorted(self._cut_rows)] = False
        new_row = (np.cumsum(keep) - 1).astype(np.int64)
        lengths = np.diff(lp.start)
        entry_keep = np.repeat(keep, lengths)
        new_position = np.cumsum(entry_keep) - 1
        lp.start = np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int32)
        lp.index = lp.index[entry_keep]
        lp.value = lp.value[entry_keep]
        lp.row_lo, lp.row_hi = lp.row_lo[keep], lp.row_hi[keep]
        for name in ("_spend_pos", "_cash_pos", "_total_pos"):  # (their rows are never cuts)
            stored = getattr(self, name)
            held = stored >= 0
            stored[held] = new_position[stored[held]]
        lp.param_positions = new_position[lp.param_positions].astype(np.int32)
        spend = self._spend_row >= 0
        self._spend_row[spend] = new_row[self._spend_row[spend]]
        self._cash_rows = {venue: int(new_row[row]) for venue, row in self._cash_rows.items()}
        if self._total_row >= 0:
            self._total_row = int(new_row[self._total_row])
        lp.lazy_rows = new_row[lp.lazy_rows].astype(np.int32)
        lp.row_reach = {int(new_row[row]): reach for row, reach in lp.row_reach.items()}

        def moved(row: int) -> int:
            return int(new_row[row])

        def moved_opt(row: int | None) -> int | None:
            return None if row is None else int(new_row[row])

        for sm in self.sets:
            for rows_name, z_name in (("scenario_rows", "scenario_z"), ("err_rows", "err_z")):
                rows, zs = getattr(sm, rows_name), getattr(sm, z_name)
                kept = [(moved(r), z) for r, z in zip(rows, zs) if keep[r]]
                setattr(sm, rows_name, [r for r, _ in kept])
                setattr(sm, z_name, [z for _, z in kept])
            for netting in sm.netting:
                if netting.row >= 0:
                    netting.row = moved(netting.row)
            if sm.spend_row >= 0:
                sm.spend_row = moved(sm.spend_row)
            if sm.base_row >= 0:
                sm.base_row = moved(sm.base_row)
            sm.diff_rows = new_row[sm.diff_rows].astype(np.int32)
            if sm.mu_rows is not None:
                sm.mu_rows = new_row[sm.mu_rows].astype(np.int32)
            sm.position_rows = {key: moved(row) for key, row in sm.position_rows.items()}
            sm.cap_row, sm.payout_row = moved_opt(sm.cap_row), moved_opt(sm.payout_row)
            sm.roc_row, sm.t_row = moved_opt(sm.roc_row), moved_opt(sm.t_row)
            if sm.row_end > sm.row_first:  # a set's build rows are never cuts: still one block
                sm.row_first, sm.row_end = moved(sm.row_first), moved(sm.row_end - 1) + 1
            else:
                sm.row_first = sm.row_end = int(np.searchsorted(np.flatnonzero(keep), sm.row_first))
        self._cut_rows.clear()
        self._unsynced_from = None

    # -- reading a solution --------------------------------------------------------------------------------------
    def spent(self, sm: SetModel, x: np.ndarray) -> float:
        """Cash the LP point spends on the set at current prices (linear fees)."""
        cols = sm.level_cols
        return float(np.dot(self._unit_cost[cols], x[cols]))

    def spent_by_venue(self, x: np.ndarray) -> dict[str, float]:
        """Cash the LP point spends per venue at current prices (linear fees), before netting."""
        out = dict.fromkeys(self.venues, 0.0)
        for col, instrument in self.col_instrument.items():
            out[instrument.venue] += float(self._unit_cost[col] * x[col])
        return out

    def lp_profit(self, sm: SetModel, x: np.ndarray) -> float:
        return float(x[sm.t_col]) - self.spent(sm, x) - float(sm.baseline)

    def coherent_prices(
        self, sm: SetModel, solution: LPSolution
    ) -> tuple[np.ndarray | None, list[tuple[np.ndarray, float]]]:
        """(outcome-variable marginals mu, binding outcomes with weights) from the duals."""
        duals = solution.row_dual
        if duals is None:
            return None, []
        if sm.method == "compact":
            assert sm.mu_rows is not None and sm.t_row is not None
            scale = duals[sm.t_row]
            if abs(scale) < 1e-12:
                return None, []
            return np.clip(duals[sm.mu_rows] / scale, 0.0, 1.0), []
        known = [
            (r, z) for r, z in zip(sm.scenario_rows, sm.scenario_z) if r < len(duals)
        ]  # rows cut later had no dual
        weights = np.array([duals[r] for r, _ in known])
        total = weights.sum()
        if abs(total) < 1e-12:
            return None, []
        probabilities = weights / total
        mu = np.zeros(sm.system.n)
        binding = []
        for (_, z), p in zip(known, probabilities):
            if p > 1e-9:
                mu += p * z
                binding.append((z, float(p)))
        binding.sort(key=lambda item: -item[1])
        return np.clip(mu, 0.0, 1.0), binding

    def capital_shadow_prices(self, solution: LPSolution) -> dict[str, float]:
        if solution.row_dual is None:
            return {}
        prices = {venue: max(0.0, -float(solution.row_dual[row])) for venue, row in self._cash_rows.items()}
        prices["total"] = max(0.0, -float(solution.row_dual[self._total_row])) if self._total_row >= 0 else 0.0
        return prices


@functools.lru_cache(maxsize=256)
def unit_cost_table(fee: FeeRule, lot: Decimal, tick: Decimal) -> np.ndarray:
    """Cost per contract (price + fee) at every price on the tick grid, index = price / tick: the
    LP's coefficient. Exact up to float conversion and linear in quantity at a fixed price: where the
    venue rounds each fill up (Kalshi, to $0.0001), it is the fee of a one-lot fill after that
    rounding, divided by the lot - the worst way a level can fill (`FeeRule.worst_order_fee`); where
    it rounds fills down (Polymarket), the unrounded rate, which is never below the exact fee. Only
    the per-order rounding (Kalshi: up to the cent) is left to the exact check of each plan."""
    steps = int(PRICE_SCALE // int(tick * PRICE_SCALE))
    table = np.ones(steps + 1)  # price 0 and 1 never trade
    curve_rate = fee.coefficient * fee.multiplier
    for k in range(1, steps):
        price = tick * k
        linear = curve_rate * (price * (1 - price)) ** fee.exponent + fee.flat_per_contract_usd
        if fee.fill_increment_usd is not None and fee.fill_rounding is not Rounding.DOWN:
            linear = max(linear, fee.fill_fee(price, lot) / lot)
        table[k] = float(price + linear)
    table.setflags(write=False)
    return table


def tie_break_weights(instrument_ids: Sequence[str], usd_per_contract: float) -> np.ndarray:
    """The tie-breaking cost per contract of each level column: `usd_per_contract` x (1 + a fixed
    fraction in [0, 1) from a CRC-32 of the instrument id). A pure function of the ids, so every
    model built from the same problem (warm or fresh, in any process) orders ties the same way."""
    jitter = np.array([zlib.crc32(i.encode()) % 4096 for i in instrument_ids], dtype=float) / 4096.0
    return usd_per_contract * (1.0 + jitter)


def _known(outcomes: Sequence[np.ndarray], z: np.ndarray) -> bool:
    return any(np.array_equal(known, z) for known in outcomes)


def _merge(updates: Sequence[LPUpdate]) -> LPUpdate:
    if not updates:
        return LPUpdate()
    if len(updates) == 1:
        return updates[0]

    def cat(name: str, dtype: type) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(u, name), dtype=dtype) for u in updates])

    return LPUpdate(
        cost_index=cat("cost_index", np.int32),
        cost_value=cat("cost_value", float),
        bound_index=cat("bound_index", np.int32),
        bound_lo=cat("bound_lo", float),
        bound_hi=cat("bound_hi", float),
        coef_row=cat("coef_row", np.int32),
        coef_col=cat("coef_col", np.int32),
        coef_value=cat("coef_value", float),
        coef_lazy=cat("coef_lazy", bool),
        row_index=cat("row_index", np.int32),
        row_lo=cat("row_lo", float),
        row_hi=cat("row_hi", float),
    )
