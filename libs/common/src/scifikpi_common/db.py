"""Database plumbing: a schema per service, engines made in the lifespan, one unit of work.

Repositories take the unit of work's session and never commit; use cases (handlers) never commit
either: the edge that opened the unit of work (a route, the consumer runner, a process loop, a CLI
command) commits it exactly once, so a state change and the events it emits (outbox rows) land in
one transaction or not at all. `committing(uow)` is that commit for an edge.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self, cast

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool

from scifikpi_common.errors import KeepsChanges
from scifikpi_common.outbox import RelayWaker

if TYPE_CHECKING:
    from scifikpi_common.events.base import Event
    from scifikpi_common.outbox import Outbox

#: Stable constraint names so Alembic autogenerate never churns (Polar's convention).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


def make_metadata(schema: str) -> MetaData:
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


#: A pooled connection older than this is replaced at checkout (before a proxy or firewall closes
#: it for being idle); a connection that died anyway fails one statement, which invalidates the
#: whole pool (SQLAlchemy's disconnect handling) and is answered 503 / retried by the consumer.
POOL_RECYCLE_S = 600


def create_engine(
    database_url: str, *, schema: str, application_name: str, pool_size: int = 10
) -> AsyncEngine:
    """An async engine on `schema`. No `pool_pre_ping`: on asyncpg it is BEGIN, a query and a
    ROLLBACK (three round trips) before every transaction, 3 of 7 round trips of a ledger posting
    (docs/adr/0007-no-pool-pre-ping.md)."""
    return create_async_engine(
        database_url,
        pool_pre_ping=False,
        pool_recycle=POOL_RECYCLE_S,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={
            "server_settings": {"application_name": application_name, "search_path": str(schema)}
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@dataclass(frozen=True)
class ProcessDatabase:
    """A process's own pool (`engine`) and the units of work over it (`uow_factory`)."""

    engine: AsyncEngine
    uow_factory: UnitOfWorkFactory


@asynccontextmanager
async def process_database(
    database_url: str, outbox: Outbox, *, name: str, pool_size: int
) -> AsyncIterator[ProcessDatabase]:
    """The pool of one process (a CLI command, a scheduler, a housekeeping loop) on its service's
    schema, shown as `name` (`ledger.admin`) in pg_stat_activity, and disposed on the way out."""
    schema = outbox.table.schema or name.partition(".")[0]
    engine = create_engine(database_url, schema=schema, application_name=name, pool_size=pool_size)
    try:
        yield ProcessDatabase(engine, UnitOfWorkFactory(create_sessionmaker(engine), outbox))
    finally:
        await engine.dispose()


class UnitOfWork:
    """One transaction for one request or one message, with the service's outbox attached.

    `async with uow:` opens it; `await uow.commit()` ends it; leaving the block without a
    commit rolls everything back, events included.

    A reading one (`UnitOfWorkFactory.reading`) holds a Core connection instead of an ORM
    session: repositories only ever call `session.execute`, which both have, and the session's
    ORM execution, creation, rollback and close were ~15 % of a short GET's CPU (ADR 0009).
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        admission: asyncio.Semaphore | None = None,
        *,
        read_only: bool = False,
        reads: AsyncEngine | None = None,
        waker: RelayWaker | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._outbox = outbox
        self._waker = waker
        self._published = False
        self._admission = admission
        self.read_only = read_only
        self._reads = reads
        self._session: AsyncSession | None = None
        self._connection: AsyncConnection | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        if self._admission is not None:
            await self._admission.acquire()
        if self._reads is None:
            self._session = self._sessionmaker()
            return self
        try:
            self._connection = await self._reads.connect()
        except BaseException:
            if self._admission is not None:
                self._admission.release()
            raise
        # Typed as the session: `execute` (all a repository calls) behaves the same on both.
        self._session = cast(AsyncSession, self._connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        connection, self._connection = self._connection, None
        try:
            if connection is not None:
                await connection.close()  # back to the pool; AUTOCOMMIT: nothing to roll back
            elif session is not None:
                await session.rollback()  # no-op after a commit
                await session.close()
        finally:
            if self._admission is not None:
                self._admission.release()

    async def publish(self, event: Event) -> None:
        """Queue an event in the outbox, inside this transaction."""
        await self.publish_all([event])

    async def publish_all(self, events: Sequence[Event]) -> None:
        """Queue events in order with one statement (a consumed batch's outcomes)."""
        self._refuse_writes("publish")
        await self._outbox.add_many(self.session, events)
        self._published = self._published or bool(events)

    async def commit(self) -> None:
        self._refuse_writes("commit")
        await self.session.commit()
        if self._published:
            self._published = False
            if self._waker is not None:
                self._waker.wake()  # after the commit: the relay must find the rows

    def _refuse_writes(self, what: str) -> None:
        if self.read_only:
            raise RuntimeError(f"{what} in a read-only unit of work (a GET never writes)")

    async def rollback(self) -> None:
        if self._connection is not None:
            await self._connection.rollback()
        else:
            await self.session.rollback()
        self._published = False


@asynccontextmanager
async def committing(uow: UnitOfWork) -> AsyncIterator[UnitOfWork]:
    """Commit once when the block succeeds, or when its error is a `KeepsChanges` one (its side
    effects must stay); any other error leaves the transaction to roll back."""
    try:
        yield uow
    except KeepsChanges:
        await uow.commit()
        raise
    await uow.commit()


def pool_capacity(sessionmaker: async_sessionmaker[AsyncSession]) -> int | None:
    """How many connections the sessions' pool hands out at once (`pool_size + max_overflow`),
    or None when it does not say (no bound engine, or a pool without a limit)."""
    bind = sessionmaker.kw.get("bind")
    pool = getattr(bind, "pool", None)
    if not isinstance(pool, QueuePool):
        return None
    return pool.size() + max(pool._max_overflow, 0)


class UnitOfWorkFactory:
    """Makes a fresh `UnitOfWork` per request or message.

    Units of work are admitted first come, first served, at most as many at once as the pool
    has connections. The pool's own queue lets a newcomer take a connection just returned
    before a task woken for it runs, so under load (more concurrent requests than connections)
    a few requests starved for seconds: `/mining/status` at 50 connections had ~1 % of requests
    over 1 s and some over 10 s in the app's own latency histogram (sqlalchemy#7679,
    asyncpg#1247). `asyncio.Semaphore` queues in order, so waits are shared evenly.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        *,
        concurrency: int | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.outbox = outbox
        limit = concurrency or pool_capacity(sessionmaker)
        self._admission = asyncio.Semaphore(limit) if limit else None
        bind = sessionmaker.kw.get("bind")
        engine = bind if isinstance(bind, AsyncEngine) else None
        self._reads = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if engine is not None else None
        )
        #: the relay's NOTIFY, after commits that queued events (see `scifikpi_common.outbox`)
        self.waker = RelayWaker(engine, outbox.channel)

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker, self.outbox, self._admission, waker=self.waker)

    def reading(self) -> UnitOfWork:
        """A unit of work for reads only (GET routes): each statement runs on its own, with no
        BEGIN and ROLLBACK around it, one round trip instead of three (in READ COMMITTED a
        transaction gives every statement its own snapshot anyway). It refuses `commit` and
        `publish`; what must read one snapshot across statements uses `__call__`. Without an
        engine to connect to (a sessionmaker bound otherwise) it reads through a session."""
        return UnitOfWork(
            self.sessionmaker, self.outbox, self._admission, read_only=True, reads=self._reads
        )
