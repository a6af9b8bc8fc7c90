"""The published contract: every route documented with its problems and response models."""

from __future__ import annotations

import httpx
from scifikpi_common.testing.contracts import check_documented


async def test_routes_are_documented_with_their_problems(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    admin = {"401", "403", "422"}
    expected = {
        ("/admin/nft/catalog", "post"): ({"201"} | admin, True),
        ("/admin/nft/catalog", "get"): ({"200"} | admin, True),
        ("/admin/nft/catalog/{item_id}", "patch"): ({"200", "404", "409"} | admin, True),
        ("/admin/nft/catalog/{item_id}/retire", "post"): ({"200", "404"} | admin, True),
        ("/nft/catalog", "get"): ({"200", "422"}, False),
        ("/nft/metadata/collection.json", "get"): ({"200"}, False),
        ("/nft/metadata/items/{item_id}.json", "get"): ({"200", "404"}, False),
        ("/nft/purchases", "post"): (
            {"200", "202", "400", "401", "403", "404", "409", "422"},
            True,
        ),
        ("/nft/purchases", "get"): ({"200", "401", "422"}, True),
        ("/nft/purchases/{purchase_id}", "get"): ({"200", "401", "404"}, True),
        ("/nft/mine", "get"): ({"200", "401", "422"}, True),
        ("/nft/{nft_id}/transfer", "post"): ({"202", "401", "404", "409", "422"}, True),
        ("/nft/transfers/{transfer_id}", "get"): ({"200", "401", "404"}, True),
        ("/nft/wallets/challenge", "post"): ({"201", "401", "403"}, True),
        ("/nft/wallets/verify", "post"): ({"200", "401", "403", "409", "422"}, True),
        ("/nft/wallets/me", "get"): ({"200", "401", "404"}, True),
    }
    routes = {p for p in paths if p.startswith(("/nft", "/admin"))}
    assert routes == {path for path, _ in expected}
    check_documented(paths, expected, typed_success=True)
    patch = paths["/admin/nft/catalog/{item_id}"]["patch"]["responses"]
    assert "No such catalog item" in patch["404"]["description"]
    assert "below the number already sold" in patch["409"]["description"]
    assert "positive decimal string" in patch["422"]["description"]
    assert "page cursor" in paths["/nft/catalog"]["get"]["responses"]["422"]["description"]
    components = schema["components"]["schemas"]
    assert {
        "CatalogItemOut",
        "AdminCatalogItemOut",
        "CatalogPage",
        "AdminCatalogPage",
        "CollectionMetadata",
        "ItemMetadata",
        "Problem",
    } <= set(components)
    assert components["CatalogItemCreate"].get("additionalProperties") is False


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json()["checks"]["database"] == "ok"
