"""HTTP routes of purchases, the caller's NFTs and transfer requests (`purchases_router`).

- `POST /nft/purchases` (Idempotency-Key), `GET /nft/purchases[/{id}]`: the purchase saga as the
  buyer sees it (pending → reserved → completed | failed);
- `GET /nft/mine`: minted NFTs of the caller;
- `POST /nft/{nft_id}/transfer`, `GET /nft/transfers/{id}`: sending an NFT to the verified wallet.

Points are decimal strings beside their micro-point integers; addresses are stored raw and shown
user-friendly (contracts bounceable `EQ…`/`kQ…`, wallets non-bounceable `UQ…`/`0Q…`; test-only
flag off mainnet). GETs never write.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from pytoniq_core import Address
from scifikpi_common.app import UoW
from scifikpi_common.clock import utcnow
from scifikpi_common.errors import InvalidToken, MissingIdempotencyKey
from scifikpi_common.problems import problem_responses
from scifikpi_common.security import CurrentPrincipal

from nft import purchases
from nft.domain import format_points
from nft.errors import (
    AccountNotActive,
    CatalogItemNotFound,
    CatalogItemRetired,
    IdempotencyKeyReused,
    InvalidAddress,
    InvalidCursor,
    InvalidIdempotencyKey,
    NftAlreadyTransferred,
    NftNotFound,
    NftNotMinted,
    PurchaseNotFound,
    SoldOut,
    TransferInProgress,
    TransferNotFound,
    WalletNotVerified,
)
from nft.purchases_repo import MintedNft, Purchase, Transfer
from nft.schemas import Points
from nft.settings import NftSettings, TonNetwork
from nft.ton.addresses import friendly


def get_settings(request: Request) -> NftSettings:
    return request.app.state.settings


Settings = Annotated[NftSettings, Depends(get_settings)]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
]
Limit = Annotated[int, Query(ge=1, le=100)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Required. The same key for the same item answers the same purchase (200, "
        "`Idempotent-Replayed: true`); for another item it is refused (422). Up to 255 printable "
        "ASCII characters, e.g. a UUID made when the user clicks Buy.",
    ),
]
IDEMPOTENCY_KEY_MAX = 255
_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")

purchases_router = APIRouter(prefix="/nft", tags=["nft"])


# --------------------------------------------------------------------------- schemas


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


class PurchasePage(BaseModel):
    items: list[PurchaseOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")


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


class NftPage(BaseModel):
    items: list[NftOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_address: StrictStr | None = Field(
        default=None,
        max_length=128,
        description="Optional; if sent it must be the account's verified wallet (any form).",
    )


class TransferOut(BaseModel):
    """A transfer to the verified wallet: `pending` until the new owner is confirmed on chain."""

    id: UUID
    status: Literal["pending", "completed", "failed"]
    nft_id: UUID
    to_address: str
    item_address: str
    message_hash: str | None = None
    failure_reason: str | None = None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None


# --------------------------------------------------------------------------- views


def _show(address: str | None, settings: NftSettings, *, contract: bool) -> str | None:
    if address is None:
        return None
    testnet = settings.ton_network != TonNetwork.mainnet
    return friendly(Address(address), bounceable=contract, testnet=testnet)


def purchase_view(p: Purchase, settings: NftSettings) -> PurchaseOut:
    done = p.status == "completed"  # the on-chain fields show once the purchase is completed
    return PurchaseOut(
        id=p.id, status=p.status, catalog_item_id=p.catalog_item_id,  # type: ignore[arg-type]
        price_points=format_points(p.price_points_micro), price_points_micro=p.price_points_micro,
        failure_reason=p.failure_reason, created_at=p.created_at, updated_at=p.updated_at,
        completed_at=p.completed_at,
        collection_address=_show(p.collection_address, settings, contract=True) if done else None,
        index=p.item_index if done else None,
        item_address=_show(p.item_address, settings, contract=True) if done else None,
    )  # fmt: skip


def nft_view(n: MintedNft, settings: NftSettings) -> NftOut:
    return NftOut(
        id=n.id, catalog_item_id=n.catalog_item_id, name=n.name, image_url=n.image_url,
        metadata_url=f"{settings.item_metadata_prefix()}{n.catalog_item_id}.json",
        collection_address=_show(n.collection_address, settings, contract=True),
        index=n.item_index, item_address=_show(n.item_address, settings, contract=True),
        owner_address=_show(n.owner_address, settings, contract=False),
        status=n.status, minted_at=n.minted_at, transferred_at=n.transferred_at,  # type: ignore[arg-type]
    )  # fmt: skip


def transfer_view(t: Transfer, settings: NftSettings) -> TransferOut:
    return TransferOut(
        id=t.id, status=t.status, nft_id=t.nft_id,  # type: ignore[arg-type]
        to_address=_show(t.to_address, settings, contract=False),
        item_address=_show(t.item_address, settings, contract=True),
        message_hash=t.message_hash, failure_reason=t.failure_reason, created_at=t.created_at,
        updated_at=t.updated_at, completed_at=t.completed_at,
    )  # fmt: skip


def _location(request: Request, path: str) -> str:
    """Where the resource can be read, as the client called us (behind the gateway: /api/v1)."""
    prefix = request.headers.get("x-forwarded-prefix", "")
    return f"{prefix if _PREFIX.match(prefix) else ''}{path}"


def _check_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise MissingIdempotencyKey(
            "Send an Idempotency-Key header (e.g. a UUID) so a retry cannot buy twice."
        )
    key = key.strip()
    if len(key) > IDEMPOTENCY_KEY_MAX or not key.isascii() or not key.isprintable():
        raise InvalidIdempotencyKey(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters."
        )
    return key


# --------------------------------------------------------------------------- purchases


@purchases_router.post(
    "/purchases",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PurchaseOut,
    responses={
        200: {"model": PurchaseOut, "description": "Replay of the Idempotency-Key"},
        **problem_responses(
            MissingIdempotencyKey,
            InvalidToken,
            AccountNotActive,
            CatalogItemNotFound,
            CatalogItemRetired,
            SoldOut,
            InvalidIdempotencyKey,
            IdempotencyKeyReused,
        ),
    },
)
async def create_purchase(
    body: Annotated[PurchaseIn, Body()],
    principal: CurrentPrincipal,
    uow: UoW,
    settings: Settings,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> PurchaseOut:
    """Buy one unit of a catalog item with points (active accounts only).

    Answers 202 with the purchase `pending` and a `Location` to poll (`GET /nft/purchases/{id}`)
    until it is `completed` (the NFT is minted; see `GET /nft/mine`) or `failed` (the points are
    returned; `failure_reason` says why, e.g. `insufficient_points`). Send a fresh
    `Idempotency-Key` per click of Buy; retrying with it is safe (200 + `Idempotent-Replayed`).
    Sold out: 409 `sold-out` with `purchase_id` (the attempt is recorded; the key replays it)."""
    key = _check_key(idempotency_key)
    if not principal.is_active:
        raise AccountNotActive("Pay the registration deposit first; then you can buy NFTs.")
    outcome = await purchases.buy(
        uow,
        user_id=principal.user_id,
        catalog_item_id=body.catalog_item_id,
        key=key,
        now=utcnow(),
    )
    await uow.commit()
    purchase = outcome.purchase
    location = _location(request, f"/nft/purchases/{purchase.id}")
    replay = {} if outcome.created else {"Idempotent-Replayed": "true"}
    if outcome.sold_out:
        raise SoldOut(
            "Every unit of this item is sold.", purchase_id=str(purchase.id), headers=replay or None
        )
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
        response.headers.update(replay)
    response.headers["Location"] = location
    return purchase_view(purchase, settings)


@purchases_router.get(
    "/purchases",
    response_model=PurchasePage,
    responses=problem_responses(InvalidToken, InvalidCursor),
)
async def list_purchases(
    principal: CurrentPrincipal,
    uow: UoW,
    settings: Settings,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> PurchasePage:
    """The caller's purchases, newest first, keyset-paged (`next_cursor` until the last page)."""
    rows, next_cursor = await purchases.page(
        uow.session, principal.user_id, cursor=cursor, limit=limit
    )
    return PurchasePage(items=[purchase_view(p, settings) for p in rows], next_cursor=next_cursor)


