"""The TON send log: what the custody wallet signed, sent and how each message settled.

The notes' recipe, in one place for mints and transfers:
- a signed external is stored (`ton_messages`) in the same transaction that assigns work to it,
  and only then sent, so a crash between the two re-sends the stored bytes;
- a message that is neither executed nor expired is re-sent verbatim, never re-signed: HLv3
  executes a query id at most once, so re-sending cannot mint twice;
- a message is *dead* once it provably cannot execute any more: the wallet executed it (HLv3
  `processed?`) and the grace for its internal messages has passed, or its validity window
  (`created_at + timeout`) has passed without execution. Only then is its work re-signed in a new
  message (or failed after the bounded attempts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from prometheus_client import Counter
from pytoniq_core import Address
from scifikpi_common.db import UnitOfWorkFactory
from scifikpi_common.logging import get_logger
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nft.models import hl_query_seq, ton_messages
from nft.settings import NftSettings
from nft.ton.custody import Custody, SignedExternal, hl_query_id
from nft.ton.provider import ChainUnavailable, MessageRejected

log = get_logger(__name__)

Kind = Literal["mint", "transfer", "deploy"]

MESSAGES_SENT = Counter(
    "nft_ton_messages_sent_total", "Externals handed to the chain", ["kind", "result"]
)
MESSAGES_SETTLED = Counter(
    "nft_ton_messages_settled_total", "Signed externals settled, by outcome", ["kind", "outcome"]
)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    kind: str
    query_id: int
    created_at_chain: int
    timeout_s: int
    boc: bytes
    message_hash: str
    items: int
    status: str
    sends: int
    last_sent_at: datetime | None
    processed_at: datetime | None

    @property
    def signed(self) -> SignedExternal:
        return SignedExternal(
            boc=self.boc, message_hash=self.message_hash, query_id=self.query_id,
            created_at=self.created_at_chain, timeout=self.timeout_s,
        )  # fmt: skip

    def expired(self, chain_now: int) -> bool:
        return chain_now > self.created_at_chain + self.timeout_s


_COLUMNS = [
    ton_messages.c[name]
    for name in (
        "id", "kind", "query_id", "created_at_chain", "timeout_s", "boc", "message_hash", "items",
        "status", "sends", "last_sent_at", "processed_at",
    )
]  # fmt: skip


async def next_query_id(session: AsyncSession) -> int:
    """A fresh HLv3 query id from the database sequence (never reused across restarts)."""
    n = (await session.execute(select(hl_query_seq.next_value()))).scalar_one()
    return hl_query_id(int(n))


async def record(
    session: AsyncSession, kind: Kind, signed: SignedExternal, *, items: int, now: datetime
) -> StoredMessage:
    row = (
        await session.execute(
            ton_messages.insert()
            .values(
                kind=kind,
                query_id=signed.query_id,
                created_at_chain=signed.created_at,
                timeout_s=signed.timeout,
                boc=signed.boc,
                message_hash=signed.message_hash,
                items=items,
                status="signed",
                created_at=now,
            )  # fmt: skip
            .returning(*_COLUMNS)
        )
    ).one()
    return StoredMessage(**row._mapping)


async def open_messages(session: AsyncSession, kind: Kind | None = None) -> list[StoredMessage]:
    stmt = select(*_COLUMNS).where(ton_messages.c.status != "settled")
    if kind is not None:
        stmt = stmt.where(ton_messages.c.kind == kind)
    rows = (await session.execute(stmt.order_by(ton_messages.c.id))).all()
    return [StoredMessage(**r._mapping) for r in rows]


async def send(
    uow_factory: UnitOfWorkFactory, custody: Custody, message: StoredMessage, now: datetime
) -> bool:
    """Hand the stored bytes to the chain; record the attempt. True if a liteserver took it."""
    values: dict[str, Any] = {"sends": ton_messages.c.sends + 1, "last_sent_at": now}
    try:
        await custody.send(message.signed)
    except ChainUnavailable as exc:
        MESSAGES_SENT.labels(message.kind, "unavailable").inc()
        log.warning("ton_send_unavailable", message_id=message.id, error=str(exc)[:300])
        values["last_error"] = f"unavailable: {str(exc)[:500]}"
        ok = False
    except MessageRejected as exc:
        # Refused before execution: already executed, expired, or not valid. Settling decides.
        MESSAGES_SENT.labels(message.kind, "rejected").inc()
        log.info("ton_send_rejected", message_id=message.id, error=str(exc)[:300])
        values["last_error"] = f"rejected: {str(exc)[:500]}"
        ok = False
    else:
        MESSAGES_SENT.labels(message.kind, "accepted").inc()
        values["status"] = "sent"
        ok = True
    async with uow_factory() as uow:
        await uow.session.execute(
            update(ton_messages)
            .where(ton_messages.c.id == message.id, ton_messages.c.status != "settled")
            .values(**values)
        )
        await uow.commit()
    return ok


@dataclass(frozen=True, slots=True)
class Verdict:
    state: Literal["wait", "resend", "dead"]
    outcome: str | None = None  # for dead messages: expired | insufficient_balance | bounced


async def judge(
    uow_factory: UnitOfWorkFactory,
    custody: Custody,
    message: StoredMessage,
    settings: NftSettings,
    *,
    now: datetime,
    chain_now: int,
) -> Verdict:
    """Whether a message whose work is not all confirmed can still execute. Chain errors raise
    ChainUnavailable: nothing is decided on a guess."""
    if await custody.processed(message.query_id):
        processed_at = message.processed_at
        if processed_at is None:
            processed_at = now
            async with uow_factory() as uow:
                await uow.session.execute(
                    update(ton_messages)
                    .where(ton_messages.c.id == message.id)
                    .values(processed_at=now)
                )
                await uow.commit()
        if now - processed_at >= timedelta(seconds=settings.settle_grace_s):
            return Verdict("dead", await _diagnose(custody, message, settings))
        return Verdict("wait")
    if message.expired(chain_now):
        return Verdict("dead", "expired")
    due = message.last_sent_at is None or (
        now - message.last_sent_at >= timedelta(seconds=settings.resend_interval_s)
    )
    return Verdict("resend" if message.status == "signed" or due else "wait")


async def _diagnose(custody: Custody, message: StoredMessage, settings: NftSettings) -> str:
    """Why an executed message left work undone: the wallet could not pay for its actions (they
    are skipped silently under IGNORE_ERRORS), or a destination refused and bounced."""
    tx = await custody.wallet_tx(message.message_hash)
    if tx is not None and (tx.skipped_actions > 0 or tx.action_success is False):
        return "insufficient_balance"
    per_item = (
        settings.mint_message_value_nano if message.kind == "mint" else settings.transfer_value_nano
    )
    if await custody.balance() < per_item * max(message.items, 1):
        return "insufficient_balance"
    return "bounced"


Job = TypeVar("Job")

#: concurrent state reads while confirming one message (liteserver round trips overlap)
READ_CONCURRENCY = 16


async def owners(custody: Custody, items: Sequence[Address]) -> list[Address | None]:
    """The on-chain owner of each item (None: not active or not initialised), in order."""
    gate = asyncio.Semaphore(READ_CONCURRENCY)

    async def one(item: Address) -> Address | None:
        async with gate:
            return await custody.nft_owner(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def conclude(
    uow_factory: UnitOfWorkFactory,
    custody: Custody,
    message: StoredMessage,
    settings: NftSettings,
    *,
    missing: Sequence[Job],
    give_up: Callable[[Job, str], Awaitable[None]],
    now: datetime,
    chain_now: int,
) -> bool:
    """The rest of settling once what is confirmed on chain is recorded: nothing missing settles
    the message; otherwise it is re-sent, waited on, or — dead — its missing work goes to
    `give_up(job, outcome)` (retry in a new message or fail) and it settles with that outcome.
    True once the message is settled."""
    if not missing:
        await settle(uow_factory, message, "confirmed", now)
        return True
    verdict = await judge(uow_factory, custody, message, settings, now=now, chain_now=chain_now)
    if verdict.state == "resend":
        await send(uow_factory, custody, message, now)
        return False
    if verdict.state == "wait":
        return False
    outcome = verdict.outcome or "unknown"
    for job in missing:
        await give_up(job, outcome)
    await settle(uow_factory, message, outcome, now)
    return True


async def settle(
    uow_factory: UnitOfWorkFactory, message: StoredMessage, outcome: str, now: datetime
) -> None:
    async with uow_factory() as uow:
        await uow.session.execute(
            update(ton_messages)
            .where(ton_messages.c.id == message.id, ton_messages.c.status != "settled")
            .values(status="settled", outcome=outcome, settled_at=now)
        )
        await uow.commit()
    MESSAGES_SETTLED.labels(message.kind, outcome).inc()
    level = log.info if outcome == "confirmed" else log.warning
    level(
        "ton_message_settled", message_id=message.id, kind=message.kind, outcome=outcome,
        items=message.items, sends=message.sends, query_id=message.query_id,
    )  # fmt: skip
