"""Wallet rules: single-use ton_proof challenges, one wallet per account and one account per
wallet, and the proof problems. No framework or database imports.

Payload consumption (decision):
- Proofs refused by the cheap checks (bad address, network, domain, lengthBytes, timestamp:
  `InvalidAddress` / `ProofRejected`) never reach the database: the payload is left as it was.
- A proof that names a valid payload of this user but fails the cryptographic checks
  (`ProofInvalid`: state init ≠ address, unknown wallet, key mismatch, bad signature) CONSUMES
  the payload: `ProofInvalid` keeps changes, so the edge commits the consumption, then answers.
  A payload is thus good for exactly one cryptographic attempt, so a leaked or intercepted
  payload cannot be tried again and again; the client simply asks for a new challenge.
- A valid proof refused by the bind (`WalletAlreadyBound`, `WalletTaken`) rolls back: the
  payload stays unused until it expires (the proof was genuine; nothing to protect).
- On success the payload is consumed in the same transaction that binds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from scifikpi_common.errors import (
    Conflict,
    InvalidToken,
    KeepsChanges,
    NotFound,
    ValidationFailed,
)

PAYLOAD_BYTES = 32


class ProofInvalid(KeepsChanges, InvalidToken):
    """A ton_proof whose signature, key or address does not hold: nothing is bound, but the
    payload it named is used up (one cryptographic attempt per payload)."""

    slug, title = "invalid-proof", "The ton_proof is not valid"
    headers = None  # not a bearer-token problem


class ProofRejected(ValidationFailed):
    """A well-formed proof we refuse: wrong domain, stale timestamp, unknown or used payload."""

    slug, title = "proof-rejected", "The ton_proof is not acceptable"


class WalletTaken(Conflict):
    slug, title = "wallet-taken", "This wallet is already bound to another account"


class WalletAlreadyBound(Conflict):
    slug, title = "wallet-already-bound", "The account already has another wallet bound"


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


@dataclass(frozen=True, slots=True)
class PayloadState:
    """A stored challenge as the verify step found it."""

    user_id: UUID
    used_at: datetime | None
    expires_at: datetime


def new_challenge(now: datetime, ttl_s: int) -> Challenge:
    """A fresh payload: 32 random bytes, hex, valid `ttl_s` seconds."""
    return Challenge(secrets.token_hex(PAYLOAD_BYTES), now + timedelta(seconds=ttl_s))


def payload_problem(state: PayloadState | None, user_id: UUID) -> ProofRejected:
    """Why the guarded consume found no row (for the message only; the decision is made)."""
    if state is None or state.user_id != user_id:
        return ProofRejected("The payload was not issued to this account; ask for a challenge.")
    if state.used_at is not None:
        return ProofRejected("The payload was already used; ask for a new challenge.")
    return ProofRejected("The payload has expired; ask for a new challenge.")


def bind_conflict(mine: Wallet | None, address: str) -> Wallet:
    """The bind inserted nothing: the same wallet on this account is an idempotent success;
    another wallet on this account, or this wallet on another account, is a conflict."""
    if mine is not None:
        if mine.address == address:
            return mine
        raise WalletAlreadyBound("Unbinding is not supported; this account keeps its wallet.")
    raise WalletTaken("This wallet is bound to another account.")
