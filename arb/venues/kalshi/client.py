"""Thin asyncio client for Kalshi: one multiplexed WebSocket (books, fills, orders) plus REST.

It only moves bytes: frames go to `KalshiSession.receive`, the commands the session returns go out,
the events it returns go to the `sink`. Everything that takes time goes through injected pieces:
`clock` (monotonic ns: rate budget, staleness, order settling), `sleep` (backoff and rate waits:
tests record the delays instead of waiting), `deadline` (request timeouts: `asyncio.timeout`
live, a fake-clock one in tests), `rng` (backoff jitter) and `wall_clock_ms` (signature
timestamps, venue time filters).

Behaviour relied on by the engine:
- Reconnects forever with jittered exponential backoff (`Backoff`); the backoff resets only after a
  connection stayed up `reconnect_reset_s`, so a socket that keeps dropping backs off further.
- REST goes through `arb.venues.rest.RestCaller` (the same path as Polymarket's): reads and cancels
  are retried on 429 (honouring Retry-After), 5xx and transport errors. Order POSTs are never
  retried blindly: a timeout, a 5xx or a cancelled send returns (or, when cancelled, records)
  OrderStatus.UNKNOWN, and `reconcile_order` settles it later; a 409 "already exists" is settled
  by a lookup, in a batch as for a single order. A 429 means Kalshi did not take the order, so it
  is retried after the wait.
- Lookups by client order id never page through history: the client remembers what it sent (market,
  send time, venue id) and asks for that market's orders since then (`min_ts`).
- Orders go out on the V2 event-order routes (docs/venues.md#kalshi-v2-orders):
  `POST /portfolio/events/orders` (and `/batched`), `DELETE /portfolio/events/orders/{id}` (and
  `/batched`), `POST .../{id}/amend` and `.../{id}/decrease`. Every order names
  `self_trade_prevention_type` (`KalshiConfig.self_trade_prevention_type`, default the venue's own
  `taker_at_cross`: our incoming order stops where it would trade with our own resting one, and our
  resting quotes are never cancelled by it). Reads keep the `/portfolio/orders` paths.
- The immediate `fill_count` of an order answer is a hint (`OrderUpdate.fill_hint_micro`), never
  a fill: fills are counted only from fill events and fill queries. When the answer says something
  filled while the private stream cannot deliver it (not streaming, not connected, or a gap pending)
  a fill query for that order is sent at once.
- Fills are counted once by id, whichever path brings them (socket, `fills()`, the catch-up after a
  private-stream gap): each reaches the sink once. After ANY gap in the private stream (disconnect,
  silence caught by the watchdog, a sequence gap on a private sid, a resubscribe of the fill
  channel) the fills since the newest one seen before the gap are fetched as soon as the stream
  delivers again; a failed catch-up is retried from the same start.
- Sizes: a fractional count on a market known (from `markets()`/`events()`/`remember_markets`) not
  to allow fractional trading is refused locally (REJECTED, nothing sent); elsewhere the 0.01 grid.
- Cancelling returns the order's final state as the venue records it (looked up after the cancel);
  an order that already filled or was cancelled answers 404 and is looked up the same way.
- Venue refusals of an order (4xx with Kalshi's ErrorResponse `{code, message, details}`) come back
  as an OrderUpdate with status REJECTED, `error_code` = the venue's code and `reason` its text (a
  refused batch item the same way); refused amends, decreases and cancels raise
  `OrderRejectedError` with `.code` and `.reason`. Auth failures raise AuthError.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect, unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import Frame, Opcode

from arb.book import OrderBook
from arb.domain import (
    Action,
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
    Side,
    TimeInForce,
    Venue,
)
from arb.errors import (
    ArbError,
    ConfigError,
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
    Reconnect,
    SendText,
    Sleep,
    check_numbers,
)
from arb.venues.kalshi import wire
from arb.venues.kalshi.auth import ENV_KEY_ID, ENV_KEY_PATH, KalshiSigner, signing_path
from arb.venues.kalshi.session import Command, KalshiSession, PrivateGap
from arb.venues.rest import RestCaller

__all__ = ["CAPABILITIES", "KalshiClient", "KalshiConfig"]

DEFAULT_REST_URL = "https://api.elections.kalshi.com/trade-api/v2"
DEFAULT_WS_URL = "wss://api.elections.kalshi.com/trade-api/ws/v2"
PRIVATE_CHANNELS = ("fill", "user_orders")
_VENUE = "kalshi"
_STREAM = "ws"  # the one socket's name in diagnostics
_CLOCK_SKEW_S = 60  # venue time filters start this much earlier than our own clock says

CAPABILITIES = Capabilities(
    order_types=frozenset({TimeInForce.FOK, TimeInForce.IOC, TimeInForce.GTC, TimeInForce.GTD}),
    batch_orders=True,
    max_batch_size=20,
    fill_stream=True,
    fills_can_fail=False,
    ack_may_precede_fill=False,
    post_only=True,
    amend=True,  # amend_order / decrease_order (Kalshi-only methods)
    fractional_sizes=True,
    book_sequence=True,
)


@dataclass(frozen=True, slots=True)
class KalshiConfig:
    """Kalshi connection settings (units in the names; the names shared with `PolymarketConfig`
    mean the same there). Credentials: `api_key_id` and `private_key_path`, or the
    KALSHI_API_KEY_ID / KALSHI_PRIVATE_KEY_PATH environment via `from_env`; without them only
    unauthenticated REST market data works.

    rest_base_url, ws_url: point them at the simulator in tests.
    rest_uds_path, ws_uds_path: connect REST / the socket over this Unix-domain socket instead of
      TCP (the URL then only names the server); replays use them. None: TCP.
    read_rate_per_s, write_rate_per_s: the account tier's budget (Basic: 20 and 10).
    reconnect_base_s, reconnect_cap_s: socket reconnect backoff; reconnect_reset_s: uptime that resets it.
    retry_base_s, retry_cap_s: REST retry backoff.
    feed_silence_s: no data for this long marks books untrusted; check_interval_s: how often the
      health check runs (None: no task, call `check_staleness` yourself).
    snapshot_timeout_s: a requested snapshot not received by then is requested again.
    request_timeout_s: per REST request; order_timeout_s: per order POST.
    read_retries: retries of reads and cancels; order_429_retries: of an order POST answered 429.
    order_settle_s: how long after an unanswered order send (timeout, 5xx, cancelled) a lookup that
      does not find the order still says UNKNOWN (the request may be queued at the venue).
    lookup_window_s: how far back a lookup by client order id searches for an order this client
      did not send itself.
    ws_open_timeout_s, ping_interval_s: handshake timeout, client keep-alive pings (None: off).
    page_size: page size for paginated listings; max_pages: a guard against endless cursors.
    trust_env: use proxies from the environment. private_stream: stream fills and order updates.
    self_trade_prevention_type: sent with every order; `taker_at_cross` (the venue's default: our
      incoming order is cancelled where it would trade with our own resting order) or `maker` (our
      resting order is cancelled instead).
    """

    rest_base_url: str = DEFAULT_REST_URL
    ws_url: str = DEFAULT_WS_URL
    rest_uds_path: str | None = None
    ws_uds_path: str | None = None
    api_key_id: str | None = field(default=None, repr=False)
    private_key_path: str | None = field(default=None, repr=False)
    read_rate_per_s: float = 20.0
    write_rate_per_s: float = 10.0
    reconnect_base_s: float = 0.25
    reconnect_cap_s: float = 30.0
    reconnect_reset_s: float = 30.0
    retry_base_s: float = 0.25
    retry_cap_s: float = 5.0
    feed_silence_s: float = 30.0
    check_interval_s: float | None = 1.0
    snapshot_timeout_s: float = 10.0
    request_timeout_s: float = 10.0
    order_timeout_s: float = 10.0
    read_retries: int = 4
    order_429_retries: int = 2
    order_settle_s: float = 30.0
    lookup_window_s: float = 86_400.0
    ws_open_timeout_s: float = 10.0
    ping_interval_s: float | None = 20.0
    page_size: int = 200
    max_pages: int = 1_000
    trust_env: bool = True
    private_stream: bool = True
    self_trade_prevention_type: str = wire.DEFAULT_SELF_TRADE_PREVENTION

    def __post_init__(self) -> None:
        for name in ("rest_base_url", "ws_url"):
            value = getattr(self, name)
            scheme = urlsplit(value).scheme if isinstance(value, str) else ""
            allowed = ("http", "https") if name == "rest_base_url" else ("ws", "wss")
            if scheme not in allowed:
                raise ConfigError(f"kalshi {name} must be an {'/'.join(allowed)} URL, was {value!r}")
        for name in ("rest_uds_path", "ws_uds_path"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"kalshi {name} must be a Unix socket path or None, was {value!r}")
        check_numbers(
            "kalshi",
            self,
            positive=(
                "read_rate_per_s",
                "write_rate_per_s",
                "reconnect_base_s",
                "reconnect_cap_s",
                "retry_base_s",
                "retry_cap_s",
                "feed_silence_s",
                "snapshot_timeout_s",
                "request_timeout_s",
                "order_timeout_s",
                "lookup_window_s",
                "ws_open_timeout_s",
            ),
            non_negative=("reconnect_reset_s", "order_settle_s"),
        )
        for name in ("check_interval_s", "ping_interval_s"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
                raise ConfigError(f"kalshi {name} must be positive or None, was {value!r}")
        if self.reconnect_cap_s < self.reconnect_base_s or self.retry_cap_s < self.retry_base_s:
            raise ConfigError("kalshi backoff caps must be at least their bases")
        for name in ("read_retries", "order_429_retries", "page_size", "max_pages"):
            value = getattr(self, name)
            least = 0 if "retries" in name else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"kalshi {name} must be an integer of at least {least}, was {value!r}")
        if self.self_trade_prevention_type not in wire.SELF_TRADE_PREVENTION_TYPES:
            raise ConfigError(
                f"kalshi self_trade_prevention_type must be one of {wire.SELF_TRADE_PREVENTION_TYPES}, "
                f"was {self.self_trade_prevention_type!r}"
            )
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


def _ping_aware_connection(on_ping: Callable[[], None]) -> type[ClientConnection]:
    """A ClientConnection that reports the server's keep-alive pings (websockets answers them)."""

    class PingAwareConnection(ClientConnection):
        def process_event(self, event: Any) -> None:
            if isinstance(event, Frame) and event.opcode is Opcode.PING:
                on_ping()
            super().process_event(event)

    return PingAwareConnection


