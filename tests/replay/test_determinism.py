"""The real daemon on a virtual clock is bit-reproducible: `Daemon.run()` on `ReplayVenues` of the
default scenario's markets (arb.scenario: catalogue, simulator spec, market makers and arbitrage
script stepping on the virtual clock), with an uncontested opening traded and a contested one
repaired, gives the same ledger (every table, rows in insertion order), the same orders at both
simulators and the same alerts every time: twice in this process, and once more in a process of
its own under another PYTHONHASHSEED (set and dict orders of strings change with it).

Run as a module (`python -m tests.replay.test_determinism WORKDIR`) it prints the canonical bytes
of one run, for the subprocess check."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import random
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from arb.config import Credentials, load_config
from arb.daemon.core import Daemon
from arb.daemon.venues import ConfiguredVenues
from arb.ops.notify import Alert
from arb.replay.clock import current_clock, run_virtual
from arb.replay.venues import ReplayVenues
from arb.scenario.markets import scenario_catalogue
from arb.scenario.participants import ArbitrageScript, MarketMakers, VenueQuotes
from arb.scenario.venues import (
    ScenarioConfig,
    ThrowawayAccounts,
    _sim_spec,
    scenario_exhaustive_series,
    scenario_links,
)
from arb.venues.sim.spec import SimSpec

ROOT = Path(__file__).resolve().parent.parent.parent
START_WALL_MS = 1_733_500_000_000
SEED = 1
# the first opening (a pair, uncontested) at 1 s, the second (inverted, contested: its orders fill
# half and the daemon repairs) at 4 s, each held 2 s
SCENARIO = ScenarioConfig(
    seed=SEED, book_changes_per_s=50.0, period_s=3.0, hold_s=2.0, first_opening_s=1.0, contest_every=2
)
VIRTUAL_S = 7.0
PARTICIPANTS_TICK_S = 0.01


class RecordedAlerts:
    """An `AlertSink` that keeps every alert."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def submit(self, alert: Alert) -> None:
        self.alerts.append(alert)


def _spec() -> SimSpec:
    """The default scenario's simulator spec without its accounts (the replay adds the daemon's)."""
    unused = ThrowawayAccounts("unused", b"", "0x" + "11" * 32, "unused", "dW51c2Vk", "unused")
    spec = _sim_spec(scenario_catalogue(), SCENARIO, unused, "0x" + "00" * 20)
    assert spec.kalshi is not None and spec.polymarket is not None
    return replace(spec, kalshi=replace(spec.kalshi, accounts=()), polymarket=replace(spec.polymarket, accounts=()))


@dataclass(frozen=True)
class Outcome:
    canonical: bytes  # the ledger, both simulators' orders and the alerts, as JSON
    plans_by_status: dict[str, int]
    openings: list[tuple[str, bool]]
    alert_kinds: list[str]
    repairs: int
    wall_s: float


def _ledger_tables(path: Path) -> dict[str, list[list[Any]]]:
    connection = sqlite3.connect(path)
    try:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            name: [list(row) for row in connection.execute(f'SELECT rowid, * FROM "{name}" ORDER BY rowid')]
            for name in sorted(tables)
        }
    finally:
        connection.close()


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)  # enums, Decimal


