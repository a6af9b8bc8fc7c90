"""Tables of the `payments` schema: payments, provider events (the webhook inbox), refunds, the
account-status projection, outbox and inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from scifikpi_common.db import make_metadata
from scifikpi_common.inbox import inbox_table
from scifikpi_common.outbox import Outbox, outbox_table
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "payments"
metadata = make_metadata(SCHEMA)

#: NOTIFY channel that wakes the scheduler: a provider event was stored or a refund requested.
WORK_CHANNEL = "payments_work"


class Base(DeclarativeBase):
    metadata = metadata


class Payment(Base):
    """One payment. Created here first; its id is the provider idempotency key."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("purpose IN ('registration', 'topup', 'acceleration')", name="purpose"),
        CheckConstraint("provider IN ('stripe', 'yoomoney')", name="provider"),
        CheckConstraint(
            "status IN ('created', 'pending', 'succeeded', 'failed', 'canceled', 'refunded')",
            name="status",
        ),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        CheckConstraint("(purpose = 'acceleration') = (quote_id IS NOT NULL)", name="quote"),
        # The idempotency decision is this constraint (INSERT ... ON CONFLICT), not a pre-check.
        UniqueConstraint("user_id", "idempotency_key"),
        UniqueConstraint("provider", "provider_payment_id"),
        Index("ix_payments_user_id_created_at_id", "user_id", "created_at", "id"),
        Index(
            "ix_payments_unfinished",
            "next_check_at",
            postgresql_where=text("status IN ('created', 'pending')"),
        ),
    )

    id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    user_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True))
    idempotency_key: Mapped[str] = mapped_column(Text)
    request_fingerprint: Mapped[str] = mapped_column(
        Text, comment="SHA-256 of the canonical request body"
    )
    purpose: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(Text)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    quote_id: Mapped[UUID | None] = mapped_column(PgUUID(as_uuid=True))
    status: Mapped[str] = mapped_column(Text, server_default=text("'created'"))
    provider_payment_id: Mapped[str | None] = mapped_column(Text)
    provider_status: Mapped[str | None] = mapped_column(
        Text, comment="last status the provider said"
    )
    client_secret: Mapped[str | None] = mapped_column(Text, comment="Stripe PaymentIntent secret")
    confirmation_url: Mapped[str | None] = mapped_column(Text, comment="YooKassa redirect URL")
    failure_reason: Mapped[str | None] = mapped_column(Text)
    # provider create call: one request at a time owns it (lease), the rest wait or retry later
    submit_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    submit_lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submit_lease_token: Mapped[UUID | None] = mapped_column(PgUUID(as_uuid=True))
    last_error: Mapped[str | None] = mapped_column(Text, comment="last provider call failure")
    # reconciliation
    next_check_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    check_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    succeeded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="when it reached succeeded, failed or canceled"
    )
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProviderEvent(Base):
    """A webhook as received and verified: stored once, acknowledged, processed from here."""

    __tablename__ = "provider_events"
    __table_args__ = (
        CheckConstraint("provider IN ('stripe', 'yoomoney')", name="provider"),
        UniqueConstraint("provider", "event_id"),
        Index(
            "ix_provider_events_due",
            "next_attempt_at",
            postgresql_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    provider: Mapped[str] = mapped_column(Text)
    event_id: Mapped[str] = mapped_column(
        Text, comment="Stripe evt_ id; YooKassa `<object.id>:<event>`"
    )
    event_type: Mapped[str] = mapped_column(Text)
    object_id: Mapped[str | None] = mapped_column(Text, comment="provider payment/refund id")
    payment_id: Mapped[UUID | None] = mapped_column(
        PgUUID(as_uuid=True), comment="our payment, once known"
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    deliveries: Mapped[int] = mapped_column(
        Integer, server_default=text("1"), comment="times the provider delivered it"
    )
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(Text)


class Refund(Base):
    """The full refund of one payment: requested once, executed (and retried) by the scheduler."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("status IN ('requested', 'succeeded', 'failed')", name="status"),
        UniqueConstraint("payment_id"),
        Index("ix_refunds_due", "next_attempt_at", postgresql_where=text("status = 'requested'")),
    )

    id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    payment_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True))
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'requested'"))
    provider_refund_id: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Account(Base):
    """Projection of account status from `auth.user.v1` (UserRegistered, UserActivated)."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("status IN ('pending_payment', 'active', 'blocked')", name="status"),
    )

    user_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    status: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


def make_outbox() -> Outbox:
    return Outbox(outbox, producer="payments")
