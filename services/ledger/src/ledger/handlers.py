"""Use cases of the ledger: each runs in the caller's unit of work and never commits.

The consumer wrapper (inbox claim + handler + one commit) and the sweeper own the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import (
    MiningCompleted,
    MoneyCredited,
    MoneyDebited,
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
from ledger.postings import Account, Credit, Posting
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
    clearing = Account(clearing_kind(event.provider))
    reference = {
        "payment_id": str(event.payment_id), "purpose": event.purpose, "provider": event.provider,
        "amount_minor": event.amount_minor, "currency": event.currency,
    }  # fmt: skip
    if event.purpose == "acceleration":
        if event.quote_id is not None:
            reference["quote_id"] = str(event.quote_id)
        return await postings.post_transfer(
            s, transfer_id=tid, debit=clearing, credit=Account(AccountKind.acceleration_revenue),
            amount=usd, kind=TransferKind.acceleration, user_id=event.user_id,
            reference=reference,
        )  # fmt: skip
    posting = await postings.post_transfer(
        s, transfer_id=tid, debit=clearing, credit=Account(AccountKind.user_money, event.user_id),
        amount=usd, kind=TransferKind.deposit, user_id=event.user_id, reference=reference,
    )  # fmt: skip
    if posting.created:
        assert posting.posted is not None
        await uow.publish_all(
            [
                MoneyCredited(
                    user_id=event.user_id,
                    transfer_id=tid,
                    booked_at=posting.created_at or utcnow(),
                    payment_id=event.payment_id,
                    amount_usd_minor=usd,
                    total_deposits_usd_minor=posting.posted,
                )
            ],
        )
    return posting


async def refund_payment(uow: UnitOfWork, event: PaymentRefunded) -> Posting:
    """Reverse the payment's transfer exactly (same accounts swapped, same USD amount).

    When the reversal takes the money out of the user's money account (a registration or top-up
    refund), `MoneyDebited` is published in the same transaction with the user's total deposits
    after it. A deposit reversal that would overdraw the user's money account (money spent
    meanwhile) is never forced through the user account: it books from `refund_shortfall` to the
    clearing account instead (the platform carries the loss), tagged with the user and logged as
    an error; the user's money did not go down, so no `MoneyDebited`. An acceleration refund
    reverses revenue, not user money: no `MoneyDebited` either.
    """
    s = uow.session
    original = (
        await s.execute(
            text(
                "SELECT t.debit_account_id, t.credit_account_id, t.amount,"
                " c.user_id IS NOT NULL AS to_user"
                " FROM transfers t JOIN accounts c ON c.id = t.credit_account_id WHERE t.id = :id"
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
    if posting.created and original.to_user:
        assert posting.posted is not None
        await uow.publish_all(
            [
                MoneyDebited(
                    user_id=event.user_id,
                    transfer_id=tid,
                    booked_at=posting.created_at or utcnow(),
                    payment_id=event.payment_id,
                    amount_usd_minor=original.amount,
                    total_deposits_usd_minor=posting.posted,
                    reason=event.reason,
                )
            ],
        )
    elif posting.status == "insufficient_funds":
        log.error(
            "refund_exceeds_user_money", payment_id=str(event.payment_id),
            user_id=str(event.user_id), amount_usd_minor=original.amount,
        )  # fmt: skip
        posting = await postings.post_transfer(
            s, transfer_id=tid, debit=Account(AccountKind.refund_shortfall),
            credit=original.debit_account_id, amount=original.amount, kind=TransferKind.refund,
            user_id=event.user_id, reference={**reference, "shortfall": True},
        )  # fmt: skip
    return posting


def _points_credited(event: MiningCompleted, posting: Posting) -> PointsCredited:
    assert posting.available is not None
    return PointsCredited(
        user_id=posting.user_id or event.user_id,
        transfer_id=posting.transfer_id,
        booked_at=posting.created_at or utcnow(),
        session_id=event.session_id,
        points_micro=posting.amount,
        available_micro=posting.available,
    )


async def credit_mining(uow: UnitOfWork, event: MiningCompleted) -> Posting:
    """`mining_issuance` → the user's points: one round trip for the posting, one for the event."""
    posting = await postings.post_transfer(
        uow.session, transfer_id=mining_transfer_id(event.session_id),
        debit=Account(AccountKind.mining_issuance),
        credit=Account(AccountKind.user_points, event.user_id), amount=event.points_micro,
        kind=TransferKind.mining, user_id=event.user_id,
        reference={"session_id": str(event.session_id)},
    )  # fmt: skip
    if posting.created:
        await uow.publish_all([_points_credited(event, posting)])
    return posting


