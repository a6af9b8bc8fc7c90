"""Outbox → relay → real broker → consumer with inbox: order, at-least-once, exactly-once effect."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from commontest_schema import TEST_TOPIC, ThingHappened, inbox, outbox, things
from scifikpi_common.messaging import Delivery, EventConsumers
from scifikpi_common.relay import OutboxRelay, make_producer
from scifikpi_tools.localinfra import ensure_topics
from sqlalchemy import func, insert, select

pytestmark = pytest.mark.kafka


async def _emit(uow_factory, user_id: uuid.UUID, seqs: range) -> None:
    for seq in seqs:
        async with uow_factory() as uow:
            await uow.session.execute(insert(things).values(id=seq, note=f"n{seq}"))
            await uow.publish(ThingHappened(user_id=user_id, seq=seq))
            await uow.commit()


async def _read(bootstrap: str, topic: str, expect: int, timeout_s: float = 20.0) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"t-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(records) < expect and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                records.extend(recs)
        # a little extra time to catch unexpected extras
        batch = await consumer.getmany(timeout_ms=300)
        for recs in batch.values():
            records.extend(recs)
    finally:
        await consumer.stop()
    return records


@pytest.fixture
async def topic(kafka_bootstrap_servers: str) -> str:
    name = f"{TEST_TOPIC}.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [name, f"{name}.dlq"])
    return name


class TestOutboxWrite:
    async def test_rolled_back_change_leaves_no_event(self, uow_factory, engine):
        async with uow_factory() as uow:
            await uow.session.execute(insert(things).values(id=1, note="x"))
            await uow.publish(ThingHappened(user_id=uuid.uuid4(), seq=1))
            # leaving without commit rolls back
        async with engine.connect() as conn:
            assert (
                await conn.execute(select(func.count()).select_from(outbox.table))
            ).scalar() == 0
            assert (await conn.execute(select(func.count()).select_from(things))).scalar() == 0

    async def test_committed_change_and_event_land_together(self, uow_factory, engine):
        user = uuid.uuid4()
        await _emit(uow_factory, user, range(1, 4))
        async with engine.connect() as conn:
            rows = (await conn.execute(select(outbox.table).order_by(outbox.table.c.id))).all()
        assert [r.payload["payload"]["seq"] for r in rows] == [1, 2, 3]
        envelope = rows[0].payload
        assert envelope["event_type"] == "ThingHappened"
        assert envelope["producer"] == "commontest"
        assert envelope["key"] == str(user)
        assert uuid.UUID(envelope["event_id"]).version == 7


class TestRelay:
    async def test_publishes_in_order_with_headers_and_marks_rows(
        self, uow_factory, engine, kafka_bootstrap_servers, topic, monkeypatch
    ):
        monkeypatch.setattr(ThingHappened, "TOPIC", topic)
        user = uuid.uuid4()
        await _emit(uow_factory, user, range(1, 21))
        producer = make_producer(kafka_bootstrap_servers, "test-relay")
        await producer.start()
        try:
            relay = OutboxRelay(engine, outbox, producer, batch_size=7)
            total = 0
            while True:
                sent, failed = await relay.relay_once()
                assert not failed
                if not sent:
                    break
                total += sent
        finally:
            await producer.stop()
        assert total == 20
        records = await _read(kafka_bootstrap_servers, topic, 20)
        assert [orjson.loads(r.value)["payload"]["seq"] for r in records] == list(range(1, 21))
        headers = dict(records[0].headers)
        assert headers["event_type"] == b"ThingHappened"
        assert uuid.UUID(headers["event_id"].decode()) == uuid.UUID(
            orjson.loads(records[0].value)["event_id"]
        )
        assert records[0].key == str(user).encode()
        async with engine.connect() as conn:
            unpublished = (
                await conn.execute(
                    select(func.count())
                    .select_from(outbox.table)
                    .where(outbox.table.c.published_at.is_(None))
                )
            ).scalar()
        assert unpublished == 0

    async def test_broker_down_keeps_rows_and_records_the_error(
        self, uow_factory, engine, topic, monkeypatch
    ):
        monkeypatch.setattr(ThingHappened, "TOPIC", topic)
        await _emit(uow_factory, uuid.uuid4(), range(1, 3))

        class DeadProducer:
            async def send(self, *args, **kwargs):
                raise ConnectionError("broker unreachable")

        relay = OutboxRelay(engine, outbox, DeadProducer())
        sent, failed = await relay.relay_once()
        assert (sent, failed) == (0, True)
        async with engine.connect() as conn:
            rows = (await conn.execute(select(outbox.table).order_by(outbox.table.c.id))).all()
        assert all(r.published_at is None for r in rows)
        assert rows[0].attempts == 1 and "broker unreachable" in rows[0].last_error

    async def test_crash_after_send_before_mark_republishes(
        self, uow_factory, engine, kafka_bootstrap_servers, topic, monkeypatch
    ):
        """The send reached Kafka but the 'published' mark never committed: the row is sent again."""
        monkeypatch.setattr(ThingHappened, "TOPIC", topic)
        await _emit(uow_factory, uuid.uuid4(), range(1, 4))
        producer = make_producer(kafka_bootstrap_servers, "test-relay")
        await producer.start()
        try:
            relay = OutboxRelay(engine, outbox, producer)
            original_gather = asyncio.gather

            async def gather_then_crash(*aws, **kw):
                await original_gather(*aws, **kw)
                raise RuntimeError("process died before marking rows")

            monkeypatch.setattr("scifikpi_common.relay.asyncio.gather", gather_then_crash)
            with pytest.raises(RuntimeError):
                await relay.relay_once()
            monkeypatch.setattr("scifikpi_common.relay.asyncio.gather", original_gather)
            assert await relay.relay_once() == (3, False)
        finally:
            await producer.stop()
        records = await _read(kafka_bootstrap_servers, topic, 6)
        seqs = [orjson.loads(r.value)["payload"]["seq"] for r in records]
        assert seqs == [1, 2, 3, 1, 2, 3]  # at-least-once: duplicates, never a gap

        # ...and a consumer applies each event_id once.
        handled: list[int] = []
        consumers = EventConsumers("commontest", inbox)

        @consumers.handler(ThingHappened)
        async def on_thing(event: ThingHappened, uow) -> None:
            handled.append(event.seq)

        outcomes = []
        for record in records:
            delivery = Delivery(topic=topic, body=record.value)
            outcomes += await consumers.process(delivery, uow_factory, None)
        assert handled == [1, 2, 3]
        assert outcomes == ["handled"] * 3 + ["duplicate"] * 3


RELAY_SCRIPT = """
import asyncio, sys
sys.path.insert(0, {tests_dir!r})
from commontest_schema import outbox
from scifikpi_common.relay import OutboxRelay, make_producer
from scifikpi_common.db import create_engine

