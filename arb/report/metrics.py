"""The numbers behind `arb report`, as pure functions of the ledger export (`export_ledger`):
every figure and table of the page is drawn from these, and the tests check them against values
worked out by hand. Money stays exact (Decimal); only the ratios (Sharpe, Sortino, drawdown in
percent) need a square root or a division that does not end, and those are Decimals computed to
`_PRECISION` digits. Conventions in docs/report.md#conventions.

Equity is marked to market: starting capital plus the cash the fills and settlements moved plus
the open positions valued at their marks. The ledger keeps one mark per position (the latest), so a
position is valued at it throughout the run; a position without a mark is valued at the price of
its latest fill (`EquityCurve.unmarked` names them). With every position marked, the last point
equals starting capital plus the ledger's realised and unrealised P&L.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from arb.errors import ConfigError

__all__ = [
    "DAYS_PER_YEAR",
    "CapitalUse",
    "DailyPnL",
    "Drawdown",
    "EquityCurve",
    "EquityPoint",
    "FillCounts",
    "capital_use",
    "daily_pnl",
    "daily_returns",
    "drawdown_series",
    "equity_curve",
    "fill_counts",
    "latencies_by_venue",
    "max_drawdown",
    "sharpe_ratio",
    "sortino_ratio",
    "utc_day",
]

DAYS_PER_YEAR = 365  # prediction markets trade every day: returns are annualised over calendar days
_PRECISION = 28
_ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _context() -> decimal.Context:
    return decimal.Context(prec=_PRECISION)


def utc_day(ms: int) -> str:
    return (_EPOCH + timedelta(milliseconds=ms)).date().isoformat()


def _decimal(value: Any, what: str) -> Decimal:
    """Decimal text from the export; anything else (a float, a malformed string) is refused."""
    if not isinstance(value, str):
        raise ConfigError(f"{what}: expected exact decimal text, got {type(value).__name__} {value!r}")
    try:
        number = Decimal(value)
    except decimal.InvalidOperation:
        raise ConfigError(f"{what}: not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise ConfigError(f"{what}: not a finite number: {value!r}")
    return number


def _ms(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what}: expected integer milliseconds, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class EquityPoint:
    t_ms: int
    equity_usd: Decimal


@dataclass(frozen=True, slots=True)
class EquityCurve:
    """Equity after each moment something moved it (fills and settlements recorded in the same
    millisecond make one point), preceded by the starting capital at the first event's time."""

    starting_capital_usd: Decimal
    points: tuple[EquityPoint, ...]
    unmarked: tuple[tuple[str, str, str], ...] = ()

    @property
    def final_usd(self) -> Decimal:
        return self.points[-1].equity_usd if self.points else self.starting_capital_usd


def _events(doc: Mapping[str, Any]) -> list[tuple[int, int, int, dict[str, Any]]]:
    """Standing fills and settlements as (t_ms, kind, index, row): in time order, a fill before a
    settlement of the same millisecond, else as recorded."""
    events: list[tuple[int, int, int, dict[str, Any]]] = []
    for index, fill in enumerate(doc.get("fills", [])):
        if fill.get("reversed_ms") is None:
            events.append((_ms(fill["recorded_ms"], f"fill {fill.get('fill_id')} recorded_ms"), 0, index, fill))
    for index, settlement in enumerate(doc.get("settlements", [])):
        events.append((_ms(settlement["settled_ms"], "settlement settled_ms"), 1, index, settlement))
    events.sort(key=lambda e: e[:3])
    return events


def equity_curve(doc: Mapping[str, Any], starting_capital_usd: Decimal) -> EquityCurve:
    """Mark-to-market equity over the run (module docstring)."""
    marks = {
        (m["venue"], m["market_id"], m["outcome"]): _decimal(m["price"], f"mark {m['market_id']}")
        for m in doc.get("marks", [])
    }
    held: dict[tuple[str, str, str], Decimal] = {}
    last_price: dict[tuple[str, str, str], Decimal] = {}
    cash = _ZERO
    points: list[EquityPoint] = []
    events = _events(doc)

    def value() -> Decimal:
        total = starting_capital_usd + cash
        for key, size in held.items():
            total += size * marks.get(key, last_price[key])
        return total

    if events:
        points.append(EquityPoint(events[0][0], starting_capital_usd))
    for position, (t_ms, kind, _, row) in enumerate(events):
        if kind == 0:
            what = f"fill {row.get('fill_id')}"
            cash += _decimal(row["cash_usd"], f"{what} cash_usd")
            if row.get("payout_usd") is not None:  # arrived in a settled market: paid out at once
                cash += _decimal(row["payout_usd"], f"{what} payout_usd")
            else:
                key = (row["venue"], row["market_id"], row["outcome"])
                size = _decimal(row["size"], f"{what} size")
                held[key] = held.get(key, _ZERO) + (size if row["action"] == "buy" else -size)
                last_price[key] = _decimal(row["price"], f"{what} price")
        else:
            cash += _decimal(row["paid_usd"], f"settlement {row['market_id']} paid_usd")
            for key in [k for k in held if k[:2] == (row["venue"], row["market_id"])]:
                del held[key]
        if position + 1 == len(events) or events[position + 1][0] != t_ms:
            points.append(EquityPoint(t_ms, value()))
    unmarked = tuple(sorted(k for k, size in held.items() if size and k not in marks))
    return EquityCurve(starting_capital_usd, tuple(points), unmarked)


