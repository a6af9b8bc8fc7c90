"""Events of the nft service, keyed by user id.

- `nft.purchase.v1`: the purchase saga (requested, minted, failed); the ledger holds, captures
  and releases the price on these;
- `nft.transfer.v1`: an NFT left custody for its owner's verified wallet (confirmed on chain).

Addresses are raw (`0:<64 hex>`); convert for display.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from scifikpi_common.events.base import Event

PURCHASE_TOPIC = "nft.purchase.v1"
TRANSFER_TOPIC = "nft.transfer.v1"


class _PurchaseEvent(Event):
    TOPIC: ClassVar[str] = PURCHASE_TOPIC

    purchase_id: UUID


class NftPurchaseRequested(_PurchaseEvent):
    """A purchase was recorded `pending`: the ledger must hold its price."""

    EVENT_TYPE: ClassVar[str] = "NftPurchaseRequested"

    catalog_item_id: UUID
    price_points_micro: int = Field(gt=0, description="Price in micro-points.")
    requested_at: datetime | None = None


class NftMinted(_PurchaseEvent):
    """The item is minted into custody: the ledger captures the hold."""

    EVENT_TYPE: ClassVar[str] = "NftMinted"

    catalog_item_id: UUID | None = None
    nft_address: str | None = Field(default=None, description="The item's on-chain address.")
    collection_address: str | None = Field(default=None, description="The collection's address.")
    item_index: int | None = Field(default=None, ge=0, description="The item's index in it.")
    minted_at: datetime | None = None


class NftPurchaseFailed(_PurchaseEvent):
    """The purchase ended without an item: the ledger releases the hold."""

    EVENT_TYPE: ClassVar[str] = "NftPurchaseFailed"

    reason: str
    failed_at: datetime | None = None


class NftTransferred(Event):
    """An NFT's on-chain owner is now the user's verified wallet (it left platform custody)."""

    TOPIC: ClassVar[str] = TRANSFER_TOPIC
    EVENT_TYPE: ClassVar[str] = "NftTransferred"

    transfer_id: UUID
    nft_id: UUID = Field(description="The NFT (the id of the purchase that minted it).")
    item_address: str
    to_address: str = Field(description="The user's verified wallet.")
    message_hash: str = Field(description="Hash of the signed external message that carried it.")
    transferred_at: datetime
