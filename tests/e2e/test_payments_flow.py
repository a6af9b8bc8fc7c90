"""Payments end to end, through the gateway, with the provider stand-ins of the local stack.

- Stripe: register (pending_payment) -> `POST /payments` (registration, Idempotency-Key) -> the
  customer pays at localstripe (pm_card_visa set on the PaymentIntent, then confirm, as
  docs/payments-local.md shows) -> the signed webhook reaches payments through the gateway ->
  `PaymentSucceeded` -> auth activates the account;
- YooMoney: the same with the YooKassa fake's pay action (its notification answered 200);
- a top-up succeeds (`POST /balance/topup`);
- a payment whose notification the fake drops still ends `succeeded` (reconciliation).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from e2e_support import (
    bearer,
    create_payment,
    eventually,
    idempotency_key,
    register,
    wait_active,
    wait_payment,
)
from scifikpi_tools.standins.pay import pay_stripe
from scifikpi_tools.standins.yookassa import ControlClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

#: RUB 1,000.00: above USD 10.00 at the default FX rate (0.0125 USD per RUB)
RUB_DEPOSIT_MINOR = 100_000


@pytest.fixture
def yookassa(e2e: Any) -> ControlClient:
    if not e2e.yookassa_url:
        pytest.skip("no YooKassa fake in this stack")
    return ControlClient(e2e.yookassa_url)


async def test_stripe_registration_payment_activates_the_account(
    api: httpx.AsyncClient, localstripe_url: str
) -> None:
    session = await register(api)
    token = session["access_token"]
    key = idempotency_key()
    payment = await create_payment(
        api, token, provider="stripe", amount_minor=1000, currency="USD", key=key
    )
    intent_id = payment["provider_payment_id"]
    assert intent_id.startswith("pi_")
    assert payment["client_secret"].startswith(f"{intent_id}_secret_")
    assert payment.get("confirmation_url") is None

    # the same key and body: the same payment, nothing new at the provider
    again = await api.post(
        "/payments",
        json={
            "purpose": "registration",
            "amount_minor": 1000,
            "currency": "USD",
            "provider": "stripe",
        },
        headers={**bearer(token), "Idempotency-Key": key},
    )
    assert again.status_code in (200, 201), again.text
    assert again.json()["id"] == payment["id"]
    assert again.json()["provider_payment_id"] == intent_id

    intent = pay_stripe(localstripe_url, intent_id)  # pm_card_visa, then confirm
    assert intent["status"] == "succeeded"

    me = await wait_active(api, token)
    assert me["id"] == session["user"]["id"]
    done = await wait_payment(api, token, payment["id"])
    assert done["status"] == "succeeded"
    listed = await api.get("/payments", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [p["id"] for p in items] == [payment["id"]]


async def test_yoomoney_registration_payment_via_the_fakes_pay_action(
    api: httpx.AsyncClient, yookassa: ControlClient, e2e: Any
) -> None:
    session = await register(api, amount_minor=RUB_DEPOSIT_MINOR, currency="RUB")
    token = session["access_token"]
    payment = await create_payment(
        api, token, provider="yoomoney", amount_minor=RUB_DEPOSIT_MINOR, currency="RUB"
    )
    yk_id = payment["provider_payment_id"]
    assert payment["confirmation_url"] == f"{e2e.yookassa_url}/checkout/{yk_id}"
    assert payment.get("client_secret") is None
    # what a person would open: the fake's payment page, with the right amount
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await browser.get(payment["confirmation_url"])
    assert page.status_code == 200 and "1000.00 RUB" in page.text

    answer = await yookassa.pay(yk_id)
    assert answer["payment"]["status"] == "succeeded"
    await wait_active(api, token)
    assert (await wait_payment(api, token, payment["id"]))["status"] == "succeeded"
    # the notification went through the gateway and was acknowledged with 200
    [note] = await yookassa.wait_for_notifications(payment_id=yk_id, timeout_s=15)
    assert note["event"] == "payment.succeeded" and note["state"] == "delivered", note
    assert note["attempts"][0]["status"] == 200
    assert note["attempts"][0]["url"].endswith("/api/v1/payments/webhooks/yoomoney")


async def test_duplicated_notifications_change_nothing(
    api: httpx.AsyncClient, yookassa: ControlClient
) -> None:
    session = await register(api, amount_minor=RUB_DEPOSIT_MINOR, currency="RUB")
    token = session["access_token"]
    payment = await create_payment(
        api, token, provider="yoomoney", amount_minor=RUB_DEPOSIT_MINOR, currency="RUB"
    )
    await yookassa.pay(payment["provider_payment_id"], copies=10)
    await wait_active(api, token)
    assert (await wait_payment(api, token, payment["id"]))["status"] == "succeeded"
    [note] = await yookassa.wait_for_notifications(
        payment_id=payment["provider_payment_id"], timeout_s=15
    )
    assert len(note["attempts"]) == 10
    assert {a.get("status") for a in note["attempts"]} == {200}, note["attempts"]


async def test_topup_succeeds(api: httpx.AsyncClient, localstripe_url: str) -> None:
    session = await register(api)
    token = session["access_token"]
    registration = await create_payment(
        api, token, provider="stripe", amount_minor=1000, currency="USD"
    )
    pay_stripe(localstripe_url, registration["provider_payment_id"])
    await wait_active(api, token)

    # payments learns the activation from auth's UserActivated event: until then a top-up is
    # refused as account-not-active (403), which a client retries
    async def accepted() -> dict[str, Any] | None:
        response = await api.post(
            "/balance/topup",
            json={"amount_minor": 2500, "currency": "USD", "provider": "stripe"},
            headers={**bearer(token), "Idempotency-Key": idempotency_key()},
        )
        if response.status_code == 403:
            assert "account-not-active" in response.json()["type"], response.text
            return None
        assert response.status_code == 201, response.text
        return response.json()

    topup = await eventually(accepted, timeout_s=30, what="top-up accepted")
    assert topup["status"] in {"created", "pending"} and topup["provider_payment_id"]
    assert topup["purpose"] == "topup"
    assert pay_stripe(localstripe_url, topup["provider_payment_id"])["status"] == "succeeded"
    done = await wait_payment(api, token, topup["id"])
    assert done["status"] == "succeeded" and done["purpose"] == "topup"
    assert done["amount_minor"] == 2500


async def test_a_dropped_webhook_is_completed_by_reconciliation(
    api: httpx.AsyncClient, yookassa: ControlClient
) -> None:
    session = await register(api, amount_minor=RUB_DEPOSIT_MINOR, currency="RUB")
    token = session["access_token"]
    payment = await create_payment(
        api, token, provider="yoomoney", amount_minor=RUB_DEPOSIT_MINOR, currency="RUB"
    )
    yk_id = payment["provider_payment_id"]
    answer = await yookassa.pay(yk_id, mode="drop")
    assert answer["payment"]["status"] == "succeeded"
    [note] = await yookassa.notifications(payment_id=yk_id)
    assert note["state"] == "dropped" and note["attempts"] == []

    # nobody told payments; its reconciliation asks YooKassa and finishes the payment
    done = await wait_payment(api, token, payment["id"], timeout_s=90)
    assert done["status"] == "succeeded"
    await wait_active(api, token, timeout_s=30)
    [still] = await yookassa.notifications(payment_id=yk_id)
    assert still["attempts"] == []  # it really was never delivered
