"""SQL of purchases, minted NFTs (read side) and transfer requests.

SQLAlchemy Core on the unit of work's session; nothing here commits. Supply moves only through
guarded single-statement UPDATEs (the `supply_sold` CHECK constraint is the backstop).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from nft.models import catalog_items, nfts, purchases, transfers, wallets

#: The channel the chain engine LISTENs on: new work (reserved purchase, pending transfer).
CHAIN_CHANNEL = "nft_chain"
IDEMPOTENCY_CONSTRAINT = "purchases_idempotency_key"
IN_FLIGHT_INDEX = "ux_transfers_in_flight"
OPEN = ("pending", "reserved")


@dataclass(frozen=True, slots=True)
class Purchase:
    id: UUID
    user_id: UUID
    catalog_item_id: UUID
    idempotency_key: str
    price_points_micro: int
    status: str
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    # from the minted NFT (None until completed)
    collection_address: str | None = None
    item_index: int | None = None
    item_address: str | None = None


@dataclass(frozen=True, slots=True)
class MintedNft:
    id: UUID
    user_id: UUID
    catalog_item_id: UUID
    name: str
    image_url: str
    collection_address: str
    item_index: int
    item_address: str
    owner_address: str
    status: str
    minted_at: datetime
    transferred_at: datetime | None


@dataclass(frozen=True, slots=True)
class Transfer:
    id: UUID
    nft_id: UUID
    user_id: UUID
    to_address: str
    status: str
    item_address: str
    message_hash: str | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


_P = purchases.c
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
    nfts.c.collection_address,
    nfts.c.item_index,
    nfts.c.item_address,
]
_PURCHASE_FROM = purchases.outerjoin(nfts, nfts.c.purchase_id == _P.id)


def _purchase(row: Any) -> Purchase:
    return Purchase(**row._mapping)


async def notify_chain(s: AsyncSession) -> None:
    """Wake the chain engine when this transaction commits (NOTIFY is transactional)."""
    await s.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHAIN_CHANNEL})


# --------------------------------------------------------------------------- catalog supply


async def take_supply(s: AsyncSession, item_id: UUID) -> int | None:
    """Sell one unit if the item is active and not sold out; its current price, else None."""
    row = (
        await s.execute(
            update(catalog_items)
            .where(
                catalog_items.c.id == item_id,
                catalog_items.c.status == "active",
                catalog_items.c.supply_sold < catalog_items.c.supply_total,
            )
            .values(supply_sold=catalog_items.c.supply_sold + 1)
            .returning(catalog_items.c.price_points_micro)
        )
    ).first()
    return None if row is None else int(row.price_points_micro)


async def restore_supply(s: AsyncSession, item_id: UUID) -> None:
    await s.execute(
        update(catalog_items)
        .where(catalog_items.c.id == item_id)
        .values(supply_sold=catalog_items.c.supply_sold - 1)
    )


# --------------------------------------------------------------------------- purchases


async def insert_purchase(s: AsyncSession, values: dict[str, Any]) -> None:
    await s.execute(purchases.insert().values(**values))


async def by_key(s: AsyncSession, user_id: UUID, key: str) -> Purchase | None:
    stmt = (
        select(*_PURCHASE_COLS)
        .select_from(_PURCHASE_FROM)
        .where(_P.user_id == user_id, _P.idempotency_key == key)
    )
    row = (await s.execute(stmt)).first()
    return _purchase(row) if row else None


async def get_purchase(s: AsyncSession, purchase_id: UUID) -> Purchase | None:
    stmt = select(*_PURCHASE_COLS).select_from(_PURCHASE_FROM).where(_P.id == purchase_id)
    row = (await s.execute(stmt)).first()
    return _purchase(row) if row else None


async def lock_purchase(s: AsyncSession, purchase_id: UUID) -> tuple[str, UUID, UUID] | None:
    """(status, user_id, catalog_item_id) of a purchase, row-locked; None if unknown."""
    row = (
        await s.execute(
            select(_P.status, _P.user_id, _P.catalog_item_id)
            .where(_P.id == purchase_id)
            .with_for_update(of=purchases)
        )
    ).first()
    return None if row is None else (row.status, row.user_id, row.catalog_item_id)


async def set_reserved(s: AsyncSession, purchase_id: UUID, now: datetime) -> bool:
    row = (
        await s.execute(
            update(purchases)
            .where(_P.id == purchase_id, _P.status == "pending")
            .values(status="reserved", reserved_at=now, updated_at=now)
            .returning(_P.id)
        )
    ).first()
    return row is not None


async def set_failed(
    s: AsyncSession, purchase_id: UUID, *, reason: str, now: datetime
) -> tuple[UUID, UUID] | None:
    """Open (pending/reserved) → failed; (user_id, catalog_item_id), or None if already final."""
    row = (
        await s.execute(
            update(purchases)
            .where(_P.id == purchase_id, _P.status.in_(OPEN))
            .values(
                status="failed",
                failure_reason=reason,
                failed_at=now,
                updated_at=now,
                message_id=None,
                item_index=None,
            )
            .returning(_P.user_id, _P.catalog_item_id)
        )
    ).first()
    return None if row is None else (row.user_id, row.catalog_item_id)


async def lock_stale_pending(
    s: AsyncSession, *, older_than: datetime, limit: int
) -> list[tuple[UUID, UUID]]:
    """(id, catalog_item_id) of pending purchases not updated since `older_than`, row-locked,
    skipping rows another replica holds; ordered by item so catalog rows lock in one order."""
    locked = (
        select(_P.id, _P.catalog_item_id)
        .where(_P.status == "pending", _P.updated_at < older_than)
        .order_by(_P.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await s.execute(locked)).all()
    return sorted(((r.id, r.catalog_item_id) for r in rows), key=lambda r: (r[1], r[0]))


async def page_purchases(
    s: AsyncSession, user_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
) -> list[Purchase]:
    """The user's purchases, newest first, keyset on (created_at, id)."""
    conditions = [_P.user_id == user_id]
    if after is not None:
        conditions.append(tuple_(_P.created_at, _P.id) < tuple_(*after))  # type: ignore[arg-type]
    stmt = (
        select(*_PURCHASE_COLS)
        .select_from(_PURCHASE_FROM)
        .where(and_(*conditions))
        .order_by(_P.created_at.desc(), _P.id.desc())
        .limit(limit)
    )
    return [_purchase(r) for r in (await s.execute(stmt)).all()]


