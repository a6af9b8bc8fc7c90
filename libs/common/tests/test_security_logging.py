"""JWT verification (EdDSA only, kid rotation, issuer/audience/expiry) and log redaction."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from scifikpi_common.errors import InvalidToken, UpstreamUnavailable
from scifikpi_common.logging import REDACTED, redact_secrets
from scifikpi_common.security import JwksCache, TokenVerifier


def _jwk(key: Ed25519PrivateKey, kid: str) -> dict:
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}


class KeyServer:
    def __init__(self) -> None:
        self.keys: dict[str, Ed25519PrivateKey] = {"k1": Ed25519PrivateKey.generate()}
        self.fetches = 0

    async def fetch(self) -> dict:
        self.fetches += 1
        return {"keys": [_jwk(k, kid) for kid, k in self.keys.items()]}

    def token(self, kid: str = "k1", **overrides) -> str:
        now = int(time.time())
        claims = {
            "sub": str(uuid.uuid4()),
            "role": "user",
            "status": "active",
            "iss": "scifikpi-auth",
            "aud": "scifikpi",
            "iat": now,
            "exp": now + 600,
            "jti": "j1",
        } | overrides
        return jwt.encode(claims, self.keys[kid], algorithm="EdDSA", headers={"kid": kid})


@pytest.fixture
def server() -> KeyServer:
    return KeyServer()


@pytest.fixture
def verifier(server: KeyServer) -> TokenVerifier:
    return TokenVerifier(
        JwksCache(server.fetch, min_refresh_s=0.0), issuer="scifikpi-auth", audience="scifikpi"
    )


class TestTokenVerifier:
    async def test_valid_token(self, server, verifier):
        principal = await verifier.verify(server.token(role="admin"))
        assert principal.is_admin and principal.is_active

    @pytest.mark.parametrize(
        "overrides",
        [
            {"exp": int(time.time()) - 60},
            {"iss": "someone-else"},
            {"aud": "other"},
            {"role": "root"},
            {"sub": "not-a-uuid"},
        ],
    )
    async def test_rejected_claims(self, server, verifier, overrides):
        with pytest.raises(InvalidToken):
            await verifier.verify(server.token(**overrides))

    async def test_a_verified_token_is_remembered_until_its_expiry(self, server, verifier):
        token = server.token()
        first = await verifier.verify(token)
        server.keys = {"k2": Ed25519PrivateKey.generate()}  # k1 gone from the JWKS
        assert await verifier.verify(token) == first  # remembered: no key lookup, no signature
        with pytest.raises(InvalidToken):  # another k1 token needs the key, which is gone
            await verifier.verify(
                jwt.encode(
                    {"x": 1}, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "k1"}
                )
            )

    async def test_a_remembered_token_expires_with_its_claim(self, server):
        verifier = TokenVerifier(
            JwksCache(server.fetch, min_refresh_s=0.0),
            issuer="scifikpi-auth",
            audience="scifikpi",
            leeway_s=0,
        )
        token = server.token(exp=int(time.time()) + 1)
        await verifier.verify(token)
        await asyncio.sleep(max(0.0, int(time.time()) + 1.1 - time.time()) + 1.0)
        with pytest.raises(InvalidToken, match="expired"):
            await verifier.verify(token)

    async def test_the_cache_is_bounded(self, server):
        verifier = TokenVerifier(
            JwksCache(server.fetch), issuer="scifikpi-auth", audience="scifikpi", cache_size=2
        )
        tokens = [server.token(jti=str(i)) for i in range(5)]
        for token in tokens:
            await verifier.verify(token)
        assert len(verifier._cache) == 2 and set(verifier._cache) == set(tokens[-2:])

    async def test_tampered_payload(self, server, verifier):
        header, payload, sig = server.token().split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["role"] = "admin"
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        with pytest.raises(InvalidToken):
            await verifier.verify(f"{header}.{forged}.{sig}")

    async def test_alg_none_and_hs256(self, server, verifier):
        claims = {
            "sub": str(uuid.uuid4()),
            "role": "admin",
            "iss": "scifikpi-auth",
            "aud": "scifikpi",
            "iat": 0,
            "exp": 2**31,
        }
        none_token = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})
        hs_token = jwt.encode(claims, "k1", algorithm="HS256", headers={"kid": "k1"})
        for token in (none_token, hs_token, "garbage", "a.b.c"):
            with pytest.raises(InvalidToken):
                await verifier.verify(token)

    async def test_unknown_kid_refetches_then_rejects(self, server, verifier):
        await verifier.verify(server.token())
        server.keys["k2"] = Ed25519PrivateKey.generate()
        principal = await verifier.verify(server.token(kid="k2"))  # rotation: new kid fetched
        assert principal.role == "user"
        stranger = KeyServer()
        stranger.keys = {"k9": Ed25519PrivateKey.generate()}
        with pytest.raises(InvalidToken):
            await verifier.verify(stranger.token(kid="k9"))

    async def test_refetch_is_rate_limited(self, server):
        cache = JwksCache(server.fetch, min_refresh_s=60.0)
        assert await cache.key("k1") is not None
        for _ in range(5):
            assert await cache.key("unknown") is None
        assert server.fetches == 1

    async def test_keys_unreachable_is_503_not_401(self, server):
        async def down() -> dict:
            raise ConnectionError("auth is down")

        verifier = TokenVerifier(
            JwksCache(down, min_refresh_s=0.0), issuer="scifikpi-auth", audience="scifikpi"
        )
        with pytest.raises(UpstreamUnavailable):
            await verifier.verify(server.token())


class TestRedaction:
    def test_nested_secrets_are_redacted(self):
        event = {
            "event": "x",
            "password": "hunter2",
            "body": {"card_number": "4242", "email": "a@b.c", "nested": [{"refresh_token": "r"}]},
            "Authorization": "Bearer abc",
        }
        out = redact_secrets(None, "info", event)
        assert out["password"] == REDACTED and out["Authorization"] == REDACTED
        assert out["body"]["card_number"] == REDACTED and out["body"]["email"] == "a@b.c"
        assert out["body"]["nested"][0]["refresh_token"] == REDACTED
