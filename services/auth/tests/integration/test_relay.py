"""UserRegistered reaches `auth.user.v1` through the relay; a plain aiokafka consumer reads it."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import httpx
import pytest
from _auth_helpers import individual
from auth.models import make_outbox
from auth.settings import AuthSettings
from scifikpi_common.testing.broker import ENVELOPE_FIELDS, TopicReader, processes_running
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.kafka


async def test_user_registered_is_published_with_the_full_envelope(
    kafka_bootstrap_servers: str,
    settings: AuthSettings,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
) -> None:
    response = await client.post(
        "/auth/register",
        json=individual(country="FR", initial_deposit={"amount_minor": 2500, "currency": "EUR"}),
        headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    )
    assert response.status_code == 201, response.text
    user = response.json()["user"]

    with_broker = settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap_servers})
    async with (
        processes_running(with_broker, make_outbox) as processes,
        TopicReader(kafka_bootstrap_servers, "auth.user.v1") as reader,
    ):
        await reader.read(user["id"], lambda seen: bool(seen), alive=processes)
    record = reader.records[0]

    envelope = json.loads(record.value)
    assert set(envelope) == ENVELOPE_FIELDS
    event_id = uuid.UUID(envelope["event_id"])
    assert event_id.version == 7
    assert envelope["event_type"] == "UserRegistered"
    assert envelope["schema_version"] == 1
    assert datetime.fromisoformat(envelope["occurred_at"]).utcoffset() is not None
    assert envelope["producer"] == "auth"
    assert envelope["key"] == user["id"] == record.key.decode()
    assert envelope["payload"] == {
        "user_id": user["id"],
        "email": user["email"],
        "account_type": "individual",
        "country": "FR",
        "status": "pending_payment",
        "initial_deposit": {"amount_minor": 2500, "currency": "EUR"},
        "registered_at": envelope["payload"]["registered_at"],
    }
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["event_id"] == str(event_id)
    assert headers["event_type"] == "UserRegistered"
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (version, len(span_id), flags) == ("00", 16, "01")
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"  # the caller's trace continues

    async with engine.connect() as conn:
        published = (await conn.execute(text("SELECT published_at FROM auth.outbox"))).scalar_one()
    assert published is not None
