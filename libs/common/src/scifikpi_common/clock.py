"""Server time. Always UTC, always timezone-aware."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
