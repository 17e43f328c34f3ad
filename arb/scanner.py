"""The incremental scanner: a book change marks its graph component dirty; cheap bounds first
(docs/architecture.md#data-flow). Only components that may hold a riskless profit reach the allocator.

Per component the scanner works on *unit costs at the best asks*: for each listing, best ask price
plus the unrounded taker fee per contract floored to a micro-dollar, i.e. at most the allocator's
linear fee (`FeeRule.unit_rate`). Kalshi's rounding only adds to it; Polymarket floors each order's
fee to $0.00001, so an exact fee can undercut it by less than one such increment per order, far
below any `min_profit_usd`, and invisible to the allocator's LP, which prices fees the same way.
Buy-only arbitrage at some size exists iff it exists at the best asks (cost per unit rises with
depth, and guaranteed profit is concave with value 0 at 0), and by LP duality (docs/optimization.md#scanner-bounds)
no portfolio of buys is riskless-profitable iff some coherent price vector mu in the marginal
polytope M = conv(Z) (Z: the outcomes allowed by every relation, risky links included, as in the
allocator's guaranteed profit) prices every instrument at or below its cost:

    mu_c <= cost(YES of c)   and   1 - mu_c <= cost(NO of c)   for every contract c.

So the scanner CLEARS a component only with a witness: an exact point of M inside that box. Because
the witness is checked in exact integers against lower-bound costs, clearing is sound: the exact
allocator (real fees, lots, depth, limits) can never find a profit there (with `min_edge_micro_usd`
0, or up to the allocator's per-contract minimum; tests/test_scanner.py checks this against the
allocator's LP). Everything else is forwarded, so the filter may be conservative but never wrong;
that includes a component whose evaluation raised (stage "error", counted in `stats.errors`).

The box is kept per outcome variable (contracts linked by a risk-free equivalence share one, as in
`solvers.outcomes`). The relations split the variables into independent blocks (M is their
product); each block is decided by the cheapest exact method, in cost order:

1. per variable: the box must not be empty (YES + NO of one contract, or of a linked pair, under $1);
2. the block's cached witness, if it still lies in the box: O(size), integer compares;
3. a single row with +-1 coefficients (an exactly-one or at-most-one group, one implication, one
   risky link): the box meets the row's hyperplane/halfspace iff the summed bounds straddle it (the
   row is totally unimodular, so its relaxation is M); the witness is built greedily;
4. rows of two +-1 entries that are balanced (implication ladders, with risky links): a system of
   difference constraints (network matrix, so again the relaxation is M), decided exactly by
   shortest paths (all-pairs closure, computed once per shape), whose distances are the witness;
5. anything else (conjunctions, groups with ladders): an LP over the enumerated feasible outcomes
   finding a convex combination inside the box with the largest uniform slack; its weights are
   rounded to integers (or, when the box only touches M, read back as the exact rationals they
   approximate) and the witness re-checked exactly. Blocks too large to enumerate: the first time,
   a KL projection (solvers.projection) of the box midpoint, whose active vertices and weights may
   give the witness and seed a pool of outcomes; then column generation, the same LP over the
   pool priced by the block's MIP outcome oracle (solvers.separation), every added outcome checked
   against the relations exactly; the pool persists, so later evaluations start warm. Both stop at
   `projection_time_budget_ms` (injected clock) or `projection_max_iterations` rounds. When no
   witness verifies and no proof of incoherence was reached, the component is forwarded.

Incoherence score (ranking): delta = the smallest uniform rise of every best ask (YES and NO, fees
included, in dollars per contract) that would leave no riskless buy-only basket, equivalently the
largest guaranteed profit per contract bought at the best asks (LP duality again). A bound with no
ask behind it (0 or $1) does not move, and a rising bound stops at 0 or $1. Computed by the failing
stages: exact (rounded up to a micro-dollar) for steps 3 and 4 and the LPs of step 5; a lower bound
when step 1 already fails, or when an LP block was skipped because a cheaper block had already
failed; 0 when forwarded only for lack of a witness (or after an error). Reported in
micro-dollars; drain returns the highest first, ties by component id.

Books that are missing, untrusted or stale (no update for `max_book_age_ms` on the injected clock),
or whose best ask is off the tick grid (the ladder's live tick when the feed reported one, else the
listing's), exclude their listings from both the bound and the candidate set handed on, so the two
always describe the same instruments. Staleness changes without a book change event (a silent
feed; a revived feed that only `touch`es its book), so `Scanner.sweep()`, called periodically,
re-marks the components whose exclusions changed since their last evaluation; `take_withdrawn()`
names the forwarded components cleared since, whose sets the consumer should drop.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import numpy as np
from scipy.optimize import OptimizeResult, linprog

from arb.book import BinaryBook
from arb.domain import Venue
from arb.errors import ConfigError
from arb.fixed import SCALE, from_micro
from arb.graph import Component, Listing
from solvers.errors import DataError, SolverError
from solvers.fees import FeeRule
from solvers.outcomes import OutcomeRow, OutcomeSystem, signed_parity
from solvers.problem import CandidateSet, Contract, Instrument, Level, SetLimits, Side, relation_contracts
from solvers.projection import project_prices
from solvers.separation import OutcomeOracle

__all__ = [
    "BookLookup",
    "Exclusion",
    "ScanCandidate",
    "Scanner",
    "ScannerConfig",
    "ScannerStats",
    "build_candidate_set",
    "unit_cost_floor_micro_usd",
]

BookLookup = Mapping[tuple[Venue, str], BinaryBook] | Callable[[Venue, str], "BinaryBook | None"]

_UNREACHABLE = 1 << 62  # "no path" in the difference closure; far above any micro-dollar sum
_WEIGHT_DENOMINATOR = 1 << 40  # integer weights of LP/projection witnesses
_RATIONAL_DENOMINATOR = 10**9  # largest denominator tried when reading LP weights back as rationals
_LP_INFEASIBLE_SLACK = -1e-9  # below this the vertex LP proves the box misses M
_MAX_DIFFERENCE_VARIABLES = 64  # larger difference blocks go to the general path (closure is cubic)


@dataclass(frozen=True, slots=True)
class ScannerConfig:
    """Scanner settings.

    max_book_age_ms: a book with no update for longer than this is stale and excluded
    slots_per_side: ask levels per listing put into a forwarded candidate set
    min_edge_micro_usd: clear components whose incoherence score delta is below this many
        micro-dollars per contract (0: clear only when no riskless profit exists at all); sound
        up to and including an allocator `min_profit_per_payout_usd` of this edge times the
        contracts a basket buys per $1 of payout (a plan earning exactly that much is accepted)
    max_enumerated_outcomes: blocks with at most this many feasible outcomes use the vertex LP
    projection_time_budget_ms / projection_max_iterations: limits of the search for blocks too large
        to enumerate: the KL projection's time and iterations, and the column generation's time
        and rounds (time on the injected clock, so on a frozen replay clock only the counts bind)
    set_limits: limits put on every forwarded candidate set
    """

    max_book_age_ms: int = 60_000
    slots_per_side: int = 5
    min_edge_micro_usd: int = 0
    max_enumerated_outcomes: int = 512
    projection_time_budget_ms: float = 50.0
    projection_max_iterations: int = 200
    set_limits: SetLimits = field(default_factory=SetLimits)

    def __post_init__(self) -> None:
        for name in (
            "max_book_age_ms",
            "slots_per_side",
            "min_edge_micro_usd",
            "max_enumerated_outcomes",
            "projection_max_iterations",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"scanner {name} must be a non-negative int, was {value!r}")
        if self.slots_per_side < 1:
            raise ConfigError(f"scanner slots_per_side must be >= 1, was {self.slots_per_side}")
        budget = self.projection_time_budget_ms
        if not isinstance(budget, int | float) or isinstance(budget, bool) or not math.isfinite(budget) or budget < 0:
            raise ConfigError(f"scanner projection_time_budget_ms must be a finite non-negative number, was {budget!r}")
        if not isinstance(self.set_limits, SetLimits):
            raise ConfigError(f"scanner set_limits must be a SetLimits, was {type(self.set_limits).__name__}")


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A listing left out of an evaluation. reason: missing | untrusted | stale | off_tick"""

    instrument_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ScanCandidate:
    """A component that may hold a riskless profit, with the candidate set built from current books.

    score_micro_usd: incoherence delta in micro-dollars per contract (see the module docstring)
    stage: what forwarded it: crossed | row | difference | vertex_lp | column_lp (proofs that the
        box misses M), undecided (no witness found) or error (the evaluation raised; see reasons)
    reasons: what failed, human-readable
    excluded: listings left out (missing, untrusted, stale or off-tick books)
    evaluated_ns: the injected clock's time of the evaluation
    """

    component_id: str
    score_micro_usd: int
    stage: str
    reasons: tuple[str, ...]
    candidate_set: CandidateSet
    excluded: tuple[Exclusion, ...]
    evaluated_ns: int


