"""Shared stage for executor tests: loopback venues on a FakeTime, a ledger, the risk gate, and
plans written by hand (legs with exact prices), so each test states exactly what it sends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from arb.domain import Action, OrderRequest, OrderUpdate, Side, Venue
from arb.execution.executor import Executor, ExecutorConfig, RepairPlanning
from arb.execution.loopback import KALSHI_KEY_ID, LoopbackConfig, LoopbackVenues
from arb.ledger.store import Ledger
from arb.ledger.writer import LedgerWriter
from arb.risk.gates import BookGate, CircuitBreakers, Incidents, KillSwitch, LossHalts, RateBudget, RiskGate
from arb.risk.limits import RiskLimits
from arb.venues.chaos import FakeTime
from solvers.plan import Leg, SetPlan
from solvers.problem import Capital

RAW_LIMITS: dict[str, object] = {
    "cash_per_venue_usd": {"kalshi": "1000", "polymarket": "1000"},
    "max_contracts_per_contract": 500,
    "max_contracts_per_set": "800",
    "max_open_plans": 4,
    "notional_per_link_class_usd": {"none": "10000"},
    "daily_loss_halt_usd": "500",
    "drawdown_halt_usd": "800",
    "min_profit_usd": "0",
    "max_partial_fill_loss_usd": "70",
    "kelly_fraction": "0.25",
}


def gate(tmp_path: Path, clock_s: Callable[[], float], wall_s: Callable[[], float]) -> RiskGate:
    limits = RiskLimits.from_mapping(RAW_LIMITS)
    return RiskGate(
        limits=limits,
        kill_switch=KillSwitch(tmp_path / "KILL"),
        books=BookGate(limits.max_book_age_ms, clock_s),
        rate=RateBudget(1000.0, 1000, clock_s),
        breakers=CircuitBreakers(
            window_s=60.0,
            max_error_rate=1.0,
            min_calls=1000,
            max_consecutive_failures=1000,
            cooldown_s=1.0,
            monotonic_s=clock_s,
        ),
        incidents=Incidents(),
        halts=LossHalts(limits.daily_loss_halt_usd, limits.drawdown_halt_usd, wall_s),
    )


@dataclass
class Stage:
    venues: LoopbackVenues
    time: FakeTime
    ledger: Ledger
    executor: Executor
    events: list[Any]

    def leg(self, venue: Venue, index: int, side: Side, action: Action, quantity: str, limit: str) -> Leg:
        instrument = self.venues.instrument(venue, index, side)
        contract = instrument.rsplit(":", 1)[0]
        price, size = Decimal(limit), Decimal(quantity)
        flow = -price * size if action is Action.BUY else price * size
        return Leg(instrument, venue.value, contract, side, action, size, price, (), Decimal(0), flow)

    def plan(self, legs: Sequence[Leg], set_id: str | None = None) -> SetPlan:
        return SetPlan(
            set_id=set_id or self.venues.component().id,
            legs=tuple(legs),
            guaranteed_profit_usd=Decimal(0),
            lp_profit_usd=0.0,
            worst_outcome={},
            settlement_worst_usd=None,
            capital_by_venue_usd={},
            binding_outcomes=(),
            coherent_prices={},
            method="hand-written",
        )

    async def run(self, legs: Sequence[Leg]) -> Any:
        return await self.executor.execute(self.plan(legs), self.venues.component(), self.venues.books())


@asynccontextmanager
async def stage(
    tmp_path: Path,
    *,
    config: LoopbackConfig | None = None,
    executor_config: ExecutorConfig | None = None,
    repair: RepairPlanning | None = None,
    require_recovery: bool = False,
    offload_ledger: bool = False,
) -> AsyncIterator[Stage]:
    """Fresh simulated venues and a new ledger: nothing to recover, so by default the executor
    trades at once (`require_recovery=True`: it waits for `Executor.allow_trading`).
    `offload_ledger`: the executor writes through the daemon's `LedgerWriter` (worker threads)."""
    fake = FakeTime()
    ledger = Ledger(tmp_path / "ledger.sqlite", synchronous="NORMAL")
    events: list[Any] = []
    ids = iter(f"intent-{n}" for n in range(1, 1000))
    try:
        async with LoopbackVenues(config or LoopbackConfig(markets=3), fake) as venues:
            risk = gate(tmp_path, lambda: fake.clock() / 1e9, lambda: fake.wall_ms() / 1e3)
            executor = Executor(
                ledger,
                venues.clients,
                risk,
                repair=repair,
                capital=Capital({"kalshi": Decimal(1000), "polymarket": Decimal(1000)}),
                config=executor_config or ExecutorConfig(),
                clock=fake.clock,
                wall_ms=fake.wall_ms,
                sleep=fake.sleep,
                deadline=fake.deadline,
                intent_ids=lambda: next(ids),
                require_recovery=require_recovery,
                writer=LedgerWriter(ledger) if offload_ledger else None,
            )

            def sink(event: Any) -> None:
                events.append(event)
                executor.on_event(event)

            venues.sink = sink
            try:
                yield Stage(venues, fake, ledger, executor, events)
            finally:
                await executor.writes.aclose()
    finally:
        ledger.close()


def spy_sends(s: Stage) -> list[OrderRequest]:
    """Every order request the stage's clients are asked to place, in order (a spy on each client)."""
    sent: list[OrderRequest] = []
    for client in s.venues.clients.values():
        original = client.place_order

        async def spy(request: OrderRequest, original: Callable[..., object] = original) -> OrderUpdate:
            sent.append(request)
            return await original(request)  # type: ignore[misc]

        client.place_order = spy  # type: ignore[method-assign]
    return sent


def resting_at_venues(s: Stage) -> list[str]:
    """The executor account's open order ids as the simulators themselves hold them."""
    kalshi = [m.order.order_id for m in s.venues.kalshi_sim.orders_of(KALSHI_KEY_ID) if m.order.is_open]
    return kalshi + list(s.venues.polymarket_sim.accounts["exec-api-key"].resting)
