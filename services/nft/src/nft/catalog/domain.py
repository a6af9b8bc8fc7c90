"""Catalog rules: prices as micro-point integers, the supply rule, TEP-64 metadata JSON.

Integers only (micro-points), UTC datetimes, no framework or database imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from uuid import UUID

from scifikpi_common.errors import Conflict, NotFound, ValidationFailed
from scifikpi_common.points import MICRO

#: The highest price accepted, in points (the column is a bigint of micro-points).
MAX_PRICE_POINTS = 10**12
_PRICE_RE = re.compile(r"^[0-9]{1,13}(\.[0-9]{1,6})?$")

#: One trait as TEP-64 / marketplace item metadata carries it: `{trait_type, value}`.
Attribute = dict[str, Any]


class CatalogItemStatus(StrEnum):
    active = "active"
    retired = "retired"


class CatalogItemNotFound(NotFound):
    slug, title = "catalog-item-not-found", "No such catalog item"


class SupplyBelowSold(Conflict):
    slug, title = "supply-below-sold", "The supply cannot go below the number already sold"


class InvalidPrice(ValidationFailed):
    slug, title = (
        "invalid-price",
        "The price must be a positive decimal string with at most 6 decimals",
    )


@dataclass(frozen=True, slots=True)
class CatalogItem:
    id: UUID
    name: str
    description: str
    image_url: str
    attributes: list[Attribute]
    price_points_micro: int
    supply_total: int
    supply_sold: int
    status: CatalogItemStatus
    created_at: datetime
    updated_at: datetime

    @property
    def supply_left(self) -> int:
        return self.supply_total - self.supply_sold


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item to add (price already parsed)."""

    name: str
    description: str
    image_url: str
    attributes: list[Attribute]
    price_points_micro: int
    supply_total: int


@dataclass(frozen=True, slots=True)
class ItemChanges:
    """The fields an admin sent to change; None means "not sent" (nulls are refused earlier)."""

    name: str | None = None
    description: str | None = None
    image_url: str | None = None
    attributes: list[Attribute] | None = None
    price_points_micro: int | None = None
    supply_total: int | None = None

    def columns(self) -> dict[str, Any]:
        """The changed columns other than the supply (checked against what is sold first)."""
        values = {
            "name": self.name,
            "description": self.description,
            "image_url": self.image_url,
            "attributes": self.attributes,
            "price_points_micro": self.price_points_micro,
        }
        return {name: value for name, value in values.items() if value is not None}


def parse_points(value: object) -> int:
    """A decimal string of points -> µP: "12.5" -> 12_500_000.

    Plain digits with an optional fraction of at most six places; > 0 and <= MAX_PRICE_POINTS.
    No exponents, signs, spaces or floats.
    """
    if not isinstance(value, str) or not _PRICE_RE.fullmatch(value):
        raise InvalidPrice(
            '`price_points` must be a decimal string like "12.5" with at most 6 decimals.'
        )
    try:
        micro = int(Decimal(value) * MICRO)
    except InvalidOperation:  # pragma: no cover - the pattern rules it out
        raise InvalidPrice("`price_points` is not a number.") from None
    if micro <= 0:
        raise InvalidPrice("`price_points` must be greater than zero.")
    if micro > MAX_PRICE_POINTS * MICRO:
        raise InvalidPrice(f"`price_points` must be at most {MAX_PRICE_POINTS}.")
    return micro


def check_supply(new_total: int, sold: int) -> None:
    """The supply may grow, or shrink down to what is already sold, never below."""
    if new_total < sold:
        raise SupplyBelowSold(
            f"supply_total {new_total} is below the {sold} already sold.",
            supply_sold=sold,
        )


def change_time(previous: datetime, now: datetime) -> datetime:
    """The `updated_at` of a change: `now`, but always after the previous one (+1 µs, the
    column's resolution, when the clock says otherwise), so that the published state with the
    latest `changed_at` is the latest state even when two edits of an item race."""
    return now if now > previous else previous + timedelta(microseconds=1)


def not_found(item_id: object) -> CatalogItemNotFound:
    return CatalogItemNotFound(f"Catalog item {item_id} does not exist.")


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    name: str
    description: str
    image: str | None = None
    external_link: str | None = None


def collection_metadata(info: CollectionInfo) -> dict[str, Any]:
    """TEP-64 off-chain collection JSON: `name`, `description`, `image` (and `external_link`,
    which marketplaces show); unset optional fields are left out rather than sent empty."""
    body: dict[str, Any] = {"name": info.name, "description": info.description}
    if info.image:
        body["image"] = info.image
    if info.external_link:
        body["external_link"] = info.external_link
    return body


def item_metadata(
    name: str, description: str, image: str, attributes: list[Attribute]
) -> dict[str, Any]:
    """TEP-64 off-chain item JSON: `name`, `description`, `image`, `attributes`
    (`[{trait_type, value}]`, the form marketplaces read)."""
    return {
        "name": name,
        "description": description,
        "image": image,
        "attributes": [{"trait_type": a["trait_type"], "value": a["value"]} for a in attributes],
    }
