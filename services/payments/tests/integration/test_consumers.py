"""payments-worker: the account-status projection from auth.user.v1 (through the consumer wrapper
and through a real broker)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from _pay_helpers import payment_body, wait_until
from aiokafka import AIOKafkaProducer
from payments.consumers import consumers
from payments.models import make_outbox
from scifikpi_common import runner
from scifikpi_common.db import UnitOfWorkFactory, create_sessionmaker
from scifikpi_common.events import Envelope, Event, UserActivated, UserRegistered
from scifikpi_common.events.auth import DepositAmount
from scifikpi_common.messaging import Delivery
from scifikpi_common.testing.contracts import assert_problem
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def _registered(user_id: uuid.UUID) -> UserRegistered:
    return UserRegistered(
        user_id=user_id,
        email="a@example.com",
        account_type="individual",
        country="RU",
        initial_deposit=DepositAmount(amount_minor=1000, currency="USD"),
        registered_at=datetime.now(UTC),
    )


def _activated(user_id: uuid.UUID) -> UserActivated:
    return UserActivated(
        user_id=user_id, payment_id=str(uuid.uuid4()), activated_at=datetime.now(UTC)
    )


async def _deliver(engine: AsyncEngine, event: Event) -> list[str]:
    envelope = Envelope.wrap(event, producer="auth")
    factory = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
    delivery = Delivery(topic=event.TOPIC, body=envelope.to_bytes(), key=envelope.key.encode())
    return list(await consumers.process(delivery, factory, broker=None))


async def _status(engine: AsyncEngine, user_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT status FROM payments.accounts WHERE user_id = :u"), {"u": user_id}
            )
        ).scalar_one_or_none()


async def test_projection_follows_auth(engine, client, make_user) -> None:
    # the token (issued at registration) and the projection both say pending_payment
    u = make_user("pending_payment")
    assert await _deliver(engine, _registered(u.id)) == ["handled"]
    assert await _status(engine, u.id) == "pending_payment"
    r = await client.post("/payments", json=payment_body(), headers=u.headers())
    assert_problem(r, 403, "account-not-active")
    r = await client.post(
        "/payments",
        json=payment_body(purpose="registration", amount_minor=1000),
        headers=u.headers(),
    )
    assert r.status_code == 201, r.text

    assert await _deliver(engine, _activated(u.id)) == ["handled"]
    assert await _status(engine, u.id) == "active"
    assert (
        await client.post("/payments", json=payment_body(), headers=u.headers())
    ).status_code == 201


async def test_activation_only_moves_forward(engine, client, make_user) -> None:
    """A token auth issued after activation beats a projection that has not caught up yet."""
    u = make_user("active")
    assert await _deliver(engine, _registered(u.id)) == ["handled"]
    assert await _status(engine, u.id) == "pending_payment"
    r = await client.post("/payments", json=payment_body(), headers=u.headers())
    assert r.status_code == 201, r.text


async def test_activation_before_registration_is_not_undone(engine) -> None:
    uid = uuid.uuid4()
    await _deliver(engine, _activated(uid))
    await _deliver(engine, _registered(uid))  # reordered (different partitions in a replay)
    assert await _status(engine, uid) == "active"


@pytest.mark.kafka
async def test_from_the_broker(kafka_bootstrap_servers: str, settings, engine) -> None:
    settings = settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap_servers})
    stop = asyncio.Event()
    worker = asyncio.create_task(
        runner.consume_until_stopped(settings, consumers, make_outbox(), stop)
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await producer.start()
    try:
        uid = uuid.uuid4()
        for event in (_registered(uid), _activated(uid)):
            envelope = Envelope.wrap(event, producer="auth")
            await producer.send_and_wait(
                event.TOPIC, envelope.to_bytes(), key=envelope.key.encode()
            )

        async def active() -> bool:
            assert not worker.done(), worker.exception()
            return await _status(engine, uid) == "active"

        await wait_until(active, timeout_s=60, step_s=0.2)
    finally:
        await producer.stop()
        stop.set()
        await asyncio.wait_for(worker, 30)
