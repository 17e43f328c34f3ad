"""`arb bench scanner`: scanner cost per book change with few and with many components: the cost per
update must not grow with the number of components.

Instances: seeded components cycling through one fixed shape table (cross-venue pairs, some inverted
and some with settlement risk; exactly-one groups of 3-5 outcomes, one of them linked to a twin group
on the other venue; implication ladders of 3-4 strikes), so every size has the same shape mix. Every
market has real books (`arb.book.OrderBook`): Kalshi one YES ladder (NO mirrored), Polymarket a YES
and a NO token ladder, three levels a side around a coherent fair price.

Stream: seeded single-level book changes (SET), each to a uniformly drawn market: mostly size changes
at existing levels, the rest requotes that move a market's quotes by a few cents around its fair
price (emitted level by level in an order that never crosses the ladder), and now and then a jump
that makes its component incoherent until the market is requoted back a few events later (so the
incoherent share of the stream is the same whatever the number of components). The generator mirrors the
ladders, and every book must still be trusted after the run or the figure is void.

Timed per update: apply the change to the book + `Scanner.on_book_change` + `Scanner.drain`, either
after every update or after every 16 (coalescing). Books are reset to their snapshots and the
scanner warmed (one full drain) before each pass; best of `repeats` passes, `time.perf_counter_ns`,
gc disabled during the pass. All sizes are built first and their passes interleaved in one process,
so a busy machine slows every size alike.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

from arb.book import BinaryBook, OrderBook
from arb.domain import BookSide, BookSnapshot, ChangeMode, Venue
from arb.errors import ConfigError
from arb.graph import Component, Listing, contract_id
from arb.scanner import Scanner, ScannerConfig
from benchmarks.timing import gc_paused
from solvers.fees import kalshi_fee, polymarket_fee
from solvers.problem import Equivalent, ExactlyOne, Implies, Relation, Side

__all__ = [
    "COALESCED_BATCH",
    "MAX_RATIO",
    "Instance",
    "ScannerBenchReport",
    "ScannerBenchRow",
    "build_instance",
    "generate_stream",
    "reset_books",
    "run_scanner_bench",
]

MAX_RATIO = 2.0
CENT = 10_000
COALESCED_BATCH = 16
_LEVELS = 3  # levels per ladder side
_HALF_SPREAD = 2  # cents between the fair price and the best bid / best ask
_SIZE_CHANGE_SHARE = 0.95  # of stream events; the rest are requotes (several level changes each)
_JUMP_SHARE = 0.05  # of requotes: a jump of 8-20 cents that makes the component incoherent
_JUMP_EVENTS = 8  # stream events until a jumped market is requoted back to its fair price
_STEP_NS = 1_000  # injected clock advance per update
# One row per component, cycled: 4 pairs, 3 groups, 1 linked group, 2 ladders.
_SHAPES = (
    ("pair", 0),
    ("pair", 1),
    ("pair", 2),
    ("pair", 3),
    ("group", 3),
    ("group", 4),
    ("group", 5),
    ("linked_group", 3),
    ("ladder", 3),
    ("ladder", 4),
)
_K_FEE = kalshi_fee()
_P_FEES = (polymarket_fee(rate=Decimal(0)), polymarket_fee(rate=Decimal("0.02")))


@dataclass(frozen=True, slots=True)
class ScannerBenchRow:
    """One timed configuration: `components` components, draining every `drain_every` updates."""

    components: int
    markets: int
    drain_every: int
    updates: int
    per_update_us: float  # best pass
    evaluations: int
    coalesced: int
    cleared_by_bound: int
    forwarded: int
    cleared_by: dict[str, int]
    forward_reasons: dict[str, int]
    untrusted_books: int


@dataclass(frozen=True, slots=True)
class ScannerBenchReport:
    rows: tuple[ScannerBenchRow, ...]
    ratio: float  # largest / smallest per-update cost over sizes, draining after every update
    ratio_coalesced: float  # the same with a drain every COALESCED_BATCH updates (reported only)
    valid: bool = field(default=True)  # every book still trusted after every pass

    @property
    def ok(self) -> bool:
        """Acceptance 3: per-update cost within MAX_RATIO across sizes, on a valid run."""
        return self.valid and self.ratio <= MAX_RATIO


# -- instance ---------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Ladder:
    """One OrderBook and the generator's mirror of its levels (so changes never cross it)."""

    book: OrderBook
    venue: Venue
    market_id: str
    complement: bool  # a Polymarket NO token: quotes around 100 - the YES center
    bids: dict[int, int]  # cents -> size micro
    asks: dict[int, int]
    snapshot: BookSnapshot


