"""The SQLite ledger: schema migrations, the intent journal, orders, fills (deduplicated,
reversible), positions and cash in exact money, and a killed writer that loses no commit."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import random
import signal
import sqlite3
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.domain import Action, Fill, FillStatus, OrderStatus, OrderUpdate, Side, TimeInForce, Venue
from arb.errors import ConfigError, OrderRejectedError
from arb.ledger import (
    MIGRATIONS,
    POLYMARKET_SALT_LIMIT,
    SCHEMA_VERSION,
    FillResult,
    Intent,
    IntentLeg,
    Ledger,
    LedgerError,
    client_order_id,
    migrate,
    polymarket_salt,
)

ROOT = Path(__file__).resolve().parent.parent


def _leg(venue: Venue = Venue.KALSHI, market: str = "KX-A", **kw: object) -> IntentLeg:
    fields: dict[str, object] = {
        "venue": venue,
        "market_id": market,
        "outcome": Side.YES,
        "action": Action.BUY,
        "price_micro_usd": 420_000,
        "size_micro": 3_000_000,
        "time_in_force": TimeInForce.IOC,
    }
    fields.update(kw)
    return IntentLeg(**fields)  # type: ignore[arg-type]


def _fill(fill_id: str, venue: Venue = Venue.KALSHI, market: str = "KX-A", **kw: object) -> Fill:
    fields: dict[str, object] = {
        "venue": venue,
        "fill_id": fill_id,
        "order_id": "o-1",
        "client_order_id": None,
        "market_id": market,
        "book_id": market,
        "outcome": Side.YES,
        "action": Action.BUY,
        "price_micro_usd": 420_000,
        "size_micro": 1_000_000,
        "fee_micro_usd": 7_000,
        "liquidity": None,
    }
    fields.update(kw)
    return Fill(**fields)  # type: ignore[arg-type]


# ---- ids --------------------------------------------------------------------------------


def test_client_order_ids_are_deterministic_distinct_and_uuid_shaped() -> None:
    ids = {client_order_id(f"intent-{i}", leg) for i in range(50) for leg in range(5)}
    assert len(ids) == 250
    assert client_order_id("intent-7", 2) == client_order_id("intent-7", 2)
    cid = client_order_id("intent-7", 2)
    assert len(cid) == 36 and str(uuid.UUID(cid)) == cid
    with pytest.raises(ConfigError):
        client_order_id("", 0)
    with pytest.raises(ConfigError):
        client_order_id("intent", -1)


def test_polymarket_salt_makes_the_order_hash_known_before_sending() -> None:
    """The signer's salt is its only free field: with the salt derived from the intent and passed
    per order, the signed order's hash (the venue's order id) is the same for the same intent and
    leg, and differs between legs."""
    from arb.domain import OrderRequest
    from arb.venues.polymarket.orders import OrderSigner, PolymarketCredentials

    salts = [polymarket_salt("intent-1", leg) for leg in range(3)]
    assert all(1 <= s < POLYMARKET_SALT_LIMIT for s in salts) and len(set(salts)) == 3
    assert salts[0] == polymarket_salt("intent-1", 0) != polymarket_salt("intent-2", 0)

    credentials = PolymarketCredentials(
        private_key="0x" + "11" * 32,
        api_key="key",
        api_secret=base64.urlsafe_b64encode(b"secret").decode(),
        api_passphrase="pass",
    )
    request = OrderRequest(
        client_order_id="c",
        market_id="0xabc",
        outcome=Side.YES,
        action=Action.BUY,
        price_micro_usd=420_000,
        size_micro=10_000_000,
        time_in_force=TimeInForce.FOK,
    )

    signer = OrderSigner(credentials, rng=random.Random(0))

    def order_hash(intent_id: str, leg: int) -> str:
        prepared = signer.prepare(
            request,
            token_id="123456789",
            tick_micro=10_000,
            neg_risk=False,
            now_ms=1_700_000_000_000,
            salt=polymarket_salt(intent_id, leg),
        )
        assert int(prepared.signed.salt) == polymarket_salt(intent_id, leg)
        return str(prepared.order_hash)

    assert order_hash("intent-1", 0) == order_hash("intent-1", 0)
    assert order_hash("intent-1", 0) != order_hash("intent-1", 1)
    # the override lasts one order: the next unsalted order draws from the signer's rng again
    drawn = signer.prepare(request, token_id="123456789", tick_micro=10_000, neg_risk=False, now_ms=1_700_000_000_000)
    assert int(drawn.signed.salt) not in {polymarket_salt("intent-1", leg) for leg in range(2)}
    with pytest.raises(OrderRejectedError, match="salt"):
        signer.prepare(
            request, token_id="123456789", tick_micro=10_000, neg_risk=False, now_ms=1_700_000_000_000, salt=0
        )


# ---- schema -----------------------------------------------------------------------------


def test_a_new_file_gets_every_migration_in_wal_mode(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db") as ledger:
        assert ledger.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    conn = sqlite3.connect(tmp_path / "l.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    types = {
        r[0]
        for t in ("intents", "fills", "cash", "positions")
        for r in conn.execute(f"SELECT type FROM pragma_table_info('{t}')")
    }
    assert "REAL" not in types


def test_a_version_1_file_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.execute("INSERT INTO intents VALUES ('intent-old', 'set-1', 5)")
    conn.close()
    with Ledger(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        assert ledger.intent_ids() == ["intent-old"]
        assert ledger.open_incidents() == []  # a table of migration 2


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match="newer than this code"):
        Ledger(path)


# ---- round trips ------------------------------------------------------------------------


def test_intent_orders_fills_positions_and_cash_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    intent = Intent(
        "intent-1",
        "set-9",
        1_000,
        (
            _leg(),
            _leg(Venue.POLYMARKET, "0xc0", outcome=Side.NO, action=Action.SELL, book_id="777", price_micro_usd=550_000),
        ),
    )
    with Ledger(path) as ledger:
        journaled = ledger.journal_intent(intent)
        assert [j.client_order_id for j in journaled] == list(intent.client_order_ids())
        assert [o.status for o in ledger.orders()] == [OrderStatus.PENDING, OrderStatus.PENDING]
        with pytest.raises(ConfigError, match="already journaled"):
            ledger.journal_intent(intent)
        cid = journaled[0].client_order_id
        ack = OrderUpdate(
            venue=Venue.KALSHI,
            order_id="k-1",
            client_order_id=cid,
            market_id="KX-A",
            book_id="KX-A",
            outcome=Side.YES,
            action=Action.BUY,
            status=OrderStatus.UNKNOWN,
            price_micro_usd=420_000,
            initial_size_micro=3_000_000,
            filled_size_micro=None,
            remaining_size_micro=None,
        )
        ledger.record_order(ack, now_ms=1_001)
        ledger.record_order(
            dataclasses.replace(
                ack, status=OrderStatus.OPEN, filled_size_micro=1_000_000, remaining_size_micro=2_000_000
            ),
            now_ms=1_002,
        )
        final = dataclasses.replace(
            ack, status=OrderStatus.CANCELED, filled_size_micro=1_000_000, remaining_size_micro=0
        )
        assert ledger.record_order(final, now_ms=1_003)
        stale = dataclasses.replace(
            ack, status=OrderStatus.OPEN, filled_size_micro=1_000_000, remaining_size_micro=2_000_000
        )
        assert not ledger.record_order(stale, now_ms=1_003)  # a late "open" does not reopen it
        assert not ledger.record_order(dataclasses.replace(final, filled_size_micro=0), now_ms=1_003)
        with pytest.raises(ConfigError, match="not in the journal"):
            ledger.record_order(dataclasses.replace(ack, client_order_id="stranger"), now_ms=1_003)
        assert ledger.record_fill(_fill("t-1", client_order_id=cid, order_id="k-1"), now_ms=1_004) is FillResult.APPLIED
        assert (
            ledger.record_fill(
                _fill(
                    "pm-1",
                    Venue.POLYMARKET,
                    "0xc0",
                    outcome=Side.NO,
                    action=Action.SELL,
                    price_micro_usd=550_000,
                    size_micro=2_500_000,
                    fee_micro_usd=0,
                ),
                now_ms=1_005,
            )
            is FillResult.APPLIED
        )
        ledger.record_mark(Venue.KALSHI, "KX-A", Side.YES, 500_000, now_ms=1_006)
        incident = ledger.open_incident("set-9", "leg 2 of 2 unfilled", now_ms=1_007)
    with Ledger(path) as ledger:  # everything survives a reopen
        assert ledger.intent("intent-1") == intent
        order = ledger.order(cid)
        assert order is not None
        assert (order.order_id, order.status, order.filled_micro, order.remaining_micro) == (
            "k-1",
            OrderStatus.CANCELED,
            1_000_000,
            0,
        )
        assert ledger.positions() == {
            (Venue.KALSHI, "KX-A", Side.YES): 1_000_000,
            (Venue.POLYMARKET, "0xc0", Side.NO): -2_500_000,
        }
        assert ledger.cash() == {Venue.KALSHI: Decimal("-0.427"), Venue.POLYMARKET: Decimal("1.375")}
        value, unmarked = ledger.marked_value()
        assert value == Decimal("-0.427") + Decimal("1.375") + Decimal("0.5")
        assert unmarked == ((Venue.POLYMARKET, "0xc0", Side.NO),)
        assert [i.incident_id for i in ledger.open_incidents("set-9")] == [incident]
        ledger.close_incident(incident, "hedged by repair plan", now_ms=1_008)
        assert ledger.open_incidents() == []
        with pytest.raises(ConfigError, match="not open"):
            ledger.close_incident(incident, "again", now_ms=1_009)


def test_revision_moves_with_every_write_and_never_with_a_read(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db") as ledger:
        start = ledger.revision
        ledger.market_cash_flows()
        ledger.pnl()
        assert ledger.revision == start
        ledger.record_fill(_fill("t-1"), now_ms=1)
        after_fill = ledger.revision
        assert after_fill > start
        ledger.market_cash_flows()
        ledger.fill_count()
        assert ledger.revision == after_fill


def test_money_is_exact_and_floats_are_refused(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db") as ledger:
        # 0.123457 USD x 0.03 contracts is 0.00370371 USD: not a whole micro-USD, kept exactly
        assert (
            ledger.record_fill(_fill("t-1", price_micro_usd=123_457, size_micro=30_000, fee_micro_usd=1), now_ms=1)
            is FillResult.APPLIED
        )
        assert ledger.cash() == {Venue.KALSHI: Decimal("-0.00370471")}
        for bad in (
            _fill("t-2", price_micro_usd=0.42),  # _fill takes **object: no static check stops the float
            _fill("t-3", size_micro=1e6),  # _fill takes **object: no static check stops the float
            _fill("t-4", fee_micro_usd=7.0),  # _fill takes **object: no static check stops the float
        ):
            with pytest.raises(ConfigError, match="must be an int"):
                ledger.record_fill(bad, now_ms=2)
        with pytest.raises(ConfigError, match="must be an int"):
            ledger.journal_intent(Intent("i", "s", 0, (_leg(price_micro_usd=0.42),)))
        with pytest.raises(ConfigError, match="finite Decimal"):
            ledger.set_cash(Venue.KALSHI, 1.5)  # type: ignore[arg-type]
        assert ledger.fill_count() == 1 and ledger.intent_ids() == []  # refusals wrote nothing


def test_duplicate_fills_count_once_and_a_reversal_undoes_a_fill_exactly(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db") as ledger:
        ledger.set_cash(Venue.POLYMARKET, Decimal(100))

        def pm(fill_id: str, status: FillStatus) -> Fill:
            return _fill(fill_id, Venue.POLYMARKET, "0xc0", fee_micro_usd=1_234, status=status)

        assert ledger.record_fill(pm("pm-1", FillStatus.MATCHED), now_ms=1) is FillResult.APPLIED
        after_fill = (ledger.positions(), ledger.cash())
        assert ledger.record_fill(pm("pm-1", FillStatus.MATCHED), now_ms=2) is FillResult.DUPLICATE
        assert ledger.record_fill(pm("pm-1", FillStatus.MINED), now_ms=3) is FillResult.DUPLICATE
        assert (ledger.positions(), ledger.cash()) == after_fill
        assert ledger.record_fill(pm("pm-1", FillStatus.FAILED), now_ms=4) is FillResult.REVERSED
        assert ledger.positions() == {} and ledger.cash() == {Venue.POLYMARKET: Decimal(100)}
        assert ledger.record_fill(pm("pm-1", FillStatus.FAILED), now_ms=5) is FillResult.DUPLICATE
        assert ledger.record_fill(pm("pm-1", FillStatus.CONFIRMED), now_ms=6) is FillResult.DUPLICATE
        # a fill first seen as FAILED is recorded and reversed at once: no net effect
        assert ledger.record_fill(pm("pm-2", FillStatus.FAILED), now_ms=7) is FillResult.REVERSED
        assert ledger.positions() == {} and ledger.cash() == {Venue.POLYMARKET: Decimal(100)}
        assert (ledger.fill_count(), ledger.reversal_count()) == (2, 2)
        # the same id with other terms is not a duplicate to swallow silently
        with pytest.raises(ConfigError, match="other terms"):
            ledger.record_fill(dataclasses.replace(pm("pm-1", FillStatus.CONFIRMED), size_micro=2_000_000), now_ms=8)
        # the same fill id on another venue is another fill
        assert ledger.record_fill(_fill("pm-1"), now_ms=8) is FillResult.APPLIED


def test_a_write_that_fails_part_way_leaves_nothing(tmp_path: Path) -> None:
    """One transaction per write: a failure after some rows are in rolls all of them back."""
    path = tmp_path / "l.db"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TRIGGER refuse_bad AFTER INSERT ON orders WHEN NEW.market_id = 'BAD' "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    )
    conn.execute(
        "CREATE TRIGGER refuse_bad_cash AFTER UPDATE ON cash WHEN NEW.venue = 'polymarket' "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    )
    conn.commit()
    conn.close()
    with Ledger(path) as ledger:
        with pytest.raises(LedgerError, match="refused by the test"):
            ledger.journal_intent(Intent("intent-1", "s", 0, (_leg(), _leg(market="BAD"))))
        assert ledger.intent_ids() == [] and ledger.orders() == []
        assert ledger._conn.execute("SELECT COUNT(*) FROM intent_legs").fetchone()[0] == 0
        assert (
            ledger.record_fill(_fill("pm-0", Venue.POLYMARKET, "0xc0"), now_ms=0) is FillResult.APPLIED
        )  # inserts cash
        with pytest.raises(LedgerError, match="refused by the test"):
            ledger.record_fill(_fill("pm-1", Venue.POLYMARKET, "0xc0"), now_ms=1)  # fill and position in, cash refused
        assert ledger.fill_count() == 1
        assert ledger.positions() == {(Venue.POLYMARKET, "0xc0", Side.YES): 1_000_000}


# ---- property: the ledger equals an independent recomputation ---------------------------


@dataclasses.dataclass(frozen=True)
class _Terms:
    """One fill's terms: every report of the same fill id carries them (only the status moves)."""

    venue: Venue
    market: str
    outcome: Side
    action: Action
    price_micro_usd: int
    size_micro: int
    fee_micro_usd: int


