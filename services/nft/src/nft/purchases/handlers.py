"""Purchase use cases: buying, the ledger's answers, ending without an item, and the reads.

- `buy`: one transaction takes one unit of supply with a guarded UPDATE, records the purchase
  `pending` at today's price and queues `NftPurchaseRequested`; a sold-out attempt is recorded
  `failed` (`sold_out`) and raised as `SoldOut` (KeepsChanges: the edge commits the record, so its
  Idempotency-Key replays the same answer);
- `on_reserved` / `on_rejected`: the ledger's answers (`PointsReserved` wakes the chain engine);
- `fail` / `sweep_pending`: how any open purchase ends without an item (supply back, hold
  released); the chain engine calls them too.

Nothing here commits: the route, the consumer runner or the engine owns the unit of work.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.events.nft import NftPurchaseFailed, NftPurchaseRequested
from scifikpi_common.ids import new_id
from scifikpi_common.logging import get_logger
from scifikpi_common.pagination import decode_cursor

from nft.catalog.domain import CatalogItemStatus, not_found
from nft.catalog.repository import CatalogRepository
from nft.chain.repository import wake_engine
from nft.domain import Page, keyset_page
from nft.purchases.domain import (
    BuyOutcome,
    CatalogItemRetired,
    FailureReason,
    IdempotencyKeyReused,
    MintedNft,
    Purchase,
    PurchaseNotFound,
    PurchaseStatus,
    SoldOut,
)
from nft.purchases.repository import PurchaseRepository

log = get_logger(__name__)


# --------------------------------------------------------------------------- buying


async def buy(
    uow: UnitOfWork, *, user_id: UUID, catalog_item_id: UUID, key: str, now: datetime
) -> BuyOutcome:
    """Record a purchase for (user, key), or replay the one the key already made. Raises
    404/409/422 problems; a sold-out attempt is recorded `failed`, then raised as `SoldOut`."""
    purchases, catalog = PurchaseRepository(uow.session), CatalogRepository(uow.session)
    existing = await purchases.by_key(user_id, key)
    if existing is not None:
        return _replay(existing, catalog_item_id)
    price = await catalog.take_one(catalog_item_id)
    status, reason = PurchaseStatus.pending, None
    if price is None:
        price = await _why_not_on_sale(catalog, catalog_item_id)
        status, reason = PurchaseStatus.failed, FailureReason.sold_out
    purchase_id = new_id()
    inserted = await purchases.insert(
        {
            "id": purchase_id,
            "user_id": user_id,
            "catalog_item_id": catalog_item_id,
            "idempotency_key": key,
            "price_points_micro": price,
            "status": status,
            "failure_reason": reason,
            "created_at": now,
            "updated_at": now,
            "failed_at": now if status == PurchaseStatus.failed else None,
        }
    )
    if not inserted:
        # A concurrent request with the same key won: our unit goes back, its purchase answers.
        if status == PurchaseStatus.pending:
            await catalog.give_back_one(catalog_item_id)
        winner = await purchases.by_key(user_id, key)
        assert winner is not None, "the idempotency constraint says it exists"
        return _replay(winner, catalog_item_id)
    if status == PurchaseStatus.pending:
        await uow.publish(
            NftPurchaseRequested(
                user_id=user_id,
                purchase_id=purchase_id,
                catalog_item_id=catalog_item_id,
                price_points_micro=price,
                requested_at=now,
            )
        )
    created = await purchases.get(purchase_id)
    assert created is not None
    if created.sold_out:
        raise SoldOut(created.id, replayed=False)
    return BuyOutcome(created, created=True)


def _replay(existing: Purchase, catalog_item_id: UUID) -> BuyOutcome:
    if existing.catalog_item_id != catalog_item_id:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for another catalog item; use a new key."
        )
    if existing.sold_out:
        raise SoldOut(existing.id, replayed=True)
    return BuyOutcome(existing, created=False)


async def _why_not_on_sale(catalog: CatalogRepository, item_id: UUID) -> int:
    """The guarded UPDATE sold nothing: 404 / 409 retired, or sold out (returns its price)."""
    item = await catalog.get(item_id)
    if item is None:
        raise not_found(item_id)
    if item.status != CatalogItemStatus.active:
        raise CatalogItemRetired(f"Catalog item {item_id} is no longer sold.")
    return item.price_points_micro


# --------------------------------------------------------------------------- ledger answers


async def on_reserved(uow: UnitOfWork, purchase_id: UUID, *, now: datetime) -> None:
    """The price is held: pending → reserved and wake the chain engine. A purchase that already
    failed (e.g. timed out) gets a new `NftPurchaseFailed` so the ledger releases the late hold."""
    repo = PurchaseRepository(uow.session)
    found = await repo.lock(purchase_id)
    if found is None:
        log.warning("points_reserved_unknown_purchase", purchase_id=str(purchase_id))
        return
    if found.status == PurchaseStatus.pending:
        await repo.set_reserved(purchase_id, now)
        await wake_engine(uow.session)
    elif found.status == PurchaseStatus.failed:
        log.info("points_reserved_after_failure", purchase_id=str(purchase_id))
        await uow.publish(
            NftPurchaseFailed(
                user_id=found.user_id,
                purchase_id=purchase_id,
                reason=FailureReason.reservation_late,
                failed_at=now,
            )
        )
    # reserved / completed: a repeat of a fact we already acted on


async def on_rejected(uow: UnitOfWork, purchase_id: UUID, *, now: datetime) -> None:
    """The ledger refused the hold: pending → failed (`insufficient_points`), supply back.
    No event: no hold exists to release."""
    found = await PurchaseRepository(uow.session).lock(purchase_id)
    if found is None:
        log.warning("reservation_rejected_unknown_purchase", purchase_id=str(purchase_id))
        return
    if found.status != PurchaseStatus.pending:
        log.info("reservation_rejected_ignored", purchase_id=str(purchase_id), status=found.status)
        return
    await fail(
        uow, purchase_id, reason=FailureReason.insufficient_points, now=now, release_hold=False
    )


# --------------------------------------------------------------------------- ending without an item


async def fail(
    uow: UnitOfWork, purchase_id: UUID, *, reason: str, now: datetime, release_hold: bool
) -> bool:
    """Fail an open (pending/reserved) purchase: `failure_reason`, `failed_at`, its mint slot
    cleared, supply restored, and `NftPurchaseFailed` queued when `release_hold` (the ledger
    voids the hold). False, changing nothing, if the purchase is unknown or already final."""
    ended = await PurchaseRepository(uow.session).set_failed(purchase_id, reason=reason, now=now)
    if ended is None:
        return False
    user_id, item_id = ended
    await CatalogRepository(uow.session).give_back_one(item_id)
    if release_hold:
        await uow.publish(
            NftPurchaseFailed(
                user_id=user_id, purchase_id=purchase_id, reason=reason, failed_at=now
            )
        )
    return True


async def sweep_pending(
    uow: UnitOfWork, *, older_than: datetime, now: datetime, limit: int = 500
) -> int:
    """Fail purchases still `pending` (the ledger never answered) last updated before
    `older_than` (`reservation_timeout`, hold released in case it comes late). Rows another
    replica is sweeping are skipped. Returns how many failed."""
    stale = await PurchaseRepository(uow.session).lock_stale_pending(
        older_than=older_than, limit=limit
    )
    failed = 0
    for purchase_id in stale:
        if await fail(
            uow, purchase_id, reason=FailureReason.reservation_timeout, now=now, release_hold=True
        ):
            failed += 1
    return failed


# --------------------------------------------------------------------------- reads


async def get_purchase(uow: UnitOfWork, user_id: UUID, purchase_id: UUID) -> Purchase:
    """One of the user's purchases; another user's is "not found"."""
    purchase = await PurchaseRepository(uow.session).get(purchase_id)
    if purchase is None or purchase.user_id != user_id:
        raise PurchaseNotFound(f"Purchase {purchase_id} does not exist.")
    return purchase


async def list_purchases(
    uow: UnitOfWork, user_id: UUID, *, cursor: str | None, limit: int
) -> Page[Purchase]:
    after = decode_cursor(cursor, UUID) if cursor else None
    rows = await PurchaseRepository(uow.session).page(user_id, after=after, limit=limit + 1)
    return keyset_page(rows, limit, lambda p: (p.created_at, p.id))


async def my_nfts(
    uow: UnitOfWork, user_id: UUID, *, cursor: str | None, limit: int
) -> Page[MintedNft]:
    after = decode_cursor(cursor, UUID) if cursor else None
    rows = await PurchaseRepository(uow.session).page_nfts(user_id, after=after, limit=limit + 1)
    return keyset_page(rows, limit, lambda n: (n.minted_at, n.id))
