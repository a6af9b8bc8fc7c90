"""Through a real Kafka-protocol broker: a PaymentSucceeded (acceleration) envelope in →
mining-worker → outbox → mining-relay → `mining.session.v1` out, redelivery changing nothing."""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson
import pytest
from _mining_helpers import DURATION_S, paid, session_row
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from mining.consumers import consumers
from mining.models import make_outbox
from scifikpi_common import runner
from scifikpi_common.events import Envelope


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
    stop = asyncio.Event()
    worker = asyncio.create_task(
        runner.consume_until_stopped(settings, consumers, make_outbox(), stop)
    )
    relay = asyncio.create_task(runner.relay_until_stopped(settings, make_outbox(), stop))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    reader = AIOKafkaConsumer(
        "mining.session.v1",
        bootstrap_servers=kafka_bootstrap_servers,
        group_id=f"mining-test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await producer.start()
    await reader.start()
    try:
        payment = paid(user, uuid.UUID(quote["quote_id"]), quote["price_minor"])
        envelope = Envelope.wrap(payment, producer="payments")
        for _ in range(2):  # delivered twice
            await producer.send_and_wait(
                payment.TOPIC, envelope.to_bytes(), key=envelope.key.encode()
            )
        seen: list[dict] = []
        deadline = time.monotonic() + 90
        while not any(e["event_type"] == "MiningCompleted" for e in seen):
            assert time.monotonic() < deadline, seen
            assert not worker.done(), worker.exception()
            batch = await reader.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    body = orjson.loads(record.value)
                    if body["key"] == str(user):
                        seen.append(body)
        await asyncio.sleep(1.0)  # room for a wrongly applied duplicate to show up
        for records in (await reader.getmany(timeout_ms=500)).values():
            seen += [orjson.loads(r.value) for r in records if r.key == str(user).encode()]
        types = [e["event_type"] for e in seen]
        assert types == ["MiningStarted", "MiningAccelerated", "MiningCompleted"], types
        assert seen[-1]["payload"]["points_micro"] == session["target_micro"]
        assert (await session_row(engine, session["id"])).status == "completed"
    finally:
        await reader.stop()
        await producer.stop()
        stop.set()
        await asyncio.wait_for(asyncio.gather(worker, relay, return_exceptions=True), 30)
