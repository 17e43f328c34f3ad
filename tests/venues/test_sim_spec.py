"""Declarative construction: a plain description (TOML/JSON-able) builds ready simulators, and a bad
description is refused with an error naming the key."""

from __future__ import annotations

import copy
import hashlib
import tomllib
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arb.domain import Action, BookSide, Side
from arb.errors import ConfigError
from arb.venues.sim.kalshi import KalshiRefusal, KalshiSimulator
from arb.venues.sim.polymarket import PolymarketSimulator
from arb.venues.sim.spec import BookSpec, SimSpec, load_sim_spec

U = 1_000_000
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = (
    KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
)
CONDITION = "0x" + hashlib.sha256(b"spec market").hexdigest()

TOML = f'''
seed = 7

[kalshi]
default_balance_usd = "250"

[[kalshi.series]]
ticker = "KXFED"
fee_type = "quadratic_with_maker_fees"
fee_multiplier = 0.5

[[kalshi.events]]
event_ticker = "KXFED-26DEC"
series_ticker = "KXFED"
mutually_exclusive = true

[[kalshi.markets]]
ticker = "KXFED-26DEC-H0"
event_ticker = "KXFED-26DEC"
yes_sub_title = "Hold"
price_level_structure = "tapered_deci_cent"
book = {{ bids = [["0.42", "100"], ["0.041", 3]], asks = [["0.45", "50"]] }}

[[kalshi.markets]]
ticker = "KXFED-26DEC-C25"
event_ticker = "KXFED-26DEC"
fractional = true
book = {{ asks = [["0.60", "2.5"]] }}

[[kalshi.accounts]]
key_id = "key-1"
balance_usd = "500.25"
public_key_pem = """{PEM}"""
positions = {{ "KXFED-26DEC-H0" = {{ count = "-10", cost_usd = "5.70" }}, "KXFED-26DEC-C25" = "1.5" }}

[kalshi.faults]
latency_s = 0.01
sequence_gap_at_frames = [3, 9]

[polymarket]
participants = false

[[polymarket.markets]]
condition_id = "{CONDITION}"
question = "Will it happen?"
yes_token = "7001"
no_token = "7002"
tick = "0.001"
min_order_size = "5"
neg_risk = true
fee_schedule = {{ rate = "0.05", exponent = 2 }}
yes_book = {{ bids = [["0.491", "50"]], asks = [["0.512", "20.5"]] }}
no_book = {{ bids = [["0.45", "10"]] }}

[[polymarket.accounts]]
api_key = "pm-key"
secret = "c2VjcmV0"
passphrase = "pass"
signer_address = "0x{"11" * 20}"
cash_usd = 1000
positions = {{ "7001" = "12.5" }}

[polymarket.faults]
http_500_fraction = 0.25
'''


@pytest.fixture
def spec_dict() -> dict[str, Any]:
    return tomllib.loads(TOML)


def test_a_toml_description_builds_both_simulators_with_books_accounts_fees_and_faults(tmp_path: Any) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(TOML)
    spec = load_sim_spec(path)
    assert spec.seed == 7 and spec.kalshi is not None and spec.polymarket is not None
    kalshi = KalshiSimulator.from_spec(spec.kalshi, seed=spec.seed)
    h0 = kalshi.engines["KXFED-26DEC-H0"]
    assert h0.snapshot() == (((420_000, 100 * U), (41_000, 3 * U)), ((450_000, 50 * U),))
    assert kalshi.engines["KXFED-26DEC-C25"].levels(BookSide.ASK) == [(600_000, 2_500_000)]
    account = kalshi.accounts["key-1"]
    assert account.cash_micro == 500_250_000
    assert (account.positions["KXFED-26DEC-H0"].position_micro, account.positions["KXFED-26DEC-H0"].cost_micro) == (
        -10 * U,
        5_700_000,
    )
    assert account.positions["KXFED-26DEC-C25"].position_micro == 1_500_000
    assert (
        kalshi.series["KXFED"].fee_type == "quadratic_with_maker_fees"
        and kalshi.series["KXFED"].fee_multiplier == "0.5"
    )
    assert kalshi.events["KXFED-26DEC"].mutually_exclusive and kalshi.default_balance_micro_usd == 250 * U
    assert kalshi.faults is not None and kalshi.faults.plan.sequence_gap_at_frames == (3, 9)
    assert kalshi.faults.plan.seed == 7 and kalshi.faults.latency_s == 0.01
    # Orders are checked against the account the spec describes (500.25 of cash).
    with pytest.raises(KalshiRefusal, match="insufficient balance"):
        kalshi.submit("key-1", "KXFED-26DEC-C25", Side.YES, Action.BUY, 400_000, 2_000 * U)
    polymarket = PolymarketSimulator.from_spec(spec.polymarket, seed=spec.seed)
    assert polymarket.participants == [] and polymarket.engines["7001"].snapshot() == (
        ((491_000, 50 * U),),
        ((512_000, 20_500_000),),
    )
    assert polymarket.engines["7002"].snapshot() == (((450_000, 10 * U),), ())
    gamma = polymarket.gamma_market_json(polymarket.specs[CONDITION])
    assert gamma["feesEnabled"] and gamma["feeSchedule"]["exponent"] == 2 and gamma["negRisk"] is True
    assert gamma["orderPriceMinTickSize"] == 0.001
    pm_account = polymarket.accounts["pm-key"]
    assert pm_account.cash_micro == 1_000 * U and pm_account.positions == {"7001": 12_500_000}
    assert polymarket.faults.plan.http_500_fraction == 0.25 and polymarket.faults.plan.seed == 7


