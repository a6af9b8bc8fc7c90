"""Units of work are admitted in arrival order when there are more of them than connections:
the pool alone lets a task that just returned a connection take it straight back, ahead of
tasks woken for it, and some requests then starved for seconds under load."""

from __future__ import annotations

import asyncio

from commontest_schema import outbox
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker, pool_capacity
from sqlalchemy import text

TASKS, ROUNDS = 24, 6


async def _rounds_done_when_first_finishes(factory: UnitOfWorkFactory) -> list[int]:
    """Every task runs ROUNDS units of work back to back; how many each had done when the
    first task finished all of its own."""
    done = [0] * TASKS
    finished = asyncio.Event()
    snapshot: list[int] = []

    async def task(i: int) -> None:
        for _ in range(ROUNDS):
            async with factory() as uow:
                await uow.session.execute(text("SELECT 1"))
            done[i] += 1
        if not finished.is_set():
            finished.set()
            snapshot.extend(done)

    await asyncio.gather(*(task(i) for i in range(TASKS)))
    return snapshot


async def test_units_of_work_are_admitted_in_arrival_order(common_db: str) -> None:
    engine = create_engine(common_db, schema="commontest", application_name="fair", pool_size=2)
    try:
        factory = UnitOfWorkFactory(create_sessionmaker(engine), outbox)
        assert pool_capacity(factory.sessionmaker) == 4
        snapshot = await _rounds_done_when_first_finishes(factory)
    finally:
        await engine.dispose()
    # In arrival order every task is at most a round behind the first to finish (a starved
    # task in the pool's own queue was still at 0-1 rounds when a barging one had done all 6).
    assert min(snapshot) >= ROUNDS - 2, snapshot
