"""Bad input and access: every endpoint needs the admin role (401 without a token, 403 for a
plain user); bad query parameters are 422 problems naming the parameter, never a 500."""

from __future__ import annotations

import httpx
import pytest
from scifikpi_common.testing.contracts import assert_problem

ENDPOINTS = [
    "/admin/analytics/summary",
    "/admin/analytics/timeseries?metrics=accounts.registered&from=2026-03-01&to=2026-03-02",
    "/admin/analytics/funnel?from=2026-03-01&to=2026-03-02",
    "/admin/analytics/nft/items",
]
TS = "/admin/analytics/timeseries"
GOOD = {"metrics": "accounts.registered", "from": "2026-03-01", "to": "2026-03-08"}


@pytest.mark.parametrize("url", ENDPOINTS)
async def test_needs_a_token(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url)
    assert_problem(response, 401, "invalid-token")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("url", ENDPOINTS)
async def test_a_plain_user_is_forbidden(
    client: httpx.AsyncClient, user: dict[str, str], url: str
) -> None:
    assert_problem(await client.get(url, headers=user), 403, "forbidden")
    assert_problem(await client.get(url, headers={**user, "Accept": "text/csv"}), 403, "forbidden")


@pytest.mark.parametrize("url", ENDPOINTS)
async def test_an_admin_gets_json_and_csv(
    client: httpx.AsyncClient, admin: dict[str, str], url: str
) -> None:
    response = await client.get(url, headers=admin)
    assert response.status_code == 200 and "as_of" in response.json()
    response = await client.get(url, headers={**admin, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.text.startswith("as_of,")


@pytest.mark.parametrize(
    ("params", "slug", "field"),
    [
        ({"metrics": "accounts.deleted"}, "unknown-metric", "metrics"),
        ({"metrics": ","}, "unknown-metric", "metrics"),
        ({"timezone": "Mars/Olympus"}, "unknown-timezone", "timezone"),
        ({"timezone": "../../etc/passwd"}, "unknown-timezone", "timezone"),
        ({"from": "2026-03-09"}, "invalid-range", "from"),
        ({"from": "next tuesday"}, "invalid-datetime", "from"),
        ({"to": "2026-02-30"}, "invalid-datetime", "to"),
        ({"to": "99999-01-01"}, "invalid-datetime", "to"),
        ({"interval": "fortnight"}, "validation-error", "interval"),
        ({"interval": "hour", "to": "2027-03-01"}, "too-many-buckets", "to"),
        ({"from": "1970-01-01", "to": "9000-01-01", "interval": "hour"}, "too-many-buckets", "to"),
    ],
)
async def test_timeseries_bad_input(
    client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str], slug: str, field: str
) -> None:
    response = await client.get(TS, params={**GOOD, **params}, headers=admin)
    body = assert_problem(response, 422, slug)
    assert any(e["loc"] == ["query", field] for e in body["errors"]), body
    assert field in body["detail"]


async def test_too_many_buckets_names_the_limit(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    params = {**GOOD, "from": "2026-01-01", "to": "2026-03-01", "interval": "hour"}
    body = assert_problem(
        await client.get(TS, params=params, headers=admin), 422, "too-many-buckets"
    )
    assert body["max_buckets"] == 1000 and body["buckets"] > 1000
    assert "1000" in body["detail"]


@pytest.mark.parametrize("settings_overrides", [{"max_buckets": 7}])
async def test_the_limit_is_a_setting(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    assert (await client.get(TS, params=GOOD, headers=admin)).status_code == 200
    params = {**GOOD, "to": "2026-03-09"}
    body = assert_problem(
        await client.get(TS, params=params, headers=admin), 422, "too-many-buckets"
    )
    assert body["max_buckets"] == 7


@pytest.mark.parametrize("missing", ["metrics", "from", "to"])
async def test_timeseries_required_params(
    client: httpx.AsyncClient, admin: dict[str, str], missing: str
) -> None:
    params = {k: v for k, v in GOOD.items() if k != missing}
    body = assert_problem(
        await client.get(TS, params=params, headers=admin), 422, "validation-error"
    )
    assert body["errors"][0]["loc"] == ["query", missing]


@pytest.mark.parametrize(
    ("params", "slug", "field"),
    [
        ({"from": "2026-03-02", "to": "2026-03-01"}, "invalid-range", "from"),
        (
            {"from": "2026-03-01", "to": "2026-03-02", "timezone": "Nowhere/City"},
            "unknown-timezone",
            "timezone",
        ),
        ({"from": "03/01/2026", "to": "2026-03-02"}, "invalid-datetime", "from"),
    ],
)
async def test_funnel_bad_input(
    client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str], slug: str, field: str
) -> None:
    response = await client.get("/admin/analytics/funnel", params=params, headers=admin)
    body = assert_problem(response, 422, slug)
    assert body["errors"][0]["loc"] == ["query", field]


@pytest.mark.parametrize(
    ("params", "slug"),
    [
        ({"cursor": "not-a-cursor"}, "invalid-cursor"),
        ({"limit": "0"}, "validation-error"),
        ({"limit": "101"}, "validation-error"),
        ({"limit": "ten"}, "validation-error"),
    ],
)
async def test_items_bad_input(
    client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str], slug: str
) -> None:
    response = await client.get("/admin/analytics/nft/items", params=params, headers=admin)
    assert_problem(response, 422, slug)
