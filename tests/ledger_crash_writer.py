"""The writer the ledger crash test kills (tests/test_ledger.py::test_killed_writer_loses_no_commit).

Run as `python -m tests.ledger_crash_writer`: a fork server. It imports the ledger once, then for
each stdin line `run <path> <first intent number> <seed>` forks a child that journals intents and
records fills (with duplicates and reversals) in a loop forever, printing a line after each
commit returns: `I <intent id>` or `F <fill id> <result>`. The test SIGKILLs the child by the pid
it prints first (`P <pid>`); the server reaps it and prints `X <wait status>`. Forking from this
single-threaded server makes each of the many kills cost milliseconds, not an interpreter start.
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys

from arb.domain import Action, Fill, FillStatus, Side, TimeInForce, Venue
from arb.ledger import Intent, IntentLeg, Ledger


def _say(text: str) -> None:
    os.write(1, (text + "\n").encode())


def writer(path: str, first: int, seed: int) -> None:
    rng = random.Random(seed)
    ledger = Ledger(path)
    number = first
    while True:
        intent_id = f"intent-{number}"
        legs = tuple(
            IntentLeg(
                venue=Venue.KALSHI if leg % 2 == 0 else Venue.POLYMARKET,
                market_id=f"M{rng.randrange(3)}",
                outcome=Side.YES if rng.random() < 0.5 else Side.NO,
                action=Action.BUY if rng.random() < 0.7 else Action.SELL,
                price_micro_usd=rng.randrange(1, 1000) * 1000,
                size_micro=rng.randrange(1, 50) * 10_000,
                time_in_force=TimeInForce.IOC,
            )
            for leg in range(rng.randrange(2, 5))
        )
        journaled = ledger.journal_intent(Intent(intent_id, f"set-{number % 4}", number, legs))
        _say(f"I {intent_id}")
        for j in journaled:
            fill = Fill(
                venue=j.leg.venue,
                fill_id=f"fill-{number}-{j.leg_index}",
                order_id=f"order-{number}-{j.leg_index}",
                client_order_id=j.client_order_id,
                market_id=j.leg.market_id,
                book_id=j.leg.market_id,
                outcome=j.leg.outcome,
                action=j.leg.action,
                price_micro_usd=j.leg.price_micro_usd,
                size_micro=j.leg.size_micro,
                fee_micro_usd=rng.randrange(0, 5000),
                liquidity=None,
            )
            _say(f"F {fill.fill_id} {ledger.record_fill(fill, now_ms=number).value}")
            if rng.random() < 0.3:  # a replayed event
                _say(f"F {fill.fill_id} {ledger.record_fill(fill, now_ms=number).value}")
            if fill.venue is Venue.POLYMARKET and rng.random() < 0.3:  # failed on chain
                failed = dataclasses.replace(fill, status=FillStatus.FAILED)
                _say(f"F {fill.fill_id} {ledger.record_fill(failed, now_ms=number).value}")
        number += 1


def main() -> None:
    for line in sys.stdin:
        command, path, first, seed = line.split()
        assert command == "run", line
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                _say(f"P {os.getpid()}")
                writer(path, int(first), int(seed))
            finally:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        _say(f"X {status}")


if __name__ == "__main__":
    main()
