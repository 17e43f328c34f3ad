"""The paper venue around the real clients, connected over loopback to the simulated venues: paper
fills follow the books the venue publishes, and nothing reaches the venue (its own order and fill
records for our account stay empty, its account's cash untouched)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from arb.domain import Action, BookSide, Fill, Liquidity, OrderRequest, OrderStatus, OrderUpdate, Side, TimeInForce
from arb.execution.paper import PaperConfig, PaperFeed, PaperVenue
from arb.fixed import SCALE
from arb.venues.chaos import FakeTime
from arb.venues.kalshi.auth import KalshiSigner
from arb.venues.kalshi.client import KalshiClient, KalshiConfig
from arb.venues.polymarket.client import PolymarketClient, PolymarketConfig
from arb.venues.polymarket.orders import PolymarketCredentials
from arb.venues.sim.kalshi import KalshiSimulator
from arb.venues.sim.polymarket import PolymarketSimulator
from arb.venues.sim.spec import FeeScheduleSpec, PolymarketMarketSpec

M = SCALE
KEY_ID = "paper-key"
TICKER = "KXPAPER-26-A"
CONDITION = "0x" + "5e" * 32
YES_TOKEN, NO_TOKEN = "8101", "8102"
WAIT_S = 10.0
_PM_KEY = "0x" + hashlib.sha256(b"arb paper loopback throwaway key").hexdigest()
_PM_CREDS = PolymarketCredentials(
    _PM_KEY, "paper-api-key", base64.urlsafe_b64encode(b"paper-secret-32-bytes-long-00000").decode(), "paper-pass"
)


def c(cents: int) -> int:
    return cents * 10_000


class Recorder:
    """The paper venue's sink: records every event and wakes waiters on each."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Any) -> None:
        self.events.append(event)
        self._changed.set()

    def fills(self) -> list[Fill]:
        return [e for e in self.events if isinstance(e, Fill)]

    async def until(self, predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


def paper_of(client: PaperFeed, recorder: Recorder, time: FakeTime) -> PaperVenue:
    ids = itertools.count(1)
    return PaperVenue(
        client, PaperConfig(Decimal(100)), wall_clock_ms=time.wall_ms, ids=lambda: f"p{next(ids)}", sink=recorder
    )


@pytest.mark.asyncio
async def test_kalshi_paper_fills_follow_the_live_book_and_nothing_reaches_the_venue() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    time = FakeTime()
    sim = KalshiSimulator(api_keys={KEY_ID: key.public_key()}, seed=3, clock_ms=time.wall_ms)
    sim.add_series("KXPAPER", "Paper series", "quadratic_with_maker_fees", 1.0)
    sim.add_event("KXPAPER-26", "KXPAPER", "Which one", mutually_exclusive=True)
    sim.add_market(TICKER, "KXPAPER-26", yes_sub_title="A")
    sim.set_book(TICKER, [(c(40), 5 * M)], [(c(45), 3 * M), (c(46), 4 * M)])
    await sim.start()
    cash_before = sim.account(KEY_ID).available_micro
    client = KalshiClient(
        KalshiConfig(
            rest_base_url=sim.rest_base_url,
            ws_url=sim.ws_url,
            check_interval_s=None,
            ping_interval_s=None,
            trust_env=False,
            request_timeout_s=5.0,
        ),
        clock=time.clock,
        sleep=time.sleep,
        rng=random.Random(1),
        signer=KalshiSigner(KEY_ID, key),
        wall_clock_ms=time.wall_ms,
    )
    recorder = Recorder()
    paper = paper_of(client, recorder, time)
    book = client.books
    try:
        await paper.start()
        markets = await paper.markets(series_ticker="KXPAPER")
        assert [m.market_id for m in markets] == [TICKER] and markets[0].taker_fee is not None
        await paper.subscribe(markets)
        await client.subscribe(markets, ["market_lifecycle_v2"])  # lifecycle reaches the paper through its feed
        await recorder.until(lambda: TICKER in book and book[TICKER].trusted)
        assert book[TICKER].asks() == ((c(45), 3 * M), (c(46), 4 * M))

        def request(cid: str, outcome: Side, action: Action, price: int, size: int, tif: TimeInForce) -> OrderRequest:
            return OrderRequest(cid, TICKER, outcome, action, price, size, tif)

        taken = await paper.place_order(request("k1", Side.YES, Action.BUY, c(46), 10 * M, TimeInForce.IOC))
        assert taken.status is OrderStatus.CANCELED and taken.filled_size_micro == 7 * M
        assert [(f.price_micro_usd, f.size_micro) for f in recorder.fills()] == [(c(45), 3 * M), (c(46), 4 * M)]
        gone = await paper.place_order(request("k2", Side.YES, Action.BUY, c(46), M, TimeInForce.IOC))
        assert gone.filled_size_micro == 0  # the venue's book has not changed: what we took is gone

        # buying NO at 62 sells YES at 38 or better against the YES bids
        no = await paper.place_order(request("k3", Side.NO, Action.BUY, c(62), 2 * M, TimeInForce.IOC))
        assert (no.outcome, no.action, no.price_micro_usd, no.filled_size_micro) == (
            Side.YES,
            Action.SELL,
            c(38),
            2 * M,
        )
        assert recorder.fills()[-1].price_micro_usd == c(40)

        resting = await paper.place_order(request("k4", Side.YES, Action.BUY, c(44), 2 * M, TimeInForce.GTC))
        assert resting.status is OrderStatus.OPEN
        sim.set_level(TICKER, BookSide.ASK, c(44), M)  # the venue shows 1 new contract at 44: it crosses us
        await recorder.until(lambda: len(recorder.fills()) == 4)
        maker = recorder.fills()[-1]
        assert (maker.order_id, maker.liquidity, maker.price_micro_usd, maker.size_micro) == (
            resting.order_id,
            Liquidity.MAKER,
            c(44),
            M,
        )
        assert [o.order_id for o in await paper.open_orders()] == [resting.order_id]
        assert (await paper.cancel_order(resting.order_id)).status is OrderStatus.CANCELED
        # the venue's book changed since our first taker took the 45s: they are displayed again
        again = await paper.place_order(request("k5", Side.YES, Action.BUY, c(45), M, TimeInForce.FOK))
        assert again.status is OrderStatus.FILLED and recorder.fills()[-1].price_micro_usd == c(45)

        positions = await paper.positions()
        assert [(p.market_id, p.position_micro) for p in positions] == [(TICKER, 7 * M)]  # 7 + 1 + 1 - 2 YES
        fees = sum(f.fee_micro_usd or 0 for f in recorder.fills())
        flow = 3 * c(45) + 4 * c(46) - 2 * c(40) + c(44) + c(45)
        balance = await paper.balance()
        assert balance.available_micro_usd == 100 * M - flow - fees
        # the venue determines the market: the paper position (7 YES) is paid out at $1 each
        resting = await paper.place_order(request("k6", Side.YES, Action.BUY, c(30), M, TimeInForce.GTC))
        sim.determine(TICKER, "yes")
        await recorder.until(lambda: not paper.positions_now())
        assert paper.cash_usd * M == 100 * M - flow - fees + 7 * M
        assert (await paper.reconcile_order(resting.order_id)).status is OrderStatus.CANCELED
        # nothing reached the venue: no order, no fill, no cash moved for our key
        assert sim.orders_of(KEY_ID) == [] and sim.fills_of(KEY_ID) == []
        assert sim.account(KEY_ID).available_micro == cash_before
    finally:
        await paper.close()
        await sim.close()


@pytest.mark.asyncio
async def test_polymarket_paper_fills_follow_the_live_token_books_and_nothing_reaches_the_venue() -> None:
    time = FakeTime()
    spec = PolymarketMarketSpec(
        CONDITION,
        "Will paper trading stay on paper?",
        YES_TOKEN,
        NO_TOKEN,
        fee_schedule=FeeScheduleSpec("0.04"),
    )
    sim = PolymarketSimulator([spec], clock_ms=time.wall_ms, seed=4, participants=False)
    sim.set_book(YES_TOKEN, [(c(40), 50 * M)], [(c(45), 30 * M)])
    sim.set_book(NO_TOKEN, [(c(54), 20 * M)], [(c(58), 10 * M), (c(60), 10 * M)])
    await sim.start()
    account = sim.add_account(
        _PM_CREDS.api_key, _PM_CREDS.api_secret, _PM_CREDS.api_passphrase, _PM_CREDS.signer_address, cash_micro=1000 * M
    )
    client = PolymarketClient(
        PolymarketConfig(
            gamma_base_url=sim.gamma_url,
            clob_base_url=sim.clob_url,
            data_api_base_url=sim.gamma_url,
            market_ws_url=sim.market_ws_url,
            user_ws_url=sim.user_ws_url,
            check_interval_s=60.0,
            request_timeout_s=5.0,
        ),
        clock=time.clock,
        sleep=time.sleep,
        rng=random.Random(2),
        credentials=_PM_CREDS,
        wall_clock_ms=time.wall_ms,
    )
    recorder = Recorder()
    paper = paper_of(client, recorder, time)
    books = client.books
    try:
        await paper.start()
        markets = await paper.markets()
        assert [m.market_id for m in markets] == [CONDITION] and markets[0].taker_fee is not None
        await paper.subscribe(markets)
        await recorder.until(lambda: all(t in books and books[t].trusted for t in (YES_TOKEN, NO_TOKEN)))
        assert books[NO_TOKEN].asks() == ((c(58), 10 * M), (c(60), 10 * M))

        bought = await paper.place_order(
            OrderRequest("cid1", CONDITION, Side.NO, Action.BUY, c(60), 15 * M, TimeInForce.IOC)
        )
        assert bought.status is OrderStatus.FILLED and bought.book_id == NO_TOKEN
        assert [(f.book_id, f.price_micro_usd, f.size_micro) for f in recorder.fills()] == [
            (NO_TOKEN, c(58), 10 * M),
            (NO_TOKEN, c(60), 5 * M),
        ]
        pending = [e for e in recorder.events if isinstance(e, OrderUpdate) and e.status is OrderStatus.PENDING]
        assert [p.order_id for p in pending] == [bought.order_id]

        resting = await paper.place_order(
            OrderRequest("cid2", CONDITION, Side.YES, Action.BUY, c(44), 10 * M, TimeInForce.GTC)
        )
        assert resting.status is OrderStatus.OPEN
        sim.set_level(YES_TOKEN, BookSide.ASK, c(44), 6 * M)  # the venue shows 6 new shares at 44
        await recorder.until(lambda: len(recorder.fills()) == 3)
        maker = recorder.fills()[-1]
        assert (maker.book_id, maker.liquidity, maker.price_micro_usd, maker.size_micro, maker.fee_micro_usd) == (
            YES_TOKEN,
            Liquidity.MAKER,
            c(44),
            6 * M,
            0,
        )
        sold = await paper.place_order(
            OrderRequest("cid3", CONDITION, Side.NO, Action.SELL, c(54), 5 * M, TimeInForce.IOC)
        )
        assert sold.status is OrderStatus.FILLED
        held = {p.book_id: p.position_micro for p in await paper.positions()}
        assert held == {NO_TOKEN: 10 * M, YES_TOKEN: 6 * M}
        # 0.04 x 10 x .58 x .42 = 0.09744; 0.04 x 5 x .6 x .4 = 0.048; 0.04 x 5 x .54 x .46 = 0.04968
        assert [f.fee_micro_usd for f in recorder.fills()] == [97_440, 48_000, 0, 49_680]
        assert paper.cash_usd == Decimal(100) - Decimal("8.80") - Decimal("2.64") + Decimal("2.70") - Decimal("0.19512")
        # nothing reached the venue: our account has no order and its cash is untouched
        assert account.orders == {} and account.cash_micro == 1000 * M
        assert not [t for t in sim.trades.values() if account.api_key in (t.fill.taker_owner, t.fill.maker_owner)]
    finally:
        await paper.close()
        await sim.close()
