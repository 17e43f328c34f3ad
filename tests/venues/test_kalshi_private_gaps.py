"""Kalshi combined-faults finding: fills made while the private stream cannot deliver them reach the
sink exactly once. One test per kind of gap in the private stream, each against the simulator over
loopback, with the fault made while our resting order fills:

- a dropped socket whose first catch-up query fails (the retry must start from the same point),
- a frozen socket, caught by the silence watchdog, that later delivers again,
- a sequence gap on a private subscription (the venue numbering its private messages),
- a resubscribe of the fill channel (the venue's slow-consumer error 25 drops it),
- and `fills()` itself, which goes through the same dedupe and sink.

Time is injected (see `test_kalshi_sim.FakeTime`): nothing sleeps, conditions are awaited."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from arb.domain import Action, BookSide, OrderStatus, Side, TimeInForce
from arb.errors import VenueUnavailableError
from arb.venues.kalshi.session import KalshiSession
from tests.venues.test_kalshi_sim import KEY_ID, TICKERS, WAIT_S, Harness, _request, check_fills, running

S = 1_000_000_000
TICKER = TICKERS[0]


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def _resting_bid(h: Harness, size_micro: int = 3_000_000) -> str:
    """Our bid at 0.50 below the market maker's book: it fills only when a taker sells into it."""
    resting = await h.client.place_order(_request(TICKER, Side.YES, Action.BUY, 500_000, size_micro))
    assert resting.status is OrderStatus.OPEN
    return resting.order_id


def _taker_sells(h: Harness, size_micro: int = 1_000_000) -> None:
    h.sim.submit("taker", TICKER, Side.YES, Action.SELL, 500_000, size_micro, TimeInForce.IOC)


def _fills_of(h: Harness, order_id: str) -> list[str]:
    return [f.fill_id for f in h.stream_fills() if f.order_id == order_id]


async def _all_venue_fills_delivered_once(h: Harness, order_id: str, count: int) -> None:
    venue = {r["fill_id"] for r in h.sim.fills_of(KEY_ID) if r["order_id"] == order_id}
    assert len(venue) == count
    await h.client.wait_until(lambda: set(_fills_of(h, order_id)) == venue, WAIT_S)
    await h.client.fills()  # a later query finds them all again: still once each
    assert sorted(_fills_of(h, order_id)) == sorted(venue)
    check_fills(h, reconnected=False)  # every venue fill reached the sink, none twice


@pytest.mark.asyncio
async def test_fills_missed_during_a_drop_are_delivered_once_even_when_the_first_catch_up_fails(
    private_key: rsa.RSAPrivateKey,
) -> None:
    """The socket drops, our order fills meanwhile, and the catch-up query after the reconnect
    fails (500s beyond the read retries). The next health check retries it from the same start:
    the missed fill reaches the sink once."""
    async with running(private_key) as h:
        order_id = await _resting_bid(h)
        taken: list[bool] = []

        def fill_while_down(_seconds: float) -> None:
            if not taken:  # the reconnect pause: nothing is connected now
                taken.append(True)
                _taker_sells(h)
                h.faults.fail_next_http(500, count=h.client.config.read_retries + 1)

        h.time.on_sleep = fill_while_down
        await h.sim.drop_all()
        await h.client.wait_until(
            lambda: any(isinstance(e, VenueUnavailableError) for e in h.client.diagnostics.loop_errors), WAIT_S
        )
        h.time.on_sleep = None
        assert taken and h.client.connects == 2 and not _fills_of(h, order_id)
        await h.client.check_staleness()  # the periodic health check
        await _all_venue_fills_delivered_once(h, order_id, 1)
        assert h.client.session.stats.private_gaps["disconnect"] == 1