def replay_default_scenario(workdir: Path) -> Outcome:
    """One replay of the default scenario's markets (module docstring)."""
    workdir.mkdir(parents=True, exist_ok=True)
    base = load_config()
    config = replace(
        base,
        run=replace(base.run, duration_s=VIRTUAL_S, scenario=replace(base.run.scenario, separate_process=False)),
        ledger=replace(base.ledger, path=workdir / "ledger.sqlite3", synchronous="NORMAL"),
        metrics=replace(base.metrics, enabled=False),
        live_view=replace(base.live_view, enabled=False),
        risk=replace(base.risk, kill_switch_file=workdir / "KILL"),
    )
    spec = _spec()
    recorded = RecordedAlerts()

    async def main() -> tuple[Daemon, ReplayVenues, ArbitrageScript]:
        clock = current_clock()
        venues = ReplayVenues(
            spec,
            links=scenario_links(),
            exhaustive_series=scenario_exhaustive_series(),
            seed=SEED,
            clock_ms=clock.wall_ms,
        )
        assert venues.kalshi is not None and venues.polymarket is not None
        quotes = VenueQuotes(venues.kalshi, venues.polymarket)
        catalogue = scenario_catalogue()
        markets = [catalogue.markets[key] for key in sorted(catalogue.markets, key=lambda k: (k[0].value, k[1]))]
        rng = random.Random(f"scenario:{SEED}")  # as ScenarioRuntime seeds them
        start_s = clock.monotonic_s()
        makers = MarketMakers(
            quotes,
            markets,
            random.Random(rng.getrandbits(64)),
            book_changes_per_s=SCENARIO.book_changes_per_s,
            size_micro=SCENARIO.quote_size * 10**6,
            start_s=start_s,
        )
        script = ArbitrageScript(
            quotes,
            makers,
            catalogue.markets,
            catalogue.openings,
            period_s=SCENARIO.period_s,
            hold_s=SCENARIO.hold_s,
            opening_size_micro=SCENARIO.opening_size * 10**6,
            contest_every=SCENARIO.contest_every,
            partial_fill_ratio=SCENARIO.partial_fill_ratio,
            start_s=start_s,
            first_after_s=SCENARIO.first_opening_s,
        )
        daemon = Daemon(
            config,
            Credentials(),
            venues,
            stream=io.StringIO(),
            install_signals=False,
            clock=clock.monotonic_ns,
            wall_ms=clock.wall_ms,
            alerts=recorded,
            wall_clock_limits=False,
        )

        async def participants() -> None:
            while True:
                now_s = clock.monotonic_s()
                makers.step(now_s)
                script.step(now_s)
                await asyncio.sleep(PARTICIPANTS_TICK_S)

        stepping = asyncio.create_task(participants())
        try:
            result = await daemon.run()
        finally:
            stepping.cancel()
        assert result.exit_code == 0, result.reason
        assert result.shutdown_check is not None and result.shutdown_check.clean
        return daemon, venues, script

    started = time.monotonic()
    daemon, venues, script = run_virtual(main, start_wall_ms=START_WALL_MS)
    wall_s = time.monotonic() - started
    assert venues.kalshi is not None and venues.polymarket is not None
    kalshi_orders = [
        {"order": _plain(meta.order), "outcome": meta.outcome.value, "action": meta.action.value}
        | {"created_ms": meta.created_ms, "updated_ms": meta.updated_ms}
        for meta in venues.kalshi.orders_of(venues.kalshi_key_id)
    ]
    polymarket_orders = [_plain(meta) for meta in venues.polymarket.orders_of(venues.polymarket_credentials.api_key)]
    document = {
        "ledger": _ledger_tables(workdir / "ledger.sqlite3"),
        "kalshi_orders": kalshi_orders,
        "polymarket_orders": polymarket_orders,
        "alerts": [_plain(alert) for alert in recorded.alerts],
        "openings": [(r.opening.name, r.contested) for r in script.history],
    }
    summary = daemon.tally
    return Outcome(
        canonical=orjson.dumps(document, option=orjson.OPT_SORT_KEYS),
        plans_by_status=dict(summary.plans_by_status),
        openings=[(r.opening.kind.value, r.contested) for r in script.history],
        alert_kinds=[getattr(alert, "kind", type(alert).__name__) for alert in recorded.alerts],
        repairs=summary.repairs,
        wall_s=wall_s,
    )


def test_replays_give_the_same_ledger_orders_and_alerts_in_this_process_and_under_another_hash_seed(
    tmp_path: Path,
) -> None:
    # the run in a process of its own starts first: it spends most of its time importing
    seed = "1234" if os.environ.get("PYTHONHASHSEED") != "1234" else "4321"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.replay.test_determinism", str(tmp_path / "child")],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": seed},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        first = replay_default_scenario(tmp_path / "first")
        # it traded: the uncontested pair completed; the contested inverted opening filled partly
        # and was repaired, which raised an alert
        assert first.openings[:2] == [("pair", False), ("inverted", True)]
        assert first.plans_by_status.get("complete", 0) >= 1
        assert first.plans_by_status.get("repaired", 0) >= 1 and first.repairs >= 1
        assert "partial_fill" in first.alert_kinds
        document = orjson.loads(first.canonical)
        assert document["ledger"]["fills"] and document["kalshi_orders"] and document["polymarket_orders"]
        second = replay_default_scenario(tmp_path / "second")
        assert second.canonical == first.canonical
        out, err = child.communicate(timeout=180)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err.decode()[-2000:]
    assert out == first.canonical
    print(f"wall time per virtual second: {first.wall_s / VIRTUAL_S:.3f} s, {second.wall_s / VIRTUAL_S:.3f} s")


def test_off_wall_clock_limits_lift_the_mip_fallbacks_real_time_limits() -> None:
    """HiGHS's own time limit in the MIP fallback is real time, which a loaded machine can hit (a
    long replay ran 47 fallbacks, the slowest stopped at the limit, 47 ms): a replay's plans would
    then depend on the load. Lifted, the fallbacks' node budget binds; the default keeps them."""
    config = load_config()
    assert config.allocator.config.mip_time_limit_ms < 1_000 and config.repair.mip_time_limit_ms < 1_000
    live = Daemon(config, Credentials(), ConfiguredVenues(config, Credentials()), install_signals=False)
    assert live.config is config and live.rebalance_config().mip_time_limit_ms < 1_000
    replay = Daemon(
        config, Credentials(), ConfiguredVenues(config, Credentials()), install_signals=False, wall_clock_limits=False
    )
    assert replay.config.allocator.config.mip_time_limit_ms >= 3_600_000
    assert replay.config.repair.mip_time_limit_ms >= 3_600_000
    assert replay.rebalance_config().mip_time_limit_ms >= 3_600_000
    assert replace(replay.config, allocator=config.allocator, repair=config.repair) == config  # nothing else


if __name__ == "__main__":
    sys.stdout.buffer.write(replay_default_scenario(Path(sys.argv[1])).canonical)
