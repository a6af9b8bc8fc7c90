"""Reading payments: one (own only) and the keyset-paged list."""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

import orjson
from scifikpi_common.db import UnitOfWork
from scifikpi_common.security import Principal

from payments.domain import InvalidCursor, PaymentNotFound
from payments.models import Payment
from payments.repository import PaymentRepository


async def get_payment(uow: UnitOfWork, payment_id: UUID, principal: Principal) -> Payment:
    """Own payments only (admins see all); anything else is 404, never 403."""
    payment = await PaymentRepository(uow.session).get(payment_id)
    if payment is None or (payment.user_id != principal.user_id and not principal.is_admin):
        raise PaymentNotFound("No such payment.")
    return payment


async def list_payments(
    uow: UnitOfWork, user_id: UUID, cursor: str | None, limit: int
) -> tuple[list[Payment], str | None]:
    after = decode_cursor(cursor) if cursor else None
    rows = await PaymentRepository(uow.session).page(user_id, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return rows, next_cursor


def encode_cursor(created_at: datetime, payment_id: UUID) -> str:
    raw = orjson.dumps({"c": created_at.isoformat(), "i": str(payment_id)})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
        created_at = datetime.fromisoformat(data["c"])
        if created_at.tzinfo is None:
            raise ValueError("naive time")
        return created_at, UUID(data["i"])
    except (ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise InvalidCursor("The cursor is not one this API returned.") from None
