"""Field readers both venues' wire decoders share: one error for bad JSON, one ISO-8601 reading.

Every reader is pure and raises `FieldError` naming the dotted field path (and the venue), so a
malformed frame or body reads the same way whichever venue sent it. The venue modules keep their
own thin wrappers (they fix the venue name) but no second copy of the logic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from arb.errors import FieldError

__all__ = ["MAX_ISO_LENGTH", "iso_ms", "json_array", "json_object", "loads", "optional_iso_ms"]

MAX_ISO_LENGTH = 40  # longer "times" are garbage; refuse before parsing
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def loads(data: object, field: str = "frame", *, venue: str) -> Any:
    """JSON text -> Python values. Undecodable input (or a value that is not text at all: a
    socket library may hand over anything) is a `FieldError(field, "is not valid JSON")` on both
    venues."""
    if not isinstance(data, (bytes, bytearray, memoryview, str)):
        raise FieldError(field, "is not valid JSON", f"<{type(data).__name__}>", venue=venue)
    try:
        return orjson.loads(data)
    except (orjson.JSONDecodeError, TypeError) as exc:
        shown = data[:60] if isinstance(data, str) else bytes(data[:60])
        raise FieldError(field, "is not valid JSON", shown, venue=venue) from exc


def json_object(value: Any, path: str, *, venue: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise FieldError(path, "is missing" if value is None else "must be a JSON object", value, venue=venue)
    return value


def json_array(value: Any, path: str, *, venue: str) -> list[Any]:
    if type(value) is not list:
        raise FieldError(path, "is missing" if value is None else "must be a JSON array", value, venue=venue)
    return value


def iso_ms(value: Any, field: str, *, venue: str) -> int:
    """An ISO-8601 time as exact epoch milliseconds (microseconds truncated). Spellings the venues
    send are all accepted (`Z`, `+00:00`, `+00`, fractional seconds, a date alone); a time without
    a zone is UTC (both venues write UTC)."""
    if type(value) is not str:
        raise FieldError(field, "must be an ISO-8601 time string", value, venue=venue)
    if len(value) > MAX_ISO_LENGTH:
        raise FieldError(field, "is too long for an ISO-8601 time", value, venue=venue)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError(field, "is not an ISO-8601 time", value, venue=venue) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        delta = moment - _EPOCH  # exact integer arithmetic, unlike datetime.timestamp()
    except OverflowError:
        raise FieldError(field, "is out of range", value, venue=venue) from None
    return (delta.days * 86_400 + delta.seconds) * 1_000 + delta.microseconds // 1_000


def optional_iso_ms(value: Any, field: str, *, venue: str) -> int | None:
    """`iso_ms`, with absent, null and empty meaning None."""
    if value is None or value == "":
        return None
    return iso_ms(value, field, venue=venue)
