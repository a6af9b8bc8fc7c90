"""Tables of the `payments` schema (the migrations are the authority; these mirror them):

- `payments`: one row per payment, created here first (its id is the provider idempotency key);
- `provider_events`: the webhook inbox, each verified event stored once;
- `refunds`: the full refund of one payment, requested once, executed and retried;
- `accounts`: the projection of account status from `auth.user.v1`;
- `outbox`, `inbox`.
"""

from __future__ import annotations

from typing import Any

from scifikpi_common.db import make_metadata
from scifikpi_common.inbox import inbox_table
from scifikpi_common.outbox import Outbox, outbox_table
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID

SCHEMA = "payments"
metadata = make_metadata(SCHEMA)

#: NOTIFY channel that wakes the scheduler: a provider event was stored or a refund requested.
WORK_CHANNEL = "payments_work"


def _at(name: str, *, nullable: bool = False, comment: str | None = None) -> Column[Any]:
    """A timestamp column; NOT NULL ones default to now()."""
    default = None if nullable else func.now()
    return Column(
        name, DateTime(timezone=True), nullable=nullable, server_default=default, comment=comment
    )


payments = Table(
    "payments",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("user_id", PgUUID(as_uuid=True), nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column(
        "request_fingerprint", Text, nullable=False, comment="SHA-256 of the canonical request body"
    ),
    Column("purpose", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("quote_id", PgUUID(as_uuid=True)),
    Column("status", Text, nullable=False, server_default=text("'created'")),
    Column("provider_payment_id", Text),
    Column("provider_status", Text, comment="last status the provider said"),
    Column("client_secret", Text, comment="Stripe PaymentIntent secret"),
    Column("confirmation_url", Text, comment="YooKassa redirect URL"),
    Column("failure_reason", Text),
    # provider create call: one request at a time owns it (lease), the rest wait or retry later
    Column("submit_attempts", Integer, nullable=False, server_default=text("0")),
    _at("submit_lease_until", nullable=True),
    Column("submit_lease_token", PgUUID(as_uuid=True)),
    Column("last_error", Text, comment="last provider call failure"),
    # reconciliation
    _at("next_check_at"),
    Column("check_count", Integer, nullable=False, server_default=text("0")),
    _at("created_at"),
    _at("updated_at"),
    _at("succeeded_at", nullable=True),
    _at("finished_at", nullable=True, comment="when it reached succeeded, failed or canceled"),
    _at("refunded_at", nullable=True),
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

provider_events = Table(
    "provider_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("provider", Text, nullable=False),
    Column(
        "event_id", Text, nullable=False, comment="Stripe evt_ id; YooKassa `<object.id>:<event>`"
    ),
    Column("event_type", Text, nullable=False),
    Column("object_id", Text, comment="provider payment/refund id"),
    Column("payment_id", PgUUID(as_uuid=True), comment="our payment, once known"),
    Column("payload", JSONB, nullable=False),
    _at("received_at"),
    Column(
        "deliveries",
        Integer,
        nullable=False,
        server_default=text("1"),
        comment="times the provider delivered it",
    ),
    _at("next_attempt_at"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    _at("processed_at", nullable=True),
    Column("outcome", Text),
    CheckConstraint("provider IN ('stripe', 'yoomoney')", name="provider"),
    UniqueConstraint("provider", "event_id"),
    Index(
        "ix_provider_events_due", "next_attempt_at", postgresql_where=text("processed_at IS NULL")
    ),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("payment_id", PgUUID(as_uuid=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'requested'")),
    Column("provider_refund_id", Text),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    _at("next_attempt_at"),
    _at("created_at"),
    _at("updated_at"),
    _at("completed_at", nullable=True),
    CheckConstraint("status IN ('requested', 'succeeded', 'failed')", name="status"),
    UniqueConstraint("payment_id"),
    Index("ix_refunds_due", "next_attempt_at", postgresql_where=text("status = 'requested'")),
)

accounts = Table(
    "accounts",
    metadata,
    Column("user_id", PgUUID(as_uuid=True), primary_key=True),
    Column("status", Text, nullable=False),
    _at("updated_at"),
    CheckConstraint("status IN ('pending_payment', 'active', 'blocked')", name="status"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


def make_outbox() -> Outbox:
    return Outbox(outbox, producer="payments")
