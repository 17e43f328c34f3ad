"""The daemon's telemetry: the kind of real graph components, every documented metric updated by a
Telemetry hook (scraped over HTTP), incidents, halts and the daily summary reaching a loopback
webhook, event-loop lag on an injected clock, feed health read from a real client on a loopback
simulator, and the breakers' state agreeing with their check."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import random
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest

from arb.daemon.telemetry import (
    LOOP_LAG_STAGE,
    FeedHealth,
    LoopLagMonitor,
    Telemetry,
    classify_component,
    classify_relations,
    feed_health,
)
from arb.domain import Action, Fill, FillStatus, OrderStatus, OrderUpdate, Side, StrikeInfo, Venue
from arb.errors import ConfigError
from arb.execution.executor import ExecutionReport, ExecutionStatus, OrderReport
from arb.execution.paper import PaperConfig, PaperVenue
from arb.graph import build_graph
from arb.ledger import Ledger
from arb.ledger.store import PnL
from arb.links import Orientation, SettlementRisk
from arb.ops.metrics import METRICS, STAGES, Metrics
from arb.ops.notify import DailySummary, WebhookConfig, WebhookNotifier
from arb.ops.summary import RunTally
from arb.ops.view import BreakerState, OpportunityKind, PlainView
from arb.risk.gates import CircuitBreakers, LossHalts
from arb.scanner import Scanner
from arb.venues.chaos import FakeTime
from arb.venues.kalshi.auth import KalshiSigner
from arb.venues.kalshi.client import KalshiClient, KalshiConfig
from arb.venues.polymarket.client import PolymarketClient, PolymarketConfig
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.polymarket import PolymarketSimulator
from arb.venues.sim.spec import PolymarketMarketSpec
from solvers import AllocationProblem, Allocator, Capital
from solvers.problem import AtMostOne, Conjunction, Equivalent, ExactlyOne, Implies
from tests.ops.test_metrics import _parse
from tests.ops.test_notify import RecordedSleep, receiving
from tests.test_graph import REPO_CONFIG, _btc, _fomc_events, _fomc_links, _link, _mve, market
from tests.test_pipeline import ARB_MEETING, _books

K, P = Venue.KALSHI, Venue.POLYMARKET
M = 1_000_000
DAY_END_S = datetime(2026, 12, 6, 23, 59, 58, tzinfo=UTC).timestamp()


class Clocks:
    def __init__(self, wall_s: float = DAY_END_S) -> None:
        self.mono = 100.0
        self.wall = wall_s

    def monotonic_s(self) -> float:
        return self.mono

    def wall_s(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


def _exposition(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def _telemetry(clocks: Clocks, *, metrics: Metrics | None = None, notifier: Any = None, view: Any = None) -> Telemetry:
    return Telemetry(
        metrics=metrics,
        tally=RunTally("paper", started_s=clocks.mono),
        view=view,
        notifier=notifier,
        logger=logging.getLogger("arb.test.telemetry"),
        monotonic_s=clocks.monotonic_s,
        wall_s=clocks.wall_s,
    )


# -- the kind of a component -------------------------------------------------------------------
def test_fomc_meetings_linked_across_venues_are_exactly_one() -> None:
    kalshi, polymarket = _fomc_events()
    graph = build_graph((), [*kalshi, *polymarket], _fomc_links(SettlementRisk.IDENTICAL_RULES), config=REPO_CONFIG)
    assert len(graph.components) == 6
    assert {classify_component(c) for c in graph.components} == {OpportunityKind.EXACTLY_ONE}


def test_a_linked_fomc_market_pair_is_a_pair_and_inverted_when_its_link_is() -> None:
    kalshi, polymarket = _fomc_events()
    link = _fomc_links(SettlementRisk.IDENTICAL_RULES)[0]
    k = next(m for e in kalshi for m in e.markets if m.market_id == link.kalshi_ticker)
    p = next(m for e in polymarket for m in e.markets if m.venue_market_id == link.polymarket_market_id)
    same = build_graph([k, p], (), [link], config=REPO_CONFIG)
    [component] = same.components
    assert [type(r) for r in component.relations] == [Equivalent]
    assert classify_component(component) is OpportunityKind.PAIR
    inverted = build_graph([k, p], (), [dataclasses.replace(link, orientation=Orientation.INVERTED)])
    [component] = inverted.components
    assert classify_component(component) is OpportunityKind.INVERTED


def test_threshold_ladders_from_titles_and_strikes_are_ladders() -> None:
    titles = build_graph([_btc(f"0x{k}", f"Bitcoin above {k},000 on March 11?") for k in (66, 62, 64)])
    strikes = build_graph([market(f"T{k}", strike=StrikeInfo("greater", floor=Decimal(k))) for k in (300, 100, 200)])
    for graph in (titles, strikes):
        [component] = graph.components
        assert classify_component(component) is OpportunityKind.LADDER
    # a ladder copied onto the other venue by a link is still a ladder
    a, b = (market(f"T{k}", strike=StrikeInfo("greater", floor=Decimal(k))) for k in (100, 200))
    poly = _btc("0xpoly", "Bitcoin above 100,000?", rules_text=a.rules_text)
    linked = build_graph([a, b, poly], (), [_link(a, poly)])
    [component] = linked.components
    assert {type(r) for r in component.relations} == {Implies, Equivalent}
    assert classify_component(component) is OpportunityKind.LADDER


def test_kalshi_multivariate_combos_are_parlays() -> None:
    combos, legs = _mve()
    graph = build_graph([*combos, *legs])
    with_conjunction = [c for c in graph.components if any(isinstance(r, Conjunction) for r in c.relations)]
    assert with_conjunction
    assert {classify_component(c) for c in with_conjunction} == {OpportunityKind.PARLAY}


def test_mixed_weak_and_empty_relations_are_other_and_parlays_win() -> None:
    group = ExactlyOne(("a", "b", "c"))
    assert classify_relations([group, Implies("a", "d")]) is OpportunityKind.OTHER
    assert classify_relations([AtMostOne(("a", "b"))]) is OpportunityKind.OTHER
    assert classify_relations([]) is OpportunityKind.OTHER
    assert classify_relations([group, AtMostOne(("d", "e")), Equivalent("a", "x")]) is OpportunityKind.EXACTLY_ONE
    assert classify_relations([group, Conjunction("p", ("a", "d"))]) is OpportunityKind.PARLAY
    assert classify_relations([Equivalent("a", "x"), Equivalent("b", "y", inverted=True)]) is OpportunityKind.INVERTED
    with pytest.raises(ConfigError, match="unknown relation"):
        classify_relations(["not a relation"])  # type: ignore[list-item]


_NAMES = st.sampled_from("abcdef")
_RELATIONS = st.lists(
    st.one_of(
        st.builds(lambda c: ExactlyOne(tuple(c)), st.lists(_NAMES, min_size=2, max_size=4, unique=True)),
        st.builds(lambda c: AtMostOne(tuple(c)), st.lists(_NAMES, min_size=2, max_size=4, unique=True)),
        st.builds(Implies, _NAMES, _NAMES),
        st.builds(Equivalent, _NAMES, _NAMES, st.booleans()),
        st.builds(lambda r, c: Conjunction(r, tuple(c)), _NAMES, st.lists(_NAMES, min_size=2, max_size=3)),
    ),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(_RELATIONS, st.randoms(use_true_random=False))
def test_the_kind_ignores_order_and_weak_groups_and_links_never_hide_a_structure(
    relations: list[Any], rng: random.Random
) -> None:
    kind = classify_relations(relations)
    shuffled = list(relations)
    rng.shuffle(shuffled)
    assert classify_relations(shuffled) is kind
    assert classify_relations([*relations, AtMostOne(("a", "b"))]) is kind  # an at-most-one group defines nothing
    if kind not in (OpportunityKind.PAIR, OpportunityKind.INVERTED, OpportunityKind.OTHER) or any(
        not isinstance(r, Equivalent | AtMostOne) for r in relations
    ):
        # a link copying a structure onto the other venue keeps its kind
        assert classify_relations([*relations, Equivalent("a", "z", inverted=True)]) is kind


# -- the FOMC pipeline, reported ----------------------------------------------------------------
def _fomc_pipeline() -> tuple[list[Any], Any, Any]:
    """The components, the scanner's forwarded candidates and the allocator's result on the FOMC
    books (tests/test_pipeline.py: one meeting holds a cross-venue arbitrage)."""
    kalshi, polymarket = _fomc_events()
    graph = build_graph((), [*kalshi, *polymarket], _fomc_links(SettlementRisk.IDENTICAL_RULES), config=REPO_CONFIG)
    scanner = Scanner(graph.components, _books(kalshi, polymarket), now_ns=lambda: 0)
    forwarded = scanner.drain()
    assert [c.component_id for c in forwarded] == [graph.component_of(K, f"{ARB_MEETING}-H0")]
    result = Allocator(
        AllocationProblem(
            (forwarded[0].candidate_set,), Capital({"kalshi": Decimal(1000), "polymarket": Decimal(1000)})
        )
    ).solve()
    assert len(result.plans) == 1
    return list(graph.components), forwarded, result


def _report(set_id: str, status: ExecutionStatus, *, incident_id: int | None = None) -> ExecutionReport:
    orders = (
        OrderReport("c-1", "o-1", K, "FED-H0", OrderStatus.FILLED, 10 * M, 10 * M, ""),
        OrderReport("c-2", "o-2", P, "0xabc", OrderStatus.CANCELED, 10 * M, 4 * M if incident_id else 10 * M, ""),
    )
    return ExecutionReport(
        set_id,
        status,
        orders=orders,
        plan_latency_ms=12.5,
        incident_id=incident_id,
        reason="leg 0xabc filled 4 of 10" if incident_id else "",
        repairs=("sold 6 FED-H0",) if incident_id else (),
    )


def _fill(fill_id: str, venue: Venue = K, size_micro: int = 4 * M, status: FillStatus = FillStatus.CONFIRMED) -> Fill:
    return Fill(
        venue, fill_id, "o-1", "c-1", "FED-H0", "FED-H0", Side.YES, Action.BUY, 300_000, size_micro, 0, None, status
    )


def _update(status: OrderStatus, client_order_id: str = "c-9") -> OrderUpdate:
    return OrderUpdate(K, "o-9", client_order_id, "FED-H0", "FED-H0", Side.YES, Action.BUY, status, 300_000, M, 0, M)


def _ms(wall_s: float) -> int:
    return int(wall_s * 1000)


def _ledger_fill(fill_id: str, market: str, price: str, contracts: str, fee: str) -> Fill:
    return Fill(
        K,
        fill_id,
        "o-" + fill_id,
        None,
        market,
        market,
        Side.YES if market == "KX-NEW" else Side.NO,
        Action.BUY,
        int(Decimal(price) * M),
        int(Decimal(contracts) * M),
        int(Decimal(fee) * M),
        None,
    )


def _pnl(realised: str = "-0.25", by_day: tuple[tuple[str, Decimal], ...] = ()) -> PnL:
    return PnL(Decimal(realised), Decimal("0.5"), Decimal("0.02"), (), by_day, ())


def _drive_every_hook(telemetry: Telemetry, clocks: Clocks) -> str:
    """Call each hook once the way the daemon does; returns the executed set's id."""
    components, forwarded, result = _fomc_pipeline()
    telemetry.graph(components, _fomc_links(SettlementRisk.IDENTICAL_RULES))
    telemetry.book_event(K, "FED-H0", feed_lag_s=0.0125)
    telemetry.venue_health([FeedHealth(K, True, 9, 1, 0, 3.25, 0.01)])
    telemetry.loop_lag(0.75)
    telemetry.candidates(forwarded, ())
    telemetry.plan(result, {"book_to_scan": 0.4, "scan_to_plan": 3.0, "tick_to_plan": 3.5})
    telemetry.stage("feed_to_book", 0.05)
    telemetry.stage("tick_to_ack", 20.0)
    set_id = forwarded[0].component_id
    telemetry.execution(_report(set_id, ExecutionStatus.REPAIRED, incident_id=7), result.plans[0].guaranteed_profit_usd)
    telemetry.order(_update(OrderStatus.OPEN))
    telemetry.fill(_fill("f-1"))
    telemetry.incident("unknown_order", "order c-9 unknown after cancel", set_id=set_id)
    telemetry.pnl(_pnl())
    clocks.advance(1.0)
    return set_id


