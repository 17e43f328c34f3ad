"""Fuzzing the Kalshi decoders and session with >= 10,000 seeded frames: real captured frames and
every message type, mutated (fields dropped, types changed, NaN/negative/huge values, truncated
bytes), plus random bytes and random JSON. Nothing escapes but typed errors, and every FieldError
names its field."""

from __future__ import annotations

import copy
import functools
import json
import random
from typing import Any

import orjson

from arb.errors import FieldError, WireError
from arb.venues.kalshi import wire
from arb.venues.kalshi.session import KalshiSession
from tests.venues.golden import FIXTURES

FRAMES = 12_000
SEED = 20260303

# One frame of every WS message type the decoder knows, in current and legacy shapes.
_SYNTHETIC: list[dict[str, Any]] = [
    {
        "type": "orderbook_snapshot",
        "sid": 1,
        "seq": 1,
        "msg": {
            "market_ticker": "A",
            "yes_dollars_fp": [["0.0800", "300.00"], ["0.2200", "333.00"]],
            "no_dollars_fp": [["0.5400", "20.00"]],
        },
    },
    {
        "type": "orderbook_snapshot",
        "sid": 1,
        "seq": 2,
        "msg": {
            "market_ticker": "B",
            "yes": [[8, 300]],
            "no": [[54, 20]],
            "yes_dollars": [["0.0800", 300]],
            "no_dollars": [["0.5400", 20]],
        },
    },
    {
        "type": "orderbook_delta",
        "sid": 1,
        "seq": 3,
        "msg": {
            "market_ticker": "A",
            "price_dollars": "0.9600",
            "delta_fp": "-54.00",
            "side": "yes",
            "ts": "2022-11-22T20:44:01Z",
            "ts_ms": 1669149841000,
        },
    },
    {
        "type": "orderbook_delta",
        "sid": 1,
        "seq": 4,
        "msg": {"market_ticker": "B", "price": 42, "delta": 7, "side": "no"},
    },
    {
        "type": "trade",
        "sid": 2,
        "seq": 2,
        "msg": {
            "trade_id": "t",
            "market_ticker": "A",
            "yes_price_dollars": "0.36",
            "no_price_dollars": "0.64",
            "count_fp": "136.00",
            "taker_side": "no",
            "taker_outcome_side": "no",
            "ts": 1669149841,
            "ts_ms": 1669149841000,
        },
    },
    {
        "type": "fill",
        "sid": 13,
        "msg": {
            "trade_id": "t",
            "order_id": "o",
            "client_order_id": "c",
            "market_ticker": "A",
            "is_taker": True,
            "side": "yes",
            "yes_price_dollars": "0.75",
            "count_fp": "278.00",
            "fee_cost": "0.010000",
            "action": "buy",
            "ts": 1671899397,
            "outcome_side": "yes",
            "book_side": "bid",
        },
    },
    {
        "type": "user_order",
        "sid": 22,
        "msg": {
            "order_id": "o",
            "ticker": "A",
            "status": "resting",
            "side": "yes",
            "outcome_side": "yes",
            "book_side": "bid",
            "yes_price_dollars": "0.35",
            "fill_count_fp": "0.00",
            "remaining_count_fp": "10.00",
            "initial_count_fp": "10.00",
            "taker_fees_dollars": "0.000000",
            "maker_fees_dollars": "0.000000",
            "client_order_id": "c",
            "created_ts_ms": 1733047200000,
        },
    },
    {
        "type": "market_position",
        "sid": 14,
        "msg": {
            "market_ticker": "A",
            "position_fp": "100.00",
            "position_cost_dollars": "50.0000",
            "realized_pnl_dollars": "10.0000",
            "fees_paid_dollars": "1.0000",
            "volume_fp": "15.00",
        },
    },
    {
        "type": "market_lifecycle_v2",
        "sid": 13,
        "seq": 3,
        "msg": {
            "market_ticker": "A",
            "open_ts": 1694635200,
            "close_ts": 1694721600,
            "additional_metadata": {"title": "t", "floor_strike": 4487, "event_ticker": "E"},
            "event_type": "created",
            "price_level_structure": "linear_cent",
            "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
        },
    },
    {
        "type": "market_lifecycle_v2",
        "sid": 13,
        "seq": 4,
        "msg": {
            "market_ticker": "A",
            "event_type": "determined",
            "determination_ts": 1,
            "result": "yes",
            "settlement_value": "1.0000",
        },
    },
    {
        "type": "event_lifecycle",
        "sid": 5,
        "seq": 8,
        "msg": {
            "event_ticker": "E",
            "title": "T",
            "subtitle": "S",
            "collateral_return_type": "MECNET",
            "series_ticker": "KX",
            "strike_date": 5,
        },
    },
    {
        "type": "event_fee_update",
        "sid": 5,
        "seq": 9,
        "msg": {"event_ticker": "E", "fee_type_override": "quadratic", "fee_multiplier_override": 1},
    },
    {"id": 1, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}},
    {"id": 123, "sid": 456, "seq": 222, "type": "ok", "msg": {"market_tickers": ["A", "B"]}},
    {"id": 3, "type": "ok", "msg": [{"channel": "ticker", "sid": 2}]},
    {"id": 102, "sid": 2, "seq": 7, "type": "unsubscribed"},
    {"id": 123, "type": "error", "msg": {"code": 25, "msg": "overflow"}},
]


