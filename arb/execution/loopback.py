"""Both simulated venues and the project's real clients in one process, over loopback: the stage
for executor tests and `arb bench exec` (and for anyone driving the executor against the sims).

`LoopbackVenues` starts a `KalshiSimulator` (one exclusive event, `markets` tickers) and a
`PolymarketSimulator` (the same number of binary markets), with fixed ladders and no scripted
participants (books move only when a test moves them), opens a `KalshiClient` and a
`PolymarketClient` against them, subscribes every book and waits until the clients' books are
trusted. `component()` is a candidate set over all of it (contract i on Kalshi is equivalent to
contract i on Polymarket), `books()` the clients' live books keyed as the scanner keys them.

Time: pass a `FakeTime` (tests: the clients' request deadlines fire only when the test moves
time) or None (real monotonic time and `asyncio.timeout`: the benchmark). Every client event goes
to `sink`, which the caller points at `Executor.on_event` (and may tee).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import multiprocessing
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arb.book import BinaryBook
from arb.domain import LevelList, MarketInfo, Side, Venue
from arb.errors import ConfigError
from arb.fixed import SCALE
from arb.graph import Component, Listing, contract_id
from arb.venues.base import Deadline, Sleep, VenueClient
from arb.venues.chaos import FakeTime
from arb.venues.kalshi.auth import KalshiSigner, load_public_key
from arb.venues.kalshi.client import KalshiClient, KalshiConfig
from arb.venues.polymarket.client import PolymarketClient, PolymarketConfig
from arb.venues.polymarket.orders import PolymarketCredentials
from arb.venues.sim.faults import FaultInjector
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.polymarket import PolymarketSimulator
from arb.venues.sim.spec import FeeScheduleSpec, PolymarketMarketSpec
from solvers.problem import Equivalent

__all__ = ["KALSHI_KEY_ID", "LoopbackConfig", "LoopbackVenues", "kalshi_ticker", "polymarket_condition"]

KALSHI_KEY_ID = "exec-key"
_EVENT = "KXEXEC-26"
_PM_KEY = "0x" + hashlib.sha256(b"arb executor loopback throwaway key").hexdigest()
_PM_CREDS = PolymarketCredentials(
    _PM_KEY, "exec-api-key", base64.urlsafe_b64encode(b"exec-secret-32-bytes-long-000000").decode(), "exec-pass"
)
_key_cache: list[rsa.RSAPrivateKey] = []


def _kalshi_key() -> rsa.RSAPrivateKey:
    if not _key_cache:  # one RSA key per process: generating one costs more than a test
        _key_cache.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _key_cache[0]


def kalshi_ticker(index: int) -> str:
    return f"{_EVENT}-C{index}"


def polymarket_condition(index: int) -> str:
    return "0x" + f"{index + 1:02x}" * 32


def _tokens(index: int) -> tuple[str, str]:
    return str(7000 + 2 * index), str(7001 + 2 * index)


@dataclass(frozen=True, slots=True)
class LoopbackConfig:
    """The stage. Ladders are YES prices (Kalshi: the one ladder per ticker; Polymarket: the YES
    token, its NO token the mirror image), the same on every market; sizes in micro-contracts.

    order_timeout_s / order_settle_s: the clients' order POST deadline and how long an unanswered
    send counts as possibly in flight (lookups that miss it say UNKNOWN until then)."""

    markets: int = 3
    kalshi_bids: LevelList = ((440_000, 50 * SCALE), (430_000, 50 * SCALE))
    kalshi_asks: LevelList = ((460_000, 50 * SCALE), (470_000, 50 * SCALE))
    polymarket_bids: LevelList = ((480_000, 50 * SCALE), (470_000, 50 * SCALE))
    polymarket_asks: LevelList = ((500_000, 50 * SCALE), (510_000, 50 * SCALE))
    order_timeout_s: float = 2.0
    order_settle_s: float = 3.0
    request_timeout_s: float = 2.0
    seed: int = 0
    kalshi_cash_micro_usd: int = 100_000 * SCALE
    polymarket_cash_micro_usd: int = 100_000 * SCALE
    polymarket_positions: dict[str, int] = field(default_factory=dict)
    kalshi_positions: dict[str, tuple[int, int]] = field(default_factory=dict)  # ticker -> (signed count, cost)
    polymarket_auto_settle: bool = True  # trades go MATCHED -> MINED -> CONFIRMED at once (else: the test drives)
    # the Kalshi account tier's write budget the client paces to (Basic: 10/s; Prime: 400/s)
    kalshi_write_rate_per_s: float = 10.0
    polymarket_fee_schedule: FeeScheduleSpec | None = None  # every Polymarket market's; None: fee-free

    def __post_init__(self) -> None:
        if isinstance(self.markets, bool) or not isinstance(self.markets, int) or not 1 <= self.markets <= 50:
            raise ConfigError(f"loopback markets must be an integer in [1, 50], was {self.markets!r}")


def _mirror(levels: LevelList) -> LevelList:
    return tuple((SCALE - price, size) for price, size in levels)


class LoopbackVenues:
    """Use as `async with LoopbackVenues(config, time) as venues:`; `venues.sink` is where every
    client event goes (set it to `Executor.on_event`)."""

    def __init__(
        self, config: LoopbackConfig | None = None, fake_time: FakeTime | None = None, *, venues_process: bool = False
    ) -> None:
        if venues_process and fake_time is not None:
            raise ConfigError("loopback venues in another process run on real time (no FakeTime)")
        self.config = config or LoopbackConfig()
        self.time = fake_time
        self.venues_process = venues_process  # the simulators in a process of their own (no fault access)
        self._process: Any = None
        self._pipe: Any = None
        self.kalshi_faults = FaultInjector()
        self.polymarket_faults = FaultInjector()
        self.sink: Callable[[Any], None] = lambda event: None
        self.kalshi_sim: KalshiSimulator
        self.polymarket_sim: PolymarketSimulator
        self.kalshi: KalshiClient
        self.polymarket: PolymarketClient
        self.markets: dict[Venue, list[MarketInfo]] = {}

    # -- time ------------------------------------------------------------------------------------

    def clock(self) -> int:
        return self.time.clock() if self.time is not None else time.monotonic_ns()

    def wall_ms(self) -> int:
        return self.time.wall_ms() if self.time is not None else time.time_ns() // 1_000_000

    @property
    def sleep(self) -> Sleep:
        return self.time.sleep if self.time is not None else asyncio.sleep

    @property
    def deadline(self) -> Deadline:
        return self.time.deadline if self.time is not None else asyncio.timeout

    def _route(self, event: Any) -> None:
        self.sink(event)

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> LoopbackVenues:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        config = self.config
        key = _kalshi_key()
        if self.venues_process:
            urls = await self._start_process(key)
        else:
            self.kalshi_sim, self.polymarket_sim = await _start_simulators(
                config, key.public_key(), self.wall_ms, self.kalshi_faults, self.polymarket_faults
            )
            urls = _urls(self.kalshi_sim, self.polymarket_sim)
        await self._start_clients(urls, key)

    async def _start_process(self, key: rsa.RSAPrivateKey) -> dict[str, str]:
        """The simulators in a process of their own (spawned: no event loop is inherited)."""
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self._process = context.Process(target=_serve_simulators, args=(self.config, pem, child), daemon=True)
        self._process.start()
        pipe = self._pipe
        if not await asyncio.to_thread(pipe.poll, 60.0):
            raise ConfigError("loopback venues: the simulator process did not start within 60 s")
        urls: dict[str, str] = pipe.recv()
        return urls

    async def _start_clients(self, urls: dict[str, str], key: rsa.RSAPrivateKey) -> None:
        config = self.config
        rng = random.Random(f"exec-loopback:{config.seed}")
        self.kalshi = KalshiClient(
            KalshiConfig(
                rest_base_url=urls["kalshi_rest"],
                ws_url=urls["kalshi_ws"],
                check_interval_s=None,
                ping_interval_s=None,
                trust_env=False,
                request_timeout_s=config.request_timeout_s,
                order_timeout_s=config.order_timeout_s,
                order_settle_s=config.order_settle_s,
                retry_base_s=0.01,
                retry_cap_s=0.05,
                write_rate_per_s=config.kalshi_write_rate_per_s,
            ),
            clock=self.clock,
            sleep=self.sleep,
            rng=random.Random(rng.getrandbits(64)),
            sink=self._route,
            signer=KalshiSigner(KALSHI_KEY_ID, key),
            wall_clock_ms=self.wall_ms,
            deadline=self.deadline,
        )
        self.polymarket = PolymarketClient(
            PolymarketConfig(
                gamma_base_url=urls["polymarket_gamma"],
                clob_base_url=urls["polymarket_clob"],
                data_api_base_url=urls["polymarket_gamma"],
                market_ws_url=urls["polymarket_market_ws"],
                user_ws_url=urls["polymarket_user_ws"],
                check_interval_s=0.05,
                request_timeout_s=config.request_timeout_s,
                order_timeout_s=config.order_timeout_s,
                order_settle_s=config.order_settle_s,
                retry_base_s=0.01,
                retry_cap_s=0.05,
            ),
            clock=self.clock,
            sleep=self.sleep,
            rng=random.Random(rng.getrandbits(64)),
            sink=self._route,
            credentials=_PM_CREDS,
            wall_clock_ms=self.wall_ms,
            deadline=self.deadline,
        )
        await self.kalshi.start()
        await self.polymarket.start()
        self.markets[Venue.KALSHI] = await self.kalshi.markets()
        self.markets[Venue.POLYMARKET] = await self.polymarket.markets()
        await self.kalshi.subscribe(self.markets[Venue.KALSHI])
        await self.polymarket.subscribe(self.markets[Venue.POLYMARKET])
        await self._until_trusted()

    async def _until_trusted(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._all_trusted():
            if time.monotonic() > deadline:
                raise ConfigError("loopback venues: the clients' books never became trusted")
            await asyncio.sleep(0.005)  # waits on the real sockets of the real clients

    def _all_trusted(self) -> bool:
        kalshi, polymarket = self.kalshi.books, self.polymarket.books
        tickers = [kalshi_ticker(i) for i in range(self.config.markets)]
        tokens = [token for i in range(self.config.markets) for token in _tokens(i)]
        return all(t in kalshi and kalshi[t].trusted for t in tickers) and all(
            t in polymarket and polymarket[t].trusted for t in tokens
        )

    async def close(self) -> None:
        for client in (getattr(self, "kalshi", None), getattr(self, "polymarket", None)):
            if client is not None:
                await client.close()
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._pipe.send("stop")
            await asyncio.to_thread(self._process.join, 10.0)
            if self._process.is_alive():
                self._process.kill()
            self._process = None
        for sim in (getattr(self, "kalshi_sim", None), getattr(self, "polymarket_sim", None)):
            if sim is not None:
                await sim.close()

    # -- what the executor needs -----------------------------------------------------------------

    @property
    def clients(self) -> dict[Venue, VenueClient]:
        return {Venue.KALSHI: cast(VenueClient, self.kalshi), Venue.POLYMARKET: cast(VenueClient, self.polymarket)}

    def books(self) -> dict[tuple[Venue, str], BinaryBook]:
        out: dict[tuple[Venue, str], BinaryBook] = {}
        for i in range(self.config.markets):
            ticker = kalshi_ticker(i)
            out[(Venue.KALSHI, ticker)] = BinaryBook(ticker, self.kalshi.books[ticker])
            yes, no = _tokens(i)
            condition = polymarket_condition(i)
            out[(Venue.POLYMARKET, condition)] = BinaryBook(
                condition, self.polymarket.books[yes], self.polymarket.books[no]
            )
        return out

    def component(self, indices: Sequence[int] | None = None) -> Component:
        """A candidate set over markets `indices` (all by default): contract i on Kalshi is
        equivalent to contract i on Polymarket; every contract listed YES and NO."""
        chosen = list(range(self.config.markets)) if indices is None else list(indices)
        by_id = {(m.venue, m.market_id): m for markets in self.markets.values() for m in markets}
        contracts: list[str] = []
        listings: list[Listing] = []
        relations: list[Any] = []
        for i in chosen:
            pair = []
            for venue, market_id in ((Venue.KALSHI, kalshi_ticker(i)), (Venue.POLYMARKET, polymarket_condition(i))):
                market = by_id[(venue, market_id)]
                cid = contract_id(venue, market_id)
                contracts.append(cid)
                pair.append(cid)
                listings.extend(_listings(market, cid))
            relations.append(Equivalent(pair[0], pair[1]))
        return Component(f"loopback-{'-'.join(map(str, chosen))}", tuple(contracts), tuple(relations), tuple(listings))

    def token(self, index: int, side: Side) -> str:
        """The Polymarket token id of market `index`'s `side`."""
        return _tokens(index)[0 if side is Side.YES else 1]

    def instrument(self, venue: Venue, index: int, side: Side) -> str:
        market_id = kalshi_ticker(index) if venue is Venue.KALSHI else polymarket_condition(index)
        return f"{contract_id(venue, market_id)}:{side.value}"


