"""A real `arb run` in a subprocess, its JSON log lines read as they come (no sleeping: every wait
is on a log line or the process, with a deadline)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from arb.config import AppConfig, load_config
from tests.support import with_value as set_key

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT = ROOT / "config" / "default.toml"


def write_config(tmp_path: Path, **overrides: str) -> Path:
    """The default configuration with a fast scenario, the ledger and kill file under `tmp_path`
    (relative paths resolve against the config's directory) and the metrics on a free port."""
    text = DEFAULT.read_text(encoding="utf-8")
    values = {
        "run.duration_s": "0",
        "run.scenario.arbitrage_period_s": "1.5",
        "run.scenario.arbitrage_hold_s": "0.75",
        "run.scenario.first_opening_s": "0.2",
        "run.scenario.contest_every": "2",
        "run.scenario.separate_process": "false",
        "metrics.port": "0",
        "live_view.refresh_per_s": "10",
        **overrides,
    }
    for dotted, value in values.items():
        text = set_key(text, dotted, value)
    directory = tmp_path / "cfg"
    directory.mkdir(exist_ok=True)
    path = directory / "arb.toml"
    path.write_text(text, encoding="utf-8")
    return path


class Daemon:
    """`arb run` as a child process; `wait_for` reads its stderr (JSON log lines) until a line
    matches."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "arb.cli", "run", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._out: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._out_reader = threading.Thread(target=self._read_out, daemon=True)
        self._out_reader.start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._out.append(line)

    @property
    def stdout(self) -> str:
        return "".join(self._out)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._lines.put(line)
        self._lines.put(None)

    def _take(self, timeout_s: float) -> bool:
        """One more line into `events`; False at the end of the stream."""
        line = self._lines.get(timeout=timeout_s)
        if line is None:
            self._lines.put(None)
            return False
        self.raw.append(line)
        with contextlib.suppress(json.JSONDecodeError):
            self.events.append(json.loads(line))
        return True

    def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout_s: float = 60.0,
        *,
        after: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The first event matching `predicate` (after the event `after`, when given)."""
        deadline = time.monotonic() + timeout_s
        checked = 0 if after is None else next(i for i, e in enumerate(self.events) if e is after) + 1
        while True:
            for event in self.events[checked:]:
                if predicate(event):
                    return event
            checked = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._take(remaining):
                raise AssertionError(f"no such log event; last lines:\n{''.join(self.raw[-15:])}")

    def event(self, name: str, timeout_s: float = 60.0) -> dict[str, Any]:
        return self.wait_for(lambda e: e.get("event") == name, timeout_s)

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout_s: float = 90.0) -> int:
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._reader.join(timeout=10)
        self._out_reader.join(timeout=10)
        while self._take(0.1):
            pass
        return self.proc.returncode

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == name]


def in_process_config(
    tmp_path: Path, *, synchronous: Literal["FULL", "NORMAL"] = "NORMAL", **scenario: Any
) -> AppConfig:
    """The default configuration for a daemon run inside a test's process: the default scenario's
    simulators in this process, 200 book changes a second, an opening every second (the first at
    once, held half a second), no duration, metrics and the live view off, the ledger under
    `tmp_path`; `scenario` overrides `run.scenario` fields (e.g. `contest_every`)."""
    base = load_config()
    fast = replace(
        base.run.scenario,
        book_changes_per_s=200.0,
        arbitrage_period_s=1.0,
        arbitrage_hold_s=0.5,
        first_opening_s=0.1,
        separate_process=False,
        **scenario,
    )
    return replace(
        base,
        run=replace(base.run, duration_s=None, scenario=fast),
        ledger=replace(base.ledger, path=tmp_path / "ledger.sqlite3", synchronous=synchronous),
        metrics=replace(base.metrics, enabled=False),
        live_view=replace(base.live_view, enabled=False),
    )
