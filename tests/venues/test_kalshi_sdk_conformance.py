"""The official Kalshi SDK (`kalshi_python_sync` 3.34) against the simulated Kalshi over loopback.

Every call goes through the SDK's own request builders and signer and every answer is deserialised
by its own pydantic models, which refuse an answer missing a required field or carrying a wrong
type or enum value; the tests then assert on fields of the returned models, so an answer the SDK
accepts but fills wrongly fails too. The simulator runs on its own event loop in a background
thread (the SDK is synchronous); changes to its books go through that loop.

The SDK needs Python >= 3.13: without it the module is skipped."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arb.domain import BookSide
from arb.venues.sim.kalshi import KalshiSimulator

sdk = pytest.importorskip("kalshi_python_sync", reason="kalshi_python_sync (official Kalshi SDK) needs Python >= 3.13")
models = pytest.importorskip("kalshi_python_sync.models")
exceptions = pytest.importorskip("kalshi_python_sync.exceptions")

KEY_ID = "conformance-key"
SERIES = "KXCONF"
EVENT = "KXCONF-26"
FRACTIONAL_EVENT = "KXCONFF-26"
TICKERS = ("KXCONF-26-A", "KXCONF-26-B", "KXCONF-26-C", "KXCONF-26-D", "KXCONF-26-E")
FRACTIONAL = "KXCONFF-26-X"
M = 1_000_000  # micro-units per dollar / per contract
T = TypeVar("T")
_cids = itertools.count(1)


def cid() -> str:
    return f"conf-{next(_cids)}"


class SimThread:
    """The simulator on its own event loop in a daemon thread; `call` runs a function there."""

    def __init__(self, sim: KalshiSimulator) -> None:
        self.sim = sim
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kalshi-sim", daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(sim.start(), self.loop).result(timeout=10)

    def call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def venue() -> Iterator[SimThread]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sim = KalshiSimulator(api_keys={KEY_ID: key.public_key()}, seed=7, page_size_cap=1000)
    sim.add_series(SERIES, "Conformance series", "quadratic", "1")
    sim.add_event(EVENT, SERIES, "Which letter", mutually_exclusive=True)
    sim.add_event(FRACTIONAL_EVENT, SERIES, "Fractional")
    for ticker in TICKERS:
        sim.add_market(ticker, EVENT, yes_sub_title=ticker[-1])
    sim.add_market(FRACTIONAL, FRACTIONAL_EVENT, yes_sub_title="X", fractional=True)
    thread = SimThread(sim)
    thread.pem = key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    try:
        yield thread
    finally:
        thread.close()


@pytest.fixture(scope="module")
def client(venue: SimThread) -> Any:
    config = sdk.Configuration(host=venue.sim.rest_base_url)
    config.api_key_id = KEY_ID
    config.private_key_pem = venue.pem  # type: ignore[attr-defined]
    return sdk.KalshiClient(config)


def set_book(venue: SimThread, ticker: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
    venue.call(lambda: venue.sim.set_book(ticker, bids, asks))


def error_of(exc: Any) -> Any:
    """The ErrorResponse inside a refusal's body, validated by the SDK's model."""
    body = orjson.loads(exc.body)
    assert set(body) == {"error"}, body
    return models.ErrorResponse.from_dict(body["error"])


# -- market data ------------------------------------------------------------------------------------


def test_markets_page_through_the_cursor_and_parse(venue: SimThread, client: Any) -> None:
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        page = client.get_markets(limit=2, cursor=cursor, series_ticker=SERIES)
        assert isinstance(page, models.GetMarketsResponse)
        pages += 1
        seen += [m.ticker for m in page.markets]
        for market in page.markets:
            assert market.settlement_bounds_type == "default"
            assert isinstance(market.close_time, datetime) and market.close_time.year == 2030
            assert market.price_ranges[0].step == "0.0100"
            assert market.exchange_index == 0
        cursor = page.cursor
        if not cursor:
            break
    assert pages == 3 and seen == [*TICKERS, FRACTIONAL]
    one = client.get_market(TICKERS[1])
    assert one.market.ticker == TICKERS[1] and one.market.yes_sub_title == "B" and one.market.status == "active"
    series = client.get_series(SERIES)
    assert series.series.categories == ["sim"] and series.series.fee_type == models.FeeType("quadratic")


def test_events_and_event_parse_with_their_markets(client: Any) -> None:
    listed = client.get_events(series_ticker=SERIES, with_nested_markets=True, limit=1)
    assert [e.event_ticker for e in listed.events] == [EVENT] and listed.cursor
    assert [m.ticker for m in listed.events[0].markets] == list(TICKERS)
    rest = client.get_events(series_ticker=SERIES, cursor=listed.cursor)
    assert [e.event_ticker for e in rest.events] == [FRACTIONAL_EVENT] and rest.cursor == ""
    one = client.get_event(EVENT)
    assert one.event.mutually_exclusive is True and one.event.series_ticker == SERIES
    assert [m.ticker for m in one.markets] == list(TICKERS)


def test_orderbook_parses_and_equals_the_venues_book(venue: SimThread, client: Any) -> None:
    ticker = TICKERS[4]
    set_book(venue, ticker, [(300_000, 4 * M), (320_000, 2 * M)], [(350_000, 5 * M), (370_000, 1 * M)])
    book = client.get_market_orderbook(ticker).orderbook_fp
    assert book.yes_dollars == [["0.3000", "4.00"], ["0.3200", "2.00"]]
    assert book.no_dollars == [["0.6300", "1.00"], ["0.6500", "5.00"]]  # NO bids = 1 - YES asks
    shallow = client.get_market_orderbook(ticker, depth=1).orderbook_fp
    assert shallow.yes_dollars == [["0.3200", "2.00"]] and shallow.no_dollars == [["0.6500", "5.00"]]


def test_exchange_status_parses(client: Any) -> None:
    status = client.get_exchange_status()
    assert isinstance(status, models.ExchangeStatus)
    assert status.exchange_active is True and status.trading_active is True
    assert [s.exchange_index for s in status.exchange_index_statuses] == [0]


# -- V2 orders --------------------------------------------------------------------------------------


def test_create_get_and_cancel_a_resting_v2_order(venue: SimThread, client: Any) -> None:
    ticker = TICKERS[0]
    set_book(venue, ticker, [(300_000, 10 * M)], [(600_000, 10 * M)])
    client_id = cid()
    created = client.create_order_v2(
        ticker=ticker,
        side="bid",
        count="3",
        price="0.40",
        time_in_force="good_till_canceled",
        self_trade_prevention_type="taker_at_cross",
        client_order_id=client_id,
    )
    assert isinstance(created, models.CreateOrderV2Response)
    assert (created.client_order_id, created.fill_count, created.remaining_count) == (client_id, "0.00", "3.00")
    assert created.average_fill_price is None and created.ts_ms > 0
    order = client.get_order(created.order_id).order
    assert order.book_side == models.BookSide.BID and order.outcome_side == "yes"
    assert (order.side, order.action) == ("yes", "buy")  # the deprecated fields, still filled
    assert order.status == models.OrderStatus.RESTING and order.yes_price_dollars == "0.4000"
    assert order.self_trade_prevention_type == models.SelfTradePreventionType.TAKER_AT_CROSS
    assert order.exchange_index == 0 and order.client_order_id == client_id
    resting = client.get_orders(ticker=ticker, status="resting")
    assert [o.order_id for o in resting.orders] == [created.order_id]
    assert client.get_market_orderbook(ticker).orderbook_fp.yes_dollars == [["0.3000", "10.00"], ["0.4000", "3.00"]]
    canceled = client.cancel_order_v2(created.order_id, market_ticker=ticker)
    assert isinstance(canceled, models.CancelOrderV2Response)
    assert (canceled.order_id, canceled.client_order_id, canceled.reduced_by) == (created.order_id, client_id, "3.00")
    assert client.get_order(created.order_id).order.status == models.OrderStatus.CANCELED
    with pytest.raises(exceptions.NotFoundException) as gone:
        client.cancel_order_v2(created.order_id)
    assert gone.value.status == 404 and error_of(gone.value).code == "not_found"


def test_ioc_fills_and_its_fills_positions_balance_and_trades_parse(venue: SimThread, client: Any) -> None:
    ticker = TICKERS[1]
    set_book(venue, ticker, [(400_000, 10 * M)], [(550_000, 5 * M)])
    before = client.get_balance()
    bought = client.create_order_v2(
        ticker=ticker,
        side="bid",
        count="8",
        price="0.56",
        time_in_force="immediate_or_cancel",
        self_trade_prevention_type="taker_at_cross",
    )
    # ceil_cent(0.07 x 5 x 0.55 x 0.45) = 0.09 for the 5 filled: 0.018 a contract.
    assert (bought.fill_count, bought.remaining_count) == ("5.00", "0.00")
    assert (bought.average_fill_price, bought.average_fee_paid) == ("0.5500", "0.0180")
    assert bought.client_order_id is None
    order = client.get_order(bought.order_id).order
    assert order.status == models.OrderStatus.CANCELED and order.fill_count_fp == "5.00"
    assert (order.taker_fill_cost_dollars, order.taker_fees_dollars) == ("2.750000", "0.090000")
    # Buying NO at 0.60 is the ask side at YES price 0.40: it takes the 0.40 YES bid.
    sold = client.create_order_v2(
        ticker=ticker,
        side="ask",
        count="2",
        price="0.40",
        time_in_force="fill_or_kill",
        self_trade_prevention_type="maker",
    )
    assert (sold.fill_count, sold.average_fill_price) == ("2.00", "0.4000")
    fills = client.get_fills(ticker=ticker).fills
    assert isinstance(fills[0], models.Fill)
    by_order = {f.order_id: f for f in fills}
    yes_fill, no_fill = by_order[bought.order_id], by_order[sold.order_id]
    assert (yes_fill.outcome_side, yes_fill.book_side) == (models.OutcomeSide("yes"), models.BookSide.BID)
    assert (no_fill.outcome_side, no_fill.book_side) == (models.OutcomeSide("no"), models.BookSide.ASK)
    assert (yes_fill.count_fp, yes_fill.yes_price_dollars, yes_fill.no_price_dollars) == ("5.00", "0.5500", "0.4500")
    assert yes_fill.exchange_index == 0 and yes_fill.is_taker is True and yes_fill.fee_cost == "0.090000"
    assert [f.order_id for f in client.get_fills(order_id=sold.order_id).fills] == [sold.order_id]
    positions = client.get_positions(ticker=ticker)
    (position,) = positions.market_positions
    assert (position.ticker, position.position_fp, position.exchange_index) == (ticker, "3.00", 0)
    assert isinstance(position.last_updated_ts, datetime)
    assert [e.event_ticker for e in positions.event_positions] == [EVENT]
    # Paid 2.75 + 0.09 for the YES; the ask closed 2 of them for 0.80 less ceil_cent(0.07 x 2 x 0.4 x 0.6).
    after = client.get_balance()
    assert Decimal(before.balance_dollars) - Decimal(after.balance_dollars) == Decimal("2.08")
    assert after.balance == before.balance - 208 and after.portfolio_value >= after.balance
    trades = client.get_trades(ticker=ticker).trades
    assert isinstance(trades[0], models.Trade)
    assert [(t.count_fp, t.yes_price_dollars, t.taker_book_side, t.taker_outcome_side) for t in trades] == [
        ("2.00", "0.4000", models.BookSide.ASK, "no"),  # newest first
        ("5.00", "0.5500", models.BookSide.BID, "yes"),
    ]
    assert all(t.is_block_trade is False and t.ticker == ticker for t in trades)
    paged = client.get_trades(ticker=ticker, limit=1)
    assert len(paged.trades) == 1 and paged.cursor


def test_a_fok_that_cannot_fill_is_a_409_error_response(venue: SimThread, client: Any) -> None:
    ticker = TICKERS[2]
    set_book(venue, ticker, [(200_000, 1 * M)], [(700_000, 2 * M)])
    with pytest.raises(exceptions.ApiException) as killed:
        client.create_order_v2(
            ticker=ticker,
            side="bid",
            count="3",
            price="0.70",
            time_in_force="fill_or_kill",
            self_trade_prevention_type="taker_at_cross",
        )
    error = error_of(killed.value)
    assert killed.value.status == 409
    assert (error.code, error.message) == (
        "fill_or_kill_insufficient_resting_volume",
        "fill or kill insufficient resting volume",
    )
    with pytest.raises(exceptions.BadRequestException) as refused:
        client.create_order_v2(
            ticker=ticker,
            side="bid",
            count="1",
            price="0.205",
            time_in_force="good_till_canceled",
            self_trade_prevention_type="taker_at_cross",
        )
    error = error_of(refused.value)
    assert (error.code, error.message) == ("invalid_order", "invalid order") and "tick" in error.details
    assert client.get_market_orderbook(ticker).orderbook_fp.no_dollars == [["0.3000", "2.00"]]


def test_batch_create_and_batch_cancel_carry_an_error_per_item(venue: SimThread, client: Any) -> None:
    ticker = TICKERS[3]
    set_book(venue, ticker, [(100_000, 1 * M)], [(900_000, 1 * M)])
    good = {
        "ticker": ticker,
        "side": "bid",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "maker",
    }
    orders = [
        models.CreateOrderV2Request(**good, count="2", price="0.2100", client_order_id=cid()),
        models.CreateOrderV2Request(**good, count="1.5", price="0.2200", client_order_id=cid()),  # not fractional
        models.CreateOrderV2Request(**good, count="4", price="0.2300", client_order_id=cid()),
    ]
    answer = client.batch_create_orders_v2(orders=orders)
    assert isinstance(answer, models.BatchCreateOrdersV2Response)
    first, failed, third = answer.orders
    assert (first.error, third.error) == (None, None)
    assert (first.remaining_count, third.remaining_count) == ("2.00", "4.00")
    assert failed.order_id is None and failed.client_order_id == orders[1].client_order_id
    assert failed.error.code == "invalid_order" and "fractional" in failed.error.details
    canceled = client.batch_cancel_orders_v2(
        orders=[
            models.BatchCancelOrdersV2RequestOrdersInner(order_id=first.order_id, market_ticker=ticker),
            models.BatchCancelOrdersV2RequestOrdersInner(order_id="no-such-order"),
        ]
    )
    ok, missing = canceled.orders
    assert (ok.order_id, ok.reduced_by, ok.error) == (first.order_id, "2.00", None) and ok.ts_ms
    assert (missing.order_id, missing.reduced_by, missing.error.code) == ("no-such-order", "0.00", "not_found")
    assert [o.order_id for o in client.get_orders(ticker=ticker, status="resting").orders] == [third.order_id]
    assert client.cancel_all_orders() is None
    assert client.get_orders(ticker=ticker, status="resting").orders == []
    assert client.get_order(third.order_id).order.status == models.OrderStatus.CANCELED


def test_amend_and_decrease_a_v2_order(venue: SimThread, client: Any) -> None:
    ticker = TICKERS[4]
    set_book(venue, ticker, [(100_000, 1 * M)], [(450_000, 2 * M)])
    client_id = cid()
    created = client.create_order_v2(
        ticker=ticker,
        side="bid",
        count="5",
        price="0.30",
        time_in_force="good_till_canceled",
        self_trade_prevention_type="taker_at_cross",
        client_order_id=client_id,
    )
    renamed = cid()
    amended = client.amend_order_v2(
        created.order_id, ticker=ticker, side="bid", price="0.32", count="7", updated_client_order_id=renamed
    )
    assert isinstance(amended, models.AmendOrderV2Response)
    assert (amended.order_id, amended.client_order_id, amended.remaining_count) == (created.order_id, renamed, "7.00")
    order = client.get_order(created.order_id).order
    assert (order.yes_price_dollars, order.remaining_count_fp, order.client_order_id) == ("0.3200", "7.00", renamed)
    smaller = client.decrease_order_v2(created.order_id, reduce_by="2")
    assert isinstance(smaller, models.DecreaseOrderV2Response) and smaller.remaining_count == "5.00"
    smaller = client.decrease_order_v2(created.order_id, reduce_to="4")
    assert smaller.remaining_count == "4.00"
    # Amended across the 0.45 ask: 2 fill at once, the other 2 rest at 0.45.
    crossed = client.amend_order_v2(created.order_id, ticker=ticker, side="bid", price="0.45", count="4")
    assert (crossed.fill_count, crossed.remaining_count, crossed.average_fill_price) == ("2.00", "2.00", "0.4500")
    order = client.get_order(created.order_id).order
    assert (order.status, order.fill_count_fp, order.remaining_count_fp) == (models.OrderStatus.RESTING, "2.00", "2.00")
    assert order.yes_price_dollars == "0.4500" and order.taker_fill_cost_dollars == "0.900000"
    with pytest.raises(exceptions.BadRequestException) as wrong_side:
        client.amend_order_v2(created.order_id, ticker=ticker, side="ask", price="0.45", count="4")
    assert error_of(wrong_side.value).code == "invalid_order"
    gone = client.decrease_order_v2(created.order_id, reduce_to="0")
    assert gone.remaining_count == "0.00"
    assert client.get_order(created.order_id).order.status == models.OrderStatus.CANCELED
    engine = venue.sim.engines[ticker]
    assert venue.call(lambda: engine.levels(BookSide.BID)) == [(100_000, 1 * M)]


def test_fractional_counts_where_the_market_allows_them(venue: SimThread, client: Any) -> None:
    set_book(venue, FRACTIONAL, [(100_000, 1 * M)], [(800_000, 1 * M)])
    created = client.create_order_v2(
        ticker=FRACTIONAL,
        side="bid",
        count="2.5",
        price="0.25",
        time_in_force="good_till_canceled",
        self_trade_prevention_type="taker_at_cross",
    )
    assert created.remaining_count == "2.50"
    assert client.get_order(created.order_id).order.initial_count_fp == "2.50"
    assert client.cancel_order_v2(created.order_id).reduced_by == "2.50"


def test_order_fill_and_trade_queries_honour_the_sdks_filters(venue: SimThread, client: Any) -> None:
    set_book(venue, FRACTIONAL, [(100_000, 1 * M)], [(800_000, 1 * M)])
    created = client.create_order_v2(
        ticker=FRACTIONAL,
        side="ask",
        count="0.25",
        price="0.10",
        time_in_force="immediate_or_cancel",
        self_trade_prevention_type="taker_at_cross",
    )
    assert created.fill_count == "0.25"
    in_event = client.get_orders(event_ticker=FRACTIONAL_EVENT).orders
    assert created.order_id in [o.order_id for o in in_event] and {o.ticker for o in in_event} == {FRACTIONAL}
    assert created.order_id not in [o.order_id for o in client.get_orders(event_ticker=EVENT).orders]
    now_s = created.ts_ms // 1000
    assert created.order_id in [o.order_id for o in client.get_orders(min_ts=now_s - 60, max_ts=now_s + 60).orders]
    assert client.get_orders(max_ts=now_s - 3600).orders == []
    (fill,) = client.get_fills(order_id=created.order_id, max_ts=now_s + 60).fills
    assert (fill.count_fp, fill.book_side) == ("0.25", models.BookSide.ASK)
    assert client.get_fills(order_id=created.order_id, max_ts=now_s - 3600).fills == []
    trades = client.get_trades(ticker=FRACTIONAL, min_ts=now_s - 60).trades
    assert [(t.count_fp, t.yes_price_dollars) for t in trades] == [("0.25", "0.1000")]
    assert client.get_trades(ticker=FRACTIONAL, max_ts=now_s - 3600).trades == []
