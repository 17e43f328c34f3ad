"""Fuzzing the Polymarket decoders and sessions with >= 10,000 seeded random and mutated frames.

Mutations start from the real captures: drop a field, swap a value for a wrong type, NaN, negative,
huge or malformed numbers, wrap in arrays, truncate the bytes; plus random bytes. Every decoder
rejection must be a `WireError` (a `FieldError` naming its field); the sessions must never raise,
and what they keep must stay valid (prices inside (0, 1), sizes >= 0)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

import orjson

from arb.errors import FieldError, WireError
from arb.fixed import SCALE
from arb.venues.polymarket import wire
from arb.venues.polymarket.session import PolymarketMarketSession, PolymarketUserSession
from tests.venues.golden import FIXTURES
from tests.venues.test_polymarket_session import market
from tests.venues.test_polymarket_wire import REST_DECODERS, USER

PM = FIXTURES / "polymarket"
SEED = 20260903
FRAMES = 12_000

WEIRD: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    10**30,
    -(10**30),
    1.5,
    -0.5,
    1e300,
    "",
    "NaN",
    "nan",
    "Infinity",
    "-1",
    "-0.5",
    "1.5",
    "2",
    "0",
    "1",
    "0.0000001",
    "1e3",
    "0x10",
    " 0.5",
    "0.5 ",
    "１",
    "٣",
    "9" * 40,
    "0." + "9" * 30,
    [],
    {},
    [1, 2],
    {"a": 1},
    "BUY",
    "SELL",
    "book",
    "price_change",
    "MATCHED",
    "FAILED",
    "TAKER",
    "MAKER",
    "x" * 300,
    "\u0000",
    "é",
]


def _captures() -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for path in sorted((PM / "ws").iterdir()):
        lines = path.read_bytes().splitlines() if path.suffix == ".jsonl" else [path.read_bytes()]
        out.extend(("ws", orjson.loads(line)) for line in lines if line.strip())
    for path in sorted((PM / "rest").iterdir()):
        value = orjson.loads(path.read_bytes())
        if isinstance(value, list) and len(value) > 4:
            value = value[:4]
        if isinstance(value, dict) and isinstance(value.get("data"), list):
            value = dict(value, data=value["data"][:4])
        out.append((f"rest:{path.name}", value))
    return out


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            paths.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            paths.extend(_paths(value, (*prefix, i)))
    return paths


def _mutate(value: Any, rng: random.Random) -> Any:
    value = copy.deepcopy(value)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(value) if p]
        if not paths:
            return rng.choice(WEIRD)
        path = rng.choice(paths)
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        op = rng.random()
        if op < 0.3 and isinstance(parent, dict):
            del parent[key]
        elif op < 0.85:
            parent[key] = rng.choice(WEIRD)
        elif op < 0.95:
            parent[key] = [parent[key], parent[key]]
        else:
            parent[key] = {"nested": parent[key]}
    return value


def _frames(rng: random.Random) -> list[tuple[str, bytes]]:
    captures = _captures()
    frames: list[tuple[str, bytes]] = []
    while len(frames) < FRAMES:
        kind, value = rng.choice(captures)
        r = rng.random()
        if r < 0.05:
            frames.append((kind, bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 80)))))
            continue
        mutated = _mutate(value, rng) if r < 0.9 else value
        if rng.random() < 0.1:
            mutated = [mutated, _mutate(value, rng)]
        data = json.dumps(mutated).encode()
        if rng.random() < 0.08:
            data = data[: rng.randint(0, len(data))]
        elif rng.random() < 0.03:
            data = data.replace(b'"0.', b"NaN", 1)
        frames.append((kind, data))
    return frames


def _check_rejection(exc: BaseException) -> None:
    assert isinstance(exc, WireError), f"{type(exc).__name__}: {exc}"
    if isinstance(exc, FieldError):
        assert exc.field, f"FieldError without a field: {exc}"


def _decoders(kind: str) -> list[Callable[[bytes], Any]]:
    if kind == "ws":
        return [lambda d: wire.decode_market_frame(d, {}), lambda d: wire.decode_user_frame(d, USER)]
    decoder = REST_DECODERS[kind.split(":", 1)[1]]
    return [lambda d: decoder(wire.loads(d))]


def test_decoders_reject_only_with_wire_errors() -> None:
    rng = random.Random(SEED)
    frames = _frames(rng)
    assert len(frames) >= 10_000
    decoded = rejected = 0
    for kind, data in frames:
        for decode in _decoders(kind):
            try:
                decode(data)
            except Exception as exc:
                _check_rejection(exc)
                rejected += 1
            else:
                decoded += 1
    assert decoded > 1_000 and rejected > 1_000, (decoded, rejected)


def test_sessions_survive_every_frame_and_keep_valid_books() -> None:
    rng = random.Random(SEED + 1)
    frames = _frames(rng)
    trump = market(
        (
            "21742633143463906290569050155826241533067272736897614950488156847949938836455",
            "48331043336612883890938759509493159234755048973500640148014422747788308965732",
        ),
        "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917",
    )
    ssmd_assets = [
        orjson.loads(line)["asset_id"] for line in (PM / "ws" / "ssmd_book_2026-02-12.jsonl").read_bytes().splitlines()
    ]
    others = [market((asset, f"other-{i}"), f"0xo{i}") for i, asset in enumerate(ssmd_assets)]
    session = PolymarketMarketSession()
    session.add_markets([trump, *others])
    session.on_connect(0)
    user = PolymarketUserSession(USER)
    for i, (kind, data) in enumerate(frames):
        session.receive(data, i)
        user.receive(data, i)
        if kind == "rest:nautilus_book.json":
            session.apply_rest_book(data, i)
        if i % 500 == 0:
            session.check(i)
            session.due_ping(i)
    assert session.stats.rejected_total > 1_000 and user.stats.rejected_total > 1_000
    assert session.stats.snapshots > 0 and session.stats.changes > 0 and user.stats.new_fills > 0
    for book in session.books.values():
        for price, size in (*book.bids(), *book.asks()):
            assert 0 < price < SCALE and size > 0
    for fill in user.fills.values():
        assert 0 < fill.price_micro_usd < SCALE and fill.size_micro >= 0


def test_random_bytes_never_escape_as_other_errors() -> None:
    rng = random.Random(SEED + 2)
    session = PolymarketMarketSession()
    session.add_markets([market()])
    for _ in range(2_000):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40)))
        for decode in (wire.decode_market_frame, lambda d: wire.decode_user_frame(d, USER)):
            try:
                decode(data)
            except Exception as exc:
                _check_rejection(exc)
        session.receive(data, 0)
    assert session.stats.rejected_total >= 1_900
