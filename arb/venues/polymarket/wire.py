"""Polymarket wire formats: pure decoders (JSON -> `arb.domain`) and encoders (domain -> JSON).

Protocol facts relied on (docs/venues.md#polymarket; [D] = seen in the captures under
tests/fixtures/venues/polymarket):

Gamma REST (metadata)
- Markets carry `clobTokenIds`, `outcomes`, `outcomePrices` as JSON *strings* holding a JSON list
  (parsed twice); a few responses (`/markets/slug/...` [D]) send real lists, both are accepted.
  `clobTokenIds[i]` is the token of `outcomes[i]`. We map token 0 to `Side.YES` and token 1 to
  `Side.NO` and keep the venue's labels in `outcome_labels` (sports markets say "FaZe"/"illwill").
- `conditionId` is the market id (the CLOB `market`), the numeric `id` is kept as `venue_market_id`.
- `orderPriceMinTickSize` becomes one `PriceBand` [tick, 1 - tick]; `orderMinSize` the minimum size.
  Sizes go in steps of 0.01 share (the client rounds sizes to 2 decimals), so `lot_size_micro` is 10_000.
- Fees: `feesEnabled` with `feeSchedule {rate, exponent, takerOnly, rebateRate}` ->
  `solvers.fees.polymarket_fee`. Makers pay nothing when `takerOnly` (their rebate is income paid
  later, not modelled). `feesEnabled: false` is the zero fee rule. The schedule is the only exact
  source, so a fee-enabled market that sends none (`feeSchedule` missing or null, e.g. the 2026
  crypto market capture) or a payload without `feesEnabled` decodes with an unknown fee
  (`taker_fee`/`maker_fee` None), which the graph never trades, never as fee-free.
- Order amounts: FOK/FAK buys sign whole cents of USDC, sells 0.0001 (`BUY_AMOUNT_INCREMENT_MICRO_USD`,
  `SELL_AMOUNT_INCREMENT_MICRO_USD`), set on every decoded market.
- Times: `startDate` -> open, `endDate` (the listed resolution date) -> close, `closedTime` (when
  the market actually closed, absent while open) -> expiration; ISO strings in several spellings.
- Status: `closed` -> CLOSED (SETTLED once `umaResolutionStatus` is "resolved"); otherwise
  `acceptingOrders` -> OPEN, not accepting -> PAUSED, `active` false -> UNOPENED.
- Legacy AMM-era markets (2020 [D]) have no `orderPriceMinTickSize`, `orderMinSize`,
  `acceptingOrders` or `negRisk`: they never had a CLOB order book, so they decode with no price
  bands, a zero minimum size and `accepting_orders` False (they are all closed). The scalar one
  ("Long"/"Short") is still two complementary tokens and maps like any binary market.
- negRisk events (`negRisk`, `negRiskMarketID`) are exclusive groups: `GroupInfo(kind=NEG_RISK)`,
  `label` = the market's `groupItemTitle`. An event with `negRiskAugmented` has placeholder
  outcomes (a market with `negRiskOther`), so it is not exhaustive. `exhaustive` is True only when
  the event explicitly says `negRiskAugmented: false`; when the flag is not in the payload (a bare
  market, a CLOB market) the group is conservatively non-exhaustive.

CLOB REST
- `/markets/{condition_id}` (snake_case: `tokens[{token_id, outcome}]`, `minimum_tick_size`,
  `minimum_order_size`, `neg_risk`, ...) -> `MarketInfo`; it carries no fee schedule (fee unknown:
  its `taker_base_fee` is not the schedule).
  Old markets list tokens with empty ids [D]: no CLOB tokens, so `token_ids` is None.
- `/book` and WS `book`: `bids`/`asks` arrays of {price, size} strings, `timestamp` (ms string),
  `hash`. Book hash = SHA-1 of compact JSON with `hash` set to "" (see `book_hash`). Two schemes
  are seen in the captures, both verified on them:
  * current (2026 [D], py_clob_client_v2.utilities.generate_orderbook_summary_hash): keys
    market, asset_id, timestamp, hash, bids, asks, min_order_size, tick_size, neg_risk,
    last_trade_price. The WS `book` frame carries `tick_size` and `last_trade_price` but not
    `min_order_size`/`neg_risk`: those come from the market (`BookHashContext`).
  * legacy (2024 [D]): keys market, asset_id, hash, bids, asks (no timestamp). Used when a frame
    carries none of the current-scheme fields.
  A hash that cannot be checked (current frame, no market context) gives `hash_ok` None.
- Order post answers `{success, errorMsg, orderID, status: live|matched|delayed|unmatched}`; cancel
  answers `{canceled: [...], not_canceled: {id: reason}}`; `/data/orders` and `/data/trades`
  pages are `{data: [...], next_cursor}` (or a bare list).

Market WebSocket (`/ws/market`)
- A frame is one JSON object or a JSON array of them; the text `PONG` answers our `PING`.
- `book` (snapshot), `price_change` (current: `price_changes[]` with per-change `asset_id, price,
  size (new total, "0" removes), side (BUY = bid, SELL = ask), hash, best_bid, best_ask`; legacy
  (before Sept 2025): one flat level per message), `tick_size_change`, `last_trade_price` (side =
  taker's), `best_bid_ask`, `new_market`, `market_resolved`. Any other `event_type` is an
  `UnknownShapeError`.

User WebSocket (`/ws/user`)
- `order` events (`type` PLACEMENT | UPDATE | CANCELLATION; `status` LIVE, MATCHED, CANCELED, ...)
  -> `OrderUpdate`. `trade` events -> our `Fill`s: when `trader_side` is TAKER the fill is the
  taker order (`taker_order_id`, trade `size` and `price`); when MAKER, our fills are the
  `maker_orders` entries that are ours (api key `owner` or `maker_address` in `UserContext`) -
  one trade can match several of our orders, on the same or the complementary token [D]. A fill's id
  is trade id + ":" + our order id, so the MATCHED -> MINED -> CONFIRMED messages of one match are
  one fill.
- Times: `timestamp` is ms [D], but some captures carry seconds there [D], as do `match_time`,
  `last_update` and `created_at`: integers below 10**11 are read as seconds.

Everything here is pure; numbers are exact (`arb.fixed`), and every rejection is a `FieldError`
naming the dotted field path or an `UnknownShapeError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
    FillStatus,
    GroupInfo,
    GroupKind,
    Liquidity,
    MarketInfo,
    MarketLifecycle,
    MarketStatus,
    OrderStatus,
    OrderUpdate,
    Position,
    PriceBand,
    Side,
    TickSizeChange,
    TimeInForce,
    Trade,
    Venue,
    VenueNotice,
)
from arb.errors import FieldError, UnknownShapeError
from arb.fixed import SCALE, micro_to_str, parse_micro, parse_price, to_micro
from arb.venues import fields
from solvers.errors import DataError
from solvers.fees import FeeRule, polymarket_fee

__all__ = [
    "BUY_AMOUNT_INCREMENT_MICRO_USD",
    "LOT_SIZE_MICRO",
    "PRICE_CACHE",
    "SELL_AMOUNT_INCREMENT_MICRO_USD",
    "SIZE_CACHE",
    "VENUE",
    "BookHashContext",
    "CancelResult",
    "GammaTag",
    "OrderAck",
    "Page",
    "UserContext",
    "book_frame",
    "book_hash",
    "decimal_text",
    "decode_balance",
    "decode_book",
    "decode_cancel_response",
    "decode_clob_market",
    "decode_clob_markets_page",
    "decode_data_api_trades",
    "decode_gamma_event",
    "decode_gamma_events",
    "decode_gamma_market",
    "decode_gamma_markets",
    "decode_gamma_tags",
    "decode_market_event",
    "decode_market_frame",
    "decode_order",
    "decode_order_response",
    "decode_orders_page",
    "decode_positions",
    "decode_price_change",
    "decode_trade_fills",
    "decode_trades_page",
    "decode_user_event",
    "decode_user_frame",
    "hash_context_for",
    "level_price",
    "level_size",
    "loads",
    "market_subscribe_message",
    "market_subscribe_more_message",
    "min_order_size_text",
    "parse_best",
    "parse_book_side",
    "parse_timestamp_ms",
    "user_subscribe_message",
]

VENUE = Venue.POLYMARKET
_V = "polymarket"
LOT_SIZE_MICRO = 10_000  # sizes in steps of 0.01 share
# FOK/FAK ("market") orders: the venue accepts a BUY only when its maker amount (USDC paid =
# quantity x limit price) has at most 2 decimals, and a SELL only when its taker amount (USDC
# received) has at most 4 ("invalid amounts, the market buy orders maker amount supports a max
# accuracy of 2 decimals, taker amount a max of 4 decimals"). `MarketInfo.*_amount_increment_micro_usd`.
BUY_AMOUNT_INCREMENT_MICRO_USD = 10_000  # $0.01
SELL_AMOUNT_INCREMENT_MICRO_USD = 100  # $0.0001
_ZERO_FEE = polymarket_fee(rate=Decimal(0))
_ZERO_MAKER_FEE = polymarket_fee(rate=Decimal(0), maker=True)

MarketEvent = BookSnapshot | BookChange | TickSizeChange | Trade | MarketLifecycle | VenueNotice
UserEvent = OrderUpdate | Fill


# ---------------------------------------------------------------------------------------------
# Small context values


@dataclass(frozen=True, slots=True)
class BookHashContext:
    """What the current book hash covers beyond the WS `book` frame: the market's minimum order
    size as the venue writes it (`min_order_size_text`) and its negRisk flag."""

    min_order_size: str
    neg_risk: bool


@dataclass(frozen=True, slots=True)
class UserContext:
    """Who "we" are on the user channel, and what our tokens are.

    `api_key` is the `owner` of our orders; `addresses` our funder/signer addresses (compared
    case-insensitively); `tokens` maps token id -> (market id, outcome) for the markets we know,
    so an order or fill on a sports market ("FaZe") still gets its `Side`."""

    api_key: str = ""
    addresses: frozenset[str] = frozenset()
    tokens: Mapping[str, tuple[str, Side]] | None = None

    @staticmethod
    def of(api_key: str = "", addresses: Iterable[str] = (), markets: Iterable[MarketInfo] = ()) -> UserContext:
        tokens: dict[str, tuple[str, Side]] = {}
        for market in markets:
            if market.token_ids is not None:
                tokens[market.token_ids[0]] = (market.market_id, Side.YES)
                tokens[market.token_ids[1]] = (market.market_id, Side.NO)
        return UserContext(api_key, frozenset(a.lower() for a in addresses), tokens)

    def is_ours(self, owner: Any, maker_address: Any) -> bool:
        if self.api_key and owner == self.api_key:
            return True
        return type(maker_address) is str and maker_address.lower() in self.addresses


@dataclass(frozen=True, slots=True)
class GammaTag:
    """A Gamma tag (used to filter `/markets` and `/events` listings)."""

    tag_id: str
    label: str
    slug: str


@dataclass(frozen=True, slots=True)
class OrderAck:
    """The CLOB's answer to `POST /order`: `update` is what it tells about the order (never a fill:
    fills come only from trade events or queries); `venue_status` is the raw status word."""

    update: OrderUpdate
    success: bool
    venue_status: str
    error: str = ""
    making_amount_micro: int | None = None
    taking_amount_micro: int | None = None
    trade_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CancelResult:
    canceled: tuple[str, ...]
    not_canceled: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a cursor-paged CLOB listing; `next_cursor` None or "LTE=" ends it."""

    items: tuple[Any, ...]
    next_cursor: str | None

    @property
    def last(self) -> bool:
        return self.next_cursor in (None, "", "LTE=")


