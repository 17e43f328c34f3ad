"""Where the daemon's venues come from, and the real clients it builds for them.

A `VenueSource` is an async context manager that, once entered, says where each venue answers
(`VenueEndpoints`: URLs and credentials) and which curated links and exhaustive series the graph
uses. `ConfiguredVenues` reads them from the checked configuration (`run.venues = "configured"`);
the simulated venues of the default scenario are another source (`arb.daemon.simulated`). Either
way the daemon builds the same real `KalshiClient` and `PolymarketClient` (`build_clients`), so the
simulated run exercises the code a live run uses; `--paper` on configured venues wraps each client
in a `PaperVenue` (real books, paper fills, no order ever reaches the venue).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, cast

from arb.config import AppConfig, Credentials
from arb.domain import MarketInfo, Venue
from arb.errors import ConfigError
from arb.execution.paper import PaperConfig, PaperVenue
from arb.exhaustive_series import load_exhaustive_series
from arb.graph import GraphConfig
from arb.links import CuratedLink, load_links
from arb.venues.base import EventSink, VenueClient
from arb.venues.kalshi.auth import KalshiSigner, load_private_key
from arb.venues.kalshi.client import KalshiClient, KalshiConfig
from arb.venues.polymarket.client import PolymarketClient, PolymarketConfig
from arb.venues.polymarket.orders import PolymarketCredentials

__all__ = ["ConfiguredVenues", "VenueEndpoints", "VenueSource", "build_clients"]


@dataclass(frozen=True, slots=True)
class VenueEndpoints:
    """Where each enabled venue answers, and the credentials to trade it (None: market data only).
    `kalshi_private_key_path` is a PEM file's path, never the key. A `*_uds_path` sends that
    endpoint over a Unix-domain socket (its URL then only names the server): replays do, so that
    the order of events is the program's alone; None is TCP."""

    enabled: tuple[Venue, ...]
    kalshi_rest_url: str
    kalshi_ws_url: str
    kalshi_key_id: str | None
    kalshi_private_key_path: str | None
    polymarket_gamma_url: str
    polymarket_clob_url: str
    polymarket_data_api_url: str
    polymarket_market_ws_url: str
    polymarket_user_ws_url: str
    polymarket_credentials: PolymarketCredentials | None
    order_timeout_s: float = 10.0
    order_settle_s: float = 30.0
    kalshi_rest_uds_path: str | None = None
    kalshi_ws_uds_path: str | None = None
    polymarket_gamma_uds_path: str | None = None
    polymarket_clob_uds_path: str | None = None
    polymarket_data_api_uds_path: str | None = None
    polymarket_market_ws_uds_path: str | None = None
    polymarket_user_ws_uds_path: str | None = None

    def __repr__(self) -> str:  # never the key id or the secrets
        return f"VenueEndpoints(enabled={[v.value for v in self.enabled]}, kalshi={self.kalshi_rest_url!r})"


class VenueSource(Protocol):
    """Entered once per run; `endpoints`, `links()` and `graph_config` are valid while entered."""

    name: str

    async def __aenter__(self) -> VenueSource: ...

    async def __aexit__(self, *exc: object) -> None: ...

    @property
    def endpoints(self) -> VenueEndpoints: ...

    def links(self, markets: Sequence[MarketInfo]) -> tuple[CuratedLink, ...]:
        """The curated links among `markets` (the venues' current metadata)."""
        ...

    @property
    def graph_config(self) -> GraphConfig: ...


