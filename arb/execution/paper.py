"""Paper trading on live feeds: a `VenueClient` whose market data is a real client's and whose orders
never leave the process (`--paper` runs).

`PaperVenue(inner, config, wall_clock_ms=..., ids=...)` wraps a `KalshiClient` or `PolymarketClient`.
Market data passes through untouched: `books`, `markets()`, `subscribe()`, and every book, trade and
notice event reaches our `sink` as the inner client emits it. The inner client's own account events
(fills, order updates, positions of the real account) are dropped and counted: the paper account is
the only account this venue speaks for. Orders fill here, against the live books:

- Only displayed size at or better than the limit, and what a paper order took is gone until that
  book next changes: taken size is tracked per (book, side, price) together with the book's state
  (`OrderBook.snapshots`, `OrderBook.changes`), and forgotten when that state moves on. Sizes taken
  are whole lots of the market. A book that is not trusted (no snapshot yet, a gap) is not traded.
- IOC (Polymarket FAK) fills what is available and cancels the rest; FOK fills all or nothing; GTC
  and GTD take what is available, then rest and fill as makers at their own limit when a later book
  change shows NEW displayed size at or better than the limit (growth of a level over what the order
  last saw), in time priority among paper orders; GTD ends at its expiration (wall clock). A
  post-only order that would cross the displayed book is refused.
- Kalshi: one YES ladder per ticker. Buying NO at q is selling YES at 1 - q against the YES bids, and
  orders and fills are stated on the YES contract as the real client states them (outcome YES, BUY
  for a bid, SELL for an ask, the YES price). The position is one signed count (YES > 0, NO < 0) and
  nets like the venue's: an order first closes held opposite contracts (each closed pair pays back
  $1 minus the price paid for it), only the rest opens. Polymarket: one ladder per outcome token,
  positions per token, a sale needs the tokens.
- Fees are the market's own `FeeRule`s (`MarketInfo.taker_fee` for what an order takes on arrival,
  `maker_fee` for fills of a resting order), charged per order and role as the venue rounds them: each
  fill pays the rise of `FeeRule.order_fee` over the role's fills so far (Kalshi: fills up to $0.0001,
  the order total up to the cent). A market whose fee is unknown is not traded.
- Money is exact (`Decimal` cash, integer micro sizes). Cash starts at `PaperConfig.starting_cash_usd`;
  an order reserves what it can cost (the opening part at its limit plus the most its fee can be at
  any price the limit allows), and one that needs more than the available cash (or, on Polymarket,
  more tokens than held and not already offered) is refused like the venue refuses it.
- Refusals come back REJECTED with a reason, nothing filled, as the real clients return them: unknown
  market, market not open, price outside (0, 1) or off the tick, size <= 0 or off the lot or below
  the minimum, unknown fee, a GTD without a future expiration, post-only crossing, balance, a reused
  `client_order_id` (the venue's duplicate refusal: the first order stands and is never filled twice),
  a killed FOK and a FAK that matched nothing (both venues answer those as errors).
- Market lifecycle events the inner client delivers end a market for paper orders (determined,
  settled, resolved: resting ones cancelled, new ones refused; a Kalshi pause refuses new ones
  until `activated`) and pay its paper position once the result is known.
- Every event goes to the `sink` in order, synchronously: a Polymarket order's PENDING update first
  (as the real client announces the order id before sending), then its fills (`Fill`, unique
  `fill_id`, status CONFIRMED, liquidity TAKER or MAKER), then its new state. `positions()`,
  `balance()`, `open_orders()`, `fills()`, `cancel_order(s)` and `reconcile_order` are answered from
  the paper account. Order ids and fill ids come from the injected `ids` and counters, times from
  the injected `wall_clock_ms`: a run is deterministic given its feed.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Protocol

from arb.book import OrderBook
from arb.domain import (
    Action,
    Balance,
    BookChange,
    BookSide,
    BookSnapshot,
    Fill,
    FillStatus,
    Liquidity,
    MarketInfo,
    MarketLifecycle,
    MarketStatus,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    Side,
    TimeInForce,
    Venue,
)
from arb.errors import ConfigError, OrderRejectedError
from arb.fixed import SCALE, from_micro
from arb.venues.base import Capabilities, ClientDiagnostics, EventSink, GuardedSink
from arb.venues.polymarket.orders import order_amounts
from solvers.fees import FeeRule

__all__ = ["PaperConfig", "PaperFeed", "PaperVenue"]

_ONE = Decimal(1)
_HALF = SCALE // 2
# The venues' own words for the refusals a caller may branch on (Kalshi error codes; Polymarket texts).
_KALSHI_DUPLICATE = "order_already_exists"
_KALSHI_FOK_KILLED = "fill_or_kill_insufficient_resting_volume"
_KALSHI_BALANCE = "insufficient_balance"
_KALSHI_POST_ONLY = "post_only_cross"
_PM_FOK_KILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
_PM_FAK_NO_MATCH = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)
_PM_BALANCE = "not enough balance / allowance"
_PM_POST_ONLY = "invalid post-only order: order crosses book"
# Lifecycle kinds after which a market takes no orders (Kalshi market_lifecycle_v2; Polymarket).
_CLOSING_KINDS = frozenset({"determined", "settled", "closed", "market_resolved"})
_PAUSE_KIND = "deactivated"  # Kalshi: trading paused; resting orders stay (unless sent cancel-on-pause)


@dataclass(frozen=True, slots=True)
class PaperConfig:
    """One paper venue. `starting_cash_usd`: the account's cash at start (exact, >= 0);
    `order_id_prefix`: the default order ids are `<prefix>-<venue>-<n>`."""

    starting_cash_usd: Decimal
    order_id_prefix: str = "paper"

    def __post_init__(self) -> None:
        cash = self.starting_cash_usd
        if not isinstance(cash, Decimal) or not cash.is_finite() or cash < 0:
            raise ConfigError(f"paper starting_cash_usd must be a finite non-negative Decimal, was {cash!r}")
        if cash != cash.quantize(Decimal("0.000001")):
            raise ConfigError(f"paper starting_cash_usd has more than 6 decimals: {cash}")
        if not self.order_id_prefix or not isinstance(self.order_id_prefix, str):
            raise ConfigError(f"paper order_id_prefix must be a non-empty string, was {self.order_id_prefix!r}")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> PaperConfig:
        """From a parsed config table (e.g. TOML `[paper.kalshi]`): cash as a decimal string (or an
        integer), unknown keys refused by name."""
        if not isinstance(raw, Mapping):
            raise ConfigError(f"paper config must be a table, was {type(raw).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise ConfigError(f"unknown paper config keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        if "starting_cash_usd" not in raw:
            raise ConfigError("missing paper config key: starting_cash_usd")
        cash = raw["starting_cash_usd"]
        if isinstance(cash, bool) or not isinstance(cash, (str, int, Decimal)):
            raise ConfigError(f"paper starting_cash_usd must be a decimal string, was {cash!r}")
        try:
            amount = Decimal(cash)
        except ArithmeticError:
            raise ConfigError(f"paper starting_cash_usd is not a decimal number: {cash!r}") from None
        return cls(**{**dict(raw), "starting_cash_usd": amount})


class PaperFeed(Protocol):
    """What `PaperVenue` needs of the client it wraps (both real clients have it)."""

    venue: Venue
    capabilities: Capabilities

    @property
    def books(self) -> dict[str, OrderBook]: ...

    @property
    def sink(self) -> EventSink | None: ...

    @sink.setter
    def sink(self, sink: EventSink | None) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def subscribe(self, markets: Sequence[MarketInfo]) -> None: ...

    async def markets(self, **filters: Any) -> list[MarketInfo]: ...


@dataclass(slots=True)
class _Holding:
    """One position: a signed count (Kalshi: YES > 0, NO < 0; Polymarket: tokens held, >= 0)."""

    market_id: str
    book_id: str
    count_micro: int = 0
    cost_usd: Decimal = Decimal(0)
    realized_usd: Decimal = Decimal(0)
    fees_usd: Decimal = Decimal(0)


@dataclass(slots=True)
class _Order:
    """A paper order. `side` and `price_micro` are on its ladder (Kalshi: the YES ladder, a bid buys
    YES; Polymarket: the token's ladder, a bid buys the token)."""

    order_id: str
    request: OrderRequest
    market: MarketInfo
    book_id: str
    side: BookSide
    price_micro: int
    lot_micro: int
    outcome: Side  # as stated on its updates and fills
    action: Action
    status: OrderStatus = OrderStatus.PENDING
    filled_micro: int = 0
    fee_usd: Decimal = Decimal(0)
    role_fills: dict[Liquidity, list[tuple[Decimal, Decimal]]] = field(default_factory=dict)
    role_fees: dict[Liquidity, Decimal] = field(default_factory=dict)
    closing_left_micro: int = 0  # Kalshi: held opposite contracts this order will close
    seen: dict[int, int] = field(default_factory=dict)  # resting: displayed size per level it last saw
    reason: str = ""
    updated_ms: int | None = None

    @property
    def remaining_micro(self) -> int:
        return self.request.size_micro - self.filled_micro if self.status is OrderStatus.OPEN else 0

    def crosses(self, price_micro: int) -> bool:
        """A level at `price_micro` on the opposite side is at or better than this order's limit."""
        return price_micro <= self.price_micro if self.side is BookSide.BID else price_micro >= self.price_micro


@dataclass(slots=True)
class _Taken:
    """What paper orders took from one book in one state (`OrderBook.snapshots`, `.changes`), and
    the ladders of that state."""

    state: tuple[int, int]
    ladders: tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]
    size: dict[tuple[BookSide, int], int] = field(default_factory=dict)


