"""The daemon in process on the simulated venues: a market listed after start reaches the graph at
the next metadata refresh (the scanner gets the rebuilt components, the market is subscribed and
its book arrives), and `request_stop` ends the run cleanly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from arb.config import Credentials, load_config
from arb.daemon.core import Daemon
from arb.daemon.simulated import SimulatedSource
from arb.domain import Venue
from arb.fixed import SCALE
from arb.graph import contract_id
from tests.daemon.support import DEFAULT

pytestmark = pytest.mark.asyncio
TICKER = "KXLATE-26-A"


async def until(condition: Callable[[], bool], timeout_s: float) -> None:
    """Wait on a condition of the running daemon (checked as the loop turns), with a deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_a_market_listed_after_start_joins_the_graph_and_is_subscribed(tmp_path: Path) -> None:
    config = load_config(DEFAULT)
    config = replace(
        config,
        run=replace(
            config.run,
            duration_s=None,
            scenario=replace(config.run.scenario, separate_process=False, book_changes_per_s=20.0),
        ),
        graph=replace(config.graph, metadata_refresh_s=0.3),
        ledger=replace(config.ledger, path=tmp_path / "ledger.sqlite3"),
        metrics=replace(config.metrics, enabled=False),
        rebalance=replace(config.rebalance, enabled=False),
    )
    source = SimulatedSource(config.run.scenario)
    daemon = Daemon(config, Credentials(), source, install_signals=False)
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.started.wait(), 120)
        assert daemon.graph is not None and daemon.scanner is not None
        before = set(daemon.scanner.component_ids)
        cid = contract_id(Venue.KALSHI, TICKER)
        assert cid not in daemon.graph.markets
        runtime = source.venues.runtime
        assert runtime is not None
        kalshi = runtime.kalshi
        kalshi.add_series("KXLATE", "Listed late", "quadratic", "1")
        kalshi.add_event("KXLATE-26", "KXLATE", "Listed after the daemon started")
        kalshi.add_market(TICKER, "KXLATE-26", yes_sub_title="A")
        kalshi.set_book(TICKER, ((400_000, 10 * SCALE),), ((420_000, 10 * SCALE),))
        await until(lambda: daemon.graph is not None and cid in daemon.graph.markets, 60)
        new = set(daemon.scanner.component_ids) - before
        assert [daemon.graph.component_of(Venue.KALSHI, TICKER)] == list(new)

        def snapshot_in() -> bool:  # subscribed, and its snapshot applied
            book = daemon.books(Venue.KALSHI, TICKER)
            return book is not None and book.trusted

        await until(snapshot_in, 30)
        book = daemon.books(Venue.KALSHI, TICKER)
        assert book is not None and book.yes.best_ask() == (420_000, 10 * SCALE)
    finally:
        daemon.request_stop("test done")
        result = await asyncio.wait_for(task, 120)
    assert result.exit_code == 0 and result.reason == "test done"
    assert result.shutdown_check is not None and result.shutdown_check.clean
