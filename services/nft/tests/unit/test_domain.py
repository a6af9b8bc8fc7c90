"""Points parsing and formatting, the supply rule, cursors and pages, TEP-64 shapes (no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from nft.catalog.domain import (
    CollectionInfo,
    InvalidPrice,
    SupplyBelowSold,
    change_time,
    check_supply,
    collection_metadata,
    parse_points,
)
from nft.domain import keyset_page
from scifikpi_common.errors import InvalidCursor
from scifikpi_common.pagination import decode_cursor, encode_cursor
from scifikpi_common.points import format_points


@pytest.mark.parametrize(
    ("text", "micro"),
    [("12.5", 12_500_000), ("1", 1_000_000), ("0.000001", 1), ("007.250000", 7_250_000),
     ("1000000000000", 10**18)],
)  # fmt: skip
def test_parse_points(text: str, micro: int) -> None:
    assert parse_points(text) == micro
    assert parse_points(format_points(micro)) == micro


@pytest.mark.parametrize(
    "text",
    ["0", "0.000000", "0.0000001", "1.1234567", "-1", "+1", "1e3", "NaN", "Infinity", " 1",
     "1.", ".5", "", "1,5", "١٢", "1000000000000.000001"],
)  # fmt: skip
def test_parse_points_rejects(text: str) -> None:
    with pytest.raises(InvalidPrice):
        parse_points(text)


def test_supply_rule() -> None:
    check_supply(5, 5)
    check_supply(10, 0)
    with pytest.raises(SupplyBelowSold):
        check_supply(4, 5)


def test_cursor_round_trip_and_garbage() -> None:
    """Pages key on (time, UUID) with the one cursor codec."""
    at, item_id = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(at, item_id), uuid.UUID) == (at, item_id)
    for bad in ("x", "e30", "WyIyMDI2LTExLTI4VDEyOjAwOjAwIiwieCJd"):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad, uuid.UUID)


def test_keyset_page_has_a_cursor_only_when_more_rows_follow() -> None:
    t0 = datetime(2026, 11, 28, 12, tzinfo=UTC)
    rows = [(t0, uuid.uuid4()) for _ in range(3)]
    page = keyset_page(rows, 2, lambda r: r)
    assert page.items == rows[:2]
    assert page.next_cursor is not None
    assert decode_cursor(page.next_cursor, uuid.UUID) == rows[1]
    assert keyset_page(rows, 3, lambda r: r).next_cursor is None
    empty = keyset_page([], 3, lambda r: r)
    assert empty.items == [] and empty.next_cursor is None


def test_collection_metadata_omits_unset_fields() -> None:
    assert collection_metadata(CollectionInfo("A", "B")) == {"name": "A", "description": "B"}


def test_change_time_is_now_but_always_after_the_previous_change() -> None:
    earlier = datetime(2026, 1, 1, tzinfo=UTC)
    later = earlier + timedelta(seconds=5)
    assert change_time(earlier, later) == later
    assert change_time(later, earlier) == later + timedelta(microseconds=1)
    assert change_time(later, later) == later + timedelta(microseconds=1)
