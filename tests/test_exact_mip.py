"""The benchmark's exact lot-integral optimum (benchmarks/exact_mip.py) against references that share
no code with it: every integer lot vector of tiny instances enumerated by brute force, the plain 2^n
outcome enumeration of tests/support, and the allocator's LP as its relaxation."""

from __future__ import annotations

import dataclasses
import itertools
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import pytest

from benchmarks.exact_mip import ExactResult, exact_fee_usd, linear_fee_rate, solve_exact
from benchmarks.outcomes_enum import OutcomeLimitError, feasible_outcomes, set_outcomes
from solvers import (
    AllocationProblem,
    Allocator,
    AtMostOne,
    CandidateSet,
    Capital,
    Contract,
    Equivalent,
    ExactlyOne,
    FeeRule,
    Implies,
    Instrument,
    Level,
    Relation,
    SetLimits,
    Side,
    kalshi_fee,
    polymarket_fee,
)
from tests.support import KINDS, random_problem, random_set, reference_order_fee, semantic_outcomes

D = Decimal


# -- outcome enumeration ----------------------------------------------------------------------------------------
def test_outcome_enumeration_equals_the_plain_brute_force() -> None:
    compared = 0
    for seed in range(200):
        candidate = random_set(random.Random(seed), KINDS[seed % len(KINDS)])
        ids = [c.id for c in candidate.contracts]
        for risky in (True, False):
            got = {tuple(row) for row in set_outcomes(candidate, with_risky=risky).tolist()}
            want = {tuple(o[c] for c in ids) for o in semantic_outcomes(candidate, with_risky=risky)}
            assert got == want
            compared += 1
    assert compared == 400


def test_outcome_enumeration_limit_and_empty_systems() -> None:
    ids = [f"c{k}" for k in range(12)]
    assert feasible_outcomes(ids, [AtMostOne(("c0", "c1"))], limit=4096).shape == (3 * 2**10, 12)
    with pytest.raises(OutcomeLimitError):
        feasible_outcomes(ids, [AtMostOne(("c0", "c1"))], limit=100)
    contradiction: list[Relation] = [ExactlyOne(("a", "b")), Implies("a", "b"), Implies("b", "a")]
    assert feasible_outcomes(["a", "b"], contradiction).shape == (0, 2)


# -- fees -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cents", range(1, 100))
def test_fees_follow_the_rule_data(cents: int) -> None:
    """The MIP's own fee arithmetic equals the fee rule's (checked here against solvers.fees)."""
    price = D(cents) / 100
    for fee in (kalshi_fee(), kalshi_fee(multiplier=D("0.5")), polymarket_fee(rate=D("0.25"), exponent=2)):
        instrument = Instrument("i", "v", "c", Side.YES, (Level(price, D(10)),), fee)
        assert float(linear_fee_rate(instrument, price)) == pytest.approx(fee.unit_rate(float(price)), abs=1e-15)
        fills = [(price, D(7)), (price, D(13))]
        assert exact_fee_usd(instrument, fills) == fee.order_fee(fills)


# -- brute force on tiny instances ----------------------------------------------------------------------------
_CENT, _NONE = D("0.01"), D(0)


@dataclass(frozen=True)
class _Limits:
    """SetLimits with every field the exact MIP reads, before and after the allocator's rename
    (min_profit_per_payout_usd and min_return_on_capital replace min_profit_per_contract_usd)."""

    max_cost_usd: Decimal | None = None
    min_profit_usd: Decimal = _CENT
    min_profit_per_payout_usd: Decimal = _NONE
    min_return_on_capital: Decimal = _NONE
    min_profit_per_contract_usd: Decimal = _NONE
    settlement_loss_limit_usd: Decimal = _NONE


def _level(rng: random.Random, cents: int, lot: Decimal) -> Level:
    return Level(D(cents) / 100, lot * rng.randint(1, 4))