# ---------------------------------------------------------------------------------------------
# Primitive field readers (all raise FieldError naming the dotted path)


def loads(data: bytes | bytearray | memoryview | str, field: str = "frame") -> Any:
    """JSON text -> Python values; undecodable input is a `FieldError` (as on Kalshi)."""
    return fields.loads(data, field, venue=_V)


def _obj(value: Any, path: str) -> dict[str, Any]:
    return fields.json_object(value, path, venue=_V)


def _list(value: Any, path: str) -> list[Any]:
    return fields.json_array(value, path, venue=_V)


def _str(d: dict[str, Any], key: str, path: str) -> str:
    value = d.get(key)
    if type(value) is not str:
        raise FieldError(f"{path}.{key}", "is missing" if value is None else "must be a string", value, venue=_V)
    return value


def _id(d: dict[str, Any], key: str, path: str) -> str:
    value = _str(d, key, path)
    if not value:
        raise FieldError(f"{path}.{key}", "must not be empty", value, venue=_V)
    return value


def _opt_str(d: dict[str, Any], key: str, path: str, default: str = "") -> str:
    value = d.get(key)
    if value is None:
        return default
    if type(value) is not str:
        raise FieldError(f"{path}.{key}", "must be a string", value, venue=_V)
    return value


def _opt_bool(d: dict[str, Any], key: str, path: str, default: bool | None = None) -> bool | None:
    value = d.get(key)
    if value is None:
        return default
    if type(value) is not bool:
        raise FieldError(f"{path}.{key}", "must be a boolean", value, venue=_V)
    return value


def parse_timestamp_ms(value: Any, field: str) -> int:
    """A venue time as ms since the epoch: digits (string or int); values below 10**11 are seconds."""
    if type(value) is str:
        if not (value.isascii() and value.isdigit()) or len(value) > 16:
            raise FieldError(field, "must be a timestamp of up to 16 digits", value, venue=_V)
        number = int(value)
    elif type(value) is int:
        if not 0 <= value < 10**16:
            raise FieldError(field, "must be a timestamp of up to 16 digits", value, venue=_V)
        number = value
    else:
        raise FieldError(field, "is missing" if value is None else "must be a timestamp", value, venue=_V)
    return number * 1000 if number < 10**11 else number


def _opt_ms(d: dict[str, Any], key: str, path: str) -> int | None:
    value = d.get(key)
    if value is None or value == "":
        return None
    return parse_timestamp_ms(value, f"{path}.{key}")


def _iso_ms(d: dict[str, Any], key: str, path: str) -> int | None:
    """An ISO-8601 time (Gamma sends several spellings: `Z`, `+00`, date only) as ms, or None."""
    return fields.optional_iso_ms(d.get(key), f"{path}.{key}", venue=_V)


def _json_list(d: dict[str, Any], key: str, path: str) -> list[Any] | None:
    """A Gamma list field: a JSON string holding a list (parsed twice) or a real list; None if absent."""
    value = d.get(key)
    if value is None:
        return None
    if type(value) is str:
        if not value:
            return None
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise FieldError(f"{path}.{key}", "is not a JSON-encoded list", value, venue=_V) from None
    if type(value) is not list:
        raise FieldError(f"{path}.{key}", "must be a list (or a JSON string of one)", value, venue=_V)
    return value


# Book strings repeat endlessly; a bounded cache per kind keeps the hot path to one dict lookup
# (the session's fast path reads them directly, then falls back to `level_price`/`level_size`).
PRICE_CACHE: dict[str, int] = {}
SIZE_CACHE: dict[str, int] = {}
_CACHE_LIMIT = 100_000


