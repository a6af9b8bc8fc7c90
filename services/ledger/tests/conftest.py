"""Fixtures of the ledger tests: a migrated database (real Postgres), a unit-of-work factory,
signed access tokens and the app in-process."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from ledger.app import create_app
from ledger.models import SCHEMA, make_outbox
from ledger.settings import LedgerSettings
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.testing import migrate, truncate_schema
from scifikpi_common.testing.tokens import TokenSigner
from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
async def ledger_database_url(database_url: str) -> str:
    """The run's database with the ledger migrations applied (once)."""
    await migrate(SERVICE_DIR, database_url)
    return database_url


@pytest.fixture
async def clean_db(ledger_database_url: str) -> str:
    await truncate_schema(ledger_database_url, SCHEMA)
    return ledger_database_url


@pytest.fixture
async def engine(clean_db: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(clean_db, schema=SCHEMA, application_name="ledger.tests", pool_size=20)
    yield eng
    await eng.dispose()


@pytest.fixture
def factory(engine: AsyncEngine) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())


@pytest.fixture(scope="session")
def keys() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
def ledger_settings(clean_db: str) -> LedgerSettings:
    return LedgerSettings(
        environment="test", database_url=clean_db, log_format="console",
        kafka_bootstrap_servers="127.0.0.1:9",
    )  # fmt: skip


@pytest.fixture
async def app(ledger_settings: LedgerSettings, keys: TokenSigner) -> AsyncIterator[Any]:
    application = create_app(ledger_settings, jwks_fetcher=keys.fetch)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as c:
        yield c


Headers = Callable[..., dict[str, str]]
