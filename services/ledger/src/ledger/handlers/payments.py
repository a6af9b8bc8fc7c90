"""Payments booked and reversed: `PaymentSucceeded` → a deposit (MoneyCredited) or an
acceleration booking; `PaymentRefunded` → the exact reversal (MoneyDebited) or the shortfall
path."""

from __future__ import annotations

from typing import Any

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import MoneyCredited, MoneyDebited, PaymentRefunded, PaymentSucceeded
from scifikpi_common.logging import get_logger
from scifikpi_common.money import to_usd_minor

from ledger.domain import (
    Account,
    AccountKind,
    OriginalNotBooked,
    Posting,
    PostingStatus,
    TransferKind,
    clearing_kind,
    payment_transfer_id,
    refund_transfer_id,
)
from ledger.repository import PostingRepository
from ledger.settings import LedgerSettings

log = get_logger(__name__)


async def book_payment(
    uow: UnitOfWork, event: PaymentSucceeded, settings: LedgerSettings
) -> Posting:
    """registration/top-up: clearing → user money (MoneyCredited); acceleration: clearing →
    acceleration revenue, tagged with the user so it shows in their history."""
    usd = to_usd_minor(event.amount_minor, event.currency, settings.fx_rates)
    tid = payment_transfer_id(event.payment_id)
    if usd <= 0:
        log.error("payment_below_one_cent", payment_id=str(event.payment_id))
        return Posting(PostingStatus.not_found, tid)
    clearing = Account(clearing_kind(event.provider))
    reference: dict[str, Any] = {
        "payment_id": str(event.payment_id),
        "purpose": event.purpose,
        "provider": event.provider,
        "amount_minor": event.amount_minor,
        "currency": event.currency,
    }
    postings = PostingRepository(uow.session)
    if event.purpose == "acceleration":
        if event.quote_id is not None:
            reference["quote_id"] = str(event.quote_id)
        return await postings.post_transfer(
            transfer_id=tid,
            debit=clearing,
            credit=Account(AccountKind.acceleration_revenue),
            amount=usd,
            kind=TransferKind.acceleration,
            user_id=event.user_id,
            reference=reference,
        )
    posting = await postings.post_transfer(
        transfer_id=tid,
        debit=clearing,
        credit=Account(AccountKind.user_money, event.user_id),
        amount=usd,
        kind=TransferKind.deposit,
        user_id=event.user_id,
        reference=reference,
    )
    if posting.created:
        assert posting.posted is not None
        credited = MoneyCredited(
            user_id=event.user_id,
            transfer_id=tid,
            booked_at=posting.created_at or utcnow(),
            payment_id=event.payment_id,
            amount_usd_minor=usd,
            total_deposits_usd_minor=posting.posted,
        )
        await uow.publish_all([credited])
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
    postings = PostingRepository(uow.session)
    original = await postings.booked(payment_transfer_id(event.payment_id))
    if original is None:
        raise OriginalNotBooked(str(event.payment_id))
    tid = refund_transfer_id(event.payment_id)
    reference: dict[str, Any] = {
        "payment_id": str(event.payment_id),
        "purpose": event.purpose,
        "reason": event.reason,
        "amount_minor": event.amount_minor,
        "currency": event.currency,
    }
    posting = await postings.post_transfer(
        transfer_id=tid,
        debit=original.credit_account_id,
        credit=original.debit_account_id,
        amount=original.amount,
        kind=TransferKind.refund,
        user_id=event.user_id,
        reference=reference,
    )
    if posting.created and original.to_user:
        assert posting.posted is not None
        debited = MoneyDebited(
            user_id=event.user_id,
            transfer_id=tid,
            booked_at=posting.created_at or utcnow(),
            payment_id=event.payment_id,
            amount_usd_minor=original.amount,
            total_deposits_usd_minor=posting.posted,
            reason=event.reason,
        )
        await uow.publish_all([debited])
    elif posting.status == PostingStatus.insufficient_funds:
        log.error(
            "refund_exceeds_user_money",
            payment_id=str(event.payment_id),
            user_id=str(event.user_id),
            amount_usd_minor=original.amount,
        )
        posting = await postings.post_transfer(
            transfer_id=tid,
            debit=Account(AccountKind.refund_shortfall),
            credit=original.debit_account_id,
            amount=original.amount,
            kind=TransferKind.refund,
            user_id=event.user_id,
            reference={**reference, "shortfall": True},
        )
    return posting
