"""Sans-I/O Polymarket sessions: the market-data socket and the user (orders and fills) socket.

Neither touches a socket or a clock. The client feeds each received frame with the current time
(`receive(data, now_ns)`), asks for keep-alives (`due_ping`) and health (`check`), and performs the
commands they return: `SendText` (write a text frame), `FetchBook` (GET `/book` for one token and
hand the answer to `apply_rest_book`) and `Reconnect` (drop the socket; books stay untrusted until
fresh snapshots arrive on the new one).

Market socket (`PolymarketMarketSession`), protocol facts (docs/venues.md#polymarket-market-websocket):
- After connecting, send one subscribe message with every asset (token) id; the server answers with
  a `book` snapshot per asset. Books are untrusted from a disconnect until that snapshot.
- There is no sequence number. Continuity is checked two ways: a `book` frame's hash is recomputed
  (`wire.book_hash`, with the market's minimum order size and negRisk flag), and after each
  `price_change` frame the venue's own `best_bid`/`best_ask` (of the last change per asset) must equal
  our book's best levels. Either failure marks the book untrusted and starts a resync.
- Resync = fetch `/book` over REST. Changes that arrive for that asset meanwhile are buffered and
  replayed in order on top of the fetched snapshot (each change sets a level's new total, so
  replaying every change received since the resync began is exact for any snapshot taken after
  the resync began). A fresh WS `book` for the asset ends the resync too (the late REST answer is
  then ignored).
- Each resync asks with its own `FetchBook.request_id`, and only the answer to that request can
  complete it: when a resync is restarted (a second hash mismatch) the first request's answer,
  older than the new buffer's start, is ignored (`stats.stale_rest_snapshots`). An answer whose
  `timestamp` is older than the last state the stream applied to the book before the resync began
  cannot be the base of the replay either: it is refused (`stats.outdated_rest_snapshots`) and
  asked for again, up to `_RESYNC_ATTEMPTS` times, then the session asks to reconnect.
- Keep-alive: the text `PING` every 10 s; the server answers `PONG`. A socket that still answers
  PONG but sends no data for `silence_ns` is the known silent freeze: `check` marks every book
  untrusted and asks to reconnect. No PONG for `pong_timeout_ns` also asks to reconnect.
- A bad frame (undecodable, unknown event type, invalid field) never raises out of `receive`: it is
  counted in `stats.rejected` (by error type, the last few in `recent_errors`) and dropped, and a
  dropped book change untrusts its book (the ladder may now miss that level) and starts a resync.
- `tick_size_change` moves the token's book onto the new grid (`OrderBook.tick_size_micro_usd`,
  `tick_sizes`, and the market's listing `price_bands`), so orders and levels on the new grid are
  accepted; the hash context is unchanged (the venue's book hash covers the tick it sends).

Hot path: `price_change` frames are applied straight from the parsed JSON (cached string->int
parses, no intermediate objects) unless a sink wants `BookChange` events.

User socket (`PolymarketUserSession`): see its docstring for how fills are counted once and how
its maps stay bounded. Its `check` is the market socket's health rule (`_liveness`): a frozen user
socket (PONGs, no data for `silence_ns`) or one without PONGs asks to reconnect; silence counts only
while there is something to miss (`awaiting()`), since the venue's user channel is quiet while the
account's orders and trades do not change.

The commands (`SendText`, `Reconnect`) and the stats base (`FeedStats`) are the ones the Kalshi
session uses too (`arb.venues.base`).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeVar, cast

import orjson

from arb.book import OrderBook
from arb.domain import (
    BookChange,
    BookSide,
    ChangeMode,
    Fill,
    FillStatus,
    Liquidity,
    MarketInfo,
    OrderStatus,
    OrderUpdate,
    PriceBand,
    Side,
    TickSizeChange,
    Trade,
)
from arb.errors import ArbError, BookError, ConfigError, FieldError, UnknownShapeError, WireError
from arb.fixed import SCALE
from arb.venues.base import (
    DIAGNOSTICS_KEPT,
    ErrorRecord,
    FeedStats,
    FeedWatchdog,
    RecentIds,
    Reconnect,
    SendText,
    error_record,
)
from arb.venues.polymarket import wire
from arb.venues.polymarket.wire import VENUE, BookHashContext, UserContext
from solvers.fees import FeeRule, Rounding

__all__ = [
    "Command",
    "FetchBook",
    "PolymarketMarketSession",
    "PolymarketMarketStats",
    "PolymarketUserSession",
    "PolymarketUserStats",
    "Reconnect",
    "SendText",
    "fill_fee_micro",
]

_S = 1_000_000_000
_V = "polymarket"
_BID = BookSide.BID
_ASK = BookSide.ASK
_SET = ChangeMode.SET
_NONE: tuple[Any, ...] = ()
_PRICE_CACHE = wire.PRICE_CACHE  # shared with the wire decoders: one parse per distinct string
_SIZE_CACHE = wire.SIZE_CACHE


# ---------------------------------------------------------------------------------------------
# Commands the client performs


@dataclass(frozen=True, slots=True)
class FetchBook:
    """GET `/book?token_id=asset_id` and pass the answer, with this command, to
    `PolymarketMarketSession.apply_rest_book` (a failed fetch to `resync_failed`). `request_id`
    names the resync that asked: only its answer can complete it."""

    asset_id: str
    reason: str
    request_id: int = 0


_RESYNC_ATTEMPTS = 3  # /book answers older than the stream, asked again before reconnecting


@dataclass(slots=True)
class _Resync:
    """A resync in flight: the request whose answer completes it, the venue time of the last
    state the stream applied to the book before it began (an older snapshot cannot be its base),
    and the changes received since it began: (side, price, size, ts, best_bid, best_ask)."""

    request_id: int
    floor_ts_ms: int | None
    attempts: int = 1
    buffer: list[tuple[BookSide, int, int, int | None, Any, Any]] = field(default_factory=list)


Command = SendText | FetchBook | Reconnect
Sink = Callable[[Any], None]


@dataclass(slots=True)
class _SocketStats(FeedStats):
    pong_timeouts: int = 0


def _liveness(
    watchdog: FeedWatchdog, stats: _SocketStats, pong_timeout_ns: int, now_ns: int, *, silence_counts: bool = True
) -> str | None:
    """The one health rule of both sockets: why to reconnect now, or None. No data for the
    watchdog's silence while PONGs flow is the silent freeze ("feed silent", once per silence);
    no PONG for `pong_timeout_ns` is a dead link ("no PONG", once per timeout). A socket whose
    silence is normal (`silence_counts` False: a user socket with nothing it could be missing)
    keeps only the PONG limit, and its silence restarts from now, so it counts from the moment
    there is something to miss, not from a quiet hour before."""
    if not silence_counts:
        watchdog.data(now_ns)
    elif watchdog.trip(now_ns):
        stats.watchdog_trips += 1
        return "feed silent"
    last_pong_ns = watchdog.last_pong_ns
    if last_pong_ns is not None and now_ns - last_pong_ns > pong_timeout_ns:
        stats.pong_timeouts += 1
        watchdog.pong(now_ns)  # one request per timeout
        return "no PONG"
    return None


@dataclass(slots=True)
class PolymarketMarketStats(_SocketStats):
    trades: int = 0
    notices: int = 0
    hash_mismatches: int = 0
    hash_unchecked: int = 0
    best_mismatches: int = 0
    resyncs: int = 0
    rest_snapshots: int = 0
    stale_rest_snapshots: int = 0
    outdated_rest_snapshots: int = 0
    replayed_changes: int = 0
    tick_changes: int = 0


# ---------------------------------------------------------------------------------------------
# Market socket


class PolymarketMarketSession:
    """Books of every subscribed token (`books`, keyed by token id), kept from the market socket."""

    def __init__(
        self,
        *,
        ping_interval_ns: int = 10 * _S,
        silence_ns: int = 60 * _S,
        pong_timeout_ns: int = 30 * _S,
        custom_feature_enabled: bool = True,
        max_buffered_changes: int = 10_000,
        sink: Sink | None = None,
        adopt_unknown_books: bool = True,
        max_errors_kept: int = DIAGNOSTICS_KEPT,
    ) -> None:
        """`adopt_unknown_books`: a `book` frame for a token never added starts tracking its book
        (replays and benchmarks feed raw frames; a venue snapshot is never wrong to keep). With
        False such frames are only counted (`stats.unknown_book`). Changes for a token without
        a book are always counted and dropped: there is nothing to apply them to."""
        if ping_interval_ns <= 0 or pong_timeout_ns <= 0 or max_buffered_changes <= 0:
            raise ConfigError("ping interval, pong timeout and buffer limit must be positive")
        self.books: dict[str, OrderBook] = {}
        self.markets: dict[str, MarketInfo] = {}  # condition id -> market
        self.token_market: dict[str, str] = {}  # token id -> condition id
        self.tick_sizes: dict[str, int] = {}  # token id -> current tick (micro-USD)
        self.stats = PolymarketMarketStats()
        self.recent_errors: deque[ErrorRecord] = deque(maxlen=max_errors_kept)
        self._now_ns = 0  # the time of the frame being handled (for error records)
        self._frame: Any = b""
        self.watchdog = FeedWatchdog(silence_ns)
        self.connected = False
        self.ping_interval_ns = ping_interval_ns
        self.pong_timeout_ns = pong_timeout_ns
        self.custom_feature_enabled = custom_feature_enabled
        self.max_buffered_changes = max_buffered_changes
        self.sink = sink
        self.adopt_unknown_books = adopt_unknown_books
        self._contexts: dict[str, BookHashContext] = {}
        self._last_ping_ns: int | None = None
        self._resyncs: dict[str, _Resync] = {}  # token id -> its resync in flight
        self._last_request_id = 0

    # -- subscriptions ---------------------------------------------------------------------------

    @property
    def asset_ids(self) -> list[str]:
        return list(self.books)

    def add_markets(self, markets: Iterable[MarketInfo]) -> list[Command]:
        """Track these markets' token books (untrusted until their snapshots). While connected,
        returns the message that adds the new tokens to the live subscription."""
        new: list[str] = []
        for market in markets:
            if market.token_ids is None:
                raise ConfigError(f"{market.market_id}: market has no CLOB tokens to subscribe")
            self.markets[market.market_id] = market
            context = wire.hash_context_for(market)
            tick = market.price_bands[0].step_micro_usd if market.price_bands else None
            for token in market.token_ids:
                self.token_market[token] = market.market_id
                self._contexts[token] = context
                if tick is not None:
                    self.tick_sizes.setdefault(token, tick)
                if token not in self.books:
                    self.books[token] = OrderBook(token, market.market_id, _V)
                    new.append(token)
        if new and self.connected:
            return [
                SendText(wire.market_subscribe_more_message(new, custom_feature_enabled=self.custom_feature_enabled))
            ]
        return []

    def track_assets(
        self, asset_ids: Iterable[str], market_id: str = "", context: BookHashContext | None = None
    ) -> list[Command]:
        """Track tokens known only by id (no `MarketInfo`): books, but no tick or hash context
        unless given (a current-scheme book hash is then left unchecked)."""
        new = []
        for token in asset_ids:
            if context is not None:
                self._contexts[token] = context
            if token not in self.books:
                self.books[token] = OrderBook(token, market_id or token, _V)
                if market_id:
                    self.token_market[token] = market_id
                new.append(token)
        if new and self.connected:
            return [
                SendText(wire.market_subscribe_more_message(new, custom_feature_enabled=self.custom_feature_enabled))
            ]
        return []

    def on_connect(self, now_ns: int) -> list[Command]:
        """A new socket is open: subscribe to everything; books wait for their snapshots."""
        self.connected = True
        self.stats.connects += 1
        self._untrust_all("awaiting snapshot after connect")
        self._resyncs.clear()
        self.watchdog.data(now_ns)  # arm it: a socket that never sends anything is stale too
        self.watchdog.pong(now_ns)
        self._last_ping_ns = now_ns
        if not self.books:
            return []
        return [SendText(wire.market_subscribe_message(self.books, custom_feature_enabled=self.custom_feature_enabled))]

    def on_disconnect(self, now_ns: int, reason: str = "disconnected") -> None:
        if self.connected:
            self.stats.disconnects += 1
        self.connected = False
        self._untrust_all(reason)
        self._resyncs.clear()

    # -- keep-alive and health -------------------------------------------------------------------

    def due_ping(self, now_ns: int) -> str | None:
        """`"PING"` when one is due (every `ping_interval_ns` while connected), else None."""
        if not self.connected:
            return None
        if self._last_ping_ns is None or now_ns - self._last_ping_ns >= self.ping_interval_ns:
            self._last_ping_ns = now_ns
            self.stats.pings += 1
            return "PING"
        return None

    def check(self, now_ns: int) -> list[Command]:
        """Health check: a silent feed (data stopped, PONGs or not) or missing PONGs -> reconnect."""
        if not self.connected:
            return []
        reason = _liveness(self.watchdog, self.stats, self.pong_timeout_ns, now_ns)
        if reason is None:
            return []
        self._untrust_all("feed silent (no data while connected)" if reason == "feed silent" else reason)
        return [Reconnect(reason)]

    def trusted(self, asset_id: str) -> bool:
        book = self.books.get(asset_id)
        return book is not None and book.trusted

    @property
    def resyncing(self) -> frozenset[str]:
        return frozenset(self._resyncs)

    # -- frames ------------------------------------------------------------------------------------

    def receive(self, data: bytes | str, now_ns: int) -> Sequence[Command]:
        """Decode and apply one frame; returns commands to perform (usually none). Never raises for
        bad input: it is counted in `stats.rejected` (and `recent_errors`)."""
        if data == "PONG" or data == b"PONG":
            self.stats.pongs += 1
            self.watchdog.pong(now_ns)
            return _NONE
        self.stats.frames += 1
        self._now_ns, self._frame = now_ns, data
        try:
            msg = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError):
            try:
                wire.loads(data)  # the shared reader names the problem the same way for both venues
            except WireError as exc:
                self._reject(exc)
            return _NONE
        self.watchdog.data(now_ns)
        try:
            if type(msg) is dict:
                return self._event(msg, now_ns)
            if type(msg) is list:
                commands: list[Command] = []
                for item in msg:
                    out = self._event(item, now_ns)
                    if out:
                        commands.extend(out)
                return commands
        except RecursionError:
            # A value nested ~1000 deep (orjson accepts 1024 levels): describing it in a FieldError
            # overflows the stack. Drop the frame like any bad one; its books may have lost data.
            return self._too_deep(msg, now_ns)
        self._reject(UnknownShapeError("frame is neither a JSON object nor an array", venue=_V, field="frame"))
        return _NONE

    def _too_deep(self, msg: Any, now_ns: int) -> Sequence[Command]:
        self._reject(WireError("frame nests too deeply", venue=_V, field="frame"))
        commands: list[Command] = []
        for item in msg if type(msg) is list else [msg]:
            if type(item) is dict and item.get("event_type") in ("price_change", "book"):
                changes = item.get("price_changes")
                commands.extend(self._lost_book_data(item, changes if type(changes) is list else None, now_ns))
        return commands

    def _event(self, msg: Any, now_ns: int) -> Sequence[Command]:
        if type(msg) is not dict:
            self._reject(FieldError("frame[]", "must be a JSON object", msg, venue=_V))
            return _NONE
        kind = msg.get("event_type")
        try:
            if kind == "price_change":
                return self._price_change(msg, now_ns)
            if kind == "book":
                return self._book(msg, now_ns)
            events = wire.decode_market_event(msg, self._contexts)
        except (WireError, BookError) as exc:
            self._reject(exc)
            if kind == "book":
                return self._lost_book_data(msg, None, now_ns)
            return _NONE
        self.stats.events += len(events)
        sink = self.sink
        for event in events:
            if type(event) is TickSizeChange:
                book = self.books.get(event.book_id)
                if book is None:
                    self.stats.unknown_book += 1
                    continue
                self._on_tick_change(event)
            elif type(event) is Trade:
                self.stats.trades += 1
            else:
                self.stats.notices += 1
            if sink is not None:
                sink(event)
        return _NONE

    def _price_change(self, msg: dict[str, Any], now_ns: int) -> Sequence[Command]:
        changes = msg.get("price_changes")
        if changes is None:
            return self._legacy_change(msg, now_ns)
        if type(changes) is not list:
            self._reject(FieldError("price_change.price_changes", "must be a JSON array", changes, venue=_V))
            return self._lost_book_data(msg, None, now_ns)
        raw_ts = msg.get("timestamp")
        try:
            ts = None if raw_ts is None else wire.parse_timestamp_ms(raw_ts, "price_change.timestamp")
        except FieldError as exc:
            self._reject(exc)
            return self._lost_book_data(msg, changes, now_ns)
        books = self.books
        resyncs = self._resyncs
        sink = self.sink
        last: dict[str, dict[str, Any]] = {}
        applied = 0
        for i, ch in enumerate(changes):
            if type(ch) is not dict:
                self._reject(FieldError(f"price_change.price_changes[{i}]", "must be a JSON object", ch, venue=_V))
                return self._lost_book_data(msg, changes[i:], now_ns, last)
            asset = ch.get("asset_id")
            book = books.get(asset) if type(asset) is str else None
            if book is None:
                if type(asset) is not str or not asset:
                    self._reject(
                        FieldError(
                            f"price_change.price_changes[{i}].asset_id", "must be a token id string", asset, venue=_V
                        )
                    )
                    return self._lost_book_data(msg, changes[i:], now_ns, last)
                self.stats.unknown_book += 1
                continue
            asset_id = cast(str, asset)  # a tracked book's id: a string
            s = ch.get("side")
            side = _BID if s == "BUY" else _ASK if s == "SELL" else None
            p = ch.get("price")
            price = _PRICE_CACHE.get(p) if type(p) is str else None
            z = ch.get("size")
            size = _SIZE_CACHE.get(z) if type(z) is str else None
            if side is None or price is None or size is None:
                try:
                    if side is None:
                        side = wire.parse_book_side(s, f"price_change.price_changes[{i}].side")
                    if price is None:
                        price = wire.level_price(p, f"price_change.price_changes[{i}].price")
                    if size is None:
                        size = wire.level_size(z, f"price_change.price_changes[{i}].size")
                except FieldError as exc:
                    self._reject(exc)
                    return self._lost_book_data(msg, changes[i:], now_ns, last)
            pending = resyncs.get(asset_id) if resyncs else None
            if pending is not None:
                buffer = pending.buffer
                buffer.append((side, price, size, ts, ch.get("best_bid"), ch.get("best_ask")))
                if len(buffer) > self.max_buffered_changes:
                    self._end_resync(asset_id)
                    book.mark_untrusted("resync buffer overflow")
                    return [Reconnect(f"resync buffer for {asset_id[:12]} overflowed")]
                continue
            book.apply_level(side, price, size, _SET, now_ns, ts)
            applied += 1
            last[asset_id] = ch
            if sink is not None:
                sink(
                    BookChange(
                        VENUE,
                        asset_id,
                        book.market_id,
                        side,
                        price,
                        size,
                        _SET,
                        ts,
                        best_bid_micro_usd=_best_or_none(ch.get("best_bid")),
                        best_ask_micro_usd=_best_or_none(ch.get("best_ask")),
                        hash=ch.get("hash") if type(ch.get("hash")) is str else None,
                    )
                )
        self.stats.changes += applied
        self.stats.events += applied
        commands: Sequence[Command] = _NONE
        for asset, ch in last.items():
            out = self._check_best(asset, ch.get("best_bid"), ch.get("best_ask"))
            if out:
                commands = [*commands, *out]
        return commands

    def _legacy_change(self, msg: dict[str, Any], now_ns: int) -> Sequence[Command]:
        """Pre-Sept-2025 `price_change`: one flat level per message, no best bid/ask."""
        try:
            change = wire.decode_price_change(msg)[0]
        except FieldError as exc:
            self._reject(exc)
            return self._lost_book_data(msg, None, now_ns)
        book = self.books.get(change.book_id)
        if book is None:
            self.stats.unknown_book += 1
            return _NONE
        pending = self._resyncs.get(change.book_id)
        if pending is not None:
            pending.buffer.append(
                (change.side, change.price_micro_usd, change.size_micro, change.exchange_ts_ms, None, None)
            )
            return _NONE
        book.apply_level(change.side, change.price_micro_usd, change.size_micro, _SET, now_ns, change.exchange_ts_ms)
        self.stats.changes += 1
        self.stats.events += 1
        if self.sink is not None:
            self.sink(change)
        return _NONE

    def _book(self, msg: dict[str, Any], now_ns: int) -> Sequence[Command]:
        asset = msg.get("asset_id")
        context = self._contexts.get(asset) if type(asset) is str else None
        snapshot = wire.decode_book(msg, context)
        book = self.books.get(snapshot.book_id)
        if book is None:
            if not self.adopt_unknown_books:
                self.stats.unknown_book += 1
                return _NONE
            self.track_assets([snapshot.book_id], snapshot.market_id)
            book = self.books[snapshot.book_id]
        self.stats.snapshots += 1
        self.stats.events += 1
        if snapshot.hash_ok is None:
            self.stats.hash_unchecked += 1
        book.apply_snapshot(snapshot, now_ns)
        if snapshot.tick_size_micro_usd is not None:
            self.tick_sizes[snapshot.book_id] = snapshot.tick_size_micro_usd
        if self.sink is not None:
            self.sink(snapshot)
        if snapshot.hash_ok is False:
            self.stats.hash_mismatches += 1
            self._end_resync(snapshot.book_id)
            return self._start_resync(snapshot.book_id, "book hash mismatch")
        # A good WS snapshot is ordered with the changes on this socket: it ends any resync.
        self._end_resync(snapshot.book_id)
        return _NONE

    # -- continuity --------------------------------------------------------------------------------

    def _check_best(self, asset: str, venue_bid: Any, venue_ask: Any) -> Sequence[Command]:
        """Compare our best levels with the venue's after a change (empty side: bid "0", ask "0"/"1")."""
        book = self.books[asset]
        if not book.trusted:
            return _NONE
        try:
            bid = _best_or_none(venue_bid, strict=True)
            ask = _best_or_none(venue_ask, strict=True)
        except FieldError as exc:
            self._reject(exc)
            book.mark_untrusted("unreadable best bid/ask")
            return self._start_resync(asset, "unreadable best bid/ask")
        ok = True
        if bid is not None:
            ours = book.best_bid()
            ok = (ours[0] if ours is not None else 0) == bid
        if ok and ask is not None:
            ours = book.best_ask()
            ok = ours[0] == ask if ours is not None else ask in (0, SCALE)
        if ok:
            return _NONE
        self.stats.best_mismatches += 1
        book.mark_untrusted(f"best bid/ask differ from the venue's ({venue_bid!r}/{venue_ask!r})")
        return self._start_resync(asset, "best bid/ask mismatch")

    def _start_resync(self, asset: str, reason: str) -> Sequence[Command]:
        if asset in self._resyncs or not self.connected:
            return _NONE
        self.stats.resyncs += 1
        self._last_request_id += 1
        self._resyncs[asset] = _Resync(self._last_request_id, self.books[asset].exchange_ts_ms)
        return [FetchBook(asset, reason, self._last_request_id)]

    def _end_resync(self, asset: str) -> None:
        self._resyncs.pop(asset, None)

    def _current(self, request: FetchBook) -> bool:
        """Whether `request` is the one the token's resync in flight waits for."""
        pending = self._resyncs.get(request.asset_id)
        return pending is not None and pending.request_id == request.request_id

    def _lost_book_data(
        self, msg: dict[str, Any], rest: list[Any] | None, now_ns: int, last: dict[str, Any] | None = None
    ) -> Sequence[Command]:
        """A book-carrying event was dropped: untrust the books it names and resync them. When it
        does not say which token (no readable asset id), its market's books, or every book when the
        market is unknown too, are untrusted: never guess which ladder missed an update."""
        assets: set[str] = set()
        undetermined = False
        named = rest if rest is not None else [msg]
        for item in named:
            a = item.get("asset_id") if type(item) is dict else None
            if type(a) is str and a:
                if a in self.books:
                    assets.add(a)
            else:
                undetermined = True
        if undetermined:
            market = msg.get("market")
            if type(market) is str and market in self.markets:
                assets.update(t for t in self.markets[market].book_ids() if t in self.books)
            else:
                assets.update(self.books)
        commands: list[Command] = []
        for a in sorted(assets):
            self.books[a].mark_untrusted("dropped a malformed book update")
            commands.extend(self._start_resync(a, "dropped a malformed book update"))
        # Assets fully applied earlier in the frame still get their best-level check.
        for a, ch in (last or {}).items():
            if a not in assets:
                commands.extend(self._check_best(a, ch.get("best_bid"), ch.get("best_ask")))
        return commands

    def apply_rest_book(self, data: Any, now_ns: int, request: FetchBook | None = None) -> Sequence[Command]:
        """The answer (bytes or parsed JSON) to `request`: apply it, replay the changes buffered
        since the resync began, check the result. Only the answer to the resync's own request
        completes it: an answer to an earlier request (the resync restarted since), or for a token
        no longer resyncing (a WS snapshot came first), is ignored. An answer older than the
        stream's state when the resync began is refused and asked for again. An unusable answer
        (undecodable, another token's) fails the resync (reconnect). `request` None (replays,
        tests) completes whichever resync the answer's token has in flight."""
        if request is not None and not self._current(request):
            self.stats.stale_rest_snapshots += 1
            return _NONE
        try:
            obj = wire.loads(data, "book") if isinstance(data, (bytes, bytearray, str)) else data
            asset = obj.get("asset_id") if type(obj) is dict else None
            snapshot = wire.decode_book(obj, self._contexts.get(asset) if type(asset) is str else None)
        except WireError as exc:
            self._reject(exc)
            return self.resync_failed(request.asset_id, "unusable /book answer") if request is not None else _NONE
        except RecursionError:  # nested too deeply to describe; the resync fails like any bad answer
            self._reject(WireError("REST book nests too deeply", venue=_V, field="book"))
            return self.resync_failed(request.asset_id, "unusable /book answer") if request is not None else _NONE
        asset = snapshot.book_id
        if request is not None and asset != request.asset_id:
            self._reject(
                FieldError("book.asset_id", f"is not the token asked for ({request.asset_id})", asset, venue=_V)
            )
            return self.resync_failed(request.asset_id, "/book answered for another token")
        book = self.books.get(asset)
        pending = self._resyncs.get(asset)
        if book is None or pending is None:
            self.stats.stale_rest_snapshots += 1
            return _NONE
        buffer = pending.buffer
        floor = pending.floor_ts_ms
        if floor is not None and snapshot.exchange_ts_ms is not None and snapshot.exchange_ts_ms < floor:
            # Taken before the state the buffer starts from: the changes in between are in neither.
            self.stats.outdated_rest_snapshots += 1
            if pending.attempts >= _RESYNC_ATTEMPTS:
                return self.resync_failed(asset, f"/book stayed older than the stream ({pending.attempts} answers)")
            self._last_request_id += 1
            pending.request_id = self._last_request_id
            pending.attempts += 1
            return [FetchBook(asset, "/book answer older than the stream", pending.request_id)]
        self._end_resync(asset)
        self.stats.rest_snapshots += 1
        # The REST book states the hash inputs the WS frame lacks; if our market metadata
        # disagrees (say Gamma's minimum size is stale), learn the venue's so later WS books check.
        min_size, neg_risk = obj.get("min_order_size"), obj.get("neg_risk")
        if snapshot.hash_ok and type(min_size) is str and type(neg_risk) is bool:
            self._contexts[asset] = BookHashContext(min_size, neg_risk)
        try:
            book.apply_snapshot(snapshot, now_ns)
            for side, price, size, ts, _, _ in buffer:
                book.apply_level(side, price, size, _SET, now_ns, ts)
        except BookError as exc:
            self._reject(exc)
            book.mark_untrusted("resync snapshot unusable")
            return [Reconnect("resync snapshot unusable")]
        self.stats.replayed_changes += len(buffer)
        if snapshot.tick_size_micro_usd is not None:
            self.tick_sizes[asset] = snapshot.tick_size_micro_usd
        if self.sink is not None:
            self.sink(snapshot)
        if snapshot.hash_ok is False:
            self.stats.hash_mismatches += 1
            return [Reconnect("REST book hash mismatch")]
        last_best = next(((b, a) for *_, b, a in reversed(buffer) if b is not None or a is not None), None)
        if last_best is not None:
            return self._check_best(asset, *last_best)
        return _NONE

    def resync_failed(self, asset_id: str, reason: str, request: FetchBook | None = None) -> list[Command]:
        """The `/book` fetch for `asset_id` failed for good: reconnect (which re-snapshots). The
        failure of a request the resync no longer waits for (it restarted since) changes nothing."""
        if request is not None and not self._current(request):
            return []
        self._end_resync(asset_id)
        return [Reconnect(f"resync of {asset_id[:12]} failed: {reason}")]

    def _untrust_all(self, reason: str) -> None:
        for book in self.books.values():
            book.mark_untrusted(reason)

    def _on_tick_change(self, event: TickSizeChange) -> None:
        """The venue moved this token to a new tick (0.01 -> 0.001 near 0 and 1, and back): the
        book, the client's order checks and the listing follow the new grid."""
        tick = event.new_tick_micro_usd
        self.books[event.book_id].tick_size_micro_usd = tick
        self.tick_sizes[event.book_id] = tick
        self.stats.tick_changes += 1
        market_id = self.token_market.get(event.book_id)
        market = self.markets.get(market_id) if market_id is not None else None
        if market is not None:
            self.markets[market.market_id] = dataclasses.replace(
                market, price_bands=(PriceBand(tick, SCALE - tick, tick),)
            )

    def _reject(self, exc: ArbError) -> None:
        self.stats.rejected[type(exc).__name__] += 1
        self.recent_errors.append(error_record(exc, self._frame, self._now_ns))


