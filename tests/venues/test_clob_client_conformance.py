"""The official py-clob-client-v2 (`ClobClient`, sync) against the simulated Polymarket over
loopback: its ordinary flows (create_and_post_order GTC/FOK/FAK buys and sells, a neg-risk market,
order book, tick size, neg risk, orders with filters, order, cancel, cancel all, trades with
filters, balance-allowance per asset) must be accepted, and every answer is checked field by field
against what the simulator's own records say. The simulator runs on its own event loop in a
background thread; the client calls it from the test thread, as a user's script would."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    MarketOrderArgsV2,
    OpenOrderParams,
    OrderArgsV2,
    OrderMarketCancelParams,
    OrderPayload,
    OrderType,
    PartialCreateOrderOptions,
    PostOrdersV2Args,
    RequestArgs,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException
from py_clob_client_v2.headers.headers import create_level_2_headers
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
from py_clob_client_v2.signer import Signer
from py_clob_client_v2.utilities import generate_orderbook_summary_hash, parse_raw_orderbook_summary
from websockets.sync.client import connect as ws_connect

from arb.domain import BookSide
from arb.fixed import SCALE
from arb.venues.sim.faults import FaultPlan
from arb.venues.sim.polymarket import PolymarketMarketSpec, PolymarketSimulator
from arb.venues.sim.spec import FeeScheduleSpec

T = TypeVar("T")
U = SCALE  # one share / one pUSD in 6-decimal units
NOW_MS = 1_767_225_600_000
KEY = "0x" + hashlib.sha256(b"arb clob-client conformance throwaway key").hexdigest()
ADDRESS = Account.from_key(KEY).address
CREDS = ApiCreds("api-key-conf", base64.urlsafe_b64encode(b"conformance-secret-32-bytes-long").decode(), "pass-conf")
PLAIN = PolymarketMarketSpec(
    "0x" + "d1" * 32,
    "Will the conformance market resolve Yes?",
    "8001",
    "8002",
    fee_schedule=FeeScheduleSpec("0.05", 1),
    gamma_id="501",
)
NEG_RISK = PolymarketMarketSpec(
    "0x" + "d2" * 32,
    "Will candidate A win?",
    "8101",
    "8102",
    tick_micro=1_000,
    neg_risk=True,
    event_id="conformance-event",
    group_item_title="Candidate A",
    gamma_id="502",
)
START_CASH = 1_000 * U
START_NO = 100 * U  # NO tokens of the plain market, to sell
CAPTURED_CLOB_MARKET = (
    Path(__file__).parent.parent
    / "fixtures/venues/polymarket/rest/nautilus_clob_market_closed_binary_accepting_true.json"
)


class Venue:
    """The simulator on an event loop in a daemon thread; `do(fn)` runs `fn` on that loop (every
    touch of simulator state goes through it, so the test thread never races the servers)."""

    def __init__(self, sim: PolymarketSimulator) -> None:
        self.sim = sim
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="polymarket-sim", daemon=True)
        self.thread.start()
        self.run(sim.start())

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def do(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()

        result: T = self.run(call())
        return result

    def close(self) -> None:
        self.run(self.sim.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class Setup:
    venue: Venue
    client: ClobClient
    clock: list[int]  # the simulator's wall clock (ms); only the test moves it

    def advance(self, seconds: int) -> None:
        self.clock[0] += seconds * 1000

    @property
    def sim(self) -> PolymarketSimulator:
        return self.venue.sim

    def record(self, order_id: str) -> dict[str, Any]:
        """The simulator's own view of an account order (its `/data/order` body, built from its
        records, not from the wire)."""
        return self.venue.do(lambda: self.sim.meta_json(self.sim._metas[order_id]))


@contextmanager
def venue(plan: FaultPlan | None = None) -> Iterator[Setup]:
    clock = [NOW_MS]
    sim = PolymarketSimulator([PLAIN, NEG_RISK], participants=False, seed=7, clock_ms=lambda: clock[0], faults=plan)
    sim.add_account(
        CREDS.api_key,
        CREDS.api_secret,
        CREDS.api_passphrase,
        ADDRESS,
        cash_micro=START_CASH,
        positions={PLAIN.no_token: START_NO},
    )
    v = Venue(sim)
    try:
        # House liquidity: YES asks 0.55 x 20 and 0.56 x 30, YES bids 0.45 x 20 and 0.44 x 40;
        # NO bids 0.40 x 50; the neg-risk YES book around 0.300-0.310 on its 0.001 tick.
        v.do(
            lambda: sim.set_book(
                PLAIN.yes_token, [(450_000, 20 * U), (440_000, 40 * U)], [(550_000, 20 * U), (560_000, 30 * U)]
            )
        )
        v.do(lambda: sim.set_book(PLAIN.no_token, [(400_000, 50 * U)], []))
        v.do(lambda: sim.set_book(NEG_RISK.yes_token, [(300_000, 25 * U)], [(310_000, 25 * U)]))
        client = ClobClient(sim.clob_url, 137, key=KEY, creds=CREDS, signature_type=0)
        yield Setup(v, client, clock)
    finally:
        v.close()


def amount(text: str) -> int:
    return int(Decimal(text) * U)


# -- simulator findings (combined faults) -----------------------------------------------------------


def test_fak_acknowledged_live_is_found_by_get_order_at_once() -> None:
    """A venue can always look up an order it acknowledged: a FAK answered "live" (matched later)
    is LIVE to GET /data/order (and listed by /data/orders) until it matches, then MATCHED."""
    with venue(FaultPlan(ack_then_fill=True)) as s:
        answer = s.client.create_and_post_order(
            OrderArgsV2(token_id=PLAIN.yes_token, price=0.55, size=10, side="BUY"), order_type=OrderType.FAK
        )
        assert answer["success"] and answer["status"] == "live"
        order_id = answer["orderID"]
        found = s.client.get_order(order_id)
        assert found == s.record(order_id)
        assert (found["id"], found["status"], found["size_matched"], found["original_size"]) == (
            order_id,
            "LIVE",
            "0",
            "10",
        )
        assert (found["order_type"], found["side"], found["price"], found["asset_id"]) == (
            "FAK",
            "BUY",
            "0.55",
            PLAIN.yes_token,
        )
        assert [o["id"] for o in s.client.get_open_orders(OpenOrderParams(id=order_id))] == [order_id]
        assert s.venue.do(s.sim.release_delayed) == 1
        matched = s.client.get_order(order_id)
        assert (matched["status"], matched["size_matched"]) == ("MATCHED", "10")
        assert len(matched["associate_trades"]) == 1


def test_self_match_trades_and_reports_our_maker_leg() -> None:
    """Our FAK buy crosses our own resting sell: the venue matches them (no self-trade prevention
    on the CLOB) and reports one trade seen from the taker side whose `maker_orders` carries our
    own resting order, in /data/trades and on the user channel; the ledger nets to zero."""
    with venue() as s:
        s.venue.do(lambda: s.sim.set_book(PLAIN.no_token, [], []))
        sell = s.client.create_and_post_order(OrderArgsV2(token_id=PLAIN.no_token, price=0.42, size=10, side="SELL"))
        assert sell["status"] == "live"
        with ws_connect(s.sim.user_ws_url, open_timeout=5) as ws:
            ws.send(
                json.dumps(
                    {
                        "auth": {
                            "apiKey": CREDS.api_key,
                            "secret": CREDS.api_secret,
                            "passphrase": CREDS.api_passphrase,
                        },
                        "type": "user",
                    }
                )
            )
            buy = s.client.create_and_post_order(
                OrderArgsV2(token_id=PLAIN.no_token, price=0.42, size=6, side="BUY"), order_type=OrderType.FAK
            )
            assert (buy["status"], buy["takingAmount"], buy["makingAmount"]) == ("matched", "6", "2.52")
            events: list[dict[str, Any]] = []
            while not any(e.get("event_type") == "trade" for e in events):
                events.append(json.loads(ws.recv(timeout=5)))
        (trade,) = s.client.get_trades(TradeParams(asset_id=PLAIN.no_token))
        (event,) = [e for e in events if e.get("event_type") == "trade"]
        for seen in (trade, event):
            assert (seen["taker_order_id"], seen["trader_side"], seen["side"], seen["size"], seen["price"]) == (
                buy["orderID"],
                "TAKER",
                "BUY",
                "6",
                "0.42",
            )
            (maker,) = seen["maker_orders"]
            assert (maker["order_id"], maker["owner"], maker["maker_address"], maker["side"]) == (
                sell["orderID"],
                CREDS.api_key,
                ADDRESS,
                "SELL",
            )
            assert (maker["matched_amount"], maker["price"], maker["asset_id"]) == ("6", "0.42", PLAIN.no_token)
        assert trade["id"] == event["id"] and event["owner"] == CREDS.api_key
        assert s.client.get_order(sell["orderID"])["size_matched"] == "6"
        account = s.sim.accounts[CREDS.api_key]
        assert account.positions == {PLAIN.no_token: START_NO}  # bought 6 from ourselves
        fee = Decimal(6) * Decimal("0.05") * Decimal("0.42") * Decimal("0.58")  # the taker's, 5 decimals
        assert account.cash_micro == START_CASH - int(fee * U)  # paid 2.52 to ourselves, and the fee
        assert account.reserved_tokens[PLAIN.no_token] == 4 * U  # the sell's unfilled 4 stay reserved


# -- helpers that read the simulator's own records ---------------------------------------------------


def check_order(s: Setup, answer: dict[str, Any], *, status: str) -> None:
    """A `/data/order`-shaped answer against the engine's own order record."""
    order = s.venue.do(lambda: s.sim._metas[answer["id"]].order)
    assert order is not None
    assert answer["status"] == status
    assert (amount(answer["original_size"]), amount(answer["size_matched"]), amount(answer["price"])) == (
        order.size_micro,
        order.filled_micro,
        order.price_micro_usd,
    )
    assert answer["side"] == ("BUY" if order.side is BookSide.BID else "SELL")
    assert answer["asset_id"] == order.book_id and answer["owner"] == CREDS.api_key
    assert answer["market"] == s.sim.token_spec[order.book_id].condition_id
    assert answer["maker_address"] == ADDRESS


