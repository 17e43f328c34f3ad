"""The risk layer: the partial-fill bound against a brute force with its own fee and payoff code,
every gate blocking and letting through, config validation, the Kelly cap by hand."""

from __future__ import annotations

import collections
import functools
import itertools
import math
import signal
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.errors import ConfigError
from arb.risk import (
    BookGate,
    BookStatus,
    CircuitBreakers,
    FillableLeg,
    Incidents,
    KillSwitch,
    LinkExposure,
    LossHalts,
    PlanContext,
    RateBudget,
    RiskGate,
    RiskInputError,
    RiskLimits,
    check_limits,
    check_partial_fill,
    fill_vector_value,
    kelly_cap,
    outcome_assignments,
    worst_partial_fill_loss,
)
from solvers.fees import FeeRule, kalshi_fee, polymarket_fee
from solvers.outcomes import OutcomeSystem
from solvers.plan import Action, Leg, LevelTake
from solvers.problem import ExactlyOne, Side

D = Decimal


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- a brute force with its own arithmetic ------------------------------------------------------
# Fee schedules described as plain tuples, priced here with Fractions (not through FeeRule):
# ("kalshi", multiplier) : each fill's fee rounded up to 1/10000, the order total up to 1/100
# ("poly", rate, exponent): each fill's fee floored to 1/100000, no order rounding
FeeSpec = tuple[str, Fraction, int]


def _rule(spec: FeeSpec) -> FeeRule:
    kind, number, exponent = spec
    if kind == "kalshi":
        return kalshi_fee(multiplier=D(number.numerator) / D(number.denominator))
    return polymarket_fee(rate=D(number.numerator) / D(number.denominator), exponent=exponent)


def _brute_order_fee(spec: FeeSpec, fills: Sequence[tuple[Fraction, Fraction]]) -> Fraction:
    """The venue's fee of one order filled as (price, quantity) fills, from the fee formulas."""
    kind, number, exponent = spec
    if kind == "kalshi":
        per_fill = [Fraction(math.ceil(Fraction(7, 100) * number * q * p * (1 - p) * 10_000), 10_000) for p, q in fills]
        return Fraction(math.ceil(sum(per_fill, Fraction(0)) * 100), 100)
    return sum(
        (Fraction(math.floor(number * q * (p * (1 - p)) ** exponent * 100_000), 100_000) for p, q in fills), Fraction(0)
    )


def _splits(n: int, largest: int | None = None) -> Iterator[tuple[int, ...]]:
    """Every way to cut n lots into fills (integer partitions)."""
    if n == 0:
        yield ()
        return
    for first in range(min(n, largest or n), 0, -1):
        for rest in _splits(n - first, first):
            yield (first, *rest)


# contract, side, action, limit price, lot, lots, fee, fok, tick
BruteLeg = tuple[str, str, str, Fraction, Fraction, int, FeeSpec, bool, Fraction]
WINDOW_TICKS = 3  # better prices tried per lot: the limit and up to this many ticks better


@functools.cache
def _brute_leg_worst(leg: BruteLeg, lots: int, payoff: int) -> Fraction:
    """Least value of `lots` filled at any prices on the tick grid from the limit to WINDOW_TICKS
    better (each lot its own price), in every split into fills the venue may make."""
    _, _, action, limit, lot, _, fee, _, tick = leg
    if lots == 0:
        return Fraction(0)
    sign = 1 if action == "buy" else -1  # a buy's better prices are lower
    prices = [limit - sign * i * tick for i in range(WINDOW_TICKS + 1)]
    prices = [p for p in prices if 0 <= p <= 1]
    worst = None
    for per_lot in itertools.combinations_with_replacement(prices, lots):
        counts = collections.Counter(per_lot)
        for cuts in itertools.product(*(list(_splits(n)) for n in counts.values())):
            fills = [(price, lot * n) for price, cut in zip(counts, cuts) for n in cut]
            value = sum((sign * q * (payoff - p) for p, q in fills), Fraction(0)) - _brute_order_fee(fee, fills)
            worst = value if worst is None else min(worst, value)
    assert worst is not None
    return worst