async def credit_mining_batch(
    uow: UnitOfWork, events: Sequence[MiningCompleted]
) -> dict[str, Posting]:
    """Many `MiningCompleted` in the caller's one transaction: one statement for the postings
    (the issuance account moved once, by the batch's sum), one for the `PointsCredited` rows.

    Sessions already credited (redeliveries, or the same session twice in the batch) change
    nothing and publish nothing. Returns the created postings by transfer id.
    """
    created = await postings.credit_batch(
        uow.session,
        [
            Credit(
                mining_transfer_id(e.session_id),
                e.user_id,
                e.points_micro,
                {"session_id": str(e.session_id)},
            )  # fmt: skip
            for e in events
        ],
        system=AccountKind.mining_issuance,
        user_kind=AccountKind.user_points,
        kind=TransferKind.mining,
    )
    done: dict[str, Posting] = {}
    published: list[PointsCredited] = []
    for event in events:
        posting = created.pop(mining_transfer_id(event.session_id), None)  # once per transfer
        if posting is not None:
            published.append(_points_credited(event, posting))
            done[posting.transfer_id] = posting
    await uow.publish_all(published)
    return done


async def reserve(
    uow: UnitOfWork, event: NftPurchaseRequested, settings: LedgerSettings
) -> Posting:
    tid = hold_id(event.purchase_id)
    posting = await postings.post_transfer(
        uow.session, transfer_id=tid, debit=Account(AccountKind.user_points, event.user_id),
        credit=Account(AccountKind.nft_sales), amount=event.price_points_micro,
        kind=TransferKind.nft_hold, user_id=event.user_id,
        reference={
            "purchase_id": str(event.purchase_id), "catalog_item_id": str(event.catalog_item_id),
        },
        hold_ttl=timedelta(seconds=settings.hold_ttl_s),
    )  # fmt: skip
    if posting.created:
        assert posting.expires_at is not None
        await uow.publish_all(
            [
                PointsReserved(
                    user_id=event.user_id,
                    transfer_id=tid,
                    booked_at=posting.created_at or utcnow(),
                    purchase_id=event.purchase_id,
                    points_micro=event.price_points_micro,
                    expires_at=posting.expires_at,
                )
            ],
        )
    elif posting.status == "insufficient_funds":
        await uow.publish_all(
            [
                PointsReservationRejected(
                    user_id=event.user_id,
                    purchase_id=event.purchase_id,
                    points_micro=event.price_points_micro,
                    reason="insufficient_funds",
                    rejected_at=utcnow(),
                )
            ],
        )
    return posting


async def capture(uow: UnitOfWork, event: NftMinted) -> Posting:
    posting = await postings.resolve_hold(
        uow.session, hold=hold_id(event.purchase_id), resolution_id=post_id(event.purchase_id),
        phase=Phase.post, kind=TransferKind.nft_post,
    )  # fmt: skip
    if posting.created:
        await uow.publish_all(
            [
                PointsDebited(
                    user_id=event.user_id,
                    transfer_id=posting.transfer_id,
                    booked_at=posting.created_at or utcnow(),
                    purchase_id=event.purchase_id,
                    points_micro=posting.amount,
                )
            ],
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
        await uow.publish_all(
            [
                PointsReleased(
                    user_id=event.user_id,
                    transfer_id=posting.transfer_id,
                    booked_at=posting.created_at or utcnow(),
                    purchase_id=event.purchase_id,
                    points_micro=posting.amount,
                    reason="purchase_failed",
                )
            ],
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
        await uow.publish_all(
            [
                PointsReleased(
                    user_id=posting.user_id,
                    transfer_id=posting.transfer_id,
                    booked_at=posting.created_at or utcnow(),
                    purchase_id=purchase_id,
                    points_micro=posting.amount,
                    reason="expired",
                )
            ],
        )
    return posting
