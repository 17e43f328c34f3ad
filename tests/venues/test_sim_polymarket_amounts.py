"""The simulated Polymarket holds FOK/FAK ("market") orders to the venue's amount precision: maker
amount at most 2 decimals, taker amount at most 4, buys and sells alike, or HTTP 400 with the
venue's error. Orders are signed here with the official py-clob-client-v2 from raw amounts (the
adapter would refuse the bad ones before signing) and posted over loopback HTTP; the adapter's own
refusal (`order_amounts`) and the simulator's must agree on the same orders."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2, SignatureTypeV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2, order_to_json_v2
from py_clob_client_v2.order_utils.model.side import Side as ClobSide
from py_clob_client_v2.signer import Signer

from arb.domain import Action, BookSide, TimeInForce
from arb.errors import OrderRejectedError
from arb.fixed import SCALE
from arb.venues.polymarket.orders import PolymarketCredentials, l2_headers, order_amounts
from arb.venues.sim.polymarket import PolymarketMarketSpec, PolymarketRefusal, PolymarketSimulator

KEY = "0x" + hashlib.sha256(b"arb sim market order amounts throwaway key").hexdigest()
CREDS = PolymarketCredentials(KEY, "api-key-amounts", base64.urlsafe_b64encode(b"sixteen byte key").decode(), "pass")
NOW_MS = 1_767_225_600_000
U = SCALE  # one share or one USDC in 6-decimal units
# Buys take YES tokens from a deep ask at the lowest price; sells hit a deep bid at the highest.
CENT = PolymarketMarketSpec("0x" + "a1" * 32, "Cent tick?", "7001", "7002", tick_micro=10_000)
MILLI = PolymarketMarketSpec("0x" + "b2" * 32, "Milli tick?", "7101", "7102", tick_micro=1_000)
BUY_ERROR = (
    "invalid amounts, the market buy orders maker amount supports a max accuracy of 2 decimals, "
    "taker amount a max of 4 decimals"
)
SELL_ERROR = BUY_ERROR.replace("market buy orders", "market sell orders")


@asynccontextmanager
async def venue() -> AsyncIterator[tuple[PolymarketSimulator, httpx.AsyncClient]]:
    sim = PolymarketSimulator([CENT, MILLI], participants=False, seed=4, clock_ms=lambda: NOW_MS)
    sim.add_account(
        CREDS.api_key,
        CREDS.api_secret,
        CREDS.api_passphrase,
        CREDS.signer_address,
        positions={CENT.no_token: 100_000 * U, MILLI.no_token: 100_000 * U},
    )
    for spec in (CENT, MILLI):
        sim.set_book(spec.yes_token, [], [(spec.tick_micro, 1_000_000 * U)])
        sim.set_book(spec.no_token, [(SCALE - spec.tick_micro, 1_000_000 * U)], [])
    async with sim, httpx.AsyncClient(base_url=sim.clob_url, trust_env=False) as http:
        yield sim, http


async def post_raw(
    http: httpx.AsyncClient, token: str, buying: bool, maker: int, taker: int, order_type: str
) -> tuple[int, Any]:
    """Sign `maker`/`taker` exactly as given with the official client and POST them."""
    builder = ExchangeOrderBuilderV2(
        get_contract_config(137).exchange_v2, 137, Signer(KEY, 137), generate_salt=lambda: "424242"
    )
    signed = builder.build_signed_order(
        OrderDataV2(
            maker=CREDS.signer_address,
            tokenId=token,
            makerAmount=str(maker),
            takerAmount=str(taker),
            side=ClobSide.BUY if buying else ClobSide.SELL,
            signatureType=SignatureTypeV2.EOA,
            timestamp=str(NOW_MS),
        )
    )
    body = json.dumps(order_to_json_v2(signed, CREDS.api_key, order_type), separators=(",", ":"))
    headers = l2_headers(CREDS, "POST", "/order", body, NOW_MS // 1000)
    answer = await http.post("/order", content=body, headers=headers)
    return answer.status_code, orjson.loads(answer.content)


@pytest.mark.asyncio
@pytest.mark.parametrize("order_type", ["FOK", "FAK"])
@pytest.mark.parametrize(
    ("buying", "maker", "taker", "error"),
    [
        (True, 5_300_000, 10_000_000, None),  # $5.30 for 10 shares
        (True, 5_300_000, 10_000_100, None),  # 10.0001 shares: 4 decimals of shares are fine
        (True, 5_301_000, 10_000_000, BUY_ERROR),  # $5.301: 3 decimals of cash
        (True, 5_496_100, 10_370_000, BUY_ERROR),  # $5.4961 for 10.37 shares at 0.53
        (True, 5_300_000, 10_000_010, BUY_ERROR),  # 10.00001 shares: 5 decimals
        (False, 10_000_000, 4_000_100, None),  # 10 shares for $4.0001
        (False, 10_001_000, 4_000_000, SELL_ERROR),  # 10.001 shares: 3 decimals
        (False, 10_000_000, 4_000_010, SELL_ERROR),  # $4.00001: 5 decimals of cash
    ],
)
async def test_market_order_amounts_beyond_the_venue_precision_are_refused(
    order_type: str, buying: bool, maker: int, taker: int, error: str | None
) -> None:
    async with venue() as (sim, http):
        token = CENT.yes_token if buying else CENT.no_token
        status, body = await post_raw(http, token, buying, maker, taker, order_type)
        if error is None:
            assert status == 200 and body["success"] and body["status"] == "matched", body
            shares = taker if buying else maker
            assert Decimal(body["takingAmount" if buying else "makingAmount"]) * U == shares
        else:
            assert (status, body) == (400, {"error": error})
            assert sim.accounts[CREDS.api_key].orders == {}  # nothing taken, nothing reserved
            assert sim.accounts[CREDS.api_key].reserved_cash_micro == 0


@pytest.mark.asyncio
async def test_limit_orders_are_not_held_to_the_market_order_precision() -> None:
    async with venue() as (_, http):
        status, body = await post_raw(http, CENT.yes_token, True, 5_301_000, 10_000_000, "GTC")
        assert status == 200 and body["success"] and body["status"] == "matched", body


def test_place_holds_market_orders_to_the_same_precision() -> None:
    sim = PolymarketSimulator([CENT], participants=False, seed=4, clock_ms=lambda: NOW_MS)
    sim.add_account(CREDS.api_key, CREDS.api_secret, CREDS.api_passphrase, CREDS.signer_address)
    sim.set_book(CENT.yes_token, [], [(10_000, 1_000 * U)])
    with pytest.raises(PolymarketRefusal, match="market buy orders"):
        sim.place(CREDS.api_key, CENT.yes_token, BookSide.BID, 530_000, 10_370_000, "FOK")  # $5.4961
    assert sim.place(CREDS.api_key, CENT.yes_token, BookSide.BID, 530_000, 10_000_000, "FOK").filled_micro == 10 * U


@pytest.mark.asyncio
async def test_the_adapter_and_the_simulator_refuse_the_same_market_orders() -> None:
    """For each price, size and side: the adapter's `order_amounts` either signs the exact amounts
    (and the simulator then takes them) or refuses them as not representable (and the simulator,
    handed those exact amounts signed by the official client, refuses them too)."""
    outcomes: dict[tuple[Action, bool], int] = {}
    async with venue() as (_, http):
        for spec, prices in ((CENT, (530_000, 500_000, 250_000, 70_000)), (MILLI, (537_000, 125_000))):
            for price in prices:
                for size in (10_370_000, 10_000_000, 5_500_000, 7_250_000, 12_340_000):
                    for action in (Action.BUY, Action.SELL):
                        cash, sub_micro = divmod(size * price, SCALE)
                        assert sub_micro == 0  # 0.01 lots at these ticks sign whole micro-USD
                        buying = action is Action.BUY
                        maker, taker = (cash, size) if buying else (size, cash)
                        try:
                            signed = order_amounts(action, TimeInForce.FOK, price, size, spec.tick_micro)
                        except OrderRejectedError as refused:
                            assert refused.reason == "amount not representable"
                            adapter_takes = False
                        else:
                            assert signed == (maker, taker, size)
                            adapter_takes = True
                        token = spec.yes_token if buying else spec.no_token
                        status, body = await post_raw(http, token, buying, maker, taker, "FOK")
                        sim_takes = status == 200 and body["success"]
                        if not sim_takes:
                            assert (status, body) == (400, {"error": BUY_ERROR if buying else SELL_ERROR})
                        assert adapter_takes == sim_takes, (spec.tick_micro, price, size, action, body)
                        outcomes[action, sim_takes] = outcomes.get((action, sim_takes), 0) + 1
    # Both sides see both outcomes: buys off whole cents, sales at the milli tick off $0.0001.
    assert set(outcomes) == {(a, taken) for a in (Action.BUY, Action.SELL) for taken in (True, False)}, outcomes
