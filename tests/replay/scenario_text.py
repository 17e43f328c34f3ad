"""A small valid scenario (both venues, one event of each book kind, every expectation) that the
parser tests edit one key at a time."""

from __future__ import annotations

BASE = """\
[scenario]
name = "base"
description = "a pair of books and a settlement"
provenance = "synthetic"
duration_s = 10
start_wall_ms = 1733500000000
seed = 3

[config.risk]
min_profit_usd = "0.10"

[config.risk.cash_per_venue_usd]
kalshi = "500"

[venues.kalshi]
[[venues.kalshi.series]]
ticker = "KXA"
[[venues.kalshi.events]]
event_ticker = "KXA-1"
series_ticker = "KXA"
[[venues.kalshi.markets]]
ticker = "KXA-1-Y"
event_ticker = "KXA-1"
book = { bids = [["0.40", "100"]], asks = [["0.45", "100"]] }

[venues.polymarket]
cash_usd = "300"
[[venues.polymarket.markets]]
condition_id = "0xc1"
question = "Will A?"
yes_token = "7001"
no_token = "7002"
yes_book = { bids = [["0.49", "50"]], asks = [["0.51", "50"]] }

[[events]]
at_ms = 1500
kind = "book"
venue = "kalshi"
market = "KXA-1-Y"
bids = [["0.30", "10"]]
asks = [["0.35", "10"]]

[[events]]
at_ms = 500
kind = "level"
venue = "polymarket"
market = "7001"
side = "bid"
price = "0.50"
size = "5"

[[events]]
at_ms = 1500
kind = "trade"
venue = "polymarket"
market = "7001"
action = "buy"
price = "0.51"
size = "20"

[[events]]
at_ms = 2000
kind = "settle"
venue = "polymarket"
market = "0xc1"
result = "yes"

[expect]
plans_min = 1
plans_max = 3
guaranteed_profit_usd_min = "0.50"
guaranteed_profit_usd_max = "2"
orders_sent_min = 2
orders_sent_max = 6
final_positions = { "kalshi:KXA-1-Y:yes" = "10", "polymarket:7001" = "0", "polymarket:0xc1:no" = "5" }
unhedged_sets = 0
incidents_min = 0
incidents_max = 1
halts = ["daily loss"]
alerts = ["halt"]
recovery_clean = true
repairs_min = 0
repairs_max = 2
lost_events = 0
"""


def event(**keys: object) -> str:
    """One more `[[events]]` table, values written as TOML."""
    lines = ["", "[[events]]"]
    for key, value in keys.items():
        if isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, bool):
            lines.append(f"{key} = {str(value).lower()}")
        else:
            lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def with_event(text: str, **keys: object) -> str:
    """`text` with one more event, placed before `[expect]`."""
    head, tail = text.split("[expect]", 1)
    return head + event(**keys) + "\n[expect]" + tail
