"""Polymarket wire decoders on the real captures (goldens pin the output), the book hash schemes,
and the decoders' contracts: exact numbers, typed rejections naming the field, status mappings."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from arb.domain import (
    Action,
    BookChange,
    BookSide,
    BookSnapshot,
    ChangeMode,
    Fill,
    FillStatus,
    GroupKind,
    Liquidity,
    MarketLifecycle,
    MarketStatus,
    OrderStatus,
    OrderUpdate,
    Side,
    TickSizeChange,
    TimeInForce,
    Trade,
    VenueNotice,
)
from arb.errors import FieldError, UnknownShapeError, WireError
from arb.venues.polymarket import wire
from arb.venues.polymarket.wire import BookHashContext, UserContext
from tests.venues.golden import FIXTURES, assert_golden, fixture_path

PM = FIXTURES / "polymarket"
# Our identity in the nautilus user-channel captures: the api key that owns the captured orders
# (`nautilus_order_placement.json`) and the funder address those orders were made from.
OUR_API_KEY = "3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe"
OUR_ADDRESS = "0xa3D82Ed56F4c68d2328Fb8c29e568Ba2cAF7d7c8"
USER = UserContext.of(OUR_API_KEY, [OUR_ADDRESS])
# The 2026 WS `book` captures hash with the market's min order size and negRisk flag, which the
# frame does not carry; these markets are standard ones (5 shares, not negRisk).
SSMD_CONTEXT = BookHashContext("5", False)
_Event = TypeVar("_Event")


def _json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _all(kind: type[_Event], events: Sequence[object]) -> list[_Event]:
    """The decoded events, each checked to be a `kind`."""
    assert all(isinstance(e, kind) for e in events), [type(e).__name__ for e in events]
    return [e for e in events if isinstance(e, kind)]


def _frames(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return [line for line in data.splitlines() if line.strip()] if path.suffix == ".jsonl" else [data]


def decode_ws_capture(path: Path) -> list[Any]:
    """Every frame of a WS capture through the production frame decoders."""
    events: list[Any] = []
    for raw in _frames(path):
        kind = orjson.loads(raw).get("event_type")
        if kind in ("order", "trade"):
            events.extend(wire.decode_user_frame(raw, USER))
        else:
            asset = orjson.loads(raw).get("asset_id")
            contexts = {asset: SSMD_CONTEXT} if path.name.startswith("ssmd_") else None
            events.extend(wire.decode_market_frame(raw, contexts))
    return events


REST_DECODERS: dict[str, Callable[[Any], object]] = {
    "drmanhattan_gamma_markets_feeSchedule_2026.json": wire.decode_gamma_markets,
    "nautilus_book.json": wire.decode_book,
    "nautilus_clob_data_trades_item.json": lambda d: wire.decode_trade_fills(d, USER),
    "nautilus_clob_market_closed_binary_accepting_false.json": wire.decode_clob_market,
    "nautilus_clob_market_closed_binary_accepting_true.json": wire.decode_clob_market,
    "nautilus_event.json": wire.decode_gamma_event,
    "nautilus_gamma_event.json": wire.decode_gamma_events,
    "nautilus_gamma_market.json": wire.decode_gamma_market,
    "nautilus_gamma_market_closed_binary_accepting_false.json": wire.decode_gamma_market,
    "nautilus_gamma_market_closed_binary_accepting_true.json": wire.decode_gamma_market,
    "nautilus_gamma_market_closed_nonbinary_legacy.json": wire.decode_gamma_market,
    "nautilus_gamma_market_closed_zero_zero_legacy.json": wire.decode_gamma_market,
    "nautilus_gamma_market_sports_market_map_handicap.json": wire.decode_gamma_market,
    "nautilus_gamma_market_sports_market_money_line.json": wire.decode_gamma_market,
    "nautilus_gamma_tags.json": wire.decode_gamma_tags,
    "nautilus_market.json": wire.decode_clob_market,
    "nautilus_market_slug.json": wire.decode_gamma_market,
    "nautilus_markets.json": lambda d: list(wire.decode_clob_markets_page(d).items),
    "nautilus_search_response.json": wire.decode_gamma_events,
    "nautilus_trades.json": wire.decode_data_api_trades,
}

WS_FILES = sorted(p.name for p in (PM / "ws").iterdir())
REST_FILES = sorted(p.name for p in (PM / "rest").iterdir())


def test_every_rest_capture_has_a_decoder() -> None:
    assert sorted(REST_DECODERS) == REST_FILES


@pytest.mark.parametrize("name", WS_FILES)
def test_ws_capture_decodes_to_domain_events(name: str) -> None:
    events = decode_ws_capture(PM / "ws" / name)
    assert events, f"{name} decoded to nothing"
    assert_golden(f"polymarket/ws_{Path(name).stem}", events)


@pytest.mark.parametrize("name", REST_FILES)
def test_rest_capture_decodes_to_domain_values(name: str) -> None:
    result = REST_DECODERS[name](_json(PM / "rest" / name))
    values = result if isinstance(result, list) else [result]
    assert values, f"{name} decoded to nothing"
    assert_golden(f"polymarket/rest_{Path(name).stem}", values)


# -- the book hash -----------------------------------------------------------------------------


def test_book_hash_matches_every_2026_ws_book_capture_with_market_context() -> None:
    results = []
    for raw in _frames(fixture_path("polymarket/ws/ssmd_book_2026-02-12.jsonl")):
        d = orjson.loads(raw)
        snapshot = wire.decode_book(d, SSMD_CONTEXT)
        results.append(snapshot.hash_ok)
        assert wire.book_hash(d, SSMD_CONTEXT) == d["hash"]
        # Without the market's min size / negRisk the current scheme cannot be checked...
        assert wire.decode_book(d).hash_ok is None
        # ...and a wrong context is caught, so the match above is not vacuous.
        assert wire.decode_book(d, BookHashContext("5", True)).hash_ok is False
    assert results == [True] * 10


@pytest.mark.parametrize("relative", ["polymarket/ws/nautilus_book.json", "polymarket/rest/nautilus_book.json"])
def test_book_hash_matches_the_2024_captures_under_the_legacy_scheme(relative: str) -> None:
    d = _json(fixture_path(relative))
    assert wire.decode_book(d).hash_ok is True
    changed = dict(d, bids=d["bids"][:-1])
    assert wire.decode_book(changed).hash_ok is False


def test_book_hash_agrees_with_py_clob_client_v2() -> None:
    from py_clob_client_v2.utilities import generate_orderbook_summary_hash, parse_raw_orderbook_summary

    d = orjson.loads(_frames(fixture_path("polymarket/ws/ssmd_book_2026-02-12.jsonl"))[3])
    rest_shape = dict(d, min_order_size="5", neg_risk=False)
    expected = generate_orderbook_summary_hash(parse_raw_orderbook_summary(dict(rest_shape)))
    assert expected == d["hash"] == wire.book_hash(rest_shape)


def test_book_frame_encoder_round_trips_through_the_decoder() -> None:
    context = BookHashContext("15", True)
    frame = wire.book_frame(
        market="0xm",
        asset_id="1",
        timestamp_ms=1770000000000,
        bids=[(490_000, 10_000_000), (480_000, 5_500_000)],
        asks=[(510_000, 1_000_000)],
        tick_size_micro=10_000,
        last_trade_price_micro=500_000,
        context=context,
    )
    assert [lv["price"] for lv in frame["bids"]] == ["0.48", "0.49"]  # venue order: best bid last
    snapshot = wire.decode_book(frame, context)
    assert snapshot.hash_ok is True
    assert set(snapshot.bids) == {(490_000, 10_000_000), (480_000, 5_500_000)}
    assert wire.decode_book(frame, BookHashContext("5", True)).hash_ok is False


# -- Gamma ---------------------------------------------------------------------------------------


def test_gamma_market_decodes_double_encoded_lists_fees_and_status() -> None:
    markets = wire.decode_gamma_markets(
        _json(fixture_path("polymarket/rest/drmanhattan_gamma_markets_feeSchedule_2026.json"))
    )
    m = markets[0]
    assert m.market_id.startswith("0x") and m.venue_market_id == "540817"
    assert m.token_ids is not None and all(t.isdigit() for t in m.token_ids)
    assert m.status is MarketStatus.OPEN and m.accepting_orders
    assert m.price_bands[0].step_micro_usd == 10_000 and m.tick_at(500_000) == 10_000
    assert m.min_order_size_micro == 5_000_000 and m.lot_size_micro == 10_000
    assert m.taker_fee is not None and m.maker_fee is not None
    assert m.taker_fee.coefficient == Decimal("0.05") and m.taker_fee.exponent == 1
    assert m.maker_fee.coefficient == 0  # takerOnly
    assert m.taker_fee.fill_fee(Decimal("0.5"), Decimal(100)) == Decimal("1.25")
    # FOK/FAK amounts: a buy signs whole cents of USDC, a sell 0.0001
    assert (m.buy_amount_increment_micro_usd, m.sell_amount_increment_micro_usd) == (10_000, 100)
    assert (wire.BUY_AMOUNT_INCREMENT_MICRO_USD, wire.SELL_AMOUNT_INCREMENT_MICRO_USD) == (10_000, 100)


def test_sports_market_keeps_team_labels_in_token_order() -> None:
    raw = _json(fixture_path("polymarket/rest/nautilus_gamma_market_sports_market_money_line.json"))
    m = wire.decode_gamma_market(raw)
    assert m.outcome_labels == ("FaZe", "illwill")
    assert m.token_ids == tuple(json.loads(raw["clobTokenIds"]))
    assert m.status is MarketStatus.SETTLED and m.taker_fee is not None and m.taker_fee.coefficient == Decimal("0.03")


def test_legacy_amm_markets_map_to_closed_markets_without_a_clob() -> None:
    for name in (
        "nautilus_gamma_market_closed_nonbinary_legacy.json",
        "nautilus_gamma_market_closed_zero_zero_legacy.json",
    ):
        m = wire.decode_gamma_market(_json(fixture_path(f"polymarket/rest/{name}")))
        assert m.status is MarketStatus.CLOSED and not m.accepting_orders
        assert m.price_bands == () and m.min_order_size_micro == 0
        assert m.token_ids is not None


def test_fee_enabled_market_without_schedule_has_an_unknown_fee() -> None:
    """The 2026 crypto capture: `feesEnabled: true`, no `feeSchedule`. Its fee is not zero, it is unknown."""
    raw = _json(fixture_path("polymarket/rest/nautilus_gamma_market.json"))
    assert raw["feesEnabled"] is True and raw.get("feeSchedule") is None
    m = wire.decode_gamma_market(raw)
    assert m.taker_fee is None and m.maker_fee is None and m.outcome_labels == ("Up", "Down")
    assert wire.decode_gamma_market({**raw, "feeSchedule": None}).taker_fee is None
    silent = {k: v for k, v in raw.items() if k != "feesEnabled"}  # a payload that does not say
    assert wire.decode_gamma_market(silent).taker_fee is None
    free = wire.decode_gamma_market({**raw, "feesEnabled": False})
    assert free.taker_fee is not None and free.taker_fee.coefficient == 0


def test_clob_markets_carry_no_fee_schedule_so_their_fee_is_unknown() -> None:
    raw = _json(fixture_path("polymarket/rest/nautilus_market.json"))
    m = wire.decode_clob_market(raw)
    assert m.status is MarketStatus.OPEN and m.taker_fee is None and m.maker_fee is None
    assert (m.buy_amount_increment_micro_usd, m.sell_amount_increment_micro_usd) == (10_000, 100)


def test_neg_risk_event_groups_are_augmented_and_not_exhaustive() -> None:
    (event,) = wire.decode_gamma_events(_json(fixture_path("polymarket/rest/nautilus_gamma_event.json")))
    assert event.group is not None and event.group.kind is GroupKind.NEG_RISK
    assert event.group.augmented and not event.group.exhaustive
    assert len(event.markets) == len(event.market_ids) == 2
    labels = {m.group.label for m in event.markets if m.group}
    assert labels == {"Stephen A. Smith", "Gretchen Whitmer"}
    assert all(m.event_id == event.event_id for m in event.markets)


def test_neg_risk_group_is_exhaustive_only_when_the_event_says_not_augmented() -> None:
    base = _json(fixture_path("polymarket/rest/nautilus_gamma_event.json"))[0]
    event = wire.decode_gamma_event(dict(base, negRiskAugmented=False))
    assert event.group is not None and event.group.exhaustive and not event.group.augmented
    assert all(m.group is not None and m.group.exhaustive for m in event.markets)


def test_slim_event_lists_market_ids_without_decoding_them() -> None:
    event = wire.decode_gamma_event(_json(fixture_path("polymarket/rest/nautilus_event.json")))
    assert len(event.market_ids) == 3 and event.markets == ()


def test_clob_market_without_token_ids_has_none() -> None:
    page = wire.decode_clob_markets_page(_json(fixture_path("polymarket/rest/nautilus_markets.json")))
    assert not page.last and page.next_cursor == "MTAw"
    blank = [m for m in page.items if m.token_ids is None]
    assert len(blank) == 1 and not blank[0].accepting_orders


# -- market channel ------------------------------------------------------------------------------


def test_current_price_change_is_new_totals_with_venue_best_levels() -> None:
    frame = fixture_path("polymarket/ws/nautilus_price_change_v2.json").read_bytes()
    changes = _all(BookChange, wire.decode_market_frame(frame))
    assert len(changes) == 3
    first = changes[0]
    assert first.side is BookSide.BID and first.mode is ChangeMode.SET
    assert (first.price_micro_usd, first.size_micro) == (600_000, 3_300_000_000)
    assert (first.best_bid_micro_usd, first.best_ask_micro_usd) == (600_000, 700_000)
    assert first.exchange_ts_ms == 1729084877448


def test_legacy_price_change_is_one_level() -> None:
    frame = fixture_path("polymarket/ws/nautilus_price_change.json").read_bytes()
    (change,) = _all(BookChange, wire.decode_market_frame(frame))
    assert change.side is BookSide.ASK and change.size_micro == 21_574_080_000 and change.best_bid_micro_usd is None


def test_other_market_events() -> None:
    def one(name: str) -> Any:
        (event,) = wire.decode_market_frame(fixture_path(f"polymarket/ws/{name}").read_bytes())
        return event

    tick = one("nautilus_tick_size_change.json")
    assert isinstance(tick, TickSizeChange) and (tick.old_tick_micro_usd, tick.new_tick_micro_usd) == (10_000, 1_000)
    trade = one("nautilus_last_trade_price.json")
    assert isinstance(trade, Trade) and trade.taker_action is Action.SELL and trade.size_micro == 85_360_000
    best = one("nautilus_ws_market_best_bid_ask_msg.json")
    assert isinstance(best, VenueNotice) and dict(best.detail)["best_bid"] == "0.730000"
    resolved = one("nautilus_ws_market_resolved_msg.json")
    assert isinstance(resolved, MarketLifecycle) and resolved.result == "Yes"
    assert isinstance(one("nautilus_ws_market_new_market_msg.json"), MarketLifecycle)


def test_frames_may_be_arrays_and_pong() -> None:
    book = fixture_path("polymarket/ws/nautilus_book.json").read_text()
    tick = fixture_path("polymarket/ws/nautilus_tick_size_change.json").read_text()
    events = wire.decode_market_frame(f"[{book},{tick}]")
    assert [type(e) for e in events] == [BookSnapshot, TickSizeChange]
    assert wire.decode_market_frame("PONG") == [wire.PONG]


def test_unknown_event_type_is_an_unknown_shape() -> None:
    with pytest.raises(UnknownShapeError):
        wire.decode_market_frame(b'{"event_type":"mystery","asset_id":"1"}')
    with pytest.raises(UnknownShapeError):
        wire.decode_market_frame(b'{"asset_id":"1"}')


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        (lambda c: c.update(price="NaN"), "price_changes[0].price"),
        (lambda c: c.update(price="1.5"), "price_changes[0].price"),
        (lambda c: c.update(price="-0.5"), "price_changes[0].price"),
        (lambda c: c.update(price=0.5), "price_changes[0].price"),
        (lambda c: c.update(size="-1"), "price_changes[0].size"),
        (lambda c: c.update(size="1e3"), "price_changes[0].size"),
        (lambda c: c.update(side="HOLD"), "price_changes[0].side"),
        (lambda c: c.pop("asset_id"), "price_changes[0].asset_id"),
        (lambda c: c.update(best_bid="2"), "price_changes[0].best_bid"),
    ],
)
def test_bad_price_change_fields_are_named(mutation: Any, field: str) -> None:
    frame = _json(fixture_path("polymarket/ws/nautilus_price_change_v2.json"))
    mutation(frame["price_changes"][0])
    with pytest.raises(FieldError) as info:
        wire.decode_market_frame(orjson.dumps(frame))
    assert info.value.field.endswith(field)


def test_not_json_is_a_wire_error() -> None:
    with pytest.raises(WireError):
        wire.decode_market_frame(b"{not json")


# -- user channel and account REST ---------------------------------------------------------------


def test_taker_trade_is_one_fill_of_our_taker_order() -> None:
    (fill,) = _all(
        Fill, wire.decode_user_frame(fixture_path("polymarket/ws/nautilus_user_trade2.json").read_bytes(), USER)
    )
    assert fill.liquidity is Liquidity.TAKER and fill.action is Action.BUY
    assert fill.order_id == "0x5b605a0e8e40f3402d3cb3bc19edad6733ed23fbc079d2a09ee399c3487ace81"
    assert fill.fill_id == f"f50e8ab2-652d-4dc8-9c82-8e46197fe98d:{fill.order_id}"
    assert (fill.price_micro_usd, fill.size_micro, fill.status) == (520_000, 5_000_000, FillStatus.MATCHED)


def test_maker_trade_yields_only_our_maker_orders() -> None:
    fills = _all(
        Fill, wire.decode_user_frame(fixture_path("polymarket/ws/nautilus_user_trade1.json").read_bytes(), USER)
    )
    assert [(f.order_id[:10], f.price_micro_usd, f.size_micro) for f in fills] == [("0xab679e56", 518_000, 5_000_000)]
    (fill,) = fills
    assert fill.liquidity is Liquidity.MAKER and fill.action is Action.SELL and fill.outcome is Side.YES
    # Someone else's view of the same trade: the No maker at 0.482 minted against a Yes buy.
    other = UserContext.of("78132bc3-22af-6aa2-79ae-11929f821cae")
    (no_fill,) = _all(
        Fill, wire.decode_user_frame(fixture_path("polymarket/ws/nautilus_user_trade1.json").read_bytes(), other)
    )
    assert no_fill.outcome is Side.NO and no_fill.action is Action.BUY and no_fill.price_micro_usd == 482_000


def test_one_trade_can_fill_several_of_our_orders() -> None:
    fills = _all(
        Fill, wire.decode_user_frame(fixture_path("polymarket/ws/nautilus_user_trade4.json").read_bytes(), USER)
    )
    assert [(f.price_micro_usd, f.size_micro) for f in fills] == [(400_000, 5_000_000), (300_000, 5_000_000)]
    assert len({f.fill_id for f in fills}) == 2


def test_order_events_map_statuses() -> None:
    placement = fixture_path("polymarket/ws/nautilus_order_placement.json").read_bytes()
    (placed,) = _all(OrderUpdate, wire.decode_user_frame(placement, USER))
    assert placed.status is OrderStatus.OPEN and placed.remaining_size_micro == 5_000_000
    cancel = fixture_path("polymarket/ws/nautilus_order_cancel.json").read_bytes()
    (canceled,) = _all(OrderUpdate, wire.decode_user_frame(cancel, USER))
    assert canceled.status is OrderStatus.CANCELED and canceled.remaining_size_micro == 0
    assert canceled.exchange_ts_ms == 1725841743272


@pytest.mark.parametrize(
    ("answer", "tif", "status"),
    [
        ({"success": True, "orderID": "0x1", "status": "live"}, TimeInForce.GTC, OrderStatus.OPEN),
        ({"success": True, "orderID": "0x1", "status": "live"}, TimeInForce.IOC, OrderStatus.UNKNOWN),
        ({"success": True, "orderID": "0x1", "status": "delayed"}, TimeInForce.GTC, OrderStatus.UNKNOWN),
        ({"success": True, "orderID": "0x1", "status": "matched"}, TimeInForce.FOK, OrderStatus.FILLED),
        ({"success": True, "orderID": "0x1", "status": "matched"}, TimeInForce.IOC, OrderStatus.UNKNOWN),
        ({"success": True, "orderID": "0x1", "status": "matched"}, TimeInForce.GTC, OrderStatus.OPEN),
        ({"success": True, "orderID": "0x1", "status": "unmatched"}, TimeInForce.IOC, OrderStatus.CANCELED),
        ({"success": False, "errorMsg": "not enough balance / allowance"}, TimeInForce.GTC, OrderStatus.REJECTED),
    ],
)
def test_order_post_answers_never_carry_fills(answer: dict[str, Any], tif: TimeInForce, status: OrderStatus) -> None:
    ack = wire.decode_order_response(answer, time_in_force=tif)
    assert ack.update.status is status
    assert ack.update.filled_size_micro is None


def test_cancel_answer() -> None:
    result = wire.decode_cancel_response({"canceled": ["0xa"], "not_canceled": {"0xb": "already matched"}})
    assert result.canceled == ("0xa",) and result.not_canceled == (("0xb", "already matched"),)
    with pytest.raises(FieldError):
        wire.decode_cancel_response({"canceled": [1]})


def test_subscribe_messages() -> None:
    assert orjson.loads(wire.market_subscribe_message(["1", "2"])) == {
        "assets_ids": ["1", "2"],
        "type": "market",
        "initial_dump": True,
        "level": 2,
        "custom_feature_enabled": True,
    }
    auth = orjson.loads(wire.user_subscribe_message("k", "s", "p", []))
    assert auth == {"auth": {"apiKey": "k", "secret": "s", "passphrase": "p"}, "markets": [], "type": "user"}


# -- rejections in the venue's shapes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # The CLOB's 4xx shape (what py-clob-client-v2 surfaces as the exception's error message).
        (b'{"error": "invalid post-only order: order crosses book"}', "invalid post-only order: order crosses book"),
        (b'{"error": "not enough balance / allowance"}', "not enough balance / allowance"),
        (
            b'{"error": "order couldn\'t be fully filled. FOK orders are fully filled or killed."}',
            "order couldn't be fully filled. FOK orders are fully filled or killed.",
        ),
        # The older shape, in a 4xx or a 200.
        (b'{"success": false, "errorMsg": "invalid order min size"}', "invalid order min size"),
        (b'{"success": false, "errorMsg": "", "error": "market closed"}', "market closed"),
        # No message: the caller shows the raw text.
        (b"Bad Request", None),
        (b'{"error": {"code": 3}}', None),
        (b'["error"]', None),
        (b"[" * 5000 + b"]" * 5000, None),
    ],
)
def test_error_message_reads_the_venues_error_and_the_older_error_msg(body: bytes, message: str | None) -> None:
    assert wire.error_message(body) == message


def test_a_refusal_in_a_200_answer_is_still_rejected_with_the_venues_text() -> None:
    ack = wire.decode_order_response(
        {"success": False, "errorMsg": "order couldn't be fully filled. FOK orders are fully filled or killed."},
        time_in_force=TimeInForce.FOK,
    )
    assert ack.update.status is OrderStatus.REJECTED and not ack.success
    assert ack.error == ack.update.reason == "order couldn't be fully filled. FOK orders are fully filled or killed."
    error_only = wire.decode_order_response({"error": "not enough balance / allowance"}, time_in_force=TimeInForce.GTC)
    assert error_only.update.status is OrderStatus.REJECTED and error_only.error == "not enough balance / allowance"


# -- our order traded against our own resting order ---------------------------------------------------


def _self_match(trader_side: str) -> bytes:
    """The real TAKER capture with its maker order made ours: our BUY took our own resting SELL."""
    trade = orjson.loads(fixture_path("polymarket/ws/nautilus_user_trade2.json").read_bytes())
    trade["maker_orders"][0].update(owner=OUR_API_KEY, maker_address=OUR_ADDRESS)
    trade["trader_side"] = trader_side
    return orjson.dumps(trade)


def test_combined_faults_self_match_taker_trade_carries_our_maker_leg_too() -> None:
    """A TAKER trade whose `maker_orders` include one of ours is also our maker fill (before: only
    the taker leg was decoded, and the client's position drifted from the venue's by the maker leg)."""
    taker, maker = _all(Fill, wire.decode_user_frame(_self_match("TAKER"), USER))
    assert (taker.order_id[:10], taker.liquidity, taker.action, taker.size_micro) == (
        "0x5b605a0e",
        Liquidity.TAKER,
        Action.BUY,
        5_000_000,
    )
    assert (maker.order_id[:10], maker.liquidity, maker.action, maker.size_micro, maker.price_micro_usd) == (
        "0xa39ab90e",
        Liquidity.MAKER,
        Action.SELL,
        5_000_000,
        520_000,
    )
    assert taker.fill_id != maker.fill_id and maker.fill_id.startswith("f50e8ab2-652d-4dc8-9c82-8e46197fe98d:")
    # Someone else's resting order in a TAKER trade is not ours.
    (only,) = _all(
        Fill, wire.decode_user_frame(fixture_path("polymarket/ws/nautilus_user_trade2.json").read_bytes(), USER)
    )
    assert only.liquidity is Liquidity.TAKER
