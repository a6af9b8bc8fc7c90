"""Webhook authentication and parsing, before anything is stored. No web framework here.

- Stripe: the `Stripe-Signature` is verified on the RAW body with `stripe.Webhook.construct_event`
  (HMAC-SHA256, 300 s tolerance; a header may carry several `v1` signatures while Stripe rolls a
  secret, and we may hold several secrets while we roll ours: any match is accepted). The SDK
  refuses only old timestamps; one more than the tolerance ahead of our clock is refused too, or a
  captured delivery signed ahead of time would replay for as long as its timestamp allows.
- YooKassa: notifications are not signed. The route checks the source address; the processor
  never believes the body and re-fetches the payment from the API (`payments.flows.events`).
  YooKassa gives notifications no id, so the event id is `<object.id>:<event>`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

import orjson
import stripe

from payments.domain import IncomingEvent, InvalidWebhookSignature, MalformedWebhook, Provider
from payments.providers.base import parse_payment_id


def _dict(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else empty: a provider body of another shape is read as
    carrying nothing there (it was an AttributeError and a 500)."""
    return value if isinstance(value, dict) else {}


def _refuse_nul(body: object) -> None:
    """MalformedWebhook if a key or string holds U+0000, which Postgres cannot store in the text
    and jsonb the event is kept as (it was a 500). Iterative: JSON may nest deeper than Python's
    recursion limit."""
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                raise MalformedWebhook("The body holds a NUL character (U+0000).")
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _signed_at(signature: str) -> int:
    """The `t=` of a Stripe-Signature the SDK has verified (so it is there and an integer)."""
    for item in signature.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            return int(value)
    raise InvalidWebhookSignature("The Stripe-Signature has no timestamp.")


def verify_stripe(
    raw: bytes, signature: str | None, secrets: Sequence[str], *, tolerance_s: int
) -> IncomingEvent:
    """A Stripe event whose signature matches one of `secrets`, or `InvalidWebhookSignature`."""
    if not signature:
        raise InvalidWebhookSignature("The Stripe-Signature header is missing.")
    event = None
    for secret in secrets:
        if not secret:
            continue  # an empty secret verifies nothing (and would let anyone forge)
        try:
            event = stripe.Webhook.construct_event(raw, signature, secret, tolerance=tolerance_s)
            break
        except stripe.SignatureVerificationError:
            continue
        except ValueError:  # signed, but not JSON / not UTF-8
            raise MalformedWebhook("The webhook body is not a JSON Stripe event.") from None
    if event is None:
        raise InvalidWebhookSignature(
            "The Stripe-Signature does not match the body, or its timestamp is too old."
        )
    if _signed_at(signature) > time.time() + tolerance_s:
        raise InvalidWebhookSignature("The Stripe-Signature's timestamp is in the future.")
    payload = orjson.loads(raw)
    if not isinstance(payload, dict) or not payload.get("id") or not payload.get("type"):
        raise MalformedWebhook("The webhook body is not a Stripe event.")
    _refuse_nul(payload)
    obj = _dict(payload.get("data")).get("object") or {}
    object_id, payment_id = None, None
    if isinstance(obj, dict):
        kind = obj.get("object")
        if kind == "payment_intent":
            object_id = obj.get("id")
        elif kind in ("charge", "refund"):
            object_id = obj.get("payment_intent")
        payment_id = parse_payment_id(_dict(obj.get("metadata")).get("payment_id"))
    return IncomingEvent(
        provider=Provider.stripe,
        event_id=str(payload["id"]),
        event_type=str(payload["type"]),
        object_id=str(object_id) if object_id else None,
        payment_id=payment_id,
        payload=payload,
        raw=raw.decode(),
    )


def parse_yookassa(raw: bytes) -> IncomingEvent:
    """A YooKassa notification's shape: `{"type": "notification", "event", "object": {"id"}}`."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedWebhook("The notification body is not JSON.") from None
    if not isinstance(body, dict) or body.get("type") != "notification":
        raise MalformedWebhook("Not a YooKassa notification.")
    _refuse_nul(body)
    event, obj = body.get("event"), body.get("object")
    if not isinstance(event, str) or not event or len(event) > 100 or not isinstance(obj, dict):
        raise MalformedWebhook("A notification needs `event` and `object`.")
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id or len(object_id) > 100:
        raise MalformedWebhook("A notification's object needs an `id`.")
    # For refund events the payment is `object.payment_id`; for payments it is the object itself.
    target = obj.get("payment_id") if event.startswith("refund.") else object_id
    return IncomingEvent(
        provider=Provider.yoomoney,
        event_id=f"{object_id}:{event}",
        event_type=event,
        object_id=str(target) if isinstance(target, str) else None,
        payment_id=parse_payment_id(_dict(obj.get("metadata")).get("payment_id")),
        payload=body,
        raw=raw.decode(),
    )


def ip_allowed(ip: str | None, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    if not ip:
        return False
    try:
        address = ip_address(ip)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in networks)
