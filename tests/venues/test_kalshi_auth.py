"""Kalshi RSA-PSS signing: verifiable with the public key, query string excluded, WS path signed,
credentials loaded from env or a file with clear errors, secrets never shown."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from arb.errors import AuthError, ConfigError
from arb.venues.kalshi.auth import (
    ACCESS_KEY,
    ACCESS_SIGNATURE,
    ACCESS_TIMESTAMP,
    ENV_KEY_ID,
    ENV_KEY_PATH,
    KalshiSigner,
    load_public_key,
    signing_path,
    verify_signature,
)
from arb.venues.kalshi.client import KalshiConfig


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture()
def key_file(tmp_path: Path, private_key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "kalshi.pem"
    path.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    return path


def test_signature_verifies_with_the_public_key_over_timestamp_method_path(private_key: rsa.RSAPrivateKey) -> None:
    signer = KalshiSigner("key-id-123456", private_key)
    headers = signer.headers("get", "/trade-api/v2/portfolio/orders", 1703123456789)
    assert headers[ACCESS_KEY] == "key-id-123456" and headers[ACCESS_TIMESTAMP] == "1703123456789"
    raw = base64.b64decode(headers[ACCESS_SIGNATURE])
    # The exact message Kalshi documents, verified with PSS(MGF1(SHA-256), salt = digest length).
    private_key.public_key().verify(
        raw,
        b"1703123456789GET/trade-api/v2/portfolio/orders",
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )
    verify_signature(
        private_key.public_key(), headers, "GET", "/trade-api/v2/portfolio/orders", expected_key_id="key-id-123456"
    )


def test_query_string_is_not_signed(private_key: rsa.RSAPrivateKey) -> None:
    signer = KalshiSigner("k", private_key)
    headers = signer.headers("GET", "/trade-api/v2/portfolio/orders?limit=5&cursor=abc", 1)
    verify_signature(private_key.public_key(), headers, "GET", "/trade-api/v2/portfolio/orders")
    verify_signature(private_key.public_key(), headers, "GET", "/trade-api/v2/portfolio/orders?status=resting")
    with pytest.raises(AuthError):
        verify_signature(private_key.public_key(), headers, "GET", "/trade-api/v2/portfolio/fills")
    with pytest.raises(AuthError):
        verify_signature(private_key.public_key(), headers, "POST", "/trade-api/v2/portfolio/orders")
    assert signing_path("https://api.elections.kalshi.com/trade-api/v2/markets?limit=1") == "/trade-api/v2/markets"


def test_websocket_handshake_signs_the_socket_path(private_key: rsa.RSAPrivateKey) -> None:
    signer = KalshiSigner("k", private_key)
    headers = signer.headers("GET", signing_path("wss://api.elections.kalshi.com/trade-api/ws/v2"), 42)
    raw = base64.b64decode(headers[ACCESS_SIGNATURE])
    private_key.public_key().verify(
        raw,
        b"42GET/trade-api/ws/v2",
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )


def test_tampering_and_missing_headers_are_auth_errors(private_key: rsa.RSAPrivateKey) -> None:
    signer = KalshiSigner("k", private_key)
    headers = signer.headers("GET", "/p", 7)
    public = load_public_key(signer.public_key_pem())
    for broken in (
        {**headers, ACCESS_TIMESTAMP: "8"},
        {**headers, ACCESS_SIGNATURE: "not base64!"},
        {k: v for k, v in headers.items() if k != ACCESS_SIGNATURE},
        {**headers, ACCESS_TIMESTAMP: "7x"},
    ):
        with pytest.raises(AuthError) as caught:
            verify_signature(public, broken, "GET", "/p")
        assert caught.value.status == 401
    with pytest.raises(AuthError):
        verify_signature(public, headers, "GET", "/p", expected_key_id="other")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(AuthError):
        verify_signature(other.public_key(), headers, "GET", "/p")
    lowered = {k.lower(): v for k, v in headers.items()}
    verify_signature(public, lowered, "GET", "/p")  # header names are case-insensitive


def test_credentials_from_env_and_file(key_file: Path, private_key: rsa.RSAPrivateKey) -> None:
    signer = KalshiSigner.from_env({ENV_KEY_ID: "abcd-efgh-ijkl", ENV_KEY_PATH: str(key_file)})
    assert signer.key_id == "abcd-efgh-ijkl"
    verify_signature(private_key.public_key(), signer.headers("GET", "/x", 1), "GET", "/x")
    shown = repr(signer)
    assert "abcd-efgh-ijkl" not in shown and "BEGIN" not in shown
    with pytest.raises(ConfigError, match=ENV_KEY_PATH):
        KalshiSigner.from_env({ENV_KEY_ID: "abc"})
    with pytest.raises(ConfigError, match=f"{ENV_KEY_ID} and {ENV_KEY_PATH}"):
        KalshiSigner.from_env({})
    with pytest.raises(ConfigError, match="cannot be read"):
        KalshiSigner.from_path("k", key_file.parent / "missing.pem")


def test_bad_key_files_are_config_errors_without_echoing_content(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nSECRETSTUFF\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError) as caught:
        KalshiSigner.from_path("k", garbage)
    assert "SECRETSTUFF" not in str(caught.value)
    ec_file = tmp_path / "ec.pem"
    ec_file.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ConfigError, match="not an RSA key"):
        KalshiSigner.from_path("k", ec_file)


def test_config_hides_credentials_and_validates(key_file: Path) -> None:
    config = KalshiConfig.from_env(
        {ENV_KEY_ID: "very-secret-key-id", ENV_KEY_PATH: str(key_file)}, read_rate_per_s=30.0
    )
    shown = repr(config)
    assert "very-secret-key-id" not in shown and str(key_file) not in shown and "credentials=<set>" in shown
    assert config.has_credentials and config.read_rate_per_s == 30.0
    assert "credentials=<none>" in repr(KalshiConfig.from_env({}))
    for bad in (
        {"ws_url": "https://x"},
        {"read_rate_per_s": 0},
        {"reconnect_base_s": 2.0, "reconnect_cap_s": 1.0},
        {"api_key_id": "only-half"},
        {"check_interval_s": -1.0},
    ):
        with pytest.raises(ConfigError):
            KalshiConfig(**bad)
