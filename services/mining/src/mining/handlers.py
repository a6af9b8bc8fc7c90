"""Use cases of the mining service: each runs in the caller's unit of work and never commits.

The API route, the consumer runner (inbox claim + handler + one commit) and the scheduler's loop
own the transaction, so a state change and the events it emits commit together or not at all.
Reads never write: a session past its end that the scheduler has not settled yet is *shown*
settled (`SessionRecord.at`), and stays in the table as it is until the scheduler completes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import (
    AccelerationRejected,
    MiningAccelerated,
    MiningCompleted,
    MiningStarted,
    PaymentSucceeded,
)
from scifikpi_common.ids import new_id
from scifikpi_common.logging import get_logger
from scifikpi_common.money import UnknownCurrency, to_usd_minor
from scifikpi_common.pagination import decode_cursor, encode_cursor
from scifikpi_common.security import Principal

from mining.domain import (
    AccelerationExceedsRemaining,
    AccountNotActive,
    AccountStatus,
    InvalidAccelerationSeconds,
    MiningForecast,
    MiningSessionActive,
    NoActiveSession,
    PaymentOutcome,
    Quote,
    RejectReason,
    SessionHistory,
    SessionRecord,
    SessionStatus,
    forecast,
    new_session,
    quote_price_minor,
)
from mining.repository import AccountRepository, QuoteRepository, SessionRepository
from mining.settings import MiningSettings

log = get_logger(__name__)

#: AccelerationRejected needs a quote id; a payment that names none (payments forbids that) gets
#: the nil UUID.
NO_QUOTE = UUID(int=0)


# --- sessions -----------------------------------------------------------------------------------


async def may_mine(uow: UnitOfWork, principal: Principal) -> bool:
    """Activation only moves one way, so either witness admits: the projection of auth.user.v1
    or the access token's `status` claim (UserActivated may still be on its way)."""
    if principal.is_active:
        return True
    account = await AccountRepository(uow.session).get(principal.user_id)
    return account is not None and account.status == AccountStatus.active


async def start_session(
    uow: UnitOfWork, principal: Principal, settings: MiningSettings, now: datetime | None = None
) -> SessionRecord:
    """Start a session at the rate today's deposits give, frozen for the session's life."""
    now = now or utcnow()
    if not await may_mine(uow, principal):
        raise AccountNotActive("Pay the registration deposit first; then you can mine.")
    user_id = principal.user_id
    # A session past its end but not yet settled by the scheduler must not block a new start.
    await _complete_due_for_user(uow, user_id, now)
    account = await AccountRepository(uow.session).get(user_id)
    rate = settings.mining_rate_micro_per_hour(account.total_deposits_usd_minor if account else 0)
    record = new_session(
        new_id(), user_id, now=now, duration_s=settings.session_duration_s, rate_micro_per_hour=rate
    )
    if not await SessionRepository(uow.session).add(record):
        raise MiningSessionActive("Wait for the running session to end (or accelerate it).")
    await uow.publish(
        MiningStarted(
            user_id=user_id,
            session_id=record.id,
            started_at=now,
            ends_at=record.ends_at,
            duration_s=record.duration_s,
            rate_micro_per_hour=rate,
            target_points_micro=record.target_micro,
        )
    )
    return record


async def _publish_completed(uow: UnitOfWork, record: SessionRecord) -> None:
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
        )
    )


async def _complete_due_for_user(uow: UnitOfWork, user_id: UUID, now: datetime) -> None:
    done = await SessionRepository(uow.session).complete_due_for_user(user_id, now)
    if done is not None:
        await _publish_completed(uow, done)


async def complete_due_sessions(uow: UnitOfWork, now: datetime, limit: int) -> int:
    """The scheduler's batch: complete up to `limit` due sessions, one MiningCompleted each."""
    done = await SessionRepository(uow.session).complete_due(now, limit)
    for record in done:
        await _publish_completed(uow, record)
    return len(done)


# --- reads --------------------------------------------------------------------------------------


