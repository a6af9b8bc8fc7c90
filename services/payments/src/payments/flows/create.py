"""Creating a payment: our row first (idempotent on the key, committed), then the provider's
create call outside any transaction (keyed by our payment id), then its answer in a new unit of
work. Who may call the provider's create for a payment is decided by a lease in the row (one
holder at a time), so concurrent requests, retries and reconciliation never double-create."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from uuid import UUID

from scifikpi_common.errors import UpstreamUnavailable
from scifikpi_common.security import Principal

from payments import handlers
from payments.domain import Payment, PaymentRequest, ProviderRejectedPayment
from payments.flows.base import Flow, count_transition
from payments.metrics import PAYMENT_OUTCOMES
from payments.providers import CreatePayment, ProviderRejected, ProviderUnavailable

WAIT_STEP_S = 0.05


@dataclass(frozen=True)
class CreateOutcome:
    payment: Payment
    #: True when this request made the payment (201); False for a replay of the key (200)
    created: bool


class PaymentCreation(Flow):
    async def create(
        self, principal: Principal, request: PaymentRequest, idempotency_key: str
    ) -> CreateOutcome:
        """Our row first (idempotent on the key), then the provider object (keyed by our id)."""
        provider = self.provider(request.provider)
        async with self.step() as uow:
            started = await handlers.start_payment(
                uow, principal, request, idempotency_key, self.settings, provider.currencies
            )
        payment = started.payment
        if started.inserted:
            PAYMENT_OUTCOMES.labels(payment.provider, payment.purpose, "created").inc()
            assert started.lease_token is not None
            return CreateOutcome(await self._submit(payment, started.lease_token), True)
        if payment.awaits_provider:
            # An earlier attempt with this key could not reach the provider (or is still at it).
            return CreateOutcome(await self.submit(payment.id), False)
        return CreateOutcome(payment, False)

    async def submit(self, payment_id: UUID, *, wait: bool = True) -> Payment:
        """Create the provider object of a `created` payment, unless someone else is doing it:
        then wait for their answer (`wait`) or return the row as it is."""
        deadline = time.monotonic() + self.settings.submit_lease_s + 5
        while True:
            async with self.step() as uow:
                token = await handlers.claim_submission(
                    uow, payment_id, self.settings.submit_lease_s
                )
            async with self.uow() as uow:
                payment = await handlers.find_payment(uow, payment_id)
            assert payment is not None
            if token is not None:
                return await self._submit(payment, token)
            if not payment.awaits_provider or not wait:
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
            purpose=str(payment.purpose),
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            quote_id=payment.quote_id,
        )
        try:
            snapshot = await self.call(provider.name, "create", provider.create_payment(request))
        except ProviderRejected as exc:
            async with self.step() as uow:
                payment, failed = await handlers.submission_rejected(
                    uow, payment.id, token, str(exc)
                )
            count_transition(payment, failed)
            raise ProviderRejectedPayment(
                f"{payment.provider} refused to create the payment ({exc}).",
                payment_id=str(payment.id),
            ) from None
        except ProviderUnavailable as exc:
            async with self.step() as uow:
                await handlers.submission_failed(uow, payment.id, token, str(exc))
            raise self._unavailable(payment) from None
        async with self.step() as uow:
            payment, _, t = await handlers.submission_succeeded(uow, payment.id, token, snapshot)
        count_transition(payment, t)
        return payment
