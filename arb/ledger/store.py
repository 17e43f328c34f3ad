"""The SQLite ledger: intents journaled before any order leaves, orders, fills (deduplicated by
venue fill id, reversals recorded), positions, cash per venue, incidents and P&L marks.

Every public write is one transaction (BEGIN IMMEDIATE ... COMMIT) and returns only after the
commit; a write that fails rolls back whole. Money is exact: integer micro-units, and cash as
Decimal text (price x size is not always a whole micro-USD). A float argument is refused.

Calls are synchronous; see `benchmarks/ledger_bench.py` for their measured latency. The daemon
writes through `arb.ledger.writer.LedgerWriter`, which takes the commits off the event loop and
keeps, in order, the writes a failing disk refused (`LedgerUnavailableError`) until they succeed.
"""

from __future__ import annotations

import decimal
import enum
import os
import sqlite3
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from arb.domain import Action, Fill, FillStatus, OrderStatus, OrderUpdate, Side, TimeInForce, Venue
from arb.errors import ArbError, ConfigError
from arb.ledger.ids import client_order_id, polymarket_salt
from arb.ledger.schema import MIGRATIONS, SCHEMA_VERSION

_MICRO = Decimal(1_000_000)
_ONE_USD_MICRO = 1_000_000
_PICO_PER_USD = 10**12  # P&L is summed in micro-USD x micro-contracts: exact integers
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_PER_DAY = 86_400_000
_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED})


class LedgerError(ArbError):
    """The ledger file cannot be used as it is (a schema newer than this code, a corrupt or
    locked database). Stop: trading without a journal is not allowed."""


class LedgerUnavailableError(LedgerError):
    """A write could not be committed for a reason of the storage, not of the record (SQLite's
    OperationalError: disk I/O error, database is locked, database or disk is full). The
    transaction was rolled back whole; the same write may succeed later (retry it, in order)."""


