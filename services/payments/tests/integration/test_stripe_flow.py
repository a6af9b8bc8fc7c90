"""Stripe end to end against REAL localstripe: create -> the payer confirms at the stand-in ->
signed webhook -> stored once -> processed -> succeeded -> one PaymentSucceeded in the outbox.
Plus every webhook failure of the issue: forged/tampered/stale, duplicates, failed after
succeeded, a dropped webhook (the provider unreachable on create: test_stripe_create.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from _pay_helpers import (
    OLD_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    payment_body,
    sign,
    signed_request,
    stripe_event,
    wait_until,
)
from payments.flows import PaymentFlows
from payments.processes import run_until_stopped
from scifikpi_common.testing.contracts import assert_problem
from scifikpi_tools.standins.localstripe import register_webhook
from scifikpi_tools.standins.pay import pay_stripe
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

WEBHOOK = "/payments/webhooks/stripe"


async def _create(client: httpx.AsyncClient, user, **overrides: Any) -> dict[str, Any]:
    r = await client.post("/payments", json=payment_body(**overrides), headers=user.headers())
    assert r.status_code == 201, r.text
    return r.json()


async def _get(client: httpx.AsyncClient, user, payment_id: str) -> dict[str, Any]:
    r = await client.get(f"/payments/{payment_id}", headers=user.auth)
    assert r.status_code == 200, r.text
    return r.json()


async def _intent(localstripe: Any, pi_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=localstripe.url, timeout=10) as c:
        r = await c.get(
            f"/v1/payment_intents/{pi_id}", headers={"Authorization": "Bearer sk_test_local"}
        )
    r.raise_for_status()
    return r.json()


async def _confirm(localstripe: Any, pi_id: str, pm: str = "pm_card_visa") -> dict[str, Any]:
    return await asyncio.to_thread(pay_stripe, localstripe.url, pi_id, payment_method=pm)


async def _events(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(
            (await conn.execute(text("SELECT * FROM payments.provider_events ORDER BY id"))).all()
        )


async def _succeeded_intent(client, user, localstripe) -> tuple[dict[str, Any], dict[str, Any]]:
    """A payment whose PaymentIntent really succeeded at localstripe (no webhook registered)."""
    payment = await _create(client, user)
    intent = await _confirm(localstripe, payment["provider_payment_id"])
    assert intent["status"] == "succeeded"
    return payment, await _intent(localstripe, payment["provider_payment_id"])


@pytest.fixture(autouse=True)
def _no_webhook(localstripe: Any) -> None:
    """Tests that want localstripe's own webhook register it; the rest must not get one."""
    register_webhook(localstripe.url, "http://127.0.0.1:9/closed", "whsec_nobody")


async def test_confirmed_at_localstripe_ends_succeeded_once(
    client, live_url, user, localstripe, flows: PaymentFlows, engine, outbox_rows
) -> None:
    await asyncio.to_thread(
        register_webhook,
        localstripe.url,
        live_url + WEBHOOK,
        WEBHOOK_SECRET,
        ["payment_intent.succeeded", "payment_intent.payment_failed"],
    )
    payment = await _create(client, user, amount_minor=2500)
    assert payment["status"] == "pending"
    await _confirm(localstripe, payment["provider_payment_id"])

    # localstripe signs and POSTs payment_intent.succeeded to our webhook (about 1 s later)
    async def mine() -> list[Any]:
        return [e for e in await _events(engine) if e.object_id == payment["provider_payment_id"]]

    [event] = await wait_until(mine, timeout_s=15)
    assert (event.provider, event.event_type) == ("stripe", "payment_intent.succeeded")
    assert event.object_id == payment["provider_payment_id"]
    assert str(event.payment_id) == payment["id"]
    assert event.processed_at is None  # acknowledged, not processed in the request

    await flows.events.process_due()
    after = await _get(client, user, payment["id"])
    assert after["status"] == "succeeded" and after["succeeded_at"]
    [row] = await outbox_rows("PaymentSucceeded")
    assert row.topic == "payments.payment.v1" and row.key == str(user.id)
    envelope = row.payload
    assert envelope["producer"] == "payments"
    assert envelope["payload"] == {
        "user_id": str(user.id),
        "payment_id": payment["id"],
        "purpose": "topup",
        "provider": "stripe",
        "amount_minor": 2500,
        "currency": "USD",
        "quote_id": None,
        "succeeded_at": envelope["payload"]["succeeded_at"],
    }
    [event] = await mine()
    assert event.processed_at is not None and event.outcome == "applied"