def _brute_worst(
    legs: Sequence[BruteLeg], outcomes: Sequence[Mapping[str, int]], held: Mapping[tuple[str, str], Fraction]
) -> Fraction:
    def pays(outcome: Mapping[str, int], contract: str, side: str) -> int:
        return outcome[contract] if side == "yes" else 1 - outcome[contract]

    held_value = [sum((q * pays(o, c, s) for (c, s), q in held.items()), Fraction(0)) for o in outcomes]
    base = min(held_value) if held else Fraction(0)
    choices = [(0, leg[5]) if leg[7] else range(leg[5] + 1) for leg in legs]
    worst = None
    for o, hv in zip(outcomes, held_value):
        for vector in itertools.product(*choices):
            total = (
                hv
                - base
                + sum((_brute_leg_worst(leg, k, pays(o, leg[0], leg[1])) for leg, k in zip(legs, vector)), Fraction(0))
            )
            worst = total if worst is None else min(worst, total)
    assert worst is not None
    return worst


def _fillable(b: BruteLeg, index: int = 0, *, tick_known: bool = True) -> FillableLeg:
    contract, side, action, price, lot, lots, fee, fok, tick = b
    dprice = D(price.numerator) / D(price.denominator)
    dlot = D(lot.numerator) / D(lot.denominator)
    quantity = dlot * lots
    rule = _rule(fee)
    fee_usd = rule.worst_order_fee([(dprice, quantity)], dlot)
    cash = -(dprice * quantity + fee_usd) if action == "buy" else dprice * quantity - fee_usd
    leg = Leg(
        instrument_id=f"i{index}",
        venue="kalshi" if fee[0] == "kalshi" else "polymarket",
        contract=contract,
        side=Side(side),
        action=Action(action),
        quantity=quantity,
        limit_price=dprice,
        levels=(LevelTake(dprice, quantity),),
        fee_usd=fee_usd,
        cash_flow_usd=cash,
    )
    dtick = D(tick.numerator) / D(tick.denominator) if tick_known else None
    return FillableLeg(leg, rule, dlot, all_or_none=fok, tick_usd=dtick)


def _fee_can_rise(b: BruteLeg) -> bool:
    return b[3] > Fraction(1, 2) if b[2] == "buy" else b[3] < Fraction(1, 2)


CONTRACTS = ("A", "B", "C")
fee_specs = st.one_of(
    st.sampled_from([Fraction(1), Fraction(1, 2), Fraction(3, 2)]).map(lambda m: ("kalshi", m, 1)),
    st.tuples(st.sampled_from([Fraction(0), Fraction(1, 50), Fraction(7, 100), Fraction(1, 4)]), st.integers(1, 2)).map(
        lambda t: ("poly", t[0], t[1])
    ),
)
brute_legs = st.tuples(
    st.sampled_from(CONTRACTS),
    st.sampled_from(["yes", "no"]),
    st.sampled_from(["buy", "sell"]),
    st.integers(1, 99).map(lambda c: Fraction(c, 100)),
    st.sampled_from([Fraction(1), Fraction(1, 100), Fraction(5)]),
    st.integers(1, 4),
    fee_specs,
    st.booleans(),
    st.sampled_from([Fraction(1, 100), Fraction(1, 1000)]),
)
outcome_sets = st.sampled_from(
    [
        [{"A": 1, "B": 0, "C": 0}, {"A": 0, "B": 1, "C": 0}, {"A": 0, "B": 0, "C": 1}],  # exactly one
        [dict(zip(CONTRACTS, bits)) for bits in itertools.product((0, 1), repeat=3)],  # independent
        [{"A": a, "B": b, "C": b} for a in (0, 1) for b in (0, 1) if b <= a],  # B=C implies A
    ]
)
holdings = st.dictionaries(
    st.tuples(st.sampled_from(CONTRACTS), st.sampled_from(["yes", "no"])), st.integers(-5, 5).map(Fraction), max_size=3
)


