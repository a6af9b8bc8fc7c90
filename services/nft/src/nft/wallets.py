"""Binding a TON wallet to an account with TON Connect `ton_proof`.

1. `issue_challenge`: a fresh payload (32 random bytes, hex) stored in `wallet_challenges` for
   this user with a short TTL (`wallet_challenge_ttl_s`). The frontend passes it to TON Connect
   as `tonProof` and the wallet signs it.
2. `verify_and_bind`:
   a. the pure checks of `nft.ton.proof.verify_ton_proof` (address, network, domain, timestamp,
      then state init / wallet code / signature);
   b. the payload is consumed by ONE guarded statement
      `UPDATE wallet_challenges SET used_at = now WHERE payload = :p AND user_id = :u
       AND used_at IS NULL AND expires_at > now RETURNING ...`, in the transaction that binds, so a
      replay or a concurrent second verify of the same payload finds no row and is rejected
      (the second one waits on the row lock, then sees `used_at` set);
   c. the bind: `INSERT ... ON CONFLICT DO NOTHING` on `wallets` (PK `user_id`, UNIQUE `address`).
      When nothing is inserted (also when a concurrent bind committed first: Postgres waits for it
      and then skips the row, so no unique-violation escapes) the conflicting row decides: the
      same wallet already bound to this user → idempotent success; another wallet on this
      account → `WalletAlreadyBound`; this wallet on another account → `WalletTaken`.

Payload consumption (decision):
- Proofs refused by the cheap checks (bad address, network, domain, lengthBytes, timestamp:
  `InvalidAddress` / `ProofRejected`) never reach the database: the payload is left as it was.
- A proof that names a valid payload of this user but fails the cryptographic checks
  (`ProofInvalid`: state init ≠ address, unknown wallet, key mismatch, bad signature) CONSUMES
  the payload: `verify_and_bind` commits the consumption itself, then raises. A payload is thus
  good for exactly one cryptographic attempt, so a leaked or intercepted payload cannot be
  tried again and again; the client simply asks for a new challenge.
- A valid proof refused by the bind (`WalletAlreadyBound`, `WalletTaken`) rolls back: the
  payload stays unused until it expires (the proof was genuine; nothing to protect).
- On success the payload is consumed in the caller's transaction: the caller commits (and may
  publish events in the same transaction).

`purge_expired` deletes expired challenges for a scheduler; `issue_challenge` also purges the
user's own expired ones.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.errors import NotFound
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from nft.errors import ProofInvalid, ProofRejected, WalletAlreadyBound, WalletTaken
from nft.models import wallet_challenges, wallets
from nft.settings import NftSettings, TonNetwork
from nft.ton.addresses import raw
from nft.ton.proof import MAINNET_CHAIN, TESTNET_CHAIN, TonProof, verify_ton_proof

PAYLOAD_BYTES = 32


class WalletNotFound(NotFound):
    slug, title = "wallet-not-found", "No wallet is bound to this account"


@dataclass(frozen=True, slots=True)
class Challenge:
    payload: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Wallet:
    user_id: UUID
    address: str  # raw `0:<hex>`
    public_key: str  # hex
    verified_at: datetime


_WALLET_COLUMNS = (
    wallets.c.user_id,
    wallets.c.address,
    wallets.c.public_key,
    wallets.c.verified_at,
)


def _wallet(row: Any) -> Wallet:
    return Wallet(**row._mapping)


def expected_network(settings: NftSettings) -> str | None:
    """The TON Connect chain a proof must name: mainnet/testnet; any on the local chain."""
    return {TonNetwork.mainnet: MAINNET_CHAIN, TonNetwork.testnet: TESTNET_CHAIN}.get(
        settings.ton_network
    )


async def issue_challenge(
    uow: UnitOfWork, user_id: UUID, settings: NftSettings, now: datetime
) -> Challenge:
    """A new single-use payload for this user (the caller commits)."""
    s = uow.session
    await s.execute(
        delete(wallet_challenges).where(
            wallet_challenges.c.user_id == user_id, wallet_challenges.c.expires_at <= now
        )
    )
    challenge = Challenge(
        payload=secrets.token_hex(PAYLOAD_BYTES),
        expires_at=now + timedelta(seconds=settings.wallet_challenge_ttl_s),
    )
    await s.execute(
        wallet_challenges.insert().values(
            payload=challenge.payload, user_id=user_id, created_at=now,
            expires_at=challenge.expires_at, used_at=None,
        )
    )  # fmt: skip
    return challenge


async def purge_expired(uow: UnitOfWork, now: datetime, *, limit: int = 10_000) -> int:
    """Delete up to `limit` expired challenges (used or not); the caller commits."""
    doomed = (
        select(wallet_challenges.c.payload)
        .where(wallet_challenges.c.expires_at <= now)
        .limit(limit)
        .scalar_subquery()
    )
    result = await uow.session.execute(
        delete(wallet_challenges).where(wallet_challenges.c.payload.in_(doomed))
    )
    return result.rowcount or 0


async def get_wallet(s: AsyncSession, user_id: UUID) -> Wallet | None:
    row = (await s.execute(select(*_WALLET_COLUMNS).where(wallets.c.user_id == user_id))).first()
    return _wallet(row) if row else None


async def _consume_payload(s: AsyncSession, payload: str, user_id: UUID, now: datetime) -> bool:
    row = (
        await s.execute(
            update(wallet_challenges)
            .where(
                wallet_challenges.c.payload == payload,
                wallet_challenges.c.user_id == user_id,
                wallet_challenges.c.used_at.is_(None),
                wallet_challenges.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(wallet_challenges.c.payload)
        )
    ).first()
    return row is not None


async def _payload_problem(
    s: AsyncSession, payload: str, user_id: UUID, now: datetime
) -> ProofRejected:
    """Why the guarded consume found no row (for the message only; the decision is made)."""
    row = (
        await s.execute(
            select(wallet_challenges.c.user_id, wallet_challenges.c.used_at,
                   wallet_challenges.c.expires_at)
            .where(wallet_challenges.c.payload == payload)
        )
    ).first()  # fmt: skip
    if row is None or row.user_id != user_id:
        return ProofRejected("The payload was not issued to this account; ask for a challenge.")
    if row.used_at is not None:
        return ProofRejected("The payload was already used; ask for a new challenge.")
    return ProofRejected("The payload has expired; ask for a new challenge.")


async def verify_and_bind(
    uow: UnitOfWork, user_id: UUID, proof: TonProof, settings: NftSettings, now: datetime
) -> Wallet:
    """Verify `proof` and bind its wallet to the account; see the module doc for the order and
    for when the payload is consumed. On success the caller commits."""
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
    s = uow.session
    if not await _consume_payload(s, proof.payload, user_id, now):
        raise await _payload_problem(s, proof.payload, user_id, now)
    if crypto_error is not None:
        await uow.commit()  # the attempt used the payload up, even though it fails
        raise crypto_error
    address = raw(verified.address)
    inserted = (
        await s.execute(
            pg_insert(wallets)
            .values(user_id=user_id, address=address, public_key=verified.public_key.hex(),
                    verified_at=now)
            .on_conflict_do_nothing()
            .returning(*_WALLET_COLUMNS)
        )
    ).first()  # fmt: skip
    if inserted is not None:
        return _wallet(inserted)
    mine = await get_wallet(s, user_id)
    if mine is not None:
        if mine.address == address:
            return mine  # the same wallet again: idempotent
        raise WalletAlreadyBound("Unbinding is not supported; this account keeps its wallet.")
    raise WalletTaken("This wallet is bound to another account.")
