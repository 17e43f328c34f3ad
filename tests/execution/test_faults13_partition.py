"""A network partition of one venue (`PolymarketSimulator.partition()`, healed by `heal()`), against
both simulated venues over loopback with the real clients and the executor: the venue's
connections are refused and dropped, an order whose answer was cut off is UNKNOWN (never re-sent),
the breakers mark the venue unreachable, every entry touching it is refused, and once it heals the
probe finds the order resting and cancels it: nothing is left orphaned."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from arb.domain import Action, OrderRequest, OrderStatus, OrderUpdate, Side, TimeInForce, Venue
from arb.execution import ExecutionOrderConfig, ExecutionStatus, ExecutorConfig
from arb.execution.loopback import KALSHI_KEY_ID
from arb.venues.sim.faults import AnswerFault
from tests.execution.stage import Stage, stage

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET
RESTING = ExecutorConfig(orders=ExecutionOrderConfig(time_in_force=(TimeInForce.GTC,)))
_NOT_FINAL = (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.UNKNOWN)


def spy_sends(s: Stage) -> list[OrderRequest]:
    sent: list[OrderRequest] = []
    for client in s.venues.clients.values():
        original = client.place_order

        async def spy(request: OrderRequest, original: Callable[..., object] = original) -> OrderUpdate:
            sent.append(request)
            return await original(request)  # type: ignore[misc]

        client.place_order = spy  # type: ignore[method-assign]
    return sent


def resting_at_venues(s: Stage) -> list[str]:
    kalshi = [m.order.order_id for m in s.venues.kalshi_sim.orders_of(KALSHI_KEY_ID) if m.order.is_open]
    return kalshi + list(s.venues.polymarket_sim.accounts["exec-api-key"].resting)


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
