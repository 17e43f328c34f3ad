"""Venue-neutral domain types: what the rest of the engine sees of a venue.

Wire formats never leak past `arb/venues/*`; decoders turn frames into these frozen values.
Prices and sizes are exact integers scaled by 10**6 (`arb.fixed`): `price_micro_usd`, `size_micro`.
Venue timestamps are integers in milliseconds since the epoch (`*_ms`), `None` when not sent.

Book identity: a *book* is one price ladder with bids and asks, keyed by `book_id`:
- Kalshi publishes one ladder per market ticker: YES bids, and NO bids which are YES asks at
  1 - price. Decoders normalise to that YES ladder, so `book_id` is the ticker and `outcome` YES;
  the NO instrument is the mirror of the same ladder (never modelled twice).
- Polymarket has one ladder per outcome token, so `book_id` is the token (asset) id; the market's
  YES and NO tokens are two books, mapped to outcomes by `MarketInfo.token_ids`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from decimal import Decimal

from arb.errors import ConfigError
from solvers.fees import FeeRule
from solvers.plan import Action
from solvers.problem import Side

__all__ = [
    "PLACEHOLDER_OUTCOME_LABEL",
    "Action",
    "Balance",
    "BookChange",
    "BookSide",
    "BookSnapshot",
    "ChangeMode",
    "EventInfo",
    "Fill",
    "FillStatus",
    "GroupInfo",
    "GroupKind",
    "LevelList",
    "Liquidity",
    "MarketInfo",
    "MarketLifecycle",
    "MarketStatus",
    "OrderRequest",
    "OrderState",
    "OrderStatus",
    "OrderUpdate",
    "Position",
    "PriceBand",
    "SeriesInfo",
    "Side",
    "StrikeInfo",
    "TickSizeChange",
    "TimeInForce",
    "Trade",
    "Venue",
    "VenueNotice",
]


class Venue(str, enum.Enum):
    KALSHI = "kalshi"
    POLYMARKET = "polymarket"


class BookSide(str, enum.Enum):
    BID = "bid"
    ASK = "ask"


class ChangeMode(enum.Enum):
    SET = "set"  # size is the new total at the level (Polymarket price_change); 0 removes it
    ADD = "add"  # size is a signed change (Kalshi orderbook_delta); <= 0 total removes the level


class GroupKind(str, enum.Enum):
    MUTUALLY_EXCLUSIVE = "mutually_exclusive"  # Kalshi event with mutually_exclusive: true
    NEG_RISK = "neg_risk"  # Polymarket negRisk event


class MarketStatus(str, enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"
    SETTLED = "settled"


class TimeInForce(str, enum.Enum):
    GTC = "gtc"  # rests until filled or cancelled
    GTD = "gtd"  # rests until an expiration time
    FOK = "fok"  # fill entirely now or cancel
    IOC = "ioc"  # fill what is available now, cancel the rest (Polymarket FAK)


class Liquidity(str, enum.Enum):
    TAKER = "taker"
    MAKER = "maker"


class OrderStatus(str, enum.Enum):
    PENDING = "pending"  # sent, no acknowledgement yet
    OPEN = "open"  # resting on the book (possibly partly filled)
    FILLED = "filled"  # nothing remains
    CANCELED = "canceled"  # cancelled or expired; `filled_micro` says how much filled before
    REJECTED = "rejected"  # the venue refused it
    UNKNOWN = "unknown"  # the outcome of a send is ambiguous until reconciled


class FillStatus(str, enum.Enum):
    """Settlement state of a fill. Kalshi fills are final; Polymarket trades advance
    MATCHED -> MINED -> CONFIRMED, or RETRYING -> FAILED (a reversal)."""

    MATCHED = "matched"
    MINED = "mined"
    CONFIRMED = "confirmed"
    RETRYING = "retrying"
    FAILED = "failed"


LevelList = tuple[tuple[int, int], ...]
"""Price levels as (price_micro_usd, size_micro) pairs."""


@dataclass(frozen=True, slots=True)
class PriceBand:
    """Tick size `step_micro_usd` applies to prices within [start, end]."""

    start_micro_usd: int
    end_micro_usd: int
    step_micro_usd: int


# An outcome label that stands for "everyone else" ("Other", "Someone else", "Person B", "the field"):
# its meaning depends on the rest of its group, so a group holding one is never taken as exhaustive
# by the graph and such a market is never paired by the link suggester. Use with `fullmatch`.
PLACEHOLDER_OUTCOME_LABEL = re.compile(
    r"\s*(?:(?:any\s+)?others?|another|other\s+\w+|any\s+other\b.*|(?:some|any|no)(?:one|body|thing)\s+else|"
    r"none\s+of\s+the\s+above|no\s*one|nobody|(?:the\s+)?field|"
    r"(?:person|player|candidate|team|option|party|country|company)\s+[a-z0-9]{1,2})\s*[.!?]?\s*",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """Membership in a multi-outcome group: at most one member resolves YES. `exhaustive` says the
    venue itself states that exactly one does: True only for Polymarket negRisk events sent with
    `negRiskAugmented: false`. It is False for augmented events (an implicit "Other" outcome) and for
    every Kalshi `mutually_exclusive` event, which states exclusivity only (when an unlisted outcome
    happens every market resolves NO); the graph proves Kalshi exhaustiveness itself."""

    group_id: str
    kind: GroupKind
    exhaustive: bool
    augmented: bool = False
    label: str = ""  # the outcome's name inside the group (Polymarket groupItemTitle)


@dataclass(frozen=True, slots=True)
class StrikeInfo:
    """Kalshi strike metadata: `strike_type` (greater, less, between, ...), floor and cap."""

    strike_type: str
    floor: Decimal | None = None
    cap: Decimal | None = None
    custom: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """One binary contract on one venue."""

    venue: Venue
    market_id: str  # Kalshi ticker; Polymarket condition id
    event_id: str  # Kalshi event ticker; Polymarket event id ("" when unknown)
    title: str
    subtitle: str  # Kalshi yes_sub_title; Polymarket groupItemTitle
    rules_text: str  # Kalshi rules_primary + rules_secondary; Polymarket description
    status: MarketStatus
    open_time_ms: int | None
    close_time_ms: int | None
    expiration_time_ms: int | None
    price_bands: tuple[PriceBand, ...]
    min_order_size_micro: int
    fractional: bool  # sizes below one whole contract allowed
    lot_size_micro: int  # size increment
    # None: the venue's fee schedule for this market is not known (a Polymarket market with fees
    # enabled and no feeSchedule, or read from the CLOB alone; a Kalshi market whose series fee type is
    # unknown or not yet read). Never priced as some default: the graph gives it no listings.
    taker_fee: FeeRule | None
    maker_fee: FeeRule | None
    series_id: str = ""
    group: GroupInfo | None = None
    strike: StrikeInfo | None = None
    token_ids: tuple[str, str] | None = None  # Polymarket (YES token, NO token)
    outcome_labels: tuple[str, str] = ("Yes", "No")
    accepting_orders: bool = True
    venue_market_id: str = ""  # Polymarket Gamma numeric id
    slug: str = ""
    # a BUY (SELL) order of q at limit price p signs the cash amount q x p, which the venue accepts
    # only on this increment (Polymarket FOK/FAK: buys whole cents, sells 0.0001); 0 = no constraint
    buy_amount_increment_micro_usd: int = 0
    sell_amount_increment_micro_usd: int = 0

    def book_ids(self) -> tuple[str, ...]:
        """The ladders this market's books are keyed by (see the module docstring)."""
        return self.token_ids if self.token_ids is not None else (self.market_id,)

    def tick_at(self, price_micro_usd: int) -> int:
        """Tick size at a price, from the price bands (the finest band that contains it); a price
        outside every band is a ConfigError."""
        steps = [b.step_micro_usd for b in self.price_bands if b.start_micro_usd <= price_micro_usd <= b.end_micro_usd]
        if not steps:
            raise ConfigError(f"{self.market_id}: price {price_micro_usd} is outside every price band")
        return min(steps)


