"""Forged and replayed payment webhooks through the gateway move no money.

What payments verifies (payments.webhooks): a Stripe event only with a `Stripe-Signature` that
matches the raw body under the endpoint secret and is at most 300 s old, stored once per event
id; a YooKassa notification (unsigned) only from YooKassa's addresses (loopback on a local
stack), stored once per `<object id>:<event>`, and never believed: the payment is re-fetched from
the API and only the API's answer applies. So: a forged Stripe event is refused with 400
`invalid-webhook-signature`; a replayed genuine one is acknowledged as a duplicate; a forged
YooKassa notification is acknowledged and changes nothing. Each test then checks the payment,
the account and the money in /balance.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from e2e_support import (
    bearer,
    create_payment,
    eventually,
    register,
    wait_active,
    wait_payment,
)
from scifikpi_common.testing.contracts import assert_problem
from scifikpi_tools.standins import DEV_STRIPE_SECRET_KEY, DEV_STRIPE_WEBHOOK_SECRET
from scifikpi_tools.standins.pay import pay_stripe
from scifikpi_tools.standins.yookassa import ControlClient
from security_support import SECRETS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

STRIPE = "/payments/webhooks/stripe"
YOOMONEY = "/payments/webhooks/yoomoney"
RUB_DEPOSIT_MINOR = 100_000
SECRETS.add("Stripe secret key", DEV_STRIPE_SECRET_KEY)
SECRETS.add("Stripe webhook secret", DEV_STRIPE_WEBHOOK_SECRET)


def stripe_header(body: bytes, *, secret: str = DEV_STRIPE_WEBHOOK_SECRET, at: int | None = None,
                  scheme: str = "v1") -> str:  # fmt: skip
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},{scheme}={mac}"


def succeeded_event(payment: dict[str, Any], *, amount: int) -> bytes:
    """What Stripe would send if the PaymentIntent had succeeded."""
    intent = {
        "id": payment["provider_payment_id"], "object": "payment_intent", "amount": amount,
        "amount_received": amount, "currency": "usd", "status": "succeeded",
        "metadata": {"payment_id": payment["id"]},
    }  # fmt: skip
    event = {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "created": int(time.time()),
             "type": "payment_intent.succeeded", "data": {"object": intent}}  # fmt: skip
    return json.dumps(event).encode()


async def post_stripe(api: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return await api.post(STRIPE, content=body, headers=headers)


async def money(api: httpx.AsyncClient, token: str) -> int:
    r = await api.get("/balance", headers=bearer(token))
    assert r.status_code == 200, r.text
    amount: int = r.json()["money"]["amount_minor"]
    return amount


async def untouched(api: httpx.AsyncClient, token: str, payment_id: str) -> None:
    """The payment is still open, the account still unpaid, and no money arrived."""
    p = await api.get(f"/payments/{payment_id}", headers=bearer(token))
    assert p.status_code == 200 and p.json()["status"] in {"created", "pending"}, p.text
    me = await api.get("/auth/me", headers=bearer(token))
    assert me.json()["status"] == "pending_payment", me.text
    assert await money(api, token) == 0


async def test_forged_stripe_webhooks_are_refused_and_move_no_money(
    api: httpx.AsyncClient,
) -> None:
    session = SECRETS.session(await register(api))
    token = session["access_token"]
    payment = await create_payment(api, token, provider="stripe", amount_minor=1000,
                                   currency="USD")  # fmt: skip
    body = succeeded_event(payment, amount=1000)
    tampered = body.replace(b'"amount": 1000', b'"amount": 100000')
    attempts = {
        "no signature": (body, None),
        "empty signature": (body, ""),
        "garbage": (body, "t=abc,v1=zz"),
        "another secret": (body, stripe_header(body, secret="whsec_attacker_guess")),
        "no secret": (body, stripe_header(body, secret="")),
        "another body": (tampered, stripe_header(body)),
        "an hour old": (body, stripe_header(body, at=int(time.time()) - 3600)),
        "an hour ahead": (body, stripe_header(body, at=int(time.time()) + 3600)),
        "v0 scheme": (body, stripe_header(body, scheme="v0")),
    }
    for what, (raw, signature) in attempts.items():
        r = await post_stripe(api, raw, signature)
        assert r.status_code == 400, (what, r.text)
        assert_problem(r, 400, "invalid-webhook-signature")
    await asyncio.sleep(1.5)  # a pass of the payments scheduler (1 s), had anything been stored
    await untouched(api, token, payment["id"])


async def test_a_replayed_stripe_event_is_a_duplicate_and_credits_once(
    api: httpx.AsyncClient, localstripe_url: str
) -> None:
    session = SECRETS.session(await register(api))
    token = session["access_token"]
    payment = await create_payment(api, token, provider="stripe", amount_minor=1000,
                                   currency="USD")  # fmt: skip
    intent = payment["provider_payment_id"]
    assert pay_stripe(localstripe_url, intent)["status"] == "succeeded"
    assert (await wait_payment(api, token, payment["id"]))["status"] == "succeeded"
    await eventually(lambda: _money_is(api, token, 1000), what="deposit credited")

    # the delivery localstripe made, as an eavesdropper would have captured it (same bytes,
    # same timestamp, same signature), sent again and again
    event = await _delivered_event(localstripe_url, intent)
    raw = json.dumps(event, indent=2, sort_keys=True).encode()
    captured = stripe_header(raw, at=event["created"])
    answers = await asyncio.gather(*(post_stripe(api, raw, captured) for _ in range(5)))
    for r in answers:
        assert r.status_code == 200, r.text
        assert r.json() == {"received": True, "duplicate": True}
    # a new event about the same PaymentIntent (Stripe may send one) is new, and changes nothing
    fresh = succeeded_event(payment, amount=1000)
    r = await post_stripe(api, fresh, stripe_header(fresh))
    assert r.status_code == 200 and r.json()["duplicate"] is False, r.text
    await asyncio.sleep(1.5)
    assert await money(api, token) == 1000
    history = (await api.get("/history", headers=bearer(token))).json()["items"]
    assert len([i for i in history if i.get("money")]) == 1, history


async def _money_is(api: httpx.AsyncClient, token: str, amount: int) -> bool:
    return await money(api, token) == amount


async def _delivered_event(localstripe_url: str, intent: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {DEV_STRIPE_SECRET_KEY}"}
    params: dict[str, Any] = {"type": "payment_intent.succeeded", "limit": 100}
    async with httpx.AsyncClient(base_url=localstripe_url, headers=headers, timeout=10) as c:
        while True:  # localstripe lists oldest first; the shared stand-in holds many runs' events
            r = await c.get("/v1/events", params=params)
            r.raise_for_status()
            page = r.json()
            for event in page["data"]:
                if event["data"]["object"]["id"] == intent:
                    return event
            assert page["has_more"], f"no payment_intent.succeeded event for {intent}"
            params["starting_after"] = page["data"][-1]["id"]


def notification(payment: dict[str, Any], event: str = "payment.succeeded") -> dict[str, Any]:
    """A YooKassa notification claiming the payment is paid (unsigned, as YooKassa's are)."""
    amount = {"value": f"{RUB_DEPOSIT_MINOR / 100:.2f}", "currency": "RUB"}
    obj = {"id": payment["provider_payment_id"], "status": "succeeded", "paid": True,
           "amount": amount, "metadata": {"payment_id": payment["id"]}}  # fmt: skip
    return {"type": "notification", "event": event, "object": obj}


async def test_a_forged_yookassa_notification_is_acknowledged_and_changes_nothing(
    api: httpx.AsyncClient, e2e: Any
) -> None:
    assert e2e.yookassa_url, "this stack has no YooKassa fake"
    session = SECRETS.session(await register(api, amount_minor=RUB_DEPOSIT_MINOR, currency="RUB"))
    token = session["access_token"]
    payment = await create_payment(api, token, provider="yoomoney",
                                   amount_minor=RUB_DEPOSIT_MINOR, currency="RUB")  # fmt: skip
    forged = await api.post(YOOMONEY, json=notification(payment))
    assert forged.status_code == 200 and forged.json() == {"received": True, "duplicate": False}
    unknown = {
        **notification(payment),
        "object": {"id": f"yk-{uuid.uuid4()}", "status": "succeeded"},
    }
    assert (await api.post(YOOMONEY, json=unknown)).status_code == 200
    for bad in (b"{}", b"not json", b'{"type": "notification", "event": "payment.succeeded"}'):
        r = await api.post(YOOMONEY, content=bad, headers={"Content-Type": "application/json"})
        assert_problem(r, 400, "malformed-webhook")
    await asyncio.sleep(2.5)  # the scheduler re-fetched the payment: the API says pending
    await untouched(api, token, payment["id"])

    # the customer really pays: the genuine notification (the same event id as the forged one)
    # is looked at again and the deposit arrives, once, however often it is replayed
    await ControlClient(e2e.yookassa_url).pay(payment["provider_payment_id"])
    await wait_active(api, token)
    assert (await wait_payment(api, token, payment["id"]))["status"] == "succeeded"
    await eventually(lambda: _money_positive(api, token), what="deposit credited")
    credited = await money(api, token)
    for _ in range(3):
        again = await api.post(YOOMONEY, json=notification(payment))
        assert again.status_code == 200 and again.json()["duplicate"] is True, again.text
    await asyncio.sleep(2.5)
    assert await money(api, token) == credited


async def _money_positive(api: httpx.AsyncClient, token: str) -> bool:
    return await money(api, token) > 0
