"""Payments: the idempotent insert, row locks for status changes, the lease on the provider
create call, the keyset-paged list and the reconciliation queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, Select, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain import NON_TERMINAL, Payment, PaymentRequest, PaymentStatus, Provider, Purpose
from payments.models import payments
from payments.repository.base import seconds

_c = payments.c
_UNFINISHED = [str(s) for s in NON_TERMINAL]
#: what a status change writes (the lease and reconciliation columns have statements of their own)
_STATE = (
    "status",
    "provider_payment_id",
    "provider_status",
    "client_secret",
    "confirmation_url",
    "failure_reason",
    "updated_at",
    "succeeded_at",
    "finished_at",
    "refunded_at",
)


def _payment(row: Row[Any]) -> Payment:
    values = dict(row._mapping)
    values["purpose"] = Purpose(values["purpose"])
    values["provider"] = Provider(values["provider"])
    values["status"] = PaymentStatus(values["status"])
    return Payment(**values)


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _one(self, stmt: Select[Any], *, for_update: bool = False) -> Payment | None:
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).first()
        return _payment(row) if row is not None else None

    async def get(self, payment_id: UUID, *, for_update: bool = False) -> Payment | None:
        return await self._one(select(payments).where(_c.id == payment_id), for_update=for_update)

    async def get_by_key(self, user_id: UUID, idempotency_key: str) -> Payment | None:
        stmt = select(payments).where(_c.user_id == user_id, _c.idempotency_key == idempotency_key)
        return await self._one(stmt)

    async def get_by_provider_id(
        self, provider: str, provider_payment_id: str, *, for_update: bool = False
    ) -> Payment | None:
        stmt = select(payments).where(
            _c.provider == provider, _c.provider_payment_id == provider_payment_id
        )
        return await self._one(stmt, for_update=for_update)

    async def insert_if_absent(
        self,
        payment_id: UUID,
        user_id: UUID,
        idempotency_key: str,
        request: PaymentRequest,
        *,
        lease_token: UUID,
        lease_s: float,
        now: datetime,
    ) -> Payment | None:
        """Insert unless (user_id, idempotency_key) exists; None when another request won.

        The inserting request holds the lease on the provider create call. In READ COMMITTED an
        `ON CONFLICT DO NOTHING` that meets an uncommitted twin waits for it, so the loser's
        following SELECT sees the winner's committed row.
        """
        stmt = (
            insert(payments)
            .values(
                id=payment_id,
                user_id=user_id,
                idempotency_key=idempotency_key,
                request_fingerprint=request.fingerprint(),
                purpose=str(request.purpose),
                provider=str(request.provider),
                amount_minor=request.amount_minor,
                currency=request.currency,
                quote_id=request.quote_id,
                status=str(PaymentStatus.created),
                submit_lease_token=lease_token,
                submit_lease_until=func.now() + seconds(lease_s),
                submit_attempts=1,
                next_check_at=now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=[_c.user_id, _c.idempotency_key])
            .returning(*payments.c)
        )
        row = (await self.session.execute(stmt)).first()
        return _payment(row) if row is not None else None

    async def save_state(self, payment: Payment) -> None:
        """Write what a status change (or a provider's answer) changed on a locked payment."""
        values = {name: getattr(payment, name) for name in _STATE}
        values["status"] = str(payment.status)
        await self.session.execute(update(payments).where(_c.id == payment.id).values(**values))

    async def has_succeeded(self, user_id: UUID, purpose: Purpose) -> bool:
        paid = [str(PaymentStatus.succeeded), str(PaymentStatus.refunded)]
        stmt = select(
            select(_c.id)
            .where(_c.user_id == user_id, _c.purpose == str(purpose), _c.status.in_(paid))
            .exists()
        )
        return bool((await self.session.execute(stmt)).scalar())

    async def claim_submission(self, payment_id: UUID, token: UUID, lease_s: float) -> bool:
        """Take the right to call the provider's create for this payment (one holder at a time)."""
        stmt = (
            update(payments)
            .where(
                _c.id == payment_id,
                _c.status == str(PaymentStatus.created),
                _c.provider_payment_id.is_(None),
                or_(_c.submit_lease_until.is_(None), _c.submit_lease_until < func.now()),
            )
            .values(
                submit_lease_until=func.now() + seconds(lease_s),
                submit_lease_token=token,
                submit_attempts=_c.submit_attempts + 1,
                updated_at=func.now(),
            )
            .returning(_c.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def release_submission(self, payment_id: UUID, token: UUID, error: str | None) -> None:
        await self.session.execute(
            update(payments)
            .where(_c.id == payment_id, _c.submit_lease_token == token)
            .values(
                submit_lease_until=None,
                submit_lease_token=None,
                last_error=error,
                updated_at=func.now(),
            )
        )

    async def page(
        self, user_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Payment]:
        """Newest first, keyset-paged on (created_at, id): stable under concurrent inserts."""
        stmt = select(payments).where(_c.user_id == user_id)
        if after is not None:
            created_at, payment_id = after
            stmt = stmt.where(
                or_(
                    _c.created_at < created_at,
                    and_(_c.created_at == created_at, _c.id < payment_id),
                )
            )
        stmt = stmt.order_by(_c.created_at.desc(), _c.id.desc()).limit(limit)
        return [_payment(row) for row in (await self.session.execute(stmt)).all()]

    async def claim_due_checks(
        self, *, min_age_s: float, batch: int, backoff_base_s: float, backoff_max_s: float
    ) -> list[UUID]:
        """Unfinished payments due for a provider re-check; each is pushed back (lease/backoff).

        The delay doubles with every check of the same payment, from `backoff_base_s` up to
        `backoff_max_s`, so a payment the payer abandoned costs little until it expires.
        """
        due = (
            select(_c.id)
            .where(
                _c.status.in_(_UNFINISHED),
                _c.next_check_at <= func.now(),
                _c.created_at <= func.now() - seconds(min_age_s),
            )
            .order_by(_c.next_check_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        delay = func.least(
            backoff_max_s, backoff_base_s * func.power(2, func.least(_c.check_count, 16))
        )
        stmt = (
            update(payments)
            .where(_c.id.in_(due))
            .values(next_check_at=func.now() + seconds(delay), check_count=_c.check_count + 1)
            .returning(_c.id)
        )
        return [row[0] for row in (await self.session.execute(stmt)).all()]

    async def count_unfinished_older_than(self, age_s: float) -> int:
        stmt = select(func.count()).where(
            _c.status.in_(_UNFINISHED), _c.created_at <= func.now() - seconds(age_s)
        )
        return int((await self.session.execute(stmt)).scalar_one())
