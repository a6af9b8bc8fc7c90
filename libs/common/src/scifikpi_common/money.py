"""Money rules shared by every service: integer minor units, ISO-4217 exponents, FX to USD.

No floats: conversions use `Decimal` and round down, so a conversion never grants a user more
than they paid.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: Minor-unit exponents of the currencies we may see; anything else is refused.
CURRENCY_EXPONENTS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "RUB": 2,
    "GBP": 2,
    "KZT": 2,
    "JPY": 0,
}

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class Money(BaseModel):
    """Integer minor units of an ISO-4217 currency: `{"amount_minor": 1000, "currency": "USD"}`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount_minor: int = Field(
        gt=0, le=10**15, description="Amount in minor units (cents, kopecks)."
    )
    currency: CurrencyCode = Field(
        description="ISO-4217 code, upper case.", examples=["USD", "RUB"]
    )


class UnknownCurrency(ValueError):
    def __init__(self, currency: str) -> None:
        super().__init__(f"currency {currency!r} is not supported")
        self.currency = currency


def to_usd_minor(amount_minor: int, currency: str, fx_rates: dict[str, Decimal]) -> int:
    """Convert an amount to USD cents with the configured rates, rounding down."""
    exponent = CURRENCY_EXPONENTS.get(currency)
    rate = fx_rates.get(currency)
    if exponent is None or rate is None:
        raise UnknownCurrency(currency)
    major = Decimal(amount_minor).scaleb(-exponent)
    usd_cents = (major * rate).scaleb(CURRENCY_EXPONENTS["USD"])
    return int(usd_cents.to_integral_value(rounding=ROUND_FLOOR))


def smallest_amount_worth(usd_minor: int, currency: str, fx_rates: dict[str, Decimal]) -> int:
    """The smallest amount of `currency` (minor units) that `to_usd_minor` values at `usd_minor` or
    more: the inverse conversion, rounded up, then stepped past any rounding of the way back."""
    exponent = CURRENCY_EXPONENTS.get(currency)
    rate = fx_rates.get(currency)
    if exponent is None or rate is None:
        raise UnknownCurrency(currency)
    usd_major = Decimal(usd_minor).scaleb(-CURRENCY_EXPONENTS["USD"])
    minor = int((usd_major / rate).scaleb(exponent).to_integral_value(rounding=ROUND_CEILING))
    while to_usd_minor(minor, currency, fx_rates) < usd_minor:
        minor += 1
    return minor
