"""Kalshi wire decoders: every captured fixture decodes (goldens pin the output), current and legacy
field sets decode to the same events, bad fields are named, and the encoders write exact text."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from arb.domain import (
    Action,
    BookChange,
    BookSide,
    BookSnapshot,
    ChangeMode,
    Fill,
    GroupKind,
    Liquidity,
    MarketLifecycle,
    MarketStatus,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    PriceBand,
    SeriesInfo,
    Side,
    TimeInForce,
    Trade,
    VenueNotice,
)
from arb.errors import FieldError, OrderRejectedError, UnknownShapeError, WireError
from arb.venues.kalshi import wire
from tests.venues.golden import FIXTURES, assert_golden

KALSHI = FIXTURES / "kalshi"
ORDERBOOK_FIXTURE_TICKER = "KXBTC-25MAR15-B100000"  # the REST orderbook body does not name its market


def _json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _decode_fixture(path: Path) -> list[Any]:
    """The production decoder for each captured file, chosen by what the file holds."""
    name = path.name
    if path.suffix == ".jsonl":
        return [wire.decode_ws(line) for line in path.read_bytes().splitlines() if line.strip()]
    if "_ws_" in name:
        return wire.decode_ws(path.read_bytes())
    body = _json(path)
    if name.endswith("http_markets.json") or path.parent.name == "rest":
        return list(wire.decode_markets_page(body))
    if name.endswith("http_orderbook.json"):
        return [wire.decode_orderbook(body, ORDERBOOK_FIXTURE_TICKER)]
    if name.endswith("http_trades.json"):
        return list(wire.decode_trades_page(body))
    if name.endswith("http_candlesticks.json"):
        return wire.decode_candlesticks(body, ORDERBOOK_FIXTURE_TICKER)
    raise AssertionError(f"no decoder chosen for fixture {path}")


FIXTURE_FILES = sorted(p for folder in ("ws", "rest", "format_examples") for p in (KALSHI / folder).iterdir())


def test_fixture_set_is_the_expected_one() -> None:
    assert len(FIXTURE_FILES) == 10  # a new capture must get a decoder and a golden file


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_capture_decodes_and_matches_its_golden(path: Path) -> None:
    events = _decode_fixture(path)
    assert events, f"{path.name} decoded to nothing"
    assert_golden(f"kalshi/{path.parent.name}__{path.stem}", events)


def test_ws_capture_lines_become_the_expected_event_types() -> None:
    tickers = _decode_fixture(KALSHI / "ws" / "ssmd_ticker_2026-02-12.jsonl")
    trades = _decode_fixture(KALSHI / "ws" / "ssmd_trade_2026-02-12.jsonl")
    assert all(len(e) == 1 and isinstance(e[0], VenueNotice) and e[0].kind == "ticker" for e in tickers)
    assert all(len(e) == 1 and isinstance(e[0], Trade) for e in trades)
    first = trades[0][0]
    assert (first.price_micro_usd, first.size_micro, first.taker_outcome, first.seq, first.sid) == (
        770_000,
        75_000_000,
        Side.YES,
        10,
        2,
    )
    assert first.exchange_ts_ms == 1770897981000
    detail = dict(tickers[0][0].detail)
    assert detail["yes_bid_micro_usd"] == "40000" and detail["yes_ask_micro_usd"] == "950000"


def test_snapshot_normalises_no_bids_to_yes_asks() -> None:
    [snap] = _decode_fixture(KALSHI / "format_examples" / "nautilus_pr3659_ws_orderbook_snapshot.json")
    assert isinstance(snap, BookSnapshot)
    assert snap.book_id == snap.market_id == "KXBTC-25MAR15-B100000"
    assert snap.bids == ((350_000, 200_000_000), (420_000, 13_000_000))
    assert snap.asks == ((440_000, 17_000_000), (460_000, 400_000_000))  # 1 - 0.56, 1 - 0.54
    assert (snap.seq, snap.sid) == (1, 1)


def test_delta_sides_map_to_bid_and_mirrored_ask() -> None:
    yes = {
        "type": "orderbook_delta",
        "sid": 2,
        "seq": 3,
        "msg": {"market_ticker": "M", "price_dollars": "0.9600", "delta_fp": "-54.00", "side": "yes", "ts_ms": 5},
    }
    no = {
        "type": "orderbook_delta",
        "sid": 2,
        "seq": 4,
        "msg": {
            "market_ticker": "M",
            "price_dollars": "0.9600",
            "delta_fp": "2.50",
            "side": "no",
            "ts": "2022-11-22T20:44:01Z",
        },
    }
    [a] = wire.decode_ws(orjson.dumps(yes))
    [b] = wire.decode_ws(orjson.dumps(no))
    assert (a.side, a.price_micro_usd, a.size_micro, a.mode, a.exchange_ts_ms) == (
        BookSide.BID,
        960_000,
        -54_000_000,
        ChangeMode.ADD,
        5,
    )
    assert (b.side, b.price_micro_usd, b.size_micro, b.exchange_ts_ms) == (
        BookSide.ASK,
        40_000,
        2_500_000,
        1669149841000,
    )


def test_legacy_and_current_snapshots_decode_identically() -> None:
    current = {
        "type": "orderbook_snapshot",
        "sid": 1,
        "seq": 1,
        "msg": {
            "market_ticker": "M",
            "yes_dollars_fp": [["0.0800", "300.00"], ["0.2200", "333.00"]],
            "no_dollars_fp": [["0.5400", "20.00"]],
        },
    }
    cents = {
        "type": "orderbook_snapshot",
        "sid": 1,
        "seq": 1,
        "msg": {"market_ticker": "M", "yes": [[8, 300], [22, 333]], "no": [[54, 20]]},
    }
    dollars_int = {
        "type": "orderbook_snapshot",
        "sid": 1,
        "seq": 1,
        "msg": {
            "market_ticker": "M",
            "yes_dollars": [["0.0800", 300], ["0.2200", 333]],
            "no_dollars": [["0.5400", 20]],
            "yes": [[8, 300], [22, 333]],
            "no": None,
        },
    }
    decoded = [wire.decode_ws(orjson.dumps(m)) for m in (current, cents, dollars_int)]
    assert decoded[0] == decoded[1] == decoded[2]
    empty = wire.decode_ws(
        orjson.dumps(
            {"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {"market_ticker": "M", "no_dollars_fp": None}}
        )
    )
    assert empty[0].bids == () and empty[0].asks == ()


def test_legacy_delta_equals_current_delta() -> None:
    current = {
        "type": "orderbook_delta",
        "sid": 1,
        "seq": 2,
        "msg": {"market_ticker": "M", "price_dollars": "0.4200", "delta_fp": "-7.00", "side": "no"},
    }
    legacy = {
        "type": "orderbook_delta",
        "sid": 1,
        "seq": 2,
        "msg": {"market_ticker": "M", "price": 42, "delta": -7, "side": "no"},
    }
    assert wire.decode_ws(orjson.dumps(current)) == wire.decode_ws(orjson.dumps(legacy))


@pytest.mark.parametrize(
    ("msg", "field"),
    [
        ({"market_ticker": "M", "price_dollars": "NaN", "delta_fp": "1.00", "side": "yes"}, "msg.price_dollars"),
        ({"market_ticker": "M", "price_dollars": "-0.10", "delta_fp": "1.00", "side": "yes"}, "msg.price_dollars"),
        ({"market_ticker": "M", "price_dollars": "1.2000", "delta_fp": "1.00", "side": "yes"}, "msg.price_dollars"),
        ({"market_ticker": "M", "price_dollars": 0.42, "delta_fp": "1.00", "side": "yes"}, "msg.price_dollars"),
        ({"market_ticker": "M", "price_dollars": "0.42", "delta_fp": "1e3", "side": "yes"}, "msg.delta_fp"),
        ({"market_ticker": "M", "price_dollars": "0.42", "side": "yes"}, "msg.delta_fp"),
        ({"market_ticker": "M", "price_dollars": "0.42", "delta_fp": "1.00", "side": "maybe"}, "msg.side"),
        ({"price_dollars": "0.42", "delta_fp": "1.00", "side": "yes"}, "msg.market_ticker"),
        ({"market_ticker": "M", "price_dollars": "0.42", "delta_fp": "1.00", "side": "yes", "ts": [1]}, "msg.ts"),
    ],
)
def test_bad_delta_fields_are_named(msg: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as caught:
        wire.decode_ws(orjson.dumps({"type": "orderbook_delta", "sid": 1, "seq": 1, "msg": msg}))
    assert caught.value.field == field
    assert caught.value.venue == "kalshi"


def test_unknown_type_and_bad_frames_are_typed() -> None:
    with pytest.raises(UnknownShapeError):
        wire.decode_ws(b'{"type": "brand_new_thing", "msg": {}}')
    with pytest.raises(UnknownShapeError):
        wire.decode_ws(b"[1, 2]")
    with pytest.raises(WireError):
        wire.decode_ws(b'{"type": "orderbook_delta", ')
    with pytest.raises(FieldError) as caught:
        wire.decode_ws(b'{"msg": {}}')
    assert caught.value.field == "type"
    with pytest.raises(FieldError) as caught:
        wire.decode_ws(b'{"type": "orderbook_delta", "seq": 1, "msg": {"market_ticker": "M"}}')
    assert caught.value.field == "sid"


def test_extra_fields_are_tolerated() -> None:
    frame = {
        "type": "trade",
        "sid": 2,
        "seq": 1,
        "msg": {
            "trade_id": "t",
            "market_ticker": "M",
            "yes_price_dollars": "0.36",
            "count_fp": "1.00",
            "taker_side": "no",
            "ts": 1,
            "brand_new": {"x": 1},
        },
        "also_new": True,
    }
    [trade] = wire.decode_ws(orjson.dumps(frame))
    assert trade.price_micro_usd == 360_000 and trade.taker_outcome is Side.NO


def test_control_messages_become_notices_with_error_text() -> None:
    [sub] = wire.decode_ws(b'{"id":1,"type":"subscribed","msg":{"channel":"orderbook_delta","sid":7}}')
    assert (sub.kind, sub.sid, sub.request_id, dict(sub.detail)["channel"]) == ("subscribed", 7, 1, "orderbook_delta")
    [ok] = wire.decode_ws(b'{"id":123,"sid":456,"seq":222,"type":"ok","msg":{"market_tickers":["A","B"]}}')
    assert (ok.kind, ok.sid, ok.seq, dict(ok.detail)["market_tickers"]) == ("ok", 456, 222, "A,B")
    [listing] = wire.decode_ws(b'{"id":3,"type":"ok","msg":[{"channel":"ticker","sid":2}]}')
    assert dict(listing.detail)["subscriptions"] == "ticker:2"
    [unsub] = wire.decode_ws(b'{"id":102,"sid":2,"seq":7,"type":"unsubscribed"}')
    assert (unsub.kind, unsub.sid) == ("unsubscribed", 2)
    [err] = wire.decode_ws(b'{"id":9,"type":"error","msg":{"code":25}}')
    assert (err.kind, err.code, err.request_id) == ("error", 25, 9)
    assert "buffer overflow" in err.message and "resubscribe" in dict(err.detail)["meaning"]
    [err7] = wire.decode_ws(b'{"id":9,"type":"error","msg":{"code":7,"msg":"Unknown subscription ID"}}')
    assert err7.message == "Unknown subscription ID" and dict(err7.detail)["meaning"] == "unknown subscription id"


def test_fill_and_user_order_messages() -> None:
    fill = {
        "type": "fill",
        "sid": 13,
        "msg": {
            "trade_id": "t1",
            "order_id": "o1",
            "client_order_id": "c1",
            "market_ticker": "M",
            "is_taker": True,
            "side": "no",
            "yes_price_dollars": "0.7500",
            "count_fp": "278.00",
            "fee_cost": "0.010000",
            "action": "buy",
            "ts": 1671899397,
            "ts_ms": 1671899397000,
        },
    }
    [f] = wire.decode_ws(orjson.dumps(fill))
    assert isinstance(f, Fill)
    assert (f.fill_id, f.order_id, f.client_order_id, f.outcome, f.action) == ("t1", "o1", "c1", Side.NO, Action.BUY)
    assert f.price_micro_usd == 250_000  # NO bought at 1 - 0.75
    assert (f.size_micro, f.fee_micro_usd, f.liquidity, f.exchange_ts_ms) == (
        278_000_000,
        10_000,
        Liquidity.TAKER,
        1671899397000,
    )
    order = {
        "type": "user_order",
        "sid": 22,
        "msg": {
            "order_id": "o1",
            "ticker": "M",
            "status": "resting",
            "side": "yes",
            "outcome_side": "no",
            "yes_price_dollars": "0.3500",
            "fill_count_fp": "4.00",
            "remaining_count_fp": "6.00",
            "initial_count_fp": "10.00",
            "taker_fees_dollars": "0.010000",
            "maker_fees_dollars": "0.000000",
            "client_order_id": "c1",
            "created_ts_ms": 1733047200000,
        },
    }
    [o] = wire.decode_ws(orjson.dumps(order))
    assert isinstance(o, OrderUpdate)
    assert (o.status, o.outcome, o.action, o.price_micro_usd) == (OrderStatus.OPEN, Side.YES, Action.SELL, 350_000)
    assert (o.initial_size_micro, o.filled_size_micro, o.remaining_size_micro, o.fees_micro_usd) == (
        10_000_000,
        4_000_000,
        6_000_000,
        10_000,
    )
    [pos] = wire.decode_ws(
        b'{"type":"market_position","sid":14,"msg":{"market_ticker":"M","position_fp":"-100.00","position_cost_dollars":"50.0000","realized_pnl_dollars":"-10.0000","fees_paid_dollars":"1.0000"}}'
    )
    assert (pos.position_micro, pos.cost_micro_usd, pos.realized_pnl_micro_usd, pos.fees_paid_micro_usd) == (
        -100_000_000,
        50_000_000,
        -10_000_000,
        1_000_000,
    )


def test_lifecycle_messages() -> None:
    created = {
        "type": "market_lifecycle_v2",
        "sid": 13,
        "seq": 3,
        "msg": {
            "market_ticker": "INX",
            "open_ts": 1694635200,
            "close_ts": 1694721600,
            "additional_metadata": {"event_ticker": "INXD", "title": "t", "floor_strike": 4487},
            "event_type": "created",
            "price_level_structure": "linear_cent",
        },
    }
    [c] = wire.decode_ws(orjson.dumps(created))
    assert isinstance(c, MarketLifecycle) and c.kind == "created" and dict(c.detail)["floor_strike"] == "4487"
    tick = {
        "type": "market_lifecycle_v2",
        "sid": 13,
        "seq": 4,
        "msg": {
            "market_ticker": "INX",
            "event_type": "price_level_structure_updated",
            "price_level_structure": "deci_cent",
            "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0010"}],
        },
    }
    [t] = wire.decode_ws(orjson.dumps(tick))
    assert dict(t.detail)["price_bands"] == "0:1000000:1000"
    determined = {
        "type": "market_lifecycle_v2",
        "sid": 13,
        "seq": 5,
        "msg": {
            "market_ticker": "INX",
            "event_type": "determined",
            "determination_ts": 1700000000,
            "result": "yes",
            "settlement_value": "1.0000",
        },
    }
    [d] = wire.decode_ws(orjson.dumps(determined))
    assert (d.result, d.exchange_ts_ms) == ("yes", 1700000000000)
    [e] = wire.decode_ws(
        b'{"type":"event_lifecycle","sid":5,"seq":8,"msg":{"event_ticker":"E","title":"T","subtitle":"S","collateral_return_type":"MECNET","series_ticker":"KX"}}'
    )
    assert (e.market_id, e.kind, dict(e.detail)["series_ticker"]) == ("E", "event_created", "KX")
    [fee] = wire.decode_ws(
        b'{"type":"event_fee_update","sid":5,"seq":9,"msg":{"event_ticker":"E","fee_type_override":"quadratic","fee_multiplier_override":0.5}}'
    )
    assert dict(fee.detail) == {"fee_type_override": "quadratic", "fee_multiplier_override": "0.5"}


def _market(**overrides: Any) -> dict[str, Any]:
    base = {
        "ticker": "KXFED-25DEC-H0",
        "event_ticker": "KXFED-25DEC",
        "market_type": "binary",
        "yes_sub_title": "Hold",
        "no_sub_title": "No hold",
        "open_time": "2025-01-01T00:00:00Z",
        "close_time": "2025-12-10T19:00:00Z",
        "latest_expiration_time": "2025-12-11T00:00:00Z",
        "status": "active",
        "rules_primary": "Primary.",
        "rules_secondary": "Secondary.",
        "fractional_trading_enabled": False,
        "price_level_structure": "tapered_deci_cent",
    }
    base.update(overrides)
    return base


def test_market_metadata_ticks_lots_rules_and_status() -> None:
    [m], cursor = wire.decode_markets_page({"markets": [_market()], "cursor": "abc"})
    assert cursor == "abc"
    assert m.price_bands == (
        PriceBand(0, 100_000, 1_000),
        PriceBand(100_000, 900_000, 10_000),
        PriceBand(900_000, 1_000_000, 1_000),
    )
    assert m.tick_at(50_000) == 1_000 and m.tick_at(500_000) == 10_000 and m.tick_at(950_000) == 1_000
    assert (m.lot_size_micro, m.min_order_size_micro, m.fractional) == (1_000_000, 1_000_000, False)
    assert m.rules_text == "Primary.\n\nSecondary."
    assert (m.status, m.accepting_orders) == (MarketStatus.OPEN, True)
    assert m.expiration_time_ms == 1765411200000
    [f], _ = wire.decode_markets_page(
        {
            "markets": [
                _market(
                    fractional_trading_enabled=True,
                    status="finalized",
                    price_level_structure="linear_cent",
                    strike_type="between",
                    floor_strike=95000,
                    cap_strike=95250.5,
                )
            ]
        }
    )
    assert (f.lot_size_micro, f.status, f.accepting_orders) == (10_000, MarketStatus.SETTLED, False)
    assert f.price_bands == (PriceBand(0, 1_000_000, 10_000),)
    assert f.strike is not None and (f.strike.floor, f.strike.cap) == (Decimal(95000), Decimal("95250.5"))
    with pytest.raises(FieldError) as caught:
        wire.decode_markets_page({"markets": [_market(), _market(status="weird")]})
    assert caught.value.field == "markets[1].status"
    with pytest.raises(FieldError) as caught:
        wire.decode_markets_page({"markets": [_market(price_level_structure="new_thing")]})
    assert caught.value.field == "markets[0].price_level_structure"


def test_series_fees_and_exclusive_events() -> None:
    [series] = wire.decode_series(
        {"series": {"ticker": "KXFED", "title": "Fed", "fee_type": "quadratic_with_maker_fees", "fee_multiplier": 0.5}}
    )
    assert series == SeriesInfo("KXFED", "Fed", "quadratic_with_maker_fees", Decimal("0.5"))
    [m], _ = wire.decode_markets_page({"markets": [_market()]})
    assert m.taker_fee is None and m.maker_fee is None  # a market alone does not name its fee: unknown
    priced = wire.apply_series(m, series)
    assert priced.series_id == "KXFED"
    assert priced.taker_fee is not None and priced.maker_fee is not None
    assert priced.taker_fee.multiplier == Decimal("0.5") and priced.taker_fee.order_fee(
        [(Decimal("0.5"), Decimal(1))]
    ) == Decimal("0.01")
    assert priced.maker_fee.coefficient > 0  # maker fees on that fee type
    general = wire.apply_series(m, SeriesInfo("X", "", "quadratic", Decimal(1))).maker_fee
    assert general is not None and general.coefficient == 0  # and only there
    for fee_type in ("flat", "some_future_type"):  # no machine-readable schedule: unknown, no default
        unknown = wire.apply_series(m, SeriesInfo("X", "", fee_type, Decimal(2)))
        assert unknown.taker_fee is None and unknown.maker_fee is None
    assert (m.buy_amount_increment_micro_usd, m.sell_amount_increment_micro_usd) == (0, 0)  # no amount constraint
    events, _ = wire.decode_events_page(
        {
            "events": [
                {
                    "event_ticker": "KXFED-25DEC",
                    "series_ticker": "KXFED",
                    "title": "Fed",
                    "mutually_exclusive": True,
                    "markets": [_market(), _market(ticker="KXFED-25DEC-C25", yes_sub_title="Cut 25")],
                }
            ],
            "cursor": "",
        }
    )
    [event] = events
    # exclusive only: Kalshi's flag does not say every outcome is listed (arb.graph proves that)
    assert event.group is not None and event.group.kind is GroupKind.MUTUALLY_EXCLUSIVE and not event.group.exhaustive
    assert event.market_ids == ("KXFED-25DEC-H0", "KXFED-25DEC-C25")
    assert [mk.group.label if mk.group else None for mk in event.markets] == ["Hold", "Cut 25"]
    assert all(mk.series_id == "KXFED" for mk in event.markets)


def test_rest_orderbook_current_legacy_and_batch() -> None:
    current = {"orderbook_fp": {"yes_dollars": [["0.3500", "200.00"]], "no_dollars": [["0.5400", "400.00"]]}}
    legacy = {
        "orderbook": {
            "yes": [[35, 200]],
            "no": [[54, 400]],
            "yes_dollars": [["0.3500", 200]],
            "no_dollars": [["0.5400", 400]],
        }
    }
    a, b = wire.decode_orderbook(current, "M"), wire.decode_orderbook(legacy, "M")
    assert a == b and a.bids == ((350_000, 200_000_000),) and a.asks == ((460_000, 400_000_000),)
    empty = wire.decode_orderbook({"orderbook_fp": {"yes_dollars": None}}, "M")
    assert empty.bids == empty.asks == ()
    batch = wire.decode_orderbooks(
        {
            "orderbooks": [
                {"ticker": "A", **current},
                {"ticker": "B", "orderbook_fp": {"yes_dollars": [], "no_dollars": []}},
            ]
        }
    )
    assert [s.book_id for s in batch] == ["A", "B"]
    with pytest.raises(FieldError) as caught:
        wire.decode_orderbooks({"orderbooks": [{"ticker": "A", "orderbook_fp": {"yes_dollars": [["0.35"]]}}]})
    assert caught.value.field == "orderbooks[0].orderbook_fp.yes_dollars[0]"


def test_rest_orders_fills_positions_balance() -> None:
    order = {
        "order_id": "o1",
        "client_order_id": "c1",
        "ticker": "M",
        "side": "no",
        "action": "buy",
        "type": "limit",
        "status": "executed",
        "yes_price_dollars": "0.4000",
        "no_price_dollars": "0.6000",
        "fill_count_fp": "5.00",
        "remaining_count_fp": "0.00",
        "initial_count_fp": "5.00",
        "taker_fees_dollars": "0.0800",
        "maker_fees_dollars": "0.0000",
        "created_time": "2025-01-01T00:00:00Z",
    }
    o = wire.decode_order_response({"order": order})
    assert (o.status, o.outcome, o.action, o.price_micro_usd, o.filled_size_micro, o.fees_micro_usd) == (
        OrderStatus.FILLED,
        Side.NO,
        Action.BUY,
        600_000,
        5_000_000,
        80_000,
    )
    orders, cursor = wire.decode_orders_page(
        {"orders": [order, {**order, "status": "canceled"}, {**order, "status": "resting"}], "cursor": "n"}
    )
    assert [x.status for x in orders] == [OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.OPEN] and cursor == "n"
    current = {
        "fill_id": "f1",
        "trade_id": "f1",
        "order_id": "o1",
        "ticker": "M",
        "side": "yes",
        "action": "sell",
        "count_fp": "3.00",
        "yes_price_dollars": "0.4100",
        "no_price_dollars": "0.5900",
        "is_taker": False,
        "fee_cost": "0.0000",
        "created_time": "2025-01-01T00:00:01.250Z",
    }
    legacy = {
        "trade_id": "f1",
        "order_id": "o1",
        "market_ticker": "M",
        "side": "yes",
        "action": "sell",
        "count": 3,
        "yes_price": 41,
        "no_price": 59,
        "yes_price_fixed": "0.4100",
        "is_taker": False,
        "fee_cost": "0.0000",
        "created_time": "2025-01-01T00:00:01.250Z",
    }
    fills, _ = wire.decode_fills_page({"fills": [current, legacy], "cursor": ""})
    assert fills[0] == fills[1]
    assert (fills[0].price_micro_usd, fills[0].liquidity, fills[0].exchange_ts_ms) == (
        410_000,
        Liquidity.MAKER,
        1735689601250,
    )
    positions, _ = wire.decode_positions_page(
        {
            "market_positions": [
                {
                    "ticker": "M",
                    "position_fp": "-3.00",
                    "market_exposure_dollars": "1.2300",
                    "realized_pnl_dollars": "0.0000",
                    "fees_paid_dollars": "0.0100",
                },
                {"ticker": "N", "position": 4, "market_exposure": 100, "realized_pnl": -5, "fees_paid": 1},
            ],
            "event_positions": [],
        }
    )
    assert [(p.market_id, p.position_micro, p.cost_micro_usd) for p in positions] == [
        ("M", -3_000_000, 1_230_000),
        ("N", 4_000_000, 1_000_000),
    ]
    assert positions[1].realized_pnl_micro_usd == -50_000
    assert wire.decode_balance({"balance": 12345, "portfolio_value": 100}).available_micro_usd == 123_450_000
    assert wire.decode_balance({"balance": 12345, "balance_dollars": "123.4567"}).available_micro_usd == 123_456_700
    with pytest.raises(FieldError) as caught:
        wire.decode_balance({"portfolio_value": 1})
    assert caught.value.field == "balance"


def test_commands_and_order_body() -> None:
    assert wire.subscribe_command(1, ["orderbook_delta"], ["A", "B"]) == {
        "id": 1,
        "cmd": "subscribe",
        "params": {"channels": ["orderbook_delta"], "market_tickers": ["A", "B"]},
    }
    assert wire.update_subscription_command(5, 456, ["C"], "get_snapshot") == {
        "id": 5,
        "cmd": "update_subscription",
        "params": {"sids": [456], "market_tickers": ["C"], "action": "get_snapshot"},
    }
    assert wire.unsubscribe_command(3, [1, 2]) == {"id": 3, "cmd": "unsubscribe", "params": {"sids": [1, 2]}}
    with pytest.raises(ValueError):
        wire.update_subscription_command(5, 456, ["C"], "explode")
    req = OrderRequest("cid-1", "M", Side.NO, Action.BUY, 425_000, 12_340_000, TimeInForce.IOC, post_only=False)
    body = wire.create_order_body(req)
    assert body == {
        "ticker": "M",
        "side": "no",
        "action": "buy",
        "count_fp": "12.34",
        "no_price_dollars": "0.4250",
        "client_order_id": "cid-1",
        "time_in_force": "immediate_or_cancel",
    }
    gtd = wire.create_order_body(
        OrderRequest(
            "cid-2",
            "M",
            Side.YES,
            Action.SELL,
            123_456,
            1_000_000,
            TimeInForce.GTD,
            expiration_ms=1_700_000_000_001,
            post_only=True,
        )
    )
    assert (
        gtd["yes_price_dollars"] == "0.123456"
        and gtd["expiration_ts"] == 1_700_000_001
        and gtd["post_only"] is True
        and "time_in_force" not in gtd
    )
    parsed = wire.parse_order_body(body)
    assert (parsed["outcome"], parsed["price_micro_usd"], parsed["size_micro"], parsed["tif"]) == (
        Side.NO,
        425_000,
        12_340_000,
        TimeInForce.IOC,
    )
    with pytest.raises(OrderRejectedError):
        wire.create_order_body(OrderRequest("c", "M", Side.YES, Action.BUY, 500_000, 1_234, TimeInForce.GTC))
    with pytest.raises(OrderRejectedError):
        wire.create_order_body(OrderRequest("c", "M", Side.YES, Action.BUY, 1_000_000, 1_000_000, TimeInForce.GTC))
    assert wire.encode_command({"id": 1}) == b'{"id":1}'


def test_event_types_are_exact_dataclasses() -> None:
    """Books rely on exact types on the hot path (no subclasses sneak in)."""
    [c] = wire.decode_ws(
        b'{"type":"orderbook_delta","sid":1,"seq":1,"msg":{"market_ticker":"M","price":5,"delta":1,"side":"yes"}}'
    )
    assert type(c) is BookChange and c.price_micro_usd == 50_000
