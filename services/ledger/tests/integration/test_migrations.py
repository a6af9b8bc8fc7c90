"""Migrations: the hand-written revision matches models.py, downgrades cleanly, keeps its
version table in `ledger`, and the races are decided by the database's constraints."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from scifikpi_common.migrations import alembic_config, upgrade
from scifikpi_common.testing import create_database, drop_database
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE_DIR = Path(__file__).resolve().parents[2]


async def test_autogenerate_finds_no_difference(ledger_database_url: str) -> None:
    await asyncio.to_thread(command.check, alembic_config(SERVICE_DIR, ledger_database_url))


async def test_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config(SERVICE_DIR))
    assert len(script.get_heads()) == 1


async def test_version_table_and_constraints(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        version = (
            await conn.execute(text("SELECT version_num FROM ledger.alembic_version"))
        ).scalar_one()
        names = set(
            (
                await conn.execute(
                    text(
                        "SELECT conname FROM pg_constraint c JOIN pg_namespace n"
                        " ON n.oid = c.connamespace WHERE n.nspname = 'ledger'"
                        " UNION SELECT indexname FROM pg_indexes WHERE schemaname = 'ledger'"
                    )
                )
            ).scalars()
        )
    assert version == "0002"
    assert {
        "accounts_no_overdraft_check", "accounts_user_id_kind_key", "ix_accounts_system_kind",
        "ix_transfers_one_resolution_per_hold", "transfers_pkey", "inbox_pkey",
    } <= names  # fmt: skip


async def test_downgrade_and_upgrade_again(postgres_server_url: str) -> None:
    name = f"ledger_mig_{uuid.uuid4().hex[:8]}"
    url = await create_database(postgres_server_url, name)
    try:
        await asyncio.to_thread(upgrade, SERVICE_DIR, url)
        await asyncio.to_thread(command.downgrade, alembic_config(SERVICE_DIR, url), "base")
        await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    finally:
        await drop_database(postgres_server_url, name)
