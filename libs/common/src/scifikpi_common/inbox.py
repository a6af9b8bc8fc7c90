"""The consumer inbox: `(consumer, event_id)` claimed in the handler's own transaction.

A redelivered event finds its row already there and changes nothing; so does an event the
producer's relay republishes after a broker lost its topics (`scifikpi_common.republish`). Inbox
rows are never pruned: if they ever are, keep them longer than every producer's
`OUTBOX_RETENTION`, or a republished event would be applied again.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import Column, DateTime, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", Text, primary_key=True),
        Column("event_id", PgUUID(as_uuid=True), primary_key=True),
        Column("event_type", Text, nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def claim(
    session: AsyncSession, table: Table, *, consumer: str, event_id: UUID, event_type: str
) -> bool:
    """True if this consumer sees the event for the first time (inside the caller's transaction)."""
    result = await session.execute(
        insert(table)
        .values(consumer=consumer, event_id=event_id, event_type=event_type)
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )
    return result.first() is not None
