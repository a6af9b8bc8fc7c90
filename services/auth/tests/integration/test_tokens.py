"""Access tokens at the service (GET /auth/me), the JWKS, refresh rotation and logout."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import jwt
from _auth_helpers import PASSWORD
from auth.settings import DEV_JWT_PRIVATE_KEY
from auth.tokens import AccessTokenIssuer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from scifikpi_common.testing.contracts import assert_problem
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class TestMe:
    async def test_reads_the_user_fresh_from_the_database(
        self, client: httpx.AsyncClient, register, engine: AsyncEngine
    ) -> None:
        registered = await register()
        response = await _me(client, registered["access_token"])
        assert response.status_code == 200, response.text
        assert response.json() == registered["user"]
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE auth.users SET status = 'active', activated_at = now()")
            )
        # The token still says pending_payment; /me answers what the database says.
        assert (await _me(client, registered["access_token"])).json()["status"] == "active"

    async def test_without_a_token(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/auth/me")
        assert_problem(response, 401, "invalid-token")
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_deleted_user(
        self, client: httpx.AsyncClient, register, engine: AsyncEngine
    ) -> None:
        registered = await register()
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM auth.users"))
        assert_problem(await _me(client, registered["access_token"]), 401, "invalid-token")


class TestBadAccessTokens:
    async def test_expired(self, client: httpx.AsyncClient, register) -> None:
        user_id = UUID((await register())["user"]["id"])
        issuer = AccessTokenIssuer(
            DEV_JWT_PRIVATE_KEY, issuer="scifikpi-auth", audience="scifikpi", ttl_s=60
        )
        token = issuer.issue(
            user_id=user_id,
            role="user",
            status="active",
            now=datetime.now(UTC) - timedelta(hours=1),
        ).token
        problem = assert_problem(await _me(client, token), 401, "invalid-token")
        assert "expired" in problem["detail"]

    async def test_tampered_payload(self, client: httpx.AsyncClient, register) -> None:
        token = (await register())["access_token"]
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["role"] = "admin"
        assert_problem(
            await _me(client, f"{header}.{_b64(claims)}.{signature}"), 401, "invalid-token"
        )

    async def test_tampered_signature(self, client: httpx.AsyncClient, register) -> None:
        token = (await register())["access_token"]
        head, _, sig = token.rpartition(".")
        flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
        assert_problem(await _me(client, f"{head}.{flipped}"), 401, "invalid-token")

    async def test_alg_none(self, client: httpx.AsyncClient, register) -> None:
        registered = await register()
        good = registered["access_token"]
        claims = jwt.decode(good, options={"verify_signature": False})
        kid = jwt.get_unverified_header(good)["kid"]
        token = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}."
        assert_problem(await _me(client, token), 401, "invalid-token")

    async def test_hs256_with_the_public_key_as_secret(
        self, client: httpx.AsyncClient, register
    ) -> None:
        registered = await register()
        claims = jwt.decode(registered["access_token"], options={"verify_signature": False})
        jwks = (await client.get("/.well-known/jwks.json")).json()
        secret = jwks["keys"][0]["x"].encode()
        token = jwt.encode(
            claims, secret, algorithm="HS256", headers={"kid": jwks["keys"][0]["kid"]}
        )
        assert_problem(await _me(client, token), 401, "invalid-token")

    async def test_unknown_kid(self, client: httpx.AsyncClient, register) -> None:
        user_id = UUID((await register())["user"]["id"])
        stranger = AccessTokenIssuer(
            _pem(Ed25519PrivateKey.generate()),
            issuer="scifikpi-auth",
            audience="scifikpi",
            ttl_s=900,
        )
        token = stranger.issue(
            user_id=user_id, role="admin", status="active", now=datetime.now(UTC)
        ).token
        problem = assert_problem(await _me(client, token), 401, "invalid-token")
        assert "unknown key" in problem["detail"]

    async def test_known_kid_but_signed_by_another_key(
        self, client: httpx.AsyncClient, register
    ) -> None:
        registered = await register()
        kid = jwt.get_unverified_header(registered["access_token"])["kid"]
        claims = jwt.decode(registered["access_token"], options={"verify_signature": False})
        token = jwt.encode(
            claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid}
        )
        assert_problem(await _me(client, token), 401, "invalid-token")

    async def test_wrong_issuer(self, client: httpx.AsyncClient, register) -> None:
        user_id = UUID((await register())["user"]["id"])
        issuer = AccessTokenIssuer(
            DEV_JWT_PRIVATE_KEY, issuer="evil-auth", audience="scifikpi", ttl_s=900
        )
        token = issuer.issue(
            user_id=user_id, role="user", status="active", now=datetime.now(UTC)
        ).token
        assert_problem(await _me(client, token), 401, "invalid-token")

    async def test_wrong_audience(self, client: httpx.AsyncClient, register) -> None:
        user_id = UUID((await register())["user"]["id"])
        issuer = AccessTokenIssuer(
            DEV_JWT_PRIVATE_KEY, issuer="scifikpi-auth", audience="elsewhere", ttl_s=900
        )
        token = issuer.issue(
            user_id=user_id, role="user", status="active", now=datetime.now(UTC)
        ).token
        assert_problem(await _me(client, token), 401, "invalid-token")

    async def test_garbage(self, client: httpx.AsyncClient) -> None:
        for token in ("garbage", "a.b.c", ""):
            assert_problem(await _me(client, token), 401, "invalid-token")


class TestJwks:
    async def test_publishes_the_signing_key(self, client: httpx.AsyncClient, register) -> None:
        registered = await register()
        response = await client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=300"
        keys = response.json()["keys"]
        assert len(keys) == 1
        key = keys[0]
        assert {k: key[k] for k in ("kty", "crv", "use", "alg")} == {
            "kty": "OKP",
            "crv": "Ed25519",
            "use": "sig",
            "alg": "EdDSA",
        }
        assert "d" not in key  # never the private part
        assert key["kid"] == jwt.get_unverified_header(registered["access_token"])["kid"]
        verified = jwt.decode(
            registered["access_token"],
            jwt.PyJWK(key).key,
            algorithms=["EdDSA"],
            audience="scifikpi",
        )
        assert verified["sub"] == registered["user"]["id"]


class TestRefresh:
    async def test_rotation(self, client: httpx.AsyncClient, register, engine: AsyncEngine) -> None:
        registered = await register()
        response = await client.post(
            "/auth/refresh", json={"refresh_token": registered["refresh_token"]}
        )
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["refresh_token"] != registered["refresh_token"]
        assert data["user"]["id"] == registered["user"]["id"]
        assert (await _me(client, data["access_token"])).status_code == 200
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT id, family_id, rotated_at, replaced_by "
                        "FROM auth.refresh_tokens ORDER BY created_at"
                    )
                )
            ).all()
        assert len(rows) == 2
        assert rows[0].family_id == rows[1].family_id
        assert rows[0].rotated_at is not None and rows[0].replaced_by == rows[1].id
        # Only the digest is stored.
        async with engine.connect() as conn:
            hashes = (
                (await conn.execute(text("SELECT token_hash FROM auth.refresh_tokens")))
                .scalars()
                .all()
            )
        assert all(len(h) == 32 and registered["refresh_token"].encode() not in h for h in hashes)

    async def test_reuse_of_a_rotated_token_revokes_the_family(
        self, client: httpx.AsyncClient, register
    ) -> None:
        registered = await register()
        first = registered["refresh_token"]
        second = (await client.post("/auth/refresh", json={"refresh_token": first})).json()[
            "refresh_token"
        ]
        third = (await client.post("/auth/refresh", json={"refresh_token": second})).json()[
            "refresh_token"
        ]
        reused = await client.post("/auth/refresh", json={"refresh_token": first})
        assert_problem(reused, 401, "refresh-token-reused")
        # The thief's and the owner's latest tokens are both dead now.
        assert_problem(
            await client.post("/auth/refresh", json={"refresh_token": third}),
            401,
            "invalid-refresh-token",
        )

    async def test_reuse_does_not_touch_other_logins(
        self, client: httpx.AsyncClient, register
    ) -> None:
        registered = await register()
        other = (
            await client.post(
                "/auth/login", json={"email": registered["user"]["email"], "password": PASSWORD}
            )
        ).json()
        await client.post("/auth/refresh", json={"refresh_token": registered["refresh_token"]})
        await client.post("/auth/refresh", json={"refresh_token": registered["refresh_token"]})
        ok = await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
        assert ok.status_code == 200, ok.text

    async def test_concurrent_use_of_one_token_rotates_it_once(
        self, client: httpx.AsyncClient, register
    ) -> None:
        registered = await register()
        responses = await asyncio.gather(
            *(
                client.post("/auth/refresh", json={"refresh_token": registered["refresh_token"]})
                for _ in range(5)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 401, 401, 401, 401], [r.text for r in responses]
        # The row lock serialized them: the losers saw a spent token, so the family is revoked.
        winner = next(r for r in responses if r.status_code == 200).json()
        assert_problem(
            await client.post("/auth/refresh", json={"refresh_token": winner["refresh_token"]}),
            401,
            "invalid-refresh-token",
        )

    async def test_expired(self, client: httpx.AsyncClient, register, engine: AsyncEngine) -> None:
        registered = await register()
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE auth.refresh_tokens SET expires_at = now() - interval '1 second'")
            )
        assert_problem(
            await client.post("/auth/refresh", json={"refresh_token": registered["refresh_token"]}),
            401,
            "invalid-refresh-token",
        )

    async def test_unknown(self, client: httpx.AsyncClient) -> None:
        assert_problem(
            await client.post("/auth/refresh", json={"refresh_token": "made-up"}),
            401,
            "invalid-refresh-token",
        )

    async def test_bad_input(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.post("/auth/refresh", json={}), 422, "validation-error")
        assert_problem(
            await client.post("/auth/refresh", json={"refresh_token": 5}), 422, "validation-error"
        )
        assert_problem(
            await client.post("/auth/refresh", json={"refresh_token": "x", "extra": True}),
            422,
            "validation-error",
        )


class TestLogout:
    async def test_revokes_the_family_and_is_idempotent(
        self, client: httpx.AsyncClient, register
    ) -> None:
        registered = await register()
        rotated = (
            await client.post("/auth/refresh", json={"refresh_token": registered["refresh_token"]})
        ).json()
        response = await client.post(
            "/auth/logout", json={"refresh_token": rotated["refresh_token"]}
        )
        assert response.status_code == 204
        assert response.content == b""
        assert_problem(
            await client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]}),
            401,
            "invalid-refresh-token",
        )
        assert (
            await client.post("/auth/logout", json={"refresh_token": rotated["refresh_token"]})
        ).status_code == 204

    async def test_unknown_token_is_fine(self, client: httpx.AsyncClient) -> None:
        assert (
            await client.post("/auth/logout", json={"refresh_token": "never-issued"})
        ).status_code == 204


async def test_register_login_me_refresh_logout(client: httpx.AsyncClient, register) -> None:
    registered = await register()
    email = registered["user"]["email"]
    login = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    tokens = login.json()
    me = await _me(client, tokens["access_token"])
    assert me.status_code == 200 and me.json()["email"] == email
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert (await _me(client, new["access_token"])).status_code == 200
    assert (
        await client.post("/auth/logout", json={"refresh_token": new["refresh_token"]})
    ).status_code == 204
    assert_problem(
        await client.post("/auth/refresh", json={"refresh_token": new["refresh_token"]}),
        401,
        "invalid-refresh-token",
    )
