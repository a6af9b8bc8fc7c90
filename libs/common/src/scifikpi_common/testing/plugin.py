"""pytest plugin (loaded with `-p scifikpi_common.testing.plugin`).

Fixtures:
- `postgres_server_url`: `TEST_DATABASE_URL`/`DATABASE_URL` if set, else 127.0.0.1:5432 if it
  answers, else an embedded PostgreSQL started for the run;
- `database_url`: a fresh database for this run (dropped afterwards), asyncpg URL;
- `kafka_bootstrap_servers`: `KAFKA_BOOTSTRAP_SERVERS` if set, else a Tansu broker on a free
  port, stopped afterwards. Every event topic (and its `.dlq`) exists before tests use it.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator

import pytest

from scifikpi_common.testing.database import create_database, drop_database, server_reachable

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
    from scifikpi_common.localinfra import start_embedded_postgres

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
    from scifikpi_common.localinfra import ensure_topics, start_tansu

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
