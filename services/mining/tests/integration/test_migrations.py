"""Migrations: the hand-written revision matches models.py, downgrades cleanly, keeps its
version table in `mining`, and carries the constraints the design relies on."""

from __future__ import annotations

from scifikpi_common.testing.service import MigrationChecks
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class TestMigrations(MigrationChecks):
    head = "0001"
    names = frozenset(
        {
            "accelerations_pkey",
            "ix_sessions_one_active_per_user",
            "quotes_used_by_payment_id_key",
            "sessions_ends_at_check",
            "sessions_skipped_check",
        }
    )


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
