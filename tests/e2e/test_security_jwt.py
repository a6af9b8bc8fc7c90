"""JWT attacks through the gateway: each forged, stale or misdirected token is refused with a
401 `invalid-token` problem (`WWW-Authenticate: Bearer`), a real user token on an admin route
with 403 `forbidden`; refresh tokens are single-use and a reuse revokes the family.

Every test that crafts a token signs a valid twin with the stack's own key first and sees it
accepted, so a refusal is due to the one claim the test changed, not to a broken signer.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from e2e_support import PASSWORD, bearer, run_cli
from scifikpi_common.testing.contracts import assert_problem
from security_support import (
    SECRETS,
    StackSigner,
    Users,
    b64url,
    claims_of,
    forge,
    signing_input,
    unb64url,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

USER_ROUTE = "/auth/me"
ADMIN_ROUTE = "/admin/ledger/check"


@pytest.fixture(scope="module", autouse=True)
async def _users_at_once(users: Users) -> None:
    """The users of this file, registered and paid for concurrently rather than one by one."""
    await users.get("signer", "jwt", "jwt-other", "promoted", "blocked", "refresh")


async def refused(api: httpx.AsyncClient, token: str, path: str = USER_ROUTE) -> dict[str, Any]:
    """401 invalid-token, as RFC 9457 problem+json, with the bearer challenge."""
    response = await api.get(path, headers=bearer(token))
    body = assert_problem(response, 401, "invalid-token")
    assert response.headers["www-authenticate"].startswith("Bearer"), response.headers
    return body


async def accepted(api: httpx.AsyncClient, token: str, path: str = USER_ROUTE) -> None:
    response = await api.get(path, headers=bearer(token))
    assert response.status_code == 200, response.text


async def one_user(users: Users, name: str) -> dict[str, Any]:
    [user] = await users.get(name)
    return user


async def test_alg_none_is_refused(api: httpx.AsyncClient, users: Users) -> None:
    user = await one_user(users, "jwt")
    header, claims = claims_of(user["access_token"])
    for alg in ("none", "None", "NONE"):
        token = forge({**header, "alg": alg}, {**claims, "role": "admin"})
        await refused(api, token)
        await refused(api, token, ADMIN_ROUTE)
        await refused(api, token + "AAAA")  # a junk signature changes nothing


async def test_hs256_signed_with_the_public_key_is_refused(
    api: httpx.AsyncClient, signer: StackSigner
) -> None:
    jwk = next(k for k in signer.jwks["keys"] if k["kid"] == signer.kid)
    public = signer.key.public_key()
    candidates = {  # every form a confused verifier might use as the HMAC secret
        "raw": unb64url(jwk["x"]),
        "x": jwk["x"].encode(),
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    }
    claims = signer.claims(str(uuid.uuid4()), role="admin")
    await accepted(api, signer.sign(claims), ADMIN_ROUTE)  # the EdDSA twin is an admin's
    for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
        for secret in candidates.values():
            header = {"alg": alg, "typ": "JWT", "kid": signer.kid}
            unsigned = forge(header, claims)
            mac = hmac.new(secret, signing_input(unsigned), digest).digest()
            await refused(api, forge(header, claims, mac), ADMIN_ROUTE)


async def test_expired_token_is_refused(
    api: httpx.AsyncClient, signer: StackSigner, users: Users
) -> None:
    sub = (await one_user(users, "jwt"))["user"]["id"]
    await accepted(api, signer.sign(signer.claims(sub)))  # the valid twin
    now = int(time.time())
    body = await refused(api, signer.sign(signer.claims(sub, iat=now - 960, exp=now - 60)))
    assert "expired" in body["detail"]
    await refused(api, signer.sign(signer.claims(sub, exp=None)))  # no expiry at all


async def test_token_not_yet_valid_is_refused(
    api: httpx.AsyncClient, signer: StackSigner, users: Users
) -> None:
    sub = (await one_user(users, "jwt"))["user"]["id"]
    now = int(time.time())
    await refused(api, signer.sign(signer.claims(sub, nbf=now + 600)))
    await refused(api, signer.sign(signer.claims(sub, iat=now + 600, exp=now + 1200)))
    await accepted(api, signer.sign(signer.claims(sub, nbf=now - 1)))


async def test_wrong_or_missing_kid_is_refused(
    api: httpx.AsyncClient, signer: StackSigner, users: Users
) -> None:
    sub = (await one_user(users, "jwt"))["user"]["id"]
    claims = signer.claims(sub)
    for kid in (b64url(uuid.uuid4().bytes), "../../../../dev/null", "' OR '1'='1"):
        await refused(api, signer.sign(claims, kid=kid))
    header = {"alg": "EdDSA", "typ": "JWT"}  # no kid
    await refused(api, forge(header, claims, signer.key.sign(signing_input(forge(header, claims)))))
    # the stack's kid, signed by another key: the kid names the key, it does not prove it
    await refused(api, signer.sign(claims, key=Ed25519PrivateKey.generate()))


async def test_wrong_issuer_or_audience_is_refused(
    api: httpx.AsyncClient, signer: StackSigner, users: Users
) -> None:
    sub = (await one_user(users, "jwt"))["user"]["id"]
    await accepted(api, signer.sign(signer.claims(sub)))
    await refused(api, signer.sign(signer.claims(sub, iss="https://evil.example.com")))
    await refused(api, signer.sign(signer.claims(sub, iss=None)))
    await refused(api, signer.sign(signer.claims(sub, aud="another-product")))
    await refused(api, signer.sign(signer.claims(sub, aud=["another-product"])))
    await refused(api, signer.sign(signer.claims(sub, aud=None)))


async def test_tampered_claims_with_the_original_signature_are_refused(
    api: httpx.AsyncClient, users: Users
) -> None:
    user, other = await users.get("jwt", "jwt-other")
    token = user["access_token"]
    header, claims = claims_of(token)
    signature = unb64url(token.rsplit(".", 1)[1])
    assert_problem(await api.get(ADMIN_ROUTE, headers=bearer(token)), 403, "forbidden")
    for changed in (
        {"role": "admin"},
        {"sub": other["user"]["id"]},
        {"exp": claims["exp"] + 86400},
        {"status": "active", "role": "admin", "aud": claims["aud"]},
    ):
        forged = forge(header, {**claims, **changed}, signature)
        await refused(api, forged, ADMIN_ROUTE)
        await refused(api, forged)
    await accepted(api, token)  # the untouched token still works


async def test_a_promoted_user_needs_a_new_token_and_a_blocked_one_gets_none(
    api: httpx.AsyncClient, users: Users, database_url: str
) -> None:
    """auth has no demote or delete operation (`auth-admin` has create-admin and promote only,
    there is no admin API for users): what exists is a role change (promote) and a status,
    `blocked`, that no command sets; ops would set it in SQL, so the test does too."""
    user = await one_user(users, "promoted")
    old = user["access_token"]
    made = run_cli("auth-admin", "promote", "--email", user["user"]["email"],
                   database_url=database_url)  # fmt: skip
    assert made.returncode == 0, made.stderr
    # the role is the token's: the old one stays a user's until it is refreshed
    assert_problem(await api.get(ADMIN_ROUTE, headers=bearer(old)), 403, "forbidden")
    fresh = await api.post("/auth/refresh", json={"refresh_token": user["refresh_token"]})
    assert fresh.status_code == 200, fresh.text
    session = SECRETS.session(fresh.json())
    assert claims_of(session["access_token"])[1]["role"] == "admin"
    await accepted(api, session["access_token"], ADMIN_ROUTE)

    victim = await one_user(users, "blocked")
    await _set_status(database_url, victim["user"]["id"], "blocked")
    again = await api.post("/auth/refresh", json={"refresh_token": victim["refresh_token"]})
    assert_problem(again, 401, "invalid-refresh-token")
    login = {"email": victim["user"]["email"], "password": PASSWORD}
    assert_problem(await api.post("/auth/login", json=login), 403, "account-blocked")
    me = await api.get(USER_ROUTE, headers=bearer(victim["access_token"]))
    assert me.status_code == 200 and me.json()["status"] == "blocked", me.text


async def _set_status(database_url: str, user_id: str, status: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        done = await conn.execute(
            "UPDATE auth.users SET status = $1, updated_at = now() WHERE id = $2",
            status,
            uuid.UUID(user_id),
        )
        assert done == "UPDATE 1", done
    finally:
        await conn.close()


async def test_a_reused_refresh_token_revokes_its_family_only(
    api: httpx.AsyncClient, users: Users
) -> None:
    user = await one_user(users, "refresh")
    login = {"email": user["user"]["email"], "password": PASSWORD}
    first, other = [SECRETS.session((await api.post("/auth/login", json=login)).json())
                    for _ in range(2)]  # fmt: skip
    rotated = await api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    newest = SECRETS.session(rotated.json())["refresh_token"]

    reused = await api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_problem(reused, 401, "refresh-token-reused")
    # the thief's copy and the owner's newest token are both dead now
    assert_problem(await api.post("/auth/refresh", json={"refresh_token": newest}), 401,
                   "invalid-refresh-token")  # fmt: skip
    assert_problem(await api.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}),
                   401, "invalid-refresh-token")  # fmt: skip
    # another login of the same user is another family: untouched
    still = await api.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert still.status_code == 200, still.text
    SECRETS.session(still.json())


async def test_tokens_are_not_interchangeable(api: httpx.AsyncClient, users: Users) -> None:
    user = await one_user(users, "jwt")
    await refused(api, user["refresh_token"])  # a refresh token is no bearer token
    swapped = await api.post("/auth/refresh", json={"refresh_token": user["access_token"]})
    assert_problem(swapped, 401, "invalid-refresh-token")
    for scheme in ("Basic", "Token", ""):
        response = await api.get(
            USER_ROUTE, headers={"Authorization": f"{scheme} {user['access_token']}".strip()}
        )
        assert_problem(response, 401, "invalid-token")
