"""Solver-neutral inputs of the allocator: small frozen types holding exact (Decimal) money.

A `CandidateSet` is one connected component of the market graph: its contracts, the instruments
that trade them (venue, contract, side) with their ask ladders, the logical relations between
contracts, and the set's limits. An `AllocationProblem` is every live candidate set plus the
capital they share and the inventory held.

Liquidity is modelled once. A binary market has two pools of resting orders: asks for YES and asks
for NO (= YES bids at the complementary price on both venues). Selling held YES at a bid therefore
*is* buying NO from the same pool: the allocator models one slot per resting order, credits the
$1 released by each (held YES, bought NO) pair, and the plan emits that part as a SELL leg at the
bid. Nothing is modelled twice (docs/money-model.md#liquidity-modelled-once).
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

from solvers.errors import DataError
from solvers.fees import FeeRule

__all__ = [
    "PRICE_SCALE",
    "AllocationProblem",
    "AllocatorConfig",
    "AtMostOne",
    "CandidateSet",
    "Capital",
    "Conjunction",
    "Contract",
    "Equivalent",
    "ExactlyOne",
    "Implies",
    "Instrument",
    "Level",
    "Relation",
    "SetLimits",
    "Side",
    "check_ladder",
    "check_level",
    "check_money",
    "representable_step",
]

_ZERO = Decimal(0)
_ONE = Decimal(1)
PRICE_SCALE = 1_000_000  # the allocator's hot path holds prices as integer micro-dollars


def check_money(value: object, what: str, *, positive: bool = False, allow_zero: bool = True) -> Decimal:
    """Return `value` as a finite Decimal or raise DataError naming `what`."""
    if not isinstance(value, Decimal):
        raise DataError(f"{what} must be a Decimal, was {type(value).__name__} {value!r}")
    if not value.is_finite():
        raise DataError(f"{what} must be finite, was {value}")
    if value < 0 or (positive and value == 0) or (not allow_zero and value == 0):
        raise DataError(f"{what} must be {'positive' if positive else 'non-negative'}, was {value}")
    return value


class Side(enum.Enum):
    """Which side of a binary contract an instrument pays on."""

    YES = "yes"  # pays $1 if the contract's event happens
    NO = "no"  # pays $1 if it does not


@dataclass(frozen=True, slots=True)
class Level:
    """One resting price level: `size` contracts offered at `price` dollars."""

    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class Contract:
    """A binary contract of the set. `max_position` caps each side's holdings summed over venues."""

    id: str
    max_position: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Instrument:
    """(venue, contract, side) with its ask ladder (levels to buy from, best first after validation).

    lot_size: quantity increment (Kalshi 1, or 0.01 with fractional trading; Polymarket 0.01)
    tick_size: price increment; every level price must sit on it
    min_order_size: smallest order the venue accepts (Polymarket `orderMinSize`, usually 5)
    buy_amount_increment_usd / sell_amount_increment_usd: a BUY (SELL) order of quantity q at limit
        price p signs the cash amount q x p, which the venue only accepts on this increment
        (Polymarket FOK/FAK: buys whole cents, sells $0.0001); None = any quantity on the lot grid
    """

    id: str
    venue: str
    contract: str
    side: Side
    asks: tuple[Level, ...]
    fee: FeeRule
    lot_size: Decimal = _ONE
    tick_size: Decimal = Decimal("0.01")
    min_order_size: Decimal = _ZERO
    buy_amount_increment_usd: Decimal | None = None
    sell_amount_increment_usd: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.id or not self.venue or not self.contract:
            raise DataError(
                f"instrument needs id, venue and contract, was {self.id!r}/{self.venue!r}/{self.contract!r}"
            )
        if not isinstance(self.side, Side):
            raise DataError(f"instrument {self.id} side must be a Side, was {self.side!r}")
        if not isinstance(self.fee, FeeRule):
            raise DataError(f"instrument {self.id} fee must be a FeeRule, was {type(self.fee).__name__}")
        check_money(self.lot_size, f"instrument {self.id} lot_size", positive=True)
        check_money(self.tick_size, f"instrument {self.id} tick_size", positive=True)
        if (self.tick_size * PRICE_SCALE) % 1:
            raise DataError(f"instrument {self.id} tick_size must be a multiple of 0.000001, was {self.tick_size}")
        check_money(self.min_order_size, f"instrument {self.id} min_order_size")
        for name in ("buy_amount_increment_usd", "sell_amount_increment_usd"):
            increment = getattr(self, name)
            if increment is not None:
                check_money(increment, f"instrument {self.id} {name}", positive=True)
        object.__setattr__(self, "asks", check_ladder(self, self.asks))


