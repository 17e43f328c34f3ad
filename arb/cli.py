"""The `arb` command line."""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

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


def _bench_sim(args: argparse.Namespace) -> int:
    from benchmarks.sim_bench import run_sim_bench

    results = run_sim_bench(
        duration_s=args.duration, rate=args.rate, seed=args.seed, json_path=args.json, venues=tuple(args.venue)
    )
    failed = [r.venue for r in results if not r.ok]
    if failed and args.strict:
        print(f"below target, lossy or growing: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _bench_scanner(args: argparse.Namespace) -> int:
    from benchmarks.scanner_bench import run_scanner_bench

    report = run_scanner_bench(
        sizes=tuple(args.components), updates=args.updates, seed=args.seed, json_path=args.json, repeats=args.repeats
    )
    if not report.ok and args.strict:
        print("per-update cost grows with the number of components (ratio above 2x)", file=sys.stderr)
        return 1
    return 0


def _bench_exec(args: argparse.Namespace) -> int:
    from benchmarks.exec_bench import run_exec_bench

    result = run_exec_bench(
        plans=args.plans,
        leg_counts=tuple(args.legs),
        json_path=args.json,
        synchronous=args.synchronous,
        ledger_writes=args.ledger_writes,
    )
    if not result.ok and args.strict:
        print("p95 plan-to-acknowledged above the 30 ms target", file=sys.stderr)
        return 1
    return 0


def _bench_churn(args: argparse.Namespace) -> int:
    from benchmarks.churn_bench import run_churn_bench

    report = run_churn_bench(args.sets, cycles=args.cycles, seed=args.seed, json_path=args.json)
    if not report.valid and args.strict:
        print("a warm solve after add_set differed from the cold rebuild", file=sys.stderr)
        return 1
    return 0


def _bench_daemon(args: argparse.Namespace) -> int:
    from benchmarks.daemon_bench import run_daemon_bench, view_modes

    try:
        views = view_modes(args.views)
    except argparse.ArgumentTypeError as exc:
        print(f"arb bench daemon: --views: {exc}", file=sys.stderr)
        return 2
    report = run_daemon_bench(
        duration_s=args.duration,
        warmup_s=args.warmup,
        rate=args.rate,
        views=views,
        synchronous=args.synchronous,
        seed=args.seed,
        config_path=args.config,
        json_path=args.json,
        log_path=args.log,
        profile_dir=args.profile,
    )
    if not report.ok and args.strict:
        print("loop-lag p99 above 5 ms or tick-to-plan p99 above 10 ms", file=sys.stderr)
        return 1
    return 0


def _bench_stress(args: argparse.Namespace) -> int:
    from benchmarks.stress_bench import run_stress_bench

    report = run_stress_bench(
        rate=args.rate,
        duration_s=args.duration,
        warmup_s=args.warmup,
        opportunities_per_s=args.opportunities,
        ramp=args.ramp,
        ramp_bounds=args.ramp_bounds,
        step=args.step,
        max_rate=args.max_rate,
        seed=args.seed,
        config_path=args.config,
        json_path=args.json,
        png_path=args.png,
        log_path=args.log,
    )
    if args.strict and (report.lost_events or report.reported.broken()):
        print("lost events, or a stage bound broken at the reported rate", file=sys.stderr)
        return 1
    return 0


def _set_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated set counts like 10,100,400, was {text!r}") from None
    if not counts or any(count < 1 for count in counts):
        raise argparse.ArgumentTypeError(f"set counts must be positive, was {text!r}")
    return counts


def _chaos(args: argparse.Namespace) -> int:
    from arb.venues.chaos import VENUES, Sabotage, run_chaos

    venues = VENUES if args.venue == "both" else (args.venue,)
    sabotage = Sabotage(args.sabotage) if args.sabotage else None
    report = run_chaos(venues, args.episodes, args.seed, args.json, args.steps, sabotage, args.wait_s)
    return 0 if report.ok else 1


def _links_suggest(args: argparse.Namespace) -> int:
    from arb.matching import run_suggest

    return run_suggest(
        kalshi_path=args.kalshi,
        polymarket_path=args.polymarket,
        json_path=args.json,
        threshold=args.threshold,
        limit=args.limit,
    )


def _links_approve(args: argparse.Namespace) -> int:
    from arb.links import run_approve

    return run_approve(args)


def _run(args: argparse.Namespace) -> int:
    from arb.config import RunMode, exit_on_config_error, start_config

    mode: RunMode | None = "live" if args.live else "paper" if args.paper else None
    # every check before anything starts: a bad file or flag exits 2 here (no ledger, no socket)
    config, credentials = exit_on_config_error(
        lambda: start_config(args.config, mode=mode, live_flag=args.live, duration_s=args.duration)
    )
    from arb.daemon.run import run_daemon

    return run_daemon(config, credentials, log_file=args.log_file, summary_json=args.summary_json)


def _kill(args: argparse.Namespace) -> int:
    from arb.risk.kill import run_kill

    return run_kill(args)


def _report(args: argparse.Namespace) -> int:
    from arb.report import run_report

    return run_report(args)


def _add_report(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="P&L report of a ledger or a replay: equity, drawdown, daily P&L, Sharpe/Sortino, capital, fills, "
        "repairs, latency (PNGs + report.md)",
    )
    report.add_argument("source", type=Path, metavar="LEDGER_OR_REPLAY_JSON", help="a ledger .sqlite or replay JSON")
    report.add_argument(
        "--out", type=Path, default=Path("run/report"), metavar="DIR", help="output directory (default: run/report)"
    )
    report.add_argument(
        "--capital",
        metavar="USD",
        help="starting capital for returns and drawdown (default: the venues' cash on file before the first fill)",
    )
    report.set_defaults(handler=_report)


def _sweep(args: argparse.Namespace) -> int:
    from arb.sweep import run_sweep

    return run_sweep(args)


def _add_sweep(commands: Any) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="replay scenarios over a grid of configurations as Ray tasks; one table (markdown + CSV) and a plot",
    )
    sweep.add_argument("grid", type=Path, metavar="GRID.toml", help="scenarios = [...] and [axes] key -> values")
    sweep.add_argument("--address", metavar="ADDR", help="an existing Ray cluster (default: start a local Ray)")
    sweep.add_argument(
        "--out", type=Path, default=Path("run/sweep"), metavar="DIR", help="output directory (default: run/sweep)"
    )
    sweep.add_argument("--num-cpus", type=int, metavar="N", help="CPUs of the local Ray (default: all)")
    sweep.set_defaults(handler=_sweep)


