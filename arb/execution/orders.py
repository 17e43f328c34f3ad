"""From a plan's legs to venue orders, and from venue fills back to the instruments the plan traded.

Pure: no I/O, no clock. The executor journals what `plan_orders` returns, sends it, and passes every
fill of those orders through `route_fill`.

- A plan leg trades one listing of the set's component (`Listing`, found by the leg's
  `instrument_id`): the order names that listing's venue market, the leg's outcome and action, its
  limit price and quantity (exact: a leg off the micro grid is refused, never rounded).
- Time in force: the first of `ExecutionOrderConfig.time_in_force` the venue supports
  (`Capabilities.order_types`): FOK first by default (a leg fills whole or not at all, so fewer
  partial-fill states), then IOC. Both never rest.
- Pools: on a venue whose NO instrument is the mirror of the YES ladder (Kalshi: one ladder per
  ticker, `BinaryBook.no is None`), buying NO sells YES at 1 - q, so a SELL YES leg and a BUY NO leg
  of one ticker both take the YES bids (and BUY YES with SELL NO both take the YES asks). Sent as two
  orders they would compete for the same displayed size; they go out as ONE order on the YES
  ladder, for the summed quantity, down to the most permissive of their limits. Its fills are
  attributed to the selling leg first, then the buying one (each up to its quantity), as the venue
  nets a fill against what is held before it opens the other side.
- Fill normalisation: Kalshi states every order and fill on the YES contract (a BUY NO at q comes
  back as SELL YES at 1 - q). A fill is restated as the instrument(s) its order traded, so the
  ledger's positions and cash are those of the instruments the plan bought and sold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from arb.book import BinaryBook
from arb.domain import Action, Fill, OrderRequest, Side, TimeInForce, Venue
from arb.errors import ConfigError
from arb.fixed import SCALE
from arb.graph import Component, Listing
from arb.ledger.store import IntentLeg
from arb.venues.base import Capabilities
from solvers.plan import Leg, SetPlan

__all__ = [
    "ExecutionOrderConfig",
    "LegPart",
    "PlannedOrder",
    "RoutedFill",
    "leg_micro",
    "plan_orders",
    "route_fill",
]

_ONE = Decimal(SCALE)


@dataclass(frozen=True, slots=True)
class ExecutionOrderConfig:
    """`time_in_force`: preference order; the first the venue supports is used (GTC/GTD allowed:
    such a leg rests, and the executor cancels what still rests when the plan settles)."""

    time_in_force: tuple[TimeInForce, ...] = (TimeInForce.FOK, TimeInForce.IOC)

    def __post_init__(self) -> None:
        if not self.time_in_force or not all(isinstance(t, TimeInForce) for t in self.time_in_force):
            raise ConfigError(f"time_in_force must be a non-empty tuple of TimeInForce, was {self.time_in_force!r}")


@dataclass(frozen=True, slots=True)
class LegPart:
    """One plan leg's share of an order: `plan_leg` indexes `SetPlan.legs`; the instrument, action
    and limit are the leg's own (not the pooled order's)."""

    plan_leg: int
    instrument_id: str
    outcome: Side
    action: Action
    size_micro: int
    price_micro_usd: int


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    """One order to send: the venue's terms (`outcome`, `action`, `price_micro_usd` as the order is
    stated) and the plan legs it serves, in attribution order (sells first)."""

    venue: Venue
    market_id: str
    outcome: Side
    action: Action
    price_micro_usd: int
    size_micro: int
    time_in_force: TimeInForce
    parts: tuple[LegPart, ...]
    book_id: str = ""  # the ladder the order trades (Polymarket: the outcome's token id), journaled

    @property
    def pooled(self) -> bool:
        return len(self.parts) > 1

    def intent_leg(self) -> IntentLeg:
        return IntentLeg(
            venue=self.venue,
            market_id=self.market_id,
            outcome=self.outcome,
            action=self.action,
            price_micro_usd=self.price_micro_usd,
            size_micro=self.size_micro,
            time_in_force=self.time_in_force,
            book_id=self.book_id,
        )

    def request(self, client_order_id: str, salt: int | None) -> OrderRequest:
        return OrderRequest(
            client_order_id=client_order_id,
            market_id=self.market_id,
            outcome=self.outcome,
            action=self.action,
            price_micro_usd=self.price_micro_usd,
            size_micro=self.size_micro,
            time_in_force=self.time_in_force,
            salt=salt,
        )


@dataclass(frozen=True, slots=True)
class RoutedFill:
    """A fill restated for one leg part: `fill` carries the part's instrument (outcome, action,
    price) and its share of the size; `part` is the index into `PlannedOrder.parts`."""

    part: int
    fill: Fill


def _exact_micro(value: Decimal, what: str) -> int:
    scaled = value * _ONE
    if not value.is_finite() or scaled != scaled.to_integral_value():
        raise ConfigError(f"{what} {value} is not a whole number of micro-units")
    return int(scaled)


def leg_micro(leg: Leg, index: int) -> tuple[int, int]:
    """A plan leg's (size_micro, price_micro_usd), exact; a leg off the micro grid, or with a price
    outside (0, 1) or a non-positive size, is a ConfigError."""
    size = _exact_micro(leg.quantity, f"plan leg {index} ({leg.instrument_id}) quantity")
    price = _exact_micro(leg.limit_price, f"plan leg {index} ({leg.instrument_id}) limit price")
    if size <= 0:
        raise ConfigError(f"plan leg {index} ({leg.instrument_id}) quantity must be positive, was {leg.quantity}")
    if not 0 < price < SCALE:
        raise ConfigError(f"plan leg {index} ({leg.instrument_id}) limit price {leg.limit_price} is outside (0, 1)")
    return size, price


def _listing(component: Component, leg: Leg, index: int) -> Listing:
    for listing in component.listings:
        if listing.instrument_id == leg.instrument_id:
            if listing.venue.value != leg.venue or listing.side is not leg.side:
                raise ConfigError(
                    f"plan leg {index} ({leg.instrument_id}) says {leg.venue}/{leg.side.value}, "
                    f"the component lists {listing.venue.value}/{listing.side.value}"
                )
            return listing
    raise ConfigError(f"plan leg {index}: instrument {leg.instrument_id} is not listed in component {component.id}")


def time_in_force_for(capabilities: Capabilities, config: ExecutionOrderConfig, venue: Venue) -> TimeInForce:
    """The order type a venue's legs go out as: the first of the configured preference it supports."""
    for tif in config.time_in_force:
        if tif in capabilities.order_types:
            return tif
    raise ConfigError(f"{venue.value} supports none of the time in force {[t.value for t in config.time_in_force]}")


