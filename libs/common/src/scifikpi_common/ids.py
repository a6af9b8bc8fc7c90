"""Time-ordered identifiers (UUIDv7): index-friendly primary keys and event ids."""

from uuid import UUID

from uuid_utils.compat import uuid7 as _uuid7


def new_id() -> UUID:
    return _uuid7()