def level_price(value: Any, field: str) -> int:
    """A book level price: a decimal string strictly within (0, 1), in micro-USD."""
    if type(value) is str:
        cached = PRICE_CACHE.get(value)
        if cached is not None:
            return cached
        micro = parse_price(value, field, venue=_V, inclusive=False)
        if len(PRICE_CACHE) >= _CACHE_LIMIT:
            PRICE_CACHE.clear()
        PRICE_CACHE[value] = micro
        return micro
    raise FieldError(field, "is missing" if value is None else "must be a decimal string", value, venue=_V)


def level_size(value: Any, field: str) -> int:
    """A size: a non-negative decimal string, in micro-shares."""
    if type(value) is str:
        cached = SIZE_CACHE.get(value)
        if cached is not None:
            return cached
        micro = parse_micro(value, field, venue=_V)
        if len(SIZE_CACHE) >= _CACHE_LIMIT:
            SIZE_CACHE.clear()
        SIZE_CACHE[value] = micro
        return micro
    raise FieldError(field, "is missing" if value is None else "must be a decimal string", value, venue=_V)


def parse_best(value: Any, field: str) -> int | None:
    """A `best_bid`/`best_ask`: a price within [0, 1] ("0"/"1"/"" mean an empty side), or None."""
    if value is None or value == "":
        return None
    return parse_price(value, field, venue=_V)


_BOOK_SIDES = {"BUY": BookSide.BID, "SELL": BookSide.ASK, "buy": BookSide.BID, "sell": BookSide.ASK}
_ACTIONS = {"BUY": Action.BUY, "SELL": Action.SELL, "buy": Action.BUY, "sell": Action.SELL}


def parse_book_side(value: Any, field: str) -> BookSide:
    """`BUY` is the bid side, `SELL` the ask side."""
    side = _BOOK_SIDES.get(value) if type(value) is str else None
    if side is None:
        raise FieldError(field, "must be BUY or SELL", value, venue=_V)
    return side


def _action(value: Any, field: str) -> Action:
    action = _ACTIONS.get(value) if type(value) is str else None
    if action is None:
        raise FieldError(field, "must be BUY or SELL", value, venue=_V)
    return action


def _bps(d: dict[str, Any], key: str, path: str) -> int | None:
    value = d.get(key)
    if value is None or value == "":
        return None
    if type(value) is int and 0 <= value <= 10_000:
        return value
    if type(value) is str and value.isascii() and value.isdigit() and len(value) <= 5 and int(value) <= 10_000:
        return int(value)
    raise FieldError(f"{path}.{key}", "must be basis points within [0, 10000]", value, venue=_V)


def _number_micro(d: dict[str, Any], key: str, path: str) -> int | None:
    """A Gamma/CLOB metadata number (JSON number or decimal string), non-negative, or None."""
    value = d.get(key)
    if value is None or value == "":
        return None
    micro = to_micro(value, f"{path}.{key}", venue=_V, allow_number=True)
    if micro < 0:
        raise FieldError(f"{path}.{key}", "must not be negative", value, venue=_V)
    return micro


def decimal_text(micro: int) -> str:
    """Shortest decimal text of a scaled value, as the venue writes sizes and prices: "5", "0.52"."""
    text = micro_to_str(micro, 6).rstrip("0").rstrip(".")
    return text or "0"


min_order_size_text = decimal_text  # the minimum order size as the book hash covers it ("5", "14.96")


# ---------------------------------------------------------------------------------------------
# Gamma: markets, events, tags


def _tick_bands(tick_micro: int | None, field: str) -> tuple[PriceBand, ...]:
    if tick_micro is None:
        return ()
    if not 0 < tick_micro < SCALE // 2 or SCALE % tick_micro:
        raise FieldError(field, "must be a tick size dividing 1 (0.1, 0.01, 0.001, 0.0001)", tick_micro, venue=_V)
    return (PriceBand(tick_micro, SCALE - tick_micro, tick_micro),)


def _fee_rules(d: dict[str, Any], path: str) -> tuple[FeeRule | None, FeeRule | None]:
    """(taker, maker) from `feesEnabled` and `feeSchedule`; (None, None) when the fee is unknown:
    fees enabled without a schedule, or a payload that does not say whether fees are enabled."""
    enabled = _opt_bool(d, "feesEnabled", path)
    if enabled is None:
        return None, None
    if not enabled:
        return _ZERO_FEE, _ZERO_MAKER_FEE
    schedule = d.get("feeSchedule")
    if schedule is None:
        return None, None
    schedule = _obj(schedule, f"{path}.feeSchedule")
    rate_micro = to_micro(schedule.get("rate"), f"{path}.feeSchedule.rate", venue=_V, allow_number=True)
    if not 0 <= rate_micro <= SCALE:
        raise FieldError(f"{path}.feeSchedule.rate", "must be within [0, 1]", schedule.get("rate"), venue=_V)
    exponent = schedule.get("exponent", 1)
    if type(exponent) is float and exponent.is_integer():
        exponent = int(exponent)
    if type(exponent) is not int or not 1 <= exponent <= 8:
        raise FieldError(f"{path}.feeSchedule.exponent", "must be a whole number within [1, 8]", exponent, venue=_V)
    taker_only = _opt_bool(schedule, "takerOnly", f"{path}.feeSchedule", True)
    rate = Decimal(rate_micro).scaleb(-6).normalize()
    try:
        taker = polymarket_fee(rate=rate, exponent=exponent)
        maker = polymarket_fee(rate=rate, exponent=exponent, maker=bool(taker_only))
    except DataError as exc:  # pragma: no cover - guarded above
        raise FieldError(f"{path}.feeSchedule", str(exc), schedule, venue=_V) from None
    return taker, maker


def _gamma_status(d: dict[str, Any], path: str) -> tuple[MarketStatus, bool]:
    closed = _opt_bool(d, "closed", path, False)
    active = _opt_bool(d, "active", path, True)
    accepting = bool(_opt_bool(d, "acceptingOrders", path, False))
    if closed:
        resolved = _opt_str(d, "umaResolutionStatus", path) == "resolved"
        return (MarketStatus.SETTLED if resolved else MarketStatus.CLOSED), accepting
    if not active:
        return MarketStatus.UNOPENED, accepting
    return (MarketStatus.OPEN if accepting else MarketStatus.PAUSED), accepting


def _tokens_and_labels(d: dict[str, Any], path: str) -> tuple[tuple[str, str] | None, tuple[str, str]]:
    token_list = _json_list(d, "clobTokenIds", path)
    outcomes = _json_list(d, "outcomes", path)
    labels: tuple[str, str] = ("Yes", "No")
    if outcomes is not None:
        if len(outcomes) != 2 or not all(type(o) is str for o in outcomes):
            raise FieldError(f"{path}.outcomes", "must list exactly two outcome names", outcomes, venue=_V)
        labels = (outcomes[0], outcomes[1])
    prices = _json_list(d, "outcomePrices", path)
    if prices is not None and len(prices) != (len(outcomes) if outcomes is not None else 2):
        raise FieldError(f"{path}.outcomePrices", "must have one price per outcome", prices, venue=_V)
    if token_list is None:
        return None, labels
    if len(token_list) != 2 or not all(type(t) is str for t in token_list):
        raise FieldError(f"{path}.clobTokenIds", "must list exactly two token ids", token_list, venue=_V)
    if not token_list[0] and not token_list[1]:
        return None, labels  # an AMM-era market that never had CLOB tokens
    if not token_list[0] or not token_list[1] or token_list[0] == token_list[1]:
        raise FieldError(f"{path}.clobTokenIds", "must be two distinct non-empty token ids", token_list, venue=_V)
    return (token_list[0], token_list[1]), labels


def _neg_risk_group(
    neg_risk: bool | None, group_id: str, label: str, augmented_flag: bool | None, other: bool
) -> GroupInfo | None:
    if not neg_risk:
        return None
    augmented = bool(augmented_flag) or other
    exhaustive = augmented_flag is False and not other
    return GroupInfo(
        group_id=group_id, kind=GroupKind.NEG_RISK, exhaustive=exhaustive, augmented=augmented, label=label
    )


