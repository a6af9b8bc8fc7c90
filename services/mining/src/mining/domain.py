"""Pure mining rules: the session countdown, acceleration prices, the forecast, formatting.

Integers only (micro-points, whole seconds, USD cents), UTC datetimes, no framework or database
imports (import-linter contract `mining-domain-pure`). DESIGN §5 "Mining session":
`target = floor(rate × D / 3600)`, `e(t) = min(D, floor(t − started_at) + skipped_s)`,
`accrued(t) = floor(target × e / D)`, `ends_at = started_at + D − skipped_s`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from mining.errors import InvalidCursor

MICRO = 1_000_000  # µP per point
HOUR_S = 3600
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


class SessionStatus(StrEnum):
    active = "active"
    completed = "completed"


class RejectReason(StrEnum):
    """Why a paid acceleration was not applied (`AccelerationRejected.reason`); each refunds."""

    quote_not_found = "quote_not_found"
    quote_user_mismatch = "quote_user_mismatch"
    quote_used = "quote_used"
    quote_expired = "quote_expired"
    unsupported_currency = "unsupported_currency"
    amount_below_price = "amount_below_price"
    session_ended = "session_ended"


def target_micro(rate_micro_per_hour: int, duration_s: int) -> int:
    """What a whole session earns: floor(rate × D / 3600)."""
    return rate_micro_per_hour * duration_s // HOUR_S


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def whole_seconds(delta: timedelta) -> int:
    """floor(delta) in seconds (negative deltas round towards −∞, like the formula)."""
    return delta // SECOND


@dataclass(frozen=True, slots=True)
class Countdown:
    """A session's clock: everything the status, the scheduler and acceleration compute from."""

    started_at: datetime
    duration_s: int
    skipped_s: int
    target_micro: int

    @property
    def ends_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.duration_s - self.skipped_s)

    def effective_elapsed_s(self, now: datetime) -> int:
        """e(t), clamped at 0 so a clock a little behind `started_at` never goes negative."""
        return max(0, min(self.duration_s, whole_seconds(now - self.started_at) + self.skipped_s))

    def accrued_micro(self, now: datetime) -> int:
        return self.target_micro * self.effective_elapsed_s(now) // self.duration_s

    def remaining_s(self, now: datetime) -> int:
        """max(0, ceil(ends_at − now)): zero exactly when the session is due."""
        return max(0, -whole_seconds(now - self.ends_at))

    def is_due(self, now: datetime) -> bool:
        return now >= self.ends_at

    def skip(self, seconds: int, now: datetime) -> tuple[int, Countdown]:
        """Apply a paid skip: capped at what remains at `now` (and at D − skipped)."""
        applied = max(0, min(seconds, self.remaining_s(now), self.duration_s - self.skipped_s))
        return applied, replace(self, skipped_s=self.skipped_s + applied)


def quote_price_minor(seconds: int, *, price_per_hour_minor: int, min_minor: int) -> int:
    """max(MIN_ACCEL_MINOR, ceil(PRICE_PER_HOUR_MINOR × seconds / 3600)), USD cents."""
    return max(min_minor, ceil_div(price_per_hour_minor * seconds, HOUR_S))


@dataclass(frozen=True, slots=True)
class Forecast:
    """The estimate of `GET /mining/forecast` (README "Forecast" defines it)."""

    horizon_end: datetime
    first_start: datetime
    rate_micro_per_hour: int
    sessions: int
    points_per_session_micro: int
    current_remaining_micro: int

    @property
    def points_micro(self) -> int:
        return self.current_remaining_micro + self.sessions * self.points_per_session_micro


def forecast(
    now: datetime,
    *,
    days: int,
    duration_s: int,
    rate_micro_per_hour: int,
    current: Countdown | None,
) -> Forecast:
    """New sessions back to back from the current one's end (or now), each at `rate`; only
    sessions that end inside `[now, now + days]` count, the current one included."""
    horizon_end = now + days * DAY
    first_start, remaining = now, 0
    if current is not None:
        first_start = max(now, current.ends_at)
        if current.ends_at <= horizon_end:
            remaining = current.target_micro - current.accrued_micro(now)
    sessions = max(0, (horizon_end - first_start) // timedelta(seconds=duration_s))
    return Forecast(
        horizon_end=horizon_end,
        first_start=first_start,
        rate_micro_per_hour=rate_micro_per_hour,
        sessions=sessions,
        points_per_session_micro=target_micro(rate_micro_per_hour, duration_s),
        current_remaining_micro=remaining,
    )


def format_points(micro: int) -> str:
    """µP as a decimal string with six places: 12_500_000 -> "12.500000" (no floats)."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    return f"{sign}{whole}.{frac:06d}"


def encode_cursor(started_at: datetime, session_id: UUID) -> str:
    raw = json.dumps([started_at.isoformat(), str(session_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        started, session_id = json.loads(raw)
        at = datetime.fromisoformat(started)
        if at.tzinfo is None:
            raise ValueError("naive cursor time")
        return at, UUID(session_id)
    except (ValueError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("The cursor is not one this API returned.") from None
