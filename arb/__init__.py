"""The arbitrage engine: venues, books, market graph, scanner, risk, executor, ledger, daemon."""
