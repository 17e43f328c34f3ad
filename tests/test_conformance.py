"""Conformance battery: every LP backend x every outcome method against brute-force enumeration.

For each of 240 seeded random small instances (groups, ladders, equivalences and non-TU mixtures,
on one or two venues, with tight or loose capital, inventory, risky links and limits):
- enumeration and constraint generation (with the HiGHS MIP oracle and with the enumerated
  oracle) equal the reference within 1e-6 relative;
- the compact dual equals it on groups, ladders and equivalences and never exceeds it elsewhere.
The reference enumerates outcomes semantically and solves its own dense scenario LP (tests/support.py).
"""

from __future__ import annotations

import pytest

from solvers import Allocator, AllocatorConfig
from solvers.backends import LP_BACKEND_NAMES
from tests.support import KINDS, KINDS_EXACT, random_problem, reference_lp_profit

SEEDS = range(240)
SLOTS = 3


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


@pytest.fixture(scope="module")
def references() -> dict[int, tuple[str, float]]:
    table = {}
    for seed in SEEDS:
        kind = KINDS[seed % len(KINDS)]
        problem = random_problem(seed, kind, sets=1 + seed % 3)
        form = Allocator(problem, config=AllocatorConfig(slots_per_side=SLOTS)).form
        table[seed] = (kind, reference_lp_profit(problem, form, SLOTS))
    return table


METHODS = {
    "enumerate": AllocatorConfig(slots_per_side=SLOTS, method="enumerate"),
    "compact": AllocatorConfig(slots_per_side=SLOTS, method="compact"),
    "cg-mip-oracle": AllocatorConfig(slots_per_side=SLOTS, method="cg", cg_oracle_enumeration_limit=0),
    "cg-enumerated-oracle": AllocatorConfig(slots_per_side=SLOTS, method="cg"),
}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("backend", LP_BACKEND_NAMES)
def test_guaranteed_profit_matches_brute_force(backend: str, method: str, references) -> None:
    failures = []
    config = METHODS[method]
    for seed in SEEDS:
        kind, expected = references[seed]
        problem = random_problem(seed, kind, sets=1 + seed % 3)
        allocator = Allocator(problem, backend=backend, config=config)
        allocator_profit = allocator.solve_lp().objective - sum(float(sm.baseline) for sm in allocator.sets)
        assert all(sm.method == config.method for sm in allocator.sets)
        exact_expected = method != "compact" or kind in KINDS_EXACT
        if exact_expected and not _close(allocator_profit, expected):
            failures.append((seed, kind, allocator_profit, expected))
        if not exact_expected and allocator_profit > expected + 1e-6 * max(1.0, abs(expected)):
            failures.append((seed, kind, allocator_profit, expected, "compact exceeds enumeration"))
    assert not failures, f"{len(failures)} mismatches (seed, kind, got, expected): {failures[:5]}"


def test_battery_covers_every_kind_and_binding_capital(references) -> None:
    kinds = {kind for kind, _ in references.values()}
    assert kinds == set(KINDS)
    positive = sum(1 for _, profit in references.values() if profit > 1e-6)
    assert positive >= len(SEEDS) // 3, "too few instances with an arbitrage to tell methods apart"


def test_compact_is_strictly_conservative_somewhere(references) -> None:
    """The battery must contain a non-TU instance where the relaxation under-reports, or the
    'never exceeds' check above could not fail."""
    config = AllocatorConfig(slots_per_side=SLOTS, method="compact")
    gaps = 0
    for seed in SEEDS:
        kind, expected = references[seed]
        if kind != "mixed":
            continue
        problem = random_problem(seed, kind, sets=1 + seed % 3)
        allocator = Allocator(problem, config=config)
        profit = allocator.solve_lp().objective - sum(float(sm.baseline) for sm in allocator.sets)
        if profit < expected - 1e-6:
            gaps += 1
    assert gaps >= 1
