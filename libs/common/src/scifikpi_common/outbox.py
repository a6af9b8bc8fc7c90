"""The transactional outbox: events are rows written in the business transaction.

`Outbox.add` inserts the envelope and a `pg_notify` in the caller's transaction, so the relay
(`scifikpi_common.relay`) wakes on commit and nothing is published for a rolled-back change.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from scifikpi_common.events.base import Envelope, Event
from scifikpi_common.tracing import current_trace_headers


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True, comment="relay order"),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("payload", JSONB, nullable=False, comment="the whole envelope"),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text),
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    )


class Outbox:
    """A service's outbox table plus the name it publishes under."""

    def __init__(self, table: Table, *, producer: str) -> None:
        self.table = table
        self.producer = producer
        self.channel = f"{table.schema}_outbox"

    async def add(self, session: AsyncSession, event: Event) -> Envelope:
        envelope = Envelope.wrap(event, producer=self.producer)
        await session.execute(
            insert(self.table).values(
                event_id=envelope.event_id,
                topic=event.TOPIC,
                key=envelope.key,
                event_type=envelope.event_type,
                payload=envelope.model_dump(mode="json"),
                headers=current_trace_headers(),
            )
        )
        # Delivered at commit only; wakes the relay without waiting for its poll.
        await session.execute(select(func.pg_notify(self.channel, "")))
        return envelope
