"""Request and response bodies of purchases and of the caller's NFTs. Points are decimal strings
beside their micro-point integers; addresses are stored raw and shown user-friendly (contracts
bounceable `EQ…`/`kQ…`, wallets non-bounceable `UQ…`/`0Q…`; test-only flag off mainnet)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from scifikpi_common.points import format_points

from nft.catalog.schemas import Points
from nft.domain import Page
from nft.purchases.domain import MintedNft, Purchase, PurchaseStatus
from nft.settings import NftSettings
from nft.ton.addresses import shown


class PurchaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    catalog_item_id: UUID


class PurchaseOut(BaseModel):
    """A purchase: `pending` (points being held) → `reserved` (minting on TON) → `completed`
    (the NFT is yours, in platform custody) or `failed` (points returned; see `failure_reason`)."""

    id: UUID = Field(description="Also the id of the NFT it mints.")
    status: Literal["pending", "reserved", "completed", "failed"]
    catalog_item_id: UUID
    price_points: Points = Field(description="The price captured when the purchase was made.")
    price_points_micro: int = Field(gt=0)
    failure_reason: str | None = Field(
        default=None,
        examples=["sold_out", "insufficient_points", "reservation_timeout", "mint_failed"],
    )
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    collection_address: str | None = Field(default=None, description="Null until completed.")
    index: int | None = Field(default=None, description="Item index in the collection.")
    item_address: str | None = Field(default=None, description="Null until completed.")

    @classmethod
    def of(cls, p: Purchase, settings: NftSettings) -> PurchaseOut:
        # The on-chain fields show once the purchase is completed.
        done = p.status == PurchaseStatus.completed
        testnet = settings.testnet_addresses
        collection, item = (p.collection_address, p.item_address) if done else (None, None)
        return cls(
            id=p.id,
            status=p.status.value,
            catalog_item_id=p.catalog_item_id,
            price_points=format_points(p.price_points_micro),
            price_points_micro=p.price_points_micro,
            failure_reason=p.failure_reason,
            created_at=p.created_at,
            updated_at=p.updated_at,
            completed_at=p.completed_at,
            collection_address=shown(collection, contract=True, testnet=testnet)
            if collection
            else None,
            index=p.item_index if done else None,
            item_address=shown(item, contract=True, testnet=testnet) if item else None,
        )


class PurchasePage(BaseModel):
    items: list[PurchaseOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")

    @classmethod
    def of(cls, page: Page[Purchase], settings: NftSettings) -> PurchasePage:
        items = [PurchaseOut.of(p, settings) for p in page.items]
        return cls(items=items, next_cursor=page.next_cursor)


class NftOut(BaseModel):
    """A minted NFT: in platform `custody` until sent to the user's wallet (`transferred`)."""

    id: UUID = Field(description="The NFT id (= the purchase id); use it to transfer.")
    catalog_item_id: UUID
    name: str
    image_url: str
    metadata_url: str = Field(description="The item's TEP-64 JSON.")
    collection_address: str
    index: int
    item_address: str
    owner_address: str = Field(description="The custody wallet, or the user's wallet once sent.")
    status: Literal["custody", "transferred"]
    minted_at: datetime
    transferred_at: datetime | None = None

    @classmethod
    def of(cls, n: MintedNft, settings: NftSettings) -> NftOut:
        testnet = settings.testnet_addresses
        return cls(
            id=n.id,
            catalog_item_id=n.catalog_item_id,
            name=n.name,
            image_url=n.image_url,
            metadata_url=f"{settings.item_metadata_prefix()}{n.catalog_item_id}.json",
            collection_address=shown(n.collection_address, contract=True, testnet=testnet),
            index=n.item_index,
            item_address=shown(n.item_address, contract=True, testnet=testnet),
            owner_address=shown(n.owner_address, contract=False, testnet=testnet),
            status=n.status.value,
            minted_at=n.minted_at,
            transferred_at=n.transferred_at,
        )


class NftPage(BaseModel):
    items: list[NftOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")

    @classmethod
    def of(cls, page: Page[MintedNft], settings: NftSettings) -> NftPage:
        return cls(items=[NftOut.of(n, settings) for n in page.items], next_cursor=page.next_cursor)
