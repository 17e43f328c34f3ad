"""The `arb` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _bench_solvers(args: argparse.Namespace) -> int:
    from benchmarks.solver_suite import run_suite

    report = run_suite(quick=args.quick, seed=args.seed, out_dir=args.out, json_path=args.json)
    failed = [name for name, ok, _ in report.checks if not ok]
    if failed and args.strict:
        print(f"{len(failed)} check(s) failed", file=sys.stderr)
        return 1
    return 0


def _bench_venues(args: argparse.Namespace) -> int:
    from benchmarks.venue_bench import run_venue_bench

    results = run_venue_bench(changes=args.messages, seed=args.seed, json_path=args.json, repeats=args.repeats)
    failed = [r.venue for r in results if not r.ok]
    if failed and args.strict:
        print(f"below target or inconsistent: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arb", description="Optimization-centric prediction-market arbitrage engine")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench", help="benchmarks").add_subparsers(dest="suite", required=True)
    solvers = bench.add_parser("solvers", help="solver backends on seeded allocation instances and tick sequences")
    solvers.add_argument("--quick", action="store_true", help="fewer and smaller instances, 15 ticks each")
    solvers.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    solvers.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="directory for CSV, markdown and PNG")
    solvers.add_argument("--seed", type=int, default=20261121, help="instance seed")
    solvers.add_argument("--strict", action="store_true", help="exit 1 if a target check fails")
    solvers.set_defaults(handler=_bench_solvers)
    venues = bench.add_parser("venues", help="decode + apply throughput of book-change messages per venue")
    venues.add_argument("--json", type=Path, metavar="FILE", help="write {results: [{venue, messages, seconds, messages_per_second}]}")
    venues.add_argument("--messages", type=int, default=100_000, help="book-change messages per venue")
    venues.add_argument("--repeats", type=int, default=3, help="timed passes per venue (best is reported)")
    venues.add_argument("--seed", type=int, default=1, help="feed seed")
    venues.add_argument("--strict", action="store_true", help="exit 1 below 50,000 msg/s or on any rejected frame")
    venues.set_defaults(handler=_bench_venues)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
