"""Order identifiers derived from the journaled intent, so that every id an order will carry is
known (and written down) before the order leaves.

- Kalshi: `client_order_id`, our own id for the order, echoed on every answer and refused as a
  duplicate if sent twice. A UUID string (36 characters of hex and hyphens) is the form the
  venue's documentation shows; it is well inside any length or character limit a venue places
  on such ids.
- Polymarket: the order id is the EIP-712 hash of the signed order, and the only free field in
  it is the `salt`. Deriving the salt from the intent makes the hash a function of the intent
  (with the price, size, token and signed timestamp that the intent also fixes).
"""

from __future__ import annotations

import hashlib
import uuid

from arb.errors import ConfigError

# A fixed namespace: changing it would change every derived id (and break recovery's matching).
_NAMESPACE = uuid.UUID("5b3c9f4e-2d1a-4c8e-9a57-0e6b1f7d2c43")

# The salt range the order signer already draws from (arb.venues.polymarket.orders.OrderSigner):
# [1, 2**40), small enough to survive any JSON number parser exactly.
POLYMARKET_SALT_LIMIT = 2**40


def _check(intent_id: str, leg_index: int) -> None:
    if not isinstance(intent_id, str) or not intent_id:
        raise ConfigError(f"intent id must be a non-empty string, got {intent_id!r}")
    if isinstance(leg_index, bool) or not isinstance(leg_index, int) or leg_index < 0:
        raise ConfigError(f"leg index must be a non-negative int, got {leg_index!r}")


def client_order_id(intent_id: str, leg_index: int) -> str:
    """The client order id of leg `leg_index` of intent `intent_id`: a name-based UUID (RFC 4122
    version 5), deterministic, 36 characters, distinct per (intent, leg)."""
    _check(intent_id, leg_index)
    return str(uuid.uuid5(_NAMESPACE, f"{intent_id}/{leg_index}"))


def polymarket_salt(intent_id: str, leg_index: int) -> int:
    """The Polymarket order salt of leg `leg_index` of intent `intent_id`, in [1, 2**40)."""
    _check(intent_id, leg_index)
    digest = hashlib.sha256(f"arb-salt/{intent_id}/{leg_index}".encode()).digest()
    return 1 + int.from_bytes(digest[:8], "big") % (POLYMARKET_SALT_LIMIT - 1)
