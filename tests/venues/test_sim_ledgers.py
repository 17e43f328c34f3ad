"""The simulated venues' money: balances and positions enforced as the venues do, fees charged by
each venue's rule, settlement payouts. Driven through the simulators' Python API (no sockets); the
wire shapes of the same refusals and messages are checked against the adapters in
`test_kalshi_sim.py` and `test_polymarket_integration.py`.

Expected fees are computed here from the published rules with `Decimal`, independently of the
simulators' own integer arithmetic."""

from __future__ import annotations

import contextlib
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arb.domain import Action, BookSide, OrderStatus, Side, TimeInForce
from arb.errors import ConfigError
from arb.venues.sim.kalshi import CreateOrderV2, KalshiRefusal, KalshiSimulator, parse_create_order_v2
from arb.venues.sim.polymarket import PolymarketRefusal, PolymarketSimulator
from arb.venues.sim.spec import FeeScheduleSpec, PolymarketMarketSpec

U = 1_000_000  # one contract / share / dollar in micro units
KEY = "acct"
YES, NO = Side.YES, Side.NO
BUY, SELL = Action.BUY, Action.SELL
GTC, IOC = TimeInForce.GTC, TimeInForce.IOC
BID, ASK = BookSide.BID, BookSide.ASK


def usd(text: str) -> int:
    return int(Decimal(text) * U)


_PUBLIC_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()


@pytest.fixture(scope="module")
def public_key() -> rsa.RSAPublicKey:
    return _PUBLIC_KEY


def kalshi(
    public_key: rsa.RSAPublicKey,
    balance: str,
    positions: dict[str, tuple[int, int]] | None = None,
    fee_type: str = "quadratic",
    multiplier: str = "1",
) -> KalshiSimulator:
    sim = KalshiSimulator(seed=3)
    sim.add_series("KXL", "Ledger", fee_type, multiplier)
    sim.add_event("KXL-1", "KXL")
    for ticker in ("KXL-1-A", "KXL-1-B", "KXL-1-C", "KXL-1-D"):
        sim.add_market(ticker, "KXL-1")
    sim.add_account(KEY, public_key, balance_micro_usd=usd(balance), positions=positions)
    return sim


def kalshi_fee(coefficient: str, fills: list[tuple[str, int]]) -> int:
    """The published rule: each fill's coefficient x C x P x (1-P) up to $0.0001, the order's sum up
    to the cent (micro-USD)."""
    total = sum(
        (Decimal(coefficient) * count * Decimal(price) * (1 - Decimal(price))).quantize(
            Decimal("0.0001"), ROUND_CEILING
        )
        for price, count in fills
    )
    return usd(str(Decimal(total).quantize(Decimal("0.01"), ROUND_CEILING)))


# -- Kalshi: balances and positions -----------------------------------------------------------------


def test_kalshi_order_beyond_the_available_balance_is_refused_counting_resting_orders(
    public_key: rsa.RSAPublicKey,
) -> None:
    sim = kalshi(public_key, "10")
    account = sim.accounts[KEY]
    resting, _ = sim.submit(KEY, "KXL-1-A", YES, BUY, 400_000, 20 * U)  # nothing to match: it rests
    # Reserved: 20 x 0.40 plus the worst taker fee, ceil_cent(0.07 x 20 x 0.4 x 0.6) = 0.34.
    assert account.reserved_micro == usd("8.34") and account.available_micro == usd("1.66")
    with pytest.raises(KalshiRefusal) as refused:
        sim.submit(KEY, "KXL-1-B", YES, BUY, 400_000, 4 * U)  # 1.60 + 0.07 = 1.67 > 1.66
    assert (refused.value.status, refused.value.code) == (400, "insufficient_balance")
    assert account.reserved_micro == usd("8.34") and sim.engines["KXL-1-B"].levels(BID) == []  # nothing changed
    sim.submit(KEY, "KXL-1-B", YES, BUY, 400_000, 3 * U)  # 1.20 + 0.06 fits
    sim.cancel(resting.order.order_id)  # a cancel releases the reservation
    assert account.reserved_micro == usd("1.26") and account.cash_micro == usd("10")
    # Buying NO costs its own price: NO at 0.87 is a YES ask at 0.13; 10 x 0.87 + 0.18 fee > 8.74.
    with pytest.raises(KalshiRefusal, match="insufficient balance"):
        sim.submit(KEY, "KXL-1-C", NO, BUY, 870_000, 10 * U)
    sim.submit(KEY, "KXL-1-C", NO, BUY, 870_000, 9 * U)


