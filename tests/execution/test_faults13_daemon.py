"""Faults end to end through the daemon (`Daemon` in-process on the default scenario's simulated
venues, real clients over loopback): a daily loss halt sends exactly one alert through the daemon's
AlertSink and refuses every later plan; a daemon abandoned mid-plan (its task cancelled, no shutdown
path: a crash) leaves nothing running, and a new one on the same ledger and venues recovers clean
and trades. Waits are on conditions with deadlines (the scenario runs in real time)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from arb.config import AppConfig, Credentials
from arb.daemon.core import Daemon
from arb.daemon.simulated import SimulatedSource, scenario_config
from arb.daemon.venues import VenueEndpoints
from arb.domain import MarketInfo, Venue
from arb.graph import GraphConfig
from arb.links import CuratedLink
from arb.ops.notify import Incident
from arb.risk.gates import Notification
from arb.scenario.venues import SimulatedVenues
from arb.venues.kalshi.client import KalshiClient
from tests.daemon.support import in_process_config


class Alerts:
    """The daemon's AlertSink: every alert, in order."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def submit(self, alert: Any) -> None:
        self.sent.append(alert)


class SharedVenues:
    """A VenueSource whose venues outlive one daemon: entered once, left only by `close()`, so a
    second daemon finds the first one's orders and positions (one process, the venues untouched)."""

    name = "simulated"

    def __init__(self, inner: SimulatedSource) -> None:
        self.inner = inner
        self._entered = False

    async def __aenter__(self) -> SharedVenues:
        if not self._entered:
            await self.inner.__aenter__()
            self._entered = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def close(self) -> None:
        if self._entered:
            await self.inner.__aexit__(None, None, None)

    @property
    def endpoints(self) -> VenueEndpoints:
        return self.inner.endpoints

    def links(self, markets: Sequence[MarketInfo]) -> tuple[CuratedLink, ...]:
        return self.inner.links(markets)

    @property
    def graph_config(self) -> GraphConfig:
        return self.inner.graph_config


def config(tmp_path: Path, *, daily_loss: str | None = None, contest_every: int = 2) -> AppConfig:
    base = in_process_config(tmp_path, contest_every=contest_every)
    if daily_loss is None:
        return base
    risk = base.risk
    return replace(base, risk=replace(risk, limits=replace(risk.limits, daily_loss_halt_usd=Decimal(daily_loss))))


