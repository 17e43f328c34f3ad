"""`arb kill`: engage or release the kill switch by its file, which the daemon checks before every
plan (`KillSwitch`). Engaging writes the file atomically (what, when, who), creating its directory;
releasing removes it. Both are idempotent."""

from __future__ import annotations

import argparse
import getpass
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from arb.errors import ConfigError
from arb.files import write_text_atomically
from arb.risk.config import load_risk_config

__all__ = ["engage_kill_file", "release_kill_file", "run_kill"]


def engage_kill_file(path: Path, reason: str, *, now: datetime | None = None) -> bool:
    """Create the kill-switch file; False when it already existed (left as it was)."""
    if path.exists():
        return False
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except (OSError, KeyError):  # no user name in a bare container
        who = "unknown"
    write_text_atomically(
        path, f"engaged {stamp} by {who}: {reason}\n", what="the kill-switch file", create_parents=True
    )
    return True


def release_kill_file(path: Path) -> bool:
    """Remove the kill-switch file; False when there was none."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ConfigError(f"{path}: cannot remove the kill-switch file ({exc.strerror or exc})") from exc
    return True


def run_kill(args: argparse.Namespace) -> int:
    def refuse(message: str) -> int:
        print(f"arb kill: {message}", file=sys.stderr)
        return 2

    try:
        path: Path | None = args.file
        if path is None:
            path = load_risk_config(args.config).kill_switch_file
            if path is None:
                return refuse(f"{args.config} sets no risk.kill_switch_file; pass --file PATH")
        if args.release:
            released = release_kill_file(path)
            print(f"kill switch released: {path} removed" if released else f"kill switch was not engaged ({path})")
        else:
            engaged = engage_kill_file(path, args.reason)
            print(
                f"kill switch engaged: {path} (no new plan is sent while it exists)"
                if engaged
                else f"kill switch already engaged: {path}"
            )
    except ConfigError as exc:
        return refuse(str(exc))
    return 0
