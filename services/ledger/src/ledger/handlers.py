"""Use cases of the ledger: each runs in the caller's unit of work and never commits.

The consumer wrapper (inbox claim + handler + one commit) and the sweeper own the transaction.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import (
    MiningCompleted,
    MoneyCredited,
    NftMinted,
    NftPurchaseFailed,
    NftPurchaseRequested,
    PaymentRefunded,
    PaymentSucceeded,
    PointsCredited,
    PointsDebited,
    PointsReleased,
    PointsReservationRejected,
    PointsReserved,
)
from scifikpi_common.logging import get_logger
from scifikpi_common.money import to_usd_minor
from sqlalchemy import text

from ledger import postings
from ledger.domain import (
    AccountKind,
    Phase,
    TransferKind,
    clearing_kind,
    expire_id,
    hold_id,
    mining_transfer_id,
    payment_transfer_id,
    post_id,
    refund_transfer_id,
    void_id,
)
from ledger.postings import Posting
from ledger.settings import LedgerSettings

log = get_logger(__name__)


class OriginalNotBooked(Exception):
    """A refund arrived for a payment the ledger has not booked: retried, then dead-lettered."""


async def book_payment(
    uow: UnitOfWork, event: PaymentSucceeded, settings: LedgerSettings
) -> Posting:
    """registration/top-up: clearing → user money (MoneyCredited); acceleration: clearing →
    acceleration revenue, tagged with the user so it shows in their history."""
    s = uow.session
    usd = to_usd_minor(event.amount_minor, event.currency, settings.fx_rates)
    tid = payment_transfer_id(event.payment_id)
    if usd <= 0:
        log.error("payment_below_one_cent", payment_id=str(event.payment_id))
        return Posting("not_found", tid)
    clearing = await postings.account_id(s, clearing_kind(event.provider))
    reference = {
        "payment_id": str(event.payment_id), "purpose": event.purpose, "provider": event.provider,
        "amount_minor": event.amount_minor, "currency": event.currency,
    }  # fmt: skip
    if event.purpose == "acceleration":
        revenue = await postings.account_id(s, AccountKind.acceleration_revenue)
        if event.quote_id is not None:
            reference["quote_id"] = str(event.quote_id)
        return await postings.post_transfer(
            s, transfer_id=tid, debit=clearing, credit=revenue, amount=usd,
            kind=TransferKind.acceleration, user_id=event.user_id, reference=reference,
        )  # fmt: skip
    money = await postings.account_id(s, AccountKind.user_money, event.user_id)
    posting = await postings.post_transfer(
        s, transfer_id=tid, debit=clearing, credit=money, amount=usd,
        kind=TransferKind.deposit, user_id=event.user_id, reference=reference,
    )  # fmt: skip
    if posting.created:
        total = await postings.balances(s, AccountKind.user_money, event.user_id)
        await uow.publish(
            MoneyCredited(
                user_id=event.user_id,
                transfer_id=tid,
                booked_at=posting.created_at or utcnow(),
                payment_id=event.payment_id,
                amount_usd_minor=usd,
                total_deposits_usd_minor=total.posted,
            )  # fmt: skip
        )
    return posting


async def refund_payment(uow: UnitOfWork, event: PaymentRefunded) -> Posting:
    """Reverse the payment's transfer exactly (same accounts swapped, same USD amount).

    A deposit reversal that would overdraw the user's money account (money spent meanwhile) is
    never forced through the user account: it books from `refund_shortfall` to the clearing
    account instead (the platform carries the loss), tagged with the user and logged as an error;
    `ledger-admin check` shows the shortfall account's balance.
    """
    s = uow.session
    original = (
        await s.execute(
            text(
                "SELECT debit_account_id, credit_account_id, amount FROM transfers WHERE id = :id"
            ),
            {"id": payment_transfer_id(event.payment_id)},
        )
    ).first()
    if original is None:
        raise OriginalNotBooked(str(event.payment_id))
    tid = refund_transfer_id(event.payment_id)
    reference = {
        "payment_id": str(event.payment_id), "purpose": event.purpose, "reason": event.reason,
        "amount_minor": event.amount_minor, "currency": event.currency,
    }  # fmt: skip
    posting = await postings.post_transfer(
        s, transfer_id=tid, debit=original.credit_account_id, credit=original.debit_account_id,
        amount=original.amount, kind=TransferKind.refund, user_id=event.user_id,
        reference=reference,
    )  # fmt: skip
    if posting.status == "insufficient_funds":
        shortfall = await postings.account_id(s, AccountKind.refund_shortfall)
        log.error(
            "refund_exceeds_user_money", payment_id=str(event.payment_id),
            user_id=str(event.user_id), amount_usd_minor=original.amount,
        )  # fmt: skip
        posting = await postings.post_transfer(
            s, transfer_id=tid, debit=shortfall, credit=original.debit_account_id,
            amount=original.amount, kind=TransferKind.refund, user_id=event.user_id,
            reference={**reference, "shortfall": True},
        )  # fmt: skip
    return posting


async def credit_mining(uow: UnitOfWork, event: MiningCompleted) -> Posting:
    s = uow.session
    issuance = await postings.account_id(s, AccountKind.mining_issuance)
    points = await postings.account_id(s, AccountKind.user_points, event.user_id)
    tid = mining_transfer_id(event.session_id)
    posting = await postings.post_transfer(
        s, transfer_id=tid, debit=issuance, credit=points, amount=event.points_micro,
        kind=TransferKind.mining, user_id=event.user_id,
        reference={"session_id": str(event.session_id)},
    )  # fmt: skip
    if posting.created:
        after = await postings.balances(s, AccountKind.user_points, event.user_id)
        await uow.publish(
            PointsCredited(
                user_id=event.user_id,
                transfer_id=tid,
                booked_at=posting.created_at or utcnow(),
                session_id=event.session_id,
                points_micro=event.points_micro,
                available_micro=after.available,
            )  # fmt: skip
        )
    return posting


async def reserve(
    uow: UnitOfWork, event: NftPurchaseRequested, settings: LedgerSettings
) -> Posting:
    s = uow.session
    sales = await postings.account_id(s, AccountKind.nft_sales)
    points = await postings.account_id(s, AccountKind.user_points, event.user_id)
    tid = hold_id(event.purchase_id)
    posting = await postings.post_transfer(
        s, transfer_id=tid, debit=points, credit=sales, amount=event.price_points_micro,
        kind=TransferKind.nft_hold, user_id=event.user_id,
        reference={
            "purchase_id": str(event.purchase_id), "catalog_item_id": str(event.catalog_item_id),
        },
        hold_ttl=timedelta(seconds=settings.hold_ttl_s),
    )  # fmt: skip
    if posting.created:
        assert posting.expires_at is not None
        await uow.publish(
            PointsReserved(
                user_id=event.user_id,
                transfer_id=tid,
                booked_at=posting.created_at or utcnow(),
                purchase_id=event.purchase_id,
                points_micro=event.price_points_micro,
                expires_at=posting.expires_at,
            )  # fmt: skip
        )
    elif posting.status == "insufficient_funds":
        await uow.publish(
            PointsReservationRejected(
                user_id=event.user_id,
                purchase_id=event.purchase_id,
                points_micro=event.price_points_micro,
                reason="insufficient_funds",
                rejected_at=utcnow(),
            )  # fmt: skip
        )
    return posting


async def capture(uow: UnitOfWork, event: NftMinted) -> Posting:
    posting = await postings.resolve_hold(
        uow.session, hold=hold_id(event.purchase_id), resolution_id=post_id(event.purchase_id),
        phase=Phase.post, kind=TransferKind.nft_post,
    )  # fmt: skip
    if posting.created:
        await uow.publish(
            PointsDebited(
                user_id=event.user_id,
                transfer_id=posting.transfer_id,
                booked_at=posting.created_at or utcnow(),
                purchase_id=event.purchase_id,
                points_micro=posting.amount,
            )  # fmt: skip
        )
    elif posting.status != "duplicate":
        log.error(
            "nft_capture_not_applied", purchase_id=str(event.purchase_id), status=posting.status,
            resolved_by=posting.resolved_by,
        )  # fmt: skip
    return posting


async def release(uow: UnitOfWork, event: NftPurchaseFailed) -> Posting:
    posting = await postings.resolve_hold(
        uow.session, hold=hold_id(event.purchase_id), resolution_id=void_id(event.purchase_id),
        phase=Phase.void, kind=TransferKind.nft_void,
    )  # fmt: skip
    if posting.created:
        await uow.publish(
            PointsReleased(
                user_id=event.user_id,
                transfer_id=posting.transfer_id,
                booked_at=posting.created_at or utcnow(),
                purchase_id=event.purchase_id,
                points_micro=posting.amount,
                reason="purchase_failed",
            )  # fmt: skip
        )
    elif posting.status not in ("duplicate", "not_found"):
        log.warning(
            "nft_release_not_applied", purchase_id=str(event.purchase_id), status=posting.status,
            resolved_by=posting.resolved_by,
        )  # fmt: skip
    return posting


async def expire(uow: UnitOfWork, hold: str) -> Posting:
    """Expire one hold (the sweeper); a hold already captured or voided is left alone."""
    purchase_id = UUID(hold.removeprefix("nft-hold:"))
    posting = await postings.resolve_hold(
        uow.session, hold=hold, resolution_id=expire_id(purchase_id), phase=Phase.expire,
        kind=TransferKind.nft_expire,
    )  # fmt: skip
    if posting.created and posting.user_id is not None:
        await uow.publish(
            PointsReleased(
                user_id=posting.user_id,
                transfer_id=posting.transfer_id,
                booked_at=posting.created_at or utcnow(),
                purchase_id=purchase_id,
                points_micro=posting.amount,
                reason="expired",
            )  # fmt: skip
        )
    return posting
