"""Fee rules reproduce the venues' worked examples and rounding rules (docs/venues.md#kalshi-fees, docs/venues.md#polymarket-fees)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solvers import DataError, FeeRule, Rounding, kalshi_fee, polymarket_fee

D = Decimal


@pytest.mark.parametrize(
    ("quantity", "price", "expected"),
    [
        ("1", "0.50", "0.02"),  # 0.0175 rounds up to the cent
        ("100", "0.50", "1.75"),
        ("10", "0.30", "0.15"),  # 0.147
        ("1", "0.01", "0.01"),  # 0.000693 still costs a cent
        ("3", "0.99", "0.01"),
    ],
)
def test_kalshi_taker_worked_examples(quantity: str, price: str, expected: str) -> None:
    assert kalshi_fee().order_fee([(D(price), D(quantity))]) == D(expected)


def test_kalshi_multiplier_scales_the_coefficient() -> None:
    half = kalshi_fee(multiplier=D("0.5"))
    assert half.order_fee([(D("0.50"), D(100))]) == D("0.88")  # 0.875 up to the cent
    assert kalshi_fee(multiplier=D(0)).order_fee([(D("0.50"), D(100))]) == D(0)


def test_kalshi_maker_variants_by_fee_type() -> None:
    fills = [(D("0.50"), D(100))]
    assert kalshi_fee(fee_type="quadratic", maker=True).order_fee(fills) == D(0)
    assert kalshi_fee(fee_type="quadratic_with_maker_fees", maker=True).order_fee(fills) == D("0.44")  # 0.4375
    assert kalshi_fee(fee_type="quadratic_with_combo_maker_fees", maker=True).order_fee(fills) == D("0.88")
    with pytest.raises(DataError, match="fee_type"):
        kalshi_fee(fee_type="banana", maker=True)


def test_kalshi_rounds_each_fill_to_a_centicent_then_the_order_to_the_cent() -> None:
    rule = kalshi_fee()
    # two fills of 1 @ 0.30: 0.0147 each; the per-order accumulator charges 0.03, not 2 x 0.02
    assert rule.order_fee([(D("0.30"), D(1)), (D("0.30"), D(1))]) == D("0.03")
    assert rule.fill_fee(D("0.30"), D(1)) == D("0.0147")
    # fills 0.00693... round up to 0.0070 each before summing
    assert rule.fill_fee(D("0.01"), D(1)) == D("0.0007")


def test_kalshi_direct_member_precision() -> None:
    direct = kalshi_fee(balance_precision_usd=D("0.0001"))
    assert direct.order_fee([(D("0.50"), D(1))]) == D("0.0175")
    assert direct.order_fee([(D("0.30"), D(1)), (D("0.30"), D(1))]) == D("0.0294")


def test_polymarket_worked_example_and_floor_to_five_decimals() -> None:
    rule = polymarket_fee(rate=D("0.04"))
    assert rule.order_fee([(D("0.50"), D(100))]) == D("1.00000")
    # 0.05 x 7 x 0.33 x 0.67 = 0.077385 -> floored to 0.07738
    assert polymarket_fee(rate=D("0.05")).order_fee([(D("0.33"), D(7))]) == D("0.07738")
    assert polymarket_fee(rate=D("0.04"), maker=True).order_fee([(D("0.50"), D(100))]) == D(0)


def test_polymarket_exponent_two_crypto_schedule() -> None:
    rule = polymarket_fee(rate=D("0.25"), exponent=2)
    # 0.25 x 100 x (0.25)^2 = 1.5625
    assert rule.order_fee([(D("0.50"), D(100))]) == D("1.56250")


def test_unit_rate_is_the_unrounded_linear_fee() -> None:
    assert kalshi_fee().unit_rate(0.5) == pytest.approx(0.0175)
    assert polymarket_fee(rate=D("0.04")).unit_rate(0.2) == pytest.approx(0.04 * 0.16)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"coefficient": D("NaN")},
        {"coefficient": D("-0.07")},
        {"coefficient": 0.07},
        {"coefficient": D("0.07"), "exponent": 0},
        {"coefficient": D("0.07"), "exponent": 1.5},
        {"coefficient": D("0.07"), "order_increment_usd": D(0)},
    ],
)
def test_invalid_fee_rules_are_rejected(kwargs) -> None:
    with pytest.raises(DataError):
        FeeRule(**kwargs)


prices = st.integers(1, 99).map(lambda c: D(c) / 100)
quantities = st.integers(1, 10_000).map(D)


@given(price=prices, quantity=quantities)
def test_rounded_fee_brackets_the_linear_fee(price: Decimal, quantity: Decimal) -> None:
    """Kalshi's rounding never charges less than the exact fee nor more than one fill and one order
    increment above it; the LP's capital reserve relies on that bound."""
    rule = kalshi_fee()
    exact = D("0.07") * quantity * price * (1 - price)
    fee = rule.order_fee([(price, quantity)])
    assert rule.fill_increment_usd is not None and rule.order_increment_usd is not None
    assert exact <= fee < exact + rule.fill_increment_usd + rule.order_increment_usd
    floor = FeeRule(coefficient=D("0.04"), fill_increment_usd=D("0.00001"), fill_rounding=Rounding.DOWN)
    exact_poly = D("0.04") * quantity * price * (1 - price)
    assert exact_poly - D("0.00001") < floor.order_fee([(price, quantity)]) <= exact_poly


