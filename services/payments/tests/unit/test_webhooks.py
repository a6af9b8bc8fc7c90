"""Webhook authentication before anything is stored: Stripe signatures, YooKassa parsing, source
addresses (X-Forwarded-For believed only from trusted proxies)."""

from __future__ import annotations

import time
import uuid
from ipaddress import ip_network

import orjson
import pytest
import stripe
from _pay_helpers import OLD_WEBHOOK_SECRET, WEBHOOK_SECRET, sign, stripe_event
from payments.domain import InvalidWebhookSignature, MalformedWebhook
from payments.settings import LOOPBACK_NETWORKS, YOOKASSA_PUBLISHED_NETWORKS
from payments.webhooks import ip_allowed, parse_yookassa, verify_stripe

SECRETS = [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET]


def _intent(payment_id: uuid.UUID | None = None) -> dict:
    return {
        "id": "pi_123",
        "object": "payment_intent",
        "amount": 1000,
        "currency": "usd",
        "status": "succeeded",
        "metadata": {"payment_id": str(payment_id or uuid.uuid4())},
    }


def _body(payment_id: uuid.UUID | None = None) -> bytes:
    return orjson.dumps(stripe_event(_intent(payment_id)))


class TestStripeSignatures:
    def test_valid(self) -> None:
        pid = uuid.uuid4()
        body = _body(pid)
        event = verify_stripe(body, sign(body), SECRETS, tolerance_s=300)
        assert event.provider == "stripe"
        assert event.event_type == "payment_intent.succeeded"
        assert event.object_id == "pi_123"
        assert event.payment_id == pid
        assert event.event_id.startswith("evt_")

    def test_signed_with_the_previous_secret_during_our_rotation(self) -> None:
        body = _body()
        verify_stripe(body, sign(body, OLD_WEBHOOK_SECRET), SECRETS, tolerance_s=300)

    def test_several_v1_signatures_while_stripe_rolls_the_secret(self) -> None:
        body = _body()
        ts = int(time.time())
        other = sign(body, "whsec_unknown", ts).split("v1=")[1]
        mine = sign(body, WEBHOOK_SECRET, ts).split("v1=")[1]
        header = f"t={ts},v1={other},v1={mine}"
        verify_stripe(body, header, [WEBHOOK_SECRET], tolerance_s=300)

    def test_forged_with_another_secret(self) -> None:
        body = _body()
        with pytest.raises(InvalidWebhookSignature):
            verify_stripe(body, sign(body, "whsec_attacker"), SECRETS, tolerance_s=300)

    def test_tampered_body(self) -> None:
        body = _body()
        header = sign(body)
        tampered = body.replace(b'"amount":1000', b'"amount":1')
        assert tampered != body
        with pytest.raises(InvalidWebhookSignature):
            verify_stripe(tampered, header, SECRETS, tolerance_s=300)

    def test_reserialised_body_fails(self) -> None:
        body = _body()
        header = sign(body)
        with pytest.raises(InvalidWebhookSignature):
            verify_stripe(
                orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2),
                header,
                SECRETS,
                tolerance_s=300,
            )

    def test_stale_timestamp(self) -> None:
        body = _body()
        header = sign(body, timestamp=int(time.time()) - 301)
        with pytest.raises(InvalidWebhookSignature):
            verify_stripe(body, header, SECRETS, tolerance_s=300)
        # inside the tolerance it is fine
        verify_stripe(body, sign(body, timestamp=int(time.time()) - 250), SECRETS, tolerance_s=300)

    def test_timestamp_ahead_of_our_clock(self) -> None:
        """Signed in the future (a captured header would replay until then): refused past the
        tolerance, accepted within it (clock skew)."""
        body = _body()
        header = sign(body, timestamp=int(time.time()) + 3600)
        with pytest.raises(InvalidWebhookSignature, match="future"):
            verify_stripe(body, header, SECRETS, tolerance_s=300)
        verify_stripe(body, sign(body, timestamp=int(time.time()) + 250), SECRETS, tolerance_s=300)

    @pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=00", "t=1,v0=abc"])
    def test_missing_or_garbled_header(self, header: str | None) -> None:
        with pytest.raises(InvalidWebhookSignature):
            verify_stripe(_body(), header, SECRETS, tolerance_s=300)

    def test_an_empty_secret_verifies_nothing(self) -> None:
        body = _body()
        with pytest.raises(InvalidWebhookSignature):
            verify_stripe(body, sign(body, ""), ["", "  "], tolerance_s=300)

    def test_signed_garbage_is_malformed(self) -> None:
        body = b"not json"
        with pytest.raises(MalformedWebhook):
            verify_stripe(body, sign(body), SECRETS, tolerance_s=300)

    def test_uses_the_sdk_construct_event(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls = []
        real = stripe.Webhook.construct_event

        def spy(*args, **kwargs):
            calls.append(kwargs.get("tolerance"))
            return real(*args, **kwargs)

        monkeypatch.setattr(stripe.Webhook, "construct_event", spy)
        body = _body()
        verify_stripe(body, sign(body), SECRETS, tolerance_s=300)
        assert calls == [300]


class TestYooKassaNotifications:
    def test_event_id_is_object_and_event(self) -> None:
        pid = uuid.uuid4()
        body = orjson.dumps(
            {
                "type": "notification",
                "event": "payment.succeeded",
                "object": {
                    "id": "2d9a-yk",
                    "status": "succeeded",
                    "metadata": {"payment_id": str(pid)},
                },
            }
        )
        event = parse_yookassa(body)
        assert event.event_id == "2d9a-yk:payment.succeeded"
        assert event.object_id == "2d9a-yk"
        assert event.payment_id == pid

    def test_refund_events_point_at_the_payment(self) -> None:
        body = orjson.dumps(
            {
                "type": "notification",
                "event": "refund.succeeded",
                "object": {"id": "rf-1", "payment_id": "pay-1"},
            }
        )
        event = parse_yookassa(body)
        assert (event.event_id, event.object_id) == ("rf-1:refund.succeeded", "pay-1")

    @pytest.mark.parametrize(
        "body",
        [
            b"{",
            b"[]",
            b'{"type": "other", "event": "payment.succeeded", "object": {"id": "x"}}',
            b'{"type": "notification", "object": {"id": "x"}}',
            b'{"type": "notification", "event": "payment.succeeded", "object": {}}',
            b'{"type": "notification", "event": "payment.succeeded", "object": "x"}',
        ],
    )
    def test_malformed(self, body: bytes) -> None:
        with pytest.raises(MalformedWebhook):
            parse_yookassa(body)


class TestSourceAddresses:
    nets = [ip_network(n) for n in (*YOOKASSA_PUBLISHED_NETWORKS, *LOOPBACK_NETWORKS)]
    proxies = [ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32")]

    @pytest.mark.parametrize(
        ("ip", "allowed"),
        [
            ("185.71.76.5", True),
            ("185.71.77.31", True),
            ("185.71.77.32", False),
            ("77.75.156.11", True),
            ("77.75.156.12", False),
            ("2a02:5180:0:1509::1", True),
            ("127.0.0.1", True),
            ("::ffff:185.71.76.5", True),
            ("203.0.113.7", False),
            ("not-an-ip", False),
            (None, False),
        ],
    )
    def test_allowlist(self, ip: str | None, allowed: bool) -> None:
        assert ip_allowed(ip, self.nets) is allowed