async def session_status(uow: UnitOfWork, user_id: UUID) -> SessionRecord | None:
    """The user's active session (maybe past its end, not yet settled), or None when idle."""
    return await SessionRepository(uow.session).active(user_id)


async def session_history(
    uow: UnitOfWork, user_id: UUID, *, cursor: str | None, limit: int
) -> SessionHistory:
    """The user's sessions, newest first, keyset-paged on (started_at, id)."""
    after = decode_cursor(cursor, UUID) if cursor else None
    rows = await SessionRepository(uow.session).history(user_id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].started_at, rows[-1].id) if more and rows else None
    return SessionHistory(items=rows, next_cursor=next_cursor)


async def mining_forecast(
    uow: UnitOfWork,
    user_id: UUID,
    settings: MiningSettings,
    *,
    days: int,
    extra_deposit_minor: int,
    now: datetime,
) -> MiningForecast:
    """The running session's exact end amount, and the estimate of the next `days` at the rate
    the deposits (plus `extra_deposit_minor`) give."""
    account = await AccountRepository(uow.session).get(user_id)
    deposits = account.total_deposits_usd_minor if account else 0
    rate = settings.mining_rate_micro_per_hour(deposits + extra_deposit_minor)
    record = await SessionRepository(uow.session).active(user_id)
    estimate = forecast(
        now,
        days=days,
        duration_s=settings.session_duration_s,
        rate_micro_per_hour=rate,
        current=record.countdown if record else None,
    )
    return MiningForecast(now=now, days=days, current=record, estimate=estimate)


# --- acceleration -------------------------------------------------------------------------------


async def create_quote(
    uow: UnitOfWork,
    user_id: UUID,
    seconds: int,
    settings: MiningSettings,
    now: datetime | None = None,
) -> Quote:
    """Price skipping `seconds` of the running session; valid for `quote_ttl_s`."""
    now = now or utcnow()
    if seconds <= 0:
        raise InvalidAccelerationSeconds(f"seconds must be at least 1, got {seconds}.")
    record = await SessionRepository(uow.session).active(user_id)
    if record is None or record.countdown.is_due(now):
        raise NoActiveSession("Start a mining session first.")
    remaining = record.countdown.remaining_s(now)
    if seconds > remaining:
        raise AccelerationExceedsRemaining(
            f"The session has {remaining} s left.", remaining_s=remaining
        )
    price = quote_price_minor(
        seconds,
        price_per_hour_minor=settings.price_per_hour_minor,
        min_minor=settings.min_accel_minor,
    )
    quote = Quote(
        id=new_id(),
        user_id=user_id,
        session_id=record.id,
        seconds=seconds,
        price_minor=price,
        valid_until=now + timedelta(seconds=settings.quote_ttl_s),
        used_by_payment_id=None,
    )
    await QuoteRepository(uow.session).add(quote, created_at=now)
    return quote


async def prune_quotes(uow: UnitOfWork, expired_before: datetime) -> int:
    """Delete unused quotes that expired before `expired_before`; returns how many."""
    return await QuoteRepository(uow.session).prune(expired_before)


class _Rejected(Exception):
    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


async def apply_payment(
    uow: UnitOfWork,
    event: PaymentSucceeded,
    settings: MiningSettings,
    now: datetime | None = None,
) -> PaymentOutcome:
    """Apply a paid acceleration (`PaymentSucceeded`, purpose=acceleration), or reject it.

    The quote is locked `FOR UPDATE`, then the session. Every payment gets exactly one decision
    (`accelerations`, keyed by payment id): applied (`MiningAccelerated`, and `MiningCompleted`
    if nothing remains) or rejected (`AccelerationRejected`, which payments refunds). Paid money
    never vanishes."""
    if event.purpose != "acceleration":
        return PaymentOutcome.ignored
    now = now or utcnow()
    quotes = QuoteRepository(uow.session)
    if await quotes.decided(event.payment_id):
        return PaymentOutcome.duplicate
    quote = await quotes.lock(event.quote_id) if event.quote_id else None
    try:
        if quote is not None and quote.used_by_payment_id == event.payment_id:
            return PaymentOutcome.duplicate  # applied already; a second apply changes nothing
        return await _apply(uow, event, _checked(event, quote, settings), now)
    except _Rejected as rejected:
        return await _reject(uow, event, rejected.reason)


