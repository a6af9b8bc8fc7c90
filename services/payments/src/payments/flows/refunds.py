"""Refunding a payment: the request recorded (once per payment, committed), the provider's refund
called outside any transaction (keyed `refund:<payment id>`), its answer recorded in a new unit
of work. A provider that cannot be reached leaves the refund requested; the scheduler retries."""

from __future__ import annotations

from uuid import UUID

from scifikpi_common.logging import get_logger

from payments import handlers
from payments.domain import Payment, Refund, RefundStatus
from payments.flows.base import Flow, backoff, count_transition
from payments.metrics import REFUNDS
from payments.providers import ProviderRejected, ProviderUnavailable
from payments.providers.base import ProviderRefund

log = get_logger(__name__)


class Refunds(Flow):
    async def refund(
        self, payment_id: UUID, *, reason: str, requested_by: str
    ) -> tuple[Refund, Payment]:
        """Request the refund (idempotent per payment) and try it at once; if the provider cannot
        be reached it stays requested and the scheduler retries it."""
        async with self.step() as uow:
            refund, _ = await handlers.request_refund(
                uow, payment_id, reason=reason, requested_by=requested_by
            )
        if refund.status is RefundStatus.requested:
            await self.attempt(refund.id)
        async with self.uow() as uow:
            return await handlers.get_refund(uow, refund.id)

    async def attempt(self, refund_id: UUID, *, claimed: bool = False) -> None:
        """Ask the provider to refund (or how the refund it has is going) and record the answer."""
        if not claimed:
            async with self.step() as uow:
                claimed = await handlers.claim_refund(uow, refund_id, self.settings.event_lease_s)
            if not claimed:
                return
        async with self.uow() as uow:
            refund, payment = await handlers.get_refund(uow, refund_id)
        retry_in = backoff(refund.attempts, self.settings.refund_backoff_max_s)
        try:
            result = await self._ask(refund, payment)
        except ProviderUnavailable as exc:
            if payment.provider_payment_id is not None:
                REFUNDS.labels(payment.provider, "error").inc()
            async with self.step() as uow:
                await handlers.refund_attempt_failed(uow, refund_id, str(exc), retry_in_s=retry_in)
            return
        except ProviderRejected as exc:
            result = ProviderRefund(
                provider_refund_id=refund.provider_refund_id,
                status="failed",
                raw_status="rejected",
                failure_reason=str(exc),
            )
        async with self.step() as uow:
            refund, payment, t = await handlers.refund_result(
                uow, refund_id, result, retry_in_s=retry_in
            )
        REFUNDS.labels(payment.provider, result.status).inc()
        count_transition(payment, t)

    async def _ask(self, refund: Refund, payment: Payment) -> ProviderRefund:
        provider = self.provider(payment.provider)
        if payment.provider_payment_id is None:  # cannot happen for a succeeded payment
            raise ProviderUnavailable("payment has no provider id")
        if refund.provider_refund_id:
            return await self.call(
                provider.name, "get_refund", provider.get_refund(refund.provider_refund_id)
            )
        return await self.call(
            provider.name,
            "refund",
            provider.refund(
                payment.provider_payment_id,
                amount_minor=payment.amount_minor,
                currency=payment.currency,
                idempotency_key=f"refund:{payment.id}",
            ),
        )

    async def process_due(self) -> int:
        """Execute a batch of due refunds; returns how many were claimed."""
        async with self.step() as uow:
            ids = await handlers.claim_due_refunds(uow, self.settings)
        for refund_id in ids:
            try:
                await self.attempt(refund_id, claimed=True)
            except Exception:
                log.exception("refund_execution_crashed", refund_id=str(refund_id))
        return len(ids)
