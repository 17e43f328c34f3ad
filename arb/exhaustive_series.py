"""Curated exhaustive Kalshi series (`config/exhaustive_series.toml`): reviewed series whose
`mutually_exclusive` events list every possible outcome, so exactly one market of each resolves YES.

Kalshi's `mutually_exclusive` flag states exclusivity only. `arb.graph` makes a Kalshi group
exactly-one when its strike metadata provably partitions the line, or when its series is on this
list; otherwise the group is at-most-one. An entry is a human judgement about the series' rules
(say why every outcome is covered, and what residual case is accepted), so each names its reviewer
and date. Nothing here guesses: unknown keys, bad values and duplicate tickers are `ConfigError`s
naming the file, the entry index and the field.

The schema is documented at the top of `config/exhaustive_series.toml` (`SCHEMA_HEADER`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arb.errors import ConfigError
from arb.files import read_text, versioned_tables, visible_text

__all__ = [
    "EXHAUSTIVE_SERIES_VERSION",
    "SCHEMA_HEADER",
    "ExhaustiveSeries",
    "load_exhaustive_series",
    "parse_exhaustive_series",
    "series_from_tables",
]

EXHAUSTIVE_SERIES_VERSION = 1

SCHEMA_HEADER = """\
# Curated exhaustive Kalshi series: series whose mutually_exclusive events list every possible
# outcome, so exactly one market of each event resolves YES. Kalshi's flag says only "at most one";
# without an entry here (or strike metadata that provably partitions the line) the market graph
# treats an event as at-most-one. Read by `arb.exhaustive_series.load_exhaustive_series`, which
# rejects unknown keys, missing keys, bad values and duplicate tickers with the entry index and field.
#
# version = 1                 schema version (required, top level)
#
# [[series]]                  one reviewed series; every key is required
# ticker = "KXFEDDECISION"    Kalshi series ticker (letters, digits, '.', '_', '-')
# reason = "..."              why every outcome is covered (and any residual case accepted)
# reviewed_by = "name"        who read the series' rules
# reviewed_at = 2026-12-06    TOML date of the review
"""

_KEYS = ("ticker", "reason", "reviewed_by", "reviewed_at")
_TICKER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*")


@dataclass(frozen=True, slots=True)
class ExhaustiveSeries:
    """One reviewed series: its events are exhaustive for `reason`."""

    ticker: str
    reason: str
    reviewed_by: str
    reviewed_at: dt.date


def _entry(raw: Any, where: str) -> ExhaustiveSeries:
    def fail(field: str, problem: str) -> ConfigError:
        return ConfigError(f"{where}.{field}: {problem}" if field else f"{where}: {problem}")

    if not isinstance(raw, Mapping):
        raise fail("", f"must be a table, was {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise fail(unknown[0], f"unknown key (known: {', '.join(_KEYS)})")
    for key in _KEYS:
        if key not in raw:
            raise fail(key, "is missing")
    for key in ("ticker", "reason", "reviewed_by"):
        if not isinstance(raw[key], str):
            raise fail(key, f"must be a string, was {type(raw[key]).__name__} {raw[key]!r}")
    ticker, reason, reviewed_by = raw["ticker"], raw["reason"], raw["reviewed_by"]
    if not _TICKER.fullmatch(ticker):
        raise fail("ticker", f"must be a Kalshi series ticker, was {ticker!r}")
    if not visible_text(reason):
        raise fail("reason", f"must say why every outcome is covered, in visible characters, was {reason!r}")
    if not visible_text(reviewed_by):
        raise fail("reviewed_by", f"must name who reviewed the series in visible characters, was {reviewed_by!r}")
    reviewed_at = raw["reviewed_at"]
    if isinstance(reviewed_at, dt.datetime) or not isinstance(reviewed_at, dt.date):
        raise fail("reviewed_at", f"must be a TOML date like 2026-12-06, was {reviewed_at!r}")
    return ExhaustiveSeries(ticker=ticker, reason=reason.strip(), reviewed_by=reviewed_by, reviewed_at=reviewed_at)


def parse_exhaustive_series(text: str, source: str = "<exhaustive series>") -> tuple[ExhaustiveSeries, ...]:
    """Entries from TOML text; `source` names the file in errors."""
    raw_entries = versioned_tables(
        text, source, kind="an exhaustive-series file", table="series", version=EXHAUSTIVE_SERIES_VERSION
    )
    return series_from_tables(raw_entries, source)


def series_from_tables(
    raw_entries: Sequence[Any], source: str, *, table: str = "series"
) -> tuple[ExhaustiveSeries, ...]:
    """Entries from already parsed `[[series]]` tables (a scenario file carries them as
    `[[exhaustive_series]]`: `table` names them in errors), checked like the file's."""
    entries = tuple(_entry(raw, f"{source}: {table}[{i}]") for i, raw in enumerate(raw_entries))
    first: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if entry.ticker in first:
            raise ConfigError(
                f"{source}: {table}[{i}].ticker: {entry.ticker!r} is already listed in {table}[{first[entry.ticker]}]"
            )
        first[entry.ticker] = i
    return entries


def load_exhaustive_series(path: Path | str) -> tuple[ExhaustiveSeries, ...]:
    """Every entry of an exhaustive-series file, validated, for `GraphConfig.exhaustive_kalshi_series`.
    A missing file is an error (an empty list is `version = 1` alone)."""
    return parse_exhaustive_series(read_text(path, what="the exhaustive-series file"), str(path))