@given(legs=st.lists(brute_legs, min_size=1, max_size=3), outcomes=outcome_sets, held=holdings)
def test_worst_partial_fill_bounds_a_brute_force_over_every_vector_price_and_split(
    legs: list[BruteLeg], outcomes: list[dict[str, int]], held: dict[tuple[str, str], Fraction]
) -> None:
    fillable = [_fillable(b, i) for i, b in enumerate(legs)]
    dheld = {(c, Side(s)): D(q.numerator) for (c, s), q in held.items()}
    risk = worst_partial_fill_loss(fillable, outcomes, dheld)
    brute = _brute_worst(legs, outcomes, held)
    # a true bound: no vector, price at or better than the limits or split is worse
    assert Fraction(risk.worst_value_change_usd) <= brute
    assert Fraction(risk.loss_usd) == max(Fraction(0), -Fraction(risk.worst_value_change_usd))
    # and a tight one: exact where no fee can rise at a better price, else at most two order
    # increments ($0.02: one when the lot's tick saving is on the fee's grid) looser per leg whose
    # fee can, or one fill increment for a fee floored per fill
    slack = sum(Fraction(2, 100) if b[6][0] == "kalshi" else Fraction(1, 100_000) for b in legs if _fee_can_rise(b))
    assert brute - Fraction(risk.worst_value_change_usd) <= slack
    # the reported vector and outcome reach that value
    base = min(fill_vector_value([], [], o, dheld) for o in outcomes) if dheld else D(0)
    assert (
        fill_vector_value(fillable, risk.worst_fill_lots, risk.worst_outcome, dheld) - base
        == risk.worst_value_change_usd
    )


def test_fill_at_a_better_price_that_costs_more_is_inside_the_bound() -> None:
    """Two lots bought at limit 0.69 on a deci-cent Kalshi market: at the limit each lot's fee is
    0.07 x 0.69 x 0.31 = 0.014973 -> 0.0150, the order 0.0300 -> $0.03, cost $1.41. One lot filled
    two ticks better, at 0.688, pays 0.01502592 -> 0.0151, the order 0.0301 -> $0.04: $1.418 in
    all, $0.008 more than at the limit. The bound must cover it."""
    leg: BruteLeg = (
        "A",
        "yes",
        "buy",
        Fraction(69, 100),
        Fraction(1),
        2,
        ("kalshi", Fraction(1), 1),
        False,
        Fraction(1, 1000),
    )
    fills = [(Fraction(69, 100), Fraction(1)), (Fraction(688, 1000), Fraction(1))]
    assert Fraction(69, 100) + Fraction(688, 1000) + _brute_order_fee(leg[6], fills) == Fraction(1418, 1000)
    assert _brute_leg_worst(leg, 2, 0) == -Fraction(1418, 1000)
    risk = worst_partial_fill_loss([_fillable(leg)], [{"A": 0}])
    assert risk.loss_usd >= D("1.418")
    assert risk.loss_usd == D("1.419")  # $1.41 at the limit + 0.01 - gcd(0.001, 0.01)
    # an unknown tick costs the looser cap: + ceil(2 x 0.0001 to the cent) + 0.01
    assert worst_partial_fill_loss([_fillable(leg, tick_known=False)], [{"A": 0}]).loss_usd == D("1.43")
    # whole-cent ticks of whole contracts: a better price saves at least the cent it can add
    cent = (*leg[:8], Fraction(1, 100))
    assert worst_partial_fill_loss([_fillable(cent)], [{"A": 0}]).loss_usd == D("1.41")


