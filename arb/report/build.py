"""`arb report`: read a ledger or a replay's JSON, compute the figures (`arb.report.metrics`), draw
them (matplotlib, Agg backend, no display) and write a markdown page linking the PNGs.

Inputs: a ledger file (SQLite, opened with `Ledger`, which applies any missing migration, as every
command that opens a ledger does), or the JSON `arb replay --json` writes (one scenario's document,
or a list of them: one report per scenario, in a directory named after it). A replay document's
`ledger` is `export_ledger` of the run's ledger; its `summary` adds the run's stage latencies and
bankroll.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from arb.errors import ConfigError
from arb.ledger.export import decimal_text
from arb.ops.summary import format_usd
from arb.report.metrics import (
    CapitalUse,
    DailyPnL,
    Drawdown,
    EquityCurve,
    FillCounts,
    capital_use,
    daily_pnl,
    daily_returns,
    drawdown_series,
    equity_curve,
    fill_counts,
    latencies_by_venue,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
)

__all__ = ["Report", "ReportSource", "build_report", "load_sources", "write_report"]

_ZERO = Decimal(0)
_SQLITE_MAGIC = b"SQLite format 3\x00"
_UNMARKED_SHOWN = 8  # positions named on the page; the rest counted


@dataclass(frozen=True, slots=True)
class ReportSource:
    """One run to report on: its name, the ledger export, and what a replay adds (the run
    summary's bankroll, the profit its completed plans locked in, and stage latency percentiles;
    None for a bare ledger)."""

    name: str
    ledger: Mapping[str, Any]
    bankroll_usd: Decimal | None = None
    stage_latencies: tuple[Mapping[str, Any], ...] = ()
    guaranteed_usd: Decimal | None = None


def _replay_source(doc: Any, where: str) -> ReportSource:
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: a replay document is a JSON object, got {type(doc).__name__}")
    if "ledger" not in doc:
        if "fills" in doc and "cash_flows" in doc:  # a bare export_ledger document
            return ReportSource(Path(where).stem, doc)
        raise ConfigError(f"{where}: no 'ledger' key: not the JSON of `arb replay --json` (nor a ledger export)")
    ledger = doc["ledger"]
    if not isinstance(ledger, dict):
        raise ConfigError(f"{where}: 'ledger' must be an object (export_ledger), got {type(ledger).__name__}")
    scenario = doc.get("scenario") or {}
    name = str(scenario.get("name") or Path(where).stem)
    summary = doc.get("summary") or {}
    # the replay's summary holds RunSummary's fields flat (bankroll_usd); RunSummary.to_json nests them
    bankroll = _summary_usd(summary, "bankroll_usd", "capital", where)
    guaranteed = _summary_usd(summary, "guaranteed_usd", "pnl", where)
    latencies = tuple(s for s in summary.get("latency") or () if isinstance(s, dict))
    return ReportSource(name, ledger, bankroll, latencies, guaranteed)


def _summary_usd(summary: Mapping[str, Any], key: str, nested: str, where: str) -> Decimal | None:
    raw = summary.get(key, (summary.get(nested) or {}).get(key))
    if raw is None:
        return None
    try:
        value = Decimal(raw) if isinstance(raw, str) else None
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite():
        raise ConfigError(f"{where}: summary {key} must be decimal text, got {raw!r}")
    return value


def load_sources(path: Path) -> list[ReportSource]:
    """The runs in `path`: a ledger file (SQLite) or a replay JSON (module docstring)."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file (a ledger .sqlite or a replay .json)")
    with path.open("rb") as handle:
        head = handle.read(len(_SQLITE_MAGIC))
    if head == _SQLITE_MAGIC:
        from arb.ledger.export import export_ledger
        from arb.ledger.store import Ledger

        with Ledger(path) as ledger:
            return [ReportSource(path.stem, export_ledger(ledger))]
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: neither a SQLite ledger nor JSON: {exc}") from exc
    if isinstance(doc, list):
        if not doc:
            raise ConfigError(f"{path}: an empty list of replay documents")
        return [_replay_source(d, f"{path}[{i}]") for i, d in enumerate(doc)]
    return [_replay_source(doc, str(path))]


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    starting_capital_usd: Decimal
    capital_source: str
    curve: EquityCurve
    drawdown: Drawdown
    days: tuple[DailyPnL, ...]
    returns: tuple[Decimal, ...]
    sharpe: Decimal | None
    sortino: Decimal | None
    capital: tuple[CapitalUse, ...]
    counts: FillCounts
    latencies_ms: Mapping[str, Sequence[int]]
    pnl: Mapping[str, Any]
    stage_latencies: tuple[Mapping[str, Any], ...]
    guaranteed_usd: Decimal | None = None

    @property
    def pnl_usd(self) -> Decimal:
        return self.curve.final_usd - self.starting_capital_usd


