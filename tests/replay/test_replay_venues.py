"""`ReplayVenues` and the Unix-socket transports under it: the simulators listen only on Unix
sockets, and the daemon's real clients (`build_clients`) reach them there on the virtual loop:
metadata, a live book, an order on each venue."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx._transports import default as httpx_default

from arb.daemon.venues import build_clients
from arb.domain import Action, BookSnapshot, Fill, OrderRequest, OrderStatus, Side, TimeInForce, Venue
from arb.errors import ConfigError
from arb.fixed import SCALE
from arb.replay.clock import current_clock, run_virtual
from arb.replay.venues import ReplayVenues, replay_polymarket_credentials
from arb.venues.polymarket.client import PolymarketConfig
from arb.venues.sim.http import HttpRequest, HttpResponse, LoopbackHttpServer
from arb.venues.sim.spec import SimSpec

CONDITION = "0x" + hashlib.sha256(b"replay venues market").hexdigest()
SPEC = SimSpec.from_dict(
    {
        "seed": 3,
        "kalshi": {
            "series": [{"ticker": "KXTEST"}],
            "events": [{"event_ticker": "KXTEST-26", "series_ticker": "KXTEST"}],
            "markets": [
                {
                    "ticker": "KXTEST-26-A",
                    "event_ticker": "KXTEST-26",
                    "book": {"bids": [["0.40", "100"]], "asks": [["0.45", "100"]]},
                }
            ],
        },
        "polymarket": {
            "participants": False,
            "markets": [
                {
                    "condition_id": CONDITION,
                    "question": "Will it happen?",
                    "yes_token": "7001",
                    "no_token": "7002",
                    "yes_book": {"bids": [["0.49", "100"]], "asks": [["0.51", "100"]]},
                    "no_book": {"bids": [["0.49", "100"]], "asks": [["0.51", "100"]]},
                }
            ],
        },
    }
)


def _is_unix_socket(path: str | None) -> bool:
    return path is not None and os.path.exists(path) and os.stat(path).st_mode & 0o170000 == 0o140000


def test_the_real_clients_trade_both_venues_over_unix_sockets_on_the_virtual_loop(tmp_path: Path) -> None:
    events: list[Any] = []
    socket_dirs: list[Path] = []

    async def main() -> tuple[list[str], list[OrderStatus]]:
        clock = current_clock()
        threads = threading.active_count()
        async with ReplayVenues(SPEC, seed=3, clock_ms=clock.wall_ms) as venues:
            socket_dirs.append(venues.socket_dir)
            assert venues.kalshi is not None and venues.polymarket is not None
            endpoints = venues.endpoints
            paths = [
                endpoints.kalshi_rest_uds_path,
                endpoints.kalshi_ws_uds_path,
                endpoints.polymarket_gamma_uds_path,
                endpoints.polymarket_clob_uds_path,
                endpoints.polymarket_market_ws_uds_path,
            ]
            assert all(_is_unix_socket(p) for p in paths), paths
            servers = [venues.kalshi.http._server, venues.kalshi._ws_server]
            assert all(s is not None and all(x.family == socket.AF_UNIX for x in s.sockets) for s in servers)
            clients = build_clients(endpoints, events.append, clock=clock.monotonic_ns, wall_ms=clock.wall_ms)
            try:
                for client in clients.values():
                    await client.start()
                markets = {venue: await client.markets() for venue, client in clients.items()}
                for venue, client in clients.items():
                    await client.subscribe(markets[venue])
                while not {e.venue for e in events if isinstance(e, BookSnapshot)} >= {Venue.KALSHI, Venue.POLYMARKET}:
                    await asyncio.sleep(0.01)
                kalshi = await clients[Venue.KALSHI].place_order(
                    OrderRequest("k-1", "KXTEST-26-A", Side.YES, Action.BUY, 450_000, 10 * SCALE, TimeInForce.IOC)
                )
                polymarket = await clients[Venue.POLYMARKET].place_order(
                    OrderRequest("p-1", CONDITION, Side.YES, Action.BUY, 510_000, 10 * SCALE, TimeInForce.IOC)
                )
                # a FAK answered "matched": its size arrives on the user socket
                while not any(isinstance(e, Fill) and e.order_id == polymarket.order_id for e in events):
                    await asyncio.sleep(0.01)
            finally:
                for client in clients.values():
                    await client.close()
            assert threading.active_count() == threads  # signing, REST and sockets: no worker thread
            ids = sorted(m.market_id for ms in markets.values() for m in ms)
            assert venues.kalshi.position(venues.kalshi_key_id, "KXTEST-26-A").position_micro == 10 * SCALE
            account = venues.polymarket.accounts[venues.polymarket_credentials.api_key]
            assert account.positions.get("7001") == 10 * SCALE
            return ids, [kalshi.status]
        raise AssertionError("unreachable")

    ids, statuses = run_virtual(main, start_wall_ms=1_733_500_000_000)
    assert ids == sorted(["KXTEST-26-A", CONDITION])
    assert statuses == [OrderStatus.FILLED]
    # a private directory of its own (a test's tmp_path can be too long for a socket path), removed
    assert len(str(socket_dirs[0])) < len(str(tmp_path)) and not socket_dirs[0].exists()


def test_the_polymarket_wallet_follows_the_seed() -> None:
    a, b, c = replay_polymarket_credentials(1), replay_polymarket_credentials(1), replay_polymarket_credentials(2)
    assert (a.private_key, a.api_key, a.api_secret, a.api_passphrase) == (
        b.private_key,
        b.api_key,
        b.api_secret,
        b.api_passphrase,
    )
    assert a.signer_address == b.signer_address != c.signer_address


def test_a_socket_dir_is_used_as_given_unless_too_long_for_a_unix_socket() -> None:
    assert ReplayVenues(SPEC, seed=0, socket_dir="/tmp/arb-short", clock_ms=lambda: 0).socket_dir == Path(
        "/tmp/arb-short"
    )
    with pytest.raises(ConfigError, match="too long"):
        ReplayVenues(SPEC, seed=0, socket_dir="/tmp/" + "d" * 100, clock_ms=lambda: 0)


@pytest.mark.asyncio
async def test_the_loopback_http_server_answers_on_a_unix_socket(tmp_path: Path) -> None:
    def handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, {"path": request.path, "host": request.header("host")})

    path = tmp_path / "api.sock"
    async with LoopbackHttpServer(handler, host="venue-api", unix_path=path) as server:
        assert server.base_url == "http://venue-api"
        with pytest.raises(RuntimeError, match="Unix socket"):
            _ = server.port
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(path))) as client:
            answer = await client.get(server.base_url + "/markets")
        assert answer.json() == {"path": "/markets", "host": "venue-api"}
    assert not path.exists()


def test_polymarket_rest_bases_on_one_server_name_must_share_a_socket() -> None:
    with pytest.raises(ConfigError, match="another socket"):
        PolymarketConfig(
            gamma_base_url="http://sim", clob_base_url="http://sim", gamma_uds_path="/a.sock", clob_uds_path="/b.sock"
        )
    config = PolymarketConfig(
        gamma_base_url="http://gamma", clob_base_url="http://clob", gamma_uds_path="/g.sock", clob_uds_path="/c.sock"
    )
    assert sorted(config.rest_mounts()) == ["http://clob", "http://gamma"]
    with pytest.raises(ConfigError, match="Unix socket path"):
        PolymarketConfig(market_ws_uds_path="")


def test_clients_on_unix_sockets_load_no_certificate_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain HTTP over a Unix socket never uses TLS, so its transports skip the CA bundle (loading
    it took 0.1-0.8 s per transport on this machine, five per replay's start)."""
    verified: list[object] = []
    create = vars(httpx_default)["create_ssl_context"]

    def spy(verify: object = True, **kwargs: Any) -> Any:
        verified.append(verify)
        return create(verify=verify, **kwargs)

    monkeypatch.setattr(httpx_default, "create_ssl_context", spy)

    async def main() -> None:
        clock = current_clock()
        async with ReplayVenues(SPEC, seed=3, clock_ms=clock.wall_ms) as venues:
            clients = build_clients(venues.endpoints, lambda _event: None, clock=clock.monotonic_ns)
            for client in clients.values():
                await client.start()
            for client in clients.values():
                await client.close()

    run_virtual(main, start_wall_ms=0)
    assert verified and True not in verified
    verified.clear()
    PolymarketConfig(gamma_uds_path="/g.sock").rest_mounts()  # https bases keep verifying
    assert verified == [True]