class _WriteFaults:
    """The test hook behind `Ledger.fail_writes`: shared by every connection opened from one
    ledger, so a failing "disk" fails the writer's connection as well."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: str | None = None


class FillResult(enum.Enum):
    APPLIED = "applied"  # a new fill; position and cash moved
    DUPLICATE = "duplicate"  # seen before (its status may have advanced); nothing moved
    REVERSED = "reversed"  # the fill FAILED on chain; its effect is undone (now or on arrival)


@dataclass(frozen=True, slots=True)
class IntentLeg:
    venue: Venue
    market_id: str
    outcome: Side
    action: Action
    price_micro_usd: int
    size_micro: int
    time_in_force: TimeInForce
    book_id: str = ""  # Polymarket token id; Kalshi: the market ticker or ""


@dataclass(frozen=True, slots=True)
class Intent:
    intent_id: str
    set_id: str
    created_ms: int
    legs: tuple[IntentLeg, ...]

    def client_order_ids(self) -> tuple[str, ...]:
        return tuple(client_order_id(self.intent_id, i) for i in range(len(self.legs)))


@dataclass(frozen=True, slots=True)
class JournaledLeg:
    leg_index: int
    leg: IntentLeg
    client_order_id: str
    salt: int


@dataclass(frozen=True, slots=True)
class OrderRecord:
    client_order_id: str
    venue: Venue
    order_id: str | None
    market_id: str
    status: OrderStatus
    filled_micro: int
    remaining_micro: int | None
    reason: str
    updated_ms: int


@dataclass(frozen=True, slots=True)
class Incident:
    incident_id: int
    set_id: str
    reason: str
    opened_ms: int
    closed_ms: int | None
    resolution: str


class SettlementResult(enum.Enum):
    APPLIED = "applied"  # the market is settled now; held contracts paid, positions zeroed
    DUPLICATE = "duplicate"  # settled before with the same payout; nothing moved


@dataclass(frozen=True, slots=True)
class Payout:
    """What one contract of each outcome of a settled market pays, in micro-USD: `won(YES)` is
    (1_000_000, 0); a void or a split resolution pays what the venue announces (e.g. 500_000 each)."""

    yes_micro_usd: int
    no_micro_usd: int

    def __post_init__(self) -> None:
        for name in ("yes_micro_usd", "no_micro_usd"):
            value = _int(f"payout {name}", getattr(self, name), minimum=0)
            if value > _ONE_USD_MICRO:
                raise ConfigError(f"payout {name} {value} micro-USD is above 1 USD per contract")

    @classmethod
    def won(cls, outcome: Side) -> Payout:
        return cls(_ONE_USD_MICRO, 0) if outcome is Side.YES else cls(0, _ONE_USD_MICRO)

    def of(self, outcome: Side) -> int:
        return self.yes_micro_usd if outcome is Side.YES else self.no_micro_usd


@dataclass(frozen=True, slots=True)
class PositionPnL:
    """P&L of one (venue, market, outcome) under FIFO lots (docs/money-model.md#profit-and-loss).

    size_micro: the open position (negative: short); zero once closed or settled
    cost_usd: the open lots at the prices they were traded at (fees are not in it: expensed)
    realised_usd: closed lots (trade or settlement price minus lot price) minus every fee paid
    mark_micro_usd / unrealised_usd: the recorded mark and size x mark - cost; None when the
        position is open and has no mark (never valued at a guess), 0 when it is flat
    """

    venue: Venue
    market_id: str
    outcome: Side
    size_micro: int
    cost_usd: Decimal
    realised_usd: Decimal
    fees_usd: Decimal
    settled: bool
    mark_micro_usd: int | None
    unrealised_usd: Decimal | None


@dataclass(frozen=True, slots=True)
class PnL:
    """The ledger's profit and loss, exact (docs/money-model.md#profit-and-loss).

    realised_usd: closed and settled lots plus every fee (fees included: negative)
    unrealised_usd: the marked open positions at their marks minus their cost
    fees_usd: every fee paid on fills that stand (reversed fills never happened)
    unmarked: open positions without a mark: in neither unrealised_usd nor any total, named
    realised_by_day: (UTC date "YYYY-MM-DD", realised that day) for each day with a fill or a
        settlement, oldest first; sums to realised_usd
    positions: every (venue, market, outcome) ever traded
    """

    realised_usd: Decimal
    unrealised_usd: Decimal
    fees_usd: Decimal
    unmarked: tuple[tuple[Venue, str, Side], ...]
    realised_by_day: tuple[tuple[str, Decimal], ...]
    positions: tuple[PositionPnL, ...]


def _int(name: str, value: object, *, minimum: int | None = None) -> int:
    """An exact integer argument; floats (and bools, and Decimals) are refused, never rounded."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an int (exact micro-units), got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _notional_usd(price_micro_usd: int, size_micro: int) -> Decimal:
    return Decimal(price_micro_usd * size_micro) / (_MICRO * _MICRO)


def _cash_delta(action: Action, price_micro_usd: int, size_micro: int, fee_micro_usd: int) -> Decimal:
    notional = _notional_usd(price_micro_usd, size_micro)
    fee = Decimal(fee_micro_usd) / _MICRO
    return -notional - fee if action is Action.BUY else notional - fee


def _open(path: str | os.PathLike[str], synchronous: str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    try:
        # Autocommit at the driver level: transactions are the explicit BEGIN/COMMIT below.
        conn = sqlite3.connect(os.fspath(path), isolation_level=None, check_same_thread=check_same_thread, timeout=5.0)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.close()
            raise LedgerError(f"ledger {path}: WAL mode refused (journal_mode is {mode})")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as exc:
        raise LedgerError(f"ledger {path} cannot be opened: {exc}") from exc
    return conn


def _write_error(message: str, exc: sqlite3.Error) -> LedgerError:
    """The storage refused (OperationalError: I/O, lock, full disk): the write may succeed later.
    Anything else (a constraint, a corrupt file) is not cured by waiting."""
    if isinstance(exc, sqlite3.OperationalError):
        return LedgerUnavailableError(message)
    return LedgerError(message)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to `target`, each in its own transaction with its version
    bump. Refuses a file newer than this code. Returns the version now on file."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"ledger schema version {version} is newer than this code knows ({SCHEMA_VERSION}); "
            "refusing to open it (upgrade the code, never downgrade the file)"
        )
    for number in range(version + 1, target + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            # re-read under the write lock: another process may have migrated in the meantime
            if int(conn.execute("PRAGMA user_version").fetchone()[0]) < number:
                for statement in MIGRATIONS[number - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise LedgerError(f"ledger migration {number} failed: {exc}") from exc
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


class Ledger:
    """One process's handle on the ledger file. Not thread-safe (one connection); every write
    method is one committed transaction when it returns.

    Durability: WAL with `synchronous=FULL` (the default here) fsyncs the WAL on every commit,
    so a committed intent survives a killed process AND an OS crash or power loss. `NORMAL`
    also survives a killed process (the commit is in the WAL file, which the OS keeps), but may
    lose the last commits on power loss; an intent lost that way would leave an order on the
    venue that the journal never saw. FULL costs one fsync per write; the benchmark measures it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        _faults: _WriteFaults | None = None,
        _any_thread: bool = False,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ConfigError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.path = os.fspath(path)
        self.synchronous: Literal["FULL", "NORMAL"] = synchronous
        self._faults = _faults or _WriteFaults()
        self._conn = _open(path, synchronous, check_same_thread=not _any_thread)
        self.external_writes = 0  # writes committed for this ledger on another connection (LedgerWriter)
        try:
            self.schema_version = migrate(self._conn)
        except BaseException:
            self._conn.close()
            raise

    def connect_again(self) -> Ledger:
        """Another connection to the same file, usable from one other thread at a time (the
        writer's commits and the P&L replay run in worker threads on their own connections, so
        the event loop's reads never wait on their fsyncs), sharing this ledger's `fail_writes`."""
        return Ledger(self.path, synchronous=self.synchronous, _faults=self._faults, _any_thread=True)

    def fail_writes(self, enabled: bool, error: str = "disk I/O error") -> None:
        """Test hook (the replay's `ledger_fault` / `ledger_heal` events): while enabled, every
        write of this ledger and of its `connect_again` connections fails at its commit as a failing
        disk does (sqlite3.OperationalError `error`, rolled back: `LedgerUnavailableError`)."""
        self._faults.error = error if enabled else None

    def check_writable(self) -> None:
        """An empty write transaction: raises `LedgerUnavailableError` while the storage refuses."""
        with self._tx():
            pass

    @property
    def writes_failing(self) -> bool:
        return self._faults.error is not None

    def close(self) -> None:
        self._conn.close()

    @property
    def revision(self) -> int:
        """Rows written through this ledger so far (inserted, updated or deleted; SQLite's
        `total_changes`, no query) plus the writes a `LedgerWriter` committed for it on its own
        connection: two equal readings mean nothing was written in between, so a value derived
        from the ledger at the first can be reused at the second."""
        return self._conn.total_changes + self.external_writes

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        if conn.in_transaction:  # a ROLLBACK that failed with the disk: try again before going on
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _write_error(f"ledger {self.path}: cannot begin a transaction: {exc}", exc) from exc
        try:
            yield conn
            if self._faults.error is not None:
                raise sqlite3.OperationalError(self._faults.error)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                with suppress(sqlite3.Error):  # a failing disk may refuse this too: retried above
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise _write_error(f"ledger {self.path}: write failed: {exc}", exc) from exc
            raise

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """Several reads that must see one committed state (another connection may commit between
        them): one read transaction."""
        conn = self._conn
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            with suppress(sqlite3.Error):
                conn.execute("COMMIT")

    # ---- intents -------------------------------------------------------------------------

    def journal_intent(self, intent: Intent) -> tuple[JournaledLeg, ...]:
        """Journal `intent` with its derived client order ids and salts, and a PENDING order row
        per leg, in one transaction. Call (and let it return) before any leg is sent."""
        _text("intent_id", intent.intent_id)
        _text("set_id", intent.set_id)
        _int("created_ms", intent.created_ms, minimum=0)
        if not intent.legs:
            raise ConfigError(f"intent {intent.intent_id} has no legs")
        journaled: list[JournaledLeg] = []
        for index, leg in enumerate(intent.legs):
            what = f"intent {intent.intent_id} leg {index}"
            _text(f"{what} market_id", leg.market_id)
            _int(f"{what} price_micro_usd", leg.price_micro_usd, minimum=1)
            _int(f"{what} size_micro", leg.size_micro, minimum=1)
            if leg.price_micro_usd >= 1_000_000:
                raise ConfigError(f"{what}: price {leg.price_micro_usd} micro-USD is not below 1 USD")
            journaled.append(
                JournaledLeg(
                    index, leg, client_order_id(intent.intent_id, index), polymarket_salt(intent.intent_id, index)
                )
            )
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM intents WHERE intent_id=?", (intent.intent_id,)).fetchone():
                raise ConfigError(f"intent {intent.intent_id} is already journaled")
            conn.execute(
                "INSERT INTO intents(intent_id, set_id, created_ms) VALUES (?,?,?)",
                (intent.intent_id, intent.set_id, intent.created_ms),
            )
            for j in journaled:
                leg = j.leg
                conn.execute(
                    "INSERT INTO intent_legs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        intent.intent_id,
                        j.leg_index,
                        leg.venue.value,
                        leg.market_id,
                        leg.book_id,
                        leg.outcome.value,
                        leg.action.value,
                        leg.price_micro_usd,
                        leg.size_micro,
                        leg.time_in_force.value,
                        j.client_order_id,
                        j.salt,
                    ),
                )
                conn.execute(
                    "INSERT INTO orders VALUES (?,?,NULL,?,?,0,?,'',?)",
                    (
                        j.client_order_id,
                        leg.venue.value,
                        leg.market_id,
                        OrderStatus.PENDING.value,
                        leg.size_micro,
                        intent.created_ms,
                    ),
                )
        return tuple(journaled)

    def intent(self, intent_id: str) -> Intent | None:
        row = self._conn.execute("SELECT set_id, created_ms FROM intents WHERE intent_id=?", (intent_id,)).fetchone()
        if row is None:
            return None
        legs = tuple(
            _intent_leg(r)
            for r in self._conn.execute(
                f"SELECT {_LEG_COLUMNS} FROM intent_legs WHERE intent_id=? ORDER BY leg_index",
                (intent_id,),
            )
        )
        return Intent(intent_id, row[0], row[1], legs)

    def intent_ids(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT intent_id FROM intents ORDER BY rowid")]

    def journaled_legs(self) -> list[tuple[str, int, JournaledLeg]]:
        """Every journaled leg as (intent id, intent created_ms, leg), in journal order: one query
        for recovery, which matches venue orders and fills back to the legs that sent them."""
        return [
            (
                r[0],
                r[1],
                JournaledLeg(r[2], _intent_leg(r[3:11]), r[11], r[12]),
            )
            for r in self._conn.execute(
                f"SELECT l.intent_id, i.created_ms, leg_index, {_LEG_COLUMNS}, client_order_id, salt "
                "FROM intent_legs l JOIN intents i USING (intent_id) ORDER BY i.rowid, leg_index"
            )
        ]

    # ---- orders --------------------------------------------------------------------------

    def record_order(self, update: OrderUpdate, *, now_ms: int) -> bool:
        """Store the latest state of one of our orders, keyed by its client order id (which the
        journal created). UNKNOWN is stored as UNKNOWN: only reconciliation settles it. A final
        state (filled, cancelled, rejected) is never replaced by a non-final one, and the filled
        size never shrinks: such an update is a late, stale event and is ignored (returns False)."""
        _int("now_ms", now_ms, minimum=0)
        cid = _text("client_order_id", update.client_order_id)
        filled = (
            0 if update.filled_size_micro is None else _int("filled_size_micro", update.filled_size_micro, minimum=0)
        )
        remaining = (
            None
            if update.remaining_size_micro is None
            else _int("remaining_size_micro", update.remaining_size_micro, minimum=0)
        )
        order_id = update.order_id or None
        with self._tx() as conn:
            row = conn.execute(
                "SELECT venue, order_id, status, filled_micro FROM orders WHERE client_order_id=?", (cid,)
            ).fetchone()
            if row is None:
                raise ConfigError(f"order {cid} is not in the journal (journal the intent before sending)")
            if row[0] != update.venue.value:
                raise ConfigError(f"order {cid} was journaled for {row[0]}, update is from {update.venue.value}")
            if row[1] is not None and order_id is not None and row[1] != order_id:
                raise ConfigError(f"order {cid} has venue id {row[1]}, update names {order_id}")
            if filled < row[3] or (OrderStatus(row[2]) in _FINAL and update.status not in _FINAL):
                return False
            conn.execute(
                "UPDATE orders SET order_id=COALESCE(?, order_id), status=?, filled_micro=?, "
                "remaining_micro=COALESCE(?, remaining_micro), reason=?, updated_ms=? WHERE client_order_id=?",
                (order_id, update.status.value, filled, remaining, update.reason, now_ms, cid),
            )
            return True

    def order(self, client_order_id: str) -> OrderRecord | None:
        row = self._conn.execute(
            "SELECT client_order_id, venue, order_id, market_id, status, filled_micro, remaining_micro, reason, "
            "updated_ms FROM orders WHERE client_order_id=?",
            (client_order_id,),
        ).fetchone()
        return None if row is None else _order(row)

    def orders(self, *, statuses: tuple[OrderStatus, ...] | None = None) -> list[OrderRecord]:
        rows = self._conn.execute(
            "SELECT client_order_id, venue, order_id, market_id, status, filled_micro, remaining_micro, reason, "
            "updated_ms FROM orders ORDER BY rowid"
        ).fetchall()
        found = [_order(r) for r in rows]
        return found if statuses is None else [o for o in found if o.status in statuses]

    # ---- fills ---------------------------------------------------------------------------

    def record_fill(self, fill: Fill, *, now_ms: int) -> FillResult:
        """Count `fill` once per (venue, fill id). A later report of the same fill only advances
        its settlement status. A FAILED status (a Polymarket trade that failed on chain) records
        a reversal that undoes the fill's effect on position and cash, once."""
        _int("now_ms", now_ms, minimum=0)
        fill_id = _text("fill_id", fill.fill_id)
        if fill.outcome is None or fill.action is None:
            raise ConfigError(f"fill {fill_id}: outcome and action are required (map the token first)")
        price = _int(f"fill {fill_id} price_micro_usd", fill.price_micro_usd, minimum=0)
        size = _int(f"fill {fill_id} size_micro", fill.size_micro, minimum=1)
        fee = 0 if fill.fee_micro_usd is None else _int(f"fill {fill_id} fee_micro_usd", fill.fee_micro_usd)
        venue = fill.venue.value
        with self._tx() as conn:
            row = conn.execute(
                "SELECT outcome, action, price_micro_usd, size_micro, fee_micro_usd, market_id, status "
                "FROM fills WHERE venue=? AND fill_id=?",
                (venue, fill_id),
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO fills VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        venue,
                        fill_id,
                        fill.order_id,
                        fill.client_order_id,
                        fill.market_id,
                        fill.outcome.value,
                        fill.action.value,
                        price,
                        size,
                        fee,
                        fill.status.value,
                        now_ms,
                    ),
                )
                _apply(conn, venue, fill.market_id, fill.outcome, fill.action, price, size, fee, sign=1)
                if fill.status is not FillStatus.FAILED:
                    return FillResult.APPLIED
                stored = (fill.outcome.value, fill.action.value, price, size, fee, fill.market_id)
            else:
                stored = tuple(row[:6])
                reported = (fill.outcome.value, fill.action.value, price, size)
                if tuple(row[:4]) != reported or row[5] != fill.market_id:
                    raise ConfigError(
                        f"fill {venue}/{fill_id} reported again with other terms: on file {tuple(row[:4])} "
                        f"in {row[5]}, now {reported} in {fill.market_id}"
                    )
                if fill.status is not FillStatus.FAILED:
                    if not _reversed(conn, venue, fill_id):
                        conn.execute(
                            "UPDATE fills SET status=? WHERE venue=? AND fill_id=?", (fill.status.value, venue, fill_id)
                        )
                    return FillResult.DUPLICATE
                if _reversed(conn, venue, fill_id):
                    return FillResult.DUPLICATE
            conn.execute(
                "UPDATE fills SET status=? WHERE venue=? AND fill_id=?", (FillStatus.FAILED.value, venue, fill_id)
            )
            conn.execute(
                "INSERT INTO fill_reversals VALUES (?,?,?,?)", (venue, fill_id, "fill failed on chain", now_ms)
            )
            outcome, action, s_price, s_size, s_fee, market = stored
            _apply(conn, venue, market, Side(outcome), Action(action), s_price, s_size, s_fee, sign=-1)
            return FillResult.REVERSED

    def filled_by_order(self) -> dict[str, int]:
        """Micro-contracts on file in fills per client order id (reversed fills included: the
        venue's order still counts what matched). A fill recorded without our client id is matched
        to its order by the venue's order id."""
        return {
            cid: int(total)
            for cid, total in self._conn.execute(
                "SELECT o.client_order_id, SUM(f.size_micro) FROM fills f JOIN orders o ON f.venue = o.venue AND "
                "(f.client_order_id = o.client_order_id OR (f.client_order_id IS NULL AND f.order_id = o.order_id)) "
                "GROUP BY o.client_order_id"
            )
        }

    def fill_shares(self, venue: Venue, fill_id: str) -> list[tuple[str, Side, Action, int, int]]:
        """Fill `fill_id` of `venue` as recorded: the row with that id and any `<fill_id>/<n>` rows
        (the executor splits a pooled order's fill per plan leg), each (id, outcome, action,
        price_micro_usd, size_micro)."""
        rows = self._conn.execute(
            "SELECT fill_id, outcome, action, price_micro_usd, size_micro FROM fills "
            "WHERE venue=? AND (fill_id=? OR substr(fill_id, 1, ?)=?) ORDER BY fill_id",
            (venue.value, fill_id, len(fill_id) + 1, fill_id + "/"),
        ).fetchall()
        return [(r[0], Side(r[1]), Action(r[2]), r[3], r[4]) for r in rows]

    def fill_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0])

    def reversal_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM fill_reversals").fetchone()[0])

    # ---- positions, cash, marks ----------------------------------------------------------

    def positions(self) -> dict[tuple[Venue, str, Side], int]:
        """Non-zero positions in micro-contracts, per (venue, market, outcome)."""
        return {
            (Venue(v), m, Side(o)): s
            for v, m, o, s in self._conn.execute("SELECT venue, market_id, outcome, size_micro FROM positions")
            if s != 0
        }

    def cash(self) -> dict[Venue, Decimal]:
        """Net cash moved by our fills per venue, in USD, exact."""
        return {Venue(v): Decimal(u) for v, u in self._conn.execute("SELECT venue, usd FROM cash")}

    def market_cash_flows(self) -> dict[tuple[Venue, str], Decimal]:
        """Net cash our fills moved per (venue, market), in USD, exact (reversed fills excluded):
        what the positions in a market cost or brought, without the venue's opening balance."""
        flows: dict[tuple[Venue, str], Decimal] = {}
        rows = self._conn.execute(
            "SELECT f.venue, f.market_id, f.action, f.price_micro_usd, f.size_micro, f.fee_micro_usd FROM fills f "
            "WHERE NOT EXISTS (SELECT 1 FROM fill_reversals r WHERE r.venue = f.venue AND r.fill_id = f.fill_id)"
        )
        for venue, market, action, price, size, fee in rows:
            key = (Venue(venue), market)
            flows[key] = flows.get(key, Decimal(0)) + _cash_delta(Action(action), price, size, fee)
        return flows

    def set_cash(self, venue: Venue, usd: Decimal) -> None:
        """Set a venue's cash to an exact amount (a deposit, or the balance reconciliation found)."""
        if not isinstance(usd, Decimal) or not usd.is_finite():
            raise ConfigError(f"cash must be a finite Decimal, got {type(usd).__name__} {usd!r}")
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO cash VALUES (?,?) ON CONFLICT(venue) DO UPDATE SET usd=excluded.usd",
                (venue.value, str(usd)),
            )

    def record_mark(self, venue: Venue, market_id: str, outcome: Side, price_micro_usd: int, *, now_ms: int) -> None:
        """The coherent (projected) price a position is marked at."""
        _int("price_micro_usd", price_micro_usd, minimum=0)
        _int("now_ms", now_ms, minimum=0)
        if price_micro_usd > 1_000_000:
            raise ConfigError(f"mark {price_micro_usd} micro-USD is above 1 USD")
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO marks VALUES (?,?,?,?,?) ON CONFLICT(venue, market_id, outcome) DO UPDATE SET "
                "price_micro_usd=excluded.price_micro_usd, marked_ms=excluded.marked_ms",
                (venue.value, _text("market_id", market_id), outcome.value, price_micro_usd, now_ms),
            )

    def marked_value(self) -> tuple[Decimal, tuple[tuple[Venue, str, Side], ...]]:
        """Cash plus every position at its mark, in USD, exact; and the positions that have no
        mark (valued at nothing, and named so the caller does not mistake the total)."""
        marks = {
            (Venue(v), m, Side(o)): p
            for v, m, o, p in self._conn.execute("SELECT venue, market_id, outcome, price_micro_usd FROM marks")
        }
        total = sum(self.cash().values(), Decimal(0))
        unmarked: list[tuple[Venue, str, Side]] = []
        for key, size in self.positions().items():
            if key in marks:
                total += _notional_usd(marks[key], size)
            else:
                unmarked.append(key)
        return total, tuple(sorted(unmarked, key=lambda k: (k[0].value, k[1], k[2].value)))

    # ---- settlements and P&L -------------------------------------------------------------

    def record_settlement(
        self, venue: Venue, market_id: str, result: Side | Payout, *, now_ms: int
    ) -> SettlementResult:
        """Settle a market once: every contract held in it is paid its outcome's payout (`result`:
        the outcome that won, or a `Payout` per contract for a void or split resolution; a short
        position pays it), the venue's cash moves by that and the positions become zero. The same
        settlement again is DUPLICATE and moves nothing; other terms for a settled market are
        refused. A fill recorded in a settled market later (a late report, recovery) is paid out
        as it is applied, and a reversal undoes that payout with it: a settled market holds nothing."""
        if not isinstance(venue, Venue):
            raise ConfigError(f"venue must be a Venue, got {venue!r}")
        _text("market_id", market_id)
        _int("now_ms", now_ms, minimum=0)
        if isinstance(result, Side):
            payout = Payout.won(result)
        elif isinstance(result, Payout):
            payout = result
        else:
            raise ConfigError(f"settlement of {market_id}: result must be a Side or a Payout, got {result!r}")
        with self._tx() as conn:
            row = conn.execute(
                "SELECT yes_payout_micro_usd, no_payout_micro_usd FROM settlements WHERE venue=? AND market_id=?",
                (venue.value, market_id),
            ).fetchone()
            if row is not None:
                if tuple(row) == (payout.yes_micro_usd, payout.no_micro_usd):
                    return SettlementResult.DUPLICATE
                raise ConfigError(
                    f"market {venue.value}/{market_id} was settled paying YES {row[0]} NO {row[1]} micro-USD; "
                    f"now reported paying YES {payout.yes_micro_usd} NO {payout.no_micro_usd}"
                )
            last_fill = int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM fills").fetchone()[0])
            paid = _settle(conn, venue.value, market_id, payout)
            conn.execute(
                "INSERT INTO settlements VALUES (?,?,?,?,?,?,?)",
                (venue.value, market_id, payout.yes_micro_usd, payout.no_micro_usd, now_ms, last_fill, str(paid)),
            )
        return SettlementResult.APPLIED

    def settlement(self, venue: Venue, market_id: str) -> Payout | None:
        row = self._conn.execute(
            "SELECT yes_payout_micro_usd, no_payout_micro_usd FROM settlements WHERE venue=? AND market_id=?",
            (venue.value, market_id),
        ).fetchone()
        return None if row is None else Payout(row[0], row[1])

    def pnl(self) -> PnL:
        """Realised and unrealised P&L, fees and the realised P&L per UTC day, exact, replayed from
        the fills that stand and the settlements (FIFO lots per (venue, market, outcome); see
        docs/money-model.md#profit-and-loss). Open positions are marked at `record_mark`; an open
        position without a mark is named in `unmarked`, never valued. Raises `LedgerError` when the
        positions on file differ from the replay (the ledger contradicts itself). Its reads are one
        snapshot, so a writer committing on another connection meanwhile cannot split them."""
        with self._snapshot():
            return self._pnl()

    def _pnl(self) -> PnL:
        fills = self._conn.execute(
            "SELECT f.rowid, f.venue, f.market_id, f.outcome, f.action, f.price_micro_usd, f.size_micro, "
            "f.fee_micro_usd, f.recorded_ms FROM fills f WHERE NOT EXISTS "
            "(SELECT 1 FROM fill_reversals r WHERE r.venue = f.venue AND r.fill_id = f.fill_id) ORDER BY f.rowid"
        ).fetchall()
        settlements = self._conn.execute(
            "SELECT venue, market_id, yes_payout_micro_usd, no_payout_micro_usd, settled_ms, last_fill_rowid "
            "FROM settlements ORDER BY last_fill_rowid, rowid"
        ).fetchall()
        marks = {
            (Venue(v), m, Side(o)): p
            for v, m, o, p in self._conn.execute("SELECT venue, market_id, outcome, price_micro_usd FROM marks")
        }
        lots, settled = _replay(fills, settlements)
        on_file = self.positions()
        replayed = {key: book.size for key, book in lots.items() if book.size}
        if replayed != on_file:
            raise LedgerError(
                f"ledger {self.path}: positions on file {on_file} differ from the fills and settlements "
                f"replayed {replayed}"
            )
        positions: list[PositionPnL] = []
        by_day: dict[str, int] = {}
        realised = unrealised = fees = 0
        unmarked: list[tuple[Venue, str, Side]] = []
        for key in sorted(lots, key=lambda k: (k[0].value, k[1], k[2].value)):
            book = lots[key]
            mark = marks.get(key)
            open_value: int | None
            if book.size == 0:
                open_value = 0
            elif mark is None:
                open_value = None
                unmarked.append(key)
            else:
                open_value = book.size * mark - book.cost
                unrealised += open_value
            key_realised = sum(book.realised.values())
            realised += key_realised
            fees += book.fees
            for day, amount in book.realised.items():
                by_day[day] = by_day.get(day, 0) + amount
            positions.append(
                PositionPnL(
                    venue=key[0],
                    market_id=key[1],
                    outcome=key[2],
                    size_micro=book.size,
                    cost_usd=_pico_usd(book.cost),
                    realised_usd=_pico_usd(key_realised),
                    fees_usd=Decimal(book.fees) / _MICRO,
                    settled=(key[0], key[1]) in settled,
                    mark_micro_usd=mark,
                    unrealised_usd=None if open_value is None else _pico_usd(open_value),
                )
            )
        return PnL(
            realised_usd=_pico_usd(realised),
            unrealised_usd=_pico_usd(unrealised),
            fees_usd=Decimal(fees) / _MICRO,
            unmarked=tuple(unmarked),
            realised_by_day=tuple((day, _pico_usd(by_day[day])) for day in sorted(by_day)),
            positions=tuple(positions),
        )

    # ---- incidents -----------------------------------------------------------------------

    def open_incident(self, set_id: str, reason: str, *, now_ms: int) -> int:
        _text("set_id", set_id)
        _text("reason", reason)
        _int("now_ms", now_ms, minimum=0)
        with self._tx() as conn:
            cursor = conn.execute(
                "INSERT INTO incidents(set_id, reason, opened_ms) VALUES (?,?,?)", (set_id, reason, now_ms)
            )
            return int(cursor.lastrowid or 0)

    def close_incident(self, incident_id: int, resolution: str, *, now_ms: int) -> None:
        _int("incident_id", incident_id, minimum=1)
        _int("now_ms", now_ms, minimum=0)
        with self._tx() as conn:
            changed = conn.execute(
                "UPDATE incidents SET closed_ms=?, resolution=? WHERE incident_id=? AND closed_ms IS NULL",
                (now_ms, _text("resolution", resolution), incident_id),
            ).rowcount
            if changed != 1:
                raise ConfigError(f"incident {incident_id} is not open")

    def open_incidents(self, set_id: str | None = None) -> list[Incident]:
        query = "SELECT incident_id, set_id, reason, opened_ms, closed_ms, resolution FROM incidents WHERE closed_ms IS NULL"
        args: tuple[Any, ...] = ()
        if set_id is not None:
            query += " AND set_id=?"
            args = (set_id,)
        return [Incident(*r) for r in self._conn.execute(query + " ORDER BY incident_id", args)]

    def integrity_check(self) -> str:
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])


