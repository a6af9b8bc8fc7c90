"""Reconciliation: payments stuck in created/pending are re-checked at the provider; a create that
never got an answer is re-sent with the same key; past the max age a payment is canceled at the
provider (or failed when the provider never had it); webhooks and reconciliation racing still
count a payment once."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import httpx
import pytest
from _pay_helpers import flows_for, payment_body, signed_request, stripe_event
from payments.app import create_app
from payments.flows import PaymentFlows
from payments.settings import PaymentsSettings
from scifikpi_common.testing.contracts import assert_problem
from scifikpi_tools.standins.pay import pay_stripe
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _row(engine: AsyncEngine, payment_id: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT * FROM payments.payments WHERE id = :i"), {"i": payment_id}
            )
        ).one()


async def _create_while_stripe_is_down(settings: PaymentsSettings, keys: Any, user: Any) -> str:
    down = settings.model_copy(update={"stripe_api_base": f"http://127.0.0.1:{_closed_port()}"})
    app = create_app(down, jwks_fetcher=keys.fetch)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.post("/payments", json=payment_body(), headers=user.headers())
    return assert_problem(r, 503, "upstream-unavailable")["payment_id"]


pytestmark = pytest.mark.parametrize("settings_overrides", [{"reconcile_min_age_s": 0}])


async def test_a_create_that_never_got_an_answer_is_resent(
    settings, keys, user, flows: PaymentFlows, engine, localstripe, client
) -> None:
    payment_id = await _create_while_stripe_is_down(settings, keys, user)
    assert (await _row(engine, payment_id)).status == "created"
    assert await flows.reconciliation.reconcile_due() == 1
    row = await _row(engine, payment_id)
    assert row.status == "pending" and row.provider_payment_id.startswith("pi_")
    # the payer pays; the webhook is lost; the next pass finishes it
    await asyncio.to_thread(pay_stripe, localstripe.url, row.provider_payment_id)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE payments.payments SET next_check_at = now()"))
    assert await flows.reconciliation.reconcile_due() == 1
    assert (await _row(engine, payment_id)).status == "succeeded"
    # what the client sees when it retries its key now
    r = await client.post("/payments", json=payment_body(), headers=user.headers())  # other key
    assert r.status_code == 201


async def test_never_reached_the_provider_and_past_max_age_fails(
    settings, keys, user, engine, outbox_rows
) -> None:
    payment_id = await _create_while_stripe_is_down(settings, keys, user)
    down = settings.model_copy(
        update={"stripe_api_base": f"http://127.0.0.1:{_closed_port()}", "payment_max_age_s": 0.1}
    )
    await asyncio.sleep(0.2)
    async with flows_for(down) as flows:
        assert await flows.reconciliation.reconcile_due() == 1
    row = await _row(engine, payment_id)
    assert row.status == "failed"
    assert row.failure_reason == "expired: the provider could not be reached to create it"
    [failed] = await outbox_rows("PaymentFailed")
    assert failed.payload["payload"]["payment_id"] == payment_id


async def test_a_pending_payment_with_the_provider_down_is_never_failed_blindly(
    settings, client, user, engine
) -> None:
    payment = (await client.post("/payments", json=payment_body(), headers=user.headers())).json()
    down = settings.model_copy(
        update={"stripe_api_base": f"http://127.0.0.1:{_closed_port()}", "payment_max_age_s": 0.01}
    )
    await asyncio.sleep(0.05)
    async with flows_for(down) as flows:
        assert await flows.reconciliation.reconcile_due() == 1
    row = await _row(engine, payment["id"])
    assert row.status == "pending"  # the provider has it: only the provider can say how it ended
    assert row.check_count == 1


async def test_yoomoney_pending_past_max_age_then_abandoned(
    settings, client, user, yookassa, engine, outbox_rows
) -> None:
    body = payment_body(provider="yoomoney", currency="RUB", amount_minor=100_000)
    payment = (await client.post("/payments", json=body, headers=user.headers())).json()
    old = settings.model_copy(update={"payment_max_age_s": 0.01})
    await asyncio.sleep(0.05)
    async with flows_for(old) as flows:
        # YooKassa cannot cancel a pending payment (only waiting_for_capture): it stays pending
        assert await flows.reconciliation.reconcile_due() == 1
    assert (await _row(engine, payment["id"])).status == "pending"
    abandoned = old.model_copy(update={"payment_abandon_after_s": 0.01})
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE payments.payments SET next_check_at = now()"))
    async with flows_for(abandoned) as flows:
        assert await flows.reconciliation.reconcile_due() == 1
    row = await _row(engine, payment["id"])
    assert row.status == "failed" and row.failure_reason.startswith("abandoned: still pending")
    assert len(await outbox_rows("PaymentFailed")) == 1


async def test_checks_back_off_per_payment(client, user, flows: PaymentFlows, engine) -> None:
    payment = (await client.post("/payments", json=payment_body(), headers=user.headers())).json()
    assert await flows.reconciliation.reconcile_due() == 1
    assert await flows.reconciliation.reconcile_due() == 0  # not due again yet
    first = await _row(engine, payment["id"])
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE payments.payments SET next_check_at = now()"))
    assert await flows.reconciliation.reconcile_due() == 1
    second = await _row(engine, payment["id"])
    assert (first.check_count, second.check_count) == (1, 2)
    assert (second.next_check_at - second.updated_at) > (first.next_check_at - first.updated_at)


async def test_concurrent_passes_check_each_payment_once(
    client, user, flows: PaymentFlows, settings
) -> None:
    for _ in range(6):
        r = await client.post("/payments", json=payment_body(), headers=user.headers())
        assert r.status_code == 201
    async with flows_for(settings) as other:
        counts = await asyncio.gather(
            flows.reconciliation.reconcile_due(), other.reconciliation.reconcile_due()
        )
    assert sum(counts) == 6


async def test_webhooks_and_reconciliation_racing_count_once(
    client, user, localstripe, flows: PaymentFlows, settings, outbox_rows
) -> None:
    payments_list = []
    for _ in range(5):
        payment = (
            await client.post("/payments", json=payment_body(), headers=user.headers())
        ).json()
        intent = await asyncio.to_thread(
            pay_stripe, localstripe.url, payment["provider_payment_id"]
        )
        async with httpx.AsyncClient(base_url=localstripe.url) as ls:
            intent = (
                await ls.get(
                    f"/v1/payment_intents/{intent['id']}",
                    headers={"Authorization": "Bearer sk_test_local"},
                )
            ).json()
        body, headers = signed_request(stripe_event(intent))
        for _ in range(3):
            await client.post("/payments/webhooks/stripe", content=body, headers=headers)
        payments_list.append(payment)
    async with flows_for(settings) as other:
        await asyncio.gather(
            flows.events.process_due(),
            other.reconciliation.reconcile_due(),
            flows.reconciliation.reconcile_due(),
            other.events.process_due(),
        )
    succeeded = await outbox_rows("PaymentSucceeded")
    assert sorted(r.payload["payload"]["payment_id"] for r in succeeded) == sorted(
        p["id"] for p in payments_list
    )


async def test_reconcile_one_payment_by_id(client, user, flows: PaymentFlows) -> None:
    payment = (await client.post("/payments", json=payment_body(), headers=user.headers())).json()
    assert await flows.reconciliation.reconcile_payment(uuid.UUID(payment["id"])) == "unchanged"
    assert await flows.reconciliation.reconcile_payment(uuid.uuid4()) == "unchanged"
