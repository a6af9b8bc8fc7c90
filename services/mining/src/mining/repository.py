"""Every query of the mining service. Repositories take the unit of work's session and never commit.

Concurrency is decided by the database: the partial unique index (one active session per user)
through `INSERT … ON CONFLICT DO NOTHING`, guarded transitions (`UPDATE … WHERE status =
'active' RETURNING`), `FOR UPDATE` on the quote a payment pays, `SKIP LOCKED` for the scheduler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import (
    CursorResult,
    Update,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mining.domain import (
    Account,
    AccountStatus,
    Countdown,
    Decision,
    Quote,
    RejectReason,
    SessionRecord,
    SessionStatus,
)
from mining.models import accelerations, accounts, quotes, sessions


class AccountRepository:
    """The account projection: status from auth.user.v1, total deposits from ledger.account.v1."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: UUID) -> Account | None:
        stmt = select(accounts.c.status, accounts.c.total_deposits_usd_minor).where(
            accounts.c.user_id == user_id
        )
        row = (await self.session.execute(stmt)).first()
        if row is None:
            return None
        status = AccountStatus(row.status) if row.status is not None else None
        return Account(status, row.total_deposits_usd_minor)

    async def mark_registered(self, user_id: UUID) -> None:
        """pending_payment, unless we already know better (activation is one-way)."""
        stmt = insert(accounts).values(user_id=user_id, status=AccountStatus.pending_payment)
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[accounts.c.user_id],
                set_={"status": AccountStatus.pending_payment, "updated_at": func.now()},
                where=accounts.c.status.is_(None),
            )
        )

    async def mark_active(self, user_id: UUID) -> None:
        stmt = insert(accounts).values(user_id=user_id, status=AccountStatus.active)
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[accounts.c.user_id],
                set_={"status": AccountStatus.active, "updated_at": func.now()},
                where=accounts.c.status.is_distinct_from(AccountStatus.active),
            )
        )

    async def set_deposits(self, user_id: UUID, total: int, booked_at: datetime) -> None:
        """Keep the total of the newest booking: an older event arriving late changes nothing."""
        stmt = insert(accounts).values(
            user_id=user_id, total_deposits_usd_minor=total, deposits_booked_at=booked_at
        )
        new = (stmt.excluded.total_deposits_usd_minor, stmt.excluded.deposits_booked_at)
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[accounts.c.user_id],
                set_={
                    "total_deposits_usd_minor": stmt.excluded.total_deposits_usd_minor,
                    "deposits_booked_at": stmt.excluded.deposits_booked_at,
                    "updated_at": func.now(),
                },
                where=and_(
                    or_(
                        accounts.c.deposits_booked_at.is_(None),
                        accounts.c.deposits_booked_at <= stmt.excluded.deposits_booked_at,
                    ),
                    # the same booking again is a no-op (not even `updated_at` moves)
                    tuple_(accounts.c.total_deposits_usd_minor, accounts.c.deposits_booked_at).op(
                        "IS DISTINCT FROM"
                    )(tuple_(*new)),
                ),
            )
        )


def _session(row: Any) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        user_id=row.user_id,
        status=SessionStatus(row.status),
        started_at=row.started_at,
        ends_at=row.ends_at,
        duration_s=row.duration_s,
        skipped_s=row.skipped_s,
        rate_micro_per_hour=row.rate_micro_per_hour,
        target_micro=row.target_micro,
        completed_at=row.completed_at,
    )


def _completing() -> Update:
    """The guarded transition: only an active session completes, and only once."""
    return (
        update(sessions)
        .where(sessions.c.status == SessionStatus.active)
        .values(status=SessionStatus.completed, completed_at=sessions.c.ends_at)
        .returning(*sessions.c)
    )


