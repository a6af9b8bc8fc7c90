"""A batch handler over several event types of a topic, and the strict consumer that skips what
it cannot count: the ingest path of a projection (analytics)."""

from __future__ import annotations

import uuid

import pytest
from commontest_schema import TEST_TOPIC, ThingHappened, ThingRenamed, inbox, things
from scifikpi_common.events.base import Envelope
from scifikpi_common.messaging import Delivery, EventConsumers
from scifikpi_common.metrics import EVENTS_SKIPPED
from sqlalchemy import insert, select, text, update


def _projection(calls: list[list[str]], *, strict: bool = True) -> EventConsumers:
    consumers = EventConsumers("commontest", inbox, max_attempts=1, strict=strict)

    @consumers.batch_handler(ThingHappened, ThingRenamed)
    async def on_things(items, uow) -> None:
        calls.append([envelope.event_type for _, envelope in items])
        for event, _ in items:
            if isinstance(event, ThingHappened):
                await uow.session.execute(insert(things).values(id=event.seq, note="new"))
            else:
                await uow.session.execute(
                    update(things).where(things.c.id == event.seq).values(note=event.note)
                )

    return consumers


def _delivery(envelope: Envelope) -> Delivery:
    return Delivery(topic=TEST_TOPIC, body=envelope.to_bytes())


def _wrap(event, **changes) -> Envelope:
    return Envelope.wrap(event, producer="test").model_copy(update=changes)


async def _notes(engine) -> dict[int, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(things.c.id, things.c.note).order_by(things.c.id))
        return {row.id: row.note for row in rows}


async def test_interleaved_types_of_one_handler_go_in_one_transaction(uow_factory, engine):
    calls: list[list[str]] = []
    user = uuid.uuid4()
    envelopes = []
    for seq in range(1, 6):
        envelopes.append(_wrap(ThingHappened(user_id=user, seq=seq)))
        envelopes.append(_wrap(ThingRenamed(user_id=user, seq=seq, note=f"renamed {seq}")))
    deliveries = [_delivery(e) for e in envelopes]
    outcomes = await _projection(calls).process_batch(deliveries, uow_factory, None)
    assert outcomes == [["handled"]] * 10
    assert calls == [["ThingHappened", "ThingRenamed"] * 5]  # one call, in delivery order
    assert await _notes(engine) == {seq: f"renamed {seq}" for seq in range(1, 6)}
    async with engine.connect() as conn:
        xmins = await conn.execute(text("SELECT DISTINCT xmin::text FROM commontest.inbox"))
        assert len(xmins.all()) == 1
    again = await _projection(calls).process_batch(deliveries, uow_factory, None)
    assert again == [["duplicate"]] * 10 and len(calls) == 1


async def test_strict_consumer_skips_unknown_types_and_newer_versions_without_claiming(
    uow_factory, engine
):
    calls: list[list[str]] = []
    user = uuid.uuid4()
    known = _wrap(ThingHappened(user_id=user, seq=1))
    unknown = _wrap(ThingHappened(user_id=user, seq=2), event_type="ThingVanished")
    newer = _wrap(ThingHappened(user_id=user, seq=3), schema_version=2)
    before = {
        reason: EVENTS_SKIPPED.labels("commontest", TEST_TOPIC, event_type, reason)._value.get()
        for reason, event_type in (
            ("unknown-type", "ThingVanished"),
            ("newer-schema-version", "ThingHappened"),
        )
    }
    outcomes = await _projection(calls).process_batch(
        [_delivery(known), _delivery(unknown), _delivery(newer)], uow_factory, None
    )
    assert outcomes == [["handled"], ["ignored"], ["ignored"]]
    assert await _notes(engine) == {1: "new"}
    assert (
        EVENTS_SKIPPED.labels(
            "commontest", TEST_TOPIC, "ThingVanished", "unknown-type"
        )._value.get()
        == before["unknown-type"] + 1
    )
    assert (
        EVENTS_SKIPPED.labels(
            "commontest", TEST_TOPIC, "ThingHappened", "newer-schema-version"
        )._value.get()
        == before["newer-schema-version"] + 1
    )
    async with engine.connect() as conn:
        claimed = (await conn.execute(select(inbox.c.event_id))).scalars().all()
    assert claimed == [known.event_id]  # a later build that knows them can still count them


@pytest.mark.parametrize("strict", [False])
async def test_a_lenient_consumer_handles_a_newer_version_as_before(uow_factory, engine, strict):
    calls: list[list[str]] = []
    newer = _wrap(ThingHappened(user_id=uuid.uuid4(), seq=7), schema_version=2)
    outcomes = await _projection(calls, strict=strict).process_batch(
        [_delivery(newer)], uow_factory, None
    )
    assert outcomes == [["handled"]] and await _notes(engine) == {7: "new"}


def test_a_batch_handler_takes_one_topic() -> None:
    consumers = EventConsumers("commontest", inbox)
    with pytest.raises(ValueError, match="one topic"):
        consumers.batch_handler()
