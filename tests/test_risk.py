"""The risk layer: the partial-fill bound against a brute force with its own fee and payoff code,
every gate blocking and letting through, config validation, the Kelly cap by hand."""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import itertools
import math
import re
import signal
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.book import BinaryBook, OrderBook
from arb.cli import main as cli_main
from arb.domain import BookSnapshot, Venue
from arb.errors import ConfigError
from arb.graph import Listing
from arb.risk import (
    BookGate,
    BookStatus,
    CircuitBreakers,
    FillableLeg,
    Incidents,
    KillSwitch,
    LinkExposure,
    LossHalts,
    Notification,
    PlanContext,
    RateBudget,
    RiskGate,
    RiskInputError,
    RiskLimits,
    check_limits,
    check_partial_fill,
    fill_vector_value,
    fillable_legs,
    kelly_cap,
    outcome_assignments,
    worst_partial_fill_loss,
)
from arb.risk.config import (
    BreakerSettings,
    RateBudgetSettings,
    RiskSettings,
    build_risk_gate,
    load_risk_config,
    load_risk_section,
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
    refusal = switch.check()
    assert switch.engaged() and refusal is not None and refusal.gate == "kill_switch" and "file" in refusal.reason
    path.unlink()
    assert switch.check() is None
    switch.engage("cli: arb kill")
    refusal = switch.check()
    assert refusal is not None and refusal.gate == "kill_switch" and "cli" in refusal.reason
    switch.release()
    assert not switch.engaged()
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        switch.install_signal(signal.SIGUSR1)
        signal.raise_signal(signal.SIGUSR1)
        refusal = switch.check()
        assert (
            switch.engaged() and refusal is not None and refusal.gate == "kill_switch" and "SIGUSR1" in refusal.reason
        )
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
    assert untrusted.gate == "books" and "not trusted" in untrusted.reason
    assert gate.check([BookStatus("b2", "polymarket", True, 1_000.2)]) == []
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
    assert breakers.check({"kalshi"}) == []
    [refusal] = breakers.check({"polymarket"})
    assert refusal.gate == "circuit_breaker" and "error rate 2/4" in refusal.reason
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
    assert halts.check() is None
    event = halts.observe(D(920))
    assert event is not None and event.kind == "drawdown" and event.loss_usd == D(80)
    refusal = halts.check()
    assert refusal is not None and refusal.gate == "drawdown"


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


# -- configuration -------------------------------------------------------------------------------
REPO = Path(__file__).resolve().parent.parent
DEFAULT_TOML = REPO / "config" / "default.toml"


def _default_risk_table() -> dict[str, Any]:
    with DEFAULT_TOML.open("rb") as handle:
        return copy.deepcopy(tomllib.load(handle)["risk"])


def test_default_config_loads_exact_settings_and_builds_the_gate() -> None:
    settings = load_risk_config(DEFAULT_TOML)
    limits = settings.limits
    assert limits.cash_per_venue_usd == {"kalshi": D("1000.00"), "polymarket": D("1000.00")}
    assert limits.min_profit_usd == D("0.05") and isinstance(limits.min_profit_usd, Decimal)
    assert limits.notional_per_link_class_usd == {"identical_rules": D(5000), "minor_differences": D(300)}
    assert limits.disagreement_probability_per_link_class == {"identical_rules": 0, "minor_differences": D("0.02")}
    assert settings.kill_switch_file == REPO / "run" / "arb.kill"  # relative to the config's directory
    assert settings.kill_switch_signal is signal.SIGUSR1
    assert settings.repair_loss_cap_usd == D("5.00")
    assert settings.rate_budget == RateBudgetSettings(10.0, 20)
    assert settings.circuit_breaker == BreakerSettings(60.0, 0.5, 10, 3, 30.0)
    gate = build_risk_gate(settings, monotonic_s=FakeClock(1_000.0), wall_s=FakeClock(1_765_000_000.0))
    assert gate.limits is limits and gate.kill_switch.path == settings.kill_switch_file
    assert gate.rate.burst == 20 and gate.books.max_age_ms == 2000


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda table: table.pop(key)


def _set(*path_and_value: Any) -> Callable[[dict[str, Any]], None]:
    *path, key, value = path_and_value

    def change(table: dict[str, Any]) -> None:
        for part in path:
            table = table[part]
        table[key] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("max_open_plan", 3), r"unknown key\(s\) in \[risk\]: max_open_plan"),
        (_set("min_profit_usd", 0.05), r"risk\.min_profit_usd must be an exact decimal written as a string"),
        (_set("cash_per_venue_usd", "kalshi", 10.5), r"risk\.cash_per_venue_usd\.kalshi must be an exact decimal"),
        (_set("daily_loss_halt_usd", "NaN"), r"risk\.daily_loss_halt_usd must be a finite decimal"),
        (_set("max_partial_fill_loss_usd", "-1"), r"risk\.max_partial_fill_loss_usd must be zero or more"),
        (_set("max_contracts_per_set", "lots"), r"risk\.max_contracts_per_set must be a decimal number"),
        (_set("max_open_plans", "4"), r"risk\.max_open_plans must be an integer of at least 1"),
        (_set("max_book_age_ms", 0), r"risk\.max_book_age_ms must be an integer of at least 1"),
        (_without("drawdown_halt_usd"), r"risk\.drawdown_halt_usd is missing"),
        (_without("cash_per_venue_usd"), r"risk\.cash_per_venue_usd is missing"),
        (_set("daily_loss_halt_usd", "0"), r"\[risk\] risk limit daily_loss_halt_usd must be positive"),
        (_set("kelly_fraction", "1.5"), r"kelly_fraction must be in \(0, 1\]"),
        (_set("notional_per_link_class_usd", "minor_diffs", "10"), r"minor_diffs is not a link class"),
        (
            _set("notional_per_link_class_usd", "different_resolution_source", "10"),
            r"disagreement_probability_per_link_class\.different_resolution_source is missing",
        ),
        (
            _set("disagreement_probability_per_link_class", "identical_rules", "0.01"),
            r"identical_rules must be 0",
        ),
        (_set("disagreement_probability_per_link_class", "minor_differences", "1"), r"must be below 1"),
        (_set("kill_switch_file", ""), r"risk\.kill_switch_file must be a non-empty path string"),
        (_set("kill_switch_signal", "SIGKILL"), r"risk\.kill_switch_signal must be one of SIGUSR1"),
        (_set("rate_budget", "sends_per_s", math.nan), r"risk\.rate_budget\.sends_per_s must be a finite number"),
        (_set("rate_budget", "sends_per_s", 0), r"risk\.rate_budget\.sends_per_s must be positive"),
        (_set("rate_budget", "burst", 2.5), r"risk\.rate_budget\.burst must be an integer"),
        (_set("circuit_breaker", "max_error_rate", 1.5), r"max_error_rate must be in \(0, 1\]"),
        (_set("circuit_breaker", "cooldown_s", -1), r"cooldown_s must be zero or more"),
        (_set("circuit_breaker", "window", 5), r"unknown key\(s\) in \[risk\.circuit_breaker\]: window"),
        (_set("circuit_breaker", [1]), r"\[risk\.circuit_breaker\] must be a table"),
        (_set("repair_loss_cap_usd", True), r"risk\.repair_loss_cap_usd must be a decimal string or an integer"),
    ],
)
def test_risk_config_refuses_bad_values_naming_file_and_key(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    table = _default_risk_table()
    change(table)
    with pytest.raises(ConfigError, match=r"^cfg/risk\.toml: .*" + message):
        load_risk_section(table, source="cfg/risk.toml")


def test_risk_config_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "arb.toml"
    text = DEFAULT_TOML.read_text()
    path.write_text(text.replace('min_profit_usd = "0.05"', "min_profit_usd = 0.05"))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: risk.min_profit_usd must be an exact decimal")):
        load_risk_config(path)
    path.write_text("[risk\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}: not valid TOML")):
        load_risk_config(path)
    path.write_text("[daemon]\nname = 'x'\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}: the [risk] section is missing")):
        load_risk_config(path)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_risk_config(tmp_path / "missing.toml")
    # other top-level sections belong to their own loaders and are left alone
    path.write_text(text + "\n[daemon]\nname = 'x'\n")
    assert load_risk_config(path).limits.max_open_plans == 4