def test_kalshi_sale_of_contracts_not_held_opens_the_other_side_and_needs_its_cash(
    public_key: rsa.RSAPublicKey,
) -> None:
    sim = kalshi(public_key, "2")
    sim.set_book("KXL-1-A", [(700_000, 50 * U)], [])
    # Kalshi nets YES and NO: selling 10 YES not held is buying 10 NO at 0.30 (3.00 + fee > 2).
    with pytest.raises(KalshiRefusal) as refused:
        sim.submit(KEY, "KXL-1-A", YES, SELL, 700_000, 10 * U, IOC)
    assert refused.value.code == "insufficient_balance"
    with pytest.raises(KalshiRefusal) as refused:
        sim.submit(KEY, "KXL-1-A", YES, SELL, 700_000, 1 * U, IOC, reduce_only=True)
    assert refused.value.code == "reduce_only_violation"
    sim.submit(KEY, "KXL-1-A", YES, SELL, 700_000, 5 * U, IOC)  # 1.50 + fee fits
    position = sim.position(KEY, "KXL-1-A")
    assert (position.position_micro, position.cost_micro) == (-5 * U, usd("1.50"))
    assert sim.accounts[KEY].cash_micro == usd("2") - usd("1.50") - kalshi_fee("0.07", [("0.70", 5)])


def test_kalshi_closing_sales_commit_held_contracts_and_netting_moves_reservations(
    public_key: rsa.RSAPublicKey,
) -> None:
    sim = kalshi(public_key, "5", positions={"KXL-1-B": (10 * U, usd("4"))})
    account = sim.accounts[KEY]
    first, _ = sim.submit(KEY, "KXL-1-B", YES, SELL, 800_000, 10 * U)  # closes all 10 held: fee reserve only
    assert account.reserved_micro == usd("0.12")  # ceil_cent(0.07 x 10 x 0.8 x 0.2)
    # The same contracts cannot back a second sale: this one opens 10 NO at 0.15 (1.50 + 0.09).
    second, _ = sim.submit(KEY, "KXL-1-B", YES, SELL, 850_000, 10 * U)
    assert account.reserved_micro == usd("0.12") + usd("1.59")
    sim.cancel(second.order.order_id)
    # An opening sale at 0.60 rests too; an outside buyer takes it first, so it closes 5 held
    # contracts that the first sale had committed: the first sale now needs cash for 5 NO.
    third, _ = sim.submit(KEY, "KXL-1-B", YES, SELL, 600_000, 5 * U)
    sim.submit("buyer", "KXL-1-B", YES, BUY, 600_000, 5 * U, IOC)
    assert third.order.status is OrderStatus.FILLED and sim.position(KEY, "KXL-1-B").position_micro == 5 * U
    assert account.cash_micro == usd("5") + usd("3")  # 5 x 0.60, makers pay no fee on quadratic series
    assert first.closing_left == 5 * U and first.opening_left == 5 * U
    assert account.reserved_micro == usd("0.12") + 5 * 200_000  # 5 NO at 0.20 each now reserved
    # The first sale fills: it closes the 5 still held and opens 5 NO.
    sim.submit("buyer", "KXL-1-B", YES, BUY, 800_000, 10 * U, IOC)
    position = sim.position(KEY, "KXL-1-B")
    assert (position.position_micro, position.cost_micro) == (-5 * U, usd("1"))
    assert account.cash_micro == usd("8") + 5 * 800_000 - usd("1") and account.reserved_micro == 0
    assert position.realized_pnl_micro == (usd("3") - usd("2")) + (usd("4") - usd("2"))


# -- Kalshi: fees -------------------------------------------------------------------------------------


