"""Initial nft schema: the catalog, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Hand-written: the supply CHECK (never more sold than the total) is the design; see
services/nft/README.md.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE nft.catalog_items (
            id                 uuid NOT NULL,
            name               text NOT NULL,
            description        text NOT NULL DEFAULT '',
            image_url          text NOT NULL,
            attributes         jsonb NOT NULL DEFAULT '[]'::jsonb,
            price_points_micro bigint NOT NULL,
            supply_total       integer NOT NULL,
            supply_sold        integer NOT NULL DEFAULT 0,
            status             text NOT NULL DEFAULT 'active',
            created_at         timestamptz NOT NULL,
            updated_at         timestamptz NOT NULL,
            CONSTRAINT catalog_items_pkey PRIMARY KEY (id),
            CONSTRAINT catalog_items_price_check CHECK (price_points_micro > 0),
            CONSTRAINT catalog_items_supply_total_check CHECK (supply_total > 0),
            -- the rule "never oversold" is this CHECK, not only a check in code
            CONSTRAINT catalog_items_supply_sold_check
                CHECK (supply_sold >= 0 AND supply_sold <= supply_total),
            CONSTRAINT catalog_items_status_check CHECK (status IN ('active', 'retired')),
            CONSTRAINT catalog_items_attributes_check CHECK (jsonb_typeof(attributes) = 'array')
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_catalog_items_active_page ON nft.catalog_items"
        " (created_at DESC, id DESC) WHERE status = 'active'"
    )
    op.execute("CREATE INDEX ix_catalog_items_page ON nft.catalog_items (created_at DESC, id DESC)")
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("inbox_pkey")),
        schema="nft",
    )  # fmt: skip
    op.create_table(
        "outbox",
        sa.Column(
            "id", sa.BigInteger(), sa.Identity(always=True), nullable=False, comment="relay order"
        ),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column(
            "payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False,
            comment="the whole envelope",
        ),
        sa.Column(
            "headers", postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"), nullable=False,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("outbox_pkey")),
        sa.UniqueConstraint("event_id", name=op.f("outbox_event_id_key")),
        schema="nft",
    )  # fmt: skip
    op.create_index(
        "ix_outbox_unpublished", "outbox", ["id"], unique=False, schema="nft",
        postgresql_where=sa.text("published_at IS NULL"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_outbox_unpublished", table_name="outbox", schema="nft")
    op.drop_table("outbox", schema="nft")
    op.drop_table("inbox", schema="nft")
    op.execute("DROP TABLE nft.catalog_items")