def check_matched(s: Setup, answer: dict[str, Any], *, buying: bool) -> list[dict[str, Any]]:
    """A "matched" post answer against the simulator's trade records: its trades are the ones
    the order took, its amounts their sums, its hashes their settlement hashes. Returns the
    trades as `get_trades(id=...)` answers them."""
    assert answer["success"] is True and answer["errorMsg"] == "" and answer["status"] == "matched"
    records = s.venue.do(lambda: [s.sim.trades[t] for t in s.sim._trades_by_order[answer["orderID"]]])
    assert answer["tradeIDs"] == [t.trade_id for t in records]
    assert answer["transactionsHashes"] == [t.tx_hash for t in records]
    shares = sum(t.fill.size_micro for t in records)
    cash = sum(t.fill.size_micro * t.fill.price_micro_usd // U for t in records)
    making, taking = (cash, shares) if buying else (shares, cash)
    assert (amount(answer["makingAmount"]), amount(answer["takingAmount"])) == (making, taking)
    listed = []
    for record in records:
        (trade,) = s.client.get_trades(TradeParams(id=record.trade_id))
        assert (trade["id"], trade["taker_order_id"], trade["status"]) == (
            record.trade_id,
            answer["orderID"],
            "CONFIRMED",
        )
        assert (amount(trade["size"]), amount(trade["price"])) == (record.fill.size_micro, record.fill.price_micro_usd)
        assert trade["transaction_hash"] == record.tx_hash and trade["trader_side"] == "TAKER"
        listed.append(trade)
    return listed


def rejection(call: Callable[[], Any]) -> tuple[int | None, Any]:
    with pytest.raises(PolyApiException) as refused:
        call()
    return refused.value.status_code, refused.value.error_msg


# -- public reads ----------------------------------------------------------------------------------


def test_public_reads_agree_with_the_simulator() -> None:
    with venue() as s:
        c = s.client
        assert c.get_server_time() == NOW_MS // 1000
        assert c.get_version() == 2
        assert (c.get_tick_size(PLAIN.yes_token), c.get_tick_size(NEG_RISK.no_token)) == ("0.01", "0.001")
        assert (c.get_neg_risk(PLAIN.no_token), c.get_neg_risk(NEG_RISK.yes_token)) == (False, True)
        assert c.get_fee_rate_bps(PLAIN.yes_token) == 500 and c.get_fee_rate_bps(NEG_RISK.yes_token) == 0
        assert c.get_fee_exponent(PLAIN.no_token) == 1  # from /markets-by-token then /clob-markets
        info = c.get_clob_market_info(PLAIN.condition_id)
        assert (info["c"], info["mts"], info["mos"], info["fd"]) == (
            PLAIN.condition_id,
            0.01,
            5,
            {"r": 0.05, "e": 1, "to": True},
        )
        assert [(t["t"], t["o"]) for t in info["t"]] == [(PLAIN.yes_token, "Yes"), (PLAIN.no_token, "No")]
        assert "nr" not in info and c.get_clob_market_info(NEG_RISK.condition_id)["nr"] is True
        assert c.get_midpoint(PLAIN.yes_token) == {"mid": "0.5"}
        assert c.get_price(PLAIN.yes_token, "BUY") == {"price": "0.45"}  # the best bid, as documented
        assert c.get_price(PLAIN.yes_token, "SELL") == {"price": "0.55"}  # the best ask
        assert c.get_spread(PLAIN.yes_token) == {"spread": "0.1"}
        assert c.get_last_trade_price(PLAIN.yes_token) == {"price": "0", "side": ""}
        assert rejection(lambda: c.get_midpoint(PLAIN.no_token)) == (
            404,
            {"error": "No orderbook exists for the requested token id"},
        )
        assert rejection(lambda: c.get_order_book("999")) == (
            404,
            {"error": "No orderbook exists for the requested token id"},
        )

        book = c.get_order_book(PLAIN.yes_token)
        summary = parse_raw_orderbook_summary(book)  # the client's own model of the book
        assert generate_orderbook_summary_hash(summary) == book["hash"]  # as the client recomputes it
        bids, asks = s.venue.do(s.sim.engines[PLAIN.yes_token].snapshot)
        assert [(amount(x.price), amount(x.size)) for x in summary.bids] == sorted(bids)
        assert [(amount(x.price), amount(x.size)) for x in summary.asks] == sorted(asks, reverse=True)
        assert (summary.tick_size, summary.min_order_size, summary.neg_risk) == ("0.01", "5", False)

        market = c.get_market(PLAIN.condition_id)
        assert (market["condition_id"], market["neg_risk"], market["minimum_tick_size"]) == (
            PLAIN.condition_id,
            False,
            0.01,
        )
        assert [t["token_id"] for t in market["tokens"]] == [PLAIN.yes_token, PLAIN.no_token]
        listing = c.get_markets()
        assert [m["condition_id"] for m in listing["data"]] == [PLAIN.condition_id, NEG_RISK.condition_id]
        assert listing["next_cursor"] == "LTE="


def test_clob_market_carries_the_captured_key_set() -> None:
    """CLOB `/markets/{condition_id}` has every key the venue's captured answer has, tokens too."""
    captured = json.loads(CAPTURED_CLOB_MARKET.read_text())
    with venue() as s:
        market = s.client.get_market(NEG_RISK.condition_id)
    assert set(market) == set(captured)
    assert {k for t in market["tokens"] for k in t} == {k for t in captured["tokens"] for k in t}
    assert set(market["rewards"]) == set(captured["rewards"])
    assert market["neg_risk_market_id"] and market["question_id"].startswith("0x")


# -- orders ----------------------------------------------------------------------------------------


def test_gtc_buy_and_sell_rest_are_listed_with_filters_and_cancelled() -> None:
    with venue() as s:
        c = s.client
        buy = c.create_and_post_order(OrderArgsV2(token_id=PLAIN.yes_token, price=0.5, size=10, side="BUY"))
        sell = c.create_and_post_order(OrderArgsV2(token_id=PLAIN.no_token, price=0.6, size=8, side="SELL"))
        for answer in (buy, sell):
            assert answer == {
                "success": True,
                "errorMsg": "",
                "orderID": answer["orderID"],
                "status": "live",
                "takingAmount": "",
                "makingAmount": "",
            }
        check_order(s, c.get_order(buy["orderID"]), status="LIVE")
        check_order(s, c.get_order(sell["orderID"]), status="LIVE")
        assert c.get_order(buy["orderID"]) == s.record(buy["orderID"])
        assert {o["id"] for o in c.get_open_orders()} == {buy["orderID"], sell["orderID"]}
        assert [o["id"] for o in c.get_open_orders(OpenOrderParams(asset_id=PLAIN.no_token))] == [sell["orderID"]]
        assert [o["id"] for o in c.get_open_orders(OpenOrderParams(id=buy["orderID"]))] == [buy["orderID"]]
        assert len(c.get_open_orders(OpenOrderParams(market=PLAIN.condition_id))) == 2
        assert c.get_open_orders(OpenOrderParams(market=NEG_RISK.condition_id)) == []
        account = s.sim.accounts[CREDS.api_key]
        assert account.reserved_tokens[PLAIN.no_token] == 8 * U and account.reserved_cash_micro >= 5 * U
        # the book shows our bid (the house had 0.45 best)
        book = c.get_order_book(PLAIN.yes_token)
        assert book["bids"][-1] == {"price": "0.5", "size": "10"}

        assert c.cancel_order(OrderPayload(orderID=buy["orderID"])) == {
            "canceled": [buy["orderID"]],
            "not_canceled": {},
        }
        check_order(s, c.get_order(buy["orderID"]), status="CANCELED")
        assert c.cancel_order(OrderPayload(orderID=buy["orderID"])) == {
            "canceled": [],
            "not_canceled": {buy["orderID"]: "order can't be found - already canceled or matched"},
        }
        assert c.cancel_orders([sell["orderID"], "0xunknown"]) == {
            "canceled": [sell["orderID"]],
            "not_canceled": {"0xunknown": "order not found"},
        }
        assert c.get_open_orders() == []
        assert account.reserved_cash_micro == 0 and account.reserved_tokens[PLAIN.no_token] == 0


def test_fok_and_fak_buys_and_sells_match_and_kills_are_venue_errors() -> None:
    with venue() as s:
        c = s.client
        account = s.sim.accounts[CREDS.api_key]
        fok_buy = c.create_and_post_order(
            OrderArgsV2(token_id=PLAIN.yes_token, price=0.55, size=10, side="BUY"), order_type=OrderType.FOK
        )
        (trade,) = check_matched(s, fok_buy, buying=True)
        assert (fok_buy["makingAmount"], fok_buy["takingAmount"]) == ("5.5", "10")
        assert trade["fee_rate_bps"] == "500" and trade["asset_id"] == PLAIN.yes_token and trade["outcome"] == "Yes"
        check_order(s, c.get_order(fok_buy["orderID"]), status="MATCHED")
        fak_sell = c.create_and_post_order(
            OrderArgsV2(token_id=PLAIN.no_token, price=0.4, size=10, side="SELL"), order_type=OrderType.FAK
        )
        check_matched(s, fak_sell, buying=False)
        assert (fak_sell["makingAmount"], fak_sell["takingAmount"]) == ("10", "4")
        fak_buy = c.create_and_post_order(  # the 10 left at 0.55, then 15 of the 30 at 0.56
            OrderArgsV2(token_id=PLAIN.yes_token, price=0.56, size=25, side="BUY"), order_type=OrderType.FAK
        )
        trades = check_matched(s, fak_buy, buying=True)
        assert [(t["price"], t["size"]) for t in trades] == [("0.55", "10"), ("0.56", "15")]
        fok_sell = c.create_and_post_order(
            OrderArgsV2(token_id=PLAIN.yes_token, price=0.45, size=5, side="SELL"), order_type=OrderType.FOK
        )
        check_matched(s, fok_sell, buying=False)
        market_buy = c.create_and_post_market_order(  # $2.80 at the price the client finds: 5 at 0.56
            MarketOrderArgsV2(token_id=PLAIN.yes_token, amount=2.8, side="BUY"), order_type=OrderType.FOK
        )
        check_matched(s, market_buy, buying=True)
        assert market_buy["takingAmount"] == "5"
        assert account.positions[PLAIN.yes_token] == (10 + 25 - 5 + 5) * U
        assert account.positions[PLAIN.no_token] == START_NO - 10 * U

        cash_before = account.cash_micro
        status, error = rejection(
            lambda: c.create_and_post_order(
                OrderArgsV2(token_id=PLAIN.yes_token, price=0.56, size=100, side="BUY"), order_type=OrderType.FOK
            )
        )
        assert (
            status == 400 and error["error"] == "order couldn't be fully filled. FOK orders are fully filled or killed."
        )
        check_order(s, s.client.get_order(error["orderID"]), status="CANCELED")
        status, error = rejection(
            lambda: c.create_and_post_order(
                OrderArgsV2(token_id=PLAIN.yes_token, price=0.3, size=10, side="BUY"), order_type=OrderType.FAK
            )
        )
        assert (status, error["error"]) == (
            400,
            "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found.",
        )
        assert account.cash_micro == cash_before and account.reserved_cash_micro == 0  # kills cost nothing
        balance = c.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
        assert int(balance["balance"]) == account.cash_micro


def test_neg_risk_market_orders_are_signed_for_the_neg_risk_exchange() -> None:
    with venue() as s:
        c = s.client
        assert c.get_neg_risk(NEG_RISK.yes_token) is True
        answer = c.create_and_post_order(  # tick and neg risk looked up by the client
            OrderArgsV2(token_id=NEG_RISK.yes_token, price=0.31, size=5, side="BUY"), order_type=OrderType.FAK
        )
        check_matched(s, answer, buying=True)
        resting = c.create_and_post_order(
            OrderArgsV2(token_id=NEG_RISK.yes_token, price=0.305, size=6, side="BUY"),
            PartialCreateOrderOptions(tick_size="0.001", neg_risk=True),
        )
        check_order(s, c.get_order(resting["orderID"]), status="LIVE")
        assert c.get_order(resting["orderID"])["price"] == "0.305"
        # signed for the plain exchange instead: the signature does not recover for this market
        wrong = c.create_order(
            OrderArgsV2(token_id=NEG_RISK.yes_token, price=0.305, size=6, side="BUY"),
            PartialCreateOrderOptions(tick_size="0.001", neg_risk=False),
        )
        assert rejection(lambda: c.post_order(wrong)) == (400, {"error": "invalid signature"})
        balance = c.get_balance_allowance(
            BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=NEG_RISK.yes_token)
        )
        assert balance["balance"] == str(5 * U) == str(s.sim.accounts[CREDS.api_key].positions[NEG_RISK.yes_token])