def test_every_documented_metric_is_updated_by_a_telemetry_hook_and_served() -> None:
    clocks = Clocks()
    metrics = Metrics()
    telemetry = _telemetry(clocks, metrics=metrics)
    _drive_every_hook(telemetry, clocks)
    server = metrics.serve(port=0)
    try:
        response = httpx.get(server.url, timeout=5.0)
    finally:
        server.stop()
    assert response.status_code == 200
    samples, _ = _parse(response.text)

    def value(name: str, **labels: str) -> float:
        return samples[name, frozenset(labels.items())]

    updated = {
        "arb_feed_lag_ms": value("arb_feed_lag_ms", venue="kalshi") == 12.5,
        "arb_book_staleness_s": value("arb_book_staleness_s", venue="kalshi") == 3.25,
        "arb_books_untrusted": value("arb_books_untrusted", venue="kalshi") == 1,
        "arb_event_loop_lag_ms": value("arb_event_loop_lag_ms_count") == 1,
        "arb_opportunities_total": value("arb_opportunities_total", kind="exactly_one") == 1,
        "arb_plans_total": value("arb_plans_total", status="verified") == 1
        and value("arb_plans_total", status="executed") == 1,
        "arb_orders_total": value("arb_orders_total", venue="kalshi", status="sent") == 2
        and value("arb_orders_total", venue="kalshi", status="filled") == 1
        and value("arb_orders_total", venue="kalshi", status="acked") == 1
        and value("arb_orders_total", venue="polymarket", status="cancelled") == 1,
        "arb_fills_total": value("arb_fills_total", venue="kalshi") == 1,
        "arb_filled_contracts_total": value("arb_filled_contracts_total", venue="kalshi") == 4,
        "arb_incidents_total": value("arb_incidents_total", kind="partial_fill") == 1
        and value("arb_incidents_total", kind="unknown_order") == 1,
        "arb_pnl_usd": value("arb_pnl_usd", kind="realised") == -0.25 and value("arb_pnl_usd", kind="marked") == 0.5,
        "arb_stage_latency_ms": all(value("arb_stage_latency_ms_count", stage=s) == 1 for s in STAGES),
    }
    assert sorted(updated) == sorted(spec.name for spec in METRICS)  # every documented metric, no other
    assert [name for name, ok in updated.items() if not ok] == []
    # a repaired plan's guaranteed profit is in the ledger's P&L, not the tally's
    assert value("arb_pnl_usd", kind="guaranteed") == 0


