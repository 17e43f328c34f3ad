"""A price-time-priority limit order book and matching engine for one instrument (one `book_id`).

The simulated venues run one `MatchingEngine` per ladder (a Kalshi ticker's YES ladder, a Polymarket
token). Everything is exact: prices are micro-USD ints strictly inside (0, 1_000_000), sizes are
positive micro-unit ints. Bids are buys (`BookSide.BID`), asks are sells (`BookSide.ASK`).

Matching rules:
- An incoming order matches resting orders on the other side whose price crosses its limit, best
  price first and, within a price, oldest first (price-time priority). Every fill prints at the
  resting (maker) order's price.
- Time in force: GTC and GTD rest whatever does not match (GTD expiry is the venue server's job: it
  cancels the order when its time comes). IOC fills what crosses now and cancels the rest. FOK first
  checks that enough crossing liquidity exists for the whole size; if not, it is cancelled with no
  fill and no change to the book.
- `fill_limit_micro` caps how much of an order may match immediately (the partial-fill fault). The
  unmatched rest of an IOC is cancelled; a FOK whose limit is below its size is killed. A GTC/GTD
  rest goes on the book only if it no longer crosses; if the opposite best still crosses it, it is
  cancelled (reason FILL_LIMIT), because a crossed ladder cannot exist on a real venue and would only
  make every subscriber's book untrusted.
- Self-trade: `SelfTradePolicy.ALLOW` (default) lets an owner's order match the same owner's resting
  orders like anyone else's. `CANCEL_TAKER` stops matching at the first resting order of the same
  owner and cancels the taker's remainder (reason SELF_TRADE), as venues with self-trade prevention
  do; for a FOK the liquidity check stops there too.

Every state change is reported: `SimFill`s (with an engine-wide, gapless `seq` starting at 1) and
`LevelDelta`s, one per level change in the order they happen, carrying both the new total and the
signed change, so a venue server can publish Kalshi `orderbook_delta` (signed) and Polymarket
`price_change` (new totals) from the same engine.

Orders are live, mutable `SimOrder` objects: `submit`, `cancel` and `order` return the engine's own
object, whose fields change as it fills; copy it (`dataclasses.replace`) to keep a moment.
Invariant for every order: size = filled + remaining + canceled.

Ids come from the injected `next_id(prefix)` with prefixes "order" and "fill", so tests and venue
servers choose the format (Kalshi UUIDs, Polymarket hex hashes) deterministically.

Bounded work and memory: every operation costs O(log levels + what it touches) - orders are found by
id in a dict, levels by price in a sorted list, resting orders of an owner in a per-owner dict, a
level's orders of one owner by scanning that one level. Nothing scans the history. Terminal orders
stay queryable up to `terminal_retention` (oldest forgotten first); an order submitted with
`keep=False` (the simulated venues' own "house" liquidity) is forgotten as soon as it is terminal,
so a feed driven for hours runs in flat memory.
"""

from __future__ import annotations

import enum
import itertools
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from arb.domain import BookSide, LevelList, OrderStatus, TimeInForce
from arb.errors import FieldError
from arb.fixed import SCALE

__all__ = [
    "CancelReason",
    "CancelResult",
    "LevelDelta",
    "MatchingEngine",
    "SelfTradePolicy",
    "SimFill",
    "SimOrder",
    "SubmitResult",
    "counting_clock_ms",
    "sequential_ids",
]

_OPEN = OrderStatus.OPEN
_FILLED = OrderStatus.FILLED
_CANCELED = OrderStatus.CANCELED
_BID = BookSide.BID
_ASK = BookSide.ASK


class SelfTradePolicy(str, enum.Enum):
    ALLOW = "allow"  # an owner's orders match each other like anyone's
    CANCEL_TAKER = "cancel_taker"  # stop at the owner's own resting order, cancel the taker's rest


class CancelReason(str, enum.Enum):
    """Why an order (or its remainder) was cancelled; venue servers map it to their own text."""

    REQUESTED = "requested"  # cancel() / cancel_all()
    IOC_REMAINDER = "ioc_remainder"  # IOC: the part that did not fill at once
    FOK_NOT_FILLABLE = "fok_not_fillable"  # FOK: not enough crossing liquidity (or a fill limit below the size)
    FILL_LIMIT = "fill_limit"  # GTC/GTD rest after a capped fill would have crossed the book
    SELF_TRADE = "self_trade"  # CANCEL_TAKER met the owner's own resting order


