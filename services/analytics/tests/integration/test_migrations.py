"""Migrations: the hand-written revision matches models.py, downgrades cleanly, keeps its version
table in `analytics`, and each fact is keyed by the business id it is deduplicated by."""

from __future__ import annotations

from scifikpi_common.testing.service import MigrationChecks


class TestMigrations(MigrationChecks):
    head = "0001"
    names = frozenset(
        {
            "accounts_pkey",
            "payments_pkey",
            "point_movements_pkey",
            "purchases_pkey",
            "rollups_pkey",
            "rollup_totals_pkey",
            "ix_rollups_metric_bucket_start",
            "ix_accounts_activated_at",
            "ix_purchases_minted_at",
            "sessions_pkey",
            "transfers_pkey",
        }
    )