@dataclass(slots=True)
class ScannerStats:
    """Counters since construction. `cleared_by` and `forward_reasons` count by the deciding stage:
    no_listings | cached_point | structure | vertex_lp | projection | column_lp, and crossed | row
    | difference | vertex_lp | column_lp | undecided | error."""

    book_changes: int = 0  # on_book_change calls for known markets
    coalesced: int = 0  # of those, changes to a component already dirty (absorbed, no evaluation)
    unknown_markets: int = 0  # on_book_change calls for markets in no component (ignored)
    evaluations: int = 0
    cleared_by_bound: int = 0
    forwarded: int = 0  # candidates handed out by drain
    build_errors: int = 0  # forwarded components whose candidate set could not be built (dropped)
    cleared_by: Counter[str] = field(default_factory=Counter)
    forward_reasons: Counter[str] = field(default_factory=Counter)
    excluded_listings: Counter[str] = field(default_factory=Counter)  # per evaluation, by reason
    errors: Counter[str] = field(default_factory=Counter)  # "<evaluate|build|sweep>:<exception type>"


# -- exact unit costs --------------------------------------------------------------------------------
def _fee_floor_micro(rule: FeeRule, price_micro: int) -> int:
    """The unrounded taker fee of one contract at `price_micro`, floored to a micro-dollar (exact
    rational arithmetic, so the floor never lands above the real value)."""
    curve = Fraction(price_micro * (SCALE - price_micro), SCALE * SCALE) ** rule.exponent
    fee = Fraction(rule.coefficient) * Fraction(rule.multiplier) * curve + Fraction(rule.flat_per_contract_usd)
    return math.floor(fee * SCALE)


def unit_cost_floor_micro_usd(rule: FeeRule, price_micro: int) -> int:
    """Price plus the unrounded per-contract taker fee, floored, in micro-dollars: never above the
    allocator's unit cost, and never above an exact order's cost per contract by more than a
    round-down fee increment per order (Polymarket)."""
    return price_micro + _fee_floor_micro(rule, price_micro)


@functools.lru_cache(maxsize=1024)
def _cost_rises_with_price(rule: FeeRule) -> bool:
    """d/dP [P + k (P(1-P))^e] = 1 + k e (P(1-P))^(e-1) (1-2P) >= 1 - k e 4^(1-e) > 0 when
    k e 4^(1-e) < 1; then the best ask is also the cheapest unit (else every slot is checked)."""
    k = Fraction(rule.coefficient) * Fraction(rule.multiplier)
    return k * rule.exponent * Fraction(1, 4 ** (rule.exponent - 1)) < 1


def _lookup_function(books: BookLookup) -> Callable[[Venue, str], BinaryBook | None]:
    if isinstance(books, Mapping):
        get = books.get
        return lambda venue, market_id: get((venue, market_id))
    if callable(books):
        return books
    raise ConfigError(
        f"books must be a mapping (venue, market_id) -> BinaryBook or a callable, was {type(books).__name__}"
    )


def _exclusion_reason(book: BinaryBook | None, now_ns: int, max_age_ns: int) -> str | None:
    if book is None:
        return "missing"
    if not book.trusted:
        return "untrusted"
    if book.is_stale(now_ns, max_age_ns):
        return "stale"
    return None


def _best_ask_price(book: BinaryBook, side: Side) -> int | None:
    """The best ask of `side` in micro-dollars, without building level tuples (hot path)."""
    if side is Side.YES:
        best = book.yes.best_ask()
    elif book.no is not None:
        best = book.no.best_ask()
    else:  # Kalshi: NO asks are the mirrored YES bids
        bid = book.yes.best_bid()
        return None if bid is None else SCALE - bid[0]
    return None if best is None else best[0]


def _tick_micro(book: BinaryBook, side: Side, listing_tick_micro: int) -> int:
    """The tick of the ladder `side` is bought from: the venue's live value when the feed reported
    one (Polymarket's tick_size_change moves a market to $0.001 near 0 and 1), else the listing's
    tick from the market metadata."""
    ladder = book.no if side is Side.NO and book.no is not None else book.yes
    return ladder.tick_size_micro_usd or listing_tick_micro


_InstrumentCache = dict[str, tuple[tuple[tuple[int, int], ...], int, Instrument]]


def _instrument(listing: Listing, book: BinaryBook, slots: int, cache: _InstrumentCache | None = None) -> Instrument:
    ladder = book.asks(listing.side, slots)
    tick = _tick_micro(book, listing.side, listing.tick_size_micro)
    if cache is not None:
        hit = cache.get(listing.instrument_id)
        if hit is not None and hit[0] == ladder and hit[1] == tick:
            return hit[2]  # this listing's book did not move: the validated instrument still holds
    levels = []
    for price, size in ladder:
        if price % tick:
            break  # an off-grid level and everything deeper stay out (fewer levels: conservative)
        levels.append(Level(from_micro(price), from_micro(size)))
    instrument = _listing_instrument(listing, tuple(levels), tick)
    if cache is not None:
        cache[listing.instrument_id] = (ladder, tick, instrument)
    return instrument


def _listing_instrument(listing: Listing, asks: tuple[Level, ...], tick_micro: int) -> Instrument:
    """The allocator's instrument for a listing with these asks and tick."""
    return Instrument(
        id=listing.instrument_id,
        venue=listing.venue.value,
        contract=listing.contract,
        side=listing.side,
        asks=asks,
        fee=listing.taker_fee,
        lot_size=from_micro(listing.lot_size_micro),
        tick_size=from_micro(tick_micro),
        min_order_size=from_micro(listing.min_order_size_micro),
        buy_amount_increment_usd=_increment_usd(listing.buy_amount_increment_micro_usd),
        sell_amount_increment_usd=_increment_usd(listing.sell_amount_increment_micro_usd),
    )


def _increment_usd(micro_usd: int) -> Decimal | None:
    """A listing's order-amount increment as the instrument states it (0: no constraint, None)."""
    return from_micro(micro_usd) if micro_usd else None


