"""SQL of the catalog (SQLAlchemy Core on the unit of work's session; nothing here commits).

Supply moves only through guarded single-statement UPDATEs (the `supply_sold` CHECK constraint is
the backstop), so concurrent purchases never oversell.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from nft.catalog.domain import CatalogItem, CatalogItemStatus
from nft.models import catalog_items

_C = catalog_items.c
_FIELDS = [f.name for f in fields(CatalogItem)]
_COLUMNS = [_C[name] for name in _FIELDS]
#: `GET /nft/catalog`'s first page, built once rather than per request (ADR 0009).
_ACTIVE_FIRST_PAGE = (
    select(*_COLUMNS)
    .where(_C.status == CatalogItemStatus.active)
    .order_by(_C.created_at.desc(), _C.id.desc())
    .limit(bindparam("n"))
)


def _item(row: Any) -> CatalogItem:
    values = dict(row._mapping)
    return CatalogItem(**{**values, "status": CatalogItemStatus(values["status"])})


class CatalogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, item: CatalogItem) -> None:
        values = {name: getattr(item, name) for name in _FIELDS}
        await self.session.execute(catalog_items.insert().values(**values))

    async def get(self, item_id: UUID, *, for_update: bool = False) -> CatalogItem | None:
        stmt = select(*_COLUMNS).where(_C.id == item_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).first()
        return _item(row) if row else None

    async def update(self, item_id: UUID, values: dict[str, Any], now: datetime) -> CatalogItem:
        stmt = (
            update(catalog_items)
            .where(_C.id == item_id)
            .values(**values, updated_at=now)
            .returning(*_COLUMNS)
        )
        return _item((await self.session.execute(stmt)).one())

    async def page(
        self, *, active_only: bool, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[CatalogItem]:
        """Newest first, keyset on (created_at, id)."""
        if active_only and after is None:  # the public catalog's first page: the hot read
            rows = await self.session.execute(_ACTIVE_FIRST_PAGE, {"n": limit})
            return [_item(r) for r in rows.all()]
        conditions: list[ColumnElement[bool]] = []
        if active_only:
            conditions.append(_C.status == CatalogItemStatus.active)
        if after is not None:
            conditions.append(tuple_(_C.created_at, _C.id) < tuple_(*after))
        stmt = select(*_COLUMNS).where(*conditions)
        stmt = stmt.order_by(_C.created_at.desc(), _C.id.desc()).limit(limit)
        return [_item(r) for r in (await self.session.execute(stmt)).all()]

    async def take_one(self, item_id: UUID) -> int | None:
        """Sell one unit if the item is active and not sold out: its current price, else None."""
        stmt = (
            update(catalog_items)
            .where(
                _C.id == item_id,
                _C.status == CatalogItemStatus.active,
                _C.supply_sold < _C.supply_total,
            )
            .values(supply_sold=_C.supply_sold + 1)
            .returning(_C.price_points_micro)
        )
        row = (await self.session.execute(stmt)).first()
        return None if row is None else int(row.price_points_micro)

    async def give_back_one(self, item_id: UUID) -> None:
        """A unit returns to supply (its purchase ended without an item)."""
        await self.session.execute(
            update(catalog_items).where(_C.id == item_id).values(supply_sold=_C.supply_sold - 1)
        )
