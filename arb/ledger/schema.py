"""The ledger's schema as an ordered list of migrations. `PRAGMA user_version` holds how many
have been applied; opening a ledger applies the missing ones in order, each in one transaction
together with the version bump, so a crash mid-migration leaves the previous version intact.
Never edit a released migration: append a new one."""

from __future__ import annotations

# Conventions: money and sizes are INTEGER micro-units (10^-6 USD, 10^-6 contracts) or exact
# Decimal TEXT where a product of two micro-units is not a whole micro-USD (cash). No REAL column.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the journal, orders, fills and their effects.
    (
        """CREATE TABLE intents (
            intent_id TEXT PRIMARY KEY,
            set_id TEXT NOT NULL,
            created_ms INTEGER NOT NULL
        ) STRICT""",
        """CREATE TABLE intent_legs (
            intent_id TEXT NOT NULL REFERENCES intents(intent_id),
            leg_index INTEGER NOT NULL,
            venue TEXT NOT NULL,
            market_id TEXT NOT NULL,
            book_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            action TEXT NOT NULL,
            price_micro_usd INTEGER NOT NULL,
            size_micro INTEGER NOT NULL,
            time_in_force TEXT NOT NULL,
            client_order_id TEXT NOT NULL UNIQUE,
            salt INTEGER NOT NULL,
            PRIMARY KEY (intent_id, leg_index)
        ) STRICT""",
        """CREATE TABLE orders (
            client_order_id TEXT PRIMARY KEY,
            venue TEXT NOT NULL,
            order_id TEXT,
            market_id TEXT NOT NULL,
            status TEXT NOT NULL,
            filled_micro INTEGER NOT NULL,
            remaining_micro INTEGER,
            reason TEXT NOT NULL,
            updated_ms INTEGER NOT NULL
        ) STRICT""",
        "CREATE UNIQUE INDEX orders_by_venue_id ON orders(venue, order_id) WHERE order_id IS NOT NULL",
        """CREATE TABLE fills (
            venue TEXT NOT NULL,
            fill_id TEXT NOT NULL,
            order_id TEXT NOT NULL,
            client_order_id TEXT,
            market_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            action TEXT NOT NULL,
            price_micro_usd INTEGER NOT NULL,
            size_micro INTEGER NOT NULL,
            fee_micro_usd INTEGER NOT NULL,
            status TEXT NOT NULL,
            recorded_ms INTEGER NOT NULL,
            PRIMARY KEY (venue, fill_id)
        ) STRICT""",
        """CREATE TABLE fill_reversals (
            venue TEXT NOT NULL,
            fill_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            recorded_ms INTEGER NOT NULL,
            PRIMARY KEY (venue, fill_id),
            FOREIGN KEY (venue, fill_id) REFERENCES fills(venue, fill_id)
        ) STRICT""",
        """CREATE TABLE positions (
            venue TEXT NOT NULL,
            market_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            size_micro INTEGER NOT NULL,
            PRIMARY KEY (venue, market_id, outcome)
        ) STRICT""",
        """CREATE TABLE cash (
            venue TEXT PRIMARY KEY,
            usd TEXT NOT NULL
        ) STRICT""",
    ),
    # 2: incidents and P&L marks.
    (
        """CREATE TABLE incidents (
            incident_id INTEGER PRIMARY KEY,
            set_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            opened_ms INTEGER NOT NULL,
            closed_ms INTEGER,
            resolution TEXT NOT NULL DEFAULT ''
        ) STRICT""",
        "CREATE INDEX incidents_open ON incidents(set_id) WHERE closed_ms IS NULL",
        """CREATE TABLE marks (
            venue TEXT NOT NULL,
            market_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            price_micro_usd INTEGER NOT NULL,
            marked_ms INTEGER NOT NULL,
            PRIMARY KEY (venue, market_id, outcome)
        ) STRICT""",
    ),
    # 3: settlements. Once per market: what each outcome paid per contract, and the last fill row
    # the settled position held (a fill recorded later in a settled market is paid out on arrival).
    (
        """CREATE TABLE settlements (
            venue TEXT NOT NULL,
            market_id TEXT NOT NULL,
            yes_payout_micro_usd INTEGER NOT NULL CHECK (yes_payout_micro_usd BETWEEN 0 AND 1000000),
            no_payout_micro_usd INTEGER NOT NULL CHECK (no_payout_micro_usd BETWEEN 0 AND 1000000),
            settled_ms INTEGER NOT NULL,
            last_fill_rowid INTEGER NOT NULL,
            paid_usd TEXT NOT NULL,
            PRIMARY KEY (venue, market_id)
        ) STRICT""",
    ),
    # 4: what a report needs to tell entries from repairs and to time the venues' answers. An
    # order's first answer (its first state other than pending or unknown, recorded when heard) and
    # the incident a repair intent answers (NULL: an entry). Rows written before stay NULL.
    (
        "ALTER TABLE orders ADD COLUMN answered_ms INTEGER",
        "ALTER TABLE intents ADD COLUMN repair_of_incident INTEGER REFERENCES incidents(incident_id)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
