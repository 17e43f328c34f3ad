"""Kalshi V2 event-order wire: the pure encoders and decoders of `arb.venues.kalshi.wire`.

Every encoded body is checked two ways: against an exact expected dict written out here, and by the
official SDK's own request model (kalshi-python-sync 3.34 `CreateOrderV2Request` and friends, strict
pydantic models) when that SDK is importable. Answers are checked against the SDK's response models
the same way, so the decoders read what the SDK itself accepts."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.domain import Action, BookSide, Fill, OrderRequest, OrderStatus, Side, TimeInForce
from arb.errors import ConfigError, FieldError, OrderRejectedError
from arb.fixed import SCALE
from arb.venues.kalshi import wire


def _sdk_model(name: str) -> Any:
    """The SDK's model class, or skip the test when the SDK is not installed (it needs Python 3.13)."""
    try:
        models = importlib.import_module("kalshi_python_sync.models")
    except ImportError:
        pytest.skip("kalshi-python-sync is not importable here")
    return getattr(models, name)


def _request(
    outcome: Side,
    action: Action,
    price: int,
    size: int,
    tif: TimeInForce = TimeInForce.IOC,
    **extra: Any,
) -> OrderRequest:
    return OrderRequest("cid-1", "KXM-26-A", outcome, action, price, size, tif, **extra)


@pytest.mark.parametrize(
    ("outcome", "action", "price", "side", "yes_price"),
    [
        (Side.YES, Action.BUY, 420_000, "bid", "0.4200"),
        (Side.YES, Action.SELL, 420_000, "ask", "0.4200"),
        (Side.NO, Action.BUY, 425_000, "ask", "0.5750"),
        (Side.NO, Action.SELL, 425_000, "bid", "0.5750"),
    ],
)
def test_create_body_maps_each_direction_onto_the_yes_book(
    outcome: Side, action: Action, price: int, side: str, yes_price: str
) -> None:
    body = wire.create_order_v2_body(_request(outcome, action, price, 12_340_000))
    assert body == {
        "ticker": "KXM-26-A",
        "client_order_id": "cid-1",
        "side": side,
        "count": "12.34",
        "price": yes_price,
        "time_in_force": "immediate_or_cancel",
        "self_trade_prevention_type": "taker_at_cross",
    }
    model = _sdk_model("CreateOrderV2Request")
    parsed = model.model_validate(body)
    assert parsed.to_dict() == body  # nothing dropped or renamed by the SDK's model


def test_create_body_gtd_post_only_fok_gtc_and_shard() -> None:
    gtd = wire.create_order_v2_body(
        _request(
            Side.YES, Action.BUY, 100_000, 2_000_000, TimeInForce.GTD, expiration_ms=1_700_000_000_001, post_only=True
        ),
        self_trade_prevention_type="maker",
        exchange_index=3,
    )
    assert gtd == {
        "ticker": "KXM-26-A",
        "client_order_id": "cid-1",
        "side": "bid",
        "count": "2.00",
        "price": "0.1000",
        "time_in_force": "good_till_canceled",
        "expiration_time": 1_700_000_001,  # rounded up: never expires early
        "self_trade_prevention_type": "maker",
        "post_only": True,
        "exchange_index": 3,
    }
    fok = wire.create_order_v2_body(_request(Side.YES, Action.BUY, 990_000, 1_000_000, TimeInForce.FOK))
    gtc = wire.create_order_v2_body(_request(Side.YES, Action.BUY, 10_000, 1_000_000, TimeInForce.GTC))
    assert (fok["time_in_force"], gtc["time_in_force"]) == ("fill_or_kill", "good_till_canceled")
    model = _sdk_model("CreateOrderV2Request")
    for body in (gtd, fok, gtc):
        assert model.model_validate(body).to_dict() == body
    batch = _sdk_model("BatchCreateOrdersV2Request").model_validate({"orders": [gtd, fok, gtc]})
    assert len(batch.orders) == 3


