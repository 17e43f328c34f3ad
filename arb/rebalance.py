"""Rebalancing: held positions marked at coherent prices, and held baskets sold when their bids lock
in more than holding them to settlement, so their capital goes to better sets.

Marks (`Rebalancer.marks`). Each contract of a set is priced at the mid of its trusted, fresh book
(the best bid or best ask alone when only one side is quoted; $0.50 when neither is, named in
`SetMarks.unquoted`), and the vector is projected onto the set's marginal polytope
(`solvers.project_prices`: the KL projection, coherent with every relation, risky links settling
alike). A listing is marked at its contract's coherent price (YES) or one minus it (NO), in whole
micro-dollars. `record_marks` writes the marks of what a set holds to the ledger (`Ledger.record_mark`,
the unrealised P&L); `SetMarks.value_usd` values holdings for the live view.

Sales (`Rebalancer.decide` / `propose`, run every `interval_s` by the daemon). Per held set:
1. The set's candidate set at the current books (`RepairPlanner.candidate_set`, the repair's own:
   stale or untrusted books left out, every side capped at the largest holding), cut down to sales:
   a held instrument is never bought, and the only asks kept are those of each held instrument's
   complement on the same venue and contract, up to the quantity held. Buying that complement from
   the pool *is* selling the held side at the bid (solvers/problem.py), so every unit the allocator
   can take is a sale; nothing else of the set is tradable here (an arbitrage of its own is the entry
   allocator's).
2. Re-solved alone with the holdings as inventory under the `worst_case` objective
   (`RepairPlanner.resolve`), with `min_edge_usd` as the set's minimum rise of the worst case.
3. Checked here in exact arithmetic before it is proposed: every leg a SELL of at most what is held;
   the worst value over the set's feasible outcomes of what is left plus the sale's cash (each leg's
   `cash_flow_usd`: proceeds minus the most the venue can charge in fees, at its prices or better)
   must exceed the worst value of holding everything to settlement by at least `min_edge_usd`
   (`arb.execution.repair.exposure` for both).

A proposal is a `RebalancePlan` whose `plan` goes to `Executor.execute(plan, component, books)` like
any entry (the risk gate, the journal, partial fills repaired by the executor). A sale only brings
cash (`released_by_venue_usd`); once it fills, the venues' cash (and the ledger's) holds it, and the
entry allocator's next `set_capital` hands it to other sets.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from types import MappingProxyType

from arb.book import BinaryBook
from arb.domain import Venue
from arb.errors import ArbError, ConfigError
from arb.execution.repair import Exposure, RepairConfig, RepairPlanner
from arb.fixed import SCALE
from arb.graph import Component, Listing
from arb.ledger.store import Ledger
from arb.scanner import BookLookup
from solvers import Action, Capital, Level, SetPlan, Side, project_prices
from solvers.errors import DataError, SolverError
from solvers.outcomes import OutcomeSystem
from solvers.problem import CandidateSet, Instrument

__all__ = [
    "HeldSet",
    "RebalanceAction",
    "RebalanceConfig",
    "RebalanceDecision",
    "RebalanceInputError",
    "RebalancePlan",
    "Rebalancer",
    "SetMarks",
]

_ZERO = Decimal(0)
_HALF_MICRO = SCALE // 2


class RebalanceInputError(ArbError, ValueError):
    """Holdings or books handed to the rebalancer cannot be judged; the message says which set and why."""


@dataclass(frozen=True, slots=True)
class RebalanceConfig:
    """Rebalancing settings (the `[rebalance]` section of the configuration).

    min_edge_usd: a held basket is sold only when its bids lock in at least this much more than
        holding it to settlement, after exact fees (per set and sale, dollars; positive)
    interval_s: how often the daemon re-solves the held sets and refreshes their marks (seconds)
    slots_per_side: bid levels per held instrument a sale may sweep
    max_book_age_ms: a book older than this is neither sold into nor used for a mark
    max_outcomes: feasible outcomes enumerated for the exact values of a set
    mip_time_limit_ms: wall-clock budget of the allocator's lot-integral fallback per set
    mark_time_budget_ms: time budget of one set's projection for its marks
    backend: the allocator's LP backend
    """

    min_edge_usd: Decimal
    interval_s: float = 5.0
    slots_per_side: int = 5
    max_book_age_ms: int = 10_000
    max_outcomes: int = 4096
    mip_time_limit_ms: float = 50.0
    mark_time_budget_ms: float = 50.0
    backend: str = "highs-warm"

    def __post_init__(self) -> None:
        edge = self.min_edge_usd
        if not isinstance(edge, Decimal) or not edge.is_finite() or edge <= 0:
            raise ConfigError(f"rebalance min_edge_usd must be a finite positive Decimal (dollars), was {edge!r}")
        for name, least in (("slots_per_side", 1), ("max_book_age_ms", 1), ("max_outcomes", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"rebalance {name} must be an integer >= {least}, was {value!r}")
        for name, positive in (("interval_s", True), ("mip_time_limit_ms", False), ("mark_time_budget_ms", False)):
            value = getattr(self, name)
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not math.isfinite(value)
                or value < 0
                or (positive and value == 0)
            ):
                kind = "positive" if positive else "non-negative"
                raise ConfigError(f"rebalance {name} must be a finite {kind} number, was {value!r}")
        if not isinstance(self.backend, str) or not self.backend:
            raise ConfigError(f"rebalance backend must name an LP backend, was {self.backend!r}")


@dataclass(frozen=True, slots=True)
class HeldSet:
    """A set and what its instruments hold (instrument id -> contracts, >= 0), e.g.
    `Executor.set_position(component)[0]`."""

    component: Component
    holdings: Mapping[str, Decimal]


class RebalanceAction(str, enum.Enum):
    SELL = "sell"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    """A sale to send: `Executor.execute(plan, component, books)`.

    hold_value_usd: the worst value over the set's outcomes of holding everything to settlement
    sell_value_usd: the worst value of what is left plus the sale's cash (fees at their most)
    edge_usd: sell_value_usd - hold_value_usd, at least `min_edge_usd`
    released_by_venue_usd: the cash the sale brings per venue, fees paid
    """

    plan: SetPlan
    component: Component
    hold_value_usd: Decimal
    sell_value_usd: Decimal
    edge_usd: Decimal
    released_by_venue_usd: Mapping[str, Decimal]

    @property
    def set_id(self) -> str:
        return self.plan.set_id


@dataclass(frozen=True, slots=True)
class RebalanceDecision:
    """One held set's verdict: SELL with its `sale`, or HOLD and why."""

    set_id: str
    action: RebalanceAction
    reason: str
    sale: RebalancePlan | None = None
    before: Exposure | None = None


