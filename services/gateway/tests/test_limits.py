"""Body size (413) and rate limits (429), in-process and in Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import redis.asyncio as redis

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_declared_oversized_body_is_413(gateway: str, client: httpx.AsyncClient) -> None:
    r = await client.post(f"{gateway}/api/v1/auth/upload", content=b"x" * 2048)  # limit 1024
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:scifikpi:problem:payload-too-large"


async def test_streamed_oversized_body_is_413(gateway: str, client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"x" * 400

    r = await client.post(f"{gateway}/api/v1/auth/upload", content=chunks())  # chunked, no length
    assert r.status_code == 413
    assert r.json()["type"] == "urn:scifikpi:problem:payload-too-large"


async def test_in_process_rate_limit(start_gateway, client: httpx.AsyncClient) -> None:
    gw = await start_gateway(rate_limit_requests=3, rate_limit_auth_requests=2)
    statuses = [
        (await client.get(f"{gw}/api/v1/.well-known/jwks.json")).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    r = await client.get(f"{gw}/api/v1/.well-known/jwks.json")
    assert r.status_code == 429
    assert r.json()["type"] == "urn:scifikpi:problem:rate-limited"
    # the window ends within 60 s, then this window's 3 still weigh in for up to 60/3 s more
    assert 1 <= int(r.headers["retry-after"]) <= 80

    # the stricter auth bucket is counted apart
    logins = [
        (
            await client.post(f"{gw}/api/v1/auth/login", json={"email": "a@b.c", "password": "x"})
        ).status_code
        for _ in range(3)
    ]
    assert logins == [200, 200, 429]


async def test_redis_rate_limit_is_shared_by_replicas(
    start_gateway, client: httpx.AsyncClient, redis_prefix: str
) -> None:
    settings = {
        "redis_url": REDIS_URL,
        "rate_limit_key_prefix": redis_prefix,
        "rate_limit_requests": 4,
    }
    one, two = await start_gateway(**settings), await start_gateway(**settings)
    statuses = [
        (await client.get(f"{gw}/api/v1/.well-known/jwks.json")).status_code
        for gw in (one, two, one, two, one, two)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]
    r = await client.get(f"{two}/api/v1/.well-known/jwks.json")
    assert int(r.headers["retry-after"]) >= 1
    stored = [k async for k in redis.from_url(REDIS_URL).scan_iter(f"{redis_prefix}*")]
    assert stored  # the counters really live in Redis


async def test_redis_down_falls_back_to_in_process(
    start_gateway, upstreams, client: httpx.AsyncClient
) -> None:
    nothing_there = upstreams.down.replace("http://", "redis://") + "/0"  # a closed port
    gw = await start_gateway(redis_url=nothing_there, rate_limit_requests=2)
    statuses = [
        (await client.get(f"{gw}/api/v1/.well-known/jwks.json")).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
