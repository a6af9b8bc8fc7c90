"""Ledger invariants, run by ops (`ledger-admin check`, `GET /admin/ledger/check`).

1. the sum of all balances is zero, per asset, for posted and for pending columns;
2. every account's stored columns equal the recomputation from the journal;
3. no user account is below zero (available = posted − pending debits);
4. no hold is resolved twice; every transfer moves one asset.

A balance is read from the view `account_balances`: the account row plus the sum of its slots
(`account_slots`, where system accounts accumulate their movements; user accounts have none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_SUMS = """
SELECT asset, sum(posted_credits - posted_debits) AS posted,
       sum(pending_credits - pending_debits) AS pending
  FROM account_balances GROUP BY asset
"""

# One pass over the journal (GROUP BY), not one scan per account: linear in the journal size.
_RECOMPUTE = """
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

_NEGATIVE = """
SELECT id, kind, user_id, posted_credits - posted_debits - pending_debits AS available
  FROM accounts
 WHERE user_id IS NOT NULL AND posted_credits - posted_debits - pending_debits < 0
"""

_COLUMNS = """
SELECT id, kind FROM account_balances
 WHERE posted_debits < 0 OR posted_credits < 0 OR pending_debits < 0 OR pending_credits < 0
"""

_USER_SLOTS = """
SELECT DISTINCT s.account_id FROM account_slots s JOIN accounts a ON a.id = s.account_id
 WHERE a.user_id IS NOT NULL
"""

_TWICE = """
SELECT pending_id, count(*) AS n FROM transfers
 WHERE pending_id IS NOT NULL GROUP BY pending_id HAVING count(*) > 1
"""

_MIXED = """
SELECT t.id FROM transfers t
  JOIN accounts d ON d.id = t.debit_account_id
  JOIN accounts c ON c.id = t.credit_account_id
 WHERE d.asset <> c.asset
"""


@dataclass
class CheckReport:
    problems: list[dict[str, Any]] = field(default_factory=list)
    accounts: int = 0
    transfers: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "accounts": self.accounts,
            "transfers": self.transfers,
            "problems": self.problems,
        }


async def check(session: AsyncSession) -> CheckReport:
    """Read-only; run it in a REPEATABLE READ transaction for one consistent snapshot."""
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    report = CheckReport()
    report.accounts = (await session.execute(text("SELECT count(*) FROM accounts"))).scalar_one()
    report.transfers = (await session.execute(text("SELECT count(*) FROM transfers"))).scalar_one()
    for row in await session.execute(text(_SUMS)):
        if row.posted != 0 or row.pending != 0:
            report.problems.append(
                {"invariant": "sum_zero", "asset": row.asset, "posted": int(row.posted),
                 "pending": int(row.pending)}
            )  # fmt: skip
    for row in await session.execute(text(_RECOMPUTE)):
        stored = (row.posted_debits, row.posted_credits, row.pending_debits, row.pending_credits)
        journal = (int(row.r_pd), int(row.r_pc), int(row.r_hd), int(row.r_hc))
        if stored != journal:
            report.problems.append(
                {"invariant": "balance_matches_journal", "account_id": row.id, "kind": row.kind,
                 "user_id": str(row.user_id) if row.user_id else None,
                 "stored": list(stored), "journal": list(journal)}
            )  # fmt: skip
    for row in await session.execute(text(_NEGATIVE)):
        report.problems.append(
            {"invariant": "no_negative_user_account", "account_id": row.id, "kind": row.kind,
             "user_id": str(row.user_id), "available": int(row.available)}
        )  # fmt: skip
    for row in await session.execute(text(_COLUMNS)):
        report.problems.append(
            {"invariant": "columns_non_negative", "account_id": row.id, "kind": row.kind}
        )
    for row in await session.execute(text(_USER_SLOTS)):
        # a user account is guarded on its row alone: a slot would escape the guard
        report.problems.append({"invariant": "no_user_slots", "account_id": row.account_id})
    for row in await session.execute(text(_TWICE)):
        report.problems.append(
            {"invariant": "hold_resolved_once", "hold_id": row.pending_id, "resolutions": row.n}
        )
    for row in await session.execute(text(_MIXED)):
        report.problems.append({"invariant": "one_asset_per_transfer", "transfer_id": row.id})
    return report
