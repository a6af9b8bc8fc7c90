"""CORS for the configured frontend origins, as lean ASGI (it wraps every request).

Requests without an `Origin` header (server-to-server, wrk) pass through untouched. A preflight
from an allowed origin answers 204; from any other origin a 403 problem. Request headers asked
for in a preflight are mirrored: the origin allowlist is the control, not the header names.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.problems import CorsRejected, send_problem

ALLOW_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE"
EXPOSE_HEADERS = b"X-Request-ID, Retry-After, Location, WWW-Authenticate"


class Cors:
    def __init__(self, app: ASGIApp, *, allow_origins: Sequence[str], max_age_s: int = 600) -> None:
        self.app = app
        self.allow_all = "*" in allow_origins
        self.allow_origins = frozenset(o.rstrip("/").encode() for o in allow_origins)
        self.max_age = str(max_age_s).encode()

    def allowed(self, origin: bytes) -> bool:
        return self.allow_all or origin in self.allow_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = request_method = request_headers = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                request_method = value
            elif name == b"access-control-request-headers":
                request_headers = value
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and request_method is not None:
            await self._preflight(send, origin, request_method, request_headers, scope["path"])
            return
        if not self.allowed(origin):
            await self.app(scope, receive, send)  # no CORS headers: the browser blocks the read
            return
        extra = [
            (b"access-control-allow-origin", origin),
            (b"access-control-expose-headers", EXPOSE_HEADERS),
            (b"vary", b"Origin"),
        ]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(
        self, send: Send, origin: bytes, method: bytes, headers: bytes | None, path: str
    ) -> None:
        vary = (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
        if not self.allowed(origin) or method.upper() not in ALLOW_METHODS.split(b", "):
            error = CorsRejected(
                f"Origin {origin.decode('latin-1')!r} may not call {method.decode('latin-1')}."
            )
            await send_problem(send, error, instance=path, headers=(vary,))
            return
        out = [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", ALLOW_METHODS),
            (b"access-control-max-age", self.max_age),
            vary,
        ]
        if headers:
            out.append((b"access-control-allow-headers", headers))
        await send({"type": "http.response.start", "status": 204, "headers": out})
        await send({"type": "http.response.body", "body": b""})
