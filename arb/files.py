"""The one way the engine replaces a file it owns (links.toml, suggestion outputs): atomically and
durably; and the one way it reads the envelope of its versioned TOML files.

`write_text_atomically` writes a temporary file beside the target, fsyncs it, renames it over the
target in one step and fsyncs the directory, so after a crash or power loss the file is either the
old one or the new one, whole, never a torn mix or an empty file (a rename without the directory
fsync may be lost; a file without its own fsync may be renamed before its bytes reach the disk).
"""

from __future__ import annotations

import os
import tempfile
import tomllib
import unicodedata
from pathlib import Path
from typing import Any

from arb.errors import ConfigError

__all__ = ["NEW_FILE_MODE", "read_text", "versioned_tables", "visible_text", "write_text_atomically"]

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


def read_text(path: Path | str, *, what: str) -> str:
    """The UTF-8 text of `path`; `ConfigError` naming `what` ("the links file") when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc})") from exc


def visible_text(text: str) -> bool:
    """A curated entry's free text (who reviewed it, why) says something: some letter or digit, and no
    control or format characters (a zero-width space is not a name)."""
    return any(ch.isalnum() for ch in text) and not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text)


def versioned_tables(text: str, source: str, *, kind: str, table: str, version: int) -> list[Any]:
    """The raw `[[table]]` entries of a TOML file whose only top-level keys are `version` (which must
    equal `version`) and `table`. `kind` ("a links file") and `source` (the file) name it in the
    `ConfigError` for invalid TOML, unknown keys or a wrong version; entries are validated by the
    caller."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
    except RecursionError:  # tomllib recurses once per nesting level of arrays and inline tables
        raise ConfigError(f"{source}: not {kind} (arrays or inline tables nested too deeply)") from None
    unknown = sorted(set(doc) - {"version", table})
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key {unknown[0]!r} (known: version, {table})")
    found = doc.get("version")
    if found is None:
        raise ConfigError(f"{source}: version: is missing (expected version = {version})")
    if type(found) is not int or found != version:
        raise ConfigError(f"{source}: version: must be {version}, was {found!r}")
    entries = doc.get(table, [])
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: {table}: must be an array of tables ([[{table}]]), was {type(entries).__name__}")
    return entries
