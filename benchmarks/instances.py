"""Seeded benchmark instances: realistic two-venue books over the project's logical structures.

Every contract has a coherent "true" probability; each venue quotes around it with its own noise
and spread, so cross-venue and within-group mispricings appear at the rates they do in practice.
Kalshi: integer contracts, 0.01 ticks, taker fee round_up(M x 0.07 x C x P(1-P)). Polymarket:
2-decimal shares (minimum order 5), 0.01 ticks, category fee rate x P(1-P) floored to 1e-5. Each
ask ladder has 5 levels (YES asks and NO asks = the two sides of a binary book).

A tick changes ~20% of the levels: a third only in size, a third only in price (one tick), a third in
both, keeping ladders strictly increasing, sizes whole lots and every venue's book uncrossed (best YES
ask + best NO ask >= 1 + tick).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from solvers import (
    AllocationProblem,
    Allocator,
    CandidateSet,
    Capital,
    Conjunction,
    Contract,
    DataError,
    Equivalent,
    ExactlyOne,
    Implies,
    Instrument,
    Level,
    Relation,
    Side,
    kalshi_fee,
    polymarket_fee,
)
from solvers.outcomes import OutcomeSystem
from solvers.separation import OutcomeOracle

__all__ = [
    "FAMILIES",
    "PROJECTION_SIZES",
    "SEEDING_SIZES",
    "TICK_KINDS",
    "Instance",
    "ProjectionInstance",
    "Tick",
    "apply_ticks",
    "build_family",
    "make_ticks",
    "mid_prices",
    "projection_instance",
    "warm_update_instance",
]

D = Decimal
LEVELS = 5
KALSHI, POLY = "kalshi", "polymarket"
CENT = D("0.01")


@dataclass(frozen=True)
class Tick:
    """New prices for some level slots: (instrument id, slot index, price, size)."""

    changes: tuple[tuple[str, int, Decimal, Decimal], ...]


@dataclass(frozen=True)
class Instance:
    family: str
    name: str
    problem: AllocationProblem
    ticks: tuple[Tick, ...]
    capital_binding: bool = False


class _Books:
    """Builds instruments for contracts listed on venues, quoting around a true probability."""

    def __init__(self, rng: np.random.Generator, noise: float = 0.03) -> None:
        self.rng = rng
        self.noise = noise

    def _ladder(self, best_cents: int, kalshi: bool) -> tuple[Level, ...]:
        levels = []
        cents = best_cents
        for _ in range(LEVELS):
            if cents > 99:
                break
            if kalshi:
                size = D(int(np.clip(self.rng.lognormal(4.0, 0.8), 10, 500)))
            else:
                size = D(int(np.clip(self.rng.lognormal(4.0, 0.8), 5, 500) * 100)) / 100
            levels.append(Level(D(cents) / 100, size))
            cents += int(self.rng.choice((1, 1, 2)))
        return tuple(levels)

    def listing(self, prefix: str, contract: str, venue: str, truth: float) -> list[Instrument]:
        kalshi = venue == KALSHI
        mid = float(np.clip(truth + self.rng.normal(0, self.noise), 0.03, 0.97))
        half_spread = int(self.rng.choice((0, 1, 1, 2)))
        yes_best = int(np.clip(math.ceil(mid * 100) + half_spread, 1, 99))
        no_best = int(np.clip(math.ceil((1 - mid) * 100) + half_spread, 1, 99))
        if yes_best + no_best < 101:  # a venue's own book is never crossed
            no_best = 101 - yes_best
        if kalshi:
            fee = kalshi_fee(multiplier=D(1) if self.rng.random() < 0.8 else D("0.5"))
            lot, minimum = D(1), D(0)
        else:
            fee = polymarket_fee(rate=D(str(self.rng.choice(("0.03", "0.04", "0.05")))))
            lot, minimum = CENT, D(5)
        return [
            Instrument(
                f"{prefix}{venue}:{contract}:{side.value}",
                venue,
                f"{contract}@{venue}",
                side,
                self._ladder(best, kalshi),
                fee,
                lot_size=lot,
                min_order_size=minimum,
            )
            for side, best in ((Side.YES, yes_best), (Side.NO, no_best))
        ]


def _listed(
    books: _Books, set_id: str, truths: dict[str, float], venues: tuple[str, ...] = (KALSHI, POLY)
) -> tuple[list[Contract], list[Instrument], list[Relation]]:
    contracts: list[Contract] = []
    instruments: list[Instrument] = []
    links: list[Relation] = []
    for name, truth in truths.items():
        for venue in venues:
            contracts.append(Contract(f"{name}@{venue}"))
            instruments += books.listing(f"{set_id}/", name, venue, truth)
        for a, b in itertools.pairwise(venues):
            links.append(Equivalent(f"{name}@{a}", f"{name}@{b}"))
    return contracts, instruments, links


def pair_set(books: _Books, set_id: str) -> CandidateSet:
    truth = float(books.rng.uniform(0.08, 0.92))
    contracts, instruments, links = _listed(books, set_id, {"x": truth})
    return CandidateSet(set_id, tuple(contracts), tuple(instruments), tuple(links))


def group_set(books: _Books, set_id: str, n: int) -> CandidateSet:
    weights = books.rng.dirichlet(np.full(n, 2.0))
    truths = {f"o{k}": float(w) for k, w in enumerate(weights)}
    contracts, instruments, links = _listed(books, set_id, truths)
    groups = [ExactlyOne(tuple(f"{name}@{venue}" for name in truths)) for venue in (KALSHI, POLY)]
    return CandidateSet(set_id, tuple(contracts), tuple(instruments), (*links, groups[0]))


def ladder_set(books: _Books, set_id: str, n: int) -> CandidateSet:
    level, truths = 0.95, {}
    for k in range(n):
        truths[f"above{k}"] = level
        level *= float(books.rng.uniform(0.7, 0.95))
    contracts, instruments, links = _listed(books, set_id, truths)
    names = list(truths)
    implications = [Implies(f"{hi}@{KALSHI}", f"{lo}@{KALSHI}") for lo, hi in itertools.pairwise(names)]
    return CandidateSet(set_id, tuple(contracts), tuple(instruments), (*links, *implications))


def parlay_set(books: _Books, set_id: str, games: int) -> CandidateSet:
    """Non-TU: independent games on both venues plus Kalshi two-leg parlays (conjunctions)."""
    truths = {f"g{k}": float(books.rng.uniform(0.25, 0.75)) for k in range(games)}
    contracts, instruments, links = _listed(books, set_id, truths)
    relations = list(links)
    order = books.rng.permutation(games)
    for k in range(games):
        a, b = f"g{order[k]}", f"g{order[(k + 1) % games]}"
        name = f"{a}&{b}"
        contracts.append(Contract(f"{name}@{KALSHI}"))
        instruments += books.listing(f"{set_id}/", name, KALSHI, truths[a] * truths[b])
        relations.append(Conjunction(f"{name}@{KALSHI}", (f"{a}@{KALSHI}", f"{b}@{KALSHI}")))
    return CandidateSet(set_id, tuple(contracts), tuple(instruments), tuple(relations))


def _ample(sets: tuple[CandidateSet, ...]) -> AllocationProblem:
    return AllocationProblem(sets, Capital({KALSHI: D(10**7), POLY: D(10**7)}))


def _binding(sets: tuple[CandidateSet, ...], fraction: float) -> AllocationProblem:
    """Cash set to `fraction` of what the unconstrained LP would deploy on each venue."""
    allocator = Allocator(_ample(sets))
    spent = allocator.form.spent_by_venue(allocator.solve_lp().solution.x)
    cash = {v: D(max(10, int(spent[v] * fraction))) for v in spent}
    return AllocationProblem(sets, Capital(cash))


TICK_KINDS = ("price", "size", "both")  # what a changed level changes, drawn uniformly


def make_ticks(
    problem: AllocationProblem, rng: np.random.Generator, count: int, share: float = 0.2
) -> tuple[Tick, ...]:
    """`count` ticks, each changing ~`share` of the levels: a third of them only in size, a third
    only in price (one tick up or down), a third in both. Books stay valid: ladders strictly
    increasing, every venue's book uncrossed, sizes whole lots of at least one lot (a price move
    that would break the book is skipped, so a "both" change may become a size change)."""
    ladders: dict[str, list[Level]] = {}
    lots: dict[str, Decimal] = {}
    complement: dict[str, str] = {}
    by_listing = {}
    for candidate in problem.sets:
        for instrument in candidate.instruments:
            ladders[instrument.id] = list(instrument.asks)
            lots[instrument.id] = instrument.lot_size
            by_listing[(instrument.venue, instrument.contract, instrument.side)] = instrument.id
    for (venue, contract, side), instrument_id in by_listing.items():
        other = by_listing.get((venue, contract, Side.NO if side is Side.YES else Side.YES))
        if other:
            complement[instrument_id] = other
    keys = [(i, k) for i, ladder in ladders.items() for k in range(len(ladder))]
    ticks = []
    for _ in range(count):
        changes = []
        chosen = rng.choice(len(keys), size=max(1, int(share * len(keys))), replace=False)
        for index in sorted(chosen.tolist()):
            instrument_id, slot = keys[index]
            ladder = ladders[instrument_id]
            level = ladder[slot]
            kind = TICK_KINDS[int(rng.integers(len(TICK_KINDS)))]
            price, size = level.price, level.size
            if kind != "price":
                lot = lots[instrument_id]
                scaled = float(level.size) * float(rng.lognormal(0.0, 0.5))
                size = max(lot, D(int(min(scaled, 2000.0) / float(lot))) * lot)
            if kind != "size":
                price = _moved_price(ladder, slot, int(rng.choice((-1, 1))), ladders, complement.get(instrument_id))
            if (price, size) == (level.price, level.size):
                continue
            ladder[slot] = Level(price, size)
            changes.append((instrument_id, slot, price, size))
        ticks.append(Tick(tuple(changes)))
    return tuple(ticks)


def apply_ticks(problem: AllocationProblem, ticks: Iterable[Tick]) -> AllocationProblem:
    """The problem with its books after `ticks` (slot k = the k-th best level), rebuilt from scratch
    (what a freshly started allocator sees)."""
    ladders = {i.id: list(i.asks) for s in problem.sets for i in s.instruments}
    for tick in ticks:
        for instrument_id, slot, price, size in tick.changes:
            ladders[instrument_id][slot] = Level(price, size)
    sets = tuple(
        dataclasses.replace(
            s, instruments=tuple(dataclasses.replace(i, asks=tuple(ladders[i.id])) for i in s.instruments)
        )
        for s in problem.sets
    )
    return AllocationProblem(sets, problem.capital, problem.inventory)


def _moved_price(
    ladder: list[Level], slot: int, step: int, ladders: dict[str, list[Level]], complement: str | None
) -> Decimal:
    """The level's price moved one tick in `step`'s direction, else the other way, else unchanged:
    strictly between its neighbours and, for a best level, not crossing the complement's best ask."""
    level = ladder[slot]
    for direction in (step, -step):
        price = level.price + direction * CENT
        below = ladder[slot - 1].price if slot else D(0)
        above = ladder[slot + 1].price if slot + 1 < len(ladder) else D(1)
        if not below < price < above:
            continue
        if slot == 0 and complement is not None and price + ladders[complement][0].price < 1 + CENT:
            continue
        return price
    return level.price


