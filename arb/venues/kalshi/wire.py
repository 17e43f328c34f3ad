"""Kalshi wire format: pure decoding of WebSocket frames and REST bodies into `arb.domain` values,
and encoding of commands and order requests. No I/O, no state.

Protocol facts relied on (docs/venues.md#kalshi):

- Prices are `*_dollars` fixed-point strings (up to 6 decimals), counts `*_fp` strings (2 decimals).
  Older payloads carry integer cents (`price`, `yes_price`, orderbook `yes`/`no`) and integer counts
  (`count`, `delta`); some carry both. Decoders read the current field first and fall back to the
  legacy one; legacy fields are never required.
- Kalshi publishes only bids: YES bids and NO bids per market. A NO bid at p is a YES ask at 1 - p,
  so every book is normalised to ONE YES ladder keyed by the market ticker (see `arb.domain`):
  bids = YES bids, asks = (1 - p, size) for each NO bid. Level order on the wire is not relied on.
- `orderbook_delta` carries a signed change (`delta_fp`) to the resting size at one price on one side:
  side "yes" changes the BID at p, side "no" changes the ASK at 1 - p (mode ADD).
- WS envelope `{"type", "sid", "seq", "msg"}`; `seq` belongs to the subscription (sid), not the
  market. `ticker`, `fill`, `user_order` and `market_position` messages carry no `seq`.
- Timestamps: `ts_ms` (epoch ms) when present, else `ts` (epoch seconds, or an ISO-8601 string on
  `orderbook_delta`), REST times are ISO-8601 strings.
- Order direction: 2026 shapes carry `outcome_side` (buy-yes and sell-no give "yes") and
  `book_side` (bid = yes); the deprecated `side` (the contract bought or sold) and `action`
  (buy/sell) are read as a fallback, to tell which contract was traded (see `_direction`).
  Fills, orders and positions may carry `exchange_index` (the shard), kept on the domain value.
- Orders go out on the V2 event-order routes (`create_order_v2_body` and friends at the end of this
  module): single-book `bid|ask` side, YES `price`, fixed-point `count`; their answers decode to
  `OrderAck`, whose `fill_count` is a hint, never a fill.
- Fees: a series declares `fee_type` and `fee_multiplier`; `solvers.fees.kalshi_fee` turns them into
  rules. A market alone does not name its series' fee, so `decode_market` leaves the fee unknown
  (`taker_fee`/`maker_fee` None) until `apply_series` supplies the series. `flat` series (the
  "Specific Trading Fees Table", not machine-readable) and fee types this code does not know stay
  unknown too: an unknown fee is never priced as some default schedule (the multiplier alone can
  make a default understate it), and the graph does not trade such a market.
- Groups: `mutually_exclusive` states that at most one market of the event resolves YES, not that
  one must: open-ended events (people, markets added over time) are exclusive too, and resolve every
  market NO when an unlisted outcome happens. The decoded group is therefore not exhaustive
  (`GroupInfo.exhaustive` False); `arb.graph` decides exhaustiveness from strike metadata or a
  curated list.

Every rejection is a `FieldError` naming the dotted field path (`msg.yes_dollars_fp[2][0]`) or an
`UnknownShapeError` for an unknown message type; unknown extra fields are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import orjson

from arb.domain import (
    Action,
    Balance,
    BookChange,
    BookSide,
    BookSnapshot,
    ChangeMode,
    EventInfo,
    Fill,
    GroupInfo,
    GroupKind,
    Liquidity,
    MarketInfo,
    MarketLifecycle,
    MarketStatus,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    PriceBand,
    SeriesInfo,
    Side,
    StrikeInfo,
    TimeInForce,
    Trade,
    Venue,
    VenueNotice,
)
from arb.errors import ConfigError, FieldError, OrderRejectedError, UnknownShapeError
from arb.fixed import SCALE, micro_to_str, parse_micro, parse_price, parse_signed_micro
from arb.venues import fields
from solvers.errors import DataError
from solvers.fees import FeeRule, kalshi_fee

__all__ = [
    "DEFAULT_SELF_TRADE_PREVENTION",
    "ERROR_CODES",
    "ORDERBOOK_CHANNEL",
    "SELF_TRADE_PREVENTION_TYPES",
    "VENUE",
    "Candle",
    "Candlestick",
    "OrderAck",
    "VenueRefusal",
    "amend_order_v2_body",
    "apply_series",
    "batch_cancel_v2_body",
    "book_order",
    "create_order_body",
    "create_order_v2_body",
    "decode_balance",
    "decode_candlesticks",
    "decode_error",
    "decode_event",
    "decode_events_page",
    "decode_fill",
    "decode_fills_page",
    "decode_market",
    "decode_markets_page",
    "decode_order",
    "decode_order_ack",
    "decode_order_acks",
    "decode_order_response",
    "decode_orderbook",
    "decode_orderbook_delta",
    "decode_orderbooks",
    "decode_orders_page",
    "decode_positions_page",
    "decode_series",
    "decode_trades_page",
    "decode_ws",
    "decode_ws_message",
    "decrease_order_v2_body",
    "encode_command",
    "error_text",
    "fee_rules",
    "loads",
    "order_from_ack",
    "parse_order_body",
    "sent_order_update",
    "subscribe_command",
    "unsubscribe_command",
    "update_subscription_command",
]

VENUE = "kalshi"
_K = Venue.KALSHI
ORDERBOOK_CHANNEL = "orderbook_delta"

# WebSocket error codes (docs/venues.md#kalshi-ws-errors). 10 and 25 are terminal for the subscription: resubscribe.
ERROR_CODES: dict[int, str] = {
    1: "processing error",
    2: "params required",
    3: "channels required",
    4: "sids required",
    5: "unknown command",
    7: "unknown subscription id",
    8: "unknown channel",
    9: "authentication required",
    10: "channel error (terminal)",
    11: "invalid parameter",
    12: "exactly one sid required",
    13: "unsupported action",
    14: "market ticker required",
    15: "action required",
    18: "command timeout",
    25: "subscription buffer overflow (terminal: resubscribe)",
    26: "per-subscription market limit exceeded",
    27: "too many commands",
}


def error_text(code: int | None) -> str:
    """What a Kalshi WS error code means."""
    return ERROR_CODES.get(code, "unknown error code") if code is not None else "no error code"


# -- small field readers (the slow path: REST and rare WS types) ----------------------------------


def _fe(field: str, problem: str, value: Any = None) -> FieldError:
    return FieldError(field, problem, value, venue=VENUE)


def _obj(value: Any, path: str) -> dict[str, Any]:
    return fields.json_object(value, path, venue=VENUE)


def _list(value: Any, path: str, *, required: bool = True) -> list[Any]:
    if value is None and not required:
        return []
    return fields.json_array(value, path, venue=VENUE)


def _str(d: dict[str, Any], key: str, path: str, *, required: bool = True, nonempty: bool = False) -> str:
    value = d.get(key)
    if value is None:
        if required:
            raise _fe(f"{path}.{key}", "is missing")
        return ""
    if type(value) is not str:
        raise _fe(f"{path}.{key}", "must be a string", value)
    if nonempty and not value:
        raise _fe(f"{path}.{key}", "must not be empty", value)
    return value


def _first_str(d: dict[str, Any], keys: Sequence[str], path: str, *, required: bool = True) -> str:
    """The first present key of several synonyms (current name first)."""
    for key in keys:
        if d.get(key) is not None:
            return _str(d, key, path, nonempty=True)
    if required:
        raise _fe(f"{path}.{keys[0]}", "is missing")
    return ""


def _bool(d: dict[str, Any], key: str, path: str, default: bool | None = None) -> bool | None:
    value = d.get(key)
    if value is None:
        return default
    if type(value) is not bool:
        raise _fe(f"{path}.{key}", "must be a boolean", value)
    return value


def _int(d: dict[str, Any], key: str, path: str, *, required: bool = False, minimum: int | None = 0) -> int | None:
    value = d.get(key)
    if value is None:
        if required:
            raise _fe(f"{path}.{key}", "is missing")
        return None
    if type(value) is not int:
        raise _fe(f"{path}.{key}", "must be an integer", value)
    if minimum is not None and value < minimum:
        raise _fe(f"{path}.{key}", f"must be at least {minimum}", value)
    if value > 2**63:
        raise _fe(f"{path}.{key}", "is out of range", value)
    return value


def _iso_ms(value: Any, field: str) -> int:
    return fields.iso_ms(value, field, venue=VENUE)


def _time_ms(d: dict[str, Any], key: str, path: str) -> int | None:
    """An optional ISO time field as epoch ms (None when absent, null or empty)."""
    return fields.optional_iso_ms(d.get(key), f"{path}.{key}", venue=VENUE)


def _seconds_ms(d: dict[str, Any], key: str, path: str) -> int | None:
    value = _int(d, key, path)
    return None if value is None else value * 1_000


def _ws_ts_ms(msg: dict[str, Any], path: str) -> int | None:
    """`ts_ms` when sent, else `ts` as epoch seconds (int) or an ISO string."""
    ts_ms = msg.get("ts_ms")
    if ts_ms is not None:
        if type(ts_ms) is not int or ts_ms < 0 or ts_ms > 2**53:
            raise _fe(f"{path}.ts_ms", "must be a non-negative integer of milliseconds", ts_ms)
        return ts_ms
    ts = msg.get("ts")
    if ts is None:
        return None
    if type(ts) is int:
        if ts < 0 or ts > 2**40:
            raise _fe(f"{path}.ts", "must be non-negative epoch seconds", ts)
        return ts * 1_000
    if type(ts) is str:
        return _iso_ms(ts, f"{path}.ts")
    raise _fe(f"{path}.ts", "must be epoch seconds or an ISO-8601 string", ts)


def _count(
    d: dict[str, Any], fp_key: str, legacy_key: str | None, path: str, *, required: bool = True, signed: bool = False
) -> int | None:
    """A contract count: `*_fp` string first, legacy integer count second."""
    value = d.get(fp_key)
    if value is not None:
        field = f"{path}.{fp_key}"
        return parse_signed_micro(value, field, venue=VENUE) if signed else parse_micro(value, field, venue=VENUE)
    if legacy_key is not None:
        value = d.get(legacy_key)
        if value is not None:
            field = f"{path}.{legacy_key}"
            if type(value) is not int:
                raise _fe(field, "must be an integer count", value)
            if not signed and value < 0:
                raise _fe(field, "must not be negative", value)
            if abs(value) > 10**12:
                raise _fe(field, "is out of range", value)
            return value * SCALE
    if required:
        raise _fe(f"{path}.{fp_key}", "is missing")
    return None


def _cents(value: Any, field: str, *, signed: bool = False) -> int:
    if type(value) is not int:
        raise _fe(field, "must be an integer number of cents", value)
    if not signed and value < 0:
        raise _fe(field, "must not be negative", value)
    if abs(value) > 10**15:
        raise _fe(field, "is out of range", value)
    return value * 10_000


def _money(
    d: dict[str, Any], dollars_key: str, cents_key: str | None, path: str, *, signed: bool = False
) -> int | None:
    """An optional dollar amount: `*_dollars` string first, legacy integer cents second."""
    value = d.get(dollars_key)
    if value is not None:
        field = f"{path}.{dollars_key}"
        return parse_signed_micro(value, field, venue=VENUE) if signed else parse_micro(value, field, venue=VENUE)
    if cents_key is not None and d.get(cents_key) is not None:
        return _cents(d[cents_key], f"{path}.{cents_key}", signed=signed)
    return None


def _price(
    d: dict[str, Any], keys: Sequence[str], legacy_cents_key: str | None, path: str, *, required: bool = True
) -> int | None:
    """A price in [0, 1]: the first present dollar-string key, then legacy cents."""
    for key in keys:
        value = d.get(key)
        if value is not None:
            return parse_price(value, f"{path}.{key}", venue=VENUE)
    if legacy_cents_key is not None:
        value = d.get(legacy_cents_key)
        if value is not None:
            field = f"{path}.{legacy_cents_key}"
            if type(value) is not int:
                raise _fe(field, "must be an integer number of cents", value)
            if not 0 <= value <= 100:
                raise _fe(field, "must be within [0, 100] cents", value)
            return value * 10_000
    if required:
        raise _fe(f"{path}.{keys[0]}", "is missing")
    return None


def _side(value: Any, field: str) -> Side:
    if value == "yes":
        return Side.YES
    if value == "no":
        return Side.NO
    raise _fe(field, "must be 'yes' or 'no'", value)


def _action(value: Any, field: str) -> Action:
    if value == "buy":
        return Action.BUY
    if value == "sell":
        return Action.SELL
    raise _fe(field, "must be 'buy' or 'sell'", value)


def _exposure(side: Side, action: Action) -> Side:
    """The outcome an order or fill is positioned for: buy-yes and sell-no are "yes"."""
    if action is Action.BUY:
        return side
    return Side.NO if side is Side.YES else Side.YES


def _direction(d: dict[str, Any], path: str) -> tuple[Side, Action | None]:
    """(contract side, action). A record with the 2026 fields, `outcome_side` (buy-yes and sell-no
    give "yes") and `book_side` (the same two are bids on the single YES book), is stated on the YES
    contract from them alone: bid = buy YES at the YES price, ask = sell YES (the same trade as buying
    NO at 1 - that price; positions net). That is how the client states the orders it sends
    (`sent_order_update`), so one order has one shape on every path whatever the deprecated
    `side`/`action` say (a V2 ask may carry "no"/"buy" or "yes"/"sell"). Only a record without the
    2026 fields is read from the deprecated ones (the legacy shape)."""
    outcome_raw = d.get("outcome_side")
    outcome = _side(outcome_raw, f"{path}.outcome_side") if outcome_raw is not None else None
    book_raw = d.get("book_side")
    if book_raw is not None:
        if book_raw not in ("bid", "ask"):
            raise _fe(f"{path}.book_side", "must be 'bid' or 'ask'", book_raw)
        from_book = Side.YES if book_raw == "bid" else Side.NO
        if outcome is not None and outcome is not from_book:
            raise _fe(f"{path}.book_side", f"contradicts outcome_side {outcome.value!r}", book_raw)
        outcome = from_book
    if outcome is not None:
        return Side.YES, (Action.BUY if outcome is Side.YES else Action.SELL)
    if d.get("side") is None:
        raise _fe(f"{path}.outcome_side", "is missing")
    action = _action(d["action"], f"{path}.action") if d.get("action") is not None else None
    return _side(d["side"], f"{path}.side"), action  # legacy shape: only the deprecated fields


def _ticker(d: dict[str, Any], path: str) -> str:
    return _first_str(d, ("ticker", "market_ticker"), path)


# -- WebSocket -------------------------------------------------------------------------------------


def loads(raw: bytes | bytearray | memoryview | str, field: str = "frame") -> Any:
    """JSON text -> Python values; undecodable input is a `FieldError` (as on Polymarket)."""
    return fields.loads(raw, field, venue=VENUE)


def decode_ws(raw: bytes | bytearray | memoryview | str) -> list[Any]:
    """One WebSocket text frame as domain events."""
    return decode_ws_message(loads(raw))


def decode_ws_message(obj: Any) -> list[Any]:
    """One parsed WebSocket message (a dict) as domain events."""
    if type(obj) is not dict:
        raise UnknownShapeError(f"message must be a JSON object, was {type(obj).__name__}", venue=VENUE)
    kind = obj.get("type")
    if type(kind) is not str:
        raise _fe("type", "is missing" if kind is None else "must be a string", kind)
    decoder = _WS_DECODERS.get(kind)
    if decoder is None:
        raise UnknownShapeError(f"unknown message type {kind!r}", venue=VENUE, field="type")
    return decoder(obj)


def _envelope_int(obj: dict[str, Any], key: str, *, required: bool) -> int | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _fe(key, "is missing")
        return None
    if type(value) is not int or value < 0 or value > 2**53:
        raise _fe(key, "must be a non-negative integer", value)
    return value


def decode_orderbook_delta(obj: dict[str, Any]) -> BookChange:
    """The hot path: one `orderbook_delta` envelope (already parsed) as one BookChange."""
    msg = obj.get("msg")
    if type(msg) is not dict:
        raise _fe("msg", "is missing" if msg is None else "must be an object", msg)
    sid = obj.get("sid")
    if type(sid) is not int or sid < 0:
        raise _fe("sid", "is missing" if sid is None else "must be a non-negative integer", sid)
    seq = obj.get("seq")
    if type(seq) is not int or seq < 0:
        raise _fe("seq", "is missing" if seq is None else "must be a non-negative integer", seq)
    ticker = msg.get("market_ticker")
    if type(ticker) is not str or not ticker:
        raise _fe("msg.market_ticker", "is missing" if ticker is None else "must be a non-empty string", ticker)
    raw_price = msg.get("price_dollars")
    if raw_price is not None:
        price = parse_price(raw_price, "msg.price_dollars", venue=VENUE, inclusive=False)
    else:
        cents = msg.get("price")
        if type(cents) is not int:
            raise _fe("msg.price_dollars", "is missing" if cents is None else "legacy cents must be an integer", cents)
        if not 0 < cents < 100:
            raise _fe("msg.price", "must be within (0, 100) cents", cents)
        price = cents * 10_000
    raw_delta = msg.get("delta_fp")
    if raw_delta is not None:
        delta = parse_signed_micro(raw_delta, "msg.delta_fp", venue=VENUE)
    else:
        legacy = msg.get("delta")
        if type(legacy) is not int:
            raise _fe("msg.delta_fp", "is missing" if legacy is None else "legacy delta must be an integer", legacy)
        if abs(legacy) > 10**12:
            raise _fe("msg.delta", "is out of range", legacy)
        delta = legacy * SCALE
    side = msg.get("side")
    if side == "yes":
        book_side = BookSide.BID
    elif side == "no":
        book_side = BookSide.ASK
        price = SCALE - price
    else:
        raise _fe("msg.side", "must be 'yes' or 'no'", side)
    ts_ms = msg.get("ts_ms")
    if ts_ms is not None and type(ts_ms) is int and 0 <= ts_ms <= 2**53:
        exchange_ts = ts_ms
    elif ts_ms is None and msg.get("ts") is None:
        exchange_ts = None
    else:
        exchange_ts = _ws_ts_ms(msg, "msg")
    return BookChange(_K, ticker, ticker, book_side, price, delta, ChangeMode.ADD, exchange_ts, seq, sid)


def _levels(raw: Any, field: str, *, legacy_cents: bool = False) -> list[tuple[int, int]]:
    """[[price, count], ...]: price a dollar string (or cents with `legacy_cents`), count an `_fp`
    string or a legacy integer."""
    if raw is None:
        return []
    if type(raw) is not list:
        raise _fe(field, "must be a list of [price, count] levels", raw)
    out = []
    for i, level in enumerate(raw):
        if type(level) is not list or len(level) != 2:
            raise _fe(f"{field}[{i}]", "must be a [price, count] pair", level)
        price_raw, count_raw = level
        if legacy_cents:
            if type(price_raw) is not int or not 0 < price_raw < 100:
                raise _fe(f"{field}[{i}][0]", "must be integer cents within (0, 100)", price_raw)
            price = price_raw * 10_000
        else:
            price = parse_price(price_raw, f"{field}[{i}][0]", venue=VENUE, inclusive=False)
        if type(count_raw) is int:
            if count_raw < 0 or count_raw > 10**12:
                raise _fe(f"{field}[{i}][1]", "must be a non-negative count", count_raw)
            size = count_raw * SCALE
        else:
            size = parse_micro(count_raw, f"{field}[{i}][1]", venue=VENUE)
        out.append((price, size))
    return out


def _book_side(book: dict[str, Any], side: str, path: str, current_keys: Sequence[str]) -> list[tuple[int, int]]:
    """One side's bids from the first field set present: current `_fp`/`_dollars` keys, then the
    legacy dollar-string-with-int-count key, then legacy cents. Absent or null means empty."""
    for key in current_keys:
        if book.get(key) is not None:
            return _levels(book[key], f"{path}.{key}")
    if book.get(side) is not None:
        return _levels(book[side], f"{path}.{side}", legacy_cents=True)
    return []


def _snapshot(
    book: dict[str, Any],
    ticker: str,
    path: str,
    keys: tuple[Sequence[str], Sequence[str]],
    *,
    ts_ms: int | None = None,
    seq: int | None = None,
    sid: int | None = None,
) -> BookSnapshot:
    yes = _book_side(book, "yes", path, keys[0])
    no = _book_side(book, "no", path, keys[1])
    return BookSnapshot(
        venue=_K,
        book_id=ticker,
        market_id=ticker,
        bids=tuple(sorted(yes)),
        asks=tuple(sorted((SCALE - p, s) for p, s in no)),
        exchange_ts_ms=ts_ms,
        seq=seq,
        sid=sid,
    )


def _ws_orderbook_snapshot(obj: dict[str, Any]) -> list[Any]:
    msg = _obj(obj.get("msg"), "msg")
    ticker = _str(msg, "market_ticker", "msg", nonempty=True)
    snap = _snapshot(
        msg,
        ticker,
        "msg",
        (("yes_dollars_fp", "yes_dollars"), ("no_dollars_fp", "no_dollars")),
        ts_ms=_ws_ts_ms(msg, "msg"),
        seq=_envelope_int(obj, "seq", required=True),
        sid=_envelope_int(obj, "sid", required=True),
    )
    return [snap]


def _ws_orderbook_delta(obj: dict[str, Any]) -> list[Any]:
    return [decode_orderbook_delta(obj)]


_TICKER_FIELDS = (
    # (wire key, legacy cents/int key, detail name, kind)
    ("price_dollars", "price", "price_micro_usd", "price"),
    ("yes_bid_dollars", "yes_bid", "yes_bid_micro_usd", "price"),
    ("yes_ask_dollars", "yes_ask", "yes_ask_micro_usd", "price"),
    ("yes_bid_size_fp", None, "yes_bid_size_micro", "count"),
    ("yes_ask_size_fp", None, "yes_ask_size_micro", "count"),
    ("last_trade_size_fp", None, "last_trade_size_micro", "count"),
    ("volume_fp", "volume", "volume_micro", "count"),
    ("open_interest_fp", "open_interest", "open_interest_micro", "count"),
)


def _ws_ticker(obj: dict[str, Any]) -> list[Any]:
    msg = _obj(obj.get("msg"), "msg")
    ticker = _str(msg, "market_ticker", "msg", nonempty=True)
    detail: list[tuple[str, str]] = []
    for key, legacy, name, kind in _TICKER_FIELDS:
        if kind == "price":
            value = _price(msg, (key,), legacy, "msg", required=False)
        else:
            value = _count(msg, key, legacy, "msg", required=False)
        if value is not None:
            detail.append((name, str(value)))
    ts_ms = _ws_ts_ms(msg, "msg")
    if ts_ms is not None:
        detail.append(("ts_ms", str(ts_ms)))
    return [
        VenueNotice(
            venue=_K,
            kind="ticker",
            sid=_envelope_int(obj, "sid", required=False),
            seq=_envelope_int(obj, "seq", required=False),
            market_id=ticker,
            book_id=ticker,
            detail=tuple(detail),
        )
    ]


def _trade(d: dict[str, Any], path: str, *, ts_ms: int | None, seq: int | None = None, sid: int | None = None) -> Trade:
    ticker = _ticker(d, path)
    price = _price(d, ("yes_price_dollars",), "yes_price", path)
    if price is None:
        raise _fe(f"{path}.yes_price_dollars", "is missing")
    size = _count(d, "count_fp", "count", path)
    if size is None:
        raise _fe(f"{path}.count_fp", "is missing")
    taker_raw = d.get("taker_outcome_side", d.get("taker_side"))
    taker = _side(taker_raw, f"{path}.taker_side") if taker_raw is not None else None
    return Trade(
        venue=_K,
        book_id=ticker,
        market_id=ticker,
        trade_id=_str(d, "trade_id", path, nonempty=True),
        price_micro_usd=price,
        size_micro=size,
        taker_action=None,
        taker_outcome=taker,
        exchange_ts_ms=ts_ms,
        seq=seq,
        sid=sid,
    )


def _ws_trade(obj: dict[str, Any]) -> list[Any]:
    msg = _obj(obj.get("msg"), "msg")
    return [
        _trade(
            msg,
            "msg",
            ts_ms=_ws_ts_ms(msg, "msg"),
            seq=_envelope_int(obj, "seq", required=False),
            sid=_envelope_int(obj, "sid", required=False),
        )
    ]


def _outcome_price(
    d: dict[str, Any],
    side: Side,
    path: str,
    *,
    yes_keys: Sequence[str],
    no_keys: Sequence[str],
    yes_cents: str,
    no_cents: str,
    required: bool = True,
) -> int | None:
    """Price of the contract bought/sold: the YES price for side yes, the NO price for side no
    (sent, or 1 - YES price when only the YES price is sent)."""
    if side is Side.YES:
        return _price(d, yes_keys, yes_cents, path, required=required)
    no_price = _price(d, no_keys, no_cents, path, required=False)
    if no_price is not None:
        return no_price
    yes_price = _price(d, yes_keys, yes_cents, path, required=required)
    return None if yes_price is None else SCALE - yes_price


def _client_order_id(d: dict[str, Any], path: str) -> str | None:
    """The optional echo of our client_order_id ("" or absent: None)."""
    value = d.get("client_order_id")
    if value is not None and type(value) is not str:
        raise _fe(f"{path}.client_order_id", "must be a string", value)
    return value or None


def decode_fill(d: dict[str, Any], path: str = "fill", *, seq: int | None = None, ts_ms: int | None = None) -> Fill:
    """A fill from REST `/portfolio/fills` or the WS `fill` channel (same fields, older names
    tolerated: `trade_id` for `fill_id`, `market_ticker` for `ticker`, cents and `_fixed` prices)."""
    d = _obj(d, path)
    ticker = _ticker(d, path)
    side, action = _direction(d, path)
    price = _outcome_price(
        d,
        side,
        path,
        yes_keys=("yes_price_dollars", "yes_price_fixed"),
        no_keys=("no_price_dollars", "no_price_fixed"),
        yes_cents="yes_price",
        no_cents="no_price",
    )
    if price is None:
        raise _fe(f"{path}.yes_price_dollars", "is missing")
    size = _count(d, "count_fp", "count", path)
    if size is None:
        raise _fe(f"{path}.count_fp", "is missing")
    fee = d.get("fee_cost")
    fee_micro = parse_micro(fee, f"{path}.fee_cost", venue=VENUE) if fee is not None else None
    taker = _bool(d, "is_taker", path)
    if ts_ms is None:
        # ms precision first: ts_ms, then the ISO created_time, then legacy whole seconds
        if d.get("ts_ms") is not None:
            ts_ms = _ws_ts_ms(d, path)
        else:
            ts_ms = _time_ms(d, "created_time", path)
            if ts_ms is None and d.get("ts") is not None:
                ts_ms = _ws_ts_ms(d, path)
    client_order_id = _client_order_id(d, path)
    return Fill(
        venue=_K,
        fill_id=_first_str(d, ("fill_id", "trade_id"), path),
        order_id=_str(d, "order_id", path, nonempty=True),
        client_order_id=client_order_id,
        market_id=ticker,
        book_id=ticker,
        outcome=side,
        action=action,
        price_micro_usd=price,
        size_micro=size,
        fee_micro_usd=fee_micro,
        liquidity=None if taker is None else (Liquidity.TAKER if taker else Liquidity.MAKER),
        exchange_ts_ms=ts_ms,
        seq=seq,
        exchange_index=_int(d, "exchange_index", path),
    )


def _ws_fill(obj: dict[str, Any]) -> list[Any]:
    msg = _obj(obj.get("msg"), "msg")
    return [decode_fill(msg, "msg", seq=_envelope_int(obj, "seq", required=False))]


_ORDER_STATUS = {
    "resting": OrderStatus.OPEN,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "executed": OrderStatus.FILLED,
    "pending": OrderStatus.PENDING,
    "unknown": OrderStatus.UNKNOWN,
}


def decode_order(d: dict[str, Any], path: str = "order") -> OrderUpdate:
    """A REST Order or a WS `user_order` message as an OrderUpdate. `resting` stays OPEN when
    partly filled (`filled_size_micro` says how much); `executed` is FILLED."""
    d = _obj(d, path)
    ticker = _ticker(d, path)
    status_raw = d.get("status")
    status = _ORDER_STATUS.get(status_raw) if type(status_raw) is str else None
    if status is None:
        raise _fe(
            f"{path}.status", "is not a known order status" if status_raw is not None else "is missing", status_raw
        )
    side, action = _direction(d, path)
    price = _outcome_price(
        d,
        side,
        path,
        yes_keys=("yes_price_dollars",),
        no_keys=("no_price_dollars",),
        yes_cents="yes_price",
        no_cents="no_price",
        required=False,
    )
    filled = _count(d, "fill_count_fp", "fill_count", path, required=False)
    remaining = _count(d, "remaining_count_fp", "remaining_count", path, required=False)
    initial = _count(d, "initial_count_fp", "initial_count", path, required=False)
    if initial is None and filled is not None and remaining is not None:
        initial = filled + remaining
    fees = None
    for key, legacy in (("taker_fees_dollars", "taker_fees"), ("maker_fees_dollars", "maker_fees")):
        part = _money(d, key, legacy, path)
        if part is not None:
            fees = (fees or 0) + part
    ts_ms = None
    for key in ("last_updated_ts_ms", "created_ts_ms"):
        ts_ms = _int(d, key, path)
        if ts_ms is not None:
            break
    if ts_ms is None:
        ts_ms = _time_ms(d, "last_update_time", path) or _time_ms(d, "created_time", path)
    client_order_id = _client_order_id(d, path)
    return OrderUpdate(
        venue=_K,
        order_id=_str(d, "order_id", path, nonempty=True),
        client_order_id=client_order_id,
        market_id=ticker,
        book_id=ticker,
        outcome=side,
        action=action,
        status=status,
        price_micro_usd=price,
        initial_size_micro=initial,
        filled_size_micro=filled,
        remaining_size_micro=remaining,
        exchange_ts_ms=ts_ms,
        reason=_str(d, "last_update_reason", path, required=False) if type(d.get("last_update_reason")) is str else "",
        fees_micro_usd=fees,
        exchange_index=_int(d, "exchange_index", path),
    )


def _ws_user_order(obj: dict[str, Any]) -> list[Any]:
    return [decode_order(_obj(obj.get("msg"), "msg"), "msg")]


def _position(d: dict[str, Any], path: str) -> Position:
    d = _obj(d, path)
    ticker = _ticker(d, path)
    position = _count(d, "position_fp", "position", path, signed=True)
    if position is None:
        raise _fe(f"{path}.position_fp", "is missing")
    cost = _money(d, "position_cost_dollars", None, path)
    if cost is None:
        cost = _money(d, "market_exposure_dollars", "market_exposure", path)
    return Position(
        venue=_K,
        market_id=ticker,
        position_micro=position,
        book_id=ticker,
        cost_micro_usd=cost,
        realized_pnl_micro_usd=_money(d, "realized_pnl_dollars", "realized_pnl", path, signed=True),
        fees_paid_micro_usd=_money(d, "fees_paid_dollars", "fees_paid", path),
        exchange_index=_int(d, "exchange_index", path),
    )


def _ws_market_position(obj: dict[str, Any]) -> list[Any]:
    return [_position(_obj(obj.get("msg"), "msg"), "msg")]


def _plain(value: Any, field: str) -> str:
    """A scalar metadata value as text (numbers through their shortest repr; NaN refused)."""
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        if not math.isfinite(value):
            raise _fe(field, "is not finite", value)
        return repr(value)
    raise _fe(field, "must be a string, number or boolean", value)


def _bands_text(bands: Iterable[PriceBand]) -> str:
    return ";".join(f"{b.start_micro_usd}:{b.end_micro_usd}:{b.step_micro_usd}" for b in bands)


def _ws_market_lifecycle(obj: dict[str, Any]) -> list[Any]:
    msg = _obj(obj.get("msg"), "msg")
    ticker = _str(msg, "market_ticker", "msg", nonempty=True)
    kind = _str(msg, "event_type", "msg", nonempty=True)
    detail: list[tuple[str, str]] = []
    ts_ms = None
    for key in ("open_ts", "close_ts", "determination_ts", "settled_ts"):
        seconds = _int(msg, key, "msg")
        if seconds is not None:
            detail.append((f"{key}_ms", str(seconds * 1_000)))
            ts_ms = seconds * 1_000  # the last of these present is the event's own time
    for key in (
        "price_level_structure",
        "settlement_value",
        "is_deactivated",
        "strike_type",
        "floor_strike",
        "cap_strike",
        "yes_sub_title",
    ):
        if msg.get(key) is not None:
            detail.append((key, _plain(msg[key], f"msg.{key}")))
    if msg.get("settlement_value") is not None:
        parse_price(msg["settlement_value"], "msg.settlement_value", venue=VENUE)
    if msg.get("price_ranges") is not None or msg.get("price_level_structure") is not None:
        bands = _price_bands(msg, "msg")
        if bands:
            detail.append(("price_bands", _bands_text(bands)))
    meta = msg.get("additional_metadata")
    if meta is not None:
        meta = _obj(meta, "msg.additional_metadata")
        for key in (
            "event_ticker",
            "title",
            "yes_sub_title",
            "rules_primary",
            "rules_secondary",
            "expected_expiration_ts",
            "strike_type",
            "floor_strike",
            "cap_strike",
        ):
            if meta.get(key) is not None:
                detail.append((key, _plain(meta[key], f"msg.additional_metadata.{key}")))
    result = msg.get("result")
    if result is not None and type(result) is not str:
        raise _fe("msg.result", "must be a string", result)
    return [
        MarketLifecycle(
            venue=_K, market_id=ticker, kind=kind, exchange_ts_ms=ts_ms, result=result or "", detail=tuple(detail)
        )
    ]


def _ws_event_lifecycle(obj: dict[str, Any]) -> list[Any]:
    msg = _obj(obj.get("msg"), "msg")
    event = _str(msg, "event_ticker", "msg", nonempty=True)
    detail = []
    for key in ("series_ticker", "title", "subtitle", "collateral_return_type", "strike_period"):
        if msg.get(key) is not None:
            detail.append((key, _str(msg, key, "msg")))
    strike_date = _seconds_ms(msg, "strike_date", "msg")
    if strike_date is not None:
        detail.append(("strike_date_ms", str(strike_date)))
    return [MarketLifecycle(venue=_K, market_id=event, kind="event_created", detail=tuple(detail))]


def _ws_event_fee_update(obj: dict[str, Any]) -> list[Any]:
    msg = _obj(obj.get("msg"), "msg")
    event = _str(msg, "event_ticker", "msg", nonempty=True)
    fee_type = msg.get("fee_type_override")
    if fee_type is not None and type(fee_type) is not str:
        raise _fe("msg.fee_type_override", "must be a string or null", fee_type)
    multiplier = msg.get("fee_multiplier_override")
    detail = [("fee_type_override", fee_type or "")]
    detail.append(
        (
            "fee_multiplier_override",
            "" if multiplier is None else str(_decimal(multiplier, "msg.fee_multiplier_override")),
        )
    )
    return [MarketLifecycle(venue=_K, market_id=event, kind="event_fee_update", detail=tuple(detail))]


def _ws_subscribed(obj: dict[str, Any]) -> list[Any]:
    msg = _obj(obj.get("msg"), "msg")
    sid = _envelope_int(msg, "sid", required=True)
    channel = _str(msg, "channel", "msg", nonempty=True)
    return [
        VenueNotice(
            venue=_K,
            kind="subscribed",
            sid=sid,
            request_id=_envelope_int(obj, "id", required=False),
            detail=(("channel", channel),),
        )
    ]


def _ws_ok(obj: dict[str, Any]) -> list[Any]:
    msg = obj.get("msg")
    detail: tuple[tuple[str, str], ...] = ()
    if type(msg) is dict:
        tickers = _list(msg.get("market_tickers"), "msg.market_tickers", required=False)
        for i, t in enumerate(tickers):
            if type(t) is not str:
                raise _fe(f"msg.market_tickers[{i}]", "must be a string", t)
        detail = (("market_tickers", ",".join(tickers)),) if tickers else ()
    elif type(msg) is list:  # list_subscriptions answers with [{channel, sid}, ...]
        subs = []
        for i, item in enumerate(msg):
            item = _obj(item, f"msg[{i}]")
            subs.append(f"{_str(item, 'channel', f'msg[{i}]')}:{_envelope_int(item, 'sid', required=True)}")
        detail = (("subscriptions", ",".join(subs)),)
    elif msg is not None:
        raise _fe("msg", "must be an object or a list", msg)
    return [
        VenueNotice(
            venue=_K,
            kind="ok",
            sid=_envelope_int(obj, "sid", required=False),
            seq=_envelope_int(obj, "seq", required=False),
            request_id=_envelope_int(obj, "id", required=False),
            detail=detail,
        )
    ]


def _ws_unsubscribed(obj: dict[str, Any]) -> list[Any]:
    return [
        VenueNotice(
            venue=_K,
            kind="unsubscribed",
            sid=_envelope_int(obj, "sid", required=False),
            seq=_envelope_int(obj, "seq", required=False),
            request_id=_envelope_int(obj, "id", required=False),
        )
    ]


def _ws_error(obj: dict[str, Any]) -> list[Any]:
    msg = _obj(obj.get("msg"), "msg")
    code = _int(msg, "code", "msg", required=True)
    text = msg.get("msg")
    if text is not None and type(text) is not str:
        raise _fe("msg.msg", "must be a string", text)
    sid = _envelope_int(obj, "sid", required=False)
    if sid is None:
        sid = _envelope_int(msg, "sid", required=False)
    return [
        VenueNotice(
            venue=_K,
            kind="error",
            sid=sid,
            request_id=_envelope_int(obj, "id", required=False),
            code=code,
            message=text or error_text(code),
            detail=(("meaning", error_text(code)),),
        )
    ]


_WS_DECODERS = {
    "orderbook_snapshot": _ws_orderbook_snapshot,
    "orderbook_delta": _ws_orderbook_delta,
    "ticker": _ws_ticker,
    "trade": _ws_trade,
    "fill": _ws_fill,
    "user_order": _ws_user_order,
    "market_position": _ws_market_position,
    "market_lifecycle_v2": _ws_market_lifecycle,
    "multivariate_market_lifecycle": _ws_market_lifecycle,
    "event_lifecycle": _ws_event_lifecycle,
    "event_fee_update": _ws_event_fee_update,
    "subscribed": _ws_subscribed,
    "ok": _ws_ok,
    "unsubscribed": _ws_unsubscribed,
    "error": _ws_error,
}


# -- REST: metadata --------------------------------------------------------------------------------

_STATUS = {
    "initialized": MarketStatus.UNOPENED,
    "unopened": MarketStatus.UNOPENED,
    "active": MarketStatus.OPEN,
    "open": MarketStatus.OPEN,
    "inactive": MarketStatus.PAUSED,  # deactivated: trading paused on an open market
    "paused": MarketStatus.PAUSED,
    "closed": MarketStatus.CLOSED,
    "determined": MarketStatus.CLOSED,  # outcome known, not yet paid out
    "disputed": MarketStatus.CLOSED,
    "amended": MarketStatus.CLOSED,
    "finalized": MarketStatus.SETTLED,
    "settled": MarketStatus.SETTLED,
}

_CENT = 10_000
_DECI_CENT = 1_000
# Tick structures named by `price_level_structure` when `price_ranges` is absent (docs/venues.md#kalshi-ticks).
_STRUCTURES: dict[str, tuple[PriceBand, ...]] = {
    "linear_cent": (PriceBand(0, SCALE, _CENT),),
    "deci_cent": (PriceBand(0, SCALE, _DECI_CENT),),
    "tapered_deci_cent": (
        PriceBand(0, 100_000, _DECI_CENT),
        PriceBand(100_000, 900_000, _CENT),
        PriceBand(900_000, SCALE, _DECI_CENT),
    ),
}


def _price_bands(d: dict[str, Any], path: str) -> tuple[PriceBand, ...]:
    ranges = d.get("price_ranges")
    if ranges:
        bands = []
        for i, band in enumerate(_list(ranges, f"{path}.price_ranges")):
            band = _obj(band, f"{path}.price_ranges[{i}]")
            where = f"{path}.price_ranges[{i}]"
            start = parse_price(band.get("start"), f"{where}.start", venue=VENUE)
            end = parse_price(band.get("end"), f"{where}.end", venue=VENUE)
            step = parse_price(band.get("step"), f"{where}.step", venue=VENUE, inclusive=False)
            if end < start:
                raise _fe(f"{where}.end", "is below start", band.get("end"))
            bands.append(PriceBand(start, end, step))
        return tuple(bands)
    structure = d.get("price_level_structure")
    if structure is None or structure == "":
        return ()
    if type(structure) is not str:
        raise _fe(f"{path}.price_level_structure", "must be a string", structure)
    bands_for = _STRUCTURES.get(structure)
    if bands_for is None:
        raise _fe(f"{path}.price_level_structure", "is unknown and price_ranges is absent", structure)
    return bands_for


def _decimal(value: Any, field: str) -> Decimal:
    if type(value) is int:
        return Decimal(value)
    if type(value) is float:
        if not math.isfinite(value):
            raise _fe(field, "is not finite", value)
        return Decimal(repr(value))
    if type(value) is str:
        try:
            out = Decimal(value)
        except ArithmeticError:
            raise _fe(field, "is not a number", value) from None
        if not out.is_finite():
            raise _fe(field, "is not finite", value)
        return out
    raise _fe(field, "must be a number", value)


def _strike(d: dict[str, Any], path: str) -> StrikeInfo | None:
    strike_type = d.get("strike_type")
    if strike_type is None or strike_type == "":
        return None
    if type(strike_type) is not str:
        raise _fe(f"{path}.strike_type", "must be a string", strike_type)
    floor = d.get("floor_strike")
    cap = d.get("cap_strike")
    custom_raw = d.get("custom_strike")
    custom: tuple[tuple[str, str], ...] = ()
    if custom_raw is not None:
        custom_obj = _obj(custom_raw, f"{path}.custom_strike")
        try:
            custom = tuple(
                sorted((str(k), v if type(v) is str else orjson.dumps(v).decode()) for k, v in custom_obj.items())
            )
        except TypeError:  # orjson.JSONEncodeError: nested too deeply (or an int beyond 64 bits)
            raise _fe(f"{path}.custom_strike", "holds a value that cannot be kept as JSON text") from None
    return StrikeInfo(
        strike_type=strike_type,
        floor=None if floor is None else _decimal(floor, f"{path}.floor_strike"),
        cap=None if cap is None else _decimal(cap, f"{path}.cap_strike"),
        custom=custom,
    )


def fee_rules(fee_type: str, multiplier: Decimal) -> tuple[FeeRule | None, FeeRule | None]:
    """(taker, maker) rules for a series fee type; (None, None), the fee unknown, for `flat` (its
    table is not machine-readable) and for types this code does not know."""
    try:
        return kalshi_fee(multiplier=multiplier, fee_type=fee_type), kalshi_fee(
            multiplier=multiplier, fee_type=fee_type, maker=True
        )
    except DataError:
        return None, None


def decode_market(
    d: dict[str, Any], path: str = "market", *, series: SeriesInfo | None = None, group: GroupInfo | None = None
) -> MarketInfo:
    """One Market object. Fees come from `series` when given, else they are unknown (None) until
    `apply_series` supplies them."""
    d = _obj(d, path)
    ticker = _str(d, "ticker", path, nonempty=True)
    status_raw = d.get("status")
    status = _STATUS.get(status_raw) if type(status_raw) is str else None
    if status is None:
        raise _fe(
            f"{path}.status", "is not a known market status" if status_raw is not None else "is missing", status_raw
        )
    bands = _price_bands(d, path)
    if not bands:
        bands = _STRUCTURES["linear_cent"]  # neither field sent: the historical one-cent grid
    fractional = bool(_bool(d, "fractional_trading_enabled", path, default=False))
    lot = 10_000 if fractional else SCALE
    rules = _str(d, "rules_primary", path, required=False)
    secondary = _str(d, "rules_secondary", path, required=False)
    if secondary:
        rules = f"{rules}\n\n{secondary}" if rules else secondary
    yes_sub = _str(d, "yes_sub_title", path, required=False)
    title = _str(d, "title", path, required=False) or yes_sub
    expiration = None
    for key in ("expected_expiration_time", "latest_expiration_time", "expiration_time"):
        expiration = _time_ms(d, key, path)
        if expiration is not None:
            break
    taker, maker = fee_rules(series.fee_type, series.fee_multiplier) if series is not None else (None, None)
    if group is not None and yes_sub and not group.label:
        group = replace(group, label=yes_sub)
    return MarketInfo(
        venue=_K,
        market_id=ticker,
        event_id=_str(d, "event_ticker", path, required=False),
        title=title,
        subtitle=yes_sub or _str(d, "subtitle", path, required=False),
        rules_text=rules,
        status=status,
        open_time_ms=_time_ms(d, "open_time", path),
        close_time_ms=_time_ms(d, "close_time", path),
        expiration_time_ms=expiration,
        price_bands=bands,
        min_order_size_micro=lot,
        fractional=fractional,
        lot_size_micro=lot,
        taker_fee=taker,
        maker_fee=maker,
        series_id=series.series_id if series is not None else _str(d, "series_ticker", path, required=False),
        group=group,
        strike=_strike(d, path),
        accepting_orders=status is MarketStatus.OPEN,
    )


def apply_series(market: MarketInfo, series: SeriesInfo) -> MarketInfo:
    """The market with its series' fee rules and id."""
    taker, maker = fee_rules(series.fee_type, series.fee_multiplier)
    return replace(market, taker_fee=taker, maker_fee=maker, series_id=series.series_id)


