"""`SimulatedVenues`: both simulated venues on loopback with the default scenario, ready for real
clients (docs/scenario.md).

    async with SimulatedVenues(ScenarioConfig(book_changes_per_s=1000)) as venues:
        kalshi = KalshiClient(venues.kalshi_config(), clock=..., sleep=..., rng=...)
        polymarket = PolymarketClient(venues.polymarket_config(), ..., credentials=venues.polymarket_credentials)
        graph = build_graph(markets, events, venues.links, config=venues.graph_config())

`start()` builds the scenario (`arb.scenario.markets`) into a `KalshiSimulator` and a
`PolymarketSimulator` (`from_spec`), with an account on each for throwaway credentials made at start:
a fresh RSA key whose private PEM is written to a temporary file (`kalshi_private_key_path`, removed by
`close()`) and a fresh Polymarket wallet key and API key/secret/passphrase. Nothing here is a secret:
the keys open accounts on these simulators only.

The scripted participants (`arb.scenario.participants`) run in a background task that wakes every
`tick_s` and lets the market makers and the arbitrage script do what is due on the clock. With
`venues_process=True` the simulators and participants run in a spawned process of their own, so a
benchmark's load on them does not share the daemon's event loop; the parent then has only the
endpoints and credentials (and the run's figures after `close()`).

Tests drive a `ScenarioRuntime` directly (`SimulatedVenues(..., run_participants=False)` and
`venues.runtime.step(now_s)`): no task, no sleeping, the clock is theirs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import multiprocessing
import os
import random
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arb.domain import Venue
from arb.errors import ConfigError
from arb.exhaustive_series import ExhaustiveSeries, parse_exhaustive_series
from arb.fixed import SCALE
from arb.graph import GraphConfig
from arb.links import CuratedLink, parse_links
from arb.scenario.markets import Catalogue, data_text, scenario_catalogue
from arb.scenario.participants import ArbitrageScript, MarketMakers, OpeningRecord, VenueQuotes, quote_ladder
from arb.venues.kalshi.client import KalshiConfig
from arb.venues.polymarket.client import PolymarketConfig
from arb.venues.polymarket.orders import PolymarketCredentials
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.polymarket import PolymarketSimulator
from arb.venues.sim.spec import SimSpec

__all__ = [
    "ScenarioConfig",
    "ScenarioRuntime",
    "ScenarioStats",
    "SimulatedVenues",
    "ThrowawayAccounts",
    "VenueEndpoints",
    "make_throwaway_accounts",
    "scenario_exhaustive_series",
    "scenario_links",
]


def _positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN != NaN
        raise ConfigError(f"scenario {name} must be a number, was {value!r}")
    if value < 0 or (value == 0 and not allow_zero) or value == float("inf"):
        raise ConfigError(f"scenario {name} must be {'>= 0' if allow_zero else '> 0'} and finite, was {value!r}")


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """The scenario's knobs (docs/scenario.md).

    seed: the participants' randomness (which market and level changes, and to what size)
    book_changes_per_s: background market-maker book changes per second (0: books still except
        for the openings); a Kalshi level change is one book change, a Polymarket one two (the YES
        token and its NO mirror)
    period_s / hold_s / first_opening_s: an opening every `period_s`, open for `hold_s`, the first
        `first_opening_s` after start
    contest_every: every n-th opening makes the daemon's orders on its moved books fill only
        `partial_fill_ratio` of their size (0: never)
    quote_size / opening_size: contracts per quoted level; at the opening's best level
    kalshi_cash_usd / polymarket_cash_usd: the daemon's account balances on the simulators
    venues_process: simulators and participants in a spawned process of their own
    tick_s: how often the participants' task wakes (real time)
    """

    seed: int = 0
    book_changes_per_s: float = 100.0
    period_s: float = 8.0
    hold_s: float = 4.0
    first_opening_s: float = 3.0
    contest_every: int = 2
    partial_fill_ratio: float = 0.5
    quote_size: int = 200
    opening_size: int = 40
    kalshi_cash_usd: int = 10_000
    polymarket_cash_usd: int = 10_000
    venues_process: bool = False
    tick_s: float = 0.002

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"scenario seed must be an integer, was {self.seed!r}")
        _positive("book_changes_per_s", self.book_changes_per_s, allow_zero=True)
        for name in ("period_s", "hold_s", "tick_s"):
            _positive(name, getattr(self, name))
        _positive("first_opening_s", self.first_opening_s, allow_zero=True)
        if self.hold_s >= self.period_s:
            raise ConfigError(f"scenario hold_s ({self.hold_s}) must be shorter than period_s ({self.period_s})")
        for name in ("contest_every", "quote_size", "opening_size", "kalshi_cash_usd", "polymarket_cash_usd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "contest_every" else 1):
                raise ConfigError(f"scenario {name} must be a whole number >= {0 if name == 'contest_every' else 1}")
        _positive("partial_fill_ratio", self.partial_fill_ratio)
        if self.partial_fill_ratio >= 1:
            raise ConfigError(f"scenario partial_fill_ratio must be below 1, was {self.partial_fill_ratio!r}")
        if not isinstance(self.venues_process, bool):
            raise ConfigError("scenario venues_process must be true or false")


@dataclass(frozen=True, slots=True)
class VenueEndpoints:
    """Loopback URLs of both simulators (the Data API is served by the Gamma server)."""

    kalshi_rest_url: str
    kalshi_ws_url: str
    polymarket_gamma_url: str
    polymarket_clob_url: str
    polymarket_data_api_url: str
    polymarket_market_ws_url: str
    polymarket_user_ws_url: str


@dataclass(frozen=True, slots=True)
class ScenarioStats:
    """What the participants did. achieved_book_changes_per_s: book changes published per second of
    run time (market makers and openings); skipped_changes: owed changes dropped because the
    participants' task fell behind (the simulators could not keep up)."""

    elapsed_s: float
    book_changes: int
    level_changes: int
    skipped_changes: int
    openings: tuple[tuple[str, str, bool], ...]  # (kind, name, contested) in order
    kalshi_partial_fills: int
    polymarket_partial_fills: int

    @property
    def achieved_book_changes_per_s(self) -> float:
        return self.book_changes / self.elapsed_s if self.elapsed_s > 0 else 0.0


