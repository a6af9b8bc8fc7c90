"""The YooKassa fake's notification delivery control (scifikpi_tools.standins.yookassa):
duplicates, delays, drops, hold and release in any order, retries, refused control requests.

One fake process for the module (conftest.py); each test creates its own payments.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from _yookassa_helpers import api, create
from scifikpi_tools.standins.recorder import WebhookRecorder
from scifikpi_tools.standins.yookassa import YooKassaHandle

pytestmark = pytest.mark.timeout(60)


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
