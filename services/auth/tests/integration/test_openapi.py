"""The published contract: every route documented, with its problems; health endpoints."""

from __future__ import annotations

import httpx
from scifikpi_common.testing.contracts import check_documented


async def test_every_route_is_documented_with_its_problems(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    expected = {
        ("/auth/register", "post"): {"201", "409", "413", "422"},
        ("/auth/login", "post"): {"200", "401", "403", "413", "422", "429"},
        ("/auth/refresh", "post"): {"200", "401", "413", "422"},
        ("/auth/logout", "post"): {"204", "413", "422"},
        ("/auth/me", "get"): {"200", "401"},
        ("/.well-known/jwks.json", "get"): {"200"},
    }
    check_documented(paths, expected)
    assert "Problem" in schema["components"]["schemas"]


async def test_request_models_forbid_unknown_fields(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for name in (
        "IndividualRegistration",
        "LegalEntityRegistration",
        "CompanyIn",
        "RepresentativeIn",
        "LoginRequest",
        "RefreshTokenRequest",
        "Money",
    ):
        assert schemas[name].get("additionalProperties") is False, name


async def test_me_requires_a_bearer_token_in_the_docs(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["paths"]["/auth/me"]["get"]["security"]


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.json()["checks"]["database"] == "ok"


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
