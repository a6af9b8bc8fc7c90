"""The /api/v1 hot path: route, limit, authenticate, then stream to the upstream and back.

Plain ASGI on purpose: no FastAPI routing, dependency injection or response objects per
request, a lean keep-alive pool per upstream (`gateway.upstream`), bodies streamed in both
directions. Problems (404/405/413/401/403/429/502/503/504) are RFC 9457 documents built
from `scifikpi_common.errors`.

One request, in order (`Proxy.__call__`): read the headers once
(`gateway.forwarding.Incoming`), match the route
table, start the request's span, refuse what must be refused (`_admit`: 404, 405, 413; then the
rate limit and the access check), then `_forward`: the request to the upstream pool, its answer
back to the client. The steps are plain functions and methods so the path stays one coroutine
deep: the only awaits are the limiter, the guard, the upstream and the client.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from scifikpi_common.errors import (
    AppError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from scifikpi_common.logging import get_logger
from scifikpi_common.metrics import HTTP_LATENCY, HTTP_REQUESTS
from scifikpi_common.security import Principal
from scifikpi_common.tracing import tracer, unrecorded_span
from starlette.types import Message, Receive, Scope, Send

from gateway.access import AccessGuard
from gateway.forwarding import (
    BodyTooLarge,
    ClientGone,
    Headers,
    Incoming,
    StreamedBody,
    client_ip,
    response_headers,
    target,
    upstream_headers,
)
from gateway.problems import BadGateway, send_problem
from gateway.ratelimit import Bucket, Decision, RateLimiter
from gateway.routes import Route, RouteMatch, RouteTable
from gateway.upstream import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamPool,
    UpstreamResponse,
    UpstreamTimeoutError,
)

log = get_logger("gateway.proxy")

_SMALL_BODY = 64 * 1024


class Proxy:
    def __init__(
        self,
        *,
        table: RouteTable,
        pools: Mapping[str, UpstreamPool],
        guard: AccessGuard,
        limiter: RateLimiter | None,
        buckets: Mapping[str, Bucket],
        max_body_bytes: int,
        access_log: bool = False,
        record_spans: bool = True,
    ) -> None:
        self.table = table
        self.pools = dict(pools)
        self.guard = guard
        self.limiter = limiter
        self.buckets = buckets
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log
        #: False when no span can leave the process (no OTLP endpoint): `scifikpi_common.tracing`
        self.record_spans = record_spans
        self.tracer = tracer("gateway")
        self._metrics: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        incoming = Incoming(scope["headers"])
        match = self.table.match(method, path)
        route_label = match.route.public_path if match.route else "unmatched"
        span = self._start_span(f"{method} {route_label}", incoming)
        context = _context_headers(incoming.request_id, span)
        status = 500
        try:
            route = self._admit(match, path, incoming)
            if self.limiter is not None:
                bucket = self.buckets[route.rate_group]
                client = client_ip(scope, "-")
                _refuse_if_limited(await self.limiter.hit(route.rate_group, client, bucket))
            principal = await self.guard.principal(route.access, incoming.authorization)
            if principal is not None:
                _identify(span, principal)
            status = await self._forward(
                scope, receive, send, route.service, match.upstream_path, incoming, context
            )
        except AppError as error:
            status = error.status
            _log_problem(error, method, path)
            await send_problem(send, error, instance=path, headers=context[:1])
        except ClientGone:
            status = 499  # nginx's "client closed request"; nothing can be sent
        except Exception:  # a bug of ours: log it, answer a generic problem, never a traceback
            log.exception("gateway_unhandled_error", path=path, method=method)
            status = 500
            internal = InternalError("The gateway failed to handle the request.")
            await send_problem(send, internal, instance=path, headers=context[:1])
        finally:
            _end_span(span, route_label, status)
        self._observe(method, route_label, status, time.perf_counter() - start, path)

    def _start_span(self, name: str, incoming: Incoming) -> Span:
        """One SERVER span per request, parented on the caller's traceparent; its context goes
        to the upstream as the new traceparent. Not made "current" (that costs as much again):
        log lines get the trace id through the structlog context instead. Without an exporter
        the span would be recorded for nobody: an unrecorded one with the same ids is enough."""
        carrier = incoming.trace_carrier()
        parent = propagate.extract(carrier) if carrier else None
        if not self.record_spans:
            return unrecorded_span(parent)
        return self.tracer.start_span(
            name,
            context=parent or otel_context.Context(),
            kind=SpanKind.SERVER,
            record_exception=False,
        )

    def _admit(self, match: RouteMatch, path: str, incoming: Incoming) -> Route:
        """The matched route, or the problem: 404, 405 (with `Allow`), 413 (declared length)."""
        route = match.route
        if route is None:
            if match.allowed:
                allow = ", ".join(sorted(match.allowed))
                raise MethodNotAllowed(f"Use one of: {allow}.", headers={"Allow": allow})
            raise NotFound(f"No API route {path}.")
        length = incoming.content_length
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            raise self._too_large()
        return route

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The body must not exceed {self.max_body_bytes} bytes.")

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        service: str,
        upstream_path: str | None,
        incoming: Incoming,
        context: Headers,
    ) -> int:
        """Streams the exchange; returns the status sent. Raises AppError only before answering."""
        method: str = scope["method"]
        headers = upstream_headers(scope, incoming, context)
        body = self._request_body(await receive(), receive) if incoming.has_body else None
        streamed = body if isinstance(body, StreamedBody) else None
        try:
            resp = await self.pools[service].request(
                method,
                target(scope, upstream_path),
                headers,
                body,
                incoming.content_length if streamed else None,
            )
        except (UpstreamError, BodyTooLarge) as exc:
            if streamed is not None and streamed.too_large:
                raise self._too_large() from None
            raise _upstream_problem(service, exc) from None
        try:
            status = resp.status
            head = {
                "type": "http.response.start",
                "status": status,
                "headers": response_headers(resp.headers, context[0]),
            }
            length = resp.content_length
            content: bytes | None = None  # None: streamed
            if method == "HEAD" or status in (204, 304):
                content = b""
            elif length is not None and length <= _SMALL_BODY:
                try:  # small body: read it all first, so a failure can still be a clean problem
                    content = await resp.read()
                except UpstreamError as exc:
                    raise _upstream_problem(service, exc) from None
            await send(head)
            if content is None:
                await _stream_response(send, resp, service)
            else:
                await send({"type": "http.response.body", "body": content})
            return status
        finally:
            resp.release()

    def _request_body(self, message: Message, receive: Receive) -> bytes | StreamedBody:
        """The whole body when it came in one message, else the stream of its messages."""
        first: bytes = message.get("body", b"")
        if message.get("more_body", False):
            return StreamedBody(first, receive, self.max_body_bytes)
        if len(first) > self.max_body_bytes:
            raise self._too_large()
        return first

    def _observe(self, method: str, route: str, status: int, elapsed: float, path: str) -> None:
        key = (method, route, status)
        children = self._metrics.get(key)
        if children is None:
            children = (
                HTTP_REQUESTS.labels("gateway", method, route, str(status)),
                HTTP_LATENCY.labels("gateway", method, route),
            )
            self._metrics[key] = children
        children[0].inc()
        children[1].observe(elapsed)
        if self.access_log:
            log.info(
                "http_request",
                method=method,
                path=path,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )


def _context_headers(request_id: str, span: Span) -> Headers:
    """X-Request-ID (first: it is echoed to the client too) and the span's trace context for the
    upstream; binds both ids to this request's log lines."""
    sc = span.get_span_context()
    trace_id = f"{sc.trace_id:032x}"
    headers = [
        (b"x-request-id", request_id.encode("latin-1")),
        (b"traceparent", f"00-{trace_id}-{sc.span_id:016x}-{sc.trace_flags:02x}".encode()),
    ]
    if sc.trace_state:
        headers.append((b"tracestate", sc.trace_state.to_header().encode("latin-1")))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)
    return headers


