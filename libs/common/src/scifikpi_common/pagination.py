"""Keyset pagination: one opaque cursor format for every list endpoint.

A cursor is the sort key of the last row of a page, `(time, id)`, as base64url JSON. Lists are
ordered `time DESC, id DESC`, so the next page is `WHERE (time, id) < (cursor)`: an index range,
no OFFSET, and stable while rows are added.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from scifikpi_common.errors import InvalidCursor

K = TypeVar("K")


def encode_cursor(at: datetime, key: object) -> str:
    """The cursor after a row sorted at `at` with identifier `key` (a UUID or a string)."""
    raw = json.dumps([at.isoformat(), str(key)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, key: Callable[[str], K]) -> tuple[datetime, K]:
    """`(at, key(id))` of a cursor this API returned; anything else is `InvalidCursor` (422)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, key_text = json.loads(raw)
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None or not isinstance(key_text, str) or not key_text:
            raise ValueError("not a cursor of ours")
        return at, key(key_text)
    except (ValueError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("The cursor is not one this API returned.") from None
