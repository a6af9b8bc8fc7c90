"""The gateway's own endpoints: readiness, Swagger UI, the merged OpenAPI document."""

from __future__ import annotations

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


async def test_readyz(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/readyz")
    assert response.status_code == 200, response.text


async def test_healthz(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get("/healthz")).status_code == 200


async def test_docs_is_swagger_ui(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text.lower()


async def test_openapi_merges_every_service(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    paths = spec["paths"]
    for path in (
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/payments",
        "/api/v1/balance/topup",
        "/api/v1/balance",
        "/api/v1/history",
        "/api/v1/mining/start",
        "/api/v1/mining/status",
        "/api/v1/mining/sessions",
        "/api/v1/mining/acceleration/quote",
        "/api/v1/mining/forecast",
        "/api/v1/admin/ledger/check",
        "/api/v1/nft/catalog",
        "/api/v1/nft/metadata/items/{item_id}.json",
        "/api/v1/admin/nft/catalog",
        "/api/v1/nft/purchases",
        "/api/v1/nft/purchases/{purchase_id}",
        "/api/v1/nft/mine",
        "/api/v1/nft/wallets/challenge",
        "/api/v1/nft/wallets/verify",
        "/api/v1/nft/{nft_id}/transfer",
        "/api/v1/nft/transfers/{transfer_id}",
    ):
        assert path in paths, sorted(paths)
    assert "post" in paths["/api/v1/auth/register"]
    assert set(paths["/api/v1/balance"]) == {"get"} and set(paths["/api/v1/balance/topup"]) == {
        "post"
    }
    assert spec.get("x-scifikpi-missing-services", []) == []
    assert paths["/api/v1/admin/ledger/check"]["get"]["x-access"] == "admin"
    assert paths["/api/v1/nft/purchases"]["post"]["x-access"] == "user"


async def test_unknown_route_is_a_problem_404(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
