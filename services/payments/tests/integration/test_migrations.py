"""Migrations: the hand-written revision matches models.py, downgrades cleanly, keeps its version
table in `payments`, and the races are decided by the database's constraints (idempotency, event
dedupe, one refund per payment), not by checks in code."""

from __future__ import annotations

from scifikpi_common.testing.service import MigrationChecks


class TestMigrations(MigrationChecks):
    head = "0001"
    names = frozenset(
        {
            "payments_user_id_idempotency_key_key",
            "payments_provider_provider_payment_id_key",
            "provider_events_provider_event_id_key",
            "refunds_payment_id_key",
            "ix_payments_user_id_created_at_id",
            "ix_payments_unfinished",
            "ix_provider_events_due",
            "ix_refunds_due",
        }
    )
