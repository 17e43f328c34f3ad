"""Polymarket fills carry the fee the venue charged: its trade messages state a rate, never the
amount, so the user session prices each new fill by the market's fee schedule (takers pay
C x rate x (P(1-P))^exponent floored to $0.00001; makers nothing on a takerOnly market) and checks
the stated rate. The expected amounts here are this file's own Fraction arithmetic."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.domain import Fill, FillStatus, Liquidity, MarketInfo, MarketStatus, PriceBand, Venue
from arb.venues.polymarket import wire
from arb.venues.polymarket.session import PolymarketUserSession
from arb.venues.polymarket.wire import UserContext
from solvers.fees import polymarket_fee
from tests.venues.golden import fixture_path

ME = UserContext.of("3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe", ["0xa3D82Ed56F4c68d2328Fb8c29e568Ba2cAF7d7c8"])
# A real user-socket trade: our BUY 5 Yes at 0.52 took someone's resting SELL (trader_side TAKER).
TAKER_TRADE: dict[str, Any] = orjson.loads(fixture_path("polymarket/ws/nautilus_user_trade2.json").read_bytes())
CONDITION = TAKER_TRADE["market"]
YES_TOKEN = TAKER_TRADE["asset_id"]


def fee_market(rate: str | None, exponent: int = 1, taker_only: bool = True) -> MarketInfo:
    """The capture's market with a fee schedule (rate None: the schedule is unknown)."""
    taker = None if rate is None else polymarket_fee(rate=Decimal(rate), exponent=exponent)
    maker = None if rate is None else polymarket_fee(rate=Decimal(rate), exponent=exponent, maker=taker_only)
    return MarketInfo(
        Venue.POLYMARKET,
        CONDITION,
        "",
        "Will it?",
        "",
        "",
        MarketStatus.OPEN,
        None,
        None,
        None,
        (PriceBand(10_000, 990_000, 10_000),),
        5_000_000,
        True,
        10_000,
        taker,
        maker,
        token_ids=(YES_TOKEN, "1" + YES_TOKEN[1:]),
    )


def trade(**changes: Any) -> dict[str, Any]:
    out = dict(TAKER_TRADE, **changes)
    out["maker_orders"] = [dict(m) for m in TAKER_TRADE["maker_orders"]]
    return out


def expected_fee_micro(rate: str, exponent: int, price: str, size: str) -> int:
    """C x rate x (P(1-P))^exponent in dollars, floored to $0.00001, as micro-USD."""
    p = Fraction(price)
    dollars = Fraction(size) * Fraction(rate) * (p * (1 - p)) ** exponent
    hundred_thousandths = dollars.numerator * 100_000 // dollars.denominator
    return hundred_thousandths * 10


def session_with(market: MarketInfo) -> PolymarketUserSession:
    session = PolymarketUserSession(ME)
    session.add_markets([market])
    return session


def only_fill(session: PolymarketUserSession, message: dict[str, Any]) -> Fill:
    (fill,) = session.receive(orjson.dumps(message), 1)
    assert isinstance(fill, Fill)
    return fill


def test_a_taker_fill_on_a_fee_charging_market_carries_the_exact_fee() -> None:
    """Before: fee_micro_usd None (counted as 0 by the ledger, so its cash exceeded the venue's)."""
    session = session_with(fee_market("0.05"))
    message = trade(price="0.53", size="7.31", fee_rate_bps="500")
    fill = only_fill(session, message)
    assert fill.liquidity is Liquidity.TAKER
    # 7.31 x 0.05 x 0.53 x 0.47 = $0.09104605, floored to $0.09104
    assert fill.fee_micro_usd == expected_fee_micro("0.05", 1, "0.53", "7.31") == 91_040
    # later statuses of the same match keep its fee; the REST query's copy is the same fill
    (confirmed,) = session.receive(orjson.dumps(dict(message, status="CONFIRMED")), 2)
    assert isinstance(confirmed, Fill) and confirmed.fee_micro_usd == 91_040
    rest = PolymarketUserSession(ME)
    rest.add_markets([fee_market("0.05")])
    (from_rest,) = rest.apply_fills(wire.decode_trades_page([message], ME).items)
    assert from_rest.fee_micro_usd == 91_040
    assert session.stats.fees_unknown == 0


def test_a_maker_fill_pays_nothing_on_a_taker_only_market() -> None:
    """Our resting order was the maker (`maker_orders`, ours): no fee where takers only pay."""
    message = trade(trader_side="MAKER", price="0.53", size="7.31", fee_rate_bps="500")
    message["maker_orders"][0].update(owner=ME.api_key, matched_amount="7.31", price="0.53")
    fill = only_fill(session_with(fee_market("0.05")), message)
    assert fill.liquidity is Liquidity.MAKER and fill.fee_micro_usd == 0


def test_a_rate_that_is_not_the_markets_schedule_leaves_the_fee_unknown_with_a_diagnostic() -> None:
    """The trade says 0 bps (the capture's own value) on a market whose schedule charges 5%: which
    one the venue applied is not known, so the fill is recorded without a fee, never guessed."""
    session = session_with(fee_market("0.05"))
    fill = only_fill(session, trade())
    assert fill.fee_micro_usd is None and fill.size_micro == 5_000_000
    assert session.stats.fees_unknown == 1 and session.stats.fee_rate_mismatches == 1
    (record,) = session.recent_errors
    assert "states 0 bps, the market's schedule 500" in record.message and fill.fill_id in record.message
    # makers on a market where they pay too: the capture's maker entry states 0 bps: unknown
    maker_message = trade(trader_side="MAKER")
    maker_message["maker_orders"][0].update(owner=ME.api_key)
    maker = only_fill(session_with(fee_market("0.05", taker_only=False)), maker_message)
    assert maker.liquidity is Liquidity.MAKER and maker.fee_micro_usd is None


def test_a_fill_in_a_market_without_a_known_schedule_keeps_its_fee_unknown() -> None:
    for session in (PolymarketUserSession(ME), session_with(fee_market(None))):
        fill = only_fill(session, trade(fee_rate_bps="500"))
        assert fill.fee_micro_usd is None and fill.status is FillStatus.MATCHED
        assert session.stats.fees_unknown == 1 and session.stats.fee_rate_mismatches == 0
    # a fee-free market: exactly zero, known
    fill = only_fill(session_with(fee_market("0")), trade())
    assert fill.fee_micro_usd == 0


def test_a_schedule_learned_later_is_not_replaced_by_an_unknown_one() -> None:
    session = session_with(fee_market("0.05"))
    session.add_markets([fee_market(None)])  # the same market read from the CLOB: no schedule
    assert only_fill(session, trade(fee_rate_bps="500")).fee_micro_usd == expected_fee_micro("0.05", 1, "0.52", "5")


@settings(max_examples=150, deadline=None)
@given(
    price_cents=st.integers(1, 99),
    size_hundredths=st.integers(1, 10_000_000),
    rate_bps=st.integers(0, 1000),
    exponent=st.integers(1, 4),
)
def test_the_fee_matches_the_formula_for_any_price_size_rate_and_exponent(
    price_cents: int, size_hundredths: int, rate_bps: int, exponent: int
) -> None:
    rate, price, size = f"{rate_bps / 10_000:.4f}", f"0.{price_cents:02d}", f"{size_hundredths / 100:.2f}"
    session = session_with(fee_market(rate, exponent))
    fill = only_fill(session, trade(price=price, size=size, fee_rate_bps=str(rate_bps)))
    assert fill.fee_micro_usd == expected_fee_micro(rate, exponent, price, size)
