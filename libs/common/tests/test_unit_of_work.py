"""The one commit rule: `committing(uow)` commits on success and for `KeepsChanges` errors only."""

from __future__ import annotations

import asyncio

import pytest
from commontest_schema import things
from scifikpi_common.db import UnitOfWorkFactory, committing
from scifikpi_common.errors import Conflict, KeepsChanges
from sqlalchemy import func, insert, select, text


class SoldOut(KeepsChanges, Conflict):
    slug, title = "sold-out", "Sold out"


async def _count(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory() as uow:
        return (await uow.session.execute(select(func.count()).select_from(things))).scalar_one()


async def test_success_commits(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow, committing(uow):
        await uow.session.execute(insert(things).values(id=1, note="kept"))
    assert await _count(uow_factory) == 1


async def test_an_ordinary_error_rolls_back(uow_factory: UnitOfWorkFactory) -> None:
    with pytest.raises(Conflict):
        async with uow_factory() as uow, committing(uow):
            await uow.session.execute(insert(things).values(id=2, note="lost"))
            raise Conflict("no")
    assert await _count(uow_factory) == 0


async def test_a_keeps_changes_error_commits_then_propagates(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with pytest.raises(SoldOut):
        async with uow_factory() as uow, committing(uow):
            await uow.session.execute(insert(things).values(id=3, note="attempt recorded"))
            raise SoldOut("none left")
    assert await _count(uow_factory) == 1


async def test_leaving_without_commit_rolls_back(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.session.execute(insert(things).values(id=4, note="never committed"))
    assert await _count(uow_factory) == 0


async def test_a_reading_unit_of_work_runs_each_statement_on_its_own(
    uow_factory: UnitOfWorkFactory,
) -> None:
    """No BEGIN around the reads: the second statement's transaction started with it, not
    before the first statement's 50 ms."""
    probe = text("SELECT statement_timestamp() - now() < interval '25 milliseconds'")
    async with uow_factory.reading() as uow:
        await uow.session.execute(text("SELECT pg_sleep(0.05)"))
        assert (await uow.session.execute(probe)).scalar_one() is True
    async with uow_factory() as uow:  # the ordinary one is one transaction
        await uow.session.execute(text("SELECT pg_sleep(0.05)"))
        assert (await uow.session.execute(probe)).scalar_one() is False


async def test_a_reading_unit_of_work_refuses_to_commit_or_publish(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory.reading() as uow:
        with pytest.raises(RuntimeError, match="read-only"):
            await uow.commit()
        with pytest.raises(RuntimeError, match="read-only"):
            await uow.publish_all([])


async def test_a_reading_unit_of_work_sees_committed_rows_and_gives_its_connection_back(
    uow_factory: UnitOfWorkFactory,
) -> None:
    """The reading one holds a pooled Core connection: it reads what others committed, and
    leaving returns the connection (many reads in a row never exhaust the pool)."""
    async with uow_factory() as uow, committing(uow):
        await uow.session.execute(insert(things).values(id=7, note="visible"))
    for _ in range(50):
        async with uow_factory.reading() as uow:
            row = (await uow.session.execute(select(things.c.note).where(things.c.id == 7))).one()
            assert row.note == "visible"


async def test_a_reading_unit_of_work_that_cannot_connect_frees_its_admission() -> None:
    """A failed connect must not keep the admission slot: the next request would wait forever."""
    from commontest_schema import outbox
    from scifikpi_common.db import create_engine, create_sessionmaker
    from sqlalchemy.exc import OperationalError

    engine = create_engine(
        "postgresql+asyncpg://postgres@127.0.0.1:9/none", schema="x", application_name="t"
    )
    factory = UnitOfWorkFactory(create_sessionmaker(engine), outbox, concurrency=1)

    async def read() -> None:
        async with factory.reading():
            pass

    try:
        for _ in range(2):  # the second would hang if the first kept the only slot
            with pytest.raises((OSError, OperationalError)):
                await asyncio.wait_for(read(), 10)
    finally:
        await engine.dispose()
