"""HTTP request and response models of the payments API. Requests forbid unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from scifikpi_common.text import NoNul

from payments.domain import Payment, PaymentRequest, Provider, Purpose, Refund

MAX_AMOUNT_MINOR = 10**12

PurposeIn = Literal["registration", "topup", "acceleration"]
ProviderIn = Literal["stripe", "yoomoney"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TopupIn(_Strict):
    """A balance top-up: the payment body without `purpose`."""

    amount_minor: int = Field(
        gt=0,
        le=MAX_AMOUNT_MINOR,
        strict=True,
        description="Amount in minor units of `currency` (cents), a JSON integer.",
    )
    currency: str = Field(
        pattern=r"^[A-Z]{3}$", description="ISO-4217 code, upper case.", examples=["USD", "RUB"]
    )
    provider: ProviderIn = Field(description="`stripe` (cards) or `yoomoney` (YooKassa, RUB).")

    def to_request(self) -> PaymentRequest:
        return PaymentRequest(
            purpose=Purpose.topup,
            amount_minor=self.amount_minor,
            currency=self.currency,
            provider=Provider(self.provider),
        )


class PaymentIn(TopupIn):
    purpose: PurposeIn = Field(
        description="`registration` (the deposit that activates a pending account, at least USD "
        "10.00 equivalent), `topup`, or `acceleration` (pays a mining quote)."
    )
    quote_id: UUID | None = Field(
        default=None, description="The acceleration quote paid; required for `acceleration`."
    )

    def to_request(self) -> PaymentRequest:
        return PaymentRequest(
            purpose=Purpose(self.purpose),
            amount_minor=self.amount_minor,
            currency=self.currency,
            provider=Provider(self.provider),
            quote_id=self.quote_id,
        )


class PaymentOut(BaseModel):
    id: UUID = Field(description="Our payment id (also the provider idempotency key).")
    status: Literal["created", "pending", "succeeded", "failed", "canceled", "refunded"]
    purpose: PurposeIn
    provider: ProviderIn
    amount_minor: int
    currency: str
    quote_id: UUID | None = None
    provider_payment_id: str | None = Field(
        description="The PaymentIntent (`pi_...`) or YooKassa payment id, once it exists."
    )
    client_secret: str | None = Field(
        default=None,
        description="Stripe only: confirm the PaymentIntent with it (Stripe.js / mobile SDK).",
    )
    confirmation_url: str | None = Field(
        default=None, description="YooMoney only: send the payer to this page."
    )
    failure_reason: str | None = None
    created_at: datetime
    updated_at: datetime
    succeeded_at: datetime | None = None
    refunded_at: datetime | None = None

    @classmethod
    def of(cls, p: Payment) -> PaymentOut:
        return cls(
            id=p.id,
            status=p.status,  # type: ignore[arg-type]
            purpose=p.purpose,  # type: ignore[arg-type]
            provider=p.provider,  # type: ignore[arg-type]
            amount_minor=p.amount_minor,
            currency=p.currency,
            quote_id=p.quote_id,
            provider_payment_id=p.provider_payment_id,
            client_secret=p.client_secret if p.provider is Provider.stripe else None,
            confirmation_url=p.confirmation_url if p.provider is Provider.yoomoney else None,
            failure_reason=p.failure_reason,
            created_at=p.created_at,
            updated_at=p.updated_at,
            succeeded_at=p.succeeded_at,
            refunded_at=p.refunded_at,
        )


class PaymentPage(BaseModel):
    items: list[PaymentOut]
    next_cursor: str | None = Field(
        description="Pass as `?cursor=` for the next (older) page; null on the last page."
    )


class RefundIn(_Strict):
    reason: Annotated[str, NoNul] = Field(
        default="refunded by an administrator", min_length=1, max_length=500
    )


class RefundOut(BaseModel):
    id: UUID
    payment_id: UUID
    status: Literal["requested", "succeeded", "failed"] = Field(
        description="`requested` while the provider has not confirmed (retried automatically)."
    )
    reason: str
    provider_refund_id: str | None
    last_error: str | None = None
    created_at: datetime
    completed_at: datetime | None
    payment: PaymentOut

    @classmethod
    def of(cls, r: Refund, p: Payment) -> RefundOut:
        return cls(
            id=r.id,
            payment_id=r.payment_id,
            status=r.status,  # type: ignore[arg-type]
            reason=r.reason,
            provider_refund_id=r.provider_refund_id,
            last_error=r.last_error,
            created_at=r.created_at,
            completed_at=r.completed_at,
            payment=PaymentOut.of(p),
        )


#: What a YooKassa notification looks like, for the OpenAPI document only (the route reads the raw
#: body: it is not trusted, the payment is re-fetched). Described so clients and the API fuzzer
#: (`scifikpi_tools.fuzz`) send the shape YooKassa sends.
YOOKASSA_NOTIFICATION_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["type", "event", "object"],
                "properties": {
                    "type": {"const": "notification"},
                    "event": {
                        "type": "string",
                        "maxLength": 100,
                        "examples": ["payment.succeeded"],
                    },
                    "object": {
                        "type": "object",
                        "required": ["id"],
                        "properties": {
                            "id": {"type": "string", "maxLength": 100},
                            "status": {"type": "string"},
                            "payment_id": {"type": "string", "description": "refund.* events"},
                            "metadata": {
                                "type": "object",
                                "properties": {"payment_id": {"type": "string", "format": "uuid"}},
                            },
                        },
                    },
                },
            }
        }
    },
}


class WebhookAck(BaseModel):
    received: bool = True
    duplicate: bool = Field(description="The same event was stored before.")
