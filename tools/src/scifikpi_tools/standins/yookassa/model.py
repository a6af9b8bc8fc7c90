"""The fake's state: payments, refunds, idempotence keys, and how each request changes them.

No I/O here: `api.py` and `control_api.py` turn HTTP into calls, `notifier.py` delivers the
notifications that the state changes return. The values and rules are `values.py`, the objects
and their API shapes `objects.py`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from scifikpi_tools.standins.yookassa.objects import Events, Payment, Refund, Saved
from scifikpi_tools.standins.yookassa.values import (
    DESCRIPTION_MAX,
    IDEMPOTENCE_KEY_MAX,
    ApiError,
    fingerprint,
    invalid,
    money,
    now,
    object_id,
    parse_amount,
    parse_metadata,
)

#: a card payment authorised with capture=false must be captured within 7 days
CAPTURE_WINDOW = timedelta(days=7)

PAYMENT_EVENTS = {
    "succeeded": "payment.succeeded",
    "waiting_for_capture": "payment.waiting_for_capture",
    "canceled": "payment.canceled",
}


class Shop:
    """Everything the fake knows; every method is synchronous, so it is atomic on the loop."""

    def __init__(self, shop_id: str, secret_key: str, public_url: str) -> None:
        self.shop_id = shop_id
        self.secret_key = secret_key
        self.public_url = public_url.rstrip("/")
        self.payments: dict[str, Payment] = {}
        self.refunds: dict[str, Refund] = {}
        self.idempotence: dict[str, Saved] = {}

    def reset(self) -> None:
        self.payments.clear()
        self.refunds.clear()
        self.idempotence.clear()

    # ------------------------------------------------------------------ idempotence

    def replay(self, key: str, method: str, path: str, body: Any) -> Saved | None:
        """The saved answer for `key` (None: new); ApiError 400 if it meant another request."""
        if not key:
            raise invalid("Idempotence-Key header is missing", "Idempotence-Key")
        if len(key) > IDEMPOTENCE_KEY_MAX:
            raise invalid(
                f"Idempotence-Key is longer than {IDEMPOTENCE_KEY_MAX} characters",
                "Idempotence-Key",
            )
        saved = self.idempotence.get(key)
        if saved is None:
            return None
        if saved.fingerprint != fingerprint(method, path, body):
            raise invalid(
                "Idempotence key duplicated: this key was already used with other request data",
                "Idempotence-Key",
            )
        return saved

    def save(self, key: str, method: str, path: str, body: Any, status: int, out: dict) -> None:
        self.idempotence[key] = Saved(fingerprint(method, path, body), status, out, now())

    # ------------------------------------------------------------------ payments

    def payment(self, payment_id: str) -> Payment:
        found = self.payments.get(payment_id)
        if found is None:
            raise ApiError(404, "not_found", f"Payment {payment_id} doesn't exist or access denied")
        return found

    def create_payment(self, body: Any) -> Payment:
        if not isinstance(body, dict):
            raise invalid("Request body must be a JSON object")
        amount, currency = parse_amount(body.get("amount"))
        capture = body.get("capture", False)
        if not isinstance(capture, bool):
            raise invalid("capture must be a boolean", "capture")
        description = body.get("description")
        if description is not None and (
            not isinstance(description, str) or len(description) > DESCRIPTION_MAX
        ):
            raise invalid(
                f"description must be a string of at most {DESCRIPTION_MAX}", "description"
            )
        metadata = parse_metadata(body.get("metadata"))
        payment_id = object_id()
        confirmation = self._confirmation(body.get("confirmation"), payment_id)
        payment = Payment(
            id=payment_id,
            amount=amount,
            currency=currency,
            capture=capture,
            description=description,
            metadata=metadata,
            confirmation=confirmation,
            created_at=now(),
            shop_id=self.shop_id,
        )
        self.payments[payment.id] = payment
        return payment

    def _confirmation(self, raw: Any, payment_id: str) -> dict[str, Any] | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise invalid("confirmation must be an object", "confirmation")
        kind = raw.get("type")
        if kind != "redirect":
            raise invalid(
                f"Confirmation type {kind!r} is not supported by this fake (only redirect)",
                "confirmation.type",
            )
        return_url = raw.get("return_url")
        if not isinstance(return_url, str) or not re.match(r"^https?://\S+$", return_url):
            raise invalid("return_url must be an absolute URL", "confirmation.return_url")
        return {
            "type": "redirect",
            "return_url": return_url,
            "confirmation_url": f"{self.public_url}/checkout/{payment_id}",
        }

    def list_payments(self, query: dict[str, str]) -> dict[str, Any]:
        items = sorted(self.payments.values(), key=lambda p: p.created_at, reverse=True)
        status = query.get("status")
        if status:
            items = [p for p in items if p.status == status]
        for op, keep in (
            ("gte", lambda a, b: a >= b),
            ("gt", lambda a, b: a > b),
            ("lte", lambda a, b: a <= b),
            ("lt", lambda a, b: a < b),
        ):
            raw = query.get(f"created_at.{op}")
            if raw:
                try:
                    bound = datetime.fromisoformat(raw.replace("Z", "+00:00"))
                except ValueError as exc:
                    raise invalid(f"Invalid date {raw!r}", f"created_at.{op}") from exc
                items = [p for p in items if keep(p.created_at, bound)]
        try:
            limit = int(query.get("limit", "10"))
            start = int(query.get("cursor") or "0")
        except ValueError as exc:
            raise invalid("limit and cursor must be integers", "limit") from exc
        if not 1 <= limit <= 100:
            raise invalid("limit must be between 1 and 100", "limit")
        page = items[start : start + limit]
        out: dict[str, Any] = {"type": "list", "items": [p.to_json() for p in page]}
        if start + limit < len(items):
            out["next_cursor"] = str(start + limit)
        return out

    def _pending(self, payment_id: str) -> Payment:
        """The payment, still waiting for the customer (409 otherwise)."""
        payment = self.payment(payment_id)
        if payment.status != "pending":
            raise ApiError(409, "conflict", f"payment is {payment.status}, not pending")
        return payment

    def _authorized(self, payment_id: str, action: str) -> Payment:
        """The payment, authorised and waiting for the shop to `action` it (400 otherwise)."""
        payment = self.payment(payment_id)
        if payment.status != "waiting_for_capture":
            raise invalid(
                f"Payment {payment_id} is in status {payment.status}; only a payment in "
                f"waiting_for_capture can be {action}",
                "payment_id",
            )
        return payment

    def pay(self, payment_id: str) -> Events:
        """The customer pays: pending -> succeeded (capture=true) or waiting_for_capture."""
        payment = self._pending(payment_id)
        payment.payment_method = {
            "type": "bank_card",
            "id": payment.id,
            "saved": False,
            "status": "inactive",
            "title": "Bank card *4444",
            "card": {
                "first6": "555555",
                "last4": "4444",
                "expiry_month": "12",
                "expiry_year": str(now().year + 3),
                "card_type": "MasterCard",
                "issuer_country": "RU",
            },
        }
        payment.authorized = payment.amount
        if payment.capture:
            payment.status = "succeeded"
            payment.captured_at = now()
        else:
            payment.status = "waiting_for_capture"
            payment.expires_at = now() + CAPTURE_WINDOW
        return [(PAYMENT_EVENTS[payment.status], payment.to_json())]

    def customer_cancel(
        self, payment_id: str, reason: str = "expired_on_confirmation", party: str = "yoo_money"
    ) -> Events:
        """The customer gives up or the bank declines: pending -> canceled."""
        payment = self._pending(payment_id)
        payment.status = "canceled"
        payment.cancellation_details = {"party": party, "reason": reason}
        return [("payment.canceled", payment.to_json())]

    def capture(self, payment_id: str, body: Any) -> tuple[Payment, Events]:
        payment = self._authorized(payment_id, "captured")
        if isinstance(body, dict) and body.get("amount") is not None:
            amount, currency = parse_amount(body["amount"])
            if currency != payment.currency:
                raise invalid("Capture currency differs from the payment's", "amount.currency")
            if amount > payment.amount:
                raise invalid("Capture amount exceeds the authorized amount", "amount.value")
            payment.amount = amount
        payment.status = "succeeded"
        payment.captured_at = now()
        return payment, [("payment.succeeded", payment.to_json())]

    def merchant_cancel(self, payment_id: str) -> tuple[Payment, Events]:
        payment = self._authorized(payment_id, "canceled")
        payment.status = "canceled"
        payment.cancellation_details = {"party": "merchant", "reason": "canceled_by_merchant"}
        return payment, [("payment.canceled", payment.to_json())]

    # ------------------------------------------------------------------ refunds

    def refund(self, refund_id: str) -> Refund:
        found = self.refunds.get(refund_id)
        if found is None:
            raise ApiError(404, "not_found", f"Refund {refund_id} doesn't exist or access denied")
        return found

    def create_refund(self, body: Any) -> tuple[Refund, Events]:
        if not isinstance(body, dict):
            raise invalid("Request body must be a JSON object")
        payment_id = body.get("payment_id")
        if not isinstance(payment_id, str) or payment_id not in self.payments:
            raise invalid(f"Payment {payment_id!r} doesn't exist", "payment_id")
        payment = self.payments[payment_id]
        if payment.status != "succeeded":
            raise invalid(
                f"Payment {payment_id} is in status {payment.status}; only a succeeded payment "
                "can be refunded",
                "payment_id",
            )
        amount, currency = parse_amount(body.get("amount"))
        if currency != payment.currency:
            raise invalid("Refund currency differs from the payment's", "amount.currency")
        if amount > payment.remaining:
            raise invalid(
                f"Refund amount {money(amount)} exceeds what is left to refund "
                f"({money(payment.remaining)})",
                "amount.value",
            )
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            raise invalid("description must be a string", "description")
        refund = Refund(
            id=object_id(),
            payment_id=payment_id,
            amount=amount,
            currency=currency,
            created_at=now(),
            description=description,
            metadata=parse_metadata(body.get("metadata")),
        )
        self.refunds[refund.id] = refund
        payment.refunded += amount
        return refund, [("refund.succeeded", refund.to_json())]
