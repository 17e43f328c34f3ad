"""The allocator: one LP over every candidate set, solved warm, rounded and verified exactly.

Lifecycle (style-anchors lesson 13): build once from an `AllocationProblem`, then per tick
`update_levels` / `set_book` / `set_inventory` / `set_capital` (in-place edits forwarded to the
persistent backend) and `solve()`. The same object runs in the daemon, replays and benchmarks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from solvers.backends import Backend, make_backend
from solvers.backends.highs import solve_mip
from solvers.errors import InfeasibleError, NumericalError
from solvers.formulation import Formulation, SetModel
from solvers.lp import LPSolution, LPUpdate
from solvers.plan import AllocationResult, DroppedSet, SetPlan
from solvers.planning import build_plan, floor_lots
from solvers.problem import AllocationProblem, AllocatorConfig, Capital, Level

__all__ = ["Allocator", "LPRun"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class LPRun:
    """An optimal LP solution after constraint generation converged."""

    solution: LPSolution
    cg_rounds: int
    iterations: int

    @property
    def objective(self) -> float:
        return -self.solution.objective


class Allocator:
    def __init__(
        self,
        problem: AllocationProblem,
        *,
        backend: str | Backend = "highs-warm",
        config: AllocatorConfig | None = None,
        outcome_hints: Mapping[str, Sequence[Sequence[int]] | np.ndarray] | None = None,
    ) -> None:
        """outcome_hints: set id -> feasible outcomes as 0/1 vectors over the set's contracts (in
        `candidate.contracts` order), e.g. `ProjectionResult.vertices` of `project_prices` on the
        set's mid prices. For constraint-generation sets they are the master's starting working set
        instead of the default spread of seed outcomes; the optimum is still certified by the exact
        oracle, so hints change the number of rounds, never the result (settlement-risk outcomes
        keep their default seeds; other methods ignore hints). Infeasible hints raise DataError."""
        self.config = config or AllocatorConfig()
        self.form = Formulation(problem, self.config, outcome_hints)
        self.backend = make_backend(backend) if isinstance(backend, str) else backend
        self.backend.load(self.form.lp)

    # -- inputs ------------------------------------------------------------------------------------------------
    @property
    def sets(self) -> list[SetModel]:
        return self.form.sets

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
                return LPRun(solution, rounds, iterations)
            rounds += 1
            if rounds > self.config.cg_max_rounds:
                raise NumericalError(f"constraint generation did not converge in {self.config.cg_max_rounds} rounds")
            self._apply(LPUpdate())

    def solve(self) -> AllocationResult:
        """Solve, round to lots, verify every plan exactly; fall back to a MIP when rounding loses
        too much, and hand the capital of sets left without a plan to the others."""
        run = self.solve_lp(duals=True)
        result = self._result(run, self._rounded(run), with_duals=True)
        if self.config.mip_fallback and self._rounding_lost_too_much(result):
            x = solve_mip(self.form.lp, self._integer_mask(), time_limit_ms=self.config.mip_time_limit_ms)
            if x is not None:
                alternative = self._result(run, x, with_duals=True, used_mip=True)
                if alternative.guaranteed_profit_usd > result.guaranteed_profit_usd:
                    result = alternative
        suppressed: set[int] = set()
        for _ in range(self.config.max_redistribution_rounds):
            idle = self._idle_sets(run, result) - suppressed
            shadow = max(result.capital_shadow_prices.values(), default=1.0)
            if not idle or shadow <= 1e-9:
                break
            suppressed |= idle
            self._apply(self.form.suppress(idle))
            run = self.solve_lp(duals=True)
            candidate = self._result(run, self._rounded(run), with_duals=True)
            if candidate.guaranteed_profit_usd <= result.guaranteed_profit_usd:
                break
            kept = {d.set_id for d in candidate.dropped}
            earlier = tuple(d for d in result.dropped if d.set_id not in kept)
            result = AllocationResult(
                plans=candidate.plans,
                dropped=candidate.dropped + earlier,
                lp_profit_usd=candidate.lp_profit_usd,
                guaranteed_profit_usd=candidate.guaranteed_profit_usd,
                capital_shadow_prices=candidate.capital_shadow_prices,
                cg_rounds=result.cg_rounds + candidate.cg_rounds,
                iterations=result.iterations + candidate.iterations,
                used_mip=result.used_mip,
            )
        if suppressed:
            self._apply(self.form.restore())
        return result

    def _rounded(self, run: LPRun) -> np.ndarray:
        """The LP point after rounding passes: every level slot is capped at the floor of its
        quantity and the LP re-solved warm, so hedges re-balance downwards instead of breaking.
        Orders under a venue minimum are tried both at zero and raised to the minimum; the better
        objective wins. Bounds are restored afterwards. Returns x for the final floor."""
        x = run.solution.x
        touched: list[np.ndarray] = []
        try:
            for _ in range(self.config.rounding_passes):
                step = self.form.rounding_targets(x)
                if step is None:
                    break
                touched.append(step.cols)
                best: tuple[float, np.ndarray, int] | None = None
                for k, (lower, upper) in enumerate(step.options):
                    self._apply(self.form.bound_levels(step.cols, lower, upper))
                    try:
                        solution = self.solve_lp().solution
                    except InfeasibleError:  # raising an order to the minimum may not fit the capital
                        continue
                    if best is None or solution.objective < best[0] - 1e-12:
                        best = (solution.objective, solution.x, k)
                assert best is not None, "the all-floors option is always feasible"
                if best[2] != len(step.options) - 1:
                    lower, upper = step.options[best[2]]
                    self._apply(self.form.bound_levels(step.cols, lower, upper))
                x = best[1]
        finally:
            if touched:
                self._apply(self.form.release(np.unique(np.concatenate(touched))))
        return x

    # -- helpers ---------------------------------------------------------------------------------------------------
    def _integer_mask(self) -> np.ndarray:
        mask = np.zeros(self.form.lp.num_col, dtype=bool)
        mask[self.form.level_cols] = True
        return mask

    def _idle_sets(self, run: LPRun, result: AllocationResult) -> set[int]:
        """Sets that consume capital in the LP but end without a verified plan."""
        planned = {p.set_id for p in result.plans}
        x = run.solution.x
        idle = set()
        for sm in self.form.sets:
            if sm.id not in planned and self.form.spent(sm, x) > 1e-6:
                idle.add(sm.index)
        return idle

    def _rounding_lost_too_much(self, result: AllocationResult) -> bool:
        fraction = self.config.rounding_loss_fraction
        lp_profits = {d.set_id: d.lp_profit_usd for d in result.dropped}
        lp_profits.update((p.set_id, p.lp_profit_usd) for p in result.plans)
        exact = {p.set_id: float(p.guaranteed_profit_usd) for p in result.plans}
        for sm in self.form.sets:
            lp_profit = lp_profits.get(sm.id, 0.0)
            if lp_profit < float(sm.candidate.limits.min_profit_usd):
                continue
            got = exact.get(sm.id, 0.0)
            if lp_profit - got > fraction * lp_profit:
                return True
        return False

    def _result(self, run: LPRun, x: np.ndarray, *, with_duals: bool, used_mip: bool = False) -> AllocationResult:
        form = self.form
        plans: list[SetPlan] = []
        dropped: list[DroppedSet] = []
        lp_total = 0.0
        for sm in form.sets:
            lp_profit = form.lp_profit(sm, run.solution.x)
            lp_total += lp_profit
            mu, binding = form.coherent_prices(sm, run.solution) if with_duals else (None, [])
            plan, drop = build_plan(form, sm, floor_lots(form, sm, x), lp_profit=lp_profit, mu=mu, binding=binding)
            if plan is not None:
                plans.append(plan)
            elif drop is not None:
                dropped.append(drop)
        plans, over = self._within_capital(plans)
        dropped += over
        return AllocationResult(
            plans=tuple(plans),
            dropped=tuple(dropped),
            lp_profit_usd=lp_total,
            guaranteed_profit_usd=sum((p.guaranteed_profit_usd for p in plans), _ZERO),
            capital_shadow_prices=form.capital_shadow_prices(run.solution) if with_duals else {},
            cg_rounds=run.cg_rounds,
            iterations=run.iterations,
            used_mip=used_mip,
        )

    def _within_capital(self, plans: list[SetPlan]) -> tuple[list[SetPlan], list[DroppedSet]]:
        """Exact check of the shared capital; drops the least profitable plans if it is exceeded
        (the LP's reserve makes this a guard that should never fire)."""
        capital = self.form.capital
        kept = sorted(plans, key=lambda p: p.guaranteed_profit_usd, reverse=True)
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
