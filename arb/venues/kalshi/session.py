"""Kalshi WebSocket session: sans-I/O protocol state. No sockets, no sleeping; time is passed in.

The client feeds every text frame to `receive(raw, now_ns)` and sends whatever `outgoing()`
returns; the session owns the books and decides when to re-snapshot, resubscribe or reconnect.

Protocol facts relied on (docs/venues.md#kalshi-websocket, docs/venues.md#kalshi-sequencing):
- One socket carries many subscriptions. `subscribe` names channels (and tickers); the server
  answers `subscribed` with a subscription id (`sid`) per channel, echoing the command `id`. The
  session sends one channel per subscribe command, so a command id maps to exactly one sid.
- `seq` counts messages per sid, not per ticker: one `orderbook_delta` sid covering many tickers
  shares one sequence. A gap (seq != last + 1) means some change was lost for an unknown ticker
  of that sid, so every book of the sid becomes untrusted and an `update_subscription`
  `get_snapshot` for those tickers is queued; each ticker's next snapshot re-trusts its book.
- `ok` replies to update_subscription may carry the sid's seq; they advance the sequence only when
  they continue it (never flag a gap), so either reading of that seq stays loop-free.
- Error code 25 (subscription buffer overflow) and 10 (channel error) are terminal for the
  subscription: the session unsubscribes it and subscribes again (fresh snapshots).
- Silent feeds: when no data arrives for `silence_ns` (pings alone do not count) every book is
  marked untrusted and the order book subscriptions are renewed; if the feed stays silent for
  another `silence_ns` the session asks the client to reconnect.
- Messages from a sid the session no longer tracks (an old subscription after a resubscribe) are
  dropped, so no change is ever applied twice.
- Fills are counted once by `fill_id`, whichever path brings them (the `fill` channel or a REST
  query through `admit_fill`), within the last `max_fill_ids_kept` ids.
- Private-stream gaps: fills made while the private stream could not deliver them are fetched once
  it can again. A gap is any of: a disconnect, a silent feed (the watchdog trips), a sequence gap on
  a private sid (when the venue numbers those messages; dropped or not, a private message is never
  discarded for its sid), and a resubscribe of the `fill` channel (error 25/10). The session
  records it with the newest fill time seen before it (`last_fill_ts_ms`; the catch-up starts
  there) and `take_private_gap` hands it to the client once the stream delivers again: the `fill`
  subscription is confirmed and a frame arrived after the gap. Gaps that overlap merge into one
  catch-up from the earliest start.
- A live tick change (`market_lifecycle_v2` `price_level_structure_updated`, new `price_ranges`)
  moves the market's book onto the new grid (`OrderBook.tick_size_micro_usd` = its finest step), so
  levels at the new prices are accepted downstream instead of looking off-tick.

Commands out are typed like Polymarket's: `SendText` (a command frame) and `Reconnect`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from arb.book import OrderBook
from arb.domain import BookChange, BookSnapshot, Fill, MarketLifecycle, Venue, VenueNotice
from arb.errors import BookError, WireError
from arb.venues.base import (
    DIAGNOSTICS_KEPT,
    ErrorRecord,
    FeedStats,
    FeedWatchdog,
    RecentIds,
    Reconnect,
    SendText,
    TokenBucket,
    error_record,
)
from arb.venues.kalshi import wire

__all__ = ["Command", "KalshiSession", "KalshiStats", "PrivateGap", "Subscription", "decode_and_apply"]

Command = SendText | Reconnect

_K = Venue.KALSHI
ORDERBOOK = wire.ORDERBOOK_CHANNEL
_TERMINAL_ERRORS = frozenset({10, 25})
FILL_CHANNEL = "fill"
PRIVATE_CHANNELS = frozenset({FILL_CHANNEL, "user_orders", "market_positions", "order_group_updates"})
_PRIVATE_TYPES = frozenset({"fill", "user_order", "market_position", "order_group_updates"})


@dataclass(slots=True)
class KalshiStats(FeedStats):
    gaps: int = 0
    resnapshots: int = 0  # tickers asked for a fresh snapshot (get_snapshot)
    resubscribes: int = 0
    stale_sid: int = 0  # messages from a sid no longer tracked, dropped
    duplicate_fills: int = 0
    private_gaps: Counter[str] = field(default_factory=Counter)  # private-stream gaps by kind
    venue_errors: Counter[int] = field(default_factory=Counter)  # WS error responses by code
    reconnect_requests: int = 0
    tick_changes: int = 0


@dataclass(frozen=True, slots=True)
class PrivateGap:
    """Fills may have been missed since `since_ms` (exchange time of the newest fill seen before the
    gap; None: none seen, start from the client's start). `reasons` names the gaps merged in."""

    since_ms: int | None
    reasons: tuple[str, ...]


@dataclass(slots=True)
class Subscription:
    channel: str
    tickers: set[str]  # empty: every market (private channels)
    sid: int | None = None
    last_seq: int | None = None


@dataclass(slots=True)
class _Pending:
    cmd: str  # subscribe | update_subscription | unsubscribe
    channel: str = ""
    tickers: tuple[str, ...] = ()
    sid: int | None = None
    action: str = ""


class KalshiSession:
    """Protocol state of one multiplexed Kalshi socket (see the module docstring)."""

    def __init__(
        self,
        *,
        silence_ns: int = 30_000_000_000,
        snapshot_timeout_ns: int = 10_000_000_000,
        read_rate_per_s: float = 20.0,
        write_rate_per_s: float = 10.0,
        max_errors_kept: int = DIAGNOSTICS_KEPT,
        max_fill_ids_kept: int = 100_000,
    ) -> None:
        self.books: dict[str, OrderBook] = {}
        self.stats = KalshiStats()
        self.recent_errors: deque[ErrorRecord] = deque(maxlen=max_errors_kept)
        self.watchdog = FeedWatchdog(silence_ns)
        self.snapshot_timeout_ns = snapshot_timeout_ns
        self.read_bucket = TokenBucket(read_rate_per_s)
        self.write_bucket = TokenBucket(write_rate_per_s)
        self.connected = False
        self._next_id = 1
        self._wanted: dict[str, set[str]] = {}  # channel -> tickers; empty set: all markets
        self._all_markets: set[str] = set()  # channels subscribed without a market filter
        self._pending: dict[int, _Pending] = {}
        self._subs: dict[int, Subscription] = {}
        self._book_sid: dict[str, int] = {}  # orderbook ticker -> the sid whose messages apply
        self._awaiting: dict[str, int] = {}  # ticker -> when its (re-)snapshot was requested
        self._outbox: list[dict[str, Any]] = []
        self._renewed_at_ns: int | None = None  # when the watchdog last renewed subscriptions
        self._fill_ids = RecentIds(max_fill_ids_kept)
        self.last_fill_ts_ms: int | None = None  # the newest fill's exchange time (catch-up starts there)
        self._gap: PrivateGap | None = None  # a private-stream gap not yet caught up
        self._gap_live = False  # a frame arrived after the gap began

    # -- commands out ----------------------------------------------------------------------------

    def outgoing(self) -> list[SendText]:
        """Command frames to send now, in order."""
        out, self._outbox = self._outbox, []
        return [SendText(wire.encode_command(command).decode()) for command in out]

    def _request_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def _send_subscribe(self, channel: str, tickers: Iterable[str], now_ns: int | None = None) -> None:
        ordered = tuple(sorted(tickers))
        rid = self._request_id()
        self._pending[rid] = _Pending("subscribe", channel, ordered)
        self._outbox.append(wire.subscribe_command(rid, [channel], ordered or None))
        if channel == ORDERBOOK and now_ns is not None:
            for t in ordered:
                self._awaiting[t] = now_ns

    def _send_update(self, sub: Subscription, tickers: Sequence[str], action: str) -> None:
        if sub.sid is None:  # not yet confirmed: its subscribe reply will cover these tickers
            return
        rid = self._request_id()
        self._pending[rid] = _Pending("update_subscription", sub.channel, tuple(tickers), sub.sid, action)
        self._outbox.append(wire.update_subscription_command(rid, sub.sid, tickers, action))

    def _send_unsubscribe(self, sids: Sequence[int]) -> None:
        rid = self._request_id()
        self._pending[rid] = _Pending("unsubscribe")
        self._outbox.append(wire.unsubscribe_command(rid, sids))

    # -- subscriptions ---------------------------------------------------------------------------

    def subscribe(
        self, tickers: Iterable[str], channels: Sequence[str] = (ORDERBOOK,), now_ns: int | None = None
    ) -> None:
        """Follow these tickers on these channels (books start untrusted until their snapshot).
        Extends a live subscription of the channel with `add_markets` when there is one. Commands
        queued before `on_connect` are replaced by the full set when the socket opens."""
        wanted = list(dict.fromkeys(tickers))
        for channel in channels:
            if channel in self._all_markets:
                continue  # already streams every market
            have = self._wanted.setdefault(channel, set())
            new = [t for t in wanted if t not in have]
            if not new:
                continue
            have.update(new)
            if channel == ORDERBOOK:
                for t in new:
                    if t not in self.books:
                        self.books[t] = OrderBook(t, t, "kalshi")
            live_sid, live = self._live_sub(channel)
            if live is not None and new and live.tickers:
                live.tickers.update(new)
                if channel == ORDERBOOK:
                    for t in new:
                        self._book_sid[t] = live_sid
                        if now_ns is not None:
                            self._awaiting[t] = now_ns
                self._send_update(live, new, "add_markets")
            else:
                self._send_subscribe(channel, new, now_ns)

    def subscribe_all(self, channels: Sequence[str], now_ns: int | None = None) -> None:
        """Channels without a market filter (fill, user_orders, market_positions, lifecycle)."""
        for channel in channels:
            if channel in self._all_markets:
                continue
            self._all_markets.add(channel)
            self._wanted[channel] = set()
            self._send_subscribe(channel, (), now_ns)

    def _live_sub(self, channel: str) -> tuple[int, Subscription | None]:
        """(sid, subscription) of the channel's live subscription, or (0, None) without one."""
        for sid, sub in self._subs.items():
            if sub.channel == channel:
                return sid, sub
        return 0, None

    def subscriptions(self) -> list[Subscription]:
        return list(self._subs.values())

    def _resubscribe(self, sub: Subscription, reason: str, now_ns: int | None) -> None:
        """Drop a subscription (its late messages are ignored) and subscribe to it afresh."""
        if sub.sid is not None:
            self._subs.pop(sub.sid, None)
            self._send_unsubscribe([sub.sid])
        if sub.channel == ORDERBOOK:
            for t in sub.tickers:
                if self._book_sid.get(t) == sub.sid:
                    del self._book_sid[t]
                book = self.books.get(t)
                if book is not None:
                    book.mark_untrusted(reason)
        self.stats.resubscribes += 1
        if sub.channel == FILL_CHANNEL:
            self.mark_private_gap("resubscribe", live=False)
        self._send_subscribe(sub.channel, sub.tickers, now_ns)

    def _resnapshot(self, sub: Subscription, now_ns: int | None) -> None:
        tickers = sorted(sub.tickers)
        if not tickers or sub.sid is None:
            return
        self._send_update(sub, tickers, "get_snapshot")
        self.stats.resnapshots += len(tickers)
        if now_ns is not None:
            for t in tickers:
                self._awaiting[t] = now_ns

    # -- connection lifecycle --------------------------------------------------------------------

    def on_connect(self, now_ns: int) -> None:
        """A new socket is open: subscribe to everything wanted (every book re-snapshots)."""
        self.connected = True
        self.stats.connects += 1
        self._subs.clear()
        self._pending.clear()
        self._book_sid.clear()
        self._outbox.clear()
        self._awaiting.clear()
        self._renewed_at_ns = None
        self.watchdog.data(now_ns)  # silence is measured from the connect
        for channel, tickers in self._wanted.items():
            if tickers or channel != ORDERBOOK:  # an order book subscription needs tickers
                self._send_subscribe(channel, tickers, now_ns)

    def on_disconnect(self, reason: str = "disconnected") -> None:
        """The socket is gone: nothing streamed can be trusted until re-snapshotted."""
        if self.connected:
            self.stats.disconnects += 1
            if FILL_CHANNEL in self._wanted:
                self.mark_private_gap("disconnect", live=False)
        self.connected = False
        self._subs.clear()
        self._pending.clear()
        self._book_sid.clear()
        self._outbox.clear()
        self._awaiting.clear()
        for book in self.books.values():
            book.mark_untrusted(reason)

    def on_ping(self, now_ns: int) -> None:
        """The server's keep-alive ping arrived (the client's socket library answers it)."""
        self.stats.pings += 1
        self.watchdog.pong(now_ns)

    def check(self, now_ns: int) -> list[Command]:
        """Periodic health check; returns the commands to perform now (everything queued, like
        `outgoing`). A silent feed (no data for `silence_ns`; pings alone do not count) marks every
        book untrusted and renews the order book subscriptions (their unsubscribe/subscribe
        frames); if it stays silent for another `silence_ns`, a `Reconnect`. Overdue snapshots
        are requested again."""
        if not self.connected:
            return []
        if self.watchdog.trip(now_ns):
            self.stats.watchdog_trips += 1
            if FILL_CHANNEL in self._wanted:
                self.mark_private_gap("silence", live=False)
            reason = f"feed silent for more than {self.watchdog.silence_ns / 1e9:g} s"
            for book in self.books.values():
                book.mark_untrusted(reason)
            for sub in [s for s in self._subs.values() if s.channel == ORDERBOOK]:
                self._resubscribe(sub, reason, now_ns)
            self._renewed_at_ns = now_ns
            return list(self.outgoing())
        if self.watchdog.stale(now_ns):
            if self._renewed_at_ns is not None and now_ns - self._renewed_at_ns > self.watchdog.silence_ns:
                self._renewed_at_ns = None
                self.stats.reconnect_requests += 1
                return [*self.outgoing(), Reconnect("feed silent after renewing the subscriptions")]
            return list(self.outgoing())
        self._renewed_at_ns = None
        overdue = {t for t, at in self._awaiting.items() if now_ns - at > self.snapshot_timeout_ns}
        if overdue:
            for t in overdue:
                del self._awaiting[t]
            covered: set[str] = set()
            for sub in [s for s in self._subs.values() if s.channel == ORDERBOOK and s.tickers & overdue]:
                covered |= sub.tickers
                self._resubscribe(sub, "snapshot overdue", now_ns)
            orphans = overdue - covered  # their subscribe was never answered: ask again
            if orphans:
                self._send_subscribe(ORDERBOOK, orphans, now_ns)
        return list(self.outgoing())

    # -- receiving -------------------------------------------------------------------------------

    def _reject(self, err: WireError, raw: Any, now_ns: int) -> None:
        self.stats.rejected[type(err).__name__] += 1
        self.recent_errors.append(error_record(err, raw, now_ns))

    def receive(self, raw: bytes | str, now_ns: int) -> list[Any]:
        """One text frame in; the domain events it yields out (book events already applied).
        Never raises on bad input: the frame is counted in `stats.rejected` and dropped."""
        self.stats.frames += 1
        try:
            obj = wire.loads(raw)
        except WireError as err:
            self._reject(err, raw, now_ns)
            return []
        self.watchdog.data(now_ns)
        self._gap_live = True
        out: list[Any] = []
        try:
            if type(obj) is dict and obj.get("type") == "orderbook_delta":
                events: list[Any] = [wire.decode_orderbook_delta(obj)]
            else:
                kind = obj.get("type") if type(obj) is dict else None
                if type(kind) is str and kind in _PRIVATE_TYPES:
                    self._private_sequence(obj, now_ns, out)
                events = wire.decode_ws_message(obj)
        except WireError as err:
            self._reject(err, raw, now_ns)
            return out  # a sequence gap it revealed is still reported
        except RecursionError:  # a value nested ~1000 deep: reporting it (repr) overflows the stack
            self._reject(WireError("frame nests too deeply", venue="kalshi"), raw, now_ns)
            return []
        for event in events:
            self._handle(event, now_ns, out)
        self.stats.events += len(out)
        return out

    def admit_fill(self, fill: Fill) -> bool:
        """True the first time a fill id is seen (socket or REST), False for a repeat."""
        if fill.fill_id in self._fill_ids:
            self.stats.duplicate_fills += 1
            return False
        self._fill_ids.add(fill.fill_id)
        if fill.exchange_ts_ms is not None and (
            self.last_fill_ts_ms is None or fill.exchange_ts_ms > self.last_fill_ts_ms
        ):
            self.last_fill_ts_ms = fill.exchange_ts_ms
        return True

    def _private_sequence(self, obj: dict[str, Any], now_ns: int, out: list[Any]) -> None:
        """Follow the sequence of a private sid when the venue numbers its messages. Unlike market
        data, a private message is never dropped for its sid: a fill is a fill."""
        sid, seq = obj.get("sid"), obj.get("seq")
        if type(sid) is not int or type(seq) is not int:
            return
        sub = self._subs.get(sid)
        if sub is None:
            return
        last, sub.last_seq = sub.last_seq, seq
        if last is not None and seq != last + 1:
            self._on_gap(sub, last, seq, now_ns, out)

    def mark_private_gap(self, kind: str, *, live: bool, since_ms: int | None = None) -> None:
        """Fills may have been missed from now on (since the newest fill seen, or `since_ms` when
        given and earlier). `live`: the stream delivers again already (a sequence gap was noticed
        on a frame that arrived)."""
        self.stats.private_gaps[kind] += 1
        start = self.last_fill_ts_ms if since_ms is None else since_ms
        if self._gap is not None:
            before = self._gap.since_ms
            start = None if before is None or start is None else min(before, start)
            self._gap = PrivateGap(start, (*self._gap.reasons, kind))
        else:
            self._gap = PrivateGap(start, (kind,))
        self._gap_live = live

    @property
    def private_gap(self) -> PrivateGap | None:
        """The gap not yet handed out for a catch-up, if any."""
        return self._gap

    @property
    def streams_fills(self) -> bool:
        """Fills stream now: connected, the `fill` subscription confirmed, no gap pending."""
        return self.connected and self._gap is None and self._fill_subscribed()

    def _fill_subscribed(self) -> bool:
        return any(sub.channel == FILL_CHANNEL for sub in self._subs.values())

    def take_private_gap(self) -> PrivateGap | None:
        """The pending gap, once the stream can deliver again (the `fill` subscription confirmed
        and a frame received since the gap); cleared by taking it. The caller fetches the fills
        since `since_ms` and, if that fails, marks the gap again with the same start."""
        gap = self._gap
        if gap is None or not self._gap_live or not self.connected or not self._fill_subscribed():
            return None
        self._gap = None
        return gap

    def _handle(self, event: Any, now_ns: int, out: list[Any]) -> None:
        kind = type(event)
        if kind is BookChange:
            self._on_change(event, now_ns, out)
        elif kind is BookSnapshot:
            self._on_snapshot(event, now_ns, out)
        elif kind is VenueNotice:
            self._on_notice(event, now_ns, out)
        elif kind is Fill:
            if self.admit_fill(event):
                out.append(event)
        else:
            seq = getattr(event, "seq", None)
            sid = getattr(event, "sid", None)
            if seq is not None and sid is not None and not self._sequence_ok(sid, seq, now_ns, out):
                return
            if kind is MarketLifecycle and event.kind == "price_level_structure_updated":
                self._on_tick_change(event)
            out.append(event)

    def _on_tick_change(self, event: MarketLifecycle) -> None:
        bands = dict(event.detail).get("price_bands", "")
        steps = [int(band.split(":")[2]) for band in bands.split(";") if band.count(":") == 2]
        book = self.books.get(event.market_id)
        if book is not None and steps:
            book.tick_size_micro_usd = min(steps)  # every band's prices lie on the finest step's grid
            self.stats.tick_changes += 1

    def _sequence_ok(self, sid: int, seq: int | None, now_ns: int, out: list[Any]) -> bool:
        """Track the sid's sequence. False: the message belongs to no tracked sid (drop it)."""
        sub = self._subs.get(sid)
        if sub is None:
            self.stats.stale_sid += 1
            return False
        last = sub.last_seq
        sub.last_seq = seq
        if last is not None and seq != last + 1:
            self._on_gap(sub, last, seq, now_ns, out)
        return True

    def _on_gap(self, sub: Subscription, last: int, seq: int | None, now_ns: int, out: list[Any]) -> None:
        self.stats.gaps += 1
        reason = f"sequence gap on sid {sub.sid}: expected {last + 1}, got {seq}"
        out.append(VenueNotice(venue=_K, kind="sequence_gap", sid=sub.sid, seq=seq, message=reason))
        if sub.channel in PRIVATE_CHANNELS:
            self.mark_private_gap("sequence gap", live=True)
        if sub.channel != ORDERBOOK:
            return  # trades/lifecycle: nothing to rebuild, the gap is only reported
        for t in sub.tickers:
            book = self.books.get(t)
            if book is not None:
                book.mark_untrusted(reason)
        self._resnapshot(sub, now_ns)

    def _on_change(self, change: BookChange, now_ns: int, out: list[Any]) -> None:
        sid = change.sid
        if sid is None or self._book_sid.get(change.book_id) != sid:
            if sid is not None and sid in self._subs:
                self._sequence_ok(sid, change.seq, now_ns, out)
            self._drop_book_message(change.book_id, sid)
            return
        if not self._sequence_ok(sid, change.seq, now_ns, out):
            return
        book = self.books[change.book_id]
        try:
            book.apply_level(
                change.side, change.price_micro_usd, change.size_micro, change.mode, now_ns, change.exchange_ts_ms
            )
        except BookError:
            self.stats.rejected["BookError"] += 1
            return
        self.stats.changes += 1
        out.append(change)

    def _drop_book_message(self, ticker: str, sid: int | None) -> None:
        if sid is None or sid not in self._subs:
            self.stats.stale_sid += 1
        else:
            self.stats.unknown_book += 1

    def _on_snapshot(self, snap: BookSnapshot, now_ns: int, out: list[Any]) -> None:
        sid = snap.sid
        if sid is None or sid not in self._subs:
            self.stats.stale_sid += 1
            return
        if not self._sequence_ok(sid, snap.seq, now_ns, out):
            return
        if self._book_sid.get(snap.book_id) != sid:
            self.stats.unknown_book += 1
            return
        book = self.books[snap.book_id]
        try:
            book.apply_snapshot(snap, now_ns)
        except BookError:
            self.stats.rejected["BookError"] += 1
            book.mark_untrusted("invalid snapshot")
            return
        self._awaiting.pop(snap.book_id, None)
        self.stats.snapshots += 1
        out.append(snap)

    def _on_notice(self, notice: VenueNotice, now_ns: int, out: list[Any]) -> None:
        kind = notice.kind
        if kind == "subscribed":
            self._on_subscribed(notice)
        elif kind == "ok":
            sub = self._subs.get(notice.sid) if notice.sid is not None else None
            if (
                sub is not None
                and notice.seq is not None
                and sub.last_seq is not None
                and notice.seq == sub.last_seq + 1
            ):
                sub.last_seq = notice.seq
            if notice.request_id is not None:
                self._pending.pop(notice.request_id, None)
        elif kind == "unsubscribed":
            if notice.request_id is not None:
                self._pending.pop(notice.request_id, None)
            if notice.sid is not None:
                self._subs.pop(notice.sid, None)
        elif kind == "error":
            self._on_error(notice, now_ns)
        elif (
            notice.sid is not None
            and notice.seq is not None
            and not self._sequence_ok(notice.sid, notice.seq, now_ns, out)
        ):
            return
        out.append(notice)

    def _on_subscribed(self, notice: VenueNotice) -> None:
        pending = self._pending.pop(notice.request_id, None) if notice.request_id is not None else None
        channel = dict(notice.detail).get("channel", "")
        if pending is None or pending.cmd != "subscribe" or notice.sid is None:
            return  # not ours (or a reply after a reconnect); nothing to track
        sub = Subscription(channel=channel or pending.channel, tickers=set(pending.tickers), sid=notice.sid)
        self._subs[notice.sid] = sub
        if sub.channel == ORDERBOOK:
            for t in sub.tickers:
                self._book_sid[t] = notice.sid

    def _on_error(self, notice: VenueNotice, now_ns: int) -> None:
        self.stats.venue_errors[notice.code or 0] += 1
        pending = self._pending.pop(notice.request_id, None) if notice.request_id is not None else None
        if notice.code not in _TERMINAL_ERRORS:
            return
        # Terminal for a subscription: find which one, else renew every order book subscription.
        targets: list[Subscription] = []
        if notice.sid is not None and notice.sid in self._subs:
            targets = [self._subs[notice.sid]]
        elif pending is not None and pending.sid is not None and pending.sid in self._subs:
            targets = [self._subs[pending.sid]]
        else:
            targets = [s for s in self._subs.values() if s.channel == ORDERBOOK]
        for sub in targets:
            self._resubscribe(sub, f"venue error {notice.code}: {wire.error_text(notice.code)}", now_ns)


def decode_and_apply(target: KalshiSession | dict[str, OrderBook], raw: bytes | str, now_ns: int) -> list[Any]:
    """Decode one frame and apply its book events: through the session (sequence checks included)
    or, for a bare dict of books, straight onto the books (created on first sight)."""
    if isinstance(target, KalshiSession):
        return target.receive(raw, now_ns)
    events = wire.decode_ws(raw)
    for event in events:
        kind = type(event)
        if kind is BookChange:
            book = target.get(event.book_id)
            if book is None:
                book = target[event.book_id] = OrderBook(event.book_id, event.market_id, "kalshi")
            book.apply_level(
                event.side, event.price_micro_usd, event.size_micro, event.mode, now_ns, event.exchange_ts_ms
            )
        elif kind is BookSnapshot:
            book = target.get(event.book_id)
            if book is None:
                book = target[event.book_id] = OrderBook(event.book_id, event.market_id, "kalshi")
            book.apply_snapshot(event, now_ns)
    return events