_LEG_COLUMNS = "venue, market_id, book_id, outcome, action, price_micro_usd, size_micro, time_in_force"


def _intent_leg(row: Sequence[Any]) -> IntentLeg:
    """One `intent_legs` row read in `_LEG_COLUMNS` order."""
    venue, market_id, book_id, outcome, action, price, size, tif = row
    return IntentLeg(
        venue=Venue(venue),
        market_id=market_id,
        book_id=book_id,
        outcome=Side(outcome),
        action=Action(action),
        price_micro_usd=price,
        size_micro=size,
        time_in_force=TimeInForce(tif),
    )


def _order(row: tuple[Any, ...]) -> OrderRecord:
    return OrderRecord(row[0], Venue(row[1]), row[2], row[3], OrderStatus(row[4]), row[5], row[6], row[7], row[8])


def _reversed(conn: sqlite3.Connection, venue: str, fill_id: str) -> bool:
    return (
        conn.execute("SELECT 1 FROM fill_reversals WHERE venue=? AND fill_id=?", (venue, fill_id)).fetchone()
        is not None
    )


def _apply(
    conn: sqlite3.Connection,
    venue: str,
    market_id: str,
    outcome: Side,
    action: Action,
    price: int,
    size: int,
    fee: int,
    *,
    sign: int,
) -> None:
    signed_size = sign * (size if action is Action.BUY else -size)
    conn.execute(
        "INSERT INTO positions VALUES (?,?,?,?) ON CONFLICT(venue, market_id, outcome) DO UPDATE SET "
        "size_micro=size_micro+excluded.size_micro",
        (venue, market_id, outcome.value, signed_size),
    )
    _add_cash(conn, venue, sign * _cash_delta(action, price, size, fee))
    settled = conn.execute(
        "SELECT yes_payout_micro_usd, no_payout_micro_usd FROM settlements WHERE venue=? AND market_id=?",
        (venue, market_id),
    ).fetchone()
    if settled is not None:  # a late fill (or its reversal) in a settled market is paid out at once
        _settle(conn, venue, market_id, Payout(settled[0], settled[1]))