#: `GET /mining/status`'s statement, built once: building it per call was ~10 % of the route's
#: CPU (ADR 0009).
_ACTIVE = select(sessions).where(
    sessions.c.user_id == bindparam("user_id"), sessions.c.status == SessionStatus.active
)


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active(self, user_id: UUID) -> SessionRecord | None:
        row = (await self.session.execute(_ACTIVE, {"user_id": user_id})).first()
        return _session(row) if row else None

    async def lock(self, session_id: UUID) -> SessionRecord | None:
        # NO KEY UPDATE: does not block the FK key-share lock a concurrent quote insert takes.
        stmt = select(sessions).where(sessions.c.id == session_id).with_for_update(key_share=True)
        row = (await self.session.execute(stmt)).first()
        return _session(row) if row else None

    async def add(self, record: SessionRecord) -> bool:
        """False if the user already has an active session (the partial unique index decides)."""
        stmt = (
            insert(sessions)
            .values(
                id=record.id,
                user_id=record.user_id,
                status=record.status,
                started_at=record.started_at,
                ends_at=record.ends_at,
                duration_s=record.duration_s,
                skipped_s=record.skipped_s,
                rate_micro_per_hour=record.rate_micro_per_hour,
                target_micro=record.target_micro,
            )
            # A literal predicate: a bound parameter would stop Postgres from matching the partial
            # index once it switches to a generic plan (after five executions).
            .on_conflict_do_nothing(
                index_elements=[sessions.c.user_id], index_where=text("status = 'active'")
            )
            .returning(sessions.c.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def set_skipped(self, session_id: UUID, countdown: Countdown) -> None:
        await self.session.execute(
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.status == SessionStatus.active)
            .values(skipped_s=countdown.skipped_s, ends_at=countdown.ends_at)
        )

    async def complete(self, session_id: UUID, now: datetime) -> SessionRecord | None:
        """Complete this session if it is active and due."""
        stmt = _completing().where(sessions.c.id == session_id, sessions.c.ends_at <= now)
        row = (await self.session.execute(stmt)).first()
        return _session(row) if row else None

    async def complete_due_for_user(self, user_id: UUID, now: datetime) -> SessionRecord | None:
        stmt = _completing().where(sessions.c.user_id == user_id, sessions.c.ends_at <= now)
        row = (await self.session.execute(stmt)).first()
        return _session(row) if row else None

    async def complete_due(self, now: datetime, limit: int) -> list[SessionRecord]:
        """Complete up to `limit` due sessions no other scheduler holds (any number of replicas)."""
        due = (
            select(sessions.c.id)
            .where(sessions.c.status == SessionStatus.active, sessions.c.ends_at <= now)
            .order_by(sessions.c.ends_at)
            .limit(limit)
            .with_for_update(skip_locked=True, key_share=True)
        )
        stmt = _completing().where(sessions.c.id.in_(due.scalar_subquery()))
        return [_session(r) for r in (await self.session.execute(stmt)).all()]

    async def history(
        self, user_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[SessionRecord]:
        """Newest first, keyset-paged on (started_at, id); never OFFSET."""
        stmt = select(sessions).where(sessions.c.user_id == user_id)
        if after is not None:
            stmt = stmt.where(tuple_(sessions.c.started_at, sessions.c.id) < tuple_(*after))
        stmt = stmt.order_by(sessions.c.started_at.desc(), sessions.c.id.desc()).limit(limit)
        return [_session(r) for r in (await self.session.execute(stmt)).all()]


class QuoteRepository:
    """Acceleration quotes, and the one decision per acceleration payment."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, quote: Quote, *, created_at: datetime) -> None:
        await self.session.execute(
            insert(quotes).values(
                id=quote.id,
                user_id=quote.user_id,
                session_id=quote.session_id,
                seconds=quote.seconds,
                price_minor=quote.price_minor,
                currency="USD",
                created_at=created_at,
                valid_until=quote.valid_until,
            )
        )

    async def lock(self, quote_id: UUID) -> Quote | None:
        stmt = (
            select(
                quotes.c.id,
                quotes.c.user_id,
                quotes.c.session_id,
                quotes.c.seconds,
                quotes.c.price_minor,
                quotes.c.valid_until,
                quotes.c.used_by_payment_id,
            )
            .where(quotes.c.id == quote_id)
            .with_for_update()
        )
        row = (await self.session.execute(stmt)).first()
        return Quote(*row) if row else None

    async def use(self, quote_id: UUID, payment_id: UUID, at: datetime) -> None:
        await self.session.execute(
            update(quotes)
            .where(quotes.c.id == quote_id, quotes.c.used_by_payment_id.is_(None))
            .values(used_by_payment_id=payment_id, used_at=at)
        )

    async def prune(self, expired_before: datetime) -> int:
        """Delete unused quotes that expired before `expired_before`."""
        stmt = quotes.delete().where(
            and_(quotes.c.used_by_payment_id.is_(None), quotes.c.valid_until < expired_before)
        )
        result = cast(CursorResult[Any], await self.session.execute(stmt))
        return result.rowcount or 0

    async def decided(self, payment_id: UUID) -> bool:
        stmt = select(accelerations.c.payment_id).where(accelerations.c.payment_id == payment_id)
        return (await self.session.execute(stmt)).first() is not None

    async def record_applied(
        self, *, payment_id: UUID, user_id: UUID, quote_id: UUID, seconds_applied: int
    ) -> bool:
        return await self._decide(
            payment_id=payment_id,
            user_id=user_id,
            quote_id=quote_id,
            outcome=Decision.applied,
            seconds_applied=seconds_applied,
        )

    async def record_rejected(
        self, *, payment_id: UUID, user_id: UUID, quote_id: UUID | None, reason: RejectReason
    ) -> bool:
        return await self._decide(
            payment_id=payment_id,
            user_id=user_id,
            quote_id=quote_id,
            outcome=Decision.rejected,
            reason=reason,
        )

    async def _decide(self, **values: Any) -> bool:
        """False if this payment was already decided (a concurrent duplicate got there first)."""
        stmt = (
            insert(accelerations)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[accelerations.c.payment_id])
            .returning(accelerations.c.payment_id)
        )
        return (await self.session.execute(stmt)).first() is not None