def test_the_summary_and_snapshot_tell_the_same_story_as_the_metrics() -> None:
    clocks = Clocks()
    telemetry = _telemetry(clocks)
    set_id = _drive_every_hook(telemetry, clocks)
    snapshot = telemetry.snapshot()
    [row] = snapshot.opportunities
    assert (row.set_id, row.kind) == (set_id, OpportunityKind.EXACTLY_ONE)
    assert row.size_micro > 0 and row.guaranteed_profit_usd is not None and row.guaranteed_profit_usd > 0
    assert snapshot.linked_markets == 36 and len(snapshot.links) == 18  # 18 links, two markets each
    assert (snapshot.plans_executed, snapshot.fills, snapshot.uptime_s) == (1, 1, 1.0)
    [venue] = snapshot.venues
    assert (venue.venue, venue.connected, venue.feed_lag_ms, venue.breaker) == (K, True, 12.5, BreakerState.CLOSED)
    stages = {s.stage: s for s in snapshot.latencies}
    assert stages["plan_to_ack"].p99_ms == 12.5 and stages[LOOP_LAG_STAGE].count == 1
    summary = telemetry.summary(fills=1, incidents_open_at_end=1)
    assert summary.opportunities_by_kind == {"exactly_one": 1}
    assert (summary.plans_by_status, summary.partial_fills, summary.incidents_opened, summary.repairs) == (
        {"repaired": 1},
        1,
        1,
        1,
    )
    # withdrawn: the row goes; forwarded again later: a second opportunity
    telemetry.candidates((), (set_id,))
    assert telemetry.snapshot().opportunities == ()
    _, forwarded, _ = _fomc_pipeline()
    telemetry.candidates(forwarded)
    telemetry.candidates(forwarded)  # still open: not a new one
    assert telemetry.tally.opportunities_by_kind == {"exactly_one": 2}