@dataclass(frozen=True, slots=True)
class Drawdown:
    """The deepest fall of equity below its running peak: `usd` (negative, or 0 with no fall) and
    `fraction` of that peak; when the peak was and when the trough."""

    usd: Decimal
    fraction: Decimal
    peak_ms: int | None
    trough_ms: int | None


def drawdown_series(curve: EquityCurve) -> list[tuple[int, Decimal]]:
    """Equity minus its running peak (starting capital included) at every point: 0 or below."""
    peak = curve.starting_capital_usd
    out = []
    for point in curve.points:
        peak = max(peak, point.equity_usd)
        out.append((point.t_ms, point.equity_usd - peak))
    return out


def max_drawdown(curve: EquityCurve) -> Drawdown:
    peak, peak_ms = curve.starting_capital_usd, curve.points[0].t_ms if curve.points else None
    worst = Drawdown(_ZERO, _ZERO, None, None)
    for point in curve.points:
        if point.equity_usd > peak:
            peak, peak_ms = point.equity_usd, point.t_ms
        fall = point.equity_usd - peak
        if fall < worst.usd:
            fraction = _context().divide(fall, peak) if peak > 0 else _ZERO
            worst = Drawdown(fall, fraction, peak_ms, point.t_ms)
    return worst


@dataclass(frozen=True, slots=True)
class DailyPnL:
    """One UTC calendar day: equity change over the day (mark to market, as the curve) and the
    ledger's realised P&L that day (FIFO lots and fees, `Ledger.pnl`)."""

    day: str
    pnl_usd: Decimal
    realised_usd: Decimal
    equity_end_usd: Decimal


def daily_pnl(curve: EquityCurve, realised_by_day: Iterable[Mapping[str, Any]] = ()) -> list[DailyPnL]:
    """Every calendar day from the first event's to the last's (days without an event included:
    they earned 0 and count in the ratios), P&L = equity at the day's end minus at the previous
    day's end (starting capital before the first day)."""
    realised = {r["day"]: _decimal(r["realised_usd"], f"realised on {r['day']}") for r in realised_by_day}
    if not curve.points:
        return []
    end_of_day: dict[str, Decimal] = {}
    for point in curve.points:
        end_of_day[utc_day(point.t_ms)] = point.equity_usd
    first = date.fromisoformat(utc_day(curve.points[0].t_ms))
    last = date.fromisoformat(utc_day(curve.points[-1].t_ms))
    out: list[DailyPnL] = []
    previous = curve.starting_capital_usd
    day = first
    while day <= last:
        name = day.isoformat()
        equity = end_of_day.get(name, previous)
        out.append(DailyPnL(name, equity - previous, realised.get(name, _ZERO), equity))
        previous = equity
        day += timedelta(days=1)
    return out


def daily_returns(days: Sequence[DailyPnL], starting_capital_usd: Decimal) -> list[Decimal]:
    """Each day's P&L over the starting capital (simple returns on a fixed base: an arbitrage book
    does not compound within a run). Empty without a positive starting capital."""
    if starting_capital_usd <= 0:
        return []
    ctx = _context()
    return [ctx.divide(d.pnl_usd, starting_capital_usd) for d in days]


def _mean(values: Sequence[Decimal]) -> Decimal:
    ctx = _context()
    return ctx.divide(sum(values, _ZERO), Decimal(len(values)))


def _annualise(daily: Decimal) -> Decimal:
    ctx = _context()
    return ctx.multiply(daily, ctx.sqrt(Decimal(DAYS_PER_YEAR)))


def sharpe_ratio(returns: Sequence[Decimal]) -> Decimal | None:
    """mean / sample standard deviation (n - 1) of the daily returns, times sqrt(365); no risk-free
    rate. None with fewer than two days or no variation."""
    if len(returns) < 2:
        return None
    ctx = _context()
    mean = _mean(returns)
    variance = ctx.divide(sum((ctx.power(r - mean, 2) for r in returns), _ZERO), Decimal(len(returns) - 1))
    if variance == 0:
        return None
    return _annualise(ctx.divide(mean, ctx.sqrt(variance)))


