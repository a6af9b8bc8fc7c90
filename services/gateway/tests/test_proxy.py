"""Proxying through real servers: routing, headers, streaming both ways, upstream failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from gateway.routes import Route

GatewayFactory = Callable[..., Awaitable[str]]

PROBLEM = "application/problem+json"


async def test_forwards_request_and_strips_api_prefix(
    gateway: str, client: httpx.AsyncClient
) -> None:
    r = await client.post(
        f"{gateway}/api/v1/auth/login?next=%2Fhome&x=1",
        json={"email": "a@example.com", "password": "pw"},
        headers={"X-Custom": "kept", "Connection": "keep-alive, X-Hop", "X-Hop": "dropped"},
    )
    assert r.status_code == 200
    seen = r.json()
    assert seen["path"] == "/auth/login"
    assert seen["query"] == "next=%2Fhome&x=1"
    assert seen["headers"]["x-custom"] == "kept"
    assert "x-hop" not in seen["headers"]
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert seen["headers"]["x-forwarded-proto"] == "http"
    assert seen["headers"]["x-forwarded-prefix"] == "/api/v1"
    assert seen["headers"]["x-forwarded-host"] == gateway.removeprefix("http://")
    assert seen["headers"]["host"] != seen["headers"]["x-forwarded-host"]  # upstream's own host
    assert seen["body_size"] > 0


async def test_a_client_cannot_claim_its_address_upstream(
    gateway: str, client: httpx.AsyncClient
) -> None:
    """Address headers a client sends are its own claims: upstreams see only the gateway's."""
    claims = {
        "X-Real-IP": "10.9.9.9",
        "X-Forwarded-Port": "1",
        "Forwarded": "for=10.9.9.9",
    }
    body = {"email": "a@example.com", "password": "pw"}
    r = await client.post(f"{gateway}/api/v1/auth/login", json=body, headers=claims)
    assert r.status_code == 200, r.text
    seen = r.json()["headers"]
    assert "x-real-ip" not in seen
    assert "x-forwarded-port" not in seen
    assert "forwarded" not in seen
    assert seen["x-forwarded-for"] == "127.0.0.1"  # the TCP peer, as the gateway saw it


async def test_request_id_is_propagated_or_generated(
    gateway: str, client: httpx.AsyncClient
) -> None:
    r = await client.post(
        f"{gateway}/api/v1/auth/register", json={}, headers={"X-Request-ID": "req-123"}
    )
    assert r.headers["x-request-id"] == "req-123"
    assert r.json()["headers"]["x-request-id"] == "req-123"

    r = await client.post(f"{gateway}/api/v1/auth/register", json={})
    generated = r.headers["x-request-id"]
    assert len(generated) == 32
    assert r.json()["headers"]["x-request-id"] == generated
    assert r.headers.get_list("x-request-id") == [
        generated
    ]  # not duplicated by the upstream's echo


async def test_traceparent_continues_the_callers_trace(
    gateway: str, client: httpx.AsyncClient
) -> None:
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = await client.post(
        f"{gateway}/api/v1/auth/register",
        json={},
        headers={"traceparent": f"00-{trace_id}-{parent}-01", "tracestate": "vendor=1"},
    )
    version, seen_trace, seen_parent, flags = r.json()["headers"]["traceparent"].split("-")
    assert (version, seen_trace, flags) == ("00", trace_id, "01")
    assert seen_parent != parent  # the gateway's own span is the upstream's parent
    assert r.json()["headers"]["tracestate"] == "vendor=1"

    r = await client.post(f"{gateway}/api/v1/auth/register", json={})
    assert len(r.json()["headers"]["traceparent"].split("-")[1]) == 32  # a new trace starts


async def test_path_params_and_encoded_paths(gateway: str, client: httpx.AsyncClient) -> None:
    r = await client.get(f"{gateway}/api/v1/auth/items/a%20b")
    assert r.status_code == 200
    assert r.json()["item_id"] == "a b"
    assert r.json()["raw_path"] == "/auth/items/a%20b"


