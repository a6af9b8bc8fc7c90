"""Kafka consumers of the auth service: registration payments activate accounts."""

from __future__ import annotations

from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import PaymentSucceeded
from scifikpi_common.messaging import EventConsumers

from auth import handlers
from auth.models import inbox
from auth.settings import get_settings

consumers = EventConsumers(service="auth", inbox=inbox)


@consumers.handler(PaymentSucceeded)
async def on_payment_succeeded(event: PaymentSucceeded, uow: UnitOfWork) -> None:
    """`purpose=registration` and at least the minimum: the pending account becomes active."""
    await handlers.activate_on_payment(event, uow, get_settings().fx_rates)