def _cursor(obj: dict[str, Any]) -> str:
    cursor = obj.get("cursor")
    if cursor is None:
        return ""
    if type(cursor) is not str:
        raise _fe("cursor", "must be a string", cursor)
    return cursor


def decode_markets_page(obj: Any, *, series: SeriesInfo | None = None) -> tuple[list[MarketInfo], str]:
    """`{"markets": [...], "cursor"}` (or a bare list of markets, or `{"market": {...}}`) as
    (markets, next cursor; "" at the end)."""
    if type(obj) is list:
        return [decode_market(m, f"[{i}]", series=series) for i, m in enumerate(obj)], ""
    obj = _obj(obj, "body")
    if "market" in obj and "markets" not in obj:
        return [decode_market(obj["market"], "market", series=series)], ""
    markets = _list(obj.get("markets"), "markets")
    return [decode_market(m, f"markets[{i}]", series=series) for i, m in enumerate(markets)], _cursor(obj)


def decode_event(
    d: dict[str, Any], path: str = "event", *, series: SeriesInfo | None = None, markets: Sequence[Any] | None = None
) -> EventInfo:
    """An EventData object; `mutually_exclusive` events are exclusive groups (at most one market
    resolves YES; not exhaustive, see the module docstring). Nested `markets`
    (with_nested_markets=true) are decoded with the group."""
    d = _obj(d, path)
    event_id = _str(d, "event_ticker", path, nonempty=True)
    exclusive = _bool(d, "mutually_exclusive", path, default=False)
    group = GroupInfo(group_id=event_id, kind=GroupKind.MUTUALLY_EXCLUSIVE, exhaustive=False) if exclusive else None
    raw_markets = d.get("markets")
    market_path = f"{path}.markets"
    if raw_markets is None and markets is not None:
        raw_markets, market_path = list(markets), "markets"
    decoded = tuple(
        decode_market(m, f"{market_path}[{i}]", series=series, group=group)
        for i, m in enumerate(_list(raw_markets, market_path, required=False))
    )
    series_id = _str(d, "series_ticker", path, required=False)
    if series is None and series_id:
        decoded = tuple(replace(m, series_id=series_id) for m in decoded)
    return EventInfo(
        venue=_K,
        event_id=event_id,
        title=_str(d, "title", path, required=False),
        series_id=series_id,
        group=group,
        market_ids=tuple(m.market_id for m in decoded),
        markets=decoded,
    )


