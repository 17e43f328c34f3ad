"""From whole lots per level slot to a verified plan, in exact arithmetic.

1. Orders: one BUY order per instrument sweeping its slots best first. Where the set holds the
   complement of what it buys on the same venue and contract, the first units of that sweep are
   the sale of the held contract at the bid (1 - ask): that part becomes a SELL leg, but only when
   the sale is a valid order on its own (at least the venue minimum, an amount the venue can sign);
   otherwise those units stay a purchase, which hedges just as well.
2. Every order's quantity is one the venue can sign at its limit price (`representable_step`); a
   leg that is not is trimmed from its worst level (the rounding never proposes one; this is the
   guard). Legs below the venue's minimum order are left out.
3. Exact money: per-order fees priced at the worst way the venue's rounding can split the fills
   (`FeeRule.worst_order_fee`) plus the proven cap on what that rounding can take back when lots
   fill at better prices than planned (`FeeRule.better_price_slack`; an IOC/FOK order may fill
   anywhere at or better than its limit), cash flows, holdings after the trade. A set whose fee
   rule admits no such cap fails ("fee") and is never planned.
4. Verify: the plan's worst value over Z (one exact separation call), its loss over the
   settlement-risk outcomes Z_err, the minimum profit, profit per $1 of payout and return on capital,
   the set's cost cap and position limits. A plan that fails any of these is never returned; the
   check says which limit failed and by how much, so the allocator can repair it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from solvers.formulation import Formulation, SetModel
from solvers.plan import Action, DroppedSet, Leg, LevelTake, Outcome, SetPlan
from solvers.problem import Instrument, Side, representable_step

__all__ = ["PlanCheck", "build_plan", "dropped_from_check", "plan_from_check", "verify_lots"]

_ZERO = Decimal(0)
_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class PlanCheck:
    """Exact evaluation of a candidate plan (whether or not it passes).

    profit: the objective's guaranteed profit (riskless: what the new trades pay at worst plus their
        cash flow; worst_case: the rise of the portfolio's worst-case value)
    payout: the new trades' guaranteed payoff (riskless) or the rise of the holdings' (worst_case)
    failure_kind: None, or which limit failed: "empty", "grid", "settlement", "cap", "profit",
        "position", "fee" (a fee rule whose fills at better prices cannot be bounded); `excess` is
        by how much (dollars; for "profit" the shortfall)
    """

    legs: tuple[Leg, ...]
    profit: Decimal
    payout: Decimal
    worst_outcome: tuple[int, ...]
    settlement_worst: Decimal | None
    capital_by_venue: Mapping[str, Decimal]
    failure: str | None
    failure_kind: str | None = None
    excess: Decimal = _ZERO

    @property
    def capital(self) -> Decimal:
        return sum(self.capital_by_venue.values(), _ZERO)


def _takes(form: Formulation, instrument: Instrument, cols: np.ndarray, lots: Mapping[int, int]) -> list[LevelTake]:
    """Takes per price, best first (slots sharing a price are one level to the venue)."""
    by_price: dict[Decimal, Decimal] = {}
    for col in cols.tolist():
        count = min(lots.get(col, 0), int(form._lots[col]))  # never more than the level holds
        if count > 0:
            price = form.price_at(col)
            if price is None:  # an empty slot holds no lots; never reached
                continue
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


def _total(takes: list[LevelTake]) -> Decimal:
    return sum((t.quantity for t in takes), _ZERO)


def _on_lots(quantity: Decimal, lot: Decimal) -> Decimal:
    return (quantity / lot).to_integral_value(rounding=ROUND_FLOOR) * lot


def _signable_buy(instrument: Instrument, takes: list[LevelTake]) -> list[LevelTake]:
    """The largest prefix of a best-first sweep whose quantity the venue can sign at its limit price
    (the worst price taken); trimming may lower the limit price, so repeat until stable."""
    while takes:
        quantity = _total(takes)
        step = representable_step(takes[-1].price, instrument.lot_size, instrument.buy_amount_increment_usd)
        signable = _on_lots(quantity, step)
        if signable == quantity:
            return takes
        takes, _ = _split(takes, signable)
    return takes


def _leg(instrument: Instrument, action: Action, takes: list[LevelTake]) -> Leg:
    """The order with its exact money: the fee is the most the venue can charge when every lot fills
    at its level's price or better, in any split (`FeeRule.worst_fee_at_or_better`)."""
    quantity = _total(takes)
    fee = instrument.fee.worst_fee_at_or_better(
        ((t.price, t.quantity) for t in takes),
        buy=action is Action.BUY,
        lot=instrument.lot_size,
        tick=instrument.tick_size,
    )
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


