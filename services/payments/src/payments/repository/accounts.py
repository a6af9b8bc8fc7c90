"""The account-status projection (from `auth.user.v1`)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from payments.domain import AccountStatus
from payments.models import accounts

_c = accounts.c


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def status(self, user_id: UUID) -> AccountStatus | None:
        stmt = select(_c.status).where(_c.user_id == user_id)
        value = (await self.session.execute(stmt)).scalar_one_or_none()
        return AccountStatus(value) if value is not None else None

    async def registered(self, user_id: UUID) -> None:
        """A new account waits for its deposit; never downgrades one we already saw activated."""
        await self.session.execute(
            insert(accounts)
            .values(user_id=user_id, status=str(AccountStatus.pending_payment))
            .on_conflict_do_nothing(index_elements=[_c.user_id])
        )

    async def activated(self, user_id: UUID) -> None:
        active = str(AccountStatus.active)
        await self.session.execute(
            insert(accounts)
            .values(user_id=user_id, status=active)
            .on_conflict_do_update(
                index_elements=[_c.user_id],
                set_={"status": active, "updated_at": func.now()},
                where=_c.status != str(AccountStatus.blocked),
            )
        )
