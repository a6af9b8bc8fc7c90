"""Migrations: the hand-written revision matches models.py, downgrades cleanly, keeps its
version table in `nft`, and carries the constraints the design relies on."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from scifikpi_common.migrations import alembic_config, upgrade
from scifikpi_common.testing import create_database, drop_database
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SERVICE_DIR = Path(__file__).resolve().parents[2]


async def test_autogenerate_finds_no_difference(nft_database_url: str) -> None:
    await asyncio.to_thread(command.check, alembic_config(SERVICE_DIR, nft_database_url))


async def test_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config(SERVICE_DIR))
    assert len(script.get_heads()) == 1


async def test_version_table_and_constraints(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        version = (
            await conn.execute(text("SELECT version_num FROM nft.alembic_version"))
        ).scalar_one()
        names = set(
            (
                await conn.execute(
                    text(
                        "SELECT conname FROM pg_constraint c JOIN pg_namespace n"
                        " ON n.oid = c.connamespace WHERE n.nspname = 'nft'"
                        " UNION SELECT indexname FROM pg_indexes WHERE schemaname = 'nft'"
                    )
                )
            ).scalars()
        )
    assert version == "0002"
    assert {
        "catalog_items_pkey", "catalog_items_supply_sold_check", "catalog_items_price_check",
        "catalog_items_supply_total_check", "catalog_items_status_check",
        "ix_catalog_items_active_page", "inbox_pkey", "outbox_pkey", "ix_outbox_unpublished",
    } <= names  # fmt: skip


async def _tables(url: str) -> set[str]:
    eng = create_async_engine(url)
    try:
        async with eng.connect() as conn:
            rows = await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'nft'")
            )
            return set(rows.scalars())
    finally:
        await eng.dispose()


async def test_downgrade_and_upgrade_again(postgres_server_url: str) -> None:
    name = f"nft_mig_{uuid.uuid4().hex[:8]}"
    url = await create_database(postgres_server_url, name)
    try:
        await asyncio.to_thread(upgrade, SERVICE_DIR, url)
        assert {"catalog_items", "outbox", "inbox", "alembic_version"} <= await _tables(url)
        await asyncio.to_thread(command.downgrade, alembic_config(SERVICE_DIR, url), "base")
        assert await _tables(url) <= {"alembic_version"}
        await asyncio.to_thread(upgrade, SERVICE_DIR, url)
        assert "catalog_items" in await _tables(url)
    finally:
        await drop_database(postgres_server_url, name)
