"""Catalog rules: points as micro-point integers, the supply rule, page cursors, TEP-64 JSON.

Integers only (micro-points), UTC datetimes, no framework or database imports.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from nft.errors import InvalidCursor, InvalidPrice, SupplyBelowSold

MICRO = 1_000_000
#: The highest price accepted, in points (the column is a bigint of micro-points).
MAX_PRICE_POINTS = 10**12
_PRICE_RE = re.compile(r"^[0-9]{1,13}(\.[0-9]{1,6})?$")


def format_points(micro: int) -> str:
    """µP as a decimal string with six places: 12_500_000 -> "12.500000" (no floats)."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    return f"{sign}{whole}.{frac:06d}"


def parse_points(value: str) -> int:
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


def encode_cursor(created_at: datetime, item_id: UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(item_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, item_id = json.loads(raw)
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("naive cursor time")
        return at, UUID(item_id)
    except (ValueError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("The cursor is not one this API returned.") from None


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
    name: str, description: str, image: str, attributes: list[dict[str, Any]]
) -> dict[str, Any]:
    """TEP-64 off-chain item JSON: `name`, `description`, `image`, `attributes`
    (`[{trait_type, value}]`, the form marketplaces read)."""
    return {
        "name": name,
        "description": description,
        "image": image,
        "attributes": [{"trait_type": a["trait_type"], "value": a["value"]} for a in attributes],
    }
