"""Admin catalog management: create, edit, retire, list; tokens, roles and validation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from _nft_helpers import PROBLEM, create, item_body
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_create_returns_the_item(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    item = await create(client, admin)
    assert item["price_points"] == "12.500000"
    assert item["price_points_micro"] == 12_500_000
    assert item["supply_total"] == 10 and item["supply_sold"] == 0 and item["supply_left"] == 10
    assert item["status"] == "active"
    assert item["attributes"] == item_body()["attributes"]
    assert item["metadata_url"] == (
        f"https://api.scifikpi.test/api/v1/nft/metadata/items/{item['id']}.json"
    )
    assert uuid.UUID(item["id"]).version == 7


async def test_admin_routes_need_an_admin_token(
    client: httpx.AsyncClient, user: dict[str, str], admin: dict[str, str]
) -> None:
    item = await create(client, admin)
    calls = [
        ("POST", "/admin/nft/catalog", item_body()),
        ("GET", "/admin/nft/catalog", None),
        ("PATCH", f"/admin/nft/catalog/{item['id']}", {"name": "x"}),
        ("POST", f"/admin/nft/catalog/{item['id']}/retire", None),
    ]
    for method, path, body in calls:
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        forbidden = await client.request(method, path, json=body, headers=user)
        assert forbidden.status_code == 403, (method, path)
        assert forbidden.json()["type"] == f"{PROBLEM}forbidden"
    listing = (await client.get("/admin/nft/catalog", headers=admin)).json()
    assert [i["name"] for i in listing["items"]] == ["Star Cruiser"]
    assert listing["items"][0]["status"] == "active"


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": ""},
        {"name": "x" * 101},
        {"description": "x" * 2001},
        {"image_url": "ftp://cdn.example.com/a.png"},
        {"image_url": "not a url"},
        {"image_url": "https://"},
        {"attributes": [{"trait_type": "t", "value": i} for i in range(33)]},
        {"attributes": [{"trait_type": "", "value": "v"}]},
        {"attributes": [{"trait_type": "t", "value": 1.5}]},
        {"attributes": [{"trait_type": "t", "value": "v", "extra": 1}]},
        {"supply_total": 0},
        {"supply_total": "5"},
        {"price_points": 12.5},
        {"unknown": 1},
    ],
)
async def test_create_validation(
    client: httpx.AsyncClient, admin: dict[str, str], overrides: dict[str, Any]
) -> None:
    r = await client.post("/admin/nft/catalog", json=item_body(**overrides), headers=admin)
    assert r.status_code == 422, (overrides, r.text)
    assert r.json()["type"] == f"{PROBLEM}validation-error"


@pytest.mark.parametrize("price", ["0", "0.000000", "-1", "1.0000001", "1e3", "abc", ""])
async def test_invalid_price(client: httpx.AsyncClient, admin: dict[str, str], price: str) -> None:
    r = await client.post("/admin/nft/catalog", json=item_body(price_points=price), headers=admin)
    assert r.status_code == 422, r.text
    assert r.json()["type"] == f"{PROBLEM}invalid-price"
    listing = (await client.get("/admin/nft/catalog", headers=admin)).json()
    assert listing["items"] == []


async def test_edit_changes_only_what_is_sent(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    item = await create(client, admin)
    r = await client.patch(
        f"/admin/nft/catalog/{item['id']}",
        json={"price_points": "0.000001", "attributes": [], "name": "Frigate"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["name"] == "Frigate"
    assert edited["price_points"] == "0.000001" and edited["price_points_micro"] == 1
    assert edited["attributes"] == []
    assert edited["description"] == item["description"]
    assert edited["image_url"] == item["image_url"]
    assert edited["updated_at"] > item["updated_at"]
    for bad in ({"name": None}, {"supply_total": None}, {"image_url": "mailto:x@y.z"}):
        r = await client.patch(f"/admin/nft/catalog/{item['id']}", json=bad, headers=admin)
        assert r.status_code == 422, (bad, r.text)
    r = await client.patch(
        f"/admin/nft/catalog/{item['id']}", json={"price_points": "-2"}, headers=admin
    )
    assert r.json()["type"] == f"{PROBLEM}invalid-price"


async def test_supply_may_not_go_below_sold(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    item = await create(client, admin, supply_total=10)
    # Purchases come in the next slice; simulate 4 sold.
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE nft.catalog_items SET supply_sold = 4 WHERE id = :id"), {"id": item["id"]}
        )
    path = f"/admin/nft/catalog/{item['id']}"
    r = await client.patch(path, json={"supply_total": 3}, headers=admin)
    assert r.status_code == 409, r.text
    assert r.json()["type"] == f"{PROBLEM}supply-below-sold"
    assert r.json()["supply_sold"] == 4
    r = await client.patch(path, json={"supply_total": 4}, headers=admin)
    assert r.status_code == 200 and r.json()["supply_left"] == 0
    r = await client.patch(path, json={"supply_total": 50}, headers=admin)
    assert r.status_code == 200 and r.json()["supply_left"] == 46


async def test_the_database_refuses_oversold_supply(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    item = await create(client, admin, supply_total=2)
    with pytest.raises(Exception, match="catalog_items_supply_sold_check"):
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE nft.catalog_items SET supply_sold = 3 WHERE id = :id"),
                {"id": item["id"]},
            )


async def test_retire_is_idempotent_and_unknown_ids_are_404(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    item = await create(client, admin)
    first = await client.post(f"/admin/nft/catalog/{item['id']}/retire", headers=admin)
    assert first.status_code == 200 and first.json()["status"] == "retired"
    second = await client.post(f"/admin/nft/catalog/{item['id']}/retire", headers=admin)
    assert second.status_code == 200 and second.json() == first.json()
    missing = uuid.uuid4()
    for method, path, body in [
        ("POST", f"/admin/nft/catalog/{missing}/retire", None),
        ("PATCH", f"/admin/nft/catalog/{missing}", {"name": "x"}),
    ]:
        r = await client.request(method, path, json=body, headers=admin)
        assert r.status_code == 404, r.text
        assert r.json()["type"] == f"{PROBLEM}catalog-item-not-found"
    listing = (await client.get("/admin/nft/catalog", headers=admin)).json()
    assert [(i["id"], i["status"]) for i in listing["items"]] == [(item["id"], "retired")]
