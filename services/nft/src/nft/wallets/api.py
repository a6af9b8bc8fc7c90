"""HTTP routes binding a TON wallet with TON Connect `ton_proof` (`/nft/wallets/...`).

Flow: `POST /nft/wallets/challenge` → give `payload` to TON Connect (`tonProof`) → the wallet
signs → `POST /nft/wallets/verify` with what TON Connect returned → the wallet is the account's
verified wallet (one wallet per account, one account per wallet), where NFTs are transferred.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from scifikpi_common.app import UoW
from scifikpi_common.clock import utcnow
from scifikpi_common.db import committing
from scifikpi_common.errors import InvalidToken, PayloadTooLarge
from scifikpi_common.problems import problem_responses
from scifikpi_common.security import CurrentPrincipal, Principal

from nft.domain import AccountNotActive, InvalidAddress
from nft.routing import Settings
from nft.wallets import handlers
from nft.wallets.domain import (
    ProofInvalid,
    ProofRejected,
    WalletAlreadyBound,
    WalletNotFound,
    WalletTaken,
)
from nft.wallets.schemas import VERIFY_EXAMPLES, ChallengeOut, WalletOut, WalletVerifyRequest

wallets_router = APIRouter(prefix="/nft/wallets", tags=["nft-wallets"])


def _require_active(principal: Principal) -> None:
    if not principal.is_active:
        raise AccountNotActive("Pay the registration deposit first; then you can bind a wallet.")


@wallets_router.post(
    "/challenge",
    status_code=201,
    response_model=ChallengeOut,
    responses=problem_responses(InvalidToken, AccountNotActive),
)
async def challenge(principal: CurrentPrincipal, uow: UoW, settings: Settings) -> ChallengeOut:
    """A single-use `ton_proof` payload for this account, valid `wallet_challenge_ttl_s`
    seconds. Active accounts only."""
    _require_active(principal)
    async with committing(uow):
        issued = await handlers.issue_challenge(uow, principal.user_id, settings, utcnow())
    return ChallengeOut.of(issued)


@wallets_router.post(
    "/verify",
    response_model=WalletOut,
    responses=problem_responses(
        InvalidToken,
        ProofInvalid,
        AccountNotActive,
        WalletTaken,
        WalletAlreadyBound,
        InvalidAddress,
        ProofRejected,
        PayloadTooLarge,
    ),
)
async def verify(
    body: Annotated[WalletVerifyRequest, Body(openapi_examples=VERIFY_EXAMPLES)],
    principal: CurrentPrincipal,
    uow: UoW,
    settings: Settings,
) -> WalletOut:
    """Verify the TON Connect `ton_proof` and bind its wallet to the account.

    Checked: the address (422 `invalid-address`); network, domain (allow-list and
    `lengthBytes`), timestamp freshness, and the payload — issued to this account, unexpired,
    unused (422 `proof-rejected`); the state init hashes to the address, the wallet code is known
    (v3, v4, v5r1, highload v3), the signature holds (401 `invalid-proof`). A payload is used up
    by the first proof that names it and passes the first checks, even when its signature is
    bad; ask for a new challenge then. Binding the same wallet again is a no-op (200); another
    wallet on this account is 409 `wallet-already-bound`; a wallet of another account is 409
    `wallet-taken`. Active accounts only."""
    _require_active(principal)
    async with committing(uow):
        wallet = await handlers.verify_and_bind(
            uow, principal.user_id, body.to_proof(), settings, utcnow()
        )
    return WalletOut.of(wallet, settings)


@wallets_router.get(
    "/me", response_model=WalletOut, responses=problem_responses(InvalidToken, WalletNotFound)
)
async def my_wallet(principal: CurrentPrincipal, uow: UoW, settings: Settings) -> WalletOut:
    """The account's verified wallet, or 404 `wallet-not-found`."""
    return WalletOut.of(await handlers.my_wallet(uow, principal.user_id), settings)
