"""What the payments service stores, as frozen dataclasses: the repositories read rows into these,
handlers derive the next value (`dataclasses.replace`, `Payment.moved`) under the row lock the
repository took, and the repository writes it back."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from payments.domain.rules import (
    FINAL_FAILURES,
    PaymentStatus,
    Provider,
    Purpose,
    RefundStatus,
    Transition,
)

#: What applying a provider's answer did (`Transition.kind`, or `mismatch`: not this payment's).
ApplyOutcome = Literal["applied", "unchanged", "stale", "conflict", "mismatch"]

#: How a stored provider event ended (`provider_events.outcome`).
EventOutcome = Literal[
    "applied",
    "unchanged",
    "stale",
    "conflict",
    "mismatch",
    "disagreed",
    "ignored",
    "unknown_payment",
]


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment. Created here first; its id is the provider idempotency key."""

    id: UUID
    user_id: UUID
    idempotency_key: str
    request_fingerprint: str  #: SHA-256 of the canonical request body
    purpose: Purpose
    provider: Provider
    amount_minor: int
    currency: str
    quote_id: UUID | None
    status: PaymentStatus
    provider_payment_id: str | None
    provider_status: str | None  #: the last status the provider said
    client_secret: str | None = field(repr=False)  #: Stripe PaymentIntent secret
    confirmation_url: str | None  #: YooKassa redirect URL
    failure_reason: str | None
    #: the provider create call: one request at a time owns it (lease), the rest wait or retry
    submit_attempts: int
    submit_lease_until: datetime | None
    submit_lease_token: UUID | None
    last_error: str | None  #: the last provider call failure
    #: reconciliation
    next_check_at: datetime
    check_count: int
    created_at: datetime
    updated_at: datetime
    succeeded_at: datetime | None
    finished_at: datetime | None  #: when it reached succeeded, failed or canceled
    refunded_at: datetime | None

    @property
    def awaits_provider(self) -> bool:
        """Still `created` with no provider object: the create call has not been answered."""
        return self.status is PaymentStatus.created and self.provider_payment_id is None

    def moved(self, t: Transition, *, at: datetime, reason: str | None = None) -> Payment:
        """The payment after an applied transition: the new status and what goes with it (when
        it ended, why it failed)."""
        if not t.changed:
            return self
        moved = replace(self, status=t.after, updated_at=at)
        if t.after is PaymentStatus.succeeded:
            return replace(moved, succeeded_at=at, finished_at=at, failure_reason=None)
        if t.after in FINAL_FAILURES:
            return replace(moved, finished_at=at, failure_reason=reason or t.after.value)
        if t.after is PaymentStatus.refunded:
            return replace(moved, refunded_at=at)
        return moved


@dataclass(frozen=True, slots=True)
class Refund:
    """The full refund of one payment: requested once, executed (and retried) by the scheduler."""

    id: UUID
    payment_id: UUID
    reason: str
    requested_by: str
    status: RefundStatus
    provider_refund_id: str | None
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A webhook as received and verified: stored once, acknowledged, processed from here."""

    id: int
    provider: Provider
    event_id: str  #: Stripe evt_ id; YooKassa `<object.id>:<event>`
    event_type: str
    object_id: str | None  #: the provider payment (or refund) id
    payment_id: UUID | None  #: our payment, once known
    payload: dict[str, Any] = field(repr=False)
    received_at: datetime
    deliveries: int  #: times the provider delivered it
    next_attempt_at: datetime
    attempts: int
    last_error: str | None
    processed_at: datetime | None
    outcome: str | None


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """A webhook verified (Stripe) or shape-checked (YooKassa), before it is stored."""

    provider: Provider
    event_id: str
    event_type: str
    object_id: str | None
    payment_id: UUID | None
    payload: dict[str, Any] = field(repr=False)
    #: the body exactly as received (what the signature covered), stored as is
    raw: str = field(repr=False, default="")
