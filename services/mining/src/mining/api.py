"""HTTP routes of the mining service. Every route needs an access token; GETs never write."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from scifikpi_common.app import UoW
from scifikpi_common.clock import utcnow
from scifikpi_common.db import committing
from scifikpi_common.errors import InvalidCursor, InvalidToken
from scifikpi_common.problems import problem_responses
from scifikpi_common.security import CurrentPrincipal

from mining import handlers
from mining.domain import (
    AccelerationExceedsRemaining,
    AccountNotActive,
    InvalidAccelerationSeconds,
    MiningSessionActive,
    NoActiveSession,
)
from mining.schemas import (
    ForecastOut,
    MiningStatus,
    QuoteIn,
    QuoteOut,
    SessionOut,
    SessionPage,
    status_of,
)
from mining.settings import MiningSettings


def get_settings(request: Request) -> MiningSettings:
    settings: MiningSettings = request.app.state.settings
    return settings


Settings = Annotated[MiningSettings, Depends(get_settings)]

router = APIRouter(prefix="/mining", tags=["mining"])


@router.post(
    "/start",
    status_code=201,
    response_model=SessionOut,
    responses=problem_responses(InvalidToken, AccountNotActive, MiningSessionActive),
)
async def start(principal: CurrentPrincipal, uow: UoW, settings: Settings) -> SessionOut:
    """Start a session at today's mining power (frozen for the session); one at a time."""
    now = utcnow()
    async with committing(uow):
        record = await handlers.start_session(uow, principal, settings, now)
    return SessionOut.of(record, now)


@router.get("/status", response_model=MiningStatus, responses=problem_responses(InvalidToken))
async def status(principal: CurrentPrincipal, uow: UoW) -> MiningStatus:
    """The running session with its countdown at `server_time`, or `idle`."""
    now = utcnow()
    return status_of(await handlers.session_status(uow, principal.user_id), now)


@router.get(
    "/sessions",
    response_model=SessionPage,
    responses=problem_responses(InvalidToken, InvalidCursor),
)
async def sessions(
    principal: CurrentPrincipal,
    uow: UoW,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SessionPage:
    """The user's sessions, newest first, keyset-paged."""
    now = utcnow()
    history = await handlers.session_history(uow, principal.user_id, cursor=cursor, limit=limit)
    return SessionPage.of(history, now)


@router.post(
    "/acceleration/quote",
    status_code=201,
    response_model=QuoteOut,
    responses=problem_responses(
        InvalidToken, InvalidAccelerationSeconds, NoActiveSession, AccelerationExceedsRemaining
    ),
)
async def quote(
    body: QuoteIn, principal: CurrentPrincipal, uow: UoW, settings: Settings
) -> QuoteOut:
    """Price skipping `seconds` of the running session; pay it as an `acceleration` payment."""
    async with committing(uow):
        quote = await handlers.create_quote(
            uow, principal.user_id, body.seconds, settings, utcnow()
        )
    return QuoteOut.of(quote)


@router.get("/forecast", response_model=ForecastOut, responses=problem_responses(InvalidToken))
async def forecast(
    principal: CurrentPrincipal,
    uow: UoW,
    settings: Settings,
    days: Annotated[int, Query(ge=1, le=365, description="Horizon in days.")] = 30,
    extra_deposit_minor: Annotated[
        int, Query(ge=0, le=10**12, description="A deposit to assume on top (USD cents).")
    ] = 0,
) -> ForecastOut:
    """The running session's exact end amount, plus an estimate of the next `days`."""
    result = await handlers.mining_forecast(
        uow,
        principal.user_id,
        settings,
        days=days,
        extra_deposit_minor=extra_deposit_minor,
        now=utcnow(),
    )
    return ForecastOut.of(result)