rising_legs = st.tuples(
    st.just("A"),
    st.sampled_from(["yes", "no"]),
    st.sampled_from(["buy", "sell"]),
    st.integers(51, 99).map(lambda c: Fraction(c, 100)),
    st.sampled_from([Fraction(1), Fraction(1, 100)]),
    st.integers(1, 3),
    st.sampled_from([Fraction(1), Fraction(3, 2)]).map(lambda m: ("kalshi", m, 1)),
    st.just(False),
    st.sampled_from([Fraction(1, 100), Fraction(1, 1000)]),
).map(lambda b: b if b[2] == "buy" else (*b[:3], 1 - b[3], *b[4:]))


@settings(max_examples=300)
@given(leg=rising_legs, tick_known=st.booleans())
def test_one_leg_whose_fee_can_rise_is_bounded_over_every_price_and_split(leg: BruteLeg, tick_known: bool) -> None:
    """Where a better price moves towards 1/2 the fee can rise, and its rounding with it: the
    bound holds against every fill price in the window and every split, for every lot count."""
    fillable = _fillable(leg, tick_known=tick_known)
    for lots in range(leg[5] + 1):
        for payoff in (0, 1):
            brute = _brute_leg_worst(leg, lots, payoff)
            assert Fraction(fillable.value(lots, payoff)) <= brute
            assert brute - Fraction(fillable.value(lots, payoff)) <= Fraction(2, 100)


@given(leg=brute_legs, lots=st.integers(1, 400), payoff=st.integers(0, 1))
def test_per_leg_candidate_set_finds_the_exact_minimum_over_every_lot_count(
    leg: BruteLeg, lots: int, payoff: int
) -> None:
    """The pruning (k < fee(all)/a) against every lot count, on larger legs than the full product;
    at the limit price each lot count's figure is the venue's fee by the brute force's arithmetic,
    exactly where no fee can rise at a better price and below it where one can."""
    contract, side, action, price, lot, _, fee, fok, tick = leg
    b = (contract, side, action, price, lot, lots, fee, fok, tick)
    fillable = _fillable(b)
    counts = (0, lots) if fok else range(lots + 1)
    sign = 1 if action == "buy" else -1
    for k in counts if len(counts) < 60 else (*counts[:30], *counts[-30:]):
        at_limit = sign * lot * k * (payoff - price) - _brute_order_fee(
            fee, [(price, lot)] * k if fee[0] == "kalshi" else [(price, lot * k)]
        )
        if _fee_can_rise(b):
            assert Fraction(fillable.value(k, payoff)) <= at_limit
        else:
            assert Fraction(fillable.value(k, payoff)) == at_limit
    exhaustive = min(fillable.value(k, payoff) for k in counts)
    value, count = fillable.worst(payoff)
    assert value == exhaustive
    assert fillable.value(count, payoff) == exhaustive


def _riskless_three_leg() -> tuple[list[FillableLeg], list[dict[str, int]]]:
    rule = kalshi_fee()
    legs = []
    for contract in ("A", "B", "C"):
        fee_usd = rule.worst_order_fee([(D("0.30"), D(10))], D(1))
        leg = Leg(
            f"k-{contract}",
            "kalshi",
            contract,
            Side.YES,
            Action.BUY,
            D(10),
            D("0.30"),
            (LevelTake(D("0.30"), D(10)),),
            fee_usd,
            -(D(3) + fee_usd),
        )
        legs.append(FillableLeg(leg, rule, D(1)))
    system = OutcomeSystem(["A", "B", "C"], [ExactlyOne(("A", "B", "C"))], with_risky_links=False)
    return legs, outcome_assignments(system, ["A", "B", "C"], limit=100)


