"""A simulated Polymarket on loopback: Gamma + CLOB REST and the market and user WebSockets, in
the same JSON shapes as the real venue (see `arb/venues/polymarket/wire.py` for the protocol).

What it serves:
- Gamma (its own `LoopbackHttpServer`): `GET /markets` (limit/offset, `condition_ids`, `slug`,
  `active`, `closed`), `/markets/{id}`, `/events`, `/events/{id}`, and the Data API's
  `/positions?user=` (so one base URL serves both in tests).
- CLOB (a second server): `GET /book` (with the current-scheme hash), `/markets/{condition_id}`,
  `POST /order`, `DELETE /order`, `/orders`, `/cancel-all`, `GET /data/orders`, `/data/order/{id}`,
  `/data/trades` (cursor-paged), `/balance-allowance`. Every private call checks the L2 headers
  (HMAC of timestamp + method + path + body with the account's secret, api key, passphrase, address)
  and answers 401 otherwise. A posted order's EIP-712 signature must recover to its `signer`
  (eth_account, with the exchange contract of the market's negRisk flag), the signer must be the
  account's address and `maker` its funder; its order id is the order hash, as on the venue.
- Market socket (`/ws/market`): subscribe (`assets_ids`, or `operation: subscribe|unsubscribe`)
  -> an array frame of `book` snapshots; then `price_change` (current format: new totals,
  BUY = bid, best_bid/best_ask after the change), `last_trade_price` per fill and a fresh `book`
  after trades; text `PING` -> `PONG` (answered even while the feed is frozen).
- User socket (`/ws/user`): auth subscribe with the account's key/secret/passphrase; `order`
  events (PLACEMENT, UPDATE, CANCELLATION) and `trade` events per fill for taker and maker,
  MATCHED then (with `auto_settle`) MINED and CONFIRMED; `fail_trade` sends RETRYING and FAILED
  and reverses the ledger.

Matching: one `MatchingEngine` per token. There is no complementary matching or minting across a
market's two tokens (a YES buy never matches a NO buy): each token is its own book, which is what
the adapter sees anyway. A posted order's limit price is its signed amounts' ratio (rounded onto
the tick: down for buys, up for sells) and its size the shares it signs for (a FOK/FAK buy's
`takerAmount`). GTD orders rest like GTC (the sim does not expire them).

Faults (`FaultInjector`, `arb/venues/sim/faults.py`) on stream "market" and "user": connection
drop, silent freeze (PING still answered), hash mismatch (the next `book` frame's hash corrupted),
HTTP 429/500 (before the handler runs), partial fills (`partial_fill_limit`), FAK acknowledged
"live" and matched later (`release_delayed`, or after `fill_later_s`), latency on every answer and
frame. `answer_500_after_processing` makes the next order POSTs be processed but answered 500 (the
ambiguous case). Scripted participants (`MarketMaker`, `Taker`) move prices on `step()`.

Deterministic under `seed` (ids, participants, faults) and the injected `clock_ms`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from eth_account import Account
from eth_account.messages import encode_typed_data
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2, SignatureTypeV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderV2
from py_clob_client_v2.order_utils.model.side import Side as ClobSide
from py_clob_client_v2.signing.hmac import build_hmac_signature
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from arb.domain import BookSide, OrderStatus, TimeInForce
from arb.fixed import SCALE
from arb.venues.polymarket.wire import BookHashContext, book_frame, decimal_text
from arb.venues.sim.engine import CancelReason, LevelDelta, MatchingEngine, SimFill, SimOrder
from arb.venues.sim.faults import Fault, FaultInjector, FaultPlan
from arb.venues.sim.http import HttpRequest, HttpResponse, LoopbackHttpServer
from arb.venues.sim.participants import MarketMaker, Taker

__all__ = ["PolymarketSim", "SimAccount", "SimMarketSpec"]

_BID = BookSide.BID
_ASK = BookSide.ASK
_LOT = 10_000
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SimMarketSpec:
    """One simulated binary market (two tokens)."""

    condition_id: str
    question: str
    yes_token: str
    no_token: str
    tick_micro: int = 10_000
    min_order_size_micro: int = 5_000_000
    neg_risk: bool = False
    fee_rate: str | None = None  # "0.05": feesEnabled with feeSchedule {rate, exponent 1, takerOnly}
    event_id: str = "1"
    gamma_id: str = "1"
    group_item_title: str = ""
    yes_mid_micro: int = 500_000
    slug: str = ""

    @property
    def tokens(self) -> tuple[str, str]:
        return (self.yes_token, self.no_token)


@dataclass(slots=True)
class SimAccount:
    api_key: str
    secret: str
    passphrase: str
    signer_address: str
    funder_address: str
    cash_micro: int = 1_000_000 * SCALE
    positions: dict[str, int] = field(default_factory=dict)  # token -> shares (micro)


@dataclass(slots=True)
class _Trade:
    trade_id: str
    fill: SimFill
    market: str
    status: str
    match_time_s: int
    tx_hash: str


@dataclass(slots=True)
class _Conn:
    ws: ServerConnection
    stream: str
    assets: set[str] = field(default_factory=set)
    owner: str = ""
    queue: asyncio.Queue[str | list[Any] | dict[str, Any]] = field(default_factory=asyncio.Queue)
    frame_index: int = 0
    corrupt_next_book: bool = False
    closed: bool = False


class PolymarketSim:
    """`await start()`; point the adapter at `gamma_url`, `clob_url`, `market_ws_url`,
    `user_ws_url`; drive with `step()`, `take(...)`, `release_delayed()`, `fail_trade(...)`."""

    def __init__(
        self,
        markets: Sequence[SimMarketSpec],
        *,
        clock_ms: Callable[[], int],
        faults: FaultPlan | FaultInjector | None = None,
        seed: int = 0,
        sleep: Sleep = asyncio.sleep,
        chain_id: int = 137,
        auto_settle: bool = True,
        participants: bool = True,
        maker_size_micro: int = 50 * SCALE,
        page_size: int = 100,
    ) -> None:
        self.specs = {m.condition_id: m for m in markets}
        self.faults = faults if isinstance(faults, FaultInjector) else FaultInjector(faults)
        self._clock_ms = clock_ms
        self._sleep = sleep
        self._release_tasks: set[asyncio.Task[None]] = set()
        self._rng = random.Random(f"{seed}:ids")
        self.chain_id = chain_id
        self.auto_settle = auto_settle
        self.page_size = page_size
        self.accounts: dict[str, SimAccount] = {}
        self.token_spec: dict[str, SimMarketSpec] = {}
        self.engines: dict[str, MatchingEngine] = {}
        self.last_trade: dict[str, int] = {}
        self.trades: dict[str, _Trade] = {}
        self.order_types: dict[str, str] = {}  # order id -> GTC/GTD/FOK/FAK
        self.delayed: list[tuple[str, str, str, BookSide, int, int, TimeInForce, int | None]] = []
        self.answer_500_after_processing = 0
        self.stats: dict[str, int] = {"orders": 0, "rejected_auth": 0, "bad_signature": 0, "frames": 0, "pings": 0}
        self._forced_id: str | None = None
        self._conns: list[_Conn] = []
        self._writers: set[asyncio.Task[Any]] = set()
        self._gamma: LoopbackHttpServer | None = None
        self._clob: LoopbackHttpServer | None = None
        self._ws: Server | None = None
        self._contracts = get_contract_config(chain_id)
        self.participants: list[MarketMaker | Taker] = []
        participant_rng = random.Random(f"{seed}:participants")
        for spec in markets:
            for i, token in enumerate(spec.tokens):
                self.token_spec[token] = spec
                engine = MatchingEngine(token, self._next_id)
                self.engines[token] = engine
                if participants:
                    mid = spec.yes_mid_micro if i == 0 else SCALE - spec.yes_mid_micro
                    mid = max(spec.tick_micro, min(SCALE - spec.tick_micro, mid // spec.tick_micro * spec.tick_micro))
                    maker = MarketMaker(
                        f"mm:{token[:8]}", engine, participant_rng, mid, 2, spec.tick_micro, 3, maker_size_micro
                    )
                    maker.requote()
                    self.participants.append(maker)
                    self.participants.append(
                        Taker(f"taker:{token[:8]}", engine, participant_rng, 3, SCALE, spec.tick_micro)
                    )

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._gamma = LoopbackHttpServer(self._gamma_handler, sleep=self._sleep, faults=self.faults)
        self._clob = LoopbackHttpServer(self._clob_handler, sleep=self._sleep, faults=self.faults)
        await self._gamma.start()
        await self._clob.start()
        self._ws = await serve(self._ws_handler, "127.0.0.1", 0, ping_interval=None, compression=None, max_size=2**22)

    async def close(self) -> None:
        for conn in list(self._conns):
            conn.closed = True
            conn.ws.transport.abort()
        for task in list(self._writers):
            task.cancel()
        await asyncio.gather(*self._writers, return_exceptions=True)
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
        for server in (self._gamma, self._clob):
            if server is not None:
                await server.close()

    async def __aenter__(self) -> PolymarketSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def gamma_url(self) -> str:
        assert self._gamma is not None
        return self._gamma.base_url

    @property
    def clob_url(self) -> str:
        assert self._clob is not None
        return self._clob.base_url

    @property
    def _ws_port(self) -> int:
        assert self._ws is not None
        return next(iter(self._ws.sockets)).getsockname()[1]

    @property
    def market_ws_url(self) -> str:
        return f"ws://127.0.0.1:{self._ws_port}/ws/market"

    @property
    def user_ws_url(self) -> str:
        return f"ws://127.0.0.1:{self._ws_port}/ws/user"

    def add_account(
        self,
        api_key: str,
        secret: str,
        passphrase: str,
        signer_address: str,
        funder_address: str | None = None,
        cash_micro: int = 1_000_000 * SCALE,
    ) -> SimAccount:
        account = SimAccount(api_key, secret, passphrase, signer_address, funder_address or signer_address, cash_micro)
        self.accounts[api_key] = account
        return account

    def connections(self, stream: str) -> int:
        return sum(1 for c in self._conns if c.stream == stream and not c.closed)

    # -- ids and time ----------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        if prefix == "order":
            if self._forced_id is not None:
                forced, self._forced_id = self._forced_id, None
                return forced
            return "0x" + f"{self._rng.getrandbits(256):064x}"
        bits = f"{self._rng.getrandbits(128):032x}"
        return f"{bits[:8]}-{bits[8:12]}-{bits[12:16]}-{bits[16:20]}-{bits[20:]}"

    def _now_ms(self) -> int:
        return self._clock_ms()

    # -- market activity -------------------------------------------------------------------------

    def step(self, steps: int = 1) -> None:
        """Let every participant act `steps` times; publish what happened."""
        for _ in range(steps):
            for participant in self.participants:
                result = participant.step()
                self._publish(participant.engine.book_id, result.fills, result.deltas)

    def take(
        self,
        token: str,
        side: BookSide,
        price_micro: int,
        size_micro: int,
        tif: TimeInForce = TimeInForce.IOC,
        owner: str = "external",
    ) -> SimOrder:
        """Trade as an outside participant (e.g. to fill one of the adapter's resting orders)."""
        result = self.engines[token].submit(owner, side, price_micro, size_micro, tif)
        self._publish(token, result.fills, result.deltas)
        self._after_submit(result.order, result.fills)
        return result.order

    def _publish(self, token: str, fills: list[SimFill], deltas: list[LevelDelta]) -> None:
        spec = self.token_spec[token]
        engine = self.engines[token]
        now = self._now_ms()
        if deltas:
            best_bid, best_ask = engine.best_bid(), engine.best_ask()
            changes = []
            for delta in deltas:
                changes.append(
                    {
                        "asset_id": token,
                        "price": decimal_text(delta.price_micro_usd),
                        "size": decimal_text(delta.size_micro),
                        "side": "BUY" if delta.side is _BID else "SELL",
                        "hash": hashlib.sha1(
                            f"{token}:{now}:{len(self.trades)}:{delta.price_micro_usd}:{delta.size_micro}".encode()
                        ).hexdigest(),
                        "best_bid": decimal_text(best_bid[0]) if best_bid else "0",
                        "best_ask": decimal_text(best_ask[0]) if best_ask else "1",
                    }
                )
            frame = {
                "market": spec.condition_id,
                "price_changes": changes,
                "event_type": "price_change",
                "timestamp": str(now),
            }
            self._broadcast_market(token, frame)
        for fill in fills:
            self.last_trade[token] = fill.price_micro_usd
            self._broadcast_market(
                token,
                {
                    "asset_id": token,
                    "event_type": "last_trade_price",
                    "fee_rate_bps": "0",
                    "market": spec.condition_id,
                    "price": decimal_text(fill.price_micro_usd),
                    "side": "BUY" if fill.taker_side is _BID else "SELL",
                    "size": decimal_text(fill.size_micro),
                    "timestamp": str(now),
                    "transaction_hash": "0x" + hashlib.sha256(fill.fill_id.encode()).hexdigest(),
                },
            )
            self._record_trade(token, fill)
        if fills:
            self._broadcast_market(token, self.book_json(token))

    def book_json(self, token: str, *, rest: bool = False) -> dict[str, Any]:
        spec = self.token_spec[token]
        engine = self.engines[token]
        bids, asks = engine.snapshot()
        return book_frame(
            market=spec.condition_id,
            asset_id=token,
            timestamp_ms=self._now_ms(),
            bids=bids,
            asks=asks,
            tick_size_micro=spec.tick_micro,
            last_trade_price_micro=self.last_trade.get(token),
            context=BookHashContext(decimal_text(spec.min_order_size_micro), spec.neg_risk),
            event_type=None if rest else "book",
        )

    # -- trades, orders and the ledger -----------------------------------------------------------

    def _record_trade(self, token: str, fill: SimFill) -> None:
        spec = self.token_spec[token]
        trade_id = self._next_id("trade")
        trade = _Trade(
            trade_id,
            fill,
            spec.condition_id,
            "MATCHED",
            self._now_ms() // 1000,
            "0x" + hashlib.sha256(trade_id.encode()).hexdigest(),
        )
        self.trades[trade_id] = trade
        for owner, side in (
            (fill.taker_owner, fill.taker_side),
            (fill.maker_owner, _ASK if fill.taker_side is _BID else _BID),
        ):
            account = self.accounts.get(owner)
            if account is None:
                continue
            sign = 1 if side is _BID else -1
            account.positions[token] = account.positions.get(token, 0) + sign * fill.size_micro
            account.cash_micro -= sign * fill.size_micro * fill.price_micro_usd // SCALE
        self._send_trade(trade)
        if self.auto_settle:
            for status in ("MINED", "CONFIRMED"):
                trade.status = status
                self._send_trade(trade)

    def fail_trade(self, trade_id: str) -> None:
        """Settlement failed on chain: RETRYING then FAILED to both parties; the ledger is reversed."""
        trade = self.trades[trade_id]
        fill = trade.fill
        for status in ("RETRYING", "FAILED"):
            trade.status = status
            self._send_trade(trade)
        for owner, side in (
            (fill.taker_owner, fill.taker_side),
            (fill.maker_owner, _ASK if fill.taker_side is _BID else _BID),
        ):
            account = self.accounts.get(owner)
            if account is None:
                continue
            sign = 1 if side is _BID else -1
            account.positions[fill.book_id] = account.positions.get(fill.book_id, 0) - sign * fill.size_micro
            account.cash_micro += sign * fill.size_micro * fill.price_micro_usd // SCALE

    def advance_trade(self, trade_id: str, status: str) -> None:
        trade = self.trades[trade_id]
        trade.status = status
        self._send_trade(trade)

    def trade_json(self, trade: _Trade, owner: str) -> dict[str, Any]:
        """A `/data/trades` item / user `trade` event as `owner` sees it."""
        fill = trade.fill
        token = fill.book_id
        spec = self.token_spec[token]
        outcome = "Yes" if token == spec.yes_token else "No"
        taker = self.accounts.get(fill.taker_owner)
        maker = self.accounts.get(fill.maker_owner)
        return {
            "id": trade.trade_id,
            "taker_order_id": fill.taker_order_id,
            "market": spec.condition_id,
            "asset_id": token,
            "side": "BUY" if fill.taker_side is _BID else "SELL",
            "size": decimal_text(fill.size_micro),
            "fee_rate_bps": "0",
            "price": decimal_text(fill.price_micro_usd),
            "status": trade.status,
            "match_time": str(trade.match_time_s),
            "last_update": str(self._now_ms() // 1000),
            "outcome": outcome,
            "bucket_index": 0,
            "owner": owner,
            "maker_address": taker.funder_address if taker else "0x0000000000000000000000000000000000000000",
            "transaction_hash": trade.tx_hash,
            "maker_orders": [
                {
                    "order_id": fill.maker_order_id,
                    "owner": fill.maker_owner,
                    "maker_address": maker.funder_address if maker else "0x0000000000000000000000000000000000000000",
                    "matched_amount": decimal_text(fill.size_micro),
                    "price": decimal_text(fill.price_micro_usd),
                    "fee_rate_bps": "0",
                    "asset_id": token,
                    "outcome": outcome,
                    "side": "SELL" if fill.taker_side is _BID else "BUY",
                }
            ],
            "trader_side": "TAKER" if owner == fill.taker_owner else "MAKER",
        }

    def _send_trade(self, trade: _Trade) -> None:
        for owner in dict.fromkeys((trade.fill.taker_owner, trade.fill.maker_owner)):
            if owner in self.accounts:
                event = self.trade_json(trade, owner)
                event.update(
                    {"event_type": "trade", "type": "TRADE", "timestamp": str(self._now_ms()), "trade_owner": owner}
                )
                self._broadcast_user(owner, event)

    def order_json(self, order: SimOrder, kind: str | None = None) -> dict[str, Any]:
        spec = self.token_spec[order.book_id]
        account = self.accounts.get(order.owner)
        if order.status is OrderStatus.OPEN:
            status = "LIVE"
        elif order.status is OrderStatus.FILLED:
            status = "MATCHED"
        else:
            status = "CANCELED"
        d = {
            "id": order.order_id,
            "status": status,
            "owner": order.owner,
            "maker_address": account.funder_address if account else "",
            "market": spec.condition_id,
            "asset_id": order.book_id,
            "side": "BUY" if order.side is _BID else "SELL",
            "original_size": decimal_text(order.size_micro),
            "size_matched": decimal_text(order.filled_micro),
            "price": decimal_text(order.price_micro_usd),
            "outcome": "Yes" if order.book_id == spec.yes_token else "No",
            "expiration": "0",
            "order_type": self.order_types.get(order.order_id, "GTC"),
            "associate_trades": [
                t.trade_id
                for t in self.trades.values()
                if order.order_id in (t.fill.taker_order_id, t.fill.maker_order_id)
            ],
            "created_at": str(self._now_ms() // 1000),
        }
        if kind is not None:
            d.update(
                {"event_type": "order", "type": kind, "order_owner": order.owner, "timestamp": str(self._now_ms())}
            )
        return d

    def _after_submit(self, order: SimOrder, fills: list[SimFill]) -> None:
        """User `order` events for the submitted order and every account's maker order it hit."""
        if order.owner in self.accounts:
            if order.status is OrderStatus.OPEN:
                self._broadcast_user(
                    order.owner, self.order_json(order, "PLACEMENT" if not order.filled_micro else "UPDATE")
                )
            elif order.status is OrderStatus.FILLED:
                self._broadcast_user(order.owner, self.order_json(order, "UPDATE"))
            else:
                self._broadcast_user(order.owner, self.order_json(order, "CANCELLATION"))
        for fill in fills:
            if fill.maker_owner in self.accounts:
                maker = self.engines[fill.book_id].order(fill.maker_order_id)
                if maker is not None:
                    self._broadcast_user(maker.owner, self.order_json(maker, "UPDATE"))

    # -- sockets -----------------------------------------------------------------------------------

    def _broadcast_market(self, token: str, frame: dict[str, Any] | list[Any]) -> None:
        for conn in self._conns:
            if conn.stream == "market" and token in conn.assets and not conn.closed:
                conn.queue.put_nowait(frame)

    def _broadcast_user(self, owner: str, frame: dict[str, Any]) -> None:
        for conn in self._conns:
            if conn.stream == "user" and conn.owner == owner and not conn.closed:
                conn.queue.put_nowait(frame)

    async def _ws_handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        stream = "market" if path.startswith("/ws/market") else "user" if path.startswith("/ws/user") else ""
        if not stream:
            await ws.close(1008, "unknown path")
            return
        conn = _Conn(ws, stream)
        self.faults.connection_opened(stream)
        self._conns.append(conn)
        writer = asyncio.ensure_future(self._writer(conn))
        self._writers.add(writer)
        writer.add_done_callback(self._writers.discard)
        try:
            async for message in ws:
                if message == "PING":
                    self.stats["pings"] += 1
                    await ws.send("PONG")
                    continue
                try:
                    msg = orjson.loads(message)
                except orjson.JSONDecodeError:
                    continue
                if type(msg) is not dict:
                    continue
                if stream == "market":
                    self._market_subscription(conn, msg)
                elif not self._user_subscription(conn, msg):
                    await ws.close(1008, "invalid auth")
                    return
        except ConnectionClosed:
            pass
        finally:
            conn.closed = True
            writer.cancel()
            if conn in self._conns:
                self._conns.remove(conn)

    def _market_subscription(self, conn: _Conn, msg: dict[str, Any]) -> None:
        assets = [a for a in msg.get("assets_ids") or () if isinstance(a, str) and a in self.engines]
        if msg.get("operation") == "unsubscribe":
            conn.assets.difference_update(assets)
            return
        new = [a for a in assets if a not in conn.assets]
        conn.assets.update(assets)
        if new and msg.get("initial_dump", True):
            conn.queue.put_nowait([self.book_json(a) for a in new])

    def _user_subscription(self, conn: _Conn, msg: dict[str, Any]) -> bool:
        auth = msg.get("auth")
        if not isinstance(auth, dict):
            return False
        account = self.accounts.get(auth.get("apiKey"))
        if account is None or auth.get("secret") != account.secret or auth.get("passphrase") != account.passphrase:
            self.stats["rejected_auth"] += 1
            return False
        conn.owner = account.api_key
        return True

    async def _writer(self, conn: _Conn) -> None:
        """Send queued frames through the fault injector: drop, freeze, corrupt, delay."""
        try:
            while True:
                frame = await conn.queue.get()
                fault = self.faults.frame_fault(conn.stream, conn.frame_index)
                conn.frame_index += 1
                if fault is Fault.DROP_CONNECTION:
                    conn.closed = True
                    conn.ws.transport.abort()
                    return
                if fault is Fault.FREEZE:
                    continue
                if fault is Fault.HASH_MISMATCH:
                    conn.corrupt_next_book = True
                if conn.corrupt_next_book:
                    frame = self._corrupt(conn, frame)
                delay = self.faults.jittered_latency_s()
                if delay > 0:
                    await self._sleep(delay)
                self.stats["frames"] += 1
                await conn.ws.send(orjson.dumps(frame).decode())
        except (ConnectionClosed, asyncio.CancelledError):
            return

    @staticmethod
    def _corrupt(conn: _Conn, frame: Any) -> Any:
        books = [frame] if isinstance(frame, dict) else frame if isinstance(frame, list) else []
        for i, item in enumerate(books):
            if isinstance(item, dict) and item.get("event_type") == "book":
                bad = dict(item, hash=hashlib.sha1(("corrupt:" + item["hash"]).encode()).hexdigest())
                conn.corrupt_next_book = False
                if isinstance(frame, dict):
                    return bad
                return [*frame[:i], bad, *frame[i + 1 :]]
        return frame

    # -- REST: Gamma and Data API ----------------------------------------------------------------

    def gamma_market_json(self, spec: SimMarketSpec) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": spec.gamma_id,
            "question": spec.question,
            "conditionId": spec.condition_id,
            "slug": spec.slug or spec.condition_id[:12],
            "description": f"Simulated market: {spec.question}",
            "outcomes": json.dumps(["Yes", "No"]),
            "outcomePrices": json.dumps([decimal_text(spec.yes_mid_micro), decimal_text(SCALE - spec.yes_mid_micro)]),
            "clobTokenIds": json.dumps([spec.yes_token, spec.no_token]),
            "active": True,
            "closed": False,
            "acceptingOrders": True,
            "enableOrderBook": True,
            "orderPriceMinTickSize": spec.tick_micro / SCALE,
            "orderMinSize": spec.min_order_size_micro / SCALE,
            "negRisk": spec.neg_risk,
            "negRiskOther": False,
            "groupItemTitle": spec.group_item_title,
            "startDate": "2026-01-01T00:00:00Z",
            "endDate": "2026-12-31T00:00:00Z",
            "feesEnabled": spec.fee_rate is not None,
            "feeSchedule": None
            if spec.fee_rate is None
            else {"rate": float(spec.fee_rate), "exponent": 1, "takerOnly": True, "rebateRate": 0.25},
        }
        if spec.neg_risk:
            d["negRiskMarketID"] = "0x" + hashlib.sha256(spec.event_id.encode()).hexdigest()
        return d

    def _gamma_handler(self, request: HttpRequest) -> HttpResponse:
        if request.method != "GET":
            return HttpResponse.json(405, {"error": "method not allowed"})
        path = request.path
        if path == "/markets":
            markets = [self.gamma_market_json(s) for s in self.specs.values()]
            ids = request.query_values("condition_ids")
            if ids:
                markets = [m for m in markets if m["conditionId"] in ids]
            if "slug" in request.query:
                markets = [m for m in markets if m["slug"] == request.query["slug"]]
            if request.query.get("closed") == "true":
                markets = []
            return HttpResponse.json(200, _window(markets, request.query))
        if path.startswith("/markets/"):
            key = path[len("/markets/") :]
            for spec in self.specs.values():
                if key in (spec.gamma_id, spec.condition_id):
                    return HttpResponse.json(200, self.gamma_market_json(spec))
            return HttpResponse.json(404, {"error": "market not found"})
        if path == "/events" or path.startswith("/events/"):
            events: dict[str, list[SimMarketSpec]] = {}
            for spec in self.specs.values():
                events.setdefault(spec.event_id, []).append(spec)
            listing = []
            for event_id, specs in events.items():
                neg_risk = any(s.neg_risk for s in specs)
                event = {
                    "id": event_id,
                    "title": f"Event {event_id}",
                    "negRisk": neg_risk,
                    "negRiskAugmented": False,
                    "markets": [self.gamma_market_json(s) for s in specs],
                }
                if neg_risk:
                    event["negRiskMarketID"] = "0x" + hashlib.sha256(event_id.encode()).hexdigest()
                listing.append(event)
            if path.startswith("/events/"):
                wanted = path[len("/events/") :]
                found = [e for e in listing if e["id"] == wanted]
                return (
                    HttpResponse.json(200, found[0]) if found else HttpResponse.json(404, {"error": "event not found"})
                )
            return HttpResponse.json(200, _window(listing, request.query))
        if path == "/positions":
            user = (request.query.get("user") or "").lower()
            out = []
            for account in self.accounts.values():
                if account.funder_address.lower() != user:
                    continue
                for token, size in account.positions.items():
                    if size:
                        spec = self.token_spec[token]
                        out.append(
                            {
                                "proxyWallet": account.funder_address,
                                "asset": token,
                                "conditionId": spec.condition_id,
                                "size": size / SCALE,
                                "outcome": "Yes" if token == spec.yes_token else "No",
                            }
                        )
            return HttpResponse.json(200, out)
        return HttpResponse.json(404, {"error": "not found"})

    # -- REST: CLOB --------------------------------------------------------------------------------

    def clob_market_json(self, spec: SimMarketSpec) -> dict[str, Any]:
        return {
            "condition_id": spec.condition_id,
            "question": spec.question,
            "description": f"Simulated market: {spec.question}",
            "market_slug": spec.slug or spec.condition_id[:12],
            "active": True,
            "closed": False,
            "accepting_orders": True,
            "enable_order_book": True,
            "minimum_order_size": spec.min_order_size_micro / SCALE,
            "minimum_tick_size": spec.tick_micro / SCALE,
            "neg_risk": spec.neg_risk,
            "neg_risk_market_id": ("0x" + hashlib.sha256(spec.event_id.encode()).hexdigest()) if spec.neg_risk else "",
            "end_date_iso": "2026-12-31T00:00:00Z",
            "tokens": [
                {"token_id": spec.yes_token, "outcome": "Yes", "price": 0.5, "winner": False},
                {"token_id": spec.no_token, "outcome": "No", "price": 0.5, "winner": False},
            ],
        }

    def _authenticate(self, request: HttpRequest) -> SimAccount | None:
        h = request.headers
        account = self.accounts.get(h.get("poly_api_key", ""))
        if account is None or h.get("poly_passphrase") != account.passphrase:
            return None
        if (h.get("poly_address") or "").lower() != account.signer_address.lower():
            return None
        timestamp = h.get("poly_timestamp") or ""
        if not timestamp.isdigit():
            return None
        body = request.body.decode() if request.body else None
        expected = build_hmac_signature(account.secret, timestamp, request.method, request.path, body)
        if not hmac.compare_digest(expected, h.get("poly_signature") or ""):
            return None
        return account

    async def _clob_handler(self, request: HttpRequest) -> HttpResponse:
        method, path = request.method, request.path
        if method == "GET" and path == "/book":
            token = request.query.get("token_id", "")
            if token not in self.engines:
                return HttpResponse.json(404, {"error": "No orderbook exists for the requested token id"})
            return HttpResponse.json(200, self.book_json(token, rest=True))
        if method == "GET" and path.startswith("/markets/"):
            spec = self.specs.get(path[len("/markets/") :])
            return (
                HttpResponse.json(200, self.clob_market_json(spec))
                if spec
                else HttpResponse.json(404, {"error": "market not found"})
            )
        if (method, path) not in _PRIVATE and not (method == "GET" and path.startswith("/data/order/")):
            return HttpResponse.json(404, {"error": "not found"})
        account = self._authenticate(request)
        if account is None:
            self.stats["rejected_auth"] += 1
            return HttpResponse.json(401, {"error": "Unauthorized/Invalid api key"})
        if method == "POST":
            return await self._post_order(account, request)
        if method == "DELETE":
            return self._cancel(account, path, request)
        if path == "/data/orders":
            orders = [o for e in self.engines.values() for o in e.orders_of(account.api_key)]
            market = request.query.get("market")
            if market:
                orders = [o for o in orders if self.token_spec[o.book_id].condition_id == market]
            return HttpResponse.json(
                200, self._cursor_page([self.order_json(o) for o in orders], request.query.get("next_cursor"))
            )
        if path.startswith("/data/order/"):
            order_id = path[len("/data/order/") :]
            for engine in self.engines.values():
                order = engine.order(order_id)
                if order is not None and order.owner == account.api_key:
                    return HttpResponse.json(200, self.order_json(order))
            return HttpResponse.json(404, {"error": "order not found"})
        if path == "/data/trades":
            mine = [t for t in self.trades.values() if account.api_key in (t.fill.taker_owner, t.fill.maker_owner)]
            market = request.query.get("market")
            if market:
                mine = [t for t in mine if t.market == market]
            return HttpResponse.json(
                200,
                self._cursor_page(
                    [self.trade_json(t, account.api_key) for t in mine], request.query.get("next_cursor")
                ),
            )
        return HttpResponse.json(200, {"balance": str(account.cash_micro), "allowances": {}})

    def _cursor_page(self, items: list[Any], cursor: str | None) -> dict[str, Any]:
        start = 0
        if cursor and cursor not in ("MA==", "LTE="):
            start = int(base64.b64decode(cursor).decode())
        page = items[start : start + self.page_size]
        end = start + len(page)
        next_cursor = "LTE=" if end >= len(items) else base64.b64encode(str(end).encode()).decode()
        return {"data": page, "next_cursor": next_cursor, "limit": self.page_size, "count": len(page)}

    def _verify_order(self, account: SimAccount, order: dict[str, Any], neg_risk: bool) -> str:
        """The order hash (its id) if the EIP-712 signature recovers to the account's signer."""
        signed = OrderV2(
            salt=str(order["salt"]),
            maker=order["maker"],
            signer=order["signer"],
            tokenId=order["tokenId"],
            makerAmount=order["makerAmount"],
            takerAmount=order["takerAmount"],
            side=ClobSide.BUY if order["side"] == "BUY" else ClobSide.SELL,
            signatureType=SignatureTypeV2(int(order["signatureType"])),
            timestamp=order["timestamp"],
            metadata=order["metadata"],
            builder=order["builder"],
            expiration=order.get("expiration", "0"),
        )
        exchange = self._contracts.neg_risk_exchange_v2 if neg_risk else self._contracts.exchange_v2
        builder = ExchangeOrderBuilderV2(exchange, self.chain_id, None)  # type: ignore[arg-type]
        typed = builder.build_order_typed_data(signed)
        recovered = Account.recover_message(encode_typed_data(full_message=typed), signature=order["signature"])
        if recovered.lower() != str(order["signer"]).lower() or recovered.lower() != account.signer_address.lower():
            raise _Refused("invalid signature")
        if str(order["maker"]).lower() != account.funder_address.lower():
            raise _Refused("maker address not allowed, please use the deposit wallet flow")
        return builder.build_order_hash(typed)

    async def _post_order(self, account: SimAccount, request: HttpRequest) -> HttpResponse:
        self.stats["orders"] += 1
        try:
            body = orjson.loads(request.body)
            order = body["order"]
            order_type = body["orderType"]
            token = order["tokenId"]
            spec = self.token_spec[token]
            if body.get("owner") != account.api_key:
                return HttpResponse.json(
                    400, {"success": False, "errorMsg": "the order owner has to be the owner of the API KEY"}
                )
            order_id = self._verify_order(account, order, spec.neg_risk)
            maker, taker = int(order["makerAmount"]), int(order["takerAmount"])
            buying = order["side"] == "BUY"
            if maker <= 0 or taker <= 0 or order_type not in ("GTC", "GTD", "FOK", "FAK"):
                raise ValueError("invalid amounts or order type")
        except _Refused as exc:
            self.stats["bad_signature"] += 1
            return HttpResponse.json(400, {"success": False, "errorMsg": str(exc)})
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError):
            return HttpResponse.json(400, {"success": False, "errorMsg": "invalid order payload"})
        tick = spec.tick_micro
        if buying:
            price = maker * SCALE // taker // tick * tick
            size = taker
        else:
            price = -(-(taker * SCALE // maker) // tick) * tick
            size = maker
        if not tick <= price <= SCALE - tick or size < spec.min_order_size_micro:
            problem = f"invalid order: price {decimal_text(price)} or size {decimal_text(size)} out of range"
            return HttpResponse.json(400, {"success": False, "errorMsg": problem})
        side = _BID if buying else _ASK
        tif = {"GTC": TimeInForce.GTC, "GTD": TimeInForce.GTD, "FOK": TimeInForce.FOK, "FAK": TimeInForce.IOC}[
            order_type
        ]
        engine = self.engines[token]
        if body.get("postOnly"):
            opposite = engine.best_ask() if buying else engine.best_bid()
            if opposite is not None and (opposite[0] <= price if buying else opposite[0] >= price):
                return HttpResponse.json(
                    400, {"success": False, "errorMsg": "invalid post-only order: order crosses book"}
                )
        self.order_types[order_id] = order_type
        fill_limit = self.faults.partial_fill_limit(size, _LOT)
        if tif is TimeInForce.IOC and self.faults.ack_then_fill:
            self.delayed.append((order_id, account.api_key, token, side, price, size, tif, fill_limit))
            if self.faults.fill_later_s > 0:
                task = asyncio.ensure_future(self._release_later(self.faults.fill_later_s))
                self._release_tasks.add(task)  # a reference keeps the task alive until it runs
                task.add_done_callback(self._release_tasks.discard)
            return HttpResponse.json(200, _answer(order_id, "live"))
        answer = self._execute(order_id, account.api_key, token, side, price, size, tif, fill_limit)
        if self.answer_500_after_processing > 0:
            self.answer_500_after_processing -= 1
            return HttpResponse.json(500, {"error": "could not run the execution"})
        return answer

    def _execute(
        self,
        order_id: str,
        owner: str,
        token: str,
        side: BookSide,
        price: int,
        size: int,
        tif: TimeInForce,
        fill_limit: int | None,
    ) -> HttpResponse:
        engine = self.engines[token]
        self._forced_id = order_id
        result = engine.submit(owner, side, price, size, tif, fill_limit_micro=fill_limit)
        self._forced_id = None
        self._publish(token, result.fills, result.deltas)
        self._after_submit(result.order, result.fills)
        order = result.order
        if order.cancel_reason is CancelReason.FOK_NOT_FILLABLE:
            killed = "order couldn't be fully filled. FOK orders are fully filled or killed."
            return HttpResponse.json(
                200, {"success": False, "errorMsg": killed, "orderID": order_id, "status": "unmatched"}
            )
        if order.filled_micro:
            trade_ids = [t.trade_id for t in self.trades.values() if t.fill.taker_order_id == order_id]
            spent = sum(f.size_micro * f.price_micro_usd // SCALE for f in result.fills)
            making, taking = (spent, order.filled_micro) if side is _BID else (order.filled_micro, spent)
            return HttpResponse.json(
                200,
                {
                    "success": True,
                    "errorMsg": "",
                    "orderID": order_id,
                    "status": "matched",
                    "tradeIDs": trade_ids,
                    "makingAmount": decimal_text(making),
                    "takingAmount": decimal_text(taking),
                    "transactionsHashes": [self.trades[t].tx_hash for t in trade_ids],
                },
            )
        status = "live" if order.status is OrderStatus.OPEN else "unmatched"
        return HttpResponse.json(200, _answer(order_id, status))

    async def _release_later(self, delay_s: float) -> None:
        await self._sleep(delay_s)
        self.release_delayed()

    def release_delayed(self) -> int:
        """Match the FAK orders that were acknowledged "live" (the ack-then-fill fault)."""
        pending, self.delayed = self.delayed, []
        for order_id, owner, token, side, price, size, tif, fill_limit in pending:
            self._execute(order_id, owner, token, side, price, size, tif, fill_limit)
        return len(pending)

    def _cancel(self, account: SimAccount, path: str, request: HttpRequest) -> HttpResponse:
        if path == "/cancel-all":
            ids = [o.order_id for e in self.engines.values() for o in e.orders_of(account.api_key)]
        else:
            try:
                body = orjson.loads(request.body)
                ids = [body["orderID"]] if path == "/order" else list(body)
                if not all(isinstance(i, str) for i in ids):
                    raise TypeError
            except (KeyError, TypeError, orjson.JSONDecodeError):
                return HttpResponse.json(400, {"error": "invalid cancel payload"})
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        for order_id in ids:
            found = False
            for token, engine in self.engines.items():
                order = engine.order(order_id)
                if order is None or order.owner != account.api_key:
                    continue
                found = True
                result = engine.cancel(order_id)
                if result.canceled:
                    canceled.append(order_id)
                    self._publish(token, [], result.deltas)
                    self._broadcast_user(account.api_key, self.order_json(order, "CANCELLATION"))
                else:
                    not_canceled[order_id] = "order can't be found - already canceled or matched"
                break
            if not found:
                not_canceled[order_id] = "order not found"
        return HttpResponse.json(200, {"canceled": canceled, "not_canceled": not_canceled})


_PRIVATE = {
    ("POST", "/order"),
    ("DELETE", "/order"),
    ("DELETE", "/orders"),
    ("DELETE", "/cancel-all"),
    ("GET", "/data/orders"),
    ("GET", "/data/trades"),
    ("GET", "/balance-allowance"),
}


class _Refused(Exception):
    """A well-formed order the venue refuses (bad signature, foreign maker)."""


def _answer(order_id: str, status: str) -> dict[str, Any]:
    """An order post answer with nothing matched yet."""
    return {
        "success": True,
        "errorMsg": "",
        "orderID": order_id,
        "status": status,
        "takingAmount": "",
        "makingAmount": "",
    }


def _window(items: list[Any], query: dict[str, str]) -> list[Any]:
    try:
        offset = max(0, int(query.get("offset", "0")))
        limit = max(1, int(query.get("limit", "100")))
    except ValueError:
        return items
    return items[offset : offset + limit]