def decode_events_page(obj: Any, *, series: SeriesInfo | None = None) -> tuple[list[EventInfo], str]:
    """`{"events": [...], "cursor"}` or a single `{"event": {...}, "markets": [...]}`."""
    obj = _obj(obj, "body")
    if "event" in obj and "events" not in obj:
        markets = obj.get("markets")
        return [
            decode_event(obj["event"], "event", series=series, markets=markets if type(markets) is list else None)
        ], ""
    events = _list(obj.get("events"), "events")
    return [decode_event(e, f"events[{i}]", series=series) for i, e in enumerate(events)], _cursor(obj)


def _series_one(d: Any, path: str) -> SeriesInfo:
    d = _obj(d, path)
    fee_type = _str(d, "fee_type", path, nonempty=True)
    multiplier_raw = d.get("fee_multiplier")
    multiplier = Decimal(1) if multiplier_raw is None else _decimal(multiplier_raw, f"{path}.fee_multiplier")
    if multiplier < 0:
        raise _fe(f"{path}.fee_multiplier", "must not be negative", multiplier_raw)
    return SeriesInfo(
        series_id=_str(d, "ticker", path, nonempty=True),
        title=_str(d, "title", path, required=False),
        fee_type=fee_type,
        fee_multiplier=multiplier,
    )


