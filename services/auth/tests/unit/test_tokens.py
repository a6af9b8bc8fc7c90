"""Access tokens, the JWKS (RFC 7638 kid), refresh token digests, and their settings."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import jwt
import pytest
from auth.settings import DEV_JWT_PRIVATE_KEY, AuthSettings
from auth.tokens import AccessTokenIssuer, hash_refresh_token, new_refresh_token, public_jwk
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from scifikpi_common.security import JwksCache, TokenVerifier


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_kid_is_the_rfc7638_thumbprint_of_the_rfc8037_example_key() -> None:
    # RFC 8037 appendix A.1 (key) and A.3 (its RFC 7638 thumbprint).
    d = base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
    jwk = public_jwk(Ed25519PrivateKey.from_private_bytes(d).public_key())
    assert jwk["x"] == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    assert jwk["kid"] == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert jwk == {**jwk, "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA"}


def _issuer(**kw: object) -> AccessTokenIssuer:
    args: dict = {"issuer": "scifikpi-auth", "audience": "scifikpi", "ttl_s": 900}
    args.update(kw)
    return AccessTokenIssuer(DEV_JWT_PRIVATE_KEY, **args)


class TestAccessTokens:
    def test_claims_and_header(self) -> None:
        issuer = _issuer()
        user_id = uuid4()
        now = datetime.now(UTC)
        issued = issuer.issue(user_id=user_id, role="user", status="pending_payment", now=now)
        header = jwt.get_unverified_header(issued.token)
        assert header["alg"] == "EdDSA"
        assert header["kid"] == issuer.kid
        key = jwt.PyJWK(issuer.jwks()["keys"][0]).key
        claims = jwt.decode(
            issued.token, key, algorithms=["EdDSA"], audience="scifikpi", issuer="scifikpi-auth"
        )
        assert claims["sub"] == str(user_id)
        assert claims["role"] == "user"
        assert claims["status"] == "pending_payment"
        assert claims["exp"] - claims["iat"] == 900
        assert claims["jti"] == issued.jti
        assert issued.expires_in == 900

    async def test_the_common_verifier_accepts_them(self) -> None:
        issuer = _issuer()
        user_id = uuid4()
        issued = issuer.issue(user_id=user_id, role="admin", status="active", now=datetime.now(UTC))
        verifier = TokenVerifier(
            JwksCache(issuer.fetch_jwks), issuer="scifikpi-auth", audience="scifikpi"
        )
        principal = await verifier.verify(issued.token)
        assert principal.user_id == user_id
        assert principal.is_admin and principal.is_active

    async def test_tokens_of_a_previous_key_still_verify_after_rotation(self) -> None:
        old_key = Ed25519PrivateKey.generate()
        old = AccessTokenIssuer(_pem(old_key), issuer="i", audience="a", ttl_s=900)
        token = old.issue(
            user_id=uuid4(), role="user", status="active", now=datetime.now(UTC)
        ).token
        new = AccessTokenIssuer(
            DEV_JWT_PRIVATE_KEY,
            issuer="i",
            audience="a",
            ttl_s=900,
            previous_public_keys_pem=[_public_pem(old_key)],
        )
        kids = [k["kid"] for k in new.jwks()["keys"]]
        assert kids == [new.kid, old.kid]
        verifier = TokenVerifier(JwksCache(new.fetch_jwks), issuer="i", audience="a")
        await verifier.verify(token)

    def test_refuses_a_key_that_is_not_ed25519(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        pem = (
            ec.generate_private_key(ec.SECP256R1())
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )
        with pytest.raises(ValueError, match="Ed25519"):
            AccessTokenIssuer(pem, issuer="i", audience="a", ttl_s=60)

    def test_expired_token_is_refused_by_pyjwt(self) -> None:
        issuer = _issuer()
        issued = issuer.issue(
            user_id=uuid4(),
            role="user",
            status="active",
            now=datetime.now(UTC) - timedelta(hours=1),
        )
        key = jwt.PyJWK(issuer.jwks()["keys"][0]).key
        with pytest.raises(jwt.ExpiredSignatureError):
            jwt.decode(issued.token, key, algorithms=["EdDSA"], audience="scifikpi")


class TestRefreshTokens:
    def test_256_bits_and_only_the_digest_is_kept(self) -> None:
        token, digest = new_refresh_token()
        assert len(base64.urlsafe_b64decode(token + "=")) == 32
        assert digest == hash_refresh_token(token)
        assert len(digest) == 32
        assert token.encode() not in digest

    def test_unique(self) -> None:
        assert len({new_refresh_token()[0] for _ in range(100)}) == 100


class TestSettings:
    def test_dev_key_is_fine_locally(self) -> None:
        assert (
            AuthSettings(environment="local").jwt_private_key.get_secret_value()
            == DEV_JWT_PRIVATE_KEY
        )

    def test_dev_key_is_refused_in_production(self) -> None:
        with pytest.raises(ValidationError, match="AUTH_JWT_PRIVATE_KEY"):
            AuthSettings(environment="production")

    def test_a_real_key_is_accepted_in_production(self) -> None:
        settings = AuthSettings(
            environment="production", jwt_private_key=_pem(Ed25519PrivateKey.generate())
        )
        assert settings.environment == "production"

    def test_previous_keys_from_env_as_concatenated_pems_or_json(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        a, b = _public_pem(Ed25519PrivateKey.generate()), _public_pem(Ed25519PrivateKey.generate())
        monkeypatch.setenv("AUTH_JWT_PREVIOUS_PUBLIC_KEYS", a + b)
        assert AuthSettings().jwt_previous_public_keys == [a, b]
        monkeypatch.setenv("AUTH_JWT_PREVIOUS_PUBLIC_KEYS", json.dumps([a, b]))
        assert AuthSettings().jwt_previous_public_keys == [a, b]

    def test_trusted_proxies_from_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AUTH_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7")
        assert AuthSettings().trusted_proxies == ["10.0.0.0/8", "192.168.1.7/32"]
