"""The seeded chaos suite (`arb.venues.chaos`): each venue client against its simulator under
combined faults, invariants checked against the simulator's own records. Twenty short episodes per
venue must hold every invariant, each invariant checked many times; a deliberately broken client
side must be caught by the invariant it breaks; the new fault kinds (answers lost after processing,
answers held) are checked on their own."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from arb.cli import main
from arb.errors import ConfigError
from arb.venues.chaos import (
    INVARIANTS,
    VENUES,
    ChaosConfig,
    ChaosReport,
    FakeTime,
    Sabotage,
    run_episode,
    run_episodes,
)
from arb.venues.sim.faults import AnswerFault, FaultInjector, FaultPlan
from arb.venues.sim.http import HttpRequest, HttpResponse, LoopbackHttpServer

EPISODES = 20
STEPS = 24
# Least checks per invariant over the 20 episodes of one venue: a check that hardly runs proves
# nothing. Measured (24 steps): fills 60-70, order states 115-150, books 80-110, exceptions 120,
# connected 80 per venue (docs/venues.md#chaos has the 30-step soak figures).
MIN_CHECKS = {
    "fills_exactly_once": 40,
    "order_state": 80,
    "book_trusted_equal": 60,
    "no_exception": 100,
    "connected": 60,
}


def _summary(report: ChaosReport) -> str:
    lines = [f"{name}: {report.checks[name]} checks, {report.violation_counts[name]} violations" for name in INVARIANTS]
    lines += [f"[{v.venue} seed {v.seed}] {v.invariant}: {v.detail[:300]}" for v in report.violations[:20]]
    return "\n".join(lines)


@pytest.mark.asyncio
@pytest.mark.parametrize("venue", ["kalshi", "polymarket"])
async def test_chaos_episodes_hold_every_invariant(venue: str) -> None:
    report = await run_episodes([venue], EPISODES, seed=1, config=ChaosConfig(steps=STEPS))
    assert len(report.episodes) == EPISODES
    assert report.ok, _summary(report)
    for name, least in MIN_CHECKS.items():
        assert report.checks[name] >= least, _summary(report)
    # Faults fired: most episodes' timelines hold some, and across episodes every kind the venue has.
    with_faults = [e for e in report.episodes if any(a.startswith("fault:") for a in e.timeline)]
    assert len(with_faults) >= EPISODES * 3 // 4, _summary(report)
    kinds = {k for e in report.episodes for k in e.faults}
    expected = {"http_429", "http_500", "drop_connection", "freeze", "partial_fill", "answer_500", "no_answer"}
    expected |= {"sequence_gap"} if venue == "kalshi" else {"hash_mismatch", "slow_answer"}
    assert expected <= kinds, kinds
    if venue == "polymarket":  # a user-socket freeze is drawn, and the client's watchdog ends one
        actions = {a for e in report.episodes for a in e.actions}
        assert {"fault:freeze_user", "user freeze replaced by the watchdog"} <= actions, actions
    assert sum(e.venue_fills for e in report.episodes) >= EPISODES  # fills happen, against us too


# Each sabotage, on a seed where it has something to break, must be caught by its invariant, and the
# violation must be about what the sabotage broke.
CAUGHT_BY = {
    Sabotage.DROP_FILL: "fills_exactly_once",
    Sabotage.DUPLICATE_FILL: "fills_exactly_once",
    Sabotage.WRONG_FINAL_STATE: "order_state",
    Sabotage.CORRUPT_BOOK: "book_trusted_equal",
    Sabotage.SINK_RAISES: "no_exception",
    Sabotage.DEAD_CLIENT: "connected",
}
SABOTAGE_SEEDS = {"kalshi": 12, "polymarket": 1}
SABOTAGES = [
    (sabotage, venue, seed, invariant)
    for sabotage, invariant in CAUGHT_BY.items()
    for venue, seed in SABOTAGE_SEEDS.items()
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("sabotage", "venue", "seed", "invariant"), SABOTAGES)
async def test_a_broken_client_side_is_caught(sabotage: Sabotage, venue: str, seed: int, invariant: str) -> None:
    # short waits: only violations wait them out, and a sabotaged episode has some
    result = await run_episode(venue, seed, ChaosConfig(steps=STEPS, wait_s=0.5, sabotage=sabotage))
    assert result.sabotaged, f"{sabotage.value} found nothing to break on seed {seed}"
    caught = [v for v in result.violations if v.invariant == invariant]
    assert caught, f"{result.sabotaged}: not caught ({result.violations})"
    assert all(v.seed == seed and v.venue == venue for v in result.violations)
    subject = {
        Sabotage.DROP_FILL: lambda: result.sabotaged.removeprefix("dropped fill "),
        Sabotage.DUPLICATE_FILL: lambda: result.sabotaged.removeprefix("duplicated fill "),
        Sabotage.WRONG_FINAL_STATE: lambda: result.sabotaged.rsplit(" ", 1)[-1],
        Sabotage.CORRUPT_BOOK: lambda: result.sabotaged.split()[2],
        Sabotage.SINK_RAISES: lambda: "sabotaged sink",
        Sabotage.DEAD_CLIENT: lambda: "not connected",
    }[sabotage]()
    assert any(subject in v.detail for v in caught), (subject, caught)


def test_chaos_command_prints_the_table_writes_json_and_fails_on_a_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "chaos.json"
    argv = ["chaos", "--venue", "kalshi", "--episodes", "1", "--steps", "8", "--seed", "3", "--json", str(out)]
    assert main(argv) == 0  # a clean episode (the suite above holds every seed to no violation)
    printed = capsys.readouterr().out
    assert "venue" in printed and "kalshi" in printed and all(name in printed for name in INVARIANTS)
    written = json.loads(out.read_text())
    assert [e["seed"] for e in written["episodes"]] == [3] and set(written["checks"]) >= set(INVARIANTS)
    dead = ["chaos", "--venue", "kalshi", "--episodes", "1", "--steps", "4", "--wait-s", "0.3"]
    assert main([*dead, "--sabotage", "dead_client"]) == 1
    assert "the client is not connected" in capsys.readouterr().out


def test_chaos_config_is_validated() -> None:
    for bad in ({"steps": -1}, {"steps": True}, {"wait_s": 0}):
        with pytest.raises(ConfigError):
            ChaosConfig(**bad)
    with pytest.raises(ConfigError):
        asyncio.run(run_episode("nasdaq", 1))


def test_chaos_command_refuses_bad_settings_before_any_output(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (["--episodes", "-1"], ["--steps", "-1"], ["--wait-s", "0"]):
        with pytest.raises(ConfigError):
            main(["chaos", "--venue", "kalshi", *bad])
        assert capsys.readouterr().out == "", bad


# -- the fault kinds added for the suite ------------------------------------------------------------


def test_answer_fault_plan_is_validated() -> None:
    for bad in (
        {"answer_500_fraction": 1.5},
        {"answer_500_fraction": 0.6, "no_answer_fraction": 0.6},
        {"answer_fault_path_prefixes": ("order",)},
        {"answer_fault_methods": ("post",)},
        {"slow_answer_path_prefixes": ["/book"]},
        {"slow_answer_s": -1.0},
    ):
        with pytest.raises(ConfigError):
            FaultPlan(**bad)
    injector = FaultInjector()
    with pytest.raises(ConfigError):
        injector.slow_answers(("book",), 0.1)
    with pytest.raises(ValueError, match="AnswerFault"):
        injector.lose_next_answers("500", 1)  # type: ignore[arg-type]


def test_answer_faults_are_seeded_scripted_and_scoped() -> None:
    plan = FaultPlan(seed=7, answer_500_fraction=0.3, no_answer_fraction=0.2, answer_fault_path_prefixes=("/order",))
    first, second = FaultInjector(plan), FaultInjector(plan)
    seq_a = [first.answer_fault("POST", "/order") for _ in range(200)]
    seq_b = [second.answer_fault("POST", "/order") for _ in range(200)]
    assert seq_a == seq_b  # the same seed, the same decisions
    assert 40 <= seq_a.count(AnswerFault.ANSWER_500) <= 80 and 20 <= seq_a.count(AnswerFault.NO_ANSWER) <= 60
    assert first.answer_fault("GET", "/order") is None and first.answer_fault("POST", "/book") is None
    assert FaultInjector(FaultPlan(answer_500_fraction=1.0)).answer_fault("POST", "/order") is None  # no prefix: none
    scripted = FaultInjector()
    scripted.lose_next_answers(AnswerFault.NO_ANSWER, 1, "/order")
    assert scripted.answer_fault("GET", "/order") is None  # a read is not an order call
    assert scripted.answer_fault("DELETE", "/cancel-all") is None
    assert scripted.answer_fault("POST", "/order") is AnswerFault.NO_ANSWER
    assert scripted.answer_fault("POST", "/order") is None and scripted.counts["no_answer"] == 1
    scripted.slow_answers(("/book",), 0.25)
    assert scripted.answer_delay_s("/book") == 0.25 and scripted.answer_delay_s("/order") == 0.0
    scripted.lose_next_answers(AnswerFault.ANSWER_500, 3)
    scripted.fail_next_http(500, 2)
    scripted.freeze("market")
    scripted.clear_scripted()
    assert scripted.answer_fault("POST", "/order") is None and scripted.http_status("/x") is None
    assert scripted.frozen("market")  # a freeze ends with a new connection, not with the faults' stop


@pytest.mark.asyncio
async def test_http_server_answers_after_processing_with_500_never_or_late() -> None:
    handled: list[str] = []
    sleeps: list[float] = []

    def handler(request: HttpRequest) -> HttpResponse:
        handled.append(request.path)
        return HttpResponse.json(200, {"ok": True})

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    faults = FaultInjector()
    server = LoopbackHttpServer(handler, faults=faults, sleep=sleep)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as http:
            faults.lose_next_answers(AnswerFault.ANSWER_500, 1, "/order")
            answer = await http.post("/order", content=b"{}")
            assert answer.status_code == 500 and answer.json()["injected"] and handled == ["/order"]
            faults.lose_next_answers(AnswerFault.NO_ANSWER, 1, "/order")
            hung = asyncio.ensure_future(http.post("/order", content=b"{}"))
            await asyncio.wait_for(_until(lambda: len(handled) == 2), 5)
            assert not hung.done()  # processed, never answered
            faults.slow_answers(("/book",), 0.125)
            assert (await http.get("/book")).status_code == 200 and sleeps == [0.125]
        await server.close()  # ends the hung connection
        with pytest.raises(httpx.HTTPError):
            await hung
    finally:
        await server.close()


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0)


def test_fake_time_moves_only_when_told() -> None:
    async def scenario() -> None:
        time = FakeTime()
        start, wall = time.clock(), time.wall_ms()
        await time.sleep(1.5)
        assert time.clock() - start == 1_500_000_000 and time.wall_ms() - wall == 1_500 and time.slept_s == 1.5
        with pytest.raises(TimeoutError):
            async with time.deadline(2.0):
                asyncio.get_running_loop().call_soon(time.advance, 2.0)
                await asyncio.sleep(3600)  # only the advance past the deadline ends this
        async with time.deadline(2.0):
            time.advance(1.0)  # not yet due
            await asyncio.sleep(0)

    asyncio.run(scenario())


def test_the_chaos_command_offers_exactly_the_suites_venues_and_sabotages() -> None:
    """The command names its choices by hand (it imports the suite only when it runs): they must
    stay the suite's own."""
    from arb.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    chaos = commands.choices["chaos"]
    choices = {a.dest: set(a.choices) for a in chaos._actions if a.choices}
    assert choices["venue"] == {*VENUES, "both"}
    assert choices["sabotage"] == {s.value for s in Sabotage}
