"""Kalshi session (sans-I/O): books from snapshot + deltas equal a fresh snapshot, per-sid sequence
gaps distrust the sid's books and ask for snapshots, terminal errors resubscribe, the watchdog and
reconnects distrust books, bad frames are counted and never raised."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.book import OrderBook
from arb.domain import BookChange, BookSnapshot, Fill, VenueNotice
from arb.venues.base import Reconnect, SendText
from arb.venues.kalshi.session import Command, KalshiSession, decode_and_apply

S = 1_000_000_000  # ns per second


def sent(session: KalshiSession) -> list[Any]:
    """The command frames the session wants sent, as JSON values."""
    return [command.json() for command in session.outgoing()]


def _texts(commands: Sequence[Command]) -> list[SendText]:
    """The commands, each checked to be a frame to send."""
    assert all(isinstance(c, SendText) for c in commands), commands
    return [c for c in commands if isinstance(c, SendText)]


def _trusted(session: KalshiSession, ticker: str) -> bool:
    """Read afresh after each step (a plain attribute read would stay narrowed by earlier asserts)."""
    return session.books[ticker].trusted


def _frame(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def _connected(tickers: list[str], *, sid: int = 1, **kwargs: Any) -> KalshiSession:
    """A session subscribed to `tickers` on one order book sid."""
    session = KalshiSession(**kwargs)
    session.subscribe(tickers, now_ns=0)
    session.on_connect(0)
    [cmd] = sent(session)
    assert cmd["cmd"] == "subscribe" and cmd["params"]["market_tickers"] == sorted(tickers)
    session.receive(
        _frame({"id": cmd["id"], "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": sid}}), 0
    )
    return session


def _snapshot(ticker: str, yes: dict[int, int], no: dict[int, int], *, sid: int, seq: int) -> bytes:
    def levels(side: dict[int, int]) -> list[list[str]]:
        return [[f"0.{p:02d}00", f"{s}.00"] for p, s in sorted(side.items()) if s > 0]

    msg: dict[str, Any] = {"market_ticker": ticker}
    if levels(yes):
        msg["yes_dollars_fp"] = levels(yes)
    if levels(no):
        msg["no_dollars_fp"] = levels(no)
    return _frame({"type": "orderbook_snapshot", "sid": sid, "seq": seq, "msg": msg})


def _delta(ticker: str, side: str, cents: int, delta: int, *, sid: int, seq: int) -> bytes:
    return _frame(
        {
            "type": "orderbook_delta",
            "sid": sid,
            "seq": seq,
            "msg": {
                "market_ticker": ticker,
                "price_dollars": f"0.{cents:02d}00",
                "delta_fp": f"{delta}.00",
                "side": side,
            },
        }
    )


# Bid prices below 50 cents on both sides keep the YES ladder uncrossed (asks are 1 - NO bids > 0.5).
_levels = st.dictionaries(st.integers(1, 49), st.integers(1, 500), max_size=8)


@st.composite
def _book_walk(draw: st.DrawFn) -> tuple[dict[int, int], dict[int, int], list[tuple[str, int, int]]]:
    yes, no = draw(_levels), draw(_levels)
    state = {"yes": dict(yes), "no": dict(no)}
    deltas = []
    for _ in range(draw(st.integers(0, 60))):
        side = draw(st.sampled_from(["yes", "no"]))
        cents = draw(st.integers(1, 49))
        have = state[side].get(cents, 0)
        # A valid delta: add any size, or remove at most what rests there.
        change = draw(st.integers(-have, 300).filter(lambda d: d != 0))
        state[side][cents] = have + change
        deltas.append((side, cents, change))
    return yes, no, deltas


@settings(max_examples=150, deadline=None)
@given(_book_walk())
def test_snapshot_plus_deltas_equals_a_fresh_snapshot(
    walk: tuple[dict[int, int], dict[int, int], list[tuple[str, int, int]]],
) -> None:
    yes, no, deltas = walk
    live = _connected(["M"])
    live.receive(_snapshot("M", yes, no, sid=1, seq=1), 1)
    state = {"yes": dict(yes), "no": dict(no)}
    for i, (side, cents, change) in enumerate(deltas):
        events = live.receive(_delta("M", side, cents, change, sid=1, seq=2 + i), 2 + i)
        assert [type(e) for e in events] == [BookChange]
        state[side][cents] = state[side].get(cents, 0) + change
    fresh = _connected(["M"])
    fresh.receive(_snapshot("M", state["yes"], state["no"], sid=1, seq=1), 1)
    assert live.books["M"] == fresh.books["M"]
    assert live.books["M"].trusted and fresh.books["M"].trusted
    assert live.books["M"].bids() == tuple(
        sorted(((c * 10_000, s * 1_000_000) for c, s in state["yes"].items() if s > 0), reverse=True)
    )
    assert live.stats.gaps == 0 and live.stats.rejected_total == 0


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 6), st.integers(2, 20), st.integers(1, 5))
def test_a_gap_distrusts_every_book_of_the_sid_and_asks_for_snapshots(
    n_tickers: int, gap_at: int, skipped: int
) -> None:
    tickers = [f"T{i}" for i in range(n_tickers)]
    session = _connected(tickers, sid=9)
    other = "OTHER"
    session.subscribe([other], channels=("trade",), now_ns=0)
    sent(session)
    seq = 0
    for t in tickers:
        seq += 1
        session.receive(_snapshot(t, {10: 5}, {20: 5}, sid=9, seq=seq), seq)
    assert all(session.books[t].trusted for t in tickers)
    for i in range(gap_at):
        seq += 1
        session.receive(_delta(tickers[i % n_tickers], "yes", 11, 1, sid=9, seq=seq), seq)
    assert all(session.books[t].trusted for t in tickers) and sent(session) == []
    seq += 1 + skipped  # the venue lost `skipped` messages of this sid
    events = session.receive(_delta(tickers[0], "no", 21, 3, sid=9, seq=seq), seq)
    assert any(isinstance(e, VenueNotice) and e.kind == "sequence_gap" for e in events)
    assert not any(session.books[t].trusted for t in tickers)
    assert session.stats.gaps == 1
    [cmd] = sent(session)
    assert cmd["cmd"] == "update_subscription"
    assert cmd["params"] == {"sids": [9], "market_tickers": sorted(tickers), "action": "get_snapshot"}
    # Each fresh snapshot re-trusts exactly its own book.
    for i, t in enumerate(tickers):
        seq += 1
        session.receive(_snapshot(t, {10: 1}, {20: 1}, sid=9, seq=seq), seq)
        assert session.books[t].trusted
        assert all(not session.books[u].trusted for u in tickers[i + 1 :])
    assert session.stats.gaps == 1 and session.stats.resnapshots == n_tickers


def test_seq_belongs_to_the_sid_not_the_ticker() -> None:
    session = _connected(["A", "B"])
    session.receive(_snapshot("A", {10: 1}, {}, sid=1, seq=1), 1)
    session.receive(_snapshot("B", {10: 1}, {}, sid=1, seq=2), 2)
    # A's deltas skip numbers only because B's messages took them: no gap.
    session.receive(_delta("B", "yes", 11, 1, sid=1, seq=3), 3)
    session.receive(_delta("A", "yes", 11, 1, sid=1, seq=4), 4)
    assert session.stats.gaps == 0 and session.books["A"].trusted and session.books["B"].trusted


def test_ok_replies_never_create_gaps_and_unknown_sids_are_dropped() -> None:
    session = _connected(["A"])
    session.receive(_snapshot("A", {10: 1}, {}, sid=1, seq=1), 1)
    session.subscribe(["B"], now_ns=1)
    [add] = sent(session)
    assert add["params"]["action"] == "add_markets" and add["params"]["sids"] == [1]
    session.receive(
        _frame({"id": add["id"], "sid": 1, "seq": 2, "type": "ok", "msg": {"market_tickers": ["A", "B"]}}), 2
    )
    session.receive(_snapshot("B", {12: 1}, {}, sid=1, seq=3), 3)
    assert session.books["B"].trusted and session.stats.gaps == 0
    assert session.receive(_delta("A", "yes", 11, 1, sid=77, seq=1), 4) == []
    assert session.stats.stale_sid == 1 and session.books["A"].bids() == ((100_000, 1_000_000),)


def test_buffer_overflow_error_resubscribes_and_old_sid_is_ignored() -> None:
    session = _connected(["A", "B"], sid=3)
    session.receive(_snapshot("A", {10: 1}, {}, sid=3, seq=1), 1)
    events = session.receive(
        _frame({"id": 99, "type": "error", "sid": 3, "msg": {"code": 25, "msg": "Subscription buffer overflow"}}), 2
    )
    assert events[0].kind == "error" and session.stats.venue_errors[25] == 1
    assert not _trusted(session, "A")
    unsub, sub = sent(session)
    assert unsub == {"id": unsub["id"], "cmd": "unsubscribe", "params": {"sids": [3]}}
    assert sub["cmd"] == "subscribe" and sub["params"]["market_tickers"] == ["A", "B"]
    # Late messages of the dropped subscription change nothing.
    session.receive(_delta("A", "yes", 40, 5, sid=3, seq=2), 3)
    assert session.books["A"].bids() == ((100_000, 1_000_000),)
    session.receive(_frame({"id": sub["id"], "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 4}}), 4)
    session.receive(_snapshot("A", {15: 2}, {}, sid=4, seq=1), 5)
    assert _trusted(session, "A") and session.books["A"].bids() == ((150_000, 2_000_000),)
    assert session.stats.resubscribes == 1


def test_watchdog_distrusts_silent_feed_then_asks_to_reconnect() -> None:
    session = _connected(["A"], silence_ns=30 * S)
    session.receive(_snapshot("A", {10: 1}, {}, sid=1, seq=1), 1 * S)
    assert session.check(20 * S) == []
    session.on_ping(25 * S)  # pings alone are not data
    session.on_ping(31 * S)
    renewed = _texts(session.check(32 * S))  # the order book subscription is renewed
    assert not session.books["A"].trusted and "silent" in session.books["A"].untrusted_reason
    assert [c.json()["cmd"] for c in renewed] == ["unsubscribe", "subscribe"]
    assert session.check(40 * S) == []  # one trip per silence
    assert [type(c) for c in session.check(63 * S)] == [Reconnect]
    assert session.stats.watchdog_trips == 1 and session.stats.reconnect_requests == 1 and session.stats.pings == 2


def test_disconnect_distrusts_and_connect_resubscribes_everything() -> None:
    session = _connected(["A", "B"])
    session.subscribe_all(["fill", "user_orders"])
    session.receive(_snapshot("A", {10: 1}, {}, sid=1, seq=1), 1)
    sent(session)
    session.on_disconnect("socket closed")
    assert not session.books["A"].trusted and session.books["A"].untrusted_reason == "socket closed"
    assert sent(session) == []
    session.on_connect(10)
    cmds = sent(session)
    assert sorted((c["params"]["channels"][0], tuple(c["params"].get("market_tickers", ()))) for c in cmds) == [
        ("fill", ()),
        ("orderbook_delta", ("A", "B")),
        ("user_orders", ()),
    ]
    assert len({c["id"] for c in cmds}) == 3


def test_bad_frames_are_counted_never_raised() -> None:
    session = _connected(["A"], max_errors_kept=3)
    for raw in (
        b"",
        b"\xff\xfe",
        b"{",
        b"[]",
        b'{"type":"nope"}',
        b'{"type":"orderbook_delta","sid":1,"seq":1,"msg":{"market_ticker":"A","price_dollars":"2","delta_fp":"1","side":"yes"}}',
        "not json",
        None,
    ):
        assert session.receive(raw, 1) == []  # type: ignore[arg-type]
    assert session.stats.rejected["FieldError"] == 6  # 5 frames that are not JSON (as on Polymarket), 1 bad field
    assert session.stats.rejected["UnknownShapeError"] == 2
    assert len(session.recent_errors) == 3 and session.recent_errors[-1].error_type == "FieldError"
    fe = [e for e in session.recent_errors if e.error_type == "FieldError"]
    assert not fe or fe[0].field


def test_duplicate_fills_are_dropped() -> None:
    session = _connected(["A"])
    fill = _frame(
        {
            "type": "fill",
            "sid": 5,
            "msg": {
                "trade_id": "t1",
                "order_id": "o",
                "market_ticker": "A",
                "is_taker": True,
                "side": "yes",
                "action": "buy",
                "yes_price_dollars": "0.5",
                "count_fp": "1.00",
                "fee_cost": "0.02",
                "ts": 1,
            },
        }
    )
    assert [type(e) for e in session.receive(fill, 1)] == [Fill]
    assert session.receive(fill, 2) == []
    assert session.stats.duplicate_fills == 1


def test_fill_id_memory_keeps_the_newest_ids_only() -> None:
    session = _connected(["A"], max_fill_ids_kept=2)

    def fill(trade_id: str) -> bytes:
        msg = {
            "trade_id": trade_id,
            "order_id": "o",
            "market_ticker": "A",
            "is_taker": True,
            "side": "yes",
            "action": "buy",
            "yes_price_dollars": "0.5",
            "count_fp": "1.00",
            "ts": 1,
        }
        return _frame({"type": "fill", "sid": 5, "msg": msg})

    for trade_id in ("t1", "t2", "t3"):
        assert [type(e) for e in session.receive(fill(trade_id), 1)] == [Fill]
    assert session.receive(fill("t3"), 2) == [] and session.stats.duplicate_fills == 1
    assert [type(e) for e in session.receive(fill("t1"), 3)] == [Fill]  # forgotten: beyond the newest 2


def test_overdue_snapshot_is_requested_again() -> None:
    session = _connected(["A"], snapshot_timeout_ns=5 * S)
    session.receive(_delta("A", "yes", 11, 1, sid=1, seq=1), 1 * S)  # data flows, but no snapshot for A
    assert session.check(4 * S) == [] and sent(session) == []
    session.receive(_delta("A", "yes", 11, 1, sid=1, seq=2), 5 * S)
    assert [c.json()["cmd"] for c in _texts(session.check(6 * S))] == ["unsubscribe", "subscribe"]


def test_decode_and_apply_on_bare_books() -> None:
    books: dict[str, OrderBook] = {}
    decode_and_apply(books, _snapshot("A", {10: 2}, {30: 1}, sid=1, seq=1), 1)
    events = decode_and_apply(books, _delta("A", "no", 30, -1, sid=1, seq=2), 2)
    assert (
        isinstance(events[0], BookChange) and books["A"].asks() == () and books["A"].bids() == ((100_000, 2_000_000),)
    )
    session = _connected(["A"])
    assert isinstance(decode_and_apply(session, _snapshot("A", {10: 2}, {}, sid=1, seq=1), 1)[0], BookSnapshot)


def test_3_4_a_live_tick_change_moves_the_book_onto_the_new_grid() -> None:
    """`price_level_structure_updated` to a deci-cent grid: the book's tick follows (the finest
    step of the new ranges), so a level at $0.945 is on the grid downstream instead of off-tick."""
    session = _connected(["INX"])
    session.subscribe_all(["market_lifecycle_v2"])
    [lifecycle] = sent(session)
    session.receive(
        _frame({"id": lifecycle["id"], "type": "subscribed", "msg": {"channel": "market_lifecycle_v2", "sid": 13}}), 0
    )
    session.receive(_snapshot("INX", {45: 3}, {50: 2}, sid=1, seq=1), 1)
    book = session.books["INX"]
    listing_tick = book.tick_size_micro_usd
    assert book.trusted and listing_tick is None  # the listing's cent tick applies
    [event] = session.receive(
        _frame(
            {
                "type": "market_lifecycle_v2",
                "sid": 13,
                "seq": 1,
                "msg": {
                    "market_ticker": "INX",
                    "event_type": "price_level_structure_updated",
                    "price_level_structure": "tapered_deci_cent",
                    "price_ranges": [
                        {"start": "0.0000", "end": "0.1000", "step": "0.0010"},
                        {"start": "0.1000", "end": "0.9000", "step": "0.0100"},
                        {"start": "0.9000", "end": "1.0000", "step": "0.0010"},
                    ],
                },
            }
        ),
        2,
    )
    assert event.kind == "price_level_structure_updated"
    assert book.tick_size_micro_usd == 1_000 and session.stats.tick_changes == 1
    delta = _frame(
        {
            "type": "orderbook_delta",
            "sid": 1,
            "seq": 2,
            "msg": {"market_ticker": "INX", "price_dollars": "0.0550", "delta_fp": "4.00", "side": "no"},
        }
    )
    session.receive(delta, 3)
    assert book.trusted and book.asks()[-1] == (945_000, 4_000_000)  # a NO bid at 0.055
    assert all(price % book.tick_size_micro_usd == 0 for price, _ in book.asks())
