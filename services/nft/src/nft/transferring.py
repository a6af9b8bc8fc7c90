"""Sending NFTs from custody to their owners' verified wallets (TEP-62 transfer, op 0x5fcc3d14).

Pending transfers go out in one signed external per batch (their order does not matter), with the
custody wallet as response destination so the excess comes back. A transfer completes when the
item's on-chain owner is the user's wallet (`NftTransferred`); work of a dead message is re-signed
up to `transfer_max_attempts`, then the transfer fails with its reason and the NFT stays in
custody, ready for a new transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from prometheus_client import Counter
from pytoniq_core import Address
from scifikpi_common.db import UnitOfWorkFactory
from scifikpi_common.events.nft import NftTransferred
from scifikpi_common.logging import get_logger
from sqlalchemy import select, update

from nft import sending
from nft.models import nfts, transfers
from nft.settings import NftSettings
from nft.ton.custody import Custody

log = get_logger(__name__)

TRANSFER_OUTCOMES = Counter(
    "nft_transfer_outcomes_total",
    "Transfers leaving the send step: completed, retried (re-signed) or failed, by cause",
    ["outcome"],
)


@dataclass(frozen=True, slots=True)
class TransferJob:
    transfer_id: UUID
    nft_id: UUID
    user_id: UUID
    to_address: str
    item_address: str
    attempts: int


_JOB = [
    transfers.c.id.label("transfer_id"), transfers.c.nft_id, transfers.c.user_id,
    transfers.c.to_address, nfts.c.item_address, transfers.c.attempts,
]  # fmt: skip


def _jobs_query():  # type: ignore[no-untyped-def]
    return select(*_JOB).select_from(transfers.join(nfts, nfts.c.id == transfers.c.nft_id))


async def form_batch(
    uow_factory: UnitOfWorkFactory, custody: Custody, settings: NftSettings, now: datetime
) -> sending.StoredMessage | None:
    """Sign and store one message for the pending transfers that have none."""
    async with uow_factory() as uow:
        waiting = (
            await uow.session.execute(
                select(transfers.c.id)
                .where(transfers.c.status == "pending", transfers.c.message_id.is_(None))
                .limit(1)
            )
        ).first()
    if waiting is None:
        return None
    chain_now = await custody.provider.now()
    async with uow_factory() as uow:
        rows = (
            await uow.session.execute(
                _jobs_query()
                .where(transfers.c.status == "pending", transfers.c.message_id.is_(None))
                .order_by(transfers.c.created_at, transfers.c.id)
                .limit(settings.mint_batch_size)
                .with_for_update(of=transfers, skip_locked=True)
            )
        ).all()
        if not rows:
            return None
        jobs = [TransferJob(**r._mapping) for r in rows]
        query_id = await sending.next_query_id(uow.session)
        signed = custody.sign(
            [
                custody.transfer_message(
                    Address(job.item_address), Address(job.to_address), query_id
                )
                for job in jobs
            ],
            query_id=query_id,
            created_at=chain_now - 30,
        )
        message = await sending.record(uow.session, "transfer", signed, items=len(jobs), now=now)
        await uow.session.execute(
            update(transfers)
            .where(transfers.c.id.in_([job.transfer_id for job in jobs]))
            .values(
                message_id=message.id,
                message_hash=signed.message_hash,
                attempts=transfers.c.attempts + 1,
                updated_at=now,
            )  # fmt: skip
        )
        await uow.commit()
    log.info("transfer_batch_signed", message_id=message.id, items=len(jobs), query_id=query_id)
    return message


async def settle_batch(
    uow_factory: UnitOfWorkFactory,
    custody: Custody,
    message: sending.StoredMessage,
    settings: NftSettings,
    *,
    now: datetime,
    chain_now: int,
) -> bool:
    async with uow_factory() as uow:
        rows = (
            await uow.session.execute(
                _jobs_query().where(
                    transfers.c.message_id == message.id, transfers.c.status == "pending"
                )
            )
        ).all()
    jobs = [TransferJob(**r._mapping) for r in rows]
    owners = await sending.owners(custody, [Address(job.item_address) for job in jobs])
    missing: list[TransferJob] = []
    for job, owner in zip(jobs, owners, strict=True):
        if owner is not None and owner == Address(job.to_address):
            await _complete(uow_factory, job, message.message_hash, now)
        else:
            missing.append(job)

    async def give_up(job: TransferJob, outcome: str) -> None:
        await _retry_or_fail(uow_factory, job, outcome, settings, now)

    return await sending.conclude(
        uow_factory, custody, message, settings, missing=missing, give_up=give_up, now=now,
        chain_now=chain_now,
    )  # fmt: skip


async def _complete(
    uow_factory: UnitOfWorkFactory, job: TransferJob, message_hash: str, now: datetime
) -> None:
    async with uow_factory() as uow:
        done = (
            await uow.session.execute(
                update(transfers)
                .where(transfers.c.id == job.transfer_id, transfers.c.status == "pending")
                .values(status="completed", completed_at=now, updated_at=now)
                .returning(transfers.c.id)
            )
        ).first()
        if done is None:
            return
        await uow.session.execute(
            update(nfts)
            .where(nfts.c.id == job.nft_id)
            .values(status="transferred", owner_address=job.to_address, transferred_at=now)
        )
        await uow.publish(
            NftTransferred(
                user_id=job.user_id,
                transfer_id=job.transfer_id,
                nft_id=job.nft_id,
                item_address=job.item_address,
                to_address=job.to_address,
                message_hash=message_hash,
                transferred_at=now,
            )  # fmt: skip
        )
        await uow.commit()
    TRANSFER_OUTCOMES.labels("completed").inc()
    log.info("nft_transferred", transfer_id=str(job.transfer_id), nft_id=str(job.nft_id))


async def _retry_or_fail(
    uow_factory: UnitOfWorkFactory, job: TransferJob, outcome: str, settings: NftSettings,
    now: datetime,
) -> None:  # fmt: skip
    final = job.attempts >= settings.transfer_max_attempts
    values = (
        {"status": "failed", "failure_reason": f"transfer_{outcome}", "updated_at": now}
        if final
        else {"message_id": None, "updated_at": now}
    )
    async with uow_factory() as uow:
        await uow.session.execute(
            update(transfers)
            .where(transfers.c.id == job.transfer_id, transfers.c.status == "pending")
            .values(**values)
        )
        await uow.commit()
    TRANSFER_OUTCOMES.labels(f"{'failed' if final else 'retried'}_{outcome}").inc()
    (log.error if final else log.warning)(
        "nft_transfer_failed" if final else "nft_transfer_retry",
        transfer_id=str(job.transfer_id), outcome=outcome, attempts=job.attempts,
    )  # fmt: skip
