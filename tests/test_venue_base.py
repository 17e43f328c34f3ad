"""Shared sans-I/O venue pieces: token buckets, jittered backoff, the silent-feed watchdog."""

from __future__ import annotations

import random

import pytest

from arb.errors import ConfigError
from arb.venues.base import Backoff, FeedWatchdog, TokenBucket

S = 1_000_000_000


def test_token_bucket_allows_a_burst_then_spaces_requests() -> None:
    bucket = TokenBucket(rate_per_s=10, burst=2)
    assert bucket.delay_ns(0) == 0 and bucket.delay_ns(0) == 0
    third = bucket.delay_ns(0)
    assert third == pytest.approx(S / 10, rel=1e-6)
    fourth = bucket.delay_ns(0)  # reservations queue behind each other
    assert fourth == pytest.approx(2 * S / 10, rel=1e-6)
    assert bucket.delay_ns(10 * S) == 0  # refilled (capped at burst)


def test_token_bucket_penalty_after_429_delays_the_next_request() -> None:
    bucket = TokenBucket(rate_per_s=20)
    bucket.penalise(0, seconds=1.5)
    assert bucket.delay_ns(0) >= 1.5 * S


@pytest.mark.parametrize("rate,burst", [(0, None), (-1, None), (5, 0.5)])
def test_token_bucket_rejects_bad_config(rate, burst) -> None:
    with pytest.raises(ConfigError):
        TokenBucket(rate, burst)


def test_backoff_is_jittered_exponential_and_capped() -> None:
    backoff = Backoff(base_s=0.5, cap_s=4.0, rng=random.Random(7))
    delays = [backoff.next_delay_s() for _ in range(8)]
    ceilings = [min(4.0, 0.5 * 2**n) for n in range(8)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings))
    assert len(set(delays)) == len(delays)  # jittered: no two equal
    assert backoff.next_delay_s(at_least_s=10.0) == 10.0  # a Retry-After hint wins
    backoff.reset()
    assert backoff.next_delay_s() <= 0.5
    assert Backoff(rng=random.Random(7)).next_delay_s() == Backoff(rng=random.Random(7)).next_delay_s()


def test_backoff_rejects_bad_config() -> None:
    with pytest.raises(ConfigError):
        Backoff(base_s=2.0, cap_s=1.0)


def test_watchdog_trips_once_per_silence_even_while_pongs_arrive() -> None:
    dog = FeedWatchdog(silence_ns=5 * S)
    assert not dog.trip(100 * S)  # no data yet: not armed
    dog.data(0)
    for t in range(1, 6):
        dog.pong(t * S)
        assert not dog.trip(t * S)
    dog.pong(6 * S)
    assert dog.stale(6 * S) and dog.trip(6 * S)
    assert not dog.trip(7 * S)  # once per silence
    dog.data(8 * S)
    assert not dog.stale(9 * S)
    assert dog.trip(14 * S)


def test_order_sends_stay_in_flight_until_answered_or_settled() -> None:
    from arb.domain import OrderStatus, OrderUpdate, Venue
    from arb.venues.base import OrderSends

    sends = OrderSends(settle_ns=30, max_kept=3)
    sends.begin("a", "M", now_ns=0, wall_ms=5)
    assert sends.in_flight("a", 10)  # sent, no answer yet: in flight however long it takes
    unknown = OrderUpdate(Venue.KALSHI, "", "a", "M", "M", None, None, OrderStatus.UNKNOWN, None, None, None, None)
    sends.unanswered("a", 100, unknown)  # timed out: may still reach the venue for settle_ns
    assert sends.in_flight("a", 130) and not sends.in_flight("a", 131) and sends.unknown() == [unknown]
    sends.begin("a", "M", now_ns=200, wall_ms=9)  # a resend keeps the first send time
    first = sends.get("a")
    assert first is not None and first.sent_wall_ms == 5 and sends.in_flight("a", 10_000)
    sends.found("a", "venue-id")
    found = sends.get("a")
    assert (
        not sends.in_flight("a", 200) and sends.unknown() == [] and found is not None and found.order_id == "venue-id"
    )
    for key in "bcd":
        sends.begin(key, "M", now_ns=0, wall_ms=0)
    assert len(sends) == 3 and sends.get("a") is None  # the oldest is forgotten
    with pytest.raises(ConfigError):
        OrderSends(settle_ns=-1)


def test_a_send_the_venue_does_not_have_is_unknown_until_it_settles_then_rejected() -> None:
    from arb.domain import OrderStatus, OrderUpdate, Venue
    from arb.venues.base import OrderSends

    sends = OrderSends(settle_ns=30)
    template = OrderUpdate(Venue.KALSHI, "", "a", "M", "M", None, None, OrderStatus.UNKNOWN, None, None, None, None)
    never_sent = sends.not_found("a", 0, template)
    assert never_sent.status is OrderStatus.REJECTED and never_sent.reason == "unknown to the venue"
    assert (never_sent.filled_size_micro, never_sent.remaining_size_micro) == (0, 0)
    sends.begin("a", "M", now_ns=0, wall_ms=0)
    assert sends.not_found("a", 10**12, template).status is OrderStatus.UNKNOWN  # no answer yet
    recorded = OrderUpdate(Venue.KALSHI, "", "a", "M", "M", None, None, OrderStatus.UNKNOWN, 1, 2, None, None)
    sends.unanswered("a", 100, recorded)
    during = sends.not_found("a", 130, template)
    assert during.status is OrderStatus.UNKNOWN and "in flight" in during.reason
    assert during.price_micro_usd == 1  # built on the update recorded for the send
    after = sends.not_found("a", 131, template)
    assert after.status is OrderStatus.REJECTED and after.initial_size_micro == 2


def test_recent_ids_remember_the_newest_limit_ids() -> None:
    from arb.venues.base import RecentIds

    ids = RecentIds(2)
    for key in ("a", "b", "a", "c"):  # re-adding "a" makes it the newest again
        ids.add(key)
    assert "a" in ids and "c" in ids and "b" not in ids and len(ids) == 2


@pytest.mark.parametrize("venue", ["kalshi", "polymarket"])
@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_client_configs_refuse_a_bad_timeout_or_settle_time(venue: str, bad: object) -> None:
    from arb.venues.kalshi.client import KalshiConfig
    from arb.venues.polymarket.client import PolymarketConfig

    config = KalshiConfig if venue == "kalshi" else PolymarketConfig
    with pytest.raises(ConfigError, match=f"^{venue} request_timeout_s must be a positive number"):
        config(request_timeout_s=bad)  # type: ignore[arg-type]
    if bad == 0:
        assert config(order_settle_s=0).order_settle_s == 0  # settling may be immediate
    else:
        with pytest.raises(ConfigError, match=f"^{venue} order_settle_s must be a non-negative number"):
            config(order_settle_s=bad)  # type: ignore[arg-type]