def _starting_capital(source: ReportSource, override: Decimal | None) -> tuple[Decimal, str]:
    if override is not None:
        if not override.is_finite() or override < 0:
            raise ConfigError(f"--capital must be a non-negative amount, got {override}")
        return override, "given (--capital)"
    opening = sum((Decimal(c["opening_usd"]) for c in source.ledger.get("cash_flows", [])), _ZERO)
    if opening > 0:
        return opening, "the venues' cash before the first fill (ledger)"
    if source.bankroll_usd is not None and source.bankroll_usd > 0:
        return source.bankroll_usd, "the run's bankroll (replay summary)"
    return _ZERO, "unknown (no opening cash on file; give --capital)"


def build_report(source: ReportSource, *, starting_capital_usd: Decimal | None = None) -> Report:
    capital, capital_source = _starting_capital(source, starting_capital_usd)
    doc = source.ledger
    curve = equity_curve(doc, capital)
    pnl = doc.get("pnl") or {}
    days = daily_pnl(curve, pnl.get("by_day") or ())
    returns = daily_returns(days, capital)
    return Report(
        name=source.name,
        starting_capital_usd=capital,
        capital_source=capital_source,
        curve=curve,
        drawdown=max_drawdown(curve),
        days=tuple(days),
        returns=tuple(returns),
        sharpe=sharpe_ratio(returns),
        sortino=sortino_ratio(returns),
        capital=tuple(capital_use(doc)),
        counts=fill_counts(doc),
        latencies_ms=latencies_by_venue(doc),
        pnl=pnl,
        stage_latencies=source.stage_latencies,
        guaranteed_usd=source.guaranteed_usd,
    )


# ---- rendering -----------------------------------------------------------------------------------


_SHORT_RUN_MS = 86_400_000  # a run shorter than a day is drawn in seconds from its first event


class _TimeAxis:
    """x values for a run: UTC datetimes, or seconds since the first event for a run shorter than
    a day (a replay lasts seconds; date ticks would show only the fractions)."""

    def __init__(self, report: Report) -> None:
        times = [p.t_ms for p in report.curve.points]
        self.first = min(times, default=0)
        self.short = bool(times) and max(times) - self.first < _SHORT_RUN_MS

    def __call__(self, ms: int) -> Any:
        return (ms - self.first) / 1000 if self.short else datetime.fromtimestamp(ms / 1000, tz=UTC)

    def label(self, axes: Any, figure: Any) -> None:
        if self.short:
            start = datetime.fromtimestamp(self.first / 1000, tz=UTC).isoformat(timespec="milliseconds")
            axes.set_xlabel(f"seconds since {start}")
        else:
            axes.set_xlabel("time (UTC)")
            figure.autofmt_xdate()


def _usd(value: Decimal) -> str:
    return format_usd(value)


def _ratio(value: Decimal | None, why: str) -> str:
    return f"{value:.4f}" if value is not None else f"n/a ({why})"


def _nearest_rank(values: Sequence[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _figure(width: float = 9, height: float = 4.5) -> Any:
    from matplotlib.figure import Figure  # Agg canvas on savefig; no pyplot state, no display

    return Figure(figsize=(width, height), dpi=100)


def _save(figure: Any, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})


def _integer_ticks(*axes_list: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    for axes in axes_list:
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))


def _plot_equity(report: Report, path: Path) -> None:
    figure = _figure(9, 6)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    x = _TimeAxis(report)
    times = [x(p.t_ms) for p in report.curve.points]
    top.step(times, [float(p.equity_usd) for p in report.curve.points], where="post", color="tab:blue")
    top.axhline(float(report.starting_capital_usd), color="grey", linewidth=0.8, linestyle="--", label="start")
    if report.guaranteed_usd is not None:
        locked = float(report.starting_capital_usd + report.guaranteed_usd)
        top.axhline(locked, color="tab:green", linewidth=0.8, linestyle=":", label="start + guaranteed")
        top.legend(loc="best")
    top.set_ylabel("equity (USD)")
    top.set_title(f"{report.name}: equity (marked to market)")
    drawdowns = drawdown_series(report.curve)
    bottom.fill_between(
        [x(t) for t, _ in drawdowns], [float(d) for _, d in drawdowns], step="post", color="tab:red", alpha=0.5
    )
    bottom.set_ylabel("drawdown (USD)")
    x.label(bottom, figure)
    _save(figure, path)


