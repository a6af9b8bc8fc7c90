"""The posting engine: plain SQL in the caller's transaction (it never commits).

Every posting is: insert the transfer first (`ON CONFLICT DO NOTHING`: a redelivered event finds
its id and changes nothing), then one guarded single-statement UPDATE per account, in ascending
account id order (no deadlocks between postings). A user account is debited only
`WHERE posted_credits - posted_debits - pending_debits >= :amount`; at READ COMMITTED a blocked
updater re-evaluates that guard on the newest row version, so there is no read-check-write and no
double spend. Zero rows updated means insufficient funds: the savepoint around the posting is
rolled back (the transfer row disappears) and a rejection is returned. The CHECK constraint
`accounts_no_overdraft_check` is the backstop.

Holds are pending transfers; post/void/expire insert a resolution transfer whose `pending_id`
has a partial unique index, so each hold resolves exactly once even when capture races expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ledger.domain import ASSET_OF, USER_KINDS, AccountKind, Balances, Phase, TransferKind

Status = Literal[
    "created",
    "duplicate",
    "insufficient_funds",
    "not_found",
    "already_resolved",
    "expired",
    "not_due",
]


@dataclass(frozen=True, slots=True)
class Posting:
    status: Status
    transfer_id: str
    amount: int = 0
    created_at: datetime | None = None
    expires_at: datetime | None = None
    user_id: UUID | None = None
    resolved_by: str | None = None  # for already_resolved: the phase that won

    @property
    def created(self) -> bool:
        return self.status == "created"


class InsufficientFunds(Exception):
    """Raised inside the savepoint to roll the transfer back."""


_SELECT_ACCOUNT = text(
    "SELECT id FROM accounts WHERE kind = :kind AND user_id IS NOT DISTINCT FROM :user_id"
)
_INSERT_ACCOUNT = text(
    "INSERT INTO accounts (user_id, kind, asset) VALUES (:user_id, :kind, :asset)"
    " ON CONFLICT DO NOTHING"
)


async def account_id(session: AsyncSession, kind: AccountKind, user_id: UUID | None = None) -> int:
    """The id of a user's (or the system's) account of `kind`, created on first use."""
    if (kind in USER_KINDS) != (user_id is not None):
        raise ValueError(f"{kind} accounts {'need' if kind in USER_KINDS else 'take no'} user")
    params = {"kind": kind.value, "user_id": user_id}
    found = (await session.execute(_SELECT_ACCOUNT, params)).scalar_one_or_none()
    if found is not None:
        return int(found)
    await session.execute(_INSERT_ACCOUNT, {**params, "asset": ASSET_OF[kind].value})
    return int((await session.execute(_SELECT_ACCOUNT, params)).scalar_one())


# Each statement moves one account's columns; the debit of a user account is guarded.
_MOVES: dict[str, str] = {
    "debit": "posted_debits = posted_debits + :a",
    "credit": "posted_credits = posted_credits + :a",
    "hold_debit": "pending_debits = pending_debits + :a",
    "hold_credit": "pending_credits = pending_credits + :a",
    "post_debit": "pending_debits = pending_debits - :a, posted_debits = posted_debits + :a",
    "post_credit": "pending_credits = pending_credits - :a, posted_credits = posted_credits + :a",
    "release_debit": "pending_debits = pending_debits - :a",
    "release_credit": "pending_credits = pending_credits - :a",
}
_GUARD = "(user_id IS NULL OR posted_credits - posted_debits - pending_debits >= :a)"


async def _apply(session: AsyncSession, moves: list[tuple[int, str, bool]], amount: int) -> None:
    """Apply (account id, move, guarded) in ascending id order; raise when a guard fails."""
    for acct, move, guarded in sorted(moves):
        where = f"id = :id AND {_GUARD}" if guarded else "id = :id"
        sql = f"UPDATE accounts SET {_MOVES[move]} WHERE {where} RETURNING id"  # noqa: S608
        row = (await session.execute(text(sql), {"id": acct, "a": amount})).first()
        if row is None:
            raise InsufficientFunds


_INSERT_TRANSFER = text(
    """
    INSERT INTO transfers (id, debit_account_id, credit_account_id, amount, kind, phase, pending,
                           user_id, expires_at, reference)
    VALUES (:id, :debit, :credit, :amount, :kind, :phase, :phase = 'pending', :user_id,
            :expires_at, CAST(:reference AS jsonb))
    ON CONFLICT DO NOTHING
    RETURNING created_at, expires_at
    """
)


async def post_transfer(
    session: AsyncSession,
    *,
    transfer_id: str,
    debit: int,
    credit: int,
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
    if amount <= 0:
        raise ValueError("amount must be positive")
    phase = Phase.pending if hold_ttl is not None else Phase.single
    if phase is Phase.pending and await _rejected(session, transfer_id):
        return Posting("insufficient_funds", transfer_id, amount, user_id=user_id)
    expires_at = None
    if hold_ttl is not None:
        now = (await session.execute(text("SELECT now()"))).scalar_one()
        expires_at = now + hold_ttl
    try:
        async with session.begin_nested():
            row = (
                await session.execute(
                    _INSERT_TRANSFER,
                    {
                        "id": transfer_id,
                        "debit": debit,
                        "credit": credit,
                        "amount": amount,
                        "kind": kind.value,
                        "phase": phase.value,
                        "user_id": user_id,
                        "expires_at": expires_at,
                        "reference": orjson.dumps(reference or {}).decode(),
                    },
                )  # fmt: skip
            ).first()
            if row is None:
                return await _existing(session, transfer_id)
            prefix = "hold_" if phase is Phase.pending else ""
            await _apply(
                session,
                [(debit, f"{prefix}debit", True), (credit, f"{prefix}credit", False)],
                amount,
            )
    except InsufficientFunds:
        if phase is Phase.pending:
            await session.execute(
                text(
                    "INSERT INTO rejections (id, reason, user_id)"
                    " VALUES (:id, 'insufficient_funds', :u) ON CONFLICT DO NOTHING"
                ),
                {"id": transfer_id, "u": user_id},
            )
        return Posting("insufficient_funds", transfer_id, amount, user_id=user_id)
    return Posting("created", transfer_id, amount, row.created_at, row.expires_at, user_id)


async def _rejected(session: AsyncSession, transfer_id: str) -> bool:
    found = await session.execute(
        text("SELECT 1 FROM rejections WHERE id = :id"), {"id": transfer_id}
    )
    return found.first() is not None


async def _existing(session: AsyncSession, transfer_id: str) -> Posting:
    row = (
        await session.execute(
            text("SELECT amount, created_at, expires_at, user_id FROM transfers WHERE id = :id"),
            {"id": transfer_id},
        )
    ).one()
    return Posting(
        "duplicate", transfer_id, row.amount, row.created_at, row.expires_at, row.user_id
    )


_INSERT_RESOLUTION = text(
    """
    INSERT INTO transfers (id, debit_account_id, credit_account_id, amount, kind, phase, pending,
                           user_id, pending_id, reference)
    SELECT :id, h.debit_account_id, h.credit_account_id, h.amount, :kind, :phase, false,
           h.user_id, h.id, h.reference
      FROM transfers h
     WHERE h.id = :hold AND h.phase = 'pending'
       AND (CAST(:phase AS text) = 'void'
            OR (CAST(:phase AS text) = 'post' AND h.expires_at > now())
            OR (CAST(:phase AS text) = 'expire' AND h.expires_at <= now()))
    ON CONFLICT DO NOTHING
    RETURNING amount, debit_account_id, credit_account_id, created_at, user_id
    """
)


async def resolve_hold(
    session: AsyncSession, *, hold: str, resolution_id: str, phase: Phase, kind: TransferKind
) -> Posting:
    """Post (capture), void (release) or expire a hold, exactly once.

    The loser of a race gets `already_resolved` (or `duplicate` for its own redelivery); a post
    after the hold's expiry gets `expired` and changes nothing (the sweeper releases it); an
    expire before `expires_at` gets `not_due`.
    """
    if phase not in (Phase.post, Phase.void, Phase.expire):
        raise ValueError(phase)
    async with session.begin_nested():
        row = (
            await session.execute(
                _INSERT_RESOLUTION,
                {"id": resolution_id, "kind": kind.value, "phase": phase.value, "hold": hold},
            )
        ).first()
        if row is not None:
            side = "post" if phase is Phase.post else "release"
            await _apply(
                session,
                [
                    (row.debit_account_id, f"{side}_debit", False),
                    (row.credit_account_id, f"{side}_credit", False),
                ],
                row.amount,
            )
            return Posting("created", resolution_id, row.amount, row.created_at, None, row.user_id)
    own = (
        await session.execute(text("SELECT 1 FROM transfers WHERE id = :id"), {"id": resolution_id})
    ).first()
    if own is not None:
        return await _existing(session, resolution_id)
    winner = (
        await session.execute(
            text("SELECT id, phase FROM transfers WHERE pending_id = :hold"), {"hold": hold}
        )
    ).first()
    if winner is not None:
        return Posting("already_resolved", resolution_id, resolved_by=winner.phase)
    exists = (
        await session.execute(
            text("SELECT amount FROM transfers WHERE id = :hold AND phase = 'pending'"),
            {"hold": hold},
        )
    ).first()
    if exists is None:
        return Posting("not_found", resolution_id)
    # post after expiry, or expire before it: nothing changes
    return Posting("expired" if phase is Phase.post else "not_due", resolution_id, exists.amount)


async def expired_holds(session: AsyncSession, limit: int) -> list[str]:
    """Ids of holds past `expires_at` and not yet resolved, oldest first."""
    rows = await session.execute(
        text(
            """
            SELECT h.id FROM transfers h
             WHERE h.phase = 'pending' AND h.expires_at <= now()
               AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id)
             ORDER BY h.expires_at
             LIMIT :n
            """
        ),
        {"n": limit},
    )
    return [r.id for r in rows]


async def balances(session: AsyncSession, kind: AccountKind, user_id: UUID | None) -> Balances:
    row = (
        await session.execute(
            text(
                "SELECT posted_debits, posted_credits, pending_debits, pending_credits"
                " FROM accounts WHERE kind = :kind AND user_id IS NOT DISTINCT FROM :u"
            ),
            {"kind": kind.value, "u": user_id},
        )
    ).first()
    if row is None:
        return Balances()
    return Balances(row.posted_debits, row.posted_credits, row.pending_debits, row.pending_credits)
