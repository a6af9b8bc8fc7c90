"""CORS for the configured frontend origin, including preflight."""

from __future__ import annotations

import httpx

ORIGIN = "http://localhost:4200"


async def test_preflight_from_allowed_origin(gateway: str, client: httpx.AsyncClient) -> None:
    r = await client.options(
        f"{gateway}/api/v1/auth/login",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    assert (
        r.headers["access-control-allow-headers"] == "authorization, content-type, idempotency-key"
    )
    assert int(r.headers["access-control-max-age"]) > 0


async def test_preflight_from_other_origin_is_refused(
    gateway: str, client: httpx.AsyncClient
) -> None:
    r = await client.options(
        f"{gateway}/api/v1/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert "access-control-allow-origin" not in r.headers


async def test_simple_request_gets_cors_headers(gateway: str, client: httpx.AsyncClient) -> None:
    r = await client.get(f"{gateway}/api/v1/.well-known/jwks.json", headers={"Origin": ORIGIN})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "X-Request-ID" in r.headers["access-control-expose-headers"]

    r = await client.get(f"{gateway}/api/v1/nope", headers={"Origin": ORIGIN})  # problems too
    assert r.status_code == 404
    assert r.headers["access-control-allow-origin"] == ORIGIN

    r = await client.get(
        f"{gateway}/api/v1/.well-known/jwks.json", headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in r.headers
