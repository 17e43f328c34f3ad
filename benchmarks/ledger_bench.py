"""The ledger's cost to the event loop, measured two ways in one run.

1. Write latency per write kind, `synchronous=FULL` (the default: an fsync per commit) and
   `NORMAL` side by side (synchronous calls, no loop).
2. Loop stall per plan, before and after `LedgerWriter`: the same plan traffic (journal 3 legs and
   wait for it, 3 order answers, 3 fills, a P&L refresh over a ledger already holding
   `--fills-on-file` fills) on an asyncio loop, once with every call on the loop ("inline", what
   the daemon did) and once through the writer ("writer": commits and the P&L replay in worker
   threads). Stall = the most a 1 ms timer (a feed's next event) ran late while the plan's ledger
   work went on; with the writer what is left is the GIL handing over between the loop and the
   worker threads (the P&L replay is Python: a worker holds the GIL up to the 5 ms switch
   interval at a time) and the machine's load; commit latency = a write's submit to its commit; journal = the executor's
   wait before a plan's orders may leave.

    python -m benchmarks.ledger_bench [--writes N] [--plans P] [--fills-on-file F] [--dir DIR] [--json FILE]

Absolute figures depend on the disk and its cache and on the machine's load (printed); the
ratios are the comparable figures. Run it on the disk the ledger will live on.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

from arb.domain import Action, Fill, FillStatus, OrderStatus, OrderUpdate, Side, TimeInForce, Venue
from arb.ledger import Intent, IntentLeg, Ledger, LedgerWriter
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


@dataclass(frozen=True, slots=True)
class LoopCost:
    """One mode's cost to the event loop over `plans` plans (milliseconds)."""

    mode: str  # "inline" (every ledger call on the loop) or "writer" (LedgerWriter)
    plans: int
    fills_on_file: int
    stall_p50_ms: float  # per plan: the most a 1 ms timer ran late
    stall_p99_ms: float
    stall_max_ms: float
    loop_busy_ms_per_plan: float  # ledger calls' time on the loop per plan (writer: handing writes over)
    journal_p50_ms: float  # the plan's wait for its journal commit (orders leave after it)
    journal_p99_ms: float
    commit_p50_ms: float  # order and fill writes: submit -> committed
    commit_p99_ms: float
    pnl_p50_ms: float  # a P&L refresh: asked -> published


_TICK_S = 0.001


def _ms_percentile(values_s: list[float], q: float) -> float:
    ordered = sorted(values_s)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index] * 1000.0


def _plan_fill(number: int, leg: int, cid: str) -> Fill:
    return Fill(
        venue=Venue.KALSHI,
        fill_id=f"fill-{number}-{leg}",
        order_id=f"o-{number}-{leg}",
        client_order_id=cid,
        market_id=f"M{leg}",
        book_id=f"M{leg}",
        outcome=Side.YES,
        action=Action.BUY,
        price_micro_usd=100_000 + number % 800_000,
        size_micro=1_000_000,
        fee_micro_usd=1_000,
        liquidity=None,
        status=FillStatus.MATCHED,
    )


def _answer(intent: Intent, leg: int) -> OrderUpdate:
    return OrderUpdate(
        venue=Venue.KALSHI,
        order_id=f"o-{intent.intent_id}-{leg}",
        client_order_id=intent.client_order_ids()[leg],
        market_id=f"M{leg}",
        book_id=f"M{leg}",
        outcome=Side.YES,
        action=Action.BUY,
        status=OrderStatus.FILLED,
        price_micro_usd=intent.legs[leg].price_micro_usd,
        initial_size_micro=1_000_000,
        filled_size_micro=1_000_000,
        remaining_size_micro=0,
    )


def _kalshi_intent(number: int) -> Intent:
    legs = tuple(replace_venue(_leg(number, i)) for i in range(3))
    return Intent(f"plan-{number}", f"set-{number % 8}", number, legs)


def replace_venue(leg: IntentLeg) -> IntentLeg:
    return dataclasses.replace(leg, venue=Venue.KALSHI)


def _seed(ledger: Ledger, fills: int) -> None:
    """`fills` fills on file (what `pnl()` replays), in few transactions."""
    with ledger._tx() as conn:
        for number in range(fills):
            fill = _plan_fill(-1 - number, number % 3, "")
            conn.execute(
                "INSERT INTO fills VALUES (?,?,?,NULL,?,?,?,?,?,?,?,?)",
                (
                    fill.venue.value,
                    fill.fill_id,
                    fill.order_id,
                    fill.market_id,
                    "yes",
                    "buy",
                    400_000,
                    1_000_000,
                    1_000,
                    "matched",
                    number,
                ),
            )
            conn.execute(
                "INSERT INTO positions VALUES ('kalshi', ?, 'yes', 1000000) ON CONFLICT(venue, market_id, outcome) "
                "DO UPDATE SET size_micro=size_micro+1000000",
                (fill.market_id,),
            )