def test_refusals_come_back_in_the_venue_payload() -> None:
    with venue() as s:
        c = s.client
        post_only = c.create_order(OrderArgsV2(token_id=PLAIN.yes_token, price=0.55, size=10, side="BUY"))
        assert rejection(lambda: c.post_order(post_only, post_only=True)) == (
            400,
            {"error": "invalid post-only order: order crosses book"},
        )
        assert rejection(
            lambda: c.create_and_post_order(OrderArgsV2(token_id=PLAIN.yes_token, price=0.5, size=5000, side="BUY"))
        ) == (400, {"error": "not enough balance / allowance"})
        assert rejection(
            lambda: c.create_and_post_order(OrderArgsV2(token_id=PLAIN.yes_token, price=0.6, size=5, side="SELL"))
        ) == (400, {"error": "not enough balance / allowance"})  # holds no YES
        small = c.create_order(OrderArgsV2(token_id=PLAIN.yes_token, price=0.4, size=4, side="BUY"))
        assert rejection(lambda: c.post_order(small)) == (
            400,
            {"error": f"order {small_id(s, small)} is invalid. Size (4) lower than the minimum: 5"},
        )
        good = c.create_order(OrderArgsV2(token_id=PLAIN.yes_token, price=0.4, size=5, side="BUY"))
        assert c.post_order(good)["status"] == "live"
        assert rejection(lambda: c.post_order(good)) == (
            400,
            {"error": f"order {small_id(s, good)} is invalid. Duplicated."},
        )
        # only the one that rests: $2 plus the most its taker fee could be (5 x 0.05 x 0.4 x 0.6)
        assert s.sim.accounts[CREDS.api_key].reserved_cash_micro == 2 * U + 60_000


