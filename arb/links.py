"""Curated cross-venue links (`config/links.toml`): reviewed Kalshi/Polymarket pairs.

A link says two contracts settle the same way (orientation "same") or opposite ways ("inverted"),
records how far the two venues' rules differ (`settlement_risk`), and pins what was reviewed: the
fingerprints of both rules texts and both close times. When either venue later changes its rules
or close time the link is *stale* (`link_is_current` names why) and the graph drops it until a
human approves the pair again. Nothing here guesses: unknown keys, bad values and contradictory
entries are `ConfigError`s naming the file, the link index and the field.

The schema is documented at the top of `config/links.toml` (`SCHEMA_HEADER`, written into new files).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import enum
import fcntl
import hashlib
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from arb.domain import MarketInfo, Venue
from arb.errors import ConfigError, WireError
from arb.files import read_text, versioned_tables, visible_text, write_text_atomically
from arb.venues.metadata_files import load_kalshi_markets_file, load_polymarket_markets_file

__all__ = [
    "LINKS_VERSION",
    "SCHEMA_HEADER",
    "CuratedLink",
    "Orientation",
    "SettlementRisk",
    "approve_link",
    "format_close_time",
    "link_from_markets",
    "link_is_current",
    "links_from_tables",
    "load_kalshi_markets_file",
    "load_links",
    "load_polymarket_markets_file",
    "parse_links",
    "rules_fingerprint",
    "run_approve",
]

LINKS_VERSION = 1


class Orientation(str, enum.Enum):
    SAME = "same"  # Kalshi YES settles like Polymarket YES
    INVERTED = "inverted"  # Kalshi YES settles like Polymarket NO


class SettlementRisk(str, enum.Enum):
    IDENTICAL_RULES = "identical_rules"  # same event, same source, same edge cases
    MINOR_DIFFERENCES = "minor_differences"  # same source; wording or edge cases differ
    DIFFERENT_RESOLUTION_SOURCE = "different_resolution_source"  # can settle differently


SCHEMA_HEADER = """\
# Curated cross-venue links: reviewed Kalshi/Polymarket pairs that settle together.
#
# Appended by `arb links approve` (never edit fingerprints by hand); read by `arb.links.load_links`,
# which rejects unknown keys, missing keys and bad values with the link index and field named.
#
# version = 1                       schema version (required, top level)
#
# [[link]]                          one reviewed pair; every key below is required unless marked optional
# kalshi = "TICKER"                 Kalshi market ticker
# polymarket = "500358"             Polymarket Gamma market id (a string of digits)
# polymarket_condition = "0x..."    optional, recommended: the market's condition id (0x + 64 hex);
#                                   the graph keys Polymarket contracts by it
# orientation = "same"              "same": Kalshi YES <=> Polymarket YES; "inverted": Kalshi YES <=> Polymarket NO
# settlement_risk = "identical_rules"
#                                   "identical_rules" | "minor_differences" | "different_resolution_source"
#                                   (the graph skips different_resolution_source links unless configured)
# kalshi_rules_sha256 = "..."       sha256 (64 lowercase hex) of the whitespace-normalised rules text:
# polymarket_rules_sha256 = "..."   NFC, runs of whitespace -> one space, trimmed (rules_fingerprint)
# kalshi_close_time = "2024-05-01T17:55:00Z"
# polymarket_close_time = "2024-05-01T12:00:00Z"
#                                   RFC 3339 UTC close times as reviewed ("Z" or "+00:00", at most
#                                   millisecond precision). A later change of either rules text or
#                                   close time makes the link stale until approved again.
# approved_by = "name"              who reviewed the pair
# approved_at = 2024-04-30          TOML date of the review
# note = "..."                      optional free text
"""

_LINK_KEYS_REQUIRED = (
    "kalshi",
    "polymarket",
    "orientation",
    "settlement_risk",
    "kalshi_rules_sha256",
    "polymarket_rules_sha256",
    "kalshi_close_time",
    "polymarket_close_time",
    "approved_by",
    "approved_at",
)
_LINK_KEYS_OPTIONAL = ("polymarket_condition", "note")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONDITION_ID = re.compile(r"0x[0-9a-f]{64}")
_GAMMA_ID = re.compile(r"[0-9]+")
_TICKER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*")
_RFC3339_UTC = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(?:Z|z|\+00:00)")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class CuratedLink:
    """One reviewed pair. `polymarket_condition_id` is "" when the file does not record it (the
    graph then resolves the Gamma id through `MarketInfo.venue_market_id`)."""

    kalshi_ticker: str
    polymarket_market_id: str  # Gamma numeric id
    orientation: Orientation
    settlement_risk: SettlementRisk
    kalshi_rules_sha256: str
    polymarket_rules_sha256: str
    kalshi_close_time_ms: int
    polymarket_close_time_ms: int
    approved_by: str
    approved_at: dt.date
    polymarket_condition_id: str = ""
    note: str = ""

    @property
    def inverted(self) -> bool:
        return self.orientation is Orientation.INVERTED


def rules_fingerprint(text: str) -> str:
    """sha256 hex of a rules text after Unicode NFC and whitespace normalisation, so re-wrapped or
    re-indented text keeps its fingerprint while any change of words changes it."""
    normalised = _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def link_from_markets(
    kalshi: MarketInfo,
    polymarket: MarketInfo,
    *,
    orientation: Orientation,
    settlement_risk: SettlementRisk,
    approved_by: str,
    approved_at: dt.date,
    note: str = "",
) -> CuratedLink:
    """A link pinning both markets' current rules texts and close times (what a reviewer saw)."""
    if kalshi.close_time_ms is None or polymarket.close_time_ms is None:
        raise ConfigError(f"cannot link {kalshi.market_id} and {polymarket.market_id}: a close time is missing")
    return CuratedLink(
        kalshi_ticker=kalshi.market_id,
        polymarket_market_id=polymarket.venue_market_id,
        orientation=orientation,
        settlement_risk=settlement_risk,
        kalshi_rules_sha256=rules_fingerprint(kalshi.rules_text),
        polymarket_rules_sha256=rules_fingerprint(polymarket.rules_text),
        kalshi_close_time_ms=kalshi.close_time_ms,
        polymarket_close_time_ms=polymarket.close_time_ms,
        approved_by=approved_by,
        approved_at=approved_at,
        polymarket_condition_id=polymarket.market_id,
        note=note,
    )


