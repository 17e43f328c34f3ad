"""The scenario's scripted participants, driven by an injected clock (seconds) and a seeded
`random.Random`: nothing here sleeps or reads the time itself, so a test steps them exactly.

- `MarketMakers` keep the books moving: `step(now_s)` makes the book changes owed since the start at
  `book_changes_per_s` (a change sets one level of one market to a new size, or empties it: one
  Kalshi book, or on Polymarket the YES token and its mirror on the NO token, two books), going round
  the markets in a seeded order, so every book changes at least once a round (the scenario's 107
  books: every 1.07 s at 100 changes a second) and none looks stale to the risk gates. Every
  change stays on the market's fair quotes (one and two cents either side of its fair value) or
  removes a level, so the books only ever get thinner or wider than the coherent quotes: the makers
  never open an arbitrage by themselves.
- `ArbitrageScript` opens the catalogue's openings in turn: every `period_s` the next one (cycling
  the kinds) moves its market's quotes, `hold_s` later the fair quotes come back. Every
  `contest_every`-th opening is contested: while it is open, every account order on the moved books
  matches only `partial_fill_ratio` of its size (the simulators' scripted partial fills), so the
  daemon's basket fills partly on one leg and must be repaired. While open, the moved market's
  second bid level changes by a lot every `refresh_s`, so its books stay live for the risk gates'
  book-age limit (the makers leave held markets alone).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from arb.domain import BookSide, Venue
from arb.errors import ConfigError
from arb.fixed import SCALE
from arb.scenario.markets import CENT, Opening, ScenarioMarket
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.polymarket import PolymarketSimulator

__all__ = ["ArbitrageScript", "MarketMakers", "OpeningRecord", "VenueQuotes", "quote_ladder"]

Ladder = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]


def quote_ladder(
    market: ScenarioMarket, fair_micro: int, size_micro: int, best_size_micro: int | None = None
) -> Ladder:
    """YES bids and asks one and two cents either side of `fair_micro` ((price, size) micro pairs),
    levels outside (0, 1) left out; the best level on each side holds `best_size_micro` (default:
    `size_micro`)."""
    best = size_micro if best_size_micro is None else best_size_micro
    bids = tuple(
        (price, best if i == 0 else size_micro)
        for i, price in enumerate((fair_micro - CENT, fair_micro - 2 * CENT))
        if 0 < price < SCALE
    )
    asks = tuple(
        (price, best if i == 0 else size_micro)
        for i, price in enumerate((fair_micro + CENT, fair_micro + 2 * CENT))
        if 0 < price < SCALE
    )
    return bids, asks


def _mirror(levels: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    return tuple((SCALE - price, size) for price, size in levels)


class VenueQuotes:
    """Sets a market's house quotes on its simulator; each call returns the books it changed."""

    def __init__(self, kalshi: KalshiSimulator, polymarket: PolymarketSimulator) -> None:
        self.kalshi = kalshi
        self.polymarket = polymarket

    def set_ladder(self, market: ScenarioMarket, ladder: Ladder) -> int:
        bids, asks = ladder
        if market.venue is Venue.KALSHI:
            self.kalshi.set_book(market.market_id, bids, asks)
            return 1
        yes, no = market.book_ids
        self.polymarket.set_book(yes, bids, asks)
        self.polymarket.set_book(no, _mirror(asks), _mirror(bids))  # NO bids = 1 - YES asks
        return 2

    def set_level(self, market: ScenarioMarket, side: BookSide, price: int, size: int) -> int:
        if market.venue is Venue.KALSHI:
            self.kalshi.set_level(market.market_id, side, price, size)
            return 1
        yes, no = market.book_ids
        self.polymarket.set_level(yes, side, price, size)
        other = BookSide.ASK if side is BookSide.BID else BookSide.BID
        self.polymarket.set_level(no, other, SCALE - price, size)
        return 2

    def faults(self, venue: Venue) -> Any:
        return self.kalshi.faults if venue is Venue.KALSHI else self.polymarket.faults