def test_kalshi_taker_fee_charged_equals_the_fee_rule_with_a_level_filled_in_pieces(
    public_key: rsa.RSAPublicKey,
) -> None:
    sim = kalshi(public_key, "100", multiplier="0.5")
    for owner, size in (("m1", 3), ("m2", 4), ("m3", 7)):  # one level, three resting orders
        sim.submit(owner, "KXL-1-A", YES, SELL, 410_000, size * U)
    sim.submit("m4", "KXL-1-A", YES, SELL, 430_000, 5 * U)
    account = sim.accounts[KEY]
    first, result = sim.submit(KEY, "KXL-1-A", YES, BUY, 430_000, 16 * U, IOC)
    assert [(f.price_micro_usd, f.size_micro) for f in result.fills] == [
        (410_000, 3 * U),
        (410_000, 4 * U),
        (410_000, 7 * U),
        (430_000, 2 * U),
    ]
    expected_first = kalshi_fee("0.035", [("0.41", 3), ("0.41", 4), ("0.41", 7), ("0.43", 2)])
    second, _ = sim.submit(KEY, "KXL-1-A", YES, BUY, 430_000, 3 * U, IOC)
    expected_second = kalshi_fee("0.035", [("0.43", 3)])
    charged = [usd(f["fee_cost"]) for f in sim.fills_of(KEY)]
    assert sum(charged[:4]) == expected_first and charged[4] == expected_second
    assert first.taker_fees.charged_micro == expected_first and second.taker_fees.charged_micro == expected_second
    cost = 14 * 410_000 + 5 * 430_000
    assert account.cash_micro == usd("100") - cost - expected_first - expected_second
    assert sim.position(KEY, "KXL-1-A").fees_micro == expected_first + expected_second


def test_kalshi_maker_fee_is_charged_only_on_maker_fee_series_and_by_its_rule(public_key: rsa.RSAPublicKey) -> None:
    for fee_type, coefficient in (("quadratic", "0"), ("quadratic_with_maker_fees", "0.0175")):
        sim = kalshi(public_key, "100", fee_type=fee_type)
        meta, _ = sim.submit(KEY, "KXL-1-B", YES, BUY, 370_000, 10 * U)
        sim.submit("taker", "KXL-1-B", YES, SELL, 370_000, 4 * U, IOC)
        sim.submit("taker", "KXL-1-B", YES, SELL, 370_000, 6 * U, IOC)
        expected = kalshi_fee(coefficient, [("0.37", 4), ("0.37", 6)]) if coefficient != "0" else 0
        assert meta.maker_fees.charged_micro == expected and meta.taker_fees.charged_micro == 0
        account = sim.accounts[KEY]
        assert account.cash_micro == usd("100") - 10 * 370_000 - expected and account.reserved_micro == 0


# -- Kalshi: settlement ------------------------------------------------------------------------------


def test_kalshi_settlement_pays_yes_no_and_void_and_clears_positions(public_key: rsa.RSAPublicKey) -> None:
    positions = {
        "KXL-1-A": (10 * U, usd("4")),  # YES, settles yes: pays 10
        "KXL-1-B": (-6 * U, usd("3.60")),  # NO, settles yes: pays nothing
        "KXL-1-C": (7 * U, usd("2.10")),  # YES, voided: its cost comes back
        "KXL-1-D": (-4 * U, usd("1.20")),  # NO, settles no: pays 4
    }
    sim = kalshi(public_key, "50", positions=positions)
    account = sim.accounts[KEY]
    resting, _ = sim.submit(KEY, "KXL-1-C", YES, BUY, 200_000, 5 * U)
    sim.set_book("KXL-1-A", [(300_000, 5 * U)], [(600_000, 5 * U)])
    assert account.reserved_micro > 0
    for ticker, result in (("KXL-1-A", "yes"), ("KXL-1-B", "yes"), ("KXL-1-C", "void"), ("KXL-1-D", "no")):
        sim.settle(ticker, result)
    assert account.cash_micro == usd("50") + usd("10") + usd("2.10") + usd("4")
    assert account.reserved_micro == 0 and resting.order.status is OrderStatus.CANCELED
    assert all(p.position_micro == 0 for p in account.positions.values())
    assert sim.engines["KXL-1-A"].snapshot() == ((), ())  # every resting order cancelled, the house's too
    records = {s["ticker"]: s for s in account.settlements}
    assert {t: (s["market_result"], s["revenue"]) for t, s in records.items()} == {
        "KXL-1-A": ("yes", 1000),
        "KXL-1-B": ("yes", 0),
        "KXL-1-C": ("void", 210),
        "KXL-1-D": ("no", 400),
    }
    assert (records["KXL-1-B"]["no_count_fp"], records["KXL-1-B"]["no_total_cost_dollars"]) == ("6.00", "3.600000")
    assert sim.markets["KXL-1-C"].status == "finalized" and sim.markets["KXL-1-C"].result == "void"
    with pytest.raises(KalshiRefusal) as refused:
        sim.submit(KEY, "KXL-1-A", YES, BUY, 500_000, U)
    assert refused.value.code == "market_closed"
    with pytest.raises(ConfigError, match="already finalized"):
        sim.determine("KXL-1-A", "no")


