"""What the fake's handlers share: the app's state (the shop, the notifier, the injected
faults) and the JSON answers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from scifikpi_tools.standins.yookassa.model import Shop
from scifikpi_tools.standins.yookassa.notifier import Notifier
from scifikpi_tools.standins.yookassa.values import ApiError

SHOP = web.AppKey("shop", Shop)
NOTIFIER = web.AppKey("notifier", Notifier)
FAULTS = web.AppKey("faults", list)  # of faults.Fault


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, ensure_ascii=False),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


def error_response(error: ApiError) -> web.Response:
    return json_response(error.body(), error.status)
