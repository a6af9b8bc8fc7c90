"""Account-status projection (from auth.user.v1) and who may pay what."""

from __future__ import annotations

from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.security import Principal

from payments.domain import AccountStatus, Purpose
from payments.repository import AccountRepository, PaymentRepository


async def account_registered(uow: UnitOfWork, user_id: UUID) -> None:
    await AccountRepository(uow.session).registered(user_id)


async def account_activated(uow: UnitOfWork, user_id: UUID) -> None:
    await AccountRepository(uow.session).activated(user_id)


async def account_status(uow: UnitOfWork, principal: Principal) -> str | None:
    """What we know of the account's status.

    Activation only moves one way (pending_payment → active), so any witness of it wins: the
    projection of auth.user.v1, the access token's `status` claim, or a registration deposit that
    succeeded here (auth activates on exactly that payment; its `UserActivated` may still be on
    its way, and the user must not be refused a top-up meanwhile). A blocked account stays blocked.
    """
    projected = await AccountRepository(uow.session).status(principal.user_id)
    if projected is AccountStatus.blocked:
        return projected
    if AccountStatus.active in (projected, principal.status):
        return AccountStatus.active
    if await PaymentRepository(uow.session).has_succeeded(principal.user_id, Purpose.registration):
        return AccountStatus.active
    return projected if projected is not None else (principal.status or None)
