"""Queries of the auth service. Every method runs in the caller's transaction and never commits."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import LoginFailure, RefreshToken, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user: User) -> None:
        """Insert now, so a duplicate email fails here (IntegrityError) and not at commit."""
        self.session.add(user)
        await self.session.flush()

    async def get(self, user_id: UUID, *, for_update: bool = False) -> User | None:
        stmt = select(User).where(User.id == user_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_by_email(self, email: str, *, for_update: bool = False) -> User | None:
        # lower(email) = the unique index's expression, so the lookup uses it.
        stmt = select(User).where(func.lower(User.email) == email.lower())
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def set_password_hash(self, user_id: UUID, password_hash: str) -> None:
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(password_hash=password_hash, updated_at=func.now())
        )


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: RefreshToken) -> None:
        self.session.add(token)
        await self.session.flush()

    async def get_by_hash_for_update(self, token_hash: bytes) -> RefreshToken | None:
        """Locks the row: two rotations of one token serialize, the second sees it rotated."""
        stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_by_hash(self, token_hash: bytes) -> RefreshToken | None:
        stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def revoke_family(self, family_id: UUID, now: datetime) -> int:
        result = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount or 0  # type: ignore[attr-defined]

    async def delete_expired(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(RefreshToken).where(RefreshToken.expires_at < before)
        )
        return result.rowcount or 0  # type: ignore[attr-defined]


class LoginFailureRepository:
    """Failed-login counters: one row per (scope, key, fixed window), bumped with an upsert."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def counts(
        self, keys: list[tuple[str, str]], window_start: datetime
    ) -> dict[tuple[str, str], int]:
        if not keys:
            return {}
        stmt = select(LoginFailure.scope, LoginFailure.key, LoginFailure.failures).where(
            LoginFailure.window_start == window_start,
            tuple_(LoginFailure.scope, LoginFailure.key).in_(keys),
        )
        rows = (await self.session.execute(stmt)).all()
        return {(r.scope, r.key): r.failures for r in rows}

    async def record_failure(self, scope: str, key: str, window_start: datetime) -> int:
        """+1 in this window; returns the new count (concurrent failures never lose a count)."""
        stmt = (
            insert(LoginFailure)
            .values(scope=scope, key=key, window_start=window_start, failures=1)
            .on_conflict_do_update(
                index_elements=[LoginFailure.scope, LoginFailure.key, LoginFailure.window_start],
                set_={"failures": LoginFailure.failures + 1},
            )
            .returning(LoginFailure.failures)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def clear(self, scope: str, key: str) -> None:
        await self.session.execute(
            delete(LoginFailure).where(LoginFailure.scope == scope, LoginFailure.key == key)
        )

    async def delete_older_than(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(LoginFailure).where(LoginFailure.window_start < before)
        )
        return result.rowcount or 0  # type: ignore[attr-defined]
