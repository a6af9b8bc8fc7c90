"""Tables of the `auth` schema: users, refresh tokens, login failure counters, outbox, inbox."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from scifikpi_common.db import make_metadata
from scifikpi_common.inbox import inbox_table
from scifikpi_common.outbox import Outbox, outbox_table
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "auth"
metadata = make_metadata(SCHEMA)


class Base(DeclarativeBase):
    metadata = metadata


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
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

    id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    email: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    account_type: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text, server_default=text("'user'"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending_payment'"))
    country: Mapped[str] = mapped_column(String(2))
    full_name: Mapped[str | None] = mapped_column(Text)
    company_name: Mapped[str | None] = mapped_column(Text)
    company_tax_id: Mapped[str | None] = mapped_column(Text)
    representative_full_name: Mapped[str | None] = mapped_column(Text)
    representative_position: Mapped[str | None] = mapped_column(Text)
    initial_deposit_minor: Mapped[int] = mapped_column(BigInteger)
    initial_deposit_currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    activation_payment_id: Mapped[str | None] = mapped_column(Text)


# Emails are stored normalized; the unique index on lower(email) keeps them unique even if a row
# ever bypasses normalization, and it is what makes a registration race safe (not a pre-check).
Index("ix_users_email_lower", func.lower(User.email), unique=True)


class RefreshToken(Base):
    """One refresh token; a login starts a family, each rotation adds a member to it."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_family_id", "family_id"),
        Index("ix_refresh_tokens_user_id", "user_id"),
    )

    id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    user_id: Mapped[UUID] = mapped_column(
        PgUUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    family_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True))
    token_hash: Mapped[bytes] = mapped_column(
        LargeBinary, unique=True, comment="SHA-256 of the token"
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replaced_by: Mapped[UUID | None] = mapped_column(PgUUID(as_uuid=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginFailure(Base):
    """Failed logins per (scope, key) in a fixed window; `key` is a hashed email or an IP."""

    __tablename__ = "login_failures"
    __table_args__ = (
        CheckConstraint("scope IN ('account', 'ip')", name="scope"),
        Index("ix_login_failures_window_start", "window_start"),
    )

    scope: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


def make_outbox() -> Outbox:
    return Outbox(outbox, producer="auth")
