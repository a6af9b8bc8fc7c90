"""Fast postings: slotted system-account balances and one PL/pgSQL function per posting kind.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

- `account_slots`: a system account's movements land in one of `SLOTS` partial-sum rows
  (`hashtext(transfer or hold id) & (SLOTS - 1)`), so postings crediting or debiting the same
  system account (every `MiningCompleted` debits `mining_issuance`) no longer queue on one row
  lock. A slot row holds deltas (a release in another slot than its hold may go negative); the
  account's balance is its `accounts` row plus the sum of its slots (view `account_balances`).
  System accounts are unlimited and never guarded, so nothing ever needs to read that sum inside
  a posting. User accounts keep being updated in place, guarded.
- `ledger.account_of`, `ledger.post_transfer`, `ledger.resolve_hold`, `ledger.credit_batch`: one
  round trip per posting (and per batch of credits). Lock order everywhere: transfer id (unique
  index) → user account rows in ascending id → system slots in ascending (account id, slot).

The function and view bodies are in `sql/0002/*.sql` next to this file (executed as read).
Downgrade folds every slot back into its account row, then drops the functions, view and table.
"""

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = 32  # a power of two: the slot is `hashtext(id) & (SLOTS - 1)` (sql/0002/slot_add.sql)

SQL = Path(__file__).parent / "sql" / "0002"


def _sql(name: str) -> str:
    """One statement of this revision as it was first written inline: the file after a newline."""
    return "\n" + (SQL / f"{name}.sql").read_text(encoding="utf-8")


# ledger.account_of: an account's id, created on first use (concurrent creators: one wins).
_ACCOUNT_OF = _sql("account_of")
# ledger.slot_add: add a posting's deltas to one slot row of a system account.
_SLOT_ADD = _sql("slot_add")
# ledger.post_transfer: one single-phase transfer or hold. Returns the user account's posted and
# available balance after it (NULL when no user account is touched).
_POST_TRANSFER = _sql("post_transfer")
# ledger.resolve_hold: post (capture), void or expire a hold, exactly once (the partial unique
# index on pending_id).
_RESOLVE_HOLD = _sql("resolve_hold")
# ledger.credit_batch: many single-phase credits from one system account to user accounts, in one
# statement per step: accounts created on first use, the journal in one INSERT (ascending id, ON
# CONFLICT DO NOTHING: redelivered and in-batch duplicate ids are skipped), the credited user rows
# locked in ascending id and updated once each with their sum, then ONE slot update of the system
# account. Returns each created transfer with its user account's posted/available balance right
# after it.
_CREDIT_BATCH = _sql("credit_batch")
# ledger.account_balances: an account's balance is its row plus the sum of its slots.
_BALANCES_VIEW = _sql("account_balances")

if f"hashtext(p_key) & {SLOTS - 1}," not in _SLOT_ADD:
    raise RuntimeError("sql/0002/slot_add.sql must mask the slot with SLOTS - 1")


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE ledger.account_slots (
            account_id      bigint NOT NULL REFERENCES ledger.accounts (id),
            slot            smallint NOT NULL,
            posted_debits   bigint NOT NULL DEFAULT 0,
            posted_credits  bigint NOT NULL DEFAULT 0,
            pending_debits  bigint NOT NULL DEFAULT 0,
            pending_credits bigint NOT NULL DEFAULT 0,
            CONSTRAINT account_slots_pkey PRIMARY KEY (account_id, slot),
            CONSTRAINT account_slots_slot_check CHECK (slot >= 0 AND slot < {SLOTS})
        )
        """
    )
    op.execute(
        "COMMENT ON TABLE ledger.account_slots IS 'partial sums (deltas) of system accounts;"
        " balance = accounts row + sum of its slots (view account_balances)'"
    )
    op.execute(_BALANCES_VIEW)
    op.execute(_ACCOUNT_OF)
    op.execute(_SLOT_ADD)
    op.execute(_POST_TRANSFER)
    op.execute(_RESOLVE_HOLD)
    op.execute(_CREDIT_BATCH)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION ledger.credit_batch(text[], uuid[], bigint[], jsonb[], text, text, text,"
        " text)"
    )
    op.execute("DROP FUNCTION ledger.resolve_hold(text, text, text, text)")
    op.execute(
        "DROP FUNCTION ledger.post_transfer(text, bigint, bigint, bigint, text, uuid, jsonb,"
        " double precision)"
    )
    op.execute("DROP FUNCTION ledger.slot_add(bigint, text, bigint, bigint, bigint, bigint)")
    op.execute("DROP FUNCTION ledger.account_of(text, uuid, text)")
    op.execute("DROP VIEW ledger.account_balances")
    # fold the slots back into their account rows (0001 keeps every balance in place)
    op.execute(
        """
        UPDATE ledger.accounts a
           SET posted_debits = a.posted_debits + s.pd, posted_credits = a.posted_credits + s.pc,
               pending_debits = a.pending_debits + s.hd,
               pending_credits = a.pending_credits + s.hc
          FROM (SELECT account_id, sum(posted_debits) AS pd, sum(posted_credits) AS pc,
                       sum(pending_debits) AS hd, sum(pending_credits) AS hc
                  FROM ledger.account_slots GROUP BY account_id) s
         WHERE a.id = s.account_id
        """
    )
    op.execute("DROP TABLE ledger.account_slots")
