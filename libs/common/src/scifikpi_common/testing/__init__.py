"""Test support: real Postgres and a real Kafka-protocol broker, started when not configured."""

from scifikpi_common.testing.database import (
    create_database,
    drop_database,
    migrate,
    truncate_schema,
)

__all__ = ["create_database", "drop_database", "migrate", "truncate_schema"]
