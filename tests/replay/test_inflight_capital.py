"""Capital that executions under way will spend is not planned again: two openings at once, cash
for one, and the solver taking one set a pass, so the second is planned while the first is still
executing (its fills not yet in the ledger)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from arb.replay.runner import run_scenario

SCENARIO = Path(__file__).resolve().parent / "data" / "two_events_one_budget.toml"


def test_a_plan_under_way_holds_its_capital_until_its_fills_are_booked() -> None:
    result = run_scenario(SCENARIO)
    doc = result.document
    # every order the venue took could be paid for: none refused for want of balance
    refused = [o for o in doc["ledger"]["orders"] if o["status"] == "rejected"]
    assert refused == [], refused
    spent = -sum(Decimal(c["net_usd"]) for c in doc["ledger"]["cash_flows"])
    assert spent <= 12
    executed = [p for p in doc["plans"] if p["status"] != "refused"]
    assert [p["status"] for p in executed][:1] == ["complete"]
    assert sum(Decimal(p["cost_usd"]) for p in executed) <= 12
    assert doc["summary"]["unhedged_sets"] == []
