"""The YooKassa fake (scifikpi_tools.standins.yookassa), driven by the real `yookassa` SDK and by
plain HTTP: auth, payments, capture/cancel, refunds, Idempotence-Key, the customer actions, the
payment page, and notification delivery (duplicate, delay, drop, hold/reorder, retries, faults).

One fake process for the module; each test creates its own payments (`reset` is tested last).
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psutil
import pytest
from scifikpi_tools.standins.recorder import WebhookRecorder
from scifikpi_tools.standins.yookassa import YooKassaHandle, start_yookassa_fake
from scifikpi_tools.testing import alive
from yookassa import Configuration, Payment, Refund
from yookassa.domain.exceptions import BadRequestError, NotFoundError, UnauthorizedError

pytestmark = pytest.mark.timeout(60)

SHOP_ID = "424242"
SECRET = "test_fake_secret_key"  # noqa: S105 - the fake's test credentials
RETURN_URL = "http://localhost:4200/payments/return"


@pytest.fixture(scope="module")
def fake() -> Iterator[YooKassaHandle]:
    handle = start_yookassa_fake(
        port=0, shop_id=SHOP_ID, secret_key=SECRET, retry_delays_ms=[100, 200]
    )
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
async def hook(fake: YooKassaHandle) -> AsyncIterator[WebhookRecorder]:
    """A webhook receiver the fake notifies (default delivery policy restored afterwards)."""
    async with WebhookRecorder() as recorder:
        await fake.control.configure(
            webhook_url=recorder.url, delivery={"mode": "deliver", "copies": 1, "delay_ms": 0}
        )
        yield recorder
        await fake.control.configure(
            webhook_url=None, delivery={"mode": "deliver", "copies": 1, "delay_ms": 0}
        )


@pytest.fixture
def sdk(fake: YooKassaHandle) -> None:
    """The official SDK pointed at the fake (its configuration is global class state)."""
    Configuration.configure(SHOP_ID, SECRET, api_url=fake.api_url)


def api(fake: YooKassaHandle, *, secret: str = SECRET) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=fake.api_url, auth=(SHOP_ID, secret), timeout=10)


def payment_body(value: str = "10.00", currency: str = "RUB", **extra: Any) -> dict[str, Any]:
    return {
        "amount": {"value": value, "currency": currency},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": RETURN_URL},
        "description": "Registration deposit",
        "metadata": {"payment_id": str(uuid.uuid4()), "purpose": "registration"},
        **extra,
    }


async def create(fake: YooKassaHandle, **extra: Any) -> dict[str, Any]:
    async with api(fake) as client:
        response = await client.post(
            "/payments", json=payment_body(**extra), headers={"Idempotence-Key": str(uuid.uuid4())}
        )
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["code"] == code, body
    uuid.UUID(body["id"])
    assert body["description"]
    return body


# ----------------------------------------------------------------------------- process


def test_listens_on_loopback_only(fake: YooKassaHandle) -> None:
    listening = [
        c.laddr
        for c in psutil.Process(fake.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    with pytest.raises(ValueError, match="loopback"):
        start_yookassa_fake(host="0.0.0.0")  # noqa: S104 - the point: refused


# ----------------------------------------------------------------------------- auth


async def test_wrong_or_missing_credentials_are_401_invalid_credentials(
    fake: YooKassaHandle,
) -> None:
    async with api(fake, secret="test_wrong") as client:
        wrong = await client.get("/payments/whatever")
    assert_error(wrong, 401, "invalid_credentials")
    async with httpx.AsyncClient(base_url=fake.api_url) as client:
        assert_error(await client.get("/payments"), 401, "invalid_credentials")
        bearer = await client.get("/payments", headers={"Authorization": "Bearer x"})
        assert_error(bearer, 401, "invalid_credentials")
        garbage = await client.get("/payments", headers={"Authorization": "Basic %%%"})
        assert_error(garbage, 401, "invalid_credentials")
        other_shop = base64.b64encode(f"1:{SECRET}".encode()).decode()
        shop = await client.get("/payments", headers={"Authorization": f"Basic {other_shop}"})
        assert_error(shop, 401, "invalid_credentials")


def test_the_sdk_with_a_wrong_key_raises_unauthorized(fake: YooKassaHandle) -> None:
    Configuration.configure(SHOP_ID, "test_wrong", api_url=fake.api_url)
    with pytest.raises(UnauthorizedError) as raised:
        Payment.find_one(str(uuid.uuid4()))
    assert raised.value.args[0]["code"] == "invalid_credentials"


# ----------------------------------------------------------------------------- payments


def test_sdk_create_and_get_a_payment(fake: YooKassaHandle, sdk: None) -> None:
    key = str(uuid.uuid4())
    created = Payment.create(payment_body("10.00"), key)
    assert created.status == "pending" and created.paid is False
    assert created.amount.value == 10 and created.amount.currency == "RUB"
    assert created.test is True and created.refundable is False
    assert created.confirmation.type == "redirect"
    assert created.confirmation.confirmation_url == f"{fake.url}/checkout/{created.id}"
    assert created.metadata["purpose"] == "registration"
    assert created.recipient.account_id == SHOP_ID
    found = Payment.find_one(created.id)
    assert found.id == created.id and found.status == "pending"
    assert found.created_at.endswith("Z")
    with pytest.raises(NotFoundError):
        Payment.find_one(str(uuid.uuid4()))


async def test_response_shape_over_http(fake: YooKassaHandle) -> None:
    body = await create(fake, value="1500.5", currency="RUB")
    assert set(body) >= {
        "id",
        "status",
        "paid",
        "amount",
        "confirmation",
        "created_at",
        "description",
        "metadata",
        "recipient",
        "refundable",
        "test",
    }
    assert body["amount"] == {"value": "1500.50", "currency": "RUB"}  # normalised
    assert body["status"] == "pending" and body["test"] is True
    async with api(fake) as client:
        missing = await client.get(f"/payments/{uuid.uuid4()}")
    assert_error(missing, 404, "not_found")


@pytest.mark.parametrize(
    ("amount", "parameter"),
    [
        ({"value": "10.001", "currency": "RUB"}, "amount.value"),
        ({"value": "10,00", "currency": "RUB"}, "amount.value"),
        ({"value": "-5.00", "currency": "RUB"}, "amount.value"),
        ({"value": "0.00", "currency": "RUB"}, "amount.value"),
        ({"value": "abc", "currency": "RUB"}, "amount.value"),
        ({"currency": "RUB"}, "amount.value"),
        ({"value": "10.00", "currency": "XXX"}, "amount.currency"),
        ({"value": "10.00", "currency": "rub"}, "amount.currency"),
        ({"value": "10.00"}, "amount.currency"),
        (None, "amount"),
    ],
)
async def test_bad_amounts_are_400_invalid_request(
    fake: YooKassaHandle, amount: Any, parameter: str
) -> None:
    body = payment_body()
    body["amount"] = amount
    async with api(fake) as client:
        response = await client.post(
            "/payments", json=body, headers={"Idempotence-Key": str(uuid.uuid4())}
        )
    assert assert_error(response, 400, "invalid_request")["parameter"] == parameter


async def test_other_bad_requests(fake: YooKassaHandle) -> None:
    async with api(fake) as client:
        for body, parameter in (
            ({**payment_body(), "confirmation": {"type": "embedded"}}, "confirmation.type"),
            (
                {**payment_body(), "confirmation": {"type": "redirect", "return_url": "nope"}},
                "confirmation.return_url",
            ),
            ({**payment_body(), "capture": "yes"}, "capture"),
            ({**payment_body(), "metadata": {"k" * 40: "v"}}, "metadata"),
            ({**payment_body(), "description": "d" * 129}, "description"),
        ):
            response = await client.post(
                "/payments", json=body, headers={"Idempotence-Key": str(uuid.uuid4())}
            )
            assert assert_error(response, 400, "invalid_request")["parameter"] == parameter
        broken = await client.post(
            "/payments",
            content=b"{not json",
            headers={"Idempotence-Key": str(uuid.uuid4()), "Content-Type": "application/json"},
        )
        assert_error(broken, 400, "invalid_request")


# ----------------------------------------------------------------------------- idempotence


async def test_idempotence_key_is_required_on_posts(fake: YooKassaHandle) -> None:
    async with api(fake) as client:
        missing = await client.post("/payments", json=payment_body())
        assert assert_error(missing, 400, "invalid_request")["parameter"] == "Idempotence-Key"
        too_long = await client.post(
            "/payments", json=payment_body(), headers={"Idempotence-Key": "k" * 65}
        )
        assert_error(too_long, 400, "invalid_request")
        before = len((await client.get("/payments", params={"limit": 100})).json()["items"])
        assert before <= 100


async def test_same_key_same_body_replays_the_same_answer(fake: YooKassaHandle) -> None:
    key, body = str(uuid.uuid4()), payment_body()
    async with api(fake) as client:
        first = await client.post("/payments", json=body, headers={"Idempotence-Key": key})
        again = await client.post("/payments", json=body, headers={"Idempotence-Key": key})
        concurrent = await asyncio.gather(
            *(
                client.post("/payments", json=body, headers={"Idempotence-Key": key})
                for _ in range(10)
            )
        )
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert {r.json()["id"] for r in concurrent} == {first.json()["id"]}
    payments = await fake.control.payments()
    assert sum(p["metadata"]["payment_id"] == body["metadata"]["payment_id"] for p in payments) == 1


async def test_same_key_different_body_is_400_invalid_request(fake: YooKassaHandle) -> None:
    key = str(uuid.uuid4())
    async with api(fake) as client:
        first = await client.post(
            "/payments", json=payment_body("10.00"), headers={"Idempotence-Key": key}
        )
        assert first.status_code == 200
        other = await client.post(
            "/payments", json=payment_body("11.00"), headers={"Idempotence-Key": key}
        )
        body = assert_error(other, 400, "invalid_request")
        assert body["parameter"] == "Idempotence-Key"
        # the same key on another endpoint is another request too
        elsewhere = await client.post(
            f"/payments/{first.json()['id']}/cancel", headers={"Idempotence-Key": key}
        )
        assert_error(elsewhere, 400, "invalid_request")


def test_sdk_replay_and_mismatch(fake: YooKassaHandle, sdk: None) -> None:
    key, body = str(uuid.uuid4()), payment_body()
    first = Payment.create(body, key)
    assert Payment.create(body, key).id == first.id
    with pytest.raises(BadRequestError) as raised:
        Payment.create(payment_body("99.00"), key)
    assert raised.value.args[0]["code"] == "invalid_request"


async def test_a_rejected_request_does_not_consume_its_key(fake: YooKassaHandle) -> None:
    key = str(uuid.uuid4())
    async with api(fake) as client:
        bad = await client.post(
            "/payments", json=payment_body("1.001"), headers={"Idempotence-Key": key}
        )
        assert bad.status_code == 400
        fixed = await client.post(
            "/payments", json=payment_body("1.00"), headers={"Idempotence-Key": key}
        )
        assert fixed.status_code == 200, fixed.text


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


async def test_list_payments(fake: YooKassaHandle) -> None:
    mine = await create(fake)
    async with api(fake) as client:
        page = (await client.get("/payments", params={"limit": 2})).json()
        assert page["type"] == "list" and len(page["items"]) == 2 and "next_cursor" in page
        pending = (await client.get("/payments", params={"status": "pending", "limit": 100})).json()
        assert mine["id"] in {p["id"] for p in pending["items"]}
        assert {p["status"] for p in pending["items"]} == {"pending"}
        since = (
            await client.get("/payments", params={"created_at.gte": mine["created_at"]})
        ).json()
        assert mine["id"] in {p["id"] for p in since["items"]}


# ----------------------------------------------------------------------------- notifications


async def test_duplicate_delivery(fake: YooKassaHandle, hook: WebhookRecorder) -> None:
    payment = await create(fake)
    await fake.control.pay(payment["id"], copies=5)
    received = await hook.wait_for(5)
    await asyncio.sleep(0.3)
    assert len(hook.received) == 5
    assert len({r.body for r in received}) == 1  # byte-identical duplicates
    [record] = await fake.control.wait_for_notifications(payment_id=payment["id"])
    assert record["state"] == "delivered" and len(record["attempts"]) == 5


async def test_delayed_delivery(fake: YooKassaHandle, hook: WebhookRecorder) -> None:
    payment = await create(fake)
    started = time.monotonic()
    await fake.control.pay(payment["id"], delay_ms=700)
    await asyncio.sleep(0.3)
    assert hook.received == []
    [notification] = await fake.control.notifications(payment_id=payment["id"])
    assert notification["state"] == "delayed"
    [received] = await hook.wait_for(1)
    assert received.at - started >= 0.65


async def test_dropped_delivery(fake: YooKassaHandle, hook: WebhookRecorder) -> None:
    payment = await create(fake)
    answer = await fake.control.pay(payment["id"], mode="drop")
    assert answer["payment"]["status"] == "succeeded"  # paid, but nobody is told
    await asyncio.sleep(0.5)
    assert hook.received == []
    [record] = await fake.control.notifications(payment_id=payment["id"])
    assert record["state"] == "dropped" and record["attempts"] == []
    assert record["payload"]["object"]["status"] == "succeeded"
    # the truth is still there for whoever asks the API
    async with api(fake) as client:
        assert (await client.get(f"/payments/{payment['id']}")).json()["status"] == "succeeded"
    # a dropped notification can still be sent later, by hand
    await fake.control.resend(record["id"])
    [late] = await hook.wait_for(1)
    assert late.json()["object"]["id"] == payment["id"]


async def test_hold_and_release_in_reverse_order(
    fake: YooKassaHandle, hook: WebhookRecorder
) -> None:
    held = await create(fake, capture=False)
    await fake.control.pay(held["id"], mode="hold")  # payment.waiting_for_capture
    async with api(fake) as client:
        await fake.control.configure(delivery={"mode": "hold"})
        captured = await client.post(
            f"/payments/{held['id']}/capture", headers={"Idempotence-Key": str(uuid.uuid4())}
        )
        assert captured.status_code == 200
        await fake.control.configure(delivery={"mode": "deliver"})
    notes = await fake.control.notifications(payment_id=held["id"], state="held")
    assert [n["event"] for n in notes] == ["payment.waiting_for_capture", "payment.succeeded"]
    await asyncio.sleep(0.3)
    assert hook.received == []
    released = await fake.control.release([n["id"] for n in notes], order="reverse")
    assert released == [notes[1]["id"], notes[0]["id"]]
    received = await hook.wait_for(2)
    # the later state arrives first, and the stale one after it, with its stale object
    assert [r.json()["event"] for r in received] == [
        "payment.succeeded",
        "payment.waiting_for_capture",
    ]
    assert received[1].json()["object"]["status"] == "waiting_for_capture"


async def test_release_in_a_chosen_order(fake: YooKassaHandle, hook: WebhookRecorder) -> None:
    first, second, third = [await create(fake) for _ in range(3)]
    ids = []
    for payment in (first, second, third):
        answer = await fake.control.pay(payment["id"], mode="hold")
        ids.append(answer["notifications"][0]["id"])
    await fake.control.release([ids[1], ids[2], ids[0]])
    received = await hook.wait_for(3)
    order = [r.json()["object"]["id"] for r in received]
    assert order == [second["id"], third["id"], first["id"]]


async def test_failed_deliveries_are_retried_until_200(fake: YooKassaHandle) -> None:
    async with WebhookRecorder(statuses=[500, 503]) as flaky:
        await fake.control.set_webhook(flaky.url)
        try:
            payment = await create(fake)
            await fake.control.pay(payment["id"])
            received = await flaky.wait_for(3)
            assert [r.answered for r in received] == [500, 503, 200]
            [record] = await fake.control.wait_for_notifications(payment_id=payment["id"])
            assert record["state"] == "delivered"
            assert [a["status"] for a in record["attempts"]] == [500, 503, 200]
        finally:
            await fake.control.set_webhook(None)


async def test_unreachable_webhook_ends_failed_with_attempts(fake: YooKassaHandle) -> None:
    await fake.control.set_webhook("http://127.0.0.1:9/nothing-listens")
    try:
        payment = await create(fake)
        await fake.control.pay(payment["id"])
        [record] = await fake.control.wait_for_notifications(payment_id=payment["id"], timeout_s=15)
        assert record["state"] == "failed"
        assert len(record["attempts"]) == 3  # first try + the 2 retries configured
        assert all("error" in a for a in record["attempts"])
    finally:
        await fake.control.set_webhook(None)


async def test_bad_control_requests(fake: YooKassaHandle) -> None:
    payment = await create(fake)
    with pytest.raises(httpx.HTTPStatusError) as bad_mode:
        await fake.control.pay(payment["id"], mode="lose")
    assert bad_mode.value.response.status_code == 400
    with pytest.raises(httpx.HTTPStatusError) as missing:
        await fake.control.pay(str(uuid.uuid4()))
    assert missing.value.response.status_code == 404
    with pytest.raises(httpx.HTTPStatusError):
        await fake.control.configure(webhook_url="ftp://nope")
    with pytest.raises(httpx.HTTPStatusError):
        await fake.control.release(["ntf_999999"])


# ----------------------------------------------------------------------------- faults


async def test_fault_before_processing_changes_nothing(fake: YooKassaHandle) -> None:
    await fake.control.add_fault(status=500, method="POST", path="/v3/payments", when="before")
    key, body = str(uuid.uuid4()), payment_body()
    async with api(fake) as client:
        failed = await client.post("/payments", json=body, headers={"Idempotence-Key": key})
        assert_error(failed, 500, "internal_server_error")
        retried = await client.post("/payments", json=body, headers={"Idempotence-Key": key})
        assert retried.status_code == 200
    made = [
        p
        for p in await fake.control.payments()
        if p["metadata"]["payment_id"] == body["metadata"]["payment_id"]
    ]
    assert len(made) == 1


async def test_fault_after_processing_then_retry_with_the_same_key(fake: YooKassaHandle) -> None:
    await fake.control.add_fault(status=500, method="POST", path="/v3/payments", when="after")
    key, body = str(uuid.uuid4()), payment_body()
    async with api(fake) as client:
        failed = await client.post("/payments", json=body, headers={"Idempotence-Key": key})
        assert failed.status_code == 500  # the outcome is unknown to the caller...
        retried = await client.post("/payments", json=body, headers={"Idempotence-Key": key})
        assert retried.status_code == 200  # ...and the retry returns the payment it made
    made = [
        p
        for p in await fake.control.payments()
        if p["metadata"]["payment_id"] == body["metadata"]["payment_id"]
    ]
    assert [p["id"] for p in made] == [retried.json()["id"]]


async def test_slow_fault_lets_clients_time_out(fake: YooKassaHandle) -> None:
    await fake.control.add_fault(status=500, path="/v3/payments/", delay_ms=1500, method="GET")
    payment = await create(fake)
    async with httpx.AsyncClient(base_url=fake.api_url, auth=(SHOP_ID, SECRET)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"/payments/{payment['id']}", timeout=0.5)
    await fake.control.clear_faults()


# ----------------------------------------------------------------------------- payment page


async def test_the_payment_page_pays_from_a_browser_form(
    fake: YooKassaHandle, hook: WebhookRecorder
) -> None:
    payment = await create(fake)
    url = payment["confirmation"]["confirmation_url"]
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await browser.get(url)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Pay" in page.text and "Cancel" in page.text and "10.00 RUB" in page.text
        assert f'action="/_control/payments/{payment["id"]}/pay"' in page.text
        clicked = await browser.post(
            f"{fake.url}/_control/payments/{payment['id']}/pay",
            content=b"",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"},
        )
        assert clicked.status_code == 303
        assert clicked.headers["location"] == f"/checkout/{payment['id']}"
        done = await browser.get(url)
        assert "succeeded" in done.text and RETURN_URL in done.text
        assert (await browser.get(f"{fake.url}/checkout/{uuid.uuid4()}")).status_code == 404
    [received] = await hook.wait_for(1)
    assert received.json()["event"] == "payment.succeeded"


async def test_the_payment_page_cancel_button(fake: YooKassaHandle) -> None:
    payment = await create(fake)
    async with httpx.AsyncClient(timeout=10, follow_redirects=True) as browser:
        page = await browser.post(
            f"{fake.url}/_control/payments/{payment['id']}/cancel",
            headers={"Accept": "text/html,application/xhtml+xml"},
        )
        assert page.status_code == 200 and "Canceled" in page.text


# ----------------------------------------------------------------------------- reset (last)


async def test_reset_forgets_everything(fake: YooKassaHandle) -> None:
    payment = await create(fake)
    await fake.control.reset()
    assert await fake.control.payments() == []
    assert await fake.control.notifications() == []
    async with api(fake) as client:
        assert_error(await client.get(f"/payments/{payment['id']}"), 404, "not_found")
    assert alive(fake.pid)


async def test_curl_style_json_bodies_are_json(fake: YooKassaHandle) -> None:
    """`curl -d '{...}'` labels JSON as a form: the control API still reads it as JSON."""
    payment = await create(fake)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{fake.url}/_control/payments/{payment['id']}/pay",
            content=b'{"delivery": {"mode": "drop"}}',
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["notifications"][0]["delivery"]["mode"] == "drop"