def scenario_links() -> tuple[CuratedLink, ...]:
    """The scenario's curated links (arb/scenario/data/links.toml)."""
    return parse_links(data_text("links.toml"), "arb/scenario/data/links.toml")


def scenario_exhaustive_series() -> tuple[ExhaustiveSeries, ...]:
    """The scenario's curated exhaustive Kalshi series (arb/scenario/data/exhaustive_series.toml)."""
    return parse_exhaustive_series(data_text("exhaustive_series.toml"), "arb/scenario/data/exhaustive_series.toml")


@dataclass(frozen=True, slots=True)
class ThrowawayAccounts:
    """Throwaway credentials as plain data (they cross to the simulator process)."""

    kalshi_key_id: str
    kalshi_public_pem: bytes
    polymarket_private_key: str
    polymarket_api_key: str
    polymarket_secret: str
    polymarket_passphrase: str


def _sim_spec(
    catalogue: Catalogue, config: ScenarioConfig, accounts: ThrowawayAccounts, signer_address: str
) -> SimSpec:
    """The simulator spec: the catalogue's markets quoted at their fair values, and the accounts."""
    tree: dict[str, Any] = {
        "seed": config.seed,
        "kalshi": {key: [dict(item) for item in value] for key, value in catalogue.spec["kalshi"].items()},
        "polymarket": {key: [dict(item) for item in value] for key, value in catalogue.spec["polymarket"].items()},
    }
    size = config.quote_size * SCALE
    by_id = {(m.venue, m.market_id): m for m in catalogue.markets.values()}
    for item in tree["kalshi"]["markets"]:
        market = by_id[(Venue.KALSHI, item["ticker"])]
        item["book"] = _book_text(quote_ladder(market, market.fair_micro, size))
    for item in tree["polymarket"]["markets"]:
        market = by_id[(Venue.POLYMARKET, item["condition_id"])]
        bids, asks = quote_ladder(market, market.fair_micro, size)
        item["yes_book"] = _book_text((bids, asks))
        item["no_book"] = _book_text((tuple((SCALE - p, s) for p, s in asks), tuple((SCALE - p, s) for p, s in bids)))
    tree["kalshi"]["accounts"] = [
        {
            "key_id": accounts.kalshi_key_id,
            "balance_usd": str(config.kalshi_cash_usd),
            "public_key_pem": accounts.kalshi_public_pem.decode(),
        }
    ]
    tree["polymarket"]["accounts"] = [
        {
            "api_key": accounts.polymarket_api_key,
            "secret": accounts.polymarket_secret,
            "passphrase": accounts.polymarket_passphrase,
            "signer_address": signer_address,
            "cash_usd": str(config.polymarket_cash_usd),
        }
    ]
    return SimSpec.from_dict(tree)


