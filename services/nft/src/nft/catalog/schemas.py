"""Request and response bodies of the catalog and its TEP-64 metadata. Points are decimal strings
("12.500000") with the raw micro-point integers beside them; times are UTC; no floats."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    model_validator,
)
from scifikpi_common.points import format_points
from scifikpi_common.text import NoNul

from nft.catalog.domain import CatalogItem, ItemChanges, NewItem, parse_points
from nft.domain import Page
from nft.settings import NftSettings

Points = Annotated[str, Field(examples=["12.500000"], pattern=r"^-?\d+\.\d{6}$")]
PriceIn = Annotated[
    StrictStr,
    Field(
        max_length=32,
        examples=["12.5"],
        description="Points as a decimal string, > 0, at most 6 decimals (else 422 "
        "`invalid-price`).",
    ),
]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain whitespace")
    return value


HttpUrlStr = Annotated[
    StrictStr,
    Field(max_length=2048, examples=["https://cdn.example.com/nft/ship.png"]),
    AfterValidator(_http_url),
    NoNul,
]
Name = Annotated[StrictStr, Field(min_length=1, max_length=100, examples=["Star Cruiser"]), NoNul]
Description = Annotated[StrictStr, Field(max_length=2000), NoNul]
SupplyTotal = Annotated[StrictInt, Field(gt=0, le=1_000_000_000, examples=[100])]


class Attribute(BaseModel):
    """One trait, as TEP-64 / marketplace item metadata carries it."""

    model_config = ConfigDict(extra="forbid")

    trait_type: Annotated[StrictStr, NoNul] = Field(min_length=1, max_length=64, examples=["class"])
    value: Annotated[StrictStr, Field(max_length=256), NoNul] | StrictInt = Field(
        examples=["cruiser"]
    )


Attributes = Annotated[list[Attribute], Field(max_length=32)]


class CatalogItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = ""
    image_url: HttpUrlStr
    attributes: Attributes = Field(default_factory=list)
    price_points: PriceIn
    supply_total: SupplyTotal

    def to_command(self) -> NewItem:
        return NewItem(
            name=self.name,
            description=self.description,
            image_url=self.image_url,
            attributes=[a.model_dump() for a in self.attributes],
            price_points_micro=parse_points(self.price_points),
            supply_total=self.supply_total,
        )


class CatalogItemPatch(BaseModel):
    """Only the fields sent change; none of them may be null."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    image_url: HttpUrlStr | None = None
    attributes: Attributes | None = None
    price_points: PriceIn | None = None
    supply_total: SupplyTotal | None = Field(
        default=None,
        description="May grow, or shrink down to `supply_sold` (else 409 `supply-below-sold`).",
    )

    @model_validator(mode="after")
    def _no_nulls(self) -> CatalogItemPatch:
        nulls = sorted(f for f in self.model_fields_set if getattr(self, f) is None)
        if nulls:
            raise ValueError(f"fields cannot be null: {', '.join(nulls)}")
        return self

    def to_command(self) -> ItemChanges:
        """The fields sent (none of them null); the price parsed (else 422 `invalid-price`)."""
        return ItemChanges(
            name=self.name,
            description=self.description,
            image_url=self.image_url,
            attributes=None
            if self.attributes is None
            else [a.model_dump() for a in self.attributes],
            price_points_micro=None
            if self.price_points is None
            else parse_points(self.price_points),
            supply_total=self.supply_total,
        )


class CatalogItemOut(BaseModel):
    """A catalog item as the public sees it (active items only)."""

    id: UUID
    name: str
    description: str
    image_url: str
    attributes: list[Attribute]
    price_points: Points
    price_points_micro: int = Field(gt=0)
    supply_total: int = Field(gt=0)
    supply_left: int = Field(ge=0, description="supply_total − supply_sold")
    metadata_url: str = Field(description="The item's TEP-64 JSON (what minted NFTs point to).")
    created_at: datetime

    @classmethod
    def of(cls, item: CatalogItem, settings: NftSettings) -> CatalogItemOut:
        return cls(
            id=item.id,
            name=item.name,
            description=item.description,
            image_url=item.image_url,
            attributes=[Attribute.model_validate(a) for a in item.attributes],
            price_points=format_points(item.price_points_micro),
            price_points_micro=item.price_points_micro,
            supply_total=item.supply_total,
            supply_left=item.supply_left,
            metadata_url=f"{settings.item_metadata_prefix()}{item.id}.json",
            created_at=item.created_at,
        )


class AdminCatalogItemOut(CatalogItemOut):
    status: Literal["active", "retired"]
    supply_sold: int = Field(ge=0)
    updated_at: datetime

    @classmethod
    def of(cls, item: CatalogItem, settings: NftSettings) -> AdminCatalogItemOut:
        public = CatalogItemOut.of(item, settings).model_dump()
        return cls(
            **public,
            status=item.status.value,
            supply_sold=item.supply_sold,
            updated_at=item.updated_at,
        )


class CatalogPage(BaseModel):
    items: list[CatalogItemOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")

    @classmethod
    def of(cls, page: Page[CatalogItem], settings: NftSettings) -> CatalogPage:
        items = [CatalogItemOut.of(item, settings) for item in page.items]
        return cls(items=items, next_cursor=page.next_cursor)


class AdminCatalogPage(BaseModel):
    items: list[AdminCatalogItemOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")

    @classmethod
    def of(cls, page: Page[CatalogItem], settings: NftSettings) -> AdminCatalogPage:
        items = [AdminCatalogItemOut.of(item, settings) for item in page.items]
        return cls(items=items, next_cursor=page.next_cursor)


class CollectionMetadata(BaseModel):
    """TEP-64 off-chain collection content."""

    name: str
    description: str
    image: str | None = None
    external_link: str | None = None


class ItemMetadata(BaseModel):
    """TEP-64 off-chain item content."""

    name: str
    description: str
    image: str
    attributes: list[Attribute]
