"""The consumer path around the projection: strict skips (never a dead letter), a failing batch
falling back to one message at a time, and a worker killed mid-batch: every figure stays exact."""

from __future__ import annotations

import uuid

import pytest
from _analytics_helpers import (
    JOURNEY_TOTALS,
    activated,
    apply,
    deliveries,
    journey,
    registered,
    rows,
    totals,
    wrap,
)
from analytics import models
from analytics.consumers import consumers
from analytics.projection import domain, repository
from scifikpi_common.messaging import PoisonMessage
from scifikpi_common.metrics import DLQ_MESSAGES, EVENTS_SKIPPED
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

USERS = "auth.user.v1"
#: After every test here: `rollup_totals` is the sum of the rollups (see conftest).
pytestmark = pytest.mark.usefixtures("rollup_totals_checked")


class RecordingBroker:
    """Stands in for the worker's broker: what would have gone to a DLQ."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, body: bytes, *, topic: str, **_: object) -> None:
        self.published.append((topic, body))


def _skipped(event_type: str, reason: str) -> float:
    return EVENTS_SKIPPED.labels("analytics", USERS, event_type, reason)._value.get()


async def test_unknown_types_and_newer_versions_are_skipped_with_a_metric(factory, engine) -> None:
    user = uuid.uuid4()
    known = wrap(registered(user))
    unknown = wrap(registered(uuid.uuid4())).model_copy(update={"event_type": "UserRenamed"})
    newer = wrap(activated(user)).model_copy(update={"schema_version": 2})
    before = (
        _skipped("UserRenamed", "unknown-type"),
        _skipped("UserActivated", "newer-schema-version"),
    )
    broker = RecordingBroker()
    outcomes = await consumers.process_batch(
        deliveries((USERS, known), (USERS, unknown), (USERS, newer)), factory, broker
    )
    assert outcomes == [["handled"], ["ignored"], ["ignored"]]
    assert broker.published == []  # never a dead letter
    assert (
        _skipped("UserRenamed", "unknown-type"),
        _skipped("UserActivated", "newer-schema-version"),
    ) == (before[0] + 1, before[1] + 1)
    assert await totals(engine) == {"accounts.registered": 1}
    async with engine.connect() as conn:
        claimed = (await conn.execute(select(models.inbox.c.event_id))).scalars().all()
    assert claimed == [known.event_id]  # a later build can still count the skipped ones
    (progress,) = await rows(engine, models.topic_progress)
    assert progress["events_applied"] == 1


async def test_a_failing_batch_falls_back_per_message_and_stays_exact(
    factory, engine, monkeypatch
) -> None:
    """One event the projection cannot apply (a bug, say) fails the batch transaction: the poll
    is redone one message at a time, the bad one is dead-lettered, the others count once."""
    monkeypatch.setattr(consumers, "max_attempts", 1)
    poison = uuid.uuid4()
    rule = domain.RULES[type(registered(poison))]

    def failing(event, occurred_at):
        if event.user_id == poison:
            raise RuntimeError("cannot project this one")
        return rule(event, occurred_at)

    monkeypatch.setitem(domain.RULES, type(registered(poison)), failing)  # type: ignore[index]
    good = [registered(uuid.uuid4()) for _ in range(3)]
    broker = RecordingBroker()
    dlq_before = DLQ_MESSAGES.labels("analytics", USERS)._value.get()
    outcomes = await consumers.process_batch(
        deliveries(good[0], registered(poison), good[1], good[2]), factory, broker
    )
    assert outcomes == [["handled"], ["dead_lettered"], ["handled"], ["handled"]]
    assert [topic for topic, _ in broker.published] == [f"{USERS}.dlq"]
    assert DLQ_MESSAGES.labels("analytics", USERS)._value.get() == dlq_before + 1
    assert await totals(engine) == {"accounts.registered": 3}
    (progress,) = await rows(engine, models.topic_progress)
    assert progress["events_applied"] == 3


@pytest.mark.parametrize("stage", ["add_to_rollups", "bump_progress"])
async def test_a_worker_killed_mid_batch_is_exact_after_redelivery(
    factory, engine, monkeypatch, stage
) -> None:
    """The database goes away after part of a batch was written: nothing of it is committed (nor
    the offsets), the poll is delivered again, and every figure counts once."""
    events = journey() + journey()
    polls = deliveries(*events)
    real = getattr(repository.ProjectionRepository, stage)
    calls = 0

    async def dying(self, *args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 3:  # the third topic's batch of the poll
            raise OperationalError("SELECT 1", {}, ConnectionResetError("server closed"))
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(repository.ProjectionRepository, stage, dying)
    with pytest.raises(OperationalError):
        await consumers.process_batch(polls, factory, None)
    # the runs before the crash committed; the crashed run left nothing behind
    monkeypatch.setattr(repository.ProjectionRepository, stage, real)
    again = await consumers.process_batch(polls, factory, None)  # the seek-back
    assert {o for outcome in again for o in outcome} <= {"handled", "duplicate"}
    assert await totals(engine) == {m: 2 * v for m, v in JOURNEY_TOTALS.items()}
    applied = sum(p["events_applied"] for p in await rows(engine, models.topic_progress))
    assert applied == len(events)


async def test_without_a_broker_a_poison_message_raises(factory) -> None:
    bad = wrap(registered(uuid.uuid4())).model_copy(update={"payload": {"user_id": "nope"}})
    with pytest.raises(PoisonMessage):
        await consumers.process_batch(deliveries((USERS, bad)), factory, None)


async def test_one_poll_of_every_topic_in_one_call(factory, engine) -> None:
    outcomes = await apply(factory, *journey(), *journey())
    assert all(o == ["handled"] for o in outcomes)
    async with engine.connect() as conn:
        consumers_seen = (
            (await conn.execute(select(models.inbox.c.consumer).distinct())).scalars().all()
        )
    assert sorted(consumers_seen) == [
        "analytics.on_auth_users",
        "analytics.on_ledger_accounts",
        "analytics.on_mining_sessions",
        "analytics.on_nft_purchases",
        "analytics.on_nft_transfers",
        "analytics.on_nft_wallets",
        "analytics.on_payments",
    ]
