"""The transactional outbox: events are rows written in the business transaction.

`Outbox.add`/`add_many` insert the envelopes and a `pg_notify` in the caller's transaction, as
one statement (one round trip for any number of events), so the relay (`scifikpi_common.relay`)
wakes on commit and nothing is published for a rolled-back change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
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
        # The NOTIFY is delivered at commit only; it wakes the relay without waiting for its poll.
        self._insert = text(
            f"""
            WITH ins AS (
                INSERT INTO {table.fullname} (event_id, topic, key, event_type, payload, headers)
                SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:topics AS text[]),
                                     CAST(:keys AS text[]), CAST(:types AS text[]),
                                     CAST(:payloads AS jsonb[]), CAST(:headers AS jsonb[]))
                RETURNING 1
            )
            SELECT pg_notify(:channel, '') FROM (SELECT count(*) FROM ins) AS n
            """  # noqa: S608 - the table name is ours, values are bound
        )

    async def add(self, session: AsyncSession, event: Event) -> Envelope[dict[str, Any]]:
        return (await self.add_many(session, [event]))[0]

    async def add_many(
        self, session: AsyncSession, events: Sequence[Event]
    ) -> list[Envelope[dict[str, Any]]]:
        """Queue `events` in order, inside the session's transaction."""
        if not events:
            return []
        envelopes = [Envelope.wrap(e, producer=self.producer) for e in events]
        headers = orjson.dumps(current_trace_headers()).decode()
        await session.execute(
            self._insert,
            {
                "ids": [env.event_id for env in envelopes],
                "topics": [e.TOPIC for e in events],
                "keys": [env.key for env in envelopes],
                "types": [env.event_type for env in envelopes],
                "payloads": [env.to_bytes().decode() for env in envelopes],
                "headers": [headers] * len(envelopes),
                "channel": self.channel,
            },
        )
        return envelopes
