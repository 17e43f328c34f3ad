"""Golden files: decoded domain events of each captured fixture, pinned as JSON.

Tests call `assert_golden(name, events)`. With ARB_WRITE_GOLDEN=1 (or `python -m tests.venues.golden
--write`, which just sets it and runs the venue fixture tests) the files are (re)written instead;
review the diff before committing.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "venues"
GOLDEN = FIXTURES / "golden"


def fixture_path(relative: str) -> Path:
    return FIXTURES / relative


def jsonable(value: Any) -> Any:
    """Domain values as plain JSON: dataclasses tagged with their type, enums by value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"type": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = jsonable(getattr(value, f.name))
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted(jsonable(v) for v in value)
    return value


def assert_golden(name: str, events: Any) -> None:
    """Compare `events` (domain values) with golden/<name>.json, or write it when asked to."""
    path = GOLDEN / f"{name}.json"
    actual = jsonable(events)
    if os.environ.get("ARB_WRITE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
        return
    assert path.exists(), f"golden file {path} is missing; run `python -m tests.venues.golden --write`"
    expected = json.loads(path.read_text())
    assert actual == expected, f"decoded output of {name} differs from {path}"


if __name__ == "__main__":
    if "--write" in sys.argv:
        os.environ["ARB_WRITE_GOLDEN"] = "1"
    import pytest

    raise SystemExit(pytest.main(["-p", "no:cacheprovider", "-q", str(Path(__file__).parent)]))
