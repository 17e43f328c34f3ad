"""A network partition of one venue (`PolymarketSimulator.partition()`, healed by `heal()`), against
both simulated venues over loopback with the real clients and the executor: the venue's
connections are refused and dropped, an order whose answer was cut off is UNKNOWN (never re-sent),
the breakers mark the venue unreachable, every entry touching it is refused, and once it heals the
probe finds the order resting and cancels it: nothing is left orphaned."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from arb.config import Credentials, load_config
from arb.daemon import core
from arb.domain import Action, OrderStatus, Side, TimeInForce, Venue
from arb.execution import ExecutionOrderConfig, ExecutionStatus, ExecutorConfig
from arb.ops.notify import Incident
from arb.venues.sim.faults import AnswerFault
from tests.execution.stage import resting_at_venues, spy_sends, stage

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET
RESTING = ExecutorConfig(orders=ExecutionOrderConfig(time_in_force=(TimeInForce.GTC,)))
_NOT_FINAL = (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.UNKNOWN)


async def until(predicate: Callable[[], bool], what: str, turns: int = 20_000) -> None:
    for i in range(turns):
        if predicate():
            return
        await asyncio.sleep(0 if i % 10 else 0.001)
    raise AssertionError(f"never happened: {what}")


async def test_a_partition_refuses_and_drops_every_connection_until_healed(tmp_path: Path) -> None:
    async with stage(tmp_path) as s:
        sim = s.venues.polymarket_sim
        assert sim.connections("market") == 1 and sim.connections("user") == 1
        sim.partition()
        await until(lambda: sim.connections("market") == 0 and sim.connections("user") == 0, "sockets dropped")
        async with httpx.AsyncClient(trust_env=False) as http:
            for url in (sim.clob_url + "/time", sim.gamma_url + "/markets"):
                with pytest.raises(httpx.TransportError):
                    await http.get(url)
        await until(lambda: not s.venues.polymarket.books[s.venues.token(0, Side.YES)].trusted, "books untrusted")
        accepted = sim.connections("market")
        for _ in range(5):  # the client keeps trying; every handshake is refused
            s.time.advance(1.0)
            await asyncio.sleep(0.01)
        assert sim.connections("market") == accepted == 0
        sim.heal()
        await until(
            lambda: sim.connections("market") == 1 and s.venues.polymarket.books[s.venues.token(0, Side.YES)].trusted,
            "the client reconnects by itself and its books are trusted again",
        )
        async with httpx.AsyncClient(trust_env=False) as http:
            assert (await http.get(sim.clob_url + "/time")).status_code == 200


async def test_a_partitioned_venue_halts_its_entries_and_leaves_no_orphan_once_healed(tmp_path: Path) -> None:
    async with stage(tmp_path, executor_config=RESTING) as s:
        sent = spy_sends(s)
        sim = s.venues.polymarket_sim
        # the POST is taken (the order rests) and its answer is still on the way when the network fails
        s.venues.polymarket_faults.lose_next_answers(AnswerFault.NO_ANSWER, 1, "/order", ("POST",))
        legs = [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.44"), s.leg(P, 0, Side.YES, Action.BUY, "5", "0.45")]
        task = asyncio.create_task(s.run(legs))
        await until(lambda: len(resting_at_venues(s)) == 2, "both orders rest at the venues")
        sim.partition()
        for _ in range(200):  # lookups fail at once (connections refused); timeouts fire as time moves
            if task.done():
                break
            s.time.advance(1.0)
            await asyncio.sleep(0.005)
        report = await asyncio.wait_for(task, 10)
        assert report.status is ExecutionStatus.HALTED and report.incident_id is not None
        by_venue = {o.venue: o for o in report.orders}
        assert by_venue[P].status is OrderStatus.UNKNOWN  # its answer was cut off: never assumed rejected
        assert by_venue[K].status is OrderStatus.CANCELED  # the reachable leg was taken off the book
        assert [r.gate for r in s.executor.gate.breakers.check(["polymarket"])] == ["partition"]
        assert s.executor.gate.breakers.check(["kalshi"]) == []

        # entries touching the venue are refused (by the partition gate, and its books are untrusted)
        other = s.venues.component([1])
        again = await s.executor.execute(
            s.plan([s.leg(P, 1, Side.YES, Action.BUY, "5", "0.50")], set_id=other.id), other, s.venues.books()
        )
        assert again.status is ExecutionStatus.REFUSED and "partition" in [r.gate for r in again.refusals]
        assert len(sent) == 2

        # still cut off: the probe changes nothing, the order still rests at the venue
        assert await s.executor.probe_unreachable() == [P]
        assert len(resting_at_venues(s)) == 1

        sim.heal()
        assert await s.executor.probe_unreachable() == []
        assert s.executor.gate.breakers.check(["polymarket"]) == []
        assert resting_at_venues(s) == []  # found resting and cancelled
        assert not s.ledger.orders(statuses=_NOT_FINAL)
        assert len(sent) == 2  # reconciled, never re-sent


async def test_the_daemon_announces_the_partition_once_and_cleans_up_when_it_heals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's partition watch: one alert when the breakers mark the venue unreachable, a probe
    every interval, and once the venue answers the order left resting there is cancelled."""
    monkeypatch.setattr(core, "_PROBE_UNREACHABLE_S", 0.001)
    async with stage(tmp_path, executor_config=RESTING) as s:
        sim = s.venues.polymarket_sim
        s.venues.polymarket_faults.lose_next_answers(AnswerFault.NO_ANSWER, 1, "/order", ("POST",))
        legs = [s.leg(K, 0, Side.YES, Action.BUY, "5", "0.44"), s.leg(P, 0, Side.YES, Action.BUY, "5", "0.45")]
        task = asyncio.create_task(s.run(legs))
        await until(lambda: len(resting_at_venues(s)) == 2, "both orders rest at the venues")
        sim.partition()
        for _ in range(200):
            if task.done():
                break
            s.time.advance(1.0)
            await asyncio.sleep(0.005)
        assert (await asyncio.wait_for(task, 10)).status is ExecutionStatus.HALTED

        daemon = core.Daemon(load_config(), Credentials(), source=None, install_signals=False)  # type: ignore[arg-type]
        daemon.executor, daemon.gate = s.executor, s.executor.gate
        daemon.clients.update(s.venues.clients)
        alerts: list[object] = []
        daemon.telemetry.notifier = type("Sink", (), {"submit": staticmethod(alerts.append)})()
        watch = asyncio.create_task(daemon._partition_watch())
        try:
            await until(lambda: len(alerts) == 1, "the partition is announced")
            for _ in range(20):  # probed again and again while cut off: announced once
                await asyncio.sleep(0.002)
            assert len(alerts) == 1 and len(resting_at_venues(s)) == 1
            (alert,) = alerts
            assert isinstance(alert, Incident) and alert.kind == "venue_unreachable" and alert.severity == "critical"
            sim.heal()
            await until(lambda: resting_at_venues(s) == [], "the order left at the healed venue is cancelled")
            await until(lambda: s.executor.gate.breakers.check(["polymarket"]) == [], "entries may touch it again")
            await until(lambda: not s.ledger.orders(statuses=_NOT_FINAL), "the ledger has every order final")
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)


