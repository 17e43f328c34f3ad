"""Polymarket order signing and request authentication, through py-clob-client-v2.

Protocol facts (docs/venues.md#polymarket-auth, docs/venues.md#polymarket-orders,
docs/venues.md#polymarket-order-amounts; py-clob-client-v2 1.2.1):
- An order is an EIP-712 signed struct for the CTF Exchange v2 (`salt, maker, signer, tokenId,
  makerAmount, takerAmount, side, signatureType, timestamp, metadata, builder`; `expiration` travels
  in the JSON but is not signed). The exchange contract is the Neg Risk CTF Exchange for negRisk
  markets (a wrong contract gives "invalid signature"), the plain CTF Exchange otherwise. Signing is
  done by the library's `ExchangeOrderBuilderV2`; the body is the library's `order_to_json_v2`,
  serialised as the library does (`json.dumps(..., separators=(",", ":"), ensure_ascii=False)`),
  and those exact bytes are sent, because the L2 HMAC covers them.
- Amounts are integers with 6 decimals. Every order signs exactly `size` shares at exactly the
  limit price: a BUY pays `size x price` USDC (maker) for `size` shares (taker), a SELL the reverse.
  GTC/GTD are limit orders, whose cash amount may carry the tick's `ROUNDING_CONFIG.amount`
  decimals. FOK and FAK (our IOC) are the venue's "market" orders, with coarser amounts: a BUY's
  USDC in whole cents (its shares up to 4 decimals), a SELL's USDC in steps of 0.0001. A size
  whose notional misses that step at the price is refused, never rounded (the library's market
  order helpers round the notional down, which signs fewer shares than asked, off the 0.01 lot).
  The arithmetic is exact integers, because the library's float helpers can lose a unit
  (`round_down(0.29, 2)` gives 0.28).
- Prices must sit on the tick and within [tick, 1 - tick]; sizes are whole hundredths of a share.
  This module refuses anything else (`OrderRejectedError`) rather than rounding an engine price;
  `round_to_tick` is there for callers that want the conservative rounding (buys down, sells up).
- GTD: `expiration` is in UTC seconds and the venue expires the order 60 s before it (a security
  threshold), so an order meant to rest until `expiration_ms` is sent with `expiration_ms/1000 + 60`.
  `postOnly` is only allowed with GTC/GTD.
- L2 headers (`POLY_ADDRESS, POLY_API_KEY, POLY_PASSPHRASE, POLY_TIMESTAMP, POLY_SIGNATURE`) come from
  the library's `create_level_2_headers`: base64url(HMAC-SHA256(base64url-decoded secret,
  timestamp + METHOD + path + body)). The path has no query string.
- The order id the venue returns is the order's EIP-712 hash, so it is known before sending
  (`PreparedOrder.order_hash`): an order whose POST timed out can be looked up.

Credentials come from the environment or a key file; `repr` never shows a secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from py_clob_client_v2.clob_types import ApiCreds, RequestArgs
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.constants import BYTES32_ZERO
from py_clob_client_v2.headers.headers import create_level_2_headers
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2, OrderDataV2, SignatureTypeV2, SignedOrderV2
from py_clob_client_v2.order_utils import Side as ClobSide
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
from py_clob_client_v2.signer import Signer

from arb.domain import Action, OrderRequest, TimeInForce
from arb.errors import ConfigError, OrderRejectedError
from arb.fixed import SCALE
from arb.venues.polymarket.wire import BUY_AMOUNT_INCREMENT_MICRO_USD, SELL_AMOUNT_INCREMENT_MICRO_USD, decimal_text

__all__ = [
    "GTD_SECURITY_THRESHOLD_S",
    "ORDER_TYPES",
    "OrderSigner",
    "PolymarketCredentials",
    "PreparedOrder",
    "UnsignedOrder",
    "l2_headers",
    "order_amounts",
    "round_to_tick",
    "serialize_body",
]

_V = "polymarket"
GTD_SECURITY_THRESHOLD_S = 60
ORDER_TYPES = {TimeInForce.GTC: "GTC", TimeInForce.GTD: "GTD", TimeInForce.FOK: "FOK", TimeInForce.IOC: "FAK"}
_TICK_KEYS = {100_000: "0.1", 10_000: "0.01", 5_000: "0.005", 2_500: "0.0025", 1_000: "0.001", 100: "0.0001"}


@dataclass(frozen=True)
class PolymarketCredentials:
    """Wallet key (L1, signs orders), API key/secret/passphrase (L2, authenticates requests),
    `funder` (the proxy wallet holding the funds; defaults to the key's address) and
    `signature_type` (0 EOA, 1 Polymarket proxy, 2 Gnosis Safe, 3 EIP-1271)."""

    private_key: str = field(repr=False)
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    api_passphrase: str = field(repr=False)
    funder: str | None = None
    signature_type: int = 0
    chain_id: int = 137
    signer_address: str = field(default="", init=False)

    def __post_init__(self) -> None:
        for name in ("private_key", "api_key", "api_secret", "api_passphrase"):
            if not isinstance(getattr(self, name), str):  # a key file may hold a number; never echo it
                raise ConfigError(f"polymarket {name} must be a string")
        if self.funder is not None and not isinstance(self.funder, str):
            raise ConfigError("polymarket funder must be a 0x-prefixed 20-byte address")
        key = self.private_key.removeprefix("0x")
        if len(key) != 64:
            raise ConfigError("polymarket private_key must be 32 bytes of hex")
        try:
            bytes.fromhex(key)
        except ValueError:
            raise ConfigError("polymarket private_key must be 32 bytes of hex") from None
        for name in ("api_key", "api_passphrase"):
            if not getattr(self, name):
                raise ConfigError(f"polymarket {name} must not be empty")
        try:
            secret = base64.urlsafe_b64decode(self.api_secret)
        except (ValueError, binascii.Error):
            secret = b""
        if not secret:
            raise ConfigError("polymarket api_secret must be base64url")
        if self.signature_type not in (0, 1, 2, 3):
            raise ConfigError(f"polymarket signature_type must be 0, 1, 2 or 3, was {self.signature_type!r}")
        if self.funder is not None and not (self.funder.startswith("0x") and len(self.funder) == 42):
            raise ConfigError("polymarket funder must be a 0x-prefixed 20-byte address")
        try:
            address = Signer("0x" + key, self.chain_id).address()
            get_contract_config(self.chain_id)
        except Exception:  # noqa: BLE001 - the library raises bare exceptions for bad keys and chains
            raise ConfigError(f"polymarket chain_id {self.chain_id!r} is not supported") from None
        object.__setattr__(self, "signer_address", address)

    def __repr__(self) -> str:
        return (
            f"PolymarketCredentials(signer={self.signer_address}, funder={self.funder or self.signer_address}, "
            f"signature_type={self.signature_type}, secrets=<hidden>)"
        )

    @property
    def funder_address(self) -> str:
        return self.funder or self.signer_address

    @property
    def api_creds(self) -> ApiCreds:
        return ApiCreds(self.api_key, self.api_secret, self.api_passphrase)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str = "POLYMARKET_") -> PolymarketCredentials:
        """`POLYMARKET_KEY_FILE` (a JSON key file), or `POLYMARKET_PRIVATE_KEY`, `_API_KEY`,
        `_API_SECRET`, `_API_PASSPHRASE`, optional `_FUNDER`, `_SIGNATURE_TYPE`, `_CHAIN_ID`."""
        env = os.environ if env is None else env
        key_file = env.get(prefix + "KEY_FILE")
        if key_file:
            return cls.from_file(key_file)
        missing = [n for n in ("PRIVATE_KEY", "API_KEY", "API_SECRET", "API_PASSPHRASE") if not env.get(prefix + n)]
        if missing:
            raise ConfigError(
                f"polymarket credentials missing from the environment: {', '.join(prefix + n for n in missing)}"
            )
        return cls(
            private_key=env[prefix + "PRIVATE_KEY"],
            api_key=env[prefix + "API_KEY"],
            api_secret=env[prefix + "API_SECRET"],
            api_passphrase=env[prefix + "API_PASSPHRASE"],
            funder=env.get(prefix + "FUNDER") or None,
            signature_type=_int_setting(env.get(prefix + "SIGNATURE_TYPE", "0"), prefix + "SIGNATURE_TYPE"),
            chain_id=_int_setting(env.get(prefix + "CHAIN_ID", "137"), prefix + "CHAIN_ID"),
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PolymarketCredentials:
        """A JSON object with private_key, api_key, api_secret, api_passphrase[, funder,
        signature_type, chain_id]."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"polymarket key file {str(path)!r} cannot be read as JSON ({type(exc).__name__})"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(f"polymarket key file {str(path)!r} must hold a JSON object")
        known = {"private_key", "api_key", "api_secret", "api_passphrase", "funder", "signature_type", "chain_id"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"polymarket key file has unknown keys: {', '.join(unknown)}")
        missing = sorted({"private_key", "api_key", "api_secret", "api_passphrase"} - set(data))
        if missing:
            raise ConfigError(f"polymarket key file is missing: {', '.join(missing)}")
        return cls(**data)


def _int_setting(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name} must be an integer") from None


@dataclass(frozen=True, slots=True)
class PreparedOrder:
    """A signed order and the exact body to POST. `maker_amount_micro`/`taker_amount_micro` are
    the signed amounts; `shares_micro` the share quantity they stand for (always the request's size)."""

    client_order_id: str
    market_id: str
    token_id: str
    order_type: str
    post_only: bool
    signed: SignedOrderV2 = field(repr=False)
    body: dict[str, Any] = field(repr=False)
    body_text: str = field(repr=False)
    order_hash: str
    price_micro_usd: int
    shares_micro: int
    maker_amount_micro: int
    taker_amount_micro: int
    neg_risk: bool


@dataclass(frozen=True, slots=True)
class UnsignedOrder:
    """An order checked and priced, its salt fixed, not yet signed (`OrderSigner.unsigned`); the
    signature (`OrderSigner.sign`) is the slow, pure part a caller may run in a worker thread."""

    request: OrderRequest
    token_id: str
    order_type: str
    neg_risk: bool
    defer_exec: bool
    data: OrderDataV2 = field(repr=False)
    salt: int
    shares_micro: int
    maker_amount_micro: int
    taker_amount_micro: int


def round_to_tick(price_micro_usd: int, tick_micro_usd: int, action: Action) -> int:
    """Conservative rounding onto the tick: a buy limit rounds down, a sell limit up; then clamped
    into [tick, 1 - tick]."""
    if tick_micro_usd <= 0:
        raise ConfigError(f"tick must be positive, was {tick_micro_usd}")
    down = price_micro_usd // tick_micro_usd * tick_micro_usd
    price = down if action is Action.BUY or down == price_micro_usd else down + tick_micro_usd
    return min(max(price, tick_micro_usd), SCALE - tick_micro_usd)


def _decimals_unit(decimals: int) -> int:
    """The smallest step, in 6-decimal units, of an amount with `decimals` decimals."""
    unit: int = 10 ** (6 - decimals)
    return unit


def order_amounts(
    action: Action, time_in_force: TimeInForce, price_micro: int, size_micro: int, tick_micro: int
) -> tuple[int, int, int]:
    """(maker amount, taker amount, shares) in 6-decimal units: exactly `size` shares at exactly the
    limit price, for every order type. What the venue cannot represent is refused
    (`OrderRejectedError` naming the amounts), never rounded: a rounded amount would sign a quantity
    or a price the plan does not hold.

    GTC/GTD (limit orders): the cash side has the tick's `ROUNDING_CONFIG.amount` decimals, which
    any on-lot size at an on-tick price meets. FOK/FAK ("market" orders): a BUY's cash (maker)
    amount must be whole cents and a SELL's cash (taker) amount whole 0.0001s, so only sizes
    whose notional lands on that increment are representable at a price (the allocator chooses
    such sizes, `MarketInfo.buy_amount_increment_micro_usd` / `sell_amount_increment_micro_usd`)."""
    tick_key = _TICK_KEYS.get(tick_micro)
    if tick_key is None:
        raise OrderRejectedError(
            f"tick size {tick_micro} micro-USD is not a Polymarket tick", venue=_V, reason="bad tick size"
        )
    config = ROUNDING_CONFIG[tick_key]
    if price_micro % tick_micro or not tick_micro <= price_micro <= SCALE - tick_micro:
        raise OrderRejectedError(
            f"price {price_micro} micro-USD is not on the {tick_key} tick within [tick, 1 - tick]",
            venue=_V,
            reason="price off tick",
        )
    if size_micro <= 0 or size_micro % _decimals_unit(int(config.size)):
        raise OrderRejectedError(
            f"size {size_micro} micro-shares is not a positive multiple of 0.01", venue=_V, reason="size off lot"
        )
    notional, remainder = divmod(size_micro * price_micro, SCALE)
    if time_in_force in (TimeInForce.GTC, TimeInForce.GTD):
        cash_unit = _decimals_unit(int(config.amount))
        kind = "limit"
    elif action is Action.BUY:  # FOK/FAK: the cash amount's increment (see `wire`)
        cash_unit, kind = BUY_AMOUNT_INCREMENT_MICRO_USD, "FOK/FAK buy"
    else:
        cash_unit, kind = SELL_AMOUNT_INCREMENT_MICRO_USD, "FOK/FAK sell"
    if remainder or notional % cash_unit or notional <= 0:
        cash = Decimal(size_micro * price_micro).scaleb(-12).normalize()
        raise OrderRejectedError(
            f"a {kind} order of {decimal_text(size_micro)} shares at {decimal_text(price_micro)} signs "
            f"{cash:f} USDC, which the venue accepts only in steps of {decimal_text(cash_unit)}",
            venue=_V,
            reason="amount not representable",
        )
    if action is Action.BUY:
        return notional, size_micro, size_micro
    return size_micro, notional, size_micro


class OrderSigner:
    """Builds and signs orders for one wallet. Deterministic given the injected `rng` (salts)
    and the `now_ms` passed per order (the signed timestamp)."""

    def __init__(self, credentials: PolymarketCredentials, *, rng: random.Random) -> None:
        self.credentials = credentials
        self._signer = _signer_of(credentials)
        self._signature_type = SignatureTypeV2(credentials.signature_type)
        self._contracts = get_contract_config(credentials.chain_id)
        self._rng = rng
        self._builders: dict[bool, ExchangeOrderBuilderV2] = {}
        self._salt_override: int | None = None  # set only for the duration of one `sign`
        self._signing = threading.Lock()  # `sign` may run in worker threads; the builders share state

    def __repr__(self) -> str:
        return f"OrderSigner({self.credentials!r})"

    def exchange_address(self, neg_risk: bool) -> str:
        address: str = self._contracts.neg_risk_exchange_v2 if neg_risk else self._contracts.exchange_v2
        return address

    def _builder(self, neg_risk: bool) -> ExchangeOrderBuilderV2:
        builder = self._builders.get(neg_risk)
        if builder is None:
            builder = ExchangeOrderBuilderV2(
                self.exchange_address(neg_risk), self.credentials.chain_id, self._signer, generate_salt=self._salt
            )
            self._builders[neg_risk] = builder
        return builder

    def _salt(self) -> str:
        if self._salt_override is None:  # only `sign` builds orders, always with the salt fixed
            raise OrderRejectedError("order built without a salt", venue=_V, reason="salt")
        return str(self._salt_override)

    def prepare(
        self,
        request: OrderRequest,
        *,
        token_id: str,
        tick_micro: int,
        neg_risk: bool,
        now_ms: int,
        defer_exec: bool = False,
        salt: int | None = None,
    ) -> PreparedOrder:
        """Sign `request` for `token_id` and serialise the POST body. Refuses (without signing)
        what the venue would reject: off-tick prices, off-lot sizes, postOnly on FOK/FAK, a GTD
        without a future expiration. `salt` (a positive integer, e.g. derived from the journaled
        intent) fixes the order's only free field, so its hash, the venue's order id, is known before
        sending; without it the salt is drawn from the signer's `rng`. `unsigned` then `sign`."""
        return self.sign(
            self.unsigned(
                request,
                token_id=token_id,
                tick_micro=tick_micro,
                neg_risk=neg_risk,
                now_ms=now_ms,
                defer_exec=defer_exec,
                salt=salt,
            )
        )

    def unsigned(
        self,
        request: OrderRequest,
        *,
        token_id: str,
        tick_micro: int,
        neg_risk: bool,
        now_ms: int,
        defer_exec: bool = False,
        salt: int | None = None,
    ) -> UnsignedOrder:
        """The checks and amounts of `prepare`, and the salt (drawn from the `rng` when not given,
        here, so the draws follow the calls' order even when `sign` runs in worker threads)."""
        if salt is not None and (type(salt) is not int or not 0 < salt < 2**256):
            raise OrderRejectedError(f"salt must be an integer in [1, 2**256), was {salt!r}", venue=_V, reason="salt")
        order_type = ORDER_TYPES[request.time_in_force]
        if request.post_only and request.time_in_force not in (TimeInForce.GTC, TimeInForce.GTD):
            raise OrderRejectedError("postOnly is only allowed with GTC/GTD", venue=_V, reason="post only")
        expiration = "0"
        if request.time_in_force is TimeInForce.GTD:
            if request.expiration_ms is None or request.expiration_ms <= now_ms:
                raise OrderRejectedError("a GTD order needs an expiration in the future", venue=_V, reason="expiration")
            expiration = str(-(-request.expiration_ms // 1000) + GTD_SECURITY_THRESHOLD_S)
        maker, taker, shares = order_amounts(
            request.action, request.time_in_force, request.price_micro_usd, request.size_micro, tick_micro
        )
        funder = self.credentials.funder_address
        signer_address = funder if self._signature_type is SignatureTypeV2.POLY_1271 else self._signer.address()
        data = OrderDataV2(
            maker=funder,
            tokenId=token_id,
            makerAmount=str(maker),
            takerAmount=str(taker),
            side=ClobSide.BUY if request.action is Action.BUY else ClobSide.SELL,
            signer=signer_address,
            signatureType=self._signature_type,
            timestamp=str(now_ms),
            metadata=BYTES32_ZERO,
            builder=BYTES32_ZERO,
            expiration=expiration,
        )
        return UnsignedOrder(
            request=request,
            token_id=token_id,
            order_type=order_type,
            neg_risk=neg_risk,
            defer_exec=defer_exec,
            data=data,
            salt=salt if salt is not None else self._rng.randrange(1, 2**40),
            shares_micro=shares,
            maker_amount_micro=maker,
            taker_amount_micro=taker,
        )

    def sign(self, order: UnsignedOrder) -> PreparedOrder:
        """Sign (EIP-712) and serialise the POST body: pure given the order, several ms of Python
        crypto, safe to call from worker threads (one signature at a time)."""
        request = order.request
        with self._signing:
            builder = self._builder(order.neg_risk)
            self._salt_override = order.salt  # read by the builder's generate_salt inside build_signed_order
            try:
                signed = builder.build_signed_order(order.data)
                typed = builder.build_order_typed_data(signed)
                order_hash = builder.build_order_hash(typed)
            except (ValueError, TypeError, OverflowError) as exc:  # the library's own: e.g. a token id not a number
                raise OrderRejectedError(
                    f"order {request.client_order_id} cannot be signed: {type(exc).__name__}: {exc}",
                    venue=_V,
                    reason="cannot sign",
                ) from exc
            finally:
                self._salt_override = None
        body = order_to_json_v2(signed, self.credentials.api_key, order.order_type, request.post_only, order.defer_exec)
        return PreparedOrder(
            client_order_id=request.client_order_id,
            market_id=request.market_id,
            token_id=order.token_id,
            order_type=order.order_type,
            post_only=request.post_only,
            signed=signed,
            body=body,
            body_text=serialize_body(body),
            order_hash=order_hash,
            price_micro_usd=request.price_micro_usd,
            shares_micro=order.shares_micro,
            maker_amount_micro=order.maker_amount_micro,
            taker_amount_micro=order.taker_amount_micro,
            neg_risk=order.neg_risk,
        )

    def headers(self, method: str, request_path: str, body_text: str | None, timestamp_s: int) -> dict[str, str]:
        return l2_headers(self.credentials, method, request_path, body_text, timestamp_s, signer=self._signer)


def _signer_of(credentials: PolymarketCredentials) -> Signer:
    key = credentials.private_key
    return Signer(key if key.startswith("0x") else "0x" + key, credentials.chain_id)


def serialize_body(body: Any) -> str:
    """The exact JSON text sent (and HMAC-signed), serialised like py-clob-client-v2."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def l2_headers(
    credentials: PolymarketCredentials,
    method: str,
    request_path: str,
    body_text: str | None,
    timestamp_s: int,
    *,
    signer: Signer | None = None,
) -> dict[str, str]:
    """L2 authentication headers for one request (`request_path` without the query string)."""
    signer = signer or _signer_of(credentials)
    headers: dict[str, str] = create_level_2_headers(
        signer,
        credentials.api_creds,
        RequestArgs(method=method, request_path=request_path, body=None, serialized_body=body_text),
        timestamp=timestamp_s,
    )
    return headers
