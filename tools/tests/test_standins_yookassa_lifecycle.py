"""The YooKassa fake (scifikpi_tools.standins.yookassa), driven by the real `yookassa` SDK and by
plain HTTP: a payment's life (the customer pays or cancels, the shop captures or cancels a held
payment) and refunds.

One fake process for the module (conftest.py); each test creates its own payments.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from _yookassa_helpers import api, assert_error, create, payment_body
from scifikpi_tools.standins.recorder import WebhookRecorder
from scifikpi_tools.standins.yookassa import YooKassaHandle
from yookassa import Payment, Refund
from yookassa.domain.exceptions import BadRequestError

pytestmark = pytest.mark.timeout(60)


# ----------------------------------------------------------------------------- lifecycle


async def test_pay_action_succeeds_and_notifies(
    fake: YooKassaHandle, hook: WebhookRecorder
) -> None:
    payment = await create(fake)
    answer = await fake.control.pay(payment["id"])
    assert answer["payment"]["status"] == "succeeded" and answer["payment"]["paid"] is True
    [received] = await hook.wait_for(1)
    assert received.peer == "127.0.0.1"
    assert received.headers["Content-Type"].startswith("application/json")
    note = received.json()
    assert note["type"] == "notification" and note["event"] == "payment.succeeded"
    obj = note["object"]
    assert obj["id"] == payment["id"] and obj["status"] == "succeeded" and obj["paid"] is True
    assert obj["amount"] == payment["amount"] and obj["metadata"] == payment["metadata"]
    assert obj["refundable"] is True and "captured_at" in obj and "confirmation" not in obj
    async with api(fake) as client:
        fetched = (await client.get(f"/payments/{payment['id']}")).json()
    assert fetched["status"] == "succeeded" and fetched["income_amount"]["currency"] == "RUB"
    [record] = await fake.control.wait_for_notifications(payment_id=payment["id"])
    assert record["state"] == "delivered" and record["attempts"][0]["status"] == 200
    # paying twice is refused: the customer cannot pay a finished payment
    with pytest.raises(httpx.HTTPStatusError) as again:
        await fake.control.pay(payment["id"])
    assert again.value.response.status_code == 409


async def test_two_stage_payment_capture_and_merchant_cancel(
    fake: YooKassaHandle, hook: WebhookRecorder
) -> None:
    held = await create(fake, capture=False)
    answer = await fake.control.pay(held["id"])
    assert answer["payment"]["status"] == "waiting_for_capture"
    assert answer["payment"]["paid"] is True and "expires_at" in answer["payment"]
    async with api(fake) as client:
        captured = await client.post(
            f"/payments/{held['id']}/capture",
            json={"amount": {"value": "8.00", "currency": "RUB"}},
            headers={"Idempotence-Key": str(uuid.uuid4())},
        )
        assert captured.status_code == 200, captured.text
        assert captured.json()["status"] == "succeeded"
        assert captured.json()["amount"]["value"] == "8.00"
        # capture again: not waiting_for_capture any more
        twice = await client.post(
            f"/payments/{held['id']}/capture", headers={"Idempotence-Key": str(uuid.uuid4())}
        )
        assert_error(twice, 400, "invalid_request")

        other = await create(fake, capture=False)
        pending_cancel = await client.post(
            f"/payments/{other['id']}/cancel", headers={"Idempotence-Key": str(uuid.uuid4())}
        )
        assert_error(pending_cancel, 400, "invalid_request")  # only waiting_for_capture
        await fake.control.pay(other["id"])
        canceled = await client.post(
            f"/payments/{other['id']}/cancel", headers={"Idempotence-Key": str(uuid.uuid4())}
        )
        assert canceled.status_code == 200
        assert canceled.json()["status"] == "canceled" and canceled.json()["paid"] is False
        assert canceled.json()["cancellation_details"] == {
            "party": "merchant",
            "reason": "canceled_by_merchant",
        }
    received = await hook.wait_for(4)
    events = [(r.json()["event"], r.json()["object"]["id"]) for r in received]
    assert events.count(("payment.waiting_for_capture", held["id"])) == 1
    assert ("payment.succeeded", held["id"]) in events
    assert ("payment.canceled", other["id"]) in events


def test_sdk_capture_and_cancel(fake: YooKassaHandle, sdk: None) -> None:
    payment = Payment.create({**payment_body(), "capture": False}, str(uuid.uuid4()))
    httpx.post(f"{fake.url}/_control/payments/{payment.id}/pay").raise_for_status()
    assert Payment.find_one(payment.id).status == "waiting_for_capture"
    assert Payment.capture(payment.id, None, str(uuid.uuid4())).status == "succeeded"
    second = Payment.create({**payment_body(), "capture": False}, str(uuid.uuid4()))
    httpx.post(f"{fake.url}/_control/payments/{second.id}/pay").raise_for_status()
    canceled = Payment.cancel(second.id, str(uuid.uuid4()))
    assert canceled.status == "canceled"
    assert canceled.cancellation_details.party == "merchant"


async def test_customer_cancel_action(fake: YooKassaHandle, hook: WebhookRecorder) -> None:
    payment = await create(fake)
    answer = await fake.control.cancel(payment["id"])
    assert answer["payment"]["status"] == "canceled"
    assert answer["payment"]["cancellation_details"] == {
        "party": "yoo_money",
        "reason": "expired_on_confirmation",
    }
    declined = await create(fake)
    await fake.control.cancel(declined["id"], reason="insufficient_funds", party="payment_network")
    received = await hook.wait_for(2)
    assert {r.json()["event"] for r in received} == {"payment.canceled"}
    reasons = {r.json()["object"]["cancellation_details"]["reason"] for r in received}
    assert reasons == {"expired_on_confirmation", "insufficient_funds"}
    with pytest.raises(httpx.HTTPStatusError):
        await fake.control.pay(payment["id"])  # canceled stays canceled


# ----------------------------------------------------------------------------- refunds


async def test_refunds(fake: YooKassaHandle, hook: WebhookRecorder) -> None:
    payment = await create(fake, value="10.00")
    async with api(fake) as client:

        async def refund(value: str, payment_id: str = payment["id"]) -> httpx.Response:
            return await client.post(
                "/refunds",
                json={"payment_id": payment_id, "amount": {"value": value, "currency": "RUB"}},
                headers={"Idempotence-Key": str(uuid.uuid4())},
            )

        assert_error(await refund("1.00"), 400, "invalid_request")  # still pending
        await fake.control.pay(payment["id"])
        first = await refund("4.00")
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["status"] == "succeeded" and body["payment_id"] == payment["id"]
        assert body["amount"] == {"value": "4.00", "currency": "RUB"}
        assert (await client.get(f"/refunds/{body['id']}")).json() == body
        assert_error(await client.get(f"/refunds/{uuid.uuid4()}"), 404, "not_found")
        over = await refund("6.01")
        assert assert_error(over, 400, "invalid_request")["parameter"] == "amount.value"
        wrong_currency = await client.post(
            "/refunds",
            json={"payment_id": payment["id"], "amount": {"value": "1.00", "currency": "USD"}},
            headers={"Idempotence-Key": str(uuid.uuid4())},
        )
        assert_error(wrong_currency, 400, "invalid_request")
        assert (await refund("6.00")).status_code == 200
        after = (await client.get(f"/payments/{payment['id']}")).json()
        assert after["refunded_amount"] == {"value": "10.00", "currency": "RUB"}
        assert after["refundable"] is False
        assert_error(await refund("0.01"), 400, "invalid_request")
        assert_error(await refund("1.00", str(uuid.uuid4())), 400, "invalid_request")
    received = await hook.wait_for(3)
    refunds = [r.json() for r in received if r.json()["event"] == "refund.succeeded"]
    assert len(refunds) == 2 and {r["object"]["payment_id"] for r in refunds} == {payment["id"]}


def test_sdk_refund(fake: YooKassaHandle, sdk: None) -> None:
    payment = Payment.create(payment_body("25.00"), str(uuid.uuid4()))
    httpx.post(f"{fake.url}/_control/payments/{payment.id}/pay").raise_for_status()
    refund = Refund.create(
        {"payment_id": payment.id, "amount": {"value": "5.00", "currency": "RUB"}},
        str(uuid.uuid4()),
    )
    assert refund.status == "succeeded"
    assert Refund.find_one(refund.id).payment_id == payment.id
    with pytest.raises(BadRequestError):
        Refund.create(
            {"payment_id": payment.id, "amount": {"value": "20.01", "currency": "RUB"}},
            str(uuid.uuid4()),
        )
