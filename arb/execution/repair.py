"""Repair after a partial fill: the exact exposure of what is held, and a re-solve of that one
candidate set with the actual inventory for a plan that completes the missing legs or exits the
excess.

Exposure. Holdings (instrument id "<contract>:<yes|no>" -> contracts) pay $1 per contract in the
outcomes where their side wins; with the cash the set's trades moved (`cash_flow_usd`, negative for
money spent) they are worth an exact amount in every feasible outcome of the component's relations
(risky equivalences assumed to settle together, as the allocator's `worst_case` objective does).
The position is *hedged* when its worst value is at least minus the loss cap, *flat* when nothing
is held.

Repair. The component's candidate set is rebuilt from the current books and solved alone by the
allocator with the inventory and the `worst_case` objective (raise the portfolio's worst-case
value), on every listing (complete, exit or both), on the held contracts' listings only (hedge) and
on sales and complements of what is held only (exit; a sale of a held side is a purchase of its
complement from the same pool): `RepairPlanner._candidate_sets`. No side of any contract may end
above the largest holding: a repair completes or exits, it never grows into a new entry even when
the books hold an arbitrage of their own. Each plan
is priced with limit orders and checked here in exact arithmetic:
- its own worst partial fill (every leg anywhere from 0 to its quantity, at its limit price, worst
  fee rounding; `arb.risk.worst_partial_fill_loss` with the holdings) must not leave the worst case
  lower than it is now: a repair that can make things worse is refused (two missing legs of a
  group of three: one may fill without the other);
- the full fill must raise the worst case.
When every plan is refused, each leg of a refused plan is judged alone (a leg that cannot hurt is
progress; the next round re-plans from what it filled). Of the plans left, one whose result is
within the loss cap beats one that breaks it, then the higher worst value wins (then fewer legs). A plan that breaks the cap is returned only when no plan
within it exists (it still lowers the loss; the caller repeats or halts the set); the decision's
reason says which plans were refused and why.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from arb.errors import ArbError, ConfigError
from arb.fixed import from_micro
from arb.graph import Component, Listing
from arb.risk.errors import RiskInputError
from arb.risk.partial_fill import FillableLeg, PartialFillRisk, outcome_assignments, worst_partial_fill_loss
from arb.scanner import BookLookup, ScannerConfig, build_candidate_set
from solvers import Action, AllocationProblem, Allocator, AllocatorConfig, Capital, Leg, SetLimits, SetPlan, Side
from solvers.errors import DataError, SolverError
from solvers.outcomes import OutcomeSystem
from solvers.problem import CandidateSet, Contract, Instrument, Relation

__all__ = [
    "Exposure",
    "RepairConfig",
    "RepairDecision",
    "RepairInputError",
    "RepairPlanner",
    "RepairStatus",
    "exposure",
    "is_hedged",
]

_ZERO = Decimal(0)


class RepairInputError(ArbError, ValueError):
    """Holdings, cash or capital handed to the repair planner are malformed; the message says which."""


# -- exposure -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Exposure:
    """The exact value of holdings plus cash flow in every feasible outcome of a component.

    outcomes / values_usd: each feasible outcome (contract id -> 1 if YES) and the value there
    worst_value_usd / worst_outcome: the least value and the first outcome reaching it
    holdings: the non-zero holdings valued (instrument id -> contracts)
    cash_flow_usd: the cash the holdings cost or brought (negative: spent), in every value
    flat: nothing is held
    """

    outcomes: tuple[Mapping[str, int], ...]
    values_usd: tuple[Decimal, ...]
    worst_value_usd: Decimal
    worst_outcome: Mapping[str, int]
    holdings: Mapping[str, Decimal]
    cash_flow_usd: Decimal
    flat: bool

    def hedged(self, loss_cap_usd: Decimal) -> bool:
        """True when the value is at least -loss_cap_usd in every outcome."""
        return self.worst_value_usd >= -loss_cap_usd


def is_hedged(position: Exposure, loss_cap_usd: Decimal) -> bool:
    """Hedged: the worst value over every feasible outcome is at least minus the loss cap."""
    return position.hedged(loss_cap_usd)


@functools.lru_cache(maxsize=256)
def _system(contracts: tuple[str, ...], relations: tuple[Relation, ...]) -> OutcomeSystem:
    return OutcomeSystem(contracts, relations, with_risky_links=True)


@functools.lru_cache(maxsize=256)
def _outcomes(contracts: tuple[str, ...], relations: tuple[Relation, ...], limit: int) -> tuple[Mapping[str, int], ...]:
    system = _system(contracts, relations)
    return tuple(MappingProxyType(o) for o in outcome_assignments(system, contracts, limit))


def _component_outcomes(component: Component, limit: int) -> tuple[Mapping[str, int], ...]:
    try:
        return _outcomes(tuple(component.contracts), tuple(component.relations), limit)
    except (DataError, RiskInputError) as exc:
        raise RepairInputError(f"component {component.id}: cannot enumerate its outcomes: {exc}") from exc


def _listings_by_instrument(component: Component) -> dict[str, Listing]:
    return {listing.instrument_id: listing for listing in component.listings}


def _checked_holdings(component: Component, holdings: Mapping[str, Decimal]) -> dict[str, Decimal]:
    listings = _listings_by_instrument(component)
    held: dict[str, Decimal] = {}
    for instrument_id, quantity in holdings.items():
        if instrument_id not in listings:
            raise RepairInputError(f"component {component.id}: holding of unknown instrument {instrument_id!r}")
        if not isinstance(quantity, Decimal) or not quantity.is_finite() or quantity < 0:
            raise RepairInputError(
                f"holding of {instrument_id} must be a finite non-negative Decimal (contracts), was {quantity!r}"
            )
        if quantity:
            held[instrument_id] = quantity
    return held


def _check_cash(cash_flow_usd: Decimal) -> Decimal:
    if not isinstance(cash_flow_usd, Decimal) or not cash_flow_usd.is_finite():
        raise RepairInputError(f"cash_flow_usd must be a finite Decimal, was {cash_flow_usd!r}")
    return cash_flow_usd


def exposure(
    component: Component, holdings: Mapping[str, Decimal], cash_flow_usd: Decimal, *, max_outcomes: int = 4096
) -> Exposure:
    """Exact value of `holdings` (instrument id -> contracts, >= 0) plus `cash_flow_usd` in every
    feasible outcome of `component`'s relations; RepairInputError for an unknown instrument, a bad
    quantity, or more than `max_outcomes` outcomes."""
    held = _checked_holdings(component, holdings)
    cash = _check_cash(cash_flow_usd)
    outcomes = _component_outcomes(component, max_outcomes)
    listings = _listings_by_instrument(component)
    values = []
    for outcome in outcomes:
        value = cash
        for instrument_id, quantity in held.items():
            listing = listings[instrument_id]
            yes = outcome[listing.contract]
            if (yes == 1) == (listing.side is Side.YES):
                value += quantity
        values.append(value)
    worst = min(range(len(values)), key=values.__getitem__)
    return Exposure(
        outcomes=outcomes,
        values_usd=tuple(values),
        worst_value_usd=values[worst],
        worst_outcome=outcomes[worst],
        holdings=MappingProxyType(held),
        cash_flow_usd=cash,
        flat=not held,
    )


# -- configuration --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RepairConfig:
    """Repair settings.

    loss_cap_usd: a position is hedged when its worst value is at least minus this
    max_rounds: repair rounds the executor runs on one set before it halts the set (an incident)
    min_improvement_usd: the least rise of the worst case a repair plan must bring (the allocator's
        per-set minimum profit under the `worst_case` objective; positive, tiny by default)
    slots_per_side: ask levels per listing the repair may sweep
    max_book_age_ms: a book older than this is not traded by a repair (held listings stay valued)
    max_outcomes: feasible outcomes enumerated for the exposure and the partial-fill bound
    mip_time_limit_ms: wall-clock budget of the allocator's lot-integral fallback
    backend: the allocator's LP backend
    """

    loss_cap_usd: Decimal
    max_rounds: int = 3
    min_improvement_usd: Decimal = Decimal("0.000001")
    slots_per_side: int = 5
    max_book_age_ms: int = 60_000
    max_outcomes: int = 4096
    mip_time_limit_ms: float = 50.0
    backend: str = "highs-warm"

    def __post_init__(self) -> None:
        for name, positive in (("loss_cap_usd", False), ("min_improvement_usd", True)):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0 or (positive and value == 0):
                kind = "positive" if positive else "non-negative"
                raise ConfigError(f"repair {name} must be a finite {kind} Decimal (dollars), was {value!r}")
        for name, least in (("max_rounds", 1), ("slots_per_side", 1), ("max_book_age_ms", 0), ("max_outcomes", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"repair {name} must be an integer >= {least}, was {value!r}")
        budget = self.mip_time_limit_ms
        if not isinstance(budget, int | float) or isinstance(budget, bool) or not math.isfinite(budget) or budget < 0:
            raise ConfigError(f"repair mip_time_limit_ms must be a finite non-negative number, was {budget!r}")
        if not isinstance(self.backend, str) or not self.backend:
            raise ConfigError(f"repair backend must name an LP backend, was {self.backend!r}")


# -- decisions ------------------------------------------------------------------------------------------
class RepairStatus(enum.Enum):
    FLAT = "flat"  # nothing held: nothing to repair
    HEDGED = "hedged"  # within the loss cap already: nothing to repair
    REPAIR = "repair"  # a plan that raises the worst case (see `RepairDecision.after`)
    NO_REPAIR = "no_repair"  # not hedged and no acceptable plan: the caller halts the set


@dataclass(frozen=True, slots=True)
class RepairDecision:
    """plan: the repair to send (None: nothing to send; `reason` says why)
    before / after: exposure now, and after the plan fills completely at its planned prices
    partial_fill: the plan's worst partial fill, the pre-trade bound its realised change must respect
    """

    plan: SetPlan | None
    reason: str
    before: Exposure
    after: Exposure | None
    status: RepairStatus
    partial_fill: PartialFillRisk | None = None
    hedged_after: bool | None = None  # the full fill ends within the loss cap (None without a plan)


@dataclass(frozen=True, slots=True)
class _Candidate:
    name: str
    plan: SetPlan
    after: Exposure
    risk: PartialFillRisk


def _held_after(holdings: Mapping[str, Decimal], plan: SetPlan) -> dict[str, Decimal]:
    after = dict(holdings)
    for leg in plan.legs:
        change = leg.quantity if leg.action is Action.BUY else -leg.quantity
        after[leg.instrument_id] = after.get(leg.instrument_id, _ZERO) + change
    return after


def _shell_instrument(listing: Listing) -> Instrument:
    """A held listing whose book cannot be traded (missing, stale, untrusted): valued, never traded."""
    return Instrument(
        id=listing.instrument_id,
        venue=listing.venue.value,
        contract=listing.contract,
        side=listing.side,
        asks=(),
        fee=listing.taker_fee,
        lot_size=from_micro(listing.lot_size_micro),
        tick_size=from_micro(listing.tick_size_micro),
        min_order_size=from_micro(listing.min_order_size_micro),
        buy_amount_increment_usd=from_micro(listing.buy_amount_increment_micro_usd)
        if listing.buy_amount_increment_micro_usd
        else None,
        sell_amount_increment_usd=from_micro(listing.sell_amount_increment_micro_usd)
        if listing.sell_amount_increment_micro_usd
        else None,
    )


def _single_leg(plan: SetPlan, leg: Leg) -> SetPlan:
    """One leg of a plan as a plan of its own (a leg's price, fee and cash flow are its order's)."""
    return dataclasses.replace(
        plan,
        legs=(leg,),
        guaranteed_profit_usd=_ZERO,  # not known for the leg alone; `RepairDecision.after` says it
        lp_profit_usd=0.0,
        capital_by_venue_usd=MappingProxyType({leg.venue: -leg.cash_flow_usd}),
        binding_outcomes=(),
        method=f"{plan.method}, one leg",
    )


def _money(value: Decimal) -> str:
    return f"${value:f}"


class RepairPlanner:
    """Plans one repair of one candidate set (module docstring). Stateless between calls.

    now_ns: the books' clock (monotonic nanoseconds; inject a fake in tests)
    clock: seconds, for the allocator's MIP time limit (injectable for tests)"""

    def __init__(
        self,
        config: RepairConfig,
        *,
        now_ns: Callable[[], int] = time.monotonic_ns,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not isinstance(config, RepairConfig):
            raise ConfigError(f"RepairPlanner needs a RepairConfig, was {type(config).__name__}")
        self.config = config
        self._now_ns = now_ns
        self._clock = clock

    def exposure(self, component: Component, holdings: Mapping[str, Decimal], cash_flow_usd: Decimal) -> Exposure:
        return exposure(component, holdings, cash_flow_usd, max_outcomes=self.config.max_outcomes)

    def plan(
        self,
        component: Component,
        books: BookLookup,
        holdings: Mapping[str, Decimal],
        cash_flow_usd: Decimal,
        capital: Capital,
    ) -> RepairDecision:
        """The repair of `component` given what is held and the cash the set's trades moved, at the
        current `books` and within `capital` (cash per venue)."""
        config = self.config
        before = self.exposure(component, holdings, cash_flow_usd)
        if before.flat:
            return RepairDecision(None, "flat: nothing held", before, None, RepairStatus.FLAT)
        if before.hedged(config.loss_cap_usd):
            reason = (
                f"hedged: worst value {_money(before.worst_value_usd)} is within the loss cap "
                f"{_money(config.loss_cap_usd)} in every outcome"
            )
            return RepairDecision(None, reason, before, None, RepairStatus.HEDGED)
        if not isinstance(capital, Capital):
            raise RepairInputError(f"capital must be a solvers.Capital, was {type(capital).__name__}")
        full = self.candidate_set(component, books, before.holdings)
        accepted: list[_Candidate] = []
        notes: list[str] = []
        refused: list[tuple[str, SetPlan, CandidateSet]] = []
        for name, candidate_set in self._candidate_sets(component, full, before.holdings):
            plan, why = self.resolve(candidate_set, capital, before.holdings)
            if plan is None:
                notes.append(f"{name}: {why}")
                continue
            candidate, refusal = self._judge(name, plan, component, candidate_set, before)
            if candidate is None:
                notes.append(refusal)
                if len(plan.legs) > 1:
                    refused.append((name, plan, candidate_set))
            else:
                accepted.append(candidate)
        if not accepted:
            # one leg of a refused plan at a time: a leg that cannot hurt on its own is progress,
            # and the next round re-plans from what it filled
            for name, plan, candidate_set in refused:
                for index, leg in enumerate(plan.legs):
                    single = _single_leg(plan, leg)
                    candidate, _refusal = self._judge(
                        f"{name} leg {index + 1} alone", single, component, candidate_set, before
                    )
                    if candidate is not None:
                        accepted.append(candidate)
        state = (
            f"worst value {_money(before.worst_value_usd)} (loss cap {_money(config.loss_cap_usd)}) "
            f"in outcome {dict(before.worst_outcome)}"
        )
        if not accepted:
            return RepairDecision(
                None, f"no repair: {state}; " + "; ".join(notes), before, None, RepairStatus.NO_REPAIR
            )
        cap = config.loss_cap_usd
        accepted.sort(key=lambda c: (not c.after.hedged(cap), -c.after.worst_value_usd, len(c.plan.legs)))
        best = accepted[0]
        for other in accepted[1:]:
            if not other.after.hedged(cap) and best.after.worst_value_usd > other.after.worst_value_usd:
                notes.append(
                    f"{other.name}: refused, its result {_money(other.after.worst_value_usd)} breaks the loss cap "
                    f"and {best.name} does better"
                )
            else:
                notes.append(f"{other.name}: refused, {best.name} leaves a higher worst value")
        hedged = best.after.hedged(cap)
        reason = (
            f"{best.name}: {len(best.plan.legs)} legs raise the worst value from {_money(before.worst_value_usd)} "
            f"to {_money(best.after.worst_value_usd)}"
            + ("" if hedged else f", still below the loss cap {_money(cap)} (the best available)")
            + f"; worst partial fill changes it by {_money(best.risk.worst_value_change_usd)}"
            + (f" ({'; '.join(notes)})" if notes else "")
        )
        return RepairDecision(best.plan, reason, before, best.after, RepairStatus.REPAIR, best.risk, hedged)

    # -- steps --------------------------------------------------------------------------------------------
    def _candidate_sets(
        self, component: Component, full: CandidateSet, held: Mapping[str, Decimal]
    ) -> list[tuple[str, CandidateSet]]:
        """The sets re-solved, most general first:
        re-solve: every listing (complete, exit, or both);
        hedge: only the listings of the held contracts and the contracts equivalent to them, on
            any venue (complete a partly filled leg, or buy the complement where another venue
            lists it: no leg that pays in another outcome);
        exit: only sales of what is held, or purchases of what pays exactly when it does not (its
            complement on any venue listing it or an equivalent contract); the held instruments
            themselves cannot be bought more."""
        system = _system(tuple(component.contracts), tuple(component.relations))

        def pays_when(instrument: Instrument) -> tuple[int, int]:
            """(outcome variable, value of it in which the instrument pays $1)."""
            var, parity = system.literal[instrument.contract]
            return var, (1 ^ parity) if instrument.side is Side.YES else parity

        held_keys = {pays_when(i) for i in full.instruments if i.id in held}
        hedge = tuple(i for i in full.instruments if any(pays_when(i)[0] == var for var, _ in held_keys))
        complements = {(var, 1 - value) for var, value in held_keys}
        exit_only = tuple(
            dataclasses.replace(i, asks=()) if i.id in held else i
            for i in full.instruments
            if i.id in held or pays_when(i) in complements
        )
        sets: list[tuple[str, CandidateSet]] = [("re-solve", full)]
        for name, instruments in (("hedge", hedge), ("exit", exit_only)):
            if instruments and all(instruments != known.instruments for _, known in sets):
                sets.append((name, dataclasses.replace(full, instruments=instruments)))
        return sets

    def candidate_set(self, component: Component, books: BookLookup, held: Mapping[str, Decimal]) -> CandidateSet:
        """`component`'s candidate set at the current `books` for a re-solve with `held` (instrument
        id -> contracts, non-zero): the scanner's instruments (stale or untrusted books left out),
        held listings without a tradable book kept as shells (valued, never traded), every side
        capped at the largest holding, and `min_improvement_usd` as the set's minimum profit (the
        least rise of the worst case). Also the start of rebalancing's sales (arb/rebalance.py)."""
        config = self.config
        scanner = ScannerConfig(
            max_book_age_ms=config.max_book_age_ms,
            slots_per_side=config.slots_per_side,
            max_enumerated_outcomes=min(config.max_outcomes, 512),
            set_limits=SetLimits(min_profit_usd=config.min_improvement_usd),
        )
        candidate, _excluded = build_candidate_set(component, books, now_ns=self._now_ns(), config=scanner)
        present = {i.id for i in candidate.instruments}
        shells = tuple(
            _shell_instrument(listing)
            for listing in component.listings
            if listing.instrument_id in held and listing.instrument_id not in present
        )
        # a repair completes or exits, it never grows the position into a new entry (the books may
        # hold an arbitrage of their own): no side of any contract may end above the largest holding
        cap = max(held.values())
        contracts = tuple(Contract(c.id, max_position=cap) for c in candidate.contracts)
        return dataclasses.replace(candidate, contracts=contracts, instruments=candidate.instruments + shells)

    def resolve(
        self, candidate: CandidateSet, capital: Capital, held: Mapping[str, Decimal]
    ) -> tuple[SetPlan | None, str]:
        """`candidate` solved alone by the allocator with `held` as inventory under the `worst_case`
        objective: its verified plan, or None and why there is none. RepairInputError when the
        problem is malformed."""
        allocator_config = AllocatorConfig(
            objective="worst_case",
            slots_per_side=self.config.slots_per_side,
            max_enumerated_outcomes=min(self.config.max_outcomes, 512),
            mip_time_limit_ms=self.config.mip_time_limit_ms,
        )
        try:
            allocator = Allocator(
                AllocationProblem((candidate,), capital),
                backend=self.config.backend,
                config=allocator_config,
                clock=self._clock,
            )
            allocator.set_inventory(held)
            result = allocator.solve()
        except DataError as exc:
            raise RepairInputError(f"set {candidate.id}: the repair problem is malformed: {exc}") from exc
        except SolverError as exc:
            return None, f"the allocator failed: {type(exc).__name__}: {exc}"
        if result.plans:
            return result.plans[0], ""
        if result.dropped:
            return None, "no plan: " + "; ".join(d.reason for d in result.dropped)
        return None, "no trade at the current books raises the worst case"

    def _judge(
        self, name: str, plan: SetPlan, component: Component, candidate: CandidateSet, before: Exposure
    ) -> tuple[_Candidate | None, str]:
        instruments = {i.id: i for i in candidate.instruments}
        legs = [
            FillableLeg(leg, instruments[leg.instrument_id].fee, instruments[leg.instrument_id].lot_size)
            for leg in plan.legs
        ]
        by_pool: dict[tuple[str, Side], Decimal] = {}
        listings = _listings_by_instrument(component)
        for instrument_id, quantity in before.holdings.items():
            key = (listings[instrument_id].contract, listings[instrument_id].side)
            by_pool[key] = by_pool.get(key, _ZERO) + quantity
        risk = worst_partial_fill_loss(legs, before.outcomes, by_pool)
        if risk.worst_value_change_usd < 0:
            return None, (
                f"{name}: refused, a partial fill ({', '.join(str(n) for n in risk.worst_fill_lots)} lots of "
                f"{', '.join(leg.instrument_id for leg in plan.legs)}) would lower the worst value by "
                f"{_money(-risk.worst_value_change_usd)} in outcome {dict(risk.worst_outcome)}"
            )
        cash = before.cash_flow_usd + sum((leg.cash_flow_usd for leg in plan.legs), _ZERO)
        after = self.exposure(component, _held_after(before.holdings, plan), cash)
        if after.worst_value_usd <= before.worst_value_usd:
            return None, f"{name}: refused, it does not raise the worst value ({_money(after.worst_value_usd)})"
        return _Candidate(name, plan, after, risk), ""
