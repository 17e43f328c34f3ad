"""Scenario replay: scenario files, backtests from price history, recordings."""
