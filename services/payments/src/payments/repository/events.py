"""Provider events (the webhook inbox): stored once per (provider, event id), claimed in id order
with `FOR UPDATE SKIP LOCKED` and a lease, finished or failed with a backoff."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import Row, Text, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain import EventOutcome, IncomingEvent, Provider, ProviderEvent
from payments.models import WORK_CHANNEL, provider_events
from payments.repository.base import seconds

_c = provider_events.c

_STORE_EVENT = text(
    """
    WITH stored AS (
        INSERT INTO provider_events AS e
            (provider, event_id, event_type, object_id, payment_id, payload)
        VALUES (:provider, :event_id, :event_type, :object_id, :payment_id, CAST(:payload AS jsonb))
        ON CONFLICT (provider, event_id) DO UPDATE SET
            deliveries = e.deliveries + 1,
            processed_at = CASE WHEN e.outcome = 'disagreed' THEN NULL ELSE e.processed_at END,
            next_attempt_at = CASE WHEN e.outcome = 'disagreed' THEN now()
                                   ELSE e.next_attempt_at END
        RETURNING (xmax = 0) AS inserted, coalesce(e.outcome = 'disagreed', false) AS reopened
    )
    SELECT inserted, reopened,
           CASE WHEN inserted OR reopened THEN pg_notify(:channel, '')::text END AS woke
    FROM stored
    """
).bindparams(
    bindparam("provider", type_=Text()),
    bindparam("event_id", type_=Text()),
    bindparam("event_type", type_=Text()),
    bindparam("object_id", type_=Text()),
    bindparam("payment_id", type_=PgUUID(as_uuid=True)),
    bindparam("payload", type_=Text()),
    bindparam("channel", value=WORK_CHANNEL, type_=Text()),
)


def _event(row: Row[Any]) -> ProviderEvent:
    values = dict(row._mapping)
    values["provider"] = Provider(values["provider"])
    return ProviderEvent(**values)


class ProviderEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def store(self, event: IncomingEvent) -> bool:
        """Insert once per (provider, event_id); True if new. A redelivery only bumps a counter,
        except that one whose verdict was "the API disagrees" is looked at again. One statement,
        NOTIFY included (this is the webhook hot path); the payload is the JSON text as received.
        """
        values = {
            "provider": str(event.provider),
            "event_id": event.event_id,
            "event_type": event.event_type,
            "object_id": event.object_id,
            "payment_id": event.payment_id,
            "payload": event.raw or orjson.dumps(event.payload).decode(),
        }
        row = (await self.session.execute(_STORE_EVENT, values)).one()
        return bool(row.inserted)

    async def claim_due(self, *, batch: int, lease_s: float) -> list[ProviderEvent]:
        due = (
            select(_c.id)
            .where(_c.processed_at.is_(None), _c.next_attempt_at <= func.now())
            .order_by(_c.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(provider_events)
            .where(_c.id.in_(due))
            .values(attempts=_c.attempts + 1, next_attempt_at=func.now() + seconds(lease_s))
            .returning(*provider_events.c)
        )
        rows = (await self.session.execute(stmt)).all()
        return sorted((_event(row) for row in rows), key=lambda e: e.id)

    async def for_payment(self, payment_id: UUID) -> list[ProviderEvent]:
        stmt = select(provider_events).where(_c.payment_id == payment_id).order_by(_c.id)
        return [_event(row) for row in (await self.session.execute(stmt)).all()]

    async def finish(
        self, event_id: int, *, outcome: EventOutcome, payment_id: UUID | None
    ) -> None:
        await self.session.execute(
            update(provider_events)
            .where(_c.id == event_id)
            .values(
                processed_at=func.now(),
                outcome=outcome,
                payment_id=func.coalesce(payment_id, _c.payment_id),
                last_error=None,
            )
        )

    async def fail(self, event_id: int, *, error: str, retry_in_s: float) -> None:
        await self.session.execute(
            update(provider_events)
            .where(_c.id == event_id, _c.processed_at.is_(None))
            .values(last_error=error[:2000], next_attempt_at=func.now() + seconds(retry_in_s))
        )

    async def backlog(self) -> tuple[int, float]:
        """How many events wait, and the age in seconds of the oldest."""
        stmt = select(
            func.count(),
            func.coalesce(func.extract("epoch", func.now() - func.min(_c.received_at)), 0),
        ).where(_c.processed_at.is_(None))
        count, age = (await self.session.execute(stmt)).one()
        return int(count), float(age)
