"""Webhook notifications reach a loopback receiver the test runs, in Discord's and Slack's shapes;
429 and 5xx are retried with backoff (Retry-After honoured); a dead receiver never raises."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import pytest

from arb.errors import ConfigError
from arb.ops.notify import DailySummary, Incident, WebhookConfig, WebhookNotifier, discord_payload, slack_payload
from arb.risk.gates import HaltEvent, LossHalts, Notification

WALL_S = 1_796_000_000.0
SECRET = "hunter2-venue-secret"


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server: answers each POST with the next scripted (status, headers),
    then 200; keeps every request body it received."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                method, path, _ = request_line.decode().split(" ", 2)
                headers = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                assert method == "POST" and headers["content-type"] == "application/json"
                self.paths.append(path)
                self.bodies.append(orjson.loads(body))
                status, extra = self.script.pop(0) if self.script else (200, {})
                reply = b"ok" if status < 300 else b'{"message": "slow down"}'
                head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(reply)}\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
                writer.write(head.encode() + b"\r\n" + reply)
                await writer.drain()
        finally:
            writer.close()


@asynccontextmanager
async def receiving(script: list[tuple[int, dict[str, str]]] | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver(script=list(script or []))
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    async with server:
        yield receiver


class RecordedSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _notifier(port: int, fmt: str, sleep: RecordedSleep, **overrides) -> WebhookNotifier:
    settings = {"timeout_s": 2.0, **overrides}
    config = WebhookConfig(url=f"http://127.0.0.1:{port}/hook/{SECRET}", format=fmt, **settings)  # type: ignore[arg-type]
    return WebhookNotifier(config, sleep=sleep, wall_s=lambda: WALL_S)


def _incident() -> Incident:
    return Incident(
        kind="partial_fill",
        message="leg 2 of fed-dec filled 4 of 10; repair bought 6 at 0.41",
        at_wall_s=WALL_S,
        set_id="fed-dec",
        details={"venue": "polymarket", "exposure": "2.46 USD"},
    )


@pytest.mark.asyncio
async def test_incident_reaches_a_discord_receiver() -> None:
    sleep = RecordedSleep()
    async with receiving() as receiver:
        notifier = _notifier(receiver.port, "discord", sleep)
        delivery = await notifier.send(_incident())
        await notifier.aclose()
    assert delivery.delivered and delivery.attempts == 1 and delivery.status == 200
    (body,) = receiver.bodies
    assert receiver.paths == [f"/hook/{SECRET}"]
    assert body["content"] == "Incident (partial_fill): leg 2 of fed-dec filled 4 of 10; repair bought 6 at 0.41"
    (embed,) = body["embeds"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {"at": "2026-11-30 00:53:20 UTC", "set": "fed-dec", "venue": "polymarket", "exposure": "2.46 USD"}
    assert isinstance(embed["color"], int)
    assert sleep.delays == []


@pytest.mark.asyncio
async def test_halt_and_summary_reach_a_slack_receiver() -> None:
    halt = HaltEvent("daily_loss", WALL_S, Decimal("55.10"), Decimal(50))
    summary = DailySummary(
        day="2026-11-30",
        at_wall_s=WALL_S,
        opportunities=42,
        plans_executed=7,
        fills=19,
        incidents=1,
        guaranteed_pnl_usd=Decimal("3.17"),
        realised_pnl_usd=Decimal("1.02"),
        capital_used_usd=Decimal("410.00"),
    )
    sleep = RecordedSleep()
    async with receiving() as receiver:
        notifier = _notifier(receiver.port, "slack", sleep)
        first = await notifier.send(Notification("halt", halt.message, WALL_S, halt))
        second = await notifier.send(summary)
        await notifier.aclose()
    assert first.delivered and second.delivered
    halt_body, summary_body = receiver.bodies
    assert halt_body["text"] == "HALT: trading halted: daily loss 55.10 USD reached the limit 50 USD"
    assert [b["type"] for b in halt_body["blocks"]] == ["header", "section"]
    assert "*limit*: 50 USD" in halt_body["blocks"][1]["text"]["text"]
    assert summary_body["text"] == "Daily summary 2026-11-30"
    section = summary_body["blocks"][1]["text"]
    assert section["type"] == "mrkdwn"
    assert "*guaranteed P&L*: 3.17 USD" in section["text"] and "*plans executed*: 7" in section["text"]


@pytest.mark.asyncio
async def test_429_then_200_is_retried_after_retry_after() -> None:
    sleep = RecordedSleep()
    async with receiving([(429, {"Retry-After": "3"}), (503, {})]) as receiver:
        notifier = _notifier(receiver.port, "discord", sleep, backoff_base_s=0.25)
        delivery = await notifier.send(_incident())
        await notifier.aclose()
    assert delivery.delivered and delivery.attempts == 3
    assert len(receiver.bodies) == 3 and receiver.bodies[0] == receiver.bodies[2]
    assert sleep.delays == [3.0, 0.5]  # Retry-After, then the second step of the exponential backoff
    assert notifier.failures == []


@pytest.mark.asyncio
async def test_retry_after_is_capped_and_attempts_are_bounded() -> None:
    sleep = RecordedSleep()
    async with receiving([(429, {"Retry-After": "3600"})] * 3) as receiver:
        notifier = _notifier(receiver.port, "slack", sleep, max_attempts=3, retry_after_max_s=10.0)
        delivery = await notifier.send(_incident())
        await notifier.aclose()
    assert not delivery.delivered and delivery.attempts == 3 and delivery.status == 429
    assert sleep.delays == [10.0, 10.0]
    assert notifier.failures == [delivery]


@pytest.mark.asyncio
async def test_a_refused_body_is_not_retried() -> None:
    sleep = RecordedSleep()
    async with receiving([(400, {})]) as receiver:
        notifier = _notifier(receiver.port, "discord", sleep)
        delivery = await notifier.send(_incident())
        await notifier.aclose()
    assert not delivery.delivered and delivery.attempts == 1 and delivery.status == 400
    assert len(receiver.bodies) == 1 and sleep.delays == []


@pytest.mark.asyncio
async def test_a_dead_receiver_does_not_raise_and_is_recorded(caplog) -> None:
    with socket.socket() as probe:  # a port nobody listens on: bound, then closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleep = RecordedSleep()
    notifier = _notifier(port, "discord", sleep, max_attempts=3, backoff_base_s=1.0)
    delivery = await notifier.send(_incident())
    await notifier.aclose()
    assert not delivery.delivered and delivery.attempts == 3 and delivery.status is None
    assert "ConnectError" in delivery.reason
    assert sleep.delays == [1.0, 2.0]
    assert notifier.failures == [delivery]
    # the webhook URL (a credential) is never in what was recorded or logged
    assert SECRET not in delivery.reason and SECRET not in caplog.text


@pytest.mark.asyncio
async def test_submit_queues_for_the_risk_gate_and_run_delivers() -> None:
    sleep = RecordedSleep()
    async with receiving() as receiver:
        notifier = _notifier(receiver.port, "slack", sleep)
        halts = LossHalts(Decimal(50), Decimal(100), wall_s=lambda: WALL_S, notify=notifier.submit)
        worker = asyncio.create_task(notifier.run())
        halts.observe(Decimal(1000))
        halts.observe(Decimal(940))  # a 60 USD daily loss: halts, notifies once
        halts.observe(Decimal(900))
        await notifier.drain()
        worker.cancel()
        await notifier.aclose()
    (body,) = receiver.bodies
    assert body["text"].startswith("HALT: trading halted: daily loss 60")


def test_a_full_queue_drops_and_records() -> None:
    notifier = WebhookNotifier(
        WebhookConfig(url="http://127.0.0.1:9/hook", format="discord", queue_size=1), wall_s=lambda: WALL_S
    )
    notifier.submit(_incident())
    notifier.submit(_incident())
    (failure,) = notifier.failures
    assert "queue full" in failure.reason and failure.attempts == 0


def test_secrets_in_an_alert_are_redacted_from_the_payload() -> None:
    from arb.ops.logs import Redactor

    notifier = WebhookNotifier(
        WebhookConfig(url="http://127.0.0.1:9/hook", format="slack"),
        wall_s=lambda: WALL_S,
        redactor=Redactor(["venue-api-key-123"]),
    )
    alert = Incident("auth", "login failed with venue-api-key-123", WALL_S, details={"api_key": "venue-api-key-123"})
    assert "venue-api-key-123" not in orjson.dumps(notifier.payload(alert)).decode()


def test_payload_limits_are_respected() -> None:
    long = Incident("x", "y" * 5000, WALL_S, details={f"k{i}": "v" * 2000 for i in range(40)})
    discord = discord_payload(long)
    assert len(discord["content"]) == 2000 and len(discord["embeds"][0]["fields"]) == 25
    assert all(len(f["value"]) <= 1024 for f in discord["embeds"][0]["fields"])
    slack = slack_payload(long)
    assert len(slack["blocks"][0]["text"]["text"]) <= 150 and len(slack["blocks"][1]["text"]["text"]) <= 3000


@pytest.mark.parametrize(
    "overrides",
    [{"url": "ftp://x"}, {"format": "teams"}, {"timeout_s": 0}, {"max_attempts": 0}, {"backoff_base_s": float("nan")}],
)
def test_bad_webhook_config_is_refused(overrides) -> None:
    values = {"url": "https://hooks.example/x", "format": "discord", **overrides}
    with pytest.raises(ConfigError):
        WebhookConfig(**values)


@pytest.mark.asyncio
@pytest.mark.parametrize("behaviour", ["garbage", "silent"])
async def test_a_broken_receiver_does_not_raise(behaviour) -> None:
    """A receiver that answers something other than HTTP, or nothing at all (the short timeout
    strikes), is recorded as a failed delivery after the bounded attempts."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        if behaviour == "garbage":
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            await writer.drain()
            writer.close()
        else:
            held.append(writer)  # keep the connection open and never answer

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sleep = RecordedSleep()
    async with server:
        notifier = _notifier(port, "slack", sleep, max_attempts=2, timeout_s=0.05)
        delivery = await notifier.send(_incident())
        await notifier.aclose()
        for writer in held:
            writer.close()
    assert not delivery.delivered and delivery.attempts == 2 and delivery.status is None
    assert sleep.delays == [0.5]
    assert ("timed out" in delivery.reason) == (behaviour == "silent")
