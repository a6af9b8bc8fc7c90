"""SQL of purchases and of the minted NFTs a buyer reads (SQLAlchemy Core on the unit of work's
session; nothing here commits). State changes are guarded single statements
(`UPDATE … WHERE status IN (…) RETURNING`), so a repeated or racing transition changes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from nft.models import catalog_items, nfts, purchases
from nft.purchases.domain import (
    OPEN,
    MintedNft,
    NftStatus,
    OpenPurchase,
    Purchase,
    PurchaseStatus,
)

IDEMPOTENCY_CONSTRAINT = "purchases_idempotency_key"

_P = purchases.c
_N = nfts.c
_PURCHASE_COLS = [
    _P.id,
    _P.user_id,
    _P.catalog_item_id,
    _P.idempotency_key,
    _P.price_points_micro,
    _P.status,
    _P.failure_reason,
    _P.created_at,
    _P.updated_at,
    _P.completed_at,
    _N.collection_address,
    _N.item_index,
    _N.item_address,
]
_PURCHASE_FROM = purchases.outerjoin(nfts, _N.purchase_id == _P.id)
_NFT_COLS = [
    _N.id,
    _N.user_id,
    _N.catalog_item_id,
    catalog_items.c.name,
    catalog_items.c.image_url,
    _N.collection_address,
    _N.item_index,
    _N.item_address,
    _N.owner_address,
    _N.status,
    _N.minted_at,
    _N.transferred_at,
]
_NFT_FROM = nfts.join(catalog_items, catalog_items.c.id == _N.catalog_item_id)


def _purchase(row: Any) -> Purchase:
    values = dict(row._mapping)
    return Purchase(**{**values, "status": PurchaseStatus(values["status"])})


def _nft(row: Any) -> MintedNft:
    values = dict(row._mapping)
    return MintedNft(**{**values, "status": NftStatus(values["status"])})


class PurchaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, values: dict[str, Any]) -> bool:
        """Record a purchase; False (nothing written) if its (user, Idempotency-Key) is taken,
        also by a concurrent request that committed first (Postgres waits for it)."""
        stmt = (
            insert(purchases)
            .values(**values)
            .on_conflict_do_nothing(constraint=IDEMPOTENCY_CONSTRAINT)
            .returning(_P.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def by_key(self, user_id: UUID, key: str) -> Purchase | None:
        stmt = (
            select(*_PURCHASE_COLS)
            .select_from(_PURCHASE_FROM)
            .where(_P.user_id == user_id, _P.idempotency_key == key)
        )
        row = (await self.session.execute(stmt)).first()
        return _purchase(row) if row else None

    async def get(self, purchase_id: UUID) -> Purchase | None:
        stmt = select(*_PURCHASE_COLS).select_from(_PURCHASE_FROM).where(_P.id == purchase_id)
        row = (await self.session.execute(stmt)).first()
        return _purchase(row) if row else None

    async def lock(self, purchase_id: UUID) -> OpenPurchase | None:
        """The purchase, row-locked (orders the ledger's answers and the sweeper), or None."""
        stmt = (
            select(_P.id, _P.status, _P.user_id, _P.catalog_item_id)
            .where(_P.id == purchase_id)
            .with_for_update(of=purchases)
        )
        row = (await self.session.execute(stmt)).first()
        if row is None:
            return None
        return OpenPurchase(row.id, PurchaseStatus(row.status), row.user_id, row.catalog_item_id)

    async def owner_and_status(self, purchase_id: UUID) -> tuple[UUID, PurchaseStatus] | None:
        stmt = select(_P.user_id, _P.status).where(_P.id == purchase_id)
        row = (await self.session.execute(stmt)).first()
        return None if row is None else (row.user_id, PurchaseStatus(row.status))

    async def set_reserved(self, purchase_id: UUID, now: datetime) -> bool:
        stmt = (
            update(purchases)
            .where(_P.id == purchase_id, _P.status == PurchaseStatus.pending)
            .values(status=PurchaseStatus.reserved, reserved_at=now, updated_at=now)
            .returning(_P.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def set_failed(
        self, purchase_id: UUID, *, reason: str, now: datetime
    ) -> tuple[UUID, UUID] | None:
        """Open → failed, its mint slot cleared; (user_id, catalog_item_id), or None if final."""
        stmt = (
            update(purchases)
            .where(_P.id == purchase_id, _P.status.in_(OPEN))
            .values(
                status=PurchaseStatus.failed,
                failure_reason=reason,
                failed_at=now,
                updated_at=now,
                message_id=None,
                item_index=None,
            )
            .returning(_P.user_id, _P.catalog_item_id)
        )
        row = (await self.session.execute(stmt)).first()
        return None if row is None else (row.user_id, row.catalog_item_id)

    async def lock_stale_pending(self, *, older_than: datetime, limit: int) -> list[UUID]:
        """Ids of pending purchases not updated since `older_than`, row-locked, skipping rows
        another replica holds; ordered by item so catalog rows lock in one order."""
        stmt = (
            select(_P.id, _P.catalog_item_id)
            .where(_P.status == PurchaseStatus.pending, _P.updated_at < older_than)
            .order_by(_P.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = (await self.session.execute(stmt)).all()
        return [r.id for r in sorted(rows, key=lambda r: (r.catalog_item_id, r.id))]

    async def page(
        self, user_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Purchase]:
        """The user's purchases, newest first, keyset on (created_at, id)."""
        conditions: list[ColumnElement[bool]] = [_P.user_id == user_id]
        if after is not None:
            conditions.append(tuple_(_P.created_at, _P.id) < tuple_(*after))
        stmt = (
            select(*_PURCHASE_COLS)
            .select_from(_PURCHASE_FROM)
            .where(*conditions)
            .order_by(_P.created_at.desc(), _P.id.desc())
            .limit(limit)
        )
        return [_purchase(r) for r in (await self.session.execute(stmt)).all()]

    async def page_nfts(
        self, user_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[MintedNft]:
        """The user's minted NFTs, newest first, keyset on (minted_at, id)."""
        conditions: list[ColumnElement[bool]] = [_N.user_id == user_id]
        if after is not None:
            conditions.append(tuple_(_N.minted_at, _N.id) < tuple_(*after))
        stmt = (
            select(*_NFT_COLS)
            .select_from(_NFT_FROM)
            .where(*conditions)
            .order_by(_N.minted_at.desc(), _N.id.desc())
            .limit(limit)
        )
        return [_nft(r) for r in (await self.session.execute(stmt)).all()]
