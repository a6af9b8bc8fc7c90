"""One pure-ASGI middleware for every service: request id, trace span, access log, RED metrics
and the request body limit.

Pure ASGI (not `BaseHTTPMiddleware`) keeps the per-request cost small and streams untouched.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scifikpi_common.errors import PROBLEM_CONTENT_TYPE, PayloadTooLarge
from scifikpi_common.logging import get_logger
from scifikpi_common.metrics import HTTP_LATENCY, HTTP_REQUESTS
from scifikpi_common.tracing import extract_context, server_span, tracer

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
            await _send_too_large(send, request_id, self.max_body_bytes)
            return

        exchange = _Exchange(receive, send, request_id, self.max_body_bytes)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        start = time.perf_counter()
        ctx = extract_context(headers)
        with server_span(self.tracer, f"{scope['method']} {path}", ctx) as span:
            try:
                await self.app(scope, exchange.receive, exchange.send)
            except Exception:
                if not exchange.too_large:
                    raise
            finally:
                self._record(scope, span, exchange.status_code, time.perf_counter() - start)

    def _record(self, scope: Scope, span: Span, status_code: int, elapsed: float) -> None:
        """The request's span attributes, RED metrics and access log line."""
        path: str = scope["path"]
        route = _route_template(scope)
        span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status_code)
        if status_code >= 500:
            span.set_status(Status(StatusCode.ERROR))
        if path in _UNTRACKED:
            return
        HTTP_REQUESTS.labels(self.service, scope["method"], route, str(status_code)).inc()
        HTTP_LATENCY.labels(self.service, scope["method"], route).observe(elapsed)
        log.info(
            "http_request",
            method=scope["method"],
            path=path,
            route=route,
            status=status_code,
            duration_ms=round(elapsed * 1000, 2),
        )


@dataclass
class _Exchange:
    """One request's body count against the limit, and the status the app answered."""

    upstream_receive: Receive
    upstream_send: Send
    request_id: str
    max_body_bytes: int
    received: int = 0
    too_large: bool = False
    status_code: int = 500
    response_started: bool = False

    async def receive(self) -> Message:
        # A streamed body over the limit: answer 413 ourselves and tell the app the client
        # left, whatever framework code sits between us and the route.
        if self.too_large:
            return {"type": "http.disconnect"}
        message = await self.upstream_receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_body_bytes:
                self.too_large = True
                if not self.response_started:
                    await _send_too_large(self.upstream_send, self.request_id, self.max_body_bytes)
                    self.status_code = 413
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.too_large:
            return
        if message["type"] == "http.response.start":
            self.status_code = message["status"]
            self.response_started = True
            message["headers"] = [
                *message.get("headers", []),
                (b"x-request-id", self.request_id.encode()),
            ]
        await self.upstream_send(message)


async def _send_too_large(send: Send, request_id: str, max_body_bytes: int) -> None:
    body = orjson.dumps(
        PayloadTooLarge(f"The body must not exceed {max_body_bytes} bytes.").to_problem()
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
