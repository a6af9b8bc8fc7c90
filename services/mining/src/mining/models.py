"""Tables of the `mining` schema (the migration `0001` is the authority; these mirror it).

- `accounts`: the projection of what other services know about a user: account status (from
  auth.user.v1) and total deposits (from ledger.account.v1), which sets a new session's rate;
- `sessions`: one row per session; a partial unique index allows one `active` session per user;
- `quotes`: acceleration offers, used at most once (`used_by_payment_id` is unique);
- `accelerations`: the decision (applied / rejected) per acceleration payment, so the same
  payment seen again under another event id changes nothing;
- `outbox`, `inbox`.
"""

from __future__ import annotations

from scifikpi_common.db import make_metadata
from scifikpi_common.inbox import inbox_table
from scifikpi_common.outbox import Outbox, outbox_table
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID as PgUUID

SCHEMA = "mining"
metadata = make_metadata(SCHEMA)

accounts = Table(
    "accounts",
    metadata,
    Column("user_id", PgUUID(as_uuid=True), primary_key=True),
    Column("status", Text),
    Column("total_deposits_usd_minor", BigInteger, nullable=False, server_default="0"),
    Column("deposits_booked_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("user_id", PgUUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False, server_default="active"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("duration_s", Integer, nullable=False),
    Column("skipped_s", Integer, nullable=False, server_default="0"),
    Column("rate_micro_per_hour", BigInteger, nullable=False),
    Column("target_micro", BigInteger, nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    Index(
        "ix_sessions_one_active_per_user",
        "user_id",
        unique=True,
        postgresql_where=text("status = 'active'"),
    ),
    Index("ix_sessions_due", "ends_at", postgresql_where=text("status = 'active'")),
)
Index(
    "ix_sessions_user_history",
    sessions.c.user_id,
    sessions.c.started_at.desc(),
    sessions.c.id.desc(),
)

quotes = Table(
    "quotes",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("user_id", PgUUID(as_uuid=True), nullable=False),
    Column("session_id", PgUUID(as_uuid=True), ForeignKey(sessions.c.id), nullable=False),
    Column("seconds", Integer, nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False, server_default="USD"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("valid_until", DateTime(timezone=True), nullable=False),
    Column("used_by_payment_id", PgUUID(as_uuid=True)),
    Column("used_at", DateTime(timezone=True)),
    UniqueConstraint("used_by_payment_id"),
    Index("ix_quotes_session_id", "session_id"),
    Index(
        "ix_quotes_unused_valid_until",
        "valid_until",
        postgresql_where=text("used_by_payment_id IS NULL"),
    ),
)

accelerations = Table(
    "accelerations",
    metadata,
    Column("payment_id", PgUUID(as_uuid=True), primary_key=True),
    Column("user_id", PgUUID(as_uuid=True), nullable=False),
    Column("quote_id", PgUUID(as_uuid=True)),
    Column("outcome", Text, nullable=False),
    Column("reason", Text),
    Column("seconds_applied", Integer),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


def make_outbox() -> Outbox:
    return Outbox(outbox, producer="mining")
