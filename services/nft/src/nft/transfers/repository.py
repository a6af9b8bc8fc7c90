"""SQL of transfer requests and their reads (SQLAlchemy Core on the unit of work's session;
nothing here commits). At most one transfer of an NFT is in flight: the partial unique index
`ux_transfers_in_flight` decides a race, and its violation is `TransferInProgress`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nft.models import nfts, transfers
from nft.purchases.domain import NftStatus
from nft.transfers.domain import Transfer, TransferInProgress, TransferStatus

IN_FLIGHT_INDEX = "ux_transfers_in_flight"

_T = transfers.c
_N = nfts.c
_TRANSFER_COLS = [
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
]


class TransferRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_nft(self, nft_id: UUID) -> tuple[UUID, NftStatus] | None:
        """(user_id, status) of a minted NFT, row-locked (orders racing transfer requests)."""
        stmt = select(_N.user_id, _N.status).where(_N.id == nft_id).with_for_update()
        row = (await self.session.execute(stmt)).first()
        return None if row is None else (row.user_id, NftStatus(row.status))

    async def has_pending(self, nft_id: UUID) -> bool:
        stmt = select(_T.id).where(_T.nft_id == nft_id, _T.status == TransferStatus.pending)
        return (await self.session.execute(stmt)).first() is not None

    async def insert(self, values: dict[str, Any]) -> None:
        """Record a pending transfer; another one in flight for the NFT is `TransferInProgress`."""
        try:
            await self.session.execute(transfers.insert().values(**values))
        except IntegrityError as exc:
            if IN_FLIGHT_INDEX in str(exc.orig):
                raise TransferInProgress() from None
            raise

    async def get(self, transfer_id: UUID) -> Transfer | None:
        stmt = (
            select(*_TRANSFER_COLS)
            .select_from(transfers.join(nfts, _N.id == _T.nft_id))
            .where(_T.id == transfer_id)
        )
        row = (await self.session.execute(stmt)).first()
        if row is None:
            return None
        values = dict(row._mapping)
        return Transfer(**{**values, "status": TransferStatus(values["status"])})
