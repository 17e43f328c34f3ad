"""`ReplayVenues`: both simulated venues of a replay, in process, on Unix sockets.

A `VenueSource` (`arb.daemon.venues`) like the simulated venues of `arb run`, with what a
bit-reproducible replay needs:

- the simulators are built from a declarative `SimSpec` (`arb/venues/sim/spec.py`), seeded, on
  the injected wall clock (`clock_ms`: the replay's virtual clock), and exposed as `.kalshi` and
  `.polymarket`, so a replay's timed events (book changes, trades, faults, settlements) drive them
  directly;
- every server listens on a Unix-domain socket under `socket_dir` (on such a socket a write is in
  the peer's buffer when it returns, so on `arb.replay.clock.VirtualTimeLoop` the order of events
  is the program's alone), and `endpoints` tells the daemon's real clients to connect there. A
  socket's path must fit in about 100 bytes, which a test's temporary directory can exceed: left
  out (None), `socket_dir` is a private directory under the system's temporary directory, removed
  by `close()`;
- the daemon's account on each venue: on Kalshi a fresh RSA key (its signatures decide nothing),
  whose private PEM is written under `socket_dir` (mode 0600); on Polymarket a wallet key and API
  credentials derived from `seed`, because Polymarket order ids are the hashes of the signed
  orders, and so must be the same in every run.

Nothing here is a secret: the keys open accounts on these simulators only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arb.daemon.venues import VenueEndpoints
from arb.domain import MarketInfo, Venue
from arb.errors import ConfigError
from arb.exhaustive_series import ExhaustiveSeries
from arb.fixed import SCALE
from arb.graph import GraphConfig
from arb.links import CuratedLink
from arb.venues.polymarket.orders import PolymarketCredentials
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.polymarket import PolymarketSimulator
from arb.venues.sim.spec import SimSpec

__all__ = ["ReplayVenues", "replay_polymarket_credentials"]

_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux (104 on macOS), the terminator included
_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_ABSENT_URL = "http://absent.invalid"  # a venue the spec leaves out: never connected


def _derived(seed: int, what: str) -> bytes:
    return hashlib.sha256(f"arb-replay:{seed}:{what}".encode()).digest()


def replay_polymarket_credentials(seed: int) -> PolymarketCredentials:
    """The daemon's Polymarket credentials in a replay seeded `seed`: the same in every run."""
    counter = 0
    while True:  # a valid secp256k1 key is in [1, n); sha256 misses that with probability ~2**-128
        key = int.from_bytes(_derived(seed, f"polymarket-wallet:{counter}"))
        if 0 < key < _SECP256K1_ORDER:
            break
        counter += 1
    return PolymarketCredentials(
        f"0x{key:064x}",
        f"replay-{_derived(seed, 'polymarket-api-key').hex()[:16]}",
        base64.urlsafe_b64encode(_derived(seed, "polymarket-api-secret")).decode(),
        _derived(seed, "polymarket-passphrase").hex()[:32],
    )