# -- Kalshi: V2 amend, decrease, reduce-only and self-trade prevention ----------------------------------


def v2(
    ticker: str, side: str, count: str, price: str, tif: str = "good_till_canceled", **extra: object
) -> CreateOrderV2:
    body = {"ticker": ticker, "side": side, "count": count, "price": price, "time_in_force": tif}
    return parse_create_order_v2({"self_trade_prevention_type": "taker_at_cross", **body, **extra})


def test_kalshi_amend_and_decrease_take_and_release_the_reservation(public_key: rsa.RSAPublicKey) -> None:
    sim = kalshi(public_key, "10")
    account = sim.accounts[KEY]
    meta, _ = sim.place_v2(KEY, v2("KXL-1-A", "bid", "5", "0.40"))
    # 5 x 0.40 and the worst fee ceil_cent(0.07 x 5 x 0.4 x 0.6) = 0.09.
    assert account.reserved_micro == usd("2.09")
    sim.amend(meta.order.order_id, 500_000, 8 * U)  # 8 x 0.50 + ceil_cent(0.07 x 8 x 0.25) = 0.14
    assert account.reserved_micro == usd("4.14") and meta.order.remaining_micro == 8 * U
    with pytest.raises(KalshiRefusal) as refused:
        sim.amend(meta.order.order_id, 900_000, 20 * U)  # 18.00 + fee: beyond the 10.00
    assert refused.value.code == "insufficient_balance"
    assert account.reserved_micro == usd("4.14") and meta.order.price_micro_usd == 500_000  # nothing changed
    sim.decrease(meta.order.order_id, 3 * U)  # 5 x 0.50 + min(0.14, ceil_cent(0.07 x 5 x 0.25) = 0.09)
    assert account.reserved_micro == usd("2.59") and meta.order.remaining_micro == 5 * U
    sim.decrease(meta.order.order_id, 5 * U)
    assert meta.order.status is OrderStatus.CANCELED and account.reserved_micro == 0
    assert account.available_micro == usd("10")


def test_kalshi_amend_keeps_the_order_id_and_loses_priority_only_when_it_must(public_key: rsa.RSAPublicKey) -> None:
    sim = kalshi(public_key, "100")
    sim.add_account("other", public_key)
    first, _ = sim.place_v2(KEY, v2("KXL-1-A", "bid", "5", "0.40"))
    second, _ = sim.place_v2("other", v2("KXL-1-A", "bid", "5", "0.40"))
    engine = sim.engines["KXL-1-A"]
    order_id = first.order.order_id
    sim.amend(order_id, 400_000, 3 * U)  # smaller at the same price: a decrease, first in line still
    assert [o.order_id for o in engine.queue(BID, 400_000)] == [order_id, second.order.order_id]
    sim.amend(order_id, 400_000, 4 * U)  # larger: to the back of the queue, same id
    assert [o.order_id for o in engine.queue(BID, 400_000)] == [second.order.order_id, order_id]
    sim.submit("house", "KXL-1-A", YES, SELL, 450_000, 2 * U)
    result = sim.amend(order_id, 450_000, 4 * U)  # crosses the 0.45 ask: a taker fill
    assert [(f.size_micro, f.taker_order_id) for f in result.fills] == [(2 * U, order_id)]
    assert (first.order.filled_micro, first.order.remaining_micro) == (2 * U, 2 * U)
    assert sim.position(KEY, "KXL-1-A").position_micro == 2 * U
    assert sim.fills_of(KEY)[-1]["is_taker"] is True


def test_kalshi_a_post_only_order_cannot_be_amended_across_the_book(public_key: rsa.RSAPublicKey) -> None:
    sim = kalshi(public_key, "100")
    sim.submit("house", "KXL-1-A", YES, SELL, 450_000, 2 * U)
    meta, _ = sim.place_v2(KEY, v2("KXL-1-A", "bid", "3", "0.40", post_only=True))
    with pytest.raises(KalshiRefusal) as crossing:
        sim.amend(meta.order.order_id, 450_000, 3 * U)
    assert crossing.value.code == "post_only_cross"
    assert (meta.order.price_micro_usd, meta.order.filled_micro, meta.order.is_open) == (400_000, 0, True)
    sim.amend(meta.order.order_id, 440_000, 3 * U)  # still below the ask: allowed
    assert meta.order.price_micro_usd == 440_000 and meta.order.filled_micro == 0


