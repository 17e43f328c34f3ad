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
