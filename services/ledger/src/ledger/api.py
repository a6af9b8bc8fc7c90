"""HTTP routes of the ledger service. Reads only (nothing to commit); the admin check runs in
one read-only REPEATABLE READ transaction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from scifikpi_common.app import UoW
from scifikpi_common.errors import Forbidden, InvalidCursor, InvalidToken
from scifikpi_common.problems import problem_responses
from scifikpi_common.security import CurrentAdmin, CurrentPrincipal

from ledger import handlers
from ledger.domain import TransferKind
from ledger.schemas import BalanceOut, HistoryPage
from ledger.settings import LedgerSettings


def get_settings(request: Request) -> LedgerSettings:
    settings: LedgerSettings = request.app.state.settings
    return settings


Settings = Annotated[LedgerSettings, Depends(get_settings)]

router = APIRouter(tags=["ledger"])


@router.get("/balance", response_model=BalanceOut, responses=problem_responses(InvalidToken))
async def get_balance(principal: CurrentPrincipal, uow: UoW, settings: Settings) -> BalanceOut:
    """Points (available, reserved, total), money deposited (USD) and the mining power it gives."""
    return BalanceOut.of(await handlers.balance(uow, principal.user_id, settings))


@router.get(
    "/history", response_model=HistoryPage, responses=problem_responses(InvalidToken, InvalidCursor)
)
async def get_history(
    principal: CurrentPrincipal,
    uow: UoW,
    kind: Annotated[TransferKind | None, Query(description="Only this kind.")] = None,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> HistoryPage:
    """Every operation of the user, newest first, keyset-paged."""
    page = await handlers.history(uow, principal.user_id, kind=kind, cursor=cursor, limit=limit)
    return HistoryPage.of(page)


admin_router = APIRouter(tags=["admin"])


@admin_router.get("/admin/ledger/check", responses=problem_responses(InvalidToken, Forbidden))
async def ledger_check(admin: CurrentAdmin, uow: UoW) -> dict[str, Any]:
    """The ledger invariants; `ok: false` lists the offenders."""
    report = await handlers.check_invariants(uow)
    return report.as_dict()