@pytest.mark.parametrize(
    ("limit", "buy", "lot", "lots", "tick", "expected"),
    [
        ("0.69", True, "1", 2, "0.001", "0.009"),  # deci-cent: a cent less gcd(0.001, 0.01)
        ("0.69", True, "1", 2, "0.01", "0"),  # whole-cent ticks of whole contracts: the saving pays it
        ("0.69", True, "0.01", 2, "0.01", "0.0099"),  # fractional lots save $0.0001 a tick
        ("0.69", True, "1", 2, None, "0.02"),  # tick unknown: ceil(2 x 0.0001) to the cent, plus a cent
        ("0.695", True, "1", 2, "0.01", "0.02"),  # a limit off its tick is priced as an unknown tick
        ("0.50", True, "1", 2, "0.001", "0"),  # a buy at or below 1/2: better prices lower the fee
        ("0.31", False, "1", 2, "0.001", "0.009"),  # the mirror image: a sale below 1/2
        ("0.69", False, "1", 2, "0.001", "0"),
        ("0.69", True, "1", 0, "0.001", "0"),
    ],
)
def test_better_price_slack_follows_the_proven_cap(
    limit: str, buy: bool, lot: str, lots: int, tick: str | None, expected: str
) -> None:
    slack = kalshi_fee().better_price_slack(
        D(limit), buy=buy, lot=D(lot), lots=lots, tick=None if tick is None else D(tick)
    )
    assert slack == D(expected)


def test_better_price_slack_of_a_floored_fee_and_of_rules_it_cannot_bound() -> None:
    poly = polymarket_fee(rate=D("0.25"), exponent=2)
    assert poly.better_price_slack(D("0.69"), buy=True, lot=D("0.01"), lots=3, tick=D("0.001")) == 0
    # a lot whose tick value is off the fill increment's grid: one more increment in all
    assert poly.better_price_slack(D("0.69"), buy=True, lot=D("0.001"), lots=3, tick=D("0.001")) == D("0.00001")
    steep = FeeRule(coefficient=D("1.5"), order_increment_usd=D("0.01"))
    nearest = FeeRule(coefficient=D("0.07"), order_increment_usd=D("0.01"), order_rounding=Rounding.NEAREST)
    for rule, message in ((steep, "too steep"), (nearest, "nearest")):
        assert rule.better_price_bound_failure() is not None
        with pytest.raises(DataError, match=message):
            rule.better_price_slack(D("0.69"), buy=True, lot=D(1), lots=2, tick=D("0.01"))
        assert rule.better_price_slack(D("0.40"), buy=True, lot=D(1), lots=2, tick=D("0.01")) == 0


def test_worst_fee_at_or_better_adds_the_cap_at_the_orders_limit() -> None:
    rule = kalshi_fee()
    levels = [(D("0.45"), D(1)), (D("0.69"), D(2))]
    at_levels = rule.worst_order_fee(levels, D(1))  # 0.0174 + 2 x 0.0150 -> $0.05
    assert at_levels == D("0.05")
    assert rule.worst_fee_at_or_better(levels, buy=True, lot=D(1), tick=D("0.001")) == D("0.059")
    assert rule.worst_fee_at_or_better(levels[:1], buy=True, lot=D(1), tick=D("0.001")) == D("0.02")
    # a sale's limit is its lowest price: 0.45 < 1/2, so the cap applies
    assert rule.worst_fee_at_or_better(levels, buy=False, lot=D(1), tick=D("0.001")) == D("0.059")
    assert rule.worst_fee_at_or_better([], buy=True, lot=D(1), tick=D("0.001")) == 0
    with pytest.raises(DataError, match="whole number of lots"):
        rule.worst_fee_at_or_better([(D("0.69"), D("1.5"))], buy=True, lot=D(1), tick=D("0.001"))