def decode_gamma_market(obj: Any, *, event: dict[str, Any] | None = None, path: str = "market") -> MarketInfo:
    """One Gamma market object (`/markets`, `/markets/{id}`, or nested in an event: pass the event)."""
    d = _obj(obj, path)
    condition_id = _id(d, "conditionId", path)
    token_ids, labels = _tokens_and_labels(d, path)
    status, accepting = _gamma_status(d, path)
    tick_micro = _number_micro(d, "orderPriceMinTickSize", path)
    min_size = _number_micro(d, "orderMinSize", path) or 0
    taker_fee, maker_fee = _fee_rules(d, path)
    label = _opt_str(d, "groupItemTitle", path)

    if event is None:
        nested = d.get("events")
        if type(nested) is list and nested and type(nested[0]) is dict:
            event = nested[0]
    event_id = ""
    series_id = ""
    augmented_flag: bool | None = None
    if event is not None:
        event_id = _opt_str(event, "id", f"{path}.events[0]")
        series_id = _opt_str(event, "seriesSlug", f"{path}.events[0]")
        augmented_flag = _opt_bool(event, "negRiskAugmented", f"{path}.events[0]")
    neg_risk = _opt_bool(d, "negRisk", path, False)
    group_id = (
        _opt_str(d, "negRiskMarketID", path)
        or (_opt_str(event, "negRiskMarketID", f"{path}.events[0]") if event is not None else "")
        or event_id
    )
    group = _neg_risk_group(neg_risk, group_id, label, augmented_flag, bool(_opt_bool(d, "negRiskOther", path, False)))
    venue_id = d.get("id")
    if venue_id is not None and type(venue_id) not in (str, int):
        raise FieldError(f"{path}.id", "must be a string or integer id", venue_id, venue=_V)
    return MarketInfo(
        venue=VENUE,
        market_id=condition_id,
        event_id=event_id,
        title=_opt_str(d, "question", path),
        subtitle=label,
        rules_text=_opt_str(d, "description", path),
        status=status,
        open_time_ms=_iso_ms(d, "startDate", path),
        close_time_ms=_iso_ms(d, "endDate", path),
        expiration_time_ms=_iso_ms(d, "closedTime", path),
        price_bands=_tick_bands(tick_micro, f"{path}.orderPriceMinTickSize"),
        min_order_size_micro=min_size,
        fractional=True,
        lot_size_micro=LOT_SIZE_MICRO,
        taker_fee=taker_fee,
        maker_fee=maker_fee,
        series_id=series_id,
        group=group,
        token_ids=token_ids,
        outcome_labels=labels,
        accepting_orders=accepting and token_ids is not None,
        venue_market_id="" if venue_id is None else str(venue_id),
        slug=_opt_str(d, "slug", path),
        buy_amount_increment_micro_usd=BUY_AMOUNT_INCREMENT_MICRO_USD,
        sell_amount_increment_micro_usd=SELL_AMOUNT_INCREMENT_MICRO_USD,
    )


def decode_gamma_markets(obj: Any, path: str = "markets") -> list[MarketInfo]:
    """A Gamma `/markets` listing (a JSON array of markets)."""
    return [decode_gamma_market(m, path=f"{path}[{i}]") for i, m in enumerate(_list(obj, path))]


def decode_gamma_event(obj: Any, path: str = "event") -> EventInfo:
    """A Gamma event with its nested markets. Slim listings nest markets with only `conditionId`,
    `question`, `slug` [D]: those are listed in `market_ids` but not decoded into `markets`."""
    d = _obj(obj, path)
    event_id = _id(d, "id", path)
    neg_risk = _opt_bool(d, "negRisk", path, False)
    augmented_flag = _opt_bool(d, "negRiskAugmented", path)
    group = _neg_risk_group(neg_risk, _opt_str(d, "negRiskMarketID", path) or event_id, "", augmented_flag, False)
    market_ids: list[str] = []
    markets: list[MarketInfo] = []
    nested = d.get("markets")
    if nested is not None:
        for i, m in enumerate(_list(nested, f"{path}.markets")):
            mpath = f"{path}.markets[{i}]"
            md = _obj(m, mpath)
            market_ids.append(_id(md, "conditionId", mpath))
            if "clobTokenIds" in md:
                markets.append(decode_gamma_market(md, event=d, path=mpath))
    series = d.get("series")
    series_id = _opt_str(d, "seriesSlug", path)
    if not series_id and type(series) is list and series and type(series[0]) is dict:
        series_id = _opt_str(series[0], "slug", f"{path}.series[0]")
    return EventInfo(
        venue=VENUE,
        event_id=event_id,
        title=_opt_str(d, "title", path),
        series_id=series_id,
        group=group,
        market_ids=tuple(market_ids),
        markets=tuple(markets),
    )


def decode_gamma_events(obj: Any, path: str = "events") -> list[EventInfo]:
    """A Gamma `/events` listing (array) or a `/public-search` answer (`{events: [...], ...}`)."""
    if type(obj) is dict and "events" in obj:
        obj = obj["events"]
        path = f"{path}.events"
    return [decode_gamma_event(e, path=f"{path}[{i}]") for i, e in enumerate(_list(obj, path))]


def decode_gamma_tags(obj: Any, path: str = "tags") -> list[GammaTag]:
    out = []
    for i, t in enumerate(_list(obj, path)):
        tpath = f"{path}[{i}]"
        d = _obj(t, tpath)
        tag_id = d.get("id")
        if type(tag_id) not in (str, int):
            raise FieldError(f"{tpath}.id", "must be a string or integer id", tag_id, venue=_V)
        out.append(GammaTag(str(tag_id), _opt_str(d, "label", tpath), _opt_str(d, "slug", tpath)))
    return out


# ---------------------------------------------------------------------------------------------
# CLOB REST: markets


def decode_clob_market(obj: Any, path: str = "market") -> MarketInfo:
    """A CLOB market (`/markets/{condition_id}`, items of `/markets` pages)."""
    d = _obj(obj, path)
    condition_id = _id(d, "condition_id", path)
    tokens = _list(d.get("tokens"), f"{path}.tokens")
    if len(tokens) != 2:
        raise FieldError(f"{path}.tokens", "must list exactly two tokens", tokens, venue=_V)
    ids: list[str] = []
    labels: list[str] = []
    for i, t in enumerate(tokens):
        tpath = f"{path}.tokens[{i}]"
        td = _obj(t, tpath)
        ids.append(_str(td, "token_id", tpath))
        labels.append(_opt_str(td, "outcome", tpath))
    if ids[0] and ids[1] and ids[0] != ids[1]:
        token_ids: tuple[str, str] | None = (ids[0], ids[1])
    elif not ids[0] and not ids[1]:
        token_ids = None  # an old market listed without CLOB tokens [D]
    else:
        raise FieldError(f"{path}.tokens", "must hold two distinct token ids", ids, venue=_V)
    closed = _opt_bool(d, "closed", path, False)
    active = _opt_bool(d, "active", path, True)
    accepting = bool(_opt_bool(d, "accepting_orders", path, False)) and token_ids is not None
    if closed:
        status = MarketStatus.CLOSED
    elif not active:
        status = MarketStatus.UNOPENED
    else:
        status = MarketStatus.OPEN if accepting else MarketStatus.PAUSED
    neg_risk = _opt_bool(d, "neg_risk", path, False)
    group = _neg_risk_group(neg_risk, _opt_str(d, "neg_risk_market_id", path) or condition_id, "", None, False)
    return MarketInfo(
        venue=VENUE,
        market_id=condition_id,
        event_id="",
        title=_opt_str(d, "question", path),
        subtitle="",
        rules_text=_opt_str(d, "description", path),
        status=status,
        open_time_ms=None,
        close_time_ms=_iso_ms(d, "end_date_iso", path),
        expiration_time_ms=None,
        price_bands=_tick_bands(_number_micro(d, "minimum_tick_size", path), f"{path}.minimum_tick_size"),
        min_order_size_micro=_number_micro(d, "minimum_order_size", path) or 0,
        fractional=True,
        lot_size_micro=LOT_SIZE_MICRO,
        taker_fee=None,  # the CLOB market carries no fee schedule: unknown until Gamma's is read
        maker_fee=None,
        group=group,
        token_ids=token_ids,
        outcome_labels=(labels[0], labels[1]),
        accepting_orders=accepting,
        slug=_opt_str(d, "market_slug", path),
        buy_amount_increment_micro_usd=BUY_AMOUNT_INCREMENT_MICRO_USD,
        sell_amount_increment_micro_usd=SELL_AMOUNT_INCREMENT_MICRO_USD,
    )


