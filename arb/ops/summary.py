"""The end-of-run summary of `arb run` (and `make run`): opportunities seen, plans executed, fills,
incidents and repairs, guaranteed and realised P&L, capital use and stage latency percentiles.

`RunTally` is what the daemon feeds while it runs (one call per opportunity, execution report,
capital observation and stage latency); `RunTally.summary` freezes it, with the ledger's `PnL`, into
a `RunSummary`, which renders as a `rich` table (`render_summary`) and as JSON (`RunSummary.to_json`).
Money stays exact: Decimals in, Decimal strings out (`format_usd` in the table, plain decimal text
in JSON), never a float.

Latency percentiles come from `LatencyHistogram`: log-spaced buckets 1% wide, so memory stays
bounded however long the daemon runs, and a reported percentile is never more than 1% above the
exact nearest-rank value and never below it (it is the upper edge of the bucket holding that rank,
clipped to the largest sample seen).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from arb.errors import ConfigError
from arb.execution.executor import ExecutionReport, ExecutionStatus
from arb.ledger.store import PnL

__all__ = [
    "LatencyHistogram",
    "RunSummary",
    "RunTally",
    "StagePercentiles",
    "add_text_row",
    "format_contracts",
    "format_usd",
    "render_summary",
]

_RATIO = 1.01  # bucket width: each bucket's upper edge is 1% above its lower edge
_LOG_RATIO = math.log(_RATIO)
_FLOOR_MS = 0.001  # samples below 1 microsecond share the first bucket
_ZERO = Decimal(0)
_MICRO = Decimal(1_000_000)


def _plain_decimal(value: Decimal, *, min_decimals: int) -> str:
    """Every digit of `value`, no exponent, at least `min_decimals` decimals, thousands separated."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ConfigError(f"money must be a finite Decimal, was {value!r}")
    if value == 0:
        value = _ZERO  # -0 prints as 0
    text = format(value, ",f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    whole, _, frac = text.partition(".")
    if len(frac) < min_decimals:
        frac = frac.ljust(min_decimals, "0")
    return f"{whole}.{frac}" if frac else whole


def format_usd(value: Decimal) -> str:
    """Exact dollars: every digit the Decimal has (a ledger P&L can carry 12 decimals), at least
    cents, sign before the symbol: `Decimal("-0.5")` is "-$0.50", `Decimal("1234.567891")` is
    "$1,234.567891". Never rounds: a view that rounded would show books that do not balance."""
    text = _plain_decimal(value, min_decimals=2)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def format_contracts(size_micro: int) -> str:
    """Contracts from micro-contracts, exact: 12_500_000 is "12.5", -3_000_000 is "-3"."""
    if isinstance(size_micro, bool) or not isinstance(size_micro, int):
        raise ConfigError(f"size_micro must be an integer, was {size_micro!r}")
    return _plain_decimal(Decimal(size_micro) / _MICRO, min_decimals=0)


def format_price(price_micro_usd: int) -> str:
    """A price in dollars from micro-USD, exact, at least cents: 450_000 is "0.45"."""
    if isinstance(price_micro_usd, bool) or not isinstance(price_micro_usd, int):
        raise ConfigError(f"price_micro_usd must be an integer, was {price_micro_usd!r}")
    return _plain_decimal(Decimal(price_micro_usd) / _MICRO, min_decimals=2)


def _usd_json(value: Decimal) -> str:
    return _plain_decimal(value, min_decimals=0).replace(",", "")


@dataclass(frozen=True, slots=True)
class StagePercentiles:
    """Latency of one pipeline stage (e.g. "tick_to_plan", "plan_to_send", "send_to_ack") in ms.
    `count` 0 means no sample: the percentiles are then None, never a made-up zero."""

    stage: str
    count: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    def to_json(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "stage": self.stage,
            "count": self.count,
            "p50_ms": r(self.p50_ms),
            "p90_ms": r(self.p90_ms),
            "p99_ms": r(self.p99_ms),
            "max_ms": r(self.max_ms),
        }


class LatencyHistogram:
    """Bounded-memory latency percentiles for one stage (see the module docstring for the error).

    Counts sit in a dense list indexed by bucket (a few thousand at most: 1% buckets from 1 us to
    hours), so `percentiles` is one C-speed running sum and a bisection per percentile: the live
    view asks for every stage's percentiles on each refresh, on the event loop."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self._counts: list[int] = []
        self.count = 0
        self.max_ms = 0.0

    def record(self, latency_ms: float) -> None:
        if not math.isfinite(latency_ms) or latency_ms < 0:
            raise ConfigError(f"stage {self.stage} latency must be a finite non-negative ms value, was {latency_ms!r}")
        index = 0 if latency_ms <= _FLOOR_MS else math.ceil(math.log(latency_ms / _FLOOR_MS) / _LOG_RATIO)
        if _FLOOR_MS * _RATIO**index < latency_ms:  # the log rounded down: the edge must not be below the sample
            index += 1
        counts = self._counts
        if index >= len(counts):
            counts.extend([0] * (index + 1 - len(counts)))
        counts[index] += 1
        self.count += 1
        if latency_ms > self.max_ms:
            self.max_ms = latency_ms

    def _at_rank(self, cumulative: list[int], q: float) -> float:
        rank = math.ceil(q * self.count)
        index = bisect.bisect_left(cumulative, rank)  # the first bucket holding the rank-th sample
        return min(_FLOOR_MS * _RATIO**index, self.max_ms)

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile, `q` in (0, 1]; None with no sample."""
        if not 0 < q <= 1:
            raise ConfigError(f"percentile must be in (0, 1], was {q!r}")
        if self.count == 0:
            return None
        return self._at_rank(list(itertools.accumulate(self._counts)), q)

    def percentiles(self) -> StagePercentiles:
        if self.count == 0:
            return StagePercentiles(self.stage, 0, None, None, None, None)
        cumulative = list(itertools.accumulate(self._counts))
        return StagePercentiles(
            stage=self.stage,
            count=self.count,
            p50_ms=self._at_rank(cumulative, 0.5),
            p90_ms=self._at_rank(cumulative, 0.9),
            p99_ms=self._at_rank(cumulative, 0.99),
            max_ms=self.max_ms,
        )


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one run did. Counts are whole numbers; money is exact Decimal USD.

    opportunities_by_kind: times an opportunity of each kind appeared (a set forwarded while it was
        not already open; it counts again after it was withdrawn and came back)
    plans_by_status: execution reports by `ExecutionStatus` value (refused, complete, unfilled,
        repaired, halted)
    fills: fills that stand in the ledger; partial_fills: entry orders that ended partly filled
    incidents_opened / repairs: imbalances the executor opened an incident for / repaired to hedged
        or flat; incidents_open_at_end: still open when the run ended (the daemon reads the ledger)
    guaranteed_usd: the worst case over outcomes of what executed plans locked in
    capital_peak_usd / capital_end_usd: committed capital at its highest and at the end;
        bankroll_usd: the capital the run could use (utilisation is peak over bankroll)
    unhedged_sets: sets holding a position that no outcome hedges at the end (must be empty)
    """

    mode: str
    duration_s: float
    opportunities_by_kind: Mapping[str, int]
    plans_by_status: Mapping[str, int]
    fills: int
    partial_fills: int
    incidents_opened: int
    repairs: int
    incidents_open_at_end: int
    guaranteed_usd: Decimal
    realised_usd: Decimal
    unrealised_usd: Decimal
    fees_usd: Decimal
    capital_peak_usd: Decimal
    capital_end_usd: Decimal
    bankroll_usd: Decimal
    latencies: tuple[StagePercentiles, ...]
    unhedged_sets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in (
            "guaranteed_usd",
            "realised_usd",
            "unrealised_usd",
            "fees_usd",
            "capital_peak_usd",
            "capital_end_usd",
            "bankroll_usd",
        ):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise ConfigError(f"run summary {name} must be a finite Decimal, was {value!r}")

    @property
    def opportunities_seen(self) -> int:
        return sum(self.opportunities_by_kind.values())

    @property
    def plans_executed(self) -> int:
        """Plans that sent orders: everything but the refused ones."""
        return sum(n for status, n in self.plans_by_status.items() if status != ExecutionStatus.REFUSED.value)

    @property
    def capital_utilisation(self) -> Decimal | None:
        """Peak committed capital over the bankroll (None without a bankroll), exact."""
        return None if self.bankroll_usd <= 0 else self.capital_peak_usd / self.bankroll_usd

    def to_json(self) -> dict[str, Any]:
        """Money as exact decimal strings (JSON numbers would be read back as floats)."""
        return {
            "mode": self.mode,
            "duration_s": round(self.duration_s, 3),
            "opportunities": {
                "seen": self.opportunities_seen,
                "by_kind": dict(sorted(self.opportunities_by_kind.items())),
            },
            "plans": {"executed": self.plans_executed, "by_status": dict(sorted(self.plans_by_status.items()))},
            "fills": {"total": self.fills, "partial_orders": self.partial_fills},
            "incidents": {
                "opened": self.incidents_opened,
                "repaired": self.repairs,
                "open_at_end": self.incidents_open_at_end,
            },
            "pnl": {
                "guaranteed_usd": _usd_json(self.guaranteed_usd),
                "realised_usd": _usd_json(self.realised_usd),
                "unrealised_usd": _usd_json(self.unrealised_usd),
                "fees_usd": _usd_json(self.fees_usd),
            },
            "capital": {
                "peak_usd": _usd_json(self.capital_peak_usd),
                "end_usd": _usd_json(self.capital_end_usd),
                "bankroll_usd": _usd_json(self.bankroll_usd),
            },
            "latency": [s.to_json() for s in self.latencies],
            "unhedged_sets": list(self.unhedged_sets),
        }


@dataclass(slots=True)
class RunTally:
    """The daemon's running counts. Call `opportunity_opened` / `opportunity_closed` as the scanner
    forwards and withdraws sets, `plan_reported` with every `ExecutionReport` (and the guaranteed
    profit of the plan it executed), `capital` whenever committed capital changes, `latency` per
    stage sample; `summary` at the end."""

    mode: str
    started_s: float
    bankroll_usd: Decimal = _ZERO
    opportunities_by_kind: Counter[str] = field(default_factory=Counter)
    plans_by_status: Counter[str] = field(default_factory=Counter)
    partial_fills: int = 0
    incidents_opened: int = 0
    repairs: int = 0
    guaranteed_usd: Decimal = _ZERO
    capital_peak_usd: Decimal = _ZERO
    capital_end_usd: Decimal = _ZERO
    histograms: dict[str, LatencyHistogram] = field(default_factory=dict)
    _open: set[str] = field(default_factory=set)

    def opportunity_opened(self, set_id: str, kind: str) -> None:
        if set_id not in self._open:
            self._open.add(set_id)
            self.opportunities_by_kind[kind] += 1

    def opportunity_closed(self, set_id: str) -> None:
        self._open.discard(set_id)

    def plan_reported(self, report: ExecutionReport, guaranteed_usd: Decimal = _ZERO) -> None:
        """`guaranteed_usd`: the plan's guaranteed profit; counted only when the plan filled as
        planned (COMPLETE); a repaired or halted plan's worst case is in the ledger's P&L instead."""
        self.plans_by_status[report.status.value] += 1
        if report.status is ExecutionStatus.COMPLETE:
            self.guaranteed_usd += guaranteed_usd
        self.partial_fills += sum(1 for o in report.orders if 0 < o.filled_micro < o.size_micro)
        if report.incident_id is not None:
            self.incidents_opened += 1
        if report.status is ExecutionStatus.REPAIRED:
            self.repairs += 1

    def capital(self, committed_usd: Decimal) -> None:
        if not isinstance(committed_usd, Decimal) or not committed_usd.is_finite():
            raise ConfigError(f"committed capital must be a finite Decimal, was {committed_usd!r}")
        self.capital_end_usd = committed_usd
        self.capital_peak_usd = max(self.capital_peak_usd, committed_usd)

    def latency(self, stage: str, latency_ms: float) -> None:
        histogram = self.histograms.get(stage)
        if histogram is None:
            histogram = self.histograms[stage] = LatencyHistogram(stage)
        histogram.record(latency_ms)

    def stage_percentiles(self) -> tuple[StagePercentiles, ...]:
        return tuple(h.percentiles() for h in self.histograms.values())

    def summary(
        self,
        pnl: PnL,
        *,
        fills: int,
        incidents_open_at_end: int,
        ended_s: float,
        unhedged_sets: Iterable[str] = (),
    ) -> RunSummary:
        """Freeze the tally with the ledger's P&L, its fill count (`Ledger.fill_count`) and its
        open incidents at the end."""
        return RunSummary(
            mode=self.mode,
            duration_s=max(0.0, ended_s - self.started_s),
            opportunities_by_kind=dict(self.opportunities_by_kind),
            plans_by_status=dict(self.plans_by_status),
            fills=fills,
            partial_fills=self.partial_fills,
            incidents_opened=self.incidents_opened,
            repairs=self.repairs,
            incidents_open_at_end=incidents_open_at_end,
            guaranteed_usd=self.guaranteed_usd,
            realised_usd=pnl.realised_usd,
            unrealised_usd=pnl.unrealised_usd,
            fees_usd=pnl.fees_usd,
            capital_peak_usd=self.capital_peak_usd,
            capital_end_usd=self.capital_end_usd,
            bankroll_usd=self.bankroll_usd,
            latencies=self.stage_percentiles(),
            unhedged_sets=tuple(sorted(unhedged_sets)),
        )


def add_text_row(table: Table, *cells: str | Text) -> None:
    """Add a row whose strings are shown as they are: a market id, set id or reason holding "[...]"
    or ":name:" must not be read as rich markup or emoji (bad markup would raise mid-draw)."""
    table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells))


def format_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def latency_table(latencies: Iterable[StagePercentiles], *, title: str = "Stage latency (ms)") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("stage")
    for name in ("n", "p50", "p90", "p99", "max"):
        table.add_column(name, justify="right")
    for s in latencies:
        add_text_row(
            table,
            s.stage,
            str(s.count),
            format_ms(s.p50_ms),
            format_ms(s.p90_ms),
            format_ms(s.p99_ms),
            format_ms(s.max_ms),
        )
    return table


def render_summary(summary: RunSummary) -> RenderableType:
    """The summary as `rich` tables: counts and money, then stage latency."""
    table = Table(title=f"Run summary ({summary.mode}, {summary.duration_s:.1f} s)", title_justify="left")
    table.add_column("item")
    table.add_column("value", justify="right")
    by_kind = ", ".join(f"{k} {n}" for k, n in sorted(summary.opportunities_by_kind.items())) or "none"
    refused = summary.plans_by_status.get(ExecutionStatus.REFUSED.value, 0)
    sent = sorted((k, n) for k, n in summary.plans_by_status.items() if k != ExecutionStatus.REFUSED.value)
    by_status = ", ".join(f"{k} {n}" for k, n in sent) or "none"
    utilisation = summary.capital_utilisation
    rows = [
        ("opportunities seen", f"{summary.opportunities_seen} ({by_kind})"),
        ("plans executed", f"{summary.plans_executed} ({by_status})"),
        ("plans refused by risk", str(refused)),
        ("fills", str(summary.fills)),
        ("partially filled orders", str(summary.partial_fills)),
        ("incidents opened", str(summary.incidents_opened)),
        ("repairs", str(summary.repairs)),
        ("incidents open at end", str(summary.incidents_open_at_end)),
        ("guaranteed P&L", format_usd(summary.guaranteed_usd)),
        ("realised P&L", format_usd(summary.realised_usd)),
        ("unrealised P&L", format_usd(summary.unrealised_usd)),
        ("fees", format_usd(summary.fees_usd)),
        ("capital peak", format_usd(summary.capital_peak_usd)),
        ("capital at end", format_usd(summary.capital_end_usd)),
        ("bankroll", format_usd(summary.bankroll_usd)),
        ("capital utilisation", "-" if utilisation is None else f"{utilisation * 100:.2f}%"),
        ("unhedged sets", ", ".join(summary.unhedged_sets) or "none"),
    ]
    for item, value in rows:
        add_text_row(table, item, value)
    return Group(table, latency_table(summary.latencies))
