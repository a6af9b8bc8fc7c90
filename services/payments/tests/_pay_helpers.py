"""Helpers shared by the payments tests (importable because conftest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import orjson
import stripe
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ISSUER = "scifikpi-auth"
AUDIENCE = "scifikpi"
WEBHOOK_SECRET = "whsec_payments_tests_current"
OLD_WEBHOOK_SECRET = "whsec_payments_tests_previous"


@dataclass
class Keys:
    """The signing key a test auth would have; the app fetches its JWKS in-process."""

    private: Ed25519PrivateKey
    kid: str

    def jwks(self) -> dict[str, Any]:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "alg": "EdDSA", "x": x}]}

    async def fetch(self) -> dict[str, Any]:
        return self.jwks()

    def token(
        self, user_id: uuid.UUID, *, role: str = "user", status: str = "active", ttl_s: int = 600
    ) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id), "role": role, "status": status, "iss": ISSUER, "aud": AUDIENCE,
            "iat": now, "exp": now + ttl_s, "jti": uuid.uuid4().hex,
        }  # fmt: skip
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})


@dataclass
class User:
    id: uuid.UUID
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def headers(self, key: str | None = None) -> dict[str, str]:
        headers = dict(self.auth)
        headers["Idempotency-Key"] = key or str(uuid.uuid4())
        return headers


def payment_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purpose": "topup",
        "amount_minor": 1500,
        "currency": "USD",
        "provider": "stripe",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["type"] == f"urn:scifikpi:problem:{slug}", body
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


def stripe_event(
    intent: dict[str, Any], event_type: str = "payment_intent.succeeded", **overrides: Any
) -> dict[str, Any]:
    """A Stripe event around a PaymentIntent, as Stripe (and localstripe) send it."""
    event = {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2017-08-15",
        "created": int(time.time()),
        "type": event_type,
        "livemode": False,
        "data": {"object": intent},
    }
    event.update(overrides)
    return event


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )


def signed_request(
    event: dict[str, Any], secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(event)
    return body, {
        "Stripe-Signature": sign(body, secret, timestamp),
        "Content-Type": "application/json",
    }


async def wait_until(
    check: Callable[[], Awaitable[Any]], *, timeout_s: float = 15.0, step_s: float = 0.05
) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout_s}s (last: {value!r})")
        await asyncio.sleep(step_s)