def small_id(s: Setup, signed: Any) -> str:
    """The order hash (the venue's order id) of a signed order, as the simulator computes it."""
    body = json.loads(json.dumps(order_to_json_v2(signed, CREDS.api_key, OrderType.GTC)))
    return s.sim._verify_order(s.sim.accounts[CREDS.api_key], body["order"], False)


def test_batch_post_then_market_cancel_and_cancel_all() -> None:
    with venue() as s:
        c = s.client
        signed = [
            c.create_order(OrderArgsV2(token_id=PLAIN.yes_token, price=0.41, size=5, side="BUY")),
            c.create_order(OrderArgsV2(token_id=PLAIN.yes_token, price=0.42, size=6, side="BUY")),
            c.create_order(OrderArgsV2(token_id=PLAIN.no_token, price=0.7, size=5, side="SELL")),
            c.create_order(OrderArgsV2(token_id=PLAIN.yes_token, price=0.4, size=1, side="BUY")),  # below minimum
            c.create_order(OrderArgsV2(token_id=NEG_RISK.no_token, price=0.6, size=5, side="BUY")),
        ]
        answers = c.post_orders([PostOrdersV2Args(order=o, orderType=OrderType.GTC) for o in signed])
        assert [a["status"] for a in answers] == ["live", "live", "live", "", "live"]
        refused = answers[3]
        assert refused["success"] is False and refused["errorMsg"].endswith(
            "is invalid. Size (1) lower than the minimum: 5"
        )
        ids = [a["orderID"] for a in answers if a["success"]]
        assert {o["id"] for o in c.get_open_orders()} == set(ids)
        for order_id in ids:
            check_order(s, c.get_order(order_id), status="LIVE")

        canceled = c.cancel_market_orders(OrderMarketCancelParams(asset_id=PLAIN.yes_token))
        assert (sorted(canceled["canceled"]), canceled["not_canceled"]) == (sorted(ids[:2]), {})
        canceled = c.cancel_market_orders(OrderMarketCancelParams(market=PLAIN.condition_id))
        assert canceled == {"canceled": [ids[2]], "not_canceled": {}}
        assert [o["id"] for o in c.get_open_orders()] == [ids[3]]
        assert c.cancel_all() == {"canceled": [ids[3]], "not_canceled": {}}
        assert c.get_open_orders() == [] and c.cancel_all() == {"canceled": [], "not_canceled": {}}
        for order_id in ids:
            check_order(s, c.get_order(order_id), status="CANCELED")
        account = s.sim.accounts[CREDS.api_key]
        assert account.reserved_cash_micro == 0 and account.reserved_tokens[PLAIN.no_token] == 0

        too_many = [PostOrdersV2Args(order=signed[0], orderType=OrderType.GTC)] * 16
        assert rejection(lambda: c.post_orders(too_many)) == (
            400,
            {"error": "Too many orders in payload: 16, max allowed: 15"},
        )


