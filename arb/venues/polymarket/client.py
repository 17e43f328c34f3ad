"""Thin async Polymarket client: sockets and HTTP around the sans-I/O sessions.

What it does, and nothing more:
- one multiplexed market socket (`websockets.asyncio.client`) feeding `PolymarketMarketSession`,
  and a user socket feeding `PolymarketUserSession` when credentials exist; each has a reader
  (frame -> session -> commands) and a ticker (text `PING` every `ping_interval_s`, the session's
  health `check`: the same PONG and silence limits on both sockets, so a frozen user socket is
  replaced too; the user socket's silence counts only while an order we sent is not known final
  or a fill is not CONFIRMED/FAILED, since the venue says nothing to a quiet account). Timers read
  the injected `clock`; the ticker itself wakes every `check_interval_s` of real time.
- reconnects with jittered exponential `Backoff` (seeded `rng`), waiting through the injected
  `sleep`; every delay is recorded in `diagnostics.reconnect_delays` (tests assert them instead of
  waiting). The diagnostics (`arb.venues.base.ClientDiagnostics`) are bounded and named as Kalshi's.
- REST through `arb.venues.rest.RestCaller` (the same path as Kalshi's): Gamma metadata
  (offset-paged), CLOB books, orders, cancels, open orders and trades (cursor-paged), Data API
  positions. Requests wait on `TokenBucket` budgets (per-10-s venue limits / 10) and the injected
  `deadline`; reads retry 429/5xx/timeouts/transport errors with backoff, honouring `Retry-After`;
  an order POST retries only a 429 (the venue did not take it).
- Orders are signed by `OrderSigner` (py-clob-client-v2) and sent as the exact serialised body the
  L2 HMAC covers. A POST that times out, fails in transport, answers 5xx or answers unreadably
  returns `OrderStatus.UNKNOWN` (the order id is known: it is the order hash), and a POST cancelled
  by its caller (timeout, kill switch, shutdown) is recorded UNKNOWN (`sends`, and the sink) before
  the cancellation propagates, until the user channel or `reconcile_order` settles it. A lookup that
  does not find an order whose send may still be in flight says UNKNOWN, not REJECTED. Fills come
  only from trade events and trade queries, never from the acknowledgement (a FAK can be
  acknowledged "live" and fill later).
- A cancel returns the venue's record of the order, looked up and recorded in the order table
  (`user_session.orders`): a confirmed cancel carries the fill the venue made before it, and an
  order that already filled or was cancelled returns its final state. A lookup that shows more
  filled than the fills we hold fetches the missing fills (each delivered once).
- After a user-socket gap (the venue does not replay it) the client catches up over REST: trades
  matched since shortly before the socket's last frame (each missed fill reaches the sink once)
  and the final state of every order its table holds OPEN (or it sent and never saw recorded)
  that the venue no longer lists as open.
- Refusals: the venue's 400 `{"error": ...}` (or older `{"success": false, "errorMsg": ...}`)
  comes back REJECTED with the venue's message (`wire.error_message`).
- The sink is guarded (`GuardedSink`): an exception in it is recorded in
  `diagnostics.sink_errors`, never drops a socket or loses the events after it.

Events (books already applied) go to `sink`, plus `VenueNotice(kind="connected"/"disconnected",
message=stream)` when a socket opens or closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
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
    ArbError,
    AuthError,
    ConfigError,
    FieldError,
    OrderRejectedError,
    RateLimitedError,
    VenueError,
    VenueUnavailableError,
    WireError,
)
from arb.venues.base import (
    Backoff,
    Capabilities,
    ClientDiagnostics,
    Clock,
    Deadline,
    EventSink,
    GuardedSink,
    OrderSends,
    RecentIds,
    Reconnect,
    SendText,
    Sleep,
    TokenBucket,
    check_numbers,
)
from arb.venues.polymarket import wire
from arb.venues.polymarket.orders import OrderSigner, PolymarketCredentials, PreparedOrder, serialize_body
from arb.venues.polymarket.session import Command, FetchBook, PolymarketMarketSession, PolymarketUserSession
from arb.venues.polymarket.wire import UserContext
from arb.venues.rest import RestCaller

__all__ = ["CAPABILITIES", "PolymarketClient", "PolymarketConfig"]

_V = "polymarket"
_S = 1_000_000_000
_CATCH_UP_MARGIN_S = 60  # trades matched this long before a user-socket gap are fetched again (clocks, seconds)

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
    """Polymarket adapter settings (the names shared with `KalshiConfig` mean the same there).
    URLs default to production; tests point them at the simulator.

    gamma_base_url / clob_base_url / data_api_base_url: REST bases.
    market_ws_url / user_ws_url: WebSocket endpoints.
    chain_id: 137 (Polygon) for production.
    ping_interval_s: text PING period (venue: 10 s). pong_timeout_s: reconnect when no PONG for this long.
    feed_silence_s: reconnect when a socket (market: books untrusted; user: while an order or fill of ours is
      unsettled) sends no data for this long.
    check_interval_s: how often (real time) the ticker checks pings and health.
    request_timeout_s / order_timeout_s / ws_open_timeout_s: request, order POST and handshake limits.
    reconnect_base_s / reconnect_cap_s: socket reconnect backoff. retry_base_s / retry_cap_s: REST retries.
    read_retries: extra attempts for reads on 429/5xx/transport errors. order_429_retries: for order POSTs.
    order_settle_s: how long after an unanswered order send (timeout, 5xx, cancelled) a lookup that
      does not find the order still says UNKNOWN (the request may be queued at the venue).
    *_rate_per_s / *_burst: request budgets (venue limits are per 10 s; defaults are a tenth).
    custom_feature_enabled: ask for best_bid_ask / new_market / market_resolved events.
    private_stream: open the user socket (orders and fills) when credentials exist.
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
    check_interval_s: float = 0.5
    request_timeout_s: float = 10.0
    order_timeout_s: float = 5.0
    ws_open_timeout_s: float = 10.0
    reconnect_base_s: float = 0.25
    reconnect_cap_s: float = 30.0
    retry_base_s: float = 0.2
    retry_cap_s: float = 5.0
    read_retries: int = 3
    order_429_retries: int = 2
    order_settle_s: float = 30.0
    clob_rate_per_s: float = 900.0
    clob_burst: float = 900.0
    order_rate_per_s: float = 350.0
    order_burst: float = 350.0
    gamma_rate_per_s: float = 30.0
    gamma_burst: float = 30.0
    custom_feature_enabled: bool = True
    private_stream: bool = True
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
        check_numbers(
            "polymarket",
            self,
            positive=(
                "ping_interval_s",
                "pong_timeout_s",
                "feed_silence_s",
                "check_interval_s",
                "request_timeout_s",
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
            ),
        )
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
        check_numbers("polymarket", self, non_negative=("order_settle_s",))


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _error_reason(response: httpx.Response) -> str:
    """The CLOB's `{"error": ...}` or `{"errorMsg": ...}` text (`wire.error_message`), else the raw body."""
    return wire.error_message(response.content) or response.text[:300]


