"""Event builders, a direct delivery path through the real consumer wrapper, and DB probes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from mining.consumers import consumers
from scifikpi_common.clock import utcnow
from scifikpi_common.events import (
    MoneyCredited,
    MoneyDebited,
    PaymentSucceeded,
    UserActivated,
    UserRegistered,
)
from scifikpi_common.testing.broker import deliver as deliver_to
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

#: D of the tests: one hour, so the countdown math has room; tests move sessions into the past.
DURATION_S = 3600


def registered(user_id: uuid.UUID) -> UserRegistered:
    return UserRegistered(
        user_id=user_id,
        email=f"{user_id.hex[:8]}@example.com",
        account_type="individual",
        country="DE",
        initial_deposit={"amount_minor": 1000, "currency": "USD"},
        registered_at=utcnow(),
    )


def activated(user_id: uuid.UUID) -> UserActivated:
    return UserActivated(user_id=user_id, payment_id=str(uuid.uuid4()), activated_at=utcnow())


def credited(user_id: uuid.UUID, total: int, booked_at: datetime | None = None) -> MoneyCredited:
    return MoneyCredited(
        user_id=user_id,
        transfer_id=f"payment:{uuid.uuid4()}",
        booked_at=booked_at or utcnow(),
        payment_id=uuid.uuid4(),
        amount_usd_minor=max(total, 1),
        total_deposits_usd_minor=total,
    )


def debited(user_id: uuid.UUID, total: int, booked_at: datetime | None = None) -> MoneyDebited:
    return MoneyDebited(
        user_id=user_id,
        transfer_id=f"refund:{uuid.uuid4()}",
        booked_at=booked_at or utcnow(),
        payment_id=uuid.uuid4(),
        amount_usd_minor=1,
        total_deposits_usd_minor=total,
        reason="refund",
    )


def paid(
    user_id: uuid.UUID,
    quote_id: uuid.UUID | None,
    amount_minor: int,
    currency: str = "USD",
    *,
    succeeded_at: datetime | None = None,
    purpose: str = "acceleration",
    payment_id: uuid.UUID | None = None,
) -> PaymentSucceeded:
    return PaymentSucceeded(
        user_id=user_id,
        payment_id=payment_id or uuid.uuid4(),
        purpose=purpose,
        provider="stripe" if currency != "RUB" else "yoomoney",
        amount_minor=amount_minor,
        currency=currency,
        quote_id=quote_id,
        succeeded_at=succeeded_at or utcnow(),
    )


async def outbox(engine: AsyncEngine, event_type: str | None = None) -> list[dict[str, Any]]:
    """Payloads in the outbox (of one type, if given), in order."""
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT event_type, payload FROM mining.outbox ORDER BY id"))
        return [
            {"event_type": r.event_type, **r.payload["payload"]}
            for r in rows
            if event_type is None or r.event_type == event_type
        ]


async def session_row(engine: AsyncEngine, session_id: uuid.UUID | str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT * FROM mining.sessions WHERE id = :id"), {"id": str(session_id)}
            )
        ).one()


async def shift_into_past(engine: AsyncEngine, session_id: uuid.UUID | str, seconds: int) -> None:
    """Move a session `seconds` back in time (the CHECK on ends_at still holds)."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE mining.sessions SET started_at = started_at - make_interval(secs => :s),"
                " ends_at = ends_at - make_interval(secs => :s) WHERE id = :id"
            ),
            {"s": seconds, "id": str(session_id)},
        )


async def snapshot(engine: AsyncEngine) -> tuple[Any, ...]:
    """Every row that a redelivery must leave unchanged."""
    async with engine.connect() as conn:
        out = []
        for table, order in (
            ("accounts", "user_id"),
            ("sessions", "id"),
            ("quotes", "id"),
            ("accelerations", "payment_id"),
        ):
            rows = await conn.execute(text(f"SELECT * FROM mining.{table} ORDER BY {order}"))
            out.append(tuple(tuple(r) for r in rows))
        ev = await conn.execute(text("SELECT event_id FROM mining.outbox ORDER BY id"))
        out.append(tuple(r.event_id for r in ev))
    return tuple(out)


async def deliver(factory, event, *, envelope=None) -> list[str]:
    return await deliver_to(consumers, factory, event, envelope=envelope)