def test_three_leg_riskless_plan_one_leg_filled_loses_its_cost_plus_fee() -> None:
    legs, outcomes = _riskless_three_leg()
    assert outcomes == [{"A": 0, "B": 0, "C": 1}, {"A": 0, "B": 1, "C": 0}, {"A": 1, "B": 0, "C": 0}]
    # fully filled it is riskless: pays 10 in every outcome for 9 + 3 x 0.15 of fees
    full = [fill_vector_value(legs, [10, 10, 10], o) for o in outcomes]
    assert full == [D("0.55")] * 3
    # 7 c x 10 x 0.3 x 0.7 = 0.147 -> 0.15; the first leg filled alone, in an outcome where A pays 0
    assert legs[0].leg.fee_usd == D("0.15")
    for outcome in outcomes[:2]:
        assert fill_vector_value(legs, [10, 0, 0], outcome) == -(D("3.00") + D("0.15")) == legs[0].leg.cash_flow_usd
    # the worst vector overall: the two legs that pay 0 fill, the one that pays does not
    risk = worst_partial_fill_loss(legs, outcomes)
    assert risk.loss_usd == D("6.30")
    assert risk.worst_outcome == {"A": 0, "B": 0, "C": 1}
    assert risk.worst_fill_lots == (10, 10, 0)


def test_partial_fill_inputs_are_checked() -> None:
    legs, outcomes = _riskless_three_leg()
    with pytest.raises(RiskInputError, match="at least one outcome"):
        worst_partial_fill_loss(legs, [])
    with pytest.raises(RiskInputError, match="contract 'C'"):
        worst_partial_fill_loss(legs, [{"A": 1, "B": 0}])
    with pytest.raises(RiskInputError, match="whole number of lots"):
        FillableLeg(legs[0].leg, legs[0].fee, D(3))
    with pytest.raises(RiskInputError, match="cannot fill 11 lots"):
        fill_vector_value(legs, [11, 0, 0], outcomes[0])


# -- limits config -------------------------------------------------------------------------------
RAW_LIMITS: dict[str, object] = {
    "cash_per_venue_usd": {"kalshi": "100", "polymarket": 100},
    "max_contracts_per_contract": 50,
    "max_contracts_per_set": "80",
    "max_open_plans": 2,
    "notional_per_link_class_usd": {"none": "1000", "low": "20"},
    "daily_loss_halt_usd": "50",
    "drawdown_halt_usd": "80",
    "min_profit_usd": "0.10",
    "max_partial_fill_loss_usd": "7",
    "kelly_fraction": "0.25",
}


def _limits(**changes: object) -> RiskLimits:
    return RiskLimits.from_mapping({**RAW_LIMITS, **changes})


def test_limits_from_mapping_builds_exact_frozen_limits() -> None:
    limits = _limits()
    assert limits.cash_per_venue_usd == {"kalshi": D(100), "polymarket": D(100)}
    assert limits.min_profit_usd == D("0.10") and limits.max_book_age_ms == 2000
    with pytest.raises(AttributeError):
        limits.min_profit_usd = D(0)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cash_per_venue_us": {}}, "unknown risk limit keys: cash_per_venue_us"),
        ({"min_profit_usd": 0.1}, "min_profit_usd must be exact"),
        ({"min_profit_usd": "ten"}, "min_profit_usd must be a decimal number"),
        ({"max_partial_fill_loss_usd": "-1"}, "max_partial_fill_loss_usd must be zero or more"),
        ({"cash_per_venue_usd": {"kalshi": "-5"}}, r"cash_per_venue_usd\.kalshi must be zero or more"),
        ({"cash_per_venue_usd": ["kalshi"]}, "cash_per_venue_usd must be a table"),
        ({"kelly_fraction": "1.5"}, r"kelly_fraction must be in \(0, 1\]"),
        ({"max_open_plans": 0}, "max_open_plans must be an integer of at least 1"),
        ({"max_book_age_ms": "2000"}, "max_book_age_ms must be an integer"),
        ({"daily_loss_halt_usd": "0"}, "daily_loss_halt_usd must be positive"),
        ({"drawdown_halt_usd": "NaN"}, "drawdown_halt_usd must be a finite"),
    ],
)
def test_limits_refuse_bad_config_naming_the_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _limits(**changes)


