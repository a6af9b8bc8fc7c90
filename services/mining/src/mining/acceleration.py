"""Applying a paid acceleration (`PaymentSucceeded`, purpose=acceleration), or rejecting it.

One unit of work: the quote is locked `FOR UPDATE`, then the session. Every payment gets exactly
one decision (`accelerations`, keyed by payment id): applied (`MiningAccelerated`, and
`MiningCompleted` if nothing remains) or rejected (`AccelerationRejected`, which payments
refunds). Paid money never vanishes.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import AccelerationRejected, MiningAccelerated, PaymentSucceeded
from scifikpi_common.logging import get_logger
from scifikpi_common.money import UnknownCurrency, to_usd_minor

from mining import repository as repo
from mining.domain import RejectReason, SessionStatus
from mining.handlers import publish_completed
from mining.repository import Quote
from mining.settings import MiningSettings

log = get_logger(__name__)

#: AccelerationRejected needs a quote id; a payment that names none (payments forbids that) gets
#: the nil UUID.
NO_QUOTE = UUID(int=0)


class Rejected(Exception):
    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


async def apply_payment(
    uow: UnitOfWork, event: PaymentSucceeded, settings: MiningSettings,
    now: datetime | None = None,
) -> str:  # fmt: skip
    """Returns the outcome: `applied`, `rejected`, `duplicate` or `ignored`."""
    if event.purpose != "acceleration":
        return "ignored"
    now = now or utcnow()
    s = uow.session
    if await repo.decided(s, event.payment_id):
        return "duplicate"
    quote = await repo.lock_quote(s, event.quote_id) if event.quote_id else None
    try:
        if quote is not None and quote.used_by_payment_id == event.payment_id:
            return "duplicate"  # applied already; a second apply changes nothing
        return await _apply(uow, event, quote, settings, now)
    except Rejected as rejected:
        return await _reject(uow, event, rejected.reason)


async def _apply(
    uow: UnitOfWork, event: PaymentSucceeded, quote: Quote | None, settings: MiningSettings,
    now: datetime,
) -> str:  # fmt: skip
    _check_quote(event, quote, settings)
    assert quote is not None
    s = uow.session
    record = await repo.lock_session(s, quote.session_id)
    if (
        record is None
        or record.status != SessionStatus.active
        or record.countdown.ends_at <= event.succeeded_at
    ):
        raise Rejected(RejectReason.session_ended)
    applied, countdown = record.countdown.skip(quote.seconds, now)
    if applied <= 0:  # paid while running, but it ran out before we got here
        raise Rejected(RejectReason.session_ended)
    await repo.set_skipped(s, record.id, countdown)
    await repo.use_quote(s, quote.id, event.payment_id, now)
    if not await repo.record_decision(
        s, payment_id=event.payment_id, user_id=event.user_id, quote_id=quote.id,
        outcome="applied", seconds_applied=applied,
    ):  # fmt: skip
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
        )  # fmt: skip
    )
    log.info("acceleration_applied", session_id=str(record.id), seconds=applied)
    if countdown.is_due(now):
        done = await repo.complete(s, record.id, now)
        if done is not None:
            await publish_completed(uow, done)
    return "applied"


def _check_quote(event: PaymentSucceeded, quote: Quote | None, settings: MiningSettings) -> None:
    if quote is None:
        raise Rejected(RejectReason.quote_not_found)
    if quote.user_id != event.user_id:
        raise Rejected(RejectReason.quote_user_mismatch)
    if quote.used_by_payment_id is not None:
        raise Rejected(RejectReason.quote_used)
    if event.succeeded_at > quote.valid_until:
        raise Rejected(RejectReason.quote_expired)
    try:
        usd = to_usd_minor(event.amount_minor, event.currency, settings.fx_rates)
    except UnknownCurrency:
        raise Rejected(RejectReason.unsupported_currency) from None
    if usd < quote.price_minor:
        raise Rejected(RejectReason.amount_below_price)


async def _reject(uow: UnitOfWork, event: PaymentSucceeded, reason: RejectReason) -> str:
    quote_id = event.quote_id or NO_QUOTE
    if not await repo.record_decision(
        uow.session, payment_id=event.payment_id, user_id=event.user_id,
        quote_id=event.quote_id, outcome="rejected", reason=reason.value,
    ):  # fmt: skip
        return "duplicate"  # a concurrent copy of this payment decided first
    await uow.publish(
        AccelerationRejected(
            user_id=event.user_id,
            payment_id=event.payment_id,
            quote_id=quote_id,
            reason=reason.value,
            rejected_at=utcnow(),
        )  # fmt: skip
    )
    log.warning("acceleration_rejected", payment_id=str(event.payment_id), reason=reason.value)
    return "rejected"
