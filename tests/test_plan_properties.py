"""Every plan the allocator returns is riskless after rounding, exactly, in every feasible outcome."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solvers import (
    ZERO_FEE,
    AllocationProblem,
    Allocator,
    AllocatorConfig,
    CandidateSet,
    Capital,
    Contract,
    Equivalent,
    Instrument,
    Level,
    SetLimits,
    SetPlan,
    Side,
    kalshi_fee,
    polymarket_fee,
)
from solvers.problem import Method
from tests.support import KINDS, pays, random_problem, replay_plan, semantic_outcomes

D = Decimal
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    seed=st.integers(0, 10**9),
    kind=st.sampled_from(KINDS),
    sets=st.integers(1, 3),
    method=st.sampled_from(["auto", "cg", "compact"]),
)
def test_returned_plans_are_riskless_in_exact_arithmetic(seed: int, kind: str, sets: int, method: Method) -> None:
    _check_riskless(seed, kind, sets, method)


def test_the_riskless_checks_run_on_plans_of_every_kind() -> None:
    """The property above checks each returned plan; a draw without plans checks little. Counted on
    fixed draws of the same generator: plans of every kind and method, some with settlement risk."""
    plans: dict[tuple[str, str], int] = {}
    settlement = 0
    for seed in range(36):
        for kind in KINDS:
            method: Method = ("auto", "cg", "compact")[seed % 3]
            checked, risky = _check_riskless(seed, kind, 1 + seed % 3, method)
            plans[(kind, method)] = plans.get((kind, method), 0) + checked
            settlement += risky
    assert len(plans) == 12 and min(plans.values()) >= 3, plans
    assert settlement >= 20, settlement


def _check_riskless(seed: int, kind: str, sets: int, method: Method) -> tuple[int, int]:
    """Solve a random problem and check every returned plan; (plans checked, of which with
    settlement risk)."""
    problem = random_problem(seed, kind, sets=sets)
    result = Allocator(problem, config=AllocatorConfig(method=method)).solve()
    used: dict[str, Decimal] = {}
    settlement = 0
    for plan in result.plans:
        replayed = replay_plan(problem, plan)
        assert replayed == plan.guaranteed_profit_usd
        candidate = next(s for s in problem.sets if s.id == plan.set_id)
        assert replayed >= candidate.limits.min_profit_usd > 0
        capital = sum(plan.capital_by_venue_usd.values(), D(0))
        assert capital == -sum(leg.cash_flow_usd for leg in plan.legs)
        assert replayed >= candidate.limits.min_return_on_capital * capital
        payout = replayed - sum(leg.cash_flow_usd for leg in plan.legs)  # what the trades pay at worst
        assert plan.guaranteed_payout_usd == payout
        assert replayed >= candidate.limits.min_profit_per_payout_usd * payout
        if plan.settlement_worst_usd is not None:
            assert plan.settlement_worst_usd >= -candidate.limits.settlement_loss_limit_usd
            assert plan.settlement_worst_usd == _settlement_worst(candidate, plan)
            settlement += 1
        for venue, amount in plan.capital_by_venue_usd.items():
            used[venue] = used.get(venue, D(0)) + amount
    for venue, amount in used.items():
        assert amount <= problem.capital.cash_by_venue_usd[venue]
    if problem.capital.total_usd is not None:
        assert sum(used.values(), D(0)) <= problem.capital.total_usd
    assert result.guaranteed_profit_usd == sum((p.guaranteed_profit_usd for p in result.plans), D(0))
    return len(result.plans), settlement


def _settlement_worst(candidate: CandidateSet, plan: SetPlan) -> Decimal:
    """Worst gain of the trades over the outcomes where risky links may disagree (riskless: the
    trades alone, on top of holding), from the legs alone."""
    instruments = {i.id: i for i in candidate.instruments}
    delta = dict.fromkeys(instruments, D(0))
    cash = D(0)
    for leg in plan.legs:
        delta[leg.instrument_id] += leg.quantity if leg.action.value == "buy" else -leg.quantity
        cash += leg.cash_flow_usd
    outcomes = semantic_outcomes(candidate, with_risky=False)
    return min(sum((q * pays(instruments[i], o) for i, q in delta.items()), D(0)) for o in outcomes) + cash


def _pair(yes_price: Decimal, no_price: Decimal, *, fees: bool) -> AllocationProblem:
    kalshi = kalshi_fee() if fees else ZERO_FEE
    poly = polymarket_fee(rate=D("0.04")) if fees else ZERO_FEE
    instruments = (
        Instrument("k-yes", "kalshi", "K", Side.YES, (Level(yes_price, D(500)),), kalshi),
        Instrument("p-no", "polymarket", "P", Side.NO, (Level(no_price, D(500)),), poly, lot_size=D("0.01")),
    )
    candidate = CandidateSet("pair", (Contract("K"), Contract("P")), instruments, (Equivalent("K", "P"),))
    return AllocationProblem((candidate,), Capital({"kalshi": D(10_000), "polymarket": D(10_000)}))


@settings(max_examples=60, deadline=None)
@given(yes_cents=st.integers(10, 89))
def test_an_edge_eaten_by_fees_yields_no_plan(yes_cents: int) -> None:
    yes = D(yes_cents) / 100
    no = D(99) / 100 - yes  # one cent of gross edge per contract
    with_fees = Allocator(_pair(yes, no, fees=True)).solve()
    assert with_fees.plans == ()
    assert with_fees.lp_profit_usd <= 1e-9
    without_fees = Allocator(_pair(yes, no, fees=False)).solve()
    assert [p.guaranteed_profit_usd for p in without_fees.plans] == [D("5.00")]  # 500 x $0.01


def test_rounding_that_breaks_the_minimum_profit_drops_the_plan_with_a_reason() -> None:
    # one contract of 6 cents gross edge: one-lot fees 0.0168 + 0.0174 (0.017388 up to $0.0001) leave the
    # LP $0.0258 >= $0.025, but each order's fee rounds up to a cent, leaving exactly $0.02 < $0.025
    kalshi = kalshi_fee()
    instruments = (
        Instrument("k-yes", "kalshi", "K", Side.YES, (Level(D("0.40"), D(1)),), kalshi),
        Instrument("k2-no", "kalshi", "K2", Side.NO, (Level(D("0.54"), D(1)),), kalshi),
    )
    candidate = CandidateSet(
        "pair",
        (Contract("K"), Contract("K2")),
        instruments,
        (Equivalent("K", "K2"),),
        SetLimits(min_profit_usd=D("0.025")),
    )
    problem = AllocationProblem((candidate,), Capital({"kalshi": D(100)}))
    result = Allocator(problem, config=AllocatorConfig(mip_fallback=False)).solve()
    assert result.plans == ()
    (dropped,) = result.dropped
    assert abs(dropped.lp_profit_usd - 0.0258) < 1e-12
    assert dropped.exact_profit_usd == D("0.02")
    assert "below the minimum" in dropped.reason
