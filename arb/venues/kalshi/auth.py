"""Kalshi request signing (docs/venues.md#kalshi-auth).

Every REST request and the WebSocket handshake carry three headers:

    KALSHI-ACCESS-KEY        the API key id
    KALSHI-ACCESS-TIMESTAMP  unix time in milliseconds, as text
    KALSHI-ACCESS-SIGNATURE  base64(RSA-PSS(SHA-256, MGF1(SHA-256), salt length = digest length)
                                    over TIMESTAMP + METHOD + PATH)

PATH is the URL path including the `/trade-api/v2` prefix and WITHOUT the query string; the
WebSocket handshake signs `GET` and the socket's path (`/trade-api/ws/v2`).

Credentials come from the environment (`KALSHI_API_KEY_ID`, `KALSHI_PRIVATE_KEY_PATH`) or an
explicit key file path; the key never appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from arb.errors import AuthError, ConfigError

__all__ = [
    "ACCESS_KEY",
    "ACCESS_SIGNATURE",
    "ACCESS_TIMESTAMP",
    "ENV_KEY_ID",
    "ENV_KEY_PATH",
    "KalshiSigner",
    "load_private_key",
    "load_public_key",
    "signing_path",
    "verify_signature",
]

ACCESS_KEY = "KALSHI-ACCESS-KEY"
ACCESS_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
ACCESS_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"
ENV_KEY_ID = "KALSHI_API_KEY_ID"
ENV_KEY_PATH = "KALSHI_PRIVATE_KEY_PATH"

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def signing_path(path_or_url: str) -> str:
    """The part of a path or URL that is signed: the path, without query string or fragment."""
    if "://" in path_or_url:
        path = urlsplit(path_or_url).path
    else:
        path = path_or_url.split("?", 1)[0].split("#", 1)[0]
    return path or "/"


def _message(timestamp_ms: int | str, method: str, path: str) -> bytes:
    return f"{timestamp_ms}{method.upper()}{signing_path(path)}".encode()


def load_private_key(path: str | os.PathLike[str]) -> rsa.RSAPrivateKey:
    """An RSA private key from a PEM file (unencrypted, as Kalshi issues them)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"Kalshi private key file {str(path)!r} cannot be read ({exc.strerror})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Never echo the file content: it is the secret.
        raise ConfigError(f"Kalshi private key file {str(path)!r} is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"Kalshi private key file {str(path)!r} holds a {type(key).__name__}, not an RSA key")
    return key


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError("Kalshi public key is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigError("Kalshi public key is not an RSA key")
    return key


class KalshiSigner:
    """Signs requests for one API key. Construct with `from_env`, `from_path` or a loaded key."""

    __slots__ = ("_key", "_key_id")

    def __init__(self, key_id: str, private_key: rsa.RSAPrivateKey) -> None:
        if not key_id or not isinstance(key_id, str):
            raise ConfigError(f"Kalshi API key id must be a non-empty string (set {ENV_KEY_ID})")
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ConfigError("Kalshi private key must be an RSA private key")
        self._key_id = key_id
        self._key = private_key

    @classmethod
    def from_path(cls, key_id: str, key_path: str | os.PathLike[str]) -> KalshiSigner:
        return cls(key_id, load_private_key(key_path))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KalshiSigner:
        env = os.environ if environ is None else environ
        key_id = env.get(ENV_KEY_ID, "").strip()
        key_path = env.get(ENV_KEY_PATH, "").strip()
        missing = [name for name, value in ((ENV_KEY_ID, key_id), (ENV_KEY_PATH, key_path)) if not value]
        if missing:
            raise ConfigError(f"Kalshi credentials missing: set {' and '.join(missing)}")
        return cls.from_path(key_id, key_path)

    @property
    def key_id(self) -> str:
        return self._key_id

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, timestamp_ms: int, method: str, path: str) -> str:
        """base64 RSA-PSS signature of timestamp + METHOD + path (query string stripped)."""
        return base64.b64encode(self._key.sign(_message(timestamp_ms, method, path), _PSS, hashes.SHA256())).decode(
            "ascii"
        )

    def headers(self, method: str, path: str, timestamp_ms: int) -> dict[str, str]:
        """The three authentication headers for one request."""
        return {
            ACCESS_KEY: self._key_id,
            ACCESS_TIMESTAMP: str(timestamp_ms),
            ACCESS_SIGNATURE: self.sign(timestamp_ms, method, path),
        }

    def __repr__(self) -> str:
        shown = self._key_id[:4] + "..." if len(self._key_id) > 8 else "***"
        return f"KalshiSigner(key_id={shown!r}, key=<RSA {self._key.key_size} bits, hidden>)"


def verify_signature(
    public_key: rsa.RSAPublicKey,
    headers: Mapping[str, str],
    method: str,
    path: str,
    *,
    expected_key_id: str | None = None,
) -> None:
    """Check a request's Kalshi headers (header names case-insensitive). Raises AuthError when a
    header is missing, the key id is not `expected_key_id`, or the signature does not verify."""
    lowered = {k.lower(): v for k, v in headers.items()}
    values = []
    for name in (ACCESS_KEY, ACCESS_TIMESTAMP, ACCESS_SIGNATURE):
        value = lowered.get(name.lower())
        if not value:
            raise AuthError(f"missing header {name}", venue="kalshi", status=401)
        values.append(value)
    key_id, timestamp, signature = values
    if expected_key_id is not None and key_id != expected_key_id:
        raise AuthError("unknown API key id", venue="kalshi", status=401)
    if not timestamp.isdigit():
        raise AuthError(f"{ACCESS_TIMESTAMP} must be integer milliseconds", venue="kalshi", status=401)
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise AuthError(f"{ACCESS_SIGNATURE} is not base64", venue="kalshi", status=401) from None
    try:
        public_key.verify(raw, _message(timestamp, method, path), _PSS, hashes.SHA256())
    except InvalidSignature:
        raise AuthError("signature does not verify", venue="kalshi", status=401) from None
