"""L2 order books: exact ladders with a continuity state, staleness clock, depth walk and the fixed
level slots the allocator reads.

`OrderBook` is one ladder (`book_id`, see `arb.domain`): bids and asks as {price: size} in exact
micro units, plus ascending price lists kept sorted with bisect, so a change costs a dict update and
(only when a level appears or vanishes) one bisect on a short list.

Continuity: a book is TRUSTED only after a snapshot and while every change since applied cleanly.
It becomes UNTRUSTED (with a reason) when the session sees a sequence gap, a hash mismatch or a
silent feed, when a change would drive a level negative, or when the ladder crosses (best bid >= best
ask: the venue would have matched those orders, so our copy is wrong). Untrusted books keep
applying changes but nothing downstream may trade on them until the next snapshot.

`BinaryBook` is the instrument view of one market: asks and bids of YES and of NO. For Kalshi the NO
side is the mirror of the single YES ladder (NO ask at 1 - YES bid), for Polymarket each outcome has
its own token ladder.
"""

from __future__ import annotations

import enum
from bisect import bisect_left, insort
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from arb.domain import BookChange, BookSide, BookSnapshot, ChangeMode, LevelList, Side
from arb.errors import BookError, ConfigError
from arb.fixed import SCALE, from_micro

__all__ = ["BinaryBook", "Continuity", "DepthWalk", "OrderBook"]


class Continuity(enum.Enum):
    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"


@dataclass(frozen=True, slots=True)
class DepthWalk:
    """Result of walking a ladder for `requested_micro`: how much is there, what it costs."""

    requested_micro: int
    filled_micro: int
    cost_usd: Decimal  # exact sum of price x size over the levels taken
    average_price_usd: Decimal | None
    worst_price_micro_usd: int | None
    levels_used: int

    @property
    def complete(self) -> bool:
        return self.filled_micro == self.requested_micro