def build_family(family: str, size: int, seed: int, ticks: int) -> Instance:
    rng = np.random.default_rng(seed)
    books = _Books(rng)
    binding = False
    if family == "pairs":
        problem = _ample(tuple(pair_set(books, f"p{k}") for k in range(size)))
        name = f"pairs-{size}"
    elif family == "groups":
        problem = _ample((group_set(books, "g", size),))
        name = f"group-{size}"
    elif family == "ladders":
        problem = _ample((ladder_set(books, "l", size),))
        name = f"ladder-{size}"
    elif family == "combinatorial":
        problem = _ample((parlay_set(books, "c", size),))
        name = f"parlays-{size}"
    elif family == "portfolio":
        sets = []
        for k in range(size):
            roll = rng.random()
            if roll < 0.6:
                sets.append(pair_set(books, f"s{k}"))
            elif roll < 0.8:
                sets.append(group_set(books, f"s{k}", int(rng.integers(3, 7))))
            else:
                sets.append(ladder_set(books, f"s{k}", int(rng.integers(3, 6))))
        problem = _binding(tuple(sets), fraction=0.3)
        name, binding = f"portfolio-{size}", True
    else:
        raise ValueError(f"unknown family, was {family!r}")
    return Instance(family, name, problem, make_ticks(problem, rng, ticks), binding)


