"""`arb bench venues` smoke test: the feeds are valid for the production sessions and the JSON has
the required shape. Throughput itself is reported by the benchmark, never asserted here."""

from __future__ import annotations

import json

from arb.cli import main
from benchmarks.venue_bench import run_venue_bench
from benchmarks.venue_feeds import kalshi_feed, polymarket_feed


def test_feeds_are_seeded() -> None:
    assert kalshi_feed(changes=50, seed=3) == kalshi_feed(changes=50, seed=3)
    assert polymarket_feed(changes=50, seed=3) != polymarket_feed(changes=50, seed=4)


def test_every_frame_is_accepted_and_every_book_stays_trusted(tmp_path, capsys) -> None:
    out = tmp_path / "venues.json"
    results = run_venue_bench(changes=3_000, seed=5, json_path=out, repeats=1)
    assert [r.venue for r in results] == ["kalshi", "polymarket"]
    for r in results:
        assert r.messages == 3_000 and r.books == 50 and r.rejected == 0 and r.untrusted_books == 0
    payload = json.loads(out.read_text())
    assert [set(row) >= {"venue", "messages", "seconds", "messages_per_second"} for row in payload["results"]] == [
        True,
        True,
    ]
    assert "msg/s" in capsys.readouterr().out


def test_cli_writes_json(tmp_path) -> None:
    out = tmp_path / "v.json"
    assert main(["bench", "venues", "--messages", "500", "--repeats", "1", "--json", str(out)]) == 0
    assert len(json.loads(out.read_text())["results"]) == 2
