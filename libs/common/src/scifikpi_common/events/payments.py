"""Events of the payments service, on `payments.payment.v1` (keyed by user id)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from scifikpi_common.events.base import Event

PAYMENT_TOPIC = "payments.payment.v1"

PaymentPurpose = Literal["registration", "topup", "acceleration"]
PaymentProvider = Literal["stripe", "yoomoney"]


class _PaymentEvent(Event):
    TOPIC: ClassVar[str] = PAYMENT_TOPIC

    payment_id: UUID
    purpose: PaymentPurpose
    provider: PaymentProvider
    amount_minor: int = Field(gt=0, description="Minor units of `currency`.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    quote_id: UUID | None = Field(
        default=None, description="Acceleration quote paid, for purpose=acceleration."
    )


class PaymentSucceeded(_PaymentEvent):
    """The provider confirmed the money; emitted exactly once per payment."""

    EVENT_TYPE: ClassVar[str] = "PaymentSucceeded"

    succeeded_at: datetime


class PaymentFailed(_PaymentEvent):
    """The payment ended without money moving (declined, canceled or expired)."""

    EVENT_TYPE: ClassVar[str] = "PaymentFailed"

    reason: str
    failed_at: datetime


class PaymentRefunded(_PaymentEvent):
    """A succeeded payment was returned to the payer in full."""

    EVENT_TYPE: ClassVar[str] = "PaymentRefunded"

    reason: str
    refunded_at: datetime