def build_candidate_set(
    component: Component,
    books: BookLookup,
    *,
    now_ns: int,
    config: ScannerConfig = ScannerConfig(),
    instrument_cache: _InstrumentCache | None = None,
) -> tuple[CandidateSet, tuple[Exclusion, ...]]:
    """The candidate set of `component` at the current books: every usable listing with at most
    `slots_per_side` ask levels (exact Decimals), and the listings excluded with their reasons.
    The scanner's bound reads exactly the listings this keeps. `instrument_cache` (instrument id
    -> last ladder and its Instrument) skips rebuilding instruments whose ladder is unchanged."""
    lookup = _lookup_function(books)
    max_age_ns = config.max_book_age_ms * 1_000_000
    instruments = []
    excluded = []
    for listing in component.listings:
        book = lookup(listing.venue, listing.market_id)
        reason = _exclusion_reason(book, now_ns, max_age_ns)
        if reason is not None:
            excluded.append(Exclusion(listing.instrument_id, reason))
            continue
        assert book is not None  # a missing book has an exclusion reason
        best = _best_ask_price(book, listing.side)
        if best is not None and best % _tick_micro(book, listing.side, listing.tick_size_micro):
            excluded.append(Exclusion(listing.instrument_id, "off_tick"))
            continue
        instruments.append(_instrument(listing, book, config.slots_per_side, instrument_cache))
    candidate = CandidateSet(
        component.id,
        tuple(Contract(c) for c in component.contracts),
        tuple(instruments),
        tuple(component.relations),
        config.set_limits,
    )
    return candidate, tuple(excluded)


# -- per-component structure (built once per component) ---------------------------------------------
class _ListingSlot:
    """One listing and how its unit cost bounds its outcome variable: `upper` z_v <= cost, else
    z_v >= 1 - cost (YES of a contract bounds it from above, NO from below; parity swaps)."""

    __slots__ = ("costs", "fee", "listing", "market_id", "monotone", "side", "tick_micro", "upper", "var", "venue")

    def __init__(self, listing: Listing, var: int, parity: int, cost_tables: dict[FeeRule, dict[int, int]]) -> None:
        self.listing = listing
        self.venue = listing.venue
        self.market_id = listing.market_id
        self.side = listing.side
        self.var = var
        self.upper = (listing.side is Side.YES) != bool(parity)
        self.fee = listing.taker_fee
        self.tick_micro = listing.tick_size_micro
        self.monotone = _cost_rises_with_price(listing.taker_fee)
        # price micro -> unit cost floor micro (exact, memoised), shared by every listing with this
        # fee rule: a graph has a handful of rules, so after warm-up a cost is one dict lookup
        self.costs = cost_tables.setdefault(listing.taker_fee, {})

    def unit_cost(self, price: int) -> int:
        cost = self.costs.get(price)
        if cost is None:
            cost = self.costs[price] = unit_cost_floor_micro_usd(self.fee, price)
        return cost


@dataclass(slots=True)
class _Witness:
    """An exact point of the block's polytope: mu_v = numerators[j] / denominator (dollars) for the
    block's j-th variable."""

    numerators: list[int]
    denominator: int

    def inside(self, variables: tuple[int, ...], lo: list[int], hi: list[int]) -> bool:
        den = self.denominator
        if den == SCALE:
            for j, v in enumerate(variables):
                value = self.numerators[j]
                if value < lo[v] or value > hi[v]:
                    return False
            return True
        for j, v in enumerate(variables):
            value = self.numerators[j] * SCALE
            if value < lo[v] * den or value > hi[v] * den:
                return False
        return True


@dataclass(slots=True)
class _Outcome:
    """A block's verdict: a witness (clear), or a violation delta (forward); `stage` names the method."""

    witness: _Witness | None
    delta_micro: int
    stage: str
    reason: str = ""


class _Block:
    """Variables coupled by relations, with the data of the method that decides them exactly."""

    __slots__ = (
        "closure",
        "columns",
        "flips",
        "kind",
        "names",
        "offset",
        "oracle",
        "row",
        "sub_contracts",
        "system",
        "to_block",
        "variables",
        "vertices",
        "witness",
    )

    def __init__(self, variables: tuple[int, ...], names: tuple[str, ...], kind: str) -> None:
        self.variables = variables
        self.names = names  # representative contract of each variable
        self.kind = kind  # "row" | "difference" | "vertices" | "projection"
        self.row: tuple[tuple[tuple[int, int], ...], int | None, int | None] | None = None  # local coefs
        self.flips: tuple[int, ...] = ()
        self.closure: tuple[tuple[int, ...], ...] = ()
        self.vertices: np.ndarray | None = None  # (k, len(variables)) int64 feasible outcomes
        self.system: OutcomeSystem | None = None
        self.sub_contracts: tuple[tuple[str, int, int], ...] = ()  # (contract, local variable, parity)
        self.witness: _Witness | None = None
        # kind "projection": z_block = z_sub @ to_block + offset; the outcome oracle of `system`
        # (built at first use) and the pool of verified outcomes (block coordinates) kept across
        # evaluations, so column generation restarts warm
        self.to_block: np.ndarray | None = None
        self.offset: np.ndarray | None = None
        self.oracle: OutcomeOracle | None = None
        self.columns: dict[bytes, np.ndarray] = {}


_KIND_COST = {"row": 0, "difference": 1, "vertices": 2, "projection": 3}


def _projection_parts(block: _Block) -> tuple[OutcomeSystem, np.ndarray, np.ndarray]:
    """(system, to_block, offset) of a block of kind "projection", where `_general_block` sets them."""
    system, to_block, offset = block.system, block.to_block, block.offset
    assert system is not None and to_block is not None and offset is not None, block.kind
    return system, to_block, offset


class _ComponentPlan:
    __slots__ = ("blocks", "component", "n_vars", "slots", "var_names")

    def __init__(self, component: Component, config: ScannerConfig, cost_tables: dict[FeeRule, dict[int, int]]) -> None:
        self.component = component
        try:
            # Validates ids, listings (one per venue/contract/side), relation members.
            CandidateSet(
                component.id,
                tuple(Contract(c) for c in component.contracts),
                tuple(_instrument_shell(li) for li in component.listings),
                tuple(component.relations),
            )
            system = OutcomeSystem(component.contracts, component.relations, with_risky_links=True)
        except DataError as exc:
            raise ConfigError(f"component {component.id}: {exc}") from exc
        self.n_vars = system.n
        self.var_names = system.names
        self.slots = tuple(_ListingSlot(li, *system.literal[li.contract], cost_tables) for li in component.listings)
        self.blocks = _blocks(component, system, config)