def test_create_body_refuses_what_the_venue_would_refuse() -> None:
    with pytest.raises(OrderRejectedError, match="more than 4 decimals"):
        wire.create_order_v2_body(_request(Side.YES, Action.BUY, 123_456, 1_000_000))
    with pytest.raises(OrderRejectedError, match="outside"):
        wire.create_order_v2_body(_request(Side.NO, Action.BUY, SCALE, 1_000_000))
    with pytest.raises(OrderRejectedError, match=r"multiple of 0\.01"):
        wire.create_order_v2_body(_request(Side.YES, Action.BUY, 500_000, 1_234))
    with pytest.raises(OrderRejectedError, match="whole contracts only") as caught:
        wire.create_order_v2_body(_request(Side.YES, Action.BUY, 500_000, 2_500_000), fractional=False)
    assert "2.50" in caught.value.reason
    # a market with fractional trading, or one not known here, takes the 0.01 grid
    for fractional in (True, None):
        body = wire.create_order_v2_body(_request(Side.YES, Action.BUY, 500_000, 2_500_000), fractional=fractional)
        assert body["count"] == "2.50"
    with pytest.raises(OrderRejectedError, match="expiration_ms"):
        wire.create_order_v2_body(_request(Side.YES, Action.BUY, 500_000, 1_000_000, TimeInForce.GTD))
    with pytest.raises(OrderRejectedError, match="client_order_id"):
        wire.create_order_v2_body(OrderRequest("", "M", Side.YES, Action.BUY, 500_000, 1_000_000, TimeInForce.GTC))
    with pytest.raises(ConfigError, match="self_trade_prevention_type"):
        wire.create_order_v2_body(_request(Side.YES, Action.BUY, 500_000, 1_000_000), self_trade_prevention_type="x")


@given(
    outcome=st.sampled_from(Side),
    action=st.sampled_from(Action),
    price_steps=st.integers(1, 9_999),
    lots=st.integers(1, 10**6),
)
def test_book_order_round_trips_the_outcome_price(outcome: Side, action: Action, price_steps: int, lots: int) -> None:
    """Property: the (book side, YES price) sent states exactly the exposure and price asked for."""
    price = price_steps * 100
    body = wire.create_order_v2_body(_request(outcome, action, price, lots * 10_000))
    yes_price = round(float(body["price"]) * SCALE)
    exposure_yes = (outcome is Side.YES) == (action is Action.BUY)
    assert body["side"] == ("bid" if exposure_yes else "ask")
    assert (yes_price if outcome is Side.YES else SCALE - yes_price) == price
    assert body["count"] == f"{lots // 100}.{lots % 100:02d}"


def test_amend_decrease_and_batch_cancel_bodies() -> None:
    amend = wire.amend_order_v2_body(
        market_id="KXM-26-A",
        outcome=Side.NO,
        action=Action.BUY,
        price_micro_usd=300_000,
        size_micro=5_000_000,
        client_order_id="cid-1",
        updated_client_order_id="cid-1b",
        expiration_ms=0,
    )
    assert amend == {
        "ticker": "KXM-26-A",
        "side": "ask",
        "price": "0.7000",
        "count": "5.00",
        "client_order_id": "cid-1",
        "updated_client_order_id": "cid-1b",
        "expiration_time": 0,
    }
    by = wire.decrease_order_v2_body(reduce_by_micro=1_500_000, market_id="KXM-26-A")
    to = wire.decrease_order_v2_body(reduce_to_micro=0)
    assert by == {"reduce_by": "1.50", "market_ticker": "KXM-26-A"} and to == {"reduce_to": "0.00"}
    with pytest.raises(ConfigError):
        wire.decrease_order_v2_body(reduce_by_micro=1, reduce_to_micro=1)
    with pytest.raises(OrderRejectedError, match="whole contracts"):
        wire.decrease_order_v2_body(reduce_by_micro=1_500_000, fractional=False)
    cancel = wire.batch_cancel_v2_body([("o1", "KXM-26-A"), ("o2", "")])
    assert cancel == {"orders": [{"order_id": "o1", "market_ticker": "KXM-26-A"}, {"order_id": "o2"}]}
    assert _sdk_model("AmendOrderV2Request").model_validate(amend).to_dict() == amend
    assert _sdk_model("DecreaseOrderV2Request").model_validate(by).to_dict() == by
    assert _sdk_model("DecreaseOrderV2Request").model_validate(to).to_dict() == to
    assert _sdk_model("BatchCancelOrdersV2Request").model_validate(cancel).to_dict() == cancel