# -- the kill switch by CLI ----------------------------------------------------------------------
def test_arb_kill_engages_and_releases_the_file_the_gate_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "conf" / "arb.toml"
    config.parent.mkdir()
    config.write_text(DEFAULT_TOML.read_text().replace('"../run/arb.kill"', '"state/KILL"'))
    settings = load_risk_config(config)
    assert settings.kill_switch_file == (tmp_path / "conf" / "state" / "KILL").resolve()
    switch = KillSwitch(settings.kill_switch_file)
    assert switch.check() is None
    assert cli_main(["kill", "--config", str(config), "--reason", "market halted"]) == 0
    refusal = switch.check()
    assert refusal is not None and refusal.gate == "kill_switch"
    assert "market halted" in (tmp_path / "conf" / "state" / "KILL").read_text()
    assert cli_main(["kill", "--config", str(config)]) == 0  # idempotent
    assert "already engaged" in capsys.readouterr().out
    assert cli_main(["kill", "--release", "--config", str(config)]) == 0
    assert switch.check() is None
    assert cli_main(["kill", "--release", "--config", str(config)]) == 0
    assert "was not engaged" in capsys.readouterr().out
    other = tmp_path / "other.kill"
    assert cli_main(["kill", "--file", str(other)]) == 0 and other.exists()
    assert cli_main(["kill", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read config" in capsys.readouterr().err


# -- loss halts notify ---------------------------------------------------------------------------
def test_daily_loss_breach_halts_trading_and_notifies_once(tmp_path: Path) -> None:
    heard: list[Notification] = []
    clock, wall = FakeClock(1_000.0), FakeClock(1_765_000_000.0)
    gate = build_risk_gate(_settings(tmp_path), monotonic_s=clock, wall_s=wall, notify=heard.append)
    assert gate.observe_equity(D(1000)) is None and gate.check(_context()) == []
    assert gate.observe_equity(D("800.01")) is None and heard == []
    event = gate.observe_equity(D(800))
    assert event is not None and event.kind == "daily_loss"
    assert heard == [Notification("halt", event.message, wall.now, event)]
    assert "daily loss 200 USD reached the limit 200.00 USD" in heard[0].message
    assert [r.gate for r in gate.check(_context())] == ["daily_loss"]
    gate.observe_equity(D(700))
    assert len(heard) == 1  # once per breach
    gate.halts.reset()
    assert gate.check(_context()) == []


def test_drawdown_breach_halts_and_notifies_and_a_failing_notifier_cannot_lift_it(tmp_path: Path) -> None:
    def broken(notification: Notification) -> None:
        raise RuntimeError("webhook down")

    wall = FakeClock(1_765_000_000.0)
    gate = build_risk_gate(_settings(tmp_path), monotonic_s=FakeClock(1_000.0), wall_s=wall, notify=broken)
    for equity in ("1000", "850", "700", "550"):  # 150 a day: never a daily breach
        assert gate.observe_equity(D(equity)) is None
        wall.now += 86_400
    event = gate.observe_equity(D("499"))
    assert event is not None and event.kind == "drawdown" and event.loss_usd == D(501)
    assert [r.gate for r in gate.check(_context())] == ["drawdown"]


# -- acceptance 4: each gate alone blocks a plan that passes otherwise ---------------------------
def _settings(tmp_path: Path) -> RiskSettings:
    table = _default_risk_table()
    table["kill_switch_file"] = "KILL"
    return load_risk_section(table, source="test", base_dir=tmp_path)


def _arm_kill_signal(gate: RiskGate, ctx: PlanContext, clock: FakeClock, wall: FakeClock) -> PlanContext:
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        gate.kill_switch.install_signal(signal.SIGUSR1)
        signal.raise_signal(signal.SIGUSR1)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    return ctx


def _arm(action: Callable[[RiskGate, FakeClock, FakeClock], object]) -> Callable[..., PlanContext]:
    def arm(gate: RiskGate, ctx: PlanContext, clock: FakeClock, wall: FakeClock) -> PlanContext:
        action(gate, clock, wall)
        return ctx

    return arm


def _ctx(**changes: object) -> Callable[..., PlanContext]:
    return lambda gate, ctx, clock, wall: dataclasses.replace(ctx, **changes)


def _error_rate(gate: RiskGate, clock: FakeClock, wall: FakeClock) -> None:
    for index in range(10):  # never 3 failures in a row, but 5 of 10
        gate.breakers.record("kalshi", index % 2 == 0)


def _consecutive_failures(gate: RiskGate, clock: FakeClock, wall: FakeClock) -> None:
    for _ in range(3):
        gate.breakers.record("kalshi", False)


def _daily_loss(gate: RiskGate, clock: FakeClock, wall: FakeClock) -> None:
    gate.observe_equity(D(1000))
    gate.observe_equity(D(800))


def _drawdown(gate: RiskGate, clock: FakeClock, wall: FakeClock) -> None:
    for equity in ("1000", "850", "700", "550", "499"):
        gate.observe_equity(D(equity))
        wall.now += 86_400


KELLY_LINK = LinkExposure("KX~pm", "minor_differences", D(100), edge=D("0.05"))  # no probability stated

GATE_CASES: dict[str, tuple[str, Callable[..., PlanContext]]] = {
    "kill file": ("kill_switch", _arm(lambda gate, clock, wall: gate.kill_switch.path.touch())),  # type: ignore[union-attr]
    "kill signal": ("kill_switch", _arm_kill_signal),
    "kill cli": (
        "kill_switch",
        _arm(lambda gate, clock, wall: cli_main(["kill", "--file", str(gate.kill_switch.path)])),
    ),
    "stale book": ("books", _arm(lambda gate, clock, wall: setattr(clock, "now", clock.now + 2.1))),
    "untrusted book": ("books", _ctx(books=(BookStatus("k-A", "kalshi", False, 999.5),))),
    "rate budget": ("rate_budget", _arm(lambda gate, clock, wall: gate.rate.take(int(gate.rate.available()) - 2))),
    "error rate": ("circuit_breaker", _arm(_error_rate)),
    "consecutive failures": (
        "circuit_breaker",
        _arm(_consecutive_failures),
    ),
    "partition": ("partition", _arm(lambda gate, clock, wall: gate.breakers.mark_unreachable("kalshi", "no answer"))),
    "incident": ("incident", _arm(lambda gate, clock, wall: gate.incidents.open("set-1", "leg B stuck"))),
    "cash per venue": ("cash", _ctx(committed_cash_usd={"kalshi": D(991)})),
    "position per contract": ("position", _ctx(holdings={("A", Side.YES): D(491)})),
    "position per set": ("set_position", _ctx(holdings={("B", Side.NO): D(1971)})),
    "open plans": ("open_plans", _ctx(open_plans=4)),
    "link notional": (
        "link_notional",
        _ctx(links=(LinkExposure("KX=pm", "identical_rules", D(10)),), link_notional_usd={"identical_rules": D(4991)}),
    ),
    "unconfigured link class": (
        "link_notional",
        _ctx(links=(LinkExposure("KX?pm", "different_resolution_source", D(1)),)),
    ),
    # configured p = 0.02: f* = 0.98 - 0.02 / 0.05 = 0.58; a quarter of it of $500 is $72.50 < $100
    "kelly cap": ("kelly", _ctx(links=(KELLY_LINK,), bankroll_usd=D(500))),
    "min profit": ("min_profit", _ctx(guaranteed_profit_usd=D("0.04"))),
    "partial fill": (
        "partial_fill",
        _arm(
            lambda gate, clock, wall: setattr(
                gate, "limits", dataclasses.replace(gate.limits, max_partial_fill_loss_usd=D("6.29"))
            )
        ),
    ),
    "daily loss": (
        "daily_loss",
        _arm(_daily_loss),
    ),
    "drawdown": ("drawdown", _arm(_drawdown)),
    "empty plan": ("empty", _ctx(legs=())),
}


@pytest.mark.parametrize("case", sorted(GATE_CASES))
def test_each_gate_alone_blocks_a_plan_that_otherwise_passes(case: str, tmp_path: Path) -> None:
    gate_name, arm = GATE_CASES[case]
    clock, wall = FakeClock(1_000.0), FakeClock(1_765_000_000.0)
    gate = build_risk_gate(_settings(tmp_path), monotonic_s=clock, wall_s=wall)
    # the control: the same plan, with the kelly link at a bankroll that affords it, passes
    ctx = _context(links=(KELLY_LINK,), bankroll_usd=D(1000))
    assert gate.check(ctx) == []
    armed = arm(gate, ctx, clock, wall)
    tokens = gate.rate.available()
    refusals = gate.check(armed)
    assert [r.gate for r in refusals] == [gate_name], refusals
    assert gate.rate.available() == tokens  # a refused plan takes nothing from the budget


def _on_venue(legs: Sequence[FillableLeg], venue: str) -> tuple[FillableLeg, ...]:
    return tuple(dataclasses.replace(leg, leg=dataclasses.replace(leg.leg, venue=venue)) for leg in legs)


def test_partition_halts_every_set_touching_the_unreachable_venue_and_no_other(tmp_path: Path) -> None:
    clock = FakeClock(1_000.0)
    gate = build_risk_gate(_settings(tmp_path), monotonic_s=clock, wall_s=FakeClock(1_765_000_000.0))
    legs = _context().legs
    kalshi_only = _context(set_id="k")
    polymarket_only = _context(set_id="p", legs=_on_venue(legs, "polymarket"), books=())
    mixed = _context(set_id="m", legs=(legs[0], *_on_venue(legs[1:], "polymarket")))
    book_only = _context(set_id="b", books=(BookStatus("pm-A", "polymarket", True, 999.5),))  # reads a pm book
    gate.breakers.mark_unreachable("polymarket", "REST and websocket down")
    for ctx in (polymarket_only, mixed, book_only):
        assert [r.gate for r in gate.check(ctx)] == ["partition"], ctx.set_id
    assert gate.check(kalshi_only) == []
    gate.breakers.mark_reachable("polymarket")
    assert gate.check(polymarket_only) == []


def test_fillable_legs_take_fee_lot_and_tick_from_the_component_listings() -> None:
    kalshi_rule, poly_rule = kalshi_fee(), polymarket_fee(rate=D("0.05"))
    listings = (
        Listing("KX-A:yes", Venue.KALSHI, "KX-A", "A", Side.YES, kalshi_rule, 1_000_000, 1_000, 1_000_000),
        Listing("pm-B:no", Venue.POLYMARKET, "pm-B", "B", Side.NO, poly_rule, 10_000, 10_000, 5_000_000),
    )
    legs = [
        _fillable(
            ("A", "yes", "buy", Fraction(69, 100), Fraction(1), 2, ("kalshi", Fraction(1), 1), False, Fraction(1, 1000))
        ).leg,
        _fillable(
            (
                "B",
                "no",
                "buy",
                Fraction(30, 100),
                Fraction(1, 100),
                500,
                ("poly", Fraction(1, 20), 1),
                False,
                Fraction(1, 100),
            )
        ).leg,
    ]
    legs = [
        dataclasses.replace(legs[0], instrument_id="KX-A:yes"),
        dataclasses.replace(legs[1], instrument_id="pm-B:no"),
    ]
    kalshi_leg, poly_leg = fillable_legs(legs, listings, all_or_none=lambda leg: leg.venue == "polymarket")
    assert (kalshi_leg.fee, kalshi_leg.lot_size, kalshi_leg.tick_usd, kalshi_leg.all_or_none) == (
        kalshi_rule,
        D(1),
        D("0.001"),
        False,
    )
    assert (poly_leg.fee, poly_leg.lot_size, poly_leg.tick_usd, poly_leg.all_or_none) == (
        poly_rule,
        D("0.01"),
        D("0.01"),
        True,
    )
    # the deci-cent Kalshi leg carries its rounding slack, as in the hand-worked case above
    assert worst_partial_fill_loss([kalshi_leg], [{"A": 0}]).loss_usd == D("1.419")
    with pytest.raises(RiskInputError, match="no listing"):
        fillable_legs([dataclasses.replace(legs[0], instrument_id="KX-Z:yes")], listings)


def test_book_status_of_live_ladders_feeds_the_book_gate() -> None:
    yes, no = OrderBook("pm-yes", "pm", "polymarket"), OrderBook("pm-no", "pm", "polymarket")
    snapshot = BookSnapshot(Venue.POLYMARKET, "pm-yes", "pm", (), ((400_000, 10_000_000),))
    yes.apply_snapshot(snapshot, 999_500_000_000)  # ns on the gate's monotonic clock
    statuses = BookStatus.of_book(BinaryBook("pm", yes, no))
    assert statuses[0] == BookStatus("pm-yes", "polymarket", True, 999.5)
    assert statuses[1].book_id == "pm-no" and not statuses[1].trusted and statuses[1].updated_at_s == -math.inf
    gate = BookGate(2000, FakeClock(1_000.0))
    assert gate.check(statuses[:1]) == []
    [refusal] = gate.check(statuses)
    assert refusal.gate == "books" and "pm-no" in refusal.reason
