"""Event routing with a scripted client (no sockets): a fill that arrives before the send's answer
(so before the order id is known) is kept and counted once the answer names the order; events of
orders that are not ours are ignored and kept bounded."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arb.book import BinaryBook, OrderBook
from arb.domain import Action, BookSnapshot, Fill, Liquidity, OrderRequest, OrderStatus, OrderUpdate, Side, Venue
from arb.execution import ExecutionStatus, Executor
from arb.execution import executor as executor_module
from arb.ledger.store import Ledger
from arb.venues.kalshi.client import CAPABILITIES
from arb.venues.polymarket.client import CAPABILITIES as POLYMARKET
from tests.execution.stage import gate
from tests.execution.test_orders import COMPONENT, _leg, _plan

pytestmark = pytest.mark.asyncio
K = Venue.KALSHI
P = Venue.POLYMARKET
GATE_NOW_S = 1_000.0  # the risk gate's clock in these tests: the books were last updated just then


def _ladder(book_id: str, market: str, venue: Venue) -> OrderBook:
    ladder = OrderBook(book_id, market, venue.value)
    ladder.apply_snapshot(
        BookSnapshot(venue, book_id, market, ((400_000, 10**9),), ((600_000, 10**9),)), int(GATE_NOW_S * 1e9)
    )
    return ladder


# Trusted, fresh books: every plan is judged by every gate, so the books it reads must pass the book gate.
BOOKS = {
    (K, "T1"): BinaryBook("T1", _ladder("T1", "T1", K)),
    (P, "C1"): BinaryBook("C1", _ladder("y", "C1", P), _ladder("n", "C1", P)),
}


class ScriptedKalshi:
    """Answers every order FILLED as order `o-<n>`; its fill reaches the sink BEFORE the answer
    (as a fill on the socket can beat the POST's answer), carrying only the venue order id."""

    venue = K
    capabilities = CAPABILITIES

    def __init__(self) -> None:
        self.books: dict[str, Any] = {}
        self.sink: Any = None
        self.sent: list[OrderRequest] = []

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        self.sent.append(request)
        order_id = f"o-{len(self.sent)}"
        self.sink(
            Fill(
                K,
                f"f-{len(self.sent)}",
                order_id,
                None,
                request.market_id,
                request.market_id,
                Side.YES,
                Action.BUY,
                request.price_micro_usd,
                request.size_micro,
                1_000,
                Liquidity.TAKER,
            )
        )
        return OrderUpdate(
            K,
            order_id,
            request.client_order_id,
            request.market_id,
            request.market_id,
            Side.YES,
            Action.BUY,
            OrderStatus.FILLED,
            request.price_micro_usd,
            request.size_micro,
            None,
            0,
            fill_hint_micro=request.size_micro,
        )

    async def fills(self, market_id: str | None = None, order_id: str | None = None) -> Sequence[Fill]:
        return []


def _executor(tmp_path: Path, client: ScriptedKalshi) -> Executor:
    clock = [1_000_000_000]
    executor = Executor(
        Ledger(tmp_path / "l.sqlite", synchronous="NORMAL"),
        {K: client},  # type: ignore[dict-item]
        gate(tmp_path, lambda: GATE_NOW_S, lambda: 1_765_000_000.0),
        clock=lambda: clock[0],
        wall_ms=lambda: 1_765_000_000_000,
        intent_ids=iter(("i-1", "i-2")).__next__,
        require_recovery=False,  # scripted venues and an empty ledger: nothing to recover
    )
    client.sink = executor.on_event
    return executor


async def test_a_fill_before_the_answer_is_kept_and_counted_once_the_order_id_is_known(tmp_path: Path) -> None:
    client = ScriptedKalshi()
    executor = _executor(tmp_path, client)
    report = await executor.execute(_plan(_leg(K, "T1", Side.YES, Action.BUY, "2", "0.46")), COMPONENT, BOOKS)
    assert report.status is ExecutionStatus.COMPLETE, report
    assert report.orders[0].filled_micro == 2_000_000 and executor.unmatched_events == 0
    assert executor.ledger.positions() == {(K, "T1", Side.YES): 2_000_000}
    assert executor.ledger.cash()[K] == Decimal("-0.921")  # 2 x 0.46 + 0.001 fee
    executor.on_event(
        report_fill := Fill(
            K, "f-1", "o-1", None, "T1", "T1", Side.YES, Action.BUY, 460_000, 2_000_000, 1_000, Liquidity.TAKER
        )
    )
    assert report_fill.fill_id in executor.orders[report.orders[0].client_order_id].fills
    assert executor.ledger.positions() == {(K, "T1", Side.YES): 2_000_000}  # the same fill again: nothing moves


async def test_events_of_orders_not_ours_are_ignored_and_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor_module, "_EARLY_KEPT", 3)
    executor = _executor(tmp_path, ScriptedKalshi())
    for n in range(10):
        executor.on_event(
            OrderUpdate(
                K,
                f"x-{n}",
                "someone-else",
                "T1",
                "T1",
                Side.YES,
                Action.BUY,
                OrderStatus.OPEN,
                400_000,
                1_000_000,
                0,
                1_000_000,
            )
        )
    executor.on_event("a book change")  # not an order event: ignored
    assert executor.unmatched_events == 10 and len(executor._early) == 3
    assert executor.ledger.orders() == []