async def until(predicate: Callable[[], bool], what: str, task: asyncio.Task[Any], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert not task.done(), f"the daemon ended early: {task.result()}"
        assert time.monotonic() < deadline, f"never happened within {timeout_s:g} s: {what}"
        await asyncio.sleep(0.02)


def test_a_daily_loss_halt_sends_exactly_one_alert_and_refuses_later_plans(tmp_path: Path) -> None:
    # every opening is contested: a leg fills alone, and its cost counts as lost until repaired,
    # beyond a 5 cent daily limit
    cfg = config(tmp_path, daily_loss="0.05", contest_every=1)
    source = SimulatedSource(cfg.run.scenario, order_timeout_s=2.0, order_settle_s=2.0)
    daemon = Daemon(cfg, Credentials(), source, stream=io.StringIO(), install_signals=False)
    alerts = Alerts()
    daemon.telemetry.notifier = alerts  # the daemon's AlertSink (a webhook in production)
    refused: list[str] = []

    async def run() -> int:
        task = asyncio.create_task(daemon.run())
        await until(lambda: daemon.gate is not None and daemon.gate.halts.halt is not None, "a loss halt", task)
        assert daemon.gate is not None and daemon.executor is not None
        # later plans: refused by the halt (the next opening comes within a period)
        original = daemon.executor.execute

        async def spy(*args: Any, **kwargs: Any) -> Any:
            report = await original(*args, **kwargs)
            refused.extend(r.gate for r in report.refusals)
            return report

        daemon.executor.execute = spy  # type: ignore[method-assign]
        await until(lambda: "daily_loss" in refused, "a plan refused by the daily loss halt", task)
        daemon.request_stop("test done")
        return (await task).exit_code

    assert asyncio.run(run()) == 0
    halts = [a for a in alerts.sent if isinstance(a, Notification) and a.kind == "halt"]
    assert len(halts) == 1, alerts.sent
    (halt,) = halts
    assert halt.halt is not None and halt.halt.kind == "daily_loss" and "daily loss" in halt.message
    assert "daily_loss" in refused


def test_a_daemon_abandoned_mid_plan_leaves_nothing_running_and_the_next_one_recovers_clean(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    shared = SharedVenues(SimulatedSource(cfg.run.scenario, order_timeout_s=2.0, order_settle_s=2.0))
    first = Daemon(cfg, Credentials(), shared, stream=io.StringIO(), install_signals=False)

    async def run() -> None:
        try:
            task = asyncio.create_task(first.run())

            def mid_plan() -> bool:
                executor = first.executor
                return (
                    bool(first._executions) and executor is not None and any(t.sent for t in executor.orders.values())
                )

            await until(mid_plan, "an execution with orders out", task)
            executions = list(first._executions.values())
            task.cancel()  # the crash: no shutdown path, nothing cancelled at the venues, no recovery check
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.sleep(0)
            assert all(t.done() for t in executions), "an execution of the abandoned daemon still runs"

            second = Daemon(cfg, Credentials(), shared, stream=io.StringIO(), install_signals=False)
            alerts = Alerts()
            second.telemetry.notifier = alerts
            again = asyncio.create_task(second.run())
            await until(second.started.is_set, "the second daemon recovers clean and trades", again)
            assert second.executor is not None and second.executor.trading_allowed
            executor = second.executor
            sent_before = sum(1 for t in executor.orders.values() if t.sent)
            await until(
                lambda: sum(1 for t in executor.orders.values() if t.sent) > sent_before,
                "the second daemon sends orders",
                again,
            )
            second.request_stop("test done")
            result = await again
            assert result.exit_code == 0
            assert result.shutdown_check is not None and result.shutdown_check.clean, result.shutdown_check
            failed = [a.message for a in alerts.sent if isinstance(a, Incident) and a.kind == "repair_failed"]
            assert not failed, failed
        finally:
            await shared.close()

    asyncio.run(run())


def test_linked_markets_resolving_differently_at_the_venues_reach_the_daemon_as_a_divergence(
    tmp_path: Path,
) -> None:
    """End to end: the simulators resolve a linked pair differently; both venues' resolution events
    reach the running daemon through its real clients, the ledger books both, and the incident
    and its alert follow."""
    cfg = config(tmp_path)
    source = SimulatedSource(cfg.run.scenario, order_timeout_s=2.0, order_settle_s=2.0)
    # the scenario's market makers would quote on into the resolved markets: they stay still here
    source.venues = SimulatedVenues(scenario_config(cfg.run.scenario), run_participants=False)
    daemon = Daemon(cfg, Credentials(), source, stream=io.StringIO(), install_signals=False)
    alerts = Alerts()
    daemon.telemetry.notifier = alerts

    async def run() -> tuple[str, str]:
        task = asyncio.create_task(daemon.run())
        await until(daemon.started.is_set, "trading", task)
        runtime = source.venues.runtime
        assert runtime is not None and daemon.ledger is not None
        kalshi_contract, condition = next(
            key for key, link in sorted(daemon._links_by_pair.items()) if not link.inverted
        )
        ticker = kalshi_contract.split(":", 1)[1]
        kalshi = daemon.clients[Venue.KALSHI]
        assert isinstance(kalshi, KalshiClient)
        market = next(m for m in daemon._markets[Venue.POLYMARKET] if m.market_id == condition)
        tokens = market.token_ids
        assert tokens is not None
        polymarket_books = daemon.clients[Venue.POLYMARKET].books
        await until(  # both venues have taken the subscriptions their resolutions come on
            lambda: (
                any(
                    sub.channel == "market_lifecycle_v2" and ticker in sub.tickers
                    for sub in kalshi.session.subscriptions()
                )
                and all(t in polymarket_books and polymarket_books[t].trusted for t in tokens)
            ),
            "the lifecycle subscription is live",
            task,
        )
        runtime.kalshi.settle(ticker, "no")
        runtime.polymarket.settle(condition, "yes")
        ledger = daemon.ledger
        await until(
            lambda: (
                ledger.settlement(Venue.KALSHI, ticker) is not None
                and ledger.settlement(Venue.POLYMARKET, condition) is not None
            ),
            "both venues' resolutions booked",
            task,
        )
        await until(lambda: any(i.reason.startswith("settlement divergence") for i in ledger.open_incidents()),
                    "the divergence incident", task)  # fmt: skip
        daemon.request_stop("test done")
        await task
        return ticker, condition

    ticker, condition = asyncio.run(run())
    assert [a.kind for a in alerts.sent if isinstance(a, Incident)].count("settlement_divergence") >= 1
    assert all(ticker in a.message and condition in a.message for a in alerts.sent
               if isinstance(a, Incident) and a.kind == "settlement_divergence")  # fmt: skip
