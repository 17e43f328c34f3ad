"""A simulated Kalshi on loopback: REST (`LoopbackHttpServer`) and WebSocket (websockets) servers that
speak the subset of the Trade API v2 the adapter and the official SDK (kalshi-python-sync 3.34) use,
in the current wire shapes (`*_dollars` prices, `*_fp` counts), with RSA-PSS signatures checked on
every REST request and on the socket handshake (401 otherwise). Orders are parsed and signatures
verified by this module's own code, not the adapter's: a reference must not share code with what it
checks.

Orders arrive through the legacy routes (`/portfolio/orders`: side yes|no plus action) or the V2
event-order routes (`/portfolio/events/orders`: create, batched create and cancel, cancel, cancel
all, amend, decrease; side bid|ask on the YES book, the YES price, required time in force and
self-trade prevention), both placed through `submit`; the V2 wire, its refusals ({"error": {"code",
"message", "details"}}) and the 409 of a killed FOK are in docs/venues.md#kalshi-v2-orders.

Books: one `MatchingEngine` per ticker holding the YES ladder. An order on the NO contract is the
mirror order on that ladder (docs/venues.md#kalshi-book): buy YES at p = BID p, sell YES at p = ASK p,
buy NO at p = ASK 1 - p, sell NO at p = BID 1 - p. The feed publishes Kalshi's bid-only view:
`yes_dollars_fp` = the bids, `no_dollars_fp` = (1 - p) for every ask. `set_book`/`set_level` set
the "house" liquidity directly (see `liquidity.py`) and publish the changes as deltas (or, with
`publish="snapshot"`, as a fresh `orderbook_snapshot` on every subscription).

Accounts (one per API key id; other owners - scripted participants, the house - are unconstrained):
- A position per market is one signed count, YES positive and NO negative: Kalshi nets, so an order
  toward YES first closes held NO contracts (each closed pair pays back $1 - the YES price) and only
  the rest opens YES at its price, and the other way round. A "sale" of contracts not held is
  therefore not refused as such: selling YES beyond the YES held opens NO (the deprecated
  `sell_position_floor` flag existed to stop exactly this flip), and needs the cash for it;
  `reduce_only` orders that would open anything are refused.
- Cash is reserved when an order is accepted, as the venue reserves buying power: the opening part
  at its limit cost plus the most its taker fee can be at any price the limit allows; the closing
  part commits held contracts instead (two resting orders cannot close the same contracts). An order
  whose reservation exceeds the available balance (cash minus what resting orders hold) is refused
  with HTTP 400 `{"error": {"code": "insufficient_balance", ...}}`. Reservations are released as
  the order fills (its real cost and fee are charged instead) and when it ends; if another order's
  fill netted the contracts an order had committed, that order's commitment becomes a cash
  reservation at its own limit (the freed cash always covers it).
- `GET /portfolio/balance`: `balance` (cents) and `balance_dollars` are the available balance;
  `portfolio_value` adds reserved cash and the positions at cost.
- Fees are charged per fill by the rule in `fees.py` (per fill up to $0.0001, per order to the cent
  through an accumulator per order and role) and reported on the fill (`fee_cost`, the balance
  change) and the order (`taker_fees_dollars`, `maker_fees_dollars`).
- `settle(ticker, "yes" | "no" | "void")`: resting orders are cancelled, the market is `determined`
  (lifecycle `determined` with `result` and `settlement_value`), winning contracts pay $1 (void: every
  position is returned at its cost basis, as the venue describes a voided market), positions are
  cleared (`market_position` with 0), a settlement record is kept for `GET /portfolio/settlements`,
  and the market is `finalized` (lifecycle `settled`).

Socket: `subscribe` (one sid per channel), `unsubscribe`, `update_subscription` (add_markets,
delete_markets, get_snapshot), `list_subscriptions`; it publishes `orderbook_snapshot`/
`orderbook_delta`, `trade`, `fill`, `user_order`, `market_position` and `market_lifecycle_v2`
(the `ticker` channel can be subscribed but stays quiet). `seq` counts per sid (snapshots, deltas,
trades, lifecycle, ok/unsubscribed replies); `fill`, `user_order` and `market_position` go only to
their owner's connections and carry no seq, as on Kalshi. Each connection has one writer task, so
frames leave in the order they were made, from a bounded queue (`max_queued_frames`): a client too
slow to keep up overflows it, and the venue's slow-consumer answer follows - error code 25
("subscription buffer overflow", terminal) for the subscription whose frame did not fit, that
subscription dropped and its queued frames discarded; the client resubscribes.

Faults (`FaultInjector`, stream name `stream`): DROP_CONNECTION aborts the socket instead of sending
a frame, FREEZE swallows frames (websockets still answers pings; `ping_all` sends the server's
"heartbeat" pings), SEQUENCE_GAP loses the next `orderbook_delta` frame (its seq number is used, its
change never arrives), 429/500 answers come from the HTTP server, `partial_fill_limit` caps how
much of an API order matches at once, latency delays every answer and frame. Order POSTs can also be
processed and then answered 500 or never (`fail_next_order_response`), the ambiguous case.
`partition()` cuts the venue off until `heal()`: REST and socket connections are aborted and new
ones refused (the venue itself goes on: resting orders may fill meanwhile).

Bounded work: orders, fills and client order ids are found through indexes, GTD expiry pops a heap,
publishing walks only the subscriptions of the market concerned; terminal orders are kept per account
up to `order_retention`. Deterministic under `seed`: order, fill and sid numbering come from seeded
generators and time from the injected `clock_ms`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import heapq
import os
import random
import re
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from websockets.asyncio.server import Server, ServerConnection, serve, unix_serve
from websockets.exceptions import ConnectionClosed

from arb.domain import Action, BookSide, OrderStatus, Side, TimeInForce
from arb.errors import AuthError, ConfigError, OrderRejectedError
from arb.fixed import SCALE, micro_to_str
from arb.venues.sim import fees as sim_fees
from arb.venues.sim.engine import (
    CancelReason,
    LevelDelta,
    MatchingEngine,
    SelfTradePolicy,
    SimFill,
    SimOrder,
    SubmitResult,
    counting_clock_ms,
)
from arb.venues.sim.faults import Fault, FaultInjector, FaultPlan
from arb.venues.sim.http import HttpRequest, HttpResponse, LoopbackHttpServer
from arb.venues.sim.liquidity import set_book, set_level
from arb.venues.sim.spec import KalshiSpec, kalshi_on_tick, kalshi_tick_bands
from arb.venues.sim.wsout import send_texts

__all__ = [
    "REST_PREFIX",
    "WS_PATH",
    "KalshiAccount",
    "KalshiPosition",
    "KalshiRefusal",
    "KalshiSimulator",
    "SimEvent",
    "SimMarket",
    "SimSeries",
]

REST_PREFIX = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"
_ACCESS_KEY = "kalshi-access-key"
_ACCESS_TIMESTAMP = "kalshi-access-timestamp"
_ACCESS_SIGNATURE = "kalshi-access-signature"
_STATUS_TEXT = {OrderStatus.OPEN: "resting", OrderStatus.FILLED: "executed", OrderStatus.CANCELED: "canceled"}
_MARKET_CHANNELS = frozenset({"orderbook_delta", "trade", "ticker", "market_lifecycle_v2"})
_PRIVATE_CHANNELS = frozenset({"fill", "user_orders", "market_positions"})
_DATA_CHANNELS = _MARKET_CHANNELS | _PRIVATE_CHANNELS
# WebSocket error texts (docs/venues.md#kalshi-ws-errors), written here rather than taken from the adapter.
_WS_ERRORS = {
    1: "Unable to process message",
    2: "Params required",
    3: "Channels required",
    4: "Subscription IDs required",
    5: "Unknown command",
    7: "Unknown subscription ID",
    8: "Unknown channel name",
    12: "Exactly one subscription ID is required",
    13: "Unsupported action",
    14: "Market Ticker required",
    15: "Action required",
    25: "Subscription buffer overflow",
}
_TIF_NAMES = {
    "fill_or_kill": TimeInForce.FOK,
    "good_till_canceled": TimeInForce.GTC,
    "immediate_or_cancel": TimeInForce.IOC,
}
_COUNT_TEXT = re.compile(r"\d{1,12}(\.\d{1,2})?")
_DOLLARS_TEXT = re.compile(r"\d{1,6}(\.\d{1,6})?")
_RESULTS = frozenset({"yes", "no", "void"})
_WRITE_BATCH = 256  # frames coalesced into one socket write at most


def _dollars(micro: int) -> str:
    """A non-negative price as Kalshi writes it: 4 decimals, 6 when it has sub-0.0001 digits."""
    whole, frac = divmod(micro, SCALE)
    return f"{whole}.{frac // 100:04d}" if frac % 100 == 0 else f"{whole}.{frac:06d}"


def _money(micro: int) -> str:
    return micro_to_str(micro, 6) if micro >= 0 else "-" + micro_to_str(-micro, 6)


def _count(micro: int) -> str:
    """A signed count with 2 decimals (a count off the 0.01 grid is a bug, not a rounding)."""
    whole, frac = divmod(-micro if micro < 0 else micro, SCALE)
    if frac % 10_000:
        raise ValueError(f"count {micro} micro is not a multiple of 0.01")
    return f"{'-' if micro < 0 else ''}{whole}.{frac // 10_000:02d}"


@functools.lru_cache(maxsize=4096)
def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _iso(ms: int | None) -> str | None:
    return None if ms is None else _iso_ms(ms)


class KalshiRefusal(OrderRejectedError):
    """The simulated venue refuses a request: HTTP `status` with Kalshi's error `code` (`reason`),
    its `message` and, where there is more to say, `details`. `flat`: a body the venue could not
    parse, answered with code/message/details at the top level instead of under "error"."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None, *, flat: bool = False) -> None:
        super().__init__(message, venue="kalshi", status=status, reason=code, body=details or message)
        self.code = code
        self.message = message  # the venue's own text, without the error tree's venue prefix
        self.details = details
        self.flat = flat


def _invalid(field_name: str, problem: str) -> KalshiRefusal:
    return KalshiRefusal(400, "invalid_parameters", f"{field_name} {problem}")


def _closable(position_micro: int, side: BookSide) -> int:
    """How many held contracts an order on `side` of the YES ladder nets away: the NO held for a
    bid (buy YES, sell NO), the YES held for an ask."""
    return max(-position_micro, 0) if side is BookSide.BID else max(position_micro, 0)


def _query_int(query: Mapping[str, str], name: str) -> int:
    try:
        return int(query[name])
    except ValueError:
        raise _invalid(name, "must be an integer") from None


def _json_body(request: HttpRequest) -> Any:
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise _invalid("body", "is not valid JSON") from None


@dataclass(slots=True)
class SimSeries:
    ticker: str
    title: str = ""
    fee_type: str = "quadratic"
    fee_multiplier: str = "1"  # decimal text, exact


@dataclass(slots=True)
class SimEvent:
    event_ticker: str
    series_ticker: str
    title: str = ""
    mutually_exclusive: bool = False


@dataclass(slots=True)
class SimMarket:
    ticker: str
    event_ticker: str
    title: str = ""
    yes_sub_title: str = ""
    status: str = "active"
    price_level_structure: str = "linear_cent"
    fractional: bool = False
    rules_primary: str = ""
    rules_secondary: str = ""
    open_time_ms: int = 1_700_000_000_000
    close_time_ms: int = 1_900_000_000_000
    last_price_micro: int = 0
    result: str = ""
    settlement_value_micro: int | None = None
    settlement_ms: int | None = None
    market_id: str = ""
    strike_type: str = "custom"
    floor_strike: str | None = None  # decimal text
    cap_strike: str | None = None
    custom_strike: tuple[tuple[str, str], ...] = ()  # for "custom" (empty: {"Event": event title})

    def on_tick(self, yes_price_micro: int) -> bool:
        return kalshi_on_tick(self.price_level_structure, yes_price_micro)


@dataclass(slots=True, eq=False)
class _OrderMeta:
    order: SimOrder
    ticker: str
    owner: str
    outcome: Side
    action: Action
    created_ms: int
    expiration_ms: int | None = None
    updated_ms: int = 0
    taker_cost_micro: int = 0
    maker_cost_micro: int = 0
    # What the account set aside for the unfilled rest (accounts only).
    closing_left: int = 0  # held contracts committed to this order
    opening_left: int = 0  # contracts that would open a position, paid from reserved cash
    unit_cost_micro: int = 0  # cash reserved per opening contract (the limit price of the side bought)
    fee_left_micro: int = 0  # fee reserve still held
    taker_fees: sim_fees.KalshiFeeAccumulator = field(default_factory=sim_fees.KalshiFeeAccumulator)
    maker_fees: sim_fees.KalshiFeeAccumulator = field(default_factory=sim_fees.KalshiFeeAccumulator)
    released: bool = False
    self_trade_prevention: str | None = None  # as sent on the V2 routes (legacy orders: None)
    cancel_order_on_pause: bool = False
    post_only: bool = False

    @property
    def side(self) -> BookSide:
        return self.order.side


@dataclass(slots=True)
class KalshiPosition:
    position_micro: int = 0  # signed: YES positive, NO negative
    cost_micro: int = 0  # what the contracts held now cost
    realized_pnl_micro: int = 0
    fees_micro: int = 0
    volume_micro: int = 0
    traded_micro: int = 0  # total dollars traded


@dataclass(slots=True, eq=False)
class KalshiAccount:
    """One API key's money. `cash_micro` includes what resting orders reserve."""

    key_id: str
    cash_micro: int
    reserved_micro: int = 0
    positions: dict[str, KalshiPosition] = field(default_factory=dict)
    committed: dict[tuple[str, BookSide], int] = field(default_factory=dict)  # held contracts set aside
    orders: dict[str, _OrderMeta] = field(default_factory=dict)  # by order id, oldest first (retained)
    resting: dict[str, _OrderMeta] = field(default_factory=dict)  # open orders, oldest first
    terminal: deque[str] = field(default_factory=deque)
    by_client_id: dict[str, str] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)
    fills_by_order: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fills_by_ticker: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    settlements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def available_micro(self) -> int:
        return self.cash_micro - self.reserved_micro


@dataclass(slots=True)
class _Sub:
    channel: str
    tickers: set[str] | None  # None: every market
    seq: int = 0