class OrderBook:
    """One price ladder. Not thread-safe; one owner (the session) applies messages in order."""

    __slots__ = (
        "_ask_prices",
        "_asks",
        "_bid_prices",
        "_bids",
        "book_id",
        "changes",
        "continuity",
        "exchange_ts_ms",
        "last_update_ns",
        "market_id",
        "snapshots",
        "tick_size_micro_usd",
        "untrusted_reason",
        "venue",
    )

    def __init__(self, book_id: str, market_id: str = "", venue: str = "") -> None:
        self.book_id = book_id
        self.market_id = market_id or book_id
        self.venue = venue
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_prices: list[int] = []  # ascending; best bid last
        self._ask_prices: list[int] = []  # ascending; best ask first
        self.continuity = Continuity.UNTRUSTED
        self.untrusted_reason = "no snapshot yet"
        self.last_update_ns: int | None = None
        self.exchange_ts_ms: int | None = None
        self.snapshots = 0
        self.changes = 0
        self.tick_size_micro_usd: int | None = None

    # -- state ---------------------------------------------------------------------------------

    @property
    def trusted(self) -> bool:
        return self.continuity is Continuity.TRUSTED

    def mark_untrusted(self, reason: str) -> None:
        """Distrust the ladder until the next clean snapshot (first reason wins: it is the cause)."""
        if self.continuity is Continuity.TRUSTED:
            self.continuity = Continuity.UNTRUSTED
            self.untrusted_reason = reason

    def is_stale(self, now_ns: int, max_age_ns: int) -> bool:
        """True when nothing arrived for longer than `max_age_ns` (or never)."""
        return self.last_update_ns is None or now_ns - self.last_update_ns > max_age_ns

    def touch(self, now_ns: int) -> None:
        """Record that the feed for this book is alive without a change (e.g. an unchanged snapshot)."""
        self.last_update_ns = now_ns

    # -- applying ------------------------------------------------------------------------------

    def apply_snapshot(self, snapshot: BookSnapshot, now_ns: int) -> bool:
        """Replace both sides. Returns whether the book is trusted afterwards."""
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for target, levels, name in ((bids, snapshot.bids, "bids"), (asks, snapshot.asks, "asks")):
            for price, size in levels:
                self._check_price(price, name)
                if size < 0:
                    raise BookError(
                        f"{self.book_id}: negative size {size} at {price} in snapshot {name}", book_id=self.book_id
                    )
                if size:
                    # Duplicate prices in one snapshot: the venue listed a level twice; add them.
                    target[price] = target.get(price, 0) + size
        self._bids, self._asks = bids, asks
        self._bid_prices = sorted(bids)
        self._ask_prices = sorted(asks)
        self.last_update_ns = now_ns
        if snapshot.exchange_ts_ms is not None:
            self.exchange_ts_ms = snapshot.exchange_ts_ms
        if snapshot.tick_size_micro_usd is not None:
            self.tick_size_micro_usd = snapshot.tick_size_micro_usd
        self.snapshots += 1
        if snapshot.hash_ok is False:
            self.continuity = Continuity.UNTRUSTED
            self.untrusted_reason = "snapshot hash mismatch"
        elif self._crossed():
            self.continuity = Continuity.UNTRUSTED
            self.untrusted_reason = "crossed snapshot"
        else:
            self.continuity = Continuity.TRUSTED
            self.untrusted_reason = ""
        return self.continuity is Continuity.TRUSTED

    def apply_change(self, change: BookChange, now_ns: int) -> bool:
        """Apply one level change. Returns whether the book is trusted afterwards."""
        return self.apply_level(
            change.side, change.price_micro_usd, change.size_micro, change.mode, now_ns, change.exchange_ts_ms
        )

    def apply_level(
        self, side: BookSide, price: int, size: int, mode: ChangeMode, now_ns: int, exchange_ts_ms: int | None = None
    ) -> bool:
        if not 0 < price < SCALE:
            self.mark_untrusted(f"change at price {price} outside (0, 1)")
            raise BookError(f"{self.book_id}: change price {price} micro-USD is outside (0, 1)", book_id=self.book_id)
        if side is BookSide.BID:
            levels, prices = self._bids, self._bid_prices
        else:
            levels, prices = self._asks, self._ask_prices
        old = levels.get(price)
        if mode is ChangeMode.ADD:
            new = (old or 0) + size
            if new < 0:
                self.mark_untrusted(f"delta {size} drives level {price} below zero (was {old or 0})")
        else:
            if size < 0:
                self.mark_untrusted(f"negative total size {size} at {price}")
                raise BookError(f"{self.book_id}: SET change with negative size {size}", book_id=self.book_id)
            new = size
        if new <= 0:
            if old is not None:
                del levels[price]
                del prices[bisect_left(prices, price)]
        else:
            if old is None:
                insort(prices, price)
            levels[price] = new
        self.last_update_ns = now_ns
        if exchange_ts_ms is not None:
            self.exchange_ts_ms = exchange_ts_ms
        self.changes += 1
        if self._bid_prices and self._ask_prices and self._bid_prices[-1] >= self._ask_prices[0]:
            self.mark_untrusted(f"crossed: best bid {self._bid_prices[-1]} >= best ask {self._ask_prices[0]}")
        return self.continuity is Continuity.TRUSTED

    def _check_price(self, price: int, where: str) -> None:
        if not 0 < price < SCALE:
            raise BookError(f"{self.book_id}: {where} price {price} micro-USD is outside (0, 1)", book_id=self.book_id)

    def _crossed(self) -> bool:
        return bool(self._bid_prices and self._ask_prices and self._bid_prices[-1] >= self._ask_prices[0])

    # -- reading -------------------------------------------------------------------------------

    def best_bid(self) -> tuple[int, int] | None:
        if not self._bid_prices:
            return None
        price = self._bid_prices[-1]
        return price, self._bids[price]

    def best_ask(self) -> tuple[int, int] | None:
        if not self._ask_prices:
            return None
        price = self._ask_prices[0]
        return price, self._asks[price]

    def bids(self, depth: int | None = None) -> LevelList:
        """Bids best (highest) first."""
        prices = self._bid_prices[::-1] if depth is None else self._bid_prices[: -depth - 1 : -1]
        return tuple((p, self._bids[p]) for p in prices)

    def asks(self, depth: int | None = None) -> LevelList:
        """Asks best (lowest) first."""
        prices = self._ask_prices if depth is None else self._ask_prices[:depth]
        return tuple((p, self._asks[p]) for p in prices)

    def snapshot_levels(self) -> tuple[LevelList, LevelList]:
        return self.bids(), self.asks()

    def copy(self) -> OrderBook:
        """An independent copy (levels, trust, update time, tick): what another thread may read
        while the owner keeps applying messages to this one."""
        new = OrderBook.__new__(OrderBook)
        for name in OrderBook.__slots__:
            setattr(new, name, getattr(self, name))
        new._bids, new._asks = dict(self._bids), dict(self._asks)
        new._bid_prices, new._ask_prices = list(self._bid_prices), list(self._ask_prices)
        return new

    def is_crossed(self) -> bool:
        return self._crossed()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OrderBook):
            return NotImplemented
        return self._bids == other._bids and self._asks == other._asks

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable (typeshed types __hash__ as always callable)

    def __repr__(self) -> str:
        return f"OrderBook({self.book_id!r}, {self.continuity.value}, bid={self.best_bid()}, ask={self.best_ask()})"


