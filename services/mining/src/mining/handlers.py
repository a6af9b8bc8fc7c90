"""Use cases of the mining service: each runs in the caller's unit of work and never commits.

The API route, the consumer wrapper (inbox claim + handler + one commit) and the scheduler own
the transaction, so a state change and the events it emits commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import MiningCompleted, MiningStarted
from scifikpi_common.ids import new_id
from scifikpi_common.logging import get_logger
from scifikpi_common.security import Principal

from mining import repository as repo
from mining.domain import Countdown, SessionStatus, quote_price_minor, target_micro
from mining.errors import (
    AccelerationExceedsRemaining,
    AccountNotActive,
    InvalidAccelerationSeconds,
    MiningSessionActive,
    NoActiveSession,
)
from mining.repository import Quote, SessionRecord
from mining.settings import MiningSettings

log = get_logger(__name__)


async def may_mine(uow: UnitOfWork, principal: Principal) -> bool:
    """Activation only moves one way, so either witness admits: the projection of auth.user.v1
    or the access token's `status` claim (UserActivated may still be on its way)."""
    if principal.is_active:
        return True
    account = await repo.account(uow.session, principal.user_id)
    return account is not None and account.status == "active"


async def start_session(
    uow: UnitOfWork, principal: Principal, settings: MiningSettings, now: datetime | None = None
) -> SessionRecord:
    """Start a session at the rate today's deposits give, frozen for the session's life."""
    now = now or utcnow()
    s = uow.session
    if not await may_mine(uow, principal):
        raise AccountNotActive("Pay the registration deposit first; then you can mine.")
    user_id = principal.user_id
    # A session past its end but not yet settled by the scheduler must not block a new start.
    await settle_due_for_user(uow, user_id, now)
    account = await repo.account(s, user_id)
    rate = settings.mining_rate_micro_per_hour(account.total_deposits_usd_minor if account else 0)
    duration = settings.session_duration_s
    countdown = Countdown(now, duration, 0, target_micro(rate, duration))
    session_id = new_id()
    if not await repo.insert_session(
        s, session_id=session_id, user_id=user_id, countdown=countdown, rate=rate
    ):
        raise MiningSessionActive("Wait for the running session to end (or accelerate it).")
    await uow.publish(
        MiningStarted(
            user_id=user_id,
            session_id=session_id,
            started_at=now,
            ends_at=countdown.ends_at,
            duration_s=duration,
            rate_micro_per_hour=rate,
            target_points_micro=countdown.target_micro,
        )  # fmt: skip
    )
    return SessionRecord(
        id=session_id, user_id=user_id, status=SessionStatus.active, started_at=now,
        ends_at=countdown.ends_at, duration_s=duration, skipped_s=0, rate_micro_per_hour=rate,
        target_micro=countdown.target_micro, completed_at=None,
    )  # fmt: skip


async def create_quote(
    uow: UnitOfWork, user_id: UUID, seconds: int, settings: MiningSettings,
    now: datetime | None = None,
) -> Quote:  # fmt: skip
    """Price skipping `seconds` of the running session; valid for `quote_ttl_s`."""
    now = now or utcnow()
    if seconds <= 0:
        raise InvalidAccelerationSeconds(f"seconds must be at least 1, got {seconds}.")
    record = await repo.active_session(uow.session, user_id)
    if record is None or record.countdown.is_due(now):
        raise NoActiveSession("Start a mining session first.")
    remaining = record.countdown.remaining_s(now)
    if seconds > remaining:
        raise AccelerationExceedsRemaining(
            f"The session has {remaining} s left.", remaining_s=remaining
        )
    price = quote_price_minor(
        seconds, price_per_hour_minor=settings.price_per_hour_minor,
        min_minor=settings.min_accel_minor,
    )  # fmt: skip
    quote = Quote(
        id=new_id(), user_id=user_id, session_id=record.id, seconds=seconds, price_minor=price,
        valid_until=now + timedelta(seconds=settings.quote_ttl_s), used_by_payment_id=None,
    )  # fmt: skip
    await repo.insert_quote(
        uow.session, quote_id=quote.id, user_id=user_id, session_id=record.id, seconds=seconds,
        price_minor=price, created_at=now, valid_until=quote.valid_until,
    )  # fmt: skip
    return quote


async def publish_completed(uow: UnitOfWork, record: SessionRecord) -> None:
    """MiningCompleted for a session this transaction just completed (the ledger credits it)."""
    if record.target_micro <= 0:
        # A zero rate (R_BASE = 0, no deposits) earns nothing: there is nothing to credit.
        log.warning("mining_completed_without_points", session_id=str(record.id))
        return
    await uow.publish(
        MiningCompleted(
            user_id=record.user_id,
            session_id=record.id,
            points_micro=record.target_micro,
            completed_at=record.completed_at or record.ends_at,
        )  # fmt: skip
    )


async def settle_due_for_user(uow: UnitOfWork, user_id: UUID, now: datetime) -> None:
    done = await repo.complete_due_for_user(uow.session, user_id, now)
    if done is not None:
        await publish_completed(uow, done)


async def settle_due(uow: UnitOfWork, now: datetime, limit: int) -> int:
    """The scheduler's batch: complete due sessions, one MiningCompleted each."""
    done = await repo.complete_due(uow.session, now, limit)
    for record in done:
        await publish_completed(uow, record)
    return len(done)


# --- projections of other services' events ----------------------------------------------------


async def account_registered(uow: UnitOfWork, user_id: UUID) -> None:
    await repo.mark_registered(uow.session, user_id)


async def account_activated(uow: UnitOfWork, user_id: UUID) -> None:
    await repo.mark_active(uow.session, user_id)


async def deposits_changed(uow: UnitOfWork, user_id: UUID, total: int, booked_at: datetime) -> None:
    """The ledger's new total deposits (after a credit or a refund): the next session's rate."""
    await repo.set_deposits(uow.session, user_id, total, booked_at)