@dataclass(slots=True)
class _Market:
    venue: Venue
    market_id: str
    anchor_cents: int  # its fair YES price, coherent with the rest of its component
    ladders: list[int]  # indices into Instance.ladders: Kalshi one, Polymarket YES and NO tokens


@dataclass(slots=True)
class Instance:
    """Components, the books the scanner reads, and the ladders behind them (with snapshots)."""

    components: list[Component]
    books: dict[tuple[Venue, str], BinaryBook]
    ladders: list[_Ladder]
    markets: list[_Market]


def _quote(center: int, complement: bool) -> tuple[list[int], list[int]]:
    """Bid and ask prices (cents) of a ladder quoting YES center `center` (NO tokens mirror it)."""
    c = 100 - center if complement else center
    bids = [c - _HALF_SPREAD - k for k in range(_LEVELS) if c - _HALF_SPREAD - k >= 1]
    asks = [c + _HALF_SPREAD + k for k in range(_LEVELS) if c + _HALF_SPREAD + k <= 99]
    return bids, asks


_SIZE_POOL = 4096  # level sizes are drawn from a seeded pool: cheap, and realistic enough


def _size_pools(rng: random.Random) -> dict[Venue, list[int]]:
    return {
        Venue.KALSHI: [rng.randint(1, 500) * 1_000_000 for _ in range(_SIZE_POOL)],  # whole contracts
        Venue.POLYMARKET: [rng.randint(500, 50_000) * CENT for _ in range(_SIZE_POOL)],  # shares, 2 decimals
    }


def _size(rng: random.Random, pools: dict[Venue, list[int]], venue: Venue) -> int:
    return pools[venue][rng.getrandbits(12)]


def _group_anchors(rng: random.Random, n: int) -> list[int]:
    weights = [rng.uniform(0.5, 1.5) for _ in range(n)]
    cents = [max(5, round(100 * w / sum(weights))) for w in weights]
    cents[cents.index(max(cents))] += 100 - sum(cents)  # exactly 100 cents
    return cents


