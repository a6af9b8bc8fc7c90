"""SQL of the auth service: the only module that runs statements on its tables.

Each repository takes the unit of work's session, runs in the caller's transaction and never
commits. Reads return `domain` values (frozen dataclasses), never rows; writes are explicit
methods (`users.activate(...)`), so nothing changes behind a handler's back. A unique violation
that is a business outcome becomes the domain's error (`EmailTaken`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CursorResult,
    Result,
    bindparam,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.domain import (
    AccountType,
    CompanyDetails,
    EmailTaken,
    FailureScope,
    RefreshToken,
    Role,
    User,
    UserStatus,
)
from auth.models import EMAIL_INDEX, login_failures, refresh_tokens, users


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched."""
    return result.rowcount if isinstance(result, CursorResult) else 0


# --------------------------------------------------------------------------- users


def _user_values(user: User) -> dict[str, Any]:
    company = user.company
    return {
        "id": user.id,
        "email": user.email,
        "password_hash": user.password_hash,
        "account_type": user.account_type.value,
        "role": user.role.value,
        "status": user.status.value,
        "country": user.country,
        "full_name": user.full_name,
        "company_name": company.name if company else None,
        "company_tax_id": company.tax_id if company else None,
        "representative_full_name": company.representative_full_name if company else None,
        "representative_position": company.representative_position if company else None,
        "initial_deposit_minor": user.initial_deposit_minor,
        "initial_deposit_currency": user.initial_deposit_currency,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "activated_at": user.activated_at,
        "activation_payment_id": user.activation_payment_id,
    }


def _user(row: Any) -> User:
    account_type = AccountType(row.account_type)
    company = None
    if account_type is AccountType.legal_entity:
        company = CompanyDetails(
            name=row.company_name,
            tax_id=row.company_tax_id,
            representative_full_name=row.representative_full_name,
            representative_position=row.representative_position,
        )
    return User(
        id=row.id,
        email=row.email,
        password_hash=row.password_hash,
        account_type=account_type,
        role=Role(row.role),
        status=UserStatus(row.status),
        country=row.country,
        full_name=row.full_name,
        company=company,
        initial_deposit_minor=row.initial_deposit_minor,
        initial_deposit_currency=row.initial_deposit_currency,
        created_at=row.created_at,
        updated_at=row.updated_at,
        activated_at=row.activated_at,
        activation_payment_id=row.activation_payment_id,
    )


#: `GET /auth/me`'s statement (and its locking twin), built once rather than per call (ADR 0009).
_BY_ID = select(users).where(users.c.id == bindparam("user_id"))
_BY_ID_FOR_UPDATE = _BY_ID.with_for_update()


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, user: User) -> None:
        """Insert now: a duplicate email fails here as `EmailTaken` (the unique index decides,
        so two racing registrations of one email leave exactly one user)."""
        try:
            await self.session.execute(insert(users).values(_user_values(user)))
        except IntegrityError as exc:
            if EMAIL_INDEX in str(exc.orig):
                raise EmailTaken("An account with this email already exists.") from None
            raise

    async def get(self, user_id: UUID, *, for_update: bool = False) -> User | None:
        stmt = _BY_ID_FOR_UPDATE if for_update else _BY_ID
        row = (await self.session.execute(stmt, {"user_id": user_id})).one_or_none()
        return _user(row) if row is not None else None

    async def get_by_email(self, email: str, *, for_update: bool = False) -> User | None:
        # lower(email) = the unique index's expression, so the lookup uses it.
        stmt = select(users).where(func.lower(users.c.email) == email.lower())
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).one_or_none()
        return _user(row) if row is not None else None

    async def set_password_hash(self, user_id: UUID, password_hash: str) -> None:
        await self.session.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(password_hash=password_hash, updated_at=func.now())
        )

    async def activate(self, user_id: UUID, *, payment_id: str, at: datetime) -> User:
        """The account becomes `active`, naming the payment that activated it."""
        stmt = (
            update(users)
            .where(users.c.id == user_id)
            .values(
                status=UserStatus.active.value,
                activated_at=at,
                activation_payment_id=payment_id,
                updated_at=at,
            )
            .returning(*users.c)
        )
        return _user((await self.session.execute(stmt)).one())

    async def set_role(self, user_id: UUID, role: Role, *, at: datetime) -> User:
        stmt = (
            update(users)
            .where(users.c.id == user_id)
            .values(role=role.value, updated_at=at)
            .returning(*users.c)
        )
        return _user((await self.session.execute(stmt)).one())


# --------------------------------------------------------------------------- refresh tokens


def _token(row: Any) -> RefreshToken:
    return RefreshToken(
        id=row.id,
        user_id=row.user_id,
        family_id=row.family_id,
        token_hash=row.token_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        rotated_at=row.rotated_at,
        replaced_by=row.replaced_by,
        revoked_at=row.revoked_at,
    )


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: RefreshToken) -> None:
        await self.session.execute(
            insert(refresh_tokens).values(
                id=token.id,
                user_id=token.user_id,
                family_id=token.family_id,
                token_hash=token.token_hash,
                created_at=token.created_at,
                expires_at=token.expires_at,
                rotated_at=token.rotated_at,
                replaced_by=token.replaced_by,
                revoked_at=token.revoked_at,
            )
        )

    async def get_by_hash(
        self, token_hash: bytes, *, for_update: bool = False
    ) -> RefreshToken | None:
        """`for_update` locks the row: two rotations of one token serialize, the second sees it
        rotated."""
        stmt = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).one_or_none()
        return _token(row) if row is not None else None

    async def mark_rotated(self, token_id: UUID, *, replaced_by: UUID, at: datetime) -> None:
        """The token is spent: `replaced_by` is the one issued in exchange."""
        await self.session.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.id == token_id)
            .values(rotated_at=at, replaced_by=replaced_by)
        )

    async def revoke_family(self, family_id: UUID, now: datetime) -> int:
        result = await self.session.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return _rowcount(result)

    async def delete_expired(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(refresh_tokens).where(refresh_tokens.c.expires_at < before)
        )
        return _rowcount(result)


# --------------------------------------------------------------------------- login failures


class LoginFailureRepository:
    """Failed-login counters: one row per (scope, key, fixed window), bumped with an upsert."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def counts(
        self, keys: list[tuple[FailureScope, str]], window_start: datetime
    ) -> dict[tuple[FailureScope, str], int]:
        if not keys:
            return {}
        table = login_failures
        stmt = select(table.c.scope, table.c.key, table.c.failures).where(
            table.c.window_start == window_start,
            tuple_(table.c.scope, table.c.key).in_([(s.value, k) for s, k in keys]),
        )
        rows = (await self.session.execute(stmt)).all()
        return {(FailureScope(r.scope), r.key): r.failures for r in rows}

    async def record_failure(self, scope: FailureScope, key: str, window_start: datetime) -> int:
        """+1 in this window; returns the new count (concurrent failures never lose a count)."""
        table = login_failures
        stmt = (
            pg_insert(table)
            .values(scope=scope.value, key=key, window_start=window_start, failures=1)
            .on_conflict_do_update(
                index_elements=[table.c.scope, table.c.key, table.c.window_start],
                set_={"failures": table.c.failures + 1},
            )
            .returning(table.c.failures)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def clear(self, scope: FailureScope, key: str) -> None:
        await self.session.execute(
            delete(login_failures).where(
                login_failures.c.scope == scope.value, login_failures.c.key == key
            )
        )

    async def delete_older_than(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(login_failures).where(login_failures.c.window_start < before)
        )
        return _rowcount(result)
