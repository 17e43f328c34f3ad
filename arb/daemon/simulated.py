"""The simulated venues `arb run` trades by default (`run.venues = "simulated"`).

`SimulatedSource` starts the default scenario (`arb.scenario.SimulatedVenues`: a `KalshiSimulator`
and a `PolymarketSimulator` on loopback ports, markets from the real captures and the FOMC
fixtures, scripted market makers and an arbitrage script cycling through every kind the graph
knows) with throwaway credentials made at start (never secrets), and says where they answer like
any other `VenueSource`, so the daemon builds its real clients against them.
"""

from __future__ import annotations

from collections.abc import Sequence

from arb.config import ScenarioSettings
from arb.daemon.venues import VenueEndpoints
from arb.domain import MarketInfo, Venue
from arb.graph import GraphConfig
from arb.links import CuratedLink
from arb.scenario.venues import ScenarioConfig, ScenarioStats, SimulatedVenues

__all__ = ["SimulatedSource", "scenario_config"]


def scenario_config(settings: ScenarioSettings) -> ScenarioConfig:
    return ScenarioConfig(
        seed=settings.seed,
        book_changes_per_s=settings.book_changes_per_s,
        period_s=settings.arbitrage_period_s,
        hold_s=settings.arbitrage_hold_s,
        first_opening_s=min(settings.first_opening_s, settings.arbitrage_period_s),
        contest_every=settings.contest_every,
        venues_process=settings.separate_process,
    )


class SimulatedSource:
    name = "simulated"

    def __init__(
        self, scenario: ScenarioSettings, *, order_timeout_s: float = 10.0, order_settle_s: float = 30.0
    ) -> None:
        self.scenario = scenario
        self._order_timeout_s = order_timeout_s
        self._order_settle_s = order_settle_s
        self.venues = SimulatedVenues(scenario_config(scenario))
        self._entered = False

    async def __aenter__(self) -> SimulatedSource:
        await self.venues.__aenter__()
        self._entered = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.venues.__aexit__(*exc)

    @property
    def endpoints(self) -> VenueEndpoints:
        e = self.venues.endpoints
        return VenueEndpoints(
            enabled=(Venue.KALSHI, Venue.POLYMARKET),
            kalshi_rest_url=e.kalshi_rest_url,
            kalshi_ws_url=e.kalshi_ws_url,
            kalshi_key_id=self.venues.kalshi_key_id,
            kalshi_private_key_path=str(self.venues.kalshi_private_key_path),
            polymarket_gamma_url=e.polymarket_gamma_url,
            polymarket_clob_url=e.polymarket_clob_url,
            polymarket_data_api_url=e.polymarket_data_api_url,
            polymarket_market_ws_url=e.polymarket_market_ws_url,
            polymarket_user_ws_url=e.polymarket_user_ws_url,
            polymarket_credentials=self.venues.polymarket_credentials,
            order_timeout_s=self._order_timeout_s,
            order_settle_s=self._order_settle_s,
        )

    def links(self, markets: Sequence[MarketInfo]) -> tuple[CuratedLink, ...]:
        return self.venues.links  # the scenario's curated links file

    @property
    def graph_config(self) -> GraphConfig:
        return self.venues.graph_config()

    def stats(self) -> ScenarioStats | None:
        return self.venues.stats()
