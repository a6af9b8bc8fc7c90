"""Status changes: every one goes through `domain.transition` under a row lock, and the event
tied to the new status goes to the outbox in the same transaction. Also the webhook inbox."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import orjson
from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import PaymentFailed, PaymentRefunded, PaymentSucceeded
from scifikpi_common.logging import get_logger

from payments.domain import PaymentNotFound, PaymentStatus, Transition, transition
from payments.metrics import LATE_SUCCESS
from payments.models import Payment
from payments.providers.base import ProviderPayment
from payments.repository import PaymentRepository, ProviderEventRepository
from payments.webhooks import IncomingEvent

log = get_logger(__name__)

ApplyOutcome = Literal["applied", "unchanged", "stale", "conflict", "mismatch"]


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


async def apply_observation(
    uow: UnitOfWork, payment: Payment, snapshot: ProviderPayment, *, source: str
) -> tuple[ApplyOutcome, Transition | None]:
    """Apply what the provider says about a payment (locked by the caller).

    The provider object must be this payment's: same metadata id (when present), same amount and
    currency, same provider id once we know it. Anything else changes nothing and is logged as
    an error (it would mean a tampered event, a bug, or a second provider object).
    """
    context = {
        "payment_id": str(payment.id),
        "provider": payment.provider,
        "provider_payment_id": snapshot.provider_payment_id,
        "source": source,
    }
    if snapshot.payment_id is not None and snapshot.payment_id != payment.id:
        log.error("provider_object_mismatch", reason="metadata names another payment", **context)
        return "mismatch", None
    if snapshot.amount_minor != payment.amount_minor or snapshot.currency != payment.currency:
        log.error(
            "provider_object_mismatch",
            reason="amount or currency differs",
            provider_amount_minor=snapshot.amount_minor,
            provider_currency=snapshot.currency,
            **context,
        )
        return "mismatch", None
    if payment.provider_payment_id is None:
        payment.provider_payment_id = snapshot.provider_payment_id
    elif payment.provider_payment_id != snapshot.provider_payment_id:
        log.error(
            "provider_object_mismatch",
            reason="a second provider object for one payment",
            known_provider_payment_id=payment.provider_payment_id,
            **context,
        )
        return "mismatch", None
    payment.provider_status = snapshot.raw_status
    if snapshot.client_secret and not payment.client_secret:
        payment.client_secret = snapshot.client_secret
    if snapshot.confirmation_url and not payment.confirmation_url:
        payment.confirmation_url = snapshot.confirmation_url
    payment.updated_at = utcnow()
    t = await enter(uow, payment, snapshot.status, reason=snapshot.failure_reason, source=source)
    if not t.changed and snapshot.failure_reason and payment.status == PaymentStatus.pending:
        payment.failure_reason = snapshot.failure_reason  # e.g. a declined attempt, still open
    if t.kind == "conflict" and snapshot.status is PaymentStatus.succeeded:
        LATE_SUCCESS.labels(payment.provider).inc()
        log.error(
            "provider_succeeded_after_final",
            status=payment.status,
            provider_status=snapshot.raw_status,
            **context,
        )
    elif t.kind == "conflict":
        log.warning(
            "payment_state_conflict",
            status=payment.status,
            provider_says=str(snapshot.status),
            provider_status=snapshot.raw_status,
            **context,
        )
    return t.kind, t


async def enter(
    uow: UnitOfWork,
    payment: Payment,
    observed: PaymentStatus,
    *,
    reason: str | None = None,
    source: str = "internal",
) -> Transition:
    """Move a locked payment to `observed` if the state machine allows it, emitting the event tied
    to the new status in this transaction."""
    t = transition(PaymentStatus(payment.status), observed)
    if not t.changed:
        return t
    now = utcnow()
    payment.status = t.after.value
    payment.updated_at = now
    common = {
        "user_id": payment.user_id,
        "payment_id": payment.id,
        "purpose": payment.purpose,
        "provider": payment.provider,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "quote_id": payment.quote_id,
    }
    if t.after is PaymentStatus.succeeded:
        payment.succeeded_at = payment.finished_at = now
        payment.failure_reason = None
        await uow.publish(PaymentSucceeded(**common, succeeded_at=now))
    elif t.after in (PaymentStatus.failed, PaymentStatus.canceled):
        payment.finished_at = now
        payment.failure_reason = reason or t.after.value
        await uow.publish(PaymentFailed(**common, reason=payment.failure_reason, failed_at=now))
    elif t.after is PaymentStatus.refunded:
        payment.refunded_at = now
        await uow.publish(PaymentRefunded(**common, reason=reason or "refunded", refunded_at=now))
    log.info(
        "payment_status_changed",
        payment_id=str(payment.id),
        provider=payment.provider,
        purpose=payment.purpose,
        before=t.before.value,
        after=t.after.value,
        source=source,
    )
    return t


async def store_provider_event(uow: UnitOfWork, event: IncomingEvent) -> bool:
    """Keep a verified webhook once per (provider, event id); True if it is new."""
    return await ProviderEventRepository(uow.session).store(
        {
            "provider": event.provider,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "object_id": event.object_id,
            "payment_id": event.payment_id,
            "payload": event.raw or orjson.dumps(event.payload).decode(),
        }
    )