def _corpus() -> list[dict[str, Any]]:
    frames = list(_SYNTHETIC)
    for path in sorted((FIXTURES / "kalshi" / "ws").glob("*.jsonl")):
        frames += [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    for path in sorted((FIXTURES / "kalshi" / "format_examples").glob("*_ws_*.json")):
        frames.append(orjson.loads(path.read_bytes()))
    return frames


_WEIRD: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    2**63,
    -(2**70),
    "",
    "NaN",
    "-1",
    "1e9",
    "0.0000001",
    "99999999999999999999",
    "abc",
    [],
    {},
    [1, 2],
    {"x": None},
    "\x00",
    "0.5" * 50,
]


def _paths(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(frame: dict[str, Any], rng: random.Random) -> bytes:
    """One structural or byte-level mutation of a real frame."""
    obj = copy.deepcopy(frame)
    choice = rng.randrange(7)
    paths = [p for p in _paths(obj) if p]
    if choice <= 3 and paths:
        path = rng.choice(paths)
        parent: Any = obj  # a dict or list inside the frame
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        if choice == 0:  # drop the field / element
            del parent[last]
        elif choice == 1:  # change its type or value
            parent[last] = rng.choice(_WEIRD)
        elif choice == 2:  # NaN, negative, huge: as text JSON cannot otherwise carry
            parent[last] = rng.choice(["__NAN__", "__INF__", -123456789, "-0.5000", "1.5000", 10**30])
        else:  # wrong envelope type name
            obj["type"] = rng.choice(["orderbook_delta", "orderbook_snapshot", "ticker", "fill", "error", "ok", "zzz"])
        text = json.dumps(obj).replace('"__NAN__"', "NaN").replace('"__INF__"', "Infinity")
        return text.encode()
    raw = _dumps(obj)
    if choice == 4:  # truncate
        return raw[: rng.randrange(len(raw))]
    if choice == 5:  # flip bytes
        data = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    return _dumps({k: obj[k] for k in rng.sample(list(obj), rng.randint(0, len(obj)))})  # random subset of the envelope


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice(_WEIRD[:14])
    if kind == 1:
        return rng.randint(-(10**6), 10**6)
    if kind == 2:
        return rng.choice(["yes", "no", "orderbook_delta", "0.42", "12.00", "A"])
    if kind == 3:
        return rng.random()
    if kind == 4:
        return None
    if kind == 5:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = [
        "type",
        "sid",
        "seq",
        "msg",
        "market_ticker",
        "price_dollars",
        "delta_fp",
        "side",
        "yes_dollars_fp",
        "id",
        "code",
    ]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _dumps(obj: Any) -> bytes:
    """json (not orjson): it can write integers beyond 64 bits, which the decoder must also refuse."""
    return json.dumps(obj).encode()


@functools.lru_cache(maxsize=1)
def _frames() -> list[bytes]:
    rng = random.Random(SEED)
    corpus = _corpus()
    frames: list[bytes] = [orjson.dumps(f) for f in corpus]
    while len(frames) < FRAMES:
        roll = rng.random()
        if roll < 0.75:
            frames.append(_mutate(rng.choice(corpus), rng))
        elif roll < 0.85:
            frames.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 64))))
        else:
            frames.append(_dumps(_random_json(rng)))
    return frames


def test_decoder_raises_only_typed_errors_naming_fields() -> None:
    frames = _frames()
    assert len(frames) >= 10_000
    outcomes = {"ok": 0, "field": 0, "other_wire": 0}
    for raw in frames:
        try:
            events = wire.decode_ws(raw)
        except FieldError as err:
            assert err.field, f"FieldError without a field for {raw[:120]!r}: {err}"
            assert err.venue == "kalshi"
            outcomes["field"] += 1
        except WireError:
            outcomes["other_wire"] += 1
        else:
            assert isinstance(events, list) and events
            outcomes["ok"] += 1
    # The mix exercises all three outcomes substantially.
    assert min(outcomes.values()) > 500, outcomes


def test_session_survives_every_frame() -> None:
    session = KalshiSession()
    session.subscribe(["A", "B", "KXBTC-25MAR15-B100000"], now_ns=0)
    session.on_connect(0)
    [cmd] = [command.json() for command in session.outgoing()]
    session.receive(
        orjson.dumps({"id": cmd["id"], "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}}), 0
    )
    frames = _frames()
    for i, raw in enumerate(frames):
        session.receive(raw, i)  # must never raise
        session.outgoing()
    stats = session.stats
    assert stats.frames == len(frames) + 1
    assert stats.rejected_total > 1_000
    assert set(stats.rejected) <= {"WireError", "UnknownShapeError", "FieldError", "BookError"}
    assert all(e.field for e in session.recent_errors if e.error_type == "FieldError")
