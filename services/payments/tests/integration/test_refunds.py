"""Refunds: the admin endpoint and AcceleratedRejected from mining, against localstripe and the
YooKassa fake; idempotent per payment, exactly one PaymentRefunded, nothing lost when the provider
is down (the scheduler retries)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from _pay_helpers import payment_body, signed_request, stripe_event
from payments.consumers import consumers
from payments.flows import PaymentFlows
from payments.models import make_outbox
from payments.providers.stripe import StripeProvider
from scifikpi_common.db import UnitOfWorkFactory, create_sessionmaker
from scifikpi_common.events import AccelerationRejected, Envelope
from scifikpi_common.messaging import Delivery
from scifikpi_common.testing.contracts import assert_problem
from scifikpi_tools.standins.pay import pay_stripe
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def _succeeded_stripe(client, user, localstripe, flows: PaymentFlows, **kw: Any) -> dict:
    r = await client.post("/payments", json=payment_body(**kw), headers=user.headers())
    assert r.status_code == 201, r.text
    payment = r.json()
    pay_stripe(localstripe.url, payment["provider_payment_id"])
    async with httpx.AsyncClient(base_url=localstripe.url) as ls:
        intent = (
            await ls.get(
                f"/v1/payment_intents/{payment['provider_payment_id']}",
                headers={"Authorization": "Bearer sk_test_local"},
            )
        ).json()
    body, headers = signed_request(stripe_event(intent))
    assert (
        await client.post("/payments/webhooks/stripe", content=body, headers=headers)
    ).status_code == 200
    await flows.events.process_due()
    return payment


async def _stripe_refunds(localstripe: Any, pi_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=localstripe.url) as ls:
        intent = (
            await ls.get(
                f"/v1/payment_intents/{pi_id}", headers={"Authorization": "Bearer sk_test_local"}
            )
        ).json()
        charge_id = intent["latest_charge"]
        charge_id = charge_id["id"] if isinstance(charge_id, dict) else charge_id
        charge = (
            await ls.get(
                f"/v1/charges/{charge_id}", headers={"Authorization": "Bearer sk_test_local"}
            )
        ).json()
    return charge["refunds"]["data"]


class TestAdminRefund:
    async def test_refund_a_stripe_payment(
        self, client, user, admin, localstripe, flows, outbox_rows
    ) -> None:
        payment = await _succeeded_stripe(client, user, localstripe, flows, amount_minor=4200)
        r = await client.post(
            f"/admin/payments/{payment['id']}/refund",
            json={"reason": "customer asked"},
            headers=admin.auth,
        )
        assert r.status_code == 200, r.text
        refund = r.json()
        assert refund["status"] == "succeeded" and refund["provider_refund_id"].startswith("re_")
        assert refund["payment"]["status"] == "refunded" and refund["payment"]["refunded_at"]
        [event] = await outbox_rows("PaymentRefunded")
        assert event.payload["payload"]["reason"] == "customer asked"
        assert event.payload["payload"]["amount_minor"] == 4200
        [at_stripe] = await _stripe_refunds(localstripe, payment["provider_payment_id"])
        assert (at_stripe["amount"], at_stripe["status"]) == (4200, "succeeded")

        # asking again: the same refund, no second one at Stripe, no second event
        again = await client.post(f"/admin/payments/{payment['id']}/refund", headers=admin.auth)
        assert again.status_code == 200 and again.json()["id"] == refund["id"]
        assert len(await _stripe_refunds(localstripe, payment["provider_payment_id"])) == 1
        assert len(await outbox_rows("PaymentRefunded")) == 1
        # the owner sees it refunded
        mine = await client.get(f"/payments/{payment['id']}", headers=user.auth)
        assert mine.json()["status"] == "refunded"

    async def test_refund_a_yoomoney_payment(
        self, client, user, admin, yookassa, flows, outbox_rows
    ) -> None:
        body = payment_body(provider="yoomoney", currency="RUB", amount_minor=150_000)
        payment = (await client.post("/payments", json=body, headers=user.headers())).json()
        await yookassa.control.pay(payment["provider_payment_id"], mode="drop")
        await flows.reconciliation.reconcile_payment(uuid.UUID(payment["id"]))
        r = await client.post(f"/admin/payments/{payment['id']}/refund", headers=admin.auth)
        assert r.status_code == 200, r.text
        assert r.json()["payment"]["status"] == "refunded"
        assert len(await outbox_rows("PaymentRefunded")) == 1

    async def test_only_succeeded_payments(self, client, user, admin) -> None:
        payment = (
            await client.post("/payments", json=payment_body(), headers=user.headers())
        ).json()
        r = await client.post(f"/admin/payments/{payment['id']}/refund", headers=admin.auth)
        assert_problem(r, 409, "payment-not-refundable")
        r = await client.post(f"/admin/payments/{uuid.uuid4()}/refund", headers=admin.auth)
        assert_problem(r, 404, "payment-not-found")

    async def test_admins_only(self, client, user) -> None:
        r = await client.post(f"/admin/payments/{uuid.uuid4()}/refund", headers=user.auth)
        assert_problem(r, 403, "forbidden")
        r = await client.post(f"/admin/payments/{uuid.uuid4()}/refund")
        assert_problem(r, 401, "invalid-token")

    async def test_provider_down_keeps_it_requested_and_the_scheduler_retries(
        self, client, user, admin, localstripe, flows: PaymentFlows, engine, outbox_rows, app
    ) -> None:
        payment = await _succeeded_stripe(client, user, localstripe, flows)
        service = app.state.flows
        real = service.providers["stripe"]
        service.providers["stripe"] = StripeProvider(
            api_key="sk_test_local",
            api_base="http://127.0.0.1:9",
            currencies=frozenset({"USD"}),
            max_network_retries=0,
        )
        try:
            r = await client.post(f"/admin/payments/{payment['id']}/refund", headers=admin.auth)
        finally:
            await service.providers["stripe"].aclose()
            service.providers["stripe"] = real
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "requested" and "APIConnectionError" in r.json()["last_error"]
        assert r.json()["payment"]["status"] == "succeeded"
        assert await outbox_rows("PaymentRefunded") == []
        async with engine.begin() as conn:  # skip the backoff
            await conn.execute(text("UPDATE payments.refunds SET next_attempt_at = now()"))
        assert await flows.refunds.process_due() == 1
        mine = await client.get(f"/payments/{payment['id']}", headers=user.auth)
        assert mine.json()["status"] == "refunded"
        assert len(await outbox_rows("PaymentRefunded")) == 1
        assert len(await _stripe_refunds(localstripe, payment["provider_payment_id"])) == 1


async def _deliver(engine: AsyncEngine, event: AccelerationRejected | Envelope) -> list[str]:
    envelope = event if isinstance(event, Envelope) else Envelope.wrap(event, producer="mining")
    factory = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
    delivery = Delivery(
        topic=AccelerationRejected.TOPIC, body=envelope.to_bytes(), key=envelope.key.encode()
    )
    return list(await consumers.process(delivery, factory, broker=None))


def _rejected(user_id: uuid.UUID, payment_id: str, quote_id: str) -> AccelerationRejected:
    return AccelerationRejected(
        user_id=user_id,
        payment_id=uuid.UUID(payment_id),
        quote_id=uuid.UUID(quote_id),
        reason="quote_expired",
        rejected_at=datetime.now(UTC),
    )


class TestAccelerationRejected:
    async def test_refunds_the_acceleration_payment(
        self, client, user, localstripe, flows: PaymentFlows, engine, outbox_rows
    ) -> None:
        quote = str(uuid.uuid4())
        payment = await _succeeded_stripe(
            client,
            user,
            localstripe,
            flows,
            purpose="acceleration",
            quote_id=quote,
            amount_minor=300,
        )
        envelope = Envelope.wrap(_rejected(user.id, payment["id"], quote), producer="mining")
        assert await _deliver(engine, envelope) == ["handled"]
        assert await _deliver(engine, envelope) == ["duplicate"]
        # the consumer only records the request; the scheduler calls Stripe
        mine = (await client.get(f"/payments/{payment['id']}", headers=user.auth)).json()
        assert mine["status"] == "succeeded"
        assert await flows.refunds.process_due() == 1
        mine = (await client.get(f"/payments/{payment['id']}", headers=user.auth)).json()
        assert mine["status"] == "refunded"
        [refunded] = await outbox_rows("PaymentRefunded")
        assert refunded.payload["payload"]["reason"] == "acceleration rejected: quote_expired"
        assert refunded.payload["payload"]["quote_id"] == quote
        # a second rejection (another event id) of the same payment changes nothing
        assert await _deliver(engine, _rejected(user.id, payment["id"], quote)) == ["handled"]
        assert await flows.refunds.process_due() == 0
        assert len(await outbox_rows("PaymentRefunded")) == 1

    async def test_ignores_unknown_or_foreign_payments(
        self, client, user, engine, make_user
    ) -> None:
        quote = str(uuid.uuid4())
        assert await _deliver(engine, _rejected(user.id, str(uuid.uuid4()), quote)) == ["handled"]
        body = payment_body(purpose="acceleration", quote_id=quote)
        payment = (await client.post("/payments", json=body, headers=user.headers())).json()
        stranger = make_user()
        assert await _deliver(engine, _rejected(stranger.id, payment["id"], quote)) == ["handled"]
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM payments.refunds"))).scalar() == 0

    async def test_a_payment_not_yet_succeeded_is_retried_then_dead_lettered(
        self, client, user, engine
    ) -> None:
        from payments import consumers as module

        quote = str(uuid.uuid4())
        body = payment_body(purpose="acceleration", quote_id=quote)
        payment = (await client.post("/payments", json=body, headers=user.headers())).json()
        original = (consumers.max_attempts, consumers.backoff_initial_s)
        consumers.max_attempts, consumers.backoff_initial_s = 2, 0.01
        try:
            from scifikpi_common.messaging import PoisonMessage

            with pytest.raises(PoisonMessage):
                await _deliver(engine, _rejected(user.id, payment["id"], quote))
        finally:
            consumers.max_attempts, consumers.backoff_initial_s = original
        assert module.RefundNotYetPossible
