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
from scifikpi_common.messaging import EventConsumers

from payments import handlers
from payments.domain import PaymentNotRefundable
from payments.models import inbox

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
    try:
        await handlers.refund_rejected_acceleration(
            uow, event.payment_id, event.user_id, event.reason
        )
    except PaymentNotRefundable as exc:
        raise RefundNotYetPossible(exc.detail) from exc
