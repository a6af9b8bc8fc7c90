"""HTTP routes of transfers (`transfers_router`): `POST /nft/{nft_id}/transfer` sends a minted
NFT to the verified wallet (202, then poll), `GET /nft/transfers/{id}` reads one. GETs never
write."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Request, Response, status
from scifikpi_common.app import UoW
from scifikpi_common.clock import utcnow
from scifikpi_common.db import committing
from scifikpi_common.errors import InvalidToken
from scifikpi_common.problems import problem_responses
from scifikpi_common.security import CurrentPrincipal

from nft.domain import InvalidAddress
from nft.routing import Settings, location
from nft.transfers import handlers
from nft.transfers.domain import (
    NftAlreadyTransferred,
    NftNotFound,
    NftNotMinted,
    TransferInProgress,
    TransferNotFound,
    WalletNotVerified,
)
from nft.transfers.schemas import TransferIn, TransferOut

transfers_router = APIRouter(prefix="/nft", tags=["nft"])


@transfers_router.post(
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
    async with committing(uow):
        transfer = await handlers.request_transfer(
            uow,
            user_id=principal.user_id,
            nft_id=nft_id,
            to_address=body.to_address if body else None,
            now=utcnow(),
        )
    response.headers["Location"] = location(request, f"/nft/transfers/{transfer.id}")
    return TransferOut.of(transfer, settings)


@transfers_router.get(
    "/transfers/{transfer_id}",
    response_model=TransferOut,
    responses=problem_responses(InvalidToken, TransferNotFound),
)
async def get_transfer(
    transfer_id: UUID, principal: CurrentPrincipal, uow: UoW, settings: Settings
) -> TransferOut:
    """One of the caller's transfers (another user's answers 404): `pending` until the wallet
    is confirmed as the NFT's owner on chain; `message_hash` identifies the sent message."""
    transfer = await handlers.get_transfer(uow, principal.user_id, transfer_id)
    return TransferOut.of(transfer, settings)