def _replay(args: argparse.Namespace) -> int:
    from arb.replay.cli import run_replay

    return run_replay(args.scenarios, json_out=args.json)


def _scenario_command(handler_name: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        from arb.config import exit_on_config_error
        from arb.replay import series

        return int(exit_on_config_error(lambda: getattr(series, handler_name)(args)))

    return handler


def _record(args: argparse.Namespace) -> int:
    from arb.config import exit_on_config_error
    from arb.replay.record import run_record

    return int(exit_on_config_error(lambda: run_record(args)))


def _decimal_arg(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected a decimal number, was {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, was {text!r}")
    return value


def _add_scenario_commands(commands: Any) -> None:
    scenario = commands.add_parser(
        "scenario", help="build scenario files: backtests from price history"
    ).add_subparsers(dest="scenario_command", required=True)
    series = scenario.add_parser(
        "from-series",
        help="a scenario from a CSV of best bid/ask per market over time (timestamp, market, bid, ask "
        "[, bid_size, ask_size]): a backtest `arb replay` runs",
    )
    series.add_argument("csv", type=Path, metavar="CSV", help="the series (docs/replay.md)")
    series.add_argument("--out", type=Path, required=True, metavar="SCENARIO.toml", help="the scenario file to write")
    series.add_argument("--links", type=Path, metavar="LINKS.toml", help="a links file; its links are passed through")
    series.add_argument(
        "--markets",
        type=Path,
        metavar="METADATA.toml",
        help="the markets' metadata as a simulator spec ([kalshi] series/events/markets, [polymarket] markets; "
        "no books): else minimal markets",
    )
    series.add_argument(
        "--kalshi-markets",
        type=Path,
        action="append",
        metavar="FILE",
        help="saved Kalshi GET /markets (or /events) responses with the markets' metadata (repeatable)",
    )
    series.add_argument(
        "--polymarket-markets",
        type=Path,
        action="append",
        metavar="FILE",
        help="saved Polymarket Gamma GET /markets (or /events) arrays with the markets' metadata (repeatable)",
    )
    series.add_argument(
        "--pair",
        action="append",
        metavar="TICKER=POLYMARKET_ID[:inverted]",
        help="link a Kalshi and a Polymarket market of the series (repeatable)",
    )
    series.add_argument("--name", help="the scenario's name (default: the CSV's file name)")
    series.add_argument("--provenance", help="where the prices come from (default: the CSV's file name)")
    series.add_argument(
        "--max-gap-s",
        type=float,
        default=1.0,
        metavar="S",
        help="shorten longer gaps between timestamps to this (0: the real spacing; default 1)",
    )
    series.add_argument("--margin-s", type=float, default=5.0, metavar="S", help="replay this long after the last row")
    series.add_argument(
        "--default-size", type=_decimal_arg, default=Decimal(100), metavar="N", help="contracts a quote when no size"
    )
    series.add_argument("--seed", type=int, default=1, help="the scenario's seed")
    series.set_defaults(handler=_scenario_command("run_from_series"))
    csv = scenario.add_parser(
        "series-csv",
        help="the venues' own price history (Kalshi candlesticks, Polymarket prices-history) as a series CSV",
    )
    csv.add_argument(
        "--kalshi",
        action="append",
        metavar="[TICKER=]FILE",
        help="a saved Kalshi candlesticks response (repeatable; the ticker when the file does not name it)",
    )
    csv.add_argument(
        "--polymarket",
        action="append",
        metavar="TOKEN=FILE",
        help="a saved Polymarket GET /prices-history response of that token (repeatable)",
    )
    csv.add_argument(
        "--half-spread",
        type=_decimal_arg,
        default=Decimal("0.01"),
        metavar="D",
        help="Polymarket history has prices, not quotes: bid/ask this far either side (default 0.01)",
    )
    csv.add_argument("--tick", type=_decimal_arg, default=Decimal("0.01"), help="Polymarket tick the quotes round to")
    csv.add_argument("--out", type=Path, required=True, metavar="CSV", help="the series CSV to write")
    csv.set_defaults(handler=_scenario_command("run_series_csv"))

    record = commands.add_parser(
        "record",
        help="capture the venues' feeds (configured, or the simulated default scenario) into a scenario file",
    )
    record.add_argument("--duration", type=float, required=True, metavar="S", help="seconds to record")
    record.add_argument("--out", type=Path, required=True, metavar="SCENARIO.toml", help="the scenario file to write")
    record.add_argument(
        "--config", type=Path, default=Path("config/default.toml"), metavar="FILE", help="the TOML configuration"
    )
    record.add_argument(
        "--simulated", action="store_true", help="record the default scenario's simulated venues (run.venues ignored)"
    )
    record.add_argument("--name", help="the scenario's name (default: the output's file name)")
    record.set_defaults(handler=_record)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arb", description="Optimization-centric prediction-market arbitrage engine")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser("bench", help="benchmarks").add_subparsers(dest="suite", required=True)
    solvers = bench.add_parser("solvers", help="solver backends on seeded allocation instances and tick sequences")
    solvers.add_argument("--quick", action="store_true", help="fewer and smaller instances, 15 ticks each")
    solvers.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    solvers.add_argument(
        "--out", type=Path, default=Path("benchmarks/results"), help="directory for CSV, markdown and PNG"
    )
    solvers.add_argument("--seed", type=int, default=20261121, help="instance seed")
    solvers.add_argument("--strict", action="store_true", help="exit 1 if a target check fails")
    solvers.set_defaults(handler=_bench_solvers)
    venues = bench.add_parser("venues", help="decode + apply throughput of book-change messages per venue")
    venues.add_argument(
        "--json", type=Path, metavar="FILE", help="write {results: [{venue, messages, seconds, messages_per_second}]}"
    )
    venues.add_argument("--messages", type=int, default=100_000, help="book-change messages per venue")
    venues.add_argument("--repeats", type=int, default=3, help="timed passes per venue (best is reported)")
    venues.add_argument("--seed", type=int, default=1, help="feed seed")
    venues.add_argument("--strict", action="store_true", help="exit 1 below 50,000 msg/s or on any rejected frame")
    venues.set_defaults(handler=_bench_venues)
    sim = bench.add_parser("sim", help="each simulated venue's sustained publish rate of book changes to one client")
    sim.add_argument("--duration", type=float, default=60.0, metavar="S", help="seconds of publishing per venue")
    sim.add_argument(
        "--rate", type=float, metavar="R", help="target changes/s (default: as fast as the client keeps up)"
    )
    sim.add_argument(
        "--venue", choices=("kalshi", "polymarket"), nargs="+", default=["kalshi", "polymarket"], help="venues to run"
    )
    sim.add_argument("--seed", type=int, default=1, help="change-stream seed")
    sim.add_argument(
        "--json", type=Path, metavar="OUT", help="also write the results (with per-window figures) as JSON"
    )
    sim.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 below 10,000 changes/s, under 60 s, on any loss, or when per-change cost or memory grow",
    )
    sim.set_defaults(handler=_bench_sim)
    scanner = bench.add_parser("scanner", help="scanner cost per book change with few and many components")
    scanner.add_argument("--components", type=int, nargs="+", default=[10, 10_000], help="component counts to compare")
    scanner.add_argument("--updates", type=int, default=20_000, help="book changes per run")
    scanner.add_argument("--repeats", type=int, default=3, help="timed passes per size (best is reported)")
    scanner.add_argument("--seed", type=int, default=1, help="instance seed")
    scanner.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    scanner.add_argument(
        "--strict", action="store_true", help="exit 1 when the largest/smallest per-update cost exceeds 2x"
    )
    scanner.set_defaults(handler=_bench_scanner)
    execution = bench.add_parser(
        "exec", help="executor plan-to-all-legs-acknowledged latency, 2-5 legs, against the simulated venues"
    )
    execution.add_argument("--plans", type=int, default=200, help="timed plans per leg count")
    execution.add_argument("--legs", type=int, nargs="+", default=[2, 3, 4, 5], help="leg counts to run")
    execution.add_argument(
        "--synchronous", choices=("FULL", "NORMAL"), default="FULL", help="the ledger's SQLite synchronous mode"
    )
    execution.add_argument(
        "--ledger-writes",
        choices=("deferred", "inline", "both"),
        default="deferred",
        help="order/fill records heard while sends are out: after the last answer (default), at once, or both runs",
    )
    execution.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    execution.add_argument("--strict", action="store_true", help="exit 1 when a p95 is above 30 ms")
    execution.set_defaults(handler=_bench_exec)
    churn = bench.add_parser(
        "churn", help="cost of adding and removing a candidate set on the live allocator vs a cold rebuild of all sets"
    )
    churn.add_argument(
        "--sets", type=_set_counts, default=(10, 100, 400), help="live set counts, comma-separated (default 10,100,400)"
    )
    churn.add_argument("--cycles", type=int, default=7, help="add/solve/cold/remove cycles per size (medians reported)")
    churn.add_argument("--seed", type=int, default=0, help="instance seed")
    churn.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    churn.add_argument(
        "--strict", action="store_true", help="exit 1 when a warm solve after add_set differs from the cold rebuild"
    )
    churn.set_defaults(handler=_bench_churn)
    daemon = bench.add_parser(
        "daemon",
        help="the arb run daemon on the default scenario at 1,000 book changes/s: event-loop lag and stage "
        "latencies with the live view drawing and without, side by side",
    )
    daemon.add_argument("--duration", type=float, default=30.0, help="measured seconds per run (default 30)")
    daemon.add_argument(
        "--warmup",
        type=float,
        default=35.0,
        help="seconds after trading starts before measuring (35: every kind opened once, the steady state)",
    )
    daemon.add_argument("--rate", type=float, default=1000.0, help="book changes/s the market makers make (1000)")
    daemon.add_argument(
        "--views", default="none,process", help="view modes, comma-separated: none, process (arb run's), thread"
    )
    daemon.add_argument(
        "--synchronous",
        choices=("FULL", "NORMAL"),
        nargs="+",
        default=(),
        help="ledger SQLite synchronous modes to run (each with every view); default: the configured one",
    )
    daemon.add_argument("--seed", type=int, default=1, help="the scenario's seed")
    daemon.add_argument("--config", type=Path, help="the configuration to start from (default config/default.toml)")
    daemon.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    daemon.add_argument("--log", type=Path, metavar="FILE", help="keep the daemon's JSON logs in FILE")
    daemon.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="cProfile the event loop over each window into DIR/daemon-<view>.prof",
    )
    daemon.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    daemon.set_defaults(handler=_bench_daemon)
    stress = bench.add_parser(
        "stress",
        help="book operations at --rate per second through the simulated venues into the daemon: stage "
        "latencies, throughput, CPU, memory and lost events (--ramp: the highest sustainable rate)",
    )
    stress.add_argument("--rate", type=float, default=1000.0, help="book changes/s the market makers make (1000)")
    stress.add_argument("--duration", type=float, default=60.0, help="measured seconds (per step with --ramp)")
    stress.add_argument(
        "--warmup",
        type=float,
        default=60.0,
        help="seconds of trading before measuring (60: every opening of the scenario has opened once)",
    )
    stress.add_argument(
        "--opportunities", type=float, metavar="N", help="arbitrage openings a second (default: the configured period)"
    )
    stress.add_argument("--ramp", action="store_true", help="raise the rate step by step until a bound breaks")
    stress.add_argument(
        "--ramp-bounds",
        choices=("all", "events"),
        default="all",
        help="what breaks a ramp step: every bound (latency, loss, throughput) or only loss and throughput",
    )
    stress.add_argument("--step", type=float, help="rate added per ramp step (default: --rate)")
    stress.add_argument("--max-rate", type=float, default=10_000.0, help="the ramp's last step at most (10000)")
    stress.add_argument("--seed", type=int, default=1, help="the scenario's seed")
    stress.add_argument("--config", type=Path, help="the configuration to start from (default config/default.toml)")
    stress.add_argument("--json", type=Path, metavar="OUT", help="also write the issue's JSON figures")
    stress.add_argument("--png", type=Path, metavar="FILE", help="plot file (default benchmarks/results/stress*.png)")
    stress.add_argument("--log", type=Path, metavar="FILE", help="keep the daemon's JSON logs in FILE")
    stress.add_argument("--strict", action="store_true", help="exit 1 on a lost event or a broken bound")
    stress.set_defaults(handler=_bench_stress)

    chaos = commands.add_parser(
        "chaos",
        help="seeded chaos episodes: each venue client against its simulator under combined faults, "
        "invariants checked against the simulator's records (exit 1 on any violation)",
    )
    chaos.add_argument("--venue", choices=("kalshi", "polymarket", "both"), default="both", help="venues to run")
    chaos.add_argument("--episodes", type=int, default=20, metavar="N", help="episodes per venue")
    chaos.add_argument("--seed", type=int, default=1, help="seed of the first episode (then seed+1, ...)")
    chaos.add_argument("--steps", type=int, default=30, metavar="N", help="chaos actions per episode")
    chaos.add_argument(
        "--wait-s",
        type=float,
        default=2.0,
        metavar="S",
        help="real seconds each recovery condition may take (only a violation waits this long)",
    )
    chaos.add_argument(
        "--json", type=Path, metavar="FILE", help="also write {episodes, checks, violation_counts, ok} as JSON"
    )
    chaos.add_argument(
        "--sabotage",
        choices=("drop_fill", "duplicate_fill", "wrong_final_state", "corrupt_book", "sink_raises", "dead_client"),
        help="break the client side on purpose, to see the invariants catch it",
    )
    chaos.set_defaults(handler=_chaos)

    links = commands.add_parser(
        "links", help="cross-venue links: suggest candidates, approve reviewed pairs"
    ).add_subparsers(dest="links_command", required=True)
    suggest = links.add_parser("suggest", help="rank Kalshi/Polymarket pairs from the venues' market metadata")
    suggest.add_argument(
        "--kalshi",
        type=Path,
        required=True,
        metavar="FILE",
        help="Kalshi GET /markets response(s): {markets: [...]} or a JSON array of them",
    )
    suggest.add_argument(
        "--polymarket", type=Path, required=True, metavar="FILE", help="Polymarket Gamma GET /markets array"
    )
    suggest.add_argument(
        "--json",
        type=Path,
        metavar="OUT",
        help="write {pairs: [{kalshi, polymarket, orientation, score, suggested, reasons}]}",
    )
    suggest.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="approval threshold on the score (default: the suggester's calibrated one)",
    )
    suggest.add_argument("--limit", type=int, default=50, help="rows printed to the terminal")
    suggest.set_defaults(handler=_links_suggest)
    approve = links.add_parser(
        "approve",
        help="append a reviewed pair to the links file, with fingerprints of both rules texts and close times",
    )
    approve.add_argument("--kalshi", required=True, metavar="TICKER", help="Kalshi market ticker")
    approve.add_argument("--polymarket", required=True, metavar="ID", help="Polymarket Gamma market id")
    approve.add_argument(
        "--kalshi-file",
        type=Path,
        required=True,
        metavar="FILE",
        help="Kalshi markets file holding the ticker (for its rules text and close time)",
    )
    approve.add_argument(
        "--polymarket-file",
        type=Path,
        required=True,
        metavar="FILE",
        help="Polymarket Gamma markets file holding the market",
    )
    approve.add_argument("--orientation", choices=("same", "inverted"), required=True)
    approve.add_argument(
        "--settlement-risk",
        choices=("identical_rules", "minor_differences", "different_resolution_source"),
        required=True,
    )
    approve.add_argument("--approved-by", required=True, metavar="NAME", help="who reviewed the pair")
    approve.add_argument("--date", metavar="YYYY-MM-DD", help="approval date (default: today, UTC)")
    approve.add_argument("--note", default="", help="free-text review note")
    approve.add_argument(
        "--links", type=Path, default=Path("config/links.toml"), metavar="FILE", help="links file to append to"
    )
    approve.set_defaults(handler=_links_approve)

    run = commands.add_parser(
        "run",
        help="the daemon: venues, books, graph, scanner, allocator, risk, executor and ledger in one process "
        "(default config: the simulated venues with the default scenario, paper trading, then a summary)",
    )
    run.add_argument(
        "--config", type=Path, default=Path("config/default.toml"), metavar="FILE", help="the TOML configuration"
    )
    trading = run.add_mutually_exclusive_group()
    trading.add_argument("--paper", action="store_true", help="no real order (overrides run.mode)")
    trading.add_argument(
        "--live", action="store_true", help="real orders on the configured venues (needs every credential)"
    )
    run.add_argument(
        "--duration", type=float, metavar="SECONDS", help="run this long, then stop (0: until SIGINT/SIGTERM)"
    )
    run.add_argument(
        "--log-file",
        type=Path,
        metavar="FILE",
        help="JSON log lines go here (default: stderr, or run/arb-run.log while the live view has the terminal)",
    )
    run.add_argument("--summary-json", type=Path, metavar="FILE", help="also write the end-of-run summary as JSON")
    run.set_defaults(handler=_run)

    kill = commands.add_parser(
        "kill",
        help="engage the kill switch (create the file the daemon checks before every plan), or release it",
    )
    kill.add_argument("--release", action="store_true", help="remove the kill-switch file: trading may resume")
    kill.add_argument(
        "--file", type=Path, metavar="PATH", help="kill-switch file (default: risk.kill_switch_file of --config)"
    )
    kill.add_argument(
        "--config",
        type=Path,
        default=Path("config/default.toml"),
        metavar="FILE",
        help="config whose [risk] names the kill-switch file",
    )
    kill.add_argument("--reason", default="arb kill", help="recorded in the file")
    kill.set_defaults(handler=_kill)

    replay = commands.add_parser(
        "replay",
        help="replay scenario files through the engine on a virtual clock and check their expected outcomes",
    )
    replay.add_argument("scenarios", type=Path, nargs="+", metavar="SCENARIO", help="scenario files (docs/replay.md)")
    replay.add_argument(
        "--json", type=Path, metavar="OUT", help="write the results as JSON (one object, or a list for several files)"
    )
    replay.set_defaults(handler=_replay)
    _add_scenario_commands(commands)
    _add_report(commands)
    _add_sweep(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
