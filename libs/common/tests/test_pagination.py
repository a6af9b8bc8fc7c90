"""The one cursor codec: round trips, and every malformed cursor is a 422 `invalid-cursor`."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

import pytest
from scifikpi_common.errors import InvalidCursor
from scifikpi_common.pagination import decode_cursor, encode_cursor


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_round_trip_with_uuid_and_string_keys() -> None:
    at = datetime(2026, 12, 7, 5, 30, 1, 123456, tzinfo=UTC)
    key = uuid.uuid4()
    assert decode_cursor(encode_cursor(at, key), uuid.UUID) == (at, key)
    assert decode_cursor(encode_cursor(at, "t-42"), str) == (at, "t-42")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 !",
        _b64(b"{}"),
        _b64(b'["2026-12-07T05:30:00", "x"]'),  # naive time
        _b64(b'["2026-12-07T05:30:00+00:00", ""]'),
        _b64(b'["2026-12-07T05:30:00+00:00", 7]'),
        _b64(b'["yesterday", "x"]'),
        _b64(b"\xff\xfe"),
    ],
)
def test_malformed_cursors_are_invalid(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as caught:
        decode_cursor(cursor, str)
    assert caught.value.status == 422 and caught.value.slug == "invalid-cursor"


def test_a_key_that_does_not_parse_is_invalid() -> None:
    cursor = encode_cursor(datetime.now(UTC), "not-a-uuid")
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, uuid.UUID)
