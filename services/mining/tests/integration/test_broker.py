"""Through a real Kafka-protocol broker: a PaymentSucceeded (acceleration) envelope in →
mining-worker → outbox → mining-relay → `mining.session.v1` out, redelivery changing nothing."""

from __future__ import annotations

import uuid

import pytest
from _mining_helpers import DURATION_S, paid, session_row
from mining.consumers import consumers
from mining.models import make_outbox
from scifikpi_common.events import Envelope
from scifikpi_common.testing.broker import TopicReader, of_type, processes_running, publish


@pytest.mark.kafka
async def test_paid_acceleration_through_the_broker(
    kafka_bootstrap_servers: str, settings, client, keys, engine
) -> None:
    settings = settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap_servers})
    user = uuid.uuid4()
    session = (await client.post("/mining/start", headers=keys.headers(user))).json()
    quote = (
        await client.post(
            "/mining/acceleration/quote",
            json={"seconds": DURATION_S},
            headers=keys.headers(user),
        )
    ).json()
    payment = paid(user, uuid.UUID(quote["quote_id"]), quote["price_minor"])
    async with (
        processes_running(settings, make_outbox, consumers) as processes,
        TopicReader(kafka_bootstrap_servers, "mining.session.v1") as reader,
    ):
        envelope = Envelope.wrap(payment, producer="payments")
        await publish(kafka_bootstrap_servers, payment.TOPIC, envelope, times=2)  # redelivered
        await reader.read(user, of_type("MiningCompleted"), alive=processes)
        seen = await reader.settle(user)  # room for a wrongly applied duplicate to show up
    types = [e["event_type"] for e in seen]
    assert types == ["MiningStarted", "MiningAccelerated", "MiningCompleted"], types
    assert seen[-1]["payload"]["points_micro"] == session["target_micro"]
    assert (await session_row(engine, session["id"])).status == "completed"
