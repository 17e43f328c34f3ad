"""The default scenario: both simulated venues on loopback with markets from real captures and the
FOMC 2024 fixtures, background market makers and an arbitrage script (docs/scenario.md)."""
