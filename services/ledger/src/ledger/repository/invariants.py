"""The invariant check's queries (`ledger-admin check`, `GET /admin/ledger/check`), read-only.

A balance is read from the view `account_balances`: the account row plus the sum of its slots
(`account_slots`, where system accounts accumulate their movements; user accounts have none).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ledger.domain import AccountAudit, AssetTotal, Overdrawn

_SNAPSHOT = text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
_ACCOUNTS = text("SELECT count(*) FROM accounts")
_TRANSFERS = text("SELECT count(*) FROM transfers")

_SUMS = text(
    """
SELECT asset, sum(posted_credits - posted_debits) AS posted,
       sum(pending_credits - pending_debits) AS pending
  FROM account_balances GROUP BY asset
"""
)

# One pass over the journal (GROUP BY), not one scan per account: linear in the journal size.
_RECOMPUTE = text(
    """
WITH open_holds AS (
    SELECT h.debit_account_id, h.credit_account_id, h.amount FROM transfers h
     WHERE h.phase = 'pending'
       AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id)
), moves AS (
    SELECT debit_account_id AS id, amount AS pd, 0 AS pc, 0 AS hd, 0 AS hc
      FROM transfers WHERE phase IN ('single', 'post')
    UNION ALL
    SELECT credit_account_id, 0, amount, 0, 0 FROM transfers WHERE phase IN ('single', 'post')
    UNION ALL
    SELECT debit_account_id, 0, 0, amount, 0 FROM open_holds
    UNION ALL
    SELECT credit_account_id, 0, 0, 0, amount FROM open_holds
), journal AS (
    SELECT id, sum(pd) AS r_pd, sum(pc) AS r_pc, sum(hd) AS r_hd, sum(hc) AS r_hc
      FROM moves GROUP BY id
)
SELECT a.id, a.kind, a.user_id,
       a.posted_debits, a.posted_credits, a.pending_debits, a.pending_credits,
       COALESCE(j.r_pd, 0) AS r_pd, COALESCE(j.r_pc, 0) AS r_pc,
       COALESCE(j.r_hd, 0) AS r_hd, COALESCE(j.r_hc, 0) AS r_hc
  FROM account_balances a LEFT JOIN journal j ON j.id = a.id
"""
)

_NEGATIVE = text(
    """
SELECT id, kind, user_id, posted_credits - posted_debits - pending_debits AS available
  FROM accounts
 WHERE user_id IS NOT NULL AND posted_credits - posted_debits - pending_debits < 0
"""
)

_COLUMNS = text(
    """
SELECT id, kind FROM account_balances
 WHERE posted_debits < 0 OR posted_credits < 0 OR pending_debits < 0 OR pending_credits < 0
"""
)

_USER_SLOTS = text(
    """
SELECT DISTINCT s.account_id FROM account_slots s JOIN accounts a ON a.id = s.account_id
 WHERE a.user_id IS NOT NULL
"""
)

_TWICE = text(
    """
SELECT pending_id, count(*) AS n FROM transfers
 WHERE pending_id IS NOT NULL GROUP BY pending_id HAVING count(*) > 1
"""
)

_MIXED = text(
    """
SELECT t.id FROM transfers t
  JOIN accounts d ON d.id = t.debit_account_id
  JOIN accounts c ON c.id = t.credit_account_id
 WHERE d.asset <> c.asset
"""
)


class InvariantRepository:
    """Each query reads the whole ledger; run them in one snapshot (`snapshot()` first)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def snapshot(self) -> None:
        """Make the transaction one consistent read-only view (the first statement in it)."""
        await self.session.execute(_SNAPSHOT)

    async def count_accounts(self) -> int:
        return int((await self.session.execute(_ACCOUNTS)).scalar_one())

    async def count_transfers(self) -> int:
        return int((await self.session.execute(_TRANSFERS)).scalar_one())

    async def asset_totals(self) -> list[AssetTotal]:
        """The sum of all balances per asset, posted and pending."""
        rows = await self.session.execute(_SUMS)
        return [AssetTotal(r.asset, int(r.posted), int(r.pending)) for r in rows]

    async def audits(self) -> list[AccountAudit]:
        """Every account's stored columns next to their recomputation from the journal."""
        return [
            AccountAudit(
                r.id,
                r.kind,
                r.user_id,
                (r.posted_debits, r.posted_credits, r.pending_debits, r.pending_credits),
                (int(r.r_pd), int(r.r_pc), int(r.r_hd), int(r.r_hc)),
            )
            for r in await self.session.execute(_RECOMPUTE)
        ]

    async def overdrawn_user_accounts(self) -> list[Overdrawn]:
        rows = await self.session.execute(_NEGATIVE)
        return [Overdrawn(r.id, r.kind, r.user_id, int(r.available)) for r in rows]

    async def negative_columns(self) -> list[tuple[int, str]]:
        """(id, kind) of accounts with a balance column below zero."""
        return [(r.id, r.kind) for r in await self.session.execute(_COLUMNS)]

    async def user_accounts_with_slots(self) -> list[int]:
        return [r.account_id for r in await self.session.execute(_USER_SLOTS)]

    async def holds_resolved_twice(self) -> list[tuple[str, int]]:
        """(hold id, number of resolutions) of holds resolved more than once."""
        return [(r.pending_id, r.n) for r in await self.session.execute(_TWICE)]

    async def mixed_asset_transfers(self) -> list[str]:
        return [r.id for r in await self.session.execute(_MIXED)]
