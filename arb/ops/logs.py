"""Structured logs: one JSON object per line (orjson), or plain readable lines, with secrets redacted
before anything is written.

The engine already logs through `logging`; `configure_logging` puts one handler with
`StructuredFormatter` on the `arb` logger, so every existing record comes out in the chosen shape.
Structured fields travel in `extra={"fields": {...}}` (`log_event` does that), so they never collide
with `LogRecord`'s own attributes. Time comes from an injected wall clock (UTC seconds), not from the
record, so tests see fixed timestamps.

Redaction runs on the whole event (message, every field, nested mappings and sequences, the
exception text): a field whose name says it holds a credential is replaced whatever its value, and a
configured secret value is cut out of any string it appears in, under any field name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any

import orjson

from arb.errors import ConfigError

__all__ = [
    "REDACTED",
    "Redactor",
    "StructuredFormatter",
    "configure_logging",
    "log_event",
]

REDACTED = "[REDACTED]"
_MIN_SECRET_LEN = 4  # shorter values would blank ordinary text ("1", "yes") everywhere

# a field is a credential when one of its name's words is one of these (api_key, KALSHI_PRIVATE_KEY_PATH
# is a path, but paths to keys say where the key is: redacted too)
_SECRET_WORDS = frozenset(
    {
        "key",
        "apikey",
        "secret",
        "token",
        "passphrase",
        "password",
        "passwd",
        "private",
        "privkey",
        "credential",
        "credentials",
        "signature",
        "authorization",
        "cookie",
        "webhook",
    }
)
# identifiers that contain a secret word but are public market data (Polymarket's outcome tokens)
_PUBLIC_NAMES = frozenset({"token_id", "token_ids", "clob_token_ids", "asset_id", "book_key", "market_key"})
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL)


class Redactor:
    """Removes credentials from log events.

    secret_values: exact secret strings (API keys, passphrases, webhook URLs) cut out of any text
    secret_names: extra field names always redacted (case-insensitive)
    public_names: field names never treated as credentials by their words (public identifiers)
    """

    def __init__(
        self,
        secret_values: Iterable[str] = (),
        secret_names: Iterable[str] = (),
        public_names: Iterable[str] = _PUBLIC_NAMES,
    ) -> None:
        values = []
        for value in secret_values:
            if not isinstance(value, str) or len(value) < _MIN_SECRET_LEN:
                raise ConfigError(f"a secret value to redact must be a string of at least {_MIN_SECRET_LEN} characters")
            values.append(value)
        # longest first, so a secret that contains another is cut whole
        self._values = tuple(sorted(set(values), key=len, reverse=True))
        self._pattern = re.compile("|".join(re.escape(v) for v in self._values)) if self._values else None
        self._names = frozenset(name.lower() for name in secret_names)
        self._public = frozenset(name.lower() for name in public_names)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], secret_names: Iterable[str] = ()) -> Redactor:
        """Every environment value whose variable name marks a credential (ARB_WEBHOOK_URL,
        KALSHI_API_KEY_ID, POLY_PRIVATE_KEY ...) plus the variables named in `secret_names`."""
        named = {name.upper() for name in secret_names}
        probe = cls()
        values = [
            value
            for name, value in environ.items()
            if len(value) >= _MIN_SECRET_LEN and (name.upper() in named or probe.is_secret_name(name))
        ]
        return cls(values, secret_names)

    def is_secret_name(self, name: str) -> bool:
        lowered = name.lower()
        if lowered in self._names:
            return True
        if lowered in self._public:
            return False
        return any(word.lower() in _SECRET_WORDS for word in _WORD_SPLIT.split(name) if word)

    def text(self, value: str) -> str:
        value = _PEM.sub(REDACTED, value)
        return value if self._pattern is None else self._pattern.sub(REDACTED, value)

    def value(self, value: Any) -> Any:
        """A copy of `value` with secrets removed; mappings and sequences are walked, other objects
        become their (redacted) text so nothing unexpected reaches the serializer."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
            return str(value)  # orjson writes 64-bit integers only
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", "replace"))
        if isinstance(value, Mapping):
            return self.fields(value)
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(item) for item in value]
        return self.text(str(value))

    def fields(self, fields: Mapping[Any, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in fields.items():
            name = self.text(str(key))
            out[name] = REDACTED if self.is_secret_name(str(key)) else self.value(value)
        return out


def _iso(wall_s: float) -> str:
    return datetime.fromtimestamp(wall_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StructuredFormatter(logging.Formatter):
    """Formats a record as one JSON line (`json=True`) or one plain line, redacted.

    JSON keys: ts (ISO 8601 UTC, ms), level, logger, event (the message), the record's `fields`,
    and `exc` (the traceback text) when an exception is attached.
    """

    def __init__(self, *, wall_s: Callable[[], float], redactor: Redactor | None = None, json: bool = True) -> None:
        super().__init__()
        self._wall = wall_s
        self._redactor = redactor or Redactor()
        self._json = json

    def event(self, record: logging.LogRecord) -> dict[str, Any]:
        redact = self._redactor
        event: dict[str, Any] = {
            "ts": _iso(self._wall()),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact.text(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            for name, value in redact.fields(fields).items():
                event[name if name not in event else f"field_{name}"] = value
        if record.exc_info:
            event["exc"] = redact.text(self.formatException(record.exc_info))
        return event

    def format(self, record: logging.LogRecord) -> str:
        event = self.event(record)
        if self._json:
            return orjson.dumps(event, default=str).decode()
        head = f"{event.pop('ts')} {event.pop('level').upper():<7} {event.pop('logger')}: {event.pop('event')}"
        exc = event.pop("exc", None)
        tail = " ".join(f"{name}={_plain(value)}" for name, value in event.items())
        line = f"{head} {tail}" if tail else head
        return f"{line}\n{exc}" if exc else line


def _plain(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() for c in value) and "=" not in value:
        return value
    return orjson.dumps(value, default=str).decode()


def configure_logging(
    stream: IO[str],
    *,
    wall_s: Callable[[], float],
    redactor: Redactor | None = None,
    json: bool = True,
    level: int = logging.INFO,
    logger: str = "arb",
) -> logging.Handler:
    """Send `logger` (default: the whole engine) to `stream` in the chosen shape; replaces a handler
    this function installed before, so calling it twice does not double every line. Returns the handler."""
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if getattr(h, "_arb_structured", False)]:
        target.removeHandler(old)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(StructuredFormatter(wall_s=wall_s, redactor=redactor, json=json))
    handler._arb_structured = True  # type: ignore[attr-defined]
    target.addHandler(handler)
    target.setLevel(level)
    target.propagate = False
    return handler


def log_event(logger: logging.Logger, level: int, event: str, /, **fields: Any) -> None:
    """Log one structured event at `level`: `event` names it, `fields` carry its data (any names,
    even `level` or `event`: a field that clashes with a line's own key is written as `field_<name>`)."""
    logger.log(level, "%s", event, extra={"fields": fields})
