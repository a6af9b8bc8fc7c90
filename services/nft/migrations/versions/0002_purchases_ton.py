"""Purchases, minted NFTs, transfers, wallets and the TON send log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Hand-written. The rules that keep money and items consistent live here as constraints:
- one purchase per (user, Idempotency-Key);
- one minted NFT per purchase and per on-chain index;
- one transfer in flight per NFT;
- one wallet per account and one account per wallet;
- a challenge payload is used at most once (`used_at` is set once, by a guarded UPDATE).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE nft.ton_messages (
            id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind            text NOT NULL,
            query_id        bigint NOT NULL,
            created_at_chain bigint NOT NULL,
            timeout_s       integer NOT NULL,
            boc             bytea NOT NULL,
            message_hash    text NOT NULL,
            items           integer NOT NULL,
            status          text NOT NULL DEFAULT 'signed',
            sends           integer NOT NULL DEFAULT 0,
            last_sent_at    timestamptz,
            processed_at    timestamptz,
            last_error      text,
            outcome         text,
            created_at      timestamptz NOT NULL,
            settled_at      timestamptz,
            CONSTRAINT ton_messages_kind_check CHECK (kind IN ('mint', 'transfer', 'deploy')),
            CONSTRAINT ton_messages_status_check
                CHECK (status IN ('signed', 'sent', 'settled')),
            CONSTRAINT ton_messages_hash_key UNIQUE (message_hash)
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_ton_messages_open ON nft.ton_messages (id) WHERE status <> 'settled'"
    )
    op.execute("CREATE SEQUENCE nft.hl_query_seq AS bigint MINVALUE 0 START 0")
    op.execute(
        """
        CREATE TABLE nft.purchases (
            id                 uuid PRIMARY KEY,
            user_id            uuid NOT NULL,
            catalog_item_id    uuid NOT NULL REFERENCES nft.catalog_items (id),
            idempotency_key    text NOT NULL,
            price_points_micro bigint NOT NULL CHECK (price_points_micro > 0),
            status             text NOT NULL,
            failure_reason     text,
            mint_attempts      integer NOT NULL DEFAULT 0,
            item_index         bigint,
            message_id         bigint REFERENCES nft.ton_messages (id),
            created_at         timestamptz NOT NULL,
            updated_at         timestamptz NOT NULL,
            reserved_at        timestamptz,
            completed_at       timestamptz,
            failed_at          timestamptz,
            CONSTRAINT purchases_status_check
                CHECK (status IN ('pending', 'reserved', 'completed', 'failed')),
            CONSTRAINT purchases_failed_reason_check
                CHECK ((status = 'failed') = (failure_reason IS NOT NULL)),
            CONSTRAINT purchases_idempotency_key UNIQUE (user_id, idempotency_key)
        )
        """
    )
    op.execute(
        "CREATE INDEX ix_purchases_user_page ON nft.purchases (user_id, created_at DESC, id DESC)"
    )
    # What the worker and the sweeper look for: open purchases in arrival order.
    op.execute(
        "CREATE INDEX ix_purchases_open ON nft.purchases (status, updated_at)"
        " WHERE status IN ('pending', 'reserved')"
    )
    op.execute(
        "CREATE INDEX ix_purchases_message ON nft.purchases (message_id)"
        " WHERE message_id IS NOT NULL"
    )
    op.execute(
        """
        CREATE TABLE nft.nfts (
            id                 uuid PRIMARY KEY,
            purchase_id        uuid NOT NULL UNIQUE REFERENCES nft.purchases (id),
            user_id            uuid NOT NULL,
            catalog_item_id    uuid NOT NULL REFERENCES nft.catalog_items (id),
            collection_address text NOT NULL,
            item_index         bigint NOT NULL,
            item_address       text NOT NULL UNIQUE,
            owner_address      text NOT NULL,
            status             text NOT NULL DEFAULT 'custody',
            minted_at          timestamptz NOT NULL,
            transferred_at     timestamptz,
            CONSTRAINT nfts_status_check CHECK (status IN ('custody', 'transferred')),
            CONSTRAINT nfts_index_key UNIQUE (collection_address, item_index)
        )
        """
    )
    op.execute("CREATE INDEX ix_nfts_user_page ON nft.nfts (user_id, minted_at DESC, id DESC)")
    op.execute(
        """
        CREATE TABLE nft.wallets (
            user_id     uuid PRIMARY KEY,
            address     text NOT NULL,
            public_key  text NOT NULL,
            verified_at timestamptz NOT NULL,
            CONSTRAINT wallets_address_key UNIQUE (address)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE nft.wallet_challenges (
            payload    text PRIMARY KEY,
            user_id    uuid NOT NULL,
            created_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            used_at    timestamptz
        )
        """
    )
    op.execute("CREATE INDEX ix_wallet_challenges_expiry ON nft.wallet_challenges (expires_at)")
    op.execute(
        """
        CREATE TABLE nft.transfers (
            id               uuid PRIMARY KEY,
            nft_id           uuid NOT NULL REFERENCES nft.nfts (id),
            user_id          uuid NOT NULL,
            to_address       text NOT NULL,
            status           text NOT NULL,
            attempts         integer NOT NULL DEFAULT 0,
            message_id       bigint REFERENCES nft.ton_messages (id),
            message_hash     text,
            failure_reason   text,
            created_at       timestamptz NOT NULL,
            updated_at       timestamptz NOT NULL,
            completed_at     timestamptz,
            CONSTRAINT transfers_status_check
                CHECK (status IN ('pending', 'completed', 'failed')),
            CONSTRAINT transfers_failed_reason_check
                CHECK ((status = 'failed') = (failure_reason IS NOT NULL))
        )
        """
    )
    # At most one transfer of an NFT in flight.
    op.execute(
        "CREATE UNIQUE INDEX ux_transfers_in_flight ON nft.transfers (nft_id)"
        " WHERE status = 'pending'"
    )
    op.execute(
        "CREATE INDEX ix_transfers_open ON nft.transfers (updated_at) WHERE status = 'pending'"
    )


def downgrade() -> None:
    op.execute("DROP TABLE nft.transfers")
    op.execute("DROP TABLE nft.wallet_challenges")
    op.execute("DROP TABLE nft.wallets")
    op.execute("DROP TABLE nft.nfts")
    op.execute("DROP TABLE nft.purchases")
    op.execute("DROP SEQUENCE nft.hl_query_seq")
    op.execute("DROP TABLE nft.ton_messages")
