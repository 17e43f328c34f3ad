"""How many book changes a second the scenario's simulators sustain, with both real clients
subscribed to every book (what a daemon sees):

    python -m arb.scenario.throughput [--rates 1000,3000,6000] [--seconds 5] [--in-process]

For each requested `book_changes_per_s` it runs `SimulatedVenues` (in a process of their own unless
`--in-process`) for `--seconds` after a one-second warm-up and prints, side by side, the rate asked
for, the rate the market makers made (openings included), the changes they had to skip because their
task fell behind, and the book events the two clients received a second. A measurement, not a test:
the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arb.scenario.metadata import open_clients
from arb.scenario.venues import ScenarioConfig, SimulatedVenues

__all__ = ["ThroughputRow", "main", "measure"]


@dataclass(frozen=True, slots=True)
class ThroughputRow:
    requested_per_s: float
    made_per_s: float
    skipped: int
    client_events_per_s: float


async def measure(rate: float, seconds: float, *, venues_process: bool = True) -> ThroughputRow:
    events = [0]

    def count(event: Any) -> None:
        events[0] += 1

    config = ScenarioConfig(book_changes_per_s=rate, venues_process=venues_process)
    async with SimulatedVenues(config) as venues:
        kalshi, polymarket = open_clients(venues, sink=count)
        try:
            await kalshi.start()
            await polymarket.start()
            await kalshi.subscribe(await kalshi.markets())
            await polymarket.subscribe(await polymarket.markets())
            await asyncio.sleep(1.0)  # warm-up: snapshots in
            start_events, start = events[0], time.monotonic()
            await asyncio.sleep(seconds)  # the measured window
            received = (events[0] - start_events) / (time.monotonic() - start)
        finally:
            await kalshi.close()
            await polymarket.close()
    stats = venues.stats()
    assert stats is not None
    return ThroughputRow(rate, stats.achieved_book_changes_per_s, stats.skipped_changes, received)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arb.scenario.throughput", description=__doc__)
    parser.add_argument("--rates", default="1000,3000,6000", help="book changes a second to ask for, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per rate")
    parser.add_argument("--in-process", action="store_true", help="simulators in this process")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"cpus {os.cpu_count()}, load average {load:.2f}, simulators {'in process' if args.in_process else 'in a process of their own'}"
    )
    print(f"{'requested/s':>12} {'made/s':>10} {'skipped':>8} {'client events/s':>16}")
    for rate in rates:
        row = asyncio.run(measure(rate, args.seconds, venues_process=not args.in_process))
        print(
            f"{row.requested_per_s:>12.0f} {row.made_per_s:>10.0f} {row.skipped:>8d} {row.client_events_per_s:>16.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