def _page(obj: Any, path: str) -> tuple[list[Any], str | None, str]:
    if type(obj) is list:
        return obj, None, path
    d = _obj(obj, path)
    items = _list(d.get("data"), f"{path}.data")
    cursor = d.get("next_cursor")
    if cursor is not None and type(cursor) is not str:
        raise FieldError(f"{path}.next_cursor", "must be a string", cursor, venue=_V)
    return items, cursor, f"{path}.data"


def decode_clob_markets_page(obj: Any, path: str = "markets") -> Page:
    items, cursor, ipath = _page(obj, path)
    return Page(tuple(decode_clob_market(m, f"{ipath}[{i}]") for i, m in enumerate(items)), cursor)


# ---------------------------------------------------------------------------------------------
# Books and the book hash


def hash_context_for(market: MarketInfo) -> BookHashContext:
    neg_risk = market.group is not None and market.group.kind is GroupKind.NEG_RISK
    return BookHashContext(min_order_size_text(market.min_order_size_micro), neg_risk)


_CURRENT_ONLY = ("tick_size", "last_trade_price", "min_order_size", "neg_risk")


def book_hash(d: dict[str, Any], context: BookHashContext | None = None) -> str | None:
    """The venue's hash of a book object (see the module docstring for both schemes), or None when
    it cannot be computed (a current-scheme frame without `min_order_size`/`neg_risk` context)."""
    levels = []
    for key in ("bids", "asks"):
        levels.append(
            [{"price": lv.get("price"), "size": lv.get("size")} for lv in d.get(key) or () if type(lv) is dict]
        )
    if not any(key in d for key in _CURRENT_ONLY):
        payload: dict[str, Any] = {
            "market": d.get("market"),
            "asset_id": d.get("asset_id"),
            "hash": "",
            "bids": levels[0],
            "asks": levels[1],
        }
    else:
        min_size = d.get("min_order_size", context.min_order_size if context else None)
        neg_risk = d.get("neg_risk", context.neg_risk if context else None)
        if min_size is None or neg_risk is None:
            return None
        payload = {
            "market": d.get("market"),
            "asset_id": d.get("asset_id"),
            "timestamp": d.get("timestamp"),
            "hash": "",
            "bids": levels[0],
            "asks": levels[1],
            "min_order_size": min_size,
            "tick_size": d.get("tick_size"),
            "neg_risk": neg_risk,
            "last_trade_price": d.get("last_trade_price"),
        }
    try:
        text = orjson.dumps(payload)
    except TypeError:  # pragma: no cover - JSON input always re-serialises
        return None
    return hashlib.sha1(text).hexdigest()


def _levels(value: Any, path: str) -> tuple[tuple[int, int], ...]:
    out = []
    for i, lv in enumerate(_list(value, path)):
        if type(lv) is not dict:
            raise FieldError(f"{path}[{i}]", "must be a {price, size} object", lv, venue=_V)
        out.append(
            (level_price(lv.get("price"), f"{path}[{i}].price"), level_size(lv.get("size"), f"{path}[{i}].size"))
        )
    return tuple(out)


def decode_book(obj: Any, context: BookHashContext | None = None, path: str = "book") -> BookSnapshot:
    """A WS `book` event or a REST `/book` answer (book id = token id), hash checked when possible."""
    d = _obj(obj, path)
    asset_id = _id(d, "asset_id", path)
    market = _opt_str(d, "market", path)
    bids = _levels(d.get("bids"), f"{path}.bids")
    asks = _levels(d.get("asks"), f"{path}.asks")
    sent = d.get("hash")
    if sent is not None and type(sent) is not str:
        raise FieldError(f"{path}.hash", "must be a string", sent, venue=_V)
    tick = d.get("tick_size")
    tick_micro = None
    if tick is not None and tick != "":
        tick_micro = to_micro(tick, f"{path}.tick_size", venue=_V, allow_number=True)
        if not 0 < tick_micro < SCALE // 2 or SCALE % tick_micro:
            raise FieldError(f"{path}.tick_size", "must be a tick size dividing 1", tick, venue=_V)
    hash_ok = None
    if sent:
        computed = book_hash(d, context)
        hash_ok = None if computed is None else computed == sent
    return BookSnapshot(
        venue=VENUE,
        book_id=asset_id,
        market_id=market,
        bids=bids,
        asks=asks,
        exchange_ts_ms=_opt_ms(d, "timestamp", path),
        hash=sent,
        hash_ok=hash_ok,
        tick_size_micro_usd=tick_micro,
    )


def book_frame(
    *,
    market: str,
    asset_id: str,
    timestamp_ms: int,
    bids: Iterable[tuple[int, int]],
    asks: Iterable[tuple[int, int]],
    tick_size_micro: int,
    last_trade_price_micro: int | None,
    context: BookHashContext,
    price_decimals: int = 3,
    event_type: str | None = "book",
) -> dict[str, Any]:
    """A `book` frame (or REST `/book` body with `event_type=None`) with its current-scheme hash.
    Levels are written the way the venue lists them: bids ascending, asks descending (best last)."""
    text = decimal_text
    d: dict[str, Any] = {
        "market": market,
        "asset_id": asset_id,
        "timestamp": str(timestamp_ms),
        "hash": "",
        "bids": [{"price": text(p), "size": text(s)} for p, s in sorted(bids)],
        "asks": [{"price": text(p), "size": text(s)} for p, s in sorted(asks, reverse=True)],
        "tick_size": text(tick_size_micro),
        "last_trade_price": ""
        if last_trade_price_micro is None
        else micro_to_str(last_trade_price_micro, price_decimals),
    }
    if event_type is None:
        d["min_order_size"] = context.min_order_size
        d["neg_risk"] = context.neg_risk
    computed = book_hash(d, context)
    assert computed is not None
    d["hash"] = computed
    if event_type is not None:
        d["event_type"] = event_type
    return d


# ---------------------------------------------------------------------------------------------
# Market channel events


def decode_price_change(d: dict[str, Any], path: str = "price_change") -> list[BookChange]:
    """A `price_change` event, current (`price_changes[]`) or legacy (one flat level) format."""
    market = _opt_str(d, "market", path)
    ts = _opt_ms(d, "timestamp", path)
    changes = d.get("price_changes")
    if changes is None:
        if "price" not in d:
            raise FieldError(f"{path}.price_changes", "is missing", None, venue=_V)
        return [_change(d, market, ts, path, legacy=True)]
    out = []
    for i, c in enumerate(_list(changes, f"{path}.price_changes")):
        cpath = f"{path}.price_changes[{i}]"
        out.append(_change(_obj(c, cpath), market, ts, cpath, legacy=False))
    return out


