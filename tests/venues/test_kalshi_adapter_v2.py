"""The Kalshi adapter's V2 order path with scripted HTTP answers (no network, no waiting): the exact
requests it sends, the immediate `fill_count` kept a hint, typed rejections carrying the venue's
ErrorResponse code and text, amend/decrease results, batch cancels, and fractional counts refused
locally on whole-contract markets."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from arb.domain import Action, Fill, OrderRequest, OrderStatus, Side, TimeInForce
from arb.errors import OrderRejectedError
from arb.venues.kalshi import wire
from tests.venues.test_order_state import Clock, _kalshi

pytestmark = pytest.mark.asyncio


class Venue:
    """Scripted answers by (method, path suffix); every request is recorded."""

    def __init__(self, answers: dict[tuple[str, str], list[httpx.Response]]) -> None:
        self.answers = answers
        self.seen: list[tuple[str, str, dict[str, str], Any]] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/trade-api/v2")
        body = orjson.loads(request.content) if request.content else None
        self.seen.append((request.method, path, dict(request.url.params), body))
        for (method, suffix), queue in self.answers.items():
            if method == request.method and path == suffix and queue:
                return queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(404, json={"error": {"code": "not_found", "message": f"no {path}"}})

    def paths(self, method: str) -> list[str]:
        return [path for m, path, _, _ in self.seen if m == method]


def _ioc(cid: str = "c-1", size: int = 10_000_000) -> OrderRequest:
    return OrderRequest(cid, "KX-A", Side.YES, Action.BUY, 400_000, size, TimeInForce.IOC)


def _fill(fill_id: str = "f-1") -> dict[str, Any]:
    return {
        "fill_id": fill_id,
        "trade_id": fill_id,
        "exchange_index": 0,
        "order_id": "ord-1",
        "ticker": "KX-A",
        "market_ticker": "KX-A",
        "outcome_side": "yes",
        "book_side": "bid",
        "count_fp": "4.00",
        "yes_price_dollars": "0.4000",
        "no_price_dollars": "0.6000",
        "is_taker": True,
        "fee_cost": "0.0700",
        "created_time": "2026-01-01T00:16:41Z",
    }


CREATED = {
    "order_id": "ord-1",
    "client_order_id": "c-1",
    "fill_count": "4.00",
    "remaining_count": "6.00",
    "average_fill_price": "0.4000",
    "average_fee_paid": "0.0175",
    "ts_ms": 1_767_225_601_000,
}


async def test_fill_count_of_an_answer_is_a_hint_and_never_a_fill() -> None:
    """An IOC answered with fill_count 4 and no fill event: no Fill reaches the sink and the filled
    size stays unknown; the hint only triggers a prompt fill query (no private stream here), and
    the fill that query finds is what counts, once."""
    venue = Venue(
        {
            ("POST", "/portfolio/events/orders"): [httpx.Response(201, json=CREATED)],
            ("GET", "/portfolio/fills"): [
                httpx.Response(200, json={"fills": [], "cursor": ""}),  # not recorded yet
                httpx.Response(200, json={"fills": [_fill()], "cursor": ""}),
            ],
        }
    )
    events: list[Any] = []
    client = _kalshi(venue, Clock(), events)
    await client.start()
    try:
        update = await client.place_order(_ioc())
        [(_, _, _, body)] = [s for s in venue.seen if s[0] == "POST"]
        assert body == {
            "ticker": "KX-A",
            "client_order_id": "c-1",
            "side": "bid",
            "count": "10.00",
            "price": "0.4000",
            "time_in_force": "immediate_or_cancel",
            "self_trade_prevention_type": "taker_at_cross",
        }
        assert venue.paths("POST") == ["/portfolio/events/orders"]
        assert (update.status, update.filled_size_micro, update.fill_hint_micro) == (
            OrderStatus.CANCELED,
            None,
            4_000_000,
        )
        await client.wait_until(lambda: len(venue.paths("GET")) == 1)
        [(_, _, params, _)] = [s for s in venue.seen if s[0] == "GET"]
        assert params["order_id"] == "ord-1" and params["ticker"] == "KX-A"
        assert not [e for e in events if isinstance(e, Fill)]  # the hint made no fill
        found = await client.fills(order_id="ord-1")
        again = await client.fills(order_id="ord-1")
        assert [f.fill_id for f in found] == [f.fill_id for f in again] == ["f-1"]
        assert [e.fill_id for e in events if isinstance(e, Fill)] == ["f-1"]  # from the query, once
    finally:
        await client.close()


async def test_refusals_are_typed_with_the_venues_code_and_message() -> None:
    balance = {"error": {"code": "insufficient_balance", "message": "not enough balance", "details": "needs $4.00"}}
    killed = {"error": {"code": "fill_or_kill_insufficient_resting_volume", "message": "fill or kill insufficient"}}
    venue = Venue(
        {
            ("POST", "/portfolio/events/orders"): [
                httpx.Response(400, json=balance),
                httpx.Response(409, json=killed),
            ],
            ("POST", "/portfolio/events/orders/batched"): [
                httpx.Response(
                    201,
                    json={
                        "orders": [
                            {**CREATED, "client_order_id": "b-1", "fill_count": "0.00", "remaining_count": "5.00"},
                            {"client_order_id": "b-2", "error": {"code": "invalid_order", "message": "price off tick"}},
                        ]
                    },
                )
            ],
            ("POST", "/portfolio/events/orders/ord-1/amend"): [
                httpx.Response(400, json={"error": {"code": "invalid_parameters", "message": "count below filled"}})
            ],
        }
    )
    client = _kalshi(venue, Clock(), [])
    await client.start()
    try:
        refused = await client.place_order(_ioc())
        assert (refused.status, refused.error_code) == (OrderStatus.REJECTED, "insufficient_balance")
        assert "not enough balance" in refused.reason and "needs $4.00" in refused.reason
        fok = await client.place_order(
            OrderRequest("c-2", "KX-A", Side.NO, Action.BUY, 550_000, 5_000_000, TimeInForce.FOK)
        )
        assert (fok.status, fok.error_code, fok.filled_size_micro) == (
            OrderStatus.REJECTED,
            "fill_or_kill_insufficient_resting_volume",
            0,
        )
        assert "fill or kill insufficient" in fok.reason
        assert venue.paths("GET") == []  # a killed FOK's 409 is not a duplicate: no lookup
        ok, bad = await client.place_orders(
            [
                OrderRequest("b-1", "KX-A", Side.YES, Action.BUY, 300_000, 5_000_000, TimeInForce.GTC),
                OrderRequest("b-2", "KX-A", Side.YES, Action.BUY, 300_000, 5_000_000, TimeInForce.GTC),
            ]
        )
        assert (ok.status, ok.order_id, ok.remaining_size_micro) == (OrderStatus.OPEN, "ord-1", 5_000_000)
        assert (bad.status, bad.error_code, bad.reason) == (
            OrderStatus.REJECTED,
            "invalid_order",
            "invalid_order: price off tick",
        )
        with pytest.raises(OrderRejectedError) as caught:
            await client.amend_order(
                "ord-1",
                market_id="KX-A",
                outcome=Side.YES,
                action=Action.BUY,
                price_micro_usd=310_000,
                size_micro=1_000_000,
            )
        assert (caught.value.code, caught.value.status) == ("invalid_parameters", 400)
        assert "count below filled" in caught.value.reason
    finally:
        await client.close()


async def test_amend_decrease_and_batch_cancel_results() -> None:
    order = {
        "order_id": "ord-1",
        "user_id": "u",
        "client_order_id": "c-1",
        "ticker": "KX-A",
        "outcome_side": "yes",
        "book_side": "bid",
        "type": "limit",
        "status": "canceled",
        "yes_price_dollars": "0.3000",
        "no_price_dollars": "0.7000",
        "fill_count_fp": "1.00",
        "remaining_count_fp": "0.00",
        "initial_count_fp": "5.00",
        "taker_fill_cost_dollars": "0.0000",
        "maker_fill_cost_dollars": "0.3000",
        "taker_fees_dollars": "0.0000",
        "maker_fees_dollars": "0.0000",
    }
    venue = Venue(
        {
            ("POST", "/portfolio/events/orders/ord-1/amend"): [
                httpx.Response(
                    200, json={"order_id": "ord-1", "remaining_count": "3.00", "fill_count": "0.00", "ts_ms": 2}
                )
            ],
            ("POST", "/portfolio/events/orders/ord-1/decrease"): [
                httpx.Response(200, json={"order_id": "ord-1", "remaining_count": "2.00", "ts_ms": 3})
            ],
            ("DELETE", "/portfolio/events/orders/batched"): [
                httpx.Response(
                    200,
                    json={
                        "orders": [
                            {"order_id": "ord-1", "reduced_by": "2.00", "ts_ms": 4},
                            {
                                "order_id": "ord-x",
                                "reduced_by": "0.00",
                                "error": {"code": "not_found", "message": "no order"},
                            },
                        ]
                    },
                )
            ],
            ("GET", "/portfolio/orders/ord-1"): [httpx.Response(200, json={"order": order})],
        }
    )
    client = _kalshi(venue, Clock(), [])
    await client.start()
    try:
        amended = await client.amend_order(
            "ord-1",
            market_id="KX-A",
            outcome=Side.NO,
            action=Action.SELL,
            price_micro_usd=700_000,
            size_micro=4_000_000,
        )
        assert amended == wire.OrderAck("ord-1", None, remaining_micro=3_000_000, fill_hint_micro=0, exchange_ts_ms=2)
        decreased = await client.decrease_order("ord-1", market_id="KX-A", reduce_by_micro=1_000_000)
        assert decreased.remaining_micro == 2_000_000
        sent = {path: body for method, path, _, body in venue.seen if method in ("POST", "DELETE")}
        assert sent["/portfolio/events/orders/ord-1/amend"] == {
            "ticker": "KX-A",
            "side": "bid",  # selling NO at 0.70 is a bid on the YES book at 0.30
            "price": "0.3000",
            "count": "4.00",
        }
        assert sent["/portfolio/events/orders/ord-1/decrease"] == {"reduce_by": "1.00", "market_ticker": "KX-A"}
        done, unknown = await client.cancel_orders([("ord-1", "KX-A"), ("ord-x", "KX-A")])
        [(_, _, _, cancel_body)] = [s for s in venue.seen if s[0] == "DELETE"]
        assert cancel_body == {
            "orders": [{"order_id": "ord-1", "market_ticker": "KX-A"}, {"order_id": "ord-x", "market_ticker": "KX-A"}]
        }
        # the venue's record after the cancel, looked up: how much filled before it
        assert (done.status, done.filled_size_micro, done.remaining_size_micro) == (OrderStatus.CANCELED, 1_000_000, 0)
        assert (unknown.status, unknown.error_code) == (OrderStatus.REJECTED, "not_found")
    finally:
        await client.close()


async def test_fractional_counts_are_refused_locally_where_the_market_trades_whole_contracts() -> None:
    venue = Venue({("POST", "/portfolio/events/orders"): [httpx.Response(201, json={**CREATED, "fill_count": "0.00"})]})
    client = _kalshi(venue, Clock(), [])
    whole = wire.decode_market({"ticker": "KX-A", "status": "active", "fractional_trading_enabled": False})
    fractional = wire.decode_market({"ticker": "KX-F", "status": "active", "fractional_trading_enabled": True})
    assert (whole.lot_size_micro, fractional.lot_size_micro) == (1_000_000, 10_000)
    client.remember_markets([whole, fractional])
    await client.start()
    try:
        refused = await client.place_order(
            OrderRequest("c-1", "KX-A", Side.YES, Action.BUY, 400_000, 2_500_000, TimeInForce.GTC)
        )
        assert refused.status is OrderStatus.REJECTED and "whole contracts only" in refused.reason
        assert venue.paths("POST") == []  # nothing sent
        placed = await client.place_order(
            OrderRequest("c-2", "KX-F", Side.YES, Action.BUY, 400_000, 2_500_000, TimeInForce.GTC)
        )
        assert placed.status is OrderStatus.OPEN
        [(_, _, _, body)] = [s for s in venue.seen if s[0] == "POST"]
        assert body["count"] == "2.50"
    finally:
        await client.close()
