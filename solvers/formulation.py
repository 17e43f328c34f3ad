"""The worst-case-profit LP over every candidate set (optimization.md 2.2-2.4), with fixed level slots.

Columns, per candidate set k:
  x[l, j]   lots bought at ask slot j of instrument l (0 <= x <= size // lot; 0 for an empty slot)
  T_k       guaranteed payoff of the set's holdings over its outcomes (free)
  C_kv      cash spent on venue v, fees included (free), defined by C_kv - sum c x = 0 where
            c = (price + linear fee) x lot of each slot: the only price-dependent coefficients
  P_u, F_u  holdings that pay if outcome variable u is true / false (free, defined by rows)
  s         held contracts sold back: buying the complement of a held contract from the same pool and
            netting the pair releases $1 (the sale at the bid; see problem.py); 0 <= s <= held
  duals     lambda / kappa / nu of the compact dual, when that method is used

Objective: maximise sum_k (T_k - sum_v C_kv). The guaranteed profit of set k is T_k - C_k - V0_k,
V0_k = min_z payoff of the inventory alone (0 without inventory). A book tick is one coefficient
change per moved level and no objective change. (Measured alternative: slot costs in the objective
and capital rows refreshed only when they bind was not faster on HiGHS; see the closing notes.)

Outcome rows (per set, by method):
  enumerate / cg   T_k <= sum_u z_u P_u + (1 - z_u) F_u       for each z in Z (cg: a working set)
  compact          the LP dual of min over the relaxation of Z (exact when it is integral)
Settlement risk (risky links): for z in Z_err the value may fall at most L_k below its current worst:
  C_k - payoff(z) <= L_k - B_k,  B_k = min over Z_err of the inventory's payoff.

Capital rows: per venue and in total, sum C - sum s <= cash - reserve, where the reserve covers the
most that per-fill and per-order fee rounding can add over the linear fee (so the exact check of a
rounded plan never exceeds cash). Optional per-set cost caps, per-contract position limits and a
minimum profit per contract bought.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np

from solvers.errors import DataError
from solvers.lp import LinearProgram, LPSolution, LPUpdate, RowBlock
from solvers.outcomes import OutcomeSystem
from solvers.problem import (
    AllocationProblem,
    AllocatorConfig,
    CandidateSet,
    Capital,
    Instrument,
    PRICE_SCALE,
    Level,
    Side,
    check_ladder,
    check_level,
    check_money,
)
from solvers.separation import OutcomeOracle

__all__ = ["Formulation", "Netting", "RoundingStep", "SetModel"]

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
    cost_cols: dict[str, int] = field(default_factory=dict)  # C_kv per venue
    cost_rows: dict[str, int] = field(default_factory=dict)
    pay_true_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    pay_false_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    pay_true_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    pay_false_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    netting: list[Netting] = field(default_factory=list)
    position_rows: dict[tuple[str, Side], int] = field(default_factory=dict)
    cap_row: int | None = None
    per_contract_row: int | None = None
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

    @property
    def id(self) -> str:
        return self.candidate.id

    def pays_if_true(self, instrument: Instrument) -> bool:
        _, parity = self.system.literal[instrument.contract]
        return (instrument.side is Side.YES) != bool(parity)


@dataclass(frozen=True, slots=True)
class RoundingStep:
    """Alternative (lower, upper) bounds on the level columns for one rounding pass."""

    cols: np.ndarray
    options: list[tuple[np.ndarray, np.ndarray]]


class _Rows:
    """Accumulates rows as (cols, values, lo, hi)."""

    def __init__(self) -> None:
        self.rows: list[tuple[np.ndarray, np.ndarray, float, float]] = []

    def add(self, cols: Sequence[int], values: Sequence[float], lo: float, hi: float) -> int:
        self.rows.append((np.asarray(cols, dtype=np.int32), np.asarray(values, dtype=float), lo, hi))
        return len(self.rows) - 1


class Formulation:
    """Builds the LP once and turns every later change into an in-place `LPUpdate`."""

    def __init__(self, problem: AllocationProblem, config: AllocatorConfig) -> None:
        self.config = config
        self.capital: Capital = problem.capital
        self.inventory: dict[str, Decimal] = dict(problem.inventory)
        self.venues = tuple(sorted(problem.capital.cash_by_venue_usd))
        self.instrument_by_id: dict[str, Instrument] = {}
        self.set_of_instrument: dict[str, SetModel] = {}
        self._costs: list[float] = []
        self._col_lo: list[float] = []
        self._col_hi: list[float] = []
        self.sets: list[SetModel] = [self._set_model(k, s) for k, s in enumerate(problem.sets)]
        self._suppressed: set[int] = set()
        self._unsynced_from: int | None = None
        self._build()
        self._unsynced_from = None  # the backend loads the LP as built

    # -- construction ----------------------------------------------------------------------------
    def _col(self, lo: float, hi: float, cost: float = 0.0) -> int:
        self._costs.append(cost)
        self._col_lo.append(lo)
        self._col_hi.append(hi)
        return len(self._costs) - 1

    def _set_model(self, index: int, candidate: CandidateSet) -> SetModel:
        contracts = [c.id for c in candidate.contracts]
        system = OutcomeSystem(contracts, candidate.relations, with_risky_links=True)
        system_err = None
        if system.has_risky_links:
            system_err = OutcomeSystem(contracts, candidate.relations, with_risky_links=False)
        method, outcomes = self._choose_method(candidate, system, system_err)
        limit = self.config.cg_oracle_enumeration_limit if method == "cg" else 0
        oracle = OutcomeOracle(system, enumeration_limit=limit)
        model = SetModel(
            index=index,
            candidate=candidate,
            system=system,
            system_err=system_err,
            oracle=oracle,
            oracle_err=OutcomeOracle(system_err, enumeration_limit=limit) if system_err is not None else None,
            method=method,
            instruments=candidate.instruments,
            slot_cols={},
            outcomes=outcomes,
        )
        for instrument in candidate.instruments:
            self.instrument_by_id[instrument.id] = instrument
            self.set_of_instrument[instrument.id] = model
        return model

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

    def _build(self) -> None:
        rows = _Rows()
        slots = self.config.slots_per_side
        level_cols: list[int] = []
        instrument_of_col: dict[int, Instrument] = {}
        for sm in self.sets:
            for instrument in sm.instruments:
                cols = np.array([self._col(0.0, 0.0) for _ in range(slots)], dtype=np.int32)
                sm.slot_cols[instrument.id] = cols
                level_cols.extend(cols.tolist())
                for col in cols.tolist():
                    instrument_of_col[col] = instrument
            sm.level_cols = np.concatenate(list(sm.slot_cols.values())) if sm.slot_cols else np.zeros(0, np.int32)
            sm.t_col = self._col(-_INF, _INF, cost=-1.0)
            for venue in sorted({i.venue for i in sm.instruments}):
                sm.cost_cols[venue] = self._col(-_INF, _INF, cost=1.0)
            n = sm.system.n
            sm.pay_true_cols = np.array([self._col(-_INF, _INF) for _ in range(n)], dtype=np.int32)
            sm.pay_false_cols = np.array([self._col(-_INF, _INF) for _ in range(n)], dtype=np.int32)
            by_listing = {(i.venue, i.contract, i.side): i for i in sm.instruments}
            for (venue, contract, side), held in by_listing.items():
                other = by_listing.get((venue, contract, Side.NO if side is Side.YES else Side.YES))
                if other is not None:
                    sm.netting.append(Netting(held, other, self._col(0.0, 0.0)))
        self.level_cols = np.array(level_cols, dtype=np.int32)

        cost_slot: dict[int, tuple[int, int]] = {}  # level column -> (its cost row, index in the row)
        for sm in self.sets:
            self._rows_of_set(sm, rows, cost_slot)
        self._cash_rows: dict[str, int] = {}
        for venue in self.venues:
            spend = [sm.cost_cols[venue] for sm in self.sets if venue in sm.cost_cols]
            sells = [n.column for sm in self.sets for n in sm.netting if n.held.venue == venue]
            self._cash_rows[venue] = rows.add(spend + sells, [1.0] * len(spend) + [-1.0] * len(sells), -_INF, 0.0)
        spend = [c for sm in self.sets for c in sm.cost_cols.values()]
        sells = [n.column for sm in self.sets for n in sm.netting]
        self._total_row = rows.add(spend + sells, [1.0] * len(spend) + [-1.0] * len(sells), -_INF, _INF)

        # assemble CSR
        block = RowBlock.from_rows(rows.rows)
        n = len(self._costs)
        self.lp = LinearProgram(
            cost=np.array(self._costs),
            col_lo=np.array(self._col_lo),
            col_hi=np.array(self._col_hi),
            row_lo=block.lo,
            row_hi=block.hi,
            start=block.start,
            index=block.index,
            value=block.value,
        )
        # level metadata, indexed by column
        self._cost_row = np.full(n, -1, dtype=np.int32)
        self._cost_pos = np.full(n, -1, dtype=np.int32)
        for col, (row, k) in cost_slot.items():
            self._cost_row[col] = row
            self._cost_pos[col] = block.start[row] + k
        self.lp.param_positions = np.sort(self._cost_pos[self.level_cols]).astype(np.int32)
        self._is_level = np.zeros(n, dtype=bool)
        self._is_level[self.level_cols] = True
        self._lot_f = np.ones(n)
        self._tick_u = np.ones(n, dtype=np.int64)
        self._fee_coef = np.zeros(n)
        self._fee_exp = np.ones(n)
        self._fee_flat = np.zeros(n)
        self._unit_cost = np.zeros(n)  # current (price + linear fee) x lot per level column
        self.col_instrument: dict[int, Instrument] = instrument_of_col
        self.col_slot = {}
        for col, instrument in instrument_of_col.items():
            self._lot_f[col] = float(instrument.lot_size)
            self._tick_u[col] = int(instrument.tick_size * PRICE_SCALE)
            self._fee_coef[col] = float(instrument.fee.coefficient * instrument.fee.multiplier)
            self._fee_exp[col] = instrument.fee.exponent
            self._fee_flat[col] = float(instrument.fee.flat_per_contract_usd)
        # level data as exact scaled integers: price in micro-dollars (-1 = empty slot), size in lots
        self._price_u = np.full(n, -1, dtype=np.int64)
        self._lots = np.zeros(n, dtype=np.int64)
        for sm in self.sets:
            for instrument in sm.instruments:
                cols = sm.slot_cols[instrument.id]
                for j, col in enumerate(cols.tolist()):
                    self.col_slot[col] = j
                self._write_levels(cols, *self._scaled_ladder(instrument, instrument.asks))
        # inventory- and capital-dependent bounds
        self.set_capital(self.capital)
        for sm in self.sets:
            self._refresh_inventory(sm)
        self.lp.validate()

    def _rows_of_set(self, sm: SetModel, rows: _Rows, cost_slot: dict[int, tuple[int, int]]) -> None:
        limits = sm.candidate.limits
        # cost definition per venue: C_kv - sum (price + fee) * lot * x = 0
        for venue, c_col in sm.cost_cols.items():
            cols, values = [c_col], [1.0]
            for instrument in sm.instruments:
                if instrument.venue == venue:
                    for col in sm.slot_cols[instrument.id].tolist():
                        cols.append(col)
                        values.append(-1.0)  # rewritten from the slot's price
            row = rows.add(cols, values, 0.0, 0.0)
            sm.cost_rows[venue] = row
            for k, col in enumerate(cols[1:], start=1):
                cost_slot[col] = (row, k)
        # payoff definition: P_u - sum lot * x(pays if true) = held; same for F_u
        true_rows, false_rows = [], []
        for u in range(sm.system.n):
            for target, sink in ((True, true_rows), (False, false_rows)):
                aux = (sm.pay_true_cols if target else sm.pay_false_cols)[u]
                cols, values = [aux], [1.0]
                for instrument in sm.instruments:
                    var, _ = sm.system.literal[instrument.contract]
                    if var == u and sm.pays_if_true(instrument) == target:
                        lot = float(instrument.lot_size)
                        for col in sm.slot_cols[instrument.id].tolist():
                            cols.append(col)
                            values.append(-lot)
                sink.append(rows.add(cols, values, 0.0, 0.0))
        sm.pay_true_rows = np.array(true_rows, dtype=np.int32)
        sm.pay_false_rows = np.array(false_rows, dtype=np.int32)
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
                        values += [float(instrument.lot_size)] * len(sm.slot_cols[instrument.id])
                if cols:
                    sm.position_rows[(contract.id, side)] = rows.add(cols, values, -_INF, 0.0)
        sells = [netting.column for netting in sm.netting]
        costs = list(sm.cost_cols.values())
        if limits.max_cost_usd is not None:
            sm.cap_row = rows.add(costs + sells, [1.0] * len(costs) + [-1.0] * len(sells), -_INF, 0.0)
        if limits.min_profit_per_contract_usd > 0:  # T - C - rho x contracts bought >= V0
            rho = float(limits.min_profit_per_contract_usd)
            cols, values = [sm.t_col, *costs], [1.0] + [-1.0] * len(costs)
            for instrument in sm.instruments:
                lot = float(instrument.lot_size)
                cols += sm.slot_cols[instrument.id].tolist()
                values += [-rho * lot] * len(sm.slot_cols[instrument.id])
            sm.per_contract_row = rows.add(cols, values, 0.0, _INF)
        self._outcome_rows(sm, rows, err=False)
        if sm.system_err is not None:
            self._outcome_rows(sm, rows, err=True)

    def _netting_row(self, sm: SetModel, netting: Netting) -> tuple[list[int], list[float], float, float]:
        """sold - lot x complement bought <= 0."""
        slots = sm.slot_cols[netting.other.id].tolist()
        return [netting.column, *slots], [1.0] + [-float(netting.other.lot_size)] * len(slots), -_INF, 0.0

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
        else:
            oracle = sm.oracle_err if err else sm.oracle
            assert oracle is not None
            vertices = oracle.seed_vertices()
        for z in vertices:
            self._scenario_row(sm, z, rows.add, err=err)

    def _scenario_row(self, sm: SetModel, z: np.ndarray, add, *, err: bool) -> int:
        z = np.asarray(z, dtype=np.uint8)
        pay = np.where(z == 1, sm.pay_true_cols, sm.pay_false_cols)
        if err:
            costs = list(sm.cost_cols.values())
            row = add([*costs, *pay.tolist()], [1.0] * len(costs) + [-1.0] * len(pay), -_INF, 0.0)  # bound set by _refresh_inventory
            sm.err_rows.append(row)
            sm.err_z.append(z)
        else:
            row = add([sm.t_col, *pay.tolist()], [1.0] + [-1.0] * len(pay), -_INF, 0.0)
            sm.scenario_rows.append(row)
            sm.scenario_z.append(z)
        return row

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
            cols = per_var[u][0] + [nu[u], int(sm.pay_true_cols[u]), int(sm.pay_false_cols[u])]
            values = per_var[u][1] + [-1.0, -1.0, 1.0]
            mu_rows.append(rows.add(cols, values, -_INF, 0.0))
        cols = bound_cols + nu + sm.pay_false_cols.tolist()
        values = bound_values + [1.0] * n + [-1.0] * n
        if err:
            costs = list(sm.cost_cols.values())
            sm.err_rows.append(rows.add(costs + cols, [1.0] * len(costs) + values, -_INF, 0.0))
        else:
            sm.t_row = rows.add([sm.t_col, *cols], [1.0, *values], -_INF, 0.0)
            sm.mu_rows = np.array(mu_rows, dtype=np.int32)

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

    def scale_levels(self, cols: Sequence[int] | np.ndarray, prices: Sequence[Decimal], sizes: Sequence[Decimal]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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

    def update_levels(self, cols: Sequence[int] | np.ndarray, prices: Sequence[Decimal], sizes: Sequence[Decimal]) -> LPUpdate:
        """New (price, size) for individual slots, as Decimals (exact; converted per level)."""
        return self._write_levels(*self.scale_levels(cols, prices, sizes))

    def update_levels_scaled(self, cols: Sequence[int] | np.ndarray, price_micros: np.ndarray, size_lots: np.ndarray) -> LPUpdate:
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
        bad = (price_u <= 0) | (price_u >= PRICE_SCALE) | (price_u % self._tick_u[cols] != 0) | (lots < 0)
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
        if len(cols) and (cols.min() < 0 or cols.max() >= len(self._is_level) or not self._is_level[cols].all()):
            raise DataError("update_levels: a handle is not a level slot column")
        return cols

    def _write_levels(self, cols: np.ndarray, price_u: np.ndarray, lots: np.ndarray) -> LPUpdate:
        self._price_u[cols] = price_u
        self._lots[cols] = lots
        price_f = np.where(price_u > 0, price_u * (1.0 / PRICE_SCALE), 1.0)  # empty slots: any price, no size
        curve = (price_f * (1.0 - price_f)) ** self._fee_exp[cols]
        unit = (price_f + self._fee_coef[cols] * curve + self._fee_flat[cols]) * self._lot_f[cols]
        self._unit_cost[cols] = unit
        positions = self._cost_pos[cols]
        self.lp.value[positions] = -unit
        upper = self._book_upper(cols)
        moved = upper != self.lp.col_hi[cols]  # a price-only tick changes no bound
        self.lp.col_hi[cols] = upper
        return LPUpdate(
            bound_index=cols[moved],
            bound_lo=np.zeros(int(moved.sum())),
            bound_hi=upper[moved],
            coef_row=self._cost_row[cols],
            coef_col=cols,
            coef_position=positions,
            coef_value=-unit,
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

    def held(self, instrument_id: str) -> Decimal:
        return self.inventory.get(instrument_id, _ZERO)

    def inventory_payoffs(self, sm: SetModel, holdings: Mapping[str, Decimal] | None = None) -> tuple[list[Decimal], list[Decimal]]:
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

    def worst_case(self, sm: SetModel, true: Sequence[Decimal], false: Sequence[Decimal], *, err: bool = False) -> tuple[Decimal, tuple[int, ...]]:
        """Exact min over outcomes of sum_u z_u true_u + (1 - z_u) false_u (one exact MIP call)."""
        oracle = sm.oracle_err if err else sm.oracle
        assert oracle is not None
        value, z = oracle.minimize_exact([t - f for t, f in zip(true, false)])
        return sum(false, _ZERO) + value, z

    def _refresh_inventory(self, sm: SetModel) -> LPUpdate:
        true, false = self.inventory_payoffs(sm)
        sm.baseline, _ = self.worst_case(sm, true, false)
        sm.baseline_lp = self._certified(sm, true, false, sm.baseline, err=False)
        if sm.system_err is not None:
            sm.baseline_err, _ = self.worst_case(sm, true, false, err=True)
            sm.baseline_err_lp = self._certified(sm, true, false, sm.baseline_err, err=True)
        rows: dict[int, tuple[float, float]] = {}
        for u in range(sm.system.n):
            rows[int(sm.pay_true_rows[u])] = (float(true[u]), float(true[u]))
            rows[int(sm.pay_false_rows[u])] = (float(false[u]), float(false[u]))
        loss_bound = float(sm.candidate.limits.settlement_loss_limit_usd) - sm.baseline_err_lp
        for row in sm.err_rows:
            rows[row] = (-_INF, loss_bound)
        if sm.per_contract_row is not None:
            rows[sm.per_contract_row] = (sm.baseline_lp, _INF)
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
            reserve = self._reserve(sm.instruments)
            cap = float(sm.candidate.limits.max_cost_usd - reserve)
            update = _merge([update, self._row_update({sm.cap_row: (-_INF, cap)})])
        return update

    def _certified(self, sm: SetModel, true: Sequence[Decimal], false: Sequence[Decimal], exact: Decimal, *, err: bool) -> float:
        """The minimum payoff as the set's LP rows certify it: the relaxation's for the compact dual
        (it can be below the exact minimum when the relaxation is not integral), else the exact one."""
        if sm.method != "compact":
            return float(exact)
        oracle = sm.oracle_err if err else sm.oracle
        assert oracle is not None
        weights = np.array([float(t - f) for t, f in zip(true, false)])
        return min(float(exact), float(sum(false, _ZERO)) + oracle.minimize_relaxed(weights))

    def _reserve(self, instruments: Iterable[Instrument]) -> Decimal:
        """Capital held back so a rounded plan's exact cost never exceeds what the LP allowed: fee
        rounding (a buy and a sell order per instrument, one rounding per fill and per order), and
        one lot per held instrument whose sale can round down a lot below the LP's netting credit."""
        slots = self.config.slots_per_side
        total = _ZERO
        for instrument in instruments:
            fee = instrument.fee
            total += 2 * (slots * (fee.fill_increment_usd or _ZERO) + (fee.order_increment_usd or _ZERO))
            if self.held(instrument.id):
                total += instrument.lot_size
        return total

    def set_capital(self, capital: Capital) -> LPUpdate:
        missing = {i.venue for i in self.instrument_by_id.values()} - set(capital.cash_by_venue_usd)
        if missing:
            raise DataError(f"no cash given for venues {sorted(missing)}")
        self.capital = capital
        return self._capital_update()

    def _capital_update(self) -> LPUpdate:
        capital = self.capital
        rows = {}
        instruments = list(self.instrument_by_id.values())
        for venue, row in self._cash_rows.items():
            reserve = self._reserve(i for i in instruments if i.venue == venue)
            rows[row] = (-_INF, float(capital.cash_by_venue_usd[venue] - reserve))
        if capital.total_usd is not None:
            rows[self._total_row] = (-_INF, float(capital.total_usd - self._reserve(instruments)))
        else:
            rows[self._total_row] = (-_INF, _INF)
        return self._row_update(rows)

    def capital_in_force(self) -> tuple[dict[str, float], float, dict[str, float]]:
        """The capital the LP may commit after reserves: per venue, in total, per capped set."""
        venues = {venue: float(self.lp.row_hi[row]) for venue, row in self._cash_rows.items()}
        caps = {sm.id: float(self.lp.row_hi[sm.cap_row]) for sm in self.sets if sm.cap_row is not None}
        return venues, float(self.lp.row_hi[self._total_row]), caps

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
        cols = np.concatenate([self.sets[k].level_cols for k in sorted(self._suppressed)]) if self._suppressed else np.zeros(0, np.int32)
        self._suppressed.clear()
        upper = self._book_upper(cols)
        self.lp.col_hi[cols] = upper
        return LPUpdate(bound_index=cols, bound_lo=np.zeros(len(cols)), bound_hi=upper.copy())

    # -- rounding -----------------------------------------------------------------------------------------------
    def bound_levels(self, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> LPUpdate:
        """Temporary bounds on level columns within their book sizes (rounding passes); undone by
        `release`."""
        cols = np.asarray(cols, dtype=np.int32)
        upper = np.minimum(np.asarray(upper, dtype=float), self._book_upper(cols))  # not the current, possibly tightened, bound
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
        """Upper bounds the book allows: whole lots per slot, zero for suppressed sets."""
        upper = self._lots[cols].astype(float)
        if self._suppressed:
            for k, col in enumerate(cols.tolist()):
                if self.set_of_instrument[self.col_instrument[col].id].index in self._suppressed:
                    upper[k] = 0.0
        return upper

    def rounding_targets(self, x: np.ndarray) -> RoundingStep | None:
        """Bounds for the next rounding pass, or None when `x` is already whole lots with no order
        under a venue minimum. Every level slot is frozen at the floor of its quantity (so the
        re-solve can only shrink orders and re-balance hedges, never chase a fraction into the next
        slot). An instrument whose whole order is under its minimum gets two alternatives: zero,
        or raised to the minimum on its best levels; the caller keeps the better."""
        cols = self.level_cols
        values = np.maximum(x[cols], 0.0)
        upper = np.floor(values + 1e-7 * np.maximum(1.0, values))
        done = not np.any(values - upper > 1e-7)
        position = {int(c): k for k, c in enumerate(cols.tolist())}
        zero = upper.copy()
        raise_lo = np.zeros(len(cols))
        raise_hi = upper.copy()
        short = False
        for sm in self.sets:
            for instrument in sm.instruments:
                if instrument.min_order_size <= 0:
                    continue
                slots = sm.slot_cols[instrument.id]
                total = float(x[slots].sum()) * float(instrument.lot_size)
                if not 1e-9 < total < float(instrument.min_order_size) - 1e-9:
                    continue
                short, done = True, False
                needed = int((instrument.min_order_size / instrument.lot_size).to_integral_value(rounding=ROUND_CEILING))
                order = sorted(slots.tolist(), key=lambda c: int(self._price_u[c]))  # best first
                for col in order:
                    k = position[col]
                    zero[k] = 0.0
                    take = min(int(self._lots[col]), needed)
                    raise_lo[k] = raise_hi[k] = float(take)
                    needed -= take
                if needed > 0:  # the book cannot fill the minimum: zero is the only option
                    for col in order:
                        raise_lo[position[col]] = raise_hi[position[col]] = 0.0
        if done:
            return None
        options = [(np.zeros(len(cols)), zero)]
        if short:
            options.append((raise_lo, raise_hi))
        return RoundingStep(cols, options)

    # -- constraint generation -------------------------------------------------------------------------------
    def add_cuts(self, x: np.ndarray) -> int:
        """Append the violated outcome rows of every constraint-generation set at LP point `x`;
        returns how many were added."""
        pending: list[tuple[list[int], list[float], float, float]] = []
        tolerance = self.config.cg_tolerance_usd

        def add(cols: list[int], values: list[float], lo: float, hi: float) -> int:
            pending.append((cols, values, lo, hi))
            return self.lp.num_row + len(pending) - 1

        for sm in self.sets:
            if sm.method != "cg":
                continue
            true, false = x[sm.pay_true_cols], x[sm.pay_false_cols]
            weights = true - false
            value, z = sm.oracle.minimize(weights)
            worst = float(false.sum()) + value
            if x[sm.t_col] - worst > tolerance * max(1.0, abs(worst)):
                self._scenario_row(sm, z, add, err=False)
            if sm.oracle_err is not None:
                value, z = sm.oracle_err.minimize(weights)
                spent = float(sum(x[c] for c in sm.cost_cols.values()))
                bound = float(sm.candidate.limits.settlement_loss_limit_usd) - sm.baseline_err_lp
                excess = spent - (float(false.sum()) + value) - bound
                if excess > tolerance * max(1.0, abs(bound)):
                    self._scenario_row(sm, z, add, err=True)
                    cols, values, _, _ = pending[-1]
                    pending[-1] = (cols, values, -_INF, bound)
        if pending:
            self._append(pending)
        return len(pending)

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

    def coherent_prices(self, sm: SetModel, solution: LPSolution) -> tuple[np.ndarray | None, list[tuple[np.ndarray, float]]]:
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
        known = [(r, z) for r, z in zip(sm.scenario_rows, sm.scenario_z) if r < len(duals)]  # rows cut later had no dual
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
        prices["total"] = max(0.0, -float(solution.row_dual[self._total_row]))
        return prices


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
        coef_position=cat("coef_position", np.int32),
        coef_value=cat("coef_value", float),
        row_index=cat("row_index", np.int32),
        row_lo=cat("row_lo", float),
        row_hi=cat("row_hi", float),
    )
