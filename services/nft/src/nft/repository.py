"""SQL of the catalog (SQLAlchemy Core on the unit of work's session)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from nft.models import catalog_items


@dataclass(frozen=True, slots=True)
class CatalogItem:
    id: UUID
    name: str
    description: str
    image_url: str
    attributes: list[dict[str, Any]]
    price_points_micro: int
    supply_total: int
    supply_sold: int
    status: str
    created_at: datetime
    updated_at: datetime

    @property
    def supply_left(self) -> int:
        return self.supply_total - self.supply_sold


_FIELDS = [f.name for f in fields(CatalogItem)]
_COLUMNS = [catalog_items.c[name] for name in _FIELDS]


def _item(row: Any) -> CatalogItem:
    return CatalogItem(**row._mapping)


async def insert(s: AsyncSession, item: CatalogItem) -> None:
    values = {name: getattr(item, name) for name in _FIELDS}
    await s.execute(catalog_items.insert().values(**values))


async def get(s: AsyncSession, item_id: UUID, *, for_update: bool = False) -> CatalogItem | None:
    stmt = select(*_COLUMNS).where(catalog_items.c.id == item_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await s.execute(stmt)).first()
    return _item(row) if row else None


async def update_item(
    s: AsyncSession, item_id: UUID, values: dict[str, Any], now: datetime
) -> CatalogItem:
    row = (
        await s.execute(
            update(catalog_items)
            .where(catalog_items.c.id == item_id)
            .values(**values, updated_at=now)
            .returning(*_COLUMNS)
        )
    ).one()
    return _item(row)


async def page(
    s: AsyncSession, *, active_only: bool, after: tuple[datetime, UUID] | None, limit: int
) -> list[CatalogItem]:
    """Newest first, keyset on (created_at, id)."""
    stmt = select(*_COLUMNS)
    conditions = []
    if active_only:
        conditions.append(catalog_items.c.status == "active")
    if after is not None:
        conditions.append(
            tuple_(catalog_items.c.created_at, catalog_items.c.id) < tuple_(*after)  # type: ignore[arg-type]
        )
    if conditions:
        stmt = stmt.where(and_(*conditions))
    stmt = stmt.order_by(catalog_items.c.created_at.desc(), catalog_items.c.id.desc()).limit(limit)
    return [_item(r) for r in (await s.execute(stmt)).all()]
