"""Without `pool_pre_ping`, a pool whose connections the server dropped (a Postgres restart, a
proxy closing them) costs one failed statement, classified as an infrastructure error (the API
answers 503, a consumer waits and re-reads), and the very next unit of work succeeds on fresh
connections: SQLAlchemy invalidates the whole pool on the first disconnect it sees."""

from __future__ import annotations

import pytest
from scifikpi_common.db import UnitOfWorkFactory
from scifikpi_common.messaging import is_infrastructure_error
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


async def _backend_pids(uow_factory: UnitOfWorkFactory, n: int) -> set[int]:
    """Open `n` pooled connections at once and return their server pids."""
    uows = [uow_factory() for _ in range(n)]
    pids = set()
    for uow in uows:
        await uow.__aenter__()
        pids.add((await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one())
    for uow in uows:
        await uow.__aexit__(None, None, None)
    return pids


async def _terminate(database_url: str, pids: set[int]) -> None:
    admin = create_async_engine(database_url)
    try:
        async with admin.begin() as conn:
            for pid in pids:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()


async def test_dropped_connections_cost_one_infrastructure_error(
    engine: AsyncEngine, uow_factory: UnitOfWorkFactory, common_db: str
) -> None:
    assert engine.pool._pre_ping is False  # the cost this test bounds
    pids = await _backend_pids(uow_factory, 3)
    assert len(pids) == 3
    await _terminate(common_db, pids)

    with pytest.raises(Exception) as failed:
        async with uow_factory() as uow:
            await uow.session.execute(text("SELECT 1"))
    assert is_infrastructure_error(failed.value)

    for _ in range(3):  # every pooled connection was stale; none of them is handed out again
        async with uow_factory() as uow:
            assert (await uow.session.execute(text("SELECT 1"))).scalar_one() == 1
    assert not pids & await _backend_pids(uow_factory, 3)
