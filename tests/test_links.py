"""Curated links: the links file schema and its validation, approval (comment-preserving, atomic,
no duplicates), staleness, the venue file loaders and `arb links approve` end to end.

Markets come from the FOMC 2024 venue-shaped fixtures (tests/fixtures/cross_venue/fomc_2024) and
the real venue captures in tests/fixtures/venues.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arb.cli import main
from arb.domain import MarketInfo, MarketStatus, Venue
from arb.errors import ConfigError, FieldError, WireError
from arb.links import (
    SCHEMA_HEADER,
    CuratedLink,
    Orientation,
    SettlementRisk,
    approve_link,
    format_close_time,
    link_from_markets,
    link_is_current,
    load_kalshi_markets_file,
    load_links,
    load_polymarket_markets_file,
    parse_links,
    rules_fingerprint,
)

ROOT = Path(__file__).resolve().parent.parent
FOMC = ROOT / "tests" / "fixtures" / "cross_venue" / "fomc_2024"
KALSHI_FILE = FOMC / "kalshi_markets.json"
POLY_FILE = FOMC / "polymarket_markets.json"
VENUES = ROOT / "tests" / "fixtures" / "venues"

HOLD_K, HOLD_P = "FEDDECISION-24MAY-H0", "500358"  # a hand-verified pair (hussmart_fomc_pairs.csv)
CUT_K, CUT_P = "FEDDECISION-24MAY-C25", "500359"

SHA_A = "a" * 64
SHA_B = "b" * 64
COND = "0x" + "c" * 64


def _valid_link(**overrides: object) -> dict[str, object]:
    link: dict[str, object] = {
        "kalshi": HOLD_K,
        "polymarket": HOLD_P,
        "polymarket_condition": COND,
        "orientation": "same",
        "settlement_risk": "identical_rules",
        "kalshi_rules_sha256": SHA_A,
        "polymarket_rules_sha256": SHA_B,
        "kalshi_close_time": "2024-05-01T17:55:00Z",
        "polymarket_close_time": "2024-05-01T00:00:00Z",
        "approved_by": "reviewer",
        "approved_at": dt.date(2024, 4, 30),
        "note": "hand-checked",
    }
    link.update(overrides)
    return {k: v for k, v in link.items() if v is not _DROP}


_DROP = object()


def _toml_value(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return json.dumps(value)


def _toml(*links: dict[str, object], version: object = 1, extra: str = "") -> str:
    lines = [] if version is _DROP else [f"version = {_toml_value(version)}"]
    lines.append(extra)
    for link in links:
        lines.append("[[link]]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in link.items()]
    return "\n".join(lines) + "\n"


# -- rules fingerprints and close times ------------------------------------------------------------


def test_rules_fingerprint_ignores_layout_but_not_words() -> None:
    text = "If the Fed cuts rates,\n  this market resolves Yes."
    assert rules_fingerprint(text) == rules_fingerprint("If the Fed cuts rates, this market resolves Yes.  \n")
    assert rules_fingerprint(text) == rules_fingerprint("If the Fed cuts rates,\tthis market\r\nresolves Yes.")
    assert rules_fingerprint(text) != rules_fingerprint("If the Fed hikes rates, this market resolves Yes.")
    # NFC: a composed and a decomposed e-acute are the same text
    assert rules_fingerprint("caf\u00e9") == rules_fingerprint("cafe\u0301")
    assert len(rules_fingerprint("")) == 64


def test_close_time_text_round_trips() -> None:
    for ms in (1714586100000, 1714586100123, 0):
        text = format_close_time(ms)
        link = parse_links(_toml(_valid_link(kalshi_close_time=text)))[0]
        assert link.kalshi_close_time_ms == ms
    assert format_close_time(1714586100000) == "2024-05-01T17:55:00Z"
    assert format_close_time(1714586100120) == "2024-05-01T17:55:00.120Z"


# -- loading and validation --------------------------------------------------------------------------


def test_a_valid_file_loads_every_field(tmp_path: Path) -> None:
    path = tmp_path / "links.toml"
    path.write_text(
        _toml(
            _valid_link(),
            _valid_link(kalshi=CUT_K, polymarket=CUT_P, polymarket_condition=_DROP, orientation="inverted", note=_DROP),
        )
    )
    first, second = load_links(path)
    assert first == CuratedLink(
        kalshi_ticker=HOLD_K,
        polymarket_market_id=HOLD_P,
        orientation=Orientation.SAME,
        settlement_risk=SettlementRisk.IDENTICAL_RULES,
        kalshi_rules_sha256=SHA_A,
        polymarket_rules_sha256=SHA_B,
        kalshi_close_time_ms=1714586100000,
        polymarket_close_time_ms=1714521600000,
        approved_by="reviewer",
        approved_at=dt.date(2024, 4, 30),
        polymarket_condition_id=COND,
        note="hand-checked",
    )
    assert second.inverted and not first.inverted
    assert second.polymarket_condition_id == "" and second.note == ""


def test_the_shipped_links_file_is_valid_and_empty() -> None:
    path = ROOT / "config" / "links.toml"
    assert load_links(path) == ()
    assert path.read_text().startswith(SCHEMA_HEADER)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_toml(_valid_link(colour="red")), "link[0].colour: unknown key"),
        (_toml(_valid_link(orientation=_DROP)), "link[0].orientation: is missing"),
        (_toml(_valid_link(approved_by=_DROP)), "link[0].approved_by: is missing"),
        (_toml(_valid_link(orientation="sideways")), "link[0].orientation: must be one of 'same' | 'inverted'"),
        (_toml(_valid_link(settlement_risk="none")), "link[0].settlement_risk: must be one of"),
        (_toml(_valid_link(kalshi_rules_sha256="A" * 64)), "link[0].kalshi_rules_sha256: must be a sha256"),
        (_toml(_valid_link(polymarket_rules_sha256="ab" * 31)), "link[0].polymarket_rules_sha256: must be a sha256"),
        (
            _toml(_valid_link(kalshi_close_time="2024-05-01 17:55")),
            "link[0].kalshi_close_time: must be an RFC 3339 UTC time",
        ),
        (
            _toml(_valid_link(polymarket_close_time="2024-05-01T17:55:00+02:00")),
            "link[0].polymarket_close_time: must be an RFC 3339 UTC",
        ),
        (_toml(_valid_link(kalshi_close_time="2024-02-30T00:00:00Z")), "link[0].kalshi_close_time"),
        (_toml(_valid_link(approved_at="2024-04-30")), "link[0].approved_at: must be a TOML date"),
        (
            _toml(_valid_link()).replace("approved_at = 2024-04-30", "approved_at = 2024-04-30T10:00:00Z"),
            "link[0].approved_at: must be a TOML date",
        ),
        (_toml(_valid_link(approved_by="  ")), "link[0].approved_by: must name"),
        (_toml(_valid_link(polymarket=500358)), "link[0].polymarket: must be a string"),
        (_toml(_valid_link(polymarket="0xabc")), "link[0].polymarket: must be a Gamma market id"),
        (_toml(_valid_link(polymarket_condition="0x123")), "link[0].polymarket_condition: must be a condition id"),
        (_toml(_valid_link(kalshi="bad ticker")), "link[0].kalshi: must be a Kalshi ticker"),
        (_toml(_valid_link(), _valid_link(note="again")), "link[1]: duplicate of link[0]"),
        (_toml(_valid_link(), _valid_link(polymarket_condition=_DROP)), "link[1]: duplicate of link[0]"),
        (
            _toml(_valid_link(), _valid_link(polymarket="999", polymarket_condition=_DROP, orientation="inverted")),
            "link[1].orientation: kalshi market FEDDECISION-24MAY-H0 is linked inverted here but same in link[0]",
        ),
        (
            _toml(_valid_link(), _valid_link(kalshi=CUT_K, polymarket_condition=_DROP, orientation="inverted")),
            "link[1].orientation: polymarket market 500358 is linked inverted",
        ),
        (
            _toml(_valid_link(), _valid_link(kalshi=CUT_K, polymarket_condition="0x" + "d" * 64)),
            "Gamma market 500358 has condition",
        ),
        (_toml(_valid_link(), version=2), "version: must be 1"),
        (_toml(_valid_link(), version=_DROP), "version: is missing"),
        (_toml(_valid_link(), extra="owner = 'me'"), "unknown top-level key 'owner'"),
        ("version = 1\nlink = 3\n", "link: must be an array of tables"),
        ("version = 1\nlink = [1]\n", "link[0]: must be a table"),
        ("version = 1\n[[link]\n", "not valid TOML"),
    ],
)
def test_every_validation_error_names_file_link_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "links.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_links(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_a_missing_links_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the links file"):
        load_links(tmp_path / "absent.toml")


def test_the_same_market_may_link_twice_with_the_same_orientation() -> None:
    links = parse_links(_toml(_valid_link(), _valid_link(polymarket="999", polymarket_condition=_DROP)))
    assert [link.polymarket_market_id for link in links] == [HOLD_P, "999"]


# -- staleness ---------------------------------------------------------------------------------------


def _fomc_pair(kalshi: str = HOLD_K, polymarket: str = HOLD_P):
    k = next(m for m in load_kalshi_markets_file(KALSHI_FILE) if m.market_id == kalshi)
    p = next(m for m in load_polymarket_markets_file(POLY_FILE) if m.venue_market_id == polymarket)
    return k, p


def _link_for(k: MarketInfo, p: MarketInfo, **overrides: Any) -> CuratedLink:
    link = link_from_markets(
        k,
        p,
        orientation=Orientation.SAME,
        settlement_risk=SettlementRisk.MINOR_DIFFERENCES,
        approved_by="reviewer",
        approved_at=dt.date(2024, 4, 30),
    )
    return dataclasses.replace(link, **overrides)


def _stale_reason(link: CuratedLink, kalshi: MarketInfo, polymarket: MarketInfo) -> str:
    reason = link_is_current(link, kalshi, polymarket)
    assert reason is not None, "the link is current"
    return reason


def test_a_link_is_current_until_rules_or_close_times_change() -> None:
    k, p = _fomc_pair()
    link = _link_for(k, p)
    assert link_is_current(link, k, p) is None
    assert (
        link_is_current(link, dataclasses.replace(k, rules_text=" " + k.rules_text.replace(" ", "\n") + " "), p) is None
    )
    assert _stale_reason(link, dataclasses.replace(k, rules_text=k.rules_text + " Amended."), p).startswith(
        "rules changed: kalshi"
    )
    assert _stale_reason(link, k, dataclasses.replace(p, rules_text="new text")).startswith("rules changed: polymarket")
    moved = dataclasses.replace(p, close_time_ms=p.close_time_ms + 86_400_000)
    assert link_is_current(link, k, moved) == (
        f"close time changed: polymarket {p.market_id} closes 2024-05-02T00:00:00Z, approved 2024-05-01T00:00:00Z"
    )
    assert _stale_reason(link, dataclasses.replace(k, close_time_ms=None), p).startswith("close time changed: kalshi")


def test_a_link_naming_other_markets_is_not_current() -> None:
    k, p = _fomc_pair()
    other_k, other_p = _fomc_pair(CUT_K, CUT_P)
    link = _link_for(k, p)
    assert _stale_reason(link, other_k, p).startswith("ids mismatch")
    assert _stale_reason(link, k, other_p).startswith("ids mismatch")
    assert _stale_reason(link, p, k).startswith("ids mismatch")  # venues swapped
    by_gamma_only = dataclasses.replace(link, polymarket_condition_id="")
    assert link_is_current(by_gamma_only, k, p) is None
    assert _stale_reason(by_gamma_only, k, dataclasses.replace(p, venue_market_id="")).startswith("ids mismatch")


# -- approving ---------------------------------------------------------------------------------------


def test_approve_creates_the_file_with_the_schema_and_round_trips(tmp_path: Path) -> None:
    k, p = _fomc_pair()
    path = tmp_path / "sub" / "links.toml"
    link = _link_for(k, p, note='reviewed "hold" wording')
    written = approve_link(path, link)
    text = path.read_text()
    assert text.startswith(SCHEMA_HEADER)
    assert "[[link]]" in written and 'kalshi = "FEDDECISION-24MAY-H0"' in written
    assert load_links(path) == (link,)
    assert [p.name for p in path.parent.iterdir()] == ["links.toml"]  # no temp file left behind


def test_approve_appends_and_keeps_existing_comments(tmp_path: Path) -> None:
    path = tmp_path / "links.toml"
    _k, _p = _fomc_pair()
    k2, p2 = _fomc_pair(CUT_K, CUT_P)
    path.write_text(
        "# our own header comment\nversion = 1 # trailing comment\n\n# the May hold pair\n"
        + _toml(_valid_link()).split("\n", 2)[2]  # one link, without the version line
        + "# a closing remark\n"
    )
    before = path.read_text()
    approve_link(path, _link_for(k2, p2))
    after = path.read_text()
    for comment in ("# our own header comment", "# trailing comment", "# the May hold pair", "# a closing remark"):
        assert comment in after
    assert after.startswith(before)  # append-only: every existing byte stays where it was
    links = load_links(path)
    assert [link.kalshi_ticker for link in links] == [HOLD_K, CUT_K]
    assert links[1] == _link_for(k2, p2)


def test_approve_refuses_duplicates_and_contradictions_without_touching_the_file(tmp_path: Path) -> None:
    path = tmp_path / "links.toml"
    k, p = _fomc_pair()
    approve_link(path, _link_for(k, p))
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="duplicate of link"):
        approve_link(path, _link_for(k, p, note="again"))
    with pytest.raises(ConfigError, match="duplicate of link"):
        approve_link(path, _link_for(k, p, orientation=Orientation.INVERTED))
    with pytest.raises(ConfigError, match="conflicting orientation"):
        approve_link(
            path,
            _link_for(k, p, polymarket_market_id="7", polymarket_condition_id="", orientation=Orientation.INVERTED),
        )
    assert path.read_bytes() == before


def test_approve_refuses_to_append_to_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "links.toml"
    path.write_text("version = 1\n[[link]]\nkalshi = 'X'\n")
    k, p = _fomc_pair()
    with pytest.raises(ConfigError, match="is missing"):
        approve_link(path, _link_for(k, p))
    assert path.read_text() == "version = 1\n[[link]]\nkalshi = 'X'\n"


# -- venue file loaders --------------------------------------------------------------------------------


def test_kalshi_loader_reads_markets_pages_arrays_and_events() -> None:
    markets = load_kalshi_markets_file(KALSHI_FILE)
    assert len(markets) == 30 and all(m.venue is Venue.KALSHI for m in markets)
    nested = load_kalshi_markets_file(FOMC / "kalshi_events.json")
    assert {m.market_id for m in nested} == {m.market_id for m in markets}
    assert all(m.group is not None for m in nested)
    mve = load_kalshi_markets_file(VENUES / "kalshi" / "rest" / "drmanhattan_markets_mve_2026-06.json")  # a bare array
    assert len(mve) == 5


def test_kalshi_loader_accepts_concatenated_pages_and_drops_identical_repeats(tmp_path: Path) -> None:
    every = [market for page in json.loads(KALSHI_FILE.read_text()) for market in page["markets"]]
    pages: list[dict[str, Any]] = [
        {"markets": every[:17], "cursor": "c1"},
        {"markets": every[15:], "cursor": ""},
    ]  # two repeated
    path = tmp_path / "pages.json"
    path.write_text(json.dumps(pages))
    assert sorted(m.market_id for m in load_kalshi_markets_file(path)) == sorted(
        m.market_id for m in load_kalshi_markets_file(KALSHI_FILE)
    )
    pages[1]["markets"][0] = dict(pages[1]["markets"][0], title="changed")  # a repeated market
    path.write_text(json.dumps(pages))
    with pytest.raises(ConfigError, match="listed twice with different content"):
        load_kalshi_markets_file(path)


def test_polymarket_loader_reads_markets_pages_and_events(tmp_path: Path) -> None:
    markets = load_polymarket_markets_file(POLY_FILE)
    assert len(markets) == 24 and all(m.venue_market_id for m in markets)
    events = load_polymarket_markets_file(FOMC / "polymarket_events.json")
    assert {m.market_id for m in events} == {m.market_id for m in markets}
    raw = json.loads(POLY_FILE.read_text())
    path = tmp_path / "pages.json"
    path.write_text(json.dumps([raw[:10], raw[10:]]))
    assert [m.market_id for m in load_polymarket_markets_file(path)] == [m.market_id for m in markets]
    captured = load_polymarket_markets_file(
        VENUES / "polymarket" / "rest" / "drmanhattan_gamma_markets_feeSchedule_2026.json"
    )
    assert len(captured) == 5 and all(m.status is MarketStatus.OPEN for m in captured)


@pytest.mark.parametrize(
    ("loader", "content", "error", "message"),
    [
        (load_kalshi_markets_file, b"{not json", WireError, "not valid JSON"),
        (load_kalshi_markets_file, b"42", ConfigError, "holds a JSON object or array"),
        (load_kalshi_markets_file, b'[{"markets": []}, {"ticker": "X", "status": "active"}]', ConfigError, "mixes"),
        (load_kalshi_markets_file, b'{"markets": [{"ticker": "X"}]}', FieldError, "markets[0].status"),
        (
            load_kalshi_markets_file,
            b'[{"markets": []}, {"markets": [{"ticker": "X", "status": "nope"}]}]',
            FieldError,
            "[1].markets[0].status",
        ),
        (load_polymarket_markets_file, b"{}", ConfigError, "holds a JSON array"),
        (load_polymarket_markets_file, b"[1, 2", WireError, "not valid JSON"),
        (load_polymarket_markets_file, b'[{"question": "no condition id"}]', FieldError, "conditionId"),
        (
            load_polymarket_markets_file,
            b'[{"conditionId": "0x1", "clobTokenIds": "[\\"1\\"]"}]',
            FieldError,
            "clobTokenIds",
        ),
        (
            load_polymarket_markets_file,
            b'[{"conditionId": "0x1"}, {"id": "9", "markets": []}]',
            ConfigError,
            "mixes Gamma events",
        ),
    ],
)
def test_loaders_fail_closed_naming_the_file(
    tmp_path: Path, loader, content: bytes, error: type[Exception], message: str
) -> None:
    path = tmp_path / "venue.json"
    path.write_bytes(content)
    with pytest.raises(error) as info:
        loader(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_loaders_name_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the Kalshi markets file"):
        load_kalshi_markets_file(tmp_path / "absent.json")
    with pytest.raises(ConfigError, match="cannot read the Polymarket markets file"):
        load_polymarket_markets_file(tmp_path)


# -- the CLI ------------------------------------------------------------------------------------------


def _approve_argv(links: Path, *extra: str, kalshi: str = HOLD_K, polymarket: str = HOLD_P) -> list[str]:
    return [
        "links", "approve", "--kalshi", kalshi, "--polymarket", polymarket,
        "--kalshi-file", str(KALSHI_FILE), "--polymarket-file", str(POLY_FILE),
        "--orientation", "same", "--settlement-risk", "minor_differences",
        "--approved-by", "reviewer", "--links", str(links), *extra,
    ]  # fmt: skip


def test_cli_approve_writes_fingerprints_of_the_current_metadata(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    links = tmp_path / "links.toml"
    assert main(_approve_argv(links, "--date", "2024-04-30", "--note", "hold = no change")) == 0
    out = capsys.readouterr().out
    assert f"appended to {links}" in out and 'polymarket = "500358"' in out
    (link,) = load_links(links)
    k, p = _fomc_pair()
    assert link == _link_for(k, p, note="hold = no change")
    assert link_is_current(link, k, p) is None
    # a second pair by condition id; the date defaults to today (UTC)
    _k2, p2 = _fomc_pair(CUT_K, CUT_P)
    assert main(_approve_argv(links, kalshi=CUT_K, polymarket=p2.market_id)) == 0
    second = load_links(links)[1]
    assert second.polymarket_market_id == CUT_P and second.polymarket_condition_id == p2.market_id
    assert abs((second.approved_at - dt.datetime.now(dt.UTC).date()).days) <= 1


@pytest.mark.parametrize(
    ("argv_change", "message"),
    [
        ({"kalshi": "FEDDECISION-99XXX-H0"}, "Kalshi market 'FEDDECISION-99XXX-H0' is not in"),
        ({"polymarket": "123"}, "Polymarket market '123' is not in"),
        ({"date": "30/04/2024"}, "--date must be YYYY-MM-DD"),
    ],
)
def test_cli_approve_refuses_bad_input_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv_change: dict[str, str], message: str
) -> None:
    links = tmp_path / "links.toml"
    argv = _approve_argv(
        links,
        "--date",
        argv_change.get("date", "2024-04-30"),
        kalshi=argv_change.get("kalshi", HOLD_K),
        polymarket=argv_change.get("polymarket", HOLD_P),
    )
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not links.exists()


def test_cli_approve_refuses_a_duplicate_and_a_broken_venue_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    links = tmp_path / "links.toml"
    assert main(_approve_argv(links, "--date", "2024-04-30")) == 0
    before = links.read_text()
    assert main(_approve_argv(links, "--date", "2024-05-01")) == 2
    assert "duplicate of link[0]" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text('{"markets": [{"ticker": 5}]}')
    argv = _approve_argv(links, "--date", "2024-04-30")
    argv[argv.index("--kalshi-file") + 1] = str(broken)
    assert main(argv) == 2
    assert "markets[0].ticker" in capsys.readouterr().err
    assert links.read_text() == before


def test_cli_approve_refuses_markets_without_rules_or_close_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pages = json.loads(KALSHI_FILE.read_text())
    for market in (market for page in pages for market in page["markets"]):
        market["rules_primary"] = market["rules_secondary"] = ""
    kalshi = tmp_path / "kalshi.json"
    kalshi.write_text(json.dumps(pages))
    argv = _approve_argv(tmp_path / "links.toml", "--date", "2024-04-30")
    argv[argv.index("--kalshi-file") + 1] = str(kalshi)
    assert main(argv) == 2
    assert "has no rules text to review" in capsys.readouterr().err


# -- adversarial review -------------------------------------------------------------------------------


@pytest.fixture
def default_recursion_limit() -> Iterator[None]:
    """py_ecc (imported by the Polymarket client) raises the interpreter's limit to 100000 at
    import; a process without it has Python's 1000, where tomllib overflows on these files."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.parametrize(
    "extra",
    [
        "x = " + "[" * 3000 + "]" * 3000,  # tomllib recurses per nesting level
        "x = " + "{a = " * 3000 + "1" + "}" * 3000,
    ],
)
def test_deeply_nested_toml_is_a_config_error_not_a_crash(
    tmp_path: Path, extra: str, default_recursion_limit: None
) -> None:
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_links(f"version = 1\n{extra}\n", "deep.toml")
    path = tmp_path / "links.toml"
    path.write_text(f"version = 1\n{extra}\n")
    k, p = _fomc_pair()
    with pytest.raises(ConfigError, match="nested too deeply"):
        approve_link(path, _link_for(k, p))