def build_instance(n_components: int, seed: int) -> Instance:
    """Seeded components of the fixed shape mix, and snapshot books for every market."""
    rng = random.Random(seed)
    pools = _size_pools(rng)
    components: list[Component] = []
    markets: list[_Market] = []
    ladders: list[_Ladder] = []
    books: dict[tuple[Venue, str], BinaryBook] = {}

    def market(venue: Venue, anchor: int, fee_index: int) -> tuple[str, tuple[Listing, ...]]:
        index = len(markets)
        market_id = f"KX-{index}" if venue is Venue.KALSHI else f"0x{index:08x}"
        tokens = (False,) if venue is Venue.KALSHI else (False, True)
        ids = []
        for complement in tokens:
            book = OrderBook(f"{market_id}{'-no' if complement else ''}", market_id, venue.value)
            bid_prices, ask_prices = _quote(anchor, complement)
            bids = {p: _size(rng, pools, venue) for p in bid_prices}
            asks = {p: _size(rng, pools, venue) for p in ask_prices}
            snapshot = BookSnapshot(
                venue,
                book.book_id,
                market_id,
                tuple((p * CENT, s) for p, s in bids.items()),
                tuple((p * CENT, s) for p, s in asks.items()),
            )
            ids.append(len(ladders))
            ladders.append(_Ladder(book, venue, market_id, complement, bids, asks, snapshot))
        yes = ladders[ids[0]].book
        books[(venue, market_id)] = BinaryBook(market_id, yes, ladders[ids[1]].book if len(ids) > 1 else None)
        markets.append(_Market(venue, market_id, anchor, ids))
        cid = contract_id(venue, market_id)
        if venue is Venue.KALSHI:
            fee, lot, minimum = _K_FEE, 1_000_000, 0
        else:
            fee, lot, minimum = _P_FEES[fee_index % len(_P_FEES)], CENT, 5_000_000
        listings = tuple(
            Listing(f"{cid}:{side.value}", venue, market_id, cid, side, fee, lot, CENT, minimum)
            for side in (Side.YES, Side.NO)
        )
        return cid, listings

    for k in range(n_components):
        shape, size = _SHAPES[k % len(_SHAPES)]
        venue = Venue.KALSHI if rng.random() < 0.5 else Venue.POLYMARKET
        other = Venue.POLYMARKET if venue is Venue.KALSHI else Venue.KALSHI
        contracts: list[str] = []
        listings: list[Listing] = []
        relations: list[Relation] = []
        if shape == "pair":
            anchor = rng.randint(10, 90)
            inverted = size == 1
            a, la = market(Venue.KALSHI, anchor, k)
            b, lb = market(Venue.POLYMARKET, 100 - anchor if inverted else anchor, k)
            contracts, listings = [a, b], [*la, *lb]
            relations.append(Equivalent(a, b, inverted=inverted, settlement_risk=size == 2))
        elif shape in ("group", "linked_group"):
            anchors = _group_anchors(rng, size)
            for anchor in anchors:
                cid, ls = market(venue, anchor, k)
                contracts.append(cid)
                listings += ls
            relations.append(ExactlyOne(tuple(contracts)))
            if shape == "linked_group":
                twins = []
                for cid, anchor in zip(list(contracts), anchors):
                    twin, ls = market(other, anchor, k)
                    twins.append(twin)
                    listings += ls
                    relations.append(Equivalent(cid, twin))
                contracts += twins
                relations.append(ExactlyOne(tuple(twins)))
        else:
            anchor = rng.randint(75, 90)
            for _ in range(size):
                cid, ls = market(venue, anchor, k)
                if contracts:
                    relations.append(Implies(cid, contracts[-1]))  # a higher strike implies the lower
                contracts.append(cid)
                listings += ls
                anchor = max(5, anchor - rng.randint(15, 22))
        components.append(Component(f"c{k:06d}", tuple(contracts), tuple(relations), tuple(listings)))
    instance = Instance(components, books, ladders, markets)
    reset_books(instance)
    return instance


def reset_books(instance: Instance) -> None:
    """Every book back to its snapshot, trusted, as of time 0 (the stream is generated against it)."""
    for ladder in instance.ladders:
        ladder.book.apply_snapshot(ladder.snapshot, 0)


# -- stream ------------------------------------------------------------------------------------------
Update = tuple[OrderBook, BookSide, int, int, Venue, str]


def generate_stream(instance: Instance, updates: int, seed: int) -> list[Update]:
    """`updates` single-level SET changes, applied in order to the snapshot books they never cross."""
    rng = random.Random(seed * 7919 + len(instance.components))
    pools = _size_pools(rng)
    bids = [dict(ladder.bids) for ladder in instance.ladders]
    asks = [dict(ladder.asks) for ladder in instance.ladders]
    stream: list[Update] = []

    def emit(index: int, side: BookSide, cents: int, size: int) -> None:
        ladder = instance.ladders[index]
        levels = bids[index] if side is BookSide.BID else asks[index]
        if size:
            levels[cents] = size
        else:
            del levels[cents]
        stream.append((ladder.book, side, cents * CENT, size, ladder.venue, ladder.market_id))

    def requote(index: int, center: int) -> None:
        ladder = instance.ladders[index]
        new_bids, new_asks = _quote(center, ladder.complement)
        old_best_bid = max(bids[index], default=0)
        moving_down = (new_bids[0] if new_bids else 0) < old_best_bid
        order = (
            ((BookSide.BID, new_bids), (BookSide.ASK, new_asks))
            if moving_down
            else ((BookSide.ASK, new_asks), (BookSide.BID, new_bids))
        )
        for side, wanted in order:  # the side moving away from the other goes first
            levels = bids[index] if side is BookSide.BID else asks[index]
            for cents in wanted:
                if cents not in levels:
                    emit(index, side, cents, _size(rng, pools, ladder.venue))
            for cents in sorted(set(levels) - set(wanted), reverse=side is BookSide.BID):
                emit(index, side, cents, 0)

    markets = instance.markets
    reverts: list[tuple[int, _Market]] = []  # (due event, market): jumps are requoted back soon
    event = 0
    while len(stream) < updates:
        event += 1
        if reverts and reverts[0][0] <= event:
            _, target = reverts.pop(0)
            for index in target.ladders:
                requote(index, target.anchor_cents)
            continue
        target = markets[rng.randrange(len(markets))]
        if rng.random() < _SIZE_CHANGE_SHARE:
            index = target.ladders[rng.randrange(len(target.ladders))]
            side = BookSide.BID if rng.random() < 0.5 else BookSide.ASK
            levels = bids[index] if side is BookSide.BID else asks[index]
            if levels:
                emit(index, side, rng.choice(sorted(levels)), _size(rng, pools, target.venue))
            continue
        if rng.random() < _JUMP_SHARE:  # the component is (often) incoherent for a few events
            center = target.anchor_cents + rng.choice((-1, 1)) * rng.randint(8, 20)
            if not any(m is target for _, m in reverts):
                reverts.append((event + _JUMP_EVENTS, target))
        else:
            center = target.anchor_cents + rng.randint(-2, 2)
        center = min(95, max(5, center))
        for index in target.ladders:
            requote(index, center)
    return stream[:updates]