def test_kalshi_reduce_only_v2_order_is_capped_at_the_position(public_key: rsa.RSAPublicKey) -> None:
    sim = kalshi(public_key, "10", positions={"KXL-1-A": (3 * U, usd("1.20"))})
    sim.submit("house", "KXL-1-A", YES, BUY, 500_000, 10 * U)
    meta, _ = sim.place_v2(KEY, v2("KXL-1-A", "ask", "5", "0.50", "immediate_or_cancel", reduce_only=True))
    assert (meta.order.size_micro, meta.order.filled_micro) == (3 * U, 3 * U)
    assert sim.position(KEY, "KXL-1-A").position_micro == 0
    with pytest.raises(KalshiRefusal) as nothing_to_reduce:
        sim.place_v2(KEY, v2("KXL-1-A", "ask", "1", "0.50", "immediate_or_cancel", reduce_only=True))
    assert nothing_to_reduce.value.code == "invalid_order"
    with pytest.raises(KalshiRefusal) as not_ioc:
        v2("KXL-1-A", "ask", "1", "0.50", reduce_only=True)
    assert not_ioc.value.details == "reduce_only requires immediate_or_cancel"


def test_kalshi_self_trade_prevention_taker_at_cross_and_maker(public_key: rsa.RSAPublicKey) -> None:
    sim = kalshi(public_key, "100")
    sim.submit("house", "KXL-1-A", YES, SELL, 450_000, 2 * U)
    own_ask, _ = sim.place_v2(KEY, v2("KXL-1-A", "ask", "3", "0.46"))
    sim.submit("house", "KXL-1-A", YES, SELL, 470_000, 4 * U)
    # taker_at_cross: fills the house's 2 at 0.45, stops at its own 0.46 ask and cancels its rest.
    taker, result = sim.place_v2(KEY, v2("KXL-1-A", "bid", "6", "0.47"))
    assert [f.size_micro for f in result.fills] == [2 * U]
    assert taker.order.status is OrderStatus.CANCELED and own_ask.order.is_open
    # maker: cancels its own 0.46 ask and matches on into the house's 0.47.
    maker, result = sim.place_v2(KEY, v2("KXL-1-A", "bid", "3", "0.47", self_trade_prevention_type="maker"))
    assert own_ask.order.status is OrderStatus.CANCELED and own_ask.order.filled_micro == 0
    assert [(f.price_micro_usd, f.size_micro) for f in result.fills] == [(470_000, 3 * U)]
    assert maker.order.status is OrderStatus.FILLED
    assert sim.accounts[KEY].reserved_micro == 0
    # A FOK that others' orders cannot fill is killed and cancels none of the owner's own.
    kept, _ = sim.place_v2(KEY, v2("KXL-1-A", "ask", "2", "0.48"))
    sim.submit("house", "KXL-1-A", YES, SELL, 490_000, 1 * U)
    with pytest.raises(KalshiRefusal) as killed:
        sim.place_v2(KEY, v2("KXL-1-A", "bid", "3", "0.49", "fill_or_kill", self_trade_prevention_type="maker"))
    assert killed.value.status == 409 and kept.order.is_open


_PRICES = st.sampled_from(["0.30", "0.45", "0.50", "0.55", "0.70"])
_V2_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("place"), st.sampled_from(["bid", "ask"]), st.integers(1, 6), _PRICES),
        st.tuples(st.just("amend"), st.integers(0, 99), st.integers(1, 6), _PRICES),
        st.tuples(st.just("decrease"), st.integers(0, 99), st.integers(1, 6), _PRICES),
        st.tuples(st.just("cancel"), st.integers(0, 99), st.integers(1, 6), _PRICES),
        st.tuples(st.just("house"), st.sampled_from(["bid", "ask"]), st.integers(1, 6), _PRICES),
    ),
    max_size=40,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_V2_OPS)
