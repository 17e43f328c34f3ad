"""`arb replay SCENARIO... [--json OUT]`: one line per scenario, exit 0 only when every check of
every file passed (1 when one failed, 2 when a file is invalid: nothing ran)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from arb.config import CONFIG_EXIT_CODE
from arb.errors import ConfigError
from arb.files import write_text_atomically
from arb.replay.expect import describe_failure
from arb.replay.runner import ReplayResult, run_scenario, to_json_list
from arb.replay.scenario import Scenario, load_scenario

__all__ = ["FAILED_EXIT_CODE", "run_replay"]

FAILED_EXIT_CODE = 1


def run_replay(
    paths: Sequence[Path], *, json_out: Path | None = None, out: IO[str] | None = None, err: IO[str] | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    engine = logging.getLogger("arb")
    if not engine.handlers:  # the daemons' log lines would interleave with the results: what they
        engine.addHandler(logging.NullHandler())  # say is in the JSON (plans, incidents, alerts)
    try:  # every file checked before the first replay starts
        scenarios: list[Scenario] = [load_scenario(path) for path in paths]
    except ConfigError as exc:
        print(f"arb replay: {exc}", file=err)
        return CONFIG_EXIT_CODE
    width = max(len(s.name) for s in scenarios)
    results: list[ReplayResult] = []
    for scenario in scenarios:
        try:
            result = run_scenario(scenario)
        except ConfigError as exc:  # what only the run can find (a socket directory too long ...)
            print(f"arb replay: {scenario.name}: {exc}", file=err)
            return CONFIG_EXIT_CODE
        results.append(result)
        if result.passed:
            line = f"{scenario.name:<{width}}  PASS  ({len(result.checks)} checks)"
        else:
            line = f"{scenario.name:<{width}}  FAIL  " + "; ".join(describe_failure(c) for c in result.failed)
        print(line, file=out, flush=True)
    if json_out is not None:
        data = results[0].to_json_bytes() if len(results) == 1 else to_json_list(results)
        try:
            write_text_atomically(json_out, data.decode("utf-8"), what="the replay JSON", create_parents=True)
        except ConfigError as exc:
            print(f"arb replay: {exc}", file=err)
            return CONFIG_EXIT_CODE
    return 0 if all(r.passed for r in results) else FAILED_EXIT_CODE