def walk_levels(levels: LevelList | Iterator[tuple[int, int]], quantity_micro: int) -> DepthWalk:
    """Take `quantity_micro` from `levels` (best first): exact cost and average price."""
    if quantity_micro < 0:
        raise BookError(f"a depth walk needs a quantity of at least 0, was {quantity_micro}")
    remaining = quantity_micro
    cost_micro2 = 0  # price micro-USD x size micro-units: exact
    used = 0
    worst = None
    for price, size in levels:
        if remaining <= 0:
            break
        take = min(remaining, size)
        cost_micro2 += price * take
        remaining -= take
        worst = price
        used += 1
    filled = quantity_micro - remaining
    cost = Decimal(cost_micro2).scaleb(-12)
    average = (cost / from_micro(filled)) if filled else None
    return DepthWalk(quantity_micro, filled, cost, average, worst, used)


def _mirror(levels: LevelList) -> LevelList:
    return tuple((SCALE - p, s) for p, s in levels)


class BinaryBook:
    """Both instruments (YES, NO) of one binary market, over one mirrored ladder (Kalshi) or two
    token ladders (Polymarket)."""

    __slots__ = ("market_id", "no", "yes")

    def __init__(self, market_id: str, yes: OrderBook, no: OrderBook | None = None) -> None:
        self.market_id = market_id
        self.yes = yes
        self.no = no  # None: NO is the mirror of the YES ladder

    def copy(self) -> BinaryBook:
        """A copy over copied ladders (`OrderBook.copy`)."""
        return BinaryBook(self.market_id, self.yes.copy(), None if self.no is None else self.no.copy())

    @property
    def trusted(self) -> bool:
        return self.yes.trusted and (self.no is None or self.no.trusted)

    def is_stale(self, now_ns: int, max_age_ns: int) -> bool:
        return self.yes.is_stale(now_ns, max_age_ns) or (self.no is not None and self.no.is_stale(now_ns, max_age_ns))

    def asks(self, outcome: Side, depth: int | None = None) -> LevelList:
        """Where `outcome` can be bought, best (cheapest) first."""
        if outcome is Side.YES:
            return self.yes.asks(depth)
        if self.no is not None:
            return self.no.asks(depth)
        return _mirror(self.yes.bids(depth))

    def bids(self, outcome: Side, depth: int | None = None) -> LevelList:
        """Where `outcome` can be sold, best (highest) first."""
        if outcome is Side.YES:
            return self.yes.bids(depth)
        if self.no is not None:
            return self.no.bids(depth)
        return _mirror(self.yes.asks(depth))

    def best_ask(self, outcome: Side) -> tuple[int, int] | None:
        levels = self.asks(outcome, 1)
        return levels[0] if levels else None

    def best_bid(self, outcome: Side) -> tuple[int, int] | None:
        levels = self.bids(outcome, 1)
        return levels[0] if levels else None

    def tick_micro(self, outcome: Side) -> int | None:
        """The live tick of the ladder `outcome` is bought from (a venue tick change moves it), or
        None when the feed never stated one (then the listing's tick applies)."""
        ladder = self.no if outcome is Side.NO and self.no is not None else self.yes
        return ladder.tick_size_micro_usd

    def ask_slots(
        self, outcome: Side, slots: int, lot_micro: int, tick_micro: int | None = None
    ) -> tuple[list[int], list[int]]:
        """The best `slots` ask levels as (price micro-USD, size in whole lots), padded to exactly
        `slots` entries, the allocator's fixed slot layout, in the form its in-place update
        (`solvers.Allocator.update_levels_scaled`) accepts: an empty slot is 0 lots at the highest
        price on the tick grid (1 - tick). A shorter ladder thus updates the slots in place.

        `tick_micro`: the grid of the allocator's instrument; default the ladder's live tick."""
        tick = tick_micro if tick_micro is not None else self.tick_micro(outcome)
        if slots <= 0 or lot_micro <= 0:
            raise ConfigError(f"slots and lot size must be positive, was {slots} and {lot_micro}")
        if tick is None or not 0 < tick < SCALE or SCALE % tick:
            raise ConfigError(f"{self.market_id}: ask slots need a tick dividing $1, was {tick!r}")
        prices: list[int] = []
        sizes: list[int] = []
        for price, size in self.asks(outcome, slots):
            prices.append(price)
            sizes.append(size // lot_micro)
        empty_price = SCALE - tick
        while len(prices) < slots:
            prices.append(empty_price)
            sizes.append(0)
        return prices, sizes
