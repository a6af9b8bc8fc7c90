"""Problems the nft API answers, each with a stable `urn:scifikpi:problem:<slug>` type.

No framework imports: domain code raises these and `scifikpi_common.problems` renders them.
"""

from __future__ import annotations

from scifikpi_common.errors import Conflict, NotFound, ValidationFailed


class CatalogItemNotFound(NotFound):
    slug, title = "catalog-item-not-found", "No such catalog item"


class SupplyBelowSold(Conflict):
    slug, title = "supply-below-sold", "The supply cannot go below the number already sold"


class InvalidPrice(ValidationFailed):
    slug, title = (
        "invalid-price",
        "The price must be a positive decimal string with at most 6 decimals",
    )


class InvalidCursor(ValidationFailed):
    slug, title = "invalid-cursor", "The page cursor is not valid"
