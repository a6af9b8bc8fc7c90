"""The reads' pure rules: ranges in IANA zones, DST-exact bucket boundaries, windows, ratios."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from analytics.figures.csv import wants_csv
from analytics.figures.domain import (
    Interval,
    InvalidDatetime,
    InvalidRange,
    Ratio,
    TooManyBuckets,
    UnknownMetric,
    UnknownTimezone,
    bucket_bounds,
    funnel_ratios,
    millis,
    parse_instant,
    parse_metrics,
    parse_range,
    windows,
    zone_of,
)

MSK, IST, BER = ZoneInfo("Europe/Moscow"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Europe/Berlin")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class TestParsing:
    def test_a_date_is_local_midnight(self) -> None:
        assert parse_instant("2026-03-01", MSK, "from") == utc("2026-02-28T21:00")
        assert parse_instant("2026-03-01", IST, "from") == utc("2026-02-28T18:30")

    def test_a_naive_datetime_is_local_and_an_offset_wins(self) -> None:
        assert parse_instant("2026-03-01T10:15", IST, "to") == utc("2026-03-01T04:45")
        assert parse_instant("2026-03-01T10:15Z", IST, "to") == utc("2026-03-01T10:15")
        assert parse_instant("2026-03-01T10:15+01:00", MSK, "to") == utc("2026-03-01T09:15")

    @pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "", "1969-12-31", "9999-01-01"])
    def test_bad_dates_name_the_field(self, text: str) -> None:
        with pytest.raises(InvalidDatetime) as err:
            parse_instant(text, MSK, "from")
        assert err.value.extensions["field"] == "from"
        assert err.value.extensions["errors"][0]["loc"] == ["query", "from"]

    def test_from_after_to(self) -> None:
        with pytest.raises(InvalidRange) as err:
            parse_range("2026-03-02", "2026-03-01", MSK)
        assert err.value.extensions["field"] == "from"
        assert parse_range("2026-03-01", "2026-03-01", MSK)[0] == utc("2026-02-28T21:00")

    @pytest.mark.parametrize(
        "name", ["Mars/Olympus", "", "../../etc/passwd", "/etc/localtime", "Europe"]
    )
    def test_unknown_timezone(self, name: str) -> None:
        with pytest.raises(UnknownTimezone):
            zone_of(name)

    def test_known_timezones(self) -> None:
        assert zone_of("UTC").key == "UTC"
        assert zone_of("Asia/Kolkata") == IST

    def test_metrics(self) -> None:
        names = [
            m.name
            for m in parse_metrics(" accounts.registered,mining.points_mined,accounts.registered ")
        ]
        assert names == ["accounts.registered", "mining.points_mined"]
        with pytest.raises(UnknownMetric) as err:
            parse_metrics("accounts.registered,accounts.deleted")
        assert err.value.extensions["metric"] == "accounts.deleted"
        with pytest.raises(UnknownMetric):
            parse_metrics(" , ")


class TestBuckets:
    def test_moscow_days_straddle_midnight_utc(self) -> None:
        b = bucket_bounds(utc("2026-02-28T21:00"), utc("2026-03-02T21:00"), Interval.DAY, MSK, 10)
        assert b == [utc("2026-02-28T21:00"), utc("2026-03-01T21:00"), utc("2026-03-02T21:00")]

    def test_kolkata_days_are_on_the_half_hour(self) -> None:
        b = bucket_bounds(utc("2026-03-01T00:00"), utc("2026-03-01T20:00"), Interval.DAY, IST, 10)
        # 00:00 UTC is 05:30 IST on 1 March: floored to 1 March, and 20:00 UTC is 2 March 01:30
        assert b == [utc("2026-02-28T18:30"), utc("2026-03-01T18:30"), utc("2026-03-02T18:30")]

    def test_berlin_spring_day_has_23_hours(self) -> None:
        b = bucket_bounds(
            parse_instant("2026-03-28", BER, "from"),
            parse_instant("2026-03-31", BER, "to"),
            Interval.DAY,
            BER,
            10,
        )
        assert [y - x for x, y in zip(b, b[1:], strict=False)] == [
            timedelta(hours=24),
            timedelta(hours=23),
            timedelta(hours=24),
        ]
        assert b[1] == utc("2026-03-28T23:00") and b[2] == utc("2026-03-29T22:00")

    def test_berlin_hours_skip_and_repeat(self) -> None:
        spring = bucket_bounds(
            utc("2026-03-29T00:00"), utc("2026-03-29T03:00"), Interval.HOUR, BER, 10
        )
        assert spring == [utc(f"2026-03-29T0{h}:00") for h in range(4)]  # 01, 03, 04, 05 local
        assert [x.astimezone(BER).hour for x in spring] == [1, 3, 4, 5]
        autumn = bucket_bounds(
            utc("2026-10-25T00:00"), utc("2026-10-25T02:00"), Interval.HOUR, BER, 10
        )
        assert [x.astimezone(BER).hour for x in autumn] == [2, 2, 3]  # 02:00 twice

    def test_kolkata_hours(self) -> None:
        b = bucket_bounds(utc("2026-03-01T00:00"), utc("2026-03-01T01:00"), Interval.HOUR, IST, 10)
        assert b == [utc("2026-02-28T23:30"), utc("2026-03-01T00:30"), utc("2026-03-01T01:30")]

    def test_weeks_start_on_monday(self) -> None:
        # Wednesday 4 March 2026 -> Monday 2 March; the range ends on Monday 16 March
        b = bucket_bounds(
            parse_instant("2026-03-04", MSK, "from"),
            parse_instant("2026-03-16", MSK, "to"),
            Interval.WEEK,
            MSK,
            10,
        )
        assert [x.astimezone(MSK).date().isoformat() for x in b] == [
            "2026-03-02",
            "2026-03-09",
            "2026-03-16",
        ]
        assert all(x.astimezone(MSK).weekday() == 0 for x in b)

    def test_months_across_dst_and_the_year(self) -> None:
        b = bucket_bounds(
            parse_instant("2026-11-15", BER, "from"),
            parse_instant("2027-04-01", BER, "to"),
            Interval.MONTH,
            BER,
            10,
        )
        local = [x.astimezone(BER) for x in b]
        assert [(x.year, x.month, x.day, x.hour) for x in local] == [
            (2026, 11, 1, 0),
            (2026, 12, 1, 0),
            (2027, 1, 1, 0),
            (2027, 2, 1, 0),
            (2027, 3, 1, 0),
            (2027, 4, 1, 0),
        ]
        assert b[-1] == utc("2027-03-31T22:00")  # CEST by then

    def test_empty_range_on_a_boundary(self) -> None:
        at = utc("2026-03-01T00:00")
        assert bucket_bounds(at, at, Interval.DAY, ZoneInfo("UTC"), 10) == [at]

    def test_a_year_of_days_fits_the_default(self) -> None:
        b = bucket_bounds(utc("2026-01-01T00:00"), utc("2027-01-01T00:00"), Interval.DAY, MSK, 1000)
        assert (
            len(b) - 1 == 366
        )  # 1 Jan 00:00 UTC to 1 Jan 00:00 UTC is 1 Jan 03:00 MSK .. 2 Jan MSK

    @pytest.mark.parametrize(
        ("interval", "limit"), [(Interval.HOUR, 100), (Interval.DAY, 30), (Interval.MONTH, 11)]
    )
    def test_too_many_buckets(self, interval: Interval, limit: int) -> None:
        with pytest.raises(TooManyBuckets) as err:
            bucket_bounds(utc("2026-01-01T00:00"), utc("2027-01-01T00:00"), interval, MSK, limit)
        assert err.value.extensions["max_buckets"] == limit
        assert err.value.extensions["field"] == "to"

    def test_a_huge_range_is_refused_without_building_it(self) -> None:
        with pytest.raises(TooManyBuckets):
            bucket_bounds(
                utc("1970-01-01T00:00"), utc("9000-01-01T00:00"), Interval.HOUR, BER, 1000
            )


class TestFigures:
    @pytest.mark.parametrize(
        ("n", "d", "value"),
        [
            (2, 3, "0.6667"),
            (1, 8, "0.1250"),
            (1, 20_000, "0.0000"),
            (3, 20_000, "0.0002"),
            (5, 5, "1.0000"),
            (0, 0, None),
            (0, 4, "0.0000"),
        ],
    )
    def test_ratio_rounds_half_even(self, n: int, d: int, value: str | None) -> None:
        assert Ratio(n, d).value == value

    def test_funnel_ratios(self) -> None:
        out = funnel_ratios([4, 3, 0])
        assert out[0][0] is None and out[0][1] == Ratio(4, 4)
        assert out[1] == (Ratio(3, 4), Ratio(3, 4))
        assert out[2] == (Ratio(0, 3), Ratio(0, 4))

    def test_millis_is_exact(self) -> None:
        assert millis(timedelta(days=1, seconds=1, microseconds=999)) == 86_401_000
        assert millis(None) is None

    def test_windows_are_whole_buckets_ending_with_the_current_one(self) -> None:
        w = windows(utc("2026-12-07T09:37:12"))
        assert [x.name for x in w] == ["last_24h", "last_7d", "last_30d"]
        assert all(x.end == utc("2026-12-07T09:45") for x in w)
        assert w[0].start == utc("2026-12-06T09:45")
        assert w[2].start == utc("2026-11-07T09:45")


@pytest.mark.parametrize(
    ("accept", "csv"),
    [
        (None, False),
        ("text/csv", True),
        ("application/json", False),
        ("*/*", False),
        ("text/csv;q=0.5, application/json", False),
        ("application/json;q=0.1, text/csv", True),
        ("text/html, text/csv", True),
        ("text/plain", False),
    ],
)
def test_wants_csv(accept: str | None, csv: bool) -> None:
    assert wants_csv(accept) is csv
