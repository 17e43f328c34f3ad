"""Regenerate the scenario's curated links (arb/scenario/data/links.toml) from the simulators:

    python -m arb.scenario.build_links [--check]

Starts `SimulatedVenues` (participants still), reads both venues' metadata over the real clients and
approves the catalogue's link pairs (`Catalogue.link_pairs`) as `arb links approve` would, pinning
the rules texts and close times the simulators serve. `--check` exits 1 when the shipped file
differs from a fresh build (the test suite runs it, so the shipped links are always current).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from arb.domain import MarketInfo, Venue
from arb.errors import ConfigError
from arb.links import Orientation, SettlementRisk, approve_link, link_from_markets
from arb.scenario.markets import scenario_catalogue
from arb.scenario.metadata import ScenarioMetadata, fetch_metadata
from arb.scenario.venues import ScenarioConfig, SimulatedVenues

__all__ = ["main", "render_links"]

APPROVED_BY = "scenario (arb)"
APPROVED_AT = dt.date(2026, 12, 6)
NOTE = "default scenario (arb/scenario): reviewed against the simulators' metadata"


def render_links(metadata: ScenarioMetadata, pairs: Sequence[tuple[str, str, bool]]) -> str:
    """The links file text for `pairs` ((kalshi ticker, polymarket condition id, inverted))."""
    by_id: dict[tuple[Venue, str], MarketInfo] = {(m.venue, m.market_id): m for m in metadata.all_markets()}
    with tempfile.TemporaryDirectory(prefix="arb-scenario-links-") as tmp:
        path = Path(tmp) / "links.toml"
        for kalshi_ticker, condition_id, inverted in pairs:
            kalshi, polymarket = by_id.get((Venue.KALSHI, kalshi_ticker)), by_id.get((Venue.POLYMARKET, condition_id))
            if kalshi is None or polymarket is None:
                raise ConfigError(f"scenario link {kalshi_ticker} ~ {condition_id}: a market is not listed")
            link = link_from_markets(
                kalshi,
                polymarket,
                orientation=Orientation.INVERTED if inverted else Orientation.SAME,
                settlement_risk=SettlementRisk.IDENTICAL_RULES,
                approved_by=APPROVED_BY,
                approved_at=APPROVED_AT,
                note=NOTE,
            )
            approve_link(path, link)
        return path.read_text(encoding="utf-8")


async def build() -> str:
    async with SimulatedVenues(ScenarioConfig(book_changes_per_s=0), run_participants=False) as venues:
        metadata = await fetch_metadata(venues)
    return render_links(metadata, scenario_catalogue().link_pairs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m arb.scenario.build_links", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when the shipped links differ from a build")
    args = parser.parse_args(argv)
    text = asyncio.run(build())
    shipped = resources.files("arb.scenario.data").joinpath("links.toml")
    if args.check:
        current = shipped.read_text(encoding="utf-8")
        if current != text:
            print("arb/scenario/data/links.toml differs from a fresh build", file=sys.stderr)
            return 1
        return 0
    Path(str(shipped)).write_text(text, encoding="utf-8")
    print(f"wrote {shipped}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
