"""Acceptance 2 and 3 of the execution issue, with real processes: the simulated venues run in one
process (tests/recovery_venue_server.py), a trading process (tests/recovery_trader.py) journals
and sends orders to them over loopback and is SIGKILLed at seeded random points; a fresh process
then runs recovery, and the ledger is checked against the simulators' own records: positions and
cash equal exactly, every fill counted once, no order resting, every venue order known to the
ledger with the venue's filled size and a final state.

`ARB_RECOVERY_RUNS` sets the number of kill runs (default 50, each short).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arb.domain import OrderStatus, Side, Venue
from arb.ledger import Ledger
from tests.recovery_venues import KALSHI_TICKERS, PM_CONDITION, PM_NO, PM_YES

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("ARB_RECOVERY_RUNS", "50"))
LINE_TIMEOUT_S = 30.0  # only a hung child waits this long; a healthy one answers in milliseconds


class LineProcess:
    """A child process spoken to by lines; reads wait on a condition with a bounded timeout."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self._fd = self.proc.stdout.fileno()
        os.set_blocking(self._fd, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._fd, selectors.EVENT_READ)
        self._buffer = b""
        self.seen: list[str] = []

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def readline(self, timeout_s: float = LINE_TIMEOUT_S) -> str | None:
        """The next line, or None when none came within `timeout_s` (EOF raises)."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                return None
            chunk = os.read(self._fd, 65536)
            if not chunk:
                raise AssertionError(f"child ended; last lines {self.seen[-10:]}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        text = line.decode()
        self.seen.append(text)
        return text

    def expect(self, prefix: str) -> str:
        """Read lines up to the first starting with `prefix` (fails on a child error line)."""
        while True:
            line = self.readline()
            assert line is not None, f"no {prefix!r} line in time; last lines {self.seen[-10:]}"
            assert not line.startswith("E child"), line
            if line.startswith(prefix):
                return line

    def close(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._selector.close()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


class Harness:
    def __init__(self, tmp: Path, seed: int) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_path = tmp / "kalshi.pem"
        self.key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        public_path = tmp / "kalshi.pub"
        public_path.write_bytes(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        self.ledger_path = tmp / "ledger.db"
        self.urls_path = tmp / "urls.json"
        self.venue = LineProcess([sys.executable, "-m", "tests.recovery_venue_server", str(public_path), str(seed)])
        self.trader: LineProcess | None = None
        self.child_pid = 0
        try:
            # both start (import) at once; the trader's children read the URLs file later
            self.trader = LineProcess([sys.executable, "-m", "tests.recovery_trader"])
            urls = self.venue.readline()
            assert urls is not None and urls.startswith("{"), urls
            self.urls_path.write_text(urls)
        except BaseException:
            self.close()
            raise

    def venue_command(self, command: str) -> dict[str, Any]:
        self.venue.send(command)
        line = self.venue.readline()
        assert line is not None, f"venue did not answer {command!r}"
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, answer
        return answer

    def start_child(self, mode: str, seed: int, extra: str = "") -> LineProcess:
        assert self.trader is not None
        self.trader.send(f"{mode} {self.ledger_path} {self.urls_path} {self.key_path} {seed} {extra}".strip())
        self.child_pid = int(self.trader.expect("P ").split()[1])
        return self.trader

    def reaped(self, *, killed: bool) -> None:
        assert self.trader is not None
        status = int(self.trader.expect("X ").split()[1])
        self.child_pid = 0  # reaped: the pid may be reused, never signal it again
        if killed:
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
        else:
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, self.trader.seen[-10:])

    def kill_child(self) -> None:
        os.kill(self.child_pid, signal.SIGKILL)
        self.reaped(killed=True)

    def recover(self, seed: int) -> dict[str, Any]:
        trader = self.start_child("recover", seed)
        report: dict[str, Any] = json.loads(trader.expect("R ")[2:])
        self.reaped(killed=False)
        return report

    def close(self) -> None:
        if self.child_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child_pid, signal.SIGKILL)
        if self.trader is not None:
            self.trader.close()
        with contextlib.suppress(BrokenPipeError):
            self.venue.send("quit")
        self.venue.close()


@contextlib.contextmanager
def harness(tmp: Path, seed: int) -> Iterator[Harness]:
    h = Harness(tmp, seed)
    try:
        yield h
    finally:  # on a failure part-way, leave no process behind
        h.close()


def check_against_venue(ledger_path: Path, state: dict[str, Any]) -> dict[str, int]:
    """The ledger equals the simulators' own records exactly. Returns counts for the summary."""
    kalshi, polymarket = state["kalshi"], state["polymarket"]
    with Ledger(ledger_path) as ledger:
        positions = ledger.positions()
        cash = ledger.cash()
        orders = ledger.orders()
        fill_rows = ledger._conn.execute("SELECT venue, fill_id, order_id, size_micro FROM fills").fetchall()
        executor_intents = sum("-x" in i for i in ledger.intent_ids())  # sent by the real Executor
    # Orders: nothing left open on either side; every venue order known, filled as the venue says.
    not_final = [o for o in orders if o.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN, OrderStatus.OPEN)]
    assert not not_final, f"orders left not final: {not_final}"
    by_cid = {o.client_order_id: o for o in orders if o.venue is Venue.KALSHI}
    for order in kalshi["orders"]:
        assert not order["open"], f"kalshi order still resting: {order}"
        ours = by_cid.get(order["client_order_id"])
        assert ours is not None, f"kalshi order unknown to the ledger: {order}"
        assert ours.filled_micro == order["filled"], (ours, order)
        assert ours.order_id in (None, order["order_id"]), (ours, order)
    by_hash = {o.order_id: o for o in orders if o.venue is Venue.POLYMARKET and o.order_id}
    for order in polymarket["orders"]:
        assert not order["open"], f"polymarket order still resting: {order}"
        ours = by_hash.get(order["order_id"])
        assert ours is not None, f"polymarket order unknown to the ledger: {order}"
        assert ours.filled_micro == order["filled"], (ours, order)
    # Fills: the ledger holds exactly the venue's fills, each once (the primary key is (venue, id)).
    # A pooled order's fill is on file in shares per plan leg (`<id>`, `<id>/<n>`), which must add
    # up to the venue's fill exactly.
    ledger_fills: dict[tuple[Venue, str], tuple[str, int]] = {}
    for v, fid, oid, size in fill_rows:
        key = (Venue(v), fid.split("/", 1)[0])
        held = ledger_fills.get(key, (oid, 0))
        assert held[0] == oid, (fid, held, oid)
        ledger_fills[key] = (oid, held[1] + size)
    venue_fills = {
        (Venue.KALSHI, f["fill_id"]): (f["order_id"], int(Decimal(f["count_fp"]) * 1_000_000)) for f in kalshi["fills"]
    }
    venue_fills |= {(Venue.POLYMARKET, f["fill_id"]): (f["order_id"], f["size"]) for f in polymarket["fills"]}
    assert len(venue_fills) == len(kalshi["fills"]) + len(polymarket["fills"])
    assert ledger_fills == venue_fills
    # Positions: Kalshi nets YES against NO per ticker; Polymarket holds each token.
    pairs_micro = 0
    for ticker in KALSHI_TICKERS:
        yes = positions.get((Venue.KALSHI, ticker, Side.YES), 0)
        no = positions.get((Venue.KALSHI, ticker, Side.NO), 0)
        pairs_micro += min(yes, no)
        assert yes - no == kalshi["positions"].get(ticker, 0), (ticker, yes, no, kalshi["positions"])
    for outcome, token in ((Side.YES, PM_YES), (Side.NO, PM_NO)):
        mine = positions.get((Venue.POLYMARKET, PM_CONDITION, outcome), 0)
        assert mine == polymarket["positions"].get(token, 0), (token, mine, polymarket["positions"])
    assert {k[0] for k in positions} <= {Venue.KALSHI, Venue.POLYMARKET}
    # Cash: exact; nothing reserved once nothing rests.
    assert kalshi["reserved_micro"] == 0 and polymarket["reserved_micro"] == 0
    assert cash[Venue.KALSHI] + Decimal(pairs_micro) / 1_000_000 == Decimal(kalshi["cash_micro"]) / 1_000_000
    assert cash[Venue.POLYMARKET] == Decimal(polymarket["cash_micro"]) / 1_000_000
    return {"fills": len(ledger_fills), "orders": len(orders), "executor_intents": executor_intents}


