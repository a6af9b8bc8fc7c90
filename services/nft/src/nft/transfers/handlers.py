"""Transfer use cases: request a transfer of a minted NFT to the account's verified wallet, and
read one. Nothing here commits: the route owns the unit of work; the chain engine picks the
request up (it is woken when this transaction commits)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.ids import new_id

from nft.chain.repository import wake_engine
from nft.purchases.repository import PurchaseRepository
from nft.ton.addresses import parse_user_address, raw
from nft.transfers.domain import (
    Transfer,
    TransferInProgress,
    TransferNotFound,
    TransferStatus,
    check_transferable,
    destination,
    why_no_nft,
)
from nft.transfers.repository import TransferRepository
from nft.wallets.repository import WalletRepository


async def request_transfer(
    uow: UnitOfWork, *, user_id: UUID, nft_id: UUID, to_address: str | None, now: datetime
) -> Transfer:
    """Queue a transfer of a minted NFT (in custody) to the account's verified wallet."""
    repo = TransferRepository(uow.session)
    nft = await repo.lock_nft(nft_id)
    if nft is None:
        purchase = await PurchaseRepository(uow.session).owner_and_status(nft_id)
        raise why_no_nft(nft_id, user_id, purchase)
    check_transferable(nft_id, user_id, *nft)
    if await repo.has_pending(nft_id):
        raise TransferInProgress()
    wanted = None if to_address is None else raw(parse_user_address(to_address))
    wallet = destination(wanted, await WalletRepository(uow.session).address_of(user_id))
    transfer_id = new_id()
    await repo.insert(
        {
            "id": transfer_id,
            "nft_id": nft_id,
            "user_id": user_id,
            "to_address": wallet,
            "status": TransferStatus.pending,
            "created_at": now,
            "updated_at": now,
        }
    )
    await wake_engine(uow.session)
    transfer = await repo.get(transfer_id)
    assert transfer is not None
    return transfer


async def get_transfer(uow: UnitOfWork, user_id: UUID, transfer_id: UUID) -> Transfer:
    """One of the user's transfers; another user's is "not found"."""
    transfer = await TransferRepository(uow.session).get(transfer_id)
    if transfer is None or transfer.user_id != user_id:
        raise TransferNotFound(f"Transfer {transfer_id} does not exist.")
    return transfer
