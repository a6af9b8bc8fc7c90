"""Every query of the mining service. Functions take the unit of work's session and never commit.

Concurrency is decided by the database: the partial unique index (one active session per user)
through `INSERT … ON CONFLICT DO NOTHING`, guarded transitions (`UPDATE … WHERE status =
'active' RETURNING`), `FOR UPDATE` on the quote a payment pays, `SKIP LOCKED` for the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mining.domain import Countdown, SessionStatus
from mining.models import accelerations, accounts, quotes, sessions


@dataclass(frozen=True, slots=True)
class Account:
    status: str | None
    total_deposits_usd_minor: int


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: UUID
    user_id: UUID
    status: SessionStatus
    started_at: datetime
    ends_at: datetime
    duration_s: int
    skipped_s: int
    rate_micro_per_hour: int
    target_micro: int
    completed_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> SessionRecord:
        return cls(**{f: getattr(row, f) for f in cls.__slots__})  # type: ignore[attr-defined]

    @property
    def countdown(self) -> Countdown:
        return Countdown(self.started_at, self.duration_s, self.skipped_s, self.target_micro)


@dataclass(frozen=True, slots=True)
class Quote:
    id: UUID
    user_id: UUID
    session_id: UUID
    seconds: int
    price_minor: int
    valid_until: datetime
    used_by_payment_id: UUID | None


# --- account projection -----------------------------------------------------------------------


async def account(s: AsyncSession, user_id: UUID) -> Account | None:
    row = (
        await s.execute(
            select(accounts.c.status, accounts.c.total_deposits_usd_minor).where(
                accounts.c.user_id == user_id
            )
        )
    ).first()
    return Account(row.status, row.total_deposits_usd_minor) if row else None


async def mark_registered(s: AsyncSession, user_id: UUID) -> None:
    """pending_payment, unless we already know better (activation is one-way)."""
    stmt = insert(accounts).values(user_id=user_id, status="pending_payment")
    await s.execute(
        stmt.on_conflict_do_update(
            index_elements=[accounts.c.user_id],
            set_={"status": "pending_payment", "updated_at": func.now()},
            where=accounts.c.status.is_(None),
        )
    )


async def mark_active(s: AsyncSession, user_id: UUID) -> None:
    stmt = insert(accounts).values(user_id=user_id, status="active")
    await s.execute(
        stmt.on_conflict_do_update(
            index_elements=[accounts.c.user_id],
            set_={"status": "active", "updated_at": func.now()},
            where=accounts.c.status.is_distinct_from("active"),
        )
    )


async def set_deposits(s: AsyncSession, user_id: UUID, total: int, booked_at: datetime) -> None:
    """Keep the total of the newest booking: an older event arriving late changes nothing."""
    stmt = insert(accounts).values(
        user_id=user_id, total_deposits_usd_minor=total, deposits_booked_at=booked_at
    )
    await s.execute(
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
                )(tuple_(stmt.excluded.total_deposits_usd_minor, stmt.excluded.deposits_booked_at)),
            ),
        )
    )


# --- sessions ---------------------------------------------------------------------------------


async def active_session(s: AsyncSession, user_id: UUID) -> SessionRecord | None:
    row = (
        await s.execute(
            select(sessions).where(
                sessions.c.user_id == user_id, sessions.c.status == SessionStatus.active
            )
        )
    ).first()
    return SessionRecord.from_row(row) if row else None


async def lock_session(s: AsyncSession, session_id: UUID) -> SessionRecord | None:
    # NO KEY UPDATE: does not block the FK key-share lock a concurrent quote insert takes.
    stmt = select(sessions).where(sessions.c.id == session_id).with_for_update(key_share=True)
    row = (await s.execute(stmt)).first()
    return SessionRecord.from_row(row) if row else None


async def insert_session(
    s: AsyncSession, *, session_id: UUID, user_id: UUID, countdown: Countdown, rate: int
) -> bool:
    """False if the user already has an active session (the partial unique index decides)."""
    stmt = (
        insert(sessions)
        .values(
            id=session_id,
            user_id=user_id,
            status=SessionStatus.active,
            started_at=countdown.started_at,
            ends_at=countdown.ends_at,
            duration_s=countdown.duration_s,
            skipped_s=0,
            rate_micro_per_hour=rate,
            target_micro=countdown.target_micro,
        )  # fmt: skip
        # A literal predicate: a bound parameter would stop Postgres from matching the partial
        # index once it switches to a generic plan (after five executions).
        .on_conflict_do_nothing(
            index_elements=[sessions.c.user_id], index_where=text("status = 'active'")
        )
        .returning(sessions.c.id)
    )
    return (await s.execute(stmt)).first() is not None


async def set_skipped(s: AsyncSession, session_id: UUID, countdown: Countdown) -> None:
    await s.execute(
        update(sessions)
        .where(sessions.c.id == session_id, sessions.c.status == SessionStatus.active)
        .values(skipped_s=countdown.skipped_s, ends_at=countdown.ends_at)
    )


_COMPLETE = (
    update(sessions)
    .values(status=SessionStatus.completed, completed_at=sessions.c.ends_at)
    .returning(*sessions.c)
)


async def complete(s: AsyncSession, session_id: UUID, now: datetime) -> SessionRecord | None:
    """The guarded transition: only an active, due session completes, and only once."""
    stmt = _COMPLETE.where(
        sessions.c.id == session_id,
        sessions.c.status == SessionStatus.active,
        sessions.c.ends_at <= now,
    )
    row = (await s.execute(stmt)).first()
    return SessionRecord.from_row(row) if row else None


async def complete_due_for_user(
    s: AsyncSession, user_id: UUID, now: datetime
) -> SessionRecord | None:
    stmt = _COMPLETE.where(
        sessions.c.user_id == user_id,
        sessions.c.status == SessionStatus.active,
        sessions.c.ends_at <= now,
    )
    row = (await s.execute(stmt)).first()
    return SessionRecord.from_row(row) if row else None


async def complete_due(s: AsyncSession, now: datetime, limit: int) -> list[SessionRecord]:
    """Complete up to `limit` due sessions no other scheduler holds (any number of replicas)."""
    due = (
        select(sessions.c.id)
        .where(sessions.c.status == SessionStatus.active, sessions.c.ends_at <= now)
        .order_by(sessions.c.ends_at)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
    )
    stmt = _COMPLETE.where(sessions.c.id.in_(due.scalar_subquery())).where(
        sessions.c.status == SessionStatus.active
    )
    return [SessionRecord.from_row(r) for r in (await s.execute(stmt)).all()]


async def history(
    s: AsyncSession, user_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
) -> list[SessionRecord]:
    """Newest first, keyset-paged on (started_at, id); never OFFSET."""
    stmt = select(sessions).where(sessions.c.user_id == user_id)
    if after is not None:
        stmt = stmt.where(tuple_(sessions.c.started_at, sessions.c.id) < tuple_(*after))
    stmt = stmt.order_by(sessions.c.started_at.desc(), sessions.c.id.desc()).limit(limit)
    return [SessionRecord.from_row(r) for r in (await s.execute(stmt)).all()]


# --- quotes and acceleration decisions --------------------------------------------------------


async def insert_quote(
    s: AsyncSession, *, quote_id: UUID, user_id: UUID, session_id: UUID, seconds: int,
    price_minor: int, created_at: datetime, valid_until: datetime,
) -> None:  # fmt: skip
    await s.execute(
        insert(quotes).values(
            id=quote_id,
            user_id=user_id,
            session_id=session_id,
            seconds=seconds,
            price_minor=price_minor,
            currency="USD",
            created_at=created_at,
            valid_until=valid_until,
        )  # fmt: skip
    )


async def lock_quote(s: AsyncSession, quote_id: UUID) -> Quote | None:
    stmt = (
        select(
            quotes.c.id,
            quotes.c.user_id,
            quotes.c.session_id,
            quotes.c.seconds,
            quotes.c.price_minor,
            quotes.c.valid_until,
            quotes.c.used_by_payment_id,
        )  # fmt: skip
        .where(quotes.c.id == quote_id)
        .with_for_update()
    )
    row = (await s.execute(stmt)).first()
    return Quote(*row) if row else None


async def use_quote(s: AsyncSession, quote_id: UUID, payment_id: UUID, at: datetime) -> None:
    await s.execute(
        update(quotes)
        .where(quotes.c.id == quote_id, quotes.c.used_by_payment_id.is_(None))
        .values(used_by_payment_id=payment_id, used_at=at)
    )


async def prune_quotes(s: AsyncSession, expired_before: datetime) -> int:
    """Delete unused quotes that expired before `expired_before`."""
    result = await s.execute(
        quotes.delete().where(
            and_(quotes.c.used_by_payment_id.is_(None), quotes.c.valid_until < expired_before)
        )
    )
    return result.rowcount or 0


async def decided(s: AsyncSession, payment_id: UUID) -> bool:
    stmt = select(accelerations.c.payment_id).where(accelerations.c.payment_id == payment_id)
    return (await s.execute(stmt)).first() is not None


async def record_decision(
    s: AsyncSession, *, payment_id: UUID, user_id: UUID, quote_id: UUID | None, outcome: str,
    reason: str | None = None, seconds_applied: int | None = None,
) -> bool:  # fmt: skip
    """False if this payment was already decided (a concurrent duplicate got there first)."""
    stmt = (
        insert(accelerations)
        .values(
            payment_id=payment_id,
            user_id=user_id,
            quote_id=quote_id,
            outcome=outcome,
            reason=reason,
            seconds_applied=seconds_applied,
        )  # fmt: skip
        .on_conflict_do_nothing(index_elements=[accelerations.c.payment_id])
        .returning(accelerations.c.payment_id)
    )
    return (await s.execute(stmt)).first() is not None