async def _start_simulators(
    config: LoopbackConfig,
    public_key: rsa.RSAPublicKey,
    wall_ms: Callable[[], int],
    kalshi_faults: FaultInjector,
    polymarket_faults: FaultInjector,
) -> tuple[KalshiSimulator, PolymarketSimulator]:
    kalshi = KalshiSimulator(faults=kalshi_faults, seed=config.seed, clock_ms=wall_ms)
    kalshi.add_series("KXEXEC", "Executor loopback", "quadratic", "1")
    kalshi.add_event(_EVENT, "KXEXEC", "Which one", mutually_exclusive=False)
    for i in range(config.markets):
        kalshi.add_market(kalshi_ticker(i), _EVENT, yes_sub_title=f"C{i}")
        kalshi.set_book(kalshi_ticker(i), config.kalshi_bids, config.kalshi_asks)
    kalshi.add_account(
        KALSHI_KEY_ID,
        public_key,
        balance_micro_usd=config.kalshi_cash_micro_usd,
        positions=dict(config.kalshi_positions),
    )
    specs = []
    for i in range(config.markets):
        yes, no = _tokens(i)
        specs.append(
            PolymarketMarketSpec(
                polymarket_condition(i),
                f"Loopback market {i}?",
                yes,
                no,
                event_id=str(i + 1),
                gamma_id=str(i + 1),
                fee_schedule=config.polymarket_fee_schedule,
            )
        )
    polymarket = PolymarketSimulator(
        specs,
        clock_ms=wall_ms,
        faults=polymarket_faults,
        seed=config.seed,
        participants=False,
        auto_settle=config.polymarket_auto_settle,
    )
    for i in range(config.markets):
        yes, no = _tokens(i)
        polymarket.set_book(yes, config.polymarket_bids, config.polymarket_asks)
        polymarket.set_book(no, _mirror(config.polymarket_asks), _mirror(config.polymarket_bids))
    await kalshi.start()
    await polymarket.start()
    polymarket.add_account(
        _PM_CREDS.api_key,
        _PM_CREDS.api_secret,
        _PM_CREDS.api_passphrase,
        _PM_CREDS.signer_address,
        cash_micro=config.polymarket_cash_micro_usd,
        positions=dict(config.polymarket_positions),
    )
    return kalshi, polymarket