def sortino_ratio(returns: Sequence[Decimal]) -> Decimal | None:
    """mean / downside deviation of the daily returns, times sqrt(365); the downside deviation is
    sqrt(sum(min(r, 0)^2) / n) over all n days (target return 0). None with fewer than two days or
    no losing day."""
    if len(returns) < 2:
        return None
    ctx = _context()
    downside = ctx.divide(sum((ctx.power(min(r, _ZERO), 2) for r in returns), _ZERO), Decimal(len(returns)))
    if downside == 0:
        return None
    return _annualise(ctx.divide(_mean(returns), ctx.sqrt(downside)))


@dataclass(frozen=True, slots=True)
class CapitalUse:
    """Per venue: the cash its trades hold over time (what fills paid out net of what sales and
    settlements brought back, floored at 0), its peak and the venue's opening cash."""

    venue: str
    series: tuple[tuple[int, Decimal], ...]
    peak_usd: Decimal
    opening_usd: Decimal

    @property
    def peak_fraction(self) -> Decimal | None:
        return _context().divide(self.peak_usd, self.opening_usd) if self.opening_usd > 0 else None


def capital_use(doc: Mapping[str, Any]) -> list[CapitalUse]:
    openings = {c["venue"]: _decimal(c["opening_usd"], f"{c['venue']} opening_usd") for c in doc.get("cash_flows", [])}
    flows: dict[str, Decimal] = {}
    series: dict[str, list[tuple[int, Decimal]]] = {}
    for t_ms, kind, _, row in _events(doc):
        venue = row["venue"]
        if kind == 0:
            delta = _decimal(row["cash_usd"], "fill cash_usd")
            if row.get("payout_usd") is not None:
                delta += _decimal(row["payout_usd"], "fill payout_usd")
        else:
            delta = _decimal(row["paid_usd"], "settlement paid_usd")
        flows[venue] = flows.get(venue, _ZERO) + delta
        used = max(_ZERO, -flows[venue])
        points = series.setdefault(venue, [])
        if points and points[-1][0] == t_ms:
            points[-1] = (t_ms, used)
        else:
            points.append((t_ms, used))
    return [
        CapitalUse(
            venue,
            tuple(series.get(venue, ())),
            max((used for _, used in series.get(venue, ())), default=_ZERO),
            openings.get(venue, _ZERO),
        )
        for venue in sorted(set(series) | set(openings))
    ]


@dataclass(frozen=True, slots=True)
class FillCounts:
    """Fills and repairs: standing fills and contracts per (venue, action), reversed fills,
    incidents opened, repair intents and their orders."""

    fills: Mapping[tuple[str, str], int]
    contracts: Mapping[tuple[str, str], Decimal]
    reversed_fills: int
    incidents: int
    incidents_open: int
    repair_intents: int
    repair_orders: int
    orders_by_status: Mapping[str, int] = field(default_factory=dict)

    @property
    def total_fills(self) -> int:
        return sum(self.fills.values())


def fill_counts(doc: Mapping[str, Any]) -> FillCounts:
    fills: dict[tuple[str, str], int] = {}
    contracts: dict[tuple[str, str], Decimal] = {}
    reversed_fills = 0
    for fill in doc.get("fills", []):
        if fill.get("reversed_ms") is not None:
            reversed_fills += 1
            continue
        key = (fill["venue"], fill["action"])
        fills[key] = fills.get(key, 0) + 1
        contracts[key] = contracts.get(key, _ZERO) + _decimal(fill["size"], "fill size")
    statuses: dict[str, int] = {}
    for order in doc.get("orders", []):
        statuses[order["status"]] = statuses.get(order["status"], 0) + 1
    incidents = doc.get("incidents", [])
    repairs = doc.get("repairs", [])
    return FillCounts(
        fills=dict(sorted(fills.items())),
        contracts=dict(sorted(contracts.items())),
        reversed_fills=reversed_fills,
        incidents=len(incidents),
        incidents_open=sum(1 for i in incidents if i.get("closed_ms") is None),
        repair_intents=len(repairs),
        repair_orders=sum(len(r.get("orders", [])) for r in repairs),
        orders_by_status=dict(sorted(statuses.items())),
    )


def latencies_by_venue(doc: Mapping[str, Any]) -> dict[str, list[int]]:
    """Journal-to-answer latency (ms) of every answered order, per venue, in journal order."""
    out: dict[str, list[int]] = {}
    for order in doc.get("orders", []):
        latency = order.get("latency_ms")
        if latency is not None:
            out.setdefault(order["venue"], []).append(_ms(latency, f"order {order['client_order_id']} latency_ms"))
    return dict(sorted(out.items()))