async def test_dot_segments_and_unknown_paths_are_404(
    gateway: str, client: httpx.AsyncClient
) -> None:
    for path in (
        "/api/v1/nope",
        "/api/v1/internal/secret",
        "/api/v2/auth/login",
        "/api/v1/auth/items/..",
    ):
        r = await client.get(gateway + path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["type"] == "urn:scifikpi:problem:not-found"
    r = await client.send(
        httpx.Request("GET", f"{gateway}/api/v1/auth/items/%2E%2E/../../internal/secret")
    )
    assert r.status_code == 404


async def test_wrong_method_is_405_with_allow(gateway: str, client: httpx.AsyncClient) -> None:
    r = await client.get(f"{gateway}/api/v1/auth/login")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert r.json()["type"] == "urn:scifikpi:problem:method-not-allowed"


async def test_response_is_streamed(gateway: str, client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    arrivals: list[float] = []
    body = b""
    async with client.stream("GET", f"{gateway}/api/v1/auth/stream") as r:
        assert r.status_code == 200
        assert "content-length" not in r.headers
        async for chunk in r.aiter_raw():
            arrivals.append(time.monotonic() - started)
            body += chunk
    assert body == b"chunk-0;chunk-1;chunk-2;"
    assert arrivals[-1] >= 0.5  # the upstream takes ~0.6 s
    assert arrivals[0] < arrivals[-1] - 0.3  # the first chunk did not wait for the last


async def test_large_response_passes_through(gateway: str, client: httpx.AsyncClient) -> None:
    r = await client.get(f"{gateway}/api/v1/auth/big")
    assert r.status_code == 200
    assert len(r.json()["data"]) == 200_000


async def test_request_body_is_streamed_to_upstream(
    gateway: str, client: httpx.AsyncClient
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 300
            await asyncio.sleep(0.01)

    r = await client.post(f"{gateway}/api/v1/auth/upload", content=chunks())
    assert r.status_code == 200
    assert r.json()["body_size"] == 900


async def test_upstream_down_is_503(gateway: str, client: httpx.AsyncClient) -> None:
    r = await client.get(f"{gateway}/api/v1/down/thing")
    assert r.status_code == 503
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["type"] == "urn:scifikpi:problem:upstream-unavailable"
    assert "down" in r.json()["detail"]


async def test_upstream_timeout_is_504(gateway: str, client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    r = await client.get(f"{gateway}/api/v1/auth/slow")
    assert r.status_code == 504
    assert r.json()["type"] == "urn:scifikpi:problem:upstream-timeout"
    assert time.monotonic() - started < 2.5  # upstream_timeout_s=1 in the fixture
    # the pool is still healthy afterwards
    r = await client.post(f"{gateway}/api/v1/auth/register", json={})
    assert r.status_code == 200


async def test_keep_alive_pool_survives_upstream_idle_close(
    gateway: str, client: httpx.AsyncClient
) -> None:
    for _ in range(3):
        r = await client.get(f"{gateway}/api/v1/.well-known/jwks.json")
        assert r.status_code == 200
    await asyncio.sleep(
        5.5
    )  # past the upstream's keep-alive (5 s): it closed the pooled connections
    r = await client.get(f"{gateway}/api/v1/.well-known/jwks.json")
    assert r.status_code == 200
    r = await client.post(f"{gateway}/api/v1/auth/register", json={})
    assert r.status_code == 200


async def test_many_concurrent_requests(gateway: str, client: httpx.AsyncClient) -> None:
    results = await asyncio.gather(
        *(client.get(f"{gateway}/api/v1/auth/items/{i}") for i in range(100))
    )
    assert [r.json()["item_id"] for r in results] == [str(i) for i in range(100)]


async def test_health_and_readiness(
    gateway: str,
    start_gateway: GatewayFactory,
    test_routes: tuple[Route, ...],
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get(f"{gateway}/healthz")).json() == {"status": "ok"}
    r = await client.get(f"{gateway}/readyz")  # the `down` upstream is part of the table
    assert r.status_code == 503
    assert r.json()["checks"]["down"].startswith("failed")
    assert r.json()["checks"]["auth"] == "ok"

    healthy = tuple(r for r in test_routes if r.service != "down")
    up = await start_gateway(routes=healthy)
    r = await client.get(f"{up}/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"auth": "ok", "payments": "ok"}


async def test_requests_queue_for_a_full_pool(
    start_gateway: GatewayFactory, client: httpx.AsyncClient
) -> None:
    gw = await start_gateway(upstream_pool_size=1)
    started = time.monotonic()
    results = await asyncio.gather(*(client.get(f"{gw}/api/v1/auth/stream") for _ in range(2)))
    assert [r.status_code for r in results] == [200, 200]
    assert all(r.text == "chunk-0;chunk-1;chunk-2;" for r in results)
    assert time.monotonic() - started >= 1.1  # one connection: the second waited for the first


async def test_metrics_label_requests_by_route(gateway: str, client: httpx.AsyncClient) -> None:
    await client.get(f"{gateway}/api/v1/auth/items/42")
    await client.get(f"{gateway}/api/v1/nope")
    text = (await client.get(f"{gateway}/metrics")).text
    assert 'route="/api/v1/auth/items/{item_id}"' in text  # the template, not the raw path
    assert 'route="unmatched"' in text
    assert "/api/v1/auth/items/42" not in text


async def test_odd_requests_never_answer_500(gateway: str, client: httpx.AsyncClient) -> None:
    odd = [
        ("GET", "/api/v1/auth/items/%FF%FE", {}),
        ("GET", "/api/v1/auth/me", {"Authorization": b"Bearer \xff\xfe.abc"}),
        ("GET", "/api/v1/auth/me", {"Authorization": "Bearer " + "a" * 10_000}),
        ("POST", "/api/v1/auth/register", {"traceparent": "garbage", "X-Request-ID": "x" * 500}),
        ("POST", "/api/v1/auth/register", {"X-Request-ID": "bad\tid"}),
        ("GET", "/api/v1/", {}),
        ("GET", "/api/", {}),
        ("DELETE", "/api/v1/auth/login", {}),
    ]
    for method, path, headers in odd:
        r = await client.request(method, gateway + path, headers=headers)
        assert r.status_code < 500, (method, path, r.status_code, r.text)
        assert "Traceback" not in r.text
        assert len(r.headers["x-request-id"]) <= 128
