"""The continuous daemon behind `arb run`."""
