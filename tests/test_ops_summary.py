"""The end-of-run summary: exact money text, latency percentiles against an exact nearest-rank
reference written here, the tally fed real `ExecutionReport`s, the JSON shape and the table."""

from __future__ import annotations

import io
import json
import math
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from arb.domain import OrderStatus, Venue
from arb.errors import ConfigError
from arb.execution.executor import ExecutionReport, ExecutionStatus, OrderReport
from arb.ledger import Ledger
from arb.ledger.store import PnL
from arb.ops.summary import LatencyHistogram, RunTally, format_contracts, format_usd, render_summary
from arb.risk.gates import Refusal

from .test_ops_view import build_snapshot


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("-0.5"), "-$0.50"),
        (Decimal("1234.567891"), "$1,234.567891"),
        (Decimal(0), "$0.00"),
        (Decimal("-0"), "$0.00"),
        (Decimal("1E+3"), "$1,000.00"),
        (Decimal("0.000000000001"), "$0.000000000001"),
        (Decimal("2.500000"), "$2.50"),
        (Decimal("-1234567.1"), "-$1,234,567.10"),
    ],
)
def test_format_usd_is_exact(value: Decimal, text: str) -> None:
    assert format_usd(value) == text


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), 1.5, 2])
def test_format_usd_refuses_non_decimals(bad: object) -> None:
    with pytest.raises(ConfigError):
        format_usd(bad)  # type: ignore[arg-type]


@given(st.decimals(allow_nan=False, allow_infinity=False, places=12, min_value=-(10**9), max_value=10**9))
def test_format_usd_round_trips(value: Decimal) -> None:
    text = format_usd(value)
    assert Decimal(text.replace("$", "").replace(",", "")) == value


def test_format_contracts() -> None:
    assert format_contracts(12_500_000) == "12.5"
    assert format_contracts(-3_000_000) == "-3"
    assert format_contracts(1) == "0.000001"