def warm_update_instance(seed: int, ticks: int) -> Instance:
    """One ~300-column candidate set (an exactly-one group of 12 outcomes on both venues)."""
    rng = np.random.default_rng(seed)
    problem = _ample((group_set(_Books(rng), "g", 12),))
    return Instance("warm-update", "group-12", problem, make_ticks(problem, rng, ticks))


@dataclass(frozen=True)
class ProjectionInstance:
    """A candidate set (contracts and relations only) with noisy prices to project (docs/optimization.md#measured-timings)."""

    name: str
    candidate: CandidateSet
    prices: np.ndarray  # one per contract, in (0, 1)
    coherent: np.ndarray  # the marginals the noise was added to (a point of M)


def projection_instance(n: int, seed: int, *, noise: float = 0.05, mixture: int = 12) -> ProjectionInstance:
    """The projection benchmark family (docs/optimization.md#measured-timings): blocks of 5 contracts, alternately an exactly-one group and a ladder
    (b_{k+1} => b_k), plus n/5 random cross-block implications z_a <= z_c. Prices are coherent
    marginals (a Dirichlet mixture of `mixture` feasible outcomes, found by the MIP oracle with
    random costs) plus N(0, noise), clipped into [0.005, 0.995]. Seeded; a draw whose relations
    admit no outcome is redrawn from the next sub-seed."""
    if n < 10 or n % 5:
        raise ValueError(f"n must be a multiple of 5, at least 10, was {n}")
    ids = [f"c{i:03d}" for i in range(n)]
    blocks = [ids[k : k + 5] for k in range(0, n, 5)]
    structure: list[Relation] = []
    for b, block in enumerate(blocks):
        if b % 2 == 0:
            structure.append(ExactlyOne(tuple(block)))
        else:
            structure += [Implies(block[j + 1], block[j]) for j in range(4)]
    for attempt in range(100):
        rng = np.random.default_rng([seed, attempt])
        cross: list[Relation] = []
        while len(cross) < n // 5:
            a, c = (int(v) for v in rng.choice(n, size=2, replace=False))
            if a // 5 != c // 5:
                cross.append(Implies(ids[a], ids[c]))
        relations = tuple(structure + cross)
        system = OutcomeSystem(ids, relations, with_risky_links=True)
        try:
            oracle = OutcomeOracle(system)
        except DataError:
            continue  # the cross implications emptied a group
        outcomes = np.array([oracle.minimize(rng.normal(size=n))[1] for _ in range(mixture)], dtype=float)
        coherent = rng.dirichlet(np.ones(mixture)) @ outcomes
        prices = np.clip(coherent + rng.normal(0.0, noise, n), 0.005, 0.995)
        candidate = CandidateSet(f"projection-{n}", tuple(Contract(i) for i in ids), (), relations)
        return ProjectionInstance(f"projection-{n}", candidate, prices, coherent)
    raise ValueError(f"no feasible projection instance for n={n}, seed={seed}")  # pragma: no cover


