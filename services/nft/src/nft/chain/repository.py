"""SQL of the chain engine (SQLAlchemy Core on the unit of work's session; nothing here
commits): the send log (`ton_messages`), the mint work (reserved purchases, minted `nfts`), the
transfer work, the wake-up channel and the engine's advisory lock.

Work is claimed with `FOR UPDATE SKIP LOCKED` and moved by guarded single statements
(`UPDATE … WHERE status = … RETURNING`), so a repeated or racing step changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nft.chain.domain import (
    MessageKind,
    MessageStatus,
    MintJob,
    Outcome,
    StoredMessage,
    TransferJob,
)
from nft.models import CHAIN_CHANNEL, hl_query_seq, nfts, purchases, ton_messages, transfers
from nft.purchases.domain import NftStatus, PurchaseStatus
from nft.transfers.domain import TransferStatus

_M = ton_messages.c
_P = purchases.c
_T = transfers.c
_N = nfts.c
_MESSAGE_COLS = [
    _M.id,
    _M.kind,
    _M.query_id,
    _M.created_at_chain,
    _M.timeout_s,
    _M.boc,
    _M.message_hash,
    _M["items"],
    _M.status,
    _M.sends,
    _M.last_sent_at,
    _M.processed_at,
]
_MINT_COLS = [
    _P.id.label("purchase_id"),
    _P.user_id,
    _P.catalog_item_id,
    _P.item_index,
    _P.mint_attempts,
]
_TRANSFER_COLS = [
    _T.id.label("transfer_id"),
    _T.nft_id,
    _T.user_id,
    _T.to_address,
    _N.item_address,
    _T.attempts,
]


def _message(row: Any) -> StoredMessage:
    values = dict(row._mapping)
    return StoredMessage(
        **{
            **values,
            "kind": MessageKind(values["kind"]),
            "status": MessageStatus(values["status"]),
        }
    )


async def wake_engine(session: AsyncSession) -> None:
    """Wake the chain engine when this transaction commits (NOTIFY is transactional)."""
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHAIN_CHANNEL})


async def work_waiting(session: AsyncSession) -> bool:
    """Reserved purchases or pending transfers in no message yet."""
    stmt = text(
        "SELECT EXISTS (SELECT 1 FROM purchases WHERE status = :reserved"
        " AND message_id IS NULL) OR EXISTS (SELECT 1 FROM transfers"
        " WHERE status = :pending AND message_id IS NULL)"
    )
    params = {"reserved": PurchaseStatus.reserved, "pending": TransferStatus.pending}
    return bool((await session.execute(stmt, params)).scalar_one())


class MessageRepository:
    """The send log: every signed external, stored before it is sent."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def next_sequence(self) -> int:
        """The next value of `hl_query_seq` (never reused across restarts)."""
        return int((await self.session.execute(select(hl_query_seq.next_value()))).scalar_one())

    async def record(
        self,
        kind: MessageKind,
        *,
        query_id: int,
        created_at_chain: int,
        timeout_s: int,
        boc: bytes,
        message_hash: str,
        items: int,
        now: datetime,
    ) -> StoredMessage:
        stmt = (
            ton_messages.insert()
            .values(
                kind=kind,
                query_id=query_id,
                created_at_chain=created_at_chain,
                timeout_s=timeout_s,
                boc=boc,
                message_hash=message_hash,
                items=items,
                status=MessageStatus.signed,
                created_at=now,
            )
            .returning(*_MESSAGE_COLS)
        )
        return _message((await self.session.execute(stmt)).one())

    async def open(self, kind: MessageKind | None = None) -> list[StoredMessage]:
        stmt = select(*_MESSAGE_COLS).where(_M.status != MessageStatus.settled)
        if kind is not None:
            stmt = stmt.where(_M.kind == kind)
        rows = (await self.session.execute(stmt.order_by(_M.id))).all()
        return [_message(r) for r in rows]

    async def record_send(
        self, message_id: int, *, sent: bool, error: str | None, now: datetime
    ) -> None:
        """One more send attempt; `sent` once a liteserver took it (it stays `signed` else)."""
        values: dict[str, Any] = {"sends": _M.sends + 1, "last_sent_at": now}
        if error is not None:
            values["last_error"] = error
        if sent:
            values["status"] = MessageStatus.sent
        await self.session.execute(
            update(ton_messages)
            .where(_M.id == message_id, _M.status != MessageStatus.settled)
            .values(**values)
        )

    async def mark_processed(self, message_id: int, now: datetime) -> None:
        await self.session.execute(
            update(ton_messages).where(_M.id == message_id).values(processed_at=now)
        )

    async def settle(self, message_id: int, outcome: Outcome, now: datetime) -> None:
        await self.session.execute(
            update(ton_messages)
            .where(_M.id == message_id, _M.status != MessageStatus.settled)
            .values(status=MessageStatus.settled, outcome=outcome, settled_at=now)
        )


