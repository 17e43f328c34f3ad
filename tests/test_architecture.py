"""Layering and public surface: `solvers` never imports `arb`; the exported names are pinned."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import solvers

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> set[str]:
    names: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_solvers_does_not_import_the_engine() -> None:
    imported = _imports("solvers")
    assert "arb" not in imported
    assert not imported & {"asyncio", "websockets", "httpx", "uvloop"}, "solvers is synchronous and venue-free"


def test_public_surface_is_pinned() -> None:
    assert sorted(solvers.__all__) == sorted(
        [
            "Action",
            "AllocationProblem",
            "AllocationResult",
            "Allocator",
            "AllocatorConfig",
            "AllocatorStats",
            "AtMostOne",
            "BackendUnavailableError",
            "CandidateSet",
            "Capital",
            "Conjunction",
            "Contract",
            "DataError",
            "DroppedSet",
            "Equivalent",
            "ExactlyOne",
            "FeeRule",
            "Implies",
            "InfeasibleError",
            "Instrument",
            "LPRun",
            "Leg",
            "Level",
            "LevelTake",
            "ModelStatusError",
            "NumericalError",
            "Outcome",
            "ProjectionResult",
            "Relation",
            "Rounding",
            "SetLimits",
            "SetPlan",
            "Side",
            "SolveTimeLimitError",
            "SolverError",
            "UnboundedError",
            "ZERO_FEE",
            "kalshi_fee",
            "polymarket_fee",
            "project_prices",
        ]
    )
    assert all(hasattr(solvers, name) for name in solvers.__all__)


def _module_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from pkg import wire`
    return names


IO_MODULES = {"asyncio", "websockets", "httpx", "uvloop", "socket", "time"}


def test_wire_and_session_layers_are_pure() -> None:
    """Sans-I/O: venue `wire` and `session` modules, books and domain never touch sockets or clocks."""
    pure = [ROOT / "arb" / name for name in ("domain.py", "book.py", "fixed.py", "errors.py")]
    pure += [ROOT / "arb" / "venues" / name for name in ("base.py", "fields.py")]
    for venue in ("kalshi", "polymarket"):
        pure += sorted((ROOT / "arb" / "venues" / venue).glob("wire*.py"))
        pure += sorted((ROOT / "arb" / "venues" / venue).glob("session*.py"))
    assert len(pure) >= 8, "expected both venues' wire and session modules"
    for path in pure:
        imported = {name.split(".")[0] for name in _module_imports(path)}
        assert not imported & IO_MODULES, f"{path.relative_to(ROOT)} imports {imported & IO_MODULES}"


def test_wire_formats_stay_inside_the_venue_packages() -> None:
    """Only `arb/venues/*` may import a venue's wire module; the engine sees domain types."""
    for path in (ROOT / "arb").rglob("*.py"):
        if "venues" in path.relative_to(ROOT / "arb").parts:
            continue
        leaked = {name for name in _module_imports(path) if ".wire" in name}
        assert not leaked, f"{path.relative_to(ROOT)} imports {leaked}"


def test_the_engine_does_not_import_benchmarks() -> None:
    """`benchmarks` is imported only lazily, inside the `arb bench` commands: importing every
    module of the engine leaves it unloaded (a fresh interpreter, so nothing else loaded it)."""
    script = (
        "import importlib, pkgutil, sys, arb\n"
        "for info in pkgutil.walk_packages(arb.__path__, 'arb.'):\n"
        "    importlib.import_module(info.name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'benchmarks' or m.startswith('benchmarks.'))\n"
        "print(len([m for m in sys.modules if m.startswith('arb.')]), loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    count, loaded = out.stdout.split(" ", 1)
    assert int(count) >= 20 and loaded.strip() == "[]", out.stdout
    for path in (ROOT / "arb").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        top_level = {n for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)) for n in _names(node)}
        assert not any(n.split(".")[0] == "benchmarks" for n in top_level), f"{path.relative_to(ROOT)}"


def _names(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return [alias.name for alias in node.names]
