"""Tables of the `auth` schema: users, refresh tokens, login failure counters, outbox, inbox.

SQLAlchemy Core tables, the same as `migrations/` creates (`alembic check` in the tests proves
it); `repository.py` runs the statements on them and maps rows to `domain` values.
"""

from __future__ import annotations

from scifikpi_common.db import make_metadata
from scifikpi_common.inbox import inbox_table
from scifikpi_common.outbox import Outbox, outbox_table
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

SCHEMA = "auth"
metadata = make_metadata(SCHEMA)

#: The unique index on lower(email); the repository turns its violation into `EmailTaken`.
EMAIL_INDEX = "ix_users_email_lower"

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("email", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("account_type", Text, nullable=False),
    Column("role", Text, nullable=False, server_default=text("'user'")),
    Column("status", Text, nullable=False, server_default=text("'pending_payment'")),
    Column("country", String(2), nullable=False),
    Column("full_name", Text),
    Column("company_name", Text),
    Column("company_tax_id", Text),
    Column("representative_full_name", Text),
    Column("representative_position", Text),
    Column("initial_deposit_minor", BigInteger, nullable=False),
    Column("initial_deposit_currency", String(3), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("activated_at", DateTime(timezone=True)),
    Column("activation_payment_id", Text),
    CheckConstraint("account_type IN ('individual', 'legal_entity')", name="account_type"),
    CheckConstraint("role IN ('user', 'admin')", name="role"),
    CheckConstraint("status IN ('pending_payment', 'active', 'blocked')", name="status"),
    CheckConstraint(
        "(account_type = 'individual' AND full_name IS NOT NULL) OR "
        "(account_type = 'legal_entity' AND company_name IS NOT NULL "
        "AND company_tax_id IS NOT NULL "
        "AND representative_full_name IS NOT NULL)",
        name="account_details",
    ),
    CheckConstraint("initial_deposit_minor > 0", name="initial_deposit_positive"),
)

# Emails are stored normalized; the unique index on lower(email) keeps them unique even if a row
# ever bypasses normalization, and it is what makes a registration race safe (not a pre-check).
Index(EMAIL_INDEX, func.lower(users.c.email), unique=True)

#: One refresh token; a login starts a family, each rotation adds a member to it.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "user_id", UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    Column("family_id", UUID(as_uuid=True), nullable=False),
    Column("token_hash", LargeBinary, nullable=False, unique=True, comment="SHA-256 of the token"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("rotated_at", DateTime(timezone=True)),
    Column("replaced_by", UUID(as_uuid=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Index("ix_refresh_tokens_family_id", "family_id"),
    Index("ix_refresh_tokens_user_id", "user_id"),
)

#: Failed logins per (scope, key) in a fixed window; `key` is a hashed email or an IP.
login_failures = Table(
    "login_failures",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("window_start", DateTime(timezone=True), primary_key=True),
    Column("failures", Integer, nullable=False, server_default=text("0")),
    CheckConstraint("scope IN ('account', 'ip')", name="scope"),
    Index("ix_login_failures_window_start", "window_start"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


def make_outbox() -> Outbox:
    return Outbox(outbox, producer="auth")
