"""The fake's HTTP surface, its route table: the YooKassa API v3 (`/v3/...`, `api.py`), its
control API (`/_control/...`, not part of the real API, `control_api.py`) and the payment page
(`/checkout/{id}`).

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

from aiohttp import web

from scifikpi_tools.standins.yookassa import api, control_api
from scifikpi_tools.standins.yookassa.model import Shop
from scifikpi_tools.standins.yookassa.notifier import Notifier
from scifikpi_tools.standins.yookassa.shared import FAULTS, NOTIFIER, SHOP


def build_app(
    shop_id: str,
    secret_key: str,
    public_url: str,
    webhook_url: str | None = None,
    retry_delays_ms: list[int] | None = None,
) -> web.Application:
    app = web.Application(middlewares=[api.api_middleware], client_max_size=1024 * 1024)
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
    r.add_post("/v3/payments", api.create_payment)
    r.add_get("/v3/payments", api.list_payments)
    r.add_get("/v3/payments/{id}", api.get_payment)
    r.add_post("/v3/payments/{id}/capture", api.capture_payment)
    r.add_post("/v3/payments/{id}/cancel", api.cancel_payment)
    r.add_post("/v3/refunds", api.create_refund)
    r.add_get("/v3/refunds/{id}", api.get_refund)

    r.add_get("/_control/health", control_api.health)
    r.add_get("/_control/config", control_api.get_config)
    r.add_patch("/_control/config", control_api.patch_config)
    r.add_post("/_control/config", control_api.patch_config)
    r.add_get("/_control/payments", control_api.control_payments)
    r.add_post("/_control/payments/{id}/pay", control_api.control_pay)
    r.add_post("/_control/payments/{id}/cancel", control_api.control_cancel)
    r.add_get("/_control/notifications", control_api.list_notifications)
    r.add_post("/_control/notifications/release", control_api.release_notifications)
    r.add_get("/_control/notifications/{id}", control_api.get_notification)
    r.add_post("/_control/notifications/{id}/resend", control_api.resend_notification)
    r.add_get("/_control/faults", control_api.get_faults)
    r.add_post("/_control/faults", control_api.add_fault)
    r.add_delete("/_control/faults", control_api.clear_faults)
    r.add_post("/_control/reset", control_api.reset)

    r.add_get("/checkout/{id}", control_api.checkout)
    return app