def _change(c: dict[str, Any], market: str, ts: int | None, path: str, *, legacy: bool) -> BookChange:
    hash_value = c.get("hash")
    if hash_value is not None and type(hash_value) is not str:
        raise FieldError(f"{path}.hash", "must be a string", hash_value, venue=_V)
    return BookChange(
        venue=VENUE,
        book_id=_id(c, "asset_id", path),
        market_id=market,
        side=parse_book_side(c.get("side"), f"{path}.side"),
        price_micro_usd=level_price(c.get("price"), f"{path}.price"),
        size_micro=level_size(c.get("size"), f"{path}.size"),
        mode=ChangeMode.SET,
        exchange_ts_ms=ts,
        best_bid_micro_usd=None if legacy else parse_best(c.get("best_bid"), f"{path}.best_bid"),
        best_ask_micro_usd=None if legacy else parse_best(c.get("best_ask"), f"{path}.best_ask"),
        hash=hash_value,
    )


def _tick_size_change(d: dict[str, Any], path: str) -> TickSizeChange:
    ticks = []
    for key in ("old_tick_size", "new_tick_size"):
        micro = to_micro(d.get(key), f"{path}.{key}", venue=_V, allow_number=True)
        if not 0 < micro < SCALE // 2 or SCALE % micro:
            raise FieldError(f"{path}.{key}", "must be a tick size dividing 1", d.get(key), venue=_V)
        ticks.append(micro)
    return TickSizeChange(
        VENUE, _id(d, "asset_id", path), _opt_str(d, "market", path), ticks[0], ticks[1], _opt_ms(d, "timestamp", path)
    )


def _last_trade(d: dict[str, Any], path: str) -> Trade:
    asset = _id(d, "asset_id", path)
    ts = _opt_ms(d, "timestamp", path)
    tx = _opt_str(d, "transaction_hash", path)
    return Trade(
        venue=VENUE,
        book_id=asset,
        market_id=_opt_str(d, "market", path),
        trade_id=tx or f"{asset}:{ts}",  # 2024 frames carry no transaction hash [D]
        price_micro_usd=level_price(d.get("price"), f"{path}.price"),
        size_micro=level_size(d.get("size"), f"{path}.size"),
        taker_action=_action(d.get("side"), f"{path}.side"),
        taker_outcome=None,
        exchange_ts_ms=ts,
        fee_rate_bps=_bps(d, "fee_rate_bps", path),
    )


def _best_bid_ask(d: dict[str, Any], path: str) -> VenueNotice:
    detail = []
    for key in ("best_bid", "best_ask", "spread"):
        value = d.get(key)
        micro = parse_best(value, f"{path}.{key}")
        detail.append((key, "" if micro is None else micro_to_str(micro)))
    ts = _opt_ms(d, "timestamp", path)
    detail.append(("timestamp_ms", "" if ts is None else str(ts)))
    return VenueNotice(
        VENUE,
        "best_bid_ask",
        market_id=_opt_str(d, "market", path),
        book_id=_id(d, "asset_id", path),
        detail=tuple(detail),
    )


def _string_list(d: dict[str, Any], key: str, path: str) -> list[str]:
    value = d.get(key)
    if value is None:
        return []
    items = _list(value, f"{path}.{key}")
    for i, item in enumerate(items):
        if type(item) is not str:
            raise FieldError(f"{path}.{key}[{i}]", "must be a string", item, venue=_V)
    return items


def _new_market(d: dict[str, Any], path: str) -> MarketLifecycle:
    market = _id(d, "market", path)
    assets = _string_list(d, "assets_ids", path)
    outcomes = _string_list(d, "outcomes", path)
    detail = [
        ("id", str(d.get("id", ""))),
        ("question", _opt_str(d, "question", path)),
        ("slug", _opt_str(d, "slug", path)),
        ("assets_ids", ",".join(assets)),
        ("outcomes", ",".join(outcomes)),
    ]
    tick = d.get("order_price_min_tick_size")
    if tick:
        detail.append(
            (
                "tick_size",
                micro_to_str(to_micro(tick, f"{path}.order_price_min_tick_size", venue=_V, allow_number=True)),
            )
        )
    group = _opt_str(d, "group_item_title", path)
    if group:
        detail.append(("group_item_title", group))
    return MarketLifecycle(VENUE, market, "new_market", _opt_ms(d, "timestamp", path), "", tuple(detail))


def _market_resolved(d: dict[str, Any], path: str) -> MarketLifecycle:
    market = _id(d, "market", path)
    detail = (
        ("id", str(d.get("id", ""))),
        ("winning_asset_id", _opt_str(d, "winning_asset_id", path)),
        ("assets_ids", ",".join(_string_list(d, "assets_ids", path))),
    )
    return MarketLifecycle(
        VENUE, market, "market_resolved", _opt_ms(d, "timestamp", path), _opt_str(d, "winning_outcome", path), detail
    )


def decode_market_event(
    obj: Any, contexts: Mapping[str, BookHashContext] | None = None, path: str = "event"
) -> list[MarketEvent]:
    """One market-channel event object -> domain events (a price_change gives one per level)."""
    d = _obj(obj, path)
    kind = d.get("event_type")
    if kind == "price_change":
        return list(decode_price_change(d, path))
    if kind == "book":
        asset = d.get("asset_id")
        context = contexts.get(asset) if contexts is not None and type(asset) is str else None
        return [decode_book(d, context, path)]
    if kind == "last_trade_price":
        return [_last_trade(d, path)]
    if kind == "tick_size_change":
        return [_tick_size_change(d, path)]
    if kind == "best_bid_ask":
        return [_best_bid_ask(d, path)]
    if kind == "new_market":
        return [_new_market(d, path)]
    if kind == "market_resolved":
        return [_market_resolved(d, path)]
    if kind is None:
        raise UnknownShapeError(f"{path} has no event_type", venue=_V, field=f"{path}.event_type")
    shown = kind if type(kind) is str else repr(kind)
    raise UnknownShapeError(f"unknown market event_type {shown[:40]!r}", venue=_V, field=f"{path}.event_type")


PONG = VenueNotice(VENUE, "pong")


def decode_market_frame(data: bytes | str, contexts: Mapping[str, BookHashContext] | None = None) -> list[MarketEvent]:
    """A whole market-channel frame: `PONG`, one event object or an array of them."""
    if data == "PONG" or data == b"PONG":
        return [PONG]
    msg = loads(data)
    if type(msg) is list:
        out: list[MarketEvent] = []
        for i, item in enumerate(msg):
            out.extend(decode_market_event(item, contexts, f"frame[{i}]"))
        return out
    return decode_market_event(msg, contexts, "frame")


# ---------------------------------------------------------------------------------------------
# User channel and account REST


def _status_word(value: Any, field: str) -> str:
    if type(value) is not str or not value:
        raise FieldError(field, "is missing" if value is None else "must be a status string", value, venue=_V)
    word = value.upper()
    for prefix in ("ORDER_STATUS_", "TRADE_STATUS_"):
        word = word.removeprefix(prefix)
    return word


_TERMINAL_CANCEL = {"CANCELED", "CANCELLED", "CANCELED_MARKET_RESOLVED", "UNMATCHED", "EXPIRED"}


def _outcome(ctx: UserContext | None, asset: str, label: str) -> Side | None:
    if ctx is not None and ctx.tokens is not None:
        known = ctx.tokens.get(asset)
        if known is not None:
            return known[1]
    if label in ("Yes", "YES", "yes"):
        return Side.YES
    if label in ("No", "NO", "no"):
        return Side.NO
    return None


