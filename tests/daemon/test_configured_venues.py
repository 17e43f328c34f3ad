"""`arb run --live` against venues the test owns (the default scenario's simulators, run by the
test in a thread of its own and configured as ordinary venues), so that after the daemon exits the
test can look at the venues and the ledger with its own clients:

- SIGTERM in the middle of activity: exit 0; the venues list no open order of the account; a new
  recovery on the ledger finds nothing to fix (no difference, nothing resolved, cancelled or
  applied): acceptance 2, checked from outside the daemon;
- a second SIGTERM exits at once (128 + 15), and the next start's recovery puts the ledger right
  and trading starts.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arb.daemon.venues import VenueEndpoints, build_clients
from arb.domain import OrderStatus, Venue
from arb.execution.recovery import RecoveryConfig, RecoveryReport, recover
from arb.ledger import Ledger
from arb.scenario.venues import ScenarioConfig, SimulatedVenues
from tests.daemon.support import ROOT, Daemon, write_config

SCENARIO_DATA = ROOT / "arb" / "scenario" / "data"


class VenuesThread:
    """The scenario's simulators and participants on an event loop in a thread of their own."""

    def __init__(self, config: ScenarioConfig) -> None:
        self.config = config
        self.venues: SimulatedVenues | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with SimulatedVenues(self.config) as venues:
                self.venues = venues
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def __enter__(self) -> SimulatedVenues:
        self._thread.start()
        assert self._ready.wait(60), "the simulators did not start"
        if self._error is not None:
            raise self._error
        assert self.venues is not None
        return self.venues

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def venues() -> Iterator[SimulatedVenues]:
    config = ScenarioConfig(seed=3, period_s=1.5, hold_s=0.75, first_opening_s=0.2, book_changes_per_s=50.0)
    with VenuesThread(config) as running:
        yield running


def configured(tmp_path: Path, venues: SimulatedVenues) -> tuple[Path, dict[str, str]]:
    e = venues.endpoints
    url = {
        "venues.kalshi.rest_base_url": e.kalshi_rest_url,
        "venues.kalshi.ws_url": e.kalshi_ws_url,
        "venues.polymarket.gamma_base_url": e.polymarket_gamma_url,
        "venues.polymarket.clob_base_url": e.polymarket_clob_url,
        "venues.polymarket.data_api_base_url": e.polymarket_data_api_url,
        "venues.polymarket.market_ws_url": e.polymarket_market_ws_url,
        "venues.polymarket.user_ws_url": e.polymarket_user_ws_url,
    }
    overrides = {key: f'"{value}"' for key, value in url.items()}
    overrides |= {
        "run.venues": '"configured"',
        "run.mode": '"live"',
        # recovery after the hard exit waits out sends that may still be in flight: keep it short
        "venues.order_timeout_s": "2",
        "venues.order_settle_s": "3",
        "graph.links_file": f'"{SCENARIO_DATA / "links.toml"}"',
        "graph.exhaustive_series_file": f'"{SCENARIO_DATA / "exhaustive_series.toml"}"',
    }
    creds = venues.polymarket_credentials
    env = {
        "KALSHI_API_KEY_ID": venues.kalshi_key_id,
        "KALSHI_PRIVATE_KEY_PATH": str(venues.kalshi_private_key_path),
        "POLYMARKET_PRIVATE_KEY": creds.private_key,
        "POLYMARKET_API_KEY": creds.api_key,
        "POLYMARKET_API_SECRET": creds.api_secret,
        "POLYMARKET_API_PASSPHRASE": creds.api_passphrase,
    }
    return write_config(tmp_path, **overrides), env


def endpoints(venues: SimulatedVenues) -> VenueEndpoints:
    e = venues.endpoints
    return VenueEndpoints(
        enabled=(Venue.KALSHI, Venue.POLYMARKET),
        kalshi_rest_url=e.kalshi_rest_url,
        kalshi_ws_url=e.kalshi_ws_url,
        kalshi_key_id=venues.kalshi_key_id,
        kalshi_private_key_path=str(venues.kalshi_private_key_path),
        polymarket_gamma_url=e.polymarket_gamma_url,
        polymarket_clob_url=e.polymarket_clob_url,
        polymarket_data_api_url=e.polymarket_data_api_url,
        polymarket_market_ws_url=e.polymarket_market_ws_url,
        polymarket_user_ws_url=e.polymarket_user_ws_url,
        polymarket_credentials=venues.polymarket_credentials,
    )


