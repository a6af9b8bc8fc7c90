"""The posting engine: one round trip per posting, in the caller's transaction (never commits).

Each posting is one call of a PL/pgSQL function (migration `0002`):

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
    # the touched user account right after a created posting (None if no user account)
    posted: int | None = None
    available: int | None = None

    @property
    def created(self) -> bool:
        return self.status == "created"


@dataclass(frozen=True, slots=True)
class Account:
    """An account named by kind (and user): resolved, and created on first use, in SQL."""

    kind: AccountKind
    user_id: UUID | None = None

    def __post_init__(self) -> None:
        if (self.kind in USER_KINDS) != (self.user_id is not None):
            need = "need" if self.kind in USER_KINDS else "take no"
            raise ValueError(f"{self.kind} accounts {need} user")


AccountRef = Account | int


async def account_id(session: AsyncSession, kind: AccountKind, user_id: UUID | None = None) -> int:
    """The id of a user's (or the system's) account of `kind`, created on first use."""
    Account(kind, user_id)  # validates
    found = await session.execute(
        text("SELECT ledger.account_of(:kind, :user_id, :asset)"),
        {"kind": kind.value, "user_id": user_id, "asset": ASSET_OF[kind].value},
    )
    return int(found.scalar_one())


def _account_sql(ref: AccountRef, name: str, params: dict[str, Any]) -> str:
    if isinstance(ref, Account):
        params[f"{name}_kind"] = ref.kind.value
        params[f"{name}_user"] = ref.user_id
        params[f"{name}_asset"] = ASSET_OF[ref.kind].value
        return f"ledger.account_of(:{name}_kind, :{name}_user, :{name}_asset)"
    params[name] = ref
    return f"CAST(:{name} AS bigint)"


async def post_transfer(
    session: AsyncSession,
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
    if amount <= 0:
        raise ValueError("amount must be positive")
    params: dict[str, Any] = {
        "id": transfer_id,
        "amount": amount,
        "kind": kind.value,
        "user_id": user_id,
        "reference": orjson.dumps(reference or {}).decode(),
        "ttl": hold_ttl.total_seconds() if hold_ttl is not None else None,
    }
    d = _account_sql(debit, "d", params)
    c = _account_sql(credit, "c", params)
    sql = (
        f"SELECT * FROM ledger.post_transfer(:id, {d}, {c}, :amount, :kind, :user_id,"  # noqa: S608
        " CAST(:reference AS jsonb), CAST(:ttl AS double precision))"
    )
    row = (await session.execute(text(sql), params)).one()
    return Posting(
        row.o_status, transfer_id, row.o_amount, row.o_created_at, row.o_expires_at,
        row.o_user_id, posted=row.o_posted, available=row.o_available,
    )  # fmt: skip


_RESOLVE = text("SELECT * FROM ledger.resolve_hold(:hold, :id, :phase, :kind)")


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
    row = (
        await session.execute(
            _RESOLVE, {"hold": hold, "id": resolution_id, "phase": phase.value, "kind": kind.value}
        )
    ).one()
    return Posting(
        row.o_status, resolution_id, row.o_amount, row.o_created_at, None, row.o_user_id,
        resolved_by=row.o_resolved_by,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Credit:
    """One credit of a batch: system account → the user's account."""

    transfer_id: str
    user_id: UUID
    amount: int
    reference: dict[str, Any]


_CREDIT_BATCH = text(
    "SELECT * FROM ledger.credit_batch(:ids, :users, :amounts, CAST(:refs AS jsonb[]),"
    " :system, :user_kind, :asset, :kind)"
)


async def credit_batch(
    session: AsyncSession,
    credits: Sequence[Credit],
    *,
    system: AccountKind,
    user_kind: AccountKind,
    kind: TransferKind,
) -> dict[str, Posting]:
    """Post many credits in one statement; returns the created ones by transfer id.

    Ids already in the journal (redeliveries) and repeated ids within the batch are skipped and
    change nothing. The system account is moved once, by the batch's sum.
    """
    if not credits:
        return {}
    if (
        system in USER_KINDS
        or user_kind not in USER_KINDS
        or ASSET_OF[system] != ASSET_OF[user_kind]
    ):
        raise ValueError("a credit batch moves one asset from a system account to user accounts")
    if any(c.amount <= 0 for c in credits):
        raise ValueError("amount must be positive")
    rows = await session.execute(
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
            "created",
            r.o_id,
            r.o_amount,
            r.o_created_at,
            None,
            r.o_user_id,
            posted=r.o_posted,
            available=r.o_available,
        )  # fmt: skip
        for r in rows
    }


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
                " FROM account_balances WHERE kind = :kind AND user_id IS NOT DISTINCT FROM :u"
            ),
            {"kind": kind.value, "u": user_id},
        )
    ).first()
    if row is None:
        return Balances()
    return Balances(row.posted_debits, row.posted_credits, row.pending_debits, row.pending_credits)
