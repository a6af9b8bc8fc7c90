"""Kafka consumers of the mining service (`mining-worker`).

- `auth.user.v1` UserRegistered / UserActivated → the account-status projection (who may mine);
- `ledger.account.v1` MoneyCredited / MoneyDebited → total deposits (the next session's rate);
- `payments.payment.v1` PaymentSucceeded (purpose=acceleration) → apply or reject the quote.

The inbox dedupes redelivered events; the per-payment decision and the booking time of the
deposits total dedupe the same fact arriving under another event id.
"""

from __future__ import annotations

from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import (
    MoneyCredited,
    MoneyDebited,
    PaymentSucceeded,
    UserActivated,
    UserRegistered,
)
from scifikpi_common.messaging import EventConsumers

from mining import handlers
from mining.models import inbox
from mining.settings import get_settings

consumers = EventConsumers(service="mining", inbox=inbox)


@consumers.handler(UserRegistered)
async def on_user_registered(event: UserRegistered, uow: UnitOfWork) -> None:
    await handlers.account_registered(uow, event.user_id)


@consumers.handler(UserActivated)
async def on_user_activated(event: UserActivated, uow: UnitOfWork) -> None:
    await handlers.account_activated(uow, event.user_id)


@consumers.handler(MoneyCredited)
async def on_money_credited(event: MoneyCredited, uow: UnitOfWork) -> None:
    await handlers.deposits_changed(
        uow, event.user_id, event.total_deposits_usd_minor, event.booked_at
    )


@consumers.handler(MoneyDebited)
async def on_money_debited(event: MoneyDebited, uow: UnitOfWork) -> None:
    await handlers.deposits_changed(
        uow, event.user_id, event.total_deposits_usd_minor, event.booked_at
    )


@consumers.handler(PaymentSucceeded)
async def on_payment_succeeded(event: PaymentSucceeded, uow: UnitOfWork) -> None:
    """Acceleration payments only; deposits reach mining through the ledger's totals."""
    await handlers.apply_payment(uow, event, get_settings())
