"""Polymarket orders signed through py-clob-client-v2, the exact body, the L2 HMAC (checked against an
independent recomputation) and credentials that never show their secrets. The key is a throwaway
derived from a fixed seed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2, SignatureTypeV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderV2, order_to_json_v2
from py_clob_client_v2.order_utils.model.side import Side as ClobSide
from py_clob_client_v2.signer import Signer

from arb.domain import Action, OrderRequest, Side, TimeInForce
from arb.errors import ConfigError, OrderRejectedError
from arb.venues.polymarket.orders import OrderSigner, PolymarketCredentials, l2_headers, order_amounts, round_to_tick

TEST_KEY = "0x" + hashlib.sha256(b"arb polymarket throwaway test key").hexdigest()
SECRET = base64.urlsafe_b64encode(b"sixteen byte key").decode()
CREDS = PolymarketCredentials(TEST_KEY, "api-key-1", SECRET, "passphrase-1")
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NOW_MS = 1_767_225_600_000
CONTRACTS = get_contract_config(137)


def request(
    tif: TimeInForce, action: Action = Action.BUY, price: int = 520_000, size: int = 10_000_000, **kw: object
) -> OrderRequest:
    return OrderRequest("cid-1", "0xm", Side.YES, action, price, size, tif, **kw)  # type: ignore[arg-type]


def signer(seed: int = 7) -> OrderSigner:
    return OrderSigner(CREDS, rng=random.Random(seed))


def recover(body: dict[str, Any], exchange: str) -> str:
    """The address that signed the order in a POST body, for a given exchange contract."""
    o = body["order"]
    order = OrderV2(
        salt=str(o["salt"]),
        maker=o["maker"],
        signer=o["signer"],
        tokenId=o["tokenId"],
        makerAmount=o["makerAmount"],
        takerAmount=o["takerAmount"],
        side=ClobSide.BUY if o["side"] == "BUY" else ClobSide.SELL,
        signatureType=SignatureTypeV2(o["signatureType"]),
        timestamp=o["timestamp"],
        metadata=o["metadata"],
        builder=o["builder"],
    )
    typed = ExchangeOrderBuilderV2(exchange, 137, None).build_order_typed_data(order)
    return Account.recover_message(encode_typed_data(full_message=typed), signature=o["signature"])


@pytest.mark.parametrize(
    ("tif", "wire_type"),
    [(TimeInForce.GTC, "GTC"), (TimeInForce.GTD, "GTD"), (TimeInForce.FOK, "FOK"), (TimeInForce.IOC, "FAK")],
)
@pytest.mark.parametrize("neg_risk", [False, True])
def test_each_order_type_is_signed_for_the_right_exchange(tif: TimeInForce, wire_type: str, neg_risk: bool) -> None:
    expiration = NOW_MS + 90_000 if tif is TimeInForce.GTD else None
    prepared = signer().prepare(
        request(tif, expiration_ms=expiration), token_id=TOKEN, tick_micro=10_000, neg_risk=neg_risk, now_ms=NOW_MS
    )
    body = json.loads(prepared.body_text)
    assert body["orderType"] == wire_type and body["owner"] == "api-key-1" and body["postOnly"] is False
    order = body["order"]
    assert order["tokenId"] == TOKEN and order["timestamp"] == str(NOW_MS) and order["side"] == "BUY"
    assert order["maker"] == order["signer"] == CREDS.signer_address
    assert (order["makerAmount"], order["takerAmount"]) == ("5200000", "10000000")
    assert order["expiration"] == (str(NOW_MS // 1000 + 90 + 60) if tif is TimeInForce.GTD else "0")
    right = CONTRACTS.neg_risk_exchange_v2 if neg_risk else CONTRACTS.exchange_v2
    wrong = CONTRACTS.exchange_v2 if neg_risk else CONTRACTS.neg_risk_exchange_v2
    assert recover(body, right) == CREDS.signer_address
    assert recover(body, wrong) != CREDS.signer_address
    # The body is exactly the library's serialisation of its own JSON form.
    assert prepared.body_text == json.dumps(
        order_to_json_v2(prepared.signed, "api-key-1", wire_type, False, False),
        separators=(",", ":"),
        ensure_ascii=False,
    )
    # The order id is the EIP-712 hash, as the library computes it.
    builder = ExchangeOrderBuilderV2(right, 137, Signer(TEST_KEY, 137))
    assert prepared.order_hash == builder.build_order_hash(builder.build_order_typed_data(prepared.signed))


def test_signing_is_deterministic_under_the_injected_rng_and_time() -> None:
    a = signer(3).prepare(request(TimeInForce.GTC), token_id=TOKEN, tick_micro=10_000, neg_risk=False, now_ms=NOW_MS)
    b = signer(3).prepare(request(TimeInForce.GTC), token_id=TOKEN, tick_micro=10_000, neg_risk=False, now_ms=NOW_MS)
    c = signer(4).prepare(request(TimeInForce.GTC), token_id=TOKEN, tick_micro=10_000, neg_risk=False, now_ms=NOW_MS)
    assert a.body_text == b.body_text and a.order_hash == b.order_hash
    assert c.order_hash != a.order_hash


def test_1_3_a_fok_buy_signs_exactly_the_planned_shares_or_is_refused() -> None:
    """The issue's case: a FOK buy of 10.37 at 0.53 signed 10.3584 shares (the notional floored to
    $5.49), short of the plan and off the 0.01 lot. $5.4961 is not whole cents, so the venue cannot
    take that order as asked: it is refused, naming the amounts. 10.00 at 0.53 signs exactly."""
    with pytest.raises(OrderRejectedError) as refused:
        signer().prepare(
            request(TimeInForce.FOK, price=530_000, size=10_370_000),
            token_id=TOKEN,
            tick_micro=10_000,
            neg_risk=False,
            now_ms=NOW_MS,
        )
    assert refused.value.reason == "amount not representable"
    assert "10.37 shares at 0.53" in str(refused.value) and "5.4961 USDC" in str(refused.value)
    for tif in (TimeInForce.FOK, TimeInForce.IOC):
        prepared = signer().prepare(
            request(tif, price=530_000, size=10_000_000),
            token_id=TOKEN,
            tick_micro=10_000,
            neg_risk=False,
            now_ms=NOW_MS,
        )
        signed = prepared.signed
        assert (int(signed.makerAmount), int(signed.takerAmount)) == (5_300_000, 10_000_000)
        assert prepared.shares_micro == 10_000_000
    # 10.37 x 0.531 = 5.50647: a market SELL's USDC has at most 4 decimals; 10.37 x 0.53 fits
    with pytest.raises(OrderRejectedError, match=r"5\.50647 USDC"):
        order_amounts(Action.SELL, TimeInForce.IOC, 531_000, 10_370_000, 1_000)
    assert order_amounts(Action.SELL, TimeInForce.IOC, 530_000, 10_370_000, 1_000) == (
        10_370_000,
        5_496_100,
        10_370_000,
    )
    # as a resting limit order (GTC) the same 10.37 at 0.53 is fine: limit amounts have 4 decimals
    assert order_amounts(Action.BUY, TimeInForce.GTC, 530_000, 10_370_000, 10_000) == (
        5_496_100,
        10_370_000,
        10_370_000,
    )


TICK_KEYS = {100_000: "0.1", 10_000: "0.01", 5_000: "0.005", 2_500: "0.0025", 1_000: "0.001", 100: "0.0001"}
TICKS = tuple(TICK_KEYS)
SIZES = (10_000, 50_000, 1_000_000, 7_770_000, 10_370_000, 123_450_000)


@pytest.mark.parametrize("tick", TICKS)
def test_1_3_every_tick_price_signs_the_planned_size_at_the_limit_price(tick: int) -> None:
    """Over every price on the tick grid and sizes on the 0.01 lot: what is signed is exactly the
    planned size at exactly the limit price, and an order is refused exactly when the venue's amount
    precision cannot hold its notional (reference: Decimal arithmetic, not the module's integers)."""
    limit_decimals = ROUNDING_CONFIG[TICK_KEYS[tick]].amount
    places = {
        (TimeInForce.GTC, Action.BUY): limit_decimals,
        (TimeInForce.GTC, Action.SELL): limit_decimals,
        (TimeInForce.FOK, Action.BUY): 2,
        (TimeInForce.FOK, Action.SELL): 4,
        (TimeInForce.IOC, Action.BUY): 2,
        (TimeInForce.IOC, Action.SELL): 4,
    }
    checked = refused = 0
    sizes = SIZES if tick >= 1_000 else (10_000, 10_370_000)  # 9,999 prices at 0.0001: two sizes suffice
    for price in range(tick, 1_000_000, tick):
        limit = Decimal(price).scaleb(-6)
        for size in sizes:
            shares = Decimal(size).scaleb(-6)
            cash = shares * limit
            for (tif, action), decimals in places.items():
                representable = cash == cash.quantize(Decimal(1).scaleb(-decimals))
                if not representable:
                    with pytest.raises(OrderRejectedError) as info:
                        order_amounts(action, tif, price, size, tick)
                    assert info.value.reason == "amount not representable"
                    refused += 1
                    continue
                maker, taker, signed_shares = order_amounts(action, tif, price, size, tick)
                paid, got = (maker, taker) if action is Action.BUY else (taker, maker)
                assert signed_shares == size and got == size, "signed shares differ from the plan"
                assert Decimal(paid).scaleb(-6) == cash
                assert Fraction(paid, got) == Fraction(price, 1_000_000), "signed price differs from the limit"
                checked += 1
    # every grid has representable orders and, for FOK/FAK buys at sizes like 10.37, refused ones
    assert checked > 0 and refused > 0


@given(st.integers(1, 99), st.integers(1, 5_000), st.sampled_from([Action.BUY, Action.SELL]))
@settings(max_examples=200, deadline=None)
def test_limit_amounts_equal_the_library_on_whole_share_sizes(price_cents: int, shares: int, action: Action) -> None:
    ours = order_amounts(action, TimeInForce.GTC, price_cents * 10_000, shares * 1_000_000, 10_000)
    _, maker, taker = OrderBuilder(Signer(TEST_KEY, 137)).get_order_amounts(
        action.name, float(shares), price_cents / 100, ROUNDING_CONFIG["0.01"]
    )
    assert ours[:2] == (maker, taker)


def test_amounts_are_exact_where_the_library_float_rounding_loses_a_unit() -> None:
    _, _maker, taker = OrderBuilder(Signer(TEST_KEY, 137)).get_order_amounts("BUY", 0.29, 0.5, ROUNDING_CONFIG["0.01"])
    assert taker == 280_000  # the library's round_down(0.29, 2) is 0.28
    assert order_amounts(Action.BUY, TimeInForce.GTC, 500_000, 290_000, 10_000) == (145_000, 290_000, 290_000)


@pytest.mark.parametrize(
    ("req", "reason"),
    [
        (request(TimeInForce.GTC, price=525_000), "price off tick"),
        (request(TimeInForce.GTC, price=0), "price off tick"),
        (request(TimeInForce.GTC, price=1_000_000), "price off tick"),
        (request(TimeInForce.GTC, size=1_005_000), "size off lot"),
        (request(TimeInForce.FOK, post_only=True), "post only"),
        (request(TimeInForce.GTD), "expiration"),
        (request(TimeInForce.GTD, expiration_ms=NOW_MS), "expiration"),
    ],
)
def test_invalid_orders_are_refused_before_signing(req: OrderRequest, reason: str) -> None:
    with pytest.raises(OrderRejectedError) as info:
        signer().prepare(req, token_id=TOKEN, tick_micro=10_000, neg_risk=False, now_ms=NOW_MS)
    assert info.value.reason == reason


def test_round_to_tick_is_conservative() -> None:
    assert round_to_tick(525_000, 10_000, Action.BUY) == 520_000
    assert round_to_tick(525_000, 10_000, Action.SELL) == 530_000
    assert round_to_tick(520_000, 10_000, Action.SELL) == 520_000
    assert round_to_tick(999_999, 10_000, Action.SELL) == 990_000 and round_to_tick(1, 10_000, Action.BUY) == 10_000


def test_l2_hmac_matches_an_independent_recomputation() -> None:
    prepared = signer().prepare(
        request(TimeInForce.GTC), token_id=TOKEN, tick_micro=10_000, neg_risk=False, now_ms=NOW_MS
    )
    headers = l2_headers(CREDS, "POST", "/order", prepared.body_text, 1_767_225_600)
    message = f"1767225600POST/order{prepared.body_text}".encode()
    expected = base64.urlsafe_b64encode(
        hmac.new(base64.urlsafe_b64decode(SECRET), message, hashlib.sha256).digest()
    ).decode()
    assert headers == {
        "POLY_ADDRESS": CREDS.signer_address,
        "POLY_SIGNATURE": expected,
        "POLY_TIMESTAMP": "1767225600",
        "POLY_API_KEY": "api-key-1",
        "POLY_PASSPHRASE": "passphrase-1",
    }
    no_body = l2_headers(CREDS, "GET", "/data/orders", None, 1_767_225_600)
    plain = base64.urlsafe_b64encode(
        hmac.new(base64.urlsafe_b64decode(SECRET), b"1767225600GET/data/orders", hashlib.sha256).digest()
    ).decode()
    assert no_body["POLY_SIGNATURE"] == plain


def test_credentials_never_show_secrets(tmp_path: Path) -> None:
    shown = repr(CREDS) + str(CREDS) + repr(signer())
    for secret in (TEST_KEY, TEST_KEY[2:], SECRET, "passphrase-1", "api-key-1"):
        assert secret not in shown
    assert CREDS.signer_address in shown
    env = {
        "POLYMARKET_PRIVATE_KEY": TEST_KEY,
        "POLYMARKET_API_KEY": "k",
        "POLYMARKET_API_SECRET": SECRET,
        "POLYMARKET_API_PASSPHRASE": "p",
        "POLYMARKET_SIGNATURE_TYPE": "1",
        "POLYMARKET_FUNDER": "0x" + "12" * 20,
    }
    from_env = PolymarketCredentials.from_env(env)
    assert from_env.signature_type == 1 and from_env.funder_address == "0x" + "12" * 20
    key_file = tmp_path / "poly.json"
    key_file.write_text(
        json.dumps({"private_key": TEST_KEY, "api_key": "k", "api_secret": SECRET, "api_passphrase": "p"})
    )
    assert PolymarketCredentials.from_env({"POLYMARKET_KEY_FILE": str(key_file)}).signer_address == CREDS.signer_address


@pytest.mark.parametrize(
    "env",
    [
        {},
        {
            "POLYMARKET_PRIVATE_KEY": "0x1234",
            "POLYMARKET_API_KEY": "k",
            "POLYMARKET_API_SECRET": SECRET,
            "POLYMARKET_API_PASSPHRASE": "p",
        },
        {
            "POLYMARKET_PRIVATE_KEY": TEST_KEY,
            "POLYMARKET_API_KEY": "k",
            "POLYMARKET_API_SECRET": "%%%",
            "POLYMARKET_API_PASSPHRASE": "p",
        },
        {
            "POLYMARKET_PRIVATE_KEY": TEST_KEY,
            "POLYMARKET_API_KEY": "k",
            "POLYMARKET_API_SECRET": SECRET,
            "POLYMARKET_API_PASSPHRASE": "p",
            "POLYMARKET_SIGNATURE_TYPE": "9",
        },
        {"POLYMARKET_KEY_FILE": "/nonexistent/poly.json"},
    ],
)
def test_bad_credentials_are_config_errors_without_the_secret(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        PolymarketCredentials.from_env(env)
    assert TEST_KEY[2:] not in str(info.value) and SECRET not in str(info.value)


def test_library_errors_while_signing_become_the_projects_refusal() -> None:
    with pytest.raises(OrderRejectedError) as info:
        signer().prepare(
            request(TimeInForce.GTC), token_id="not-a-number", tick_micro=10_000, neg_risk=False, now_ms=NOW_MS
        )
    assert info.value.reason == "cannot sign"
