"""Payments domain rules: statuses and their one-way state machine, request checks, amounts.

Pure functions; no database, no web framework, no provider SDK.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Literal
from uuid import UUID

from scifikpi_common.events.auth import REGISTRATION_MINIMUM_USD_MINOR
from scifikpi_common.money import (
    CURRENCY_EXPONENTS,
    UnknownCurrency,
    smallest_amount_worth,
    to_usd_minor,
)

from payments.domain.errors import (
    AccountNotActive,
    AccountNotPendingPayment,
    CurrencyNotSupportedByProvider,
    DepositBelowMinimum,
    InvalidIdempotencyKey,
    QuoteNotAllowed,
    QuoteRequired,
    UnsupportedCurrency,
)


class Purpose(StrEnum):
    registration = "registration"
    topup = "topup"
    acceleration = "acceleration"


class Provider(StrEnum):
    stripe = "stripe"
    yoomoney = "yoomoney"


class PaymentStatus(StrEnum):
    created = "created"  # our row exists; the provider object may not exist yet
    pending = "pending"  # the provider object exists and waits for the payer
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"
    refunded = "refunded"


class RefundStatus(StrEnum):
    requested = "requested"  # recorded; the provider is asked (and asked again) until it answers
    succeeded = "succeeded"
    failed = "failed"


class AccountStatus(StrEnum):
    pending_payment = "pending_payment"
    active = "active"
    blocked = "blocked"


# --------------------------------------------------------------------------- state machine

#: Where each status may go. Nothing ever goes back; `succeeded` may only become `refunded`.
ALLOWED: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.created: frozenset(
        {
            PaymentStatus.pending,
            PaymentStatus.succeeded,
            PaymentStatus.failed,
            PaymentStatus.canceled,
        }
    ),
    PaymentStatus.pending: frozenset(
        {PaymentStatus.succeeded, PaymentStatus.failed, PaymentStatus.canceled}
    ),
    PaymentStatus.succeeded: frozenset({PaymentStatus.refunded}),
    PaymentStatus.failed: frozenset(),
    PaymentStatus.canceled: frozenset(),
    PaymentStatus.refunded: frozenset(),
}

#: Progress order: a status never moves to a lower rank.
RANK: dict[PaymentStatus, int] = {
    PaymentStatus.created: 0,
    PaymentStatus.pending: 1,
    PaymentStatus.succeeded: 2,
    PaymentStatus.failed: 2,
    PaymentStatus.canceled: 2,
    PaymentStatus.refunded: 3,
}

NON_TERMINAL = frozenset({PaymentStatus.created, PaymentStatus.pending})
FINAL_FAILURES = frozenset({PaymentStatus.failed, PaymentStatus.canceled})

EventName = Literal["PaymentSucceeded", "PaymentFailed", "PaymentRefunded"]
TransitionKind = Literal["applied", "unchanged", "stale", "conflict"]


@dataclass(frozen=True, slots=True)
class Transition:
    """What observing `observed` does to a payment that is `before`.

    - `applied`: the status moves forward to `after`; `event` is the event to emit, if any;
    - `unchanged`: the payment already is in that status;
    - `stale`: an older state (e.g. `pending` after `succeeded`), harmless, ignored;
    - `conflict`: contradicts a final state (e.g. `failed` after `succeeded`), ignored and logged.
    """

    before: PaymentStatus
    after: PaymentStatus
    kind: TransitionKind

    @property
    def changed(self) -> bool:
        return self.kind == "applied"

    @property
    def event(self) -> EventName | None:
        if not self.changed:
            return None
        if self.after is PaymentStatus.succeeded:
            return "PaymentSucceeded"
        if self.after in FINAL_FAILURES:
            return "PaymentFailed"
        if self.after is PaymentStatus.refunded:
            return "PaymentRefunded"
        return None


def can_move(current: PaymentStatus, target: PaymentStatus) -> bool:
    return target in ALLOWED[current]


def transition(current: PaymentStatus, observed: PaymentStatus) -> Transition:
    """The one function every status change goes through (API, webhooks, reconciliation, refunds).

    Monotonic: each status is entered at most once, so the event tied to entering it
    (`PaymentSucceeded`, `PaymentFailed`, `PaymentRefunded`) is emitted at most once.
    """
    if observed == current:
        return Transition(current, current, "unchanged")
    if can_move(current, observed):
        return Transition(current, observed, "applied")
    if RANK[observed] < RANK[current]:
        return Transition(current, current, "stale")
    return Transition(current, current, "conflict")


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """A payment as the client asked for it; also what the idempotency fingerprint covers."""

    purpose: Purpose
    amount_minor: int
    currency: str
    provider: Provider
    quote_id: UUID | None = None

    def fingerprint(self) -> str:
        return request_fingerprint(self)


def request_fingerprint(req: PaymentRequest) -> str:
    """SHA-256 of the canonical JSON of the request: equal bodies, equal fingerprints.

    Canonical = fixed keys, sorted, no whitespace, currency upper-cased, ids as strings; so the
    same payment asked for through `POST /payments` or `POST /balance/topup` matches.
    """
    canonical = {
        "amount_minor": int(req.amount_minor),
        "currency": req.currency.upper(),
        "provider": str(req.provider),
        "purpose": str(req.purpose),
        "quote_id": str(req.quote_id) if req.quote_id is not None else None,
    }
    data = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


IDEMPOTENCY_KEY_MAX = 255


def check_idempotency_key(key: str) -> str:
    """Printable ASCII, 1..255 characters (Stripe's limit), surrounding spaces trimmed."""
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isascii() or not key.isprintable():
        raise InvalidIdempotencyKey(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters."
        )
    return key


def check_payment_request(
    req: PaymentRequest,
    *,
    fx_rates: dict[str, Decimal],
    provider_currencies: frozenset[str],
) -> None:
    """Everything about the request itself (not the account): currency, quote, minimum."""
    if req.currency not in CURRENCY_EXPONENTS or req.currency not in fx_rates:
        raise UnsupportedCurrency(
            f"Currency {req.currency} is not supported; use one of "
            f"{', '.join(sorted(set(CURRENCY_EXPONENTS) & set(fx_rates)))}.",
            currency=req.currency,
        )
    if req.currency not in provider_currencies:
        raise CurrencyNotSupportedByProvider(
            f"{req.provider} does not take {req.currency}; it takes "
            f"{', '.join(sorted(provider_currencies))}.",
            currency=req.currency,
            provider=str(req.provider),
        )
    if req.purpose is Purpose.acceleration and req.quote_id is None:
        raise QuoteRequired("An acceleration payment must name the quote it pays (quote_id).")
    if req.purpose is not Purpose.acceleration and req.quote_id is not None:
        raise QuoteNotAllowed("quote_id is only for purpose=acceleration.")
    if req.purpose is Purpose.registration:
        check_registration_minimum(req.amount_minor, req.currency, fx_rates)


def minimum_in(currency: str, fx_rates: dict[str, Decimal]) -> int:
    """The smallest amount of `currency` (minor units) that converts to at least USD 10.00."""
    return smallest_amount_worth(REGISTRATION_MINIMUM_USD_MINOR, currency, fx_rates)


def check_registration_minimum(
    amount_minor: int, currency: str, fx_rates: dict[str, Decimal]
) -> None:
    try:
        ok = to_usd_minor(amount_minor, currency, fx_rates) >= REGISTRATION_MINIMUM_USD_MINOR
    except UnknownCurrency:
        raise UnsupportedCurrency(f"Currency {currency} is not supported.") from None
    if not ok:
        minimum = minimum_in(currency, fx_rates)
        raise DepositBelowMinimum(
            f"A registration deposit must be at least USD 10.00 "
            f"({format_minor(minimum, currency)} {currency}).",
            minimum={"amount_minor": minimum, "currency": currency},
        )


def check_account_allows(
    purpose: Purpose, account_status: str | None, *, registration_already_paid: bool
) -> None:
    """Registration only while the account waits for its deposit; the rest only when active."""
    if purpose is Purpose.registration:
        if registration_already_paid:
            raise AccountNotPendingPayment(
                "A registration payment of this account already succeeded."
            )
        if account_status != AccountStatus.pending_payment:
            raise AccountNotPendingPayment(
                "The registration deposit is only taken while the account is pending_payment "
                f"(it is {account_status or 'unknown'})."
            )
        return
    if account_status != AccountStatus.active:
        raise AccountNotActive(
            f"A {purpose} payment needs an active account (it is {account_status or 'unknown'})."
        )


# --------------------------------------------------------------------------- amounts


def format_minor(amount_minor: int, currency: str) -> str:
    """Minor units as a decimal string in major units, exactly: (1000, "RUB") -> "10.00".

    YooKassa takes amounts this way; built with `Decimal`, never through a float.
    """
    exponent = CURRENCY_EXPONENTS.get(currency)
    if exponent is None:
        raise UnknownCurrency(currency)
    value = Decimal(int(amount_minor)).scaleb(-exponent)
    quantum = Decimal(1).scaleb(-exponent)
    return str(value.quantize(quantum))


def parse_major(value: str, currency: str) -> int:
    """A provider's decimal string back to minor units; refuses anything not exact."""
    exponent = CURRENCY_EXPONENTS.get(currency)
    if exponent is None:
        raise UnknownCurrency(currency)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    minor = number.scaleb(exponent)
    if minor != minor.to_integral_value():
        raise ValueError(f"{value!r} has more than {exponent} decimal places for {currency}")
    return int(minor)
