"""A scenario's timed events applied to the simulated venues and the daemon under replay.

`play_events` waits (on the loop's clock: virtual under replay) until each event's time and applies
it with `apply_event`: book changes, trades and settlements through the simulators' own Python
APIs (`set_book`, `set_level`, `submit`/`take`, `settle`), faults through their `FaultInjector`,
and what concerns the daemon (a crash, the ledger's writes failing, the kill switch) through the
`DaemonControl` the runner gives. An event the venue refuses (a trade on a settled market) is
recorded as not applied, with the venue's reason; the run goes on and the runner's
`events_applied` check fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from arb.domain import Action, BookSide, Side, TimeInForce, Venue
from arb.errors import ArbError
from arb.replay.scenario import (
    BookEvent,
    ClearPartialFillsEvent,
    CrashEvent,
    DisconnectEvent,
    FreezeEvent,
    HealEvent,
    HttpErrorsEvent,
    KillEvent,
    LatencyEvent,
    LedgerFaultEvent,
    LedgerHealEvent,
    LevelEvent,
    LoseAnswersEvent,
    PartialFillsEvent,
    PartitionEvent,
    ReleaseEvent,
    ScenarioEvent,
    SettleEvent,
    ThawEvent,
    TradeEvent,
)
from arb.venues.sim.faults import AnswerFault, FaultInjector
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.polymarket import PolymarketSimulator

__all__ = ["OTHER_TRADER", "AppliedEvent", "DaemonControl", "Simulators", "apply_event", "play_events"]

OTHER_TRADER = "replay-trader"  # the owner of `trade` events' orders (no account: it only takes)
_SCALE = 1_000_000


class Simulators(Protocol):
    """The venues under replay (`arb.replay.venues.ReplayVenues`): None when not in the scenario."""

    @property
    def kalshi(self) -> KalshiSimulator | None: ...

    @property
    def polymarket(self) -> PolymarketSimulator | None: ...


class DaemonControl(Protocol):
    """What events do to the daemon itself (the runner implements it)."""

    @property
    def kill_switch_file(self) -> Path: ...

    async def crash(self) -> None:
        """Abandon the running daemon without its shutdown path; start a new one on the same ledger
        and venues (its recovery runs)."""
        ...

    def fail_ledger_writes(self, failing: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class AppliedEvent:
    """One event as played: when (virtual ms since start), what, and the refusal if it failed."""

    at_ms: int
    kind: str
    venue: str
    market: str
    applied: bool
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "at_ms": self.at_ms,
            "kind": self.kind,
            "venue": self.venue,
            "market": self.market,
            "applied": self.applied,
            "error": self.error,
        }


class EventRefused(ArbError):
    """The event cannot be applied to these venues (its venue is absent, a mode not offered)."""


def _sim(venues: Simulators, venue: Venue) -> KalshiSimulator | PolymarketSimulator:
    sim = venues.kalshi if venue is Venue.KALSHI else venues.polymarket
    if sim is None:
        raise EventRefused(f"{venue.value} is not running")
    return sim


def _faults(venues: Simulators, venue: Venue) -> FaultInjector:
    faults = _sim(venues, venue).faults
    if faults is None:
        raise EventRefused(f"{venue.value} runs without fault injection")
    return faults


def _kalshi(venues: Simulators) -> KalshiSimulator:
    sim = venues.kalshi
    if sim is None:
        raise EventRefused("kalshi is not running")
    return sim


def _polymarket(venues: Simulators) -> PolymarketSimulator:
    sim = venues.polymarket
    if sim is None:
        raise EventRefused("polymarket is not running")
    return sim


async def _apply(event: ScenarioEvent, venues: Simulators, control: DaemonControl) -> None:
    match event:
        case BookEvent(venue=Venue.KALSHI):
            _kalshi(venues).set_book(event.market, event.bids, event.asks)
        case BookEvent():
            _polymarket(venues).set_book(event.market, event.bids, event.asks)
        case LevelEvent():
            side = BookSide.BID if event.side == "bid" else BookSide.ASK
            if event.venue is Venue.KALSHI:
                _kalshi(venues).set_level(event.market, side, event.price_micro, event.size_micro)
            else:
                _polymarket(venues).set_level(event.market, side, event.price_micro, event.size_micro)
        case TradeEvent():
            buy = event.action == "buy"
            if event.venue is Venue.KALSHI:
                _kalshi(venues).submit(
                    OTHER_TRADER,
                    event.market,
                    Side.YES,
                    Action.BUY if buy else Action.SELL,
                    event.price_micro,
                    event.size_micro,
                    TimeInForce.IOC,
                )
            else:
                _polymarket(venues).take(
                    event.market,
                    BookSide.BID if buy else BookSide.ASK,
                    event.price_micro,
                    event.size_micro,
                    TimeInForce.IOC,
                    owner=OTHER_TRADER,
                )
        case PartialFillsEvent():
            # exact: the injector takes the ratio back to micro units with round()
            _faults(venues, event.venue).partial_fills_on(event.market, event.ratio_micro / _SCALE)
        case ClearPartialFillsEvent():
            _faults(venues, event.venue).clear_partial_fills(event.market)
        case DisconnectEvent(venue=Venue.KALSHI):
            await _kalshi(venues).drop_all()  # its one socket carries every stream
        case DisconnectEvent():
            await _polymarket(venues).drop_all(event.stream)
        case FreezeEvent():
            _faults(venues, event.venue).freeze(event.stream)
        case ThawEvent():
            _faults(venues, event.venue).thaw(event.stream)
        case HttpErrorsEvent():
            _faults(venues, event.venue).fail_next_http(event.status, event.count)
        case LoseAnswersEvent():
            mode = AnswerFault.ANSWER_500 if event.mode == "500" else AnswerFault.NO_ANSWER
            _faults(venues, event.venue).lose_next_answers(mode, event.count, event.path_prefix)
        case LatencyEvent():
            _faults(venues, event.venue).latency_s = event.seconds
        case PartitionEvent():
            _sim(venues, event.venue).partition()
        case HealEvent():
            _sim(venues, event.venue).heal()
        case SettleEvent(venue=Venue.KALSHI):
            _kalshi(venues).settle(event.market, event.result)
        case SettleEvent():
            _polymarket(venues).settle(event.market, event.result)
        case LedgerFaultEvent():
            control.fail_ledger_writes(True)
        case LedgerHealEvent():
            control.fail_ledger_writes(False)
        case CrashEvent():
            await control.crash()
        case KillEvent():
            path = control.kill_switch_file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("engaged by a replay kill event\n", encoding="utf-8")
        case ReleaseEvent():
            control.kill_switch_file.unlink(missing_ok=True)


async def apply_event(event: ScenarioEvent, venues: Simulators, control: DaemonControl) -> AppliedEvent:
    """Apply one event now; a refusal (the venue's, or an event these venues cannot take) is
    recorded, never raised."""
    venue = getattr(event, "venue", None)
    market = getattr(event, "market", None)
    record = (event.at_ms, event.kind, venue.value if venue is not None else "", market or "")
    try:
        await _apply(event, venues, control)
    except ArbError as exc:
        return AppliedEvent(*record, applied=False, error=f"{type(exc).__name__}: {exc}")
    return AppliedEvent(*record, applied=True)


async def play_events(
    events: Sequence[ScenarioEvent],
    venues: Simulators,
    control: DaemonControl,
    *,
    elapsed_ms: Callable[[], int],
    record: Callable[[AppliedEvent], None],
) -> None:
    """Each event at its time (`elapsed_ms()`: since the run's start, on the loop's clock), in
    order; `record` hears each as it is applied."""
    for event in events:
        wait_ms = event.at_ms - elapsed_ms()
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)
        record(await apply_event(event, venues, control))
