"""Thin async Polymarket client: sockets and HTTP around the sans-I/O sessions.

What it does, and nothing more:
- one multiplexed market socket (`websockets.asyncio.client`) feeding `MarketSession`, and a user
  socket feeding `UserSession` when credentials exist; each has a reader (frame -> session ->
  commands) and a ticker (text `PING` every `ping_interval_s`, the session's health `check`).
  Timers read the injected `clock`; the ticker itself wakes every `tick_interval_s` of real time.
- reconnects with jittered exponential `Backoff` (seeded `rng`), waiting through the injected
  `sleep`; every delay is appended to `reconnect_delays` (tests assert them instead of waiting).
- REST through one `httpx.AsyncClient`: Gamma metadata (offset-paged), CLOB books, orders, cancels,
  open orders and trades (cursor-paged), Data API positions. Requests wait on `TokenBucket` budgets
  (per-10-s venue limits / 10); reads retry 429/5xx/transport errors with backoff, honouring
  `Retry-After`; an order POST retries only a 429 (the venue did not take it).
- Orders are signed by `OrderSigner` (py-clob-client-v2) and sent as the exact serialised body the
  L2 HMAC covers. A POST that times out, fails in transport, answers 5xx or answers unreadably
  returns `OrderStatus.UNKNOWN` (the order id is known: it is the order hash) until the user
  channel or a query settles it. Fills come only from trade events and trade queries, never from
  the acknowledgement (a FAK can be acknowledged "live" and fill later).

Events (books already applied) go to `sink`, plus `VenueNotice(kind="connected"/"disconnected",
message=stream)` when a socket opens or closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import websockets
from websockets.asyncio.client import ClientConnection, connect

from arb.book import OrderBook
from arb.domain import (
    Balance,
    EventInfo,
    Fill,
    GroupKind,
    MarketInfo,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    Side,
    TimeInForce,
    Venue,
    VenueNotice,
)
from arb.errors import (
    AuthError,
    ConfigError,
    FieldError,
    OrderRejectedError,
    RateLimitedError,
    VenueError,
    VenueUnavailableError,
    WireError,
)
from arb.venues.base import Backoff, Capabilities, Clock, EventSink, TokenBucket
from arb.venues.polymarket import wire
from arb.venues.polymarket.orders import OrderSigner, PolymarketCredentials, PreparedOrder, serialize_body
from arb.venues.polymarket.session import Command, FetchBook, MarketSession, Reconnect, SendText, UserSession
from arb.venues.polymarket.wire import UserContext

__all__ = ["CAPABILITIES", "PolymarketClient", "PolymarketConfig"]

_V = "polymarket"
_S = 1_000_000_000

CAPABILITIES = Capabilities(
    order_types=frozenset({TimeInForce.GTC, TimeInForce.GTD, TimeInForce.FOK, TimeInForce.IOC}),
    batch_orders=True,
    max_batch_size=15,
    fill_stream=True,
    fills_can_fail=True,
    ack_may_precede_fill=True,
    post_only=True,
    amend=False,
    fractional_sizes=True,  # sizes in 0.01-share lots
    book_sequence=False,
)


@dataclass(frozen=True, slots=True)
class PolymarketConfig:
    """Polymarket adapter settings. URLs default to production; tests point them at the simulator.

    gamma_base_url / clob_base_url / data_api_base_url: REST bases.
    market_ws_url / user_ws_url: WebSocket endpoints.
    chain_id: 137 (Polygon) for production.
    ping_interval_s: text PING period (venue: 10 s). pong_timeout_s: reconnect when no PONG for this long.
    feed_silence_s: reconnect (books untrusted) when the market socket sends no data for this long.
    tick_interval_s: how often (real time) the ticker checks pings and health.
    http_timeout_s / order_timeout_s / ws_open_timeout_s: request, order POST and handshake limits.
    reconnect_base_s / reconnect_cap_s: socket reconnect backoff. retry_base_s / retry_cap_s: REST retries.
    read_retries: extra attempts for reads on 429/5xx/transport errors. order_429_retries: for order POSTs.
    *_rate_per_s / *_burst: request budgets (venue limits are per 10 s; defaults are a tenth).
    custom_feature_enabled: ask for best_bid_ask / new_market / market_resolved events.
    user_socket: open the user socket when credentials exist.
    gamma_page_size / gamma_max_pages, clob_max_pages: listing pagination limits.
    max_buffered_changes: changes held per token while its book resyncs over REST.
    """

    gamma_base_url: str = "https://gamma-api.polymarket.com"
    clob_base_url: str = "https://clob.polymarket.com"
    data_api_base_url: str = "https://data-api.polymarket.com"
    market_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    user_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws/user"
    chain_id: int = 137
    ping_interval_s: float = 10.0
    pong_timeout_s: float = 30.0
    feed_silence_s: float = 60.0
    tick_interval_s: float = 0.5
    http_timeout_s: float = 10.0
    order_timeout_s: float = 5.0
    ws_open_timeout_s: float = 10.0
    reconnect_base_s: float = 0.25
    reconnect_cap_s: float = 30.0
    retry_base_s: float = 0.2
    retry_cap_s: float = 5.0
    read_retries: int = 3
    order_429_retries: int = 2
    clob_rate_per_s: float = 900.0
    clob_burst: float = 900.0
    order_rate_per_s: float = 350.0
    order_burst: float = 350.0
    gamma_rate_per_s: float = 30.0
    gamma_burst: float = 30.0
    custom_feature_enabled: bool = True
    user_socket: bool = True
    gamma_page_size: int = 100
    gamma_max_pages: int = 1000
    clob_max_pages: int = 1000
    max_buffered_changes: int = 10_000

    def __post_init__(self) -> None:
        for name in ("gamma_base_url", "clob_base_url", "data_api_base_url"):
            if not getattr(self, name).startswith(("http://", "https://")):
                raise ConfigError(f"polymarket {name} must be an http(s) URL, was {getattr(self, name)!r}")
        for name in ("market_ws_url", "user_ws_url"):
            if not getattr(self, name).startswith(("ws://", "wss://")):
                raise ConfigError(f"polymarket {name} must be a ws(s) URL, was {getattr(self, name)!r}")
        for name in (
            "ping_interval_s",
            "pong_timeout_s",
            "feed_silence_s",
            "tick_interval_s",
            "http_timeout_s",
            "order_timeout_s",
            "ws_open_timeout_s",
            "reconnect_base_s",
            "reconnect_cap_s",
            "retry_base_s",
            "retry_cap_s",
            "clob_rate_per_s",
            "clob_burst",
            "order_rate_per_s",
            "order_burst",
            "gamma_rate_per_s",
            "gamma_burst",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ConfigError(f"polymarket {name} must be a positive number, was {value!r}")
        for name in (
            "read_retries",
            "order_429_retries",
            "gamma_page_size",
            "gamma_max_pages",
            "clob_max_pages",
            "max_buffered_changes",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if "retries" in name else 1):
                raise ConfigError(
                    f"polymarket {name} must be a {'non-negative' if 'retries' in name else 'positive'} integer, was {value!r}"
                )
        if self.reconnect_cap_s < self.reconnect_base_s or self.retry_cap_s < self.retry_base_s:
            raise ConfigError("polymarket backoff caps must be at least their bases")


Sleeper = Callable[[float], Awaitable[None]]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class PolymarketClient:
    """`arb.venues.base.VenueClient` for Polymarket."""

    venue = Venue.POLYMARKET
    capabilities = CAPABILITIES

    def __init__(
        self,
        config: PolymarketConfig,
        *,
        clock: Clock,
        sleep: Sleeper,
        rng: random.Random,
        sink: EventSink | None = None,
        credentials: PolymarketCredentials | None = None,
        http: httpx.AsyncClient | None = None,
        wall_clock_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._wall_ms = wall_clock_ms
        self.sink = sink
        self.credentials = credentials
        self._http = http
        self._own_http = http is None
        self.market_session = MarketSession(
            ping_interval_ns=int(config.ping_interval_s * _S),
            silence_ns=int(config.feed_silence_s * _S),
            pong_timeout_ns=int(config.pong_timeout_s * _S),
            custom_feature_enabled=config.custom_feature_enabled,
            max_buffered_changes=config.max_buffered_changes,
            sink=sink,
        )
        addresses = (credentials.funder_address, credentials.signer_address) if credentials else ()
        context = UserContext.of(credentials.api_key if credentials else "", addresses)
        self.user_session = UserSession(
            context,
            auth=(credentials.api_key, credentials.api_secret, credentials.api_passphrase) if credentials else None,
            ping_interval_ns=int(config.ping_interval_s * _S),
            sink=sink,
        )
        self._signer = OrderSigner(credentials, rng=random.Random(rng.getrandbits(64))) if credentials else None
        self._markets: dict[str, MarketInfo] = {}
        self._clob_bucket = TokenBucket(config.clob_rate_per_s, config.clob_burst)
        self._order_bucket = TokenBucket(config.order_rate_per_s, config.order_burst)
        self._gamma_bucket = TokenBucket(config.gamma_rate_per_s, config.gamma_burst)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sockets: dict[str, ClientConnection | None] = {"market": None, "user": None}
        self._closing = False
        self.connected = {"market": asyncio.Event(), "user": asyncio.Event()}
        self.reconnect_delays: list[tuple[str, float]] = []  # (stream, seconds) in request order
        self.retry_delays: list[tuple[str, float]] = []  # (path, seconds)
        self.reconnect_reasons: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []  # unexpected exceptions the loops survived

    def __repr__(self) -> str:
        return (
            f"PolymarketClient(clob={self.config.clob_base_url!r}, credentials={'yes' if self.credentials else 'no'})"
        )

    # -- VenueClient -----------------------------------------------------------------------------

    @property
    def books(self) -> dict[str, OrderBook]:
        return self.market_session.books

    async def start(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.config.http_timeout_s)
        self._spawn(self._socket_loop("market"))
        if self.credentials is not None and self.config.user_socket:
            self._spawn(self._socket_loop("user"))

    async def close(self) -> None:
        self._closing = True
        for ws in self._sockets.values():
            if ws is not None:
                await ws.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def subscribe(self, markets: Sequence[MarketInfo]) -> None:
        for market in markets:
            self._markets[market.market_id] = market
        commands = self.market_session.add_markets(markets)
        self.user_session.add_markets(markets)
        ws = self._sockets["market"]
        if commands and ws is not None:
            await self._perform("market", ws, commands)

    async def markets(self, **filters: Any) -> list[MarketInfo]:
        """Gamma `/markets`, all pages (`limit`/`offset`); filters pass through as query
        parameters (e.g. active=True, closed=False, tag_id=..., slug=...)."""
        out: list[MarketInfo] = []
        for page in await self._gamma_pages("/markets", filters):
            out.extend(wire.decode_gamma_markets(page))
        for market in out:
            self._markets.setdefault(market.market_id, market)
        return out

    async def events(self, **filters: Any) -> list[EventInfo]:
        out: list[EventInfo] = []
        for page in await self._gamma_pages("/events", filters):
            out.extend(wire.decode_gamma_events(page))
        for event in out:
            for market in event.markets:
                self._markets.setdefault(market.market_id, market)
        return out

    async def clob_market(self, condition_id: str) -> MarketInfo:
        body = await self._request(
            "GET", self.config.clob_base_url, f"/markets/{condition_id}", bucket=self._clob_bucket
        )
        return wire.decode_clob_market(body)

    async def fetch_book(self, token_id: str) -> Any:
        """GET `/book` (raw JSON, so the session can check its hash and replay buffered changes)."""
        return await self._request(
            "GET", self.config.clob_base_url, "/book", params={"token_id": token_id}, bucket=self._clob_bucket
        )

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        """Sign and POST one order. What this side refuses before sending (unknown market, price
        off the current tick, size off the lot, postOnly with FOK/FAK, GTD without expiry) comes
        back REJECTED with the reason; only missing credentials raise (`AuthError`)."""
        signer = self._require_signer()
        market = self._markets.get(request.market_id)
        if market is None or market.token_ids is None:
            return self._refused(request, "unknown market (load it with markets() or subscribe() first)")
        token = market.token_ids[0 if request.outcome is Side.YES else 1]
        tick = self.market_session.tick_sizes.get(token) or (
            market.price_bands[0].step_micro_usd if market.price_bands else None
        )
        if tick is None:
            return self._refused(request, "market has no tick size (no CLOB order book)")
        neg_risk = market.group is not None and market.group.kind is GroupKind.NEG_RISK
        try:
            prepared = signer.prepare(
                request, token_id=token, tick_micro=tick, neg_risk=neg_risk, now_ms=self._wall_ms()
            )
        except OrderRejectedError as exc:
            return self._refused(request, exc.reason or str(exc), token)
        self.user_session.register_order(prepared.order_hash, request.client_order_id)
        base = self._update_from(prepared, request)
        try:
            body = await self._request(
                "POST",
                self.config.clob_base_url,
                "/order",
                body_text=prepared.body_text,
                auth=True,
                bucket=self._order_bucket,
                retries=self.config.order_429_retries,
                retry_statuses=(429,),
                retry_transport=False,
                timeout_s=self.config.order_timeout_s,
                order=True,
            )
        except RateLimitedError as exc:
            return dataclasses.replace(base, status=OrderStatus.REJECTED, reason=f"rate limited: {exc}")
        except VenueUnavailableError as exc:
            return dataclasses.replace(base, status=OrderStatus.UNKNOWN, reason=f"outcome unknown: {exc}")
        except OrderRejectedError as exc:
            return dataclasses.replace(base, status=OrderStatus.REJECTED, reason=exc.reason or str(exc))
        except WireError as exc:  # a 2xx whose body is not JSON: the venue may well have taken it
            return dataclasses.replace(base, status=OrderStatus.UNKNOWN, reason=f"unreadable order answer: {exc}")
        try:
            ack = wire.decode_order_response(
                body, time_in_force=request.time_in_force, request_market_id=request.market_id, book_id=token
            )
        except (WireError, RecursionError) as exc:
            return dataclasses.replace(base, status=OrderStatus.UNKNOWN, reason=f"unreadable order answer: {exc}")
        order_id = ack.update.order_id or prepared.order_hash
        if order_id != prepared.order_hash:
            self.user_session.register_order(order_id, request.client_order_id)
        return dataclasses.replace(base, order_id=order_id, status=ack.update.status, reason=ack.error)

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[OrderUpdate]:
        """Concurrent single posts (each with its own ambiguity handling)."""
        return list(await asyncio.gather(*(self.place_order(r) for r in requests)))

    async def cancel_order(self, order_id: str, market_id: str = "") -> OrderUpdate:
        body_text = serialize_body({"orderID": order_id})
        return (await self._cancel("/order", body_text, [order_id], market_id))[0]

    async def cancel_orders(self, order_ids: Sequence[str]) -> list[OrderUpdate]:
        return await self._cancel("/orders", serialize_body(list(order_ids)), list(order_ids), "")

    async def cancel_all(self) -> list[OrderUpdate]:
        return await self._cancel("/cancel-all", None, [], "")

    async def open_orders(self, market_id: str | None = None) -> list[OrderUpdate]:
        params = {"market": market_id} if market_id else {}
        orders: list[OrderUpdate] = []
        for page in await self._clob_pages("/data/orders", params):
            orders.extend(wire.decode_orders_page(page, self.user_session.context).items)
        self.user_session.apply_orders(orders)
        return [self.user_session.orders.get(o.order_id, o) for o in orders]

    async def order(self, order_id: str) -> OrderUpdate:
        body = await self._request(
            "GET", self.config.clob_base_url, f"/data/order/{order_id}", auth=True, bucket=self._clob_bucket
        )
        update = wire.decode_order(body, self.user_session.context)
        self.user_session.apply_orders([update])
        return self.user_session.orders.get(update.order_id, update)

    async def reconcile_order(self, order_id: str) -> OrderUpdate:
        """Settle an UNKNOWN order by asking the venue: its state, or REJECTED when the venue has
        never heard of it (the POST did not get through)."""
        try:
            return await self.order(order_id)
        except VenueError as exc:
            if exc.status != 404:
                raise
        known = self.user_session.orders.get(order_id)
        if known is not None:  # the user channel saw it after all
            return known
        return OrderUpdate(
            Venue.POLYMARKET,
            order_id,
            self.user_session.client_ids.get(order_id),
            "",
            "",
            None,
            None,
            OrderStatus.REJECTED,
            None,
            None,
            0,
            0,
            reason="unknown to the venue",
        )

    async def fills(self, market_id: str | None = None, order_id: str | None = None) -> list[Fill]:
        """Our fills from `/data/trades`, merged into the user session (counted once with the
        socket's); returns the session's view of each, filtered by order when asked."""
        params = {"market": market_id} if market_id else {}
        fills: list[Fill] = []
        for page in await self._clob_pages("/data/trades", params):
            fills.extend(wire.decode_trades_page(page, self.user_session.context).items)
        self.user_session.apply_fills(fills)
        out = [self.user_session.fills.get(f.fill_id, f) for f in fills]
        return [f for f in out if order_id is None or f.order_id == order_id]

    async def positions(self) -> list[Position]:
        credentials = self._require_credentials()
        body = await self._request(
            "GET",
            self.config.data_api_base_url,
            "/positions",
            params={"user": credentials.funder_address},
            bucket=self._gamma_bucket,
        )
        return wire.decode_positions(body)

    async def balance(self) -> Balance:
        credentials = self._require_credentials()
        body = await self._request(
            "GET",
            self.config.clob_base_url,
            "/balance-allowance",
            params={"asset_type": "COLLATERAL", "signature_type": str(credentials.signature_type)},
            auth=True,
            bucket=self._clob_bucket,
        )
        return wire.decode_balance(body)

    # -- orders helpers --------------------------------------------------------------------------

    def _require_credentials(self) -> PolymarketCredentials:
        if self.credentials is None:
            raise AuthError("polymarket credentials are needed for this call", venue=_V)
        return self.credentials

    def _require_signer(self) -> OrderSigner:
        self._require_credentials()
        if self._signer is None:  # credentials were set after construction
            raise AuthError("polymarket client was constructed without credentials", venue=_V)
        return self._signer

    def _refused(self, request: OrderRequest, reason: str, token: str = "") -> OrderUpdate:
        return OrderUpdate(
            Venue.POLYMARKET,
            "",
            request.client_order_id,
            request.market_id,
            token,
            request.outcome,
            request.action,
            OrderStatus.REJECTED,
            request.price_micro_usd,
            request.size_micro,
            0,
            0,
            reason=reason,
        )

    def _update_from(self, prepared: PreparedOrder, request: OrderRequest) -> OrderUpdate:
        return OrderUpdate(
            venue=Venue.POLYMARKET,
            order_id=prepared.order_hash,
            client_order_id=request.client_order_id,
            market_id=request.market_id,
            book_id=prepared.token_id,
            outcome=request.outcome,
            action=request.action,
            status=OrderStatus.PENDING,
            price_micro_usd=request.price_micro_usd,
            initial_size_micro=prepared.shares_micro,
            filled_size_micro=None,
            remaining_size_micro=None,
        )

    async def _cancel(
        self, path: str, body_text: str | None, order_ids: list[str], market_id: str
    ) -> list[OrderUpdate]:
        try:
            body = await self._request(
                "DELETE",
                self.config.clob_base_url,
                path,
                body_text=body_text,
                auth=True,
                bucket=self._order_bucket,
                retries=self.config.order_429_retries,
                retry_statuses=(429,),
                retry_transport=False,
                timeout_s=self.config.order_timeout_s,
            )
            result = wire.decode_cancel_response(body)
        except (VenueUnavailableError, WireError) as exc:
            return [
                self._cancel_update(i, market_id, OrderStatus.UNKNOWN, f"cancel outcome unknown: {exc}")
                for i in order_ids
            ]
        reasons = dict(result.not_canceled)
        out = [self._cancel_update(i, market_id, OrderStatus.CANCELED, "") for i in result.canceled]
        for order_id in order_ids:
            if order_id not in result.canceled:
                # Not cancelled: already filled, already cancelled or unknown - the venue's state decides.
                out.append(
                    self._cancel_update(order_id, market_id, OrderStatus.UNKNOWN, reasons.get(order_id, "not canceled"))
                )
        return out

    def _cancel_update(self, order_id: str, market_id: str, status: OrderStatus, reason: str) -> OrderUpdate:
        known = self.user_session.orders.get(order_id)
        if known is not None:
            remaining = 0 if status is OrderStatus.CANCELED else known.remaining_size_micro
            return dataclasses.replace(known, status=status, reason=reason, remaining_size_micro=remaining)
        return OrderUpdate(
            Venue.POLYMARKET,
            order_id,
            self.user_session.client_ids.get(order_id),
            market_id,
            "",
            None,
            None,
            status,
            None,
            None,
            None,
            0 if status is OrderStatus.CANCELED else None,
            reason=reason,
        )

    # -- HTTP ------------------------------------------------------------------------------------

    async def _gamma_pages(self, path: str, filters: dict[str, Any]) -> list[Any]:
        params = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in filters.items()}
        limit = int(params.pop("limit", self.config.gamma_page_size))
        pages = []
        offset = int(params.pop("offset", 0))
        for _ in range(self.config.gamma_max_pages):
            body = await self._request(
                "GET",
                self.config.gamma_base_url,
                path,
                params={**params, "limit": limit, "offset": offset},
                bucket=self._gamma_bucket,
            )
            items = body.get("events", body.get("data")) if type(body) is dict else body
            if type(items) is not list:
                raise FieldError(path, "must be a JSON array (or an object with one)", body, venue=_V)
            pages.append(items)
            if len(items) < limit:
                break
            offset += len(items)
        return pages

    async def _clob_pages(self, path: str, params: dict[str, Any]) -> list[Any]:
        pages = []
        cursor = "MA=="
        for _ in range(self.config.clob_max_pages):
            body = await self._request(
                "GET",
                self.config.clob_base_url,
                path,
                params={**params, "next_cursor": cursor},
                auth=True,
                bucket=self._clob_bucket,
            )
            pages.append(body)
            next_cursor = body.get("next_cursor") if type(body) is dict else None
            if next_cursor in (None, "", "LTE=") or next_cursor == cursor:
                break
            cursor = next_cursor
        return pages

    async def _request(
        self,
        method: str,
        base: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body_text: str | None = None,
        auth: bool = False,
        bucket: TokenBucket,
        retries: int | None = None,
        retry_statuses: tuple[int, ...] = (429, 500, 502, 503, 504),
        retry_transport: bool = True,
        timeout_s: float | None = None,
        order: bool = False,
    ) -> Any:
        """One REST call with budget, auth and retries; returns parsed JSON or raises a VenueError
        (`RateLimitedError`, `VenueUnavailableError` for 5xx/timeouts/transport, `AuthError`,
        `OrderRejectedError` for a refused order, `VenueError` otherwise)."""
        if self._http is None:
            raise VenueUnavailableError("client not started", venue=_V)
        retries = self.config.read_retries if retries is None else retries
        backoff = Backoff(self.config.retry_base_s, self.config.retry_cap_s, rng=self._rng)
        attempt = 0
        while True:
            wait_ns = bucket.delay_ns(self._clock())
            if wait_ns:
                await self._sleep(wait_ns / _S)
            headers = {"Content-Type": "application/json"} if body_text is not None else {}
            if auth:
                headers.update(self._require_signer().headers(method, path, body_text, self._wall_ms() // 1000))
            error: VenueError
            try:
                response = await self._http.request(
                    method,
                    base + path,
                    params=params,
                    content=body_text.encode() if body_text is not None else None,
                    headers=headers,
                    timeout=timeout_s or self.config.http_timeout_s,
                )
            except httpx.TimeoutException as exc:
                error = VenueUnavailableError(f"{method} {path} timed out ({type(exc).__name__})", venue=_V)
            except httpx.HTTPError as exc:
                error = VenueUnavailableError(f"{method} {path} failed ({type(exc).__name__})", venue=_V)
            else:
                if 200 <= response.status_code < 300:
                    try:
                        return orjson.loads(response.content)
                    except orjson.JSONDecodeError as exc:
                        raise FieldError(f"{path} body", "is not valid JSON", response.content[:60], venue=_V) from exc
                error = self._status_error(method, path, response, order)
            if error.status is None:
                retryable = retry_transport
            else:
                retryable = (
                    isinstance(error, (RateLimitedError, VenueUnavailableError)) and error.status in retry_statuses
                )
            if not retryable or attempt >= retries:
                raise error
            attempt += 1
            retry_after = error.retry_after_s if isinstance(error, RateLimitedError) else None
            delay = backoff.next_delay_s(at_least_s=retry_after or 0.0)
            if isinstance(error, RateLimitedError):
                bucket.penalise(self._clock(), delay)
            self.retry_delays.append((path, delay))
            await self._sleep(delay)

    @staticmethod
    def _status_error(method: str, path: str, response: httpx.Response, order: bool) -> VenueError:
        status = response.status_code
        text = response.text[:300]
        if status == 429:
            retry_after = None
            header = response.headers.get("retry-after")
            if header:
                try:
                    retry_after = max(0.0, float(header))
                except ValueError:
                    retry_after = None
            return RateLimitedError(f"{method} {path} rate limited", venue=_V, retry_after_s=retry_after, body=text)
        if status >= 500:
            return VenueUnavailableError(f"{method} {path} answered {status}", venue=_V, status=status, body=text)
        if status in (401, 403):
            return AuthError(f"{method} {path} answered {status}", venue=_V, status=status, body=text)
        reason = text
        try:
            parsed = orjson.loads(response.content)
            if type(parsed) is dict:
                found = parsed.get("errorMsg") or parsed.get("error")
                if type(found) is str:  # never str() a container: a deeply nested one overflows the stack
                    reason = found
        except orjson.JSONDecodeError:
            pass
        if order or path in ("/order", "/orders"):
            return OrderRejectedError(
                f"{method} {path} answered {status}: {reason}", venue=_V, status=status, reason=reason, body=text
            )
        return VenueError(f"{method} {path} answered {status}: {reason}", venue=_V, status=status, body=text)

    # -- sockets ---------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _emit(self, event: Any) -> None:
        if self.sink is not None:
            self.sink(event)

    async def _socket_loop(self, stream: str) -> None:
        url = self.config.market_ws_url if stream == "market" else self.config.user_ws_url
        session: MarketSession | UserSession = self.market_session if stream == "market" else self.user_session
        backoff = Backoff(self.config.reconnect_base_s, self.config.reconnect_cap_s, rng=self._rng)
        while not self._closing:
            reason = "closed"
            try:
                async with connect(
                    url,
                    open_timeout=self.config.ws_open_timeout_s,
                    ping_interval=None,
                    close_timeout=1.0,
                    max_size=2**24,
                    compression=None,
                ) as ws:
                    self._sockets[stream] = ws
                    self.connected[stream].set()
                    await self._perform(stream, ws, session.on_connect(self._clock()))
                    self._emit(VenueNotice(Venue.POLYMARKET, "connected", message=stream))
                    ticker = self._spawn(self._ticker(stream, ws, session))
                    try:
                        async for data in ws:
                            now = self._clock()
                            if stream == "market":
                                commands = self.market_session.receive(data, now)
                                if commands:
                                    await self._perform(stream, ws, commands)
                            else:
                                self.user_session.receive(data, now)
                            backoff.reset()  # data flowed: the next drop starts from the base delay
                    finally:
                        ticker.cancel()
                    reason = f"closed ({ws.close_code})"
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                reason = type(exc).__name__
            except Exception as exc:  # noqa: BLE001 - the loop outlives a bug in a handler; tests read `errors`
                self.errors.append(exc)
                reason = f"internal error ({type(exc).__name__})"
            finally:
                self._sockets[stream] = None
                self.connected[stream].clear()
                session.on_disconnect(self._clock(), f"{stream} socket {reason}")
            if self._closing:
                break
            self._emit(VenueNotice(Venue.POLYMARKET, "disconnected", message=stream))
            delay = backoff.next_delay_s()
            self.reconnect_delays.append((stream, delay))
            await self._sleep(delay)

    async def _ticker(self, stream: str, ws: ClientConnection, session: MarketSession | UserSession) -> None:
        try:
            while True:
                await asyncio.sleep(self.config.tick_interval_s)
                now = self._clock()
                ping = session.due_ping(now)
                if ping is not None:
                    await ws.send(ping)
                if stream == "market":
                    commands = self.market_session.check(now)
                    if commands:
                        await self._perform(stream, ws, commands)
        except asyncio.CancelledError:
            raise
        except websockets.exceptions.ConnectionClosed:
            return
        except Exception as exc:  # noqa: BLE001 - keep the socket; record the bug
            self.errors.append(exc)

    async def _perform(self, stream: str, ws: ClientConnection, commands: Sequence[Command]) -> None:
        for command in commands:
            if type(command) is SendText:
                await ws.send(command.text)
            elif type(command) is FetchBook:
                self._spawn(self._resync(command.asset_id))
            elif type(command) is Reconnect:
                self.reconnect_reasons.append((stream, command.reason))
                await ws.close(1000, command.reason[:100])

    async def _resync(self, asset_id: str) -> None:
        try:
            body = await self.fetch_book(asset_id)
        except (VenueError, WireError) as exc:
            commands: Sequence[Command] = self.market_session.resync_failed(asset_id, type(exc).__name__)
        else:
            commands = self.market_session.apply_rest_book(body, self._clock())
            restarted = any(type(c) is FetchBook and c.asset_id == asset_id for c in commands)
            if asset_id in self.market_session.resyncing and not restarted:
                # The answer was unusable (undecodable, or another token's): without this the book
                # would wait, untrusted, until its change buffer overflowed.
                commands = [*commands, *self.market_session.resync_failed(asset_id, "unusable /book answer")]
        ws = self._sockets["market"]
        if commands and ws is not None:
            with contextlib.suppress(websockets.exceptions.ConnectionClosed):
                await self._perform("market", ws, commands)
