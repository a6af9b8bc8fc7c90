"""Use cases of the chain engine, each on one transaction: never a chain call, never a commit.
The engine (`nft.chain.engine`) reads the chain between them and commits each one.

- minting: reserved purchases → one signed mint message at a time (indices in order); minted
  items → `completed` purchases, `nfts` rows and `NftMinted`;
- transfers: pending transfers → one signed message per batch; the new owner confirmed →
  `completed`, the NFT `transferred`, `NftTransferred`;
- the send log: every attempt to send, the first time the wallet is seen to have executed a
  message, how it settled;
- work a dead message left undone: re-signed while attempts remain, else failed
  (`mint_<outcome>`: points released; `transfer_<outcome>`: the NFT stays in custody).

Signing is pure (`Custody.sign`), so it happens inside the transaction that stores the message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from pytoniq_core import Address
from pytoniq_core.tlb.custom.wallet import WalletMessage
from scifikpi_common.db import UnitOfWork
from scifikpi_common.events.nft import NftMinted, NftTransferred

from nft.chain.domain import (
    GaveUp,
    MessageKind,
    MintJob,
    Outcome,
    SendResult,
    StoredMessage,
    TransferJob,
    exhausted,
)
from nft.chain.repository import (
    MessageRepository,
    MintRepository,
    TransferWorkRepository,
    work_waiting,
)
from nft.purchases import handlers as purchases
from nft.purchases.domain import FailureReason, NftStatus, mint_failure
from nft.ton.addresses import raw
from nft.ton.custody import CLOCK_LAG_S, Custody, hl_query_id
from nft.transfers.domain import transfer_failure

OVERDUE_BATCH = 500

# --------------------------------------------------------------------------- the send log


async def open_messages(uow: UnitOfWork, kind: MessageKind | None = None) -> list[StoredMessage]:
    return await MessageRepository(uow.session).open(kind)


async def any_work_waiting(uow: UnitOfWork) -> bool:
    """Reserved purchases or pending transfers that no message carries yet."""
    return await work_waiting(uow.session)


async def _sign_and_record(
    uow: UnitOfWork,
    custody: Custody,
    kind: MessageKind,
    messages: list[WalletMessage],
    *,
    query_id: int,
    chain_now: int,
    now: datetime,
) -> StoredMessage:
    """ONE signed external for the ordered wallet messages, stored before anything sends it."""
    signed = custody.sign(messages, query_id=query_id, created_at=chain_now - CLOCK_LAG_S)
    return await MessageRepository(uow.session).record(
        kind,
        query_id=signed.query_id,
        created_at_chain=signed.created_at,
        timeout_s=signed.timeout,
        boc=signed.boc,
        message_hash=signed.message_hash,
        items=len(messages),
        now=now,
    )


async def _next_query_id(uow: UnitOfWork) -> int:
    """A fresh HLv3 query id from the database sequence (never reused across restarts)."""
    return hl_query_id(await MessageRepository(uow.session).next_sequence())


async def record_send(
    uow: UnitOfWork, message: StoredMessage, result: SendResult, error: str | None, now: datetime
) -> None:
    """One attempt to hand the stored bytes to the chain: `sent` once a liteserver took it."""
    await MessageRepository(uow.session).record_send(
        message.id,
        sent=result == SendResult.accepted,
        error=None if error is None else f"{result}: {error[:500]}",
        now=now,
    )


async def mark_processed(uow: UnitOfWork, message: StoredMessage, now: datetime) -> None:
    """The first time the wallet is seen to have executed the message (HLv3 `processed?`)."""
    await MessageRepository(uow.session).mark_processed(message.id, now)


async def settle_message(
    uow: UnitOfWork, message: StoredMessage, outcome: Outcome, now: datetime
) -> None:
    await MessageRepository(uow.session).settle(message.id, outcome, now)


# --------------------------------------------------------------------------- minting


async def mint_work_waiting(uow: UnitOfWork) -> bool:
    """Reserved purchases wait, and no mint message is open: the collection accepts
    `index <= next_item_index` only, so one mint batch is open at a time."""
    if await MessageRepository(uow.session).open(MessageKind.mint):
        return False
    return await MintRepository(uow.session).any_waiting()


async def sign_mint_batch(
    uow: UnitOfWork,
    custody: Custody,
    *,
    base: int,
    chain_now: int,
    batch_size: int,
    now: datetime,
) -> StoredMessage | None:
    """Sign and store the next batch of reserved purchases with indices base, base+1, …;
    None if another engine pass took them."""
    repo = MintRepository(uow.session)
    jobs = await repo.lock_batch(batch_size)
    if not jobs:
        return None
    mints = [
        custody.mint_message(base + i, f"{job.catalog_item_id}.json") for i, job in enumerate(jobs)
    ]
    query_id = await _next_query_id(uow)
    message = await _sign_and_record(
        uow, custody, MessageKind.mint, mints, query_id=query_id, chain_now=chain_now, now=now
    )
    for i, job in enumerate(jobs):
        await repo.assign(job, message.id, base + i, now)
    return message


async def mint_jobs(uow: UnitOfWork, message: StoredMessage) -> list[MintJob]:
    """The purchases a mint message carries that are not completed yet."""
    return await MintRepository(uow.session).in_message(message.id)


async def complete_mints(
    uow: UnitOfWork, custody: Custody, jobs: list[MintJob], now: datetime
) -> list[MintJob]:
    """Minted purchases complete together: `completed`, `nfts` rows, `NftMinted`. Returns the
    ones that moved (a purchase completed already is left alone)."""
    repo = MintRepository(uow.session)
    done = await repo.complete([job.purchase_id for job in jobs], now)
    jobs = [job for job in jobs if job.purchase_id in done]
    if not jobs:
        return []
    collection, owner = raw(custody.collection), raw(custody.address)
    items = {job.purchase_id: raw(custody.item_address(job.index)) for job in jobs}
    await repo.insert_nfts(
        [
            {
                "id": job.purchase_id,
                "purchase_id": job.purchase_id,
                "user_id": job.user_id,
                "catalog_item_id": job.catalog_item_id,
                "collection_address": collection,
                "item_index": job.item_index,
                "item_address": items[job.purchase_id],
                "owner_address": owner,
                "status": NftStatus.custody,
                "minted_at": now,
            }
            for job in jobs
        ]
    )
    await uow.publish_all(
        [
            NftMinted(
                user_id=job.user_id,
                purchase_id=job.purchase_id,
                catalog_item_id=job.catalog_item_id,
                nft_address=items[job.purchase_id],
                collection_address=collection,
                item_index=job.index,
                minted_at=now,
            )
            for job in jobs
        ]
    )
    return jobs


async def give_up_mint(
    uow: UnitOfWork, job: MintJob, outcome: Outcome, *, max_attempts: int, now: datetime
) -> GaveUp | None:
    """A dead message did not mint this purchase: re-signed later, or failed with its points
    released once out of attempts (None: it had already ended)."""
    if exhausted(job.mint_attempts, max_attempts):
        failed = await purchases.fail(
            uow, job.purchase_id, reason=mint_failure(outcome), now=now, release_hold=True
        )
        return GaveUp.failed if failed else None
    await MintRepository(uow.session).release(job.purchase_id, now)
    return GaveUp.retried


async def overdue_mints(uow: UnitOfWork, *, deadline_s: int, now: datetime) -> list[UUID]:
    """Reserved purchases past the mint deadline and in no message that could still execute."""
    cutoff = now - timedelta(seconds=deadline_s)
    return await MintRepository(uow.session).overdue(cutoff, OVERDUE_BATCH)


async def fail_overdue_mint(uow: UnitOfWork, purchase_id: UUID, now: datetime) -> bool:
    """A chain that stays unreachable does not keep points forever: `mint_timeout`."""
    return await purchases.fail(
        uow, purchase_id, reason=FailureReason.mint_timeout, now=now, release_hold=True
    )


# --------------------------------------------------------------------------- transfers


async def transfer_work_waiting(uow: UnitOfWork) -> bool:
    return await TransferWorkRepository(uow.session).any_waiting()


async def sign_transfer_batch(
    uow: UnitOfWork, custody: Custody, *, chain_now: int, batch_size: int, now: datetime
) -> StoredMessage | None:
    """Sign and store one message for pending transfers in no message (any order): TEP-62
    transfers with custody as response destination, so the excess comes back."""
    repo = TransferWorkRepository(uow.session)
    jobs = await repo.lock_batch(batch_size)
    if not jobs:
        return None
    query_id = await _next_query_id(uow)
    sends = [
        custody.transfer_message(Address(job.item_address), Address(job.to_address), query_id)
        for job in jobs
    ]
    message = await _sign_and_record(
        uow, custody, MessageKind.transfer, sends, query_id=query_id, chain_now=chain_now, now=now
    )
    await repo.assign([job.transfer_id for job in jobs], message.id, message.message_hash, now)
    return message


async def transfer_jobs(uow: UnitOfWork, message: StoredMessage) -> list[TransferJob]:
    """The transfers a message carries that are still pending."""
    return await TransferWorkRepository(uow.session).in_message(message.id)


async def complete_transfer(
    uow: UnitOfWork, job: TransferJob, message: StoredMessage, now: datetime
) -> bool:
    """The wallet owns the item: `completed`, the NFT `transferred`, `NftTransferred`. False if
    the transfer had already ended."""
    repo = TransferWorkRepository(uow.session)
    if not await repo.complete(job.transfer_id, now):
        return False
    await repo.mark_transferred(job.nft_id, job.to_address, now)
    await uow.publish(
        NftTransferred(
            user_id=job.user_id,
            transfer_id=job.transfer_id,
            nft_id=job.nft_id,
            item_address=job.item_address,
            to_address=job.to_address,
            message_hash=message.message_hash,
            transferred_at=now,
        )
    )
    return True


async def give_up_transfer(
    uow: UnitOfWork, job: TransferJob, outcome: Outcome, *, max_attempts: int, now: datetime
) -> GaveUp:
    """A dead message did not move this NFT: re-signed later, or the transfer fails (the NFT
    stays in custody, ready for a new transfer)."""
    repo = TransferWorkRepository(uow.session)
    if exhausted(job.attempts, max_attempts):
        await repo.fail(job.transfer_id, transfer_failure(outcome), now)
        return GaveUp.failed
    await repo.release(job.transfer_id, now)
    return GaveUp.retried
