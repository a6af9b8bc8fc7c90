"""The control API (`/_control/...`, not part of the real API; no auth, loopback only): the
customer's side of a payment, notification delivery, injected faults, reset; and the payment
page (`/checkout/{id}`) whose buttons post to it."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from aiohttp import web

from scifikpi_tools.standins.yookassa.faults import Fault
from scifikpi_tools.standins.yookassa.notifier import Delivery, Notifier
from scifikpi_tools.standins.yookassa.pages import checkout_page, not_found_page
from scifikpi_tools.standins.yookassa.shared import FAULTS, NOTIFIER, SHOP, json_response
from scifikpi_tools.standins.yookassa.values import ApiError


def _control_error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)


async def _control_body(request: web.Request) -> tuple[dict[str, Any], bool]:
    """(body, from_a_form): JSON from tests and scripts (also `curl -d '{...}'`, which says it
    sends a form), a form from the payment page."""
    raw = await request.read()
    looks_json = raw.lstrip().startswith(b"{")
    if not looks_json and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        return {k: v for k, v in form.items() if isinstance(v, str)}, True
    if not looks_json and "text/html" in request.headers.get("Accept", ""):  # a browser
        return {}, True
    if not raw.strip():
        return {}, False
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise web.HTTPBadRequest(text="body is not JSON") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body, False


def _config(request: web.Request) -> dict[str, Any]:
    shop, notifier = request.app[SHOP], request.app[NOTIFIER]
    return {
        "shop_id": shop.shop_id,
        "api_url": f"{shop.public_url}/v3",
        "webhook_url": notifier.webhook_url,
        "delivery": asdict(notifier.default),
        "retry_delays_ms": notifier.retry_delays_ms,
    }


async def get_config(request: web.Request) -> web.Response:
    return json_response(_config(request))


async def patch_config(request: web.Request) -> web.Response:
    body, _ = await _control_body(request)
    notifier = request.app[NOTIFIER]
    unknown = set(body) - {"webhook_url", "delivery", "retry_delays_ms"}
    if unknown:
        return _control_error(400, f"unknown fields {sorted(unknown)}")
    try:
        delivery = Delivery.parse(body.get("delivery"), notifier.default)
    except (ValueError, TypeError) as exc:
        return _control_error(400, str(exc))
    if "webhook_url" in body:
        url = body["webhook_url"]
        if url is not None and (not isinstance(url, str) or not url.startswith("http")):
            return _control_error(400, "webhook_url must be an http(s) URL or null")
        notifier.webhook_url = url
    if "retry_delays_ms" in body:
        delays = body["retry_delays_ms"]
        if not isinstance(delays, list) or not all(
            isinstance(d, int) and 0 <= d <= 3_600_000 for d in delays
        ):
            return _control_error(400, "retry_delays_ms must be a list of integers (ms)")
        notifier.retry_delays_ms = delays
    notifier.default = delivery
    return json_response(_config(request))


def _policy(body: dict[str, Any], notifier: Notifier) -> Delivery | None:
    raw = body.get("delivery")
    if isinstance(raw, str):  # from a form or a query: a JSON string
        raw = json.loads(raw)
    return None if raw is None else Delivery.parse(raw, notifier.default)


async def _customer_action(request: web.Request, kind: str) -> web.StreamResponse:
    shop, notifier = request.app[SHOP], request.app[NOTIFIER]
    payment_id = request.match_info["id"]
    body, from_form = await _control_body(request)
    try:
        policy = _policy(body, notifier)
        if kind == "pay":
            events = shop.pay(payment_id)
        else:
            events = shop.customer_cancel(
                payment_id,
                reason=str(body.get("reason") or "expired_on_confirmation"),
                party=str(body.get("party") or "yoo_money"),
            )
    except (ValueError, TypeError) as exc:
        return _control_error(400, str(exc))
    except ApiError as error:
        if from_form and error.status == 409:
            raise web.HTTPSeeOther(f"/checkout/{payment_id}") from error
        return _control_error(error.status, error.description)
    notifications = notifier.notify(events, policy)
    if from_form:
        raise web.HTTPSeeOther(f"/checkout/{payment_id}")
    return json_response(
        {
            "payment": shop.payment(payment_id).to_json(),
            "notifications": [n.to_json(with_payload=False) for n in notifications],
        }
    )


async def control_pay(request: web.Request) -> web.StreamResponse:
    return await _customer_action(request, "pay")


async def control_cancel(request: web.Request) -> web.StreamResponse:
    return await _customer_action(request, "cancel")


async def control_payments(request: web.Request) -> web.Response:
    shop = request.app[SHOP]
    return json_response({"items": [p.to_json() for p in shop.payments.values()]})


async def list_notifications(request: web.Request) -> web.Response:
    query = request.query
    items = [
        n.to_json()
        for n in request.app[NOTIFIER].notifications.values()
        if all(
            not query.get(name) or getattr(n, name) == query[name]
            for name in ("payment_id", "event", "state", "object_id")
        )
    ]
    return json_response({"items": items})


async def get_notification(request: web.Request) -> web.Response:
    found = request.app[NOTIFIER].notifications.get(request.match_info["id"])
    if found is None:
        return _control_error(404, "no such notification")
    return json_response(found.to_json())


async def release_notifications(request: web.Request) -> web.Response:
    body, _ = await _control_body(request)
    try:
        released = await request.app[NOTIFIER].release(
            body.get("ids"), str(body.get("order") or "given")
        )
    except KeyError as exc:
        return _control_error(404, f"no such notifications: {exc.args[0]}")
    except ValueError as exc:
        return _control_error(400, str(exc))
    return json_response({"released": released})


async def resend_notification(request: web.Request) -> web.Response:
    notifier = request.app[NOTIFIER]
    body, _ = await _control_body(request)
    try:
        policy = _policy(body, notifier)
        created = notifier.resend(request.match_info["id"], policy)
    except KeyError:
        return _control_error(404, "no such notification")
    except (ValueError, TypeError) as exc:
        return _control_error(400, str(exc))
    return json_response(created.to_json(with_payload=False))


async def get_faults(request: web.Request) -> web.Response:
    return json_response({"items": [asdict(f) for f in request.app[FAULTS] if f.count > 0]})


async def add_fault(request: web.Request) -> web.Response:
    body, _ = await _control_body(request)
    try:
        fault = Fault(**body)
    except TypeError as exc:
        return _control_error(400, str(exc))
    if fault.when not in ("before", "after") or not 100 <= fault.status <= 599:
        return _control_error(400, "when must be before|after and status an HTTP status")
    request.app[FAULTS].append(fault)
    return json_response(asdict(fault))


async def clear_faults(request: web.Request) -> web.Response:
    request.app[FAULTS].clear()
    return json_response({"items": []})


async def reset(request: web.Request) -> web.Response:
    request.app[SHOP].reset()
    request.app[NOTIFIER].reset()
    request.app[FAULTS].clear()
    return json_response({"reset": True})


async def health(request: web.Request) -> web.Response:
    return json_response({"ok": True})


async def checkout(request: web.Request) -> web.Response:
    shop = request.app[SHOP]
    payment = shop.payments.get(request.match_info["id"])
    if payment is None:
        return web.Response(
            text=not_found_page(request.match_info["id"]), status=404, content_type="text/html"
        )
    return web.Response(text=checkout_page(payment, shop.shop_id), content_type="text/html")
