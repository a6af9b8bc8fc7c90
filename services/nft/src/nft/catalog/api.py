"""HTTP routes of the catalog.

- `/admin/nft/catalog...`: catalog management, admin token only;
- `/nft/catalog`: the public catalog (active items), no token;
- `/nft/metadata/...`: public TEP-64 JSON at stable URLs the on-chain content points to.

GETs never write.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from scifikpi_common.app import UoW
from scifikpi_common.clock import utcnow
from scifikpi_common.db import committing
from scifikpi_common.errors import Forbidden, InvalidCursor, InvalidToken
from scifikpi_common.problems import problem_responses
from scifikpi_common.security import CurrentAdmin

from nft.catalog import handlers
from nft.catalog.domain import CatalogItemNotFound, InvalidPrice, SupplyBelowSold
from nft.catalog.schemas import (
    AdminCatalogItemOut,
    AdminCatalogPage,
    CatalogItemCreate,
    CatalogItemPatch,
    CatalogPage,
    CollectionMetadata,
    ItemMetadata,
)
from nft.routing import Settings
from nft.settings import NftSettings

Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.")]
Limit = Annotated[int, Query(ge=1, le=100)]

admin_router = APIRouter(prefix="/admin/nft", tags=["nft-admin"])
public_router = APIRouter(prefix="/nft", tags=["nft"])

_ADMIN = (InvalidToken, Forbidden)


@admin_router.post(
    "/catalog",
    status_code=201,
    response_model=AdminCatalogItemOut,
    responses=problem_responses(*_ADMIN, InvalidPrice),
)
async def create_item(
    body: CatalogItemCreate, admin: CurrentAdmin, uow: UoW, settings: Settings
) -> AdminCatalogItemOut:
    """Add an item to the catalog (active at once; nothing sold yet)."""
    new = body.to_command()
    async with committing(uow):
        item = await handlers.create_item(uow, admin.user_id, new, utcnow())
    return AdminCatalogItemOut.of(item, settings)


@admin_router.get(
    "/catalog",
    response_model=AdminCatalogPage,
    responses=problem_responses(*_ADMIN, InvalidCursor),
)
async def list_items(
    _admin: CurrentAdmin, uow: UoW, settings: Settings, cursor: Cursor = None, limit: Limit = 50
) -> AdminCatalogPage:
    """Every item, retired ones included, newest first, keyset-paged."""
    page = await handlers.catalog_page(uow, active_only=False, cursor=cursor, limit=limit)
    return AdminCatalogPage.of(page, settings)


@admin_router.patch(
    "/catalog/{item_id}",
    response_model=AdminCatalogItemOut,
    responses=problem_responses(*_ADMIN, CatalogItemNotFound, SupplyBelowSold, InvalidPrice),
)
async def edit_item(
    item_id: UUID, body: CatalogItemPatch, admin: CurrentAdmin, uow: UoW, settings: Settings
) -> AdminCatalogItemOut:
    """Change the fields sent. `supply_total` may grow, or shrink down to `supply_sold`."""
    changes = body.to_command()
    async with committing(uow):
        item = await handlers.edit_item(uow, admin.user_id, item_id, changes, utcnow())
    return AdminCatalogItemOut.of(item, settings)


@admin_router.post(
    "/catalog/{item_id}/retire",
    response_model=AdminCatalogItemOut,
    responses=problem_responses(*_ADMIN, CatalogItemNotFound),
)
async def retire_item(
    item_id: UUID, admin: CurrentAdmin, uow: UoW, settings: Settings
) -> AdminCatalogItemOut:
    """Take the item off sale (idempotent). It leaves the public catalog; its metadata stays."""
    async with committing(uow):
        item = await handlers.retire_item(uow, admin.user_id, item_id, utcnow())
    return AdminCatalogItemOut.of(item, settings)


@public_router.get(
    "/catalog", response_model=CatalogPage, responses=problem_responses(InvalidCursor)
)
async def public_catalog(
    uow: UoW, settings: Settings, cursor: Cursor = None, limit: Limit = 20
) -> CatalogPage:
    """Items on sale with `supply_left`, newest first, keyset-paged. No token needed."""
    page = await handlers.catalog_page(uow, active_only=True, cursor=cursor, limit=limit)
    return CatalogPage.of(page, settings)


def _cacheable(response: Response, settings: NftSettings) -> None:
    response.headers["Cache-Control"] = f"public, max-age={settings.metadata_max_age_s}"


@public_router.get(
    "/metadata/collection.json",
    response_model=CollectionMetadata,
    response_model_exclude_none=True,
    responses=problem_responses(),
)
async def collection_metadata(response: Response, settings: Settings) -> dict[str, Any]:
    """TEP-64 collection content (the on-chain collection content points here)."""
    _cacheable(response, settings)
    return handlers.collection_content(settings)


@public_router.get(
    "/metadata/items/{item_id}.json",
    response_model=ItemMetadata,
    responses=problem_responses(CatalogItemNotFound),
)
async def item_metadata(
    item_id: Annotated[str, Path(description="A catalog item id (UUID).")],
    response: Response,
    uow: UoW,
    settings: Settings,
) -> dict[str, Any]:
    """TEP-64 item content of a catalog item (retired ones too: minted NFTs keep pointing here).
    On chain: collection common prefix `{base}/nft/metadata/items/` + item suffix `{id}.json`."""
    body = await handlers.item_content(uow, item_id)
    _cacheable(response, settings)
    return body