_terms = st.builds(
    _Terms,
    st.sampled_from([Venue.KALSHI, Venue.POLYMARKET]),
    st.sampled_from(["A", "B"]),
    st.sampled_from([Side.YES, Side.NO]),
    st.sampled_from([Action.BUY, Action.SELL]),
    st.integers(1, 999_999),
    st.integers(1, 5_000_000),
    st.integers(0, 50_000),
)
_statuses = st.sampled_from([FillStatus.MATCHED, FillStatus.CONFIRMED, FillStatus.FAILED])


@given(st.lists(_terms, min_size=1, max_size=8), st.lists(st.tuples(st.integers(0, 7), _statuses), max_size=30))
def test_any_sequence_of_fills_duplicates_and_reversals_matches_a_recomputation(
    tmp_path_factory: pytest.TempPathFactory, fills: list[_Terms], reports: list[tuple[int, FillStatus]]
) -> None:
    path = tmp_path_factory.mktemp("prop") / "l.db"
    seen: set[int] = set()
    failed: set[int] = set()
    with Ledger(path, synchronous="NORMAL") as ledger:
        for number, status in reports:
            number %= len(fills)
            t = fills[number]
            fill = _fill(
                f"f{number}",
                t.venue,
                t.market,
                outcome=t.outcome,
                action=t.action,
                price_micro_usd=t.price_micro_usd,
                size_micro=t.size_micro,
                fee_micro_usd=t.fee_micro_usd,
                status=status,
            )
            ledger.record_fill(fill, now_ms=0)
            seen.add(number)
            if status is FillStatus.FAILED:
                failed.add(number)
        # the recomputation: signed sizes, and cash in integer 10^-12 USD
        positions: dict[tuple[Venue, str, Side], int] = {}
        cash_pico: dict[Venue, int] = {}
        for number in seen - failed:
            t = fills[number]
            sign = 1 if t.action is Action.BUY else -1
            key = (t.venue, t.market, t.outcome)
            positions[key] = positions.get(key, 0) + sign * t.size_micro
            paid = sign * t.price_micro_usd * t.size_micro + t.fee_micro_usd * 10**6
            cash_pico[t.venue] = cash_pico.get(t.venue, 0) - paid
        assert ledger.positions() == {k: v for k, v in positions.items() if v}
        assert (ledger.fill_count(), ledger.reversal_count()) == (len(seen), len(failed))
        got = ledger.cash()
        for venue in set(got) | set(cash_pico):
            assert got.get(venue, Decimal(0)) * 10**12 == cash_pico.get(venue, 0)