def _buys_yes(outcome: Side, action: Action) -> bool:
    """On a mirrored ladder: does this instrument/action take the YES asks (else the YES bids)?"""
    return (outcome is Side.YES) is (action is Action.BUY)


def plan_orders(
    plan: SetPlan,
    component: Component,
    books: Mapping[tuple[Venue, str], BinaryBook],
    capabilities: Mapping[Venue, Capabilities],
    config: ExecutionOrderConfig | None = None,
) -> tuple[PlannedOrder, ...]:
    """The orders that execute `plan`, one per plan leg except pools (see the module docstring).
    Order of the result: by the first plan leg each order serves."""
    config = config or ExecutionOrderConfig()
    if not plan.legs:
        raise ConfigError(f"plan for set {plan.set_id} has no legs")
    groups: dict[tuple[object, ...], list[tuple[int, Leg, Listing, int, int]]] = {}
    book_ids: dict[tuple[object, ...], str] = {}
    for index, leg in enumerate(plan.legs):
        listing = _listing(component, leg, index)
        if listing.venue not in capabilities:
            raise ConfigError(f"plan leg {index} ({leg.instrument_id}): no client for venue {listing.venue.value}")
        size, price = leg_micro(leg, index)
        book = books.get((listing.venue, listing.market_id))
        mirrored = book is not None and book.no is None
        key: tuple[object, ...] = (
            (listing.venue, listing.market_id, "mirror", _buys_yes(leg.side, leg.action))
            if mirrored
            else (listing.venue, listing.market_id, leg.side, leg.action, index)
        )
        groups.setdefault(key, []).append((index, leg, listing, size, price))
        if book is not None:
            ladder = book.no if leg.side is Side.NO and book.no is not None else book.yes
            book_ids[key] = ladder.book_id
    orders: list[PlannedOrder] = []
    for key, members in groups.items():
        index, leg, listing, size, price = members[0]
        book_id = book_ids.get(key, "")
        tif = time_in_force_for(capabilities[listing.venue], config, listing.venue)
        # Sells first: the venue nets a pool's fills against what is held before it opens the
        # other side (selling held YES, then buying NO), so a partial fill goes to the sale first.
        ordered = sorted(members, key=lambda m: (m[1].action is Action.BUY, m[0]))
        parts = tuple(LegPart(i, lg.instrument_id, lg.side, lg.action, s, p) for i, lg, _, s, p in ordered)
        if len(members) == 1:
            orders.append(
                PlannedOrder(listing.venue, listing.market_id, leg.side, leg.action, price, size, tif, parts, book_id)
            )
            continue
        # A pool on one mirrored ladder: one order stated on YES, down to the most permissive limit.
        buys_yes = _buys_yes(leg.side, leg.action)
        yes_limits = [
            p if part.outcome is Side.YES else SCALE - p for part, p in ((pt, pt.price_micro_usd) for pt in parts)
        ]
        yes_limit = max(yes_limits) if buys_yes else min(yes_limits)
        orders.append(
            PlannedOrder(
                listing.venue,
                listing.market_id,
                Side.YES,
                Action.BUY if buys_yes else Action.SELL,
                yes_limit,
                sum(part.size_micro for part in parts),
                tif,
                parts,
                book_id,
            )
        )
    return tuple(sorted(orders, key=lambda o: min(part.plan_leg for part in o.parts)))


