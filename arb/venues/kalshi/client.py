"""Thin asyncio client for Kalshi: one multiplexed WebSocket (books, fills, orders) plus REST.

It only moves bytes: frames go to `KalshiSession.receive`, the commands the session queues go out,
the events it returns go to the `sink`. Everything that takes time goes through injected pieces:
`clock` (monotonic ns: rate budget, staleness), `sleep` (backoff and rate waits: tests record the
delays instead of waiting), `rng` (backoff jitter) and `wall_clock_ms` (signature timestamps).

Behaviour relied on by the engine:
- Reconnects forever with jittered exponential backoff (`Backoff`); the backoff resets only after a
  connection stayed up `backoff_reset_s`, so a socket that keeps dropping backs off further.
- REST reads are retried on 429 (honouring Retry-After), 5xx and transport errors. Order POSTs are
  never retried blindly: a timeout or 5xx returns OrderStatus.UNKNOWN; `get_order(client_order_id=)`
  settles it later (a 409 "already exists" is settled the same way). A 429 means Kalshi did not take
  the order, so it is retried after the wait.
- Venue refusals of an order (4xx) come back as an OrderUpdate with status REJECTED and the
  venue's reason; auth failures raise AuthError.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, fields
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import Frame, Opcode

from arb.book import OrderBook
from arb.domain import (
    Balance,
    BookSnapshot,
    EventInfo,
    Fill,
    MarketInfo,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    SeriesInfo,
    TimeInForce,
    Venue,
)
from arb.errors import (
    ArbError,
    AuthError,
    ConfigError,
    OrderRejectedError,
    RateLimitedError,
    VenueError,
    VenueUnavailableError,
    WireError,
)
from arb.venues.base import Backoff, Capabilities, Clock, EventSink
from arb.venues.kalshi import wire
from arb.venues.kalshi.auth import ENV_KEY_ID, ENV_KEY_PATH, KalshiSigner, signing_path
from arb.venues.kalshi.session import KalshiSession

__all__ = ["CAPABILITIES", "KalshiClient", "KalshiConfig"]

DEFAULT_REST_URL = "https://api.elections.kalshi.com/trade-api/v2"
DEFAULT_WS_URL = "wss://api.elections.kalshi.com/trade-api/ws/v2"
PRIVATE_CHANNELS = ("fill", "user_orders")
_VENUE = "kalshi"

CAPABILITIES = Capabilities(
    order_types=frozenset({TimeInForce.FOK, TimeInForce.IOC, TimeInForce.GTC, TimeInForce.GTD}),
    batch_orders=True,
    max_batch_size=20,
    fill_stream=True,
    fills_can_fail=False,
    ack_may_precede_fill=False,
    post_only=True,
    amend=False,  # the venue has amend; this client does not expose it
    fractional_sizes=True,
    book_sequence=True,
)


@dataclass(frozen=True, slots=True)
class KalshiConfig:
    """Kalshi connection settings (units in the names). Credentials: `api_key_id` and
    `private_key_path`, or the KALSHI_API_KEY_ID / KALSHI_PRIVATE_KEY_PATH environment via
    `from_env`; without them only unauthenticated REST market data works.

    rest_base_url, ws_url: point them at the simulator in tests.
    read_rate_per_s, write_rate_per_s: the account tier's budget (Basic: 20 and 10).
    backoff_base_s, backoff_cap_s: reconnect/retry backoff; backoff_reset_s: uptime that resets it.
    watchdog_silence_s: no data for this long marks books untrusted; watchdog_interval_s: how often
      the watchdog task checks (None: no task, call `check_staleness` yourself).
    snapshot_timeout_s: a requested snapshot not received by then is requested again.
    request_timeout_s: per REST request; read_retries: retries of reads (and idempotent writes).
    ws_open_timeout_s, ws_ping_interval_s: handshake timeout, client keep-alive pings (None: off).
    page_limit: page size for paginated listings; max_pages: a guard against endless cursors.
    trust_env: use proxies from the environment. subscribe_private: stream fills and order updates.
    """

    rest_base_url: str = DEFAULT_REST_URL
    ws_url: str = DEFAULT_WS_URL
    api_key_id: str | None = field(default=None, repr=False)
    private_key_path: str | None = field(default=None, repr=False)
    read_rate_per_s: float = 20.0
    write_rate_per_s: float = 10.0
    backoff_base_s: float = 0.25
    backoff_cap_s: float = 30.0
    backoff_reset_s: float = 30.0
    watchdog_silence_s: float = 30.0
    watchdog_interval_s: float | None = 1.0
    snapshot_timeout_s: float = 10.0
    request_timeout_s: float = 10.0
    read_retries: int = 4
    ws_open_timeout_s: float = 10.0
    ws_ping_interval_s: float | None = 20.0
    page_limit: int = 200
    max_pages: int = 1_000
    trust_env: bool = True
    subscribe_private: bool = True

    def __post_init__(self) -> None:
        for name in ("rest_base_url", "ws_url"):
            value = getattr(self, name)
            scheme = urlsplit(value).scheme if isinstance(value, str) else ""
            allowed = ("http", "https") if name == "rest_base_url" else ("ws", "wss")
            if scheme not in allowed:
                raise ConfigError(f"kalshi {name} must be an {'/'.join(allowed)} URL, was {value!r}")
        positive = (
            "read_rate_per_s",
            "write_rate_per_s",
            "backoff_base_s",
            "backoff_cap_s",
            "watchdog_silence_s",
            "snapshot_timeout_s",
            "request_timeout_s",
            "ws_open_timeout_s",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"kalshi {name} must be a positive number, was {value!r}")
        for name in ("watchdog_interval_s", "ws_ping_interval_s"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
                raise ConfigError(f"kalshi {name} must be positive or None, was {value!r}")
        if self.backoff_cap_s < self.backoff_base_s:
            raise ConfigError("kalshi backoff_cap_s must be at least backoff_base_s")
        for name in ("read_retries", "page_limit", "max_pages"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "read_retries" else 1):
                raise ConfigError(f"kalshi {name} must be a non-negative integer, was {value!r}")
        if (self.api_key_id is None) != (self.private_key_path is None):
            raise ConfigError(
                f"kalshi credentials need both api_key_id and private_key_path ({ENV_KEY_ID}, {ENV_KEY_PATH})"
            )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> KalshiConfig:
        env = os.environ if environ is None else environ
        key_id = env.get(ENV_KEY_ID) or None
        key_path = env.get(ENV_KEY_PATH) or None
        return cls(api_key_id=key_id, private_key_path=key_path, **overrides)

    @property
    def has_credentials(self) -> bool:
        return self.api_key_id is not None

    def __repr__(self) -> str:
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr]
        shown.append(f"credentials={'<set>' if self.has_credentials else '<none>'}")
        return f"KalshiConfig({', '.join(shown)})"


Sleep = Callable[[float], Awaitable[None]]


def _ping_aware_connection(on_ping: Callable[[], None]) -> type[ClientConnection]:
    """A ClientConnection that reports the server's keep-alive pings (websockets answers them)."""

    class PingAwareConnection(ClientConnection):
        def process_event(self, event: Any) -> None:
            if isinstance(event, Frame) and event.opcode is Opcode.PING:
                on_ping()
            super().process_event(event)

    return PingAwareConnection


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if seconds == seconds else None