@pytest.mark.asyncio
async def test_fills_missed_during_a_freeze_are_delivered_once_when_the_stream_resumes(
    private_key: rsa.RSAPrivateKey,
) -> None:
    """The socket goes silent (frames swallowed, pings still answered) while our order fills. The
    watchdog catches the silence; when frames flow again the missed fill is fetched, once."""
    async with running(private_key, feed_silence_s=5.0) as h:
        order_id = await _resting_bid(h)
        h.faults.freeze(h.sim.stream)
        _taker_sells(h)  # its fill frame is swallowed
        await h.client.wait_until(lambda: h.sim.frames_frozen > 0, WAIT_S)
        h.time.advance(6.0)
        await h.client.check_staleness()  # silence caught: books untrusted, subscriptions renewed
        assert h.client.session.stats.watchdog_trips == 1 and not _fills_of(h, order_id)
        h.faults.thaw(h.sim.stream)
        h.sim.set_level(TICKERS[1], BookSide.ASK, 950_000, 1_000_000)  # any frame: the stream flows again
        await _all_venue_fills_delivered_once(h, order_id, 1)
        assert h.client.session.stats.private_gaps["silence"] == 1


@pytest.mark.asyncio
async def test_fills_missed_in_a_private_sequence_gap_are_fetched_once(private_key: rsa.RSAPrivateKey) -> None:
    """The venue numbers its private messages per subscription; one fill frame is lost (its number
    used). The next private message shows the gap, and the lost fill is fetched, once."""
    async with running(private_key) as h:
        order_id = await _resting_bid(h)
        numbers: dict[tuple[int, int], int] = {}
        lose = ["fill"]
        sim: Any = h.sim

        def numbered(owner: str, channel: str, ticker: str, kind: str, msg: dict[str, Any]) -> None:
            for conn in sim._conns_by_owner.get(owner, ()):
                for sid, sub in list(conn.subs.items()):
                    if sub.channel == channel and (sub.tickers is None or ticker in sub.tickers):
                        seq = numbers[(id(conn), sid)] = numbers.get((id(conn), sid), 0) + 1
                        if kind in lose and seq > 1:  # lost: its number is used, it never arrives
                            lose.remove(kind)
                            continue
                        sim._enqueue(conn, sid, {"type": kind, "sid": sid, "seq": seq, "msg": msg})

        sim._publish_private = numbered
        _taker_sells(h)  # seq 1 on the fill sid: delivered
        await h.client.wait_until(lambda: len(_fills_of(h, order_id)) == 1, WAIT_S)
        _taker_sells(h)  # seq 2: lost
        _taker_sells(h)  # seq 3: delivered, shows the gap
        await _all_venue_fills_delivered_once(h, order_id, 3)
        assert h.client.session.stats.private_gaps["sequence gap"] == 1


@pytest.mark.asyncio
async def test_fills_missed_while_the_fill_channel_is_resubscribed_are_fetched_once(
    private_key: rsa.RSAPrivateKey,
) -> None:
    """The venue drops our fill subscription (error 25, a slow consumer) and our order fills before
    the client has subscribed again: the new subscription does not replay it, the catch-up does."""
    async with running(private_key) as h:
        order_id = await _resting_bid(h)
        sim: Any = h.sim
        [conn] = sim._conns_by_owner[KEY_ID]
        fill_sid = next(sid for sid, sub in conn.subs.items() if sub.channel == "fill")
        sim._overflow(conn, fill_sid)  # error 25 for the fill subscription, which the venue drops
        _taker_sells(h)  # fills while no fill subscription exists
        await _all_venue_fills_delivered_once(h, order_id, 1)
        assert h.client.session.stats.private_gaps["resubscribe"] == 1
        assert h.client.session.stats.venue_errors[25] == 1


@pytest.mark.asyncio
async def test_fills_query_goes_through_the_dedupe_and_the_sink(private_key: rsa.RSAPrivateKey) -> None:
    """Without the private stream, `fills()` is the only path: every fill it finds goes to the sink
    once, and the same fill found again (another query, or the socket) is not delivered twice."""
    async with running(private_key, private_stream=False) as h:
        order_id = await _resting_bid(h)
        _taker_sells(h)
        _taker_sells(h)
        first = await h.client.fills(TICKER)
        assert len([f for f in first if f.order_id == order_id]) == 2
        again = await h.client.fills(order_id=order_id)
        assert len(again) == 2
        assert sorted(_fills_of(h, order_id)) == sorted(f.fill_id for f in again)
        assert h.client.session.stats.duplicate_fills >= 2


