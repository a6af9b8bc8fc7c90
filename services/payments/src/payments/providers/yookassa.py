"""YooKassa (YooMoney) adapter: a thin async client of the HTTP API v3.

Not the official `yookassa` SDK: it is synchronous (`requests`), keeps its configuration in global
class state, and passes amounts through `float`. Here:

- HTTP Basic `shop_id:secret_key`; `Idempotence-Key` = our payment id on create (at most 64
  characters: a UUID is 36), `refund:<payment id>` on refunds, `cancel:<payment id>` on cancel;
- amounts are decimal strings built from minor units with `Decimal` ("10.00"), and parsed back
  exactly;
- `capture: true` (one step, no hold) and `confirmation: {type: redirect, return_url}`;
- response handling follows YooKassa's rules: 200 is an answer; 500 (and 202, 429, network
  errors) means "unknown, retry with the same key"; 4xx means refused; 401/403 are our
  configuration and are retried once it is fixed.
"""

from __future__ import annotations

from typing import Any

import httpx

from payments.domain import PaymentStatus, format_minor, parse_major
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

#: YooKassa payment status -> what it means for our payment. `waiting_for_capture` does not occur
#: with `capture: true`; if it ever does, the money is held, not taken: still pending.
PAYMENT_STATUS: dict[str, PaymentStatus] = {
    "pending": PaymentStatus.pending,
    "waiting_for_capture": PaymentStatus.pending,
    "succeeded": PaymentStatus.succeeded,
    "canceled": PaymentStatus.canceled,
}

REFUND_STATUS: dict[str, ProviderRefundStatus] = {
    "pending": "pending",
    "succeeded": "succeeded",
    "canceled": "failed",
}

DESCRIPTIONS = {
    "registration": "SciFiKPI registration deposit",
    "topup": "SciFiKPI balance top-up",
    "acceleration": "SciFiKPI mining acceleration",
}


def payment_from_object(obj: dict[str, Any]) -> ProviderPayment:
    """Map a YooKassa payment object onto our terms (amounts parsed exactly)."""
    try:
        raw_status = str(obj["status"])
        amount = obj["amount"]
        currency = str(amount["currency"]).upper()
        amount_minor = parse_major(str(amount["value"]), currency)
        provider_payment_id = str(obj["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderUnavailable(f"unexpected YooKassa payment object: {exc!r}") from None
    status = PAYMENT_STATUS.get(raw_status)
    if status is None:
        raise ProviderUnavailable(f"unknown YooKassa payment status {raw_status!r}")
    metadata = obj.get("metadata") or {}
    confirmation = obj.get("confirmation") or {}
    failure = None
    if status is PaymentStatus.canceled:
        details = obj.get("cancellation_details") or {}
        failure = f"canceled: {details.get('reason') or 'unspecified'}"
        if details.get("party"):
            failure += f" (by {details['party']})"
    return ProviderPayment(
        provider_payment_id=provider_payment_id,
        status=status,
        raw_status=raw_status,
        amount_minor=amount_minor,
        currency=currency,
        payment_id=parse_payment_id(metadata.get("payment_id")),
        confirmation_url=confirmation.get("confirmation_url"),
        failure_reason=failure,
    )


def _refund_from(obj: dict[str, Any]) -> ProviderRefund:
    try:
        raw = str(obj["status"])
        refund_id = str(obj["id"])
    except (KeyError, TypeError) as exc:
        raise ProviderUnavailable(f"unexpected YooKassa refund object: {exc!r}") from None
    details = obj.get("cancellation_details") or {}
    return ProviderRefund(
        provider_refund_id=refund_id,
        status=REFUND_STATUS.get(raw, "pending"),
        raw_status=raw,
        failure_reason=details.get("reason"),
    )


class YooKassaProvider:
    name = "yoomoney"

    def __init__(
        self,
        *,
        shop_id: str,
        secret_key: str,
        api_base: str,
        return_url: str,
        currencies: frozenset[str],
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.currencies = currencies
        self._return_url = return_url
        self._http = httpx.AsyncClient(
            base_url=api_base.rstrip("/") + "/",
            auth=httpx.BasicAuth(shop_id, secret_key),
            timeout=httpx.Timeout(timeout_s),
            headers={"Accept": "application/json"},
            transport=transport,
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Idempotence-Key": idempotency_key} if idempotency_key else None
        try:
            response = await self._http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"YooKassa unreachable: {type(exc).__name__}") from None
        status = response.status_code
        if status == 200:
            try:
                body = response.json()
            except ValueError:
                raise ProviderUnavailable("YooKassa answered 200 with a non-JSON body") from None
            if not isinstance(body, dict):
                raise ProviderUnavailable("YooKassa answered 200 with a non-object body")
            return body
        code = _error_code(response)
        described = f"YooKassa {status} {code}".strip()
        if status == 404:
            raise ProviderNotFound(described)
        if status in (401, 403) or status == 202 or status == 429 or status >= 500:
            raise ProviderUnavailable(described)
        raise ProviderRejected(described)

    async def create_payment(self, request: CreatePayment) -> ProviderPayment:
        body = {
            "amount": {
                "value": format_minor(request.amount_minor, request.currency),
                "currency": request.currency,
            },
            "capture": True,
            "confirmation": {"type": "redirect", "return_url": self._return_url},
            "description": DESCRIPTIONS.get(request.purpose, "SciFiKPI payment"),
            "metadata": request.metadata,
        }
        obj = await self._call(
            "POST", "payments", json=body, idempotency_key=request.idempotency_key
        )
        return payment_from_object(obj)

    async def get_payment(self, provider_payment_id: str) -> ProviderPayment:
        return payment_from_object(
            await self._call("GET", f"payments/{_safe(provider_payment_id)}")
        )

    async def cancel_payment(
        self, provider_payment_id: str, *, idempotency_key: str
    ) -> ProviderPayment:
        obj = await self._call(
            "POST",
            f"payments/{_safe(provider_payment_id)}/cancel",
            json={},
            idempotency_key=idempotency_key,
        )
        return payment_from_object(obj)

    async def refund(
        self,
        provider_payment_id: str,
        *,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
    ) -> ProviderRefund:
        body = {
            "payment_id": provider_payment_id,
            "amount": {"value": format_minor(amount_minor, currency), "currency": currency},
        }
        obj = await self._call("POST", "refunds", json=body, idempotency_key=idempotency_key)
        return _refund_from(obj)

    async def get_refund(self, provider_refund_id: str) -> ProviderRefund:
        return _refund_from(await self._call("GET", f"refunds/{_safe(provider_refund_id)}"))

    async def aclose(self) -> None:
        await self._http.aclose()


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code") or "") if isinstance(body, dict) else ""


def _safe(object_id: str) -> str:
    """Provider ids go into URL paths: accept only what YooKassa issues (UUID-like tokens)."""
    if not object_id or len(object_id) > 64 or not all(c.isalnum() or c == "-" for c in object_id):
        raise ProviderNotFound(f"not a YooKassa object id: {object_id[:80]!r}")
    return object_id
