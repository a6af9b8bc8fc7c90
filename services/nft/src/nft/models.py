"""Tables of the `nft` schema (the migration `0001` is the authority; these mirror it).

- `catalog_items`: what admins sell: price in micro-points, supply with a CHECK that the sold
  count never exceeds the total, `active` / `retired`;
- `outbox`, `inbox`.
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
    Index,
    Integer,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID

SCHEMA = "nft"
metadata = make_metadata(SCHEMA)

catalog_items = Table(
    "catalog_items",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("image_url", Text, nullable=False),
    Column("attributes", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("price_points_micro", BigInteger, nullable=False),
    Column("supply_total", Integer, nullable=False),
    Column("supply_sold", Integer, nullable=False, server_default="0"),
    Column("status", Text, nullable=False, server_default="active"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("price_points_micro > 0", name="price"),
    CheckConstraint("supply_total > 0", name="supply_total"),
    CheckConstraint("supply_sold >= 0 AND supply_sold <= supply_total", name="supply_sold"),
    CheckConstraint("status IN ('active', 'retired')", name="status"),
    CheckConstraint("jsonb_typeof(attributes) = 'array'", name="attributes"),
)
# Keyset pages, newest first: the public catalog (active only) and the admin list (all).
Index(
    "ix_catalog_items_active_page",
    catalog_items.c.created_at.desc(),
    catalog_items.c.id.desc(),
    postgresql_where=text("status = 'active'"),
)
Index("ix_catalog_items_page", catalog_items.c.created_at.desc(), catalog_items.c.id.desc())

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


def make_outbox() -> Outbox:
    return Outbox(outbox, producer="nft")
