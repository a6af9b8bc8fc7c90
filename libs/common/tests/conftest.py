"""Fixtures over the throwaway `commontest` schema."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from commontest_schema import SCHEMA, metadata, outbox
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.testing import truncate_schema
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


@pytest.fixture(scope="session")
async def common_db(database_url: str) -> AsyncIterator[str]:
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    yield database_url


@pytest.fixture
async def engine(common_db: str) -> AsyncIterator[AsyncEngine]:
    await truncate_schema(common_db, SCHEMA)
    eng = create_engine(common_db, schema=SCHEMA, application_name="commontest")
    yield eng
    await eng.dispose()


@pytest.fixture
def uow_factory(engine: AsyncEngine) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(create_sessionmaker(engine), outbox)