def _text_of(value: Any) -> str:
    """A venue-supplied error detail as short text. Never str() a container: one nested ~1000
    deep overflows the stack."""
    if isinstance(value, str):
        return value[:200]
    try:
        return orjson.dumps(value).decode()[:200]
    except TypeError:  # orjson.JSONEncodeError: nested too deeply
        return f"<{type(value).__name__}>"


def _error_reason(response: httpx.Response) -> str:
    """Kalshi's ErrorResponse {code, message} (also nested under "error"), else the raw text."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:200]
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            parts = [_text_of(inner.get(k)) for k in ("code", "message", "details") if inner.get(k)]
            if parts:
                return ": ".join(parts)
        elif isinstance(inner, str):
            return inner
    return response.text[:200]


class KalshiClient:
    """Kalshi venue client (implements `arb.venues.base.VenueClient`)."""

    venue = Venue.KALSHI
    capabilities = CAPABILITIES

    def __init__(
        self,
        config: KalshiConfig,
        *,
        clock: Clock,
        sleep: Sleep,
        rng: random.Random,
        sink: EventSink | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        signer: KalshiSigner | None = None,
        wall_clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._sink = sink
        self._transport = transport
        if signer is None and config.has_credentials:
            signer = KalshiSigner.from_path(config.api_key_id, config.private_key_path)  # type: ignore[arg-type]
        self._signer = signer
        self._wall_ms = wall_clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.session = KalshiSession(
            silence_ns=int(config.watchdog_silence_s * 1e9),
            snapshot_timeout_ns=int(config.snapshot_timeout_s * 1e9),
            read_rate_per_s=config.read_rate_per_s,
            write_rate_per_s=config.write_rate_per_s,
        )
        self.books: dict[str, OrderBook] = self.session.books
        self._backoff = Backoff(config.backoff_base_s, config.backoff_cap_s, rng)
        self._rest_prefix = urlsplit(config.rest_base_url).path.rstrip("/")
        self._ws_path = signing_path(config.ws_url)
        self._http: httpx.AsyncClient | None = None
        self._ws: ClientConnection | None = None
        self._ws_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self._closing = False
        self._send_lock = asyncio.Lock()
        self._updated = asyncio.Event()
        self._connection_class = _ping_aware_connection(self._on_ping)
        self._series: dict[str, SeriesInfo | None] = {}
        self._event_series: dict[str, str] = {}
        self.connects = 0
        self.reconnect_delays_s: list[float] = []
        self.connect_errors: list[str] = []
        self.sink_errors: list[BaseException] = []

    def __repr__(self) -> str:
        return f"KalshiClient({self.config!r}, connected={self.connected})"

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ws is not None and self.session.connected

    async def start(self) -> None:
        """Open the REST client and the socket loop (it connects and reconnects in the background)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.config.rest_base_url,
                timeout=self.config.request_timeout_s,
                transport=self._transport,
                trust_env=self.config.trust_env,
            )
        if self.config.subscribe_private and self._signer is not None:
            self.session.subscribe_all(PRIVATE_CHANNELS, now_ns=self._clock())
        self._closing = False
        if self._ws_task is None:
            self._ws_task = asyncio.create_task(self._ws_loop(), name="kalshi-ws")
        if self._watchdog_task is None and self.config.watchdog_interval_s is not None:
            self._watchdog_task = asyncio.create_task(self._watchdog_loop(), name="kalshi-watchdog")

    async def close(self) -> None:
        self._closing = True
        ws = self._ws
        if ws is not None:
            await ws.close()
        for task in (self._ws_task, self._watchdog_task):
            if task is not None:
                task.cancel()
        for task in (self._ws_task, self._watchdog_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):  # shutting down: any end will do
                    await task
        self._ws_task = self._watchdog_task = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> KalshiClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Wait (without polling) until `predicate()` holds; it is re-checked after every frame,
        connect and disconnect. Raises TimeoutError after `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not predicate():
            self._updated.clear()
            if predicate():
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("condition not reached in time")
            try:
                await asyncio.wait_for(self._updated.wait(), remaining)
            except TimeoutError:
                if not predicate():
                    raise TimeoutError("condition not reached in time") from None

    # -- socket ----------------------------------------------------------------------------------

    def _on_ping(self) -> None:
        self.session.on_ping(self._clock())
        self._updated.set()

    def _emit(self, events: list[Any]) -> None:
        if self._sink is None:
            return
        for event in events:
            try:
                self._sink(event)
            except Exception as exc:  # noqa: BLE001 - a consumer bug must not kill the feed
                self.sink_errors.append(exc)

    async def _flush(self) -> None:
        """Send what the session queued (serialised: one writer at a time)."""
        async with self._send_lock:
            ws = self._ws
            commands = self.session.outgoing()
            if ws is None:
                return
            try:
                for command in commands:
                    await ws.send(wire.encode_command(command).decode())
            except ConnectionClosed:
                pass  # the socket loop notices, resets the session and resubscribes on reconnect

    async def _ws_loop(self) -> None:
        while not self._closing:
            headers = self._signer.headers("GET", self._ws_path, self._wall_ms()) if self._signer is not None else None
            try:
                ws = await connect(
                    self.config.ws_url,
                    additional_headers=headers,
                    create_connection=self._connection_class,
                    proxy=True if self.config.trust_env else None,
                    open_timeout=self.config.ws_open_timeout_s,
                    ping_interval=self.config.ws_ping_interval_s,
                    max_size=2**24,
                    max_queue=None,
                )
            except InvalidStatus as exc:
                status = exc.response.status_code
                self.connect_errors.append(f"handshake refused: HTTP {status}")
                if status in (401, 403):
                    self.session.on_disconnect("authentication refused")
                await self._pause_before_reconnect()
                continue
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
                self.connect_errors.append(f"{type(exc).__name__}: {exc}")
                await self._pause_before_reconnect()
                continue
            connected_at = self._clock()
            self._ws = ws
            self.connects += 1
            self.session.on_connect(connected_at)
            self._updated.set()
            try:
                await self._flush()
                async for message in ws:
                    events = self.session.receive(message, self._clock())
                    if events:
                        self._emit(events)
                    await self._flush()
                    self._updated.set()
            except ConnectionClosed:
                pass
            except Exception as exc:  # noqa: BLE001 - the feed outlives a bug: drop the socket, reconnect
                self.connect_errors.append(f"socket loop error: {type(exc).__name__}: {exc}")
                await ws.close()
            finally:
                self._ws = None
                self.session.on_disconnect("socket closed")
                self._updated.set()
            if self._closing:
                break
            if self._clock() - connected_at >= self.config.backoff_reset_s * 1e9:
                self._backoff.reset()
            await self._pause_before_reconnect()

    async def _pause_before_reconnect(self) -> None:
        if self._closing:
            return
        delay = self._backoff.next_delay_s()
        self.reconnect_delays_s.append(delay)
        await self._sleep(delay)

    async def _watchdog_loop(self) -> None:
        interval_s = self.config.watchdog_interval_s
        if interval_s is None:
            return
        while not self._closing:
            await self._sleep(interval_s)
            await self.check_staleness()

    async def check_staleness(self, now_ns: int | None = None) -> str | None:
        """Run the session's staleness check and act on it: send the renewed subscriptions, or drop
        the socket so the loop reconnects. Returns the session's verdict."""
        verdict = self.session.check(self._clock() if now_ns is None else now_ns)
        if verdict == "reconnect":
            ws = self._ws
            if ws is not None:
                await ws.close(code=1011, reason="feed silent")
        else:
            await self._flush()
        self._updated.set()
        return verdict

    async def subscribe(
        self, markets: Sequence[MarketInfo | str], channels: Sequence[str] = (wire.ORDERBOOK_CHANNEL,)
    ) -> None:
        """Stream these markets' books (MarketInfo or tickers); untrusted until their snapshots."""
        tickers = [m.market_id if isinstance(m, MarketInfo) else m for m in markets]
        self.session.subscribe(tickers, channels, now_ns=self._clock())
        await self._flush()

    # -- REST core -------------------------------------------------------------------------------

    def _require_http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise VenueUnavailableError("client not started", venue=_VENUE)
        return self._http

    async def _rate_wait(self, write: bool, cost: float = 1.0) -> None:
        delay_ns = self.session.request_delay_ns(self._clock(), write=write, cost=cost)
        if delay_ns > 0:
            await self._sleep(delay_ns / 1e9)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        body: Any = None,
        write: bool = False,
        retry_unavailable: bool = True,
        cost: float = 1.0,
    ) -> Any:
        """One signed REST call with rate budget and retries; returns the decoded JSON body."""
        http = self._require_http()
        full_path = self._rest_prefix + path
        content = orjson.dumps(body) if body is not None else None
        backoff = Backoff(self.config.backoff_base_s, self.config.backoff_cap_s, self._rng)
        attempt = 0
        while True:
            await self._rate_wait(write, cost)
            headers = {"content-type": "application/json"} if content is not None else {}
            if self._signer is not None:
                headers.update(self._signer.headers(method, full_path, self._wall_ms()))
            error: VenueError
            retry_after: float | None = None
            try:
                response = await http.request(
                    method,
                    self.config.rest_base_url.rstrip("/") + path,
                    params=params,
                    content=content,
                    headers=headers,
                )
            except httpx.TimeoutException as exc:
                error = VenueUnavailableError(f"{method} {path} timed out ({type(exc).__name__})", venue=_VENUE)
            except httpx.RequestError as exc:  # transport, undecodable content, redirect loops
                error = VenueUnavailableError(f"{method} {path} failed: {type(exc).__name__}: {exc}", venue=_VENUE)
            else:
                status = response.status_code
                if status < 300:
                    if not response.content:
                        return {}
                    try:
                        return orjson.loads(response.content)
                    except orjson.JSONDecodeError as exc:
                        raise WireError(f"{method} {path}: response is not JSON", venue=_VENUE) from exc
                reason = _error_reason(response)
                if status == 429:
                    retry_after = _retry_after_s(response)
                    self.session.rate_limited(
                        self._clock(),
                        retry_after if retry_after is not None else self.config.backoff_base_s,
                        write=write,
                    )
                    error = RateLimitedError(
                        f"{method} {path} rate limited", venue=_VENUE, retry_after_s=retry_after, body=reason
                    )
                elif status >= 500:
                    error = VenueUnavailableError(
                        f"{method} {path} answered {status}", venue=_VENUE, status=status, body=reason
                    )
                elif status in (401, 403):
                    raise AuthError(f"{method} {path} refused: {reason}", venue=_VENUE, status=status, body=reason)
                elif write:
                    raise OrderRejectedError(
                        f"{method} {path} refused ({status}): {reason}",
                        venue=_VENUE,
                        status=status,
                        reason=reason,
                        body=reason,
                    )
                else:
                    raise VenueError(
                        f"{method} {path} answered {status}: {reason}", venue=_VENUE, status=status, body=reason
                    )
            retryable = isinstance(error, RateLimitedError) or retry_unavailable
            if not retryable or attempt >= self.config.read_retries:
                raise error
            attempt += 1
            await self._sleep(backoff.next_delay_s(at_least_s=retry_after or 0.0))

    async def _paged(
        self, path: str, key_decoder: Callable[[Any], tuple[list[Any], str]], params: dict[str, Any]
    ) -> list[Any]:
        out: list[Any] = []
        cursor = ""
        seen: set[str] = set()
        for _ in range(self.config.max_pages):
            query = {**params, "limit": self.config.page_limit}
            if cursor:
                query["cursor"] = cursor
            items, cursor = key_decoder(await self._request("GET", path, params=query))
            out.extend(items)
            if not cursor or cursor in seen:
                return out
            seen.add(cursor)
        raise VenueError(f"GET {path}: more than {self.config.max_pages} pages", venue=_VENUE)

    # -- market data -----------------------------------------------------------------------------

    async def markets(self, *, with_series_fees: bool = True, **filters: Any) -> list[MarketInfo]:
        """GET /markets (all pages). Filters: status, event_ticker, series_ticker, tickers (list),
        mve_filter, ... With `with_series_fees` each market gets its series' fee rules."""
        params = {k: (",".join(v) if isinstance(v, (list, tuple)) else v) for k, v in filters.items() if v is not None}
        markets = await self._paged("/markets", wire.decode_markets_page, params)
        if not with_series_fees:
            return markets
        out = []
        for market in markets:
            series_id = filters.get("series_ticker") or market.series_id or await self._series_of_event(market.event_id)
            series = await self._series_info(series_id) if series_id else None
            out.append(wire.apply_series(market, series) if series is not None else market)
        return out

    async def _series_of_event(self, event_ticker: str) -> str:
        if not event_ticker:
            return ""
        if event_ticker not in self._event_series:
            try:
                body = await self._request("GET", f"/events/{event_ticker}")
                [event], _ = wire.decode_events_page(body)
                self._event_series[event_ticker] = event.series_id
            except (VenueError, WireError, ValueError):
                self._event_series[event_ticker] = ""  # unknown: default fees stay
        return self._event_series[event_ticker]

    async def _series_info(self, series_ticker: str) -> SeriesInfo | None:
        if series_ticker not in self._series:
            try:
                found = await self.series(series_ticker)
                self._series[series_ticker] = found[0] if found else None
            except (VenueError, WireError):
                self._series[series_ticker] = None
        return self._series[series_ticker]

    async def series(self, series_ticker: str | None = None) -> list[SeriesInfo]:
        path = f"/series/{series_ticker}" if series_ticker else "/series"
        found = wire.decode_series(await self._request("GET", path))
        for s in found:
            self._series[s.series_id] = s
        return found

    async def events(self, **filters: Any) -> list[EventInfo]:
        """GET /events with nested markets (all pages); markets carry their series' fees."""
        params = {"with_nested_markets": "true", **{k: v for k, v in filters.items() if v is not None}}
        events = await self._paged("/events", wire.decode_events_page, params)
        out = []
        for event in events:
            series = await self._series_info(event.series_id) if event.series_id else None
            if series is not None:
                markets = tuple(wire.apply_series(m, series) for m in event.markets)
                event = EventInfo(
                    event.venue, event.event_id, event.title, event.series_id, event.group, event.market_ids, markets
                )
            out.append(event)
        return out

    async def orderbook(self, ticker: str, depth: int | None = None) -> BookSnapshot:
        params = {"depth": depth} if depth else None
        return wire.decode_orderbook(await self._request("GET", f"/markets/{ticker}/orderbook", params=params), ticker)

    # -- orders ----------------------------------------------------------------------------------

    def _unknown(self, request: OrderRequest, reason: str) -> OrderUpdate:
        """Sent but the outcome is not known: fills are not claimed either way (reconcile first)."""
        return _local_update(request, OrderStatus.UNKNOWN, None, reason)

    def _rejected(self, request: OrderRequest, reason: str) -> OrderUpdate:
        """Refused (or never sent): nothing rests and nothing filled."""
        return _local_update(request, OrderStatus.REJECTED, 0, reason)

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        """POST /portfolio/orders. UNKNOWN on timeout/5xx (never retried), REJECTED on a refusal."""
        try:
            body = wire.create_order_body(request)
        except OrderRejectedError as exc:
            return self._rejected(request, exc.reason)
        try:
            answer = await self._request("POST", "/portfolio/orders", body=body, write=True, retry_unavailable=False)
        except (VenueUnavailableError, WireError) as exc:  # WireError: a 2xx that is not JSON (taken?)
            return self._unknown(request, str(exc))
        except RateLimitedError as exc:
            return self._rejected(request, f"rate limited: {exc}")  # retries exhausted; not placed
        except OrderRejectedError as exc:
            if exc.status == 409:  # the client_order_id exists: an earlier send did arrive
                found = await self._find_order_quietly(request)
                if found is not None:
                    return found
                return self._unknown(request, f"venue reports a duplicate client_order_id: {exc.reason}")
            return self._rejected(request, exc.reason)
        try:
            return wire.decode_order_response(answer)
        except (WireError, RecursionError) as exc:
            return self._unknown(request, f"order accepted but the answer did not decode: {exc}")

    async def _find_order_quietly(self, request: OrderRequest) -> OrderUpdate | None:
        try:
            return await self.get_order(client_order_id=request.client_order_id, market_id=request.market_id)
        except ArbError:
            return None

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[OrderUpdate]:
        """POST /portfolio/orders/batched (at most 20 per call; each item costs one write token).
        Answers in request order; the whole batch is UNKNOWN on timeout/5xx."""
        if len(requests) > CAPABILITIES.max_batch_size:
            raise ValueError(f"at most {CAPABILITIES.max_batch_size} orders per batch, was {len(requests)}")
        bodies: list[dict[str, Any]] = []
        results: dict[str, OrderUpdate] = {}
        for request in requests:
            try:
                bodies.append(wire.create_order_body(request))
            except OrderRejectedError as exc:
                results[request.client_order_id] = self._rejected(request, exc.reason)
        if bodies:
            try:
                answer = await self._request(
                    "POST",
                    "/portfolio/orders/batched",
                    body={"orders": bodies},
                    write=True,
                    retry_unavailable=False,
                    cost=len(bodies),
                )
            except (VenueUnavailableError, WireError) as exc:
                return [results.get(r.client_order_id) or self._unknown(r, str(exc)) for r in requests]
            except (OrderRejectedError, RateLimitedError) as exc:
                return [results.get(r.client_order_id) or self._rejected(r, str(exc)) for r in requests]
            by_client = {r.client_order_id: r for r in requests}
            for item in (answer.get("orders") or []) if isinstance(answer, dict) else []:
                if not isinstance(item, dict):
                    continue
                cid = item.get("client_order_id")
                request = by_client.get(cid) if isinstance(cid, str) else None
                if item.get("order"):
                    try:
                        update = wire.decode_order(item["order"], "order")
                    except (WireError, RecursionError) as exc:
                        if request is not None:
                            results[request.client_order_id] = self._unknown(request, str(exc))
                        continue
                    results[update.client_order_id or cid or ""] = update
                elif request is not None:
                    results[request.client_order_id] = self._rejected(request, _text_of(item.get("error") or "refused"))
        return [
            results.get(r.client_order_id) or self._unknown(r, "no answer for this order in the batch")
            for r in requests
        ]

    async def cancel_order(self, order_id: str, market_id: str = "") -> OrderUpdate:
        """DELETE /portfolio/orders/{id}: zeroes the remaining size (idempotent, so retried)."""
        answer = await self._request("DELETE", f"/portfolio/orders/{order_id}", write=True, retry_unavailable=True)
        return wire.decode_order_response(answer)

    async def get_order(
        self, order_id: str | None = None, *, client_order_id: str | None = None, market_id: str | None = None
    ) -> OrderUpdate | None:
        """One order by venue id, or by our client_order_id (searched in the market's orders).
        None when no order with that client_order_id exists."""
        if order_id:
            return wire.decode_order_response(await self._request("GET", f"/portfolio/orders/{order_id}"))
        if not client_order_id:
            raise ValueError("get_order needs order_id or client_order_id")
        params = {"ticker": market_id} if market_id else {}
        for order in await self._paged("/portfolio/orders", wire.decode_orders_page, params):
            if order.client_order_id == client_order_id:
                return order
        return None

    async def open_orders(self, market_id: str | None = None) -> list[OrderUpdate]:
        params: dict[str, Any] = {"status": "resting"}
        if market_id:
            params["ticker"] = market_id
        return await self._paged("/portfolio/orders", wire.decode_orders_page, params)

    async def fills(self, market_id: str | None = None, order_id: str | None = None) -> list[Fill]:
        params = {k: v for k, v in (("ticker", market_id), ("order_id", order_id)) if v}
        return await self._paged("/portfolio/fills", wire.decode_fills_page, params)

    async def positions(self) -> list[Position]:
        return await self._paged("/portfolio/positions", wire.decode_positions_page, {})

    async def balance(self) -> Balance:
        return wire.decode_balance(await self._request("GET", "/portfolio/balance"))


def _local_update(request: OrderRequest, status: OrderStatus, filled_micro: int | None, reason: str) -> OrderUpdate:
    """An order update the client states itself, when the venue gave no order to decode."""
    return OrderUpdate(
        venue=Venue.KALSHI,
        order_id="",
        client_order_id=request.client_order_id,
        market_id=request.market_id,
        book_id=request.market_id,
        outcome=request.outcome,
        action=request.action,
        status=status,
        price_micro_usd=request.price_micro_usd,
        initial_size_micro=request.size_micro,
        filled_size_micro=filled_micro,
        remaining_size_micro=filled_micro,
        reason=reason,
    )