def _instrument_shell(listing: Listing) -> Instrument:
    if not isinstance(listing, Listing):
        raise DataError(f"listings must be Listing, was {type(listing).__name__}")
    for name in ("lot_size_micro", "tick_size_micro"):
        value = getattr(listing, name)
        if not isinstance(value, int) or value <= 0:
            raise DataError(f"listing {listing.instrument_id} {name} must be a positive int, was {value!r}")
    for name in ("min_order_size_micro", "buy_amount_increment_micro_usd", "sell_amount_increment_micro_usd"):
        value = getattr(listing, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise DataError(f"listing {listing.instrument_id} {name} must be a non-negative int, was {value!r}")
    if not isinstance(listing.venue, Venue):
        raise DataError(f"listing {listing.instrument_id} venue must be a Venue, was {listing.venue!r}")
    return _listing_instrument(listing, (), listing.tick_size_micro)


def _blocks(component: Component, system: OutcomeSystem, config: ScannerConfig) -> tuple[_Block, ...]:
    """Split the variables into independent blocks (joined by any relation) and pick each block's
    exact method. Variables with no row are free: only their own box matters."""
    parent = list(range(system.n))

    def root(v: int) -> int:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for relation in component.relations:
        linked = [system.literal[c][0] for c in relation_contracts(relation)]
        for v in linked[1:]:
            parent[root(v)] = root(linked[0])
    rows_by_root: dict[int, list[OutcomeRow]] = {}
    for row in system.rows:
        rows_by_root.setdefault(root(row.coefs[0][0]), []).append(row)
    blocks: list[_Block] = []
    for block_root, rows in rows_by_root.items():
        variables = tuple(v for v in range(system.n) if root(v) == block_root)
        local = {v: j for j, v in enumerate(variables)}
        names = tuple(system.names[v] for v in variables)
        unit = all(abs(coef) == 1 for row in rows for _, coef in row.coefs)
        if unit and len(rows) == 1:
            block = _Block(variables, names, "row")
            [row] = rows
            block.row = (tuple((local[v], coef) for v, coef in row.coefs), row.lo, row.hi)
        elif (
            unit
            and all(len(row.coefs) == 2 for row in rows)
            and len(variables) <= _MAX_DIFFERENCE_VARIABLES
            and (system_of_differences := _difference_system(len(variables), _canonical_rows(rows, local))) is not None
        ):
            block = _Block(variables, names, "difference")
            block.flips, block.closure = system_of_differences
            if any(block.closure[j][j] < 0 for j in range(len(variables))):
                raise ConfigError(f"component {component.id}: the relations over {names} admit no outcome")
        else:
            block = _general_block(component, system, variables, names, block_root, root, config)
        blocks.append(block)
    blocks.sort(key=lambda b: (_KIND_COST[b.kind], b.variables))
    return tuple(blocks)


_LocalRows = tuple[
    tuple[tuple[tuple[int, int], ...], int | None, int | None], ...
]  # (coefs, lo, hi) over local variables


def _canonical_rows(rows: Sequence[OutcomeRow], local: Mapping[int, int]) -> _LocalRows:
    """Rows over local variables in a canonical order (the memo key). Two rows may share their
    coefficients with one bound open (None) where the other is closed, so None sorts first."""

    def key(row: tuple[tuple[tuple[int, int], ...], int | None, int | None]) -> tuple[object, ...]:
        coefs, lo, hi = row
        return coefs, lo is not None, lo or 0, hi is not None, hi or 0

    return tuple(sorted(((tuple((local[v], c) for v, c in row.coefs), row.lo, row.hi) for row in rows), key=key))


@functools.lru_cache(maxsize=4096)
def _difference_system(k: int, rows: _LocalRows) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]] | None:
    """(flips, closure) of two-variable rows over k local variables, or None when unbalanced.
    Memoised: graphs repeat a few shapes (ladders of a few strikes) thousands of times."""
    flips = _balance(k, rows)
    if flips is None:
        return None
    return tuple(flips), tuple(tuple(line) for line in _difference_closure(k, rows, flips))


def _balance(k: int, rows: _LocalRows) -> list[int] | None:
    """Complement flags making every two-variable row a difference (opposite signs), or None."""
    # same signs: exactly one of the two must be complemented
    flips = signed_parity((u, v, int(a == b)) for ((u, a), (v, b)), _, _ in rows)
    return None if flips is None else [flips.get(j, 0) for j in range(k)]


def _difference_closure(k: int, rows: _LocalRows, flips: list[int]) -> list[list[int]]:
    """closure[v][u] = tightest c (micro) with x_u - x_v <= c implied by the rows (Floyd-Warshall),
    in complemented coordinates x_j = z_j, or SCALE - z_j where flips[j]."""
    dist = [[0 if i == j else _UNREACHABLE for j in range(k)] for i in range(k)]

    def bound(i: int, j: int, c: int) -> None:  # x_j - x_i <= c: edge i -> j
        if c < dist[i][j]:
            dist[i][j] = c

    for coefs, row_lo, row_hi in rows:
        (u, a), (v, b) = coefs
        constant = 0
        if flips[u]:
            constant += a * SCALE
            a = -a
        if flips[v]:
            constant += b * SCALE
            b = -b
        lo = None if row_lo is None else row_lo * SCALE - constant
        hi = None if row_hi is None else row_hi * SCALE - constant
        if a < 0:  # make it x_u - x_v in [lo, hi]
            u, v = v, u
        if hi is not None:
            bound(v, u, hi)  # x_u - x_v <= hi
        if lo is not None:
            bound(u, v, -lo)  # x_v - x_u <= -lo
    for m in range(k):
        dm = dist[m]
        for i in range(k):
            dim = dist[i][m]
            if dim >= _UNREACHABLE:
                continue
            di = dist[i]
            for j in range(k):
                through = dim + dm[j]
                if through < di[j]:
                    di[j] = through
    return dist


def _general_block(
    component: Component,
    system: OutcomeSystem,
    variables: tuple[int, ...],
    names: tuple[str, ...],
    block_root: int,
    root: Callable[[int], int],
    config: ScannerConfig,
) -> _Block:
    """Enumerate the block's own outcome system (its contracts and relations only); keep the
    vertices in the block's variable order when there are few enough, else plan a projection."""
    contracts = tuple(c for c in component.contracts if root(system.literal[c][0]) == block_root)
    members = set(contracts)
    relations = tuple(r for r in component.relations if set(relation_contracts(r)) <= members)
    try:
        sub = OutcomeSystem(contracts, relations, with_risky_links=True)
        found = sub.enumerate(config.max_enumerated_outcomes)
    except DataError as exc:
        raise ConfigError(f"component {component.id}: {exc}") from exc
    local = {v: j for j, v in enumerate(variables)}
    sub_contracts = []
    to_block = np.zeros((sub.n, len(variables)), dtype=np.int64)  # sub variable -> block variable
    offset = np.zeros(len(variables), dtype=np.int64)
    for contract in contracts:
        sv, sp = sub.literal[contract]
        v, p = system.literal[contract]
        sub_contracts.append((contract, local[v], p))
        to_block[sv, local[v]] = 1 - 2 * (sp ^ p)  # z_v = z_sv, or 1 - z_sv when parities differ
        offset[local[v]] = sp ^ p
    if found is not None:
        block = _Block(variables, names, "vertices")
        block.vertices = found.astype(np.int64) @ to_block + offset
    else:
        block = _Block(variables, names, "projection")
        block.system = sub
        block.to_block, block.offset = to_block, offset
    block.sub_contracts = tuple(sub_contracts)
    return block


