"""A scenario's `[expect]` checked against what its replay showed.

`RunFacts` is what a run showed (counted by the runner from the daemon, its ledger and its alert
sink); `check_expectations` turns every key of `Expectations` into a `Check` holding what was
expected, what was seen and whether it passed. A key left out of `[expect]` makes no check; a fact
the run could not measure (None) fails the check that needs it rather than passing it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from arb.domain import Side, Venue
from arb.replay.scenario import Expectations

__all__ = ["Check", "RunFacts", "check_expectations", "describe_failure"]

_MICRO = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What one replay showed. positions: the ledger's holdings in micro-contracts; halts: every
    halt reason raised, in order; alerts: the kind of every alert the sink received, in order;
    recovery_clean: every recovery check of the run was clean (None: none ran); lost_events:
    book events published and never applied (None: not measured)."""

    plans: int
    guaranteed_profit_usd: Decimal
    orders_sent: int
    positions: Mapping[tuple[Venue, str, Side], int]
    unhedged_sets: int
    incidents: int
    halts: tuple[str, ...]
    alerts: tuple[str, ...]
    recovery_clean: bool | None
    repairs: int
    lost_events: int | None


@dataclass(frozen=True, slots=True)
class Check:
    """One expectation: `expected` and `actual` as JSON values (amounts as exact decimal text)."""

    name: str
    expected: Any
    actual: Any
    passed: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "expected": self.expected, "actual": self.actual, "passed": self.passed}


def _money(value: Decimal) -> str:
    """Canonical exact text: "0.5", "100" (the same amount always reads the same)."""
    return format(value.normalize(), "f")


def _bound(name: str, actual: int | Decimal | None, limit: int | Decimal, *, low: bool) -> Check:
    text = _money(limit) if isinstance(limit, Decimal) else limit
    shown = _money(actual) if isinstance(actual, Decimal) else actual
    passed = actual is not None and (actual >= limit if low else actual <= limit)
    return Check(name, {">=" if low else "<=": text}, shown, passed)


def check_expectations(expect: Expectations, facts: RunFacts) -> tuple[Check, ...]:
    """Every expectation given, in the order `[expect]` documents them."""
    checks: list[Check] = []
    bounds: Sequence[tuple[str, int | Decimal | None, int | Decimal | None, bool]] = (
        ("plans_min", facts.plans, expect.plans_min, True),
        ("plans_max", facts.plans, expect.plans_max, False),
        ("guaranteed_profit_usd_min", facts.guaranteed_profit_usd, expect.guaranteed_profit_usd_min, True),
        ("guaranteed_profit_usd_max", facts.guaranteed_profit_usd, expect.guaranteed_profit_usd_max, False),
        ("orders_sent_min", facts.orders_sent, expect.orders_sent_min, True),
        ("orders_sent_max", facts.orders_sent, expect.orders_sent_max, False),
    )
    for name, actual, limit, low in bounds:
        if limit is not None:
            checks.append(_bound(name, actual, limit, low=low))
    for key, contracts in expect.final_positions:
        held = Decimal(facts.positions.get((key.venue, key.market, key.side), 0)) / _MICRO
        checks.append(Check(f"final_positions[{key.text}]", _money(contracts), _money(held), held == contracts))
    if expect.unhedged_sets is not None:
        checks.append(
            Check(
                "unhedged_sets", expect.unhedged_sets, facts.unhedged_sets, facts.unhedged_sets == expect.unhedged_sets
            )
        )
    for name, actual, limit, low in (
        ("incidents_min", facts.incidents, expect.incidents_min, True),
        ("incidents_max", facts.incidents, expect.incidents_max, False),
    ):
        if limit is not None:
            checks.append(_bound(name, actual, limit, low=low))
    if expect.halts:
        missing = [text for text in expect.halts if not any(text in reason for reason in facts.halts)]
        checks.append(Check("halts", list(expect.halts), list(facts.halts), not missing))
    if expect.alerts:
        missing = [kind for kind in expect.alerts if kind not in facts.alerts]
        checks.append(Check("alerts", list(expect.alerts), sorted(set(facts.alerts)), not missing))
    if expect.recovery_clean is not None:
        checks.append(
            Check(
                "recovery_clean",
                expect.recovery_clean,
                facts.recovery_clean,
                facts.recovery_clean is not None and facts.recovery_clean == expect.recovery_clean,
            )
        )
    for name, actual, limit, low in (
        ("repairs_min", facts.repairs, expect.repairs_min, True),
        ("repairs_max", facts.repairs, expect.repairs_max, False),
    ):
        if limit is not None:
            checks.append(_bound(name, actual, limit, low=low))
    if expect.lost_events is not None:
        checks.append(
            Check("lost_events", expect.lost_events, facts.lost_events, facts.lost_events == expect.lost_events)
        )
    return tuple(checks)


def describe_failure(check: Check) -> str:
    """One failed check as text: `plans_min: expected >= 1, was 0`."""
    expected = check.expected
    if isinstance(expected, dict) and len(expected) == 1:
        ((op, value),) = expected.items()
        wanted = f"{op} {value}"
    else:
        wanted = f"{expected}"
    return f"{check.name}: expected {wanted}, was {check.actual}"
