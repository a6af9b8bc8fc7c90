"""Test databases: one fresh database per test run, migrated once, truncated between tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from scifikpi_common.migrations import upgrade


def to_asyncpg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def server_reachable(url: str, timeout_s: float = 2.0) -> bool:
    try:
        conn = await asyncpg.connect(to_asyncpg_url(url), timeout=timeout_s)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def create_database(server_url: str, name: str) -> str:
    """Create `name` on the server of `server_url`; returns its SQLAlchemy asyncpg URL."""
    conn = await asyncpg.connect(to_asyncpg_url(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return (
        "postgresql+asyncpg://"
        + to_asyncpg_url(with_database(server_url, name))[len("postgresql://") :]
    )


async def drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(to_asyncpg_url(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def migrate(service_dir: Path, database_url: str) -> None:
    """Apply a service's Alembic migrations to the test database."""
    await asyncio.to_thread(upgrade, service_dir, database_url)


async def truncate_schema(database_url: str, schema: str) -> None:
    """Empty every table of a schema except Alembic's version table."""
    conn = await asyncpg.connect(to_asyncpg_url(database_url))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables"
            " WHERE schemaname = $1 AND tablename <> 'alembic_version'",
            schema,
        )
        if tables:
            names = ", ".join(f'"{schema}"."{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