def test_limits_name_missing_keys() -> None:
    raw = dict(RAW_LIMITS)
    del raw["min_profit_usd"]
    with pytest.raises(ConfigError, match="missing risk limit keys: min_profit_usd"):
        RiskLimits.from_mapping(raw)


# -- gates ---------------------------------------------------------------------------------------
def _context(**changes: object) -> PlanContext:
    legs, outcomes = _riskless_three_leg()
    base: dict[str, object] = {
        "set_id": "set-1",
        "legs": tuple(legs),
        "outcomes": tuple(outcomes),
        "guaranteed_profit_usd": D("0.55"),
        "books": (BookStatus("k-A", "kalshi", True, 999.5),),
    }
    base.update(changes)
    return PlanContext(**base)  # type: ignore[arg-type]


def test_kill_switch_by_flag_file_and_signal(tmp_path: Path) -> None:
    path = tmp_path / "KILL"
    switch = KillSwitch(path)
    assert not switch.engaged() and switch.check() is None
    path.touch()
    assert switch.engaged() and "file" in switch.check().reason  # type: ignore[union-attr]
    path.unlink()
    switch.engage("cli: arb kill")
    refusal = switch.check()
    assert refusal is not None and refusal.gate == "kill_switch" and "cli" in refusal.reason
    switch.release()
    assert not switch.engaged()
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        switch.install_signal(signal.SIGUSR1)
        signal.raise_signal(signal.SIGUSR1)
        assert switch.engaged() and "SIGUSR1" in switch.check().reason  # type: ignore[union-attr]
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_book_gate_refuses_untrusted_and_stale_books() -> None:
    clock = FakeClock(1_000.0)
    gate = BookGate(max_age_ms=500, monotonic_s=clock)
    fresh = BookStatus("b1", "kalshi", True, 999.6)
    assert gate.check([fresh]) == []
    clock.now = 1_000.2
    [stale] = gate.check([fresh])
    assert stale.gate == "books" and "600 ms old, limit 500 ms" in stale.reason
    [untrusted] = gate.check([BookStatus("b2", "polymarket", False, 1_000.2)])
    assert "not trusted" in untrusted.reason
    with pytest.raises(ConfigError, match="max_age_ms"):
        BookGate(0, clock)


def test_rate_budget_refuses_beyond_the_bucket_and_refills_on_the_clock() -> None:
    clock = FakeClock()
    budget = RateBudget(rate_per_s=2.0, burst=4, monotonic_s=clock)
    assert budget.check(3) is None
    budget.take(3)
    refusal = budget.check(3)
    assert refusal is not None and refusal.gate == "rate_budget"
    clock.now += 1.0  # two more tokens
    assert budget.check(3) is None
    with pytest.raises(ConfigError, match="burst"):
        RateBudget(1.0, 0, clock)


def _breakers(clock: FakeClock) -> CircuitBreakers:
    return CircuitBreakers(
        window_s=10.0, max_error_rate=0.5, min_calls=4, max_consecutive_failures=3, cooldown_s=30.0, monotonic_s=clock
    )


def test_breaker_trips_on_consecutive_failures_and_closes_after_cooldown() -> None:
    clock = FakeClock()
    breakers = _breakers(clock)
    breakers.record("kalshi", False)
    breakers.record("kalshi", False)
    assert breakers.check({"kalshi"}) == []
    breakers.record("kalshi", False)
    [refusal] = breakers.check({"kalshi", "polymarket"})
    assert refusal.gate == "circuit_breaker" and "3 consecutive failures" in refusal.reason
    clock.now += 30.0
    assert breakers.check({"kalshi"}) == []