# ---- crash: a SIGKILLed writer loses no commit and shows no partial transaction ---------


def _check_consistent(path: Path) -> set[str]:
    """Reopen; every intent is whole, and positions and cash equal a recomputation from the
    fills and reversals on file (a partial fill transaction would break that). Returns the
    intent ids on file."""
    with Ledger(path) as ledger:
        assert ledger.integrity_check() == "ok"
        ids = ledger.intent_ids()
        conn = ledger._conn
        for intent_id in ids:
            intent = ledger.intent(intent_id)
            assert intent is not None and len(intent.legs) >= 2
            for cid in intent.client_order_ids():
                assert ledger.order(cid) is not None, f"{intent_id}: order row missing"
        positions: dict[tuple[Venue, str, Side], int] = {}
        cash: dict[Venue, Decimal] = {}
        rows = conn.execute(
            "SELECT f.venue, market_id, outcome, action, price_micro_usd, size_micro, fee_micro_usd, r.fill_id "
            "FROM fills f LEFT JOIN fill_reversals r USING (venue, fill_id)"
        ).fetchall()
        for venue, market, outcome, action, price, size, fee, reversal in rows:
            if reversal is not None:
                continue
            sign = 1 if action == "buy" else -1
            key = (Venue(venue), market, Side(outcome))
            positions[key] = positions.get(key, 0) + sign * size
            cash[Venue(venue)] = (
                cash.get(Venue(venue), Decimal(0)) - sign * Decimal(price * size) / 10**12 - Decimal(fee) / 10**6
            )
        assert ledger.positions() == {k: v for k, v in positions.items() if v}
        assert ledger.cash() == {k: cash.get(k, Decimal(0)) for k in ledger.cash()}
        assert set(cash) <= set(ledger.cash())
        return set(ids)


