"""`LedgerWriter`: ledger commits off the event loop, in order, and kept through a failing disk.

Unit rules (order, durable commit, fail-fast journal, a refused write does not block the rest, a
real "database or disk is full" and the `fail_writes` hook kept and retried until healed), a
property over fail/heal sequences (every fill reaches the ledger exactly once, in order), and the
daemon itself: no SQLite commit and no P&L replay on its event loop while it trades, and a ledger
fault while it trades halts entries with one alert, crashes nothing and loses nothing."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arb.config import Credentials
from arb.daemon.core import Daemon
from arb.daemon.simulated import SimulatedSource
from arb.domain import Action, Fill, FillStatus, OrderRequest, OrderStatus, OrderUpdate, Side, TimeInForce, Venue
from arb.errors import ConfigError
from arb.execution.executor import ExecutionStatus
from arb.ledger import Intent, IntentLeg, Ledger, LedgerUnavailableError, LedgerWriter
from tests.daemon.support import in_process_config
from tests.execution.stage import stage


def _fill(number: int, *, status: FillStatus = FillStatus.MATCHED) -> Fill:
    return Fill(
        venue=Venue.KALSHI,
        fill_id=f"f-{number}",
        order_id=f"o-{number}",
        client_order_id=None,
        market_id="KX-A",
        book_id="KX-A",
        outcome=Side.YES,
        action=Action.BUY,
        price_micro_usd=400_000 + number,
        size_micro=1_000_000,
        fee_micro_usd=10_000,
        liquidity=None,
        status=status,
    )


def _record(fill: Fill) -> Callable[[Ledger], object]:
    def write(ledger: Ledger) -> object:
        return ledger.record_fill(fill, now_ms=1_000)

    return write


def _fill_ids(ledger: Ledger) -> list[str]:
    return [r[0] for r in ledger._conn.execute("SELECT fill_id FROM fills ORDER BY rowid")]


async def _no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


def _intent(number: int) -> Intent:
    leg = IntentLeg(Venue.KALSHI, "KX-A", Side.YES, Action.BUY, 420_000, 1_000_000, TimeInForce.IOC)
    return Intent(f"intent-{number}", "set-1", 1_000, (leg,))


# -- unit rules ---------------------------------------------------------------------------------------


def test_offloaded_writes_commit_in_order_in_a_worker_thread(tmp_path: Path) -> None:
    threads: list[int] = []

    async def main() -> tuple[int, list[str]]:
        ledger = Ledger(tmp_path / "l.db", synchronous="NORMAL")
        writer = LedgerWriter(ledger)
        for number in range(20):
            fill = _fill(number)

            def write(conn: Ledger, fill: Fill = fill) -> object:
                threads.append(threading.get_ident())
                return conn.record_fill(fill, now_ms=1)

            writer.submit(write, f"fill {number}")
        revision = ledger.revision
        journaled = await writer.commit(lambda conn: conn.journal_intent(_intent(1)), "journal")
        # committed when `commit` returns: the loop's own connection sees it
        assert ledger.intent("intent-1") is not None and len(journaled) == 1
        assert ledger.revision > revision and writer.pending == 0
        ids = _fill_ids(ledger)
        await writer.aclose()
        ledger.close()
        return threading.get_ident(), ids

    loop_thread, ids = asyncio.run(main())
    assert ids == [f"f-{n}" for n in range(20)]
    assert threads and loop_thread not in threads


def test_a_failing_disk_keeps_every_write_in_order_until_it_heals(tmp_path: Path) -> None:
    events: list[str] = []

    async def main() -> None:
        ledger = Ledger(tmp_path / "l.db", synchronous="NORMAL")
        writer = LedgerWriter(ledger, sleep=_no_wait)
        writer.listen(
            on_failing=lambda e: events.append(f"failing: {e}"), on_healed=lambda n: events.append(f"healed {n}")
        )
        writer.submit(_record(_fill(0)), "fill 0")
        assert await writer.drained()
        ledger.fail_writes(True)
        for number in range(1, 6):
            writer.submit(_record(_fill(number)), f"fill {number}")
        assert not await writer.drained()  # returns once failing, the writes kept
        assert writer.failing and writer.pending == 5
        assert "disk I/O error" in (writer.refusal() or "")
        with pytest.raises(LedgerUnavailableError):  # a journal is refused at once, not queued
            await writer.commit(lambda conn: conn.journal_intent(_intent(1)), "journal")
        deadline = time.monotonic() + 10.0
        while writer.retries < 3:  # retried meanwhile, never dropped
            assert time.monotonic() < deadline, writer.retries
            await asyncio.sleep(0.001)
        assert writer.pending == 5 and _fill_ids(ledger) == ["f-0"]
        writer.submit(_record(_fill(6)), "fill 6")  # heard while failing: kept behind the others
        ledger.fail_writes(False)
        assert await writer.drain(10.0) == 0
        assert writer.refusal() is None and writer.pending == 0
        assert _fill_ids(ledger) == [f"f-{n}" for n in range(7)]
        assert ledger.intent("intent-1") is None
        assert writer.failures == 1 and writer.retries >= 3 and writer.kept_peak == 6
        await writer.aclose()
        ledger.close()

    asyncio.run(main())
    assert len(events) == 2 and events[0].startswith("failing: ") and events[1] == "healed 6"


def test_a_write_refused_for_what_it_says_is_reported_and_the_rest_go_on(tmp_path: Path) -> None:
    errors: list[Exception] = []

    async def main() -> None:
        ledger = Ledger(tmp_path / "l.db", synchronous="NORMAL")
        writer = LedgerWriter(ledger)
        stray = OrderUpdate(
            Venue.KALSHI, "o-9", "never-journaled", "KX-A", "KX-A", Side.YES, Action.BUY, OrderStatus.OPEN, 1, 1, 0, 1
        )
        writer.submit(lambda conn: conn.record_order(stray, now_ms=1), "stray", on_error=errors.append)
        writer.submit(_record(_fill(1)), "fill 1")
        assert await writer.drained()
        assert not writer.failing and _fill_ids(ledger) == ["f-1"]
        await writer.aclose()
        ledger.close()

    asyncio.run(main())
    assert len(errors) == 1 and isinstance(errors[0], ConfigError)


def test_a_full_disk_is_a_storage_failure_kept_and_retried(tmp_path: Path) -> None:
    """A real SQLite "database or disk is full" (the file capped at its size), not the hook."""

    async def main() -> None:
        ledger = Ledger(tmp_path / "l.db", synchronous="NORMAL")
        writer = LedgerWriter(ledger, sleep=_no_wait)
        conn = writer._conn._conn  # the writer's own connection
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count={pages}")
        big = [_fill(n) for n in range(200)]
        for fill in big:
            writer.submit(_record(fill), fill.fill_id)
        assert not await writer.drained()
        assert writer.failing and "full" in str(writer.failure)
        conn.execute("PRAGMA max_page_count=1073741823")
        assert await writer.drain(10.0) == 0
        assert _fill_ids(ledger) == [f.fill_id for f in big]
        await writer.aclose()
        ledger.close()

    asyncio.run(main())


def test_inline_writer_without_a_loop_writes_at_once_and_keeps_a_failure_for_retry(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db", synchronous="NORMAL") as ledger:
        writer = LedgerWriter(ledger, offload=False)
        job = writer.submit(_record(_fill(1)), "fill 1")
        assert job.done and _fill_ids(ledger) == ["f-1"]
        ledger.fail_writes(True)
        writer.submit(_record(_fill(2)), "fill 2")
        writer.submit(_record(_fill(3)), "fill 3")
        assert writer.failing and writer.retry() == 2
        ledger.fail_writes(False)
        assert writer.retry() == 0 and writer.refusal() is None
        assert _fill_ids(ledger) == ["f-1", "f-2", "f-3"]


# -- the executor: durable before the send ---------------------------------------------------------


@pytest.mark.asyncio
async def test_through_the_writer_no_order_leaves_before_its_intent_and_polymarket_hash_are_on_file(
    tmp_path: Path,
) -> None:
    K, P = Venue.KALSHI, Venue.POLYMARKET
    async with stage(tmp_path, offload_ledger=True) as s:
        reader = Ledger(s.ledger.path)  # what a restarted process would find on disk
        seen: list[tuple[str, bool]] = []
        kalshi = s.venues.clients[K]
        kalshi_place = kalshi.place_order

        async def kalshi_send(request: OrderRequest) -> OrderUpdate:
            seen.append(("kalshi intent", reader.order(request.client_order_id) is not None))
            return await kalshi_place(request)

        polymarket: Any = s.venues.clients[P]
        polymarket_request = polymarket._request

        async def polymarket_http(method: str, *args: Any, **kwargs: Any) -> Any:
            if method == "POST" and args[1] == "/order":
                hashes = [o for o in reader.orders() if o.venue is P and o.order_id]
                posted = sum(1 for what, _ in seen if what == "polymarket hash") + 1
                seen.append(("polymarket hash", len(hashes) >= posted))
            return await polymarket_request(method, *args, **kwargs)

        kalshi.place_order = kalshi_send  # type: ignore[method-assign]
        polymarket._request = polymarket_http
        report = await s.run(
            [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.46"), s.leg(P, 0, Side.NO, Action.BUY, "5", "0.52")]
        )
        assert report.status is ExecutionStatus.COMPLETE, report
        assert sorted(seen) == [("kalshi intent", True), ("polymarket hash", True)]
        assert s.executor.writes.offload and await s.executor.writes.drained()
        assert sum(v for (venue, _, side), v in s.ledger.positions().items() if side is Side.NO) == 5_000_000
        reader.close()


@pytest.mark.asyncio
async def test_a_polymarket_order_whose_hash_cannot_be_written_never_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Ledger.journal_intent

    def journal_then_fail(self: Ledger, intent: Intent) -> Any:
        journaled = journal(self, intent)
        self.fail_writes(True)  # the disk fails between the journal and the order's hash
        return journaled

    monkeypatch.setattr(Ledger, "journal_intent", journal_then_fail)
    async with stage(tmp_path, offload_ledger=True) as s:
        posts: list[str] = []
        polymarket: Any = s.venues.clients[Venue.POLYMARKET]
        polymarket_request = polymarket._request

        async def polymarket_http(method: str, *args: Any, **kwargs: Any) -> Any:
            if method == "POST":
                posts.append(args[1])
            return await polymarket_request(method, *args, **kwargs)

        polymarket._request = polymarket_http
        report = await s.run([s.leg(Venue.POLYMARKET, 0, Side.NO, Action.BUY, "5", "0.52")])
        assert posts == []  # never sent
        (order,) = report.orders
        assert order.status is OrderStatus.REJECTED and "not sent" in order.reason, order
        writer = s.executor.writes
        assert writer.failing and writer.pending >= 2  # the hash, then the refusal, kept in order
        refused = await s.run([s.leg(Venue.POLYMARKET, 0, Side.NO, Action.BUY, "5", "0.52")])
        assert refused.status is ExecutionStatus.REFUSED and refused.refusals[0].gate == "ledger"
        s.ledger.fail_writes(False)
        assert await writer.drain(10.0) == 0
        (on_file,) = s.ledger.orders()
        assert on_file.status is OrderStatus.REJECTED and on_file.order_id  # its hash, then its end


# -- property: every fill exactly once, across fail/heal cycles ----------------------------------------

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.integers(0, 30)),  # a fill heard (perhaps again: a replay, a query)
        st.tuples(st.just("failed"), st.integers(0, 30)),  # the same fill reported FAILED on chain
        st.just(("fault", 0)),
        st.just(("heal", 0)),
        st.just(("run", 0)),  # the loop turns: the writer gets to work
    ),
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_every_fill_reaches_the_ledger_exactly_once_across_fail_heal_cycles(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, int]]
) -> None:
    path = tmp_path_factory.mktemp("prop") / "l.db"

    async def main() -> tuple[list[str], dict[Any, int], Decimal]:
        ledger = Ledger(path, synchronous="NORMAL")
        writer = LedgerWriter(ledger, sleep=_no_wait)
        for op, number in ops:
            if op == "fill":
                writer.submit(_record(_fill(number)), f"fill {number}")
            elif op == "failed":
                writer.submit(_record(_fill(number, status=FillStatus.FAILED)), f"failed {number}")
            elif op == "fault":
                ledger.fail_writes(True)
            elif op == "heal":
                ledger.fail_writes(False)
            else:
                for _ in range(3):
                    await asyncio.sleep(0)
        ledger.fail_writes(False)
        assert await writer.drain(10.0) == 0 and not writer.failing
        result = _fill_ids(ledger), ledger.positions(), sum(ledger.cash().values(), Decimal(0))
        await writer.aclose()
        ledger.close()
        return result

    ids, positions, cash = asyncio.run(main())
    # the reference: the fills in the order first heard, each once; a FAILED report undoes its fill
    first_heard: list[int] = []
    standing: set[int] = set()
    reversed_: set[int] = set()
    for op, number in ops:
        if op in ("fill", "failed") and number not in first_heard:
            first_heard.append(number)
            if op == "failed":
                reversed_.add(number)
            else:
                standing.add(number)
        elif op == "failed" and number not in reversed_:
            reversed_.add(number)
            standing.discard(number)
    assert ids == [f"f-{n}" for n in first_heard]
    size = 1_000_000 * len(standing)
    assert positions == ({(Venue.KALSHI, "KX-A", Side.YES): size} if size else {})
    expected_cash = -sum((Decimal(400_000 + n) / 1_000_000 + Decimal("0.01") for n in standing), Decimal(0))
    assert cash == expected_cash


# -- the daemon ----------------------------------------------------------------------------------------


def _daemon(tmp_path: Path) -> Daemon:
    config = in_process_config(tmp_path, synchronous="FULL")
    source = SimulatedSource(config.run.scenario, order_timeout_s=2.0, order_settle_s=2.0)
    return Daemon(config, Credentials(), source, stream=io.StringIO(), install_signals=False)


async def _until(condition: Callable[[], bool], task: asyncio.Task[Any], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert not task.done(), f"the daemon ended while waiting for {what}: {task.result()}"
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s"
        await asyncio.sleep(0.02)


def test_the_daemon_commits_and_replays_pnl_off_its_event_loop_while_trading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails before LedgerWriter: every journal, order state, fill and P&L replay ran on the loop
    (a commit with synchronous=FULL is an fsync: 4 ms p50, 10-16 ms p99 measured)."""
    daemon = _daemon(tmp_path)
    calls: list[tuple[str, int, bool]] = []

    def trading() -> bool:
        return daemon.started.is_set() and not daemon._stopping

    for name in ("_tx", "pnl", "record_fill", "journal_intent"):
        original: Callable[..., Any] = getattr(Ledger, name)

        def spy(self: Ledger, *args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls.append((_name, threading.get_ident(), trading()))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Ledger, name, spy)

    async def run() -> int:
        loop_thread = threading.get_ident()
        task = asyncio.create_task(daemon.run())
        await _until(
            lambda: {"record_fill", "journal_intent", "pnl"} <= {n for n, _, t in calls if t},
            task,
            "traded plan with its fills and a P&L refresh",
        )
        daemon.request_stop("test done")
        result = await task
        assert result.exit_code == 0
        return loop_thread

    loop_thread = asyncio.run(run())
    while_trading = [(name, ident) for name, ident, during in calls if during]
    on_loop = sorted({name for name, ident in while_trading if ident == loop_thread})
    assert on_loop == [], f"ledger commits or P&L replays on the event loop while trading: {on_loop}"
    assert sum(1 for name, _ in while_trading if name == "_tx") >= 3


