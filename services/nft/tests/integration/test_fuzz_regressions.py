"""What the API fuzzer (`scifikpi_tools.fuzz`, issue 12) found in nft, kept fixed.

A NUL character (U+0000) in a catalog string reached Postgres, which refuses it in text and
jsonb: `PATCH /admin/nft/catalog/{id}` answered 500. Every stored string now refuses it with 422.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _nft_helpers import create, item_body
from scifikpi_common.testing.contracts import assert_problem

NUL = "\u0000"
CHANGES = [
    {"name": f"Star{NUL}Cruiser"},
    {"description": f"outer{NUL}rim"},
    {"image_url": f"https://cdn.example.com/nft/{NUL}.png"},
    {"attributes": [{"trait_type": f"class{NUL}", "value": "cruiser"}]},
    {"attributes": [{"trait_type": "class", "value": f"cruiser{NUL}"}]},
]


@pytest.mark.parametrize("changes", CHANGES)
async def test_a_nul_in_a_new_item_is_a_422(
    client: httpx.AsyncClient, admin: dict[str, str], changes: dict[str, Any]
) -> None:
    r = await client.post("/admin/nft/catalog", json=item_body(**changes), headers=admin)
    body = assert_problem(r, 422, "validation-error")
    assert "NUL" in body["detail"], body
    listed = (await client.get("/admin/nft/catalog", headers=admin)).json()["items"]
    assert listed == []


@pytest.mark.parametrize("changes", CHANGES)
async def test_a_nul_in_a_patch_is_a_422_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], changes: dict[str, Any]
) -> None:
    item = await create(client, admin)
    r = await client.patch(f"/admin/nft/catalog/{item['id']}", json=changes, headers=admin)
    assert_problem(r, 422, "validation-error")
    [after] = (await client.get("/admin/nft/catalog", headers=admin)).json()["items"]
    assert after == item


async def test_other_control_characters_and_unicode_still_store(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Only NUL is refused: a tab, a newline and astral characters are ordinary text."""
    name = "Tab\tNew\nline \U0001f680"
    item = await create(client, admin, name=name, attributes=[{"trait_type": "✨", "value": 1}])
    assert item["name"] == name and item["attributes"] == [{"trait_type": "✨", "value": 1}]
