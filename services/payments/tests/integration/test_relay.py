"""PaymentSucceeded reaches `payments.payment.v1` on a real broker through the relay."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from _pay_helpers import payment_body, signed_request, stripe_event
from payments.flows import PaymentFlows
from payments.models import make_outbox
from scifikpi_common.testing.broker import TopicReader, processes_running
from scifikpi_tools.standins.pay import pay_stripe

pytestmark = pytest.mark.kafka


async def test_payment_succeeded_is_published(
    kafka_bootstrap_servers: str, settings, client, user, localstripe, flows: PaymentFlows
) -> None:
    payment = (
        await client.post("/payments", json=payment_body(purpose="topup"), headers=user.headers())
    ).json()
    await asyncio.to_thread(pay_stripe, localstripe.url, payment["provider_payment_id"])
    async with httpx.AsyncClient(base_url=localstripe.url) as ls:
        intent = (
            await ls.get(
                f"/v1/payment_intents/{payment['provider_payment_id']}",
                headers={"Authorization": "Bearer sk_test_local"},
            )
        ).json()
    body, headers = signed_request(stripe_event(intent))
    for _ in range(3):  # duplicates on the way in ...
        await client.post("/payments/webhooks/stripe", content=body, headers=headers)
    await flows.events.process_due()

    settings = settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap_servers})
    async with (
        processes_running(settings, make_outbox) as processes,
        TopicReader(kafka_bootstrap_servers, "payments.payment.v1") as reader,
    ):
        await reader.read(user.id, lambda seen: bool(seen), alive=processes, timeout_s=60)
        await reader.settle(user.id)  # ... one event out, and room for a duplicate to show up
    mine = reader.records
    assert len(mine) == 1, mine
    envelope = json.loads(mine[0].value)
    assert envelope["event_type"] == "PaymentSucceeded" and envelope["producer"] == "payments"
    assert envelope["payload"]["payment_id"] == payment["id"]
    assert dict(mine[0].headers)["event_type"] == b"PaymentSucceeded"
