"""Pure parts: route matching, the sliding-window arithmetic, the 3.1 -> 3.0 translation."""

from __future__ import annotations

import pytest
from gateway.openapi30 import to_openapi30
from gateway.ratelimit import Bucket, MemoryRateLimiter, _decide
from gateway.routes import ROUTES, USER, Route, RouteTable


def test_route_table_matches_exact_and_templated_paths() -> None:
    table = RouteTable(
        [
            *ROUTES,
            Route("payments", "GET", "/payments/{payment_id}", USER),
            Route("nft", "GET", "/nft/metadata/{rest:path}"),
            Route("x", "GET", "/x/{a}", upstream_path="/internal/{a}/y"),
        ]
    )
    assert table.match("POST", "/api/v1/auth/login").route.path == "/auth/login"
    assert table.match("GET", "/api/v1/payments/abc").route.service == "payments"
    assert table.match("GET", "/api/v1/payments/abc/extra").route is None
    assert table.match("GET", "/api/v1/nft/metadata/a/b.json").route.service == "nft"
    renamed = table.match("GET", "/api/v1/x/a b")
    assert renamed.upstream_path == "/internal/a%20b/y"
    assert table.match("GET", "/api/v1/auth/login").allowed == {"POST"}
    assert table.match("GET", "/api/v1/payments/..").route is None
    assert table.match("GET", "/api/v1/auth/../internal").route is None


def test_cabinet_routes_reach_their_owners() -> None:
    """/balance (ledger) and /balance/topup (payments) share a prefix but not an owner."""
    table = RouteTable(ROUTES)
    owner = {
        ("GET", "/balance"): "ledger",
        ("POST", "/balance/topup"): "payments",
        ("GET", "/history"): "ledger",
        ("GET", "/admin/ledger/check"): "ledger",
        ("POST", "/mining/start"): "mining",
        ("GET", "/mining/status"): "mining",
        ("GET", "/mining/sessions"): "mining",
        ("POST", "/mining/acceleration/quote"): "mining",
        ("GET", "/mining/forecast"): "mining",
        ("GET", "/nft/catalog"): "nft",
        ("GET", "/nft/metadata/collection.json"): "nft",
        ("GET", "/nft/metadata/items/0190f0c4-aaaa-7bbb-8ccc-000000000001.json"): "nft",
        ("PATCH", "/admin/nft/catalog/0190f0c4-aaaa-7bbb-8ccc-000000000001"): "nft",
        ("POST", "/nft/purchases"): "nft",
        ("GET", "/nft/purchases/0190f0c4-aaaa-7bbb-8ccc-000000000001"): "nft",
        ("GET", "/nft/mine"): "nft",
        ("POST", "/nft/wallets/challenge"): "nft",
        ("POST", "/nft/wallets/verify"): "nft",
        ("POST", "/nft/0190f0c4-aaaa-7bbb-8ccc-000000000001/transfer"): "nft",
        ("GET", "/nft/transfers/0190f0c4-aaaa-7bbb-8ccc-000000000001"): "nft",
        ("GET", "/admin/analytics/summary"): "analytics",
        ("GET", "/admin/analytics/timeseries"): "analytics",
        ("GET", "/admin/analytics/funnel"): "analytics",
        ("GET", "/admin/analytics/nft/items"): "analytics",
    }
    for (method, path), service in owner.items():
        assert table.match(method, "/api/v1" + path).route.service == service, path
    assert table.match("GET", "/api/v1/admin/ledger/check").route.access == "admin"
    assert table.match("POST", "/api/v1/balance").allowed == {"GET"}
    assert table.match("POST", "/api/v1/mining/status").allowed == {"GET"}
    assert table.match("GET", "/api/v1/nft/metadata/items/x.json").route.access == "public"
    assert table.match("GET", "/api/v1/nft/metadata/items/a/b.json").route is None
    assert table.match("POST", "/api/v1/admin/nft/catalog").route.access == "admin"
    assert table.match("POST", "/api/v1/nft/purchases").route.access == "user"
    assert table.match("GET", "/api/v1/nft/a/transfer").route is None
    for path in ("summary", "timeseries", "funnel", "nft/items"):
        assert table.match("GET", f"/api/v1/admin/analytics/{path}").route.access == "admin"
        assert table.match("POST", f"/api/v1/admin/analytics/{path}").allowed == {"GET"}
    assert table.match("GET", "/api/v1/admin/analytics/rebuild").route is None


