"""Kafka consumers of the payments service (`payments-worker`).

- `auth.user.v1` UserRegistered / UserActivated -> the account-status projection that decides who
  may pay a registration deposit (pending_payment) and who may top up or accelerate (active);
- `mining.session.v1` AccelerationRejected -> the full refund of that acceleration payment. The
  consumer only records the refund request (in its inbox transaction); the scheduler calls the
  provider, retrying until it answers, so a provider outage loses nothing.
"""

from __future__ import annotations

from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import AccelerationRejected, UserActivated, UserRegistered
from scifikpi_common.logging import get_logger
from scifikpi_common.messaging import EventConsumers

from payments import handlers
from payments.domain import FINAL_FAILURES, PaymentNotFound, PaymentNotRefundable, PaymentStatus
from payments.models import inbox
from payments.repository import PaymentRepository

log = get_logger(__name__)

consumers = EventConsumers(service="payments", inbox=inbox)


@consumers.handler(UserRegistered)
async def on_user_registered(event: UserRegistered, uow: UnitOfWork) -> None:
    """A new account waits for its registration deposit."""
    await handlers.account_registered(uow, event.user_id)


@consumers.handler(UserActivated)
async def on_user_activated(event: UserActivated, uow: UnitOfWork) -> None:
    """The account is active: top-ups and acceleration payments are allowed."""
    await handlers.account_activated(uow, event.user_id)


class RefundNotYetPossible(Exception):
    """The payment is not succeeded yet: retried (then dead-lettered) by the consumer wrapper."""


@consumers.handler(AccelerationRejected)
async def on_acceleration_rejected(event: AccelerationRejected, uow: UnitOfWork) -> None:
    """Mining could not apply a paid acceleration: refund the payment in full."""
    context = {"payment_id": str(event.payment_id), "user_id": str(event.user_id)}
    payment = await PaymentRepository(uow.session).get(event.payment_id)
    if payment is None or payment.user_id != event.user_id:
        log.error("acceleration_rejected_unknown_payment", **context)
        return
    if payment.purpose != "acceleration":
        log.error("acceleration_rejected_wrong_purpose", purpose=payment.purpose, **context)
        return
    status = PaymentStatus(payment.status)
    if status in FINAL_FAILURES:
        log.info("acceleration_rejected_nothing_to_refund", status=status.value, **context)
        return
    try:
        await handlers.request_refund(
            uow,
            event.payment_id,
            reason=f"acceleration rejected: {event.reason}",
            requested_by="mining:AccelerationRejected",
        )
    except PaymentNotFound:
        log.error("acceleration_rejected_unknown_payment", **context)
    except PaymentNotRefundable as exc:
        raise RefundNotYetPossible(f"payment is {payment.status}") from exc
