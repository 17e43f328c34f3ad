"""Seeded synthetic market-data feeds in each venue's wire format, for the venue benchmark.

The frames copy the shapes of the real captures (Kalshi `orderbook_snapshot`/`orderbook_delta` with
`_dollars`/`_fp` strings and one per-subscription `seq`; Polymarket `book` and current-format
`price_change` with per-change `best_bid`/`best_ask`). A plain dict model tracks every ladder while
generating, so every change is valid (Kalshi deltas never drive a level negative; Polymarket's
best bid/ask fields are what the book will really show) and a correct session keeps every book
trusted from the first snapshot to the last change.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Feed", "kalshi_feed", "polymarket_feed"]

SCALE = 1_000_000


@dataclass(frozen=True, slots=True)
class Feed:
    venue: str
    snapshots: tuple[bytes, ...]  # sent first (not timed as changes)
    changes: tuple[bytes, ...]  # the book-change messages the benchmark times
    books: int


def _dollars(micro: int) -> str:
    return f"{micro // SCALE}.{micro % SCALE // 100:04d}"


def _fp(units: int) -> str:
    return f"{units}.00"


def kalshi_feed(*, markets: int = 50, changes: int = 100_000, seed: int = 1) -> Feed:
    """One `orderbook_delta` subscription (sid 1) over `markets` tickers, one-cent ticks."""
    rng = random.Random(seed)
    tickers = [f"KXBENCH-26NOV21-T{50 + i}" for i in range(markets)]
    ladders: dict[str, dict[str, dict[int, int]]] = {}
    snapshots = []
    seq = 0
    for ticker in tickers:
        mid = rng.randint(20, 80)
        yes = {c: rng.randint(1, 500) for c in range(mid - 10, mid)}  # YES bids below mid
        no = {c: rng.randint(1, 500) for c in range(100 - mid - 10, 100 - mid)}  # NO bids below 1 - mid
        ladders[ticker] = {"yes": yes, "no": no}
        seq += 1
        snapshots.append(
            orjson.dumps(
                {
                    "type": "orderbook_snapshot",
                    "sid": 1,
                    "seq": seq,
                    "msg": {
                        "market_ticker": ticker,
                        "market_id": f"00000000-0000-0000-0000-{seq:012d}",
                        "yes_dollars_fp": [[_dollars(c * 10_000), _fp(s)] for c, s in sorted(yes.items())],
                        "no_dollars_fp": [[_dollars(c * 10_000), _fp(s)] for c, s in sorted(no.items())],
                    },
                }
            )
        )
    frames = []
    ts_ms = 1_763_700_000_000
    for _ in range(changes):
        ticker = tickers[rng.randrange(markets)]
        side = "yes" if rng.random() < 0.5 else "no"
        ladder = ladders[ticker][side]
        other = ladders[ticker]["no" if side == "yes" else "yes"]
        # the highest price this side may bid without crossing the other side's best bid
        ceiling = 99 - max(other, default=0)
        if ladder and rng.random() < 0.45:
            cents = rng.choice(list(ladder))
            delta = -rng.randint(1, ladder[cents])
        else:
            cents = rng.randint(max(1, ceiling - 15), max(1, ceiling))
            delta = rng.randint(1, 300)
        new = ladder.get(cents, 0) + delta
        if new:
            ladder[cents] = new
        else:
            ladder.pop(cents, None)
        seq += 1
        ts_ms += rng.randint(0, 3)
        frames.append(
            orjson.dumps(
                {
                    "type": "orderbook_delta",
                    "sid": 1,
                    "seq": seq,
                    "msg": {
                        "market_ticker": ticker,
                        "market_id": "00000000-0000-0000-0000-000000000001",
                        "price_dollars": _dollars(cents * 10_000),
                        "delta_fp": f"{delta}.00",
                        "side": side,
                        "ts_ms": ts_ms,
                    },
                }
            )
        )
    return Feed("kalshi", tuple(snapshots), tuple(frames), markets)


def _price(micro: int) -> str:
    text = f"{micro / SCALE:.3f}".rstrip("0")
    return text if not text.endswith(".") else text[:-1]


# Polymarket's current book hash also covers the market's minimum order size and negRisk flag,
# which a WS `book` frame does not carry; the benchmark's markets use these values.
POLYMARKET_MIN_ORDER_SIZE = "5"
POLYMARKET_NEG_RISK = False


def _book_hash(frame: dict[str, Any]) -> str:
    """SHA-1 of the compact JSON of the book summary with `hash` blank, in the venue's key order
    (py_clob_client_v2.utilities.generate_orderbook_summary_hash)."""
    payload = {
        "market": frame["market"],
        "asset_id": frame["asset_id"],
        "timestamp": frame["timestamp"],
        "hash": "",
        "bids": frame["bids"],
        "asks": frame["asks"],
        "min_order_size": POLYMARKET_MIN_ORDER_SIZE,
        "tick_size": frame["tick_size"],
        "neg_risk": POLYMARKET_NEG_RISK,
        "last_trade_price": frame["last_trade_price"],
    }
    return hashlib.sha1(orjson.dumps(payload)).hexdigest()


def polymarket_feed(*, markets: int = 25, changes: int = 100_000, seed: int = 1) -> Feed:
    """Market-channel frames for `markets` conditions (two tokens each), 0.001 ticks; each
    `price_change` frame carries one level change with the book's resulting best bid and ask."""
    rng = random.Random(seed)
    books: dict[str, dict[str, dict[int, int]]] = {}
    owner: dict[str, str] = {}
    snapshots = []
    ts_ms = 1_763_700_000_000
    for m in range(markets):
        condition = "0x" + hashlib.sha256(f"bench-{seed}-{m}".encode()).hexdigest()
        for t in range(2):
            token = str(int(hashlib.sha256(f"token-{seed}-{m}-{t}".encode()).hexdigest(), 16) % 10**77)
            mid = rng.randint(200, 800)
            bids = {p: rng.randint(5, 5000) for p in range(mid - 40, mid, 4)}
            asks = {p: rng.randint(5, 5000) for p in range(mid + 4, mid + 44, 4)}
            books[token] = {"BUY": bids, "SELL": asks}
            owner[token] = condition
            frame = {
                "market": condition,
                "asset_id": token,
                "timestamp": str(ts_ms),
                "hash": "",
                "bids": [{"price": _price(p * 1000), "size": str(s)} for p, s in sorted(bids.items())],
                "asks": [{"price": _price(p * 1000), "size": str(s)} for p, s in sorted(asks.items(), reverse=True)],
                "tick_size": "0.001",
                "last_trade_price": _price(mid * 1000),
            }
            frame["hash"] = _book_hash(frame)
            snapshots.append(orjson.dumps([{"event_type": "book", **frame}]))
    tokens = list(books)
    frames = []
    for _ in range(changes):
        token = tokens[rng.randrange(len(tokens))]
        side = "BUY" if rng.random() < 0.5 else "SELL"
        ladder = books[token][side]
        bids, asks = books[token]["BUY"], books[token]["SELL"]
        # a new level must not cross the other side: bids stay below the best ask and vice versa
        if side == "BUY":
            low, high = max(1, min(asks, default=1000) - 60), min(asks, default=1000) - 1
        else:
            low, high = max(bids, default=0) + 1, min(999, max(bids, default=0) + 60)
        if ladder and (rng.random() < 0.35 or low > high):
            price = rng.choice(list(ladder))
            size = 0 if rng.random() < 0.5 else rng.randint(1, 5000)
        elif low <= high:
            price = rng.randint(low, high)
            size = rng.randint(1, 5000)
        else:
            continue
        if size:
            ladder[price] = size
        else:
            ladder.pop(price, None)
        ts_ms += rng.randint(0, 3)
        best_bid = max(bids, default=0)
        best_ask = min(asks, default=1000)
        frames.append(
            orjson.dumps(
                {
                    "market": owner[token],
                    "price_changes": [
                        {
                            "asset_id": token,
                            "price": _price(price * 1000),
                            "size": str(size),
                            "side": side,
                            "hash": hashlib.sha1(f"{token}{ts_ms}".encode()).hexdigest(),
                            "best_bid": _price(best_bid * 1000) if bids else "0",
                            "best_ask": _price(best_ask * 1000) if asks else "1",
                        }
                    ],
                    "event_type": "price_change",
                    "timestamp": str(ts_ms),
                }
            )
        )
    return Feed("polymarket", tuple(snapshots), tuple(frames), len(tokens))
