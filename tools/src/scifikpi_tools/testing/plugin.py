"""pytest plugin (loaded with `-p scifikpi_tools.testing.plugin`): the real infrastructure for
every test, and the fixtures every service's tests share.

Infrastructure:
- `postgres_server_url`: `TEST_DATABASE_URL`/`DATABASE_URL` if set, else 127.0.0.1:5432 if it
  answers, else an embedded PostgreSQL started for the run;
- `database_url`: a fresh database for this run (dropped afterwards), asyncpg URL;
- `kafka_bootstrap_servers`: `KAFKA_BOOTSTRAP_SERVERS` if set, else a Tansu broker on a free
  port, stopped afterwards. Every event topic (and its `.dlq`) exists before tests use it.

A service's tests (their conftest defines `service_under_test`, `scifikpi_common.testing.service`):
- `settings`: the service's settings from `settings_values` (the clean database, no broker, console
  logs; a conftest extends it by defining its own `settings_values` that asks for this one) and
  `settings_overrides` (a test module's or a parametrization's);
- `migrated_database_url`: the run's database with the service's migrations applied (once);
- `clean_db`: the same, with the service's schema emptied before the test;
- `engine`, `factory`: a pool on the service's schema and a unit-of-work factory over it;
- `keys`: a token signer whose JWKS the app under test fetches in-process;
- `app` (lifespan entered) and `client` (httpx over ASGI) for the service's API.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.testing.database import (
    create_database,
    drop_database,
    migrate,
    server_reachable,
    truncate_schema,
)
from scifikpi_common.testing.service import ServiceUnderTest
from scifikpi_common.testing.tokens import TokenSigner
from sqlalchemy.ext.asyncio import AsyncEngine

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
async def postgres_server_url() -> AsyncIterator[str]:
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    if await server_reachable(LOCAL_SERVER):
        yield LOCAL_SERVER
        return
    from scifikpi_tools.localinfra import start_embedded_postgres

    with tempfile.TemporaryDirectory(prefix="scifikpi-pg-") as data_dir:
        server = start_embedded_postgres(data_dir)
        try:
            yield server.url
        finally:
            server.stop()


@pytest.fixture(scope="session")
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    name = f"scifikpi_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = await create_database(postgres_server_url, name)
    try:
        yield url
    finally:
        await drop_database(postgres_server_url, name)


@pytest.fixture(scope="session")
async def kafka_bootstrap_servers() -> AsyncIterator[str]:
    from scifikpi_common.events import ALL_EVENTS

    from scifikpi_tools.localinfra import ensure_topics, start_tansu

    topics = sorted({cls.TOPIC for cls in ALL_EVENTS.values()})
    topics += [f"{t}.dlq" for t in topics]
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        await ensure_topics(configured, topics)
        yield configured
        return
    broker = start_tansu()
    try:
        await ensure_topics(broker.bootstrap, topics)
        yield broker.bootstrap
    finally:
        broker.stop()


_migrated: set[tuple[str, str]] = set()


@pytest.fixture
def service_under_test() -> ServiceUnderTest:
    raise pytest.UsageError(
        "this test needs a service: its tests/conftest.py defines `service_under_test`"
    )


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or with `@pytest.mark.parametrize`) to tune the service."""
    return {}


@pytest.fixture
def settings_values(clean_db: str) -> dict[str, Any]:
    """What every service's test settings share; port 9 is closed, so no test reaches a broker
    it did not ask for (`kafka_bootstrap_servers`)."""
    return {
        "environment": "test",
        "database_url": clean_db,
        "log_format": "console",
        "kafka_bootstrap_servers": "127.0.0.1:9",
    }


@pytest.fixture
def settings(
    service_under_test: ServiceUnderTest,
    settings_values: dict[str, Any],
    settings_overrides: dict[str, Any],
) -> Any:
    if service_under_test.settings_class is None:
        raise pytest.UsageError(f"{service_under_test.schema} names no settings_class")
    return service_under_test.settings_class(**{**settings_values, **settings_overrides})


@pytest.fixture
async def migrated_database_url(service_under_test: ServiceUnderTest, database_url: str) -> str:
    """The run's database with the service's migrations applied (once per run and service)."""
    key = (str(service_under_test.directory), database_url)
    if key not in _migrated:
        await migrate(service_under_test.directory, database_url)
        _migrated.add(key)
    return database_url


@pytest.fixture
async def clean_db(service_under_test: ServiceUnderTest, migrated_database_url: str) -> str:
    await truncate_schema(migrated_database_url, service_under_test.schema)
    return migrated_database_url


@pytest.fixture
async def engine(service_under_test: ServiceUnderTest, clean_db: str) -> AsyncIterator[AsyncEngine]:
    schema = service_under_test.schema
    eng = create_engine(clean_db, schema=schema, application_name=f"{schema}.tests", pool_size=20)
    yield eng
    await eng.dispose()


@pytest.fixture
def factory(service_under_test: ServiceUnderTest, engine: AsyncEngine) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(create_sessionmaker(engine), service_under_test.make_outbox())


@pytest.fixture(scope="session")
def keys() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
async def app(
    service_under_test: ServiceUnderTest, settings: Any, keys: TokenSigner
) -> AsyncIterator[Any]:
    if service_under_test.create_app is None:
        raise pytest.UsageError(f"{service_under_test.schema} has no API app")
    application = service_under_test.create_app(settings, keys)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(
    service_under_test: ServiceUnderTest, app: Any
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    base_url = f"http://{service_under_test.schema}.test"
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
        yield c
