"""Request builders shared by the nft tests."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM = "urn:scifikpi:problem:"


def item_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Star Cruiser",
        "description": "A ship from the outer rim.",
        "image_url": "https://cdn.example.com/nft/cruiser.png",
        "attributes": [
            {"trait_type": "class", "value": "cruiser"},
            {"trait_type": "speed", "value": 7},
        ],
        "price_points": "12.5",
        "supply_total": 10,
    }
    body.update(overrides)
    return body


async def create(client: httpx.AsyncClient, admin: dict[str, str], **overrides: Any) -> dict:
    r = await client.post("/admin/nft/catalog", json=item_body(**overrides), headers=admin)
    assert r.status_code == 201, r.text
    return r.json()