def _yes_ladder(outcome: Side, action: Action, price_micro: int) -> tuple[BookSide, int]:
    """Where a Kalshi order sits on the market's one YES ladder: buying YES or selling NO bids,
    selling YES or buying NO asks, at the YES price (NO at q is YES at 1 - q)."""
    yes_price = price_micro if outcome is Side.YES else SCALE - price_micro
    buys_yes = (outcome is Side.YES) is (action is Action.BUY)
    return (BookSide.BID if buys_yes else BookSide.ASK), yes_price


def _micro(amount: Decimal) -> int:
    """Micro-USD of an exact amount (floored: a cost basis split pro rata can have more decimals)."""
    return int((amount * SCALE).to_integral_value(rounding=ROUND_FLOOR))


def _default_ids(prefix: str) -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter)}"


class PaperVenue:
    """A `VenueClient` that trades a paper account against the live books of `inner`."""

    def __init__(
        self,
        inner: PaperFeed,
        config: PaperConfig,
        *,
        wall_clock_ms: Callable[[], int],
        ids: Callable[[], str] | None = None,
        sink: EventSink | None = None,
    ) -> None:
        self.inner = inner
        self.config = config
        self.venue = inner.venue
        self.capabilities = replace(
            inner.capabilities, fills_can_fail=False, ack_may_precede_fill=False, amend=False, fill_stream=True
        )
        self.diagnostics = ClientDiagnostics()  # what our sink raised (recorded, never propagated)
        self._sink = GuardedSink(sink, self.diagnostics)
        self._wall_ms = wall_clock_ms
        self._ids = ids or _default_ids(f"{config.order_id_prefix}-{inner.venue.value}")
        self._fill_numbers = itertools.count(1)
        self._cash = config.starting_cash_usd
        self._markets: dict[str, MarketInfo] = {}
        self._orders: dict[str, _Order] = {}  # insertion order = time priority
        self._by_client_id: dict[str, str] = {}
        self._resting: dict[str, dict[str, _Order]] = {}  # book id -> open orders, oldest first
        self._fills: list[Fill] = []
        self._holdings: dict[str, _Holding] = {}  # Kalshi: ticker; Polymarket: token id
        self._taken: dict[str, _Taken] = {}
        self._settled: set[str] = set()  # market ids whose paper positions were paid out
        self.dropped_account_events = 0  # the inner client's real-account events, not passed on
        inner.sink = self._on_feed_event

    def __repr__(self) -> str:
        return f"PaperVenue({self.venue.value}, cash={self._cash}, orders={len(self._orders)})"

    # -- market data: the inner client's --------------------------------------------------------

    @property
    def books(self) -> dict[str, OrderBook]:
        return self.inner.books

    @books.setter
    def books(self, books: dict[str, OrderBook]) -> None:
        raise ConfigError("a paper venue's books are its feed's: they cannot be replaced")

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def subscribe(self, markets: Sequence[MarketInfo]) -> None:
        self.remember_markets(markets)
        await self.inner.subscribe(markets)

    async def markets(self, **filters: Any) -> list[MarketInfo]:
        found = await self.inner.markets(**filters)
        self.remember_markets(found)
        return found

    def remember_markets(self, markets: Sequence[MarketInfo]) -> None:
        """The markets orders may name (`markets()` and `subscribe()` call this)."""
        for market in markets:
            if not isinstance(market, MarketInfo):
                raise ConfigError(f"paper {self.venue.value} needs MarketInfo (ticks, lots, fees), was {market!r}")
            if market.venue is not self.venue:
                raise ConfigError(f"paper {self.venue.value}: market {market.market_id} is on {market.venue.value}")
            self._markets[market.market_id] = market

    def _on_feed_event(self, event: Any) -> None:
        if isinstance(event, (Fill, OrderUpdate, Position, Balance)):
            self.dropped_account_events += 1
            return
        self._emit(event)
        if isinstance(event, (BookSnapshot, BookChange)):
            self._expire_due()
            self._book_moved(event.book_id)
        elif isinstance(event, MarketLifecycle):
            self._lifecycle(event)

    def _lifecycle(self, event: MarketLifecycle) -> None:
        """A market ends (Kalshi determined/settled, Polymarket resolved): its resting paper orders
        are cancelled and new ones refused. Kalshi `deactivated` pauses it (new orders refused,
        resting ones stay) until `activated`. A known result settles the paper position once: $1
        per winning contract (Kalshi yes/no, Polymarket's winning token); a Kalshi void returns the
        position's cost."""
        market = self._markets.get(event.market_id)
        if market is None:
            return
        if event.kind in ("activated", _PAUSE_KIND):
            if market.status in (MarketStatus.OPEN, MarketStatus.PAUSED):
                opened = event.kind == "activated"
                status = MarketStatus.OPEN if opened else MarketStatus.PAUSED
                self._markets[market.market_id] = replace(market, status=status, accepting_orders=opened)
            return
        if event.kind not in _CLOSING_KINDS:
            return
        self._markets[market.market_id] = replace(market, status=MarketStatus.CLOSED, accepting_orders=False)
        for order in self._open_orders():
            if order.market.market_id == market.market_id:
                self._end(order, OrderStatus.CANCELED, f"market closed ({event.kind})")
                self._emit(self._update(order))
        if market.market_id not in self._settled:
            self._settle(market, event)

    def _settle(self, market: MarketInfo, event: MarketLifecycle) -> None:
        if self.venue is Venue.KALSHI:
            holding = self._holdings.get(market.market_id)
            if event.result not in ("yes", "no", "void"):
                return
            self._settled.add(market.market_id)
            if holding is None or not holding.count_micro:
                return
            if event.result == "void":
                payout = holding.cost_usd
            else:
                won = holding.count_micro > 0 if event.result == "yes" else holding.count_micro < 0
                payout = from_micro(abs(holding.count_micro)) if won else Decimal(0)
            self._pay(holding, payout)
            return
        winner = dict(event.detail).get("winning_asset_id", "")
        tokens = market.token_ids or ()
        if not winner and event.result in market.outcome_labels and len(tokens) == 2:
            winner = tokens[market.outcome_labels.index(event.result)]
        if winner not in tokens:
            return
        self._settled.add(market.market_id)
        for token in tokens:
            holding = self._holdings.get(token)
            if holding is not None and holding.count_micro:
                self._pay(holding, from_micro(holding.count_micro) if token == winner else Decimal(0))

    def _pay(self, holding: _Holding, payout: Decimal) -> None:
        """A settled position: its payout in cash, the position closed."""
        self._cash += payout
        holding.realized_usd += payout - holding.cost_usd
        holding.cost_usd = Decimal(0)
        holding.count_micro = 0

    @property
    def sink(self) -> EventSink | None:
        return self._sink.sink

    @sink.setter
    def sink(self, sink: EventSink | None) -> None:
        self._sink.sink = sink

    def _emit(self, event: Any) -> None:
        self._sink(event)  # a raising sink must not leave an order half-booked

    # -- the paper account ----------------------------------------------------------------------

    @property
    def cash_usd(self) -> Decimal:
        """Cash held, reserved part included (exact)."""
        return self._cash

    @property
    def reserved_usd(self) -> Decimal:
        """Cash held back by open orders (the most they can still cost)."""
        return sum((self._reservation(o) for o in self._open_orders()), Decimal(0))

    async def balance(self) -> Balance:
        """Available: cash less what open orders reserve (the venues' buying power); portfolio
        value: all cash plus the positions at cost."""
        self._expire_due()
        held_at_cost = sum((h.cost_usd for h in self._holdings.values()), Decimal(0))
        return Balance(self.venue, _micro(self._cash - self.reserved_usd), _micro(self._cash + held_at_cost))

    async def positions(self) -> list[Position]:
        return self.positions_now()

    def positions_now(self) -> list[Position]:
        """`positions()` without awaiting (the paper account is local)."""
        return [
            Position(
                venue=self.venue,
                market_id=h.market_id,
                position_micro=h.count_micro,
                book_id=h.book_id,
                cost_micro_usd=_micro(h.cost_usd),
                realized_pnl_micro_usd=_micro(h.realized_usd),
                fees_paid_micro_usd=_micro(h.fees_usd),
            )
            for h in self._holdings.values()
            if h.count_micro
        ]

    async def open_orders(self, market_id: str | None = None) -> list[OrderUpdate]:
        self._expire_due()
        return [self._update(o) for o in self._open_orders() if market_id is None or o.market.market_id == market_id]

    async def fills(
        self, market_id: str | None = None, order_id: str | None = None, *, since_ms: int | None = None
    ) -> list[Fill]:
        return [
            f
            for f in self._fills
            if (market_id is None or f.market_id == market_id)
            and (order_id is None or f.order_id == order_id)
            and (since_ms is None or (f.exchange_ts_ms or 0) >= since_ms)
        ]

    async def reconcile_order(self, key: str, market_id: str | None = None) -> OrderUpdate:
        """The order by client order id (Kalshi's key) or order id (Polymarket's); one this account
        never took is REJECTED ("unknown to the venue"): nothing is ever in flight here."""
        self._expire_due()
        order = self._find(key)
        if order is not None:
            return self._update(order)
        return OrderUpdate(
            self.venue,
            "",
            key,
            market_id or "",
            market_id or "",
            None,
            None,
            OrderStatus.REJECTED,
            None,
            None,
            0,
            0,
            reason="unknown to the venue",
        )

    async def cancel_order(self, order_id: str, market_id: str = "") -> OrderUpdate:
        """Cancel an open order; an order already over answers its final state. An id this account
        never had: Kalshi raises `OrderRejectedError` (as its client does), Polymarket answers
        REJECTED (its client's lookup verdict)."""
        self._expire_due()
        order = self._orders.get(order_id)
        if order is None:
            if self.venue is Venue.KALSHI:
                raise OrderRejectedError(
                    f"cancel {order_id}: no such order", venue=self.venue.value, status=404, reason="unknown order"
                )
            return await self.reconcile_order(order_id, market_id or None)
        if order.status is OrderStatus.OPEN:
            self._end(order, OrderStatus.CANCELED, "canceled")
            self._emit(self._update(order))
        return self._update(order)

    async def cancel_orders(self, orders: Sequence[str | tuple[str, str]]) -> list[OrderUpdate]:
        """Cancel each order (ids, or Kalshi's (order id, ticker) pairs); an unknown id is REJECTED."""
        out = []
        for item in orders:
            order_id, market_id = (item, "") if isinstance(item, str) else item
            if order_id in self._orders:
                out.append(await self.cancel_order(order_id, market_id))
            else:
                out.append(await self.reconcile_order(order_id, market_id or None))
        return out

    async def cancel_all(self) -> list[OrderUpdate]:
        return await self.cancel_orders([o.order_id for o in self._open_orders()])

    # -- placing --------------------------------------------------------------------------------

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[OrderUpdate]:
        """Each order in turn; a Kalshi batch larger than the venue's is refused as its client
        refuses it."""
        if self.venue is Venue.KALSHI and len(requests) > self.capabilities.max_batch_size:
            raise OrderRejectedError(
                f"at most {self.capabilities.max_batch_size} orders per batch, was {len(requests)}",
                venue=self.venue.value,
                reason="batch too large",
            )
        return [await self.place_order(r) for r in requests]

    async def place_order(self, request: OrderRequest) -> OrderUpdate:
        """Fill `request` against the live book now (and rest what a GTC/GTD leaves). Returns the
        order's state after that; its fills reached the sink first."""
        self._expire_due()
        checked = self._check(request)
        if isinstance(checked, OrderUpdate):
            return checked
        order = checked
        if self.venue is Venue.POLYMARKET:
            self._emit(self._update(order))  # the id is known before anything happens (PENDING)
        self._orders[order.order_id] = order
        if request.client_order_id:
            self._by_client_id[request.client_order_id] = order.order_id
        order.status = OrderStatus.OPEN
        book = self.inner.books[order.book_id]
        tif = request.time_in_force
        if tif is TimeInForce.FOK and self._fillable(order, book) < request.size_micro:
            text = _KALSHI_FOK_KILLED if self.venue is Venue.KALSHI else _PM_FOK_KILLED
            self._end(order, OrderStatus.REJECTED, text)
            update = self._update(order)
            if self.venue is Venue.KALSHI:
                update = replace(update, error_code=_KALSHI_FOK_KILLED)
            self._emit(update)
            return update
        self._take(order, book)
        if tif in (TimeInForce.IOC, TimeInForce.FOK):
            if order.filled_micro >= request.size_micro:
                self._end(order, OrderStatus.FILLED, "")
            elif order.filled_micro == 0 and self.venue is Venue.POLYMARKET:
                self._end(order, OrderStatus.REJECTED, _PM_FAK_NO_MATCH)
            else:
                self._end(order, OrderStatus.CANCELED, f"{tif.name}: unfilled rest cancelled")
        elif order.filled_micro >= request.size_micro:
            self._end(order, OrderStatus.FILLED, "")
        else:
            order.seen = self._levels_seen(order, book)
            self._resting.setdefault(order.book_id, {})[order.order_id] = order
        update = self._update(order)
        self._emit(update)
        return update

    def _check(self, request: OrderRequest) -> _Order | OrderUpdate:
        """The order, or its refusal (nothing sent, nothing filled)."""
        market = self._markets.get(request.market_id)
        if market is None:
            return self._refused(request, "unknown market (load it with markets() or subscribe() first)")
        if market.status is not MarketStatus.OPEN or not market.accepting_orders:
            return self._refused(request, f"market {market.market_id} is not open for trading")
        if not 0 < request.price_micro_usd < SCALE:
            return self._refused(request, f"price {request.price_micro_usd} micro-USD is outside (0, 1)")
        if request.size_micro <= 0:
            return self._refused(request, f"size {request.size_micro} micro must be positive")
        if request.time_in_force is TimeInForce.GTD and (
            request.expiration_ms is None or request.expiration_ms <= self._wall_ms()
        ):
            return self._refused(request, "a GTD order needs an expiration in the future")
        if self.venue is Venue.KALSHI:
            if not request.client_order_id:
                return self._refused(request, "client_order_id is required")
            side, price = _yes_ladder(request.outcome, request.action, request.price_micro_usd)
            book_id = market.market_id
            outcome, action = Side.YES, Action.BUY if side is BookSide.BID else Action.SELL
        else:
            if market.token_ids is None:
                return self._refused(request, f"market {market.market_id} has no token ids")
            book_id = market.token_ids[0 if request.outcome is Side.YES else 1]
            side = BookSide.BID if request.action is Action.BUY else BookSide.ASK
            price = request.price_micro_usd
            outcome, action = request.outcome, request.action
            if request.post_only and request.time_in_force not in (TimeInForce.GTC, TimeInForce.GTD):
                return self._refused(request, "postOnly is only allowed with GTC/GTD")
        book = self.inner.books.get(book_id)
        tick = self._tick(market, book, price)
        if tick is None or price % tick:
            return self._refused(request, f"price {price} micro-USD is not on the tick grid of {book_id} ({tick})")
        if self.venue is Venue.POLYMARKET:
            try:
                order_amounts(request.action, request.time_in_force, price, request.size_micro, tick)
            except OrderRejectedError as exc:
                return self._refused(request, str(exc))
        lot = market.lot_size_micro if market.lot_size_micro > 0 else 1
        if request.size_micro % lot:
            return self._refused(request, f"size {request.size_micro} micro is not a multiple of the lot {lot}")
        if request.size_micro < market.min_order_size_micro:
            return self._refused(
                request, f"size {request.size_micro} micro is below the minimum {market.min_order_size_micro}"
            )
        if market.taker_fee is None or (
            request.time_in_force in (TimeInForce.GTC, TimeInForce.GTD) and market.maker_fee is None
        ):
            return self._refused(request, f"the fee schedule of {market.market_id} is not known")
        if request.client_order_id and request.client_order_id in self._by_client_id:
            existing = self._by_client_id[request.client_order_id]
            return self._refused(
                request, f"order with client_order_id {request.client_order_id} exists ({existing})", _KALSHI_DUPLICATE
            )
        if book is None or not book.trusted:
            why = "no book" if book is None else book.untrusted_reason
            return self._refused(request, f"paper: book {book_id} cannot be traded on ({why})")
        order = _Order(
            order_id=self._ids(),
            request=request,
            market=market,
            book_id=book_id,
            side=side,
            price_micro=price,
            lot_micro=lot,
            outcome=outcome,
            action=action,
            updated_ms=self._wall_ms(),
        )
        if order.order_id in self._orders:
            raise ConfigError(f"paper order id {order.order_id!r} was issued twice: the injected ids must be unique")
        if request.post_only and any(order.crosses(p) for p, _ in self._opposite(book, side)):
            return self._refused(
                request,
                _PM_POST_ONLY if self.venue is Venue.POLYMARKET else "post-only order would cross the book",
                _KALSHI_POST_ONLY,
            )
        holding = self._holdings.get(book_id)
        held = holding.count_micro if holding is not None else 0
        if self.venue is Venue.KALSHI:
            closable = max(-held, 0) if side is BookSide.BID else max(held, 0)
            committed = sum(
                o.closing_left_micro for o in self._open_orders() if o.book_id == book_id and o.side is side
            )
            order.closing_left_micro = max(0, min(request.size_micro, closable - committed))
        elif side is BookSide.ASK:
            offered = sum(o.remaining_micro for o in self._open_orders() if o.book_id == book_id and o.side is side)
            if request.size_micro > held - offered:
                return self._refused(request, f"{_PM_BALANCE}: {held - offered} micro-tokens free to sell")
        order.status = OrderStatus.OPEN  # its reservation counts as an open order's would
        need = self._reservation(order)
        available = self._cash - self.reserved_usd
        order.status = OrderStatus.PENDING
        if need > available:
            text = _PM_BALANCE if self.venue is Venue.POLYMARKET else "insufficient balance"
            return self._refused(request, f"{text}: order needs {need}, available {available}", _KALSHI_BALANCE)
        return order

    def _refused(self, request: OrderRequest, reason: str, code: str = "") -> OrderUpdate:
        """A refusal stated as the real client states it (Kalshi: on the YES contract)."""
        outcome, action, price = request.outcome, request.action, request.price_micro_usd
        if self.venue is Venue.KALSHI:
            side, price = _yes_ladder(outcome, action, price)
            outcome, action, book_id = Side.YES, Action.BUY if side is BookSide.BID else Action.SELL, request.market_id
        else:
            market = self._markets.get(request.market_id)
            book_id = ""
            if market is not None and market.token_ids is not None:
                book_id = market.token_ids[0 if outcome is Side.YES else 1]
        return OrderUpdate(
            self.venue,
            "",
            request.client_order_id,
            request.market_id,
            book_id,
            outcome,
            action,
            OrderStatus.REJECTED,
            price,
            request.size_micro,
            0,
            0,
            reason=reason,
            error_code=code if self.venue is Venue.KALSHI else "",
        )

    # -- matching -------------------------------------------------------------------------------

    @staticmethod
    def _tick(market: MarketInfo, book: OrderBook | None, price: int) -> int | None:
        if book is not None and book.tick_size_micro_usd:
            return book.tick_size_micro_usd
        try:
            return market.tick_at(price)
        except ConfigError:
            return None

    @staticmethod
    def _opposite(book: OrderBook, side: BookSide) -> tuple[tuple[int, int], ...]:
        """The levels an order on `side` trades against, best first."""
        return book.asks() if side is BookSide.BID else book.bids()

    def _taken_at(self, book: OrderBook) -> dict[tuple[BookSide, int], int]:
        """Size paper orders took per (side, price) of `book` in its current state, forgotten once
        the state moves on: a change applied, or a snapshot with other levels. A snapshot that
        repeats the ladder (a resync, a re-subscription) shows the same orders, so what was
        taken from them stays taken."""
        state = (book.snapshots, book.changes)
        entry = self._taken.get(book.book_id)
        if entry is not None and entry.state != state:
            resent = entry.state[1] == state[1] and entry.ladders == book.snapshot_levels()
            if resent:
                entry.state = state
            else:
                entry = None
        if entry is None:
            entry = self._taken[book.book_id] = _Taken(state, book.snapshot_levels())
        return entry.size

    def _available(self, order: _Order, book: OrderBook) -> Iterator[tuple[int, int]]:
        """(price, size not yet taken) of each level at or better than the order's limit, best first."""
        taken = self._taken_at(book)
        opposite = BookSide.ASK if order.side is BookSide.BID else BookSide.BID
        for price, size in self._opposite(book, order.side):
            if not order.crosses(price):
                break
            yield price, size - taken.get((opposite, price), 0)

    def _fillable(self, order: _Order, book: OrderBook) -> int:
        lot = order.lot_micro
        return sum(free // lot * lot for _, free in self._available(order, book) if free > 0)

    def _take(self, order: _Order, book: OrderBook) -> None:
        """Take what is available at or better than the limit, best level first (taker fills at the
        level's price)."""
        for price, free in list(self._available(order, book)):
            left = order.request.size_micro - order.filled_micro
            if left <= 0:
                break
            size = min(free, left) // order.lot_micro * order.lot_micro
            if size > 0:
                self._fill(order, book, price, size, Liquidity.TAKER)

    def _levels_seen(self, order: _Order, book: OrderBook) -> dict[int, int]:
        return {p: s for p, s in self._opposite(book, order.side) if order.crosses(p)}

    def _book_moved(self, book_id: str) -> None:
        """A book changed: resting paper orders on it fill against the size that is new at or better
        than their limits (growth over what each last saw), oldest order first, as makers at
        their own limits."""
        resting = self._resting.get(book_id)
        book = self.inner.books.get(book_id)
        if not resting or book is None or not book.trusted:
            return
        for order in list(resting.values()):
            opposite = BookSide.ASK if order.side is BookSide.BID else BookSide.BID
            now_seen = self._levels_seen(order, book)
            taken = self._taken_at(book)
            filled_before = order.filled_micro
            for price, size in now_seen.items():
                left = order.request.size_micro - order.filled_micro
                new = size - order.seen.get(price, 0)
                free = size - taken.get((opposite, price), 0)
                take = min(new, free, left) // order.lot_micro * order.lot_micro
                if take > 0:
                    self._fill(order, book, price, take, Liquidity.MAKER)
            order.seen = now_seen
            if order.filled_micro >= order.request.size_micro:
                self._end(order, OrderStatus.FILLED, "")
            if order.filled_micro != filled_before:
                self._emit(self._update(order))

    def _fill(self, order: _Order, book: OrderBook, level_price: int, size: int, role: Liquidity) -> None:
        """One execution: mark the size taken, charge money and position, emit the Fill."""
        taken = self._taken_at(book)
        opposite = BookSide.ASK if order.side is BookSide.BID else BookSide.BID
        taken[(opposite, level_price)] = taken.get((opposite, level_price), 0) + size
        price = level_price if role is Liquidity.TAKER else order.price_micro  # a maker trades at its own limit
        rule = order.market.taker_fee if role is Liquidity.TAKER else order.market.maker_fee
        assert rule is not None  # checked before the order was taken
        fee = self._fee(order, rule, role, price, size)
        self._book_money(order, price, size, fee)
        order.filled_micro += size
        order.fee_usd += fee
        now = self._wall_ms()
        order.updated_ms = now
        fill = Fill(
            venue=self.venue,
            fill_id=f"{order.order_id}:{next(self._fill_numbers)}",
            order_id=order.order_id,
            client_order_id=order.request.client_order_id,
            market_id=order.market.market_id,
            book_id=order.book_id,
            outcome=order.outcome,
            action=order.action,
            price_micro_usd=price,
            size_micro=size,
            fee_micro_usd=_micro(fee),
            liquidity=role,
            status=FillStatus.CONFIRMED,
            exchange_ts_ms=now,
        )
        self._fills.append(fill)
        self._emit(fill)

    @staticmethod
    def _fee(order: _Order, rule: FeeRule, role: Liquidity, price: int, size: int) -> Decimal:
        """The rise of the order's fee for `role` (the venue rounds per fill, then per order)."""
        fills = order.role_fills.setdefault(role, [])
        fills.append((from_micro(price), from_micro(size)))
        total = rule.order_fee(fills)
        fee = total - order.role_fees.get(role, Decimal(0))
        order.role_fees[role] = total
        return fee

    def _book_money(self, order: _Order, price: int, size: int, fee: Decimal) -> None:
        holding = self._holdings.get(order.book_id)
        if holding is None:
            holding = self._holdings[order.book_id] = _Holding(order.market.market_id, order.book_id)
        p, q = from_micro(price), from_micro(size)
        if self.venue is Venue.KALSHI:
            # One signed count: an order first closes held opposite contracts (each closed pair pays
            # back $1 - the price paid for it), and only the rest opens at the price.
            unit = p if order.side is BookSide.BID else _ONE - p
            held_opposite = max(-holding.count_micro, 0) if order.side is BookSide.BID else max(holding.count_micro, 0)
            closing = min(size, held_opposite)
            order.closing_left_micro = max(0, order.closing_left_micro - closing)
            proceeds = from_micro(closing) * (_ONE - unit)
            cost = from_micro(size - closing) * unit
            if closing:
                removed = holding.cost_usd * closing / held_opposite
                holding.cost_usd -= removed
                holding.realized_usd += proceeds - removed
            holding.cost_usd += cost
            holding.count_micro += size if order.side is BookSide.BID else -size
            self._cash += proceeds - cost - fee
            self._recommit(order.book_id, order.side)
        elif order.side is BookSide.BID:
            holding.count_micro += size
            holding.cost_usd += p * q
            self._cash -= p * q + fee
        else:
            removed = holding.cost_usd * size / holding.count_micro if holding.count_micro else Decimal(0)
            holding.cost_usd -= removed
            holding.realized_usd += p * q - removed
            holding.count_micro -= size
            self._cash += p * q - fee
        holding.fees_usd += fee

    def _recommit(self, book_id: str, side: BookSide) -> None:
        """Kalshi: a fill netted held contracts that resting orders on `side` meant to close. Those
        orders now open what they would have closed, so they reserve cash for it (newest first,
        as the venue re-reserves)."""
        holding = self._holdings.get(book_id)
        held = 0 if holding is None else holding.count_micro
        closable = max(-held, 0) if side is BookSide.BID else max(held, 0)
        orders = [o for o in self._open_orders() if o.book_id == book_id and o.side is side]
        excess = sum(o.closing_left_micro for o in orders) - closable
        for order in reversed(orders):
            if excess <= 0:
                break
            moved = min(excess, order.closing_left_micro)
            order.closing_left_micro -= moved
            excess -= moved

    def _reservation(self, order: _Order) -> Decimal:
        """Cash an open order holds back: its opening part at its limit, plus the most its fee can
        still be at any price its limit allows (P(1 - P) peaks at 1/2)."""
        left = order.remaining_micro
        if left <= 0:
            return Decimal(0)
        p = from_micro(order.price_micro)
        if self.venue is Venue.KALSHI:
            unit = p if order.side is BookSide.BID else _ONE - p
            opening = from_micro(max(0, left - order.closing_left_micro)) * unit
        else:
            opening = from_micro(left) * p if order.side is BookSide.BID else Decimal(0)
        if order.side is BookSide.BID:
            worst = min(order.price_micro, _HALF)
        else:
            worst = max(order.price_micro, _HALF)
        bound = Decimal(0)
        for rule in (order.market.taker_fee, order.market.maker_fee):
            if rule is not None:
                bound = max(
                    bound,
                    rule.worst_order_fee([(from_micro(worst), from_micro(left))], from_micro(order.lot_micro)),
                )
        return opening + bound

    def _end(self, order: _Order, status: OrderStatus, reason: str) -> None:
        order.status = status
        order.reason = reason
        order.updated_ms = self._wall_ms()
        resting = self._resting.get(order.book_id)
        if resting is not None:
            resting.pop(order.order_id, None)

    def _expire_due(self) -> None:
        now = self._wall_ms()
        for order in list(self._open_orders()):
            expiry = order.request.expiration_ms
            if order.request.time_in_force is TimeInForce.GTD and expiry is not None and expiry <= now:
                self._end(order, OrderStatus.CANCELED, "expired")
                self._emit(self._update(order))

    # -- lookups --------------------------------------------------------------------------------

    def _open_orders(self) -> list[_Order]:
        return [o for book in self._resting.values() for o in book.values()]

    def _find(self, key: str) -> _Order | None:
        order_id = self._by_client_id.get(key, key)
        return self._orders.get(order_id)

    def _update(self, order: _Order) -> OrderUpdate:
        """The order's state, stated as the real client states it (Kalshi: on the YES contract at
        the YES price, BUY for a bid and SELL for an ask; Polymarket: the token bought or sold)."""
        pending = order.status is OrderStatus.PENDING
        return OrderUpdate(
            venue=self.venue,
            order_id=order.order_id,
            client_order_id=order.request.client_order_id,
            market_id=order.market.market_id,
            book_id=order.book_id,
            outcome=order.outcome,
            action=order.action,
            status=order.status,
            price_micro_usd=order.price_micro,
            initial_size_micro=order.request.size_micro,
            filled_size_micro=None if pending else order.filled_micro,
            remaining_size_micro=None if pending else order.remaining_micro,
            exchange_ts_ms=order.updated_ms,
            reason=order.reason,
            fees_micro_usd=_micro(order.fee_usd),
        )