def _checked(event: PaymentSucceeded, quote: Quote | None, settings: MiningSettings) -> Quote:
    """The quote this payment pays, or `_Rejected` with the reason it does not."""
    if quote is None:
        raise _Rejected(RejectReason.quote_not_found)
    if quote.user_id != event.user_id:
        raise _Rejected(RejectReason.quote_user_mismatch)
    if quote.used_by_payment_id is not None:
        raise _Rejected(RejectReason.quote_used)
    if event.succeeded_at > quote.valid_until:
        raise _Rejected(RejectReason.quote_expired)
    try:
        usd = to_usd_minor(event.amount_minor, event.currency, settings.fx_rates)
    except UnknownCurrency:
        raise _Rejected(RejectReason.unsupported_currency) from None
    if usd < quote.price_minor:
        raise _Rejected(RejectReason.amount_below_price)
    return quote


async def _apply(
    uow: UnitOfWork, event: PaymentSucceeded, quote: Quote, now: datetime
) -> PaymentOutcome:
    sessions = SessionRepository(uow.session)
    record = await sessions.lock(quote.session_id)
    if (
        record is None
        or record.status != SessionStatus.active
        or record.countdown.ends_at <= event.succeeded_at
    ):
        raise _Rejected(RejectReason.session_ended)
    applied, countdown = record.countdown.skip(quote.seconds, now)
    if applied <= 0:  # paid while running, but it ran out before we got here
        raise _Rejected(RejectReason.session_ended)
    await sessions.set_skipped(record.id, countdown)
    quotes = QuoteRepository(uow.session)
    await quotes.use(quote.id, event.payment_id, now)
    if not await quotes.record_applied(
        payment_id=event.payment_id,
        user_id=event.user_id,
        quote_id=quote.id,
        seconds_applied=applied,
    ):
        raise RuntimeError("acceleration decided concurrently under the quote lock")
    await uow.publish(
        MiningAccelerated(
            user_id=event.user_id,
            session_id=record.id,
            payment_id=event.payment_id,
            quote_id=quote.id,
            seconds_applied=applied,
            skipped_s=countdown.skipped_s,
            ends_at=countdown.ends_at,
            accelerated_at=now,
        )
    )
    log.info("acceleration_applied", session_id=str(record.id), seconds=applied)
    if countdown.is_due(now):
        done = await sessions.complete(record.id, now)
        if done is not None:
            await _publish_completed(uow, done)
    return PaymentOutcome.applied


async def _reject(uow: UnitOfWork, event: PaymentSucceeded, reason: RejectReason) -> PaymentOutcome:
    if not await QuoteRepository(uow.session).record_rejected(
        payment_id=event.payment_id, user_id=event.user_id, quote_id=event.quote_id, reason=reason
    ):
        return PaymentOutcome.duplicate  # a concurrent copy of this payment decided first
    await uow.publish(
        AccelerationRejected(
            user_id=event.user_id,
            payment_id=event.payment_id,
            quote_id=event.quote_id or NO_QUOTE,
            reason=reason.value,
            rejected_at=utcnow(),
        )
    )
    log.warning("acceleration_rejected", payment_id=str(event.payment_id), reason=reason.value)
    return PaymentOutcome.rejected


# --- projections of other services' events ------------------------------------------------------


async def account_registered(uow: UnitOfWork, user_id: UUID) -> None:
    await AccountRepository(uow.session).mark_registered(user_id)


async def account_activated(uow: UnitOfWork, user_id: UUID) -> None:
    await AccountRepository(uow.session).mark_active(user_id)


async def deposits_changed(uow: UnitOfWork, user_id: UUID, total: int, booked_at: datetime) -> None:
    """The ledger's new total deposits (after a credit or a refund): the next session's rate."""
    await AccountRepository(uow.session).set_deposits(user_id, total, booked_at)
