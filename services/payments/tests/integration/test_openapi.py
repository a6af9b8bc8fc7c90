"""The published contract: every route documented with its problems; health endpoints."""

from __future__ import annotations

import httpx
from scifikpi_common.testing.contracts import check_documented


async def test_every_route_is_documented_with_its_problems(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    expected = {
        ("/payments", "post"): {
            "200",
            "201",
            "400",
            "401",
            "403",
            "409",
            "413",
            "422",
            "502",
            "503",
        },
        ("/payments", "get"): {"200", "401", "422"},
        ("/payments/{payment_id}", "get"): {"200", "401", "404"},
        ("/balance/topup", "post"): {"200", "201", "400", "401", "403", "409", "422", "503"},
        ("/admin/payments/{payment_id}/refund", "post"): {"200", "202", "401", "403", "404", "409"},
        ("/payments/webhooks/stripe", "post"): {"200", "400", "413"},
        ("/payments/webhooks/yoomoney", "post"): {"200", "400", "403", "413"},
    }
    check_documented(paths, expected)
    create = paths["/payments"]["post"]
    for path in ("/payments", "/balance/topup"):
        keys = [p for p in paths[path]["post"]["parameters"] if p["name"] == "Idempotency-Key"]
        assert len(keys) == 1, (path, keys)  # once: not also as the optional FastAPI infers
        assert keys[0]["in"] == "header" and keys[0]["required"] is True, keys
        assert keys[0]["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
    assert create["security"]


async def test_request_models_forbid_unknown_fields(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for name in ("PaymentIn", "TopupIn", "RefundIn"):
        assert schemas[name].get("additionalProperties") is False, name


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json()["checks"]["database"] == "ok"
    metrics = (await client.get("/metrics")).text
    assert "payments_webhooks_total" in metrics or "http_requests_total" in metrics