async def main():
    engine = create_engine({url!r}, schema="commontest", application_name="relay-proc")
    producer = make_producer({bootstrap!r}, "relay-proc")
    await producer.start()
    print("started", flush=True)
    await OutboxRelay(engine, outbox, producer, poll_interval_s=0.2).run(asyncio.Event())

asyncio.run(main())
"""


class TestRelayProcessKilled:
    async def test_sigkill_mid_stream_loses_nothing(
        self, uow_factory, engine, kafka_bootstrap_servers, topic, common_db, monkeypatch
    ):
        """Kill -9 the relay process while events are being written; a new relay publishes the rest."""
        monkeypatch.setattr(ThingHappened, "TOPIC", topic)
        script = RELAY_SCRIPT.format(
            tests_dir=os.path.dirname(__file__), url=common_db, bootstrap=kafka_bootstrap_servers
        )
        env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__)}
        first = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
        try:
            assert first.stdout is not None
            await asyncio.to_thread(first.stdout.readline)
            await _emit(uow_factory, uuid.uuid4(), range(1, 51))
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            await _emit(uow_factory, uuid.uuid4(), range(51, 101))  # committed while no relay runs
            second = subprocess.Popen(
                [sys.executable, "-c", script],
                stdout=subprocess.DEVNULL,
                env=env,
            )
            try:
                records = await _read(kafka_bootstrap_servers, topic, 100, timeout_s=30)
            finally:
                second.terminate()
                second.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        seqs = {orjson.loads(r.value)["payload"]["seq"] for r in records}
        assert seqs == set(range(1, 101))
        async with engine.connect() as conn:
            left = (
                await conn.execute(
                    select(func.count())
                    .select_from(outbox.table)
                    .where(outbox.table.c.published_at.is_(None))
                )
            ).scalar()
        assert left == 0

    async def test_only_one_relay_is_active(self, engine, kafka_bootstrap_servers):
        producer = make_producer(kafka_bootstrap_servers, "test-relay")
        await producer.start()
        stop = asyncio.Event()
        a = OutboxRelay(engine, outbox, producer, poll_interval_s=0.1)
        b = OutboxRelay(engine, outbox, producer, poll_interval_s=0.1)
        try:
            async with engine.connect() as conn:
                # Each relay holds a session-level advisory lock while active.
                tasks = [asyncio.create_task(a.run(stop)), asyncio.create_task(b.run(stop))]
                await asyncio.sleep(1.0)
                held = (
                    await conn.exec_driver_sql(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                        f" AND objid = {a._lock_key}"
                        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    )
                ).scalar()
                assert held == 1
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            await producer.stop()