class MintRepository:
    """Reserved purchases as mint work, and the NFTs minted from them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _unassigned(self) -> Select[Any]:
        return select(*_MINT_COLS).where(
            _P.status == PurchaseStatus.reserved, _P.message_id.is_(None)
        )

    async def any_waiting(self) -> bool:
        return (await self.session.execute(self._unassigned().limit(1))).first() is not None

    async def lock_batch(self, limit: int) -> list[MintJob]:
        """Up to `limit` unassigned reserved purchases, oldest reservation first."""
        stmt = (
            self._unassigned()
            .order_by(_P.reserved_at, _P.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [MintJob(**r._mapping) for r in (await self.session.execute(stmt)).all()]

    async def assign(self, job: MintJob, message_id: int, index: int, now: datetime) -> None:
        await self.session.execute(
            update(purchases)
            .where(_P.id == job.purchase_id)
            .values(
                message_id=message_id,
                item_index=index,
                mint_attempts=_P.mint_attempts + 1,
                updated_at=now,
            )
        )

    async def in_message(self, message_id: int) -> list[MintJob]:
        stmt = select(*_MINT_COLS).where(
            _P.message_id == message_id, _P.status == PurchaseStatus.reserved
        )
        return [MintJob(**r._mapping) for r in (await self.session.execute(stmt)).all()]

    async def complete(self, purchase_ids: Sequence[UUID], now: datetime) -> set[UUID]:
        """Reserved → completed; the ids that moved."""
        stmt = (
            update(purchases)
            .where(_P.id.in_(purchase_ids), _P.status == PurchaseStatus.reserved)
            .values(status=PurchaseStatus.completed, completed_at=now, updated_at=now)
            .returning(_P.id)
        )
        return set((await self.session.execute(stmt)).scalars())

    async def insert_nfts(self, rows: list[dict[str, Any]]) -> None:
        await self.session.execute(nfts.insert(), rows)

    async def release(self, purchase_id: UUID, now: datetime) -> None:
        """The purchase leaves its dead message, to be re-signed with a fresh index."""
        await self.session.execute(
            update(purchases)
            .where(_P.id == purchase_id, _P.status == PurchaseStatus.reserved)
            .values(message_id=None, item_index=None, updated_at=now)
        )

    async def overdue(self, reserved_before: datetime, limit: int) -> list[UUID]:
        """Reserved purchases in no message, reserved before the cutoff."""
        stmt = (
            select(_P.id)
            .where(
                _P.status == PurchaseStatus.reserved,
                _P.message_id.is_(None),
                _P.reserved_at < reserved_before,
            )
            .limit(limit)
        )
        return list((await self.session.execute(stmt)).scalars().all())


class TransferWorkRepository:
    """Pending transfers as send work, and the NFTs they move."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _jobs(self) -> Select[Any]:
        return select(*_TRANSFER_COLS).select_from(transfers.join(nfts, _N.id == _T.nft_id))

    async def any_waiting(self) -> bool:
        stmt = select(_T.id).where(_T.status == TransferStatus.pending, _T.message_id.is_(None))
        return (await self.session.execute(stmt.limit(1))).first() is not None

    async def lock_batch(self, limit: int) -> list[TransferJob]:
        """Up to `limit` pending transfers in no message (their order does not matter)."""
        stmt = (
            self._jobs()
            .where(_T.status == TransferStatus.pending, _T.message_id.is_(None))
            .order_by(_T.created_at, _T.id)
            .limit(limit)
            .with_for_update(of=transfers, skip_locked=True)
        )
        return [TransferJob(**r._mapping) for r in (await self.session.execute(stmt)).all()]

    async def assign(
        self, transfer_ids: list[UUID], message_id: int, message_hash: str, now: datetime
    ) -> None:
        await self.session.execute(
            update(transfers)
            .where(_T.id.in_(transfer_ids))
            .values(
                message_id=message_id,
                message_hash=message_hash,
                attempts=_T.attempts + 1,
                updated_at=now,
            )
        )

    async def in_message(self, message_id: int) -> list[TransferJob]:
        stmt = self._jobs().where(_T.message_id == message_id, _T.status == TransferStatus.pending)
        return [TransferJob(**r._mapping) for r in (await self.session.execute(stmt)).all()]

    async def complete(self, transfer_id: UUID, now: datetime) -> bool:
        stmt = (
            update(transfers)
            .where(_T.id == transfer_id, _T.status == TransferStatus.pending)
            .values(status=TransferStatus.completed, completed_at=now, updated_at=now)
            .returning(_T.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def mark_transferred(self, nft_id: UUID, owner: str, now: datetime) -> None:
        await self.session.execute(
            update(nfts)
            .where(_N.id == nft_id)
            .values(status=NftStatus.transferred, owner_address=owner, transferred_at=now)
        )

    async def release(self, transfer_id: UUID, now: datetime) -> None:
        """The transfer leaves its dead message, to be re-signed."""
        await self._update_pending(transfer_id, message_id=None, updated_at=now)

    async def fail(self, transfer_id: UUID, reason: str, now: datetime) -> None:
        await self._update_pending(
            transfer_id, status=TransferStatus.failed, failure_reason=reason, updated_at=now
        )

    async def _update_pending(self, transfer_id: UUID, **values: Any) -> None:
        await self.session.execute(
            update(transfers)
            .where(_T.id == transfer_id, _T.status == TransferStatus.pending)
            .values(**values)
        )


class EngineLock:
    """The session advisory lock that makes one engine active (replicas wait as hot standbys),
    held on a connection of its own that also LISTENs for new work. The process that owns the
    connection ends each statement's transaction (`nft.processes`)."""

    def __init__(self, connection: AsyncConnection, key: int) -> None:
        self.connection = connection
        self.key = key

    async def try_acquire(self) -> bool:
        stmt = text("SELECT pg_try_advisory_lock(:k)")
        got = (await self.connection.execute(stmt, {"k": self.key})).scalar()
        return bool(got)

    async def listen(self, callback: Callable[..., None]) -> None:
        """Call `callback` on every NOTIFY of the engine's channel."""
        raw = (await self.connection.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.add_listener(CHAIN_CHANNEL, callback)

    async def ping(self) -> None:
        """The lock's connection is alive (else the lock is gone and the error says so)."""
        await self.connection.execute(text("SELECT 1"))