def _urls(kalshi: KalshiSimulator, polymarket: PolymarketSimulator) -> dict[str, str]:
    return {
        "kalshi_rest": kalshi.rest_base_url,
        "kalshi_ws": kalshi.ws_url,
        "polymarket_gamma": polymarket.gamma_url,
        "polymarket_clob": polymarket.clob_url,
        "polymarket_market_ws": polymarket.market_ws_url,
        "polymarket_user_ws": polymarket.user_ws_url,
    }


def _serve_simulators(config: LoopbackConfig, public_pem: bytes, pipe: Connection) -> None:
    """The simulator process: serve both venues until the parent says stop (or goes away)."""

    async def serve() -> None:
        kalshi, polymarket = await _start_simulators(
            config, load_public_key(public_pem), lambda: time.time_ns() // 1_000_000, FaultInjector(), FaultInjector()
        )
        try:
            pipe.send(_urls(kalshi, polymarket))
            stop = asyncio.Event()
            asyncio.get_running_loop().add_reader(pipe.fileno(), stop.set)
            await stop.wait()
        finally:
            await kalshi.close()
            await polymarket.close()

    asyncio.run(serve())


def _listings(market: MarketInfo, cid: str) -> tuple[Listing, ...]:
    if market.taker_fee is None:
        raise ConfigError(f"loopback market {market.market_id} has no known taker fee")
    tick = min(band.step_micro_usd for band in market.price_bands)
    return tuple(
        Listing(
            instrument_id=f"{cid}:{side.value}",
            venue=market.venue,
            market_id=market.market_id,
            contract=cid,
            side=side,
            taker_fee=market.taker_fee,
            lot_size_micro=market.lot_size_micro,
            tick_size_micro=tick,
            min_order_size_micro=market.min_order_size_micro,
            buy_amount_increment_micro_usd=market.buy_amount_increment_micro_usd,
            sell_amount_increment_micro_usd=market.sell_amount_increment_micro_usd,
        )
        for side in (Side.YES, Side.NO)
    )
