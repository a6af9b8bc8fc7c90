"""SQL of wallets and ton_proof challenges (SQLAlchemy Core on the unit of work's session;
nothing here commits).

A payload is consumed by ONE guarded statement (`UPDATE … WHERE payload = :p AND user_id = :u
AND used_at IS NULL AND expires_at > now RETURNING`), in the transaction that binds, so a replay
or a concurrent second verify of the same payload finds no row (the second one waits on the row
lock, then sees `used_at` set). The bind is `INSERT … ON CONFLICT DO NOTHING` on `wallets` (PK
`user_id`, UNIQUE `address`): when a concurrent bind committed first Postgres waits for it and
then skips the row, so no unique violation escapes; the conflicting row decides the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from nft.models import wallet_challenges, wallets
from nft.wallets.domain import Challenge, PayloadState, Wallet

_W = wallets.c
_C = wallet_challenges.c
_WALLET_COLUMNS = (_W.user_id, _W.address, _W.public_key, _W.verified_at)


def _wallet(row: Any) -> Wallet:
    return Wallet(**row._mapping)


class WalletRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ---------------- challenges ----------------
    async def add_challenge(self, user_id: UUID, challenge: Challenge, now: datetime) -> None:
        """Store a new payload for the user, dropping the user's own expired ones first."""
        await self.session.execute(
            delete(wallet_challenges).where(_C.user_id == user_id, _C.expires_at <= now)
        )
        await self.session.execute(
            wallet_challenges.insert().values(
                payload=challenge.payload,
                user_id=user_id,
                created_at=now,
                expires_at=challenge.expires_at,
                used_at=None,
            )
        )

    async def purge_expired(self, now: datetime, *, limit: int) -> int:
        """Delete up to `limit` expired challenges (used or not)."""
        doomed = select(_C.payload).where(_C.expires_at <= now).limit(limit).scalar_subquery()
        result = await self.session.execute(delete(wallet_challenges).where(_C.payload.in_(doomed)))
        return cast(CursorResult[Any], result).rowcount or 0

    async def consume_payload(self, payload: str, user_id: UUID, now: datetime) -> bool:
        stmt = (
            update(wallet_challenges)
            .where(
                _C.payload == payload,
                _C.user_id == user_id,
                _C.used_at.is_(None),
                _C.expires_at > now,
            )
            .values(used_at=now)
            .returning(_C.payload)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def payload_state(self, payload: str) -> PayloadState | None:
        stmt = select(_C.user_id, _C.used_at, _C.expires_at).where(_C.payload == payload)
        row = (await self.session.execute(stmt)).first()
        return None if row is None else PayloadState(row.user_id, row.used_at, row.expires_at)

    # ---------------- wallets ----------------
    async def get(self, user_id: UUID) -> Wallet | None:
        stmt = select(*_WALLET_COLUMNS).where(_W.user_id == user_id)
        row = (await self.session.execute(stmt)).first()
        return _wallet(row) if row else None

    async def address_of(self, user_id: UUID) -> str | None:
        """The raw address of the account's verified wallet."""
        stmt = select(_W.address).where(_W.user_id == user_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def bind(
        self, user_id: UUID, address: str, public_key: str, now: datetime
    ) -> Wallet | None:
        """The new binding, or None when the account or the address is already bound."""
        stmt = (
            insert(wallets)
            .values(user_id=user_id, address=address, public_key=public_key, verified_at=now)
            .on_conflict_do_nothing()
            .returning(*_WALLET_COLUMNS)
        )
        row = (await self.session.execute(stmt)).first()
        return _wallet(row) if row else None
