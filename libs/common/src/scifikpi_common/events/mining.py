"""Events of the mining service, on `mining.session.v1` (keyed by user id).

`MiningStarted`, `MiningAccelerated`, `AccelerationRejected` (payments consumes it to refund) and
`MiningCompleted` (the ledger credits the points). Points are micro-points, times server UTC.

Part of mining's contract too: the mining power formula and its constants (`MiningPowerSettings`),
which mining freezes into each session (`MiningStarted.rate_micro_per_hour`) and the ledger shows
in `/balance` from the deposits it books, so both read the same unprefixed `MINING_R_*`.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import Field, model_validator

from scifikpi_common.events.base import Event
from scifikpi_common.settings import ServiceSettings

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


def rate_micro_per_hour(total_deposits_usd_minor: int, *, base: int, per_usd: int, cap: int) -> int:
    """`min(R_MAX, R_BASE + R_PER_USD × floor(total_deposits_usd))`, integers only: USD cents
    floored to whole dollars; a negative total counts as 0 (services/mining/README.md)."""
    whole_usd = max(total_deposits_usd_minor, 0) // 100
    return min(cap, base + per_usd * whole_usd)


class MiningPowerSettings(ServiceSettings):
    """The mining power constants, a mixin of the settings of mining and of the ledger."""

    mining_r_base_micro_per_hour: int = Field(
        default=1_000_000, ge=0, description="R_BASE: µP per hour with no deposits."
    )
    mining_r_per_usd_micro_per_hour: int = Field(
        default=100_000, ge=0, description="R_PER_USD: µP per hour added per whole deposited USD."
    )
    mining_r_max_micro_per_hour: int = Field(
        default=10_000_000, ge=0, description="R_MAX: the cap, µP per hour."
    )

    @model_validator(mode="after")
    def _rate_bounds(self) -> MiningPowerSettings:
        if self.mining_r_max_micro_per_hour < self.mining_r_base_micro_per_hour:
            raise ValueError("MINING_R_MAX_MICRO_PER_HOUR must be >= MINING_R_BASE_MICRO_PER_HOUR")
        return self

    def mining_rate_micro_per_hour(self, total_deposits_usd_minor: int) -> int:
        return rate_micro_per_hour(
            total_deposits_usd_minor,
            base=self.mining_r_base_micro_per_hour,
            per_usd=self.mining_r_per_usd_micro_per_hour,
            cap=self.mining_r_max_micro_per_hour,
        )