def test_orders_and_fills_count_each_state_and_fill_id_once() -> None:
    clocks = Clocks()
    metrics = Metrics()
    telemetry = _telemetry(clocks, metrics=metrics)
    for status in (OrderStatus.PENDING, OrderStatus.OPEN, OrderStatus.OPEN, OrderStatus.FILLED, OrderStatus.FILLED):
        telemetry.order(_update(status))
    fills = [_fill("f-1"), _fill("f-1"), _fill("f-2", P, 2_500_000, FillStatus.MATCHED), _fill("f-2", P)]
    for fill in [*fills, _fill("f-2", P, status=FillStatus.FAILED), _fill("f-3", status=FillStatus.FAILED)]:
        telemetry.fill(fill)
    samples, _ = _parse(_exposition(metrics))
    counted = {
        labels: v for (name, labels), v in samples.items() if name in ("arb_orders_total", "arb_filled_contracts_total")
    }
    assert counted == {
        frozenset({("venue", "kalshi"), ("status", "sent")}): 1,
        frozenset({("venue", "kalshi"), ("status", "acked")}): 1,
        frozenset({("venue", "kalshi"), ("status", "filled")}): 1,
        frozenset({("venue", "kalshi")}): 4,
        frozenset({("venue", "polymarket")}): 2.5,
    }
    assert telemetry.fills == 2