def test_trades_are_filtered_by_id_asset_market_time_and_address() -> None:
    with venue() as s:
        c = s.client
        first = c.create_and_post_order(
            OrderArgsV2(token_id=PLAIN.yes_token, price=0.55, size=5, side="BUY"), order_type=OrderType.FAK
        )
        s.advance(60)
        second = c.create_and_post_order(
            OrderArgsV2(token_id=PLAIN.no_token, price=0.4, size=6, side="SELL"), order_type=OrderType.FAK
        )
        s.advance(60)
        third = c.create_and_post_order(
            OrderArgsV2(token_id=NEG_RISK.yes_token, price=0.31, size=5, side="BUY"), order_type=OrderType.FOK
        )
        ids = [answer["tradeIDs"][0] for answer in (first, second, third)]
        everything = c.get_trades()
        assert [t["id"] for t in everything] == ids
        times = [NOW_MS // 1000, NOW_MS // 1000 + 60, NOW_MS // 1000 + 120]
        assert [int(t["match_time"]) for t in everything] == times
        records = s.venue.do(lambda: [s.sim.trades[i] for i in ids])
        for trade, record in zip(everything, records, strict=True):
            assert (trade["asset_id"], amount(trade["size"]), amount(trade["price"])) == (
                record.fill.book_id,
                record.fill.size_micro,
                record.fill.price_micro_usd,
            )
            assert trade["market"] == record.market and trade["maker_address"] == ADDRESS
        assert [t["id"] for t in c.get_trades(TradeParams(id=ids[1]))] == [ids[1]]
        assert [t["id"] for t in c.get_trades(TradeParams(asset_id=PLAIN.no_token))] == [ids[1]]
        assert [t["id"] for t in c.get_trades(TradeParams(market=PLAIN.condition_id))] == ids[:2]
        assert [t["id"] for t in c.get_trades(TradeParams(after=times[0]))] == ids[1:]
        assert [t["id"] for t in c.get_trades(TradeParams(before=times[2]))] == ids[:2]
        assert [t["id"] for t in c.get_trades(TradeParams(after=times[0], before=times[2]))] == [ids[1]]
        assert [t["id"] for t in c.get_trades(TradeParams(maker_address=ADDRESS))] == ids
        assert c.get_trades(TradeParams(maker_address="0x" + "ab" * 20)) == []
        paged = c.get_trades_paginated(TradeParams(market=PLAIN.condition_id))
        assert (paged["count"], paged["next_cursor"]) == (2, "LTE=")


def test_balance_allowance_per_asset() -> None:
    with venue() as s:
        c = s.client
        c.create_and_post_order(
            OrderArgsV2(token_id=PLAIN.yes_token, price=0.55, size=10, side="BUY"), order_type=OrderType.FOK
        )
        c.create_and_post_order(OrderArgsV2(token_id=PLAIN.yes_token, price=0.3, size=10, side="BUY"))  # rests
        account = s.sim.accounts[CREDS.api_key]
        collateral = c.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
        # the whole on-chain balance: what the buy cost and its taker fee (10 x 0.05 x 0.55 x 0.45);
        # the resting order does not lower it
        assert int(collateral["balance"]) == account.cash_micro == START_CASH - 5_500_000 - 123_750
        assert set(collateral["allowances"]) == {
            s.sim._contracts.exchange_v2,
            s.sim._contracts.neg_risk_exchange_v2,
            s.sim._contracts.neg_risk_adapter,
        }
        for token, held in ((PLAIN.yes_token, 10 * U), (PLAIN.no_token, START_NO), (NEG_RISK.yes_token, 0)):
            conditional = c.get_balance_allowance(
                BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=token)
            )
            assert int(conditional["balance"]) == held == account.positions.get(token, 0)
        updated = c.update_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
        assert updated == collateral
        assert rejection(lambda: c.get_balance_allowance(BalanceAllowanceParams(asset_type="SHARES"))) == (
            400,
            {"error": "Invalid asset type"},
        )
        assert rejection(
            lambda: c.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id="42"))
        ) == (400, {"error": "Invalid token id"})


