"""The YooKassa API v3 (`/v3/...`): HTTP Basic `shop_id:secret_key`; POSTs need
`Idempotence-Key` (at most 64 characters), and the same key with the same body replays the
saved answer. `api_middleware` checks the credentials and applies injected faults."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
from typing import Any

from aiohttp import web

from scifikpi_tools.standins.yookassa.faults import take_fault
from scifikpi_tools.standins.yookassa.model import Shop
from scifikpi_tools.standins.yookassa.shared import NOTIFIER, SHOP, error_response, json_response
from scifikpi_tools.standins.yookassa.values import ApiError, invalid


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
    fault = take_fault(request, "before")
    if fault is not None:
        if fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        return fault.response()
    try:
        response = await handler(request)
    except ApiError as error:
        return error_response(error)
    fault = take_fault(request, "after")
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