# -- alerts to a loopback webhook ----------------------------------------------------------------
@pytest.mark.asyncio
async def test_an_incident_from_an_execution_report_and_a_loss_halt_reach_the_webhook() -> None:
    clocks = Clocks()
    async with receiving() as receiver:
        config = WebhookConfig(url=f"http://127.0.0.1:{receiver.port}/hook", format="discord", timeout_s=2.0)
        notifier = WebhookNotifier(config, sleep=RecordedSleep(), wall_s=clocks.wall_s)
        stream = io.StringIO()
        view = PlainView(stream, clocks.monotonic_s, 5.0)
        telemetry = _telemetry(clocks, notifier=notifier, view=view)
        delivering = asyncio.create_task(notifier.run())
        try:
            telemetry.execution(_report("set-7", ExecutionStatus.REPAIRED, incident_id=7), Decimal("0.5"))
            halts = LossHalts(Decimal(10), Decimal(50), clocks.wall_s, notify=telemetry.halt)
            halts.observe(Decimal(100))
            assert halts.observe(Decimal(89)) is not None
            await asyncio.wait_for(notifier.drain(), 5.0)
        finally:
            delivering.cancel()
            await notifier.aclose()
    incident, halt = receiver.bodies
    assert incident["content"] == "Incident (partial_fill): leg 0xabc filled 4 of 10"
    fields = {f["name"]: f["value"] for f in incident["embeds"][0]["fields"]}
    assert fields["set"] == "set-7" and fields["incident"] == "7" and fields["status"] == "repaired"
    assert halt["content"].startswith("HALT: trading halted: daily loss 11 USD")
    assert [d.delivered for d in notifier.deliveries] == [True, True]
    assert telemetry.halted.startswith("trading halted") and telemetry.snapshot().halted == telemetry.halted
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("event incident partial_fill") and lines[1].startswith("event HALT")


