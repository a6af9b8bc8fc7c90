"""The YooKassa fake (scifikpi_tools.standins.yookassa), driven by the real `yookassa` SDK and by
plain HTTP: the process, authentication, payments and their validation, Idempotence-Key, listing.

One fake process for the module (conftest.py); each test creates its own payments.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import httpx
import psutil
import pytest
from _yookassa_helpers import SECRET, SHOP_ID, api, assert_error, create, payment_body
from scifikpi_tools.standins.yookassa import YooKassaHandle, start_yookassa_fake
from yookassa import Configuration, Payment
from yookassa.domain.exceptions import BadRequestError, NotFoundError, UnauthorizedError

pytestmark = pytest.mark.timeout(60)


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


# ----------------------------------------------------------------------------- listing


async def test_list_payments(fake: YooKassaHandle) -> None:
    await create(fake)  # a page of two needs two, whichever tests ran before
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
