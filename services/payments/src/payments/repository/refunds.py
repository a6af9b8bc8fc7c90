"""Refunds: one per payment (a unique constraint), claimed for execution with a lease."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain import Refund, RefundStatus
from payments.models import refunds
from payments.repository.base import seconds

_c = refunds.c
_REQUESTED = str(RefundStatus.requested)


def _refund(row: Row[Any]) -> Refund:
    values = dict(row._mapping)
    values["status"] = RefundStatus(values["status"])
    return Refund(**values)


class RefundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, refund_id: UUID, *, for_update: bool = False) -> Refund | None:
        stmt = select(refunds).where(_c.id == refund_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).first()
        return _refund(row) if row is not None else None

    async def get_for_payment(self, payment_id: UUID) -> Refund | None:
        row = (
            await self.session.execute(select(refunds).where(_c.payment_id == payment_id))
        ).first()
        return _refund(row) if row is not None else None

    async def insert_if_absent(
        self, refund_id: UUID, payment_id: UUID, *, reason: str, requested_by: str, now: datetime
    ) -> Refund | None:
        stmt = (
            insert(refunds)
            .values(
                id=refund_id,
                payment_id=payment_id,
                reason=reason,
                requested_by=requested_by,
                status=_REQUESTED,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=[_c.payment_id])
            .returning(*refunds.c)
        )
        row = (await self.session.execute(stmt)).first()
        return _refund(row) if row is not None else None

    async def save(self, refund: Refund) -> None:
        """Write what recording a provider's answer changed on a locked refund."""
        await self.session.execute(
            update(refunds)
            .where(_c.id == refund.id)
            .values(
                status=str(refund.status),
                provider_refund_id=refund.provider_refund_id,
                last_error=refund.last_error,
                updated_at=refund.updated_at,
                completed_at=refund.completed_at,
            )
        )

    async def claim(self, refund_id: UUID, lease_s: float) -> bool:
        stmt = (
            update(refunds)
            .where(_c.id == refund_id, _c.status == _REQUESTED, _c.next_attempt_at <= func.now())
            .values(
                attempts=_c.attempts + 1,
                next_attempt_at=func.now() + seconds(lease_s),
                updated_at=func.now(),
            )
            .returning(_c.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def claim_due(self, *, batch: int, lease_s: float) -> list[UUID]:
        due = (
            select(_c.id)
            .where(_c.status == _REQUESTED, _c.next_attempt_at <= func.now())
            .order_by(_c.next_attempt_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(refunds)
            .where(_c.id.in_(due))
            .values(
                attempts=_c.attempts + 1,
                next_attempt_at=func.now() + seconds(lease_s),
                updated_at=func.now(),
            )
            .returning(_c.id)
        )
        return [row[0] for row in (await self.session.execute(stmt)).all()]

    async def retry_later(self, refund_id: UUID, *, error: str | None, retry_in_s: float) -> None:
        await self.session.execute(
            update(refunds)
            .where(_c.id == refund_id, _c.status == _REQUESTED)
            .values(
                last_error=error[:2000] if error else None,
                next_attempt_at=func.now() + seconds(retry_in_s),
                updated_at=func.now(),
            )
        )