def format_close_time(ms: int) -> str:
    """RFC 3339 UTC text of a millisecond timestamp (milliseconds only when non-zero)."""
    seconds, millis = divmod(ms, 1000)
    text = dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def _parse_close_time(value: str) -> int | None:
    match = _RFC3339_UTC.fullmatch(value)
    if match is None:
        return None
    day, hour, minute, second, frac = match.groups()
    try:
        when = dt.datetime.fromisoformat(f"{day}T{hour}:{minute}:{second}+00:00")
    except ValueError:
        return None
    return int(when.timestamp()) * 1000 + (int(frac.ljust(3, "0")) if frac else 0)


# -- reading and validating -------------------------------------------------------------------------


def _link(raw: Any, where: str) -> CuratedLink:
    def fail(field: str, problem: str) -> ConfigError:
        return ConfigError(f"{where}.{field}: {problem}" if field else f"{where}: {problem}")

    if not isinstance(raw, Mapping):
        raise fail("", f"must be a table, was {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_LINK_KEYS_REQUIRED) - set(_LINK_KEYS_OPTIONAL))
    if unknown:
        raise fail(unknown[0], f"unknown key (known: {', '.join(_LINK_KEYS_REQUIRED + _LINK_KEYS_OPTIONAL)})")
    for key in _LINK_KEYS_REQUIRED:
        if key not in raw:
            raise fail(key, "is missing")

    def text(key: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        if key not in raw:
            return ""  # an optional key (required ones were checked above)
        value = raw[key]
        if not isinstance(value, str):
            raise fail(key, f"must be a string, was {type(value).__name__} {value!r}")
        if pattern is not None and not pattern.fullmatch(value):
            raise fail(key, f"must be {what}, was {value!r}")
        return value

    def choice(key: str, kind: type[enum.Enum]) -> Any:
        value = text(key)
        try:
            return kind(value)
        except ValueError:
            allowed = " | ".join(repr(member.value) for member in kind)
            raise fail(key, f"must be one of {allowed}, was {value!r}") from None

    def close_time(key: str) -> int:
        value = text(key)
        ms = _parse_close_time(value)
        if ms is None:
            raise fail(key, f"must be an RFC 3339 UTC time like 2024-05-01T17:55:00Z, was {value!r}")
        return ms

    approved_at = raw["approved_at"]
    if isinstance(approved_at, dt.datetime) or not isinstance(approved_at, dt.date):
        raise fail("approved_at", f"must be a TOML date like 2024-04-30, was {approved_at!r}")
    approved_by = text("approved_by")
    if not visible_text(approved_by):
        raise fail("approved_by", f"must name who reviewed the pair in visible characters, was {approved_by!r}")
    return CuratedLink(
        kalshi_ticker=text("kalshi", _TICKER, "a Kalshi ticker"),
        polymarket_market_id=text("polymarket", _GAMMA_ID, 'a Gamma market id (digits, as a string: "500358")'),
        orientation=choice("orientation", Orientation),
        settlement_risk=choice("settlement_risk", SettlementRisk),
        kalshi_rules_sha256=text("kalshi_rules_sha256", _SHA256, "a sha256 (64 lowercase hex digits)"),
        polymarket_rules_sha256=text("polymarket_rules_sha256", _SHA256, "a sha256 (64 lowercase hex digits)"),
        kalshi_close_time_ms=close_time("kalshi_close_time"),
        polymarket_close_time_ms=close_time("polymarket_close_time"),
        approved_by=approved_by,
        approved_at=approved_at,
        polymarket_condition_id=text(
            "polymarket_condition", _CONDITION_ID, "a condition id (0x + 64 lowercase hex digits)"
        ),
        note=text("note"),
    )


def _check_consistent(links: tuple[CuratedLink, ...], source: str, table: str = "link") -> None:
    """No pair twice; no market both equal to one counterpart and opposite to another (that would
    claim the two counterparts are complements, which a cross-venue review never establishes)."""
    pairs: dict[tuple[str, str], int] = {}
    orientation_of: dict[tuple[str, str], tuple[Orientation, int]] = {}
    condition_of_gamma: dict[str, tuple[str, int]] = {}
    for i, link in enumerate(links):
        keys = [("gamma", link.polymarket_market_id)]
        if link.polymarket_condition_id:
            keys.append(("condition", link.polymarket_condition_id))
            known = condition_of_gamma.get(link.polymarket_market_id)
            if known is not None and known[0] != link.polymarket_condition_id:
                raise ConfigError(
                    f"{source}: {table}[{i}].polymarket_condition: Gamma market {link.polymarket_market_id} has condition "
                    f"{known[0]} in {table}[{known[1]}]"
                )
            condition_of_gamma[link.polymarket_market_id] = (link.polymarket_condition_id, i)
        for key in keys:
            first = pairs.get((link.kalshi_ticker, key[1]))
            if first is not None:
                raise ConfigError(
                    f"{source}: {table}[{i}]: duplicate of {table}[{first}] (kalshi {link.kalshi_ticker} with polymarket {key[1]})"
                )
        for key in keys:
            pairs[(link.kalshi_ticker, key[1])] = i
        for market in (("kalshi", link.kalshi_ticker), ("polymarket", link.polymarket_market_id)):
            seen = orientation_of.get(market)
            if seen is not None and seen[0] is not link.orientation:
                raise ConfigError(
                    f"{source}: {table}[{i}].orientation: {market[0]} market {market[1]} is linked {link.orientation.value} here "
                    f"but {seen[0].value} in {table}[{seen[1]}] (conflicting orientation)"
                )
            orientation_of.setdefault(market, (link.orientation, i))


def parse_links(text: str, source: str = "<links>") -> tuple[CuratedLink, ...]:
    """Links from TOML text; `source` names the file in errors."""
    raw_links = versioned_tables(text, source, kind="a links file", table="link", version=LINKS_VERSION)
    return links_from_tables(raw_links, source, table="link")


def links_from_tables(raw_links: Sequence[Any], source: str, *, table: str = "link") -> tuple[CuratedLink, ...]:
    """Links from already parsed `[[link]]` tables (a scenario file carries them as `[[links]]`:
    `table` names them in errors), checked like a links file's."""
    links = tuple(_link(raw, f"{source}: {table}[{i}]") for i, raw in enumerate(raw_links))
    _check_consistent(links, source, table)
    return links


def load_links(path: Path | str) -> tuple[CuratedLink, ...]:
    """Every link in a links file, validated. A missing file is an error (pass an empty file with
    `version = 1` for no links)."""
    return parse_links(read_text(path, what="the links file"), str(path))


# -- currency of a link -------------------------------------------------------------------------------


def link_is_current(link: CuratedLink, kalshi: MarketInfo, polymarket: MarketInfo) -> str | None:
    """None when both markets still match what was reviewed, else why not."""
    if kalshi.venue is not Venue.KALSHI or kalshi.market_id != link.kalshi_ticker:
        return (
            f"ids mismatch: link names kalshi {link.kalshi_ticker}, market is {kalshi.venue.value}:{kalshi.market_id}"
        )
    if polymarket.venue is not Venue.POLYMARKET:
        return f"ids mismatch: link names polymarket {link.polymarket_market_id}, market is on {polymarket.venue.value}"
    if link.polymarket_condition_id and polymarket.market_id != link.polymarket_condition_id:
        return f"ids mismatch: link names polymarket condition {link.polymarket_condition_id}, market is {polymarket.market_id}"
    if polymarket.venue_market_id and polymarket.venue_market_id != link.polymarket_market_id:
        return (
            f"ids mismatch: link names Gamma market {link.polymarket_market_id}, market is {polymarket.venue_market_id}"
        )
    if not link.polymarket_condition_id and not polymarket.venue_market_id:
        return f"ids mismatch: polymarket market {polymarket.market_id} carries no Gamma id to match {link.polymarket_market_id}"
    for venue, market, recorded in (
        ("kalshi", kalshi, link.kalshi_rules_sha256),
        ("polymarket", polymarket, link.polymarket_rules_sha256),
    ):
        if rules_fingerprint(market.rules_text) != recorded:
            return f"rules changed: {venue} {market.market_id} rules text no longer matches the approved fingerprint"
    for venue, market, recorded_ms in (
        ("kalshi", kalshi, link.kalshi_close_time_ms),
        ("polymarket", polymarket, link.polymarket_close_time_ms),
    ):
        if market.close_time_ms != recorded_ms:
            now = "none" if market.close_time_ms is None else format_close_time(market.close_time_ms)
            return f"close time changed: {venue} {market.market_id} closes {now}, approved {format_close_time(recorded_ms)}"
    return None


# -- approving -------------------------------------------------------------------------------------------


def _link_table(link: CuratedLink) -> tomlkit.items.Table:
    table = tomlkit.table()
    table["kalshi"] = link.kalshi_ticker
    table["polymarket"] = link.polymarket_market_id
    if link.polymarket_condition_id:
        table["polymarket_condition"] = link.polymarket_condition_id
    table["orientation"] = link.orientation.value
    table["settlement_risk"] = link.settlement_risk.value
    table["kalshi_rules_sha256"] = link.kalshi_rules_sha256
    table["polymarket_rules_sha256"] = link.polymarket_rules_sha256
    table["kalshi_close_time"] = format_close_time(link.kalshi_close_time_ms)
    table["polymarket_close_time"] = format_close_time(link.polymarket_close_time_ms)
    table["approved_by"] = link.approved_by
    table["approved_at"] = link.approved_at
    if link.note:
        table["note"] = link.note
    table.add(tomlkit.nl())  # a blank line before the next [[link]]
    return table


def approve_link(path: Path | str, link: CuratedLink) -> str:
    """Append `link` to the links file (created with the schema header if missing), keeping every
    existing comment; refuses duplicates and contradictions (ConfigError) and writes atomically.
    The read-check-write runs under an exclusive lock on the file's directory, so two approvals at
    once cannot drop each other's link (the second is refused; run it again). Returns the TOML text
    of the appended table."""
    path = Path(path)
    with _directory_lock(path):
        if path.exists():
            original = read_text(path, what="the links file")
            parse_links(original, str(path))  # never append to a file that is already invalid
        else:
            original = f"{SCHEMA_HEADER}\nversion = {LINKS_VERSION}\n"
        document = tomlkit.parse(original)
        links = document.get("link")
        if links is not None and not isinstance(links, tomlkit.items.AoT):
            raise ConfigError(
                f"{path}: link is written as an inline array; approve appends [[link]] tables, rewrite the file that way first"
            )
        if links is None:
            links = tomlkit.aot()
            document.add(tomlkit.nl())  # a blank line between the header and the first link
            document.append("link", links)
        links.append(_link_table(link))
        updated = tomlkit.dumps(document)
        parse_links(updated, str(path))  # the new entry must not duplicate or contradict an old one
        write_text_atomically(path, updated, what="the links file", create_parents=True)
    return _table_text(link)


@contextlib.contextmanager
def _directory_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on the directory holding `path` (created if missing); ConfigError when
    another approval holds it. The directory, not the file: the file is replaced by a rename."""
    try:
        try:
            # strict, so that a symlink loop is an error on every Python (3.13's lenient resolve
            # no longer raises on one); a file that does not exist yet is the ordinary case
            directory = path.resolve(strict=True).parent
        except FileNotFoundError:
            directory = path.resolve().parent
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY)
    except (OSError, RuntimeError) as exc:  # OSError (ELOOP) or, before 3.13, RuntimeError: a symlink loop
        raise ConfigError(f"{path}: cannot write the links file ({getattr(exc, 'strerror', None) or exc})") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{path}: another approval is writing the links file; run this one again") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _table_text(link: CuratedLink) -> str:
    document = tomlkit.document()
    aot = tomlkit.aot()
    aot.append(_link_table(link))
    document.append("link", aot)
    return tomlkit.dumps(document)


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _find(markets: Iterable[MarketInfo], wanted: str, *, polymarket: bool) -> MarketInfo | None:
    for market in markets:
        if market.market_id == wanted or (polymarket and market.venue_market_id == wanted):
            return market
    return None


def run_approve(args: argparse.Namespace, *, today: Callable[[], dt.date] = _utc_today) -> int:
    """`arb links approve`: look both markets up in the saved venue files, fingerprint their current
    rules and close times, append the pair. Exit 0 on success, 2 on any input problem."""

    def refuse(message: str) -> int:
        print(f"arb links approve: {message}", file=sys.stderr)
        return 2

    try:
        approved_at = dt.date.fromisoformat(args.date) if args.date else today()
    except ValueError:
        return refuse(f"--date must be YYYY-MM-DD, was {args.date!r}")
    try:
        kalshi_markets = load_kalshi_markets_file(args.kalshi_file)
        polymarket_markets = load_polymarket_markets_file(args.polymarket_file)
    except (ConfigError, WireError) as exc:
        return refuse(str(exc))
    kalshi = _find(kalshi_markets, args.kalshi, polymarket=False)
    if kalshi is None:
        return refuse(f"Kalshi market {args.kalshi!r} is not in {args.kalshi_file} ({len(kalshi_markets)} markets)")
    polymarket = _find(polymarket_markets, args.polymarket, polymarket=True)
    if polymarket is None:
        return refuse(
            f"Polymarket market {args.polymarket!r} is not in {args.polymarket_file} ({len(polymarket_markets)} markets)"
        )
    if not polymarket.venue_market_id:
        return refuse(f"Polymarket market {polymarket.market_id} has no Gamma id in {args.polymarket_file}")
    for market in (kalshi, polymarket):
        if market.close_time_ms is None:
            return refuse(f"{market.venue.value} market {market.market_id} has no close time to pin")
        if not market.rules_text.strip():
            return refuse(f"{market.venue.value} market {market.market_id} has no rules text to review")
    approved_by = args.approved_by.strip()
    if not approved_by:
        return refuse("--approved-by must name who reviewed the pair")
    link = link_from_markets(
        kalshi,
        polymarket,
        orientation=Orientation(args.orientation),
        settlement_risk=SettlementRisk(args.settlement_risk),
        approved_by=approved_by,
        approved_at=approved_at,
        note=args.note or "",
    )
    try:
        written = approve_link(args.links, link)
    except ConfigError as exc:
        return refuse(str(exc))
    print(f"appended to {args.links}:\n{written}", end="")
    print(f"# kalshi:     {kalshi.title}\n# polymarket: {polymarket.title}")
    yes, no = polymarket.outcome_labels
    if (yes.strip().lower(), no.strip().lower()) != ("yes", "no"):  # orientation is about the first token
        print(f"# polymarket outcomes: YES token = {yes!r}, NO token = {no!r} (check the orientation against these)")
    return 0
