"""The fake's state: payments, refunds, idempotence keys; YooKassa's rules and response shapes.

No I/O here: `app.py` turns HTTP into calls, `notifier.py` delivers the notifications that the
state changes return. Shapes follow the YooKassa API v3 reference (payment and refund objects,
`{"type": "error", "id", "code", "description", "parameter"}` errors).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

#: currencies YooKassa accepts in `amount.currency` (ISO 4217, all with two decimals)
CURRENCIES = frozenset(
    {
        "RUB",
        "USD",
        "EUR",
        "BYN",
        "CNY",
        "KZT",
        "UAH",
        "UZS",
        "TRY",
        "INR",
        "MDL",
        "AZN",
        "AMD",
        "GBP",
        "CHF",
        "SEK",
        "PLN",
        "KGS",
        "TJS",
        "GEL",
    }
)
AMOUNT_RE = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
IDEMPOTENCE_KEY_MAX = 64
DESCRIPTION_MAX = 128
METADATA_MAX_KEYS = 16
METADATA_KEY_MAX = 32
METADATA_VALUE_MAX = 512
#: a card payment authorised with capture=false must be captured within 7 days
CAPTURE_WINDOW = timedelta(days=7)
#: what a test shop's income is after the provider fee (shown in `income_amount`)
FEE_RATE = Decimal("0.035")
GATEWAY_ID = "100700"

PAYMENT_EVENTS = {
    "succeeded": "payment.succeeded",
    "waiting_for_capture": "payment.waiting_for_capture",
    "canceled": "payment.canceled",
}


class ApiError(Exception):
    """A YooKassa error answer: HTTP status and `{"type": "error", ...}` body."""

    def __init__(
        self, status: int, code: str, description: str, parameter: str | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.parameter = parameter

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "error",
            "id": str(uuid.uuid4()),
            "code": self.code,
            "description": self.description,
        }
        if self.parameter:
            body["parameter"] = self.parameter
        return body


def invalid(description: str, parameter: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request", description, parameter)


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """YooKassa's timestamps: UTC, milliseconds, `Z` (`2019-01-22T14:30:45.129Z`)."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def object_id() -> str:
    """Ids shaped like YooKassa's (`23d93e97-000f-5000-9000-145f6df21d6f`)."""
    head = secrets.token_hex(4)
    variant = secrets.choice("89ab")
    return f"{head}-000f-5000-{variant}000-{secrets.token_hex(6)}"


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def parse_amount(raw: Any, parameter: str = "amount") -> tuple[Decimal, str]:
    """`{"value": "10.00", "currency": "RUB"}` -> (Decimal("10.00"), "RUB"), or ApiError 400."""
    if not isinstance(raw, dict):
        raise invalid("Amount must be an object with value and currency", parameter)
    value, currency = raw.get("value"), raw.get("currency")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise invalid("Amount value is missing or not a decimal string", f"{parameter}.value")
    text = value if isinstance(value, str) else repr(value)
    if not AMOUNT_RE.match(text):
        raise invalid(
            f"Invalid amount value {text!r}: a decimal with at most 2 fraction digits, "
            "a dot as the separator",
            f"{parameter}.value",
        )
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already excludes it
        raise invalid(f"Invalid amount value {text!r}", f"{parameter}.value") from exc
    if amount <= 0:
        raise invalid("Amount value must be greater than 0", f"{parameter}.value")
    if not isinstance(currency, str) or currency not in CURRENCIES:
        raise invalid(f"Unsupported currency {currency!r}", f"{parameter}.currency")
    return amount.quantize(Decimal("0.01")), currency


