"""Events of the nft service, on `nft.purchase.v1` (keyed by user id).

The nft service itself arrives in a later issue; the ledger consumes these already.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from scifikpi_common.events.base import Event

PURCHASE_TOPIC = "nft.purchase.v1"


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
    minted_at: datetime | None = None


class NftPurchaseFailed(_PurchaseEvent):
    """The purchase ended without an item: the ledger releases the hold."""

    EVENT_TYPE: ClassVar[str] = "NftPurchaseFailed"

    reason: str
    failed_at: datetime | None = None
