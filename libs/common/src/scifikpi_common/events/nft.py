"""Events of the nft service, keyed by user id (the catalog's by item id).

- `nft.purchase.v1`: the purchase saga (requested, minted, failed); the ledger holds, captures
  and releases the price on these;
- `nft.transfer.v1`: an NFT left custody for its owner's verified wallet (confirmed on chain);
- `nft.catalog.v1`: a catalog item's whole state after an admin created, edited or retired it
  (state-carried: keep the latest by `changed_at`); keyed by item id, so one item's changes stay
  in order on one partition;
- `nft.wallet.v1`: a TON wallet was bound to an account (first verification only).

Addresses are raw (`0:<64 hex>`); convert for display.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from scifikpi_common.events.base import Event

PURCHASE_TOPIC = "nft.purchase.v1"
TRANSFER_TOPIC = "nft.transfer.v1"
CATALOG_TOPIC = "nft.catalog.v1"
WALLET_TOPIC = "nft.wallet.v1"

CatalogItemStatus = Literal["active", "retired"]


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


class NftCatalogItemChanged(Event):
    """A catalog item's whole state after an admin created, edited or retired it. State-carried:
    keep the latest by `changed_at` (strictly increasing per item). Keyed by `item_id`, not by
    user. Sales do not publish it: `supply_sold` follows from the purchase events."""

    TOPIC: ClassVar[str] = CATALOG_TOPIC
    EVENT_TYPE: ClassVar[str] = "NftCatalogItemChanged"

    user_id: UUID = Field(description="The admin who made the change (the key is `item_id`).")
    item_id: UUID = Field(description="The catalog item; also the Kafka key.")
    name: str = Field(description="The item's name.")
    price_points_micro: int = Field(gt=0, description="Price in micro-points.")
    supply_total: int = Field(ge=0, description="How many may ever be sold.")
    status: CatalogItemStatus = Field(description="`retired` items are off sale for good.")
    changed_at: datetime = Field(
        description="When this state took effect (the item's `updated_at`); increases per item."
    )

    @property
    def key(self) -> str:
        """Partition key: one item's changes stay in order."""
        return str(self.item_id)


class NftWalletBound(Event):
    """A TON wallet, proven with TON Connect `ton_proof`, is now the account's verified wallet.
    Once per account: re-verifying the same wallet changes nothing, and re-binding another wallet
    is refused (409 `wallet-already-bound`)."""

    TOPIC: ClassVar[str] = WALLET_TOPIC
    EVENT_TYPE: ClassVar[str] = "NftWalletBound"

    address: str = Field(description="The wallet's raw address (`0:<64 hex>`).")
    bound_at: datetime = Field(description="When the proof was verified and the wallet bound.")
