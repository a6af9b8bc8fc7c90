"""YooMoney end to end against the YooKassa fake (tools/): create -> the customer pays at the
fake -> its (unsigned) notification reaches our webhook -> stored once -> processed by
RE-FETCHING the payment from the API -> succeeded. Plus the source allowlist, notifications the
API contradicts, duplicates, reordering, a dropped notification, a refund."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import payments.flows.events
import pytest
from _pay_helpers import payment_body, wait_until
from payments.flows import PaymentFlows
from scifikpi_common.testing.contracts import assert_problem
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

WEBHOOK = "/payments/webhooks/yoomoney"


class LogSpy:
    """Records what one module's logger says (and still logs it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, logger: Any, *levels: str) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []
        for level in levels:
            original = getattr(logger, level)

            def spy(event: str, _original: Any = original, **kw: Any) -> Any:
                self.records.append((event, kw))
                return _original(event, **kw)

            monkeypatch.setattr(logger, level, spy)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [kw for event, kw in self.records if event == name]


async def _create(client, user, amount_minor: int = 100_000, **kw: Any) -> dict[str, Any]:
    body = payment_body(provider="yoomoney", currency="RUB", amount_minor=amount_minor, **kw)
    r = await client.post("/payments", json=body, headers=user.headers())
    assert r.status_code == 201, r.text
    return r.json()


async def _get(client, user, payment_id: str) -> dict[str, Any]:
    r = await client.get(f"/payments/{payment_id}", headers=user.auth)
    assert r.status_code == 200, r.text
    return r.json()