# -- timing -------------------------------------------------------------------------------------------
class _Clock:
    __slots__ = ("now_ns",)

    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns


def _timed_pass(scanner: Scanner, clock: _Clock, stream: list[Update], drain_every: int) -> int:
    apply_set = ChangeMode.SET
    on_change = scanner.on_book_change
    drain = scanner.drain
    with gc_paused():
        start = time.perf_counter_ns()
        now = clock.now_ns
        if drain_every == 1:
            for book, side, price, size, venue, market_id in stream:
                now += _STEP_NS
                clock.now_ns = now
                book.apply_level(side, price, size, apply_set, now)
                on_change(venue, market_id)
                drain()
        else:
            for i, (book, side, price, size, venue, market_id) in enumerate(stream, 1):
                now += _STEP_NS
                clock.now_ns = now
                book.apply_level(side, price, size, apply_set, now)
                on_change(venue, market_id)
                if i % drain_every == 0:
                    drain()
            drain()
        return time.perf_counter_ns() - start


@dataclass(slots=True)
class _Setup:
    """One size, built once (untimed): instance, stream, scanner and the best pass per drain mode."""

    instance: Instance
    stream: list[Update]
    clock: _Clock
    scanner: Scanner
    best_ns: dict[int, int] = field(default_factory=dict)
    counts: dict[int, Counter[str]] = field(default_factory=dict)
    untrusted: int = 0


def _setup(n_components: int, updates: int, seed: int) -> _Setup:
    instance = build_instance(n_components, seed)
    stream = generate_stream(instance, updates, seed)
    clock = _Clock()
    scanner = Scanner(instance.components, instance.books, now_ns=clock, config=ScannerConfig())
    return _Setup(instance, stream, clock, scanner)


def _one_pass(setup: _Setup, drain_every: int) -> None:
    reset_books(setup.instance)
    setup.clock.now_ns = 0
    setup.scanner.mark_all_dirty()
    setup.scanner.drain()  # warm: every component evaluated once at the snapshots
    before = _counters(setup.scanner)
    elapsed = _timed_pass(setup.scanner, setup.clock, setup.stream, drain_every)
    after = _counters(setup.scanner)
    setup.untrusted = max(setup.untrusted, sum(not book.trusted for book in setup.instance.books.values()))
    if drain_every not in setup.best_ns or elapsed < setup.best_ns[drain_every]:
        setup.best_ns[drain_every] = elapsed
        setup.counts[drain_every] = Counter({key: after[key] - before[key] for key in after})


def _row(n_components: int, setup: _Setup, drain_every: int) -> ScannerBenchRow:
    counts = setup.counts[drain_every]
    updates = len(setup.stream)
    return ScannerBenchRow(
        components=n_components,
        markets=len(setup.instance.markets),
        drain_every=drain_every,
        updates=updates,
        per_update_us=setup.best_ns[drain_every] / updates / 1_000,
        evaluations=counts["evaluations"],
        coalesced=counts["coalesced"],
        cleared_by_bound=counts["cleared_by_bound"],
        forwarded=counts["forwarded"],
        cleared_by={k[len("cleared:") :]: v for k, v in counts.items() if k.startswith("cleared:") and v},
        forward_reasons={k[len("forward:") :]: v for k, v in counts.items() if k.startswith("forward:") and v},
        untrusted_books=setup.untrusted,
    )


