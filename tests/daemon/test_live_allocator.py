"""`LiveAllocator.park`: a traded or withdrawn set keeps its rows and columns with empty books (it
plans nothing), so its next forward is a book update rather than an `add_set`; the oldest parked
sets beyond `max_parked` leave the model."""

from __future__ import annotations

from decimal import Decimal

from arb.daemon.allocation import LiveAllocator
from solvers import (
    AllocatorConfig,
    CandidateSet,
    Capital,
    Contract,
    Equivalent,
    Instrument,
    Level,
    Side,
    kalshi_fee,
    polymarket_fee,
)

D = Decimal


def _pair(set_id: str, yes: str = "0.40", no: str = "0.50") -> CandidateSet:
    """YES on Kalshi at `yes` and NO on Polymarket at `no`: together they pay $1 whatever happens."""
    a, b = f"{set_id}.k", f"{set_id}.p"
    instruments = (
        Instrument(f"{set_id}:k:yes", "kalshi", a, Side.YES, (Level(D(yes), D(50)),), kalshi_fee()),
        Instrument(
            f"{set_id}:p:no",
            "polymarket",
            b,
            Side.NO,
            (Level(D(no), D(50)),),
            polymarket_fee(rate=D(0)),
            lot_size=D("0.01"),
        ),
    )
    return CandidateSet(set_id, (Contract(a), Contract(b)), instruments, (Equivalent(a, b),))


def _allocator(max_parked: int = 64) -> LiveAllocator:
    capital = Capital({"kalshi": D(1_000), "polymarket": D(1_000)})
    return LiveAllocator(capital, config=AllocatorConfig(slots_per_side=3), backend="highs-warm", max_parked=max_parked)


def test_a_parked_set_plans_nothing_and_comes_back_as_a_book_update() -> None:
    live = _allocator()
    live.upsert(_pair("a"))
    first = live.solve()
    assert first is not None and [p.set_id for p in first.plans] == ["a"]

    assert live.park("a")
    assert not live.active_ids and list(live.parked_ids) == ["a"] and live.set_ids == ("a",)
    assert live.solve() is None  # only parked sets: nothing to plan
    live.upsert(_pair("b"))
    other = live.solve()
    assert other is not None and [p.set_id for p in other.plans] == ["b"]  # a's emptied books buy nothing

    added = live.stats.sets_added
    live.upsert(_pair("a", yes="0.30"))  # forwarded again with fresh books
    assert live.stats.sets_added == added and live.book_updates == 1  # no add_set: a book update
    assert not live.parked_ids and set(live.active_ids) == {"a", "b"}
    again = live.solve()
    assert again is not None and {p.set_id for p in again.plans} == {"a", "b"}


def test_the_oldest_parked_sets_leave_beyond_the_limit() -> None:
    live = _allocator(max_parked=1)
    live.upsert(_pair("a"))
    live.upsert(_pair("b"))
    assert live.park("a") and live.park("b")
    assert live.set_ids == ("b",) and list(live.parked_ids) == ["b"]
    assert live.stats.sets_removed == 1
    assert not live.park("a")  # no longer live
    assert live.remove("b") and not live.parked_ids
