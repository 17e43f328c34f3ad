"""The one atomic, durable file write (links.toml and suggestion outputs): the file and then its
directory are fsynced, permissions are kept, a failure leaves the old file and no debris, and the
engine has no second copy of it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import arb
from arb.errors import ConfigError
from arb.files import NEW_FILE_MODE, write_text_atomically


def test_the_file_then_its_directory_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    target = tmp_path / "links.toml"
    write_text_atomically(target, "version = 1\n")
    assert target.read_text() == "version = 1\n" and synced == ["file", "dir"]
    assert stat.S_IMODE(target.stat().st_mode) == NEW_FILE_MODE


def test_permissions_and_symlinks_are_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text("old\n")
    real.chmod(0o600)
    link = tmp_path / "links.toml"
    link.symlink_to(real)
    write_text_atomically(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n" and stat.S_IMODE(real.stat().st_mode) == 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "pairs.json"
    target.write_text("old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ConfigError, match="cannot write the pairs"):
        write_text_atomically(target, "new", what="the pairs")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["pairs.json"]
    with pytest.raises(ConfigError, match="cannot write"):
        write_text_atomically(tmp_path / "missing" / "x.json", "{}")  # no such directory, not created


def test_the_engine_has_one_atomic_write() -> None:
    root = Path(arb.__file__).parent
    writers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if "mkstemp(" in p.read_text())
    assert writers == ["files.py"]