def decode_order(obj: Any, ctx: UserContext | None = None, path: str = "order") -> OrderUpdate:
    """A user-channel `order` event or an order object from `/data/orders` / `/data/order/{id}`."""
    d = _obj(obj, path)
    order_id = _id(d, "id", path)
    asset = _str(d, "asset_id", path)
    initial = level_size(d.get("original_size"), f"{path}.original_size")
    matched = level_size(d.get("size_matched", "0"), f"{path}.size_matched")
    if matched > initial:
        raise FieldError(f"{path}.size_matched", "exceeds original_size", d.get("size_matched"), venue=_V)
    word = _status_word(d.get("status"), f"{path}.status")
    event_type = d.get("type")
    if event_type == "CANCELLATION" or word in _TERMINAL_CANCEL:
        status = OrderStatus.CANCELED
    elif word == "LIVE":
        status = OrderStatus.OPEN
    elif word == "MATCHED":
        status = OrderStatus.FILLED if matched == initial else OrderStatus.OPEN
    elif word == "DELAYED":
        status = OrderStatus.UNKNOWN
    elif word == "INVALID":
        status = OrderStatus.REJECTED
    else:
        raise FieldError(f"{path}.status", "is not a known order status", d.get("status"), venue=_V)
    ts = _opt_ms(d, "timestamp", path)
    if ts is None:
        ts = _opt_ms(d, "created_at", path)
    reason = word if status in (OrderStatus.CANCELED, OrderStatus.REJECTED) else ""
    return OrderUpdate(
        venue=VENUE,
        order_id=order_id,
        client_order_id=None,
        market_id=_opt_str(d, "market", path),
        book_id=asset,
        outcome=_outcome(ctx, asset, _opt_str(d, "outcome", path)),
        action=_action(d.get("side"), f"{path}.side"),
        status=status,
        price_micro_usd=level_price(d.get("price"), f"{path}.price"),
        initial_size_micro=initial,
        filled_size_micro=matched,
        remaining_size_micro=0
        if status in (OrderStatus.CANCELED, OrderStatus.FILLED, OrderStatus.REJECTED)
        else initial - matched,
        exchange_ts_ms=ts,
        reason=reason,
    )


_FILL_STATUS = {s.name: s for s in FillStatus}


def decode_trade_fills(obj: Any, ctx: UserContext, path: str = "trade") -> list[Fill]:
    """Our fills in one trade (user-channel `trade` event or `/data/trades` item).

    TAKER: our taker order, at the trade's size and price. MAKER and TAKER alike: one fill per
    `maker_orders` entry that is ours (api key or address in `ctx`); each carries its own token
    (possibly the complementary one), price and matched amount. A TAKER trade can list our own
    resting orders among its makers (our order traded against our own): those legs are our fills
    too, and the venue may also send the same trade as MAKER, so each leg's id is
    `trade id:order id` and the session counts it once. A maker entry's side is sent in newer
    captures; otherwise it is the opposite of the taker's on the same token and the same as the
    taker's on the complementary token (a BUY-BUY match mints, a SELL-SELL match merges)."""
    d = _obj(obj, path)
    trade_id = _id(d, "id", path)
    status = _FILL_STATUS.get(_status_word(d.get("status"), f"{path}.status"))
    if status is None:
        raise FieldError(f"{path}.status", "is not a known trade status", d.get("status"), venue=_V)
    market = _opt_str(d, "market", path)
    asset = _id(d, "asset_id", path)
    taker_action = _action(d.get("side"), f"{path}.side")
    ts = _opt_ms(d, "match_time", path)
    if ts is None:
        ts = _opt_ms(d, "timestamp", path)
    role = d.get("trader_side")
    makers = _list(d.get("maker_orders", []), f"{path}.maker_orders")

    def fill(
        order_id: str,
        book_id: str,
        src: dict[str, Any],
        src_path: str,
        action: Action,
        size_key: str,
        liquidity: Liquidity,
    ) -> Fill:
        # the fee amount is not sent: the session prices it by the market's schedule (fee None
        # here), checking the rate this leg states
        # one fill per (trade, our order): the id stays the same through every status update
        return Fill(
            venue=VENUE,
            fill_id=f"{trade_id}:{order_id}",
            order_id=order_id,
            client_order_id=None,
            market_id=market,
            book_id=book_id,
            outcome=_outcome(ctx, book_id, _opt_str(src, "outcome", src_path)),
            action=action,
            price_micro_usd=level_price(src.get("price"), f"{src_path}.price"),
            size_micro=level_size(src.get(size_key), f"{src_path}.{size_key}"),
            fee_micro_usd=None,
            liquidity=liquidity,
            status=status,
            exchange_ts_ms=ts,
            fee_rate_bps=_bps(src, "fee_rate_bps", src_path),
        )

    fills = []
    if role == "TAKER":
        fills.append(fill(_id(d, "taker_order_id", path), asset, d, path, taker_action, "size", Liquidity.TAKER))
    elif role != "MAKER":
        raise FieldError(f"{path}.trader_side", "must be TAKER or MAKER", role, venue=_V)
    for i, m in enumerate(makers):
        mpath = f"{path}.maker_orders[{i}]"
        md = _obj(m, mpath)
        if not ctx.is_ours(md.get("owner"), md.get("maker_address")):
            continue
        order_id = _id(md, "order_id", mpath)
        maker_asset = _opt_str(md, "asset_id", mpath) or asset
        if md.get("side") is not None:
            action = _action(md.get("side"), f"{mpath}.side")
        elif maker_asset == asset:
            action = Action.SELL if taker_action is Action.BUY else Action.BUY
        else:
            action = taker_action
        fills.append(fill(order_id, maker_asset, md, mpath, action, "matched_amount", Liquidity.MAKER))
    return fills


def decode_user_event(obj: Any, ctx: UserContext, path: str = "event") -> list[UserEvent]:
    d = _obj(obj, path)
    kind = d.get("event_type")
    if kind == "order":
        return [decode_order(d, ctx, path)]
    if kind == "trade":
        return list(decode_trade_fills(d, ctx, path))
    if kind is None:
        raise UnknownShapeError(f"{path} has no event_type", venue=_V, field=f"{path}.event_type")
    shown = kind if type(kind) is str else repr(kind)
    raise UnknownShapeError(f"unknown user event_type {shown[:40]!r}", venue=_V, field=f"{path}.event_type")


def decode_user_frame(data: bytes | str, ctx: UserContext) -> list[UserEvent | VenueNotice]:
    if data == "PONG" or data == b"PONG":
        return [PONG]
    msg = loads(data)
    if type(msg) is list:
        out: list[UserEvent | VenueNotice] = []
        for i, item in enumerate(msg):
            out.extend(decode_user_event(item, ctx, f"frame[{i}]"))
        return out
    return list(decode_user_event(msg, ctx, "frame"))


def decode_orders_page(obj: Any, ctx: UserContext | None = None, path: str = "orders") -> Page:
    """`/data/orders` page (or a bare list) -> `Page` of `OrderUpdate`."""
    items, cursor, ipath = _page(obj, path)
    return Page(tuple(decode_order(o, ctx, f"{ipath}[{i}]") for i, o in enumerate(items)), cursor)


def decode_trades_page(obj: Any, ctx: UserContext, path: str = "trades") -> Page:
    """`/data/trades` page (or a bare list) -> `Page` of our `Fill`s (flattened)."""
    items, cursor, ipath = _page(obj, path)
    fills: list[Fill] = []
    for i, t in enumerate(items):
        fills.extend(decode_trade_fills(t, ctx, f"{ipath}[{i}]"))
    return Page(tuple(fills), cursor)


def decode_data_api_trades(obj: Any, path: str = "trades") -> list[Trade]:
    """Data API `/trades` (public trades; JSON numbers). It has no trade id and its `side` is the
    listed wallet's, not necessarily the taker's, so `taker_action` is left unknown."""
    out = []
    for i, t in enumerate(_list(obj, path)):
        tpath = f"{path}[{i}]"
        d = _obj(t, tpath)
        price = to_micro(d.get("price"), f"{tpath}.price", venue=_V, allow_number=True)
        if not 0 < price < SCALE:
            raise FieldError(f"{tpath}.price", "must be a price strictly within (0, 1)", d.get("price"), venue=_V)
        size = to_micro(d.get("size"), f"{tpath}.size", venue=_V, allow_number=True)
        if size < 0:
            raise FieldError(f"{tpath}.size", "must not be negative", d.get("size"), venue=_V)
        asset = _id(d, "asset", tpath)
        ts = _opt_ms(d, "timestamp", tpath)
        tx = _opt_str(d, "transactionHash", tpath)
        out.append(
            Trade(VENUE, asset, _opt_str(d, "conditionId", tpath), tx or f"{asset}:{ts}", price, size, None, None, ts)
        )
    return out


