"""Kafka consumers of the mining service (`mining-worker`).

- `auth.user.v1` UserRegistered / UserActivated → the account-status projection (who may mine);
- `ledger.account.v1` MoneyCredited / MoneyDebited → total deposits (the next session's rate);
- `payments.payment.v1` PaymentSucceeded (purpose=acceleration) → apply or reject the quote.

Every handler is a batch handler: a poll's run of one event type is claimed in the inbox and
handled in one transaction (the per-message path stays the fallback for a failing run), because
per-message transactions and offset commits made this worker the acceleration chain's bottleneck
(`python -m scifikpi_tools.bench.cabinet`: p50 4.8 s at 20 flows/s with handlers one by one).
Each handler gives a batch the result of its events one by one, in order.

The inbox dedupes redelivered events; the per-payment decision and the booking time of the
deposits total dedupe the same fact arriving under another event id.
"""

from __future__ import annotations

from typing import Any

from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import (
    Envelope,
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


@consumers.batch_handler(UserRegistered)
async def on_user_registered(
    items: list[tuple[UserRegistered, Envelope[dict[str, Any]]]], uow: UnitOfWork
) -> None:
    for event, _ in items:
        await handlers.account_registered(uow, event.user_id)


@consumers.batch_handler(UserActivated)
async def on_user_activated(
    items: list[tuple[UserActivated, Envelope[dict[str, Any]]]], uow: UnitOfWork
) -> None:
    for event, _ in items:
        await handlers.account_activated(uow, event.user_id)


@consumers.batch_handler(MoneyCredited, MoneyDebited)
async def on_deposits_changed(
    items: list[tuple[MoneyCredited | MoneyDebited, Envelope[dict[str, Any]]]], uow: UnitOfWork
) -> None:
    """A credit or a refund: the ledger's new total deposits (the booking time orders them)."""
    for event, _ in items:
        await handlers.deposits_changed(
            uow, event.user_id, event.total_deposits_usd_minor, event.booked_at
        )


@consumers.batch_handler(PaymentSucceeded)
async def on_payment_succeeded(
    items: list[tuple[PaymentSucceeded, Envelope[dict[str, Any]]]], uow: UnitOfWork
) -> None:
    """Acceleration payments only; deposits reach mining through the ledger's totals."""
    settings = get_settings()
    for event, _ in items:
        await handlers.apply_payment(uow, event, settings)