def test_routes_must_name_known_upstreams() -> None:
    from gateway.app import GatewayApp
    from gateway.settings import GatewaySettings

    with pytest.raises(ValueError, match="ghost"):
        GatewayApp(GatewaySettings(), routes=[Route("ghost", "GET", "/ghost")])


def test_sliding_window_decision() -> None:
    bucket = Bucket(limit=10, window_s=60)
    assert _decide(10, 0, bucket, 0).allowed
    assert not _decide(11, 0, bucket, 0).allowed
    # half-way through the window, half of the previous window's 10 still counts
    assert _decide(5, 10, bucket, 30_000).allowed
    refused = _decide(6, 10, bucket, 30_000)
    assert not refused.allowed and 1 <= refused.retry_after_s <= 30


def test_memory_limiter_windows_slide_and_sweep() -> None:
    limiter = MemoryRateLimiter()
    bucket = Bucket(limit=2, window_s=1)
    t = 1000.0
    assert [limiter.hit_now("g", "ip", bucket, t).allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit_now("g", "other-ip", bucket, t).allowed
    assert not limiter.hit_now(
        "g", "ip", bucket, t + 1.1
    ).allowed  # 90% of the previous 2 still count
    assert limiter.hit_now("g", "ip", bucket, t + 1.6).allowed
    limiter.hit_now("g", "ip", bucket, t + 10)
    assert {key[3] for key in limiter._counts} == {1010}  # old windows swept


A_REF = {"$ref": "#/components/schemas/A"}
OPTIONAL_INT = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
JSON = "application/json"


def test_openapi30_translation() -> None:
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1", "summary": "s"},
        "paths": {
            "/x": {
                "get": {
                    "parameters": [{"name": "q", "in": "query", "schema": OPTIONAL_INT}],
                    "responses": {
                        "200": {"description": "ok", "content": {JSON: {"schema": A_REF}}}
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "A": {
                    "type": "object",
                    "properties": {
                        "b": {"anyOf": [{"$ref": "#/components/schemas/B"}, {"type": "null"}]},
                        "c": {"type": ["string", "null"], "examples": ["x"]},
                        "d": {"const": "fixed"},
                        "e": {"type": "integer", "exclusiveMinimum": 0},
                    },
                },
                "B": {"type": "string"},
            }
        },
    }
    out = to_openapi30(doc)
    assert out["openapi"] == "3.0.3" and "summary" not in out["info"]
    assert out["paths"]["/x"]["get"]["parameters"][0]["schema"] == {
        "type": "integer",
        "nullable": True,
    }
    props = out["components"]["schemas"]["A"]["properties"]
    assert props["b"] == {"allOf": [{"$ref": "#/components/schemas/B"}], "nullable": True}
    assert props["c"] == {"type": "string", "nullable": True, "example": "x"}
    assert props["d"] == {"enum": ["fixed"]}
    assert props["e"] == {"type": "integer", "minimum": 0, "exclusiveMinimum": True}
    assert doc["openapi"] == "3.1.0"  # the input is untouched


@pytest.mark.parametrize(("limit", "window_s"), [(2, 1), (3, 60), (600, 60)])
@pytest.mark.parametrize("offset", [0.0, 0.25, 0.9])
def test_retry_after_of_a_full_window_is_when_it_admits_again(
    limit: int, window_s: int, offset: float
) -> None:
    """Retry-After points past the window's end, where the full window still weighs in, but
    not a second further than needed."""
    bucket = Bucket(limit=limit, window_s=window_s)
    start = 1000.0 * window_s + offset * window_s
    limiter = MemoryRateLimiter()
    assert all(limiter.hit_now("g", "c", bucket, start).allowed for _ in range(limit))
    refused = limiter.hit_now("g", "c", bucket, start)
    assert not refused.allowed
    if refused.retry_after_s > 1:
        assert not limiter.hit_now("g", "c", bucket, start + refused.retry_after_s - 1).allowed
    assert limiter.hit_now("g", "c", bucket, start + refused.retry_after_s).allowed
