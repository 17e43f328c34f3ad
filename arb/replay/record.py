"""`arb record`: the venues' feeds captured into a scenario file (docs/replay.md, "Recording").

`FeedRecorder` does what the daemon does at start, with the same real clients (`build_clients`):
start them, read both venues' markets and events, build the market graph with the source's links
and exhaustive series, and subscribe to every market of the graph. Then it writes down:

- metadata: every graph market, with the other markets of its events, as SimSpec markets (Kalshi
  series with their fee type, events, markets with rules, times, tick structure and strikes;
  Polymarket markets with tokens, tick, fee schedule, negRisk event and rules text), so a replay
  serves the same metadata and the links stay current;
- initial books: each book as it stands once its snapshot arrived (books still without one start
  empty and their first snapshot is an event);
- every book change heard after that, as a timed event on the injected clock: a `level` event (the
  level's new total size, read from the recorder's own copy of the ladder) for a change, a `book`
  event (the whole ladder) for a snapshot (a resync);
- the links and exhaustive series the source gave the graph.

Tick-size changes and public trades are not replayed (the book changes they cause are): they are
counted in the scenario's description. Kalshi books are YES ladders (its NO side mirrors them),
Polymarket books one per token; an event sets exactly the book it names.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import tomlkit

from arb.daemon.venues import VenueSource, build_clients
from arb.domain import (
    BookChange,
    BookSide,
    BookSnapshot,
    ChangeMode,
    EventInfo,
    MarketInfo,
    MarketStatus,
    SeriesInfo,
    TickSizeChange,
    Trade,
    Venue,
)
from arb.errors import ConfigError
from arb.exhaustive_series import ExhaustiveSeries
from arb.graph import build_graph
from arb.links import CuratedLink, format_close_time
from arb.venues.base import VenueClient
from arb.venues.kalshi.client import KalshiClient
from arb.venues.sim.spec import SimSpec, kalshi_tick_bands

__all__ = ["FeedRecorder", "exhaustive_series_table", "link_table", "metadata_spec", "run_record"]

SCALE = 1_000_000
_KALSHI_STATUS = {
    MarketStatus.UNOPENED: "initialized",
    MarketStatus.OPEN: "active",
    MarketStatus.PAUSED: "inactive",
    MarketStatus.CLOSED: "closed",
    MarketStatus.SETTLED: "closed",
}


def _text(micro: int) -> str:
    return str(Decimal(micro) / SCALE)


def _ladder(levels: Mapping[int, int], *, descending: bool) -> list[list[str]]:
    return [[_text(p), _text(levels[p])] for p in sorted(levels, reverse=descending)]


# -- metadata -> SimSpec tree ----------------------------------------------------------------------


def _kalshi_structure(market: MarketInfo) -> str:
    bands = tuple((b.start_micro_usd, b.end_micro_usd, b.step_micro_usd) for b in market.price_bands)
    for name in ("linear_cent", "deci_cent", "tapered_deci_cent"):
        if kalshi_tick_bands(name) == bands:
            return name
    steps = {b[2] for b in bands}
    return "deci_cent" if steps and min(steps) < 10_000 else "linear_cent"


def _kalshi_market(market: MarketInfo) -> dict[str, Any]:
    table: dict[str, Any] = {
        "ticker": market.market_id,
        "event_ticker": market.event_id,
        "title": market.title,
        "yes_sub_title": market.subtitle,
        "status": _KALSHI_STATUS[market.status],
        "price_level_structure": _kalshi_structure(market),
        "fractional": market.fractional,
        # the client joins rules_primary and rules_secondary; the joined text serves the same
        "rules_primary": market.rules_text,
    }
    if market.open_time_ms is not None:
        table["open_time_ms"] = market.open_time_ms
    if market.close_time_ms is not None:
        table["close_time_ms"] = market.close_time_ms
    strike = market.strike
    if strike is not None:
        table["strike_type"] = strike.strike_type
        if strike.floor is not None:
            table["floor_strike"] = str(strike.floor)
        if strike.cap is not None:
            table["cap_strike"] = str(strike.cap)
        if strike.custom:
            table["custom_strike"] = dict(strike.custom)
    return table


def _polymarket_market(market: MarketInfo) -> dict[str, Any]:
    if market.token_ids is None:
        raise ConfigError(f"polymarket market {market.market_id} has no token ids")
    steps = sorted({b.step_micro_usd for b in market.price_bands})
    table: dict[str, Any] = {
        "condition_id": market.market_id,
        "question": market.title,
        "yes_token": market.token_ids[0],
        "no_token": market.token_ids[1],
        "tick": _text(steps[0] if steps else 10_000),
        "min_order_size": _text(market.min_order_size_micro),
        "neg_risk": market.group is not None,
        "event_id": market.event_id or "1",
        "gamma_id": market.venue_market_id or "1",
        "group_item_title": market.subtitle,
        "slug": market.slug,
        "description": market.rules_text,
    }
    if market.close_time_ms is not None:
        table["end_date_ms"] = market.close_time_ms
    fee = market.taker_fee
    if fee is not None and fee.coefficient > 0:
        table["fee_schedule"] = {"rate": str(fee.coefficient), "exponent": fee.exponent}
    return table


def metadata_spec(
    markets: Sequence[MarketInfo], events: Sequence[EventInfo], series: Sequence[SeriesInfo]
) -> dict[str, Any]:
    """A SimSpec tree (no books, no accounts) serving `markets` as their venues did: Kalshi series
    and events they belong to, Polymarket markets with their tokens."""
    tree: dict[str, Any] = {}
    kalshi = sorted((m for m in markets if m.venue is Venue.KALSHI), key=lambda m: m.market_id)
    if kalshi:
        events_by_id = {e.event_id: e for e in events if e.venue is Venue.KALSHI}
        series_by_id = {s.series_id: s for s in series}
        event_tables: dict[str, dict[str, Any]] = {}
        series_tables: dict[str, dict[str, Any]] = {}
        for market in kalshi:
            event = events_by_id.get(market.event_id)
            series_id = (event.series_id if event is not None else "") or market.series_id
            if not series_id:
                series_id = market.event_id.split("-", 1)[0]
            if series_id not in series_tables:
                info = series_by_id.get(series_id)
                series_tables[series_id] = {
                    "ticker": series_id,
                    "title": info.title if info else "",
                    "fee_type": info.fee_type if info else "quadratic",
                    "fee_multiplier": str(info.fee_multiplier) if info else "1",
                }
            if market.event_id not in event_tables:
                event_tables[market.event_id] = {
                    "event_ticker": market.event_id,
                    "series_ticker": series_id,
                    "title": event.title if event is not None else "",
                    # a market read from a saved events file keeps its event's group
                    "mutually_exclusive": (event.group if event is not None else market.group) is not None,
                }
        tree["kalshi"] = {
            "series": [series_tables[k] for k in sorted(series_tables)],
            "events": [event_tables[k] for k in sorted(event_tables)],
            "markets": [_kalshi_market(m) for m in kalshi],
        }
    poly = sorted((m for m in markets if m.venue is Venue.POLYMARKET), key=lambda m: m.market_id)
    if poly:
        tree["polymarket"] = {"markets": [_polymarket_market(m) for m in poly]}
    return tree


def link_table(link: CuratedLink) -> dict[str, Any]:
    """A link as the links file (and a scenario's [[links]]) writes it."""
    table: dict[str, Any] = {"kalshi": link.kalshi_ticker, "polymarket": link.polymarket_market_id}
    if link.polymarket_condition_id:
        table["polymarket_condition"] = link.polymarket_condition_id
    table.update(
        {
            "orientation": link.orientation.value,
            "settlement_risk": link.settlement_risk.value,
            "kalshi_rules_sha256": link.kalshi_rules_sha256,
            "polymarket_rules_sha256": link.polymarket_rules_sha256,
            "kalshi_close_time": format_close_time(link.kalshi_close_time_ms),
            "polymarket_close_time": format_close_time(link.polymarket_close_time_ms),
            "approved_by": link.approved_by,
            "approved_at": link.approved_at,
        }
    )
    if link.note:
        table["note"] = link.note
    return table


def exhaustive_series_table(entry: ExhaustiveSeries) -> dict[str, Any]:
    return {
        "ticker": entry.ticker,
        "reason": entry.reason,
        "reviewed_by": entry.reviewed_by,
        "reviewed_at": entry.reviewed_at,
    }


# -- the recorder ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Ladder:
    venue: Venue
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    snapshot: bool = False

    def book(self) -> dict[str, Any]:
        return {"bids": _ladder(self.bids, descending=True), "asks": _ladder(self.asks, descending=False)}


class FeedRecorder:
    """Records one source's feeds (module docstring). `await start()` connects, reads metadata,
    subscribes and waits (at most `settle_s` real seconds) for every book's snapshot, then the
    clock starts; `await stop()` closes the clients; `scenario(name)` is the scenario tree.

    clock: monotonic ns (the events' times); wall_ms: the virtual wall clock at the start."""

    def __init__(
        self,
        source: VenueSource,
        *,
        clock: Callable[[], int] = time.monotonic_ns,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        settle_s: float = 10.0,
        seed: int = 1,
    ) -> None:
        self.source = source
        self.clock = clock
        self.wall_ms = wall_ms
        self.settle_s = settle_s
        self.seed = seed
        self.clients: dict[Venue, VenueClient] = {}
        self.ladders: dict[str, _Ladder] = {}
        self.events: list[dict[str, Any]] = []
        self.initial: dict[str, dict[str, Any]] = {}
        self.skipped = {"tick_size_changes": 0, "trades": 0}
        self.markets: list[MarketInfo] = []
        self.links: tuple[CuratedLink, ...] = ()
        self.exhaustive: tuple[ExhaustiveSeries, ...] = ()
        self._metadata: dict[str, Any] = {}
        self._t0_ns: int | None = None
        self._start_wall_ms = 0
        self._stop_ns: int | None = None
        self._all_snapshots = asyncio.Event()

    # -- the sink -------------------------------------------------------------------------------

    def __call__(self, event: Any) -> None:
        if isinstance(event, BookSnapshot):
            ladder = self.ladders.get(event.book_id)
            if ladder is None:
                return
            ladder.bids, ladder.asks = {}, {}
            for target, sent in ((ladder.bids, event.bids), (ladder.asks, event.asks)):
                for price, size in sent:
                    if size > 0:
                        target[price] = target.get(price, 0) + size
            first = not ladder.snapshot
            ladder.snapshot = True
            if self._recording():
                self._event({"kind": "book", "market": event.book_id, **ladder.book()}, ladder.venue)
            elif first and all(x.snapshot for x in self.ladders.values()):
                self._all_snapshots.set()
        elif isinstance(event, BookChange):
            ladder = self.ladders.get(event.book_id)
            if ladder is None:
                return
            levels = ladder.bids if event.side is BookSide.BID else ladder.asks
            size = event.size_micro + (levels.get(event.price_micro_usd, 0) if event.mode is ChangeMode.ADD else 0)
            if size > 0:
                levels[event.price_micro_usd] = size
            else:
                levels.pop(event.price_micro_usd, None)
                size = 0
            if self._recording():
                self._event(
                    {
                        "kind": "level",
                        "market": event.book_id,
                        "side": "bid" if event.side is BookSide.BID else "ask",
                        "price": _text(event.price_micro_usd),
                        "size": _text(size),
                    },
                    ladder.venue,
                )
        elif isinstance(event, TickSizeChange) and self._recording():
            self.skipped["tick_size_changes"] += 1
        elif isinstance(event, Trade) and self._recording():
            self.skipped["trades"] += 1

    def _recording(self) -> bool:
        return self._t0_ns is not None and self._stop_ns is None

    def _event(self, body: dict[str, Any], venue: Venue) -> None:
        assert self._t0_ns is not None
        at_ms = max(0, (self.clock() - self._t0_ns) // 1_000_000)
        self.events.append({"at_ms": at_ms, "kind": body.pop("kind"), "venue": venue.value, **body})

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.clients = build_clients(self.source.endpoints, self, seed=self.seed, clock=self.clock)
        for client in self.clients.values():
            await client.start()
        markets: list[MarketInfo] = []
        events: list[EventInfo] = []
        series: list[SeriesInfo] = []
        for client in self.clients.values():
            markets.extend(await client.markets())
            events_call = getattr(client, "events", None)
            if events_call is not None:
                events.extend(await events_call())
            if isinstance(client, KalshiClient):
                series.extend(await client.series())
        every = markets + [m for e in events for m in e.markets]
        self.links = tuple(self.source.links(every))
        graph_config = self.source.graph_config
        self.exhaustive = tuple(graph_config.exhaustive_kalshi_series)
        graph = build_graph(markets, events, self.links, config=graph_config)
        wanted = {(m.venue, m.market_id) for m in graph.markets.values()}
        event_ids = {(m.venue, m.event_id) for m in graph.markets.values() if m.event_id}
        by_key: dict[tuple[Venue, str], MarketInfo] = {}
        for market in every:
            key = (market.venue, market.market_id)
            if key in wanted or (market.venue is Venue.KALSHI and (market.venue, market.event_id) in event_ids):
                by_key.setdefault(key, market)
        self.markets = [by_key[k] for k in sorted(by_key, key=lambda k: (k[0].value, k[1]))]
        if not self.markets:
            raise ConfigError("record: the venues' graph holds no market (nothing to record)")
        self._metadata = metadata_spec(self.markets, events, series)
        for market in self.markets:
            for book_id in market.book_ids():
                self.ladders[book_id] = _Ladder(market.venue)
        for venue, client in self.clients.items():
            subscribed = [m for m in self.markets if m.venue is venue]
            if subscribed:
                await client.subscribe(subscribed)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_snapshots.wait(), self.settle_s)
        for book_id, ladder in self.ladders.items():
            if ladder.snapshot:
                self.initial[book_id] = ladder.book()
        self._start_wall_ms = self.wall_ms()
        self._t0_ns = self.clock()

    async def stop(self) -> None:
        if self._stop_ns is None and self._t0_ns is not None:
            self._stop_ns = self.clock()
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                await client.close()

    async def record(self, duration_s: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        await self.start()
        try:
            await sleep(duration_s)
        finally:
            await self.stop()

    # -- the scenario ---------------------------------------------------------------------------

    def scenario(self, name: str, *, provenance: str | None = None) -> dict[str, Any]:
        """The scenario tree: [scenario], [venues] (validated as a SimSpec), links, series, events."""
        if self._t0_ns is None:
            raise ConfigError("record: nothing recorded (not started)")
        end_ns = self._stop_ns if self._stop_ns is not None else self.clock()
        elapsed_ms = (end_ns - self._t0_ns) // 1_000_000
        venues: dict[str, Any] = {}
        for venue, venue_tree in self._metadata.items():
            venues[venue] = {key: [dict(item) for item in value] for key, value in venue_tree.items()}
        for item in venues.get("kalshi", {}).get("markets", []):
            book = self.initial.get(item["ticker"])
            if book is not None and (book["bids"] or book["asks"]):
                item["book"] = book
        for item in venues.get("polymarket", {}).get("markets", []):
            for token, key in ((item["yes_token"], "yes_book"), (item["no_token"], "no_book")):
                book = self.initial.get(token)
                if book is not None and (book["bids"] or book["asks"]):
                    item[key] = book
        try:
            SimSpec.from_dict(venues)
        except ConfigError as exc:
            raise ConfigError(f"record: the recorded metadata does not validate as a simulator spec: {exc}") from None
        names = [self.clients[v].__class__.__name__ for v in self.clients]
        skipped = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in self.skipped.items() if n)
        header: dict[str, Any] = {
            "name": name,
            "description": (
                f"Recorded by `arb record` from the {self.source.name} venues ({', '.join(names)}): "
                f"{len(self.markets)} markets, {len(self.events)} book events in {elapsed_ms / 1000:g} s"
                + (f"; not replayed: {skipped}" if skipped else "")
            ),
            "provenance": provenance
            or f"recorded from the {self.source.name} venues at {format_close_time(self._start_wall_ms)}",
            "duration_s": elapsed_ms // 1000 + 1,  # every event at 0 <= at_ms < duration
            "start_wall_ms": self._start_wall_ms,
            "seed": self.seed,
        }
        tree: dict[str, Any] = {"scenario": header, "venues": venues}
        if self.links:
            tree["links"] = [link_table(link) for link in self.links]
        if self.exhaustive:
            tree["exhaustive_series"] = [exhaustive_series_table(e) for e in self.exhaustive]
        tree["events"] = list(self.events)
        return tree


def scenario_toml(tree: Mapping[str, Any]) -> str:
    document = tomlkit.document()
    document.add(tomlkit.comment("Recorded by `arb record` (docs/replay.md); event times are ms since the start."))
    for key, value in tree.items():
        document.add(key, value)
    return tomlkit.dumps(document)


def run_record(args: Any) -> int:
    """`arb record --duration S --out SCENARIO.toml [--config FILE] [--simulated]`."""
    from arb.config import load_config, resolve_credentials
    from arb.daemon.venues import ConfiguredVenues
    from arb.files import write_text_atomically

    if not math.isfinite(args.duration) or args.duration <= 0:
        raise ConfigError(f"--duration must be a positive number of seconds, was {args.duration!r}")
    config = load_config(args.config)
    source: VenueSource
    if args.simulated or config.run.venues == "simulated":
        from arb.daemon.simulated import SimulatedSource

        source = SimulatedSource(config.run.scenario)
    else:
        source = ConfiguredVenues(config, resolve_credentials(config))

    async def main() -> dict[str, Any]:
        async with source:
            recorder = FeedRecorder(source)
            await recorder.record(args.duration)
            return recorder.scenario(args.name or Path(args.out).stem)

    tree = asyncio.run(main())
    write_text_atomically(args.out, scenario_toml(tree), what="the scenario", create_parents=True)
    print(
        f"{args.out}: {len(tree['venues'].get('kalshi', {}).get('markets', []))} Kalshi and "
        f"{len(tree['venues'].get('polymarket', {}).get('markets', []))} Polymarket markets, "
        f"{len(tree['events'])} book events"
    )
    return 0
