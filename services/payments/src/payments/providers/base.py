"""The provider port: what the payments service needs from Stripe, YooKassa, or any other.

Adapters map each provider's objects and errors onto these types, so everything above them (use
cases, webhooks processing, reconciliation, refunds) is provider-agnostic:

- `ProviderUnavailable`: the outcome is unknown or the provider cannot be asked now (network
  error, timeout, 5xx, 429, our credentials refused). Retry later with the SAME idempotency key.
- `ProviderRejected`: the provider definitively refused (4xx); nothing was created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol
from uuid import UUID

from payments.domain import PaymentStatus

ProviderRefundStatus = Literal["succeeded", "pending", "failed"]


class ProviderError(Exception):
    """Base of provider failures. `str()` is safe to log and store (no secrets, no card data)."""


class ProviderUnavailable(ProviderError):
    """Unknown outcome or provider unreachable: retry with the same idempotency key."""


class ProviderRejected(ProviderError):
    """The provider refused the request; retrying the same request will not help."""


class ProviderNotFound(ProviderRejected):
    """The provider has no such object."""


@dataclass(frozen=True, slots=True)
class CreatePayment:
    """What we ask a provider to create. `idempotency_key` is our payment id, always."""

    payment_id: UUID
    user_id: UUID
    purpose: str
    amount_minor: int
    currency: str
    quote_id: UUID | None = None

    @property
    def idempotency_key(self) -> str:
        return str(self.payment_id)

    @property
    def metadata(self) -> dict[str, str]:
        data = {
            "payment_id": str(self.payment_id),
            "user_id": str(self.user_id),
            "purpose": self.purpose,
        }
        if self.quote_id is not None:
            data["quote_id"] = str(self.quote_id)
        return data


@dataclass(frozen=True, slots=True)
class ProviderPayment:
    """A provider's payment object, mapped onto our terms.

    `status` is what it means for us: `pending` (waiting for the payer, or declined and open for
    another attempt), `succeeded`, `canceled`, or `failed`.
    """

    provider_payment_id: str
    status: PaymentStatus
    raw_status: str
    amount_minor: int
    currency: str
    payment_id: UUID | None = None  # from the object's metadata
    client_secret: str | None = field(default=None, repr=False)
    confirmation_url: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    provider_refund_id: str | None
    status: ProviderRefundStatus
    raw_status: str
    failure_reason: str | None = None


class PaymentProvider(Protocol):
    """The port. One instance per provider per process; `aclose()` on shutdown."""

    name: str
    currencies: frozenset[str]

    async def create_payment(self, request: CreatePayment) -> ProviderPayment: ...

    async def get_payment(self, provider_payment_id: str) -> ProviderPayment: ...

    async def cancel_payment(
        self, provider_payment_id: str, *, idempotency_key: str
    ) -> ProviderPayment: ...

    async def refund(
        self,
        provider_payment_id: str,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
    ) -> ProviderRefund: ...

    async def get_refund(self, provider_refund_id: str) -> ProviderRefund: ...

    async def aclose(self) -> None: ...


def parse_payment_id(value: object) -> UUID | None:
    """Our payment id from provider metadata, or None when absent or not a UUID."""
    if not isinstance(value, str):
        return None
    try:
        return UUID(value)
    except ValueError:
        return None