def parse_metadata(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid("Metadata must be an object", "metadata")
    if len(raw) > METADATA_MAX_KEYS:
        raise invalid(f"Metadata has more than {METADATA_MAX_KEYS} keys", "metadata")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key or len(key) > METADATA_KEY_MAX:
            raise invalid(f"Metadata key {key!r} is empty or too long", "metadata")
        if value is None:
            continue
        if not isinstance(value, (str, int, float, bool)) or len(str(value)) > METADATA_VALUE_MAX:
            raise invalid(f"Metadata value of {key!r} is not a short string", "metadata")
        out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


@dataclass
class Payment:
    id: str
    amount: Decimal
    currency: str
    capture: bool
    description: str | None
    metadata: dict[str, str]
    confirmation: dict[str, Any] | None
    created_at: datetime
    shop_id: str
    status: str = "pending"
    captured_at: datetime | None = None
    expires_at: datetime | None = None
    cancellation_details: dict[str, str] | None = None
    payment_method: dict[str, Any] | None = None
    refunded: Decimal = Decimal("0.00")
    authorized: Decimal | None = None

    @property
    def paid(self) -> bool:
        return self.status in {"waiting_for_capture", "succeeded"}

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.refunded

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "paid": self.paid,
            "amount": {"value": money(self.amount), "currency": self.currency},
        }
        if self.status == "succeeded":
            income = self.amount - (self.amount * FEE_RATE)
            out["income_amount"] = {"value": money(income), "currency": self.currency}
        if self.description is not None:
            out["description"] = self.description
        out["recipient"] = {"account_id": self.shop_id, "gateway_id": GATEWAY_ID}
        if self.payment_method is not None:
            out["payment_method"] = copy.deepcopy(self.payment_method)
        if self.captured_at is not None:
            out["captured_at"] = iso(self.captured_at)
        out["created_at"] = iso(self.created_at)
        if self.expires_at is not None and self.status == "waiting_for_capture":
            out["expires_at"] = iso(self.expires_at)
        if self.confirmation is not None and self.status == "pending":
            out["confirmation"] = copy.deepcopy(self.confirmation)
        out["test"] = True
        if self.refunded > 0:
            out["refunded_amount"] = {"value": money(self.refunded), "currency": self.currency}
        out["refundable"] = self.status == "succeeded" and self.remaining > 0
        out["metadata"] = dict(self.metadata)
        if self.cancellation_details is not None:
            out["cancellation_details"] = dict(self.cancellation_details)
        if self.paid:
            out["authorization_details"] = {
                "rrn": self.id.replace("-", "")[:12],
                "auth_code": self.id.replace("-", "")[-6:],
                "three_d_secure": {"applied": False},
            }
        return out


@dataclass
class Refund:
    id: str
    payment_id: str
    amount: Decimal
    currency: str
    created_at: datetime
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = "succeeded"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "payment_id": self.payment_id,
            "status": self.status,
            "created_at": iso(self.created_at),
            "amount": {"value": money(self.amount), "currency": self.currency},
        }
        if self.description is not None:
            out["description"] = self.description
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


@dataclass
class Saved:
    """A stored answer to an idempotent POST."""

    fingerprint: str
    status: int
    body: dict[str, Any]
    at: datetime


#: (event name, object snapshot) pairs a state change produces, for the notifier
Events = list[tuple[str, dict[str, Any]]]


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

    def pay(self, payment_id: str) -> Events:
        """The customer pays: pending -> succeeded (capture=true) or waiting_for_capture."""
        payment = self.payment(payment_id)
        if payment.status != "pending":
            raise ApiError(409, "conflict", f"payment is {payment.status}, not pending")
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
        payment = self.payment(payment_id)
        if payment.status != "pending":
            raise ApiError(409, "conflict", f"payment is {payment.status}, not pending")
        payment.status = "canceled"
        payment.cancellation_details = {"party": party, "reason": reason}
        return [("payment.canceled", payment.to_json())]

    def capture(self, payment_id: str, body: Any) -> tuple[Payment, Events]:
        payment = self.payment(payment_id)
        if payment.status != "waiting_for_capture":
            raise invalid(
                f"Payment {payment_id} is in status {payment.status}; only a payment in "
                "waiting_for_capture can be captured",
                "payment_id",
            )
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
        payment = self.payment(payment_id)
        if payment.status != "waiting_for_capture":
            raise invalid(
                f"Payment {payment_id} is in status {payment.status}; only a payment in "
                "waiting_for_capture can be canceled",
                "payment_id",
            )
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
