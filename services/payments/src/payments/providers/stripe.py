"""Stripe adapter: PaymentIntents through the official SDK (v16 `StripeClient`, async over httpx).

- Our payment id is the `Idempotency-Key` of the create call (never the SDK's random one) and
  `metadata.payment_id`, so a retry after a crash, a timeout or a 503 finds the same PaymentIntent.
- Only parameters localstripe also accepts are sent (`amount`, `currency`, `metadata`,
  `payment_method_types`): the stand-in rejects anything else with 400, and the same code runs
  against both.
- Stripe has no "failed" PaymentIntent status: a declined attempt returns the intent to
  `requires_payment_method` and the payer may try another card. So a decline leaves the payment
  `pending`; it ends `canceled` when it is abandoned (reconciliation cancels it at Stripe).
"""

from __future__ import annotations

from typing import Any

import stripe

from payments.domain import PaymentStatus
from payments.providers.base import (
    CreatePayment,
    ProviderNotFound,
    ProviderPayment,
    ProviderRefund,
    ProviderRefundStatus,
    ProviderRejected,
    ProviderUnavailable,
    parse_payment_id,
)

#: PaymentIntent status -> what it means for our payment.
INTENT_STATUS: dict[str, PaymentStatus] = {
    "requires_payment_method": PaymentStatus.pending,
    "requires_confirmation": PaymentStatus.pending,
    "requires_action": PaymentStatus.pending,
    "processing": PaymentStatus.pending,
    "requires_capture": PaymentStatus.pending,
    "succeeded": PaymentStatus.succeeded,
    "canceled": PaymentStatus.canceled,
}

REFUND_STATUS: dict[str, ProviderRefundStatus] = {
    "succeeded": "succeeded",
    "pending": "pending",
    "requires_action": "pending",
    "failed": "failed",
    "canceled": "failed",
}


def _plain(obj: Any) -> dict[str, Any]:
    """A StripeObject (not a dict in SDK 16) or a webhook's JSON object, as a plain dict."""
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        plain: dict[str, Any] = to_dict()
        return plain
    raise TypeError(f"not a Stripe object: {type(obj).__name__}")


def payment_from_intent(obj: Any) -> ProviderPayment:
    """Map a PaymentIntent (SDK object or the `data.object` of an event) onto our terms."""
    intent = _plain(obj)
    raw_status = str(intent.get("status") or "")
    status = INTENT_STATUS.get(raw_status)
    if status is None:
        raise ProviderUnavailable(f"unknown PaymentIntent status {raw_status!r}")
    metadata = intent.get("metadata") or {}
    failure = None
    error = intent.get("last_payment_error")
    if isinstance(error, dict):
        failure = str(error.get("code") or error.get("decline_code") or error.get("type") or "")
        failure = f"last attempt declined: {failure}" if failure else "last attempt declined"
    if status is PaymentStatus.canceled:
        failure = f"canceled: {intent.get('cancellation_reason') or 'unspecified'}"
    return ProviderPayment(
        provider_payment_id=str(intent["id"]),
        status=status,
        raw_status=raw_status,
        amount_minor=int(intent.get("amount") or 0),
        currency=str(intent.get("currency") or "").upper(),
        payment_id=parse_payment_id(metadata.get("payment_id")),
        client_secret=intent.get("client_secret"),
        failure_reason=failure,
    )


def _refund_from(obj: Any) -> ProviderRefund:
    refund = _plain(obj)
    raw = str(refund.get("status") or "")
    return ProviderRefund(
        provider_refund_id=str(refund["id"]),
        status=REFUND_STATUS.get(raw, "pending"),
        raw_status=raw,
        failure_reason=refund.get("failure_reason"),
    )


def _describe(exc: stripe.StripeError) -> str:
    """Loggable and storable: the error class, status and code; no request data."""
    parts = [type(exc).__name__]
    if exc.http_status:
        parts.append(str(exc.http_status))
    if exc.code:
        parts.append(str(exc.code))
    return " ".join(parts)


def _translate(exc: stripe.StripeError) -> Exception:
    if isinstance(
        exc,
        stripe.APIConnectionError
        | stripe.RateLimitError
        | stripe.AuthenticationError
        | stripe.PermissionError
        | stripe.IdempotencyError,
    ):
        # Unknown outcome, or our configuration: retry later with the same key.
        return ProviderUnavailable(_describe(exc))
    status = exc.http_status
    if status is None or status >= 500 or status in (409, 429):
        return ProviderUnavailable(_describe(exc))
    if status == 404:
        return ProviderNotFound(_describe(exc))
    return ProviderRejected(_describe(exc))


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        *,
        api_key: str,
        api_base: str,
        currencies: frozenset[str],
        timeout_s: float = 10.0,
        max_network_retries: int = 1,
    ) -> None:
        self.currencies = currencies
        self._http = stripe.HTTPXClient(timeout=timeout_s)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")},
            max_network_retries=max_network_retries,
            http_client=self._http,
        )

    async def create_payment(self, request: CreatePayment) -> ProviderPayment:
        params: dict[str, Any] = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "payment_method_types": ["card"],
            "metadata": request.metadata,
        }
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return payment_from_intent(intent)

    async def get_payment(self, provider_payment_id: str) -> ProviderPayment:
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(provider_payment_id)
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return payment_from_intent(intent)

    async def cancel_payment(
        self, provider_payment_id: str, *, idempotency_key: str
    ) -> ProviderPayment:
        try:
            intent = await self._client.v1.payment_intents.cancel_async(
                provider_payment_id, options={"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return payment_from_intent(intent)

    async def refund(
        self,
        provider_payment_id: str,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
    ) -> ProviderRefund:
        try:
            refund = await self._client.v1.refunds.create_async(
                {"payment_intent": provider_payment_id, "amount": amount_minor},
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return _refund_from(refund)

    async def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        try:
            refund = await self._client.v1.refunds.retrieve_async(provider_refund_id)
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return _refund_from(refund)

    async def aclose(self) -> None:
        await self._http.close_async()
