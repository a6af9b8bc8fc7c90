"""A broker that comes back empty (Tansu is memory only): the relay notices and republishes the
retained outbox in order; consumers apply nothing twice; the admin command republishes a topic
from a given time. Each test runs its own Tansu, killed with SIGKILL and restarted on its port."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from commontest_schema import TEST_TOPIC, ThingHappened, inbox, outbox
from scifikpi_common.messaging import Delivery, EventConsumers
from scifikpi_common.relay import OutboxRelay, make_producer
from scifikpi_common.republish import add_outbox_commands, run_outbox_command
from scifikpi_tools.localinfra import BrokerHandle, ensure_topics, free_port, start_tansu
from sqlalchemy import func, select, update
from test_outbox_relay import _emit, _read

pytestmark = pytest.mark.kafka


class Broker:
    """Our own Tansu on a fixed port, so it can be killed and come back at the same address."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handle: BrokerHandle = start_tansu(port=self.port)

    @property
    def bootstrap(self) -> str:
        return self.handle.bootstrap

    def restart_empty(self) -> None:
        self.handle.process.kill()
        self.handle.process.wait(10)
        self.handle = start_tansu(port=self.port)

    def stop(self) -> None:
        self.handle.stop()


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    own = await asyncio.to_thread(Broker)
    yield own
    own.stop()


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"{TEST_TOPIC}.{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(ThingHappened, "TOPIC", name)
    return name