def decode_series(obj: Any) -> list[SeriesInfo]:
    """`{"series": {...}}` (GetSeries) or `{"series": [...]}` (GetSeriesList)."""
    obj = _obj(obj, "body")
    raw = obj.get("series")
    if type(raw) is list:
        return [_series_one(s, f"series[{i}]") for i, s in enumerate(raw)]
    return [_series_one(raw, "series")]


# -- REST: books, trades, candles ------------------------------------------------------------------


def decode_orderbook(obj: Any, ticker: str, *, path: str = "") -> BookSnapshot:
    """GET /markets/{ticker}/orderbook: `orderbook_fp` {yes_dollars, no_dollars: [[price, count_fp]]}
    first, legacy `orderbook` {yes, no (cents), yes_dollars, no_dollars (int counts)} second."""
    obj = _obj(obj, path or "body")
    prefix = f"{path}." if path else ""
    if obj.get("orderbook_fp") is not None:
        book = _obj(obj["orderbook_fp"], f"{prefix}orderbook_fp")
        return _snapshot(book, ticker, f"{prefix}orderbook_fp", (("yes_dollars",), ("no_dollars",)))
    if obj.get("orderbook") is not None:
        book = _obj(obj["orderbook"], f"{prefix}orderbook")
        return _snapshot(book, ticker, f"{prefix}orderbook", (("yes_dollars",), ("no_dollars",)))
    raise _fe(f"{prefix}orderbook_fp", "is missing")