def representable_step(price: Decimal, lot: Decimal, increment: Decimal | None) -> Decimal:
    """The smallest positive quantity on the lot grid whose amount at `price` is a whole number of
    `increment`s; the representable quantities are exactly its multiples. With q = k x lot, q x price
    / increment = k x a for a = lot x price / increment, an integer iff the denominator of a divides
    k. (Polymarket FOK/FAK buy at a cent price, 0.01 lot, whole-cent amounts: 1 share at $0.53,
    0.02 at $0.50.)"""
    if increment is None:
        return lot
    a = Fraction(lot) * Fraction(price) / Fraction(increment)
    return lot * a.denominator


def check_ladder(instrument: Instrument, levels: tuple[Level, ...] | list[Level]) -> tuple[Level, ...]:
    """Validate an L2 ask ladder (one level per price) and return it best first."""
    for k, level in enumerate(levels):
        check_level(instrument, level.price, level.size, f"asks[{k}]")
    ordered = tuple(sorted(levels, key=lambda lv: lv.price))
    for before, after in itertools.pairwise(ordered):
        if before.price == after.price:
            raise DataError(
                f"instrument {instrument.id} asks list price {after.price} twice; an L2 ladder has one level per price"
            )
    return ordered


def check_level(instrument: Instrument, price: object, size: object, where: str) -> None:
    """Validate one level of `instrument`: price strictly inside (0, 1) on the tick grid, size >= 0."""
    what = f"instrument {instrument.id} {where}"
    check_money(price, f"{what} price")
    check_money(size, f"{what} size")
    if not _ZERO < price < _ONE:  # type: ignore[operator]
        raise DataError(f"{what} price must be inside (0, 1), was {price}")
    if price % instrument.tick_size != 0:  # type: ignore[operator]
        raise DataError(f"{what} price {price} is not on the tick grid {instrument.tick_size}")


@dataclass(frozen=True, slots=True)
class ExactlyOne:
    """Exactly one contract of the group resolves YES (Kalshi mutually_exclusive events, negRisk)."""

    contracts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AtMostOne:
    """At most one contract of the group resolves YES (exclusive but not exhaustive)."""

    contracts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Implies:
    """antecedent YES implies consequent YES (strike ladders, subset events)."""

    antecedent: str
    consequent: str


@dataclass(frozen=True, slots=True)
class Equivalent:
    """Two contracts settle the same way (or opposite ways when `inverted`).

    settlement_risk: the link is curated but the venues' rules differ; the allocator then also
    considers the outcomes in which the two disagree and bounds the loss there
    (`SetLimits.settlement_loss_limit_usd`).
    """

    a: str
    b: str
    inverted: bool = False
    settlement_risk: bool = False


@dataclass(frozen=True, slots=True)
class Conjunction:
    """result = AND of operands (parlays, combos)."""

    result: str
    operands: tuple[str, ...]


Relation = ExactlyOne | AtMostOne | Implies | Equivalent | Conjunction


@dataclass(frozen=True, slots=True)
class SetLimits:
    """Per-candidate-set limits, in the units a trader reads.

    max_cost_usd: capital the set may commit (buys minus sale proceeds, fees included), None = no cap
    min_profit_usd: a set's plan is dropped unless its exact guaranteed profit reaches this
    min_profit_per_payout_usd: guaranteed profit per $1 of guaranteed payout (an edge in cents per
        hedged dollar: a YES + NO basket bought for $0.97 earns $0.03 per $1 of payout). Applies to
        the `riskless` objective, whose guaranteed payout is the new trades' worst-case payoff
    min_return_on_capital: guaranteed profit per dollar of capital committed (0.01 = 1%)
    settlement_loss_limit_usd: largest loss allowed in outcomes where risky links disagree
    """

    max_cost_usd: Decimal | None = None
    min_profit_usd: Decimal = Decimal("0.01")
    min_profit_per_payout_usd: Decimal = _ZERO
    min_return_on_capital: Decimal = _ZERO
    settlement_loss_limit_usd: Decimal = _ZERO

    def __post_init__(self) -> None:
        if self.max_cost_usd is not None:
            check_money(self.max_cost_usd, "max_cost_usd")
        check_money(self.min_profit_usd, "min_profit_usd", positive=True)
        check_money(self.min_profit_per_payout_usd, "min_profit_per_payout_usd")
        if self.min_profit_per_payout_usd >= _ONE:
            raise DataError(f"min_profit_per_payout_usd must be below 1, was {self.min_profit_per_payout_usd}")
        check_money(self.min_return_on_capital, "min_return_on_capital")
        check_money(self.settlement_loss_limit_usd, "settlement_loss_limit_usd")


