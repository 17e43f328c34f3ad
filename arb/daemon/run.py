"""`arb run` from a checked configuration: logs, metrics, view, the venue source, the daemon on
uvloop, and the summary at the end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO

import orjson
from rich.console import Console

from arb.config import AppConfig, Credentials
from arb.daemon.core import Daemon, DaemonResult
from arb.daemon.simulated import SimulatedSource
from arb.daemon.venues import ConfiguredVenues, VenueSource
from arb.errors import ArbError
from arb.ops.logs import Redactor, configure_logging
from arb.ops.metrics import Metrics
from arb.ops.summary import render_summary
from arb.ops.view import View, make_view

__all__ = ["run_daemon"]


def run_ledger_path(config: AppConfig, wall_s: float, pid: int) -> Path:
    """Simulated venues and paper accounts start empty every run, so such a run gets a ledger of
    its own beside the configured one (a ledger of earlier runs would hold positions these venues
    never saw, and recovery would refuse to trade): `<ledger dir>/<simulated|paper>/<UTC>-<pid>`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall_s))
    kind = "simulated" if config.run.venues == "simulated" else "paper"
    return config.ledger.path.parent / kind / f"{stamp}-{pid}.sqlite3"


def _source(config: AppConfig, credentials: Credentials) -> VenueSource:
    if config.run.venues == "simulated":
        venues = config.venues
        return SimulatedSource(
            config.run.scenario, order_timeout_s=venues.order_timeout_s, order_settle_s=venues.order_settle_s
        )
    return ConfiguredVenues(config, credentials)


@contextlib.contextmanager
def _log_stream(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stderr
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        yield stream


def run_daemon(
    config: AppConfig,
    credentials: Credentials,
    *,
    stdout: IO[str] | None = None,
    log_file: Path | None = None,
    summary_json: Path | None = None,
) -> int:
    """Run until the duration, a signal or a failure; print the summary; the exit code."""
    out = stdout or sys.stdout
    terminal = out.isatty()
    if config.run.venues == "simulated" or config.run.mode == "paper":
        ledger = replace(config.ledger, path=run_ledger_path(config, time.time(), os.getpid()))
        config = replace(config, ledger=ledger)
    if log_file is None and terminal and config.live_view.enabled:
        log_file = config.ledger.path.parent / "arb-run.log"  # the view owns the terminal
    secrets = [s for s in (credentials.webhook_url,) if s]
    if credentials.kalshi is not None:
        secrets.append(credentials.kalshi.api_key_id)
    if credentials.polymarket is not None:
        p = credentials.polymarket
        secrets.extend((p.private_key, p.api_key, p.api_secret, p.api_passphrase))
    with _log_stream(log_file) as log_stream:
        configure_logging(log_stream, wall_s=time.time, redactor=Redactor(secrets))
        view: View | None = None
        if config.live_view.enabled:
            view = make_view(out, clock=time.monotonic, refresh_per_second=config.live_view.refresh_per_s)
        metrics = Metrics() if config.metrics.enabled else None
        daemon = Daemon(config, credentials, _source(config, credentials), stream=out, view=view, metrics=metrics)
        try:
            result = _run_loop(daemon)
        except ArbError as exc:  # e.g. a venue unreachable at start, the metrics port taken
            print(f"arb run: stopped: {exc}", file=sys.stderr)
            return 1
        if log_file is not None and terminal:
            print(f"logs: {log_file}", file=out)
    return _finish(result, out, summary_json)


def _run_loop(daemon: Daemon) -> DaemonResult:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every platform we run on
        return asyncio.run(daemon.run())
    return uvloop.run(daemon.run())


def _finish(result: DaemonResult, out: IO[str], summary_json: Path | None) -> int:
    if result.summary is not None:
        Console(file=out, width=110).print(render_summary(result.summary))
        if summary_json is not None:
            document = result.summary.to_json()
            document["stop_reason"] = result.reason
            check = result.shutdown_check
            document["shutdown_recovery_clean"] = None if check is None else check.clean
            summary_json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    if result.exit_code != 0:
        print(f"arb run: {result.reason}", file=sys.stderr)
    return result.exit_code