async def test_same_webhook_ten_times_is_one_payment_succeeded(
    client, user, localstripe, flows: PaymentFlows, engine, outbox_rows
) -> None:
    payment, intent = await _succeeded_intent(client, user, localstripe)
    body, headers = signed_request(stripe_event(intent))
    responses = await asyncio.gather(
        *(client.post(WEBHOOK, content=body, headers=headers) for _ in range(10))
    )
    assert [r.status_code for r in responses] == [200] * 10
    assert sorted(r.json()["duplicate"] for r in responses) == [False] + [True] * 9
    [event] = await _events(engine)
    assert event.deliveries == 10
    await flows.events.process_due()
    # ... and again later, after processing: still nothing new
    for _ in range(3):
        assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200
    await flows.events.process_due()
    assert len(await outbox_rows("PaymentSucceeded")) == 1
    assert (await _get(client, user, payment["id"]))["status"] == "succeeded"


async def test_failed_after_succeeded_stays_succeeded(
    client, user, localstripe, flows: PaymentFlows, outbox_rows, engine
) -> None:
    payment, intent = await _succeeded_intent(client, user, localstripe)
    body, headers = signed_request(stripe_event(intent))
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200
    await flows.events.process_due()
    late = [
        stripe_event(
            {
                **intent,
                "status": "requires_payment_method",
                "last_payment_error": {"code": "card_declined", "type": "card_error"},
            },
            "payment_intent.payment_failed",
        ),
        stripe_event({**intent, "status": "canceled"}, "payment_intent.canceled"),
    ]
    for event in late:
        b, h = signed_request(event)
        assert (await client.post(WEBHOOK, content=b, headers=h)).status_code == 200
    await flows.events.process_due()
    after = await _get(client, user, payment["id"])
    assert after["status"] == "succeeded" and after["failure_reason"] is None
    assert len(await outbox_rows("PaymentSucceeded")) == 1
    assert await outbox_rows("PaymentFailed") == []
    outcomes = {e.event_type: e.outcome for e in await _events(engine)}
    assert outcomes == {
        "payment_intent.succeeded": "applied",
        "payment_intent.payment_failed": "stale",
        "payment_intent.canceled": "conflict",
    }


class TestRejectedWebhooks:
    """Forged, tampered, stale: 400, nothing stored, nothing changes."""

    async def _assert_nothing_changed(self, client, user, payment, engine, outbox_rows) -> None:
        assert await _events(engine) == []
        assert (await _get(client, user, payment["id"]))["status"] == "pending"
        assert await outbox_rows("PaymentSucceeded") == []

    async def test_forged(self, client, user, localstripe, engine, outbox_rows) -> None:
        payment, intent = await _succeeded_intent(client, user, localstripe)
        body, headers = signed_request(stripe_event(intent), secret="whsec_forger")
        assert_problem(
            await client.post(WEBHOOK, content=body, headers=headers),
            400,
            "invalid-webhook-signature",
        )
        await self._assert_nothing_changed(client, user, payment, engine, outbox_rows)

    async def test_tampered(self, client, user, localstripe, engine, outbox_rows) -> None:
        payment, intent = await _succeeded_intent(client, user, localstripe)
        body, headers = signed_request(stripe_event({**intent, "status": "requires_action"}))
        tampered = body.replace(b'"requires_action"', b'"succeeded"')
        assert tampered != body
        assert_problem(
            await client.post(WEBHOOK, content=tampered, headers=headers),
            400,
            "invalid-webhook-signature",
        )
        await self._assert_nothing_changed(client, user, payment, engine, outbox_rows)

    async def test_stale(self, client, user, localstripe, engine, outbox_rows) -> None:
        payment, intent = await _succeeded_intent(client, user, localstripe)
        body, headers = signed_request(stripe_event(intent), timestamp=int(time.time()) - 301)
        assert_problem(
            await client.post(WEBHOOK, content=body, headers=headers),
            400,
            "invalid-webhook-signature",
        )
        await self._assert_nothing_changed(client, user, payment, engine, outbox_rows)

    async def test_unsigned(self, client, user, localstripe, engine, outbox_rows) -> None:
        payment, intent = await _succeeded_intent(client, user, localstripe)
        body, _ = signed_request(stripe_event(intent))
        assert_problem(await client.post(WEBHOOK, content=body), 400, "invalid-webhook-signature")
        await self._assert_nothing_changed(client, user, payment, engine, outbox_rows)


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "stripe_webhook_secret": "whsec_new_one",
            "stripe_webhook_previous_secrets": OLD_WEBHOOK_SECRET,
        }
    ],
)
async def test_secret_rotation_accepts_current_and_previous(
    client, user, localstripe, engine
) -> None:
    _, intent = await _succeeded_intent(client, user, localstripe)
    for secret in ("whsec_new_one", OLD_WEBHOOK_SECRET):
        body, headers = signed_request(stripe_event(intent), secret=secret)
        assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200
    body, headers = signed_request(stripe_event(intent), secret=WEBHOOK_SECRET)
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 400
    assert len(await _events(engine)) == 2


