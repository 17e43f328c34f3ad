"""The ledger as one plain document: what `arb report` reads and what `arb replay` embeds as
`ledger` in its JSON (docs/report.md#the-ledger-export).

`export_ledger(ledger)` returns dicts, lists, strings, ints and None only, so any JSON encoder
writes it. Money, prices and sizes are exact decimal text in USD and contracts ("0.45", "10",
"-9.5525"), never floats; times are the ledger's integer milliseconds (UTC wall clock, or the
replay's virtual wall clock). Every list has a fixed order (journal or recording order, or sorted
keys), so the same ledger always gives the same document.

The tables are read in one read transaction on a read-only connection of their own (a consistent
snapshot of what is committed; the ledger's own connection is not touched), and the P&L is
`Ledger.pnl()`. Export a ledger nothing is writing to (after a run, or between two writes).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from arb.domain import Action, Side
from arb.ledger.store import Ledger, LedgerError

__all__ = ["EXPORT_FORMAT", "decimal_text", "export_ledger"]

EXPORT_FORMAT = 1  # raised when a field changes meaning or goes away (new fields keep it)
_MICRO = Decimal(1_000_000)
_ZERO = Decimal(0)


def decimal_text(value: Decimal) -> str:
    """Exact decimal text without exponent or trailing zeros: Decimal("9.550000") is "9.55",
    Decimal("1E+2") is "100", -0 is "0"."""
    if not value.is_finite():
        raise LedgerError(f"the ledger holds a non-finite amount {value!r}")
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _micro(value: int) -> str:
    return decimal_text(Decimal(value) / _MICRO)


@contextmanager
def _snapshot(path: str) -> Iterator[sqlite3.Connection]:
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise LedgerError(f"ledger {path} cannot be opened for export: {exc}") from exc
    try:
        conn.execute("BEGIN")  # one read transaction: every table from the same commit
        yield conn
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise LedgerError(f"ledger {path} cannot be exported: {exc}") from exc
    finally:
        conn.close()


def export_ledger(ledger: Ledger) -> dict[str, Any]:
    """Everything the ledger holds, as plain data (module docstring; field by field in
    docs/report.md#the-ledger-export)."""
    pnl = ledger.pnl()
    with _snapshot(ledger.path) as conn:
        intents = _intents(conn)
        orders = _orders(conn)
        fills = _fills(conn)
        settlements = _settlements(conn)
        incidents = [
            {
                "incident_id": incident_id,
                "set_id": set_id,
                "reason": reason,
                "opened_ms": opened,
                "closed_ms": closed,
                "resolution": resolution,
            }
            for incident_id, set_id, reason, opened, closed, resolution in conn.execute(
                "SELECT incident_id, set_id, reason, opened_ms, closed_ms, resolution FROM incidents "
                "ORDER BY incident_id"
            )
        ]
        marks = [
            {"venue": v, "market_id": m, "outcome": o, "price": _micro(p), "marked_ms": t}
            for v, m, o, p, t in conn.execute(
                "SELECT venue, market_id, outcome, price_micro_usd, marked_ms FROM marks "
                "ORDER BY venue, market_id, outcome"
            )
        ]
        positions = [
            {"venue": v, "market_id": m, "outcome": o, "size": _micro(s)}
            for v, m, o, s in conn.execute(
                "SELECT venue, market_id, outcome, size_micro FROM positions WHERE size_micro != 0 "
                "ORDER BY venue, market_id, outcome"
            )
        ]
        balances = {v: Decimal(u) for v, u in conn.execute("SELECT venue, usd FROM cash")}
    return {
        "format": EXPORT_FORMAT,
        "schema_version": ledger.schema_version,
        "intents": intents,
        "orders": orders,
        "fills": fills,
        "settlements": settlements,
        "incidents": incidents,
        "repairs": _repairs(intents, orders, fills),
        "marks": marks,
        "positions": positions,
        "cash_flows": _cash_flows(balances, fills, settlements),
        "pnl": {
            "realised_usd": decimal_text(pnl.realised_usd),
            "unrealised_usd": decimal_text(pnl.unrealised_usd),
            "fees_usd": decimal_text(pnl.fees_usd),
            "unmarked": [{"venue": v.value, "market_id": m, "outcome": o.value} for v, m, o in pnl.unmarked],
            "by_day": [{"day": day, "realised_usd": decimal_text(amount)} for day, amount in pnl.realised_by_day],
            "positions": [
                {
                    "venue": p.venue.value,
                    "market_id": p.market_id,
                    "outcome": p.outcome.value,
                    "size": _micro(p.size_micro),
                    "cost_usd": decimal_text(p.cost_usd),
                    "realised_usd": decimal_text(p.realised_usd),
                    "fees_usd": decimal_text(p.fees_usd),
                    "settled": p.settled,
                    "mark": None if p.mark_micro_usd is None else _micro(p.mark_micro_usd),
                    "unrealised_usd": None if p.unrealised_usd is None else decimal_text(p.unrealised_usd),
                }
                for p in pnl.positions
            ],
        },
    }


def _intents(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    intents: dict[str, dict[str, Any]] = {}
    for intent_id, set_id, created, repair_of in conn.execute(
        "SELECT intent_id, set_id, created_ms, repair_of_incident FROM intents ORDER BY rowid"
    ):
        intents[intent_id] = {
            "intent_id": intent_id,
            "set_id": set_id,
            "created_ms": created,
            "repair_of_incident": repair_of,
            "legs": [],
        }
    for row in conn.execute(
        "SELECT l.intent_id, leg_index, client_order_id, venue, market_id, book_id, outcome, action, "
        "price_micro_usd, size_micro, time_in_force FROM intent_legs l JOIN intents i USING (intent_id) "
        "ORDER BY i.rowid, leg_index"
    ):
        intent_id, index, cid, venue, market, book, outcome, action, price, size, tif = row
        intents[intent_id]["legs"].append(
            {
                "leg_index": index,
                "client_order_id": cid,
                "venue": venue,
                "market_id": market,
                "book_id": book,
                "outcome": outcome,
                "action": action,
                "price": _micro(price),
                "size": _micro(size),
                "time_in_force": tif,
            }
        )
    return list(intents.values())


def _orders(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Each journaled order with its leg's terms and its times: `sent_ms` is its intent's journal
    time (an order leaves right after its intent commits), `answered_ms` when its first answer was
    recorded (None: never answered, e.g. a send that timed out and is still UNKNOWN), `latency_ms`
    the difference (ms resolution of the ledger's clock)."""
    orders = []
    for row in conn.execute(
        "SELECT o.client_order_id, l.intent_id, i.set_id, i.repair_of_incident, o.venue, o.order_id, o.market_id, "
        "l.outcome, l.action, l.price_micro_usd, l.size_micro, l.time_in_force, o.status, o.filled_micro, "
        "o.remaining_micro, o.reason, i.created_ms, o.answered_ms, o.updated_ms "
        "FROM orders o JOIN intent_legs l USING (client_order_id) JOIN intents i ON i.intent_id = l.intent_id "
        "ORDER BY o.rowid"
    ):
        (cid, intent_id, set_id, repair_of, venue, order_id, market, outcome, action, price, size, tif) = row[:12]
        status, filled, remaining, reason, sent, answered, updated = row[12:]
        orders.append(
            {
                "client_order_id": cid,
                "intent_id": intent_id,
                "set_id": set_id,
                "repair_of_incident": repair_of,
                "venue": venue,
                "order_id": order_id,
                "market_id": market,
                "outcome": outcome,
                "action": action,
                "price": _micro(price),
                "size": _micro(size),
                "time_in_force": tif,
                "status": status,
                "filled": _micro(filled),
                "remaining": None if remaining is None else _micro(remaining),
                "reason": reason,
                "sent_ms": sent,
                "answered_ms": answered,
                "latency_ms": None if answered is None else answered - sent,
                "updated_ms": updated,
            }
        )
    return orders


def _fill_cash(action: str, price: int, size: int, fee: int) -> Decimal:
    notional = Decimal(price * size) / (_MICRO * _MICRO)
    return (-notional if Action(action) is Action.BUY else notional) - Decimal(fee) / _MICRO


def _fills(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every fill in recording order; `cash_usd` is what it moved (buys negative, fee included),
    `payout_usd` what it was paid on arrival when it came after its market's settlement (None
    otherwise: such a position is paid by the settlement itself) and `reversed_ms` when it was
    reversed (a fill that failed on chain never happened: it is in no P&L or cash flow)."""
    settled = {
        (venue, market): (yes, no, last)
        for venue, market, yes, no, last in conn.execute(
            "SELECT venue, market_id, yes_payout_micro_usd, no_payout_micro_usd, last_fill_rowid FROM settlements"
        )
    }
    fills = []
    for row in conn.execute(
        "SELECT f.rowid, f.venue, f.fill_id, f.order_id, f.client_order_id, f.market_id, f.outcome, f.action, "
        "f.price_micro_usd, f.size_micro, f.fee_micro_usd, f.status, f.recorded_ms, r.recorded_ms "
        "FROM fills f LEFT JOIN fill_reversals r ON r.venue = f.venue AND r.fill_id = f.fill_id ORDER BY f.rowid"
    ):
        rowid, venue, fill_id, order_id, cid, market, outcome, action, price, size, fee, status = row[:12]
        recorded, reversed_ms = row[12:]
        payout: str | None = None
        settlement = settled.get((venue, market))
        if settlement is not None and rowid > settlement[2]:
            per_contract = settlement[0] if outcome == Side.YES.value else settlement[1]
            signed = size if Action(action) is Action.BUY else -size
            payout = decimal_text(Decimal(signed * per_contract) / (_MICRO * _MICRO))
        fills.append(
            {
                "venue": venue,
                "fill_id": fill_id,
                "order_id": order_id,
                "client_order_id": cid,
                "market_id": market,
                "outcome": outcome,
                "action": action,
                "price": _micro(price),
                "size": _micro(size),
                "fee_usd": _micro(fee),
                "cash_usd": decimal_text(_fill_cash(action, price, size, fee)),
                "payout_usd": payout,
                "status": status,
                "recorded_ms": recorded,
                "reversed_ms": reversed_ms,
            }
        )
    return fills


def _settlements(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Settlements in the order they were recorded; `paid_usd` is what the positions held then
    were paid (a fill recorded in the market later is paid out on arrival, in its own cash)."""
    return [
        {
            "venue": venue,
            "market_id": market,
            "yes_payout": _micro(yes),
            "no_payout": _micro(no),
            "paid_usd": decimal_text(Decimal(paid)),
            "settled_ms": settled,
        }
        for venue, market, yes, no, paid, settled in conn.execute(
            "SELECT venue, market_id, yes_payout_micro_usd, no_payout_micro_usd, paid_usd, settled_ms "
            "FROM settlements ORDER BY rowid"
        )
    ]


def _repairs(
    intents: list[dict[str, Any]], orders: list[dict[str, Any]], fills: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One entry per repair intent (an intent journaled for an incident), in journal order: its
    orders, what they filled and the cash its standing fills moved."""
    by_intent: dict[str, list[dict[str, Any]]] = {}
    for order in orders:
        by_intent.setdefault(order["intent_id"], []).append(order)
    cash_by_order: dict[str, Decimal] = {}
    for fill in fills:
        cid = fill["client_order_id"]
        if cid is not None and fill["reversed_ms"] is None:
            cash_by_order[cid] = cash_by_order.get(cid, _ZERO) + Decimal(fill["cash_usd"])
    repairs = []
    for intent in intents:
        if intent["repair_of_incident"] is None:
            continue
        own = by_intent.get(intent["intent_id"], [])
        repairs.append(
            {
                "intent_id": intent["intent_id"],
                "incident_id": intent["repair_of_incident"],
                "set_id": intent["set_id"],
                "created_ms": intent["created_ms"],
                "orders": [o["client_order_id"] for o in own],
                "filled": decimal_text(sum((Decimal(o["filled"]) for o in own), _ZERO)),
                "cash_usd": decimal_text(sum((cash_by_order.get(o["client_order_id"], _ZERO) for o in own), _ZERO)),
            }
        )
    return repairs


def _cash_flows(
    balances: dict[str, Decimal], fills: list[dict[str, Any]], settlements: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per venue, what the standing fills and the settlements moved: `bought_usd` and `sold_usd`
    (notionals), `fees_usd`, `settlements_usd` (payouts, late fills' included), `net_usd` (their
    sum with signs: what the venue's cash changed by), `balance_usd` (the ledger's cash now) and
    `opening_usd` (balance less net: the cash before the first fill, as deposits and
    reconciliations set it)."""
    flows: dict[str, dict[str, Decimal]] = {}

    def venue(name: str) -> dict[str, Decimal]:
        return flows.setdefault(name, {"bought": _ZERO, "sold": _ZERO, "fees": _ZERO, "settlements": _ZERO})

    for name in balances:
        venue(name)
    for fill in fills:
        if fill["reversed_ms"] is not None:
            continue
        flow = venue(fill["venue"])
        fee = Decimal(fill["fee_usd"])
        notional = Decimal(fill["price"]) * Decimal(fill["size"])
        flow["fees"] += fee
        flow["bought" if fill["action"] == Action.BUY.value else "sold"] += notional
    for settlement in settlements:
        venue(settlement["venue"])["settlements"] += Decimal(settlement["paid_usd"])
    for fill in fills:  # a late fill in a settled market was paid out on arrival
        if fill["reversed_ms"] is None and fill["payout_usd"] is not None:
            venue(fill["venue"])["settlements"] += Decimal(fill["payout_usd"])
    out = []
    for name in sorted(flows):
        flow = flows[name]
        net = flow["sold"] - flow["bought"] - flow["fees"] + flow["settlements"]
        balance = balances.get(name, _ZERO)
        out.append(
            {
                "venue": name,
                "bought_usd": decimal_text(flow["bought"]),
                "sold_usd": decimal_text(flow["sold"]),
                "fees_usd": decimal_text(flow["fees"]),
                "settlements_usd": decimal_text(flow["settlements"]),
                "net_usd": decimal_text(net),
                "balance_usd": decimal_text(balance),
                "opening_usd": decimal_text(balance - net),
            }
        )
    return out
