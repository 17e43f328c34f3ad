"""Polymarket adapter (Gamma, CLOB REST, market and user WebSockets): `wire`, `session`, `client`."""