@pytest.mark.parametrize("settings_overrides", [{"reconcile_min_age_s": 0}])
async def test_dropped_webhook_is_completed_by_reconciliation(
    client, user, localstripe, flows: PaymentFlows, outbox_rows
) -> None:
    payment, _ = await _succeeded_intent(client, user, localstripe)  # its webhook goes nowhere
    assert (await _get(client, user, payment["id"]))["status"] == "pending"
    assert await flows.reconciliation.reconcile_due() == 1
    assert (await _get(client, user, payment["id"]))["status"] == "succeeded"
    assert len(await outbox_rows("PaymentSucceeded")) == 1
    # the late webhook that finally arrives changes nothing
    assert await flows.reconciliation.reconcile_due() == 0  # not due again (finished)


@pytest.mark.parametrize(
    "settings_overrides", [{"reconcile_min_age_s": 0, "payment_max_age_s": 0.5}]
)
async def test_declined_then_abandoned_ends_canceled_at_stripe(
    client, live_url, user, localstripe, flows: PaymentFlows, engine, outbox_rows
) -> None:
    await asyncio.to_thread(register_webhook, localstripe.url, live_url + WEBHOOK, WEBHOOK_SECRET)
    payment = await _create(client, user)
    with pytest.raises(RuntimeError, match="402"):
        await _confirm(localstripe, payment["provider_payment_id"], pm="pm_card_chargeCustomerFail")

    async def declined_event() -> bool:
        return any(
            e.event_type == "payment_intent.payment_failed"
            and e.object_id == payment["provider_payment_id"]
            for e in await _events(engine)
        )

    await wait_until(declined_event)
    await flows.events.process_due()
    declined = await _get(client, user, payment["id"])
    # Stripe has no failed intent: the payer may try another card, so it stays pending
    assert declined["status"] == "pending"
    assert "declined" in (declined["failure_reason"] or "")
    await asyncio.sleep(0.6)  # past payment_max_age_s
    assert await flows.reconciliation.reconcile_due() == 1
    after = await _get(client, user, payment["id"])
    assert after["status"] == "canceled"
    assert (await _intent(localstripe, payment["provider_payment_id"]))["status"] == "canceled"
    [failed] = await outbox_rows("PaymentFailed")
    assert failed.payload["payload"]["reason"].startswith("canceled")


async def test_event_for_an_unknown_payment_is_retried_then_recorded(
    client, flows: PaymentFlows, engine
) -> None:
    intent = {
        "id": "pi_not_ours",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 100,
        "currency": "usd",
        "metadata": {"payment_id": str(uuid.uuid4())},
    }
    body, headers = signed_request(stripe_event(intent))
    assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200
    for _ in range(flows.settings.unknown_payment_attempts):
        async with engine.begin() as conn:  # make it due now, skipping the backoff
            await conn.execute(text("UPDATE payments.provider_events SET next_attempt_at = now()"))
        await flows.events.process_due()
    [event] = await _events(engine)
    assert event.outcome == "unknown_payment" and event.processed_at is not None
    assert event.attempts == flows.settings.unknown_payment_attempts


async def test_the_scheduler_process_wakes_on_the_webhook(
    client, user, localstripe, settings, outbox_rows, monkeypatch
) -> None:
    """The real scheduler loop (LISTEN/NOTIFY), not a test-driven step; still woken after its
    LISTEN connection was pinged (a ping left in an open transaction would mute it)."""
    from payments.repository import WorkListener

    monkeypatch.setattr(WorkListener, "ping_s", 0.2)
    settings = settings.model_copy(update={"event_poll_interval_s": 30.0})
    stop = asyncio.Event()
    task = asyncio.create_task(run_until_stopped(settings, stop))
    try:
        await asyncio.sleep(1.0)  # LISTEN is up, and was pinged a few times
        payment, intent = await _succeeded_intent(client, user, localstripe)
        body, headers = signed_request(stripe_event(intent))
        started = time.monotonic()
        assert (await client.post(WEBHOOK, content=body, headers=headers)).status_code == 200

        async def done() -> bool:
            return (await _get(client, user, payment["id"]))["status"] == "succeeded"

        await wait_until(done, timeout_s=10, step_s=0.02)
        assert time.monotonic() - started < 5  # woken by NOTIFY, not the 30 s poll
        assert len(await outbox_rows("PaymentSucceeded")) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def test_signature_helper_matches_localstripe_format() -> None:
    header = sign(b"{}", WEBHOOK_SECRET, 1700000000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
