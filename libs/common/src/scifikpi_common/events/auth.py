"""Events of the auth service, on `auth.user.v1` (keyed by user id)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from scifikpi_common.events.base import Event

USER_TOPIC = "auth.user.v1"

#: Part of auth's contract: an account is activated (`UserActivated`) by a `registration` payment
#: worth at least this many USD cents at the configured FX rates, and auth refuses a registration
#: whose declared deposit is worth less. Payments refuses a smaller registration payment up front.
REGISTRATION_MINIMUM_USD_MINOR = 1000


class DepositAmount(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    amount_minor: int = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class UserRegistered(Event):
    """A person or company registered; the account waits for its registration deposit."""

    TOPIC: ClassVar[str] = USER_TOPIC
    EVENT_TYPE: ClassVar[str] = "UserRegistered"

    email: str
    account_type: Literal["individual", "legal_entity"]
    country: str = Field(description="ISO 3166-1 alpha-2.")
    status: Literal["pending_payment"] = "pending_payment"
    initial_deposit: DepositAmount = Field(description="The deposit the user said they would pay.")
    registered_at: datetime


class UserActivated(Event):
    """The registration deposit succeeded: the account may now mine and buy NFTs."""

    TOPIC: ClassVar[str] = USER_TOPIC
    EVENT_TYPE: ClassVar[str] = "UserActivated"

    status: Literal["active"] = "active"
    payment_id: str = Field(description="The registration payment that activated the account.")
    activated_at: datetime
