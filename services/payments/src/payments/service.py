"""Flows that call a payment provider between two transactions: create, refund.

A provider call never runs inside a database transaction (it may take seconds): the flow commits
its own step, calls the provider, then records the answer in a new unit of work. Who may call the
provider for a given payment or refund is decided by a lease in the row (one holder at a time), so
concurrent requests, retries and the scheduler never double-create or double-refund.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from scifikpi_common.db import UnitOfWorkFactory
from scifikpi_common.errors import UpstreamUnavailable
from scifikpi_common.logging import get_logger
from scifikpi_common.security import Principal

from payments import handlers
from payments.domain import PaymentRequest, PaymentStatus, ProviderRejectedPayment, Transition
from payments.metrics import PAYMENT_OUTCOMES, PROVIDER_LATENCY, PROVIDER_REQUESTS, REFUNDS
from payments.models import Payment, Refund
from payments.providers import (
    CreatePayment,
    PaymentProvider,
    ProviderNotFound,
    ProviderRejected,
    Providers,
    ProviderUnavailable,
)
from payments.providers.base import ProviderRefund
from payments.repository import PaymentRepository, RefundRepository
from payments.settings import PaymentsSettings

log = get_logger(__name__)
T = TypeVar("T")

WAIT_STEP_S = 0.05


def count_transition(payment: Payment, t: Transition | None) -> None:
    if t is not None and t.changed:
        PAYMENT_OUTCOMES.labels(payment.provider, payment.purpose, t.after.value).inc()


def backoff(attempts: int, maximum: float, base: float = 1.0) -> float:
    return float(min(maximum, base * 2 ** min(max(attempts - 1, 0), 20)))


@dataclass(frozen=True)
class CreateOutcome:
    payment: Payment
    #: True when this request made the payment (201); False for a replay of the key (200)
    created: bool


class PaymentsService:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, providers: Providers, settings: PaymentsSettings
    ) -> None:
        self.uow = uow_factory
        self.providers = providers
        self.settings = settings

    def provider(self, name: str) -> PaymentProvider:
        return self.providers[name]

    async def call(self, provider: str, operation: str, call: Awaitable[T]) -> T:
        """Time and count a provider call; anything unexpected counts as "outcome unknown"."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await call
        except ProviderNotFound:
            outcome = "not_found"
            raise
        except ProviderRejected:
            outcome = "rejected"
            raise
        except ProviderUnavailable:
            outcome = "unavailable"
            raise
        except Exception as exc:
            outcome = "unavailable"
            log.exception("provider_call_crashed", provider=provider, operation=operation)
            raise ProviderUnavailable(f"{type(exc).__name__} while calling {provider}") from exc
        finally:
            PROVIDER_REQUESTS.labels(provider, operation, outcome).inc()
            PROVIDER_LATENCY.labels(provider, operation).observe(time.perf_counter() - started)

    # ----------------------------------------------------------------------- create

    async def create(
        self, principal: Principal, request: PaymentRequest, idempotency_key: str
    ) -> CreateOutcome:
        """Our row first (idempotent on the key), then the provider object (keyed by our id)."""
        provider = self.provider(request.provider)
        async with self.uow() as uow:
            started = await handlers.start_payment(
                uow, principal, request, idempotency_key, self.settings, provider.currencies
            )
            await uow.commit()
        payment = started.payment
        if started.inserted:
            PAYMENT_OUTCOMES.labels(payment.provider, payment.purpose, "created").inc()
            assert started.lease_token is not None
            return CreateOutcome(await self._submit(payment, started.lease_token), True)
        if payment.status == PaymentStatus.created and payment.provider_payment_id is None:
            # An earlier attempt with this key could not reach the provider (or is still at it).
            return CreateOutcome(await self.submit(payment.id), False)
        return CreateOutcome(payment, False)

    async def submit(self, payment_id: UUID, *, wait: bool = True) -> Payment:
        """Create the provider object of a `created` payment, unless someone else is doing it:
        then wait for their answer (`wait`) or return the row as it is."""
        deadline = time.monotonic() + self.settings.submit_lease_s + 5
        while True:
            async with self.uow() as uow:
                token = await handlers.claim_submission(
                    uow, payment_id, self.settings.submit_lease_s
                )
                await uow.commit()
            async with self.uow() as uow:
                payment = await PaymentRepository(uow.session).get(payment_id)
                await uow.commit()  # keeps the loaded row usable after the block
            assert payment is not None
            if token is not None:
                return await self._submit(payment, token)
            done = payment.provider_payment_id is not None or payment.status != "created"
            if done or not wait:
                return payment
            if payment.submit_lease_until is None:
                # The attempt we waited for gave up (provider unreachable): answer like it did.
                raise self._unavailable(payment)
            if time.monotonic() > deadline:
                raise self._unavailable(payment)
            await asyncio.sleep(WAIT_STEP_S)

    def _unavailable(self, payment: Payment) -> UpstreamUnavailable:
        return UpstreamUnavailable(
            f"The payment provider ({payment.provider}) is unavailable; retry with the same "
            "Idempotency-Key: it will not create a second payment.",
            headers={"Retry-After": "5"},
            payment_id=str(payment.id),
        )

    async def _submit(self, payment: Payment, token: UUID) -> Payment:
        provider = self.provider(payment.provider)
        request = CreatePayment(
            payment_id=payment.id,
            user_id=payment.user_id,
            purpose=payment.purpose,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            quote_id=payment.quote_id,
        )
        try:
            snapshot = await self.call(provider.name, "create", provider.create_payment(request))
        except ProviderRejected as exc:
            async with self.uow() as uow:
                payment, t = await handlers.submission_rejected(uow, payment.id, token, str(exc))
                await uow.commit()
            count_transition(payment, t)
            raise ProviderRejectedPayment(
                f"{payment.provider} refused to create the payment ({exc}).",
                payment_id=str(payment.id),
            ) from None
        except ProviderUnavailable as exc:
            async with self.uow() as uow:
                await handlers.submission_failed(uow, payment.id, token, str(exc))
                await uow.commit()
            raise self._unavailable(payment) from None
        async with self.uow() as uow:
            payment, _, t = await handlers.submission_succeeded(uow, payment.id, token, snapshot)
            await uow.commit()
        count_transition(payment, t)
        return payment

    # ----------------------------------------------------------------------- refunds

    async def refund(
        self, payment_id: UUID, *, reason: str, requested_by: str
    ) -> tuple[Refund, Payment]:
        """Request the refund (idempotent per payment) and try it at once; if the provider cannot
        be reached it stays requested and the scheduler retries it."""
        async with self.uow() as uow:
            refund, _ = await handlers.request_refund(
                uow, payment_id, reason=reason, requested_by=requested_by
            )
            await uow.commit()
        if refund.status == "requested":
            await self.execute_refund(refund.id)
        async with self.uow() as uow:
            refund = await RefundRepository(uow.session).get(refund.id)  # type: ignore[assignment]
            payment = await PaymentRepository(uow.session).get(payment_id)
            await uow.commit()
        assert refund is not None and payment is not None
        return refund, payment

    async def execute_refund(self, refund_id: UUID, *, claimed: bool = False) -> None:
        settings = self.settings
        if not claimed:
            async with self.uow() as uow:
                claimed = await handlers.claim_refund(uow, refund_id, settings.event_lease_s)
                await uow.commit()
            if not claimed:
                return
        async with self.uow() as uow:
            refund = await RefundRepository(uow.session).get(refund_id)
            assert refund is not None
            payment = await PaymentRepository(uow.session).get(refund.payment_id)
            assert payment is not None
            await uow.commit()
        provider = self.provider(payment.provider)
        retry_in = backoff(refund.attempts, settings.refund_backoff_max_s)
        if payment.provider_payment_id is None:  # cannot happen for a succeeded payment
            async with self.uow() as uow:
                await handlers.refund_attempt_failed(
                    uow, refund_id, "payment has no provider id", retry_in_s=retry_in
                )
                await uow.commit()
            return
        try:
            if refund.provider_refund_id:
                result = await self.call(
                    provider.name, "get_refund", provider.get_refund(refund.provider_refund_id)
                )
            else:
                result = await self.call(
                    provider.name,
                    "refund",
                    provider.refund(
                        payment.provider_payment_id,
                        amount_minor=payment.amount_minor,
                        currency=payment.currency,
                        idempotency_key=f"refund:{payment.id}",
                    ),
                )
        except ProviderUnavailable as exc:
            REFUNDS.labels(payment.provider, "error").inc()
            async with self.uow() as uow:
                await handlers.refund_attempt_failed(uow, refund_id, str(exc), retry_in_s=retry_in)
                await uow.commit()
            return
        except ProviderRejected as exc:
            result = ProviderRefund(
                provider_refund_id=refund.provider_refund_id,
                status="failed",
                raw_status="rejected",
                failure_reason=str(exc),
            )
        async with self.uow() as uow:
            refund, payment, t = await handlers.refund_result(
                uow, refund_id, result, retry_in_s=retry_in
            )
            await uow.commit()
        REFUNDS.labels(payment.provider, result.status).inc()
        count_transition(payment, t)

    async def process_due_refunds(self) -> int:
        async with self.uow() as uow:
            ids = await RefundRepository(uow.session).claim_due(
                batch=self.settings.event_batch_size, lease_s=self.settings.event_lease_s
            )
            await uow.commit()
        for refund_id in ids:
            try:
                await self.execute_refund(refund_id, claimed=True)
            except Exception:
                log.exception("refund_execution_crashed", refund_id=str(refund_id))
        return len(ids)
