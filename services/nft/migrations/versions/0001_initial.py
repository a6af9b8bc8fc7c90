"""Initial nft schema: the catalog, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Hand-written: the supply CHECK (never more sold than the total) is the design; see
services/nft/README.md.
"""

from collections.abc import Sequence

from alembic import op
from scifikpi_common.migrations import create_outbox_and_inbox, drop_outbox_and_inbox

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
    create_outbox_and_inbox("nft")


def downgrade() -> None:
    drop_outbox_and_inbox("nft")
    op.execute("DROP TABLE nft.catalog_items")
