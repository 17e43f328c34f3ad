"""Kalshi Trade API v2 adapter: `wire` (pure), `session` (sans-I/O), `client` (asyncio), `auth`."""