def look(venues: SimulatedVenues, ledger_path: Path) -> tuple[dict[Venue, list[Any]], RecoveryReport]:
    """What the venues list as open for the account, and a fresh recovery on the ledger."""

    async def main() -> tuple[dict[Venue, list[Any]], RecoveryReport]:
        clients = build_clients(endpoints(venues), lambda event: None)
        for client in clients.values():
            await client.start()
        try:
            await clients[Venue.POLYMARKET].markets()  # its lookups need the markets
            open_orders = {venue: await client.open_orders() for venue, client in clients.items()}
            ledger = Ledger(ledger_path)
            try:
                report = await recover(
                    ledger, clients, wall_ms=lambda: time.time_ns() // 1_000_000, config=RecoveryConfig()
                )
            finally:
                ledger.close()
            return open_orders, report
        finally:
            for client in clients.values():
                await client.close()

    return asyncio.run(main())


def test_live_sigterm_leaves_nothing_resting_and_nothing_for_recovery_to_fix(
    tmp_path: Path, venues: SimulatedVenues
) -> None:
    config, env = configured(tmp_path, venues)
    daemon = Daemon("--config", str(config), "--live", env=env)
    try:
        daemon.event("trading")
        # a plan that sent orders (its "executing" line comes before the gates: a signal right
        # after it could stop the plan before anything was sent), then the signal while the
        # daemon keeps trading
        daemon.wait_for(lambda e: str(e.get("event", "")).startswith("plan_") and e["event"] != "plan_refused")
        daemon.signal(signal.SIGTERM)
        code = daemon.finish()
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert code == 0, "".join(daemon.raw[-20:])
    ledger_path = tmp_path / "run" / "ledger.sqlite3"
    ledger = Ledger(ledger_path)
    try:
        assert ledger.orders(), "orders were sent before the signal"
        assert ledger.orders(statuses=(OrderStatus.OPEN, OrderStatus.PENDING, OrderStatus.UNKNOWN)) == []
    finally:
        ledger.close()
    open_orders, report = look(venues, ledger_path)
    assert open_orders == {Venue.KALSHI: [], Venue.POLYMARKET: []}
    assert report.clean, report.differences
    assert report.resolved == () and report.cancelled == () and report.fills_applied == 0


def test_a_second_signal_exits_at_once_and_the_next_start_recovers(tmp_path: Path, venues: SimulatedVenues) -> None:
    config, env = configured(tmp_path, venues)
    daemon = Daemon("--config", str(config), "--live", env=env)
    try:
        daemon.event("executing")
        # back to back, before the graceful steps can finish (two different signals: two pending
        # signals of one kind would merge into one)
        daemon.signal(signal.SIGTERM)
        daemon.signal(signal.SIGINT)
        code = daemon.finish(timeout_s=30)
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert code in (128 + signal.SIGTERM, 128 + signal.SIGINT), code
    assert not daemon.named("shutdown_recovery_check"), "it left without the graceful steps"
    again = Daemon("--config", str(config), "--live", env=env)
    try:
        recovery = again.event("recovery")
        assert recovery["clean"] is True, recovery
        again.event("trading")
        again.signal(signal.SIGTERM)
        assert again.finish() == 0
    finally:
        if again.proc.poll() is None:
            again.proc.kill()
    assert again.named("shutdown_recovery_check")[0]["clean"] is True


def test_paper_on_configured_venues_sends_them_no_order(tmp_path: Path, venues: SimulatedVenues) -> None:
    """--paper wraps each client in a PaperVenue: real books, paper fills; the venue sees no order."""
    config, env = configured(tmp_path, venues)
    summary = tmp_path / "summary.json"
    daemon = Daemon("--config", str(config), "--paper", "--summary-json", str(summary), env=env)
    try:
        daemon.wait_for(lambda e: e.get("event") == "plan" and e["status"] != "refused")
        daemon.signal(signal.SIGTERM)
        assert daemon.finish() == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    document = json.loads(summary.read_text(encoding="utf-8"))
    assert document["mode"] == "paper/configured" and document["plans"]["executed"] >= 1
    assert document["fills"]["total"] >= 1  # paper fills, in the run's own ledger

    async def venue_fills() -> dict[Venue, int]:
        clients = build_clients(endpoints(venues), lambda event: None)
        for client in clients.values():
            await client.start()
        try:
            await clients[Venue.POLYMARKET].markets()
            return {venue: len(await client.fills()) for venue, client in clients.items()}
        finally:
            for client in clients.values():
                await client.close()

    assert asyncio.run(venue_fills()) == {Venue.KALSHI: 0, Venue.POLYMARKET: 0}
    assert not (tmp_path / "run" / "ledger.sqlite3").exists()  # the paper run kept its own ledger
    assert list((tmp_path / "run" / "paper").glob("*.sqlite3"))
