"""Initial payments schema: payments, provider events, refunds, account projection, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from scifikpi_common.migrations import create_outbox_and_inbox, drop_outbox_and_inbox
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending_payment', 'active', 'blocked')", name=op.f("accounts_status_check")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("accounts_pkey")),
        schema="payments",
    )
    create_outbox_and_inbox("payments")
    op.create_table(
        "payments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column(
            "request_fingerprint",
            sa.Text(),
            nullable=False,
            comment="SHA-256 of the canonical request body",
        ),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("quote_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.Text(), server_default=sa.text("'created'"), nullable=False),
        sa.Column("provider_payment_id", sa.Text(), nullable=True),
        sa.Column(
            "provider_status", sa.Text(), nullable=True, comment="last status the provider said"
        ),
        sa.Column("client_secret", sa.Text(), nullable=True, comment="Stripe PaymentIntent secret"),
        sa.Column("confirmation_url", sa.Text(), nullable=True, comment="YooKassa redirect URL"),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("submit_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("submit_lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submit_lease_token", sa.UUID(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True, comment="last provider call failure"),
        sa.Column(
            "next_check_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("check_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "finished_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="when it reached succeeded, failed or canceled",
        ),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(purpose = 'acceleration') = (quote_id IS NOT NULL)", name=op.f("payments_quote_check")
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("payments_currency_code_check")),
        sa.CheckConstraint(
            "provider IN ('stripe', 'yoomoney')", name=op.f("payments_provider_check")
        ),
        sa.CheckConstraint(
            "purpose IN ('registration', 'topup', 'acceleration')",
            name=op.f("payments_purpose_check"),
        ),
        sa.CheckConstraint(
            "status IN ('created', 'pending', 'succeeded', 'failed', 'canceled', 'refunded')",
            name=op.f("payments_status_check"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("payments_amount_positive_check")),
        sa.PrimaryKeyConstraint("id", name=op.f("payments_pkey")),
        sa.UniqueConstraint(
            "provider",
            "provider_payment_id",
            name=op.f("payments_provider_provider_payment_id_key"),
        ),
        sa.UniqueConstraint(
            "user_id", "idempotency_key", name=op.f("payments_user_id_idempotency_key_key")
        ),
        schema="payments",
    )
    op.create_index(
        "ix_payments_unfinished",
        "payments",
        ["next_check_at"],
        unique=False,
        schema="payments",
        postgresql_where=sa.text("status IN ('created', 'pending')"),
    )
    op.create_index(
        "ix_payments_user_id_created_at_id",
        "payments",
        ["user_id", "created_at", "id"],
        unique=False,
        schema="payments",
    )
    op.create_table(
        "provider_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column(
            "event_id",
            sa.Text(),
            nullable=False,
            comment="Stripe evt_ id; YooKassa `<object.id>:<event>`",
        ),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("object_id", sa.Text(), nullable=True, comment="provider payment/refund id"),
        sa.Column("payment_id", sa.UUID(), nullable=True, comment="our payment, once known"),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "deliveries",
            sa.Integer(),
            server_default=sa.text("1"),
            nullable=False,
            comment="times the provider delivered it",
        ),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "provider IN ('stripe', 'yoomoney')", name=op.f("provider_events_provider_check")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("provider_events_pkey")),
        sa.UniqueConstraint(
            "provider", "event_id", name=op.f("provider_events_provider_event_id_key")
        ),
        schema="payments",
    )
    op.create_index(
        "ix_provider_events_due",
        "provider_events",
        ["next_attempt_at"],
        unique=False,
        schema="payments",
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.create_table(
        "refunds",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'requested'"), nullable=False),
        sa.Column("provider_refund_id", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('requested', 'succeeded', 'failed')", name=op.f("refunds_status_check")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("refunds_pkey")),
        sa.UniqueConstraint("payment_id", name=op.f("refunds_payment_id_key")),
        schema="payments",
    )
    op.create_index(
        "ix_refunds_due",
        "refunds",
        ["next_attempt_at"],
        unique=False,
        schema="payments",
        postgresql_where=sa.text("status = 'requested'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_refunds_due",
        table_name="refunds",
        schema="payments",
        postgresql_where=sa.text("status = 'requested'"),
    )
    op.drop_table("refunds", schema="payments")
    op.drop_index(
        "ix_provider_events_due",
        table_name="provider_events",
        schema="payments",
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.drop_table("provider_events", schema="payments")
    op.drop_index("ix_payments_user_id_created_at_id", table_name="payments", schema="payments")
    op.drop_index(
        "ix_payments_unfinished",
        table_name="payments",
        schema="payments",
        postgresql_where=sa.text("status IN ('created', 'pending')"),
    )
    op.drop_table("payments", schema="payments")
    drop_outbox_and_inbox("payments")
    op.drop_table("accounts", schema="payments")
