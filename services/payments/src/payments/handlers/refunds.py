"""Refunds: requested once per payment, executed (and retried) against the provider; a succeeded
refund refunds the payment."""

from __future__ import annotations

from uuid import UUID

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.ids import new_id
from scifikpi_common.logging import get_logger

from payments.domain import PaymentNotFound, PaymentNotRefundable, PaymentStatus, Transition
from payments.handlers.status import enter, locked_payment
from payments.models import Payment, Refund
from payments.providers.base import ProviderRefund
from payments.repository import PaymentRepository, RefundRepository, notify_work

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
    if payment.status != PaymentStatus.succeeded:
        raise PaymentNotRefundable(
            f"Only succeeded payments can be refunded; this one is {payment.status}.",
            payment_status=payment.status,
        )
    now = utcnow()
    refund = await refunds.insert_if_absent(
        {
            "id": new_id(),
            "payment_id": payment_id,
            "reason": reason[:500],
            "requested_by": requested_by[:200],
            "status": "requested",
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
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


async def claim_refund(uow: UnitOfWork, refund_id: UUID, lease_s: float) -> bool:
    return await RefundRepository(uow.session).claim(refund_id, lease_s)


async def refund_result(
    uow: UnitOfWork, refund_id: UUID, result: ProviderRefund, *, retry_in_s: float
) -> tuple[Refund, Payment, Transition | None]:
    """Record what the provider said about a refund; a succeeded refund refunds the payment."""
    refunds = RefundRepository(uow.session)
    refund = await refunds.get(refund_id, for_update=True)
    assert refund is not None
    payment = await locked_payment(PaymentRepository(uow.session), refund.payment_id)
    now = utcnow()
    if result.provider_refund_id:
        refund.provider_refund_id = result.provider_refund_id
    refund.updated_at = now
    t: Transition | None = None
    context = {"payment_id": str(payment.id), "refund_id": str(refund.id)}
    if result.status == "succeeded":
        if refund.status == "requested":
            refund.status = "succeeded"
            refund.completed_at = now
            refund.last_error = None
        t = await enter(uow, payment, PaymentStatus.refunded, reason=refund.reason, source="refund")
        log.info("refund_succeeded", **context)
    elif result.status == "failed":
        refund.status = "failed"
        refund.completed_at = now
        refund.last_error = (
            f"provider refused the refund: {result.failure_reason or result.raw_status}"
        )
        log.error("refund_failed", reason=refund.last_error, **context)
    else:
        refund.last_error = f"provider refund {result.raw_status}"
        await refunds.retry_later(refund.id, error=refund.last_error, retry_in_s=retry_in_s)
        await uow.session.refresh(refund)
        log.info("refund_pending_at_provider", **context)
    return refund, payment, t


async def refund_attempt_failed(
    uow: UnitOfWork, refund_id: UUID, error: str, *, retry_in_s: float
) -> None:
    await RefundRepository(uow.session).retry_later(refund_id, error=error, retry_in_s=retry_in_s)
    log.warning("refund_attempt_failed", refund_id=str(refund_id), error=error)


async def get_refund_for_payment(uow: UnitOfWork, payment_id: UUID) -> Refund | None:
    return await RefundRepository(uow.session).get_for_payment(payment_id)