def _tiny(seed: int) -> AllocationProblem:
    """One set of two instruments (1-2 levels each, at most 4 lots per level) over one of four
    structures, with random fees, lots, minimum orders, limits, capital and sometimes inventory."""
    rng = random.Random(seed)
    structure = ("pair", "link", "group", "implies")[seed % 4]
    venues = [rng.choice(("kalshi", "polymarket")) for _ in range(2)]
    if structure == "pair":
        venues[1] = venues[0]
    lot = {v: rng.choice((D(1), D("0.5"))) for v in venues}

    def fee(venue: str) -> FeeRule:
        return kalshi_fee() if venue == "kalshi" else polymarket_fee(rate=rng.choice((D(0), D("0.04"))))

    total_cents = rng.randint(86, 100)  # best asks of the two legs sum to about $1
    first = rng.randint(20, 70)
    best = (first, total_cents - first)
    if structure == "pair":
        contracts = [Contract("a", D(rng.randint(1, 6)) if rng.random() < 0.2 else None)]
        legs = [("a", Side.YES), ("a", Side.NO)]
        relations: tuple[Relation, ...] = ()
    elif structure == "link":
        contracts = [Contract("a"), Contract("b")]
        legs = [("a", Side.YES), ("b", Side.NO)]
        relations = (Equivalent("a", "b", settlement_risk=rng.random() < 0.5),)
    elif structure == "group":
        contracts = [Contract("a"), Contract("b")]
        legs = [("a", Side.YES), ("b", Side.YES)]
        relations = (ExactlyOne(("a", "b")),) if rng.random() < 0.7 else (AtMostOne(("a", "b")),)
    else:
        contracts = [Contract("a"), Contract("b")]
        legs = [("a", Side.NO), ("b", Side.YES)]  # a implies b: NO a + YES b pays at least 1
        relations = (Implies("a", "b"),)
    instruments = []
    for k, ((contract, side), venue) in enumerate(zip(legs, venues)):
        levels = [_level(rng, best[k], lot[venue])]
        if rng.random() < 0.4:
            levels.append(_level(rng, best[k] + rng.randint(1, 4), lot[venue]))
        instruments.append(
            Instrument(
                f"i{k}",
                venue,
                contract,
                side,
                tuple(levels),
                fee(venue),
                lot_size=lot[venue],
                min_order_size=rng.choice((D(0), D(0), lot[venue] * 2, lot[venue] * 3)),
            )
        )
    if structure == "pair":  # one pool: YES and NO of one market share fee, lot and minimum
        instruments[1] = dataclasses.replace(
            instruments[1], fee=instruments[0].fee, min_order_size=instruments[0].min_order_size
        )
    limits = _Limits(
        max_cost_usd=D(rng.randint(1, 5)) if rng.random() < 0.25 else None,
        min_profit_usd=rng.choice((D("0.01"), D("0.01"), D("0.05"), D("0.1"))),
        min_profit_per_payout_usd=D("0.02") if rng.random() < 0.2 else D(0),
        min_return_on_capital=D("0.03") if rng.random() < 0.2 else D(0),
        min_profit_per_contract_usd=D("0.01") if rng.random() < 0.15 else D(0),
        settlement_loss_limit_usd=D(rng.randint(0, 2)),
    )
    candidate = CandidateSet("s", tuple(contracts), tuple(instruments), relations, cast(SetLimits, limits))
    cash = {v: D(rng.randint(1, 6)) if rng.random() < 0.5 else D(100) for v in set(venues)}
    total = D(rng.randint(1, 6)) if rng.random() < 0.2 else None
    inventory = {}
    if structure == "pair" and rng.random() < 0.6:
        inventory["i0"] = lot[venues[0]] * rng.randint(1, 4)  # held YES: buying NO nets into $1
        cash[venues[0]] = D(rng.randint(0, 3))  # little cash, so netting is what funds the trade
    return AllocationProblem((candidate,), Capital(cash, total), inventory)


def _order_fee(instrument: Instrument, takes: list[tuple[Decimal, int]]) -> float:
    """A buy order's fee as the venue can charge it at worst (written here from the rules): Kalshi one
    lot per fill rounded up to $0.0001, the order up to its increment (tests.support); Polymarket the
    unrounded rate (fills round down, so that is an upper bound, as the MIP prices it)."""
    rule = instrument.fee
    if rule.fill_increment_usd is not None and rule.fill_rounding.name == "UP":
        return float(reference_order_fee(instrument, [(p, n * instrument.lot_size) for p, n in takes if n]))
    rate = rule.coefficient * rule.multiplier
    return float(
        sum(
            (
                (rate * (p * (1 - p)) ** rule.exponent + rule.flat_per_contract_usd) * n * instrument.lot_size
                for p, n in takes
            ),
            D(0),
        )
    )


