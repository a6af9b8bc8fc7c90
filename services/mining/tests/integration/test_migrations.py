"""Migrations: the hand-written revision matches models.py, downgrades cleanly, keeps its
version table in `mining`, and carries the constraints the design relies on."""

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


async def test_autogenerate_finds_no_difference(mining_database_url: str) -> None:
    await asyncio.to_thread(command.check, alembic_config(SERVICE_DIR, mining_database_url))


async def test_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config(SERVICE_DIR))
    assert len(script.get_heads()) == 1


async def test_version_table_and_constraints(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        version = (
            await conn.execute(text("SELECT version_num FROM mining.alembic_version"))
        ).scalar_one()
        names = set(
            (
                await conn.execute(
                    text(
                        "SELECT conname FROM pg_constraint c JOIN pg_namespace n"
                        " ON n.oid = c.connamespace WHERE n.nspname = 'mining'"
                        " UNION SELECT indexname FROM pg_indexes WHERE schemaname = 'mining'"
                    )
                )
            ).scalars()
        )
    assert version == "0001"
    assert {
        "ix_sessions_one_active_per_user", "sessions_ends_at_check", "sessions_skipped_check",
        "quotes_used_by_payment_id_key", "accelerations_pkey", "inbox_pkey", "outbox_pkey",
    } <= names  # fmt: skip


async def test_ends_at_cannot_drift_from_the_countdown(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        try:
            await conn.execute(
                text(
                    "INSERT INTO mining.sessions (id, user_id, started_at, ends_at, duration_s,"
                    " rate_micro_per_hour, target_micro) VALUES (gen_random_uuid(),"
                    " gen_random_uuid(), now(), now() + interval '1 hour 1 second', 3600, 1, 1)"
                )
            )
        except Exception as exc:
            assert "sessions_ends_at_check" in str(exc)
        else:
            raise AssertionError("the CHECK let a wrong ends_at through")


async def test_downgrade_and_upgrade_again(postgres_server_url: str) -> None:
    name = f"mining_mig_{uuid.uuid4().hex[:8]}"
    url = await create_database(postgres_server_url, name)
    try:
        await asyncio.to_thread(upgrade, SERVICE_DIR, url)
        await asyncio.to_thread(command.downgrade, alembic_config(SERVICE_DIR, url), "base")
        await asyncio.to_thread(upgrade, SERVICE_DIR, url)
    finally:
        await drop_database(postgres_server_url, name)
