"""One pure-ASGI middleware for every service: request id, trace span, access log, RED metrics
and the request body limit.

Pure ASGI (not `BaseHTTPMiddleware`) keeps the per-request cost small and streams untouched.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scifikpi_common.errors import PROBLEM_CONTENT_TYPE, PayloadTooLarge
from scifikpi_common.logging import get_logger
from scifikpi_common.metrics import HTTP_LATENCY, HTTP_REQUESTS
from scifikpi_common.tracing import extract_context, tracer

REQUEST_ID_HEADER = "x-request-id"
_UNTRACKED = frozenset({"/healthz", "/readyz", "/metrics"})
log = get_logger("http")


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, service: str, max_body_bytes: int) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.tracer = tracer(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        if len(request_id) > 128:
            request_id = uuid.uuid4().hex

        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._send_too_large(send, request_id)
            return

        received = 0
        too_large = False
        status_code = 500
        response_started = False

        async def limited_receive() -> Message:
            # A streamed body over the limit: answer 413 ourselves and tell the app the client
            # left, whatever framework code sits between us and the route.
            nonlocal received, too_large, status_code
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    if not response_started:
                        await self._send_too_large(send, request_id)
                        status_code = 413
                    return {"type": "http.disconnect"}
            return message

        async def send_with_context(message: Message) -> None:
            nonlocal status_code, response_started
            if too_large:
                return
            if message["type"] == "http.response.start":
                status_code = message["status"]
                response_started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        start = time.perf_counter()
        ctx = extract_context(headers)
        with self.tracer.start_as_current_span(
            f"{scope['method']} {path}", context=ctx, kind=SpanKind.SERVER
        ) as span:
            try:
                await self.app(scope, limited_receive, send_with_context)
            except Exception:
                if not too_large:
                    raise
            finally:
                elapsed = time.perf_counter() - start
                route = _route_template(scope)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status_code)
                if status_code >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                if path not in _UNTRACKED:
                    HTTP_REQUESTS.labels(
                        self.service, scope["method"], route, str(status_code)
                    ).inc()
                    HTTP_LATENCY.labels(self.service, scope["method"], route).observe(elapsed)
                    log.info(
                        "http_request",
                        method=scope["method"],
                        path=path,
                        route=route,
                        status=status_code,
                        duration_ms=round(elapsed * 1000, 2),
                    )

    async def _send_too_large(self, send: Send, request_id: str) -> None:
        import orjson

        body = orjson.dumps(
            PayloadTooLarge(f"The body must not exceed {self.max_body_bytes} bytes.").to_problem()
        )
        headers: list[Any] = [
            (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def bind_user(user_id: str) -> None:
    """Adds the authenticated user to every log line of the current request."""
    structlog.contextvars.bind_contextvars(user_id=user_id)
    trace.get_current_span().set_attribute("enduser.id", user_id)
