"""Catalog use cases: admin writes and the public / admin reads (views built here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.ids import new_id
from sqlalchemy.ext.asyncio import AsyncSession

from nft import repository as repo
from nft.domain import (
    CollectionInfo,
    check_supply,
    collection_metadata,
    decode_cursor,
    encode_cursor,
    format_points,
    item_metadata,
    parse_points,
)
from nft.errors import CatalogItemNotFound
from nft.repository import CatalogItem
from nft.schemas import (
    AdminCatalogItemOut,
    AdminCatalogPage,
    CatalogItemCreate,
    CatalogItemOut,
    CatalogItemPatch,
    CatalogPage,
)
from nft.settings import NftSettings


def public_view(item: CatalogItem, settings: NftSettings) -> CatalogItemOut:
    return CatalogItemOut(
        id=item.id, name=item.name, description=item.description, image_url=item.image_url,
        attributes=item.attributes, price_points=format_points(item.price_points_micro),
        price_points_micro=item.price_points_micro, supply_total=item.supply_total,
        supply_left=item.supply_left,
        metadata_url=f"{settings.item_metadata_prefix()}{item.id}.json",
        created_at=item.created_at,
    )  # fmt: skip


def admin_view(item: CatalogItem, settings: NftSettings) -> AdminCatalogItemOut:
    return AdminCatalogItemOut(
        **public_view(item, settings).model_dump(),
        status=item.status,  # type: ignore[arg-type]
        supply_sold=item.supply_sold,
        updated_at=item.updated_at,
    )


async def create(uow: UnitOfWork, body: CatalogItemCreate, now: datetime) -> CatalogItem:
    item = CatalogItem(
        id=new_id(), name=body.name, description=body.description, image_url=body.image_url,
        attributes=[a.model_dump() for a in body.attributes],
        price_points_micro=parse_points(body.price_points), supply_total=body.supply_total,
        supply_sold=0, status="active", created_at=now, updated_at=now,
    )  # fmt: skip
    await repo.insert(uow.session, item)
    return item


async def edit(
    uow: UnitOfWork, item_id: UUID, body: CatalogItemPatch, now: datetime
) -> CatalogItem:
    changes: dict[str, Any] = {}
    for name in ("name", "description", "image_url"):
        if name in body.model_fields_set:
            changes[name] = getattr(body, name)
    if "attributes" in body.model_fields_set and body.attributes is not None:
        changes["attributes"] = [a.model_dump() for a in body.attributes]
    if "price_points" in body.model_fields_set and body.price_points is not None:
        changes["price_points_micro"] = parse_points(body.price_points)
    # The row lock orders this edit against purchases taking supply (next slice).
    current = await repo.get(uow.session, item_id, for_update=True)
    if current is None:
        raise CatalogItemNotFound(f"Catalog item {item_id} does not exist.")
    if "supply_total" in body.model_fields_set and body.supply_total is not None:
        check_supply(body.supply_total, current.supply_sold)
        changes["supply_total"] = body.supply_total
    if not changes:
        return current
    return await repo.update_item(uow.session, item_id, changes, now)


async def retire(uow: UnitOfWork, item_id: UUID, now: datetime) -> CatalogItem:
    """Idempotent: retiring a retired item changes nothing (not even `updated_at`)."""
    current = await repo.get(uow.session, item_id, for_update=True)
    if current is None:
        raise CatalogItemNotFound(f"Catalog item {item_id} does not exist.")
    if current.status == "retired":
        return current
    return await repo.update_item(uow.session, item_id, {"status": "retired"}, now)


async def public_page(
    s: AsyncSession, settings: NftSettings, *, cursor: str | None, limit: int
) -> CatalogPage:
    rows, next_cursor = await _page(s, active_only=True, cursor=cursor, limit=limit)
    return CatalogPage(items=[public_view(r, settings) for r in rows], next_cursor=next_cursor)


async def admin_page(
    s: AsyncSession, settings: NftSettings, *, cursor: str | None, limit: int
) -> AdminCatalogPage:
    rows, next_cursor = await _page(s, active_only=False, cursor=cursor, limit=limit)
    return AdminCatalogPage(items=[admin_view(r, settings) for r in rows], next_cursor=next_cursor)


async def _page(
    s: AsyncSession, *, active_only: bool, cursor: str | None, limit: int
) -> tuple[list[CatalogItem], str | None]:
    after = decode_cursor(cursor) if cursor else None
    rows = await repo.page(s, active_only=active_only, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return rows, next_cursor


def collection_json(settings: NftSettings) -> dict[str, Any]:
    return collection_metadata(
        CollectionInfo(
            name=settings.collection_name,
            description=settings.collection_description,
            image=settings.collection_image_url,
            external_link=settings.collection_external_link,
        )
    )


async def item_json(s: AsyncSession, item_id: str) -> dict[str, Any]:
    """Retired items keep their metadata: NFTs already minted from them still point here."""
    try:
        uid = UUID(item_id)
    except ValueError:
        raise CatalogItemNotFound(f"Catalog item {item_id!r} does not exist.") from None
    item = await repo.get(s, uid)
    if item is None:
        raise CatalogItemNotFound(f"Catalog item {item_id} does not exist.")
    return item_metadata(item.name, item.description, item.image_url, item.attributes)
