"""The SQLite ledger (WAL): the intent journal, orders, fills, positions, cash, incidents, marks,
settlements and P&L."""

from arb.ledger.ids import POLYMARKET_SALT_LIMIT, client_order_id, polymarket_salt
from arb.ledger.schema import MIGRATIONS, SCHEMA_VERSION
from arb.ledger.store import (
    FillResult,
    Incident,
    Intent,
    IntentLeg,
    JournaledLeg,
    Ledger,
    LedgerError,
    LedgerUnavailableError,
    OrderRecord,
    Payout,
    PnL,
    PositionPnL,
    SettlementResult,
    migrate,
)
from arb.ledger.writer import LedgerWriter

__all__ = [
    "MIGRATIONS",
    "POLYMARKET_SALT_LIMIT",
    "SCHEMA_VERSION",
    "FillResult",
    "Incident",
    "Intent",
    "IntentLeg",
    "JournaledLeg",
    "Ledger",
    "LedgerError",
    "LedgerUnavailableError",
    "LedgerWriter",
    "OrderRecord",
    "Payout",
    "PnL",
    "PositionPnL",
    "SettlementResult",
    "client_order_id",
    "migrate",
    "polymarket_salt",
]