# -- deciding one block -------------------------------------------------------------------------------
def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _decide_row(block: _Block, lo: list[int], hi: list[int]) -> _Outcome:
    assert block.row is not None  # set for kind "row"
    coefs, row_lo, row_hi = block.row
    variables = block.variables
    # start at the minimum-activity corner, then raise greedily towards the row's lower bound
    point = [lo[variables[j]] if a > 0 else hi[variables[j]] for j, a in coefs]
    low = sum(a * x for (_, a), x in zip(coefs, point))
    high = sum(a * (hi[variables[j]] if a > 0 else lo[variables[j]]) for j, a in coefs)
    if row_hi is not None and low > row_hi * SCALE:
        excess = low - row_hi * SCALE
        # a rise of every ask by delta lowers each bound of the minimum-activity corner by delta,
        # until it reaches 0 or $1
        room = [x if a > 0 else SCALE - x for (_, a), x in zip(coefs, point)]
        return _Outcome(
            None,
            _uniform_rise(room, excess),
            "row",
            f"{_members(block)}: the NO basket costs {from_micro(excess)} less than it surely pays",
        )
    if row_lo is not None and high < row_lo * SCALE:
        deficit = row_lo * SCALE - high
        room = [SCALE - hi[variables[j]] if a > 0 else lo[variables[j]] for j, a in coefs]
        return _Outcome(
            None,
            _uniform_rise(room, deficit),
            "row",
            f"{_members(block)}: the YES basket costs {from_micro(deficit)} less than it surely pays",
        )
    need = 0 if row_lo is None else max(0, row_lo * SCALE - low)
    numerators = [lo[v] for v in variables]  # a block variable outside the row: anything in its box
    for k, (j, a) in enumerate(coefs):
        v = variables[j]
        spare = hi[v] - lo[v]
        step = min(need, spare)
        need -= step
        numerators[j] = point[k] + step if a > 0 else point[k] - step
    return _Outcome(_Witness(numerators, SCALE), 0, "structure")


def _decide_difference(block: _Block, lo: list[int], hi: list[int]) -> _Outcome:
    variables, flips, closure = block.variables, block.flips, block.closure
    k = len(variables)
    xlo = [SCALE - hi[v] if f else lo[v] for v, f in zip(variables, flips)]
    xhi = [SCALE - lo[v] if f else hi[v] for v, f in zip(variables, flips)]
    x = [0] * k
    worst = 0
    worst_pair = (0, 0)
    for u in range(k):
        best, via = xhi[u], u
        for v in range(k):
            d = closure[v][u]
            if d < _UNREACHABLE and xhi[v] + d < best:
                best, via = xhi[v] + d, v
        if xlo[u] - best > worst:
            worst, worst_pair = xlo[u] - best, (via, u)
        x[u] = best
    if worst > 0:
        v, u = worst_pair
        return _Outcome(
            None,
            _difference_delta(closure, xlo, xhi),
            "difference",
            f"{block.names[v]} vs {block.names[u]}: a hedged basket costs {from_micro(worst)} less than it surely pays",
        )
    numerators = [SCALE - xj if f else xj for xj, f in zip(x, flips)]
    return _Outcome(_Witness(numerators, SCALE), 0, "structure")


def _uniform_rise(room: list[int], need: int) -> int:
    """Smallest integer delta with sum(min(delta, r) for r in room) >= need: how far every ask must
    rise to close a row's shortfall when each bound can only move by its room before reaching 0
    or $1 (water-filling over the rooms, smallest first)."""
    rooms = sorted(room)
    filled = 0
    for i, r in enumerate(rooms):
        left = len(rooms) - i
        if need - filled <= r * left:
            return max(1, _ceil_div(need - filled, left))
        filled += r
    return max(1, need - filled)  # unreachable for satisfiable relations (at delta = $1 the box is [0, 1])


def _difference_delta(closure: tuple[tuple[int, ...], ...], xlo: list[int], xhi: list[int]) -> int:
    """The smallest uniform rise delta of the asks after which max(0, xlo_u - delta) <=
    min(1, xhi_v + delta) + closure[v][u] for every pair, which is when the difference system
    meets the box: per pair, half the gap while both bounds can move, else the gap against the
    bound that reached 0 or $1. Only called once a violation is known."""
    k = len(xlo)
    delta = 0
    for u in range(k):
        for v in range(k):
            d = closure[v][u]
            if d >= _UNREACHABLE or v == u or xlo[u] - xhi[v] - d <= 0:
                continue
            need = max(_ceil_div(xlo[u] - xhi[v] - d, 2), xlo[u] - SCALE - d, -xhi[v] - d)
            if need > delta:
                delta = need
    return delta


def _integer_witness(vertices: np.ndarray, weights: np.ndarray) -> _Witness:
    """Round convex weights to integers summing exactly to the denominator: the result is still a
    convex combination of feasible outcomes, hence exactly in M, whatever the float error."""
    scaled = np.floor(np.clip(weights, 0.0, None) * _WEIGHT_DENOMINATOR).astype(np.int64)
    scaled[int(np.argmax(scaled))] += _WEIGHT_DENOMINATOR - int(scaled.sum())
    numerators = [int(value) for value in scaled @ vertices]  # <= 2**40: exact in int64
    return _Witness(numerators, _WEIGHT_DENOMINATOR)


