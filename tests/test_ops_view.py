"""The live terminal view: every section rendered from a snapshot built on a real ledger's P&L,
exact money strings, the refresh bound on an injected clock, the plain view on a non-terminal
stream and `make_view`'s choice. The expected strings are written out by hand here."""

from __future__ import annotations

import dataclasses
import io
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from arb.domain import Action, Fill, Side, Venue
from arb.errors import ConfigError
from arb.ledger import Ledger
from arb.ledger.store import Incident
from arb.links import Orientation, SettlementRisk
from arb.ops import view as view_module
from arb.ops.summary import StagePercentiles
from arb.ops.view import (
    BreakerState,
    LinkRow,
    LiveView,
    OpportunityKind,
    OpportunityRow,
    PlainView,
    ProcessView,
    VenueHealthRow,
    ViewLimits,
    ViewSnapshot,
    make_view,
    plain_line,
    render_snapshot,
)

K, P = Venue.KALSHI, Venue.POLYMARKET
AT_WALL_S = 1_796_558_400.0  # 2026-12-06T12:00:00Z


def _fill(fill_id: str, venue: Venue, market: str, outcome: Side, price: str, contracts: str, fee: str) -> Fill:
    return Fill(
        venue=venue,
        fill_id=fill_id,
        order_id="o-" + fill_id,
        client_order_id=None,
        market_id=market,
        book_id=market,
        outcome=outcome,
        action=Action.BUY,
        price_micro_usd=int(Decimal(price) * 1_000_000),
        size_micro=int(Decimal(contracts) * 1_000_000),
        fee_micro_usd=int(Decimal(fee) * 1_000_000),
        liquidity=None,
    )


@pytest.fixture
def snapshot(tmp_path: Path) -> ViewSnapshot:
    return build_snapshot(tmp_path)


def build_snapshot(tmp_path: Path) -> ViewSnapshot:
    """Two positions on a real ledger, three opportunities, two venues (one down), one incident."""
    with Ledger(tmp_path / "view.db", synchronous="NORMAL") as ledger:
        # Kalshi: 10 YES at 0.45 (cost $4.50), fee $0.07, marked at 0.47: unrealised 10 x 0.47 - 4.50 = $0.20
        ledger.record_fill(_fill("k1", K, "KXFED-26DEC-T4.25", Side.YES, "0.45", "10", "0.07"), now_ms=1000)
        ledger.record_mark(K, "KXFED-26DEC-T4.25", Side.YES, 470_000, now_ms=1000)
        # Polymarket: 12.5 NO at 0.4975 (cost $6.21875), no mark: unmarked, never valued
        ledger.record_fill(_fill("p1", P, "512345", Side.NO, "0.4975", "12.5", "0"), now_ms=1000)
        pnl = ledger.pnl()
    return ViewSnapshot(
        at_wall_s=AT_WALL_S,
        mode="paper",
        uptime_s=42.0,
        linked_markets=37,
        links=(
            LinkRow("KXFED-26DEC-T4.25", "512345", Orientation.SAME, SettlementRisk.IDENTICAL_RULES),
            LinkRow("KXFED-26DEC-T4.50", "512346", Orientation.INVERTED, SettlementRisk.MINOR_DIFFERENCES),
        ),
        opportunities=(
            OpportunityRow("set-pair-1", OpportunityKind.PAIR, 12_500, 25_000_000, Decimal("0.3125"), 2),
            OpportunityRow("set-ladder-7", OpportunityKind.LADDER, 30_000, 0, None, 3),
            OpportunityRow("set-group-2", OpportunityKind.EXACTLY_ONE, 4_000, 5_000_000, Decimal("0.02"), 4),
        ),
        pnl=pnl,
        guaranteed_usd=Decimal("1.234567891234"),
        latencies=(
            StagePercentiles("tick_to_plan", 120, 1.25, 3.5, 7.125, 9.0),
            StagePercentiles("send_to_ack", 0, None, None, None, None),
        ),
        venues=(
            VenueHealthRow(K, True, 3.5, 12.0, BreakerState.CLOSED, "", 20, 0),
            VenueHealthRow(P, False, None, 5012.0, BreakerState.OPEN, "3 consecutive failures", 18, 2),
        ),
        incidents=(Incident(7, "set-pair-9", "leg 2 partially filled", 1_796_558_390_000, None, ""),),
        plans_executed=5,
        fills=2,
    )


def _render(snapshot: ViewSnapshot, *, terminal: bool, width: int = 200, limits: ViewLimits | None = None) -> str:
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=terminal, color_system=None).print(
        render_snapshot(snapshot, limits or ViewLimits())
    )
    return out.getvalue()


