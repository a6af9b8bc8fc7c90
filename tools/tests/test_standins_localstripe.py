"""localstripe as the stack runs it (scifikpi_tools.standins.localstripe): loopback only, a clean
state at every start, never the shared /tmp pickle, the webhook registration, signed deliveries
that `stripe.Webhook.construct_event` accepts, and the `pay` helper a person uses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import stripe
from scifikpi_tools.standins import pay
from scifikpi_tools.standins.localstripe import LocalstripeHandle, start_localstripe
from scifikpi_tools.standins.recorder import WebhookRecorder
from scifikpi_tools.standins.yookassa import start_yookassa_fake

pytestmark = pytest.mark.timeout(60)

SECRET = "whsec_test_standins"  # noqa: S105 - a test webhook secret
SHARED_PICKLE = Path("/tmp/localstripe.pickle")  # noqa: S108 - localstripe's own fixed file


def client_for(handle: LocalstripeHandle) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_local", base_addresses={"api": handle.url}, max_network_retries=0
    )


@pytest.fixture
def localstripe() -> Iterator[LocalstripeHandle]:
    handle = start_localstripe(port=0)
    try:
        yield handle
    finally:
        handle.stop()


def listening(pid: int) -> list[str]:
    return [
        c.laddr.ip
        for c in psutil.Process(pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]


def test_binds_loopback_only(localstripe: LocalstripeHandle) -> None:
    assert listening(localstripe.pid) == ["127.0.0.1"]
    with pytest.raises(ValueError, match="loopback"):
        start_localstripe(host="0.0.0.0")  # noqa: S104 - the point: refused
    refused = subprocess.run(
        [sys.executable, "-m", "scifikpi_tools.standins.localstripe", "--host", "0.0.0.0"],  # noqa: S104
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "loopback" in refused.stderr


def test_the_official_sdk_runs_a_payment_intent(localstripe: LocalstripeHandle) -> None:
    client = client_for(localstripe)
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method_types": ["card"],
            "metadata": {"payment_id": "p-1"},
        }
    )
    assert intent.status == "requires_payment_method" and intent.client_secret
    # localstripe refuses the payment method at confirm time ...
    with pytest.raises(stripe.APIError):
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    # ... but takes it as an update of the PaymentIntent, then confirms
    updated = client.v1.payment_intents.update(intent.id, params={"payment_method": "pm_card_visa"})
    assert updated.status == "requires_confirmation"
    confirmed = client.v1.payment_intents.confirm(intent.id)
    assert confirmed.status == "succeeded" and confirmed.latest_charge


def test_state_is_cleared_at_start_and_never_shared(tmp_path: Path) -> None:
    before = SHARED_PICKLE.stat().st_mtime_ns if SHARED_PICKLE.exists() else None
    first = start_localstripe(port=0)
    try:
        intent = client_for(first).v1.payment_intents.create(
            params={"amount": 500, "currency": "usd", "payment_method_types": ["card"]}
        )
        assert client_for(first).v1.payment_intents.retrieve(intent.id).id == intent.id
        first.clear()  # DELETE /_config/data
        with pytest.raises(stripe.InvalidRequestError):
            client_for(first).v1.payment_intents.retrieve(intent.id)
        kept = client_for(first).v1.payment_intents.create(
            params={"amount": 700, "currency": "usd", "payment_method_types": ["card"]}
        )
    finally:
        first.stop()
    second = start_localstripe(port=first.port)  # even on the same port: a new, empty store
    try:
        with pytest.raises(stripe.InvalidRequestError):
            client_for(second).v1.payment_intents.retrieve(kept.id)
        assert client_for(second).v1.payment_intents.list().data == []
    finally:
        second.stop()
    after = SHARED_PICKLE.stat().st_mtime_ns if SHARED_PICKLE.exists() else None
    assert after == before, "localstripe wrote the shared /tmp/localstripe.pickle"


async def test_signed_webhooks_pass_construct_event(localstripe: LocalstripeHandle) -> None:
    async with WebhookRecorder() as hook, WebhookRecorder() as wrong:
        localstripe.register_webhook(hook.url, SECRET, ["payment_intent.succeeded"])
        localstripe.register_webhook(wrong.url, "whsec_other", webhook_id="wrong-secret")
        client = client_for(localstripe)
        intent = await client.v1.payment_intents.create_async(
            params={
                "amount": 1000,
                "currency": "usd",
                "payment_method_types": ["card"],
                "metadata": {"payment_id": "p-2"},
            }
        )
        await client.v1.payment_intents.update_async(
            intent.id, params={"payment_method": "pm_card_visa"}
        )
        await client.v1.payment_intents.confirm_async(intent.id)
        [received] = await hook.wait_for(1, timeout_s=15)
        event = stripe.Webhook.construct_event(
            received.body, received.headers["Stripe-Signature"], SECRET
        )
        assert event.type == "payment_intent.succeeded"
        obj = event.data.object
        assert obj.id == intent.id and obj.status == "succeeded"
        assert obj.metadata["payment_id"] == "p-2"
        # the same delivery to an endpoint with another secret fails verification
        others = await wrong.wait_for(1, timeout_s=15)
        other = next(r for r in others if b"payment_intent.succeeded" in r.body)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(other.body, other.headers["Stripe-Signature"], SECRET)
        # and a tampered body too
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(
                received.body.replace(b"succeeded", b"failed__"),
                received.headers["Stripe-Signature"],
                SECRET,
            )


async def test_webhook_given_at_start(tmp_path: Path) -> None:
    async with WebhookRecorder() as hook:
        handle = start_localstripe(port=0, webhook_url=hook.url, webhook_secret=SECRET)
        try:
            intent = client_for(handle).v1.payment_intents.create(
                params={
                    "amount": 1200,
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "confirm": True,
                }
            )
            assert intent.status == "succeeded"
            received = await hook.wait_for(1, timeout_s=15)
            events = [
                stripe.Webhook.construct_event(r.body, r.headers["Stripe-Signature"], SECRET)
                for r in received
            ]
            assert any(e.type == "payment_intent.succeeded" for e in events)
        finally:
            handle.stop()


# ----------------------------------------------------------------------------- the pay helper


def test_pay_helper_completes_a_stripe_payment(
    localstripe: LocalstripeHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    client = client_for(localstripe)
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "payment_method_types": ["card"]}
    )
    assert pay.main(["stripe", intent.id, "--url", localstripe.url]) == 0
    assert f"{intent.id}: succeeded" in capsys.readouterr().out
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    # a second run changes nothing and still says succeeded
    assert pay.main(["stripe", intent.id, "--url", localstripe.url]) == 0
    # unknown id: a clear error, exit 1
    assert pay.main(["stripe", "pi_nope", "--url", localstripe.url]) == 1
    assert "404" in capsys.readouterr().err


def test_pay_helper_declined_card(localstripe: LocalstripeHandle) -> None:
    client = client_for(localstripe)
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "payment_method_types": ["card"]}
    )
    code = pay.main(
        [
            "stripe",
            intent.id,
            "--url",
            localstripe.url,
            "--payment-method",
            "pm_card_chargeCustomerFail",
        ]
    )
    assert code == 1
    assert client.v1.payment_intents.retrieve(intent.id).status == "requires_payment_method"


def test_pay_helper_yoomoney(capsys: pytest.CaptureFixture[str]) -> None:
    fake = start_yookassa_fake(port=0, shop_id="1", secret_key="test_k")
    try:
        created = []
        for _ in range(2):
            response = httpx.post(
                f"{fake.api_url}/payments",
                auth=("1", "test_k"),
                headers={"Idempotence-Key": f"k-{len(created)}"},
                json={"amount": {"value": "10.00", "currency": "RUB"}, "capture": True},
            )
            created.append(response.json()["id"])
        assert pay.main(["yoomoney", created[0], "--url", fake.url, "--drop"]) == 0
        out = capsys.readouterr().out
        assert f"{created[0]}: succeeded" in out and "payment.succeeded (drop)" in out
        assert pay.main(["yoomoney", created[1], "--url", fake.url, "--cancel"]) == 0
        assert "canceled" in capsys.readouterr().out
        assert pay.main(["yoomoney", created[1], "--url", fake.url]) == 1  # canceled already
        assert "409" in capsys.readouterr().err
    finally:
        fake.stop()


def test_pay_helper_ports_follow_the_stack() -> None:
    assert pay._port(8420, None) == 8420
    assert pay._port(8421, 18000) == 18421
