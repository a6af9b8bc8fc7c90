"""Problem responses sent straight from the lean ASGI path (no FastAPI on the proxy hot path).

The error classes and the body shape are `scifikpi_common.errors`; this module only serializes
them and adds the few gateway-only problem types.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from scifikpi_common.errors import PROBLEM_CONTENT_TYPE, AppError
from starlette.types import Send

_CONTENT_TYPE = PROBLEM_CONTENT_TYPE.encode()


class BadGateway(AppError):
    status, slug, title = 502, "bad-gateway", "A backing service sent an invalid response"


class CorsRejected(AppError):
    status, slug, title = 403, "cors-rejected", "Cross-origin request not allowed"


async def send_problem(
    send: Send,
    error: AppError,
    *,
    instance: str | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    body = orjson.dumps(error.to_problem(instance))
    raw = [
        (b"content-type", _CONTENT_TYPE),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    if error.headers:
        raw.extend(
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()
        )
    await send({"type": "http.response.start", "status": error.status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
