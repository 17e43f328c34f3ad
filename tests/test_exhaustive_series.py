"""The curated exhaustive-series list (config/exhaustive_series.toml): the shipped file loads and
covers the FOMC fixtures' series, and every malformed file is a ConfigError naming file, entry, field."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from arb.errors import ConfigError
from arb.exhaustive_series import SCHEMA_HEADER, ExhaustiveSeries, load_exhaustive_series, parse_exhaustive_series
from arb.graph import GraphConfig

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config" / "exhaustive_series.toml"

GOOD = """
version = 1

[[series]]
ticker = "KXFEDDECISION"
reason = "five buckets cover every decision"
reviewed_by = "reviewer"
reviewed_at = 2026-12-06
"""


def test_the_shipped_list_loads_with_its_reasons_and_starts_with_the_schema() -> None:
    entries = load_exhaustive_series(SHIPPED)
    assert {e.ticker for e in entries} == {"KXFEDDECISION", "FEDDECISION"}
    assert all(e.reason and e.reviewed_by and isinstance(e.reviewed_at, dt.date) for e in entries)
    assert SHIPPED.read_text().startswith(SCHEMA_HEADER)
    assert GraphConfig(exhaustive_kalshi_series=entries).exhaustive_kalshi_series == entries


def test_a_valid_entry_parses() -> None:
    (entry,) = parse_exhaustive_series(GOOD, "x.toml")
    assert entry == ExhaustiveSeries(
        "KXFEDDECISION", "five buckets cover every decision", "reviewer", dt.date(2026, 12, 6)
    )
    assert parse_exhaustive_series("version = 1\n") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace('reviewed_by = "reviewer"', 'reviewed_by = "reviewer"\nreviwed = 1'),
            "series[0].reviwed: unknown key",
        ),
        (GOOD.replace('reviewed_by = "reviewer"\n', ""), "series[0].reviewed_by: is missing"),
        (GOOD.replace('"KXFEDDECISION"', '"KX FED"'), "series[0].ticker: must be a Kalshi series ticker"),
        (GOOD.replace('"KXFEDDECISION"', "7"), "series[0].ticker: must be a string"),
        (GOOD.replace('"five buckets cover every decision"', '"  "'), "series[0].reason: must say why"),
        (GOOD.replace('"reviewer"', '"\\u200b"'), "series[0].reviewed_by: must name who reviewed"),
        (GOOD.replace("2026-12-06", '"2026-12-06"'), "series[0].reviewed_at: must be a TOML date"),
        (GOOD.replace("2026-12-06", "2026-12-06T10:00:00"), "series[0].reviewed_at: must be a TOML date"),
        (GOOD + GOOD.replace("version = 1\n", ""), "series[1].ticker: 'KXFEDDECISION' is already listed in series[0]"),
        (GOOD.replace("version = 1", ""), "version: is missing"),
        (GOOD.replace("version = 1", "version = 2"), "version: must be 1"),
        ("extra = 1\n" + GOOD, "unknown top-level key 'extra'"),
        ("version = 1\nseries = 3\n", "series: must be an array of tables"),
        ("version = 1\nseries = [3]\n", "series[0]: must be a table"),
        ("version = [", "not valid TOML"),
    ],
)
def test_malformed_files_name_the_file_entry_and_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_exhaustive_series(text, "config/x.toml")
    assert str(caught.value).startswith("config/x.toml: ") and message in str(caught.value)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.toml: cannot read"):
        load_exhaustive_series(tmp_path / "absent.toml")
