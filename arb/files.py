"""The one way the engine replaces a file it owns (links.toml, suggestion outputs): atomically and
durably.

`write_text_atomically` writes a temporary file beside the target, fsyncs it, renames it over the
target in one step and fsyncs the directory, so after a crash or power loss the file is either the
old one or the new one, whole, never a torn mix or an empty file (a rename without the directory
fsync may be lost; a file without its own fsync may be renamed before its bytes reach the disk).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from arb.errors import ConfigError

__all__ = ["NEW_FILE_MODE", "write_text_atomically"]

NEW_FILE_MODE = 0o644  # files others (the daemon's user) read; mkstemp alone would make 0600


def write_text_atomically(path: Path | str, text: str, *, what: str = "the file", create_parents: bool = False) -> None:
    """Replace `path` (through a symlink: the link's target) with `text`, keeping the old file's
    permission bits. `ConfigError` naming `what` when it cannot be written; the old file is then
    untouched and no temporary file is left behind."""
    path = Path(path)
    tmp = ""
    try:
        target = path.resolve()
        if create_parents:
            target.parent.mkdir(parents=True, exist_ok=True)
        mode = target.stat().st_mode & 0o7777 if target.is_file() else NEW_FILE_MODE
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(tmp, target)
        tmp = ""
        _fsync_directory(target.parent)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise ConfigError(f"{path}: cannot write {what} ({getattr(exc, 'strerror', None) or exc})") from exc
    finally:
        if tmp:
            Path(tmp).unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
