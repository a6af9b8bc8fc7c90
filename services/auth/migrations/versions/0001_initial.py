"""Initial auth schema: users, refresh tokens, login failure counters, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
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

SCHEMA = "auth"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("account_type", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), server_default=sa.text("'user'"), nullable=False),
        sa.Column("status", sa.Text(), server_default=sa.text("'pending_payment'"), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("full_name", sa.Text(), nullable=True),
        sa.Column("company_name", sa.Text(), nullable=True),
        sa.Column("company_tax_id", sa.Text(), nullable=True),
        sa.Column("representative_full_name", sa.Text(), nullable=True),
        sa.Column("representative_position", sa.Text(), nullable=True),
        sa.Column("initial_deposit_minor", sa.BigInteger(), nullable=False),
        sa.Column("initial_deposit_currency", sa.String(length=3), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activation_payment_id", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "account_type IN ('individual', 'legal_entity')", name=op.f("users_account_type_check")
        ),
        sa.CheckConstraint("role IN ('user', 'admin')", name=op.f("users_role_check")),
        sa.CheckConstraint(
            "status IN ('pending_payment', 'active', 'blocked')", name=op.f("users_status_check")
        ),
        sa.CheckConstraint(
            "(account_type = 'individual' AND full_name IS NOT NULL) OR "
            "(account_type = 'legal_entity' AND company_name IS NOT NULL "
            "AND company_tax_id IS NOT NULL "
            "AND representative_full_name IS NOT NULL)",
            name=op.f("users_account_details_check"),
        ),
        sa.CheckConstraint(
            "initial_deposit_minor > 0", name=op.f("users_initial_deposit_positive_check")
        ),
        sa.PrimaryKeyConstraint("id", name="users_pkey"),
        schema=SCHEMA,
    )
    # Case-insensitive uniqueness; registration races are decided by this index.
    op.create_index(
        "ix_users_email_lower", "users", [sa.text("lower(email)")], unique=True, schema=SCHEMA
    )

    op.create_table(
        "refresh_tokens",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("family_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False, comment="SHA-256 of the token"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_by", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            [f"{SCHEMA}.users.id"],
            name="refresh_tokens_user_id_fkey",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="refresh_tokens_pkey"),
        sa.UniqueConstraint("token_hash", name="refresh_tokens_token_hash_key"),
        schema=SCHEMA,
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"], schema=SCHEMA)
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"], schema=SCHEMA)

    op.create_table(
        "login_failures",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("scope IN ('account', 'ip')", name=op.f("login_failures_scope_check")),
        sa.PrimaryKeyConstraint("scope", "key", "window_start", name="login_failures_pkey"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_login_failures_window_start", "login_failures", ["window_start"], schema=SCHEMA
    )

    create_outbox_and_inbox(SCHEMA)


def downgrade() -> None:
    drop_outbox_and_inbox(SCHEMA)
    op.drop_index("ix_login_failures_window_start", table_name="login_failures", schema=SCHEMA)
    op.drop_table("login_failures", schema=SCHEMA)
    op.drop_index("ix_refresh_tokens_user_id", table_name="refresh_tokens", schema=SCHEMA)
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens", schema=SCHEMA)
    op.drop_table("refresh_tokens", schema=SCHEMA)
    op.drop_index("ix_users_email_lower", table_name="users", schema=SCHEMA)
    op.drop_table("users", schema=SCHEMA)
