"""`arb links suggest` end to end: the FOMC fixtures through the CLI, and bad inputs failing closed
(exit 2, a message on stderr, no output file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from arb.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "cross_venue" / "fomc_2024"
KALSHI = FIXTURES / "kalshi_markets.json"
POLYMARKET = FIXTURES / "polymarket_markets.json"


def _suggest(kalshi: Path, polymarket: Path, out: Path, *extra: str) -> int:
    return main(
        ["links", "suggest", "--kalshi", str(kalshi), "--polymarket", str(polymarket), "--json", str(out), *extra]
    )


def test_fomc_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pairs.json"
    assert _suggest(KALSHI, POLYMARKET, out, "--limit", "5") == 0
    doc = json.loads(out.read_text())
    assert set(doc) == {"pairs"} and doc["pairs"]
    for pair in doc["pairs"]:
        assert {"kalshi", "polymarket", "orientation", "score", "suggested"} <= set(pair)
        assert isinstance(pair["kalshi"], str) and pair["polymarket"].isdigit()
        assert pair["orientation"] in {"same", "inverted"} and isinstance(pair["suggested"], bool)
        assert isinstance(pair["score"], float) and 0.0 <= pair["score"] <= 1.0
        assert pair["reasons"] and all(isinstance(r, str) for r in pair["reasons"])
    assert doc["pairs"] == sorted(doc["pairs"], key=lambda p: (-p["score"], p["kalshi"], p["polymarket"]))

    expected = json.loads((FIXTURES / "expected_pairs.json").read_text())["pairs"]
    truth = {(p["kalshi"], p["polymarket"]): p["orientation"] for p in expected}
    csv_truth = {(p["kalshi"], p["polymarket"]) for p in expected if p["source"] != "synthesized"}
    suggested = [p for p in doc["pairs"] if p["suggested"]]
    found = {(p["kalshi"], p["polymarket"]) for p in suggested}
    assert len(found & truth.keys()) / len(found) == 1.0  # precision
    assert len(found & truth.keys()) / len(truth) >= 0.9  # recall, all 18
    assert len(found & csv_truth) / len(csv_truth) >= 0.9  # recall, the 16 hand-verified
    assert all(p["orientation"] == truth[(p["kalshi"], p["polymarket"])] for p in suggested)
    assert all(p["score"] > 0.6 for p in suggested) and all(
        not p["suggested"] for p in doc["pairs"] if p["score"] <= 0.6
    )

    printed = capsys.readouterr().out
    assert "30 Kalshi x 24 Polymarket markets" in printed and f"{len(suggested)} suggested" in printed
    rows = [line for line in printed.splitlines() if line[:4].strip().isdigit()]
    assert len(rows) == 5 and "why:" in printed and "more pairs" in printed


def test_threshold_option_is_the_approval_threshold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pairs.json"
    assert _suggest(KALSHI, POLYMARKET, out, "--threshold", "0.95") == 0
    doc = json.loads(out.read_text())
    assert not any(p["suggested"] for p in doc["pairs"])
    assert "0 suggested (score > 0.95" in capsys.readouterr().out


def test_without_json_only_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["links", "suggest", "--kalshi", str(KALSHI), "--polymarket", str(POLYMARKET), "--limit", "0"]) == 0
    printed = capsys.readouterr().out
    assert "suggested" in printed and "why:" not in printed


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("kalshi", "polymarket", "message"),
    [
        ("malformed", "fixture", "not valid JSON"),
        ("fixture", "malformed", "not valid JSON"),
        ("missing", "fixture", "cannot read"),
        ("fixture", "missing", "cannot read"),
        ("gamma_shape", "fixture", "ticker"),  # a Gamma array given as the Kalshi file
        ("fixture", "kalshi_shape", "is missing"),  # Kalshi pages given as the Gamma file (read as events)
        ("empty", "fixture", "no markets"),
        ("fixture", "empty_array", "no markets"),
        ("fixture", "duplicate_gamma_id", "listed twice"),
        ("duplicate_ticker", "fixture", "listed twice"),
    ],
)
def test_bad_inputs_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kalshi: str, polymarket: str, message: str
) -> None:
    gamma = json.loads(POLYMARKET.read_text())
    pages = json.loads(KALSHI.read_text())
    twin = dict(gamma[1], id=gamma[0]["id"])
    changed = dict(pages[0]["markets"][1], ticker=pages[0]["markets"][0]["ticker"])
    files = {
        "fixture": None,
        "malformed": _write(tmp_path / "bad.json", '{"markets": ['),
        "missing": tmp_path / "nope.json",
        "gamma_shape": POLYMARKET,
        "kalshi_shape": KALSHI,
        "empty": _write(tmp_path / "empty.json", '{"markets": [], "cursor": ""}'),
        "empty_array": _write(tmp_path / "empty_array.json", "[]"),
        "duplicate_gamma_id": _write(tmp_path / "dup_gamma.json", json.dumps([*gamma, twin])),
        "duplicate_ticker": _write(
            tmp_path / "dup_ticker.json", json.dumps([{"markets": [*pages[0]["markets"], changed], "cursor": ""}])
        ),
    }
    k = files[kalshi] or KALSHI
    p = files[polymarket] or POLYMARKET
    out = tmp_path / "pairs.json"
    assert _suggest(k, p, out) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.startswith("arb links suggest:")
    assert captured.out == "" and not out.exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--threshold", "1.5", "threshold"), ("--threshold", "nan", "threshold"), ("--limit", "-1", "--limit")],
)
def test_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    out = tmp_path / "pairs.json"
    assert _suggest(KALSHI, POLYMARKET, out, option, value) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_missing_output_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "no-such-dir" / "pairs.json"
    assert _suggest(KALSHI, POLYMARKET, out) == 2
    assert "output directory" in capsys.readouterr().err and not out.parent.exists()


def test_failed_run_keeps_a_previous_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pairs.json"
    assert _suggest(KALSHI, POLYMARKET, out) == 0
    before = out.read_text()
    broken = shutil.copy(POLYMARKET, tmp_path / "poly.json")
    Path(broken).write_text("[{")
    assert _suggest(KALSHI, Path(broken), out) == 2
    assert out.read_text() == before and not [p for p in tmp_path.iterdir() if p.name.startswith(".pairs")]
    capsys.readouterr()


def test_the_pairs_file_is_readable_like_any_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pairs.json"
    assert _suggest(KALSHI, POLYMARKET, out, "--limit", "0") == 0
    assert out.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    out.chmod(0o640)
    assert _suggest(KALSHI, POLYMARKET, out, "--limit", "0") == 0
    assert out.stat().st_mode & 0o777 == 0o640  # a rewrite keeps the mode it had