def _counters(scanner: Scanner) -> Counter[str]:
    stats = scanner.stats
    out: Counter[str] = Counter(
        evaluations=stats.evaluations,
        coalesced=stats.coalesced,
        cleared_by_bound=stats.cleared_by_bound,
        forwarded=stats.forwarded,
    )
    for key, value in stats.cleared_by.items():
        out[f"cleared:{key}"] = value
    for key, value in stats.forward_reasons.items():
        out[f"forward:{key}"] = value
    for key in ("cached_point", "structure", "vertex_lp", "projection", "no_listings"):
        out.setdefault(f"cleared:{key}", 0)
    for key in ("crossed", "row", "difference", "vertex_lp", "undecided"):
        out.setdefault(f"forward:{key}", 0)
    return out


def _ratio(rows: list[ScannerBenchRow], drain_every: int) -> float:
    costs = [r.per_update_us for r in rows if r.drain_every == drain_every]
    return max(costs) / min(costs) if costs else 1.0


def run_scanner_bench(
    *,
    sizes: tuple[int, ...] = (10, 10_000),
    updates: int = 20_000,
    seed: int = 1,
    json_path: Path | None = None,
    repeats: int = 3,
) -> ScannerBenchReport:
    """Time the scanner at every size in one run; print the side-by-side table; optionally write JSON."""
    if not sizes or any(not isinstance(n, int) or n < 1 for n in sizes):
        raise ConfigError(f"sizes must be positive component counts, was {sizes!r}")
    if updates < 1 or repeats < 1:
        raise ConfigError(f"updates and repeats must be >= 1, were {updates} and {repeats}")
    drain_modes = (1, COALESCED_BATCH)
    setups = {n: _setup(n, updates, seed) for n in dict.fromkeys(sizes)}
    for _ in range(repeats):  # interleaved, so load on the machine hits every size alike
        for drain_every in drain_modes:
            for setup in setups.values():
                _one_pass(setup, drain_every)
    rows = [_row(n, setup, drain_every) for n, setup in setups.items() for drain_every in drain_modes]
    report = ScannerBenchReport(
        tuple(rows), _ratio(rows, 1), _ratio(rows, COALESCED_BATCH), valid=all(r.untrusted_books == 0 for r in rows)
    )
    _print(report, repeats)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "results": [asdict(r) for r in rows],
            "ratio": report.ratio,
            "ratio_coalesced": report.ratio_coalesced,
            "max_ratio": MAX_RATIO,
            "ok": report.ok,
        }
        json_path.write_text(json.dumps(payload, indent=1) + "\n")
    return report


def _print(report: ScannerBenchReport, repeats: int) -> None:
    print(
        "scanner: cost per book change = apply to book + on_book_change + drain (one core, best of", repeats, "passes)"
    )
    print(
        f"{'components':>10} {'markets':>8} {'drain':>6} {'updates':>8} {'us/update':>10} {'evals':>7} {'coalesced':>9} {'cleared':>8} {'forwarded':>9}  cleared by / forwarded by"
    )
    for r in report.rows:
        drain = "every" if r.drain_every == 1 else f"/{r.drain_every}"
        cleared = " ".join(f"{k}={v}" for k, v in sorted(r.cleared_by.items()))
        forwarded = " ".join(f"{k}={v}" for k, v in sorted(r.forward_reasons.items()))
        print(
            f"{r.components:>10,} {r.markets:>8,} {drain:>6} {r.updates:>8,} {r.per_update_us:>10.2f} {r.evaluations:>7,} {r.coalesced:>9,} {r.cleared_by_bound:>8,} {r.forwarded:>9,}  {cleared} / {forwarded or '-'}"
        )
    sizes = sorted({r.components for r in report.rows})
    verdict = "PASS" if report.ok else "FAIL"
    print(
        f"per-update cost, {sizes[-1]:,} vs {sizes[0]:,} components: drain every update {report.ratio:.2f}x (target <= {MAX_RATIO:.1f}x: {verdict}); "
        f"drain every {COALESCED_BATCH}: {report.ratio_coalesced:.2f}x (coalescing helps small graphs more; reported only)"
    )
    if not report.valid:
        print("INVALID RUN: some books ended untrusted (the stream crossed a ladder)")
