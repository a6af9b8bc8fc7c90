"""Account-status projection (from auth.user.v1) and who may pay what."""

from __future__ import annotations

from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.security import Principal

from payments.repository import AccountRepository


async def account_registered(uow: UnitOfWork, user_id: UUID) -> None:
    await AccountRepository(uow.session).registered(user_id)


async def account_activated(uow: UnitOfWork, user_id: UUID) -> None:
    await AccountRepository(uow.session).activated(user_id)


async def account_status(uow: UnitOfWork, principal: Principal) -> str | None:
    """The projected status (from auth.user.v1); when auth's events have not reached us yet, the
    access token's `status` claim, which auth set when it issued the token."""
    projected = await AccountRepository(uow.session).status(principal.user_id)
    return projected if projected is not None else (principal.status or None)
