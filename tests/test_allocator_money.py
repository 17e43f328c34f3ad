"""Money defects, one named test per defect (numbered as in the hardening list: 1.3-1.5, 2.1-2.10), each checked against
an independent brute force or hand-computed value, and each failing on the allocator before its fix.

Plans are replayed with tests.support.replay_plan, which re-derives fees from the venues' rules and
the guaranteed profit over semantically enumerated outcomes, sharing no code with the allocator.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from decimal import Decimal

import numpy as np
import pytest

from solvers import (
    ZERO_FEE,
    AllocationProblem,
    Allocator,
    AllocatorConfig,
    CandidateSet,
    Capital,
    Contract,
    DataError,
    Equivalent,
    ExactlyOne,
    Instrument,
    Level,
    Relation,
    SetLimits,
    Side,
    kalshi_fee,
    polymarket_fee,
)
from solvers.planning import PlanCheck
from solvers.problem import representable_step
from tests.support import random_problem, reference_order_fee, replay_plan

D = Decimal
CENT = D("0.01")


def _kalshi(iid: str, contract: str, side: Side, *levels: tuple[str, int], fee=None) -> Instrument:
    return Instrument(iid, "kalshi", contract, side, tuple(Level(D(p), D(s)) for p, s in levels), fee or kalshi_fee())


def _poly(
    iid: str, contract: str, side: Side, *levels: tuple[str, str], rate: str = "0.04", minimum: int = 5
) -> Instrument:
    return Instrument(
        iid,
        "polymarket",
        contract,
        side,
        tuple(Level(D(p), D(s)) for p, s in levels),
        polymarket_fee(rate=D(rate)),
        lot_size=CENT,
        min_order_size=D(minimum),
        buy_amount_increment_usd=CENT,
        sell_amount_increment_usd=D("0.0001"),
    )


def _cash(kalshi: str | int = 10_000, polymarket: str | int = 10_000) -> Capital:
    return Capital({"kalshi": D(kalshi), "polymarket": D(polymarket)})


def _profits(result) -> dict[str, Decimal]:
    return {p.set_id: p.guaranteed_profit_usd for p in result.plans}


def _replayed(problem: AllocationProblem, result, objective: str = "riskless") -> None:
    for plan in result.plans:
        assert replay_plan(problem, plan, objective) == plan.guaranteed_profit_usd


# -- 1.3 signed amounts equal planned amounts ------------------------------------------------------------------
@pytest.mark.parametrize("tick", [D("0.01"), D("0.001")])
def test_1_3_representable_step_matches_brute_force_on_every_grid_price(tick: Decimal) -> None:
    for k in range(1, int(1 / tick)):
        price = tick * k
        step = representable_step(price, CENT, CENT)
        brute = next(q for q in (CENT * n for n in itertools.count(1)) if (q * price) % CENT == 0)
        assert step == brute, price


@pytest.mark.parametrize("cents", range(2, 96))
def test_1_3_every_polymarket_fok_buy_is_signable_at_its_limit_on_every_grid_price(cents: int) -> None:
    """A FOK/FAK buy signs quantity x limit price in whole cents; the allocator must only plan such
    quantities (10.37 shares at $0.53 is not one: 5.4961). A pair of Polymarket legs with an edge at
    every price, on fractional book sizes: nothing else forces whole shares."""
    price = D(cents) / 100
    yes_price = D("0.97") - price
    candidate = CandidateSet(
        "pair",
        (Contract("A"), Contract("B")),
        (
            _poly("a-yes", "A", Side.YES, (str(yes_price), "500"), rate="0", minimum=0),
            _poly("b-no", "B", Side.NO, (str(price), "10.37"), (str(price + CENT), "7.41"), rate="0", minimum=0),
        ),
        (Equivalent("A", "B"),),
    )
    problem = AllocationProblem((candidate,), _cash())
    result = Allocator(problem).solve()
    _replayed(problem, result)
    (plan,) = result.plans
    for leg in plan.legs:
        assert (leg.quantity * leg.limit_price) % CENT == 0, leg
        assert leg.quantity % CENT == 0
    assert plan.guaranteed_payout_usd >= 17  # of the 17.78 the books offer, at most a share is given up


# -- 1.4 fee rounding the venue can add -------------------------------------------------------------------------
def test_1_4_a_kalshi_level_filled_in_pieces_is_priced_at_the_worst_split() -> None:
    """57 contracts at $0.45: one fill rounds 0.987525 -> 0.9876 -> $0.99, but 57 one-contract fills
    of 0.017325 -> 0.0174 each add to 0.9918 -> $1.00: the plan must be priced at $1.00."""
    fee = kalshi_fee()
    assert fee.order_fee([(D("0.45"), D(57))]) == D("0.99")
    assert fee.worst_order_fee([(D("0.45"), D(57))], D(1)) == D("1.00")
    candidate = CandidateSet(
        "pair",
        (Contract("K"), Contract("K2")),
        (_kalshi("k-yes", "K", Side.YES, ("0.45", 57)), _kalshi("k2-no", "K2", Side.NO, ("0.45", 57), fee=ZERO_FEE)),
        (Equivalent("K", "K2"),),
    )
    problem = AllocationProblem((candidate,), _cash())
    (plan,) = Allocator(problem).solve().plans
    leg = next(leg for leg in plan.legs if leg.instrument_id == "k-yes")
    assert leg.quantity == 57 and leg.fee_usd == D("1.00")
    assert plan.guaranteed_profit_usd == 57 * D("0.10") - D("1.00")


def test_1_4_no_split_of_the_fills_costs_more_than_the_worst_split() -> None:
    """The venue charges per fill (each rounded up to $0.0001) and per order (up to the cent): over
    random splits of random levels into whole-lot fills, never more than `worst_order_fee`."""
    rng = random.Random(4)
    fee = kalshi_fee(multiplier=D("0.5"))
    for _ in range(300):
        levels = [(D(rng.randint(1, 99)) / 100, D(rng.randint(1, 40))) for _ in range(rng.randint(1, 3))]
        worst = fee.worst_order_fee(levels, D(1))
        pieces = []
        for price, quantity in levels:
            left = int(quantity)
            while left:
                piece = rng.randint(1, left)
                pieces.append((price, D(piece)))
                left -= piece
        assert fee.order_fee(pieces) <= worst
        assert reference_order_fee(_kalshi("x", "X", Side.YES, ("0.5", 1), fee=fee), levels) == worst


# -- 1.5 inventory semantics: riskless by default, worst_case by name ------------------------------------------------
def _held_yes_with_a_bid() -> AllocationProblem:
    # holding 100 YES; the NO asks at 0.30 are YES bids at 0.70 (one pool on the venue)
    candidate = CandidateSet(
        "held",
        (Contract("K"),),
        (_kalshi("k-yes", "K", Side.YES, ("0.80", 100)), _kalshi("k-no", "K", Side.NO, ("0.30", 100))),
    )
    return AllocationProblem((candidate,), _cash(), {"k-yes": D(100)})


def test_1_5_selling_a_held_position_at_the_bid_is_not_riskless_profit() -> None:
    problem = _held_yes_with_a_bid()
    result = Allocator(problem).solve()
    assert result.plans == () and result.objective == "riskless"  # -$31.47 against holding if YES wins
    assert result.lp_profit_usd <= 1e-9


def test_1_5_worst_case_objective_raises_the_portfolio_floor_by_selling() -> None:
    problem = _held_yes_with_a_bid()
    allocator = Allocator(problem, config=AllocatorConfig(objective="worst_case"))
    (plan,) = allocator.solve().plans
    assert plan.objective == "worst_case"
    # 100 YES sold at the 0.70 bid (the NO pool at 0.30), fee 0.07 x 100 x 0.21: the floor rises by $68.53
    assert plan.guaranteed_profit_usd == D("68.53")
    assert [(leg.action.value, leg.instrument_id, leg.quantity) for leg in plan.legs] == [("sell", "k-yes", D(100))]
    _replayed(problem, allocator.solve(), "worst_case")
    allocator.set_objective("riskless")  # the same model, switched in place
    assert allocator.solve().plans == ()


def test_1_5_limits_in_trader_units_profit_per_payout_and_return_on_capital() -> None:
    def pair(limits: SetLimits) -> AllocationProblem:  # YES 0.40 + NO 0.57 = 0.97: $0.03 per $1 of payout
        candidate = CandidateSet(
            "pair",
            (Contract("K"), Contract("K2")),
            (
                _kalshi("y", "K", Side.YES, ("0.40", 100), fee=ZERO_FEE),
                _kalshi("n", "K2", Side.NO, ("0.57", 100), fee=ZERO_FEE),
            ),
            (Equivalent("K", "K2"),),
            limits,
        )
        return AllocationProblem((candidate,), _cash())

    (plan,) = Allocator(pair(SetLimits(min_profit_per_payout_usd=D("0.03")))).solve().plans
    assert plan.guaranteed_payout_usd == 100 and plan.guaranteed_profit_usd == D(3)
    assert plan.return_on_capital == D(3) / D(97)
    assert Allocator(pair(SetLimits(min_profit_per_payout_usd=D("0.031")))).solve().plans == ()
    assert len(Allocator(pair(SetLimits(min_return_on_capital=D("0.0309")))).solve().plans) == 1
    assert Allocator(pair(SetLimits(min_return_on_capital=D("0.031")))).solve().plans == ()


# -- 2.x money left on the table ---------------------------------------------------------------------------------
def test_2_6_the_same_inputs_give_the_same_plan_warm_or_fresh() -> None:
    """A warm allocator that reached the current books through other states plans exactly what a fresh
    one built on the current problem plans (the LP's optimum is made unique by the tie-break). The
    MIP fallback gets a limit no loaded test machine reaches: a wall-clock limit that expires keeps
    whatever the MIP had found by then, which depends on the machine."""
    config = AllocatorConfig(mip_time_limit_ms=60_000)
    differ = compared = 0
    for seed in range(60):
        rng = random.Random(seed)
        problem = random_problem(seed, sets=2)
        warm = Allocator(problem, config=config)
        warm.solve()
        for candidate in problem.sets:  # visit other books, then come back
            instrument = rng.choice(candidate.instruments)
            warm.set_book(instrument.id, [Level(D(rng.randint(5, 60)) / 100, D(30))])
            warm.solve()
            warm.set_book(instrument.id, list(instrument.asks))
        fresh = Allocator(problem, config=config)
        for left, right in zip((warm.solve(), fresh.solve()), (fresh.solve(), warm.solve())):
            compared += 1
            if [(p.set_id, p.legs) for p in left.plans] != [(p.set_id, p.legs) for p in right.plans]:
                differ += 1
    assert compared == 120 and differ == 0


def test_2_9_rounding_takes_the_last_basket_from_the_next_level() -> None:
    """LP optimum 43.79 shares (the Polymarket level's size); the exact lot-integral optimum buys 44 Kalshi
    contracts and covers the last 0.21 from the next Polymarket level at break-even."""
    candidate = CandidateSet(
        "pair",
        (Contract("K"), Contract("P")),
        (
            _kalshi("k-yes", "K", Side.YES, ("0.40", 100), fee=ZERO_FEE),
            _poly("p-no", "P", Side.NO, ("0.55", "43.79"), ("0.60", "100"), rate="0"),
        ),
        (Equivalent("K", "P"),),
    )
    problem = AllocationProblem((candidate,), _cash())
    result = Allocator(problem).solve()
    (plan,) = result.plans
    quantities = {leg.instrument_id: leg.quantity for leg in plan.legs}
    assert quantities == {"k-yes": D(44), "p-no": D(44)}
    assert plan.guaranteed_profit_usd == D("43.79") * D("0.05")  # the 0.21 from the next level breaks even
    _replayed(problem, result)


def test_2_8_yes_and_no_of_one_market_must_agree_on_grid_lot_and_minimum() -> None:
    with pytest.raises(DataError, match="must agree on tick_size"):
        CandidateSet(
            "bad",
            (Contract("P"),),
            (
                _poly("p-yes", "P", Side.YES, ("0.50", "10")),
                Instrument(
                    "p-no",
                    "polymarket",
                    "P",
                    Side.NO,
                    (Level(D("0.495"), D(10)),),
                    ZERO_FEE,
                    lot_size=CENT,
                    tick_size=D("0.001"),
                    min_order_size=D(5),
                    buy_amount_increment_usd=CENT,
                    sell_amount_increment_usd=D("0.0001"),
                ),
            ),
        )


def test_2_1_a_settlement_risk_link_beside_a_riskless_group_keeps_the_set() -> None:
    """An exactly-one group (YES at 0.25/0.30/0.30) and a risky cross-venue link with a $0 loss limit:
    the LP fills the limit with the group's surplus, and the orders' cent rounding used to push the
    rounded plan $0.0169 over it, dropping the whole set. The plan now keeps the group and stays
    within the limit (a per-contract margin is added to the set's spend where exact fees overshoot)."""
    k = kalshi_fee()
    candidate = CandidateSet(
        "s",
        (Contract("K1"), Contract("K2"), Contract("K3"), Contract("P1")),
        (
            _kalshi("k1y", "K1", Side.YES, ("0.25", 10), fee=k),
            _kalshi("k2y", "K2", Side.YES, ("0.30", 10), fee=k),
            _kalshi("k3y", "K3", Side.YES, ("0.30", 10), fee=k),
            _kalshi("k1n", "K1", Side.NO, ("0.62", 100), fee=k),
            _poly("p1y", "P1", Side.YES, ("0.22", "100"), minimum=0),
        ),
        (ExactlyOne(("K1", "K2", "K3")), Equivalent("K1", "P1", settlement_risk=True)),
        SetLimits(settlement_loss_limit_usd=D(0)),
    )
    problem = AllocationProblem((candidate,), _cash())
    result = Allocator(problem).solve()
    (plan,) = result.plans
    assert plan.settlement_worst_usd is not None and plan.settlement_worst_usd >= 0
    group_only = D(10) - 10 * (D("0.25") + D("0.30") + D("0.30")) - D("0.14") - D("0.15") - D("0.15")  # 1.06
    assert plan.guaranteed_profit_usd >= group_only
    _replayed(problem, result)


def _poly_pair(set_id: str, yes: str, no: str, size: str, minimum: int = 5) -> CandidateSet:
    a, b = f"{set_id}-a", f"{set_id}-b"
    return CandidateSet(
        set_id,
        (Contract(a), Contract(b)),
        (
            _poly(f"{set_id}-y", a, Side.YES, (yes, size), rate="0", minimum=minimum),
            _poly(f"{set_id}-n", b, Side.NO, (no, size), rate="0", minimum=minimum),
        ),
        (Equivalent(a, b),),
    )


def test_2_2_minimum_orders_are_searched_per_order_not_all_or_nothing() -> None:
    """Two sets share $5 of Polymarket cash; each basket costs $0.96 and pays $1 and each order must be
    at least 5 shares: the LP splits the cash (2.6 baskets each, under the minimum); one set alone at
    the minimum earns $0.20."""
    problem = AllocationProblem(
        (_poly_pair("x", "0.48", "0.48", "50"), _poly_pair("y", "0.48", "0.48", "50")),
        Capital({"polymarket": D(5)}),
    )
    result = Allocator(problem).solve()
    assert sum(_profits(result).values()) >= D("0.20")
    _replayed(problem, result)


def test_2_3_a_netted_sale_under_the_minimum_keeps_its_hedge() -> None:
    """Holding 3 Polymarket YES (minimum order 5) must not cost the plan its hedge: the 3 units that
    would have been a (too small) sale stay a purchase of NO, so the plan earns what it earns with no
    inventory at all."""

    def problem(inventory: dict[str, Decimal]) -> AllocationProblem:
        candidate = CandidateSet(
            "pair",
            (Contract("K"), Contract("P")),
            (
                _kalshi("k-yes", "K", Side.YES, ("0.40", 100)),
                _poly("p-yes", "P", Side.YES, ("0.62", "100")),
                _poly("p-no", "P", Side.NO, ("0.50", "100")),
            ),
            (Equivalent("K", "P"),),
        )
        return AllocationProblem((candidate,), _cash(), inventory)

    without = Allocator(problem({})).solve()
    held = problem({"p-yes": D(3)})
    with_held = Allocator(held).solve()
    assert with_held.guaranteed_profit_usd == without.guaranteed_profit_usd > D(5)
    _replayed(held, with_held)


def test_2_4_held_positions_and_listed_instruments_reserve_no_cash() -> None:
    """With $5 of Kalshi cash, four unrelated held positions and their instruments used to reserve
    $4.13 (a dollar per held position, $0.021 per instrument), leaving no plan; the pair earns the
    same as with nothing held."""
    pair = CandidateSet(
        "pair",
        (Contract("K"), Contract("K2")),
        (_kalshi("y", "K", Side.YES, ("0.40", 100)), _kalshi("n", "K2", Side.NO, ("0.50", 100))),
        (Equivalent("K", "K2"),),
    )
    others = tuple(
        CandidateSet(f"o{k}", (Contract(f"O{k}"),), (_kalshi(f"o{k}", f"O{k}", Side.YES, ("0.50", 10)),))
        for k in range(4)
    )
    cash = Capital({"kalshi": D(5)})
    alone = Allocator(AllocationProblem((pair, *others), cash)).solve()
    held = AllocationProblem((pair, *others), cash, {f"o{k}": D(1) for k in range(4)})
    result = Allocator(held).solve()
    assert _profits(result) == _profits(alone) and _profits(alone)["pair"] >= D("0.25")
    _replayed(held, result)


def test_2_5_a_set_dropped_for_its_minimum_profit_hands_its_capital_to_the_rest() -> None:
    """Set A's riskless plan (buy Kalshi YES, sell the held Polymarket YES at its bid) earns $0.02 under
    its $0.13 minimum; its sale was funding set B's Polymarket purchases. A is dropped and the LP
    re-solved without it, so B trades within the $1 of cash that is really there."""

    def poly(iid: str, contract: str, side: Side, price: str, size: str) -> Instrument:
        return Instrument(
            iid,
            "polymarket",
            contract,
            side,
            (Level(D(price), D(size)),),
            ZERO_FEE,
            lot_size=CENT,
            buy_amount_increment_usd=CENT,
            sell_amount_increment_usd=D("0.0001"),
        )

    a = CandidateSet(
        "A",
        (Contract("KA"), Contract("PA")),
        (
            _kalshi("ka", "KA", Side.YES, ("0.53", 10)),
            poly("pa-yes", "PA", Side.YES, "0.60", "10"),
            poly("pa-no", "PA", Side.NO, "0.45", "10"),
        ),
        (Equivalent("KA", "PA"),),
        SetLimits(min_profit_usd=D("0.13")),
    )
    b = CandidateSet(
        "B",
        (Contract("PB"), Contract("PC")),
        (poly("pb", "PB", Side.YES, "0.40", "20"), poly("pc", "PC", Side.NO, "0.50", "20")),
        (Equivalent("PB", "PC"),),
    )
    problem = AllocationProblem((a, b), Capital({"kalshi": D(100), "polymarket": D(1)}), {"pa-yes": D(10)})
    result = Allocator(problem).solve()
    assert [(d.set_id, d.exact_profit_usd) for d in result.dropped] == [("A", D("0.02"))]
    assert _profits(result) == {"B": D("0.10")}  # one $0.90 basket fits the $1
    _replayed(problem, result)


def test_2_7_a_smaller_size_clears_the_minimum_that_fee_rounding_broke() -> None:
    """37 contracts of Kalshi YES 0.55 + Polymarket NO 0.42 (rate 0.05): the LP's $0.0155 rounds to $0.00934
    exactly (the Kalshi order's fee rounds up to the cent), under the $0.01 minimum; 35 contracts earn
    $0.0137."""
    candidate = CandidateSet(
        "pair",
        (Contract("K"), Contract("P")),
        (_kalshi("k-yes", "K", Side.YES, ("0.55", 37)), _poly("p-no", "P", Side.NO, ("0.42", "37"), rate="0.05")),
        (Equivalent("K", "P"),),
    )
    problem = AllocationProblem((candidate,), _cash())
    result = Allocator(problem, config=AllocatorConfig(mip_fallback=False)).solve()
    (plan,) = result.plans
    assert plan.guaranteed_profit_usd == D("0.01370") and {leg.quantity for leg in plan.legs} == {D(35)}
    _replayed(problem, result)


class _SteppingClock:
    """Seconds that advance by `step` at every read after the first `still` reads."""

    def __init__(self, step: float, still: int = 1) -> None:
        self.now, self.step, self.still, self.reads = 0.0, step, still, 0

    def __call__(self) -> float:
        self.reads += 1
        if self.reads > self.still:
            self.now += self.step
        return self.now


def _group_across_venues(size: int = 3) -> AllocationProblem:
    names = [f"o{k}" for k in range(size)]
    instruments = []
    for name in names:
        instruments.append(_kalshi(f"k-{name}", f"{name}@k", Side.YES, ("0.30", 37)))
        instruments.append(_poly(f"p-{name}", f"{name}@p", Side.YES, ("0.29", "41.37"), minimum=5))
    relations: list[Relation] = [
        ExactlyOne(tuple(f"{n}@k" for n in names)),
        *(Equivalent(f"{n}@k", f"{n}@p") for n in names),
    ]
    contracts = tuple(Contract(f"{n}@{v}") for n in names for v in ("k", "p"))
    return AllocationProblem((CandidateSet("g", contracts, tuple(instruments), tuple(relations)),), _cash(30, 30))


def test_2_10_the_mip_limit_counts_the_model_build() -> None:
    """A build that used up the budget leaves no time for HiGHS: the fallback returns without solving."""
    from solvers.mip import lot_integral_mip

    allocator = Allocator(_group_across_venues(), config=AllocatorConfig(mip_fallback=False))
    center = allocator.solve_lp().solution.x
    clock = _SteppingClock(step=1.0)  # every read after the start is a second later
    form = allocator.form
    assert lot_integral_mip(form, {0}, np.zeros(form.lp.num_col), center, time_limit_ms=50, clock=clock) is None
    assert clock.reads == 2  # the start, and the check after the build: HiGHS never ran


def test_2_10_the_mip_is_interrupted_at_its_deadline() -> None:
    """HiGHS is stopped from its own loops once the (injected) clock passes the deadline; without the
    deadline the same MIP runs to its optimum."""
    from solvers.mip import lot_integral_mip

    allocator = Allocator(_group_across_venues(12), config=AllocatorConfig(mip_fallback=False))
    center = allocator.solve_lp().solution.x
    form = allocator.form
    finished = lot_integral_mip(form, {0}, np.zeros(form.lp.num_col), center, time_limit_ms=60_000)
    assert finished is not None
    clock = _SteppingClock(step=0.03, still=2)  # start and build take no time, then 30 ms per read
    lot_integral_mip(form, {0}, np.zeros(form.lp.num_col), center, time_limit_ms=50, clock=clock)
    assert 3 <= clock.reads <= 6  # interrupted at the first callback reads after the deadline


def test_2_10_mip_counts_stay_whole_and_near_the_lp_on_deep_fine_legs() -> None:
    """Deep 0.01-share legs (thousands of rounding lots) get integer counts in a window around the LP
    quantity: every target total is whole lots and within the window, and the semi-continuous
    minimum still allows zero (the window is what bounds HiGHS's root work on wide integer ranges)."""
    from solvers.mip import _WINDOW_LOTS, lot_integral_mip

    names = [f"o{k}" for k in range(3)]
    instruments = []
    for name in names:
        instruments.append(_kalshi(f"k-{name}", f"{name}@k", Side.YES, ("0.30", 900)))
        # no amount increment: 0.01-share rounding lots, over a hundred thousand of them deep
        poly = _poly(f"p-{name}", f"{name}@p", Side.YES, ("0.25", "731.37"), ("0.50", "402.11"))
        instruments.append(dataclasses.replace(poly, buy_amount_increment_usd=None))
    relations: list[Relation] = [
        ExactlyOne(tuple(f"{n}@k" for n in names)),
        *(Equivalent(f"{n}@k", f"{n}@p") for n in names),
    ]
    contracts = tuple(Contract(f"{n}@{v}") for n in names for v in ("k", "p"))
    problem = AllocationProblem(
        (CandidateSet("g", contracts, tuple(instruments), tuple(relations)),), _cash("123.45", "97.13")
    )
    allocator = Allocator(problem, config=AllocatorConfig(mip_fallback=False))
    center = allocator.solve_lp().solution.x
    form = allocator.form
    mip_x = lot_integral_mip(form, {0}, np.zeros(form.lp.num_col), center, time_limit_ms=60_000)
    assert mip_x is not None
    matrix = form.slot_matrix
    totals = np.maximum(mip_x[matrix], 0.0).sum(axis=1)
    middles = np.maximum(center[matrix], 0.0).sum(axis=1)
    checked = 0
    for row, instrument in enumerate(form.row_instruments):
        lot = float(form.rounding_lot[row])
        units = totals[row] / lot
        assert abs(units - round(units)) < 1e-6, instrument.id
        assert abs(units - middles[row] / lot) <= _WINDOW_LOTS + 1, instrument.id
        checked += 1
    assert checked == len(instruments)
    on_polymarket = np.array([i.venue == "polymarket" for i in form.row_instruments])
    depth_lots = form._lots[matrix].astype(float) * form._lot_f[matrix] / form.rounding_lot[:, None]
    assert (depth_lots.sum(axis=1)[on_polymarket] > 5_000).all()  # ranges far wider than the window


def test_2_10_a_solve_that_used_its_budget_skips_the_mip() -> None:
    """The budget counts from the start of solve(): LP and rounding that used it up leave the MIP out
    (the control shows the MIP would have improved this problem)."""
    problem = random_problem(15, sets=2)  # the LP's minimum-order split: only the MIP finds $0.24 more
    config = AllocatorConfig(mip_time_limit_ms=60_000)
    assert Allocator(problem, config=config).solve().used_mip
    spent = Allocator(problem, config=config, clock=_SteppingClock(step=120.0)).solve()  # 2 minutes per read
    assert not spent.used_mip


def test_2_10_the_mip_leaves_time_for_checking_its_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """The MIP's plan is checked exactly after it, so the MIP gets the budget minus the time this
    solve's own checks of the same sets took: with checks that take 20 ms of (injected) time and
    15 ms left before them, the MIP is skipped rather than run into an overrun; with 200 ms left
    after them, it runs (the MIP's own limit is wall time, so a tighter margin fails under load)."""
    from solvers.mip import lot_integral_mip as real_mip
    from solvers.planning import verify_lots as real_verify

    problem = random_problem(15, sets=2)  # the LP's minimum-order split: only the MIP finds $0.24 more
    now = [0.0]
    checks = [0]

    def slow_verify(*args: object, **kwargs: object) -> PlanCheck:
        now[0] += 0.020  # every exact check takes 20 ms of the injected clock; nothing else does
        checks[0] += 1
        return real_verify(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("solvers.allocator.verify_lots", slow_verify)

    def clock() -> float:
        return now[0]

    at_mip: list[int] = []

    def counted_mip(*args: object, **kwargs: object) -> np.ndarray | None:
        at_mip.append(checks[0])
        return real_mip(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("solvers.allocator.lot_integral_mip", counted_mip)

    def solve(limit_ms: float) -> bool:
        now[0], checks[0] = 0.0, 0
        at_mip.clear()
        return Allocator(problem, config=AllocatorConfig(mip_time_limit_ms=limit_ms), clock=clock).solve().used_mip

    assert solve(60_000)
    assert len(at_mip) == 1
    spent_ms = at_mip[0] * 20  # the checks before the MIP, one of them of the MIP's target set
    assert not solve(spent_ms + 15)  # 15 ms left: not enough to check a plan that takes 20 ms
    assert not at_mip  # skipped before building the model
    assert solve(spent_ms + 220)  # 220 ms left: 200 ms for the MIP after reserving the check