async def _events(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(
            (await conn.execute(text("SELECT * FROM payments.provider_events ORDER BY id"))).all()
        )


def _notification(event: str, obj: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": "notification", "event": event, "object": obj})


async def _yk_payment(yookassa: Any, yk_id: str) -> dict[str, Any]:
    [p] = [p for p in await yookassa.control.payments() if p["id"] == yk_id]
    return p


async def test_customer_pays_and_the_notification_is_trusted_only_after_a_refetch(
    client, live_url, user, yookassa, flows: PaymentFlows, engine, outbox_rows, monkeypatch
) -> None:
    await yookassa.control.set_webhook(live_url + WEBHOOK)
    payment = await _create(client, user, amount_minor=80_000)
    assert payment["confirmation_url"]
    answer = await yookassa.control.pay(payment["provider_payment_id"])
    assert answer["payment"]["status"] == "succeeded"
    await yookassa.control.wait_for_notifications(payment_id=payment["provider_payment_id"])
    [event] = await _events(engine)
    assert (event.event_id, event.event_type) == (
        f"{payment['provider_payment_id']}:payment.succeeded",
        "payment.succeeded",
    )
    assert event.processed_at is None

    refetched: list[str] = []
    real_get = flows.providers["yoomoney"].get_payment

    async def counting_get(provider_payment_id: str):
        refetched.append(provider_payment_id)
        return await real_get(provider_payment_id)

    monkeypatch.setattr(flows.providers["yoomoney"], "get_payment", counting_get)
    await flows.events.process_due()
    assert refetched == [payment["provider_payment_id"]]
    after = await _get(client, user, payment["id"])
    assert after["status"] == "succeeded"
    [row] = await outbox_rows("PaymentSucceeded")
    assert row.payload["payload"]["provider"] == "yoomoney"
    assert row.payload["payload"]["amount_minor"] == 80_000
    assert row.payload["payload"]["currency"] == "RUB"


async def test_duplicates_and_reordering_count_once(
    client, live_url, user, yookassa, flows: PaymentFlows, engine, outbox_rows
) -> None:
    await yookassa.control.set_webhook(live_url + WEBHOOK)
    payment = await _create(client, user)
    pid = payment["provider_payment_id"]
    await yookassa.control.pay(pid, copies=10)
    await yookassa.control.wait_for_notifications(payment_id=pid)
    [event] = await _events(engine)
    assert event.deliveries == 10
    await flows.events.process_due()
    # a stale copy of an older state, sent by hand, is harmless too
    old = {**(await _yk_payment(yookassa, pid)), "status": "pending", "paid": False}
    r = await client.post(WEBHOOK, content=_notification("payment.waiting_for_capture", old))
    assert r.status_code == 200
    await flows.events.process_due()
    assert (await _get(client, user, payment["id"]))["status"] == "succeeded"
    assert len(await outbox_rows("PaymentSucceeded")) == 1


async def test_notification_from_outside_the_allowlist_is_refused(
    app, client, user, yookassa, engine
) -> None:
    payment = await _create(client, user)
    await yookassa.control.pay(payment["provider_payment_id"], mode="drop")
    obj = await _yk_payment(yookassa, payment["provider_payment_id"])
    body = _notification("payment.succeeded", obj)
    stranger = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=stranger, base_url="http://payments.test") as c:
        assert_problem(await c.post(WEBHOOK, content=body), 403, "webhook-source-forbidden")
        # a stranger cannot claim to be YooKassa with X-Forwarded-For
        spoofed = await c.post(WEBHOOK, content=body, headers={"X-Forwarded-For": "185.71.76.1"})
        assert_problem(spoofed, 403, "webhook-source-forbidden")
    # behind our trusted proxy (loopback here) the forwarded client address is what counts
    proxied = await client.post(WEBHOOK, content=body, headers={"X-Forwarded-For": "203.0.113.7"})
    assert_problem(proxied, 403, "webhook-source-forbidden")
    assert await _events(engine) == []
    assert (await _get(client, user, payment["id"]))["status"] == "pending"


@pytest.mark.parametrize("settings_overrides", [{"yookassa_ip_allowlist": "185.71.76.0/27"}])
async def test_yookassa_addresses_through_the_gateway_are_accepted(client, engine) -> None:
    body = _notification("payment.succeeded", {"id": "yk-unknown", "status": "succeeded"})
    r = await client.post(WEBHOOK, content=body, headers={"X-Forwarded-For": "185.71.76.10"})
    assert r.status_code == 200, r.text
    direct = await client.post(WEBHOOK, content=body)  # loopback is not in this allowlist
    assert_problem(direct, 403, "webhook-source-forbidden")
    assert len(await _events(engine)) == 1


async def test_forged_notification_the_api_contradicts_is_ignored_and_logged(
    client, user, yookassa, flows: PaymentFlows, engine, outbox_rows, monkeypatch
) -> None:
    spy = LogSpy(monkeypatch, payments.flows.events.log, "warning")
    payment = await _create(client, user)
    pid = payment["provider_payment_id"]
    forged = {**(await _yk_payment(yookassa, pid)), "status": "succeeded", "paid": True}
    r = await client.post(WEBHOOK, content=_notification("payment.succeeded", forged))
    assert r.status_code == 200  # acknowledged: we cannot tell before asking the API
    await flows.events.process_due()
    assert (await _get(client, user, payment["id"]))["status"] == "pending"
    assert await outbox_rows("PaymentSucceeded") == []
    [event] = await _events(engine)
    assert event.outcome == "disagreed" and event.processed_at is not None
    [logged] = spy.events("yookassa_notification_disagrees")
    assert logged["notification_says"] == "succeeded" and logged["api_says"] == "pending"

    # the real notification for the same (object, event) is looked at again, and now agrees
    await yookassa.control.pay(pid, mode="drop")
    real = await _yk_payment(yookassa, pid)
    assert (
        await client.post(WEBHOOK, content=_notification("payment.succeeded", real))
    ).status_code == 200
    await flows.events.process_due()
    assert (await _get(client, user, payment["id"]))["status"] == "succeeded"
    assert len(await outbox_rows("PaymentSucceeded")) == 1


async def test_canceled_after_succeeded_stays_succeeded(
    client, user, yookassa, flows: PaymentFlows, outbox_rows, monkeypatch
) -> None:
    spy = LogSpy(monkeypatch, payments.flows.events.log, "warning")
    payment = await _create(client, user)
    pid = payment["provider_payment_id"]
    await yookassa.control.pay(pid, mode="drop")
    paid = await _yk_payment(yookassa, pid)
    await client.post(WEBHOOK, content=_notification("payment.succeeded", paid))
    await flows.events.process_due()
    canceled = {
        **paid,
        "status": "canceled",
        "cancellation_details": {"party": "yoo_money", "reason": "general_decline"},
    }
    await client.post(WEBHOOK, content=_notification("payment.canceled", canceled))
    await flows.events.process_due()
    assert (await _get(client, user, payment["id"]))["status"] == "succeeded"
    assert len(await outbox_rows("PaymentSucceeded")) == 1
    assert await outbox_rows("PaymentFailed") == []
    assert spy.events("yookassa_notification_disagrees")[0]["api_says"] == "succeeded"


async def test_customer_cancels(client, live_url, user, yookassa, flows, outbox_rows) -> None:
    await yookassa.control.set_webhook(live_url + WEBHOOK)
    payment = await _create(client, user)
    await yookassa.control.cancel(payment["provider_payment_id"], reason="expired_on_confirmation")
    await yookassa.control.wait_for_notifications(payment_id=payment["provider_payment_id"])
    await flows.events.process_due()
    after = await _get(client, user, payment["id"])
    assert after["status"] == "canceled"
    assert after["failure_reason"] == "canceled: expired_on_confirmation (by yoo_money)"
    [failed] = await outbox_rows("PaymentFailed")
    assert failed.payload["payload"]["reason"] == after["failure_reason"]


@pytest.mark.parametrize("settings_overrides", [{"reconcile_min_age_s": 0}])
async def test_dropped_notification_is_completed_by_reconciliation(
    client, live_url, user, yookassa, flows: PaymentFlows, outbox_rows, engine
) -> None:
    await yookassa.control.set_webhook(live_url + WEBHOOK)
    payment = await _create(client, user)
    await yookassa.control.pay(payment["provider_payment_id"], mode="drop")
    assert await _events(engine) == []
    assert (await _get(client, user, payment["id"]))["status"] == "pending"
    assert await flows.reconciliation.reconcile_due() == 1
    assert (await _get(client, user, payment["id"]))["status"] == "succeeded"
    assert len(await outbox_rows("PaymentSucceeded")) == 1


async def test_api_outage_on_refetch_is_retried(
    client, user, yookassa, flows: PaymentFlows, engine
) -> None:
    payment = await _create(client, user)
    pid = payment["provider_payment_id"]
    await yookassa.control.pay(pid, mode="drop")
    paid = await _yk_payment(yookassa, pid)
    await client.post(WEBHOOK, content=_notification("payment.succeeded", paid))
    await yookassa.control.add_fault(status=500, count=1, method="GET", path=f"/v3/payments/{pid}")
    await flows.events.process_due()
    [event] = await _events(engine)
    assert event.processed_at is None and event.attempts == 1 and "500" in event.last_error
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE payments.provider_events SET next_attempt_at = now()"))
    await flows.events.process_due()
    assert (await _get(client, user, payment["id"]))["status"] == "succeeded"


async def test_provider_500_on_create_then_retry_is_one_payment(client, user, yookassa) -> None:
    """YooKassa's 500 means "unknown": the retry re-sends the same Idempotence-Key."""
    await yookassa.control.add_fault(
        status=500, count=1, method="POST", path="/v3/payments", when="after"
    )
    headers = user.headers()
    body = payment_body(provider="yoomoney", currency="RUB", amount_minor=90_000)
    first = await client.post("/payments", json=body, headers=headers)
    problem = assert_problem(first, 503, "upstream-unavailable")
    assert len(await yookassa.control.payments()) == 1  # it WAS created, the answer was lost
    again = await client.post("/payments", json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == problem["payment_id"]
    assert len(await yookassa.control.payments()) == 1  # the key replayed it: no second one


async def test_unknown_object_is_recorded_without_change(
    client, flows: PaymentFlows, engine
) -> None:
    body = _notification("payment.succeeded", {"id": str(uuid.uuid4()), "status": "succeeded"})
    assert (await client.post(WEBHOOK, content=body)).status_code == 200
    await flows.events.process_due()
    [event] = await _events(engine)
    assert (event.outcome, event.processed_at is not None) == ("ignored", True)


@pytest.mark.parametrize("body", [b"{", b'{"type": "notification"}', b"[]"])
async def test_malformed_notification(client, engine, body: bytes) -> None:
    assert_problem(await client.post(WEBHOOK, content=body), 400, "malformed-webhook")
    assert await _events(engine) == []


async def test_webhook_to_live_server_gets_200(live_url: str) -> None:
    async with httpx.AsyncClient(base_url=live_url) as c:
        r = await c.post(WEBHOOK, content=_notification("payment.succeeded", {"id": "x"}))
    assert r.status_code == 200 and r.json() == {"received": True, "duplicate": False}


async def test_wait_until_helper_times_out() -> None:
    async def never() -> bool:
        return False

    with pytest.raises(TimeoutError):
        await wait_until(never, timeout_s=0.1)


async def test_provider_refusal_on_create_fails_the_payment(
    client, user, yookassa, outbox_rows
) -> None:
    await yookassa.control.add_fault(status=400, count=1, method="POST", path="/v3/payments")
    body = payment_body(provider="yoomoney", currency="RUB", amount_minor=90_000)
    r = await client.post("/payments", json=body, headers=user.headers())
    problem = assert_problem(r, 502, "provider-rejected")
    failed = await _get(client, user, problem["payment_id"])
    assert failed["status"] == "failed" and "invalid_request" in failed["failure_reason"]
    [event] = await outbox_rows("PaymentFailed")
    assert event.payload["payload"]["payment_id"] == problem["payment_id"]
    assert await yookassa.control.payments() == []


async def test_refund_refused_by_the_provider_is_recorded(
    client, user, admin, yookassa, flows: PaymentFlows, outbox_rows
) -> None:
    payment = await _create(client, user)
    await yookassa.control.pay(payment["provider_payment_id"], mode="drop")
    await flows.reconciliation.reconcile_payment(uuid.UUID(payment["id"]))
    await yookassa.control.add_fault(status=400, count=1, method="POST", path="/v3/refunds")
    r = await client.post(f"/admin/payments/{payment['id']}/refund", headers=admin.auth)
    assert r.status_code == 200, r.text
    refund = r.json()
    assert refund["status"] == "failed" and "refused" in refund["last_error"]
    assert refund["payment"]["status"] == "succeeded"  # the money was not returned
    assert await outbox_rows("PaymentRefunded") == []
