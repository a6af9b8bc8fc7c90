"""What the API fuzzer (`scifikpi_tools.fuzz`, issue 12) found in payments, kept fixed.

- A NUL character (U+0000), which Postgres refuses in text and jsonb, reached an INSERT: in an
  admin refund's `reason`, and anywhere in a YooKassa notification (stored as the webhook inbox's
  jsonb and raw text). Each was a 500; now 422 for the refund, 400 `malformed-webhook` for a
  notification, nothing stored.
- A notification whose `object.metadata` is not a JSON object (a string, a list) was an
  AttributeError and a 500; it is read as carrying no payment id. The same for a signed Stripe
  event whose `data` or `metadata` has another shape.
- The YooKassa webhook's body is now described in the OpenAPI document, so the fuzzer reaches it.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from _pay_helpers import payment_body, signed_request, stripe_event
from payments.flows import PaymentFlows
from scifikpi_common.testing.contracts import assert_problem
from scifikpi_tools.standins.pay import pay_stripe
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

YOOMONEY = "/payments/webhooks/yoomoney"
NUL = "\u0000"


def _notification(obj: dict[str, Any], event: str = "payment.succeeded") -> bytes:
    return orjson.dumps({"type": "notification", "event": event, "object": obj})


async def _stored(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT provider, event_id, payment_id FROM payments.provider_events")
        )
        return list(rows)


@pytest.mark.parametrize(
    "obj",
    [
        {"id": f"2f1a{NUL}"},
        {"id": "2f1a", "metadata": {"payment_id": f"x{NUL}"}},
        {"id": "2f1a", "status": "succeeded", "metadata": {f"k{NUL}": "v"}},
    ],
)
async def test_a_notification_with_a_nul_is_malformed_and_not_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, obj: dict[str, Any]
) -> None:
    assert_problem(
        await client.post(YOOMONEY, content=_notification(obj)), 400, "malformed-webhook"
    )
    assert await _stored(engine) == []


@pytest.mark.parametrize("metadata", ["text", ["a", "b"], 7])
@pytest.mark.parametrize("event", ["payment.succeeded", "refund.succeeded"])
async def test_metadata_of_another_shape_carries_no_payment_id(
    client: httpx.AsyncClient, engine: AsyncEngine, metadata: Any, event: str
) -> None:
    body = _notification({"id": "2f1a", "payment_id": "2f1a", "metadata": metadata}, event)
    r = await client.post(YOOMONEY, content=body)
    assert r.status_code == 200, r.text
    [row] = await _stored(engine)
    assert row.event_id == f"2f1a:{event}" and row.payment_id is None


@pytest.mark.parametrize(
    "data",
    [
        "not an object",
        {"object": {"object": "payment_intent", "id": "pi_1", "metadata": ["x"]}},
    ],
)
async def test_a_signed_stripe_event_of_another_shape_is_stored_without_a_payment(
    client: httpx.AsyncClient, engine: AsyncEngine, data: Any
) -> None:
    body, headers = signed_request(stripe_event({}, data=data))
    r = await client.post("/payments/webhooks/stripe", content=body, headers=headers)
    assert r.status_code == 200, r.text
    [row] = await _stored(engine)
    assert row.payment_id is None


async def test_a_signed_stripe_event_with_a_nul_is_malformed(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body, headers = signed_request(stripe_event({"object": "payment_intent", "id": f"pi_{NUL}"}))
    r = await client.post("/payments/webhooks/stripe", content=body, headers=headers)
    assert_problem(r, 400, "malformed-webhook")
    assert await _stored(engine) == []


async def test_a_refund_reason_with_a_nul_is_a_422_and_refunds_nothing(
    client: httpx.AsyncClient, user: Any, admin: Any, localstripe: Any, flows: PaymentFlows
) -> None:
    created = await client.post("/payments", json=payment_body(), headers=user.headers())
    assert created.status_code == 201, created.text
    payment = created.json()
    intent = pay_stripe(localstripe.url, payment["provider_payment_id"])
    body, headers = signed_request(stripe_event(intent))
    hook = await client.post("/payments/webhooks/stripe", content=body, headers=headers)
    assert hook.status_code == 200, hook.text
    await flows.events.process_due()
    paid = await client.get(f"/payments/{payment['id']}", headers=user.auth)
    assert paid.json()["status"] == "succeeded", paid.text  # refundable: the INSERT was reached
    r = await client.post(
        f"/admin/payments/{payment['id']}/refund",
        json={"reason": f"customer{NUL}asked"},
        headers=admin.auth,
    )
    body = assert_problem(r, 422, "validation-error")
    assert "NUL" in body["detail"], body
    after = await client.get(f"/payments/{payment['id']}", headers=user.auth)
    assert after.json()["status"] == "succeeded"
    # an unknown payment with the same reason: still 422 (validation first), never a 500
    other = await client.post(
        f"/admin/payments/{uuid.uuid4()}/refund", json={"reason": NUL}, headers=admin.auth
    )
    assert_problem(other, 422, "validation-error")


async def test_the_yoomoney_body_is_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    body = spec["paths"][YOOMONEY]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["required"] == ["type", "event", "object"]
    assert schema["properties"]["object"]["required"] == ["id"]
