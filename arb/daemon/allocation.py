"""The daemon's one allocator over the live candidate sets.

`LiveAllocator` keeps the sets the scanner forwards in ONE persistent `solvers.Allocator`, built
empty at start: a set seen for the first time is added (`Allocator.add_set`), one the scanner
withdraws (or that the daemon has just traded) is removed (`remove_set`), one whose structure
changed (instruments, fees, lots, relations, limits) is replaced (`replace_set`), and one whose
only change is its books is updated in place (`set_book` per instrument), so every `solve()` starts
warm from the retained basis and no other set is rebuilt. A set that was just traded or withdrawn is
parked rather than removed: its books are emptied (it plans nothing) and its rows and columns stay,
so its next forward is a book update instead of an `add_set` (2-18 ms each for the scenario's sets,
measured by benchmarks/daemon_bench.py); beyond `max_parked` parked sets the oldest leave. Inventory is kept for the live sets'
instruments only (the allocator refuses holdings of instruments it does not know).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from decimal import Decimal

from solvers import AllocationProblem, Allocator
from solvers.allocator import AllocatorStats
from solvers.plan import AllocationResult
from solvers.problem import AllocatorConfig, CandidateSet, Capital

__all__ = ["LiveAllocator"]


def _structure(candidate: CandidateSet) -> tuple[object, ...]:
    """Everything but the ask ladders: what `set_book` cannot change."""
    instruments = tuple(
        (
            i.id,
            i.venue,
            i.contract,
            i.side,
            i.fee,
            i.lot_size,
            i.tick_size,
            i.min_order_size,
            i.buy_amount_increment_usd,
            i.sell_amount_increment_usd,
        )
        for i in candidate.instruments
    )
    return (candidate.contracts, instruments, candidate.relations, candidate.limits)


class LiveAllocator:
    def __init__(
        self,
        capital: Capital,
        *,
        config: AllocatorConfig,
        backend: str,
        max_parked: int = 64,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """`clock` (seconds) times the MIP fallback's limit (a replay's virtual clock never runs
        out, so its plans do not depend on the machine's load)."""
        self.allocator = Allocator(AllocationProblem((), capital), backend=backend, config=config, clock=clock)
        self.max_parked = max_parked
        self._sets: dict[str, CandidateSet] = {}
        self._parked: dict[str, None] = {}  # parked set ids, oldest first
        self._inventory: dict[str, Decimal] = {}
        self.book_updates = 0
        self.replaced = 0

    @property
    def set_ids(self) -> tuple[str, ...]:
        return tuple(self._sets)

    @property
    def active_ids(self) -> tuple[str, ...]:
        """Live sets that are not parked (the ones a solve can plan)."""
        return tuple(set_id for set_id in self._sets if set_id not in self._parked)

    @property
    def parked_ids(self) -> tuple[str, ...]:
        return tuple(self._parked)

    @property
    def stats(self) -> AllocatorStats:
        return self.allocator.stats

    def __contains__(self, set_id: object) -> bool:
        return set_id in self._sets

    def _held(self, candidate: CandidateSet) -> dict[str, Decimal]:
        return {i.id: self._inventory[i.id] for i in candidate.instruments if self._inventory.get(i.id)}

    def upsert(self, candidate: CandidateSet) -> None:
        """Add the set, replace it (structure changed) or update its books in place."""
        old = self._sets.get(candidate.id)
        self._parked.pop(candidate.id, None)
        if old is None:
            self.allocator.add_set(candidate, inventory=self._held(candidate))
        elif _structure(old) != _structure(candidate):
            self.allocator.replace_set(candidate, inventory=self._held(candidate))
            self.replaced += 1
        else:
            for instrument in candidate.instruments:
                self.allocator.set_book(instrument.id, instrument.asks)
            self.book_updates += 1
        self._sets[candidate.id] = candidate

    def remove(self, set_id: str) -> bool:
        if self._sets.pop(set_id, None) is None:
            return False
        self._parked.pop(set_id, None)
        self.allocator.remove_set(set_id)
        return True

    def park(self, set_id: str) -> bool:
        """Empty the set's books (it plans nothing until `upsert` brings fresh ones) and keep it in
        the model; the oldest parked sets beyond `max_parked` are removed. False: not a live set."""
        candidate = self._sets.get(set_id)
        if candidate is None:
            return False
        if set_id not in self._parked:
            for instrument in candidate.instruments:
                self.allocator.set_book(instrument.id, ())
            self._parked[set_id] = None
        while len(self._parked) > self.max_parked:
            self.remove(next(iter(self._parked)))
        return True

    def set_capital(self, capital: Capital) -> None:
        self.allocator.set_capital(capital)

    def set_inventory(self, inventory: Mapping[str, Decimal]) -> None:
        """Holdings per instrument; those of instruments no live set trades are kept for when
        their set comes back."""
        self._inventory = {k: v for k, v in inventory.items() if v}
        live = {i.id for s in self._sets.values() for i in s.instruments}
        self.allocator.set_inventory({k: v for k, v in self._inventory.items() if k in live})

    def solve(self) -> AllocationResult | None:
        """The plans over the live sets (None when there is none). Not thread-safe: the daemon
        calls every method from one task (`solve` in a worker thread while that task waits)."""
        if len(self._parked) == len(self._sets):  # nothing, or only parked sets: no plan to find
            return None
        return self.allocator.solve()
