"""The analytics API as the gateway merges it: every route documented (docstring, bearer token,
problem+json on every error, a response model with examples, CSV as a second media type)."""

from __future__ import annotations

import httpx
from scifikpi_common.testing.contracts import check_documented

PATHS = ["/summary", "/timeseries", "/funnel", "/nft/items"]


async def test_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {(f"/admin/analytics{p}", "get"): {"200", "401", "403", "422"} for p in PATHS}
    check_documented(paths, expected, secured=True, typed_success=True)
    for path, _ in expected:
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert content["text/csv"]["example"].startswith("as_of,")
    schemas = spec["components"]["schemas"]
    assert schemas["RatioOut"]["properties"]["value"]["examples"] == ["0.6667"]
    assert "from" in schemas["TimeseriesOut"]["properties"]
    params = {p["name"]: p for p in paths["/admin/analytics/timeseries"]["get"]["parameters"]}
    assert set(params) == {"metrics", "from", "to", "interval", "timezone"}
    assert (
        "15-minute" in str(schemas["SummaryOut"])
        and "15-minute" in paths["/admin/analytics/summary"]["get"]["description"]
    )
