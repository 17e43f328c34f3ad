"""The FOMC cross-venue fixtures are reproducible from the committed CSV and decode in venue shape."""

from __future__ import annotations

import csv
import hashlib
import json

from arb.venues.kalshi import wire as kalshi_wire
from arb.venues.polymarket import wire as polymarket_wire
from tests.fixtures.cross_venue.fomc_2024 import build_fixtures

HERE = build_fixtures.HERE


def test_committed_files_equal_a_fresh_build() -> None:
    assert build_fixtures.main(["--check"]) == 0


def test_csv_is_the_unchanged_copy() -> None:
    digest = hashlib.sha256((HERE / "hussmart_fomc_pairs.csv").read_bytes()).hexdigest()
    assert digest == "2fa854cfdc4282c31ce66167e5ff24e4350c21356ba28f1b6ed7f82d8fed783c"


def test_every_true_pair_names_markets_present_on_both_venues() -> None:
    pages = json.loads((HERE / "kalshi_markets.json").read_bytes())
    kalshi = {m.market_id for page in pages for m in kalshi_wire.decode_markets_page(page)[0]}
    gamma = {
        m.venue_market_id
        for m in polymarket_wire.decode_gamma_markets(json.loads((HERE / "polymarket_markets.json").read_bytes()))
    }
    pairs = json.loads((HERE / "expected_pairs.json").read_bytes())["pairs"]
    rows = list(csv.DictReader((HERE / "hussmart_fomc_pairs.csv").open(newline="")))
    assert len(kalshi) == 30 and len(gamma) == 24
    assert {(p["kalshi"], p["polymarket"]) for p in pairs if p["source"] != "synthesized"} == {
        (r["kalshi_ticker"], r["poly_market_id"]) for r in rows
    }
    for pair in pairs:
        assert pair["kalshi"] in kalshi and pair["polymarket"] in gamma
    assert len({p["kalshi"] for p in pairs}) == len({p["polymarket"] for p in pairs}) == len(pairs) == 18