def _add_cash(conn: sqlite3.Connection, venue: str, delta: Decimal) -> None:
    row = conn.execute("SELECT usd FROM cash WHERE venue=?", (venue,)).fetchone()
    cash = (Decimal(row[0]) if row else Decimal(0)) + delta
    conn.execute("INSERT INTO cash VALUES (?,?) ON CONFLICT(venue) DO UPDATE SET usd=excluded.usd", (venue, str(cash)))


def _settle(conn: sqlite3.Connection, venue: str, market_id: str, payout: Payout) -> Decimal:
    """Pay every position in the market its outcome's payout into the venue's cash and zero it."""
    paid = 0
    for outcome, size in conn.execute(
        "SELECT outcome, size_micro FROM positions WHERE venue=? AND market_id=? AND size_micro != 0",
        (venue, market_id),
    ).fetchall():
        paid += size * payout.of(Side(outcome))
    conn.execute("UPDATE positions SET size_micro=0 WHERE venue=? AND market_id=?", (venue, market_id))
    paid_usd = _pico_usd(paid)
    if paid:
        _add_cash(conn, venue, paid_usd)
    return paid_usd


def _pico_usd(pico: int) -> Decimal:
    """Micro-USD x micro-contracts as exact USD (the context is widened so nothing rounds)."""
    context = decimal.Context(prec=max(28, len(str(abs(pico))) + 2))
    return context.divide(Decimal(pico), Decimal(_PICO_PER_USD))