def decode_orderbooks(obj: Any) -> list[BookSnapshot]:
    """GET /markets/orderbooks: {"orderbooks": [{"ticker", "orderbook_fp"}]}."""
    obj = _obj(obj, "body")
    out = []
    for i, item in enumerate(_list(obj.get("orderbooks"), "orderbooks")):
        item = _obj(item, f"orderbooks[{i}]")
        out.append(
            decode_orderbook(item, _str(item, "ticker", f"orderbooks[{i}]", nonempty=True), path=f"orderbooks[{i}]")
        )
    return out


def decode_trades_page(obj: Any) -> tuple[list[Trade], str]:
    """GET /markets/trades: {"trades": [...], "cursor"}."""
    obj = _obj(obj, "body")
    trades = []
    for i, t in enumerate(_list(obj.get("trades"), "trades")):
        path = f"trades[{i}]"
        t = _obj(t, path)
        ts = _time_ms(t, "created_time", path)
        if ts is None and (t.get("ts") is not None or t.get("ts_ms") is not None):
            ts = _ws_ts_ms(t, path)
        trades.append(_trade(t, path, ts_ms=ts))
    return trades, _cursor(obj)


@dataclass(frozen=True, slots=True)
class Candle:
    """Open/high/low/close in micro-USD (None where the period had no value)."""

    open_micro_usd: int | None
    high_micro_usd: int | None
    low_micro_usd: int | None
    close_micro_usd: int | None