def _sale(held: Instrument, holding: Decimal, bought: list[LevelTake]) -> Decimal:
    """How much of `held` to sell into the complement's sweep `bought`: as much as is held and
    bought, on the lot grid, signable at its limit (the lowest bid sold into), and at least the
    venue minimum; else zero (those units stay a purchase)."""
    quantity = _on_lots(min(holding, _total(bought)), held.lot_size)
    while quantity > 0:
        sold, _ = _split(bought, quantity)
        limit = _ONE - sold[-1].price  # the last (dearest) complement ask is the lowest bid sold into
        signable = _on_lots(quantity, representable_step(limit, held.lot_size, held.sell_amount_increment_usd))
        if signable == quantity:
            break
        quantity = signable
    return quantity if quantity > 0 and quantity >= held.min_order_size else _ZERO


def _legs(form: Formulation, sm: SetModel, lots: Mapping[int, int]) -> list[Leg]:
    buys = {i.id: _takes(form, i, sm.slot_cols[i.id], lots) for i in sm.instruments}
    sells: dict[str, list[LevelTake]] = {}
    for netting in sm.netting:
        held, other = netting.held, netting.other
        holding = form.held(held.id)
        if not holding or not buys[other.id]:
            continue
        quantity = _sale(held, holding, buys[other.id])
        if quantity <= 0:
            continue
        sold, rest = _split(buys[other.id], quantity)
        buys[other.id] = rest
        sells[held.id] = [LevelTake(_ONE - t.price, t.quantity) for t in sold]  # best (highest) bid first
    legs = []
    for instrument in sm.instruments:
        sale = sells.get(instrument.id)
        if sale:
            legs.append(_leg(instrument, Action.SELL, sale))
        takes = _signable_buy(instrument, buys[instrument.id])
        if takes and _total(takes) >= instrument.min_order_size:
            legs.append(_leg(instrument, Action.BUY, takes))
    return legs


