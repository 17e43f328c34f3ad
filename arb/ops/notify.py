"""Notifications a person must see (incident, halt, daily summary), posted to one webhook in the
JSON shape Discord or Slack accepts.

Pure payload builders (`discord_payload`, `slack_payload`) and a thin sender (`WebhookNotifier`):
httpx async with a timeout, bounded retries with exponential backoff on 429, 5xx and transport errors
(a 429's Retry-After is honoured, capped), never raising into the caller: every failure is recorded in
`failures` and logged without the URL (a webhook URL is itself a credential). `submit` is a plain
callable for synchronous code (the risk gate's `Notifier`): it queues, and `run` delivers in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from arb.errors import ConfigError
from arb.ops.logs import Redactor
from arb.risk.gates import Notification

__all__ = [
    "Alert",
    "DailySummary",
    "Delivery",
    "Incident",
    "WebhookConfig",
    "WebhookNotifier",
    "discord_payload",
    "slack_payload",
]

_log = logging.getLogger(__name__)
_DISCORD_CONTENT_MAX = 2000  # Discord refuses longer message content
_SLACK_SECTION_MAX = 3000  # Slack refuses longer section text
_COLOURS = {"info": 0x2E86DE, "warning": 0xF39C12, "critical": 0xC0392B}


@dataclass(frozen=True, slots=True)
class Incident:
    """Something went wrong that a person should look at: `kind` (partial_fill, unknown_order,
    repair_failed, venue_down ...), what happened, and details as short text pairs."""

    kind: str
    message: str
    at_wall_s: float
    severity: Literal["info", "warning", "critical"] = "warning"
    set_id: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DailySummary:
    """One trading day (UTC date) in figures; money exact."""

    day: str
    at_wall_s: float
    opportunities: int
    plans_executed: int
    fills: int
    incidents: int
    guaranteed_pnl_usd: Decimal
    realised_pnl_usd: Decimal
    capital_used_usd: Decimal


Alert = Notification | Incident | DailySummary


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Where and how to post. `url` comes from the environment (it embeds the webhook's token) and
    is kept out of repr. Attempts include the first try."""

    url: str = field(repr=False)
    format: Literal["discord", "slack"]
    timeout_s: float = 5.0
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 60.0
    queue_size: int = 100

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError("webhook url must start with http:// or https://")
        if self.format not in ("discord", "slack"):
            raise ConfigError(f"webhook format must be 'discord' or 'slack', was {self.format!r}")
        for name in ("timeout_s", "backoff_base_s", "backoff_max_s", "retry_after_max_s"):
            value = getattr(self, name)
            if not value > 0 or value == float("inf"):
                raise ConfigError(f"webhook {name} must be positive and finite, was {value!r}")
        if not 1 <= self.max_attempts <= 20:
            raise ConfigError(f"webhook max_attempts must be in 1..20, was {self.max_attempts}")
        if self.queue_size < 1:
            raise ConfigError(f"webhook queue_size must be >= 1, was {self.queue_size}")


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one alert: delivered or not, after how many attempts, and why not."""

    alert_kind: str
    delivered: bool
    attempts: int
    status: int | None = None
    reason: str = ""


# -- payloads (pure) ----------------------------------------------------------------------------
def _when(at_wall_s: float) -> str:
    return datetime.fromtimestamp(at_wall_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _title_and_lines(alert: Alert) -> tuple[str, str, list[tuple[str, str]], str]:
    """(kind, title, fields, severity) shared by both formats."""
    if isinstance(alert, Notification):
        fields = [("at", _when(alert.at_wall_s))]
        if alert.halt is not None:
            fields += [
                ("reason", alert.halt.kind),
                ("loss", f"{alert.halt.loss_usd} USD"),
                ("limit", f"{alert.halt.limit_usd} USD"),
            ]
        return alert.kind, f"HALT: {alert.message}", fields, "critical"
    if isinstance(alert, Incident):
        fields = [("at", _when(alert.at_wall_s))]
        if alert.set_id is not None:
            fields.append(("set", alert.set_id))
        fields += list(alert.details.items())
        return "incident", f"Incident ({alert.kind}): {alert.message}", fields, alert.severity
    fields = [
        ("opportunities", str(alert.opportunities)),
        ("plans executed", str(alert.plans_executed)),
        ("fills", str(alert.fills)),
        ("incidents", str(alert.incidents)),
        ("guaranteed P&L", f"{alert.guaranteed_pnl_usd} USD"),
        ("realised P&L", f"{alert.realised_pnl_usd} USD"),
        ("capital used", f"{alert.capital_used_usd} USD"),
    ]
    return "daily_summary", f"Daily summary {alert.day}", fields, "info"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def discord_payload(alert: Alert) -> dict[str, Any]:
    """Discord's execute-webhook body: `content` (plain text, <= 2000 chars) and one embed."""
    _, title, fields, severity = _title_and_lines(alert)
    return {
        "content": _cut(title, _DISCORD_CONTENT_MAX),
        "embeds": [
            {
                "title": _cut(title, 256),
                "color": _COLOURS[severity],
                "fields": [{"name": _cut(n, 256), "value": _cut(v, 1024), "inline": True} for n, v in fields[:25]],
            }
        ],
    }