CREATE_ANSWER = {
    "order_id": "ord-1",
    "client_order_id": "cid-1",
    "fill_count": "4.00",
    "remaining_count": "6.00",
    "average_fill_price": "0.4150",
    "average_fee_paid": "0.0175",
    "ts_ms": 1_767_225_600_123,
}


def test_decode_v2_answers_as_the_sdk_reads_them() -> None:
    ack = wire.decode_order_ack(CREATE_ANSWER, "create")
    assert ack == wire.OrderAck(
        order_id="ord-1",
        client_order_id="cid-1",
        remaining_micro=6_000_000,
        fill_hint_micro=4_000_000,
        average_fill_price_micro_usd=415_000,
        average_fee_micro_usd=17_500,
        exchange_ts_ms=1_767_225_600_123,
    )
    _sdk_model("CreateOrderV2Response").model_validate(CREATE_ANSWER)
    cancel = {"order_id": "ord-1", "client_order_id": "cid-1", "reduced_by": "6.00", "ts_ms": 5}
    _sdk_model("CancelOrderV2Response").model_validate(cancel)
    assert wire.decode_order_ack(cancel, "cancel").reduced_by_micro == 6_000_000
    decrease = {"order_id": "ord-1", "remaining_count": "2.50", "ts_ms": 6}
    _sdk_model("DecreaseOrderV2Response").model_validate(decrease)
    assert wire.decode_order_ack(decrease, "decrease").remaining_micro == 2_500_000
    amend = {"order_id": "ord-1", "remaining_count": "3.00", "fill_count": "0.00", "ts_ms": 7}
    _sdk_model("AmendOrderV2Response").model_validate(amend)
    assert wire.decode_order_ack(amend, "amend").fill_hint_micro == 0
    batch = {
        "orders": [
            CREATE_ANSWER,
            {"client_order_id": "cid-2", "error": {"code": "invalid_parameters", "message": "price off tick"}},
        ]
    }
    _sdk_model("BatchCreateOrdersV2Response").model_validate(batch)
    first, refused = wire.decode_order_acks(batch, "create")
    assert first.order_id == "ord-1" and first.refusal is None
    assert (refused.order_id, refused.client_order_id, refused.refusal) == (
        "",
        "cid-2",
        wire.VenueRefusal("invalid_parameters", "price off tick"),
    )
    with pytest.raises(FieldError) as caught:
        wire.decode_order_ack({"order_id": "o", "remaining_count": "1.00"}, "create")
    assert caught.value.field == "body.fill_count"


def test_error_response_decoding() -> None:
    assert wire.decode_error({"error": {"code": "insufficient_balance", "message": "not enough"}}) == wire.VenueRefusal(
        "insufficient_balance", "not enough"
    )
    assert wire.decode_error({"code": "c", "message": "m", "details": "d"}).text == "c: m: d"  # type: ignore[union-attr]
    assert wire.decode_error({"error": "plain"}) == wire.VenueRefusal("", "plain")
    assert wire.decode_error([1]) is None and wire.decode_error({"orders": []}) is None


@pytest.mark.parametrize(
    ("tif", "size", "answer", "status", "remaining"),
    [
        (TimeInForce.IOC, 10_000_000, {"fill_count": "4.00", "remaining_count": "6.00"}, OrderStatus.CANCELED, 0),
        (TimeInForce.IOC, 4_000_000, {"fill_count": "4.00", "remaining_count": "0.00"}, OrderStatus.FILLED, 0),
        (TimeInForce.FOK, 4_000_000, {"fill_count": "0.00", "remaining_count": "0.00"}, OrderStatus.CANCELED, 0),
        (TimeInForce.GTC, 10_000_000, {"fill_count": "4.00", "remaining_count": "6.00"}, OrderStatus.OPEN, 6_000_000),
        (TimeInForce.GTC, 10_000_000, {"fill_count": "10.00", "remaining_count": "0.00"}, OrderStatus.FILLED, 0),
        (TimeInForce.GTC, 10_000_000, {"fill_count": "0.00", "remaining_count": "0.00"}, OrderStatus.CANCELED, 0),
    ],
)
def test_created_order_state_keeps_the_fill_count_a_hint(
    tif: TimeInForce, size: int, answer: dict[str, str], status: OrderStatus, remaining: int
) -> None:
    request = _request(Side.YES, Action.BUY, 420_000, size, tif)
    ack = wire.decode_order_ack({"order_id": "o", "ts_ms": 1, **answer}, "create")
    update = wire.order_from_ack(ack, request)
    assert (update.status, update.remaining_size_micro) == (status, remaining)
    # the answer's fill_count is exposed as a hint only: the filled size stays unknown until fills arrive
    assert update.filled_size_micro is None and update.fill_hint_micro == ack.fill_hint_micro
    assert (update.client_order_id, update.outcome, update.action, update.price_micro_usd) == (
        "cid-1",
        Side.YES,
        Action.BUY,
        420_000,
    )


