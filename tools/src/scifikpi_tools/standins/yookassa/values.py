"""YooKassa's values and rules, as the API v3 reference gives them: amounts and currencies,
metadata limits, idempotence keys, timestamps and ids, and the error answer
(`{"type": "error", "id", "code", "description", "parameter"}`). No I/O, no state."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from datetime import UTC, datetime
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
