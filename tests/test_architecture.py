"""Layering and public surface: `solvers` never imports `arb`; the exported names are pinned."""

from __future__ import annotations

import ast
from pathlib import Path

import solvers

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> set[str]:
    names = set()
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
            "Action", "AllocationProblem", "AllocationResult", "Allocator", "AllocatorConfig", "AtMostOne",
            "BackendUnavailableError", "CandidateSet", "Capital", "Conjunction", "Contract", "DataError",
            "DroppedSet", "Equivalent", "ExactlyOne", "FeeRule", "Implies", "InfeasibleError", "Instrument",
            "LPRun", "Leg", "Level", "LevelTake", "ModelStatusError", "NumericalError", "Outcome", "Relation",
            "Rounding", "SetLimits", "SetPlan", "Side", "SolveTimeLimitError", "SolverError", "UnboundedError",
            "ZERO_FEE", "kalshi_fee", "polymarket_fee",
        ]
    )
    assert all(hasattr(solvers, name) for name in solvers.__all__)
