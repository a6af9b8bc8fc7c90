"""Events of the ledger service, on `ledger.account.v1` (keyed by user id).

Amounts are integers: points in micro-points (1 point = 1,000,000 µP), money in USD minor units.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from scifikpi_common.events.base import Event

ACCOUNT_TOPIC = "ledger.account.v1"


class _LedgerEvent(Event):
    TOPIC: ClassVar[str] = ACCOUNT_TOPIC

    transfer_id: str = Field(
        description="The ledger transfer, derived from the causing event (e.g. `payment:<id>`)."
    )
    booked_at: datetime


class MoneyCredited(_LedgerEvent):
    """A registration or top-up payment was credited to the user's money account."""

    EVENT_TYPE: ClassVar[str] = "MoneyCredited"

    payment_id: UUID
    amount_usd_minor: int = Field(gt=0, description="This credit, in USD cents.")
    total_deposits_usd_minor: int = Field(
        ge=0, description="All of the user's credited deposits so far, in USD cents."
    )


class MoneyDebited(_LedgerEvent):
    """A registration or top-up payment was refunded: the deposit leaves the user's money account.

    Carries the new total so consumers that derive mining power from deposits (mining) lower it.
    """

    EVENT_TYPE: ClassVar[str] = "MoneyDebited"

    payment_id: UUID
    amount_usd_minor: int = Field(gt=0, description="This debit, in USD cents.")
    total_deposits_usd_minor: int = Field(
        ge=0, description="All of the user's credited deposits after the refund, in USD cents."
    )
    reason: str = Field(examples=["refund"])


class PointsCredited(_LedgerEvent):
    """A completed mining session's points were credited."""

    EVENT_TYPE: ClassVar[str] = "PointsCredited"

    session_id: UUID
    points_micro: int = Field(gt=0)
    available_micro: int = Field(ge=0, description="Available points after the credit.")


class PointsReserved(_LedgerEvent):
    """The price of an NFT purchase is held (a pending transfer) until minted or failed."""

    EVENT_TYPE: ClassVar[str] = "PointsReserved"

    purchase_id: UUID
    points_micro: int = Field(gt=0)
    expires_at: datetime = Field(description="When the hold expires if never resolved.")


class PointsReservationRejected(Event):
    """The hold could not be placed (e.g. `insufficient_funds`): the purchase fails."""

    TOPIC: ClassVar[str] = ACCOUNT_TOPIC
    EVENT_TYPE: ClassVar[str] = "PointsReservationRejected"

    purchase_id: UUID
    points_micro: int = Field(gt=0)
    reason: str = Field(examples=["insufficient_funds"])
    rejected_at: datetime


class PointsDebited(_LedgerEvent):
    """The hold was captured: the points are spent."""

    EVENT_TYPE: ClassVar[str] = "PointsDebited"

    purchase_id: UUID
    points_micro: int = Field(gt=0)


class PointsReleased(_LedgerEvent):
    """The hold was voided or expired: the points are available again."""

    EVENT_TYPE: ClassVar[str] = "PointsReleased"

    purchase_id: UUID
    points_micro: int = Field(gt=0)
    reason: str = Field(examples=["purchase_failed", "expired"])