def test_breaker_trips_on_error_rate_over_the_window() -> None:
    clock = FakeClock()
    breakers = _breakers(clock)
    for ok in (True, False, True, False):  # never 3 in a row, but 2 of 4 fail
        breakers.record("polymarket", ok)
        clock.now += 1.0
    [refusal] = breakers.check({"polymarket"})
    assert "error rate 2/4" in refusal.reason
    # outside the window the old failures no longer count
    clock.now += 40.0
    for _ in range(4):
        breakers.record("polymarket", True)
    assert breakers.check({"polymarket"}) == []


def test_partition_halts_every_plan_touching_the_venue() -> None:
    clock = FakeClock()
    breakers = _breakers(clock)
    breakers.mark_unreachable("polymarket", "websocket and REST down for 12 s")
    assert breakers.check({"kalshi"}) == []
    [refusal] = breakers.check({"kalshi", "polymarket"})
    assert refusal.gate == "partition" and "polymarket" in refusal.reason
    breakers.mark_reachable("polymarket")
    assert breakers.check({"polymarket"}) == []


def test_open_incident_blocks_only_its_set() -> None:
    incidents = Incidents()
    incidents.open("set-1", "leg B stuck after partial fill")
    refusal = incidents.check("set-1")
    assert refusal is not None and refusal.gate == "incident"
    assert incidents.check("set-2") is None
    incidents.resolve("set-1")
    assert incidents.check("set-1") is None


def test_daily_loss_breach_halts_and_notifies_once() -> None:
    clock = FakeClock(1_765_000_000.0)  # wall seconds
    halts = LossHalts(D(50), D(80), clock)
    assert halts.observe(D(1000)) is None
    assert halts.observe(D("950.01")) is None and halts.check() is None
    event = halts.observe(D(950))
    assert event is not None and event.kind == "daily_loss" and event.loss_usd == D(50)
    assert "daily loss 50 USD" in event.message
    assert halts.observe(D(940)) is None  # reported once
    refusal = halts.check()
    assert refusal is not None and refusal.gate == "daily_loss"
    halts.reset()
    assert halts.check() is None


def test_drawdown_breach_halts_across_days() -> None:
    clock = FakeClock(1_765_000_000.0)
    halts = LossHalts(D(50), D(80), clock)
    halts.observe(D(1000))
    clock.now += 86_400
    assert halts.observe(D(960)) is None  # new day starts at 960: daily loss 0, drawdown 40
    clock.now += 86_400
    assert halts.observe(D(930)) is None  # daily 30, drawdown 70
    event = halts.observe(D(920))
    assert event is not None and event.kind == "drawdown" and event.loss_usd == D(80)


def test_limits_gate_refuses_each_breach_and_passes_within_limits() -> None:
    limits = _limits()
    assert check_limits(limits, _context()) == []  # 3 legs x $3.15 on kalshi, 30 contracts
    gates = {r.gate for r in check_limits(_limits(cash_per_venue_usd={"kalshi": "9"}), _context())}
    assert gates == {"cash"}
    assert {r.gate for r in check_limits(_limits(cash_per_venue_usd={"polymarket": "9"}), _context())} == {"cash"}
    assert {r.gate for r in check_limits(_limits(max_contracts_per_contract=9), _context())} == {"position"}
    held = {("A", Side.YES): D(45)}
    assert {r.gate for r in check_limits(limits, _context(holdings=held))} == {"position"}
    assert {r.gate for r in check_limits(_limits(max_contracts_per_set=29), _context())} == {"set_position"}
    assert {r.gate for r in check_limits(limits, _context(open_plans=2))} == {"open_plans"}
    assert {r.gate for r in check_limits(limits, _context(guaranteed_profit_usd=D("0.09")))} == {"min_profit"}
    risky = LinkExposure("A~pm-A", "low", D(15), edge=D("0.05"), disagreement_probability=D("0.01"))
    assert check_limits(limits, _context(links=(risky,), bankroll_usd=D(1000))) == []  # cap 197.5
    assert {
        r.gate
        for r in check_limits(limits, _context(links=(risky,), link_notional_usd={"low": D(10)}, bankroll_usd=D(1000)))
    } == {"link_notional"}
    assert {r.gate for r in check_limits(limits, _context(links=(risky,), bankroll_usd=D(50)))} == {
        "kelly"
    }  # cap 9.875
    unknown = LinkExposure("x", "high", D(1))
    assert {r.gate for r in check_limits(limits, _context(links=(unknown,)))} == {"link_notional"}


