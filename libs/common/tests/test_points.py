from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scifikpi_common.points import format_points


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