_BEST_CACHE: dict[str, int] = {}


def _best_or_none(value: Any, strict: bool = False) -> int | None:
    """A venue best price text -> micro-USD; None when absent. Non-strict (for emitted events)
    swallows bad values; strict raises `FieldError`."""
    if type(value) is str:
        cached = _BEST_CACHE.get(value)
        if cached is not None:
            return cached
        if value == "":
            return None
        try:
            micro = wire.parse_best(value, "price_change.best")
        except FieldError:
            if strict:
                raise
            return None
        if len(_BEST_CACHE) < 10_000 and micro is not None:
            _BEST_CACHE[value] = micro
        return micro
    if value is None:
        return None
    if strict:
        raise FieldError("price_change.best", "must be a decimal string", value, venue=_V)
    return None


# ---------------------------------------------------------------------------------------------
# User socket


@dataclass(slots=True)
class PolymarketUserStats(_SocketStats):
    orders: int = 0
    duplicate_orders: int = 0
    new_fills: int = 0
    fill_status_changes: int = 0
    duplicate_fills: int = 0
    stale_fill_statuses: int = 0
    reversals: int = 0
    anomalies: int = 0
    evicted_orders: int = 0
    evicted_fills: int = 0
    fees_unknown: int = 0  # new fills left without a fee (market schedule unknown, or rates disagree)
    fee_rate_mismatches: int = 0  # of those: the trade's stated rate was not the market's schedule