@pytest.mark.parametrize(
    ("outcome", "action", "price", "stated"),
    [
        (Side.YES, Action.BUY, 420_000, (Side.YES, Action.BUY, 420_000)),
        (Side.YES, Action.SELL, 420_000, (Side.YES, Action.SELL, 420_000)),
        (Side.NO, Action.BUY, 420_000, (Side.YES, Action.SELL, 580_000)),
        (Side.NO, Action.SELL, 420_000, (Side.YES, Action.BUY, 580_000)),
    ],
)
def test_sent_orders_are_stated_as_the_venue_records_them(
    outcome: Side, action: Action, price: int, stated: tuple[Side, Action, int]
) -> None:
    request = _request(outcome, action, price, 1_000_000, TimeInForce.GTC)
    ack = wire.decode_order_ack({"order_id": "o", "fill_count": "0", "remaining_count": "1"}, "create")
    unknown = wire.sent_order_update(request, OrderStatus.UNKNOWN)
    for update in (wire.order_from_ack(ack, request), unknown):
        assert (update.outcome, update.action, update.price_micro_usd) == stated


def _sdk_fill() -> dict[str, Any]:
    return {
        "fill_id": "f1",
        "trade_id": "f1",
        "exchange_index": 2,
        "order_id": "o1",
        "ticker": "M",
        "market_ticker": "M",
        "outcome_side": "no",
        "book_side": "ask",
        "count_fp": "3.00",
        "yes_price_dollars": "0.4100",
        "no_price_dollars": "0.5900",
        "is_taker": True,
        "fee_cost": "0.0200",
        "created_time": "2026-06-01T00:00:01.250Z",
    }


def test_current_fill_order_position_read_outcome_and_book_side_first() -> None:
    fill = _sdk_fill()
    _sdk_model("Fill").model_validate(fill)
    [decoded] = wire.decode_fills_page({"fills": [fill]})[0]
    assert isinstance(decoded, Fill)
    # no deprecated side/action: stated on the YES contract (ask = sell YES at the YES price)
    assert (decoded.outcome, decoded.action, decoded.price_micro_usd, decoded.exchange_index) == (
        Side.YES,
        Action.SELL,
        410_000,
        2,
    )
    # the deprecated fields never change the shape of a record with the current ones: one order,
    # one shape on every path (as "buy NO at 0.59" or as "sell YES at 0.41", it is stated the latter way)
    legacy_too = wire.decode_fill({**fill, "side": "no", "action": "buy"})
    assert (legacy_too.outcome, legacy_too.action, legacy_too.price_micro_usd) == (Side.YES, Action.SELL, 410_000)
    # contradicting deprecated fields lose to the current ones
    stale = wire.decode_fill({**fill, "side": "yes", "action": "buy"})
    assert (stale.outcome, stale.action) == (Side.YES, Action.SELL)
    with pytest.raises(FieldError) as caught:
        wire.decode_fill({**fill, "book_side": "bid"})
    assert caught.value.field == "fill.book_side"
    order = {
        "order_id": "o1",
        "user_id": "u",
        "client_order_id": "c1",
        "ticker": "M",
        "outcome_side": "yes",
        "book_side": "bid",
        "type": "limit",
        "status": "resting",
        "yes_price_dollars": "0.3500",
        "no_price_dollars": "0.6500",
        "fill_count_fp": "1.50",
        "remaining_count_fp": "2.50",
        "initial_count_fp": "4.00",
        "taker_fill_cost_dollars": "0.0000",
        "maker_fill_cost_dollars": "0.5250",
        "taker_fees_dollars": "0.0000",
        "maker_fees_dollars": "0.0100",
        "exchange_index": 1,
    }
    _sdk_model("Order").model_validate(order)
    decoded_order = wire.decode_order_response({"order": order})
    assert (decoded_order.outcome, decoded_order.action, decoded_order.price_micro_usd) == (
        Side.YES,
        Action.BUY,
        350_000,
    )
    assert (decoded_order.filled_size_micro, decoded_order.remaining_size_micro, decoded_order.exchange_index) == (
        1_500_000,
        2_500_000,
        1,
    )
    position = {
        "ticker": "M",
        "exchange_index": 1,
        "total_traded_dollars": "1.0000",
        "position_fp": "-2.50",
        "market_exposure_dollars": "1.2500",
        "realized_pnl_dollars": "0.0000",
        "fees_paid_dollars": "0.0200",
        "last_updated_ts": "2026-06-01T00:00:02Z",
    }
    _sdk_model("MarketPosition").model_validate(position)
    [pos], _ = wire.decode_positions_page({"market_positions": [position], "event_positions": []})
    assert (pos.position_micro, pos.cost_micro_usd, pos.exchange_index) == (-2_500_000, 1_250_000, 1)


