"""Request and response bodies of wallet binding: the challenge, what TON Connect returns (both
the backend's flat shape and the SDK's `account` object), and the bound wallet."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nft.settings import NftSettings
from nft.ton.addresses import friendly, parse_user_address
from nft.ton.proof import ProofDomain, TonProof
from nft.wallets.domain import Challenge, Wallet


class ChallengeOut(BaseModel):
    payload: str = Field(
        description="Pass this string to TON Connect as the `tonProof` payload. Single use.",
        examples=["3b1f0c9e0a5d4e7f8a2b6c1d9e0f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"],
    )
    expires_at: datetime = Field(description="The payload must be verified before this (UTC).")

    @classmethod
    def of(cls, challenge: Challenge) -> ChallengeOut:
        return cls(payload=challenge.payload, expires_at=challenge.expires_at)


class ProofDomainIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    length_bytes: int = Field(
        alias="lengthBytes", ge=0, le=1024, description="UTF-8 length of `value`."
    )
    value: str = Field(
        max_length=1024, description="The dApp domain as the wallet saw it (host[:port])."
    )


class TonProofIn(BaseModel):
    """TON Connect `connectItems.tonProof.proof` (+ `state_init`, as TON Connect backends send)."""

    timestamp: int = Field(
        ge=0, description="Unix seconds when the wallet signed (number or string)."
    )
    domain: ProofDomainIn
    payload: str = Field(max_length=256, description="The `payload` from the challenge.")
    signature: str = Field(max_length=256, description="Base64 Ed25519 signature (64 bytes).")
    state_init: str | None = Field(
        default=None,
        max_length=65536,
        description="Base64 BoC of the wallet's StateInit (`account.walletStateInit`). Required "
        "here or in `account.walletStateInit`.",
    )


class TonConnectAccountIn(BaseModel):
    """TON Connect `wallet.account`, accepted as sent by the SDK (camelCase)."""

    model_config = ConfigDict(populate_by_name=True)

    address: str | None = Field(default=None, max_length=128)
    chain: str | None = Field(default=None, max_length=16)
    wallet_state_init: str | None = Field(default=None, alias="walletStateInit", max_length=65536)
    public_key: str | None = Field(default=None, alias="publicKey", max_length=128)


class WalletVerifyRequest(BaseModel):
    """What TON Connect returned. Either the flat shape TON Connect backends use
    (`address`, `network`, `public_key`, `proof.state_init`) or the SDK's `account` object
    (`account.address`, `account.chain`, `account.publicKey`, `account.walletStateInit`); flat
    fields win when both are sent. Unknown fields are ignored."""

    address: str | None = Field(
        default=None,
        max_length=128,
        description="`account.address`: raw `0:<hex>` (user-friendly forms accepted).",
    )
    network: str | None = Field(
        default=None,
        max_length=16,
        description="`account.chain`: `-239` mainnet, `-3` testnet. Must match the service's "
        "network on mainnet/testnet.",
    )
    public_key: str | None = Field(
        default=None,
        max_length=128,
        description="`account.publicKey` (hex); if sent it must be the state init's key.",
    )
    proof: TonProofIn
    account: TonConnectAccountIn | None = None

    @model_validator(mode="after")
    def _merge_account(self) -> WalletVerifyRequest:
        acc = self.account
        if acc is not None:
            self.address = self.address or acc.address
            self.network = self.network or acc.chain
            self.public_key = self.public_key or acc.public_key
            self.proof.state_init = self.proof.state_init or acc.wallet_state_init
        if not self.address:
            raise ValueError("`address` (or `account.address`) is required")
        if not self.proof.state_init:
            raise ValueError("`proof.state_init` (or `account.walletStateInit`) is required")
        return self

    def to_proof(self) -> TonProof:
        assert self.address is not None and self.proof.state_init is not None
        return TonProof(
            address=self.address,
            network=self.network,
            public_key=self.public_key,
            domain=ProofDomain(
                length_bytes=self.proof.domain.length_bytes, value=self.proof.domain.value
            ),
            timestamp=self.proof.timestamp,
            payload=self.proof.payload,
            signature=self.proof.signature,
            state_init=self.proof.state_init,
        )


_STATE_INIT = "te6cckECFgEAAwQAAgE0AQIBFP8A9KQT9LzyyAsD..."  # shortened in the example
_PROOF = {
    "timestamp": 1764345600,
    "domain": {"lengthBytes": 14, "value": "localhost:4200"},
    "payload": "3b1f0c9e0a5d4e7f8a2b6c1d9e0f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f",
    "signature": "m3hY0K1...base64 of 64 bytes...==",
}
VERIFY_EXAMPLES: dict[str, Any] = {
    "flat": {
        "summary": "TON Connect backend shape",
        "value": {
            "address": "0:8a3c5e1f0d2b4a6c8e0f1a3b5c7d9e1f2a4b6c8d0e1f3a5b7c9d1e3f5a7b9c1d",
            "network": "-3",
            "public_key": "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "proof": {**_PROOF, "state_init": _STATE_INIT},
        },
    },
    "account": {
        "summary": "TON Connect SDK `wallet.account` + `tonProof.proof`",
        "value": {
            "account": {
                "address": "0:8a3c5e1f0d2b4a6c8e0f1a3b5c7d9e1f2a4b6c8d0e1f3a5b7c9d1e3f5a7b9c1d",
                "chain": "-3",
                "publicKey": "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
                "walletStateInit": _STATE_INIT,
            },
            "proof": _PROOF,
        },
    },
}


class WalletOut(BaseModel):
    address: str = Field(description="Raw form `0:<64 hex>`.")
    address_friendly: str = Field(
        description="Non-bounceable user-friendly form (`UQ…`; `0Q…` off mainnet)."
    )
    verified_at: datetime = Field(description="When the ton_proof was verified (UTC).")

    @classmethod
    def of(cls, wallet: Wallet, settings: NftSettings) -> WalletOut:
        address = parse_user_address(wallet.address)
        return cls(
            address=wallet.address,
            address_friendly=friendly(address, testnet=settings.testnet_addresses),
            verified_at=wallet.verified_at,
        )