class PolymarketClient:
    """`arb.venues.base.VenueClient` for Polymarket."""

    venue = Venue.POLYMARKET
    capabilities = CAPABILITIES

    def __init__(
        self,
        config: PolymarketConfig,
        *,
        clock: Clock,
        sleep: Sleep,
        rng: random.Random,
        sink: EventSink | None = None,
        credentials: PolymarketCredentials | None = None,
        http: httpx.AsyncClient | None = None,
        wall_clock_ms: Callable[[], int] = _wall_ms,
        deadline: Deadline = asyncio.timeout,
    ) -> None:
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._wall_ms = wall_clock_ms
        self.diagnostics = ClientDiagnostics()
        self._sink = GuardedSink(sink, self.diagnostics)
        guarded = self._sink if sink is not None else None  # no sink: the sessions skip building events
        self.credentials = credentials
        self._http = http
        self._own_http = http is None
        self._rest = RestCaller(
            _V,
            clock=clock,
            sleep=sleep,
            rng=rng,
            deadline=deadline,
            wall_clock_ms=wall_clock_ms,
            retry_base_s=config.retry_base_s,
            retry_cap_s=config.retry_cap_s,
            diagnostics=self.diagnostics,
            reason_of=_error_reason,
        )
        self.sends = OrderSends(int(config.order_settle_s * _S))
        self._before_post: Callable[[OrderUpdate], Awaitable[None]] | None = None
        self.market_session = PolymarketMarketSession(
            ping_interval_ns=int(config.ping_interval_s * _S),
            silence_ns=int(config.feed_silence_s * _S),
            pong_timeout_ns=int(config.pong_timeout_s * _S),
            custom_feature_enabled=config.custom_feature_enabled,
            max_buffered_changes=config.max_buffered_changes,
            sink=guarded,
        )
        addresses = (credentials.funder_address, credentials.signer_address) if credentials else ()
        context = UserContext.of(credentials.api_key if credentials else "", addresses)
        self.user_session = PolymarketUserSession(
            context,
            auth=(credentials.api_key, credentials.api_secret, credentials.api_passphrase) if credentials else None,
            ping_interval_ns=int(config.ping_interval_s * _S),
            silence_ns=int(config.feed_silence_s * _S),
            pong_timeout_ns=int(config.pong_timeout_s * _S),
            sink=guarded,
        )
        self._signer = OrderSigner(credentials, rng=random.Random(rng.getrandbits(64))) if credentials else None
        self._markets: dict[str, MarketInfo] = {}
        self._acknowledged = RecentIds(10 * self.sends.max_kept)  # order ids the venue answered as taken
        self._user_gap_ms: int | None = None  # wall time of the last user frame before a gap, until caught up
        self._clob_bucket = TokenBucket(config.clob_rate_per_s, config.clob_burst)
        self._order_bucket = TokenBucket(config.order_rate_per_s, config.order_burst)
        self._gamma_bucket = TokenBucket(config.gamma_rate_per_s, config.gamma_burst)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sockets: dict[str, ClientConnection | None] = {"market": None, "user": None}
        self._closing = False
        self.connected = {"market": asyncio.Event(), "user": asyncio.Event()}

    def __repr__(self) -> str:
        return (
            f"PolymarketClient(clob={self.config.clob_base_url!r}, credentials={'yes' if self.credentials else 'no'})"
        )

    # -- VenueClient -----------------------------------------------------------------------------

    @property
    def books(self) -> dict[str, OrderBook]:
        return self.market_session.books

    @property
    def sink(self) -> EventSink | None:
        return self._sink.sink

    @sink.setter
    def sink(self, sink: EventSink | None) -> None:
        self._sink.sink = sink
        guarded = self._sink if sink is not None else None
        self.market_session.sink = guarded
        self.user_session.sink = guarded

    async def start(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=None)  # the injected deadline times requests
        self._spawn(self._socket_loop("market"))
        if self.credentials is not None and self.config.private_stream:
            self._spawn(self._socket_loop("user"))

    def _is_closing(self) -> bool:
        """The flag read through a call: `close()` sets it while a loop awaits, which narrowing
        `self._closing` across the loop's awaits would hide from the type checker."""
        return self._closing

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
        self.user_session.add_markets(out)  # fee schedules: our fills in these markets get their fee
        return out

    async def events(self, **filters: Any) -> list[EventInfo]:
        out: list[EventInfo] = []
        for page in await self._gamma_pages("/events", filters):
            out.extend(wire.decode_gamma_events(page))
        for event in out:
            for market in event.markets:
                self._markets.setdefault(market.market_id, market)
            self.user_session.add_markets(event.markets)
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
        off the current tick, size off the lot, an amount the venue cannot represent, postOnly
        with FOK/FAK, GTD without expiry) comes back REJECTED with the reason; only missing
        credentials raise (`AuthError`)."""
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
        # Checks, amounts and salt here; the EIP-712 signature (several ms of Python crypto) in a
        # worker thread so it does not stall the loop. A cancellation while it runs waits for it
        # and then ends like one during the POST (UNKNOWN, the sink told): the order's id is known.
        cancelled = False
        try:
            unsigned = signer.unsigned(
                request, token_id=token, tick_micro=tick, neg_risk=neg_risk, now_ms=self._wall_ms(), salt=request.salt
            )
            signing = asyncio.ensure_future(asyncio.to_thread(signer.sign, unsigned))
            while True:
                try:
                    prepared = await asyncio.shield(signing)
                    break
                except asyncio.CancelledError:
                    if signing.cancelled():
                        raise
                    cancelled = True
        except OrderRejectedError as exc:
            if cancelled:
                raise asyncio.CancelledError from exc
            return self._refused(request, exc.reason or str(exc), token)
        order_hash = prepared.order_hash
        self.user_session.register_order(order_hash, request.client_order_id)
        self.user_session.expect_order(order_hash)  # its events may come on the user socket now
        base = self._update_from(prepared, request)
        # The order's id is its hash, known now: the sink hears it (PENDING) before the POST leaves,
        # so a journal that records it can find the order at the venue after a crash mid-send.
        self._sink(base)
        if self._before_post is not None:
            try:
                await self._before_post(base)
            except ArbError as exc:  # the journal cannot hold the hash: the order must not leave
                self.user_session.order_settled(order_hash)
                return dataclasses.replace(base, status=OrderStatus.REJECTED, reason=f"not sent: {exc}")
        self.sends.begin(order_hash, request.market_id, now_ns=self._clock(), wall_ms=self._wall_ms())
        try:
            if cancelled:
                raise asyncio.CancelledError
            body = await self._request(
                "POST",
                self.config.clob_base_url,
                "/order",
                body_text=prepared.body_text,
                auth=True,
                bucket=self._order_bucket,
                retries=self.config.order_429_retries,
                retry_unavailable=False,
                timeout_s=self.config.order_timeout_s,
            )
        except asyncio.CancelledError:
            # The caller gave up (a timeout around the call, the kill switch, shutdown) while the
            # POST was out: the venue may have the order. Record it UNKNOWN, tell the sink (the
            # caller never sees a return value), and let the cancellation propagate.
            self._sink(self._unanswered(base, "send cancelled before the venue answered"))
            raise
        except RateLimitedError as exc:
            self.sends.answered(order_hash)
            self.user_session.order_settled(order_hash)
            return dataclasses.replace(base, status=OrderStatus.REJECTED, reason=f"rate limited: {exc}")
        except VenueUnavailableError as exc:
            return self._unanswered(base, f"outcome unknown: {exc}")
        except OrderRejectedError as exc:
            self.sends.answered(order_hash)
            self.user_session.order_settled(order_hash)
            return dataclasses.replace(base, status=OrderStatus.REJECTED, reason=exc.reason or str(exc))
        except WireError as exc:  # a 2xx whose body is not JSON: the venue may well have taken it
            self.sends.answered(order_hash)
            return dataclasses.replace(base, status=OrderStatus.UNKNOWN, reason=f"unreadable order answer: {exc}")
        self.sends.answered(order_hash)
        try:
            ack = wire.decode_order_response(
                body, time_in_force=request.time_in_force, request_market_id=request.market_id, book_id=token
            )
        except (WireError, RecursionError) as exc:
            return dataclasses.replace(base, status=OrderStatus.UNKNOWN, reason=f"unreadable order answer: {exc}")
        order_id = ack.update.order_id or order_hash
        if order_id != order_hash:
            self.user_session.register_order(order_id, request.client_order_id)
            self.user_session.order_settled(order_hash)
            self.user_session.expect_order(order_id)
        if ack.update.status in (OrderStatus.REJECTED, OrderStatus.CANCELED):
            self.user_session.order_settled(order_id)  # refused, or killed unmatched: nothing to come
        if ack.update.status is not OrderStatus.REJECTED:
            self._acknowledged.add(order_id)
        return dataclasses.replace(base, order_id=order_id, status=ack.update.status, reason=ack.error)

    def set_before_post(self, hook: Callable[[OrderUpdate], Awaitable[None]] | None) -> None:
        """`hook(update)` is awaited after the sink heard an order's hash (PENDING) and before its
        POST leaves (the executor waits there until the ledger has the hash on file); an
        `ArbError` from it refuses the order unsent (REJECTED)."""
        self._before_post = hook

    def _unanswered(self, base: OrderUpdate, reason: str) -> OrderUpdate:
        """The POST ended without an answer: UNKNOWN, and in flight for `order_settle_s` more."""
        update = dataclasses.replace(base, status=OrderStatus.UNKNOWN, reason=reason)
        self.sends.unanswered(base.order_id, self._clock(), update)
        return update

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
        await self._fetch_missing_fills(orders)
        return [self.user_session.orders.get(o.order_id, o) for o in orders]

    async def _fetch_missing_fills(self, orders: Sequence[OrderUpdate]) -> None:
        """The venue reports more filled on some of these orders than the fills we hold (events
        still on the way, or missed while a socket was down): fetch their markets' trades, so each
        missing fill reaches the sink once, now. A failed fetch leaves the orders' states as they
        are (the next lookup tries again)."""
        net = self.user_session.net_filled_micro
        markets = sorted({o.market_id for o in orders if (o.filled_size_micro or 0) > net(o.order_id)})
        for market_id in markets:
            with contextlib.suppress(ArbError):
                await self._query_fills({"market": market_id} if market_id else {})

    async def order(self, order_id: str) -> OrderUpdate:
        update = await self._lookup(order_id)
        await self._fetch_missing_fills([update])
        return self.user_session.orders.get(update.order_id, update)

    async def _lookup(self, order_id: str) -> OrderUpdate:
        """GET `/data/order/{id}`: the venue's record, applied to the order table. Fetching the
        fills it shows missing is the caller's (`_fetch_missing_fills`), once for a whole batch of
        lookups: a market's trades are not queried again for each of its orders."""
        body = await self._request(
            "GET", self.config.clob_base_url, f"/data/order/{order_id}", auth=True, bucket=self._clob_bucket
        )
        update = wire.decode_order(body, self.user_session.context)
        self.user_session.apply_orders([update])
        self.sends.found(order_id, update.order_id)
        return update

    async def reconcile_order(self, order_id: str) -> OrderUpdate:
        """Settle an UNKNOWN order by asking the venue: its state when it has the order; when it
        answers 404, UNKNOWN while our send may still be in flight (not answered yet, or
        unanswered less than `order_settle_s` ago), REJECTED after that (it never got through).
        An order the venue acknowledged (a FAK answered "live" fills later) is never REJECTED by
        a 404: the venue took it, so it stays UNKNOWN until a lookup or the user channel finds it."""
        try:
            return await self.order(order_id)
        except VenueError as exc:
            if exc.status != 404:
                raise
        known = self.user_session.orders.get(order_id)
        if known is not None:  # the user channel saw it after all
            return known
        sent = self.sends.get(order_id)
        if order_id in self._acknowledged:
            return self._cancel_update(
                order_id,
                sent.market_id if sent is not None else "",
                OrderStatus.UNKNOWN,
                "acknowledged by the venue, not found by its lookup yet",
            )
        template = OrderUpdate(
            Venue.POLYMARKET,
            order_id,
            self.user_session.client_ids.get(order_id),
            sent.market_id if sent is not None else "",
            "",
            None,
            None,
            OrderStatus.UNKNOWN,
            None,
            None,
            None,
            None,
        )
        answer = self.sends.not_found(order_id, self._clock(), template)
        if answer.status is OrderStatus.REJECTED:
            self.user_session.order_settled(order_id)  # the venue never got it
        return answer

    async def fills(self, market_id: str | None = None, order_id: str | None = None) -> list[Fill]:
        """Our fills from `/data/trades`, merged into the user session (counted once with the
        socket's; new ones go to the sink); returns the session's view of each, filtered by order
        when asked."""
        out = await self._query_fills({"market": market_id} if market_id else {})
        return [f for f in out if order_id is None or f.order_id == order_id]

    async def _query_fills(self, params: dict[str, Any]) -> list[Fill]:
        fills: list[Fill] = []
        for page in await self._clob_pages("/data/trades", params):
            fills.extend(wire.decode_trades_page(page, self.user_session.context).items)
        self.user_session.apply_fills(fills)
        return [self.user_session.fills.get(f.fill_id, f) for f in fills]

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
                retry_unavailable=False,
                timeout_s=self.config.order_timeout_s,
            )
            result = wire.decode_cancel_response(body)
        except (VenueUnavailableError, WireError) as exc:
            return [
                self._cancel_update(i, market_id, OrderStatus.UNKNOWN, f"cancel outcome unknown: {exc}")
                for i in order_ids
            ]
        reasons = dict(result.not_canceled)
        canceled = await asyncio.gather(*(self._canceled(i, market_id) for i in result.canceled))
        await self._fetch_missing_fills([record for _, record in canceled if record is not None])
        out = [answer for answer, _ in canceled]
        for order_id in order_ids:
            if order_id not in result.canceled:
                # Not cancelled: already filled, already cancelled, or unknown. The venue's state of
                # the order says which: that is the answer (a final state is final).
                out.append(await self._final_state(order_id, market_id, reasons.get(order_id, "not canceled")))
        return out

    async def _canceled(self, order_id: str, market_id: str) -> tuple[OrderUpdate, OrderUpdate | None]:
        """The venue cancelled `order_id`. How much filled before the cancel is the venue's to say
        (our cached copy may predate fills whose events are still on the way, or were missed): its
        record, looked up, is the answer and goes into the order table. When the lookup fails or
        still shows the order live, the answer is CANCELED with the fill unknown (None), never a
        guess from the cache. Returns the answer and the venue's record (None when the lookup
        failed), whose missing fills the caller fetches."""
        try:
            found = await self._lookup(order_id)
        except ArbError as exc:
            record, why = None, f"lookup failed: {exc}"
        else:
            if found.status in (OrderStatus.CANCELED, OrderStatus.FILLED):
                return self.user_session.orders.get(found.order_id, found), found
            record, why = found, f"the venue's record still says {found.status.name}"
        update = dataclasses.replace(
            self._cancel_update(order_id, market_id, OrderStatus.CANCELED, f"canceled; fill not known yet ({why})"),
            filled_size_micro=None,
        )
        self.user_session.apply_orders([update])
        return self.user_session.orders.get(order_id, update), record

    async def _final_state(self, order_id: str, market_id: str, reason: str) -> OrderUpdate:
        try:
            found = await self.reconcile_order(order_id)
        except ArbError as exc:
            return self._cancel_update(order_id, market_id, OrderStatus.UNKNOWN, f"{reason}; lookup failed: {exc}")
        if found.status is OrderStatus.OPEN:  # still resting, yet not cancelled: say why
            return dataclasses.replace(found, reason=reason)
        return found

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
        retry_unavailable: bool = True,
        timeout_s: float | None = None,
    ) -> Any:
        """One REST call through the shared retry path (`RestCaller`); returns parsed JSON or
        raises `RateLimitedError`, `VenueUnavailableError` (5xx, timeouts, transport), `AuthError`,
        `OrderRejectedError` (a refused order or order call) or `VenueError`."""
        if self._http is None:
            raise VenueUnavailableError("client not started", venue=_V)
        signer = self._require_signer() if auth else None
        headers = (
            (lambda: signer.headers(method, path, body_text, self._wall_ms() // 1000)) if signer is not None else None
        )
        return await self._rest.request(
            self._http,
            method,
            base + path,
            path=path,
            bucket=bucket,
            timeout_s=timeout_s or self.config.request_timeout_s,
            retries=self.config.read_retries if retries is None else retries,
            retry_unavailable=retry_unavailable,
            params=params,
            content=body_text.encode() if body_text is not None else None,
            headers=headers,
            order=path in ("/order", "/orders"),  # order calls: a 4xx is an OrderRejectedError
        )

    # -- sockets ---------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _emit(self, event: Any) -> None:
        self._sink(event)

    async def _socket_loop(self, stream: str) -> None:
        url = self.config.market_ws_url if stream == "market" else self.config.user_ws_url
        session: PolymarketMarketSession | PolymarketUserSession = (
            self.market_session if stream == "market" else self.user_session
        )
        backoff = Backoff(self.config.reconnect_base_s, self.config.reconnect_cap_s, rng=self._rng)
        while not self._is_closing():
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
                    self.diagnostics.connects += 1
                    await self._perform(stream, ws, session.on_connect(self._clock()))
                    if stream == "user" and self._user_gap_ms is not None:
                        gap_ms, self._user_gap_ms = self._user_gap_ms, None
                        self._spawn(self._catch_up_user(gap_ms))
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
            except Exception as exc:  # noqa: BLE001 - the loop outlives a bug in a handler (recorded)
                self.diagnostics.loop_errors.append(exc)
                reason = f"internal error ({type(exc).__name__})"
            finally:
                self._sockets[stream] = None
                self.connected[stream].clear()
                session.on_disconnect(self._clock(), f"{stream} socket {reason}")
                if stream == "user" and self._user_gap_ms is None:
                    self._user_gap_ms = self._last_user_frame_ms()
            if self._is_closing():
                break
            self.diagnostics.disconnect_reasons.append((stream, reason))
            self._emit(VenueNotice(Venue.POLYMARKET, "disconnected", message=stream))
            delay = backoff.next_delay_s()
            self.diagnostics.reconnect_delays.append((stream, delay))
            await self._sleep(delay)

    def _last_user_frame_ms(self) -> int:
        """Wall time of the last frame the user socket delivered (or of its connect): a frozen
        socket may have lost everything since then, not only since it was closed."""
        last_ns = self.user_session.watchdog.last_data_ns
        quiet_ms = 0 if last_ns is None else max(0, self._clock() - last_ns) // 1_000_000
        return self._wall_ms() - quiet_ms

    async def _catch_up_user(self, gap_ms: int) -> None:
        """The user socket is back after a gap (the venue does not replay it): fetch the trades
        matched since shortly before its last frame (`gap_ms`), so each missed fill reaches the sink
        once, and look up every order our table holds OPEN that the venue no longer lists as open
        (filled or cancelled during the gap), so the table records its final state. Tried `read_retries`
        more times after a failure (each recorded in `diagnostics.loop_errors`); if it still fails,
        the gap stays marked and the next reconnect covers it from its start."""
        backoff = Backoff(self.config.retry_base_s, self.config.retry_cap_s, rng=self._rng)
        for attempt in range(self.config.read_retries + 1):
            try:
                await self._query_fills({"after": str(gap_ms // 1000 - _CATCH_UP_MARGIN_S)})
                still_open = {o.order_id for o in await self.open_orders()}
                ended = [
                    order_id
                    for order_id, known in list(self.user_session.orders.items())
                    if known.status is OrderStatus.OPEN and order_id not in still_open
                ]
                await self._fetch_missing_fills([await self._lookup(order_id) for order_id in ended])
                # Sent orders the table never recorded (a FOK answered "matched", an UNKNOWN send)
                # and the venue does not list as open: their final state ends the socket's watch.
                for order_id in self.user_session.awaited_orders():
                    if order_id not in still_open and order_id not in self.user_session.orders:
                        await self.reconcile_order(order_id)
            except ArbError as exc:
                self.diagnostics.loop_errors.append(exc)
                if attempt < self.config.read_retries:
                    await self._sleep(backoff.next_delay_s())
            else:
                return
        self._user_gap_ms = gap_ms if self._user_gap_ms is None else min(gap_ms, self._user_gap_ms)

    async def _ticker(
        self, stream: str, ws: ClientConnection, session: PolymarketMarketSession | PolymarketUserSession
    ) -> None:
        try:
            while True:
                await asyncio.sleep(self.config.check_interval_s)
                now = self._clock()
                ping = session.due_ping(now)
                if ping is not None:
                    await ws.send(ping)
                commands = session.check(now)
                if commands:
                    await self._perform(stream, ws, commands)
        except asyncio.CancelledError:
            raise
        except websockets.exceptions.ConnectionClosed:
            return
        except Exception as exc:  # noqa: BLE001 - keep the socket; record the bug
            self.diagnostics.loop_errors.append(exc)

    async def _perform(self, stream: str, ws: ClientConnection, commands: Sequence[Command]) -> None:
        for command in commands:
            if type(command) is SendText:
                await ws.send(command.text)
            elif type(command) is FetchBook:
                self._spawn(self._resync(command))
            elif type(command) is Reconnect:
                self.diagnostics.disconnect_reasons.append((stream, command.reason))
                await ws.close(1000, command.reason[:100])

    async def _resync(self, request: FetchBook) -> None:
        """Fetch `/book` for one resync; the session matches the answer to its request (an answer
        to a request it no longer waits for, or an unusable one, is its to judge)."""
        try:
            body = await self.fetch_book(request.asset_id)
        except (VenueError, WireError) as exc:
            commands: Sequence[Command] = self.market_session.resync_failed(
                request.asset_id, type(exc).__name__, request
            )
        else:
            commands = self.market_session.apply_rest_book(body, self._clock(), request)
        ws = self._sockets["market"]
        if commands and ws is not None:
            with contextlib.suppress(websockets.exceptions.ConnectionClosed):
                await self._perform("market", ws, commands)