async def test_a_partition_with_no_order_out_is_noticed_by_its_feed_and_healed_by_the_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No order is out, so no call goes unanswered: the book socket down for 5 s (on the clients'
    clock) marks the venue unreachable all the same, once, and the probe clears it when it heals."""
    monkeypatch.setattr(core, "_PROBE_UNREACHABLE_S", 0.001)
    async with stage(tmp_path) as s:
        daemon = core.Daemon(
            load_config(),
            Credentials(),
            source=None,  # type: ignore[arg-type]
            install_signals=False,
            clock=s.time.clock,
        )
        daemon.executor, daemon.gate = s.executor, s.executor.gate
        daemon.clients.update(s.venues.clients)
        alerts: list[object] = []
        daemon.telemetry.notifier = type("Sink", (), {"submit": staticmethod(alerts.append)})()
        watch = asyncio.create_task(daemon._partition_watch())
        breakers = s.executor.gate.breakers
        try:
            s.venues.polymarket_sim.partition()
            await until(lambda: not s.venues.polymarket.connected["market"].is_set(), "the book socket is down")
            for _ in range(100):  # time moves (the client's reconnect backoff moves it too)
                if breakers.check(["polymarket"]):
                    break
                s.time.advance(0.5)
                await asyncio.sleep(0.005)
            (refusal,) = breakers.check(["polymarket"])
            assert refusal.gate == "partition"
            down_s = float(re.search(r"down for ([0-9.]+) s", refusal.reason).group(1))  # type: ignore[union-attr]
            assert down_s >= 5.0  # not before a reconnect had its 5 s
            await until(lambda: len(alerts) == 1, "announced")
            (alert,) = alerts
            assert isinstance(alert, Incident) and alert.kind == "venue_unreachable" and "socket down" in alert.message
            assert breakers.check(["kalshi"]) == []
            for _ in range(20):
                await asyncio.sleep(0.002)
            assert len(alerts) == 1  # once per outage
            s.venues.polymarket_sim.heal()
            await until(lambda: breakers.check(["polymarket"]) == [], "reachable again once it answers")
            await until(s.venues.polymarket.connected["market"].is_set, "the socket is back")
            for _ in range(20):
                await asyncio.sleep(0.002)
            assert breakers.check(["polymarket"]) == [] and len(alerts) == 1
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