@purchases_router.get(
    "/purchases/{purchase_id}",
    response_model=PurchaseOut,
    responses=problem_responses(InvalidToken, PurchaseNotFound),
)
async def get_purchase(
    purchase_id: UUID, principal: CurrentPrincipal, uow: UoW, settings: Settings
) -> PurchaseOut:
    """One of the caller's purchases (another user's answers 404). Poll it after buying:
    `collection_address`, `index` and `item_address` are filled once it is `completed`."""
    purchase = await purchases.get(uow.session, principal.user_id, purchase_id)
    return purchase_view(purchase, settings)


# --------------------------------------------------------------------------- NFTs


@purchases_router.get(
    "/mine", response_model=NftPage, responses=problem_responses(InvalidToken, InvalidCursor)
)
async def my_nfts(
    principal: CurrentPrincipal,
    uow: UoW,
    settings: Settings,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> NftPage:
    """The caller's minted NFTs, newest first, keyset-paged. `status` is `custody` (held by the
    platform wallet; can be sent with `POST /nft/{id}/transfer`) or `transferred`."""
    rows, next_cursor = await purchases.mine(
        uow.session, principal.user_id, cursor=cursor, limit=limit
    )
    return NftPage(items=[nft_view(n, settings) for n in rows], next_cursor=next_cursor)


# --------------------------------------------------------------------------- transfers


@purchases_router.post(
    "/{nft_id}/transfer",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TransferOut,
    responses=problem_responses(
        InvalidToken,
        NftNotFound,
        NftNotMinted,
        NftAlreadyTransferred,
        TransferInProgress,
        WalletNotVerified,
        InvalidAddress,
    ),
)
async def transfer_nft(
    nft_id: UUID,
    principal: CurrentPrincipal,
    uow: UoW,
    settings: Settings,
    request: Request,
    response: Response,
    body: Annotated[TransferIn | None, Body()] = None,
) -> TransferOut:
    """Send a minted NFT from platform custody to the account's verified TON wallet (bind one
    first: `POST /nft/wallets/challenge` + `/verify`, else 422 `wallet-not-verified`).
    `to_address` is optional; if sent it must be that wallet. Answers 202 with the transfer
    `pending`; poll `Location` (`GET /nft/transfers/{id}`) until `completed` or `failed`.
    One transfer per NFT at a time (409 `transfer-in-progress`); 409 `nft-not-minted` while the
    purchase is still minting."""
    transfer = await purchases.request_transfer(
        uow,
        user_id=principal.user_id,
        nft_id=nft_id,
        to_address=body.to_address if body else None,
        now=utcnow(),
    )
    await uow.commit()
    response.headers["Location"] = _location(request, f"/nft/transfers/{transfer.id}")
    return transfer_view(transfer, settings)


@purchases_router.get(
    "/transfers/{transfer_id}",
    response_model=TransferOut,
    responses=problem_responses(InvalidToken, TransferNotFound),
)
async def get_transfer(
    transfer_id: UUID, principal: CurrentPrincipal, uow: UoW, settings: Settings
) -> TransferOut:
    """One of the caller's transfers (another user's answers 404): `pending` until the wallet
    is confirmed as the NFT's owner on chain; `message_hash` identifies the sent message."""
    transfer = await purchases.get_transfer(uow.session, principal.user_id, transfer_id)
    return transfer_view(transfer, settings)
