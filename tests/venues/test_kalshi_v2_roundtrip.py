"""The Kalshi adapter trading through the V2 event-order routes of the simulator over loopback:
an IOC that fills partly, a FOK the venue kills, a GTC that rests and is cancelled, an amend, a
decrease, a batch with one refused item and a batch cancel. Every order write goes to
/portfolio/events/orders..., fills arrive only as Fill events (each once, equal to the venue's own
record), and refusals come back typed with the venue's code and text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from arb.domain import Action, Fill, OrderRequest, OrderStatus, OrderUpdate, Side, TimeInForce
from arb.errors import OrderRejectedError
from arb.fixed import SCALE, parse_micro
from arb.venues.sim.http import HttpRequest
from tests.venues.test_kalshi_sim import KEY_ID, TICKERS, WAIT_S, Harness, _request, check_fills, running

pytestmark = pytest.mark.asyncio
TICKER = TICKERS[0]


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _record_requests(h: Harness) -> list[tuple[str, str]]:
    """Every request the simulator serves from now on, as (method, path)."""
    seen: list[tuple[str, str]] = []
    http: Any = h.sim.http
    handler: Callable[[HttpRequest], Awaitable[Any] | Any] = http._handler

    async def recording(request: HttpRequest) -> Any:
        seen.append((request.method, request.path.removeprefix("/trade-api/v2")))
        result = handler(request)
        return await result if isinstance(result, Awaitable) else result

    http._handler = recording
    return seen


def _stream_filled(h: Harness, order_id: str) -> int:
    return sum(f.size_micro for f in h.stream_fills() if f.order_id == order_id)


def _venue_filled(h: Harness, order_id: str) -> int:
    return sum(parse_micro(r["count_fp"], "count_fp") for r in h.sim.fills_of(KEY_ID) if r["order_id"] == order_id)


async def test_v2_round_trip_on_the_simulator(private_key: rsa.RSAPrivateKey) -> None:
    async with running(private_key) as h:
        requests = _record_requests(h)
        client = h.client

        # IOC partial: more than the best ask holds; the answer's fill_count is only a hint
        best_ask = h.sim.engines[TICKER].best_ask()
        assert best_ask is not None
        ioc = await client.place_order(
            _request(TICKER, Side.YES, Action.BUY, best_ask[0], best_ask[1] + 3_000_000, TimeInForce.IOC)
        )
        assert ioc.status is OrderStatus.CANCELED and ioc.filled_size_micro is None
        touch_size = best_ask[1]
        assert ioc.fill_hint_micro == touch_size
        await client.wait_until(lambda: _stream_filled(h, ioc.order_id) == touch_size, WAIT_S)
        assert _venue_filled(h, ioc.order_id) == touch_size

        # FOK kill: more than the whole ask side at that price; typed rejection, nothing filled
        best_ask = h.sim.engines[TICKER].best_ask()
        assert best_ask is not None
        fok = await client.place_order(
            _request(TICKER, Side.YES, Action.BUY, best_ask[0], 500_000_000, TimeInForce.FOK)
        )
        assert (fok.status, fok.error_code, fok.filled_size_micro) == (
            OrderStatus.REJECTED,
            "fill_or_kill_insufficient_resting_volume",
            0,
        )
        assert "fill or kill" in fok.reason
        killed = [m for m in h.sim.orders_of(KEY_ID) if m.order.client_order_id == fok.client_order_id]
        assert killed and all(m.order.filled_micro == 0 and not m.order.is_open for m in killed)

        # GTC rests, then is cancelled; the cancel answers with the venue's record (nothing filled)
        gtc = await client.place_order(_request(TICKER, Side.YES, Action.BUY, 100_000, 2_000_000))
        assert (gtc.status, gtc.remaining_size_micro, gtc.fill_hint_micro) == (OrderStatus.OPEN, 2_000_000, 0)
        canceled = await client.cancel_order(gtc.order_id, TICKER)
        assert (canceled.status, canceled.filled_size_micro, canceled.remaining_size_micro) == (
            OrderStatus.CANCELED,
            0,
            0,
        )
        again = await client.cancel_order(gtc.order_id, TICKER)  # already over: its final state
        assert again.status is OrderStatus.CANCELED

        # amend: a NO bid (an ask on the YES book, far from the market) to a new price and size
        no = await client.place_order(_request(TICKER, Side.NO, Action.BUY, 100_000, 2_000_000))
        assert no.status is OrderStatus.OPEN
        amended = await client.amend_order(
            no.order_id,
            market_id=TICKER,
            outcome=Side.NO,
            action=Action.BUY,
            price_micro_usd=120_000,
            size_micro=3_000_000,
            client_order_id=no.client_order_id,
        )
        assert (amended.order_id, amended.remaining_micro, amended.fill_hint_micro) == (no.order_id, 3_000_000, 0)
        venue_view = await client.get_order(no.order_id)
        assert venue_view is not None and venue_view.remaining_size_micro == 3_000_000
        assert (venue_view.outcome, venue_view.action, venue_view.price_micro_usd) == (Side.YES, Action.SELL, 880_000)
        with pytest.raises(OrderRejectedError) as refused:
            await client.amend_order(
                no.order_id,
                market_id=TICKER,
                outcome=Side.YES,
                action=Action.BUY,
                price_micro_usd=120_000,
                size_micro=3_000_000,
            )
        assert refused.value.code and "side" in refused.value.reason  # the venue's own code and text

        # decrease by one, then to zero (the rest is cancelled)
        decreased = await client.decrease_order(no.order_id, market_id=TICKER, reduce_by_micro=1_000_000)
        assert decreased.remaining_micro == 2_000_000
        emptied = await client.decrease_order(no.order_id, market_id=TICKER, reduce_to_micro=0)
        assert emptied.remaining_micro == 0
        final = await client.get_order(no.order_id)
        assert final is not None and final.status is OrderStatus.CANCELED

        # batch: one good order, one off the tick grid (refused by the venue with its code)
        good, bad = await client.place_orders(
            [
                _request(TICKERS[1], Side.YES, Action.BUY, 100_000, 1_000_000),
                _request(TICKERS[1], Side.YES, Action.BUY, 123_400, 1_000_000),
            ]
        )
        assert good.status is OrderStatus.OPEN
        assert bad.status is OrderStatus.REJECTED and bad.error_code and "tick" in bad.reason
        done, unknown = await client.cancel_orders([(good.order_id, TICKERS[1]), ("no-such-order", TICKERS[1])])
        assert (done.status, done.filled_size_micro) == (OrderStatus.CANCELED, 0)
        assert (unknown.status, unknown.error_code) == (OrderStatus.REJECTED, "not_found")
        assert await client.open_orders() == []

        writes = [(method, path) for method, path in requests if method != "GET"]
        assert writes and all(path.startswith("/portfolio/events/orders") for _, path in writes), writes
        assert {m for m, _ in writes} == {"POST", "DELETE"}
        # the socket delivered every fill: no answer's fill count set off a fill query
        assert ("GET", "/portfolio/fills") not in requests
        check_fills(h, reconnected=False)  # every venue fill reached the sink once
        assert all(isinstance(f, Fill) for f in h.stream_fills())
        await h.synced()


async def test_fractional_counts_on_a_fractional_market_and_refused_elsewhere(private_key: rsa.RSAPrivateKey) -> None:
    async with running(private_key, fractional=True) as h:
        markets = await h.client.markets()
        assert all(m.fractional and m.lot_size_micro == 10_000 for m in markets)
        best_ask = h.sim.engines[TICKER].best_ask()
        assert best_ask is not None
        ioc = await h.client.place_order(_request(TICKER, Side.YES, Action.BUY, best_ask[0], 250_000, TimeInForce.IOC))
        assert (ioc.status, ioc.fill_hint_micro) == (OrderStatus.FILLED, 250_000)
        await h.client.wait_until(lambda: _stream_filled(h, ioc.order_id) == 250_000, WAIT_S)
    async with running(private_key) as h:
        await h.client.markets()  # learns that these markets trade whole contracts only
        refused = await h.client.place_order(
            OrderRequest("frac-1", TICKER, Side.YES, Action.BUY, 500_000, 250_000, TimeInForce.IOC)
        )
        assert refused.status is OrderStatus.REJECTED and "whole contracts only" in refused.reason
        assert not [m for m in h.sim.orders_of(KEY_ID) if m.order.client_order_id == "frac-1"]


async def test_one_order_has_one_direction_on_every_path(private_key: rsa.RSAPrivateKey) -> None:
    """A buy-NO order is an ask on the YES book: the place answer, a lookup, the socket's
    user_order, the socket's fill and a fill query all state it the same way (sell YES at the YES
    price), so fills and updates can be matched to the order by (outcome, action)."""
    async with running(private_key) as h:
        client = h.client
        best_bid = h.sim.engines[TICKER].best_bid()
        assert best_bid is not None
        # buying NO at 1 - best bid crosses the YES bids: part fills at once, the rest rests
        placed = await client.place_order(
            _request(TICKER, Side.NO, Action.BUY, SCALE - best_bid[0], best_bid[1] + 2_000_000)
        )
        assert placed.status is OrderStatus.OPEN and placed.fill_hint_micro == best_bid[1]

        def streamed() -> list[OrderUpdate]:
            return [e for e in h.events if isinstance(e, OrderUpdate) and e.order_id == placed.order_id]

        await client.wait_until(lambda: bool(streamed()) and _stream_filled(h, placed.order_id) == best_bid[1], WAIT_S)
        looked_up = await client.get_order(placed.order_id)
        assert looked_up is not None
        queried = await client.fills(TICKER, placed.order_id)
        streamed_fills = [f for f in h.stream_fills() if f.order_id == placed.order_id]
        assert queried and streamed_fills
        orders = [placed, looked_up, *streamed()]
        fills = [*queried, *streamed_fills]
        stated = {(u.outcome, u.action) for u in orders} | {(f.outcome, f.action) for f in fills}
        assert stated == {(Side.YES, Action.SELL)}, stated
        assert {u.price_micro_usd for u in orders} == {best_bid[0]}
        assert {f.price_micro_usd for f in fills} == {best_bid[0]}