@dataclass(frozen=True, slots=True)
class SetMarks:
    """Coherent marks of one set's listings (instrument id -> micro-dollars per contract).

    contract_prices: the projection's coherent price of each contract (YES), float
    unquoted: contracts with no usable quote (their price came from the others through the relations)
    divergence: D(mu || mids), how incoherent the mids were
    """

    set_id: str
    by_instrument_micro: Mapping[str, int]
    contract_prices: Mapping[str, float]
    unquoted: tuple[str, ...]
    divergence: float

    def value_usd(self, holdings: Mapping[str, Decimal]) -> Decimal:
        """What `holdings` (instrument id -> contracts) are worth at these marks, exact."""
        total = _ZERO
        for instrument_id, quantity in holdings.items():
            mark = self.by_instrument_micro.get(instrument_id)
            if mark is None:
                raise RebalanceInputError(f"set {self.set_id}: no mark for held instrument {instrument_id!r}")
            total += quantity * Decimal(mark) / SCALE
        return total


def _lookup(books: BookLookup) -> Callable[[Venue, str], BinaryBook | None]:
    if callable(books):
        return books
    return lambda venue, market_id: books.get((venue, market_id))


def _complement(instrument: Instrument) -> tuple[str, str, Side]:
    other = Side.NO if instrument.side is Side.YES else Side.YES
    return instrument.venue, instrument.contract, other


def _up_to(levels: tuple[Level, ...], quantity: Decimal) -> tuple[Level, ...]:
    """The best levels of a ladder holding `quantity` contracts in all (the last one cut)."""
    kept: list[Level] = []
    left = quantity
    for level in levels:
        if left <= 0:
            break
        take = min(level.size, left)
        kept.append(Level(level.price, take))
        left -= take
    return tuple(kept)


def _sales_only(candidate: CandidateSet, held: Mapping[str, Decimal]) -> CandidateSet:
    """`candidate` cut down to sales of what is held (module docstring, step 1)."""
    by_listing = {(i.venue, i.contract, i.side): i for i in candidate.instruments}
    instruments: list[Instrument] = []
    for instrument in candidate.instruments:
        if instrument.id in held:
            instruments.append(replace(instrument, asks=()))
            continue
        twin = by_listing.get(_complement(instrument))
        if twin is not None and twin.id in held:
            instruments.append(replace(instrument, asks=_up_to(instrument.asks, held[twin.id])))
    return replace(candidate, instruments=tuple(instruments))


