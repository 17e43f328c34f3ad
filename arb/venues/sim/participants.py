"""Scripted, seeded market participants that trade through a `MatchingEngine`.

They give the simulated venues moving prices and changing liquidity: a `MarketMaker` random-walks a
mid price and keeps a ladder of quotes around it, a `Taker` sends random IOC orders against the best
levels. Each `step()` goes through the engine like any other order and returns what it produced
(`StepResult`: fills and level deltas), which the venue server publishes on its feeds. All
randomness comes from the injected `random.Random`, so a scenario replays exactly under a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from arb.domain import BookSide, TimeInForce
from arb.fixed import SCALE
from arb.venues.sim.engine import LevelDelta, MatchingEngine, SimFill

__all__ = ["MarketMaker", "StepResult", "Taker"]


@dataclass(slots=True)
class StepResult:
    fills: list[SimFill] = field(default_factory=list)
    deltas: list[LevelDelta] = field(default_factory=list)

    def extend(self, fills: list[SimFill], deltas: list[LevelDelta]) -> None:
        self.fills.extend(fills)
        self.deltas.extend(deltas)


class MarketMaker:
    """Quotes `levels` bids and asks of `size_micro` each, one tick apart, with `spread_ticks`
    between the best bid and best ask, around a mid that moves -1, 0 or +1 tick per step.

    Re-quoting changes only what differs: quotes at the right price with their full size keep their
    place in the queue; others (moved, or partly taken) are cancelled and posted again. The maker
    never takes: a quote that would cross someone else's order is left out for that step."""

    def __init__(
        self,
        owner: str,
        engine: MatchingEngine,
        rng: random.Random,
        mid_micro: int,
        spread_ticks: int = 2,
        tick_micro: int = 10_000,
        levels: int = 3,
        size_micro: int = 10 * SCALE,
    ) -> None:
        if tick_micro <= 0 or SCALE % tick_micro:
            raise ValueError(f"tick_micro must divide 1_000_000, was {tick_micro}")
        if spread_ticks < 1 or levels < 1 or size_micro <= 0:
            raise ValueError("spread_ticks and levels must be >= 1 and size_micro > 0")
        if not 0 < mid_micro < SCALE or mid_micro % tick_micro:
            raise ValueError(f"mid_micro must be a tick multiple within (0, 1_000_000), was {mid_micro}")
        self.owner = owner
        self.engine = engine
        self.rng = rng
        self.mid_micro = mid_micro
        self.spread_ticks = spread_ticks
        self.tick_micro = tick_micro
        self.levels = levels
        self.size_micro = size_micro

    def quotes(self) -> dict[tuple[BookSide, int], int]:
        """The wanted quotes around the current mid: {(side, price): size}, inside (0, 1)."""
        tick = self.tick_micro
        best_bid = self.mid_micro - (self.spread_ticks // 2) * tick
        best_ask = best_bid + self.spread_ticks * tick
        wanted: dict[tuple[BookSide, int], int] = {}
        for i in range(self.levels):
            bid, ask = best_bid - i * tick, best_ask + i * tick
            if 0 < bid < SCALE:
                wanted[(BookSide.BID, bid)] = self.size_micro
            if 0 < ask < SCALE:
                wanted[(BookSide.ASK, ask)] = self.size_micro
        return wanted

    def step(self) -> StepResult:
        """Move the mid by a random tick (kept inside the price range) and re-quote."""
        move = self.rng.choice((-1, 0, 1)) * self.tick_micro
        low, high = self.tick_micro, SCALE - self.tick_micro
        self.mid_micro = min(high, max(low, self.mid_micro + move))
        return self.requote()

    def requote(self) -> StepResult:
        result = StepResult()
        wanted = self.quotes()
        for order in self.engine.orders_of(self.owner):
            key = (order.side, order.price_micro_usd)
            if wanted.get(key) == order.remaining_micro:
                del wanted[key]  # already quoted in full: keep its queue position
            else:
                result.extend([], self.engine.cancel(order.order_id).deltas)
        best_bid, best_ask = self.engine.best_bid(), self.engine.best_ask()
        # Post best prices first so the published ladder fills in from the inside.
        bids = sorted(((p, s) for (side, p), s in wanted.items() if side is BookSide.BID), reverse=True)
        asks = sorted((p, s) for (side, p), s in wanted.items() if side is BookSide.ASK)
        for side, price, size in [(BookSide.BID, p, s) for p, s in bids] + [(BookSide.ASK, p, s) for p, s in asks]:
            if side is BookSide.BID and best_ask is not None and price >= best_ask[0]:
                continue
            if side is BookSide.ASK and best_bid is not None and price <= best_bid[0]:
                continue
            submitted = self.engine.submit(self.owner, side, price, size, TimeInForce.GTC, keep=False)
            result.extend(submitted.fills, submitted.deltas)
        return result


class Taker:
    """Sends one IOC order per step: a random side, a random whole number of lots up to
    `max_lots`, priced `through_ticks` beyond the opposite best (so it may sweep several levels).
    Does nothing when the side it picked has no liquidity."""

    def __init__(
        self,
        owner: str,
        engine: MatchingEngine,
        rng: random.Random,
        max_lots: int = 5,
        lot_micro: int = SCALE,
        tick_micro: int = 10_000,
        through_ticks: int = 1,
    ) -> None:
        if max_lots < 1 or lot_micro <= 0 or tick_micro <= 0 or through_ticks < 0:
            raise ValueError("max_lots >= 1, lot_micro > 0, tick_micro > 0 and through_ticks >= 0 required")
        self.owner = owner
        self.engine = engine
        self.rng = rng
        self.max_lots = max_lots
        self.lot_micro = lot_micro
        self.tick_micro = tick_micro
        self.through_ticks = through_ticks

    def step(self) -> StepResult:
        side = BookSide.BID if self.rng.random() < 0.5 else BookSide.ASK
        size = self.rng.randint(1, self.max_lots) * self.lot_micro
        result = StepResult()
        if side is BookSide.BID:
            best = self.engine.best_ask()
            if best is None:
                return result
            price = max(best[0], min(SCALE - self.tick_micro, best[0] + self.through_ticks * self.tick_micro))
        else:
            best = self.engine.best_bid()
            if best is None:
                return result
            price = min(best[0], max(self.tick_micro, best[0] - self.through_ticks * self.tick_micro))
        submitted = self.engine.submit(self.owner, side, price, size, TimeInForce.IOC, keep=False)
        result.extend(submitted.fills, submitted.deltas)
        return result