@functools.cache
def _kalshi_key() -> rsa.RSAPrivateKey:
    """One throwaway RSA key per process (generating one takes 0.1-0.5 s; it decides nothing)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class ReplayVenues:
    """A replay's simulated venues (module docstring). `async with` starts and stops their servers;
    `.kalshi` / `.polymarket` (None when the spec leaves the venue out) exist from construction.

    kalshi_cash_usd / polymarket_cash_usd: the daemon's balances (None: the Kalshi spec's
        `default_balance_usd`, and $10,000 on Polymarket).
    """

    name = "replay"

    def __init__(
        self,
        spec: SimSpec,
        *,
        links: Sequence[CuratedLink] = (),
        exhaustive_series: Sequence[ExhaustiveSeries] = (),
        seed: int,
        clock_ms: Callable[[], int],
        socket_dir: str | os.PathLike[str] | None = None,
        kalshi_cash_usd: Decimal | None = None,
        polymarket_cash_usd: Decimal | None = None,
        allow_different_resolution_source: bool = False,
        order_timeout_s: float = 10.0,
        order_settle_s: float = 30.0,
    ) -> None:
        if spec.kalshi is None and spec.polymarket is None:
            raise ConfigError("replay venues: the spec lists neither venue")
        self._own_dir: tempfile.TemporaryDirectory[str] | None = None
        if socket_dir is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="arb-replay-")
            socket_dir = self._own_dir.name
        self.socket_dir = Path(socket_dir)
        longest = os.path.join(self.socket_dir, "polymarket-gamma.sock")
        if len(os.fsencode(longest)) > _MAX_SOCKET_PATH:
            raise ConfigError(
                f"replay venues: socket_dir {str(self.socket_dir)!r} is too long for a Unix socket path "
                f"(at most {_MAX_SOCKET_PATH} bytes with the socket's name)"
            )
        self.seed = seed
        self._links = tuple(links)
        self.exhaustive_series = tuple(exhaustive_series)
        self._graph_config = GraphConfig(
            allow_different_resolution_source=allow_different_resolution_source,
            exhaustive_kalshi_series=self.exhaustive_series,
        )
        self._order_timeout_s = order_timeout_s
        self._order_settle_s = order_settle_s
        self.kalshi_key_id = f"replay-{seed}"
        self.kalshi_private_key_path = self.socket_dir / "kalshi-key.pem"
        self.polymarket_credentials = replay_polymarket_credentials(seed)
        self.kalshi: KalshiSimulator | None = None
        self.polymarket: PolymarketSimulator | None = None
        if spec.kalshi is not None:
            self.kalshi = KalshiSimulator.from_spec(
                spec.kalshi, seed=spec.seed, clock_ms=clock_ms, unix_dir=self.socket_dir
            )
            cash = spec.kalshi.default_balance_micro_usd if kalshi_cash_usd is None else _micro(kalshi_cash_usd)
            self.kalshi.add_account(self.kalshi_key_id, _kalshi_key().public_key(), balance_micro_usd=cash)
        if spec.polymarket is not None:
            self.polymarket = PolymarketSimulator.from_spec(
                spec.polymarket, seed=spec.seed, clock_ms=clock_ms, unix_dir=self.socket_dir
            )
            credentials = self.polymarket_credentials
            self.polymarket.add_account(
                credentials.api_key,
                credentials.api_secret,
                credentials.api_passphrase,
                credentials.signer_address,
                cash_micro=_micro(Decimal(10_000) if polymarket_cash_usd is None else polymarket_cash_usd),
            )
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> ReplayVenues:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._started:
            return
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.kalshi is not None:
            pem = _kalshi_key().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            self.kalshi_private_key_path.unlink(missing_ok=True)
            fd = os.open(self.kalshi_private_key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            await self.kalshi.start()
        if self.polymarket is not None:
            await self.polymarket.start()
        self._started = True

    async def close(self) -> None:
        """Stop both simulators' servers and remove the key file. Safe to call twice."""
        if self.polymarket is not None:
            await self.polymarket.close()
        if self.kalshi is not None:
            await self.kalshi.close()
        self.kalshi_private_key_path.unlink(missing_ok=True)
        self._started = False
        if self._own_dir is not None:
            self._own_dir.cleanup()

    # -- VenueSource -----------------------------------------------------------------------------

    @property
    def endpoints(self) -> VenueEndpoints:
        if not self._started:
            raise ConfigError("replay venues are not started")
        k, p = self.kalshi, self.polymarket
        enabled = tuple(v for v, sim in ((Venue.KALSHI, k), (Venue.POLYMARKET, p)) if sim is not None)
        return VenueEndpoints(
            enabled=enabled,
            kalshi_rest_url=k.rest_base_url if k is not None else _ABSENT_URL,
            kalshi_ws_url=k.ws_url if k is not None else "ws://absent.invalid",
            kalshi_key_id=self.kalshi_key_id if k is not None else None,
            kalshi_private_key_path=str(self.kalshi_private_key_path) if k is not None else None,
            polymarket_gamma_url=p.gamma_url if p is not None else _ABSENT_URL,
            polymarket_clob_url=p.clob_url if p is not None else _ABSENT_URL,
            polymarket_data_api_url=p.gamma_url if p is not None else _ABSENT_URL,  # Gamma serves the Data API
            polymarket_market_ws_url=p.market_ws_url if p is not None else "ws://absent.invalid",
            polymarket_user_ws_url=p.user_ws_url if p is not None else "ws://absent.invalid",
            polymarket_credentials=self.polymarket_credentials if p is not None else None,
            order_timeout_s=self._order_timeout_s,
            order_settle_s=self._order_settle_s,
            kalshi_rest_uds_path=k.rest_uds_path if k is not None else None,
            kalshi_ws_uds_path=k.ws_uds_path if k is not None else None,
            polymarket_gamma_uds_path=p.gamma_uds_path if p is not None else None,
            polymarket_clob_uds_path=p.clob_uds_path if p is not None else None,
            polymarket_data_api_uds_path=p.gamma_uds_path if p is not None else None,
            polymarket_market_ws_uds_path=p.ws_uds_path if p is not None else None,
            polymarket_user_ws_uds_path=p.ws_uds_path if p is not None else None,
        )

    def links(self, markets: Sequence[MarketInfo]) -> tuple[CuratedLink, ...]:
        return self._links  # the graph judges each against the markets (stale links are excluded)

    @property
    def graph_config(self) -> GraphConfig:
        return self._graph_config


def _micro(usd: Decimal) -> int:
    micro = usd * SCALE
    if micro != micro.to_integral_value() or micro < 0:
        raise ConfigError(f"replay venues: a cash balance must be non-negative with at most 6 decimals, was {usd}")
    return int(micro)