@dataclass(frozen=True, slots=True)
class CandidateSet:
    """One connected component of the market graph, in solver-neutral form."""

    id: str
    contracts: tuple[Contract, ...]
    instruments: tuple[Instrument, ...]
    relations: tuple[Relation, ...] = ()
    limits: SetLimits = field(default_factory=SetLimits)

    def __post_init__(self) -> None:
        contract_ids = [c.id for c in self.contracts]
        if len(set(contract_ids)) != len(contract_ids):
            raise DataError(f"set {self.id}: duplicate contract ids in {contract_ids}")
        for contract in self.contracts:
            if contract.max_position is not None:
                check_money(contract.max_position, f"set {self.id} contract {contract.id} max_position")
        known = set(contract_ids)
        instrument_ids = [i.id for i in self.instruments]
        if len(set(instrument_ids)) != len(instrument_ids):
            raise DataError(f"set {self.id}: duplicate instrument ids in {instrument_ids}")
        for instrument in self.instruments:
            if instrument.contract not in known:
                raise DataError(
                    f"set {self.id}: instrument {instrument.id} trades unknown contract {instrument.contract!r}"
                )
        seen_listing: set[tuple[str, str, Side]] = set()
        for instrument in self.instruments:
            key = (instrument.venue, instrument.contract, instrument.side)
            if key in seen_listing:
                raise DataError(f"set {self.id}: two instruments for {key}; one pool must be modelled once")
            seen_listing.add(key)
        by_listing = {(i.venue, i.contract, i.side): i for i in self.instruments}
        for (venue, contract_id, side), yes in by_listing.items():
            no = by_listing.get((venue, contract_id, Side.NO)) if side is Side.YES else None
            if no is None:
                continue
            # one book on the venue: a sale of one side is a purchase of the other from the same pool,
            # so both must share its grid, lot and minimum (else a netted sale could fall off it)
            for name in (
                "lot_size",
                "tick_size",
                "min_order_size",
                "buy_amount_increment_usd",
                "sell_amount_increment_usd",
            ):
                if getattr(yes, name) != getattr(no, name):
                    raise DataError(
                        f"set {self.id}: YES and NO of {contract_id} on {venue} must agree on {name}, "
                        f"were {getattr(yes, name)} ({yes.id}) and {getattr(no, name)} ({no.id})"
                    )
        for relation in self.relations:
            for cid in relation_contracts(relation):
                if cid not in known:
                    raise DataError(f"set {self.id}: relation {relation} names unknown contract {cid!r}")
            if isinstance(relation, ExactlyOne | AtMostOne) and len(set(relation.contracts)) != len(relation.contracts):
                raise DataError(f"set {self.id}: relation {relation} repeats a contract")
            if isinstance(relation, Conjunction) and (not relation.operands or relation.result in relation.operands):
                raise DataError(f"set {self.id}: conjunction {relation} needs operands distinct from its result")
            if isinstance(relation, Implies | Equivalent) and len(set(relation_contracts(relation))) != 2:
                raise DataError(f"set {self.id}: relation {relation} links a contract to itself")


def relation_contracts(relation: Relation) -> tuple[str, ...]:
    """Contract ids a relation mentions."""
    match relation:
        case ExactlyOne(contracts) | AtMostOne(contracts):
            return tuple(contracts)
        case Implies(antecedent, consequent):
            return (antecedent, consequent)
        case Equivalent(a, b, _, _):
            return (a, b)
        case Conjunction(result, operands):
            return (result, *operands)
        case _:
            raise DataError(f"unknown relation type, was {type(relation).__name__}")


@dataclass(frozen=True, slots=True)
class Capital:
    """Cash available per venue and, optionally, a cap on total capital committed."""

    cash_by_venue_usd: Mapping[str, Decimal]
    total_usd: Decimal | None = None

    def __post_init__(self) -> None:
        cash = {}
        for venue, amount in dict(self.cash_by_venue_usd).items():
            cash[venue] = check_money(amount, f"cash for venue {venue!r}")
        object.__setattr__(self, "cash_by_venue_usd", MappingProxyType(cash))
        if self.total_usd is not None:
            check_money(self.total_usd, "total capital")