# -- the session's side of it (sans-I/O): when a gap is recorded and when it is handed out ---------


def _private_session() -> tuple[KalshiSession, int]:
    """A connected session with a confirmed `fill` subscription (sid 7) and one fill seen."""
    session = KalshiSession(silence_ns=5 * S)
    session.subscribe_all(["fill"], now_ns=0)
    session.on_connect(0)
    [cmd] = [c.json() for c in session.outgoing()]
    session.receive(orjson.dumps({"id": cmd["id"], "type": "subscribed", "msg": {"channel": "fill", "sid": 7}}), 0)
    session.receive(_fill_frame("f-1", 1, ts_ms=1_000_000), 0)
    assert session.last_fill_ts_ms == 1_000_000 and session.take_private_gap() is None
    return session, cmd["id"]


def _fill_frame(fill_id: str, seq: int | None, *, ts_ms: int) -> bytes:
    frame: dict[str, Any] = {
        "type": "fill",
        "sid": 7,
        "msg": {
            "trade_id": fill_id,
            "order_id": "o1",
            "market_ticker": "M",
            "outcome_side": "yes",
            "book_side": "bid",
            "yes_price_dollars": "0.5000",
            "count_fp": "1.00",
            "is_taker": False,
            "ts_ms": ts_ms,
        },
    }
    if seq is not None:
        frame["seq"] = seq
    return orjson.dumps(frame)


def test_a_private_sequence_gap_is_handed_out_at_once_from_the_last_fill_before_it() -> None:
    session, _ = _private_session()
    events = session.receive(_fill_frame("f-3", 3, ts_ms=3_000_000), 1)
    assert [type(e).__name__ for e in events] == ["VenueNotice", "Fill"]  # the gap, and the fill kept
    gap = session.take_private_gap()
    assert gap is not None and gap.since_ms == 1_000_000 and gap.reasons == ("sequence gap",)
    assert session.take_private_gap() is None  # handed out once


def test_silence_and_disconnect_wait_until_the_stream_delivers_again_and_merge() -> None:
    session, _ = _private_session()
    session.check(6 * S)  # silent: the watchdog trips
    assert session.private_gap is not None and session.take_private_gap() is None  # nothing flows yet
    session.on_disconnect("dropped")
    session.on_connect(7 * S)
    [cmd] = [c.json() for c in session.outgoing()]
    assert session.take_private_gap() is None  # connected, but the fill channel is not confirmed
    session.receive(orjson.dumps({"id": cmd["id"], "type": "subscribed", "msg": {"channel": "fill", "sid": 9}}), 7 * S)
    gap = session.take_private_gap()
    assert gap is not None and gap.reasons == ("silence", "disconnect") and gap.since_ms == 1_000_000
    assert session.streams_fills


def test_a_terminal_error_on_the_fill_channel_is_a_gap_until_resubscribed() -> None:
    session, _ = _private_session()
    session.receive(orjson.dumps({"type": "error", "sid": 7, "msg": {"code": 25, "msg": "overflow"}}), 1)
    frames = [c.json() for c in session.outgoing()]
    assert [f["cmd"] for f in frames] == ["unsubscribe", "subscribe"]
    assert not session.streams_fills and session.take_private_gap() is None
    rid = frames[1]["id"]
    session.receive(orjson.dumps({"id": rid, "type": "subscribed", "msg": {"channel": "fill", "sid": 8}}), 2)
    gap = session.take_private_gap()
    assert gap is not None and gap.reasons == ("resubscribe",)


def test_a_failed_catch_up_is_marked_again_from_the_same_start() -> None:
    session, _ = _private_session()
    session.mark_private_gap("catch-up failed", live=True, since_ms=500_000)
    session.receive(_fill_frame("f-2", None, ts_ms=2_000_000), 1)  # a newer fill does not move the start
    gap = session.take_private_gap()
    assert gap is not None and gap.since_ms == 500_000
