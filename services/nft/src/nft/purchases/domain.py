"""Purchase rules: the saga's states, why a purchase fails, the Idempotency-Key rule, what a
buyer sees; and the minted NFT a completed purchase leaves. No framework or database imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from scifikpi_common.errors import (
    Conflict,
    KeepsChanges,
    MissingIdempotencyKey,
    NotFound,
    ValidationFailed,
)

IDEMPOTENCY_KEY_MAX = 255


class PurchaseStatus(StrEnum):
    """pending (points being held) → reserved (minting) → completed | failed."""

    pending = "pending"
    reserved = "reserved"
    completed = "completed"
    failed = "failed"


#: Purchases that can still end either way.
OPEN = (PurchaseStatus.pending, PurchaseStatus.reserved)


class FailureReason(StrEnum):
    """`failure_reason` of a failed purchase (and `reason` of `NftPurchaseFailed`); a mint that
    gave up is `mint_<outcome>` (`mint_failure`)."""

    sold_out = "sold_out"
    insufficient_points = "insufficient_points"
    reservation_timeout = "reservation_timeout"
    reservation_late = "reservation_late"  # only in the event: a hold that came after failure
    mint_timeout = "mint_timeout"


def mint_failure(outcome: str) -> str:
    """The failure reason of a purchase whose mint message died with `outcome`."""
    return f"mint_{outcome}"


class NftStatus(StrEnum):
    """A minted NFT: held by the platform's custody wallet, or sent to the user's wallet."""

    custody = "custody"
    transferred = "transferred"


class InvalidIdempotencyKey(ValidationFailed):
    slug, title = "idempotency-key-invalid", "Idempotency-Key is not acceptable"


class IdempotencyKeyReused(ValidationFailed):
    slug, title = "idempotency-key-reused", "Idempotency-Key was used with a different request"


class CatalogItemRetired(Conflict):
    slug, title = "catalog-item-retired", "The catalog item is retired and no longer sold"


class SoldOut(KeepsChanges, Conflict):
    """The attempt is recorded `failed` (`sold_out`) so its Idempotency-Key replays this answer:
    the edge commits that record, then answers 409 with the purchase's id."""

    slug, title = "sold-out", "The catalog item is sold out"

    def __init__(self, purchase_id: UUID, *, replayed: bool) -> None:
        super().__init__(
            "Every unit of this item is sold.",
            purchase_id=str(purchase_id),
            headers={"Idempotent-Replayed": "true"} if replayed else None,
        )


class PurchaseNotFound(NotFound):
    slug, title = "purchase-not-found", "No such purchase"


def check_idempotency_key(key: str | None) -> str:
    """The key as used: stripped, 1 to 255 printable ASCII characters."""
    if key is None or not key.strip():
        raise MissingIdempotencyKey(
            "Send an Idempotency-Key header (e.g. a UUID) so a retry cannot buy twice."
        )
    key = key.strip()
    if len(key) > IDEMPOTENCY_KEY_MAX or not key.isascii() or not key.isprintable():
        raise InvalidIdempotencyKey(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters."
        )
    return key


@dataclass(frozen=True, slots=True)
class Purchase:
    id: UUID
    user_id: UUID
    catalog_item_id: UUID
    idempotency_key: str
    price_points_micro: int
    status: PurchaseStatus
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    # from the minted NFT (None until completed)
    collection_address: str | None = None
    item_index: int | None = None
    item_address: str | None = None

    @property
    def sold_out(self) -> bool:
        return (
            self.status == PurchaseStatus.failed and self.failure_reason == FailureReason.sold_out
        )


@dataclass(frozen=True, slots=True)
class BuyOutcome:
    purchase: Purchase
    created: bool  # False: the Idempotency-Key replayed an earlier answer


@dataclass(frozen=True, slots=True)
class OpenPurchase:
    """A purchase as the ledger's answers and the sweeper see it (row-locked)."""

    id: UUID
    status: PurchaseStatus
    user_id: UUID
    catalog_item_id: UUID


@dataclass(frozen=True, slots=True)
class MintedNft:
    id: UUID
    user_id: UUID
    catalog_item_id: UUID
    name: str
    image_url: str
    collection_address: str
    item_index: int
    item_address: str
    owner_address: str
    status: NftStatus
    minted_at: datetime
    transferred_at: datetime | None