def _refusal_of(response: httpx.Response) -> wire.VenueRefusal | None:
    """Kalshi's ErrorResponse {code, message, details} (also nested under "error"), if the answer
    holds one."""
    try:
        return wire.decode_error(orjson.loads(response.content))
    except orjson.JSONDecodeError:
        return None


def _error_reason(response: httpx.Response) -> str:
    """The ErrorResponse as one line, else the raw text."""
    refusal = _refusal_of(response)
    return refusal.text if refusal is not None else response.text[:200]


def _error_code(response: httpx.Response) -> str:
    """The ErrorResponse `code` of a refusal ("" when the answer has none)."""
    refusal = _refusal_of(response)
    return refusal.code if refusal is not None else ""


def _is_duplicate(refusal: wire.VenueRefusal | None) -> bool:
    """A batch item refused because its client_order_id exists (the 409 of a single create)."""
    text = refusal.text.lower() if refusal is not None else ""
    return "already" in text or "duplicate" in text or "exist" in text


def _names_duplicate(refused: OrderRejectedError) -> bool:
    """A 409 that says the client_order_id exists (`order_already_exists`). A 409 with another
    code is a refusal of its own (a killed FOK answers 409 `fill_or_kill_insufficient_resting_volume`);
    a bare 409 is taken as a duplicate and settled by a lookup, which never guesses."""
    if refused.status != 409:
        return False
    return not refused.code or _is_duplicate(wire.VenueRefusal(refused.code, refused.reason))


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
        deadline: Deadline = asyncio.timeout,
    ) -> None:
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._transport = transport
        if signer is None and config.api_key_id is not None and config.private_key_path is not None:
            signer = KalshiSigner.from_path(config.api_key_id, config.private_key_path)
        self._signer = signer
        self._wall_ms = wall_clock_ms or (lambda: time.time_ns() // 1_000_000)
        self.diagnostics = ClientDiagnostics()
        self._sink = GuardedSink(sink, self.diagnostics)
        self.session = KalshiSession(
            silence_ns=int(config.feed_silence_s * 1e9),
            snapshot_timeout_ns=int(config.snapshot_timeout_s * 1e9),
            read_rate_per_s=config.read_rate_per_s,
            write_rate_per_s=config.write_rate_per_s,
        )
        self.sends = OrderSends(int(config.order_settle_s * 1e9))
        self.books: dict[str, OrderBook] = self.session.books
        self._backoff = Backoff(config.reconnect_base_s, config.reconnect_cap_s, rng)
        self._rest = RestCaller(
            _VENUE,
            clock=clock,
            sleep=sleep,
            rng=rng,
            deadline=deadline,
            wall_clock_ms=self._wall_ms,
            retry_base_s=config.retry_base_s,
            retry_cap_s=config.retry_cap_s,
            diagnostics=self.diagnostics,
            reason_of=_error_reason,
            code_of=_error_code,
        )
        self._rest_prefix = urlsplit(config.rest_base_url).path.rstrip("/")
        self._ws_path = signing_path(config.ws_url)
        self._http: httpx.AsyncClient | None = None
        self._ws: ClientConnection | None = None
        self._ws_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._send_lock = asyncio.Lock()
        self._updated = asyncio.Event()
        self._connection_class = _ping_aware_connection(self._on_ping)
        self._series: dict[str, SeriesInfo | None] = {}
        self._event_series: dict[str, str] = {}
        self._started_wall_ms: int | None = None
        self._catch_up_task: asyncio.Task[Any] | None = None
        self.fill_catch_ups = 0  # completed catch-up queries after private-stream gaps
        self._fractional: dict[str, bool] = {}  # ticker -> fractional trading allowed (markets seen)

    def __repr__(self) -> str:
        return f"KalshiClient({self.config!r}, connected={self.connected})"

    @property
    def sink(self) -> EventSink | None:
        return self._sink.sink

    @sink.setter
    def sink(self, sink: EventSink | None) -> None:
        self._sink.sink = sink

    @property
    def connects(self) -> int:
        return self.diagnostics.connects

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """A socket is open and subscribed, and the loop that serves it is alive (a loop ended by a
        bug leaves the last socket object behind, which is not a connection)."""
        task = self._ws_task
        return self._ws is not None and self.session.connected and task is not None and not task.done()

    async def start(self) -> None:
        """Open the REST client and the socket loop (it connects and reconnects in the background)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.config.rest_base_url,
                timeout=None,  # the injected deadline times requests (one clock)
                transport=self._transport
                if self._transport is not None or self.config.rest_uds_path is None
                else httpx.AsyncHTTPTransport(uds=self.config.rest_uds_path),
                trust_env=self.config.trust_env,
            )
        if self._started_wall_ms is None:
            self._started_wall_ms = self._wall_ms()
        if self.config.private_stream and self._signer is not None:
            self.session.subscribe_all(PRIVATE_CHANNELS, now_ns=self._clock())
        self._closing = False
        if self._ws_task is None:
            self._ws_task = asyncio.create_task(self._ws_loop(), name="kalshi-ws")
        if self._watchdog_task is None and self.config.check_interval_s is not None:
            self._watchdog_task = asyncio.create_task(self._watchdog_loop(), name="kalshi-watchdog")

    def _is_closing(self) -> bool:
        """The flag read through a call: `close()` sets it while a loop awaits, which narrowing
        `self._closing` across the loop's awaits would hide from the type checker."""
        return self._closing

    async def close(self) -> None:
        self._closing = True
        ws = self._ws
        if ws is not None:
            await ws.close()
        tasks = [t for t in (self._ws_task, self._watchdog_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
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

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- socket ----------------------------------------------------------------------------------

    def _on_ping(self) -> None:
        self.session.on_ping(self._clock())
        self._updated.set()

    def _emit(self, events: list[Any]) -> None:
        for event in events:
            self._sink(event)
        self._maybe_catch_up()

    def _maybe_catch_up(self) -> None:
        """Start a fill catch-up when the session hands out a private-stream gap (one at a time:
        a gap found meanwhile is taken after it)."""
        if self._catch_up_task is not None and not self._catch_up_task.done():
            return
        gap = self.session.take_private_gap()
        if gap is None:
            return
        self._catch_up_task = self._spawn(self._catch_up_fills(gap), "kalshi-fill-catch-up")

    async def _perform(self, commands: Sequence[Command]) -> None:
        """Send the session's frames (serialised: one writer at a time); act on a Reconnect."""
        async with self._send_lock:
            ws = self._ws
            if ws is None:
                return
            try:
                for command in commands:
                    if type(command) is SendText:
                        await ws.send(command.text)
                    elif type(command) is Reconnect:
                        self.diagnostics.disconnect_reasons.append((_STREAM, command.reason))
                        await ws.close(code=1011, reason=command.reason[:100])
                        return
            except ConnectionClosed:
                pass  # the socket loop notices, resets the session and resubscribes on reconnect

    async def _flush(self) -> None:
        await self._perform(self.session.outgoing())

    async def _ws_loop(self) -> None:
        while not self._is_closing():
            headers = self._signer.headers("GET", self._ws_path, self._wall_ms()) if self._signer is not None else None
            try:
                options: dict[str, Any] = {
                    "additional_headers": headers,
                    "create_connection": self._connection_class,
                    "open_timeout": self.config.ws_open_timeout_s,
                    "ping_interval": self.config.ping_interval_s,
                    "max_size": 2**24,
                    "max_queue": None,
                }
                if self.config.ws_uds_path is not None:
                    ws = await unix_connect(self.config.ws_uds_path, self.config.ws_url, **options)
                else:
                    ws = await connect(self.config.ws_url, proxy=True if self.config.trust_env else None, **options)
            except InvalidStatus as exc:
                status = exc.response.status_code
                self.diagnostics.disconnect_reasons.append((_STREAM, f"handshake refused: HTTP {status}"))
                if status in (401, 403):
                    self.session.on_disconnect("authentication refused")
                self._updated.set()
                await self._pause_before_reconnect()
                continue
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
                self.diagnostics.disconnect_reasons.append((_STREAM, f"connect failed: {type(exc).__name__}: {exc}"))
                self._updated.set()
                await self._pause_before_reconnect()
                continue
            connected_at = self._clock()
            self._ws = ws
            self.diagnostics.connects += 1
            self.session.on_connect(connected_at)
            self._updated.set()
            reason = "closed"
            try:
                await self._flush()
                async for message in ws:
                    self._emit(self.session.receive(message, self._clock()))
                    await self._flush()
                    self._updated.set()
                reason = f"closed ({ws.close_code})"
            except ConnectionClosed as exc:
                reason = f"closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
            except Exception as exc:  # noqa: BLE001 - the feed outlives a bug: drop the socket, reconnect
                self.diagnostics.loop_errors.append(exc)
                reason = f"socket loop error: {type(exc).__name__}"
                await ws.close()
            finally:
                self._ws = None
                self.session.on_disconnect("socket closed")
                self._updated.set()
            self.diagnostics.disconnect_reasons.append((_STREAM, reason))
            if self._is_closing():
                break
            if self._clock() - connected_at >= self.config.reconnect_reset_s * 1e9:
                self._backoff.reset()
            await self._pause_before_reconnect()

    async def _pause_before_reconnect(self) -> None:
        if self._is_closing():
            return
        delay = self._backoff.next_delay_s()
        self.diagnostics.reconnect_delays.append((_STREAM, delay))
        await self._sleep(delay)

    async def _watchdog_loop(self) -> None:
        interval_s = self.config.check_interval_s
        if interval_s is None:
            return
        while not self._is_closing():
            await self._sleep(interval_s)
            await self.check_staleness()

    async def check_staleness(self, now_ns: int | None = None) -> list[Command]:
        """Run the session's health check and perform what it returns (renewed subscriptions, or
        a `Reconnect` that drops the socket so the loop reconnects). Returns those commands."""
        commands = self.session.check(self._clock() if now_ns is None else now_ns)
        await self._perform(commands)
        self._maybe_catch_up()
        self._updated.set()
        return commands

    async def _catch_up_fills(self, gap: PrivateGap) -> None:
        """After a private-stream gap: the fills since the newest one seen before it (or since
        start), each emitted once through the session's dedupe (the socket may deliver some of them
        too). A failure puts the gap back, same start, for the next frame or health check."""
        since_ms = gap.since_ms if gap.since_ms is not None else (self._started_wall_ms or self._wall_ms())
        try:
            await self.fills(since_ms=since_ms)
        except ArbError as exc:
            self.diagnostics.loop_errors.append(exc)
            self.session.mark_private_gap("catch-up failed", live=True, since_ms=since_ms)
        else:
            self.fill_catch_ups += 1
        self._updated.set()

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
        order_post: bool = False,
    ) -> Any:
        """One signed REST call through the shared retry path; returns the decoded JSON body."""
        http = self._require_http()
        full_path = self._rest_prefix + path
        signer = self._signer
        headers = (lambda: signer.headers(method, full_path, self._wall_ms())) if signer is not None else None
        return await self._rest.request(
            http,
            method,
            self.config.rest_base_url.rstrip("/") + path,
            path=path,
            bucket=self.session.write_bucket if write else self.session.read_bucket,
            timeout_s=self.config.order_timeout_s if order_post else self.config.request_timeout_s,
            retries=self.config.order_429_retries if order_post else self.config.read_retries,
            retry_unavailable=retry_unavailable,
            params=params,
            content=orjson.dumps(body) if body is not None else None,
            headers=headers,
            cost=cost,
            order=write,
        )

    async def _paged(
        self, path: str, key_decoder: Callable[[Any], tuple[list[Any], str]], params: dict[str, Any]
    ) -> list[Any]:
        out: list[Any] = []
        cursor = ""
        seen: set[str] = set()
        for _ in range(self.config.max_pages):
            query = {**params, "limit": self.config.page_size}
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
        self.remember_markets(markets)
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
                # no series: the market keeps its unknown fee (taker_fee None), never a default,
                # so the graph gives it no listings
                self._event_series[event_ticker] = ""
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
        for event in events:
            self.remember_markets(event.markets)
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

    def remember_markets(self, markets: Sequence[MarketInfo]) -> None:
        """Note which markets allow fractional counts (`markets()` and `events()` call this; call
        it with markets read elsewhere). A fractional count on a market noted as whole-contract
        only is refused before sending."""
        for market in markets:
            self._fractional[market.market_id] = market.fractional

    async def orderbook(self, ticker: str, depth: int | None = None) -> BookSnapshot:
        params = {"depth": depth} if depth else None
        return wire.decode_orderbook(await self._request("GET", f"/markets/{ticker}/orderbook", params=params), ticker)

    # -- orders ----------------------------------------------------------------------------------

    def _unknown(self, request: OrderRequest, reason: str) -> OrderUpdate:
        """Sent but the outcome is not known: fills are not claimed either way (reconcile first).
        The send stays in flight for `order_settle_s`, so a lookup that misses it says UNKNOWN."""
        update = wire.sent_order_update(request, OrderStatus.UNKNOWN, reason=reason)
        self.sends.unanswered(request.client_order_id, self._clock(), update)
        return update

    def _rejected(self, request: OrderRequest, reason: str, code: str = "") -> OrderUpdate:
        """Refused (or never sent): nothing rests and nothing filled. `code` is the venue's."""
        self.sends.answered(request.client_order_id)
        update = wire.sent_order_update(request, OrderStatus.REJECTED, filled_micro=0, remaining_micro=0, reason=reason)
        return replace(update, error_code=code)

    def _accepted(self, update: OrderUpdate) -> OrderUpdate:
        if update.client_order_id:
            self.sends.answered(update.client_order_id, update.order_id)
        return update

    def _cancelled_send(self, requests: Sequence[OrderRequest]) -> None:
        """The caller's task was cancelled (a timeout around the call, the kill switch, shutdown)
        while the POST was out: the venue may have the orders. Record them UNKNOWN, tell the sink
        (the caller will never see a return value), and let the cancellation propagate."""
        for request in requests:
            self._sink(self._unknown(request, "send cancelled before the venue answered"))

    def _begin(self, requests: Sequence[OrderRequest]) -> None:
        now_ns, wall_ms = self._clock(), self._wall_ms()
        for request in requests:
            self.sends.begin(request.client_order_id, request.market_id, now_ns=now_ns, wall_ms=wall_ms)

    def _order_body(self, request: OrderRequest) -> dict[str, Any]:
        return wire.create_order_v2_body(
            request,
            self_trade_prevention_type=self.config.self_trade_prevention_type,
            fractional=self._fractional.get(request.market_id),
        )

    def _created(self, ack: wire.OrderAck, request: OrderRequest) -> OrderUpdate:
        """An order the venue took. Its `fill_count` stays a hint; when it says something filled
        and the private stream cannot deliver that fill now, the fill is asked for at once."""
        update = self._accepted(wire.order_from_ack(ack, request))
        self._after_fill_hint(ack, request.market_id)
        return update

    def _after_fill_hint(self, ack: wire.OrderAck, market_id: str) -> None:
        if (ack.fill_hint_micro or 0) > 0 and not self._streams_fills():
            self._spawn(self._prompt_fills(market_id, ack.order_id), "kalshi-prompt-fills")

    def _streams_fills(self) -> bool:
        """The private stream delivers fills now (subscribed, connected, no gap pending)."""
        return self.config.private_stream and self._ws is not None and self.session.streams_fills

    async def _prompt_fills(self, market_id: str, order_id: str) -> None:
        try:
            await self.fills(market_id or None, order_id)
        except ArbError as exc:  # a pending gap's catch-up, or the caller's own query, finds them
            self.diagnostics.loop_errors.append(exc)

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        """POST /portfolio/events/orders. UNKNOWN on timeout/5xx/unreadable answer (never retried),
        REJECTED on a refusal (the venue's `error_code` and text; also a local refusal, nothing
        sent), the existing order on a 409 (an earlier send arrived). The answer's `fill_count`
        is `fill_hint_micro`; `filled_size_micro` stays None (fills come as Fill events)."""
        try:
            body = self._order_body(request)
        except OrderRejectedError as exc:
            return self._rejected(request, exc.reason)
        self._begin([request])
        try:
            answer = await self._request(
                "POST", "/portfolio/events/orders", body=body, write=True, retry_unavailable=False, order_post=True
            )
        except asyncio.CancelledError:
            self._cancelled_send([request])
            raise
        except VenueUnavailableError as exc:
            return self._unknown(request, str(exc))
        except WireError as exc:  # a 2xx that is not JSON: taken, state unknown
            self.sends.answered(request.client_order_id)
            return self._unknown(request, f"order answer unreadable: {exc}")
        except RateLimitedError as exc:
            return self._rejected(request, f"rate limited: {exc}")  # retries exhausted; not placed
        except OrderRejectedError as exc:
            if _names_duplicate(exc):  # the client_order_id exists: an earlier send did arrive
                return await self._settle_duplicate(request, exc.reason)
            return self._rejected(request, exc.reason, exc.code)  # a killed FOK is a 409 too
        try:
            ack = wire.decode_order_ack(answer, "create")
        except (WireError, RecursionError) as exc:
            self.sends.answered(request.client_order_id)
            return self._unknown(request, f"order accepted but the answer did not decode: {exc}")
        return self._created(ack, request)

    async def _settle_duplicate(self, request: OrderRequest, reason: str) -> OrderUpdate:
        """The venue says this client_order_id exists: the order is whatever a lookup finds."""
        self.sends.answered(request.client_order_id)
        try:
            found = await self.get_order(client_order_id=request.client_order_id, market_id=request.market_id)
        except ArbError as exc:
            return self._unknown(request, f"duplicate client_order_id ({reason}); lookup failed: {exc}")
        if found is not None:
            return found
        return self._unknown(request, f"venue reports a duplicate client_order_id but no such order: {reason}")

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[OrderUpdate]:
        """POST /portfolio/events/orders/batched (at most 20 per call; each item costs one write
        token). Answers in request order; the whole batch is UNKNOWN on timeout/5xx; a refused
        item is REJECTED with the venue's code and text while the others stand; an item refused
        as a duplicate client_order_id (or a resend of an earlier send) is settled by a lookup."""
        if len(requests) > CAPABILITIES.max_batch_size:
            raise OrderRejectedError(
                f"at most {CAPABILITIES.max_batch_size} orders per batch, was {len(requests)}",
                venue=_VENUE,
                reason="batch too large",
            )
        bodies: list[dict[str, Any]] = []
        results: dict[str, OrderUpdate] = {}
        sent: list[OrderRequest] = []
        for request in requests:
            try:
                bodies.append(self._order_body(request))
                sent.append(request)
            except OrderRejectedError as exc:
                results[request.client_order_id] = self._rejected(request, exc.reason)
        resends = {r.client_order_id for r in sent if self.sends.get(r.client_order_id) is not None}
        if bodies:
            self._begin(sent)
            try:
                answer = await self._request(
                    "POST",
                    "/portfolio/events/orders/batched",
                    body={"orders": bodies},
                    write=True,
                    retry_unavailable=False,
                    cost=len(bodies),
                    order_post=True,
                )
            except asyncio.CancelledError:
                self._cancelled_send(sent)
                raise
            except (VenueUnavailableError, WireError) as exc:
                return [results.get(r.client_order_id) or self._unknown(r, str(exc)) for r in requests]
            except (OrderRejectedError, RateLimitedError) as exc:
                code = exc.code if isinstance(exc, OrderRejectedError) else ""
                return [results.get(r.client_order_id) or self._rejected(r, str(exc), code) for r in requests]
            duplicates = self._batch_answers(answer, sent, resends, results)
            for request, reason in duplicates:
                results[request.client_order_id] = await self._settle_duplicate(request, reason)
        return [
            results.get(r.client_order_id) or self._unknown(r, "no answer for this order in the batch")
            for r in requests
        ]

    def _batch_answers(
        self, answer: Any, sent: Sequence[OrderRequest], resends: set[str], results: dict[str, OrderUpdate]
    ) -> list[tuple[OrderRequest, str]]:
        """Fill `results` from a batched create answer, item by item (one bad item does not spoil
        the others); returns the items refused as duplicates, to be settled by lookups. Items are
        matched by their echoed client_order_id, else by position (the venue answers in order)."""
        items = answer.get("orders") if isinstance(answer, dict) else None
        by_client = {r.client_order_id: r for r in sent}
        duplicates: list[tuple[OrderRequest, str]] = []
        for index, item in enumerate(items if isinstance(items, list) else []):
            cid = item.get("client_order_id") if isinstance(item, dict) else None
            if isinstance(cid, str) and cid:
                asked = by_client.get(cid)
            else:
                asked = sent[index] if index < len(sent) else None
            if asked is None or asked.client_order_id in results:
                continue
            try:
                ack = wire.decode_order_ack(item, "create", f"orders[{index}]")
            except (WireError, RecursionError) as exc:
                self.sends.answered(asked.client_order_id)
                results[asked.client_order_id] = self._unknown(asked, f"batch answer item did not decode: {exc}")
                continue
            if ack.refusal is None:
                results[asked.client_order_id] = self._created(ack, asked)
            elif _is_duplicate(ack.refusal) or asked.client_order_id in resends:
                duplicates.append((asked, ack.refusal.text or "refused"))
            else:
                results[asked.client_order_id] = self._rejected(asked, ack.refusal.text or "refused", ack.refusal.code)
        return duplicates

    async def cancel_order(self, order_id: str, market_id: str = "") -> OrderUpdate:
        """DELETE /portfolio/events/orders/{id} (`market_ticker` routes it to the market's shard;
        idempotent, so retried), then the order's final state as the venue records it (a lookup:
        the cancel answer says only how much it took off, not how much filled before). An order
        that already filled or was cancelled cannot be cancelled (the venue answers 404): its final
        state, looked up, is the answer. An id the venue never had raises OrderRejectedError."""
        params = {"market_ticker": market_id} if market_id else None
        try:
            answer = await self._request(
                "DELETE", f"/portfolio/events/orders/{order_id}", params=params, write=True, retry_unavailable=True
            )
        except OrderRejectedError as refused:
            return await self._refused_cancel(order_id, refused)
        try:
            ack: wire.OrderAck | None = wire.decode_order_ack(answer, "cancel")
        except (WireError, RecursionError):
            ack = None  # the cancel was taken; the lookup says the rest
        return await self._state_after_cancel(order_id, market_id, ack)

    async def _refused_cancel(self, order_id: str, refused: OrderRejectedError) -> OrderUpdate:
        try:
            found = await self.get_order(order_id)
        except VenueError as exc:
            if exc.status == 404:
                raise OrderRejectedError(
                    f"cancel {order_id}: no such order",
                    venue=_VENUE,
                    status=404,
                    reason="unknown order",
                    code=refused.code,
                ) from refused
            raise
        if found is None or found.status is OrderStatus.OPEN:
            raise refused  # still resting and yet refused: the venue's reason stands
        return found

    async def _state_after_cancel(self, order_id: str, market_id: str, ack: wire.OrderAck | None) -> OrderUpdate:
        """The venue's record of a cancelled order; CANCELED with the fill unknown (None) when the
        lookup fails or still shows it resting (never a guess)."""
        try:
            found = await self.get_order(order_id)
        except ArbError as exc:
            why = f"lookup failed: {exc}"
        else:
            if found is not None and found.status is not OrderStatus.OPEN:
                return found
            why = "the venue's record still shows it resting"
        return OrderUpdate(
            venue=Venue.KALSHI,
            order_id=order_id,
            client_order_id=ack.client_order_id if ack is not None else None,
            market_id=market_id,
            book_id=market_id,
            outcome=None,
            action=None,
            status=OrderStatus.CANCELED,
            price_micro_usd=None,
            initial_size_micro=None,
            filled_size_micro=None,
            remaining_size_micro=0,
            exchange_ts_ms=ack.exchange_ts_ms if ack is not None else None,
            reason=f"canceled; fill not known yet ({why})",
        )

    async def cancel_orders(self, orders: Sequence[tuple[str, str]]) -> list[OrderUpdate]:
        """DELETE /portfolio/events/orders/batched for (order id, market ticker) pairs (each cancel
        costs 0.2 write tokens; idempotent, so retried). Returns each order's final state in the
        order asked, looked up as for `cancel_order`; an item the venue refused is looked up too
        (already over: that state), and one it does not know comes back REJECTED with the venue's
        code and text. Nothing raises for one item."""
        if not orders:
            return []
        if len(orders) > CAPABILITIES.max_batch_size:
            raise ConfigError(f"at most {CAPABILITIES.max_batch_size} cancels per batch, was {len(orders)}")
        answer = await self._request(
            "DELETE",
            "/portfolio/events/orders/batched",
            body=wire.batch_cancel_v2_body(orders),
            write=True,
            retry_unavailable=True,
            cost=0.2 * len(orders),
        )
        acks: dict[str, wire.OrderAck] = {}
        items = answer.get("orders") if isinstance(answer, dict) else None
        for index, item in enumerate(items if isinstance(items, list) else []):
            try:
                ack = wire.decode_order_ack(item, "cancel", f"orders[{index}]")
            except (WireError, RecursionError) as exc:
                self.diagnostics.loop_errors.append(exc)
                continue
            acks.setdefault(ack.order_id, ack)
        out = []
        for order_id, market_id in orders:
            found_ack = acks.get(order_id)
            if found_ack is None or found_ack.refusal is None:
                out.append(await self._state_after_cancel(order_id, market_id, found_ack))
                continue
            refusal = found_ack.refusal
            try:
                state = await self.get_order(order_id)
            except ArbError:
                state = None
            if state is not None and state.status is not OrderStatus.OPEN:
                out.append(state)
                continue
            out.append(
                OrderUpdate(
                    venue=Venue.KALSHI,
                    order_id=order_id,
                    client_order_id=found_ack.client_order_id,
                    market_id=market_id,
                    book_id=market_id,
                    outcome=None,
                    action=None,
                    status=state.status if state is not None else OrderStatus.REJECTED,
                    price_micro_usd=None,
                    initial_size_micro=None,
                    filled_size_micro=None,
                    remaining_size_micro=None,
                    reason=f"cancel refused: {refusal.text}",
                    error_code=refusal.code,
                )
            )
        return out

    async def amend_order(
        self,
        order_id: str,
        *,
        market_id: str,
        outcome: Side,
        action: Action,
        price_micro_usd: int,
        size_micro: int,
        client_order_id: str | None = None,
        updated_client_order_id: str | None = None,
        expiration_ms: int | None = None,
    ) -> wire.OrderAck:
        """POST /portfolio/events/orders/{id}/amend: a new price (of `outcome`, for the order's
        `outcome`/`action`) and/or size. `size_micro` is the new TOTAL the order may fill: what
        already filled plus the new resting rest (the venue's rule). Returns the venue's answer;
        its `fill_hint_micro` is a hint (an amend that crosses may fill; fills come as events).
        Raises OrderRejectedError (refused here or by the venue: `.code`, `.reason`),
        VenueUnavailableError (timeout/5xx, never retried: the amend's outcome is unknown, look
        the order up), RateLimitedError, AuthError."""
        body = wire.amend_order_v2_body(
            market_id=market_id,
            outcome=outcome,
            action=action,
            price_micro_usd=price_micro_usd,
            size_micro=size_micro,
            client_order_id=client_order_id,
            updated_client_order_id=updated_client_order_id,
            expiration_ms=expiration_ms,
            fractional=self._fractional.get(market_id),
        )
        answer = await self._request(
            "POST",
            f"/portfolio/events/orders/{order_id}/amend",
            body=body,
            write=True,
            retry_unavailable=False,
            order_post=True,
        )
        ack = wire.decode_order_ack(answer, "amend")
        self._after_fill_hint(ack, market_id)
        return ack

    async def decrease_order(
        self,
        order_id: str,
        *,
        market_id: str = "",
        reduce_by_micro: int | None = None,
        reduce_to_micro: int | None = None,
    ) -> wire.OrderAck:
        """POST /portfolio/events/orders/{id}/decrease by `reduce_by_micro` or to
        `reduce_to_micro` (exactly one; `market_id` routes it). Returns the venue's answer (the
        remaining count). A reduce-to is idempotent and retried on 5xx; a reduce-by is not
        (twice would take off twice). Raises as `amend_order`."""
        body = wire.decrease_order_v2_body(
            reduce_by_micro=reduce_by_micro,
            reduce_to_micro=reduce_to_micro,
            market_id=market_id,
            fractional=self._fractional.get(market_id) if market_id else None,
        )
        answer = await self._request(
            "POST",
            f"/portfolio/events/orders/{order_id}/decrease",
            body=body,
            write=True,
            retry_unavailable=reduce_to_micro is not None,
            order_post=True,
        )
        return wire.decode_order_ack(answer, "decrease")

    async def get_order(
        self,
        order_id: str | None = None,
        *,
        client_order_id: str | None = None,
        market_id: str | None = None,
        since_ms: int | None = None,
    ) -> OrderUpdate | None:
        """One order by venue id, or by our client_order_id. A client-id lookup never pages
        through history: it asks for the market's orders created since the send (remembered for
        orders this client sent; else `since_ms`, else the last `lookup_window_s`), or goes
        straight to the venue id once known. None when no order with that client_order_id exists."""
        if order_id:
            return wire.decode_order_response(await self._request("GET", f"/portfolio/orders/{order_id}"))
        if not client_order_id:
            raise ConfigError("get_order needs order_id or client_order_id")
        sent = self.sends.get(client_order_id)
        if sent is not None and sent.order_id:
            return await self.get_order(sent.order_id)
        ticker = market_id or (sent.market_id if sent is not None else "")
        if not ticker:
            raise ConfigError(f"get_order({client_order_id!r}) needs market_id: this client did not send it")
        if sent is not None:
            start_ms = sent.sent_wall_ms
        elif since_ms is not None:
            start_ms = since_ms
        else:
            start_ms = self._wall_ms() - int(self.config.lookup_window_s * 1000)
        params = {"ticker": ticker, "min_ts": max(0, start_ms // 1000 - _CLOCK_SKEW_S)}
        orders: list[OrderUpdate] = await self._paged("/portfolio/orders", wire.decode_orders_page, params)
        for order in orders:
            if order.client_order_id == client_order_id:
                self.sends.found(client_order_id, order.order_id)
                return order
        return None

    async def reconcile_order(self, client_order_id: str, market_id: str | None = None) -> OrderUpdate:
        """Settle an order whose send was UNKNOWN: the venue's state when it has the order;
        UNKNOWN while the send may still be in flight (not answered, or unanswered less than
        `order_settle_s` ago); REJECTED ("unknown to the venue") after that."""
        found = await self.get_order(client_order_id=client_order_id, market_id=market_id)
        if found is not None:
            return found
        sent = self.sends.get(client_order_id)
        market = market_id or (sent.market_id if sent is not None else "")
        template = OrderUpdate(
            Venue.KALSHI, "", client_order_id, market, market, None, None, OrderStatus.UNKNOWN, None, None, None, None
        )
        return self.sends.not_found(client_order_id, self._clock(), template)

    async def open_orders(self, market_id: str | None = None) -> list[OrderUpdate]:
        params: dict[str, Any] = {"status": "resting"}
        if market_id:
            params["ticker"] = market_id
        return await self._paged("/portfolio/orders", wire.decode_orders_page, params)

    async def fills(
        self, market_id: str | None = None, order_id: str | None = None, *, since_ms: int | None = None
    ) -> list[Fill]:
        """GET /portfolio/fills (optionally since `since_ms`). Every fill the query finds is
        returned; the ones the socket has not delivered are also sent to the sink, so each fill
        reaches the sink once whichever path saw it first."""
        params: dict[str, Any] = {k: v for k, v in (("ticker", market_id), ("order_id", order_id)) if v}
        if since_ms is not None:
            params["min_ts"] = max(0, since_ms // 1000 - 1)  # whole seconds, from just before
        found: list[Fill] = await self._paged("/portfolio/fills", wire.decode_fills_page, params)
        for fill in found:
            if self.session.admit_fill(fill):
                self._sink(fill)
        self._updated.set()
        return found

    async def positions(self) -> list[Position]:
        return await self._paged("/portfolio/positions", wire.decode_positions_page, {})

    async def balance(self) -> Balance:
        return wire.decode_balance(await self._request("GET", "/portfolio/balance"))