def test_killed_trading_process_recovers_to_the_venues_state(tmp_path: Path) -> None:
    rng = random.Random(20261206)
    kill_lines: list[int] = []
    lost_answers = 0
    resolved = 0
    with harness(tmp_path, 7) as h:
        first = h.recover(10_000)  # the first start: opening balances adopted from the venues
        assert first["clean"], first
        assert {v for v, _ in first["opening_cash"]} == {"kalshi", "polymarket"}
        for run in range(RUNS):
            trader = h.start_child("trade", run)
            # the restarted process recovers first; the ledger must then equal the venue's records
            report = json.loads(trader.expect("R ")[2:])
            assert report["clean"], (run, report)
            resolved += len(report["resolved"])
            check_against_venue(h.ledger_path, h.venue_command("state"))
            if rng.random() < 0.25:  # the next order request there is processed, never answered
                h.venue_command(f"lose {rng.choice(('kalshi', 'polymarket'))} 1")
                lost_answers += 1
            Path(f"{h.ledger_path}.go{run}").touch()
            trader.expect("T")
            lines = rng.randint(1, 30)  # kill after this many progress lines, or at the deadline
            deadline = time.monotonic() + rng.uniform(0.005, 0.25)
            seen = 0
            while seen < lines and (left := deadline - time.monotonic()) > 0:
                line = trader.readline(left)
                if line is None:
                    break
                assert not line.startswith(("E child", "U ", "X ")), (run, line, trader.seen[-10:])
                seen += 1
            h.kill_child()
            kill_lines.append(seen)
            h.venue_command("clear")
        report = h.recover(10_000 + RUNS)  # the last kill, recovered by a process that only recovers
        assert report["clean"], report
        resolved += len(report["resolved"])
        summary = check_against_venue(h.ledger_path, h.venue_command("state"))
    assert len(kill_lines) == RUNS
    # the kills landed at many different points, and runs did trade
    assert len(set(kill_lines)) >= min(RUNS // 2, 8)
    assert summary["orders"] >= RUNS and summary["fills"] >= RUNS // 2 and summary["executor_intents"] >= RUNS // 5
    print(f"runs {RUNS}, lost answers {lost_answers}, orders resolved by recovery {resolved}, {summary}")


def test_a_post_that_timed_out_but_executed_is_found_filled_and_not_sent_again(tmp_path: Path) -> None:
    """Acceptance 3, after a restart, both venues: the venue executed the order and never
    answered; the process died with the order PENDING (killed while the POST hung) or UNKNOWN
    (after its timeout), having heard nothing else of it. Recovery finds it filled, records its
    fill once, and sends nothing. One venue process for the four cases (starting one costs more
    than a case)."""
    with harness(tmp_path, 11) as h:
        assert h.recover(1)["clean"]
        h.venue_command("quiet")
        for case, (venue, kill_at) in enumerate(
            (v, k) for v in ("kalshi", "polymarket") for k in ("in_flight", "after_timeout")
        ):
            before = h.venue_command("state")[venue]
            h.venue_command(f"lose {venue} 1")
            trader = h.start_child("once", 2 + case, venue)
            trader.expect("S ")
            if kill_at == "after_timeout":
                assert trader.expect("A ") == "A unknown"
            else:  # wait until the venue has executed it (its answer is lost), then kill
                deadline = time.monotonic() + LINE_TIMEOUT_S
                while len(h.venue_command("state")[venue]["orders"]) == len(before["orders"]):
                    assert time.monotonic() < deadline, "the venue never received the order"
            h.kill_child()
            intent_id = f"once-{2 + case}"
            with Ledger(h.ledger_path) as ledger:
                intent = ledger.intent(intent_id)
                assert intent is not None
                (cid,) = intent.client_order_ids()
                order = ledger.order(cid)
                assert order is not None
                assert order.status is (OrderStatus.UNKNOWN if kill_at == "after_timeout" else OrderStatus.PENDING)
                fills_before = ledger.fill_count()
            with pytest.raises(AssertionError):  # the check sees what the ledger is missing
                check_against_venue(h.ledger_path, h.venue_command("state"))
            report = h.recover(100 + case)
            assert report["clean"], (venue, kill_at, report)
            state = h.venue_command("state")
            check_against_venue(h.ledger_path, state)
            new_orders = [o for o in state[venue]["orders"] if o not in before["orders"]]
            assert len(new_orders) == 1, (venue, kill_at, new_orders)  # sent once, never again
            with Ledger(h.ledger_path) as ledger:
                order = ledger.order(cid)
                assert order is not None and order.status is OrderStatus.FILLED
                assert order.filled_micro == new_orders[0]["filled"] > 0
                assert ledger.fill_count() - fills_before == report["fills_applied"] >= 1
            assert [r[0] for r in report["resolved"]] == [cid]


def test_a_process_killed_while_its_ledger_writes_fail_is_recovered_from_the_venues(tmp_path: Path) -> None:
    """The trader writes through the daemon's LedgerWriter; its disk starts failing as it writes a
    fill, so that fill and everything heard after it is kept in memory (plans refused meanwhile);
    the process is SIGKILLed with that backlog. The next start's recovery brings the ledger to the
    venues' records (the fills the dead process never wrote included)."""
    with harness(tmp_path, 13) as h:
        assert h.recover(1)["clean"]
        applied = 0
        for run in range(2):
            seed = 20 + run
            trader = h.start_child("faulty", seed)
            report = json.loads(trader.expect("R ")[2:])
            assert report["clean"], (run, report)
            applied += report["fills_applied"] if run else 0
            check_against_venue(h.ledger_path, h.venue_command("state"))
            Path(f"{h.ledger_path}.go{seed}").touch()
            trader.expect("T")
            trader.expect("D")  # writes failing from here on
            # the plan under way when the disk failed ends as it may; the next is refused
            outcomes = [trader.expect("X-plan")]
            if outcomes[0] != "X-plan refused":
                outcomes.append(trader.expect("X-plan"))
            assert outcomes[-1] == "X-plan refused", outcomes  # entries halt while the ledger fails
            kept = int(trader.expect("B ").split()[1])
            assert kept >= 1  # the fill that met the failure, at least, kept in memory
            h.kill_child()
            with pytest.raises(AssertionError):  # the ledger lacks what the dead process kept
                check_against_venue(h.ledger_path, h.venue_command("state"))
        report = h.recover(99)
        assert report["clean"], report
        applied += report["fills_applied"]
        check_against_venue(h.ledger_path, h.venue_command("state"))
    assert applied >= 2  # each run's kept fill came back from the venue
