"""A simulated Polymarket on loopback: Gamma + CLOB REST and the market and user WebSockets, in
the same JSON shapes as the real venue (docs/venues.md#polymarket). Requests are checked and books
hashed by this module's own code (the EIP-712 order hash comes from the venue's official
py-clob-client-v2, which defines it), not the adapter's.

What it serves:
- Gamma (its own `LoopbackHttpServer`): `GET /markets` (limit/offset, `condition_ids`, `slug`,
  `active`, `closed`), `/markets/{id}`, `/events`, `/events/{id}`, and the Data API's
  `/positions?user=` (so one base URL serves both in tests).
- CLOB (a second server), everything the official py-clob-client-v2 calls in ordinary flows.
  Public: `GET /book` (with the current-scheme hash), `/tick-size`, `/neg-risk`, `/fee-rate`,
  `/midpoint`, `/price` (BUY: best bid, SELL: best ask, as documented), `/spread`,
  `/last-trade-price` (all by `token_id`), `/markets` (cursor-paged) and `/markets/{condition_id}`
  (the key set of the captured answer), `/clob-markets/{condition_id}` (the compact form the client
  caches tick, neg risk and fee details from), `/markets-by-token/{token_id}`, `/time`, `/version`
  (2), `/ok`. Private: `POST /order`, `POST /orders` (a batch of at most 15, one answer each),
  `DELETE /order`, `/orders`, `/cancel-all`, `/cancel-market-orders` (`market` and/or `asset_id`),
  `POST /v1/heartbeats` (the dead-man switch: once started, `heartbeat_timeout_ms` without one
  cancels the account's orders), `GET /data/orders` (`id`, `market`, `asset_id`), `/data/order/{id}`
  (also an order acknowledged "live" but not matched yet), `/data/trades` (`id`, `market`,
  `asset_id`, `maker_address`, `before`/`after` exclusive on the match time; cursor-paged),
  `/balance-allowance` and `/balance-allowance/update` (`asset_type` COLLATERAL, or CONDITIONAL
  with `token_id`). Every private call checks the L2 headers (HMAC of timestamp + method + path +
  body with the account's secret, api key, passphrase, address) and answers 401 otherwise. A posted
  order's EIP-712 signature must recover to its `signer` (eth_account, with the exchange contract of
  the market's negRisk flag), the signer must be the account's address and `maker` its funder; its
  order id is the order hash, as on the venue (posting it again: "order {id} is invalid.
  Duplicated.").
- Errors are the venue's: HTTP 400 `{"error": <text>}` with the texts of its error reference
  ("not enough balance / allowance", "invalid post-only order: order crosses book", "order {id} is
  invalid. Price (p) breaks minimum tick size rule: t", "... Size (s) lower than the minimum: m",
  "invalid signature", "Invalid order payload", ...). A FOK that cannot fill in full is
  `{"error": "order couldn't be fully filled. FOK orders are fully filled or killed.", "orderID"}`
  and a FAK that matches nothing `{"error": "no orders found to match with FAK order. FAK orders
  are partially filled or killed if no match is found.", "orderID"}` (the order is then queryable
  as CANCELED). In a batch a refused order is `{"success": false, "errorMsg": <text>, ...}` in the
  200 answer list.
- Market socket (`/ws/market`): subscribe (`assets_ids`, or `operation: subscribe|unsubscribe`)
  -> an array frame of `book` snapshots; then `price_change` (current format: new totals, BUY =
  bid, best_bid/best_ask after the change) for every book change, trades included, and
  `last_trade_price` per fill; with `custom_feature_enabled`, `market_resolved` when a market
  resolves; `tick_size_change` when `change_tick_size` is called; text `PING` -> `PONG` (answered even
  while the feed is frozen).
- User socket (`/ws/user`): auth subscribe with the account's key/secret/passphrase; `order`
  events (PLACEMENT, UPDATE, CANCELLATION) and `trade` events per fill for taker and maker,
  MATCHED then (with `auto_settle`) MINED and CONFIRMED; `fail_trade` sends RETRYING and FAILED
  and reverses the ledger.

Matching: one `MatchingEngine` per token. An account's order may trade against its own resting
order (the CLOB has no self-trade prevention; sources at `add_market`): the trade is reported once,
from the taker side (`trader_side` TAKER), with our resting order in its `maker_orders` (owner = our
api key, `side` the maker's side, `matched_amount`), in `/data/trades` and on the user channel.
There is no complementary matching or minting across a market's two tokens (a YES buy never
matches a NO buy): each token is its own book, which is what the adapter sees anyway. A posted
order's limit price is its signed amounts' ratio (rounded onto the tick: down for buys, up for
sells) and its size the shares it signs for (a FOK/FAK buy's `takerAmount`). A FOK/FAK ("market") order's maker amount may carry at most 2 decimals and its
taker amount 4, buys and sells alike, or it is refused with HTTP 400 `{"error": "invalid amounts, the
market buy orders maker amount supports a max accuracy of 2 decimals, taker amount a max of 4
decimals"}` ("market sell orders" for a sale). GTD orders rest like GTC (the sim does not expire
them). `set_book`/`set_level` set the "house" liquidity of a token directly (see `liquidity.py`) and
publish it as `price_change` (or, with `publish="snapshot"`, a `book` frame).

Accounts (other owners - scripted participants, the house, `take` - are unconstrained):
- Cash (pUSD, micro) and tokens per account. A BUY reserves its signed `makerAmount` (the most it can
  spend) plus the most its taker fee can be at any price its limit allows; a SELL reserves the
  tokens it sells. An order whose reservation exceeds the cash or tokens not already reserved by the
  account's resting orders is refused with HTTP 400 `{"error": "not enough balance / allowance"}`,
  so a sale of tokens not held is refused. Reservations are released as the order fills (the real
  cost and fee are charged instead) and when it ends.
- Fees by the market's `feeSchedule` (`fees.py`): takers pay C x rate x (P(1-P))^exponent, floored
  to $0.00001, in collateral on both sides (a BUY pays it on top, a SELL receives its proceeds less
  it); makers pay nothing. Trade messages carry `fee_rate_bps` (the schedule's rate) for the taker.
- `GET /balance-allowance` answers the account's whole collateral (on-chain balance: open orders do
  not lower it, as on the venue) or, for CONDITIONAL, the token balance.
- `settle(condition_id, "yes" | "no" | "void")`: resting orders on both tokens are cancelled, the
  market closes (Gamma `closed`, CLOB `accepting_orders: false`, token `winner` flags), subscribers
  with custom features get `market_resolved` (winning asset and outcome; a void - the venue's
  50-50 resolution - names no winning asset and the outcome "50-50"), and every account's tokens are
  redeemed at once: $1 per winning share, $0.50 per share of either token when void.

`partition()` cuts the venue off until `heal()`: Gamma, CLOB and socket connections are aborted and
new ones refused (the venue itself goes on: resting orders may fill meanwhile).

Slow consumers: each socket has one writer task fed by a bounded queue (`max_queued_frames`); a
client that falls so far behind that a frame does not fit is disconnected (the venue closes slow
market-data connections), and reconnects for fresh snapshots.

Faults (`FaultInjector`, `arb/venues/sim/faults.py`) on stream "market" and "user": connection
drop, silent freeze (PING still answered), hash mismatch (the next `book` frame's hash corrupted),
HTTP 429/500 (before the handler runs), partial fills (`partial_fill_limit`), FAK acknowledged
"live" and matched later (`release_delayed`, or after `fill_later_s`), latency on every answer and
frame. `answer_500_after_processing` makes the next order POSTs be processed but answered 500 (the
ambiguous case). Scripted participants (`MarketMaker`, `Taker`) move prices on `step()`.

Bounded work: orders, trades and accounts are found through indexes (order id -> order, order id
-> trade ids, token -> subscribed connections); trades among non-accounts are not stored; terminal
account orders and trades are kept up to `retention` each. Deterministic under `seed` (ids,
participants, faults) and the injected `clock_ms`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import functools
import hashlib
import hmac
import json
import os
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import orjson
from eth_abi.exceptions import EncodingError
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.exceptions import BadSignature
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2, SignatureTypeV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderV2
from py_clob_client_v2.order_utils.model.side import Side as ClobSide
from websockets.asyncio.server import Server, ServerConnection, serve, unix_serve
from websockets.exceptions import ConnectionClosed

from arb.domain import BookSide, OrderStatus, TimeInForce
from arb.errors import ConfigError, OrderRejectedError
from arb.fixed import SCALE, micro_to_str
from arb.venues.sim import fees as sim_fees
from arb.venues.sim.engine import (
    CancelReason,
    LevelDelta,
    MatchingEngine,
    SelfTradePolicy,
    SimFill,
    SimOrder,
    counting_clock_ms,
)
from arb.venues.sim.faults import Fault, FaultInjector, FaultPlan
from arb.venues.sim.http import HttpRequest, HttpResponse, LoopbackHttpServer
from arb.venues.sim.liquidity import set_book, set_level
from arb.venues.sim.participants import MarketMaker, Taker
from arb.venues.sim.spec import FeeScheduleSpec, PolymarketMarketSpec, PolymarketSpec
from arb.venues.sim.wsout import send_texts

__all__ = ["PolymarketAccount", "PolymarketMarketSpec", "PolymarketRefusal", "PolymarketSimulator", "book_hash"]

_BID = BookSide.BID
_ASK = BookSide.ASK
_LOT = 10_000
# The venue's error texts (docs.polymarket.com "Error Codes"); every CLOB error is `{"error": text}`.
_NO_BALANCE = "not enough balance / allowance"
_FOK_KILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
_FAK_NO_MATCH = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)
_POST_ONLY_CROSSES = "invalid post-only order: order crosses book"
_BAD_PAYLOAD = "Invalid order payload"
_NO_BOOK = "No orderbook exists for the requested token id"
_NO_MARKET = "market not found"
_BAD_TOKEN_ID = "Invalid token id"
_NO_ROUTE = "not found"
_LOST_EXECUTION = "could not run the execution"  # the 500 of a processed order whose answer is lost
_MAX_BATCH = 15  # orders per POST /orders
_UNLIMITED = str(2**256 - 1)  # an allowance set to the maximum
_ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_RESULTS = frozenset({"yes", "no", "void"})
_TIF = {"GTC": TimeInForce.GTC, "GTD": TimeInForce.GTD, "FOK": TimeInForce.FOK, "FAK": TimeInForce.IOC}
_WRITE_BATCH = 256  # frames coalesced into one socket write at most
# FOK/FAK ("market") orders: the CLOB holds the maker amount to 2 decimals and the taker amount to 4,
# for buys and sells alike; in 6-decimal base units, steps of 10_000 and 100.
_MARKET_ORDER_TYPES = frozenset({"FOK", "FAK"})
_MARKET_MAKER_STEP = 10_000
_MARKET_TAKER_STEP = 100
Sleep = Callable[[float], Awaitable[None]]


@functools.lru_cache(maxsize=65_536)
def _text(micro: int) -> str:
    """Shortest decimal text of a non-negative micro amount, as the venue writes prices and sizes:
    "5", "0.52"."""
    whole, frac = divmod(micro, SCALE)
    return f"{whole}.{frac:06d}".rstrip("0") if frac else str(whole)


def book_hash(book: dict[str, Any], min_order_size: str, neg_risk: bool) -> str:
    """The venue's current book hash: SHA-1 of the compact JSON of market, asset_id, timestamp,
    hash "", bids, asks, min_order_size, tick_size, neg_risk, last_trade_price (in that order)."""
    payload = {
        "market": book["market"],
        "asset_id": book["asset_id"],
        "timestamp": book["timestamp"],
        "hash": "",
        "bids": book["bids"],
        "asks": book["asks"],
        "min_order_size": min_order_size,
        "tick_size": book["tick_size"],
        "neg_risk": neg_risk,
        "last_trade_price": book["last_trade_price"],
    }
    return hashlib.sha1(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


@dataclass(slots=True)
class _MarketState:
    """What changes about a market after it is listed."""

    spec: PolymarketMarketSpec
    tick_micro: int
    fee_rate: Fraction
    fee_exponent: int
    fee_rate_bps: str
    closed: bool = False
    winner: str = ""  # "yes", "no", "void" once resolved


@dataclass(slots=True, eq=False)
class _OrderMeta:
    order_id: str
    owner: str
    token: str
    side: BookSide
    price_micro: int
    size_micro: int
    order_type: str
    created_s: int = 0
    order: SimOrder | None = None  # None until matched (an acknowledged-then-filled FAK)
    cash_left: int = 0  # reserved collateral still held (BUY)
    fee_left: int = 0  # reserved fee still held (BUY)
    tokens_left: int = 0  # reserved tokens still held (SELL)
    released: bool = False


@dataclass(slots=True, eq=False)
class PolymarketAccount:
    api_key: str
    secret: str
    passphrase: str
    signer_address: str
    funder_address: str
    cash_micro: int = 1_000_000 * SCALE
    positions: dict[str, int] = field(default_factory=dict)  # token -> shares (micro)
    reserved_cash_micro: int = 0
    reserved_tokens: dict[str, int] = field(default_factory=dict)
    orders: dict[str, _OrderMeta] = field(default_factory=dict)  # retained, oldest first
    resting: dict[str, _OrderMeta] = field(default_factory=dict)
    terminal: deque[str] = field(default_factory=deque)
    trade_ids: list[str] = field(default_factory=list)

    @property
    def available_cash_micro(self) -> int:
        return self.cash_micro - self.reserved_cash_micro

    def available_tokens(self, token: str) -> int:
        return self.positions.get(token, 0) - self.reserved_tokens.get(token, 0)


@dataclass(slots=True)
class _Trade:
    trade_id: str
    fill: SimFill
    market: str
    status: str
    match_time_s: int
    tx_hash: str
    taker_fee_micro: int = 0


@dataclass(slots=True, eq=False)
class _Conn:
    ws: ServerConnection
    stream: str
    max_queued: int
    assets: set[str] = field(default_factory=set)
    owner: str = ""
    custom_features: bool = False
    queue: deque[str | list[Any] | dict[str, Any]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    frame_index: int = 0
    corrupt_next_book: bool = False
    closed: bool = False


class PolymarketRefusal(OrderRejectedError):
    """The simulated venue refuses an order (bad signature, foreign signer or maker, closed market,
    off the tick or below the minimum, crossing post-only, no balance, amounts beyond the market
    order precision); answered as the venue does, HTTP 400 `{"error": <message>}`."""

    def __init__(self, message: str) -> None:
        super().__init__(message, venue="polymarket", status=400, reason=message, body=message)

    def body_json(self) -> dict[str, Any]:
        return {"error": self.reason or ""}


class PolymarketSimulator:
    """`await start()`; point the adapter at `gamma_url`, `clob_url`, `market_ws_url`,
    `user_ws_url`; drive with `step()`, `take(...)`, `set_book(...)`, `release_delayed()`,
    `fail_trade(...)`; end markets with `settle(...)`. With `unix_dir` Gamma, the CLOB and the
    WebSocket server listen on Unix sockets in that directory (`gamma_uds_path`, `clob_uds_path`,
    `ws_uds_path`; the URLs then only name the servers) instead of loopback TCP."""

    def __init__(
        self,
        markets: Sequence[PolymarketMarketSpec] = (),
        *,
        clock_ms: Callable[[], int] | None = None,
        faults: FaultPlan | FaultInjector | None = None,
        seed: int = 0,
        sleep: Sleep = asyncio.sleep,
        chain_id: int = 137,
        auto_settle: bool = True,
        participants: bool = True,
        maker_size_micro: int = 50 * SCALE,
        page_size: int = 100,
        max_queued_frames: int = 50_000,
        retention: int = 100_000,
        unix_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if max_queued_frames < 1 or retention < 0:
            raise ConfigError("max_queued_frames must be >= 1 and retention >= 0")
        self.faults = faults if isinstance(faults, FaultInjector) else FaultInjector(faults)
        if clock_ms is None:
            clock_ms = counting_clock_ms()
        self._clock_ms: Callable[[], int] = clock_ms
        self._sleep = sleep
        self._release_tasks: set[asyncio.Task[None]] = set()
        self._rng = random.Random(f"{seed}:ids")
        self._participant_rng = random.Random(f"{seed}:participants")
        self.chain_id = chain_id
        self.auto_settle = auto_settle
        self.page_size = page_size
        self.max_queued_frames = max_queued_frames
        self.retention = retention
        self.with_participants = participants
        self.maker_size_micro = maker_size_micro
        self.specs: dict[str, PolymarketMarketSpec] = {}
        self.market_state: dict[str, _MarketState] = {}
        self.accounts: dict[str, PolymarketAccount] = {}
        self._accounts_by_funder: dict[str, PolymarketAccount] = {}
        self.token_spec: dict[str, PolymarketMarketSpec] = {}
        self.engines: dict[str, MatchingEngine] = {}
        self.last_trade: dict[str, int] = {}
        self.trades: dict[str, _Trade] = {}  # trades with an account on either side (retained)
        self._trade_order: deque[str] = deque()
        self._trades_by_order: dict[str, list[str]] = {}
        self._metas: dict[str, _OrderMeta] = {}  # account orders by id (retained)
        self.delayed: list[tuple[_OrderMeta, TimeInForce, int | None]] = []
        self.answer_500_after_processing = 0
        self.heartbeat_timeout_ms = 10_000  # the venue's dead-man switch: no heartbeat for 10 s
        self._heartbeat_ids: dict[str, str] = {}
        self._heartbeat_ms: dict[str, int] = {}
        self.last_trade_side: dict[str, str] = {}
        self.stats: dict[str, int] = {
            "orders": 0,
            "rejected_auth": 0,
            "bad_signature": 0,
            "no_balance": 0,
            "frames": 0,
            "pings": 0,
            "slow_consumer_disconnects": 0,
        }
        self._forced_id: str | None = None
        self._changes = 0
        # book events (each `book` snapshot, each entry of a `price_change`) published per token on
        # the market socket, counted when queued, before a slow-consumer abort or a closed socket can
        # drop them: a client that applied fewer lost some (the stress benchmark compares exactly)
        self.book_events_published: Counter[str] = Counter()
        self._conns: dict[_Conn, None] = {}
        self._market_subs: dict[str, dict[_Conn, None]] = {}  # token -> connections
        self._user_conns: dict[str, dict[_Conn, None]] = {}  # api key -> connections
        self._writers: set[asyncio.Task[Any]] = set()
        self.unix_dir = None if unix_dir is None else os.fspath(unix_dir)
        self._gamma: LoopbackHttpServer | None = None
        self._clob: LoopbackHttpServer | None = None
        self._ws: Server | None = None
        self.partitioned = False
        self._contracts = get_contract_config(chain_id)
        self.participants: list[MarketMaker | Taker] = []
        for spec in markets:
            self.add_market(spec)

    @classmethod
    def from_spec(cls, spec: PolymarketSpec, *, seed: int = 0, **options: Any) -> PolymarketSimulator:
        """A simulator built from a declarative `PolymarketSpec` (see `spec.py`): markets with fee
        schedules and initial books, accounts with cash and tokens, faults, participants."""
        options.setdefault("participants", spec.participants)
        sim = cls(spec.markets, faults=spec.faults, seed=seed, **options)
        for market in spec.markets:
            for token, book in ((market.yes_token, market.yes_book), (market.no_token, market.no_book)):
                if book.bids or book.asks:
                    sim.set_book(token, book.bids, book.asks)
        for a in spec.accounts:
            sim.add_account(
                a.api_key,
                a.secret,
                a.passphrase,
                a.signer_address,
                a.funder_address or None,
                cash_micro=a.cash_micro_usd,
                positions=dict(a.positions),
            )
        return sim

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._gamma = LoopbackHttpServer(
            self._gamma_handler, sleep=self._sleep, faults=self.faults, **self._address("polymarket-gamma")
        )
        self._clob = LoopbackHttpServer(
            self._clob_handler, sleep=self._sleep, faults=self.faults, **self._address("polymarket-clob")
        )
        await self._gamma.start()
        await self._clob.start()
        options: dict[str, Any] = {"ping_interval": None, "compression": None, "max_size": 2**22}
        options["process_request"] = self._refuse_when_partitioned  # refused while partitioned
        if self.ws_uds_path is not None:
            self._ws = await unix_serve(self._ws_handler, self.ws_uds_path, **options)
        else:
            self._ws = await serve(self._ws_handler, "127.0.0.1", 0, **options)

    def _address(self, name: str) -> dict[str, Any]:
        """Where a REST server listens: loopback TCP, or `<unix_dir>/<name>.sock` named `name` in its URL."""
        if self.unix_dir is None:
            return {}
        return {"host": name, "unix_path": os.path.join(self.unix_dir, f"{name}.sock")}

    @property
    def ws_uds_path(self) -> str | None:
        """The WebSocket server's Unix socket (None on TCP)."""
        return None if self.unix_dir is None else os.path.join(self.unix_dir, "polymarket-ws.sock")

    @property
    def gamma_uds_path(self) -> str | None:
        return None if self.unix_dir is None else os.path.join(self.unix_dir, "polymarket-gamma.sock")

    @property
    def clob_uds_path(self) -> str | None:
        return None if self.unix_dir is None else os.path.join(self.unix_dir, "polymarket-clob.sock")

    async def close(self) -> None:
        for conn in list(self._conns):
            self._abort(conn)
        for task in list(self._writers):
            task.cancel()
        await asyncio.gather(*self._writers, return_exceptions=True)
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
        for server in (self._gamma, self._clob):
            if server is not None:
                await server.close()

    async def __aenter__(self) -> PolymarketSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def handler_errors(self) -> list[BaseException]:
        """Exceptions raised by the CLOB's and Gamma's request handlers (answered 500), oldest first
        per server: a healthy run has none."""
        return [e for server in (self._clob, self._gamma) if server is not None for e in server.handler_errors]

    @property
    def gamma_url(self) -> str:
        assert self._gamma is not None
        return self._gamma.base_url

    @property
    def clob_url(self) -> str:
        assert self._clob is not None
        return self._clob.base_url

    @property
    def _ws_port(self) -> int:
        assert self._ws is not None
        return int(next(iter(self._ws.sockets)).getsockname()[1])

    @property
    def market_ws_url(self) -> str:
        return f"{self._ws_base}/ws/market"

    @property
    def user_ws_url(self) -> str:
        return f"{self._ws_base}/ws/user"

    @property
    def _ws_base(self) -> str:
        if self.unix_dir is not None:
            assert self._ws is not None
            return "ws://polymarket-ws"
        return f"ws://127.0.0.1:{self._ws_port}"

    # -- setup -----------------------------------------------------------------------------------

    def add_market(self, spec: PolymarketMarketSpec) -> None:
        """List a binary market: two token books (with participants quoting, when enabled)."""
        if spec.condition_id in self.specs:
            raise ConfigError(f"polymarket market {spec.condition_id!r} exists")
        for token in spec.tokens:
            if token in self.token_spec:
                raise ConfigError(f"polymarket token {token!r} is listed twice")
        schedule = spec.fee_schedule
        rate = Fraction(0) if schedule is None else sim_fees.exact_fraction(schedule.rate, "fee_schedule.rate")
        bps = rate * 10_000
        self.specs[spec.condition_id] = spec
        self.market_state[spec.condition_id] = _MarketState(
            spec,
            spec.tick_micro,
            rate,
            1 if schedule is None else schedule.exponent,
            str(bps.numerator // bps.denominator),
        )
        for i, token in enumerate(spec.tokens):
            self.token_spec[token] = spec
            # Self-match: the CLOB lets an account's order trade against its own resting order.
            # Polymarket documents self-trade prevention only for its perps venue
            # (docs.polymarket.com/perps/learn-about-trading/self-trade-prevention), none for the
            # CLOB; the settlement contract checks no maker != taker (Polymarket/ctf-exchange,
            # src/exchange/mixins/Trading.sol, _matchOrders / _validateTakerAndMaker); and fills
            # with maker == taker address do appear on chain (rarely: a public on-chain wash-trade
            # survey, jdellavedova.com/data/surveillance_wash_latest.json, counts ~900 in 712M
            # trades). So the match happens and is reported
            # as one trade seen from the taker side (trader_side TAKER) whose `maker_orders` holds
            # our own resting order (owner = our key): that maker leg is a fill of ours too.
            engine = MatchingEngine(token, self._next_id, self_trade=SelfTradePolicy.ALLOW)
            self.engines[token] = engine
            if self.with_participants:
                mid = spec.yes_mid_micro if i == 0 else SCALE - spec.yes_mid_micro
                mid = max(spec.tick_micro, min(SCALE - spec.tick_micro, mid // spec.tick_micro * spec.tick_micro))
                maker = MarketMaker(
                    f"mm:{token[:8]}",
                    engine,
                    self._participant_rng,
                    mid,
                    2,
                    spec.tick_micro,
                    3,
                    self.maker_size_micro,
                )
                maker.requote()
                self.participants.append(maker)
                self.participants.append(
                    Taker(f"taker:{token[:8]}", engine, self._participant_rng, 3, SCALE, spec.tick_micro)
                )

    def add_account(
        self,
        api_key: str,
        secret: str,
        passphrase: str,
        signer_address: str,
        funder_address: str | None = None,
        cash_micro: int = 1_000_000 * SCALE,
        positions: dict[str, int] | None = None,
    ) -> PolymarketAccount:
        if api_key in self.accounts:
            raise ConfigError(f"polymarket account {api_key!r} exists")
        for token, shares in (positions or {}).items():
            if token not in self.engines or shares < 0:
                raise ConfigError(f"polymarket account {api_key!r}: bad position {token!r} = {shares}")
        account = PolymarketAccount(
            api_key,
            secret,
            passphrase,
            signer_address,
            funder_address or signer_address,
            cash_micro,
            dict(positions or {}),
        )
        self.accounts[api_key] = account
        self._accounts_by_funder[account.funder_address.lower()] = account
        return account

    async def drop_all(self, stream: str = "*") -> int:
        """Abort every socket of `stream` ("market", "user" or "*" for both) now, no close frame,
        as a network failure would; returns how many. Clients reconnect and resubscribe."""
        dropped = [c for c in self._conns if not c.closed and stream in ("*", c.stream)]
        for conn in dropped:
            self._abort(conn)
        return len(dropped)

    def partition(self) -> None:
        """The network between us and the venue fails until `heal()`: every Gamma, CLOB and socket
        connection is aborted and every new one aborted as it is accepted. The venue goes on
        (participants trade, resting orders fill); nothing it says gets through."""
        self.partitioned = True
        for server in (self._gamma, self._clob):
            if server is not None:
                server.partition()
        for conn in list(self._conns):
            self._abort(conn)

    def heal(self) -> None:
        """The network works again: new connections are served (clients reconnect themselves)."""
        self.partitioned = False
        for server in (self._gamma, self._clob):
            if server is not None:
                server.heal()

    def _refuse_when_partitioned(self, connection: ServerConnection, request: Any) -> Any:
        if not self.partitioned:
            return None
        connection.transport.abort()  # refused: the handshake never gets an answer
        return connection.respond(503, "partitioned\n")

    def orders_of(self, api_key: str) -> list[_OrderMeta]:
        """The account's retained orders, oldest first."""
        account = self.accounts.get(api_key)
        return list(account.orders.values()) if account is not None else []

    def connections(self, stream: str) -> int:
        return sum(1 for c in self._conns if c.stream == stream and not c.closed)

    @property
    def queued_frames(self) -> int:
        """Frames waiting in every connection's writer queue (for flow control and stress runs)."""
        return sum(len(conn.queue) for conn in self._conns)

    # -- ids and time ----------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        if prefix == "order":
            if self._forced_id is not None:
                forced, self._forced_id = self._forced_id, None
                return forced
            return "0x" + f"{self._rng.getrandbits(256):064x}"
        bits = f"{self._rng.getrandbits(128):032x}"
        return f"{bits[:8]}-{bits[8:12]}-{bits[12:16]}-{bits[16:20]}-{bits[20:]}"

    def _now_ms(self) -> int:
        return self._clock_ms()

    # -- market activity -------------------------------------------------------------------------

    def step(self, steps: int = 1) -> None:
        """Let every participant act `steps` times; publish what happened."""
        self.check_heartbeats()
        for _ in range(steps):
            for participant in self.participants:
                result = participant.step()
                self._publish(participant.engine.book_id, result.fills, result.deltas)
                if result.fills:
                    self._after_maker_fills(result.fills)

    def take(
        self,
        token: str,
        side: BookSide,
        price_micro: int,
        size_micro: int,
        tif: TimeInForce = TimeInForce.IOC,
        owner: str = "external",
    ) -> SimOrder:
        """Trade as an outside participant (e.g. to fill one of the adapter's resting orders)."""
        result = self.engines[token].submit(owner, side, price_micro, size_micro, tif, keep=False)
        self._publish(token, result.fills, result.deltas)
        self._after_submit(result.order, result.fills)
        return result.order

    def set_level(self, token: str, side: BookSide, price_micro: int, size_micro: int) -> None:
        """Make the house's size at one level of a token's book what is given, and publish it."""
        self._check_prices(token, [(price_micro, size_micro)])
        fills, deltas = set_level(self.engines[token], side, price_micro, size_micro, lot_micro=_LOT)
        self._publish(token, fills, deltas)
        if fills:
            self._after_maker_fills(fills)

    def set_book(
        self,
        token: str,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        *,
        publish: str = "deltas",
    ) -> None:
        """Make the house's ladder of a token exactly `bids`/`asks` ((price, size) micro pairs);
        other owners' orders stay. `publish`: "deltas" (one `price_change` frame with every level
        change) or "snapshot" (a `book` frame instead)."""
        if publish not in ("deltas", "snapshot"):
            raise ConfigError(f"publish must be 'deltas' or 'snapshot', was {publish!r}")
        bids, asks = list(bids), list(asks)
        self._check_prices(token, bids + asks)
        fills, deltas = set_book(self.engines[token], bids, asks, lot_micro=_LOT)
        if publish == "deltas":
            self._publish(token, fills, deltas)
        else:
            self._publish(token, fills, [])
            self._broadcast_market(token, self.book_json(token))
        if fills:
            self._after_maker_fills(fills)

    def _check_prices(self, token: str, levels: Sequence[tuple[int, int]]) -> None:
        spec = self.token_spec.get(token)
        if spec is None:
            raise ConfigError(f"unknown token {token!r}")
        state = self.market_state[spec.condition_id]
        if state.closed:
            raise ConfigError(f"market {spec.condition_id} is resolved: its books cannot be set")
        for price, _ in levels:
            if type(price) is not int or price % state.tick_micro or not 0 < price < SCALE:
                raise ConfigError(f"price {price!r} is off the tick grid of token {token}")

    def change_tick_size(self, condition_id: str, tick_micro: int) -> None:
        """The venue changes a market's tick (e.g. 0.01 -> 0.001 near the ends): `tick_size_change`
        on both tokens; later orders must be on the new grid."""
        state = self.market_state[condition_id]
        if tick_micro not in (100, 1_000, 10_000, 100_000):
            raise ConfigError(f"tick must be 0.1, 0.01, 0.001 or 0.0001, was {tick_micro}")
        old, state.tick_micro = state.tick_micro, tick_micro
        for token in state.spec.tokens:
            self._broadcast_market(
                token,
                {
                    "event_type": "tick_size_change",
                    "asset_id": token,
                    "market": condition_id,
                    "old_tick_size": _text(old),
                    "new_tick_size": _text(tick_micro),
                    "timestamp": str(self._now_ms()),
                },
            )

    def _publish(self, token: str, fills: list[SimFill], deltas: list[LevelDelta]) -> None:
        spec = self.token_spec[token]
        subscribed = bool(self._market_subs.get(token))
        now = self._now_ms()
        if deltas and subscribed:
            engine = self.engines[token]
            best_bid, best_ask = engine.best_bid(), engine.best_ask()
            bid_text = _text(best_bid[0]) if best_bid else "0"
            ask_text = _text(best_ask[0]) if best_ask else "1"
            changes = []
            for delta in deltas:
                changes.append(
                    {
                        "asset_id": token,
                        "price": _text(delta.price_micro_usd),
                        "size": _text(delta.size_micro),
                        "side": "BUY" if delta.side is _BID else "SELL",
                        "hash": self._change_hash(),
                        "best_bid": bid_text,
                        "best_ask": ask_text,
                    }
                )
            self._broadcast_market(
                token,
                {
                    "market": spec.condition_id,
                    "price_changes": changes,
                    "event_type": "price_change",
                    "timestamp": str(now),
                },
            )
        for fill in fills:
            self.last_trade[token] = fill.price_micro_usd
            self.last_trade_side[token] = "BUY" if fill.taker_side is _BID else "SELL"
            if subscribed:
                self._broadcast_market(
                    token,
                    {
                        "asset_id": token,
                        "event_type": "last_trade_price",
                        "fee_rate_bps": self.market_state[spec.condition_id].fee_rate_bps,
                        "market": spec.condition_id,
                        "price": _text(fill.price_micro_usd),
                        "side": "BUY" if fill.taker_side is _BID else "SELL",
                        "size": _text(fill.size_micro),
                        "timestamp": str(now),
                        "transaction_hash": "0x" + hashlib.sha256(fill.fill_id.encode()).hexdigest(),
                    },
                )
            if fill.taker_owner in self.accounts or fill.maker_owner in self.accounts:
                self._record_trade(token, fill)

    def _change_hash(self) -> str:
        """A unique 40-hex tag per change: clients check book hashes on `book` frames (and the
        best prices on `price_change`), so a change's tag only has to look like the venue's."""
        self._changes += 1
        return f"{self._changes:040x}"

    def book_json(self, token: str, *, rest: bool = False) -> dict[str, Any]:
        """A `book` frame (or, with `rest`, the REST `/book` body) with its hash. Levels as the venue
        lists them: bids ascending, asks descending (best last)."""
        spec = self.token_spec[token]
        state = self.market_state[spec.condition_id]
        bids, asks = self.engines[token].snapshot()
        last = self.last_trade.get(token)
        book: dict[str, Any] = {
            "market": spec.condition_id,
            "asset_id": token,
            "timestamp": str(self._now_ms()),
            "hash": "",
            "bids": [{"price": _text(p), "size": _text(s)} for p, s in sorted(bids)],
            "asks": [{"price": _text(p), "size": _text(s)} for p, s in sorted(asks, reverse=True)],
            "tick_size": _text(state.tick_micro),
            "last_trade_price": "" if last is None else micro_to_str(last, 3),
        }
        min_size = _text(spec.min_order_size_micro)
        book["hash"] = book_hash(book, min_size, spec.neg_risk)
        if rest:
            book["min_order_size"] = min_size
            book["neg_risk"] = spec.neg_risk
        else:
            book["event_type"] = "book"
        return book

    # -- settlement ------------------------------------------------------------------------------

    def settle(self, condition_id: str, result: str) -> None:
        """Resolve a market "yes", "no" or "void" (50-50) and redeem every account's tokens."""
        if result not in _RESULTS:
            raise ConfigError(f"result must be one of {sorted(_RESULTS)}, was {result!r}")
        state = self.market_state.get(condition_id)
        if state is None:
            raise ConfigError(f"unknown market {condition_id!r}")
        if state.closed:
            raise ConfigError(f"market {condition_id} is already resolved")
        spec = state.spec
        for token in spec.tokens:
            engine = self.engines[token]
            for order in engine.open_orders():
                meta = self._metas.get(order.order_id)
                result_ = engine.cancel(order.order_id)
                self._publish(token, [], result_.deltas)
                if meta is not None and result_.canceled:
                    self._release(meta)
                    self._broadcast_user(meta.owner, self.order_json(order, "CANCELLATION"))
        self.participants = [p for p in self.participants if p.engine.book_id not in spec.tokens]
        state.closed = True
        state.winner = result
        winning = {"yes": spec.yes_token, "no": spec.no_token, "void": ""}[result]
        message = {
            "event_type": "market_resolved",
            "id": spec.gamma_id,
            "market": condition_id,
            "assets_ids": list(spec.tokens),
            "winning_asset_id": winning,
            "winning_outcome": {"yes": "Yes", "no": "No", "void": "50-50"}[result],
            "timestamp": str(self._now_ms()),
            "tags": [],
        }
        sent: set[_Conn] = set()
        for token in spec.tokens:
            for conn in list(self._market_subs.get(token, ())):
                if conn.custom_features and conn not in sent:
                    sent.add(conn)
                    self._enqueue(conn, message)
        for account in self.accounts.values():
            for token in spec.tokens:
                shares = account.positions.pop(token, 0)
                if not shares:
                    continue
                if result == "void":
                    account.cash_micro += shares // 2
                elif token == winning:
                    account.cash_micro += shares

    # -- trades, orders and the ledger -----------------------------------------------------------

    def _record_trade(self, token: str, fill: SimFill) -> None:
        spec = self.token_spec[token]
        state = self.market_state[spec.condition_id]
        trade_id = self._next_id("trade")
        taker_fee = sim_fees.polymarket_fee_micro(
            state.fee_rate, state.fee_exponent, fill.price_micro_usd, fill.size_micro
        )
        trade = _Trade(
            trade_id,
            fill,
            spec.condition_id,
            "MATCHED",
            self._now_ms() // 1000,
            "0x" + hashlib.sha256(trade_id.encode()).hexdigest(),
            taker_fee,
        )
        self.trades[trade_id] = trade
        self._trade_order.append(trade_id)
        for order_id in (fill.taker_order_id, fill.maker_order_id):
            self._trades_by_order.setdefault(order_id, []).append(trade_id)
        for owner, side, is_taker, order_id in (
            (fill.taker_owner, fill.taker_side, True, fill.taker_order_id),
            (fill.maker_owner, _ASK if fill.taker_side is _BID else _BID, False, fill.maker_order_id),
        ):
            account = self.accounts.get(owner)
            if account is None:
                continue
            if not account.trade_ids or account.trade_ids[-1] != trade_id:
                account.trade_ids.append(trade_id)
            self._apply_fill(account, self._metas.get(order_id), token, side, fill, taker_fee if is_taker else 0)
        self._send_trade(trade)
        if self.auto_settle:
            for status in ("MINED", "CONFIRMED"):
                trade.status = status
                self._send_trade(trade)
        while len(self._trade_order) > self.retention:
            old = self.trades.pop(self._trade_order.popleft(), None)
            if old is not None:
                for order_id in (old.fill.taker_order_id, old.fill.maker_order_id):
                    ids = self._trades_by_order.get(order_id)
                    if ids and ids[0] == old.trade_id:
                        ids.pop(0)
                        if not ids:
                            del self._trades_by_order[order_id]

    def _apply_fill(
        self, account: PolymarketAccount, meta: _OrderMeta | None, token: str, side: BookSide, fill: SimFill, fee: int
    ) -> None:
        """Charge one fill to an account: tokens, cash, fee, and the order's reservation."""
        size, price = fill.size_micro, fill.price_micro_usd
        notional = size * price // SCALE
        if side is _BID:
            account.positions[token] = account.positions.get(token, 0) + size
            account.cash_micro -= notional + fee
            if meta is not None:
                release = min(meta.cash_left, size * meta.price_micro // SCALE)
                meta.cash_left -= release
                fee_release = min(meta.fee_left, fee)
                meta.fee_left -= fee_release
                account.reserved_cash_micro -= release + fee_release
        else:
            account.positions[token] = account.positions.get(token, 0) - size
            account.cash_micro += notional - fee
            if meta is not None:
                release = min(meta.tokens_left, size)
                meta.tokens_left -= release
                account.reserved_tokens[token] = account.reserved_tokens.get(token, 0) - release
        if not account.positions[token]:
            del account.positions[token]

    def _release(self, meta: _OrderMeta) -> None:
        """An order ended: give back what it still reserves; keep it queryable up to `retention`."""
        if meta.released:
            return
        meta.released = True
        account = self.accounts[meta.owner]
        account.reserved_cash_micro -= meta.cash_left + meta.fee_left
        if meta.tokens_left:
            account.reserved_tokens[meta.token] -= meta.tokens_left
        meta.cash_left = meta.fee_left = meta.tokens_left = 0
        account.resting.pop(meta.order_id, None)
        account.terminal.append(meta.order_id)
        while len(account.terminal) > self.retention:
            old = account.orders.pop(account.terminal.popleft(), None)
            if old is not None:
                self._metas.pop(old.order_id, None)

    def fail_trade(self, trade_id: str) -> None:
        """Settlement failed on chain: RETRYING then FAILED to both parties; the ledger is reversed."""
        trade = self.trades[trade_id]
        fill = trade.fill
        for status in ("RETRYING", "FAILED"):
            trade.status = status
            self._send_trade(trade)
        for owner, side, fee in (
            (fill.taker_owner, fill.taker_side, trade.taker_fee_micro),
            (fill.maker_owner, _ASK if fill.taker_side is _BID else _BID, 0),
        ):
            account = self.accounts.get(owner)
            if account is None:
                continue
            sign = 1 if side is _BID else -1
            token = fill.book_id
            account.positions[token] = account.positions.get(token, 0) - sign * fill.size_micro
            if not account.positions[token]:
                del account.positions[token]
            account.cash_micro += sign * (fill.size_micro * fill.price_micro_usd // SCALE) + fee

    def advance_trade(self, trade_id: str, status: str) -> None:
        trade = self.trades[trade_id]
        trade.status = status
        self._send_trade(trade)

    def trade_json(self, trade: _Trade, owner: str) -> dict[str, Any]:
        """A `/data/trades` item / user `trade` event as `owner` sees it."""
        fill = trade.fill
        token = fill.book_id
        spec = self.token_spec[token]
        bps = self.market_state[spec.condition_id].fee_rate_bps
        outcome = "Yes" if token == spec.yes_token else "No"
        taker = self.accounts.get(fill.taker_owner)
        maker = self.accounts.get(fill.maker_owner)
        return {
            "id": trade.trade_id,
            "taker_order_id": fill.taker_order_id,
            "market": spec.condition_id,
            "asset_id": token,
            "side": "BUY" if fill.taker_side is _BID else "SELL",
            "size": _text(fill.size_micro),
            "fee_rate_bps": bps,
            "price": _text(fill.price_micro_usd),
            "status": trade.status,
            "match_time": str(trade.match_time_s),
            "last_update": str(self._now_ms() // 1000),
            "outcome": outcome,
            "bucket_index": 0,
            "owner": owner,
            "maker_address": taker.funder_address if taker else _ZERO_ADDRESS,
            "transaction_hash": trade.tx_hash,
            "maker_orders": [
                {
                    "order_id": fill.maker_order_id,
                    "owner": fill.maker_owner,
                    "maker_address": maker.funder_address if maker else _ZERO_ADDRESS,
                    "matched_amount": _text(fill.size_micro),
                    "price": _text(fill.price_micro_usd),
                    "fee_rate_bps": "0",
                    "asset_id": token,
                    "outcome": outcome,
                    "side": "SELL" if fill.taker_side is _BID else "BUY",
                }
            ],
            "trader_side": "TAKER" if owner == fill.taker_owner else "MAKER",
        }

    def _send_trade(self, trade: _Trade) -> None:
        for owner in dict.fromkeys((trade.fill.taker_owner, trade.fill.maker_owner)):
            if owner in self._user_conns:
                event = self.trade_json(trade, owner)
                event.update(
                    {"event_type": "trade", "type": "TRADE", "timestamp": str(self._now_ms()), "trade_owner": owner}
                )
                self._broadcast_user(owner, event)

    def order_json(self, order: SimOrder, kind: str | None = None) -> dict[str, Any]:
        """A `/data/order` body / user `order` event (`kind` PLACEMENT, UPDATE or CANCELLATION)."""
        if order.status is OrderStatus.OPEN:
            status = "LIVE"
        elif order.status is OrderStatus.FILLED:
            status = "MATCHED"
        else:
            status = "CANCELED"
        meta = self._metas.get(order.order_id)
        d = self._order_fields(
            order.order_id,
            order.owner,
            order.book_id,
            order.side,
            order.price_micro_usd,
            order.size_micro,
            order.filled_micro,
            status,
            meta.order_type if meta is not None else "GTC",
            meta.created_s if meta is not None else self._now_ms() // 1000,
        )
        if kind is not None:
            d.update(
                {"event_type": "order", "type": kind, "order_owner": order.owner, "timestamp": str(self._now_ms())}
            )
        return d

    def meta_json(self, meta: _OrderMeta) -> dict[str, Any]:
        """An account order as `/data/order` shows it, also while it is acknowledged but not yet
        matched (the ack-then-fill FAK): the venue can always look up an order it acknowledged, and
        until it matches the order is LIVE with nothing filled."""
        if meta.order is not None:
            return self.order_json(meta.order)
        return self._order_fields(
            meta.order_id,
            meta.owner,
            meta.token,
            meta.side,
            meta.price_micro,
            meta.size_micro,
            0,
            "LIVE",
            meta.order_type,
            meta.created_s,
        )

    def _order_fields(
        self,
        order_id: str,
        owner: str,
        token: str,
        side: BookSide,
        price: int,
        size: int,
        filled: int,
        status: str,
        order_type: str,
        created_s: int,
    ) -> dict[str, Any]:
        spec = self.token_spec[token]
        account = self.accounts.get(owner)
        return {
            "id": order_id,
            "status": status,
            "owner": owner,
            "maker_address": account.funder_address if account else "",
            "market": spec.condition_id,
            "asset_id": token,
            "side": "BUY" if side is _BID else "SELL",
            "original_size": _text(size),
            "size_matched": _text(filled),
            "price": _text(price),
            "outcome": "Yes" if token == spec.yes_token else "No",
            "expiration": "0",
            "order_type": order_type,
            "associate_trades": list(self._trades_by_order.get(order_id, ())),
            "created_at": str(created_s),
        }

    def _after_submit(self, order: SimOrder, fills: list[SimFill]) -> None:
        """User `order` events for the submitted order and every account's maker order it hit."""
        if order.owner in self.accounts:
            meta = self._metas.get(order.order_id)
            if meta is not None and not order.is_open:
                self._release(meta)
            if order.status is OrderStatus.OPEN:
                self._broadcast_user(
                    order.owner, self.order_json(order, "PLACEMENT" if not order.filled_micro else "UPDATE")
                )
            elif order.status is OrderStatus.FILLED:
                self._broadcast_user(order.owner, self.order_json(order, "UPDATE"))
            else:
                self._broadcast_user(order.owner, self.order_json(order, "CANCELLATION"))
        self._after_maker_fills(fills)

    def _after_maker_fills(self, fills: list[SimFill]) -> None:
        for fill in fills:
            meta = self._metas.get(fill.maker_order_id)
            if meta is None or meta.order is None:
                continue
            if not meta.order.is_open:
                self._release(meta)
            self._broadcast_user(meta.owner, self.order_json(meta.order, "UPDATE"))

    # -- sockets -----------------------------------------------------------------------------------

    def _enqueue(self, conn: _Conn, frame: str | list[Any] | dict[str, Any]) -> None:
        """Queue a frame for the connection's writer; a client too slow for the bounded queue is
        disconnected (the venue's answer to a slow consumer)."""
        if conn.stream == "market":
            self._count_book_events(frame)
        if conn.closed:
            return
        if len(conn.queue) >= conn.max_queued:
            self.stats["slow_consumer_disconnects"] += 1
            self._abort(conn)
            return
        conn.queue.append(frame)
        conn.wake.set()

    def _count_book_events(self, frame: str | list[Any] | dict[str, Any]) -> None:
        published = self.book_events_published
        for item in frame if isinstance(frame, list) else (frame,):
            if not isinstance(item, dict):
                continue
            kind = item.get("event_type")
            if kind == "book":
                published[item["asset_id"]] += 1
            elif kind == "price_change":
                for change in item["price_changes"]:
                    published[change["asset_id"]] += 1

    def _abort(self, conn: _Conn) -> None:
        conn.closed = True
        conn.queue.clear()
        conn.wake.set()
        transport = conn.ws.transport
        if transport is not None:
            transport.abort()

    def _broadcast_market(self, token: str, frame: dict[str, Any] | list[Any]) -> None:
        for conn in list(self._market_subs.get(token, ())):
            self._enqueue(conn, frame)

    def _broadcast_user(self, owner: str, frame: dict[str, Any]) -> None:
        for conn in list(self._user_conns.get(owner, ())):
            self._enqueue(conn, frame)

    async def _ws_handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        stream = "market" if path.startswith("/ws/market") else "user" if path.startswith("/ws/user") else ""
        if not stream:
            await ws.close(1008, "unknown path")
            return
        conn = _Conn(ws, stream, self.max_queued_frames)
        self.faults.connection_opened(stream)
        self._conns[conn] = None
        writer = asyncio.ensure_future(self._writer(conn))
        self._writers.add(writer)
        writer.add_done_callback(self._writers.discard)
        try:
            async for message in ws:
                if message == "PING":
                    self.stats["pings"] += 1
                    await ws.send("PONG")
                    continue
                try:
                    msg = orjson.loads(message)
                except orjson.JSONDecodeError:
                    continue
                if type(msg) is not dict:
                    continue
                if stream == "market":
                    self._market_subscription(conn, msg)
                elif not self._user_subscription(conn, msg):
                    await ws.close(1008, "invalid auth")
                    return
        except ConnectionClosed:
            pass
        finally:
            conn.closed = True
            writer.cancel()
            self._conns.pop(conn, None)
            for token in conn.assets:
                subs = self._market_subs.get(token)
                if subs is not None:
                    subs.pop(conn, None)
            owned = self._user_conns.get(conn.owner)
            if owned is not None:
                owned.pop(conn, None)
                if not owned:
                    del self._user_conns[conn.owner]

    def _market_subscription(self, conn: _Conn, msg: dict[str, Any]) -> None:
        assets = [a for a in msg.get("assets_ids") or () if isinstance(a, str) and a in self.engines]
        if isinstance(msg.get("custom_feature_enabled"), bool):
            conn.custom_features = msg["custom_feature_enabled"]
        if msg.get("operation") == "unsubscribe":
            for token in assets:
                conn.assets.discard(token)
                self._market_subs.get(token, {}).pop(conn, None)
            return
        new = [a for a in assets if a not in conn.assets]
        conn.assets.update(assets)
        for token in new:
            self._market_subs.setdefault(token, {})[conn] = None
        if new and msg.get("initial_dump", True):
            self._enqueue(conn, [self.book_json(a) for a in new])

    def _user_subscription(self, conn: _Conn, msg: dict[str, Any]) -> bool:
        auth = msg.get("auth")
        if not isinstance(auth, dict):
            return False
        account = self.accounts.get(auth.get("apiKey", ""))
        if account is None or auth.get("secret") != account.secret or auth.get("passphrase") != account.passphrase:
            self.stats["rejected_auth"] += 1
            return False
        conn.owner = account.api_key
        self._user_conns.setdefault(account.api_key, {})[conn] = None
        return True

    async def _writer(self, conn: _Conn) -> None:
        """Send queued frames through the fault injector (drop, freeze, corrupt, delay); frames ready
        together go out in one socket write (`send_texts`), each still its own message."""
        batch: list[str] = []
        try:
            while not conn.closed:
                if not conn.queue:
                    conn.wake.clear()
                    await conn.wake.wait()
                    continue
                while conn.queue and len(batch) < _WRITE_BATCH:
                    frame = conn.queue.popleft()
                    fault = self.faults.frame_fault(conn.stream, conn.frame_index)
                    conn.frame_index += 1
                    if fault is Fault.DROP_CONNECTION:
                        await self._flush(conn, batch)
                        self._abort(conn)
                        return
                    if fault is Fault.FREEZE:
                        continue
                    if fault is Fault.HASH_MISMATCH:
                        conn.corrupt_next_book = True
                    if conn.corrupt_next_book:
                        frame = self._corrupt(conn, frame)
                    delay = self.faults.jittered_latency_s()
                    if delay > 0:
                        await self._flush(conn, batch)
                        await self._sleep(delay)
                    batch.append(frame if isinstance(frame, str) else orjson.dumps(frame).decode())
                await self._flush(conn, batch)
        except (ConnectionClosed, asyncio.CancelledError):
            return

    async def _flush(self, conn: _Conn, batch: list[str]) -> None:
        if batch:
            await send_texts(conn.ws, batch)
            self.stats["frames"] += len(batch)
            batch.clear()

    @staticmethod
    def _corrupt(conn: _Conn, frame: Any) -> Any:
        books = [frame] if isinstance(frame, dict) else frame if isinstance(frame, list) else []
        for i, item in enumerate(books):
            if isinstance(item, dict) and item.get("event_type") == "book":
                bad = dict(item, hash=hashlib.sha1(("corrupt:" + item["hash"]).encode()).hexdigest())
                conn.corrupt_next_book = False
                if isinstance(frame, dict):
                    return bad
                return [*frame[:i], bad, *frame[i + 1 :]]
        return frame

    # -- REST: Gamma and Data API ----------------------------------------------------------------

    def gamma_market_json(self, spec: PolymarketMarketSpec) -> dict[str, Any]:
        state = self.market_state[spec.condition_id]
        schedule: FeeScheduleSpec | None = spec.fee_schedule
        if state.winner:
            prices = {"yes": ["1", "0"], "no": ["0", "1"], "void": ["0.5", "0.5"]}[state.winner]
        else:
            prices = [_text(spec.yes_mid_micro), _text(SCALE - spec.yes_mid_micro)]
        d: dict[str, Any] = {
            "id": spec.gamma_id,
            "question": spec.question,
            "conditionId": spec.condition_id,
            "slug": spec.slug or spec.condition_id[:12],
            "description": spec.description or f"Simulated market: {spec.question}",
            "outcomes": json.dumps(["Yes", "No"]),
            "outcomePrices": json.dumps(prices),
            "clobTokenIds": json.dumps([spec.yes_token, spec.no_token]),
            "active": True,
            "closed": state.closed,
            "acceptingOrders": not state.closed,
            "enableOrderBook": True,
            "orderPriceMinTickSize": state.tick_micro / SCALE,
            "orderMinSize": spec.min_order_size_micro / SCALE,
            "negRisk": spec.neg_risk,
            "negRiskOther": False,
            "groupItemTitle": spec.group_item_title,
            "startDate": "2026-01-01T00:00:00Z",
            "endDate": _end_date(spec),
            "feesEnabled": schedule is not None,
            "feeSchedule": None
            if schedule is None
            else {
                "rate": float(schedule.rate),
                "exponent": schedule.exponent,
                "takerOnly": schedule.taker_only,
                "rebateRate": float(schedule.rebate_rate),
            },
        }
        if state.winner:
            d["umaResolutionStatus"] = "resolved"
        if spec.neg_risk:
            d["negRiskMarketID"] = _neg_risk_market_id(spec)
        # Gamma nests the market's event (slim) in every market object; its negRiskAugmented flag
        # is what says a negRisk group lists every outcome
        event: dict[str, Any] = {"id": spec.event_id, "title": f"Event {spec.event_id}", "negRisk": spec.neg_risk}
        if spec.neg_risk:
            event["negRiskAugmented"] = False
            event["negRiskMarketID"] = _neg_risk_market_id(spec)
        d["events"] = [event]
        return d

    def _gamma_handler(self, request: HttpRequest) -> HttpResponse:
        if request.method != "GET":
            return HttpResponse.json(405, {"error": "method not allowed"})
        path = request.path
        if path == "/markets":
            specs = list(self.specs.values())
            ids = request.query_values("condition_ids")
            if ids:
                specs = [s for s in specs if s.condition_id in ids]
            if "slug" in request.query:
                specs = [s for s in specs if (s.slug or s.condition_id[:12]) == request.query["slug"]]
            closed = request.query.get("closed")
            if closed in ("true", "false"):
                specs = [s for s in specs if self.market_state[s.condition_id].closed == (closed == "true")]
            return HttpResponse.json(200, [self.gamma_market_json(s) for s in _window(specs, request.query)])
        if path.startswith("/markets/"):
            key = path[len("/markets/") :]
            for spec in self.specs.values():
                if key in (spec.gamma_id, spec.condition_id):
                    return HttpResponse.json(200, self.gamma_market_json(spec))
            return HttpResponse.json(404, {"error": _NO_MARKET})
        if path == "/events" or path.startswith("/events/"):
            events: dict[str, list[PolymarketMarketSpec]] = {}
            for spec in self.specs.values():
                events.setdefault(spec.event_id, []).append(spec)
            listing = []
            for event_id, specs in events.items():
                neg_risk = any(s.neg_risk for s in specs)
                event = {
                    "id": event_id,
                    "title": f"Event {event_id}",
                    "negRisk": neg_risk,
                    "negRiskAugmented": False,
                    "markets": [_without_events(self.gamma_market_json(s)) for s in specs],
                }
                if neg_risk:
                    event["negRiskMarketID"] = "0x" + hashlib.sha256(event_id.encode()).hexdigest()
                listing.append(event)
            if path.startswith("/events/"):
                wanted = path[len("/events/") :]
                found = [e for e in listing if e["id"] == wanted]
                return (
                    HttpResponse.json(200, found[0]) if found else HttpResponse.json(404, {"error": "event not found"})
                )
            return HttpResponse.json(200, _window(listing, request.query))
        if path == "/positions":
            account = self._accounts_by_funder.get((request.query.get("user") or "").lower())
            out = []
            if account is not None:
                for token, size in account.positions.items():
                    if size:
                        spec = self.token_spec[token]
                        out.append(
                            {
                                "proxyWallet": account.funder_address,
                                "asset": token,
                                "conditionId": spec.condition_id,
                                "size": size / SCALE,
                                "outcome": "Yes" if token == spec.yes_token else "No",
                            }
                        )
            return HttpResponse.json(200, out)
        return HttpResponse.json(404, {"error": _NO_ROUTE})

    # -- REST: CLOB --------------------------------------------------------------------------------

    def clob_market_json(self, spec: PolymarketMarketSpec) -> dict[str, Any]:
        """CLOB `GET /markets/{condition_id}` (and an item of the paged `GET /markets`): the key set
        of the venue's answer (captured in tests/fixtures/venues/polymarket/rest/)."""
        state = self.market_state[spec.condition_id]
        schedule = spec.fee_schedule
        base_fee = int(state.fee_rate_bps) if schedule is not None else 0
        return {
            "enable_order_book": True,
            "active": True,
            "closed": state.closed,
            "archived": False,
            "accepting_orders": not state.closed,
            "accepting_order_timestamp": "2026-01-01T00:00:00Z",
            "minimum_order_size": spec.min_order_size_micro / SCALE,
            "minimum_tick_size": state.tick_micro / SCALE,
            "condition_id": spec.condition_id,
            "question_id": _question_id(spec),
            "question": spec.question,
            "description": spec.description or f"Simulated market: {spec.question}",
            "market_slug": spec.slug or spec.condition_id[:12],
            "end_date_iso": _end_date(spec),
            "game_start_time": None,
            "seconds_delay": 0,
            "fpmm": "",
            "maker_base_fee": 0,
            "taker_base_fee": base_fee,
            "notifications_enabled": False,
            "neg_risk": spec.neg_risk,
            "neg_risk_market_id": _neg_risk_market_id(spec) if spec.neg_risk else "",
            "neg_risk_request_id": _question_id(spec) if spec.neg_risk else "",
            "icon": "",
            "image": "",
            "rewards": {"rates": None, "min_size": 0, "max_spread": 0},
            "is_50_50_outcome": False,
            "tokens": [
                {
                    "token_id": token,
                    "outcome": outcome,
                    "price": 0.5 if state.winner in ("", "void") else float(state.winner == side),
                    "winner": state.winner == side,
                }
                for token, outcome, side in ((spec.yes_token, "Yes", "yes"), (spec.no_token, "No", "no"))
            ],
            "tags": [],
        }

    def clob_market_info_json(self, spec: PolymarketMarketSpec) -> dict[str, Any]:
        """`GET /clob-markets/{condition_id}`, the compact form the v2 client caches tick size, neg
        risk and fee details from: `c` condition, `t` tokens (`t` id, `o` outcome), `mts` tick,
        `mos` minimum size, `mbf`/`tbf` base fees (bps), `ao` accepting orders, `nr` neg risk
        (left out when false), `fd` fee details (`r` rate, `e` exponent, `to` taker only; left out
        on a market without fees)."""
        state = self.market_state[spec.condition_id]
        d: dict[str, Any] = {
            "c": spec.condition_id,
            "t": [{"t": spec.yes_token, "o": "Yes"}, {"t": spec.no_token, "o": "No"}],
            "mts": state.tick_micro / SCALE,
            "mos": spec.min_order_size_micro / SCALE,
            "mbf": 0,
            "tbf": int(state.fee_rate_bps) if spec.fee_schedule is not None else 0,
            "ao": not state.closed,
        }
        if spec.neg_risk:
            d["nr"] = True
        schedule = spec.fee_schedule
        if schedule is not None:
            d["fd"] = {"r": float(state.fee_rate), "e": state.fee_exponent, "to": schedule.taker_only}
        return d

    def _authenticate(self, request: HttpRequest) -> PolymarketAccount | None:
        """The account whose L2 headers sign this request: HMAC-SHA256 with the url-safe base64
        secret over timestamp + METHOD + path + body, url-safe base64 encoded (docs/venues.md#polymarket-auth)."""
        h = request.headers
        account = self.accounts.get(h.get("poly_api_key", ""))
        if account is None or h.get("poly_passphrase") != account.passphrase:
            return None
        if (h.get("poly_address") or "").lower() != account.signer_address.lower():
            return None
        timestamp = h.get("poly_timestamp") or ""
        if not timestamp.isdigit():
            return None
        message = f"{timestamp}{request.method}{request.path}"
        if request.body:
            message += request.body.decode(errors="replace").replace("'", '"')
        try:
            key = base64.urlsafe_b64decode(account.secret)
        except (binascii.Error, ValueError):
            return None
        expected = base64.urlsafe_b64encode(hmac.new(key, message.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, h.get("poly_signature") or ""):
            return None
        return account

    async def _clob_handler(self, request: HttpRequest) -> HttpResponse:
        method, path = request.method, request.path
        self.check_heartbeats()
        if method == "GET":
            public = self._public_get(request)
            if public is not None:
                return public
        route = (method, path)
        if route not in _PRIVATE and not (method == "GET" and path.startswith("/data/order/")):
            return HttpResponse.json(404, {"error": _NO_ROUTE})
        account = self._authenticate(request)
        if account is None:
            self.stats["rejected_auth"] += 1
            return HttpResponse.json(401, {"error": "Unauthorized/Invalid api key"})
        if route == ("POST", "/order"):
            return await self._post_order(account, request)
        if route == ("POST", "/orders"):
            return self._post_orders(account, request)
        if route == ("POST", "/v1/heartbeats"):
            return self._heartbeat(account, request)
        if method == "DELETE":
            return self._cancel(account, path, request)
        if path == "/data/orders":
            metas = [m for m in account.resting.values() if self._order_matches(m, request.query)]
            orders = [self.meta_json(m) for m in metas]
            try:
                return HttpResponse.json(200, self._cursor_page(orders, request.query.get("next_cursor")))
            except ValueError:
                return HttpResponse.json(400, {"error": "invalid order params payload"})
        if path.startswith("/data/order/"):
            meta = account.orders.get(path[len("/data/order/") :])
            if meta is None:
                return HttpResponse.json(404, {"error": "order not found"})
            return HttpResponse.json(200, self.meta_json(meta))
        if path == "/data/trades":
            try:
                items = self._trades_of(account, request.query)
                return HttpResponse.json(200, self._cursor_page(items, request.query.get("next_cursor")))
            except ValueError:
                return HttpResponse.json(400, {"error": "Invalid trade params payload"})
        return self._balance_allowance(account, request.query)

    def _public_get(self, request: HttpRequest) -> HttpResponse | None:
        """The CLOB's public reads, or None when the path is not one of them."""
        path, query = request.path, request.query
        if path == "/time":
            return HttpResponse.json(200, self._now_ms() // 1000)
        if path == "/ok":
            return HttpResponse.json(200, "OK")
        if path == "/version":
            return HttpResponse.json(200, {"version": 2})
        if path == "/markets":
            listing = [self.clob_market_json(s) for s in self.specs.values()]
            try:
                return HttpResponse.json(200, self._cursor_page(listing, query.get("next_cursor")))
            except ValueError:
                return HttpResponse.json(400, {"error": "Invalid next_cursor"})
        for prefix, view in (("/markets/", self.clob_market_json), ("/clob-markets/", self.clob_market_info_json)):
            if path.startswith(prefix):
                spec = self.specs.get(path[len(prefix) :])
                if spec is None:
                    return HttpResponse.json(404, {"error": _NO_MARKET})
                return HttpResponse.json(200, view(spec))
        if path.startswith("/markets-by-token/"):
            spec = self.token_spec.get(path[len("/markets-by-token/") :])
            if spec is None:
                return HttpResponse.json(404, {"error": _NO_MARKET})
            return HttpResponse.json(
                200,
                {
                    "condition_id": spec.condition_id,
                    "primary_token_id": spec.yes_token,
                    "secondary_token_id": spec.no_token,
                },
            )
        if path not in _TOKEN_READS:
            return None
        token = query.get("token_id", "")
        if not token:
            return HttpResponse.json(400, {"error": _BAD_TOKEN_ID})
        spec = self.token_spec.get(token)
        if spec is None:
            missing = _NO_MARKET if path in ("/tick-size", "/neg-risk", "/fee-rate") else _NO_BOOK
            return HttpResponse.json(404, {"error": missing})
        state = self.market_state[spec.condition_id]
        engine = self.engines[token]
        best_bid, best_ask = engine.best_bid(), engine.best_ask()
        if path == "/book":
            return HttpResponse.json(200, self.book_json(token, rest=True))
        if path == "/tick-size":
            return HttpResponse.json(200, {"minimum_tick_size": state.tick_micro / SCALE})
        if path == "/neg-risk":
            return HttpResponse.json(200, {"neg_risk": spec.neg_risk})
        if path == "/fee-rate":
            return HttpResponse.json(200, {"base_fee": int(state.fee_rate_bps) if spec.fee_schedule else 0})
        if path == "/last-trade-price":
            last = self.last_trade.get(token)
            side = self.last_trade_side.get(token, "")
            return HttpResponse.json(200, {"price": "0" if last is None else _text(last), "side": side})
        if path == "/price":
            side = query.get("side", "")
            if side not in ("BUY", "SELL"):
                return HttpResponse.json(400, {"error": "Invalid side"})
            # As the venue documents it: the best bid for BUY, the best ask for SELL.
            best = best_bid if side == "BUY" else best_ask
            if best is None:
                return HttpResponse.json(404, {"error": _NO_BOOK})
            return HttpResponse.json(200, {"price": _text(best[0])})
        if best_bid is None or best_ask is None:
            return HttpResponse.json(404, {"error": _NO_BOOK})
        if path == "/midpoint":
            # prices sit on a tick of at least 100 micro, so the mean is a whole micro amount
            return HttpResponse.json(200, {"mid": _text((best_bid[0] + best_ask[0]) // 2)})
        return HttpResponse.json(200, {"spread": _text(best_ask[0] - best_bid[0])})  # /spread

    def _order_matches(self, meta: _OrderMeta, query: dict[str, str]) -> bool:
        """`/data/orders` filters: `id`, `market` (condition id), `asset_id` (token id)."""
        if query.get("id") and meta.order_id != query["id"]:
            return False
        if query.get("market") and self.token_spec[meta.token].condition_id != query["market"]:
            return False
        return not query.get("asset_id") or meta.token == query["asset_id"]

    def _trades_of(self, account: PolymarketAccount, query: dict[str, str]) -> list[dict[str, Any]]:
        """The account's `/data/trades` items, filtered by `id`, `market`, `asset_id`, `maker_address`
        (an address on the trade: the taker's or a maker order's) and `before`/`after` (unix
        seconds, exclusive, on the match time); a non-numeric bound raises ValueError."""
        before = int(query["before"]) if query.get("before") else None
        after = int(query["after"]) if query.get("after") else None
        wanted_address = (query.get("maker_address") or "").lower()
        out = []
        for trade_id in account.trade_ids:
            trade = self.trades.get(trade_id)
            if trade is None:
                continue
            if query.get("id") and trade_id != query["id"]:
                continue
            if query.get("market") and trade.market != query["market"]:
                continue
            if query.get("asset_id") and trade.fill.book_id != query["asset_id"]:
                continue
            if before is not None and not trade.match_time_s < before:
                continue
            if after is not None and not trade.match_time_s > after:
                continue
            item = self.trade_json(trade, account.api_key)
            if wanted_address:
                addresses = {item["maker_address"].lower()} | {m["maker_address"].lower() for m in item["maker_orders"]}
                if wanted_address not in addresses:
                    continue
            out.append(item)
        return out

    def _balance_allowance(self, account: PolymarketAccount, query: dict[str, str]) -> HttpResponse:
        """`GET /balance-allowance` (and `/balance-allowance/update`, which answers the same):
        COLLATERAL -> the whole pUSD balance; CONDITIONAL with `token_id` -> that token's balance;
        allowances to the v2 exchanges and the neg-risk adapter are unlimited."""
        if query.get("signature_type", "0") not in ("0", "1", "2", "3"):
            return HttpResponse.json(400, {"error": "Invalid signature_type"})
        asset_type = query.get("asset_type", "")
        if asset_type == "COLLATERAL":
            balance = account.cash_micro
        elif asset_type == "CONDITIONAL":
            token = query.get("token_id", "")
            if token not in self.token_spec:
                return HttpResponse.json(400, {"error": _BAD_TOKEN_ID})
            balance = account.positions.get(token, 0)
        else:
            return HttpResponse.json(400, {"error": "Invalid asset type"})
        contracts = self._contracts
        spenders = (contracts.exchange_v2, contracts.neg_risk_exchange_v2, contracts.neg_risk_adapter)
        return HttpResponse.json(200, {"balance": str(balance), "allowances": dict.fromkeys(spenders, _UNLIMITED)})

    def _heartbeat(self, account: PolymarketAccount, request: HttpRequest) -> HttpResponse:
        """`POST /v1/heartbeats {"heartbeat_id"}`: the first (empty id) starts the dead-man switch,
        each answer names the id the next one must carry; once started, no heartbeat for
        `heartbeat_timeout_ms` cancels all the account's orders (see `check_heartbeats`)."""
        try:
            sent = orjson.loads(request.body)["heartbeat_id"]
            if not isinstance(sent, str):
                raise TypeError
        except (KeyError, TypeError, orjson.JSONDecodeError):
            return HttpResponse.json(400, {"error": "Invalid heartbeat payload"})
        expected = self._heartbeat_ids.get(account.api_key)
        if sent and sent != expected:
            return HttpResponse.json(400, {"error": "Invalid Heartbeat ID", "heartbeat_id": expected or ""})
        heartbeat_id = self._next_id("heartbeat")
        self._heartbeat_ids[account.api_key] = heartbeat_id
        self._heartbeat_ms[account.api_key] = self._now_ms()
        return HttpResponse.json(200, {"heartbeat_id": heartbeat_id})

    def check_heartbeats(self) -> list[str]:
        """Cancel every order of an account whose heartbeats stopped (the venue's dead-man switch);
        runs on each CLOB request and each `step()`. Returns the accounts that were cut off."""
        if not self._heartbeat_ms:
            return []
        now = self._now_ms()
        expired = [key for key, at in self._heartbeat_ms.items() if now - at > self.heartbeat_timeout_ms]
        for key in expired:
            del self._heartbeat_ms[key]
            self._heartbeat_ids.pop(key, None)
            account = self.accounts[key]
            self._cancel_ids(account, list(account.resting))
        return expired

    def _cursor_page(self, items: list[Any], cursor: str | None) -> dict[str, Any]:
        """One page from `cursor` (base64 of the start offset; "MA==" the first page); a cursor
        that is not one of ours raises ValueError (answered 400)."""
        start = 0
        if cursor and cursor not in ("MA==", "LTE="):
            try:
                start = int(base64.b64decode(cursor, validate=True).decode("ascii"))
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ValueError(f"bad cursor {cursor!r}") from exc
            if start < 0:
                raise ValueError(f"bad cursor {cursor!r}")
        page = items[start : start + self.page_size]
        end = start + len(page)
        next_cursor = "LTE=" if end >= len(items) else base64.b64encode(str(end).encode()).decode()
        return {"data": page, "next_cursor": next_cursor, "limit": self.page_size, "count": len(page)}

    def _verify_order(self, account: PolymarketAccount, order: dict[str, Any], neg_risk: bool) -> str:
        """The order hash (its id) if the EIP-712 signature recovers to the account's signer."""
        signed = OrderV2(
            salt=str(order["salt"]),
            maker=order["maker"],
            signer=order["signer"],
            tokenId=order["tokenId"],
            makerAmount=order["makerAmount"],
            takerAmount=order["takerAmount"],
            side=ClobSide.BUY if order["side"] == "BUY" else ClobSide.SELL,
            signatureType=SignatureTypeV2(int(order["signatureType"])),
            timestamp=order["timestamp"],
            metadata=order["metadata"],
            builder=order["builder"],
            expiration=order.get("expiration", "0"),
        )
        exchange = self._contracts.neg_risk_exchange_v2 if neg_risk else self._contracts.exchange_v2
        builder = ExchangeOrderBuilderV2(exchange, self.chain_id, None)
        typed = builder.build_order_typed_data(signed)
        try:
            recovered = Account.recover_message(encode_typed_data(full_message=typed), signature=order["signature"])
        except BadSignature as exc:  # the right length, but no key recovers from it
            raise PolymarketRefusal("invalid signature") from exc
        if recovered.lower() != str(order["signer"]).lower():
            raise PolymarketRefusal("invalid signature")
        if recovered.lower() != account.signer_address.lower():
            raise PolymarketRefusal("the order signer address has to be the address of the API KEY")
        if str(order["maker"]).lower() != account.funder_address.lower():
            raise PolymarketRefusal("maker address not allowed, please use the deposit wallet flow")
        return str(builder.build_order_hash(typed))

    async def _post_order(self, account: PolymarketAccount, request: HttpRequest) -> HttpResponse:
        """`POST /order`: 200 with the order answer, or the venue's 400 `{"error": ...}`."""
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return HttpResponse.json(400, {"error": _BAD_PAYLOAD})
        status, answer = self._submit_signed(account, body)
        return self._answer_lost("orderID" in answer) or HttpResponse.json(status, answer)

    def _post_orders(self, account: PolymarketAccount, request: HttpRequest) -> HttpResponse:
        """`POST /orders` (a batch of the `POST /order` bodies, at most `_MAX_BATCH`): each is
        processed in turn; 200 with one answer per order, a refused one as `{"success": false,
        "errorMsg": <the venue's message>, ...}`."""
        try:
            items = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return HttpResponse.json(400, {"error": _BAD_PAYLOAD})
        if type(items) is not list or not items:
            return HttpResponse.json(400, {"error": _BAD_PAYLOAD})
        if len(items) > _MAX_BATCH:
            return HttpResponse.json(
                400, {"error": f"Too many orders in payload: {len(items)}, max allowed: {_MAX_BATCH}"}
            )
        answers = []
        processed = False
        for item in items:
            status, answer = self._submit_signed(account, item)
            processed = processed or "orderID" in answer
            if status != 200:
                answer = {**_answer(str(answer.get("orderID", "")), ""), "success": False, "errorMsg": answer["error"]}
            answers.append(answer)
        return self._answer_lost(processed) or HttpResponse.json(200, answers)

    def _answer_lost(self, processed: bool) -> HttpResponse | None:
        """The `answer_500_after_processing` fault: a 500 in place of the answer of an order post
        that took effect (`processed`), or None."""
        if self.answer_500_after_processing > 0 and processed:
            self.answer_500_after_processing -= 1
            return HttpResponse.json(500, {"error": _LOST_EXECUTION})
        return None

    def _submit_signed(self, account: PolymarketAccount, body: Any) -> tuple[int, dict[str, Any]]:
        """Check, reserve for and execute one signed order body `{"order", "owner", "orderType",
        "postOnly"}`; (200, answer) or (400, `{"error": ...}`). An answer naming `orderID` means the
        order reached the book (refused ones before matching carry no id)."""
        self.stats["orders"] += 1
        try:
            order = body["order"]
            order_type = body["orderType"]
            spec = self.token_spec[str(order["tokenId"])]
            token = str(order["tokenId"])
            if body.get("owner") != account.api_key:
                return 400, {"error": "the order owner has to be the owner of the API KEY"}
            order_id = self._verify_order(account, order, spec.neg_risk)
            maker, taker = int(order["makerAmount"]), int(order["takerAmount"])
            buying = order["side"] == "BUY"
            if maker <= 0 or taker <= 0 or order_type not in _TIF or order["side"] not in ("BUY", "SELL"):
                raise ValueError("invalid amounts, side or order type")
        except PolymarketRefusal as exc:
            self.stats["bad_signature"] += 1
            return 400, exc.body_json()
        # EncodingError: a maker or signer that is not an address
        except (KeyError, TypeError, ValueError, AttributeError, EncodingError):
            return 400, {"error": _BAD_PAYLOAD}
        if order_id in self._metas:
            return 400, {"error": f"order {order_id} is invalid. Duplicated."}
        tick = self.market_state[spec.condition_id].tick_micro
        if buying:
            price = maker * SCALE // taker // tick * tick
            size = taker
        else:
            price = -(-(taker * SCALE // maker) // tick) * tick
            size = maker
        try:
            if order_type in _MARKET_ORDER_TYPES:
                _check_market_order_amounts(buying, maker, taker)
            meta = self._accept(
                account,
                order_id,
                token,
                _BID if buying else _ASK,
                price,
                size,
                order_type,
                post_only=bool(body.get("postOnly")),
                spend_limit=maker if buying else None,
            )
        except PolymarketRefusal as exc:
            return 400, exc.body_json()
        tif = _TIF[order_type]
        fill_limit = self.faults.partial_fill_limit(size, _LOT, token)
        if tif is TimeInForce.IOC and self.faults.ack_then_fill:
            self.delayed.append((meta, tif, fill_limit))
            if self.faults.fill_later_s > 0:
                task = asyncio.ensure_future(self._release_later(self.faults.fill_later_s))
                self._release_tasks.add(task)  # a reference keeps the task alive until it runs
                task.add_done_callback(self._release_tasks.discard)
            return 200, _answer(order_id, "live")
        return self._execute(meta, tif, fill_limit)

    def place(
        self,
        api_key: str,
        token: str,
        side: BookSide,
        price_micro: int,
        size_micro: int,
        order_type: str = "GTC",
        *,
        post_only: bool = False,
    ) -> SimOrder:
        """An account's order without the signed envelope (tests, scenario replays): the same checks,
        reservations, matching and messages as `POST /order` (a FOK/FAK order's amounts are the ones
        it would sign: `size x price` and `size`); a refusal raises `PolymarketRefusal`. The order
        id is drawn like the venue's order hashes."""
        account = self.accounts.get(api_key)
        if account is None:
            raise ConfigError(f"unknown polymarket account {api_key!r}")
        if token not in self.engines:
            raise PolymarketRefusal(f"unknown token {token}")
        if order_type not in _TIF:
            raise PolymarketRefusal(f"unknown order type {order_type}")
        if order_type in _MARKET_ORDER_TYPES:  # the amounts this order would sign
            cash = Fraction(size_micro * price_micro, SCALE)
            buying = side is _BID
            _check_market_order_amounts(buying, cash if buying else size_micro, size_micro if buying else cash)
        order_id = "0x" + f"{self._rng.getrandbits(256):064x}"
        meta = self._accept(account, order_id, token, side, price_micro, size_micro, order_type, post_only=post_only)
        self._execute(meta, _TIF[order_type], None)
        assert meta.order is not None
        return meta.order

    def _accept(
        self,
        account: PolymarketAccount,
        order_id: str,
        token: str,
        side: BookSide,
        price: int,
        size: int,
        order_type: str,
        *,
        post_only: bool = False,
        spend_limit: int | None = None,
    ) -> _OrderMeta:
        """Check an order as the venue does and reserve its cash (BUY: its signed spend, at least
        price x size, plus the worst taker fee) or tokens (SELL); refusals raise `PolymarketRefusal`
        (no balance with the venue's `{"error": "not enough balance / allowance"}`)."""
        spec = self.token_spec[token]
        state = self.market_state[spec.condition_id]
        if state.closed:
            raise PolymarketRefusal("market is closed, not accepting orders")
        tick = state.tick_micro
        if price % tick or not tick <= price <= SCALE - tick:
            raise PolymarketRefusal(
                f"order {order_id} is invalid. Price ({_text(price)}) breaks minimum tick size rule: {_text(tick)}"
            )
        if size < spec.min_order_size_micro:
            raise PolymarketRefusal(
                f"order {order_id} is invalid. Size ({_text(size)}) lower than the minimum: "
                f"{_text(spec.min_order_size_micro)}"
            )
        if post_only:
            if order_type not in ("GTC", "GTD"):
                raise PolymarketRefusal("invalid post-only order: only GTC and GTD orders can be post-only")
            if self.engines[token].crosses(side, price):
                raise PolymarketRefusal(_POST_ONLY_CROSSES)
        meta = _OrderMeta(order_id, account.api_key, token, side, price, size, order_type, self._now_ms() // 1000)
        if side is _BID:
            cash = size * price // SCALE if spend_limit is None else max(spend_limit, size * price // SCALE)
            fee = sim_fees.polymarket_worst_fee_micro(state.fee_rate, state.fee_exponent, price, size, buying=True)
            if cash + fee > account.available_cash_micro:
                self.stats["no_balance"] += 1
                raise PolymarketRefusal(_NO_BALANCE)
            meta.cash_left, meta.fee_left = cash, fee
            account.reserved_cash_micro += cash + fee
        else:
            if size > account.available_tokens(token):
                self.stats["no_balance"] += 1
                raise PolymarketRefusal(_NO_BALANCE)
            meta.tokens_left = size
            account.reserved_tokens[token] = account.reserved_tokens.get(token, 0) + size
        self._metas[order_id] = meta
        account.orders[order_id] = meta
        account.resting[order_id] = meta
        return meta

    def _execute(self, meta: _OrderMeta, tif: TimeInForce, fill_limit: int | None) -> tuple[int, dict[str, Any]]:
        """Match an accepted order; the venue's answer: 200 "matched" (with trades, amounts and
        settlement hashes) or "live", or 400 `{"error", "orderID"}` for a FOK that cannot fill in
        full and a FAK that found nothing to match."""
        engine = self.engines[meta.token]
        self._forced_id = meta.order_id
        result = engine.submit(
            meta.owner, meta.side, meta.price_micro, meta.size_micro, tif, fill_limit_micro=fill_limit
        )
        self._forced_id = None
        meta.order = result.order
        self._publish(meta.token, result.fills, result.deltas)
        self._after_submit(result.order, result.fills)
        order = result.order
        order_id = meta.order_id
        if order.cancel_reason is CancelReason.FOK_NOT_FILLABLE:
            return 400, {"error": _FOK_KILLED, "orderID": order_id}
        if order.filled_micro:
            trade_ids = [
                t for t in self._trades_by_order.get(order_id, ()) if self.trades[t].fill.taker_order_id == order_id
            ]
            spent = sum(f.size_micro * f.price_micro_usd // SCALE for f in result.fills)
            making, taking = (spent, order.filled_micro) if meta.side is _BID else (order.filled_micro, spent)
            return 200, {
                "success": True,
                "errorMsg": "",
                "orderID": order_id,
                "status": "matched",
                "tradeIDs": trade_ids,
                "makingAmount": _text(making),
                "takingAmount": _text(taking),
                "transactionsHashes": [self.trades[t].tx_hash for t in trade_ids],
            }
        if tif is TimeInForce.IOC:
            return 400, {"error": _FAK_NO_MATCH, "orderID": order_id}
        return 200, _answer(order_id, "live" if order.status is OrderStatus.OPEN else "unmatched")

    async def _release_later(self, delay_s: float) -> None:
        await self._sleep(delay_s)
        self.release_delayed()

    def release_delayed(self) -> int:
        """Match the FAK orders that were acknowledged "live" (the ack-then-fill fault)."""
        pending, self.delayed = self.delayed, []
        for meta, tif, fill_limit in pending:
            self._execute(meta, tif, fill_limit)
        return len(pending)

    def _cancel(self, account: PolymarketAccount, path: str, request: HttpRequest) -> HttpResponse:
        """`DELETE /order {"orderID"}`, `/orders [ids]`, `/cancel-all`, `/cancel-market-orders
        {"market"?, "asset_id"?}`: 200 `{"canceled": [...], "not_canceled": {id: reason}}`."""
        if path == "/cancel-all":
            return HttpResponse.json(200, self._cancel_ids(account, list(account.resting)))
        try:
            body = orjson.loads(request.body) if request.body else {}
            if path == "/cancel-market-orders":
                market, asset = body.get("market") or "", body.get("asset_id") or ""
                if not isinstance(market, str) or not isinstance(asset, str):
                    raise TypeError
                ids = [
                    m.order_id
                    for m in account.resting.values()
                    if (not market or self.token_spec[m.token].condition_id == market)
                    and (not asset or m.token == asset)
                ]
            else:
                if path == "/orders" and type(body) is not list:  # an array of ids, not an object or a string
                    raise TypeError
                ids = [body["orderID"]] if path == "/order" else list(body)
                if not all(isinstance(i, str) and i for i in ids):
                    raise TypeError
        except (KeyError, TypeError, AttributeError, orjson.JSONDecodeError):
            return HttpResponse.json(400, {"error": _BAD_PAYLOAD})
        return HttpResponse.json(200, self._cancel_ids(account, ids))

    def _cancel_ids(self, account: PolymarketAccount, ids: list[str]) -> dict[str, Any]:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        for order_id in ids:
            meta = account.orders.get(order_id)
            if meta is None:
                not_canceled[order_id] = "order not found"
                continue
            if meta.order is None:  # acknowledged, not matched yet: the venue is still working it
                not_canceled[order_id] = "order can't be canceled - it is being matched"
                continue
            result = self.engines[meta.token].cancel(order_id)
            if result.canceled:
                canceled.append(order_id)
                self._release(meta)
                self._publish(meta.token, [], result.deltas)
                self._broadcast_user(account.api_key, self.order_json(meta.order, "CANCELLATION"))
            else:
                not_canceled[order_id] = "order can't be found - already canceled or matched"
        return {"canceled": canceled, "not_canceled": not_canceled}


_PRIVATE = {
    ("POST", "/order"),
    ("POST", "/orders"),
    ("POST", "/v1/heartbeats"),
    ("DELETE", "/order"),
    ("DELETE", "/orders"),
    ("DELETE", "/cancel-all"),
    ("DELETE", "/cancel-market-orders"),
    ("GET", "/data/orders"),
    ("GET", "/data/trades"),
    ("GET", "/balance-allowance"),
    ("GET", "/balance-allowance/update"),
}
# Public reads keyed by `token_id`.
_TOKEN_READS = frozenset(
    {"/book", "/tick-size", "/neg-risk", "/fee-rate", "/midpoint", "/price", "/spread", "/last-trade-price"}
)


def _without_events(market: dict[str, Any]) -> dict[str, Any]:
    """A market nested in its event carries no `events` of its own."""
    return {key: value for key, value in market.items() if key != "events"}


def _end_date(spec: PolymarketMarketSpec) -> str:
    if spec.end_date_ms is None:
        return "2026-12-31T00:00:00Z"
    return datetime.datetime.fromtimestamp(spec.end_date_ms / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _question_id(spec: PolymarketMarketSpec) -> str:
    return "0x" + hashlib.sha256(("question:" + spec.condition_id).encode()).hexdigest()


def _neg_risk_market_id(spec: PolymarketMarketSpec) -> str:
    return "0x" + hashlib.sha256(spec.event_id.encode()).hexdigest()


def _check_market_order_amounts(buying: bool, maker: int | Fraction, taker: int | Fraction) -> None:
    """Refuse a FOK/FAK order whose signed amounts carry more decimals than the venue takes for
    market orders, with the venue's 400 `{"error": ...}`."""
    if maker % _MARKET_MAKER_STEP or taker % _MARKET_TAKER_STEP:
        kind = "buy" if buying else "sell"
        raise PolymarketRefusal(
            f"invalid amounts, the market {kind} orders maker amount supports a max accuracy of 2 decimals, "
            "taker amount a max of 4 decimals"
        )


def _answer(order_id: str, status: str) -> dict[str, Any]:
    """An order post answer with nothing matched yet."""
    return {
        "success": True,
        "errorMsg": "",
        "orderID": order_id,
        "status": status,
        "takingAmount": "",
        "makingAmount": "",
    }


def _window(items: list[Any], query: dict[str, str]) -> list[Any]:
    try:
        offset = max(0, int(query.get("offset", "0")))
        limit = max(1, int(query.get("limit", "100")))
    except ValueError:
        return items
    return items[offset : offset + limit]
