"""Alembic per service: the service's schema is created first and holds its own version table.

`run_migrations(metadata, url)` is what each service's `migrations/env.py` calls; `upgrade()`
runs a service's migrations from Python (dev stack, tests). `create_outbox_and_inbox(schema)` is
how a revision creates the plumbing tables, from the same definitions the code uses
(`scifikpi_common.outbox`, `scifikpi_common.inbox`), so no migration restates them.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, Table, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from scifikpi_common.db import make_metadata
from scifikpi_common.inbox import inbox_table
from scifikpi_common.outbox import outbox_table


def run_migrations(metadata: MetaData, database_url: str) -> None:
    """Body of a service's `env.py` (online mode; URL from `-x url=` / config, else settings)."""
    schema = metadata.schema
    if schema is None:
        raise RuntimeError("service metadata must name its schema")
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or context.config.get_main_option("sqlalchemy.url")
        or database_url
    )

    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        return name == schema if type_ == "schema" else True

    def do_run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=include_name,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def online() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(online())


def _plumbing_tables(schema: str) -> list[Table]:
    metadata = make_metadata(schema)
    return [inbox_table(metadata), outbox_table(metadata)]


def create_outbox_and_inbox(schema: str) -> None:
    """Inside a revision's `upgrade()`: the service's `outbox` and `inbox` tables with their
    indexes, exactly as the code declares them."""
    bind = op.get_bind()
    for table in _plumbing_tables(schema):
        table.create(bind)


def drop_outbox_and_inbox(schema: str) -> None:
    """Inside a revision's `downgrade()`: the reverse of `create_outbox_and_inbox`."""
    bind = op.get_bind()
    for table in reversed(_plumbing_tables(schema)):
        table.drop(bind)


def alembic_config(service_dir: Path, database_url: str | None = None) -> Config:
    config = Config(str(service_dir / "alembic.ini"))
    config.set_main_option("script_location", str(service_dir / "migrations"))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(service_dir: Path, database_url: str, revision: str = "head") -> None:
    """Apply a service's migrations; safe to call from inside a running event loop (own thread)."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            command.upgrade(alembic_config(service_dir, database_url), revision)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=work, name=f"migrate-{service_dir.name}")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