@dataclass(frozen=True, slots=True)
class Candlestick:
    """One Kalshi candle (venue-local: the engine does not consume candles), labelled by period end."""

    market_id: str
    end_period_ts_ms: int
    yes_bid: Candle | None
    yes_ask: Candle | None
    price: Candle | None
    volume_micro: int | None
    open_interest_micro: int | None


def _candle(d: Any, path: str) -> Candle | None:
    if d is None:
        return None
    d = _obj(d, path)
    values = []
    for name in ("open", "high", "low", "close"):
        values.append(_price(d, (f"{name}_dollars", name), None, path, required=False))
    return Candle(*values)


def _any_count(d: dict[str, Any], keys: Sequence[str], path: str) -> int | None:
    """The first present of several count keys, each an `_fp`-style string or an integer."""
    for key in keys:
        value = d.get(key)
        if value is None:
            continue
        if type(value) is int:
            if value < 0 or value > 10**12:
                raise _fe(f"{path}.{key}", "must be a non-negative count", value)
            return value * SCALE
        return parse_micro(value, f"{path}.{key}", venue=VENUE)
    return None


def decode_candlesticks(obj: Any, ticker: str = "") -> list[Candlestick]:
    """GET .../candlesticks: {"ticker"?, "candlesticks": [...]}; OHLC fields `open_dollars` (spec)
    or `open` (older examples)."""
    obj = _obj(obj, "body")
    ticker = ticker or _str(obj, "ticker", "body", required=False)
    out = []
    for i, c in enumerate(_list(obj.get("candlesticks"), "candlesticks")):
        path = f"candlesticks[{i}]"
        c = _obj(c, path)
        end = _int(c, "end_period_ts", path, required=True)
        if end is None:
            raise _fe(f"{path}.end_period_ts", "is missing")
        out.append(
            Candlestick(
                market_id=ticker,
                end_period_ts_ms=end * 1_000,
                yes_bid=_candle(c.get("yes_bid"), f"{path}.yes_bid"),
                yes_ask=_candle(c.get("yes_ask"), f"{path}.yes_ask"),
                price=_candle(c.get("price"), f"{path}.price"),
                volume_micro=_any_count(c, ("volume_fp", "volume"), path),
                open_interest_micro=_any_count(c, ("open_interest_fp", "open_interest"), path),
            )
        )
    return out


# -- REST: portfolio -------------------------------------------------------------------------------


def decode_order_response(obj: Any) -> OrderUpdate:
    """{"order": Order} (create, get, cancel)."""
    obj = _obj(obj, "body")
    return decode_order(obj.get("order"), "order")


def decode_orders_page(obj: Any) -> tuple[list[OrderUpdate], str]:
    obj = _obj(obj, "body")
    return [decode_order(o, f"orders[{i}]") for i, o in enumerate(_list(obj.get("orders"), "orders"))], _cursor(obj)


def decode_fills_page(obj: Any) -> tuple[list[Fill], str]:
    obj = _obj(obj, "body")
    return [decode_fill(f, f"fills[{i}]") for i, f in enumerate(_list(obj.get("fills"), "fills"))], _cursor(obj)


def decode_positions_page(obj: Any) -> tuple[list[Position], str]:
    """{"market_positions": [...], "event_positions": [...], "cursor"}: market positions only."""
    obj = _obj(obj, "body")
    items = _list(obj.get("market_positions"), "market_positions")
    return [_position(p, f"market_positions[{i}]") for i, p in enumerate(items)], _cursor(obj)


def decode_balance(obj: Any) -> Balance:
    """{"balance": cents, "portfolio_value": cents} and/or `balance_dollars`/`portfolio_value_dollars`."""
    obj = _obj(obj, "body")
    available = _money(obj, "balance_dollars", "balance", "body")
    if available is None:
        raise _fe("balance", "is missing")
    return Balance(
        venue=_K,
        available_micro_usd=available,
        portfolio_value_micro_usd=_money(obj, "portfolio_value_dollars", "portfolio_value", "body"),
    )


# -- encoders --------------------------------------------------------------------------------------


def subscribe_command(
    request_id: int,
    channels: Sequence[str],
    tickers: Sequence[str] | None = None,
    *,
    send_initial_snapshot: bool | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"channels": list(channels)}
    if tickers:
        params["market_tickers"] = list(tickers)
    if send_initial_snapshot is not None:
        params["send_initial_snapshot"] = send_initial_snapshot
    return {"id": request_id, "cmd": "subscribe", "params": params}


_UPDATE_ACTIONS = frozenset({"add_markets", "delete_markets", "get_snapshot"})


def update_subscription_command(request_id: int, sid: int, tickers: Sequence[str], action: str) -> dict[str, Any]:
    if action not in _UPDATE_ACTIONS:
        raise ConfigError(f"update_subscription action must be one of {sorted(_UPDATE_ACTIONS)}, was {action!r}")
    return {
        "id": request_id,
        "cmd": "update_subscription",
        "params": {"sids": [sid], "market_tickers": list(tickers), "action": action},
    }


def unsubscribe_command(request_id: int, sids: Sequence[int]) -> dict[str, Any]:
    return {"id": request_id, "cmd": "unsubscribe", "params": {"sids": list(sids)}}


