"""`export_ledger`: every table of a ledger written through the Ledger API, checked field by field
against values worked out by hand, and the document's determinism (same ledger, same bytes)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import orjson

from arb.domain import Action, Fill, FillStatus, OrderStatus, OrderUpdate, Side, TimeInForce, Venue
from arb.ledger.export import decimal_text, export_ledger
from arb.ledger.store import Intent, IntentLeg, Ledger, migrate

K, P = Venue.KALSHI, Venue.POLYMARKET
DAY_MS = 86_400_000
T0 = 1_733_443_200_000  # 2024-12-06 00:00 UTC


def _update(cid: str, venue: Venue, market: str, status: OrderStatus, filled: int, order_id: str) -> OrderUpdate:
    return OrderUpdate(
        venue=venue,
        order_id=order_id,
        client_order_id=cid,
        market_id=market,
        book_id="",
        outcome=Side.YES,
        action=Action.BUY,
        status=status,
        price_micro_usd=None,
        initial_size_micro=None,
        filled_size_micro=filled,
        remaining_size_micro=0 if status is OrderStatus.FILLED else None,
        reason="",
    )


def _fill(
    venue: Venue, fill_id: str, cid: str, market: str, outcome: Side, action: Action, price: int, size: int, fee: int
) -> Fill:
    return Fill(
        venue=venue,
        fill_id=fill_id,
        order_id="o-" + cid,
        client_order_id=cid,
        market_id=market,
        book_id="",
        outcome=outcome,
        action=action,
        price_micro_usd=price,
        size_micro=size,
        fee_micro_usd=fee,
        liquidity=None,
    )


def write_ledger(path: Path) -> Ledger:
    """An entry on two venues (YES on Kalshi at 0.45, NO on Polymarket at 0.50, 10 each), one
    answered 3 ms after it was journaled and one 5 ms after; an incident and a one-leg repair that
    sells 2 NO at 0.52 the next day; a mark; a settlement of the Kalshi market (YES won) and a late
    Kalshi fill after it; a reversed Polymarket fill."""
    ledger = Ledger(path, synchronous="NORMAL")
    ledger.set_cash(K, Decimal(100))
    ledger.set_cash(P, Decimal(200))
    entry = Intent(
        "i1",
        "set-a",
        T0 + 1_000,
        (
            IntentLeg(K, "KX-A", Side.YES, Action.BUY, 450_000, 10_000_000, TimeInForce.FOK, "KX-A"),
            IntentLeg(P, "cond-a", Side.NO, Action.BUY, 500_000, 10_000_000, TimeInForce.FOK, "tok-no"),
        ),
    )
    k_cid, p_cid = (j.client_order_id for j in ledger.journal_intent(entry))
    assert ledger.record_order(_update(k_cid, K, "KX-A", OrderStatus.PENDING, 0, "ko-1"), now_ms=T0 + 1_001)
    assert ledger.record_order(_update(k_cid, K, "KX-A", OrderStatus.FILLED, 10_000_000, "ko-1"), now_ms=T0 + 1_003)
    assert ledger.record_order(_update(p_cid, P, "cond-a", OrderStatus.UNKNOWN, 0, "po-1"), now_ms=T0 + 1_002)
    assert ledger.record_order(_update(p_cid, P, "cond-a", OrderStatus.FILLED, 10_000_000, "po-1"), now_ms=T0 + 1_005)
    # Kalshi fee $0.17 on 10 at 0.45; Polymarket no fee
    ledger.record_fill(
        _fill(K, "kf-1", k_cid, "KX-A", Side.YES, Action.BUY, 450_000, 10_000_000, 170_000), now_ms=T0 + 1_004
    )
    ledger.record_fill(
        _fill(P, "pf-1", p_cid, "cond-a", Side.NO, Action.BUY, 500_000, 10_000_000, 0), now_ms=T0 + 1_006
    )
    incident = ledger.open_incident("set-a", "imbalance: test", now_ms=T0 + 1_010)
    repair = Intent(
        "i2",
        "set-a",
        T0 + DAY_MS + 5,
        (IntentLeg(P, "cond-a", Side.NO, Action.SELL, 520_000, 2_000_000, TimeInForce.IOC, "tok-no"),),
        repair_of_incident=incident,
    )
    (r_leg,) = ledger.journal_intent(repair)
    r_cid = r_leg.client_order_id
    assert ledger.record_order(
        _update(r_cid, P, "cond-a", OrderStatus.FILLED, 2_000_000, "po-2"), now_ms=T0 + DAY_MS + 12
    )
    ledger.record_fill(
        _fill(P, "pf-2", r_cid, "cond-a", Side.NO, Action.SELL, 520_000, 2_000_000, 10_000), now_ms=T0 + DAY_MS + 13
    )
    # a fill that failed on chain: recorded, then reversed
    failed = _fill(P, "pf-3", r_cid, "cond-a", Side.NO, Action.SELL, 520_000, 1_000_000, 0)
    ledger.record_fill(failed, now_ms=T0 + DAY_MS + 14)
    ledger.record_fill(dataclasses.replace(failed, status=FillStatus.FAILED), now_ms=T0 + DAY_MS + 20)
    ledger.close_incident(incident, "repaired", now_ms=T0 + DAY_MS + 30)
    ledger.record_mark(P, "cond-a", Side.NO, 530_000, now_ms=T0 + DAY_MS + 40)
    ledger.record_settlement(K, "KX-A", Side.YES, now_ms=T0 + 2 * DAY_MS)
    # a late fill in the settled market (1 YES more at 0.40, fee 0.02): paid $1 at once
    ledger.record_fill(
        _fill(K, "kf-2", k_cid, "KX-A", Side.YES, Action.BUY, 400_000, 1_000_000, 20_000), now_ms=T0 + 2 * DAY_MS + 7
    )
    return ledger


def test_export_holds_every_table_with_exact_text(tmp_path: Path) -> None:
    with write_ledger(tmp_path / "ledger.sqlite") as ledger:
        doc = export_ledger(ledger)
    assert doc["format"] == 1 and doc["schema_version"] == 4
    assert [(i["intent_id"], i["repair_of_incident"], len(i["legs"])) for i in doc["intents"]] == [
        ("i1", None, 2),
        ("i2", 1, 1),
    ]
    k_order, p_order, r_order = doc["orders"]
    assert (k_order["venue"], k_order["price"], k_order["size"], k_order["status"], k_order["filled"]) == (
        "kalshi",
        "0.45",
        "10",
        "filled",
        "10",
    )
    # answered: the first state that is an answer (PENDING and UNKNOWN are not)
    assert (k_order["sent_ms"], k_order["answered_ms"], k_order["latency_ms"]) == (T0 + 1_000, T0 + 1_003, 3)
    assert (p_order["sent_ms"], p_order["answered_ms"], p_order["latency_ms"]) == (T0 + 1_000, T0 + 1_005, 5)
    assert (r_order["repair_of_incident"], r_order["action"], r_order["latency_ms"]) == (1, "sell", 7)
    fills = {f["fill_id"]: f for f in doc["fills"]}
    assert list(fills) == ["kf-1", "pf-1", "pf-2", "pf-3", "kf-2"]
    # 10 x 0.45 + 0.17 fee
    assert (fills["kf-1"]["cash_usd"], fills["kf-1"]["fee_usd"], fills["kf-1"]["payout_usd"]) == ("-4.67", "0.17", None)
    assert fills["pf-2"]["cash_usd"] == "1.03"  # 2 x 0.52 - 0.01
    assert (fills["pf-3"]["reversed_ms"], fills["pf-3"]["status"]) == (T0 + DAY_MS + 20, "failed")
    assert (fills["kf-2"]["cash_usd"], fills["kf-2"]["payout_usd"]) == ("-0.42", "1")
    assert doc["settlements"] == [
        {
            "venue": "kalshi",
            "market_id": "KX-A",
            "yes_payout": "1",
            "no_payout": "0",
            "paid_usd": "10",
            "settled_ms": T0 + 2 * DAY_MS,
        }
    ]
    assert doc["incidents"] == [
        {
            "incident_id": 1,
            "set_id": "set-a",
            "reason": "imbalance: test",
            "opened_ms": T0 + 1_010,
            "closed_ms": T0 + DAY_MS + 30,
            "resolution": "repaired",
        }
    ]
    assert doc["repairs"] == [
        {
            "intent_id": "i2",
            "incident_id": 1,
            "set_id": "set-a",
            "created_ms": T0 + DAY_MS + 5,
            "orders": [r_order["client_order_id"]],
            "filled": "2",
            "cash_usd": "1.03",  # the reversed pf-3 moved nothing
        }
    ]
    assert doc["marks"] == [
        {"venue": "polymarket", "market_id": "cond-a", "outcome": "no", "price": "0.53", "marked_ms": T0 + DAY_MS + 40}
    ]
    assert doc["positions"] == [{"venue": "polymarket", "market_id": "cond-a", "outcome": "no", "size": "8"}]
    kalshi, poly = doc["cash_flows"]
    # Kalshi: bought 4.50 + 0.40, fees 0.19, settled 10 + 1 (late fill) -> net +5.91 on 100
    assert kalshi == {
        "venue": "kalshi",
        "bought_usd": "4.9",
        "sold_usd": "0",
        "fees_usd": "0.19",
        "settlements_usd": "11",
        "net_usd": "5.91",
        "balance_usd": "105.91",
        "opening_usd": "100",
    }
    # Polymarket: bought 5.00, sold 1.04, fee 0.01 -> net -3.97 on 200
    assert poly == {
        "venue": "polymarket",
        "bought_usd": "5",
        "sold_usd": "1.04",
        "fees_usd": "0.01",
        "settlements_usd": "0",
        "net_usd": "-3.97",
        "balance_usd": "196.03",
        "opening_usd": "200",
    }
    pnl = doc["pnl"]
    # Kalshi: 10 x (1 - 0.45) + 1 x (1 - 0.40) - 0.19 = 5.91; Polymarket: 2 x (0.52 - 0.50) - 0.01 = 0.03
    assert (pnl["realised_usd"], pnl["fees_usd"]) == ("5.94", "0.2")
    assert pnl["unrealised_usd"] == "0.24"  # 8 NO marked 0.53 against 0.50
    assert pnl["by_day"] == [
        {"day": "2024-12-06", "realised_usd": "-0.17"},
        {"day": "2024-12-07", "realised_usd": "0.03"},
        {"day": "2024-12-08", "realised_usd": "6.08"},  # 5.50 + 0.60 settled, 0.02 fee
    ]
    assert pnl["unmarked"] == []


def test_export_is_json_and_the_same_bytes_twice(tmp_path: Path) -> None:
    with write_ledger(tmp_path / "ledger.sqlite") as ledger:
        first = orjson.dumps(export_ledger(ledger), option=orjson.OPT_SORT_KEYS)
        second = orjson.dumps(export_ledger(ledger), option=orjson.OPT_SORT_KEYS)
    assert first == second
    assert json.loads(first)["pnl"]["realised_usd"] == "5.94"  # the standard library reads it too


def test_decimal_text_is_exact_without_exponent() -> None:
    assert decimal_text(Decimal("9.550000")) == "9.55"
    assert decimal_text(Decimal("1E+2")) == "100"
    assert decimal_text(Decimal("-0")) == "0"
    assert decimal_text(Decimal("0.000000000001")) == "0.000000000001"


def test_a_ledger_written_before_migration_4_exports_without_answer_times(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    assert migrate(conn, target=3) == 3
    conn.execute("INSERT INTO intents VALUES ('i1', 'set-a', ?)", (T0,))
    conn.execute(
        "INSERT INTO intent_legs VALUES ('i1', 0, 'kalshi', 'KX-A', 'KX-A', 'yes', 'buy', 450000, 1000000, 'fok', 'c1', 7)"
    )
    conn.execute("INSERT INTO orders VALUES ('c1', 'kalshi', 'ko', 'KX-A', 'filled', 1000000, 0, '', ?)", (T0 + 4,))
    conn.close()
    with Ledger(path) as ledger:  # migrated on open
        assert ledger.schema_version == 4
        doc = export_ledger(ledger)
    (order,) = doc["orders"]
    assert (order["sent_ms"], order["answered_ms"], order["latency_ms"], order["updated_ms"]) == (
        T0,
        None,
        None,
        T0 + 4,
    )
    assert doc["intents"][0]["repair_of_incident"] is None and doc["repairs"] == []
