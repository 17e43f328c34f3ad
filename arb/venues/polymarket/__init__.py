"""Polymarket adapter (Gamma, CLOB REST, market and user WebSockets): `wire` (pure decoders and
encoders), `session` (sans-I/O market and user sessions), `orders` (signing via py-clob-client-v2,
L2 auth, credentials) and `client` (the thin async `VenueClient`)."""