@dataclass(slots=True, eq=False)
class SimOrder:
    """One order, as the engine holds it (a live object: it changes as the order fills)."""

    order_id: str
    owner: str
    book_id: str
    side: BookSide
    price_micro_usd: int
    size_micro: int
    filled_micro: int
    remaining_micro: int  # still resting on the book; 0 once FILLED or CANCELED
    tif: TimeInForce
    status: OrderStatus
    client_order_id: str | None
    created_seq: int  # engine-wide arrival number (time priority)
    canceled_micro: int = 0  # size removed by cancellation (size = filled + remaining + canceled)
    cancel_reason: CancelReason | None = None
    keep: bool = True  # False: forgotten by the engine once terminal (house liquidity)

    @property
    def is_open(self) -> bool:
        return self.status is _OPEN


@dataclass(frozen=True, slots=True)
class SimFill:
    """One match between a taker (the incoming order) and a maker (a resting order)."""

    fill_id: str
    book_id: str
    price_micro_usd: int  # the maker's price
    size_micro: int
    taker_order_id: str
    maker_order_id: str
    taker_owner: str
    maker_owner: str
    taker_side: BookSide
    seq: int  # engine-wide, strictly increasing by one from 1


@dataclass(frozen=True, slots=True)
class LevelDelta:
    """A change of one price level: `size_micro` is the new total (0: the level is gone),
    `delta_micro` the signed change that produced it."""

    book_id: str
    side: BookSide
    price_micro_usd: int
    size_micro: int
    delta_micro: int


@dataclass(frozen=True, slots=True)
class SubmitResult:
    order: SimOrder
    fills: list[SimFill]
    deltas: list[LevelDelta]


@dataclass(frozen=True, slots=True)
class CancelResult:
    """`order` is None for an unknown (or long-forgotten) id; `canceled` says whether this call
    removed anything (False when the order had already filled or been cancelled)."""

    order: SimOrder | None
    deltas: list[LevelDelta] = field(default_factory=list)
    canceled: bool = False


def sequential_ids(separator: str = "-") -> Callable[[str], str]:
    """A deterministic `next_id`: "order-1", "order-2", "fill-1", ... (one counter per prefix)."""
    counters: dict[str, int] = {}

    def next_id(prefix: str) -> str:
        n = counters.get(prefix, 0) + 1
        counters[prefix] = n
        return f"{prefix}{separator}{n}"

    return next_id


def counting_clock_ms(start_ms: int = 1_767_225_600_000) -> Callable[[], int]:
    """A deterministic clock for a simulator given none: `start_ms`, then 1 ms more per reading."""
    ticks = itertools.count(start_ms)
    return lambda: next(ticks)


class _Ladder:
    """One side: FIFO queues per price (resting orders only), aggregate sizes, ascending prices."""

    __slots__ = ("prices", "queues", "totals")

    def __init__(self) -> None:
        self.queues: dict[int, deque[SimOrder]] = {}
        self.totals: dict[int, int] = {}
        self.prices: list[int] = []  # ascending

    def add(self, order: SimOrder) -> int:
        price = order.price_micro_usd
        total = self.totals.get(price)
        if total is None:
            self.queues[price] = deque((order,))
            insort(self.prices, price)
            total = 0
        else:
            self.queues[price].append(order)
        total += order.remaining_micro
        self.totals[price] = total
        return total

    def reduce(self, price: int, amount: int) -> int:
        """Take `amount` off the level's total; drop the level when it empties. Returns the new total."""
        total = self.totals[price] - amount
        if total:
            self.totals[price] = total
        else:
            del self.totals[price]
            del self.queues[price]
            del self.prices[bisect_left(self.prices, price)]
        return total


