"""`arb sweep GRID.toml`: replay scenarios over a grid of configurations on Ray (docs/report.md#sweeps).

The grid file names the scenarios and the axes; every point of the cartesian product of the axes,
for every scenario, is one independent Ray task that calls `arb.replay.runner.run_scenario(path,
overrides=point)` (the same replay as `arb replay`, bit-reproducible, so a point gives the same
row wherever it runs). The rows come back in grid order and make one table (markdown and CSV), one
plot, and one replay JSON per run (`arb report` reads them).

    scenarios = ["../scenarios/capital-bound.toml"]      # relative to the grid file
    [axes]                                               # dotted config key -> values
    "risk.min_profit_usd" = ["0.01", "0.05", "0.10"]
    "risk.kelly_fraction" = ["0.1", "0.25", "0.5"]

The file is checked before any task starts: unknown top-level keys, an empty or repeated axis or
value, a missing scenario, or an override the scenario's configuration refuses (unknown key, bad
value) is a `ConfigError` naming it. Ray is the optional `ray` extra (`pip install -e '.[ray]'`):
a local Ray (`ray.init(num_cpus=...)`) by default, an existing cluster with `--address`
(`ray://host:10001` or `auto`); the cluster's workers need this package installed.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import sys
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from arb.errors import ArbError, ConfigError

__all__ = ["Grid", "GridPoint", "SweepRow", "load_grid", "parse_grid", "run_sweep", "sweep_rows", "write_sweep"]

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")
_MAX_POINTS = 10_000
_NOT_EXECUTED = frozenset({"refused", "not_executed"})  # a replay's plan statuses that sent nothing
Scalar = str | int | float | bool


@dataclass(frozen=True, slots=True)
class GridPoint:
    """One run: a scenario file and the overrides (axis key -> value, in axis order)."""

    index: int
    scenario: Path
    overrides: tuple[tuple[str, Scalar], ...]


@dataclass(frozen=True, slots=True)
class Grid:
    source: str
    scenarios: tuple[Path, ...]
    axes: tuple[tuple[str, tuple[Scalar, ...]], ...]

    def points(self) -> list[GridPoint]:
        """Scenario-major, then the axes' cartesian product with the last axis varying fastest."""
        keys = [key for key, _ in self.axes]
        combos = list(itertools.product(*(values for _, values in self.axes)))
        return [
            GridPoint(i, scenario, tuple(zip(keys, combo)))
            for i, (scenario, combo) in enumerate(itertools.product(self.scenarios, combos))
        ]


def _flatten(table: Mapping[str, Any], prefix: str, where: str) -> list[tuple[str, Any]]:
    """`[axes]` as dotted key -> list: a quoted key ("risk.min_profit_usd") and a TOML dotted key
    (risk.min_profit_usd, which TOML reads as nested tables) mean the same."""
    out: list[tuple[str, Any]] = []
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out += _flatten(value, dotted + ".", where)
        else:
            out.append((dotted, value))
    return out


def parse_grid(text: str, *, source: str = "<grid>", base: Path | None = None) -> Grid:
    """The grid in TOML `text`; scenario paths are relative to `base` (the grid file's directory).
    Checks the file's shape; `check_grid` checks the overrides against each scenario."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"scenarios", "axes"})
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; a grid has `scenarios` and `[axes]`")
    names = data.get("scenarios")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{source}: `scenarios` must be a non-empty list of scenario file paths")
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: `scenarios` lists a file twice")
    root = base or Path(".")
    scenarios = tuple((root / name) for name in names)
    for name, path in zip(names, scenarios):
        if not path.is_file():
            raise ConfigError(f"{source}: scenario {name!r} not found (looked at {path})")
    table = data.get("axes")
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{source}: `[axes]` must be a table of dotted config key -> list of values")
    axes: list[tuple[str, tuple[Scalar, ...]]] = []
    for key, values in _flatten(table, "", source):
        where = f"{source}: axes.{key}"
        if not _KEY.fullmatch(key):
            raise ConfigError(f"{where}: not a dotted config key")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: must be a non-empty list of values, got {values!r}")
        for value in values:
            if not isinstance(value, (str, int, float, bool)):
                raise ConfigError(f"{where}: values must be strings, numbers or booleans, got {value!r}")
        if len({(type(v), v) for v in values}) != len(values):
            raise ConfigError(f"{where}: a value is listed twice")
        axes.append((key, tuple(values)))
    grid = Grid(source, scenarios, tuple(axes))
    count = len(scenarios) * len(list(itertools.product(*(v for _, v in axes))))
    if count > _MAX_POINTS:
        raise ConfigError(f"{source}: {count} runs; at most {_MAX_POINTS} in one sweep")
    return grid


def load_grid(path: Path) -> Grid:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the grid ({exc})") from None
    return parse_grid(text, source=str(path), base=path.parent)


def check_grid(grid: Grid) -> None:
    """Every scenario loads, and takes every axis value as an override (the scenario's own config
    validation: an unknown key or a bad value is named here, before any task runs)."""
    from arb.replay.scenario import load_scenario

    with tempfile.TemporaryDirectory(prefix="arb-sweep-") as directory:
        for path in grid.scenarios:
            scenario = load_scenario(path)
            for key, values in grid.axes:
                for value in values:
                    try:
                        scenario.app_config(Path(directory), {key: value})
                    except ConfigError as exc:
                        raise ConfigError(f"{grid.source}: axes.{key} = {value!r} for {path.name}: {exc}") from None


@dataclass(frozen=True, slots=True)
class SweepRow:
    """One run's line of the table; `error` when the run itself failed (the task raised)."""

    index: int
    scenario: str
    file: str
    overrides: tuple[tuple[str, Scalar], ...]
    passed: bool
    plans: int  # handed to the executor, refused ones included
    executed: int  # plans that sent orders (neither refused nor left unexecuted)
    orders: int
    guaranteed_usd: Decimal
    realised_usd: Decimal
    fees_usd: Decimal
    failed_checks: tuple[str, ...]
    error: str = ""