def _as_instrument(fill: Fill, outcome: Side, action: Action) -> Fill:
    """`fill` restated on (outcome, action): the same trade seen from the mirror instrument when
    the outcome differs (BUY NO at q == SELL YES at 1 - q), unchanged otherwise."""
    if fill.outcome is outcome and fill.action is action:
        return fill
    if fill.outcome is None or fill.action is None:
        return replace(fill, outcome=outcome, action=action)
    if fill.outcome is not outcome and fill.action is not action:
        return replace(fill, outcome=outcome, action=action, price_micro_usd=SCALE - fill.price_micro_usd)
    raise ConfigError(
        f"fill {fill.fill_id} ({fill.outcome.value} {fill.action.value}) is not a trade of "
        f"{outcome.value} {action.value} on a mirrored ladder"
    )


@dataclass(slots=True)
class _Cursor:
    done: list[int] = field(default_factory=list)


def route_fill(order: PlannedOrder, fill: Fill, filled_before_micro: int) -> tuple[RoutedFill, ...]:
    """Restate `fill` of `order` per leg part. `filled_before_micro`: how much of the order earlier
    fills covered (in arrival order: the same fills give the same split). A fill spanning two parts
    is split; the second share's fill id is `<fill_id>/<part>` so each share is counted once."""
    if filled_before_micro < 0:
        raise ConfigError(f"filled_before_micro must be >= 0, was {filled_before_micro}")
    out: list[RoutedFill] = []
    start, remaining = filled_before_micro, fill.size_micro
    offset = 0
    for number, part in enumerate(order.parts):
        end = offset + part.size_micro
        last = number == len(order.parts) - 1
        if remaining > 0 and (start < end or last):
            take = remaining if last else min(remaining, end - start)
            share = _as_instrument(fill, part.outcome, part.action)
            share = replace(share, size_micro=take, fill_id=fill.fill_id if not out else f"{fill.fill_id}/{number}")
            if out and fill.fee_micro_usd is not None:
                share = replace(share, fee_micro_usd=0)  # the whole fee stays on the first share
            out.append(RoutedFill(number, share))
            start += take
            remaining -= take
        offset = end
    return tuple(out)


def part_totals(order: PlannedOrder, filled_micro: int) -> tuple[int, ...]:
    """How much of each part `filled_micro` of the order covers (attribution in part order)."""
    out: list[int] = []
    left = filled_micro
    for number, part in enumerate(order.parts):
        take = left if number == len(order.parts) - 1 else min(left, part.size_micro)
        out.append(take)
        left -= take
    return tuple(out)


def instruments(orders: Iterable[PlannedOrder]) -> Sequence[str]:
    return [part.instrument_id for order in orders for part in order.parts]