class BrokenPolymarket:
    """A Polymarket client whose place_order raises before it signs (so before it announces the
    order's hash): the send is UNKNOWN to the executor, then known never sent."""

    venue = Venue.POLYMARKET

    def __init__(self) -> None:
        self.capabilities = POLYMARKET
        self.books: dict[str, Any] = {}
        self.sink: Any = None
        self.lookups = 0

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        raise RuntimeError("signer exploded")

    async def reconcile_order(self, order_id: str) -> OrderUpdate:
        self.lookups += 1
        raise AssertionError("no hash: nothing to look up")


async def test_a_send_that_raised_before_signing_is_unknown_then_known_never_sent(tmp_path: Path) -> None:
    broken = BrokenPolymarket()
    executor = Executor(
        Ledger(tmp_path / "l.sqlite", synchronous="NORMAL"),
        {Venue.POLYMARKET: broken},  # type: ignore[dict-item]
        gate(tmp_path, lambda: GATE_NOW_S, lambda: 1_765_000_000.0),
        clock=lambda: 1,
        wall_ms=lambda: 1_765_000_000_000,
        require_recovery=False,  # a scripted venue and an empty ledger: nothing to recover
    )
    broken.sink = executor.on_event
    report = await executor.execute(
        _plan(_leg(Venue.POLYMARKET, "C1", Side.YES, Action.BUY, "5", "0.5")), COMPONENT, BOOKS
    )
    assert report.status is ExecutionStatus.UNFILLED, report
    (tracked,) = executor.orders.values()
    assert tracked.statuses == [OrderStatus.UNKNOWN, OrderStatus.REJECTED] and broken.lookups == 0
    assert "signer exploded" in str(executor.send_errors[0])
    assert executor.ledger.orders()[0].status is OrderStatus.REJECTED


async def test_every_gate_judges_a_plan_sent_without_a_context(tmp_path: Path) -> None:
    """A caller that passes no PlanContext does not skip a gate: the executor builds one from the
    plan, its component and books. A single leg of 200 contracts at $0.46 can lose $92 plus fees if
    its outcome goes the other way, above the $70 partial-fill bound; a stale book is refused too."""
    client = ScriptedKalshi()
    executor = _executor(tmp_path, client)
    report = await executor.execute(_plan(_leg(K, "T1", Side.YES, Action.BUY, "200", "0.46")), COMPONENT, BOOKS)
    assert report.status is ExecutionStatus.REFUSED
    assert [r.gate for r in report.refusals] == ["partial_fill"], report.refusals
    assert client.sent == [] and executor.ledger.intent_ids() == []

    stale = {**BOOKS, (K, "T1"): BinaryBook("T1", _ladder("T1", "T1", K))}
    stale[(K, "T1")].yes.last_update_ns = int((GATE_NOW_S - 60) * 1e9)  # a minute old: the limit is 2 s
    report = await executor.execute(_plan(_leg(K, "T1", Side.YES, Action.BUY, "2", "0.46")), COMPONENT, stale)
    assert [r.gate for r in report.refusals] == ["books"], report.refusals
    assert client.sent == [] and executor.ledger.intent_ids() == []

    report = await executor.execute(_plan(_leg(K, "T1", Side.YES, Action.BUY, "2", "0.46")), COMPONENT, BOOKS)
    assert report.status is ExecutionStatus.COMPLETE and len(client.sent) == 1  # the control passes