def _refuse_if_limited(decision: Decision) -> None:
    if not decision.allowed:
        raise RateLimited(
            f"Too many requests; retry in {decision.retry_after_s} s.",
            headers={"Retry-After": str(decision.retry_after_s)},
        )


def _identify(span: Span, principal: Principal) -> None:
    user_id = str(principal.user_id)
    structlog.contextvars.bind_contextvars(user_id=user_id)
    span.set_attribute("enduser.id", user_id)


def _log_problem(error: AppError, method: str, path: str) -> None:
    status = error.status
    level = log.warning if status >= 500 or status == 429 else log.info
    level("gateway_problem", status=status, method=method, path=path, detail=error.detail)


def _end_span(span: Span, route_label: str, status: int) -> None:
    span.set_attribute("http.route", route_label)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()


async def _stream_response(send: Send, resp: UpstreamResponse, service: str) -> None:
    """Relays a large or unsized body chunk by chunk. The client already has a status line: if
    the upstream breaks off, all that can be done is to cut the stream; returning without the
    final message makes the server close the connection, so the client sees it broken."""
    try:
        async for chunk in resp.iter_chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except UpstreamError as exc:
        log.warning("upstream_stream_broken", upstream=service, error=repr(exc))
        return
    await send({"type": "http.response.body", "body": b""})


def _upstream_problem(service: str, exc: BaseException) -> AppError:
    if isinstance(exc, UpstreamTimeoutError):
        return UpstreamTimeout(f"The {service} service did not answer in time.")
    if isinstance(exc, UpstreamConnectError):
        return UpstreamUnavailable(
            f"The {service} service is unavailable.", headers={"Retry-After": "1"}
        )
    return BadGateway(f"The {service} service closed the connection or sent an invalid response.")
