"""Latency of the ledger's synchronous writes, per write kind, with `synchronous=FULL` (the
ledger's default: an fsync per commit) and `NORMAL` side by side in one run, so the executor can
decide whether to move writes off the event loop.

    python -m benchmarks.ledger_bench [--writes N] [--dir DIR] [--json FILE]

Absolute figures depend on the disk and its cache and on the machine's load (printed); the
FULL/NORMAL ratio is the comparable figure. Run it on the disk the ledger will live on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Literal

from arb.domain import Action, Fill, FillStatus, OrderStatus, OrderUpdate, Side, TimeInForce, Venue
from arb.ledger import Intent, IntentLeg, Ledger
from benchmarks.timing import gc_paused

KINDS = ("journal_intent_3_legs", "record_order", "record_fill", "record_fill_duplicate", "fill_reversal")


@dataclass(frozen=True, slots=True)
class WriteLatency:
    synchronous: str
    kind: str
    writes: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def _percentile(sorted_ns: list[int], q: float) -> float:
    index = min(len(sorted_ns) - 1, max(0, round(q * (len(sorted_ns) - 1))))
    return sorted_ns[index] / 1e6


def _leg(number: int, leg: int) -> IntentLeg:
    return IntentLeg(
        venue=Venue.KALSHI if leg % 2 == 0 else Venue.POLYMARKET,
        market_id=f"M{leg}",
        outcome=Side.YES,
        action=Action.BUY,
        price_micro_usd=100_000 + number % 800_000,
        size_micro=1_000_000,
        time_in_force=TimeInForce.IOC,
    )


def measure(directory: Path, synchronous: Literal["FULL", "NORMAL"], writes: int) -> list[WriteLatency]:
    """Time `writes` of each kind on a fresh ledger file in `directory`."""
    path = directory / f"bench-{synchronous.lower()}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    samples: dict[str, list[int]] = {kind: [] for kind in KINDS}
    with Ledger(path, synchronous=synchronous) as ledger, gc_paused():

        def timed(kind: str, write: Callable[[], object]) -> None:
            start = time.perf_counter_ns()
            write()
            samples[kind].append(time.perf_counter_ns() - start)

        for number in range(writes):
            intent = Intent(f"intent-{number}", f"set-{number % 8}", number, tuple(_leg(number, i) for i in range(3)))
            timed("journal_intent_3_legs", partial(ledger.journal_intent, intent))
            cid = intent.client_order_ids()[1]
            update = OrderUpdate(
                venue=Venue.POLYMARKET,
                order_id=f"0x{number:064x}",
                client_order_id=cid,
                market_id="M1",
                book_id="M1",
                outcome=Side.YES,
                action=Action.BUY,
                status=OrderStatus.OPEN,
                price_micro_usd=100_000,
                initial_size_micro=1_000_000,
                filled_size_micro=0,
                remaining_size_micro=1_000_000,
            )
            timed("record_order", partial(ledger.record_order, update, now_ms=number))
            fill = Fill(
                venue=Venue.POLYMARKET,
                fill_id=f"trade-{number}",
                order_id=update.order_id,
                client_order_id=cid,
                market_id="M1",
                book_id="M1",
                outcome=Side.YES,
                action=Action.BUY,
                price_micro_usd=100_000,
                size_micro=1_000_000,
                fee_micro_usd=1_000,
                liquidity=None,
                status=FillStatus.MATCHED,
            )
            timed("record_fill", partial(ledger.record_fill, fill, now_ms=number))
            timed("record_fill_duplicate", partial(ledger.record_fill, fill, now_ms=number))
            failed = dataclasses.replace(fill, status=FillStatus.FAILED)
            timed("fill_reversal", partial(ledger.record_fill, failed, now_ms=number))
    results = []
    for kind in KINDS:
        ns = sorted(samples[kind])
        results.append(
            WriteLatency(synchronous, kind, len(ns), _percentile(ns, 0.5), _percentile(ns, 0.99), ns[-1] / 1e6)
        )
    return results


def run(writes: int = 500, directory: Path | None = None, json_path: Path | None = None) -> list[WriteLatency]:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        results = measure(Path(tmp), "FULL", writes) + measure(Path(tmp), "NORMAL", writes)
    load_after = os.getloadavg()
    by_key = {(r.synchronous, r.kind): r for r in results}
    print(f"ledger write latency, {writes} writes per kind; load average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print(f"{'write':<24}{'FULL p50':>10}{'FULL p99':>10}{'NORMAL p50':>12}{'NORMAL p99':>12}{'p50 ratio':>11}")
    for kind in KINDS:
        full, normal = by_key[("FULL", kind)], by_key[("NORMAL", kind)]
        ratio = full.p50_ms / normal.p50_ms if normal.p50_ms else float("inf")
        print(
            f"{kind:<24}{full.p50_ms:>10.3f}{full.p99_ms:>10.3f}{normal.p50_ms:>12.3f}{normal.p99_ms:>12.3f}{ratio:>11.1f}"
        )
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "results": [asdict(r) for r in results],
            "machine": {"cpus": os.cpu_count(), "load_average_before": load_before, "load_average_after": load_after},
        }
        json_path.write_text(json.dumps(payload, indent=1) + "\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None, help="directory for the ledger files (default: system temp)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    run(args.writes, args.dir, args.json)


if __name__ == "__main__":
    main()