def test_heartbeats_keep_orders_and_their_absence_cancels_them() -> None:
    with venue() as s:
        c = s.client
        resting = c.create_and_post_order(OrderArgsV2(token_id=PLAIN.yes_token, price=0.3, size=10, side="BUY"))
        first = c.post_heartbeat()
        assert set(first) == {"heartbeat_id"} and first["heartbeat_id"]
        s.advance(8)
        second = c.post_heartbeat(first["heartbeat_id"])
        assert second["heartbeat_id"] != first["heartbeat_id"]
        assert rejection(lambda: c.post_heartbeat("stale")) == (
            400,
            {"error": "Invalid Heartbeat ID", "heartbeat_id": second["heartbeat_id"]},
        )
        s.advance(8)
        check_order(s, c.get_order(resting["orderID"]), status="LIVE")  # 8 s since the last: kept
        s.advance(3)
        check_order(s, c.get_order(resting["orderID"]), status="CANCELED")  # 11 s: cut off
        assert c.get_open_orders() == [] and s.sim.accounts[CREDS.api_key].reserved_cash_micro == 0


# -- properties over one busy venue ----------------------------------------------------------------


@pytest.fixture(scope="module")
def busy() -> Iterator[Setup]:
    """Trades on three tokens a minute apart and resting orders on four, made through the client."""
    with venue() as s:
        c = s.client
        for token, price, side in (
            (PLAIN.yes_token, 0.55, "BUY"),
            (PLAIN.no_token, 0.4, "SELL"),
            (PLAIN.yes_token, 0.56, "BUY"),
            (NEG_RISK.yes_token, 0.31, "BUY"),
            (PLAIN.yes_token, 0.45, "SELL"),
        ):
            c.create_and_post_order(
                OrderArgsV2(token_id=token, price=price, size=5, side=side), order_type=OrderType.FAK
            )
            s.advance(60)
        for token, price, side in (
            (PLAIN.yes_token, 0.3, "BUY"),
            (PLAIN.no_token, 0.7, "SELL"),
            (NEG_RISK.no_token, 0.5, "BUY"),
            (NEG_RISK.yes_token, 0.2, "BUY"),
        ):
            c.create_and_post_order(OrderArgsV2(token_id=token, price=price, size=5, side=side))
        yield s


