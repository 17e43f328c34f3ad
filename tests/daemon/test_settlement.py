"""Which side a venue's resolution event says won (`settlement_result`): the daemon records a
settlement in the ledger only on an unambiguous answer, never a guess."""

from __future__ import annotations

from dataclasses import replace

from arb.daemon.core import settlement_result
from arb.domain import MarketLifecycle, Side, Venue
from tests.fixtures.cross_venue import fomc_2024

POLY = fomc_2024.polymarket_events()[0].markets[0]


def test_kalshi_results_are_yes_or_no() -> None:
    for text, side in (("yes", Side.YES), ("No", Side.NO), (" YES ", Side.YES)):
        assert settlement_result(MarketLifecycle(Venue.KALSHI, "KX-1", "determined", result=text), None) is side
    assert settlement_result(MarketLifecycle(Venue.KALSHI, "KX-1", "determined", result="void"), None) is None
    assert settlement_result(MarketLifecycle(Venue.KALSHI, "KX-1", "closed", result="yes"), None) is None
    assert settlement_result(MarketLifecycle(Venue.KALSHI, "KX-1", "settled"), None) is None


def test_polymarket_results_name_the_winning_token_or_label() -> None:
    assert POLY.token_ids is not None
    yes, no = POLY.token_ids
    event = MarketLifecycle(Venue.POLYMARKET, POLY.market_id, "market_resolved", result=yes)
    assert settlement_result(event, POLY) is Side.YES
    assert settlement_result(replace(event, result=no), POLY) is Side.NO
    assert settlement_result(replace(event, result=POLY.outcome_labels[1].upper()), POLY) is Side.NO
    assert settlement_result(replace(event, result="12345"), POLY) is None  # not this market's token
    assert settlement_result(event, None) is None  # market unknown: nothing to compare with
    same_labels = replace(POLY, outcome_labels=("Over", "Over"), token_ids=None)
    assert settlement_result(replace(event, result="Over"), same_labels) is None
