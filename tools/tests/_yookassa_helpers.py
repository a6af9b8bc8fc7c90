"""What the YooKassa fake's tests share: the fake's credentials, an API client, a payment body,
and the check of a YooKassa error answer (importable because conftest puts this folder on
sys.path)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from scifikpi_tools.standins.yookassa import YooKassaHandle

SHOP_ID = "424242"
SECRET = "test_fake_secret_key"  # noqa: S105 - the fake's test credentials
RETURN_URL = "http://localhost:4200/payments/return"


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
