"""The risk gate's view of a plan about to be sent (`PlanContext`), built from the plan, its
component and the books it read, so that no caller can skip a gate by not building one.

- legs: the plan's legs as the venues will trade them (fee, lot and tick from the listings), all or
  nothing where the venue takes the leg FOK (the order type the executor will send it as)
- outcomes: every feasible outcome of the component, risky links settling alike (their disagreement
  is the allocator's settlement bound); too many outcomes is an error, never a skipped check
- books: every ladder of every market a leg trades (trust and age, for the book gate)
- holdings: what the set holds now, per (contract, side), from instrument holdings
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType

from arb.book import BinaryBook
from arb.domain import TimeInForce, Venue
from arb.errors import ConfigError
from arb.graph import Component
from arb.risk.gates import BookStatus, LinkExposure, PlanContext
from arb.risk.partial_fill import fillable_legs, outcome_assignments
from solvers import SetPlan, Side
from solvers.errors import DataError
from solvers.outcomes import OutcomeSystem
from solvers.problem import Relation

__all__ = ["plan_context"]

_ZERO = Decimal(0)


@functools.lru_cache(maxsize=256)
def _outcomes(contracts: tuple[str, ...], relations: tuple[Relation, ...], limit: int) -> tuple[Mapping[str, int], ...]:
    system = OutcomeSystem(contracts, relations, with_risky_links=True)
    return tuple(MappingProxyType(o) for o in outcome_assignments(system, contracts, limit))


def plan_context(
    plan: SetPlan,
    component: Component,
    books: Mapping[tuple[Venue, str], BinaryBook],
    *,
    time_in_force: Callable[[Venue], TimeInForce],
    holdings_by_instrument: Mapping[str, Decimal] | None = None,
    committed_cash_usd: Mapping[str, Decimal] | None = None,
    open_plans: int = 0,
    links: tuple[LinkExposure, ...] = (),
    link_notional_usd: Mapping[str, Decimal] | None = None,
    bankroll_usd: Decimal = _ZERO,
    max_outcomes: int = 4096,
) -> PlanContext:
    """`time_in_force(venue)`: the order type the executor sends that venue's legs as (FOK legs
    fill all or nothing). Raises `ConfigError` for a plan of another component, a leg without a
    listing or book, or a component with more than `max_outcomes` feasible outcomes."""
    if plan.set_id != component.id:
        raise ConfigError(f"plan is for set {plan.set_id}, the component is {component.id}")
    listings = {listing.instrument_id: listing for listing in component.listings}
    try:
        legs = fillable_legs(
            plan.legs,
            component.listings,
            all_or_none=lambda leg: time_in_force(Venue(leg.venue)) is TimeInForce.FOK,
        )
        outcomes = _outcomes(tuple(component.contracts), tuple(component.relations), max_outcomes)
    except (DataError, ValueError) as exc:
        raise ConfigError(f"set {plan.set_id}: cannot judge the plan: {exc}") from exc
    statuses: list[BookStatus] = []
    seen: set[tuple[Venue, str]] = set()
    for leg in plan.legs:
        listing = listings[leg.instrument_id]  # fillable_legs has checked every leg has one
        key = (listing.venue, listing.market_id)
        if key in seen:
            continue
        seen.add(key)
        book = books.get(key)
        if book is None:
            raise ConfigError(f"set {plan.set_id}: no book for {listing.venue.value} {listing.market_id}")
        statuses.extend(BookStatus.of_book(book))
    held: dict[tuple[str, Side], Decimal] = {}
    for instrument_id, quantity in (holdings_by_instrument or {}).items():
        held_listing = listings.get(instrument_id)
        if held_listing is None:
            raise ConfigError(f"set {plan.set_id}: holding of unknown instrument {instrument_id!r}")
        if quantity:
            key2 = (held_listing.contract, held_listing.side)
            held[key2] = held.get(key2, _ZERO) + quantity
    return PlanContext(
        set_id=plan.set_id,
        legs=legs,
        outcomes=outcomes,
        guaranteed_profit_usd=plan.guaranteed_profit_usd,
        books=tuple(statuses),
        holdings=held,
        committed_cash_usd=dict(committed_cash_usd or {}),
        open_plans=open_plans,
        links=links,
        link_notional_usd=dict(link_notional_usd or {}),
        bankroll_usd=bankroll_usd,
    )
