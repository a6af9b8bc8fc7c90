"""The merged OpenAPI document and the self-hosted Swagger UI."""

from __future__ import annotations

import json

import httpx


async def test_merged_document(gateway: str, client: httpx.AsyncClient) -> None:
    r = await client.get(f"{gateway}/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    paths = doc["paths"]
    # re-prefixed, filtered to the route table
    assert "post" in paths["/api/v1/auth/login"]
    assert "get" in paths["/api/v1/.well-known/jwks.json"]
    assert "get" in paths["/api/v1/payments/{payment_id}"]
    assert "/auth/login" not in paths
    assert not any("internal" in p for p in paths)
    assert not any(p.startswith("/api/v1/healthz") for p in paths)
    assert "/healthz" in paths and "/readyz" in paths  # the gateway's own
    # a renamed route keeps the upstream's parameter names
    assert "/api/v1/auth/renamed/{item_id}" in paths

    schemas = doc["components"]["schemas"]
    assert "LoginIn" in schemas
    assert "auth_Problem" in schemas and "payments_Problem" in schemas and "Problem" not in schemas
    assert set(schemas["payments_Problem"]["properties"]) == {"code", "message"}
    assert "HTTPValidationError" in schemas  # identical in both: shared once
    refs = json.dumps(paths)
    assert (
        "#/components/schemas/auth_Problem" in refs
        and "#/components/schemas/payments_Problem" in refs
    )
    assert '"#/components/schemas/Problem"' not in refs

    me = paths["/api/v1/auth/me"]["get"]
    assert me["security"] == [{"HTTPBearer": []}]
    assert me["x-access"] == "user"
    assert "security" not in paths["/api/v1/auth/login"]["post"]
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"

    assert doc["x-scifikpi-missing-services"] == ["down"]
    assert doc["x-scifikpi-services"]["auth"] == "ok"
    assert "down" in doc["info"]["description"]


async def test_document_survives_all_upstreams_down(
    start_gateway, upstreams, client: httpx.AsyncClient
) -> None:
    gw = await start_gateway(upstream_urls={"auth": upstreams.down, "payments": upstreams.down})
    doc = (await client.get(f"{gw}/openapi.json")).json()
    assert sorted(doc["x-scifikpi-missing-services"]) == ["auth", "down", "payments"]
    assert set(doc["paths"]) == {"/healthz", "/readyz"}


async def test_swagger_ui_is_self_hosted(gateway: str, client: httpx.AsyncClient) -> None:
    r = await client.get(f"{gateway}/docs")
    assert r.status_code == 200
    html = r.text
    assert "/docs/assets/swagger-ui-bundle.js" in html and "/docs/assets/swagger-ui.css" in html
    assert "cdn." not in html and "https://" not in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        r = await client.get(f"{gateway}/docs/assets/{asset}")
        assert r.status_code == 200, asset
        assert len(r.content) > 100

    r = await client.get(f"{gateway}/docs/openapi-3.0.json")
    doc30 = r.json()
    assert doc30["openapi"] == "3.0.3"  # the bundled Swagger UI 4 renders 3.0 only
    assert '"type": "null"' not in json.dumps(doc30)
    assert (
        doc30["paths"].keys()
        == (await client.get(f"{gateway}/openapi.json")).json()["paths"].keys()
    )


async def test_meta_404_is_a_problem(gateway: str, client: httpx.AsyncClient) -> None:
    r = await client.get(f"{gateway}/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
