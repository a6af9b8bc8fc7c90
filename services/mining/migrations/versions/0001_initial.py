"""Initial mining schema: account projection, sessions, quotes, acceleration decisions, outbox,
inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

Hand-written: the partial unique index (one active session per user), the single-use quote and
the CHECKs are the design; see services/mining/README.md.
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
        CREATE TABLE mining.accounts (
            user_id                  uuid NOT NULL,
            status                   text,
            total_deposits_usd_minor bigint NOT NULL DEFAULT 0,
            deposits_booked_at       timestamptz,
            updated_at               timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT accounts_pkey PRIMARY KEY (user_id),
            CONSTRAINT accounts_status_check
                CHECK (status IS NULL OR status IN ('pending_payment', 'active')),
            CONSTRAINT accounts_deposits_check CHECK (total_deposits_usd_minor >= 0)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE mining.sessions (
            id                  uuid NOT NULL,
            user_id             uuid NOT NULL,
            status              text NOT NULL DEFAULT 'active',
            started_at          timestamptz NOT NULL,
            ends_at             timestamptz NOT NULL,
            duration_s          integer NOT NULL,
            skipped_s           integer NOT NULL DEFAULT 0,
            rate_micro_per_hour bigint NOT NULL,
            target_micro        bigint NOT NULL,
            completed_at        timestamptz,
            CONSTRAINT sessions_pkey PRIMARY KEY (id),
            CONSTRAINT sessions_status_check CHECK (status IN ('active', 'completed')),
            CONSTRAINT sessions_completed_check
                CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
            CONSTRAINT sessions_duration_check CHECK (duration_s > 0),
            CONSTRAINT sessions_skipped_check CHECK (skipped_s >= 0 AND skipped_s <= duration_s),
            CONSTRAINT sessions_rate_check CHECK (rate_micro_per_hour >= 0 AND target_micro >= 0),
            -- ends_at is derived, never free: started_at + D - skipped_s
            CONSTRAINT sessions_ends_at_check CHECK (
                ends_at = started_at + make_interval(secs => duration_s - skipped_s)
            )
        )
        """
    )
    # The rule "one running session per user" is this index, not a check in code.
    op.execute(
        "CREATE UNIQUE INDEX ix_sessions_one_active_per_user ON mining.sessions (user_id)"
        " WHERE status = 'active'"
    )
    op.execute("CREATE INDEX ix_sessions_due ON mining.sessions (ends_at) WHERE status = 'active'")
    op.execute(
        "CREATE INDEX ix_sessions_user_history ON mining.sessions"
        " (user_id, started_at DESC, id DESC)"
    )
    op.execute(
        """
        CREATE TABLE mining.quotes (
            id                 uuid NOT NULL,
            user_id            uuid NOT NULL,
            session_id         uuid NOT NULL,
            seconds            integer NOT NULL,
            price_minor        bigint NOT NULL,
            currency           text NOT NULL DEFAULT 'USD',
            created_at         timestamptz NOT NULL,
            valid_until        timestamptz NOT NULL,
            used_by_payment_id uuid,
            used_at            timestamptz,
            CONSTRAINT quotes_pkey PRIMARY KEY (id),
            CONSTRAINT quotes_session_id_fkey FOREIGN KEY (session_id)
                REFERENCES mining.sessions (id),
            CONSTRAINT quotes_used_by_payment_id_key UNIQUE (used_by_payment_id),
            CONSTRAINT quotes_seconds_check CHECK (seconds > 0),
            CONSTRAINT quotes_price_check CHECK (price_minor > 0),
            CONSTRAINT quotes_currency_check CHECK (currency = 'USD'),
            CONSTRAINT quotes_validity_check CHECK (valid_until > created_at),
            CONSTRAINT quotes_used_check CHECK ((used_by_payment_id IS NULL) = (used_at IS NULL))
        )
        """
    )
    op.execute("CREATE INDEX ix_quotes_session_id ON mining.quotes (session_id)")
    op.execute(
        "CREATE INDEX ix_quotes_unused_valid_until ON mining.quotes (valid_until)"
        " WHERE used_by_payment_id IS NULL"
    )
    op.execute(
        """
        CREATE TABLE mining.accelerations (
            payment_id      uuid NOT NULL,
            user_id         uuid NOT NULL,
            quote_id        uuid,
            outcome         text NOT NULL,
            reason          text,
            seconds_applied integer,
            decided_at      timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT accelerations_pkey PRIMARY KEY (payment_id),
            CONSTRAINT accelerations_outcome_check CHECK (
                (outcome = 'applied' AND seconds_applied > 0 AND reason IS NULL)
                OR (outcome = 'rejected' AND reason IS NOT NULL AND seconds_applied IS NULL)
            )
        )
        """
    )
    create_outbox_and_inbox("mining")


def downgrade() -> None:
    drop_outbox_and_inbox("mining")
    op.execute("DROP TABLE mining.accelerations")
    op.execute("DROP TABLE mining.quotes")
    op.execute("DROP TABLE mining.sessions")
    op.execute("DROP TABLE mining.accounts")
