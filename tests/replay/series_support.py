"""Shared by the series and record tests: markets as the real clients read them from simulators
built from a scenario's [venues] tree."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from arb.domain import MarketInfo
from arb.venues.kalshi.auth import KalshiSigner
from arb.venues.kalshi.client import KalshiClient, KalshiConfig
from arb.venues.polymarket.client import PolymarketClient, PolymarketConfig
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.polymarket import PolymarketSimulator
from arb.venues.sim.spec import SimSpec


async def served_markets(venues: dict[str, Any]) -> tuple[dict[str, MarketInfo], dict[str, MarketInfo]]:
    """The markets as the real clients read them from simulators built from `venues`."""
    spec = SimSpec.from_dict(venues)
    assert spec.kalshi is not None and spec.polymarket is not None
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    kalshi_sim = KalshiSimulator.from_spec(spec.kalshi, api_keys={"reader": key.public_key()})
    poly_sim = PolymarketSimulator.from_spec(spec.polymarket)
    await kalshi_sim.start()
    await poly_sim.start()
    rng = random.Random(0)
    kalshi = KalshiClient(
        KalshiConfig(rest_base_url=kalshi_sim.rest_base_url, ws_url=kalshi_sim.ws_url, trust_env=False),
        clock=lambda: 0,
        sleep=asyncio.sleep,
        rng=rng,
        signer=KalshiSigner("reader", key),
    )
    poly = PolymarketClient(
        PolymarketConfig(
            gamma_base_url=poly_sim.gamma_url,
            clob_base_url=poly_sim.clob_url,
            data_api_base_url=poly_sim.gamma_url,
            market_ws_url=poly_sim.market_ws_url,
            user_ws_url=poly_sim.user_ws_url,
        ),
        clock=lambda: 0,
        sleep=asyncio.sleep,
        rng=rng,
    )
    try:
        await kalshi.start()
        await poly.start()
        k = {m.market_id: m for m in await kalshi.markets()}
        p = {m.market_id: m for m in await poly.markets()}
    finally:
        await kalshi.close()
        await poly.close()
        await kalshi_sim.close()
        await poly_sim.close()
    return k, p
