"""Read use cases: status, history, forecast. Reads never write: a session past its end that the
scheduler has not settled yet is *shown* settled (accrued = target), and stays in the table as
it is until the scheduler completes it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from mining import repository as repo
from mining.domain import (
    SessionStatus,
    decode_cursor,
    encode_cursor,
    forecast,
    format_points,
)
from mining.repository import SessionRecord
from mining.schemas import (
    ForecastCurrent,
    ForecastEstimate,
    ForecastOut,
    IdleOut,
    SessionOut,
    SessionPage,
)
from mining.settings import MiningSettings

ASSUMES = (
    "A new session starts the moment each one ends (the first right after the current one, or "
    "now if none runs), every one at rate_per_hour; only sessions that fully complete before "
    "horizon_end count. Points already accrued in the running session are not included."
)


def session_view(record: SessionRecord, now: datetime) -> SessionOut:
    clock = record.countdown
    settled = record.status == SessionStatus.completed or clock.is_due(now)
    accrued = record.target_micro if settled else clock.accrued_micro(now)
    return SessionOut(
        id=record.id,
        status="completed" if settled else "active",
        started_at=record.started_at,
        ends_at=record.ends_at,
        completed_at=record.completed_at or (record.ends_at if settled else None),
        duration_s=record.duration_s,
        skipped_s=record.skipped_s,
        remaining_s=0 if settled else clock.remaining_s(now),
        rate_per_hour=format_points(record.rate_micro_per_hour),
        rate_micro_per_hour=record.rate_micro_per_hour,
        target_points=format_points(record.target_micro),
        target_micro=record.target_micro,
        accrued_points=format_points(accrued),
        accrued_micro=accrued,
        server_time=now,
    )


async def status(s: AsyncSession, user_id: UUID, now: datetime) -> SessionOut | IdleOut:
    record = await repo.active_session(s, user_id)
    return session_view(record, now) if record else IdleOut(server_time=now)


async def sessions(
    s: AsyncSession, user_id: UUID, *, cursor: str | None, limit: int, now: datetime
) -> SessionPage:
    after = decode_cursor(cursor) if cursor else None
    rows = await repo.history(s, user_id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].started_at, rows[-1].id) if more and rows else None
    return SessionPage(items=[session_view(r, now) for r in rows], next_cursor=next_cursor)


async def mining_forecast(
    s: AsyncSession, user_id: UUID, settings: MiningSettings, *, days: int,
    extra_deposit_minor: int, now: datetime,
) -> ForecastOut:  # fmt: skip
    account = await repo.account(s, user_id)
    deposits = account.total_deposits_usd_minor if account else 0
    rate = settings.mining_rate_micro_per_hour(deposits + extra_deposit_minor)
    record = await repo.active_session(s, user_id)
    result = forecast(
        now, days=days, duration_s=settings.session_duration_s, rate_micro_per_hour=rate,
        current=record.countdown if record else None,
    )  # fmt: skip
    current = None
    if record is not None:
        current = ForecastCurrent(
            session_id=record.id, ends_at=record.ends_at,
            points_at_end=format_points(record.target_micro),
            points_at_end_micro=record.target_micro,
        )  # fmt: skip
    return ForecastOut(
        server_time=now,
        current_session=current,
        estimate=ForecastEstimate(
            days=days,
            horizon_end=result.horizon_end,
            rate_per_hour=format_points(rate),
            rate_micro_per_hour=rate,
            first_session_starts_at=result.first_start,
            sessions=result.sessions,
            points_per_session=format_points(result.points_per_session_micro),
            current_session_remaining_points=format_points(result.current_remaining_micro),
            points=format_points(result.points_micro),
            points_micro=result.points_micro,
            assumes=ASSUMES,
        ),  # fmt: skip
    )
