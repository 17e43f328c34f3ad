"""A simulated Kalshi on loopback: REST (`LoopbackHttpServer`) and WebSocket (websockets) servers that
speak the subset of the Trade API v2 the adapter uses, in the current wire shapes (`*_dollars`
prices, `*_fp` counts), with RSA-PSS signatures checked on every REST request and on the socket
handshake (401 otherwise).

Books: one `MatchingEngine` per ticker holding the YES ladder. An order on the NO contract is the
mirror order on that ladder (docs/venues.md 1.5): buy YES at p = BID p, sell YES at p = ASK p,
buy NO at p = ASK 1 - p, sell NO at p = BID 1 - p. The feed publishes Kalshi's bid-only view:
`yes_dollars_fp` = the bids, `no_dollars_fp` = (1 - p) for every ask.

Socket: `subscribe` (one sid per channel), `unsubscribe`, `update_subscription` (add_markets,
delete_markets, get_snapshot), `list_subscriptions`; it publishes `orderbook_snapshot`/
`orderbook_delta`, `trade`, `fill`, `user_order` and `market_position` (the `ticker` and lifecycle
channels can be subscribed but stay quiet). `seq` counts per sid (snapshots, deltas, trades,
ok/unsubscribed replies); `fill`, `user_order` and `market_position` go only to their owner's
connections and carry no seq, as on Kalshi. Each connection has one writer task, so frames leave in the order they were made.

Faults (`FaultInjector`, stream name `stream`): DROP_CONNECTION aborts the socket instead of sending
a frame, FREEZE swallows frames (websockets still answers pings; `ping_all` sends the server's
"heartbeat" pings), SEQUENCE_GAP loses the next `orderbook_delta` frame (its seq number is used, its
change never arrives), 429/500 answers come from the HTTP server, `partial_fill_limit` caps how
much of an API order matches at once, latency delays every answer and frame. Order POSTs can also be
processed and then answered 500 or never (`fail_next_order_response`), the ambiguous case.

Deterministic under `seed`: order, fill and sid numbering come from seeded generators and time from
the injected `wall_clock_ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from arb.domain import Action, BookSide, OrderStatus, Side, TimeInForce
from arb.errors import AuthError, WireError
from arb.fixed import SCALE, from_micro, micro_to_str
from arb.venues.kalshi import wire
from arb.venues.kalshi.auth import ACCESS_KEY, signing_path, verify_signature
from arb.venues.sim.engine import LevelDelta, MatchingEngine, SimFill, SimOrder, SubmitResult
from arb.venues.sim.faults import Fault, FaultInjector
from arb.venues.sim.http import HttpRequest, HttpResponse, LoopbackHttpServer
from solvers.errors import DataError
from solvers.fees import kalshi_fee

__all__ = ["REST_PREFIX", "WS_PATH", "SimEvent", "SimKalshi", "SimMarket", "SimSeries"]

REST_PREFIX = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"
_BANDS = {
    "linear_cent": [("0.0000", "1.0000", "0.0100")],
    "deci_cent": [("0.0000", "1.0000", "0.0010")],
    "tapered_deci_cent": [
        ("0.0000", "0.1000", "0.0010"),
        ("0.1000", "0.9000", "0.0100"),
        ("0.9000", "1.0000", "0.0010"),
    ],
}
_STATUS_TEXT = {OrderStatus.OPEN: "resting", OrderStatus.FILLED: "executed", OrderStatus.CANCELED: "canceled"}
_DATA_CHANNELS = frozenset(
    {"orderbook_delta", "trade", "ticker", "fill", "user_orders", "market_positions", "market_lifecycle_v2"}
)


def _dollars(micro: int) -> str:
    return micro_to_str(micro, 4) if micro % 100 == 0 else micro_to_str(micro, 6)


def _fee_text(micro: int) -> str:
    return micro_to_str(micro, 6)


def _count(micro: int) -> str:
    return micro_to_str(micro, 2)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(slots=True)
class SimSeries:
    ticker: str
    title: str = ""
    fee_type: str = "quadratic"
    fee_multiplier: float = 1.0


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


@dataclass(slots=True)
class _OrderMeta:
    order: SimOrder
    ticker: str
    owner: str
    outcome: Side
    action: Action
    created_ms: int
    expiration_ms: int | None = None
    updated_ms: int = 0
    taker_fees_micro: int = 0
    maker_fees_micro: int = 0
    taker_cost_micro: int = 0
    maker_cost_micro: int = 0


@dataclass(slots=True)
class _Position:
    position_micro: int = 0
    cost_micro: int = 0
    fees_micro: int = 0
    volume_micro: int = 0


@dataclass(slots=True)
class _Sub:
    channel: str
    tickers: set[str] | None  # None: every market
    seq: int = 0


@dataclass(slots=True, eq=False)
class _Conn:
    ws: ServerConnection
    owner: str
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    subs: dict[int, _Sub] = field(default_factory=dict)
    next_sid: int = 1
    frame_index: int = 0
    pending_gaps: int = 0
    writer: asyncio.Task[None] | None = None

    def send(self, frame: dict[str, Any]) -> None:
        self.queue.put_nowait(frame)


class SimKalshi:
    """The simulated venue. `api_keys` maps API key ids to their public keys (the owner of every
    signed request is its key id). `await start()`, then point a client at `rest_base_url` and
    `ws_url`; drive markets with `submit`, participants and `step`."""

    def __init__(
        self,
        *,
        api_keys: Mapping[str, rsa.RSAPublicKey],
        faults: FaultInjector | None = None,
        seed: int = 0,
        sleep: Callable[[float], Any] = asyncio.sleep,
        wall_clock_ms: Callable[[], int] | None = None,
        ws_ping_interval_s: float | None = None,
        stream: str = "market",
        starting_balance_micro_usd: int = 10_000 * SCALE,
        page_size_cap: int = 1000,
    ) -> None:
        self.api_keys = dict(api_keys)
        self.faults = faults
        self.seed = seed
        self._sleep = sleep
        self._ids = random.Random(f"{seed}:kalshi-ids")
        if wall_clock_ms is None:
            ticks = iter(range(1_767_225_600_000, 1 << 62))  # deterministic: 1 ms per reading
            wall_clock_ms = lambda: next(ticks)  # noqa: E731
        self._now_ms = wall_clock_ms
        self.ws_ping_interval_s = ws_ping_interval_s
        self.stream = stream
        self.starting_balance_micro_usd = starting_balance_micro_usd
        self.page_size_cap = page_size_cap
        self.series: dict[str, SimSeries] = {}
        self.events: dict[str, SimEvent] = {}
        self.markets: dict[str, SimMarket] = {}
        self.engines: dict[str, MatchingEngine] = {}
        self.participants: list[Any] = []
        self._orders: dict[str, _OrderMeta] = {}
        self._order_list: list[_OrderMeta] = []
        self._fills: dict[str, list[dict[str, Any]]] = {}
        self._positions: dict[str, dict[str, _Position]] = {}
        self._cash: dict[str, int] = {}
        self._conns: set[_Conn] = set()
        self._order_response_faults: deque[str] = deque()
        self._hang = asyncio.Event()
        self.http = LoopbackHttpServer(self._handle_http, sleep=sleep, faults=faults)
        self._ws_server: Server | None = None
        self.ws_connections_accepted = 0
        self.auth_failures = 0
        self.gaps_injected = 0
        self.drops_injected = 0
        self.frames_frozen = 0
        self.commands_received: list[dict[str, Any]] = []

    # -- setup -----------------------------------------------------------------------------------

    def next_id(self, prefix: str = "") -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def add_series(
        self, ticker: str, title: str = "", fee_type: str = "quadratic", fee_multiplier: float = 1.0
    ) -> SimSeries:
        self.series[ticker] = SimSeries(ticker, title or ticker, fee_type, fee_multiplier)
        return self.series[ticker]

    def add_event(
        self, event_ticker: str, series_ticker: str, title: str = "", mutually_exclusive: bool = False
    ) -> SimEvent:
        if series_ticker not in self.series:
            self.add_series(series_ticker)
        self.events[event_ticker] = SimEvent(event_ticker, series_ticker, title or event_ticker, mutually_exclusive)
        return self.events[event_ticker]

    def add_market(self, ticker: str, event_ticker: str, **fields: Any) -> MatchingEngine:
        if event_ticker not in self.events:
            self.add_event(event_ticker, event_ticker.split("-", 1)[0])
        self.markets[ticker] = SimMarket(ticker, event_ticker, **fields)
        engine = MatchingEngine(ticker, self.next_id)
        self.engines[ticker] = engine
        return engine

    def add_participant(self, participant: Any) -> None:
        """A scripted participant (`arb.venues.sim.participants`) trading on one of the engines."""
        self.participants.append(participant)

    def fail_next_order_response(self, mode: str = "500") -> None:
        """Process the next order POST, then answer it with a 500 ("500") or never ("timeout")."""
        if mode not in ("500", "timeout"):
            raise ValueError(f"mode must be '500' or 'timeout', was {mode!r}")
        self._order_response_faults.append(mode)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.http.start()
        if self._ws_server is None:
            self._ws_server = await serve(
                self._handle_ws,
                "127.0.0.1",
                0,
                process_request=self._check_ws_auth,
                ping_interval=self.ws_ping_interval_s,
                compression=None,
            )

    async def close(self) -> None:
        self._hang.set()
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
            self._ws_server = None
        await self.http.close()

    async def __aenter__(self) -> SimKalshi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def rest_base_url(self) -> str:
        return self.http.base_url + REST_PREFIX

    @property
    def ws_url(self) -> str:
        assert self._ws_server is not None, "not started"
        port = next(iter(self._ws_server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}{WS_PATH}"

    @property
    def connections(self) -> int:
        return len(self._conns)

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
        for conn in list(self._conns):
            transport = conn.ws.transport
            if transport is not None:
                transport.abort()

    # -- books and orders ------------------------------------------------------------------------

    def book(self, ticker: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Kalshi's view of a ticker: (YES bids, NO bids), each (price, size) best first."""
        engine = self.engines[ticker]
        return engine.levels(BookSide.BID), [(SCALE - p, s) for p, s in engine.levels(BookSide.ASK)]

    def fills_of(self, owner: str) -> list[dict[str, Any]]:
        return list(self._fills.get(owner, ()))

    def order_meta(self, order_id: str) -> _OrderMeta | None:
        return self._orders.get(order_id)

    def orders_of(self, owner: str) -> list[_OrderMeta]:
        return [m for m in self._order_list if m.owner == owner]

    @staticmethod
    def _engine_side(outcome: Side, action: Action) -> BookSide:
        buys_yes = (outcome is Side.YES) is (action is Action.BUY)  # buy YES or sell NO
        return BookSide.BID if buys_yes else BookSide.ASK

    def _check_tick(self, market: SimMarket, yes_price: int) -> None:
        for start, end, step in _BANDS.get(market.price_level_structure, _BANDS["linear_cent"]):
            lo, hi, tick = (int(Decimal(v) * SCALE) for v in (start, end, step))
            if lo <= yes_price <= hi and yes_price % tick == 0:
                return
        raise WireError(
            f"price {_dollars(yes_price)} is not on the tick grid of {market.ticker}", venue="kalshi", field="price"
        )

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
        fill_limit_micro: int | None = None,
    ) -> tuple[_OrderMeta, SubmitResult]:
        """Place an order for `owner` (price of the outcome bought/sold) and publish its effects."""
        market = self.markets.get(ticker)
        if market is None:
            raise WireError(f"unknown market {ticker}", venue="kalshi", field="ticker")
        if market.status != "active":
            raise WireError(f"market {ticker} is not open", venue="kalshi", field="ticker")
        lot = 10_000 if market.fractional else SCALE
        if size_micro <= 0 or size_micro % lot:
            raise WireError(f"count must be a positive multiple of {_count(lot)}", venue="kalshi", field="count_fp")
        side = self._engine_side(outcome, action)
        yes_price = price_micro_usd if outcome is Side.YES else SCALE - price_micro_usd
        self._check_tick(market, yes_price)
        engine = self.engines[ticker]
        if post_only:
            best = engine.best_ask() if side is BookSide.BID else engine.best_bid()
            if best is not None and (
                (side is BookSide.BID and best[0] <= yes_price) or (side is BookSide.ASK and best[0] >= yes_price)
            ):
                raise WireError("post-only order would cross", venue="kalshi", field="post_only")
        if client_order_id is not None and engine.order_by_client_id(owner, client_order_id) is not None:
            raise _Conflict(f"order with client_order_id {client_order_id} already exists")
        if fill_limit_micro is None and self.faults is not None and owner in self.api_keys:
            fill_limit_micro = self.faults.partial_fill_limit(size_micro, lot)
        result = engine.submit(owner, side, yes_price, size_micro, tif, client_order_id, fill_limit_micro)
        now = self._now_ms()
        meta = _OrderMeta(result.order, ticker, owner, outcome, action, now, expiration_ms, now)
        self._orders[result.order.order_id] = meta
        self._order_list.append(meta)
        self._publish_result(ticker, result.deltas, result.fills)
        self._publish_order(meta)
        return meta, result

    def cancel(self, order_id: str) -> _OrderMeta | None:
        """Cancel an order placed through `submit` (None for an unknown id)."""
        meta = self._orders.get(order_id)
        if meta is None:
            return None
        result = self.engines[meta.ticker].cancel(order_id)
        meta.updated_ms = self._now_ms()
        self._publish_result(meta.ticker, result.deltas, [])
        if result.canceled:
            self._publish_order(meta)
        return meta

    def step(self, rounds: int = 1) -> None:
        """Let every participant act `rounds` times (and expire due GTD orders)."""
        for _ in range(rounds):
            self.expire_orders()
            for participant in self.participants:
                result = participant.step()
                if result.deltas or result.fills:
                    self._publish_result(participant.engine.book_id, result.deltas, result.fills)

    def expire_orders(self, now_ms: int | None = None) -> int:
        now = self._now_ms() if now_ms is None else now_ms
        expired = 0
        for meta in self._order_list:
            if meta.expiration_ms is not None and meta.order.is_open and meta.expiration_ms <= now:
                self.cancel(meta.order.order_id)
                expired += 1
        return expired

    # -- effects ---------------------------------------------------------------------------------

    def _publish_result(self, ticker: str, deltas: Sequence[LevelDelta], fills: Sequence[SimFill]) -> None:
        for delta in deltas:
            self._publish_delta(delta)
        for fill in fills:
            self._on_fill(fill)

    def _publish_delta(self, delta: LevelDelta) -> None:
        if delta.side is BookSide.BID:
            msg = {
                "market_ticker": delta.book_id,
                "price_dollars": _dollars(delta.price_micro_usd),
                "delta_fp": _count(delta.delta_micro),
                "side": "yes",
            }
        else:
            msg = {
                "market_ticker": delta.book_id,
                "price_dollars": _dollars(SCALE - delta.price_micro_usd),
                "delta_fp": _count(delta.delta_micro),
                "side": "no",
            }
        now = self._now_ms()
        msg["ts_ms"] = now
        msg["ts"] = _iso(now)
        self._publish("orderbook_delta", delta.book_id, "orderbook_delta", msg)

    def _publish(self, channel: str, ticker: str, kind: str, msg: dict[str, Any]) -> None:
        for conn in self._conns:
            for sid, sub in conn.subs.items():
                if sub.channel == channel and (sub.tickers is None or ticker in sub.tickers):
                    sub.seq += 1
                    conn.send({"type": kind, "sid": sid, "seq": sub.seq, "msg": msg})

    def _publish_private(self, owner: str, channel: str, ticker: str, kind: str, msg: dict[str, Any]) -> None:
        for conn in self._conns:
            if conn.owner != owner:
                continue
            for sid, sub in conn.subs.items():
                if sub.channel == channel and (sub.tickers is None or ticker in sub.tickers):
                    conn.send({"type": kind, "sid": sid, "msg": msg})

    def _fee_micro(self, ticker: str, yes_price: int, size: int, *, maker: bool) -> int:
        series = self.series[self.events[self.markets[ticker].event_ticker].series_ticker]
        try:
            rule = kalshi_fee(multiplier=Decimal(repr(series.fee_multiplier)), fee_type=series.fee_type, maker=maker)
        except DataError:  # "flat": charged like the general schedule here
            rule = kalshi_fee(multiplier=Decimal(repr(series.fee_multiplier)), maker=maker)
        fee = rule.fill_fee(from_micro(yes_price), from_micro(size))
        return int(fee * SCALE)

    def _on_fill(self, fill: SimFill) -> None:
        ticker = fill.book_id
        now = self._now_ms()
        self.markets[ticker].last_price_micro = fill.price_micro_usd
        trade = {
            "trade_id": fill.fill_id,
            "market_ticker": ticker,
            "yes_price_dollars": _dollars(fill.price_micro_usd),
            "no_price_dollars": _dollars(SCALE - fill.price_micro_usd),
            "count_fp": _count(fill.size_micro),
            "taker_side": "yes" if fill.taker_side is BookSide.BID else "no",
            "ts": now // 1000,
            "ts_ms": now,
        }
        self._publish("trade", ticker, "trade", trade)
        for order_id, is_taker in ((fill.taker_order_id, True), (fill.maker_order_id, False)):
            meta = self._orders.get(order_id)
            if meta is not None and meta.owner in self.api_keys:
                self._record_fill(meta, fill, is_taker, now)

    def _record_fill(self, meta: _OrderMeta, fill: SimFill, is_taker: bool, now: int) -> None:
        fee = self._fee_micro(meta.ticker, fill.price_micro_usd, fill.size_micro, maker=not is_taker)
        outcome_price = fill.price_micro_usd if meta.outcome is Side.YES else SCALE - fill.price_micro_usd
        cost = outcome_price * fill.size_micro // SCALE
        if is_taker:
            meta.taker_fees_micro += fee
            meta.taker_cost_micro += cost
        else:
            meta.maker_fees_micro += fee
            meta.maker_cost_micro += cost
        meta.updated_ms = now
        position = self._positions.setdefault(meta.owner, {}).setdefault(meta.ticker, _Position())
        long_yes = self._engine_side(meta.outcome, meta.action) is BookSide.BID
        position.position_micro += fill.size_micro if long_yes else -fill.size_micro
        position.cost_micro += cost if meta.action is Action.BUY else -cost
        position.fees_micro += fee
        position.volume_micro += fill.size_micro
        cash = self._cash.setdefault(meta.owner, self.starting_balance_micro_usd)
        self._cash[meta.owner] = cash - fee + (-cost if meta.action is Action.BUY else cost)
        fill_id = self.next_id("fill")
        record = {
            "fill_id": fill_id,
            "trade_id": fill_id,
            "order_id": meta.order.order_id,
            "ticker": meta.ticker,
            "market_ticker": meta.ticker,
            "side": meta.outcome.value,
            "action": meta.action.value,
            "count_fp": _count(fill.size_micro),
            "yes_price_dollars": _dollars(fill.price_micro_usd),
            "no_price_dollars": _dollars(SCALE - fill.price_micro_usd),
            "is_taker": is_taker,
            "fee_cost": _fee_text(fee),
            "created_time": _iso(now),
            "ts": now // 1000,
        }
        self._fills.setdefault(meta.owner, []).append(record)
        outcome_side = "yes" if long_yes else "no"
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
                "is_taker": is_taker,
                "side": meta.outcome.value,
                "yes_price_dollars": _dollars(fill.price_micro_usd),
                "count_fp": _count(fill.size_micro),
                "fee_cost": _fee_text(fee),
                "action": meta.action.value,
                "ts": now // 1000,
                "ts_ms": now,
                "post_position_fp": _count(position.position_micro),
                "purchased_side": meta.outcome.value,
                "outcome_side": outcome_side,
                "book_side": "bid" if long_yes else "ask",
            },
        )
        self._publish_private(
            meta.owner,
            "market_positions",
            meta.ticker,
            "market_position",
            {
                "user_id": meta.owner,
                "market_ticker": meta.ticker,
                "position_fp": _count(position.position_micro),
                "position_cost_dollars": _fee_text(position.cost_micro),
                "realized_pnl_dollars": "0.000000",
                "fees_paid_dollars": _fee_text(position.fees_micro),
                "volume_fp": _count(position.volume_micro),
            },
        )
        if not is_taker:
            self._publish_order(meta)  # the taker's own update follows its submit

    def _order_json(self, meta: _OrderMeta) -> dict[str, Any]:
        order = meta.order
        return {
            "order_id": order.order_id,
            "user_id": meta.owner,
            "client_order_id": order.client_order_id or "",
            "ticker": meta.ticker,
            "side": meta.outcome.value,
            "action": meta.action.value,
            "type": "limit",
            "status": _STATUS_TEXT[order.status],
            "yes_price_dollars": _dollars(order.price_micro_usd),
            "no_price_dollars": _dollars(SCALE - order.price_micro_usd),
            "fill_count_fp": _count(order.filled_micro),
            "remaining_count_fp": _count(order.remaining_micro),
            "initial_count_fp": _count(order.size_micro),
            "taker_fill_cost_dollars": _fee_text(meta.taker_cost_micro),
            "maker_fill_cost_dollars": _fee_text(meta.maker_cost_micro),
            "taker_fees_dollars": _fee_text(meta.taker_fees_micro),
            "maker_fees_dollars": _fee_text(meta.maker_fees_micro),
            "expiration_time": _iso(meta.expiration_ms),
            "created_time": _iso(meta.created_ms),
            "last_update_time": _iso(meta.updated_ms),
            "self_trade_prevention_type": None,
        }

    def _publish_order(self, meta: _OrderMeta) -> None:
        if meta.owner not in self.api_keys:
            return
        long_yes = self._engine_side(meta.outcome, meta.action) is BookSide.BID
        msg = self._order_json(meta)
        # The 2026 user_order message: direction as outcome_side/book_side, no `action`.
        del msg["action"], msg["no_price_dollars"], msg["type"]
        msg.update(
            {
                "outcome_side": "yes" if long_yes else "no",
                "book_side": "bid" if long_yes else "ask",
                "is_yes": meta.outcome is Side.YES,
                "created_ts_ms": meta.created_ms,
                "last_updated_ts_ms": meta.updated_ms,
            }
        )
        self._publish_private(meta.owner, "user_orders", meta.ticker, "user_order", msg)

    def _snapshot_msg(self, ticker: str) -> dict[str, Any]:
        yes, no = self.book(ticker)
        msg: dict[str, Any] = {
            "market_ticker": ticker,
            "market_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"kalshi-sim:{ticker}")),
        }
        if yes:
            msg["yes_dollars_fp"] = [[_dollars(p), _count(s)] for p, s in sorted(yes)]
        if no:
            msg["no_dollars_fp"] = [[_dollars(p), _count(s)] for p, s in sorted(no)]
        return msg

    # -- WebSocket -------------------------------------------------------------------------------

    def _verify(self, headers: Mapping[str, str], method: str, path: str) -> str:
        lowered = {k.lower(): v for k, v in headers.items()}
        key_id = lowered.get(ACCESS_KEY.lower(), "")
        public = self.api_keys.get(key_id)
        if public is None:
            self.auth_failures += 1
            raise AuthError("unknown API key id", venue="kalshi", status=401)
        try:
            verify_signature(public, lowered, method, path, expected_key_id=key_id)
        except AuthError:
            self.auth_failures += 1
            raise
        return key_id

    def _check_ws_auth(self, connection: ServerConnection, request: Any) -> Any:
        if signing_path(request.path) != WS_PATH:
            return connection.respond(404, "not found\n")
        try:
            self._verify(dict(request.headers.raw_items()), "GET", request.path)
        except AuthError as exc:
            return connection.respond(401, f"{exc}\n")
        return None

    async def _handle_ws(self, ws: ServerConnection) -> None:
        headers = {k.lower(): v for k, v in ws.request.headers.raw_items()} if ws.request is not None else {}
        conn = _Conn(ws, headers.get(ACCESS_KEY.lower(), ""))
        self._conns.add(conn)
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
            self._conns.discard(conn)
            conn.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await conn.writer

    async def _writer(self, conn: _Conn) -> None:
        faults = self.faults
        while True:
            frame = await conn.queue.get()
            if faults is not None:
                latency = faults.jittered_latency_s()
                if latency > 0:
                    await self._sleep(latency)
                fault = faults.frame_fault(self.stream, conn.frame_index)
                conn.frame_index += 1
                if fault is Fault.DROP_CONNECTION:
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
            try:
                await conn.ws.send(orjson.dumps(frame).decode())
            except ConnectionClosed:
                return

    def _error(self, conn: _Conn, request_id: Any, code: int, sid: int | None = None) -> None:
        frame: dict[str, Any] = {"id": request_id, "type": "error", "msg": {"code": code, "msg": wire.error_text(code)}}
        if sid is not None:
            frame["sid"] = sid
        conn.send(frame)

    def _on_command(self, conn: _Conn, message: str | bytes) -> None:
        try:
            command = orjson.loads(message)
        except orjson.JSONDecodeError:
            self._error(conn, None, 1)
            return
        if not isinstance(command, dict):
            self._error(conn, None, 1)
            return
        self.commands_received.append(command)
        rid = command.get("id")
        cmd = command.get("cmd")
        params = command.get("params")
        if cmd == "list_subscriptions":
            conn.send(
                {"id": rid, "type": "ok", "msg": [{"channel": s.channel, "sid": sid} for sid, s in conn.subs.items()]}
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
                sub.seq += 1
                conn.send({"id": rid, "sid": sid, "seq": sub.seq, "type": "unsubscribed"})
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
            conn.send({"id": rid, "type": "subscribed", "msg": {"channel": channel, "sid": sid}})
            if channel == "orderbook_delta":
                for ticker in tickers or ():
                    self._send_snapshot(conn, sid, sub, ticker)

    def _send_snapshot(self, conn: _Conn, sid: int, sub: _Sub, ticker: str) -> None:
        if ticker not in self.engines:
            return
        sub.seq += 1
        conn.send({"type": "orderbook_snapshot", "sid": sid, "seq": sub.seq, "msg": self._snapshot_msg(ticker)})

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
        if action == "add_markets":
            sub.tickers = (sub.tickers or set()) | set(tickers)
        elif action == "delete_markets":
            sub.tickers = (sub.tickers or set()) - set(tickers)
        elif action != "get_snapshot":
            self._error(conn, rid, 13)
            return
        sub.seq += 1
        conn.send(
            {"id": rid, "sid": sid, "seq": sub.seq, "type": "ok", "msg": {"market_tickers": sorted(sub.tickers or ())}}
        )
        if sub.channel == "orderbook_delta" and action in ("add_markets", "get_snapshot"):
            for ticker in tickers:
                self._send_snapshot(conn, sid, sub, ticker)

    # -- REST ------------------------------------------------------------------------------------

    @staticmethod
    def _error_response(status: int, code: str, message: str) -> HttpResponse:
        return HttpResponse.json(status, {"code": code, "message": message, "service": "sim"})

    async def _handle_http(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(REST_PREFIX + "/"):
            return self._error_response(404, "not_found", "unknown path")
        try:
            owner = self._verify(request.headers, request.method, request.raw_path)
        except AuthError as exc:
            return self._error_response(401, "unauthorized", str(exc))
        route = request.path[len(REST_PREFIX) :]
        parts = [p for p in route.split("/") if p]
        method = request.method
        try:
            if method == "GET":
                return self._get(owner, parts, request)
            if method == "POST" and parts == ["portfolio", "orders"]:
                return await self._post_order(owner, request)
            if method == "POST" and parts == ["portfolio", "orders", "batched"]:
                return self._post_batch(owner, request)
            if method == "DELETE" and len(parts) == 3 and parts[:2] == ["portfolio", "orders"]:
                meta = self._orders.get(parts[2])
                if meta is None or meta.owner != owner or meta.order.status is not OrderStatus.OPEN:
                    # as the venue: only a resting order can be cancelled; a filled, cancelled or
                    # expired one is "not found" here (GET /portfolio/orders/{id} still shows it)
                    return self._error_response(404, "not_found", "order not found")
                before = meta.order.remaining_micro
                self.cancel(parts[2])
                return HttpResponse.json(200, {"order": self._order_json(meta), "reduced_by_fp": _count(before)})
        except _Conflict as exc:
            return self._error_response(409, "order_already_exists", str(exc))
        except WireError as exc:
            return self._error_response(400, "invalid_parameters", str(exc))
        return self._error_response(404, "not_found", f"no route for {method} {route}")

    def _page(
        self, items: list[Any], request: HttpRequest, key: str, extra: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            limit = min(int(request.query.get("limit", "100")), self.page_size_cap)
            start = int(request.query.get("cursor") or 0)
        except ValueError:
            return self._error_response(400, "invalid_parameters", "bad limit or cursor")
        if limit <= 0:
            return self._error_response(400, "invalid_parameters", "limit must be positive")
        chunk = items[start : start + limit]
        cursor = str(start + limit) if start + limit < len(items) else ""
        return HttpResponse.json(200, {key: chunk, "cursor": cursor, **(extra or {})})

    def _market_json(self, market: SimMarket) -> dict[str, Any]:
        engine = self.engines[market.ticker]
        bid, ask = engine.best_bid(), engine.best_ask()
        event = self.events[market.event_ticker]
        return {
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
            "result": "",
            "can_close_early": True,
            "fractional_trading_enabled": market.fractional,
            "expiration_value": "",
            "rules_primary": market.rules_primary,
            "rules_secondary": market.rules_secondary,
            "price_level_structure": market.price_level_structure,
            "price_ranges": [
                {"start": a, "end": b, "step": c}
                for a, b, c in _BANDS.get(market.price_level_structure, _BANDS["linear_cent"])
            ],
            "strike_type": "custom",
            "custom_strike": {"Event": event.title},
        }

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
        }
        if nested:
            out["markets"] = [
                self._market_json(m) for m in self.markets.values() if m.event_ticker == event.event_ticker
            ]
        return out

    def _series_json(self, series: SimSeries) -> dict[str, Any]:
        return {
            "ticker": series.ticker,
            "frequency": "custom",
            "title": series.title,
            "category": "sim",
            "tags": [],
            "settlement_sources": [],
            "contract_url": "",
            "contract_terms_url": "",
            "fee_type": series.fee_type,
            "fee_multiplier": series.fee_multiplier,
            "additional_prohibitions": [],
        }

    def _get(self, owner: str, parts: list[str], request: HttpRequest) -> HttpResponse:
        q = request.query
        if parts == ["markets"]:
            markets = list(self.markets.values())
            if q.get("event_ticker"):
                markets = [m for m in markets if m.event_ticker == q["event_ticker"]]
            if q.get("series_ticker"):
                markets = [m for m in markets if self.events[m.event_ticker].series_ticker == q["series_ticker"]]
            if q.get("tickers"):
                wanted = set(q["tickers"].split(","))
                markets = [m for m in markets if m.ticker in wanted]
            if q.get("status"):
                open_ = q["status"] == "open"
                markets = [m for m in markets if (m.status == "active") == open_]
            return self._page([self._market_json(m) for m in markets], request, "markets")
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
        if parts == ["events"]:
            events = list(self.events.values())
            if q.get("series_ticker"):
                events = [e for e in events if e.series_ticker == q["series_ticker"]]
            nested = q.get("with_nested_markets") == "true"
            return self._page([self._event_json(e, nested) for e in events], request, "events", {"milestones": []})
        if len(parts) == 2 and parts[0] == "events":
            event = self.events.get(parts[1])
            if event is None:
                return self._error_response(404, "not_found", "event not found")
            return HttpResponse.json(
                200,
                {
                    "event": self._event_json(event, True),
                    "markets": [
                        self._market_json(m) for m in self.markets.values() if m.event_ticker == event.event_ticker
                    ],
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
            metas = self.orders_of(owner)
            if q.get("ticker"):
                metas = [m for m in metas if m.ticker == q["ticker"]]
            if q.get("status"):
                metas = [m for m in metas if _STATUS_TEXT[m.order.status] == q["status"]]
            if q.get("min_ts"):
                metas = [m for m in metas if m.created_ms >= int(q["min_ts"]) * 1000]
            return self._page([self._order_json(m) for m in metas], request, "orders")
        if len(parts) == 3 and parts[:2] == ["portfolio", "orders"]:
            meta = self._orders.get(parts[2])
            if meta is None or meta.owner != owner:
                return self._error_response(404, "not_found", "order not found")
            return HttpResponse.json(200, {"order": self._order_json(meta)})
        if parts == ["portfolio", "fills"]:
            fills = self.fills_of(owner)
            if q.get("ticker"):
                fills = [f for f in fills if f["ticker"] == q["ticker"]]
            if q.get("order_id"):
                fills = [f for f in fills if f["order_id"] == q["order_id"]]
            if q.get("min_ts"):
                fills = [f for f in fills if f["ts"] >= int(q["min_ts"])]
            return self._page(fills, request, "fills")
        if parts == ["portfolio", "positions"]:
            positions = [
                {
                    "ticker": ticker,
                    "total_traded_dollars": _fee_text(abs(p.cost_micro)),
                    "position_fp": _count(p.position_micro),
                    "market_exposure_dollars": _fee_text(abs(p.cost_micro)),
                    "realized_pnl_dollars": "0.000000",
                    "resting_orders_count": 0,
                    "fees_paid_dollars": _fee_text(p.fees_micro),
                    "last_updated_ts": _iso(self._now_ms()),
                }
                for ticker, p in sorted(self._positions.get(owner, {}).items())
            ]
            return self._page(positions, request, "market_positions", {"event_positions": []})
        if parts == ["portfolio", "balance"]:
            cash = self._cash.get(owner, self.starting_balance_micro_usd)
            return HttpResponse.json(
                200,
                {
                    "balance": cash // 10_000,
                    "balance_dollars": _fee_text(cash),
                    "portfolio_value": cash // 10_000,
                    "updated_ts": self._now_ms() // 1000,
                },
            )
        return self._error_response(404, "not_found", "no such endpoint")

    def _rest_book(self, ticker: str, depth: int = 0) -> dict[str, Any]:
        yes, no = self.book(ticker)
        if depth > 0:
            yes, no = yes[:depth], no[:depth]
        return {
            "yes_dollars": [[_dollars(p), _count(s)] for p, s in sorted(yes)],
            "no_dollars": [[_dollars(p), _count(s)] for p, s in sorted(no)],
        }

    def _place(self, owner: str, body: Any) -> _OrderMeta:
        order = wire.parse_order_body(body)
        meta, _ = self.submit(
            owner,
            order["ticker"],
            order["outcome"],
            order["action"],
            order["price_micro_usd"],
            order["size_micro"],
            order["tif"],
            order["client_order_id"],
            expiration_ms=order["expiration_ms"],
            post_only=order["post_only"],
        )
        return meta

    async def _post_order(self, owner: str, request: HttpRequest) -> HttpResponse:
        meta = self._place(owner, request.json())
        if self._order_response_faults:
            mode = self._order_response_faults.popleft()
            if mode == "timeout":
                await self._hang.wait()  # processed, never answered (until the server closes)
            return self._error_response(500, "internal_error", "simulated failure after processing")
        return HttpResponse.json(201, {"order": self._order_json(meta)})

    def _post_batch(self, owner: str, request: HttpRequest) -> HttpResponse:
        body = request.json()
        orders = body.get("orders") if isinstance(body, dict) else None
        if not isinstance(orders, list) or not 0 < len(orders) <= 20:
            raise WireError("orders must be a list of 1 to 20 orders", venue="kalshi", field="orders")
        out = []
        for item in orders:
            cid = item.get("client_order_id") if isinstance(item, dict) else None
            try:
                meta = self._place(owner, item)
                out.append({"client_order_id": cid, "order": self._order_json(meta), "error": None})
            except (WireError, _Conflict) as exc:
                code = "order_already_exists" if isinstance(exc, _Conflict) else "invalid_order"
                out.append({"client_order_id": cid, "order": None, "error": {"code": code, "message": str(exc)}})
        return HttpResponse.json(201, {"orders": out})


class _Conflict(Exception):
    """An order with this client_order_id exists (HTTP 409)."""
