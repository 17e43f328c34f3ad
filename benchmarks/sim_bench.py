"""`arb bench sim`: each simulated venue's sustained publish rate of book changes to one client over
loopback, with the per-change cost and the memory over time (a benchmark, not a test).

Per venue, the simulator runs in this process on its own event loop with 50 order books (Kalshi:
50 tickers on one `orderbook_delta` subscription; Polymarket: 25 markets, 50 token books), and a
plain websockets client runs in a separate process (so its parsing does not share the simulator's
core): it subscribes, takes the snapshots, then counts every book change it receives (Kalshi: every
`orderbook_delta`, checking the subscription's `seq` has no gap; Polymarket: every entry of every
`price_change` frame). The simulator then publishes changes for `duration_s`: each change sets one
level of one book to a new size (`set_level`, the house liquidity path that scenario replays use),
one published change per call. With no `--rate`, it publishes as fast as the loop can while the
client keeps up (it yields whenever more than a few hundred frames are queued, so the figure is the
sustained end-to-end rate, not the speed of filling a queue); with `--rate R`, it paces itself to R
changes/s. A sentinel change on a book the client also follows ends the run: the client reports
what it counted, so lost changes (published but never received) are counted exactly.

Reported per venue: changes published and delivered, delivered changes/s, lost and dropped
(slow-consumer overflows), seq gaps, the simulator process's CPU time per change in each tenth of
the run (first vs last decile and their ratio show whether the per-change cost is flat), and its
resident memory at the start, middle and end of the publishing phase. `--strict` fails a run
delivering under 10,000 changes/s, shorter than 60 s, with any loss, a last/first decile cost ratio
above 1.5 or memory growing more than 10% (and 16 MB) from the middle to the end. Absolute figures
depend on the machine and its load (printed with the results).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import sys
import time
from asyncio.subprocess import PIPE
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["TARGET_CHANGES_PER_SECOND", "TARGET_DURATION_S", "SimBenchResult", "run_sim_bench"]

TARGET_CHANGES_PER_SECOND = 10_000
TARGET_DURATION_S = 60.0
MAX_COST_RATIO = 1.5
MAX_MEMORY_GROWTH = 0.10
MEMORY_SLACK_BYTES = 16 * 1024 * 1024
_BOOKS = 50
_LEVELS = 5
_BATCH = 100  # changes published between two yields to the loop
_HIGH_WATER = 512  # queued frames above which the publisher yields to the writer
_SETUP_TIMEOUT_S = 60.0
_SENTINEL = "SENTINEL"


@dataclass(frozen=True, slots=True)
class Window:
    t_s: float  # end of the window, seconds since publishing started
    changes: int
    cpu_us_per_change: float
    wall_us_per_change: float
    rss_mb: float


@dataclass(slots=True)
class SimBenchResult:
    venue: str
    duration_s: float
    target_rate: float | None
    published: int
    delivered: int
    changes_per_second: float
    lost: int
    dropped: int
    seq_gaps: int
    windows: list[Window]
    cost_first_us: float
    cost_last_us: float
    cost_ratio: float
    rss_mb_start: float
    rss_mb_mid: float
    rss_mb_end: float
    client_cpu_us_per_change: float  # the client process's CPU per change received (setup included)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the peak is the best available figure
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- the client process ----------------------------------------------------------------------------


def _client_cli() -> None:
    """`python -m benchmarks.sim_bench`: the client process. Reads its settings as one JSON line on
    stdin, prints "ready" after the snapshots and, at the end, one JSON line of what it counted."""
    settings = json.loads(sys.stdin.readline())
    asyncio.run(_client(settings["venue"], settings["url"], settings["books"], settings["auth"], _report))


def _report(kind: str, payload: Any) -> None:
    print(json.dumps([kind, payload]), flush=True)


async def _client(
    venue: str, url: str, books: list[str], auth: dict[str, str], out: Callable[[str, Any], None]
) -> None:
    import orjson
    from websockets.asyncio.client import connect

    headers: dict[str, str] = {}
    if venue == "kalshi":
        from cryptography.hazmat.primitives import serialization

        from arb.venues.kalshi.auth import KalshiSigner

        key = serialization.load_pem_private_key(auth["pem"].encode(), password=None)
        signer = KalshiSigner(auth["key_id"], key)  # type: ignore[arg-type]
        headers = signer.headers("GET", urlsplit(url).path, int(time.time() * 1000))
    received = gaps = 0
    first = last = 0.0
    async with connect(url, additional_headers=headers, compression=None, max_size=None, max_queue=None) as ws:
        if venue == "kalshi":
            await ws.send(
                orjson.dumps(
                    {"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"], "market_tickers": books}}
                ).decode()
            )
            snapshots = 0
            seq = 0
            while snapshots < len(books):
                frame = orjson.loads(await ws.recv())
                if frame.get("type") == "orderbook_snapshot":
                    snapshots += 1
                    seq = frame["seq"]
            out("ready", None)
            while True:
                frame = orjson.loads(await ws.recv())
                if frame.get("type") != "orderbook_delta":
                    if frame.get("type") == "error":
                        out("error", frame)
                        return
                    continue
                if frame["seq"] != seq + 1:
                    gaps += 1
                seq = frame["seq"]
                if frame["msg"]["market_ticker"] == _SENTINEL:
                    break
                last = time.time()
                if not received:
                    first = last
                received += 1
        else:
            await ws.send(orjson.dumps({"assets_ids": books, "type": "market"}).decode())
            snapshots = 0
            while snapshots < len(books):
                frame = orjson.loads(await ws.recv())
                items = frame if isinstance(frame, list) else [frame]
                snapshots += sum(1 for item in items if item.get("event_type") == "book")
            out("ready", None)
            done = False
            while not done:
                frame = orjson.loads(await ws.recv())
                for item in frame if isinstance(frame, list) else [frame]:
                    if item.get("event_type") != "price_change":
                        continue
                    for change in item["price_changes"]:
                        if change["asset_id"] == _SENTINEL:
                            done = True
                            continue
                        last = time.time()
                        if not received:
                            first = last
                        received += 1
    out("done", {"received": received, "gaps": gaps, "first": first, "last": last, "cpu_s": time.process_time()})


# -- the simulator side ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Venue:
    name: str
    sim: Any
    url: str
    books: list[str]
    auth: dict[str, str]
    set_level: Callable[[str, Any, int, int], None]
    dropped: Callable[[], int]


def _kalshi(seed: int, wall_ms: Callable[[], int]) -> _Venue:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from arb.venues.sim.kalshi import KalshiSimulator

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sim = KalshiSimulator(api_keys={"bench": key.public_key()}, seed=seed, clock_ms=wall_ms)
    sim.add_series("KXBENCH", "Bench")
    sim.add_event("KXBENCH-1", "KXBENCH")
    books = [f"KXBENCH-1-M{i:02d}" for i in range(_BOOKS)] + [_SENTINEL]
    for ticker in books:
        sim.add_market(ticker, "KXBENCH-1")
        sim.set_book(ticker, *_initial_levels())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return _Venue(
        "kalshi",
        sim,
        "",
        books,
        {"key_id": "bench", "pem": pem},
        sim.set_level,
        lambda: int(sim.overflows),
    )


def _polymarket(seed: int, wall_ms: Callable[[], int]) -> _Venue:
    from arb.venues.sim.polymarket import PolymarketMarketSpec, PolymarketSimulator

    specs = [
        PolymarketMarketSpec(f"0x{i:064x}", f"Bench market {i}", f"{2 * i + 1000}", f"{2 * i + 1001}")
        for i in range(_BOOKS // 2)
    ]
    specs.append(PolymarketMarketSpec("0x" + "ff" * 32, "Sentinel", _SENTINEL, _SENTINEL + "-NO"))
    sim = PolymarketSimulator(specs, clock_ms=wall_ms, seed=seed, participants=False)
    books = [token for spec in specs[:-1] for token in spec.tokens] + [_SENTINEL]
    for token in books:
        sim.set_book(token, *_initial_levels())
    return _Venue(
        "polymarket",
        sim,
        "",
        books,
        {},
        sim.set_level,
        lambda: int(sim.stats["slow_consumer_disconnects"]),
    )


def _initial_levels() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    bids = [(440_000 - 10_000 * k, 100_000_000) for k in range(_LEVELS)]
    asks = [(460_000 + 10_000 * k, 100_000_000) for k in range(_LEVELS)]
    return bids, asks


async def _bench_venue(
    venue_name: str, duration_s: float, rate: float | None, seed: int, windows: int
) -> SimBenchResult:
    from arb.domain import BookSide

    wall_ms = lambda: time.time_ns() // 1_000_000  # noqa: E731 - the simulators' wall clock
    venue = _kalshi(seed, wall_ms) if venue_name == "kalshi" else _polymarket(seed, wall_ms)
    sim = venue.sim
    await sim.start()
    venue.url = sim.ws_url if venue_name == "kalshi" else sim.market_ws_url
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.sim_bench", stdin=PIPE, stdout=PIPE, cwd=root, env=env
    )
    assert client.stdin is not None and client.stdout is not None
    settings = {"venue": venue_name, "url": venue.url, "books": venue.books, "auth": venue.auth}
    client.stdin.write(json.dumps(settings).encode() + b"\n")
    await client.stdin.drain()

    async def message() -> tuple[str, Any]:
        assert client.stdout is not None
        line = await asyncio.wait_for(client.stdout.readline(), _SETUP_TIMEOUT_S)
        if not line:
            raise RuntimeError(f"{venue_name} bench client exited ({await client.wait()})")
        kind, payload = json.loads(line)
        return str(kind), payload

    try:
        kind, payload = await message()
        if kind != "ready":
            raise RuntimeError(f"{venue_name} bench client failed to start: {payload}")
        rng = random.Random(seed)
        tracked = venue.books[:-1]
        sizes = {
            (book, side, k): 100 for book in tracked for side in (BookSide.BID, BookSide.ASK) for k in range(_LEVELS)
        }
        published = 0
        window_s = duration_s / windows
        results: list[Window] = []
        rss_start = _rss_bytes()
        start = time.perf_counter()
        cpu_start = time.process_time()
        window_end = start + window_s
        window_cpu, window_wall, window_changes = cpu_start, start, 0
        set_level = venue.set_level
        while True:
            now = time.perf_counter()
            if now >= window_end:
                cpu = time.process_time()
                changes = max(window_changes, 1)
                results.append(
                    Window(
                        round(now - start, 3),
                        window_changes,
                        (cpu - window_cpu) * 1e6 / changes,
                        (now - window_wall) * 1e6 / changes,
                        _rss_bytes() / 2**20,
                    )
                )
                window_cpu, window_wall, window_changes = cpu, now, 0
                window_end += window_s
                if len(results) == windows:
                    break
            for _ in range(_BATCH):
                book = tracked[rng.randrange(len(tracked))]
                side = BookSide.BID if rng.random() < 0.5 else BookSide.ASK
                k = rng.randrange(_LEVELS)
                key = (book, side, k)
                size = rng.randrange(1, 200)
                if size == sizes[key]:
                    size += 1
                sizes[key] = size
                price = 440_000 - 10_000 * k if side is BookSide.BID else 460_000 + 10_000 * k
                set_level(book, side, price, size * 1_000_000)
            published += _BATCH
            window_changes += _BATCH
            if rate is not None:
                due = start + published / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.sleep(0)  # let the writer send this batch
            while sim.queued_frames > _HIGH_WATER:  # the client is behind: wait, without spinning
                await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - start
        set_level(_SENTINEL, BookSide.BID, 440_000, 7_000_000)  # the end marker
        kind, payload = await message()
        if kind != "done":
            raise RuntimeError(f"{venue_name} bench client ended with {kind}: {payload}")
    finally:
        try:
            await asyncio.wait_for(client.wait(), 5)
        except TimeoutError:
            client.kill()
            await client.wait()
        await sim.close()
    delivered = int(payload["received"])
    span = max(payload["last"] - payload["first"], 1e-9) if delivered > 1 else elapsed
    decile = max(1, windows // 10)
    first_cost = sum(w.cpu_us_per_change for w in results[:decile]) / decile
    last_cost = sum(w.cpu_us_per_change for w in results[-decile:]) / decile
    mid = results[len(results) // 2 - 1].rss_mb if len(results) > 1 else rss_start / 2**20
    result = SimBenchResult(
        venue_name,
        round(elapsed, 3),
        rate,
        published,
        delivered,
        delivered / max(span, elapsed / 2),
        published - delivered,
        venue.dropped(),
        int(payload["gaps"]),
        results,
        first_cost,
        last_cost,
        last_cost / first_cost if first_cost else float("inf"),
        rss_start / 2**20,
        mid,
        results[-1].rss_mb,
        float(payload["cpu_s"]) * 1e6 / max(delivered, 1),
    )
    result.failures = _failures(result)
    return result


def _failures(r: SimBenchResult) -> list[str]:
    failures = []
    if r.changes_per_second < TARGET_CHANGES_PER_SECOND:
        failures.append(f"{r.changes_per_second:,.0f} changes/s is below {TARGET_CHANGES_PER_SECOND:,}")
    if r.duration_s < TARGET_DURATION_S:
        failures.append(f"ran {r.duration_s:.0f} s, not {TARGET_DURATION_S:.0f} s")
    if r.lost or r.dropped or r.seq_gaps:
        failures.append(f"lost {r.lost}, dropped {r.dropped}, seq gaps {r.seq_gaps}")
    if r.cost_ratio > MAX_COST_RATIO:
        failures.append(f"per-change cost grew {r.cost_ratio:.2f}x from the first to the last decile")
    growth = (r.rss_mb_end - r.rss_mb_mid) * 2**20
    if growth > max(MAX_MEMORY_GROWTH * r.rss_mb_mid * 2**20, MEMORY_SLACK_BYTES):
        failures.append(f"memory grew {growth / 2**20:.1f} MB from the middle to the end")
    return failures


def run_sim_bench(
    *,
    duration_s: float = TARGET_DURATION_S,
    rate: float | None = None,
    seed: int = 1,
    json_path: Path | None = None,
    venues: tuple[str, ...] = ("kalshi", "polymarket"),
    windows: int = 10,
) -> list[SimBenchResult]:
    """Run each venue's publish benchmark in turn; print a table and optionally write JSON."""
    if duration_s <= 0 or windows < 1 or (rate is not None and rate <= 0):
        raise ValueError("duration_s and rate must be positive, windows at least 1")
    for name in venues:
        if name not in ("kalshi", "polymarket"):
            raise ValueError(f"unknown venue {name!r}")
    load_before = os.getloadavg()
    results = [asyncio.run(_bench_venue(name, duration_s, rate, seed, windows)) for name in venues]
    load_after = os.getloadavg()
    header = (
        f"{'venue':<11} {'seconds':>7} {'published':>10} {'delivered':>10} {'changes/s':>10} {'lost':>5} "
        f"{'dropped':>7} {'gaps':>5} {'cpu us/change first->last (ratio)':>34} {'RSS MB start/mid/end':>21} "
        f"{'client us':>9}"
    )
    print(header)
    for r in results:
        cost = f"{r.cost_first_us:.1f} -> {r.cost_last_us:.1f} ({r.cost_ratio:.2f}x)"
        rss = f"{r.rss_mb_start:.0f}/{r.rss_mb_mid:.0f}/{r.rss_mb_end:.0f}"
        print(
            f"{r.venue:<11} {r.duration_s:>7.1f} {r.published:>10,} {r.delivered:>10,} {r.changes_per_second:>10,.0f} "
            f"{r.lost:>5} {r.dropped:>7} {r.seq_gaps:>5} {cost:>34} {rss:>21} {r.client_cpu_us_per_change:>9.1f}  "
            f"{'PASS' if r.ok else 'FAIL'}"
        )
        for failure in r.failures:
            print(f"  {r.venue}: {failure}")
    cpus = os.cpu_count()
    print(
        f"one client process per venue over loopback; {cpus} CPUs, load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after; absolute rates depend on the machine and its load"
    )
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "results": [{**asdict(r), "ok": r.ok} for r in results],
            "machine": {"cpus": cpus, "load_average_before": load_before, "load_average_after": load_after},
            "targets": {
                "changes_per_second": TARGET_CHANGES_PER_SECOND,
                "duration_s": TARGET_DURATION_S,
                "max_cost_ratio": MAX_COST_RATIO,
                "max_memory_growth": MAX_MEMORY_GROWTH,
            },
        }
        json_path.write_text(json.dumps(payload, indent=1) + "\n")
    return results


if __name__ == "__main__":
    _client_cli()