def decode_order_response(
    obj: Any, *, time_in_force: TimeInForce, request_market_id: str = "", book_id: str = "", path: str = "response"
) -> OrderAck:
    """`POST /order` answer. Status mapping (fills never come from here):
    live -> OPEN for GTC/GTD, UNKNOWN for FOK/FAK (a "live" FAK can fill later);
    delayed -> UNKNOWN; matched -> FILLED for FOK (all or nothing), OPEN for GTC/GTD (a rest may
    remain), UNKNOWN for FAK (how much filled is told by trade events); unmatched -> CANCELED;
    success false -> REJECTED with the venue's `errorMsg`."""
    d = _obj(obj, path)
    success = _opt_bool(d, "success", path)
    error = _opt_str(d, "errorMsg", path) or _opt_str(d, "error", path)
    order_id = _opt_str(d, "orderID", path) or _opt_str(d, "orderId", path)
    word = (_opt_str(d, "status", path) or "").lower()
    if success is None:
        success = bool(order_id) and not error
    immediate = time_in_force in (TimeInForce.FOK, TimeInForce.IOC)
    if not success:
        status, word = OrderStatus.REJECTED, word or "rejected"
    elif word == "live":
        status = OrderStatus.UNKNOWN if immediate else OrderStatus.OPEN
    elif word == "delayed":
        status = OrderStatus.UNKNOWN
    elif word == "matched":
        if time_in_force is TimeInForce.FOK:
            status = OrderStatus.FILLED
        elif time_in_force is TimeInForce.IOC:
            status = OrderStatus.UNKNOWN
        else:
            status = OrderStatus.OPEN
    elif word == "unmatched":
        status = OrderStatus.CANCELED
    else:
        raise FieldError(f"{path}.status", "is not a known order post status", d.get("status"), venue=_V)
    if success and not order_id:
        raise FieldError(f"{path}.orderID", "is missing", None, venue=_V)
    making = d.get("makingAmount")
    taking = d.get("takingAmount")
    trade_ids = d.get("tradeIDs") or ()
    if type(trade_ids) is not list or not all(type(t) is str for t in trade_ids):
        trade_ids = ()
    update = OrderUpdate(
        venue=VENUE,
        order_id=order_id,
        client_order_id=None,
        market_id=request_market_id,
        book_id=book_id,
        outcome=None,
        action=None,
        status=status,
        price_micro_usd=None,
        initial_size_micro=None,
        filled_size_micro=None,
        remaining_size_micro=None,
        reason=error,
    )
    return OrderAck(
        update=update,
        success=bool(success),
        venue_status=word,
        error=error,
        making_amount_micro=None
        if making in (None, "")
        else parse_micro(making, f"{path}.makingAmount", venue=_V, allow_number=True),
        taking_amount_micro=None
        if taking in (None, "")
        else parse_micro(taking, f"{path}.takingAmount", venue=_V, allow_number=True),
        trade_ids=tuple(trade_ids),
    )


def error_message(body: bytes | bytearray | str) -> str | None:
    """The venue's own text in an error answer: the CLOB's `{"error": "..."}` (its 4xx shape: "order
    ... crosses the book", "not enough balance / allowance", a FOK that cannot fill) or the older
    `{"success": false, "errorMsg": "..."}`; `errorMsg` first when both are non-empty. None when the
    body is not JSON or names no message (the caller shows the raw text). Never raises: a body
    nested too deeply to parse, or a non-string message, is simply not a message."""
    try:
        parsed = orjson.loads(body)
    except (orjson.JSONDecodeError, TypeError):
        return None
    if type(parsed) is not dict:
        return None
    for key in ("errorMsg", "error"):
        found = parsed.get(key)
        if type(found) is str and found:
            return found
    return None


def decode_cancel_response(obj: Any, path: str = "response") -> CancelResult:
    d = _obj(obj, path)
    canceled = d.get("canceled") or []
    canceled = _list(canceled, f"{path}.canceled")
    for i, c in enumerate(canceled):
        if type(c) is not str:
            raise FieldError(f"{path}.canceled[{i}]", "must be an order id string", c, venue=_V)
    not_canceled = d.get("not_canceled") or {}
    not_canceled = _obj(not_canceled, f"{path}.not_canceled")
    pairs = []
    for order_id, reason in not_canceled.items():
        pairs.append((order_id, reason if type(reason) is str else orjson.dumps(reason).decode()))
    return CancelResult(tuple(canceled), tuple(pairs))


def decode_positions(obj: Any, path: str = "positions") -> list[Position]:
    """Data API `/positions?user=` (JSON numbers): one `Position` per token held."""
    out = []
    for i, p in enumerate(_list(obj, path)):
        ppath = f"{path}[{i}]"
        d = _obj(p, ppath)
        size = to_micro(d.get("size"), f"{ppath}.size", venue=_V, allow_number=True)
        avg = d.get("avgPrice")
        cost = None
        if avg is not None:
            avg_micro = to_micro(avg, f"{ppath}.avgPrice", venue=_V, allow_number=True)
            cost = size * avg_micro // SCALE
        realized = d.get("realizedPnl")
        out.append(
            Position(
                venue=VENUE,
                market_id=_opt_str(d, "conditionId", ppath),
                position_micro=size,
                book_id=_id(d, "asset", ppath),
                cost_micro_usd=cost,
                realized_pnl_micro_usd=None
                if realized is None
                else to_micro(realized, f"{ppath}.realizedPnl", venue=_V, allow_number=True),
            )
        )
    return out


def decode_balance(obj: Any, path: str = "balance") -> Balance:
    """CLOB `/balance-allowance?asset_type=COLLATERAL`: `balance` in 6-decimal base units."""
    d = _obj(obj, path)
    raw = d.get("balance")
    if type(raw) is str and raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return Balance(VENUE, int(raw))
    if type(raw) is int and 0 <= raw < 10**18:
        return Balance(VENUE, raw)
    raise FieldError(f"{path}.balance", "must be a non-negative integer amount in base units", raw, venue=_V)


# ---------------------------------------------------------------------------------------------
# Outgoing messages


def market_subscribe_message(asset_ids: Iterable[str], *, custom_feature_enabled: bool = True) -> str:
    """First message on the market socket: subscribe with an initial book dump for every asset."""
    return orjson.dumps(
        {
            "assets_ids": list(asset_ids),
            "type": "market",
            "initial_dump": True,
            "level": 2,
            "custom_feature_enabled": custom_feature_enabled,
        }
    ).decode()


def market_subscribe_more_message(asset_ids: Iterable[str], *, custom_feature_enabled: bool = True) -> str:
    """Add assets to a live market socket (the server dumps their books)."""
    return orjson.dumps(
        {
            "operation": "subscribe",
            "assets_ids": list(asset_ids),
            "level": 2,
            "initial_dump": True,
            "custom_feature_enabled": custom_feature_enabled,
        }
    ).decode()


def user_subscribe_message(api_key: str, secret: str, passphrase: str, markets: Iterable[str]) -> str:
    """First message on the user socket. It holds the API secret: never log it."""
    return orjson.dumps(
        {
            "auth": {"apiKey": api_key, "secret": secret, "passphrase": passphrase},
            "markets": list(markets),
            "type": "user",
        }
    ).decode()
