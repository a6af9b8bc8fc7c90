"""Provider events (the webhook inbox): stored once when the webhook arrives, claimed in id order
by the scheduler, applied to the payment they name under its row lock, finished or retried."""

from __future__ import annotations

from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.logging import get_logger

from payments.domain import EventOutcome, IncomingEvent, Payment, ProviderEvent, Transition
from payments.handlers.status import apply_observation, lock_payment, lock_payment_by_provider_id
from payments.providers.base import ProviderPayment
from payments.repository import PaymentRepository, ProviderEventRepository
from payments.settings import PaymentsSettings

log = get_logger(__name__)


class RetryLater(Exception):  # noqa: N818 - a signal to the caller, not a failure of the event
    """Not an error of the event: try it again after a backoff."""


async def store_provider_event(uow: UnitOfWork, event: IncomingEvent) -> bool:
    """Keep a verified webhook once per (provider, event id); True if it is new."""
    return await ProviderEventRepository(uow.session).store(event)


async def claim_due_events(uow: UnitOfWork, settings: PaymentsSettings) -> list[ProviderEvent]:
    """A batch of due events in id order, each leased for `event_lease_s`."""
    return await ProviderEventRepository(uow.session).claim_due(
        batch=settings.event_batch_size, lease_s=settings.event_lease_s
    )


async def _payment_of(
    uow: UnitOfWork, event: ProviderEvent, snapshot: ProviderPayment
) -> Payment | None:
    """The payment the event is about, locked: by metadata first (it names our payment even
    before we recorded the provider id), then by the provider's id."""
    for candidate in (snapshot.payment_id, event.payment_id):
        if candidate is not None:
            payment = await lock_payment(uow, candidate)
            if payment is not None and payment.provider == event.provider:
                return payment
    return await lock_payment_by_provider_id(uow, event.provider, snapshot.provider_payment_id)


async def apply_provider_event(
    uow: UnitOfWork,
    event: ProviderEvent,
    snapshot: ProviderPayment,
    *,
    claim_disagrees: bool,
    settings: PaymentsSettings,
) -> tuple[EventOutcome, Payment | None, Transition | None]:
    """Apply what the provider says (the event's object, or the API's answer to it) to the payment
    it names, and finish the event in the same transaction. `RetryLater` while no payment of ours
    matches, until `unknown_payment_attempts`."""
    events = ProviderEventRepository(uow.session)
    payment = await _payment_of(uow, event, snapshot)
    if payment is None:
        if event.attempts < settings.unknown_payment_attempts:
            raise RetryLater("no payment of ours matches the event yet")
        log.error(
            "provider_event_unknown_payment",
            provider=str(event.provider),
            provider_event_id=event.event_id,
            provider_payment_id=snapshot.provider_payment_id,
        )
        await events.finish(event.id, outcome="unknown_payment", payment_id=None)
        return "unknown_payment", None, None
    outcome, t, payment = await apply_observation(
        uow, payment, snapshot, source=f"{event.provider}:{event.event_type}"
    )
    final: EventOutcome = "disagreed" if claim_disagrees else outcome
    await events.finish(event.id, outcome=final, payment_id=payment.id)
    return final, payment, t


async def finish_event(
    uow: UnitOfWork, event_id: int, outcome: EventOutcome, payment_id: UUID | None = None
) -> None:
    await ProviderEventRepository(uow.session).finish(
        event_id, outcome=outcome, payment_id=payment_id
    )


async def fail_event(uow: UnitOfWork, event_id: int, *, error: str, retry_in_s: float) -> None:
    await ProviderEventRepository(uow.session).fail(event_id, error=error, retry_in_s=retry_in_s)


async def backlog(uow: UnitOfWork, settings: PaymentsSettings) -> tuple[int, float, int]:
    """Events waiting, the age of the oldest (s), and payments unfinished past their max age."""
    count, age = await ProviderEventRepository(uow.session).backlog()
    stuck = await PaymentRepository(uow.session).count_unfinished_older_than(
        settings.payment_max_age_s
    )
    return count, age, stuck
