"""Tables of the `analytics` schema (the migration `0001` is the authority; these mirror it).

Narrow facts, one row per business fact and keyed by its own id, so a fact that arrives twice
(redelivered, replayed, or the same fact under another event id) lands once; and `rollups`, the
sums of every metric in 15-minute UTC buckets, moved only by a fact that landed. Every figure is
either a sum of buckets or a query over facts, so a rebuild from the topics gives the same numbers.

- `accounts`: one row per user: type, country, and when they reached each funnel step;
- `payments`: one row per payment outcome (succeeded / failed / refunded);
- `sessions`, `accelerations`: mining sessions and the accelerations applied to them;
- `point_movements`: the ledger's points transfers (credit, hold, capture, release);
- `purchases`, `catalog_items`, `transfers`: the NFT side;
- `rollups`: metric × dimension × 15-minute bucket -> integer sum;
- `rollup_totals`: metric × dimension -> the all-time sum of its `rollups` cells, moved by the
  same batch in the same transaction (a total that ends at 0 is deleted, as a cell is), so the
  summary's totals are a read of a few hundred rows, not a scan of every bucket;
- `catalog_items.first_seen_at`: the earliest catalog event's time (LEAST-merged), the stable
  order key of the `nft/items` pages (an edit moves `changed_at`, never it);
- `topic_progress`: per topic, events applied and the newest one's time (the answers' `as_of`);
- `outbox` (always empty: analytics publishes nothing, the unit of work carries one), `inbox`.
"""

from __future__ import annotations

from scifikpi_common.db import make_metadata
from scifikpi_common.inbox import inbox_table
from scifikpi_common.outbox import Outbox, outbox_table
from sqlalchemy import BigInteger, Column, DateTime, Index, Table, Text, text
from sqlalchemy.dialects.postgresql import UUID as PgUUID

SCHEMA = "analytics"
metadata = make_metadata(SCHEMA)


def _at(name: str, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _id(name: str, primary_key: bool = False, nullable: bool = True) -> Column[object]:
    return Column(
        name, PgUUID(as_uuid=True), primary_key=primary_key, nullable=nullable and not primary_key
    )


accounts = Table(
    "accounts",
    metadata,
    _id("user_id", primary_key=True),
    Column("account_type", Text),
    Column("country", Text),
    _at("registered_at"),
    _at("activated_at"),
    _at("first_session_at"),
    _at("first_purchase_at"),
    _at("wallet_bound_at"),
    _at("first_transfer_at"),
    Index("ix_accounts_registered_at", "registered_at"),
    Index("ix_accounts_activated_at", "activated_at", postgresql_include=["registered_at"]),
)

payments = Table(
    "payments",
    metadata,
    _id("payment_id", primary_key=True),
    Column("outcome", Text, primary_key=True),
    _id("user_id", nullable=False),
    Column("purpose", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("reason", Text),
    _at("occurred_at", nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    _id("session_id", primary_key=True),
    _id("user_id", nullable=False),
    _at("started_at"),
    _at("completed_at"),
    Column("points_micro", BigInteger),
    Index("ix_sessions_running", "user_id", postgresql_where=text("completed_at IS NULL")),
)

accelerations = Table(
    "accelerations",
    metadata,
    _id("payment_id", primary_key=True),
    _id("session_id", nullable=False),
    _id("user_id", nullable=False),
    Column("seconds_applied", BigInteger, nullable=False),
    _at("accelerated_at", nullable=False),
)

point_movements = Table(
    "point_movements",
    metadata,
    Column("transfer_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    _id("user_id", nullable=False),
    Column("points_micro", BigInteger, nullable=False),
    _at("booked_at", nullable=False),
)

purchases = Table(
    "purchases",
    metadata,
    _id("purchase_id", primary_key=True),
    _id("user_id", nullable=False),
    _id("catalog_item_id"),
    Column("price_points_micro", BigInteger),
    _at("requested_at"),
    _at("minted_at"),
    _at("failed_at"),
    Column("failure_reason", Text),
    Index("ix_purchases_catalog_item_id", "catalog_item_id"),
    Index("ix_purchases_minted_at", "minted_at", postgresql_include=["requested_at"]),
)

catalog_items = Table(
    "catalog_items",
    metadata,
    _id("item_id", primary_key=True),
    Column("name", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("supply_total", BigInteger, nullable=False),
    Column("price_points_micro", BigInteger, nullable=False),
    _at("changed_at", nullable=False),
    _at("first_seen_at", nullable=False),
)

transfers = Table(
    "transfers",
    metadata,
    _id("transfer_id", primary_key=True),
    _id("user_id", nullable=False),
    _id("nft_id", nullable=False),
    _at("transferred_at", nullable=False),
)

rollups = Table(
    "rollups",
    metadata,
    Column("metric", Text, primary_key=True),
    Column("dimension", Text, primary_key=True),
    Column("bucket_start", DateTime(timezone=True), primary_key=True),
    Column("value", BigInteger, nullable=False),
    Index(
        "ix_rollups_metric_bucket_start",
        "metric",
        "bucket_start",
        postgresql_include=["dimension", "value"],
    ),
)

rollup_totals = Table(
    "rollup_totals",
    metadata,
    Column("metric", Text, primary_key=True),
    Column("dimension", Text, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

topic_progress = Table(
    "topic_progress",
    metadata,
    Column("topic", Text, primary_key=True),
    Column("events_applied", BigInteger, nullable=False),
    _at("newest_event_at", nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


def make_outbox() -> Outbox:
    return Outbox(outbox, producer=SCHEMA)
