"""The transactional outbox: events are rows written in the business transaction.

`Outbox.add`/`add_many` insert the envelopes in the caller's transaction, as one statement (one
round trip for any number of events), so nothing is published for a rolled-back change.

The relay (`scifikpi_common.relay`) is woken by a `NOTIFY` sent *after* the commit by
`RelayWaker`, not inside the business transaction: PostgreSQL commits transactions that NOTIFY
one at a time (they hold the notify queue's lock through their commit record's flush), which
capped our single postings at 0.40x `pgbench -N` at the database (0.70x without the NOTIFY, same
run; ADR 0010). The wake-up is a hint, coalesced per process: the relay polls anyway, so a lost
one costs at most its poll interval, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from scifikpi_common.events.base import Envelope, Event
from scifikpi_common.logging import get_logger
from scifikpi_common.tracing import current_trace_headers

log = get_logger("scifikpi.outbox")


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
        self._insert = text(
            f"""
            INSERT INTO {table.fullname} (event_id, topic, key, event_type, payload, headers)
            SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:topics AS text[]),
                                 CAST(:keys AS text[]), CAST(:types AS text[]),
                                 CAST(:payloads AS jsonb[]), CAST(:headers AS jsonb[]))
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
            },
        )
        return envelopes


class RelayWaker:
    """Wakes the relay after commits that queued events: one `NOTIFY` per `delay_s` at most,
    sent on its own autocommit connection after the commits it covers. A wake asked for while
    one is scheduled joins it; one asked for once it has started schedules the next, so every
    commit is followed by a NOTIFY. Failures are logged and dropped (the relay polls)."""

    def __init__(self, engine: AsyncEngine | None, channel: str, *, delay_s: float = 0.002) -> None:
        self._engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if engine is not None else None
        )
        self._channel = channel
        self._delay_s = delay_s
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        if self._engine is None or self._scheduled:
            return
        self._scheduled = True
        task = asyncio.get_running_loop().create_task(self._notify())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        assert self._engine is not None
        await asyncio.sleep(self._delay_s)
        self._scheduled = False  # commits from here on get a NOTIFY of their own
        try:
            async with asyncio.timeout(1.0), self._engine.connect() as conn:
                await conn.execute(text("SELECT pg_notify(:c, '')"), {"c": self._channel})
        except Exception as exc:  # noqa: BLE001 - a hint: the relay's poll covers it
            log.warning("outbox_wake_failed", channel=self._channel, error=type(exc).__name__)

    async def flush(self) -> None:
        """Wait for the wake-ups in flight (tests; a process about to exit)."""
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks)
