"""Refunds: requested once per payment, executed (and retried) against the provider; a succeeded
refund refunds the payment."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.ids import new_id
from scifikpi_common.logging import get_logger

from payments.domain import (
    FINAL_FAILURES,
    Payment,
    PaymentNotFound,
    PaymentNotRefundable,
    PaymentStatus,
    Purpose,
    Refund,
    RefundStatus,
    Transition,
)
from payments.handlers.status import enter, locked_payment
from payments.providers.base import ProviderRefund
from payments.repository import PaymentRepository, RefundRepository, notify_work
from payments.settings import PaymentsSettings

log = get_logger(__name__)


async def request_refund(
    uow: UnitOfWork, payment_id: UUID, *, reason: str, requested_by: str
) -> tuple[Refund, bool]:
    """Ask for the full refund of a succeeded payment; one refund per payment, so asking again
    returns the first request. Returns (refund, created now)."""
    payment = await PaymentRepository(uow.session).get(payment_id, for_update=True)
    if payment is None:
        raise PaymentNotFound("No such payment.")
    refunds = RefundRepository(uow.session)
    existing = await refunds.get_for_payment(payment_id)
    if existing is not None:
        return existing, False
    if payment.status is not PaymentStatus.succeeded:
        raise PaymentNotRefundable(
            f"Only succeeded payments can be refunded; this one is {payment.status}.",
            payment_status=str(payment.status),
        )
    refund = await refunds.insert_if_absent(
        new_id(), payment_id, reason=reason[:500], requested_by=requested_by[:200], now=utcnow()
    )
    if refund is None:  # unreachable under the payment row lock, but never trust that blindly
        existing = await refunds.get_for_payment(payment_id)
        assert existing is not None
        return existing, False
    await notify_work(uow.session)
    log.info(
        "refund_requested",
        payment_id=str(payment_id),
        refund_id=str(refund.id),
        requested_by=requested_by,
    )
    return refund, True


async def refund_rejected_acceleration(
    uow: UnitOfWork, payment_id: UUID, user_id: UUID, reason: str
) -> None:
    """Mining could not apply a paid acceleration: request the payment's full refund (the
    scheduler executes it). `PaymentNotRefundable` while the payment has not succeeded yet."""
    context = {"payment_id": str(payment_id), "user_id": str(user_id)}
    payment = await PaymentRepository(uow.session).get(payment_id)
    if payment is None or payment.user_id != user_id:
        log.error("acceleration_rejected_unknown_payment", **context)
        return
    if payment.purpose is not Purpose.acceleration:
        log.error("acceleration_rejected_wrong_purpose", purpose=str(payment.purpose), **context)
        return
    if payment.status in FINAL_FAILURES:
        log.info("acceleration_rejected_nothing_to_refund", status=str(payment.status), **context)
        return
    try:
        await request_refund(
            uow,
            payment_id,
            reason=f"acceleration rejected: {reason}",
            requested_by="mining:AccelerationRejected",
        )
    except PaymentNotFound:
        log.error("acceleration_rejected_unknown_payment", **context)


async def claim_refund(uow: UnitOfWork, refund_id: UUID, lease_s: float) -> bool:
    return await RefundRepository(uow.session).claim(refund_id, lease_s)


async def claim_due_refunds(uow: UnitOfWork, settings: PaymentsSettings) -> list[UUID]:
    """A batch of requested refunds due for a provider call, each leased for `event_lease_s`."""
    return await RefundRepository(uow.session).claim_due(
        batch=settings.event_batch_size, lease_s=settings.event_lease_s
    )


async def get_refund(uow: UnitOfWork, refund_id: UUID) -> tuple[Refund, Payment]:
    """A refund and its payment, as they are now."""
    refund = await RefundRepository(uow.session).get(refund_id)
    assert refund is not None
    payment = await PaymentRepository(uow.session).get(refund.payment_id)
    assert payment is not None
    return refund, payment


async def refund_result(
    uow: UnitOfWork, refund_id: UUID, result: ProviderRefund, *, retry_in_s: float
) -> tuple[Refund, Payment, Transition | None]:
    """Record what the provider said about a refund; a succeeded refund refunds the payment."""
    refunds = RefundRepository(uow.session)
    refund = await refunds.get(refund_id, for_update=True)
    assert refund is not None
    payment = await locked_payment(PaymentRepository(uow.session), refund.payment_id)
    now = utcnow()
    refund = replace(
        refund,
        provider_refund_id=result.provider_refund_id or refund.provider_refund_id,
        updated_at=now,
    )
    t: Transition | None = None
    context = {"payment_id": str(payment.id), "refund_id": str(refund.id)}
    if result.status == "succeeded":
        if refund.status is RefundStatus.requested:
            refund = replace(
                refund, status=RefundStatus.succeeded, completed_at=now, last_error=None
            )
        t, payment = await enter(
            uow, payment, PaymentStatus.refunded, reason=refund.reason, source="refund"
        )
        log.info("refund_succeeded", **context)
    elif result.status == "failed":
        error = f"provider refused the refund: {result.failure_reason or result.raw_status}"
        refund = replace(refund, status=RefundStatus.failed, completed_at=now, last_error=error)
        log.error("refund_failed", reason=error, **context)
    else:
        refund = replace(refund, last_error=f"provider refund {result.raw_status}")
    await refunds.save(refund)
    if result.status == "pending":  # not done at the provider yet: ask again later
        await refunds.retry_later(refund.id, error=refund.last_error, retry_in_s=retry_in_s)
        refund = await refunds.get(refund.id)
        assert refund is not None
        log.info("refund_pending_at_provider", **context)
    return refund, payment, t


async def refund_attempt_failed(
    uow: UnitOfWork, refund_id: UUID, error: str, *, retry_in_s: float
) -> None:
    await RefundRepository(uow.session).retry_later(refund_id, error=error, retry_in_s=retry_in_s)
    log.warning("refund_attempt_failed", refund_id=str(refund_id), error=error)


async def get_refund_for_payment(uow: UnitOfWork, payment_id: UUID) -> Refund | None:
    return await RefundRepository(uow.session).get_for_payment(payment_id)
