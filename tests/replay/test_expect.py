"""Expectations against plain run facts: every key passes on a run that meets it and fails on one
that does not, with what was expected and what was seen."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from arb.domain import Side, Venue
from arb.replay.expect import Check, RunFacts, check_expectations, describe_failure
from arb.replay.scenario import Expectations, PositionKey, parse_scenario
from tests.replay.scenario_text import BASE

EXPECT = parse_scenario(BASE, "s.toml").expect
MEETS = RunFacts(
    plans=2,
    guaranteed_profit_usd=Decimal("1.25"),
    orders_sent=4,
    positions={(Venue.KALSHI, "KXA-1-Y", Side.YES): 10_000_000, (Venue.POLYMARKET, "0xc1", Side.NO): 5_000_000},
    unhedged_sets=0,
    incidents=1,
    halts=("daily loss halt: 201.50 lost today",),
    alerts=("partial_fill", "halt"),
    recovery_clean=True,
    repairs=1,
    lost_events=0,
)


def by_name(checks: tuple[Check, ...]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_a_run_that_meets_every_expectation_passes_every_check() -> None:
    checks = check_expectations(EXPECT, MEETS)
    assert all(c.passed for c in checks), [describe_failure(c) for c in checks if not c.passed]
    assert [c.name for c in checks] == [
        "plans_min",
        "plans_max",
        "guaranteed_profit_usd_min",
        "guaranteed_profit_usd_max",
        "orders_sent_min",
        "orders_sent_max",
        "final_positions[kalshi:KXA-1-Y:yes]",
        "final_positions[polymarket:7001]",
        "final_positions[polymarket:0xc1:no]",
        "unhedged_sets",
        "incidents_min",
        "incidents_max",
        "halts",
        "alerts",
        "recovery_clean",
        "repairs_min",
        "repairs_max",
        "lost_events",
    ]
    named = by_name(checks)
    assert named["guaranteed_profit_usd_min"].to_json() == {
        "name": "guaranteed_profit_usd_min",
        "expected": {">=": "0.5"},
        "actual": "1.25",
        "passed": True,
    }
    assert named["final_positions[polymarket:7001]"].actual == "0"


def test_no_expectation_no_check() -> None:
    assert check_expectations(Expectations(), MEETS) == ()


FAILS: list[tuple[str, dict[str, Any], str]] = [
    ("plans_min", {"plans": 0}, "plans_min: expected >= 1, was 0"),
    ("plans_max", {"plans": 4}, "plans_max: expected <= 3, was 4"),
    (
        "guaranteed_profit_usd_min",
        {"guaranteed_profit_usd": Decimal("0.49")},
        "guaranteed_profit_usd_min: expected >= 0.5, was 0.49",
    ),
    (
        "guaranteed_profit_usd_max",
        {"guaranteed_profit_usd": Decimal("2.01")},
        "guaranteed_profit_usd_max: expected <= 2, was 2.01",
    ),
    ("orders_sent_min", {"orders_sent": 1}, "orders_sent_min: expected >= 2, was 1"),
    ("orders_sent_max", {"orders_sent": 7}, "orders_sent_max: expected <= 6, was 7"),
    (
        "final_positions[kalshi:KXA-1-Y:yes]",
        {"positions": {(Venue.KALSHI, "KXA-1-Y", Side.YES): 9_990_000, (Venue.POLYMARKET, "0xc1", Side.NO): 5_000_000}},
        "final_positions[kalshi:KXA-1-Y:yes]: expected 10, was 9.99",
    ),
    (
        "final_positions[polymarket:7001]",
        {
            "positions": {
                (Venue.KALSHI, "KXA-1-Y", Side.YES): 10_000_000,
                (Venue.POLYMARKET, "0xc1", Side.YES): 10_000,
                (Venue.POLYMARKET, "0xc1", Side.NO): 5_000_000,
            }
        },
        "final_positions[polymarket:7001]: expected 0, was 0.01",
    ),
    ("unhedged_sets", {"unhedged_sets": 1}, "unhedged_sets: expected 0, was 1"),
    ("incidents_max", {"incidents": 2}, "incidents_max: expected <= 1, was 2"),
    ("halts", {"halts": ("kill switch: file",)}, "halts: expected ['daily loss'], was ['kill switch: file']"),
    ("alerts", {"alerts": ("partial_fill",)}, "alerts: expected ['halt'], was ['partial_fill']"),
    ("recovery_clean", {"recovery_clean": False}, "recovery_clean: expected True, was False"),
    ("recovery_clean", {"recovery_clean": None}, "recovery_clean: expected True, was None"),
    ("repairs_max", {"repairs": 3}, "repairs_max: expected <= 2, was 3"),
    ("lost_events", {"lost_events": 2}, "lost_events: expected 0, was 2"),
    ("lost_events", {"lost_events": None}, "lost_events: expected 0, was None"),
]


@pytest.mark.parametrize(("name", "change", "text"), FAILS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(FAILS)])
def test_each_expectation_fails_on_a_run_that_misses_it(name: str, change: dict[str, Any], text: str) -> None:
    checks = check_expectations(EXPECT, dataclasses.replace(MEETS, **change))
    failed = [c for c in checks if not c.passed]
    assert [c.name for c in failed] == [name]
    assert describe_failure(failed[0]) == text


def test_lower_bounds_fail_below_and_pass_at_the_bound() -> None:
    expect = Expectations(incidents_min=1, repairs_min=1, guaranteed_profit_usd_min=Decimal("0.50"))
    at = dataclasses.replace(MEETS, incidents=1, repairs=1, guaranteed_profit_usd=Decimal("0.5000"))
    assert all(c.passed for c in check_expectations(expect, at))
    below = dataclasses.replace(MEETS, incidents=0, repairs=0, guaranteed_profit_usd=Decimal("0.4999"))
    assert not any(c.passed for c in check_expectations(expect, below))


def test_recovery_expected_unclean() -> None:
    expect = Expectations(recovery_clean=False)
    assert check_expectations(expect, dataclasses.replace(MEETS, recovery_clean=False))[0].passed
    assert not check_expectations(expect, MEETS)[0].passed


def test_a_position_not_held_reads_zero() -> None:
    key = PositionKey(Venue.KALSHI, "KXA-1-Y", Side.NO, "kalshi:KXA-1-Y:no")
    (check,) = check_expectations(Expectations(final_positions=((key, Decimal(0)),)), MEETS)
    assert (check.expected, check.actual, check.passed) == ("0", "0", True)
