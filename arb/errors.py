"""The one error tree of the engine (`arb`), arranged by what the caller should do next.

    ArbError                          anything raised by `arb`
    ├── WireError (ValueError)        a venue frame or response cannot become a domain event.
    │   │                             Drop that message (count it), keep the connection; never guess.
    │   ├── UnknownShapeError         a message type or shape the decoder does not know
    │   └── FieldError                a named field is missing, has the wrong type or an invalid
    │                                 value (NaN, negative, out of (0, 1), too many decimals)
    ├── BookError                     a book invariant broke (crossed, unknown book, bad change);
    │                                 the book is marked untrusted until re-synced
    ├── VenueError                    the venue answered, and the answer is "no" or "not now"
    │   ├── RateLimitedError          HTTP 429: back off (honour retry_after_s), then retry
    │   ├── VenueUnavailableError     5xx, connection refused/reset, timeout: retry with backoff;
    │   │                             for order sends the outcome is UNKNOWN until reconciled
    │   ├── AuthError                 401/403 or a bad signature: fix credentials, never retried
    │   └── OrderRejectedError        the venue refused an order (tick, size, balance): not retried
    └── ConfigError (ValueError)      configuration, credentials or a call's arguments are invalid: fix and restart

Errors from libraries (orjson, httpx, websockets, cryptography) are translated at the boundary with
`raise OurError(...) from exc`, so callers only ever catch these types.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = [
    "ArbError",
    "AuthError",
    "BookError",
    "ConfigError",
    "FieldError",
    "OrderRejectedError",
    "RateLimitedError",
    "UnknownShapeError",
    "VenueError",
    "VenueUnavailableError",
    "WireError",
]


_REPR = reprlib.Repr()  # Python 3.11: limits are attributes, not constructor arguments
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 60, 60, 6, 6


def _short_repr(value: Any) -> str:
    """A bounded repr of a bad value: venue input can be huge or nested a thousand levels deep,
    and describing it must never fail (or recurse) itself."""
    try:
        shown = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ or RecursionError: name the type only
        shown = f"<{type(value).__name__}>"
    return shown if len(shown) <= 80 else shown[:77] + "..."


class ArbError(Exception):
    """Base class of every error raised by the engine."""


class WireError(ArbError, ValueError):
    """A venue message could not be decoded. `venue` names the venue, `field` the offending field
    (a dotted path such as ``msg.yes_dollars_fp[2][0]``; empty for whole-frame problems)."""

    def __init__(self, message: str, *, venue: str = "", field: str = "") -> None:
        super().__init__(f"{venue}: {message}" if venue else message)
        self.venue = venue
        self.field = field


class UnknownShapeError(WireError):
    """The message type is unknown or the frame has a shape no decoder accepts."""


class FieldError(WireError):
    """A named field is missing or invalid."""

    def __init__(self, field: str, problem: str, value: Any = None, *, venue: str = "") -> None:
        shown = _short_repr(value)
        super().__init__(f"field {field!r} {problem} (got {shown})", venue=venue, field=field)
        self.value = value
        self.problem = problem


class BookError(ArbError):
    """A book change violated an invariant; the book is untrusted until the next snapshot."""

    def __init__(self, message: str, *, book_id: str = "") -> None:
        super().__init__(message)
        self.book_id = book_id


class VenueError(ArbError):
    """The venue refused or failed a request. `status` is the HTTP status when there is one."""

    def __init__(self, message: str, *, venue: str = "", status: int | None = None, body: str = "") -> None:
        super().__init__(f"{venue}: {message}" if venue else message)
        self.venue = venue
        self.status = status
        self.body = body


class RateLimitedError(VenueError):
    """HTTP 429 or a venue rate-limit error; `retry_after_s` is the venue's hint when given."""

    def __init__(self, message: str, *, venue: str = "", retry_after_s: float | None = None, body: str = "") -> None:
        super().__init__(message, venue=venue, status=429, body=body)
        self.retry_after_s = retry_after_s


class VenueUnavailableError(VenueError):
    """5xx, timeouts and transport failures."""


class AuthError(VenueError):
    """Authentication failed (401/403, bad signature, missing credentials)."""


class OrderRejectedError(VenueError):
    """The venue refused an order; `reason` is the venue's own text, `code` its machine-readable
    error code when it sends one (Kalshi ErrorResponse.code), else ""."""

    def __init__(
        self,
        message: str,
        *,
        venue: str = "",
        status: int | None = None,
        reason: str = "",
        body: str = "",
        code: str = "",
    ) -> None:
        super().__init__(message, venue=venue, status=status, body=body)
        self.reason = reason
        self.code = code


class ConfigError(ArbError, ValueError):
    """Invalid configuration or credentials; the message names the setting."""
