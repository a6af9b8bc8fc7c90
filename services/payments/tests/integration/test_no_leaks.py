"""No secrets, card data or raw webhook bodies in logs; failures never answer with a traceback."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from _pay_helpers import WEBHOOK_SECRET, payment_body, signed_request, stripe_event
from scifikpi_tools.standins.pay import pay_stripe


async def test_logs_hold_no_secrets_or_bodies(
    client, user, localstripe, flows, capsys: pytest.CaptureFixture[str], caplog, settings
) -> None:
    payment = (await client.post("/payments", json=payment_body(), headers=user.headers())).json()
    await asyncio.to_thread(pay_stripe, localstripe.url, payment["provider_payment_id"])
    async with httpx.AsyncClient(base_url=localstripe.url) as ls:
        intent = (
            await ls.get(
                f"/v1/payment_intents/{payment['provider_payment_id']}",
                headers={"Authorization": "Bearer sk_test_local"},
            )
        ).json()
    marker = "4242424242424242-marker-in-the-body"
    intent["metadata"]["note"] = marker
    body, headers = signed_request(stripe_event(intent))
    assert (
        await client.post("/payments/webhooks/stripe", content=body, headers=headers)
    ).status_code == 200
    await flows.events.process_due()
    logged = capsys.readouterr().out + caplog.text
    assert "payment_status_changed" in logged and "webhook_received" in logged  # we did capture
    for secret in (
        payment["client_secret"],
        intent["client_secret"],
        WEBHOOK_SECRET,
        headers["Stripe-Signature"].split("v1=")[1],
        marker,
        settings.yookassa_secret_key.get_secret_value(),
        user.token,
    ):
        assert secret not in logged, secret


@pytest.mark.parametrize(
    "settings_overrides", [{"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/none"}]
)
async def test_database_down_is_a_retryable_problem(app: Any, user) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as c:
        for response in (
            await c.post("/payments", json=payment_body(), headers=user.headers()),
            await c.get("/payments", headers=user.auth),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["type"] == "urn:scifikpi:problem:upstream-unavailable"
            assert "Traceback" not in response.text and "asyncpg" not in response.text
