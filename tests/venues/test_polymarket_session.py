"""Sans-I/O Polymarket sessions: book continuity (hash, best bid/ask, resync with replay), keep-alive
and the silent-freeze watchdog on an injected clock, bad frames counted, and fills counted once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.domain import (
    Action,
    BookChange,
    BookSnapshot,
    Fill,
    FillStatus,
    MarketInfo,
    MarketStatus,
    OrderStatus,
    OrderUpdate,
    PriceBand,
    Side,
    Venue,
)
from arb.venues.base import Reconnect, SendText
from arb.venues.polymarket import wire
from arb.venues.polymarket.session import FetchBook, PolymarketMarketSession, PolymarketUserSession
from arb.venues.polymarket.wire import UserContext
from solvers.fees import polymarket_fee
from tests.venues.golden import fixture_path

S = 1_000_000_000
YES, NO = "1001", "1002"


def market(tokens: tuple[str, str] = (YES, NO), market_id: str = "0xm", tick: int = 10_000) -> MarketInfo:
    return MarketInfo(
        Venue.POLYMARKET,
        market_id,
        "",
        "Will it?",
        "",
        "",
        MarketStatus.OPEN,
        None,
        None,
        None,
        (PriceBand(tick, 1_000_000 - tick, tick),),
        5_000_000,
        True,
        10_000,
        polymarket_fee(rate=Decimal(0)),
        polymarket_fee(rate=Decimal(0), maker=True),
        token_ids=tokens,
    )


def book_bytes(
    asset: str, bids: dict[int, int], asks: dict[int, int], *, ts: int = 1, market_id: str = "0xm", rest: bool = False
) -> bytes:
    frame = wire.book_frame(
        market=market_id,
        asset_id=asset,
        timestamp_ms=ts,
        bids=bids.items(),
        asks=asks.items(),
        tick_size_micro=10_000,
        last_trade_price_micro=500_000,
        context=wire.BookHashContext("5", False),
        event_type=None if rest else "book",
    )
    return orjson.dumps(frame)


def change_bytes(asset: str, side: str, price: int, size: int, best: tuple[int, int] | None, ts: int = 2) -> bytes:
    entry: dict[str, Any] = {
        "asset_id": asset,
        "price": wire.decimal_text(price),
        "size": wire.decimal_text(size),
        "side": side,
        "hash": "0" * 40,
    }
    if best is not None:
        entry["best_bid"], entry["best_ask"] = wire.decimal_text(best[0]), wire.decimal_text(best[1])
    return orjson.dumps({"market": "0xm", "price_changes": [entry], "event_type": "price_change", "timestamp": str(ts)})


def connected_session(**kwargs: Any) -> PolymarketMarketSession:
    session = PolymarketMarketSession(**kwargs)
    session.add_markets([market()])
    session.on_connect(0)
    for token in (YES, NO):
        session.receive(book_bytes(token, {490_000: 10 * S // 1000}, {510_000: 10 * S // 1000}), 1)
    return session


# -- books ----------------------------------------------------------------------------------------


def test_subscribe_on_connect_lists_every_token_and_books_wait_for_snapshots() -> None:
    session = PolymarketMarketSession()
    assert session.add_markets([market()]) == []  # not connected: nothing to send yet
    (command,) = session.on_connect(0)
    assert isinstance(command, SendText) and orjson.loads(command.text)["assets_ids"] == [YES, NO]
    assert not session.trusted(YES)
    session.receive(book_bytes(YES, {490_000: 1}, {510_000: 1}), 1)
    assert session.trusted(YES) and not session.trusted(NO)


def test_adding_markets_while_connected_extends_the_subscription() -> None:
    session = connected_session()
    (command,) = session.add_markets([market(("2001", "2002"), "0xn")])
    assert isinstance(command, SendText)
    assert orjson.loads(command.text) | {} == {
        "operation": "subscribe",
        "assets_ids": ["2001", "2002"],
        "level": 2,
        "initial_dump": True,
        "custom_feature_enabled": True,
    }


def test_real_2024_book_and_legacy_change_apply() -> None:
    trump = market(
        (
            "21742633143463906290569050155826241533067272736897614950488156847949938836455",
            "48331043336612883890938759509493159234755048973500640148014422747788308965732",
        ),
        "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917",
    )
    session = PolymarketMarketSession()
    session.add_markets([trump])
    session.on_connect(0)
    no_token = trump.token_ids[1]  # type: ignore[index]
    assert session.receive(fixture_path("polymarket/ws/nautilus_book.json").read_bytes(), 1) == ()
    book = session.books[no_token]
    assert book.trusted and book.best_bid() == (511_000, 1_304_720_000) and book.best_ask() == (514_000, 20_230_870_000)
    session.receive(fixture_path("polymarket/ws/nautilus_price_change.json").read_bytes(), 2)
    assert book.best_ask() == (514_000, 21_574_080_000) and book.trusted


def test_price_change_matching_the_venue_best_keeps_the_book_trusted() -> None:
    session = connected_session()
    assert session.receive(change_bytes(YES, "BUY", 500_000, 7 * S // 1000, (500_000, 510_000)), 2) == ()
    assert session.trusted(YES) and session.books[YES].best_bid() == (500_000, 7 * S // 1000)
    session.receive(change_bytes(YES, "BUY", 500_000, 0, (490_000, 510_000)), 3)
    assert session.trusted(YES) and session.books[YES].best_bid() == (490_000, 10 * S // 1000)
    assert session.stats.changes == 2 and session.stats.best_mismatches == 0


def test_best_mismatch_untrusts_buffers_and_replays_after_the_rest_snapshot() -> None:
    session = connected_session()
    # The venue says the best bid is 0.50 but our ladder has 0.49: we missed an update.
    (command,) = session.receive(change_bytes(YES, "SELL", 520_000, 3_000_000, (500_000, 510_000)), 2)
    assert command == FetchBook(YES, "best bid/ask mismatch", 1) and not session.trusted(YES)
    # Changes during the fetch are held, not applied.
    session.receive(change_bytes(YES, "BUY", 495_000, 4_000_000, (500_000, 510_000)), 3)
    assert session.books[YES].best_bid() == (490_000, 10_000_000)
    # The REST snapshot (taken mid-stream) plus the replayed change gives the venue's book.
    rest = book_bytes(
        YES, {500_000: 2_000_000, 490_000: 1_000_000}, {510_000: 1_000_000, 520_000: 3_000_000}, ts=2, rest=True
    )
    assert session.apply_rest_book(rest, 4, command) == ()
    book = session.books[YES]
    assert book.trusted and book.bids() == ((500_000, 2_000_000), (495_000, 4_000_000), (490_000, 1_000_000))
    assert session.stats.replayed_changes == 1 and session.stats.resyncs == 1
    # A late second answer for the same token is ignored.
    assert session.apply_rest_book(rest, 5) == () and session.stats.stale_rest_snapshots == 1


def test_book_hash_mismatch_untrusts_and_a_fresh_ws_book_ends_the_resync() -> None:
    session = connected_session()
    bad = orjson.loads(book_bytes(YES, {480_000: 1_000_000}, {520_000: 1_000_000}))
    bad["hash"] = "f" * 40
    (command,) = session.receive(orjson.dumps(bad), 2)
    assert isinstance(command, FetchBook) and not session.trusted(YES) and session.stats.hash_mismatches == 1
    session.receive(book_bytes(YES, {480_000: 1_000_000}, {520_000: 1_000_000}, ts=3), 3)
    assert session.trusted(YES) and YES not in session.resyncing
    assert session.apply_rest_book(book_bytes(YES, {1_000: 1}, {999_000: 1}, rest=True), 4) == ()
    assert session.books[YES].best_bid() == (480_000, 1_000_000)


def test_rest_snapshot_teaches_the_hash_inputs_when_market_metadata_is_stale() -> None:
    session = PolymarketMarketSession()
    session.add_markets([dataclasses.replace(market(), min_order_size_micro=15_000_000)])  # venue says 5
    session.on_connect(0)
    (command,) = session.receive(book_bytes(YES, {490_000: 1}, {510_000: 1}), 1)
    assert isinstance(command, FetchBook) and session.stats.hash_mismatches == 1
    session.apply_rest_book(book_bytes(YES, {490_000: 1}, {510_000: 1}, rest=True), 2)
    assert session.trusted(YES)
    assert session.receive(book_bytes(YES, {480_000: 1}, {510_000: 1}, ts=3), 3) == ()
    assert session.trusted(YES) and session.stats.hash_mismatches == 1


def test_rest_snapshot_with_a_bad_hash_asks_to_reconnect() -> None:
    session = connected_session()
    session.receive(change_bytes(YES, "SELL", 520_000, 3_000_000, (500_000, 510_000)), 2)
    rest = orjson.loads(book_bytes(YES, {500_000: 1}, {510_000: 1}, ts=2, rest=True))
    rest["hash"] = "0" * 40
    (command,) = session.apply_rest_book(rest, 3)
    assert isinstance(command, Reconnect) and not session.trusted(YES)


def test_malformed_change_is_counted_and_untrusts_its_book() -> None:
    session = connected_session()
    bad = orjson.loads(change_bytes(YES, "BUY", 500_000, 1, None))
    bad["price_changes"][0]["price"] = "NaN"
    commands = session.receive(orjson.dumps(bad), 2)
    assert commands == [FetchBook(YES, "dropped a malformed book update", 1)]
    assert session.stats.rejected_total == 1 and "price" in session.recent_errors[-1].message
    assert not session.trusted(YES) and session.trusted(NO)


def test_change_without_asset_untrusts_its_whole_market() -> None:
    session = connected_session()
    bad = orjson.loads(change_bytes(YES, "BUY", 500_000, 1, None))
    del bad["price_changes"][0]["asset_id"]
    session.receive(orjson.dumps(bad), 2)
    assert not session.trusted(YES) and not session.trusted(NO)


def test_garbage_and_unknown_events_are_counted_not_raised() -> None:
    session = connected_session()
    for frame in (
        b"\xff\xfe",
        b"[1, 2",
        b'{"event_type":"mystery"}',
        b"42",
        b'[{"event_type":"tick_size_change"}]',
        "PONG",
    ):
        session.receive(frame, 2)
    assert session.stats.rejected_total == 5 and session.stats.pongs == 1
    assert session.trusted(YES) and session.trusted(NO)  # none of them carried book data


def test_unknown_assets_are_ignored() -> None:
    session = connected_session()
    session.receive(change_bytes("999", "BUY", 500_000, 1, (500_000, 510_000)), 2)
    assert session.stats.unknown_book == 1 and session.stats.changes == 0


def test_array_frames_and_tick_size_changes() -> None:
    session = PolymarketMarketSession()
    session.add_markets([market()])
    session.on_connect(0)
    dump = b"[" + book_bytes(YES, {490_000: 1}, {510_000: 1}) + b"," + book_bytes(NO, {490_000: 1}, {510_000: 1}) + b"]"
    session.receive(dump, 1)
    assert session.trusted(YES) and session.trusted(NO)
    tick = {
        "event_type": "tick_size_change",
        "asset_id": YES,
        "market": "0xm",
        "old_tick_size": "0.01",
        "new_tick_size": "0.001",
        "timestamp": "5",
    }
    session.receive(orjson.dumps(tick), 2)
    assert session.tick_sizes[YES] == 1_000 and session.books[YES].tick_size_micro_usd == 1_000


def test_sink_receives_events_with_books_applied() -> None:
    seen: list[Any] = []
    session = PolymarketMarketSession(sink=seen.append)
    session.add_markets([market()])
    session.on_connect(0)
    session.receive(book_bytes(YES, {490_000: 1}, {510_000: 1}), 1)
    session.receive(change_bytes(YES, "BUY", 500_000, 2, (500_000, 510_000)), 2)
    assert [type(e) for e in seen] == [BookSnapshot, BookChange]
    assert seen[1].best_bid_micro_usd == 500_000


# -- keep-alive, watchdog, reconnect ----------------------------------------------------------------


def test_ping_every_ten_seconds_while_connected() -> None:
    session = PolymarketMarketSession()
    assert session.due_ping(0) is None  # not connected
    session.on_connect(0)
    assert session.due_ping(9 * S) is None
    assert session.due_ping(10 * S) == "PING"
    assert session.due_ping(11 * S) is None
    assert session.due_ping(20 * S) == "PING" and session.stats.pings == 2


def test_silent_freeze_trips_the_watchdog_once_even_with_pongs() -> None:
    session = connected_session(silence_ns=60 * S, pong_timeout_ns=30 * S)
    for t in range(10, 70, 10):
        assert session.due_ping(t * S) == "PING"
        session.receive("PONG", t * S)  # keep-alive answered: not data
        if t < 60:
            assert session.check(t * S) == [] and session.trusted(YES)
    (command,) = session.check(62 * S)
    assert isinstance(command, Reconnect) and command.reason == "feed silent"
    assert not session.trusted(YES) and not session.trusted(NO)
    assert session.check(63 * S) == [] and session.stats.watchdog_trips == 1


def test_missing_pongs_ask_to_reconnect() -> None:
    session = connected_session(silence_ns=600 * S, pong_timeout_ns=30 * S)
    session.receive(change_bytes(YES, "BUY", 500_000, 1, (500_000, 510_000)), 20 * S)  # data, but no PONG
    assert session.check(30 * S) == []
    (command,) = session.check(31 * S)
    assert command == Reconnect("no PONG")


def test_disconnect_untrusts_and_reconnect_resubscribes() -> None:
    session = connected_session()
    assert session.trusted(YES)
    session.on_disconnect(5, "socket closed")
    assert not session.trusted(YES) and session.books[YES].untrusted_reason == "socket closed"
    assert session.due_ping(100 * S) is None and session.check(100 * S) == []
    (command,) = session.on_connect(6)
    assert isinstance(command, SendText) and orjson.loads(command.text)["assets_ids"] == [YES, NO]
    session.receive(book_bytes(YES, {490_000: 1}, {510_000: 1}), 7)
    assert session.trusted(YES)


# -- property: a stream consistent with the venue keeps an exact, trusted copy ------------------------

levels = st.integers(1, 99).map(lambda i: i * 10_000)
ops = st.lists(st.tuples(st.booleans(), st.integers(1, 99), st.integers(0, 5)), min_size=1, max_size=60)


@given(ops)
@settings(max_examples=150, deadline=None)
def test_consistent_stream_keeps_an_exact_trusted_copy(changes: list[tuple[bool, int, int]]) -> None:
    session = PolymarketMarketSession()
    session.add_markets([market()])
    session.on_connect(0)
    bids: dict[int, int] = {100_000: 1_000_000}
    asks: dict[int, int] = {900_000: 1_000_000}
    session.receive(book_bytes(YES, bids, asks), 1)
    for is_bid, tick, lots in changes:
        price = tick * 10_000
        book, _other = (bids, asks) if is_bid else (asks, bids)
        if (is_bid and asks and price >= min(asks)) or (not is_bid and bids and price <= max(bids)):
            continue  # the venue never publishes a crossed ladder
        if lots:
            book[price] = lots * 1_000_000
        else:
            book.pop(price, None)
        best = (max(bids) if bids else 0, min(asks) if asks else 1_000_000)
        session.receive(change_bytes(YES, "BUY" if is_bid else "SELL", price, lots * 1_000_000, best), 2)
    ours = session.books[YES]
    assert ours.trusted and session.stats.best_mismatches == 0
    assert dict(ours.bids()) == bids and dict(ours.asks()) == asks


# -- user channel -------------------------------------------------------------------------------------

ME = UserContext.of("3e2c94ca-8124-c4c1-c7ea-be1ea21b71fe", ["0xa3D82Ed56F4c68d2328Fb8c29e568Ba2cAF7d7c8"])
TRADES = [fixture_path(f"polymarket/ws/nautilus_user_trade{i}.json").read_bytes() for i in (1, 2, 3, 4)]


def only_fills(events: Sequence[Fill | OrderUpdate]) -> list[Fill]:
    """The events, each checked to be a fill."""
    assert all(isinstance(e, Fill) for e in events), events
    return [e for e in events if isinstance(e, Fill)]


def with_status(raw: bytes, status: str) -> bytes:
    return orjson.dumps(dict(orjson.loads(raw), status=status))


def test_capture_fills_are_counted_once_across_messages_and_replays() -> None:
    session = PolymarketUserSession(ME)
    emitted = [e for raw in TRADES for e in only_fills(session.receive(raw, 0))]
    # trade1 (MINED) and trade3/trade4 (CONFIRMED) are one match id; trade4 repeats trade3's fill.
    assert len(session.fills) == 4 and session.stats.new_fills == 4
    assert [e.fill_id.split(":")[1][:10] for e in emitted] == ["0xab679e56", "0x5b605a0e", "0x3ad09f22", "0x67b598ca"]
    assert session.stats.duplicate_fills == 1
    for raw in TRADES:  # the socket replays everything after a reconnect
        assert session.receive(raw, 1) == []
    assert session.stats.new_fills == 4


def test_status_progression_emits_the_same_fill_and_failed_reverses_it() -> None:
    session = PolymarketUserSession(ME)
    raw = TRADES[1]  # our taker fill, MATCHED
    (first,) = only_fills(session.receive(raw, 0))
    assert first.status is FillStatus.MATCHED and session.net_filled_micro(first.order_id) == 5_000_000
    (retrying,) = only_fills(session.receive(with_status(raw, "RETRYING"), 1))
    (failed,) = only_fills(session.receive(with_status(raw, "FAILED"), 2))
    assert retrying.fill_id == failed.fill_id == first.fill_id and failed.size_micro == first.size_micro
    assert failed.status is FillStatus.FAILED and session.stats.reversals == 1
    assert session.net_filled_micro(first.order_id) == 0
    assert session.receive(with_status(raw, "CONFIRMED"), 3) == [] and session.stats.anomalies == 1  # FAILED is final


def test_matched_mined_confirmed_counts_once() -> None:
    seen: list[Any] = []
    session = PolymarketUserSession(ME, sink=seen.append)
    for status in ("MATCHED", "MINED", "MINED", "CONFIRMED", "MATCHED"):
        session.receive(with_status(TRADES[1], status), 0)
    assert [f.status for f in seen] == [FillStatus.MATCHED, FillStatus.MINED, FillStatus.CONFIRMED]
    assert session.stats.new_fills == 1 and len(session.fills) == 1


def test_rest_fills_merge_with_socket_fills_and_client_ids_attach() -> None:
    session = PolymarketUserSession(ME)
    fill = wire.decode_trade_fills(orjson.loads(TRADES[1]), ME)[0]
    session.register_order(fill.order_id, "cid-7")
    (seen,) = session.receive(TRADES[1], 0)
    assert seen.client_order_id == "cid-7"
    assert session.apply_fills([fill]) == []
    confirmed = dataclasses.replace(fill, status=FillStatus.CONFIRMED)
    (changed,) = session.apply_fills([confirmed])
    assert changed.status is FillStatus.CONFIRMED and changed.client_order_id == "cid-7"


def test_a_rest_replay_never_steps_a_fill_back_to_an_earlier_stage() -> None:
    """The socket said MINED; a REST trade query still answering MATCHED is old news, not a step
    back (before: the fill was re-emitted MATCHED). RETRYING -> MINED again is news and emitted."""
    seen: list[Any] = []
    session = PolymarketUserSession(ME, sink=seen.append)
    matched = wire.decode_trade_fills(orjson.loads(TRADES[1]), ME)[0]
    assert matched.status is FillStatus.MATCHED
    session.receive(with_status(TRADES[1], "MINED"), 0)
    assert session.apply_fills([matched]) == []
    session.receive(with_status(TRADES[1], "RETRYING"), 1)
    assert session.apply_fills([matched]) == []
    session.receive(with_status(TRADES[1], "MINED"), 2)
    assert session.apply_fills([matched]) == []
    (confirmed,) = session.apply_fills([dataclasses.replace(matched, status=FillStatus.CONFIRMED)])
    assert [f.status for f in seen] == [FillStatus.MINED, FillStatus.RETRYING, FillStatus.MINED, FillStatus.CONFIRMED]
    assert confirmed.fill_id == matched.fill_id and session.fills[matched.fill_id].status is FillStatus.CONFIRMED
    assert session.stats.stale_fill_statuses == 3 and session.stats.new_fills == 1
    assert session.net_filled_micro(matched.order_id) == matched.size_micro


# The venue's settlement stages, written out here (not imported): RETRYING retries the MINED stage.
_STAGE = {"MATCHED": 0, "MINED": 1, "RETRYING": 1, "CONFIRMED": 2, "FAILED": 2}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(sorted(_STAGE))), min_size=1, max_size=12))
def test_emitted_fill_statuses_never_go_back_a_stage(messages: list[tuple[bool, str]]) -> None:
    """Socket messages and REST replays in any order: the statuses emitted for one match never
    step back a stage, and nothing follows a final one."""
    seen: list[Any] = []
    session = PolymarketUserSession(ME, sink=seen.append)
    rest_fill = wire.decode_trade_fills(orjson.loads(TRADES[1]), ME)[0]
    for from_socket, status in messages:
        if from_socket:
            session.receive(with_status(TRADES[1], status), 0)
        else:
            session.apply_fills([dataclasses.replace(rest_fill, status=FillStatus[status])])
    stages = [_STAGE[f.status.name] for f in seen]
    assert stages == sorted(stages) and seen
    finals = [i for i, f in enumerate(seen) if f.status in (FillStatus.CONFIRMED, FillStatus.FAILED)]
    assert finals in ([], [len(seen) - 1])


def test_user_orders_and_bad_frames() -> None:
    session = PolymarketUserSession(ME)
    placement = fixture_path("polymarket/ws/nautilus_order_placement.json").read_bytes()
    assert len(session.receive(placement, 0)) == 1
    assert session.receive(placement, 1) == [] and session.stats.duplicate_orders == 1
    for frame in (b"nope", b'{"event_type":"order"}', b'{"event_type":"other"}', b"[{}, 3]"):
        assert session.receive(frame, 2) == []
    assert session.stats.rejected_total == 5


def _fill(i: int, order: int, status: FillStatus = FillStatus.CONFIRMED, size: int = 1_000_000) -> Fill:
    return Fill(
        Venue.POLYMARKET,
        f"t{i}:o{order}",
        f"o{order}",
        None,
        "0xm",
        YES,
        Side.YES,
        Action.BUY,
        500_000,
        size,
        0,
        None,
        status,
    )


def _order(i: int, status: OrderStatus) -> OrderUpdate:
    return OrderUpdate(Venue.POLYMARKET, f"o{i}", None, "0xm", YES, Side.YES, Action.BUY, status, 500_000, 1, 1, 0)


def test_3_3_user_session_maps_are_bounded_and_still_count_each_fill_once() -> None:
    """Finished fills and orders beyond the bound are evicted (oldest first); a late repeat about
    an evicted one is still a repeat, and per-order totals survive the eviction."""
    seen: list[Any] = []
    session = PolymarketUserSession(ME, sink=seen.append, max_fills_kept=10, max_orders_kept=10, max_ids_kept=1_000)
    fills = [_fill(i, i % 7) for i in range(100)]
    session.apply_fills(fills)
    session.apply_orders([_order(i, OrderStatus.FILLED) for i in range(100)])
    assert len(session.fills) == 10 and len(session.orders) == 10
    assert session.stats.evicted_fills == 90 and session.stats.evicted_orders == 90
    emitted = len(seen)
    assert session.apply_fills(fills) == [] and len(seen) == emitted  # every one a repeat, none counted again
    assert session.apply_orders([_order(3, OrderStatus.OPEN)]) == []  # a stale "live" after the order ended
    assert sum(session.net_filled_micro(f"o{k}") for k in range(7)) == 100 * 1_000_000
    assert session.net_filled_micro("o3") == len([f for f in fills if f.order_id == "o3"]) * 1_000_000
    # live (unfinished) fills are never evicted: their status may still change
    live = PolymarketUserSession(ME, max_fills_kept=2)
    live.apply_fills([_fill(i, 1, FillStatus.MATCHED) for i in range(5)])
    assert len(live.fills) == 5
    (failed,) = live.apply_fills([_fill(0, 1, FillStatus.FAILED)])
    assert failed.status is FillStatus.FAILED and live.net_filled_micro("o1") == 4_000_000


class _NoScan(dict[str, Fill]):
    """A fill map that fails the test when anyone walks through it."""

    def values(self) -> Any:
        raise AssertionError("walked every fill")

    def __iter__(self) -> Any:
        raise AssertionError("walked every fill")

    def items(self) -> Any:
        raise AssertionError("walked every fill")


def test_3_3_per_order_fill_totals_are_running_totals() -> None:
    """`net_filled_micro` reads a running total: it never walks the fill history (which grows)."""
    session = PolymarketUserSession(ME)
    session.apply_fills([_fill(i, i % 3, FillStatus.MATCHED) for i in range(30)])
    session.fills = _NoScan(session.fills)
    assert session.net_filled_micro("o0") == 10 * 1_000_000
    session.apply_fills([_fill(0, 0, FillStatus.FAILED)])  # a reversal lowers the total
    assert session.net_filled_micro("o0") == 9 * 1_000_000 and session.net_filled_micro("nope") == 0


def test_user_subscribe_is_secret() -> None:
    session = PolymarketUserSession(ME, auth=("key", "very-secret", "pass"))
    (command,) = session.on_connect(0)
    assert isinstance(command, SendText)
    assert "very-secret" in command.text and "very-secret" not in repr(command)


def test_untracked_tokens_books_are_adopted_unless_disabled() -> None:
    adopting = PolymarketMarketSession()
    adopting.receive(book_bytes("3001", {490_000: 1}, {510_000: 1}), 1)
    assert adopting.trusted("3001") and adopting.books["3001"].market_id == "0xm"
    strict = PolymarketMarketSession(adopt_unknown_books=False)
    strict.receive(book_bytes("3001", {490_000: 1}, {510_000: 1}), 1)
    assert strict.books == {} and strict.stats.unknown_book == 1


def test_3_4_a_live_tick_size_change_moves_book_and_listing_onto_the_new_grid() -> None:
    """`tick_size_change` 0.01 -> 0.001: the book, the order checks (`tick_sizes`) and the market's
    listing all follow, and a change at $0.505 is applied and kept trusted, not rejected."""
    session = connected_session()
    frame = {
        "event_type": "tick_size_change",
        "asset_id": YES,
        "market": "0xm",
        "old_tick_size": "0.01",
        "new_tick_size": "0.001",
        "timestamp": "3",
    }
    assert session.receive(orjson.dumps(frame), 3) == ()
    assert session.books[YES].tick_size_micro_usd == 1_000 and session.tick_sizes[YES] == 1_000
    [band] = session.markets["0xm"].price_bands
    assert (band.start_micro_usd, band.end_micro_usd, band.step_micro_usd) == (1_000, 999_000, 1_000)
    assert session.stats.tick_changes == 1 and session.stats.rejected_total == 0
    session.receive(change_bytes(YES, "SELL", 505_000, 2 * S // 1000, (490_000, 505_000), ts=4), 4)
    assert session.trusted(YES) and session.books[YES].best_ask() == (505_000, 2 * S // 1000)


# -- combined faults ---------------------------------------------------------------------------------


def self_match(trader_side: str, status: str = "MATCHED") -> bytes:
    """The real TAKER capture with its maker order made ours: our BUY took our own resting SELL."""
    trade = orjson.loads(TRADES[1])
    trade["maker_orders"][0].update(owner=ME.api_key, maker_address=next(iter(ME.addresses)))
    return orjson.dumps(dict(trade, trader_side=trader_side, status=status))


def test_combined_faults_self_match_delivers_both_legs_exactly_once() -> None:
    """Our order traded against our own resting order: the taker leg and the maker leg each reach
    the sink once, whether the venue reports the trade as TAKER, as MAKER, or both, through every
    status and a REST replay (before: the maker leg of the TAKER report was never delivered)."""
    seen: list[Any] = []
    session = PolymarketUserSession(ME, sink=seen.append)
    assert len(only_fills(session.receive(self_match("TAKER"), 0))) == 2  # the venue's one report: both legs
    assert session.receive(self_match("MAKER"), 1) == []  # the same match seen from the maker side
    for status in ("MINED", "CONFIRMED"):
        session.receive(self_match("TAKER", status), 2)
        session.receive(self_match("MAKER", status), 2)
    session.apply_fills(wire.decode_trade_fills(orjson.loads(self_match("TAKER", "CONFIRMED")), ME))
    new = {f.fill_id: f for f in seen}
    assert len(new) == 2 and session.stats.new_fills == 2
    assert sorted((f.liquidity.name, f.action.name, f.size_micro) for f in new.values()) == [
        ("MAKER", "SELL", 5_000_000),
        ("TAKER", "BUY", 5_000_000),
    ]
    assert [f.status for f in seen] == [FillStatus.MATCHED] * 2 + [FillStatus.MINED] * 2 + [FillStatus.CONFIRMED] * 2
    # Net position from the fills: +5 bought, -5 sold, as at the venue.
    taker, maker = sorted(new.values(), key=lambda f: f.liquidity.name, reverse=True)
    assert session.net_filled_micro(taker.order_id) == session.net_filled_micro(maker.order_id) == 5_000_000


def hash_mismatch_book(asset: str, bids: dict[int, int], asks: dict[int, int], ts: int) -> bytes:
    frame = orjson.loads(book_bytes(asset, bids, asks, ts=ts))
    frame["hash"] = "f" * 40
    return orjson.dumps(frame)


def test_combined_faults_a_restarted_resync_is_completed_only_by_its_own_rest_answer() -> None:
    """Two hash mismatches in a row, the first `/book` answer arriving after the second resync began
    (before: it completed the second resync, whose buffer starts later than that answer, so the
    change in between was lost while the book was marked trusted; the newer answer was discarded)."""
    session = connected_session()
    (first,) = session.receive(hash_mismatch_book(YES, {490_000: 1_000_000}, {510_000: 1_000_000}, ts=10), 10)
    assert isinstance(first, FetchBook) and not session.trusted(YES)
    # The venue's first /book answer is taken now (ts 11): bid 0.49 x 1.
    first_answer = book_bytes(YES, {490_000: 1_000_000}, {510_000: 1_000_000}, ts=11, rest=True)
    # The venue's book moves (buffered), then a second mismatching snapshot restarts the resync.
    session.receive(change_bytes(YES, "BUY", 480_000, 2_000_000, (490_000, 510_000), ts=12), 12)
    (second,) = session.receive(
        hash_mismatch_book(YES, {490_000: 1_000_000, 480_000: 2_000_000}, {510_000: 1_000_000}, ts=13), 13
    )
    assert isinstance(second, FetchBook) and second.request_id != first.request_id
    session.receive(change_bytes(YES, "SELL", 520_000, 4_000_000, (490_000, 510_000), ts=14), 14)
    # The old answer arrives late: it must not complete the new resync.
    assert session.apply_rest_book(first_answer, 15, first) == ()
    assert not session.trusted(YES) and YES in session.resyncing and session.stats.stale_rest_snapshots == 1
    # The failure of the old request changes nothing either.
    assert session.resync_failed(YES, "timed out", first) == [] and YES in session.resyncing
    # The answer the second resync asked for completes it: venue book plus the buffered change.
    venue = {490_000: 1_000_000, 480_000: 2_000_000}, {510_000: 1_000_000}
    assert session.apply_rest_book(book_bytes(YES, *venue, ts=13, rest=True), 16, second) == ()
    book = session.books[YES]
    assert book.trusted and book.bids() == ((490_000, 1_000_000), (480_000, 2_000_000))
    assert book.asks() == ((510_000, 1_000_000), (520_000, 4_000_000))
    assert session.stats.replayed_changes == 1 and session.stats.rest_snapshots == 1


def test_combined_faults_a_rest_book_older_than_the_stream_is_refused_and_asked_again() -> None:
    """A `/book` answer taken before the last state the stream applied cannot be the replay's base:
    it is refused and asked for again; after `_RESYNC_ATTEMPTS` such answers, reconnect. Untagged
    answers (replays) are held to the same rule."""
    session = connected_session()
    session.receive(change_bytes(YES, "BUY", 495_000, 3_000_000, (495_000, 510_000), ts=20), 20)
    (request,) = session.receive(change_bytes(YES, "SELL", 520_000, 3_000_000, (500_000, 510_000), ts=21), 21)
    assert isinstance(request, FetchBook) and not session.trusted(YES)
    lagging = book_bytes(YES, {490_000: 10_000_000}, {510_000: 10_000_000}, ts=19, rest=True)
    (again,) = session.apply_rest_book(lagging, 22, request)
    assert isinstance(again, FetchBook) and again.request_id != request.request_id
    assert not session.trusted(YES) and session.stats.outdated_rest_snapshots == 1
    assert session.apply_rest_book(lagging, 23) != () and session.stats.outdated_rest_snapshots == 2  # untagged
    (last,) = session.apply_rest_book(lagging, 24, session_request(session))
    assert isinstance(last, Reconnect) and YES not in session.resyncing and not session.trusted(YES)
    # An answer as new as the stream completes a resync.
    session = connected_session()
    (request,) = session.receive(change_bytes(YES, "SELL", 520_000, 3_000_000, (500_000, 510_000), ts=21), 21)
    assert isinstance(request, FetchBook)
    current = book_bytes(YES, {500_000: 1_000_000}, {510_000: 10_000_000, 520_000: 3_000_000}, ts=21, rest=True)
    assert session.apply_rest_book(current, 22, request) == () and session.trusted(YES)


def session_request(session: PolymarketMarketSession) -> FetchBook:
    """The request the session's YES resync waits for (as the client would hold it)."""
    return FetchBook(YES, "", session._resyncs[YES].request_id)


