"""Rate limits as attacks meet them (test_limits.py has the basics: 413, 429, Redis, fallback).

The e2e stack lifts the limits, so they are tested here, on a real gateway under uvicorn. The
forwarded-header tests serve it with the options `gateway-api` itself passes to uvicorn
(captured from `gateway.main.run_api`), since whether X-Forwarded-For is believed is decided
there, not in the app.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from gateway import main
from gateway.app import create_app
from gateway.ratelimit import Bucket, MemoryRateLimiter
from gateway.settings import GatewaySettings

JWKS = "/api/v1/.well-known/jwks.json"
#: what the `keys` fixture signs and the test upstreams' JWKS serves (conftest.py)
ISSUER, AUDIENCE = "scifikpi-auth", "scifikpi"


def production_uvicorn_options(settings: GatewaySettings, monkeypatch: Any) -> dict[str, Any]:
    """The keyword arguments `gateway-api` hands to uvicorn.run for these settings."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(main, "get_settings", lambda: settings)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    main.run_api()
    return seen


@asynccontextmanager
async def serve_as_in_production(
    settings: GatewaySettings, upstreams: Any, routes: Any, monkeypatch: Any
) -> AsyncIterator[str]:
    options = production_uvicorn_options(settings, monkeypatch)
    app = create_app(settings, routes=routes, upstreams=upstreams.table())
    config = uvicorn.Config(
        app, lifespan="on", log_config=None, access_log=False,
        proxy_headers=options["proxy_headers"], forwarded_allow_ips=options["forwarded_allow_ips"],
    )  # fmt: skip
    server = uvicorn.Server(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "the gateway stopped during startup"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def settings_for(upstreams: Any, **values: Any) -> GatewaySettings:
    return GatewaySettings(
        **{
            "environment": "test",
            "log_format": "console",
            "redis_url": None,
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
            "gc_tune": False,
            "jwks_url": upstreams.auth + "/.well-known/jwks.json",
            "openapi_cache_s": 0,
        }  # fmt: skip
        | values
    )


async def test_a_spoofed_forwarded_for_buys_no_fresh_bucket(
    upstreams: Any, test_routes: Any, client: httpx.AsyncClient, monkeypatch: Any
) -> None:
    settings = settings_for(upstreams, rate_limit_auth_requests=3)
    async with serve_as_in_production(settings, upstreams, test_routes, monkeypatch) as gw:
        statuses = []
        for i in range(5):
            r = await client.post(
                f"{gw}/api/v1/auth/login", json={"email": "a@b.c", "password": "x"},
                headers={"X-Forwarded-For": f"198.51.100.{i}", "Forwarded": f"for=198.51.100.{i}"},
            )  # fmt: skip
            statuses.append(r.status_code)
            if r.status_code == 200:  # nor does the upstream believe it (auth's login throttle)
                assert r.json()["headers"]["x-forwarded-for"] == "127.0.0.1", r.json()
                assert "forwarded" not in r.json()["headers"]
    assert statuses == [200, 200, 200, 429, 429]


async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(
    upstreams: Any, test_routes: Any, client: httpx.AsyncClient, monkeypatch: Any
) -> None:
    settings = settings_for(upstreams, rate_limit_auth_requests=2, trusted_proxy_ips="127.0.0.1")

    async def login(forwarded_for: str) -> httpx.Response:
        return await client.post(f"{gw}/api/v1/auth/login", json={"email": "a@b.c", "password": "x"},
                                 headers={"X-Forwarded-For": forwarded_for})  # fmt: skip

    async with serve_as_in_production(settings, upstreams, test_routes, monkeypatch) as gw:
        first = await login("203.0.113.7")
        assert first.json()["headers"]["x-forwarded-for"] == "203.0.113.7"  # the real client
        assert (await login("203.0.113.7")).status_code == 200
        assert (await login("203.0.113.7")).status_code == 429
        # a forged entry prepended by the client: the proxy's own (last) entry is the client
        assert (await login("198.51.100.9, 203.0.113.7")).status_code == 429
        assert (await login("203.0.113.8")).status_code == 200  # another client is not blocked


async def test_every_credential_endpoint_shares_the_strict_bucket(start_gateway: Any) -> None:
    gw = await start_gateway(rate_limit_auth_requests=3, rate_limit_requests=100)
    body = {"email": "a@b.c", "password": "x"}
    async with httpx.AsyncClient(timeout=10) as c:
        answers = [
            await c.post(f"{gw}/api/v1/auth/login", json=body),
            await c.post(f"{gw}/api/v1/auth/register", json=body),
            await c.post(f"{gw}/api/v1/auth/refresh", json={"refresh_token": "x"}),
            await c.post(f"{gw}/api/v1/auth/%6Cogin", json=body),  # /auth/login, encoded
            await c.post(f"{gw}/api/v1/auth/refresh", json={"refresh_token": "y"}),
        ]
        assert [r.status_code for r in answers][3:] == [429, 429]
        assert all(r.status_code != 429 for r in answers[:3])
        assert answers[3].json()["type"] == "urn:scifikpi:problem:rate-limited"
        # the default bucket is apart: the rest of the API still answers
        assert (await c.get(f"{gw}{JWKS}")).status_code == 200


async def test_bad_tokens_are_limited_before_they_are_checked(
    start_gateway: Any, keys: Any
) -> None:
    gw = await start_gateway(rate_limit_requests=3)
    async with httpx.AsyncClient(timeout=10) as c:
        guesses = [
            (await c.get(f"{gw}/api/v1/auth/me", headers={"Authorization": f"Bearer guess{i}"}))
            for i in range(3)
        ]
        assert [r.status_code for r in guesses] == [401, 401, 401]
        r = await c.get(f"{gw}/api/v1/auth/me", headers={"Authorization": f"Bearer {keys.token()}"})
        assert r.status_code == 429  # the guesses counted: brute force costs the same as use
        assert r.headers["content-type"] == "application/problem+json"


async def test_provider_webhooks_have_their_own_bucket(start_gateway: Any) -> None:
    gw = await start_gateway(rate_limit_requests=2, rate_limit_webhook_requests=3)
    async with httpx.AsyncClient(timeout=10) as c:
        assert [(await c.get(f"{gw}{JWKS}")).status_code for _ in range(3)] == [200, 200, 429]
        hooks = [
            (await c.post(f"{gw}/api/v1/payments/webhooks/stripe", content=b"{}")).status_code
            for _ in range(4)
        ]
        # a user flood from the provider's address does not stop its webhooks, nor the reverse
        assert all(s != 429 for s in hooks[:3]) and hooks[3] == 429, hooks


def test_rejected_requests_are_not_counted() -> None:
    """A client hammering through its 429s is judged as if it had waited."""
    bucket = Bucket(limit=5, window_s=10)
    quiet, noisy = MemoryRateLimiter(), MemoryRateLimiter()
    for limiter in (quiet, noisy):
        assert all(limiter.hit_now("g", "c", bucket, 1000.0).allowed for _ in range(5))
    for i in range(200):
        assert not noisy.hit_now("g", "c", bucket, 1000.0 + i * 0.05).allowed
    for t in (1010.0, 1012.5, 1015.0, 1020.0):
        assert quiet.hit_now("g", "c", bucket, t) == noisy.hit_now("g", "c", bucket, t)


def test_a_client_that_honours_retry_after_gets_in() -> None:
    for limit, window_s in ((2, 1), (30, 60), (600, 60)):
        bucket = Bucket(limit=limit, window_s=window_s)
        for start in (1000.0, 1000.25 * window_s):
            limiter = MemoryRateLimiter()
            for _ in range(limit):
                assert limiter.hit_now("g", "c", bucket, start).allowed
            refused = limiter.hit_now("g", "c", bucket, start)
            assert not refused.allowed
            later = limiter.hit_now("g", "c", bucket, start + refused.retry_after_s)
            assert later.allowed, (limit, window_s, start, refused.retry_after_s)