def _rational_witness(vertices: np.ndarray, weights: np.ndarray) -> _Witness | None:
    """The LP's weights read back as the small-denominator rationals they approximate (a basic
    solution over micro-dollar bounds and 0/1 vertices has such weights): when the box only
    touches M, the float weights land a hair outside it, but their exact values do not. None
    unless the rationals are non-negative and sum to exactly 1 (so the point is exactly in M)."""
    fractions = [Fraction(float(w)).limit_denominator(_RATIONAL_DENOMINATOR) for w in weights]
    if any(f < 0 for f in fractions) or sum(fractions) != 1:
        return None
    denominator = math.lcm(*(f.denominator for f in fractions))
    scaled = [f.numerator * (denominator // f.denominator) for f in fractions]
    numerators = [sum(w * int(z) for w, z in zip(scaled, column) if w) for column in vertices.T]
    return _Witness(numerators, denominator)


def _box_lp(block: _Block, vertices: np.ndarray, lo: list[int], hi: list[int]) -> OptimizeResult:
    """max s s.t. lo + s <= V^T lam <= hi - s, sum lam = 1, lam >= 0 (prices in dollars)."""
    k, n = vertices.shape
    lo_usd = np.array([lo[v] for v in block.variables], dtype=float) / SCALE
    hi_usd = np.array([hi[v] for v in block.variables], dtype=float) / SCALE
    vt = vertices.T.astype(float)
    a_ub = np.block([[-vt, np.ones((n, 1))], [vt, np.ones((n, 1))]])
    b_ub = np.concatenate([-lo_usd, hi_usd])
    a_eq = np.concatenate([np.ones(k), [0.0]])[None, :]
    cost = np.zeros(k + 1)
    cost[-1] = -1.0
    bounds = [(0.0, None)] * k + [(-1.0, 1.0)]
    return linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs")


def _verified_witness(
    block: _Block, vertices: np.ndarray, weights: np.ndarray, lo: list[int], hi: list[int]
) -> _Witness | None:
    """A convex combination of `vertices` (feasible outcomes) inside the box, exactly: the float
    weights rounded to integers, else read back as exact rationals (when the box only touches M
    the rounded point lands a hair outside it; the LP's exact basic solution does not)."""
    witness = _integer_witness(vertices, weights)
    if witness.inside(block.variables, lo, hi):
        return witness
    rational = _rational_witness(vertices, weights)
    if rational is not None and rational.inside(block.variables, lo, hi):
        return rational
    return None


def _infeasible(block: _Block, slack: float, stage: str) -> _Outcome:
    delta = max(1, math.ceil(-slack * SCALE - 1e-6))
    return _Outcome(
        None,
        delta,
        stage,
        f"{_members(block)}: no coherent prices within the asks (short by {delta / SCALE:.6f} per contract)",
    )


def _decide_vertices(block: _Block, lo: list[int], hi: list[int]) -> _Outcome:
    vertices = block.vertices
    assert vertices is not None  # set for kind "vertices"
    result = _box_lp(block, vertices, lo, hi)
    if result.status != 0:
        return _Outcome(None, 0, "undecided", f"{_members(block)}: vertex LP status {result.status} ({result.message})")
    slack = -float(result.fun)
    if slack < _LP_INFEASIBLE_SLACK:
        return _infeasible(block, slack, "vertex_lp")
    witness = _verified_witness(block, vertices, result.x[: len(vertices)], lo, hi)
    if witness is not None:
        return _Outcome(witness, 0, "vertex_lp")
    return _Outcome(None, 0, "undecided", f"{_members(block)}: coherent prices only at the edge of the asks")


def _decide_large(
    block: _Block, lo: list[int], hi: list[int], config: ScannerConfig, clock_s: Callable[[], float]
) -> _Outcome:
    """A block too large to enumerate. The first time (empty outcome pool) KL-project the box
    midpoint: its active vertices may already give a witness, and they seed the pool. Then column
    generation: the vertex LP over the pool, priced by the block's MIP outcome oracle, exact in
    both directions (a witness is checked exactly; "no coherent prices" only once no outcome
    prices out). Both share the time budget and the round limit."""
    budget_s = config.projection_time_budget_ms / 1000.0
    deadline = clock_s() + budget_s
    if not block.columns:  # half the budget at most, so column generation gets the rest
        outcome, vertices = _decide_projection(block, lo, hi, config, clock_s, budget_s / 2)
        for z in vertices:
            block.columns.setdefault(z.astype(np.uint8).tobytes(), z)
        if outcome.witness is not None or clock_s() >= deadline:
            return outcome
    return _decide_columns(block, lo, hi, config, clock_s, deadline)


_MAX_COLUMNS_PER_VARIABLE = 4  # pool cap (times the block's variables + 1); the LP support is kept


def _decide_columns(
    block: _Block, lo: list[int], hi: list[int], config: ScannerConfig, clock_s: Callable[[], float], deadline: float
) -> _Outcome:
    system, to_block, _ = _projection_parts(block)
    try:
        if block.oracle is None:
            block.oracle = OutcomeOracle(system)
            z = _to_block_outcome(block, block.oracle.minimize(np.zeros(system.n))[1])
            if z is not None:
                block.columns.setdefault(z.astype(np.uint8).tobytes(), z)
        oracle = block.oracle
        n = len(block.variables)
        for _ in range(max(1, config.projection_max_iterations)):
            vertices = np.array(list(block.columns.values()), dtype=np.int64).reshape(-1, n)
            result = _box_lp(block, vertices, lo, hi)
            if result.status != 0:
                return _Outcome(
                    None, 0, "undecided", f"{_members(block)}: column LP status {result.status} ({result.message})"
                )
            weights = result.x[: len(vertices)]
            if -float(result.fun) >= 0.0:  # the pool already holds a point of M in the box
                witness = _verified_witness(block, vertices, weights, lo, hi)
                if witness is not None:
                    _trim_pool(block, vertices, weights)
                    return _Outcome(witness, 0, "column_lp")
            # reduced cost of an outcome z: (u_lo - u_hi).z - u_eq, with the LP's marginals
            marginals = np.asarray(result.ineqlin.marginals, dtype=float)
            reduced = marginals[:n] - marginals[n:]
            _, z_sub = oracle.minimize(to_block @ reduced)  # min over Z of reduced . z (block coordinates)
            z = _to_block_outcome(block, z_sub)
            if z is None:
                return _Outcome(
                    None, 0, "undecided", f"{_members(block)}: the outcome oracle returned an infeasible outcome"
                )
            price = float(reduced @ z) - float(result.eqlin.marginals[0])
            key = z.astype(np.uint8).tobytes()
            if price >= -1e-9 or key in block.columns:  # no outcome improves the LP: it is exact
                slack = -float(result.fun)
                _trim_pool(block, vertices, weights)
                if slack < _LP_INFEASIBLE_SLACK:
                    return _infeasible(block, slack, "column_lp")
                return _Outcome(
                    None, 0, "undecided", f"{_members(block)}: coherent prices only at the edge of the asks"
                )
            block.columns[key] = z
            if clock_s() >= deadline:
                break
    except SolverError as exc:  # the oracle failed: no witness, so the allocator decides
        return _Outcome(None, 0, "undecided", f"{_members(block)}: outcome oracle failed ({exc})")
    return _Outcome(None, 0, "undecided", f"{_members(block)}: column generation stopped at its budget")


def _to_block_outcome(block: _Block, z_sub: np.ndarray) -> np.ndarray | None:
    """An oracle outcome in block coordinates, or None unless it satisfies every relation exactly."""
    system, to_block, offset = _projection_parts(block)
    z_sub = np.asarray(z_sub, dtype=np.int64)
    if not system.is_feasible(tuple(int(v) for v in z_sub)):
        return None
    return z_sub @ to_block + offset


def _trim_pool(block: _Block, vertices: np.ndarray, weights: np.ndarray) -> None:
    """Bound the pool: past the cap keep the LP's support and the newest outcomes."""
    cap = _MAX_COLUMNS_PER_VARIABLE * (len(block.variables) + 1)
    if len(block.columns) <= cap:
        return
    keys = list(block.columns)
    keep = {keys[i] for i in np.flatnonzero(weights > 0)} | set(keys[-(cap // 2) :])
    block.columns = {key: block.columns[key] for key in keys if key in keep}


def _decide_projection(
    block: _Block, lo: list[int], hi: list[int], config: ScannerConfig, clock_s: Callable[[], float], budget_s: float
) -> tuple[_Outcome, list[np.ndarray]]:
    """KL-project the box midpoint; accept the projection's active vertices if they verify.
    Returns the verdict and the active vertices that satisfy the relations (block coordinates)."""
    system, _, _ = _projection_parts(block)
    prices = []
    for _, j, parity in block.sub_contracts:
        v = block.variables[j]
        a, b = (SCALE - hi[v], SCALE - lo[v]) if parity else (lo[v], hi[v])
        prices.append(min(0.999, max(0.001, (a + b) / (2 * SCALE))))
    try:
        result = project_prices(
            system,
            prices,
            time_budget_s=budget_s,
            max_iterations=config.projection_max_iterations,
            clock=clock_s,
        )
    except SolverError as exc:  # the oracle failed: no witness, so the allocator decides
        return _Outcome(None, 0, "undecided", f"{_members(block)}: projection failed ({exc})"), []
    vertices = np.zeros((len(result.vertices), len(block.variables)), dtype=np.int64)
    for column, (_, j, parity) in enumerate(block.sub_contracts):
        vertices[:, j] = np.asarray(result.vertices[:, column], dtype=np.int64) ^ parity
    # the witness is only as good as its vertices: keep those that satisfy every relation
    feasible = np.array([_to_block_outcome(block, _to_sub_outcome(block, z)) is not None for z in vertices], dtype=bool)
    weights = np.where(feasible, np.asarray(result.weights, dtype=float), 0.0)
    kept = [z for z, ok in zip(vertices, feasible) if ok]
    if feasible.any():
        witness = _integer_witness(vertices[feasible], weights[feasible])
        if witness.inside(block.variables, lo, hi):
            return _Outcome(witness, 0, "projection"), kept
    return _Outcome(
        None,
        0,
        "undecided",
        f"{_members(block)}: projection of the ask midpoints is not within the asks (D={result.divergence:.3g})",
    ), kept


def _to_sub_outcome(block: _Block, z_block: np.ndarray) -> np.ndarray:
    """Block coordinates back to the block's own system's variables (z_sv = z_v ^ sp ^ p)."""
    system, _, _ = _projection_parts(block)
    z_sub = np.zeros(system.n, dtype=np.int64)
    for contract, j, parity in block.sub_contracts:
        sv, sp = system.literal[contract]
        z_sub[sv] = int(z_block[j]) ^ parity ^ sp
    return z_sub


def _members(block: _Block) -> str:
    shown = ", ".join(block.names[:6])
    return f"[{shown}{', ...' if len(block.names) > 6 else ''}]"


# -- the scanner ----------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Verdict:
    cleared: bool
    stage: str
    score_micro_usd: int
    reasons: tuple[str, ...]
    excluded: tuple[Exclusion, ...]


class Scanner:
    """Dirty marking, coalescing, cheap exact bounds and ranking over the graph's components.

    books: (venue, market_id) -> BinaryBook | None, as a mapping or a callable; read at drain time
    now_ns: injected clock (staleness, projection budget, candidate timestamps)
    Use: on_book_change per book event; drain when ready to solve; sweep periodically (staleness
    has no events); take_withdrawn after a drain to drop sets that are no longer candidates.
    Not thread-safe: one owner calls all of them.
    """

    def __init__(
        self,
        components: Sequence[Component],
        books: BookLookup,
        *,
        now_ns: Callable[[], int],
        config: ScannerConfig = ScannerConfig(),
    ) -> None:
        if not isinstance(config, ScannerConfig):
            raise ConfigError(f"config must be a ScannerConfig, was {type(config).__name__}")
        self.config = config
        self.stats = ScannerStats()
        self._books = books
        self._lookup = _lookup_function(books)
        self._now_ns = now_ns
        self._max_age_ns = config.max_book_age_ms * 1_000_000
        self._plans: dict[str, _ComponentPlan] = {}
        self._by_market: dict[tuple[Venue, str], tuple[str, ...]] = {}
        self._dirty: dict[str, None] = {}  # insertion-ordered set
        # component -> its stale/untrusted/missing exclusions at the last evaluation, for every
        # forwarded or partly excluded component (what sweep() re-checks)
        self._watch: dict[str, tuple[Exclusion, ...]] = {}
        # returned by a drain and not cleared since, in the order they were forwarded (an
        # insertion-ordered set: withdrawals leave in a fixed order, never in string-hash order)
        self._live: dict[str, None] = {}
        self._withdrawn: dict[str, None] = {}  # live components cleared since, for take_withdrawn
        self._instruments: _InstrumentCache = {}  # instruments of forwarded sets, by ladder
        self._cost_tables: dict[FeeRule, dict[int, int]] = {}  # fee rule -> price -> unit cost floor
        self.replace_components(components)

    # -- graph ---------------------------------------------------------------------------------
    def replace_components(self, components: Sequence[Component]) -> None:
        """Adopt a rebuilt graph. Unchanged components keep their cached witnesses and dirty state;
        new or changed ones are dirty; vanished ones are forgotten. Raises ConfigError (and keeps
        the old graph) when a component is invalid."""
        plans: dict[str, _ComponentPlan] = {}
        for component in components:
            if not isinstance(component, Component):
                raise ConfigError(f"components must be Component, was {type(component).__name__}")
            if component.id in plans:
                raise ConfigError(f"component id {component.id!r} appears twice")
            old = self._plans.get(component.id)
            plans[component.id] = (
                old
                if old is not None and old.component == component
                else _ComponentPlan(component, self.config, self._cost_tables)
            )
        dirty = {cid: None for cid in self._dirty if cid in plans and plans[cid] is self._plans.get(cid)}
        for cid, plan in plans.items():
            if plan is not self._plans.get(cid):
                dirty[cid] = None
        by_market: dict[tuple[Venue, str], list[str]] = {}
        for cid, plan in plans.items():
            for slot in plan.slots:
                members = by_market.setdefault((slot.venue, slot.market_id), [])
                if cid not in members:
                    members.append(cid)
        for cid in self._live:
            if cid not in plans:  # vanished: the consumer must drop their sets
                self._withdrawn[cid] = None
        self._live = {cid: None for cid in self._live if cid in plans}
        self._watch = {
            cid: sig for cid, sig in self._watch.items() if cid in plans and plans[cid] is self._plans.get(cid)
        }
        self._plans = plans
        self._dirty = dirty
        self._instruments = {}  # listings may have changed metadata
        self._by_market = {key: tuple(ids) for key, ids in by_market.items()}

    @property
    def component_ids(self) -> tuple[str, ...]:
        return tuple(self._plans)

    @property
    def dirty_ids(self) -> tuple[str, ...]:
        return tuple(self._dirty)

    def is_dirty(self, component_id: str) -> bool:
        return component_id in self._dirty

    # -- events --------------------------------------------------------------------------------
    def on_book_change(self, venue: Venue, market_id: str) -> bool:
        """Mark the component(s) of that market dirty; O(1). Unknown markets are counted and
        ignored (returns False)."""
        ids = self._by_market.get((venue, market_id))
        if ids is None:
            self.stats.unknown_markets += 1
            return False
        self.stats.book_changes += 1
        dirty = self._dirty
        for cid in ids:
            if cid in dirty:
                self.stats.coalesced += 1
            else:
                dirty[cid] = None
        return True

    def mark_all_dirty(self) -> None:
        """E.g. after a reconnect or a clock jump: every component is evaluated at the next drain."""
        for cid in self._plans:
            self._dirty.setdefault(cid, None)

    def sweep(self) -> int:
        """Mark dirty the components whose book exclusions changed without a book change event,
        and return how many: a book that went stale (a silent feed sends nothing) under a
        forwarded component, so its set is re-issued without it or withdrawn; and a book excluded
        as stale, untrusted or missing at the last evaluation that is usable again (a revived feed
        may only `touch` its book). Cleared components with every book usable are not looked at:
        losing a book only removes buys, so they stay cleared. Cost: the listings of the forwarded
        and of the partly excluded components, never the whole graph; call it periodically (say
        every `max_book_age_ms` / 2 on the injected clock)."""
        now = self._now_ns()
        lookup, max_age, dirty = self._lookup, self._max_age_ns, self._dirty
        marked = 0
        for cid, excluded in self._watch.items():
            if cid in dirty:
                continue
            current: list[Exclusion | None] = []
            try:
                for slot in self._plans[cid].slots:
                    reason = _exclusion_reason(lookup(slot.venue, slot.market_id), now, max_age)
                    if reason is not None:
                        current.append(Exclusion(slot.listing.instrument_id, reason))
            except Exception as exc:  # noqa: BLE001 - a failing book lookup: let the drain evaluate (and count) it
                self.stats.errors[f"sweep:{type(exc).__name__}"] += 1
                current = [None]  # differs from any recorded exclusions
            if tuple(current) != excluded:
                dirty[cid] = None
                marked += 1
        return marked

    def take_withdrawn(self) -> tuple[str, ...]:
        """Ids of components returned by an earlier drain that a later drain cleared (or dropped,
        or that left the graph), oldest first, and forget them: the consumer should drop their
        candidate sets. A component forwarded again leaves this list."""
        withdrawn = tuple(self._withdrawn)
        self._withdrawn.clear()
        return withdrawn

    def drain(self, max_components: int | None = None) -> list[ScanCandidate]:
        """Evaluate every dirty component at the current books; return the forwarded ones, highest
        score first (ties by id), at most `max_components` of them. Cleared and returned components
        become clean; forwarded ones beyond the limit stay dirty."""
        if max_components is not None and (not isinstance(max_components, int) or max_components < 0):
            raise ConfigError(f"max_components must be a non-negative int or None, was {max_components!r}")
        if not self._dirty:
            return []
        now = self._now_ns()
        forwarded: list[tuple[int, str, _Verdict]] = []
        watch = self._watch
        for cid in list(self._dirty):
            try:
                verdict = self._evaluate(self._plans[cid], now)
            except Exception as exc:  # noqa: BLE001 - a bug in one component's bound: forward it, keep scanning
                self.stats.errors[f"evaluate:{type(exc).__name__}"] += 1
                verdict = _Verdict(False, "error", 0, (f"evaluation failed: {type(exc).__name__}: {exc}",), ())
            # what sweep() compares against: exclusions that can change without a book event
            stale_sensitive = tuple(e for e in verdict.excluded if e.reason != "off_tick") if verdict.excluded else ()
            if verdict.cleared:
                del self._dirty[cid]
                if stale_sensitive:
                    watch[cid] = stale_sensitive
                elif cid in watch:
                    del watch[cid]
                if cid in self._live:
                    del self._live[cid]
                    self._withdrawn[cid] = None
            else:
                watch[cid] = stale_sensitive
                forwarded.append((-verdict.score_micro_usd, cid, verdict))
        if not forwarded:
            return []
        forwarded.sort(key=lambda item: (item[0], item[1]))
        if max_components is not None:
            forwarded = forwarded[:max_components]
        out = []
        for _, cid, verdict in forwarded:
            del self._dirty[cid]
            try:
                candidate, _ = build_candidate_set(
                    self._plans[cid].component,
                    self._books,
                    now_ns=now,
                    config=self.config,
                    instrument_cache=self._instruments,
                )
            except Exception as exc:  # noqa: BLE001 - see below
                # Books hold only validated levels, so this is a bug; one set must not stop the scan.
                self.stats.build_errors += 1
                self.stats.errors[f"build:{type(exc).__name__}"] += 1
                if cid in self._live:  # the consumer's copy is outdated and there is no new one
                    del self._live[cid]
                    self._withdrawn[cid] = None
                continue
            out.append(
                ScanCandidate(
                    cid, verdict.score_micro_usd, verdict.stage, verdict.reasons, candidate, verdict.excluded, now
                )
            )
            self.stats.forward_reasons[verdict.stage] += 1
            self._live[cid] = None
            self._withdrawn.pop(cid, None)
        self.stats.forwarded += len(out)
        return out

    def candidate_set(self, component_id: str) -> tuple[CandidateSet, tuple[Exclusion, ...]]:
        """The candidate set of a component at the current books (whatever its verdict); an unknown
        id is a ConfigError."""
        plan = self._plans.get(component_id)
        if plan is None:
            raise ConfigError(f"unknown component {component_id!r}")
        return build_candidate_set(plan.component, self._books, now_ns=self._now_ns(), config=self.config)

    # -- evaluation ------------------------------------------------------------------------------
    def _evaluate(self, plan: _ComponentPlan, now: int) -> _Verdict:
        stats = self.stats
        stats.evaluations += 1
        lookup = self._lookup
        max_age = self._max_age_ns
        # Clear only when delta < min_edge (the allocator accepts a plan earning exactly its
        # per-contract minimum): test delta <= min_edge - 1 micro-dollar.
        edge = max(0, self.config.min_edge_micro_usd - 1)
        lo = [0] * plan.n_vars
        hi = [SCALE] * plan.n_vars
        excluded: list[Exclusion] = []
        usable = 0
        for slot in plan.slots:
            book = lookup(slot.venue, slot.market_id)
            if book is None or not book.trusted or book.is_stale(now, max_age):
                reason = _exclusion_reason(book, now, max_age)
                assert reason is not None  # the test above is the one `_exclusion_reason` makes
                excluded.append(Exclusion(slot.listing.instrument_id, reason))
                stats.excluded_listings[reason] += 1
                continue
            if slot.monotone:  # _best_ask_price and _tick_micro inlined: this is the hot loop
                if slot.side is Side.YES:
                    ladder = book.yes
                    best = ladder.best_ask()
                elif book.no is not None:
                    ladder = book.no
                    best = ladder.best_ask()
                else:  # Kalshi: NO asks are the mirrored YES bids
                    ladder = book.yes
                    best = ladder.best_bid()
                    if best is not None:
                        best = (SCALE - best[0], best[1])
                if best is None:
                    usable += 1
                    continue
                price = best[0]
                if price % (ladder.tick_size_micro_usd or slot.tick_micro):
                    excluded.append(Exclusion(slot.listing.instrument_id, "off_tick"))
                    stats.excluded_listings["off_tick"] += 1
                    continue
                cost = slot.unit_cost(price)
            else:
                levels = book.asks(slot.side, self.config.slots_per_side)
                if not levels:
                    usable += 1
                    continue
                if levels[0][0] % _tick_micro(book, slot.side, slot.tick_micro):
                    excluded.append(Exclusion(slot.listing.instrument_id, "off_tick"))
                    stats.excluded_listings["off_tick"] += 1
                    continue
                cost = min(slot.unit_cost(price) for price, _ in levels)
            usable += 1
            cost += edge
            v = slot.var
            if slot.upper:
                if cost < hi[v]:
                    hi[v] = cost
            elif SCALE - cost > lo[v]:
                lo[v] = SCALE - cost
        exclusions = tuple(excluded)
        if not usable:
            return self._cleared("no_listings", exclusions)
        # 1. every variable's box must be non-empty
        crossed = [(lo[v] - hi[v], v) for v in range(plan.n_vars) if lo[v] > hi[v]]
        if crossed:
            gap, v = max(crossed)
            reason = f"{plan.var_names[v]}: YES and NO asks cost {from_micro(gap)} under $1 together"
            return _Verdict(False, "crossed", edge + _ceil_div(gap, 2), (reason,), exclusions)
        # 2-5. every block needs a witness
        stage = "cached_point" if plan.blocks else "structure"  # free variables: the box decides
        violations: list[_Outcome] = []
        for block in plan.blocks:
            if block.witness is not None and block.witness.inside(block.variables, lo, hi):
                continue
            if violations and block.kind in ("vertices", "projection"):
                continue  # already forwarded; an expensive block would only refine the score
            outcome = self._decide(block, lo, hi)
            if outcome.witness is not None:
                block.witness = outcome.witness
                if _STAGE_COST[outcome.stage] > _STAGE_COST[stage]:
                    stage = outcome.stage
            else:
                violations.append(outcome)
        if not violations:
            return self._cleared(stage, exclusions)
        worst = max(violations, key=lambda o: o.delta_micro)
        score = edge + worst.delta_micro if worst.delta_micro > 0 else 0
        reasons = tuple(o.reason for o in sorted(violations, key=lambda o: -o.delta_micro))
        return _Verdict(False, worst.stage, score, reasons, exclusions)

    def _decide(self, block: _Block, lo: list[int], hi: list[int]) -> _Outcome:
        if block.kind == "row":
            return _decide_row(block, lo, hi)
        if block.kind == "difference":
            return _decide_difference(block, lo, hi)
        if block.kind == "vertices":
            return _decide_vertices(block, lo, hi)
        return _decide_large(block, lo, hi, self.config, lambda: self._now_ns() / 1e9)

    def _cleared(self, stage: str, excluded: tuple[Exclusion, ...]) -> _Verdict:
        self.stats.cleared_by_bound += 1
        self.stats.cleared_by[stage] += 1
        return _Verdict(True, stage, 0, (), excluded)


_STAGE_COST = {"cached_point": 0, "structure": 1, "vertex_lp": 2, "projection": 3, "column_lp": 4}
