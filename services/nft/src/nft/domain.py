"""What the nft aggregates share: the account-status rule, a strict TON address as users type
it, and keyset pages.

No framework, database or network imports; integers only (micro-points), UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from scifikpi_common.errors import Forbidden, ValidationFailed
from scifikpi_common.pagination import encode_cursor

T = TypeVar("T")


class AccountNotActive(Forbidden):
    slug, title = "account-not-active", "The account is not active yet"


class InvalidAddress(ValidationFailed):
    slug, title = (
        "invalid-address",
        "Not a valid TON address (basechain, 32-byte hash, correct checksum)",
    )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One keyset page, newest first; `next_cursor` is None on the last page."""

    items: list[T]
    next_cursor: str | None


def keyset_page(rows: list[T], limit: int, key: Callable[[T], tuple[datetime, UUID]]) -> Page[T]:
    """A page from `limit + 1` rows read after the cursor: the extra row says there is more."""
    items = rows[:limit]
    more = len(rows) > limit and bool(items)
    return Page(items, encode_cursor(*key(items[-1])) if more else None)