@pytest.mark.parametrize("terminal", [True, False])
def test_every_section_and_exact_money(snapshot: ViewSnapshot, terminal: bool) -> None:
    text = _render(snapshot, terminal=terminal)
    for title in (
        "P&L",
        "Opportunities (3)",
        "Positions (2)",
        "Venues",
        "Stage latency (ms)",
        "Linked markets (37)",
        "Open incidents (1)",
    ):
        assert title in text, title
    assert "arb paper  2026-12-06T12:00:00Z  up 42 s  plans 5  fills 2" in text
    # P&L: every digit of the guaranteed Decimal, realised = -fee, unrealised from the mark only
    for money in ("$1.234567891234", "-$0.07", "$0.20", "$0.07"):
        assert money in text, money
    # positions: size, cost, mark (the unmarked one shows "-", never a guessed value)
    assert "KXFED-26DEC-T4.25" in text and "$4.50" in text and "0.47" in text
    assert "512345" in text and "12.5" in text and "$6.21875" in text
    # opportunities ranked by edge: ladder 0.03 first, then pair 0.0125, then group 0.004
    assert text.index("set-ladder-7") < text.index("set-pair-1") < text.index("set-group-2")
    for fragment in ("exactly_one", "0.0125", "$0.3125", "25", "$0.02"):
        assert fragment in text, fragment
    # venue health, latency and incidents
    assert "DOWN" in text and "open (3 consecutive failures)" in text and "5012.000" in text
    assert "7.125" in text and "tick_to_plan" in text and "send_to_ack" in text
    assert "inverted" in text and "minor_differences" in text
    assert "leg 2 partially filled" in text and "2026-12-06T11:59:50Z" in text


def test_limits_cap_rows_and_say_how_many_are_hidden(snapshot: ViewSnapshot) -> None:
    text = _render(snapshot, terminal=True, limits=ViewLimits(links=1, opportunities=1, positions=1, incidents=0))
    assert "set-ladder-7" in text and "set-pair-1" not in text
    assert "2 more not shown" in text  # opportunities
    assert "1 more not shown" in text  # positions, links and incidents
    assert "KXFED-26DEC-T4.50" not in text


def test_halted_is_shown(snapshot: ViewSnapshot) -> None:
    from dataclasses import replace

    text = _render(replace(snapshot, halted="kill switch file present"), terminal=False)
    assert "HALTED: kill switch file present" in text


def test_snapshot_refuses_non_finite_money(snapshot: ViewSnapshot) -> None:
    from dataclasses import replace

    with pytest.raises(ConfigError, match="guaranteed_usd"):
        replace(snapshot, guaranteed_usd=Decimal("NaN"))
    with pytest.raises(ConfigError, match="linked_markets"):
        replace(snapshot, linked_markets=-1)


def test_names_that_look_like_markup_are_shown_as_they_are(snapshot: ViewSnapshot) -> None:
    from dataclasses import replace

    odd = "set[/bold]:smile:[red"
    incident = Incident(8, odd, "reason [/] with brackets", 1_796_558_390_000, None, "")
    text = _render(
        replace(
            snapshot,
            opportunities=(OpportunityRow(odd, OpportunityKind.PARLAY, 1_000),),
            incidents=(incident,),
        ),
        terminal=True,
    )
    assert text.count(odd) == 2 and "reason [/] with brackets" in text


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_live_view_draws_at_most_refresh_per_second(snapshot: ViewSnapshot) -> None:
    out = io.StringIO()
    clock = _Clock()
    view = LiveView(
        Console(file=out, width=200, force_terminal=True), clock=clock, refresh_per_second=4, threaded=False
    )
    assert view.due() and view.update(snapshot)
    clock.now += 0.1
    assert not view.due() and not view.update(snapshot)  # within 0.25 s: skipped
    clock.now += 0.15
    assert view.update(snapshot)
    view.event("incident 7 opened on set-pair-9")
    view.close(snapshot)  # the final draw ignores the bound
    assert view.draws == 3
    text = out.getvalue()
    assert "incident 7 opened on set-pair-9" in text
    assert "$1.234567891234" in text and "Opportunities (3)" in text


def test_plain_view_writes_one_line_per_refresh_and_event(snapshot: ViewSnapshot) -> None:
    out = io.StringIO()
    clock = _Clock()
    view = PlainView(out, clock, interval_s=5.0)
    assert view.update(snapshot)
    clock.now += 4.9
    assert not view.update(snapshot)
    view.event("halt: daily loss $50.00 over limit\nsecond line")
    clock.now += 0.1
    assert view.update(snapshot)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and view.lines == 3
    assert lines[1] == "event halt: daily loss $50.00 over limit second line"
    assert lines[0] == lines[2] == plain_line(snapshot)
    assert "\x1b" not in out.getvalue()  # no escape codes in logs
    assert lines[0] == (
        "2026-12-06T12:00:00Z mode=paper links=37 opportunities=3(exactly_one:1,ladder:1,pair:1) positions=2 "
        "plans=5 fills=2 guaranteed=$1.234567891234 realised=-$0.07 unrealised=$0.20 incidents=1 "
        "kalshi=up,lag_ms=3.500,breaker=closed,stale=0 polymarket=down,lag_ms=-,breaker=open,stale=2 "
        "tick_to_plan_p99_ms=7.125 send_to_ack_p99_ms=-"
    )