TOKENS = (PLAIN.yes_token, PLAIN.no_token, NEG_RISK.yes_token, NEG_RISK.no_token)
MARKETS = (PLAIN.condition_id, NEG_RISK.condition_id)
optional = st.none().__or__


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    asset=optional(st.sampled_from(TOKENS)),
    market=optional(st.sampled_from(MARKETS)),
    after=optional(st.integers(NOW_MS // 1000 - 30, NOW_MS // 1000 + 330)),
    before=optional(st.integers(NOW_MS // 1000 - 30, NOW_MS // 1000 + 330)),
    pick=optional(st.integers(0, 4)),
)
def test_trade_filters_select_exactly_the_matching_records(
    busy: Setup, asset: str | None, market: str | None, after: int | None, before: int | None, pick: int | None
) -> None:
    """Whatever the filters, `get_trades` lists exactly the simulator's trade records that match
    them, in order (filtered here from the records, not through the simulator's code)."""
    records = busy.venue.do(lambda: [busy.sim.trades[t] for t in busy.sim.accounts[CREDS.api_key].trade_ids])
    trade_id = None if pick is None else records[pick].trade_id
    expected = [
        r.trade_id
        for r in records
        if (asset is None or r.fill.book_id == asset)
        and (market is None or busy.sim.token_spec[r.fill.book_id].condition_id == market)
        and (after is None or r.match_time_s > after)
        and (before is None or r.match_time_s < before)
        and (trade_id is None or r.trade_id == trade_id)
    ]
    params = TradeParams(id=trade_id, market=market, asset_id=asset, before=before, after=after)
    assert [t["id"] for t in busy.client.get_trades(params)] == expected


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    asset=optional(st.sampled_from(TOKENS)), market=optional(st.sampled_from(MARKETS)), pick=optional(st.integers(0, 3))
)
def test_order_filters_select_exactly_the_resting_records(
    busy: Setup, asset: str | None, market: str | None, pick: int | None
) -> None:
    resting = busy.venue.do(lambda: list(busy.sim.accounts[CREDS.api_key].resting.values()))
    order_id = None if pick is None else resting[pick].order_id
    expected = {
        m.order_id
        for m in resting
        if (asset is None or m.token == asset)
        and (market is None or busy.sim.token_spec[m.token].condition_id == market)
        and (order_id is None or m.order_id == order_id)
    }
    listed = busy.client.get_open_orders(OpenOrderParams(id=order_id, market=market, asset_id=asset))
    assert {o["id"] for o in listed} == expected
    for answer in listed:
        check_order(busy, answer, status="LIVE")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["order", "orderType", "owner", "orderID", "market", "asset_id", "heartbeat_id", "tokenId"])
            | st.text(max_size=4),
            inner,
            max_size=5,
        )
    ),
    max_leaves=10,
)
SIGNER = Signer(KEY, 137)
HTTP = httpx.Client(trust_env=False)  # one keep-alive connection for all the examples
WRITE_ROUTES = (
    ("POST", "/order"),
    ("POST", "/orders"),
    ("POST", "/v1/heartbeats"),
    ("DELETE", "/order"),
    ("DELETE", "/orders"),
    ("DELETE", "/cancel-market-orders"),
)
READ_ROUTES = ("/data/trades", "/data/orders", "/balance-allowance", "/price", "/midpoint", "/tick-size", "/book")
QUERY = st.dictionaries(
    st.sampled_from(["token_id", "side", "before", "after", "asset_type", "signature_type", "id", "next_cursor"]),
    st.text(alphabet="0123456789abcdefxyzBUYSELCOATRNDI=-", max_size=12),
    max_size=4,
)


@settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(WRITE_ROUTES),
    body=JSON | st.text(max_size=20),
    read=st.sampled_from(READ_ROUTES),
    query=QUERY,
)
def test_malformed_requests_get_a_venue_error_never_a_crash(
    busy: Setup, route: tuple[str, str], body: Any, read: str, query: dict[str, str]
) -> None:
    """Garbage bodies on every write route and garbage queries on the reads: a 2xx or the venue's
    4xx `{"error": ...}`, never a 5xx, and the server's handler records no exception."""
    method, path = route
    text = body if isinstance(body, str) else json.dumps(body)
    for request_method, request_path, content, params in ((method, path, text, None), ("GET", read, None, query)):
        headers = create_level_2_headers(
            SIGNER, CREDS, RequestArgs(method=request_method, request_path=request_path, serialized_body=content)
        )
        answer = HTTP.request(
            request_method, busy.sim.clob_url + request_path, headers=headers, content=content, params=params
        )
        assert answer.status_code in (200, 400, 404), (request_method, request_path, content, params, answer.text)
        if answer.status_code != 200:
            assert isinstance(answer.json()["error"], str)
    assert busy.sim._clob is not None and busy.sim._clob.handler_errors == []


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("maker", "not-an-address", "Invalid order payload"),
        ("signer", "not-an-address", "Invalid order payload"),
        ("signature", "0x" + "00" * 65, "invalid signature"),  # hex of the right length, no key recovers from it
    ],
)
def test_a_signed_order_with_an_unusable_address_or_signature_is_a_venue_error(
    busy: Setup, key: str, value: str, error: str
) -> None:
    """A well-formed order body whose address cannot be encoded or whose signature cannot be
    recovered: the venue's 400 `{"error": ...}`, not a 500 from the handler."""
    signed = busy.client.create_order(OrderArgsV2(token_id=PLAIN.yes_token, price=0.3, size=5, side="BUY"))
    body = json.loads(json.dumps(order_to_json_v2(signed, CREDS.api_key, OrderType.GTC)))
    body["order"][key] = value
    text = json.dumps(body)
    headers = create_level_2_headers(
        SIGNER, CREDS, RequestArgs(method="POST", request_path="/order", serialized_body=text)
    )
    answer = HTTP.post(busy.sim.clob_url + "/order", headers=headers, content=text)
    assert (answer.status_code, answer.json()) == (400, {"error": error})
    assert busy.sim._clob is not None and busy.sim._clob.handler_errors == []


@pytest.mark.parametrize("body", [{"orderID": "0xab"}, "0xab", 7])
def test_cancel_orders_takes_only_a_list_of_ids(busy: Setup, body: Any) -> None:
    """`DELETE /orders` takes a JSON array of order ids: an object or a string is a payload error,
    not read as the list of its keys or its characters."""
    text = json.dumps(body)
    headers = create_level_2_headers(
        SIGNER, CREDS, RequestArgs(method="DELETE", request_path="/orders", serialized_body=text)
    )
    answer = HTTP.request("DELETE", busy.sim.clob_url + "/orders", headers=headers, content=text)
    assert (answer.status_code, answer.json()) == (400, {"error": "Invalid order payload"})
