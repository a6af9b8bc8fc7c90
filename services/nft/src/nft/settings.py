"""Settings of the nft service (env prefix `NFT_`; shared values also read unprefixed).

The collection settings and `NFT_PUBLIC_BASE_URL` build the public TEP-64 metadata; the on-chain
collection content (next slice) points at URLs under that base, so changing it after minting
breaks the metadata of NFTs already on chain.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from scifikpi_common.settings import ServiceSettings


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


# A development custody seed (32 bytes, hex): refused outside local/test like every placeholder.
DEV_CUSTODY_PRIVATE_KEY = "5c1f1c0ffee0d15ea5e5ca1ab1e5eed0000000000000000000000000000000de"


class TonNetwork(StrEnum):
    local = "local"  # the emulated chain (pytvm's TON emulator), state in Postgres
    testnet = "testnet"
    mainnet = "mainnet"


class NftSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NFT_", extra="ignore", env_ignore_empty=True)

    service_name: ClassVar[str] = "nft"
    db_schema: ClassVar[str] = "nft"

    http_port: int = 8005
    metrics_port: int | None = Field(
        default=9105, description="/metrics of nft-worker, -relay and -scheduler."
    )

    # --- public TEP-64 metadata ---
    public_base_url: str = Field(
        default="http://127.0.0.1:8000/api/v1",
        description="Public base of the API as clients (and marketplaces) reach it, without a "
        "trailing slash; metadata URLs are `{base}/nft/metadata/...`.",
    )
    collection_name: str = Field(default="SciFiKPI", min_length=1, max_length=100)
    collection_description: str = Field(
        default="Collectibles of the SciFiKPI platform, bought with mined points.",
        max_length=2000,
    )
    collection_image_url: str | None = Field(
        default=None, description="Image of the collection (`image`); omitted when unset."
    )
    collection_external_link: str | None = Field(
        default=None, description="Site of the collection (`external_link`); omitted when unset."
    )
    metadata_max_age_s: int = Field(
        default=300, ge=0, description="`Cache-Control: public, max-age=` of the metadata JSON."
    )

    # --- TON ---
    ton_network: TonNetwork = Field(
        default=TonNetwork.local,
        description="`local`: an emulated chain running the real contracts (state in this "
        "service's database, schema `ton_local`); `testnet`/`mainnet`: liteservers.",
    )
    ton_liteserver_config: Path | None = Field(
        default=None,
        description="A TON global config JSON (liteservers). Never fetched at run time; unset "
        "for testnet means the vendored testnet config; mainnet requires it.",
    )
    ton_trust_level: int = Field(default=2, ge=0, le=2)
    ton_request_timeout_s: float = Field(default=10.0, gt=0)
    custody_private_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 seed (32 bytes, hex) of the custody HighloadWalletV3. Needed only "
        "where custody signs (nft-scheduler, nft-admin); unset in local/test means a development "
        "key, refused anywhere else.",
    )
    custody_subwallet_id: int = Field(default=0x10AD, ge=0, lt=2**32)
    custody_timeout_s: int = Field(
        default=3600,
        ge=60,
        lt=2**22,
        description="HLv3 message timeout: a signed message is valid this long, then is dead.",
    )
    royalty_numerator: int = Field(default=0, ge=0, lt=2**16)
    royalty_denominator: int = Field(default=1000, gt=0, lt=2**16)

    # --- minting and transfers ---
    mint_batch_size: int = Field(
        default=100, ge=1, le=250, description="Items per signed external (one HLv3 message)."
    )
    mint_max_attempts: int = Field(
        default=3, ge=1, description="Signed attempts per purchase before it fails."
    )
    transfer_max_attempts: int = Field(default=3, ge=1)
    mint_item_value_nano: int = Field(
        default=50_000_000, gt=0, description="TON (nano) left on each item account."
    )
    mint_message_value_nano: int = Field(
        default=60_000_000, gt=0, description="TON (nano) sent to the collection per item."
    )
    transfer_value_nano: int = Field(default=50_000_000, gt=0)
    resend_interval_s: float = Field(
        default=10.0, ge=0, description="Re-send a signed, unsettled message this often."
    )
    confirm_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="How often the chain engine reads open messages' state (each read is a few "
        "get-methods per item); 0.02 on the local chain, where a message settles at once.",
    )
    settle_grace_s: float = Field(
        default=30.0,
        ge=0,
        description="After the wallet executed a message, how long its items may still be in "
        "flight on chain before missing ones count as failed (0 on the local chain: it is "
        "synchronous).",
    )
    mint_deadline_s: int = Field(
        default=7200,
        ge=60,
        description="A reserved purchase not minted within this time (and with no message that "
        "could still execute) fails and its points are released. Keep it well below the "
        "ledger's hold TTL (LEDGER_HOLD_TTL_S, default 24 h).",
    )
    pending_timeout_s: int = Field(
        default=600,
        ge=1,
        description="A purchase the ledger has not answered within this time fails "
        "(a late reservation is then released).",
    )

    # --- wallets ---
    wallet_challenge_ttl_s: int = Field(default=300, ge=10, le=3600)
    ton_proof_domains: list[str] = Field(
        default=["localhost:4200", "localhost", "127.0.0.1"],
        description="Domains (host[:port], as the wallet reports them) a ton_proof may name.",
    )
    ton_proof_max_age_s: int = Field(default=900, ge=10)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/")

    @field_validator("collection_image_url", "collection_external_link")
    @classmethod
    def _optional_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @model_validator(mode="after")
    def _local_chain_settles_at_once(self) -> NftSettings:
        # The emulated chain delivers a message's whole trace synchronously: nothing is in flight.
        if self.ton_network is TonNetwork.local:
            if "settle_grace_s" not in self.model_fields_set:
                self.settle_grace_s = 0.0
            if "confirm_interval_s" not in self.model_fields_set:
                self.confirm_interval_s = 0.02
        return self

    def custody_seed(self) -> str:
        """The custody key's hex seed; the development one only in local/test."""
        if self.custody_private_key is not None:
            seed = self.custody_private_key.get_secret_value().strip()
            if seed != DEV_CUSTODY_PRIVATE_KEY or self.is_dev:
                return seed
        elif self.is_dev:
            return DEV_CUSTODY_PRIVATE_KEY
        raise ValueError(
            "NFT_CUSTODY_PRIVATE_KEY must be set to the custody wallet's own seed "
            f"(environment {self.environment.value!r})"
        )

    @property
    def testnet_addresses(self) -> bool:
        """Addresses are shown with the test-only flag off mainnet (local too: never real TON)."""
        return self.ton_network != TonNetwork.mainnet

    def collection_metadata_url(self) -> str:
        return f"{self.public_base_url}/nft/metadata/collection.json"

    def item_metadata_prefix(self) -> str:
        """The common prefix of item content: an item's URL is this + `{catalog_item_id}.json`."""
        return f"{self.public_base_url}/nft/metadata/items/"


@lru_cache
def get_settings() -> NftSettings:
    return NftSettings()
