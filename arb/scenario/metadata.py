"""Both venues' metadata read over the project's real clients from running `SimulatedVenues`: what a
daemon does at start before it builds the market graph (and what the scenario's tests check)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arb.book import BinaryBook
from arb.domain import EventInfo, MarketInfo, Venue
from arb.graph import MarketGraph, build_graph
from arb.venues.kalshi.client import KalshiClient
from arb.venues.polymarket.client import PolymarketClient

if TYPE_CHECKING:
    from arb.scenario.venues import SimulatedVenues

__all__ = ["ScenarioMetadata", "client_books", "fetch_metadata", "open_clients"]


@dataclass(frozen=True, slots=True)
class ScenarioMetadata:
    kalshi_markets: tuple[MarketInfo, ...]
    kalshi_events: tuple[EventInfo, ...]
    polymarket_markets: tuple[MarketInfo, ...]
    polymarket_events: tuple[EventInfo, ...]

    def all_markets(self) -> Iterator[MarketInfo]:
        yield from self.kalshi_markets
        yield from self.polymarket_markets

    def graph(self, venues: SimulatedVenues) -> MarketGraph:
        """The market graph of this metadata with the scenario's links and exhaustive series."""
        return build_graph(
            [*self.kalshi_markets, *self.polymarket_markets],
            [*self.kalshi_events, *self.polymarket_events],
            venues.links,
            config=venues.graph_config(),
        )


def open_clients(
    venues: SimulatedVenues, *, sink: Any = None, seed: int = 0, **timeouts: float
) -> tuple[KalshiClient, PolymarketClient]:
    """Real clients for the simulators (not started), on real time."""
    rng = random.Random(f"scenario-clients:{seed}")
    kalshi = KalshiClient(
        venues.kalshi_config(check_interval_s=None, ping_interval_s=None, **timeouts),
        clock=time.monotonic_ns,
        sleep=asyncio.sleep,
        rng=random.Random(rng.getrandbits(64)),
        sink=sink,
    )
    polymarket = PolymarketClient(
        venues.polymarket_config(**timeouts),
        clock=time.monotonic_ns,
        sleep=asyncio.sleep,
        rng=random.Random(rng.getrandbits(64)),
        sink=sink,
        credentials=venues.polymarket_credentials,
    )
    return kalshi, polymarket


async def fetch_metadata(venues: SimulatedVenues) -> ScenarioMetadata:
    """Markets and events of both simulators, read with fresh clients that are closed again."""
    kalshi, polymarket = open_clients(venues)
    try:
        await kalshi.start()
        await polymarket.start()
        return ScenarioMetadata(
            tuple(await kalshi.markets()),
            tuple(await kalshi.events()),
            tuple(await polymarket.markets()),
            tuple(await polymarket.events()),
        )
    finally:
        await kalshi.close()
        await polymarket.close()


def client_books(
    kalshi: KalshiClient, polymarket: PolymarketClient, polymarket_markets: Sequence[MarketInfo]
) -> Callable[[Venue, str], BinaryBook | None]:
    """The clients' live books as the scanner looks them up, by (venue, market id): a Kalshi ticker's
    one ladder, a Polymarket condition's YES and NO token ladders."""
    tokens = {m.market_id: m.token_ids for m in polymarket_markets if m.token_ids is not None}

    def lookup(venue: Venue, market_id: str) -> BinaryBook | None:
        if venue is Venue.KALSHI:
            ladder = kalshi.books.get(market_id)
            return None if ladder is None else BinaryBook(market_id, ladder)
        pair = tokens.get(market_id)
        if pair is None:
            return None
        yes, no = polymarket.books.get(pair[0]), polymarket.books.get(pair[1])
        return None if yes is None or no is None else BinaryBook(market_id, yes, no)

    return lookup
