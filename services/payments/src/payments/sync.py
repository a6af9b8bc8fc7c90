"""Keeping our payments in step with the providers: stored webhook events and reconciliation.

Both end in `handlers.apply_observation` under a row lock, so a webhook, a duplicate of it, a
late or out-of-order one and a reconciliation pass can race freely: the state machine takes each
status once, and the outbox event goes with it.

- Provider events are claimed from `provider_events` in id order with `FOR UPDATE SKIP LOCKED` and
  a lease (any number of schedulers may run); success sets `processed_at` (in the same transaction
  as the payment change), failure sets `attempts`/`last_error` and a backoff.
- Stripe events are signed, so their PaymentIntent is used as is (stale ones are harmless: the
  state machine ignores going back). YooKassa notifications are not signed: the payment is
  re-fetched from the API and only the API's answer is applied; a notification the API
  contradicts is logged as `disagreed`.
- Reconciliation re-checks payments still `created`/`pending` past `reconcile_min_age_s` (backing
  off per payment), re-sends a create that never got an answer (same idempotency key), and past
  `payment_max_age_s` cancels the payment at the provider.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from scifikpi_common.clock import utcnow
from scifikpi_common.errors import AppError
from scifikpi_common.logging import get_logger

from payments import handlers
from payments.domain import NON_TERMINAL, PaymentStatus
from payments.metrics import (
    PROVIDER_EVENTS_BACKLOG,
    PROVIDER_EVENTS_OLDEST_AGE,
    PROVIDER_EVENTS_PROCESSED,
    RECONCILIATIONS,
    STUCK_PAYMENTS,
)
from payments.models import Payment, ProviderEvent
from payments.providers import (
    ProviderNotFound,
    ProviderPayment,
    ProviderRejected,
    ProviderUnavailable,
)
from payments.providers.stripe import payment_from_intent
from payments.repository import PaymentRepository, ProviderEventRepository
from payments.service import PaymentsService, backoff, count_transition

log = get_logger(__name__)

#: A YooKassa notification's event -> the payment status the API must confirm.
YOOKASSA_CLAIMS = {
    "payment.succeeded": "succeeded",
    "payment.canceled": "canceled",
    "payment.waiting_for_capture": "waiting_for_capture",
}


class RetryLater(Exception):
    """Not an error of the event: try it again after a backoff."""


class ProviderSync:
    def __init__(self, service: PaymentsService) -> None:
        self.service = service
        self.settings = service.settings
        self.uow = service.uow

    # ----------------------------------------------------------------------- provider events

    async def process_due_events(self) -> int:
        """Claim a batch of due events and process them; returns how many were claimed."""
        settings = self.settings
        async with self.uow() as uow:
            events = await ProviderEventRepository(uow.session).claim_due(
                batch=settings.event_batch_size, lease_s=settings.event_lease_s
            )
            await uow.commit()
        if not events:
            return 0
        limit = asyncio.Semaphore(settings.event_concurrency)

        async def one(event: ProviderEvent) -> None:
            async with limit:
                await self.process_event(event)

        await asyncio.gather(*(one(e) for e in events))
        return len(events)

    async def process_event(self, event: ProviderEvent) -> str:
        context = {
            "provider": event.provider,
            "provider_event_id": event.event_id,
            "event_type": event.event_type,
        }
        try:
            outcome = await self._process(event)
        except Exception as exc:
            retry_in = backoff(event.attempts, self.settings.event_backoff_max_s)
            error = str(exc) if isinstance(exc, RetryLater | ProviderUnavailable) else repr(exc)
            if not isinstance(exc, RetryLater | ProviderUnavailable):
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
                async with self.uow() as uow:
                    await ProviderEventRepository(uow.session).fail(
                        event.id, error=error, retry_in_s=retry_in
                    )
                    await uow.commit()
            except Exception as db_exc:  # the lease expires and it is picked up again
                log.warning("provider_event_fail_not_recorded", error=repr(db_exc), **context)
            PROVIDER_EVENTS_PROCESSED.labels(event.provider, "error").inc()
            return "error"
        PROVIDER_EVENTS_PROCESSED.labels(event.provider, outcome).inc()
        log.info("provider_event_processed", outcome=outcome, **context)
        return outcome

    async def _process(self, event: ProviderEvent) -> str:
        if event.provider == "stripe":
            snapshot = self._stripe_snapshot(event)
            claim_disagrees = False
        else:
            snapshot, claim_disagrees = await self._yookassa_snapshot(event)
        if snapshot is None:
            await self._finish(event, "ignored", None)
            return "ignored"
        async with self.uow() as uow:
            payment = await self._lock_payment(uow, event, snapshot)
            if payment is None:
                if event.attempts < self.settings.unknown_payment_attempts:
                    raise RetryLater("no payment of ours matches the event yet")
                log.error(
                    "provider_event_unknown_payment",
                    provider=event.provider,
                    provider_event_id=event.event_id,
                    provider_payment_id=snapshot.provider_payment_id,
                )
                await ProviderEventRepository(uow.session).finish(
                    event.id, outcome="unknown_payment", payment_id=None
                )
                await uow.commit()
                return "unknown_payment"
            outcome, t = await handlers.apply_observation(
                uow, payment, snapshot, source=f"{event.provider}:{event.event_type}"
            )
            final = "disagreed" if claim_disagrees else outcome
            await ProviderEventRepository(uow.session).finish(
                event.id, outcome=final, payment_id=payment.id
            )
            await uow.commit()
        count_transition(payment, t)
        return final

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
        provider = self.service.provider("yoomoney")
        try:
            snapshot = await self.service.call(
                "yoomoney", "get", provider.get_payment(event.object_id)
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

    async def _lock_payment(
        self, uow: Any, event: ProviderEvent, snapshot: ProviderPayment
    ) -> Payment | None:
        # Metadata first: it names our payment even before we recorded the provider id.
        for candidate in (snapshot.payment_id, event.payment_id):
            if candidate is not None:
                payment = await handlers.lock_payment(uow, candidate)
                if payment is not None and payment.provider == event.provider:
                    return payment
        return await handlers.lock_payment_by_provider_id(
            uow, event.provider, snapshot.provider_payment_id
        )

    async def _finish(self, event: ProviderEvent, outcome: str, payment_id: Any) -> None:
        async with self.uow() as uow:
            await ProviderEventRepository(uow.session).finish(
                event.id, outcome=outcome, payment_id=payment_id
            )
            await uow.commit()

    async def refresh_gauges(self) -> None:
        async with self.uow() as uow:
            count, age = await ProviderEventRepository(uow.session).backlog()
            stuck = await PaymentRepository(uow.session).count_unfinished_older_than(
                self.settings.payment_max_age_s
            )
        PROVIDER_EVENTS_BACKLOG.set(count)
        PROVIDER_EVENTS_OLDEST_AGE.set(age)
        STUCK_PAYMENTS.set(stuck)

    # ----------------------------------------------------------------------- reconciliation

    async def reconcile_due(self) -> int:
        """Re-check a batch of due unfinished payments; returns how many were checked."""
        settings = self.settings
        async with self.uow() as uow:
            ids = await PaymentRepository(uow.session).claim_due_checks(
                min_age_s=settings.reconcile_min_age_s,
                batch=settings.reconcile_batch_size,
                backoff_base_s=max(settings.reconcile_interval_s, 1.0),
                backoff_max_s=settings.reconcile_backoff_max_s,
            )
            await uow.commit()
        limit = asyncio.Semaphore(settings.event_concurrency)

        async def one(payment_id: Any) -> None:
            async with limit:
                try:
                    await self.reconcile_payment(payment_id)
                except Exception:
                    log.exception("reconciliation_crashed", payment_id=str(payment_id))

        await asyncio.gather(*(one(i) for i in ids))
        return len(ids)

    async def reconcile_payment(self, payment_id: Any) -> str:
        """Ask the provider about one unfinished payment and apply its answer."""
        async with self.uow() as uow:
            payment = await PaymentRepository(uow.session).get(payment_id)
            await uow.commit()
        if payment is None or PaymentStatus(payment.status) not in NON_TERMINAL:
            return "unchanged"
        expired = utcnow() - payment.created_at > timedelta(seconds=self.settings.payment_max_age_s)
        provider = self.service.provider(payment.provider)
        context = {"payment_id": str(payment.id), "provider": payment.provider}
        result = "unchanged"
        try:
            if payment.provider_payment_id is None:
                # We never heard back from the create call: ask again with the same key (the
                # provider returns the object it made, or makes it now).
                try:
                    payment = await self.service.submit(payment.id, wait=False)
                except AppError as exc:  # unavailable (503) or refused (502, now failed)
                    return await self._after_failed_resubmit(payment, expired, exc)
                if payment.provider_payment_id is None:
                    return self._count(payment, "unchanged")  # another process is creating it
                result = "resubmitted"
                if not expired:
                    return self._count(payment, result)
            pid = payment.provider_payment_id
            snapshot = await self.service.call(provider.name, "get", provider.get_payment(pid))
            if expired and snapshot.status in NON_TERMINAL:
                snapshot = await self._cancel(payment, snapshot)
                result = "expired"
        except ProviderNotFound:
            if expired:
                return await self._fail_locally(
                    payment, "expired: the provider has no such payment"
                )
            log.warning("reconciliation_provider_object_missing", **context)
            return self._count(payment, "error")
        except ProviderUnavailable as exc:
            log.warning("reconciliation_provider_unavailable", error=str(exc), **context)
            return self._count(payment, "error")
        async with self.uow() as uow:
            locked = await handlers.lock_payment(uow, payment.id)
            assert locked is not None
            outcome, t = await handlers.apply_observation(
                uow, locked, snapshot, source="reconciliation"
            )
            await uow.commit()
        count_transition(locked, t)
        if t is not None and t.changed and result == "unchanged":
            result = "advanced"
            log.info(
                "reconciliation_advanced", before=t.before.value, after=t.after.value, **context
            )
        if expired and PaymentStatus(locked.status) in NON_TERMINAL:
            age = (utcnow() - locked.created_at).total_seconds()
            if age > self.settings.payment_abandon_after_s:
                return await self._fail_locally(
                    locked,
                    f"abandoned: still {snapshot.raw_status} at the provider after {int(age)} s",
                )
            log.warning(
                "reconciliation_cannot_expire", provider_status=snapshot.raw_status, **context
            )
        return self._count(locked, result)

    async def _cancel(self, payment: Payment, snapshot: ProviderPayment) -> ProviderPayment:
        """Past the max age: cancel at the provider so the payer can no longer pay it."""
        provider = self.service.provider(payment.provider)
        assert payment.provider_payment_id is not None
        try:
            return await self.service.call(
                provider.name,
                "cancel",
                provider.cancel_payment(
                    payment.provider_payment_id, idempotency_key=f"cancel:{payment.id}"
                ),
            )
        except ProviderRejected as exc:
            # E.g. it succeeded meanwhile, or this provider cannot cancel it in this state: the
            # provider's current answer decides (a pending one is left to expire there).
            log.info("reconciliation_cancel_refused", payment_id=str(payment.id), error=str(exc))
            return await self.service.call(
                provider.name, "get", provider.get_payment(payment.provider_payment_id)
            )

    async def _after_failed_resubmit(self, payment: Payment, expired: bool, exc: AppError) -> str:
        if exc.status == 502:  # refused: `submit` already failed the payment
            return self._count(payment, "advanced")
        if expired:
            # Never created at the provider as far as anyone can tell, and past its age.
            return await self._fail_locally(
                payment, "expired: the provider could not be reached to create it"
            )
        return self._count(payment, "error")

    async def _fail_locally(self, payment: Payment, reason: str) -> str:
        async with self.uow() as uow:
            locked = await handlers.lock_payment(uow, payment.id)
            assert locked is not None
            t = await handlers.enter(uow, locked, PaymentStatus.failed, reason=reason)
            await uow.commit()
        count_transition(locked, t)
        log.warning("payment_expired_locally", payment_id=str(payment.id), reason=reason)
        return self._count(locked, "expired")

    @staticmethod
    def _count(payment: Payment, result: str) -> str:
        RECONCILIATIONS.labels(payment.provider, result).inc()
        return result
