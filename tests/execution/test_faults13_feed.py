"""Feed faults against both simulated venues over loopback, with the real clients: a WebSocket
disconnect is healed within 5 s (injected clock) with no book event lost or applied twice, and a
partition (`partition()` / `heal()` on a simulator) refuses and drops every connection until it is
healed, after which the clients come back by themselves."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from arb.domain import BookChange, BookSide, BookSnapshot, ChangeMode, LevelList, Side, Venue, VenueNotice
from arb.execution.loopback import LoopbackConfig, LoopbackVenues, kalshi_ticker
from arb.fixed import SCALE
from arb.venues.chaos import FakeTime

pytestmark = pytest.mark.asyncio
K, P = Venue.KALSHI, Venue.POLYMARKET


class EventBooks:
    """Every book the events describe, rebuilt from the events alone (a snapshot replaces the
    ladder; a change adds to or sets one level), to be compared with the simulators' own books."""

    def __init__(self) -> None:
        self.books: dict[tuple[Venue, str], tuple[dict[int, int], dict[int, int]]] = {}
        self.snapshots: Counter[tuple[Venue, str]] = Counter()
        self.changes: list[BookChange] = []
        self.notices: list[VenueNotice] = []

    def __call__(self, event: Any) -> None:
        if isinstance(event, BookSnapshot):
            self.snapshots[(event.venue, event.book_id)] += 1
            self.books[(event.venue, event.book_id)] = (dict(event.bids), dict(event.asks))
        elif isinstance(event, BookChange):
            self.changes.append(event)
            bids, asks = self.books[(event.venue, event.book_id)]
            side = bids if event.side is BookSide.BID else asks
            size = event.size_micro + (side.get(event.price_micro_usd, 0) if event.mode is ChangeMode.ADD else 0)
            if size > 0:
                side[event.price_micro_usd] = size
            else:
                side.pop(event.price_micro_usd, None)
        elif isinstance(event, VenueNotice):
            self.notices.append(event)

    def levels(self, venue: Venue, book_id: str) -> tuple[LevelList, LevelList]:
        bids, asks = self.books[(venue, book_id)]
        return tuple(sorted(bids.items(), reverse=True)), tuple(sorted(asks.items()))


def venue_levels(v: LoopbackVenues, venue: Venue, book_id: str) -> tuple[LevelList, LevelList]:
    if venue is K:
        engine = v.kalshi_sim.engines[book_id]
        return tuple(engine.levels(BookSide.BID)), tuple(engine.levels(BookSide.ASK))
    bids, asks = v.polymarket_sim.engines[book_id].snapshot()
    return tuple(bids), tuple(asks)


def all_books(v: LoopbackVenues) -> list[tuple[Venue, str]]:
    out = [(K, kalshi_ticker(i)) for i in range(v.config.markets)]
    out += [(P, v.token(i, side)) for i in range(v.config.markets) for side in (Side.YES, Side.NO)]
    return out


def client_in_sync(v: LoopbackVenues, venue: Venue, book_id: str) -> bool:
    client = v.kalshi if venue is K else v.polymarket
    book = client.books.get(book_id)
    if book is None or not book.trusted:
        return False
    return (book.bids(), book.asks()) == venue_levels(v, venue, book_id)


async def until(predicate: Callable[[], bool], what: str, turns: int = 20_000) -> None:
    """Wait on a condition, turn by turn of the loop (the sockets are real), bounded."""
    for i in range(turns):
        if predicate():
            return
        await asyncio.sleep(0 if i % 10 else 0.001)
    raise AssertionError(f"never happened: {what}")


def move_books(v: LoopbackVenues, round_: int) -> list[tuple[Venue, str, int]]:
    """One level change on every book; returns (venue, book id, price) of each."""
    moved = []
    size = (7 + round_) * SCALE
    for i in range(v.config.markets):
        ticker = kalshi_ticker(i)
        v.kalshi_sim.set_level(ticker, BookSide.BID, 420_000, size)
        moved.append((K, ticker, 420_000))
        yes = v.token(i, Side.YES)
        v.polymarket_sim.set_level(yes, BookSide.BID, 460_000, size)
        moved.append((P, yes, 460_000))
    return moved


async def test_a_dropped_socket_reconnects_within_5_s_and_loses_or_repeats_no_book_event() -> None:
    fake = FakeTime()
    async with LoopbackVenues(LoopbackConfig(markets=2), fake) as v:
        books = EventBooks()
        for key in all_books(v):  # start from the trusted ladders the clients hold now
            ladder = (v.kalshi if key[0] is K else v.polymarket).books[key[1]]
            books.books[key] = (dict(ladder.bids()), dict(ladder.asks()))
        v.sink = books

        moved = move_books(v, 0)
        await until(lambda: all(client_in_sync(v, venue, b) for venue, b, _ in moved), "first moves heard")
        assert len(books.changes) == len(moved)

        kalshi_delays = len(v.kalshi.diagnostics.reconnect_delays)
        polymarket_delays = len(v.polymarket.diagnostics.reconnect_delays)
        dropped_at_ns = fake.clock()
        await v.kalshi_sim.drop_all()
        assert await v.polymarket_sim.drop_all() == 2  # market and user sockets
        lost = move_books(v, 1)  # published to nobody: only a fresh snapshot can bring them
        await until(lambda: not v.kalshi.connected, "the Kalshi client notices the drop")
        await until(
            lambda: v.kalshi.connected and all(client_in_sync(v, venue, b) for venue, b in all_books(v)),
            "both clients back, every book trusted and equal to the venue's",
        )
        healed_s = (fake.clock() - dropped_at_ns) / 1e9
        assert healed_s < 5.0, f"books trusted again only after {healed_s:.2f} s"
        new_k = list(v.kalshi.diagnostics.reconnect_delays)[kalshi_delays:]
        new_p = list(v.polymarket.diagnostics.reconnect_delays)[polymarket_delays:]
        assert new_k and sum(d for _, d in new_k) < 5.0
        assert new_p and sum(d for _, d in new_p) < 5.0
        assert {book for _venue, book, _ in lost} <= {b for (_, b), n in books.snapshots.items() if n == 1}

        changes_before = len(books.changes)
        after = move_books(v, 2)
        await until(lambda: all(client_in_sync(v, venue, b) for venue, b, _ in after), "later moves heard")
        fresh = books.changes[changes_before:]
        assert Counter((c.venue, c.book_id, c.price_micro_usd) for c in fresh) == Counter(after)  # each once
        for venue, book_id in all_books(v):
            assert books.levels(venue, book_id) == venue_levels(v, venue, book_id), (venue, book_id)
            assert books.snapshots[(venue, book_id)] == 1  # one resubscription, not two