def _plot_daily(report: Report, path: Path) -> None:
    figure = _figure()
    axes = figure.subplots()
    values = [float(d.pnl_usd) for d in report.days]
    axes.bar([d.day for d in report.days], values, color=["tab:green" if v >= 0 else "tab:red" for v in values])
    axes.axhline(0, color="grey", linewidth=0.8)
    axes.set_ylabel("P&L (USD)")
    axes.set_title(f"{report.name}: daily P&L (UTC days)")
    axes.tick_params(axis="x", labelrotation=45)
    _save(figure, path)


def _plot_capital(report: Report, path: Path) -> None:
    figure = _figure()
    axes = figure.subplots()
    x = _TimeAxis(report)
    first = min((p.t_ms for p in report.curve.points), default=0)
    last = max((p.t_ms for p in report.curve.points), default=0)
    for use in report.capital:
        if use.series:  # nothing in use before the first event; the last level holds to the run's end
            times = [first, *(t for t, _ in use.series), last]
            used = [0.0, *(float(u) for _, u in use.series), float(use.series[-1][1])]
            axes.step([x(t) for t in times], used, where="post", label=use.venue)
    axes.set_ylabel("capital in use (USD)")
    x.label(axes, figure)
    axes.set_title(f"{report.name}: capital in use by venue")
    if any(use.series for use in report.capital):
        axes.legend()
    _save(figure, path)


def _plot_fills(report: Report, path: Path) -> None:
    figure = _figure(9, 4)
    left, right = figure.subplots(1, 2)
    counts = report.counts
    labels = [f"{venue}\n{action}" for venue, action in counts.fills]
    left.bar(labels, list(counts.fills.values()), color="tab:blue")
    left.set_title("standing fills by venue and action")
    names = ["incidents", "repair intents", "repair orders", "reversed fills"]
    right.bar(
        names,
        [counts.incidents, counts.repair_intents, counts.repair_orders, counts.reversed_fills],
        color="tab:orange",
    )
    right.set_title("repairs")
    _integer_ticks(left, right)
    right.tick_params(axis="x", labelrotation=20)
    figure.suptitle(f"{report.name}: fills and repairs")
    _save(figure, path)


def _plot_latency(report: Report, path: Path) -> None:
    figure = _figure()
    axes = figure.subplots()
    for venue, values in report.latencies_ms.items():
        top = max(values)
        bins = range(top + 2) if top < 60 else 60
        axes.hist(values, bins=bins, alpha=0.6, label=f"{venue} (n={len(values)})")
    axes.set_xlabel("journal to first answer (ms)")
    axes.set_ylabel("orders")
    _integer_ticks(axes)
    axes.set_title(f"{report.name}: order latency")
    if report.latencies_ms:
        axes.legend()
    _save(figure, path)


_PLOTS = (
    ("equity.png", "Equity and drawdown", _plot_equity),
    ("daily_pnl.png", "Daily P&L", _plot_daily),
    ("capital.png", "Capital in use by venue", _plot_capital),
    ("fills.png", "Fills and repairs", _plot_fills),
    ("latency.png", "Order latency", _plot_latency),
)


