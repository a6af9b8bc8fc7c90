"""The pure rules: countdown, acceleration, prices, forecast, formatting, how a session shows at
a moment, the history cursor; with hypothesis properties over random timelines and
accelerations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mining.domain import (
    Countdown,
    SessionStatus,
    forecast,
    new_session,
    quote_price_minor,
    target_micro,
)
from scifikpi_common.errors import InvalidCursor
from scifikpi_common.pagination import decode_cursor, encode_cursor

T0 = datetime(2026, 11, 29, 12, 0, 0, 250_000, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class TestCountdown:
    clock = Countdown(T0, 3600, 0, target_micro(1_500_000, 3600))

    def test_target_is_floored(self) -> None:
        assert target_micro(1_000_000, 60) == 16_666
        assert self.clock.target_micro == 1_500_000

    def test_accrual_floors_whole_seconds(self) -> None:
        assert self.clock.accrued_micro(at(0)) == 0
        assert self.clock.accrued_micro(at(0.999)) == 0
        assert self.clock.accrued_micro(at(1)) == 416  # floor(1.5e6 × 1 / 3600)
        assert self.clock.accrued_micro(at(1800)) == 750_000
        assert self.clock.accrued_micro(at(-5)) == 0  # a clock behind started_at
        assert self.clock.accrued_micro(at(99_999)) == 1_500_000

    def test_remaining_is_ceiled_and_zero_exactly_at_the_end(self) -> None:
        assert self.clock.remaining_s(at(0)) == 3600
        assert self.clock.remaining_s(at(0.5)) == 3600
        assert self.clock.remaining_s(at(3599.001)) == 1
        assert self.clock.remaining_s(at(3600)) == 0
        assert not self.clock.is_due(at(3599.999))
        assert self.clock.is_due(at(3600))

    def test_skip_moves_the_end_and_caps_at_what_remains(self) -> None:
        applied, after = self.clock.skip(600, at(100))
        assert (applied, after.skipped_s, after.ends_at) == (600, 600, at(3000))
        assert after.accrued_micro(at(100)) == 1_500_000 * 700 // 3600
        applied, done = after.skip(10_000, at(100))
        assert applied == 2900 and done.is_due(at(100))
        assert done.accrued_micro(at(100)) == done.target_micro


def test_quote_price() -> None:
    price = {"price_per_hour_minor": 100, "min_minor": 50}
    assert quote_price_minor(1, **price) == 50  # the minimum
    assert quote_price_minor(3600, **price) == 100
    assert quote_price_minor(3601, **price) == 101  # ceil
    assert quote_price_minor(28_800, **price) == 800


class TestForecast:
    def test_idle_counts_whole_sessions_from_now(self) -> None:
        f = forecast(T0, days=1, duration_s=28_800, rate_micro_per_hour=2_000_000, current=None)
        assert (f.sessions, f.first_start, f.current_remaining_micro) == (3, T0, 0)
        assert f.points_micro == 3 * 16_000_000

    def test_running_session_adds_its_remaining_and_delays_the_first(self) -> None:
        clock = Countdown(T0, 28_800, 0, 16_000_000)
        now = at(14_400)  # half way
        f = forecast(now, days=1, duration_s=28_800, rate_micro_per_hour=1_000_000, current=clock)
        assert f.first_start == clock.ends_at
        assert f.current_remaining_micro == 8_000_000
        assert f.sessions == 2  # 24 h − 4 h left = 20 h: two whole 8 h sessions
        assert f.points_micro == 8_000_000 + 2 * 8_000_000

    def test_a_session_ending_after_the_horizon_counts_nothing(self) -> None:
        clock = Countdown(T0, 3 * 86_400, 0, 10)
        f = forecast(T0, days=1, duration_s=3 * 86_400, rate_micro_per_hour=1, current=clock)
        assert (f.sessions, f.current_remaining_micro, f.points_micro) == (0, 0, 0)


def test_history_cursor_round_trip_and_garbage() -> None:
    """The history pages on (started_at, session id) with the one cursor codec."""
    sid = uuid.uuid4()
    assert decode_cursor(encode_cursor(T0, sid), uuid.UUID) == (T0, sid)
    for bad in ("", "!!!", "bm90IGpzb24", encode_cursor(T0, sid)[:-3], encode_cursor(T0, "x")):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad, uuid.UUID)


class TestSessionAtAMoment:
    session = new_session(
        uuid.uuid4(), uuid.uuid4(), now=T0, duration_s=3600, rate_micro_per_hour=1_500_000
    )

    def test_a_new_session_earns_its_target_at_the_end(self) -> None:
        s = self.session
        assert (s.status, s.ends_at, s.skipped_s, s.completed_at) == (
            SessionStatus.active,
            at(3600),
            0,
            None,
        )
        assert s.target_micro == target_micro(1_500_000, 3600) == s.countdown.target_micro

    def test_running_shows_the_countdown(self) -> None:
        state = self.session.at(at(1800))
        assert state.status == SessionStatus.active and state.completed_at is None
        assert (state.remaining_s, state.accrued_micro) == (1800, 750_000)

    def test_past_its_end_it_shows_settled_before_the_scheduler_completes_it(self) -> None:
        state = self.session.at(at(3600))
        assert state.status == SessionStatus.completed
        assert (state.completed_at, state.remaining_s) == (at(3600), 0)
        assert state.accrued_micro == self.session.target_micro


# --- properties ---------------------------------------------------------------------------------

durations = st.integers(1, 8 * 3600)
rates = st.integers(0, 50_000_000)
accelerations = st.lists(
    st.tuples(st.integers(0, 8 * 3600), st.integers(1, 8 * 3600)), max_size=6
)  # (at second, seconds to skip)


@given(duration=durations, rate=rates, plan=accelerations, steps=st.integers(1, 40))
def test_accrued_never_decreases_and_reaches_exactly_the_target(
    duration: int, rate: int, plan: list[tuple[int, int]], steps: int
) -> None:
    clock = Countdown(T0, duration, 0, target_micro(rate, duration))
    events = sorted(plan)
    previous, t = 0, 0.0
    step = duration / steps
    while not clock.is_due(at(t)):
        while events and events[0][0] <= t:
            _, seconds = events.pop(0)
            applied, clock = clock.skip(seconds, at(t))
            assert applied <= seconds
        if clock.is_due(at(t)):
            break
        accrued = clock.accrued_micro(at(t))
        assert previous <= accrued <= clock.target_micro
        assert clock.remaining_s(at(t)) > 0
        previous = accrued
        t += step
    assert clock.accrued_micro(at(t)) == clock.target_micro
    assert clock.accrued_micro(clock.ends_at) == clock.target_micro
    assert clock.remaining_s(clock.ends_at) == 0
    assert 0 <= clock.skipped_s <= duration


@given(
    duration=durations,
    rate=rates,
    days=st.integers(1, 365),
    deposit_rate=rates,
    elapsed=st.integers(0, 8 * 3600),
)
def test_forecast_counts_only_sessions_inside_the_horizon(
    duration: int, rate: int, days: int, deposit_rate: int, elapsed: int
) -> None:
    clock = Countdown(T0, duration, 0, target_micro(rate, duration))
    now = at(elapsed)
    f = forecast(
        now, days=days, duration_s=duration, rate_micro_per_hour=deposit_rate, current=clock
    )
    last_end = f.first_start + timedelta(seconds=duration * f.sessions)
    if f.first_start <= f.horizon_end:
        assert last_end <= f.horizon_end < last_end + timedelta(seconds=duration)
        assert f.current_remaining_micro == clock.target_micro - clock.accrued_micro(now)
    else:
        assert (f.sessions, f.current_remaining_micro) == (0, 0)
    assert f.points_micro == f.current_remaining_micro + f.sessions * target_micro(
        deposit_rate, duration
    )
