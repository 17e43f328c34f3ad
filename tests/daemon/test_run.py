"""`arb run` as a user runs it: a real subprocess on the simulated venues of the default scenario.

- SIGTERM in the middle of activity: exit 0, nothing resting on either venue, every order in the
  ledger final, and recovery on the ledger finds nothing to fix (acceptance 2);
- the running daemon's metrics endpoint, scraped over HTTP, serves every metric docs/operations.md
  documents (acceptance 3);
- the kill switch file (`arb kill`) stops new plans while the daemon runs;
- a bad configuration exits 2 naming the key, before anything starts (no ledger file, no port);
- `--live` without credentials (or on the simulated venues) is refused with exit 2.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from arb.cli import main
from arb.domain import OrderStatus
from arb.ledger import Ledger
from tests.daemon.support import DEFAULT, ROOT, Daemon, write_config
from tests.support import with_value as set_key

OPERATIONS = ROOT / "docs" / "operations.md"


def documented_metrics() -> set[str]:
    rows = re.findall(r"^\| `(arb_[a-z_]+)` \| (\w+) \|", OPERATIONS.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(rows) >= 10, "docs/operations.md lists the metrics in a table"
    # a counter's family is named without _total (its samples carry the suffix)
    return {name.removesuffix("_total") if kind == "counter" else name for name, kind in rows}


def only_ledger(tmp_path: Path) -> Path:
    ledgers = list((tmp_path / "run" / "simulated").glob("*.sqlite3"))
    assert len(ledgers) == 1, ledgers
    return ledgers[0]


def test_sigterm_mid_activity_exits_0_with_nothing_resting_and_a_consistent_ledger(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    summary = tmp_path / "summary.json"
    daemon = Daemon("--config", str(config), "--summary-json", str(summary))
    try:
        served = daemon.event("metrics_serving")
        daemon.event("trading")
        scraped = httpx.get(served["url"], timeout=10.0)
        assert scraped.status_code == 200
        families = {f.name for f in text_string_to_metric_families(scraped.text)}
        assert documented_metrics() <= families, documented_metrics() - families
        # an execution under way: its orders are out when the signal lands
        daemon.wait_for(lambda e: e.get("event") == "executing")
        daemon.signal(signal.SIGTERM)
        code = daemon.finish()
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert code == 0, "".join(daemon.raw[-20:])
    assert daemon.named("shutdown")[0]["reason"] == "signal SIGTERM"
    # every plan under way finished (settled or repaired) before the daemon left
    assert daemon.named("executing")
    orders = daemon.named("shutdown_orders")
    assert orders == [orders[0]] and orders[0]["still_resting"] == 0 and orders[0]["unresolved"] == 0
    venues = {e["venue"]: e["count"] for e in daemon.named("shutdown_venue_open_orders")}
    assert venues == {"kalshi": 0, "polymarket": 0}, "the venues themselves list no resting order of ours"
    check = daemon.named("shutdown_recovery_check")
    assert check and check[0]["clean"] is True and check[0]["differences"] == [] and check[0]["cancelled"] == 0
    document = json.loads(summary.read_text(encoding="utf-8"))
    assert document["shutdown_recovery_clean"] is True and document["stop_reason"] == "signal SIGTERM"
    # the ledger on disk, read back on its own: no order left in a state that is not final
    ledger = Ledger(only_ledger(tmp_path))
    try:
        open_states = (OrderStatus.OPEN, OrderStatus.PENDING, OrderStatus.UNKNOWN)
        assert ledger.orders(statuses=open_states) == []
        assert ledger.orders(), "orders were sent before the signal"
        assert ledger.integrity_check() == "ok"
    finally:
        ledger.close()
    assert "Run summary" in daemon.stdout


def test_the_kill_file_stops_new_plans_while_running(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    daemon = Daemon("--config", str(config))
    try:
        daemon.event("trading")
        killed = subprocess.run(
            [sys.executable, "-m", "arb.cli", "kill", "--config", str(config), "--reason", "test"],
            cwd=ROOT,
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert killed.returncode == 0, killed.stderr
        event = daemon.event("kill_switch")
        assert "arb.kill" in event["reason"]
        # every plan started from here on is refused by the kill switch (one started before may finish)
        started = daemon.wait_for(lambda e: e.get("event") == "executing", after=event)
        outcome = daemon.wait_for(
            lambda e: e.get("event") == "plan" and e["set_id"] == started["set_id"], after=started
        )
        assert outcome["status"] == "refused" and any("kill switch" in r for r in outcome["refusals"])
        daemon.signal(signal.SIGINT)
        code = daemon.finish()
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    assert code == 0
    after_kill = daemon.events[daemon.events.index(event) :]
    begun = [e["set_id"] for e in after_kill if e.get("event") == "executing"]
    for set_id in begun:
        ends = [e for e in after_kill if e.get("event") == "plan" and e["set_id"] == set_id]
        assert all(e["status"] == "refused" for e in ends[-begun.count(set_id) :])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_bad_key_exits_2_naming_it_with_nothing_started(tmp_path: Path) -> None:
    port = free_port()
    text = set_key(DEFAULT.read_text(encoding="utf-8"), "metrics.port", str(port))
    text = set_key(text, "run.sweep_interval_s", "-1")
    directory = tmp_path / "cfg"
    directory.mkdir()
    config = directory / "arb.toml"
    config.write_text(text, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "arb.cli", "run", "--config", str(config)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert str(config) in run.stderr and "run.sweep_interval_s" in run.stderr
    assert not (tmp_path / "run").exists(), "no ledger (nor its directory) was created"
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "no metrics port was opened"


def test_live_is_refused_without_credentials_and_on_simulated_venues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    configured = tmp_path / "configured.toml"
    configured.write_text(set_key(DEFAULT.read_text(encoding="utf-8"), "run.venues", '"configured"'))
    for name in list(os.environ):
        if name.startswith(("KALSHI_", "POLYMARKET_")):
            monkeypatch.delenv(name)
    for path, expected in ((configured, "--live refused"), (DEFAULT, "run.venues is simulated")):
        with pytest.raises(SystemExit) as exited:
            main(["run", "--config", str(path), "--live"])
        assert exited.value.code == 2 and expected in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