def _shown(value: Decimal) -> str:
    """A Decimal without trailing zeros, never in exponent form (10.000000 -> 10)."""
    return f"{value.normalize():f}"


def _money(value: Decimal) -> str:
    return f"${_shown(value)}"


class Rebalancer:
    """Marks and sales of held sets (module docstring). Keeps nothing between calls but the last
    `propose`'s decisions.

    now_ns: the books' clock (monotonic nanoseconds, as the clients stamp books)
    clock: seconds, for the allocator's MIP limit and the projection's time budget"""

    def __init__(
        self,
        config: RebalanceConfig,
        *,
        now_ns: Callable[[], int] = time.monotonic_ns,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not isinstance(config, RebalanceConfig):
            raise ConfigError(f"Rebalancer needs a RebalanceConfig, was {type(config).__name__}")
        self.config = config
        self.last_decisions: tuple[RebalanceDecision, ...] = ()  # every set's verdict in the last `propose`
        self._now_ns = now_ns
        self._clock = clock
        # the repair planner's re-solve of one set with holdings, its minimum rise set to the edge
        self._planner = RepairPlanner(
            RepairConfig(
                loss_cap_usd=_ZERO,
                min_improvement_usd=config.min_edge_usd,
                slots_per_side=config.slots_per_side,
                max_book_age_ms=config.max_book_age_ms,
                max_outcomes=config.max_outcomes,
                mip_time_limit_ms=config.mip_time_limit_ms,
                backend=config.backend,
            ),
            now_ns=now_ns,
            clock=clock,
        )

    # -- sales -------------------------------------------------------------------------------------------
    def propose(self, sets_held: Iterable[HeldSet], books: BookLookup, capital: Capital) -> list[RebalancePlan]:
        """The sales worth making now, one per set at most, best edge first. Every set's decision
        is kept in `last_decisions`; a set that cannot be judged (`RebalanceInputError`) is held
        with the error as its reason and does not stop the others."""
        decisions: list[RebalanceDecision] = []
        for held in sets_held:
            try:
                decisions.append(self.decide(held, books, capital))
            except RebalanceInputError as exc:
                decisions.append(RebalanceDecision(held.component.id, RebalanceAction.HOLD, f"cannot judge: {exc}"))
        self.last_decisions = tuple(decisions)
        sales = [d.sale for d in decisions if d.sale is not None]
        return sorted(sales, key=lambda sale: (-sale.edge_usd, sale.set_id))

    def decide(self, held: HeldSet, books: BookLookup, capital: Capital) -> RebalanceDecision:
        """SELL (with the sale) or HOLD (and why) for one held set at the current `books`.
        RebalanceInputError for holdings the set cannot value (unknown instrument, bad quantity)."""
        component = held.component
        config = self.config
        try:
            before = self._planner.exposure(component, held.holdings, _ZERO)
        except ArbError as exc:
            raise RebalanceInputError(f"set {component.id}: {exc}") from exc
        if before.flat:
            return RebalanceDecision(component.id, RebalanceAction.HOLD, "nothing held", None, before)
        if not isinstance(capital, Capital):
            raise RebalanceInputError(f"capital must be a solvers.Capital, was {type(capital).__name__}")
        hold = f"holding is worth {_money(before.worst_value_usd)} at worst"
        try:
            full = self._planner.candidate_set(component, books, before.holdings)
            sales = _sales_only(full, before.holdings)
            if not any(i.asks for i in sales.instruments):
                return RebalanceDecision(
                    component.id, RebalanceAction.HOLD, f"{hold}; no usable bid for what is held", None, before
                )
            plan, why = self._planner.resolve(sales, capital, before.holdings)
        except (ArbError, DataError) as exc:
            raise RebalanceInputError(f"set {component.id}: cannot re-solve its holdings: {exc}") from exc
        if plan is None:
            why = f"no sale locks in {_money(config.min_edge_usd)} more ({why})"
            return RebalanceDecision(component.id, RebalanceAction.HOLD, f"{hold}; {why}", None, before)
        sale, refusal = self._checked(plan, component, before)
        if sale is None:
            return RebalanceDecision(component.id, RebalanceAction.HOLD, f"{hold}; {refusal}", None, before)
        reason = (
            f"selling {', '.join(f'{_shown(leg.quantity)} {leg.instrument_id}' for leg in plan.legs)} locks in "
            f"{_money(sale.sell_value_usd)} at worst against {_money(sale.hold_value_usd)} held to settlement "
            f"(edge {_money(sale.edge_usd)}, minimum {_money(config.min_edge_usd)})"
        )
        return RebalanceDecision(component.id, RebalanceAction.SELL, reason, sale, before)

    def _checked(self, plan: SetPlan, component: Component, before: Exposure) -> tuple[RebalancePlan | None, str]:
        """The plan re-checked in exact arithmetic (module docstring, step 3)."""
        left = dict(before.holdings)
        cash = _ZERO
        released: dict[str, Decimal] = {}
        for leg in plan.legs:
            if leg.action is not Action.SELL:
                return None, f"refused: the plan buys {_shown(leg.quantity)} {leg.instrument_id} (a sale only sells)"
            if leg.quantity > left.get(leg.instrument_id, _ZERO):
                return None, f"refused: the plan sells {_shown(leg.quantity)} {leg.instrument_id}, more than is held"
            left[leg.instrument_id] -= leg.quantity
            cash += leg.cash_flow_usd
            released[leg.venue] = released.get(leg.venue, _ZERO) + leg.cash_flow_usd
        after = self._planner.exposure(component, {k: v for k, v in left.items() if v}, cash)
        edge = after.worst_value_usd - before.worst_value_usd
        if edge < self.config.min_edge_usd:
            return None, (
                f"refused: the sale locks in {_money(after.worst_value_usd)} at worst, "
                f"an edge of {_money(edge)} below {_money(self.config.min_edge_usd)}"
            )
        sale = RebalancePlan(
            plan=plan,
            component=component,
            hold_value_usd=before.worst_value_usd,
            sell_value_usd=after.worst_value_usd,
            edge_usd=edge,
            released_by_venue_usd=MappingProxyType(released),
        )
        return sale, ""

    # -- marks -------------------------------------------------------------------------------------------
    def marks(self, component: Component, books: BookLookup) -> SetMarks:
        """Coherent marks of every listing of `component` at the current `books` (module docstring)."""
        lookup = _lookup(books)
        now_ns = self._now_ns()
        max_age_ns = self.config.max_book_age_ms * 1_000_000
        mids: dict[str, float] = {}
        unquoted: list[str] = []
        market_of: dict[str, Listing] = {}  # a contract is one market: any of its listings names the book
        for listing in component.listings:
            market_of.setdefault(listing.contract, listing)
        for contract in component.contracts:
            quotes: list[int] = []
            market = market_of.get(contract)
            book = None if market is None else lookup(market.venue, market.market_id)
            if book is not None and book.trusted and not book.is_stale(now_ns, max_age_ns):
                bid, ask = book.best_bid(Side.YES), book.best_ask(Side.YES)
                quotes = [level[0] for level in (bid, ask) if level is not None]
            if quotes:
                micro = sum(quotes) // len(quotes)
                mids[contract] = min(max(micro, 1_000), SCALE - 1_000) / SCALE  # inside (0, 1)
            else:
                mids[contract] = _HALF_MICRO / SCALE
                unquoted.append(contract)
        system = OutcomeSystem(tuple(component.contracts), tuple(component.relations), with_risky_links=True)
        try:
            result = project_prices(
                system, mids, time_budget_s=self.config.mark_time_budget_ms / 1000.0, clock=self._clock
            )
        except (DataError, SolverError) as exc:
            raise RebalanceInputError(f"set {component.id}: cannot project its prices: {exc}") from exc
        prices = {contract: result.price(contract) for contract in component.contracts}
        by_instrument: dict[str, int] = {}
        for listing in component.listings:
            yes_micro = min(max(round(prices[listing.contract] * SCALE), 0), SCALE)
            by_instrument[listing.instrument_id] = yes_micro if listing.side is Side.YES else SCALE - yes_micro
        return SetMarks(
            component.id,
            MappingProxyType(by_instrument),
            MappingProxyType(prices),
            tuple(unquoted),
            result.divergence,
        )

    @staticmethod
    def record_marks(
        ledger: Ledger, component: Component, marks: SetMarks, holdings: Mapping[str, Decimal], *, now_ms: int
    ) -> int:
        """Write the marks of the listings `holdings` names (instrument id -> contracts, non-zero) to
        the ledger, where `Ledger.pnl` values the open positions at them; returns how many."""
        listings = {listing.instrument_id: listing for listing in component.listings}
        written = 0
        for instrument_id, quantity in holdings.items():
            if not quantity:
                continue
            listing = listings.get(instrument_id)
            mark = marks.by_instrument_micro.get(instrument_id)
            if listing is None or mark is None:
                raise RebalanceInputError(f"set {component.id}: no listing or mark for held {instrument_id!r}")
            ledger.record_mark(listing.venue, listing.market_id, listing.side, mark, now_ms=now_ms)
            written += 1
        return written
