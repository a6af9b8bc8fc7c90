"""Through a real Kafka-protocol broker: events in → ledger-worker → outbox → ledger-relay →
`ledger.account.v1` out, with a redelivered message changing nothing."""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson
import pytest
from _ledger_helpers import mined, requested
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from ledger.consumers import consumers
from ledger.domain import AccountKind
from ledger.models import make_outbox
from ledger.repository import AccountRepository
from scifikpi_common import runner
from scifikpi_common.events import Envelope


@pytest.mark.kafka
async def test_worker_and_relay_through_the_broker(
    kafka_bootstrap_servers: str, settings, factory
) -> None:
    settings = settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap_servers})
    stop = asyncio.Event()
    worker = asyncio.create_task(
        runner.consume_until_stopped(settings, consumers, make_outbox(), stop)
    )
    relay = asyncio.create_task(runner.relay_until_stopped(settings, make_outbox(), stop))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    reader = AIOKafkaConsumer(
        "ledger.account.v1",
        bootstrap_servers=kafka_bootstrap_servers,
        group_id=f"ledger-test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await producer.start()
    await reader.start()
    try:
        user = uuid.uuid4()
        seen: list[str] = []
        deadline = time.monotonic() + 90

        async def send(envelope: Envelope, topic: str) -> None:
            await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.key.encode())

        async def wait_for(event_type: str) -> None:
            # topics are consumed independently, so the test orders the flow as the saga does
            while event_type not in seen:
                assert time.monotonic() < deadline, seen
                assert not worker.done(), worker.exception()
                batch = await reader.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        body = orjson.loads(record.value)
                        if body["key"] == str(user):
                            seen.append(body["event_type"])

        credit = mined(user, 3_000_000)
        envelope = Envelope.wrap(credit, producer="mining")
        await send(envelope, credit.TOPIC)
        await send(envelope, credit.TOPIC)  # redelivered
        await wait_for("PointsCredited")
        hold = requested(user, 2_000_000)
        await send(Envelope.wrap(hold, producer="nft"), hold.TOPIC)
        await wait_for("PointsReserved")
        async with factory() as uow:
            points = await AccountRepository(uow.session).balances(AccountKind.user_points, user)
        assert (points.available, points.pending_debits) == (1_000_000, 2_000_000)
        assert seen.count("PointsCredited") == 1
    finally:
        await reader.stop()
        await producer.stop()
        stop.set()
        await asyncio.wait_for(asyncio.gather(worker, relay, return_exceptions=True), 30)
