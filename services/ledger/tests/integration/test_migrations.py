"""Migrations: the hand-written revisions match models.py, downgrade cleanly, keep their version
table in `ledger`, and the races are decided by the database's constraints."""

from __future__ import annotations

from scifikpi_common.testing.service import MigrationChecks


class TestMigrations(MigrationChecks):
    head = "0002"
    names = frozenset(
        {
            "accounts_no_overdraft_check",
            "accounts_user_id_kind_key",
            "ix_accounts_system_kind",
            "ix_transfers_one_resolution_per_hold",
            "transfers_pkey",
        }
    )
