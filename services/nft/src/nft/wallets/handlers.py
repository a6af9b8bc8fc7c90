"""Wallet use cases: binding a TON wallet to an account with TON Connect `ton_proof`.

1. `issue_challenge`: a fresh payload stored in `wallet_challenges` for this user with a short
   TTL (`wallet_challenge_ttl_s`); the frontend passes it to TON Connect as `tonProof` and the
   wallet signs it. The user's own expired challenges are purged on the way.
2. `verify_and_bind`: the pure checks of `nft.ton.proof.verify_ton_proof` (address, network,
   domain, timestamp, then state init / wallet code / signature); the payload consumed by one
   guarded statement; the bind. When the payload is consumed: `nft.wallets.domain`. A new
   binding publishes `NftWalletBound` in the same transaction; re-verifying the wallet already
   bound changes nothing and publishes nothing (binding another wallet is refused).

`purge_expired_challenges` is the chain engine's sweep. Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.events.nft import NftWalletBound

from nft.settings import NftSettings, TonNetwork
from nft.ton.addresses import raw
from nft.ton.proof import (
    MAINNET_CHAIN,
    TESTNET_CHAIN,
    TonProof,
    VerifiedProof,
    verify_ton_proof,
)
from nft.wallets.domain import (
    Challenge,
    ProofInvalid,
    Wallet,
    WalletNotFound,
    bind_conflict,
    new_challenge,
    payload_problem,
)
from nft.wallets.repository import WalletRepository


def expected_network(settings: NftSettings) -> str | None:
    """The TON Connect chain a proof must name: mainnet/testnet; any on the local chain."""
    return {TonNetwork.mainnet: MAINNET_CHAIN, TonNetwork.testnet: TESTNET_CHAIN}.get(
        settings.ton_network
    )


async def issue_challenge(
    uow: UnitOfWork, user_id: UUID, settings: NftSettings, now: datetime
) -> Challenge:
    """A new single-use payload for this user."""
    challenge = new_challenge(now, settings.wallet_challenge_ttl_s)
    await WalletRepository(uow.session).add_challenge(user_id, challenge, now)
    return challenge


async def verify_and_bind(
    uow: UnitOfWork, user_id: UUID, proof: TonProof, settings: NftSettings, now: datetime
) -> Wallet:
    """Verify `proof` and bind its wallet to the account. A proof failing the cryptographic
    checks still uses its payload up: `ProofInvalid` is raised after the consumption and keeps
    it (the edge commits)."""
    verified: VerifiedProof | None = None
    crypto_error: ProofInvalid | None = None
    try:
        verified = verify_ton_proof(
            proof,
            allowed_domains=settings.ton_proof_domains,
            now=now,
            max_age_s=settings.ton_proof_max_age_s,
            expected_network=expected_network(settings),
        )
    except ProofInvalid as exc:  # InvalidAddress / ProofRejected propagate: nothing consumed
        crypto_error = exc
    repo = WalletRepository(uow.session)
    if not await repo.consume_payload(proof.payload, user_id, now):
        raise payload_problem(await repo.payload_state(proof.payload), user_id)
    if verified is None:
        assert crypto_error is not None
        raise crypto_error  # the attempt used the payload up, even though it fails
    address = raw(verified.address)
    bound = await repo.bind(user_id, address, verified.public_key.hex(), now)
    if bound is not None:
        await uow.publish(
            NftWalletBound(user_id=user_id, address=bound.address, bound_at=bound.verified_at)
        )
        return bound
    return bind_conflict(await repo.get(user_id), address)


async def my_wallet(uow: UnitOfWork, user_id: UUID) -> Wallet:
    """The account's verified wallet, or `WalletNotFound`."""
    wallet = await WalletRepository(uow.session).get(user_id)
    if wallet is None:
        raise WalletNotFound()
    return wallet


async def purge_expired_challenges(uow: UnitOfWork, now: datetime, *, limit: int = 10_000) -> int:
    """Delete up to `limit` expired challenges (used or not)."""
    return await WalletRepository(uow.session).purge_expired(now, limit=limit)
