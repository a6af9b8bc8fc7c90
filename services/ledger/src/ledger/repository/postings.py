"""The posting engine's SQL: one round trip per posting, in the caller's transaction.

Each posting is one call of a PL/pgSQL function (migration `0002`, bodies in
`migrations/versions/sql/0002/`):

- `ledger.post_transfer`: a single-phase transfer or a hold. A guarded debit of a user account is
  one single-statement `UPDATE … WHERE posted_credits - posted_debits - pending_debits >= amount`
  (at READ COMMITTED a blocked updater re-evaluates the guard on the newest row version: no
  read-check-write, no double spend); zero rows means insufficient funds (a refused hold id is
  recorded in `rejections` and stays refused). The transfer id is the idempotency key: a
  redelivery finds its id and changes nothing (`duplicate`). The CHECK constraint
  `accounts_no_overdraft_check` is the backstop.
- `ledger.resolve_hold`: post/void/expire insert a resolution transfer whose `pending_id` has a
  partial unique index, so each hold resolves exactly once even when capture races expiry.
- `ledger.credit_batch`: many credits from one system account in one transaction, set-based, with
  the system account updated once per batch.

System accounts (unlimited, never guarded) are not updated in place: each posting adds its
movement to one of 32 slot rows (`account_slots`, chosen by a hash of the transfer or hold id), so
postings do not serialise on the `mining_issuance` row. User account rows are updated in place.
Lock order everywhere: transfer id → user rows (ascending id) → system slots (ascending).
Account ids are resolved inside the statement (`ledger.account_of`, one index probe, created on
first use), never cached in the process: a restore or a test truncation renumbers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from ledger.domain import (
    ASSET_OF,
    Account,
    AccountKind,
    AccountRef,
    BookedTransfer,
    Credit,
    Phase,
    Posting,
    PostingStatus,
    TransferKind,
    check_amount,
    check_credit_batch,
    check_resolution,
)


def _account_arg(by_kind: bool, name: str) -> str:
    """The SQL expression naming an account inside the posting's one statement."""
    if by_kind:
        return f"ledger.account_of(:{name}_kind, :{name}_user, :{name}_asset)"
    return f"CAST(:{name} AS bigint)"


def _post_transfer_sql(debit_by_kind: bool, credit_by_kind: bool) -> TextClause:
    d, c = _account_arg(debit_by_kind, "d"), _account_arg(credit_by_kind, "c")
    return text(
        f"SELECT * FROM ledger.post_transfer(:id, {d}, {c}, :amount, :kind, :user_id,"  # noqa: S608
        " CAST(:reference AS jsonb), CAST(:ttl AS double precision))"
    )


#: The four shapes of a posting (each side named by kind, or by id), built once: a `text()` made
#: per call cost ~7 % of a single posting's client CPU (bind-parameter parsing; py-spy, ADR 0010).
_POST_TRANSFER = {(d, c): _post_transfer_sql(d, c) for d in (False, True) for c in (False, True)}


def _bind_account(ref: AccountRef, name: str, params: dict[str, Any]) -> bool:
    """Bind the parameters naming an account; True when it is named by kind (and user)."""
    if isinstance(ref, Account):
        params[f"{name}_kind"] = ref.kind.value
        params[f"{name}_user"] = ref.user_id
        params[f"{name}_asset"] = ref.asset.value
        return True
    params[name] = ref
    return False


_RESOLVE = text("SELECT * FROM ledger.resolve_hold(:hold, :id, :phase, :kind)")

_CREDIT_BATCH = text(
    "SELECT * FROM ledger.credit_batch(:ids, :users, :amounts, CAST(:refs AS jsonb[]),"
    " :system, :user_kind, :asset, :kind)"
)

_BOOKED = text(
    "SELECT t.debit_account_id, t.credit_account_id, t.amount,"
    " c.user_id IS NOT NULL AS to_user"
    " FROM transfers t JOIN accounts c ON c.id = t.credit_account_id WHERE t.id = :id"
)

_DUE_HOLDS = text(
    """
    SELECT h.id FROM transfers h
     WHERE h.phase = 'pending' AND h.expires_at <= now()
       AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id)
     ORDER BY h.expires_at
     LIMIT :n
    """
)


