"""The YooKassa fake (scifikpi_tools.standins.yookassa): injected faults, the payment page a
browser sees, reset (tested last), and JSON bodies sent as forms.

One fake process for the module (conftest.py); each test creates its own payments.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from _yookassa_helpers import RETURN_URL, SECRET, SHOP_ID, api, assert_error, create, payment_body
from scifikpi_tools.standins.recorder import WebhookRecorder
from scifikpi_tools.standins.yookassa import YooKassaHandle
from scifikpi_tools.testing import alive

pytestmark = pytest.mark.timeout(60)


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