def _brute_force(problem: AllocationProblem, *, netting: bool = True, minimums: bool = True) -> float:
    """Best exact-fee riskless profit over every integer lot vector (and every netted quantity);
    `netting` / `minimums` False: as if held inventory could not be sold / venues had no minimum."""
    (candidate,) = problem.sets
    limits = candidate.limits
    outcomes = semantic_outcomes(candidate)
    outcomes_err = semantic_outcomes(candidate, with_risky=False)
    risky = any(isinstance(r, Equivalent) and r.settlement_risk for r in candidate.relations)
    instruments = list(candidate.instruments)
    slots = [(i, level) for i in instruments for level in i.asks]
    ranges = [range(int(level.size // i.lot_size) + 1) for i, level in slots]
    held = {i.id: problem.inventory.get(i.id, D(0)) for i in instruments}
    best = 0.0
    for lots in itertools.product(*ranges):
        quantity = {i.id: 0.0 for i in instruments}
        spend = 0.0
        by_venue: dict[str, float] = {}
        takes: dict[str, list[tuple[Decimal, int]]] = {i.id: [] for i in instruments}
        for (instrument, level), n in zip(slots, lots):
            q = n * float(instrument.lot_size)
            cost = q * float(level.price)
            takes[instrument.id].append((level.price, n))
            quantity[instrument.id] += q
            spend += cost
            by_venue[instrument.venue] = by_venue.get(instrument.venue, 0.0) + cost
        for instrument in instruments:
            fee = _order_fee(instrument, takes[instrument.id])
            spend += fee
            by_venue[instrument.venue] = by_venue.get(instrument.venue, 0.0) + fee

        def pays(instrument: Instrument, outcome: dict[str, int]) -> int:
            return outcome[instrument.contract] if instrument.side is Side.YES else 1 - outcome[instrument.contract]

        t = min(sum(quantity[i.id] * pays(i, o) for i in instruments) for o in outcomes)
        profit = t - spend
        traded = spend > 0
        if traded:
            if profit < float(limits.min_profit_usd) - 1e-9:
                continue
            if profit < float(limits.min_profit_per_payout_usd) * t - 1e-9:
                continue
            if profit < float(limits.min_return_on_capital) * spend - 1e-9:
                continue
        if risky and any(
            spend - sum(quantity[i.id] * pays(i, o) for i in instruments)
            > float(limits.settlement_loss_limit_usd) + 1e-9
            for o in outcomes_err
        ):
            continue
        over_position = False
        for contract in candidate.contracts:
            for side in Side:
                members = [i for i in instruments if i.contract == contract.id and i.side is side]
                if contract.max_position is not None and members:
                    room = max(contract.max_position - sum(held[i.id] for i in members), D(0))
                    over_position |= sum(quantity[i.id] for i in members) > float(room) + 1e-9
        if over_position:
            continue
        # netting: held YES (i0) sold = NO (i1) bought from the same pool, n units each releasing $1
        netting_options = [0.0]
        if netting and held["i0"] and instruments[1].contract == instruments[0].contract:
            lot = float(instruments[0].lot_size)
            top = min(float(held["i0"]), quantity["i1"])
            netting_options = [k * lot for k in range(int(top / lot + 1e-9) + 1)]
        for netted in netting_options:
            buys = {"i0": quantity["i0"], "i1": quantity["i1"] - netted}
            orders = [(instruments[0], buys["i0"]), (instruments[1], buys["i1"]), (instruments[0], netted)]
            if minimums and any(0 < q < float(i.min_order_size) - 1e-9 for i, q in orders):
                continue
            venue_of_sale = instruments[0].venue
            used = dict(by_venue)
            used[venue_of_sale] = used.get(venue_of_sale, 0.0) - netted
            if any(amount > float(problem.capital.cash_by_venue_usd[v]) + 1e-9 for v, amount in used.items()):
                continue
            if problem.capital.total_usd is not None and sum(used.values()) > float(problem.capital.total_usd) + 1e-9:
                continue
            if limits.max_cost_usd is not None and spend - netted > float(limits.max_cost_usd) + 1e-9:
                continue
            best = max(best, profit)
            break
    return best


def test_exact_optimum_equals_brute_force_on_tiny_instances() -> None:
    """Every integer lot vector of 400 tiny instances: the MIP finds the best one. The instances
    exercise what they are meant to: counted, cases where a trade pays, where netting held
    inventory changes the optimum, and where minimum orders do."""
    traded = netting_matters = minimums_matter = 0
    for seed in range(400):
        problem = _tiny(seed)
        result = solve_exact(problem, time_limit_s=30)
        assert result.optimal
        want = _brute_force(problem)
        assert result.objective_usd == pytest.approx(want, abs=1e-7), seed
        assert result.bound_usd >= want - 1e-7
        traded += want > 0
        netting_matters += _brute_force(problem, netting=False) < want - 1e-9
        minimums_matter += _brute_force(problem, minimums=False) > want + 1e-9
    assert traded >= 100 and netting_matters >= 8 and minimums_matter >= 30, (
        traded,
        netting_matters,
        minimums_matter,
    )


def test_minimum_profit_and_settlement_limit_bind_in_the_brute_force() -> None:
    """A pair that earns $0.02 a unit over 2 units: $0.04 passes a $0.04 minimum, not a $0.05 one;
    a risky link whose disagreement loses the whole $1.96 spend needs a limit of $1.96."""
    fee = polymarket_fee(rate=D(0))

    def pair(minimum: str, risky: bool, loss: str) -> AllocationProblem:
        instruments = (
            Instrument("y", "polymarket", "a", Side.YES, (Level(D("0.48"), D(2)),), fee),
            Instrument("n", "polymarket", "b", Side.NO, (Level(D("0.50"), D(2)),), fee),
        )
        limits = _Limits(min_profit_usd=D(minimum), settlement_loss_limit_usd=D(loss))
        candidate = CandidateSet(
            "s",
            (Contract("a"), Contract("b")),
            instruments,
            (Equivalent("a", "b", settlement_risk=risky),),
            cast(SetLimits, limits),
        )
        return AllocationProblem((candidate,), Capital({"polymarket": D(100)}))

    assert solve_exact(pair("0.04", False, "0")).objective_usd == pytest.approx(0.04)
    assert solve_exact(pair("0.05", False, "0")).objective_usd == 0.0
    assert solve_exact(pair("0.04", True, "1.95")).objective_usd == 0.0
    assert solve_exact(pair("0.04", True, "1.96")).objective_usd == pytest.approx(0.04)


# -- the allocator's LP is a relaxation of the exact MIP ------------------------------------------------------
def _with_capital_in_force(problem: AllocationProblem, allocator: Allocator) -> AllocationProblem:
    """The problem with the capital the LP may commit after its rounding reserves, so that the LP
    is a relaxation of the MIP (exact cash would let the MIP spend the reserve the LP holds back)."""
    venues, total, caps = allocator.form.capital_in_force()
    capital = Capital({v: D(c) for v, c in venues.items()}, None if total == float("inf") else D(total))
    sets = tuple(
        dataclasses.replace(s, limits=dataclasses.replace(s.limits, max_cost_usd=D(caps[s.id]))) if s.id in caps else s
        for s in problem.sets
    )
    return AllocationProblem(sets, capital, problem.inventory)


@pytest.mark.parametrize("block", range(2))
def test_exact_optimum_never_exceeds_the_allocators_lp(block: int) -> None:
    """On random instances (1-3 sets, inventory, settlement risk, binding capital), the exact MIP
    with the LP's capital never beats the LP; with exact capital it never falls below the verified
    plan on instances without inventory (the plan is one of its integer points, up to fee floors).
    A node limit, not a time limit, stops the rare hard instance (one takes 15 s to prove), so the
    test is deterministic under load: both checks stay sound when the search stops early, since the
    incumbent is still an integer point (at most the LP) and `optimum_usd` is then the dual bound (at
    least every integer point, the plan included)."""
    below_plan_checked = 0
    proven = 0
    for seed in range(block * 40, block * 40 + 40):
        problem = random_problem(seed, sets=1 + seed % 3)
        allocator = Allocator(problem)
        lp = allocator.solve_lp().objective - sum(float(sm.baseline) for sm in allocator.sets)
        relaxed = solve_exact(_with_capital_in_force(problem, allocator), node_limit=_NODE_LIMIT)
        proven += relaxed.optimal
        assert relaxed.objective_usd <= lp + 1e-6 * max(1.0, abs(lp)), seed
        if problem.inventory:
            continue  # the allocator's objective still measures the portfolio, not the new trades
        verified = allocator.solve()
        floors = sum(
            (i.fee.fill_increment_usd or D(0)) * len(i.asks)
            for s in problem.sets
            for i in s.instruments
            if i.fee.fill_rounding.name == "DOWN"
        )
        exact = solve_exact(problem, node_limit=_NODE_LIMIT)
        assert float(verified.guaranteed_profit_usd) <= exact.optimum_usd + float(floors) + 1e-9, seed
        below_plan_checked += 1
    assert below_plan_checked >= 20
    assert proven >= 36  # the comparisons are against proven optima on almost every instance


_NODE_LIMIT = 500


def test_a_search_stopped_early_stands_on_its_dual_bound() -> None:
    """A node limit stops HiGHS deterministically (a time limit would too, at a machine-dependent
    point): the result is not optimal and its optimum is the dual bound, here infinite since the
    search stopped before the root LP, so a ratio against it is 0, never flattering."""
    problem = random_problem(3, sets=3)
    proven = solve_exact(problem)
    assert proven.optimal and proven.optimum_usd == proven.objective_usd
    assert proven.bound_usd == pytest.approx(proven.objective_usd, abs=1e-6)
    stopped = solve_exact(problem, node_limit=0)
    assert not stopped.optimal
    assert stopped.objective_usd == 0.0 and stopped.optimum_usd == stopped.bound_usd == float("inf")
    half = ExactResult(objective_usd=1.0, bound_usd=1.25, optimal=False, seconds=60.0)
    assert half.optimum_usd == 1.25 and half.gap == pytest.approx(0.2)