class ConfiguredVenues:
    """The venues of `[venues]`, the links and series files of `[graph]`."""

    name = "configured"

    def __init__(self, config: AppConfig, credentials: Credentials) -> None:
        self._config = config
        self._credentials = credentials
        self._links: tuple[CuratedLink, ...] = ()
        self._graph_config = GraphConfig()

    async def __aenter__(self) -> ConfiguredVenues:
        graph = self._config.graph
        self._links = load_links(graph.links_file) if graph.links_file.exists() else ()
        self._graph_config = GraphConfig(
            allow_different_resolution_source=graph.allow_different_resolution_source,
            exhaustive_kalshi_series=load_exhaustive_series(graph.exhaustive_series_file)
            if graph.exhaustive_series_file.exists()
            else (),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @property
    def endpoints(self) -> VenueEndpoints:
        venues, creds = self._config.venues, self._credentials
        k, p = venues.kalshi, venues.polymarket
        return VenueEndpoints(
            enabled=tuple(Venue(name) for name in venues.enabled),
            kalshi_rest_url=k.rest_base_url,
            kalshi_ws_url=k.ws_url,
            kalshi_key_id=creds.kalshi.api_key_id if creds.kalshi else None,
            kalshi_private_key_path=creds.kalshi.private_key_path if creds.kalshi else None,
            polymarket_gamma_url=p.gamma_base_url,
            polymarket_clob_url=p.clob_base_url,
            polymarket_data_api_url=p.data_api_base_url,
            polymarket_market_ws_url=p.market_ws_url,
            polymarket_user_ws_url=p.user_ws_url,
            polymarket_credentials=creds.polymarket,
            order_timeout_s=venues.order_timeout_s,
            order_settle_s=venues.order_settle_s,
        )

    def links(self, markets: Sequence[MarketInfo]) -> tuple[CuratedLink, ...]:
        return self._links  # the graph judges each against the markets (stale links are excluded)

    @property
    def graph_config(self) -> GraphConfig:
        return self._graph_config


def build_clients(
    endpoints: VenueEndpoints,
    sink: EventSink,
    *,
    paper_cash_usd: Mapping[str, Decimal] | None = None,
    seed: int = 0,
    clock: Callable[[], int] = time.monotonic_ns,
    wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
) -> dict[Venue, VenueClient]:
    """The real client of every enabled venue, each client's events to `sink`. With
    `paper_cash_usd` each is wrapped in a `PaperVenue` holding that much cash (per venue name)."""
    rng = random.Random(f"arb-run:{seed}")
    clients: dict[Venue, Any] = {}
    if Venue.KALSHI in endpoints.enabled:
        signer = None
        if endpoints.kalshi_key_id is not None and endpoints.kalshi_private_key_path is not None:
            signer = KalshiSigner(endpoints.kalshi_key_id, load_private_key(endpoints.kalshi_private_key_path))
        clients[Venue.KALSHI] = KalshiClient(
            KalshiConfig(
                rest_base_url=endpoints.kalshi_rest_url,
                ws_url=endpoints.kalshi_ws_url,
                rest_uds_path=endpoints.kalshi_rest_uds_path,
                ws_uds_path=endpoints.kalshi_ws_uds_path,
                trust_env=False,
                order_timeout_s=endpoints.order_timeout_s,
                order_settle_s=endpoints.order_settle_s,
            ),
            clock=clock,
            sleep=asyncio.sleep,
            rng=random.Random(rng.getrandbits(64)),
            sink=sink,
            signer=signer,
            wall_clock_ms=wall_ms,
        )
    if Venue.POLYMARKET in endpoints.enabled:
        clients[Venue.POLYMARKET] = PolymarketClient(
            PolymarketConfig(
                gamma_base_url=endpoints.polymarket_gamma_url,
                clob_base_url=endpoints.polymarket_clob_url,
                data_api_base_url=endpoints.polymarket_data_api_url,
                market_ws_url=endpoints.polymarket_market_ws_url,
                user_ws_url=endpoints.polymarket_user_ws_url,
                gamma_uds_path=endpoints.polymarket_gamma_uds_path,
                clob_uds_path=endpoints.polymarket_clob_uds_path,
                data_api_uds_path=endpoints.polymarket_data_api_uds_path,
                market_ws_uds_path=endpoints.polymarket_market_ws_uds_path,
                user_ws_uds_path=endpoints.polymarket_user_ws_uds_path,
                order_timeout_s=endpoints.order_timeout_s,
                order_settle_s=endpoints.order_settle_s,
            ),
            clock=clock,
            sleep=asyncio.sleep,
            rng=random.Random(rng.getrandbits(64)),
            sink=sink,
            credentials=endpoints.polymarket_credentials,
            wall_clock_ms=wall_ms,
        )
    if paper_cash_usd is not None:
        for venue, inner in list(clients.items()):
            cash = paper_cash_usd.get(venue.value)
            if cash is None:
                raise ConfigError(f"paper trading on {venue.value} needs risk.cash_per_venue_usd.{venue.value}")
            clients[venue] = PaperVenue(inner, PaperConfig(starting_cash_usd=cash), wall_clock_ms=wall_ms, sink=sink)
    return cast(dict[Venue, VenueClient], clients)
