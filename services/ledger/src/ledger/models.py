"""Tables of the `ledger` schema (the migration `0001` is the authority; these mirror it).

- `accounts`: one row per user asset account and per system account, with TigerBeetle-style
  balance columns; a CHECK keeps every user account's available balance >= 0;
- `transfers`: the append-only journal (a trigger refuses UPDATE/DELETE); ids derive from the
  causing event; a partial unique index on `pending_id` resolves each hold exactly once;
- `account_slots`: partial sums of system accounts (migration `0002`): a system account's balance
  is its `accounts` row plus the sum of its slots (view `account_balances`), so postings against
  the same system account do not serialise on one row lock;
- `rejections`: hold ids refused for insufficient funds (a refused id stays refused);
- `history`: a view of each user's operations (keyset-paged by `(created_at, id)`);
- `outbox`, `inbox`.
"""

from __future__ import annotations

from scifikpi_common.db import make_metadata
from scifikpi_common.inbox import inbox_table
from scifikpi_common.outbox import Outbox, outbox_table
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID

SCHEMA = "ledger"
metadata = make_metadata(SCHEMA)

accounts = Table(
    "accounts",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("user_id", PgUUID(as_uuid=True)),
    Column("kind", Text, nullable=False),
    Column("asset", Text, nullable=False),
    Column("posted_debits", BigInteger, nullable=False, server_default="0"),
    Column("posted_credits", BigInteger, nullable=False, server_default="0"),
    Column("pending_debits", BigInteger, nullable=False, server_default="0"),
    Column("pending_credits", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("user_id", "kind"),
    Index("ix_accounts_system_kind", "kind", unique=True, postgresql_where=text("user_id IS NULL")),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", Text, primary_key=True),
    Column("debit_account_id", BigInteger, ForeignKey(accounts.c.id), nullable=False),
    Column("credit_account_id", BigInteger, ForeignKey(accounts.c.id), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("phase", Text, nullable=False),
    Column("pending", Boolean, nullable=False),
    Column("user_id", PgUUID(as_uuid=True)),
    Column("pending_id", Text, ForeignKey("ledger.transfers.id")),
    Column("expires_at", DateTime(timezone=True)),
    Column("reference", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index(
        "ix_transfers_one_resolution_per_hold",
        "pending_id",
        unique=True,
        postgresql_where=text("pending_id IS NOT NULL"),
    ),
    Index("ix_transfers_open_holds", "expires_at", postgresql_where=text("phase = 'pending'")),
    Index("ix_transfers_debit", "debit_account_id"),
    Index("ix_transfers_credit", "credit_account_id"),
)
Index(
    "ix_transfers_user_history",
    transfers.c.user_id,
    transfers.c.created_at.desc(),
    transfers.c.id.desc(),
    postgresql_where=text("user_id IS NOT NULL"),
)

account_slots = Table(
    "account_slots",
    metadata,
    Column("account_id", BigInteger, ForeignKey(accounts.c.id), primary_key=True),
    Column("slot", SmallInteger, primary_key=True),
    Column("posted_debits", BigInteger, nullable=False, server_default="0"),
    Column("posted_credits", BigInteger, nullable=False, server_default="0"),
    Column("pending_debits", BigInteger, nullable=False, server_default="0"),
    Column("pending_credits", BigInteger, nullable=False, server_default="0"),
    comment="partial sums (deltas) of system accounts; balance = accounts row + sum of its slots"
    " (view account_balances)",
)

rejections = Table(
    "rejections",
    metadata,
    Column("id", Text, primary_key=True),
    Column("reason", Text, nullable=False),
    Column("user_id", PgUUID(as_uuid=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


def make_outbox() -> Outbox:
    return Outbox(outbox, producer="ledger")
