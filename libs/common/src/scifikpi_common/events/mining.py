"""Events of the mining service, on `mining.session.v1` (keyed by user id).

`MiningStarted`, `MiningAccelerated`, `AccelerationRejected` (payments consumes it to refund) and
`MiningCompleted` (the ledger credits the points). Points are micro-points, times server UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from scifikpi_common.events.base import Event

SESSION_TOPIC = "mining.session.v1"


class MiningStarted(Event):
    """A session started; its rate and target are frozen for its whole life."""

    TOPIC: ClassVar[str] = SESSION_TOPIC
    EVENT_TYPE: ClassVar[str] = "MiningStarted"

    session_id: UUID
    started_at: datetime
    ends_at: datetime
    duration_s: int = Field(gt=0)
    rate_micro_per_hour: int = Field(ge=0, description="Mining power frozen at start, µP/hour.")
    target_points_micro: int = Field(ge=0, description="What the session credits at its end, µP.")


class MiningAccelerated(Event):
    """A paid acceleration skipped `seconds_applied` of a running session."""

    TOPIC: ClassVar[str] = SESSION_TOPIC
    EVENT_TYPE: ClassVar[str] = "MiningAccelerated"

    session_id: UUID
    payment_id: UUID
    quote_id: UUID
    seconds_applied: int = Field(
        gt=0, description="Seconds skipped, capped at what remained when the payment arrived."
    )
    skipped_s: int = Field(gt=0, description="The session's total skipped seconds after this.")
    ends_at: datetime = Field(description="The session's new end.")
    accelerated_at: datetime


class AccelerationRejected(Event):
    """A paid acceleration could not be applied (session ended, quote expired): refund it."""

    TOPIC: ClassVar[str] = SESSION_TOPIC
    EVENT_TYPE: ClassVar[str] = "AccelerationRejected"

    payment_id: UUID = Field(description="The succeeded acceleration payment to refund.")
    quote_id: UUID = Field(description="The quote the payment paid.")
    reason: str = Field(
        description="Why, e.g. `session_ended` or `quote_expired`.", examples=["quote_expired"]
    )
    rejected_at: datetime


class MiningCompleted(Event):
    """A session reached its end: the ledger credits `points_micro` to the user exactly once."""

    TOPIC: ClassVar[str] = SESSION_TOPIC
    EVENT_TYPE: ClassVar[str] = "MiningCompleted"

    session_id: UUID = Field(
        description="The completed session; the ledger transfer id is `mining:<session_id>`."
    )
    points_micro: int = Field(gt=0, description="Points earned, in micro-points (1 P = 10^6 µP).")
    completed_at: datetime