def test_a_ledger_fault_while_trading_halts_entries_once_crashes_nothing_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = _daemon(tmp_path)
    halts: list[str] = []
    reports: list[tuple[bool, Any]] = []  # (healed yet, report)
    state: dict[str, Any] = {"armed": True, "healed": False, "kept_fills": 0}
    original_halt = daemon.telemetry.halt
    original_execution = daemon.telemetry.execution

    def halt(reason: Any) -> None:
        halts.append(str(getattr(reason, "message", reason)))
        original_halt(reason)

    def execution(report: Any, guaranteed: Decimal) -> None:
        reports.append((state["healed"], report))
        original_execution(report, guaranteed)

    monkeypatch.setattr(daemon.telemetry, "halt", halt)
    monkeypatch.setattr(daemon.telemetry, "execution", execution)
    record_fill = Ledger.record_fill

    def fail_from_this_fill(self: Ledger, fill: Fill, *, now_ms: int) -> Any:
        if state["armed"] and daemon.started.is_set():  # the disk fails as a fill is written
            state["armed"] = False
            self.fail_writes(True)
        return record_fill(self, fill, now_ms=now_ms)

    monkeypatch.setattr(Ledger, "record_fill", fail_from_this_fill)

    async def run() -> Any:
        task = asyncio.create_task(daemon.run())
        await _until(lambda: not state["armed"], task, "a fill to fail on")
        writer = daemon.ledger_writer
        assert writer is not None
        await _until(
            lambda: (
                any(
                    r.status is ExecutionStatus.REFUSED and any(x.gate == "ledger" for x in r.refusals)
                    for _, r in reports
                )
                and writer.pending > 0
            ),
            task,
            "plan refused by the failing ledger",
        )
        refused = [r for _, r in reports if any(x.gate == "ledger" for x in r.refusals)]
        assert all(not r.intent_ids for r in refused)  # nothing journaled, nothing sent
        assert writer.failing and daemon.telemetry.halted.startswith("ledger writes failing")
        kept = writer.pending
        state["kept_fills"] = sum(1 for job in writer._backlog if job.what.startswith("record_fill"))
        assert daemon.ledger is not None
        daemon.ledger.fail_writes(False)
        state["healed"] = True
        await _until(lambda: not writer.failing and writer.pending == 0, task, "backlog written after the heal")
        assert not daemon.telemetry.halted
        await _until(
            lambda: any(healed and r.status is not ExecutionStatus.REFUSED for healed, r in reports),
            task,
            "plan traded after the heal",
        )
        daemon.request_stop("test done")
        result = await task
        return result, kept

    result, kept = asyncio.run(run())
    assert result.exit_code == 0
    assert len([h for h in halts if h.startswith("ledger writes failing")]) == 1, halts
    assert kept >= 1
    # nothing lost: the ledger alone equals the venues (recovery had no fill to add)
    check = result.shutdown_check
    assert check is not None and check.clean, check
    assert check.fills_applied == 0, check
    assert state["kept_fills"] >= 1  # fills heard while failing were kept, then written


def test_the_ledger_bench_reports_inline_and_writer_side_by_side(tmp_path: Path) -> None:
    from benchmarks import ledger_bench

    out = tmp_path / "ledger.json"
    ledger_bench.run(writes=3, directory=tmp_path, json_path=out, plans=3, fills_on_file=10)
    payload = json.loads(out.read_text())
    loop = {row["mode"]: row for row in payload["loop"]}
    assert set(loop) == {"inline", "writer"}
    for row in loop.values():
        assert row["plans"] == 3 and 0 <= row["stall_p50_ms"] <= row["stall_p99_ms"] <= row["stall_max_ms"]
        assert row["journal_p50_ms"] > 0 and 0 < row["commit_p50_ms"] <= row["commit_p99_ms"]