@pytest.mark.parametrize("who", ["\u200b", "\u200b\u200b ", "\x07"])
def test_approved_by_must_name_someone_visibly(who: str) -> None:
    with pytest.raises(ConfigError, match=r"link\[0\]\.approved_by"):
        parse_links(_toml(_valid_link(approved_by=who)), "f.toml")


def test_approve_keeps_the_file_mode_and_writes_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text("version = 1\n")
    real.chmod(0o644)
    alias = tmp_path / "links.toml"
    alias.symlink_to(real)
    k, p = _fomc_pair()
    approve_link(alias, _link_for(k, p))
    assert alias.is_symlink() and len(load_links(real)) == 1
    assert real.stat().st_mode & 0o777 == 0o644  # mkstemp's 0600 would lock out other readers


def test_approve_into_an_unwritable_place_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    k, p = _fomc_pair()
    with pytest.raises(ConfigError, match="cannot write"):
        approve_link(blocker / "links.toml", _link_for(k, p))  # a parent that is a file
    loop_a, loop_b = tmp_path / "a.toml", tmp_path / "b.toml"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    with pytest.raises(ConfigError, match="cannot write"):
        approve_link(loop_a, _link_for(k, p))  # a symlink loop


def test_approve_refuses_an_inline_link_array_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "links.toml"
    path.write_text("version = 1\nlink = []\n")
    k, p = _fomc_pair()
    with pytest.raises(ConfigError, match=r"\[\[link\]\] tables"):
        approve_link(path, _link_for(k, p))
    assert path.read_text() == "version = 1\nlink = []\n"