@pytest.mark.asyncio
async def test_the_daily_summary_goes_out_once_at_the_utc_day_change_with_the_ledgers_realised_pnl(
    tmp_path: Path,
) -> None:
    clocks = Clocks()
    async with receiving() as receiver:
        config = WebhookConfig(url=f"http://127.0.0.1:{receiver.port}/hook", format="slack", timeout_s=2.0)
        notifier = WebhookNotifier(config, sleep=RecordedSleep(), wall_s=clocks.wall_s)
        telemetry = _telemetry(clocks, notifier=notifier)
        delivering = asyncio.create_task(notifier.run())
        try:
            _, forwarded, _ = _fomc_pipeline()
            telemetry.candidates(forwarded)
            telemetry.capital(Decimal("120.5"))
            telemetry.execution(_report("set-1", ExecutionStatus.COMPLETE), Decimal("0.75"))
            telemetry.fill(_fill("f-1"))
            with Ledger(tmp_path / "ledger.db", synchronous="NORMAL") as ledger:
                # the day before: 5 NO bought, fee $0.01, unsettled: realised -$0.01 that day
                ledger.record_fill(_ledger_fill("k0", "KX-OLD", "0.30", "5", "0.01"), now_ms=_ms(DAY_END_S - 86_400))
                # the day summarised: 10 YES at 0.40, fee $0.02, settled YES: 10 x (1 - 0.40) - 0.02 = $5.98
                ledger.record_fill(_ledger_fill("k1", "KX-NEW", "0.40", "10", "0.02"), now_ms=_ms(DAY_END_S - 60))
                ledger.record_settlement(K, "KX-NEW", Side.YES, now_ms=_ms(DAY_END_S - 30))
                telemetry.pnl(ledger.pnl())
                assert telemetry.refresh() is False and telemetry.daily_summaries == []  # same day: nothing
                clocks.advance(3.0)  # 00:00:01 the next day
                telemetry.pnl(ledger.pnl())
            telemetry.refresh()  # the day is already summarised: not again
            await asyncio.wait_for(notifier.drain(), 5.0)
        finally:
            delivering.cancel()
            await notifier.aclose()
    assert telemetry.daily_summaries == [
        DailySummary(
            day="2026-12-06",
            at_wall_s=DAY_END_S + 3.0,
            opportunities=1,
            plans_executed=1,
            fills=1,
            incidents=0,
            guaranteed_pnl_usd=Decimal("0.75"),
            realised_pnl_usd=Decimal("5.98"),
            capital_used_usd=Decimal("120.5"),
        )
    ]
    [body] = receiver.bodies
    assert body["text"] == "Daily summary 2026-12-06"
    assert "*realised P&L*: 5.98" in body["blocks"][1]["text"]["text"]


# -- view refreshes -------------------------------------------------------------------------------
def test_refresh_builds_a_snapshot_only_when_the_view_is_due() -> None:
    clocks = Clocks()
    stream = io.StringIO()
    telemetry = _telemetry(clocks, view=PlainView(stream, clocks.monotonic_s, 5.0))
    built = 0
    original = telemetry.snapshot

    def counting() -> Any:
        nonlocal built
        built += 1
        return original()

    telemetry.snapshot = counting  # type: ignore[method-assign]
    assert telemetry.refresh() is True
    for _ in range(10):
        clocks.advance(0.1)
        assert telemetry.refresh() is False
    clocks.advance(5.0)
    assert telemetry.refresh() is True
    assert built == 2 and len(stream.getvalue().splitlines()) == 2


