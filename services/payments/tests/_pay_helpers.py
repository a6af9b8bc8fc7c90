"""Helpers shared by the payments tests (importable because conftest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import stripe
from payments.flows import PaymentFlows
from payments.models import SCHEMA, make_outbox
from payments.providers import build_providers, close_providers
from payments.settings import PaymentsSettings
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.testing.tokens import TokenSigner

WEBHOOK_SECRET = "whsec_payments_tests_current"
OLD_WEBHOOK_SECRET = "whsec_payments_tests_previous"


Keys = TokenSigner  # the signing key a test auth would have


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


@asynccontextmanager
async def flows_for(settings: PaymentsSettings) -> AsyncIterator[PaymentFlows]:
    """The flows a scheduler process runs, on a pool and providers of their own."""
    engine = create_engine(
        settings.database_url, schema=SCHEMA, application_name="payments.tests.flows", pool_size=10
    )
    providers = build_providers(settings)
    factory = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
    try:
        yield PaymentFlows(factory, providers, settings)
    finally:
        await close_providers(providers)
        await engine.dispose()