def test_kalshi_reservations_always_equal_what_resting_orders_hold(ops: list[tuple[str, Any, int, str]]) -> None:
    """Any sequence of V2 places, amends, decreases, cancels and house orders crossing them: the
    account's reserved cash and committed contracts are exactly what its resting orders hold, never
    beyond its cash, and all of it is free again once nothing rests."""
    sim = kalshi(_PUBLIC_KEY, "20", positions={"KXL-1-A": (4 * U, usd("1.60"))})
    account = sim.accounts[KEY]
    placed: list[str] = []
    for kind, which, count, price in ops:
        micro = usd(price)
        with contextlib.suppress(KalshiRefusal):
            if kind == "place":
                meta, _ = sim.place_v2(KEY, v2("KXL-1-A", which, str(count), price))
                placed.append(meta.order.order_id)
            elif kind == "house":
                sim.submit("house", "KXL-1-A", YES, BUY if which == "bid" else SELL, micro, count * U, IOC)
            elif placed:
                order_id = placed[which % len(placed)]
                if kind == "amend":
                    sim.amend(order_id, micro, count * U)
                elif kind == "decrease":
                    sim.decrease(order_id, count * U)
                else:
                    sim.cancel(order_id)
        holds = list(account.resting.values())
        assert account.reserved_micro == sum(m.opening_left * m.unit_cost_micro // U + m.fee_left_micro for m in holds)
        for key, committed in account.committed.items():
            assert committed == sum(m.closing_left for m in holds if (m.ticker, m.side) == key)
        assert 0 <= account.reserved_micro <= account.cash_micro
    for order_id in placed:
        sim.cancel(order_id)
    assert account.reserved_micro == 0 and not any(account.committed.values())


# -- Polymarket ----------------------------------------------------------------------------------------

CONDITION = "0x" + "ab" * 32
TOKEN_YES, TOKEN_NO = "9001", "9002"
OTHER = "0x" + "cd" * 32


def polymarket(cash: str, positions: dict[str, int] | None = None, rate: str | None = None) -> PolymarketSimulator:
    schedule = None if rate is None else FeeScheduleSpec(rate, exponent=1)
    specs = [
        PolymarketMarketSpec(CONDITION, "Will it?", TOKEN_YES, TOKEN_NO, fee_schedule=schedule),
        PolymarketMarketSpec(OTHER, "Will the other?", "9101", "9102"),
    ]
    sim = PolymarketSimulator(specs, participants=False, seed=2)
    sim.add_account(KEY, "c2VjcmV0", "pass", "0x" + "11" * 20, cash_micro=usd(cash), positions=positions)
    return sim


def polymarket_fee(rate: str, fills: list[tuple[str, int]]) -> list[int]:
    """The published rule per fill: C x rate x P(1-P), floored to 5 decimals (micro-USD)."""
    return [
        usd(
            str(
                (count * Decimal(rate) * Decimal(price) * (1 - Decimal(price))).quantize(
                    Decimal("0.00001"), ROUND_FLOOR
                )
            )
        )
        for price, count in fills
    ]


def test_polymarket_buy_beyond_the_available_cash_is_refused_counting_resting_orders() -> None:
    sim = polymarket("10")
    account = sim.accounts[KEY]
    with pytest.raises(PolymarketRefusal) as refused:
        sim.place(KEY, TOKEN_YES, BID, 400_000, 30 * U)  # 12.00 > 10
    assert refused.value.reason == "not enough balance / allowance"
    assert refused.value.body_json() == {"error": "not enough balance / allowance"}
    first = sim.place(KEY, TOKEN_YES, BID, 400_000, 20 * U)  # 8.00 rests
    assert account.reserved_cash_micro == usd("8") and account.cash_micro == usd("10")
    with pytest.raises(PolymarketRefusal):
        sim.place(KEY, TOKEN_NO, BID, 400_000, 6 * U)  # 2.40 > the 2.00 not reserved
    sim.place(KEY, TOKEN_NO, BID, 400_000, 5 * U)  # 2.00 fits exactly
    sim.settle(OTHER, "yes")  # an unrelated market's resolution changes nothing here
    assert first.is_open and account.reserved_cash_micro == usd("10")


def test_polymarket_sale_of_tokens_not_held_is_refused() -> None:
    sim = polymarket("10", positions={TOKEN_YES: 10 * U})
    with pytest.raises(PolymarketRefusal, match="not enough balance"):
        sim.place(KEY, TOKEN_NO, ASK, 600_000, 5 * U)  # no NO tokens at all
    resting = sim.place(KEY, TOKEN_YES, ASK, 600_000, 8 * U)  # 8 of the 10 held, reserved
    with pytest.raises(PolymarketRefusal, match="not enough balance"):
        sim.place(KEY, TOKEN_YES, ASK, 610_000, 5 * U)  # only 2 free
    sim.take(TOKEN_YES, BID, 600_000, 8 * U)  # someone buys the resting sale
    account = sim.accounts[KEY]
    assert resting.status is OrderStatus.FILLED and account.positions == {TOKEN_YES: 2 * U}
    assert account.cash_micro == usd("10") + 8 * 600_000 and account.reserved_tokens[TOKEN_YES] == 0


def test_polymarket_taker_fee_charged_equals_the_fee_schedule_with_a_level_filled_in_pieces() -> None:
    sim = polymarket("100", rate="0.05")
    for owner, size in (("m1", 5), ("m2", 4), ("m3", 6)):
        sim.take(TOKEN_YES, ASK, 450_000, size * U, GTC, owner=owner)  # three resting sales at one level
    sim.take(TOKEN_YES, ASK, 470_000, 10 * U, GTC, owner="m4")
    order = sim.place(KEY, TOKEN_YES, BID, 470_000, 18 * U, "FAK")
    assert order.filled_micro == 18 * U
    trades = [t for t in sim.trades.values() if t.fill.taker_order_id == order.order_id]
    assert [(t.fill.price_micro_usd, t.fill.size_micro) for t in trades] == [
        (450_000, 5 * U),
        (450_000, 4 * U),
        (450_000, 6 * U),
        (470_000, 3 * U),
    ]
    fees = polymarket_fee("0.05", [("0.45", 5), ("0.45", 4), ("0.45", 6), ("0.47", 3)])
    assert [t.taker_fee_micro for t in trades] == fees
    account = sim.accounts[KEY]
    assert account.cash_micro == usd("100") - (15 * 450_000 + 3 * 470_000) - sum(fees)
    assert account.reserved_cash_micro == 0 and account.positions[TOKEN_YES] == 18 * U
    # A taker sale pays the fee out of its proceeds; the maker on the other side pays none.
    sale = sim.place(KEY, TOKEN_YES, ASK, 300_000, 8 * U)
    before = account.cash_micro
    sim.take(TOKEN_YES, BID, 300_000, 8 * U)
    assert sale.status is OrderStatus.FILLED and account.cash_micro == before + 8 * 300_000
    sim.take(TOKEN_YES, BID, 460_000, 10 * U, GTC, owner="m5")  # below m4's 7 left at 0.47
    before = account.cash_micro
    sim.place(KEY, TOKEN_YES, ASK, 460_000, 10 * U, "FAK")
    assert account.cash_micro == before + 10 * 460_000 - polymarket_fee("0.05", [("0.46", 10)])[0]


def test_polymarket_resolution_pays_yes_no_and_void_and_cancels_resting_orders() -> None:
    sim = polymarket("0", positions={TOKEN_YES: 10 * U, TOKEN_NO: 4 * U, "9101": 6 * U, "9102": 3 * U})
    account = sim.accounts[KEY]
    resting = sim.place(KEY, TOKEN_YES, ASK, 900_000, 5 * U)
    sim.settle(CONDITION, "no")  # NO wins: 4 NO pay $4, the 10 YES nothing
    assert account.cash_micro == usd("4") and resting.status is OrderStatus.CANCELED
    assert TOKEN_YES not in account.positions and TOKEN_NO not in account.positions
    assert account.reserved_tokens.get(TOKEN_YES, 0) == 0
    sim.settle(OTHER, "void")  # 50-50: every share pays $0.50
    assert account.cash_micro == usd("4") + usd("4.50") and account.positions == {}
    assert sim.gamma_market_json(sim.specs[CONDITION])["closed"] is True
    assert [t["winner"] for t in sim.clob_market_json(sim.specs[CONDITION])["tokens"]] == [False, True]
    with pytest.raises(PolymarketRefusal, match="closed"):
        sim.place(KEY, TOKEN_YES, BID, 400_000, 5 * U)
    with pytest.raises(ConfigError, match="already resolved"):
        sim.settle(CONDITION, "yes")
    sim2 = polymarket("0", positions={TOKEN_YES: 7 * U})
    sim2.settle(CONDITION, "yes")
    assert sim2.accounts[KEY].cash_micro == 7 * U
