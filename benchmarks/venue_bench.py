"""`arb bench venues`: decode + apply throughput of book-change messages, per venue, one core.

Each venue's production session (`KalshiSession.receive`, `PolymarketMarketSession.receive`) gets
the seeded feed of `benchmarks.venue_feeds`: subscription handshake and snapshots first (untimed),
then the book-change frames, timed end to end (orjson decode, field validation into exact integers,
sequence/consistency checks, book application). The run is also a correctness check: every frame
must be accepted and every book must still be trusted at the end, otherwise the figure is void.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from benchmarks.timing import gc_paused
from benchmarks.venue_feeds import POLYMARKET_MIN_ORDER_SIZE, POLYMARKET_NEG_RISK, Feed, kalshi_feed, polymarket_feed

__all__ = ["TARGET_MESSAGES_PER_SECOND", "VenueResult", "run_venue_bench"]

TARGET_MESSAGES_PER_SECOND = 50_000


@dataclass(frozen=True, slots=True)
class VenueResult:
    venue: str
    messages: int
    seconds: float
    messages_per_second: float
    books: int
    rejected: int
    untrusted_books: int

    @property
    def ok(self) -> bool:
        """Fast enough, and the run was valid: books exist, no frame rejected, all still trusted."""
        return (
            self.messages_per_second >= TARGET_MESSAGES_PER_SECOND
            and self.books > 0
            and not self.rejected
            and not self.untrusted_books
        )


def _time_feed(feed: Feed, receive: Callable[[bytes, int], object]) -> float:
    """One timed pass over the change frames (deltas only make sense on the state they were
    generated against, so every pass starts from a fresh session prepared by the caller)."""
    clock = time.perf_counter_ns
    with gc_paused():
        start = time.perf_counter()
        for raw in feed.changes:
            receive(raw, clock())
        return time.perf_counter() - start


def bench_kalshi(changes: int, seed: int, repeats: int = 3) -> VenueResult:
    from arb.venues.kalshi.session import KalshiSession

    feed = kalshi_feed(changes=changes, seed=seed)
    best = None
    for _ in range(repeats):
        session = KalshiSession()
        tickers = sorted({json.loads(s)["msg"]["market_ticker"] for s in feed.snapshots})
        session.subscribe(tickers, now_ns=0)
        [command] = [c.json() for c in session.outgoing()]
        session.receive(
            json.dumps({"id": command["id"], "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}}), 0
        )
        for raw in feed.snapshots:
            session.receive(raw, 0)
        seconds = _time_feed(feed, session.receive)
        result = VenueResult(
            "kalshi",
            len(feed.changes),
            seconds,
            len(feed.changes) / seconds,
            len(session.books),
            session.stats.rejected_total,
            sum(not b.trusted for b in session.books.values()),
        )
        if best is None or result.seconds < best.seconds:
            best = result
    assert best is not None
    return best


def bench_polymarket(changes: int, seed: int, repeats: int = 3) -> VenueResult:
    from arb.venues.polymarket.session import PolymarketMarketSession
    from arb.venues.polymarket.wire import BookHashContext

    feed = polymarket_feed(changes=changes, seed=seed)
    best = None
    for _ in range(repeats):
        session = PolymarketMarketSession(adopt_unknown_books=False)
        context = BookHashContext(POLYMARKET_MIN_ORDER_SIZE, POLYMARKET_NEG_RISK)
        for raw in feed.snapshots:
            [book] = orjson.loads(raw)
            session.track_assets([book["asset_id"]], book["market"], context=context)
        for raw in feed.snapshots:
            session.receive(raw, 0)
        if session.stats.hash_mismatches or session.stats.hash_unchecked or session.stats.snapshots != feed.books:
            raise AssertionError(f"polymarket snapshots not all verified: {session.stats}")
        seconds = _time_feed(feed, session.receive)
        result = VenueResult(
            "polymarket",
            len(feed.changes),
            seconds,
            len(feed.changes) / seconds,
            len(session.books),
            session.stats.rejected_total,
            sum(not b.trusted for b in session.books.values()),
        )
        if best is None or result.seconds < best.seconds:
            best = result
    assert best is not None
    return best


def run_venue_bench(
    *, changes: int = 100_000, seed: int = 1, json_path: Path | None = None, repeats: int = 3
) -> list[VenueResult]:
    results = [bench_kalshi(changes, seed, repeats), bench_polymarket(changes, seed, repeats)]
    print(
        f"{'venue':<11} {'messages':>9} {'seconds':>8} {'msg/s':>10} {'books':>6} {'rejected':>8} {'untrusted':>9}  target >= {TARGET_MESSAGES_PER_SECOND:,}/s"
    )
    for r in results:
        verdict = "PASS" if r.ok else "FAIL"
        print(
            f"{r.venue:<11} {r.messages:>9,} {r.seconds:>8.3f} {r.messages_per_second:>10,.0f} {r.books:>6} {r.rejected:>8} {r.untrusted_books:>9}  {verdict}"
        )
    print("one core, best of", repeats, "passes each on fresh sessions; absolute rates depend on the machine")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"results": [dict(asdict(r).items()) for r in results]}
        json_path.write_text(json.dumps(payload, indent=1) + "\n")
    return results