@dataclass(frozen=True, slots=True)
class EventInfo:
    venue: Venue
    event_id: str
    title: str
    series_id: str
    group: GroupInfo | None  # set for exclusive events (Kalshi mutually_exclusive, Polymarket negRisk)
    market_ids: tuple[str, ...]
    markets: tuple[MarketInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """Kalshi series: fee type and multiplier (events may override them)."""

    series_id: str
    title: str
    fee_type: str
    fee_multiplier: Decimal


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A full ladder. Levels in any order; sizes > 0."""

    venue: Venue
    book_id: str
    market_id: str
    bids: LevelList
    asks: LevelList
    exchange_ts_ms: int | None = None
    seq: int | None = None  # Kalshi per-subscription sequence
    sid: int | None = None  # Kalshi subscription id
    hash: str | None = None  # Polymarket book hash as sent
    hash_ok: bool | None = None  # whether the recomputed hash matched (None: nothing to check)
    tick_size_micro_usd: int | None = None


@dataclass(frozen=True, slots=True)
class BookChange:
    """One level change. `mode` ADD: `size_micro` is a signed change; SET: the new total."""

    venue: Venue
    book_id: str
    market_id: str
    side: BookSide
    price_micro_usd: int
    size_micro: int
    mode: ChangeMode
    exchange_ts_ms: int | None = None
    seq: int | None = None
    sid: int | None = None
    best_bid_micro_usd: int | None = None  # the venue's own best after the change (Polymarket), for checking
    best_ask_micro_usd: int | None = None
    hash: str | None = None


@dataclass(frozen=True, slots=True)
class TickSizeChange:
    venue: Venue
    book_id: str
    market_id: str
    old_tick_micro_usd: int
    new_tick_micro_usd: int
    exchange_ts_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade. `price_micro_usd` is the YES price of the book it printed on (Kalshi: the
    market's YES price; Polymarket: the token's price), `taker_side` the aggressor's book side."""

    venue: Venue
    book_id: str
    market_id: str
    trade_id: str
    price_micro_usd: int
    size_micro: int
    taker_action: Action | None  # Polymarket BUY/SELL of the token
    taker_outcome: Side | None  # Kalshi taker_side yes/no
    exchange_ts_ms: int | None = None
    seq: int | None = None
    sid: int | None = None
    fee_rate_bps: int | None = None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the engine asks a venue to do. `client_order_id` is deterministic (journaled first)."""

    client_order_id: str
    market_id: str
    outcome: Side
    action: Action
    price_micro_usd: int  # limit price of the bought/sold outcome
    size_micro: int
    time_in_force: TimeInForce
    expiration_ms: int | None = None  # GTD only
    post_only: bool = False
    # Polymarket: the signed order's salt (its only free field), derived from the journaled intent so
    # that the order's hash, the venue's order id, follows from the journal; None: drawn at random.
    salt: int | None = None


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """The venue's view of one order at one moment."""

    venue: Venue
    order_id: str
    client_order_id: str | None
    market_id: str
    book_id: str
    outcome: Side | None
    action: Action | None
    status: OrderStatus
    price_micro_usd: int | None
    initial_size_micro: int | None
    filled_size_micro: int | None
    remaining_size_micro: int | None
    exchange_ts_ms: int | None = None
    reason: str = ""
    fees_micro_usd: int | None = None
    # How much the venue said matched at once in its answer to the order (Kalshi V2 `fill_count`):
    # a hint only, never a fill record; fills count only from Fill events or fill queries.
    fill_hint_micro: int | None = None
    error_code: str = ""  # the venue's machine-readable refusal code (Kalshi ErrorResponse.code), if any
    exchange_index: int | None = None  # Kalshi exchange shard holding the order, when sent


@dataclass(frozen=True, slots=True)
class OrderState:
    """Result of place/cancel/query: an update plus whether the venue confirmed it."""

    update: OrderUpdate
    acknowledged: bool = True


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one of our orders. `fill_id` is the venue's id (Kalshi trade_id/fill_id,
    Polymarket trade id + our order id); a fill is counted once per id, whatever its status."""

    venue: Venue
    fill_id: str
    order_id: str
    client_order_id: str | None
    market_id: str
    book_id: str
    outcome: Side | None
    action: Action | None
    price_micro_usd: int  # price of the outcome bought/sold
    size_micro: int
    fee_micro_usd: int | None
    liquidity: Liquidity | None
    status: FillStatus = FillStatus.CONFIRMED
    exchange_ts_ms: int | None = None
    seq: int | None = None
    exchange_index: int | None = None  # Kalshi exchange shard, when sent
    # Polymarket: the fee rate (bps) the trade message states for this leg; its trades give no fee
    # amount, so the user session prices the fill by the market's schedule and checks it against this
    fee_rate_bps: int | None = None


@dataclass(frozen=True, slots=True)
class Position:
    venue: Venue
    market_id: str
    position_micro: int  # signed: > 0 YES, < 0 NO (Kalshi convention); Polymarket per token
    book_id: str = ""
    cost_micro_usd: int | None = None
    realized_pnl_micro_usd: int | None = None
    fees_paid_micro_usd: int | None = None
    exchange_index: int | None = None  # Kalshi exchange shard, when sent


@dataclass(frozen=True, slots=True)
class Balance:
    venue: Venue
    available_micro_usd: int
    portfolio_value_micro_usd: int | None = None


@dataclass(frozen=True, slots=True)
class MarketLifecycle:
    """Market state changes: opened, closed, determined/resolved, settled, tick structure updates."""

    venue: Venue
    market_id: str
    kind: str  # venue's event type (created, activated, deactivated, determined, settled, market_resolved, ...)
    exchange_ts_ms: int | None = None
    result: str = ""  # resolved outcome label or winning token, when known
    detail: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class VenueNotice:
    """Control-plane messages: subscribed/ok/unsubscribed/error/pong, best bid/ask summaries,
    tickers. `kind` names it; `code` is the venue's error code when there is one."""

    venue: Venue
    kind: str
    sid: int | None = None
    seq: int | None = None
    request_id: int | None = None
    code: int | None = None
    message: str = ""
    market_id: str = ""
    book_id: str = ""
    detail: tuple[tuple[str, str], ...] = field(default=())
