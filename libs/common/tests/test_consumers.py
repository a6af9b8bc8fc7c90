"""Consumers against the real broker: inbox dedupe, poison and failing handlers to the DLQ."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from commontest_schema import TEST_TOPIC, ThingHappened, inbox, things
from scifikpi_common.events.base import Envelope
from scifikpi_common.messaging import Delivery, EventConsumers, make_broker
from scifikpi_tools.localinfra import ensure_topics
from sqlalchemy import func, insert, select, text

pytestmark = pytest.mark.kafka


def _envelope(seq: int, user: uuid.UUID | None = None) -> Envelope:
    return Envelope.wrap(ThingHappened(user_id=user or uuid.uuid4(), seq=seq), producer="test")


def _consumers(calls: list[int], *, fail: bool = False) -> EventConsumers:
    consumers = EventConsumers(
        "commontest",
        inbox,
        max_attempts=3,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
        infra_retry_s=0.1,
    )

    @consumers.handler(ThingHappened)
    async def on_thing_happened(event: ThingHappened, uow) -> None:
        calls.append(event.seq)
        if fail:
            raise ValueError("handler bug")
        await uow.session.execute(insert(things).values(id=event.seq, note="consumed"))

    return consumers


class TestInboxDedupe:
    async def test_same_event_delivered_ten_times_is_handled_once(self, uow_factory, engine):
        calls: list[int] = []
        consumers = _consumers(calls)
        env = _envelope(7)
        delivery = Delivery(topic=TEST_TOPIC, body=env.to_bytes())
        outcomes = [await consumers.process(delivery, uow_factory, None) for _ in range(10)]
        assert outcomes.count(["handled"]) == 1 and outcomes.count(["duplicate"]) == 9
        assert calls == [7]
        async with engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(things))).scalar() == 1
            row = (await conn.execute(select(inbox))).one()
        assert row.event_id == env.event_id and row.consumer == "commontest.on_thing_happened"

    async def test_concurrent_duplicates_apply_once(self, uow_factory, engine):
        calls: list[int] = []
        consumers = _consumers(calls)
        delivery = Delivery(topic=TEST_TOPIC, body=_envelope(9).to_bytes())
        results = await asyncio.gather(
            *(consumers.process(delivery, uow_factory, None) for _ in range(8))
        )
        assert sum(r == ["handled"] for r in results) == 1
        async with engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(things))).scalar() == 1

    async def test_failed_handler_rolls_back_its_inbox_claim(self, uow_factory, engine):
        calls: list[int] = []
        consumers = _consumers(calls, fail=True)
        delivery = Delivery(topic=TEST_TOPIC, body=_envelope(3).to_bytes())
        with pytest.raises(Exception, match="handler-failed"):
            await consumers.process(delivery, uow_factory, None)  # no broker: cannot dead-letter
        assert calls == [3, 3, 3]  # bounded retries
        async with engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(inbox))).scalar() == 0

    async def test_other_event_types_on_the_topic_are_ignored(self, uow_factory):
        consumers = _consumers([])
        other = Envelope(
            event_id=uuid.uuid4(),
            event_type="SomethingElse",
            schema_version=1,
            occurred_at="2026-01-01T00:00:00Z",
            producer="x",
            key="k",
            payload={},
        )
        assert await consumers.process(
            Delivery(topic=TEST_TOPIC, body=other.to_bytes()), uow_factory, None
        ) == ["ignored"]


class TestAgainstBroker:
    async def test_worker_consumes_dedupes_and_dead_letters(
        self, uow_factory, engine, kafka_bootstrap_servers
    ):
        topic = f"{TEST_TOPIC}.{uuid.uuid4().hex[:8]}"
        await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"])
        calls: list[int] = []
        consumers = _consumers(calls)
        consumers._routes = {topic: consumers._routes[TEST_TOPIC]}
        consumers.service = f"commontest-{uuid.uuid4().hex[:6]}"  # fresh consumer group

        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
        await producer.start()
        user = uuid.uuid4()
        good = _envelope(1, user)
        await producer.send_and_wait(topic, good.to_bytes(), key=str(user).encode())
        await producer.send_and_wait(topic, good.to_bytes(), key=str(user).encode())  # redelivery
        await producer.send_and_wait(topic, b"{not json", key=str(user).encode())  # poison
        bad_payload = orjson.dumps(
            {**good.model_dump(mode="json"), "event_id": str(uuid.uuid4()), "payload": {"seq": "x"}}
        )
        await producer.send_and_wait(topic, bad_payload, key=str(user).encode())
        await producer.send_and_wait(topic, _envelope(2, user).to_bytes(), key=str(user).encode())
        await producer.stop()

        broker = make_broker(kafka_bootstrap_servers, client_id="test-worker")
        consumers.attach(broker, uow_factory)
        await broker.start()
        try:
            for _ in range(100):
                if calls == [1, 2]:
                    break
                await asyncio.sleep(0.1)
        finally:
            await broker.stop()
        assert calls == [1, 2]

        dlq = AIOKafkaConsumer(
            f"{topic}.dlq",
            bootstrap_servers=kafka_bootstrap_servers,
            group_id=uuid.uuid4().hex,
            auto_offset_reset="earliest",
        )
        await dlq.start()
        dead = []
        try:
            for _ in range(20):
                for recs in (await dlq.getmany(timeout_ms=500)).values():
                    dead.extend(recs)
                if len(dead) >= 2:
                    break
        finally:
            await dlq.stop()
        reasons = sorted(dict(r.headers)["dlq-reason"].decode() for r in dead)
        assert reasons == ["invalid-payload", "malformed-envelope"]
        assert dead[0].key == str(user).encode()


def _batch_consumers(batches: list[list[int]], *, poison: int | None = None) -> EventConsumers:
    consumers = EventConsumers(
        "commontest",
        inbox,
        max_attempts=2,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
        infra_retry_s=0.1,
    )

    @consumers.batch_handler(ThingHappened)
    async def on_things(items, uow) -> None:
        batches.append([event.seq for event, _ in items])
        if poison is not None and any(event.seq == poison for event, _ in items):
            raise ValueError("poison thing")
        await uow.session.execute(
            insert(things), [{"id": event.seq, "note": "batched"} for event, _ in items]
        )

    return consumers


async def _xmins(engine, table) -> set[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT xmin::text FROM commontest.{table}"))
        return {r[0] for r in rows}


class TestBatchHandler:
    async def test_a_batch_is_applied_once_in_one_transaction(self, uow_factory, engine):
        batches: list[list[int]] = []
        consumers = _batch_consumers(batches)
        envs = [_envelope(seq) for seq in range(1, 51)]
        deliveries = [Delivery(topic=TEST_TOPIC, body=e.to_bytes()) for e in envs]
        outcomes = await consumers.process_batch(deliveries, uow_factory, None)
        assert outcomes == [["handled"]] * 50
        assert batches == [list(range(1, 51))]  # one handler call
        # one commit: every row and every inbox claim was written by the same transaction
        xmins = await _xmins(engine, "things") | await _xmins(engine, "inbox")
        assert len(xmins) == 1
        # the whole batch redelivered: all duplicates, the handler is not called again
        again = await consumers.process_batch(deliveries, uow_factory, None)
        assert again == [["duplicate"]] * 50
        assert len(batches) == 1

    async def test_duplicates_inside_and_across_batches_are_skipped(self, uow_factory, engine):
        batches: list[list[int]] = []
        consumers = _batch_consumers(batches)
        old = _envelope(1)
        await consumers.process_batch(
            [Delivery(topic=TEST_TOPIC, body=old.to_bytes())], uow_factory, None
        )
        new = _envelope(2)
        mixed = [old, new, new, _envelope(3), old]
        outcomes = await consumers.process_batch(
            [Delivery(topic=TEST_TOPIC, body=e.to_bytes()) for e in mixed], uow_factory, None
        )
        assert outcomes == [["duplicate"], ["handled"], ["duplicate"], ["handled"], ["duplicate"]]
        assert batches == [[1], [2, 3]]
        async with engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(inbox))).scalar() == 3
            assert (await conn.execute(select(func.count()).select_from(things))).scalar() == 3

    async def test_single_delivery_goes_through_the_batch_handler(self, uow_factory):
        batches: list[list[int]] = []
        consumers = _batch_consumers(batches)
        delivery = Delivery(topic=TEST_TOPIC, body=_envelope(5).to_bytes())
        assert await consumers.process(delivery, uow_factory, None) == ["handled"]
        assert await consumers.process(delivery, uow_factory, None) == ["duplicate"]
        assert batches == [[5]]

    async def test_failing_batch_falls_back_to_one_message_at_a_time(self, uow_factory, engine):
        batches: list[list[int]] = []
        consumers = _batch_consumers(batches, poison=2)
        deliveries = [
            Delivery(topic=TEST_TOPIC, body=_envelope(seq).to_bytes()) for seq in (1, 2, 3)
        ]
        # no broker to dead-letter to: the poison message surfaces after its retries
        with pytest.raises(Exception, match="handler-failed"):
            await consumers.process_batch(deliveries, uow_factory, None)
        assert batches == [[1, 2, 3], [1], [2], [2]]  # the batch, then one by one (2 retried)
        async with engine.connect() as conn:
            ids = (await conn.execute(select(things.c.id))).scalars().all()
        assert ids == [1]  # message 1 applied on its own; 3 is re-read with the rewound batch


class TestBatchAgainstBroker:
    async def test_batch_worker_applies_dedupes_and_dead_letters_the_poison(
        self, uow_factory, engine, kafka_bootstrap_servers
    ):
        topic = f"{TEST_TOPIC}.{uuid.uuid4().hex[:8]}"
        await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"])
        batches: list[list[int]] = []
        consumers = _batch_consumers(batches, poison=13)
        consumers._routes = {topic: consumers._routes[TEST_TOPIC]}
        consumers.service = f"commontest-{uuid.uuid4().hex[:6]}"  # fresh consumer group

        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
        await producer.start()
        user = uuid.uuid4()
        key = str(user).encode()
        envs = [_envelope(seq, user) for seq in range(1, 21)]
        for env in envs:
            await producer.send_and_wait(topic, env.to_bytes(), key=key)
        await producer.send_and_wait(topic, envs[4].to_bytes(), key=key)  # redelivery
        await producer.send_and_wait(topic, b"{not json", key=key)  # malformed
        await producer.stop()

        broker = make_broker(kafka_bootstrap_servers, client_id="test-batch-worker")
        consumers.attach(broker, uow_factory)
        await broker.start()
        expected = [seq for seq in range(1, 21) if seq != 13]
        try:
            for _ in range(150):
                async with engine.connect() as conn:
                    ids = (await conn.execute(select(things.c.id).order_by(things.c.id))).scalars()
                    ids = list(ids)
                if ids == expected:
                    break
                await asyncio.sleep(0.1)
        finally:
            await broker.stop()
        assert ids == expected  # every good event applied exactly once (primary key)
        assert any(len(b) > 1 for b in batches)  # consumed as batches, not one by one

        dlq = AIOKafkaConsumer(
            f"{topic}.dlq",
            bootstrap_servers=kafka_bootstrap_servers,
            group_id=uuid.uuid4().hex,
            auto_offset_reset="earliest",
        )
        await dlq.start()
        dead = []
        try:
            for _ in range(20):
                for recs in (await dlq.getmany(timeout_ms=500)).values():
                    dead.extend(recs)
                if len(dead) >= 2:
                    break
        finally:
            await dlq.stop()
        reasons = sorted(dict(r.headers)["dlq-reason"].decode() for r in dead)
        assert reasons == ["handler-failed", "malformed-envelope"]
        poisoned = [r for r in dead if dict(r.headers)["dlq-reason"] == b"handler-failed"]
        assert orjson.loads(poisoned[0].value)["payload"]["seq"] == 13
        async with engine.connect() as conn:
            claimed = (await conn.execute(select(func.count()).select_from(inbox))).scalar()
        assert claimed == 19  # the poison's claim was rolled back with its transaction