_LEVELS = (450_000, 460_000, 470_000, 480_000, 500_000)
_OPS = st.one_of(
    st.tuples(st.just("change"), st.sampled_from(_LEVELS), st.integers(0, 3)),
    st.tuples(st.just("mismatch"), st.just(0), st.just(0)),
    st.tuples(st.just("serve"), st.integers(0, 7), st.integers(0, 3)),
    st.tuples(st.just("deliver"), st.integers(0, 7), st.just(0)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_OPS, max_size=40))
def test_no_interleaving_of_restarts_and_slow_book_answers_leaves_a_wrong_book_trusted(
    ops: list[tuple[str, int, int]],
) -> None:
    """A venue book moves; book frames arrive with bad hashes (resync, or restart it); `/book`
    requests are served at any later moment, some from a lagging copy up to 3 steps old, and their
    answers delivered in any order, after restarts and reconnects too. Whenever the session trusts
    the book, it is the venue's book as of the last frame the stream delivered."""
    session = connected_session()
    venue = {490_000: 10_000_000}
    asks = {510_000: 10_000_000}
    history = [dict(venue)]  # venue bids by timestamp - 1 (ts 1 is the connected snapshot)
    pending: list[FetchBook] = []  # requests sent, not served yet
    served: list[tuple[FetchBook, bytes]] = []  # answers on their way

    def ts() -> int:
        return len(history)

    def perform(commands: Sequence[Any]) -> None:
        for command in commands:
            if isinstance(command, FetchBook):
                pending.append(command)
            elif isinstance(command, Reconnect):
                session.on_disconnect(ts())
                session.on_connect(ts())
                for token in (YES, NO):
                    bids = venue if token == YES else {490_000: 10_000_000}
                    perform(session.receive(book_bytes(token, bids, asks, ts=ts()), ts()))

    for kind, a, b in ops:
        if kind == "change":
            if (a in venue and not b) or b:
                venue = {p: s for p, s in {**venue, a: b * S // 1000}.items() if s}
                history.append(dict(venue))
                best = (max(venue), min(asks))
                perform(session.receive(change_bytes(YES, "BUY", a, b * S // 1000, best, ts=ts()), ts()))
        elif kind == "mismatch":
            history.append(dict(venue))
            perform(session.receive(hash_mismatch_book(YES, venue, asks, ts=ts()), ts()))
        elif kind == "serve" and pending:
            request = pending.pop(a % len(pending))
            lag = min(b, ts() - 1)
            served.append((request, book_bytes(YES, history[ts() - 1 - lag], asks, ts=ts() - lag, rest=True)))
        elif kind == "deliver" and served:
            request, answer = served.pop(a % len(served))
            perform(session.apply_rest_book(answer, ts(), request))
        book = session.books[YES]
        if book.trusted:
            assert dict(book.bids()) == venue and dict(book.asks()) == asks, (ops, book.bids(), venue)


def _user_checks(session: PolymarketUserSession, start_s: int, end_s: int) -> list[Any]:
    """Run the ticker's health check every second over [start_s, end_s), a PONG every 10 s (a live
    link): the commands it returned."""
    commands: list[Any] = []
    for second in range(start_s, end_s):
        if second % 10 == 0:
            session.receive("PONG", second * S)
        commands += session.check(second * S)
    return commands


def test_a_quiet_user_socket_is_replaced_for_silence_only_while_something_could_be_missed() -> None:
    """The venue's user channel speaks only when the account's orders or trades change: with no
    order of ours unsettled and no fill unsettled, five silent minutes are no fault (before: replaced
    every `silence_ns`). An order we send makes silence count from then (not from the quiet before);
    its final record, or the client's own knowledge that it ended, stops it again; so does an
    unsettled fill until it is CONFIRMED. A missing PONG is a fault at any time."""
    session = PolymarketUserSession(ME, silence_ns=60 * S, pong_timeout_ns=30 * S)
    session.on_connect(0)
    assert not session.awaiting()
    assert _user_checks(session, 0, 300) == [] and session.stats.watchdog_trips == 0
    session.expect_order("o1")  # sent after the 299 s check: silence counts from that check
    assert session.awaiting() and _user_checks(session, 300, 360) == []
    assert _user_checks(session, 360, 361) == [Reconnect("feed silent")] and session.stats.watchdog_trips == 1
    session.on_connect(362 * S)
    session.apply_orders([_order(1, OrderStatus.CANCELED)])  # its final record: nothing more to come
    assert not session.awaiting() and _user_checks(session, 362, 600) == []
    session.expect_order("o2")
    session.order_settled("o2")  # refused by the venue: the client knows it ended
    assert not session.awaiting() and _user_checks(session, 600, 700) == []
    session.apply_fills([_fill(9, 3, FillStatus.MATCHED)])  # a fill still settling
    assert session.awaiting() and _user_checks(session, 700, 760) == []
    assert _user_checks(session, 760, 761) == [Reconnect("feed silent")]
    session.on_connect(762 * S)
    session.apply_fills([_fill(9, 3, FillStatus.CONFIRMED)])
    assert not session.awaiting() and _user_checks(session, 762, 1000) == []
    assert session.stats.watchdog_trips == 2
    # no PONG: replaced even with nothing to miss
    assert session.check(1031 * S) == [Reconnect("no PONG")] and session.stats.pong_timeouts == 1