def row_from_document(point: GridPoint, document: Mapping[str, Any]) -> SweepRow:
    """The table's figures from a replay's JSON document (docs/replay.md)."""
    summary = document.get("summary") or {}
    pnl = (document.get("ledger") or {}).get("pnl") or {}
    return SweepRow(
        index=point.index,
        scenario=str((document.get("scenario") or {}).get("name", point.scenario.stem)),
        file=point.scenario.name,
        overrides=point.overrides,
        passed=bool(document.get("passed")),
        plans=len(document.get("plans") or ()),
        executed=sum(1 for p in document.get("plans") or () if p.get("status") not in _NOT_EXECUTED),
        orders=len((document.get("ledger") or {}).get("orders") or ()),
        guaranteed_usd=Decimal(str(summary.get("guaranteed_usd", "0"))),
        realised_usd=Decimal(str(pnl.get("realised_usd", "0"))),
        fees_usd=Decimal(str(pnl.get("fees_usd", "0"))),
        failed_checks=tuple(c["name"] for c in document.get("checks") or () if not c.get("passed")),
    )


def replay_point(scenario: str, overrides: Sequence[tuple[str, Scalar]]) -> bytes:
    """One grid point: the replay's JSON bytes (what a Ray task runs and returns)."""
    from arb.replay.runner import run_scenario

    return run_scenario(Path(scenario), overrides=dict(overrides)).to_json_bytes()


Runner = Callable[[str, Sequence[tuple[str, Scalar]]], bytes]


