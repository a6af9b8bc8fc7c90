"""What the repositories share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func


def seconds(value: Any) -> Any:
    """An interval of `value` seconds (a number or a SQL expression), for `now() + ...`."""
    return func.make_interval(0, 0, 0, 0, 0, 0, value)
