"""Gateway test fixtures: real upstream HTTP servers and the gateway, each under uvicorn on a
free loopback port in this process. Nothing in the HTTP path is mocked.

The upstreams stand in for services: `auth` (FastAPI; JWKS of a freshly generated Ed25519 key,
echo endpoints, a slow one, a streaming one, an internal route the table does not expose) and
`payments` (FastAPI; its OpenAPI document clashes with auth's on one component name).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
import redis.asyncio as redis
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from gateway.app import create_app
from gateway.routes import ADMIN, AUTH_GROUP, PUBLIC, ROUTES, USER, Route, Upstream
from gateway.server import CoalescingHttpToolsProtocol
from gateway.settings import GatewaySettings
from pydantic import BaseModel

ISSUER = "scifikpi-auth"
AUDIENCE = "scifikpi"


@asynccontextmanager
async def serve(app: Any, *, http: Any = "auto") -> AsyncIterator[str]:
    """Runs an ASGI app under uvicorn on a free port; yields its base URL. The gateway runs
    with the HTTP protocol `gateway-api` gives uvicorn (`gateway.server`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", timeout_keep_alive=5, http=http
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped during startup")
        if time.monotonic() > deadline:
            raise TimeoutError("server did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def closed_port() -> int:
    """A port nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Keys:
    private: Ed25519PrivateKey
    kid: str

    def jwk(self) -> dict[str, str]:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
            "x": x,
        }

    def token(
        self, role: str = "user", *, ttl_s: int = 300, kid: str | None = None, **overrides: Any
    ) -> str:
        now = int(time.time())
        claims = {
            "sub": str(uuid.uuid4()),
            "role": role,
            "status": "active",
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
        } | overrides
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": kid or self.kid})


class LoginIn(BaseModel):
    email: str
    password: str


class Problem(BaseModel):
    """auth's own `Problem` (clashes with payments' on purpose)."""

    type: str
    title: str


class PaymentProblem(BaseModel):
    code: int


async def _echo(request: Request) -> dict[str, Any]:
    body = await request.body()
    return {
        "method": request.method,
        "path": request.url.path,
        "raw_path": request.scope.get("raw_path", b"").decode(),
        "query": request.url.query,
        "headers": {k: v for k, v in request.headers.items()},
        "body_size": len(body),
        "body": body[:200].decode("utf-8", "replace"),
    }


def auth_upstream(keys: Keys) -> FastAPI:
    app = FastAPI(title="auth (test upstream)")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        return {"keys": [keys.jwk()]}

    _add_echo_routes(app)
    _add_odd_routes(app)
    return app


def _add_echo_routes(app: FastAPI) -> None:
    """Routes that answer what they received (`_echo`), public, user and admin ones."""

    @app.post("/auth/login", responses={401: {"model": Problem}})
    async def login(body: LoginIn, request: Request) -> dict[str, Any]:
        return await _echo(request)

    @app.post("/auth/register")
    async def register(request: Request) -> dict[str, Any]:
        return await _echo(request)

    @app.get("/auth/me")
    async def me(request: Request) -> dict[str, Any]:
        return await _echo(request)

    @app.post("/auth/upload")
    async def upload(request: Request) -> dict[str, Any]:
        return await _echo(request)

    @app.get("/auth/items/{item_id}")
    async def item(item_id: str, request: Request) -> dict[str, Any]:
        return {"item_id": item_id, **await _echo(request)}

    @app.get("/admin/things")
    async def admin_things(request: Request) -> dict[str, Any]:
        return await _echo(request)


def _add_odd_routes(app: FastAPI) -> None:
    """A slow route, a streamed one, a large one, and one the route table does not expose."""

    @app.get("/auth/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(3)
        return {"status": "late"}

    @app.get("/auth/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"chunk-{i};".encode()
                await asyncio.sleep(0.3)

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/auth/big")
    async def big() -> JSONResponse:
        return JSONResponse({"data": "x" * 200_000})

    @app.get("/internal/secret")
    async def secret() -> dict[str, str]:
        return {"secret": "never through the gateway"}


def payments_upstream() -> FastAPI:
    app = FastAPI(title="payments (test upstream)")

    class Problem(BaseModel):  # same name as auth's, different shape
        code: int
        message: str

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/payments/{payment_id}", responses={404: {"model": Problem}})
    async def get_payment(payment_id: str, request: Request) -> dict[str, Any]:
        return {"payment_id": payment_id, **await _echo(request)}

    return app


#: The production routes of the two upstreams served here (auth, payments) plus test-only ones.
TEST_ROUTES: tuple[Route, ...] = (
    *(r for r in ROUTES if r.service in {"auth", "payments"}),
    Route("auth", "POST", "/auth/upload", PUBLIC),
    Route("auth", "GET", "/auth/items/{item_id}", PUBLIC),
    Route("auth", "GET", "/auth/slow", PUBLIC),
    Route("auth", "GET", "/auth/stream", PUBLIC),
    Route("auth", "GET", "/auth/big", PUBLIC),
    Route("auth", "GET", "/admin/things", ADMIN),
    Route(
        "auth",
        "GET",
        "/auth/renamed/{item_id}",
        USER,
        AUTH_GROUP,
        upstream_path="/auth/items/{item_id}",
    ),
    Route("payments", "GET", "/payments/{payment_id}", USER),
    Route("down", "GET", "/down/thing", PUBLIC),
)


@dataclass
class Upstreams:
    auth: str
    payments: str
    down: str

    def table(self) -> tuple[Upstream, ...]:
        return (
            Upstream("auth", self.auth),
            Upstream("payments", self.payments),
            Upstream("down", self.down),
        )


@pytest.fixture(scope="session")
def test_routes() -> tuple[Route, ...]:
    return TEST_ROUTES


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(Ed25519PrivateKey.generate(), kid=f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
async def upstreams(keys: Keys) -> AsyncIterator[Upstreams]:
    async with serve(auth_upstream(keys)) as auth, serve(payments_upstream()) as payments:
        yield Upstreams(auth, payments, f"http://127.0.0.1:{closed_port()}")


GatewayFactory = Callable[..., Awaitable[str]]


@pytest.fixture
async def start_gateway(upstreams: Upstreams) -> AsyncIterator[GatewayFactory]:
    """`await start_gateway(routes=..., **settings)` -> base URL; stopped after the test."""
    stack: list[Any] = []

    async def start(
        *,
        routes: tuple[Route, ...] = TEST_ROUTES,
        upstream_table: tuple[Upstream, ...] | None = None,
        **values: Any,
    ) -> str:
        settings = GatewaySettings(
            **{
                "environment": "test",
                "log_format": "console",
                "redis_url": None,
                "jwt_issuer": ISSUER,
                "jwt_audience": AUDIENCE,
                "jwks_url": upstreams.auth + "/.well-known/jwks.json",
                "gc_tune": False,
                "upstream_timeout_s": 1.0,
                "max_body_bytes": 1024,
                "openapi_cache_s": 0,
                "cors_allow_origins": ["http://localhost:4200"],
            }
            | values
        )
        app = create_app(settings, routes=routes, upstreams=upstream_table or upstreams.table())
        cm = serve(app, http=CoalescingHttpToolsProtocol)
        url = await cm.__aenter__()
        stack.append(cm)
        return url

    yield start
    for cm in reversed(stack):
        await cm.__aexit__(None, None, None)


@pytest.fixture
async def gateway(start_gateway: GatewayFactory) -> str:
    return await start_gateway()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A fresh key prefix in the Redis here; its keys (in databases 0 and 5) go afterwards."""
    client = redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception:  # pragma: no cover - Redis runs on this machine and in CI
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    await client.aclose()
    prefix = f"test-gw-{uuid.uuid4().hex}:"
    yield prefix
    for db in (0, 5):
        c = redis.from_url(f"redis://127.0.0.1:6379/{db}")
        keys = [k async for k in c.scan_iter(f"{prefix}*")]
        if keys:
            await c.delete(*keys)
        await c.aclose()
