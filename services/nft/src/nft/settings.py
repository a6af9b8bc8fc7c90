"""Settings of the nft service (env prefix `NFT_`; shared values also read unprefixed).

The collection settings and `NFT_PUBLIC_BASE_URL` build the public TEP-64 metadata; the on-chain
collection content (next slice) points at URLs under that base, so changing it after minting
breaks the metadata of NFTs already on chain.
"""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict
from scifikpi_common.settings import ServiceSettings


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


class NftSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NFT_", extra="ignore", env_ignore_empty=True)

    service_name: ClassVar[str] = "nft"
    db_schema: ClassVar[str] = "nft"

    http_port: int = 8005
    metrics_port: int | None = Field(default=9105, description="/metrics of nft-worker, -relay.")

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

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/")

    @field_validator("collection_image_url", "collection_external_link")
    @classmethod
    def _optional_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    def collection_metadata_url(self) -> str:
        return f"{self.public_base_url}/nft/metadata/collection.json"

    def item_metadata_prefix(self) -> str:
        """The common prefix of item content: an item's URL is this + `{catalog_item_id}.json`."""
        return f"{self.public_base_url}/nft/metadata/items/"


@lru_cache
def get_settings() -> NftSettings:
    return NftSettings()
