"""Migrations: the hand-written revision matches models.py (the Core tables), downgrades cleanly,
keeps its version table in `auth`, and the races are decided by the database's constraints."""

from __future__ import annotations

from scifikpi_common.testing.service import MigrationChecks
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class TestMigrations(MigrationChecks):
    head = "0001"
    names = frozenset(
        {
            "ix_users_email_lower",
            "users_account_details_check",
            "users_status_check",
            "refresh_tokens_token_hash_key",
            "login_failures_pkey",
            "login_failures_scope_check",
        }
    )

    async def test_email_is_unique_case_insensitively_in_the_database(
        self, engine: AsyncEngine
    ) -> None:
        async with engine.connect() as conn:
            indexdef = (
                await conn.execute(
                    text(
                        "SELECT indexdef FROM pg_indexes "
                        "WHERE schemaname = 'auth' AND indexname = 'ix_users_email_lower'"
                    )
                )
            ).scalar_one()
        assert "UNIQUE" in indexdef and "lower(email)" in indexdef