def test_kelly_cap_matches_a_hand_computation() -> None:
    # edge 5 c per $1, 1% disagreement: f* = 0.99 - 0.01 / 0.05 = 0.79; a quarter of it of $10,000
    assert kelly_cap(D("0.05"), D("0.01"), D("0.25"), D(10_000)) == D("1975.00")
    # no disagreement: the whole fraction of the bankroll
    assert kelly_cap(D("0.05"), D(0), D("0.5"), D(100)) == D("50.0")
    # the edge does not pay for the risk: no stake
    assert kelly_cap(D("0.01"), D("0.02"), D("0.25"), D(10_000)) == 0
    assert kelly_cap(D(0), D("0.01"), D("0.25"), D(10_000)) == 0


def test_partial_fill_gate_blocks_above_the_bound() -> None:
    assert check_partial_fill(_limits(max_partial_fill_loss_usd="6.30"), _context()) is None
    refusal = check_partial_fill(_limits(max_partial_fill_loss_usd="6.29"), _context())
    assert refusal is not None and refusal.gate == "partial_fill" and "6.30" in refusal.reason
    # FOK legs cannot fill partly, but any subset of them can still fill
    fok = tuple(FillableLeg(leg.leg, leg.fee, leg.lot_size, all_or_none=True) for leg in _context().legs)
    assert check_partial_fill(_limits(max_partial_fill_loss_usd="6.29"), _context(legs=fok)) is not None


def _gate(tmp_path: Path, clock: FakeClock, wall: FakeClock, **limit_changes: object) -> RiskGate:
    limits = _limits(**limit_changes)
    return RiskGate(
        limits=limits,
        kill_switch=KillSwitch(tmp_path / "KILL"),
        books=BookGate(limits.max_book_age_ms, clock),
        rate=RateBudget(10.0, 5, clock),
        breakers=_breakers(clock),
        incidents=Incidents(),
        halts=LossHalts(limits.daily_loss_halt_usd, limits.drawdown_halt_usd, wall),
    )


def test_risk_gate_combines_every_gate(tmp_path: Path) -> None:
    clock, wall = FakeClock(1_000.0), FakeClock(1_765_000_000.0)
    gate = _gate(tmp_path, clock, wall)
    assert gate.check(_context()) == []  # passes and takes 3 of the 5 sends
    assert [r.gate for r in gate.check(_context())] == ["rate_budget"]
    clock.now += 1.0
    assert gate.check(_context()) == []  # refilled; the books are now 1.5 s old, still fresh
    gate = _gate(tmp_path, clock, wall)
    (tmp_path / "KILL").touch()
    gate.incidents.open("set-1", "stuck leg")
    gate.breakers.mark_unreachable("kalshi", "timeouts")
    gate.halts.observe(D(1000))
    gate.halts.observe(D(900))
    clock.now += 10.0
    refusals = gate.check(_context(guaranteed_profit_usd=D(0)))
    assert {r.gate for r in refusals} == {"kill_switch", "daily_loss", "incident", "partition", "books", "min_profit"}
    assert gate.rate.available() == 5  # a refused plan takes nothing from the budget


def test_risk_gate_refuses_on_the_partial_fill_bound(tmp_path: Path) -> None:
    gate = _gate(tmp_path, FakeClock(1_000.0), FakeClock(1_765_000_000.0), max_partial_fill_loss_usd="5")
    assert [r.gate for r in gate.check(_context())] == ["partial_fill"]
