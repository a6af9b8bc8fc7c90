"""Holds for NFT purchases: reserve (PointsReserved / PointsReservationRejected), capture
(PointsDebited), release and expire (PointsReleased), each resolution exactly once."""

from __future__ import annotations

from datetime import timedelta

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import (
    NftMinted,
    NftPurchaseFailed,
    NftPurchaseRequested,
    PointsDebited,
    PointsReleased,
    PointsReservationRejected,
    PointsReserved,
)
from scifikpi_common.logging import get_logger

from ledger.domain import (
    Account,
    AccountKind,
    Phase,
    Posting,
    PostingStatus,
    TransferKind,
    expire_id,
    hold_id,
    post_id,
    purchase_of_hold,
    void_id,
)
from ledger.repository import PostingRepository
from ledger.settings import LedgerSettings

log = get_logger(__name__)


async def reserve(
    uow: UnitOfWork, event: NftPurchaseRequested, settings: LedgerSettings
) -> Posting:
    """Hold the purchase's price (user points → `nft_sales`) for `hold_ttl_s`, or refuse it."""
    tid = hold_id(event.purchase_id)
    posting = await PostingRepository(uow.session).post_transfer(
        transfer_id=tid,
        debit=Account(AccountKind.user_points, event.user_id),
        credit=Account(AccountKind.nft_sales),
        amount=event.price_points_micro,
        kind=TransferKind.nft_hold,
        user_id=event.user_id,
        reference={
            "purchase_id": str(event.purchase_id),
            "catalog_item_id": str(event.catalog_item_id),
        },
        hold_ttl=timedelta(seconds=settings.hold_ttl_s),
    )
    if posting.created:
        assert posting.expires_at is not None
        reserved = PointsReserved(
            user_id=event.user_id,
            transfer_id=tid,
            booked_at=posting.created_at or utcnow(),
            purchase_id=event.purchase_id,
            points_micro=event.price_points_micro,
            expires_at=posting.expires_at,
        )
        await uow.publish_all([reserved])
    elif posting.status == PostingStatus.insufficient_funds:
        rejected = PointsReservationRejected(
            user_id=event.user_id,
            purchase_id=event.purchase_id,
            points_micro=event.price_points_micro,
            reason="insufficient_funds",
            rejected_at=utcnow(),
        )
        await uow.publish_all([rejected])
    return posting


async def capture(uow: UnitOfWork, event: NftMinted) -> Posting:
    """Post the purchase's hold: the points leave the user for good (PointsDebited)."""
    posting = await PostingRepository(uow.session).resolve_hold(
        hold=hold_id(event.purchase_id),
        resolution_id=post_id(event.purchase_id),
        phase=Phase.post,
        kind=TransferKind.nft_post,
    )
    if posting.created:
        debited = PointsDebited(
            user_id=event.user_id,
            transfer_id=posting.transfer_id,
            booked_at=posting.created_at or utcnow(),
            purchase_id=event.purchase_id,
            points_micro=posting.amount,
        )
        await uow.publish_all([debited])
    elif posting.status != PostingStatus.duplicate:
        log.error(
            "nft_capture_not_applied",
            purchase_id=str(event.purchase_id),
            status=posting.status.value,
            resolved_by=posting.resolved_by,
        )
    return posting


async def release(uow: UnitOfWork, event: NftPurchaseFailed) -> Posting:
    """Void the purchase's hold: the points return to the user (PointsReleased)."""
    posting = await PostingRepository(uow.session).resolve_hold(
        hold=hold_id(event.purchase_id),
        resolution_id=void_id(event.purchase_id),
        phase=Phase.void,
        kind=TransferKind.nft_void,
    )
    if posting.created:
        released = PointsReleased(
            user_id=event.user_id,
            transfer_id=posting.transfer_id,
            booked_at=posting.created_at or utcnow(),
            purchase_id=event.purchase_id,
            points_micro=posting.amount,
            reason="purchase_failed",
        )
        await uow.publish_all([released])
    elif posting.status not in (PostingStatus.duplicate, PostingStatus.not_found):
        log.warning(
            "nft_release_not_applied",
            purchase_id=str(event.purchase_id),
            status=posting.status.value,
            resolved_by=posting.resolved_by,
        )
    return posting


async def due_holds(uow: UnitOfWork, limit: int) -> list[str]:
    """Ids of holds past their expiry and not yet resolved, oldest first (for the sweeper)."""
    return await PostingRepository(uow.session).due_holds(limit)


async def expire(uow: UnitOfWork, hold: str) -> Posting:
    """Expire one hold (the sweeper); a hold already captured or voided is left alone."""
    purchase_id = purchase_of_hold(hold)
    posting = await PostingRepository(uow.session).resolve_hold(
        hold=hold,
        resolution_id=expire_id(purchase_id),
        phase=Phase.expire,
        kind=TransferKind.nft_expire,
    )
    if posting.created and posting.user_id is not None:
        released = PointsReleased(
            user_id=posting.user_id,
            transfer_id=posting.transfer_id,
            booked_at=posting.created_at or utcnow(),
            purchase_id=purchase_id,
            points_micro=posting.amount,
            reason="expired",
        )
        await uow.publish_all([released])
    return posting