async def _pending(engine) -> int:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                select(func.count())
                .select_from(outbox.table)
                .where(outbox.table.c.published_at.is_(None))
            )
        ).scalar_one()


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _until(predicate, timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


def _seqs(records) -> list[int]:
    return [orjson.loads(r.value)["payload"]["seq"] for r in records]


class TestBrokerLoss:
    async def test_running_relay_republishes_in_order_after_the_broker_lost_everything(
        self, uow_factory, engine, broker, topic
    ):
        await ensure_topics(broker.bootstrap, [topic], partitions=3)
        producer = make_producer(broker.bootstrap, "test-relay")
        await producer.start()
        stop = asyncio.Event()
        relay = OutboxRelay(engine, outbox, producer, poll_interval_s=0.1, check_interval_s=0.5)
        task = asyncio.create_task(relay.run(stop))
        try:
            users = [uuid.uuid4() for _ in range(3)]
            for n, user in enumerate(users):
                await _emit(uow_factory, user, range(n * 100 + 1, n * 100 + 6))
            assert len(await _read(broker.bootstrap, topic, 15)) == 15

            await asyncio.to_thread(broker.restart_empty)
            await asyncio.sleep(2.0)  # several checks: the relay must wait, not auto-create it
            assert topic not in await _topics(broker.bootstrap)
            await ensure_topics(broker.bootstrap, [topic], partitions=3)
            await _emit(uow_factory, users[0], range(6, 8))  # new events after the loss

            async def drained() -> bool:
                return await _pending(engine) == 0

            await _until(drained)
            records = await _read(broker.bootstrap, topic, 17)
        finally:
            stop.set()
            await task
            await producer.stop()
        assert sorted(_seqs(records)) == sorted([*range(1, 8), *range(101, 106), *range(201, 206)])
        by_key: dict[bytes, list[int]] = {}
        for r in records:
            by_key.setdefault(r.key, []).append(_seqs([r])[0])
        # Per user the republished events come back in their original order, then the new ones.
        assert by_key[str(users[0]).encode()] == [1, 2, 3, 4, 5, 6, 7]
        assert by_key[str(users[1]).encode()] == [101, 102, 103, 104, 105]

    async def test_fresh_relay_compares_the_broker_with_the_retained_rows(
        self, uow_factory, engine, broker, topic
    ):
        """Relay and broker both restarted: only the outbox remembers what was published."""
        await ensure_topics(broker.bootstrap, [topic])
        await _emit(uow_factory, uuid.uuid4(), range(1, 11))
        producer = make_producer(broker.bootstrap, "test-relay")
        await producer.start()
        try:
            assert await OutboxRelay(engine, outbox, producer).relay_once() == (10, False)
            fresh = OutboxRelay(engine, outbox, producer)
            assert await fresh.check_broker(baseline=True) == set()  # all there: nothing to do
            await fresh.watch.close()

            await asyncio.to_thread(broker.restart_empty)
            await ensure_topics(broker.bootstrap, [topic])
            fresh = OutboxRelay(engine, outbox, producer)
            assert await fresh.check_broker(baseline=True) == {topic}
            await fresh.watch.close()
            assert await _pending(engine) == 10
            assert await fresh.relay_once() == (10, False)
        finally:
            await producer.stop()
        assert _seqs(await _read(broker.bootstrap, topic, 10)) == list(range(1, 11))

    async def test_inbox_applies_a_republished_event_once(self, uow_factory, engine, broker, topic):
        await ensure_topics(broker.bootstrap, [topic])
        await _emit(uow_factory, uuid.uuid4(), range(1, 4))
        producer = make_producer(broker.bootstrap, "test-relay")
        await producer.start()
        handled: list[int] = []
        consumers = EventConsumers("commontest", inbox)

        @consumers.handler(ThingHappened)
        async def on_thing(event: ThingHappened, uow) -> None:
            handled.append(event.seq)

        try:
            relay = OutboxRelay(engine, outbox, producer)
            assert await relay.relay_once() == (3, False)
            first = await _read(broker.bootstrap, topic, 3)
            for record in first:
                await consumers.process(Delivery(topic=topic, body=record.value), uow_factory, None)
            await asyncio.to_thread(broker.restart_empty)
            await ensure_topics(broker.bootstrap, [topic])
            assert await relay.check_broker() == {topic}  # the acknowledged offsets are gone
            assert await relay.relay_once() == (3, False)
            await relay.watch.close()
        finally:
            await producer.stop()
        again = await _read(broker.bootstrap, topic, 3)
        outcomes = []
        for record in again:
            outcomes += await consumers.process(
                Delivery(topic=topic, body=record.value), uow_factory, None
            )
        assert _seqs(again) == [1, 2, 3]
        assert handled == [1, 2, 3]
        assert outcomes == ["duplicate"] * 3


class TestRepublishCommand:
    def _args(self, *argv: str) -> argparse.Namespace:
        parser = argparse.ArgumentParser()
        add_outbox_commands(parser.add_subparsers(dest="command", required=True))
        return parser.parse_args(["outbox", *argv])

    async def test_republishes_a_topic_from_a_given_time(
        self, uow_factory, engine, common_db, topic
    ):
        await _emit(uow_factory, uuid.uuid4(), range(1, 7))
        t = outbox.table
        async with engine.begin() as conn:
            await conn.execute(update(t).values(published_at=func.now()))
            ids = (await conn.execute(select(t.c.id).order_by(t.c.id))).scalars().all()
            # the first three are older than the cut
            await conn.execute(
                update(t)
                .where(t.c.id.in_(ids[:3]))
                .values(created_at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
            )
        result = await run_outbox_command(
            self._args("republish", "--topic", topic, "--since", "2026-12-07T10:00:00Z"),
            common_db,
            outbox,
        )
        assert result["republishing"] == 3
        assert result["oldest_retained"].startswith("2026-12-07T09:00:00")
        async with engine.connect() as conn:
            pending = (
                (await conn.execute(select(t.c.id).where(t.c.published_at.is_(None))))
                .scalars()
                .all()
            )
        assert sorted(pending) == sorted(ids[3:])
        other = await run_outbox_command(
            self._args("republish", "--topic", "no.such.topic.v1"), common_db, outbox
        )
        assert other["republishing"] == 0
        status = await run_outbox_command(self._args("status"), common_db, outbox)
        assert status["topics"][topic] == {
            "retained": 3,
            "pending": 3,
            "oldest": result["oldest_retained"],
        }

    def test_refuses_a_time_without_zone(self):
        with pytest.raises(SystemExit):
            self._args("republish", "--since", "2026-12-07T10:00:00")
