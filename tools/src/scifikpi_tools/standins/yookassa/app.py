"""The fake's HTTP surface: the YooKassa API v3 (`/v3/...`), its control API (`/_control/...`,
not part of the real API) and the payment page (`/checkout/{id}`).

API (HTTP Basic `shop_id:secret_key`; POSTs need `Idempotence-Key`, max 64 characters):

    POST /v3/payments                   create (status pending; capture defaults to false)
    GET  /v3/payments                   list (status, created_at.gte/gt/lte/lt, limit, cursor)
    GET  /v3/payments/{id}
    POST /v3/payments/{id}/capture      waiting_for_capture -> succeeded (optional smaller amount)
    POST /v3/payments/{id}/cancel       waiting_for_capture -> canceled
    POST /v3/refunds                    succeeded payments only, up to what is left
    GET  /v3/refunds/{id}

Control API (no auth; loopback only):

    GET   /_control/config                      shop, webhook URL, default delivery, retries
    PATCH /_control/config                      {"webhook_url", "delivery", "retry_delays_ms"}
    POST  /_control/payments/{id}/pay           customer pays  {"delivery": {...}} optional
    POST  /_control/payments/{id}/cancel        customer cancels {"reason", "party", "delivery"}
    GET   /_control/payments                    every payment (as the API shows it)
    GET   /_control/notifications               ?payment_id=&event=&state= ; each with attempts
    GET   /_control/notifications/{id}
    POST  /_control/notifications/release       {"ids": [...], "order": "given"|"reverse"}
    POST  /_control/notifications/{id}/resend   {"delivery": {...}}
    GET|POST|DELETE /_control/faults            make API calls fail: {"status": 500,
                                                 "count": 1, "method", "path", "when":
                                                 "before"|"after", "delay_ms"}
    POST  /_control/reset                       forget payments, refunds, keys, notifications
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from scifikpi_tools.standins.yookassa.model import ApiError, Shop, invalid
from scifikpi_tools.standins.yookassa.notifier import Delivery, Notifier
from scifikpi_tools.standins.yookassa.pages import checkout_page, not_found_page

SHOP = web.AppKey("shop", Shop)
NOTIFIER = web.AppKey("notifier", Notifier)
FAULTS = web.AppKey("faults", list)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, ensure_ascii=False),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


def error_response(error: ApiError) -> web.Response:
    return json_response(error.body(), error.status)


# ------------------------------------------------------------------------------ faults


@dataclass
class Fault:
    status: int = 500
    count: int = 1
    method: str | None = None
    path: str | None = None  # a prefix of the request path, e.g. "/v3/payments"
    when: str = "before"  # before: nothing happens; after: the request is applied first
    delay_ms: int = 0

    def matches(self, request: web.Request) -> bool:
        return (
            self.count > 0
            and (self.method is None or self.method.upper() == request.method)
            and (self.path is None or request.path.startswith(self.path))
        )

    def response(self) -> web.Response:
        if self.status == 500:
            return error_response(
                ApiError(500, "internal_server_error", "Internal server error (injected fault)")
            )
        codes = {429: "too_many_requests", 403: "forbidden", 400: "invalid_request"}
        if self.status in codes:
            return error_response(ApiError(self.status, codes[self.status], "Injected fault"))
        return web.Response(status=self.status, text="injected fault")


def _take_fault(request: web.Request, when: str) -> Fault | None:
    for fault in request.app[FAULTS]:
        if fault.when == when and fault.matches(request):
            fault.count -= 1
            return fault
    return None


# ------------------------------------------------------------------------------ middlewares


def _credentials_ok(request: web.Request, shop: Shop) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    shop_id, sep, secret = decoded.partition(":")
    return bool(sep) and hmac.compare_digest(
        f"{shop_id}:{secret}".encode(), f"{shop.shop_id}:{shop.secret_key}".encode()
    )


@web.middleware
async def api_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith("/v3/"):
        return await handler(request)
    if not _credentials_ok(request, request.app[SHOP]):
        return error_response(
            ApiError(
                401,
                "invalid_credentials",
                "Authentication by the given shop id and secret key failed: check the "
                "Authorization header (HTTP Basic shopId:secretKey)",
                "Authorization",
            )
        )
    fault = _take_fault(request, "before")
    if fault is not None:
        if fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        return fault.response()
    try:
        response = await handler(request)
    except ApiError as error:
        return error_response(error)
    fault = _take_fault(request, "after")
    if fault is not None:
        if fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        return fault.response()
    return response


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return None
    if request.content_type not in ("application/json", ""):
        raise ApiError(415, "invalid_request", "Content-Type must be application/json")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("Request body is not valid JSON") from exc


async def _idempotent(request: web.Request, action: Any) -> web.Response:
    """Run a POST once per Idempotence-Key: same key + same body replays the saved answer."""
    shop = request.app[SHOP]
    body = await _json_body(request)
    key = request.headers.get("Idempotence-Key", "")
    saved = shop.replay(key, request.method, request.path, body)
    if saved is not None:
        return json_response(saved.body, saved.status)
    out, events = action(body)
    shop.save(key, request.method, request.path, body, 200, out)
    request.app[NOTIFIER].notify(events)
    return json_response(out)


# ------------------------------------------------------------------------------ API v3


async def create_payment(request: web.Request) -> web.Response:
    shop = request.app[SHOP]
    return await _idempotent(request, lambda body: (shop.create_payment(body).to_json(), []))


async def list_payments(request: web.Request) -> web.Response:
    return json_response(request.app[SHOP].list_payments(dict(request.query)))


async def get_payment(request: web.Request) -> web.Response:
    return json_response(request.app[SHOP].payment(request.match_info["id"]).to_json())


async def capture_payment(request: web.Request) -> web.Response:
    shop, payment_id = request.app[SHOP], request.match_info["id"]

    def action(body: Any) -> tuple[dict[str, Any], list]:
        payment, events = shop.capture(payment_id, body)
        return payment.to_json(), events

    return await _idempotent(request, action)


async def cancel_payment(request: web.Request) -> web.Response:
    shop, payment_id = request.app[SHOP], request.match_info["id"]

    def action(_body: Any) -> tuple[dict[str, Any], list]:
        payment, events = shop.merchant_cancel(payment_id)
        return payment.to_json(), events

    return await _idempotent(request, action)


async def create_refund(request: web.Request) -> web.Response:
    shop = request.app[SHOP]

    def action(body: Any) -> tuple[dict[str, Any], list]:
        refund, events = shop.create_refund(body)
        return refund.to_json(), events

    return await _idempotent(request, action)


async def get_refund(request: web.Request) -> web.Response:
    return json_response(request.app[SHOP].refund(request.match_info["id"]).to_json())


# ------------------------------------------------------------------------------ control API


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


# ------------------------------------------------------------------------------ payment page


async def checkout(request: web.Request) -> web.Response:
    shop = request.app[SHOP]
    payment = shop.payments.get(request.match_info["id"])
    if payment is None:
        return web.Response(
            text=not_found_page(request.match_info["id"]), status=404, content_type="text/html"
        )
    return web.Response(text=checkout_page(payment, shop.shop_id), content_type="text/html")


# ------------------------------------------------------------------------------ the app


def build_app(
    shop_id: str,
    secret_key: str,
    public_url: str,
    webhook_url: str | None = None,
    retry_delays_ms: list[int] | None = None,
) -> web.Application:
    app = web.Application(middlewares=[api_middleware], client_max_size=1024 * 1024)
    app[SHOP] = Shop(shop_id, secret_key, public_url)
    app[NOTIFIER] = Notifier(
        webhook_url,
        retry_delays_ms=retry_delays_ms if retry_delays_ms is not None else [1000, 5000, 30000],
    )
    app[FAULTS] = []

    async def close_notifier(app: web.Application) -> None:
        await app[NOTIFIER].close()

    app.on_cleanup.append(close_notifier)
    r = app.router
    r.add_post("/v3/payments", create_payment)
    r.add_get("/v3/payments", list_payments)
    r.add_get("/v3/payments/{id}", get_payment)
    r.add_post("/v3/payments/{id}/capture", capture_payment)
    r.add_post("/v3/payments/{id}/cancel", cancel_payment)
    r.add_post("/v3/refunds", create_refund)
    r.add_get("/v3/refunds/{id}", get_refund)

    r.add_get("/_control/health", health)
    r.add_get("/_control/config", get_config)
    r.add_patch("/_control/config", patch_config)
    r.add_post("/_control/config", patch_config)
    r.add_get("/_control/payments", control_payments)
    r.add_post("/_control/payments/{id}/pay", control_pay)
    r.add_post("/_control/payments/{id}/cancel", control_cancel)
    r.add_get("/_control/notifications", list_notifications)
    r.add_post("/_control/notifications/release", release_notifications)
    r.add_get("/_control/notifications/{id}", get_notification)
    r.add_post("/_control/notifications/{id}/resend", resend_notification)
    r.add_get("/_control/faults", get_faults)
    r.add_post("/_control/faults", add_fault)
    r.add_delete("/_control/faults", clear_faults)
    r.add_post("/_control/reset", reset)

    r.add_get("/checkout/{id}", checkout)
    return app
