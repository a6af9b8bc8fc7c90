"""HTTP routes of purchases and the caller's NFTs (`purchases_router`).

- `POST /nft/purchases` (Idempotency-Key), `GET /nft/purchases[/{id}]`: the purchase saga as the
  buyer sees it (pending → reserved → completed | failed);
- `GET /nft/mine`: minted NFTs of the caller.

GETs never write.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from scifikpi_common.app import UoW
from scifikpi_common.clock import utcnow
from scifikpi_common.db import committing
from scifikpi_common.errors import InvalidCursor, InvalidToken, MissingIdempotencyKey
from scifikpi_common.openapi import required_header
from scifikpi_common.problems import problem_responses
from scifikpi_common.security import CurrentPrincipal

from nft.catalog.domain import CatalogItemNotFound
from nft.domain import AccountNotActive
from nft.purchases import handlers
from nft.purchases.domain import (
    IDEMPOTENCY_KEY_MAX,
    CatalogItemRetired,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    PurchaseNotFound,
    SoldOut,
    check_idempotency_key,
)
from nft.purchases.schemas import NftPage, PurchaseIn, PurchaseOut, PurchasePage
from nft.routing import Settings, location

Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
]
Limit = Annotated[int, Query(ge=1, le=100)]
IDEMPOTENCY_KEY_DOC = (
    "The same key for the same item answers the same purchase (200, "
    "`Idempotent-Replayed: true`); for another item it is refused (422). Up to 255 printable "
    "ASCII characters, e.g. a UUID made when the user clicks Buy."
)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", include_in_schema=False)]
#: documents the header as required (the route refuses its absence with its own 400)
IDEMPOTENCY_KEY_PARAMETER = required_header(
    "Idempotency-Key", IDEMPOTENCY_KEY_DOC, max_length=IDEMPOTENCY_KEY_MAX
)

purchases_router = APIRouter(prefix="/nft", tags=["nft"])


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
    openapi_extra=IDEMPOTENCY_KEY_PARAMETER,
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
    key = check_idempotency_key(idempotency_key)
    if not principal.is_active:
        raise AccountNotActive("Pay the registration deposit first; then you can buy NFTs.")
    async with committing(uow):
        outcome = await handlers.buy(
            uow,
            user_id=principal.user_id,
            catalog_item_id=body.catalog_item_id,
            key=key,
            now=utcnow(),
        )
    purchase = outcome.purchase
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = location(request, f"/nft/purchases/{purchase.id}")
    return PurchaseOut.of(purchase, settings)


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
    page = await handlers.list_purchases(uow, principal.user_id, cursor=cursor, limit=limit)
    return PurchasePage.of(page, settings)


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
    purchase = await handlers.get_purchase(uow, principal.user_id, purchase_id)
    return PurchaseOut.of(purchase, settings)


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
    page = await handlers.my_nfts(uow, principal.user_id, cursor=cursor, limit=limit)
    return NftPage.of(page, settings)
