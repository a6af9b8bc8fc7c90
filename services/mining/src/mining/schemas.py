"""Request and response bodies of the mining API. Points are decimal strings ("12.500000") with
the raw micro-point integers beside them; money is USD cents; times are UTC; no floats."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from scifikpi_common.points import format_points

from mining.domain import MiningForecast, Quote, SessionHistory, SessionRecord

Points = Annotated[str, Field(examples=["12.500000"], pattern=r"^-?\d+\.\d{6}$")]


class SessionOut(BaseModel):
    """A session as the server sees it at `server_time`; the client animates, the server decides."""

    id: UUID
    status: Literal["active", "completed"] = Field(
        description="`completed` also for a session past its end the scheduler has not settled "
        "yet (it will be credited exactly as shown)."
    )
    started_at: datetime
    ends_at: datetime = Field(description="started_at + duration_s − skipped_s")
    completed_at: datetime | None = None
    duration_s: int = Field(examples=[28_800])
    skipped_s: int = Field(ge=0, description="Seconds skipped by paid accelerations.")
    remaining_s: int = Field(ge=0, description="max(0, ceil(ends_at − server_time))")
    rate_per_hour: Points = Field(description="Mining power frozen at start, points per hour.")
    rate_micro_per_hour: int = Field(ge=0)
    target_points: Points = Field(description="What the session credits at its end.")
    target_micro: int = Field(ge=0)
    accrued_points: Points = Field(description="floor(target × e / D) at server_time.")
    accrued_micro: int = Field(ge=0)
    server_time: datetime

    @classmethod
    def of(cls, record: SessionRecord, now: datetime) -> SessionOut:
        state = record.at(now)
        return cls(
            id=record.id,
            status=state.status.value,
            started_at=record.started_at,
            ends_at=record.ends_at,
            completed_at=state.completed_at,
            duration_s=record.duration_s,
            skipped_s=record.skipped_s,
            remaining_s=state.remaining_s,
            rate_per_hour=format_points(record.rate_micro_per_hour),
            rate_micro_per_hour=record.rate_micro_per_hour,
            target_points=format_points(record.target_micro),
            target_micro=record.target_micro,
            accrued_points=format_points(state.accrued_micro),
            accrued_micro=state.accrued_micro,
            server_time=now,
        )


class IdleOut(BaseModel):
    """No session is running."""

    status: Literal["idle"] = "idle"
    server_time: datetime


MiningStatus = Annotated[SessionOut | IdleOut, Field(discriminator="status")]


def status_of(record: SessionRecord | None, now: datetime) -> SessionOut | IdleOut:
    """The running session at `now`, or idle."""
    return SessionOut.of(record, now) if record is not None else IdleOut(server_time=now)


class SessionPage(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")

    @classmethod
    def of(cls, history: SessionHistory, now: datetime) -> SessionPage:
        return cls(
            items=[SessionOut.of(r, now) for r in history.items], next_cursor=history.next_cursor
        )


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: int = Field(
        description="Seconds of the running session to skip (1..remaining_s).",
        examples=[3600],
        json_schema_extra={"minimum": 1},
    )


class QuoteOut(BaseModel):
    """Pay it as `POST /payments {purpose: "acceleration", quote_id}` before `valid_until`."""

    quote_id: UUID
    session_id: UUID
    seconds: int = Field(gt=0)
    price_minor: int = Field(
        gt=0,
        description="USD cents; any currency converting to at least this much (FX_RATES, "
        "rounded down) pays it.",
    )
    currency: Literal["USD"] = "USD"
    valid_until: datetime

    @classmethod
    def of(cls, quote: Quote) -> QuoteOut:
        return cls(
            quote_id=quote.id,
            session_id=quote.session_id,
            seconds=quote.seconds,
            price_minor=quote.price_minor,
            valid_until=quote.valid_until,
        )


class ForecastCurrent(BaseModel):
    """The running session: what it credits at its end is exact, not an estimate."""

    session_id: UUID
    ends_at: datetime
    points_at_end: Points = Field(description="= the session's target, credited at ends_at.")
    points_at_end_micro: int = Field(ge=0)


class ForecastEstimate(BaseModel):
    label: Literal["estimate"] = "estimate"
    days: int
    horizon_end: datetime = Field(description="server_time + days.")
    rate_per_hour: Points = Field(description="Rate assumed for the new sessions.")
    rate_micro_per_hour: int = Field(ge=0)
    first_session_starts_at: datetime
    sessions: int = Field(ge=0, description="New sessions that fully complete by horizon_end.")
    points_per_session: Points
    current_session_remaining_points: Points = Field(
        description="Points the running session still accrues (0 if it ends after horizon_end)."
    )
    points: Points = Field(description="current_session_remaining + sessions × per session.")
    points_micro: int = Field(ge=0)
    assumes: str


ASSUMES = (
    "A new session starts the moment each one ends (the first right after the current one, or "
    "now if none runs), every one at rate_per_hour; only sessions that fully complete before "
    "horizon_end count. Points already accrued in the running session are not included."
)


class ForecastOut(BaseModel):
    server_time: datetime
    current_session: ForecastCurrent | None
    estimate: ForecastEstimate

    @classmethod
    def of(cls, result: MiningForecast) -> ForecastOut:
        record, estimate = result.current, result.estimate
        current = None
        if record is not None:
            current = ForecastCurrent(
                session_id=record.id,
                ends_at=record.ends_at,
                points_at_end=format_points(record.target_micro),
                points_at_end_micro=record.target_micro,
            )
        return cls(
            server_time=result.now,
            current_session=current,
            estimate=ForecastEstimate(
                days=result.days,
                horizon_end=estimate.horizon_end,
                rate_per_hour=format_points(estimate.rate_micro_per_hour),
                rate_micro_per_hour=estimate.rate_micro_per_hour,
                first_session_starts_at=estimate.first_start,
                sessions=estimate.sessions,
                points_per_session=format_points(estimate.points_per_session_micro),
                current_session_remaining_points=format_points(estimate.current_remaining_micro),
                points=format_points(estimate.points_micro),
                points_micro=estimate.points_micro,
                assumes=ASSUMES,
            ),
        )