async def _plan_traffic(mode: str, path: Path, plans: int, fills_on_file: int) -> LoopCost:
    ledger = Ledger(path, synchronous="FULL")
    _seed(ledger, fills_on_file)
    writer = LedgerWriter(ledger) if mode == "writer" else None
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    running = True

    async def ticker() -> None:
        # a 1 ms timer, as a feed's next event: how late the loop runs it is how long it was stalled
        while running:
            due = time.perf_counter() + _TICK_S
            await asyncio.sleep(_TICK_S)
            gaps.append(max(0.0, time.perf_counter() - due))

    tick_task = loop.create_task(ticker())
    stalls: list[float] = []
    journals: list[float] = []
    commits: list[float] = []
    pnls: list[float] = []
    busy = 0.0

    def timed_write(call: Callable[[Ledger], Any]) -> Callable[[Ledger], Any]:
        submitted = time.perf_counter()

        def run(conn: Ledger) -> Any:
            result = call(conn)
            commits.append(time.perf_counter() - submitted)
            return result

        return run

    with gc_paused():
        for number in range(plans):
            await asyncio.sleep(0)
            gaps.clear()
            intent = _kalshi_intent(number)
            start = time.perf_counter()
            if writer is None:
                ledger.journal_intent(intent)
            else:
                await writer.commit(partial(Ledger.journal_intent, intent=intent), "journal")
            journals.append(time.perf_counter() - start)
            if writer is None:
                busy += journals[-1]
            await asyncio.sleep(0)
            for leg in range(3):  # the answers, then the fills, each heard in its own loop turn
                answer = _answer(intent, leg)
                call = timed_write(partial(Ledger.record_order, update=answer, now_ms=1))
                if writer is None:
                    t = time.perf_counter()
                    call(ledger)
                    busy += time.perf_counter() - t
                else:
                    t = time.perf_counter()
                    writer.submit(call, "answer")
                    busy += time.perf_counter() - t
                await asyncio.sleep(0)
            for leg in range(3):
                fill = _plan_fill(number, leg, intent.client_order_ids()[leg])
                call = timed_write(partial(Ledger.record_fill, fill=fill, now_ms=1))
                if writer is None:
                    t = time.perf_counter()
                    call(ledger)
                    busy += time.perf_counter() - t
                else:
                    t = time.perf_counter()
                    writer.submit(call, "fill")
                    busy += time.perf_counter() - t
                await asyncio.sleep(0)
            t = time.perf_counter()
            if writer is None:
                ledger.pnl()
                busy += time.perf_counter() - t
            else:
                await writer.pnl()
            pnls.append(time.perf_counter() - t)
            if writer is not None:
                await writer.drained()
            await asyncio.sleep(0)
            stalls.append(max(gaps, default=0.0))
    running = False
    await tick_task
    if writer is not None:
        await writer.aclose()
    ledger.close()
    return LoopCost(
        mode=mode,
        plans=plans,
        fills_on_file=fills_on_file,
        stall_p50_ms=_ms_percentile(stalls, 0.5),
        stall_p99_ms=_ms_percentile(stalls, 0.99),
        stall_max_ms=max(stalls) * 1000.0,
        loop_busy_ms_per_plan=busy * 1000.0 / plans,
        journal_p50_ms=_ms_percentile(journals, 0.5),
        journal_p99_ms=_ms_percentile(journals, 0.99),
        commit_p50_ms=_ms_percentile(commits, 0.5),
        commit_p99_ms=_ms_percentile(commits, 0.99),
        pnl_p50_ms=_ms_percentile(pnls, 0.5),
    )


def measure_loop(directory: Path, plans: int, fills_on_file: int) -> list[LoopCost]:
    """Inline and writer, each on a fresh FULL ledger in `directory`."""
    results = []
    for mode in ("inline", "writer"):
        path = directory / f"loop-{mode}.db"
        results.append(asyncio.run(_plan_traffic(mode, path, plans, fills_on_file)))
    return results


def run(
    writes: int = 500,
    directory: Path | None = None,
    json_path: Path | None = None,
    plans: int = 200,
    fills_on_file: int = 1000,
) -> list[WriteLatency]:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        results = measure(Path(tmp), "FULL", writes) + measure(Path(tmp), "NORMAL", writes)
        loop_costs = measure_loop(Path(tmp), plans, fills_on_file) if plans else []
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
    if loop_costs:
        print(
            f"\nloop cost per plan (journal 3 legs, 3 answers, 3 fills, a P&L refresh over "
            f"{fills_on_file} fills on file), synchronous=FULL, {plans} plans"
        )
        print(
            f"{'mode':<8}{'stall p50':>10}{'stall p99':>10}{'stall max':>10}{'loop busy':>10}"
            f"{'journal p50':>12}{'journal p99':>12}{'commit p50':>11}{'commit p99':>11}{'pnl p50':>9}"
        )
        for c in loop_costs:
            print(
                f"{c.mode:<8}{c.stall_p50_ms:>10.3f}{c.stall_p99_ms:>10.3f}{c.stall_max_ms:>10.3f}"
                f"{c.loop_busy_ms_per_plan:>10.3f}{c.journal_p50_ms:>12.3f}{c.journal_p99_ms:>12.3f}"
                f"{c.commit_p50_ms:>11.3f}{c.commit_p99_ms:>11.3f}{c.pnl_p50_ms:>9.3f}"
            )
        inline, offloaded = loop_costs
        if offloaded.stall_p99_ms:
            print(f"stall p99 inline/writer: {inline.stall_p99_ms / offloaded.stall_p99_ms:.1f}x (ms, per plan)")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "results": [asdict(r) for r in results],
            "loop": [asdict(c) for c in loop_costs],
            "machine": {"cpus": os.cpu_count(), "load_average_before": load_before, "load_average_after": load_after},
        }
        json_path.write_text(json.dumps(payload, indent=1) + "\n")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None, help="directory for the ledger files (default: system temp)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plans", type=int, default=200, help="plans in the loop-cost comparison (0: skip it)")
    parser.add_argument("--fills-on-file", type=int, default=1000, help="fills the P&L refresh replays")
    args = parser.parse_args()
    run(args.writes, args.dir, args.json, args.plans, args.fills_on_file)


if __name__ == "__main__":
    main()
