"""Venue adapters (`kalshi`, `polymarket`) and the simulated venues (`sim`).

Each adapter is split three ways: `wire` (pure decode/encode of frames and REST bodies into
`arb.domain` types), `session` (sans-I/O protocol state: subscriptions, sequence and hash checks,
keep-alives, staleness, rate budget) and `client` (a thin asyncio loop over httpx and websockets).
"""
