"""`arb report`: the figures' numbers against values worked out by hand (a five-day equity series
with a known drawdown, Sharpe and Sortino; a small ledger export), then the whole report on a
ledger the real Executor wrote against the loopback simulators (an entry, a partial fill, an
incident and its repair), from the ledger file and from a replay-shaped JSON, through the CLI."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from arb.cli import main
from arb.domain import Side
from arb.errors import ConfigError
from arb.execution.loopback import LoopbackConfig
from arb.ledger.export import export_ledger
from arb.ledger.store import Ledger
from arb.report.build import ReportSource, _directory_name, build_report, load_sources, write_report
from arb.report.metrics import (
    EquityCurve,
    EquityPoint,
    capital_use,
    daily_pnl,
    daily_returns,
    drawdown_series,
    equity_curve,
    fill_counts,
    latencies_by_venue,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
)
from tests.execution.stage import stage
from tests.execution.test_repair_acceptance import (
    IOC,
    K,
    P,
    _leg,
    _tokens,
    best_ask,
    driven,
    poly_asks,
    wait_books,
    with_planner,
)

D = Decimal
DAY_MS = 86_400_000
T0 = 1_733_443_200_000  # 2024-12-06 00:00 UTC
PNG = b"\x89PNG\r\n\x1a\n"


def five_days() -> EquityCurve:
    """$1,000 start; day ends 1010, 1005, 1020, 1010, 1020, with an intraday low of 1000 on day 4."""
    ends = [D(1010), D(1005), D(1020), None, D(1020)]
    points = [EquityPoint(T0, D(1000))]
    for day, equity in enumerate(ends):
        if day == 3:
            points += [
                EquityPoint(T0 + day * DAY_MS + DAY_MS // 2, D(1000)),
                EquityPoint(T0 + day * DAY_MS + 3_600_000 * 20, D(1010)),
            ]
        else:
            assert equity is not None
            points.append(EquityPoint(T0 + day * DAY_MS + 3_600_000, equity))
    return EquityCurve(D(1000), tuple(points))


def test_five_day_series_daily_pnl_drawdown_sharpe_sortino_by_hand() -> None:
    curve = five_days()
    days = daily_pnl(curve)
    assert [d.day for d in days] == ["2024-12-06", "2024-12-07", "2024-12-08", "2024-12-09", "2024-12-10"]
    assert [d.pnl_usd for d in days] == [D(10), D(-5), D(15), D(-10), D(10)]
    returns = daily_returns(days, D(1000))
    assert returns == [D("0.01"), D("-0.005"), D("0.015"), D("-0.01"), D("0.01")]
    # mean 0.004; deviations .006 -.009 .011 -.014 .006: squares sum 0.00047, / (5 - 1) = 0.0001175
    sharpe = sharpe_ratio(returns)
    assert sharpe is not None
    assert math.isclose(float(sharpe), 0.004 / math.sqrt(0.0001175) * math.sqrt(365), rel_tol=1e-15)
    assert f"{sharpe:.6f}" == "7.049974"
    # downside: min(r, 0)^2 = .000025 + .0001 = .000125, / 5 = .000025 -> 0.005; 0.004 / 0.005 = 0.8
    sortino = sortino_ratio(returns)
    assert sortino is not None
    assert f"{sortino:.6f}" == f"{0.8 * math.sqrt(365):.6f}" == "15.283979"
    # deepest fall: peak 1020 (day 3) to the intraday 1000 on day 4
    dd = max_drawdown(curve)
    assert (dd.usd, dd.peak_ms, dd.trough_ms) == (D(-20), T0 + 2 * DAY_MS + 3_600_000, T0 + 3 * DAY_MS + DAY_MS // 2)
    assert dd.fraction == D(-20) / D(1020)
    assert [d for _, d in drawdown_series(curve)] == [D(0), D(0), D(-5), D(0), D(-20), D(-10), D(0)]


def test_ratios_need_two_days_variation_and_a_losing_day() -> None:
    assert sharpe_ratio([D("0.01")]) is None and sortino_ratio([D("0.01")]) is None
    assert sharpe_ratio([D("0.01"), D("0.01")]) is None  # no variation
    assert sortino_ratio([D("0.01"), D("0.02")]) is None  # no losing day
    assert daily_returns(daily_pnl(five_days()), D(0)) == []  # no capital, no returns


def test_a_day_without_events_earns_zero_and_counts() -> None:
    curve = EquityCurve(
        D(100), (EquityPoint(T0, D(100)), EquityPoint(T0 + 5, D(101)), EquityPoint(T0 + 2 * DAY_MS, D(99)))
    )
    assert [(d.day, d.pnl_usd) for d in daily_pnl(curve)] == [
        ("2024-12-06", D(1)),
        ("2024-12-07", D(0)),
        ("2024-12-08", D(-2)),
    ]


def _fill(
    fill_id: str,
    venue: str,
    market: str,
    outcome: str,
    action: str,
    price: str,
    size: str,
    cash: str,
    t_ms: int,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "fill_id": fill_id,
        "venue": venue,
        "market_id": market,
        "outcome": outcome,
        "action": action,
        "price": price,
        "size": size,
        "cash_usd": cash,
        "payout_usd": None,
        "recorded_ms": t_ms,
        "reversed_ms": None,
    } | extra


def small_export() -> dict[str, Any]:
    """YES at 0.40 (Kalshi, fee 0.02) and NO at 0.55 (Polymarket) on 10 each at T0; NO marked 0.58;
    Kalshi settles YES at T0 + 1 day; a reversed fill that must count nowhere."""
    return {
        "fills": [
            _fill("k1", "kalshi", "KX", "yes", "buy", "0.4", "10", "-4.02", T0),
            _fill("p1", "polymarket", "C", "no", "buy", "0.55", "10", "-5.5", T0),
            _fill("p2", "polymarket", "C", "no", "buy", "0.55", "5", "-2.75", T0 + 3, reversed_ms=T0 + 9),
        ],
        "settlements": [
            {
                "venue": "kalshi",
                "market_id": "KX",
                "yes_payout": "1",
                "no_payout": "0",
                "paid_usd": "10",
                "settled_ms": T0 + DAY_MS,
            }
        ],
        "marks": [{"venue": "polymarket", "market_id": "C", "outcome": "no", "price": "0.58", "marked_ms": T0 + 1}],
        "cash_flows": [
            {"venue": "kalshi", "opening_usd": "50"},
            {"venue": "polymarket", "opening_usd": "50"},
        ],
        "orders": [
            {"client_order_id": "a", "venue": "kalshi", "status": "filled", "latency_ms": 4},
            {"client_order_id": "b", "venue": "polymarket", "status": "filled", "latency_ms": 9},
            {"client_order_id": "c", "venue": "polymarket", "status": "unknown", "latency_ms": None},
        ],
        "incidents": [{"incident_id": 1, "closed_ms": None}],
        "repairs": [{"intent_id": "r", "orders": ["x", "y"]}],
    }


def test_equity_capital_fills_latency_of_a_small_export_by_hand() -> None:
    doc = small_export()
    curve = equity_curve(doc, D(100))
    # T0: cash -9.52; KX valued at its fill price 0.40 (no mark) = 4, C at its mark 0.58 = 5.8 -> 100.28
    # T0 + 1 day: KX paid 10 -> cash 0.48, C 5.8 -> 106.28
    assert [(p.t_ms, p.equity_usd) for p in curve.points] == [
        (T0, D(100)),
        (T0, D("100.28")),
        (T0 + DAY_MS, D("106.28")),
    ]
    assert curve.unmarked == ()
    use = {c.venue: c for c in capital_use(doc)}
    assert use["kalshi"].series == ((T0, D("4.02")), (T0 + DAY_MS, D(0)))
    assert (use["kalshi"].peak_usd, use["kalshi"].peak_fraction) == (D("4.02"), D("0.0804"))
    assert use["polymarket"].series == ((T0, D("5.5")),)  # the reversed fill holds nothing
    counts = fill_counts(doc)
    assert counts.fills == {("kalshi", "buy"): 1, ("polymarket", "buy"): 1}
    assert (counts.reversed_fills, counts.incidents, counts.incidents_open) == (1, 1, 1)
    assert (counts.repair_intents, counts.repair_orders) == (1, 2)
    assert counts.orders_by_status == {"filled": 2, "unknown": 1}
    assert latencies_by_venue(doc) == {"kalshi": [4], "polymarket": [9]}


def test_bad_numbers_in_an_export_are_refused_with_the_field_named() -> None:
    doc = small_export()
    doc["fills"][0]["cash_usd"] = -4.02  # a float: never
    with pytest.raises(ConfigError, match="fill k1 cash_usd"):
        equity_curve(doc, D(100))
    doc["fills"][0]["cash_usd"] = "NaN"
    with pytest.raises(ConfigError, match="not a finite number"):
        equity_curve(doc, D(100))


async def executor_ledger(tmp_path: Path) -> Path:
    """The real Executor against the loopback simulators: a complete two-leg plan, then one whose
    Polymarket leg fills 4 of 10 and is repaired (an incident and a repair intent on file)."""
    async with stage(tmp_path, config=LoopbackConfig(markets=2), executor_config=IOC) as s:
        with_planner(s)
        component = s.venues.component()
        complete = s.plan([_leg(s, K, 1, Side.YES, "5", "0.46"), _leg(s, P, 1, Side.NO, "5", "0.52")], component.id)
        first = await driven(s, s.executor.execute(complete, component, s.venues.books()))
        assert first.status.value == "complete", first.refusals
        plan = s.plan([_leg(s, K, 0, Side.YES, "10", "0.46"), _leg(s, P, 0, Side.NO, "10", "0.52")], component.id)
        poly_asks(s, 0, Side.NO, ((520_000, 4_000_000), (550_000, 50_000_000)))
        await wait_books(s, lambda: best_ask(s, P, _tokens(0)[1]) == (520_000, 4_000_000))
        report = await driven(s, s.executor.execute(plan, component, s.venues.books()))
        assert report.status.value == "repaired", report.reason
        # the opening balances recovery would set, and a mark for every position held
        s.ledger.set_cash(K, s.ledger.cash().get(K, D(0)) + D(1000))
        s.ledger.set_cash(P, s.ledger.cash().get(P, D(0)) + D(1000))
        for venue, market, outcome in s.ledger.positions():
            s.ledger.record_mark(venue, market, outcome, 500_000, now_ms=s.time.wall_ms())
        return Path(s.ledger.path)


@pytest.mark.asyncio
async def test_report_on_a_ledger_the_executor_wrote(tmp_path: Path) -> None:
    path = await executor_ledger(tmp_path)
    with Ledger(path) as ledger:
        pnl = ledger.pnl()
        doc = export_ledger(ledger)
        fills = ledger.fill_count() - ledger.reversal_count()
        orders = ledger.orders()
    (source,) = load_sources(path)
    assert source.ledger == doc
    report = build_report(source)
    assert report.starting_capital_usd == D(2000)  # the cash on file before the first fill
    # every position is marked: the curve ends at start + the ledger's realised + unrealised
    assert not pnl.unmarked
    assert report.curve.final_usd == D(2000) + pnl.realised_usd + pnl.unrealised_usd
    assert report.counts.total_fills == fills > 0
    assert report.counts.incidents == 1 and report.counts.repair_intents >= 1
    assert report.counts.repair_orders == sum(1 for o in doc["orders"] if o["repair_of_incident"] is not None)
    answered = [o for o in orders if o.answered_ms is not None]
    assert sum(len(v) for v in report.latencies_ms.values()) == len(answered) > 0
    assert set(report.latencies_ms) == {"kalshi", "polymarket"}
    assert len(report.days) == 1 and report.sharpe is None  # one day: no ratio
    page = write_report(report, tmp_path / "out")
    text = page.read_text()
    for name in ("equity.png", "daily_pnl.png", "capital.png", "fills.png", "latency.png"):
        assert f"]({name})" in text
        assert (tmp_path / "out" / name).read_bytes().startswith(PNG)
    assert "n/a (fewer than 2 days)" in text


@pytest.mark.asyncio
async def test_cli_reads_a_ledger_and_a_replay_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = await executor_ledger(tmp_path)
    assert main(["report", str(path), "--out", str(tmp_path / "from-ledger")]) == 0
    assert (tmp_path / "from-ledger" / "report.md").is_file()
    with Ledger(path) as ledger:
        doc = export_ledger(ledger)
    for flow in doc["cash_flows"]:
        flow["opening_usd"] = "0"  # a replay whose ledger has no balances: the summary's bankroll counts
    replay = {
        "scenario": {"name": "capital bound"},
        "summary": {
            "capital": {"bankroll_usd": "20000"},
            "pnl": {"guaranteed_usd": "12.34"},
            "latency": [
                {"stage": "tick_to_plan", "count": 3, "p50_ms": 1.5, "p90_ms": 2.0, "p99_ms": 2.5, "max_ms": 2.5}
            ],
        },
        "ledger": doc,
    }
    single = tmp_path / "replay.json"
    single.write_bytes(orjson.dumps(replay))
    assert main(["report", str(single), "--out", str(tmp_path / "one")]) == 0
    text = (tmp_path / "one" / "report.md").read_text()
    assert "| guaranteed by the completed plans (replay summary) | $12.34 |" in text
    assert "$20,000.00 (the run's bankroll (replay summary))" in text and "| tick_to_plan | 3 | 1.5 |" in text
    # a list of replays: one source each (one page per scenario, in a directory named after it)
    both = tmp_path / "replays.json"
    both.write_bytes(orjson.dumps([replay, replay | {"scenario": {"name": "second/run"}}]))
    first, second = load_sources(both)
    flat = tmp_path / "flat.json"  # the replay writes RunSummary's fields flat
    flat.write_bytes(orjson.dumps(replay | {"summary": {"bankroll_usd": "300", "guaranteed_usd": "1.5"}}))
    assert (load_sources(flat)[0].bankroll_usd, load_sources(flat)[0].guaranteed_usd) == (D(300), D("1.5"))
    flat.write_bytes(orjson.dumps(replay | {"summary": {"bankroll_usd": 300.0}}))
    with pytest.raises(ConfigError, match="bankroll_usd must be decimal text"):
        load_sources(flat)
    assert (first.name, second.name, second.bankroll_usd) == ("capital bound", "second/run", D(20000))
    assert build_report(second, starting_capital_usd=D(500)).capital_source == "given (--capital)"
    capsys.readouterr()
    assert main(["report", str(tmp_path / "missing.sqlite")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"scenario": {}}')
    assert main(["report", str(bad)]) == 2
    assert "no 'ledger' key" in capsys.readouterr().err
    assert main(["report", str(single), "--capital", "lots"]) == 2
    assert [_directory_name(n) for n in ("capital bound", "second/run", "..")] == ["capital_bound", "second_run", "run"]


def test_an_empty_ledger_still_gives_a_page(tmp_path: Path) -> None:
    with Ledger(tmp_path / "empty.sqlite") as ledger:
        doc = export_ledger(ledger)
    report = build_report(ReportSource("empty", doc))
    assert report.curve.points == () and report.days == () and report.drawdown.usd == 0
    page = write_report(report, tmp_path / "out")
    assert "unknown (no opening cash on file; give --capital)" in page.read_text()


def test_report_on_a_replay_of_the_capital_bound_scenario(tmp_path: Path) -> None:
    """Acceptance: `arb report` on the replay JSON of the library's capital-bound scenario (ten
    opportunities sharing $10,000) writes the plots and the page."""
    runner = pytest.importorskip("arb.replay.runner")
    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "capital-bound-ten.toml"
    replay = tmp_path / "capital-bound.json"
    replay.write_bytes(runner.run_scenario(scenario).to_json_bytes())
    assert main(["report", str(replay), "--out", str(tmp_path / "out")]) == 0
    (source,) = load_sources(replay)
    report = build_report(source)
    document = orjson.loads(replay.read_bytes())
    assert report.name == "capital-bound-ten"
    assert report.starting_capital_usd == D(10_000)  # $5,000 on each venue, as the scenario gives
    assert report.guaranteed_usd == D(document["summary"]["guaranteed_usd"]) > 0
    assert report.counts.total_fills == sum(1 for f in document["ledger"]["fills"] if f["reversed_ms"] is None) > 0
    for use in report.capital:  # capital binds: each venue uses most of its cash, never more
        assert use.opening_usd == D(5_000) and D("0.5") * use.opening_usd < use.peak_usd <= use.opening_usd
    text = (tmp_path / "out" / "report.md").read_text()
    assert text.startswith("# P&L report: capital-bound-ten")
    for name in ("equity.png", "daily_pnl.png", "capital.png", "fills.png", "latency.png"):
        assert f"]({name})" in text and (tmp_path / "out" / name).read_bytes().startswith(PNG)
