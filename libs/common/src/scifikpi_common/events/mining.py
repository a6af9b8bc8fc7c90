"""Events of the mining service, on `mining.session.v1` (keyed by user id).

`AccelerationRejected` (payments consumes it to refund) and `MiningCompleted` (the ledger credits
the points); the mining service adds its other events here.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from scifikpi_common.events.base import Event

SESSION_TOPIC = "mining.session.v1"


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