def slack_payload(alert: Alert) -> dict[str, Any]:
    """Slack's incoming-webhook body: `text` (the fallback shown in notifications) and blocks."""
    _, title, fields, _ = _title_and_lines(alert)
    body = "\n".join(f"*{n}*: {v}" for n, v in fields)
    return {
        "text": _cut(title, _SLACK_SECTION_MAX),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(title, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(body or title, _SLACK_SECTION_MAX)}},
        ],
    }


def _retry_after_s(value: str | None, now_wall_s: float) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now_wall_s)
    except (TypeError, ValueError, IndexError):
        return None


# -- sender ---------------------------------------------------------------------------------------
class WebhookNotifier:
    """Posts alerts to one webhook. `send` delivers one alert now; `submit` queues one for `run`.

    sleep: awaited between attempts (tests pass one that records the delays and returns at once)
    wall_s: UTC seconds, to read a Retry-After given as a date
    redactor: applied to the payload's text, so a secret in an incident message never leaves
    """

    def __init__(
        self,
        config: WebhookConfig,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_s: Callable[[], float],
        redactor: Redactor | None = None,
    ) -> None:
        self.config = config
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=config.timeout_s)
        self._sleep = sleep
        self._wall = wall_s
        self._redactor = redactor or Redactor()
        # the URL is cut from every recorded reason whatever redactor the caller gave
        self._url_redactor = Redactor([config.url])
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(config.queue_size)
        self.deliveries: list[Delivery] = []

    @property
    def failures(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.delivered]

    def payload(self, alert: Alert) -> dict[str, Any]:
        body = discord_payload(alert) if self.config.format == "discord" else slack_payload(alert)
        redacted: dict[str, Any] = self._redactor.value(body)
        return redacted

    def _hide(self, text: str) -> str:
        return self._url_redactor.text(self._redactor.text(text))

    def _record(self, delivery: Delivery) -> Delivery:
        self.deliveries.append(delivery)
        if not delivery.delivered:
            _log.warning(
                "webhook notification %s not delivered after %d attempt(s): %s",
                delivery.alert_kind,
                delivery.attempts,
                delivery.reason,
            )
        return delivery

    async def send(self, alert: Alert) -> Delivery:
        """Post one alert, retrying 429/5xx/transport errors with backoff; never raises (except
        cancellation, which propagates so shutdown stays prompt)."""
        cfg = self.config
        try:
            kind = _title_and_lines(alert)[0]
            body = self.payload(alert)
        except Exception as exc:  # noqa: BLE001 - a malformed alert is recorded, never raised
            reason = self._hide(f"cannot build payload: {exc!r}")
            return self._record(Delivery(type(alert).__name__, False, 0, None, reason))
        status: int | None = None
        reason = ""
        for attempt in range(1, cfg.max_attempts + 1):
            retry_after: float | None = None
            try:
                response = await self._client.post(cfg.url, json=body, timeout=cfg.timeout_s)
            except httpx.TimeoutException:
                status, reason = None, f"timed out after {cfg.timeout_s} s"
            except Exception as exc:  # noqa: BLE001 - connection, protocol or TLS errors: recorded, retried
                status, reason = None, self._hide(f"{type(exc).__name__}: {exc}")
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._record(Delivery(kind, True, attempt, status))
                reason = self._hide(f"HTTP {status}: {response.text[:200]}")
                if status != 429 and status < 500:
                    break  # the receiver refuses this body (bad request, gone webhook): retrying cannot help
                if status == 429:
                    retry_after = _retry_after_s(response.headers.get("retry-after"), self._wall())
            if attempt == cfg.max_attempts:
                break
            backoff = min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** (attempt - 1))
            delay = backoff if retry_after is None else min(retry_after, cfg.retry_after_max_s)
            await self._sleep(delay)
        return self._record(Delivery(kind, False, attempt, status, reason))

    def submit(self, alert: Alert) -> None:
        """Queue an alert for `run` (the risk gate's `Notifier`); a full queue drops it, recorded."""
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            kind = type(alert).__name__
            self._record(Delivery(kind, False, 0, None, f"queue full ({self.config.queue_size}); alert dropped"))

    async def run(self) -> None:
        """Deliver queued alerts in order until cancelled."""
        while True:
            alert = await self._queue.get()
            try:
                await self.send(alert)
            finally:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued alert has been attempted (needs `run` going)."""
        await self._queue.join()

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()