_TERMINAL_FILL = (FillStatus.CONFIRMED, FillStatus.FAILED)
_FEE_ROUNDING = {Rounding.UP: -1, Rounding.DOWN: 1}  # floor division of (sign x value) per direction


def fill_fee_micro(rule: FeeRule, price_micro_usd: int, size_micro: int) -> int | None:
    """One fill's fee by `rule` in micro-USD, exact: the curve (P(1-P))^exponent is evaluated as a
    `Fraction` (with 6-decimal prices it outgrows Decimal's 28 digits from exponent 3 on). None
    when the rule cannot give one fill's fee on its own (a per-order rounding) or the amount is not
    a whole number of micro-USD."""
    if rule.order_increment_usd is not None:
        return None
    curve = Fraction(price_micro_usd * (SCALE - price_micro_usd), SCALE * SCALE) ** rule.exponent
    quantity = Fraction(size_micro, SCALE)
    raw_usd = (
        Fraction(rule.coefficient) * Fraction(rule.multiplier) * quantity * curve
        + Fraction(rule.flat_per_contract_usd) * quantity
    )
    increment = rule.fill_increment_usd
    if increment is not None:
        units = raw_usd / Fraction(increment)
        sign = _FEE_ROUNDING.get(rule.fill_rounding)
        whole = round(units) if sign is None else sign * ((sign * units.numerator) // units.denominator)
        raw_usd = whole * Fraction(increment)
    micro = raw_usd * SCALE
    return micro.numerator if micro.denominator == 1 else None


def _stated_bps(rule: FeeRule) -> int:
    """The rate a trade message states for a leg charged by `rule`: whole basis points, truncated
    (a schedule finer than 1 bp cannot be stated exactly in the message's integer field)."""
    bps = Fraction(rule.coefficient) * Fraction(rule.multiplier) * 10_000
    return bps.numerator // bps.denominator


# How far a match has settled: MATCHED -> MINED -> CONFIRMED, RETRYING a retry of the MINED stage
# (RETRYING -> MINED again is news), FAILED final. A later message may only keep or advance it: a
# REST replay saying MATCHED after the socket said MINED is old news, never a step back.
_FILL_STAGE = {
    FillStatus.MATCHED: 0,
    FillStatus.MINED: 1,
    FillStatus.RETRYING: 1,
    FillStatus.CONFIRMED: 2,
    FillStatus.FAILED: 2,
}
_E = TypeVar("_E", Fill, OrderUpdate)
_TERMINAL_ORDER = (OrderStatus.CANCELED, OrderStatus.FILLED, OrderStatus.REJECTED)


class PolymarketUserSession:
    """Our orders and fills from the user socket (and from REST queries, through `apply_fills` and
    `apply_orders`), each counted once.

    Fill events, defined: a `Fill` whose `fill_id` was never seen is a new execution (emitted once,
    whatever its status). Later messages about the same match (MATCHED -> MINED -> CONFIRMED, or
    RETRYING -> FAILED) emit the *same* fill (same id, size and price as first seen) with the new
    status; repeats of a status emit nothing, nor does a status of an earlier stage (`_FILL_STAGE`:
    a REST replay saying MATCHED after the socket said MINED; RETRYING -> MINED is allowed), and
    CONFIRMED/FAILED are final. A fill whose latest status is FAILED did not happen: a consumer
    that counted it must reverse it (`stats.reversals` counts FAILED arriving after the fill was
    seen in another status). So the position from this session is the sum over fills whose latest
    status is not FAILED (`net_filled_micro`, a running total per order: O(1)).

    Bounded: `fills` and `orders` keep every live entry, and finished ones (fills CONFIRMED or
    FAILED, orders CANCELED, FILLED or REJECTED) up to `max_fills_kept` / `max_orders_kept`, oldest
    finished evicted first. An evicted entry's id is remembered (the newest `max_ids_kept` of them),
    so a late repeat about it is still recognised as a repeat (never counted again) within that
    retention window; per-order totals and client ids are kept for the newest `max_ids_kept`
    orders."""

    def __init__(
        self,
        context: UserContext,
        *,
        auth: tuple[str, str, str] | None = None,
        markets: Iterable[str] = (),
        ping_interval_ns: int = 10 * _S,
        silence_ns: int = 60 * _S,
        pong_timeout_ns: int = 30 * _S,
        sink: Sink | None = None,
        max_fills_kept: int = 10_000,
        max_orders_kept: int = 10_000,
        max_ids_kept: int = 100_000,
        max_errors_kept: int = DIAGNOSTICS_KEPT,
    ) -> None:
        if min(max_fills_kept, max_orders_kept, max_ids_kept) <= 0:
            raise ConfigError("user session bounds must be positive")
        if ping_interval_ns <= 0 or pong_timeout_ns <= 0:
            raise ConfigError("ping interval and pong timeout must be positive")
        self.context = context
        self._auth = auth
        self.market_ids: list[str] = list(markets)
        self.ping_interval_ns = ping_interval_ns
        self.pong_timeout_ns = pong_timeout_ns
        self.watchdog = FeedWatchdog(silence_ns)  # `last_data_ns`: the last frame of the socket
        self.sink = sink
        self.fills: dict[str, Fill] = {}
        self.orders: dict[str, OrderUpdate] = {}
        # condition id -> (taker, maker) fee rules, from the markets this session was told about
        self.fee_rules: dict[str, tuple[FeeRule | None, FeeRule | None]] = {}
        self.client_ids: OrderedDict[str, str] = OrderedDict()
        self.stats = PolymarketUserStats()
        self.recent_errors: deque[ErrorRecord] = deque(maxlen=max_errors_kept)
        self.connected = False
        self.max_fills_kept = max_fills_kept
        self.max_orders_kept = max_orders_kept
        self.max_ids_kept = max_ids_kept
        self._last_ping_ns: int | None = None
        self._now_ns = 0
        self._frame: Any = b""
        self._net_filled: OrderedDict[str, int] = OrderedDict()  # order id -> size over fills not FAILED
        self._fills_by_order: dict[str, list[str]] = {}
        self._finished_fills: deque[str] = deque()  # fill ids in the order they became final
        self._finished_orders: deque[str] = deque()
        self._evicted_fills = RecentIds(max_ids_kept)
        self._evicted_orders = RecentIds(max_ids_kept)
        self._awaited_orders: OrderedDict[str, None] = OrderedDict()  # ours, sent, final state not known
        self._unsettled_fills: set[str] = set()  # fill ids not yet CONFIRMED or FAILED

    def __repr__(self) -> str:
        return (
            f"PolymarketUserSession(api_key={'<set>' if self.context.api_key else '<none>'}, "
            f"fills={len(self.fills)}, orders={len(self.orders)})"
        )

    def register_order(self, order_id: str, client_order_id: str) -> None:
        """Name our client order id for a venue order id (events then carry it)."""
        self.client_ids[order_id] = client_order_id
        self.client_ids.move_to_end(order_id)
        if len(self.client_ids) > self.max_ids_kept:
            self.client_ids.popitem(last=False)

    def expect_order(self, order_id: str) -> None:
        """We are sending this order: until its final state is known (a CANCELED, FILLED or
        REJECTED record, or `order_settled`), its events may come on this socket, so the socket's
        silence counts (`awaiting()`). The newest `max_ids_kept` are kept."""
        self._awaited_orders[order_id] = None
        self._awaited_orders.move_to_end(order_id)
        if len(self._awaited_orders) > self.max_ids_kept:
            self._awaited_orders.popitem(last=False)

    def order_settled(self, order_id: str) -> None:
        """The client knows this order's final state without a record here (the send was refused,
        or the venue never got it): nothing more to wait for on this socket."""
        self._awaited_orders.pop(order_id, None)

    def awaited_orders(self) -> list[str]:
        """Our orders whose final state is not known yet (oldest first)."""
        return list(self._awaited_orders)

    def awaiting(self) -> bool:
        """Something could be missed on this socket: an order we sent whose final state is not
        known, or a fill not yet CONFIRMED or FAILED. While nothing is, the socket's silence is the
        venue's normal (it speaks only when the account's orders or trades change)."""
        return bool(self._awaited_orders or self._unsettled_fills)

    def add_markets(self, markets: Iterable[MarketInfo]) -> None:
        """Learn these markets' tokens (so fills get their `Side`) and fee schedules (so fills get
        their fee: the venue's trade messages state a rate, never the amount). A market whose fee
        is unknown here (read from the CLOB alone) does not replace a schedule already known. The
        subscription's market filter stays as constructed (empty: every market of the account)."""
        tokens = dict(self.context.tokens or {})
        for market in markets:
            if market.token_ids is not None:
                tokens[market.token_ids[0]] = (market.market_id, Side.YES)
                tokens[market.token_ids[1]] = (market.market_id, Side.NO)
            if market.taker_fee is not None or market.market_id not in self.fee_rules:
                self.fee_rules[market.market_id] = (market.taker_fee, market.maker_fee)
        self.context = dataclasses.replace(self.context, tokens=tokens)

    def on_connect(self, now_ns: int) -> list[Command]:
        self.connected = True
        self.stats.connects += 1
        self.watchdog.data(now_ns)  # armed as the market socket's: silence counts from the connect
        self.watchdog.pong(now_ns)
        self._last_ping_ns = now_ns
        if self._auth is None:
            return []
        api_key, secret, passphrase = self._auth
        return [SendText(wire.user_subscribe_message(api_key, secret, passphrase, self.market_ids), secret=True)]

    def on_disconnect(self, now_ns: int, reason: str = "disconnected") -> None:
        if self.connected:
            self.stats.disconnects += 1
        self.connected = False

    def due_ping(self, now_ns: int) -> str | None:
        if self.connected and (self._last_ping_ns is None or now_ns - self._last_ping_ns >= self.ping_interval_ns):
            self._last_ping_ns = now_ns
            self.stats.pings += 1
            return "PING"
        return None

    def check(self, now_ns: int) -> list[Command]:
        """Health check, the market socket's rule (`_liveness`): a user socket that answers PONG
        but delivers nothing for `silence_ns` while something could be missed (`awaiting()`), or no
        PONG for `pong_timeout_ns` at any time, is replaced (the client then catches up the fills
        it may have missed). A quiet account's silence is not a fault: it is never replaced for it."""
        if not self.connected:
            return []
        reason = _liveness(self.watchdog, self.stats, self.pong_timeout_ns, now_ns, silence_counts=self.awaiting())
        return [] if reason is None else [Reconnect(reason)]

    def receive(self, data: bytes | str, now_ns: int) -> list[Fill | OrderUpdate]:
        """Decode one frame; returns the new or changed fills and orders (also sent to the sink).
        Never raises for bad input (counted in `stats.rejected`)."""
        if data == "PONG" or data == b"PONG":
            self.stats.pongs += 1
            self.watchdog.pong(now_ns)
            return []
        self.stats.frames += 1
        self._now_ns, self._frame = now_ns, data
        try:
            msg = wire.loads(data)
        except WireError as exc:
            self._reject(exc)
            return []
        self.watchdog.data(now_ns)
        items = msg if type(msg) is list else [msg]
        out: list[Fill | OrderUpdate] = []
        for i, item in enumerate(items):
            try:
                events = wire.decode_user_event(item, self.context, f"frame[{i}]" if type(msg) is list else "frame")
            except WireError as exc:
                self._reject(exc)
                continue
            except RecursionError:  # a value nested ~1000 deep: describing it overflows the stack
                self._reject(WireError("event nests too deeply", venue=_V, field=f"frame[{i}]"))
                continue
            for event in events:
                changed = self._fill(event) if isinstance(event, Fill) else self._order(event)
                if changed is not None:
                    out.append(changed)
        self.stats.events += len(out)
        return out

    def apply_fills(self, fills: Iterable[Fill]) -> list[Fill]:
        """Fills from a REST query, deduplicated against everything seen; returns the new/changed."""
        out = []
        for fill in fills:
            changed = self._fill(fill)
            if changed is not None:
                out.append(changed)
        return out

    def apply_orders(self, updates: Iterable[OrderUpdate]) -> list[OrderUpdate]:
        out = []
        for update in updates:
            changed = self._order(update)
            if changed is not None:
                out.append(changed)
        return out

    def net_filled_micro(self, order_id: str) -> int:
        """How much of `order_id` executed, over fills not (yet) FAILED (a running total)."""
        return self._net_filled.get(order_id, 0)

    def fills_of(self, order_id: str) -> list[Fill]:
        """The fills of `order_id` still kept (evicted finished ones are counted in the total only)."""
        return [self.fills[i] for i in self._fills_by_order.get(order_id, ()) if i in self.fills]

    def _add_net(self, order_id: str, size: int) -> None:
        net = self._net_filled
        net[order_id] = net.get(order_id, 0) + size
        net.move_to_end(order_id)
        if len(net) > self.max_ids_kept:
            net.popitem(last=False)

    def _fill(self, fill: Fill) -> Fill | None:
        client_id = self.client_ids.get(fill.order_id)
        if client_id is not None and fill.client_order_id != client_id:
            fill = dataclasses.replace(fill, client_order_id=client_id)
        previous = self.fills.get(fill.fill_id)
        if previous is None:
            if fill.fill_id in self._evicted_fills:
                self.stats.duplicate_fills += 1  # about a finished fill we no longer hold
                return None
            fill = self._priced(fill)
            self.fills[fill.fill_id] = fill
            self._fills_by_order.setdefault(fill.order_id, []).append(fill.fill_id)
            if fill.status is not FillStatus.FAILED:
                self._add_net(fill.order_id, fill.size_micro)
            self.stats.new_fills += 1
            if fill.status in _TERMINAL_FILL:
                self._finished(fill.fill_id)
            else:
                self._unsettled_fills.add(fill.fill_id)
            return self._emit(fill)
        if previous.status is fill.status:
            self.stats.duplicate_fills += 1
            return None
        if previous.status in _TERMINAL_FILL:
            self.stats.anomalies += 1  # a final status never changes; keep it
            return None
        if _FILL_STAGE[fill.status] < _FILL_STAGE[previous.status]:
            self.stats.stale_fill_statuses += 1  # an older stage (a REST replay): keep the newer
            return None
        if (previous.size_micro, previous.price_micro_usd) != (fill.size_micro, fill.price_micro_usd):
            self.stats.anomalies += 1  # the venue restated the match: keep the first terms
        updated = dataclasses.replace(
            previous, status=fill.status, exchange_ts_ms=fill.exchange_ts_ms or previous.exchange_ts_ms
        )
        self.fills[fill.fill_id] = updated
        self.stats.fill_status_changes += 1
        if fill.status is FillStatus.FAILED:
            self.stats.reversals += 1
            self._add_net(previous.order_id, -previous.size_micro)
        if fill.status in _TERMINAL_FILL:
            self._finished(fill.fill_id)
        return self._emit(updated)

    def _priced(self, fill: Fill) -> Fill:
        """`fill` with the fee the venue charged it: the market's rule for the fill's role (taker;
        maker: our resting order in `maker_orders`) at its price and size, floored per fill as the
        venue does. Left unknown (None, counted in `stats.fees_unknown`, a diagnostic in
        `recent_errors`) when the market's schedule is not known here, the role is not stated, or
        the rate the trade message states for this leg is not the schedule's: never guessed."""
        if fill.fee_micro_usd is not None:
            return fill
        taker, maker = self.fee_rules.get(fill.market_id, (None, None))
        rule = taker if fill.liquidity is Liquidity.TAKER else maker if fill.liquidity is Liquidity.MAKER else None
        problem = None
        fee = None
        if rule is None:
            problem = "fee unknown: the market's fee schedule is not known (load it with markets() or subscribe())"
        elif fill.fee_rate_bps is not None and fill.fee_rate_bps != _stated_bps(rule):
            self.stats.fee_rate_mismatches += 1
            problem = (
                f"fee unknown: the trade states {fill.fee_rate_bps} bps, the market's schedule {_stated_bps(rule)}"
            )
        else:
            fee = fill_fee_micro(rule, fill.price_micro_usd, fill.size_micro)
            if fee is None:
                problem = "fee unknown: the market's fee rule does not give a whole micro-USD per fill"
        if fee is None:
            self.stats.fees_unknown += 1
            error = FieldError(f"fill {fill.fill_id}.fee_rate_bps", str(problem), fill.fee_rate_bps, venue=_V)
            self.recent_errors.append(error_record(error, f"fill {fill.fill_id}", self._now_ns))
            return fill
        return dataclasses.replace(fill, fee_micro_usd=fee)

    def _finished(self, fill_id: str) -> None:
        self._unsettled_fills.discard(fill_id)
        self._finished_fills.append(fill_id)
        while len(self.fills) > self.max_fills_kept and self._finished_fills:
            old_id = self._finished_fills.popleft()
            old = self.fills.pop(old_id, None)
            if old is None:
                continue
            self._evicted_fills.add(old_id)
            self.stats.evicted_fills += 1
            siblings = self._fills_by_order.get(old.order_id)
            if siblings is not None:
                siblings.remove(old_id)
                if not siblings:
                    del self._fills_by_order[old.order_id]

    def _order(self, update: OrderUpdate) -> OrderUpdate | None:
        client_id = self.client_ids.get(update.order_id)
        if client_id is not None and update.client_order_id != client_id:
            update = dataclasses.replace(update, client_order_id=client_id)
        previous = self.orders.get(update.order_id)
        if previous == update:
            self.stats.duplicate_orders += 1
            return None
        if previous is None and update.order_id in self._evicted_orders:
            self.stats.anomalies += 1  # news about an order that ended and was evicted: stale
            return None
        if (
            previous is not None
            and previous.status in (OrderStatus.CANCELED, OrderStatus.FILLED)
            and (update.status is OrderStatus.OPEN)
        ):
            self.stats.anomalies += 1  # a stale "live" after the order ended
            return None
        self.orders[update.order_id] = update
        self.stats.orders += 1
        if update.status in _TERMINAL_ORDER:
            self._awaited_orders.pop(update.order_id, None)
        if update.status in _TERMINAL_ORDER and (previous is None or previous.status not in _TERMINAL_ORDER):
            self._finished_orders.append(update.order_id)
            while len(self.orders) > self.max_orders_kept and self._finished_orders:
                old_id = self._finished_orders.popleft()
                old = self.orders.get(old_id)
                if old is not None and old.status in _TERMINAL_ORDER:
                    del self.orders[old_id]
                    self._evicted_orders.add(old_id)
                    self.stats.evicted_orders += 1
        return self._emit(update)

    def _emit(self, event: _E) -> _E:
        if self.sink is not None:
            self.sink(event)
        return event

    def _reject(self, exc: ArbError) -> None:
        self.stats.rejected[type(exc).__name__] += 1
        self.recent_errors.append(error_record(exc, self._frame, self._now_ns))
