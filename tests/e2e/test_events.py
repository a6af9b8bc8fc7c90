"""Events on the broker, read and written with plain aiokafka clients (the contract: docs/asyncapi.yaml)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from e2e_support import individual, new_email, read_until
from scifikpi_common.ids import new_id
from scifikpi_common.testing.broker import ENVELOPE_FIELDS

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.timeout(240)]

USER_TOPIC = "auth.user.v1"
PAYMENT_TOPIC = "payments.payment.v1"


@pytest.fixture
async def user_events(kafka: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A group-less consumer of auth.user.v1 reading every partition from the beginning."""
    consumer = AIOKafkaConsumer(
        USER_TOPIC,
        bootstrap_servers=kafka,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


def envelope_of(record: Any) -> dict[str, Any]:
    return json.loads(record.value)


def about(user_id: str, event_type: str) -> Any:
    def match(record: Any) -> bool:
        if record.key != user_id.encode():
            return False
        return envelope_of(record).get("event_type") == event_type

    return match


async def register(api: httpx.AsyncClient, email: str) -> dict[str, Any]:
    response = await api.post(
        "/auth/register", json=individual(email, amount_minor=1000, currency="USD")
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_user_registered_is_published_with_the_envelope(
    api: httpx.AsyncClient, user_events: AIOKafkaConsumer
) -> None:
    email = new_email("event")
    body = await register(api, email)
    user_id = body["user"]["id"]

    record = await read_until(user_events, about(user_id, "UserRegistered"), timeout_s=45)
    envelope = envelope_of(record)
    assert set(envelope) >= ENVELOPE_FIELDS
    assert uuid.UUID(envelope["event_id"]).version == 7
    assert envelope["event_type"] == "UserRegistered"
    assert envelope["schema_version"] == 1
    assert envelope["producer"] == "auth"
    assert envelope["key"] == user_id == record.key.decode()
    occurred = datetime.fromisoformat(envelope["occurred_at"])
    assert occurred.tzinfo is not None and abs((datetime.now(UTC) - occurred).total_seconds()) < 300
    payload = envelope["payload"]
    assert payload["user_id"] == user_id
    assert payload["email"] == email
    assert payload["account_type"] == "individual"
    assert payload["country"] == "US"
    assert payload["status"] == "pending_payment"
    assert payload["initial_deposit"] == {"amount_minor": 1000, "currency": "USD"}
    datetime.fromisoformat(payload["registered_at"])
    headers = {k: v.decode() for k, v in (record.headers or ())}
    assert headers.get("event_id") == envelope["event_id"]
    assert headers.get("event_type") == "UserRegistered"


async def test_registration_payment_activates_the_account(
    api: httpx.AsyncClient, kafka: str, user_events: AIOKafkaConsumer
) -> None:
    email = new_email("pay")
    body = await register(api, email)
    user_id, token = body["user"]["id"], body["access_token"]
    payment_id = str(uuid.uuid4())
    event_id = str(new_id())  # UUIDv7, like every producer's
    envelope = {
        "event_id": event_id,
        "event_type": "PaymentSucceeded",
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "producer": "payments",
        "key": user_id,
        "payload": {
            "user_id": user_id,
            "payment_id": payment_id,
            "purpose": "registration",
            "provider": "stripe",
            "amount_minor": 1000,
            "currency": "USD",
            "quote_id": None,
            "succeeded_at": datetime.now(UTC).isoformat(),
        },
    }
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            PAYMENT_TOPIC,
            json.dumps(envelope).encode(),
            key=user_id.encode(),
            headers=[
                ("event_id", event_id.encode()),
                ("event_type", b"PaymentSucceeded"),
                ("content-type", b"application/json"),
            ],
        )
    finally:
        await producer.stop()

    deadline = time.monotonic() + 90
    status = None
    while time.monotonic() < deadline:
        me = await api.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        status = me.json()["status"]
        if status == "active":
            break
        await asyncio.sleep(0.5)
    assert status == "active", f"account still {status!r} after the registration payment"
    assert me.json().get("activated_at")

    record = await read_until(user_events, about(user_id, "UserActivated"), timeout_s=45)
    activated = envelope_of(record)
    assert activated["producer"] == "auth" and activated["key"] == user_id
    assert activated["payload"]["user_id"] == user_id
    assert activated["payload"]["status"] == "active"
    assert activated["payload"]["payment_id"] == payment_id
