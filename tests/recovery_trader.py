"""The trading process the crash-recovery test kills (tests/test_recovery_crash.py).

Run as `python -m tests.recovery_trader`: a fork server (imports once, forks per command, so a
kill costs milliseconds, not an interpreter start). Each stdin line is
`<mode> <ledger path> <urls JSON path> <Kalshi key path> <seed> [venue]`; the server forks a child,
which prints `P <pid>` first, and reaps it, printing `X <wait status>`. Modes:

- `recover`: a fresh start: build the real clients, run `recover` (with the clients' events
  ignored, so whatever the ledger gains comes from recovery itself), print `R <report JSON>` (`U`
  when it is not clean), exit.
- `trade`: recover as above; on a clean report, wait until the test has compared the ledger with
  the venue (it creates `<ledger path>.go<seed>`), then trade until killed: journal an intent (1-3 legs on both venues, IOC/FOK/GTC, crossing or
  resting), send its legs at once, record the answers; order events and fills from the clients'
  sinks go to the ledger as they arrive; now and then cancel a resting order or poll fills. A line
  after each step (`J` journaled, `S` sending, `A` answered, `C` cancelled, `F` fill recorded) gives
  the test its kill points.
- `faulty`: recover as `trade`, then trade through the executor with the daemon's ledger writer
  (commits off the loop) until killed; the first fill it writes finds the disk failing
  (`Ledger.fail_writes`), after which plans are refused (`X-plan refused`), fills are polled and
  kept in memory (`B <writes kept>` after each step): the test kills it with that backlog.
- `once <venue>`: without private sockets (so nothing but a lookup can tell the order's fate),
  journal one crossing IOC leg on that venue, print `S`, send it, record the
  answer, print `A <status>`, then wait to be killed (the test arms a lost answer first: acceptance
  3, a POST that timed out although the venue executed it).

Sends follow the journal-first rule: the intent (with its derived client ids and Polymarket salts)
is committed before any leg leaves, and the Polymarket order hash the client announces PENDING
reaches the ledger before its POST.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import queue  # noqa: F401 - imported lazily by the clients' dependencies; once here, not per child
import random
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from arb.book import BinaryBook
from arb.domain import Action, Fill, MarketInfo, OrderRequest, OrderStatus, OrderUpdate, Side, TimeInForce, Venue
from arb.errors import ArbError, ConfigError
from arb.execution.executor import Executor, ExecutorConfig
from arb.execution.recovery import RecoveryConfig, RecoveryReport, normalise_fill, recover
from arb.fixed import SCALE
from arb.graph import Component, Listing, contract_id, market_listings
from arb.ledger import Intent, IntentLeg, JournaledLeg, Ledger, LedgerWriter
from solvers.plan import Leg, SetPlan
from solvers.problem import Equivalent
from tests.execution.stage import gate
from tests.recovery_venues import (
    KALSHI_TICKERS,
    PM_BOOKS,
    PM_CONDITION,
    PM_NO,
    PM_YES,
    VenueUrls,
    build_clients,
    ssl_context,
    wall_ms,
)


def say(text: str) -> None:
    os.write(1, (text + "\n").encode())


def report_json(report: RecoveryReport) -> str:
    return json.dumps(
        {
            "clean": report.clean,
            "differences": [dataclasses.astuple(d)[1:] for d in report.differences],
            "venues": [d.venue.value for d in report.differences],
            "resolved": [(c, a.value, b.value) for c, a, b in report.resolved],
            "cancelled": list(report.cancelled),
            "fills_applied": report.fills_applied,
            "fills_seen": report.fills_seen,
            "opening_cash": [(v.value, str(u)) for v, u in report.opening_cash],
            "waited_s": report.waited_s,
        }
    )


class Trader:
    def __init__(
        self, ledger_path: str, urls: VenueUrls, key_path: str, seed: int, *, private_stream: bool, faulty: bool = False
    ) -> None:
        self.ledger = Ledger(ledger_path)
        self.faulty = faulty
        # faulty: the executor is the ledger's only writer, through the daemon's writer (off the loop)
        self.writer = LedgerWriter(self.ledger) if faulty else None
        self.rng = random.Random(f"trader:{seed}")
        self.seed = seed
        self.legs: dict[str, JournaledLeg] = {leg.client_order_id: leg for _, _, leg in self.ledger.journaled_legs()}
        self.cid_by_hash: dict[str, str] = {o.order_id: o.client_order_id for o in self.ledger.orders() if o.order_id}
        self.clients = build_clients(urls, key_path, seed, self.sink, private_stream=private_stream)
        self.resting: list[tuple[Venue, str, str]] = []  # (venue, order id, market)
        self.executor = Executor(
            self.ledger,
            self.clients,
            gate(Path(ledger_path).parent, time.monotonic, time.time),
            config=ExecutorConfig(settle_timeout_s=0.3, reconcile_interval_s=0.05, max_reconcile_attempts=10),
            intent_ids=iter(f"s{seed}-x{n}" for n in range(1_000_000)).__next__,
            writer=self.writer,
        )
        self.component: Component | None = None
        self.listening = True  # False: events are dropped (a `recover` run must find everything itself)

    # -- events from the clients: recorded as they arrive --------------------------------------

    def sink(self, event: Any) -> None:
        if not self.listening:
            return
        self.executor.on_event(event)  # the executor records the events of its own orders
        if self.faulty:
            return
        try:
            if isinstance(event, OrderUpdate):
                cid = event.client_order_id or self.cid_by_hash.get(event.order_id)
                if cid is None or cid not in self.legs:
                    return
                if event.order_id and event.venue is Venue.POLYMARKET:
                    self.cid_by_hash[event.order_id] = cid
                self.ledger.record_order(dataclasses.replace(event, client_order_id=cid), now_ms=wall_ms())
            elif isinstance(event, Fill):
                cid = event.client_order_id or self.cid_by_hash.get(event.order_id)
                if cid is None or cid not in self.legs:
                    return
                result = self.ledger.record_fill(normalise_fill(event, self.legs[cid]), now_ms=wall_ms())
                say(f"F {event.fill_id} {result.value}")
        except ConfigError as exc:  # a stale or foreign event: the ledger refuses it, nothing moves
            say(f"E {exc}")

    async def start(self) -> None:
        for client in self.clients.values():
            await client.start()
        kalshi, polymarket = self.clients[Venue.KALSHI], self.clients[Venue.POLYMARKET]
        pm_markets = await polymarket.markets()
        await polymarket.subscribe(pm_markets)
        kalshi_markets = await kalshi.markets()
        await kalshi.subscribe([m.market_id for m in kalshi_markets])
        by_id = {m.market_id: m for m in (*pm_markets, *kalshi_markets)}
        self.component = component(by_id[KALSHI_TICKERS[0]], by_id[PM_CONDITION])

    def books(self) -> dict[tuple[Venue, str], BinaryBook]:
        kalshi, polymarket = self.clients[Venue.KALSHI], self.clients[Venue.POLYMARKET]
        return {
            (Venue.KALSHI, KALSHI_TICKERS[0]): BinaryBook(KALSHI_TICKERS[0], kalshi.books[KALSHI_TICKERS[0]]),
            (Venue.POLYMARKET, PM_CONDITION): BinaryBook(
                PM_CONDITION, polymarket.books[PM_YES], polymarket.books[PM_NO]
            ),
        }

    async def execute_plan(self, number: int) -> None:
        """A hand-written plan through the real Executor (journal first, all legs at once, FOK/IOC,
        Kalshi mirror legs pooled into one order, fills routed to the plan's instruments)."""
        assert self.component is not None
        rng = self.rng
        legs: list[Leg] = []
        for _ in range(rng.randint(1, 3)):
            venue = rng.choice((Venue.KALSHI, Venue.POLYMARKET))
            side = rng.choice((Side.YES, Side.NO))
            if venue is Venue.KALSHI:
                action = rng.choice((Action.BUY, Action.SELL))
                buys_yes = (side is Side.YES) is (action is Action.BUY)
                yes_price = 420_000 if buys_yes else 400_000
                price = yes_price if side is Side.YES else SCALE - yes_price
                size = rng.randint(1, 3)
                market = KALSHI_TICKERS[0]
            else:
                action = Action.BUY
                asks = PM_BOOKS[PM_YES if side is Side.YES else PM_NO][1]
                price, size, market = asks[0][0], rng.randint(5, 9), PM_CONDITION
            cid = contract_id(venue, market)
            limit, quantity = Decimal(price) / SCALE, Decimal(size)
            flow = -limit * quantity if action is Action.BUY else limit * quantity
            legs.append(
                Leg(f"{cid}:{side.value}", venue.value, cid, side, action, quantity, limit, (), Decimal(0), flow)
            )
        set_id = f"set-{self.seed}-{number}"  # an imbalance halts its set (no repairer here): a new set each plan
        plan = SetPlan(set_id, tuple(legs), Decimal(0), 0.0, {}, None, {}, (), {}, "hand-written")
        report = await self.executor.execute(plan, dataclasses.replace(self.component, id=set_id), self.books())
        say(f"X-plan {report.status.value}")

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()

    async def recover(self) -> RecoveryReport:
        return await recover(self.ledger, self.clients, wall_ms=wall_ms, config=RecoveryConfig(settle_waits=2))

    # -- trading -------------------------------------------------------------------------------

    def kalshi_leg(self) -> tuple[IntentLeg, TimeInForce]:
        rng = self.rng
        outcome, action = rng.choice((Side.YES, Side.NO)), rng.choice((Action.BUY, Action.SELL))
        buys_yes = (outcome is Side.YES) is (action is Action.BUY)
        tif = rng.choice((TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTC))
        crossing = tif is not TimeInForce.GTC or rng.random() < 0.3
        yes_price = (420_000 if crossing else 400_000) if buys_yes else (400_000 if crossing else 420_000)
        price = yes_price if outcome is Side.YES else SCALE - yes_price
        leg = IntentLeg(
            Venue.KALSHI, rng.choice(KALSHI_TICKERS), outcome, action, price, rng.randint(1, 3) * SCALE, tif
        )
        return leg, tif

    def polymarket_leg(self) -> tuple[IntentLeg, TimeInForce] | None:
        rng = self.rng
        outcome = rng.choice((Side.YES, Side.NO))
        token = PM_YES if outcome is Side.YES else PM_NO
        bids, asks = PM_BOOKS[token]
        held = self.ledger.positions().get((Venue.POLYMARKET, PM_CONDITION, outcome), 0)
        if held >= 5 * SCALE and rng.random() < 0.3:
            size = min(held // SCALE, 9) * SCALE
            leg = IntentLeg(
                Venue.POLYMARKET, PM_CONDITION, outcome, Action.SELL, bids[0][0], size, TimeInForce.IOC, token
            )
            return leg, TimeInForce.IOC
        tif = rng.choice((TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTC))
        price = asks[0][0] if tif is not TimeInForce.GTC or rng.random() < 0.3 else bids[0][0]
        leg = IntentLeg(
            Venue.POLYMARKET, PM_CONDITION, outcome, Action.BUY, price, rng.randint(5, 9) * SCALE, tif, token
        )
        return leg, tif

    def draw_legs(self) -> tuple[IntentLeg, ...]:
        legs: list[IntentLeg] = []
        for _ in range(self.rng.randint(1, 3)):
            if self.rng.random() < 0.5:
                legs.append(self.kalshi_leg()[0])
            else:
                drawn = self.polymarket_leg()
                if drawn is not None:
                    legs.append(drawn[0])
        return tuple(legs) or (self.kalshi_leg()[0],)

    async def send_intent(self, intent_id: str, legs: tuple[IntentLeg, ...]) -> list[OrderUpdate]:
        journaled = self.ledger.journal_intent(Intent(intent_id, "set-recovery", wall_ms(), legs))
        for j in journaled:
            self.legs[j.client_order_id] = j
        say(f"J {intent_id}")
        requests = [
            (
                j.leg.venue,
                OrderRequest(
                    j.client_order_id,
                    j.leg.market_id,
                    j.leg.outcome,
                    j.leg.action,
                    j.leg.price_micro_usd,
                    j.leg.size_micro,
                    j.leg.time_in_force,
                    salt=j.salt,
                ),
            )
            for j in journaled
        ]
        say(f"S {intent_id}")
        answers = await asyncio.gather(*(self.clients[venue].place_order(r) for venue, r in requests))
        for (venue, request), answer in zip(requests, answers, strict=True):
            answer = dataclasses.replace(answer, client_order_id=request.client_order_id)
            if answer.order_id and venue is Venue.POLYMARKET:
                self.cid_by_hash[answer.order_id] = request.client_order_id
            try:
                self.ledger.record_order(answer, now_ms=wall_ms())
            except ConfigError as exc:
                say(f"E {exc}")
            if answer.status is OrderStatus.OPEN and answer.order_id:
                self.resting.append((venue, answer.order_id, request.market_id))
            say(f"A {answer.status.value}")
        return answers

    async def trade(self) -> None:
        number = 0
        while True:
            if self.rng.random() < 0.5:
                await self.execute_plan(number)
            else:
                await self.send_intent(f"s{self.seed}-{number}", self.draw_legs())
            number += 1
            roll = self.rng.random()
            if roll < 0.3 and self.resting:
                venue, order_id, market = self.resting.pop(self.rng.randrange(len(self.resting)))
                try:
                    update = await self.clients[venue].cancel_order(order_id, market)
                except ArbError as exc:
                    say(f"E cancel {exc}")
                else:
                    self.sink(update)
                    say(f"C {update.status.value}")
            elif roll < 0.5:
                venue = self.rng.choice((Venue.KALSHI, Venue.POLYMARKET))
                with_cids = []
                try:
                    with_cids = await self.clients[venue].fills()
                except ArbError as exc:
                    say(f"E fills {exc}")
                for fill in with_cids:
                    self.sink(fill)
                say(f"Q {len(with_cids)}")

    async def trade_faulty(self) -> None:
        """Plans through the executor; the first fill written finds the disk failing (from then
        on every write is kept in memory by the writer); fills are polled and kept too."""
        assert self.writer is not None
        self.writer.listen(on_failing=lambda error: say("D"))
        record_fill = Ledger.record_fill
        armed = [True]

        def fail_from_first_fill(ledger: Ledger, fill: Fill, *, now_ms: int) -> Any:
            if armed[0]:
                armed[0] = False
                ledger.fail_writes(True)
            return record_fill(ledger, fill, now_ms=now_ms)

        Ledger.record_fill = fail_from_first_fill  # type: ignore[method-assign,assignment]  # this child only
        number = 0
        while True:
            await self.execute_plan(number)
            number += 1
            venue = self.rng.choice((Venue.KALSHI, Venue.POLYMARKET))
            try:
                for fill in await self.clients[venue].fills():
                    self.sink(fill)
            except ArbError as exc:
                say(f"E fills {exc}")
            say(f"B {self.writer.pending}")
            await asyncio.sleep(0.005)

    async def once(self, venue: Venue) -> None:
        if venue is Venue.KALSHI:
            leg = IntentLeg(Venue.KALSHI, KALSHI_TICKERS[0], Side.YES, Action.BUY, 420_000, 2 * SCALE, TimeInForce.IOC)
        else:
            leg = IntentLeg(
                Venue.POLYMARKET, PM_CONDITION, Side.YES, Action.BUY, 420_000, 5 * SCALE, TimeInForce.IOC, PM_YES
            )
        answers = await self.send_intent(f"once-{self.seed}", (leg,))
        assert len(answers) == 1
        await asyncio.Event().wait()  # killed here


async def child(mode: str, ledger_path: str, urls_path: str, key_path: str, seed: int, extra: str) -> int:
    with open(urls_path) as f:
        urls = VenueUrls.from_json(json.load(f))
    # `once` hears nothing on private sockets: the order's outcome must come from recovery alone
    trader = Trader(ledger_path, urls, key_path, seed, private_stream=mode != "once", faulty=mode == "faulty")
    await trader.start()
    try:
        if mode == "once":
            await trader.once(Venue(extra))
            return 0
        trader.listening = False
        report = await trader.recover()
        say(("R " if report.clean else "U ") + report_json(report))
        if mode == "recover" or not report.clean:
            return 0 if report.clean else 3
        # the test checks the ledger against the venue now; it creates this file when done
        go = f"{ledger_path}.go{seed}"
        while not os.path.exists(go):
            await asyncio.sleep(0.001)
        trader.executor.allow_trading(report)  # clean: the executor may trade from here on
        trader.listening = True
        say("T")
        await (trader.trade_faulty() if mode == "faulty" else trader.trade())
        return 0
    finally:
        await trader.close()


def component(kalshi: MarketInfo, polymarket: MarketInfo) -> Component:
    """One candidate set: the Kalshi contract and the Polymarket one equivalent, each listed YES/NO."""
    listings: list[Listing] = []
    contracts: list[str] = []
    for market in (kalshi, polymarket):
        cid = contract_id(market.venue, market.market_id)
        contracts.append(cid)
        found = market_listings(market, cid)
        if not found:
            raise ConfigError(f"market {market.market_id} cannot be traded (closed, or no known taker fee)")
        listings.extend(found)
    return Component("recovery-set", tuple(contracts), (Equivalent(contracts[0], contracts[1]),), tuple(listings))


def main() -> None:
    ssl_context()  # made once here, inherited by every child
    for line in sys.stdin:
        words = line.split()
        mode, ledger_path, urls_path, key_path, seed = words[:5]
        extra = words[5] if len(words) > 5 else ""
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                say(f"P {os.getpid()}")
                code = asyncio.run(child(mode, ledger_path, urls_path, key_path, int(seed), extra))
            except BaseException as exc:
                say(f"E child {type(exc).__name__}: {exc}")
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        say(f"X {status}")


if __name__ == "__main__":
    main()
