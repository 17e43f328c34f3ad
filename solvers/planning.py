"""From quantities per level slot to a verified plan, in exact arithmetic.

1. Round: floor each slot to whole lots (never more than the slot holds).
2. Orders: one BUY order per instrument sweeping its slots best first. Where the set holds the
   complement of what it buys on the same venue and contract, the first units of that sweep are
   the sale of the held contract at the bid (1 - ask): that part becomes a SELL leg.
3. Legs below the venue's minimum order size are dropped.
4. Exact money: per-order fees with the venue's rounding, cash flows, holdings after the trade.
5. Verify: the plan's worst value over Z (one exact MIP separation call), its loss over the
   settlement-risk outcomes Z_err, the minimum profits, the set's cost cap and position limits.
   A plan that fails any of these is never returned; the caller gets a `DroppedSet` with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from solvers.formulation import Formulation, SetModel
from solvers.plan import Action, DroppedSet, Leg, LevelTake, Outcome, SetPlan
from solvers.problem import Instrument

__all__ = ["PlanCheck", "build_plan", "floor_lots"]

_ZERO = Decimal(0)
_ONE = Decimal(1)


def floor_lots(form: Formulation, sm: SetModel, x: np.ndarray) -> np.ndarray:
    """Whole lots per level column of the set (aligned with `sm.level_cols`)."""
    cols = sm.level_cols
    values = np.maximum(x[cols], 0.0)
    lots = np.floor(values + 1e-7 * np.maximum(1.0, values))
    return np.minimum(lots, form._lots[cols]).astype(np.int64)


@dataclass(frozen=True, slots=True)
class PlanCheck:
    """Exact evaluation of a candidate plan (whether or not it passes)."""

    legs: tuple[Leg, ...]
    profit: Decimal
    worst_outcome: tuple[int, ...]
    settlement_worst: Decimal | None
    capital_by_venue: Mapping[str, Decimal]
    failure: str | None


def _takes(form: Formulation, instrument: Instrument, cols: np.ndarray, lots: Mapping[int, int]) -> list[LevelTake]:
    """Takes per price, best first (slots sharing a price are one level to the venue)."""
    by_price: dict[Decimal, Decimal] = {}
    for col in cols.tolist():
        count = min(lots.get(col, 0), int(form._lots[col]))  # never more than the level holds
        if count > 0:
            price = form.price_at(col)
            assert price is not None, "a slot with lots must have a price"
            by_price[price] = by_price.get(price, _ZERO) + instrument.lot_size * count
    return [LevelTake(price, quantity) for price, quantity in sorted(by_price.items())]


def _split(takes: list[LevelTake], quantity: Decimal) -> tuple[list[LevelTake], list[LevelTake]]:
    """The first `quantity` units of a best-first sweep, and the rest."""
    first, rest = [], []
    left = quantity
    for take in takes:
        if left <= 0:
            rest.append(take)
        elif take.quantity <= left:
            first.append(take)
            left -= take.quantity
        else:
            first.append(LevelTake(take.price, left))
            rest.append(LevelTake(take.price, take.quantity - left))
            left = _ZERO
    return first, rest


def _leg(instrument: Instrument, action: Action, takes: list[LevelTake]) -> Leg:
    quantity = sum((t.quantity for t in takes), _ZERO)
    fee = instrument.fee.order_fee((t.price, t.quantity) for t in takes)
    notional = sum((t.price * t.quantity for t in takes), _ZERO)
    if action is Action.BUY:
        cash, limit = -(notional + fee), max(t.price for t in takes)
    else:
        cash, limit = notional - fee, min(t.price for t in takes)
    return Leg(
        instrument_id=instrument.id,
        venue=instrument.venue,
        contract=instrument.contract,
        side=instrument.side,
        action=action,
        quantity=quantity,
        limit_price=limit,
        levels=tuple(takes),
        fee_usd=fee,
        cash_flow_usd=cash,
    )


def _legs(form: Formulation, sm: SetModel, lots: Mapping[int, int]) -> list[Leg]:
    buys = {i.id: _takes(form, i, sm.slot_cols[i.id], lots) for i in sm.instruments}
    sells: dict[str, list[LevelTake]] = {}
    for netting in sm.netting:
        held, other = netting.held, netting.other
        holding = form.held(held.id)
        bought = sum((t.quantity for t in buys[other.id]), _ZERO)
        if not holding or not bought or held.lot_size != other.lot_size:
            continue
        quantity = (min(holding, bought) / held.lot_size).to_integral_value(rounding=ROUND_FLOOR) * held.lot_size
        if quantity <= 0:
            continue
        sold, rest = _split(buys[other.id], quantity)
        buys[other.id] = rest
        sells[held.id] = [LevelTake(_ONE - t.price, t.quantity) for t in sold]
    legs = []
    for instrument in sm.instruments:
        for action, takes in ((Action.SELL, sells.get(instrument.id)), (Action.BUY, buys[instrument.id])):
            if not takes:
                continue
            leg = _leg(instrument, action, takes)
            if leg.quantity >= instrument.min_order_size:
                legs.append(leg)
    return legs


def evaluate(form: Formulation, sm: SetModel, lots: Mapping[int, int]) -> PlanCheck:
    """Exact evaluation of the plan that buys `lots` (level column -> lots) in set `sm`."""
    legs = _legs(form, sm, lots)
    limits = sm.candidate.limits
    holdings = {i.id: form.held(i.id) for i in sm.instruments}
    capital: dict[str, Decimal] = {}
    bought: dict[tuple[str, object], Decimal] = {}
    cash = _ZERO
    for leg in legs:
        signed = leg.quantity if leg.action is Action.BUY else -leg.quantity
        holdings[leg.instrument_id] += signed
        cash += leg.cash_flow_usd
        capital[leg.venue] = capital.get(leg.venue, _ZERO) - leg.cash_flow_usd
        if leg.action is Action.BUY:
            key = (leg.contract, leg.side)
            bought[key] = bought.get(key, _ZERO) + leg.quantity
    true, false = form.inventory_payoffs(sm, holdings)
    worst, z = form.worst_case(sm, true, false)
    profit = worst + cash - sm.baseline
    settlement = None
    if sm.system_err is not None:
        worst_err, _ = form.worst_case(sm, true, false, err=True)
        settlement = worst_err + cash - sm.baseline_err
    failure = None
    contracts_bought = sum(bought.values(), _ZERO)
    off_grid = [
        (leg.instrument_id, take.price)
        for leg in legs
        for take in leg.levels
        if take.price % form.instrument_by_id[leg.instrument_id].tick_size
    ]
    if not legs:
        failure = "no order survives rounding"
    elif off_grid:
        failure = f"price {off_grid[0][1]} of {off_grid[0][0]} is not on its tick grid"
    elif profit < limits.min_profit_usd:
        failure = f"exact guaranteed profit {profit} below the minimum {limits.min_profit_usd}"
    elif profit < limits.min_profit_per_contract_usd * contracts_bought:
        failure = (
            f"profit {profit} below {limits.min_profit_per_contract_usd} per contract on {contracts_bought} contracts"
        )
    elif settlement is not None and settlement < -limits.settlement_loss_limit_usd:
        failure = f"settlement-risk loss {-settlement} exceeds {limits.settlement_loss_limit_usd}"
    elif limits.max_cost_usd is not None and sum(capital.values(), _ZERO) > limits.max_cost_usd:
        failure = f"capital {sum(capital.values(), _ZERO)} above the set's cap {limits.max_cost_usd}"
    else:
        for contract in sm.candidate.contracts:
            if contract.max_position is None:
                continue
            for (cid, side), quantity in bought.items():
                if cid != contract.id:
                    continue
                held = sum((form.held(i.id) for i in sm.instruments if i.contract == cid and i.side is side), _ZERO)
                if quantity > max(contract.max_position - held, _ZERO):
                    failure = f"position limit {contract.max_position} on {cid} {side.value} exceeded"
    return PlanCheck(tuple(legs), profit, z, settlement, capital, failure)


def build_plan(
    form: Formulation,
    sm: SetModel,
    lots: np.ndarray,
    *,
    lp_profit: float,
    mu: np.ndarray | None = None,
    binding: list[tuple[np.ndarray, float]] | None = None,
) -> tuple[SetPlan | None, DroppedSet | None]:
    """Verify the plan buying `lots` (aligned with sm.level_cols). Returns (plan, None) when it
    passes, (None, DroppedSet) when it fails, (None, None) when there is nothing to trade."""
    lots_by_col = {int(c): int(n) for c, n in zip(sm.level_cols.tolist(), lots.tolist()) if n > 0}
    if not lots_by_col:
        if lp_profit >= float(sm.candidate.limits.min_profit_usd):
            return None, DroppedSet(sm.id, "no whole lot survives rounding", lp_profit, None)
        return None, None
    check = evaluate(form, sm, lots_by_col)
    if check.failure is not None:
        return None, DroppedSet(sm.id, check.failure, lp_profit, check.profit)
    contracts = [c.id for c in sm.candidate.contracts]
    worst = {c: sm.system.contract_value(check.worst_outcome, c) for c in contracts}
    coherent = {}
    if mu is not None:
        for c in contracts:
            var, parity = sm.system.literal[c]
            coherent[c] = float(1.0 - mu[var] if parity else mu[var])
    outcomes = tuple(
        Outcome({c: sm.system.contract_value(tuple(int(v) for v in z), c) for c in contracts}, weight)
        for z, weight in (binding or [])
    )
    plan = SetPlan(
        set_id=sm.id,
        legs=check.legs,
        guaranteed_profit_usd=check.profit,
        lp_profit_usd=lp_profit,
        worst_outcome=worst,
        settlement_worst_usd=check.settlement_worst,
        capital_by_venue_usd=dict(check.capital_by_venue),
        binding_outcomes=outcomes,
        coherent_prices=coherent,
        method=sm.method,
    )
    return plan, None
