"""Reading payments: one (own only), the keyset-paged list, and everything about one payment
for an operator."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.pagination import decode_cursor, encode_cursor
from scifikpi_common.security import Principal

from payments.domain import Payment, PaymentNotFound, ProviderEvent, Refund
from payments.repository import PaymentRepository, ProviderEventRepository, RefundRepository


@dataclass(frozen=True)
class PaymentDetails:
    payment: Payment
    refund: Refund | None
    events: list[ProviderEvent]


async def get_payment(uow: UnitOfWork, payment_id: UUID, principal: Principal) -> Payment:
    """Own payments only (admins see all); anything else is 404, never 403."""
    payment = await PaymentRepository(uow.session).get(payment_id)
    if payment is None or (payment.user_id != principal.user_id and not principal.is_admin):
        raise PaymentNotFound("No such payment.")
    return payment


async def find_payment(uow: UnitOfWork, payment_id: UUID) -> Payment | None:
    return await PaymentRepository(uow.session).get(payment_id)


async def list_payments(
    uow: UnitOfWork, user_id: UUID, cursor: str | None, limit: int
) -> tuple[list[Payment], str | None]:
    after = decode_cursor(cursor, UUID) if cursor else None
    rows = await PaymentRepository(uow.session).page(user_id, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return rows, next_cursor


async def payment_details(uow: UnitOfWork, payment_id: UUID) -> PaymentDetails:
    """The payment, its refund and its provider events (`payments-admin show`)."""
    payment = await PaymentRepository(uow.session).get(payment_id)
    if payment is None:
        raise PaymentNotFound(f"payment {payment_id} does not exist")
    refund = await RefundRepository(uow.session).get_for_payment(payment_id)
    events = await ProviderEventRepository(uow.session).for_payment(payment_id)
    return PaymentDetails(payment, refund, events)
