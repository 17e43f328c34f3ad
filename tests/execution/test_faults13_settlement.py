"""Settlement divergence on a settlement-risk link: the Kalshi market and its linked Polymarket market
resolve differently. The daemon's lifecycle path books both results as the venues paid them, opens
an incident "settlement divergence" on the set (ledger and gate) and sends one alert; the loss is at
most the stake the link's Kelly cap allowed (reference arithmetic here in Fractions)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from arb.config import Credentials, load_config
from arb.daemon.core import Daemon
from arb.domain import Action, Fill, MarketLifecycle, Side, Venue
from arb.fixed import SCALE
from arb.ledger.store import Ledger, Payout
from arb.ledger.writer import LedgerWriter
from arb.links import CuratedLink, Orientation
from arb.ops.notify import Incident
from arb.risk.config import build_risk_gate
from solvers import ZERO_FEE, CandidateSet, Contract, Equivalent, Instrument, Level, SetLimits
from solvers import Side as SolverSide
from tests.daemon.support import DEFAULT
from tests.fixtures.cross_venue import fomc_2024
from tests.support import approved_link

K, P = "kalshi:KX-1", "polymarket:0xabc"
POLY = replace(fomc_2024.polymarket_events()[0].markets[0], market_id="0xabc", token_ids=("501-yes", "501-no"))
WALL_MS = 1_767_225_600_000


class Alerts:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def submit(self, alert: Any) -> None:
        self.sent.append(alert)


def link(orientation: Orientation = Orientation.SAME) -> CuratedLink:
    return approved_link(orientation=orientation)


def daemon(tmp_path: Path, orientation: Orientation = Orientation.SAME) -> tuple[Daemon, Alerts]:
    d = Daemon(
        load_config(DEFAULT),
        Credentials(),
        source=None,  # type: ignore[arg-type]
        install_signals=False,
        wall_ms=lambda: WALL_MS,
    )
    d._links_by_pair = {(K, "0xabc"): link(orientation)}
    d._markets[Venue.POLYMARKET] = [POLY]
    d.ledger = Ledger(tmp_path / "ledger.sqlite", synchronous="NORMAL")
    d.ledger_writer = LedgerWriter(d.ledger, offload=False)  # writes at once (no loop needed)
    d.gate = build_risk_gate(d.config.risk, monotonic_s=lambda: 0.0, wall_s=lambda: WALL_MS / 1000)
    alerts = Alerts()
    d.telemetry.notifier = alerts
    return d, alerts


def candidate() -> CandidateSet:
    asks = (Level(Decimal("0.40"), Decimal(100)),)
    instruments = tuple(
        Instrument(f"{c}:{s.value}", c.split(":")[0], c, s, asks, ZERO_FEE)
        for c in (K, P)
        for s in (SolverSide.YES, SolverSide.NO)
    )
    return CandidateSet(
        "set-1", (Contract(K), Contract(P)), instruments, (Equivalent(K, P, settlement_risk=True),), SetLimits()
    )


def buy(ledger: Ledger, venue: Venue, market: str, side: Side, price_micro: int, contracts: int) -> None:
    fill = Fill(venue, f"{market}-{side.value}", "order-1", None, market, market, side, Action.BUY, price_micro,
                contracts * SCALE, 0, None)  # fmt: skip
    ledger.record_fill(fill, now_ms=WALL_MS)


def test_linked_markets_resolving_differently_book_both_open_an_incident_and_alert_once(tmp_path: Path) -> None:
    d, alerts = daemon(tmp_path)
    assert d.ledger is not None and d.gate is not None
    # the set as the daemon sizes it: an edge of $0.021 a contract on a minor-differences link
    limited = d._limited(candidate(), 21_000)
    assert limited is not None and limited.limits.max_cost_usd is not None
    p, fraction, bankroll = Fraction(2, 100), Fraction(1, 4), Fraction(2000)
    kelly = fraction * ((1 - p) - p / Fraction(21, 1000)) * bankroll  # the reference cap, independent
    cap = Fraction(limited.limits.max_cost_usd)
    assert 0 < cap <= kelly
    # the plan it allowed: YES on Kalshi at 0.40 and NO on Polymarket at 0.579 (0.979 a pair), within the cap
    pairs = int(cap / Fraction(979, 1000))
    buy(d.ledger, Venue.KALSHI, "KX-1", Side.YES, 400_000, pairs)
    buy(d.ledger, Venue.POLYMARKET, "0xabc", Side.NO, 579_000, pairs)
    cash_before = sum(d.ledger.cash().values(), Decimal(0))

    d._on_event(MarketLifecycle(Venue.KALSHI, "KX-1", "determined", result="no"))
    assert d.ledger.open_incidents() == [] and alerts.sent == []  # one side settled: nothing to compare yet
    d._on_event(MarketLifecycle(Venue.POLYMARKET, "0xabc", "market_resolved", result="501-yes"))

    assert d.ledger.settlement(Venue.KALSHI, "KX-1") == Payout.won(Side.NO)  # both results booked as paid
    assert d.ledger.settlement(Venue.POLYMARKET, "0xabc") == Payout.won(Side.YES)
    assert d.ledger.positions() == {}
    (incident,) = d.ledger.open_incidents()
    assert incident.set_id == "KX-1~501" and incident.reason.startswith("settlement divergence")
    refusal = d.gate.incidents.check("KX-1~501")
    assert refusal is not None and "settlement divergence" in refusal.reason
    (alert,) = alerts.sent
    assert isinstance(alert, Incident) and alert.kind == "settlement_divergence" and alert.severity == "critical"
    loss = cash_before - sum(d.ledger.cash().values(), Decimal(0))
    assert loss == 0  # both legs lost: the payouts added nothing to the cash the fills had spent
    spent = Fraction(pairs * (400_000 + 579_000), SCALE)
    assert Fraction(-Decimal(alert.details["result_usd"])) == spent <= cap <= kelly  # the loss: the whole stake

    # the same resolution again is a duplicate: no second incident or alert
    d._on_event(MarketLifecycle(Venue.POLYMARKET, "0xabc", "market_resolved", result="501-yes"))
    assert len(d.ledger.open_incidents()) == 1 and len(alerts.sent) == 1
    d.ledger.close()


def test_linked_markets_resolving_alike_raise_nothing_inverted_link_included(tmp_path: Path) -> None:
    d, alerts = daemon(tmp_path, Orientation.INVERTED)
    assert d.ledger is not None
    buy(d.ledger, Venue.KALSHI, "KX-1", Side.YES, 400_000, 10)
    buy(d.ledger, Venue.POLYMARKET, "0xabc", Side.YES, 580_000, 10)
    d._on_event(MarketLifecycle(Venue.KALSHI, "KX-1", "determined", result="yes"))
    d._on_event(MarketLifecycle(Venue.POLYMARKET, "0xabc", "market_resolved", result="501-no"))  # alike, inverted
    assert d.ledger.open_incidents() == [] and alerts.sent == []
    assert d.ledger.settlement(Venue.POLYMARKET, "0xabc") == Payout.won(Side.NO)
    d.ledger.close()
