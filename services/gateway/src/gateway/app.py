"""The gateway ASGI application: /api/* goes to the lean proxy, everything else to the meta app.

Resources (the pooled aiohttp session, JWKS cache, rate limiter, Redis client) are created in
the ASGI lifespan and closed on shutdown, never at import.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import aiohttp
from scifikpi_common.errors import UpstreamUnavailable
from scifikpi_common.logging import configure_logging, get_logger
from scifikpi_common.middleware import RequestContextMiddleware
from scifikpi_common.security import JwksCache, TokenVerifier
from scifikpi_common.tracing import configure_tracing
from starlette.types import Receive, Scope, Send

from gateway.access import AccessGuard
from gateway.cors import Cors
from gateway.meta import create_meta_app, gateway_spec
from gateway.openapi import OpenApiAggregator
from gateway.problems import send_problem
from gateway.proxy import Proxy
from gateway.ratelimit import Bucket, RateLimiter, create_rate_limiter
from gateway.routes import (
    AUTH_GROUP,
    DEFAULT_GROUP,
    ROUTES,
    UPSTREAMS,
    WEBHOOK_GROUP,
    Route,
    RouteTable,
    Upstream,
)
from gateway.settings import GatewaySettings, get_settings
from gateway.upstream import UpstreamPool

log = get_logger(__name__)


def _session() -> aiohttp.ClientSession:
    """For the gateway's own calls off the hot path: JWKS, upstream OpenAPI, readiness probes."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=32, ttl_dns_cache=60),
        timeout=aiohttp.ClientTimeout(total=5),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


def _jwks_fetcher(session: aiohttp.ClientSession, url: str) -> Any:
    timeout = aiohttp.ClientTimeout(total=5)

    async def fetch() -> dict[str, Any]:
        async with session.get(url, timeout=timeout) as resp:
            resp.raise_for_status()
            return await resp.json(content_type=None)

    return fetch


def _health_check(session: aiohttp.ClientSession, url: str) -> Any:
    timeout = aiohttp.ClientTimeout(total=2)

    async def check() -> None:
        async with session.get(url, timeout=timeout) as resp:
            if resp.status != 200:
                raise ConnectionError(f"{url} answered {resp.status}")

    return check


class GatewayApp:
    def __init__(
        self,
        settings: GatewaySettings,
        *,
        upstreams: Sequence[Upstream] = UPSTREAMS,
        routes: Sequence[Route] = ROUTES,
    ) -> None:
        self.settings = settings
        self.routes = list(routes)
        self.table = RouteTable(self.routes)
        known = {u.name: u for u in upstreams}
        unknown = self.table.services() - known.keys()
        if unknown:
            raise ValueError(f"routes name services without an upstream entry: {sorted(unknown)}")
        self.upstreams = [u for u in upstreams if u.name in self.table.services()]
        self.upstream_urls = {
            u.name: settings.upstream_url(u.name, u.default_url) for u in self.upstreams
        }
        self.meta_app = create_meta_app()
        self.meta = RequestContextMiddleware(
            self.meta_app, service=settings.service_name, max_body_bytes=settings.max_body_bytes
        )
        self.http = Cors(
            self._dispatch,
            allow_origins=settings.cors_allow_origins,
            max_age_s=settings.cors_max_age_s,
        )
        self.proxy: Proxy | None = None
        self.session: aiohttp.ClientSession | None = None
        self.limiter: RateLimiter | None = None
        self.pools: dict[str, UpstreamPool] = {}

    @property
    def jwks_url(self) -> str:
        """JWKS_URL when set, else the auth upstream's own JWKS (so one URL setting suffices)."""
        if "jwks_url" in self.settings.model_fields_set or "auth" not in self.upstream_urls:
            return self.settings.jwks_url
        return self.upstream_urls["auth"] + "/.well-known/jwks.json"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:  # websockets are not proxied
            await send({"type": "websocket.close", "code": 1008})

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith("/api/"):
            if self.proxy is None:
                await send_problem(
                    send, UpstreamUnavailable("The gateway is starting."), instance=scope["path"]
                )
                return
            await self.proxy(scope, receive, send)
        else:
            await self.meta(scope, receive, send)

    async def startup(self) -> None:
        s = self.settings
        session = self.session = _session()
        verifier = TokenVerifier(
            JwksCache(_jwks_fetcher(session, self.jwks_url)),
            issuer=s.jwt_issuer,
            audience=s.jwt_audience,
            cache_size=s.token_cache_size,
        )
        if s.rate_limit_enabled:
            self.limiter = create_rate_limiter(s.redis_url, s.rate_limit_key_prefix)
        buckets = {
            DEFAULT_GROUP: Bucket(s.rate_limit_requests, s.rate_limit_window_s),
            AUTH_GROUP: Bucket(s.rate_limit_auth_requests, s.rate_limit_auth_window_s),
            WEBHOOK_GROUP: Bucket(s.rate_limit_webhook_requests, s.rate_limit_webhook_window_s),
        }
        self.meta_app.state.openapi = OpenApiAggregator(
            session,
            self.upstreams,
            self.upstream_urls,
            self.routes,
            cache_s=s.openapi_cache_s,
            gateway_spec=lambda: gateway_spec(self.meta_app),
        )
        self.meta_app.state.readiness_checks = {
            u.name: _health_check(session, self.upstream_urls[u.name] + u.health_path)
            for u in self.upstreams
        }
        self.pools = {
            name: UpstreamPool(
                url,
                size=s.upstream_pool_size,
                connect_timeout_s=s.upstream_connect_timeout_s,
                read_timeout_s=s.upstream_timeout_s,
                idle_s=s.upstream_idle_s,
            )
            for name, url in self.upstream_urls.items()
        }
        self.proxy = Proxy(
            table=self.table,
            pools=self.pools,
            guard=AccessGuard(verifier),
            limiter=self.limiter,
            buckets=buckets,
            max_body_bytes=s.max_body_bytes,
            access_log=s.access_log,
            record_spans=bool(s.otlp_endpoint),  # configure_tracing exports only then
        )
        if s.gc_tune:
            # Everything alive now (modules, FastAPI/pydantic objects) lives as long as the process;
            # frozen, it is skipped by full collections, which otherwise pause for tens of ms.
            gc.collect()
            gc.freeze()
        log.info(
            "gateway_started",
            upstreams=self.upstream_urls,
            redis=bool(s.redis_url and self.limiter),
        )

    async def shutdown(self) -> None:
        self.proxy = None
        for pool in self.pools.values():
            await pool.close()
        if self.limiter is not None:
            await self.limiter.close()
        if self.session is not None:
            await self.session.close()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("gateway_startup_failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: GatewaySettings | None = None, **kwargs: Any) -> GatewayApp:
    """Factory for uvicorn (`--factory`) and tests."""
    settings = settings or get_settings()
    configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
    configure_tracing(settings.service_name, settings.otlp_endpoint)
    return GatewayApp(settings, **kwargs)
