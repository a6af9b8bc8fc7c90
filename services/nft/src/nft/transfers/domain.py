"""Transfer rules: one transfer of an NFT in flight, only to the account's verified wallet, only
of a minted NFT still in custody. No framework or database imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from scifikpi_common.errors import Conflict, NotFound, ValidationFailed

from nft.purchases.domain import NftStatus, PurchaseStatus


class TransferStatus(StrEnum):
    """pending (until the wallet is the item's owner on chain) → completed | failed."""

    pending = "pending"
    completed = "completed"
    failed = "failed"


def transfer_failure(outcome: str) -> str:
    """The failure reason of a transfer whose last message died with `outcome`."""
    return f"transfer_{outcome}"


class NftNotFound(NotFound):
    slug, title = "nft-not-found", "No such NFT"


class NftNotMinted(Conflict):
    slug, title = "nft-not-minted", "The NFT is not minted yet"


class NftAlreadyTransferred(Conflict):
    slug, title = "nft-already-transferred", "The NFT has already been sent to a wallet"


class TransferInProgress(Conflict):
    slug, title = "transfer-in-progress", "A transfer of this NFT is already in progress"

    def __init__(self) -> None:
        super().__init__("A transfer of this NFT is already in progress.")


class TransferNotFound(NotFound):
    slug, title = "transfer-not-found", "No such transfer"


class WalletNotVerified(ValidationFailed):
    slug, title = "wallet-not-verified", "The destination is not the account's verified wallet"


@dataclass(frozen=True, slots=True)
class Transfer:
    id: UUID
    nft_id: UUID
    user_id: UUID
    to_address: str  # raw `0:<hex>`
    status: TransferStatus
    item_address: str
    message_hash: str | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


def why_no_nft(
    nft_id: UUID, user_id: UUID, purchase: tuple[UUID, PurchaseStatus] | None
) -> NftNotFound | NftNotMinted:
    """No minted NFT has this id: unknown (or another user's, or failed) → 404; still minting
    (the purchase of that id, the NFT's id, is open) → 409."""
    if purchase is None or purchase[0] != user_id or purchase[1] == PurchaseStatus.failed:
        return NftNotFound(f"NFT {nft_id} does not exist.")
    return NftNotMinted("The NFT is still being minted; try again when the purchase completes.")


def check_transferable(nft_id: UUID, user_id: UUID, owner: UUID, status: NftStatus) -> None:
    """Only the owner's NFT, and only while it is in custody."""
    if owner != user_id:
        raise NftNotFound(f"NFT {nft_id} does not exist.")
    if status != NftStatus.custody:
        raise NftAlreadyTransferred("The NFT has already been sent to a wallet.")


def destination(wanted: str | None, wallet: str | None) -> str:
    """The account's verified wallet (raw); a `to_address` sent must be that wallet."""
    if wallet is None:
        raise WalletNotVerified("Bind and verify a TON wallet (TON Connect) first.")
    if wanted is not None and wanted != wallet:
        raise WalletNotVerified("NFTs can only be sent to the account's verified wallet.")
    return wallet
