"""Events of the mining service, on `mining.session.v1` (keyed by user id).

Only `AccelerationRejected` so far (payments consumes it to refund); mining itself arrives in the
next issue and adds its other events here.
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