def encode_command(command: dict[str, Any]) -> bytes:
    return orjson.dumps(command)


_TIF = {TimeInForce.FOK: "fill_or_kill", TimeInForce.GTC: "good_till_canceled", TimeInForce.IOC: "immediate_or_cancel"}


def _price_text(micro: int) -> str:
    return micro_to_str(micro, 4) if micro % 100 == 0 else micro_to_str(micro, 6)


def create_order_body(request: OrderRequest) -> dict[str, Any]:
    """The LEGACY CreateOrderRequest (deprecated route POST /portfolio/orders; the client sends
    `create_order_v2_body` to the V2 route). Kept to drive the simulator's legacy route and to
    read archived order flows. The limit price is the price of the outcome
    bought/sold (`yes_price_dollars` or `no_price_dollars`); GTD sends `expiration_ts` (epoch
    seconds, rounded up so the order never expires early) without `time_in_force`."""
    what = f"order {request.client_order_id}"
    if not 0 < request.price_micro_usd < SCALE:
        raise _refusal(what, f"price {request.price_micro_usd} micro-USD is outside (0, 1)")
    if request.size_micro <= 0 or request.size_micro % 10_000:
        raise _refusal(what, f"size {request.size_micro} micro is not a positive multiple of 0.01 contracts")
    if not request.client_order_id:
        raise _refusal(what, "client_order_id is required")
    body: dict[str, Any] = {
        "ticker": request.market_id,
        "side": request.outcome.value,
        "action": request.action.value,
        "count_fp": micro_to_str(request.size_micro, 2),
        ("yes_price_dollars" if request.outcome is Side.YES else "no_price_dollars"): _price_text(
            request.price_micro_usd
        ),
        "client_order_id": request.client_order_id,
    }
    if request.time_in_force is TimeInForce.GTD:
        if request.expiration_ms is None:
            raise _refusal(what, "GTD order needs expiration_ms")
        body["expiration_ts"] = _expiration_s(request.expiration_ms)
    else:
        body["time_in_force"] = _TIF[request.time_in_force]
    if request.post_only:
        body["post_only"] = True
    return body


def parse_order_body(body: dict[str, Any], path: str = "order") -> dict[str, Any]:
    """Inverse of `create_order_body` for the simulator: a validated CreateOrderRequest as
    {ticker, outcome, action, price_micro_usd (of the outcome), size_micro, tif, client_order_id,
    expiration_ms, post_only}."""
    body = _obj(body, path)
    side = _side(body.get("side"), f"{path}.side")
    action = _action(body.get("action"), f"{path}.action")
    size = _count(body, "count_fp", "count", path)
    if not size:
        raise _fe(f"{path}.count_fp", "must be positive", body.get("count_fp"))
    if side is Side.YES:
        price = _price(body, ("yes_price_dollars",), "yes_price", path, required=False)
        if price is None:
            no = _price(body, ("no_price_dollars",), "no_price", path)
            price = SCALE - no if no is not None else None
    else:
        price = _price(body, ("no_price_dollars",), "no_price", path, required=False)
        if price is None:
            yes = _price(body, ("yes_price_dollars",), "yes_price", path)
            price = SCALE - yes if yes is not None else None
    if price is None:
        raise _fe(f"{path}.yes_price_dollars", "is missing")
    if not 0 < price < SCALE:
        raise _fe(f"{path}.{side.value}_price_dollars", "must be strictly within (0, 1)", price)
    tif_raw = body.get("time_in_force")
    expiration = _int(body, "expiration_ts", path)
    if tif_raw is None:
        tif = TimeInForce.GTD if expiration is not None else TimeInForce.GTC
    else:
        reverse = {v: k for k, v in _TIF.items()}
        if tif_raw not in reverse:
            raise _fe(f"{path}.time_in_force", "is not a known time in force", tif_raw)
        tif = reverse[tif_raw]
    return {
        "ticker": _str(body, "ticker", path, nonempty=True),
        "outcome": side,
        "action": action,
        "price_micro_usd": price,
        "size_micro": size,
        "tif": tif,
        "client_order_id": _str(body, "client_order_id", path, required=False) or None,
        "expiration_ms": None if expiration is None else expiration * 1_000,
        "post_only": bool(_bool(body, "post_only", path, default=False)),
    }


# -- V2 event-order routes (POST/DELETE /portfolio/events/orders...) -------------------------------
#
# The routes orders go through since the legacy `/portfolio/orders` create was deprecated
# (docs/venues.md#kalshi-v2-orders). An order names one side of the single YES book (`bid`|`ask`) and
# a YES `price`; buying YES at p is a bid at p, selling YES at p an ask at p, buying NO at q an ask
# at 1 - q and selling NO at q a bid at 1 - q. `count` is a fixed-point string (0.01 contracts on
# markets with fractional trading, whole contracts elsewhere), `price` 2-4 decimals; both
# `time_in_force` and `self_trade_prevention_type` are required. A good-till-date order is
# `good_till_canceled` with `expiration_time` (epoch seconds).

SELF_TRADE_PREVENTION_TYPES = ("taker_at_cross", "maker")
# The venue's own default: when our incoming order would trade with our own resting order, the
# incoming (taker) order is cancelled at that price and our resting orders are never touched, so a
# quote the engine placed stays where the engine put it.
DEFAULT_SELF_TRADE_PREVENTION = "taker_at_cross"
_V2_PRICE_UNIT = 100  # micro-USD: V2 prices take at most 4 decimals
_V2_COUNT_UNIT = 10_000  # micro: 0.01 contracts


def book_order(outcome: Side, action: Action, price_micro_usd: int) -> tuple[BookSide, int]:
    """(book side, YES price) of buying/selling `outcome` at `price_micro_usd` (its own price)."""
    yes_price = price_micro_usd if outcome is Side.YES else SCALE - price_micro_usd
    return (BookSide.BID if _exposure(outcome, action) is Side.YES else BookSide.ASK), yes_price


def _refusal(what: str, reason: str) -> OrderRejectedError:
    return OrderRejectedError(f"{what}: {reason}", venue=VENUE, reason=reason)


def _count_text(size_micro: int, what: str, *, fractional: bool | None, allow_zero: bool = False) -> str:
    """A contract count as V2 fixed-point text. `fractional` False (the market trades whole
    contracts only) refuses fractions; None (market not known here) allows 0.01 steps."""
    if size_micro < 0 or (size_micro == 0 and not allow_zero) or size_micro % _V2_COUNT_UNIT:
        raise _refusal(what, f"count {size_micro} micro is not a positive multiple of 0.01 contracts")
    if fractional is False and size_micro % SCALE:
        raise _refusal(
            what, f"count {micro_to_str(size_micro, 2)} is fractional and this market trades whole contracts only"
        )
    return micro_to_str(size_micro, 2)


def _yes_price_text(yes_price_micro: int, what: str) -> str:
    if not 0 < yes_price_micro < SCALE:
        raise _refusal(what, f"price {yes_price_micro} micro-USD is outside (0, 1)")
    if yes_price_micro % _V2_PRICE_UNIT:
        raise _refusal(what, f"price {yes_price_micro} micro-USD has more than 4 decimals")
    return micro_to_str(yes_price_micro, 4)


