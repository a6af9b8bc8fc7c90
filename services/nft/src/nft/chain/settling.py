"""Settling what the engine sent: confirm on chain what a message did, complete that work, and
for the rest re-send the message, wait, or — once it is dead — re-sign or fail the work.

Part of the engine's edge: chain reads between units of work, each unit committed by the
engine (`ChainEngine.write`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from pytoniq_core import Address
from scifikpi_common.logging import get_logger

from nft.chain import handlers
from nft.chain.domain import (
    GaveUp,
    MessageKind,
    MintJob,
    Outcome,
    StoredMessage,
    TransferJob,
    Verdict,
)
from nft.chain.metrics import MINT_OUTCOMES, TRANSFER_OUTCOMES

if TYPE_CHECKING:
    from nft.chain.engine import ChainEngine

log = get_logger(__name__)

Job = TypeVar("Job")


class Settler:
    def __init__(self, engine: ChainEngine) -> None:
        self.engine = engine

    async def settle_open(self) -> list[StoredMessage]:
        """One pass over the open messages; returns those still open after it."""
        engine = self.engine
        now, chain_now = engine.clock(), await engine.custody.provider.now()
        still_open = []
        for message in await engine.open_messages():
            if message.kind == MessageKind.mint:
                settled = await self.settle_mint(message, now=now, chain_now=chain_now)
            elif message.kind == MessageKind.transfer:
                settled = await self.settle_transfer(message, now=now, chain_now=chain_now)
            else:
                continue
            if not settled:
                still_open.append(message)
        return still_open

    async def conclude(
        self,
        message: StoredMessage,
        *,
        missing: Sequence[Job],
        give_up: Callable[[Job, Outcome], Awaitable[None]],
        now: datetime,
        chain_now: int,
    ) -> bool:
        """The rest of settling once what is confirmed on chain is recorded: nothing missing
        settles the message; otherwise it is re-sent, waited on, or — dead — its missing work
        goes to `give_up(job, outcome)` (retry in a new message or fail) and it settles with
        that outcome. True once the message is settled."""
        engine = self.engine
        if not missing:
            await engine.settle(message, Outcome.confirmed, now)
            return True
        verdict, outcome = await engine.judge(message, now=now, chain_now=chain_now)
        if verdict is Verdict.resend:
            await engine.send(message, now)
            return False
        if verdict is Verdict.wait:
            return False
        for job in missing:
            await give_up(job, outcome)
        await engine.settle(message, outcome, now)
        return True

    # ---------------- mints ----------------
    async def settle_mint(self, message: StoredMessage, *, now: datetime, chain_now: int) -> bool:
        """Confirm what is minted, re-send or give up on the rest. True once settled."""
        engine, custody = self.engine, self.engine.custody
        jobs = await engine.read(partial(handlers.mint_jobs, message=message))
        owners = await engine.owners([custody.item_address(job.index) for job in jobs])
        minted = [job for job, owner in zip(jobs, owners, strict=True) if owner == custody.address]
        missing = [job for job, owner in zip(jobs, owners, strict=True) if owner != custody.address]
        if minted:
            done = await engine.write(
                partial(handlers.complete_mints, custody=custody, jobs=minted, now=now)
            )
            self._minted(done, custody.item_address)

        async def give_up(job: MintJob, outcome: Outcome) -> None:
            await self.give_up_mint(job, outcome, now)

        return await self.conclude(
            message, missing=missing, give_up=give_up, now=now, chain_now=chain_now
        )

    def _minted(self, jobs: list[MintJob], item_address: Callable[[int], Address]) -> None:
        if not jobs:
            return
        MINT_OUTCOMES.labels("minted").inc(len(jobs))
        for job in jobs:
            log.info(
                "nft_minted",
                purchase_id=str(job.purchase_id),
                item_index=job.item_index,
                item_address=item_address(job.index).to_str(is_user_friendly=False),
            )

    async def give_up_mint(self, job: MintJob, outcome: Outcome, now: datetime) -> None:
        max_attempts = self.engine.settings.mint_max_attempts
        result = await self.engine.write(
            partial(
                handlers.give_up_mint, job=job, outcome=outcome, max_attempts=max_attempts, now=now
            )
        )
        if result is GaveUp.failed:
            MINT_OUTCOMES.labels(f"failed_{outcome}").inc()
            log.error(
                "nft_mint_failed",
                purchase_id=str(job.purchase_id),
                outcome=outcome,
                attempts=job.mint_attempts,
            )
        elif result is GaveUp.retried:
            MINT_OUTCOMES.labels(f"retried_{outcome}").inc()
            log.warning(
                "nft_mint_retry",
                purchase_id=str(job.purchase_id),
                outcome=outcome,
                attempts=job.mint_attempts,
            )

    async def fail_overdue(self, now: datetime) -> int:
        """Reserved purchases past the mint deadline and in no message that could still execute
        fail (points released): a chain that stays unreachable does not keep points forever."""
        engine = self.engine
        ids = await engine.read(
            partial(handlers.overdue_mints, deadline_s=engine.settings.mint_deadline_s, now=now)
        )
        failed = 0
        for purchase_id in ids:
            if await engine.write(
                partial(handlers.fail_overdue_mint, purchase_id=purchase_id, now=now)
            ):
                failed += 1
        if failed:
            MINT_OUTCOMES.labels("failed_timeout").inc(failed)
            log.error("nft_mint_deadline_passed", count=failed)
        return failed

    # ---------------- transfers ----------------
    async def settle_transfer(
        self, message: StoredMessage, *, now: datetime, chain_now: int
    ) -> bool:
        """Complete the transfers whose wallet owns the item; re-send or give up on the rest."""
        engine = self.engine
        jobs = await engine.read(partial(handlers.transfer_jobs, message=message))
        owners = await engine.owners([Address(job.item_address) for job in jobs])
        missing: list[TransferJob] = []
        for job, owner in zip(jobs, owners, strict=True):
            if owner is not None and owner == Address(job.to_address):
                await self._complete_transfer(job, message, now)
            else:
                missing.append(job)

        async def give_up(job: TransferJob, outcome: Outcome) -> None:
            await self.give_up_transfer(job, outcome, now)

        return await self.conclude(
            message, missing=missing, give_up=give_up, now=now, chain_now=chain_now
        )

    async def _complete_transfer(
        self, job: TransferJob, message: StoredMessage, now: datetime
    ) -> None:
        if await self.engine.write(
            partial(handlers.complete_transfer, job=job, message=message, now=now)
        ):
            TRANSFER_OUTCOMES.labels("completed").inc()
            log.info("nft_transferred", transfer_id=str(job.transfer_id), nft_id=str(job.nft_id))

    async def give_up_transfer(self, job: TransferJob, outcome: Outcome, now: datetime) -> None:
        max_attempts = self.engine.settings.transfer_max_attempts
        result = await self.engine.write(
            partial(
                handlers.give_up_transfer,
                job=job,
                outcome=outcome,
                max_attempts=max_attempts,
                now=now,
            )
        )
        TRANSFER_OUTCOMES.labels(f"{result}_{outcome}").inc()
        fields = {"transfer_id": str(job.transfer_id), "outcome": outcome, "attempts": job.attempts}
        if result is GaveUp.failed:
            log.error("nft_transfer_failed", **fields)
        else:
            log.warning("nft_transfer_retry", **fields)