def _book_text(ladder: tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]) -> dict[str, Any]:
    def text(micro: int) -> str:
        return str(Decimal(micro) / SCALE)

    bids, asks = ladder
    return {"bids": [[text(p), text(s)] for p, s in bids], "asks": [[text(p), text(s)] for p, s in asks]}


class ScenarioRuntime:
    """The simulators and the participants in one event loop. `step(now_s)` does what is due at
    `now_s` (seconds on the caller's clock, the same clock as `start_s`)."""

    def __init__(
        self,
        config: ScenarioConfig,
        accounts: ThrowawayAccounts,
        *,
        start_s: float,
        wall_ms: Callable[[], int] | None = None,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.config = config
        self.catalogue = catalogue or scenario_catalogue()
        credentials = PolymarketCredentials(
            accounts.polymarket_private_key,
            accounts.polymarket_api_key,
            accounts.polymarket_secret,
            accounts.polymarket_passphrase,
        )
        spec = _sim_spec(self.catalogue, config, accounts, credentials.signer_address)
        assert spec.kalshi is not None and spec.polymarket is not None
        wall = wall_ms or (lambda: time.time_ns() // 1_000_000)
        self.kalshi = KalshiSimulator.from_spec(spec.kalshi, seed=config.seed, clock_ms=wall)
        self.polymarket = PolymarketSimulator.from_spec(spec.polymarket, seed=config.seed, clock_ms=wall)
        rng = random.Random(f"scenario:{config.seed}")
        venues = VenueQuotes(self.kalshi, self.polymarket)
        markets = [
            self.catalogue.markets[key] for key in sorted(self.catalogue.markets, key=lambda k: (k[0].value, k[1]))
        ]
        self.start_s = start_s
        self.makers = MarketMakers(
            venues,
            markets,
            random.Random(rng.getrandbits(64)),
            book_changes_per_s=config.book_changes_per_s,
            size_micro=config.quote_size * SCALE,
            start_s=start_s,
        )
        self.script = ArbitrageScript(
            venues,
            self.makers,
            self.catalogue.markets,
            self.catalogue.openings,
            period_s=config.period_s,
            hold_s=config.hold_s,
            opening_size_micro=config.opening_size * SCALE,
            contest_every=config.contest_every,
            partial_fill_ratio=config.partial_fill_ratio,
            start_s=start_s,
            first_after_s=config.first_opening_s,
        )
        self._last_s = start_s

    async def start(self) -> None:
        await self.kalshi.start()
        await self.polymarket.start()

    async def close(self) -> None:
        await self.kalshi.close()
        await self.polymarket.close()

    def step(self, now_s: float) -> None:
        self._last_s = max(self._last_s, now_s)
        self.makers.step(now_s)
        self.script.step(now_s)

    def endpoints(self) -> VenueEndpoints:
        return VenueEndpoints(
            kalshi_rest_url=self.kalshi.rest_base_url,
            kalshi_ws_url=self.kalshi.ws_url,
            polymarket_gamma_url=self.polymarket.gamma_url,
            polymarket_clob_url=self.polymarket.clob_url,
            polymarket_data_api_url=self.polymarket.gamma_url,
            polymarket_market_ws_url=self.polymarket.market_ws_url,
            polymarket_user_ws_url=self.polymarket.user_ws_url,
        )

    def stats(self) -> ScenarioStats:
        history: tuple[OpeningRecord, ...] = self.script.history
        return ScenarioStats(
            elapsed_s=self._last_s - self.start_s,
            book_changes=self.makers.book_changes,
            level_changes=self.makers.changes,
            skipped_changes=self.makers.skipped,
            openings=tuple((r.opening.kind.value, r.opening.name, r.contested) for r in history),
            kalshi_partial_fills=self.kalshi.faults.counts["partial_fill"] if self.kalshi.faults else 0,
            polymarket_partial_fills=self.polymarket.faults.counts["partial_fill"],
        )

    async def run(self, stop: asyncio.Event, clock: Callable[[], float] = time.monotonic) -> None:
        """Step on `clock` every `tick_s` until `stop` is set."""
        while not stop.is_set():
            self.step(clock())
            await asyncio.sleep(self.config.tick_s)


def make_throwaway_accounts() -> tuple[ThrowawayAccounts, rsa.RSAPrivateKey]:
    """Fresh credentials for the simulators' accounts (and the Kalshi private key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    accounts = ThrowawayAccounts(
        kalshi_key_id=f"scenario-{secrets.token_hex(4)}",
        kalshi_public_pem=public_pem,
        polymarket_private_key="0x" + secrets.token_hex(32),
        polymarket_api_key=f"scenario-{secrets.token_hex(8)}",
        polymarket_secret=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        polymarket_passphrase=secrets.token_hex(16),
    )
    return accounts, key


class SimulatedVenues:
    """Both simulated venues with the default scenario (module docstring). Use as an async context
    manager, or `await start()` / `await close()`.

    run_participants: run the participants' background task (False: the caller steps
        `runtime.step(now_s)` itself; in-process only)
    clock: the participants' clock in seconds (default `time.monotonic`; in-process only)
    """

    def __init__(
        self,
        config: ScenarioConfig | None = None,
        *,
        run_participants: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config or ScenarioConfig()
        if self.config.venues_process and (not run_participants or clock is not None):
            raise ConfigError("scenario venues in another process run their participants on real time")
        self.run_participants = run_participants
        self._clock = clock or time.monotonic
        self.runtime: ScenarioRuntime | None = None
        self._endpoints: VenueEndpoints | None = None
        self._accounts: ThrowawayAccounts | None = None
        self._key_dir: tempfile.TemporaryDirectory[str] | None = None
        self._key_path: Path | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._process: Any = None
        self._pipe: Connection | None = None
        self._final_stats: ScenarioStats | None = None
        self._credentials: PolymarketCredentials | None = None
        self.links: tuple[CuratedLink, ...] = scenario_links()
        self.exhaustive_series: tuple[ExhaustiveSeries, ...] = scenario_exhaustive_series()

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> SimulatedVenues:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        accounts, key = await asyncio.to_thread(make_throwaway_accounts)
        self._accounts = accounts
        self._key_dir = tempfile.TemporaryDirectory(prefix="arb-scenario-")
        path = Path(self._key_dir.name) / "kalshi-key.pem"
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        self._key_path = path
        self._credentials = PolymarketCredentials(
            accounts.polymarket_private_key,
            accounts.polymarket_api_key,
            accounts.polymarket_secret,
            accounts.polymarket_passphrase,
        )
        if self.config.venues_process:
            self._endpoints = await self._start_process(accounts)
            return
        runtime = ScenarioRuntime(self.config, accounts, start_s=self._clock())
        self.runtime = runtime
        await runtime.start()
        self._endpoints = runtime.endpoints()
        if self.run_participants:
            self._task = asyncio.create_task(runtime.run(self._stop, self._clock), name="scenario-participants")

    async def _start_process(self, accounts: ThrowawayAccounts) -> VenueEndpoints:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._pipe = parent
        process = context.Process(target=_serve, args=(self.config, accounts, child), daemon=True)
        process.start()
        self._process = process  # only a started process is joined by close()
        deadline = time.monotonic() + 60.0
        while not await asyncio.to_thread(parent.poll, 0.1):
            if not self._process.is_alive():
                raise ConfigError(f"scenario: the simulator process exited (code {self._process.exitcode})")
            if time.monotonic() > deadline:
                raise ConfigError("scenario: the simulator process did not start within 60 s")
        answer = parent.recv()
        if not isinstance(answer, VenueEndpoints):
            raise ConfigError(f"scenario: the simulator process failed to start: {answer}")
        return answer

    async def close(self) -> None:
        """Stop the participants and both simulators; remove the throwaway key. Safe to call twice."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._process is not None and self._pipe is not None:
            with contextlib.suppress(OSError, EOFError, BrokenPipeError):
                self._pipe.send("stop")
                if await asyncio.to_thread(self._pipe.poll, 10.0):
                    final = self._pipe.recv()
                    if isinstance(final, ScenarioStats):
                        self._final_stats = final
            await asyncio.to_thread(self._process.join, 10.0)
            if self._process.is_alive():
                self._process.kill()
            self._process = None
        if self.runtime is not None and self._final_stats is None:
            self._final_stats = self.runtime.stats()
            await self.runtime.close()
        if self._key_dir is not None:
            self._key_dir.cleanup()
            self._key_dir = None

    # -- what a daemon needs ---------------------------------------------------------------------

    @property
    def endpoints(self) -> VenueEndpoints:
        if self._endpoints is None:
            raise ConfigError("simulated venues are not started")
        return self._endpoints

    @property
    def kalshi_key_id(self) -> str:
        if self._accounts is None:
            raise ConfigError("simulated venues are not started")
        return self._accounts.kalshi_key_id

    @property
    def kalshi_private_key_path(self) -> Path:
        """The throwaway Kalshi key (PEM, mode 0600), removed by `close()`."""
        if self._key_path is None:
            raise ConfigError("simulated venues are not started")
        return self._key_path

    @property
    def polymarket_credentials(self) -> PolymarketCredentials:
        if self._credentials is None:
            raise ConfigError("simulated venues are not started")
        return self._credentials

    def graph_config(self, **overrides: Any) -> GraphConfig:
        """A `GraphConfig` trusting the scenario's curated exhaustive series."""
        return GraphConfig(exhaustive_kalshi_series=self.exhaustive_series, **overrides)

    def kalshi_config(self, **overrides: Any) -> KalshiConfig:
        """A `KalshiConfig` for these simulators (loopback URLs, the throwaway key; no proxies)."""
        e = self.endpoints
        fields: dict[str, Any] = {
            "rest_base_url": e.kalshi_rest_url,
            "ws_url": e.kalshi_ws_url,
            "api_key_id": self.kalshi_key_id,
            "private_key_path": str(self.kalshi_private_key_path),
            "trust_env": False,
            **overrides,
        }
        return KalshiConfig(**fields)

    def polymarket_config(self, **overrides: Any) -> PolymarketConfig:
        """A `PolymarketConfig` for these simulators (loopback URLs)."""
        e = self.endpoints
        fields: dict[str, Any] = {
            "gamma_base_url": e.polymarket_gamma_url,
            "clob_base_url": e.polymarket_clob_url,
            "data_api_base_url": e.polymarket_data_api_url,
            "market_ws_url": e.polymarket_market_ws_url,
            "user_ws_url": e.polymarket_user_ws_url,
            **overrides,
        }
        return PolymarketConfig(**fields)

    def stats(self) -> ScenarioStats | None:
        """The participants' figures: live in process; from the simulator process after `close()`."""
        if self.runtime is not None and self._final_stats is None:
            return self.runtime.stats()
        return self._final_stats


def _serve(config: ScenarioConfig, accounts: ThrowawayAccounts, pipe: Connection) -> None:
    """The simulator process: serve the scenario until the parent says stop (or goes away), then
    send the participants' figures back."""

    async def serve() -> None:
        try:
            runtime = ScenarioRuntime(config, accounts, start_s=time.monotonic())
            await runtime.start()
        except (ConfigError, OSError) as exc:  # reported to the parent, which raises ConfigError with it
            pipe.send(f"{type(exc).__name__}: {exc}")
            return
        stop = asyncio.Event()
        try:
            pipe.send(runtime.endpoints())
            asyncio.get_running_loop().add_reader(pipe.fileno(), stop.set)
            await runtime.run(stop)
            with contextlib.suppress(OSError, BrokenPipeError):
                pipe.send(runtime.stats())
        finally:
            await runtime.close()

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        asyncio.run(serve())
    else:
        uvloop.run(serve())