@dataclass(frozen=True, slots=True)
class AllocationProblem:
    """Every live candidate set, the capital they share and the inventory held (contracts per
    instrument id)."""

    sets: tuple[CandidateSet, ...]
    capital: Capital
    inventory: Mapping[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ids = [s.id for s in self.sets]
        if len(set(set_ids)) != len(set_ids):
            raise DataError(f"duplicate candidate set ids in {set_ids}")
        owners: dict[str, str] = {}
        for candidate in self.sets:
            for instrument in candidate.instruments:
                if instrument.id in owners:
                    raise DataError(f"instrument {instrument.id} is in sets {owners[instrument.id]} and {candidate.id}")
                owners[instrument.id] = candidate.id
                if instrument.venue not in self.capital.cash_by_venue_usd:
                    raise DataError(f"no cash given for venue {instrument.venue!r} of instrument {instrument.id}")
        inventory = {}
        for instrument_id, quantity in dict(self.inventory).items():
            if instrument_id not in owners:
                raise DataError(f"inventory names unknown instrument {instrument_id!r}")
            inventory[instrument_id] = check_money(quantity, f"inventory of {instrument_id}")
        object.__setattr__(self, "inventory", MappingProxyType(inventory))


Method = Literal["auto", "enumerate", "compact", "cg"]
Objective = Literal["riskless", "worst_case"]
OBJECTIVES: tuple[Objective, ...] = ("riskless", "worst_case")


@dataclass(frozen=True, slots=True)
class AllocatorConfig:
    """Allocator settings (all with units in their names where they have units).

    objective: `riskless` (default, for new entries: in every outcome the new trades pay at least the
        reported profit on top of whatever is held) or `worst_case` (raise the portfolio's
        worst-case value: repairs after partial fills, rebalancing)
    slots_per_side: level slots kept per ask ladder; deeper levels are ignored (conservative)
    method: how outcome sets are handled: enumerate, compact LP dual, constraint generation (cg),
        or auto (enumerate when small, compact when the structure is provably exact, else cg)
    max_enumerated_outcomes: `auto` enumerates sets with at most this many feasible outcomes
    cg_max_rounds: constraint-generation rounds before giving up with NumericalError
    cg_oracle_enumeration_limit: outcome sets up to this size are separated by a matrix product over
        all outcomes instead of the HiGHS MIP (0: always the MIP); exact checks always use the MIP
    cg_tolerance_usd: a cut is added when it is violated by more than this
    tie_break_usd_per_contract: a cost per contract (times a fixed per-instrument factor in [1, 2))
        that makes the LP optimum unique: zero-edge trades are never taken and warm and fresh
        models reach the same plan; far below any real edge, left out of reported profits
    rounding_passes: LP re-solves that cap fractional level slots at whole lots (and zero orders
        under the venue minimum) so hedged legs re-balance, before baskets are topped up
    nearby_sizes: when exact fee rounding alone pushes a set's profit under a limit, this many
        smaller sizes of its plan are tried
    mip_fallback: solve a lot-integral MIP (minimum orders as semi-continuous quantities) for the
        sets whose rounding lost more than `rounding_loss_fraction` of their LP profit
    mip_time_limit_ms: wall-clock budget of that fallback, counted from the start of `solve()` with
        the model build included: a solve that falls back ends within it plus the final exact check
        (the MIP's incumbent, or the heuristic plan, is kept when it expires; a large problem whose
        LP and rounding use up the budget skips the MIP)
    max_repair_rounds: re-solves after exact checks: reserves raised where exact fees overshot a
        row, sets whose plan failed dropped and the capital they used handed to the rest
    compact_retired_ratio: `Allocator.remove_set` leaves a removed set's columns (fixed at zero)
        and rows (freed) in the persistent model; once that retired space exceeds this multiple of
        the live model (columns plus rows), the model is rebuilt on the live sets alone, once
        (counted in `Allocator.stats.compactions`). 0 compacts on every removal, inf never
    """

    objective: Objective = "riskless"
    slots_per_side: int = 5
    method: Method = "auto"
    max_enumerated_outcomes: int = 512
    cg_max_rounds: int = 500
    cg_oracle_enumeration_limit: int = 65536
    cg_tolerance_usd: float = 1e-7
    tie_break_usd_per_contract: float = 1e-6
    mip_fallback: bool = True
    mip_time_limit_ms: float = 50.0
    rounding_passes: int = 4
    nearby_sizes: int = 8
    rounding_loss_fraction: float = 0.05
    max_repair_rounds: int = 4
    compact_retired_ratio: float = 1.0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise DataError(f"objective must be one of {OBJECTIVES}, was {self.objective!r}")
        if self.slots_per_side < 1:
            raise DataError(f"slots_per_side must be >= 1, was {self.slots_per_side}")
        if self.method not in ("auto", "enumerate", "compact", "cg"):
            raise DataError(f"method must be auto, enumerate, compact or cg, was {self.method!r}")
        if self.max_enumerated_outcomes < 1 or self.cg_max_rounds < 1:
            raise DataError("max_enumerated_outcomes and cg_max_rounds must be >= 1")
        for name in ("cg_tolerance_usd", "mip_time_limit_ms", "rounding_loss_fraction", "tie_break_usd_per_contract"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise DataError(f"{name} must be finite and non-negative, was {value!r}")
        ratio = self.compact_retired_ratio
        if not isinstance(ratio, int | float) or isinstance(ratio, bool) or math.isnan(ratio) or ratio < 0:
            raise DataError(f"compact_retired_ratio must be non-negative (inf: never compact), was {ratio!r}")
        for name in ("cg_oracle_enumeration_limit", "rounding_passes", "nearby_sizes", "max_repair_rounds"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise DataError(f"{name} must be a non-negative integer, was {value!r}")
