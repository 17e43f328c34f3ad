"""The worst-case-profit LP over every candidate set (optimization.md 2.2-2.4), with fixed level slots.

Columns, per candidate set k:
  x[l, j]   lots bought at ask slot j of instrument l (0 <= x <= size // lot; 0 for an empty slot)
  T_k       guaranteed payoff of the set's holdings over its outcomes (free)
  C_kv      cash spent on venue v, fees included (free; defined by one row whose coefficients are the
            slot prices: the only price-dependent coefficients in the model)
  P_u, F_u  holdings that pay if outcome variable u is true / false (free, defined by rows)
  s         held contracts sold back: buying the complement of a held contract from the same pool and
            netting the pair releases $1 (the sale at the bid; see problem.py); 0 <= s <= held
  duals     lambda / kappa / nu of the compact dual, when that method is used

Objective: maximise sum_k (T_k - sum_v C_kv). The guaranteed profit of set k is T_k - C_k - V0_k,
V0_k = min_z payoff of the inventory alone (0 without inventory).

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
from decimal import ROUND_FLOOR, Decimal

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
    Level,
    Side,
    check_ladder,
    check_level,
    check_money,
)
from solvers.separation import OutcomeOracle

__all__ = ["Formulation", "SetModel"]

_INF = math.inf
_ZERO = Decimal(0)
_ENUMERATION_HARD_LIMIT = 100_000


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
    cost_cols: dict[str, int] = field(default_factory=dict)
    cost_rows: dict[str, int] = field(default_factory=dict)
    pay_true_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    pay_false_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    pay_true_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    pay_false_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    # netting: (held instrument, complement instrument, sell column, row)
    netting: list[tuple[Instrument, Instrument, int, int]] = field(default_factory=list)
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
    baseline: Decimal = _ZERO  # V0: guaranteed payoff of the inventory alone
    baseline_err: Decimal = _ZERO  # B: same over the settlement-risk outcomes

    @property
    def id(self) -> str:
        return self.candidate.id

    def pays_if_true(self, instrument: Instrument) -> bool:
        _, parity = self.system.literal[instrument.contract]
        return (instrument.side is Side.YES) != bool(parity)


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
        self._build()

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
        oracle = OutcomeOracle(system)
        model = SetModel(
            index=index,
            candidate=candidate,
            system=system,
            system_err=system_err,
            oracle=oracle,
            oracle_err=OutcomeOracle(system_err) if system_err is not None else None,
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
        config = self.config
        slots = config.slots_per_side
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
                    sm.netting.append((held, other, self._col(0.0, 0.0), -1))

        self.level_cols = np.array(level_cols, dtype=np.int32)
        cost_row_of: dict[int, int] = {}
        cost_slot_of: dict[int, int] = {}
        for sm in self.sets:
            self._rows_of_set(sm, rows, cost_row_of, cost_slot_of)
        self._cash_rows: dict[str, int] = {}
        for venue in self.venues:
            cols, values = [], []
            for sm in self.sets:
                if venue in sm.cost_cols:
                    cols.append(sm.cost_cols[venue])
                    values.append(1.0)
                for held, _, sell_col, _ in sm.netting:
                    if held.venue == venue:
                        cols.append(sell_col)
                        values.append(-1.0)
            self._cash_rows[venue] = rows.add(cols, values, -_INF, 0.0)
        cols, values = [], []
        for sm in self.sets:
            for venue in sm.cost_cols:
                cols.append(sm.cost_cols[venue])
                values.append(1.0)
            for _, _, sell_col, _ in sm.netting:
                cols.append(sell_col)
                values.append(-1.0)
        self._total_row = rows.add(cols, values, -_INF, _INF)

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
        self._is_level = np.zeros(n, dtype=bool)
        self._is_level[self.level_cols] = True
        self._lot_f = np.ones(n)
        self._fee_coef = np.zeros(n)
        self._fee_exp = np.ones(n)
        self._fee_flat = np.zeros(n)
        self._cost_row = np.full(n, -1, dtype=np.int32)
        self._cost_pos = np.full(n, -1, dtype=np.int32)
        self.col_instrument: dict[int, Instrument] = instrument_of_col
        self.col_slot = {}
        for col, instrument in instrument_of_col.items():
            self._lot_f[col] = float(instrument.lot_size)
            self._fee_coef[col] = float(instrument.fee.coefficient * instrument.fee.multiplier)
            self._fee_exp[col] = instrument.fee.exponent
            self._fee_flat[col] = float(instrument.fee.flat_per_contract_usd)
            row = cost_row_of[col]
            self._cost_row[col] = row
            self._cost_pos[col] = block.start[row] + cost_slot_of[col]
        self.lp.param_positions = np.sort(self._cost_pos[self.level_cols]).astype(np.int32)
        self.price: list[Decimal | None] = [None] * n
        self.size: list[Decimal] = [_ZERO] * n
        self._size_lots = np.zeros(n)
        for sm in self.sets:
            for instrument in sm.instruments:
                cols = sm.slot_cols[instrument.id]
                for j, col in enumerate(cols.tolist()):
                    self.col_slot[col] = j
                self._write_levels(cols, *self._ladder(instrument, instrument.asks))
        # inventory- and capital-dependent bounds
        self.set_capital(self.capital)
        for sm in self.sets:
            self._refresh_inventory(sm)
        self.lp.validate()

    def _rows_of_set(self, sm: SetModel, rows: _Rows, cost_row_of: dict[int, int], cost_slot_of: dict[int, int]) -> None:
        limits = sm.candidate.limits
        # cost definition per venue: C_kv - sum (price + fee) * lot * x = 0
        for venue, c_col in sm.cost_cols.items():
            cols, values = [c_col], [1.0]
            for instrument in sm.instruments:
                if instrument.venue != venue:
                    continue
                for col in sm.slot_cols[instrument.id].tolist():
                    cost_slot_of[col] = len(cols)
                    cols.append(col)
                    values.append(-1.0)  # rewritten from the slot's price
            row = rows.add(cols, values, 0.0, 0.0)
            sm.cost_rows[venue] = row
            for col in cols[1:]:
                cost_row_of[col] = row
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
        # netting: sold <= complement bought
        for k, (held, other, sell_col, _) in enumerate(sm.netting):
            lot = float(other.lot_size)
            cols = [sell_col, *sm.slot_cols[other.id].tolist()]
            values = [1.0] + [-lot] * len(sm.slot_cols[other.id])
            sm.netting[k] = (held, other, sell_col, rows.add(cols, values, -_INF, 0.0))
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
        sells = [sell_col for _, _, sell_col, _ in sm.netting]
        costs = list(sm.cost_cols.values())
        if limits.max_cost_usd is not None:
            sm.cap_row = rows.add(costs + sells, [1.0] * len(costs) + [-1.0] * len(sells), -_INF, 0.0)
        if limits.min_profit_per_contract_usd > 0:
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
            cols = [*costs, *pay.tolist()]
            values = [1.0] * len(costs) + [-1.0] * len(pay)
            row = add(cols, values, -_INF, 0.0)  # bound set by _refresh_inventory
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
    def _ladder(self, instrument: Instrument, levels: Iterable[Level]) -> tuple[list[Decimal | None], list[Decimal]]:
        ordered = sorted(levels, key=lambda lv: lv.price)[: self.config.slots_per_side]
        prices: list[Decimal | None] = [lv.price for lv in ordered]
        sizes = [lv.size for lv in ordered]
        missing = self.config.slots_per_side - len(ordered)
        return prices + [None] * missing, sizes + [_ZERO] * missing

    def slot_columns(self, instrument_id: str) -> np.ndarray:
        """The columns of an instrument's ask slots (best first): handles for `update_levels`."""
        try:
            return self.set_of_instrument[instrument_id].slot_cols[instrument_id]
        except KeyError:
            raise DataError(f"unknown instrument, was {instrument_id!r}") from None

    def set_book(self, instrument_id: str, asks: Sequence[Level]) -> LPUpdate:
        """Replace an instrument's ask ladder (validated; deeper than the slots is ignored)."""
        instrument = self.instrument_by_id.get(instrument_id)
        if instrument is None:
            raise DataError(f"unknown instrument, was {instrument_id!r}")
        ladder = check_ladder(instrument, tuple(asks))
        return self._write_levels(self.slot_columns(instrument_id), *self._ladder(instrument, ladder))

    def update_levels(self, cols: Sequence[int] | np.ndarray, prices: Sequence[Decimal], sizes: Sequence[Decimal]) -> LPUpdate:
        """Hot path: new (price, size) for individual slots named by their column handles. Each
        level is validated; the ladder as a whole is not re-checked (two slots may briefly share a
        price mid-update, which the LP and the plans handle)."""
        cols = np.asarray(cols, dtype=np.int32)
        if len(cols) != len(prices) or len(cols) != len(sizes):
            raise DataError("update_levels: cols, prices and sizes differ in length")
        if len(cols) and (cols.min() < 0 or cols.max() >= len(self._is_level) or not self._is_level[cols].all()):
            raise DataError("update_levels: a handle is not a level slot column")
        for col, price, size in zip(cols.tolist(), prices, sizes):
            check_level(self.col_instrument[col], price, size, f"slot {self.col_slot[col]}")
        return self._write_levels(cols, list(prices), list(sizes))

    def _write_levels(self, cols: np.ndarray, prices: Sequence[Decimal | None], sizes: Sequence[Decimal]) -> LPUpdate:
        price_f = np.empty(len(cols))
        lots = np.empty(len(cols))
        for k, (col, price, size) in enumerate(zip(cols.tolist(), prices, sizes)):
            self.price[col] = price
            self.size[col] = size
            if price is None:
                price_f[k], lots[k] = 1.0, 0.0
            else:
                price_f[k] = float(price)
                lots[k] = float((size / self.col_instrument[col].lot_size).to_integral_value(rounding=ROUND_FLOOR))
        self._size_lots[cols] = lots
        unit = price_f + self._fee_coef[cols] * (price_f * (1.0 - price_f)) ** self._fee_exp[cols] + self._fee_flat[cols]
        coef = -unit * self._lot_f[cols]
        positions = self._cost_pos[cols]
        self.lp.value[positions] = coef
        upper = lots.copy()
        if self._suppressed:
            for k, col in enumerate(cols.tolist()):
                if self.set_of_instrument[self.col_instrument[col].id].index in self._suppressed:
                    upper[k] = 0.0
        self.lp.col_hi[cols] = upper
        return LPUpdate(
            bound_index=cols,
            bound_lo=np.zeros(len(cols)),
            bound_hi=upper,
            coef_row=self._cost_row[cols],
            coef_col=cols,
            coef_position=positions,
            coef_value=coef,
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
        if sm.system_err is not None:
            sm.baseline_err, _ = self.worst_case(sm, true, false, err=True)
        rows: dict[int, tuple[float, float]] = {}
        for u in range(sm.system.n):
            rows[int(sm.pay_true_rows[u])] = (float(true[u]), float(true[u]))
            rows[int(sm.pay_false_rows[u])] = (float(false[u]), float(false[u]))
        loss_bound = float(sm.candidate.limits.settlement_loss_limit_usd - sm.baseline_err)
        for row in sm.err_rows:
            rows[row] = (-_INF, loss_bound)
        if sm.per_contract_row is not None:
            rows[sm.per_contract_row] = (float(sm.baseline), _INF)
        for (contract_id, side), row in sm.position_rows.items():
            contract = next(c for c in sm.candidate.contracts if c.id == contract_id)
            assert contract.max_position is not None
            held = sum((self.held(i.id) for i in sm.instruments if i.contract == contract_id and i.side is side), _ZERO)
            rows[row] = (-_INF, float(max(contract.max_position - held, _ZERO)))
        bound_cols = np.array([sell_col for _, _, sell_col, _ in sm.netting], dtype=np.int32)
        bound_hi = np.array([float(self.held(held.id)) for held, _, _, _ in sm.netting])
        self.lp.col_hi[bound_cols] = bound_hi
        update = self._row_update(rows)
        update.bound_index, update.bound_lo, update.bound_hi = bound_cols, np.zeros(len(bound_cols)), bound_hi
        if sm.cap_row is not None:
            assert sm.candidate.limits.max_cost_usd is not None
            reserve = self._reserve(sm.instruments)
            cap = float(sm.candidate.limits.max_cost_usd - reserve)
            update = _merge([update, self._row_update({sm.cap_row: (-_INF, cap)})])
        return update

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
        upper = self._size_lots[cols]
        self.lp.col_hi[cols] = upper
        return LPUpdate(bound_index=cols, bound_lo=np.zeros(len(cols)), bound_hi=upper.copy())

    # -- constraint generation -------------------------------------------------------------------------------
    def cuts(self, x: np.ndarray) -> RowBlock | None:
        """Violated outcome rows of every constraint-generation set at LP point `x`, or None."""
        pending: list[tuple[np.ndarray, np.ndarray, float, float]] = []
        tolerance = self.config.cg_tolerance_usd

        def add(cols: list[int], values: list[float], lo: float, hi: float) -> int:
            pending.append((np.asarray(cols, np.int32), np.asarray(values, float), lo, hi))
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
                bound = float(sm.candidate.limits.settlement_loss_limit_usd - sm.baseline_err)
                excess = spent - (float(false.sum()) + value) - bound
                if excess > tolerance * max(1.0, abs(bound)):
                    self._scenario_row(sm, z, add, err=True)
                    pending[-1] = (pending[-1][0], pending[-1][1], -_INF, bound)
        if not pending:
            return None
        return RowBlock.from_rows(pending)

    # -- reading a solution --------------------------------------------------------------------------------------
    def lp_profit(self, sm: SetModel, x: np.ndarray) -> float:
        spent = sum(float(x[c]) for c in sm.cost_cols.values())
        return float(x[sm.t_col]) - spent - float(sm.baseline)

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
        weights = np.array([duals[r] for r in sm.scenario_rows])
        total = weights.sum()
        if abs(total) < 1e-12:
            return None, []
        probabilities = weights / total
        mu = np.zeros(sm.system.n)
        binding = []
        for z, p in zip(sm.scenario_z, probabilities):
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
