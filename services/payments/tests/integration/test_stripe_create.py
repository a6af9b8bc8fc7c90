"""Creating a Stripe payment against REAL localstripe when Stripe cannot be reached: the row
stays `created`, the client gets 503 with the payment id, a retry with the same key re-sends the
same provider idempotency key and makes exactly one PaymentIntent; and what the SDK sends."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from _pay_helpers import payment_body
from payments.providers.stripe import StripeProvider
from payments.settings import PaymentsSettings
from scifikpi_common.testing.contracts import assert_problem
from scifikpi_tools.standins.localstripe import register_webhook
from sqlalchemy import text


@pytest.fixture(autouse=True)
def _no_webhook(localstripe: Any) -> None:
    """No localstripe webhook for these tests."""
    register_webhook(localstripe.url, "http://127.0.0.1:9/closed", "whsec_nobody")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unreachable_stripe(settings: PaymentsSettings, localstripe: Any) -> dict[str, Any]:
    """Providers whose Stripe points at a closed port until the test swaps the real one in."""
    from payments.providers import build_providers

    settings = settings.model_copy(update={"stripe_api_base": f"http://127.0.0.1:{_closed_port()}"})
    return build_providers(settings)


async def test_provider_unreachable_then_retry_creates_one_intent(
    settings: PaymentsSettings, keys, user, localstripe, unreachable_stripe, engine
) -> None:
    from payments.app import create_app

    app = create_app(settings, providers=unreachable_stripe, jwks_fetcher=keys.fetch)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as c:
            headers = user.headers()
            r = await c.post("/payments", json=payment_body(), headers=headers)
            problem = assert_problem(r, 503, "upstream-unavailable")
            assert r.headers["retry-after"] == "5"
            payment_id = problem["payment_id"]
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        text("SELECT * FROM payments.payments WHERE id = :i"), {"i": payment_id}
                    )
                ).one()
            assert (row.status, row.provider_payment_id) == ("created", None)
            assert "APIConnectionError" in row.last_error
            # still down: the same answer, still the same payment
            assert (
                await c.post("/payments", json=payment_body(), headers=headers)
            ).status_code == 503

            await unreachable_stripe["stripe"].aclose()
            unreachable_stripe["stripe"] = StripeProvider(
                api_key="sk_test_local",
                api_base=localstripe.url,
                currencies=frozenset({"USD"}),
                max_network_retries=0,
            )
            r = await c.post("/payments", json=payment_body(), headers=headers)
            assert r.status_code == 200, r.text
            assert r.json()["id"] == payment_id and r.json()["status"] == "pending"
            again = await c.post("/payments", json=payment_body(), headers=headers)
            assert again.json() == r.json()
    async with httpx.AsyncClient(base_url=localstripe.url, timeout=10) as ls:
        listed = (
            await ls.get(
                "/v1/payment_intents",
                params={"limit": 100},
                headers={"Authorization": "Bearer sk_test_local"},
            )
        ).json()["data"]
    mine = [pi for pi in listed if pi["metadata"].get("payment_id") == payment_id]
    assert len(mine) == 1
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM payments.payments"))).scalar_one()
        attempts = (
            await conn.execute(
                text("SELECT submit_attempts FROM payments.payments WHERE id = :i"),
                {"i": payment_id},
            )
        ).scalar_one()
    assert count == 1 and attempts == 3
    await unreachable_stripe["stripe"].aclose()
    await unreachable_stripe["yoomoney"].aclose()


async def test_sdk_is_given_our_idempotency_key(
    client, user, localstripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """localstripe ignores Idempotency-Key, so check what the SDK sends on the wire."""
    seen: list[tuple[str, str | None]] = []
    original = httpx.AsyncClient.send

    async def spy(self, request, **kwargs):
        if request.url.path == "/v1/payment_intents" and request.method == "POST":
            seen.append((request.url.path, request.headers.get("Idempotency-Key")))
        return await original(self, request, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", spy)
    r = await client.post("/payments", json=payment_body(), headers=user.headers())
    assert r.status_code == 201, r.text
    payment = r.json()
    assert seen == [("/v1/payment_intents", payment["id"])]
