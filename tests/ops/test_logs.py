"""Structured logs: one JSON object per line with the injected clock's time, plain lines on request,
and no secret reaching the output whatever field, nesting or message carries it."""

from __future__ import annotations

import io
import logging
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.errors import ConfigError
from arb.ops.logs import REDACTED, Redactor, configure_logging, log_event

SECRET = "s3cr3t-API-value-9f8e7d"
WALL_S = 1_796_000_000.25  # 2026-11-30T00:53:20.250Z


@pytest.fixture
def logger():
    name = "arb.test_ops_logs"
    yield logging.getLogger(name)
    target = logging.getLogger(name)
    for handler in list(target.handlers):
        target.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_carry_time_level_event_and_fields(logger) -> None:
    stream = io.StringIO()
    configure_logging(stream, wall_s=lambda: WALL_S, logger=logger.name)
    log_event(logger, logging.INFO, "plan_executed", set_id="fed-dec", profit_usd=Decimal("1.25"), legs=2)
    logger.warning("book %s resynced", "KXFED-26DEC")
    first, second = (orjson.loads(line) for line in _lines(stream))
    assert first == {
        "ts": "2026-11-30T00:53:20.250Z",
        "level": "info",
        "logger": logger.name,
        "event": "plan_executed",
        "set_id": "fed-dec",
        "profit_usd": "1.25",
        "legs": 2,
    }
    assert second["event"] == "book KXFED-26DEC resynced" and second["level"] == "warning"


def test_configuring_twice_does_not_double_lines(logger) -> None:
    stream = io.StringIO()
    configure_logging(stream, wall_s=lambda: WALL_S, logger=logger.name)
    configure_logging(stream, wall_s=lambda: WALL_S, logger=logger.name)
    logger.info("once")
    assert len(_lines(stream)) == 1


def test_plain_lines_are_readable_and_redacted(logger) -> None:
    stream = io.StringIO()
    redactor = Redactor([SECRET])
    configure_logging(stream, wall_s=lambda: WALL_S, redactor=redactor, json=False, logger=logger.name)
    log_event(logger, logging.INFO, "order_sent", venue="kalshi", note=f"key {SECRET}", api_key="abc")
    (line,) = _lines(stream)
    assert line.startswith(f"2026-11-30T00:53:20.250Z INFO    {logger.name}: order_sent venue=kalshi ")
    assert f'note="key {REDACTED}"' in line and f"api_key={REDACTED}" in line
    assert SECRET not in line and "abc" not in line


def test_secret_named_fields_are_redacted_whatever_their_value(logger) -> None:
    stream = io.StringIO()
    configure_logging(stream, wall_s=lambda: WALL_S, logger=logger.name)
    log_event(
        logger,
        logging.INFO,
        "connect",
        api_key="k-123456",
        apiSecret="p",
        KALSHI_PRIVATE_KEY_PATH="/keys/kalshi.pem",
        headers={"Authorization": "Bearer xyz", "POLY_PASSPHRASE": "pp", "Accept": "json"},
        token_id="7123",  # a Polymarket outcome token is public market data, kept
        pem="-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
    )
    event = orjson.loads(_lines(stream)[0])
    assert event["api_key"] == event["apiSecret"] == event["KALSHI_PRIVATE_KEY_PATH"] == REDACTED
    assert event["headers"] == {"Authorization": REDACTED, "POLY_PASSPHRASE": REDACTED, "Accept": "json"}
    assert event["token_id"] == "7123"
    assert event["pem"] == REDACTED


def test_secret_value_in_message_and_exception_is_redacted(logger) -> None:
    stream = io.StringIO()
    configure_logging(stream, wall_s=lambda: WALL_S, redactor=Redactor([SECRET]), logger=logger.name)
    try:
        raise RuntimeError(f"signing failed with {SECRET}")
    except RuntimeError:
        logger.exception("login with %s failed", SECRET)
    text = stream.getvalue()
    assert SECRET not in text
    event = orjson.loads(_lines(stream)[0])
    assert event["event"] == f"login with {REDACTED} failed" and REDACTED in event["exc"]


def test_from_environ_collects_credential_variables() -> None:
    environ = {
        "ARB_WEBHOOK_URL": "https://hooks.example/T000/abc",
        "KALSHI_API_KEY_ID": "11111111-2222",
        "POLY_PRIVATE_KEY": "0x" + "ab" * 32,
        "HOME": "/root",
        "ARB_TOKEN_FLAG": "1",  # too short to be a secret: ignored, not an error
        "MY_CUSTOM": "custom-secret-value",
    }
    redactor = Redactor.from_environ(environ, secret_names=["MY_CUSTOM"])
    text = redactor.text(" ".join(environ.values()))
    for name in ("ARB_WEBHOOK_URL", "KALSHI_API_KEY_ID", "POLY_PRIVATE_KEY", "MY_CUSTOM"):
        assert environ[name] not in text
    assert "/root" in text


def test_too_short_secret_values_are_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Redactor(["abc"])


_field_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
_payloads = st.recursive(
    st.one_of(st.none(), st.integers(), st.booleans(), st.text(max_size=20), st.decimals(allow_nan=False, places=2)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(_field_names, children, max_size=3)),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    fields=st.dictionaries(_field_names, _payloads, max_size=4),
    where=st.lists(st.sampled_from(["prefix", "alone", "suffix"]), min_size=1, max_size=3),
    name=_field_names,
)
def test_a_secret_value_in_any_field_is_redacted(fields, where, name) -> None:
    """Wherever the secret sits (any field name, nested in lists and mappings, inside longer text),
    the JSON line never contains it."""
    logger = logging.getLogger("arb.test_ops_logs_property")
    stream = io.StringIO()
    configure_logging(stream, wall_s=lambda: WALL_S, redactor=Redactor([SECRET]), logger=logger.name)
    carried = {"prefix": f"x{SECRET}", "alone": SECRET, "suffix": f"{SECRET} tail"}
    fields = dict(fields)
    fields[name] = {"nested": [carried[w] for w in where], name: carried[where[0]]}
    fields["z_" + name] = carried[where[-1]]
    log_event(logger, logging.INFO, "event", **fields)
    line = stream.getvalue()
    assert line.count("\n") == 1
    assert SECRET not in line
    assert orjson.loads(line)["event"] == "event"
