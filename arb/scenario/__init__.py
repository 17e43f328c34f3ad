"""The default scenario: both simulated venues on loopback with markets from real captures and the
FOMC 2024 fixtures, background market makers and an arbitrage script (docs/scenario.md)."""

from arb.scenario.venues import ScenarioConfig, ScenarioStats, SimulatedVenues, VenueEndpoints

__all__ = ["ScenarioConfig", "ScenarioStats", "SimulatedVenues", "VenueEndpoints"]
