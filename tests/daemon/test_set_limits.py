"""The limits the daemon puts on each forwarded set before the allocator sizes it: cost at most the
risk gate's partial-fill loss bound, and on a settlement-risk link at most the link's Kelly cap
(reference arithmetic here in Fractions, apart from arb.risk's Decimal)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from arb.config import Credentials, load_config
from arb.daemon.core import Daemon
from arb.links import CuratedLink, SettlementRisk
from solvers import ZERO_FEE, CandidateSet, Contract, Equivalent, Instrument, Level, SetLimits, Side
from tests.daemon.support import DEFAULT
from tests.support import approved_link

K, P = "kalshi:KX-1", "polymarket:0xabc"


def candidate(*, risky: bool, max_cost: Decimal | None = None) -> CandidateSet:
    asks = (Level(Decimal("0.40"), Decimal(100)),)
    instruments = tuple(
        Instrument(f"{c}:{s.value}", c.split(":")[0], c, s, asks, ZERO_FEE) for c in (K, P) for s in (Side.YES, Side.NO)
    )
    return CandidateSet(
        "set-1",
        (Contract(K), Contract(P)),
        instruments,
        (Equivalent(K, P, settlement_risk=risky),),
        SetLimits(max_cost_usd=max_cost),
    )


def link(risk: SettlementRisk) -> CuratedLink:
    return approved_link(settlement_risk=risk)


def daemon(risk: SettlementRisk) -> Daemon:
    d = Daemon(load_config(DEFAULT), Credentials(), source=None, install_signals=False)  # type: ignore[arg-type]
    d._links_by_pair = {(K, "0xabc"): link(risk)}
    return d


def test_a_set_costs_at_most_the_partial_fill_loss_bound() -> None:
    d = daemon(SettlementRisk.IDENTICAL_RULES)
    bound = d.config.risk.limits.max_partial_fill_loss_usd
    limited = d._limited(candidate(risky=False), 50_000)
    assert limited is not None and limited.limits.max_cost_usd == bound == Decimal("50.00")
    smaller = d._limited(candidate(risky=False, max_cost=Decimal(20)), 50_000)
    assert smaller is not None and smaller.limits.max_cost_usd == Decimal(20)  # a tighter cap stays


def test_a_settlement_risk_link_caps_the_set_at_its_kelly_stake() -> None:
    d = daemon(SettlementRisk.MINOR_DIFFERENCES)
    # kelly fraction 1/4, disagreement probability 2/100, bankroll $2,000 (default config)
    for score_micro, expected in ((21_000, None), (50_000, Fraction(50))):
        edge = Fraction(score_micro, 1_000_000)
        p = Fraction(2, 100)
        stake = Fraction(1, 4) * ((1 - p) - p / edge) * 2000
        cap = min(stake, Fraction(50)) if expected is None else expected
        limited = d._limited(candidate(risky=True), score_micro)
        assert limited is not None and limited.limits.max_cost_usd is not None
        got = Fraction(limited.limits.max_cost_usd)
        assert got <= cap and cap - got < Fraction(1, 100)  # whole cents, never above the cap
    assert Fraction(d._limited(candidate(risky=True), 21_000).limits.max_cost_usd) < 50  # type: ignore[union-attr,arg-type]


def test_a_link_class_without_a_probability_is_not_traded() -> None:
    d = daemon(SettlementRisk.DIFFERENT_RESOLUTION_SOURCE)
    assert d._limited(candidate(risky=True), 50_000) is None
