"""The copied captures are byte-identical to their recorded origins, and each one is attributed."""

from __future__ import annotations

import hashlib

from tests.venues.golden import FIXTURES

CAPTURE_DIRS = ("kalshi/ws", "kalshi/rest", "kalshi/format_examples", "polymarket/ws", "polymarket/rest")


def _manifest() -> dict[str, str]:
    entries = {}
    for line in (FIXTURES / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        entries[name] = digest
    return entries


def test_every_fixture_matches_the_recorded_sha256() -> None:
    manifest = _manifest()
    on_disk = {str(path.relative_to(FIXTURES)) for folder in CAPTURE_DIRS for path in (FIXTURES / folder).iterdir()}
    assert on_disk == set(manifest), "fixtures and SHA256SUMS list different files"
    for name, digest in manifest.items():
        assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == digest, name


def test_no_proprietary_spec_was_copied() -> None:
    copied = [p for p in FIXTURES.rglob("*") if p.suffix in {".yaml", ".yml"}]
    assert copied == []


def test_every_origin_folder_is_attributed() -> None:
    readme = (FIXTURES / "README.md").read_text()
    for folder in CAPTURE_DIRS:
        assert f"`{folder}/`" in readme, folder
