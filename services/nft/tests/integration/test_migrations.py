"""Migrations: the hand-written revisions match models.py, downgrade cleanly, keep their version
table in `nft`, and carry the constraints the design relies on (supply never oversold, one
purchase per Idempotency-Key, one transfer of an NFT in flight, one message per hash)."""

from __future__ import annotations

from scifikpi_common.testing.service import MigrationChecks


class TestMigrations(MigrationChecks):
    head = "0002"
    names = frozenset(
        {
            "catalog_items_pkey",
            "catalog_items_supply_sold_check",
            "catalog_items_price_check",
            "catalog_items_supply_total_check",
            "catalog_items_status_check",
            "ix_catalog_items_active_page",
            "purchases_idempotency_key",
            "ux_transfers_in_flight",
            "ton_messages_hash_key",
        }
    )
