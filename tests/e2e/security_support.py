"""Shared pieces of the security suite (tests/e2e/test_security_*.py, test_zz_security_logs.py).

conftest.py loads this module by path (as it loads e2e_support) and re-exports its session
fixtures (built once however many files use them) and its hook, which runs the log scan after
every other test.

- `SECRETS`: every secret a security test sent or received (tokens, passwords, a card number);
  the log scan looks for each of them verbatim.
- JWT crafting (`forge`, `claims_of`) and `StackSigner`, which signs with the stack's own key.
- `users`: active users made on demand and remembered for the session.

PYTEST_DONT_REWRITE: it is imported before pytest registers it, so it could not be rewritten.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from e2e_support import PASSWORD, active_user, bearer

LOG_SCAN_FILE = "test_zz_security_logs.py"
#: a Luhn-valid Visa test number the suite sends in bodies where no card number belongs
CARD_NUMBER = "4242424242424242"


@dataclass
class SecretRecord:
    """Values that must never appear in a log line, by what they are (for the failure message)."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, label: str, *values: str | None) -> None:
        for value in values:
            if value and len(value) >= 8:
                self.values.setdefault(value, label)

    def session(self, body: dict[str, Any]) -> dict[str, Any]:
        """Records the tokens of an auth response; returns it."""
        self.add("access token", body.get("access_token"))
        self.add("refresh token", body.get("refresh_token"))
        return body


SECRETS = SecretRecord()
SECRETS.add("test password", PASSWORD)
SECRETS.add("card number", CARD_NUMBER)


# --------------------------------------------------------------------------- JWT crafting


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a JWT, unverified."""
    header, payload, _ = token.split(".")
    return json.loads(unb64url(header)), json.loads(unb64url(payload))


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWT with exactly this header, claims and signature bytes (recorded)."""
    token = ".".join(
        (
            b64url(json.dumps(header).encode()),
            b64url(json.dumps(claims).encode()),
            b64url(signature),
        )
    )
    SECRETS.add("forged token", token)
    return token


def signing_input(token: str) -> bytes:
    return token.rsplit(".", 1)[0].encode()


@dataclass(frozen=True)
class StackSigner:
    """Signs tokens with the key the stack's auth service signs with, so each test changes one
    claim of an otherwise valid token."""

    key: Ed25519PrivateKey
    kid: str
    issuer: str
    audience: str
    jwks: dict[str, Any]

    def claims(self, user_id: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": self.issuer, "aud": self.audience, "sub": user_id, "role": "user",
            "status": "active", "iat": now, "exp": now + 600, "jti": str(uuid.uuid4()),
        }  # fmt: skip
        return {k: v for k, v in (base | overrides).items() if v is not None}

    def sign(self, claims: dict[str, Any], *, kid: str | None = None, key: Any = None) -> str:
        header = {"alg": "EdDSA", "typ": "JWT", "kid": kid or self.kid}
        unsigned = forge(header, claims)
        signature = (key or self.key).sign(signing_input(unsigned))
        return forge(header, claims, signature)


def ed25519_kid(key: Ed25519PrivateKey) -> str:
    """RFC 7638 thumbprint of the public key, as auth names its keys."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}, separators=(",", ":")
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


def _stack_private_key() -> Ed25519PrivateKey:
    """`E2E_JWT_PRIVATE_KEY` (an external stack's key), else the committed development key that
    every stack started by the tests signs with."""
    pem = os.environ.get("E2E_JWT_PRIVATE_KEY")
    if not pem:
        from auth.settings import DEV_JWT_PRIVATE_KEY

        pem = DEV_JWT_PRIVATE_KEY
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


# --------------------------------------------------------------------------- users


@dataclass
class Users:
    """Active users for the session, made on demand (concurrently) and handed out by name."""

    api: httpx.AsyncClient
    localstripe_url: str
    made: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, *names: str) -> list[dict[str, Any]]:
        async with self._lock:
            missing = [n for n in names if n not in self.made]
            sessions = await asyncio.gather(
                *(active_user(self.api, self.localstripe_url) for _ in missing)
            )
            for name, session in zip(missing, sessions, strict=True):
                self.made[name] = SECRETS.session(session)
        return [self.made[n] for n in names]


@pytest.fixture(scope="session")
async def security_api(e2e: Any) -> Any:
    """A session-long client of /api/v1 (the per-test `api` client would close under the users
    this fixture keeps)."""
    from e2e_support import API

    async with httpx.AsyncClient(base_url=e2e.gateway_url + API, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
async def users(security_api: httpx.AsyncClient, e2e: Any) -> Users:
    assert e2e.localstripe_url, "this stack has no localstripe"
    return Users(security_api, e2e.localstripe_url)


@pytest.fixture(scope="session")
async def signer(security_api: httpx.AsyncClient, users: Users) -> StackSigner:
    """The stack's signing key, checked against its JWKS: a stack with another key (external,
    without E2E_JWT_PRIVATE_KEY) skips the tests that need it, saying so."""
    jwks = (await security_api.get("/.well-known/jwks.json")).json()
    key = _stack_private_key()
    kid = ed25519_kid(key)
    if kid not in {k.get("kid") for k in jwks["keys"]}:
        pytest.skip("the stack does not sign with the development key; set E2E_JWT_PRIVATE_KEY")
    [user] = await users.get("signer")
    _, claims = claims_of(user["access_token"])
    return StackSigner(key, kid, claims["iss"], claims["aud"], jwks)


async def challenge(api: httpx.AsyncClient, token: str) -> str:
    """A fresh ton_proof payload for this account."""
    r = await api.post("/nft/wallets/challenge", headers=bearer(token))
    assert r.status_code == 201, r.text
    payload: str = r.json()["payload"]
    return payload


async def bind_wallet(api: httpx.AsyncClient, token: str, wallet: Any = None) -> Any:
    """Binds `wallet` (a new one by default) with a genuine ton_proof; returns it."""
    from scifikpi_tools.standins.tonwallet import Wallet

    wallet = wallet or Wallet.generate()
    proof = wallet.proof(await challenge(api, token))
    verified = await api.post("/nft/wallets/verify", json=proof, headers=bearer(token))
    assert verified.status_code == 200, verified.text
    assert verified.json()["address"] == wallet.raw
    return wallet


# --------------------------------------------------------------------------- ordering


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log scan reads what every other test made the stack write: run its file last,
    whatever order the files were named in."""
    last = [i for i in items if Path(str(i.path)).name == LOG_SCAN_FILE]
    if last:
        items[:] = [i for i in items if i not in last] + last
