"""Provider objects mapped onto our terms, without a network: statuses, amounts, metadata."""

from __future__ import annotations

import uuid

import pytest
from payments.domain import PaymentStatus
from payments.providers import ProviderUnavailable
from payments.providers.base import CreatePayment
from payments.providers.stripe import payment_from_intent
from payments.providers.yookassa import payment_from_object


@pytest.mark.parametrize(
    ("raw", "ours"),
    [
        ("requires_payment_method", PaymentStatus.pending),
        ("requires_confirmation", PaymentStatus.pending),
        ("requires_action", PaymentStatus.pending),
        ("processing", PaymentStatus.pending),
        ("requires_capture", PaymentStatus.pending),
        ("succeeded", PaymentStatus.succeeded),
        ("canceled", PaymentStatus.canceled),
    ],
)
def test_stripe_statuses(raw: str, ours: PaymentStatus) -> None:
    pid = uuid.uuid4()
    p = payment_from_intent(
        {
            "id": "pi_1",
            "status": raw,
            "amount": 1000,
            "currency": "usd",
            "metadata": {"payment_id": str(pid)},
            "client_secret": "pi_1_secret_x",
        }
    )
    assert (p.status, p.amount_minor, p.currency, p.payment_id) == (ours, 1000, "USD", pid)


def test_a_declined_stripe_attempt_stays_pending() -> None:
    p = payment_from_intent(
        {
            "id": "pi_1",
            "status": "requires_payment_method",
            "amount": 1000,
            "currency": "usd",
            "metadata": {},
            "last_payment_error": {"code": "card_declined"},
        }
    )
    assert p.status is PaymentStatus.pending
    assert p.failure_reason == "last attempt declined: card_declined"
    assert p.payment_id is None


def test_unknown_stripe_status_is_not_guessed() -> None:
    with pytest.raises(ProviderUnavailable):
        payment_from_intent({"id": "pi_1", "status": "weird", "amount": 1, "currency": "usd"})


@pytest.mark.parametrize(
    ("raw", "ours"),
    [
        ("pending", PaymentStatus.pending),
        ("waiting_for_capture", PaymentStatus.pending),
        ("succeeded", PaymentStatus.succeeded),
        ("canceled", PaymentStatus.canceled),
    ],
)
def test_yookassa_statuses(raw: str, ours: PaymentStatus) -> None:
    p = payment_from_object(
        {
            "id": "yk-1",
            "status": raw,
            "amount": {"value": "800.00", "currency": "RUB"},
            "metadata": {"payment_id": "not-a-uuid"},
            "confirmation": {"type": "redirect", "confirmation_url": "http://x/checkout/yk-1"},
            "cancellation_details": {"party": "yoo_money", "reason": "expired_on_confirmation"},
        }
    )
    assert (p.status, p.amount_minor, p.currency) == (ours, 80000, "RUB")
    assert p.payment_id is None
    assert p.confirmation_url == "http://x/checkout/yk-1"
    if ours is PaymentStatus.canceled:
        assert p.failure_reason == "canceled: expired_on_confirmation (by yoo_money)"


def test_yookassa_inexact_amount_is_refused() -> None:
    with pytest.raises(ProviderUnavailable):
        payment_from_object(
            {"id": "yk", "status": "pending", "amount": {"value": "1.001", "currency": "RUB"}}
        )


def test_provider_idempotency_key_is_our_payment_id() -> None:
    pid, uid, quote = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    req = CreatePayment(pid, uid, "acceleration", 500, "USD", quote)
    assert req.idempotency_key == str(pid)
    assert req.metadata == {
        "payment_id": str(pid),
        "user_id": str(uid),
        "purpose": "acceleration",
        "quote_id": str(quote),
    }
