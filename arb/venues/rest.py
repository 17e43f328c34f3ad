"""The one REST request path both venue clients use: budget, auth headers, deadline, retries.

`RestCaller.request` sends one HTTP request and returns its parsed JSON body, or raises one of the
project's errors, the same way for both venues:

- 2xx with a JSON body: the parsed value. An empty or non-JSON 2xx body is a `FieldError`: never
  guessed to be "nothing" (for an order POST the caller records the order UNKNOWN).
- 429: `RateLimitedError`, with the venue's `Retry-After` (seconds or an HTTP date) as
  `retry_after_s`; the request budget is emptied for at least that long. Always retried (up to
  `retries`): the venue did not take the request.
- 5xx, a timeout (the injected `deadline` or httpx's own) and transport failures:
  `VenueUnavailableError`, retried only when `retry_unavailable` (reads and idempotent writes; an
  order POST is never retried blindly, its outcome is unknown).
- 401/403: `AuthError` (never retried). Any other 4xx: `OrderRejectedError` for order requests
  (`order=True`), else `VenueError`, with the venue's reason text (and, for an order, the venue's
  error code through `code_of` when the venue has one).

Every retry waits a jittered exponential delay (`Backoff` over the injected `rng`), at least the
venue's Retry-After, through the injected `sleep`, and is recorded in `diagnostics.retry_delays`.
Library exceptions (httpx) never escape: they are translated here, at the boundary.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from arb.errors import (
    AuthError,
    FieldError,
    OrderRejectedError,
    RateLimitedError,
    VenueError,
    VenueUnavailableError,
)
from arb.venues.base import Backoff, ClientDiagnostics, Clock, Deadline, Sleep, TokenBucket

__all__ = ["ReasonReader", "RestCaller", "retry_after_s"]

ReasonReader = Callable[[httpx.Response], str]
"""The venue's own error text from an error response (its JSON shape differs per venue)."""


def retry_after_s(value: str | None, now_wall_ms: int) -> float | None:
    """A `Retry-After` header as seconds from now: delta-seconds or an HTTP date; None if absent
    or unreadable. Never negative."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now_wall_ms / 1000
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def _plain_reason(response: httpx.Response) -> str:
    return response.text[:200]


class RestCaller:
    """Sends REST requests for one venue client over its `httpx.AsyncClient`."""

    def __init__(
        self,
        venue: str,
        *,
        clock: Clock,
        sleep: Sleep,
        rng: random.Random,
        deadline: Deadline,
        wall_clock_ms: Callable[[], int],
        retry_base_s: float,
        retry_cap_s: float,
        diagnostics: ClientDiagnostics,
        reason_of: ReasonReader = _plain_reason,
        code_of: ReasonReader | None = None,
    ) -> None:
        self.venue = venue
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._deadline = deadline
        self._wall_ms = wall_clock_ms
        self._retry_base_s = retry_base_s
        self._retry_cap_s = retry_cap_s
        self._diagnostics = diagnostics
        self._reason_of = reason_of
        self._code_of = code_of

    async def request(
        self,
        http: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        path: str,
        bucket: TokenBucket,
        timeout_s: float,
        retries: int,
        retry_unavailable: bool,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        content: bytes | None = None,
        headers: Callable[[], dict[str, str]] | None = None,
        cost: float = 1.0,
        order: bool = False,
    ) -> Any:
        """One call with retries; see the module docstring for what is returned or raised.
        `path` names the request in errors and diagnostics; `headers` is called per attempt
        (signatures carry timestamps)."""
        backoff = Backoff(self._retry_base_s, self._retry_cap_s, self._rng)
        attempt = 0
        while True:
            wait_ns = bucket.delay_ns(self._clock(), cost)
            if wait_ns > 0:
                await self._sleep(wait_ns / 1e9)
            sent_headers = headers() if headers is not None else {}
            if content is not None:
                sent_headers.setdefault("Content-Type", "application/json")
            error: VenueError
            try:
                # The injected deadline is the only timer (httpx's own is off): one clock decides,
                # and a test's fake clock decides alone.
                async with self._deadline(timeout_s):
                    response = await http.request(
                        method, url, params=params, content=content, headers=sent_headers, timeout=None
                    )
            except (TimeoutError, httpx.TimeoutException) as exc:
                error = VenueUnavailableError(
                    f"{method} {path} timed out after {timeout_s:g} s ({type(exc).__name__})", venue=self.venue
                )
            except httpx.HTTPError as exc:  # transport, undecodable content, redirect loops
                error = VenueUnavailableError(f"{method} {path} failed: {type(exc).__name__}", venue=self.venue)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._body(method, path, response)
                error = self._status_error(method, path, response, order)
            retryable = isinstance(error, RateLimitedError) or (
                retry_unavailable and isinstance(error, VenueUnavailableError)
            )
            if not retryable or attempt >= retries:
                raise error
            attempt += 1
            hint = error.retry_after_s if isinstance(error, RateLimitedError) else None
            delay = backoff.next_delay_s(at_least_s=hint or 0.0)
            if isinstance(error, RateLimitedError):
                bucket.penalise(self._clock(), delay)  # later requests wait too, not only this one
            self._diagnostics.retry_delays.append((path, delay))
            await self._sleep(delay)

    def _body(self, method: str, path: str, response: httpx.Response) -> Any:
        if not response.content:
            raise FieldError(f"{method} {path} body", "is empty", b"", venue=self.venue)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise FieldError(
                f"{method} {path} body", "is not valid JSON", response.content[:60], venue=self.venue
            ) from exc

    def _status_error(self, method: str, path: str, response: httpx.Response, order: bool) -> VenueError:
        status = response.status_code
        venue = self.venue
        try:
            reason = self._reason_of(response)
        except RecursionError:  # a body nested ~1000 deep: describe it by size only
            reason = f"<{len(response.content)} bytes>"
        if status == 429:
            wait = retry_after_s(response.headers.get("retry-after"), self._wall_ms())
            return RateLimitedError(f"{method} {path} rate limited", venue=venue, retry_after_s=wait, body=reason)
        if status >= 500:
            return VenueUnavailableError(f"{method} {path} answered {status}", venue=venue, status=status, body=reason)
        if status in (401, 403):
            return AuthError(f"{method} {path} refused ({status}): {reason}", venue=venue, status=status, body=reason)
        if order:
            code = ""
            if self._code_of is not None:
                try:
                    code = self._code_of(response)
                except RecursionError:
                    code = ""
            return OrderRejectedError(
                f"{method} {path} refused ({status}): {reason}",
                venue=venue,
                status=status,
                reason=reason,
                body=reason,
                code=code,
            )
        return VenueError(f"{method} {path} answered {status}: {reason}", venue=venue, status=status, body=reason)
