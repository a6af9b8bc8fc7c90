"""The /api/v1 hot path: route, limit, authenticate, then stream to the upstream and back.

Plain ASGI on purpose: no FastAPI routing, dependency injection or response objects per
request, a lean keep-alive pool per upstream (`gateway.upstream`), bodies streamed in both
directions. Problems (404/405/413/401/403/429/502/503/504) are RFC 9457 documents built
from `scifikpi_common.errors`.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode
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
from scifikpi_common.tracing import tracer
from starlette.types import Receive, Scope, Send
from yarl import URL

from gateway.access import AccessGuard
from gateway.problems import BadGateway, send_problem
from gateway.ratelimit import Bucket, RateLimiter
from gateway.routes import API_PREFIX, RouteTable
from gateway.upstream import UpstreamConnectError, UpstreamError, UpstreamPool, UpstreamTimeoutError

log = get_logger("gateway.proxy")

#: Request headers never forwarded as received: hop-by-hop ones (RFC 9110 §7.6.1) and those the
#: gateway sets itself.
_DROP_REQUEST = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
        b"trailer", b"transfer-encoding", b"upgrade", b"host", b"expect", b"content-length",
        b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-prefix",
        b"x-request-id",
        b"traceparent", b"tracestate", b"forwarded",
    }
)  # fmt: skip
_DROP_RESPONSE = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"upgrade",
        b"trailer",
        b"date",
        b"server",
        b"x-request-id",
    }
)
_SMALL_BODY = 64 * 1024
_PREFIX_BYTES = API_PREFIX.encode()


class _BodyTooLarge(Exception):
    pass


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
    ) -> None:
        self.table = table
        self.pools = dict(pools)
        self.guard = guard
        self.limiter = limiter
        self.buckets = buckets
        self.max_body_bytes = max_body_bytes
        self.access_log = access_log
        self.tracer = tracer("gateway")
        self._metrics: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        request_id = ""
        authorization = content_length = None
        chunked = False
        carrier: dict[str, str] | None = None
        forward: list[tuple[bytes, bytes]] = []
        host = b""
        connection: bytes | None = None
        for name, value in scope["headers"]:
            if name in _DROP_REQUEST:
                if name == b"x-request-id":
                    request_id = value.decode("latin-1")
                elif name == b"content-length":
                    content_length = value
                elif name == b"transfer-encoding":
                    chunked = True
                elif name == b"host":
                    host = value
                elif name == b"connection":
                    connection = value
                elif name == b"traceparent" or name == b"tracestate":
                    if carrier is None:
                        carrier = {}
                    carrier[name.decode()] = value.decode("latin-1")
                continue
            if name == b"authorization":
                authorization = value
            forward.append((name, value))
        if connection is not None:  # headers the client marked hop-by-hop (RFC 9110 §7.6.1)
            listed = {t.strip().lower() for t in connection.split(b",")}
            forward = [h for h in forward if h[0] not in listed]
        if not request_id or len(request_id) > 128 or not request_id.isprintable():
            request_id = f"{random.getrandbits(128):032x}"

        match = self.table.match(method, path)
        route = match.route
        route_label = route.public_path if route else "unmatched"
        # One SERVER span per request, parented on the caller's traceparent; its context goes to
        # the upstream as the new traceparent. Not made "current" (that costs as much again):
        # log lines get the trace id through the structlog context instead.
        span = self.tracer.start_span(
            f"{method} {route_label}",
            context=propagate.extract(carrier) if carrier else otel_context.Context(),
            kind=SpanKind.SERVER,
            record_exception=False,
        )
        sc = span.get_span_context()
        trace_id = f"{sc.trace_id:032x}"
        extra = [
            (b"x-request-id", request_id.encode("latin-1")),
            (b"traceparent", f"00-{trace_id}-{sc.span_id:016x}-{sc.trace_flags:02x}".encode()),
        ]
        if sc.trace_state:
            extra.append((b"tracestate", sc.trace_state.to_header().encode("latin-1")))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)
        status = 500
        try:
            if route is None:
                if match.allowed:
                    allow = ", ".join(sorted(match.allowed))
                    raise MethodNotAllowed(f"Use one of: {allow}.", headers={"Allow": allow})
                raise NotFound(f"No API route {path}.")
            if content_length is not None and (
                not content_length.isdigit() or int(content_length) > self.max_body_bytes
            ):
                raise PayloadTooLarge(f"The body must not exceed {self.max_body_bytes} bytes.")
            if self.limiter is not None:
                client = scope.get("client")
                bucket = self.buckets[route.rate_group]
                decision = await self.limiter.hit(
                    route.rate_group, client[0] if client else "-", bucket
                )
                if not decision.allowed:
                    raise RateLimited(
                        f"Too many requests; retry in {decision.retry_after_s} s.",
                        headers={"Retry-After": str(decision.retry_after_s)},
                    )
            principal = await self.guard.principal(route.access, authorization)
            if principal is not None:
                structlog.contextvars.bind_contextvars(user_id=str(principal.user_id))
                span.set_attribute("enduser.id", str(principal.user_id))
            status = await self._forward(
                scope, receive, send, route.service, match.upstream_path, method,
                forward, host, content_length, chunked, extra,
            )  # fmt: skip
        except AppError as error:
            status = error.status
            level = log.warning if status >= 500 or status == 429 else log.info
            level("gateway_problem", status=status, method=method, path=path, detail=error.detail)
            await send_problem(send, error, instance=path, headers=extra[:1])
        except _ClientGone:
            status = 499  # nginx's "client closed request"; nothing can be sent
        except Exception:  # a bug of ours: log it, answer a generic problem, never a traceback
            log.exception("gateway_unhandled_error", path=path, method=method)
            status = 500
            error = InternalError("The gateway failed to handle the request.")
            await send_problem(send, error, instance=path, headers=extra[:1])
        finally:
            span.set_attribute("http.route", route_label)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            span.end()
        self._observe(method, route_label, status, time.perf_counter() - start, path)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        service: str,
        upstream_path: str | None,
        method: str,
        headers: list[tuple[bytes, bytes]],
        host: bytes,
        content_length: bytes | None,
        chunked: bool,
        extra: list[tuple[bytes, bytes]],
    ) -> int:
        """Streams the exchange; returns the status sent. Raises AppError only before answering."""
        if upstream_path is None:
            raw: bytes = scope.get("raw_path") or scope["path"].encode()
            target = (
                raw[len(_PREFIX_BYTES) :]
                if raw.startswith(_PREFIX_BYTES)
                else URL.build(path=scope["path"][len(API_PREFIX) :]).raw_path.encode()
            )
        else:
            target = upstream_path.encode()
        query: bytes = scope["query_string"]
        if query:
            target += b"?" + query
        client = scope.get("client")
        headers.extend(extra)
        headers.append((b"x-forwarded-for", client[0].encode() if client else b""))
        headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        headers.append((b"x-forwarded-prefix", _PREFIX_BYTES))  # what the upstream path lost
        if host:
            headers.append((b"x-forwarded-host", host))

        too_large = False
        data: bytes | AsyncIterator[bytes] | None = None
        stream_length = None
        if content_length is not None and content_length != b"0" or chunked:
            message = await receive()
            first: bytes = message.get("body", b"")
            if not message.get("more_body", False):
                if len(first) > self.max_body_bytes:
                    raise PayloadTooLarge(f"The body must not exceed {self.max_body_bytes} bytes.")
                data = first
            else:
                stream_length = content_length

                async def body() -> AsyncIterator[bytes]:
                    nonlocal too_large
                    size = len(first)
                    yield first
                    while True:
                        msg = await receive()
                        if msg["type"] == "http.disconnect":
                            raise _ClientGone
                        chunk = msg.get("body", b"")
                        size += len(chunk)
                        if size > self.max_body_bytes:
                            too_large = True
                            raise _BodyTooLarge
                        if chunk:
                            yield chunk
                        if not msg.get("more_body", False):
                            return

                data = body()

        try:
            resp = await self.pools[service].request(method, target, headers, data, stream_length)
        except (UpstreamError, _BodyTooLarge) as exc:
            if too_large:
                raise PayloadTooLarge(
                    f"The body must not exceed {self.max_body_bytes} bytes."
                ) from None
            raise _upstream_problem(service, exc) from None
        try:
            status = resp.status
            out = [h for h in resp.headers if h[0] not in _DROP_RESPONSE]
            out.append(extra[0])  # x-request-id
            length = resp.content_length
            if method == "HEAD" or status in (204, 304):
                body_bytes = b""
            elif length is not None and length <= _SMALL_BODY:
                try:  # small body: read it all first, so a failure can still be a clean problem
                    body_bytes = await resp.read()
                except UpstreamError as exc:
                    raise _upstream_problem(service, exc) from None
            else:
                body_bytes = None
            await send({"type": "http.response.start", "status": status, "headers": out})
            if body_bytes is not None:
                await send({"type": "http.response.body", "body": body_bytes})
                return status
            try:
                async for chunk in resp.iter_chunks():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except UpstreamError as exc:
                # The client already has a status line: all we can do is cut the stream. Returning
                # without finishing makes the server close the connection, so it is seen as broken.
                log.warning("upstream_stream_broken", upstream=service, error=repr(exc))
                return status
            await send({"type": "http.response.body", "body": b""})
            return status
        finally:
            resp.release()

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
                "http_request", method=method, path=path, route=route, status=status,
                duration_ms=round(elapsed * 1000, 2),
            )  # fmt: skip


class _ClientGone(Exception):
    """The client disconnected while its body was being streamed."""


def _upstream_problem(service: str, exc: BaseException) -> AppError:
    if isinstance(exc, UpstreamTimeoutError):
        return UpstreamTimeout(f"The {service} service did not answer in time.")
    if isinstance(exc, UpstreamConnectError):
        return UpstreamUnavailable(
            f"The {service} service is unavailable.", headers={"Retry-After": "1"}
        )
    return BadGateway(f"The {service} service closed the connection or sent an invalid response.")
