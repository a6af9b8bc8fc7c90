"""Pure rules: unit formatting, cursors, mining power."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ledger.domain import InvalidCursor, decode_cursor, encode_cursor, format_points
from ledger.settings import LedgerSettings


@pytest.mark.parametrize(
    ("micro", "text"),
    [(0, "0.000000"), (1, "0.000001"), (12_500_000, "12.500000"), (-1_000_001, "-1.000001")],
)
def test_format_points(micro: int, text: str) -> None:
    assert format_points(micro) == text


@given(st.integers(-(10**15), 10**15))
def test_format_points_round_trips_exactly(micro: int) -> None:
    text = format_points(micro)
    whole, frac = text.lstrip("-").split(".")
    assert (int(whole) * 1_000_000 + int(frac)) * (-1 if text.startswith("-") else 1) == micro


@given(st.datetimes(timezones=st.just(UTC)), st.text(min_size=1, max_size=60))
def test_cursor_round_trip(at: datetime, transfer_id: str) -> None:
    assert decode_cursor(encode_cursor(at, transfer_id)) == (at, transfer_id)


@pytest.mark.parametrize("bad", ["", "!!", "bnVsbA", "WzEsMl0", "WyIyMDI2LTAxLTAxIiwieCJd"])
def test_bad_cursors(bad: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(bad)


def test_mining_power_formula() -> None:
    s = LedgerSettings(
        environment="test", mining_r_base_micro_per_hour=1_000_000, mining_r_per_usd_micro_per_hour=50_000,
        mining_r_max_micro_per_hour=3_000_000,
    )  # fmt: skip
    assert s.mining_rate_micro_per_hour(0) == 1_000_000
    assert s.mining_rate_micro_per_hour(1099) == 1_500_000  # floor($10.99) = 10
    assert s.mining_rate_micro_per_hour(10**9) == 3_000_000
    with pytest.raises(ValueError):
        LedgerSettings(
            environment="test", mining_r_base_micro_per_hour=5, mining_r_max_micro_per_hour=4
        )