def test_killed_writer_loses_no_commit(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    rng = random.Random(20261206)
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.ledger_crash_writer"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert server.stdin is not None and server.stdout is not None
    reported: set[str] = set()
    next_number = 0
    kills = 0
    pid = 0
    try:
        for _ in range(12):
            server.stdin.write(f"run {path} {next_number} {rng.randrange(2**32)}\n")
            server.stdin.flush()
            line = server.stdout.readline()
            assert line.startswith("P "), line
            pid = int(line.split()[1])
            wait_for = rng.randrange(1, 60)  # commit lines to see before the kill
            seen = 0
            while seen < wait_for:
                line = server.stdout.readline()
                assert line and line[0] in "IF", line
                seen += 1
                if line.startswith("I "):
                    reported.add(line.split()[1])
            os.kill(pid, signal.SIGKILL)
            kills += 1
            for line in iter(server.stdout.readline, ""):  # lines written before the kill landed
                if line.startswith("X "):
                    assert os.WIFSIGNALED(int(line.split()[1])), line
                    pid = 0  # reaped: the number may be reused, never signal it again
                    break
                if line.startswith("I "):
                    reported.add(line.split()[1])
            on_file = _check_consistent(path)
            assert reported <= on_file, f"committed intents lost: {sorted(reported - on_file)[:5]}"
            next_number = 1 + max(int(i.rsplit("-", 1)[1]) for i in on_file)
    finally:  # on a failure part-way, leave no writer or server behind
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert kills >= 10 and len(reported) >= 10


def test_market_cash_flows_are_what_each_markets_fills_moved_net_of_reversals(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db") as ledger:
        ledger.set_cash(Venue.KALSHI, Decimal(500))  # an opening balance is no market's cash flow
        ledger.record_fill(_fill("k-1"), now_ms=1)  # BUY 1 at 0.42, fee 0.007
        ledger.record_fill(_fill("k-2", action=Action.SELL, price_micro_usd=450_000, size_micro=500_000), now_ms=2)
        ledger.record_fill(_fill("k-3", market="KX-B", outcome=Side.NO, price_micro_usd=580_000), now_ms=3)
        pm = _fill("pm-1", Venue.POLYMARKET, "0xc0", fee_micro_usd=0, status=FillStatus.MATCHED)
        ledger.record_fill(pm, now_ms=4)
        ledger.record_fill(dataclasses.replace(pm, status=FillStatus.FAILED), now_ms=5)  # reversed: no flow
        assert ledger.market_cash_flows() == {
            (Venue.KALSHI, "KX-A"): Decimal("-0.427") + Decimal("0.225") - Decimal("0.007"),
            (Venue.KALSHI, "KX-B"): Decimal("-0.587"),
        }  # the reversed Polymarket fill moved nothing
        flows = sum(v for (venue, _), v in ledger.market_cash_flows().items() if venue is Venue.KALSHI)
        assert ledger.cash()[Venue.KALSHI] == Decimal(500) + flows
