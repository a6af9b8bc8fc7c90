"""PaymentSucceeded reaches `payments.payment.v1` on a real broker through the relay."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from _pay_helpers import payment_body, signed_request, stripe_event
from aiokafka import AIOKafkaConsumer
from payments.flows import PaymentFlows
from payments.models import make_outbox
from scifikpi_common import runner
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
    stop = asyncio.Event()
    relay = asyncio.create_task(runner.relay_until_stopped(settings, make_outbox(), stop))
    consumer = AIOKafkaConsumer(
        "payments.payment.v1",
        bootstrap_servers=kafka_bootstrap_servers,
        group_id=f"payments-test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        mine = []
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline and not mine:
            assert not relay.done(), relay.exception()
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                mine += [m for m in messages if m.key == str(user.id).encode()]
        # ... one event out; give a duplicate a moment to show up if there were one
        for messages in (await consumer.getmany(timeout_ms=1000)).values():
            mine += [m for m in messages if m.key == str(user.id).encode()]
    finally:
        await consumer.stop()
        stop.set()
        await asyncio.wait_for(relay, 30)
    assert len(mine) == 1, mine
    envelope = json.loads(mine[0].value)
    assert envelope["event_type"] == "PaymentSucceeded" and envelope["producer"] == "payments"
    assert envelope["payload"]["payment_id"] == payment["id"]
    assert dict(mine[0].headers)["event_type"] == b"PaymentSucceeded"
