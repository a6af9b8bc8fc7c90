"""Points as the API shows them: integer micro-points (µP) inside, a decimal string with six
places outside (`"12.500000"`), so no client ever parses a float of someone's balance."""

from __future__ import annotations

#: µP per point
MICRO = 1_000_000


def format_points(micro: int) -> str:
    """µP as a decimal string with six places: 12_500_000 -> "12.500000" (no floats)."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    return f"{sign}{whole}.{frac:06d}"
