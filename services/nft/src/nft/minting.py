"""Minting reserved purchases into custody, in ordered batches (one signed external per batch).

Item indices come from the chain's `next_item_index` when a batch is formed and are stored with
the purchases; the collection accepts `item_index <= next_item_index` only, so one mint batch is
open at a time and a batch that left work undone is settled before the next one is formed.
A purchase is minted when its item account is active with the custody wallet as owner; it then
completes (`NftMinted`, the ledger captures the hold). Work of a dead message is re-signed in a
new batch, up to `mint_max_attempts`, then the purchase fails and its points are released.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from prometheus_client import Counter
from scifikpi_common.db import UnitOfWorkFactory
from scifikpi_common.events.nft import NftMinted
from scifikpi_common.logging import get_logger
from sqlalchemy import select, update

from nft import purchases, sending
from nft.models import nfts
from nft.models import purchases as purchases_t
from nft.settings import NftSettings
from nft.ton.addresses import raw
from nft.ton.custody import Custody

log = get_logger(__name__)

MINT_OUTCOMES = Counter(
    "nft_mint_outcomes_total",
    "Purchases leaving the mint step: minted, retried (re-signed) or failed, by cause",
    ["outcome"],
)


@dataclass(frozen=True, slots=True)
class MintJob:
    purchase_id: UUID
    user_id: UUID
    catalog_item_id: UUID
    item_index: int | None
    mint_attempts: int


_JOB = [
    purchases_t.c.id.label("purchase_id"), purchases_t.c.user_id, purchases_t.c.catalog_item_id,
    purchases_t.c.item_index, purchases_t.c.mint_attempts,
]  # fmt: skip


async def form_batch(
    uow_factory: UnitOfWorkFactory, custody: Custody, settings: NftSettings, now: datetime
) -> sending.StoredMessage | None:
    """Sign and store the next batch of reserved purchases (not yet sent). None if nothing waits
    or a mint message is still open."""
    async with uow_factory() as uow:
        if await sending.open_messages(uow.session, "mint"):
            return None
        waiting = (
            await uow.session.execute(
                select(purchases_t.c.id)
                .where(purchases_t.c.status == "reserved", purchases_t.c.message_id.is_(None))
                .limit(1)
            )
        ).first()
    if waiting is None:
        return None
    base = await custody.next_item_index()
    chain_now = await custody.provider.now()
    async with uow_factory() as uow:
        rows = (
            await uow.session.execute(
                select(*_JOB)
                .where(purchases_t.c.status == "reserved", purchases_t.c.message_id.is_(None))
                .order_by(purchases_t.c.reserved_at, purchases_t.c.id)
                .limit(settings.mint_batch_size)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return None
        jobs = [MintJob(**r._mapping) for r in rows]
        query_id = await sending.next_query_id(uow.session)
        signed = custody.sign(
            [
                custody.mint_message(base + i, f"{job.catalog_item_id}.json")
                for i, job in enumerate(jobs)
            ],
            query_id=query_id,
            created_at=chain_now - 30,  # liteserver clocks lag; HLv3 refuses created_at > now
        )
        message = await sending.record(uow.session, "mint", signed, items=len(jobs), now=now)
        for i, job in enumerate(jobs):
            await uow.session.execute(
                update(purchases_t)
                .where(purchases_t.c.id == job.purchase_id)
                .values(
                    message_id=message.id,
                    item_index=base + i,
                    mint_attempts=purchases_t.c.mint_attempts + 1,
                    updated_at=now,
                )  # fmt: skip
            )
        await uow.commit()
    log.info(
        "mint_batch_signed", message_id=message.id, items=len(jobs), first_index=base,
        query_id=query_id,
    )  # fmt: skip
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
    """Confirm what is minted, re-send or give up on the rest. True once the message is settled."""
    async with uow_factory() as uow:
        rows = (
            await uow.session.execute(
                select(*_JOB).where(
                    purchases_t.c.message_id == message.id, purchases_t.c.status == "reserved"
                )
            )
        ).all()
    jobs = [MintJob(**r._mapping) for r in rows]
    owners = await sending.owners(custody, [custody.item_address(_index(job)) for job in jobs])
    minted = [job for job, owner in zip(jobs, owners, strict=True) if owner == custody.address]
    await _complete(uow_factory, custody, minted, now=now)
    missing = [job for job, owner in zip(jobs, owners, strict=True) if owner != custody.address]

    async def give_up(job: MintJob, outcome: str) -> None:
        await _retry_or_fail(uow_factory, job, outcome, settings, now)

    return await sending.conclude(
        uow_factory, custody, message, settings, missing=missing, give_up=give_up, now=now,
        chain_now=chain_now,
    )  # fmt: skip


def _index(job: MintJob) -> int:
    assert job.item_index is not None, "a job in a message has its index"
    return job.item_index


async def _complete(
    uow_factory: UnitOfWorkFactory, custody: Custody, jobs: list[MintJob], *, now: datetime
) -> None:
    """Minted purchases complete together: nfts rows, `completed`, `NftMinted`, one commit."""
    if not jobs:
        return
    collection, owner = raw(custody.collection), raw(custody.address)
    async with uow_factory() as uow:
        done = set(
            (
                await uow.session.execute(
                    update(purchases_t)
                    .where(
                        purchases_t.c.id.in_([job.purchase_id for job in jobs]),
                        purchases_t.c.status == "reserved",
                    )
                    .values(status="completed", completed_at=now, updated_at=now)
                    .returning(purchases_t.c.id)
                )
            ).scalars()
        )
        jobs = [job for job in jobs if job.purchase_id in done]
        if not jobs:
            return
        items = {job.purchase_id: raw(custody.item_address(_index(job))) for job in jobs}
        await uow.session.execute(
            nfts.insert(),
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
                    "status": "custody",
                    "minted_at": now,
                }  # fmt: skip
                for job in jobs
            ],
        )
        await uow.publish_all(
            [
                NftMinted(
                    user_id=job.user_id,
                    purchase_id=job.purchase_id,
                    catalog_item_id=job.catalog_item_id,
                    nft_address=items[job.purchase_id],
                    collection_address=collection,
                    item_index=job.item_index,
                    minted_at=now,
                )  # fmt: skip
                for job in jobs
            ]
        )
        await uow.commit()
    MINT_OUTCOMES.labels("minted").inc(len(jobs))
    for job in jobs:
        log.info(
            "nft_minted", purchase_id=str(job.purchase_id), item_index=job.item_index,
            item_address=items[job.purchase_id],
        )  # fmt: skip


async def _retry_or_fail(
    uow_factory: UnitOfWorkFactory, job: MintJob, outcome: str, settings: NftSettings,
    now: datetime,
) -> None:  # fmt: skip
    async with uow_factory() as uow:
        if job.mint_attempts >= settings.mint_max_attempts:
            failed = await purchases.fail(
                uow, job.purchase_id, reason=f"mint_{outcome}", now=now, release_hold=True
            )
            await uow.commit()
            if failed:
                MINT_OUTCOMES.labels(f"failed_{outcome}").inc()
                log.error(
                    "nft_mint_failed", purchase_id=str(job.purchase_id), outcome=outcome,
                    attempts=job.mint_attempts,
                )  # fmt: skip
            return
        await uow.session.execute(
            update(purchases_t)
            .where(purchases_t.c.id == job.purchase_id, purchases_t.c.status == "reserved")
            .values(message_id=None, item_index=None, updated_at=now)
        )
        await uow.commit()
    MINT_OUTCOMES.labels(f"retried_{outcome}").inc()
    log.warning(
        "nft_mint_retry", purchase_id=str(job.purchase_id), outcome=outcome,
        attempts=job.mint_attempts,
    )  # fmt: skip


async def fail_overdue(uow_factory: UnitOfWorkFactory, settings: NftSettings, now: datetime) -> int:
    """Reserved purchases past the mint deadline and in no message that could still execute
    fail (points released): a chain that stays unreachable does not keep points forever."""
    cutoff = now - timedelta(seconds=settings.mint_deadline_s)
    async with uow_factory() as uow:
        ids = (
            await uow.session.execute(
                select(purchases_t.c.id)
                .where(
                    purchases_t.c.status == "reserved",
                    purchases_t.c.message_id.is_(None),
                    purchases_t.c.reserved_at < cutoff,
                )
                .limit(500)
            )
        ).scalars().all()  # fmt: skip
    failed = 0
    for purchase_id in ids:
        async with uow_factory() as uow:
            if await purchases.fail(
                uow, purchase_id, reason="mint_timeout", now=now, release_hold=True
            ):
                failed += 1
            await uow.commit()
    if failed:
        MINT_OUTCOMES.labels("failed_timeout").inc(failed)
        log.error("nft_mint_deadline_passed", count=failed)
    return failed
