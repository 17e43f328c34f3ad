"""Setting a book directly: the simulated venues' "house" liquidity.

`set_level` and `set_book` make the house's resting size at a price (or a whole ladder) what a test
or scenario says, through ordinary engine operations, so every change comes out as the same
`LevelDelta`s (and, where new house liquidity crosses an account's resting order, the same
`SimFill`s) that any order produces, and the venue servers publish them the usual way. Orders of
other owners (accounts, scripted participants) are never touched: the visible book is the house's
levels plus theirs.

- Less size at a level: house orders there are decreased newest first, keeping the older ones'
  places in the queue (like a venue "decrease"); one delta for the level.
- More size: the house's order grows when it is the last in the level's queue (nobody is behind
  it, so this is the same as a new order behind it), else one new house order for the difference
  joins the back of the queue. A level the house alone quotes is therefore one order.
- House orders are submitted with `keep=False`, so replaying millions of book changes keeps the
  engine's memory flat.
- House liquidity never trades with itself: a level that would cross the house's own opposite
  liquidity is refused (`set_book` removes stale levels before adding new ones, so a moving book is
  fine).

Cost: `set_level` touches one level's queue (plus the crossing levels, if any); `set_book` walks
the house's resting orders once.
"""

from __future__ import annotations

from collections.abc import Iterable

from arb.domain import BookSide, TimeInForce
from arb.errors import ConfigError
from arb.fixed import SCALE
from arb.venues.sim.engine import LevelDelta, MatchingEngine, SimFill

__all__ = ["HOUSE", "BookChanges", "check_levels", "set_book", "set_level"]

HOUSE = "house"
BookChanges = tuple[list[SimFill], list[LevelDelta]]


def _check_price(price: int, what: str) -> None:
    if type(price) is not int or not 0 < price < SCALE:
        raise ConfigError(f"{what}: price must be an int of micro-USD strictly within (0, 1_000_000), was {price!r}")


def check_levels(
    bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]]
) -> tuple[dict[int, int], dict[int, int]]:
    """Validated {price: size} per side: ints, prices within (0, 1), sizes >= 0, no price twice,
    not crossed (sizes of 0 are kept: they remove a level)."""
    out: list[dict[int, int]] = []
    for name, levels in (("bids", bids), ("asks", asks)):
        side: dict[int, int] = {}
        for price, size in levels:
            _check_price(price, name)
            if type(size) is not int or size < 0:
                raise ConfigError(f"{name}: size must be a non-negative int of micro-units, was {size!r}")
            if price in side:
                raise ConfigError(f"{name}: price {price} is listed twice")
            side[price] = size
        out.append(side)
    wanted_bids, wanted_asks = out
    live_bids = [p for p, s in wanted_bids.items() if s]
    live_asks = [p for p, s in wanted_asks.items() if s]
    if live_bids and live_asks and max(live_bids) >= min(live_asks):
        raise ConfigError("crossed book: the best bid is at or above the best ask")
    return wanted_bids, wanted_asks


def set_level(
    engine: MatchingEngine, side: BookSide, price: int, size: int, *, owner: str = HOUSE, lot_micro: int = 1
) -> BookChanges:
    """Make the house's resting size at (side, price) equal `size` (0 removes it)."""
    _check_price(price, "set_level")
    if type(size) is not int or size < 0 or size % lot_micro:
        raise ConfigError(f"set_level: size must be a non-negative multiple of {lot_micro} micro-units, was {size!r}")
    fills: list[SimFill] = []
    deltas: list[LevelDelta] = []
    current = engine.owner_size_at(owner, side, price)
    if size < current:
        excess = current - size
        removed: list[LevelDelta] = []
        for order in reversed(engine.orders_at(owner, side, price)):
            take = min(excess, order.remaining_micro)
            removed.extend(engine.decrease(order.order_id, take).deltas)
            excess -= take
            if not excess:
                break
        # One level change is one delta, however many house orders it shrank.
        last = removed[-1]
        deltas.append(LevelDelta(last.book_id, side, price, last.size_micro, size - current))
    elif size > current:
        newest = engine.last_at(side, price)
        if newest is not None and newest.owner == owner:
            deltas.append(engine.grow(newest.order_id, size - current))  # nobody queued behind it
            return fills, deltas
        opposite = BookSide.ASK if side is BookSide.BID else BookSide.BID
        for level_price, _ in engine.levels(opposite) if engine.crosses(side, price) else ():
            if (level_price > price) if side is BookSide.BID else (level_price < price):
                break
            if engine.orders_at(owner, opposite, level_price):
                raise ConfigError(
                    f"set_level: a {side.value} at {price} would trade with the house's own "
                    f"{opposite.value} at {level_price}; remove that level first"
                )
        result = engine.submit(owner, side, price, size - current, TimeInForce.GTC, keep=False)
        fills.extend(result.fills)
        deltas.extend(result.deltas)
    return fills, deltas


def set_book(
    engine: MatchingEngine,
    bids: Iterable[tuple[int, int]],
    asks: Iterable[tuple[int, int]],
    *,
    owner: str = HOUSE,
    lot_micro: int = 1,
) -> BookChanges:
    """Make the house's whole ladder equal `bids` and `asks` ((price, size) pairs, any order):
    levels not listed are removed, then listed ones set (shrinking first, then growing)."""
    wanted_bids, wanted_asks = check_levels(bids, asks)
    for wanted in (wanted_bids, wanted_asks):
        for size in wanted.values():
            if size % lot_micro:
                raise ConfigError(f"set_book: size {size} is not a multiple of the lot ({lot_micro} micro-units)")
    current: dict[tuple[BookSide, int], int] = {}
    for order in engine.orders_of(owner):
        key = (order.side, order.price_micro_usd)
        current[key] = current.get(key, 0) + order.remaining_micro
    target: dict[tuple[BookSide, int], int] = {(BookSide.BID, p): s for p, s in wanted_bids.items()}
    target.update({(BookSide.ASK, p): s for p, s in wanted_asks.items()})
    fills: list[SimFill] = []
    deltas: list[LevelDelta] = []
    shrinking = [(key, target.get(key, 0)) for key, size in current.items() if target.get(key, 0) < size]
    # Growing levels go best first, so the published ladder fills in from the inside.
    growing = sorted(
        ((key, size) for key, size in target.items() if size > current.get(key, 0)),
        key=lambda item: -item[0][1] if item[0][0] is BookSide.BID else item[0][1],
    )
    for (side, price), size in (*shrinking, *growing):
        f, d = set_level(engine, side, price, size, owner=owner, lot_micro=lot_micro)
        fills.extend(f)
        deltas.extend(d)
    return fills, deltas
