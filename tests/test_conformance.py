"""Conformance battery: every LP backend x every outcome method against an independent reference.

For each of 240 seeded random small instances (groups, ladders, equivalences and non-TU mixtures,
on one or two venues, with tight or loose capital, inventory, risky links and limits):
- enumeration and constraint generation (with the HiGHS MIP oracle and with the enumerated
  oracle) equal the reference within 1e-6 relative, under both objectives;
- the compact dual equals it on groups, ladders and equivalences and never exceeds it elsewhere.
The reference (tests/support.py) is built from the problem alone: it enumerates outcomes by the
relations' meaning, prices fees from the venues' rules with its own code and takes capital as
given, then solves its own dense scenario LP with scipy. Nothing of the allocator's formulation,
fee code or reserves enters it - and `test_a_wrong_reserve_is_caught` shows the battery failing
when the allocator holds back capital it should not.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from solvers import Allocator, AllocatorConfig
from solvers.backends import LP_BACKEND_NAMES
from solvers.formulation import Formulation
from tests.support import KINDS, KINDS_EXACT, random_problem, reference_lp_profit

SEEDS = range(240)
SLOTS = 3
OBJECTIVES = ("riskless", "worst_case")


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def _problem(seed: int):
    return random_problem(seed, KINDS[seed % len(KINDS)], sets=1 + seed % 3)


@pytest.fixture(scope="module")
def references() -> dict[tuple[int, str], tuple[str, float]]:
    table = {}
    for seed in SEEDS:
        kind = KINDS[seed % len(KINDS)]
        for objective in OBJECTIVES:
            table[(seed, objective)] = (kind, reference_lp_profit(_problem(seed), SLOTS, objective))
    return table


def _allocator_profit(allocator: Allocator) -> float:
    return allocator.solve_lp().objective - sum(float(sm.baseline) for sm in allocator.sets)


def _mismatches(references, config: AllocatorConfig, backend: str = "highs-warm") -> list[tuple[object, ...]]:
    failures: list[tuple[object, ...]] = []
    for seed in SEEDS:
        kind, expected = references[(seed, config.objective)]
        allocator = Allocator(_problem(seed), backend=backend, config=config)
        got = _allocator_profit(allocator)
        exact_expected = config.method != "compact" or kind in KINDS_EXACT
        if exact_expected and not _close(got, expected):
            failures.append((seed, kind, got, expected))
        if not exact_expected and got > expected + 1e-6 * max(1.0, abs(expected)):
            failures.append((seed, kind, got, expected, "compact exceeds enumeration"))
    return failures


METHODS: dict[str, dict[str, Any]] = {
    "enumerate": {"method": "enumerate"},
    "compact": {"method": "compact"},
    "cg-mip-oracle": {"method": "cg", "cg_oracle_enumeration_limit": 0},
    "cg-enumerated-oracle": {"method": "cg"},
}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("backend", LP_BACKEND_NAMES)
def test_guaranteed_profit_matches_the_reference(backend: str, method: str, references) -> None:
    config = AllocatorConfig(slots_per_side=SLOTS, **METHODS[method])  # riskless, the default
    failures = _mismatches(references, config, backend)
    assert not failures, f"{len(failures)} mismatches (seed, kind, got, expected): {failures[:5]}"


@pytest.mark.parametrize("method", ["enumerate", "cg-mip-oracle"])
def test_worst_case_objective_matches_the_reference(method: str, references) -> None:
    config = AllocatorConfig(slots_per_side=SLOTS, objective="worst_case", **METHODS[method])
    failures = _mismatches(references, config)
    assert not failures, f"{len(failures)} mismatches (seed, kind, got, expected): {failures[:5]}"


def test_battery_covers_every_kind_binding_capital_and_inventory(references) -> None:
    kinds = {kind for kind, _ in references.values()}
    assert kinds == set(KINDS)
    positive = sum(1 for (_, objective), (_, profit) in references.items() if objective == "riskless" and profit > 1e-6)
    assert positive >= len(SEEDS) // 3, "too few instances with an arbitrage to tell methods apart"
    differ = sum(
        1 for seed in SEEDS if not _close(references[(seed, "riskless")][1], references[(seed, "worst_case")][1])
    )
    assert differ >= 10, "inventory must make the two objectives differ somewhere, or the objective checks nothing"


def test_compact_is_strictly_conservative_somewhere(references) -> None:
    """The battery must contain a non-TU instance where the relaxation under-reports, or the
    'never exceeds' check above could not fail."""
    config = AllocatorConfig(slots_per_side=SLOTS, method="compact")
    gaps = 0
    for seed in SEEDS:
        kind, expected = references[(seed, "riskless")]
        if kind != "mixed":
            continue
        if _allocator_profit(Allocator(_problem(seed), config=config)) < expected - 1e-6:
            gaps += 1
    assert gaps >= 1


def test_a_wrong_reserve_is_caught(references, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation check: an allocator that holds back $1 of every venue's cash (a reserve the exact
    LP must not have) disagrees with the independent reference on the capital-bound instances."""
    original = Formulation.__init__

    def with_reserve(self: Formulation, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        for venue in self.venues:
            self.cash_reserve[venue] = Decimal(1)
        self._capital_update()

    monkeypatch.setattr(Formulation, "__init__", with_reserve)
    failures = _mismatches(references, AllocatorConfig(slots_per_side=SLOTS, method="enumerate"))
    assert len(failures) >= 10, f"the battery missed a wrong reserve ({len(failures)} mismatches)"
