"""Initial analytics schema: facts, 15-minute rollups and their all-time totals, topic progress,
outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-12-07

Hand-written: each fact's key is the business id it is deduplicated by (a payment outcome, a
ledger transfer, a session...), and the rollup's key is (metric, dimension, bucket); see
services/analytics/README.md.
"""

from collections.abc import Sequence

from alembic import op
from scifikpi_common.migrations import create_outbox_and_inbox, drop_outbox_and_inbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: One statement each: asyncpg runs a single command per execute.
TABLES = (
    """
    CREATE TABLE analytics.accounts (
        user_id            uuid NOT NULL,
        account_type       text,
        country            text,
        registered_at      timestamptz,
        activated_at       timestamptz,
        first_session_at   timestamptz,
        first_purchase_at  timestamptz,
        wallet_bound_at    timestamptz,
        first_transfer_at  timestamptz,
        CONSTRAINT accounts_pkey PRIMARY KEY (user_id)
    )
    """,
    "CREATE INDEX ix_accounts_registered_at ON analytics.accounts (registered_at)",
    # time to activation over the last 30 days: an index-only range scan
    """
    CREATE INDEX ix_accounts_activated_at ON analytics.accounts (activated_at)
    INCLUDE (registered_at)
    """,
    """
    CREATE TABLE analytics.payments (
        payment_id    uuid NOT NULL,
        outcome       text NOT NULL,
        user_id       uuid NOT NULL,
        purpose       text NOT NULL,
        provider      text NOT NULL,
        currency      text NOT NULL,
        amount_minor  bigint NOT NULL,
        reason        text,
        occurred_at   timestamptz NOT NULL,
        CONSTRAINT payments_pkey PRIMARY KEY (payment_id, outcome)
    )
    """,
    """
    CREATE TABLE analytics.sessions (
        session_id    uuid NOT NULL,
        user_id       uuid NOT NULL,
        started_at    timestamptz,
        completed_at  timestamptz,
        points_micro  bigint,
        CONSTRAINT sessions_pkey PRIMARY KEY (session_id)
    )
    """,
    """
    CREATE INDEX ix_sessions_running ON analytics.sessions (user_id)
    WHERE completed_at IS NULL
    """,
    """
    CREATE TABLE analytics.accelerations (
        payment_id       uuid NOT NULL,
        session_id       uuid NOT NULL,
        user_id          uuid NOT NULL,
        seconds_applied  bigint NOT NULL,
        accelerated_at   timestamptz NOT NULL,
        CONSTRAINT accelerations_pkey PRIMARY KEY (payment_id)
    )
    """,
    """
    CREATE TABLE analytics.point_movements (
        transfer_id   text NOT NULL,
        kind          text NOT NULL,
        user_id       uuid NOT NULL,
        points_micro  bigint NOT NULL,
        booked_at     timestamptz NOT NULL,
        CONSTRAINT point_movements_pkey PRIMARY KEY (transfer_id)
    )
    """,
    """
    CREATE TABLE analytics.purchases (
        purchase_id         uuid NOT NULL,
        user_id             uuid NOT NULL,
        catalog_item_id     uuid,
        price_points_micro  bigint,
        requested_at        timestamptz,
        minted_at           timestamptz,
        failed_at           timestamptz,
        failure_reason      text,
        CONSTRAINT purchases_pkey PRIMARY KEY (purchase_id)
    )
    """,
    "CREATE INDEX ix_purchases_catalog_item_id ON analytics.purchases (catalog_item_id)",
    # mint latency over the last 30 days: an index-only range scan
    """
    CREATE INDEX ix_purchases_minted_at ON analytics.purchases (minted_at)
    INCLUDE (requested_at)
    """,
    """
    CREATE TABLE analytics.catalog_items (
        item_id             uuid NOT NULL,
        name                text NOT NULL,
        status              text NOT NULL,
        supply_total        bigint NOT NULL,
        price_points_micro  bigint NOT NULL,
        changed_at          timestamptz NOT NULL,
        first_seen_at       timestamptz NOT NULL,
        CONSTRAINT catalog_items_pkey PRIMARY KEY (item_id)
    )
    """,
    """
    CREATE TABLE analytics.transfers (
        transfer_id     uuid NOT NULL,
        user_id         uuid NOT NULL,
        nft_id          uuid NOT NULL,
        transferred_at  timestamptz NOT NULL,
        CONSTRAINT transfers_pkey PRIMARY KEY (transfer_id)
    )
    """,
    """
    CREATE TABLE analytics.rollups (
        metric        text NOT NULL,
        dimension     text NOT NULL,
        bucket_start  timestamptz NOT NULL,
        value         bigint NOT NULL,
        CONSTRAINT rollups_pkey PRIMARY KEY (metric, dimension, bucket_start)
    )
    """,
    # a metric's range of buckets (a series, the summary's windows) as an index-only scan
    """
    CREATE INDEX ix_rollups_metric_bucket_start ON analytics.rollups (metric, bucket_start)
    INCLUDE (dimension, value)
    """,
    # all-time sum per metric x dimension, moved with `rollups` in the same transaction
    """
    CREATE TABLE analytics.rollup_totals (
        metric     text NOT NULL,
        dimension  text NOT NULL,
        value      bigint NOT NULL,
        CONSTRAINT rollup_totals_pkey PRIMARY KEY (metric, dimension)
    )
    """,
    """
    CREATE TABLE analytics.topic_progress (
        topic            text NOT NULL,
        events_applied   bigint NOT NULL,
        newest_event_at  timestamptz NOT NULL,
        CONSTRAINT topic_progress_pkey PRIMARY KEY (topic)
    )
    """,
)
DROPS = (
    "DROP TABLE analytics.topic_progress",
    "DROP TABLE analytics.rollup_totals",
    "DROP TABLE analytics.rollups",
    "DROP TABLE analytics.transfers",
    "DROP TABLE analytics.catalog_items",
    "DROP TABLE analytics.purchases",
    "DROP TABLE analytics.point_movements",
    "DROP TABLE analytics.accelerations",
    "DROP TABLE analytics.sessions",
    "DROP TABLE analytics.payments",
    "DROP TABLE analytics.accounts",
)


def upgrade() -> None:
    for statement in TABLES:
        op.execute(statement)
    create_outbox_and_inbox("analytics")


def downgrade() -> None:
    drop_outbox_and_inbox("analytics")
    for statement in DROPS:
        op.execute(statement)
