"""The chain engine: the edge that signs and sends for the custody wallet, settles what it
sent, and drives timed-out purchases to a final state (run by `nft.processes` in
`nft-scheduler`).

It calls the chain between transactions, never inside one: each use case (`nft.chain.handlers`)
runs on its own unit of work, which the engine commits; chain reads and sends happen between
them. A crash anywhere leaves a state the next pass picks up: a stored message is re-sent, a
confirmed item is completed when it is seen again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from pytoniq_core import Address
from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork, UnitOfWorkFactory, committing
from scifikpi_common.logging import get_logger

from nft.chain import handlers
from nft.chain.domain import (
    MessageKind,
    Outcome,
    SendResult,
    StoredMessage,
    Verdict,
    diagnose,
    executed_verdict,
    unexecuted_verdict,
)
from nft.chain.metrics import (
    CUSTODY_BALANCE,
    CUSTODY_READY,
    MESSAGES_SENT,
    MESSAGES_SETTLED,
    OPEN_MESSAGES,
)
from nft.chain.settling import Settler
from nft.purchases import handlers as purchases
from nft.settings import NftSettings
from nft.ton.custody import Custody, SignedExternal
from nft.ton.provider import ChainUnavailable, MessageRejected
from nft.wallets import handlers as wallets

log = get_logger(__name__)

T = TypeVar("T")

#: concurrent state reads while confirming one message (liteserver round trips overlap)
READ_CONCURRENCY = 16


class ChainEngine:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        custody: Custody,
        settings: NftSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.uow_factory = uow_factory
        self.custody = custody
        self.settings = settings
        self.clock = clock
        self.settler = Settler(self)

    # ---------------- units of work ----------------
    async def read(self, use_case: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """A use case that only reads: its own unit of work, not committed."""
        async with self.uow_factory() as uow:
            return await use_case(uow)

    async def write(self, use_case: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """A use case that changes state: its own unit of work, committed here."""
        async with self.uow_factory() as uow, committing(uow):
            return await use_case(uow)

    # ---------------- one pass ----------------
    async def step(self) -> bool:
        """Settle open messages, sign and send new mint and transfer batches, and look at what
        was just sent once (on the local chain it has already executed).
        Returns True while messages are open (poll again soon)."""
        await self.settler.settle_open()
        sent = False
        for form in (self.form_mint_batch, self.form_transfer_batch):
            message = await form()
            if message is not None:
                sent = await self.send(message, self.clock()) or sent
        still_open = await self.settler.settle_open() if sent else await self.open_messages()
        for kind in (MessageKind.mint, MessageKind.transfer):
            OPEN_MESSAGES.labels(kind).set(sum(1 for m in still_open if m.kind == kind))
        return bool(still_open)

    async def open_messages(self) -> list[StoredMessage]:
        return await self.read(handlers.open_messages)

    async def drain(self, *, max_steps: int = 1000) -> None:
        """Step until nothing is open and nothing waits (tests, benchmarks, the local chain)."""
        for _ in range(max_steps):
            if not await self.step() and not await self.read(handlers.any_work_waiting):
                return
        raise RuntimeError("the chain engine did not settle")

    # ---------------- signing and sending ----------------
    async def form_mint_batch(self) -> StoredMessage | None:
        """Sign and store the next batch of reserved purchases (not yet sent). None if nothing
        waits or a mint message is still open."""
        now = self.clock()
        if not await self.read(handlers.mint_work_waiting):
            return None
        base = await self.custody.next_item_index()
        chain_now = await self.custody.provider.now()
        message = await self.write(
            partial(
                handlers.sign_mint_batch,
                custody=self.custody,
                base=base,
                chain_now=chain_now,
                batch_size=self.settings.mint_batch_size,
                now=now,
            )
        )
        if message is not None:
            log.info(
                "mint_batch_signed",
                message_id=message.id,
                items=message.items,
                first_index=base,
                query_id=message.query_id,
            )
        return message

    async def form_transfer_batch(self) -> StoredMessage | None:
        """Sign and store one message for the pending transfers that have none."""
        now = self.clock()
        if not await self.read(handlers.transfer_work_waiting):
            return None
        chain_now = await self.custody.provider.now()
        message = await self.write(
            partial(
                handlers.sign_transfer_batch,
                custody=self.custody,
                chain_now=chain_now,
                batch_size=self.settings.mint_batch_size,
                now=now,
            )
        )
        if message is not None:
            log.info(
                "transfer_batch_signed",
                message_id=message.id,
                items=message.items,
                query_id=message.query_id,
            )
        return message

    async def send(self, message: StoredMessage, now: datetime) -> bool:
        """Hand the stored bytes to the chain; record the attempt. True if a liteserver took it."""
        error: str | None = None
        try:
            await self.custody.send(_signed(message))
        except ChainUnavailable as exc:
            result, error = SendResult.unavailable, str(exc)
            log.warning("ton_send_unavailable", message_id=message.id, error=error[:300])
        except MessageRejected as exc:
            # Refused before execution: already executed, expired, or not valid. Settling decides.
            result, error = SendResult.rejected, str(exc)
            log.info("ton_send_rejected", message_id=message.id, error=error[:300])
        else:
            result = SendResult.accepted
        MESSAGES_SENT.labels(message.kind, result).inc()
        await self.write(
            partial(handlers.record_send, message=message, result=result, error=error, now=now)
        )
        return result == SendResult.accepted

    # ---------------- reading the chain ----------------
    async def owners(self, items: Sequence[Address]) -> list[Address | None]:
        """The on-chain owner of each item (None: not active or not initialised), in order."""
        gate = asyncio.Semaphore(READ_CONCURRENCY)

        async def one(item: Address) -> Address | None:
            async with gate:
                return await self.custody.nft_owner(item)

        return list(await asyncio.gather(*(one(item) for item in items)))

    async def judge(
        self, message: StoredMessage, *, now: datetime, chain_now: int
    ) -> tuple[Verdict, Outcome]:
        """Whether a message whose work is not all confirmed can still execute, and for a dead
        one why. Chain errors raise ChainUnavailable: nothing is decided on a guess."""
        if not await self.custody.processed(message.query_id):
            verdict = unexecuted_verdict(
                message,
                now=now,
                chain_now=chain_now,
                resend_interval_s=self.settings.resend_interval_s,
            )
            return verdict, Outcome.expired
        processed_at = message.processed_at
        if processed_at is None:
            processed_at = now
            await self.write(partial(handlers.mark_processed, message=message, now=now))
        verdict = executed_verdict(processed_at, now, settle_grace_s=self.settings.settle_grace_s)
        if verdict is Verdict.dead:
            return verdict, await self._diagnose(message)
        return verdict, Outcome.unknown

    async def _diagnose(self, message: StoredMessage) -> Outcome:
        """Why an executed message left work undone: the wallet could not pay for its actions
        (they are skipped silently under IGNORE_ERRORS), or a destination refused and bounced."""
        tx = await self.custody.wallet_tx(message.message_hash)
        if tx is not None and (tx.skipped_actions > 0 or tx.action_success is False):
            return Outcome.insufficient_balance
        settings = self.settings
        per_item = (
            settings.mint_message_value_nano
            if message.kind == MessageKind.mint
            else settings.transfer_value_nano
        )
        return diagnose(
            balance=await self.custody.balance(), per_item=per_item, items=message.items
        )

    async def settle(self, message: StoredMessage, outcome: Outcome, now: datetime) -> None:
        await self.write(
            partial(handlers.settle_message, message=message, outcome=outcome, now=now)
        )
        MESSAGES_SETTLED.labels(message.kind, outcome).inc()
        level = log.info if outcome == Outcome.confirmed else log.warning
        level(
            "ton_message_settled",
            message_id=message.id,
            kind=message.kind,
            outcome=outcome,
            items=message.items,
            sends=message.sends,
            query_id=message.query_id,
        )

    # ---------------- sweeping and health ----------------
    async def sweep(self) -> None:
        """Final states for purchases stuck outside any message (ledger silent, chain down);
        expired wallet challenges go too."""
        now = self.clock()
        older_than = now - timedelta(seconds=self.settings.pending_timeout_s)
        swept = await self.write(partial(purchases.sweep_pending, older_than=older_than, now=now))
        if swept:
            log.warning("purchases_reservation_timeout", count=swept)
        await self.settler.fail_overdue(now)
        await self.write(partial(wallets.purge_expired_challenges, now=now))

    async def check_custody(self) -> bool:
        status = await self.custody.check()
        CUSTODY_BALANCE.set(status.balance)
        CUSTODY_READY.set(1 if status.ok else 0)
        if not status.ok:
            log.error(
                "custody_not_ready",
                custody=status.address.to_str(),
                wallet_active=status.wallet_active,
                balance_nano=status.balance,
                collection=status.collection.to_str(),
                collection_active=status.collection_active,
                collection_code_ok=status.collection_code_ok,
                owner_ok=status.owner_ok,
            )
        return status.ok


def _signed(message: StoredMessage) -> SignedExternal:
    """The stored external as the custody wallet sends it: the same bytes, every time."""
    return SignedExternal(
        boc=message.boc,
        message_hash=message.message_hash,
        query_id=message.query_id,
        created_at=message.created_at_chain,
        timeout=message.timeout_s,
    )
