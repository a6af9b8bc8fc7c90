"""Catalog use cases: admin writes and the public / admin reads. Nothing here commits: the
route owns the unit of work.

Every write that changes an item publishes `NftCatalogItemChanged` (the item's whole state after
it, with the admin's user id) in the same transaction; a write that changes nothing (an empty
edit, retiring a retired item) publishes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.events.nft import NftCatalogItemChanged
from scifikpi_common.ids import new_id
from scifikpi_common.pagination import decode_cursor

from nft.catalog.domain import (
    CatalogItem,
    CatalogItemNotFound,
    CatalogItemStatus,
    CollectionInfo,
    ItemChanges,
    NewItem,
    change_time,
    check_supply,
    collection_metadata,
    item_metadata,
    not_found,
)
from nft.catalog.repository import CatalogRepository
from nft.domain import Page, keyset_page
from nft.settings import NftSettings


def _changed(item: CatalogItem, admin_id: UUID) -> NftCatalogItemChanged:
    return NftCatalogItemChanged(
        user_id=admin_id,
        item_id=item.id,
        name=item.name,
        price_points_micro=item.price_points_micro,
        supply_total=item.supply_total,
        status=item.status.value,
        changed_at=item.updated_at,
    )


async def create_item(uow: UnitOfWork, admin_id: UUID, new: NewItem, now: datetime) -> CatalogItem:
    """Add an item, active at once, nothing sold yet."""
    item = CatalogItem(
        id=new_id(),
        name=new.name,
        description=new.description,
        image_url=new.image_url,
        attributes=new.attributes,
        price_points_micro=new.price_points_micro,
        supply_total=new.supply_total,
        supply_sold=0,
        status=CatalogItemStatus.active,
        created_at=now,
        updated_at=now,
    )
    await CatalogRepository(uow.session).insert(item)
    await uow.publish(_changed(item, admin_id))
    return item


async def edit_item(
    uow: UnitOfWork, admin_id: UUID, item_id: UUID, changes: ItemChanges, now: datetime
) -> CatalogItem:
    """Change the fields sent; the supply may not go below what is sold."""
    repo = CatalogRepository(uow.session)
    values = changes.columns()
    # The row lock orders this edit against purchases taking supply.
    current = await repo.get(item_id, for_update=True)
    if current is None:
        raise not_found(item_id)
    if changes.supply_total is not None:
        check_supply(changes.supply_total, current.supply_sold)
        values["supply_total"] = changes.supply_total
    if not values:
        return current
    edited = await repo.update(item_id, values, change_time(current.updated_at, now))
    await uow.publish(_changed(edited, admin_id))
    return edited


async def retire_item(uow: UnitOfWork, admin_id: UUID, item_id: UUID, now: datetime) -> CatalogItem:
    """Idempotent: retiring a retired item changes nothing (not even `updated_at`)."""
    repo = CatalogRepository(uow.session)
    current = await repo.get(item_id, for_update=True)
    if current is None:
        raise not_found(item_id)
    if current.status == CatalogItemStatus.retired:
        return current
    retired = await repo.update(
        item_id, {"status": CatalogItemStatus.retired}, change_time(current.updated_at, now)
    )
    await uow.publish(_changed(retired, admin_id))
    return retired


async def catalog_page(
    uow: UnitOfWork, *, active_only: bool, cursor: str | None, limit: int
) -> Page[CatalogItem]:
    """Newest first, keyset-paged: the public catalog (active only) or the admin list (all)."""
    after = decode_cursor(cursor, UUID) if cursor else None
    rows = await CatalogRepository(uow.session).page(
        active_only=active_only, after=after, limit=limit + 1
    )
    return keyset_page(rows, limit, lambda item: (item.created_at, item.id))


def collection_content(settings: NftSettings) -> dict[str, Any]:
    """The TEP-64 collection JSON the on-chain collection content points to."""
    return collection_metadata(
        CollectionInfo(
            name=settings.collection_name,
            description=settings.collection_description,
            image=settings.collection_image_url,
            external_link=settings.collection_external_link,
        )
    )


async def item_content(uow: UnitOfWork, item_id: str) -> dict[str, Any]:
    """TEP-64 item JSON. Retired items keep it: NFTs already minted from them still point here."""
    try:
        uid = UUID(item_id)
    except ValueError:
        raise CatalogItemNotFound(f"Catalog item {item_id!r} does not exist.") from None
    item = await CatalogRepository(uow.session).get(uid)
    if item is None:
        raise not_found(uid)
    return item_metadata(item.name, item.description, item.image_url, item.attributes)
