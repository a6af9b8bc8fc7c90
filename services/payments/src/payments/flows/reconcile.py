"""Reconciliation: payments still `created`/`pending` past `reconcile_min_age_s` are re-checked
at the provider (backing off per payment); a create that never got an answer is re-sent (same
idempotency key); past `payment_max_age_s` the payment is canceled at the provider, and one the
provider still has but cannot cancel is failed locally after `payment_abandon_after_s`. A provider
that is down never makes us fail a payment it may have taken money for."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal
from uuid import UUID

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWorkFactory
from scifikpi_common.errors import AppError
from scifikpi_common.logging import get_logger

from payments import handlers
from payments.domain import NON_TERMINAL, Payment
from payments.flows.base import Flow, count_transition
from payments.flows.create import PaymentCreation
from payments.metrics import RECONCILIATIONS
from payments.providers import (
    ProviderNotFound,
    ProviderPayment,
    ProviderRejected,
    Providers,
    ProviderUnavailable,
)
from payments.settings import PaymentsSettings

log = get_logger(__name__)

Result = Literal["unchanged", "advanced", "resubmitted", "expired", "error"]


class Reconciliation(Flow):
    def __init__(
        self, uow: UnitOfWorkFactory, providers: Providers, settings: PaymentsSettings
    ) -> None:
        super().__init__(uow, providers, settings)
        self.creation = PaymentCreation(uow, providers, settings)

    async def reconcile_due(self) -> int:
        """Re-check a batch of due unfinished payments; returns how many were checked."""
        async with self.step() as uow:
            ids = await handlers.claim_due_checks(uow, self.settings)
        limit = asyncio.Semaphore(self.settings.event_concurrency)

        async def one(payment_id: UUID) -> None:
            async with limit:
                try:
                    await self.reconcile_payment(payment_id)
                except Exception:
                    log.exception("reconciliation_crashed", payment_id=str(payment_id))

        await asyncio.gather(*(one(i) for i in ids))
        return len(ids)

    def _expired(self, payment: Payment) -> bool:
        return utcnow() - payment.created_at > timedelta(seconds=self.settings.payment_max_age_s)

    async def reconcile_payment(self, payment_id: UUID) -> Result:
        """Ask the provider about one unfinished payment and apply its answer."""
        async with self.uow() as uow:
            payment = await handlers.find_payment(uow, payment_id)
        if payment is None or payment.status not in NON_TERMINAL:
            return "unchanged"
        expired = self._expired(payment)
        context = {"payment_id": str(payment.id), "provider": str(payment.provider)}
        result: Result = "unchanged"
        if payment.provider_payment_id is None:
            # We never heard back from the create call: ask again with the same key (the
            # provider returns the object it made, or makes it now).
            try:
                payment = await self.creation.submit(payment.id, wait=False)
            except AppError as exc:  # unavailable (503) or refused (502, now failed)
                return await self._after_failed_resubmit(payment, expired, exc)
            if payment.provider_payment_id is None:
                return self._count(payment, "unchanged")  # another process is creating it
            result = "resubmitted"
            if not expired:
                return self._count(payment, result)
        try:
            snapshot = await self._ask(payment)
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
        return await self._apply(payment, snapshot, expired, result)

    async def _ask(self, payment: Payment) -> ProviderPayment:
        provider = self.provider(payment.provider)
        assert payment.provider_payment_id is not None
        return await self.call(
            provider.name, "get", provider.get_payment(payment.provider_payment_id)
        )

    async def _apply(
        self, payment: Payment, snapshot: ProviderPayment, expired: bool, result: Result
    ) -> Result:
        context = {"payment_id": str(payment.id), "provider": str(payment.provider)}
        async with self.step() as uow:
            locked, t = await handlers.apply_reconciliation(uow, payment.id, snapshot)
        count_transition(locked, t)
        if t is not None and t.changed and result == "unchanged":
            result = "advanced"
            log.info(
                "reconciliation_advanced", before=t.before.value, after=t.after.value, **context
            )
        if expired and locked.status in NON_TERMINAL:
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
        provider = self.provider(payment.provider)
        assert payment.provider_payment_id is not None
        try:
            return await self.call(
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
            return await self.call(
                provider.name, "get", provider.get_payment(payment.provider_payment_id)
            )

    async def _after_failed_resubmit(
        self, payment: Payment, expired: bool, exc: AppError
    ) -> Result:
        if exc.status == 502:  # refused: `submit` already failed the payment
            return self._count(payment, "advanced")
        if expired:
            # Never created at the provider as far as anyone can tell, and past its age.
            return await self._fail_locally(
                payment, "expired: the provider could not be reached to create it"
            )
        return self._count(payment, "error")

    async def _fail_locally(self, payment: Payment, reason: str) -> Result:
        async with self.step() as uow:
            locked, t = await handlers.fail_locally(uow, payment.id, reason)
        count_transition(locked, t)
        log.warning("payment_expired_locally", payment_id=str(payment.id), reason=reason)
        return self._count(locked, "expired")

    @staticmethod
    def _count(payment: Payment, result: Result) -> Result:
        RECONCILIATIONS.labels(payment.provider, result).inc()
        return result