@dataclass(slots=True, eq=False)
class _Conn:
    ws: ServerConnection
    owner: str
    max_queued: int
    queue: deque[tuple[int | None, dict[str, Any]]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    subs: dict[int, _Sub] = field(default_factory=dict)
    next_sid: int = 1
    frame_index: int = 0
    pending_gaps: int = 0
    writer: asyncio.Task[None] | None = None
    overflows: int = 0


_BOOK_FRAMES = frozenset({"orderbook_delta", "orderbook_snapshot"})
_SubsIndexed = dict[tuple[_Conn, int], _Sub]  # one (channel, ticker) entry of the subscription index


class KalshiSimulator:
    """The simulated venue. `api_keys` maps API key ids to their public keys (the owner of every
    signed request is its key id; each key has an account). `await start()`, then point a client at
    `rest_base_url` and `ws_url`; drive markets with `submit`, `set_book`, participants and `step`;
    end them with `settle`. With `unix_dir` both servers listen on Unix sockets in that directory
    (`rest_uds_path`, `ws_uds_path`; the URLs then only name the servers) instead of loopback TCP."""

    def __init__(
        self,
        *,
        api_keys: Mapping[str, rsa.RSAPublicKey] | None = None,
        faults: FaultPlan | FaultInjector | None = None,
        seed: int = 0,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock_ms: Callable[[], int] | None = None,
        ping_interval_s: float | None = None,
        stream: str = "market",
        default_balance_micro_usd: int = 10_000 * SCALE,
        page_size_cap: int = 1000,
        max_queued_frames: int = 50_000,
        order_retention: int = 100_000,
        trade_retention: int = 100_000,
        unix_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if max_queued_frames < 1 or order_retention < 0 or trade_retention < 0:
            raise ConfigError("max_queued_frames must be >= 1, order_retention and trade_retention >= 0")
        self.faults = faults if isinstance(faults, FaultInjector) or faults is None else FaultInjector(faults)
        self.seed = seed
        self._sleep = sleep
        self._ids = random.Random(f"{seed}:kalshi-ids")
        if clock_ms is None:
            clock_ms = counting_clock_ms()
        self._now_ms: Callable[[], int] = clock_ms
        self.ping_interval_s = ping_interval_s
        self.stream = stream
        self.default_balance_micro_usd = default_balance_micro_usd
        self.page_size_cap = page_size_cap
        self.max_queued_frames = max_queued_frames
        self.order_retention = order_retention
        self.trade_retention = trade_retention
        # Public trades for GET /markets/trades as (ts_ms, JSON), oldest first, the newest kept.
        self._trades: deque[tuple[int, dict[str, Any]]] = deque(maxlen=trade_retention)
        self._trades_by_ticker: dict[str, deque[tuple[int, dict[str, Any]]]] = {}
        self.exchange_active = True  # reported by GET /exchange/status
        self.trading_active = True
        self.api_keys: dict[str, rsa.RSAPublicKey] = {}
        self.accounts: dict[str, KalshiAccount] = {}
        self.series: dict[str, SimSeries] = {}
        self._fee_rules: dict[str, tuple[str, Fraction]] = {}  # series -> (fee type, exact multiplier)
        self.events: dict[str, SimEvent] = {}
        self.markets: dict[str, SimMarket] = {}
        self.engines: dict[str, MatchingEngine] = {}
        self._markets_by_event: dict[str, list[str]] = {}
        self.participants: list[Any] = []
        self._orders: dict[str, _OrderMeta] = {}  # account orders by id (retained ones)
        self._expiry: list[tuple[int, int, str]] = []  # (expiration_ms, order seq, order id) heap
        self._conns: dict[_Conn, None] = {}  # insertion-ordered set
        self._conns_by_owner: dict[str, dict[_Conn, None]] = {}
        # (channel, ticker or None for every market) -> {(conn, sid): sub}
        self._sub_index: dict[tuple[str, str | None], _SubsIndexed] = {}
        self._order_response_faults: deque[str] = deque()
        self._hang = asyncio.Event()
        self.ws_uds_path = None if unix_dir is None else os.path.join(unix_dir, "kalshi-ws.sock")
        self.http = LoopbackHttpServer(
            self._handle_http,
            host="127.0.0.1" if unix_dir is None else "kalshi-rest",
            unix_path=None if unix_dir is None else os.path.join(unix_dir, "kalshi-rest.sock"),
            sleep=sleep,
            faults=self.faults,
        )
        self._ws_server: Server | None = None
        self.partitioned = False
        self.ws_connections_accepted = 0
        self.auth_failures = 0
        self.gaps_injected = 0
        self.drops_injected = 0
        self.frames_frozen = 0
        self.frames_sent = 0
        # book events (orderbook_snapshot / orderbook_delta frames) published per ticker, counted
        # when queued for a connection, before any overflow or injected fault can drop them: a
        # client that applied fewer lost some (the stress benchmark compares the two exactly)
        self.book_events_published: Counter[str] = Counter()
        self.overflows = 0
        self.commands_received = 0
        for key_id, public_key in (api_keys or {}).items():
            self.add_account(key_id, public_key)

    @classmethod
    def from_spec(
        cls,
        spec: KalshiSpec,
        *,
        seed: int = 0,
        api_keys: Mapping[str, rsa.RSAPublicKey] | None = None,
        **options: Any,
    ) -> KalshiSimulator:
        """A simulator built from a declarative `KalshiSpec` (see `spec.py`): series, events,
        markets with their initial books, accounts with balances and positions, faults. Public keys
        come from `api_keys` or the account's `public_key_pem`; an account with neither is refused."""
        keys = dict(api_keys or {})
        sim = cls(faults=spec.faults, seed=seed, default_balance_micro_usd=spec.default_balance_micro_usd, **options)
        for s in spec.series:
            sim.add_series(s.ticker, s.title, s.fee_type, s.fee_multiplier)
        for e in spec.events:
            sim.add_event(e.event_ticker, e.series_ticker, e.title, e.mutually_exclusive)
        for m in spec.markets:
            sim.add_market(
                m.ticker,
                m.event_ticker,
                title=m.title,
                yes_sub_title=m.yes_sub_title,
                status=m.status,
                price_level_structure=m.price_level_structure,
                fractional=m.fractional,
                rules_primary=m.rules_primary,
                rules_secondary=m.rules_secondary,
                open_time_ms=m.open_time_ms,
                close_time_ms=m.close_time_ms,
                strike_type=m.strike_type,
                floor_strike=m.floor_strike,
                cap_strike=m.cap_strike,
                custom_strike=m.custom_strike,
            )
            if m.book.bids or m.book.asks:
                sim.set_book(m.ticker, m.book.bids, m.book.asks)
        for a in spec.accounts:
            key = keys.pop(a.key_id, None)
            if key is None and a.public_key_pem is not None:
                loaded = serialization.load_pem_public_key(a.public_key_pem.encode())
                if not isinstance(loaded, rsa.RSAPublicKey):
                    raise ConfigError(f"kalshi account {a.key_id!r}: public_key_pem is not an RSA public key")
                key = loaded
            if key is None:
                raise ConfigError(f"kalshi account {a.key_id!r} has no public key (api_keys or public_key_pem)")
            sim.add_account(
                a.key_id,
                key,
                balance_micro_usd=a.balance_micro_usd,
                positions={t: (p.count_micro, p.cost_micro_usd) for t, p in a.positions},
            )
        for key_id, key in keys.items():
            sim.add_account(key_id, key)
        return sim

    # -- setup -----------------------------------------------------------------------------------

    def next_id(self, prefix: str = "") -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def add_account(
        self,
        key_id: str,
        public_key: rsa.RSAPublicKey,
        *,
        balance_micro_usd: int | None = None,
        positions: Mapping[str, tuple[int, int]] | None = None,
    ) -> KalshiAccount:
        """An API key and its account: cash, and positions as {ticker: (signed count, cost)}."""
        if key_id in self.accounts:
            raise ConfigError(f"kalshi account {key_id!r} exists")
        self.api_keys[key_id] = public_key
        account = KalshiAccount(
            key_id, self.default_balance_micro_usd if balance_micro_usd is None else balance_micro_usd
        )
        for ticker, (count, cost) in (positions or {}).items():
            if ticker not in self.markets:
                raise ConfigError(f"kalshi account {key_id!r}: unknown market {ticker!r}")
            account.positions[ticker] = KalshiPosition(count, cost)
        self.accounts[key_id] = account
        return account

    def add_series(
        self, ticker: str, title: str = "", fee_type: str = "quadratic", fee_multiplier: str | float = "1"
    ) -> SimSeries:
        multiplier = repr(fee_multiplier) if isinstance(fee_multiplier, float) else str(fee_multiplier)
        exact = sim_fees.exact_fraction(multiplier, "fee_multiplier")
        sim_fees.kalshi_coefficient(fee_type, exact, maker=False)  # refuses an unknown fee type
        self.series[ticker] = SimSeries(ticker, title or ticker, fee_type, multiplier)
        self._fee_rules[ticker] = (fee_type, exact)
        return self.series[ticker]

    def add_event(
        self, event_ticker: str, series_ticker: str, title: str = "", mutually_exclusive: bool = False
    ) -> SimEvent:
        if series_ticker not in self.series:
            self.add_series(series_ticker)
        self.events[event_ticker] = SimEvent(event_ticker, series_ticker, title or event_ticker, mutually_exclusive)
        self._markets_by_event.setdefault(event_ticker, [])
        return self.events[event_ticker]

    def add_market(self, ticker: str, event_ticker: str, **fields: Any) -> MatchingEngine:
        if event_ticker not in self.events:
            self.add_event(event_ticker, event_ticker.split("-", 1)[0])
        market = SimMarket(ticker, event_ticker, **fields)
        kalshi_tick_bands(market.price_level_structure)  # refuses an unknown structure
        market.market_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kalshi-sim:{ticker}"))
        self.markets[ticker] = market
        self._markets_by_event[event_ticker].append(ticker)
        engine = MatchingEngine(ticker, self.next_id)
        self.engines[ticker] = engine
        return engine

    def add_participant(self, participant: Any) -> None:
        """A scripted participant (`arb.venues.sim.participants`) trading on one of the engines."""
        self.participants.append(participant)

    def fail_next_order_response(self, mode: str = "500") -> None:
        """Process the next single-order POST (legacy or V2 create), then answer it with a 500 ("500")
        or never ("timeout")."""
        if mode not in ("500", "timeout"):
            raise ValueError(f"mode must be '500' or 'timeout', was {mode!r}")
        self._order_response_faults.append(mode)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.http.start()
        if self._ws_server is None:
            options: dict[str, Any] = {
                "process_request": self._check_ws_auth,
                "ping_interval": self.ping_interval_s,
                "compression": None,
            }
            if self.ws_uds_path is not None:
                self._ws_server = await unix_serve(self._handle_ws, self.ws_uds_path, **options)
            else:
                self._ws_server = await serve(self._handle_ws, "127.0.0.1", 0, **options)

    async def close(self) -> None:
        self._hang.set()
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
            self._ws_server = None
        await self.http.close()

    async def __aenter__(self) -> KalshiSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def rest_base_url(self) -> str:
        return self.http.base_url + REST_PREFIX

    @property
    def rest_uds_path(self) -> str | None:
        """The REST server's Unix socket (None on TCP)."""
        return self.http.unix_path

    @property
    def ws_url(self) -> str:
        assert self._ws_server is not None, "not started"
        if self.ws_uds_path is not None:
            return f"ws://kalshi-ws{WS_PATH}"
        port = next(iter(self._ws_server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}{WS_PATH}"

    @property
    def connections(self) -> int:
        return len(self._conns)

    @property
    def queued_frames(self) -> int:
        """Frames waiting in every connection's writer queue (for flow control and stress runs)."""
        return sum(len(conn.queue) for conn in self._conns)

    async def ping_all(self) -> int:
        """Send Kalshi's keep-alive ping ("heartbeat") on every open socket; returns how many."""
        sent = 0
        for conn in list(self._conns):
            try:
                await conn.ws.ping(b"heartbeat")
                sent += 1
            except ConnectionClosed:
                pass
        return sent

    async def drop_all(self) -> None:
        """Abort every socket now (no close frame), as a network failure would."""
        self._abort_sockets()

    def _abort_sockets(self) -> None:
        for conn in list(self._conns):
            transport = conn.ws.transport
            if transport is not None:
                transport.abort()

    def partition(self) -> None:
        """The network between us and the venue fails until `heal()`: every REST and socket
        connection is aborted and every new one aborted as it is accepted. The venue goes on
        (participants trade, resting orders fill); nothing it says gets through."""
        self.partitioned = True
        self.http.partition()
        self._abort_sockets()

    def heal(self) -> None:
        """The network works again: new connections are served (clients reconnect themselves)."""
        self.partitioned = False
        self.http.heal()

    # -- reading ---------------------------------------------------------------------------------

    def book(self, ticker: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Kalshi's view of a ticker: (YES bids, NO bids), each (price, size) best first."""
        engine = self.engines[ticker]
        return engine.levels(BookSide.BID), [(SCALE - p, s) for p, s in engine.levels(BookSide.ASK)]

    def account(self, key_id: str) -> KalshiAccount:
        return self.accounts[key_id]

    def fills_of(self, owner: str) -> list[dict[str, Any]]:
        account = self.accounts.get(owner)
        return list(account.fills) if account is not None else []

    def order_meta(self, order_id: str) -> _OrderMeta | None:
        return self._orders.get(order_id)

    def orders_of(self, owner: str) -> list[_OrderMeta]:
        """The account's retained orders, oldest first."""
        account = self.accounts.get(owner)
        return list(account.orders.values()) if account is not None else []

    def position(self, owner: str, ticker: str) -> KalshiPosition:
        account = self.accounts[owner]
        return account.positions.get(ticker) or KalshiPosition()

    # -- books -----------------------------------------------------------------------------------

    def _lot(self, ticker: str) -> int:
        return 10_000 if self.markets[ticker].fractional else SCALE

    def set_level(self, ticker: str, side: BookSide, yes_price_micro: int, size_micro: int) -> None:
        """Make the house's size at one YES level (BID: YES bid; ASK: YES ask = NO bid at 1 - p)
        what is given, and publish the change."""
        self._check_book_prices(ticker, [(yes_price_micro, size_micro)])
        fills, deltas = set_level(self.engines[ticker], side, yes_price_micro, size_micro, lot_micro=self._lot(ticker))
        self._publish_result(deltas, fills)

    def set_book(
        self,
        ticker: str,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        *,
        publish: str = "deltas",
    ) -> None:
        """Make the house's YES ladder exactly `bids`/`asks` ((price, size) micro pairs); other
        owners' orders stay. `publish`: "deltas" (one `orderbook_delta` per level change) or
        "snapshot" (a fresh `orderbook_snapshot` on every subscription of the ticker instead)."""
        if publish not in ("deltas", "snapshot"):
            raise ConfigError(f"publish must be 'deltas' or 'snapshot', was {publish!r}")
        bids, asks = list(bids), list(asks)
        self._check_book_prices(ticker, bids + asks)
        fills, deltas = set_book(self.engines[ticker], bids, asks, lot_micro=self._lot(ticker))
        if publish == "deltas":
            self._publish_result(deltas, fills)
            return
        for subs in self._subs_for("orderbook_delta", ticker):
            for (conn, sid), sub in list(subs.items()):
                self._send_snapshot(conn, sid, sub, ticker)
        for fill in fills:
            self._on_fill(fill)

    def _check_book_prices(self, ticker: str, levels: Sequence[tuple[int, int]]) -> None:
        market = self.markets.get(ticker)
        if market is None:
            raise ConfigError(f"unknown market {ticker!r}")
        if market.status in ("determined", "finalized"):
            raise ConfigError(f"market {ticker} is {market.status}: its book cannot be set")
        for price, _ in levels:
            if type(price) is not int or not market.on_tick(price):
                raise ConfigError(f"price {price!r} is off the tick grid of {ticker}")

    # -- orders ----------------------------------------------------------------------------------

    @staticmethod
    def _engine_side(outcome: Side, action: Action) -> BookSide:
        buys_yes = (outcome is Side.YES) is (action is Action.BUY)  # buy YES or sell NO
        return BookSide.BID if buys_yes else BookSide.ASK

    def _fee_terms(self, ticker: str) -> tuple[str, Fraction]:
        return self._fee_rules[self.events[self.markets[ticker].event_ticker].series_ticker]

    def submit(
        self,
        owner: str,
        ticker: str,
        outcome: Side,
        action: Action,
        price_micro_usd: int,
        size_micro: int,
        tif: TimeInForce = TimeInForce.GTC,
        client_order_id: str | None = None,
        *,
        expiration_ms: int | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        fill_limit_micro: int | None = None,
        self_trade_prevention: str | None = None,
        cancel_order_on_pause: bool = False,
    ) -> tuple[_OrderMeta, SubmitResult]:
        """Place an order for `owner` (price of the outcome bought/sold) and publish its effects.
        A refusal raises `KalshiRefusal` with the venue's status and error code.

        `self_trade_prevention` (V2 orders): "taker_at_cross" stops matching at the owner's own
        resting order and cancels the rest of the incoming order (fills made before it stand);
        "maker" cancels the owner's resting orders the incoming order reaches and matches on. None
        (legacy orders): the owner's orders match each other like anyone's."""
        market = self.markets.get(ticker)
        if market is None:
            raise KalshiRefusal(404, "market_not_found", f"market {ticker} not found")
        if market.status != "active":
            raise KalshiRefusal(400, "market_closed", f"market {ticker} is not open for trading")
        lot = self._lot(ticker)
        if size_micro <= 0 or size_micro % lot:
            raise _invalid("count_fp", f"must be a positive multiple of {_count(lot)}")
        if not 0 < price_micro_usd < SCALE:
            raise _invalid("price", "must be strictly between 0 and 1")
        side = self._engine_side(outcome, action)
        yes_price = price_micro_usd if outcome is Side.YES else SCALE - price_micro_usd
        if not market.on_tick(yes_price):
            raise _invalid("price", f"{_dollars(yes_price)} is not on the tick grid of {ticker}")
        engine = self.engines[ticker]
        if post_only and engine.crosses(side, yes_price):
            raise KalshiRefusal(400, "post_only_cross", "post-only order would cross the book")
        account = self.accounts.get(owner)
        if account is not None and client_order_id is not None and client_order_id in account.by_client_id:
            raise KalshiRefusal(409, "order_already_exists", f"order with client_order_id {client_order_id} exists")
        reservation = (0, 0, 0, 0)  # (closing, opening, unit cost, fee reserve): accounts only
        need = 0  # the cash the order reserves
        if account is not None:
            reservation = self._reservation(account, ticker, side, yes_price, size_micro)
            _, opening, unit_cost, fee_reserve = reservation
            if reduce_only and opening:
                raise KalshiRefusal(400, "reduce_only_violation", "a reduce-only order may not increase the position")
            need = opening * unit_cost // SCALE + fee_reserve
            if need > account.available_micro:
                raise KalshiRefusal(
                    400,
                    "insufficient_balance",
                    f"insufficient balance: order needs {_money(need)}, available {_money(account.available_micro)}",
                )
        if fill_limit_micro is None and self.faults is not None and account is not None:
            fill_limit_micro = self.faults.partial_fill_limit(size_micro, lot, ticker)
        self._expire_due()
        if self_trade_prevention == "maker":
            budget = size_micro if fill_limit_micro is None else min(size_micro, fill_limit_micro)
            victims, unmatched = self._self_trade_victims(engine, owner, side, yes_price, budget)
            if tif is TimeInForce.FOK and not unmatched == 0 == size_micro - budget:
                fill_limit_micro = 0  # others' orders cannot fill it all: killed, cancelling nothing
            else:
                for victim in victims:
                    self.cancel(victim)
        policy = engine.self_trade
        if self_trade_prevention == "taker_at_cross":
            engine.self_trade = SelfTradePolicy.CANCEL_TAKER
        try:
            result = engine.submit(
                owner, side, yes_price, size_micro, tif, client_order_id, fill_limit_micro, keep=account is not None
            )
        finally:
            engine.self_trade = policy
        now = self._now_ms()
        meta = _OrderMeta(result.order, ticker, owner, outcome, action, now, expiration_ms, now)
        meta.self_trade_prevention = self_trade_prevention
        meta.cancel_order_on_pause = cancel_order_on_pause
        meta.post_only = post_only
        if account is not None:
            meta.closing_left, meta.opening_left, meta.unit_cost_micro, meta.fee_left_micro = reservation
            account.reserved_micro += need
            key = (ticker, side)
            account.committed[key] = account.committed.get(key, 0) + meta.closing_left
            self._orders[result.order.order_id] = meta
            account.orders[result.order.order_id] = meta
            account.resting[result.order.order_id] = meta
            if client_order_id is not None:
                account.by_client_id[client_order_id] = result.order.order_id
            if expiration_ms is not None and result.order.is_open:
                heapq.heappush(self._expiry, (expiration_ms, result.order.created_seq, result.order.order_id))
        self._publish_result(result.deltas, result.fills)
        if account is not None:
            self._after_change(meta)
            self._publish_order(meta)
        return meta, result

    @staticmethod
    def _self_trade_victims(
        engine: MatchingEngine, owner: str, side: BookSide, yes_price: int, size: int
    ) -> tuple[list[str], int]:
        """The owner's resting orders an incoming order would reach, walking the opposite ladder in
        priority order as matching does (others' orders use up its size; the owner's own are skipped,
        since "maker" prevention cancels them and matching continues past them), and the size that
        others' orders leave unmatched."""
        opposite = BookSide.ASK if side is BookSide.BID else BookSide.BID
        victims: list[str] = []
        left = size
        for price, _ in engine.levels(opposite):
            if left <= 0 or ((price > yes_price) if side is BookSide.BID else (price < yes_price)):
                break
            for maker in engine.queue(opposite, price):
                if left <= 0:
                    break
                if maker.owner == owner:
                    victims.append(maker.order_id)
                else:
                    left -= maker.remaining_micro
        return victims, max(left, 0)

    def _reservation(
        self, account: KalshiAccount, ticker: str, side: BookSide, yes_price: int, size: int
    ) -> tuple[int, int, int, int]:
        """(closing, opening, unit cost, fee reserve) of a new order: how many contracts it would
        close from what is held and not yet committed, how many it would open at what cost each."""
        position = account.positions.get(ticker)
        held_opposite = 0 if position is None else _closable(position.position_micro, side)
        free = held_opposite - account.committed.get((ticker, side), 0)
        closing = max(0, min(size, free))
        opening = size - closing
        unit_cost = yes_price if side is BookSide.BID else SCALE - yes_price
        fee_type, multiplier = self._fee_terms(ticker)
        coefficient = sim_fees.kalshi_coefficient(fee_type, multiplier, maker=False)
        fee_reserve = sim_fees.kalshi_worst_order_fee_micro(
            coefficient, yes_price, size, buying_yes=side is BookSide.BID
        )
        return closing, opening, unit_cost, fee_reserve

    def cancel(self, order_id: str) -> _OrderMeta | None:
        """Cancel an order placed through `submit` (None for an unknown id)."""
        meta = self._orders.get(order_id)
        if meta is None:
            return None
        result = self.engines[meta.ticker].cancel(order_id)
        meta.updated_ms = self._now_ms()
        self._publish_result(result.deltas, [])
        if result.canceled:
            self._after_change(meta)
            self._publish_order(meta)
        return meta

    def step(self, rounds: int = 1) -> None:
        """Let every participant act `rounds` times (and expire due GTD orders)."""
        for _ in range(rounds):
            self._expire_due()
            for participant in self.participants:
                result = participant.step()
                if result.deltas or result.fills:
                    self._publish_result(result.deltas, result.fills)

    def expire_orders(self, now_ms: int | None = None) -> int:
        """Cancel every GTD order whose expiration time has come; returns how many."""
        return self._expire_due(now_ms)

    def _expire_due(self, now_ms: int | None = None) -> int:
        if not self._expiry:
            return 0
        now = self._now_ms() if now_ms is None else now_ms
        expired = 0
        while self._expiry and self._expiry[0][0] <= now:
            due, _, order_id = heapq.heappop(self._expiry)
            meta = self._orders.get(order_id)
            # an amend may have moved or removed the expiry since this entry was pushed
            if meta is not None and meta.order.is_open and meta.expiration_ms == due:
                self.cancel(order_id)
                expired += 1
        return expired

    # -- money -----------------------------------------------------------------------------------

    def _after_change(self, meta: _OrderMeta) -> None:
        """Release what a terminal order still holds and retire it from the resting set."""
        if meta.order.is_open or meta.released:
            return
        account = self.accounts[meta.owner]
        meta.released = True
        account.reserved_micro -= meta.opening_left * meta.unit_cost_micro // SCALE + meta.fee_left_micro
        key = (meta.ticker, meta.side)
        account.committed[key] = account.committed.get(key, 0) - meta.closing_left
        meta.closing_left = meta.opening_left = meta.fee_left_micro = 0
        account.resting.pop(meta.order.order_id, None)
        account.terminal.append(meta.order.order_id)
        while len(account.terminal) > self.order_retention:
            old = account.orders.pop(account.terminal.popleft(), None)
            if old is not None:
                self._orders.pop(old.order.order_id, None)
                cid = old.order.client_order_id
                if cid is not None and account.by_client_id.get(cid) == old.order.order_id:
                    del account.by_client_id[cid]

    def _apply_fill(self, meta: _OrderMeta, fill: SimFill, is_taker: bool, now: int) -> tuple[int, KalshiPosition]:
        """Charge one fill to the account: netting, cash, fee, reservations. Returns (fee, position)."""
        account = self.accounts[meta.owner]
        ticker, side, size = meta.ticker, meta.side, fill.size_micro
        position = account.positions.setdefault(ticker, KalshiPosition())
        unit_price = fill.price_micro_usd if side is BookSide.BID else SCALE - fill.price_micro_usd
        held_opposite = _closable(position.position_micro, side)
        closing = min(size, held_opposite)
        opening = size - closing
        # Reservations: committed contracts first, the rest from the opening allowance.
        from_commitment = min(closing, meta.closing_left)
        meta.closing_left -= from_commitment
        key = (ticker, side)
        account.committed[key] = account.committed.get(key, 0) - from_commitment
        from_opening = size - from_commitment
        meta.opening_left -= from_opening
        account.reserved_micro -= from_opening * meta.unit_cost_micro // SCALE
        # Fee: the rise of this order's cent-rounded accumulator.
        fee_type, multiplier = self._fee_terms(ticker)
        coefficient = sim_fees.kalshi_coefficient(fee_type, multiplier, maker=not is_taker)
        trade_fee = sim_fees.kalshi_trade_fee_micro(coefficient, fill.price_micro_usd, size)
        fee = (meta.taker_fees if is_taker else meta.maker_fees).charge(trade_fee)
        covered = min(fee, meta.fee_left_micro)
        meta.fee_left_micro -= covered
        account.reserved_micro -= covered
        # Cash and position: each closed pair pays back $1 - the price; opened contracts cost the price.
        proceeds = closing * (SCALE - unit_price) // SCALE
        cost = opening * unit_price // SCALE
        account.cash_micro += proceeds - cost - fee
        if closing:
            removed = (
                position.cost_micro if closing == held_opposite else position.cost_micro * closing // held_opposite
            )
            position.cost_micro -= removed
            position.realized_pnl_micro += proceeds - removed
        position.cost_micro += cost
        position.position_micro += size if side is BookSide.BID else -size
        position.fees_micro += fee
        position.volume_micro += size
        position.traded_micro += size * unit_price // SCALE
        if is_taker:
            meta.taker_cost_micro += size * unit_price // SCALE
        else:
            meta.maker_cost_micro += size * unit_price // SCALE
        meta.updated_ms = now
        if closing > from_commitment:
            self._recommit(account, ticker, side)
        return fee, position

    def _recommit(self, account: KalshiAccount, ticker: str, side: BookSide) -> None:
        """A fill netted contracts other resting orders had committed: turn the commitments that no
        longer fit into cash reservations at those orders' own limits (newest orders first)."""
        position = account.positions[ticker]
        held = _closable(position.position_micro, side)
        key = (ticker, side)
        excess = account.committed.get(key, 0) - held
        if excess <= 0:
            return
        for meta in reversed(list(account.resting.values())):
            if excess <= 0:
                break
            if meta.ticker != ticker or meta.side is not side or not meta.closing_left:
                continue
            moved = min(excess, meta.closing_left)
            meta.closing_left -= moved
            meta.opening_left += moved
            account.reserved_micro += moved * meta.unit_cost_micro // SCALE
            account.committed[key] -= moved
            excess -= moved

    # -- settlement ------------------------------------------------------------------------------

    def determine(self, ticker: str, result: str) -> None:
        """The outcome is known ("yes", "no" or "void"): resting orders are cancelled, trading
        stops, and `market_lifecycle_v2` says `determined`."""
        if result not in _RESULTS:
            raise ConfigError(f"result must be one of {sorted(_RESULTS)}, was {result!r}")
        market = self.markets.get(ticker)
        if market is None:
            raise ConfigError(f"unknown market {ticker!r}")
        if market.status in ("determined", "finalized"):
            raise ConfigError(f"market {ticker} is already {market.status}")
        engine = self.engines[ticker]
        self.participants = [p for p in self.participants if p.engine is not engine]  # trading is over
        for order in engine.open_orders():
            meta = self._orders.get(order.order_id)
            if meta is not None:
                self.cancel(order.order_id)
            else:
                self._publish_result(engine.cancel(order.order_id).deltas, [])
        now = self._now_ms()
        market.status = "determined"
        market.result = result
        market.settlement_value_micro = {"yes": SCALE, "no": 0, "void": None}[result]
        msg: dict[str, Any] = {
            "market_ticker": ticker,
            "event_type": "determined",
            "result": result,
            "determination_ts": now // 1000,
        }
        if market.settlement_value_micro is not None:
            msg["settlement_value"] = _dollars(market.settlement_value_micro)
        self._publish("market_lifecycle_v2", ticker, "market_lifecycle_v2", msg)

    def settle(self, ticker: str, result: str | None = None) -> None:
        """Pay out and finalize: `determine` first (with `result`) unless already determined; every
        account's position pays $1 per winning contract (void: its cost), positions are cleared and
        `market_lifecycle_v2` says `settled`."""
        market = self.markets.get(ticker)
        if market is None:
            raise ConfigError(f"unknown market {ticker!r}")
        if market.status != "determined":
            if result is None:
                raise ConfigError(f"market {ticker} is not determined: give the result")
            self.determine(ticker, result)
        elif result is not None and result != market.result:
            raise ConfigError(f"market {ticker} was determined {market.result!r}, not {result!r}")
        now = self._now_ms()
        for account in self.accounts.values():
            position = account.positions.get(ticker)
            if position is None or (position.position_micro == 0 and position.cost_micro == 0):
                continue
            q = position.position_micro
            if market.result == "void":
                payout = position.cost_micro
            elif market.result == "yes":
                payout = max(q, 0)
            else:
                payout = max(-q, 0)
            account.cash_micro += payout
            position.realized_pnl_micro += payout - position.cost_micro
            account.settlements.append(
                {
                    "ticker": ticker,
                    "event_ticker": market.event_ticker,
                    "market_result": market.result,
                    "yes_count_fp": _count(max(q, 0)),
                    "yes_total_cost_dollars": _money(position.cost_micro if q > 0 else 0),
                    "no_count_fp": _count(max(-q, 0)),
                    "no_total_cost_dollars": _money(position.cost_micro if q < 0 else 0),
                    "revenue": payout // 10_000,
                    "value": _money(payout),
                    "settled_time": _iso(now),
                    "fee_cost": _money(position.fees_micro),
                }
            )
            position.position_micro = 0
            position.cost_micro = 0
            self._publish_position(account.key_id, ticker, position)
        market.status = "finalized"
        market.settlement_ms = now
        self._publish(
            "market_lifecycle_v2",
            ticker,
            "market_lifecycle_v2",
            {"market_ticker": ticker, "event_type": "settled", "result": market.result, "settled_ts": now // 1000},
        )

    # -- effects ---------------------------------------------------------------------------------

    def _publish_result(self, deltas: Sequence[LevelDelta], fills: Sequence[SimFill]) -> None:
        for delta in deltas:
            self._publish_delta(delta)
        for fill in fills:
            self._on_fill(fill)

    def _publish_delta(self, delta: LevelDelta) -> None:
        ticker = delta.book_id
        found = self._subs_for("orderbook_delta", ticker)
        if not found:
            return
        now = self._now_ms()
        yes = delta.side is BookSide.BID
        msg = {
            "market_ticker": ticker,
            "market_id": self.markets[ticker].market_id,
            "price_dollars": _dollars(delta.price_micro_usd if yes else SCALE - delta.price_micro_usd),
            "delta_fp": _count(delta.delta_micro),
            "side": "yes" if yes else "no",
            "ts_ms": now,
            "ts": _iso_ms(now),
        }
        self._send_to(found, "orderbook_delta", msg)

    def _subs_for(self, channel: str, ticker: str) -> list[_SubsIndexed]:
        """The non-empty subscription sets of `channel` that follow `ticker`: those naming it, then
        those on every market."""
        found: list[_SubsIndexed] = []
        for key in ((channel, ticker), (channel, None)):
            subs = self._sub_index.get(key)
            if subs:
                found.append(subs)
        return found

    def _send_to(self, found: list[_SubsIndexed], kind: str, msg: dict[str, Any]) -> None:
        for subs in found:
            for (conn, sid), sub in list(subs.items()):
                sub.seq += 1
                self._enqueue(conn, sid, {"type": kind, "sid": sid, "seq": sub.seq, "msg": msg})

    def _publish(self, channel: str, ticker: str, kind: str, msg: dict[str, Any]) -> None:
        self._send_to(self._subs_for(channel, ticker), kind, msg)

    def _publish_private(self, owner: str, channel: str, ticker: str, kind: str, msg: dict[str, Any]) -> None:
        for conn in self._conns_by_owner.get(owner, ()):
            for sid, sub in list(conn.subs.items()):
                if sub.channel == channel and (sub.tickers is None or ticker in sub.tickers):
                    self._enqueue(conn, sid, {"type": kind, "sid": sid, "msg": msg})

    def _on_fill(self, fill: SimFill) -> None:
        ticker = fill.book_id
        now = self._now_ms()
        self.markets[ticker].last_price_micro = fill.price_micro_usd
        taker_yes = fill.taker_side is BookSide.BID
        record = (
            now,
            {
                "trade_id": fill.fill_id,
                "ticker": ticker,
                "count_fp": _count(fill.size_micro),
                "yes_price_dollars": _dollars(fill.price_micro_usd),
                "no_price_dollars": _dollars(SCALE - fill.price_micro_usd),
                "taker_side": "yes" if taker_yes else "no",
                "taker_outcome_side": "yes" if taker_yes else "no",
                "taker_book_side": "bid" if taker_yes else "ask",
                "created_time": _iso_ms(now),
                "is_block_trade": False,
            },
        )
        self._trades.append(record)
        by_ticker = self._trades_by_ticker.get(ticker)
        if by_ticker is None:
            by_ticker = self._trades_by_ticker[ticker] = deque(maxlen=self.trade_retention)
        by_ticker.append(record)
        trade_subs = self._subs_for("trade", ticker)
        if trade_subs:
            trade = {
                "trade_id": fill.fill_id,
                "market_ticker": ticker,
                "yes_price_dollars": _dollars(fill.price_micro_usd),
                "no_price_dollars": _dollars(SCALE - fill.price_micro_usd),
                "count_fp": _count(fill.size_micro),
                "taker_side": "yes" if taker_yes else "no",
                "taker_outcome_side": "yes" if taker_yes else "no",
                "taker_book_side": "bid" if taker_yes else "ask",
                "ts": now // 1000,
                "ts_ms": now,
            }
            self._send_to(trade_subs, "trade", trade)
        for order_id, is_taker in ((fill.taker_order_id, True), (fill.maker_order_id, False)):
            meta = self._orders.get(order_id)
            if meta is not None:
                self._record_fill(meta, fill, is_taker, now)

    def _record_fill(self, meta: _OrderMeta, fill: SimFill, is_taker: bool, now: int) -> None:
        fee, position = self._apply_fill(meta, fill, is_taker, now)
        account = self.accounts[meta.owner]
        long_yes = meta.side is BookSide.BID
        fill_id = self.next_id("fill")
        record = {
            "fill_id": fill_id,
            "trade_id": fill_id,
            "order_id": meta.order.order_id,
            "ticker": meta.ticker,
            "market_ticker": meta.ticker,
            "side": meta.outcome.value,
            "action": meta.action.value,
            "outcome_side": "yes" if long_yes else "no",
            "book_side": "bid" if long_yes else "ask",
            "count_fp": _count(fill.size_micro),
            "yes_price_dollars": _dollars(fill.price_micro_usd),
            "no_price_dollars": _dollars(SCALE - fill.price_micro_usd),
            "is_taker": is_taker,
            "fee_cost": _money(fee),
            "created_time": _iso(now),
            "ts": now // 1000,
            "exchange_index": 0,  # the simulator is one shard
            "subaccount_number": 0,
        }
        account.fills.append(record)
        account.fills_by_order.setdefault(meta.order.order_id, []).append(record)
        account.fills_by_ticker.setdefault(meta.ticker, []).append(record)
        self._publish_private(
            meta.owner,
            "fill",
            meta.ticker,
            "fill",
            {
                "trade_id": fill_id,
                "order_id": meta.order.order_id,
                "client_order_id": meta.order.client_order_id or "",
                "market_ticker": meta.ticker,
                "exchange_index": 0,
                "is_taker": is_taker,
                "side": meta.outcome.value,
                "yes_price_dollars": _dollars(fill.price_micro_usd),
                "count_fp": _count(fill.size_micro),
                "fee_cost": _money(fee),
                "action": meta.action.value,
                "ts": now // 1000,
                "ts_ms": now,
                "post_position_fp": _count(position.position_micro),
                "purchased_side": meta.outcome.value,
                "outcome_side": "yes" if long_yes else "no",
                "book_side": "bid" if long_yes else "ask",
            },
        )
        self._publish_position(meta.owner, meta.ticker, position)
        if not is_taker:
            self._after_change(meta)
            self._publish_order(meta)  # the taker's own update follows its submit

    def _publish_position(self, owner: str, ticker: str, position: KalshiPosition) -> None:
        self._publish_private(
            owner,
            "market_positions",
            ticker,
            "market_position",
            {
                "user_id": owner,
                "market_ticker": ticker,
                "position_fp": _count(position.position_micro),
                "position_cost_dollars": _money(position.cost_micro),
                "realized_pnl_dollars": _money(position.realized_pnl_micro),
                "fees_paid_dollars": _money(position.fees_micro),
                "volume_fp": _count(position.volume_micro),
            },
        )

    def _order_json(self, meta: _OrderMeta) -> dict[str, Any]:
        order = meta.order
        long_yes = meta.side is BookSide.BID
        return {
            "order_id": order.order_id,
            "user_id": meta.owner,
            "client_order_id": order.client_order_id or "",
            "ticker": meta.ticker,
            "side": meta.outcome.value,
            "action": meta.action.value,
            "outcome_side": "yes" if long_yes else "no",
            "book_side": "bid" if long_yes else "ask",
            "type": "limit",
            "status": _STATUS_TEXT[order.status],
            "yes_price_dollars": _dollars(order.price_micro_usd),
            "no_price_dollars": _dollars(SCALE - order.price_micro_usd),
            "fill_count_fp": _count(order.filled_micro),
            "remaining_count_fp": _count(order.remaining_micro),
            "initial_count_fp": _count(order.size_micro),
            "taker_fill_cost_dollars": _money(meta.taker_cost_micro),
            "maker_fill_cost_dollars": _money(meta.maker_cost_micro),
            "taker_fees_dollars": _money(meta.taker_fees.charged_micro),
            "maker_fees_dollars": _money(meta.maker_fees.charged_micro),
            "expiration_time": _iso(meta.expiration_ms),
            "created_time": _iso(meta.created_ms),
            "last_update_time": _iso(meta.updated_ms),
            "self_trade_prevention_type": meta.self_trade_prevention,
            "cancel_order_on_pause": meta.cancel_order_on_pause,
            "subaccount_number": 0,
            "exchange_index": 0,
        }

    def _publish_order(self, meta: _OrderMeta) -> None:
        if meta.owner not in self._conns_by_owner:
            return
        msg = self._order_json(meta)
        # The 2026 user_order message: direction as outcome_side/book_side, no `action`.
        del msg["action"], msg["no_price_dollars"], msg["type"]
        msg.update(
            {
                "is_yes": meta.outcome is Side.YES,
                "created_ts_ms": meta.created_ms,
                "last_updated_ts_ms": meta.updated_ms,
            }
        )
        self._publish_private(meta.owner, "user_orders", meta.ticker, "user_order", msg)

    def _snapshot_msg(self, ticker: str) -> dict[str, Any]:
        yes, no = self.book(ticker)
        msg: dict[str, Any] = {"market_ticker": ticker, "market_id": self.markets[ticker].market_id}
        if yes:
            msg["yes_dollars_fp"] = [[_dollars(p), _count(s)] for p, s in sorted(yes)]
        if no:
            msg["no_dollars_fp"] = [[_dollars(p), _count(s)] for p, s in sorted(no)]
        return msg

    # -- authentication --------------------------------------------------------------------------

    def _verify(self, headers: Mapping[str, str], method: str, path: str) -> str:
        """The key id of a correctly signed request: RSA-PSS (SHA-256, MGF1, salt = digest length)
        over timestamp + METHOD + path without the query (docs/venues.md#kalshi-auth)."""
        lowered = {k.lower(): v for k, v in headers.items()}
        key_id = lowered.get(_ACCESS_KEY, "")
        timestamp = lowered.get(_ACCESS_TIMESTAMP, "")
        signature = lowered.get(_ACCESS_SIGNATURE, "")
        public = self.api_keys.get(key_id)
        try:
            if public is None:
                raise AuthError("unknown API key id", venue="kalshi", status=401)
            if not timestamp.isdigit():
                raise AuthError("timestamp header must be integer milliseconds", venue="kalshi", status=401)
            try:
                raw = base64.b64decode(signature, validate=True)
            except (binascii.Error, ValueError):
                raise AuthError("signature header is not base64", venue="kalshi", status=401) from None
            message = f"{timestamp}{method.upper()}{path.split('?', 1)[0]}".encode()
            try:
                public.verify(
                    raw,
                    message,
                    padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
                    hashes.SHA256(),
                )
            except InvalidSignature:
                raise AuthError("signature does not verify", venue="kalshi", status=401) from None
        except AuthError:
            self.auth_failures += 1
            raise
        return key_id

    def _check_ws_auth(self, connection: ServerConnection, request: Any) -> Any:
        if self.partitioned:  # refused: the handshake never gets an answer
            connection.transport.abort()
            return connection.respond(503, "partitioned\n")
        if request.path.split("?", 1)[0] != WS_PATH:
            return connection.respond(404, "not found\n")
        try:
            self._verify(dict(request.headers.raw_items()), "GET", request.path)
        except AuthError as exc:
            return connection.respond(401, f"{exc}\n")
        return None

    # -- WebSocket -------------------------------------------------------------------------------

    async def _handle_ws(self, ws: ServerConnection) -> None:
        headers = {k.lower(): v for k, v in ws.request.headers.raw_items()} if ws.request is not None else {}
        conn = _Conn(ws, headers.get(_ACCESS_KEY, ""), self.max_queued_frames)
        self._conns[conn] = None
        self._conns_by_owner.setdefault(conn.owner, {})[conn] = None
        self.ws_connections_accepted += 1
        if self.faults is not None:
            self.faults.connection_opened(self.stream)
        conn.writer = asyncio.create_task(self._writer(conn))
        try:
            async for message in ws:
                self._on_command(conn, message)
        except ConnectionClosed:
            pass
        finally:
            self._drop_conn(conn)
            conn.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await conn.writer

    def _drop_conn(self, conn: _Conn) -> None:
        self._conns.pop(conn, None)
        owned = self._conns_by_owner.get(conn.owner)
        if owned is not None:
            owned.pop(conn, None)
            if not owned:
                del self._conns_by_owner[conn.owner]
        for sid, sub in list(conn.subs.items()):
            self._unindex(conn, sid, sub)
        conn.subs.clear()

    def _index(self, conn: _Conn, sid: int, sub: _Sub) -> None:
        if sub.channel not in _MARKET_CHANNELS:
            return
        for ticker in sub.tickers if sub.tickers is not None else (None,):
            self._sub_index.setdefault((sub.channel, ticker), {})[(conn, sid)] = sub

    def _unindex(self, conn: _Conn, sid: int, sub: _Sub) -> None:
        if sub.channel not in _MARKET_CHANNELS:
            return
        for ticker in sub.tickers if sub.tickers is not None else (None,):
            subs = self._sub_index.get((sub.channel, ticker))
            if subs is not None:
                subs.pop((conn, sid), None)
                if not subs:
                    del self._sub_index[(sub.channel, ticker)]

    def _enqueue(self, conn: _Conn, sid: int | None, frame: dict[str, Any]) -> None:
        """Queue a frame for the connection's writer. A data frame that does not fit overflows
        its subscription: error 25, the subscription dropped with its queued frames."""
        if sid is not None and frame.get("type") in _BOOK_FRAMES:
            self.book_events_published[frame["msg"]["market_ticker"]] += 1
        if sid is not None and len(conn.queue) >= conn.max_queued:
            self._overflow(conn, sid)
            return
        conn.queue.append((sid, frame))
        conn.wake.set()

    def _overflow(self, conn: _Conn, sid: int) -> None:
        sub = conn.subs.pop(sid, None)
        if sub is None:
            return
        self._unindex(conn, sid, sub)
        self.overflows += 1
        conn.overflows += 1
        conn.queue = deque(item for item in conn.queue if item[0] != sid)
        self._error(conn, None, 25, sid)

    async def _writer(self, conn: _Conn) -> None:
        """Send queued frames in order, through the fault injector; frames ready together go out in
        one socket write (`send_texts`), each still its own message."""
        faults = self.faults
        batch: list[str] = []
        try:
            while True:
                if not conn.queue:
                    conn.wake.clear()
                    await conn.wake.wait()
                    continue
                while conn.queue and len(batch) < _WRITE_BATCH:
                    _, frame = conn.queue.popleft()
                    if faults is not None:
                        latency = faults.jittered_latency_s()
                        if latency > 0:
                            await self._flush(conn, batch)
                            await self._sleep(latency)
                        fault = faults.frame_fault(self.stream, conn.frame_index)
                        conn.frame_index += 1
                        if fault is Fault.DROP_CONNECTION:
                            await self._flush(conn, batch)
                            self.drops_injected += 1
                            transport = conn.ws.transport
                            if transport is not None:
                                transport.abort()
                            return
                        if fault is Fault.FREEZE:
                            self.frames_frozen += 1
                            continue
                        if fault is Fault.SEQUENCE_GAP:
                            conn.pending_gaps += 1
                        if conn.pending_gaps and frame.get("type") == "orderbook_delta":
                            conn.pending_gaps -= 1
                            self.gaps_injected += 1
                            continue  # lost: its seq number is used, its change never arrives
                    batch.append(orjson.dumps(frame).decode())
                await self._flush(conn, batch)
        except ConnectionClosed:
            return

    async def _flush(self, conn: _Conn, batch: list[str]) -> None:
        if batch:
            await send_texts(conn.ws, batch)
            self.frames_sent += len(batch)
            batch.clear()

    def _error(self, conn: _Conn, request_id: Any, code: int, sid: int | None = None) -> None:
        frame: dict[str, Any] = {"id": request_id, "type": "error", "msg": {"code": code, "msg": _WS_ERRORS[code]}}
        if sid is not None:
            frame["sid"] = sid
        self._reply(conn, frame)

    def _reply(self, conn: _Conn, frame: dict[str, Any]) -> None:
        """Queue a command answer: never refused for a full queue (only data frames overflow)."""
        conn.queue.append((None, frame))
        conn.wake.set()

    def _on_command(self, conn: _Conn, message: str | bytes) -> None:
        try:
            command = orjson.loads(message)
        except orjson.JSONDecodeError:
            self._error(conn, None, 1)
            return
        if not isinstance(command, dict):
            self._error(conn, None, 1)
            return
        self.commands_received += 1
        rid = command.get("id")
        cmd = command.get("cmd")
        params = command.get("params")
        if cmd == "list_subscriptions":
            self._reply(
                conn,
                {"id": rid, "type": "ok", "msg": [{"channel": s.channel, "sid": sid} for sid, s in conn.subs.items()]},
            )
            return
        if cmd not in ("subscribe", "unsubscribe", "update_subscription"):
            self._error(conn, rid, 5)
            return
        if not isinstance(params, dict):
            self._error(conn, rid, 2)
            return
        if cmd == "subscribe":
            self._subscribe(conn, rid, params)
        elif cmd == "unsubscribe":
            sids = params.get("sids")
            if not isinstance(sids, list) or not sids:
                self._error(conn, rid, 4)
                return
            for sid in sids:
                sub = conn.subs.pop(sid, None) if isinstance(sid, int) else None
                if sub is None:
                    self._error(conn, rid, 7)
                    continue
                self._unindex(conn, sid, sub)
                sub.seq += 1
                self._reply(conn, {"id": rid, "sid": sid, "seq": sub.seq, "type": "unsubscribed"})
        else:
            self._update(conn, rid, params)

    @staticmethod
    def _tickers(params: dict[str, Any]) -> list[str] | None:
        if isinstance(params.get("market_tickers"), list):
            return [t for t in params["market_tickers"] if isinstance(t, str)]
        if isinstance(params.get("market_ticker"), str):
            return [params["market_ticker"]]
        return None

    def _subscribe(self, conn: _Conn, rid: Any, params: dict[str, Any]) -> None:
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            self._error(conn, rid, 3)
            return
        tickers = self._tickers(params)
        for channel in channels:
            if channel not in _DATA_CHANNELS:
                self._error(conn, rid, 8)
                continue
            if channel == "orderbook_delta" and not tickers:
                self._error(conn, rid, 14)
                continue
            sid = conn.next_sid
            conn.next_sid += 1
            sub = _Sub(channel, set(tickers) if tickers else None)
            conn.subs[sid] = sub
            self._index(conn, sid, sub)
            self._reply(conn, {"id": rid, "type": "subscribed", "msg": {"channel": channel, "sid": sid}})
            if channel == "orderbook_delta":
                for ticker in tickers or ():
                    self._send_snapshot(conn, sid, sub, ticker)

    def _send_snapshot(self, conn: _Conn, sid: int, sub: _Sub, ticker: str) -> None:
        if ticker not in self.engines:
            return
        sub.seq += 1
        self._enqueue(
            conn, sid, {"type": "orderbook_snapshot", "sid": sid, "seq": sub.seq, "msg": self._snapshot_msg(ticker)}
        )

    def _update(self, conn: _Conn, rid: Any, params: dict[str, Any]) -> None:
        sids = params.get("sids")
        if sids is None and isinstance(params.get("sid"), int):
            sids = [params["sid"]]
        if not isinstance(sids, list) or len(sids) != 1:
            self._error(conn, rid, 12)
            return
        sid = sids[0]
        sub = conn.subs.get(sid) if isinstance(sid, int) else None
        if sub is None:
            self._error(conn, rid, 7)
            return
        action = params.get("action")
        if action is None:
            self._error(conn, rid, 15)
            return
        tickers = self._tickers(params)
        if not tickers:
            self._error(conn, rid, 14)
            return
        if action not in ("add_markets", "delete_markets", "get_snapshot"):
            self._error(conn, rid, 13)
            return
        self._unindex(conn, sid, sub)
        if action == "add_markets":
            sub.tickers = (sub.tickers or set()) | set(tickers)
        elif action == "delete_markets":
            sub.tickers = (sub.tickers or set()) - set(tickers)
        self._index(conn, sid, sub)
        sub.seq += 1
        self._reply(
            conn,
            {"id": rid, "sid": sid, "seq": sub.seq, "type": "ok", "msg": {"market_tickers": sorted(sub.tickers or ())}},
        )
        if sub.channel == "orderbook_delta" and action in ("add_markets", "get_snapshot"):
            for ticker in tickers:
                self._send_snapshot(conn, sid, sub, ticker)

    # -- REST ------------------------------------------------------------------------------------

    @staticmethod
    def _error_response(status: int, code: str, message: str, details: str | None = None) -> HttpResponse:
        error = {"code": code, "message": message, "service": "exchange"}
        if details is not None:
            error["details"] = details
        return HttpResponse.json(status, {"error": error})

    @staticmethod
    def _v2_error_response(exc: KalshiRefusal) -> HttpResponse:
        status = exc.status or 400
        if exc.flat:
            return HttpResponse.json(status, {"code": exc.code, "message": exc.message, "details": exc.details or ""})
        return HttpResponse.json(status, {"error": _v2_error(exc)})

    async def _handle_http(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(REST_PREFIX + "/"):
            return self._error_response(404, "not_found", "unknown path")
        try:
            owner = self._verify(request.headers, request.method, request.raw_path)
        except AuthError as exc:
            return self._error_response(401, "unauthorized", str(exc))
        self._expire_due()
        route = request.path[len(REST_PREFIX) :]
        parts = [p for p in route.split("/") if p]
        method = request.method
        if parts[:3] == ["portfolio", "events", "orders"]:
            try:
                return await self._route_v2(owner, method, parts[3:], request)
            except KalshiRefusal as exc:
                return self._v2_error_response(exc)
        try:
            if method == "GET":
                return self._get(owner, parts, request)
            if method == "POST" and parts == ["portfolio", "orders"]:
                return await self._post_order(owner, request)
            if method == "POST" and parts == ["portfolio", "orders", "batched"]:
                return self._post_batch(owner, request)
            if method == "DELETE" and parts == ["portfolio", "orders", "batched"]:
                return self._batch_cancel(owner, request)
            if method == "DELETE" and len(parts) == 3 and parts[:2] == ["portfolio", "orders"]:
                meta = self._orders.get(parts[2])
                if meta is None or meta.owner != owner or meta.order.status is not OrderStatus.OPEN:
                    # as the venue: only a resting order can be cancelled; a filled, cancelled or
                    # expired one is "not found" here (GET /portfolio/orders/{id} still shows it)
                    return self._error_response(404, "not_found", "order not found")
                before = meta.order.remaining_micro
                self.cancel(parts[2])
                return HttpResponse.json(200, {"order": self._order_json(meta), "reduced_by_fp": _count(before)})
        except KalshiRefusal as exc:
            return self._error_response(exc.status or 400, exc.code, exc.message, exc.details)
        return self._error_response(404, "not_found", f"no route for {method} {route}")

    async def _route_v2(self, owner: str, method: str, rest: list[str], request: HttpRequest) -> HttpResponse:
        """/portfolio/events/orders[/...]: the V2 event-order routes."""
        if rest == [] and method == "POST":
            return await self._post_order_v2(owner, request)
        if rest == [] and method == "DELETE":
            return self._cancel_all_v2(owner)
        if rest == ["batched"] and method == "POST":
            return self._post_batch_v2(owner, request)
        if rest == ["batched"] and method == "DELETE":
            return self._batch_cancel_v2(owner, request)
        if len(rest) == 1 and method == "DELETE":
            q = request.query
            routing: dict[str, Any] = {}
            for name in ("exchange_index", "subaccount"):
                if q.get(name):
                    try:
                        routing[name] = int(q[name])
                    except ValueError:
                        raise _bad_request(f"{name} must be an integer") from None
            _v2_routing(routing)
            return HttpResponse.json(200, self._cancel_v2(owner, rest[0], q.get("market_ticker") or None))
        if len(rest) == 2 and method == "POST" and rest[1] == "amend":
            return self._amend_v2(owner, rest[0], request)
        if len(rest) == 2 and method == "POST" and rest[1] == "decrease":
            return self._decrease_v2(owner, rest[0], request)
        raise KalshiRefusal(404, "not_found", f"no route for {method} {request.path[len(REST_PREFIX) :]}")

    def _batch_cancel(self, owner: str, request: HttpRequest) -> HttpResponse:
        """Legacy `DELETE /portfolio/orders/batched`: {"ids": [...]} or {"orders": [{"order_id"}]};
        each answer carries the order, `reduced_by_fp` and, when it failed, its own error."""
        body = _json_body(request)
        ids: Any = body.get("ids") if isinstance(body, dict) else None
        if ids is None and isinstance(body, dict) and isinstance(body.get("orders"), list):
            ids = [item.get("order_id") if isinstance(item, dict) else None for item in body["orders"]]
        if not isinstance(ids, list) or not 0 < len(ids) <= _BATCH_MAX:
            raise _invalid("ids", f"must be a list of 1 to {_BATCH_MAX} order ids")
        out = []
        for order_id in ids:
            meta = self._orders.get(order_id) if isinstance(order_id, str) else None
            if meta is None or meta.owner != owner or not meta.order.is_open:
                error = {"code": "not_found", "message": "order not found", "service": "exchange"}
                out.append(
                    {"order_id": order_id if isinstance(order_id, str) else "", "reduced_by_fp": "0.00", "error": error}
                )
                continue
            before = meta.order.remaining_micro
            self.cancel(meta.order.order_id)
            out.append(
                {"order_id": meta.order.order_id, "order": self._order_json(meta), "reduced_by_fp": _count(before)}
            )
        return HttpResponse.json(200, {"orders": out})

    def _page(
        self,
        items: Sequence[Any],
        request: HttpRequest,
        key: str,
        extra: dict[str, Any] | None = None,
        render: Callable[[Any], Any] | None = None,
    ) -> HttpResponse:
        """One page of `items` (already filtered); `render`, when given, turns only the page's items
        into JSON (order histories are long)."""
        try:
            limit = min(int(request.query.get("limit", "100")), self.page_size_cap)
            start = int(request.query.get("cursor") or 0)
        except ValueError:
            return self._error_response(400, "invalid_parameters", "bad limit or cursor")
        if limit <= 0 or start < 0:
            return self._error_response(400, "invalid_parameters", "limit must be positive")
        page = items[start : start + limit]
        chunk = [render(item) for item in page] if render is not None else list(page)
        cursor = str(start + limit) if start + limit < len(items) else ""
        return HttpResponse.json(200, {key: chunk, "cursor": cursor, **(extra or {})})

    def _market_json(self, market: SimMarket) -> dict[str, Any]:
        engine = self.engines[market.ticker]
        bid, ask = engine.best_bid(), engine.best_ask()
        event = self.events[market.event_ticker]
        out: dict[str, Any] = {
            "ticker": market.ticker,
            "event_ticker": market.event_ticker,
            "market_type": "binary",
            "title": market.title or market.ticker,
            "yes_sub_title": market.yes_sub_title,
            "no_sub_title": market.yes_sub_title,
            "created_time": _iso(market.open_time_ms),
            "updated_time": _iso(market.open_time_ms),
            "open_time": _iso(market.open_time_ms),
            "close_time": _iso(market.close_time_ms),
            "latest_expiration_time": _iso(market.close_time_ms),
            "expected_expiration_time": _iso(market.close_time_ms),
            "settlement_timer_seconds": 60,
            "status": market.status,
            "notional_value_dollars": "1.0000",
            "yes_bid_dollars": _dollars(bid[0]) if bid else "0.0000",
            "yes_ask_dollars": _dollars(ask[0]) if ask else "1.0000",
            "no_bid_dollars": _dollars(SCALE - ask[0]) if ask else "0.0000",
            "no_ask_dollars": _dollars(SCALE - bid[0]) if bid else "1.0000",
            "yes_bid_size_fp": _count(bid[1]) if bid else "0.00",
            "yes_ask_size_fp": _count(ask[1]) if ask else "0.00",
            "last_price_dollars": _dollars(market.last_price_micro),
            "previous_yes_bid_dollars": "0.0000",
            "previous_yes_ask_dollars": "0.0000",
            "previous_price_dollars": "0.0000",
            "volume_fp": _count(engine.volume_micro),
            "volume_24h_fp": _count(engine.volume_micro),
            "liquidity_dollars": "0.0000",
            "open_interest_fp": "0.00",
            "result": market.result,
            "can_close_early": True,
            "fractional_trading_enabled": market.fractional,
            "expiration_value": "",
            "rules_primary": market.rules_primary,
            "rules_secondary": market.rules_secondary,
            "price_level_structure": market.price_level_structure,
            "price_ranges": [
                {"start": _dollars(a), "end": _dollars(b), "step": _dollars(c)}
                for a, b, c in kalshi_tick_bands(market.price_level_structure)
            ],
            "strike_type": market.strike_type,
            "settlement_bounds_type": "default",  # no settlement bounds
            "exchange_index": 0,
        }
        if market.strike_type == "custom":
            out["custom_strike"] = dict(market.custom_strike) if market.custom_strike else {"Event": event.title}
        for key, value in (("floor_strike", market.floor_strike), ("cap_strike", market.cap_strike)):
            if value is not None:
                out[key] = float(value)  # a JSON number, as the venue sends it
        if market.settlement_value_micro is not None:
            out["settlement_value_dollars"] = _dollars(market.settlement_value_micro)
        if market.settlement_ms is not None:
            out["settlement_ts"] = _iso(market.settlement_ms)
        return out

    def _event_json(self, event: SimEvent, nested: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_ticker": event.event_ticker,
            "series_ticker": event.series_ticker,
            "sub_title": "",
            "title": event.title,
            "collateral_return_type": "binary",
            "mutually_exclusive": event.mutually_exclusive,
            "available_on_brokers": False,
            "product_metadata": None,
            "category": "sim",
            "settlement_sources": [],
            "exchange_index": 0,
        }
        if nested:
            out["markets"] = [self._market_json(self.markets[t]) for t in self._markets_by_event[event.event_ticker]]
        return out

    def _series_json(self, series: SimSeries) -> dict[str, Any]:
        return {
            "ticker": series.ticker,
            "frequency": "custom",
            "title": series.title,
            "category": "sim",
            "categories": ["sim"],
            "tags": [],
            "settlement_sources": [],
            "contract_url": "",
            "contract_terms_url": "",
            "fee_type": series.fee_type,
            "fee_multiplier": float(series.fee_multiplier),
            "additional_prohibitions": [],
        }

    def _get(self, owner: str, parts: list[str], request: HttpRequest) -> HttpResponse:
        q = request.query
        account = self.accounts[owner]
        if parts == ["markets"]:
            markets: Iterable[SimMarket]
            if q.get("tickers"):
                markets = [self.markets[t] for t in q["tickers"].split(",") if t in self.markets]
            elif q.get("event_ticker"):
                markets = [self.markets[t] for t in self._markets_by_event.get(q["event_ticker"], ())]
            else:
                markets = list(self.markets.values())
            if q.get("series_ticker"):
                markets = [m for m in markets if self.events[m.event_ticker].series_ticker == q["series_ticker"]]
            if q.get("status"):
                wanted = {"open": ("active",), "closed": ("closed", "determined"), "settled": ("finalized",)}.get(
                    q["status"], (q["status"],)
                )
                markets = [m for m in markets if m.status in wanted]
            return self._page(list(markets), request, "markets", render=self._market_json)
        if parts == ["markets", "trades"]:
            return self._trades_page(request)
        if parts == ["markets", "orderbooks"]:
            tickers = request.query_values("tickers")
            books = [{"ticker": t, "orderbook_fp": self._rest_book(t)} for t in tickers if t in self.engines]
            return HttpResponse.json(200, {"orderbooks": books})
        if len(parts) == 2 and parts[0] == "markets":
            market = self.markets.get(parts[1])
            if market is None:
                return self._error_response(404, "not_found", "market not found")
            return HttpResponse.json(200, {"market": self._market_json(market)})
        if len(parts) == 3 and parts[0] == "markets" and parts[2] == "orderbook":
            if parts[1] not in self.engines:
                return self._error_response(404, "not_found", "market not found")
            return HttpResponse.json(200, {"orderbook_fp": self._rest_book(parts[1], int(q.get("depth") or 0))})
        if parts == ["exchange", "status"]:
            return HttpResponse.json(200, self._exchange_status())
        if parts == ["events"]:
            events = list(self.events.values())
            if q.get("series_ticker"):
                events = [e for e in events if e.series_ticker == q["series_ticker"]]
            nested = q.get("with_nested_markets") == "true"
            return self._page(
                events, request, "events", {"milestones": []}, render=lambda e: self._event_json(e, nested)
            )
        if len(parts) == 2 and parts[0] == "events":
            event = self.events.get(parts[1])
            if event is None:
                return self._error_response(404, "not_found", "event not found")
            return HttpResponse.json(
                200,
                {
                    "event": self._event_json(event, True),
                    "markets": [self._market_json(self.markets[t]) for t in self._markets_by_event[event.event_ticker]],
                },
            )
        if parts == ["series"]:
            return HttpResponse.json(200, {"series": [self._series_json(s) for s in self.series.values()]})
        if len(parts) == 2 and parts[0] == "series":
            series = self.series.get(parts[1])
            if series is None:
                return self._error_response(404, "not_found", "series not found")
            return HttpResponse.json(200, {"series": self._series_json(series)})
        if parts == ["portfolio", "orders"]:
            metas: Iterable[_OrderMeta] = (
                account.resting.values() if q.get("status") == "resting" else account.orders.values()
            )
            if q.get("ticker"):
                metas = [m for m in metas if m.ticker == q["ticker"]]
            if q.get("status"):
                metas = [m for m in metas if _STATUS_TEXT[m.order.status] == q["status"]]
            if q.get("event_ticker"):
                metas = [m for m in metas if self.markets[m.ticker].event_ticker == q["event_ticker"]]
            if q.get("min_ts"):
                low_ms = _query_int(q, "min_ts") * 1000
                metas = [m for m in metas if m.created_ms >= low_ms]
            if q.get("max_ts"):
                high_ms = (_query_int(q, "max_ts") + 1) * 1000
                metas = [m for m in metas if m.created_ms < high_ms]
            return self._page(list(metas), request, "orders", render=self._order_json)
        if len(parts) == 3 and parts[:2] == ["portfolio", "orders"]:
            meta = account.orders.get(parts[2])
            if meta is None:
                return self._error_response(404, "not_found", "order not found")
            return HttpResponse.json(200, {"order": self._order_json(meta)})
        if parts == ["portfolio", "fills"]:
            fills: list[dict[str, Any]] = account.fills
            if q.get("order_id"):
                fills = account.fills_by_order.get(q["order_id"], [])
                if q.get("ticker"):
                    fills = [f for f in fills if f["ticker"] == q["ticker"]]
            elif q.get("ticker"):
                fills = account.fills_by_ticker.get(q["ticker"], [])
            if q.get("min_ts"):
                low_s = _query_int(q, "min_ts")
                fills = [f for f in fills if f["ts"] >= low_s]
            if q.get("max_ts"):
                high_s = _query_int(q, "max_ts")
                fills = [f for f in fills if f["ts"] <= high_s]
            return self._page(fills, request, "fills")
        if parts == ["portfolio", "positions"]:
            return self._positions(account, request)
        if parts == ["portfolio", "settlements"]:
            return self._page(account.settlements, request, "settlements")
        if parts == ["portfolio", "balance"]:
            available = account.available_micro
            exposure = sum(p.cost_micro for p in account.positions.values())
            value = account.cash_micro + exposure
            return HttpResponse.json(
                200,
                {
                    "balance": available // 10_000,
                    "balance_dollars": _money(available),
                    "portfolio_value": value // 10_000,
                    "portfolio_value_dollars": _money(value),
                    "updated_ts": self._now_ms() // 1000,
                },
            )
        return self._error_response(404, "not_found", "no such endpoint")

    def _positions(self, account: KalshiAccount, request: HttpRequest) -> HttpResponse:
        """`GET /portfolio/positions`: open market positions (filters `ticker`, `event_ticker`) and
        their sums per event."""
        q = request.query
        now = _iso(self._now_ms())
        held = [
            (ticker, p)
            for ticker, p in sorted(account.positions.items())
            if p.position_micro
            and (not q.get("ticker") or ticker == q["ticker"])
            and (not q.get("event_ticker") or self.markets[ticker].event_ticker == q["event_ticker"])
        ]
        positions = [
            {
                "ticker": ticker,
                "total_traded_dollars": _money(p.traded_micro),
                "position_fp": _count(p.position_micro),
                "market_exposure_dollars": _money(p.cost_micro),
                "realized_pnl_dollars": _money(p.realized_pnl_micro),
                "resting_orders_count": 0,
                "fees_paid_dollars": _money(p.fees_micro),
                "last_updated_ts": now,
                "exchange_index": 0,
            }
            for ticker, p in held
        ]
        by_event: dict[str, list[KalshiPosition]] = {}
        for ticker, p in held:
            by_event.setdefault(self.markets[ticker].event_ticker, []).append(p)
        events = [
            {
                "event_ticker": event,
                "total_cost_dollars": _money(sum(p.cost_micro for p in group)),
                "total_cost_shares_fp": _count(sum(abs(p.position_micro) for p in group)),
                "event_exposure_dollars": _money(sum(p.cost_micro for p in group)),
                "realized_pnl_dollars": _money(sum(p.realized_pnl_micro for p in group)),
                "fees_paid_dollars": _money(sum(p.fees_micro for p in group)),
            }
            for event, group in by_event.items()
        ]
        return self._page(positions, request, "market_positions", {"event_positions": events})

    def _trades_page(self, request: HttpRequest) -> HttpResponse:
        """`GET /markets/trades`: every market's trades (or one `ticker`'s), newest first, within
        `min_ts`/`max_ts` (epoch seconds, inclusive); block trades are never simulated."""
        q = request.query
        min_ms = _query_int(q, "min_ts") * 1000 if q.get("min_ts") else None
        max_ms = _query_int(q, "max_ts") * 1000 + 999 if q.get("max_ts") else None
        if q.get("is_block_trade") == "true":
            return self._page([], request, "trades")
        source = self._trades_by_ticker.get(q["ticker"], ()) if q.get("ticker") else self._trades
        trades = [
            record
            for ts_ms, record in reversed(source)
            if (min_ms is None or ts_ms >= min_ms) and (max_ms is None or ts_ms <= max_ms)
        ]
        return self._page(trades, request, "trades")

    def _exchange_status(self) -> dict[str, Any]:
        return {
            "exchange_active": self.exchange_active,
            "trading_active": self.trading_active,
            "intra_exchange_transfers_active": False,
            "exchange_estimated_resume_time": None,
            "exchange_index_statuses": [
                {
                    "exchange_index": 0,
                    "description": "simulated exchange",
                    "exchange_active": self.exchange_active,
                    "trading_active": self.trading_active,
                    "intra_exchange_transfers_active": False,
                }
            ],
        }

    def _rest_book(self, ticker: str, depth: int = 0) -> dict[str, Any]:

        yes, no = self.book(ticker)
        if depth > 0:
            yes, no = yes[:depth], no[:depth]
        return {
            "yes_dollars": [[_dollars(p), _count(s)] for p, s in sorted(yes)],
            "no_dollars": [[_dollars(p), _count(s)] for p, s in sorted(no)],
        }

    def _place(self, owner: str, body: Any) -> _OrderMeta:
        order = parse_create_order(body)
        meta, _ = self.submit(
            owner,
            order.ticker,
            order.outcome,
            order.action,
            order.price_micro_usd,
            order.size_micro,
            order.tif,
            order.client_order_id,
            expiration_ms=order.expiration_ms,
            post_only=order.post_only,
            reduce_only=order.reduce_only,
        )
        return meta

    async def _post_order(self, owner: str, request: HttpRequest) -> HttpResponse:
        body = _json_body(request)
        meta = self._place(owner, body)
        if self._order_response_faults:
            mode = self._order_response_faults.popleft()
            if mode == "timeout":
                await self._hang.wait()  # processed, never answered (until the server closes)
            return self._error_response(500, "internal_error", "simulated failure after processing")
        return HttpResponse.json(201, {"order": self._order_json(meta)})

    def _post_batch(self, owner: str, request: HttpRequest) -> HttpResponse:
        body = _json_body(request)
        orders = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(orders, list) or not 0 < len(orders) <= 20:
            raise _invalid("orders", "must be a list of 1 to 20 orders")
        out = []
        for item in orders:
            cid = item.get("client_order_id") if isinstance(item, dict) else None
            try:
                meta = self._place(owner, item)
                out.append({"client_order_id": cid, "order": self._order_json(meta), "error": None})
            except KalshiRefusal as exc:
                out.append({"client_order_id": cid, "order": None, "error": {"code": exc.code, "message": exc.message}})
        return HttpResponse.json(201, {"orders": out})

    # -- V2 event-order routes ---------------------------------------------------------------------

    def place_v2(self, owner: str, order: CreateOrderV2) -> tuple[_OrderMeta, SubmitResult]:
        """Place a parsed V2 order through `submit` - the same books, ledgers, fills and socket
        events as the legacy route. BID is recorded as buy YES and ASK as sell YES (the deprecated
        side/action of the REST Order); outcome_side/book_side follow the book side.

        A reduce-only order (IOC only) is capped at what it can reduce, as the venue caps it. A FOK
        that cannot fill completely is killed and answered 409
        `fill_or_kill_insufficient_resting_volume` ("fill or kill insufficient resting volume"):
        the create-order operation lists 409 among its ErrorResponse answers, and that is the code
        and text the live venue returns for a killed FOK, as recorded in several independent
        public trading clients' logs and tests (2026); one of them notes that the killed order
        still holds its client_order_id (a retry with it gets 409 order_already_exists), so the
        killed order stays on record here as a cancelled order."""
        market = self.markets.get(order.ticker)
        if market is not None and order.size_micro % self._lot(order.ticker):
            raise _invalid_order(f"fractional contracts are not enabled on market {order.ticker}")
        if order.expiration_ms is not None and order.expiration_ms <= self._now_ms():
            raise _invalid_order("expiration_time must be in the future")
        size = order.size_micro
        account = self.accounts.get(owner)
        if order.reduce_only and account is not None and market is not None:
            position = account.positions.get(order.ticker)
            held = 0 if position is None else _closable(position.position_micro, order.side)
            lot = self._lot(order.ticker)
            free = held - account.committed.get((order.ticker, order.side), 0)
            size = min(size, max(free, 0) // lot * lot)
            if size <= 0:
                raise _invalid_order("reduce only order would not reduce the position")
        meta, result = self.submit(
            owner,
            order.ticker,
            Side.YES,
            Action.BUY if order.side is BookSide.BID else Action.SELL,
            order.yes_price_micro,
            size,
            order.tif,
            order.client_order_id,
            expiration_ms=order.expiration_ms,
            post_only=order.post_only,
            reduce_only=order.reduce_only,
            self_trade_prevention=order.self_trade_prevention,
            cancel_order_on_pause=order.cancel_order_on_pause,
        )
        if meta.order.cancel_reason is CancelReason.FOK_NOT_FILLABLE:
            raise KalshiRefusal(409, _FOK_KILLED, "fill or kill insufficient resting volume")
        return meta, result

    def amend(self, order_id: str, yes_price_micro: int, remaining_micro: int) -> SubmitResult:
        """Give a resting account order a new YES price and remaining size (same id, same fills so
        far). Only a smaller size at the same price keeps the order's place in the queue (a
        decrease); otherwise it matches at the new price as an incoming order and rests at the back.
        Its reservation is taken again for the new terms: refused (nothing changes) when the balance
        cannot cover them."""
        meta = self._orders.get(order_id)
        if meta is None or not meta.order.is_open:
            raise KalshiRefusal(404, "not_found", "order not found")
        market = self.markets[meta.ticker]
        lot = self._lot(meta.ticker)
        if remaining_micro <= 0 or remaining_micro % lot:
            raise _invalid("count", f"must leave a positive multiple of {_count(lot)} to rest")
        if not 0 < yes_price_micro < SCALE or not market.on_tick(yes_price_micro):
            raise _invalid("price", f"{_dollars(yes_price_micro)} is not on the tick grid of {meta.ticker}")
        order = meta.order
        if yes_price_micro == order.price_micro_usd and remaining_micro <= order.remaining_micro:
            if remaining_micro < order.remaining_micro:
                self.decrease(order_id, order.remaining_micro - remaining_micro)
            return SubmitResult(order, [], [])
        account = self.accounts[meta.owner]
        engine = self.engines[meta.ticker]
        if meta.post_only and engine.crosses(meta.side, yes_price_micro):
            raise KalshiRefusal(400, "post_only_cross", "post-only order would cross the book")
        old = (meta.closing_left, meta.opening_left, meta.unit_cost_micro, meta.fee_left_micro)
        self._release_holds(account, meta)
        reservation = self._reservation(account, meta.ticker, meta.side, yes_price_micro, remaining_micro)
        _, opening, unit_cost, fee_reserve = reservation
        need = opening * unit_cost // SCALE + fee_reserve
        if need > account.available_micro:
            self._hold(account, meta, old)
            raise KalshiRefusal(
                400,
                "insufficient_balance",
                f"insufficient balance: amended order needs {_money(need)}, available {_money(account.available_micro)}",
            )
        self._hold(account, meta, reservation)
        if meta.self_trade_prevention == "maker":
            victims, _ = self._self_trade_victims(engine, meta.owner, meta.side, yes_price_micro, remaining_micro)
            for victim in victims:
                self.cancel(victim)
        policy = engine.self_trade
        if meta.self_trade_prevention == "taker_at_cross":
            engine.self_trade = SelfTradePolicy.CANCEL_TAKER
        try:
            result = engine.amend(order_id, yes_price_micro, remaining_micro)
        finally:
            engine.self_trade = policy
        meta.updated_ms = self._now_ms()
        self._publish_result(result.deltas, result.fills)
        self._after_change(meta)
        self._publish_order(meta)
        return result

    def decrease(self, order_id: str, amount_micro: int) -> _OrderMeta | None:
        """Take `amount_micro` off a resting order, keeping its queue place (all of it: cancelled);
        what the order no longer needs is released. None for an unknown id."""
        meta = self._orders.get(order_id)
        if meta is None:
            return None
        result = self.engines[meta.ticker].decrease(order_id, amount_micro)
        if not result.canceled:
            return meta
        meta.updated_ms = self._now_ms()
        account = self.accounts.get(meta.owner)
        if account is not None and meta.order.is_open:
            closing, opening, unit_cost, fee_left = (
                meta.closing_left,
                meta.opening_left,
                meta.unit_cost_micro,
                meta.fee_left_micro,
            )
            from_opening = min(amount_micro, opening)  # fills use committed contracts first, so drop cash first
            self._release_holds(account, meta)
            fee_type, multiplier = self._fee_terms(meta.ticker)
            worst_fee = sim_fees.kalshi_worst_order_fee_micro(
                sim_fees.kalshi_coefficient(fee_type, multiplier, maker=False),
                meta.order.price_micro_usd,
                meta.order.remaining_micro,
                buying_yes=meta.side is BookSide.BID,
            )
            hold = (
                closing - (amount_micro - from_opening),
                opening - from_opening,
                unit_cost,
                min(fee_left, worst_fee),
            )
            self._hold(account, meta, hold)
        self._publish_result(result.deltas, [])
        if account is not None:
            self._after_change(meta)
            self._publish_order(meta)
        return meta

    def _release_holds(self, account: KalshiAccount, meta: _OrderMeta) -> None:
        account.reserved_micro -= meta.opening_left * meta.unit_cost_micro // SCALE + meta.fee_left_micro
        key = (meta.ticker, meta.side)
        account.committed[key] = account.committed.get(key, 0) - meta.closing_left
        meta.closing_left = meta.opening_left = meta.fee_left_micro = 0

    def _hold(self, account: KalshiAccount, meta: _OrderMeta, reservation: tuple[int, int, int, int]) -> None:
        closing, opening, unit_cost, fee_reserve = reservation
        meta.closing_left, meta.opening_left, meta.unit_cost_micro, meta.fee_left_micro = reservation
        account.reserved_micro += opening * unit_cost // SCALE + fee_reserve
        key = (meta.ticker, meta.side)
        account.committed[key] = account.committed.get(key, 0) + closing

    def _v2_fill_answer(self, meta: _OrderMeta, fills: Sequence[SimFill], fee_micro: int) -> dict[str, Any]:
        """The immediate-execution part of a V2 create/amend answer: counts, and the average YES
        price and fee per contract of this call's taker fills, each rounded to the nearest
        $0.000001 (absent when nothing filled: there is no average)."""
        order = meta.order
        out: dict[str, Any] = {"order_id": order.order_id}
        if order.client_order_id is not None:
            out["client_order_id"] = order.client_order_id
        out["fill_count"] = _count(order.filled_micro)
        out["remaining_count"] = _count(order.remaining_micro)
        mine = [f for f in fills if f.taker_order_id == order.order_id]
        filled = sum(f.size_micro for f in mine)
        if filled:
            notional = sum(f.size_micro * f.price_micro_usd for f in mine)
            out["average_fill_price"] = _dollars((2 * notional + filled) // (2 * filled))
            out["average_fee_paid"] = _dollars((2 * fee_micro * SCALE + filled) // (2 * filled))
        out["ts_ms"] = self._now_ms()
        return out

    async def _post_order_v2(self, owner: str, request: HttpRequest) -> HttpResponse:
        order = parse_create_order_v2(_v2_json(request))
        killed: KalshiRefusal | None = None
        try:
            meta, result = self.place_v2(owner, order)
        except KalshiRefusal as exc:
            if exc.code != _FOK_KILLED:
                raise  # refused before it reached the book: nothing was processed
            killed = exc
        if self._order_response_faults:
            mode = self._order_response_faults.popleft()
            if mode == "timeout":
                await self._hang.wait()  # processed, never answered (until the server closes)
            return self._error_response(500, "internal_error", "simulated failure after processing")
        if killed is not None:
            raise killed
        return HttpResponse.json(201, self._v2_fill_answer(meta, result.fills, meta.taker_fees.charged_micro))

    def _post_batch_v2(self, owner: str, request: HttpRequest) -> HttpResponse:
        body = _v2_json(request)
        orders = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(orders, list) or not 0 < len(orders) <= _BATCH_MAX:
            raise _invalid_order(f"orders must be a list of 1 to {_BATCH_MAX} orders")
        out = []
        for item in orders:
            cid = item.get("client_order_id") if isinstance(item, dict) else None
            try:
                meta, result = self.place_v2(owner, parse_create_order_v2(item))
            except KalshiRefusal as exc:
                entry: dict[str, Any] = {"error": _v2_error(exc, in_batch=True)}
                if isinstance(cid, str):
                    entry["client_order_id"] = cid
                out.append(entry)
                continue
            answer = self._v2_fill_answer(meta, result.fills, meta.taker_fees.charged_micro)
            answer["error"] = None
            out.append(answer)
        return HttpResponse.json(201, {"orders": out})

    def _cancel_v2(self, owner: str, order_id: str, market_ticker: str | None) -> dict[str, Any]:
        """Cancel one resting order: {order_id, client_order_id, reduced_by, ts_ms}. Only a resting
        order of the caller can be cancelled; anything else is 404 not_found."""
        meta = self._orders.get(order_id)
        if (
            meta is None
            or meta.owner != owner
            or not meta.order.is_open
            or (market_ticker is not None and market_ticker != meta.ticker)
        ):
            raise KalshiRefusal(404, "not_found", "order not found")
        before = meta.order.remaining_micro
        self.cancel(order_id)
        out: dict[str, Any] = {"order_id": order_id}
        if meta.order.client_order_id is not None:
            out["client_order_id"] = meta.order.client_order_id
        out["reduced_by"] = _count(before)
        out["ts_ms"] = self._now_ms()
        return out

    def _batch_cancel_v2(self, owner: str, request: HttpRequest) -> HttpResponse:
        body = _v2_json(request)
        items = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(items, list) or not 0 < len(items) <= _BATCH_MAX:
            raise _invalid_order(f"orders must be a list of 1 to {_BATCH_MAX} cancellations")
        out = []
        for item in items:
            order_id = item.get("order_id") if isinstance(item, dict) else None
            try:
                fields = _v2_object(item)
                if not order_id:
                    raise KalshiRefusal(400, "missing_parameters", "missing parameters", "order_id is required")
                _v2_routing(fields)
                entry = self._cancel_v2(owner, order_id, fields.get("market_ticker"))
            except KalshiRefusal as exc:
                entry = {"order_id": order_id if isinstance(order_id, str) else "", "reduced_by": "0.00"}
                entry["error"] = _v2_error(exc, in_batch=True)
            else:
                entry["error"] = None
            out.append(entry)
        return HttpResponse.json(200, {"orders": out})

    def _cancel_all_v2(self, owner: str) -> HttpResponse:
        account = self.accounts[owner]
        for order_id in list(account.resting):
            self.cancel(order_id)
        return HttpResponse(204)

    def _decrease_v2(self, owner: str, order_id: str, request: HttpRequest) -> HttpResponse:
        fields = _v2_object(_v2_json(request))
        _v2_routing(fields)
        meta = self._orders.get(order_id)
        if meta is None or meta.owner != owner or not meta.order.is_open:
            raise KalshiRefusal(404, "not_found", "order not found")
        by, to = fields.get("reduce_by"), fields.get("reduce_to")
        if (by is None) == (to is None):
            raise _invalid_order("exactly one of reduce_by or reduce_to is required")
        remaining = meta.order.remaining_micro
        if by is not None:
            amount = _v2_count(by, "reduce_by")
        else:
            target = _v2_count(to or "", "reduce_to", allow_zero=True)
            if target >= remaining:
                raise _invalid_order("reduce_to must be below the remaining count")
            amount = remaining - target
        if amount % self._lot(meta.ticker):
            raise _invalid_order(f"fractional contracts are not enabled on market {meta.ticker}")
        self.decrease(order_id, amount)
        out: dict[str, Any] = {"order_id": order_id}
        if meta.order.client_order_id is not None:
            out["client_order_id"] = meta.order.client_order_id
        out["remaining_count"] = _count(meta.order.remaining_micro)
        out["ts_ms"] = self._now_ms()
        return HttpResponse.json(200, out)

    def _amend_v2(self, owner: str, order_id: str, request: HttpRequest) -> HttpResponse:
        """`count` is the new total the order may fill (filled so far + what should rest); ticker
        and side must be the order's own; `expiration_time` 0 removes the expiry, omitted keeps it."""
        fields = _v2_object(_v2_json(request))
        _v2_routing(fields)
        meta = self._orders.get(order_id)
        if meta is None or meta.owner != owner or not meta.order.is_open:
            raise KalshiRefusal(404, "not_found", "order not found")
        if not fields.get("ticker"):
            raise KalshiRefusal(400, "missing_parameters", "missing parameters", "ticker is required")
        if fields["ticker"] != meta.ticker:
            raise _invalid_order("ticker does not match the order")
        if _v2_book_side(fields.get("side")) is not meta.side:
            raise _invalid_order("side does not match the order")
        if fields.get("price") is None or fields.get("count") is None:
            raise _invalid_order("price and count are required")
        price = _v2_price(fields["price"])
        total = _v2_count(fields["count"], "count")
        cid, new_cid = fields.get("client_order_id"), fields.get("updated_client_order_id")
        if cid is not None and cid != meta.order.client_order_id:
            raise _invalid_order("client_order_id does not match the order")
        account = self.accounts[owner]
        if new_cid is not None and new_cid != meta.order.client_order_id and new_cid in account.by_client_id:
            raise KalshiRefusal(409, "order_already_exists", f"order with client_order_id {new_cid} exists")
        expiration = fields.get("expiration_time")
        if expiration is not None and expiration < 0:
            raise _invalid_order("expiration_time must not be negative")
        if expiration and expiration * 1_000 <= self._now_ms():
            raise _invalid_order("expiration_time must be in the future")
        order = meta.order
        done = order.filled_micro
        if total <= done:
            raise _invalid_order("count must exceed the filled count")
        fees_before = meta.taker_fees.charged_micro
        result = self.amend(order_id, price, total - done)
        if new_cid is not None and new_cid != order.client_order_id:
            if order.client_order_id is not None:
                account.by_client_id.pop(order.client_order_id, None)
            order.client_order_id = new_cid
            account.by_client_id[new_cid] = order_id
        if expiration is not None:
            meta.expiration_ms = expiration * 1_000 or None
            if meta.expiration_ms is not None and order.is_open:
                heapq.heappush(self._expiry, (meta.expiration_ms, order.created_seq, order_id))
        answer = self._v2_fill_answer(meta, result.fills, meta.taker_fees.charged_micro - fees_before)
        return HttpResponse.json(200, answer)


# -- CreateOrderRequest, parsed by the simulator's own code -------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateOrder:
    ticker: str
    outcome: Side
    action: Action
    price_micro_usd: int  # of the outcome bought or sold
    size_micro: int
    tif: TimeInForce
    client_order_id: str | None
    expiration_ms: int | None
    post_only: bool
    reduce_only: bool


def _count_micro(body: dict[str, Any]) -> int:
    fp, legacy = body.get("count_fp"), body.get("count")
    size = None
    if fp is not None:
        if not isinstance(fp, str) or not _COUNT_TEXT.fullmatch(fp):
            raise _invalid("count_fp", "must be a count string with at most 2 decimals")
        whole, _, frac = fp.partition(".")
        size = int(whole) * SCALE + int((frac + "00")[:2]) * 10_000
    if legacy is not None:
        if isinstance(legacy, bool) or not isinstance(legacy, int):
            raise _invalid("count", "must be an integer")
        if size is not None and size != legacy * SCALE:
            raise _invalid("count", "and count_fp disagree")
        size = legacy * SCALE
    if size is None:
        raise _invalid("count_fp", "is required")
    if size <= 0:
        raise _invalid("count_fp", "must be positive")
    return size


def _price_micro(body: dict[str, Any], outcome: str) -> int | None:
    dollars, cents = body.get(f"{outcome}_price_dollars"), body.get(f"{outcome}_price")
    price = None
    if dollars is not None:
        if not isinstance(dollars, str) or not _DOLLARS_TEXT.fullmatch(dollars):
            raise _invalid(f"{outcome}_price_dollars", "must be a dollar string")
        whole, _, frac = dollars.partition(".")
        price = int(whole) * SCALE + int((frac + "000000")[:6])
    if cents is not None:
        if isinstance(cents, bool) or not isinstance(cents, int):
            raise _invalid(f"{outcome}_price", "must be integer cents")
        if price is not None and price != cents * 10_000:
            raise _invalid(f"{outcome}_price", f"and {outcome}_price_dollars disagree")
        price = cents * 10_000
    return price


def parse_create_order(body: object) -> CreateOrder:
    """A Kalshi CreateOrderRequest (docs/venues.md#kalshi-orders) as the venue reads it; refusals are
    `KalshiRefusal(400, "invalid_parameters")` naming the field."""
    if not isinstance(body, dict):
        raise _invalid("body", "must be a JSON object")
    ticker = body.get("ticker")
    if not isinstance(ticker, str) or not ticker:
        raise _invalid("ticker", "is required")
    side = body.get("side")
    if side not in ("yes", "no"):
        raise _invalid("side", "must be 'yes' or 'no'")
    action = body.get("action")
    if action not in ("buy", "sell"):
        raise _invalid("action", "must be 'buy' or 'sell'")
    size = _count_micro(body)
    yes, no = _price_micro(body, "yes"), _price_micro(body, "no")
    if yes is not None and no is not None and yes + no != SCALE:
        raise _invalid("no_price_dollars", "and yes_price_dollars must sum to 1")
    if yes is None and no is None:
        raise _invalid("yes_price_dollars", "or no_price_dollars is required")
    outcome = Side.YES if side == "yes" else Side.NO
    if outcome is Side.YES:
        price = yes if yes is not None else SCALE - (no or 0)
    else:
        price = no if no is not None else SCALE - (yes or 0)
    if not 0 < price < SCALE:
        raise _invalid(f"{side}_price_dollars", "must be strictly between 0 and 1")
    expiration = body.get("expiration_ts")
    if expiration is not None and (isinstance(expiration, bool) or not isinstance(expiration, int) or expiration <= 0):
        raise _invalid("expiration_ts", "must be positive epoch seconds")
    tif_text = body.get("time_in_force")
    if tif_text is None:
        tif = TimeInForce.GTD if expiration is not None else TimeInForce.GTC
    elif tif_text in _TIF_NAMES:
        tif = _TIF_NAMES[tif_text]
    else:
        raise _invalid("time_in_force", f"must be one of {sorted(_TIF_NAMES)}")
    if body.get("buy_max_cost") is not None:
        tif = TimeInForce.FOK  # the venue makes a buy_max_cost order fill-or-kill
    flags = {}
    for name in ("post_only", "reduce_only"):
        value = body.get(name, False)
        if not isinstance(value, bool):
            raise _invalid(name, "must be a boolean")
        flags[name] = value
    client_order_id = body.get("client_order_id")
    if client_order_id is not None and not isinstance(client_order_id, str):
        raise _invalid("client_order_id", "must be a string")
    order_type = body.get("type", "limit")
    if order_type != "limit":
        raise _invalid("type", "must be 'limit'")
    return CreateOrder(
        ticker,
        outcome,
        Action.BUY if action == "buy" else Action.SELL,
        price,
        size,
        tif,
        client_order_id or None,
        None if expiration is None else expiration * 1_000,
        flags["post_only"],
        flags["reduce_only"],
    )


# -- V2 event-order requests, parsed by the simulator's own code ---------------------------------------
#
# Refusals follow the venue's order-error page for /portfolio/events/orders (docs.kalshi.com,
# "Order Errors"): {"error": {"code", "message", "details"}} - `invalid_order` with the reason in
# `details` (e.g. "post only cross"), `missing_parameters` for a missing ticker - and a body the API
# cannot parse (malformed JSON, a field of the wrong JSON type) answered 400 with code, message and
# details at the top level.

_V2_PRICE_TEXT = re.compile(r"\d(\.\d{1,4})?")  # requests: 0-4 decimals ("0.56", "0.5600")
_STP_TYPES = frozenset({"taker_at_cross", "maker"})
_V2_TYPES: dict[str, tuple[type, ...]] = {
    "ticker": (str,),
    "client_order_id": (str,),
    "side": (str,),
    "count": (str,),
    "price": (str,),
    "expiration_time": (int,),
    "time_in_force": (str,),
    "post_only": (bool,),
    "self_trade_prevention_type": (str,),
    "cancel_order_on_pause": (bool,),
    "reduce_only": (bool,),
    "subaccount": (int,),
    "order_group_id": (str,),
    "exchange_index": (int,),
    "updated_client_order_id": (str,),
    "reduce_by": (str,),
    "reduce_to": (str,),
    "market_ticker": (str,),
    "order_id": (str,),
}


_FOK_KILLED = "fill_or_kill_insufficient_resting_volume"
_BATCH_MAX = 20  # orders per batch (the venue scales it with the account's write budget)
# Legacy-route refusal codes and the V2 code they become (the reason moves to `details`).
_V2_CODES = {
    "invalid_parameters": "invalid_order",
    "post_only_cross": "invalid_order",
    "reduce_only_violation": "invalid_order",
}


def _v2_json(request: HttpRequest) -> Any:
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise _bad_request("request body is not valid JSON") from None


def _v2_error(exc: KalshiRefusal, *, in_batch: bool = False) -> dict[str, Any]:
    """A refusal as the V2 routes write it: {"code", "message", "details"} (details always present
    inside a batch answer, "" when there is nothing to add; else only when there is)."""
    code = _V2_CODES.get(exc.code, exc.code)
    if code != exc.code:
        message = "invalid order"
        details: str | None = "post only cross" if exc.code == "post_only_cross" else exc.message
    else:
        message = exc.message if exc.details is not None else exc.code.replace("_", " ")
        details = exc.details if exc.details is not None else exc.message
    if details == message:
        details = None
    out = {"code": code, "message": message}
    if details or in_batch:
        out["details"] = details or ""
    return out


def _bad_request(details: str) -> KalshiRefusal:
    return KalshiRefusal(400, "bad_request", "bad request", details, flat=True)


def _invalid_order(details: str) -> KalshiRefusal:
    return KalshiRefusal(400, "invalid_order", "invalid order", details)


def _v2_object(body: object) -> dict[str, Any]:
    """A V2 request object with every known field of the right JSON type (bool is not an int)."""
    if not isinstance(body, dict):
        raise _bad_request("request body must be a JSON object")
    for name, value in body.items():
        kinds = _V2_TYPES.get(name)
        if value is None or kinds is None:
            continue
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise _bad_request(f"{name} must be of type {kinds[0].__name__}")
    return body


def _v2_count(text: str, name: str, *, allow_zero: bool = False) -> int:
    """A fixed-point count ("10", "10.5", "10.00": 0-2 decimals) in micro-contracts, positive
    (or zero, where `allow_zero`)."""
    if not _COUNT_TEXT.fullmatch(text):
        raise _invalid_order(f"{name} must be a count with at most 2 decimals")
    whole, _, frac = text.partition(".")
    size = int(whole) * SCALE + int((frac + "00")[:2]) * 10_000
    if size < 0 or (size == 0 and not allow_zero):
        raise _invalid_order(f"{name} must be positive")
    return size


def _v2_price(text: str) -> int:
    """A YES price in fixed-point dollars (0-4 decimals) in micro-USD, strictly within (0, 1)."""
    if not _V2_PRICE_TEXT.fullmatch(text):
        raise _invalid_order("price must be a dollar string with at most 4 decimals")
    whole, _, frac = text.partition(".")
    price = int(whole) * SCALE + int((frac + "000000")[:6])
    if not 0 < price < SCALE:
        raise _invalid_order("price must be strictly between 0 and 1")
    return price


def _v2_book_side(value: object) -> BookSide:
    if value is None:
        raise _invalid_order("side is required")
    if value not in ("bid", "ask"):
        raise _invalid_order("side must be 'bid' or 'ask'")
    return BookSide.BID if value == "bid" else BookSide.ASK


def _v2_routing(body: Mapping[str, Any]) -> None:
    """The simulator is one exchange shard (index 0) with one subaccount (0)."""
    index = body.get("exchange_index")
    if index is not None and index not in (-1, 0):
        raise _invalid_order(f"exchange_index {index} does not exist")
    subaccount = body.get("subaccount")
    if subaccount is not None and subaccount != 0:
        raise _invalid_order(f"subaccount {subaccount} does not exist")


@dataclass(frozen=True, slots=True)
class CreateOrderV2:
    ticker: str
    side: BookSide  # on the YES book: BID buys YES, ASK sells YES (= buys NO at 1 - price)
    yes_price_micro: int
    size_micro: int
    tif: TimeInForce
    self_trade_prevention: str
    client_order_id: str | None
    expiration_ms: int | None
    post_only: bool
    reduce_only: bool
    cancel_order_on_pause: bool


def parse_create_order_v2(body: object) -> CreateOrderV2:
    """A Kalshi CreateOrderV2Request (docs/venues.md#kalshi-v2-orders) as the venue reads it."""
    fields = _v2_object(body)
    ticker = fields.get("ticker")
    if not ticker:
        raise KalshiRefusal(400, "missing_parameters", "missing parameters", "ticker is required")
    side = _v2_book_side(fields.get("side"))
    if fields.get("count") is None:
        raise _invalid_order("count is required")
    size = _v2_count(fields["count"], "count")
    if fields.get("price") is None:
        raise _invalid_order("price is required")
    price = _v2_price(fields["price"])
    tif_text = fields.get("time_in_force")
    if tif_text is None:
        raise _invalid_order("time_in_force is required")
    if tif_text not in _TIF_NAMES:
        raise _invalid_order(f"time_in_force must be one of {sorted(_TIF_NAMES)}")
    tif = _TIF_NAMES[tif_text]
    stp = fields.get("self_trade_prevention_type")
    if stp is None:
        raise _invalid_order("self_trade_prevention_type is required")
    if stp not in _STP_TYPES:
        raise _invalid_order(f"self_trade_prevention_type must be one of {sorted(_STP_TYPES)}")
    expiration = fields.get("expiration_time")
    if expiration is not None:
        if tif is not TimeInForce.GTC:
            raise _invalid_order("expiration_time is allowed only with good_till_canceled")
        if expiration <= 0:
            raise _invalid_order("expiration_time must be positive epoch seconds")
        tif = TimeInForce.GTD
    reduce_only = bool(fields.get("reduce_only"))
    if reduce_only and tif is not TimeInForce.IOC:
        raise _invalid_order("reduce_only requires immediate_or_cancel")
    if fields.get("order_group_id") is not None:
        raise _invalid_order("order groups are not simulated")
    _v2_routing(fields)
    return CreateOrderV2(
        ticker,
        side,
        price,
        size,
        tif,
        stp,
        fields.get("client_order_id") or None,
        None if expiration is None else expiration * 1_000,
        bool(fields.get("post_only")),
        reduce_only,
        bool(fields.get("cancel_order_on_pause")),
    )
