"""Migrations: the hand-written revision matches models.py; the version table is in `payments`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from scifikpi_common.migrations import alembic_config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE_DIR = Path(__file__).resolve().parents[2]


async def test_autogenerate_finds_no_difference(payments_database_url: str) -> None:
    await asyncio.to_thread(command.check, alembic_config(SERVICE_DIR, payments_database_url))


async def test_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config(SERVICE_DIR))
    assert len(script.get_heads()) == 1


async def test_version_table_lives_in_the_payments_schema(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        version = (
            await conn.execute(text("SELECT version_num FROM payments.alembic_version"))
        ).scalar_one()
    assert version == "0001"


async def test_the_database_decides_the_races(engine: AsyncEngine) -> None:
    """Idempotency and event dedupe are unique constraints, not checks in code."""
    async with engine.connect() as conn:
        constraints = set(
            (
                await conn.execute(
                    text(
                        "SELECT conname FROM pg_constraint c JOIN pg_namespace n "
                        "ON n.oid = c.connamespace WHERE n.nspname = 'payments' AND contype = 'u'"
                    )
                )
            ).scalars()
        )
    assert {
        "payments_user_id_idempotency_key_key",
        "payments_provider_provider_payment_id_key",
        "provider_events_provider_event_id_key",
        "refunds_payment_id_key",
    } <= constraints
