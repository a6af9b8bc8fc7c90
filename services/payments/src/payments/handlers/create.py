"""Creating a payment: our row first (idempotent on the key), then the provider create call
(leased to one caller at a time) and its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.ids import new_id
from scifikpi_common.logging import get_logger
from scifikpi_common.security import Principal

from payments.domain import (
    ApplyOutcome,
    IdempotencyKeyReused,
    Payment,
    PaymentRequest,
    PaymentStatus,
    Purpose,
    Transition,
    check_account_allows,
    check_payment_request,
)
from payments.handlers.accounts import account_status
from payments.handlers.status import apply_observation, enter, locked_payment
from payments.providers.base import ProviderPayment
from payments.repository import PaymentRepository
from payments.settings import PaymentsSettings

log = get_logger(__name__)


@dataclass(frozen=True)
class StartedPayment:
    payment: Payment
    inserted: bool
    #: set when this request owns the provider create call (it inserted the row)
    lease_token: UUID | None


async def start_payment(
    uow: UnitOfWork,
    principal: Principal,
    request: PaymentRequest,
    idempotency_key: str,
    settings: PaymentsSettings,
    provider_currencies: frozenset[str],
) -> StartedPayment:
    """Insert our payment row (status `created`) or find the one this idempotency key made."""
    check_payment_request(
        request, fx_rates=settings.fx_rates, provider_currencies=provider_currencies
    )
    fingerprint = request.fingerprint()
    payments = PaymentRepository(uow.session)
    existing = await payments.get_by_key(principal.user_id, idempotency_key)
    if existing is not None:
        _same_request(existing, fingerprint)
        return StartedPayment(existing, False, None)

    status = await account_status(uow, principal)
    already_paid = request.purpose is Purpose.registration and await payments.has_succeeded(
        principal.user_id, Purpose.registration
    )
    check_account_allows(request.purpose, status, registration_already_paid=already_paid)

    token = new_id()
    row = await payments.insert_if_absent(
        new_id(),
        principal.user_id,
        idempotency_key,
        request,
        lease_token=token,
        lease_s=settings.submit_lease_s,
        now=utcnow(),
    )
    if row is None:  # a concurrent request with the same key won the insert
        existing = await payments.get_by_key(principal.user_id, idempotency_key)
        assert existing is not None
        _same_request(existing, fingerprint)
        return StartedPayment(existing, False, None)
    log.info(
        "payment_created",
        payment_id=str(row.id),
        purpose=str(row.purpose),
        provider=str(row.provider),
        amount_minor=row.amount_minor,
        currency=row.currency,
    )
    return StartedPayment(row, True, token)


def _same_request(payment: Payment, fingerprint: str) -> None:
    if payment.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different payment request.",
            payment_id=str(payment.id),
        )


async def claim_submission(uow: UnitOfWork, payment_id: UUID, lease_s: float) -> UUID | None:
    """The right to call the provider's create for a `created` payment, or None if someone else
    holds it (or the provider object already exists)."""
    token = new_id()
    claimed = await PaymentRepository(uow.session).claim_submission(payment_id, token, lease_s)
    return token if claimed else None


async def submission_failed(uow: UnitOfWork, payment_id: UUID, token: UUID, error: str) -> None:
    """The provider could not be asked (or the outcome is unknown): stay `created`, keep the
    error, free the lease so a retry with the same Idempotency-Key (or reconciliation) can go."""
    await PaymentRepository(uow.session).release_submission(payment_id, token, error)
    log.warning("payment_submit_failed", payment_id=str(payment_id), error=error)


async def _released(
    uow: UnitOfWork, payment_id: UUID, token: UUID | None, error: str | None
) -> Payment:
    """The payment, locked, with our lease on its create call (if we hold one) given back."""
    payments = PaymentRepository(uow.session)
    payment = await locked_payment(payments, payment_id)
    if token is None:
        return payment
    await payments.release_submission(payment_id, token, error)
    return await locked_payment(payments, payment_id)


async def submission_rejected(
    uow: UnitOfWork, payment_id: UUID, token: UUID | None, reason: str
) -> tuple[Payment, Transition]:
    """The provider refused to create it: nothing exists there, the payment fails."""
    payment = await _released(uow, payment_id, token, reason)
    t, payment = await enter(
        uow, payment, PaymentStatus.failed, reason=f"provider refused: {reason}"
    )
    return payment, t


async def submission_succeeded(
    uow: UnitOfWork, payment_id: UUID, token: UUID | None, snapshot: ProviderPayment
) -> tuple[Payment, ApplyOutcome, Transition | None]:
    payment = await _released(uow, payment_id, token, None)
    outcome, t, payment = await apply_observation(uow, payment, snapshot, source="create")
    return payment, outcome, t