def _nearest_rank(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[math.ceil(q * len(ordered)) - 1]


@given(st.lists(st.floats(min_value=0.001, max_value=60_000.0), min_size=1, max_size=300))
def test_histogram_percentiles_are_within_one_percent_above_exact(samples: list[float]) -> None:
    histogram = LatencyHistogram("tick_to_plan")
    for s in samples:
        histogram.record(s)
    for q in (0.5, 0.9, 0.99, 1.0):
        exact = _nearest_rank(samples, q)
        got = histogram.percentile(q)
        assert got is not None
        assert exact <= got <= exact * 1.01 + 1e-12, (q, exact, got)
    assert histogram.percentiles().max_ms == max(samples)
    assert histogram.count == len(samples)


def test_histogram_empty_and_bad_samples() -> None:
    histogram = LatencyHistogram("send_to_ack")
    empty = histogram.percentiles()
    assert (empty.count, empty.p50_ms, empty.p99_ms, empty.max_ms) == (0, None, None, None)
    for bad in (float("nan"), -1.0, float("inf")):
        with pytest.raises(ConfigError, match="send_to_ack"):
            histogram.record(bad)
    histogram.record(0.0)  # below the first bucket: reported as the largest sample, not 1 microsecond
    assert histogram.percentile(0.5) == 0.0


def _order(coid: str, size: int, filled: int) -> OrderReport:
    status = OrderStatus.FILLED if filled == size else OrderStatus.CANCELED
    return OrderReport(coid, "o-" + coid, Venue.KALSHI, "KX-A", status, size, filled, "")


def _tally() -> RunTally:
    tally = RunTally(mode="paper", started_s=1000.0, bankroll_usd=Decimal(1000))
    tally.opportunity_opened("s1", "pair")
    tally.opportunity_opened("s1", "pair")  # still open: not a new sighting
    tally.opportunity_closed("s1")
    tally.opportunity_opened("s1", "pair")  # came back
    tally.opportunity_opened("s2", "ladder")
    tally.opportunity_opened("s3", "parlay")
    tally.plan_reported(
        ExecutionReport("s1", ExecutionStatus.COMPLETE, orders=(_order("a", 10, 10), _order("b", 10, 10))),
        Decimal("0.25"),
    )
    tally.plan_reported(
        ExecutionReport(
            "s2",
            ExecutionStatus.REPAIRED,
            orders=(_order("c", 10, 10), _order("d", 10, 4)),
            repairs=("sell 6 c",),
            incident_id=3,
        ),
        Decimal("0.40"),  # not counted: the plan did not fill as planned
    )
    tally.plan_reported(ExecutionReport("s3", ExecutionStatus.REFUSED, refusals=(Refusal("incident", "open"),)))
    tally.capital(Decimal("120.5"))
    tally.capital(Decimal(80))
    for ms in (1.0, 2.0, 3.0, 4.0):
        tally.latency("tick_to_plan", ms)
    return tally


def test_summary_json_shape_and_exact_money(tmp_path: Path) -> None:
    pnl = build_snapshot(tmp_path).pnl
    summary = _tally().summary(pnl, fills=2, incidents_open_at_end=1, ended_s=1090.25)
    data = json.loads(json.dumps(summary.to_json()))
    assert data == {
        "mode": "paper",
        "duration_s": 90.25,
        "opportunities": {"seen": 4, "by_kind": {"ladder": 1, "pair": 2, "parlay": 1}},
        "plans": {"executed": 2, "by_status": {"complete": 1, "refused": 1, "repaired": 1}},
        "fills": {"total": 2, "partial_orders": 1},
        "incidents": {"opened": 1, "repaired": 1, "open_at_end": 1},
        "pnl": {"guaranteed_usd": "0.25", "realised_usd": "-0.07", "unrealised_usd": "0.2", "fees_usd": "0.07"},
        "capital": {"peak_usd": "120.5", "end_usd": "80", "bankroll_usd": "1000"},
        "latency": [
            {"stage": "tick_to_plan", "count": 4, "p50_ms": 2.002, "p90_ms": 4.0, "p99_ms": 4.0, "max_ms": 4.0}
        ],
        "unhedged_sets": [],
    }  # p50 of 1, 2, 3, 4 is 2: reported as its bucket's upper edge, 0.1% above (within the 1% bound)
    assert summary.capital_utilisation == Decimal("0.1205")


def test_summary_table_names_every_item(tmp_path: Path) -> None:
    with Ledger(tmp_path / "empty.db", synchronous="NORMAL") as ledger:
        pnl = ledger.pnl()
    summary = _tally().summary(pnl, fills=0, incidents_open_at_end=0, ended_s=1010.0, unhedged_sets=["s9"])
    out = io.StringIO()
    Console(file=out, width=120, force_terminal=False).print(render_summary(summary))
    text = out.getvalue()
    for fragment in (
        "Run summary (paper, 10.0 s)",
        "opportunities seen",
        "4 (ladder 1, pair 2, parlay 1)",
        "2 (complete 1, repaired 1)",
        "plans refused by risk",
        "partially filled orders",
        "repairs",
        "guaranteed P&L",
        "$0.25",
        "$120.50",
        "$80.00",
        "$1,000.00",
        "12.05%",
        "s9",
        "tick_to_plan",
        "Stage latency (ms)",
    ):
        assert fragment in text, fragment


def test_float_money_is_refused() -> None:
    tally = _tally()
    with pytest.raises(ConfigError, match="committed capital"):
        tally.capital(0.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="bankroll_usd"):
        RunTally(mode="paper", started_s=0.0, bankroll_usd=1000.0).summary(  # type: ignore[arg-type]
            _pnl_of_nothing(), fills=0, incidents_open_at_end=0, ended_s=1.0
        )


def _pnl_of_nothing() -> PnL:
    return PnL(Decimal(0), Decimal(0), Decimal(0), (), (), ())
