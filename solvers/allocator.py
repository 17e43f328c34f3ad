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
from solvers.errors import NumericalError
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
    ) -> None:
        self.config = config or AllocatorConfig()
        self.form = Formulation(problem, self.config)
        self.backend = make_backend(backend) if isinstance(backend, str) else backend
        self.backend.load(self.form.lp)

    # -- inputs ------------------------------------------------------------------------------------------------
    @property
    def sets(self) -> list[SetModel]:
        return self.form.sets

    def slot_columns(self, instrument_id: str) -> np.ndarray:
        """Handles of an instrument's ask slots, best first, for `update_levels`."""
        return self.form.slot_columns(instrument_id)

    def update_levels(self, cols: Sequence[int] | np.ndarray, prices: Sequence[Decimal], sizes: Sequence[Decimal]) -> None:
        self._apply(self.form.update_levels(cols, prices, sizes))

    def set_book(self, instrument_id: str, asks: Sequence[Level]) -> None:
        self._apply(self.form.set_book(instrument_id, asks))

    def set_inventory(self, inventory: Mapping[str, Decimal]) -> None:
        self._apply(self.form.set_inventory(inventory))

    def set_capital(self, capital: Capital) -> None:
        self._apply(self.form.set_capital(capital))

    def _apply(self, update: LPUpdate) -> None:
        if not update.empty:
            self.backend.apply(update)

    # -- solving -------------------------------------------------------------------------------------------------
    def solve_lp(self) -> LPRun:
        """Solve the LP; for constraint-generation sets, add violated outcome rows until none is."""
        rounds = iterations = 0
        while True:
            solution = self.backend.solve()
            iterations += solution.iterations
            block = self.form.cuts(solution.x)
            if block is None:
                return LPRun(solution, rounds, iterations)
            rounds += 1
            if rounds > self.config.cg_max_rounds:
                raise NumericalError(f"constraint generation did not converge in {self.config.cg_max_rounds} rounds")
            first = self.form.lp.append(block)
            self.backend.rows_appended(first)

    def solve(self) -> AllocationResult:
        """Solve, round to lots, verify every plan exactly; fall back to a MIP when rounding loses
        too much, and hand the capital of sets left without a plan to the others."""
        run = self.solve_lp()
        result = self._result(run, run.solution.x, with_duals=True)
        if self.config.mip_fallback and self._rounding_lost_too_much(result):
            x = solve_mip(self.form.lp, self._integer_mask(), time_limit_ms=self.config.mip_time_limit_ms)
            if x is not None:
                alternative = self._result(run, x, with_duals=False, used_mip=True)
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
            run = self.solve_lp()
            candidate = self._result(run, run.solution.x, with_duals=True)
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
            if sm.id not in planned and sum(float(x[c]) for c in sm.cost_cols.values()) > 1e-6:
                idle.add(sm.index)
        return idle

    def _rounding_lost_too_much(self, result: AllocationResult) -> bool:
        fraction = self.config.rounding_loss_fraction
        exact = {p.set_id: p for p in result.plans}
        for sm in self.form.sets:
            lp_profit = next((p.lp_profit_usd for p in result.plans if p.set_id == sm.id), None)
            if lp_profit is None:
                lp_profit = next((d.lp_profit_usd for d in result.dropped if d.set_id == sm.id), 0.0)
            if lp_profit < float(sm.candidate.limits.min_profit_usd):
                continue
            got = float(exact[sm.id].guaranteed_profit_usd) if sm.id in exact else 0.0
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
            dropped.append(DroppedSet(worst.set_id, "shared capital exceeded after exact fees", worst.lp_profit_usd, worst.guaranteed_profit_usd))
        order = {sm.id: sm.index for sm in self.form.sets}
        kept.sort(key=lambda p: order[p.set_id])
        return kept, dropped