# --------------------------------------------------------------------------- minted NFTs

_N = nfts.c
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


async def page_nfts(
    s: AsyncSession, user_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
) -> list[MintedNft]:
    """The user's minted NFTs, newest first, keyset on (minted_at, id)."""
    conditions = [_N.user_id == user_id]
    if after is not None:
        conditions.append(tuple_(_N.minted_at, _N.id) < tuple_(*after))  # type: ignore[arg-type]
    stmt = (
        select(*_NFT_COLS)
        .select_from(_NFT_FROM)
        .where(and_(*conditions))
        .order_by(_N.minted_at.desc(), _N.id.desc())
        .limit(limit)
    )
    return [MintedNft(**r._mapping) for r in (await s.execute(stmt)).all()]


async def lock_nft(s: AsyncSession, nft_id: UUID) -> tuple[UUID, str] | None:
    """(user_id, status) of a minted NFT, row-locked (orders racing transfer requests)."""
    row = (
        await s.execute(select(_N.user_id, _N.status).where(_N.id == nft_id).with_for_update())
    ).first()
    return None if row is None else (row.user_id, row.status)


async def purchase_status(s: AsyncSession, purchase_id: UUID) -> tuple[UUID, str] | None:
    row = (await s.execute(select(_P.user_id, _P.status).where(_P.id == purchase_id))).first()
    return None if row is None else (row.user_id, row.status)


# --------------------------------------------------------------------------- wallets, transfers


async def wallet_address(s: AsyncSession, user_id: UUID) -> str | None:
    return (
        await s.execute(select(wallets.c.address).where(wallets.c.user_id == user_id))
    ).scalar_one_or_none()


async def has_pending_transfer(s: AsyncSession, nft_id: UUID) -> bool:
    stmt = select(transfers.c.id).where(
        transfers.c.nft_id == nft_id, transfers.c.status == "pending"
    )
    return (await s.execute(stmt)).first() is not None


async def insert_transfer(s: AsyncSession, values: dict[str, Any]) -> None:
    await s.execute(transfers.insert().values(**values))


_T = transfers.c


async def get_transfer(s: AsyncSession, transfer_id: UUID) -> Transfer | None:
    stmt = (
        select(
            _T.id,
            _T.nft_id,
            _T.user_id,
            _T.to_address,
            _T.status,
            _N.item_address,
            _T.message_hash,
            _T.failure_reason,
            _T.created_at,
            _T.updated_at,
            _T.completed_at,
        )
        .select_from(transfers.join(nfts, _N.id == _T.nft_id))
        .where(_T.id == transfer_id)
    )
    row = (await s.execute(stmt)).first()
    return Transfer(**row._mapping) if row else None