class MarketMakers:
    """Background quoting on every market not held by an opening. `book_changes_per_s` 0: still."""

    def __init__(
        self,
        venues: VenueQuotes,
        markets: Sequence[ScenarioMarket],
        rng: random.Random,
        *,
        book_changes_per_s: float,
        size_micro: int,
        start_s: float,
        max_burst: int = 2_000,
    ) -> None:
        self._venues = venues
        self._markets = list(markets)
        rng.shuffle(self._markets)  # the round's order: seeded, fixed for the run
        self._next = 0
        self._rng = rng
        self.rate = book_changes_per_s
        self.size_micro = size_micro
        self.start_s = start_s
        self.max_burst = max_burst  # changes per step at most: a stalled loop skips, it does not flood
        self.held: set[tuple[Venue, str]] = set()
        self.changes = 0  # level changes made (one Kalshi book, or a Polymarket token pair)
        self.book_changes = 0  # book changes published
        self.skipped = 0  # owed book changes dropped because a step fell more than `max_burst` behind
        self._owed_done = 0

    def set_rate(self, book_changes_per_s: float, now_s: float) -> None:
        """Make `book_changes_per_s` from `now_s` on (0: still): nothing is owed for the time
        before, so a pause (no step) or a change of rate never comes back as a burst."""
        if book_changes_per_s < 0:
            raise ConfigError(f"book_changes_per_s must be >= 0, was {book_changes_per_s!r}")
        self.rate = book_changes_per_s
        self.start_s = now_s
        self._owed_done = 0

    def step(self, now_s: float) -> int:
        """Make the book changes owed by `now_s` (a Polymarket change counts its two books);
        returns the book changes made."""
        if self.rate <= 0:
            return 0
        owed = int((now_s - self.start_s) * self.rate) - self._owed_done
        if owed <= 0:
            return 0
        if owed > self.max_burst:
            self.skipped += owed - self.max_burst
            self._owed_done += owed - self.max_burst
            owed = self.max_burst
        made = 0
        attempts = 0
        # Round robin over the markets (held ones skipped): every book changes at least once a round,
        # (Kalshi markets + 2 x Polymarket markets) / book_changes_per_s seconds, so none goes stale.
        while made < owed and attempts < owed + len(self._markets):
            market = self._markets[self._next]
            self._next = (self._next + 1) % len(self._markets)
            attempts += 1
            if (market.venue, market.market_id) in self.held:
                continue
            made += self._change(market)
            self.changes += 1
        self._owed_done += made  # one more than owed (a Polymarket pair) is taken off the next step
        self.book_changes += made
        return made

    def _change(self, market: ScenarioMarket) -> int:
        bids, asks = quote_ladder(market, market.fair_micro, self.size_micro)
        side = self._rng.choice((BookSide.BID, BookSide.ASK))
        levels = bids if side is BookSide.BID else asks
        if not levels:
            return 0
        price, _ = self._rng.choice(levels)
        if self._rng.random() < 0.2:
            size = 0  # the level goes away for a while: the book gets wider, never tighter
        else:
            lots = self._rng.randint(self.size_micro // 2 // market.lot_micro, 2 * self.size_micro // market.lot_micro)
            size = max(1, lots) * market.lot_micro
        return self._venues.set_level(market, side, price, size)

    def restore(self, market: ScenarioMarket) -> int:
        """The market's fair quotes, whole again."""
        return self._venues.set_ladder(market, quote_ladder(market, market.fair_micro, self.size_micro))


@dataclass(slots=True)
class OpeningRecord:
    index: int
    opening: Opening
    opened_at_s: float
    contested: bool
    closed_at_s: float | None = None
    refreshed_at_s: float = 0.0
    refreshes: int = 0


@dataclass(slots=True)
class _State:
    next_index: int = 0
    next_at_s: float = 0.0
    current: OpeningRecord | None = None
    history: list[OpeningRecord] = field(default_factory=list)


class ArbitrageScript:
    """Opens and closes the catalogue's openings in turn (module docstring)."""

    def __init__(
        self,
        venues: VenueQuotes,
        makers: MarketMakers,
        markets: Mapping[tuple[Venue, str], ScenarioMarket],
        openings: Sequence[Opening],
        *,
        period_s: float,
        hold_s: float,
        opening_size_micro: int,
        contest_every: int,
        partial_fill_ratio: float,
        start_s: float,
        first_after_s: float,
        refresh_s: float = 1.0,
    ) -> None:
        self._venues = venues
        self._makers = makers
        self._markets = markets
        self.openings = tuple(openings)
        self.period_s = period_s
        self.hold_s = hold_s
        self.opening_size_micro = opening_size_micro
        self.contest_every = contest_every
        self.partial_fill_ratio = partial_fill_ratio
        self.refresh_s = refresh_s  # an open opening's books change at least this often
        self._state = _State(next_at_s=start_s + first_after_s)
        self.kinds_opened: Counter[str] = Counter()

    @property
    def current(self) -> OpeningRecord | None:
        return self._state.current

    @property
    def history(self) -> tuple[OpeningRecord, ...]:
        return tuple(self._state.history)

    @property
    def next_at_s(self) -> float:
        return self._state.next_at_s

    def step(self, now_s: float) -> None:
        """Close the open opening when its hold is over; open the next one when it is due."""
        state = self._state
        if state.current is not None and now_s >= state.current.opened_at_s + self.hold_s:
            self.close(now_s)
        if state.current is not None and now_s >= state.current.refreshed_at_s + self.refresh_s:
            self._refresh(state.current, now_s)
        if state.current is None and now_s >= state.next_at_s and self.openings:
            self.open_next(now_s)
            while state.next_at_s <= now_s:  # a stalled loop skips openings rather than stacking them
                state.next_at_s += self.period_s

    def open_next(self, now_s: float) -> OpeningRecord:
        state = self._state
        if state.current is not None:
            self.close(now_s)
        index = state.next_index
        opening = self.openings[index % len(self.openings)]
        contested = self.contest_every > 0 and index % self.contest_every == self.contest_every - 1
        for move in opening.moves:
            market = self._markets[(move.venue, move.market_id)]
            self._makers.held.add((move.venue, move.market_id))
            size = self._makers.size_micro
            ladder = quote_ladder(market, move.fair_micro, size, self.opening_size_micro)
            self._makers.book_changes += self._venues.set_ladder(market, ladder)
            if contested:
                for book in market.book_ids:
                    self._venues.faults(move.venue).partial_fills_on(book, self.partial_fill_ratio)
        record = OpeningRecord(index, opening, now_s, contested, refreshed_at_s=now_s)
        state.current = record
        state.history.append(record)
        state.next_index += 1
        self.kinds_opened[opening.kind.value] += 1
        return record

    def _refresh(self, record: OpeningRecord, now_s: float) -> None:
        """Keep an open opening's books live (the makers leave them alone): the second YES bid level
        loses or regains one lot. The best levels, where the arbitrage is, stay as they are, and
        what the daemon took from them is not put back."""
        record.refreshes += 1
        record.refreshed_at_s = now_s
        for move in record.opening.moves:
            market = self._markets[(move.venue, move.market_id)]
            bids, _ = quote_ladder(market, move.fair_micro, self._makers.size_micro)
            if len(bids) < 2:
                continue
            price, size = bids[1]
            size -= market.lot_micro if record.refreshes % 2 else 0
            self._makers.book_changes += self._venues.set_level(market, BookSide.BID, price, size)

    def close(self, now_s: float) -> None:
        state = self._state
        record = state.current
        if record is None:
            return
        for move in record.opening.moves:
            market = self._markets[(move.venue, move.market_id)]
            for book in market.book_ids:
                self._venues.faults(move.venue).clear_partial_fills(book)
            self._makers.book_changes += self._makers.restore(market)
            self._makers.held.discard((move.venue, move.market_id))
        record.closed_at_s = now_s
        state.current = None
