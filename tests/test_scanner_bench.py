"""`arb bench scanner` smoke test: the instance has the stated shape mix, the seeded stream is valid
for the real books (nothing crossed), the counters add up and the JSON has the documented shape.
Per-update cost itself is reported by the benchmark, never asserted here."""

from __future__ import annotations

import json
from collections import Counter

from arb.cli import main
from arb.domain import BookSide, ChangeMode
from benchmarks.scanner_bench import (
    COALESCED_BATCH,
    ScannerBenchReport,
    build_instance,
    generate_stream,
    reset_books,
    run_scanner_bench,
)
from solvers import Equivalent, ExactlyOne, Implies


def _shape(component) -> str:
    kinds = Counter(type(r) for r in component.relations)
    if kinds[Implies]:
        return f"ladder{len(component.contracts)}"
    if kinds[ExactlyOne] == 2:
        return "linked_group"
    if kinds[ExactlyOne]:
        return f"group{len(component.contracts)}"
    assert kinds[Equivalent] == 1
    return "pair"


def test_every_size_gets_the_same_shape_mix() -> None:
    small = Counter(_shape(c) for c in build_instance(10, seed=4).components)
    large = Counter(_shape(c) for c in build_instance(1_000, seed=4).components)
    assert small == {"pair": 4, "group3": 1, "group4": 1, "group5": 1, "linked_group": 1, "ladder3": 1, "ladder4": 1}
    assert large == {shape: 100 * count for shape, count in small.items()}


def test_stream_is_seeded_and_never_crosses_a_book() -> None:
    instance = build_instance(20, seed=2)
    stream = generate_stream(instance, 3_000, seed=2)
    again = generate_stream(build_instance(20, seed=2), 3_000, seed=2)
    assert [(s[1], s[2], s[3], s[5]) for s in stream] == [(s[1], s[2], s[3], s[5]) for s in again]
    reset_books(instance)
    kinds: Counter[str] = Counter()
    for now, (book, side, price, size, _, _) in enumerate(stream, 1):
        resting = dict(book.bids() if side is BookSide.BID else book.asks())
        kinds["size" if price in resting and size else "move"] += 1
        assert book.apply_level(side, price, size, ChangeMode.SET, now), f"change {now} left {book!r} untrusted"
    assert kinds["size"] > kinds["move"] > 0  # mostly size changes at resting levels, some requotes


def test_counters_add_up_and_json_has_the_documented_shape(tmp_path, capsys) -> None:
    out = tmp_path / "scanner.json"
    report = run_scanner_bench(sizes=(10, 40), updates=3_000, seed=1, json_path=out, repeats=1)
    assert isinstance(report, ScannerBenchReport) and report.valid
    assert [(r.components, r.drain_every) for r in report.rows] == [
        (10, 1),
        (10, COALESCED_BATCH),
        (40, 1),
        (40, COALESCED_BATCH),
    ]
    for row in report.rows:
        assert row.updates == 3_000 and row.untrusted_books == 0 and row.per_update_us > 0
        assert row.evaluations + row.coalesced == row.updates  # each change is evaluated once or absorbed
        assert row.cleared_by_bound + row.forwarded == row.evaluations
        assert (
            sum(row.cleared_by.values()) == row.cleared_by_bound and sum(row.forward_reasons.values()) == row.forwarded
        )
        if row.drain_every == 1:
            assert row.coalesced == 0
        else:
            assert row.coalesced > 0
    assert any(row.forwarded for row in report.rows), "the stream should make some components incoherent"
    assert report.rows[0].cleared_by.get("cached_point", 0) > report.rows[0].cleared_by.get("structure", 0)
    per_update = {r.components: r.per_update_us for r in report.rows if r.drain_every == 1}
    assert report.ratio == max(per_update.values()) / min(per_update.values())
    assert report.ok == (report.ratio <= 2.0)
    payload = json.loads(out.read_text())
    assert set(payload) == {"results", "ratio", "ratio_coalesced", "max_ratio", "ok"}
    assert all(
        {
            "components",
            "markets",
            "drain_every",
            "updates",
            "per_update_us",
            "evaluations",
            "coalesced",
            "cleared_by_bound",
            "forwarded",
        }
        <= set(r)
        for r in payload["results"]
    )
    printed = capsys.readouterr().out
    assert "us/update" in printed and "coalesced" in printed and "40 vs 10 components" in printed


def test_ok_needs_a_valid_run_within_the_ratio() -> None:
    assert ScannerBenchReport((), ratio=1.5, ratio_coalesced=3.0).ok
    assert not ScannerBenchReport((), ratio=2.5, ratio_coalesced=1.0).ok
    assert not ScannerBenchReport((), ratio=1.0, ratio_coalesced=1.0, valid=False).ok


def test_cli_runs_the_scanner_bench(tmp_path) -> None:
    out = tmp_path / "s.json"
    assert (
        main(["bench", "scanner", "--components", "5", "--updates", "200", "--repeats", "1", "--json", str(out)]) == 0
    )
    assert [r["components"] for r in json.loads(out.read_text())["results"]] == [5, 5]
