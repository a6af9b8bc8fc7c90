"""Pure mining rules: the session countdown, acceleration prices, the forecast, formatting, and
the values and errors of the mining session and its acceleration quotes.

Integers only (micro-points, whole seconds, USD cents), UTC datetimes, no framework or database
imports (import-linter contract `mining-domain-pure`). The session rules (README "Rules"):
`target = floor(rate × D / 3600)`, `e(t) = min(D, floor(t − started_at) + skipped_s)`,
`accrued(t) = floor(target × e / D)`, `ends_at = started_at + D − skipped_s`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from scifikpi_common.errors import Conflict, Forbidden, ValidationFailed

HOUR_S = 3600
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


class SessionStatus(StrEnum):
    active = "active"
    completed = "completed"


class AccountStatus(StrEnum):
    """What mining knows of the auth account (`accounts.status`; NULL until auth says)."""

    pending_payment = "pending_payment"
    active = "active"


class Decision(StrEnum):
    """The one decision per acceleration payment (`accelerations.outcome`)."""

    applied = "applied"
    rejected = "rejected"


class PaymentOutcome(StrEnum):
    """What handling a `PaymentSucceeded` did: a decision, or nothing to decide."""

    applied = "applied"
    rejected = "rejected"
    duplicate = "duplicate"
    ignored = "ignored"


class RejectReason(StrEnum):
    """Why a paid acceleration was not applied (`AccelerationRejected.reason`); each refunds."""

    quote_not_found = "quote_not_found"
    quote_user_mismatch = "quote_user_mismatch"
    quote_used = "quote_used"
    quote_expired = "quote_expired"
    unsupported_currency = "unsupported_currency"
    amount_below_price = "amount_below_price"
    session_ended = "session_ended"


# --- errors: problems the mining API answers (`urn:scifikpi:problem:<slug>`, docs/problems.md) ---


class AccountNotActive(Forbidden):
    slug, title = "account-not-active", "The account is not active yet"


class MiningSessionActive(Conflict):
    slug, title = "mining-session-active", "A mining session is already running"


class NoActiveSession(ValidationFailed):
    slug, title = "no-active-mining-session", "There is no running mining session"


class AccelerationExceedsRemaining(ValidationFailed):
    slug, title = "acceleration-exceeds-remaining", "More seconds than the session has left"


class InvalidAccelerationSeconds(ValidationFailed):
    slug, title = "acceleration-seconds-invalid", "Acceleration seconds must be a positive integer"


# --- rules ---------------------------------------------------------------------------------------


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


# --- the mining session, its acceleration quotes, the account it is started for -----------------


@dataclass(frozen=True, slots=True)
class Account:
    """The projection of other services' facts about a user: who may mine, at which rate."""

    status: AccountStatus | None
    total_deposits_usd_minor: int


@dataclass(frozen=True, slots=True)
class SessionState:
    """A session as shown at a moment: one past its end that the scheduler has not completed yet
    is shown settled (completed, accrued = target, remaining 0), so reads never write."""

    status: SessionStatus
    completed_at: datetime | None
    remaining_s: int
    accrued_micro: int


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: UUID
    user_id: UUID
    status: SessionStatus
    started_at: datetime
    ends_at: datetime
    duration_s: int
    skipped_s: int
    rate_micro_per_hour: int
    target_micro: int
    completed_at: datetime | None

    @property
    def countdown(self) -> Countdown:
        return Countdown(self.started_at, self.duration_s, self.skipped_s, self.target_micro)

    def at(self, now: datetime) -> SessionState:
        clock = self.countdown
        if self.status == SessionStatus.completed or clock.is_due(now):
            completed_at = self.completed_at or self.ends_at
            return SessionState(SessionStatus.completed, completed_at, 0, self.target_micro)
        return SessionState(
            SessionStatus.active,
            self.completed_at,
            clock.remaining_s(now),
            clock.accrued_micro(now),
        )


def new_session(
    session_id: UUID, user_id: UUID, *, now: datetime, duration_s: int, rate_micro_per_hour: int
) -> SessionRecord:
    """A session starting `now` at `rate` (frozen for its life): it earns the target at its end."""
    countdown = Countdown(now, duration_s, 0, target_micro(rate_micro_per_hour, duration_s))
    return SessionRecord(
        id=session_id,
        user_id=user_id,
        status=SessionStatus.active,
        started_at=now,
        ends_at=countdown.ends_at,
        duration_s=duration_s,
        skipped_s=0,
        rate_micro_per_hour=rate_micro_per_hour,
        target_micro=countdown.target_micro,
        completed_at=None,
    )


@dataclass(frozen=True, slots=True)
class SessionHistory:
    """A page of a user's sessions, newest first; `next_cursor` is None on the last page."""

    items: list[SessionRecord]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Quote:
    """An offer to skip `seconds` of a running session for `price_minor` USD cents."""

    id: UUID
    user_id: UUID
    session_id: UUID
    seconds: int
    price_minor: int
    valid_until: datetime
    used_by_payment_id: UUID | None


@dataclass(frozen=True, slots=True)
class MiningForecast:
    """What `GET /mining/forecast` answers: the running session (its end amount is exact) and the
    estimate of the next `days`."""

    now: datetime
    days: int
    current: SessionRecord | None
    estimate: Forecast
