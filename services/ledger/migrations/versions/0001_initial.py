"""Initial ledger schema: accounts, the transfer journal, rejections, history view, outbox, inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Hand-written: the CHECK constraints, the partial unique index that resolves each hold exactly
once, the append-only trigger and the history view are the design; see services/ledger/README.md.
"""

from collections.abc import Sequence

from alembic import op
from scifikpi_common.migrations import create_outbox_and_inbox, drop_outbox_and_inbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCOUNT_KINDS = (
    "'user_points', 'user_money', 'mining_issuance', 'nft_sales', 'acceleration_revenue', "
    "'refund_shortfall', 'clearing_stripe', 'clearing_yoomoney'"
)
TRANSFER_KINDS = (
    "'deposit', 'acceleration', 'refund', 'mining', 'nft_hold', 'nft_post', 'nft_void', "
    "'nft_expire'"
)


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE ledger.accounts (
            id              bigint GENERATED ALWAYS AS IDENTITY,
            user_id         uuid,
            kind            text NOT NULL,
            asset           text NOT NULL,
            posted_debits   bigint NOT NULL DEFAULT 0,
            posted_credits  bigint NOT NULL DEFAULT 0,
            pending_debits  bigint NOT NULL DEFAULT 0,
            pending_credits bigint NOT NULL DEFAULT 0,
            created_at      timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT accounts_pkey PRIMARY KEY (id),
            CONSTRAINT accounts_kind_check CHECK (kind IN ({ACCOUNT_KINDS})),
            CONSTRAINT accounts_asset_check CHECK (asset IN ('points', 'money')),
            CONSTRAINT accounts_owner_check
                CHECK ((user_id IS NOT NULL) = (kind IN ('user_points', 'user_money'))),
            CONSTRAINT accounts_columns_check CHECK (
                posted_debits >= 0 AND posted_credits >= 0
                AND pending_debits >= 0 AND pending_credits >= 0
            ),
            -- the backstop of the guarded UPDATEs: a user account never goes below zero
            CONSTRAINT accounts_no_overdraft_check CHECK (
                user_id IS NULL OR posted_credits - posted_debits - pending_debits >= 0
            ),
            CONSTRAINT accounts_user_id_kind_key UNIQUE (user_id, kind)
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX ix_accounts_system_kind ON ledger.accounts (kind)"
        " WHERE user_id IS NULL"
    )
    op.execute(
        f"""
        CREATE TABLE ledger.transfers (
            id                text NOT NULL,
            debit_account_id  bigint NOT NULL REFERENCES ledger.accounts (id),
            credit_account_id bigint NOT NULL REFERENCES ledger.accounts (id),
            amount            bigint NOT NULL,
            kind              text NOT NULL,
            phase             text NOT NULL,
            pending           boolean NOT NULL,
            user_id           uuid,
            pending_id        text REFERENCES ledger.transfers (id),
            expires_at        timestamptz,
            reference         jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
            CONSTRAINT transfers_pkey PRIMARY KEY (id),
            CONSTRAINT transfers_amount_check CHECK (amount > 0),
            CONSTRAINT transfers_accounts_check CHECK (debit_account_id <> credit_account_id),
            CONSTRAINT transfers_kind_check CHECK (kind IN ({TRANSFER_KINDS})),
            CONSTRAINT transfers_phase_check
                CHECK (phase IN ('single', 'pending', 'post', 'void', 'expire')),
            CONSTRAINT transfers_pending_check CHECK (pending = (phase = 'pending')),
            CONSTRAINT transfers_expiry_check
                CHECK ((phase = 'pending') = (expires_at IS NOT NULL)),
            CONSTRAINT transfers_resolution_check
                CHECK ((phase IN ('post', 'void', 'expire')) = (pending_id IS NOT NULL))
        )
        """
    )
    # A hold is resolved (post, void or expire) exactly once, whatever races.
    op.execute(
        "CREATE UNIQUE INDEX ix_transfers_one_resolution_per_hold ON ledger.transfers (pending_id)"
        " WHERE pending_id IS NOT NULL"
    )
    op.execute(
        "CREATE INDEX ix_transfers_open_holds ON ledger.transfers (expires_at)"
        " WHERE phase = 'pending'"
    )
    op.execute(
        "CREATE INDEX ix_transfers_user_history ON ledger.transfers"
        " (user_id, created_at DESC, id DESC) WHERE user_id IS NOT NULL"
    )
    op.execute("CREATE INDEX ix_transfers_debit ON ledger.transfers (debit_account_id)")
    op.execute("CREATE INDEX ix_transfers_credit ON ledger.transfers (credit_account_id)")
    op.execute(
        """
        CREATE FUNCTION ledger.transfers_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'ledger.transfers is append-only (% refused)', TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON ledger.transfers"
        " FOR EACH ROW EXECUTE FUNCTION ledger.transfers_append_only()"
    )
    op.execute(
        """
        CREATE TABLE ledger.rejections (
            id         text NOT NULL,
            reason     text NOT NULL,
            user_id    uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT rejections_pkey PRIMARY KEY (id)
        )
        """
    )
    op.execute(
        """
        CREATE VIEW ledger.history AS
        SELECT t.id, t.user_id, t.kind, t.phase, t.amount, d.asset,
               CASE WHEN c.user_id = t.user_id THEN 'in'
                    WHEN d.user_id = t.user_id THEN 'out'
                    ELSE 'external' END AS direction,
               t.reference, t.created_at
          FROM ledger.transfers t
          JOIN ledger.accounts d ON d.id = t.debit_account_id
          JOIN ledger.accounts c ON c.id = t.credit_account_id
         WHERE t.user_id IS NOT NULL
        """
    )
    create_outbox_and_inbox("ledger")


def downgrade() -> None:
    drop_outbox_and_inbox("ledger")
    op.execute("DROP VIEW ledger.history")
    op.execute("DROP TABLE ledger.rejections")
    op.execute("DROP TABLE ledger.transfers")
    op.execute("DROP FUNCTION ledger.transfers_append_only()")
    op.execute("DROP TABLE ledger.accounts")
