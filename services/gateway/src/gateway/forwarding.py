"""What the proxy forwards, both ways: the request headers read in one pass, the X-Forwarded-*
set, the upstream's request target, a request body streamed within the limit, and the response
headers the client gets.

Plain functions on bytes, called once per request from `gateway.proxy`; nothing here awaits
except the body stream, which the upstream pool drives.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable

from starlette.types import Receive, Scope
from yarl import URL

from gateway.routes import API_PREFIX

#: Request headers never forwarded as received: hop-by-hop ones (RFC 9110 §7.6.1) and those the
#: gateway sets itself.
DROP_REQUEST = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"expect",
        b"content-length",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-prefix",
        b"x-forwarded-port",
        b"x-real-ip",  # a client's claim of its own address: the gateway says it (X-Forwarded-For)
        b"x-request-id",
        b"traceparent",
        b"tracestate",
        b"forwarded",
    }
)
DROP_RESPONSE = frozenset(
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
PREFIX_BYTES = API_PREFIX.encode()
REQUEST_ID_MAX = 128

Headers = list[tuple[bytes, bytes]]


class BodyTooLarge(Exception):
    """The streamed request body went past the limit."""


class ClientGone(Exception):
    """The client disconnected while its body was being streamed."""


class Incoming:
    """A request's headers, read in one pass: those to forward, and the few the gateway uses."""

    __slots__ = (
        "authorization",
        "chunked",
        "content_length",
        "forward",
        "host",
        "request_id",
        "traceparent",
        "tracestate",
    )

    def __init__(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        request_id = authorization = content_length = connection = None
        traceparent = tracestate = None
        chunked = False
        host = b""
        forward: Headers = []
        for name, value in headers:
            if name in DROP_REQUEST:
                if name == b"x-request-id":
                    request_id = value
                elif name == b"content-length":
                    content_length = value
                elif name == b"transfer-encoding":
                    chunked = True
                elif name == b"host":
                    host = value
                elif name == b"connection":
                    connection = value
                elif name == b"traceparent":
                    traceparent = value
                elif name == b"tracestate":
                    tracestate = value
                continue
            if name == b"authorization":
                authorization = value
            forward.append((name, value))
        self.forward = forward if connection is None else _without_listed(forward, connection)
        self.request_id = _request_id(request_id)
        self.authorization: bytes | None = authorization
        self.content_length: bytes | None = content_length
        self.chunked = chunked
        self.host: bytes = host
        self.traceparent: bytes | None = traceparent
        self.tracestate: bytes | None = tracestate

    @property
    def has_body(self) -> bool:
        return self.content_length is not None and self.content_length != b"0" or self.chunked

    def trace_carrier(self) -> dict[str, str] | None:
        """The caller's trace context, for `propagate.extract` (None: a new trace)."""
        if self.traceparent is None and self.tracestate is None:
            return None
        carrier = {}
        if self.traceparent is not None:
            carrier["traceparent"] = self.traceparent.decode("latin-1")
        if self.tracestate is not None:
            carrier["tracestate"] = self.tracestate.decode("latin-1")
        return carrier


def _without_listed(headers: Headers, connection: bytes) -> Headers:
    """Drops the headers the client marked hop-by-hop in `Connection` (RFC 9110 §7.6.1)."""
    listed = {t.strip().lower() for t in connection.split(b",")}
    return [h for h in headers if h[0] not in listed]


def _request_id(received: bytes | None) -> str:
    """The caller's X-Request-ID when it is short and printable, else a new random one."""
    if received:
        request_id = received.decode("latin-1")
        if len(request_id) <= REQUEST_ID_MAX and request_id.isprintable():
            return request_id
    return f"{random.getrandbits(128):032x}"


def client_ip(scope: Scope, default: str) -> str:
    client = scope.get("client")
    return client[0] if client else default


def upstream_headers(scope: Scope, incoming: Incoming, context: Headers) -> Headers:
    """The forwarded headers plus the request and trace ids and the X-Forwarded-* set."""
    headers = incoming.forward
    headers.extend(context)
    headers.append((b"x-forwarded-for", client_ip(scope, "").encode()))
    headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
    headers.append((b"x-forwarded-prefix", PREFIX_BYTES))  # what the upstream path lost
    if incoming.host:
        headers.append((b"x-forwarded-host", incoming.host))
    return headers


def target(scope: Scope, upstream_path: str | None) -> bytes:
    """The upstream's request target: the raw path minus /api/v1 (or the route's renamed path),
    then the query string as received."""
    if upstream_path is None:
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        path = (
            raw[len(PREFIX_BYTES) :]
            if raw.startswith(PREFIX_BYTES)
            else URL.build(path=scope["path"][len(API_PREFIX) :]).raw_path.encode()
        )
    else:
        path = upstream_path.encode()
    query: bytes = scope["query_string"]
    return path + b"?" + query if query else path


def response_headers(
    received: Iterable[tuple[bytes, bytes]], request_id: tuple[bytes, bytes]
) -> Headers:
    """The upstream's response headers minus hop-by-hop ones, plus the gateway's X-Request-ID."""
    out = [h for h in received if h[0] not in DROP_RESPONSE]
    out.append(request_id)
    return out


class StreamedBody:
    """A request body that arrives in several ASGI messages, relayed chunk by chunk and never
    past the limit; `too_large` tells the proxy why the upstream call failed."""

    __slots__ = ("first", "limit", "receive", "too_large")

    def __init__(self, first: bytes, receive: Receive, limit: int) -> None:
        self.first = first
        self.receive = receive
        self.limit = limit
        self.too_large = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = len(self.first)
        yield self.first
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                self.too_large = True
                raise BodyTooLarge
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