def _utc_day(ms: int) -> str:
    return (_EPOCH + timedelta(milliseconds=ms)).date().isoformat()


class _Lots:
    """FIFO lots of one (venue, market, outcome): each open lot [signed size_micro, price_micro_usd],
    all of one sign; realised amounts per UTC day in micro-USD x micro-contracts."""

    __slots__ = ("fees", "lots", "realised")

    def __init__(self) -> None:
        self.lots: deque[list[int]] = deque()
        self.realised: dict[str, int] = {}
        self.fees = 0  # micro-USD

    @property
    def size(self) -> int:
        return sum(lot[0] for lot in self.lots)

    @property
    def cost(self) -> int:
        return sum(lot[0] * lot[1] for lot in self.lots)

    def _realise(self, day: str, amount: int) -> None:
        self.realised[day] = self.realised.get(day, 0) + amount

    def trade(self, signed_size: int, price: int, fee: int, day: str) -> None:
        """A fill: its fee is realised at once; it closes the oldest opposite lots at its price
        and what is left of it opens a lot (a trade through zero does both)."""
        self.fees += fee
        self._realise(day, -fee * _ONE_USD_MICRO)
        left = signed_size
        while left and self.lots and (self.lots[0][0] > 0) != (left > 0):
            lot = self.lots[0]
            sign = 1 if lot[0] > 0 else -1
            closed = min(abs(left), abs(lot[0]))
            self._realise(day, sign * closed * (price - lot[1]))
            lot[0] -= sign * closed
            left += sign * closed
            if lot[0] == 0:
                self.lots.popleft()
        if left:
            self.lots.append([left, price])

    def close_all(self, price: int, day: str) -> None:
        """Settlement: every open lot closes at the payout, without a fee."""
        for size, cost in self.lots:
            self._realise(day, size * (price - cost))
        self.lots.clear()


