"""Fixtures of the mining tests: a migrated database (real Postgres), a unit-of-work factory,
signed access tokens and the app in-process."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mining.app import create_app
from mining.models import SCHEMA, make_outbox
from mining.settings import MiningSettings
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.testing import migrate, truncate_schema
from scifikpi_common.testing.tokens import TokenSigner
from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _mining_helpers import DURATION_S  # noqa: E402


@pytest.fixture(scope="session")
async def mining_database_url(database_url: str) -> str:
    """The run's database with the mining migrations applied (once)."""
    await migrate(SERVICE_DIR, database_url)
    return database_url


@pytest.fixture
async def clean_db(mining_database_url: str) -> str:
    await truncate_schema(mining_database_url, SCHEMA)
    return mining_database_url


@pytest.fixture
async def engine(clean_db: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(clean_db, schema=SCHEMA, application_name="mining.tests", pool_size=20)
    yield eng
    await eng.dispose()


@pytest.fixture
def factory(engine: AsyncEngine) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())


@pytest.fixture(scope="session")
def keys() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
def mining_settings(clean_db: str) -> MiningSettings:
    return MiningSettings(
        environment="test", database_url=clean_db, log_format="console",
        kafka_bootstrap_servers="127.0.0.1:9", session_duration_s=DURATION_S,
        price_per_hour_minor=100, min_accel_minor=50, quote_ttl_s=900, db_pool_size=30,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _consumers_use_test_settings(monkeypatch: pytest.MonkeyPatch, request: Any) -> None:
    """The consumers read `get_settings()`; point it at the test settings when a test has them."""
    if "mining_settings" in request.fixturenames:
        settings = request.getfixturevalue("mining_settings")
        monkeypatch.setattr("mining.consumers.get_settings", lambda: settings)


@pytest.fixture
async def app(mining_settings: MiningSettings, keys: TokenSigner) -> AsyncIterator[Any]:
    application = create_app(mining_settings, jwks_fetcher=keys.fetch)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mining.test") as c:
        yield c
