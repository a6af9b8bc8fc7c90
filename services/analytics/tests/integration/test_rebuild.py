"""`analytics-admin rebuild` on a real broker: the worker projects the published events, the
rebuild empties everything and replays the topics, and every fact, rollup and topic's progress
is the same row for row; a worker running during the rebuild changes nothing either."""

from __future__ import annotations

import asyncio
import copy
import uuid

import pytest
from _analytics_helpers import (
    JOURNEY_TOTALS,
    catalog_changed,
    dump,
    journey,
    registered,
    rows,
    totals,
    wrap,
)
from aiokafka import AIOKafkaProducer
from analytics import cli, models
from analytics.consumers import consumers
from analytics.models import make_outbox
from scifikpi_common.events import Envelope, Event
from scifikpi_common.testing.broker import processes_running, publish

#: After the test (and its rebuilds): `rollup_totals` is the sum of the rollups (see conftest).
pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("rollup_totals_checked")]


def _worker():
    """The real consumers under a fresh consumer group: it reads every topic from the earliest
    offset, as the rebuild does (the shared test broker holds earlier tests' events too, and
    the `analytics` group may have committed past them into another test's database)."""
    worker = copy.copy(consumers)
    worker.service = f"analytics-test-{uuid.uuid4().hex[:8]}"
    return worker


async def _publish_all(bootstrap: str, events: list[Event]) -> None:
    """Sent as the outbox relay sends them: many records per produce request (the local Tansu
    broker then answers ListOffsets below the records; the rebuild and `lag` cope, see
    `cli.Watermarks`)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for event in events:
            envelope = Envelope.wrap(event, producer="test")
            await producer.send(event.TOPIC, envelope.to_bytes(), key=envelope.key.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _caught_up(settings, group: str, tasks, timeout_s: float = 90) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        for task in tasks:
            assert not task.done(), task.exception()
        report = await cli.lag(settings, group=group)
        if report["total_lag"] == 0:
            return
        assert asyncio.get_running_loop().time() < deadline, report
        await asyncio.sleep(0.5)


async def test_rebuild_gives_the_same_facts_and_rollups_even_with_the_worker_running(
    kafka_bootstrap_servers: str, settings, engine
) -> None:
    settings = settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap_servers})
    item = uuid.uuid4()
    users = [uuid.uuid4() for _ in range(3)]
    events: list[Event] = [catalog_changed(item, "2026-03-01T09:00")]
    for i, user in enumerate(users):
        events += journey(
            user,
            f"2026-03-0{i + 1}T10:00",
            item=item,
            account_type=("individual", "legal_entity")[i % 2],
            provider=("stripe", "yoomoney")[i % 2],
        )
    await _publish_all(kafka_bootstrap_servers, events)
    again = registered(users[0], "2026-03-01T10:00")
    await publish(kafka_bootstrap_servers, again.TOPIC, wrap(again), times=3)  # redelivered
    worker = _worker()
    async with processes_running(settings, make_outbox, worker) as tasks:
        await _caught_up(settings, worker.group_id, tasks)
        before = await dump(engine)
        assert {a["user_id"] for a in await rows(engine, models.accounts)} >= set(users)
        figures = await totals(engine)
        assert figures["nft.points_spent"] >= 3 * JOURNEY_TOTALS["nft.points_spent"]

        report = await cli.rebuild(settings, batch=7)  # small batches: many transactions
        assert report["ok"], report
        assert report["events_read"] >= len(events) + 3, report
        assert sum(report["outcomes"].values()) == report["events_read"]
        assert report["outcomes"]["duplicate"] >= 2  # the redeliveries
        assert set(report["topics"]) == set(consumers.topics)
        assert await dump(engine) == before

        # a rebuild while events keep arriving and the worker keeps applying them
        more = journey() + journey()
        rebuilding = asyncio.create_task(cli.rebuild(settings, batch=5))
        await _publish_all(kafka_bootstrap_servers, more)
        assert (await rebuilding)["ok"]
        await _caught_up(settings, worker.group_id, tasks)
        after = await totals(engine)
        assert after == {m: figures.get(m, 0) + 2 * JOURNEY_TOTALS.get(m, 0) for m in after}
        together = await dump(engine)
    assert (await cli.rebuild(settings))["ok"]  # and a quiet one gives exactly the same
    assert await dump(engine) == together