def test_cli_approve_with_a_broken_links_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], default_recursion_limit: None
) -> None:
    links = tmp_path / "links.toml"
    links.write_text("version = 1\nx = " + "[" * 3000 + "]" * 3000 + "\n")
    assert main(_approve_argv(links, "--date", "2024-04-30")) == 2
    assert "nested too deeply" in capsys.readouterr().err


def test_a_concurrent_approval_is_refused_not_lost(tmp_path: Path) -> None:
    """Two approvals that both read the file and then both replace it would drop one link; the
    second one is refused while the first holds the directory lock."""
    import fcntl
    import os

    path = tmp_path / "links.toml"
    k, p = _fomc_pair()
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another approval in progress
        with pytest.raises(ConfigError, match="another approval"):
            approve_link(path, _link_for(k, p))
        assert not path.exists()
    finally:
        os.close(fd)
    approve_link(path, _link_for(k, p))  # released: it goes through
    assert len(load_links(path)) == 1


def test_cli_approve_shows_polymarket_outcomes_that_are_not_yes_no(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Orientation is relative to the first Polymarket token; when it is not called "Yes" the
    reviewer is shown which outcome it is."""
    markets = json.loads(POLY_FILE.read_text())
    next(m for m in markets if str(m["id"]) == HOLD_P)["outcomes"] = json.dumps(["Down", "Up"])
    poly = tmp_path / "poly.json"
    poly.write_text(json.dumps(markets))
    argv = _approve_argv(tmp_path / "links.toml", "--date", "2024-04-30")
    argv[argv.index("--polymarket-file") + 1] = str(poly)
    assert main(argv) == 0
    assert "YES token = 'Down', NO token = 'Up'" in capsys.readouterr().out