_Key = tuple[Venue, str, Side]


def _replay(
    fills: Iterable[tuple[int, str, str, str, str, int, int, int, int]],
    settlements: Iterable[tuple[str, str, int, int, int, int]],
) -> tuple[dict[_Key, _Lots], set[tuple[Venue, str]]]:
    """The fills that stand in the order recorded, each settlement after the last fill its
    position held; a fill after its market's settlement is paid out at once, as `_apply` does."""
    # Keyed by the rows' own text while replaying (an enum lookup per column per fill was a third
    # of the replay's time), converted once at the end; days are cached per UTC day number.
    lots: dict[tuple[str, str, str], _Lots] = {}
    by_market: dict[tuple[str, str], list[str]] = {}
    settled: dict[tuple[str, str], Payout] = {}
    days: dict[int, str] = {}
    pending = deque(settlements)
    buy = Action.BUY.value

    def day_of(ms: int) -> str:
        number = ms // _MS_PER_DAY
        day = days.get(number)
        if day is None:
            day = days[number] = _utc_day(ms)
        return day

    def settle(row: tuple[str, str, int, int, int, int]) -> None:
        market = (row[0], row[1])
        payout = settled[market] = Payout(row[2], row[3])
        for outcome in by_market.get(market, []):
            lots[(*market, outcome)].close_all(payout.of(Side(outcome)), day_of(row[4]))

    for rowid, venue, market_id, outcome, action, price, size, fee, recorded_ms in fills:
        while pending and pending[0][5] < rowid:
            settle(pending.popleft())
        key = (venue, market_id, outcome)
        book = lots.get(key)
        if book is None:
            book = lots[key] = _Lots()
            by_market.setdefault((venue, market_id), []).append(outcome)
        day = day_of(recorded_ms)
        book.trade(size if action == buy else -size, price, fee, day)
        payout = settled.get((venue, market_id))
        if payout is not None:
            book.close_all(payout.of(Side(outcome)), day)
    for row in pending:
        settle(row)
    return (
        {(Venue(v), m, Side(o)): book for (v, m, o), book in lots.items()},
        {(Venue(v), m) for v, m in settled},
    )
