"""Venue market-metadata files (saved REST responses) as domain `MarketInfo`s.

The link tools (`arb links suggest`, `arb links approve`) read markets from files an operator saved
from the venues' own REST endpoints. Decoding stays here, inside `arb/venues`, so the engine sees
domain types only (`arb.links` re-exports these loaders).

Accepted shapes, fail closed on anything else:
- Kalshi: a `GET /markets` response `{"markets": [...], "cursor": ...}`, a JSON array of such
  responses (pages saved one after another), a bare JSON array of market objects, a single
  `{"market": {...}}`, or `GET /events?with_nested_markets=true` responses `{"events": [...]}`
  (nested markets keep their event's group).
- Polymarket: a Gamma `GET /markets` array, a JSON array of such arrays (pages), or a Gamma
  `GET /events` array (markets nested in events keep their event's negRisk group).

A market listed twice with identical content (overlapping pages) is kept once; listed twice with
different content it is a `ConfigError` (which copy is current cannot be told).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arb.domain import MarketInfo
from arb.errors import ConfigError, FieldError, WireError
from arb.venues.kalshi import wire as kalshi_wire
from arb.venues.polymarket import wire as polymarket_wire

__all__ = ["load_kalshi_markets_file", "load_polymarket_markets_file"]


def _read(path: Path, venue: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {venue} markets file ({exc.strerror or exc})") from exc


def _prefixed(exc: WireError, prefix: str) -> WireError:
    """The same error class with `prefix` (the file, a page index) in front of the field path."""
    field = f"{prefix}{exc.field}" if exc.field else prefix.rstrip(".:")
    if isinstance(exc, FieldError):
        return FieldError(field, exc.problem, exc.value, venue=exc.venue)
    return type(exc)(f"{prefix.rstrip('.:')}: {exc}", field=field)


def _unique(markets: list[MarketInfo], path: Path) -> list[MarketInfo]:
    seen: dict[str, MarketInfo] = {}
    for market in markets:
        previous = seen.get(market.market_id)
        if previous is None:
            seen[market.market_id] = market
        elif previous != market:
            raise ConfigError(f"{path}: market {market.market_id!r} is listed twice with different content")
    return list(seen.values())


def _kalshi_items(obj: Any, path: Path) -> list[MarketInfo]:
    if type(obj) is dict:
        if "events" in obj and "markets" not in obj:
            events, _ = kalshi_wire.decode_events_page(obj)
            return [m for event in events for m in event.markets]
        markets, _ = kalshi_wire.decode_markets_page(obj)
        return markets
    if type(obj) is list:
        pages = [type(item) is dict and ("markets" in item or "events" in item) for item in obj]
        if obj and all(pages):
            out: list[MarketInfo] = []
            for i, page in enumerate(obj):
                try:
                    out.extend(_kalshi_items(page, path))
                except WireError as exc:
                    raise _prefixed(exc, f"[{i}].") from exc
            return out
        if any(pages):
            raise ConfigError(f"{path}: mixes GET /markets responses with bare market objects")
        markets, _ = kalshi_wire.decode_markets_page(obj)
        return markets
    raise ConfigError(f"{path}: a Kalshi markets file holds a JSON object or array, was {type(obj).__name__}")


def load_kalshi_markets_file(path: Path | str) -> list[MarketInfo]:
    """Every market in a saved Kalshi `GET /markets` (or `GET /events`) file, in file order.

    Raises ConfigError (unreadable file, unknown shape, conflicting duplicates) or WireError
    (a market that does not decode; the field path starts with the file name).
    """
    path = Path(path)
    try:
        obj = kalshi_wire.loads(_read(path, "Kalshi"))
        return _unique(_kalshi_items(obj, path), path)
    except WireError as exc:
        raise _prefixed(exc, f"{path}:") from exc


def _polymarket_items(obj: Any, path: Path) -> list[MarketInfo]:
    if type(obj) is not list:
        raise ConfigError(f"{path}: a Gamma markets file holds a JSON array, was {type(obj).__name__}")
    if obj and all(type(item) is list for item in obj):  # pages saved one after another
        return [m for page in obj for m in _polymarket_items(page, path)]
    kinds = {
        "event" if type(item) is dict and "conditionId" not in item and type(item.get("markets")) is list else "market"
        for item in obj
    }
    if kinds == {"event"}:
        return [m for event in polymarket_wire.decode_gamma_events(obj) for m in event.markets]
    if kinds == {"event", "market"}:
        raise ConfigError(f"{path}: mixes Gamma events with Gamma markets")
    return polymarket_wire.decode_gamma_markets(obj)


def load_polymarket_markets_file(path: Path | str) -> list[MarketInfo]:
    """Every market in a saved Polymarket Gamma `GET /markets` (or `GET /events`) file, in file order.

    Markets are keyed by condition id (`MarketInfo.market_id`); the Gamma numeric id is
    `MarketInfo.venue_market_id`. Raises ConfigError or WireError as `load_kalshi_markets_file`.
    """
    path = Path(path)
    try:
        obj = polymarket_wire.loads(_read(path, "Polymarket"))
        return _unique(_polymarket_items(obj, path), path)
    except WireError as exc:
        raise _prefixed(exc, f"{path}:") from exc