class MatchingEngine:
    """Price-time-priority book for one instrument. Single-threaded; one owner calls it in order."""

    __slots__ = (
        "_asks",
        "_bids",
        "_by_client_id",
        "_fill_seq",
        "_next_id",
        "_open_by_owner",
        "_order_seq",
        "_orders",
        "_terminal",
        "book_id",
        "self_trade",
        "terminal_retention",
        "volume_micro",
    )

    def __init__(
        self,
        book_id: str,
        next_id: Callable[[str], str],
        *,
        self_trade: SelfTradePolicy = SelfTradePolicy.ALLOW,
        terminal_retention: int = 100_000,
    ) -> None:
        """`terminal_retention`: how many filled/cancelled orders stay queryable by `order()`
        (oldest forgotten first), so long simulations run in bounded memory."""
        if terminal_retention < 0:
            raise ValueError(f"terminal_retention must not be negative, was {terminal_retention}")
        self.book_id = book_id
        self.self_trade = self_trade
        self.terminal_retention = terminal_retention
        self._next_id = next_id
        self._bids = _Ladder()
        self._asks = _Ladder()
        self._orders: dict[str, SimOrder] = {}
        self._terminal: deque[str] = deque()
        self._open_by_owner: dict[str, dict[str, SimOrder]] = {}
        self._by_client_id: dict[tuple[str, str], str] = {}
        self._order_seq = 0
        self._fill_seq = 0
        self.volume_micro = 0  # total matched size

    # -- orders --------------------------------------------------------------------------------

    def submit(
        self,
        owner: str,
        side: BookSide,
        price_micro_usd: int,
        size_micro: int,
        tif: TimeInForce,
        client_order_id: str | None = None,
        fill_limit_micro: int | None = None,
        *,
        keep: bool = True,
    ) -> SubmitResult:
        """Match a new limit order, rest or cancel its remainder per `tif`. Invalid input raises
        `FieldError` naming the argument, before anything changes. `keep=False`: forget the order
        (by id and client id) as soon as it is filled or cancelled."""
        if type(side) is not BookSide:
            raise FieldError("side", "must be a BookSide", side)
        if type(price_micro_usd) is not int or not 0 < price_micro_usd < SCALE:
            raise FieldError("price_micro_usd", "must be an int strictly within (0, 1_000_000)", price_micro_usd)
        if type(size_micro) is not int or size_micro <= 0:
            raise FieldError("size_micro", "must be a positive int", size_micro)
        if type(tif) is not TimeInForce:
            raise FieldError("tif", "must be a TimeInForce", tif)
        if fill_limit_micro is not None and (type(fill_limit_micro) is not int or fill_limit_micro < 0):
            raise FieldError("fill_limit_micro", "must be None or a non-negative int", fill_limit_micro)

        self._order_seq += 1
        order = SimOrder(
            self._next_id("order"),
            owner,
            self.book_id,
            side,
            price_micro_usd,
            size_micro,
            0,
            0,
            tif,
            _OPEN,
            client_order_id,
            self._order_seq,
            keep=keep,
        )
        self._orders[order.order_id] = order
        if client_order_id is not None:
            self._by_client_id[(owner, client_order_id)] = order.order_id
        fills: list[SimFill] = []
        deltas: list[LevelDelta] = []

        budget = size_micro if fill_limit_micro is None else min(size_micro, fill_limit_micro)
        if tif is TimeInForce.FOK and (budget < size_micro or self._crossing_liquidity(order, size_micro) < size_micro):
            self._finish(order, CancelReason.FOK_NOT_FILLABLE)
            return SubmitResult(order, fills, deltas)

        stopped_by_self_trade = self._match(order, budget, fills, deltas)
        rest = size_micro - order.filled_micro
        if rest == 0:
            self._finish(order, None)
        elif stopped_by_self_trade:
            self._finish(order, CancelReason.SELF_TRADE)
        elif tif is TimeInForce.IOC:
            self._finish(order, CancelReason.IOC_REMAINDER)
        elif tif is TimeInForce.FOK:  # only reachable if matching fell short of the checked liquidity
            raise AssertionError("FOK passed its liquidity check but did not fill")
        elif self.crosses(side, price_micro_usd):
            self._finish(order, CancelReason.FILL_LIMIT)
        else:
            order.remaining_micro = rest
            ladder = self._bids if side is _BID else self._asks
            total = ladder.add(order)
            self._open_by_owner.setdefault(owner, {})[order.order_id] = order
            deltas.append(LevelDelta(self.book_id, side, price_micro_usd, total, rest))
        return SubmitResult(order, fills, deltas)

    def cancel(self, order_id: str) -> CancelResult:
        """Cancel a resting order's remaining size."""
        order = self._orders.get(order_id)
        if order is None:
            return CancelResult(None)
        if order.status is not _OPEN:
            return CancelResult(order)
        amount = order.remaining_micro
        delta = self._unlink(order)
        self._close_open(order)
        self._finish(order, CancelReason.REQUESTED, order.canceled_micro + amount)
        return CancelResult(order, [delta], True)

    def amend(self, order_id: str, price_micro_usd: int, remaining_micro: int) -> SubmitResult:
        """Give a resting order a new price and remaining size, keeping its id and what it has
        filled (Kalshi's amend). The order leaves its queue, matches at the new price as an
        incoming order would (those fills are taker fills) and rests what is left at the back of
        its level: an amended order loses its time priority. Invalid input raises `FieldError`
        before anything changes."""
        if type(price_micro_usd) is not int or not 0 < price_micro_usd < SCALE:
            raise FieldError("price_micro_usd", "must be an int strictly within (0, 1_000_000)", price_micro_usd)
        if type(remaining_micro) is not int or remaining_micro <= 0:
            raise FieldError("remaining_micro", "must be a positive int", remaining_micro)
        order = self._orders.get(order_id)
        if order is None or order.status is not _OPEN:
            raise FieldError("order_id", "must name a resting order", order_id)
        deltas = [self._unlink(order)]
        fills: list[SimFill] = []
        order.size_micro = order.filled_micro + order.canceled_micro + remaining_micro
        order.price_micro_usd = price_micro_usd
        self._order_seq += 1
        order.created_seq = self._order_seq
        filled_before = order.filled_micro
        stopped = self._match(order, remaining_micro, fills, deltas)
        rest = remaining_micro - (order.filled_micro - filled_before)
        if rest == 0 or stopped:
            self._close_open(order)
            self._finish(order, None if rest == 0 else CancelReason.SELF_TRADE)
        else:
            order.remaining_micro = rest
            total = (self._bids if order.side is _BID else self._asks).add(order)
            deltas.append(LevelDelta(self.book_id, order.side, price_micro_usd, total, rest))
        return SubmitResult(order, fills, deltas)

    def decrease(self, order_id: str, amount_micro: int) -> CancelResult:
        """Take `amount_micro` off a resting order's remaining size, keeping its place in the queue
        (Kalshi's "decrease"); an order decreased to nothing is cancelled. `canceled` is True when
        anything was removed; an amount above what rests removes what rests."""
        if type(amount_micro) is not int or amount_micro <= 0:
            raise FieldError("amount_micro", "must be a positive int", amount_micro)
        order = self._orders.get(order_id)
        if order is None:
            return CancelResult(None)
        if order.status is not _OPEN:
            return CancelResult(order)
        if amount_micro >= order.remaining_micro:
            return self.cancel(order_id)
        ladder = self._bids if order.side is _BID else self._asks
        order.remaining_micro -= amount_micro
        order.canceled_micro += amount_micro
        total = ladder.reduce(order.price_micro_usd, amount_micro)
        delta = LevelDelta(self.book_id, order.side, order.price_micro_usd, total, -amount_micro)
        return CancelResult(order, [delta], True)

    def grow(self, order_id: str, amount_micro: int) -> LevelDelta:
        """Add `amount_micro` to a resting order that is the last in its level's queue: the same as
        a new order behind it, without a second order (how house liquidity grows a level)."""
        if type(amount_micro) is not int or amount_micro <= 0:
            raise FieldError("amount_micro", "must be a positive int", amount_micro)
        order = self._orders.get(order_id)
        if order is None or order.status is not _OPEN:
            raise FieldError("order_id", "must name a resting order", order_id)
        ladder = self._bids if order.side is _BID else self._asks
        if ladder.queues[order.price_micro_usd][-1] is not order:
            raise FieldError("order_id", "must be the last order in its level's queue", order_id)
        order.size_micro += amount_micro
        order.remaining_micro += amount_micro
        total = ladder.totals[order.price_micro_usd] + amount_micro
        ladder.totals[order.price_micro_usd] = total
        return LevelDelta(self.book_id, order.side, order.price_micro_usd, total, amount_micro)

    def cancel_all(self, owner: str) -> list[CancelResult]:
        """Cancel every resting order of `owner`, oldest first."""
        return [self.cancel(order_id) for order_id in list(self._open_by_owner.get(owner, ()))]

    # -- reading -------------------------------------------------------------------------------

    def order(self, order_id: str) -> SimOrder | None:
        return self._orders.get(order_id)

    def order_by_client_id(self, owner: str, client_order_id: str) -> SimOrder | None:
        order_id = self._by_client_id.get((owner, client_order_id))
        return None if order_id is None else self._orders.get(order_id)

    def orders_of(self, owner: str) -> list[SimOrder]:
        """`owner`'s resting orders, oldest first."""
        return list(self._open_by_owner.get(owner, {}).values())

    def orders_at(self, owner: str, side: BookSide, price_micro_usd: int) -> list[SimOrder]:
        """`owner`'s resting orders at one level, oldest first (a scan of that level only)."""
        queue = (self._bids if side is _BID else self._asks).queues.get(price_micro_usd)
        return [o for o in queue if o.owner == owner] if queue else []

    def owner_size_at(self, owner: str, side: BookSide, price_micro_usd: int) -> int:
        """What `owner` rests at one level (a scan of that level only)."""
        queue = (self._bids if side is _BID else self._asks).queues.get(price_micro_usd)
        if not queue:
            return 0
        return sum(o.remaining_micro for o in queue if o.owner == owner)

    def queue(self, side: BookSide, price_micro_usd: int) -> tuple[SimOrder, ...]:
        """The resting orders at one level in time priority (a copy; empty: no such level)."""
        found = (self._bids if side is _BID else self._asks).queues.get(price_micro_usd)
        return tuple(found) if found else ()

    def last_at(self, side: BookSide, price_micro_usd: int) -> SimOrder | None:
        """The newest resting order at a level (None: no such level)."""
        queue = (self._bids if side is _BID else self._asks).queues.get(price_micro_usd)
        return queue[-1] if queue else None

    def open_orders(self) -> list[SimOrder]:
        """Every resting order, oldest first."""
        orders = [o for by_owner in self._open_by_owner.values() for o in by_owner.values()]
        orders.sort(key=lambda o: o.created_seq)
        return orders

    def levels(self, side: BookSide, depth: int | None = None) -> list[tuple[int, int]]:
        """(price, total size) best first: bids highest first, asks lowest first."""
        if side is _BID:
            totals, prices = self._bids.totals, self._bids.prices
            chosen = prices[::-1] if depth is None else prices[: -depth - 1 : -1]
        else:
            totals, prices = self._asks.totals, self._asks.prices
            chosen = prices if depth is None else prices[:depth]
        return [(p, totals[p]) for p in chosen]

    def snapshot(self) -> tuple[LevelList, LevelList]:
        """(bids, asks), each best first."""
        return tuple(self.levels(_BID)), tuple(self.levels(_ASK))

    def best_bid(self) -> tuple[int, int] | None:
        prices = self._bids.prices
        return (prices[-1], self._bids.totals[prices[-1]]) if prices else None

    def best_ask(self) -> tuple[int, int] | None:
        prices = self._asks.prices
        return (prices[0], self._asks.totals[prices[0]]) if prices else None

    def crosses(self, side: BookSide, price_micro_usd: int) -> bool:
        """Whether an order on `side` at this price would meet the opposite best now (a bid at or
        above the best ask, an ask at or below the best bid), whoever owns it."""
        if side is _BID:
            return bool(self._asks.prices) and self._asks.prices[0] <= price_micro_usd
        return bool(self._bids.prices) and self._bids.prices[-1] >= price_micro_usd

    def size_at(self, side: BookSide, price_micro_usd: int) -> int:
        return (self._bids if side is _BID else self._asks).totals.get(price_micro_usd, 0)

    @property
    def last_fill_seq(self) -> int:
        return self._fill_seq

    # -- internals -----------------------------------------------------------------------------

    def _crossing_liquidity(self, taker: SimOrder, enough: int) -> int:
        """Size the taker could match now (stopping at its own order under CANCEL_TAKER), counted
        until `enough` is reached."""
        opposite = self._asks if taker.side is _BID else self._bids
        prices = opposite.prices if taker.side is _BID else reversed(opposite.prices)
        limit = taker.price_micro_usd
        buying = taker.side is _BID
        check_self = self.self_trade is SelfTradePolicy.CANCEL_TAKER
        available = 0
        for price in prices:
            if (price > limit) if buying else (price < limit):
                break
            if not check_self:
                available += opposite.totals[price]
            else:
                for maker in opposite.queues[price]:
                    if maker.owner == taker.owner:
                        return available
                    available += maker.remaining_micro
                    if available >= enough:
                        return available
            if available >= enough:
                break
        return available

    def _match(self, taker: SimOrder, budget: int, fills: list[SimFill], deltas: list[LevelDelta]) -> bool:
        """Match up to `budget`; returns True when self-trade prevention stopped it."""
        buying = taker.side is _BID
        opposite = self._asks if buying else self._bids
        maker_side = _ASK if buying else _BID
        prices = opposite.prices
        queues = opposite.queues
        limit = taker.price_micro_usd
        check_self = self.self_trade is SelfTradePolicy.CANCEL_TAKER
        book_id = self.book_id
        left = budget
        stopped = False
        while left and prices:
            price = prices[0] if buying else prices[-1]
            if (price > limit) if buying else (price < limit):
                break
            queue = queues[price]
            taken = 0
            while left and queue:
                maker = queue[0]
                if check_self and maker.owner == taker.owner:
                    stopped = True
                    break
                size = min(left, maker.remaining_micro)
                left -= size
                taken += size
                maker.filled_micro += size
                maker.remaining_micro -= size
                self._fill_seq += 1
                fills.append(
                    SimFill(
                        self._next_id("fill"),
                        book_id,
                        price,
                        size,
                        taker.order_id,
                        maker.order_id,
                        taker.owner,
                        maker.owner,
                        taker.side,
                        self._fill_seq,
                    )
                )
                if maker.remaining_micro == 0:
                    queue.popleft()
                    self._close_open(maker)
                    self._finish(maker, None)
            if taken:
                taker.filled_micro += taken
                self.volume_micro += taken
                total = opposite.reduce(price, taken)
                deltas.append(LevelDelta(book_id, maker_side, price, total, -taken))
            if stopped:
                break
        return stopped

    def _unlink(self, order: SimOrder) -> LevelDelta:
        """Take a resting order off its level (it stays open: the caller finishes or re-rests it)."""
        ladder = self._bids if order.side is _BID else self._asks
        queue = ladder.queues[order.price_micro_usd]
        # Re-quoting participants mostly cancel their newest (last) or oldest (first) order.
        if queue[-1] is order:
            queue.pop()
        elif queue[0] is order:
            queue.popleft()
        else:
            queue.remove(order)  # identity comparison (eq=False): a C-speed scan of one level
        amount = order.remaining_micro
        total = ladder.reduce(order.price_micro_usd, amount)
        order.remaining_micro = 0
        return LevelDelta(self.book_id, order.side, order.price_micro_usd, total, -amount)

    def _close_open(self, order: SimOrder) -> None:
        by_owner = self._open_by_owner.get(order.owner)
        if by_owner is not None:
            by_owner.pop(order.order_id, None)
            if not by_owner:
                del self._open_by_owner[order.owner]

    def _finish(self, order: SimOrder, reason: CancelReason | None, canceled: int | None = None) -> None:
        """Make an order terminal: FILLED when its rest was matched (`reason` None; a decreased
        order keeps its `canceled_micro`), else CANCELED with `reason`."""
        if canceled is None:
            canceled = order.size_micro - order.filled_micro - order.remaining_micro
        order.remaining_micro = 0
        if reason is None:
            order.status = _FILLED
        else:
            order.status = _CANCELED
            order.canceled_micro = canceled
            order.cancel_reason = reason
        if not order.keep:
            self._forget(order)
            return
        self._terminal.append(order.order_id)
        if len(self._terminal) > self.terminal_retention:
            forgotten = self._orders.get(self._terminal.popleft())
            if forgotten is not None:
                self._forget(forgotten)

    def _forget(self, order: SimOrder) -> None:
        if self._orders.get(order.order_id) is order:
            del self._orders[order.order_id]
        if order.client_order_id is not None:
            key = (order.owner, order.client_order_id)
            if self._by_client_id.get(key) == order.order_id:
                del self._by_client_id[key]