def sweep_rows(
    grid: Grid, *, address: str | None = None, num_cpus: int | None = None, runner: Runner = replay_point
) -> list[tuple[SweepRow, bytes | None]]:
    """Every grid point as a Ray task; the rows (and each run's JSON) in grid order. Connects to
    the cluster at `address`, else starts a local Ray with `num_cpus` (and stops what it started)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("arb sweep needs Ray: pip install -e '.[ray]'") from None
    started = False
    if not ray.is_initialized():
        if address is not None:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(runner)
        points = grid.points()
        refs = [task.remote(str(p.scenario), p.overrides) for p in points]
        out: list[tuple[SweepRow, bytes | None]] = []
        for point, ref in zip(points, refs, strict=True):
            try:
                raw: bytes = ray.get(ref)
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None) or exc
                out.append((_failed_row(point, f"{type(cause).__name__}: {cause}"), None))
                continue
            out.append((row_from_document(point, orjson.loads(raw)), raw))
        return out
    finally:
        if started:
            ray.shutdown()


def _failed_row(point: GridPoint, error: str) -> SweepRow:
    zero = Decimal(0)
    first_line = error.strip().splitlines()[0] if error.strip() else error
    return SweepRow(
        point.index,
        point.scenario.stem,
        point.scenario.name,
        point.overrides,
        False,
        0,
        0,
        0,
        zero,
        zero,
        zero,
        (),
        first_line,
    )


# ---- output --------------------------------------------------------------------------------------


def _text(value: Scalar | Decimal) -> str:
    if isinstance(value, Decimal):
        from arb.ledger.export import decimal_text

        return decimal_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _columns(grid: Grid) -> list[str]:
    return [
        "scenario",
        *(key for key, _ in grid.axes),
        "plans",
        "executed",
        "orders",
        "guaranteed_usd",
        "realised_usd",
        "fees_usd",
        "passed",
        "failed_checks",
    ]


def _cells(row: SweepRow) -> list[str]:
    return [
        row.scenario,
        *(_text(value) for _, value in row.overrides),
        str(row.plans),
        str(row.executed),
        str(row.orders),
        _text(row.guaranteed_usd),
        _text(row.realised_usd),
        _text(row.fees_usd),
        "yes" if row.passed else "no",
        row.error or " ".join(row.failed_checks),
    ]


def table_csv(grid: Grid, rows: Sequence[SweepRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_columns(grid))
    writer.writerows(_cells(r) for r in rows)
    return buffer.getvalue()


def table_markdown(grid: Grid, rows: Sequence[SweepRow]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    columns = _columns(grid)
    return "\n".join([line(columns), line(["---"] * len(columns)), *(line(_cells(r)) for r in rows)]) + "\n"


def _plot(grid: Grid, rows: Sequence[SweepRow], path: Path) -> None:
    """Guaranteed P&L per point: a heatmap per scenario for a two-axis grid, else bars."""
    from matplotlib.figure import Figure

    scenarios = list(dict.fromkeys(r.scenario for r in rows))
    if len(grid.axes) == 2:
        (key_x, xs), (key_y, ys) = grid.axes
        figure = Figure(figsize=(4.5 * len(scenarios) + 1, 4), dpi=100)
        axes_list = figure.subplots(1, len(scenarios), squeeze=False)[0]
        for axes, name in zip(axes_list, scenarios):
            values = [[0.0] * len(xs) for _ in ys]
            for row in (r for r in rows if r.scenario == name):
                (_, x), (_, y) = row.overrides
                values[ys.index(y)][xs.index(x)] = float(row.guaranteed_usd)
            image = axes.imshow(values, origin="lower", cmap="viridis", aspect="auto")
            axes.set_xticks(range(len(xs)), [_text(x) for x in xs])
            axes.set_yticks(range(len(ys)), [_text(y) for y in ys])
            axes.set_xlabel(key_x)
            axes.set_ylabel(key_y)
            axes.set_title(name)
            middle = (min(map(min, values)) + max(map(max, values))) / 2
            for j, row_values in enumerate(values):
                for i, value in enumerate(row_values):
                    colour = "black" if value > middle else "white"  # readable on viridis' light and dark ends
                    axes.text(i, j, f"{value:.2f}", ha="center", va="center", color=colour, fontsize=8)
            figure.colorbar(image, ax=axes, label="guaranteed P&L (USD)")
    else:
        figure = Figure(figsize=(max(6.0, 0.5 * len(rows) + 2), 4.5), dpi=100)
        axes = figure.subplots()
        labels = [f"{r.index}" for r in rows]
        colours = ["tab:green" if r.passed else "tab:red" for r in rows]
        axes.bar(labels, [float(r.guaranteed_usd) for r in rows], color=colours)
        axes.set_xlabel("run (see sweep.md; red: checks failed)")
        axes.set_ylabel("guaranteed P&L (USD)")
    figure.suptitle("sweep: guaranteed P&L per configuration")
    figure.tight_layout()
    figure.savefig(path, format="png", metadata={"Software": None})


def _run_name(row: SweepRow) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{row.index:03d}-{row.scenario}")


def write_sweep(grid: Grid, results: Sequence[tuple[SweepRow, bytes | None]], out_dir: Path) -> Path:
    """`sweep.md` (the table, the plot), `sweep.csv`, `sweep.png` and `runs/NNN-<scenario>.json`
    (each run's replay JSON) in `out_dir`; returns the markdown page."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = out_dir / "runs"
    runs.mkdir(exist_ok=True)
    rows = [row for row, _ in results]
    for row, raw in results:
        if raw is not None:
            (runs / f"{_run_name(row)}.json").write_bytes(raw)
    (out_dir / "sweep.csv").write_text(table_csv(grid, rows), encoding="utf-8")
    try:
        _plot(grid, rows, out_dir / "sweep.png")
        plot_line = "![guaranteed P&L per configuration](sweep.png)\n"
    except ImportError:
        plot_line = "(no plot: matplotlib is not installed; pip install -e '.[report]')\n"
    passed = sum(1 for r in rows if r.passed)
    page = out_dir / "sweep.md"
    page.write_text(
        f"# Sweep: {Path(grid.source).name}\n\n"
        f"{len(rows)} runs ({len(grid.scenarios)} scenario(s) x "
        f"{' x '.join(str(len(v)) for _, v in grid.axes)} configurations), {passed} passed their checks. "
        "Each run's replay JSON is in runs/ (`arb report runs/FILE.json`).\n\n"
        + plot_line
        + "\n"
        + table_markdown(grid, rows),
        encoding="utf-8",
    )
    return page


def run_sweep(args: Any) -> int:
    """The command: 0 when every run passed, 1 when some did not, 2 on a bad grid."""
    try:
        grid = load_grid(args.grid)
        check_grid(grid)
        if args.num_cpus is not None and args.num_cpus < 1:
            raise ConfigError(f"--num-cpus must be at least 1, got {args.num_cpus}")
        results = sweep_rows(grid, address=args.address, num_cpus=args.num_cpus)
    except ArbError as exc:
        print(f"arb sweep: {exc}", file=sys.stderr)
        return 2
    page = write_sweep(grid, results, args.out)
    print(table_markdown(grid, [row for row, _ in results]), end="")
    print(page)
    return 0 if all(row.passed for row, _ in results) else 1