class PostingRepository:
    """The journal and the balances it moves: every write of the ledger."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def post_transfer(
        self,
        *,
        transfer_id: str,
        debit: AccountRef,
        credit: AccountRef,
        amount: int,
        kind: TransferKind,
        user_id: UUID | None,
        reference: dict[str, Any] | None = None,
        hold_ttl: timedelta | None = None,
    ) -> Posting:
        """A single-phase transfer (or, with `hold_ttl`, a hold: a pending transfer with expiry).

        The debit is guarded (a user account's available balance must cover it; system accounts
        are unlimited). A redelivery with the same id returns `duplicate` and changes nothing.
        """
        check_amount(amount)
        params: dict[str, Any] = {
            "id": transfer_id,
            "amount": amount,
            "kind": kind.value,
            "user_id": user_id,
            "reference": orjson.dumps(reference or {}).decode(),
            "ttl": hold_ttl.total_seconds() if hold_ttl is not None else None,
        }
        shape = (_bind_account(debit, "d", params), _bind_account(credit, "c", params))
        row = (await self.session.execute(_POST_TRANSFER[shape], params)).one()
        return Posting(
            PostingStatus(row.o_status),
            transfer_id,
            row.o_amount,
            row.o_created_at,
            row.o_expires_at,
            row.o_user_id,
            posted=row.o_posted,
            available=row.o_available,
        )

    async def resolve_hold(
        self, *, hold: str, resolution_id: str, phase: Phase, kind: TransferKind
    ) -> Posting:
        """Post (capture), void or expire a hold, exactly once.

        The loser of a race gets `already_resolved` (or `duplicate` for its own redelivery); a
        post after the hold's expiry gets `expired` and changes nothing (the sweeper releases
        it); an expire before `expires_at` gets `not_due`.
        """
        check_resolution(phase)
        params = {"hold": hold, "id": resolution_id, "phase": phase.value, "kind": kind.value}
        row = (await self.session.execute(_RESOLVE, params)).one()
        return Posting(
            PostingStatus(row.o_status),
            resolution_id,
            row.o_amount,
            row.o_created_at,
            None,
            row.o_user_id,
            resolved_by=row.o_resolved_by,
        )

    async def credit_batch(
        self,
        credits: Sequence[Credit],
        *,
        system: AccountKind,
        user_kind: AccountKind,
        kind: TransferKind,
    ) -> dict[str, Posting]:
        """Post many credits in one statement; returns the created ones by transfer id.

        Ids already in the journal (redeliveries) and repeated ids within the batch are skipped
        and change nothing. The system account is moved once, by the batch's sum.
        """
        if not credits:
            return {}
        check_credit_batch(credits, system=system, user_kind=user_kind)
        rows = await self.session.execute(
            _CREDIT_BATCH,
            {
                "ids": [c.transfer_id for c in credits],
                "users": [c.user_id for c in credits],
                "amounts": [c.amount for c in credits],
                "refs": [orjson.dumps(c.reference).decode() for c in credits],
                "system": system.value,
                "user_kind": user_kind.value,
                "asset": ASSET_OF[system].value,
                "kind": kind.value,
            },
        )
        return {
            r.o_id: Posting(
                PostingStatus.created,
                r.o_id,
                r.o_amount,
                r.o_created_at,
                None,
                r.o_user_id,
                posted=r.o_posted,
                available=r.o_available,
            )
            for r in rows
        }

    async def booked(self, transfer_id: str) -> BookedTransfer | None:
        """A transfer of the journal with whether it credited a user, or None."""
        row = (await self.session.execute(_BOOKED, {"id": transfer_id})).first()
        if row is None:
            return None
        return BookedTransfer(
            row.debit_account_id, row.credit_account_id, row.amount, bool(row.to_user)
        )

    async def due_holds(self, limit: int) -> list[str]:
        """Ids of holds past `expires_at` and not yet resolved, oldest first."""
        rows = await self.session.execute(_DUE_HOLDS, {"n": limit})
        return [r.id for r in rows]
