"""Status changes: every one goes through `domain.transition` under a row lock, and the event
tied to the new status goes to the outbox in the same transaction. Also the reconciliation queue
that re-checks unfinished payments."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import PaymentFailed, PaymentRefunded, PaymentSucceeded
from scifikpi_common.logging import get_logger

from payments.domain import (
    FINAL_FAILURES,
    ApplyOutcome,
    Payment,
    PaymentNotFound,
    PaymentStatus,
    Transition,
    transition,
)
from payments.metrics import LATE_SUCCESS
from payments.providers.base import ProviderPayment
from payments.repository import PaymentRepository
from payments.settings import PaymentsSettings

log = get_logger(__name__)


async def locked_payment(payments: PaymentRepository, payment_id: UUID) -> Payment:
    payment = await payments.get(payment_id, for_update=True)
    if payment is None:
        raise PaymentNotFound(f"payment {payment_id} does not exist")
    return payment


async def lock_payment(uow: UnitOfWork, payment_id: UUID) -> Payment | None:
    return await PaymentRepository(uow.session).get(payment_id, for_update=True)


async def lock_payment_by_provider_id(
    uow: UnitOfWork, provider: str, provider_payment_id: str
) -> Payment | None:
    return await PaymentRepository(uow.session).get_by_provider_id(
        provider, provider_payment_id, for_update=True
    )


def _mismatch(payment: Payment, snapshot: ProviderPayment) -> str | None:
    """Why the provider object is not this payment's, if it is not."""
    if snapshot.payment_id is not None and snapshot.payment_id != payment.id:
        return "metadata names another payment"
    if snapshot.amount_minor != payment.amount_minor or snapshot.currency != payment.currency:
        return "amount or currency differs"
    known = payment.provider_payment_id
    if known is not None and known != snapshot.provider_payment_id:
        return "a second provider object for one payment"
    return None


async def apply_observation(
    uow: UnitOfWork, payment: Payment, snapshot: ProviderPayment, *, source: str
) -> tuple[ApplyOutcome, Transition | None, Payment]:
    """Apply what the provider says about a payment (locked by the caller); returns the payment
    as it now is.

    The provider object must be this payment's: same metadata id (when present), same amount and
    currency, same provider id once we know it. Anything else changes nothing and is logged as
    an error (it would mean a tampered event, a bug, or a second provider object).
    """
    context = {
        "payment_id": str(payment.id),
        "provider": str(payment.provider),
        "provider_payment_id": snapshot.provider_payment_id,
        "source": source,
    }
    reason = _mismatch(payment, snapshot)
    if reason is not None:
        extra = {
            "provider_amount_minor": snapshot.amount_minor,
            "provider_currency": snapshot.currency,
            "known_provider_payment_id": payment.provider_payment_id,
        }
        log.error("provider_object_mismatch", reason=reason, **extra, **context)
        return "mismatch", None, payment
    payment = replace(
        payment,
        provider_payment_id=snapshot.provider_payment_id,
        provider_status=snapshot.raw_status,
        client_secret=payment.client_secret or snapshot.client_secret,
        confirmation_url=payment.confirmation_url or snapshot.confirmation_url,
        updated_at=utcnow(),
    )
    t, payment = await _enter(
        uow, payment, snapshot.status, reason=snapshot.failure_reason, source=source
    )
    if not t.changed and snapshot.failure_reason and payment.status is PaymentStatus.pending:
        # e.g. a declined attempt, still open for another
        payment = replace(payment, failure_reason=snapshot.failure_reason)
    await PaymentRepository(uow.session).save_state(payment)
    if t.kind == "conflict":
        _log_conflict(payment, snapshot, context)
    return t.kind, t, payment


def _log_conflict(payment: Payment, snapshot: ProviderPayment, context: dict[str, str]) -> None:
    if snapshot.status is PaymentStatus.succeeded:
        LATE_SUCCESS.labels(payment.provider).inc()
        log.error(
            "provider_succeeded_after_final",
            status=str(payment.status),
            provider_status=snapshot.raw_status,
            **context,
        )
    else:
        log.warning(
            "payment_state_conflict",
            status=str(payment.status),
            provider_says=str(snapshot.status),
            provider_status=snapshot.raw_status,
            **context,
        )


async def enter(
    uow: UnitOfWork,
    payment: Payment,
    observed: PaymentStatus,
    *,
    reason: str | None = None,
    source: str = "internal",
) -> tuple[Transition, Payment]:
    """Move a locked payment to `observed` if the state machine allows it, emitting the event tied
    to the new status in this transaction; returns the payment as it now is."""
    t, payment = await _enter(uow, payment, observed, reason=reason, source=source)
    if t.changed:
        await PaymentRepository(uow.session).save_state(payment)
    return t, payment


async def _enter(
    uow: UnitOfWork, payment: Payment, observed: PaymentStatus, *, reason: str | None, source: str
) -> tuple[Transition, Payment]:
    """`enter` without the write: the caller saves the payment."""
    t = transition(payment.status, observed)
    if not t.changed:
        return t, payment
    now = utcnow()
    payment = payment.moved(t, at=now, reason=reason)
    common: dict[str, Any] = {
        "user_id": payment.user_id,
        "payment_id": payment.id,
        "purpose": str(payment.purpose),
        "provider": str(payment.provider),
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "quote_id": payment.quote_id,
    }
    if t.after is PaymentStatus.succeeded:
        await uow.publish(PaymentSucceeded(**common, succeeded_at=now))
    elif t.after in FINAL_FAILURES:
        await uow.publish(PaymentFailed(**common, reason=payment.failure_reason, failed_at=now))
    elif t.after is PaymentStatus.refunded:
        await uow.publish(PaymentRefunded(**common, reason=reason or "refunded", refunded_at=now))
    log.info(
        "payment_status_changed",
        payment_id=str(payment.id),
        provider=str(payment.provider),
        purpose=str(payment.purpose),
        before=t.before.value,
        after=t.after.value,
        source=source,
    )
    return t, payment


async def apply_reconciliation(
    uow: UnitOfWork, payment_id: UUID, snapshot: ProviderPayment
) -> tuple[Payment, Transition | None]:
    """What the provider said when reconciliation asked it, applied under the row lock."""
    payment = await locked_payment(PaymentRepository(uow.session), payment_id)
    _, t, payment = await apply_observation(uow, payment, snapshot, source="reconciliation")
    return payment, t


async def fail_locally(
    uow: UnitOfWork, payment_id: UUID, reason: str
) -> tuple[Payment, Transition]:
    """Fail a payment without the provider's word (it never had it, or cannot cancel it)."""
    payment = await locked_payment(PaymentRepository(uow.session), payment_id)
    t, payment = await enter(uow, payment, PaymentStatus.failed, reason=reason)
    return payment, t


async def claim_due_checks(uow: UnitOfWork, settings: PaymentsSettings) -> list[UUID]:
    """A batch of unfinished payments due for a provider re-check (each pushed back)."""
    return await PaymentRepository(uow.session).claim_due_checks(
        min_age_s=settings.reconcile_min_age_s,
        batch=settings.reconcile_batch_size,
        backoff_base_s=max(settings.reconcile_interval_s, 1.0),
        backoff_max_s=settings.reconcile_backoff_max_s,
    )