def test_threaded_live_view_draws_the_last_snapshot_on_close(snapshot: ViewSnapshot) -> None:
    out = io.StringIO()
    view = LiveView(Console(file=out, width=200, force_terminal=True), clock=_Clock(), refresh_per_second=4)
    assert view.update(snapshot)
    view.close()  # stops rich's refresh thread, which draws the current renderables once more
    assert "$1.234567891234" in out.getvalue() and "Open incidents (1)" in out.getvalue()


def test_threaded_live_view_lowers_the_switch_interval_while_it_runs(snapshot: ViewSnapshot) -> None:
    before = sys.getswitchinterval()
    console = Console(file=io.StringIO(), width=200, force_terminal=True)
    view = LiveView(console, clock=_Clock(), refresh_per_second=4, switch_interval_s=0.0005)
    assert view.update(snapshot)
    assert sys.getswitchinterval() == pytest.approx(0.0005)  # the loop gets the GIL back within 0.5 ms
    view.close()
    assert sys.getswitchinterval() == before
    inline = LiveView(console, clock=_Clock(), refresh_per_second=4, threaded=False)
    assert inline.update(snapshot) and sys.getswitchinterval() == before  # no drawing thread: left alone
    inline.close()
    with pytest.raises(ConfigError, match="switch_interval_s"):
        LiveView(console, clock=_Clock(), switch_interval_s=0)


def test_process_view_draws_in_a_child_one_frame_at_a_time(snapshot: ViewSnapshot, tmp_path: Path) -> None:
    out = tmp_path / "view.out"
    clock = _Clock()
    view = ProcessView(str(out), clock=clock, refresh_per_second=4, width=200)
    try:
        assert view.update(snapshot)
        clock.now += 0.25
        view.event("incident partial_fill: leg [b]filled[/b] 4 of 10")
        if not view.update(snapshot):  # the child (a fresh interpreter) is still starting or drawing
            assert (view.skipped, view.draws) == (1, 1)  # the frame is skipped, not queued
        assert view.wait_drawn(30)
        clock.now += 0.25
        assert view.update(snapshot) and not view.failed
    finally:
        view.close(dataclasses.replace(snapshot, halted="kill switch"))
    text = out.read_text()
    assert "$1.234567891234" in text and "Open incidents (1)" in text
    assert "incident partial_fill: leg [b]filled[/b] 4 of 10" in text  # printed as given, not as markup
    assert "HALTED: kill switch" in text  # the last snapshot is drawn on close


class _StdoutTty(io.StringIO):
    """Says it is a terminal on file descriptor 1, as the daemon's own stdout would."""

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 1


def test_make_view_draws_in_a_child_process_on_its_own_terminal_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[object, float]] = []

    class Recorded:  # stands in for ProcessView: starting a child interpreter is tested above
        def __init__(self, output: int | str, *, clock: object, refresh_per_second: float, limits: ViewLimits) -> None:
            started.append((output, refresh_per_second))

    monkeypatch.setattr(view_module, "ProcessView", Recorded)
    assert isinstance(make_view(_StdoutTty(), clock=_Clock(), refresh_per_second=3), Recorded)
    assert started == [(1, 3)]
    assert isinstance(make_view(_StdoutTty(), clock=_Clock(), process=False), LiveView)
    assert isinstance(make_view(_Tty(), clock=_Clock()), LiveView)  # a terminal that is not our stdout/stderr


def test_a_dead_view_process_never_raises_into_the_daemon(snapshot: ViewSnapshot, tmp_path: Path) -> None:
    clock = _Clock()
    view = ProcessView(str(tmp_path / "view.out"), clock=clock, refresh_per_second=4)
    view._process.kill()
    view._process.join(10)
    for _ in range(3):
        view.update(snapshot)
        view.event("still trading")
        clock.now += 1
    view.close(snapshot)
    assert view.failed.startswith("live view process ended")
    with pytest.raises(ConfigError, match="output"):
        ProcessView(7, clock=clock)


@pytest.mark.parametrize("width", [70, 200])
def test_money_is_never_elided_on_a_narrow_terminal(snapshot: ViewSnapshot, width: int) -> None:
    text = _render(snapshot, terminal=True, width=width)  # at 70 columns names and reasons are elided
    for money in ("$1.234567891234", "$6.21875", "$0.3125"):
        assert money in text, money


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Closed(io.StringIO):
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


def test_make_view_chooses_by_isatty() -> None:
    clock = _Clock()
    assert isinstance(make_view(_Tty(), clock=clock), LiveView)
    assert isinstance(make_view(io.StringIO(), clock=clock), PlainView)
    assert isinstance(make_view(_Closed(), clock=clock), PlainView)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), True])
def test_bad_refresh_rates_are_refused(bad: float) -> None:
    with pytest.raises(ConfigError):
        make_view(_Tty(), clock=_Clock(), refresh_per_second=bad)
    with pytest.raises(ConfigError):
        make_view(io.StringIO(), clock=_Clock(), plain_interval_s=bad)
