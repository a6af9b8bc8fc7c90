"""The published contract: every route documented with its problems and response models."""

from __future__ import annotations

import httpx
from scifikpi_common.testing.contracts import check_documented


async def test_routes_are_documented_with_their_problems(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    expected = {
        ("/mining/start", "post"): {"201", "401", "403", "409"},
        ("/mining/status", "get"): {"200", "401"},
        ("/mining/sessions", "get"): {"200", "401", "422"},
        ("/mining/acceleration/quote", "post"): {"201", "401", "422"},
        ("/mining/forecast", "get"): {"200", "401", "422"},
    }
    user_routes = {p for p in paths if p.startswith("/mining")}
    assert user_routes == {path for path, _ in expected}
    check_documented(paths, expected, secured=True, typed_success=True)
    quote_422 = paths["/mining/acceleration/quote"]["post"]["responses"]["422"]["description"]
    assert "session has left" in quote_422 and "running mining session" in quote_422
    components = schema["components"]["schemas"]
    assert {"SessionOut", "IdleOut", "SessionPage", "QuoteOut", "ForecastOut", "Problem"} <= set(
        components
    )
    assert components["QuoteIn"].get("additionalProperties") is False


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json()["checks"]["database"] == "ok"
    assert "http_requests_total" in (await client.get("/metrics")).text
