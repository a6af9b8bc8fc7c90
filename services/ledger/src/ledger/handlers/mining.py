"""Mining credits: `MiningCompleted` → `mining:<session_id>` (PointsCredited), one at a time or a
whole consumed batch in one statement."""

from __future__ import annotations

from collections.abc import Sequence

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import MiningCompleted, PointsCredited

from ledger.domain import Account, AccountKind, Credit, Posting, TransferKind, mining_transfer_id
from ledger.repository import PostingRepository


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
    posting = await PostingRepository(uow.session).post_transfer(
        transfer_id=mining_transfer_id(event.session_id),
        debit=Account(AccountKind.mining_issuance),
        credit=Account(AccountKind.user_points, event.user_id),
        amount=event.points_micro,
        kind=TransferKind.mining,
        user_id=event.user_id,
        reference={"session_id": str(event.session_id)},
    )
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
    credits = [
        Credit(
            mining_transfer_id(e.session_id),
            e.user_id,
            e.points_micro,
            {"session_id": str(e.session_id)},
        )
        for e in events
    ]
    created = await PostingRepository(uow.session).credit_batch(
        credits,
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
