"""Simulated venues: a price-time-priority matching engine and loopback servers that speak the
Kalshi and Polymarket protocols the adapters use, with seeded fault injection."""