def test_the_same_description_as_a_dict_and_its_frozen_spec(spec_dict: dict[str, Any]) -> None:
    spec = SimSpec.from_dict(spec_dict)
    assert spec == SimSpec.from_dict(copy.deepcopy(spec_dict))
    assert spec.kalshi is not None and spec.kalshi.markets[0].book == BookSpec(
        ((420_000, 100 * U), (41_000, 3 * U)), ((450_000, 50 * U),)
    )
    with pytest.raises(AttributeError):
        spec.seed = 3  # type: ignore[misc]
    minimal = SimSpec.from_dict({"polymarket": {"markets": [{"condition_id": "c", "yes_token": "1", "no_token": "2"}]}})
    assert minimal.kalshi is None and minimal.polymarket is not None and minimal.polymarket.faults.seed == 0


def test_an_account_without_a_key_is_refused_and_keys_can_come_from_the_caller(spec_dict: dict[str, Any]) -> None:
    del spec_dict["kalshi"]["accounts"][0]["public_key_pem"]
    spec = SimSpec.from_dict(spec_dict)
    assert spec.kalshi is not None
    with pytest.raises(ConfigError, match="no public key"):
        KalshiSimulator.from_spec(spec.kalshi)
    sim = KalshiSimulator.from_spec(spec.kalshi, api_keys={"key-1": KEY.public_key(), "key-2": KEY.public_key()})
    assert set(sim.accounts) == {"key-1", "key-2"} and sim.accounts["key-2"].cash_micro == 250 * U


def _set(tree: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = tree
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("kalshi", "markets", 0, "boook"), {}, r"kalshi\.markets\[0\]\.boook: unknown key"),
        (("polymarket", "accounts", 0, "cash"), 5, r"polymarket\.accounts\[0\]\.cash: unknown key"),
        (("kalshi", "faults", "lateness_s"), 1, r"kalshi\.faults\.lateness_s: unknown key"),
        (("extra",), 1, r"^extra: unknown key"),
        (("kalshi", "markets", 0, "ticker"), _DELETE, r"kalshi\.markets\[0\]\.ticker: required key is missing"),
        (("kalshi", "markets", 0, "fractional"), "yes", r"kalshi\.markets\[0\]\.fractional: must be true or false"),
        (("kalshi", "markets", 0, "event_ticker"), "KXFED-27", r"kalshi\.markets\[0\]\.event_ticker: unknown event"),
        (("kalshi", "markets", 1, "ticker"), "KXFED-26DEC-H0", r"kalshi\.markets\[1\]: duplicate market ticker"),
        (("kalshi", "markets", 0, "book", "bids", 0, 0), "0.425", r"bids\[0\]\[0\]: price 0.425 is off the"),
        (("kalshi", "markets", 0, "book", "asks", 0, 0), "0.42", r"kalshi\.markets\[0\]\.book: crossed book"),
        (("kalshi", "markets", 0, "book", "bids", 0, 1), "1.5", r"bids\[0\]\[1\]: size must be a positive multiple"),
        (("kalshi", "markets", 0, "book", "bids", 0, 1), "0.0000001", r"has more than 6 decimals"),
        (("kalshi", "markets", 0, "book", "bids", 0), ["0.42"], r"must be \[price, size\]"),
        (("kalshi", "markets", 0, "book", "bids", 1, 0), "0.42", r"listed twice"),
        (("kalshi", "markets", 0, "price_level_structure"), "quarter_cent", r"price_level_structure: .*must be one of"),
        (("kalshi", "series", 0, "fee_type"), "cubic", r"kalshi\.series\[0\]\.fee_type: must be one of"),
        (("kalshi", "series", 0, "fee_multiplier"), "-1", r"fee_multiplier must not be negative"),
        (("kalshi", "accounts", 0, "balance_usd"), "lots", r"balance_usd must be a decimal number"),
        (("kalshi", "accounts", 0, "positions", "KXFED-X"), "1", r"positions\.KXFED-X: unknown market"),
        (("kalshi", "accounts", 0, "positions", "KXFED-26DEC-H0", "count"), "0.5", r"count must be a non-zero"),
        (("kalshi", "faults", "latency_s"), -1, r"kalshi\.faults: fault plan latency_s"),
        (("polymarket", "markets", 0, "tick"), "0.02", r"tick: must be 0\.1, 0\.01"),
        (("polymarket", "markets", 0, "yes_book", "bids", 0, 0), "0.4915", r"off the 0\.001 tick grid"),
        (("polymarket", "markets", 0, "no_token"), "7001", r"no_token: must differ from yes_token"),
        (("polymarket", "markets", 0, "fee_schedule", "exponent"), 0, r"exponent: must be an integer within"),
        (("polymarket", "markets", 0, "fee_schedule", "rate"), "1.5", r"rate: must be a fraction within"),
        (("polymarket", "markets", 0, "fee_schedule", "taker_only"), False, r"only taker-only"),
        (("polymarket", "accounts", 0, "positions", "7003"), "1", r"positions\.7003: unknown token"),
        (("polymarket", "accounts", 0, "positions", "7001"), "-1", r"must not be negative"),
        (("seed",), "7", r"^seed: must be an integer"),
    ],
)
def test_a_bad_description_is_refused_naming_the_key(
    spec_dict: dict[str, Any], path: tuple[Any, ...], value: Any, message: str
) -> None:
    _set(spec_dict, path, value)
    with pytest.raises(ConfigError, match=message):
        SimSpec.from_dict(spec_dict)


def test_an_empty_or_unreadable_description_is_refused(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="needs a \\[kalshi\\] or a \\[polymarket\\] table"):
        SimSpec.from_dict({"seed": 1})
    with pytest.raises(ConfigError, match="must be a table"):
        SimSpec.from_dict({"kalshi": []})
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_sim_spec(bad)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_sim_spec(tmp_path / "missing.toml")
