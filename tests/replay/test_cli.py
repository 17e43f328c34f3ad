"""`arb replay`: one line per scenario, exit 0 only when every check passed, 1 when one failed, 2
when a file is invalid (checked before anything runs); --json writes one object or a list."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from arb.cli import main

BASE = (Path(__file__).resolve().parent / "data" / "two_bucket.toml").read_text(encoding="utf-8")


def write(path: Path, expect: str, name: str = "two-bucket-event") -> Path:
    path.write_text(BASE.replace('name = "two-bucket-event"', f'name = "{name}"') + expect, encoding="utf-8")
    return path


def test_passing_scenarios_exit_0_and_write_one_json_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a.toml", "plans_min = 1\n", name="a-pass")
    b = write(tmp_path / "b.toml", 'guaranteed_profit_usd_min = "0.65"\n', name="b-pass")
    out = tmp_path / "results" / "all.json"
    assert main(["replay", str(a), str(b), "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["a-pass  PASS  (3 checks)", "b-pass  PASS  (3 checks)"]
    doc = orjson.loads(out.read_bytes())
    assert [d["scenario"]["name"] for d in doc] == ["a-pass", "b-pass"] and all(d["passed"] for d in doc)


def test_a_failed_check_exits_1_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "f.toml", "plans_max = 0\norders_sent_max = 0\n")
    out = tmp_path / "one.json"
    assert main(["replay", str(path), "--json", str(out)]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line == "two-bucket-event  FAIL  plans_max: expected <= 0, was 1; orders_sent_max: expected <= 0, was 2"
    doc = orjson.loads(out.read_bytes())
    assert isinstance(doc, dict) and doc["passed"] is False


def test_an_invalid_file_exits_2_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path / "good.toml", "plans_min = 1\n")
    bad = write(tmp_path / "bad.toml", "plans_min = -1\n")
    out = tmp_path / "never.json"
    assert main(["replay", str(good), str(bad), "--json", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # the good file did not run either
    assert "bad.toml: expect.plans_min: must be >= 0" in captured.err
    assert not out.exists()
    assert main(["replay", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read the scenario" in capsys.readouterr().err
