"""The allocator: one LP over every candidate set, solved warm, rounded and verified exactly.

Lifecycle (docs/architecture.md#allocator): build once from an `AllocationProblem`, then per tick
`update_levels` / `set_book` / `set_inventory` / `set_capital` / `set_objective` (in-place edits
forwarded to the persistent backend) and `solve()`. The same object runs in the daemon, replays and
benchmarks.

`solve()`:
1. LP (warm; constraint generation where the set needs it), with every reserve at zero.
2. Whole lots (solvers/rounding.py): floor passes that re-balance hedges by warm re-solves, then
   whole baskets topped up while they still pay.
3. Exact check of every set's plan (solvers/planning.py), worst-case fee rounding included (every
   split, and fills at prices better than planned: `FeeRule.worst_fee_at_or_better`). Where
   exact money overshoots a row only by the venue's fee rounding, that row's reserve is raised by the
   overshoot (cash per venue, total, a set's cap; a per-contract margin for a settlement-loss limit);
   a plan that misses a profit limit is tried at slightly smaller sizes; a set that still fails is
   dropped and the LP re-solved without it, so the capital it held (or its sales funded) goes to the
   others. Repeated up to `max_repair_rounds`.
4. The lot-integral MIP (solvers/mip.py) for the sets whose rounding still lost more than
   `rounding_loss_fraction` of their LP profit, under a wall-clock limit; kept only when it verifies
   better.
Reserves and suppressions are undone before returning, so every `solve()` starts from the exact
LP and the same inputs give the same plan, warm or fresh.

Sets come and go without a rebuild (the daemon's scanner forwards and withdraws them): `add_set`
appends a set's columns and rows to the persistent model and enters its columns in the shared
capital rows (cash per venue, total); `remove_set` retires one (columns fixed at zero, rows freed);
`replace_set` is both. The next `solve()` hot-starts from the retained basis. Retired space is
compacted by one rebuild on the live sets once it exceeds `AllocatorConfig.compact_retired_ratio`
times the live model; `stats` counts additions, removals and compactions. After any sequence of
these and the per-tick edits, `solve()` equals a fresh `Allocator` built on `set_ids` (in that
order) with the same books, inventory, capital and objective (tests/test_allocator_churn.py).
Slot-column handles (`slot_columns`) of the other sets stay valid across `add_set` and a
`remove_set` that does not compact; re-read them when `stats.compactions` moves.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from solvers.backends import Backend, make_backend
from solvers.errors import NumericalError
from solvers.formulation import Formulation, SetModel
from solvers.lp import LPSolution, LPUpdate
from solvers.mip import lot_integral_mip
from solvers.plan import Action, AllocationResult, DroppedSet, SetPlan
from solvers.planning import PlanCheck, dropped_from_check, plan_from_check, verify_lots
from solvers.problem import AllocationProblem, AllocatorConfig, CandidateSet, Capital, Level, Objective
from solvers.rounding import TopUp, best_first, fee_swaps, integer_caps, lots_of, shrunk

__all__ = ["Allocator", "AllocatorStats", "LPRun"]

_ZERO = Decimal(0)
_RESERVE_SLACK = Decimal("0.0001")  # added to every measured overshoot, so a repair clears it


@dataclass(frozen=True, slots=True)
class LPRun:
    """An optimal LP solution after constraint generation converged.

    objective: the LP's guaranteed profit summed over sets (before subtracting the worst_case
        baselines), without the tie-breaking cost
    """

    solution: LPSolution
    cg_rounds: int
    iterations: int
    # per column, the tie-breaking cost (None: none): applied only when the objective is read, so a
    # hot-path tick does not pay for reading the primal values
    tie_costs: np.ndarray | None = field(default=None, compare=False)

    @property
    def tie_break_usd(self) -> float:
        if self.tie_costs is None:
            return 0.0
        return float(np.dot(self.tie_costs, self.solution.x[: len(self.tie_costs)]))

    @property
    def objective(self) -> float:
        return -self.solution.objective + self.tie_break_usd


@dataclass(frozen=True, slots=True)
class AllocatorStats:
    """Counters of a persistent allocator's set changes and the size of its model.

    live_columns / live_rows: what the live sets and the capital rows use
    retired_columns / retired_rows: what removed sets left behind (until the next compaction)
    """

    sets_added: int
    sets_removed: int
    compactions: int
    live_columns: int
    live_rows: int
    retired_columns: int
    retired_rows: int


class Allocator:
    def __init__(
        self,
        problem: AllocationProblem,
        *,
        backend: str | Backend = "highs-warm",
        config: AllocatorConfig | None = None,
        outcome_hints: Mapping[str, Sequence[Sequence[int]] | np.ndarray] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """outcome_hints: set id -> feasible outcomes as 0/1 vectors over the set's contracts (in
        `candidate.contracts` order), e.g. `ProjectionResult.vertices` of `project_prices` on the
        set's mid prices. For constraint-generation sets they are the master's starting working set
        instead of the default spread of seed outcomes; the optimum is still certified by the exact
        oracle, so hints change the number of rounds, never the result (settlement-risk outcomes
        keep their default seeds; other methods ignore hints). Infeasible hints raise DataError.
        clock: seconds, for the MIP fallback's wall-clock limit (injectable for tests)."""
        self.config = config or AllocatorConfig()
        self.form = Formulation(problem, self.config, outcome_hints)
        self.backend = make_backend(backend) if isinstance(backend, str) else backend
        self.backend.load(self.form.lp)
        self._top_up_cache: TopUp | None = None  # rebuilt after the sets change
        self._clock = clock
        self._added = self._removed = self._compactions = 0
        self._margin_repeats: dict[int, int] = {}  # per set, settlement margins raised this solve
        self._check_s: dict[int, float] = {}  # per set, the longest exact check this solve (seconds)

    # -- inputs ------------------------------------------------------------------------------------------------
    @property
    def sets(self) -> list[SetModel]:
        return self.form.sets

    @property
    def set_ids(self) -> tuple[str, ...]:
        """The live candidate sets, in insertion order (a replaced set moves to the end)."""
        return tuple(sm.id for sm in self.form.sets)

    @property
    def stats(self) -> AllocatorStats:
        live_columns, live_rows = self.form.live_size()
        return AllocatorStats(
            sets_added=self._added,
            sets_removed=self._removed,
            compactions=self._compactions,
            live_columns=live_columns,
            live_rows=live_rows,
            retired_columns=self.form.lp.num_col - live_columns,
            retired_rows=self.form.lp.num_row - live_rows,
        )

    def add_set(
        self,
        candidate: CandidateSet,
        *,
        outcome_hints: Sequence[Sequence[int]] | np.ndarray | None = None,
        inventory: Mapping[str, Decimal] | None = None,
    ) -> None:
        """Add a candidate set to the live model (its columns and rows appended, its columns entered
        in the shared capital rows; no other set is rebuilt); the next `solve()` hot-starts.
        outcome_hints: as for the constructor, for this set. inventory: held contracts of its
        instruments (default none; `set_inventory` replaces all holdings later). DataError, with
        nothing changed, on a duplicate id, an instrument a live set already trades, a venue the
        allocator has no cash row for (venues are those of the construction capital), bad hints."""
        self._apply(LPUpdate())  # rows still pending reach the backend before the growth does
        _, growth = self.form.add_set(candidate, outcome_hints, inventory)
        self.backend.grown(growth)
        self._top_up_cache = None
        self._added += 1

    def remove_set(self, set_id: str) -> None:
        """Retire a live set (columns fixed at zero, rows freed; results never mention it) and forget
        its instruments' inventory; compacts when the retired space has outgrown the live model
        (`AllocatorConfig.compact_retired_ratio`). DataError on an unknown id."""
        self._apply(self.form.remove_set(set_id))
        self._top_up_cache = None
        self._removed += 1
        self._compact_if_due()

    def replace_set(
        self,
        candidate: CandidateSet,
        *,
        outcome_hints: Sequence[Sequence[int]] | np.ndarray | None = None,
        inventory: Mapping[str, Decimal] | None = None,
    ) -> None:
        """A live set with the same id and a changed structure (instruments, limits, relations):
        validated first, then removed and added (it moves to the end of `set_ids`). inventory
        defaults to what its instruments held. Book-only changes go through `set_book` /
        `update_levels*` instead."""
        self._apply(LPUpdate())
        retired, growth = self.form.add_set(candidate, outcome_hints, inventory, replacing=candidate.id)
        self.backend.apply(retired)
        self.backend.grown(growth)
        self._top_up_cache = None
        self._removed += 1
        self._added += 1
        self._compact_if_due()

    def compact(self) -> None:
        """Rebuild the model on the live sets alone (books, inventory, capital, objective and hints
        carried over; constraint generation restarts from its seeds). Slot-column handles change."""
        old = self.form
        problem = AllocationProblem(tuple(sm.candidate for sm in old.sets), old.capital, dict(old.inventory))
        config = dataclasses.replace(self.config, objective=old.objective)
        form = Formulation(
            problem, config, {sm.id: old._raw_hints[sm.id] for sm in old.sets if sm.id in old._raw_hints}
        )
        if len(old.level_cols):  # the current books, in one write (live sets keep their order)
            form._write_levels(form.level_cols, old._price_u[old.level_cols], old._lots[old.level_cols])
        form.take_appended()  # the backend loads the model whole
        self.form = form
        self.backend.load(form.lp)
        self._top_up_cache = None
        self._compactions += 1

    def _compact_if_due(self) -> None:
        live_columns, live_rows = self.form.live_size()
        retired = self.form.lp.num_col + self.form.lp.num_row - live_columns - live_rows
        if retired > self.config.compact_retired_ratio * (live_columns + live_rows):
            self.compact()

    @property
    def _top_up(self) -> TopUp:
        if self._top_up_cache is None:
            self._top_up_cache = TopUp(self.form)
        return self._top_up_cache

    def slot_columns(self, instrument_id: str) -> np.ndarray:
        """Handles of an instrument's ask slots, best first, for `update_levels`."""
        return self.form.slot_columns(instrument_id)

    def update_levels(
        self, cols: Sequence[int] | np.ndarray, prices: Sequence[Decimal], sizes: Sequence[Decimal]
    ) -> None:
        self._apply(self.form.update_levels(cols, prices, sizes))

    def update_levels_scaled(
        self, cols: Sequence[int] | np.ndarray, price_micros: np.ndarray, size_lots: np.ndarray
    ) -> None:
        """Hot path: prices in integer micro-dollars, sizes in whole lots (see Formulation)."""
        self._apply(self.form.update_levels_scaled(cols, price_micros, size_lots))

    def set_book(self, instrument_id: str, asks: Sequence[Level]) -> None:
        self._apply(self.form.set_book(instrument_id, asks))

    def set_inventory(self, inventory: Mapping[str, Decimal]) -> None:
        self._apply(self.form.set_inventory(inventory))

    def set_capital(self, capital: Capital) -> None:
        self._apply(self.form.set_capital(capital))

    def set_objective(self, objective: Objective) -> None:
        """`riskless` (new entries) or `worst_case` (repairs, rebalancing); an in-place update."""
        self._apply(self.form.set_objective(objective))

    def _apply(self, update: LPUpdate) -> None:
        first = self.form.take_appended()
        if first is not None:  # rows first: the update may bound them
            self.backend.rows_appended(first)
        if not update.empty:
            self.backend.apply(update)

    # -- solving -------------------------------------------------------------------------------------------------
    def solve_lp(self, *, duals: bool = False) -> LPRun:
        """Solve the LP; for constraint-generation sets, add violated outcome rows until none is.
        Row duals (prices, binding outcomes) only when asked for."""
        rounds = iterations = 0
        if self.backend.from_scratch:
            self.form.reset_cuts()
        while True:
            solution = self.backend.solve(duals=duals)
            iterations += solution.iterations
            if not self.form.add_cuts(solution):
                return LPRun(solution, rounds, iterations, self._tie_costs())
            rounds += 1
            if rounds > self.config.cg_max_rounds:
                raise NumericalError(f"constraint generation did not converge in {self.config.cg_max_rounds} rounds")
            self._apply(LPUpdate())

    def _tie_costs(self) -> np.ndarray | None:
        return self.form.tie_costs if self.config.tie_break_usd_per_contract else None

    def solve(self) -> AllocationResult:
        """Solve, round to lots, verify every plan exactly, repair what exact money broke, and fall
        back to the MIP where rounding lost too much (module docstring)."""
        form = self.form
        started = self._clock()
        self._apply(form.clear_reserves())
        self._margin_repeats.clear()
        self._check_s.clear()
        dropped: dict[int, DroppedSet] = {}
        repairs = cg_rounds = iterations = 0
        try:
            while True:
                run = self.solve_lp(duals=True)
                cg_rounds += run.cg_rounds
                iterations += run.iterations
                checks, lots = self._round_and_check(run)
                if repairs >= self.config.max_repair_rounds or not self._repair(checks, run, dropped):
                    break
                repairs += 1
            result = self._result(run, checks, dropped, repairs, cg_rounds, iterations)
            if self.config.mip_fallback:
                result = self._mip_fallback(run, checks, lots, dropped, result, started)
            return result
        finally:
            self._apply(form.restore())
            self._apply(form.clear_reserves())

    # -- rounding and checking ------------------------------------------------------------------------------
    def _integral(self, run: LPRun) -> np.ndarray:
        """Contracts per column (solvers/rounding.py). Each pass fixes something and re-solves the LP
        warm, so the other legs re-balance their hedges around it: first every order under its venue
        minimum is fixed at zero (its hedge must shrink with it, not stay naked); then the
        instruments of the coarsest rounding lot still fractional (a Kalshi contract before a 0.01
        share) are fixed at their floors. The finest class is floored without a re-solve (a lot per
        leg at most), then baskets are topped up."""
        form = self.form
        x = run.solution.x
        matrix = form.slot_matrix
        classes = sorted(set(form.rounding_lot.tolist()), reverse=True)
        fixed = np.zeros(len(form.row_instruments), dtype=bool)
        touched: list[np.ndarray] = []
        try:
            for _ in range(self.config.rounding_passes + 1):
                totals = np.maximum(x[matrix], 0.0).sum(axis=1)
                under = ~fixed & (totals > 1e-9) & (totals < form.min_order - 1e-9)
                if under.any():
                    rows = np.flatnonzero(under)
                    lower = upper = np.zeros(rows.size * matrix.shape[1])
                else:
                    caps = integer_caps(form, x)
                    units = totals / form.rounding_lot
                    fractional = ~fixed & (np.abs(units - np.rint(units)) > 1e-7 * np.maximum(1.0, units))
                    coarse = [lot for lot in classes[:-1] if (fractional & (form.rounding_lot == lot)).any()]
                    if not coarse:
                        break  # only the finest class is left: floored below
                    rows = np.flatnonzero(~fixed & (form.rounding_lot == coarse[0]))
                    lower = upper = caps[matrix[rows].ravel()]
                fixed[rows] = True
                class_cols = matrix[rows].ravel()
                self._apply(form.bound_levels(class_cols, lower, upper))
                touched.append(class_cols)
                x = self.solve_lp().solution.x
            caps = integer_caps(form, x)
        finally:
            if touched:
                self._apply(form.release(np.concatenate(touched)))
        return self._top_up.run(caps, form._suppressed)

    def _round_and_check(self, run: LPRun) -> tuple[dict[int, PlanCheck | None], np.ndarray]:
        """Per set not suppressed, the exact check of its rounded plan (None: nothing to trade),
        and the whole lots per column all those plans share."""
        form = self.form
        lots = lots_of(form, self._integral(run))
        checks: dict[int, PlanCheck | None] = {}
        for sm in form.sets:
            if sm.index in form._suppressed:
                continue
            mine = lots[sm.level_cols]
            if not mine.any():
                checks[sm.index] = None
                continue
            check = self._check(sm, lots)
            # smaller sizes when fee rounding decides: a profit limit missed, or a plan whose
            # per-order rounding costs more than a twentieth of its profit
            if check.failure_kind == "profit" or (
                check.failure is None and self._fee_rounding_waste(check) * 20 > check.profit
            ):
                check, lots = self._nearby(sm, lots, check)
            checks[sm.index] = check
        return checks, self._swap_fee_rounding(checks, lots)

    def _swap_fee_rounding(self, checks: dict[int, PlanCheck | None], lots: np.ndarray) -> np.ndarray:
        """Shed per-order fee rounding by moving units between instruments that pay alike
        (`solvers.rounding.fee_swaps`), within the cash the passing plans leave; kept per set only
        when the exact check agrees it earns more."""
        form = self.form
        passing = {i: c for i, c in checks.items() if c is not None and c.failure is None}
        if not passing:
            return lots
        slack = {
            venue: form.capital.cash_by_venue_usd[venue] - form.cash_reserve.get(venue, _ZERO) for venue in form.venues
        }
        for check in passing.values():
            for venue, amount in check.capital_by_venue.items():
                slack[venue] -= amount
        if form.capital.total_usd is not None:  # keep it simple: no moves across venues near a total cap
            slack = dict.fromkeys(slack, _ZERO)
        for index, check in passing.items():
            if self._fee_rounding_waste(check) * 200 <= check.profit:
                continue  # under half a percent of the profit: not worth the exact re-pricing
            sm = form.sets[index]
            trial = fee_swaps(form, sm, lots, slack)
            if np.array_equal(trial[sm.level_cols], lots[sm.level_cols]):
                continue
            result = self._check(sm, trial)
            if result.failure is None and result.profit > check.profit:
                for venue in set(result.capital_by_venue) | set(check.capital_by_venue):
                    slack[venue] -= result.capital_by_venue.get(venue, _ZERO) - check.capital_by_venue.get(venue, _ZERO)
                lots = trial
                checks[index] = result
        return lots

    def _check(self, sm: SetModel, lots: np.ndarray) -> PlanCheck:
        cols = sm.level_cols
        lots_by_col = {int(c): int(n) for c, n in zip(cols.tolist(), lots[cols].tolist()) if n > 0}
        start = self._clock()
        check = verify_lots(self.form, sm, lots_by_col)
        self._check_s[sm.index] = max(self._check_s.get(sm.index, 0.0), self._clock() - start)
        return check

    def _fee_rounding_waste(self, check: PlanCheck, *, better_prices: bool = False) -> Decimal:
        """Dollars the venues' per-order fee rounding adds to a plan above its per-lot fees (what the
        LP priced): Kalshi's rounding of each order up to the cent. A smaller size can waste less.
        `better_prices`: also count the cap on what rounding can take back at better fill prices
        (`FeeRule.better_price_slack`, in every leg's fee): no size sheds it, but neither the LP nor
        the MIP prices it."""
        waste = _ZERO
        for leg in check.legs:
            instrument = self.form.instrument_by_id[leg.instrument_id]
            rule = instrument.fee
            if rule.order_increment_usd is None:
                continue
            lot = instrument.lot_size
            per_lot = sum((rule.fill_fee(t.price, lot) * (t.quantity / lot) for t in leg.levels), _ZERO)
            if not better_prices:
                per_lot += rule.better_price_slack(
                    leg.limit_price,
                    buy=leg.action is Action.BUY,
                    lot=lot,
                    lots=int(leg.quantity / lot),
                    tick=instrument.tick_size,
                )
            waste += max(leg.fee_usd - per_lot, _ZERO)
        return waste

    def _nearby(self, sm: SetModel, lots: np.ndarray, check: PlanCheck) -> tuple[PlanCheck, np.ndarray]:
        """The best of the plan and up to `nearby_sizes` smaller versions of it (fee rounding can
        make a smaller plan earn more, or clear a limit the full size misses)."""
        best_check, best_lots = check, lots
        for candidate in shrunk(self.form, sm, lots, self.config.nearby_sizes):
            trial = lots.copy()
            trial[sm.level_cols] = candidate[sm.level_cols]
            result = self._check(sm, trial)
            better = result.failure is None and (best_check.failure is not None or result.profit > best_check.profit)
            if better:
                best_check, best_lots = result, trial
        return best_check, best_lots

    def _repair(self, checks: dict[int, PlanCheck | None], run: LPRun, dropped: dict[int, DroppedSet]) -> bool:
        """Apply the LP edits that repair this round's failures; False when nothing needed one. Sets
        that fail for good are recorded in `dropped` and suppressed."""
        form = self.form
        updates: list[LPUpdate] = []
        suppress: set[int] = set()
        caps: dict[int, Decimal] = {}
        for index, check in checks.items():
            if check is None or check.failure is None:
                continue
            sm = form.sets[index]
            if check.failure_kind == "cap":
                caps[index] = check.excess + _RESERVE_SLACK
            elif check.failure_kind == "settlement":
                # a margin per contract that would have covered the overshoot; quadrupled each time
                # the same set overshoots again (the re-solve can land on the same whole lots)
                contracts = sum((leg.quantity for leg in check.legs), _ZERO)
                margin = float((check.excess + _RESERVE_SLACK) / contracts) if contracts else 0.0
                repeat = self._margin_repeats.get(index, 0)
                self._margin_repeats[index] = repeat + 1
                updates.append(form.add_spend_margin(index, max(margin, 1e-6) * 4**repeat))
            else:
                suppress.add(index)
                dropped[index] = dropped_from_check(sm, check, form.lp_profit(sm, run.solution.x))
        if caps:
            updates.append(form.add_reserve(cap=caps))
        if suppress:
            updates.append(form.suppress(suppress))
            shadow = form.capital_shadow_prices(run.solution)
            if updates[:-1] or any(price > 1e-9 for price in shadow.values()):
                # re-solve without the failed sets before measuring shared capital: the capital they
                # held, or their sales released, changes what the others can buy
                for update in updates:
                    self._apply(update)
                return True
            self._apply(updates[-1])  # no capital binds: dropping them changes no other set's plan
            for index in suppress:
                checks[index] = None
            updates = []
        passing = [c for c in checks.values() if c is not None and c.failure is None]
        used: dict[str, Decimal] = {}
        for check in passing:
            for venue, amount in check.capital_by_venue.items():
                used[venue] = used.get(venue, _ZERO) + amount
        for venue, amount in used.items():
            over = amount - form.capital.cash_by_venue_usd[venue]
            if over > 0:
                updates.append(form.add_reserve(venue=venue, total=over + _RESERVE_SLACK))
        if form.capital.total_usd is not None:
            over = sum(used.values(), _ZERO) - form.capital.total_usd
            if over > 0:
                updates.append(form.add_reserve(total=over + _RESERVE_SLACK))
        for update in updates:
            self._apply(update)
        return bool(updates)

    # -- results -----------------------------------------------------------------------------------------------
    def _result(
        self,
        run: LPRun,
        checks: dict[int, PlanCheck | None],
        dropped: dict[int, DroppedSet],
        repairs: int,
        cg_rounds: int,
        iterations: int,
        *,
        used_mip: bool = False,
    ) -> AllocationResult:
        form = self.form
        x = run.solution.x
        plans: list[SetPlan] = []
        failed = dict(dropped)
        for sm in form.sets:
            check = checks.get(sm.index)
            if check is None:
                lp_profit = form.lp_profit(sm, x)
                if (
                    sm.index in checks
                    and sm.index not in failed
                    and lp_profit >= float(sm.candidate.limits.min_profit_usd)
                ):
                    failed[sm.index] = DroppedSet(sm.id, "no whole lot survives rounding", lp_profit, None)
                continue
            lp_profit = form.lp_profit(sm, x)
            if check.failure is not None:
                failed[sm.index] = dropped_from_check(sm, check, lp_profit)
                continue
            mu, binding = form.coherent_prices(sm, run.solution)
            plans.append(
                plan_from_check(sm, check, objective=form.objective, lp_profit=lp_profit, mu=mu, binding=binding)
            )
        plans, over = self._within_capital(plans)
        ordered_drops = [failed[k] for k in sorted(failed)] + over
        return AllocationResult(
            plans=tuple(plans),
            dropped=tuple(ordered_drops),
            lp_profit_usd=sum(form.lp_profit(sm, x) for sm in form.sets),
            guaranteed_profit_usd=sum((p.guaranteed_profit_usd for p in plans), _ZERO),
            capital_shadow_prices=form.capital_shadow_prices(run.solution),
            cg_rounds=cg_rounds,
            iterations=iterations,
            used_mip=used_mip,
            objective=form.objective,
            repair_rounds=repairs,
        )

    def _mip_fallback(
        self,
        run: LPRun,
        checks: dict[int, PlanCheck | None],
        lots: np.ndarray,
        dropped: dict[int, DroppedSet],
        result: AllocationResult,
        started: float,
    ) -> AllocationResult:
        """The lot-integral MIP for sets whose rounding to whole lots lost more than the configured
        fraction of their LP profit; kept where it verifies better. Its wall-clock limit counts from
        the start of `solve()` and leaves the time the exact check of its plan takes (as measured on
        the same sets earlier in the solve), so a solve that falls back ends about at the limit; the
        venues' per-order fee rounding is not counted as a loss (the MIP prices fees per lot, as the
        LP does, and cannot win it back)."""
        form = self.form
        x = run.solution.x
        kept = {p.set_id: p.guaranteed_profit_usd for p in result.plans}
        targets = set()
        for sm in form.sets:
            lp_profit = form.lp_profit(sm, x)
            if sm.index in dropped or lp_profit < float(sm.candidate.limits.min_profit_usd):
                continue
            got = kept.get(sm.id, _ZERO)
            if lp_profit - float(got) <= self.config.rounding_loss_fraction * lp_profit:
                continue  # kept enough already: the fee-rounding allowance (>= 0) only adds to it
            check = checks.get(sm.index)
            if check is not None and check.failure is None:
                got += self._fee_rounding_waste(check, better_prices=True)
            if lp_profit - float(got) > self.config.rounding_loss_fraction * lp_profit:
                targets.add(sm.index)
        # the MIP's plan is checked exactly after it: leave the time this solve's own checks of those
        # sets took (a set that had nothing to check: the longest check of any set), so that the
        # whole solve stays within the limit
        longest = max(self._check_s.values(), default=0.0)
        checks_ms = sum(self._check_s.get(index, longest) for index in targets) * 1000.0
        left_ms = self.config.mip_time_limit_ms - (self._clock() - started) * 1000.0 - checks_ms
        if not targets or left_ms <= 0:
            return result
        fixed = np.zeros(form.lp.num_col)
        fixed[form.level_cols] = lots[form.level_cols] * form._lot_f[form.level_cols]
        for sm in form.sets:  # sets without a passing plan trade nothing
            check = checks.get(sm.index)
            if check is None or check.failure is not None:
                fixed[sm.level_cols] = 0.0
        mip_x = lot_integral_mip(form, targets, fixed, x, time_limit_ms=left_ms, clock=self._clock)
        if mip_x is None:
            return result
        matrix = form.slot_matrix
        totals = np.maximum(mip_x[matrix], 0.0).sum(axis=1)
        totals = np.round(totals / form.rounding_lot) * form.rounding_lot
        contracts = np.zeros(form.lp.num_col)
        contracts[matrix] = best_first(form, totals, form._lots[matrix] * form._lot_f[matrix])
        mip_lots = lots_of(form, contracts)
        improved = dict(checks)
        changed = False
        for index in targets:
            sm = form.sets[index]
            if not mip_lots[sm.level_cols].any():
                continue
            mip_check = self._check(sm, mip_lots)
            old = checks.get(index)
            old_profit = old.profit if old is not None and old.failure is None else None
            if mip_check.failure is None and (old_profit is None or mip_check.profit > old_profit):
                improved[index] = mip_check
                changed = True
        if not changed:
            return result
        alternative = self._result(
            run, improved, dropped, result.repair_rounds, result.cg_rounds, result.iterations, used_mip=True
        )
        return alternative if alternative.guaranteed_profit_usd > result.guaranteed_profit_usd else result

    def _within_capital(self, plans: list[SetPlan]) -> tuple[list[SetPlan], list[DroppedSet]]:
        """Exact check of the shared capital; drops the least profitable plans if it is exceeded
        (the repair rounds make this a guard that should never fire)."""
        capital = self.form.capital
        kept = sorted(plans, key=lambda p: (p.guaranteed_profit_usd, p.set_id), reverse=True)
        dropped: list[DroppedSet] = []
        while kept:
            used: dict[str, Decimal] = {}
            for plan in kept:
                for venue, amount in plan.capital_by_venue_usd.items():
                    used[venue] = used.get(venue, _ZERO) + amount
            over_venue = any(amount > capital.cash_by_venue_usd[v] for v, amount in used.items())
            over_total = capital.total_usd is not None and sum(used.values(), _ZERO) > capital.total_usd
            if not (over_venue or over_total):
                break
            worst = kept.pop()
            dropped.append(
                DroppedSet(
                    worst.set_id,
                    "shared capital exceeded after exact fees",
                    worst.lp_profit_usd,
                    worst.guaranteed_profit_usd,
                )
            )
        order = {sm.id: sm.index for sm in self.form.sets}
        kept.sort(key=lambda p: order[p.set_id])
        return kept, dropped
