"""Settlement divergence: two linked markets (a curated Kalshi-Polymarket link) that resolved
differently.

A link says Kalshi YES pays what Polymarket YES pays ("same") or what Polymarket NO pays
("inverted"). Once the ledger holds both markets' settlements, `divergences` compares what each
paid per contract (a void or split resolution included: a void on one venue and a winner on the
other diverge too). The ledger has already booked both results as they were announced (each venue
pays what it decided); the daemon opens an incident "settlement divergence" on the set and alerts,
since the arbitrage it traded was not one. A settlement-risk link's stake was capped by the Kelly
cap, so this is the loss that cap was sized for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from arb.domain import Venue
from arb.fixed import SCALE
from arb.ledger.store import Ledger, Payout
from arb.links import CuratedLink

__all__ = ["SettlementDivergence", "divergences", "held_payout_usd", "link_id"]

_ZERO = Decimal(0)
_PICO_PER_USD = Decimal(SCALE) * Decimal(SCALE)


def link_id(link: CuratedLink) -> str:
    """The name a link goes by in exposures and incidents (as `LinkExposure.link_id`)."""
    return f"{link.kalshi_ticker}~{link.polymarket_market_id}"


@dataclass(frozen=True, slots=True)
class SettlementDivergence:
    """A link whose two markets paid differently: each venue's payout per contract (Polymarket's
    restated in Kalshi's orientation in `polymarket_as_kalshi`) and what the two markets' fills and
    payouts came to (`result_usd`: negative is a loss)."""

    link: CuratedLink
    polymarket_condition_id: str
    kalshi: Payout
    polymarket: Payout
    polymarket_as_kalshi: Payout
    result_usd: Decimal

    @property
    def message(self) -> str:
        link = self.link
        return (
            f"settlement divergence on link {link_id(link)} ({link.orientation.value}, {link.settlement_risk.value}): "
            f"kalshi {link.kalshi_ticker} paid YES {_usd(self.kalshi.yes_micro_usd)} NO {_usd(self.kalshi.no_micro_usd)}, "
            f"polymarket {self.polymarket_condition_id} paid YES {_usd(self.polymarket.yes_micro_usd)} "
            f"NO {_usd(self.polymarket.no_micro_usd)}; result on the pair {self.result_usd} USD"
        )


def _usd(micro: int) -> str:
    return str(Decimal(micro) / SCALE)


def held_payout_usd(ledger: Ledger, venue: Venue, market_id: str, payout: Payout) -> Decimal:
    """What the positions held in a market now are paid under `payout` (call it before the ledger
    settles the market: settling zeroes them)."""
    pico = sum(
        size * payout.of(side)
        for (v, market, side), size in ledger.positions().items()
        if (v, market) == (venue, market_id)
    )
    return Decimal(pico) / _PICO_PER_USD


def divergences(
    ledger: Ledger,
    links: Mapping[tuple[str, str], CuratedLink],
    venue: Venue,
    market_id: str,
    paid_usd: Mapping[tuple[Venue, str], Decimal],
) -> list[SettlementDivergence]:
    """The links touching the market that just settled (`venue`, `market_id`) whose other market
    has settled too with a different payout. `links` is keyed by (Kalshi contract id
    "kalshi:TICKER", Polymarket condition id); `paid_usd` is what each settled market paid our
    positions (from `held_payout_usd`)."""
    found: list[SettlementDivergence] = []
    flows: dict[tuple[Venue, str], Decimal] | None = None
    for (_kalshi, condition), link in _touching(links.items(), venue, market_id):
        kalshi = ledger.settlement(Venue.KALSHI, link.kalshi_ticker)
        polymarket = ledger.settlement(Venue.POLYMARKET, condition)
        if kalshi is None or polymarket is None:
            continue
        restated = Payout(polymarket.no_micro_usd, polymarket.yes_micro_usd) if link.inverted else polymarket
        if restated == kalshi:
            continue
        if flows is None:
            flows = ledger.market_cash_flows()
        keys = ((Venue.KALSHI, link.kalshi_ticker), (Venue.POLYMARKET, condition))
        result = sum((flows.get(key, _ZERO) + paid_usd.get(key, _ZERO) for key in keys), _ZERO)
        found.append(SettlementDivergence(link, condition, kalshi, polymarket, restated, result))
    return found


def _touching(
    links: Iterable[tuple[tuple[str, str], CuratedLink]], venue: Venue, market_id: str
) -> list[tuple[tuple[str, str], CuratedLink]]:
    out = []
    for key, link in links:
        if (venue is Venue.KALSHI and link.kalshi_ticker == market_id) or (
            venue is Venue.POLYMARKET and key[1] == market_id
        ):
            out.append((key, link))
    return out
