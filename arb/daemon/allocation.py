"""The daemon's one allocator over the live candidate sets.

`LiveAllocator` keeps the sets the scanner forwards in ONE persistent `solvers.Allocator`: a set
seen for the first time is added (`Allocator.add_set`), one the scanner withdraws (or that the
daemon has just traded) is removed (`remove_set`), one whose structure changed is replaced
(`replace_set`), and a set whose only change is its books is updated in place (`set_book` per
instrument), so the next `solve()` starts warm. When the allocator in use cannot gain and lose sets
(an older solvers package), every structural change rebuilds it over the live sets instead: same
results, the cost of a cold start.

Capital and inventory are re-applied after every change, inventory filtered to the live sets'
instruments (the allocator refuses holdings of instruments it does not know).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from solvers import AllocationProblem, Allocator
from solvers.plan import AllocationResult
from solvers.problem import AllocatorConfig, CandidateSet, Capital

__all__ = ["AllocatorStats", "LiveAllocator"]


@dataclass(slots=True)
class AllocatorStats:
    added: int = 0
    removed: int = 0
    replaced: int = 0
    book_updates: int = 0
    rebuilds: int = 0  # cold rebuilds (only without add_set/remove_set)
    solves: int = 0


def _structure(candidate: CandidateSet) -> tuple[object, ...]:
    """Everything but the ask ladders: what `set_book` cannot change."""
    instruments = tuple(
        (i.id, i.venue, i.contract, i.side, i.fee, i.lot_size, i.tick_size, i.min_order_size)
        for i in candidate.instruments
    )
    return (candidate.contracts, instruments, candidate.relations, candidate.limits)


class LiveAllocator:
    def __init__(self, capital: Capital, *, config: AllocatorConfig, backend: str) -> None:
        self.config = config
        self.backend = backend
        self.stats = AllocatorStats()
        self._capital = capital
        self._inventory: dict[str, Decimal] = {}
        self._sets: dict[str, CandidateSet] = {}
        self._incremental = hasattr(Allocator, "add_set") and hasattr(Allocator, "remove_set")
        self._allocator: Allocator | None = None
        self._stale = True  # the fallback's allocator must be rebuilt before the next solve

    @property
    def set_ids(self) -> tuple[str, ...]:
        return tuple(self._sets)

    @property
    def incremental(self) -> bool:
        return self._incremental

    def __contains__(self, set_id: object) -> bool:
        return set_id in self._sets

    def _problem(self) -> AllocationProblem:
        instruments = {i.id for s in self._sets.values() for i in s.instruments}
        inventory = {k: v for k, v in self._inventory.items() if k in instruments and v}
        return AllocationProblem(tuple(self._sets.values()), self._capital, inventory)

    def _fresh(self) -> Allocator:
        self.stats.rebuilds += 1
        return Allocator(self._problem(), backend=self.backend, config=self.config)

    def upsert(self, candidate: CandidateSet) -> None:
        old = self._sets.get(candidate.id)
        if old is not None and _structure(old) == _structure(candidate):
            self._sets[candidate.id] = candidate
            if self._allocator is not None and not self._stale:
                for instrument in candidate.instruments:
                    self._allocator.set_book(instrument.id, instrument.asks)
            self.stats.book_updates += 1
            return
        self._sets[candidate.id] = candidate
        if old is None:
            self.stats.added += 1
        else:
            self.stats.replaced += 1
        if not self._incremental or self._allocator is None or self._stale:
            self._stale = True
            return
        if old is None:
            self._allocator.add_set(candidate)  # type: ignore[attr-defined]
        else:
            self._allocator.replace_set(candidate)  # type: ignore[attr-defined]
        self._apply_inventory()

    def remove(self, set_id: str) -> bool:
        if self._sets.pop(set_id, None) is None:
            return False
        self.stats.removed += 1
        if self._incremental and self._allocator is not None and not self._stale:
            self._allocator.remove_set(set_id)  # type: ignore[attr-defined]
        else:
            self._stale = True
        return True

    def set_capital(self, capital: Capital) -> None:
        self._capital = capital
        if self._allocator is not None and not self._stale:
            self._allocator.set_capital(capital)

    def set_inventory(self, inventory: Mapping[str, Decimal]) -> None:
        self._inventory = dict(inventory)
        self._apply_inventory()

    def _apply_inventory(self) -> None:
        if self._allocator is not None and not self._stale:
            instruments = {i.id for s in self._sets.values() for i in s.instruments}
            self._allocator.set_inventory({k: v for k, v in self._inventory.items() if k in instruments})

    def solve(self) -> AllocationResult | None:
        """The plans over the live sets (None when there is none). Thread-safe against nothing:
        the daemon calls it from one task (possibly in a worker thread while that task waits)."""
        if not self._sets:
            return None
        if self._allocator is None or self._stale:
            self._allocator = self._fresh()
            self._stale = False
        self.stats.solves += 1
        return self._allocator.solve()