def mid_prices(candidate: CandidateSet) -> dict[str, float]:
    """Per contract, the mid of its own venue's book: (best YES ask + 1 - best NO ask) / 2 (the
    best bid of YES is 1 - the best NO ask), clipped into [0.005, 0.995] for the projection."""
    best: dict[tuple[str, Side], Decimal] = {}
    for instrument in candidate.instruments:
        if instrument.asks:
            price = min(level.price for level in instrument.asks)
            key = (instrument.contract, instrument.side)
            best[key] = min(best.get(key, price), price)
    mids = {}
    for contract in candidate.contracts:
        yes, no = best.get((contract.id, Side.YES)), best.get((contract.id, Side.NO))
        if yes is None or no is None:
            raise ValueError(f"contract {contract.id} needs YES and NO asks for a mid")
        mids[contract.id] = min(max(float(yes + 1 - no) / 2, 0.005), 0.995)
    return mids


# family -> (full sizes, quick sizes)
FAMILIES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "pairs": ((1, 12, 50), (12,)),
    "groups": ((3, 12, 50), (3, 12)),
    "ladders": ((5, 12, 40), (12,)),
    "combinatorial": ((6, 10, 16), (10,)),
    "portfolio": ((1, 20, 200), (20,)),
}

# projection family: (full sizes, quick sizes)
PROJECTION_SIZES: tuple[tuple[int, ...], tuple[int, ...]] = ((50, 200, 500), (50,))
# constraint-generation seeding on the combinatorial family: (full sizes, quick sizes)
SEEDING_SIZES: tuple[tuple[int, ...], tuple[int, ...]] = (FAMILIES["combinatorial"][0], FAMILIES["combinatorial"][1])
