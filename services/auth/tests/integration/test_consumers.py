"""PaymentSucceeded activates pending accounts: through the consumer wrapper and a real broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaProducer
from auth.consumers import consumers
from auth.models import inbox, make_outbox, outbox
from auth.settings import AuthSettings
from scifikpi_common import runner
from scifikpi_common.db import UnitOfWorkFactory, create_sessionmaker
from scifikpi_common.events import Envelope, PaymentSucceeded
from scifikpi_common.messaging import Delivery
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

TOPIC = PaymentSucceeded.TOPIC


def _payment(
    user_id: str | UUID, *, purpose: str = "registration", amount: int = 1000, currency: str = "USD"
) -> PaymentSucceeded:
    return PaymentSucceeded(
        user_id=UUID(str(user_id)),
        payment_id=uuid4(),
        purpose=purpose,  # type: ignore[arg-type]
        provider="stripe",
        amount_minor=amount,
        currency=currency,
        succeeded_at=datetime.now(UTC),
    )


def _envelope(event: PaymentSucceeded) -> Envelope[dict[str, Any]]:
    return Envelope.wrap(event, producer="payments")


async def _deliver(engine: AsyncEngine, envelope: Envelope[dict[str, Any]]) -> list[str]:
    factory = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
    delivery = Delivery(topic=TOPIC, body=envelope.to_bytes(), key=envelope.key.encode())
    return list(await consumers.process(delivery, factory, broker=None))


async def _user(engine: AsyncEngine, user_id: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT * FROM auth.users WHERE id = :id"), {"id": UUID(user_id)}
            )
        ).one()


async def _activations(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(
            (await conn.execute(select(outbox).where(outbox.c.event_type == "UserActivated"))).all()
        )


class TestActivation:
    async def test_registration_payment_activates(self, register, engine: AsyncEngine) -> None:
        user_id = (await register())["user"]["id"]
        event = _payment(user_id)
        assert await _deliver(engine, _envelope(event)) == ["handled"]
        user = await _user(engine, user_id)
        assert user.status == "active"
        assert user.activated_at is not None
        assert user.activation_payment_id == str(event.payment_id)
        [row] = await _activations(engine)
        assert row.key == user_id
        assert row.topic == "auth.user.v1"
        assert row.payload["payload"]["payment_id"] == str(event.payment_id)
        assert row.payload["payload"]["status"] == "active"

    async def test_rub_payment_at_the_converted_minimum(
        self, register, engine: AsyncEngine
    ) -> None:
        user_id = (await register())["user"]["id"]
        await _deliver(engine, _envelope(_payment(user_id, amount=80000, currency="RUB")))
        assert (await _user(engine, user_id)).status == "active"

    async def test_redelivery_changes_nothing(self, register, engine: AsyncEngine) -> None:
        user_id = (await register())["user"]["id"]
        envelope = _envelope(_payment(user_id))
        assert await _deliver(engine, envelope) == ["handled"]
        assert await _deliver(engine, envelope) == ["duplicate"]
        assert len(await _activations(engine)) == 1
        async with engine.connect() as conn:
            claims = (await conn.execute(select(inbox))).all()
        assert [(c.consumer, c.event_id) for c in claims] == [
            ("auth.on_payment_succeeded", envelope.event_id)
        ]

    @pytest.mark.parametrize(
        ("purpose", "amount", "currency"),
        [
            ("topup", 5000, "USD"),
            ("acceleration", 5000, "USD"),
            ("registration", 999, "USD"),
            ("registration", 79999, "RUB"),
            ("registration", 10**6, "GBP"),
        ],
    )
    async def test_no_activation(
        self, register, engine: AsyncEngine, purpose: str, amount: int, currency: str
    ) -> None:
        user_id = (await register())["user"]["id"]
        await _deliver(
            engine, _envelope(_payment(user_id, purpose=purpose, amount=amount, currency=currency))
        )
        assert (await _user(engine, user_id)).status == "pending_payment"
        assert await _activations(engine) == []

    async def test_already_active_user_is_not_activated_twice(
        self, register, engine: AsyncEngine
    ) -> None:
        user_id = (await register())["user"]["id"]
        first = _payment(user_id)
        await _deliver(engine, _envelope(first))
        await _deliver(engine, _envelope(_payment(user_id, amount=5000)))
        user = await _user(engine, user_id)
        assert user.activation_payment_id == str(first.payment_id)
        assert len(await _activations(engine)) == 1

    async def test_unknown_user_is_ignored(self, engine: AsyncEngine) -> None:
        assert await _deliver(engine, _envelope(_payment(uuid4()))) == ["handled"]
        assert await _activations(engine) == []


@pytest.mark.kafka
async def test_payment_succeeded_from_the_broker_activates_the_user(
    kafka_bootstrap_servers: str, settings: AuthSettings, register, engine: AsyncEngine
) -> None:
    user_id = (await register())["user"]["id"]
    with_broker = settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap_servers})
    stop = asyncio.Event()
    worker = asyncio.create_task(
        runner.consume_until_stopped(with_broker, consumers, make_outbox(), stop)
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    await producer.start()
    try:
        event = _payment(user_id, amount=80000, currency="RUB")
        envelope = _envelope(event)
        traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        await producer.send_and_wait(
            TOPIC,
            envelope.to_bytes(),
            key=envelope.key.encode(),
            headers=[
                ("event_id", str(envelope.event_id).encode()),
                ("traceparent", traceparent.encode()),
            ],
        )
        for _ in range(600):
            if (await _user(engine, user_id)).status == "active":
                break
            assert not worker.done(), worker.exception()
            await asyncio.sleep(0.1)
        user = await _user(engine, user_id)
        assert user.status == "active"
        assert user.activation_payment_id == str(event.payment_id)
        [row] = await _activations(engine)
        assert row.payload["payload"]["user_id"] == user_id
        assert row.payload["payload"]["payment_id"] == str(event.payment_id)
        # The trace continues from the payment's traceparent into the event we emit.
        assert row.headers["traceparent"].split("-")[1] == traceparent.split("-")[1]
        async with engine.connect() as conn:
            claimed = (await conn.execute(select(inbox.c.event_id))).scalars().all()
        # the shared test broker also holds other tests' payments (the group reads from the
        # start): this one is claimed, and the inbox key makes a second claim impossible
        assert envelope.event_id in claimed
    finally:
        await producer.stop()
        stop.set()
        await asyncio.wait_for(worker, 30)
