"""The daemon's configuration: config/default.toml loads, every bad value exits 2 naming the key,
secrets never appear in errors or reprs, and docs/configuration.md documents exactly the keys."""

from __future__ import annotations

import base64
import io
import re
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arb.config import (
    CONFIG_EXIT_CODE,
    exit_on_config_error,
    load_config,
    resolve_credentials,
    start_config,
)
from arb.domain import TimeInForce
from arb.errors import ConfigError
from tests.support import with_value

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "config" / "default.toml"
DOC = ROOT / "docs" / "configuration.md"
# Tables whose keys are names the user picks (venues, link classes): documented as `<name>`.
MAP_TABLES = {
    "risk.cash_per_venue_usd": "<venue>",
    "risk.notional_per_link_class_usd": "<class>",
    "risk.disagreement_probability_per_link_class": "<class>",
}
SECRET = "s3cr3tVALUEneverShown"
# Well-formed values the venues' own checks accept; each holds SECRET so a leak is visible.
POLY_PRIVATE_KEY = "0x" + "5ec2e7" + "11" * 29
POLY_API_SECRET = base64.urlsafe_b64encode(SECRET.encode()).decode()


def without_key(text: str, dotted: str) -> str:
    table, _, key = dotted.rpartition(".")
    lines = text.splitlines()
    header = lines.index(f"[{table}]")
    end = next((i for i in range(header + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    kept = [line for i, line in enumerate(lines) if not (header < i < end and re.match(rf"{re.escape(key)}\s*=", line))]
    return "\n".join(kept) + "\n"


def configured_text() -> str:
    """The default file trading the venues of [venues] (whose credentials are read) instead of the
    simulated ones."""
    return with_value(DEFAULT.read_text(encoding="utf-8"), "run.venues", '"configured"')


def configured(tmp_path: Path) -> Path:
    path = tmp_path / "configured.toml"
    path.write_text(configured_text(), encoding="utf-8")
    return path


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "arb.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_cli_start(path: Path, **kwargs: object) -> tuple[int, str]:
    """What `arb run` does at start: the exit code and stderr when the configuration is refused."""
    stderr = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        exit_on_config_error(lambda: start_config(path, **kwargs), stderr=stderr)  # type: ignore[arg-type]
    assert isinstance(exited.value.code, int)
    return exited.value.code, stderr.getvalue()


# -- the default file ---------------------------------------------------------------------------------
def test_default_config_loads_into_the_engines_own_settings() -> None:
    config = load_config(DEFAULT)
    assert config.run.mode == "paper" and config.run.venues == "simulated" and config.run.duration_s == 90.0
    assert config.venues.enabled == ("kalshi", "polymarket")
    assert config.venues.kalshi.rest_base_url.startswith("http://127.0.0.1:")
    assert config.scanner.set_limits.min_profit_usd == Decimal("0.01")
    assert config.scanner.set_limits.max_cost_usd is None
    assert config.allocator.config.mip_time_limit_ms == 50.0 and config.allocator.backend == "highs-warm"
    assert config.executor.orders.time_in_force == (TimeInForce.IOC, TimeInForce.FOK)
    # configured once, used by both: the repair's cap and rounds come from [risk] and [executor]
    assert config.repair.loss_cap_usd == config.risk.repair_loss_cap_usd == Decimal("5.00")
    assert config.repair.max_rounds == config.executor.max_repair_rounds
    assert config.ledger.path == (ROOT / "run" / "ledger.sqlite3").resolve()
    assert config.metrics.host == "127.0.0.1"
    assert not config.notifications.enabled
    assert config.risk.kill_switch_file == (ROOT / "run" / "arb.kill").resolve()


def test_an_empty_config_but_risk_takes_the_documented_defaults(tmp_path: Path) -> None:
    risk_only = DEFAULT.read_text(encoding="utf-8")
    risk_only = risk_only[risk_only.index("[risk]") :]
    defaults = load_config(write_config(tmp_path, risk_only))
    full = load_config(DEFAULT)
    for section in ("run", "venues", "scanner", "allocator", "executor", "repair", "metrics", "notifications"):
        assert getattr(defaults, section) == getattr(full, section), section


def test_default_start_needs_no_credentials_and_resolves_none() -> None:
    config, credentials = start_config(DEFAULT, environ={})
    assert config.run.mode == "paper"
    assert credentials.kalshi is None and credentials.polymarket is None and credentials.webhook_url is None


# -- bad values exit 2 naming the key -----------------------------------------------------------------
BAD_VALUES = [
    # (key, TOML literal, words the message must hold)
    ("run.mode", '"yolo"', "one of paper, live"),
    ("run.duration_s", "nan", "finite"),
    ("run.duration_s", "-5", "zero or more"),
    ("run.surprise", "1", "unknown key"),
    ("venues.enabled", '["kalshi", "betfair"]', "distinct venues"),
    ("venues.kalshi.rest_base_url", '"ftp://x"', "http or https URL"),
    ("venues.polymarket.market_ws_url", '"http://127.0.0.1:1/ws"', "ws or wss URL"),
    ("venues.polymarket.signature_type", "7", "from 0 to 3"),
    ("scanner.slots_per_side", "0", "at least 1"),
    ("scanner.max_book_age_ms", "1.5", "an integer"),
    ("scanner.projection_time_budget_ms", "inf", "finite"),
    ("scanner.min_edge_micro_usd", "-1", "at least 0"),
    ("scanner.set_limits.min_profit_usd", "0.01", "not a float"),
    ("scanner.set_limits.max_cost_usd", '"-3"', "zero or more"),
    ("scanner.set_limits.min_profit_usd", '"NaN"', "finite"),
    ("scanner.set_limits.min_profit_per_payout_usd", '"1.5"', "below 1"),
    ("allocator.method", '"magic"', "one of auto"),
    ("allocator.backend", '"gurobi"', "one of highs-warm"),
    ("allocator.mip_time_limit_ms", "-1", "zero or more"),
    ("allocator.mip_fallback", '"yes"', "true or false"),
    ("executor.time_in_force", '["fok", "forever"]', "distinct values"),
    ("executor.settle_timeout_s", "0", "positive"),
    ("executor.max_repair_rounds", "0", "at least 1"),
    ("repair.min_improvement_usd", '"0"', "positive"),
    ("repair.min_improvement_usd", "1e-6", "not a float"),
    ("repair.loss_cap_usd", '"1"', "unknown key"),
    ("ledger.synchronous", '"OFF"', "one of FULL, NORMAL"),
    ("ledger.path", '""', "non-empty path"),
    ("metrics.port", "70000", "from 0 to 65535"),
    ("metrics.host", '"example.com"', "IP address"),
    ("notifications.format", '"teams"', "one of discord, slack"),
    ("live_view.enabled", "1", "true or false"),
    ("risk.min_profit_usd", "0.05", "not a float"),
    ("risk.max_open_plans", "0", "at least 1"),
]


@pytest.mark.parametrize(("key", "literal", "expected"), BAD_VALUES, ids=[f"{k}={v}" for k, v, _ in BAD_VALUES])
def test_a_bad_value_exits_2_naming_file_key_and_expectation(
    tmp_path: Path, key: str, literal: str, expected: str
) -> None:
    path = write_config(tmp_path, with_value(DEFAULT.read_text(encoding="utf-8"), key, literal))
    code, stderr = run_cli_start(path, environ={})
    assert code == CONFIG_EXIT_CODE
    assert str(path) in stderr
    section, _, name = key.rpartition(".")
    assert f"{section}.{name}" in stderr or (f"[{section}]" in stderr and name in stderr), stderr
    assert expected in stderr, stderr


def test_an_unknown_section_exits_2_naming_it(tmp_path: Path) -> None:
    path = write_config(tmp_path, DEFAULT.read_text(encoding="utf-8") + "\n[scaner]\nslots_per_side = 5\n")
    code, stderr = run_cli_start(path, environ={})
    assert code == CONFIG_EXIT_CODE and "unknown section(s): scaner" in stderr and str(path) in stderr


def test_a_missing_or_malformed_file_exits_2_naming_it(tmp_path: Path) -> None:
    code, stderr = run_cli_start(tmp_path / "absent.toml", environ={})
    assert code == CONFIG_EXIT_CODE and "absent.toml: cannot read config" in stderr
    broken = write_config(tmp_path, "[run\nmode = 1\n")
    code, stderr = run_cli_start(broken, environ={})
    assert code == CONFIG_EXIT_CODE and "not valid TOML" in stderr


def test_a_bad_duration_flag_exits_2(tmp_path: Path) -> None:
    code, stderr = run_cli_start(DEFAULT, environ={}, duration_s=float("nan"))
    assert code == CONFIG_EXIT_CODE and "--duration" in stderr


# -- credentials ----------------------------------------------------------------------------------------
def write_rsa_key(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    return path


def full_environment(tmp_path: Path) -> dict[str, str]:
    pem = tmp_path / "kalshi.pem"
    if not pem.exists():
        write_rsa_key(pem)
    return {
        "KALSHI_API_KEY_ID": SECRET + "-kid",
        "KALSHI_PRIVATE_KEY_PATH": str(pem),
        "POLYMARKET_PRIVATE_KEY": POLY_PRIVATE_KEY,
        "POLYMARKET_API_KEY": SECRET + "-ak",
        "POLYMARKET_API_SECRET": POLY_API_SECRET,
        "POLYMARKET_API_PASSPHRASE": SECRET + "-pp",
    }


def test_live_mode_in_the_file_still_needs_the_live_flag(tmp_path: Path) -> None:
    path = write_config(tmp_path, with_value(DEFAULT.read_text(encoding="utf-8"), "run.mode", '"live"'))
    code, stderr = run_cli_start(path, environ=full_environment(tmp_path))
    assert code == CONFIG_EXIT_CODE and "--live" in stderr


def test_live_without_credentials_is_refused_naming_the_variable(tmp_path: Path) -> None:
    code, stderr = run_cli_start(configured(tmp_path), mode="live", live_flag=True, environ={})
    assert code == CONFIG_EXIT_CODE
    assert "--live refused" in stderr and "KALSHI_API_KEY_ID" in stderr and "POLYMARKET_PRIVATE_KEY" in stderr


def test_live_on_the_simulated_venues_is_refused(tmp_path: Path) -> None:
    code, stderr = run_cli_start(DEFAULT, mode="live", live_flag=True, environ=full_environment(tmp_path))
    assert code == CONFIG_EXIT_CODE and "run.venues is simulated" in stderr


def test_simulated_venues_read_no_venue_credentials(tmp_path: Path) -> None:
    env = full_environment(tmp_path)
    del env["POLYMARKET_API_PASSPHRASE"]  # half-configured: refused with configured venues only
    config, credentials = start_config(DEFAULT, environ=env)
    assert config.run.venues == "simulated" and credentials.kalshi is None and credentials.polymarket is None


def test_live_with_every_credential_starts_and_hides_them(tmp_path: Path) -> None:
    env = full_environment(tmp_path)
    config, credentials = start_config(configured(tmp_path), mode="live", live_flag=True, environ=env)
    assert config.run.mode == "live"
    assert credentials.kalshi is not None and credentials.kalshi.api_key_id == SECRET + "-kid"
    assert credentials.polymarket is not None and credentials.polymarket.api_secret == POLY_API_SECRET
    for shown in (repr(credentials), repr(config)):
        assert SECRET not in shown and POLY_API_SECRET not in shown and POLY_PRIVATE_KEY[2:] not in shown
        assert "PRIVATE KEY" not in shown


def test_a_malformed_key_is_refused_at_start_without_its_value(tmp_path: Path) -> None:
    env = full_environment(tmp_path)
    env["POLYMARKET_PRIVATE_KEY"] = SECRET
    code, stderr = run_cli_start(configured(tmp_path), environ=env)
    assert code == CONFIG_EXIT_CODE and "private_key must be 32 bytes of hex" in stderr
    assert "POLYMARKET_PRIVATE_KEY" in stderr and SECRET not in stderr
    env = full_environment(tmp_path)
    not_pem = tmp_path / "not.pem"
    not_pem.write_text(SECRET, encoding="utf-8")
    env["KALSHI_PRIVATE_KEY_PATH"] = str(not_pem)
    code, stderr = run_cli_start(configured(tmp_path), environ=env)
    assert code == CONFIG_EXIT_CODE and "not.pem" in stderr and "not an unencrypted PEM" in stderr
    assert "venues.kalshi.private_key_path_env" in stderr and SECRET not in stderr


def test_incomplete_credentials_name_the_missing_variable_never_a_value(tmp_path: Path) -> None:
    env = full_environment(tmp_path)
    del env["POLYMARKET_API_PASSPHRASE"]
    code, stderr = run_cli_start(configured(tmp_path), environ=env)  # even paper mode refuses a half-configured venue
    assert code == CONFIG_EXIT_CODE
    assert "POLYMARKET_API_PASSPHRASE" in stderr and "venues.polymarket.api_passphrase_env" in stderr
    assert SECRET not in stderr


def test_an_unreadable_kalshi_key_is_refused_at_start_naming_the_path(tmp_path: Path) -> None:
    env = full_environment(tmp_path)
    env["KALSHI_PRIVATE_KEY_PATH"] = str(tmp_path / "missing.pem")
    code, stderr = run_cli_start(configured(tmp_path), environ=env)
    assert code == CONFIG_EXIT_CODE and "missing.pem" in stderr and SECRET not in stderr


def test_key_files_are_read_and_an_empty_one_is_named(tmp_path: Path) -> None:
    text = configured_text()
    text = without_key(text, "venues.polymarket.api_secret_env")
    secret_file = tmp_path / "poly-secret"
    file_secret = base64.urlsafe_b64encode(b"from-a-key-file").decode()
    secret_file.write_text(file_secret + "\n", encoding="utf-8")
    path = write_config(tmp_path, with_value(text, "venues.polymarket.api_secret_file", '"poly-secret"'))
    env = full_environment(tmp_path)
    del env["POLYMARKET_API_SECRET"]
    _, credentials = start_config(path, environ=env)
    assert credentials.polymarket is not None and credentials.polymarket.api_secret == file_secret
    secret_file.write_text("\n", encoding="utf-8")
    code, stderr = run_cli_start(path, environ=env)
    assert code == CONFIG_EXIT_CODE and "poly-secret is empty" in stderr


def test_env_and_file_for_one_secret_is_refused(tmp_path: Path) -> None:
    text = with_value(DEFAULT.read_text(encoding="utf-8"), "venues.polymarket.api_key_file", '"k"')
    code, stderr = run_cli_start(write_config(tmp_path, text), environ={})
    assert code == CONFIG_EXIT_CODE and "api_key_env and venues.polymarket.api_key_file are both set" in stderr


def test_a_secret_pasted_where_a_variable_name_belongs_is_refused_without_echo(tmp_path: Path) -> None:
    text = with_value(DEFAULT.read_text(encoding="utf-8"), "venues.polymarket.api_secret_env", f'"{SECRET}"')
    code, stderr = run_cli_start(write_config(tmp_path, text), environ={})
    assert code == CONFIG_EXIT_CODE and "venues.polymarket.api_secret_env" in stderr
    assert SECRET not in stderr


def test_enabled_notifications_need_the_webhook_variable_and_hide_it(tmp_path: Path) -> None:
    text = with_value(DEFAULT.read_text(encoding="utf-8"), "notifications.enabled", "true")
    path = write_config(tmp_path, text)
    code, stderr = run_cli_start(path, environ={})
    assert code == CONFIG_EXIT_CODE and "ARB_WEBHOOK_URL" in stderr
    code, stderr = run_cli_start(path, environ={"ARB_WEBHOOK_URL": SECRET})
    assert code == CONFIG_EXIT_CODE and "http(s) URL" in stderr and SECRET not in stderr
    url = f"http://127.0.0.1:9/hooks/{SECRET}"
    _, credentials = start_config(path, environ={"ARB_WEBHOOK_URL": url})
    assert credentials.webhook_url == url and SECRET not in repr(credentials)


def test_resolving_credentials_of_a_disabled_venue_reads_nothing(tmp_path: Path) -> None:
    text = with_value(DEFAULT.read_text(encoding="utf-8"), "venues.enabled", '["polymarket"]')
    config = load_config(write_config(tmp_path, text))
    env = full_environment(tmp_path)
    env["KALSHI_PRIVATE_KEY_PATH"] = str(tmp_path / "missing.pem")  # would be an error if kalshi were on
    assert resolve_credentials(config, env).kalshi is None


# -- docs cannot drift ----------------------------------------------------------------------------------
def default_keys() -> set[str]:
    with DEFAULT.open("rb") as handle:
        document = tomllib.load(handle)
    keys: set[str] = set()

    def walk(table: dict[str, object], prefix: str) -> None:
        for name, value in table.items():
            dotted = f"{prefix}{name}"
            if dotted in MAP_TABLES:
                keys.add(f"{dotted}.{MAP_TABLES[dotted]}")
            elif isinstance(value, dict):
                walk(value, dotted + ".")
            else:
                keys.add(dotted)

    walk(document, "")
    return keys


def documented_keys() -> set[str]:
    return set(re.findall(r"^\| `([a-z_][a-z0-9_.<>]*)` \|", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE))


def test_every_key_in_default_toml_is_documented() -> None:
    assert default_keys() - documented_keys() == set()


def test_every_documented_key_is_known_to_the_loader(tmp_path: Path) -> None:
    """A documented key not in default.toml is set in a copy: the loader may refuse its value or
    its combination, but never as an unknown key (so the docs name no key the loader ignores)."""
    extra = sorted(k for k in documented_keys() - default_keys() if "<" not in k)
    assert extra, "the optional keys (key files, max_cost_usd) are documented"
    text = DEFAULT.read_text(encoding="utf-8")
    for key in extra:
        path = write_config(tmp_path, with_value(text, key, '"1"'))
        try:
            load_config(path)
        except ConfigError as exc:
            assert "unknown key" not in str(exc), key
