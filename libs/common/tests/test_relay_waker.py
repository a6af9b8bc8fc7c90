"""The relay's wake-up: a NOTIFY after each commit that queued events, none inside it."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from commontest_schema import ThingHappened, outbox
from scifikpi_common.db import UnitOfWorkFactory
from scifikpi_common.testing.database import to_asyncpg_url


async def _listen(database_url: str) -> tuple[asyncpg.Connection, asyncio.Queue[str]]:
    conn = await asyncpg.connect(to_asyncpg_url(database_url))
    heard: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(outbox.channel, lambda *_: heard.put_nowait("woken"))
    return conn, heard


async def _publish(uow_factory: UnitOfWorkFactory, *, commit: bool) -> None:
    async with uow_factory() as uow:
        await uow.publish(ThingHappened(user_id=uuid.uuid4(), seq=1))
        if commit:
            await uow.commit()


async def test_a_commit_with_events_wakes_the_relay_once(
    uow_factory: UnitOfWorkFactory, common_db: str
) -> None:
    conn, heard = await _listen(common_db)
    try:
        await _publish(uow_factory, commit=True)
        assert await asyncio.wait_for(heard.get(), 2) == "woken"
        await uow_factory.waker.flush()
        await asyncio.sleep(0.1)
        assert heard.empty()
    finally:
        await conn.close()


async def test_nothing_wakes_for_a_rollback_or_a_commit_without_events(
    uow_factory: UnitOfWorkFactory, common_db: str
) -> None:
    conn, heard = await _listen(common_db)
    try:
        await _publish(uow_factory, commit=False)
        async with uow_factory() as uow:
            await uow.commit()
        await uow_factory.waker.flush()
        await asyncio.sleep(0.2)
        assert heard.empty()
    finally:
        await conn.close()


async def test_commits_close_together_share_a_wake_up_and_a_later_one_gets_its_own(
    uow_factory: UnitOfWorkFactory, common_db: str
) -> None:
    conn, heard = await _listen(common_db)
    try:
        await asyncio.gather(*(_publish(uow_factory, commit=True) for _ in range(20)))
        await uow_factory.waker.flush()
        await asyncio.sleep(0.1)
        first = heard.qsize()
        assert 1 <= first < 20, first  # coalesced, and never none
        await _publish(uow_factory, commit=True)
        await uow_factory.waker.flush()
        assert await asyncio.wait_for(heard.get(), 2) == "woken"
    finally:
        await conn.close()
