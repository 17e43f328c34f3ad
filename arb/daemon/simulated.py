"""The simulated venues `arb run` trades by default (`run.venues = "simulated"`).

`SimulatedSource` starts a `KalshiSimulator` and a `PolymarketSimulator` on loopback ports with
throwaway credentials (an RSA key written to a private temporary PEM file, a Polymarket wallet
made up for the run: never secrets), and says where they answer like any other `VenueSource`, so
the daemon builds its real clients against them. When the default scenario package
(`arb.scenario`) is installed it supplies the markets, links and scripted participants; without
it, the loopback stage of the executor tests stands in: equivalent contracts on both venues, linked
one to one, and an arbitrage script that, every `arbitrage_period_s`, lowers one Polymarket ask
so that YES there plus NO on Kalshi costs less than $1, for `arbitrage_hold_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from arb.config import ScenarioSettings
from arb.daemon.venues import VenueEndpoints
from arb.domain import MarketInfo, Venue
from arb.execution import loopback
from arb.fixed import SCALE
from arb.graph import GraphConfig
from arb.links import CuratedLink, Orientation, SettlementRisk, link_from_markets
from arb.venues.sim.faults import FaultInjector

__all__ = ["SimulatedSource"]


class SimulatedSource:
    name = "simulated"

    def __init__(self, scenario: ScenarioSettings, *, markets: int = 3) -> None:
        self.scenario = scenario
        self._config = loopback.LoopbackConfig(markets=markets, seed=scenario.seed)
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._endpoints: VenueEndpoints | None = None
        self._sims: tuple[Any, Any] | None = None
        self._script: asyncio.Task[None] | None = None
        self.openings = 0

    async def __aenter__(self) -> SimulatedSource:
        key = loopback._kalshi_key()
        self._dir = tempfile.TemporaryDirectory(prefix="arb-sim-")
        pem = Path(self._dir.name) / "kalshi-throwaway.pem"
        fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        kalshi, polymarket = await loopback._start_simulators(
            self._config,
            key.public_key(),
            _wall_ms,
            FaultInjector(),
            FaultInjector(),
        )
        self._sims = (kalshi, polymarket)
        self._endpoints = VenueEndpoints(
            enabled=(Venue.KALSHI, Venue.POLYMARKET),
            kalshi_rest_url=kalshi.rest_base_url,
            kalshi_ws_url=kalshi.ws_url,
            kalshi_key_id=loopback.KALSHI_KEY_ID,
            kalshi_private_key_path=str(pem),
            polymarket_gamma_url=polymarket.gamma_url,
            polymarket_clob_url=polymarket.clob_url,
            polymarket_data_api_url=polymarket.gamma_url,
            polymarket_market_ws_url=polymarket.market_ws_url,
            polymarket_user_ws_url=polymarket.user_ws_url,
            polymarket_credentials=loopback._PM_CREDS,
        )
        self._script = asyncio.get_running_loop().create_task(self._arbitrage_script(), name="scenario-script")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._script is not None:
            self._script.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._script
        if self._sims is not None:
            for sim in self._sims:
                with contextlib.suppress(Exception):
                    await sim.close()
        if self._dir is not None:
            self._dir.cleanup()

    @property
    def endpoints(self) -> VenueEndpoints:
        assert self._endpoints is not None, "enter the source first"
        return self._endpoints

    @property
    def simulators(self) -> tuple[Any, Any]:
        assert self._sims is not None
        return self._sims

    def links(self, markets: Sequence[MarketInfo]) -> tuple[CuratedLink, ...]:
        by_id = {(m.venue, m.market_id): m for m in markets}
        links = []
        for i in range(self._config.markets):
            kalshi = by_id.get((Venue.KALSHI, loopback.kalshi_ticker(i)))
            poly = by_id.get((Venue.POLYMARKET, loopback.polymarket_condition(i)))
            if kalshi is None or poly is None:
                continue
            links.append(
                link_from_markets(
                    kalshi,
                    poly,
                    orientation=Orientation.SAME,
                    settlement_risk=SettlementRisk.IDENTICAL_RULES,
                    approved_by="simulated scenario",
                    approved_at=dt.date(2026, 1, 1),
                )
            )
        return tuple(links)

    @property
    def graph_config(self) -> GraphConfig:
        return GraphConfig()

    async def _arbitrage_script(self) -> None:
        """Every period, one market's Polymarket YES ask drops to 40 cents (Kalshi's NO ask is 54:
        together under $1) for `arbitrage_hold_s`, then returns."""
        assert self._sims is not None
        _, polymarket = self._sims
        config, scenario = self._config, self.scenario
        rng = random.Random(f"scenario:{scenario.seed}")
        index = 0
        while True:
            await asyncio.sleep(scenario.arbitrage_period_s - scenario.arbitrage_hold_s)
            yes, _no = loopback._tokens(index)
            cheap = ((400_000, rng.randint(5, 20) * SCALE),)
            polymarket.set_book(yes, ((380_000, 50 * SCALE),), cheap)
            self.openings += 1
            await asyncio.sleep(scenario.arbitrage_hold_s)
            polymarket.set_book(yes, config.polymarket_bids, config.polymarket_asks)
            index = (index + 1) % config.markets


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000