def _markdown(report: Report) -> str:
    dd = report.drawdown
    days = len(report.days)
    ratio_why = "fewer than 2 days" if days < 2 else "no starting capital" if not report.returns else "undefined"
    pnl = report.pnl
    lines = [
        f"# P&L report: {report.name}",
        "",
        "Conventions: equity is marked to market (cash moved by fills and settlements plus open positions at "
        "their latest marks; a position without a mark at its latest fill price). Daily P&L is the change of "
        "equity over each UTC day; returns are daily P&L over the starting capital; Sharpe = mean / sample "
        "standard deviation of daily returns x sqrt(365), Sortino = mean / downside deviation "
        "(sqrt(mean(min(r, 0)^2)), target 0) x sqrt(365); no risk-free rate.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| starting capital | {_usd(report.starting_capital_usd)} ({report.capital_source}) |",
        f"| final equity | {_usd(report.curve.final_usd)} |",
        f"| P&L (marked) | {_usd(report.pnl_usd)} |",
        *(
            [f"| guaranteed by the completed plans (replay summary) | {_usd(report.guaranteed_usd)} |"]
            if report.guaranteed_usd is not None
            else []
        ),
        f"| realised (ledger) | {_usd(Decimal(pnl.get('realised_usd', '0')))} |",
        f"| unrealised (ledger) | {_usd(Decimal(pnl.get('unrealised_usd', '0')))} |",
        f"| fees | {_usd(Decimal(pnl.get('fees_usd', '0')))} |",
        f"| max drawdown | {_usd(dd.usd)} ({dd.fraction * 100:.4f}% of peak) |",
        f"| days | {days} |",
        f"| Sharpe (annualised) | {_ratio(report.sharpe, ratio_why)} |",
        f"| Sortino (annualised) | {_ratio(report.sortino, ratio_why if days < 2 else 'no losing day')} |",
        f"| standing fills | {report.counts.total_fills} |",
        f"| incidents (open) | {report.counts.incidents} ({report.counts.incidents_open}) |",
        f"| repair intents / orders | {report.counts.repair_intents} / {report.counts.repair_orders} |",
        "",
    ]
    if report.curve.unmarked:
        shown = [":".join(k) for k in report.curve.unmarked[:_UNMARKED_SHOWN]]
        more = len(report.curve.unmarked) - len(shown)
        names = ", ".join(shown) + (f" and {more} more" if more else "")
        lines += [
            f"{len(report.curve.unmarked)} open position(s) without a mark, valued at their latest fill price: {names}",
            "",
        ]
    for file, title, _ in _PLOTS:
        lines += [f"## {title}", "", f"![{title}]({file})", ""]
        if file == "daily_pnl.png":
            lines += ["| day (UTC) | P&L (marked) | realised (ledger) | equity at end |", "| --- | --- | --- | --- |"]
            lines += [
                f"| {d.day} | {_usd(d.pnl_usd)} | {_usd(d.realised_usd)} | {_usd(d.equity_end_usd)} |"
                for d in report.days
            ]
            lines.append("")
        elif file == "capital.png":
            lines += ["| venue | opening cash | peak in use | peak / opening |", "| --- | --- | --- | --- |"]
            for use in report.capital:
                fraction = use.peak_fraction
                share = "n/a" if fraction is None else f"{fraction * 100:.2f}%"
                lines.append(f"| {use.venue} | {_usd(use.opening_usd)} | {_usd(use.peak_usd)} | {share} |")
            lines.append("")
        elif file == "fills.png":
            lines += ["| venue | action | fills | contracts |", "| --- | --- | --- | --- |"]
            for key, count in report.counts.fills.items():
                lines.append(f"| {key[0]} | {key[1]} | {count} | {decimal_text(report.counts.contracts[key])} |")
            statuses = ", ".join(f"{s} {n}" for s, n in report.counts.orders_by_status.items()) or "none"
            lines += ["", f"Orders by status: {statuses}.", ""]
        elif file == "latency.png":
            lines += ["| venue | orders | p50 ms | p90 ms | p99 ms | max ms |", "| --- | --- | --- | --- | --- | --- |"]
            for venue, values in report.latencies_ms.items():
                p50, p90, p99 = (_nearest_rank(values, q) for q in (0.5, 0.9, 0.99))
                lines.append(f"| {venue} | {len(values)} | {p50} | {p90} | {p99} | {max(values)} |")
            lines += ["", "Journal to first answer, at the ledger's millisecond resolution (nearest rank).", ""]
            if report.stage_latencies:
                lines += [
                    "Engine stages (run summary):",
                    "",
                    "| stage | count | p50 ms | p90 ms | p99 ms | max ms |",
                    "| --- | --- | --- | --- | --- | --- |",
                ]
                for s in report.stage_latencies:
                    cells = [s.get(k) for k in ("stage", "count", "p50_ms", "p90_ms", "p99_ms", "max_ms")]
                    lines.append("| " + " | ".join("n/a" if c is None else str(c) for c in cells) + " |")
                lines.append("")
    return "\n".join(lines)


def write_report(report: Report, out_dir: Path) -> Path:
    """The PNGs and `report.md` in `out_dir` (created); returns the page's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for file, _, plot in _PLOTS:
        plot(report, out_dir / file)
    page = out_dir / "report.md"
    page.write_text(_markdown(report), encoding="utf-8")
    return page


def _directory_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"


def write_reports(
    sources: Sequence[ReportSource], out_dir: Path, *, starting_capital_usd: Decimal | None = None
) -> list[Path]:
    """One report per source: in `out_dir` itself for one, in `out_dir/<name>/` for several."""
    pages = []
    for source in sources:
        report = build_report(source, starting_capital_usd=starting_capital_usd)
        target = out_dir if len(sources) == 1 else out_dir / _directory_name(source.name)
        pages.append(write_report(report, target))
    return pages
