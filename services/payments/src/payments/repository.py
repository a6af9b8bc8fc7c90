"""Queries of the payments service. Every method runs in the caller's transaction; none commits.

Races are decided by the database: the idempotency key by a unique constraint
(`INSERT ... ON CONFLICT`), status changes under a row lock (`SELECT ... FOR UPDATE`), and
work queues (provider events, reconciliation, refunds, provider create calls) by leases claimed
with `FOR UPDATE SKIP LOCKED` or a guarded `UPDATE`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Text, and_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from payments.models import WORK_CHANNEL, Account, Payment, ProviderEvent, Refund

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


def _seconds(value: float) -> Any:
    return func.make_interval(0, 0, 0, 0, 0, 0, value)


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, payment_id: UUID, *, for_update: bool = False) -> Payment | None:
        stmt = select(Payment).where(Payment.id == payment_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def refresh(self, payment: Payment) -> Payment:
        await self.session.refresh(payment)
        return payment

    async def get_by_key(self, user_id: UUID, idempotency_key: str) -> Payment | None:
        stmt = select(Payment).where(
            Payment.user_id == user_id, Payment.idempotency_key == idempotency_key
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_by_provider_id(
        self, provider: str, provider_payment_id: str, *, for_update: bool = False
    ) -> Payment | None:
        stmt = select(Payment).where(
            Payment.provider == provider, Payment.provider_payment_id == provider_payment_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def insert_if_absent(self, values: dict[str, Any], lease_s: float) -> Payment | None:
        """Insert unless (user_id, idempotency_key) exists; None when another request won.

        In READ COMMITTED an `ON CONFLICT DO NOTHING` that meets an uncommitted twin waits for it,
        so the loser's following SELECT sees the winner's committed row.
        """
        stmt = (
            insert(Payment)
            .values(
                **values,
                submit_lease_until=func.now() + _seconds(lease_s),
                submit_attempts=1,
            )
            .on_conflict_do_nothing(index_elements=[Payment.user_id, Payment.idempotency_key])
            .returning(Payment)
        )
        result = await self.session.execute(stmt, execution_options={"populate_existing": True})
        return result.scalar_one_or_none()

    async def has_succeeded(self, user_id: UUID, purpose: str) -> bool:
        stmt = select(
            select(Payment.id)
            .where(
                Payment.user_id == user_id,
                Payment.purpose == purpose,
                Payment.status.in_(("succeeded", "refunded")),
            )
            .exists()
        )
        return bool((await self.session.execute(stmt)).scalar())

    async def claim_submission(self, payment_id: UUID, token: UUID, lease_s: float) -> bool:
        """Take the right to call the provider's create for this payment (one holder at a time)."""
        stmt = (
            update(Payment)
            .where(
                Payment.id == payment_id,
                Payment.status == "created",
                Payment.provider_payment_id.is_(None),
                or_(Payment.submit_lease_until.is_(None), Payment.submit_lease_until < func.now()),
            )
            .values(
                submit_lease_until=func.now() + _seconds(lease_s),
                submit_lease_token=token,
                submit_attempts=Payment.submit_attempts + 1,
                updated_at=func.now(),
            )
            .returning(Payment.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def release_submission(self, payment_id: UUID, token: UUID, error: str | None) -> None:
        await self.session.execute(
            update(Payment)
            .where(Payment.id == payment_id, Payment.submit_lease_token == token)
            .values(
                submit_lease_until=None,
                submit_lease_token=None,
                last_error=error,
                updated_at=func.now(),
            )
            .execution_options(synchronize_session=False)
        )

    async def page(
        self, user_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Payment]:
        """Newest first, keyset-paged on (created_at, id): stable under concurrent inserts."""
        stmt = select(Payment).where(Payment.user_id == user_id)
        if after is not None:
            created_at, payment_id = after
            stmt = stmt.where(
                or_(
                    Payment.created_at < created_at,
                    and_(Payment.created_at == created_at, Payment.id < payment_id),
                )
            )
        stmt = stmt.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def claim_due_checks(
        self, *, min_age_s: float, batch: int, backoff_base_s: float, backoff_max_s: float
    ) -> list[UUID]:
        """Unfinished payments due for a provider re-check; each is pushed back (lease/backoff).

        The delay doubles with every check of the same payment, from `backoff_base_s` up to
        `backoff_max_s`, so a payment the payer abandoned costs little until it expires.
        """
        due = (
            select(Payment.id)
            .where(
                Payment.status.in_(("created", "pending")),
                Payment.next_check_at <= func.now(),
                Payment.created_at <= func.now() - _seconds(min_age_s),
            )
            .order_by(Payment.next_check_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        delay = func.least(
            backoff_max_s,
            backoff_base_s * func.power(2, func.least(Payment.check_count, 16)),
        )
        stmt = (
            update(Payment)
            .where(Payment.id.in_(due))
            .values(
                next_check_at=func.now() + _seconds(delay),
                check_count=Payment.check_count + 1,
            )
            .returning(Payment.id)
            .execution_options(synchronize_session=False)
        )
        return [row[0] for row in (await self.session.execute(stmt)).all()]

    async def count_unfinished_older_than(self, age_s: float) -> int:
        stmt = select(func.count()).where(
            Payment.status.in_(("created", "pending")),
            Payment.created_at <= func.now() - _seconds(age_s),
        )
        return int((await self.session.execute(stmt)).scalar_one())


class ProviderEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def store(self, values: dict[str, Any]) -> bool:
        """Insert once per (provider, event_id); True if new. A redelivery only bumps a counter,
        except that one whose verdict was "the API disagrees" is looked at again. One statement,
        NOTIFY included (this is the webhook hot path); `payload` is the JSON text as received."""
        row = (await self.session.execute(_STORE_EVENT, values)).one()
        return bool(row.inserted)

    async def claim_due(self, *, batch: int, lease_s: float) -> list[ProviderEvent]:
        due = (
            select(ProviderEvent.id)
            .where(
                ProviderEvent.processed_at.is_(None), ProviderEvent.next_attempt_at <= func.now()
            )
            .order_by(ProviderEvent.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(ProviderEvent)
            .where(ProviderEvent.id.in_(due))
            .values(
                attempts=ProviderEvent.attempts + 1,
                next_attempt_at=func.now() + _seconds(lease_s),
            )
            .returning(ProviderEvent)
            .execution_options(synchronize_session=False)
        )
        rows = (
            await self.session.execute(stmt, execution_options={"populate_existing": True})
        ).scalars()
        return sorted(rows, key=lambda e: e.id)

    async def finish(self, event_id: int, *, outcome: str, payment_id: UUID | None) -> None:
        await self.session.execute(
            update(ProviderEvent)
            .where(ProviderEvent.id == event_id)
            .values(
                processed_at=func.now(),
                outcome=outcome,
                payment_id=func.coalesce(payment_id, ProviderEvent.payment_id),
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )

    async def fail(self, event_id: int, *, error: str, retry_in_s: float) -> None:
        await self.session.execute(
            update(ProviderEvent)
            .where(ProviderEvent.id == event_id, ProviderEvent.processed_at.is_(None))
            .values(last_error=error[:2000], next_attempt_at=func.now() + _seconds(retry_in_s))
            .execution_options(synchronize_session=False)
        )

    async def backlog(self) -> tuple[int, float]:
        stmt = select(
            func.count(),
            func.coalesce(
                func.extract("epoch", func.now() - func.min(ProviderEvent.received_at)), 0
            ),
        ).where(ProviderEvent.processed_at.is_(None))
        count, age = (await self.session.execute(stmt)).one()
        return int(count), float(age)


class RefundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, refund_id: UUID, *, for_update: bool = False) -> Refund | None:
        stmt = select(Refund).where(Refund.id == refund_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_for_payment(self, payment_id: UUID, *, for_update: bool = False) -> Refund | None:
        stmt = select(Refund).where(Refund.payment_id == payment_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def insert_if_absent(self, values: dict[str, Any]) -> Refund | None:
        stmt = (
            insert(Refund)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[Refund.payment_id])
            .returning(Refund)
        )
        return (
            await self.session.execute(stmt, execution_options={"populate_existing": True})
        ).scalar_one_or_none()

    async def claim(self, refund_id: UUID, lease_s: float) -> bool:
        stmt = (
            update(Refund)
            .where(
                Refund.id == refund_id,
                Refund.status == "requested",
                Refund.next_attempt_at <= func.now(),
            )
            .values(
                attempts=Refund.attempts + 1,
                next_attempt_at=func.now() + _seconds(lease_s),
                updated_at=func.now(),
            )
            .returning(Refund.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def claim_due(self, *, batch: int, lease_s: float) -> list[UUID]:
        due = (
            select(Refund.id)
            .where(Refund.status == "requested", Refund.next_attempt_at <= func.now())
            .order_by(Refund.next_attempt_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(Refund)
            .where(Refund.id.in_(due))
            .values(
                attempts=Refund.attempts + 1,
                next_attempt_at=func.now() + _seconds(lease_s),
                updated_at=func.now(),
            )
            .returning(Refund.id)
            .execution_options(synchronize_session=False)
        )
        return [row[0] for row in (await self.session.execute(stmt)).all()]

    async def retry_later(self, refund_id: UUID, *, error: str | None, retry_in_s: float) -> None:
        await self.session.execute(
            update(Refund)
            .where(Refund.id == refund_id, Refund.status == "requested")
            .values(
                last_error=error[:2000] if error else None,
                next_attempt_at=func.now() + _seconds(retry_in_s),
                updated_at=func.now(),
            )
            .execution_options(synchronize_session=False)
        )


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def status(self, user_id: UUID) -> str | None:
        stmt = select(Account.status).where(Account.user_id == user_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def registered(self, user_id: UUID) -> None:
        """A new account waits for its deposit; never downgrades one we already saw activated."""
        await self.session.execute(
            insert(Account)
            .values(user_id=user_id, status="pending_payment")
            .on_conflict_do_nothing(index_elements=[Account.user_id])
        )

    async def activated(self, user_id: UUID) -> None:
        await self.session.execute(
            insert(Account)
            .values(user_id=user_id, status="active")
            .on_conflict_do_update(
                index_elements=[Account.user_id],
                set_={"status": "active", "updated_at": func.now()},
                where=Account.status != "blocked",
            )
        )


async def notify_work(session: AsyncSession) -> None:
    """Wake the scheduler at commit (a provider event or a refund waits)."""
    await session.execute(select(func.pg_notify(WORK_CHANNEL, "")))
