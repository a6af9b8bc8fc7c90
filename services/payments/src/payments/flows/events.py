"""Processing stored provider events (webhooks) into payment state.

- Events are claimed from `provider_events` in id order with `FOR UPDATE SKIP LOCKED` and a lease
  (any number of schedulers may run); success sets `processed_at` in the same transaction as the
  payment change, failure sets `attempts`/`last_error` and a backoff.
- Stripe events are signed, so their PaymentIntent is used as is (stale ones are harmless: the
  state machine ignores going back). YooKassa notifications are not signed: the payment is
  re-fetched from the API (outside any transaction) and only the API's answer is applied; a
  notification the API contradicts is recorded as `disagreed`.

Both this and reconciliation end in `handlers.apply_observation` under a row lock, so a webhook,
a duplicate of it, a late or out-of-order one and a reconciliation pass can race freely: the
state machine takes each status once, and the outbox event goes with it.
"""

from __future__ import annotations

import asyncio

from scifikpi_common.logging import get_logger

from payments import handlers
from payments.domain import EventOutcome, Provider, ProviderEvent
from payments.flows.base import Flow, backoff, count_transition
from payments.metrics import (
    PROVIDER_EVENTS_BACKLOG,
    PROVIDER_EVENTS_OLDEST_AGE,
    PROVIDER_EVENTS_PROCESSED,
    STUCK_PAYMENTS,
)
from payments.providers import ProviderNotFound, ProviderPayment, ProviderUnavailable
from payments.providers.stripe import payment_from_intent

log = get_logger(__name__)

#: A YooKassa notification's event -> the payment status the API must confirm.
YOOKASSA_CLAIMS = {
    "payment.succeeded": "succeeded",
    "payment.canceled": "canceled",
    "payment.waiting_for_capture": "waiting_for_capture",
}

_EXPECTED = (handlers.RetryLater, ProviderUnavailable)


class ProviderEvents(Flow):
    async def process_due(self) -> int:
        """Claim a batch of due events and process them; returns how many were claimed."""
        async with self.step() as uow:
            events = await handlers.claim_due_events(uow, self.settings)
        if not events:
            return 0
        limit = asyncio.Semaphore(self.settings.event_concurrency)

        async def one(event: ProviderEvent) -> None:
            async with limit:
                await self.process(event)

        await asyncio.gather(*(one(e) for e in events))
        return len(events)

    async def process(self, event: ProviderEvent) -> str:
        context = {
            "provider": str(event.provider),
            "provider_event_id": event.event_id,
            "event_type": event.event_type,
        }
        try:
            outcome = await self._process(event)
        except Exception as exc:
            await self._failed(event, exc, context)
            PROVIDER_EVENTS_PROCESSED.labels(event.provider, "error").inc()
            return "error"
        PROVIDER_EVENTS_PROCESSED.labels(event.provider, outcome).inc()
        log.info("provider_event_processed", outcome=outcome, **context)
        return outcome

    async def _failed(self, event: ProviderEvent, exc: Exception, context: dict[str, str]) -> None:
        retry_in = backoff(event.attempts, self.settings.event_backoff_max_s)
        expected = isinstance(exc, _EXPECTED)
        error = str(exc) if expected else repr(exc)
        if not expected:
            log.exception("provider_event_failed", attempts=event.attempts, **context)
        else:
            log.warning(
                "provider_event_retry",
                attempts=event.attempts,
                error=error,
                retry_in_s=retry_in,
                **context,
            )
        try:
            async with self.step() as uow:
                await handlers.fail_event(uow, event.id, error=error, retry_in_s=retry_in)
        except Exception as db_exc:  # the lease expires and it is picked up again
            log.warning("provider_event_fail_not_recorded", error=repr(db_exc), **context)

    async def _process(self, event: ProviderEvent) -> EventOutcome:
        if event.provider is Provider.stripe:
            snapshot, claim_disagrees = self._stripe_snapshot(event), False
        else:
            snapshot, claim_disagrees = await self._yookassa_snapshot(event)
        if snapshot is None:
            async with self.step() as uow:
                await handlers.finish_event(uow, event.id, "ignored")
            return "ignored"
        async with self.step() as uow:
            outcome, payment, t = await handlers.apply_provider_event(
                uow, event, snapshot, claim_disagrees=claim_disagrees, settings=self.settings
            )
        if payment is not None:
            count_transition(payment, t)
        return outcome

    def _stripe_snapshot(self, event: ProviderEvent) -> ProviderPayment | None:
        obj = (event.payload.get("data") or {}).get("object") or {}
        if not event.event_type.startswith("payment_intent.") or obj.get("object") != (
            "payment_intent"
        ):
            return None  # refunds and charges: our refund flow reads the API itself
        return payment_from_intent(obj)

    async def _yookassa_snapshot(self, event: ProviderEvent) -> tuple[ProviderPayment | None, bool]:
        claimed = YOOKASSA_CLAIMS.get(event.event_type)
        if claimed is None or not event.object_id:
            return None, False
        provider = self.provider(Provider.yoomoney)
        try:
            snapshot = await self.call(
                Provider.yoomoney, "get", provider.get_payment(event.object_id)
            )
        except ProviderNotFound:
            log.warning(
                "yookassa_notification_unknown_object",
                provider_event_id=event.event_id,
                provider_payment_id=event.object_id,
            )
            return None, False
        disagrees = snapshot.raw_status != claimed
        if disagrees:
            # Forged, stale or reordered: the API is the truth; the notification's claim is not.
            log.warning(
                "yookassa_notification_disagrees",
                provider_event_id=event.event_id,
                provider_payment_id=event.object_id,
                notification_says=claimed,
                api_says=snapshot.raw_status,
            )
        return snapshot, disagrees

    async def refresh_gauges(self) -> None:
        async with self.uow() as uow:
            count, age, stuck = await handlers.backlog(uow, self.settings)
        PROVIDER_EVENTS_BACKLOG.set(count)
        PROVIDER_EVENTS_OLDEST_AGE.set(age)
        STUCK_PAYMENTS.set(stuck)