def verify_lots(form: Formulation, sm: SetModel, lots: Mapping[int, int]) -> PlanCheck:
    """Exact evaluation of the plan that buys `lots` (level column -> lots) in set `sm`."""
    for instrument in sm.instruments:
        unbounded = instrument.fee.better_price_bound_failure()
        if unbounded is not None:
            why = f"fee of {instrument.id}: {unbounded}"
            return PlanCheck((), _ZERO, _ZERO, (), None, {}, why, "fee")
    legs = _legs(form, sm, lots)
    limits = sm.candidate.limits
    base = form.payoff_holdings()
    holdings = {i.id: base.get(i.id, _ZERO) for i in sm.instruments}
    capital: dict[str, Decimal] = {}
    bought: dict[tuple[str, Side], Decimal] = {}
    cash = _ZERO
    for leg in legs:
        signed = leg.quantity if leg.action is Action.BUY else -leg.quantity
        holdings[leg.instrument_id] += signed
        cash += leg.cash_flow_usd
        capital[leg.venue] = capital.get(leg.venue, _ZERO) - leg.cash_flow_usd
        key = (leg.contract, leg.side)
        bought[key] = bought.get(key, _ZERO) + signed
    true, false = form.inventory_payoffs(sm, holdings)
    worst, z = form.worst_case(sm, true, false)
    payout = worst - sm.baseline
    profit = payout + cash
    settlement = None
    if sm.system_err is not None:
        worst_err, _ = form.worst_case(sm, true, false, err=True)
        settlement = worst_err + cash - sm.baseline_err
    committed = sum(capital.values(), _ZERO)
    off_grid = [
        (leg.instrument_id, take.price)
        for leg in legs
        for take in leg.levels
        if take.price % form.instrument_by_id[leg.instrument_id].tick_size
    ]
    failure, kind, excess = None, None, _ZERO
    if not legs:
        failure, kind = "no order survives rounding", "empty"
    elif off_grid:
        failure, kind = f"price {off_grid[0][1]} of {off_grid[0][0]} is not on its tick grid", "grid"
    elif settlement is not None and settlement < -limits.settlement_loss_limit_usd:
        failure, kind = f"settlement-risk loss {-settlement} exceeds {limits.settlement_loss_limit_usd}", "settlement"
        excess = -settlement - limits.settlement_loss_limit_usd
    elif limits.max_cost_usd is not None and committed > limits.max_cost_usd:
        failure, kind = f"capital {committed} above the set's cap {limits.max_cost_usd}", "cap"
        excess = committed - limits.max_cost_usd
    else:
        position = _position_failure(form, sm, bought)
        if position is not None:
            failure, kind = position, "position"
        else:
            need = limits.min_profit_usd
            why = f"exact guaranteed profit {profit} below the minimum {limits.min_profit_usd}"
            if form.objective == "riskless" and limits.min_profit_per_payout_usd * payout > need:
                need = limits.min_profit_per_payout_usd * payout
                why = f"profit {profit} below {limits.min_profit_per_payout_usd} per $1 of payout {payout}"
            if limits.min_return_on_capital * committed > need:
                need = limits.min_return_on_capital * committed
                why = f"profit {profit} below a return of {limits.min_return_on_capital} on capital {committed}"
            if profit < need:
                failure, kind, excess = why, "profit", need - profit
    return PlanCheck(tuple(legs), profit, payout, z, settlement, capital, failure, kind, excess)


def _position_failure(form: Formulation, sm: SetModel, bought: Mapping[tuple[str, Side], Decimal]) -> str | None:
    for contract in sm.candidate.contracts:
        if contract.max_position is None:
            continue
        for (cid, side), quantity in bought.items():
            if cid != contract.id or quantity <= 0:
                continue
            held = sum((form.held(i.id) for i in sm.instruments if i.contract == cid and i.side is side), _ZERO)
            if quantity > max(contract.max_position - held, _ZERO):
                return f"position limit {contract.max_position} on {cid} {side.value} exceeded"
    return None


def plan_from_check(
    sm: SetModel,
    check: PlanCheck,
    *,
    objective: str,
    lp_profit: float,
    mu: np.ndarray | None = None,
    binding: list[tuple[np.ndarray, float]] | None = None,
) -> SetPlan:
    """The verified plan of a passing check, with the LP's duals as prices."""
    if check.failure is not None:
        raise ValueError(f"set {sm.id}: a failing check has no plan ({check.failure})")
    contracts = [c.id for c in sm.candidate.contracts]
    literals = [sm.system.literal[c] for c in contracts]
    var = np.array([v for v, _ in literals], dtype=np.int64)
    parity = np.array([p for _, p in literals], dtype=np.int64)

    def assignment(z: np.ndarray | tuple[int, ...]) -> dict[str, int]:
        values = (np.asarray(z, dtype=np.int64)[var] ^ parity).tolist()
        return dict(zip(contracts, values))

    worst = assignment(check.worst_outcome)
    coherent = {}
    if mu is not None:
        for c, (v, p) in zip(contracts, literals):
            coherent[c] = float(1.0 - mu[v] if p else mu[v])
    outcomes = tuple(Outcome(assignment(z), weight) for z, weight in (binding or []))
    return SetPlan(
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
        objective=objective,
        guaranteed_payout_usd=check.payout,
    )


def dropped_from_check(sm: SetModel, check: PlanCheck, lp_profit: float) -> DroppedSet:
    return DroppedSet(sm.id, check.failure or "", lp_profit, check.profit)


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
    check = verify_lots(form, sm, lots_by_col)
    if check.failure is not None:
        return None, dropped_from_check(sm, check, lp_profit)
    return plan_from_check(sm, check, objective=form.objective, lp_profit=lp_profit, mu=mu, binding=binding), None