def test_ws_fill_and_user_order_with_outcome_and_book_side() -> None:
    [fill] = wire.decode_ws_message(
        {
            "type": "fill",
            "sid": 13,
            "msg": {
                "trade_id": "t1",
                "order_id": "o1",
                "market_ticker": "M",
                "exchange_index": 0,
                "is_taker": False,
                "outcome_side": "yes",
                "book_side": "bid",
                "yes_price_dollars": "0.2500",
                "count_fp": "0.50",
                "fee_cost": "0.0000",
                "ts_ms": 1_700_000_000_000,
            },
        }
    )
    assert isinstance(fill, Fill)
    assert (fill.outcome, fill.action, fill.price_micro_usd, fill.size_micro, fill.exchange_index) == (
        Side.YES,
        Action.BUY,
        250_000,
        500_000,
        0,
    )
    [order] = wire.decode_ws_message(
        {
            "type": "user_order",
            "sid": 14,
            "msg": {
                "order_id": "o1",
                "ticker": "M",
                "status": "canceled",
                "book_side": "ask",
                "yes_price_dollars": "0.6000",
                "fill_count_fp": "0.00",
                "remaining_count_fp": "0.00",
                "initial_count_fp": "1.00",
            },
        }
    )
    assert (order.status, order.outcome, order.action, order.price_micro_usd) == (
        OrderStatus.CANCELED,
        Side.YES,
        Action.SELL,
        600_000,
    )


def test_book_side_helper() -> None:
    assert wire.book_order(Side.NO, Action.SELL, 300_000) == (BookSide.BID, 700_000)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.text(max_size=8)
    | st.sampled_from(["1.00", "0.5", "-1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_ack_keys = (
    "order_id",
    "client_order_id",
    "fill_count",
    "remaining_count",
    "reduced_by",
    "average_fill_price",
    "average_fee_paid",
    "ts_ms",
    "error",
)


@given(
    base=st.dictionaries(st.sampled_from(_ack_keys), _json, max_size=7),
    kind=st.sampled_from(["create", "amend", "decrease", "cancel"]),
)
def test_answer_decoders_raise_only_wire_errors(base: dict[str, Any], kind: str) -> None:
    """Property: whatever the venue answers, decoding it either succeeds or raises a FieldError
    naming a field (never another exception type)."""
    for value in (base, {"orders": [base, base]}, [base]):
        try:
            if isinstance(value, dict) and "orders" in value:
                wire.decode_order_acks(value, "create" if kind in ("create", "amend") else "cancel")
            else:
                wire.decode_order_ack(value, kind)
        except FieldError:
            pass
        wire.decode_error(value)  # never raises
