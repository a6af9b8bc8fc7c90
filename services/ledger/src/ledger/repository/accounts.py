"""Reads of accounts: ids, balances (view `account_balances`: the row plus the sum of its slots)
and a user's history (view `history`, keyset-paged by `(created_at, id)`, newest first)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ledger.domain import (
    Account,
    AccountKind,
    Asset,
    Balances,
    Direction,
    HistoryEntry,
    Phase,
    TransferKind,
)

_ACCOUNT_OF = text("SELECT ledger.account_of(:kind, :user_id, :asset)")

_BALANCES = text(
    "SELECT posted_debits, posted_credits, pending_debits, pending_credits"
    " FROM account_balances WHERE kind = :kind AND user_id IS NOT DISTINCT FROM :u"
)

#: Both of a user's accounts in one round trip, found by the (user_id, kind) unique index; the
#: slots are summed for those accounts only (the view sums every slot, then filters, and its
#: `IS NOT DISTINCT FROM` cannot use the index: a scan of all accounts per /balance).
_USER_BALANCES = text(
    """
    SELECT a.kind,
           a.posted_debits + COALESCE(s.posted_debits, 0) AS posted_debits,
           a.posted_credits + COALESCE(s.posted_credits, 0) AS posted_credits,
           a.pending_debits + COALESCE(s.pending_debits, 0) AS pending_debits,
           a.pending_credits + COALESCE(s.pending_credits, 0) AS pending_credits
      FROM accounts a
      LEFT JOIN LATERAL (
           SELECT sum(posted_debits)::bigint AS posted_debits,
                  sum(posted_credits)::bigint AS posted_credits,
                  sum(pending_debits)::bigint AS pending_debits,
                  sum(pending_credits)::bigint AS pending_credits
             FROM account_slots WHERE account_id = a.id) s ON true
     WHERE a.user_id = :u AND a.kind IN ('user_points', 'user_money')
    """
)

_HISTORY = text(
    """
    SELECT id, kind, phase, asset, direction, amount, reference, created_at
      FROM history
     WHERE user_id = :u
       AND (CAST(:kind AS text) IS NULL OR kind = CAST(:kind AS text))
       AND (CAST(:at AS timestamptz) IS NULL
            OR (created_at, id) < (CAST(:at AS timestamptz), CAST(:id AS text)))
     ORDER BY created_at DESC, id DESC
     LIMIT :n
    """
)


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def account_id(self, kind: AccountKind, user_id: UUID | None = None) -> int:
        """The id of a user's (or the system's) account of `kind`, created on first use."""
        account = Account(kind, user_id)  # validates
        found = await self.session.execute(
            _ACCOUNT_OF, {"kind": kind.value, "user_id": user_id, "asset": account.asset.value}
        )
        return int(found.scalar_one())

    async def balances(self, kind: AccountKind, user_id: UUID | None) -> Balances:
        row = (await self.session.execute(_BALANCES, {"kind": kind.value, "u": user_id})).first()
        if row is None:
            return Balances()
        return Balances(
            row.posted_debits, row.posted_credits, row.pending_debits, row.pending_credits
        )

    async def user_balances(self, user_id: UUID) -> dict[AccountKind, Balances]:
        """The user's points and money balances (an account not opened yet reads as zero)."""
        rows = (await self.session.execute(_USER_BALANCES, {"u": user_id})).all()
        found = {
            AccountKind(r.kind): Balances(
                r.posted_debits, r.posted_credits, r.pending_debits, r.pending_credits
            )
            for r in rows
        }
        return {
            k: found.get(k, Balances()) for k in (AccountKind.user_points, AccountKind.user_money)
        }

    async def history(
        self,
        user_id: UUID,
        *,
        kind: TransferKind | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[HistoryEntry]:
        """Up to `limit` entries older than `after` (the last entry's `(created_at, id)`)."""
        params: dict[str, object] = {
            "u": user_id,
            "n": limit,
            "kind": kind.value if kind is not None else None,
            "at": after[0] if after else None,
            "id": after[1] if after else None,
        }
        rows = (await self.session.execute(_HISTORY, params)).all()
        return [
            HistoryEntry(
                id=r.id,
                kind=TransferKind(r.kind),
                phase=Phase(r.phase),
                asset=Asset(r.asset),
                direction=Direction(r.direction),
                amount=r.amount,
                reference=r.reference,
                created_at=r.created_at,
            )
            for r in rows
        ]
