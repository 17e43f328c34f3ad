"""Shared setup of the crash-recovery test (tests/test_recovery_crash.py): the simulated venues'
markets and accounts, and the clients a trading process builds to reach them.

The venue server (`python -m tests.recovery_venue_server`) and the trading process
(`python -m tests.recovery_trader`) are separate processes; both import the names here so they
agree on tickers, tokens, credentials and the books the venue keeps quoting.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx

from arb.domain import Venue
from arb.fixed import SCALE
from arb.venues.kalshi.client import KalshiClient, KalshiConfig
from arb.venues.polymarket.client import PolymarketClient, PolymarketConfig
from arb.venues.polymarket.orders import PolymarketCredentials

KALSHI_KEY_ID = "recovery-key"
KALSHI_SERIES = "KXREC"
KALSHI_EVENT = "KXREC-26"
KALSHI_TICKERS = ("KXREC-26-A", "KXREC-26-B")
# The house's YES ladder on every Kalshi ticker: bids and asks as (price, size) micro pairs.
KALSHI_BIDS = ((400_000, 40 * SCALE), (390_000, 40 * SCALE), (380_000, 40 * SCALE))
KALSHI_ASKS = ((420_000, 40 * SCALE), (430_000, 40 * SCALE), (440_000, 40 * SCALE))

PM_CONDITION = "0x" + "5e" * 32
PM_YES, PM_NO = "7101", "7102"
PM_FEE_RATE = "0.05"  # the Polymarket market's feeSchedule rate (takers only)
PM_KEY = "0x" + hashlib.sha256(b"arb recovery test throwaway key").hexdigest()
PM_CREDS = PolymarketCredentials(
    PM_KEY, "recovery-api-key", base64.urlsafe_b64encode(b"recovery-secret-32-bytes-long-00").decode(), "rec-pass"
)
PM_BOOKS = {
    PM_YES: (((400_000, 60 * SCALE), (390_000, 60 * SCALE)), ((420_000, 60 * SCALE), (430_000, 60 * SCALE))),
    PM_NO: (((560_000, 60 * SCALE), (550_000, 60 * SCALE)), ((580_000, 60 * SCALE), (590_000, 60 * SCALE))),
}

STARTING_CASH_MICRO = 10_000 * SCALE
ORDER_TIMEOUT_S = 0.4  # an unanswered order POST ends UNKNOWN after this
ORDER_SETTLE_S = 0.2  # ... and a lookup that misses it says UNKNOWN for this long after


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class VenueUrls:
    kalshi_rest: str
    kalshi_ws: str
    pm_gamma: str
    pm_clob: str
    pm_market_ws: str
    pm_user_ws: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> VenueUrls:
        return cls(**d)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context per process (loading the CA store costs ~0.1 s; the fork server makes it
    once so each child does not). Loopback URLs are plain HTTP: it is never used to connect."""
    return ssl.create_default_context()


def build_clients(
    urls: VenueUrls, key_path: str, seed: int, sink: Any, *, private_stream: bool = True
) -> dict[Venue, Any]:
    """The project's real clients, configured for loopback with short order timeouts."""
    kalshi = KalshiClient(
        KalshiConfig(
            rest_base_url=urls.kalshi_rest,
            ws_url=urls.kalshi_ws,
            api_key_id=KALSHI_KEY_ID,
            private_key_path=key_path,
            trust_env=False,
            check_interval_s=None,
            ping_interval_s=None,
            request_timeout_s=5.0,
            order_timeout_s=ORDER_TIMEOUT_S,
            order_settle_s=ORDER_SETTLE_S,
            retry_base_s=0.01,
            retry_cap_s=0.05,
            private_stream=private_stream,
        ),
        clock=time.monotonic_ns,
        sleep=asyncio.sleep,
        rng=random.Random(f"kalshi:{seed}"),
        transport=httpx.AsyncHTTPTransport(verify=ssl_context()),
        sink=sink,
    )
    polymarket = PolymarketClient(
        PolymarketConfig(
            gamma_base_url=urls.pm_gamma,
            clob_base_url=urls.pm_clob,
            data_api_base_url=urls.pm_gamma,
            market_ws_url=urls.pm_market_ws,
            user_ws_url=urls.pm_user_ws,
            request_timeout_s=5.0,
            order_timeout_s=ORDER_TIMEOUT_S,
            order_settle_s=ORDER_SETTLE_S,
            retry_base_s=0.01,
            retry_cap_s=0.05,
            private_stream=private_stream,
        ),
        clock=time.monotonic_ns,
        sleep=asyncio.sleep,
        rng=random.Random(f"polymarket:{seed}"),
        sink=sink,
        credentials=PM_CREDS,
        http=httpx.AsyncClient(timeout=None, verify=ssl_context()),
    )
    return {Venue.KALSHI: kalshi, Venue.POLYMARKET: polymarket}