# -- event-loop lag -------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_loop_lag_monitor_records_how_late_each_probe_wakes() -> None:
    clocks = Clocks()
    metrics = Metrics()
    telemetry = _telemetry(clocks, metrics=metrics)
    extra_s = iter([0.0, 0.002, 0.0005, 0.030])
    woke = asyncio.Event()

    async def sleep(seconds: float) -> None:  # the loop ran the probe `extra` late
        try:
            clocks.advance(seconds + next(extra_s))
        except StopIteration:
            woke.set()
            await asyncio.Event().wait()  # parked until cancelled

    monitor = LoopLagMonitor(telemetry.loop_lag, clock=clocks.monotonic_s, interval_s=0.01, sleep=sleep)
    task = asyncio.create_task(monitor.run())
    await asyncio.wait_for(woke.wait(), 5.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    lag = monitor.percentiles()
    assert lag.count == 4 and lag.max_ms == pytest.approx(30.0)
    assert lag.p50_ms == pytest.approx(0.5, rel=0.011)
    tallied = {s.stage: s for s in telemetry.tally.stage_percentiles()}[LOOP_LAG_STAGE]
    assert tallied.count == 4
    samples, _ = _parse(_exposition(metrics))
    assert samples["arb_event_loop_lag_ms_count", frozenset()] == 4
    assert samples["arb_event_loop_lag_ms_sum", frozenset()] == pytest.approx(32.5)
    with pytest.raises(ConfigError, match="interval_s"):
        LoopLagMonitor(clock=clocks.monotonic_s, interval_s=0)


# -- feed health from a real client ---------------------------------------------------------------
KEY_ID = "telemetry-key"
TICKER = "KXTELE-26-A"


@pytest.mark.asyncio
async def test_feed_health_of_a_kalshi_client_on_the_loopback_simulator() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    time = FakeTime()
    sim = KalshiSimulator(api_keys={KEY_ID: key.public_key()}, seed=5, clock_ms=time.wall_ms)
    sim.add_series("KXTELE", "Telemetry series", "quadratic_with_maker_fees", 1.0)
    sim.add_event("KXTELE-26", "KXTELE", "Which one", mutually_exclusive=True)
    sim.add_market(TICKER, "KXTELE-26", yes_sub_title="A")
    sim.set_book(TICKER, [(400_000, 5 * M)], [(450_000, 3 * M)])
    await sim.start()
    changed = asyncio.Event()
    client = KalshiClient(
        KalshiConfig(
            rest_base_url=sim.rest_base_url,
            ws_url=sim.ws_url,
            check_interval_s=None,
            ping_interval_s=None,
            trust_env=False,
            request_timeout_s=5.0,
        ),
        clock=time.clock,
        sleep=time.sleep,
        rng=random.Random(1),
        signer=KalshiSigner(KEY_ID, key),
        wall_clock_ms=time.wall_ms,
        sink=lambda event: changed.set(),
    )
    clocks = Clocks()
    breakers = CircuitBreakers(
        window_s=10.0,
        max_error_rate=0.5,
        min_calls=4,
        max_consecutive_failures=2,
        cooldown_s=30.0,
        monotonic_s=clocks.monotonic_s,
    )
    metrics = Metrics()
    telemetry = _telemetry(clocks, metrics=metrics)
    try:
        before = feed_health(client, now_ns=time.clock(), max_book_age_ns=2_000_000_000)
        assert (before.connected, before.books, before.last_message_age_s) == (False, 0, None)
        await client.start()
        markets = await client.markets(series_ticker="KXTELE")
        await client.subscribe(markets)
        async with asyncio.timeout(10):
            while not (TICKER in client.books and client.books[TICKER].trusted):
                changed.clear()
                await changed.wait()
        up = feed_health(client, now_ns=time.clock(), max_book_age_ns=2_000_000_000)
        assert (up.venue, up.connected, up.books, up.untrusted_books, up.stale_books) == (K, True, 1, 0, 0)
        assert up.stalest_age_s == 0.0 and up.last_message_age_s == 0.0
        paper = PaperVenue(client, PaperConfig(Decimal(100)), wall_clock_ms=time.wall_ms)
        assert feed_health(paper, now_ns=time.clock(), max_book_age_ns=2_000_000_000) == up  # its feed's health
        telemetry.venue_health([up], breakers)
        time.advance(3.0)  # nothing changes for 3 s: the book is stale past a 2 s limit
        stale = feed_health(client, now_ns=time.clock(), max_book_age_ns=2_000_000_000)
        assert (stale.stale_books, stale.stalest_age_s, stale.last_message_age_s) == (1, 3.0, 3.0)
        client.books[TICKER].mark_untrusted("test: sequence gap")
        assert feed_health(client, now_ns=time.clock(), max_book_age_ns=2_000_000_000).untrusted_books == 1
        breakers.record("kalshi", False)
        breakers.record("kalshi", False)
    finally:
        await client.close()
        await sim.close()
    down = feed_health(client, now_ns=time.clock(), max_book_age_ns=2_000_000_000)
    assert down.connected is False
    telemetry.venue_health([down], breakers)
    [row] = telemetry.snapshot().venues
    assert (row.connected, row.breaker, row.breaker_reason) == (False, BreakerState.OPEN, "2 consecutive failures")
    samples, _ = _parse(_exposition(metrics))  # the feed going down is an incident
    assert samples["arb_incidents_total", frozenset({("kind", "venue_down")})] == 1
    with pytest.raises(ConfigError, match="max_book_age_ns"):
        feed_health(client, now_ns=0, max_book_age_ns=0)


CONDITION = "0x" + "7e" * 32
YES_TOKEN, NO_TOKEN = "9101", "9102"


@pytest.mark.asyncio
async def test_feed_health_of_a_polymarket_client_reads_its_market_socket() -> None:
    time = FakeTime()
    spec = PolymarketMarketSpec(CONDITION, "Will telemetry see the feed?", YES_TOKEN, NO_TOKEN)
    sim = PolymarketSimulator([spec], clock_ms=time.wall_ms, seed=6, participants=False)
    sim.set_book(YES_TOKEN, [(400_000, 50 * M)], [(450_000, 30 * M)])
    sim.set_book(NO_TOKEN, [(540_000, 20 * M)], [(580_000, 10 * M)])
    await sim.start()
    changed = asyncio.Event()
    client = PolymarketClient(
        PolymarketConfig(
            gamma_base_url=sim.gamma_url,
            clob_base_url=sim.clob_url,
            data_api_base_url=sim.gamma_url,
            market_ws_url=sim.market_ws_url,
            user_ws_url=sim.user_ws_url,
            check_interval_s=60.0,
            request_timeout_s=5.0,
        ),
        clock=time.clock,
        sleep=time.sleep,
        rng=random.Random(2),
        wall_clock_ms=time.wall_ms,
        sink=lambda event: changed.set(),
    )
    books = client.books
    try:
        await client.start()
        await client.subscribe(await client.markets())
        async with asyncio.timeout(10):
            while not all(t in books and books[t].trusted for t in (YES_TOKEN, NO_TOKEN)):
                changed.clear()
                await changed.wait()
        up = feed_health(client, now_ns=time.clock(), max_book_age_ns=2_000_000_000)
        assert (up.venue, up.connected, up.books, up.untrusted_books, up.stale_books) == (P, True, 2, 0, 0)
        assert up.last_message_age_s == 0.0
    finally:
        await client.close()
        await sim.close()
    assert feed_health(client, now_ns=time.clock(), max_book_age_ns=2_000_000_000).connected is False


# -- breaker state -------------------------------------------------------------------------------
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.sampled_from(["kalshi", "polymarket"]), st.booleans()),
        st.tuples(st.just("wait"), st.floats(0.0, 40.0), st.just(False)),
        st.tuples(st.just("unreachable"), st.sampled_from(["kalshi", "polymarket"]), st.booleans()),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(_STEPS)
def test_breaker_state_agrees_with_its_check(steps: list[tuple[str, Any, bool]]) -> None:
    clocks = Clocks()
    breakers = CircuitBreakers(
        window_s=10.0,
        max_error_rate=0.5,
        min_calls=4,
        max_consecutive_failures=3,
        cooldown_s=30.0,
        monotonic_s=clocks.monotonic_s,
    )
    for action, arg, flag in steps:
        if action == "record":
            breakers.record(arg, flag)
        elif action == "wait":
            clocks.advance(arg)
        elif flag:
            breakers.mark_unreachable(arg, "partition")
        else:
            breakers.mark_reachable(arg)
        for venue in ("kalshi", "polymarket"):
            state = breakers.state(venue)
            refusals = breakers.check({venue})
            expected = {"partition": "unreachable", "circuit_breaker": "open"}
            assert state.state == (expected[refusals[0].gate] if refusals else "closed")
            if refusals:
                assert state.reason in refusals[0].reason
