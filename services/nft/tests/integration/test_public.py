"""The public catalog (paging, supply_left, retired hidden) and TEP-64 metadata JSON."""

from __future__ import annotations

import uuid

import httpx
from _nft_helpers import PROBLEM, create
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_public_catalog_pages_newest_first_without_retired(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    created = [await create(client, admin, name=f"item {i}", supply_total=5) for i in range(7)]
    retired = created[3]
    await client.post(f"/admin/nft/catalog/{retired['id']}/retire", headers=admin)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE nft.catalog_items SET supply_sold = 2 WHERE id = :id"),
            {"id": created[5]["id"]},
        )
    seen: list[dict] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = await client.get("/nft/catalog", params=params)  # no token
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    expected = [c["id"] for c in reversed(created) if c["id"] != retired["id"]]
    assert [i["id"] for i in seen] == expected
    left = {i["id"]: i["supply_left"] for i in seen}
    assert left[created[5]["id"]] == 3 and left[created[0]["id"]] == 5
    assert "status" not in seen[0] and "supply_sold" not in seen[0]
    assert seen[0]["price_points"] == "12.500000"


async def test_bad_cursor_is_422(client: httpx.AsyncClient) -> None:
    r = await client.get("/nft/catalog", params={"cursor": "garbage"})
    assert r.status_code == 422
    assert r.json()["type"] == f"{PROBLEM}invalid-cursor"
    assert (await client.get("/nft/catalog", params={"limit": 0})).status_code == 422


async def test_collection_metadata(client: httpx.AsyncClient) -> None:
    r = await client.get("/nft/metadata/collection.json")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=300"
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {
        "name": "SciFiKPI Test",
        "description": "Test collection",
        "image": "https://cdn.scifikpi.test/collection.png",
    }


async def test_item_metadata_also_for_retired_items(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    item = await create(client, admin)
    await client.post(f"/admin/nft/catalog/{item['id']}/retire", headers=admin)
    r = await client.get(f"/nft/metadata/items/{item['id']}.json")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "public, max-age=300"
    assert r.json() == {
        "name": "Star Cruiser",
        "description": "A ship from the outer rim.",
        "image": "https://cdn.example.com/nft/cruiser.png",
        "attributes": [
            {"trait_type": "class", "value": "cruiser"},
            {"trait_type": "speed", "value": 7},
        ],
    }
    # The URL the catalog advertises is this route under the public base.
    path = item["metadata_url"].removeprefix("https://api.scifikpi.test/api/v1")
    assert path == f"/nft/metadata/items/{item['id']}.json"


async def test_item_metadata_unknown_is_404(client: httpx.AsyncClient) -> None:
    for item_id in (uuid.uuid4(), "not-a-uuid"):
        r = await client.get(f"/nft/metadata/items/{item_id}.json")
        assert r.status_code == 404, r.text
        assert r.json()["type"] == f"{PROBLEM}catalog-item-not-found"
        assert "cache-control" not in r.headers