def _expiration_s(expiration_ms: int) -> int:
    return -(-expiration_ms // 1_000)  # rounded up: the order never expires early


def create_order_v2_body(
    request: OrderRequest,
    *,
    self_trade_prevention_type: str = DEFAULT_SELF_TRADE_PREVENTION,
    fractional: bool | None = None,
    exchange_index: int | None = None,
) -> dict[str, Any]:
    """CreateOrderV2Request for POST /portfolio/events/orders (one item of .../batched).
    `fractional`: whether the market allows fractional counts (None: not known, the venue decides).
    A request the venue would refuse anyway (price outside (0, 1) or finer than 4 decimals, count
    not on the 0.01 grid or fractional where not allowed, GTD without expiry, no client_order_id) is
    an `OrderRejectedError` here, before anything is sent."""
    what = f"order {request.client_order_id}"
    if self_trade_prevention_type not in SELF_TRADE_PREVENTION_TYPES:
        raise ConfigError(
            f"self_trade_prevention_type must be one of {SELF_TRADE_PREVENTION_TYPES}, was {self_trade_prevention_type!r}"
        )
    if not request.client_order_id:
        raise _refusal(what, "client_order_id is required")
    side, yes_price = book_order(request.outcome, request.action, request.price_micro_usd)
    if not 0 < request.price_micro_usd < SCALE:
        raise _refusal(what, f"price {request.price_micro_usd} micro-USD is outside (0, 1)")
    body: dict[str, Any] = {
        "ticker": request.market_id,
        "client_order_id": request.client_order_id,
        "side": side.value,
        "count": _count_text(request.size_micro, what, fractional=fractional),
        "price": _yes_price_text(yes_price, what),
    }
    if request.time_in_force is TimeInForce.GTD:
        if request.expiration_ms is None:
            raise _refusal(what, "GTD order needs expiration_ms")
        body["time_in_force"] = "good_till_canceled"
        body["expiration_time"] = _expiration_s(request.expiration_ms)
    else:
        body["time_in_force"] = _TIF[request.time_in_force]
    body["self_trade_prevention_type"] = self_trade_prevention_type
    if request.post_only:
        body["post_only"] = True
    if exchange_index is not None:
        body["exchange_index"] = exchange_index
    return body


def amend_order_v2_body(
    *,
    market_id: str,
    outcome: Side,
    action: Action,
    price_micro_usd: int,
    size_micro: int,
    client_order_id: str | None = None,
    updated_client_order_id: str | None = None,
    expiration_ms: int | None = None,
    fractional: bool | None = None,
) -> dict[str, Any]:
    """AmendOrderV2Request for POST /portfolio/events/orders/{id}/amend. `size_micro` is the new
    total the order may fill: what already filled plus the new resting remainder (the venue's rule).
    `price_micro_usd` is the new price of `outcome` (sent as the YES price of the order's book side).
    `expiration_ms` 0 removes the expiry; None keeps it."""
    what = f"amend {client_order_id or market_id}"
    if not 0 < price_micro_usd < SCALE:
        raise _refusal(what, f"price {price_micro_usd} micro-USD is outside (0, 1)")
    side, yes_price = book_order(outcome, action, price_micro_usd)
    body: dict[str, Any] = {
        "ticker": market_id,
        "side": side.value,
        "price": _yes_price_text(yes_price, what),
        "count": _count_text(size_micro, what, fractional=fractional),
    }
    if client_order_id:
        body["client_order_id"] = client_order_id
    if updated_client_order_id:
        body["updated_client_order_id"] = updated_client_order_id
    if expiration_ms is not None:
        if expiration_ms < 0:
            raise _refusal(what, f"expiration {expiration_ms} ms is negative")
        body["expiration_time"] = _expiration_s(expiration_ms)
    return body


def decrease_order_v2_body(
    *,
    reduce_by_micro: int | None = None,
    reduce_to_micro: int | None = None,
    market_id: str = "",
    fractional: bool | None = None,
) -> dict[str, Any]:
    """DecreaseOrderV2Request for POST /portfolio/events/orders/{id}/decrease: exactly one of
    `reduce_by_micro` (> 0) and `reduce_to_micro` (>= 0, 0 cancels the rest)."""
    if (reduce_by_micro is None) == (reduce_to_micro is None):
        raise ConfigError("decrease needs exactly one of reduce_by_micro and reduce_to_micro")
    body: dict[str, Any] = {}
    if reduce_by_micro is not None:
        body["reduce_by"] = _count_text(reduce_by_micro, "decrease", fractional=fractional)
    else:
        assert reduce_to_micro is not None
        body["reduce_to"] = _count_text(reduce_to_micro, "decrease", fractional=fractional, allow_zero=True)
    if market_id:
        body["market_ticker"] = market_id
    return body


def batch_cancel_v2_body(orders: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """BatchCancelOrdersV2Request for DELETE /portfolio/events/orders/batched from (order id,
    market ticker) pairs; the ticker routes each cancel to its shard ("" leaves it out)."""
    items = []
    for order_id, market_id in orders:
        if not order_id:
            raise ConfigError("batch cancel needs an order id for every item")
        item = {"order_id": order_id}
        if market_id:
            item["market_ticker"] = market_id
        items.append(item)
    return {"orders": items}


@dataclass(frozen=True, slots=True)
class VenueRefusal:
    """Kalshi's ErrorResponse {code, message, details}, as sent (a batch item's `error`)."""

    code: str
    message: str
    details: str = ""

    @property
    def text(self) -> str:
        """One line: the parts sent, joined by ": "."""
        return ": ".join(p for p in (self.code, self.message, self.details) if p)


def _short_text(value: Any) -> str:
    """A venue-supplied error part as short text; a container is shown as JSON (never str() of a
    deeply nested value)."""
    if value is None:
        return ""
    if type(value) is str:
        return value[:200]
    try:
        return orjson.dumps(value).decode()[:200]
    except TypeError:  # nested too deeply, or an int beyond 64 bits
        return f"<{type(value).__name__}>"


def decode_error(obj: Any) -> VenueRefusal | None:
    """An ErrorResponse, top level or nested under "error" (None when `obj` holds none)."""
    if type(obj) is not dict:
        return None
    inner = obj.get("error", obj)
    if type(inner) is str:
        return VenueRefusal("", inner[:200]) if inner else None
    if type(inner) is not dict:
        return None
    code, message, details = (_short_text(inner.get(k)) for k in ("code", "message", "details"))
    if not (code or message or details):
        return None
    return VenueRefusal(code, message, details)


@dataclass(frozen=True, slots=True)
class OrderAck:
    """A V2 order route's answer for one order: create (`fill_count`, `remaining_count`, average
    fill price and fee), amend (the same, optional), decrease (`remaining_count`) and cancel
    (`reduced_by`). `fill_hint_micro` is what the venue says matched at once: a hint, never a
    fill record (fills count only from fill events and fill queries). `average_fill_price_micro_usd`
    is a YES price; `refusal` is set on a batch item the venue refused (then only the ids may be set)."""

    order_id: str
    client_order_id: str | None
    remaining_micro: int | None = None
    fill_hint_micro: int | None = None
    average_fill_price_micro_usd: int | None = None
    average_fee_micro_usd: int | None = None
    reduced_by_micro: int | None = None
    exchange_ts_ms: int | None = None
    refusal: VenueRefusal | None = None


_ACK_REQUIRED = {
    "create": ("fill_count", "remaining_count"),
    "amend": (),
    "decrease": ("remaining_count",),
    "cancel": ("reduced_by",),
}


def decode_order_ack(obj: Any, kind: str, path: str = "body") -> OrderAck:
    """CreateOrderV2Response, AmendOrderV2Response, DecreaseOrderV2Response or
    CancelOrderV2Response (`kind` create, amend, decrease or cancel), or one item of a batched
    answer (an item with `error` is a refusal: its counts are not required)."""
    d = _obj(obj, path)
    refusal = decode_error({"error": d["error"]}) if d.get("error") is not None else None
    if refusal is None:
        for key in _ACK_REQUIRED[kind]:
            if d.get(key) is None:
                raise _fe(f"{path}.{key}", "is missing")
    order_id = _str(d, "order_id", path, required=refusal is None, nonempty=refusal is None)
    ts_ms = d.get("ts_ms")
    if ts_ms is not None and (type(ts_ms) is not int or not 0 <= ts_ms <= 2**53):
        raise _fe(f"{path}.ts_ms", "must be a non-negative integer of milliseconds", ts_ms)
    price = d.get("average_fill_price")
    return OrderAck(
        order_id=order_id,
        client_order_id=_client_order_id(d, path),
        remaining_micro=_count(d, "remaining_count", None, path, required=False),
        fill_hint_micro=_count(d, "fill_count", None, path, required=False),
        average_fill_price_micro_usd=None
        if price is None
        else parse_price(price, f"{path}.average_fill_price", venue=VENUE),
        average_fee_micro_usd=_money(d, "average_fee_paid", None, path),
        reduced_by_micro=_count(d, "reduced_by", None, path, required=False),
        exchange_ts_ms=ts_ms,
        refusal=refusal,
    )


def decode_order_acks(obj: Any, kind: str) -> list[OrderAck]:
    """BatchCreateOrdersV2Response (`kind` create) or BatchCancelOrdersV2Response (`kind` cancel):
    {"orders": [item, ...]}, in the order the venue sent them."""
    obj = _obj(obj, "body")
    return [decode_order_ack(item, kind, f"orders[{i}]") for i, item in enumerate(_list(obj.get("orders"), "orders"))]


def sent_order_update(
    request: OrderRequest,
    status: OrderStatus,
    *,
    filled_micro: int | None = None,
    remaining_micro: int | None = None,
    reason: str = "",
) -> OrderUpdate:
    """An OrderUpdate for an order this client sent (or meant to send) to the V2 routes, stated as
    the venue records that order in its REST Order, `user_order` and fills: on the YES contract, a
    bid as BUY and an ask as SELL, at the YES price (buying NO at q is selling YES at 1 - q). So
    the answer to a send and everything decoded later about the same order carry one (outcome,
    action, price)."""
    side, yes_price = book_order(request.outcome, request.action, request.price_micro_usd)
    return OrderUpdate(
        venue=_K,
        order_id="",
        client_order_id=request.client_order_id,
        market_id=request.market_id,
        book_id=request.market_id,
        outcome=Side.YES,
        action=Action.BUY if side is BookSide.BID else Action.SELL,
        status=status,
        price_micro_usd=yes_price,
        initial_size_micro=request.size_micro,
        filled_size_micro=filled_micro,
        remaining_size_micro=remaining_micro,
        reason=reason,
    )


def order_from_ack(ack: OrderAck, request: OrderRequest) -> OrderUpdate:
    """The OrderUpdate for a created order, stated as `sent_order_update` states it. Its state
    follows from the time in force and the answer's counts, and its filled size stays unknown
    (None) with `fill_hint_micro` set: fills are counted from fill events and queries only. IOC and FOK orders are over once answered (FILLED
    when the hint covers the whole size, else CANCELED: the rest, or a FOK entirely, was killed);
    GTC/GTD orders rest while anything remains (OPEN), are FILLED when the hint covers them, and
    CANCELED otherwise (post-only or self-trade prevention took the rest)."""
    hint = ack.fill_hint_micro or 0
    remaining = ack.remaining_micro
    if request.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
        status = OrderStatus.FILLED if hint >= request.size_micro else OrderStatus.CANCELED
        remaining = 0
        reason = "" if status is OrderStatus.FILLED else f"{request.time_in_force.name}: unfilled rest cancelled"
    elif remaining:
        status, reason = OrderStatus.OPEN, ""
    elif hint >= request.size_micro:
        status, reason = OrderStatus.FILLED, ""
    else:
        status, reason = OrderStatus.CANCELED, "nothing rests and the order did not fill"
    return replace(
        sent_order_update(request, status, remaining_micro=remaining, reason=reason),
        order_id=ack.order_id,
        client_order_id=ack.client_order_id or request.client_order_id,
        exchange_ts_ms=ack.exchange_ts_ms,
        fill_hint_micro=ack.fill_hint_micro,
    )
