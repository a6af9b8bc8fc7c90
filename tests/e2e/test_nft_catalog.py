"""The NFT catalog through the gateway: an admin adds an item; anyone sees it with its supply and
reads its TEP-64 metadata at the URL the on-chain content will point to."""

from __future__ import annotations

import httpx
import pytest
from e2e_support import active_user, admin_token, bearer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


async def test_admin_adds_an_item_everyone_sees_it_and_its_metadata(
    api: httpx.AsyncClient, database_url: str, localstripe_url: str
) -> None:
    admin = await admin_token(api, database_url)
    body = {
        "name": "Dyson Sphere Blueprint", "description": "Harvest a star.",
        "image_url": "https://cdn.example.com/nft/dyson.png",
        "attributes": [{"trait_type": "era", "value": "Kardashev II"}],
        "price_points": "12.5", "supply_total": 3,
    }  # fmt: skip
    user = (await active_user(api, localstripe_url))["access_token"]
    refused = await api.post("/admin/nft/catalog", json=body, headers=bearer(user))
    assert refused.status_code == 403, refused.text
    created = await api.post("/admin/nft/catalog", json=body, headers=bearer(admin))
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["price_points"] == "12.500000" and item["supply_total"] == 3

    listed = await api.get("/nft/catalog", params={"limit": 100})  # public: no token
    assert listed.status_code == 200, listed.text
    mine = [i for i in listed.json()["items"] if i["id"] == item["id"]]
    assert len(mine) == 1 and mine[0]["supply_left"] == 3

    # the URL the on-chain content will carry is this stack's gateway
    assert item["metadata_url"] == f"{api.base_url}nft/metadata/items/{item['id']}.json"
    meta = await api.get(item["metadata_url"])
    assert meta.status_code == 200, meta.text
    assert meta.json()["name"] == "Dyson Sphere Blueprint"
    assert meta.json()["image"] == "https://cdn.example.com/nft/dyson.png"
    assert meta.json()["attributes"] == [{"trait_type": "era", "value": "Kardashev II"}]
    collection = await api.get("/nft/metadata/collection.json")
    assert collection.status_code == 200 and collection.json()["name"]

    retired = await api.post(f"/admin/nft/catalog/{item['id']}/retire", headers=bearer(admin))
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    listed = (await api.get("/nft/catalog", params={"limit": 100})).json()["items"]
    assert item["id"] not in [i["id"] for i in listed]
    assert (await api.get(f"/nft/metadata/items/{item['id']}.json")).status_code == 200
